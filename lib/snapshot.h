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
struct usc_snapshot {
    unsigned char *buf; /* cap bytes, mapped by usc_snapshot_init */
    size_t cap, used;
    struct usc_snapshot_piece *pieces; /* sorted by paddr, disjoint */
    size_t npieces, cappieces;
    struct usc_physmem pm;
};

/*
 * Set (s) up with room for (bytes) of data, of guest RAM below
 * (phys_end): the memory is allocated and faulted in now (huge pages where
 * the kernel gives them; two threads share the kernel's zeroing), so
 * that taking the copy faults nothing. Returns 0, -ENOMEM.
 */
int usc_snapshot_init(struct usc_snapshot *s, size_t bytes, uint64_t phys_end);

/*
 * Copy the data of the (nram) ranges (ram) of (live), as (next_data,
 * priv) find it (NULL: all of each range), into (s). A source that maps
 * guest RAM is copied by this thread and a helper, half each. Returns 0;
 * -E2BIG when the data outgrew the room (nothing is kept then); the
 * source's errors.
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
