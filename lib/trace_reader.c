/* Reading a guest's trace rings through the checked gate, and steering them.
 */
#include "trace_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guestmem.h"
#include "trace_packet.h"

#define HEADER ((uint32_t)sizeof(struct usc_trace_packet))
/* Copies of a packet being filled before giving up on it for now. */
#define OPEN_TRIES 64
#define RING_FIELD(t, i, field)                                                \
    ((t)->rings.paddr + (uint64_t)(i) * sizeof(struct usc_trace_ring) +        \
     offsetof(struct usc_trace_ring, field))

/* What the host keeps of a ring descriptor that passed its checks. */
struct ring {
    bool usable;
    uint32_t packet_size, npackets, shift;
    uint64_t buf; /* guest-physical */
};

struct usc_trace {
    struct usc_agent *agent;
    const struct usc_physmem *pm;
    struct usc_gtable tps;
    struct usc_gtable rings;
    struct ring *ring; /* rings.capacity entries */
    struct usc_trace_schema schema;
};

static bool pow2(uint64_t x)
{
    return x && !(x & (x - 1));
}

/* Check descriptor (d) of ring (i) and keep what the reads need. */
static void check_ring(const struct usc_trace *t, uint32_t i,
                       const struct usc_trace_ring *d, struct ring *r)
{
    uint64_t bytes = (uint64_t)d->packet_size * d->npackets;

    memset(r, 0, sizeof(*r));
    /* a ring for a vCPU the guest says it cannot have: never merged */
    if (i >= usc_agent_header(t->agent)->max_vcpus)
        return;
    if (d->vcpu != i || d->npackets == 0 || !pow2(d->packet_size) ||
        d->packet_size < USC_TRACE_PACKET_MIN ||
        d->packet_size > USC_TRACE_PACKET_MAX || !pow2(d->npackets) ||
        bytes > USC_TRACE_MAX_RING_BYTES ||
        !usc_guestmem_in_ram(t->pm, d->buf.paddr, bytes))
        return;
    r->usable = true;
    r->packet_size = d->packet_size;
    r->npackets = d->npackets;
    r->buf = d->buf.paddr;
    while ((1u << r->shift) < r->packet_size)
        r->shift++;
}

/* Read (count) table entries into a new schema for (t). */
static int read_schema(struct usc_trace *t, uint32_t count)
{
    struct usc_tracepoint *raw = NULL;
    struct usc_trace_schema s = {0};
    int err = 0;

    if (count) {
        raw = calloc(count, sizeof(*raw));
        if (!raw)
            return -ENOMEM;
    }
    for (uint32_t i = 0; i < count && !err; i++)
        err = usc_gtable_read(&t->tps, i, &raw[i], sizeof(raw[i]));
    if (!err)
        err = usc_trace_schema_build(&s, raw, count);
    free(raw);
    if (err)
        return err;
    usc_trace_schema_free(&t->schema);
    t->schema = s;
    return 0;
}

int usc_trace_open(struct usc_agent *a, const struct usc_physmem *pm,
                   struct usc_trace **out)
{
    const struct usc_control_block *h;
    struct usc_agent_status st;
    struct usc_trace *t;
    int err;

    if (!a || !pm || !out)
        return -EINVAL;
    *out = NULL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->agent = a;
    t->pm = pm;
    h = usc_agent_header(a);
    /* The agent reader checked these descriptors when it opened. */
    err = usc_gtable_init(&t->tps, pm, &h->tracepoints,
                          sizeof(struct usc_tracepoint),
                          USC_AGENT_MAX_TRACEPOINTS);
    if (!err)
        err =
            usc_gtable_init(&t->rings, pm, &h->trace_rings,
                            sizeof(struct usc_trace_ring), USC_TRACE_MAX_RINGS);
    if (err)
        goto err;
    if (t->rings.capacity) {
        t->ring = calloc(t->rings.capacity, sizeof(*t->ring));
        if (!t->ring) {
            err = -ENOMEM;
            goto err;
        }
    }
    for (uint32_t i = 0; i < t->rings.capacity; i++) {
        struct usc_trace_ring d;
        err = usc_gtable_read(&t->rings, i, &d, sizeof(d));
        if (err)
            goto err;
        check_ring(t, i, &d, &t->ring[i]);
    }
    err = usc_agent_status(a, &st);
    if (!err)
        err = read_schema(t, st.tracepoints_count);
    if (err)
        goto err;
    *out = t;
    return 0;
err:
    usc_trace_close(t);
    return err;
}

void usc_trace_close(struct usc_trace *t)
{
    if (!t)
        return;
    usc_trace_schema_free(&t->schema);
    free(t->ring);
    free(t);
}

const struct usc_trace_schema *usc_trace_schema_of(const struct usc_trace *t)
{
    return &t->schema;
}

int usc_trace_refresh(struct usc_trace *t, bool *changed)
{
    struct usc_agent_status st;
    int err = usc_agent_status(t->agent, &st);

    *changed = false;
    if (err)
        return err;
    if (st.tracepoints_count <= t->schema.count)
        return 0;
    err = read_schema(t, st.tracepoints_count);
    if (!err)
        *changed = true;
    return err;
}

uint32_t usc_trace_nrings(const struct usc_trace *t)
{
    return t->rings.capacity;
}

static int load_field(struct usc_trace *t, uint32_t i, size_t offset,
                      uint64_t *v)
{
    return usc_gtable_load_u64(&t->rings, i, offset, v);
}

int usc_trace_ring_info(struct usc_trace *t, uint32_t ring,
                        struct usc_trace_ring_info *info)
{
    uint32_t mode = 0;
    int err;

    memset(info, 0, sizeof(*info));
    if (ring >= t->rings.capacity)
        return -EINVAL;
    const struct ring *r = &t->ring[ring];
    info->vcpu = ring;
    info->usable = r->usable;
    info->packet_size = r->packet_size;
    info->npackets = r->npackets;
    err = load_field(t, ring, offsetof(struct usc_trace_ring, pos), &info->pos);
    if (!err)
        err = load_field(t, ring, offsetof(struct usc_trace_ring, lost),
                         &info->lost);
    /* only the first 32 vCPUs have a bit: the others count as online */
    uint32_t online = UINT32_MAX;
    if (!err && ring < 32)
        err = usc_guestmem_load_u32(
            t->pm,
            usc_agent_paddr(t->agent) +
                offsetof(struct usc_control_block, vcpus_online),
            &online);
    info->vcpu_online = ring >= 32 || (online >> ring & 1);
    info->emitted_known =
        (usc_agent_header(t->agent)->features & USC_FEATURE_RING_EMITTED) != 0;
    if (!err && info->emitted_known)
        err = load_field(t, ring, offsetof(struct usc_trace_ring, emitted),
                         &info->emitted);
    if (!err)
        err = load_field(t, ring, offsetof(struct usc_trace_ring, tail),
                         &info->tail);
    if (!err)
        err = load_field(t, ring, offsetof(struct usc_trace_ring, stream_until),
                         &info->stream_until);
    if (!err)
        err = usc_guestmem_load_u32(t->pm, RING_FIELD(t, ring, mode), &mode);
    info->mode = mode;
    return err;
}

/* Guest-physical address of class (id)'s flag, checked aligned. */
static int flag_paddr(const struct usc_trace *t, uint32_t id, uint64_t *paddr)
{
    if (id >= t->schema.count || !t->schema.classes[id].valid)
        return -EINVAL;
    *paddr = t->schema.classes[id].enabled_paddr;
    return *paddr & 3 ? -EINVAL : 0;
}

int usc_trace_get_enabled(struct usc_trace *t, uint32_t id, bool *on)
{
    uint64_t paddr;
    uint32_t v = 0;
    int err = flag_paddr(t, id, &paddr);

    if (!err)
        err = usc_guestmem_load_u32(t->pm, paddr, &v);
    *on = v != 0;
    return err;
}

int usc_trace_set_enabled(struct usc_trace *t, uint32_t id, bool on)
{
    uint64_t paddr;
    int err = flag_paddr(t, id, &paddr);

    return err ? err : usc_guestmem_store_u32(t->pm, paddr, on ? 1 : 0);
}

int usc_trace_set_tail(struct usc_trace *t, uint32_t ring, uint64_t tail)
{
    if (ring >= t->rings.capacity)
        return -EINVAL;
    return usc_guestmem_store_u64(t->pm, RING_FIELD(t, ring, tail), tail);
}

int usc_trace_set_lease(struct usc_trace *t, uint32_t ring, uint64_t until)
{
    if (ring >= t->rings.capacity)
        return -EINVAL;
    return usc_guestmem_store_u64(t->pm, RING_FIELD(t, ring, stream_until),
                                  until);
}

int usc_trace_set_stream(struct usc_trace *t, uint32_t ring, bool stream,
                         uint64_t tail, uint64_t until)
{
    int err = 0;

    if (ring >= t->rings.capacity)
        return -EINVAL;
    if (stream) {
        err = usc_trace_set_tail(t, ring, tail);
        if (!err)
            err = usc_trace_set_lease(t, ring, until);
    }
    if (!err)
        err = usc_guestmem_store_u32(t->pm, RING_FIELD(t, ring, mode),
                                     stream ? USC_TRACE_STREAM
                                            : USC_TRACE_OVERWRITE);
    return err;
}

/* ---- packets ------------------------------------------------------------ */

/* Check the copied header (h) of packet (seq), open or closed, and the
 * content end (end) its state gives. */
static int check_header(const struct usc_trace_packet *h, uint32_t ps,
                        bool open, uint32_t end)
{
    if (open ? h->content_size != 0 || h->ts_end != 0
             : h->content_size != end || h->ts_end < h->ts_begin)
        return -EINVAL;
    if (end < HEADER || end > ps || (end & 7))
        return -EINVAL;
    return 0;
}

/*
 * One attempt at packet (seq) of ring (ring), the guest's position being
 * (pos). Returns 0, 1 to try again (an open packet that moved, unless
 * this is the (last) try), or an error.
 */
static int copy_packet(struct usc_trace *t, uint32_t ring, uint64_t seq,
                       uint64_t pos, bool force, bool last, unsigned char *buf,
                       struct usc_trace_pkt *out)
{
    const struct ring *r = &t->ring[ring];
    const struct usc_trace_packet *h = (const void *)buf;
    uint64_t cur = pos >> r->shift;
    uint64_t at = r->buf + (uint64_t)(seq & (r->npackets - 1)) * r->packet_size;
    uint64_t s1, s2, pos2;
    bool open = seq == cur;
    uint32_t end;
    int err;

    if (seq > cur)
        return -EAGAIN;
    if (cur - seq >= r->npackets)
        return -ESTALE;
    err = usc_guestmem_load_u64(t->pm, at, &s1);
    if (err)
        return err;
    if (s1 != seq)
        /* Recycling or recycled: gone. Older: the guest never opened it. */
        return s1 == USC_TRACE_SEQ_BUSY || s1 > seq ? -ESTALE : -EINVAL;
    err = usc_guestmem_read(t->pm, at, buf, HEADER);
    if (err)
        return err;
    /* Closed since (pos) was read: the next try sees it closed. */
    if (open && (h->content_size || h->ts_end))
        return last ? -EAGAIN : 1;
    end = open ? (uint32_t)(pos & (r->packet_size - 1)) : h->content_size;
    err = check_header(h, r->packet_size, open, end);
    if (!err)
        err = usc_guestmem_read(t->pm, at + HEADER, buf + HEADER, end - HEADER);
    if (err)
        return err;
    /* The copy's loads complete before the number is checked again. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    err = usc_guestmem_load_u64(t->pm, at, &s2);
    if (err)
        return err;
    if (s2 != seq)
        return -ESTALE;
    bool complete = h->commit == end;
    if (open) {
        err = load_field(t, ring, offsetof(struct usc_trace_ring, pos), &pos2);
        if (err)
            return err;
        /* Events added meanwhile may be in commit: it proves nothing. */
        if (pos2 != pos)
            complete = false;
    }
    if (!complete) {
        if (open && !last)
            return 1;
        if (!force)
            return -EAGAIN;
    }

    struct usc_trace_walk w;
    usc_trace_walk(&t->schema, buf, HEADER, end, h->ts_begin,
                   open ? UINT64_MAX : h->ts_end, &w);
    memset(out, 0, sizeof(*out));
    out->seq = seq;
    out->ts_begin = h->ts_begin;
    out->ts_end = open ? w.last_ts : h->ts_end;
    out->lost = h->lost;
    out->end = w.end;
    out->events = w.events;
    out->open = open;
    out->incomplete = !complete;
    out->truncated = w.error != 0;
    return 0;
}

int usc_trace_read_packet(struct usc_trace *t, uint32_t ring, uint64_t seq,
                          bool force, unsigned char *buf,
                          struct usc_trace_pkt *out)
{
    uint64_t pos;
    int err;

    if (ring >= t->rings.capacity)
        return -EINVAL;
    if (!t->ring[ring].usable)
        return -ENOENT;
    for (int i = 0; i < OPEN_TRIES; i++) {
        err = load_field(t, ring, offsetof(struct usc_trace_ring, pos), &pos);
        if (err)
            return err;
        err = copy_packet(t, ring, seq, pos, force, i == OPEN_TRIES - 1, buf,
                          out);
        if (err != 1)
            return err;
    }
    return -EAGAIN;
}
