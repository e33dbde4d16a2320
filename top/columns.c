/* The guest table's columns: one const instance each, as htop's meters. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unitop.h"

static void known(struct top_value *v, double num)
{
    v->known = 1;
    v->num = num;
}

/* A figure that is known when (num) is a number at or above zero. */
static void known_if(struct top_value *v, double num)
{
    if (!isnan(num) && num >= 0)
        known(v, num);
}

static void get_name(const struct top_guest *g, int64_t now,
                     struct top_value *v, char *buf, size_t size)
{
    (void)now, (void)buf, (void)size;
    v->known = 1;
    v->text = g->name;
}

static void get_state(const struct top_guest *g, int64_t now,
                      struct top_value *v, char *buf, size_t size)
{
    (void)now, (void)buf, (void)size;
    v->known = 1;
    v->text = top_state_name(g->state);
    v->num = g->state;
}

static void get_vcpus(const struct top_guest *g, int64_t now,
                      struct top_value *v, char *buf, size_t size)
{
    (void)now, (void)buf, (void)size;
    known_if(v, (double)top_guest_vcpus(g));
}

/* Rates of a guest that is gone are nobody's figures. */
static int live(const struct top_guest *g)
{
    return g->state != TOP_STATE_DEAD && g->state != TOP_STATE_STALLED;
}

static void get_cpu(const struct top_guest *g, int64_t now, struct top_value *v,
                    char *buf, size_t size)
{
    (void)now, (void)buf, (void)size;
    if (g->hv && live(g))
        known_if(v, g->hv->cpu_pct);
}

static void get_mem(const struct top_guest *g, int64_t now, struct top_value *v,
                    char *buf, size_t size)
{
    (void)now, (void)buf, (void)size;
    known_if(v, (double)top_guest_mem_bytes(g));
}

static void get_uptime(const struct top_guest *g, int64_t now,
                       struct top_value *v, char *buf, size_t size)
{
    (void)buf, (void)size;
    known_if(v, top_guest_uptime(g, now));
}

static void get_threads(const struct top_guest *g, int64_t now,
                        struct top_value *v, char *buf, size_t size)
{
    (void)now, (void)buf, (void)size;
    if (g->ag.valid)
        known(v, g->ag.threads);
}

static void get_switches(const struct top_guest *g, int64_t now,
                         struct top_value *v, char *buf, size_t size)
{
    (void)now, (void)buf, (void)size;
    if (g->ag.valid && live(g))
        known_if(v, g->ag.switch_rate);
}

static void get_trace(const struct top_guest *g, int64_t now,
                      struct top_value *v, char *buf, size_t size)
{
    (void)now, (void)buf, (void)size;
    if (g->ag.valid && g->ag.trace_known && live(g))
        known_if(v, g->ag.trace_rate);
}

static void get_lost(const struct top_guest *g, int64_t now,
                     struct top_value *v, char *buf, size_t size)
{
    (void)now, (void)buf, (void)size;
    if (g->ag.valid && g->ag.trace_known)
        known(v, (double)g->ag.trace_lost);
}

static void get_heap(const struct top_guest *g, int64_t now,
                     struct top_value *v, char *buf, size_t size)
{
    (void)now, (void)buf, (void)size;
    known_if(v, (double)top_guest_heap(g));
}

/* "name=12/s name=3": counters as rates, gauges as values. */
static void get_metrics(const struct top_guest *g, int64_t now,
                        struct top_value *v, char *buf, size_t size)
{
    size_t n = 0;

    (void)now;
    if (!g->ag.valid || size == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < g->ag.nmetrics && n + 1 < size; i++) {
        const struct top_metric *m = &g->ag.metrics[i];
        struct top_value mv = {0};
        char fig[32];
        int w;

        if (m->kind == USC_METRIC_COUNTER) {
            if (live(g))
                known_if(&mv, m->rate);
            top_value_format(&mv, TOP_FMT_RATE, fig, sizeof(fig));
            w = snprintf(buf + n, size - n, "%s%s=%s/s", n ? " " : "", m->name,
                         fig);
        } else {
            w = snprintf(buf + n, size - n, "%s%s=%lld", n ? " " : "", m->name,
                         (long long)(int64_t)m->value);
        }
        if (w < 0 || (size_t)w >= size - n) {
            buf[n] = '\0';
            break;
        }
        n += (size_t)w;
    }
    v->known = 1;
    v->text = buf;
}

static const struct top_column col_name = {
    .title = "NAME",
    .key = "name",
    .help = "the guest's name in the run directory, or its Xen domain's",
    .fmt = TOP_FMT_TEXT,
    .width = 12,
    .left = 1,
    .sort_key = 'N',
    .get = get_name,
};

static const struct top_column col_state = {
    .title = "STATE",
    .key = "state",
    .help = "QEMU's or Xen's run state; panicked or halted as the agent "
            "says; stalled, corrupt, dead",
    .fmt = TOP_FMT_TEXT,
    .width = 8,
    .left = 1,
    .sort_key = 'S',
    .get = get_state,
};

static const struct top_column col_vcpus = {
    .title = "VCPUS",
    .key = "vcpus",
    .help = "virtual CPUs",
    .fmt = TOP_FMT_COUNT,
    .width = 5,
    .get = get_vcpus,
};

static const struct top_column col_cpu = {
    .title = "CPU%",
    .key = "cpu_percent",
    .help = "host CPU time of the vCPU threads (a Xen domain's vCPUs); "
            "100 is one host core",
    .fmt = TOP_FMT_PERCENT,
    .width = 6,
    .sort_key = 'P',
    .get = get_cpu,
};

static const struct top_column col_mem = {
    .title = "MEM",
    .key = "memory_bytes",
    .help = "guest RAM",
    .fmt = TOP_FMT_BYTES,
    .width = 6,
    .sort_key = 'M',
    .get = get_mem,
};

static const struct top_column col_uptime = {
    .title = "UPTIME",
    .key = "uptime_seconds",
    .help = "since unirun started it, else since the agent's boot",
    .fmt = TOP_FMT_DURATION,
    .width = 7,
    .sort_key = 'T',
    .get = get_uptime,
};

static const struct top_column col_threads = {
    .title = "THR",
    .key = "threads",
    .help = "the agent's threads that have not exited",
    .fmt = TOP_FMT_COUNT,
    .width = 4,
    .get = get_threads,
};

static const struct top_column col_switches = {
    .title = "CSW/s",
    .key = "context_switches_per_second",
    .help = "context switches per second, over the agent's threads",
    .fmt = TOP_FMT_RATE,
    .width = 6,
    .get = get_switches,
};

static const struct top_column col_trace = {
    .title = "TRC/s",
    .key = "trace_events_per_second",
    .help = "trace events per second, over every vCPU's ring",
    .fmt = TOP_FMT_RATE,
    .width = 6,
    .get = get_trace,
};

static const struct top_column col_lost = {
    .title = "LOST",
    .key = "trace_events_lost",
    .help = "trace events dropped or overwritten unread",
    .fmt = TOP_FMT_COUNT,
    .width = 6,
    .get = get_lost,
};

static const struct top_column col_heap = {
    .title = "HEAP",
    .key = "heap_bytes",
    .help = "the agent's heap_used gauge",
    .fmt = TOP_FMT_BYTES,
    .width = 6,
    .get = get_heap,
};

static const struct top_column col_metrics = {
    .title = "METRICS",
    .key = "metrics",
    .help = "the guest's own metrics: counters per second, gauges",
    .fmt = TOP_FMT_TEXT,
    .width = 0,
    .left = 1,
    .get = get_metrics,
};

const struct top_column *const top_columns[] = {
    &col_name,    &col_state,    &col_vcpus, &col_cpu,  &col_mem,  &col_uptime,
    &col_threads, &col_switches, &col_trace, &col_lost, &col_heap, &col_metrics,
};

const size_t top_ncolumns = sizeof(top_columns) / sizeof(top_columns[0]);

int top_column_find(const char *name)
{
    for (size_t i = 0; i < top_ncolumns; i++)
        if (!strcmp(top_columns[i]->title, name) ||
            !strcmp(top_columns[i]->key, name))
            return (int)i;
    return -1;
}

/* ---- formatting --------------------------------------------------------- */

void top_format_duration(double s, char *buf, size_t size)
{
    long long t = s < 0 ? 0 : (long long)s;

    if (t < 60)
        snprintf(buf, size, "%llds", t);
    else if (t < 3600)
        snprintf(buf, size, "%lldm%02llds", t / 60, t % 60);
    else if (t < 86400)
        snprintf(buf, size, "%lldh%02lldm", t / 3600, t / 60 % 60);
    else
        snprintf(buf, size, "%lldd%02lldh", t / 86400, t / 3600 % 24);
}

/* (v) with a unit letter every (base)-fold: "512B", "1.5K", "64M". */
static void scaled(double v, double base, const char *units, char *buf,
                   size_t size)
{
    size_t u = 0;

    while (v >= 1000 && units[u + 1]) {
        v /= base;
        u++;
    }
    if (units[u] == ' ')
        snprintf(buf, size, v < 10 && v != floor(v) ? "%.1f" : "%.0f", v);
    else
        snprintf(buf, size, v < 10 && u ? "%.1f%c" : "%.0f%c", v, units[u]);
}

void top_value_format(const struct top_value *v, enum top_fmt fmt, char *buf,
                      size_t size)
{
    if (!v->known) {
        snprintf(buf, size, "-");
        return;
    }
    switch (fmt) {
    case TOP_FMT_TEXT:
        snprintf(buf, size, "%s", v->text ? v->text : "");
        break;
    case TOP_FMT_COUNT:
        snprintf(buf, size, "%.0f", v->num);
        break;
    case TOP_FMT_PERCENT:
        snprintf(buf, size, "%.1f", v->num);
        break;
    case TOP_FMT_BYTES:
        scaled(v->num, 1024, "BKMGTPE", buf, size);
        break;
    case TOP_FMT_DURATION:
        top_format_duration(v->num, buf, size);
        break;
    case TOP_FMT_RATE:
        scaled(v->num, 1000, " kMGTPE", buf, size);
        break;
    }
}

/* ---- sorting ------------------------------------------------------------ */

/* A guest with its sort figure, taken once rather than per comparison. */
struct sort_key {
    struct top_guest *g;
    struct top_value v;
    int own; /* v.text is buf, which moves with the key as qsort swaps */
    char buf[64];
};

static const char *key_text(const struct sort_key *k)
{
    return k->own ? k->buf : k->v.text ? k->v.text : "";
}

struct sort_ctx {
    int text, invert;
};

static int compare_keys(const void *pa, const void *pb, void *arg)
{
    const struct sort_key *a = pa, *b = pb;
    const struct sort_ctx *c = arg;
    int r = 0;

    /* Unknown figures go last either way: they are not small ones. */
    if (a->v.known != b->v.known)
        return a->v.known ? -1 : 1;
    if (a->v.known && c->text)
        r = strcmp(key_text(a), key_text(b));
    else if (a->v.known)
        r = a->v.num > b->v.num ? -1 : a->v.num < b->v.num ? 1 : 0;
    if (c->invert)
        r = -r;
    return r ? r : strcmp(a->g->name, b->g->name);
}

void top_sort(struct top_guest **v, size_t n, int col, int invert,
              int64_t now_epoch)
{
    const struct top_column *c;
    struct sort_key *keys;
    struct sort_ctx ctx;

    if (col < 0 || (size_t)col >= top_ncolumns || n < 2)
        return;
    c = top_columns[col];
    keys = calloc(n, sizeof(*keys));
    if (!keys)
        return;
    for (size_t i = 0; i < n; i++) {
        keys[i].g = v[i];
        c->get(v[i], now_epoch, &keys[i].v, keys[i].buf, sizeof(keys[i].buf));
        keys[i].own = keys[i].v.text == keys[i].buf;
    }
    ctx.text = c->fmt == TOP_FMT_TEXT;
    ctx.invert = invert;
    qsort_r(keys, n, sizeof(*keys), compare_keys, &ctx);
    for (size_t i = 0; i < n; i++)
        v[i] = keys[i].g;
    free(keys);
}
