/* Bounds-checked, tear-free and seqlock-consistent reads of guest memory. */
#include "guestmem.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

/* Spins of a seqlock copy before it starts yielding the CPU to the guest. */
#define SEQ_SPINS 64u

/*
 * What a backend's read or write error means to our callers: the guest
 * being gone (-ESRCH) is said as such; any other error still means the
 * bytes could not be reached (-EFAULT).
 */
static int backend_error(int err)
{
    if (err == 0 || err == -ESRCH)
        return err;
    return -EFAULT;
}

bool usc_guestmem_in_ram(const struct usc_physmem *pm, uint64_t paddr,
                         uint64_t len)
{
    return paddr <= pm->phys_end && len <= pm->phys_end - paddr;
}

int usc_guestmem_read(const struct usc_physmem *pm, uint64_t paddr, void *buf,
                      size_t len)
{
    if (!usc_guestmem_in_ram(pm, paddr, len))
        return -EFAULT;
    if (len == 0)
        return 0;
    return backend_error(pm->read(pm->priv, paddr, buf, len));
}

/* The mapping of (len) bytes at (paddr), if mapped and aligned to (len). */
static const void *mapped_aligned(const struct usc_physmem *pm, uint64_t paddr,
                                  size_t len)
{
    if (!pm->map)
        return NULL;
    const void *p = pm->map(pm->priv, paddr, len);
    return p && ((uintptr_t)p & (len - 1)) == 0 ? p : NULL;
}

int usc_guestmem_load_u32(const struct usc_physmem *pm, uint64_t paddr,
                          uint32_t *v)
{
    if (!usc_guestmem_in_ram(pm, paddr, sizeof(*v)))
        return -EFAULT;
    const uint32_t *p = mapped_aligned(pm, paddr, sizeof(*v));
    if (p) {
        *v = __atomic_load_n(p, __ATOMIC_ACQUIRE);
        return 0;
    }
    int err = usc_guestmem_read(pm, paddr, v, sizeof(*v));
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return err;
}

int usc_guestmem_load_u64(const struct usc_physmem *pm, uint64_t paddr,
                          uint64_t *v)
{
    if (!usc_guestmem_in_ram(pm, paddr, sizeof(*v)))
        return -EFAULT;
    const uint64_t *p = mapped_aligned(pm, paddr, sizeof(*v));
    if (p) {
        *v = __atomic_load_n(p, __ATOMIC_ACQUIRE);
        return 0;
    }
    int err = usc_guestmem_read(pm, paddr, v, sizeof(*v));
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return err;
}

int usc_guestmem_write(const struct usc_physmem *pm, uint64_t paddr,
                       const void *buf, size_t len)
{
    if (!pm->write)
        return -ENOTSUP;
    if (!usc_guestmem_in_ram(pm, paddr, len))
        return -EFAULT;
    if (len == 0)
        return 0;
    return backend_error(pm->write(pm->priv, paddr, buf, len));
}

int usc_guestmem_store_u32(const struct usc_physmem *pm, uint64_t paddr,
                           uint32_t v)
{
    /* Unaligned, it could not be one store: the guest might see it torn. */
    if (paddr & 3)
        return -EINVAL;
    return usc_guestmem_write(pm, paddr, &v, sizeof(v));
}

int usc_guestmem_store_u64(const struct usc_physmem *pm, uint64_t paddr,
                           uint64_t v)
{
    if (paddr & 7)
        return -EINVAL;
    return usc_guestmem_write(pm, paddr, &v, sizeof(v));
}

int usc_guestmem_read_seq(const struct usc_physmem *pm, uint64_t paddr,
                          void *buf, size_t len)
{
    uint64_t before, after;

    if (len < sizeof(before))
        return -EINVAL;
    if (!usc_guestmem_in_ram(pm, paddr, len))
        return -EFAULT;
    for (unsigned int i = 0; i < USC_GUESTMEM_SEQ_TRIES; i++) {
        int err = usc_guestmem_load_u64(pm, paddr, &before);
        if (err)
            return err;
        if (!(before & 1)) {
            err = usc_guestmem_read(pm, paddr, buf, len);
            if (err)
                return err;
            /* The copy's loads must complete before seq is read again. */
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            err = usc_guestmem_load_u64(pm, paddr, &after);
            if (err)
                return err;
            if (after == before) {
                memcpy(buf, &before, sizeof(before));
                return 0;
            }
        }
        /* A writer preempted mid-record on a busy host needs the CPU. */
        if (i >= SEQ_SPINS)
            sched_yield();
    }
    return -EAGAIN;
}

int usc_guestmem_copy_str(char *dst, size_t dst_size, const char *field,
                          size_t field_size)
{
    if (!dst || dst_size == 0)
        return -EINVAL;
    dst[0] = '\0';
    const char *nul = memchr(field, '\0', field_size);
    if (!nul)
        return -EINVAL;
    size_t n = (size_t)(nul - field);
    if (n >= dst_size)
        return -ERANGE;
    memcpy(dst, field, n + 1);
    return 0;
}

int usc_gtable_init(struct usc_gtable *t, const struct usc_physmem *pm,
                    const struct usc_table *d, uint32_t entry_size,
                    uint32_t max_capacity)
{
    t->pm = pm;
    t->paddr = 0;
    t->entry_size = entry_size;
    t->capacity = 0;
    if (d->capacity == 0)
        return 0;
    if (d->entry_size != entry_size || d->capacity > max_capacity)
        return -EINVAL;
    /* Two 32-bit factors: the product cannot overflow 64 bits. */
    uint64_t bytes = (uint64_t)d->capacity * d->entry_size;
    if (!usc_guestmem_in_ram(pm, d->at.paddr, bytes))
        return -EFAULT;
    t->paddr = d->at.paddr;
    t->capacity = d->capacity;
    return 0;
}

/* Address of entry (index) in (*paddr); -EINVAL for a bad index or size. */
static int entry_paddr(const struct usc_gtable *t, uint32_t index, size_t size,
                       uint64_t *paddr)
{
    if (index >= t->capacity || size != t->entry_size)
        return -EINVAL;
    *paddr = t->paddr + (uint64_t)index * t->entry_size;
    return 0;
}

int usc_gtable_read(const struct usc_gtable *t, uint32_t index, void *out,
                    size_t size)
{
    uint64_t paddr;
    int err = entry_paddr(t, index, size, &paddr);

    return err ? err : usc_guestmem_read(t->pm, paddr, out, size);
}

int usc_gtable_read_seq(const struct usc_gtable *t, uint32_t index, void *out,
                        size_t size)
{
    uint64_t paddr;
    int err = entry_paddr(t, index, size, &paddr);

    return err ? err : usc_guestmem_read_seq(t->pm, paddr, out, size);
}

int usc_gtable_load_u64(const struct usc_gtable *t, uint32_t index,
                        size_t offset, uint64_t *v)
{
    uint64_t paddr;
    int err = entry_paddr(t, index, t->entry_size, &paddr);

    if (err)
        return err;
    if (offset > t->entry_size || t->entry_size - offset < sizeof(*v))
        return -EINVAL;
    return usc_guestmem_load_u64(t->pm, paddr + offset, v);
}

int usc_gtable_read_bytes(const struct usc_gtable *t, uint64_t offset,
                          void *buf, size_t len)
{
    uint64_t bytes = (uint64_t)t->capacity * t->entry_size;

    if (offset > bytes || len > bytes - offset)
        return -EINVAL;
    return usc_guestmem_read(t->pm, t->paddr + offset, buf, len);
}
