/* Fuzz target: reading a unikernel's crash report out of console text
 * (lib/crashlog.c), which a guest writes as it likes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crashlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct usc_crashlog c;
    /* no terminator: the parser must stop at (size) */
    char *text = malloc(size ? size : 1);

    if (!text)
        return 0;
    memcpy(text, data, size);
    if (usc_crashlog_parse(text, size, &c) == 0) {
        /* what it gives is within its bounds */
        if (!memchr(c.trap, '\0', sizeof(c.trap)) ||
            !memchr(c.file, '\0', sizeof(c.file)) ||
            !memchr(c.message, '\0', sizeof(c.message)) ||
            c.ncallers > USC_CRASH_CALLERS_MAX || c.vector < -1 ||
            c.vector > 31 || c.start > size || (!c.lines && !c.garbled))
            abort();
    }
    free(text);
    return 0;
}
