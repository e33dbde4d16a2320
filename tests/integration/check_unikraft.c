/*
 * The tools on a real Unikraft guest: examples/unikraft-hello, built from
 * the pinned Unikraft tree with uniscope's port (and once without it),
 * booted by unirun under TCG. One boot per mode serves several checks.
 */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
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

static char out[OUT_MAX];

/* At most the first 3000 bytes of (text), for a message Check can carry. */
static const char *clip(const char *text)
{
    static char buf[3001];
    size_t n = strnlen(text, sizeof(buf) - 1);

    memcpy(buf, text, n);
    buf[n] = '\0';
    return buf;
}

#define ASSERT_HAS(text, what)                                                 \
    ck_assert_msg(strstr((text), (what)), "no \"%s\" in:\n%s", (what),         \
                  clip(text))

/* (a) appears in (text), and (b) after it. */
static void has_in_order(const char *text, const char *a, const char *b)
{
    const char *pa = strstr(text, a);
    ck_assert_msg(pa && strstr(pa + strlen(a), b),
                  "no \"%s\" followed by \"%s\" in:\n%s", a, b, clip(text));
}

/* Run the tool in environment variable (env) with (args...), NULL-ended
 * (60 words at most), its output into (out). Returns its exit status. */
static int tool(const char *env, ...)
{
    char *argv[64] = {(char *)test_env(env)};
    size_t n = 1;
    va_list ap;

    va_start(ap, env);
    while ((argv[n] = va_arg(ap, char *)) != NULL)
        ck_assert_uint_lt(++n, 61);
    va_end(ap);
    return test_run(argv, out, sizeof(out), TOOL_MS);
}

/* A path in the suite's scratch folder (harness.c makes it). */
static const char *scratch(const char *name)
{
    static char buf[4][512];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof(buf[0]), "%s/%s", test_env("USC_TEST_SCRATCH"), name);
    return b;
}

/* unirun --detach the image in (image_env) as (name) with (args). */
static void boot(const char *name, const char *image_env, const char *args)
{
    int rc = tool("USC_UNIRUN", "--detach", "--accel", "tcg", "--memory", "64",
                  "--name", name, test_env(image_env), "--", args, NULL);
    ck_assert_msg(rc == 0, "unirun --detach %s: %d: %s", name, rc, clip(out));
}

/* ---- waiting on a guest ------------------------------------------------ */

/* Guest (name)'s line in unirun --list has (want) in its AGENT column. */
struct listed {
    const char *name;
    const char *want;
};

static int list_agent(void *arg)
{
    struct listed *l = arg;
    char buf[8192], name[64], state[32], agent[16];
    const char *p = buf;

    if (test_unirun_list(buf, sizeof(buf)) != 0)
        return 0;
    while ((p = strchr(p, '\n')) && *++p) {
        /* NAME STATE VCPUS MEM UPTIME AGENT */
        if (sscanf(p, "%63s %31s %*s %*s %*s %15s", name, state, agent) == 3 &&
            !strcmp(name, l->name))
            return !strcmp(agent, l->want);
    }
    return 0;
}

struct live {
    struct usc_target *t;
    struct usc_agent *a;
};

static void live_open(const char *name, struct live *l)
{
    l->t = test_target_open(name);
    l->a = test_wait_agent(l->t, name);
}

static void live_close(struct live *l)
{
    usc_agent_close(l->a);
    usc_target_close(l->t);
}

struct metric_wait {
    struct live *l;
    const char *name;
    uint64_t above;
};

static int metric_above(void *arg)
{
    struct metric_wait *w = arg;
    return test_agent_metric(w->l->a, w->name) > w->above;
}

/* (name) advances past its value now. */
static void assert_advances(struct live *l, const char *name)
{
    struct metric_wait w = {l, name, test_agent_metric(l->a, name)};
    ck_assert_msg(test_wait_for(metric_above, &w, BOOT_MS),
                  "metric %s stands still at %llu", name,
                  (unsigned long long)w.above);
}

struct thread_wait {
    struct live *l;
    const char *const *names;
};

static int threads_named(void *arg)
{
    struct thread_wait *w = arg;
    struct usc_agent_thread th[64];
    size_t n = 0;

    if (usc_agent_threads(w->l->a, th, 64, &n) != 0)
        return 0;
    for (const char *const *want = w->names; *want; want++) {
        size_t i = 0;
        while (i < n && strcmp(th[i].name, *want) != 0)
            i++;
        if (i == n)
            return 0;
    }
    return 1;
}

struct log_wait {
    struct live *l;
    const char *needle;
    char buf[16384 + 1];
};

static int log_has(void *arg)
{
    struct log_wait *w = arg;
    size_t len = 0;
    uint64_t head = 0;

    if (usc_agent_log(w->l->a, w->buf, sizeof(w->buf) - 1, &len, &head) != 0)
        return 0;
    w->buf[len] = '\0';
    return strstr(w->buf, w->needle) != NULL;
}

/* The address of (symbol) in the ELF in (image_env). */
static uint64_t symbol(const char *image_env, const char *name)
{
    struct usc_elfimage *img = NULL;
    uint64_t addr = 0;

    ck_assert_int_eq(usc_elfimage_open(test_env(image_env), &img), 0);
    ck_assert_msg(usc_elfimage_symbol(img, name, &addr, NULL) == 0,
                  "no symbol %s", name);
    usc_elfimage_close(img);
    return addr;
}

/* The guest's console file holds (needle). */
struct console_wait {
    const char *name;
    const char *needle;
    char buf[65536];
};

static int console_has(void *arg)
{
    struct console_wait *w = arg;
    char path[512];
    FILE *f;
    size_t n;

    if (usc_rundir_guest_path(w->name, USC_RUNDIR_CONSOLE, path,
                              sizeof(path)) != 0 ||
        !(f = fopen(path, "r")))
        return 0;
    n = fread(w->buf, 1, sizeof(w->buf) - 1, f);
    fclose(f);
    w->buf[n] = '\0';
    return strstr(w->buf, w->needle) != NULL;
}

/* ---- the guest with the agent ------------------------------------------ */

/* Booted, found by unirun --list within 1 s of the guest's boot, with its
 * metrics advancing in unitop. */
static void check_found_and_counting(const char *name, struct live *l)
{
    struct listed lw = {name, "yes"};
    json_error_t e;

    ck_assert_msg(test_wait_for(list_agent, &lw, BOOT_MS),
                  "unirun --list never showed %s's agent", name);
    live_open(name, l);
    /* the guest's own clock, from its start to the agent's */
    struct metric_wait started = {l, "agent_start_us", 0};
    ck_assert(test_wait_for(metric_above, &started, BOOT_MS));
    ck_assert_uint_le(test_agent_metric(l->a, "agent_start_us"), 1000000);
    assert_advances(l, "work_items");

    ck_assert_int_eq(
        tool("USC_UNITOP", "-b", "-n", "2", "--format", "json", NULL), 0);
    json_t *top = json_loads(out, 0, &e);
    ck_assert_msg(top, "unitop --format json: %s:\n%s", e.text, clip(out));
    json_t *g1 = test_top_guest(json_array_get(top, 0), name);
    json_t *g2 = test_top_guest(json_array_get(top, 1), name);
    ck_assert_msg(g1 && g2, "unitop lacks %s:\n%s", name, clip(out));
    ck_assert_str_eq(json_string_value(json_object_get(g2, "agent_name")),
                     "unikraft-hello");
    ck_assert_int_gt(test_top_metric(g2, "work_items"),
                     test_top_metric(g1, "work_items"));
    ck_assert_int_gt(test_top_metric(g2, "context_switches"),
                     test_top_metric(g1, "context_switches"));
    ck_assert_int_ge(test_top_metric(g2, "threads"), 5);
    ck_assert_int_gt(test_top_metric(g2, "heap_used"), 0);
    ck_assert_int_gt(json_integer_value(json_object_get(g2, "heap_bytes")), 0);
    json_decref(top);
}

/* The threads by name; a sleeping one's bt from its wait point; a
 * breakpoint hit with its bt; detach leaves the code as it was. */
static void check_gdb(const char *name, struct live *l)
{
    static const char *const threads[] = {"init",     "idle",   "worker-0",
                                          "worker-1", "waiter", NULL};
    struct thread_wait tw = {l, threads};
    unsigned char before[256], after[256];
    uint64_t code = symbol("USC_UK_HELLO_DBG", "hello_work_step");

    ck_assert_msg(test_wait_for(threads_named, &tw, BOOT_MS),
                  "the agent's thread table lacks the app's threads");
    ck_assert_int_eq(usc_target_read_virt(l->t, 0, code, before, 256), 0);
    int rc = tool(
        "USC_UNIGDB", name, "--gdb", "--image", test_env("USC_UK_HELLO_DBG"),
        "--", "-batch", "-nx", "-ex", "info threads", "-ex",
        "python gdb.execute('thread %d' % next(t.num for t in "
        "gdb.selected_inferior().threads() if t.name == 'waiter'))",
        "-ex", "bt", "-ex", "break hello_work_step", "-ex", "continue", "-ex",
        "bt", "-ex", "delete", "-ex", "detach", NULL);
    ck_assert_msg(rc == 0, "unigdb --gdb: %d: %s", rc, clip(out));
    for (const char *const *t = threads; *t; t++) {
        char quoted[64];
        snprintf(quoted, sizeof(quoted), "\"%s\"", *t);
        ASSERT_HAS(out, quoted);
    }
    /* the waiter, switched out: from the switch up to where it waits */
    const char *bt = strstr(out, "[Switching to thread ");
    ck_assert_msg(bt, "no thread switch in:\n%s", clip(out));
    has_in_order(bt, "#0  __wrap_ukarch_ctx_switch", " hello_wait_forever ");
    has_in_order(bt, " hello_wait_forever ", " in hello_waiter ");
    /* the breakpoint, with its caller */
    const char *hit = strstr(out, "hit Breakpoint 1, hello_work_step");
    ck_assert_msg(hit, "the breakpoint was not hit:\n%s", clip(out));
    has_in_order(hit, "#0  hello_work_step", " in hello_worker ");
    ASSERT_HAS(out, "(Remote target) detached]");
    assert_advances(l, "work_items");
    ck_assert_int_eq(usc_target_read_virt(l->t, 0, code, after, 256), 0);
    ck_assert_msg(!memcmp(before, after, sizeof(after)),
                  "detach left the code changed");
}

/* unitrace record: babeltrace2 reads as many events as it reports. */
static void check_trace(const char *name)
{
    const char *dir = scratch("trace");
    long events = -1, lines = 0;
    char buf[65536];
    int fd, st, at_line_start = 1;

    ck_assert_int_eq(tool("USC_UNITRACE", "record", name, "-o", dir,
                          "--duration", "1", NULL),
                     0);
    const char *p = strstr(out, ": ");
    ck_assert_msg(p && sscanf(p, ": %ld events", &events) == 1 && events > 0,
                  "unitrace record said:\n%s", clip(out));
    ASSERT_HAS(out, "lost: none");
    char *argv[] = {"babeltrace2", (char *)dir, NULL};
    pid_t pid = test_spawn(argv, &fd);
    ck_assert_int_gt(pid, 0);
    for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;)
        for (ssize_t i = 0; i < n; i++) {
            lines += at_line_start && buf[i] == '[';
            at_line_start = buf[i] == '\n';
        }
    close(fd);
    waitpid(pid, &st, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "babeltrace2: %#x",
                  st);
    ck_assert_int_eq(lines, events);
}

START_TEST(test_agent_guest_seen_by_every_tool)
{
    struct live l;

    boot("uk-run", "USC_UK_HELLO", "run");
    check_found_and_counting("uk-run", &l);
    /* the console, from the boot banner (caught before the agent) on */
    struct log_wait *w = calloc(1, sizeof(*w));
    *w = (struct log_wait){.l = &l, .needle = "hello: mode run"};
    ck_assert_msg(test_wait_for(log_has, w, BOOT_MS),
                  "the log ring lacks the app's output");
    ASSERT_HAS(w->buf, "Powered by");
    free(w);
    check_gdb("uk-run", &l);
    check_trace("uk-run");
    live_close(&l);
}
END_TEST

/* ---- crashes ----------------------------------------------------------- */

static int cores_in(void *arg)
{
    const char *dir = arg;
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;

    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".core") &&
             e->d_name[strlen(e->d_name) - 1] == 'e';
    if (d)
        closedir(d);
    return n >= 2;
}

/* The core unicore watch wrote for guest (name) in (dir). */
static const char *core_of(const char *dir, const char *name)
{
    static char path[2][1024];
    static int next;
    char *p = path[next++ % 2];
    size_t len = strlen(name);
    DIR *d = opendir(dir);
    struct dirent *e;

    p[0] = '\0';
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, name, len) && e->d_name[len] == '-')
            snprintf(p, sizeof(path[0]), "%s/%s", dir, e->d_name);
    if (d)
        closedir(d);
    ck_assert_msg(p[0], "no core of %s in %s", name, dir);
    return p;
}

/* gdb IMAGE CORE -ex bt: (first) is frame 0, (second) its caller. */
static void check_core_bt(const char *core, const char *first,
                          const char *second)
{
    char *argv[] = {
        "gdb",        "-batch", "-nx", (char *)test_env("USC_UK_HELLO_DBG"),
        (char *)core, "-ex",    "bt",  NULL};
    char f0[64];
    int rc = test_run(argv, out, sizeof(out), TOOL_MS);

    ck_assert_msg(rc == 0, "gdb: %d: %s", rc, clip(out));
    snprintf(f0, sizeof(f0), " in %s ", first);
    const char *bt = strstr(out, "\n#0  ");
    ck_assert_msg(bt && strstr(bt, f0) && strstr(bt, f0) < strstr(bt, "\n#1"),
                  "frame 0 is not %s:\n%s", first, clip(out));
    has_in_order(bt, f0, second);
}

START_TEST(test_fault_and_crash_are_dumped_and_explained)
{
    const char *dir = scratch("cores");
    pid_t watch;

    ck_assert_int_eq(mkdir(dir, 0700), 0);
    watch = fork();
    ck_assert_int_ge(watch, 0);
    if (watch == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl(test_env("USC_UNICORE"), "unicore", "watch", "uk-fault",
              "uk-crash", "--dir", dir, "--interval", "50", "--count", "2",
              (char *)NULL);
        _exit(127);
    }
    /* Started after watch: caught with no user action. */
    boot("uk-fault", "USC_UK_HELLO", "fault");
    boot("uk-crash", "USC_UK_HELLO", "crash");
    int got = test_wait_for(cores_in, (void *)dir, BOOT_MS);
    kill(watch, SIGTERM);
    waitpid(watch, NULL, 0);
    ck_assert_msg(got, "unicore watch did not dump both crashed guests "
                       "(a crashing Unikraft guest must stay for it)");

    /* the page fault: the faulting function first */
    const char *core = core_of(dir, "uk-fault");
    check_core_bt(core, "hello_fault_level2", " in hello_fault_level1 ");
    int rc = tool("USC_UNICORE", "analyze", core, "--image",
                  test_env("USC_UK_HELLO_DBG"), NULL);
    ck_assert_msg(rc == 0, "unicore analyze: %d: %s", rc, clip(out));
    ASSERT_HAS(out, "page fault at hello_fault_level2 (main.c:");
    ASSERT_HAS(out, "cr2        0xdeadbeef000");
    /* the console's tail: the end of Unikraft's own dump of the fault */
    has_in_order(out, "\nconsole (", "> Crashing");

    /* UK_CRASH: a software panic, where it was raised */
    core = core_of(dir, "uk-crash");
    check_core_bt(core, "hello_crash_level2", " in hello_crash_level1 ");
    rc = tool("USC_UNICORE", "analyze", core, "--image",
              test_env("USC_UK_HELLO_DBG"), NULL);
    ck_assert_msg(rc == 0, "unicore analyze: %d: %s", rc, clip(out));
    ASSERT_HAS(out, "the crasher gives up at depth 2");
    ASSERT_HAS(out, "software panic raised in hello_crash_level2 (main.c:");
    has_in_order(out, "\nconsole", "the crasher gives up at depth 2");
}
END_TEST

/* A call into the agent before the port has started it stops the guest
 * with one line naming the call. */
START_TEST(test_call_before_init_is_one_clear_error)
{
    struct console_wait *w = calloc(1, sizeof(*w));

    boot("uk-early", "USC_UK_HELLO", "hello.early=1 --");
    *w = (struct console_wait){
        .name = "uk-early",
        .needle = "uniscope: usca_metric_register() called before the agent "
                  "started"};
    ck_assert_msg(test_wait_for(console_has, w, BOOT_MS),
                  "no clear error on the console:\n%s", clip(w->buf));
    ck_assert_ptr_null(strstr(w->buf, "hello: mode"));
    free(w);
}
END_TEST

/* ---- the same app without the port ------------------------------------- */

START_TEST(test_agentless_guest_still_debuggable)
{
    const char *dbg = test_env("USC_UK_HELLO_NOAGENT_DBG");
    const char *core = scratch("plain.core");
    struct listed lw = {"uk-plain", "no"};

    boot("uk-plain", "USC_UK_HELLO_NOAGENT", "run");
    struct console_wait *w = calloc(1, sizeof(*w));
    *w = (struct console_wait){.name = "uk-plain", .needle = "items"};
    ck_assert_msg(test_wait_for(console_has, w, BOOT_MS), "it never ran");
    free(w);
    ck_assert_msg(test_wait_for(list_agent, &lw, BOOT_MS),
                  "unirun --list does not say uk-plain has no agent");

    /* registers and a backtrace, through the hypervisor */
    int rc = tool("USC_UNIGDB", "uk-plain", "--gdb", "--image", dbg, "--",
                  "-batch", "-nx", "-ex", "info registers rip", "-ex", "bt",
                  "-ex", "detach", NULL);
    ck_assert_msg(rc == 0, "unigdb --gdb: %d: %s", rc, clip(out));
    ASSERT_HAS(out, "rip            0x");
    has_in_order(out, "#0  ", "#1  0x");
    ASSERT_HAS(out, "idle_thread_fn");

    /* a core that gdb loads */
    rc = tool("USC_UNICORE", "dump", "uk-plain", "-o", core, NULL);
    ck_assert_msg(rc == 0, "unicore dump: %d: %s", rc, clip(out));
    char *argv[] = {"gdb",        "-batch", "-nx", (char *)dbg,
                    (char *)core, "-ex",    "bt",  NULL};
    rc = test_run(argv, out, sizeof(out), TOOL_MS);
    ck_assert_msg(rc == 0, "gdb: %d: %s", rc, clip(out));
    has_in_order(out, "#0  ", " in idle_thread_fn ");
    ck_assert_ptr_null(strstr(out, "Cannot access memory"));

    /* unitop: the host's figures, "-" for the agent's */
    ck_assert_int_eq(tool("USC_UNITOP", "-b", "-n", "2", NULL), 0);
    const char *line = strstr(out, "\nuk-plain ");
    ck_assert_msg(line, "unitop lacks uk-plain:\n%s", clip(out));
    char f[12][32];
    int n = sscanf(line,
                   "%31s %31s %31s %31s %31s %31s %31s %31s %31s %31s "
                   "%31s %31s",
                   f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9],
                   f[10], f[11]);
    ck_assert_msg(n == 12, "unitop line:\n%s", clip(out));
    /* NAME STATE VCPUS CPU% MEM UPTIME | THR CSW/s TRC/s LOST HEAP METRICS */
    ck_assert_str_eq(f[1], "running");
    ck_assert_str_eq(f[2], "1");
    ck_assert_msg(strtod(f[3], NULL) >= 0 && strcmp(f[3], "-"), "CPU%% %s",
                  f[3]);
    ck_assert_str_eq(f[4], "64M");
    for (int i = 6; i < 12; i++)
        ck_assert_msg(!strcmp(f[i], "-"), "agent column %d is %s:\n%s", i, f[i],
                      clip(out));
}
END_TEST

/*
 * USC_UK_TESTS=live or =crash runs one half (CMake registers the crash
 * tests apart: they need a host that keeps a crashed Unikraft guest);
 * unset, both.
 */
int main(void)
{
    const char *only = getenv("USC_UK_TESTS");
    int live = !only || strcmp(only, "crash") != 0;
    int crash = !only || strcmp(only, "live") != 0;
    TCase *tc;
    Suite *s = test_suite("unikraft", "unikraft", 300, &tc);

    tcase_add_unchecked_fixture(tc, test_rundir_fixture_setup,
                                test_rundir_teardown);
    if (live) {
        tcase_add_test(tc, test_agent_guest_seen_by_every_tool);
        tcase_add_test(tc, test_agentless_guest_still_debuggable);
        tcase_add_test(tc, test_call_before_init_is_one_clear_error);
    }
    if (crash)
        tcase_add_test(tc, test_fault_and_crash_are_dumped_and_explained);
    return test_run_suite(s);
}
