/* unitrace record and extract: a guest's rings into a CTF directory. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trace_record.h"
#include "unitrace.h"

#define LEASE_S 2.0     /* stream mode outlives a dead recorder this long */
#define PROGRESS_S 0.25 /* terminal progress line refresh */
#define DEFAULT_INTERVAL_MS 5

struct options {
    const char *target, *dir;
    double duration; /* < 0: until a signal */
    bool stream;
    int interval_ms;
    bool fixed_interval; /* --interval given: drain at that period only */
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* SIGINT and SIGTERM end the recording; they interrupt the poll's wait. */
static void catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int parse(int argc, char **argv, struct options *o)
{
    static const struct option longs[] = {
        {"output", required_argument, NULL, 'o'},
        {"duration", required_argument, NULL, 'd'},
        {"mode", required_argument, NULL, 'm'},
        {"interval", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int c;

    memset(o, 0, sizeof(*o));
    o->duration = -1;
    o->interval_ms = DEFAULT_INTERVAL_MS;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:d:m:i:h", longs, NULL)) != -1) {
        switch (c) {
        case 'o':
            o->dir = optarg;
            break;
        case 'd':
            o->duration = unitrace_parse_seconds(optarg);
            if (o->duration < 0)
                return unitrace_usage("record: --duration takes seconds");
            break;
        case 'm':
            if (strcmp(optarg, "stream") && strcmp(optarg, "overwrite"))
                return unitrace_usage("record: --mode is overwrite or stream");
            o->stream = !strcmp(optarg, "stream");
            break;
        case 'i':
            o->interval_ms = atoi(optarg);
            o->fixed_interval = true;
            if (o->interval_ms < 1 || o->interval_ms > 10000)
                return unitrace_usage("record: --interval takes 1..10000 ms");
            break;
        case 'h':
            puts("usage: unitrace record TARGET -o DIR [--duration SEC] "
                 "[--mode overwrite|stream] [--interval MS]");
            return -1;
        default:
            return unitrace_usage("record: bad option");
        }
    }
    if (optind + 1 != argc || !o->dir)
        return unitrace_usage("record: expected TARGET -o DIR");
    o->target = argv[optind];
    return 0;
}

/*
 * The guest's output in overwrite mode, for the progress line only: the
 * packets it closed since the last look times the events in its newest
 * closed packet. An estimate: nothing is read but that one packet.
 */
struct counter {
    uint64_t *seen; /* per ring: packets closed at the last look */
    double events;
    uint64_t lost;
    unsigned char *buf;
};

static void count_new(struct usc_trace *t, struct counter *c)
{
    struct usc_trace_pkt p;

    c->lost = 0;
    for (uint32_t i = 0; i < usc_trace_nrings(t); i++) {
        struct usc_trace_ring_info ri;
        if (usc_trace_ring_info(t, i, &ri) != 0)
            continue;
        c->lost += ri.lost;
        if (!ri.usable)
            continue;
        uint64_t cur = ri.pos / ri.packet_size;
        if (c->seen[i] == UINT64_MAX || cur < c->seen[i])
            c->seen[i] = cur;
        if (cur > c->seen[i] &&
            usc_trace_read_packet(t, i, cur - 1, false, c->buf, &p) == 0)
            c->events += (double)(cur - c->seen[i]) * p.events;
        c->seen[i] = cur;
    }
}

static void progress(const struct options *o, double elapsed, uint64_t events,
                     uint64_t lost)
{
    fprintf(stderr, "\r%s: %s%llu events, %.0f/s, %llu lost, %.1f s   ",
            o->stream ? "streaming" : "flight recorder", o->stream ? "" : "~",
            (unsigned long long)events,
            elapsed > 0 ? (double)events / elapsed : 0.0,
            (unsigned long long)lost, elapsed);
}

/* Wait for the duration or a signal, draining (stream) at the pace the
 * guest fills its rings, at least every interval. */
static int run(const struct options *o, struct unitrace_guest *g,
               struct usc_trace_recorder *rec)
{
    bool tty = isatty(STDERR_FILENO);
    struct counter c = {0};
    double start = unitrace_now(), shown = 0;
    int err = 0;

    if (tty && !o->stream) {
        c.seen = calloc(usc_trace_nrings(g->trace) + 1, sizeof(*c.seen));
        c.buf = malloc(USC_TRACE_PACKET_MAX);
        for (uint32_t i = 0; c.seen && i < usc_trace_nrings(g->trace); i++)
            c.seen[i] = UINT64_MAX;
    }
    while (!stop_signal && !err) {
        double now = unitrace_now() - start;
        if (o->duration >= 0 && now >= o->duration)
            break;
        if (o->stream) {
            /* 5 ms at the most, sooner while the guest traces fast;
             * an --interval the user gave is kept to */
            uint64_t us = (uint64_t)o->interval_ms * 1000;
            if (!o->fixed_interval)
                us = usc_trace_recorder_wait_us(rec, us);
            struct timespec ts = {(time_t)(us / 1000000),
                                  (long)(us % 1000000) * 1000};
            nanosleep(&ts, NULL);
            err = usc_trace_recorder_drain(rec);
        } else {
            poll(NULL, 0, o->interval_ms);
        }
        if (tty && now - shown >= PROGRESS_S) {
            struct usc_trace_rec_stats st;
            usc_trace_recorder_stats(rec, &st);
            if (!o->stream && c.seen && c.buf) {
                count_new(g->trace, &c);
                st.events = (uint64_t)c.events;
                st.discarded = c.lost;
                st.lost_packets = 0;
            }
            progress(o, now, st.events, st.discarded + st.lost_packets);
            shown = now;
        }
    }
    if (tty)
        fputc('\n', stderr);
    free(c.seen);
    free(c.buf);
    return err;
}

static void summary(const char *dir, const char *how,
                    const struct usc_trace_rec_stats *stats)
{
    struct usc_trace_rec_stats st = *stats;

    printf("%s: %llu events in %llu packets (%s)", dir,
           (unsigned long long)st.events, (unsigned long long)st.packets, how);
    if (st.discarded || st.lost_packets)
        printf("; lost: %llu events discarded by the guest, %llu packets",
               (unsigned long long)st.discarded,
               (unsigned long long)st.lost_packets);
    else
        printf("; lost: none");
    if (st.truncated || st.incomplete)
        printf("; %llu packets cut short",
               (unsigned long long)(st.truncated + st.incomplete));
    if (!strcmp(how, "stream"))
        printf("; drain lag: rings at most %.0f%% full, %.1f ms between "
               "drains at most",
               100 * st.max_fill, 1e3 * st.max_gap_s);
    putchar('\n');
}

/* Open (dir) as a trace of (g) and run (body) with a recorder on it. */
static int record(const char *spec, const char *dir, const char *mode,
                  struct unitrace_guest *g,
                  int (*body)(void *arg, struct usc_trace_recorder *rec),
                  void *arg)
{
    struct usc_ctf_info info;
    struct usc_ctf_writer *w = NULL;
    struct usc_trace_recorder *rec = NULL;
    int err;

    unitrace_guest_info(g, spec, mode, &info);
    err = usc_ctf_writer_open(dir, &info, usc_trace_schema_of(g->trace), &w);
    if (err == -EEXIST)
        return unitrace_fail(dir, "exists and is not empty");
    if (err)
        return unitrace_fail_errno(dir, err);
    unitrace_guest_threads(g, w);
    err = usc_trace_recorder_new(g->agent, g->trace, w, &rec);
    if (!err)
        err = body(arg, rec);
    unitrace_guest_threads(g, w);
    /* The recorder's counts come from the writer: take them before it goes
     * (they already include the packets close will flush). */
    struct usc_trace_rec_stats st = {0};
    if (rec)
        usc_trace_recorder_stats(rec, &st);
    int cerr = usc_ctf_writer_close(w);
    /* The guest went away mid-recording: what came before is a trace. */
    int gone = err == -ESRCH && !cerr;
    if (!err)
        err = cerr;
    if (!err || gone)
        summary(dir, mode, &st);
    usc_trace_recorder_free(rec);
    if (gone)
        return unitrace_fail(spec, "the guest went away; the trace keeps "
                                   "what was recorded until then");
    if (err == -ENOTSUP)
        return unitrace_fail(spec, "stream mode needs to write guest memory "
                                   "(a live guest with a writable RAM file)");
    return err ? unitrace_fail_errno(dir, err) : 0;
}

struct live {
    const struct options *o;
    struct unitrace_guest *g;
};

static int record_live(void *arg, struct usc_trace_recorder *rec)
{
    struct live *l = arg;
    int err = 0;

    if (l->o->stream) {
        err = usc_trace_recorder_stream_begin(rec, LEASE_S);
        if (!err)
            err = run(l->o, l->g, rec);
        int end = usc_trace_recorder_stream_end(rec);
        return err ? err : end;
    }
    if (!l->g->is_core)
        err = run(l->o, l->g, rec);
    return err ? err : usc_trace_recorder_snapshot(rec, l->g->is_core);
}

int unitrace_record(int argc, char **argv)
{
    struct options o;
    struct unitrace_guest g;
    int rc = parse(argc, argv, &o);

    if (rc)
        return rc < 0 ? 0 : rc;
    catch_signals();
    if (unitrace_guest_open(o.target, &g))
        return 1;
    struct live l = {&o, &g};
    rc = record(o.target, o.dir, o.stream ? "stream" : "snapshot", &g,
                record_live, &l);
    unitrace_guest_close(&g);
    return rc;
}

static int snapshot_forced(void *arg, struct usc_trace_recorder *rec)
{
    (void)arg;
    return usc_trace_recorder_snapshot(rec, true);
}

int unitrace_extract(int argc, char **argv)
{
    const char *core = NULL, *dir = NULL;
    struct unitrace_guest g;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            puts("usage: unitrace extract CORE -o DIR");
            return 0;
        }
        if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) &&
            i + 1 < argc)
            dir = argv[++i];
        else if (!core && argv[i][0] != '-')
            core = argv[i];
        else
            return unitrace_usage("extract: expected CORE -o DIR");
    }
    if (!core || !dir)
        return unitrace_usage("extract: expected CORE -o DIR");
    if (unitrace_guest_open(core, &g))
        return 1;
    int rc = record(core, dir, "snapshot", &g, snapshot_forced, NULL);
    unitrace_guest_close(&g);
    return rc;
}
