/* The checked gate: every read of untrusted guest memory goes through here. */
#ifndef USC_GUESTMEM_H
#define USC_GUESTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uniscope/abi.h>

#include "physmem.h"

/*
 * Guest memory is untrusted: every guest-supplied address, length, index
 * and string reaches host code through these functions, which check it
 * against the guest's RAM (overflow-safe) before reading. They return 0 or
 * a negative errno: -EFAULT for memory outside guest RAM or unreadable,
 * -EINVAL for a corrupt guest structure (or a caller's bad argument),
 * -EAGAIN for a sequence counter that never settles, -ESRCH when the
 * backend says the guest itself is gone (a Xen domain destroyed).
 */

/* Tries of a seqlock copy before it gives up with -EAGAIN. */
#define USC_GUESTMEM_SEQ_TRIES 1000u

/*
 * Does [paddr, paddr + len) lie below (pm)'s phys_end, without wrapping?
 * A zero-length range at phys_end does. Holes below phys_end are the read
 * callback's to report.
 */
bool usc_guestmem_in_ram(const struct usc_physmem *pm, uint64_t paddr,
                         uint64_t len);

/*
 * Copy (len) bytes at guest-physical (paddr) of (pm) into (buf). Returns 0,
 * or -EFAULT if any byte is outside guest RAM or unreadable.
 */
int usc_guestmem_read(const struct usc_physmem *pm, uint64_t paddr, void *buf,
                      size_t len);

/*
 * Load the 32-bit (or 64-bit) value at (paddr) into (*v) in one access
 * where RAM is mapped and the value aligned (so a field the guest updates
 * with single stores never tears), with acquire ordering. Returns 0 or
 * -EFAULT.
 */
int usc_guestmem_load_u32(const struct usc_physmem *pm, uint64_t paddr,
                          uint32_t *v);
int usc_guestmem_load_u64(const struct usc_physmem *pm, uint64_t paddr,
                          uint64_t *v);

/*
 * Write (len) bytes from (buf) to guest-physical (paddr) of (pm): data
 * only (a flag, a ring position), never code, which TCG would not see
 * written this way. The store variants write one aligned value in a
 * single store, with release ordering. Returns 0; -ENOTSUP when (pm) has
 * no write member; -EFAULT outside guest RAM; -EINVAL for a store to an
 * address not aligned to its size.
 */
int usc_guestmem_write(const struct usc_physmem *pm, uint64_t paddr,
                       const void *buf, size_t len);
int usc_guestmem_store_u32(const struct usc_physmem *pm, uint64_t paddr,
                           uint32_t v);
int usc_guestmem_store_u64(const struct usc_physmem *pm, uint64_t paddr,
                           uint64_t v);

/*
 * Take a consistent copy of the (len)-byte guest record at (paddr) into
 * (buf), where the record starts with a uint64_t sequence counter the guest
 * keeps odd while it writes (struct usc_thread, struct usc_panic): read seq
 * (even), copy, read seq again (unchanged), retrying up to
 * USC_GUESTMEM_SEQ_TRIES times. Returns 0; -EAGAIN if it never settles;
 * -EFAULT; -EINVAL if (len) cannot hold the counter.
 */
int usc_guestmem_read_seq(const struct usc_physmem *pm, uint64_t paddr,
                          void *buf, size_t len);

/*
 * Copy the string in a fixed-size guest field (field, field_size), already
 * in host memory, into (dst, dst_size). (dst) is always NUL-terminated, ""
 * on error. Returns 0; -EINVAL if the field holds no NUL; -ERANGE if the
 * string does not fit in (dst).
 */
int usc_guestmem_copy_str(char *dst, size_t dst_size, const char *field,
                          size_t field_size);

/*
 * A guest table whose descriptor has passed usc_gtable_init: its entries
 * lie in guest RAM and index < capacity is the only check left, which the
 * accessors below make. capacity == 0: the table is absent.
 */
struct usc_gtable {
    const struct usc_physmem *pm;
    uint64_t paddr;
    uint32_t entry_size;
    uint32_t capacity;
};

/*
 * Validate the guest's descriptor (d) of a table in (pm) and fill (t):
 * entry_size must equal (entry_size), capacity be at most (max_capacity),
 * and all capacity * entry_size bytes lie in guest RAM. A capacity of 0
 * gives an absent table whatever the other fields hold. Returns 0; -EINVAL
 * for a wrong entry size or too large a capacity; -EFAULT for a table
 * outside guest RAM (or wrapping around the address space).
 */
int usc_gtable_init(struct usc_gtable *t, const struct usc_physmem *pm,
                    const struct usc_table *d, uint32_t entry_size,
                    uint32_t max_capacity);

/*
 * Copy entry (index) of (t) into (out), which holds (size) == entry_size
 * bytes. Returns 0; -EINVAL if index >= capacity or size is wrong; -EFAULT.
 */
int usc_gtable_read(const struct usc_gtable *t, uint32_t index, void *out,
                    size_t size);

/* usc_gtable_read under the entry's sequence counter (usc_guestmem_read_seq).
 */
int usc_gtable_read_seq(const struct usc_gtable *t, uint32_t index, void *out,
                        size_t size);

/*
 * Load the 64-bit field at byte (offset) of entry (index) of (t) into (*v),
 * untorn (usc_guestmem_load_u64). Returns 0; -EINVAL if index or offset is
 * out of the table or entry; -EFAULT.
 */
int usc_gtable_load_u64(const struct usc_gtable *t, uint32_t index,
                        size_t offset, uint64_t *v);

/*
 * Copy (len) bytes starting (offset) bytes into (t)'s storage, taken as a
 * flat byte array of capacity * entry_size bytes, into (buf). Returns 0;
 * -EINVAL if the range leaves the table; -EFAULT.
 */
int usc_gtable_read_bytes(const struct usc_gtable *t, uint64_t offset,
                          void *buf, size_t len);

#endif /* USC_GUESTMEM_H */
