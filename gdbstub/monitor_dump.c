/* "monitor dump FILE ADDR LEN": guest memory straight into a file, past gdb. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stub.h"

/* Bytes read from the guest per write(2): large, so a dump is a few calls. */
#define DUMP_CHUNK (4u << 20)

/* A number as gdb users type it: decimal, 0x hex or 0 octal, no junk. */
static int parse_u64(const char *text, uint64_t *out)
{
    char *end;

    if (!*text || *text == '-')
        return -EINVAL;
    errno = 0;
    *out = strtoull(text, &end, 0);
    return errno || *end ? -EINVAL : 0;
}

/* Split (args) into FILE, ADDR and LEN; FILE may not hold blanks. */
static int parse_args(char *args, const char **file, uint64_t *addr,
                      uint64_t *len)
{
    char *words[3], *save = NULL, *w;
    int n = 0;

    for (w = strtok_r(args, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
        if (n++ < 3)
            words[n - 1] = w;
    if (n != 3 || parse_u64(words[1], addr) || parse_u64(words[2], len) ||
        *len == 0 || *addr + (*len - 1) < *addr)
        return -EINVAL;
    *file = words[0];
    return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
           (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/*
 * Copy (len) bytes at guest-virtual (addr) of (vcpu) into (fd). Returns 0,
 * or the error and the first address that failed in (*bad).
 */
static int copy_out(struct unigdb_session *s, uint32_t vcpu, uint64_t addr,
                    uint64_t len, int fd, char *buf, uint64_t *bad)
{
    uint64_t at = 0;

    while (at < len) {
        size_t want = len - at < DUMP_CHUNK ? (size_t)(len - at) : DUMP_CHUNK;
        size_t done = 0, got;
        int err;

        /* mem_read stops at an unreadable page: a dump has no holes */
        while (done < want) {
            err = mem_read(s, vcpu, addr + at + done, buf + done, want - done,
                           &got);
            if (err) {
                *bad = addr + at + done;
                return err;
            }
            done += got;
        }
        err = write_all(fd, buf, want);
        if (err) {
            *bad = UINT64_MAX;
            return err;
        }
        at += want;
    }
    return 0;
}

int monitor_dump(struct unigdb_session *s, char *args, struct unigdb_buf *o)
{
    char tmp[PATH_MAX], *buf = NULL;
    const char *file;
    uint64_t addr, len, bad = 0;
    struct timespec t0;
    int fd = -1, err;

    if (!s->cfg->files)
        return unigdb_buf_puts(o, "monitor dump: this unigdb writes no "
                                  "files\n");
    if (parse_args(args, &file, &addr, &len))
        return unigdb_buf_puts(o, "usage: monitor dump FILE ADDR LEN\n");
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.partXXXXXX", file) >=
        sizeof(tmp))
        return unigdb_buf_printf(o, "monitor dump: %s: %s\n", file,
                                 strerror(ENAMETOOLONG));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    buf = malloc(DUMP_CHUNK);
    if (!buf)
        return -ENOMEM;
    /* mkstemp: a new file of mode 0600, never one that was there */
    fd = mkstemp(tmp);
    if (fd < 0) {
        err = unigdb_buf_printf(o, "monitor dump: %s: %s\n", file,
                                strerror(errno));
        goto out;
    }
    err = copy_out(s, thread_current(s)->vcpu, addr, len, fd, buf, &bad);
    if (!err && fsync(fd))
        err = -errno;
    if (close(fd) && !err)
        err = -errno;
    fd = -1;
    /* link, not rename: FILE appears whole, and only if it did not exist */
    if (!err && link(tmp, file))
        err = -errno;
    unlink(tmp);
    if (err == -EEXIST)
        err = unigdb_buf_printf(o, "monitor dump: %s exists; not replaced\n",
                                file);
    else if (err && bad != UINT64_MAX)
        err = unigdb_buf_printf(
            o, "monitor dump: cannot read 0x%" PRIx64 ": %s; no file written\n",
            bad, strerror(-err));
    else if (err)
        err = unigdb_buf_printf(o, "monitor dump: %s: %s; no file written\n",
                                file, strerror(-err));
    else
        err = unigdb_buf_printf(
            o, "wrote %" PRIu64 " bytes from 0x%" PRIx64 " to %s in %.1f ms\n",
            len, addr, file, ms_since(&t0));
out:
    free(buf);
    return err;
}
