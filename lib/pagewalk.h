/* x86-64 virtual-to-physical translation over guest page tables. */
#ifndef USC_PAGEWALK_H
#define USC_PAGEWALK_H

#include <stdint.h>

#include "physmem.h"

/* Where a guest-virtual address lands. */
struct usc_xlate {
    uint64_t paddr;     /* guest-physical address of the byte */
    uint64_t page_size; /* 4 KiB, 2 MiB or 1 GiB */
    int writable;       /* every level allows writes */
    int user;           /* every level allows user mode */
    int nx;             /* some level forbids execution (needs EFER.NXE) */
};

/*
 * Translate (vaddr) through the 4-level page tables rooted at (cr3) in
 * (pm): 4 KiB, 2 MiB and 1 GiB pages. Reads exactly one entry per level,
 * each through the checked gate, so a hostile table can neither make it
 * loop nor read outside guest RAM. Returns 0 with (*out) filled; -EFAULT
 * when an entry is not present or a table lies outside RAM; -EINVAL for a
 * non-canonical (vaddr) or a reserved-bit entry.
 */
int usc_pagewalk(const struct usc_physmem *pm, uint64_t cr3, uint64_t vaddr,
                 struct usc_xlate *out);

/*
 * The page tables of a guest no vCPU can be asked about: the first page
 * of [from, to) that, taken as a PML4, translates (vaddr) to (paddr) (an
 * address whose place the caller knows, e.g. the agent's control block).
 * Only the pages (next_data) says may hold data are tried (NULL: every
 * page); next_data(priv, pos, end, &start, &stop) gives the first such
 * range in [pos, end), or an error for none. Stores the page in (*cr3).
 * Returns 0; -ENOENT when no page does; -EINVAL for bad arguments.
 */
int usc_pagewalk_find_root(const struct usc_physmem *pm, uint64_t from,
                           uint64_t to, uint64_t vaddr, uint64_t paddr,
                           int (*next_data)(void *priv, uint64_t pos,
                                            uint64_t end, uint64_t *start,
                                            uint64_t *stop),
                           void *priv, uint64_t *cr3);

#endif /* USC_PAGEWALK_H */
