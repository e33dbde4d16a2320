/* Private state of the agent's tracing, shared by trace_points.c and
 * trace_ring.c. */
#ifndef USCA_TRACE_INTERNAL_H
#define USCA_TRACE_INTERNAL_H

#include "internal.h"

#ifndef USCA_MAX_TRACEPOINTS
#define USCA_MAX_TRACEPOINTS 128
#endif
/* vCPUs that get a ring buffer; the others only count what they lose. */
#ifndef USCA_TRACE_RINGS
#define USCA_TRACE_RINGS 4
#endif
#ifndef USCA_TRACE_RING_SIZE
#define USCA_TRACE_RING_SIZE (256 * 1024) /* bytes per vCPU, a power of two */
#endif
#ifndef USCA_TRACE_PACKET_SIZE
#define USCA_TRACE_PACKET_SIZE 4096 /* a power of two */
#endif

#define USCA_TRACE_HEADER ((uint32_t)sizeof(struct usc_trace_packet))
#define USCA_TRACE_NPACKETS (USCA_TRACE_RING_SIZE / USCA_TRACE_PACKET_SIZE)

_Static_assert((USCA_TRACE_PACKET_SIZE & (USCA_TRACE_PACKET_SIZE - 1)) == 0 &&
                   USCA_TRACE_PACKET_SIZE >= USC_TRACE_PACKET_MIN &&
                   USCA_TRACE_PACKET_SIZE <= USC_TRACE_PACKET_MAX,
               "packet size: a power of two in the ABI's bounds");
_Static_assert((USCA_TRACE_NPACKETS & (USCA_TRACE_NPACKETS - 1)) == 0 &&
                   USCA_TRACE_NPACKETS >= 2,
               "a ring holds a power of two (>= 2) of packets");
_Static_assert(USCA_TRACE_RINGS >= 1 && USCA_TRACE_RINGS <= USCA_MAX_VCPUS,
               "rings: 1 .. USCA_MAX_VCPUS");

/*
 * The tracing storage, apart from the control block's area so that its
 * size stays a compile-time choice of its own; each table in it is
 * physically contiguous because the object is.
 */
struct usca_trace_area {
    struct usc_tracepoint tps[USCA_MAX_TRACEPOINTS];
    struct usc_trace_ring rings[USCA_MAX_VCPUS] __attribute__((aligned(64)));
    unsigned char buf[USCA_TRACE_RINGS][USCA_TRACE_RING_SIZE]
        __attribute__((aligned(USC_ABI_PAGE_SIZE)));
} __attribute__((aligned(USC_ABI_PAGE_SIZE)));

extern struct usca_trace_area usca_trace_area USCA_HIDDEN;

/* Register the agent's own tracepoints (agent_panic); from setup. */
void usca_trace_builtin(void) USCA_HIDDEN;

#endif /* USCA_TRACE_INTERNAL_H */
