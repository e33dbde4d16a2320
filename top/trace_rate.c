/* Trace events per second of a guest, counted in its rings without draining. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "unitop.h"

/* What was last seen of one ring. */
struct ring_seen {
    int known;
    uint64_t seq;         /* the packet being filled */
    uint32_t open_events; /* ... and its events then */
};

int top_trace_open(struct top_trace *tr, struct usc_agent *a,
                   const struct usc_physmem *pm)
{
    int err;

    memset(tr, 0, sizeof(*tr));
    if (usc_agent_header(a)->trace_rings.capacity == 0)
        return 0;
    err = usc_trace_open(a, pm, &tr->t);
    if (err)
        return err;
    tr->nrings = usc_trace_nrings(tr->t);
    tr->seen = calloc(tr->nrings ? tr->nrings : 1, sizeof(*tr->seen));
    if (!tr->seen) {
        top_trace_close(tr);
        return -ENOMEM;
    }
    return 0;
}

void top_trace_close(struct top_trace *tr)
{
    usc_trace_close(tr->t);
    free(tr->seen);
    memset(tr, 0, sizeof(*tr));
}

/*
 * Events in packet (seq) of (ring), into (*events); the packet being
 * filled is taken as it is. -EAGAIN for one not started yet.
 */
static int count(struct top_trace *tr, uint32_t ring, uint64_t seq, int open,
                 unsigned char *buf, uint32_t *events)
{
    struct usc_trace_pkt pkt;
    int err = usc_trace_read_packet(tr->t, ring, seq, open, buf, &pkt);

    if (err)
        return err;
    *events = pkt.events;
    return 0;
}

/*
 * Events written to (ring) since the last look, from its position: exact
 * while the guest fills one packet; across packets, the packets between
 * are taken to hold as many as the last one closed (a flight recorder may
 * have overwritten them: counting them is not possible anyway).
 */
static int ring_events(struct top_trace *tr, uint32_t ring,
                       const struct usc_trace_ring_info *info,
                       unsigned char *buf, uint64_t *delta)
{
    struct ring_seen *s = &tr->seen[ring];
    uint64_t seq = info->pos / info->packet_size;
    uint32_t open = 0, per = 0;
    int err = count(tr, ring, seq, 1, buf, &open);

    *delta = 0;
    /* At a packet boundary the next packet is not written yet. */
    if (err == -EAGAIN && info->pos % info->packet_size == 0)
        err = 0;
    if (err) {
        s->known = 0;
        return err;
    }
    if (s->known && seq == s->seq && open >= s->open_events) {
        *delta = open - s->open_events;
    } else if (s->known && seq > s->seq) {
        if (count(tr, ring, seq - 1, 0, buf, &per) != 0)
            per = s->open_events > open ? s->open_events : open;
        *delta = (per > s->open_events ? per - s->open_events : 0) +
                 (seq - s->seq - 1) * per + open;
    } else if (s->known) {
        err = -ESTALE; /* the ring went back: a reboot */
    }
    s->known = 1;
    s->seq = seq;
    s->open_events = open;
    return err;
}

int top_trace_sample(struct top_trace *tr, unsigned char *buf, uint64_t *events,
                     int *events_known, uint64_t *lost)
{
    int known = 1;

    *events = 0;
    *lost = 0;
    for (uint32_t r = 0; r < tr->nrings; r++) {
        struct usc_trace_ring_info info;
        uint64_t d = 0;
        int err = usc_trace_ring_info(tr->t, r, &info);

        if (err)
            return err;
        *lost += info.lost;
        if (!info.usable || info.packet_size == 0)
            continue;
        if (ring_events(tr, r, &info, buf, &d) != 0)
            known = 0;
        *events += d;
    }
    *events_known = known;
    return 0;
}
