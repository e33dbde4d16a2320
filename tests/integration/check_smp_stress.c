/* Stress: 4 vCPUs trace and count as fast as they can for 10 s while
 * unitrace streams the rings and unitop reads the agent. Nothing torn,
 * no unreadable sample, and every vCPU's events add up exactly:
 * emitted (the agent's own counter) = written (in the trace) + lost.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_reader.h"
#include "harness.h"
#include "target.h"
#include "trace_ctf.h"
#include "trace_reader.h"

#define NCPU 4
#define NAME "smp-stress"
#define STRESS_MS 600000 /* 10 s of the guest's; TCG on a busy box */
#define OUT_MAX (1u << 20)

struct stress_rec {
    struct usc_trace_event_header h;
    uint64_t n, vcpu;
};

static char dir[512]; /* this test's scratch folder */

static int stress_done(void *arg)
{
    return test_agent_metric(arg, "stress_done") == NCPU;
}

/* Wait for (pid) to exit, at most (ms); its status, or -ETIMEDOUT. */
static int wait_child(pid_t pid, int ms)
{
    int64_t deadline = test_now_ms() + ms;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (test_now_ms() > deadline)
            return -ETIMEDOUT;
        test_poll_pause();
    }
}

/* All of (fd) until EOF into (buf), NUL-terminated. */
static void drain(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = 0;
    close(fd);
}

struct stream_count {
    uint64_t events;
    uint64_t last_n; /* the newest n + 1, 0 before the first */
    uint64_t discarded;
    uint64_t bad; /* records not of this vCPU's stress event, or out of
                     order (no ck_assert per record: each one costs) */
};

/*
 * Walk stream file vcpu(v) of the trace: every packet whole (magic, size),
 * every record the stress event (id) of this vCPU, its numbers rising.
 */
static struct stream_count walk_stream(uint32_t v, uint32_t id)
{
    static unsigned char pk[USC_TRACE_PACKET_MAX];
    struct stream_count c = {0};
    char path[600];
    uint64_t seq = 0;

    snprintf(path, sizeof(path), "%s/trace/vcpu%u", dir, v);
    int fd = open(path, O_RDONLY);
    ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
    for (;;) {
        struct usc_ctf_packet_header h;
        ssize_t n = read(fd, &h, sizeof(h));
        if (n == 0)
            break;
        ck_assert_int_eq(n, sizeof(h));
        ck_assert_uint_eq(h.magic, 0xc1fc1fc1u);
        ck_assert_uint_eq(h.cpu_id, v);
        uint32_t size = (uint32_t)(h.packet_size / 8);
        uint32_t content = (uint32_t)(h.content_size / 8);
        ck_assert(size >= sizeof(h) && size <= sizeof(pk) && content <= size);
        ck_assert_msg(h.packet_seq_num == seq,
                      "vcpu%u: packet %" PRIu64 " after %" PRIu64, v,
                      h.packet_seq_num, seq);
        seq++;
        memcpy(pk, &h, sizeof(h));
        n = read(fd, pk + sizeof(h), size - sizeof(h));
        ck_assert_int_eq(n, size - sizeof(h));
        for (uint32_t off = sizeof(h);
             off + sizeof(struct stress_rec) <= content;
             off += sizeof(struct stress_rec)) {
            struct stress_rec r;
            memcpy(&r, pk + off, sizeof(r));
            if (r.h.id != id || r.vcpu != v || r.n < c.last_n)
                c.bad++;
            c.last_n = r.n + 1;
            c.events++;
        }
        c.discarded = h.events_discarded;
    }
    close(fd);
    return c;
}

/* The value of metric (name) in unitop's JSON of guest (g), or -1. */
static int64_t top_metric(json_t *g, const char *name)
{
    json_t *m, *ms = json_object_get(g, "metrics");
    size_t k;

    json_array_foreach(ms, k, m)
    {
        const char *n = json_string_value(json_object_get(m, "name"));
        if (n && !strcmp(n, name))
            return json_integer_value(json_object_get(m, "value"));
    }
    return -1;
}

/*
 * Every sample of unitop's JSON (an array of one object a refresh, cut
 * where unitop was stopped) read our guest's agent, its counter rising.
 * Returns the samples; (*first) and (*last) the counter's values.
 */
static int unitop_samples(const char *path, uint64_t *first, uint64_t *last)
{
    static char text[16u << 20];
    FILE *f = fopen(path, "r");
    int samples = 0;

    ck_assert_ptr_nonnull(f);
    size_t len = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[len] = 0;
    const char *p = strchr(text, '[');
    ck_assert_ptr_nonnull(p);
    for (p++;;) {
        json_error_t e;
        while (*p == ',' || *p == ' ' || *p == '\n')
            p++;
        json_t *doc =
            json_loadb(p, len - (size_t)(p - text), JSON_DISABLE_EOF_CHECK, &e);
        if (!doc)
            break; /* the end, or the sample unitop was stopped in */
        p += e.position;
        json_t *g, *guests = json_object_get(doc, "guests");
        size_t i;
        int64_t v = -1;
        json_array_foreach(guests, i, g)
        {
            const char *an =
                json_string_value(json_object_get(g, "agent_name"));
            if (an && !strcmp(an, NAME))
                v = top_metric(g, "stress_events");
        }
        json_decref(doc);
        ck_assert_msg(v >= 0, "unitop sample %d without %s's agent", samples,
                      NAME);
        ck_assert_uint_ge((uint64_t)v, *last);
        if (!samples)
            *first = (uint64_t)v;
        *last = (uint64_t)v;
        samples++;
    }
    return samples;
}

START_TEST(test_stress_four_vcpus_counts_add_up)
{
    static char rec_out[OUT_MAX], out[OUT_MAX];
    char trace[600], topjson[600], topcmd[1400];
    int rec_fd, top_fd;

    snprintf(dir, sizeof(dir), "%s/stress-XXXXXX",
             getenv("USC_TEST_SCRATCH") ? getenv("USC_TEST_SCRATCH") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(trace, sizeof(trace), "%s/trace", dir);
    snprintf(topjson, sizeof(topjson), "%s/unitop.json", dir);

    test_boot_vcpus(NAME, 64, NCPU, "scenario=stress stress_for=10 name=" NAME);
    struct usc_target *t = test_target_open(NAME);
    struct usc_agent *a = test_wait_agent(t, NAME);

    /* the guest traces only once its ring is streamed: record from the
     * start, and unitop reads meanwhile */
    char *rec[] = {(char *)test_env("USC_UNITRACE"),
                   "record",
                   NAME,
                   "-o",
                   trace,
                   "--mode",
                   "stream",
                   NULL};
    pid_t rec_pid = test_spawn(rec, &rec_fd);
    ck_assert_int_gt(rec_pid, 0);
    snprintf(topcmd, sizeof(topcmd),
             "exec %s -b -n 1000 -d 0.5 --format json > %s",
             test_env("USC_UNITOP"), topjson);
    char *top[] = {"sh", "-c", topcmd, NULL};
    pid_t top_pid = test_spawn(top, &top_fd);
    ck_assert_int_gt(top_pid, 0);

    ck_assert_msg(test_wait_for(stress_done, a, STRESS_MS),
                  "the stress never finished: %" PRIu64 " vCPUs done",
                  test_agent_metric(a, "stress_done"));
    kill(top_pid, SIGTERM);
    kill(rec_pid, SIGINT);
    ck_assert_int_eq(wait_child(rec_pid, 120000), 0);
    drain(rec_fd, rec_out, sizeof(rec_out));
    wait_child(top_pid, 30000);
    close(top_fd);

    /* unitrace: nothing torn, no packet missing */
    ck_assert_msg(strstr(rec_out, "cut short") == NULL, "%.2000s", rec_out);
    ck_assert_msg(strstr(rec_out, ", 0 packets") ||
                      strstr(rec_out, "lost: none"),
                  "%.2000s", rec_out);

    /* the agent's own counters, now that nothing is emitted */
    struct usc_trace *tr = NULL;
    ck_assert_int_eq(usc_trace_open(a, usc_target_physmem(t), &tr), 0);
    const struct usc_trace_schema *s = usc_trace_schema_of(tr);
    uint32_t id = UINT32_MAX;
    for (uint32_t i = 0; i < s->count; i++)
        if (!strcmp(s->classes[i].name, "stress_event"))
            id = i;
    ck_assert_uint_ne(id, UINT32_MAX);
    uint64_t total = 0, lost = 0;
    for (uint32_t v = 0; v < NCPU; v++) {
        struct usc_trace_ring_info ri;
        ck_assert_int_eq(usc_trace_ring_info(tr, v, &ri), 0);
        ck_assert(ri.emitted_known);
        struct stream_count c = walk_stream(v, id);
        ck_assert_uint_gt(c.events, 0);
        ck_assert_msg(c.bad == 0, "vcpu%u: %" PRIu64 " torn or foreign records",
                      v, c.bad);
        ck_assert_msg(c.events + ri.lost == ri.emitted,
                      "vcpu%u: %" PRIu64 " written + %" PRIu64
                      " lost != %" PRIu64 " emitted",
                      v, c.events, ri.lost, ri.emitted);
        /* the stream's own count of what the guest discarded agrees */
        ck_assert_uint_le(c.discarded, ri.lost);
        /* every emitted event was numbered: the last one is emitted - 1 */
        ck_assert_uint_le(c.last_n, ri.emitted);
        total += c.events;
        lost += ri.lost;
    }
    usc_trace_close(tr);

    /* unitrace report and babeltrace2 count what was written, the same */
    char *report[] = {(char *)test_env("USC_UNITRACE"), "report", trace,
                      "--json", NULL};
    ck_assert_int_eq(test_run(report, out, sizeof(out), 120000), 0);
    json_error_t e;
    json_t *r = json_loads(out, 0, &e);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(
        (uint64_t)json_integer_value(json_object_get(r, "events")), total);
    json_t *loss = json_object_get(r, "losses");
    ck_assert_int_eq(
        json_integer_value(json_object_get(loss, "missing_packets")), 0);
    ck_assert_int_eq(
        json_integer_value(json_object_get(loss, "corrupt_packets")), 0);
    json_decref(r);
    char *bt[] = {"babeltrace2", trace,     "-c", "sink.utils.counter",
                  "-p",          "step=+0", NULL};
    ck_assert_int_eq(test_run(bt, out, sizeof(out), 300000), 0);
    char want[64];
    snprintf(want, sizeof(want), " %" PRIu64 " Event messages", total);
    ck_assert_msg(strstr(out, want), "babeltrace2 counted, not%s:\n%.2000s",
                  want, out);
    ck_assert_msg(strstr(out, " 4 Stream beginning messages"),
                  "babeltrace2 did not read 4 streams:\n%.2000s", out);

    /* unitop read the agent in every sample, its counter rising */
    uint64_t first = 0, last = 0;
    int samples = unitop_samples(topjson, &first, &last);
    ck_assert_int_ge(samples, 3);
    ck_assert_uint_gt(last, first);
    fprintf(stderr,
            "stress: %" PRIu64 " events written, %" PRIu64
            " lost; %d unitop samples\n",
            total, lost, samples);

    usc_agent_close(a);
    usc_target_close(t);
    ck_assert_int_eq(test_unirun_stop(NAME, out, sizeof(out)), 0);
}
END_TEST

int main(void)
{
    TCase *tc;
    Suite *s = test_suite("smp_stress", "stress", 900, &tc);
    /* unchecked: the guests go even when the test fails */
    tcase_add_unchecked_fixture(tc, test_rundir_fixture_setup,
                                test_rundir_teardown);
    tcase_add_test(tc, test_stress_four_vcpus_counts_add_up);
    return test_run_suite(s);
}
