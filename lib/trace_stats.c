/* Summarising a trace: losses, per-class counts, span durations. */
#include "trace_stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct durations {
    uint64_t *v;
    size_t n, cap;
};

double usc_trace_ticks_to_s(uint64_t t, uint64_t hz)
{
    return (double)t / (double)(hz ? hz : 1000000000ull);
}

static int add(struct durations *d, uint64_t v)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        uint64_t *nv = realloc(d->v, cap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        d->v = nv;
        d->cap = cap;
    }
    d->v[d->n++] = v;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least (pct)% of them at or
 * below it. */
static uint64_t quantile(const struct durations *d, unsigned pct)
{
    size_t rank = (d->n * pct + 99) / 100;
    return d->v[rank ? rank - 1 : 0];
}

static void summarise(struct usc_trace_span_stats *sp, struct durations *d)
{
    double sum = 0;

    sp->count = d->n;
    if (!d->n)
        return;
    qsort(d->v, d->n, sizeof(*d->v), cmp_u64);
    for (size_t i = 0; i < d->n; i++)
        sum += (double)d->v[i];
    sp->mean = sum / (double)d->n;
    sp->min = d->v[0];
    sp->p50 = quantile(d, 50);
    sp->p99 = quantile(d, 99);
    sp->max = d->v[d->n - 1];
}

/* One span per BEGIN class some valid END names; (*index)[id] -> span. */
static int make_spans(const struct usc_trace_schema *s,
                      struct usc_trace_stats *st, size_t **index)
{
    *index = malloc((s->count ? s->count : 1) * sizeof(**index));
    st->spans = calloc(s->count ? s->count : 1, sizeof(*st->spans));
    if (!*index || !st->spans)
        return -ENOMEM;
    for (uint32_t i = 0; i < s->count; i++)
        (*index)[i] = SIZE_MAX;
    for (uint32_t i = 0; i < s->count; i++) {
        const struct usc_trace_class *c = &s->classes[i];
        if (!c->valid || c->kind != USC_TP_END || (*index)[c->pair] != SIZE_MAX)
            continue;
        struct usc_trace_span_stats *sp = &st->spans[st->nspans];
        sp->begin_id = c->pair;
        sp->end_id = c->id;
        usc_trace_span_name(&s->classes[c->pair], sp->name, sizeof(sp->name));
        (*index)[c->pair] = st->nspans++;
    }
    return 0;
}

struct drain_ctx {
    struct usc_trace_stats *st;
    const size_t *index;
};

static void count_open(void *arg, const struct usc_trace_dir_event *ev)
{
    struct drain_ctx *c = arg;
    size_t k = c->index[ev->ev.id];
    if (k != SIZE_MAX)
        c->st->spans[k].unmatched_begin++;
}

static void losses(struct usc_trace_dir *d, struct usc_trace_stats *st)
{
    for (size_t i = 0; i < usc_trace_dir_nstreams(d); i++) {
        const struct usc_trace_stream_stats *s = usc_trace_dir_stream(d, i);
        st->discarded += s->discarded;
        st->missing_packets += s->missing;
        st->bad_records += s->bad_records;
        st->bad_streams += s->bad_packet;
    }
}

int usc_trace_stats_compute(struct usc_trace_dir *d, struct usc_trace_stats *st)
{
    const struct usc_trace_schema *s = usc_trace_dir_schema(d);
    struct usc_trace_matcher *m = usc_trace_matcher_new();
    struct durations *dur = NULL;
    struct usc_trace_dir_event ev, begin;
    size_t *index = NULL;
    int err;

    memset(st, 0, sizeof(*st));
    st->ts_hz = usc_trace_dir_info(d)->ts_hz;
    st->nclasses = s->count;
    st->class_count = calloc(s->count ? s->count : 1, sizeof(uint64_t));
    dur = calloc(s->count ? s->count : 1, sizeof(*dur));
    if (!m || !st->class_count || !dur) {
        err = -ENOMEM;
        goto out;
    }
    err = make_spans(s, st, &index);
    if (err)
        goto out;
    while (usc_trace_dir_next(d, &ev) == 1) {
        if (st->events++ == 0)
            st->ts_first = ev.ev.timestamp;
        st->ts_last = ev.ev.timestamp;
        st->class_count[ev.ev.id]++;
        size_t k = index[ev.ev.id];
        if (ev.ev.cls->kind == USC_TP_BEGIN && k != SIZE_MAX) {
            err = usc_trace_matcher_push(m, &ev);
            if (err == -ENOSPC)
                st->spans[k].unmatched_begin++;
            else if (err)
                goto out;
            err = 0;
        } else if (ev.ev.cls->kind == USC_TP_END) {
            size_t b = index[ev.ev.cls->pair];
            if (usc_trace_matcher_pop(m, &ev, &begin)) {
                err = add(&dur[b], ev.ev.timestamp - begin.ev.timestamp);
                if (err)
                    goto out;
            } else {
                st->spans[b].unmatched_end++;
            }
        }
    }
    struct drain_ctx ctx = {st, index};
    usc_trace_matcher_drain(m, count_open, &ctx);
    for (size_t k = 0; k < st->nspans; k++)
        summarise(&st->spans[k], &dur[k]);
    st->seconds = usc_trace_ticks_to_s(st->ts_last - st->ts_first, st->ts_hz);
    losses(d, st);
out:
    if (dur)
        for (uint32_t i = 0; i < (s->count ? s->count : 1); i++)
            free(dur[i].v);
    free(dur);
    free(index);
    usc_trace_matcher_free(m);
    if (err)
        usc_trace_stats_free(st);
    return err;
}

void usc_trace_stats_free(struct usc_trace_stats *st)
{
    free(st->class_count);
    free(st->spans);
    st->class_count = NULL;
    st->spans = NULL;
    st->nspans = 0;
    st->nclasses = 0;
}
