/* unitrace report: losses first, then counts and rates, then spans. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "trace_stats.h"
#include "unitrace.h"

/* A duration in ticks, printed with a unit that fits it. */
static void duration(char *buf, size_t cap, double ticks, uint64_t hz)
{
    double s = ticks / (double)(hz ? hz : 1000000000ull);

    if (s < 1e-6)
        snprintf(buf, cap, "%.0f ns", s * 1e9);
    else if (s < 1e-3)
        snprintf(buf, cap, "%.2f us", s * 1e6);
    else if (s < 1)
        snprintf(buf, cap, "%.3f ms", s * 1e3);
    else
        snprintf(buf, cap, "%.3f s", s);
}

static void text_losses(const struct usc_trace_stats *st)
{
    if (!st->discarded && !st->missing_packets && !st->bad_records &&
        !st->bad_streams) {
        puts("losses: none");
        return;
    }
    const char *sep = "losses: ";
    if (st->discarded) {
        printf("%s%llu events discarded by the guest (ring full)", sep,
               (unsigned long long)st->discarded);
        sep = "; ";
    }
    if (st->missing_packets) {
        printf("%s%llu packets missing", sep,
               (unsigned long long)st->missing_packets);
        sep = "; ";
    }
    if (st->bad_records) {
        printf("%s%llu packets cut short by corrupt records", sep,
               (unsigned long long)st->bad_records);
        sep = "; ";
    }
    if (st->bad_streams)
        printf("%s%llu streams ended at a corrupt packet", sep,
               (unsigned long long)st->bad_streams);
    putchar('\n');
}

static void text(const char *dir, const struct usc_trace_dir *d,
                 const struct usc_trace_stats *st)
{
    const struct usc_trace_schema *s = usc_trace_dir_schema(d);

    printf("trace %s: guest %s, %zu streams, %llu events in %.3f s\n", dir,
           usc_trace_dir_info(d)->guest, usc_trace_dir_nstreams(d),
           (unsigned long long)st->events, st->seconds);
    text_losses(st);
    printf("\n%-32s %12s %14s\n", "TRACEPOINT", "COUNT", "RATE/S");
    for (uint32_t i = 0; i < st->nclasses; i++) {
        if (!st->class_count[i])
            continue;
        printf("%-32s %12llu %14.1f\n", s->classes[i].name,
               (unsigned long long)st->class_count[i],
               st->seconds > 0 ? (double)st->class_count[i] / st->seconds
                               : 0.0);
    }
    if (!st->nspans)
        return;
    printf("\n%-24s %10s %12s %12s %12s %12s %s\n", "SPAN (per thread)",
           "COUNT", "MEAN", "P50", "P99", "MAX", "UNMATCHED");
    for (size_t k = 0; k < st->nspans; k++) {
        const struct usc_trace_span_stats *sp = &st->spans[k];
        if (!sp->count && !sp->unmatched_begin && !sp->unmatched_end)
            continue;
        char mean[32] = "-", p50[32] = "-", p99[32] = "-", max[32] = "-";
        if (sp->count) {
            duration(mean, sizeof(mean), sp->mean, st->ts_hz);
            duration(p50, sizeof(p50), (double)sp->p50, st->ts_hz);
            duration(p99, sizeof(p99), (double)sp->p99, st->ts_hz);
            duration(max, sizeof(max), (double)sp->max, st->ts_hz);
        }
        printf("%-24s %10llu %12s %12s %12s %12s %llu begin, %llu end\n",
               sp->name, (unsigned long long)sp->count, mean, p50, p99, max,
               (unsigned long long)sp->unmatched_begin,
               (unsigned long long)sp->unmatched_end);
    }
}

static json_t *span_json(const struct usc_trace_span_stats *sp, uint64_t hz)
{
    return json_pack("{s:s, s:I, s:f, s:f, s:f, s:f, s:f, s:I, s:I}", "name",
                     sp->name, "count", (json_int_t)sp->count, "mean_s",
                     sp->mean / (double)(hz ? hz : 1000000000ull), "min_s",
                     usc_trace_ticks_to_s(sp->min, hz), "p50_s",
                     usc_trace_ticks_to_s(sp->p50, hz), "p99_s",
                     usc_trace_ticks_to_s(sp->p99, hz), "max_s",
                     usc_trace_ticks_to_s(sp->max, hz), "unmatched_begin",
                     (json_int_t)sp->unmatched_begin, "unmatched_end",
                     (json_int_t)sp->unmatched_end);
}

static int json(const struct usc_trace_dir *d, const struct usc_trace_stats *st)
{
    const struct usc_trace_schema *s = usc_trace_dir_schema(d);
    json_t *tps = json_array(), *spans = json_array();

    for (uint32_t i = 0; i < st->nclasses && tps; i++) {
        if (!st->class_count[i])
            continue;
        json_array_append_new(
            tps,
            json_pack("{s:i, s:s, s:s, s:I, s:f}", "id", (int)i, "name",
                      s->classes[i].name, "kind",
                      usc_trace_kind_name(s->classes[i].kind), "count",
                      (json_int_t)st->class_count[i], "rate_per_s",
                      st->seconds > 0 ? (double)st->class_count[i] / st->seconds
                                      : 0.0));
    }
    for (size_t k = 0; k < st->nspans && spans; k++)
        json_array_append_new(spans, span_json(&st->spans[k], st->ts_hz));
    json_t *root = json_pack(
        "{s:s, s:I, s:f, s:{s:I, s:I, s:I, s:I}, s:o, s:o}", "guest",
        usc_trace_dir_info(d)->guest, "events", (json_int_t)st->events,
        "duration_s", st->seconds, "losses", "discarded_events",
        (json_int_t)st->discarded, "missing_packets",
        (json_int_t)st->missing_packets, "corrupt_packets",
        (json_int_t)st->bad_records, "corrupt_streams",
        (json_int_t)st->bad_streams, "tracepoints", tps, "spans", spans);
    if (!root)
        return -ENOMEM;
    json_dumpf(root, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(root);
    return 0;
}

int unitrace_report(int argc, char **argv)
{
    const char *dir = NULL;
    bool as_json = false;
    struct usc_trace_dir *d = NULL;
    struct usc_trace_stats st;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            puts("usage: unitrace report DIR [--json]");
            return 0;
        }
        if (!strcmp(argv[i], "--json"))
            as_json = true;
        else if (!dir && argv[i][0] != '-')
            dir = argv[i];
        else
            return unitrace_usage("report: expected DIR [--json]");
    }
    if (!dir)
        return unitrace_usage("report: expected DIR");
    int err = usc_trace_dir_open(dir, &d);
    if (err)
        return unitrace_fail(dir, err == -ENOENT
                                      ? "not a unitrace trace directory"
                                  : err == -EINVAL ? "corrupt trace description"
                                                   : strerror(-err));
    err = usc_trace_stats_compute(d, &st);
    if (err) {
        usc_trace_dir_close(d);
        return unitrace_fail_errno(dir, err);
    }
    if (as_json)
        err = json(d, &st);
    else
        text(dir, d, &st);
    usc_trace_stats_free(&st);
    usc_trace_dir_close(d);
    return err ? unitrace_fail_errno(dir, err) : 0;
}
