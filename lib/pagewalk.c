/* x86-64 4-level page walk over guest-physical memory, one read per level. */
#include "pagewalk.h"

#include <errno.h>
#include <stddef.h>

#include "guestmem.h"

#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_PS (1ull << 7)
#define PTE_NX (1ull << 63)

/* MAXPHYADDR 52: bits 12..51 name a 4 KiB frame; 52..62 are ignored. */
#define ADDR_MASK 0x000ffffffffff000ull

#define KIB4 (1ull << 12)
#define MIB2 (1ull << 21)
#define GIB1 (1ull << 30)

/* Bits 47..63 of a canonical 48-bit address are all equal. */
static int canonical(uint64_t vaddr)
{
    uint64_t top = vaddr >> 47;

    return top == 0 || top == 0x1ffff;
}

/*
 * The levels, top down: the shift of the index each consumes, and the page
 * a PS entry there maps (0: PS is reserved at this level).
 */
static const struct {
    unsigned int shift;
    uint64_t large;
} levels[] = {
    {39, 0},    /* PML4 */
    {30, GIB1}, /* PDPT */
    {21, MIB2}, /* PD */
    {12, 0},    /* PT: bit 7 is PAT, never PS */
};

int usc_pagewalk(const struct usc_physmem *pm, uint64_t cr3, uint64_t vaddr,
                 struct usc_xlate *out)
{
    if (!pm || !out)
        return -EINVAL;
    if (!canonical(vaddr))
        return -EINVAL;

    /* CR3's low 12 bits are PCID or flags and bit 63 is no-flush: masked. */
    uint64_t table = cr3 & ADDR_MASK;
    int writable = 1, user = 1, nx = 0;
    size_t n = sizeof(levels) / sizeof(levels[0]);

    /* The loop is bounded by the level count, whatever the entries say. */
    for (size_t i = 0; i < n; i++) {
        uint64_t index = (vaddr >> levels[i].shift) & 0x1ff;
        uint64_t e;
        int err = usc_guestmem_load_u64(pm, table + index * 8, &e);
        if (err)
            return -EFAULT;
        if (!(e & PTE_P))
            return -EFAULT;
        writable &= !!(e & PTE_RW);
        user &= !!(e & PTE_US);
        nx |= !!(e & PTE_NX);

        uint64_t size = KIB4;
        if (i + 1 < n && !(e & PTE_PS)) {
            table = e & ADDR_MASK;
            continue;
        }
        if (i + 1 < n) {
            size = levels[i].large;
            if (!size)
                return -EINVAL; /* PS in a PML4 entry is reserved */
            /* Between PAT (bit 12) and the frame, bits must be zero. */
            if (e & (size - 1) & ADDR_MASK & ~KIB4)
                return -EINVAL;
        }
        out->paddr = (e & ADDR_MASK & ~(size - 1)) | (vaddr & (size - 1));
        out->page_size = size;
        out->writable = writable;
        out->user = user;
        out->nx = nx;
        return 0;
    }
    return -EFAULT; /* not reached: the PT level always ends the walk */
}

int usc_pagewalk_find_root(const struct usc_physmem *pm, uint64_t from,
                           uint64_t to, uint64_t vaddr, uint64_t paddr,
                           int (*next_data)(void *priv, uint64_t pos,
                                            uint64_t end, uint64_t *start,
                                            uint64_t *stop),
                           void *priv, uint64_t *cr3)
{
    uint64_t pos = from;

    if (!pm || !cr3 || from > to)
        return -EINVAL;
    while (pos < to) {
        uint64_t start = pos, stop = to;

        if (next_data && next_data(priv, pos, to, &start, &stop))
            break;
        if (start < pos)
            start = pos;
        if (stop > to)
            stop = to;
        for (uint64_t p = (start + KIB4 - 1) & ~(KIB4 - 1);
             p < stop && p >= start; p += KIB4) {
            struct usc_xlate x;

            if (usc_pagewalk(pm, p, vaddr, &x) == 0 && x.paddr == paddr) {
                *cr3 = p;
                return 0;
            }
        }
        pos = stop > pos ? stop : pos + KIB4;
    }
    return -ENOENT;
}
