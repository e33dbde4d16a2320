/* Batch output: every guest, one block per refresh, as text, CSV or JSON. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "unitop.h"

#define TEXT_MAX 4096 /* the METRICS text of one guest */

static int name_width(const struct top_fleet *f)
{
    int w = 4;

    for (size_t i = 0; i < f->n; i++)
        if ((int)strlen(f->g[i]->name) > w)
            w = (int)strlen(f->g[i]->name);
    return w;
}

static void clock_text(int64_t epoch, char *buf, size_t size)
{
    time_t t = (time_t)epoch;
    struct tm tm;

    if (!localtime_r(&t, &tm) || !strftime(buf, size, "%F %T", &tm))
        snprintf(buf, size, "%lld", (long long)epoch);
}

static void emit_text(const struct top_batch *b, const struct top_fleet *f,
                      int delay_ms)
{
    char when[32], *text = malloc(TEXT_MAX), fig[64];
    int nw = name_width(f);

    if (!text)
        return;
    clock_text(f->tick_epoch, when, sizeof(when));
    printf("%sunitop %s, %zu guests, refresh %.2fs, CPU%% of one host core "
           "(%ld cores)\n",
           b->iteration > 1 ? "\n" : "", when, f->n, delay_ms / 1000.0,
           f->host_cores);
    for (size_t c = 0; c < top_ncolumns; c++) {
        const struct top_column *col = top_columns[c];
        int w = c == 0 ? nw : col->width;

        if (c + 1 == top_ncolumns)
            printf("%s\n", col->title);
        else
            printf(col->left ? "%-*s " : "%*s ", w, col->title);
    }
    for (size_t i = 0; i < f->n; i++) {
        for (size_t c = 0; c < top_ncolumns; c++) {
            const struct top_column *col = top_columns[c];
            struct top_value v = {0};
            int w = c == 0 ? nw : col->width;

            col->get(f->g[i], f->tick_epoch, &v, text, TEXT_MAX);
            top_value_format(&v, col->fmt, fig, sizeof(fig));
            if (c + 1 < top_ncolumns)
                printf(col->left ? "%-*s " : "%*s ", w, fig);
            else
                printf("%s\n", v.known && v.text ? v.text : fig);
        }
    }
    free(text);
}

/* A CSV field: numbers bare, text quoted, unknown empty. */
static void csv_field(const struct top_value *v, enum top_fmt fmt)
{
    if (!v->known)
        return;
    if (fmt != TOP_FMT_TEXT) {
        printf(v->num == floor(v->num) ? "%.0f" : "%.3f", v->num);
        return;
    }
    putchar('"');
    for (const char *p = v->text ? v->text : ""; *p; p++) {
        if (*p == '"')
            putchar('"');
        putchar(*p);
    }
    putchar('"');
}

static void emit_csv(const struct top_batch *b, const struct top_fleet *f)
{
    char *text = malloc(TEXT_MAX);

    if (!text)
        return;
    if (b->iteration == 1) {
        printf("time,iteration,hypervisor");
        for (size_t c = 0; c < top_ncolumns; c++)
            printf(",%s", top_columns[c]->key);
        printf("\n");
    }
    for (size_t i = 0; i < f->n; i++) {
        printf("%lld,%d,%s", (long long)f->tick_epoch, b->iteration,
               top_guest_hypervisor(f->g[i]));
        for (size_t c = 0; c < top_ncolumns; c++) {
            struct top_value v = {0};

            top_columns[c]->get(f->g[i], f->tick_epoch, &v, text, TEXT_MAX);
            putchar(',');
            csv_field(&v, top_columns[c]->fmt);
        }
        putchar('\n');
    }
    free(text);
}

static json_t *number(const struct top_value *v, enum top_fmt fmt)
{
    if (!v->known)
        return json_null();
    if (fmt == TOP_FMT_COUNT || fmt == TOP_FMT_BYTES)
        return json_integer((json_int_t)v->num);
    return json_real(v->num);
}

static json_t *json_metrics(const struct top_guest *g)
{
    json_t *a = json_array();

    for (size_t i = 0; g->ag.valid && i < g->ag.nmetrics; i++) {
        const struct top_metric *m = &g->ag.metrics[i];
        int counter = m->kind == USC_METRIC_COUNTER;

        json_array_append_new(
            a,
            json_pack(
                "{s:s, s:s, s:s, s:I, s:o}", "name", m->name, "unit", m->unit,
                "kind", counter ? "counter" : "gauge", "value",
                counter ? (json_int_t)m->value : (json_int_t)(int64_t)m->value,
                "rate_per_second",
                counter && !isnan(m->rate) ? json_real(m->rate) : json_null()));
    }
    return a;
}

static json_t *json_vcpus(const struct top_guest *g)
{
    json_t *a = json_array();
    const struct top_hv *hv = g->hv;

    for (uint32_t v = 0; hv && hv->valid && v < hv->cur.nvcpu_stats; v++) {
        const struct top_vcpu *c = &hv->cur.vcpu[v];

        json_array_append_new(
            a,
            json_pack("{s:i, s:o, s:o, s:o, s:o}", "vcpu", (int)v, "host_tid",
                      c->tid > 0 ? json_integer(c->tid) : json_null(),
                      "cpu_seconds",
                      c->cpu_ns != USC_STAT_UNKNOWN
                          ? json_real((double)c->cpu_ns / 1e9)
                          : json_null(),
                      "cpu_percent",
                      isnan(hv->vcpu_pct[v]) ? json_null()
                                             : json_real(hv->vcpu_pct[v]),
                      "exits",
                      c->exits != USC_STAT_UNKNOWN
                          ? json_integer((json_int_t)c->exits)
                          : json_null()));
    }
    return a;
}

static json_t *json_guest(const struct top_guest *g, int64_t now_epoch,
                          char *text)
{
    json_t *o = json_object();

    json_object_set_new(o, "hypervisor", json_string(top_guest_hypervisor(g)));
    json_object_set_new(o, "kind", json_string(top_guest_kind(g)));
    json_object_set_new(o, "domid",
                        g->kind == TOP_KIND_XEN ? json_integer(g->dom.domid)
                                                : json_null());
    json_object_set_new(o, "pid",
                        g->kind == TOP_KIND_PROC ? json_integer(g->proc.pid)
                        : g->hv && g->hv->valid && g->hv->cur.pid > 0
                            ? json_integer(g->hv->cur.pid)
                            : json_null());
    for (size_t c = 0; c < top_ncolumns; c++) {
        const struct top_column *col = top_columns[c];
        struct top_value v = {0};

        if (!strcmp(col->key, "metrics"))
            continue; /* given in full below */
        col->get(g, now_epoch, &v, text, TEXT_MAX);
        json_object_set_new(o, col->key,
                            col->fmt == TOP_FMT_TEXT
                                ? (v.known ? json_string(v.text) : json_null())
                                : number(&v, col->fmt));
    }
    json_object_set_new(o, "agent_name",
                        g->ag.agent ? json_string(g->ag.name) : json_null());
    json_object_set_new(o, "trace_events_total",
                        g->ag.valid && g->ag.trace_known
                            ? json_integer((json_int_t)g->ag.trace_events)
                            : json_null());
    json_object_set_new(o, "context_switches_total",
                        g->ag.valid ? json_integer((json_int_t)g->ag.switches)
                                    : json_null());
    json_object_set_new(o, "threads_refused",
                        g->ag.valid ? json_integer(g->ag.threads_refused)
                                    : json_null());
    json_object_set_new(o, "metrics", json_metrics(g));
    json_object_set_new(o, "vcpu_stats", json_vcpus(g));
    return o;
}

static int emit_json(struct top_batch *b, const struct top_fleet *f,
                     int delay_ms)
{
    char *text = malloc(TEXT_MAX);
    json_t *guests = json_array(), *root;
    int err = 0;

    if (!text || !guests) {
        free(text);
        json_decref(guests);
        return -ENOMEM;
    }
    for (size_t i = 0; i < f->n; i++)
        json_array_append_new(guests, json_guest(f->g[i], f->tick_epoch, text));
    root = json_pack("{s:I, s:i, s:f, s:s, s:i, s:o}", "time",
                     (json_int_t)f->tick_epoch, "iteration", b->iteration,
                     "interval_seconds", delay_ms / 1000.0, "cpu_percent_of",
                     "one host core", "host_cores", (int)f->host_cores,
                     "guests", guests);
    fputs(b->open ? ",\n" : "[\n", stdout);
    b->open = 1;
    if (!root || json_dumpf(root, stdout, JSON_COMPACT) != 0)
        err = -EIO;
    json_decref(root);
    free(text);
    return err;
}

int top_batch_emit(struct top_batch *b, const struct top_fleet *f, int delay_ms)
{
    int err = 0;

    b->iteration++;
    switch (b->format) {
    case TOP_FORMAT_TEXT:
        emit_text(b, f, delay_ms);
        break;
    case TOP_FORMAT_CSV:
        emit_csv(b, f);
        break;
    case TOP_FORMAT_JSON:
        err = emit_json(b, f, delay_ms);
        break;
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        err = -EIO;
    return err;
}

int top_batch_end(struct top_batch *b)
{
    if (b->format == TOP_FORMAT_JSON)
        fputs(b->open ? "\n]\n" : "[]\n", stdout);
    b->open = 0;
    return fflush(stdout) != 0 || ferror(stdout) ? -EIO : 0;
}
