/* Guest RAM inside a VMM process: which mappings, which regions. */
#include "procram.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define GIB(n) ((uint64_t)(n) << 30)
#define PAGE 4096ull

/* Rank of a mapping that may hold guest RAM; -1 when it may not. */
static int rank_of(const struct usc_procmap *m)
{
    if (!(m->flags & USC_PROCMAP_READ))
        return -1;
    switch (m->kind) {
    case USC_PROCMAP_SHMEM:
    case USC_PROCMAP_MEMFD:
        return 0;
    case USC_PROCMAP_FILE:
        /* memory-backend-file, hugetlbfs: shared; a private file is code */
        return (m->flags & USC_PROCMAP_SHARED) ? 0 : -1;
    case USC_PROCMAP_ANON:
        if (m->flags & USC_PROCMAP_SHARED)
            return 0;
        /* private and executable: a JIT's code buffer (QEMU's 1 GiB for
         * TCG), never a guest's RAM, which no VMM runs on the host */
        return (m->flags & USC_PROCMAP_EXEC) ? -1 : 1;
    default:
        return -1;
    }
}

/* Does (b) continue the area ending with mapping (a)? */
static int continues(const struct usc_procmap *a, const struct usc_procmap *b)
{
    if (a->end != b->start || a->kind != b->kind ||
        (a->flags & USC_PROCMAP_SHARED) != (b->flags & USC_PROCMAP_SHARED) ||
        a->dev_major != b->dev_major || a->dev_minor != b->dev_minor ||
        a->inode != b->inode || !(b->flags & USC_PROCMAP_READ))
        return 0;
    /* One file (shared memory included): its offsets run on. Private
     * anonymous mappings alike are one already (the kernel merges them);
     * ones that differ are different memory (a JIT's code beside RAM). */
    return a->inode && b->offset == a->offset + (a->end - a->start);
}

static int compare_areas(const void *x, const void *y)
{
    const struct usc_procram_area *a = x, *b = y;
    uint64_t la = a->end - a->start, lb = b->end - b->start;

    if (a->rank != b->rank)
        return a->rank < b->rank ? -1 : 1;
    if (la != lb)
        return la > lb ? -1 : 1;
    return a->start < b->start ? -1 : a->start > b->start;
}

int usc_procram_areas(const struct usc_procmap *m, size_t n,
                      struct usc_procram_area **out, size_t *na)
{
    struct usc_procram_area *v;
    size_t k = 0;

    *out = NULL;
    *na = 0;
    v = calloc(n ? n : 1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        int rank = rank_of(&m[i]);

        while (j < n && continues(&m[j - 1], &m[j]))
            j++;
        /* an area is as good as its best part: hvt's code pages are rx */
        for (size_t p = i + 1; p < j; p++) {
            int r = rank_of(&m[p]);

            if (r >= 0 && (rank < 0 || r < rank))
                rank = r;
        }
        if (rank >= 0 && m[j - 1].end - m[i].start >= USC_PROCRAM_MIN_AREA &&
            m[j - 1].end - m[i].start <= USC_PROCRAM_MAX_AREA) {
            v[k].start = m[i].start;
            v[k].end = m[j - 1].end;
            v[k].kind = m[i].kind;
            v[k].flags = m[i].flags;
            v[k].rank = rank;
            k++;
        }
        i = j;
    }
    if (k == 0) {
        free(v);
        return 0;
    }
    qsort(v, k, sizeof(*v), compare_areas);
    *out = v;
    *na = k;
    return 0;
}

/*
 * QEMU keeps all of a pc or q35 machine's RAM in one mapping, the part
 * beyond the low-memory limit mapped at 4 GiB in the guest (QEMU 7.2:
 * pc_init1 and pc_q35_init).
 */
static uint64_t qemu_lowmem(uint64_t ram, int q35)
{
    if (q35)
        return ram >= 0xb0000000ull ? 0x80000000ull : ram;
    return ram >= 0xe0000000ull ? 0xc0000000ull : ram;
}

static void add(struct usc_procram *out, uint64_t gpa, uint64_t hva,
                uint64_t len)
{
    if (len && out->n < USC_PROCRAM_MAX)
        out->r[out->n++] = (struct usc_procram_region){gpa, hva, len};
}

int usc_procram_from_block(const struct usc_procram_area *a, uint64_t hva,
                           uint64_t self_paddr, enum usc_vmm_kind kind, int q35,
                           struct usc_procram *out, int *quality)
{
    uint64_t off, base, len, low;

    memset(out, 0, sizeof(*out));
    *quality = 0;
    if ((hva | self_paddr) & (PAGE - 1))
        return -EINVAL;
    if (hva < a->start || hva >= a->end || a->end - hva < PAGE)
        return -EINVAL;
    off = hva - a->start;
    low = kind == USC_VMM_QEMU ? qemu_lowmem(a->end - a->start, q35)
                               : a->end - a->start;
    if (self_paddr == off ||
        (self_paddr >= GIB(4) && off >= low &&
         self_paddr - GIB(4) == off - low && kind == USC_VMM_QEMU)) {
        /* a QEMU guest's block above the hole, in the same mapping */
        *quality = 3;
        base = a->start;
    } else if (self_paddr >= GIB(4) && self_paddr - GIB(4) == off) {
        /* RAM above the hole in a mapping of its own (Firecracker) */
        *quality = 2;
        add(out, GIB(4), a->start, a->end - a->start);
        return 0;
    } else if (self_paddr < off) {
        *quality = 1;
        base = hva - self_paddr;
    } else {
        return -ESTALE;
    }
    len = a->end - base;
    low = kind == USC_VMM_QEMU ? qemu_lowmem(len, q35) : len;
    /* a block in the hole, or past RAM's end, is no live one */
    if (self_paddr >= low &&
        (self_paddr < GIB(4) || self_paddr - GIB(4) >= len - low))
        return -ESTALE;
    add(out, 0, base, low);
    add(out, GIB(4), base + low, len - low);
    return 0;
}

int usc_procram_guess(const struct usc_procram_area *a, size_t na,
                      enum usc_vmm_kind kind, struct usc_procram *out)
{
    size_t found = na;

    memset(out, 0, sizeof(*out));
    if (kind != USC_VMM_HVT)
        return -ENOENT;
    for (size_t i = 0; i < na; i++) {
        if (a[i].kind != USC_PROCMAP_SHMEM)
            continue;
        if (found != na)
            return -ENOENT; /* two: which one, nobody can say */
        found = i;
    }
    if (found == na)
        return -ENOENT;
    add(out, 0, a[found].start, a[found].end - a[found].start);
    return 0;
}

static int compare_regions(const void *x, const void *y)
{
    const struct usc_procram_region *a = x, *b = y;

    return a->gpa < b->gpa ? -1 : a->gpa > b->gpa;
}

/* Does [hva, hva + len) lie in readable mappings of (m), without a gap? */
static int mapped(const struct usc_procmap *m, size_t n, uint64_t hva,
                  uint64_t len)
{
    uint64_t at = hva, end = hva + len;

    for (size_t i = 0; i < n && at < end; i++) {
        if (m[i].end <= at)
            continue;
        if (m[i].start > at || !(m[i].flags & USC_PROCMAP_READ))
            return 0;
        at = m[i].end;
    }
    return at >= end;
}

int usc_procram_check(const struct usc_procmap *m, size_t n,
                      struct usc_procram *ram)
{
    if (ram->n == 0 || ram->n > USC_PROCRAM_MAX)
        return -EINVAL;
    for (size_t i = 0; i < ram->n; i++) {
        const struct usc_procram_region *r = &ram->r[i];

        if (r->len == 0 || r->hva + r->len < r->hva || r->gpa + r->len < r->gpa)
            return -EINVAL;
        if (!mapped(m, n, r->hva, r->len))
            return -ERANGE;
    }
    qsort(ram->r, ram->n, sizeof(ram->r[0]), compare_regions);
    for (size_t i = 1; i < ram->n; i++)
        if (ram->r[i].gpa < ram->r[i - 1].gpa + ram->r[i - 1].len)
            return -EINVAL;
    return 0;
}

int usc_procram_xlate(const struct usc_procram *ram, uint64_t gpa, uint64_t len,
                      uint64_t *hva, uint64_t *chunk)
{
    for (size_t i = 0; i < ram->n; i++) {
        const struct usc_procram_region *r = &ram->r[i];

        if (gpa < r->gpa || gpa - r->gpa >= r->len)
            continue;
        *hva = r->hva + (gpa - r->gpa);
        *chunk = r->len - (gpa - r->gpa);
        if (*chunk > len)
            *chunk = len;
        return 0;
    }
    return -EFAULT;
}

uint64_t usc_procram_phys_end(const struct usc_procram *ram)
{
    uint64_t end = 0;

    for (size_t i = 0; i < ram->n; i++)
        if (ram->r[i].gpa + ram->r[i].len > end)
            end = ram->r[i].gpa + ram->r[i].len;
    return end;
}

uint64_t usc_procram_bytes(const struct usc_procram *ram)
{
    uint64_t sum = 0;

    for (size_t i = 0; i < ram->n; i++)
        sum += ram->r[i].len;
    return sum;
}
