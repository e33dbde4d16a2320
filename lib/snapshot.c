/* The copy of a paused guest's RAM data, and reading it back. */
#include "snapshot.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "guestmem.h"

#define PAGE 4096ull
#define BLOCK ((size_t)1 << 20) /* bytes copied at a time */
#define HUGE_PAGE ((size_t)2 << 20)

struct populate {
    void *at;
    size_t len;
};

static void *populate(void *arg)
{
    struct populate *w = arg;

    if (madvise(w->at, w->len, MADV_POPULATE_WRITE) != 0)
        memset(w->at, 0, w->len); /* a kernel before 5.14 */
    return NULL;
}

/* ---- reading the copy -------------------------------------------------- */

/* The first piece that ends above (paddr), or npieces. */
static size_t piece_at(const struct usc_snapshot *s, uint64_t paddr)
{
    size_t lo = 0, hi = s->npieces;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct usc_snapshot_piece *p = &s->pieces[mid];
        if (p->paddr + p->len <= paddr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int snap_read(void *priv, uint64_t paddr, void *buf, size_t len)
{
    struct usc_snapshot *s = priv;
    unsigned char *out = buf;
    size_t i = piece_at(s, paddr);

    if (paddr > s->pm.phys_end || len > s->pm.phys_end - paddr)
        return -EFAULT;
    while (len) {
        const struct usc_snapshot_piece *p =
            i < s->npieces ? &s->pieces[i] : NULL;
        size_t n;
        if (p && p->paddr <= paddr) { /* inside the piece */
            n = (size_t)(p->paddr + p->len - paddr);
            n = n < len ? n : len;
            memcpy(out, s->buf + p->off + (paddr - p->paddr), n);
            i++;
        } else { /* a hole up to the next piece */
            n = p && p->paddr - paddr < len ? (size_t)(p->paddr - paddr) : len;
            memset(out, 0, n);
        }
        out += n;
        paddr += n;
        len -= n;
    }
    return 0;
}

static const void *snap_map(void *priv, uint64_t paddr, size_t len)
{
    struct usc_snapshot *s = priv;
    size_t i = piece_at(s, paddr);
    const struct usc_snapshot_piece *p = i < s->npieces ? &s->pieces[i] : NULL;

    if (!p || p->paddr > paddr || len > p->paddr + p->len - paddr)
        return NULL; /* not in one piece: read it */
    return s->buf + p->off + (paddr - p->paddr);
}

int usc_snapshot_next(void *priv, uint64_t paddr, uint64_t end, uint64_t *start,
                      uint64_t *stop)
{
    struct usc_snapshot *s = priv;
    size_t i = piece_at(s, paddr);

    if (i >= s->npieces || s->pieces[i].paddr >= end)
        return -ENXIO;
    *start = s->pieces[i].paddr > paddr ? s->pieces[i].paddr : paddr;
    *stop = s->pieces[i].paddr + s->pieces[i].len;
    if (*stop > end)
        *stop = end;
    return 0;
}

const struct usc_physmem *usc_snapshot_physmem(struct usc_snapshot *s)
{
    return &s->pm;
}

/* ---- taking it --------------------------------------------------------- */

int usc_snapshot_init(struct usc_snapshot *s, size_t bytes, uint64_t phys_end)
{
    size_t cap = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    void *p;

    memset(s, 0, sizeof(*s));
    if (!cap)
        cap = HUGE_PAGE;
    p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
             0);
    if (p == MAP_FAILED)
        return -ENOMEM;
    madvise(p, cap, MADV_HUGEPAGE);
    /* The kernel zeroes every page it gives: two threads halve the wait. */
    size_t half = (cap / 2) & ~(HUGE_PAGE - 1);
    struct populate second = {(char *)p + half, cap - half};
    pthread_t helper;
    int threaded =
        half && pthread_create(&helper, NULL, populate, &second) == 0;
    struct populate first = {p, threaded ? half : cap};
    populate(&first);
    if (threaded)
        pthread_join(helper, NULL);
    s->buf = p;
    s->cap = cap;
    s->pm = (struct usc_physmem){
        .read = snap_read,
        .map = snap_map,
        .priv = s,
        .phys_end = phys_end,
    };
    return 0;
}

static int add_piece(struct usc_snapshot *s, uint64_t paddr, uint64_t len)
{
    if (len > s->cap - s->used)
        return -E2BIG;
    if (s->npieces == s->cappieces) {
        size_t cap = s->cappieces ? s->cappieces * 2 : 64;
        void *p = realloc(s->pieces, cap * sizeof(*s->pieces));
        if (!p)
            return -ENOMEM;
        s->pieces = p;
        s->cappieces = cap;
    }
    s->pieces[s->npieces++] =
        (struct usc_snapshot_piece){paddr, len, (uint64_t)s->used};
    s->used += (size_t)len;
    return 0;
}

/* One thread's part of the copy: bytes [from, to) of the buffer. */
struct part {
    struct usc_snapshot *s;
    const struct usc_physmem *live;
    size_t from, to;
    size_t done;     /* copied up to here */
    int mapped_only; /* a helper: a backend's reads are not for threads */
    int err;
};

static void *copy_part(void *arg)
{
    struct part *w = arg;
    const struct usc_physmem *pm = w->live;

    w->done = w->from;
    for (size_t i = 0; i < w->s->npieces; i++) {
        const struct usc_snapshot_piece *p = &w->s->pieces[i];
        size_t lo = p->off > w->from ? (size_t)p->off : w->from;
        size_t hi = (size_t)(p->off + p->len) < w->to
                        ? (size_t)(p->off + p->len)
                        : w->to;
        for (size_t at = lo; at < hi; at += BLOCK) {
            size_t len = hi - at < BLOCK ? hi - at : BLOCK;
            uint64_t paddr = p->paddr + (at - p->off);
            const void *m = pm->map ? pm->map(pm->priv, paddr, len) : NULL;
            if (m)
                memcpy(w->s->buf + at, m, len);
            else if (w->mapped_only)
                return NULL; /* the rest is the caller's */
            else if ((w->err = usc_guestmem_read(pm, paddr, w->s->buf + at,
                                                 len)) != 0)
                return NULL;
            w->done = at + len;
        }
    }
    w->done = w->to;
    return NULL;
}

int usc_snapshot_take(struct usc_snapshot *s, const struct usc_physmem *live,
                      const struct usc_core_ram *ram, size_t nram,
                      int (*next_data)(void *priv, uint64_t paddr, uint64_t end,
                                       uint64_t *start, uint64_t *stop),
                      void *priv)
{
    int err = 0;

    s->npieces = 0;
    s->used = 0;
    for (size_t r = 0; r < nram && !err; r++) {
        uint64_t pos = ram[r].paddr, end = pos + ram[r].len;
        while (pos < end && !err) {
            uint64_t start = pos, stop = end;
            if (next_data && next_data(priv, pos, end, &start, &stop))
                break;
            start &= ~(PAGE - 1);
            stop = (stop + PAGE - 1) & ~(PAGE - 1);
            if (stop > end)
                stop = end;
            if (start < pos)
                start = pos;
            if (stop > start)
                err = add_piece(s, start, stop - start);
            pos = stop > pos ? stop : pos + PAGE;
        }
    }
    if (err) {
        s->npieces = 0;
        s->used = 0;
        return err;
    }
    /* Half each for this thread and a helper, when the RAM is mapped
     * here: one thread alone does not reach the memory's bandwidth. */
    size_t half = (s->used / 2) & ~(size_t)(PAGE - 1);
    struct part a = {s, live, 0, half, 0, 0, 0};
    struct part b = {s, live, half, s->used, half, 1, 0};
    pthread_t helper;
    int threaded = live->map && half >= BLOCK &&
                   pthread_create(&helper, NULL, copy_part, &b) == 0;
    if (!threaded) {
        a.to = s->used;
        b.done = b.to;
    }
    copy_part(&a);
    if (threaded)
        pthread_join(helper, NULL);
    /* What the helper could not map, this thread reads. */
    if (!a.err && b.done < b.to) {
        b.from = b.done;
        b.mapped_only = 0;
        copy_part(&b);
    }
    err = a.err ? a.err : b.err;
    if (err) {
        s->npieces = 0;
        s->used = 0;
    }
    return err;
}

void usc_snapshot_free(struct usc_snapshot *s)
{
    if (s->buf)
        munmap(s->buf, s->cap);
    free(s->pieces);
    memset(s, 0, sizeof(*s));
}
