/* Decoding the event records of one packet: a parser of untrusted bytes. */
#ifndef USC_TRACE_PACKET_H
#define USC_TRACE_PACKET_H

#include <stddef.h>
#include <stdint.h>

#include "trace_schema.h"

/*
 * Event records come from guest memory or from a trace file, so every
 * record is checked before it is used: it starts 8-byte aligned, fits
 * before the end of the packet's content, names a valid class of the
 * schema, and its timestamp is not below the previous one nor outside
 * the packet's bounds. The first record that fails stops decoding of
 * that packet; what precedes it is good.
 */

/* One decoded event; (record) points into the caller's packet bytes. */
struct usc_trace_event {
    uint64_t timestamp;
    uint32_t id;
    uint32_t thread; /* the guest's thread id, 0: none */
    const struct usc_trace_class *cls;
    const unsigned char *record; /* cls->size bytes */
};

struct usc_trace_cursor {
    const struct usc_trace_schema *schema;
    const unsigned char *data;
    uint32_t off, end; /* next record, end of content: offsets in data */
    uint64_t last_ts, max_ts;
    int error; /* 0; -EINVAL once a record failed its checks */
};

/*
 * Start decoding the records of (data) from byte (start) to (end), against
 * (s), with timestamps in [min_ts, max_ts]. (data) and (s) must outlive
 * the cursor.
 */
void usc_trace_cursor_init(struct usc_trace_cursor *c,
                           const struct usc_trace_schema *s, const void *data,
                           uint32_t start, uint32_t end, uint64_t min_ts,
                           uint64_t max_ts);

/*
 * Decode the next record into (ev). Returns 1; 0 at the end of the
 * content; -EINVAL at a record that fails a check (c->off stays at it and
 * every later call returns -EINVAL too).
 */
int usc_trace_cursor_next(struct usc_trace_cursor *c,
                          struct usc_trace_event *ev);

/* What a walk over a packet's records found. */
struct usc_trace_walk {
    uint32_t events;   /* good records */
    uint32_t end;      /* offset just past the last good record */
    uint64_t first_ts; /* of the first good record, else min_ts */
    uint64_t last_ts;  /* of the last good record, else min_ts */
    int error;         /* 0, or -EINVAL: records from (end) on were bad */
};

/* Decode all of a packet's records as usc_trace_cursor_next would. */
void usc_trace_walk(const struct usc_trace_schema *s, const void *data,
                    uint32_t start, uint32_t end, uint64_t min_ts,
                    uint64_t max_ts, struct usc_trace_walk *w);

/*
 * Field (i) of (ev) (i < ev->cls->nfields): integers zero-extended
 * (unsigned, pointer) or sign-extended (signed, returned as its two's
 * complement); 0 for a string or a bad index.
 */
uint64_t usc_trace_event_value(const struct usc_trace_event *ev, unsigned i);

/*
 * String field (i) of (ev) into (buf, cap), up to its first NUL, with
 * bytes outside printable ASCII replaced by '?'; always NUL-terminated.
 * "" for a field that is not a string.
 */
void usc_trace_event_string(const struct usc_trace_event *ev, unsigned i,
                            char *buf, size_t cap);

#endif /* USC_TRACE_PACKET_H */
