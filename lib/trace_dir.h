/* Reading back a trace directory unitrace wrote: an untrusted input. */
#ifndef USC_TRACE_DIR_H
#define USC_TRACE_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace_ctf.h"
#include "trace_packet.h"

/*
 * The directory's JSON description gives the event classes (checked as a
 * guest's table is); each vcpuN stream is read packet by packet, every
 * header and record checked (trace_packet.h). A bad packet header ends
 * its stream (counted); a bad record ends its packet (counted).
 */

struct usc_trace_dir;

/* What reading one stream found. */
struct usc_trace_stream_stats {
    uint32_t vcpu;
    uint64_t packets;           /* good packet headers */
    uint64_t events;            /* good records */
    uint64_t first_seq;         /* number of its first packet */
    uint64_t missing;           /* packets missing between its first and last */
    uint64_t discarded;         /* events the tracer dropped, its last report */
    uint64_t bad_records;       /* packets cut short by a bad record */
    bool bad_packet;            /* reading stopped at a bad packet header */
    uint64_t ts_first, ts_last; /* of its records */
};

/*
 * Open trace directory (dir): parse its description and map its streams.
 * Stores the handle in (*out). Returns 0; -ENOENT without a description
 * (not a unitrace trace); -EINVAL for a malformed one; -ENOMEM; -errno.
 */
int usc_trace_dir_open(const char *dir, struct usc_trace_dir **out);

void usc_trace_dir_close(struct usc_trace_dir *d);

const struct usc_ctf_info *usc_trace_dir_info(const struct usc_trace_dir *d);
const struct usc_trace_schema *
usc_trace_dir_schema(const struct usc_trace_dir *d);

/* The thread names recorded, (*n) of them. */
const struct usc_ctf_thread *
usc_trace_dir_threads(const struct usc_trace_dir *d, size_t *n);

/* The name of thread (id), or NULL. */
const char *usc_trace_dir_thread_name(const struct usc_trace_dir *d,
                                      uint32_t id);

/* One event of the merged streams; its record lies in the mapped file. */
struct usc_trace_dir_event {
    struct usc_trace_event ev;
    uint32_t vcpu;
};

/*
 * The next event of all streams, merged in timestamp order (ties: lower
 * vCPU first). Returns 1; 0 when every stream is done.
 */
int usc_trace_dir_next(struct usc_trace_dir *d,
                       struct usc_trace_dir_event *out);

/* Streams, and what reading each found (complete once next returned 0). */
size_t usc_trace_dir_nstreams(const struct usc_trace_dir *d);
const struct usc_trace_stream_stats *
usc_trace_dir_stream(const struct usc_trace_dir *d, size_t i);

#endif /* USC_TRACE_DIR_H */
