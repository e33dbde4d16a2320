/* Where a guest's RAM file holds data: a tmpfs file's holes are pages the
 * guest never touched, which a dump need not read. */
#ifndef USC_RAMDATA_H
#define USC_RAMDATA_H

#include <stdint.h>

#include "agent_reader.h"
#include "physmem.h"

/* A QEMU RAM file (pc layout) opened for lseek(SEEK_DATA/SEEK_HOLE). */
struct usc_ramdata {
    int fd;
    uint64_t size, lowmem;
};

/* Open the RAM file at (path) into (rd). Returns 0 or -errno (-EINVAL for
 * a file that is not regular or is empty). */
int usc_ramdata_open(const char *path, struct usc_ramdata *rd);

/* Close (rd) (fd -1 afterwards); a closed or NULL (rd) is a no-op. */
void usc_ramdata_close(struct usc_ramdata *rd);

/* usc_core_source.next_data over a struct usc_ramdata (priv). */
int usc_ramdata_next(void *priv, uint64_t paddr, uint64_t end, uint64_t *start,
                     uint64_t *stop);

/*
 * Open the agent in (pm), whose RAM file is (rd) (NULL: scan every page),
 * looking for its control block only where the file has data. Stores the
 * handle in (*out). Returns 0, or usc_agent_open's errors (-ENOENT: none).
 */
int usc_ramdata_find_agent(struct usc_ramdata *rd, const struct usc_physmem *pm,
                           struct usc_agent **out);

#endif /* USC_RAMDATA_H */
