/* Parsing /proc/PID/maps: every field checked, nothing trusted. */
#include "procmaps.h"
#include "rsp.h" /* usc_rsp_hexval */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DELETED " (deleted)"
#define READ_CHUNK 65536
#define MAPS_TEXT_MAX (256u << 20) /* bytes of maps text we read at most */

/* A cursor over one line. */
struct cursor {
    const char *p, *end;
};

/* A number in (base) 16 or 10, at least one digit, no overflow. */
static int number(struct cursor *c, unsigned base, uint64_t *v)
{
    uint64_t x = 0;
    const char *start = c->p;

    while (c->p < c->end) {
        int d = base == 16                       ? usc_rsp_hexval(*c->p)
                : (*c->p >= '0' && *c->p <= '9') ? *c->p - '0'
                                                 : -1;

        if (d < 0)
            break;
        if (x > (UINT64_MAX - (uint64_t)d) / base)
            return -EPROTO;
        x = x * base + (uint64_t)d;
        c->p++;
    }
    if (c->p == start)
        return -EPROTO;
    *v = x;
    return 0;
}

static int expect(struct cursor *c, char ch)
{
    if (c->p == c->end || *c->p != ch)
        return -EPROTO;
    c->p++;
    return 0;
}

/* One or more spaces. */
static int spaces(struct cursor *c)
{
    if (c->p == c->end || *c->p != ' ')
        return -EPROTO;
    while (c->p < c->end && *c->p == ' ')
        c->p++;
    return 0;
}

/* "rwxp" or "rw-s": four characters, each in its place. */
static int perms(struct cursor *c, uint32_t *flags)
{
    static const char set[4] = {'r', 'w', 'x', 's'};
    static const uint32_t bit[4] = {USC_PROCMAP_READ, USC_PROCMAP_WRITE,
                                    USC_PROCMAP_EXEC, USC_PROCMAP_SHARED};

    if (c->end - c->p < 4)
        return -EPROTO;
    *flags = 0;
    for (int i = 0; i < 4; i++) {
        char ch = c->p[i];

        if (ch == set[i])
            *flags |= bit[i];
        else if (!(ch == '-' || (i == 3 && ch == 'p')))
            return -EPROTO;
    }
    c->p += 4;
    return 0;
}

/* The kind of mapping the path (name, len) stands for. */
static enum usc_procmap_kind kind_of(const char *name, size_t len,
                                     uint32_t flags)
{
    if (len == 0)
        return USC_PROCMAP_ANON;
    if (name[0] == '[')
        return !strncmp(name, "[anon:", 6) ? USC_PROCMAP_ANON
                                           : USC_PROCMAP_SPECIAL;
    if (len >= 7 && !strncmp(name, "/memfd:", 7))
        return USC_PROCMAP_MEMFD;
    /* shared anonymous memory is a deleted /dev/zero; SysV segments too */
    if ((flags & USC_PROCMAP_SHARED) &&
        ((len == 9 && !strncmp(name, "/dev/zero", 9)) ||
         (len >= 5 && !strncmp(name, "/SYSV", 5))))
        return USC_PROCMAP_SHMEM;
    return USC_PROCMAP_FILE;
}

static int parse_line(const char *line, size_t len, struct usc_procmap *m)
{
    struct cursor c = {line, line + len};
    uint64_t major, minor;
    const char *name;
    size_t nlen, dlen = sizeof(DELETED) - 1;
    int err;

    memset(m, 0, sizeof(*m));
    err = number(&c, 16, &m->start);
    if (!err)
        err = expect(&c, '-');
    if (!err)
        err = number(&c, 16, &m->end);
    if (!err)
        err = spaces(&c);
    if (!err)
        err = perms(&c, &m->flags);
    if (!err)
        err = spaces(&c);
    if (!err)
        err = number(&c, 16, &m->offset);
    if (!err)
        err = spaces(&c);
    if (!err)
        err = number(&c, 16, &major);
    if (!err)
        err = expect(&c, ':');
    if (!err)
        err = number(&c, 16, &minor);
    if (!err)
        err = spaces(&c);
    if (!err)
        err = number(&c, 10, &m->inode);
    if (err)
        return err;
    if (m->start >= m->end || major > UINT32_MAX || minor > UINT32_MAX)
        return -EPROTO;
    m->dev_major = (uint32_t)major;
    m->dev_minor = (uint32_t)minor;
    /* the path, after the padding, to the end of the line */
    if (c.p < c.end && spaces(&c))
        return -EPROTO;
    name = c.p;
    nlen = (size_t)(c.end - c.p);
    if (memchr(name, '\0', nlen))
        return -EPROTO;
    if (nlen >= dlen && !memcmp(name + nlen - dlen, DELETED, dlen)) {
        m->flags |= USC_PROCMAP_DELETED;
        nlen -= dlen;
    }
    m->kind = kind_of(name, nlen, m->flags);
    if (nlen >= sizeof(m->name))
        nlen = sizeof(m->name) - 1;
    memcpy(m->name, name, nlen);
    m->name[nlen] = '\0';
    return 0;
}

int usc_procmaps_parse(const char *text, size_t len, struct usc_procmap **out,
                       size_t *n)
{
    struct usc_procmap *v = NULL, *nv;
    size_t count = 0, cap = 0, pos = 0;
    int err = 0;

    if (!out || !n || (!text && len))
        return -EINVAL;
    *out = NULL;
    *n = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - (text + pos)) : len - pos;

        if (count == USC_PROCMAPS_MAX) {
            err = -E2BIG;
            goto err;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                err = -ENOMEM;
                goto err;
            }
            v = nv;
        }
        err = parse_line(text + pos, llen, &v[count]);
        /* the kernel lists mappings in address order, never overlapping */
        if (!err && count && v[count].start < v[count - 1].end)
            err = -EPROTO;
        if (err)
            goto err;
        count++;
        pos += llen + (nl ? 1 : 0);
    }
    if (count == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    *n = count;
    return 0;
err:
    free(v);
    return err;
}

int usc_procmaps_read(int pid, struct usc_procmap **out, size_t *n)
{
    char path[64], *buf = NULL, *nb;
    size_t len = 0, cap = 0;
    int fd, err;

    if (!out || !n || pid <= 0)
        return -EINVAL;
    *out = NULL;
    *n = 0;
    snprintf(path, sizeof(path), "/proc/%d/maps", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ESRCH : -errno;
    for (;;) {
        ssize_t r;

        if (cap - len < READ_CHUNK) {
            if (cap >= MAPS_TEXT_MAX) {
                err = -E2BIG;
                goto out;
            }
            cap = cap ? cap * 2 : READ_CHUNK * 2;
            nb = realloc(buf, cap);
            if (!nb) {
                err = -ENOMEM;
                goto out;
            }
            buf = nb;
        }
        r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = errno == ESRCH ? -ESRCH : -errno;
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    err = usc_procmaps_parse(buf, len, out, n);
out:
    free(buf);
    close(fd);
    return err;
}
