/* A guest's tracepoints and trace rings, read (and steered) from the host. */
#ifndef USC_TRACE_READER_H
#define USC_TRACE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uniscope/abi.h>

#include "agent_reader.h"
#include "physmem.h"
#include "trace_schema.h"

/*
 * Everything here is read from guest memory through the checked gate
 * (guestmem.h) and validated: ring descriptors when opened, packets each
 * time one is read. Writes (enable flags, stream mode, the consumed tail)
 * are data writes through the physmem's write member. Functions return 0
 * or a negative errno: -EINVAL corrupt guest data or a bad argument,
 * -EFAULT unreadable, -ENOTSUP no write access, -ENOMEM.
 */

/* Most rings (vCPUs) a trace may have, and largest ring, in bytes. */
#define USC_TRACE_MAX_RINGS USC_AGENT_MAX_TRACE_RINGS
#define USC_TRACE_MAX_RING_BYTES (1ull << 30)

struct usc_trace;

/*
 * Open the tracing side of the agent (a) on (pm) (both borrowed, to
 * outlive the handle): read the tracepoint table into a schema and check
 * every ring descriptor (packet size a power of two in the ABI's bounds,
 * npackets a power of two, the buffer in RAM, vcpu its index); a ring
 * that fails is kept but unusable (usc_trace_ring_info says so), as are
 * the rings of vCPUs at or above the header's max_vcpus. Stores
 * the handle in (*out), freed by usc_trace_close.
 */
int usc_trace_open(struct usc_agent *a, const struct usc_physmem *pm,
                   struct usc_trace **out);

/* Free (t); NULL is a no-op. */
void usc_trace_close(struct usc_trace *t);

/* The event classes read so far, owned by (t). */
const struct usc_trace_schema *usc_trace_schema_of(const struct usc_trace *t);

/*
 * Read the tracepoint table again if the guest published more entries
 * since; (*changed) says whether it did. Entries never change once
 * published, so the schema only grows.
 */
int usc_trace_refresh(struct usc_trace *t, bool *changed);

/* Number of ring descriptors (the guest's max_vcpus). */
uint32_t usc_trace_nrings(const struct usc_trace *t);

struct usc_trace_ring_info {
    uint32_t vcpu;
    bool usable;          /* a buffer whose descriptor passed the checks,
                             for a vCPU below the guest's max_vcpus */
    bool vcpu_online;     /* the guest marks that vCPU online (vCPUs from
                             32 on have no bit and count as online): a
                             ring with events for one never online is
                             the guest's error, shown as such */
    uint32_t packet_size; /* 0 unless usable */
    uint32_t npackets;    /* 0 unless usable */
    uint32_t mode;        /* enum usc_trace_mode, as the host last set it */
    uint64_t pos;         /* bytes reserved since boot */
    uint64_t lost;        /* events the guest dropped */
    bool emitted_known;   /* the agent counts emitted (a feature bit) */
    uint64_t emitted;     /* events the vCPU recorded or dropped: once no
                             event is in flight, events in its packets
                             since boot + lost */
    uint64_t tail;
    uint64_t stream_until;
};

/* The fixed and the live state of ring (ring) into (info). */
int usc_trace_ring_info(struct usc_trace *t, uint32_t ring,
                        struct usc_trace_ring_info *info);

/* Read or set the enable flag of class (id). */
int usc_trace_get_enabled(struct usc_trace *t, uint32_t id, bool *on);
int usc_trace_set_enabled(struct usc_trace *t, uint32_t id, bool on);

/*
 * Steer ring (ring): stream mode (consumed up to packet (tail), lapsing
 * at guest timestamp (until) unless renewed) or overwrite (the other
 * values then do not matter). The tail and the lease are stored before
 * the mode, so the guest never sees stream mode with stale ones.
 */
int usc_trace_set_stream(struct usc_trace *t, uint32_t ring, bool stream,
                         uint64_t tail, uint64_t until);
int usc_trace_set_tail(struct usc_trace *t, uint32_t ring, uint64_t tail);
int usc_trace_set_lease(struct usc_trace *t, uint32_t ring, uint64_t until);

/* A packet, copied out of a ring and checked. */
struct usc_trace_pkt {
    uint64_t seq;      /* its number in the ring since boot */
    uint64_t ts_begin; /* when opened */
    uint64_t ts_end;   /* when closed; for an open one, its last event's */
    uint64_t lost;     /* the ring's lost count when it was opened */
    uint32_t end;      /* bytes of good content: header and good events */
    uint32_t events;   /* good events */
    bool open;         /* read while the guest was still filling it */
    bool incomplete;   /* taken with commits missing (forced) */
    bool truncated;    /* bad records were cut off its end */
};

/*
 * Copy packet number (seq) of ring (ring) into (buf) (packet_size bytes)
 * and check it: its header (number, sizes, timestamps) and every record
 * (usc_trace_walk); records past a bad one are cut off. The packet being
 * filled is read up to the guest's position, when that holds still
 * during the copy. Unless (force), a packet whose reservations are not
 * all committed is not taken. Returns 0 with (out) filled; -EAGAIN not
 * written yet, commits missing, or a busy open packet (try later, or
 * force); -ESTALE overwritten (before or during the copy); -EINVAL a
 * corrupt header; -ENOENT a ring without a usable buffer; -EFAULT.
 */
int usc_trace_read_packet(struct usc_trace *t, uint32_t ring, uint64_t seq,
                          bool force, unsigned char *buf,
                          struct usc_trace_pkt *out);

#endif /* USC_TRACE_READER_H */
