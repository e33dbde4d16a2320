/* Fuzz target: the USCOPE note parser on an arbitrary descriptor. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uscope_note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct usc_note_hdr hdr;
    struct usc_note_vcpu v;
    unsigned char *again;

    if (usc_note_parse(data, size, &hdr) != 0)
        return 0;
    /* Whatever it accepted, every record it promises must be readable. */
    for (uint32_t i = 0; i < hdr.nvcpus; i++)
        if (usc_note_read_vcpu(data, size, &hdr, i, &v) != 0)
            abort();
    if (usc_note_read_vcpu(data, size, &hdr, hdr.nvcpus, &v) == 0)
        abort();
    /* And what it accepted encodes again, and parses the same. */
    if (hdr.nvcpus > 8)
        return 0;
    size_t len = usc_note_size(hdr.nvcpus);
    struct usc_note_vcpu recs[8];
    for (uint32_t i = 0; i < hdr.nvcpus; i++)
        usc_note_read_vcpu(data, size, &hdr, i, &recs[i]);
    again = malloc(len);
    if (!again)
        return 0;
    if (usc_note_encode(&hdr, recs, hdr.nvcpus, again, len) != (long)len)
        abort();
    struct usc_note_hdr back;
    if (usc_note_parse(again, len, &back) != 0 || back.nvcpus != hdr.nvcpus ||
        strcmp(back.name, hdr.name) != 0)
        abort();
    free(again);
    return 0;
}
