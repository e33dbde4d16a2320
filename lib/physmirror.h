/* A batched copy of the guest memory a reader looks at, refreshed at once. */
#ifndef USC_PHYSMIRROR_H
#define USC_PHYSMIRROR_H

#include <stddef.h>
#include <stdint.h>

#include "physmem.h"

/*
 * Reads a guest whose memory costs a system call each (a VMM process's,
 * through /proc) as cheaply as one that is mapped: the mirror serves, from
 * a copy, the ranges its reader looked at during the previous pass, taking
 * that copy anew at each usc_physmirror_refresh twice over, in one batched
 * read (one system call for a whole agent). A range that differs between the
 * two copies (the guest wrote it meanwhile) is read live instead, so that a
 * record under a sequence counter is still copied consistently: a counter
 * unchanged across both copies proves that no write touched it between
 * them. Anything not in the copy is read live too (and copied next time).
 */
struct usc_physmirror;

/*
 * A mirror of (live) (borrowed; it must outlive the mirror) whose copies
 * are taken by (batch)(priv, segs, n), which fills the (n) pieces in
 * their order (the first copy's all before the second's) or fails with a
 * negative errno. Stores a new mirror in (*out). Returns 0,
 * -EINVAL or -ENOMEM.
 */
int usc_physmirror_new(const struct usc_physmem *live,
                       int (*batch)(void *priv, const struct usc_phys_seg *segs,
                                    size_t n),
                       void *priv, struct usc_physmirror **out);

/* The memory to read through, valid until usc_physmirror_free(m). */
const struct usc_physmem *usc_physmirror_physmem(struct usc_physmirror *m);

/*
 * Take the copies of what was read through the mirror since the last
 * refresh, and start noting afresh. A failed copy leaves the mirror
 * empty (every read live) and returns the batch's error; else 0.
 */
int usc_physmirror_refresh(struct usc_physmirror *m);

/* Bytes the last refresh copied (twice), for the curious. */
size_t usc_physmirror_bytes(const struct usc_physmirror *m);

/* Free (m); NULL is a no-op. */
void usc_physmirror_free(struct usc_physmirror *m);

#endif /* USC_PHYSMIRROR_H */
