/* Recording a guest's trace rings into a CTF directory: stream or snapshot. */
#ifndef USC_TRACE_RECORD_H
#define USC_TRACE_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include "agent_reader.h"
#include "trace_ctf.h"
#include "trace_reader.h"

/* What a recording has done so far. */
struct usc_trace_rec_stats {
    uint64_t events;       /* written to the trace */
    uint64_t packets;      /* written to the trace */
    uint64_t discarded;    /* events the guest dropped (stream, ring full) */
    uint64_t lost_packets; /* overwritten before read, or corrupt: skipped */
    uint64_t truncated;    /* packets whose bad records were cut off */
    uint64_t incomplete;   /* packets taken with reservations uncommitted */
    /* stream mode, the drain's lag: */
    double max_fill;  /* most of a ring (0..1) the guest had filled when a
                         drain came; 1: it had to drop events */
    double max_gap_s; /* longest time between two drains */
};

struct usc_trace_recorder;

/*
 * A recorder of (t)'s rings into (w), both borrowed; (a) is the agent
 * (t) was opened on, for the guest's clock. Stores it in (*out).
 */
int usc_trace_recorder_new(struct usc_agent *a, struct usc_trace *t,
                           struct usc_ctf_writer *w,
                           struct usc_trace_recorder **out);

/* Free (r) (NULL: no-op); it leaves the rings as they are. */
void usc_trace_recorder_free(struct usc_trace_recorder *r);

/*
 * Stream mode: from each ring's open packet on, the guest keeps what the
 * host has not consumed and drops (and counts) what does not fit. The
 * mode lapses (back to overwriting) if the recorder stops renewing it for
 * (lease_s) seconds of guest time, e.g. because it was killed.
 */
int usc_trace_recorder_stream_begin(struct usc_trace_recorder *r,
                                    double lease_s);

/*
 * Consume every packet the guest has closed since the last call, queue
 * them for the trace files and hand their slots back. At most every 50
 * ms it also reads new tracepoints, renews the lease and writes the
 * queued packets out, so it may be called as often as wanted (a core that
 * polls). Returns 0 or a negative errno (writing the trace, or reaching
 * guest memory); packets that are gone or corrupt are counted, not
 * errors.
 */
int usc_trace_recorder_drain(struct usc_trace_recorder *r);

/*
 * How long a caller draining in a loop should wait before the next drain,
 * in microseconds, at most (max_us): the time the fastest ring takes to
 * fill a quarter, at the fastest rate it filled at lately, but not under
 * 50 us. A quiet guest is drained every max_us.
 */
uint64_t usc_trace_recorder_wait_us(const struct usc_trace_recorder *r,
                                    uint64_t max_us);

/*
 * End stream mode: drain, take the packets being filled as they are, and
 * put the rings back to overwrite mode.
 */
int usc_trace_recorder_stream_end(struct usc_trace_recorder *r);

/*
 * The flight recorder: write the newest packets of every ring, oldest
 * first, up to and including the one being filled. A live guest goes on
 * writing meanwhile, so its oldest packets may be overwritten before they
 * are read; those are skipped. (force): take packets whose reservations
 * were never committed (a guest that stopped mid-event, in a core file).
 */
int usc_trace_recorder_snapshot(struct usc_trace_recorder *r, bool force);

void usc_trace_recorder_stats(const struct usc_trace_recorder *r,
                              struct usc_trace_rec_stats *st);

#endif /* USC_TRACE_RECORD_H */
