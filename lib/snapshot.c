/* The copy of a paused guest's RAM data, and reading it back. */
#include "snapshot.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "fdio.h"
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

/* The first of the first (n) pieces whose end, in guest memory (or, with
 * (in_copy), in the copy), lies above (at); n when none does. The pieces
 * are in the order of both. */
static size_t first_ending_above(const struct usc_snapshot *s, size_t n,
                                 uint64_t at, int in_copy)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct usc_snapshot_piece *p = &s->pieces[mid];
        if ((in_copy ? p->off : p->paddr) + p->len <= at)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t piece_at(const struct usc_snapshot *s, uint64_t paddr)
{
    return first_ending_above(s, s->npieces, paddr, 0);
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

/* The data runs of (ram) as (next_data) finds them, in page-aligned
 * pieces, each passed to (fn). */
static int scan(const struct usc_core_ram *ram, size_t nram,
                int (*next_data)(void *, uint64_t, uint64_t, uint64_t *,
                                 uint64_t *),
                void *priv, int (*fn)(void *, uint64_t, uint64_t), void *arg)
{
    int err = 0;

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
                err = fn(arg, start, stop - start);
            pos = stop > pos ? stop : pos + PAGE;
        }
    }
    return err;
}

static int plan_piece(void *arg, uint64_t paddr, uint64_t len)
{
    return add_piece(arg, paddr, len);
}

/*
 * The copy the pause makes: the buffer's bytes [0, planned) in blocks that
 * this thread and a helper claim one at a time, so that the helper copies
 * alone while this thread reads the registers.
 */
enum { ARMED, GO, QUIT };

struct usc_snapshot_copy {
    struct usc_snapshot *s;
    const struct usc_physmem *live;
    size_t planned, nplanned; /* bytes and pieces of the plan */
    atomic_size_t next;       /* the next block to claim */
    atomic_int state;
    int threaded; /* a helper runs */
    pthread_t helper;
    int err; /* the helper's */
};

/*
 * Copy a paused guest's pages with stores that bypass the cache: the copy
 * is read only after the guest runs again, and filling the cache with it
 * would cost the pause a read of every destination line.
 */
static void copy_block(void *to, const void *from, size_t len)
{
#if defined(__SSE2__)
    if ((((uintptr_t)to | (uintptr_t)from) & 15) == 0) {
        __m128i *d = to;
        const __m128i *src = from;
        size_t n = len / 64;
        for (size_t i = 0; i < n; i++, d += 4, src += 4) {
            __m128i a = _mm_load_si128(src), b = _mm_load_si128(src + 1);
            __m128i c = _mm_load_si128(src + 2), e = _mm_load_si128(src + 3);
            _mm_stream_si128(d, a);
            _mm_stream_si128(d + 1, b);
            _mm_stream_si128(d + 2, c);
            _mm_stream_si128(d + 3, e);
        }
        _mm_sfence();
        to = d;
        from = src;
        len -= n * 64;
    }
#endif
    memcpy(to, from, len);
}

/* Buffer bytes [from, to) of the first (n) pieces, from (live); only
 * through its mapping unless (may_read): a backend's reads are not for
 * threads. */
static int copy_range(struct usc_snapshot *s, const struct usc_physmem *live,
                      size_t n, size_t from, size_t to, int may_read)
{
    for (size_t i = first_ending_above(s, n, from, 1); i < n && from < to;
         i++) {
        const struct usc_snapshot_piece *p = &s->pieces[i];
        size_t hi =
            (size_t)(p->off + p->len) < to ? (size_t)(p->off + p->len) : to;
        uint64_t paddr = p->paddr + (from - p->off);
        const void *m =
            live->map ? live->map(live->priv, paddr, hi - from) : NULL;
        if (m)
            copy_block(s->buf + from, m, hi - from);
        else if (!may_read)
            return -EFAULT;
        else {
            int err = usc_guestmem_read(live, paddr, s->buf + from, hi - from);
            if (err)
                return err;
        }
        from = hi;
    }
    return 0;
}

static int copy_blocks(struct usc_snapshot_copy *c, int may_read)
{
    size_t nblocks = (c->planned + BLOCK - 1) / BLOCK;

    for (;;) {
        size_t b = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
        if (b >= nblocks)
            return 0;
        size_t to = (b + 1) * BLOCK < c->planned ? (b + 1) * BLOCK : c->planned;
        int err =
            copy_range(c->s, c->live, c->nplanned, b * BLOCK, to, may_read);
        if (err) {
            /* the rest is not copied: stop the other thread too */
            atomic_store_explicit(&c->next, nblocks, memory_order_relaxed);
            return err;
        }
    }
}

/* The helper waits, hot, for the guest to stop: a sleeping thread takes
 * up to milliseconds to wake on an idle CPU of a virtual machine. It gives
 * up after a while (the caller then copies alone). */
static void *helper_main(void *arg)
{
    struct usc_snapshot_copy *c = arg;
    int64_t give_up = usc_deadline_in(10000);
    int st;

    for (unsigned spin = 0;
         (st = atomic_load_explicit(&c->state, memory_order_acquire)) == ARMED;
         spin++) {
#if defined(__SSE2__)
        _mm_pause();
#endif
        if ((spin & 1023) == 0 && usc_now_ms() > give_up)
            return NULL;
    }
    if (st == GO)
        c->err = copy_blocks(c, 0);
    return NULL;
}

/* Stop and forget the copy's helper. */
static void disarm(struct usc_snapshot *s)
{
    struct usc_snapshot_copy *c = s->copy;

    if (!c)
        return;
    if (c->threaded) {
        int expect = ARMED;
        atomic_compare_exchange_strong(&c->state, &expect, QUIT);
        pthread_join(c->helper, NULL);
    }
    free(c);
    s->copy = NULL;
}

static void forget(struct usc_snapshot *s)
{
    disarm(s);
    s->npieces = 0;
    s->used = 0;
}

int usc_snapshot_arm(struct usc_snapshot *s, const struct usc_physmem *live,
                     const struct usc_core_ram *ram, size_t nram,
                     int (*next_data)(void *priv, uint64_t paddr, uint64_t end,
                                      uint64_t *start, uint64_t *stop),
                     void *priv)
{
    struct usc_snapshot_copy *c;
    int err, mapped = live->map != NULL;

    forget(s);
    err = scan(ram, nram, next_data, priv, plan_piece, s);
    if (!err && !(c = calloc(1, sizeof(*c))))
        err = -ENOMEM;
    if (err) {
        forget(s);
        return err;
    }
    c->s = s;
    c->live = live;
    c->planned = s->used;
    c->nplanned = s->npieces;
    atomic_init(&c->next, 0);
    atomic_init(&c->state, ARMED);
    for (size_t i = 0; i < s->npieces && mapped; i++)
        mapped = live->map(live->priv, s->pieces[i].paddr,
                           (size_t)s->pieces[i].len) != NULL;
    /* One thread alone does not reach the memory's bandwidth. */
    c->threaded = mapped && s->used >= 2 * BLOCK &&
                  pthread_create(&c->helper, NULL, helper_main, c) == 0;
    s->copy = c;
    return 0;
}

void usc_snapshot_go(struct usc_snapshot *s)
{
    if (s->copy)
        atomic_store_explicit(&s->copy->state, GO, memory_order_release);
}

/* What the scan in the pause finds beyond the plan (sorted, disjoint, as
 * the plan is), kept aside while the helper reads the plan's pieces. */
struct extra {
    const struct usc_snapshot *s;
    size_t nplanned, at; /* pieces of the plan; the first not below */
    struct usc_snapshot_piece *runs;
    size_t n, cap;
};

static int add_extra(void *arg, uint64_t paddr, uint64_t len)
{
    struct extra *x = arg;
    const struct usc_snapshot_piece *pieces = x->s->pieces;
    uint64_t end = paddr + len;

    while (paddr < end) {
        while (x->at < x->nplanned &&
               pieces[x->at].paddr + pieces[x->at].len <= paddr)
            x->at++;
        const struct usc_snapshot_piece *p =
            x->at < x->nplanned ? &pieces[x->at] : NULL;
        if (p && p->paddr <= paddr) { /* planned already */
            paddr = p->paddr + p->len;
            continue;
        }
        uint64_t stop = p && p->paddr < end ? p->paddr : end;
        if (x->n == x->cap) {
            size_t cap = x->cap ? x->cap * 2 : 16;
            void *q = realloc(x->runs, cap * sizeof(*x->runs));
            if (!q)
                return -ENOMEM;
            x->runs = q;
            x->cap = cap;
        }
        x->runs[x->n++] = (struct usc_snapshot_piece){paddr, stop - paddr, 0};
        paddr = stop;
    }
    return 0;
}

static int by_paddr(const void *a, const void *b)
{
    const struct usc_snapshot_piece *x = a, *y = b;

    return x->paddr < y->paddr ? -1 : x->paddr > y->paddr;
}

int usc_snapshot_take(struct usc_snapshot *s, const struct usc_physmem *live,
                      const struct usc_core_ram *ram, size_t nram,
                      int (*next_data)(void *priv, uint64_t paddr, uint64_t end,
                                       uint64_t *start, uint64_t *stop),
                      void *priv)
{
    int planned_before = s->copy && s->copy->live == live;
    struct usc_snapshot_copy *c;
    int err = 0;

    if (!planned_before &&
        (err = usc_snapshot_arm(s, live, ram, nram, next_data, priv)) != 0)
        return err;
    c = s->copy;
    usc_snapshot_go(s);
    /* The plan was made while the guest ran: look again while the helper
     * copies, then copy the plan alongside it. */
    struct extra x = {s, c->nplanned, 0, NULL, 0, 0};
    int scanned =
        planned_before ? scan(ram, nram, next_data, priv, add_extra, &x) : 0;
    err = copy_blocks(c, 1);
    if (c->threaded) {
        pthread_join(c->helper, NULL);
        c->threaded = 0;
        if (!err)
            err = c->err;
        /* a helper that gave up before the stop left its blocks here */
        if (!err)
            err = copy_blocks(c, 1);
    }
    if (!err)
        err = scanned;
    /* Pages the guest gained since the plan: this thread copies them. */
    for (size_t i = 0; i < x.n && !err; i++) {
        size_t off = s->used;
        err = add_piece(s, x.runs[i].paddr, x.runs[i].len);
        if (!err)
            err = copy_range(s, live, s->npieces, off, s->used, 1);
    }
    free(x.runs);
    if (err) {
        forget(s);
        return err;
    }
    if (x.n)
        qsort(s->pieces, s->npieces, sizeof(*s->pieces), by_paddr);
    disarm(s);
    return 0;
}

void usc_snapshot_free(struct usc_snapshot *s)
{
    disarm(s);
    if (s->buf)
        munmap(s->buf, s->cap);
    free(s->pieces);
    memset(s, 0, sizeof(*s));
}
