/* Writing a guest's ELF64 core: sparse memory, virtual views, notes. */
#ifndef USC_COREWRITE_H
#define USC_COREWRITE_H

#include <stddef.h>
#include <stdint.h>
#include <uniscope/abi.h>

#include "physmem.h"
#include "uscope_note.h"

/*
 * A uniscope core is an ELF64 ET_CORE file for EM_X86_64 (docs/unicore.md):
 *
 *   ELF header, program headers (PN_XNUM past 65534), the PT_NOTE:
 *     NT_PRSTATUS "CORE" per vCPU (336 bytes, pid = vCPU index + 1), in the
 *     order given (the faulting vCPU first), one per thread given (pid its
 *     note's lwp), NT_PRPSINFO "CORE", then the USCOPE note, when given the
 *     USCOPE console note, and the USCOPE threads note with the threads;
 *     then, page-aligned,
 * every non-zero page of guest RAM once, in physical order. PT_LOADs: for each
 * guest-virtual range the page tables map onto RAM, p_vaddr = its virtual
 * address, p_paddr = physical, p_offset = where those physical pages' bytes lie
 * (so aliases share the bytes); RAM no virtual range maps gets p_vaddr =
 * USC_CORE_UNMAPPED_VADDR + p_paddr. Pages of zeros are not in the file: a
 * PT_LOAD's p_memsz runs past its p_filesz over them, or it has no file bytes
 * at all.
 *
 * Writing goes in three steps: usc_core_plan (find the pages with data,
 * lay the file out), usc_core_write_data (copy guest memory into the
 * file), then usc_core_write_headers (headers and notes, which carry how
 * long the pause lasted). A dump that reads a copy of the guest
 * (snapshot.h) lets it run for all three.
 */

/* Where RAM that no page table maps appears in p_vaddr: a non-canonical
 * address, so it can never shadow a real mapping. */
#define USC_CORE_UNMAPPED_VADDR 0x0000800000000000ull

/* A range of guest-physical RAM. */
struct usc_core_ram {
    uint64_t paddr, len;
};

/* usc_vrange.flags, also the PT_LOAD's p_flags (PF_X, PF_W, PF_R). */
enum usc_vrange_flags {
    USC_VRANGE_X = 1,
    USC_VRANGE_W = 2,
    USC_VRANGE_R = 4,
};

/* A guest-virtual range the page tables map onto contiguous physical. */
struct usc_vrange {
    uint64_t vaddr, paddr, len;
    uint32_t flags; /* enum usc_vrange_flags */
};

/* The most page tables and ranges usc_vmap_collect takes from a guest. */
#define USC_VMAP_MAX_TABLES 16384u
#define USC_VMAP_MAX_RANGES (1u << 20)

/*
 * Collect every mapping of the 4-level page tables rooted at (cr3) in (pm):
 * 4 KiB, 2 MiB and 1 GiB pages, adjacent ones (virtually and physically,
 * same flags) merged, sorted by virtual address (canonical, high half
 * sign-extended). A new array of (*n) ranges goes to (*out) (free() it;
 * NULL when none). Tables are guest memory: one that cannot be read is
 * skipped as not present, and at most USC_VMAP_MAX_TABLES are read, so a
 * hostile guest can make the walk neither loop nor last. Returns 0;
 * -E2BIG past the table or range limit; -ENOMEM.
 */
int usc_vmap_collect(const struct usc_physmem *pm, uint64_t cr3,
                     struct usc_vrange **out, size_t *n);

/* One vCPU of the core. */
struct usc_core_vcpu {
    uint32_t index;       /* the hypervisor's vCPU number */
    uint32_t flags;       /* enum usc_note_vcpu_flags */
    int signal;           /* NT_PRSTATUS pr_cursig: 0, or e.g. SIGSEGV */
    struct usc_regs regs; /* NT_PRSTATUS's (the panic frame, if so flagged) */
    struct usc_regs live; /* the vCPU's own at the dump (USCOPE record) */
};

/* An agent thread that was not running: an NT_PRSTATUS of its own. */
struct usc_core_thread {
    struct usc_note_thread note; /* lwp, id, state, vCPU, name */
    struct usc_regs regs;        /* its saved registers, the rest zero or
                                    its vCPU's segments */
};

/* What a core holds. Arrays are borrowed until usc_core_plan_free. */
struct usc_core_desc {
    const struct usc_core_ram *ram; /* sorted, disjoint, page-aligned */
    size_t nram;
    const struct usc_vrange *vmap; /* may overlap virtually; NULL: none */
    size_t nvmap;
    const struct usc_core_vcpu *vcpus; /* in note order; at least one */
    uint32_t nvcpus;
    /* May be NULL: threads written after the vCPUs, with the threads note;
     * at most USC_NOTE_MAX_THREADS. */
    const struct usc_core_thread *threads;
    uint32_t nthreads;
    /* The USCOPE header: version, sizes and nvcpus are filled in. */
    struct usc_note_hdr note;
    /* May be NULL: the guest's console output, written as the USCOPE
     * note of type USC_NOTE_TYPE_CONSOLE; only its last
     * USC_NOTE_CONSOLE_MAX bytes are kept. */
    const void *console;
    size_t console_len;
};

/* Where the bytes come from. */
struct usc_core_source {
    const struct usc_physmem *pm; /* required: guest-physical reads (map
                                     is used when set) */
    /*
     * May be NULL: find data in [paddr, end): store in (*start, *stop) the
     * first range at or after paddr that may hold non-zero bytes, bytes
     * before it being known zero (a RAM file's holes). Returns 0, or
     * -ENXIO when the rest of [paddr, end) is all zeros.
     */
    int (*next_data)(void *priv, uint64_t paddr, uint64_t end, uint64_t *start,
                     uint64_t *stop);
    void *priv;
};

struct usc_core_stats {
    uint64_t bytes_written;  /* file bytes, headers included */
    uint64_t pages_written;  /* 4 KiB pages of RAM written */
    uint64_t pages_skipped;  /* zero pages left out, holes included */
    uint64_t pages_in_holes; /* ... of which the source said were holes */
    uint64_t loads;          /* PT_LOAD headers */
};

/* A laid-out core being written. */
struct usc_core_plan;

/*
 * Lay out the core of (desc): scan every RAM range of (src) for non-zero
 * pages (holes skipped), and build the program headers. Keeps pointers to
 * (desc)'s arrays and to (src). Stores a new plan in (*out), freed with
 * usc_core_plan_free. Returns 0; -EINVAL for a bad (desc) (no vCPU, RAM
 * unsorted or unaligned); -EFAULT when RAM cannot be read; -ENOMEM;
 * -E2BIG when the core would need more segments than a reader accepts.
 */
int usc_core_plan(const struct usc_core_desc *desc,
                  const struct usc_core_source *src,
                  struct usc_core_plan **out);

/* Bytes of RAM the plan writes (the non-zero pages). */
uint64_t usc_core_plan_data(const struct usc_core_plan *p);

/*
 * Copy the plan's RAM pages into (fd) at their offsets. (cancel), when not
 * NULL, is polled between blocks: non-zero stops the copy with -ECANCELED.
 * Adds to (st). Returns 0, -ECANCELED, -EFAULT, or -errno of the write.
 */
int usc_core_write_data(struct usc_core_plan *p, int fd,
                        const volatile int *cancel, struct usc_core_stats *st);

/*
 * Write the ELF header, program headers and notes into (fd), with (note)
 * as the USCOPE header (NULL: the plan's), and fill (st)'s byte count and
 * loads. Returns 0, -EINVAL for a bad note, or -errno of the write.
 */
int usc_core_write_headers(struct usc_core_plan *p, int fd,
                           const struct usc_note_hdr *note,
                           struct usc_core_stats *st);

/* The file size the plan makes. */
uint64_t usc_core_plan_size(const struct usc_core_plan *p);

/* Free (p); NULL is a no-op. */
void usc_core_plan_free(struct usc_core_plan *p);

#endif /* USC_COREWRITE_H */
