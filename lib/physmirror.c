/* A copy of the guest memory a reader looks at, taken twice per refresh. */
#include "physmirror.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LINE 64u                  /* bytes compared as one between copies */
#define MIRROR_RANGES 64          /* ranges copied at most */
#define MIRROR_SEEN 128           /* ranges noted between refreshes */
#define MIRROR_BYTES (256u << 10) /* bytes copied at most (each copy) */
#define MIRROR_GAP 512u           /* ranges this close are copied as one */
/*
 * Reads of one line served from the copy per refresh; later ones are live.
 * A reader that keeps reading the same bytes is waiting for them to change
 * (a sequence counter left odd by a writer caught mid-record in both
 * copies): the copy never will, the guest's memory will.
 */
#define SERVE_MAX 16

struct range {
    uint64_t paddr, len; /* LINE-aligned */
    size_t off;          /* into the copies */
};

struct usc_physmirror {
    struct usc_physmem pm;
    const struct usc_physmem *live;
    int (*batch)(void *priv, const struct usc_phys_seg *segs, size_t n);
    void *priv;
    /* the copy: ranges sorted by paddr, two copies, which lines agree */
    struct range r[MIRROR_RANGES];
    size_t nr, used, cap;
    unsigned char *a, *b, *stable; /* cap bytes, cap / LINE flags */
    unsigned char *served;         /* reads of each line this refresh */
    /* what was read since the last refresh */
    struct range seen[MIRROR_SEEN];
    size_t nseen, last;
};

/* Grow (s) to hold [start, end) when that is in or next to it. */
static int extend(struct range *s, uint64_t start, uint64_t end)
{
    if (start > s->paddr + s->len + MIRROR_GAP || end + MIRROR_GAP < s->paddr)
        return 0;
    if (start < s->paddr) {
        s->len += s->paddr - start;
        s->paddr = start;
    }
    if (end > s->paddr + s->len)
        s->len = end - s->paddr;
    return 1;
}

/* Note [paddr, paddr + len) as read, for the next copy. */
static void note(struct usc_physmirror *m, uint64_t paddr, size_t len)
{
    uint64_t start = paddr & ~(uint64_t)(LINE - 1), end;

    if (len == 0 || paddr + len < paddr || paddr + len > UINT64_MAX - LINE)
        return;
    end = (paddr + len + LINE - 1) & ~(uint64_t)(LINE - 1);
    /* most reads fall in or next to the last one noted */
    if (m->last < m->nseen && extend(&m->seen[m->last], start, end))
        return;
    for (size_t i = 0; i < m->nseen; i++) {
        if (extend(&m->seen[i], start, end)) {
            m->last = i;
            return;
        }
    }
    if (m->nseen < MIRROR_SEEN) {
        m->seen[m->nseen] = (struct range){start, end - start, 0};
        m->last = m->nseen++;
    }
}

/*
 * The copy of [paddr, paddr + len) when every line of it agreed and none
 * has been read SERVE_MAX times since the refresh; NULL: read it live.
 */
static const void *lookup(struct usc_physmirror *m, uint64_t paddr, size_t len)
{
    int fresh = 1;

    size_t lo = 0, hi = m->nr;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (m->r[mid].paddr + m->r[mid].len <= paddr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == m->nr || len == 0)
        return NULL;
    const struct range *r = &m->r[lo];
    if (paddr < r->paddr || len > r->len - (paddr - r->paddr))
        return NULL;
    size_t off = r->off + (size_t)(paddr - r->paddr);
    for (size_t l = off / LINE; l <= (off + len - 1) / LINE; l++) {
        if (!m->stable[l])
            return NULL;
        if (m->served[l] < SERVE_MAX)
            m->served[l]++;
        else
            fresh = 0;
    }
    return fresh ? m->a + off : NULL;
}

static int mirror_read(void *priv, uint64_t paddr, void *buf, size_t len)
{
    struct usc_physmirror *m = priv;
    const void *p = lookup(m, paddr, len);

    note(m, paddr, len);
    if (!p)
        return m->live->read(m->live->priv, paddr, buf, len);
    memcpy(buf, p, len);
    return 0;
}

static const void *mirror_map(void *priv, uint64_t paddr, size_t len)
{
    struct usc_physmirror *m = priv;

    note(m, paddr, len);
    return lookup(m, paddr, len);
}

/* Data written is the guest's now: our copy of it is not. */
static int mirror_write(void *priv, uint64_t paddr, const void *buf, size_t len)
{
    struct usc_physmirror *m = priv;

    for (size_t i = 0; i < m->nr; i++) {
        const struct range *r = &m->r[i];

        if (paddr >= r->paddr + r->len || paddr + len <= r->paddr)
            continue;
        uint64_t from = paddr > r->paddr ? paddr : r->paddr;
        uint64_t to =
            paddr + len < r->paddr + r->len ? paddr + len : r->paddr + r->len;
        for (uint64_t a = from; a < to; a += LINE)
            m->stable[(r->off + (size_t)(a - r->paddr)) / LINE] = 0;
    }
    return m->live->write(m->live->priv, paddr, buf, len);
}

int usc_physmirror_new(const struct usc_physmem *live,
                       int (*batch)(void *priv, const struct usc_phys_seg *segs,
                                    size_t n),
                       void *priv, struct usc_physmirror **out)
{
    struct usc_physmirror *m;

    if (!live || !live->read || !batch || !out)
        return -EINVAL;
    *out = NULL;
    m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->live = live;
    m->batch = batch;
    m->priv = priv;
    m->pm.read = mirror_read;
    m->pm.map = mirror_map;
    m->pm.write = live->write ? mirror_write : NULL;
    m->pm.priv = m;
    m->pm.phys_end = live->phys_end;
    *out = m;
    return 0;
}

const struct usc_physmem *usc_physmirror_physmem(struct usc_physmirror *m)
{
    return m ? &m->pm : NULL;
}

static int compare_ranges(const void *x, const void *y)
{
    const struct range *a = x, *b = y;

    return a->paddr < b->paddr ? -1 : a->paddr > b->paddr;
}

/* The ranges noted, sorted and merged, within the limits, into m->r. */
static void plan(struct usc_physmirror *m)
{
    size_t k = 0, used = 0;

    qsort(m->seen, m->nseen, sizeof(m->seen[0]), compare_ranges);
    for (size_t i = 0; i < m->nseen; i++) {
        struct range s = m->seen[i];

        /* only what lies in guest RAM: a read beyond it fails live */
        if (s.paddr >= m->live->phys_end)
            continue;
        if (s.len > m->live->phys_end - s.paddr)
            s.len = (m->live->phys_end - s.paddr) & ~(uint64_t)(LINE - 1);
        if (k && s.paddr <= m->r[k - 1].paddr + m->r[k - 1].len + MIRROR_GAP) {
            struct range *p = &m->r[k - 1];
            uint64_t end = s.paddr + s.len > p->paddr + p->len
                               ? s.paddr + s.len
                               : p->paddr + p->len;

            if (used + (end - p->paddr - p->len) > MIRROR_BYTES)
                continue;
            used += (size_t)(end - p->paddr - p->len);
            p->len = end - p->paddr;
            continue;
        }
        if (k == MIRROR_RANGES || s.len == 0 || used + s.len > MIRROR_BYTES)
            continue;
        m->r[k] = (struct range){s.paddr, s.len, used};
        used += (size_t)s.len;
        k++;
    }
    m->nr = k;
    m->used = used;
    m->nseen = 0;
    m->last = 0;
}

/* Room for (bytes) in each copy: the plan's, grown as needed. */
static int room(struct usc_physmirror *m, size_t bytes)
{
    size_t cap = m->cap ? m->cap : 4096;
    unsigned char *a, *b, *st, *sv;

    if (bytes <= m->cap)
        return 0;
    while (cap < bytes)
        cap *= 2;
    a = aligned_alloc(LINE, cap);
    b = aligned_alloc(LINE, cap);
    st = malloc(cap / LINE);
    sv = malloc(cap / LINE);
    if (!a || !b || !st || !sv) {
        free(a);
        free(b);
        free(st);
        free(sv);
        return -ENOMEM;
    }
    free(m->a);
    free(m->b);
    free(m->stable);
    free(m->served);
    m->a = a;
    m->b = b;
    m->stable = st;
    m->served = sv;
    m->cap = cap;
    return 0;
}

/* Both copies of every range, in one batch each. */
static int copy(struct usc_physmirror *m)
{
    struct usc_phys_seg segs[2 * MIRROR_RANGES];
    int err = room(m, m->used);

    if (err)
        return err;
    /* one batch: every range, then every range again, read in order */
    for (size_t i = 0; i < m->nr; i++) {
        segs[i] = (struct usc_phys_seg){m->r[i].paddr, m->a + m->r[i].off,
                                        (size_t)m->r[i].len};
        segs[m->nr + i] = segs[i];
        segs[m->nr + i].buf = m->b + m->r[i].off;
    }
    return m->batch(m->priv, segs, 2 * m->nr);
}

int usc_physmirror_refresh(struct usc_physmirror *m)
{
    int err;

    plan(m);
    if (m->nr == 0)
        return 0;
    err = copy(m);
    if (err) {
        m->nr = 0;
        m->used = 0;
        return err;
    }
    for (size_t l = 0; l < m->used / LINE; l++)
        m->stable[l] = !memcmp(m->a + l * LINE, m->b + l * LINE, LINE);
    memset(m->served, 0, m->used / LINE);
    return 0;
}

size_t usc_physmirror_bytes(const struct usc_physmirror *m)
{
    return m ? m->used : 0;
}

void usc_physmirror_free(struct usc_physmirror *m)
{
    if (!m)
        return;
    free(m->a);
    free(m->b);
    free(m->stable);
    free(m->served);
    free(m);
}
