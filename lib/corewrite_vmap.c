/* Every mapping of a guest's x86-64 page tables, as merged ranges. */
#include "corewrite.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guestmem.h"

#define ENTRIES 512u
#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_PS (1ull << 7)
#define PTE_NX (1ull << 63)
#define ADDR_MASK 0x000ffffffffff000ull

struct walk {
    const struct usc_physmem *pm;
    unsigned tables; /* read so far */
    struct usc_vrange *r;
    size_t n, cap;
};

/* Bits a level's entries cover: 39 for the PML4 down to 12 for a PT. */
static unsigned level_shift(int level)
{
    return 12u + 9u * (unsigned)(level - 1);
}

static uint64_t canonical(uint64_t va)
{
    return (va & (1ull << 47)) ? va | 0xffff000000000000ull : va;
}

/* Add [va, va + len) -> pa, merged into the last range when it continues. */
static int add(struct walk *w, uint64_t va, uint64_t pa, uint64_t len,
               uint32_t flags)
{
    if (w->n) {
        struct usc_vrange *last = &w->r[w->n - 1];
        if (last->vaddr + last->len == va && last->paddr + last->len == pa &&
            last->flags == flags) {
            last->len += len;
            return 0;
        }
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        struct usc_vrange *r;

        if (w->cap >= USC_VMAP_MAX_RANGES)
            return -E2BIG;
        if (cap > USC_VMAP_MAX_RANGES)
            cap = USC_VMAP_MAX_RANGES;
        r = realloc(w->r, cap * sizeof(*r));
        if (!r)
            return -ENOMEM;
        w->r = r;
        w->cap = cap;
    }
    w->r[w->n++] = (struct usc_vrange){va, pa, len, flags};
    return 0;
}

/*
 * Walk the table at (table) of (level) (4: PML4 .. 1: PT) mapping from
 * virtual (base), with the permissions the levels above allow (flags).
 */
static int walk_table(struct walk *w, uint64_t table, int level, uint64_t base,
                      uint32_t flags)
{
    uint64_t e[ENTRIES];
    unsigned shift = level_shift(level);
    int err;

    if (w->tables >= USC_VMAP_MAX_TABLES)
        return -E2BIG;
    w->tables++;
    /* An unreadable table maps nothing we could dump. */
    if (usc_guestmem_read(w->pm, table, e, sizeof(e)) != 0)
        return 0;
    for (unsigned i = 0; i < ENTRIES; i++) {
        uint64_t va = base + ((uint64_t)i << shift);
        uint32_t f = flags;

        if (!(e[i] & PTE_P))
            continue;
        if (!(e[i] & PTE_RW))
            f &= ~(uint32_t)USC_VRANGE_W;
        if (e[i] & PTE_NX)
            f &= ~(uint32_t)USC_VRANGE_X;
        /* PS means a page at the PDPT (1 GiB) and PD (2 MiB) levels only. */
        if (level == 1 || ((level == 2 || level == 3) && (e[i] & PTE_PS))) {
            uint64_t size = 1ull << shift;
            err =
                add(w, canonical(va), e[i] & ADDR_MASK & ~(size - 1), size, f);
        } else if (level > 1) {
            err = walk_table(w, e[i] & ADDR_MASK, level - 1, va, f);
        } else {
            err = 0;
        }
        if (err)
            return err;
    }
    return 0;
}

int usc_vmap_collect(const struct usc_physmem *pm, uint64_t cr3,
                     struct usc_vrange **out, size_t *n)
{
    struct walk w = {.pm = pm};
    int err;

    if (!pm || !out || !n)
        return -EINVAL;
    *out = NULL;
    *n = 0;
    err = walk_table(&w, cr3 & ADDR_MASK, 4, 0,
                     USC_VRANGE_R | USC_VRANGE_W | USC_VRANGE_X);
    if (err) {
        free(w.r);
        return err;
    }
    *out = w.r;
    *n = w.n;
    return 0;
}
