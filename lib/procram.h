/* Where a VMM process keeps its guest's RAM: areas, regions, translation. */
#ifndef USC_PROCRAM_H
#define USC_PROCRAM_H

#include <stddef.h>
#include <stdint.h>

#include "procmaps.h"
#include "procvmm.h"

/* Guest RAM regions a process target knows at most. */
#define USC_PROCRAM_MAX 8
/* Mappings smaller than this are never taken for guest RAM. */
#define USC_PROCRAM_MIN_AREA (1u << 20)
/*
 * Nor larger ones: a scan reads 8 bytes of pagemap for every page of an
 * area, and a process's reservations can be terabytes (AddressSanitizer's
 * shadow: 16 TiB of it). Guest RAM in one mapping beyond this is named
 * with ram=.
 */
#define USC_PROCRAM_MAX_AREA (64ull << 30)

/* Guest-physical [gpa, gpa + len) lives at host virtual [hva, hva + len). */
struct usc_procram_region {
    uint64_t gpa, hva, len;
};

/* A guest's RAM as regions, sorted by gpa, never overlapping in gpa. */
struct usc_procram {
    size_t n;
    struct usc_procram_region r[USC_PROCRAM_MAX];
};

/*
 * An area: a run of adjacent readable mappings of one backing (a VMM's
 * guest RAM that it mprotect()ed in parts shows as several mappings).
 */
struct usc_procram_area {
    uint64_t start, end;
    enum usc_procmap_kind kind;
    uint32_t flags; /* USC_PROCMAP_*, of its first mapping */
    int rank;       /* 0 best: shared memory; 1 private anonymous */
};

/*
 * The areas of the (n) mappings (m) (address order, as parsed) that may
 * hold guest RAM, best first (rank, then size): readable, at least
 * USC_PROCRAM_MIN_AREA and at most USC_PROCRAM_MAX_AREA, anonymous (private or
 * shared), memfd or a shared file; never the program's own files, its heap or
 * stacks, nor private executable memory (a JIT's). A new array of (*na) in
 * (*out), freed with free(). Returns 0 or -ENOMEM.
 */
int usc_procram_areas(const struct usc_procmap *m, size_t n,
                      struct usc_procram_area **out, size_t *na);

/*
 * Guest RAM, given that a control block that checks out lies at host
 * address (hva) of area (a) and records guest-physical (self_paddr): the
 * region holding it, and for QEMU (kind; (q35) for its q35 machine) the
 * RAM above the PCI hole, which QEMU keeps in the same mapping, into
 * (out). (*quality) says how well the claim fits the area: 3 when
 * guest-physical 0 is the area's start (as every VMM here lays out RAM),
 * 2 when the area starts at 4 GiB (RAM above the hole in a mapping of its
 * own), 1 when guest-physical 0 falls inside the area (mappings merged).
 * Returns 0; -ESTALE when the block cannot be where it is (a stale copy:
 * guest-physical 0 would lie before the area); -EINVAL for an unaligned
 * address.
 */
int usc_procram_from_block(const struct usc_procram_area *a, uint64_t hva,
                           uint64_t self_paddr, enum usc_vmm_kind kind, int q35,
                           struct usc_procram *out, int *quality);

/*
 * Guest RAM without an agent, by what a VMM is known to do: Solo5's hvt
 * maps its guest's memory as one shared anonymous mapping, guest-physical
 * 0 at its start. Returns 0 with (out) filled; -ENOENT when (kind) is not
 * known so or the areas (a, na) do not show it unambiguously.
 */
int usc_procram_guess(const struct usc_procram_area *a, size_t na,
                      enum usc_vmm_kind kind, struct usc_procram *out);

/*
 * Check regions given by the user (ram=) against the (n) mappings (m):
 * each must lie inside readable mappings without a gap, and no two may
 * overlap in guest-physical space; sorts (ram) by gpa. Returns 0;
 * -ERANGE when a region leaves the mappings (a RAM size that lies);
 * -EINVAL for overlapping or empty regions.
 */
int usc_procram_check(const struct usc_procmap *m, size_t n,
                      struct usc_procram *ram);

/*
 * The host address of guest-physical (gpa) into (*hva), and how many
 * bytes from there, at most (len), lie in the same region into (*chunk).
 * Returns 0, or -EFAULT when (gpa) is in no region.
 */
int usc_procram_xlate(const struct usc_procram *ram, uint64_t gpa, uint64_t len,
                      uint64_t *hva, uint64_t *chunk);

/* The exclusive end of guest-physical space, and the RAM bytes in all. */
uint64_t usc_procram_phys_end(const struct usc_procram *ram);
uint64_t usc_procram_bytes(const struct usc_procram *ram);

#endif /* USC_PROCRAM_H */
