/* A guest's RAM file, asked where its data is so its holes are never read. */
#include "ramdata.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guestmem.h"

#define GIB(n) ((uint64_t)(n) << 30)
#define PAGE 4096ull

int usc_ramdata_open(const char *path, struct usc_ramdata *rf)
{
    struct stat st;

    rf->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (rf->fd < 0)
        return -errno;
    if (fstat(rf->fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
        close(rf->fd);
        rf->fd = -1;
        return -EINVAL;
    }
    rf->size = (uint64_t)st.st_size;
    /* QEMU pc: RAM past the PCI hole continues in the file, from 4 GiB up in
     * the guest (physmem.c has the same rule). */
    rf->lowmem = rf->size >= 0xe0000000ull ? 0xc0000000ull : rf->size;
    return 0;
}

void usc_ramdata_close(struct usc_ramdata *rf)
{
    if (rf && rf->fd >= 0)
        close(rf->fd);
    if (rf)
        rf->fd = -1;
}

/* The file offset of guest-physical (paddr), or -1 outside RAM. */
static int64_t offset_of(const struct usc_ramdata *rf, uint64_t paddr)
{
    if (paddr <= rf->lowmem)
        return (int64_t)paddr;
    if (paddr < GIB(4) || paddr - GIB(4) > rf->size - rf->lowmem)
        return -1;
    return (int64_t)(paddr - GIB(4) + rf->lowmem);
}

int usc_ramdata_next(void *priv, uint64_t paddr, uint64_t end, uint64_t *start,
                     uint64_t *stop)
{
    const struct usc_ramdata *rf = priv;
    int64_t off = offset_of(rf, paddr), off_end = offset_of(rf, end);
    off_t data, hole;

    /* A range we cannot place: say it may all hold data. */
    if (off < 0 || off_end < off) {
        *start = paddr;
        *stop = end;
        return 0;
    }
    data = lseek(rf->fd, (off_t)off, SEEK_DATA);
    if (data < 0 && errno == ENXIO)
        return -ENXIO;
    if (data < 0) {
        /* No SEEK_DATA here: everything may be data. */
        *start = paddr;
        *stop = end;
        return 0;
    }
    if (data >= off_end)
        return -ENXIO;
    hole = lseek(rf->fd, data, SEEK_HOLE);
    if (hole < 0 || hole > off_end)
        hole = (off_t)off_end;
    *start = paddr + (uint64_t)(data - off);
    *stop = paddr + (uint64_t)(hole - off);
    return 0;
}

/* The control block is page-aligned: a page of data starting with the magic. */
static int find_in(struct usc_ramdata *rf, const struct usc_physmem *pm,
                   uint64_t pos, uint64_t end, struct usc_agent **out)
{
    while (pos < end) {
        uint64_t start, stop;
        if (usc_ramdata_next(rf, pos, end, &start, &stop))
            return -ENOENT;
        for (uint64_t p = (start + PAGE - 1) & ~(PAGE - 1); p + PAGE <= stop;
             p += PAGE) {
            uint64_t magic;
            if (usc_guestmem_load_u64(pm, p, &magic) == 0 &&
                magic == USC_ABI_MAGIC && usc_agent_open(pm, p, out) == 0)
                return 0;
        }
        pos = stop > pos ? stop : pos + PAGE;
    }
    return -ENOENT;
}

int usc_ramdata_find_agent(struct usc_ramdata *rf, const struct usc_physmem *pm,
                           struct usc_agent **out)
{
    uint64_t high;

    if (!rf || rf->fd < 0)
        return usc_agent_open(pm, USC_AGENT_SCAN, out);
    if (find_in(rf, pm, 0, rf->lowmem, out) == 0)
        return 0;
    high = rf->size - rf->lowmem;
    if (high && find_in(rf, pm, GIB(4), GIB(4) + high, out) == 0)
        return 0;
    return -ENOENT;
}
