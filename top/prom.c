/* The fleet in the Prometheus text exposition format, version 0.0.4. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unitop.h"

#define AGENT_PREFIX "uniscope_agent_"

/* A family of one sample per guest; value() returns 0 when unknown. */
struct family {
    const char *name, *type, *help;
    int (*value)(const struct top_guest *g, int64_t now, double *v);
};

static int info(const struct top_guest *g, int64_t now, double *v)
{
    (void)g, (void)now;
    *v = 1;
    return 1;
}

static int up(const struct top_guest *g, int64_t now, double *v)
{
    (void)now;
    *v = g->state == TOP_STATE_RUNNING;
    return 1;
}

static int state(const struct top_guest *g, int64_t now, double *v)
{
    (void)now;
    *v = g->state;
    return 1;
}

static int vcpus(const struct top_guest *g, int64_t now, double *v)
{
    (void)now;
    *v = (double)top_guest_vcpus(g);
    return *v >= 0;
}

static int memory(const struct top_guest *g, int64_t now, double *v)
{
    (void)now;
    *v = (double)top_guest_mem_bytes(g);
    return *v >= 0;
}

static int uptime(const struct top_guest *g, int64_t now, double *v)
{
    *v = top_guest_uptime(g, now);
    return !isnan(*v);
}

static int threads(const struct top_guest *g, int64_t now, double *v)
{
    (void)now;
    *v = g->ag.threads;
    return g->ag.valid;
}

static int switches(const struct top_guest *g, int64_t now, double *v)
{
    (void)now;
    *v = (double)g->ag.switches;
    return g->ag.valid;
}

static int trace_events(const struct top_guest *g, int64_t now, double *v)
{
    (void)now;
    *v = (double)g->ag.trace_events;
    return g->ag.valid && g->ag.trace_known;
}

static int trace_lost(const struct top_guest *g, int64_t now, double *v)
{
    (void)now;
    *v = (double)g->ag.trace_lost;
    return g->ag.valid && g->ag.trace_known;
}

static int heap(const struct top_guest *g, int64_t now, double *v)
{
    (void)now;
    *v = (double)top_guest_heap(g);
    return *v >= 0;
}

static const struct family families[] = {
    {"uniscope_guest_info", "gauge",
     "A guest unitop sees, with its hypervisor; always 1.", info},
    {"uniscope_guest_up", "gauge", "1 while the guest runs, else 0.", up},
    {"uniscope_guest_state", "gauge",
     "The guest's state: 0 unknown, 1 starting, 2 running, 3 paused, "
     "4 debug, 5 halted, 6 shutdown, 7 panicked, 8 corrupt agent, "
     "9 stalled hypervisor, 10 dead.",
     state},
    {"uniscope_guest_vcpus", "gauge", "Virtual CPUs of the guest.", vcpus},
    {"uniscope_guest_memory_bytes", "gauge", "RAM of the guest.", memory},
    {"uniscope_guest_uptime_seconds", "gauge", "Time since the guest started.",
     uptime},
    {"uniscope_guest_threads", "gauge",
     "Threads of the guest's agent that have not exited.", threads},
    {"uniscope_guest_context_switches_total", "counter",
     "Context switches, summed over the agent's threads.", switches},
    {"uniscope_guest_trace_events_total", "counter",
     "Trace events written, over every vCPU's trace ring.", trace_events},
    {"uniscope_guest_trace_events_lost_total", "counter",
     "Trace events dropped or overwritten unread.", trace_lost},
    {"uniscope_guest_heap_bytes", "gauge",
     "Heap in use, as the agent's heap_used gauge says.", heap},
};

/* guest="NAME",hypervisor="qemu" */
static void labels(struct top_buf *b, const struct top_guest *g)
{
    char name[3 * USC_TARGET_NAME_MAX];

    /* Run-directory names are safe already; this keeps them so. */
    usc_sanitize_prom_label(name, sizeof(name), g->name, sizeof(g->name));
    top_buf_printf(b, "guest=\"%s\",hypervisor=\"%s\"", name,
                   top_guest_hypervisor(g));
}

/* (v) in the fewest digits that read back as (v). */
static void value(struct top_buf *b, double v)
{
    char s[32];

    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        top_buf_printf(b, " %.0f\n", v);
        return;
    }
    snprintf(s, sizeof(s), "%.15g", v);
    if (strtod(s, NULL) != v)
        snprintf(s, sizeof(s), "%.17g", v);
    top_buf_printf(b, " %s\n", s);
}

static void head(struct top_buf *b, const char *name, const char *type,
                 const char *help)
{
    top_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void guest_families(struct top_buf *b, const struct top_fleet *f)
{
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        const struct family *fam = &families[i];
        int headed = 0;

        for (size_t k = 0; k < f->n; k++) {
            double v;

            if (!fam->value(f->g[k], f->tick_epoch, &v))
                continue;
            if (!headed++)
                head(b, fam->name, fam->type, fam->help);
            top_buf_printf(b, "%s{", fam->name);
            labels(b, f->g[k]);
            top_buf_printf(b, "}");
            value(b, v);
        }
    }
}

/* Host CPU time and exits of every vCPU. */
static void vcpu_families(struct top_buf *b, const struct top_fleet *f)
{
    static const struct {
        const char *name, *help;
        int exits;
    } fams[] = {
        {"uniscope_vcpu_cpu_seconds_total",
         "Host CPU time of the thread running the vCPU.", 0},
        {"uniscope_vcpu_exits_total", "VM exits of the vCPU (KVM only).", 1},
    };

    for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
        int headed = 0;

        for (size_t k = 0; k < f->n; k++) {
            const struct top_hv *hv = f->g[k]->hv;

            if (!hv || !hv->valid || f->g[k]->state == TOP_STATE_DEAD)
                continue;
            for (uint32_t v = 0; v < hv->cur.nvcpu_stats; v++) {
                uint64_t x = fams[i].exits ? hv->cur.vcpu[v].exits
                                           : hv->cur.vcpu[v].cpu_ns;

                if (x == USC_STAT_UNKNOWN)
                    continue;
                if (!headed++)
                    head(b, fams[i].name, "counter", fams[i].help);
                top_buf_printf(b, "%s{", fams[i].name);
                labels(b, f->g[k]);
                top_buf_printf(b, ",vcpu=\"%u\"}", v);
                if (fams[i].exits)
                    top_buf_printf(b, " %" PRIu64 "\n", x);
                else
                    value(b, (double)x / 1e9);
            }
        }
    }
}

/* One guest metric, to be grouped by name across guests. */
struct sample {
    const struct top_guest *g;
    const struct top_metric *m;
};

static int compare_samples(const void *pa, const void *pb)
{
    const struct sample *a = pa, *b = pb;
    int r = strcmp(a->m->prom, b->m->prom);

    if (r)
        return r;
    r = strcmp(a->g->name, b->g->name);
    if (r)
        return r;
    /* The guest's first slot of a name wins over later ones. */
    return a->m < b->m ? -1 : a->m > b->m;
}

static void metric_value(struct top_buf *b, const struct top_metric *m)
{
    if (m->conv.scale == 1 && m->conv.offset == 0) {
        if (m->kind == USC_METRIC_COUNTER)
            top_buf_printf(b, " %" PRIu64 "\n", m->value);
        else
            top_buf_printf(b, " %" PRId64 "\n", (int64_t)m->value);
        return;
    }
    value(b, (m->kind == USC_METRIC_COUNTER ? (double)m->value
                                            : (double)(int64_t)m->value) *
                     m->conv.scale +
                 m->conv.offset);
}

/*
 * The guests' own metrics, as uniscope_agent_<name>: grouped by name as
 * the format demands; a name one guest has as a counter and another as a
 * gauge keeps the kind of the first, alphabetically, and drops the rest.
 */
static void agent_families(struct top_buf *b, const struct top_fleet *f)
{
    struct sample *v;
    size_t n = 0, cap = 0;

    for (size_t k = 0; k < f->n; k++)
        if (f->g[k]->ag.valid)
            cap += f->g[k]->ag.nmetrics;
    if (cap == 0)
        return;
    v = malloc(cap * sizeof(*v));
    if (!v) {
        b->oom = 1;
        return;
    }
    for (size_t k = 0; k < f->n; k++) {
        const struct top_agent *ag = &f->g[k]->ag;

        for (size_t i = 0; ag->valid && i < ag->nmetrics; i++)
            if (ag->metrics[i].prom[0])
                v[n++] = (struct sample){f->g[k], &ag->metrics[i]};
    }
    qsort(v, n, sizeof(*v), compare_samples);
    for (size_t i = 0; i < n;) {
        const struct top_metric *first = v[i].m;
        const struct top_guest *last = NULL;
        char help[96];
        size_t j;

        usc_sanitize_text(help, sizeof(help), first->name, sizeof(first->name));
        for (char *c = help; *c; c++)
            if (*c == '\\')
                *c = '/';
        top_buf_printf(b, "# HELP " AGENT_PREFIX "%s Guest metric %s%s.\n",
                       first->prom, help,
                       first->conv.scale != 1 || first->conv.offset != 0
                           ? ", converted to base units"
                           : "");
        top_buf_printf(b, "# TYPE " AGENT_PREFIX "%s %s\n", first->prom,
                       first->kind == USC_METRIC_COUNTER ? "counter" : "gauge");
        for (j = i; j < n && !strcmp(v[j].m->prom, first->prom); j++) {
            if (v[j].m->kind != first->kind || v[j].g == last)
                continue;
            last = v[j].g;
            top_buf_printf(b, AGENT_PREFIX "%s{", first->prom);
            labels(b, v[j].g);
            top_buf_printf(b, "}");
            metric_value(b, v[j].m);
        }
        i = j;
    }
    free(v);
}

void top_prom_render(const struct top_fleet *f, struct top_buf *b)
{
    head(b, "uniscope_exporter_guests", "gauge",
         "Guests in the run directory.");
    top_buf_printf(b, "uniscope_exporter_guests %zu\n", f->n);
    head(b, "uniscope_exporter_refreshes_total", "counter",
         "Refreshes unitop has made.");
    top_buf_printf(b, "uniscope_exporter_refreshes_total %d\n", f->ticks);
    guest_families(b, f);
    vcpu_families(b, f);
    agent_families(b, f);
}
