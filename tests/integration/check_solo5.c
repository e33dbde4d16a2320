/* uniscope's tools on solo5-hello, a real Solo5 virtio unikernel built from
 * the pinned Solo5 sources, with uniscope's Solo5 port and without it. */
#include <check.h>
#include <dirent.h>
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
#include "elfimage.h"
#include "harness.h"
#include "rundir.h"
#include "target.h"

#define BOOT_MS TEST_BOOT_MS
#define TOOL_MS 60000
#define OUT_MAX (256u << 10)

/* One guest per mode, booted by the first test that needs it. */
#define WORK "s5work"   /* mode=work, with the agent */
#define BARE "s5bare"   /* mode=idle, the same objects without the port */
#define FAULT "s5fault" /* mode=fault: a page fault */
#define CRASH "s5crash" /* mode=crash: solo5_abort from a failed check */

static const char *image(void)
{
    return test_env("USC_SOLO5_HELLO");
}

static const char *bare_image(void)
{
    return test_env("USC_SOLO5_HELLO_NOAGENT");
}

static void has(const char *out, const char *what)
{
    ck_assert_msg(strstr(out, what), "no '%s' in:\n%s", what, out);
}

/* (a), (b), ... (NULL-ended) appear in (out) in that order. */
static void in_order(const char *out, ...)
{
    va_list ap;
    const char *at = out, *s;

    va_start(ap, out);
    while ((s = va_arg(ap, const char *)) != NULL) {
        const char *p = strstr(at, s);
        ck_assert_msg(p, "no '%s' after the previous in:\n%s", s, out);
        at = p + strlen(s);
    }
    va_end(ap);
}

/* ---- guests ------------------------------------------------------------ */

static int agent_found(void *arg)
{
    const char *name = arg;
    struct usc_target *t = NULL;
    struct usc_agent *a = NULL;
    int ok = usc_target_open(name, &t) == 0 &&
             usc_agent_open(usc_target_physmem(t), USC_AGENT_SCAN, &a) == 0;
    usc_agent_close(a);
    usc_target_close(t);
    return ok;
}

/* Boot (name) from (img) with (args) unless a test did already; with
 * (agent), wait until its agent is published. */
static void boot_once(const char *name, const char *img, const char *args,
                      int agent)
{
    char path[512];

    ck_assert_int_eq(usc_rundir_guest_path(name, NULL, path, sizeof(path)), 0);
    if (access(path, F_OK) != 0)
        test_boot_image(name, img, 64, args);
    if (agent)
        ck_assert_msg(test_wait_for(agent_found, (void *)name, BOOT_MS),
                      "no agent in %s", name);
}

static void boot_work(void)
{
    boot_once(WORK, image(), "mode=work workers=2", 1);
}

static void boot_bare(void)
{
    boot_once(BARE, bare_image(), "mode=idle", 0);
}

struct metric_wait {
    struct usc_agent *a;
    const char *name;
    uint64_t above;
};

static int metric_above(void *arg)
{
    struct metric_wait *w = arg;
    return test_agent_metric(w->a, w->name) > w->above;
}

/* Guest (name)'s agent metric (metric) goes past its value now. */
static void assert_advances(const char *name, const char *metric)
{
    struct usc_target *t = test_target_open(name);
    struct usc_agent *a = test_wait_agent(t, name);
    struct metric_wait w = {a, metric, test_agent_metric(a, metric)};
    ck_assert_msg(test_wait_for(metric_above, &w, BOOT_MS),
                  "%s: %s stays at %llu", name, metric,
                  (unsigned long long)w.above);
    usc_agent_close(a);
    usc_target_close(t);
}

static uint64_t symbol(const char *img, const char *name)
{
    struct usc_elfimage *e = NULL;
    uint64_t addr = 0;
    ck_assert_int_eq(usc_elfimage_open(img, &e), 0);
    ck_assert_msg(usc_elfimage_symbol(e, name, &addr, NULL) == 0,
                  "no symbol %s in %s", name, img);
    usc_elfimage_close(e);
    return addr;
}

/* ---- the tools --------------------------------------------------------- */

/* Run (argv) (NULL-ended), at most TOOL_MS; its output in a static buffer,
 * its status in (*rc). */
static char *run(char *const argv[], int *rc)
{
    static char out[OUT_MAX];
    *rc = test_run(argv, out, sizeof(out), TOOL_MS);
    return out;
}

/*
 * The real gdb on (img), attached to (target) through unigdb --gdb, in
 * batch mode running (cmds) (NULL-ended, at most 12). Fails unless both
 * exit 0; their output.
 */
static char *gdb_attached(const char *target, const char *img,
                          const char *const *cmds)
{
    char *argv[40] = {(char *)test_env("USC_UNIGDB"),
                      (char *)target,
                      "--gdb",
                      "--image",
                      (char *)img,
                      "--",
                      "-batch",
                      "-nx",
                      "-ex",
                      "set pagination off"};
    int k = 10, rc;
    for (int i = 0; cmds[i]; i++) {
        ck_assert_int_lt(k, 36);
        argv[k++] = "-ex";
        argv[k++] = (char *)cmds[i];
    }
    argv[k] = NULL;
    char *out = run(argv, &rc);
    ck_assert_msg(rc == 0, "unigdb %s --gdb: %d:\n%s", target, rc, out);
    return out;
}

/* gdb (img) (core) -ex bt -ex (also); its output. */
static char *gdb_core(const char *img, const char *core, const char *also)
{
    char *argv[] = {"gdb", "-batch", "-nx", (char *)img,  (char *)core,
                    "-ex", "bt",     "-ex", (char *)also, NULL};
    int rc;
    char *out = run(argv, &rc);
    ck_assert_msg(rc == 0, "gdb %s: %d:\n%s", core, rc, out);
    return out;
}

static char *unicore(int *rc, const char *a1, const char *a2, const char *a3,
                     const char *a4)
{
    char *argv[] = {(char *)test_env("USC_UNICORE"),
                    (char *)a1,
                    (char *)a2,
                    (char *)a3,
                    (char *)a4,
                    NULL};
    return run(argv, rc);
}

/* "SCRATCH/NAME" into (buf): the suite's folder, removed at its end. */
static void scratch(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", test_env("USC_TEST_SCRATCH"), name);
}

/* ---- with the port ------------------------------------------------------ */

struct list_wait {
    const char *name, *agent;
};

/* The words of (line) into (word) (at most 16, in place); their count. */
static int words(char *line, char **word)
{
    int n = 0;
    for (char *w = strtok(line, " "); w && n < 16; w = strtok(NULL, " "))
        word[n++] = w;
    return n;
}

/* unirun --list shows guest (name) running, its AGENT column (agent). */
static int listed(void *arg)
{
    struct list_wait *w = arg;
    char out[8192], *line[64], *word[16];
    int lines = 0, agent = -1;

    if (test_unirun_list(out, sizeof(out)) != 0)
        return 0;
    for (char *l = strtok(out, "\n"); l && lines < 64; l = strtok(NULL, "\n"))
        line[lines++] = l;
    /* The header names the columns. */
    int n = lines ? words(line[0], word) : 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(word[i], "AGENT"))
            agent = i;
    for (int k = 1; agent >= 0 && k < lines; k++) {
        n = words(line[k], word);
        if (n > agent && !strcmp(word[0], w->name) &&
            !strcmp(word[1], "running") && !strcmp(word[agent], w->agent))
            return 1;
    }
    return 0;
}

START_TEST(test_agent_published_at_boot_console_in_the_log)
{
    boot_work();
    struct list_wait lw = {WORK, "yes"};
    ck_assert_msg(test_wait_for(listed, &lw, BOOT_MS),
                  "unirun --list never showed %s's agent", WORK);

    struct usc_target *t = test_target_open(WORK);
    struct usc_agent *a = test_wait_agent(t, WORK);
    const struct usc_control_block *h = usc_agent_header(a);
    /* Published before the application's first instruction: by Solo5's
     * clock (nanoseconds since its start), well within a second. */
    ck_assert_uint_eq(h->ts_hz, 1000000000u);
    ck_assert_uint_lt(h->boot_ts, h->ts_hz);
    ck_assert_str_eq(h->name, "solo5-hello");
    /* The image's build-id, which the build wrote into the port's note. */
    struct usc_elfimage *e = NULL;
    uint8_t id[64];
    size_t id_len = 0;
    ck_assert_int_eq(usc_elfimage_open(image(), &e), 0);
    ck_assert_int_eq(usc_elfimage_build_id(e, id, sizeof(id), &id_len), 0);
    usc_elfimage_close(e);
    ck_assert_uint_eq(id_len, 20);
    ck_assert_uint_eq(h->build_id_len, 20);
    ck_assert_int_eq(memcmp(h->build_id, id, 20), 0);

    /* The heap Solo5 gave, as a gauge; every exception gate recorded. */
    ck_assert_uint_gt(test_agent_metric(a, "solo5_heap_size"), 32u << 20);
    static char log[16384 + 1];
    size_t len = 0;
    ck_assert_int_eq(usc_agent_log(a, log, sizeof(log) - 1, &len, NULL), 0);
    log[len] = '\0';
    has(log, "uniscope: agent at ");
    has(log, " exception gates recorded");
    has(log, "solo5-hello: mode=work, 2 workers, with uniscope's agent");
    struct usc_agent_status st;
    ck_assert_int_eq(usc_agent_status(a, &st), 0);
    ck_assert_uint_eq(st.state, USC_STATE_RUNNING);
    usc_agent_close(a);
    usc_target_close(t);
    assert_advances(WORK, "work_items");
}
END_TEST

START_TEST(test_unitop_agent_figures_advance_and_dashes_without)
{
    boot_work();
    boot_bare();
    struct list_wait lw = {BARE, "no"};
    ck_assert(test_wait_for(listed, &lw, BOOT_MS));
    char *argv[] = {(char *)test_env("USC_UNITOP"),
                    "-b",
                    "-n",
                    "2",
                    "-d",
                    "0.5",
                    "--format",
                    "json",
                    NULL};
    int rc;
    char *out = run(argv, &rc);
    ck_assert_msg(rc == 0, "unitop: %d: %s", rc, out);
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr);
    ck_assert_msg(root && json_array_size(root) == 2, "unitop JSON: %s:\n%s",
                  jerr.text, out);
    json_t *a = test_top_guest(json_array_get(root, 0), WORK);
    json_t *b = test_top_guest(json_array_get(root, 1), WORK);
    ck_assert_msg(a && b, "%s missing:\n%s", WORK, out);
    ck_assert_str_eq(json_string_value(json_object_get(b, "agent_name")),
                     "solo5-hello");
    json_int_t w1 = test_top_metric(a, "work_items"),
               w2 = test_top_metric(b, "work_items");
    ck_assert_msg(w1 > 0 && w2 > w1, "work_items %lld then %lld", (long long)w1,
                  (long long)w2);
    ck_assert_int_gt(test_top_metric(b, "hello_ticks"),
                     test_top_metric(a, "hello_ticks"));
    ck_assert_int_ge(json_integer_value(json_object_get(b, "threads")), 6);
    ck_assert_int_gt(json_integer_value(json_object_get(b, "heap_bytes")), 0);

    /* Without the agent: the hypervisor's figures, nothing of the agent's. */
    json_t *bare = test_top_guest(json_array_get(root, 1), BARE);
    ck_assert_msg(bare, "%s missing:\n%s", BARE, out);
    ck_assert_str_eq(json_string_value(json_object_get(bare, "state")),
                     "running");
    ck_assert(json_is_real(json_object_get(bare, "cpu_percent")));
    ck_assert_int_eq(json_integer_value(json_object_get(bare, "memory_bytes")),
                     64 << 20);
    ck_assert(json_is_null(json_object_get(bare, "threads")));
    ck_assert(json_is_null(json_object_get(bare, "agent_name")));
    ck_assert_uint_eq(json_array_size(json_object_get(bare, "metrics")), 0);
    json_decref(root);

    /* The text view: NAME STATE VCPUS CPU% MEM UPTIME, then a dash for
     * each agent figure (THR CSW/s TRC/s LOST HEAP METRICS). */
    char *text_argv[] = {
        (char *)test_env("USC_UNITOP"), "-b", "-n", "1", "-d", "0.3", NULL};
    out = run(text_argv, &rc);
    ck_assert_msg(rc == 0, "unitop: %d: %s", rc, out);
    char *row = strstr(out, "\n" BARE " ");
    ck_assert_msg(row, "no %s row in:\n%s", BARE, out);
    char *end = strchr(row + 1, '\n');
    if (end)
        *end = '\0';
    char copy[512], *word[16];
    snprintf(copy, sizeof(copy), "%s", row + 1);
    int n = words(copy, word);
    ck_assert_msg(n == 12, "the %s row: %s", BARE, row + 1);
    ck_assert_str_eq(word[1], "running");
    ck_assert_str_eq(word[4], "64M");
    for (int i = 6; i < 12; i++)
        ck_assert_msg(!strcmp(word[i], "-"), "the %s row: %s", BARE, row + 1);
}
END_TEST

/* "thread N" for the thread named (name), N found by gdb's python. */
#define THREAD(name)                                                           \
    "python gdb.execute('thread %d' % next(t.num for t in "                    \
    "gdb.selected_inferior().threads() if t.name == '" name "'))"

START_TEST(test_gdb_threads_wait_points_breakpoint_detach)
{
    const char *cmds[] = {
        "info threads", THREAD("sleeper"),  "bt",       THREAD("waiter"),
        "bt",           "break hello_work", "continue", "bt",
        "delete",       "detach",           NULL};
    unsigned char before[64], after[64];

    boot_work();
    uint64_t code = symbol(image(), "hello_work");
    struct usc_target *t = test_target_open(WORK);
    ck_assert_int_eq(usc_target_read_virt(t, 0, code, before, sizeof(before)),
                     0);
    char *out = gdb_attached(WORK, image(), cmds);
    /* Every task of the application by its name, and its scheduler. */
    static const char *const tasks[] = {"\"main\"",     "\"ticker\"",
                                        "\"waiter\"",   "\"sleeper\"",
                                        "\"worker-0\"", "\"worker-1\""};
    for (size_t i = 0; i < sizeof(tasks) / sizeof(tasks[0]); i++)
        has(out, tasks[i]);
    /* A sleeping task unwinds from the switch to where it waits. */
    in_order(out, "[Switching to thread", "#0  lwt_switch", " lwt_sleep (",
             " sleeper (", " lwt_task_start (", NULL);
    in_order(out, "[Switching to thread", "[Switching to thread",
             "#0  lwt_switch", " lwt_wait (", " waiter (", " lwt_task_start (",
             NULL);
    /* A breakpoint in the application is hit, with its callers. */
    in_order(out, "hit Breakpoint 1, hello_work", "#0  hello_work",
             " in worker (", " in lwt_task_start (", NULL);
    has(out, "(Remote target) detached]");
    /* Detached: the code is as it was, and the guest works on. */
    ck_assert_int_eq(usc_target_read_virt(t, 0, code, after, sizeof(after)), 0);
    ck_assert_msg(!memcmp(before, after, sizeof(after)), "hello_work changed");
    usc_target_close(t);
    assert_advances(WORK, "work_items");
}
END_TEST

/* Lines babeltrace2 prints for the trace in (dir): its events. */
static long babeltrace_events(const char *dir)
{
    char *argv[] = {"babeltrace2", (char *)dir, NULL};
    static char out[64 << 20];
    int rc = test_run(argv, out, sizeof(out), TOOL_MS);
    ck_assert_msg(rc == 0, "babeltrace2 %s: %d: %.2000s", dir, rc, out);
    long lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    has(out, "sched_switch");
    has(out, "work_begin");
    return lines;
}

START_TEST(test_unitrace_record_read_by_babeltrace)
{
    char dir[512];
    int rc;

    boot_work();
    scratch(dir, sizeof(dir), "s5trace");
    char *rec[] = {(char *)test_env("USC_UNITRACE"),
                   "record",
                   WORK,
                   "-o",
                   dir,
                   "--duration",
                   "1",
                   NULL};
    char *out = run(rec, &rc);
    ck_assert_msg(rc == 0, "unitrace record: %d: %s", rc, out);
    char *rep[] = {(char *)test_env("USC_UNITRACE"), "report", dir, "--json",
                   NULL};
    out = run(rep, &rc);
    ck_assert_msg(rc == 0, "unitrace report: %d: %s", rc, out);
    json_error_t jerr;
    json_t *r = json_loads(out, 0, &jerr);
    ck_assert_msg(r, "report: %s", jerr.text);
    json_int_t events = json_integer_value(json_object_get(r, "events"));
    json_decref(r);
    ck_assert_int_gt(events, 100);
    ck_assert_int_eq(babeltrace_events(dir), events);
}
END_TEST

/* ---- crashes ------------------------------------------------------------ */

/* The cores in (dir), for (names) (two): their paths into (paths). */
struct cores_wait {
    const char *dir;
    const char *names[2];
    char paths[2][512];
};

static int cores_written(void *arg)
{
    struct cores_wait *w = arg;
    DIR *d = opendir(w->dir);
    struct dirent *e;
    int n = 0;
    w->paths[0][0] = w->paths[1][0] = '\0';
    while (d && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 5 ||
            strcmp(e->d_name + len - 5, ".core"))
            continue;
        for (int i = 0; i < 2; i++) {
            size_t nl = strlen(w->names[i]);
            if (!strncmp(e->d_name, w->names[i], nl) && e->d_name[nl] == '-') {
                snprintf(w->paths[i], sizeof(w->paths[i]), "%s/%s", w->dir,
                         e->d_name);
                n++;
            }
        }
    }
    if (d)
        closedir(d);
    return n == 2;
}

START_TEST(test_fault_and_abort_dumped_unattended_and_analyzed)
{
    struct cores_wait w = {.names = {FAULT, CRASH}};
    char dir[512];
    int rc, st;

    scratch(dir, sizeof(dir), "s5cores");
    w.dir = dir;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        execl(test_env("USC_UNICORE"), "unicore", "watch", FAULT, CRASH,
              "--dir", dir, "--interval", "50", "--count", "2", (char *)NULL);
        _exit(127);
    }
    /* Booted after the watch started: nobody asks for the cores. */
    test_boot_image(FAULT, image(), 64, "mode=fault after=300");
    test_boot_image(CRASH, image(), 64, "mode=crash after=300");
    ck_assert_msg(test_wait_for(cores_written, &w, BOOT_MS),
                  "unicore watch wrote no core of %s and %s (a host that "
                  "keeps a crashed Solo5 guest is needed: Solo5's exit "
                  "writes to isa-debug-exit, which ends QEMU)",
                  FAULT, CRASH);
    int64_t deadline = test_now_ms() + TOOL_MS;
    while (waitpid(pid, &st, WNOHANG) == 0 && test_now_ms() < deadline)
        test_poll_pause();
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "watch: %#x", st);

    /* The page fault: gdb's first frame is the function that faulted. */
    char *out = gdb_core(image(), w.paths[0], "print/x hello_bad_pointer");
    in_order(out, "#0  0x", " in fault_level3 ", "#1 ", " in fault_level2 ",
             "#2 ", " in fault_level1 ", "#3 ", " in crasher ", NULL);
    has(out, "= 0xdeadbeef000");
    out = unicore(&rc, "analyze", w.paths[0], NULL, NULL);
    ck_assert_msg(rc == 0, "unicore analyze: %d: %s", rc, out);
    has(out, "state      panicked");
    has(out, "page fault at fault_level3 (hello.c:");
    has(out, "cr2        0xdeadbeef000");
    /* The console's last lines, from the log ring. */
    in_order(out, "crasher: reading through hello_bad_pointer",
             "PANIC: #PF page fault (vector 14", NULL);

    /* solo5_abort: a software panic, raised where the application called. */
    out = gdb_core(image(), w.paths[1], "print hello_pending");
    in_order(out, "#0 ", " __wrap_solo5_abort ", " hello_assert_fail ",
             " hello_check_requests ", " crasher ", NULL);
    out = unicore(&rc, "analyze", w.paths[1], NULL, NULL);
    ck_assert_msg(rc == 0, "unicore analyze: %d: %s", rc, out);
    has(out, "solo5_abort() called");
    has(out, "called from hello_assert_fail (hello.c:");
    in_order(out, "solo5-hello: assertion failed: hello_pending >= 0",
             "PANIC: solo5_abort() called", NULL);
}
END_TEST

/* ---- without the port --------------------------------------------------- */

/* A backtrace that reaches the application's entry or a task's first
 * frame: the vCPU's stack unwound through the image's CFI. */
static int reaches_the_top(const char *bt)
{
    return strstr(bt, " solo5_app_main (") || strstr(bt, " lwt_trampoline (");
}

START_TEST(test_agentless_registers_bt_and_a_core_gdb_loads)
{
    const char *cmds[] = {"info threads", "info registers rip cr3", "bt",
                          "detach", NULL};
    char core[512];
    int rc;

    boot_bare();
    /* What a hypervisor alone gives: registers and memory, so gdb unwinds
     * the vCPU with the image's symbols. (A stop may land in Solo5's
     * interrupt entry, which has no CFI: look again.) */
    char *out = NULL;
    for (int i = 0; i < 3 && (!out || !reaches_the_top(out)); i++)
        out = gdb_attached(BARE, bare_image(), cmds);
    in_order(out, "\nrip ", "0x", "\ncr3 ", "0x", NULL);
    ck_assert_msg(reaches_the_top(out), "no backtrace to the top:\n%s", out);
    has(out, "Thread 1 \"vCPU 0\"");
    ck_assert_ptr_null(strstr(out, "Thread 2"));

    scratch(core, sizeof(core), "s5bare.core");
    out = unicore(&rc, "dump", BARE, "-o", core);
    ck_assert_msg(rc == 0, "unicore dump: %d: %s", rc, out);
    out = gdb_core(bare_image(), core, "print/x hello_bad_pointer");
    has(out, "#0  ");
    has(out, "= 0xdeadbeef000");
    out = unicore(&rc, "analyze", core, "--image", bare_image());
    ck_assert_msg(rc == 0, "unicore analyze: %d: %s", rc, out);
    has(out, "no uniscope agent found");
}
END_TEST

/*
 * USC_SOLO5_TESTS=live or =crash runs one half (CMake registers the crash
 * test apart: it needs a host that keeps a crashed Solo5 guest, whose exit
 * writes to QEMU's isa-debug-exit port); unset, both.
 */
int main(void)
{
    const char *only = getenv("USC_SOLO5_TESTS");
    int live = !only || strcmp(only, "crash") != 0;
    int crash = !only || strcmp(only, "live") != 0;
    TCase *tc;
    Suite *s = test_suite("solo5", "solo5-hello", 300, &tc);

    tcase_add_unchecked_fixture(tc, test_rundir_fixture_setup,
                                test_rundir_teardown);
    if (live) {
        tcase_add_test(tc, test_agent_published_at_boot_console_in_the_log);
        tcase_add_test(tc,
                       test_unitop_agent_figures_advance_and_dashes_without);
        tcase_add_test(tc, test_gdb_threads_wait_points_breakpoint_detach);
        tcase_add_test(tc, test_unitrace_record_read_by_babeltrace);
        tcase_add_test(tc, test_agentless_registers_bt_and_a_core_gdb_loads);
    }
    if (crash)
        tcase_add_test(tc, test_fault_and_abort_dumped_unattended_and_analyzed);
    return test_run_suite(s);
}
