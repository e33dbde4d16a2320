/* Draining (stream mode) or snapshotting (flight recorder) trace rings. */
#include "trace_record.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Drains a closed packet may wait for its last commits before it is forced:
 * a writer interrupted for good (a crash, a halted vCPU) never commits. */
#define STUCK_DRAINS 50
/* Tries of a packet a live guest is still committing, in a snapshot. */
#define SNAPSHOT_TRIES 20
/*
 * Seconds between a drain's housekeeping: looking for new tracepoints,
 * renewing the stream lease, handing what was drained to the writer's
 * thread. A drain may run far more often (a polling core); a recorder
 * killed loses at most this much of what it drained, and what the writer
 * had not written yet.
 */
#define HOUSEKEEPING_S 0.05
/* The part of a ring a drain lets fill, at the fastest rate seen lately. */
#define FILL_AIM 0.25
/* Shortest wait usc_trace_recorder_wait_us suggests. */
#define WAIT_MIN_US 50
/* Seconds over which a fast rate seen once is forgotten. */
#define RATE_MEMORY_S 1.0

struct rstate {
    bool usable;
    uint32_t packet_size, npackets;
    uint64_t next;      /* next packet to consume */
    uint64_t last_pos;  /* the guest's pos at the last drain */
    double rate;        /* bytes/s it fills at, the fastest lately */
    uint64_t base_lost; /* the guest's lost count when recording began */
    uint64_t discarded; /* reported in its stream so far */
    uint32_t stuck;
};

struct usc_trace_recorder {
    struct usc_agent *agent;
    struct usc_trace *trace;
    struct usc_ctf_writer *writer;
    uint32_t nrings;
    struct rstate *rs;
    unsigned char *buf; /* one packet */
    bool streaming;
    uint64_t lease_ticks;
    double last_housekeeping;
    double last_drain; /* when the last drain began, 0: none yet */
    uint64_t drains;   /* since the stream began */
    uint32_t schema_count;
    struct usc_trace_rec_stats st;
};

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int usc_trace_recorder_new(struct usc_agent *a, struct usc_trace *t,
                           struct usc_ctf_writer *w,
                           struct usc_trace_recorder **out)
{
    struct usc_trace_recorder *r;
    int err = 0;

    *out = NULL;
    r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->agent = a;
    r->trace = t;
    r->writer = w;
    r->nrings = usc_trace_nrings(t);
    r->rs = calloc(r->nrings ? r->nrings : 1, sizeof(*r->rs));
    r->buf = malloc(USC_TRACE_PACKET_MAX);
    if (!r->rs || !r->buf) {
        err = -ENOMEM;
        goto err;
    }
    for (uint32_t i = 0; i < r->nrings; i++) {
        struct usc_trace_ring_info info;
        err = usc_trace_ring_info(t, i, &info);
        if (err)
            goto err;
        r->rs[i].usable = info.usable;
        r->rs[i].packet_size = info.packet_size;
        r->rs[i].npackets = info.npackets;
        r->rs[i].base_lost = info.lost;
        if (info.usable)
            r->rs[i].next = info.pos / info.packet_size;
    }
    r->schema_count = usc_trace_schema_of(t)->count;
    *out = r;
    return 0;
err:
    usc_trace_recorder_free(r);
    return err;
}

void usc_trace_recorder_free(struct usc_trace_recorder *r)
{
    if (!r)
        return;
    free(r->rs);
    free(r->buf);
    free(r);
}

void usc_trace_recorder_stats(const struct usc_trace_recorder *r,
                              struct usc_trace_rec_stats *st)
{
    *st = r->st;
    st->discarded = 0;
    for (uint32_t i = 0; i < r->nrings; i++)
        st->discarded += r->rs[i].discarded;
    usc_ctf_writer_counts(r->writer, &st->events, &st->packets);
}

/* New tracepoints: the trace's metadata must name them before their events.
 */
static int refresh_schema(struct usc_trace_recorder *r)
{
    bool changed = false;
    int err = usc_trace_refresh(r->trace, &changed);

    if (!err && changed) {
        err = usc_ctf_writer_schema(r->writer, usc_trace_schema_of(r->trace));
        r->schema_count = usc_trace_schema_of(r->trace)->count;
    }
    return err;
}

/*
 * Write packet (p) of ring (i), read into r->buf; (lost): the guest's lost
 * count to report with it. Empty packets are written only to carry news
 * of discarded events.
 */
static int emit(struct usc_trace_recorder *r, uint32_t i,
                const struct usc_trace_pkt *p, uint64_t lost)
{
    struct rstate *s = &r->rs[i];
    uint64_t discarded = lost > s->base_lost ? lost - s->base_lost : 0;

    if (p->truncated)
        r->st.truncated++;
    if (p->incomplete)
        r->st.incomplete++;
    if (p->events == 0 && discarded <= s->discarded)
        return 0;
    int err = usc_ctf_writer_packet(r->writer, i, r->buf, s->packet_size, p,
                                    discarded);
    if (err == -EINVAL) {
        /* Out of order for its stream: a corrupt header. */
        r->st.lost_packets++;
        return 0;
    }
    if (!err && discarded > s->discarded)
        s->discarded = discarded;
    return err;
}

static int read_packet(struct usc_trace_recorder *r, uint32_t i, uint64_t seq,
                       bool force, struct usc_trace_pkt *p)
{
    int err = usc_trace_read_packet(r->trace, i, seq, force, r->buf, p);

    /* A record of a tracepoint published after our last look: look again. */
    if (err == 0 && p->truncated &&
        usc_trace_schema_of(r->trace)->count == r->schema_count) {
        bool changed = false;
        if (usc_trace_refresh(r->trace, &changed) == 0 && changed) {
            err =
                usc_ctf_writer_schema(r->writer, usc_trace_schema_of(r->trace));
            r->schema_count = usc_trace_schema_of(r->trace)->count;
            if (!err)
                err = usc_trace_read_packet(r->trace, i, seq, force, r->buf, p);
        }
    }
    return err;
}

/* Consume ring (i)'s closed packets; with (final), its open one as well. */
static int drain_ring(struct usc_trace_recorder *r, uint32_t i, bool final)
{
    struct rstate *s = &r->rs[i];
    struct usc_trace_ring_info info;
    struct usc_trace_pkt p;
    int err = usc_trace_ring_info(r->trace, i, &info);

    if (err)
        return err;
    uint64_t cur = info.pos / s->packet_size;
    /* The guest went back: it rebooted, or its ring is corrupt. */
    if (cur < s->next)
        return -ESTALE;
    if (r->streaming && !final) {
        /* how full the guest found its ring: the drain's lag */
        double fill = (double)(cur - s->next) / s->npackets;
        if (fill > r->st.max_fill)
            r->st.max_fill = fill;
    }
    if (cur - s->next >= s->npackets) {
        r->st.lost_packets += cur - s->next - (s->npackets - 1);
        s->next = cur - (s->npackets - 1);
    }
    while (s->next < cur || (final && s->next == cur)) {
        bool open = s->next == cur;
        err = read_packet(r, i, s->next, final || s->stuck >= STUCK_DRAINS, &p);
        if (err == -EAGAIN && !final) {
            /* still being committed: later; what came before goes back */
            s->stuck++;
            break;
        }
        s->stuck = 0;
        if (err == -EAGAIN || err == -ESTALE || err == -EINVAL) {
            r->st.lost_packets++;
        } else if (err) {
            return err;
        } else {
            uint64_t lost = p.lost;
            /* The last packet also reports what was dropped after it. */
            if (open && info.lost > lost)
                lost = info.lost;
            err = emit(r, i, &p, lost);
            if (err)
                return err;
        }
        s->next++;
        if (open)
            break;
    }
    if (r->streaming && !final)
        return usc_trace_set_tail(r->trace, i, s->next);
    return 0;
}

/* The guest's time now, as far as the host can tell: its last heartbeat. */
static int guest_now(struct usc_trace_recorder *r, uint64_t *now)
{
    struct usc_agent_status st;
    int err = usc_agent_status(r->agent, &st);

    *now = st.heartbeat_ts;
    return err;
}

int usc_trace_recorder_stream_begin(struct usc_trace_recorder *r,
                                    double lease_s)
{
    uint64_t now;
    int err = guest_now(r, &now);
    uint64_t hz = usc_agent_header(r->agent)->ts_hz;

    if (err)
        return err;
    r->lease_ticks = (uint64_t)(lease_s * (double)(hz ? hz : 1000000000ull));
    r->streaming = true;
    r->drains = 0;
    r->last_housekeeping = monotonic_s();
    for (uint32_t i = 0; i < r->nrings; i++) {
        struct usc_trace_ring_info info;
        struct rstate *s = &r->rs[i];
        if (!s->usable)
            continue;
        err = usc_trace_ring_info(r->trace, i, &info);
        if (err)
            return err;
        s->next = info.pos / s->packet_size;
        s->base_lost = info.lost;
        err = usc_trace_set_stream(r->trace, i, true, s->next,
                                   now + r->lease_ticks);
        if (err)
            return err;
    }
    return 0;
}

/* New tracepoints, a renewed lease, the files written. */
static int housekeeping(struct usc_trace_recorder *r)
{
    uint64_t now = 0;
    int err = refresh_schema(r);

    if (!err && r->streaming)
        err = guest_now(r, &now);
    for (uint32_t i = 0; i < r->nrings && !err && r->streaming; i++)
        if (r->rs[i].usable)
            err = usc_trace_set_lease(r->trace, i, now + r->lease_ticks);
    /* the files are written by the writer's thread: this must not wait */
    if (!err)
        err = usc_ctf_writer_push(r->writer);
    return err;
}

/* How fast ring (i) fills, from how far it moved over (dt) seconds. */
static void measure_rate(struct usc_trace_recorder *r, uint32_t i, double dt)
{
    struct rstate *s = &r->rs[i];
    struct usc_trace_ring_info info;

    if (usc_trace_ring_info(r->trace, i, &info) || info.pos < s->last_pos)
        return;
    if (dt > 0) {
        double now = (double)(info.pos - s->last_pos) / dt;
        double keep = dt >= RATE_MEMORY_S ? 0 : 1 - dt / RATE_MEMORY_S;

        /* the fastest rate is kept, and forgotten over RATE_MEMORY_S */
        s->rate = now > s->rate * keep ? now : s->rate * keep;
    }
    s->last_pos = info.pos;
}

int usc_trace_recorder_drain(struct usc_trace_recorder *r)
{
    int err = 0;
    double t = monotonic_s();

    if (r->last_drain > 0 && t - r->last_drain > r->st.max_gap_s)
        r->st.max_gap_s = t - r->last_drain;
    for (uint32_t i = 0; i < r->nrings; i++)
        if (r->rs[i].usable)
            measure_rate(r, i, r->last_drain > 0 ? t - r->last_drain : 0);
    r->last_drain = t;
    r->drains++;
    if (t - r->last_housekeeping >= HOUSEKEEPING_S) {
        r->last_housekeeping = t;
        err = housekeeping(r);
    }
    for (uint32_t i = 0; i < r->nrings && !err; i++)
        if (r->rs[i].usable)
            err = drain_ring(r, i, false);
    return err;
}

uint64_t usc_trace_recorder_wait_us(const struct usc_trace_recorder *r,
                                    uint64_t max_us)
{
    double wait = (double)max_us / 1e6;

    for (uint32_t i = 0; i < r->nrings; i++) {
        const struct rstate *s = &r->rs[i];
        double w;

        if (!s->usable)
            continue;
        /* not measured yet (a stream just began): assume it is fast */
        if (s->rate <= 0 && r->streaming && r->drains < 2)
            return WAIT_MIN_US < max_us ? WAIT_MIN_US : max_us;
        if (s->rate <= 0)
            continue;
        w = FILL_AIM * (double)s->npackets * s->packet_size / s->rate;
        if (w < wait)
            wait = w;
    }
    wait *= 1e6;
    if (wait < WAIT_MIN_US)
        wait = WAIT_MIN_US < max_us ? WAIT_MIN_US : (double)max_us;
    return (uint64_t)wait;
}

int usc_trace_recorder_stream_end(struct usc_trace_recorder *r)
{
    int err = refresh_schema(r);

    for (uint32_t i = 0; i < r->nrings && !err; i++) {
        if (!r->rs[i].usable)
            continue;
        err = drain_ring(r, i, false);
        if (!err)
            err = drain_ring(r, i, true);
    }
    /* Whatever happened, give the guest its flight recorder back. */
    for (uint32_t i = 0; i < r->nrings; i++)
        if (r->rs[i].usable)
            usc_trace_set_stream(r->trace, i, false, 0, 0);
    r->streaming = false;
    if (!err)
        err = usc_ctf_writer_flush(r->writer);
    return err;
}

/* Write the newest packets of ring (i), oldest first. */
static int snapshot_ring(struct usc_trace_recorder *r, uint32_t i, bool force)
{
    struct rstate *s = &r->rs[i];
    struct usc_trace_ring_info info;
    struct usc_trace_pkt p;
    bool wrote = false;
    int err = usc_trace_ring_info(r->trace, i, &info);

    if (err)
        return err;
    uint64_t cur = info.pos / s->packet_size;
    uint64_t first = cur >= s->npackets - 1 ? cur - (s->npackets - 1) : 0;
    /* Losses are counted from the oldest packet taken. */
    s->base_lost = UINT64_MAX;
    for (uint64_t seq = first; seq <= cur; seq++) {
        for (int k = 0; k < SNAPSHOT_TRIES; k++) {
            err = usc_trace_read_packet(
                r->trace, i, seq, force || k == SNAPSHOT_TRIES - 1, r->buf, &p);
            if (err != -EAGAIN)
                break;
        }
        if (err == -ESTALE || err == -EINVAL || err == -EAGAIN) {
            /* The oldest being overwritten as we go is no loss: history. */
            if (wrote)
                r->st.lost_packets++;
            continue;
        }
        if (err)
            return err;
        if (s->base_lost == UINT64_MAX)
            s->base_lost = p.lost;
        err = emit(r, i, &p,
                   seq == cur && info.lost > p.lost ? info.lost : p.lost);
        if (err)
            return err;
        wrote = true;
    }
    return 0;
}

int usc_trace_recorder_snapshot(struct usc_trace_recorder *r, bool force)
{
    int err = refresh_schema(r);

    for (uint32_t i = 0; i < r->nrings && !err; i++)
        if (r->rs[i].usable)
            err = snapshot_ring(r, i, force);
    if (!err)
        err = usc_ctf_writer_flush(r->writer);
    return err;
}
