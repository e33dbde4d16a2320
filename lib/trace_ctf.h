/* Writing a trace as a CTF 1.8 directory that babeltrace2 reads. */
#ifndef USC_TRACE_CTF_H
#define USC_TRACE_CTF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uniscope/abi.h>

#include "trace_reader.h"
#include "trace_schema.h"

/*
 * A trace directory holds:
 *   metadata        CTF 1.8 TSDL: the clock (the guest's timestamp and its
 *                   offset to wall-clock time), the packet and event
 *                   layouts, one event class per valid tracepoint;
 *   vcpuN           one stream per vCPU, whole packets of the guest's
 *                   packet size: the ring's bytes with this header and
 *                   context (88 bytes) in place of the guest's;
 *   .unitrace.json  what unitrace report and convert read (the classes,
 *                   thread names, the clock); babeltrace2 skips dot files.
 * The metadata and the JSON file are replaced by rename, streams only
 * grow by whole packets, so a writer killed at any point leaves a
 * directory babeltrace2 reads (docs/tracing.md).
 */

#define USC_CTF_MAGIC 0xc1fc1fc1u
#define USC_CTF_SIDECAR ".unitrace.json"

/* The packet header and context every stream packet starts with. */
struct usc_ctf_packet_header {
    uint32_t magic;
    uint8_t uuid[16];
    uint32_t stream_id;          /* 0: the one stream class */
    uint64_t stream_instance_id; /* the vCPU */
    uint64_t ts_begin;
    uint64_t ts_end;
    uint64_t content_size; /* bits */
    uint64_t packet_size;  /* bits */
    uint64_t packet_seq_num;
    uint64_t events_discarded; /* since the trace began */
    uint32_t cpu_id;
    uint32_t padding;
};

_Static_assert(sizeof(struct usc_ctf_packet_header) ==
                   sizeof(struct usc_trace_packet),
               "CTF header and context replace the guest's packet header");

/* What a trace says about where it came from. */
struct usc_ctf_info {
    char guest[USC_GUEST_NAME_MAX];
    uint8_t uuid[16];   /* set by usc_ctf_writer_open when all zero */
    uint64_t ts_hz;     /* 0 when unknown: taken as 1 GHz */
    bool offset_known;  /* the two values below map to wall-clock time */
    int64_t offset_s;   /* wall-clock seconds at guest timestamp 0 ... */
    uint64_t offset_ns; /* ... plus this many nanoseconds (< 1e9) */
    uint32_t nvcpus;
    char source[16]; /* "live", "core" */
    char mode[16];   /* "stream", "snapshot" */
};

struct usc_ctf_thread {
    uint32_t id;
    char name[USC_NAME_MAX];
};

struct usc_ctf_writer;

/*
 * Create the trace directory (dir) (it may exist, empty), write its
 * metadata and JSON file for (info) and (s) (copied), and store the
 * writer in (*out). Returns 0; -EEXIST for a directory that is not empty;
 * -EINVAL; -ENOMEM; another negative errno from the file system.
 */
int usc_ctf_writer_open(const char *dir, const struct usc_ctf_info *info,
                        const struct usc_trace_schema *s,
                        struct usc_ctf_writer **out);

/* The trace's info, its uuid filled. */
const struct usc_ctf_info *usc_ctf_writer_info(const struct usc_ctf_writer *w);

/* Replace the schema with (s), which extends the old one; rewrite both. */
int usc_ctf_writer_schema(struct usc_ctf_writer *w,
                          const struct usc_trace_schema *s);

/* Add thread names (threads, n) (later names win); written at flush. */
int usc_ctf_writer_threads(struct usc_ctf_writer *w,
                           const struct usc_ctf_thread *threads, size_t n);

/*
 * Queue the packet (p) of vCPU (vcpu)'s ring, whose bytes are (buf)
 * (packet_size of them, of which p->end are content), for its stream:
 * its header is overwritten with the CTF one and the bytes past the
 * content zeroed. (discarded): events the guest dropped since the trace
 * began, kept non-decreasing. A packet that would not follow the
 * stream's last one (its number or its timestamps go backwards) is
 * refused. Returns 0; -EINVAL refused; -errno writing.
 */
int usc_ctf_writer_packet(struct usc_ctf_writer *w, uint32_t vcpu,
                          unsigned char *buf, uint32_t packet_size,
                          const struct usc_trace_pkt *p, uint64_t discarded);

/*
 * Hand every queued packet to the writer's thread, which writes the
 * streams in the background, and write the JSON file if it changed;
 * returns at once (0, or an earlier write's error). A caller that must
 * not stall (a drain racing the guest) pushes; see usc_ctf_writer_flush.
 */
int usc_ctf_writer_push(struct usc_ctf_writer *w);

/* Push, then wait until every packet is in its file. */
int usc_ctf_writer_flush(struct usc_ctf_writer *w);

/* Flush, close and free (w); returns the flush's result. NULL: 0. */
int usc_ctf_writer_close(struct usc_ctf_writer *w);

/* Events and packets written (queued) so far, over all streams. */
void usc_ctf_writer_counts(const struct usc_ctf_writer *w, uint64_t *events,
                           uint64_t *packets);

#endif /* USC_TRACE_CTF_H */
