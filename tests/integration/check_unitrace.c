/* unitrace against demo guests booted by unirun --detach, and babeltrace2. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_reader.h"
#include "harness.h"
#include "target.h"
#include "trace_dir.h"
#include "trace_reader.h"

#define BOOT_MS TEST_BOOT_MS
#define TOOL_MS 60000

/* Run unitrace with (args...) (NULL-terminated); its output in (out). */
static int unitrace(char *out, size_t cap, ...)
{
    const char *cmd[] = {test_env("USC_UNITRACE"), NULL};
    va_list ap;

    va_start(ap, cap);
    int rc = test_vrun(cmd, ap, out, cap, TOOL_MS);
    va_end(ap);
    return rc;
}

/* A fresh, not yet existing, trace directory name under the run dir. */
static void trace_dir(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", getenv("UNISCOPE_RUNDIR"), name);
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[1024];
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
 * Run babeltrace2 (dir): its exit status, the events it printed in
 * (*events) and its stderr in (err).
 */
static int babeltrace(const char *dir, long *events, char *err, size_t cap)
{
    char errpath[] = "/tmp/usc-bt-err-XXXXXX";
    int efd = mkstemp(errpath);
    int pfd[2];
    ck_assert_int_ge(efd, 0);
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
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
    *events = lines;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The sum of N over babeltrace2's "discarded N events" warnings. */
static long warned_discards(const char *err)
{
    long sum = 0;
    for (const char *p = err; (p = strstr(p, "discarded ")) != NULL;) {
        p += strlen("discarded ");
        sum += strtol(p, NULL, 10);
    }
    return sum;
}

/* unitrace report --json (dir), parsed. */
static json_t *report(const char *dir)
{
    static char out[1 << 20];
    int rc = unitrace(out, sizeof(out), "report", dir, "--json", NULL);
    ck_assert_msg(rc == 0, "report %s: %s", dir, out);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    ck_assert_msg(j != NULL, "report: bad JSON: %s", e.text);
    return j;
}

static long long report_int(json_t *r, const char *path1, const char *path2)
{
    json_t *v = json_object_get(r, path1);
    if (path2)
        v = json_object_get(v, path2);
    ck_assert_msg(json_is_integer(v), "report has no %s", path1);
    return json_integer_value(v);
}

/* Count of tracepoint (name) in the report, 0 if absent. */
static long long report_count(json_t *r, const char *name)
{
    json_t *tps = json_object_get(r, "tracepoints"), *t;
    size_t i;
    json_array_foreach(tps, i, t)
    {
        if (!strcmp(json_string_value(json_object_get(t, "name")), name))
            return json_integer_value(json_object_get(t, "count"));
    }
    return 0;
}

/* babeltrace2 reads (dir) with exit 0 and prints the report's count. */
static json_t *check_readable(const char *dir, bool no_warning)
{
    static char err[1 << 16];
    long events = -1;
    int rc = babeltrace(dir, &events, err, sizeof(err));
    ck_assert_msg(rc == 0, "babeltrace2 %s: %d: %s", dir, rc, err);
    json_t *r = report(dir);
    ck_assert_int_eq(events, report_int(r, "events", NULL));
    long long discarded = report_int(r, "losses", "discarded_events");
    if (no_warning || discarded == 0)
        ck_assert_msg(err[0] == '\0', "babeltrace2 warned: %s", err);
    else
        ck_assert_int_eq(warned_discards(err), discarded);
    return r;
}

struct agent_wait {
    const char *name;
    uint32_t state; /* wanted run state */
};

static int agent_in_state(void *arg)
{
    struct agent_wait *w = arg;
    struct usc_target *t = NULL;
    struct usc_agent *a = NULL;
    struct usc_agent_status st;
    int ok = 0;
    if (usc_target_open(w->name, &t) != 0)
        return 0;
    if (usc_agent_open(usc_target_physmem(t), USC_AGENT_SCAN, &a) == 0 &&
        usc_agent_status(a, &st) == 0)
        ok = st.state == w->state && st.tracepoints_count >= 12;
    usc_agent_close(a);
    usc_target_close(t);
    return ok;
}

static void wait_agent(const char *name, uint32_t state)
{
    struct agent_wait w = {name, state};
    ck_assert_msg(test_wait_for(agent_in_state, &w, BOOT_MS),
                  "agent of %s never reached state %u", name, state);
}

/* ---- tests -------------------------------------------------------------- */

START_TEST(test_list_help_and_errors)
{
    char out[8192];
    ck_assert_int_eq(unitrace(out, sizeof(out), "list", "tw", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "sched_switch"));
    ck_assert_ptr_nonnull(strstr(out, "work_begin"));
    ck_assert_ptr_nonnull(strstr(out, "agent_panic"));
    ck_assert_ptr_nonnull(strstr(out, "overwrite"));
    ck_assert_int_eq(unitrace(out, sizeof(out), "--help", NULL), 0);
    ck_assert_int_eq(unitrace(out, sizeof(out), "--version", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "unitrace"));

    ck_assert_int_eq(unitrace(out, sizeof(out), "list", "nosuch", NULL), 1);
    ck_assert_str_eq(out, "unitrace: nosuch: no such guest\n");
    ck_assert_int_eq(unitrace(out, sizeof(out), "enable", "tw", "zzz*", NULL),
                     1);
    ck_assert_ptr_nonnull(strstr(out, "no tracepoint matches"));
    ck_assert_int_eq(
        unitrace(out, sizeof(out), "report", "/nonexistent-dir", NULL), 1);
    ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
    ck_assert_int_ne(unitrace(out, sizeof(out), "record", "tw", NULL), 0);
    ck_assert_int_ne(unitrace(out, sizeof(out), "frobnicate", NULL), 0);
}
END_TEST

START_TEST(test_snapshot_and_stream_read_by_babeltrace)
{
    char dir[512], out[4096];
    trace_dir(dir, sizeof(dir), "snap");
    ck_assert_int_eq(unitrace(out, sizeof(out), "record", "tw", "-o", dir,
                              "--duration", "0.5", NULL),
                     0);
    json_t *r = check_readable(dir, true);
    /* A full flight recorder of scenario=work: thousands of events. */
    ck_assert_int_gt(report_int(r, "events", NULL), 5000);
    ck_assert_int_gt(report_count(r, "work_step"), 0);
    json_decref(r);
    remove_tree(dir);

    /* The idle guest: few events, none of them lost. */
    trace_dir(dir, sizeof(dir), "stream-idle");
    ck_assert_int_eq(unitrace(out, sizeof(out), "record", "ti", "-o", dir,
                              "--duration", "1.5", "--mode", "stream", NULL),
                     0);
    r = check_readable(dir, true);
    ck_assert_int_ge(report_count(r, "timer_tick"), 50);
    ck_assert_int_ge(report_count(r, "heartbeat_begin"), 5);
    json_decref(r);
    remove_tree(dir);

    /* The busy guest: every event babeltrace2 shows is counted. */
    trace_dir(dir, sizeof(dir), "stream-work");
    ck_assert_int_eq(unitrace(out, sizeof(out), "record", "tw", "-o", dir,
                              "--duration", "1", "--mode", "stream", NULL),
                     0);
    r = check_readable(dir, false);
    /* A busy guest's second of events (how many depends on how much CPU
     * TCG gets: rates are the benchmarks' business). */
    double secs = json_real_value(json_object_get(r, "duration_s"));
    ck_assert_double_gt(secs, 0);
    ck_assert_int_gt(report_int(r, "events", NULL), 1000);
    json_decref(r);
    remove_tree(dir);
}
END_TEST

START_TEST(test_known_workload_spans)
{
    char dir[512], out[4096];
    trace_dir(dir, sizeof(dir), "spans");
    ck_assert_int_eq(unitrace(out, sizeof(out), "record", "ti", "-o", dir,
                              "--duration", "1.2", "--mode", "stream", NULL),
                     0);
    json_t *r = check_readable(dir, true);
    json_t *spans = json_object_get(r, "spans"), *sp;
    size_t i;
    int found = 0;
    json_array_foreach(spans, i, sp)
    {
        if (strcmp(json_string_value(json_object_get(sp, "name")), "heartbeat"))
            continue;
        found = 1;
        /* One span per heartbeat: every begin matched by its end. */
        long long begins = report_count(r, "heartbeat_begin");
        long long count = json_integer_value(json_object_get(sp, "count"));
        long long open =
            json_integer_value(json_object_get(sp, "unmatched_begin"));
        ck_assert_int_eq(count + open, begins);
        ck_assert_int_le(open, 1);
        ck_assert_int_ge(count, 5);
        double p50 = json_real_value(json_object_get(sp, "p50_s"));
        double max = json_real_value(json_object_get(sp, "max_s"));
        ck_assert_double_gt(p50, 0);
        ck_assert_double_ge(max, p50);
    }
    ck_assert_msg(found, "no heartbeat span in the report");
    json_decref(r);
    remove_tree(dir);
}
END_TEST

START_TEST(test_overloaded_stream_counts_losses)
{
    char dir[512], out[4096];
    trace_dir(dir, sizeof(dir), "overload");
    /* Drained once a second, a 256 KiB ring cannot hold a busy guest. */
    ck_assert_int_eq(unitrace(out, sizeof(out), "record", "tw", "-o", dir,
                              "--duration", "2.5", "--mode", "stream",
                              "--interval", "1000", NULL),
                     0);
    ck_assert_msg(strstr(out, "discarded by the guest"), "record: %s", out);
    json_t *r = check_readable(dir, false);
    ck_assert_int_gt(report_int(r, "losses", "discarded_events"), 0);
    json_decref(r);
    char text[8192];
    ck_assert_int_eq(unitrace(text, sizeof(text), "report", dir, NULL), 0);
    /* Losses come first. */
    char *losses = strstr(text, "losses:");
    ck_assert_ptr_nonnull(losses);
    ck_assert(losses < strstr(text, "TRACEPOINT"));
    ck_assert_ptr_nonnull(strstr(losses, "discarded by the guest"));
    remove_tree(dir);
}
END_TEST

static int stream_grew(void *arg)
{
    struct stat st;
    return stat(arg, &st) == 0 && st.st_size >= 64 * 4096;
}

START_TEST(test_kill9_mid_record_leaves_a_readable_trace)
{
    char dir[512], stream[600];
    trace_dir(dir, sizeof(dir), "killed");
    snprintf(stream, sizeof(stream), "%s/vcpu0", dir);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execl(test_env("USC_UNITRACE"), "unitrace", "record", "tw", "-o", dir,
              "--mode", "stream", (char *)NULL);
        _exit(127);
    }
    ck_assert_msg(test_wait_for(stream_grew, stream, BOOT_MS),
                  "the recording never grew");
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int st;
    waitpid(pid, &st, 0);
    ck_assert(WIFSIGNALED(st));
    json_t *r = check_readable(dir, false);
    ck_assert_int_gt(report_int(r, "events", NULL), 1000);
    json_decref(r);
    remove_tree(dir);
}
END_TEST

struct ring_move {
    struct usc_target *t;
    struct usc_agent *a;
    uint64_t packet[64]; /* each ring's open packet when we began to wait */
};

/* (m) at 0: note each ring's open packet; later, have all moved on? */
static int rings_moved_on(struct ring_move *m, bool first)
{
    struct usc_trace *tr;
    struct usc_trace_ring_info ri;
    int moved = 1;

    ck_assert_int_eq(usc_trace_open(m->a, usc_target_physmem(m->t), &tr), 0);
    for (uint32_t i = 0; i < usc_trace_nrings(tr) && i < 64; i++) {
        if (usc_trace_ring_info(tr, i, &ri) || !ri.usable)
            continue;
        if (first)
            m->packet[i] = ri.pos / ri.packet_size;
        else if (ri.pos / ri.packet_size <= m->packet[i] &&
                 ri.pos % ri.packet_size > sizeof(struct usc_trace_packet))
            moved = 0; /* same packet, with events in it */
    }
    usc_trace_close(tr);
    return moved;
}

static int moved_on(void *arg)
{
    return rings_moved_on(arg, false);
}

/*
 * Wait until each of guest (name)'s rings opens a new packet (or has no
 * event in its open one): a recording starts with the packet being filled,
 * so one made after this holds no event from before the call.
 */
static void wait_new_packet(const char *name)
{
    struct ring_move m = {.t = test_target_open(name)};

    m.a = test_wait_agent(m.t, name);
    rings_moved_on(&m, true);
    ck_assert_msg(test_wait_for(moved_on, &m, BOOT_MS),
                  "guest %s never opened another packet", name);
    usc_agent_close(m.a);
    usc_target_close(m.t);
}

/* Does a stream recording of (guest) for (secs) hold (tracepoint)? */
static long long recorded(const char *guest, const char *secs,
                          const char *tracepoint)
{
    char dir[512], out[4096];
    trace_dir(dir, sizeof(dir), "toggle");
    ck_assert_int_eq(unitrace(out, sizeof(out), "record", guest, "-o", dir,
                              "--duration", secs, "--mode", "stream", NULL),
                     0);
    json_t *r = report(dir);
    long long n = report_count(r, tracepoint);
    json_decref(r);
    remove_tree(dir);
    return n;
}

START_TEST(test_enable_disable_on_a_running_guest)
{
    char out[8192];
    ck_assert_int_eq(
        unitrace(out, sizeof(out), "disable", "tw", "work_*", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "disabled 3 of 3"));
    ck_assert_int_eq(unitrace(out, sizeof(out), "list", "tw", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "off instant work_step"));
    /* A recording starts with the packet being filled, which may hold
     * events from before: wait for the next. */
    wait_new_packet("tw");
    ck_assert_int_eq(recorded("tw", "0.6", "work_step"), 0);
    ck_assert_int_gt(recorded("tw", "0.6", "sched_switch"), 0);

    ck_assert_int_eq(
        unitrace(out, sizeof(out), "enable", "tw", "work_step", NULL), 0);
    ck_assert_int_gt(recorded("tw", "0.6", "work_step"), 1000);
    ck_assert_int_eq(recorded("tw", "0.6", "work_begin"), 0);
    ck_assert_int_eq(unitrace(out, sizeof(out), "enable", "tw", "*", NULL), 0);
}
END_TEST

START_TEST(test_chrome_json_holds_the_events)
{
    char dir[512], file[600], out[4096];
    trace_dir(dir, sizeof(dir), "chrome");
    snprintf(file, sizeof(file), "%s.json", dir);
    ck_assert_int_eq(unitrace(out, sizeof(out), "record", "tw", "-o", dir,
                              "--duration", "0.5", "--mode", "stream", NULL),
                     0);
    ck_assert_int_eq(unitrace(out, sizeof(out), "convert", dir, "--format",
                              "chrome", "-o", file, NULL),
                     0);
    json_error_t e;
    json_t *root = json_load_file(file, 0, &e);
    ck_assert_msg(root, "%s: %s (line %d)", file, e.text, e.line);
    json_t *events = json_object_get(root, "traceEvents"), *ev;
    ck_assert(json_is_array(events));
    size_t i, x = 0, work = 0, inst = 0, meta = 0, workers = 0;
    json_array_foreach(events, i, ev)
    {
        const char *ph = json_string_value(json_object_get(ev, "ph"));
        const char *name = json_string_value(json_object_get(ev, "name"));
        ck_assert(ph && name);
        ck_assert_int_eq(json_integer_value(json_object_get(ev, "pid")), 1);
        if (!strcmp(ph, "X")) {
            /* The demo kernel's spans: work, and rest around a sleep. */
            ck_assert_msg(!strcmp(name, "work") || !strcmp(name, "rest"),
                          "span %s", name);
            ck_assert(json_number_value(json_object_get(ev, "dur")) > 0);
            x++;
            work += !strcmp(name, "work");
        } else if (!strcmp(ph, "i")) {
            inst++;
        } else if (!strcmp(ph, "M")) {
            meta++;
            const char *tn = json_string_value(
                json_object_get(json_object_get(ev, "args"), "name"));
            if (!strcmp(name, "thread_name") && tn && strstr(tn, "worker-"))
                workers++;
        }
    }
    ck_assert_uint_gt(work, 10);
    ck_assert_uint_gt(inst, 1000);
    ck_assert_uint_ge(workers, 3);
    json_t *r = report(dir);
    ck_assert_int_eq(
        report_int(r, "events", NULL),
        (long long)(inst + 2 * x) +
            (long long)(json_array_size(events) - x - inst - meta));
    json_decref(r);
    json_decref(root);
    unlink(file);
    remove_tree(dir);
}
END_TEST

/* The last event of trace (dir), and whether crash_begin shortly precedes. */
static void last_events(const char *dir, char *last, size_t cap,
                        uint64_t *vector, uint64_t *cr2, int *crash_seen)
{
    struct usc_trace_dir *d = NULL;
    struct usc_trace_dir_event ev;
    int since_crash = -1;
    ck_assert_int_eq(usc_trace_dir_open(dir, &d), 0);
    last[0] = '\0';
    while (usc_trace_dir_next(d, &ev) == 1) {
        snprintf(last, cap, "%s", ev.ev.cls->name);
        if (!strcmp(last, "crash_begin"))
            since_crash = 0;
        else if (since_crash >= 0)
            since_crash++;
        if (!strcmp(last, "agent_panic")) {
            *vector = usc_trace_event_value(&ev.ev, 0);
            *cr2 = usc_trace_event_value(&ev.ev, 2);
        }
    }
    /* Only a tick or a switch may come between the two. */
    *crash_seen = since_crash >= 1 && since_crash <= 4;
    usc_trace_dir_close(d);
}

START_TEST(test_extract_from_a_crash_core)
{
    test_boot("tc", 64, "scenario=crash threads=2");
    wait_agent("tc", USC_STATE_PANICKED);

    char core[512], dir[512], out[4096];
    snprintf(core, sizeof(core), "%s/tc.core", getenv("UNISCOPE_RUNDIR"));
    test_qemu_dump("tc", core);

    trace_dir(dir, sizeof(dir), "crash");
    int rc = unitrace(out, sizeof(out), "extract", core, "-o", dir, NULL);
    ck_assert_msg(rc == 0, "extract: %s", out);
    json_t *r = check_readable(dir, true);
    ck_assert_int_gt(report_int(r, "events", NULL), 1000);
    json_decref(r);

    char last[USC_TP_NAME_MAX];
    uint64_t vector = 0, cr2 = 0;
    int crash_seen = 0;
    last_events(dir, last, sizeof(last), &vector, &cr2, &crash_seen);
    ck_assert_str_eq(last, "agent_panic");
    ck_assert_uint_eq(vector, 14);
    ck_assert_uint_eq(cr2, 0xdeadbeef);
    ck_assert_msg(crash_seen, "crash_begin is not just before the panic");

    /* A core cannot be written: enabling is refused in one line. */
    ck_assert_int_eq(unitrace(out, sizeof(out), "disable", core, "*", NULL), 1);
    ck_assert_ptr_nonnull(strstr(out, "cannot be written"));
    unlink(core);
    remove_tree(dir);
}
END_TEST

static void setup(void)
{
    test_rundir_fixture_setup();
    test_boot("tw", 64, "scenario=work threads=3");
    test_boot("ti", 64, "scenario=idle");
    wait_agent("tw", USC_STATE_RUNNING);
    wait_agent("ti", USC_STATE_RUNNING);
}

int main(void)
{
    TCase *tc;
    Suite *s = test_suite("unitrace", "unitrace", 120, &tc);
    tcase_add_unchecked_fixture(tc, setup, test_rundir_teardown);
    tcase_add_test(tc, test_list_help_and_errors);
    tcase_add_test(tc, test_snapshot_and_stream_read_by_babeltrace);
    tcase_add_test(tc, test_known_workload_spans);
    tcase_add_test(tc, test_overloaded_stream_counts_losses);
    tcase_add_test(tc, test_kill9_mid_record_leaves_a_readable_trace);
    tcase_add_test(tc, test_enable_disable_on_a_running_guest);
    tcase_add_test(tc, test_chrome_json_holds_the_events);
    tcase_add_test(tc, test_extract_from_a_crash_core);
    return test_run_suite(s);
}
