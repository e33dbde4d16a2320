/* The Xen backend's cache of foreign mappings, a 2 MiB chunk at a time. */
#include "xen_maps.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WORD_BITS 64u
#define BAD_WORDS (USC_XEN_CHUNK_PAGES / WORD_BITS)

/* One chunk of frames, mapped read-only and, once written, writable. */
struct chunk {
    uint64_t first; /* its first frame */
    size_t pages;   /* frames in it: the last chunk may be short */
    void *addr[2];  /* [0] read-only, [1] writable; NULL: none */
    int tried[2];   /* that mapping was made (addr may still be NULL) */
    uint64_t bad[2][BAD_WORDS]; /* pages that mapping refused */
    uint64_t used;              /* the cache's clock when last served */
};

struct usc_xen_maps {
    struct usc_xen_mapper m;
    uint64_t nframes;
    struct chunk **live; /* the chunks held, at most max */
    unsigned nlive, max;
    unsigned last; /* index in live of the chunk last served */
    uint64_t clock;
};

int usc_xen_maps_new(const struct usc_xen_mapper *m, uint64_t nframes,
                     unsigned max_chunks, struct usc_xen_maps **out)
{
    struct usc_xen_maps *c;

    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!m || !m->map || !m->unmap || max_chunks == 0)
        return -EINVAL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->live = calloc(max_chunks, sizeof(*c->live));
    if (!c->live) {
        free(c);
        return -ENOMEM;
    }
    c->m = *m;
    c->nframes = nframes;
    c->max = max_chunks;
    *out = c;
    return 0;
}

static void chunk_free(struct usc_xen_maps *c, struct chunk *ch)
{
    for (int w = 0; w < 2; w++)
        if (ch->addr[w])
            c->m.unmap(c->m.ctx, ch->addr[w], ch->pages);
    free(ch);
}

/* Make room for one more chunk: let the least recently used one go. */
static void evict(struct usc_xen_maps *c)
{
    unsigned old = 0;

    for (unsigned i = 1; i < c->nlive; i++)
        if (c->live[i]->used < c->live[old]->used)
            old = i;
    chunk_free(c, c->live[old]);
    c->live[old] = c->live[--c->nlive];
    c->last = 0;
}

/* The chunk holding (frame), found or added (unmapped) to live. */
static int chunk_of(struct usc_xen_maps *c, uint64_t frame, struct chunk **out)
{
    uint64_t first = frame - frame % USC_XEN_CHUNK_PAGES;
    struct chunk *ch;

    if (c->nlive && c->live[c->last]->first == first) {
        *out = c->live[c->last];
        return 0;
    }
    for (unsigned i = 0; i < c->nlive; i++) {
        if (c->live[i]->first == first) {
            c->last = i;
            *out = c->live[i];
            return 0;
        }
    }
    ch = calloc(1, sizeof(*ch));
    if (!ch)
        return -ENOMEM;
    ch->first = first;
    ch->pages = c->nframes - first < USC_XEN_CHUNK_PAGES
                    ? (size_t)(c->nframes - first)
                    : USC_XEN_CHUNK_PAGES;
    if (c->nlive == c->max)
        evict(c);
    c->last = c->nlive;
    c->live[c->nlive++] = ch;
    *out = ch;
    return 0;
}

/* Make (ch)'s mapping (w): 0 read-only, 1 writable. */
static int chunk_map(struct usc_xen_maps *c, struct chunk *ch, int w)
{
    int err[USC_XEN_CHUNK_PAGES];
    void *addr = NULL;
    int rc;

    memset(err, 0, sizeof(err));
    rc = c->m.map(c->m.ctx, ch->first, ch->pages, w, err, &addr);
    if (rc < 0)
        return rc;
    memset(ch->bad[w], 0, sizeof(ch->bad[w]));
    for (size_t i = 0; i < ch->pages; i++)
        if (!addr || err[i])
            ch->bad[w][i / WORD_BITS] |= 1ull << (i % WORD_BITS);
    ch->addr[w] = addr;
    ch->tried[w] = 1;
    return 0;
}

int usc_xen_maps_page(struct usc_xen_maps *c, uint64_t frame, int writable,
                      unsigned char **page)
{
    struct chunk *ch;
    uint64_t i;
    int w = writable ? 1 : 0, err;

    if (!c || !page)
        return -EINVAL;
    if (frame >= c->nframes)
        return -EFAULT;
    err = chunk_of(c, frame, &ch);
    if (err)
        return err;
    if (!ch->tried[w]) {
        err = chunk_map(c, ch, w);
        if (err)
            return err;
    }
    ch->used = ++c->clock;
    i = frame - ch->first;
    if (ch->bad[w][i / WORD_BITS] & (1ull << (i % WORD_BITS)))
        return -EFAULT;
    *page = (unsigned char *)ch->addr[w] + i * USC_XEN_PAGE_SIZE;
    return 0;
}

void usc_xen_maps_drop(struct usc_xen_maps *c)
{
    if (!c)
        return;
    while (c->nlive)
        chunk_free(c, c->live[--c->nlive]);
    c->last = 0;
}

unsigned usc_xen_maps_count(const struct usc_xen_maps *c)
{
    return c ? c->nlive : 0;
}

void usc_xen_maps_free(struct usc_xen_maps *c)
{
    if (!c)
        return;
    usc_xen_maps_drop(c);
    free(c->live);
    free(c);
}
