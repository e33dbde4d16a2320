/* The CTF trace writer: one stream per vCPU, whole packets appended. */
#include "trace_ctf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace_files.h"
#include "writeq.h"

#define HEADER ((uint32_t)sizeof(struct usc_ctf_packet_header))
#define STREAM_BUFFER (256u * 1024) /* bytes queued per stream */
/* Chunks the background writer may hold: 64 MiB written late at most. */
#define WRITE_CHUNKS 256u

struct stream {
    int fd;             /* -1 until its first packet */
    unsigned char *buf; /* queued packets */
    size_t len;
    bool any;           /* a packet was queued or written */
    uint64_t last_seq;  /* of the last packet */
    uint64_t last_ts;   /* its end */
    uint64_t discarded; /* its events_discarded */
};

struct usc_ctf_writer {
    char *dir;
    struct usc_ctf_info info;
    struct usc_trace_schema schema;
    struct usc_ctf_thread *threads;
    size_t nthreads;
    bool sidecar_dirty;
    struct stream *streams; /* USC_TRACE_MAX_RINGS */
    struct usc_writeq *q;   /* writes the streams' full chunks */
    uint64_t events, packets;
};

/* A guest's name, made safe for a TSDL string and a JSON file. */
static void clean_name(char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || strchr("_.:-", *s)))
            *s = '_';
}

static int write_metadata(struct usc_ctf_writer *w)
{
    char *text = NULL;
    int err = usc_ctf_metadata(&w->info, &w->schema, &text);

    if (!err)
        err = usc_trace_replace_file(w->dir, "metadata", text, strlen(text));
    free(text);
    return err;
}

static int write_sidecar(struct usc_ctf_writer *w)
{
    char *text = NULL;
    int err = usc_trace_sidecar_format(&w->info, &w->schema, w->threads,
                                       w->nthreads, &text);

    if (!err)
        err =
            usc_trace_replace_file(w->dir, USC_CTF_SIDECAR, text, strlen(text));
    free(text);
    if (!err)
        w->sidecar_dirty = false;
    return err;
}

/* Make (dir), or accept it when it exists and is empty. */
static int make_dir(const char *dir)
{
    DIR *d;
    struct dirent *e;
    int err = 0;

    if (mkdir(dir, 0755) == 0)
        return 0;
    if (errno != EEXIST)
        return -errno;
    d = opendir(dir);
    if (!d)
        return -errno;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            err = -EEXIST;
            break;
        }
    closedir(d);
    return err;
}

int usc_ctf_writer_open(const char *dir, const struct usc_ctf_info *info,
                        const struct usc_trace_schema *s,
                        struct usc_ctf_writer **out)
{
    static const uint8_t zero[16];
    struct usc_ctf_writer *w;
    int err;

    if (!dir || !info || !s || !out)
        return -EINVAL;
    *out = NULL;
    w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->dir = strdup(dir);
    w->streams = calloc(USC_TRACE_MAX_RINGS, sizeof(*w->streams));
    if (!w->dir || !w->streams) {
        err = -ENOMEM;
        goto err;
    }
    for (uint32_t i = 0; i < USC_TRACE_MAX_RINGS; i++)
        w->streams[i].fd = -1;
    w->info = *info;
    w->info.guest[sizeof(w->info.guest) - 1] = '\0';
    clean_name(w->info.guest);
    if (memcmp(w->info.uuid, zero, 16) == 0) {
        if (getrandom(w->info.uuid, 16, 0) != 16) {
            err = -EIO;
            goto err;
        }
        w->info.uuid[6] = (uint8_t)((w->info.uuid[6] & 0x0f) | 0x40);
        w->info.uuid[8] = (uint8_t)((w->info.uuid[8] & 0x3f) | 0x80);
    }
    err = usc_trace_schema_copy(&w->schema, s);
    if (!err)
        err = usc_writeq_open(STREAM_BUFFER, WRITE_CHUNKS, &w->q);
    if (!err)
        err = make_dir(dir);
    /* Metadata first: from here on the directory is a readable trace. */
    if (!err)
        err = write_metadata(w);
    if (!err)
        err = write_sidecar(w);
    if (err)
        goto err;
    *out = w;
    return 0;
err:
    usc_writeq_close(w->q);
    free(w->streams);
    free(w->dir);
    usc_trace_schema_free(&w->schema);
    free(w);
    return err;
}

const struct usc_ctf_info *usc_ctf_writer_info(const struct usc_ctf_writer *w)
{
    return &w->info;
}

int usc_ctf_writer_schema(struct usc_ctf_writer *w,
                          const struct usc_trace_schema *s)
{
    int err = usc_trace_schema_copy(&w->schema, s);

    if (!err)
        err = write_metadata(w);
    if (!err)
        err = write_sidecar(w);
    return err;
}

int usc_ctf_writer_threads(struct usc_ctf_writer *w,
                           const struct usc_ctf_thread *threads, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < w->nthreads && w->threads[k].id != threads[i].id)
            k++;
        if (k == w->nthreads) {
            struct usc_ctf_thread *t =
                realloc(w->threads, (w->nthreads + 1) * sizeof(*t));
            if (!t)
                return -ENOMEM;
            w->threads = t;
            w->nthreads++;
        } else if (strcmp(w->threads[k].name, threads[i].name) == 0) {
            continue;
        }
        w->threads[k] = threads[i];
        w->threads[k].name[sizeof(w->threads[k].name) - 1] = '\0';
        w->sidecar_dirty = true;
    }
    return 0;
}

/* Hand stream (vcpu)'s queued packets to the background writer. */
static int flush_stream(struct usc_ctf_writer *w, uint32_t vcpu)
{
    struct stream *st = &w->streams[vcpu];
    char path[4096];
    int err;

    if (!st->len)
        return 0;
    if (st->fd < 0) {
        if ((size_t)snprintf(path, sizeof(path), "%s/vcpu%u", w->dir, vcpu) >=
            sizeof(path))
            return -ENAMETOOLONG;
        st->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (st->fd < 0)
            return -errno;
    }
    /*
     * Written later, with one write of whole packets: page-sized packets at
     * page-aligned offsets, so a kill can only cut it at a packet boundary.
     */
    err = usc_writeq_submit(w->q, st->fd, st->buf, st->len);
    st->buf = NULL;
    st->len = 0;
    return err;
}

int usc_ctf_writer_packet(struct usc_ctf_writer *w, uint32_t vcpu,
                          unsigned char *buf, uint32_t packet_size,
                          const struct usc_trace_pkt *p, uint64_t discarded)
{
    struct usc_ctf_packet_header h;
    int err;

    if (vcpu >= USC_TRACE_MAX_RINGS || packet_size < HEADER ||
        packet_size > USC_TRACE_PACKET_MAX || p->end < HEADER ||
        p->end > packet_size || p->ts_end < p->ts_begin)
        return -EINVAL;
    struct stream *st = &w->streams[vcpu];
    if (st->any && (p->seq <= st->last_seq || p->ts_begin < st->last_ts))
        return -EINVAL;
    if (st->len + packet_size > STREAM_BUFFER) {
        err = flush_stream(w, vcpu);
        if (err)
            return err;
    }
    if (!st->buf) {
        st->buf = usc_writeq_get(w->q);
        if (!st->buf)
            return -ENOMEM;
    }
    if (discarded < st->discarded)
        discarded = st->discarded;
    memset(&h, 0, sizeof(h));
    h.magic = USC_CTF_MAGIC;
    memcpy(h.uuid, w->info.uuid, sizeof(h.uuid));
    h.stream_instance_id = vcpu;
    h.ts_begin = p->ts_begin;
    h.ts_end = p->ts_end;
    h.content_size = (uint64_t)p->end * 8;
    h.packet_size = (uint64_t)packet_size * 8;
    h.packet_seq_num = p->seq;
    h.events_discarded = discarded;
    h.cpu_id = vcpu;
    unsigned char *dst = st->buf + st->len;
    memcpy(dst, &h, HEADER);
    memcpy(dst + HEADER, buf + HEADER, p->end - HEADER);
    memset(dst + p->end, 0, packet_size - p->end);
    st->len += packet_size;
    st->any = true;
    st->last_seq = p->seq;
    st->last_ts = p->ts_end;
    st->discarded = discarded;
    w->events += p->events;
    w->packets++;
    return 0;
}

int usc_ctf_writer_push(struct usc_ctf_writer *w)
{
    int err = 0;

    for (uint32_t i = 0; i < USC_TRACE_MAX_RINGS; i++) {
        int e = flush_stream(w, i);
        if (e && !err)
            err = e;
    }
    if (w->sidecar_dirty) {
        int e = write_sidecar(w);
        if (e && !err)
            err = e;
    }
    return err;
}

int usc_ctf_writer_flush(struct usc_ctf_writer *w)
{
    int err = usc_ctf_writer_push(w);
    int e = usc_writeq_sync(w->q);

    return err ? err : e;
}

int usc_ctf_writer_close(struct usc_ctf_writer *w)
{
    int err;

    if (!w)
        return 0;
    err = usc_ctf_writer_push(w);
    for (uint32_t i = 0; i < USC_TRACE_MAX_RINGS; i++)
        usc_writeq_put(w->q, w->streams[i].buf);
    /* the queue's last writes go to the streams' files: close them after */
    int e = usc_writeq_close(w->q);
    if (e && !err)
        err = e;
    for (uint32_t i = 0; i < USC_TRACE_MAX_RINGS; i++)
        if (w->streams[i].fd >= 0 && close(w->streams[i].fd) != 0 && !err)
            err = -errno;
    free(w->streams);
    free(w->threads);
    usc_trace_schema_free(&w->schema);
    free(w->dir);
    free(w);
    return err;
}

void usc_ctf_writer_counts(const struct usc_ctf_writer *w, uint64_t *events,
                           uint64_t *packets)
{
    *events = w->events;
    *packets = w->packets;
}
