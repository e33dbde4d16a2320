/* A copy of a paused guest's RAM data, read as guest memory once it runs. */
#ifndef USC_SNAPSHOT_H
#define USC_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "corewrite.h"
#include "physmem.h"

/* Where a piece of guest RAM lies in the copy. */
struct usc_snapshot_piece {
    uint64_t paddr, len, off;
};

/*
 * A dump pauses the guest only for the copy: the page-table walk, the
 * search for pages of zeros and the file are made from it afterwards. The
 * copy holds every byte a source's next_data calls data (a RAM file's
 * allocated pages); the rest of RAM reads as zeros.
 */
struct usc_snapshot_copy; /* the copy under way */

struct usc_snapshot {
    unsigned char *buf; /* cap bytes, mapped by usc_snapshot_init */
    size_t cap, used;
    struct usc_snapshot_piece *pieces; /* sorted by paddr, disjoint */
    size_t npieces, cappieces;
    struct usc_physmem pm;
    struct usc_snapshot_copy *copy; /* armed, not taken yet */
};

/*
 * Set (s) up with room for (bytes) of data, of guest RAM below
 * (phys_end): the memory is allocated and faulted in now (huge pages where
 * the kernel gives them; two threads share the kernel's zeroing), so
 * that taking the copy faults nothing. Returns 0, -ENOMEM.
 */
int usc_snapshot_init(struct usc_snapshot *s, size_t bytes, uint64_t phys_end);

/*
 * Before the guest stops: plan the copy of the data of the (nram) ranges
 * (ram) of (live), as (next_data, priv) find it (NULL: all of each
 * range), and, when (live) maps all of it, start a helper thread that
 * waits (spinning, for at most 10 s) to copy it. Returns 0; -E2BIG when
 * the data outgrows the room; -ENOMEM. Without it, usc_snapshot_take
 * plans in the pause.
 */
int usc_snapshot_arm(struct usc_snapshot *s, const struct usc_physmem *live,
                     const struct usc_core_ram *ram, size_t nram,
                     int (*next_data)(void *priv, uint64_t paddr, uint64_t end,
                                      uint64_t *start, uint64_t *stop),
                     void *priv);

/* The guest has stopped: an armed helper starts copying the plan while
 * this thread does other work of the pause (registers). */
void usc_snapshot_go(struct usc_snapshot *s);

/*
 * In the pause: copy the data of (ram) in (live), as (next_data, priv)
 * find it now, into (s). This thread copies alongside the helper, one
 * block of 1 MiB at a time each; data found since the plan is copied too.
 * Returns 0; -E2BIG when the data outgrew the room (nothing is kept
 * then); the source's errors.
 */
int usc_snapshot_take(struct usc_snapshot *s, const struct usc_physmem *live,
                      const struct usc_core_ram *ram, size_t nram,
                      int (*next_data)(void *priv, uint64_t paddr, uint64_t end,
                                       uint64_t *start, uint64_t *stop),
                      void *priv);

/* The copy as guest memory, valid until usc_snapshot_free. */
const struct usc_physmem *usc_snapshot_physmem(struct usc_snapshot *s);

/* usc_core_source.next_data over the copy (priv: the snapshot). */
int usc_snapshot_next(void *priv, uint64_t paddr, uint64_t end, uint64_t *start,
                      uint64_t *stop);

/* Free what (s) holds; a zeroed (s) is a no-op. */
void usc_snapshot_free(struct usc_snapshot *s);

#endif /* USC_SNAPSHOT_H */
