/* Guest-physical memory over a host buffer and over a QEMU RAM file. */
#include "physmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GIB(n) ((uint64_t)(n) << 30)

/* ---- a host buffer ------------------------------------------------------ */

static int buffer_read(void *priv, uint64_t paddr, void *buf, size_t len)
{
    memcpy(buf, (const unsigned char *)priv + paddr, len);
    return 0;
}

static const void *buffer_map(void *priv, uint64_t paddr, size_t len)
{
    (void)len;
    return (const unsigned char *)priv + paddr;
}

void usc_physmem_from_buffer(struct usc_physmem *pm, const void *buf,
                             size_t len)
{
    pm->read = buffer_read;
    pm->map = buffer_map;
    pm->priv = (void *)buf;
    pm->phys_end = buf ? len : 0;
    pm->write = NULL;
}

/* One store for an aligned 4- or 8-byte value, else a copy. */
static void store(unsigned char *dst, const void *src, size_t len)
{
    if (len == 8 && ((uintptr_t)dst & 7) == 0) {
        uint64_t v;
        memcpy(&v, src, 8);
        __atomic_store_n((uint64_t *)(void *)dst, v, __ATOMIC_RELEASE);
    } else if (len == 4 && ((uintptr_t)dst & 3) == 0) {
        uint32_t v;
        memcpy(&v, src, 4);
        __atomic_store_n((uint32_t *)(void *)dst, v, __ATOMIC_RELEASE);
    } else {
        memcpy(dst, src, len);
    }
}

static int buffer_write(void *priv, uint64_t paddr, const void *buf, size_t len)
{
    store((unsigned char *)priv + paddr, buf, len);
    return 0;
}

void usc_physmem_from_buffer_rw(struct usc_physmem *pm, void *buf, size_t len)
{
    usc_physmem_from_buffer(pm, buf, len);
    pm->write = buf ? buffer_write : NULL;
}

/* ---- a QEMU RAM file ---------------------------------------------------- */

struct usc_ramfile {
    struct usc_physmem pm;
    const unsigned char *base;
    size_t size;
    uint64_t lowmem; /* file bytes at guest-physical 0; the rest at 4 GiB */
};

/*
 * QEMU 7.2's pc (i440fx) machine keeps RAM below the 32-bit PCI hole: all
 * of it when it is under 3.5 GiB, else the first 3 GiB, and puts the
 * remainder at 4 GiB. The file holds RAM linearly, without the hole.
 */
static uint64_t pc_lowmem(uint64_t ram_size)
{
    return ram_size >= 0xe0000000ull ? 0xc0000000ull : ram_size;
}

/* The mapping of [paddr, paddr + len) when it lies in one RAM region. */
static const void *ramfile_map(void *priv, uint64_t paddr, size_t len)
{
    const struct usc_ramfile *rf = priv;
    uint64_t high = rf->size - rf->lowmem;

    if (paddr < rf->lowmem)
        return len <= rf->lowmem - paddr ? rf->base + paddr : NULL;
    if (paddr < GIB(4))
        return NULL;
    paddr -= GIB(4);
    if (paddr > high || len > high - paddr)
        return NULL;
    return rf->base + rf->lowmem + paddr;
}

static int ramfile_read(void *priv, uint64_t paddr, void *buf, size_t len)
{
    const void *p = ramfile_map(priv, paddr, len);

    if (!p)
        return -EFAULT;
    memcpy(buf, p, len);
    return 0;
}

/* Data only: the guest's code is written through QEMU (see qemu.c). */
static int ramfile_write(void *priv, uint64_t paddr, const void *buf,
                         size_t len)
{
    const void *p = ramfile_map(priv, paddr, len);

    if (!p)
        return -EFAULT;
    store((unsigned char *)(uintptr_t)p, buf, len);
    return 0;
}

static int ramfile_open(const char *path, int writable,
                        struct usc_ramfile **out)
{
    struct usc_ramfile *rf = NULL;
    struct stat st;
    void *base;
    int fd, err;

    if (!path || !out)
        return -EINVAL;
    *out = NULL;
    /* O_NONBLOCK: opening a FIFO must fail below, not wait for a writer. */
    fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0) {
        err = -errno;
        goto err;
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 ||
        (uint64_t)st.st_size > SIZE_MAX) {
        err = -EINVAL;
        goto err;
    }
    rf = calloc(1, sizeof(*rf));
    if (!rf) {
        err = -ENOMEM;
        goto err;
    }
    rf->size = (size_t)st.st_size;
    base = mmap(NULL, rf->size, writable ? PROT_READ | PROT_WRITE : PROT_READ,
                MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        err = -errno;
        goto err;
    }
    rf->base = base;
    rf->lowmem = pc_lowmem(rf->size);
    rf->pm.read = ramfile_read;
    rf->pm.map = ramfile_map;
    rf->pm.priv = rf;
    rf->pm.write = writable ? ramfile_write : NULL;
    rf->pm.phys_end =
        rf->size > rf->lowmem ? GIB(4) + (rf->size - rf->lowmem) : rf->size;
    close(fd);
    *out = rf;
    return 0;
err:
    free(rf);
    close(fd);
    return err;
}

int usc_ramfile_open(const char *path, struct usc_ramfile **out)
{
    return ramfile_open(path, 0, out);
}

int usc_ramfile_open_rw(const char *path, struct usc_ramfile **out)
{
    return ramfile_open(path, 1, out);
}

const struct usc_physmem *usc_ramfile_physmem(struct usc_ramfile *rf)
{
    return rf ? &rf->pm : NULL;
}

void usc_ramfile_close(struct usc_ramfile *rf)
{
    if (!rf)
        return;
    munmap((void *)rf->base, rf->size);
    free(rf);
}
