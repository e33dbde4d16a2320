/* The summary of a trace: losses, counts and rates, begin/end spans. */
#ifndef USC_TRACE_STATS_H
#define USC_TRACE_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "trace_dir.h"

/* Durations are in guest timestamp ticks; the trace's ts_hz converts. */
struct usc_trace_span_stats {
    uint32_t begin_id, end_id;
    char name[USC_TP_NAME_MAX]; /* the BEGIN's name without "_begin" */
    uint64_t count;             /* matched pairs */
    uint64_t unmatched_begin;   /* begins still open at the end */
    uint64_t unmatched_end;     /* ends with no begin (it was not recorded) */
    double mean;
    uint64_t min, p50, p99, max;
};

struct usc_trace_stats {
    uint64_t events;
    uint64_t ts_first, ts_last; /* of all events */
    double seconds;             /* between them */
    uint64_t ts_hz;
    /* losses, over all streams */
    uint64_t discarded;       /* events the guest dropped (ring full) */
    uint64_t missing_packets; /* gaps in packet numbers */
    uint64_t bad_records;     /* packets cut short by a bad record */
    uint64_t bad_streams;     /* streams that ended at a bad packet */
    /* per class, indexed by id */
    uint32_t nclasses;
    uint64_t *class_count;
    /* per BEGIN class that some END names */
    size_t nspans;
    struct usc_trace_span_stats *spans;
};

/*
 * Read every event of (d) (from the start; do it once per handle) into
 * (st): counts per class, spans matched per thread (an END closes the
 * newest open BEGIN of its pair in the same thread; events outside any
 * thread match per vCPU), losses from the streams. Free with
 * usc_trace_stats_free. Returns 0 or -ENOMEM.
 */
int usc_trace_stats_compute(struct usc_trace_dir *d,
                            struct usc_trace_stats *st);

void usc_trace_stats_free(struct usc_trace_stats *st);

/* Ticks (t) of a trace at (hz) in seconds; hz 0 is taken as 1 GHz. */
double usc_trace_ticks_to_s(uint64_t t, uint64_t hz);

/*
 * Pairs open spans with their ends, per context, for report and convert.
 * usc_trace_matcher_push records a BEGIN (its event (ev) on (vcpu));
 * usc_trace_matcher_pop, for an END of pair (begin_id), returns 1 and the
 * matching BEGIN in (*begin), or 0 when none is open.
 */
struct usc_trace_matcher;
struct usc_trace_matcher *usc_trace_matcher_new(void);
void usc_trace_matcher_free(struct usc_trace_matcher *m);
int usc_trace_matcher_push(struct usc_trace_matcher *m,
                           const struct usc_trace_dir_event *ev);
int usc_trace_matcher_pop(struct usc_trace_matcher *m,
                          const struct usc_trace_dir_event *end,
                          struct usc_trace_dir_event *begin);
/* Visit each BEGIN still open, then forget them. */
void usc_trace_matcher_drain(struct usc_trace_matcher *m,
                             void (*fn)(void *arg,
                                        const struct usc_trace_dir_event *ev),
                             void *arg);

#endif /* USC_TRACE_STATS_H */
