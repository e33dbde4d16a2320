/* Benchmark: the agent's per-event cost (native, rdtsc as the clock),
 * enabled and disabled, beside rdtsc alone; the host's drain rate; losses
 * at 10 M events/s. Figures are medians, printed with their ratios. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uniscope/agent.h>
#include <unistd.h>
#include <x86intrin.h>

#include "agent_reader.h"
#include "trace_ctf.h"
#include "trace_reader.h"
#include "trace_record.h"

#define RUNS 11
#define EVENTS (1u << 20)
#define PACED_RATE 10e6
#define PACED_SECONDS 1.0

/* ---- the port, as a unikernel on x86 would define it ----------------- */

static _Thread_local uint32_t my_vcpu;

uint64_t usca_port_timestamp(void)
{
    return __rdtsc();
}

uint32_t usca_port_vcpu(void)
{
    return my_vcpu;
}

/* A process cannot turn interrupts off; nothing interrupts it either. */
unsigned long usca_port_irq_save(void)
{
    return 0;
}

void usca_port_irq_restore(unsigned long flags)
{
    (void)flags;
}

uint64_t usca_port_virt_to_phys(const void *vaddr)
{
    return (uint64_t)(uintptr_t)vaddr;
}

/* The host side reads this very process: guest-physical == virtual. */
static int self_read(void *priv, uint64_t paddr, void *buf, size_t len)
{
    (void)priv;
    memcpy(buf, (const void *)(uintptr_t)paddr, len);
    return 0;
}

static const void *self_map(void *priv, uint64_t paddr, size_t len)
{
    (void)priv;
    (void)len;
    return (const void *)(uintptr_t)paddr;
}

static int self_write(void *priv, uint64_t paddr, const void *buf, size_t len)
{
    (void)priv;
    if (len == 8)
        __atomic_store_n((uint64_t *)(uintptr_t)paddr, *(const uint64_t *)buf,
                         __ATOMIC_RELEASE);
    else if (len == 4)
        __atomic_store_n((uint32_t *)(uintptr_t)paddr, *(const uint32_t *)buf,
                         __ATOMIC_RELEASE);
    else
        memcpy((void *)(uintptr_t)paddr, buf, len);
    return 0;
}

static const struct usc_physmem self = {.read = self_read,
                                        .map = self_map,
                                        .write = self_write,
                                        .phys_end = UINT64_MAX};

static const struct usca_tp_field fields[] = {USCA_U64("a"), USCA_U64("b")};
static struct usca_tracepoint tp_on =
    USCA_TP("bench_on", USC_TP_INSTANT, fields);
static struct usca_tracepoint tp_off =
    USCA_TP("bench_off", USC_TP_INSTANT, fields);

/* ---- timing -------------------------------------------------------------
 */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof(set), &set);
}

static volatile uint64_t sink;

/* Nanoseconds per iteration of each loop, one run of EVENTS. */
static double ns_rdtsc(void)
{
    uint64_t acc = 0;
    double t = now_s();
    for (uint32_t i = 0; i < EVENTS; i++)
        acc += usca_port_timestamp();
    sink = acc;
    return (now_s() - t) * 1e9 / EVENTS;
}

static double ns_trace(struct usca_tracepoint *tp, int k)
{
    double t = now_s();
    for (uint32_t i = 0; i < EVENTS; i++)
        USCA_TRACE2(tp, i, k);
    return (now_s() - t) * 1e9 / EVENTS;
}

/* The three side by side, run after run, so that load hits them alike. */
static void per_event(double *floor, double *on, double *off)
{
    double f[RUNS], n[RUNS], o[RUNS];
    for (int k = 0; k < RUNS; k++) {
        f[k] = ns_rdtsc();
        n[k] = ns_trace(&tp_on, k);
        o[k] = ns_trace(&tp_off, k);
    }
    *floor = median(f, RUNS);
    *on = median(n, RUNS);
    *off = median(o, RUNS);
}

/* Memory bandwidth reading (len) bytes once, cold: the drain's anchor. */
static double copy_gbs(size_t len)
{
    double r[5];
    unsigned char *src = malloc(len), *dst = malloc(len);
    if (!src || !dst) {
        free(src);
        free(dst);
        return 0;
    }
    memset(src, 1, len);
    memset(dst, 2, len);
    for (int k = 0; k < 5; k++) {
        double t = now_s();
        memcpy(dst, src, len);
        r[k] = (double)len / (now_s() - t) / 1e9;
        sink = dst[len / 2];
    }
    free(src);
    free(dst);
    return median(r, 5);
}

/* ---- the host side ----------------------------------------------------- */

struct host {
    struct usc_agent *agent;
    struct usc_trace *trace;
    struct usc_ctf_writer *writer;
    struct usc_trace_recorder *rec;
    char dir[64];
};

static int host_open(struct host *h)
{
    struct usc_ctf_info info = {.ts_hz = usca_control_block()->ts_hz,
                                .nvcpus = 2};
    snprintf(info.guest, sizeof(info.guest), "bench");
    snprintf(info.source, sizeof(info.source), "live");
    snprintf(info.mode, sizeof(info.mode), "stream");
    snprintf(h->dir, sizeof(h->dir), "/dev/shm/usc-bench-trace-XXXXXX");
    if (!mkdtemp(h->dir))
        return -errno;
    int err = usc_agent_open(&self, (uintptr_t)usca_control_block(), &h->agent);
    if (!err)
        err = usc_trace_open(h->agent, &self, &h->trace);
    if (!err)
        err = usc_ctf_writer_open(h->dir, &info, usc_trace_schema_of(h->trace),
                                  &h->writer);
    if (!err)
        err = usc_trace_recorder_new(h->agent, h->trace, h->writer, &h->rec);
    if (!err)
        err = usc_trace_recorder_stream_begin(h->rec, 1e6);
    return err;
}

static void host_close(struct host *h)
{
    usc_ctf_writer_close(h->writer);
    usc_trace_recorder_free(h->rec);
    usc_trace_close(h->trace);
    usc_agent_close(h->agent);
    DIR *d = opendir(h->dir);
    struct dirent *e;
    char path[512];
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || e->d_name[1] == '.'))
            continue;
        snprintf(path, sizeof(path), "%s/%s", h->dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(h->dir);
}

/*
 * Reading and checking packets (the parser every drained packet goes
 * through), one core: the closed packets of a full ring, read again and
 * again through the gate into a host buffer. Median of RUNS passes.
 */
static int read_rate(double *events_per_s)
{
    static unsigned char buf[USC_TRACE_PACKET_MAX];
    struct host h = {0};
    struct usc_trace_ring_info ri;
    struct usc_trace_pkt p;
    double r[RUNS];
    int err = host_open(&h);

    for (uint32_t i = 0; !err && i < 12000; i++)
        USCA_TRACE2(&tp_on, i, 0);
    if (!err)
        err = usc_trace_ring_info(h.trace, 0, &ri);
    uint64_t cur = ri.pos / ri.packet_size;
    for (int k = 0; k < RUNS && !err; k++) {
        uint64_t events = 0;
        double t = now_s();
        for (int pass = 0; pass < 100 && !err; pass++)
            for (uint64_t s = cur - (ri.npackets - 1); s < cur && !err; s++) {
                err = usc_trace_read_packet(h.trace, 0, s, false, buf, &p);
                events += p.events;
            }
        r[k] = (double)events / (now_s() - t);
    }
    *events_per_s = err ? 0 : median(r, RUNS);
    host_close(&h);
    return err;
}

/*
 * The whole drain on one core: fill the ring in stream mode (untimed),
 * then time the recorder's drain of it (read, check, write CTF files on a
 * tmpfs, hand the slots back).
 */
static int drain_rate(double *events_per_s, double *bytes_per_s)
{
    struct host h = {0};
    struct usc_trace_rec_stats st;
    double spent = 0;
    int err = host_open(&h);

    for (int round = 0; round < 300 && !err; round++) {
        for (uint32_t i = 0; i < 12000; i++) /* more than a ring holds */
            USCA_TRACE2(&tp_on, i, round);
        double t = now_s();
        err = usc_trace_recorder_drain(h.rec);
        spent += now_s() - t;
    }
    if (!err)
        err = usc_trace_recorder_stream_end(h.rec);
    usc_trace_recorder_stats(h.rec, &st);
    *events_per_s = (double)st.events / spent;
    *bytes_per_s = (double)st.packets * 4096 / spent;
    host_close(&h);
    return err;
}

/* ---- paced streams, produced on one core, drained on another ----------- */

struct producer {
    uint64_t hz;
    double rate; /* events per second */
    atomic_int done;
    uint64_t emitted;
};

/* Paced in bursts of PACED_BURST: the clock is read once per burst. */
#define PACED_BURST 16

static void *produce(void *arg)
{
    struct producer *p = arg;
    uint64_t step = (uint64_t)((double)p->hz / p->rate * PACED_BURST);
    uint64_t n = (uint64_t)(p->rate * PACED_SECONDS);
    uint64_t next = __rdtsc();

    pin(0);
    for (uint64_t i = 0; i < n; i += PACED_BURST) {
        while (__rdtsc() < next)
            _mm_pause();
        next += step;
        for (uint64_t k = i; k < i + PACED_BURST; k++)
            USCA_TRACE2(&tp_on, k, 0);
    }
    p->emitted = n;
    atomic_store(&p->done, 1);
    return NULL;
}

struct paced_result {
    uint64_t emitted;
    uint64_t written;      /* by the host: events in the trace */
    uint64_t dropped;      /* by the agent, its own counter (ring full) */
    uint64_t lost_packets; /* by the host: overwritten or corrupt */
    double seconds, ring_ms;
    struct usc_trace_rec_stats st;
};

/*
 * (rate) events/s for PACED_SECONDS from a thread on CPU 0 (the guest),
 * drained from CPU 1 the way unitrace record --mode stream drains: at the
 * pace usc_trace_recorder_wait_us suggests (5 ms at the most), its files
 * written by the writer's thread, on CPU 1 as well.
 */
static int paced(uint64_t hz, double rate, struct paced_result *res)
{
    struct host h = {0};
    struct producer p = {.hz = hz, .rate = rate};
    struct usc_trace_ring_info ri;
    pthread_t th;
    int err;

    pin(1); /* the recorder and its writer thread: the host's core */
    err = host_open(&h);
    if (err)
        return err;
    err = usc_trace_ring_info(h.trace, 0, &ri);
    uint64_t lost0 = ri.lost; /* the agent's own count of dropped events */
    /* events of earlier runs in the open packet, where the stream begins */
    uint64_t in_open = ri.pos % ri.packet_size;
    uint64_t before =
        in_open > sizeof(struct usc_trace_packet)
            ? (in_open - sizeof(struct usc_trace_packet)) / tp_on.size
            : 0;
    double t = now_s();
    pthread_create(&th, NULL, produce, &p);
    while (!atomic_load(&p.done) && !err) {
        uint64_t us = usc_trace_recorder_wait_us(h.rec, 5000);
        struct timespec d = {(time_t)(us / 1000000),
                             (long)(us % 1000000) * 1000};
        nanosleep(&d, NULL);
        err = usc_trace_recorder_drain(h.rec);
    }
    pthread_join(th, NULL);
    res->seconds = now_s() - t;
    res->ring_ms =
        (double)ri.npackets * ri.packet_size / tp_on.size / rate * 1e3;
    if (!err)
        err = usc_trace_recorder_stream_end(h.rec);
    usc_trace_recorder_stats(h.rec, &res->st);
    usc_trace_ring_info(h.trace, 0, &ri);
    res->emitted = p.emitted;
    res->written = res->st.events - before;
    res->dropped = ri.lost - lost0;
    res->lost_packets = res->st.lost_packets;
    host_close(&h);
    pin(0);
    return err;
}

/* emitted / written / dropped at 1, 5, 10 and 20 M events/s. */
static void paced_table(uint64_t hz, const char *ring)
{
    static const double rates[] = {1e6, 5e6, 10e6, 20e6};
    int err;

    printf("stream mode, paced for %.0f s, %s: the guest on CPU 0, "
           "unitrace's drain and writer on CPU 1\n"
           "  %5s %10s %10s %10s %8s %9s %10s %9s\n",
           PACED_SECONDS, ring, "M/s", "emitted", "written", "dropped",
           "lost pk", "ring ms", "max fill", "max gap");
    for (size_t k = 0; k < sizeof(rates) / sizeof(rates[0]); k++) {
        struct paced_result r = {0};
        err = paced(hz, rates[k], &r);
        if (err) {
            printf("  %5.0f failed (%s)\n", rates[k] / 1e6, strerror(-err));
            continue;
        }
        printf("  %5.0f %10llu %10llu %10llu %8llu %9.2f %9.0f%% %7.2f ms%s\n",
               rates[k] / 1e6, (unsigned long long)r.emitted,
               (unsigned long long)r.written, (unsigned long long)r.dropped,
               (unsigned long long)r.lost_packets, r.ring_ms,
               100 * r.st.max_fill, 1e3 * r.st.max_gap_s,
               r.emitted != r.written + r.dropped
                   ? "  (emitted != written + dropped!)"
                   : "");
    }
    printf("  (aim: 0 dropped while the drain keeps up, i.e. its max gap "
           "stays under the ring's ms; emitted = written + dropped always)\n");
}

static void print_load(void)
{
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) > 0)
        printf("(load average %.1f on %ld CPUs while this ran: other work "
               "skews every figure)\n",
               load[0], sysconf(_SC_NPROCESSORS_ONLN));
}

static uint64_t tsc_hz(void)
{
    double t0 = now_s();
    uint64_t c0 = __rdtsc();
    struct timespec d = {0, 200000000};
    nanosleep(&d, NULL);
    return (uint64_t)((double)(__rdtsc() - c0) / (now_s() - t0));
}

/*
 * bench_trace [LTTNG_NS LTTNG_OFF_NS]: every figure, the built-in rings.
 * bench_trace --ring KIB: only the paced streams, with rings of KIB each
 * that the "unikernel" chose at init (usca_config.trace_mem).
 */
int main(int argc, char **argv)
{
    int ring_only = argc > 2 && !strcmp(argv[1], "--ring");
    double lttng_ns = !ring_only && argc > 1 ? atof(argv[1]) : 0;
    double lttng_off_ns = !ring_only && argc > 2 ? atof(argv[2]) : 0;
    uint64_t hz = tsc_hz();
    struct usca_config cfg = {.name = "bench", .max_vcpus = 2, .ts_hz = hz};
    char what[64];

    pin(0);
    if (ring_only) {
        cfg.trace_mem_size = (uint64_t)atoi(argv[2]) * 1024 * cfg.max_vcpus;
        cfg.trace_mem = aligned_alloc(4096, cfg.trace_mem_size);
    }
    if (usca_init(&cfg) || usca_tracepoint_register(&tp_on) ||
        usca_tracepoint_register(&tp_off)) {
        fprintf(stderr, "bench_trace: agent init failed\n");
        return 1;
    }
    usca_tick();
    tp_off.enabled = 0;
    if (ring_only) {
        snprintf(what, sizeof(what), "rings of %s KiB chosen at init", argv[2]);
        paced_table(hz, what);
        print_load();
        return 0;
    }

    double floor, on, off;
    per_event(&floor, &on, &off);
    printf("per event, native, %u events x %d runs (median), TSC %.2f GHz:\n",
           EVENTS, RUNS, (double)hz / 1e9);
    printf("  rdtsc alone (the floor)        %7.2f ns\n", floor);
    printf("  uniscope agent, enabled        %7.2f ns   floor %+.2f ns, "
           "%.2fx the floor   (aim <= 12 ns, floor + 3)\n",
           on, on - floor, on / floor);
    printf("  uniscope agent, disabled       %7.2f ns   (aim <= 0.5 ns; one "
           "load, one branch, the loop's own increment)\n",
           off);
    if (lttng_ns > 0)
        printf("  LTTng-UST 2.13, enabled        %7.2f ns   agent is %.1fx "
               "faster\n",
               lttng_ns, lttng_ns / on);
    if (lttng_off_ns > 0)
        printf("  LTTng-UST 2.13, disabled       %7.2f ns\n", lttng_off_ns);

    double rps = 0, eps = 0, bps = 0;
    int err = read_rate(&rps);
    if (err)
        printf("host read: failed (%s)\n", strerror(-err));
    else
        printf("host drain, one core, %u-byte events:\n"
               "  read + check (the ring parser)  %7.1f M events/s   "
               "(aim >= 200 M/s)\n",
               tp_on.size, rps / 1e6);
    err = drain_rate(&eps, &bps);
    double mem = copy_gbs(64u << 20);
    if (err)
        printf("host drain: failed (%s)\n", strerror(-err));
    else
        printf("  + CTF files on tmpfs            %7.1f M events/s, %.2f GB/s "
               "of packets; a cold 64 MiB memcpy: %.2f GB/s (%.0f%% of it)\n",
               eps / 1e6, bps / 1e9, mem, 100 * bps / 1e9 / mem);

    paced_table(hz, "the built-in 256 KiB ring");
    print_load();
    return 0;
}
