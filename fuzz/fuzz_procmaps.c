/* Fuzz target: the input is a process's /proc/PID/maps text. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "procmaps.h"
#include "procram.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

/* Every region (r) lies inside area (a) and reads back through xlate. */
static void check_regions(const struct usc_procram *r,
                          const struct usc_procram_area *a)
{
    CHECK(r->n <= USC_PROCRAM_MAX);
    for (size_t i = 0; i < r->n; i++) {
        uint64_t hva, chunk;

        CHECK(r->r[i].len > 0);
        CHECK(r->r[i].hva >= a->start && r->r[i].hva < a->end);
        CHECK(r->r[i].len <= a->end - r->r[i].hva);
        CHECK(usc_procram_xlate(r, r->r[i].gpa, 1, &hva, &chunk) == 0);
        CHECK(hva == r->r[i].hva && chunk == 1);
    }
}

/* A block claimed at a few places of each area, as a scan would. */
static void blocks(const struct usc_procram_area *a, size_t na,
                   const uint8_t *data, size_t size)
{
    static const uint64_t claims[] = {
        0, 0x1000, 0x166000, 0xc0000000, 0x100000000ull, 0x100002000ull};

    for (size_t i = 0; i < na && i < 16; i++) {
        uint64_t len = a[i].end - a[i].start;
        uint64_t offs[] = {0, 0x1000, 0x166000, len > 0x1000 ? len - 0x1000 : 0,
                           size ? (uint64_t)data[i % size] << 12 : 0};

        CHECK(a[i].start < a[i].end);
        CHECK(len >= USC_PROCRAM_MIN_AREA);
        for (size_t o = 0; o < sizeof(offs) / sizeof(offs[0]); o++) {
            for (size_t c = 0; c < sizeof(claims) / sizeof(claims[0]); c++) {
                struct usc_procram r;
                int q, err;

                if (offs[o] >= len)
                    continue;
                err = usc_procram_from_block(&a[i], a[i].start + offs[o],
                                             claims[c], USC_VMM_QEMU,
                                             (int)(c & 1), &r, &q);
                CHECK(err == 0 || err == -ESTALE || err == -EINVAL);
                if (err == 0) {
                    CHECK(q >= 1 && q <= 3);
                    check_regions(&r, &a[i]);
                }
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct usc_procram_area *a = NULL;
    struct usc_procmap *m = NULL;
    struct usc_procram r;
    size_t n = 0, na = 0;

    if (usc_procmaps_parse((const char *)data, size, &m, &n) != 0) {
        CHECK(m == NULL && n == 0);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        CHECK(m[i].start < m[i].end);
        CHECK(i == 0 || m[i].start >= m[i - 1].end);
        CHECK(memchr(m[i].name, '\0', sizeof(m[i].name)) != NULL);
    }
    if (usc_procram_areas(m, n, &a, &na) == 0) {
        blocks(a, na, data, size);
        if (usc_procram_guess(a, na, USC_VMM_HVT, &r) == 0)
            CHECK(r.n == 1);
    }
    /* the first mappings named as RAM, as a user's ram= would */
    memset(&r, 0, sizeof(r));
    for (size_t i = 0; i < n && r.n < 3; i++, r.n++)
        r.r[r.n] = (struct usc_procram_region){(uint64_t)r.n << 32, m[i].start,
                                               m[i].end - m[i].start};
    if (r.n && usc_procram_check(m, n, &r) == 0)
        for (size_t i = 1; i < r.n; i++)
            CHECK(r.r[i].gpa >= r.r[i - 1].gpa + r.r[i - 1].len);
    free(a);
    free(m);
    return 0;
}
