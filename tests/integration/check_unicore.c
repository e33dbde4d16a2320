/* unicore against demo guests: dump, gdb, analyze, QEMU's dumps, watch. */
#include <check.h>
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_reader.h"
#include "corewrite.h"
#include "harness.h"
#include "target.h"

#define BOOT_MS TEST_BOOT_MS
#define TOOL_MS 60000
#define OUT_MAX (256u << 10)

static char scratch[64]; /* the cores of one test */

/* "SCRATCH/NAME" into (buf). */
static const char *in_scratch(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", scratch, name);
    return buf;
}

/* Run unicore with (args...), its output into a static buffer. */
static int unicore(char **out, ...)
{
    static char buf[OUT_MAX];
    const char *cmd[] = {test_env("USC_UNICORE"), NULL};
    va_list ap;

    va_start(ap, out);
    int rc = test_vrun(cmd, ap, buf, sizeof(buf), TOOL_MS);
    va_end(ap);
    if (out)
        *out = buf;
    return rc;
}

/* unirun --stop (name): a passing test leaves no guest running. */
static void stop(const char *name)
{
    char out[1024];
    ck_assert_int_eq(test_unirun_stop(name, out, sizeof(out)), 0);
}

static char *gdb_batch(const char *core)
{
    static char buf[OUT_MAX];
    char *argv[] = {"gdb",
                    "-batch",
                    "-nx",
                    (char *)test_env("USC_DEMOKERNEL"),
                    (char *)core,
                    "-ex",
                    "bt",
                    "-ex",
                    "info threads",
                    "-ex",
                    "print demo_magic",
                    "-ex",
                    "print/x demo_bad_pointer",
                    NULL};
    int rc = test_run(argv, buf, sizeof(buf), TOOL_MS);
    ck_assert_msg(rc == 0, "gdb: %d: %s", rc, buf);
    return buf;
}

/* ---- waiting on a guest ------------------------------------------------ */

struct guest_view {
    const char *name;
    struct usc_target *t;
    struct usc_agent *a;
    int (*ok)(struct guest_view *v);
    uint64_t lock_a, lock_b;
};

static int view_ready(void *arg)
{
    struct guest_view *v = arg;

    if (!v->t && usc_target_open(v->name, &v->t) != 0)
        return 0;
    if (!v->a &&
        usc_agent_open(usc_target_physmem(v->t), USC_AGENT_SCAN, &v->a) != 0)
        return 0;
    return v->ok(v);
}

static void view_close(struct guest_view *v)
{
    usc_agent_close(v->a);
    usc_target_close(v->t);
    v->a = NULL;
    v->t = NULL;
}

static void wait_until(const char *name, int (*ok)(struct guest_view *),
                       struct guest_view *v)
{
    v->name = name;
    v->ok = ok;
    ck_assert_msg(test_wait_for(view_ready, v, BOOT_MS), "%s never got there",
                  name);
    view_close(v);
}

static int panicked(struct guest_view *v)
{
    struct usc_agent_status st;
    return usc_agent_status(v->a, &st) == 0 && st.state == USC_STATE_PANICKED;
}

static int metric_above(struct usc_agent *a, const char *name, uint64_t min)
{
    struct usc_agent_metric m[64];
    size_t n = 0;
    if (usc_agent_metrics(a, m, 64, &n) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m[i].name, name))
            return m[i].value > min;
    return 0;
}

static int touched(struct guest_view *v)
{
    return metric_above(v->a, "touched_bytes", 0);
}

/* Both lockers blocked, each on the other's lock. */
static int deadlocked(struct guest_view *v)
{
    struct usc_agent_thread t[16];
    size_t n = 0;
    int ok = 0;
    if (usc_agent_threads(v->a, t, 16, &n) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (t[i].state == USC_THREAD_BLOCKED &&
            ((!strcmp(t[i].name, "locker-a") && t[i].wait_obj == v->lock_b) ||
             (!strcmp(t[i].name, "locker-b") && t[i].wait_obj == v->lock_a)))
            ok++;
    return ok == 2;
}

/* The spinner has not yielded for two seconds. */
static int spinning(struct guest_view *v)
{
    const struct usc_control_block *cb = usc_agent_header(v->a);
    struct usc_agent_status st;
    struct usc_agent_thread t[16];
    size_t n = 0;
    if (usc_agent_status(v->a, &st) != 0 ||
        usc_agent_threads(v->a, t, 16, &n) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].name, "spinner") && t[i].state == USC_THREAD_RUNNING &&
            st.heartbeat_ts > t[i].last_switch_ts + 2 * cb->ts_hz)
            return 1;
    return 0;
}

/* ---- checks on output -------------------------------------------------- */

static void has(const char *out, const char *what)
{
    ck_assert_msg(strstr(out, what), "no '%s' in:\n%s", what, out);
}

/* (a) appears before (b) in (out). */
static void before(const char *out, const char *a, const char *b)
{
    const char *pa = strstr(out, a), *pb = strstr(out, b);
    ck_assert_msg(pa && pb && pa < pb, "'%s' not before '%s' in:\n%s", a, b,
                  out);
}

/* The bt of a crash core: crash_level3 <- crash_level2 <- crash_level1. */
static void check_gdb_crash(const char *core)
{
    char *out = gdb_batch(core);
    has(out, "#0  0x");
    before(out, "#0  0x", "crash_level3");
    before(out, "crash_level3", "#1  0x");
    before(out, "#1  0x", "crash_level2");
    before(out, "#2  0x", "crash_level1");
    has(out, "LWP 1");                   /* info threads: the vCPU */
    has(out, "$1 = 417175266769353233"); /* demo_magic */
    has(out, "$2 = 0xdeadbeef");
    ck_assert_ptr_null(strstr(out, "Cannot access memory"));
}

/*
 * Plain gdb on the core lists every agent thread: the running one as its
 * vCPU, each other one under the LWP analyze names for it, whose bt starts
 * where it waits (sleep_ticks).
 */
static void check_gdb_every_thread(const char *core)
{
    static char bts[OUT_MAX];
    char *out, lwp[64];
    json_error_t e;
    size_t i, sleepers = 0;
    json_t *t;
    char *argv[] = {"gdb",
                    "-batch",
                    "-nx",
                    (char *)test_env("USC_DEMOKERNEL"),
                    (char *)core,
                    "-ex",
                    "info threads",
                    "-ex",
                    "thread apply all bt",
                    NULL};
    int rc = test_run(argv, bts, sizeof(bts), TOOL_MS);
    ck_assert_msg(rc == 0, "gdb: %d: %s", rc, bts);

    ck_assert_int_eq(unicore(&out, "analyze", core, "--json", NULL), 0);
    json_t *r = json_loads(out, 0, &e);
    ck_assert_msg(r, "analyze --json: %s", e.text);
    json_array_foreach(json_object_get(r, "threads"), i, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));
        const char *state = json_string_value(json_object_get(t, "state"));
        json_t *l = json_object_get(t, "core_lwp");
        if (strcmp(state, "running") == 0) {
            ck_assert_ptr_null(l);
            continue;
        }
        ck_assert_msg(l, "thread %s (%s) has no LWP in the core", name, state);
        /* gdb's "Thread N (LWP x):" heads that thread's bt */
        snprintf(lwp, sizeof(lwp), "(LWP %lld):\n", json_integer_value(l));
        const char *at = strstr(bts, lwp);
        ck_assert_msg(at, "gdb lists no %s for %s:\n%s", lwp, name, bts);
        const char *end = strstr(at + 1, "\nThread ");
        const char *wait = strstr(at, "in sleep_ticks");
        ck_assert_msg(wait && (!end || wait < end),
                      "gdb's bt of %s does not reach sleep_ticks:\n%s", name,
                      at);
        sleepers++;
    }
    ck_assert_uint_ge(sleepers, 2);
    json_decref(r);
}

/* Every thread of an analyze --json report has a symbolized backtrace. */
static void check_threads_json(const char *core)
{
    char *out;
    json_error_t e;
    ck_assert_int_eq(unicore(&out, "analyze", core, "--json", NULL), 0);
    json_t *r = json_loads(out, 0, &e), *t;
    ck_assert_msg(r, "analyze --json: %s", e.text);
    json_t *threads = json_object_get(r, "threads");
    ck_assert_uint_ge(json_array_size(threads), 2);
    size_t i;
    json_array_foreach(threads, i, t)
    {
        json_t *bt = json_object_get(t, "backtrace");
        ck_assert_msg(json_array_size(bt) >= 2, "thread %s has no backtrace",
                      json_string_value(json_object_get(t, "name")));
        ck_assert_ptr_nonnull(
            json_object_get(json_array_get(bt, 0), "function"));
    }
    json_decref(r);
}

/* The flight recorder in analyze --json: the crasher's last events, the
 * fault last (the agent records it), timed up to the panic. */
static void check_trace_json(const char *core)
{
    char *out;
    json_error_t e;
    ck_assert_int_eq(unicore(&out, "analyze", core, "--json", NULL), 0);
    json_t *r = json_loads(out, 0, &e), *ev;
    ck_assert_msg(r, "analyze --json: %s", e.text);
    json_t *tr = json_object_get(r, "trace");
    json_t *events = json_object_get(tr, "events");
    ck_assert_str_eq(json_string_value(json_object_get(tr, "from")), "panic");
    ck_assert_uint_ge(json_array_size(events), 2);
    ck_assert_uint_le(json_array_size(events), 16);
    int begun = 0;
    size_t i;
    json_array_foreach(events, i, ev)
    {
        const char *name = json_string_value(json_object_get(ev, "name"));
        if (strcmp(name, "crash_begin") == 0) {
            begun = 1;
            ck_assert_str_eq(
                json_string_value(json_object_get(ev, "thread_name")),
                "crasher");
            ck_assert_double_le(json_real_value(json_object_get(ev, "t_s")), 0);
        }
    }
    ck_assert_msg(begun, "no crash_begin before the fault:\n%s", out);
    ev = json_array_get(events, json_array_size(events) - 1);
    ck_assert_str_eq(json_string_value(json_object_get(ev, "name")),
                     "agent_panic");
    json_t *f = json_object_get(ev, "fields");
    ck_assert_int_eq(json_integer_value(json_object_get(f, "vector")), 14);
    ck_assert_str_eq(json_string_value(json_object_get(f, "cr2")),
                     "0xdeadbeef");
    json_decref(r);
}

static void dump(const char *name, const char *core)
{
    char *out;
    int rc = unicore(&out, "dump", name, "-o", core, NULL);
    ck_assert_msg(rc == 0, "unicore dump %s: %d: %s", name, rc, out);
    has(out, "guest paused");
}

/* ---- tests ------------------------------------------------------------- */

START_TEST(test_crash_core_loads_in_gdb_and_analyzes)
{
    struct guest_view v = {0};
    char core[128], *out;
    struct stat st;

    test_boot("crash", 64, "scenario=crash threads=2");
    wait_until("crash", panicked, &v);
    dump("crash", in_scratch(core, sizeof(core), "crash.core"));

    ck_assert_int_eq(stat(core, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    /* Sparse: a 64 MiB guest that touched well under 4 MiB. */
    ck_assert_uint_lt((uint64_t)st.st_size, 4u << 20);
    check_gdb_crash(core);
    check_gdb_every_thread(core);

    ck_assert_int_eq(unicore(&out, "analyze", core, NULL), 0);
    has(out, "state      panicked");
    has(out, "in gdb:"); /* a sleeper's LWP */
    has(out, "page fault at crash_level3 (scenarios.c:");
    has(out, "cr2        0xdeadbeef");
    before(out, "crash_level3+", "crash_level2+");
    before(out, "crash_level2+", "crash_level1+");
    has(out, "worker-1");
    has(out, "PANIC: page fault"); /* the console */
    has(out, "timer_ticks");       /* the metrics */
    has(out, "trace: the last events of each vCPU, ms from the panic");
    has(out, "agent_panic"); /* the fault, as the agent traced it */
    check_threads_json(core);
    check_trace_json(core);

    /* Never replaces a file. */
    int rc = unicore(&out, "dump", "crash", "-o", core, NULL);
    ck_assert_int_eq(rc, 1);
    has(out, "unicore: ");
    has(out, "exists");
    stop("crash");
}
END_TEST

START_TEST(test_planted_bugs_analyze)
{
    struct guest_view v = {0};
    char core[4][128], *out;

    test_boot("assert", 64, "scenario=assert threads=1");
    test_boot("overflow", 64, "scenario=overflow threads=1");
    test_boot("deadlock", 64, "scenario=deadlock threads=1");
    test_boot("hang", 64, "scenario=hang threads=1");
    wait_until("assert", panicked, &v);
    wait_until("overflow", panicked, &v);
    v.lock_a = test_symbol("demo_lock_a");
    v.lock_b = test_symbol("demo_lock_b");
    wait_until("deadlock", deadlocked, &v);
    wait_until("hang", spinning, &v);
    dump("assert", in_scratch(core[0], sizeof(core[0]), "assert.core"));
    dump("overflow", in_scratch(core[1], sizeof(core[1]), "overflow.core"));
    dump("deadlock", in_scratch(core[2], sizeof(core[2]), "deadlock.core"));
    dump("hang", in_scratch(core[3], sizeof(core[3]), "hang.core"));

    ck_assert_int_eq(unicore(&out, "analyze", core[0], NULL), 0);
    has(out, "assertion failed: r->head - r->tail <= r->capacity (request "
             "ring overrun)");
    has(out, "software panic raised in demo_assert_fail (bugs.c:");
    has(out, "called from demo_ring_check (bugs.c:");
    check_threads_json(core[0]);

    ck_assert_int_eq(unicore(&out, "analyze", core[1], NULL), 0);
    has(out, "stack overflow");
    has(out, "recursion: demo_recurse (bugs.c:");
    has(out, "more frames of demo_recurse");
    check_threads_json(core[1]);

    ck_assert_int_eq(unicore(&out, "analyze", core[2], NULL), 0);
    has(out, "thread locker-a is blocked on demo_lock_b (struct demo_lock)");
    has(out, "thread locker-b is blocked on demo_lock_a (struct demo_lock)");
    has(out, "possible deadlock");
    check_threads_json(core[2]);

    ck_assert_int_eq(unicore(&out, "analyze", core[3], NULL), 0);
    has(out, "hang: thread spinner has run for");
    has(out, "without yielding, in spin_forever (scenarios.c:");
    check_threads_json(core[3]);
    stop("assert");
    stop("overflow");
    stop("deadlock");
    stop("hang");
}
END_TEST

START_TEST(test_qemu_dump_guest_memory_core_analyzes)
{
    struct guest_view v = {0};
    char core[128], *out;

    test_boot("qdump", 64, "scenario=crash threads=1");
    wait_until("qdump", panicked, &v);
    test_qemu_dump("qdump", in_scratch(core, sizeof(core), "qemu.core"));

    ck_assert_int_eq(unicore(&out, "analyze", core, "--image",
                             test_env("USC_DEMOKERNEL"), NULL),
                     0);
    has(out, "(elf core)");
    has(out, "page fault at crash_level3 (scenarios.c:");
    before(out, "crash_level3+", "crash_level1+");
    has(out, "worker-0");
    /* A wrong image is refused, not believed. */
    ck_assert_int_eq(unicore(&out, "analyze", core, "--image", "/bin/sh", NULL),
                     1);
    has(out, "unicore: /bin/sh: ");
    stop("qdump");
}
END_TEST

static int core_in(void *arg)
{
    const char *dir = arg;
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (d && (e = readdir(d)))
        found |= strstr(e->d_name, ".core") && e->d_name[0] != '.';
    if (d)
        closedir(d);
    return found;
}

START_TEST(test_watch_catches_a_crash)
{
    char dir[128], core[512] = "", *out;
    pid_t pid;
    int st;

    in_scratch(dir, sizeof(dir), "watch");
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        execl(test_env("USC_UNICORE"), "unicore", "watch", "wcrash", "--dir",
              dir, "--interval", "50", "--count", "1", (char *)NULL);
        _exit(127);
    }
    /* Started after watch: caught with no user action. */
    test_boot("wcrash", 64, "scenario=crash threads=1");
    ck_assert_msg(test_wait_for(core_in, dir, BOOT_MS), "watch wrote no core");
    int64_t deadline = test_now_ms() + TOOL_MS;
    while (waitpid(pid, &st, WNOHANG) == 0 && test_now_ms() < deadline)
        test_poll_pause();
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "watch: %d", st);

    DIR *d = opendir(dir);
    struct dirent *e;
    int cores = 0;
    while ((e = readdir(d))) {
        /* Complete: no temporary file left beside it. */
        ck_assert_msg(e->d_name[0] != '.' || !strcmp(e->d_name, ".") ||
                          !strcmp(e->d_name, "..") ||
                          !strcmp(e->d_name, ".build-id"),
                      "left over: %s", e->d_name);
        if (strstr(e->d_name, ".core")) {
            snprintf(core, sizeof(core), "%s/%s", dir, e->d_name);
            cores++;
        }
    }
    closedir(d);
    ck_assert_int_eq(cores, 1);
    check_gdb_crash(core);
    /* The image was kept beside the cores, by build-id. */
    ck_assert_int_eq(unicore(&out, "analyze", core, NULL), 0);
    has(out, "crash_level3");
    stop("wcrash");
}
END_TEST

/* The temporary file of a dump to (final) exists and has data. */
struct tmp_wait {
    const char *dir, *base;
    char path[512];
};

static int tmp_growing(struct tmp_wait *w)
{
    DIR *d = opendir(w->dir);
    struct dirent *e;
    struct stat st;
    int found = 0;
    while (d && !found && (e = readdir(d))) {
        if (e->d_name[0] == '.' && strstr(e->d_name, w->base)) {
            snprintf(w->path, sizeof(w->path), "%s/%s", w->dir, e->d_name);
            found = stat(w->path, &st) == 0 && st.st_size > 0;
        }
    }
    if (d)
        closedir(d);
    return found;
}

START_TEST(test_kill_9_mid_dump_leaves_no_core)
{
    struct guest_view v = {0};
    struct tmp_wait w = {.dir = scratch, .base = "big.core."};
    char core[128];
    struct stat st;
    int status;

    test_boot("big", 768, "scenario=idle touch=512");
    wait_until("big", touched, &v);
    in_scratch(core, sizeof(core), "big.core");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        execl(test_env("USC_UNICORE"), "unicore", "dump", "big", "-o", core,
              (char *)NULL);
        _exit(127);
    }
    /* Spin, no pause: the kill must land while the data is written. */
    int64_t deadline = test_now_ms() + TOOL_MS;
    while (!tmp_growing(&w) && test_now_ms() < deadline)
        ;
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFSIGNALED(status), "the dump ended before the kill");
    ck_assert_int_ne(stat(core, &st), 0);
    ck_assert_int_eq(errno, ENOENT);
    unlink(w.path);
    stop("big");
}
END_TEST

/* ---- hostile cores ----------------------------------------------------- */

/* A small uniscope core of a 64 KiB guest with two pages of data. */
static void small_core(const char *path)
{
    static unsigned char ram[64 << 10];
    struct usc_physmem pm;
    struct usc_core_ram r = {0, sizeof(ram)};
    struct usc_core_vcpu vcpu = {.index = 0};
    struct usc_core_plan *plan = NULL;

    memset(ram + 0x2000, 0x11, 0x2000);
    usc_physmem_from_buffer(&pm, ram, sizeof(ram));
    struct usc_core_desc d = {
        .ram = &r, .nram = 1, .vcpus = &vcpu, .nvcpus = 1};
    struct usc_core_source src = {.pm = &pm};
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(usc_core_plan(&d, &src, &plan), 0);
    ck_assert_int_eq(usc_core_write_data(plan, fd, NULL, NULL), 0);
    ck_assert_int_eq(usc_core_write_headers(plan, fd, NULL, NULL), 0);
    usc_core_plan_free(plan);
    close(fd);
}

/* Copy (from) to (to), cut to (len) bytes, with (n) bytes (patch) at (at). */
static void variant(const char *from, const char *to, size_t len, size_t at,
                    const void *patch, size_t n)
{
    static unsigned char buf[1 << 20];
    int in = open(from, O_RDONLY), out;
    ssize_t got = read(in, buf, sizeof(buf));
    ck_assert_int_gt(got, 0);
    close(in);
    if (len > (size_t)got)
        len = (size_t)got;
    if (n)
        memcpy(buf + at, patch, n);
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_eq(write(out, buf, len), (ssize_t)len);
    close(out);
}

/* unicore analyze (core) fails with status 1 and one line naming it. */
static void refused(const char *core, const char *why)
{
    char *out;
    ck_assert_int_eq(unicore(&out, "analyze", core, NULL), 1);
    ck_assert_msg(!strncmp(out, "unicore: ", 9), "%s: %s", core, out);
    ck_assert_msg(strchr(out, '\n') && !strchr(out, '\n')[1],
                  "%s: more than one line: %s", core, out);
    has(out, why);
}

START_TEST(test_bad_cores_give_one_clear_line)
{
    char good[128], bad[128], *out;
    uint16_t aarch64 = 183;
    uint32_t huge = 0x7fffffff;
    uint64_t far = 1ull << 40;
    Elf64_Phdr ph[3];

    small_core(in_scratch(good, sizeof(good), "good.core"));
    ck_assert_int_eq(unicore(&out, "analyze", good, NULL), 0);
    has(out, "no uniscope agent found");
    int fd = open(good, O_RDONLY);
    ck_assert_int_eq(pread(fd, ph, sizeof(ph), sizeof(Elf64_Ehdr)), sizeof(ph));
    close(fd);

    variant(good, in_scratch(bad, sizeof(bad), "empty.core"), 0, 0, NULL, 0);
    refused(bad, "not an x86-64 ELF64 core");
    variant(good, in_scratch(bad, sizeof(bad), "short.core"), 100, 0, NULL, 0);
    refused(bad, "corrupt core");
    variant(good, in_scratch(bad, sizeof(bad), "text.core"), 100, 0,
            "not an ELF file at all", 22);
    refused(bad, "not an x86-64 ELF64 core");
    variant(good, in_scratch(bad, sizeof(bad), "arm.core"), SIZE_MAX,
            offsetof(Elf64_Ehdr, e_machine), &aarch64, 2);
    refused(bad, "not an x86-64 ELF64 core");
    /* The first note claims a descriptor far past its PT_NOTE. */
    variant(good, in_scratch(bad, sizeof(bad), "note.core"), SIZE_MAX,
            ph[0].p_offset + 4, &huge, 4);
    refused(bad, "corrupt core");
    /* The PT_LOAD with the data (ph[1] has none) lies beyond the file. */
    ck_assert_uint_eq(ph[2].p_type, PT_LOAD);
    ck_assert_uint_gt(ph[2].p_filesz, 0);
    variant(good, in_scratch(bad, sizeof(bad), "beyond.core"), SIZE_MAX,
            sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr) +
                offsetof(Elf64_Phdr, p_offset),
            &far, 8);
    refused(bad, "corrupt core");
    /* Two PT_LOADs give the same RAM different bytes of the file. */
    Elf64_Phdr lie = ph[2];
    lie.p_offset += 0x1000;
    lie.p_filesz = lie.p_memsz = 0x1000;
    variant(good, in_scratch(bad, sizeof(bad), "overlap.core"), SIZE_MAX,
            sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr), &lie, sizeof(lie));
    refused(bad, "corrupt core");
    /* A dump of a core is refused as such. */
    ck_assert_int_eq(unicore(&out, "dump", good, "-o",
                             in_scratch(bad, sizeof(bad), "again.core"), NULL),
                     1);
    has(out, "is a core file already");
}
END_TEST

/* ---- fixture ----------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    test_rundir_fixture_setup();
    snprintf(scratch, sizeof(scratch), "/tmp/usc-cores-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(scratch));
}

static void teardown(void)
{
    test_rundir_teardown();
    if (scratch[0])
        nftw(scratch, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    TCase *tc;
    Suite *s = test_suite("unicore", "unicore", 180, &tc);
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_crash_core_loads_in_gdb_and_analyzes);
    tcase_add_test(tc, test_planted_bugs_analyze);
    tcase_add_test(tc, test_qemu_dump_guest_memory_core_analyzes);
    tcase_add_test(tc, test_watch_catches_a_crash);
    tcase_add_test(tc, test_kill_9_mid_dump_leaves_no_core);
    tcase_add_test(tc, test_bad_cores_give_one_clear_line);
    return test_run_suite(s);
}
