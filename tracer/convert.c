/* unitrace convert: a trace as Chrome trace-event JSON, for Perfetto. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace_stats.h"
#include "unitrace.h"

/*
 * One process (the guest, pid 1); a thread per guest thread id, and one
 * per vCPU for events outside any thread (tid VCPU_TID + vCPU). A matched
 * BEGIN/END pair becomes one complete event (X) named after its span; a
 * BEGIN still open at the end, a begin (B); everything else an instant
 * (i). Timestamps are microseconds from the first event.
 */
#define GUEST_PID 1
#define JSON_EXACT (1ll << 53)
#define VCPU_TID 1000000000u

struct out {
    FILE *f;
    const struct usc_trace_dir *d;
    uint64_t hz, origin;
    bool first; /* no event written yet: no comma before it */
    uint32_t *tids;
    size_t ntids, cap;
};

/* A JSON string: printable ASCII kept, the rest escaped or replaced. */
static void put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fputc('?', f);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void put_ts(FILE *f, const char *key, uint64_t ticks, uint64_t hz)
{
    /* Microseconds with nanosecond digits, exact in integers. */
    unsigned __int128 ns = (unsigned __int128)ticks * 1000000000u / hz;
    fprintf(f, "\"%s\":%" PRIu64 ".%03u", key, (uint64_t)(ns / 1000),
            (unsigned)(ns % 1000));
}

static uint32_t tid_of(const struct usc_trace_dir_event *ev)
{
    return ev->ev.thread ? ev->ev.thread : VCPU_TID + ev->vcpu;
}

static void note_tid(struct out *o, uint32_t tid)
{
    for (size_t i = 0; i < o->ntids; i++)
        if (o->tids[i] == tid)
            return;
    if (o->ntids == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        uint32_t *t = realloc(o->tids, cap * sizeof(*t));
        if (!t)
            return;
        o->tids = t;
        o->cap = cap;
    }
    o->tids[o->ntids++] = tid;
}

static void put_args(FILE *f, const struct usc_trace_event *ev,
                     const char *prefix)
{
    char s[USC_TP_STRING_MAX];

    for (uint32_t i = 0; i < ev->cls->nfields; i++) {
        const struct usc_trace_field *fl = &ev->cls->fields[i];
        fprintf(f, ",\"%s%s\":", prefix, fl->name);
        uint64_t v = usc_trace_event_value(ev, i);
        int64_t sv = (int64_t)v;
        switch (fl->type) {
        case USC_FIELD_STRING:
            usc_trace_event_string(ev, i, s, sizeof(s));
            put_str(f, s);
            break;
        case USC_FIELD_POINTER:
            fprintf(f, "\"0x%" PRIx64 "\"", v);
            break;
        /* Beyond 2^53 a JSON reader's double loses digits: a string. */
        case USC_FIELD_SIGNED:
            fprintf(f,
                    sv > JSON_EXACT || sv < -JSON_EXACT ? "\"%" PRId64 "\""
                                                        : "%" PRId64,
                    sv);
            break;
        default:
            fprintf(f, v > JSON_EXACT ? "\"%" PRIu64 "\"" : "%" PRIu64, v);
        }
    }
}

/* Start an event object: name, phase, time, ids; the caller closes it. */
static void open_event(struct out *o, const char *name, char ph,
                       const struct usc_trace_dir_event *ev)
{
    uint32_t tid = tid_of(ev);

    note_tid(o, tid);
    fputs(o->first ? "\n" : ",\n", o->f);
    o->first = false;
    fputs("{\"name\":", o->f);
    put_str(o->f, name);
    fprintf(o->f, ",\"cat\":\"unitrace\",\"ph\":\"%c\",", ph);
    put_ts(o->f, "ts", ev->ev.timestamp - o->origin, o->hz);
    fprintf(o->f, ",\"pid\":%d,\"tid\":%" PRIu32, GUEST_PID, tid);
}

static void instant(struct out *o, const struct usc_trace_dir_event *ev)
{
    open_event(o, ev->ev.cls->name, 'i', ev);
    fputs(",\"s\":\"t\",\"args\":{\"vcpu\":", o->f);
    fprintf(o->f, "%" PRIu32, ev->vcpu);
    put_args(o->f, &ev->ev, "");
    fputs("}}", o->f);
}

static void complete(struct out *o, const struct usc_trace_dir_event *b,
                     const struct usc_trace_dir_event *e)
{
    char name[USC_TP_NAME_MAX];

    usc_trace_span_name(b->ev.cls, name, sizeof(name));
    open_event(o, name, 'X', b);
    fputc(',', o->f);
    put_ts(o->f, "dur", e->ev.timestamp - b->ev.timestamp, o->hz);
    fprintf(o->f, ",\"args\":{\"vcpu\":%" PRIu32, b->vcpu);
    put_args(o->f, &b->ev, "");
    put_args(o->f, &e->ev, "end.");
    fputs("}}", o->f);
}

static void still_open(void *arg, const struct usc_trace_dir_event *b)
{
    struct out *o = arg;
    char name[USC_TP_NAME_MAX];

    usc_trace_span_name(b->ev.cls, name, sizeof(name));
    open_event(o, name, 'B', b);
    fprintf(o->f, ",\"args\":{\"vcpu\":%" PRIu32, b->vcpu);
    put_args(o->f, &b->ev, "");
    fputs("}}", o->f);
}

static void metadata(struct out *o)
{
    fprintf(o->f,
            ",\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,"
            "\"args\":{\"name\":",
            GUEST_PID);
    put_str(o->f, usc_trace_dir_info(o->d)->guest);
    fputs("}}", o->f);
    for (size_t i = 0; i < o->ntids; i++) {
        char name[64];
        uint32_t tid = o->tids[i];
        const char *known = usc_trace_dir_thread_name(o->d, tid);
        if (tid >= VCPU_TID)
            snprintf(name, sizeof(name), "vCPU %u", tid - VCPU_TID);
        else if (known)
            snprintf(name, sizeof(name), "%s (%u)", known, tid);
        else
            snprintf(name, sizeof(name), "thread %u", tid);
        fprintf(o->f,
                ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,"
                "\"tid\":%" PRIu32 ",\"args\":{\"name\":",
                GUEST_PID, tid);
        put_str(o->f, name);
        fputs("}}", o->f);
    }
}

/* Every event of (d) into (o); 0 or -ENOMEM. */
static int events(struct out *o, struct usc_trace_dir *d)
{
    const struct usc_trace_schema *s = usc_trace_dir_schema(d);
    struct usc_trace_matcher *m = usc_trace_matcher_new();
    struct usc_trace_dir_event ev, b;
    bool *paired = calloc(s->count ? s->count : 1, sizeof(*paired));
    bool first = true;

    if (!m || !paired) {
        usc_trace_matcher_free(m);
        free(paired);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < s->count; i++)
        if (s->classes[i].valid && s->classes[i].kind == USC_TP_END)
            paired[s->classes[i].pair] = true;
    while (usc_trace_dir_next(d, &ev) == 1) {
        if (first)
            o->origin = ev.ev.timestamp;
        first = false;
        if (ev.ev.cls->kind == USC_TP_BEGIN && paired[ev.ev.id] &&
            usc_trace_matcher_push(m, &ev) == 0)
            continue;
        if (ev.ev.cls->kind == USC_TP_END && usc_trace_matcher_pop(m, &ev, &b))
            complete(o, &b, &ev);
        else
            instant(o, &ev);
    }
    usc_trace_matcher_drain(m, still_open, o);
    usc_trace_matcher_free(m);
    free(paired);
    return 0;
}

static int convert(struct usc_trace_dir *d, const char *file)
{
    char tmp[4096];
    struct out o = {.d = d, .first = true};
    int err;

    o.hz = usc_trace_dir_info(d)->ts_hz ? usc_trace_dir_info(d)->ts_hz
                                        : 1000000000ull;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", file) >= sizeof(tmp))
        return -ENAMETOOLONG;
    o.f = fopen(tmp, "w");
    if (!o.f)
        return -errno;
    fputs("{\"displayTimeUnit\":\"ns\",\"otherData\":{\"guest\":", o.f);
    put_str(o.f, usc_trace_dir_info(d)->guest);
    fputs("},\"traceEvents\":[", o.f);
    err = events(&o, d);
    if (!err && o.first) {
        /* No event: the metadata must not start with a comma. */
        fputs("\n{\"name\":\"unitrace\",\"ph\":\"M\",\"pid\":1,"
              "\"args\":{}}",
              o.f);
    }
    if (!err)
        metadata(&o);
    fputs("\n]}\n", o.f);
    free(o.tids);
    if (fclose(o.f) != 0 && !err)
        err = -errno;
    if (!err && rename(tmp, file) != 0)
        err = -errno;
    if (err)
        unlink(tmp);
    return err;
}

int unitrace_convert(int argc, char **argv)
{
    static const struct option longs[] = {
        {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *format = NULL, *file = NULL;
    struct usc_trace_dir *d = NULL;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "f:o:h", longs, NULL)) != -1) {
        if (c == 'f')
            format = optarg;
        else if (c == 'o')
            file = optarg;
        else if (c == 'h') {
            puts("usage: unitrace convert DIR --format chrome -o FILE");
            return 0;
        } else
            return unitrace_usage("convert: bad option");
    }
    if (optind + 1 != argc || !file || !format)
        return unitrace_usage("convert: expected DIR --format chrome -o FILE");
    if (strcmp(format, "chrome") != 0)
        return unitrace_usage("convert: the only --format is chrome");
    const char *dir = argv[optind];
    int err = usc_trace_dir_open(dir, &d);
    if (err)
        return unitrace_fail(dir, err == -ENOENT
                                      ? "not a unitrace trace directory"
                                      : strerror(-err));
    err = convert(d, file);
    usc_trace_dir_close(d);
    return err ? unitrace_fail_errno(file, err) : 0;
}
