/* Reading a unitrace trace directory back: streams merged by timestamp. */
#include "trace_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace_files.h"

#define HEADER ((uint32_t)sizeof(struct usc_ctf_packet_header))
#define SIDECAR_MAX (16u << 20)

struct stream {
    const unsigned char *map;
    size_t size;
    size_t pkt;   /* offset of the packet being decoded */
    size_t next;  /* offset of the packet after it */
    bool started; /* a packet header was read */
    uint64_t last_seq, last_ts;
    struct usc_trace_cursor cur;
    bool have; /* (ev) holds its next event */
    bool done;
    struct usc_trace_event ev;
    struct usc_trace_stream_stats st;
};

struct usc_trace_dir {
    struct usc_ctf_info info;
    struct usc_trace_schema schema;
    struct usc_ctf_thread *threads;
    size_t nthreads;
    struct stream *streams;
    size_t nstreams;
};

static int read_file(int dirfd, const char *name, char **text, size_t *len)
{
    struct stat st;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    int err = 0;

    *text = NULL;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size > SIDECAR_MAX) {
        close(fd);
        return -EINVAL;
    }
    *text = malloc((size_t)st.st_size + 1);
    if (!*text) {
        close(fd);
        return -ENOMEM;
    }
    ssize_t n = pread(fd, *text, (size_t)st.st_size, 0);
    if (n != st.st_size)
        err = n < 0 ? -errno : -EIO;
    close(fd);
    if (err) {
        free(*text);
        *text = NULL;
        return err;
    }
    (*text)[n] = '\0';
    *len = (size_t)n;
    return 0;
}

/* vcpuN, N < USC_TRACE_MAX_RINGS, without leading zeros; -1 otherwise. */
static int stream_vcpu(const char *name)
{
    if (strncmp(name, "vcpu", 4) != 0 || !name[4] ||
        (name[4] == '0' && name[5]))
        return -1;
    long v = 0;
    for (const char *p = name + 4; *p; p++) {
        if (*p < '0' || *p > '9' || v >= USC_TRACE_MAX_RINGS)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v < USC_TRACE_MAX_RINGS ? (int)v : -1;
}

static int map_stream(int dirfd, const char *name, uint32_t vcpu,
                      struct stream *s)
{
    struct stat st;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

    memset(s, 0, sizeof(*s));
    s->st.vcpu = vcpu;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    s->size = (size_t)st.st_size;
    if (s->size) {
        void *m = mmap(NULL, s->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            close(fd);
            return -errno;
        }
        s->map = m;
    }
    close(fd);
    return 0;
}

static int open_streams(struct usc_trace_dir *d, DIR *dir)
{
    struct dirent *e;
    int dfd = dirfd(dir);

    while ((e = readdir(dir)) != NULL) {
        int vcpu = stream_vcpu(e->d_name);
        if (vcpu < 0)
            continue;
        struct stream *s = realloc(d->streams, (d->nstreams + 1) * sizeof(*s));
        if (!s)
            return -ENOMEM;
        d->streams = s;
        int err = map_stream(dfd, e->d_name, (uint32_t)vcpu,
                             &d->streams[d->nstreams]);
        if (err)
            return err;
        d->nstreams++;
    }
    return 0;
}

int usc_trace_dir_open(const char *path, struct usc_trace_dir **out)
{
    struct usc_trace_dir *d;
    DIR *dir = NULL;
    char *text = NULL;
    size_t len = 0;
    int err;

    *out = NULL;
    d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    dir = opendir(path);
    if (!dir) {
        err = -errno;
        goto err;
    }
    err = read_file(dirfd(dir), USC_CTF_SIDECAR, &text, &len);
    if (!err)
        err = usc_trace_sidecar_parse(text, len, &d->info, &d->schema,
                                      &d->threads, &d->nthreads);
    free(text);
    if (!err)
        err = open_streams(d, dir);
    if (err)
        goto err;
    closedir(dir);
    *out = d;
    return 0;
err:
    if (dir)
        closedir(dir);
    usc_trace_dir_close(d);
    return err;
}

void usc_trace_dir_close(struct usc_trace_dir *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nstreams; i++)
        if (d->streams[i].map)
            munmap((void *)d->streams[i].map, d->streams[i].size);
    free(d->streams);
    free(d->threads);
    usc_trace_schema_free(&d->schema);
    free(d);
}

const struct usc_ctf_info *usc_trace_dir_info(const struct usc_trace_dir *d)
{
    return &d->info;
}

const struct usc_trace_schema *
usc_trace_dir_schema(const struct usc_trace_dir *d)
{
    return &d->schema;
}

const struct usc_ctf_thread *
usc_trace_dir_threads(const struct usc_trace_dir *d, size_t *n)
{
    *n = d->nthreads;
    return d->threads;
}

const char *usc_trace_dir_thread_name(const struct usc_trace_dir *d,
                                      uint32_t id)
{
    for (size_t i = 0; i < d->nthreads; i++)
        if (d->threads[i].id == id)
            return d->threads[i].name;
    return NULL;
}

/*
 * Check the packet header at s->next and start decoding its records.
 * Returns 1, 0 at the end of the file, or -EINVAL (the stream stops).
 */
static int open_packet(const struct usc_trace_dir *d, struct stream *s)
{
    struct usc_ctf_packet_header h;
    size_t left = s->size - s->next;

    if (left == 0)
        return 0;
    /* A packet cut short (a writer killed mid-write) ends the stream. */
    if (left < HEADER)
        return -EINVAL;
    memcpy(&h, s->map + s->next, HEADER);
    if (h.magic != USC_CTF_MAGIC || memcmp(h.uuid, d->info.uuid, 16) != 0 ||
        h.stream_id != 0 || h.stream_instance_id != s->st.vcpu ||
        (h.packet_size & 63) || (h.content_size & 63) ||
        h.packet_size / 8 > USC_TRACE_PACKET_MAX ||
        h.packet_size / 8 < HEADER || h.packet_size / 8 > left ||
        h.content_size < (uint64_t)HEADER * 8 ||
        h.content_size > h.packet_size || h.ts_end < h.ts_begin)
        return -EINVAL;
    if (s->started &&
        (h.packet_seq_num <= s->last_seq || h.ts_begin < s->last_ts ||
         h.events_discarded < s->st.discarded))
        return -EINVAL;
    if (!s->started)
        s->st.first_seq = h.packet_seq_num;
    else
        s->st.missing += h.packet_seq_num - s->last_seq - 1;
    s->started = true;
    s->last_seq = h.packet_seq_num;
    s->st.discarded = h.events_discarded;
    s->st.packets++;
    s->pkt = s->next;
    s->next += h.packet_size / 8;
    usc_trace_cursor_init(&s->cur, &d->schema, s->map + s->pkt, HEADER,
                          (uint32_t)(h.content_size / 8),
                          s->last_ts > h.ts_begin ? s->last_ts : h.ts_begin,
                          h.ts_end);
    s->last_ts = h.ts_end;
    return 1;
}

/* Load s->ev with the stream's next event, or mark it done. */
static void advance(const struct usc_trace_dir *d, struct stream *s)
{
    s->have = false;
    while (!s->done) {
        if (s->map && s->pkt < s->next) {
            int rc = usc_trace_cursor_next(&s->cur, &s->ev);
            if (rc == 1) {
                if (s->st.events++ == 0)
                    s->st.ts_first = s->ev.timestamp;
                s->st.ts_last = s->ev.timestamp;
                s->have = true;
                return;
            }
            if (rc < 0)
                s->st.bad_records++;
            s->pkt = s->next;
            continue;
        }
        int rc = s->map ? open_packet(d, s) : 0;
        if (rc < 0)
            s->st.bad_packet = true;
        if (rc <= 0)
            s->done = true;
    }
}

int usc_trace_dir_next(struct usc_trace_dir *d, struct usc_trace_dir_event *out)
{
    struct stream *best = NULL;

    for (size_t i = 0; i < d->nstreams; i++) {
        struct stream *s = &d->streams[i];
        if (!s->have && !s->done)
            advance(d, s);
        if (s->have && (!best || s->ev.timestamp < best->ev.timestamp ||
                        (s->ev.timestamp == best->ev.timestamp &&
                         s->st.vcpu < best->st.vcpu)))
            best = s;
    }
    if (!best)
        return 0;
    out->ev = best->ev;
    out->vcpu = best->st.vcpu;
    best->have = false;
    return 1;
}

size_t usc_trace_dir_nstreams(const struct usc_trace_dir *d)
{
    return d->nstreams;
}

const struct usc_trace_stream_stats *
usc_trace_dir_stream(const struct usc_trace_dir *d, size_t i)
{
    return i < d->nstreams ? &d->streams[i].st : NULL;
}
