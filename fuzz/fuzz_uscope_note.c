/*
 * Fuzz target: the USCOPE note parser on an arbitrary descriptor, and the
 * same bytes taken as a PT_NOTE segment searched for the notes, the
 * console tail and the threads among them; and the threads note's parser.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uscope_note.h"

/* Every thread record the threads parser promises is there, named. */
static void threads(const void *desc, size_t len)
{
    struct usc_note_threads h;
    struct usc_note_thread t;

    if (usc_note_threads_parse(desc, len, &h) != 0)
        return;
    for (uint32_t i = 0; i < h.nthreads; i++)
        if (usc_note_read_thread(desc, len, &h, i, &t) != 0 ||
            strlen(t.name) >= sizeof(t.name))
            abort();
    if (usc_note_read_thread(desc, len, &h, h.nthreads, &t) == 0)
        abort();
}

/* Whatever a segment search accepts lies inside the segment. */
static void segment(const uint8_t *data, size_t size)
{
    const void *p;
    size_t len;

    for (unsigned align = 4; align <= 8; align += 4) {
        if (usc_note_find(data, size, align, USC_NOTE_TYPE, &p, &len) == 0 &&
            ((const uint8_t *)p < data || len > size ||
             (const uint8_t *)p + len > data + size))
            abort();
        if (usc_note_find(data, size, align, USC_NOTE_TYPE_THREADS, &p, &len) ==
            0)
            threads(p, len);
        if (usc_note_console(data, size, align, &p, &len) == 0) {
            if ((const uint8_t *)p < data || len > USC_NOTE_CONSOLE_MAX ||
                (const uint8_t *)p + len > data + size)
                abort();
            /* every byte promised is there to read (ASan watches) */
            static uint8_t copy[USC_NOTE_CONSOLE_MAX];
            memcpy(copy, p, len);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct usc_note_hdr hdr;
    struct usc_note_vcpu v;
    unsigned char *again;

    segment(data, size);
    threads(data, size);
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
