/* Fuzz target: judging a stopped guest from an arbitrary console tail (the
 * first byte chooses the other facts). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uniscope/abi.h>

#include "crash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct usc_crash_facts f;
    struct usc_crash_verdict v;
    uint8_t pick = size ? data[0] : 0;

    memset(&f, 0, sizeof(f));
    f.have_value = pick & 1;
    f.value = pick;
    f.guest_reset = (pick >> 1) & 1;
    f.agent_state = (pick >> 2) & 1 ? (int)((pick >> 3) & 3) : -1;
    f.state = (pick >> 5) & 1 ? USC_VM_SHUTDOWN : USC_VM_PAUSED;
    /* a copy of exactly (size) bytes: reading past it is caught */
    char *text = size > 1 ? malloc(size - 1) : NULL;
    if (text)
        memcpy(text, data + 1, size - 1);
    f.console = text;
    f.console_len = text ? size - 1 : 0;
    usc_crash_judge(&f, &v);
    if (!memchr(v.reason, '\0', sizeof(v.reason)) ||
        !memchr(v.kind, '\0', sizeof(v.kind)) || v.status < 0 || v.status > 127)
        abort();
    for (const char *c = v.reason; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            abort();
    free(text);
    return 0;
}
