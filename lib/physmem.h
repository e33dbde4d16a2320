/* Reading guest-physical memory: the interface every backend provides. */
#ifndef USC_PHYSMEM_H
#define USC_PHYSMEM_H

#include <stddef.h>
#include <stdint.h>

/*
 * A guest's physical memory, as a backend (a QEMU RAM file, a core file,
 * Xen foreign mapping, a test buffer) serves it. The contents are the
 * guest's and untrusted: read them through the checked accessors of
 * guestmem.h, never through these callbacks directly.
 */
struct usc_physmem {
    /*
     * Required: copy (len) bytes at guest-physical (paddr) to (buf).
     * Returns 0, or -EFAULT if any byte lies outside guest RAM.
     */
    int (*read)(void *priv, uint64_t paddr, void *buf, size_t len);
    /*
     * May be NULL: a pointer to the (len) bytes at (paddr) when guest RAM
     * is mapped in this process (the guest may write them at any time),
     * else NULL.
     */
    const void *(*map)(void *priv, uint64_t paddr, size_t len);
    void *priv;        /* the backend's state, passed to read and map */
    uint64_t phys_end; /* exclusive upper bound of guest-physical addresses */
    /*
     * May be NULL: copy (len) bytes from (buf) to guest-physical (paddr),
     * for data only (trace flags, ring positions): TCG would not see code
     * written this way. A write of 4 or 8 bytes aligned to its size is a
     * single store. Returns 0, or -EFAULT if any byte lies outside RAM.
     */
    int (*write)(void *priv, uint64_t paddr, const void *buf, size_t len);
};

/* One piece of a batched read: (len) bytes at guest-physical (paddr). */
struct usc_phys_seg {
    uint64_t paddr;
    void *buf;
    size_t len;
};

/*
 * Serve (len) bytes at (buf) as guest RAM at guest-physical 0 .. len, in
 * (pm), for tests and fuzzing. The caller keeps (buf) alive and unchanged
 * in size while (pm) is used. priv can carry only (buf), so these
 * callbacks trust their caller to stay below phys_end: guestmem.h does.
 */
void usc_physmem_from_buffer(struct usc_physmem *pm, const void *buf,
                             size_t len);

/* As usc_physmem_from_buffer, and writable through (pm)->write. */
void usc_physmem_from_buffer_rw(struct usc_physmem *pm, void *buf, size_t len);

/* A guest RAM file (QEMU memory-backend-file), mapped read-only. */
struct usc_ramfile;

/*
 * Map the RAM file at (path) read-only and shared, so a running guest's
 * writes are seen, with QEMU pc's layout: file offset == guest-physical
 * address up to the low-memory limit, the rest from 4 GiB up. Stores a new
 * handle in (*out), which the caller frees with usc_ramfile_close.
 * Returns 0; -EINVAL if the file is empty or not a regular file; another
 * negative errno if it cannot be opened or mapped. The file must not
 * shrink while mapped (that would fault the reading process).
 */
int usc_ramfile_open(const char *path, struct usc_ramfile **out);

/*
 * As usc_ramfile_open, mapped read-write so that the physmem's write
 * member works (data only). Returns what usc_ramfile_open does, or
 * -EACCES when the file is not writable.
 */
int usc_ramfile_open_rw(const char *path, struct usc_ramfile **out);

/* The physical memory of (rf), valid until usc_ramfile_close(rf). */
const struct usc_physmem *usc_ramfile_physmem(struct usc_ramfile *rf);

/* Unmap and free (rf); NULL is a no-op. */
void usc_ramfile_close(struct usc_ramfile *rf);

#endif /* USC_PHYSMEM_H */
