/* Checked decoding of event records, from guest rings or trace files. */
#include "trace_packet.h"

#include <errno.h>
#include <string.h>

#define HEADER ((uint32_t)sizeof(struct usc_trace_event_header))

void usc_trace_cursor_init(struct usc_trace_cursor *c,
                           const struct usc_trace_schema *s, const void *data,
                           uint32_t start, uint32_t end, uint64_t min_ts,
                           uint64_t max_ts)
{
    c->schema = s;
    c->data = data;
    c->off = start;
    c->end = end;
    c->last_ts = min_ts;
    c->max_ts = max_ts;
    c->error = 0;
}

static uint64_t load_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint32_t load_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

int usc_trace_cursor_next(struct usc_trace_cursor *c,
                          struct usc_trace_event *ev)
{
    if (c->error)
        return c->error;
    if (c->off >= c->end)
        return 0;
    /* end - off cannot underflow below: off < end. */
    if ((c->off & 7) || c->end - c->off < HEADER)
        goto bad;
    const unsigned char *p = c->data + c->off;
    uint64_t ts = load_u64(p);
    uint32_t id = load_u32(p + 8);
    if (id >= c->schema->count)
        goto bad;
    /* sizes[id]: 0 for an invalid class, else a multiple of 8 */
    uint32_t size = c->schema->sizes[id];
    if (!size || size > c->end - c->off || ts < c->last_ts || ts > c->max_ts)
        goto bad;
    ev->timestamp = ts;
    ev->id = id;
    ev->thread = load_u32(p + 12);
    ev->cls = &c->schema->classes[id];
    ev->record = p;
    c->last_ts = ts;
    c->off += size;
    return 1;
bad:
    c->error = -EINVAL;
    return c->error;
}

/*
 * The checks of usc_trace_cursor_next, in one loop kept in registers: the
 * drain runs this over every packet it takes.
 */
void usc_trace_walk(const struct usc_trace_schema *s, const void *data,
                    uint32_t start, uint32_t end, uint64_t min_ts,
                    uint64_t max_ts, struct usc_trace_walk *w)
{
    const unsigned char *p = data;
    const uint16_t *sizes = s->sizes;
    uint32_t count = s->count, off = start, events = 0;
    /* Never a size: a match always is a class checked non-zero before. */
    uint32_t guess = UINT32_MAX;
    uint64_t last = min_ts;

    w->error = 0;
    if (off & 7)
        goto bad;
    while (off < end) {
        if (end - off < HEADER)
            goto bad;
        uint64_t ts = load_u64(p + off);
        uint32_t id = load_u32(p + off + 8);
        if (id >= count)
            goto bad;
        uint32_t size = sizes[id];
        if (ts < last || ts > max_ts)
            goto bad;
        /*
         * Records mostly repeat their size: advancing by the guess, under
         * a branch the CPU predicts, does not wait for the size's loads.
         */
        if (__builtin_expect(size == guess, 1)) {
            if (guess > end - off)
                goto bad;
            off += guess;
        } else {
            if (!size || size > end - off)
                goto bad;
            guess = size;
            off += size;
        }
        last = ts;
        events++;
    }
    goto out;
bad:
    w->error = -EINVAL;
out:
    w->events = events;
    w->end = off;
    /* The first record, when good, is where the walk started. */
    w->first_ts = events ? load_u64(p + start) : min_ts;
    w->last_ts = last;
}

uint64_t usc_trace_event_value(const struct usc_trace_event *ev, unsigned i)
{
    if (i >= ev->cls->nfields)
        return 0;
    const struct usc_trace_field *f = &ev->cls->fields[i];
    const unsigned char *p = ev->record + f->offset;
    uint64_t v = 0;

    if (f->type == USC_FIELD_STRING)
        return 0;
    /* Little-endian: the low bytes first, whatever the size. */
    memcpy(&v, p, f->size);
    if (f->type == USC_FIELD_SIGNED && f->size < 8 &&
        (v >> (f->size * 8 - 1)) & 1)
        v |= ~0ull << (f->size * 8);
    return v;
}

void usc_trace_event_string(const struct usc_trace_event *ev, unsigned i,
                            char *buf, size_t cap)
{
    size_t n = 0;

    if (cap == 0)
        return;
    if (i < ev->cls->nfields && ev->cls->fields[i].type == USC_FIELD_STRING) {
        const struct usc_trace_field *f = &ev->cls->fields[i];
        const unsigned char *p = ev->record + f->offset;
        for (; n < f->size && n + 1 < cap && p[n]; n++)
            buf[n] = p[n] >= 0x20 && p[n] < 0x7f ? (char)p[n] : '?';
    }
    buf[n] = '\0';
}
