/* The agent's rings (compiled for the host) through the host's reader,
 * recorder, CTF writer and statistics, checked against babeltrace2. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <uniscope/agent.h>
#include <unistd.h>

#include "agent_reader.h"
#include "trace_ctf.h"
#include "trace_dir.h"
#include "trace_reader.h"
#include "trace_record.h"
#include "trace_stats.h"

/* ---- the port: time advances by one tick per read ------------------- */

static uint64_t fake_now = 1000;
static uint32_t fake_vcpu;
static int irq_depth;
/* Called from inside the next timestamp read, as an interrupt would be. */
static void (*interrupt)(void);

uint64_t usca_port_timestamp(void)
{
    uint64_t t = fake_now++;
    if (interrupt && irq_depth == 0) {
        void (*fn)(void) = interrupt;
        interrupt = NULL;
        fn();
    }
    return t;
}

uint32_t usca_port_vcpu(void)
{
    return fake_vcpu;
}

unsigned long usca_port_irq_save(void)
{
    return (unsigned long)irq_depth++;
}

void usca_port_irq_restore(unsigned long flags)
{
    irq_depth = (int)flags;
}

/* Guest-physical == host virtual: the host side reads this process. */
uint64_t usca_port_virt_to_phys(const void *vaddr)
{
    return (uint64_t)(uintptr_t)vaddr;
}

static int id_read(void *priv, uint64_t paddr, void *buf, size_t len)
{
    (void)priv;
    memcpy(buf, (const void *)(uintptr_t)paddr, len);
    return 0;
}

static const void *id_map(void *priv, uint64_t paddr, size_t len)
{
    (void)priv;
    (void)len;
    return (const void *)(uintptr_t)paddr;
}

static int id_write(void *priv, uint64_t paddr, const void *buf, size_t len)
{
    (void)priv;
    memcpy((void *)(uintptr_t)paddr, buf, len);
    return 0;
}

static const struct usc_physmem self = {
    .read = id_read, .map = id_map, .write = id_write, .phys_end = UINT64_MAX};

/* ---- tracepoints ---------------------------------------------------- */

static const struct usca_tp_field item_fields[] = {USCA_U64("item")};
static const struct usca_tp_field tick_fields[] = {
    USCA_U32("tick"), USCA_S16("delta"), USCA_STR("who", 12), USCA_PTR("at")};
static struct usca_tracepoint tp_begin =
    USCA_TP("work_begin", USC_TP_BEGIN, item_fields);
static struct usca_tracepoint tp_end =
    USCA_TP_END("work_end", tp_begin, item_fields);
static struct usca_tracepoint tp_tick =
    USCA_TP("tick", USC_TP_INSTANT, tick_fields);
static struct usca_tracepoint tp_bare = USCA_TP0("bare", USC_TP_INSTANT);

static void init_agent(void)
{
    struct usca_config cfg = {
        .name = "unit-trace", .max_vcpus = 2, .ts_hz = 1000000};
    ck_assert_int_eq(usca_init(&cfg), 0);
    usca_vcpu_online(0);
    usca_tick();
    ck_assert_int_eq(usca_tracepoint_register(&tp_end), 0);
    ck_assert_int_eq(usca_tracepoint_register(&tp_tick), 0);
    ck_assert_int_eq(usca_tracepoint_register(&tp_bare), 0);
}

struct host {
    struct usc_agent *agent;
    struct usc_trace *trace;
    struct usc_ctf_writer *writer;
    struct usc_trace_recorder *rec;
    char dir[64];
};

static void host_open(struct host *h, const char *mode)
{
    uint64_t cb = usca_port_virt_to_phys(usca_control_block());
    ck_assert_int_eq(usc_agent_open(&self, cb, &h->agent), 0);
    ck_assert_int_eq(usc_trace_open(h->agent, &self, &h->trace), 0);
    snprintf(h->dir, sizeof(h->dir), "/tmp/usc-trace-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(h->dir));
    struct usc_ctf_info info = {.ts_hz = 1000000,
                                .nvcpus = 2,
                                .offset_known = true,
                                .offset_s = 1700000000};
    snprintf(info.guest, sizeof(info.guest), "unit-trace");
    snprintf(info.source, sizeof(info.source), "live");
    snprintf(info.mode, sizeof(info.mode), "%s", mode);
    ck_assert_int_eq(usc_ctf_writer_open(h->dir, &info,
                                         usc_trace_schema_of(h->trace),
                                         &h->writer),
                     0);
    ck_assert_int_eq(
        usc_trace_recorder_new(h->agent, h->trace, h->writer, &h->rec), 0);
}

static void host_close(struct host *h)
{
    ck_assert_int_eq(usc_ctf_writer_close(h->writer), 0);
    usc_trace_recorder_free(h->rec);
    usc_trace_close(h->trace);
    usc_agent_close(h->agent);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];
    while (d && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/*
 * Run babeltrace2 on (dir): the number of events it printed, its stderr in
 * (err) (cap bytes). -1 when it failed.
 */
static long babeltrace(const char *dir, char *err, size_t cap)
{
    char errpath[] = "/tmp/usc-bt-err-XXXXXX";
    int efd = mkstemp(errpath);
    int pfd[2];
    ck_assert_int_ge(efd, 0);
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(efd, 2);
        close(pfd[0]);
        execlp("babeltrace2", "babeltrace2", dir, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    long lines = 0;
    char buf[65536];
    ssize_t n;
    while ((n = read(pfd[0], buf, sizeof(buf))) > 0)
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    close(pfd[0]);
    int st;
    waitpid(pid, &st, 0);
    ssize_t e = pread(efd, err, cap - 1, 0);
    err[e > 0 ? e : 0] = '\0';
    close(efd);
    unlink(errpath);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? lines : -1;
}

static void stats_of(const char *dir, struct usc_trace_stats *st)
{
    struct usc_trace_dir *d = NULL;
    ck_assert_int_eq(usc_trace_dir_open(dir, &d), 0);
    ck_assert_int_eq(usc_trace_stats_compute(d, st), 0);
    usc_trace_dir_close(d);
}

static const struct usc_trace_span_stats *span(const struct usc_trace_stats *st,
                                               const char *name)
{
    for (size_t i = 0; i < st->nspans; i++)
        if (!strcmp(st->spans[i].name, name))
            return &st->spans[i];
    return NULL;
}

/* ---- tests ---------------------------------------------------------- */

START_TEST(test_snapshot_known_workload_gives_n_pairs)
{
    init_agent();
    const int n = 1000;
    for (int i = 0; i < n; i++) {
        USCA_TRACE1(&tp_begin, i);
        fake_now += 100; /* each pair lasts 100 + 1 ticks */
        USCA_TRACE1(&tp_end, i);
    }
    USCA_TRACE4(&tp_tick, 7, -2, "a-thread", &tp_tick);
    USCA_TRACE0(&tp_bare);

    struct host h;
    host_open(&h, "snapshot");
    ck_assert_int_eq(usc_trace_recorder_snapshot(h.rec, false), 0);
    struct usc_trace_rec_stats rs;
    usc_trace_recorder_stats(h.rec, &rs);
    ck_assert_uint_eq(rs.events, 2 * n + 2);
    ck_assert_uint_eq(rs.lost_packets, 0);
    host_close(&h);

    struct usc_trace_stats st;
    stats_of(h.dir, &st);
    ck_assert_uint_eq(st.events, 2 * n + 2);
    const struct usc_trace_span_stats *sp = span(&st, "work");
    ck_assert_ptr_nonnull(sp);
    ck_assert_uint_eq(sp->count, n);
    ck_assert_uint_eq(sp->unmatched_begin + sp->unmatched_end, 0);
    ck_assert_uint_eq(sp->p50, 101);
    ck_assert_uint_eq(sp->max, 101);
    ck_assert_uint_eq(st.discarded + st.missing_packets + st.bad_records, 0);
    usc_trace_stats_free(&st);

    char err[4096];
    ck_assert_int_eq(babeltrace(h.dir, err, sizeof(err)), 2 * n + 2);
    ck_assert_msg(err[0] == '\0', "babeltrace2 said: %s", err);
    remove_dir(h.dir);
}
END_TEST

START_TEST(test_stream_drain_many_packets_no_loss)
{
    init_agent();
    struct host h;
    host_open(&h, "stream");
    ck_assert_int_eq(usc_trace_recorder_stream_begin(h.rec, 10.0), 0);
    const int n = 100000;
    for (int i = 0; i < n; i++) {
        fake_vcpu = (uint32_t)(i & 1);
        USCA_TRACE1(&tp_begin, i);
        USCA_TRACE1(&tp_end, i);
        if (i % 1000 == 999) {
            usca_tick();
            ck_assert_int_eq(usc_trace_recorder_drain(h.rec), 0);
        }
    }
    ck_assert_int_eq(usc_trace_recorder_stream_end(h.rec), 0);
    struct usc_trace_rec_stats rs;
    usc_trace_recorder_stats(h.rec, &rs);
    ck_assert_uint_eq(rs.events, 2 * n);
    ck_assert_uint_eq(rs.discarded + rs.lost_packets, 0);
    host_close(&h);

    struct usc_trace_stats st;
    stats_of(h.dir, &st);
    ck_assert_uint_eq(st.events, 2 * n);
    ck_assert_uint_eq(span(&st, "work")->count, n);
    usc_trace_stats_free(&st);
    char err[4096];
    ck_assert_int_eq(babeltrace(h.dir, err, sizeof(err)), 2 * n);
    ck_assert_msg(err[0] == '\0', "babeltrace2 said: %s", err);
    remove_dir(h.dir);
}
END_TEST

START_TEST(test_stream_full_ring_drops_and_counts)
{
    init_agent();
    struct host h;
    host_open(&h, "stream");
    ck_assert_int_eq(usc_trace_recorder_stream_begin(h.rec, 10.0), 0);
    /* Far more than one 256 KiB ring holds, never drained meanwhile. */
    const int n = 40000;
    for (int i = 0; i < n; i++)
        USCA_TRACE1(&tp_begin, i);
    ck_assert_int_eq(usc_trace_recorder_stream_end(h.rec), 0);
    struct usc_trace_rec_stats rs;
    usc_trace_recorder_stats(h.rec, &rs);
    ck_assert_uint_gt(rs.discarded, 0);
    ck_assert_uint_eq(rs.events + rs.discarded, n);
    host_close(&h);

    struct usc_trace_stats st;
    stats_of(h.dir, &st);
    ck_assert_uint_eq(st.discarded, rs.discarded);
    ck_assert_uint_eq(st.events, rs.events);
    usc_trace_stats_free(&st);
    char err[4096];
    ck_assert_int_eq(babeltrace(h.dir, err, sizeof(err)), (long)rs.events);
    ck_assert_msg(strstr(err, "discarded"), "babeltrace2 said: %s", err);
    remove_dir(h.dir);
}
END_TEST

START_TEST(test_disabled_tracepoint_records_nothing)
{
    init_agent();
    struct host h;
    host_open(&h, "snapshot");
    ck_assert_int_eq(usc_trace_set_enabled(h.trace, tp_tick.id, false), 0);
    ck_assert_uint_eq(tp_tick.enabled, 0);
    bool on = true;
    ck_assert_int_eq(usc_trace_get_enabled(h.trace, tp_tick.id, &on), 0);
    ck_assert(!on);
    USCA_TRACE4(&tp_tick, 1, 2, "x", 0);
    USCA_TRACE0(&tp_bare);
    ck_assert_int_eq(usc_trace_set_enabled(h.trace, tp_tick.id, true), 0);
    USCA_TRACE4(&tp_tick, 3, 4, "y", 0);
    ck_assert_int_eq(usc_trace_recorder_snapshot(h.rec, false), 0);
    host_close(&h);
    struct usc_trace_stats st;
    stats_of(h.dir, &st);
    ck_assert_uint_eq(st.events, 2);
    ck_assert_uint_eq(st.class_count[tp_tick.id], 1);
    usc_trace_stats_free(&st);
    remove_dir(h.dir);
}
END_TEST

/* An interrupt lands between an event's reservation attempt and its swap. */
static void nested_event(void)
{
    USCA_TRACE0(&tp_bare);
}

START_TEST(test_interrupted_events_are_never_torn)
{
    init_agent();
    const int n = 20000; /* crosses many packet switches */
    for (int i = 0; i < n; i++) {
        if (i % 3 == 0)
            interrupt = nested_event;
        USCA_TRACE4(&tp_tick, i, -i, "worker", &fake_now);
    }
    struct host h;
    host_open(&h, "snapshot");
    ck_assert_int_eq(usc_trace_recorder_snapshot(h.rec, false), 0);
    struct usc_trace_rec_stats rs;
    usc_trace_recorder_stats(h.rec, &rs);
    ck_assert_uint_eq(rs.truncated + rs.incomplete + rs.lost_packets, 0);
    host_close(&h);
    struct usc_trace_dir *d = NULL;
    ck_assert_int_eq(usc_trace_dir_open(h.dir, &d), 0);
    struct usc_trace_dir_event ev;
    uint64_t last = 0, events = 0;
    int64_t prev_tick = -1;
    while (usc_trace_dir_next(d, &ev) == 1) {
        ck_assert_uint_ge(ev.ev.timestamp, last);
        last = ev.ev.timestamp;
        events++;
        if (ev.ev.id != tp_tick.id)
            continue;
        int64_t tick = (int64_t)usc_trace_event_value(&ev.ev, 0);
        ck_assert_int_eq((int16_t)usc_trace_event_value(&ev.ev, 1),
                         (int16_t)-tick);
        char who[16];
        usc_trace_event_string(&ev.ev, 2, who, sizeof(who));
        ck_assert_str_eq(who, "worker");
        ck_assert_uint_eq(usc_trace_event_value(&ev.ev, 3),
                          (uintptr_t)&fake_now);
        if (prev_tick >= 0)
            ck_assert_int_eq(tick, prev_tick + 1);
        prev_tick = tick;
    }
    ck_assert_int_eq(prev_tick, n - 1);
    ck_assert_uint_gt(events, 1000);
    usc_trace_dir_close(d);
    remove_dir(h.dir);
}
END_TEST

START_TEST(test_registration_rules)
{
    static const struct usca_tp_field bad_name[] = {USCA_U32("1x")};
    static const struct usca_tp_field bad_size[] = {
        {"v", USC_FIELD_UNSIGNED, 3}};
    static const struct usca_tp_field long_str[] = {USCA_STR("s", 65)};
    static struct usca_tracepoint a = USCA_TP("a", USC_TP_INSTANT, bad_name);
    static struct usca_tracepoint b = USCA_TP("b", USC_TP_INSTANT, bad_size);
    static struct usca_tracepoint c = USCA_TP("c", USC_TP_INSTANT, long_str);
    static struct usca_tracepoint d = USCA_TP0("has space", USC_TP_INSTANT);
    static struct usca_tracepoint e = USCA_TP0("tick", USC_TP_INSTANT);
    static struct usca_tracepoint f = USCA_TP_END0("f_end", tp_tick);
    static struct usca_tracepoint g = USCA_TP0("g", USC_TP_INSTANT);

    ck_assert_int_eq(usca_tracepoint_register(&g), -22); /* before init */
    init_agent();
    ck_assert_int_eq(usca_tracepoint_register(&a), -22);
    ck_assert_int_eq(usca_tracepoint_register(&b), -22);
    ck_assert_int_eq(usca_tracepoint_register(&c), -22);
    ck_assert_int_eq(usca_tracepoint_register(&d), -22);
    ck_assert_int_eq(usca_tracepoint_register(&e), -17);
    ck_assert_int_eq(usca_tracepoint_register(&f), -22); /* pair not BEGIN */
    ck_assert_int_eq(usca_tracepoint_register(&tp_tick), 0); /* twice */
    ck_assert_uint_eq(a.enabled + b.enabled + e.enabled, 0);
    ck_assert_uint_eq(usca_control_block()->tracepoints_count,
                      5); /* + agent_panic */
    g.start_off = 1;
    ck_assert_int_eq(usca_tracepoint_register(&g), 0);
    ck_assert_uint_eq(g.enabled, 0);
    ck_assert_int_eq(irq_depth, 0);
}
END_TEST

/* Rings of the unikernel's choosing: 1 MiB a vCPU holds what 256 KiB drops. */
START_TEST(test_ring_memory_chosen_at_init)
{
    static unsigned char mem[2u << 20] __attribute__((aligned(4096)));
    struct usca_config cfg = {.name = "unit-trace",
                              .max_vcpus = 2,
                              .ts_hz = 1000000,
                              .trace_mem = mem,
                              .trace_mem_size = sizeof(mem)};
    ck_assert_int_eq(usca_init(&cfg), 0);
    usca_tick();
    ck_assert_int_eq(usca_tracepoint_register(&tp_end), 0);
    struct host h;
    host_open(&h, "stream");
    struct usc_trace_ring_info ri;
    ck_assert_int_eq(usc_trace_ring_info(h.trace, 1, &ri), 0);
    ck_assert(ri.usable);
    ck_assert_uint_eq((uint64_t)ri.npackets * ri.packet_size, 1u << 20);
    ck_assert_int_eq(usc_trace_recorder_stream_begin(h.rec, 10.0), 0);
    /* test_stream_full_ring_drops_and_counts's load, never drained */
    const int n = 40000;
    for (int i = 0; i < n; i++)
        USCA_TRACE1(&tp_begin, i);
    ck_assert_int_eq(usc_trace_recorder_drain(h.rec), 0);
    ck_assert_int_eq(usc_trace_recorder_stream_end(h.rec), 0);
    struct usc_trace_rec_stats rs;
    usc_trace_recorder_stats(h.rec, &rs);
    ck_assert_uint_eq(rs.discarded + rs.lost_packets, 0);
    ck_assert_uint_eq(rs.events, n);
    /* the drain found the ring nearly full: its lag says so */
    ck_assert_double_gt(rs.max_fill, 0.8);
    ck_assert_double_le(rs.max_fill, 1.0);
    host_close(&h);
    remove_dir(h.dir);
}
END_TEST

START_TEST(test_ring_memory_that_cannot_hold_rings_is_refused)
{
    static unsigned char mem[64u << 10] __attribute__((aligned(4096)));
    struct usca_config cfg = {.name = "unit-trace",
                              .max_vcpus = 2,
                              .ts_hz = 1000000,
                              .trace_mem = mem + 8,
                              .trace_mem_size = sizeof(mem) - 8};
    /* unaligned */
    ck_assert_int_eq(usca_init(&cfg), -22);
    ck_assert_ptr_null(usca_control_block());
    /* two packets a vCPU at least */
    cfg.trace_mem = mem;
    cfg.trace_mem_size = 3 * 4096;
    ck_assert_int_eq(usca_init(&cfg), -22);
    ck_assert_ptr_null(usca_control_block());
    /* and a good one after those: nothing was published by them */
    cfg.trace_mem_size = sizeof(mem);
    ck_assert_int_eq(usca_init(&cfg), 0);
    ck_assert_ptr_nonnull(usca_control_block());
}
END_TEST

/* The drain's pace: fast after a burst, at its bound while quiet. */
START_TEST(test_drain_wait_follows_the_guest)
{
    init_agent();
    struct host h;
    host_open(&h, "stream");
    ck_assert_int_eq(usc_trace_recorder_stream_begin(h.rec, 10.0), 0);
    /* no rate known yet: as if fast */
    ck_assert_uint_eq(usc_trace_recorder_wait_us(h.rec, 5000000), 50);
    ck_assert_int_eq(usc_trace_recorder_drain(h.rec), 0);
    for (int i = 0; i < 5000; i++)
        USCA_TRACE1(&tp_begin, i);
    ck_assert_int_eq(usc_trace_recorder_drain(h.rec), 0);
    /* 120 KB in far less than a second: far more than 13 KB/s */
    ck_assert_uint_lt(usc_trace_recorder_wait_us(h.rec, 5000000), 5000000);
    ck_assert_uint_ge(usc_trace_recorder_wait_us(h.rec, 5000000), 50);
    /* the bound wins when it is shorter */
    ck_assert_uint_le(usc_trace_recorder_wait_us(h.rec, 20), 20);
    ck_assert_int_eq(usc_trace_recorder_stream_end(h.rec), 0);
    host_close(&h);
    remove_dir(h.dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("trace_pipeline");
    TCase *tc = tcase_create("pipeline");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_snapshot_known_workload_gives_n_pairs);
    tcase_add_test(tc, test_stream_drain_many_packets_no_loss);
    tcase_add_test(tc, test_stream_full_ring_drops_and_counts);
    tcase_add_test(tc, test_disabled_tracepoint_records_nothing);
    tcase_add_test(tc, test_interrupted_events_are_never_torn);
    tcase_add_test(tc, test_registration_rules);
    tcase_add_test(tc, test_ring_memory_chosen_at_init);
    tcase_add_test(tc, test_ring_memory_that_cannot_hold_rings_is_refused);
    tcase_add_test(tc, test_drain_wait_follows_the_guest);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
