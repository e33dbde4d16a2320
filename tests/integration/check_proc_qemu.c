/* Guests in QEMUs started by hand (anonymous RAM, no uniscope sockets),
 * reached as pid:PID: unitop, unirun --list, unicore, unigdb, unitrace. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_reader.h"
#include "check_proc.h"
#include "harness.h"
#include "target.h"

/* A QEMU of the test's own, found by its pid among the host's others. */
struct vmm {
    pid_t pid;
    char console[300];
    char gdb[300]; /* its gdb stub's socket, "" for none */
};

static char dir[256];
static struct vmm work, crash;

/* QEMU as an orchestrator would start it: RAM anonymous, no QMP. */
static void boot(struct vmm *v, const char *tag, const char *append, int stub)
{
    char serial[320], gdb[360];
    const char *qemu =
        getenv("USC_QEMU") ? getenv("USC_QEMU") : "qemu-system-x86_64";

    snprintf(v->console, sizeof(v->console), "%s/%s.log", dir, tag);
    snprintf(serial, sizeof(serial), "file:%s", v->console);
    v->gdb[0] = '\0';
    if (stub) {
        snprintf(v->gdb, sizeof(v->gdb), "%s/%s.gdb", dir, tag);
        snprintf(gdb, sizeof(gdb), "unix:%s,server=on,wait=off", v->gdb);
    }
    const char *argv[] = {qemu,
                          "-accel",
                          "tcg",
                          "-m",
                          "64",
                          "-nodefaults",
                          "-display",
                          "none",
                          "-serial",
                          serial,
                          "-no-reboot",
                          "-kernel",
                          test_env("USC_DEMOKERNEL"),
                          "-append",
                          append,
                          stub ? "-gdb" : NULL,
                          gdb,
                          NULL};
    v->pid = fork();
    ck_assert_int_ge(v->pid, 0);
    if (v->pid == 0) {
        int null = open("/dev/null", O_RDWR);

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        execvp(qemu, (char *const *)argv);
        _exit(127);
    }
}

/* "pid:PID" of (v), with (extra) after it. */
static const char *target(const struct vmm *v, const char *extra)
{
    static char buf[512];

    snprintf(buf, sizeof(buf), "pid:%d%s", (int)v->pid, extra);
    return buf;
}

static const char *with_stub(const struct vmm *v)
{
    char extra[400];

    snprintf(extra, sizeof(extra), ",gdb=unix:%s", v->gdb);
    return target(v, extra);
}

/* A metric of (v)'s agent, read through pid:PID; -1 until it is there. */
static int64_t metric(const struct vmm *v, const char *name, uint32_t *state)
{
    struct usc_target *t = NULL;
    struct usc_agent *a = NULL;
    struct usc_agent_metric m[32];
    struct usc_agent_status st;
    int64_t value = -1;
    size_t n = 0;

    if (usc_target_open(target(v, ""), &t) == 0 &&
        usc_target_agent_open(t, &a) == 0 && usc_agent_status(a, &st) == 0 &&
        usc_agent_metrics(a, m, 32, &n) != -EFAULT) {
        if (state)
            *state = st.state;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(m[i].name, name))
                value = (int64_t)m[i].value;
    }
    usc_agent_close(a);
    usc_target_close(t);
    return value;
}

static int working(void *arg)
{
    return metric(arg, "work_items", NULL) > 0;
}

static int crashed(void *arg)
{
    uint32_t st = 0;

    return metric(arg, "timer_ticks", &st) >= 0 && st == USC_STATE_PANICKED;
}

static void fleet_up(void)
{
    snprintf(dir, sizeof(dir), "/tmp/usc-proc-qemu-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    /* unirun --list needs a run directory; the host's VMMs are the point */
    ck_assert_ptr_nonnull(test_rundir_setup());
    unsetenv("UNISCOPE_VMM_SCAN");
    boot(&work, "work", "scenario=work threads=2 name=procwork", 1);
    boot(&crash, "crash", "scenario=crash threads=1 name=proccrash", 0);
    ck_assert_msg(test_wait_for(working, &work, TEST_BOOT_MS),
                  "pid:%d: no agent doing work", (int)work.pid);
    ck_assert_msg(test_wait_for(crashed, &crash, TEST_BOOT_MS),
                  "pid:%d: no agent that panicked", (int)crash.pid);
}

static void fleet_down(void)
{
    struct vmm *all[] = {&work, &crash};

    for (int i = 0; i < 2; i++) {
        if (all[i]->pid > 0) {
            kill(all[i]->pid, SIGKILL);
            waitpid(all[i]->pid, NULL, 0);
        }
        all[i]->pid = 0;
    }
    test_rundir_teardown();
    test_remove_tree(dir);
}

/* (v)'s row in one unitop iteration, exactly one; NULL when absent. */
static json_t *row(json_t *iteration, const struct vmm *v)
{
    json_t *g, *found = NULL;
    size_t i;
    int n = 0;

    json_array_foreach(json_object_get(iteration, "guests"), i, g)
    {
        if (json_integer_value(json_object_get(g, "pid")) == v->pid &&
            !strcmp(json_string_value(json_object_get(g, "kind")), "pid")) {
            found = g;
            n++;
        }
    }
    ck_assert_int_le(n, 1);
    return found;
}

START_TEST(test_unitop_lists_them_with_agent_figures_advancing)
{
    char *out;
    json_error_t e;

    ck_assert_int_eq(tool("USC_UNITOP", &out, "-b", "-n", "3", "-d", "0.5",
                          "--format", "json", NULL),
                     0);
    json_t *all = json_loads(out, 0, &e);
    ck_assert_msg(json_is_array(all), "not JSON: %s", e.text);
    ck_assert_uint_eq(json_array_size(all), 3);
    json_t *first = row(json_array_get(all, 0), &work);
    json_t *last = row(json_array_get(all, 2), &work);
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_nonnull(last);
    ck_assert_str_eq(json_string_value(json_object_get(last, "hypervisor")),
                     "qemu");
    ck_assert_str_eq(json_string_value(json_object_get(last, "agent_name")),
                     "procwork");
    ck_assert_str_eq(json_string_value(json_object_get(last, "state")),
                     "running");
    ck_assert_int_eq(json_integer_value(json_object_get(last, "memory_bytes")),
                     64 << 20);
    /* its agent's figures move between refreshes, and its CPU shows */
    ck_assert_int_gt(test_top_metric(last, "work_items"),
                     test_top_metric(first, "work_items"));
    ck_assert_int_gt(
        json_integer_value(json_object_get(last, "context_switches_total")),
        json_integer_value(json_object_get(first, "context_switches_total")));
    ck_assert(json_is_real(json_object_get(last, "cpu_percent")));
    json_t *c = row(json_array_get(all, 2), &crash);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(json_string_value(json_object_get(c, "state")),
                     "panicked");
    json_decref(all);
}
END_TEST

START_TEST(test_unirun_list_shows_them_as_not_its_own)
{
    char out[OUT_MAX], want[64];

    ck_assert_int_eq(test_unirun_list(out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "\npid:%d ", (int)work.pid);
    const char *l = strstr(out, want);
    ck_assert_msg(l, "pid:%d not in:\n%s", (int)work.pid, out);
    const char *end = strchr(l + 1, '\n');
    ck_assert_ptr_nonnull(end);
    char line[256];
    snprintf(line, sizeof(line), "%.*s", (int)(end - l - 1), l + 1);
    has(line, " running ");
    has(line, " 64M ");
    has(line, " yes ");
    has(line, "(qemu, not unirun's)");
}
END_TEST

/* (a) appears before (b) in (out). */
static void before(const char *out, const char *a, const char *b)
{
    const char *pa = strstr(out, a), *pb = strstr(out, b);
    ck_assert_msg(pa && pb && pa < pb, "'%s' not before '%s' in:\n%s", a, b,
                  out);
}

struct advance {
    const struct vmm *v;
    int64_t from;
};

static int advanced(void *arg)
{
    struct advance *a = arg;

    return metric(a->v, "work_items", NULL) > a->from;
}

/* gdb on the demo kernel and (core): bt, threads, a variable, (extra). */
static const char *gdb_core(const char *core, const char *extra)
{
    const char *ex[] = {"bt", "info threads", "print demo_magic", extra, NULL};

    return gdb_batch(test_env("USC_DEMOKERNEL"), core, ex);
}

START_TEST(test_unicore_dump_of_a_crash_loads_in_gdb)
{
    char core[320], *out;
    struct stat st;

    snprintf(core, sizeof(core), "%s/crash.core", dir);
    ck_assert_int_eq(
        tool("USC_UNICORE", &out, "dump", target(&crash, ""), "-o", core, NULL),
        0);
    has(out, "guest had panicked");
    ck_assert_int_eq(stat(core, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_uint_lt((uint64_t)st.st_size, 4u << 20); /* sparse */
    const char *gdb = gdb_core(core, "print/x demo_bad_pointer");
    before(gdb, "#0  0x", "crash_level3");
    before(gdb, "crash_level3", "#1  0x");
    before(gdb, "#1  0x", "crash_level2");
    before(gdb, "#2  0x", "crash_level1");
    has(gdb, "$1 = 417175266769353233");
    has(gdb, "$2 = 0xdeadbeef");
    ck_assert_ptr_null(strstr(gdb, "Cannot access memory"));
    ck_assert_int_eq(tool("USC_UNICORE", &out, "analyze", core, "--image",
                          test_env("USC_DEMOKERNEL"), NULL),
                     0);
    has(out, "page fault at crash_level3 (scenarios.c:");
}
END_TEST

START_TEST(test_unicore_dump_through_the_stub_has_registers)
{
    char core[320], *out;

    snprintf(core, sizeof(core), "%s/work.core", dir);
    ck_assert_int_eq(
        tool("USC_UNICORE", &out, "dump", with_stub(&work), "-o", core, NULL),
        0);
    has(out, "guest paused");
    const char *gdb = gdb_core(core, "print demo_ticks > 0");
    has(gdb, "#0  ");
    has(gdb, "#1  ");
    has(gdb, "LWP 1");
    has(gdb, "$1 = 417175266769353233");
    has(gdb, "$2 = 1");
    ck_assert_ptr_null(strstr(gdb, "Cannot access memory"));
    /* the guest runs on once the dump let go of the stub */
    struct advance a = {&work, metric(&work, "work_items", NULL)};
    ck_assert_msg(test_wait_for(advanced, &a, TOOL_MS),
                  "the guest did not run on after the dump");
}
END_TEST

START_TEST(test_unigdb_hits_a_breakpoint_through_the_vmms_stub)
{
    char remote[360];
    int fd;
    pid_t ug = unigdb_once(dir, with_stub(&work), remote, sizeof(remote), &fd);
    const char *ex[] = {remote,
                        "info threads",
                        "break sleep_ticks",
                        "continue",
                        "bt",
                        "delete",
                        "detach",
                        NULL};
    const char *out = gdb_batch(test_env("USC_DEMOKERNEL"), NULL, ex);

    has(out, "\"worker-0\"");
    has(out, "hit Breakpoint 1, sleep_ticks");
    before(out, "sleep_ticks", "worker (");
    has(out, "detached");
    unigdb_ended(ug, fd);
    /* detached: the guest runs, with none of our breakpoints */
    struct advance a = {&work, metric(&work, "work_items", NULL)};
    ck_assert_msg(test_wait_for(advanced, &a, TOOL_MS),
                  "the guest did not run on after gdb left");
}
END_TEST

/*
 * Without the VMM's stub, unigdb is read-only: the agent's threads, a
 * switched-out one's frame, memory at virtual addresses through the page
 * tables its block leads to; resuming refused, the guest never stopped.
 */
START_TEST(test_unigdb_without_the_stub_reads_threads_and_memory)
{
    char remote[360];
    int fd;
    pid_t ug = unigdb_once(dir, target(&work, ""), remote, sizeof(remote), &fd);
    int64_t from = metric(&work, "work_items", NULL);
    const char *ex[] = {remote,     "info threads", "bt", "print demo_magic",
                        "continue", "detach",       NULL};
    const char *out = gdb_batch(test_env("USC_DEMOKERNEL"), NULL, ex);

    has(out, "\"worker-0\"");
    /* a switched-out thread starts where it switched (the guest runs on
     * while gdb reads, so frames further up may be in flux) */
    has(out, "#0  switch_to (");
    has(out, "= 417175266769353233");
    has(out, "read-only");
    has(out, "detached");
    unigdb_ended(ug, fd);
    /* it was never stopped */
    struct advance a = {&work, from};
    ck_assert_msg(test_wait_for(advanced, &a, TOOL_MS),
                  "the guest did not run on");
}
END_TEST

START_TEST(test_unitrace_records_and_streams)
{
    char trace[320], *out;
    json_error_t e;

    snprintf(trace, sizeof(trace), "%s/trace", dir);
    ck_assert_int_eq(tool("USC_UNITRACE", &out, "record", target(&work, ""),
                          "-o", trace, "--duration", "1", "--mode", "stream",
                          NULL),
                     0);
    ck_assert_int_eq(
        tool("USC_UNITRACE", &out, "report", trace, "--json", NULL), 0);
    json_t *r = json_loads(out, 0, &e);
    ck_assert_msg(r, "report: %s: %s", e.text, out);
    ck_assert_int_gt(json_integer_value(json_object_get(r, "events")), 1000);
    json_decref(r);
    char *bt[] = {"babeltrace2", trace, NULL};
    static char buf[64];
    int rc = test_run(bt, buf, sizeof(buf), TOOL_MS);
    ck_assert_msg(rc == 0 && strstr(buf, "work_"), "babeltrace2: %d: %s", rc,
                  buf);
}
END_TEST

START_TEST(test_without_rights_one_line_says_what_to_run)
{
    char out[4096];
    int p[2];

    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* as nobody when we are root; else pid 1 is root's, not ours */
        const char *t = geteuid() == 0 ? target(&work, "") : "pid:1";

        dup2(p[1], STDOUT_FILENO);
        dup2(p[1], STDERR_FILENO);
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(126);
        execl(test_env("USC_UNICORE"), "unicore", "dump", t, "-o",
              "/tmp/usc-proc-never.core", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    ssize_t n, len = 0;
    while ((n = read(p[0], out + len, sizeof(out) - 1 - (size_t)len)) > 0)
        len += n;
    out[len] = '\0';
    close(p[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "%#x: %s",
                  status, out);
    has(out, "ptrace");
    has(out, "CAP_SYS_PTRACE");
    ck_assert_msg(strchr(out, '\n') == out + len - 1, "not one line: %s", out);
}
END_TEST

struct rows {
    const char *file;
    const struct vmm *v;
    const char *state;
};

/* The last complete iteration of a unitop -b JSON being written. */
static int shows(void *arg)
{
    struct rows *r = arg;
    static char buf[OUT_MAX];
    FILE *f = fopen(r->file, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    int ok = 0;

    if (f)
        fclose(f);
    buf[n] = '\0';
    /* "[", then one iteration a line, each but the last ending in "," */
    char *start = strrchr(buf, '\n');
    if (!start)
        return 0;
    json_t *it = json_loads(start + 1, JSON_DISABLE_EOF_CHECK, NULL);
    json_t *g = it ? row(it, r->v) : NULL;
    ok = g && !strcmp(json_string_value(json_object_get(g, "state")), r->state);
    json_decref(it);
    return ok;
}

START_TEST(test_a_vmm_that_exits_becomes_dead)
{
    char file[320];

    snprintf(file, sizeof(file), "%s/top.json", dir);
    pid_t top = fork();
    ck_assert_int_ge(top, 0);
    if (top == 0) {
        int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fd, STDOUT_FILENO);
        execl(test_env("USC_UNITOP"), "unitop", "-b", "-d", "0.3", "--format",
              "json", (char *)NULL);
        _exit(127);
    }
    struct rows r = {file, &crash, "panicked"};
    ck_assert_msg(test_wait_for(shows, &r, TOOL_MS), "never panicked");
    ck_assert_int_eq(kill(crash.pid, SIGKILL), 0);
    r.state = "dead";
    ck_assert_msg(test_wait_for(shows, &r, TOOL_MS), "never dead");
    r.v = &work;
    r.state = "running";
    ck_assert_msg(test_wait_for(shows, &r, TOOL_MS), "the other stopped");
    ck_assert_int_eq(kill(top, SIGTERM), 0);
    int status;
    ck_assert_int_eq(waitpid(top, &status, 0), top);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%#x", status);
    json_t *all = json_load_file(file, 0, NULL);
    ck_assert_msg(json_is_array(all), "output not one JSON array");
    json_decref(all);
}
END_TEST

int main(void)
{
    TCase *tc;
    Suite *s = test_suite("proc_qemu", "proc", 300, &tc);

    tcase_add_unchecked_fixture(tc, fleet_up, fleet_down);
    tcase_add_test(tc, test_unitop_lists_them_with_agent_figures_advancing);
    tcase_add_test(tc, test_unirun_list_shows_them_as_not_its_own);
    tcase_add_test(tc, test_unicore_dump_of_a_crash_loads_in_gdb);
    tcase_add_test(tc, test_unicore_dump_through_the_stub_has_registers);
    tcase_add_test(tc, test_unigdb_hits_a_breakpoint_through_the_vmms_stub);
    tcase_add_test(tc, test_unigdb_without_the_stub_reads_threads_and_memory);
    tcase_add_test(tc, test_unitrace_records_and_streams);
    tcase_add_test(tc, test_without_rights_one_line_says_what_to_run);
    tcase_add_test(tc, test_a_vmm_that_exits_becomes_dead);
    return test_run_suite(s);
}
