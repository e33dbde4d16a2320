/* The real gdb, in batch mode, against unigdb on demo guests under TCG. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_reader.h"
#include "harness.h"
#include "rundir.h"
#include "target.h"

#define BOOT_MS TEST_BOOT_MS
#define GDB_MS 60000
#define GDB "/usr/bin/gdb"
#define OUT_MAX 65536

/* A file in guest (name)'s folder, removed with the guest. */
static void guest_file(const char *name, const char *file, char *buf,
                       size_t cap)
{
    ck_assert_int_eq(usc_rundir_guest_path(name, file, buf, cap), 0);
}

/* ---- the guest, seen from the test --------------------------------------- */

struct guest {
    struct usc_target *t;
    struct usc_agent *a;
};

static void guest_open(const char *name, struct guest *g)
{
    g->t = test_target_open(name);
    g->a = test_wait_agent(g->t, name);
}

static void guest_close(struct guest *g)
{
    usc_agent_close(g->a);
    usc_target_close(g->t);
}

/* The agent's thread called (name), or NULL (copied to a static). */
static const struct usc_agent_thread *agent_thread(struct guest *g,
                                                   const char *name)
{
    static struct usc_agent_thread th[64];
    size_t n = 0;
    if (usc_agent_threads(g->a, th, 64, &n) != 0)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(th[i].name, name) == 0)
            return &th[i];
    return NULL;
}

static uint32_t agent_state(struct guest *g)
{
    struct usc_agent_status st;
    ck_assert_int_eq(usc_agent_status(g->a, &st), 0);
    return st.state;
}

struct counter_wait {
    struct guest *g;
    const char *metric;
    uint64_t above;
};

static int counter_above(void *arg)
{
    struct counter_wait *w = arg;
    return test_agent_metric(w->g->a, w->metric) > w->above;
}

/* The guest runs: its ticks advance. */
static void assert_guest_runs(struct guest *g)
{
    struct counter_wait w = {g, "timer_ticks",
                             test_agent_metric(g->a, "timer_ticks") + 5};
    enum usc_vm_state st;

    ck_assert_msg(test_wait_for(counter_above, &w, BOOT_MS),
                  "the guest's ticks stopped");
    ck_assert_int_eq(usc_target_run_state(g->t, &st), 0);
    ck_assert_str_eq(usc_vm_state_name(st), "running");
}

/* ---- unigdb and gdb ------------------------------------------------------ */

struct server {
    pid_t pid;
    char sock[256];
    char log[256];
};

static int server_ready(void *arg)
{
    struct server *s = arg;
    char buf[512] = "";
    int fd = open(s->log, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n > 0)
        buf[n] = '\0';
    return strstr(buf, "unigdb: serving") != NULL;
}

#define ONCE 1    /* --once: exit after the first gdb */
#define VERBOSE 2 /* --verbose: every packet in the log */

/* unigdb (target) --listen unix:... with (flags). */
static void server_start(struct server *s, const char *name, const char *target,
                         int flags)
{
    char listen[300];

    guest_file(name, "unigdb.sock", s->sock, sizeof(s->sock));
    guest_file(name, "unigdb.log", s->log, sizeof(s->log));
    snprintf(listen, sizeof(listen), "unix:%s", s->sock);
    s->pid = fork();
    ck_assert_int_ge(s->pid, 0);
    if (s->pid == 0) {
        int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        char *argv[8] = {"unigdb", (char *)target, "--listen", listen};
        int k = 4;
        if (flags & ONCE)
            argv[k++] = "--once";
        if (flags & VERBOSE)
            argv[k++] = "--verbose";
        argv[k] = NULL;
        execv(test_env("USC_UNIGDB"), argv);
        _exit(127);
    }
    ck_assert_msg(test_wait_for(server_ready, s, BOOT_MS),
                  "unigdb did not start serving %s", target);
}

struct exit_wait {
    pid_t pid;
    int status;
};

static int exited(void *arg)
{
    struct exit_wait *w = arg;
    return waitpid(w->pid, &w->status, WNOHANG) == w->pid;
}

/* Wait for unigdb to end; its exit status. */
static int server_wait(struct server *s)
{
    struct exit_wait w = {s->pid, 0};
    char log[4096] = "";
    int fd;

    if (!test_wait_for(exited, &w, GDB_MS)) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        ck_abort_msg("unigdb did not exit");
    }
    fd = open(s->log, O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, log, sizeof(log) - 1);
        log[n > 0 ? n : 0] = '\0';
        close(fd);
    }
    ck_assert_msg(WIFEXITED(w.status) && WEXITSTATUS(w.status) == 0,
                  "unigdb: status %#x: %s", w.status, log);
    return 0;
}

/* gdb -batch on the demo image attached to (sock), running the NULL-ended
 * (cmds); its output into (out). Returns gdb's status. */
static int run_gdb(const char *sock, const char *const *cmds, char *out)
{
    char *argv[64], target[300];
    int k = 0;

    snprintf(target, sizeof(target), "target remote %s", sock);
    argv[k++] = GDB;
    argv[k++] = "-batch";
    argv[k++] = "-nx";
    argv[k++] = "-ex";
    argv[k++] = "set pagination off";
    argv[k++] = "-ex";
    argv[k++] = target;
    for (int i = 0; cmds[i]; i++) {
        ck_assert_int_lt(k, 60);
        argv[k++] = "-ex";
        argv[k++] = (char *)cmds[i];
    }
    argv[k++] = (char *)test_env("USC_DEMOKERNEL");
    argv[k] = NULL;
    return test_run(argv, out, OUT_MAX, GDB_MS);
}

/* Serve guest (name) once and run (cmds) in gdb; its output in (out). */
static void debug_once(const char *name, const char *target,
                       const char *const *cmds, char *out)
{
    struct server s;

    server_start(&s, name, target, ONCE);
    int rc = run_gdb(s.sock, cmds, out);
    ck_assert_msg(rc == 0, "gdb: %d: %s", rc, out);
    server_wait(&s);
}

/* The text after the first (key) in (hay), or NULL. */
static const char *after(const char *hay, const char *key)
{
    const char *p = strstr(hay, key);
    return p ? p + strlen(key) : NULL;
}

#define ASSERT_HAS(out, text)                                                  \
    ck_assert_msg(strstr((out), (text)), "no \"%s\" in:\n%s", (text), (out))

/* ---- acceptance ---------------------------------------------------------- */

START_TEST(test_break_continue_stops_there_with_a_backtrace)
{
    static char out[OUT_MAX];
    const char *cmds[] = {
        "break sleep_ticks", "continue", "bt", "delete", "detach", NULL};

    test_boot("brk", 64, "scenario=work threads=2");
    debug_once("brk", "brk", cmds, out);
    ASSERT_HAS(out, "hit Breakpoint 1, sleep_ticks");
    /* three frames, each the right function, callers in order */
    const char *f0 = after(out, "#0  sleep_ticks");
    ck_assert_msg(f0, "no frame 0 in sleep_ticks:\n%s", out);
    const char *f1 = after(f0, "#1  ");
    ck_assert_msg(f1 && after(f1, " in worker ("), "frame 1:\n%s", out);
    const char *f2 = after(f1, "#2  ");
    ck_assert_msg(f2 && after(f2, " in thread_start ("), "frame 2:\n%s", out);
    ck_assert_msg(after(f1, " in worker (") < f2, "frame order:\n%s", out);
}
END_TEST

/* gdb python printing (tag), pc and the function of the innermost frame
 * that is not inlined, for after the fact. */
#define WHERE(tag)                                                             \
    "python print('" tag " %#x %d ' % (int(gdb.parse_and_eval('$pc')), "       \
    "gdb.selected_frame().find_sal().line) + (lambda g, f: g(g, f))(lambda "   \
    "g, f: g(g, f.older()) if f.type() == gdb.INLINE_FRAME else f, "           \
    "gdb.selected_frame()).name())"

struct where {
    uint64_t pc;
    long line;
    char func[64];
};

static void where(const char *out, const char *tag, struct where *w)
{
    char key[16];
    snprintf(key, sizeof(key), "\n%s ", tag);
    const char *p = after(out, key);
    ck_assert_msg(p, "no %s in:\n%s", tag, out);
    ck_assert_int_eq(
        sscanf(p, "%" SCNx64 " %ld %63s", &w->pc, &w->line, w->func), 3);
}

START_TEST(test_stepi_next_and_finish)
{
    static char out[OUT_MAX];
    const char *cmds[] = {"break sleep_ticks",
                          "continue",
                          "delete",
                          WHERE("AT0"),
                          "stepi",
                          WHERE("AT1"),
                          "next",
                          WHERE("AT2"),
                          "next",
                          WHERE("AT3"),
                          "finish",
                          WHERE("AT4"),
                          "detach",
                          NULL};
    struct where w0, w1, w2, w3, w4;

    test_boot("step", 64, "scenario=work threads=2");
    debug_once("step", "step", cmds, out);
    where(out, "AT0", &w0);
    where(out, "AT1", &w1);
    where(out, "AT2", &w2);
    where(out, "AT3", &w3);
    where(out, "AT4", &w4);
    /* stepi: one instruction on, a few bytes further into sleep_ticks */
    ck_assert_uint_eq(w0.pc, test_symbol("sleep_ticks"));
    ck_assert_msg(w1.pc > w0.pc && w1.pc - w0.pc <= 15, "stepi: %#llx -> %#llx",
                  (unsigned long long)w0.pc, (unsigned long long)w1.pc);
    ck_assert_str_eq(w1.func, "sleep_ticks");
    /* next: a line on each time, never into a call */
    ck_assert_msg(w2.pc > w1.pc && w2.line != w1.line, "next from line %ld",
                  w1.line);
    ck_assert_msg(w3.pc > w2.pc && w3.line != w2.line, "next from line %ld",
                  w2.line);
    ck_assert_str_eq(w2.func, "sleep_ticks");
    ck_assert_str_eq(w3.func, "sleep_ticks");
    /* finish: back in the caller, once this worker ran again */
    ck_assert_str_eq(w4.func, "worker");
    ck_assert_uint_gt(w4.pc, test_symbol("worker"));
}
END_TEST

/* The value gdb printed for register (name) in "info registers". */
static uint64_t shown_reg(const char *out, const char *name)
{
    char key[32];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = after(out, key);
    ck_assert_msg(p, "no %s in:\n%s", name, out);
    while (*p == ' ')
        p++;
    return strtoull(p, NULL, 16);
}

START_TEST(test_info_registers_has_fs_base_and_cr3)
{
    static char out[OUT_MAX];
    const char *cmds[] = {"info registers", "detach", NULL};
    struct guest g;
    struct usc_regs r;

    test_boot("regs", 64, "scenario=work threads=1");
    guest_open("regs", &g);
    /* the values QEMU holds, read before gdb comes */
    ck_assert_int_eq(usc_target_pause(g.t), 0);
    ck_assert_int_eq(usc_target_get_regs(g.t, 0, &r), 0);
    ck_assert_int_eq(usc_target_resume(g.t), 0);
    ck_assert_uint_ne(r.cr3, 0);
    debug_once("regs", "regs", cmds, out);
    ck_assert_uint_eq(shown_reg(out, "cr3"), r.cr3);
    ck_assert_uint_eq(shown_reg(out, "fs_base"), r.fs_base);
    ck_assert_uint_eq(shown_reg(out, "gs_base"), r.gs_base);
    ck_assert_uint_eq(shown_reg(out, "cr0"), r.cr0);
    ck_assert_uint_eq(shown_reg(out, "efer"), r.efer);
    shown_reg(out, "rip");
    assert_guest_runs(&g);
    guest_close(&g);
}
END_TEST

struct crasher_wait {
    struct guest *g;
};

static int crasher_started(void *arg)
{
    struct crasher_wait *w = arg;
    return agent_thread(w->g, "crasher") != NULL;
}

/* The crasher has run its path and ended, without a panic. */
static int crasher_survived(void *arg)
{
    struct crasher_wait *w = arg;
    const struct usc_agent_thread *th = agent_thread(w->g, "crasher");
    char console[8192], path[300];
    int fd;
    ssize_t n;

    guest_file("survive", USC_RUNDIR_CONSOLE, path, sizeof(path));
    fd = open(path, O_RDONLY);
    n = fd >= 0 ? read(fd, console, sizeof(console) - 1) : -1;
    if (fd >= 0)
        close(fd);
    console[n > 0 ? n : 0] = '\0';
    return strstr(console, "crasher: dereferencing demo_bad_pointer") &&
           !strstr(console, "(0xdeadbeef)") &&
           (!th || th->state == USC_THREAD_EXITED);
}

static int panicked(void *arg)
{
    return agent_state(arg) == USC_STATE_PANICKED;
}

/* crash_level3, then 2, then 1, in that order, in (out). */
static void assert_faulting_bt(const char *out)
{
    const char *f0 = after(out, "#0  ");
    const char *f1 = f0 ? after(f0, "#1  ") : NULL;
    const char *f2 = f1 ? after(f1, "#2  ") : NULL;

    ck_assert_msg(f2, "no three frames in:\n%s", out);
    ck_assert_msg(strstr(f0, " crash_level3 (") &&
                      strstr(f0, " crash_level3 (") < f1,
                  "frame 0:\n%s", out);
    ck_assert_msg(strstr(f1, " crash_level2 (") &&
                      strstr(f1, " crash_level2 (") < f2,
                  "frame 1:\n%s", out);
    ck_assert_msg(strstr(f2, " crash_level1 ("), "frame 2:\n%s", out);
}

START_TEST(test_print_and_set_var_the_guest_acts_on)
{
    static char out[OUT_MAX];
    const char *cmds[] = {"print/x demo_magic",
                          "set var demo_bad_pointer = &demo_magic",
                          "print/x demo_bad_pointer", "detach", NULL};
    char want[64];
    struct guest g;

    /* stop the crasher in its sleep (3 s here), before it faults */
    test_boot("survive", 64, "scenario=crash threads=1 crash_after=3");
    guest_open("survive", &g);
    struct crasher_wait w = {&g};
    ck_assert(test_wait_for(crasher_started, &w, BOOT_MS));
    ck_assert_int_eq(usc_target_pause(g.t), 0);
    ck_assert_msg(agent_state(&g) == USC_STATE_RUNNING,
                  "the guest crashed before it could be paused");

    debug_once("survive", "survive", cmds, out);
    ASSERT_HAS(out, "$1 = 0x5ca1ab1e0ddba11");
    snprintf(want, sizeof(want), "$2 = 0x%llx",
             (unsigned long long)test_symbol("demo_magic"));
    ASSERT_HAS(out, want);
    /* the guest runs again and survives what would have crashed it */
    ck_assert_msg(test_wait_for(crasher_survived, &w, BOOT_MS),
                  "the crasher did not get through");
    ck_assert_msg(!test_wait_for(panicked, &g, 1000), "the guest panicked");
    struct usc_panic p;
    ck_assert_int_eq(usc_agent_panic(g.a, &p), -ENOENT);
    guest_close(&g);
}
END_TEST

START_TEST(test_continue_into_a_crash_stops_at_the_fault)
{
    static char out[OUT_MAX];
    const char *cmds[] = {"continue", "bt", "detach", NULL};
    struct guest g;

    test_boot("fault", 64, "scenario=crash threads=1 crash_after=3");
    guest_open("fault", &g);
    struct crasher_wait w = {&g};
    ck_assert(test_wait_for(crasher_started, &w, BOOT_MS));
    ck_assert_int_eq(usc_target_pause(g.t), 0);
    ck_assert_msg(agent_state(&g) == USC_STATE_RUNNING,
                  "the guest crashed before it could be paused");
    /* gdb continues; the guest faults; its agent says so; we stop it */
    debug_once("fault", "fault", cmds, out);
    ASSERT_HAS(out, "received signal SIGSEGV");
    ASSERT_HAS(out, "\"crasher\"");
    assert_faulting_bt(after(out, "SIGSEGV"));
    guest_close(&g);
}
END_TEST

START_TEST(test_watch_fires_on_the_write)
{
    static char out[OUT_MAX];
    const char *cmds[] = {"watch demo_ticks", "continue", "delete", "detach",
                          NULL};

    test_boot("watch", 64, "scenario=work threads=1");
    debug_once("watch", "watch", cmds, out);
    ASSERT_HAS(out, "Hardware watchpoint 1: demo_ticks");
    const char *o = after(out, "Old value = ");
    const char *n = after(out, "New value = ");
    ck_assert_msg(o && n, "no values in:\n%s", out);
    ck_assert_uint_eq(strtoull(n, NULL, 10), strtoull(o, NULL, 10) + 1);
    /* stopped right after the store, in the timer's code */
    ASSERT_HAS(n, "timer_irq");
}
END_TEST

START_TEST(test_threads_by_name_and_where_a_sleeper_waits)
{
    static char out[OUT_MAX];
    /* "thread N" for a worker that is switched out (its frame 0 is in the
     * scheduler), found by python since N is known only at run time */
    const char *cmds[] = {
        "info threads",
        "python gdb.execute('thread %d' % next(t.num for t in "
        "gdb.selected_inferior().threads() if t.name.startswith('worker') "
        "and (t.switch() or gdb.newest_frame().name() == 'switch_to')))",
        "bt", "detach", NULL};

    test_boot("thr", 64, "scenario=work threads=2");
    debug_once("thr", "thr", cmds, out);
    ASSERT_HAS(out, "Thread 1 \"vCPU 0\"");
    ASSERT_HAS(out, "\"worker-0\"");
    ASSERT_HAS(out, "\"worker-1\"");
    /* it unwinds from the scheduler to where it sleeps, and on up */
    const char *bt = after(out, "[Switching to thread ");
    ck_assert_msg(bt, "no thread switch in:\n%s", out);
    const char *f0 = after(bt, "#0  switch_to");
    ck_assert_msg(f0, "frame 0 not in the scheduler:\n%s", out);
    const char *sleep = strstr(f0, " in sleep_ticks (");
    const char *worker = strstr(f0, " in worker (");
    const char *end = strstr(f0, " in thread_trampoline (");
    ck_assert_msg(sleep && worker && end && sleep < worker && worker < end,
                  "a sleeper's backtrace:\n%s", bt);
}
END_TEST

/* Has server (arg) been asked to continue? (gdb's own output is held
 * in its buffer while it waits: the server's log tells.) */
static int continued(void *arg)
{
    struct server *s = arg;
    char buf[OUT_MAX];
    int fd = open(s->log, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return strstr(buf, "<- vCont;c") != NULL;
}

/* Run gdb (argv) against server (s) with its output in (out); once it has
 * resumed the guest, send gdb (sig). Returns gdb's status. */
static int run_gdb_signalled(char *const argv[], struct server *s, int sig,
                             char *out)
{
    int fd;
    size_t len = 0;
    int st;
    int64_t deadline = test_now_ms() + GDB_MS;

    pid_t pid = test_spawn(argv, &fd);
    ck_assert_int_ge(pid, 0);
    int sent = test_wait_for(continued, s, GDB_MS);
    kill(pid, sent ? sig : SIGKILL);
    while (test_now_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(fd, out + len, OUT_MAX - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    out[len] = '\0';
    close(fd);
    if (test_now_ms() >= deadline)
        kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    ck_assert_msg(sent, "gdb never resumed the guest:\n%s", out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(test_sigint_returns_to_the_prompt_with_the_guest_paused)
{
    static char out[OUT_MAX];
    char target[300];
    struct server s;
    struct guest g;

    test_boot("intr", 64, "scenario=work threads=1");
    guest_open("intr", &g);
    server_start(&s, "intr", "intr", ONCE | VERBOSE);
    snprintf(target, sizeof(target), "target remote %s", s.sock);
    char *argv[] = {GDB,        "-batch", "-nx",
                    "-ex",      target,   "-ex",
                    "continue", "-ex",    "monitor info",
                    "-ex",      "detach", (char *)test_env("USC_DEMOKERNEL"),
                    NULL};
    int rc = run_gdb_signalled(argv, &s, SIGINT, out);
    ck_assert_msg(rc == 0, "gdb: %d: %s", rc, out);
    ASSERT_HAS(out, "received signal SIGINT");
    /* at the prompt: QEMU has the guest stopped */
    const char *state = after(out, "state:");
    ck_assert_msg(state, "no state in:\n%s", out);
    while (*state == ' ')
        state++;
    ck_assert_msg(!strncmp(state, "paused", 6) || !strncmp(state, "debug", 5),
                  "the guest was not paused at the prompt:\n%s", out);
    server_wait(&s);
    assert_guest_runs(&g);
    guest_close(&g);
}
END_TEST

START_TEST(test_detach_leaves_the_guest_running_with_its_code)
{
    static char out[OUT_MAX];
    const char *cmds[] = {"break sleep_ticks", "break compute", "continue",
                          "detach", NULL};
    unsigned char before[256], now[256];
    struct guest g;

    test_boot("detach", 64, "scenario=work threads=1");
    guest_open("detach", &g);
    uint64_t code = test_symbol("sleep_ticks");
    ck_assert_int_eq(usc_target_read_virt(g.t, 0, code, before, 256), 0);
    debug_once("detach", "detach", cmds, out);
    ASSERT_HAS(out, "hit Breakpoint 1");
    ASSERT_HAS(out, "(Remote target) detached]");
    assert_guest_runs(&g);
    ck_assert_int_eq(usc_target_read_virt(g.t, 0, code, now, 256), 0);
    ck_assert_msg(!memcmp(before, now, sizeof(now)), "code changed");
    assert_guest_runs(&g);
    guest_close(&g);
}
END_TEST

START_TEST(test_core_file_of_a_crash_gives_the_faulting_bt)
{
    static char live[OUT_MAX], dead[OUT_MAX], out[OUT_MAX];
    const char *cmds[] = {"info program", "bt", "detach", NULL};
    const char *ro[] = {"bt",       "set var demo_magic = 1",
                        "continue", "print/x demo_magic",
                        "bt 1",     "detach",
                        NULL};
    char core[300];
    struct guest g;

    test_boot("crash", 64, "scenario=crash threads=1");
    guest_open("crash", &g);
    ck_assert_msg(test_wait_for(panicked, &g, BOOT_MS), "no crash");
    /* the live crashed guest shows the fault */
    debug_once("crash", "crash", cmds, live);
    ASSERT_HAS(live, "SIGSEGV");
    assert_faulting_bt(live);

    guest_file("crash", "crash.core", core, sizeof(core));
    test_qemu_dump("crash", core);
    debug_once("crash", core, cmds, dead);
    ASSERT_HAS(dead, "SIGSEGV");
    assert_faulting_bt(dead);

    /* read-only: writes and resumes are refused, and the session goes on */
    debug_once("crash", core, ro, out);
    ASSERT_HAS(out, "Cannot access memory");
    ASSERT_HAS(out, "Remote failure reply: E.");
    ASSERT_HAS(out, "= 0x5ca1ab1e0ddba11");
    ck_assert_ptr_nonnull(strstr(after(out, "Remote failure"), "crash_level3"));

    /* unigdb CORE --gdb: gdb started on the image, attached */
    char log[OUT_MAX / 4];
    char *argv[] = {(char *)test_env("USC_UNIGDB"),
                    core,
                    "--gdb",
                    "--image",
                    (char *)test_env("USC_DEMOKERNEL"),
                    "--",
                    "-batch",
                    "-nx",
                    "-ex",
                    "bt",
                    NULL};
    int rc = test_run(argv, log, sizeof(log), GDB_MS);
    ck_assert_msg(rc == 0, "unigdb --gdb: %d: %s", rc, log);
    assert_faulting_bt(log);
    unlink(core);
    guest_close(&g);
}
END_TEST

static int still_running(void *arg)
{
    enum usc_vm_state st;
    struct guest *g = arg;
    return usc_target_run_state(g->t, &st) != 0 || st != USC_VM_RUNNING;
}

START_TEST(test_sigkill_of_gdb_leaves_the_guest_running_as_it_was)
{
    static char out[OUT_MAX];
    char target[300];
    unsigned char before[256], now[256];
    struct server s;
    struct guest g;

    test_boot("kill", 64, "scenario=work threads=2");
    guest_open("kill", &g);
    uint64_t code = test_symbol("sleep_ticks");
    ck_assert_int_eq(usc_target_read_virt(g.t, 0, code, before, 256), 0);
    server_start(&s, "kill", "kill", ONCE | VERBOSE);
    snprintf(target, sizeof(target), "target remote %s", s.sock);
    /* a breakpoint hit all the time, never stopping gdb, and a watchpoint:
     * gdb dies with both planted */
    char *argv[] = {GDB,
                    "-batch",
                    "-nx",
                    "-ex",
                    target,
                    "-ex",
                    "break sleep_ticks if demo_magic == 0",
                    "-ex",
                    "watch demo_spin_count",
                    "-ex",
                    "continue",
                    (char *)test_env("USC_DEMOKERNEL"),
                    NULL};
    run_gdb_signalled(argv, &s, SIGKILL, out);
    server_wait(&s);
    /* had one stayed, QEMU would stop there with nobody to resume it */
    ck_assert_msg(!test_wait_for(still_running, &g, 1500),
                  "the guest stopped after gdb died");
    assert_guest_runs(&g);
    ck_assert_int_eq(usc_target_read_virt(g.t, 0, code, now, 256), 0);
    ck_assert_msg(!memcmp(before, now, sizeof(now)), "code changed");
    guest_close(&g);
}
END_TEST

START_TEST(test_second_client_is_refused_then_served)
{
    static char out[OUT_MAX];
    const char *cmds[] = {"info threads", "detach", NULL};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct server s;
    struct guest g;

    test_boot("two", 64, "scenario=idle");
    guest_open("two", &g);
    server_start(&s, "two", "two", VERBOSE);
    /* a debugger on QEMU's own stub: unigdb does not take the guest */
    char qemu_stub[300];
    guest_file("two", USC_RUNDIR_GDB, qemu_stub, sizeof(qemu_stub));
    int other = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_uint_lt(strlen(qemu_stub), sizeof(sa.sun_path));
    memcpy(sa.sun_path, qemu_stub, strlen(qemu_stub) + 1);
    ck_assert_int_eq(connect(other, (struct sockaddr *)&sa, sizeof(sa)), 0);
    run_gdb(s.sock, cmds, out);
    ASSERT_HAS(out, "another debugger holds the guest");
    close(other);
    /* the first client: attached, and silent */
    int first = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_uint_lt(strlen(s.sock), sizeof(sa.sun_path));
    memcpy(sa.sun_path, s.sock, strlen(s.sock) + 1);
    ck_assert_int_eq(connect(first, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(write(first, "$?#3f", 5), 5);
    char buf[256];
    ck_assert_int_gt(read(first, buf, sizeof(buf)), 0);
    /* the second: told why not */
    run_gdb(s.sock, cmds, out);
    ASSERT_HAS(out, "another gdb is attached");
    close(first);
    /* the first gone, the next is served */
    ck_assert_int_eq(run_gdb(s.sock, cmds, out), 0);
    ASSERT_HAS(out, "\"heartbeat\"");
    kill(s.pid, SIGTERM);
    server_wait(&s);
    assert_guest_runs(&g);
    guest_close(&g);
}
END_TEST

START_TEST(test_gdb_mode_starts_gdb_attached_with_symbols)
{
    static char out[OUT_MAX];
    char *argv[] = {(char *)test_env("USC_UNIGDB"),
                    "gdbmode",
                    "--gdb",
                    "--",
                    "-batch",
                    "-nx",
                    "-ex",
                    "info threads",
                    "-ex",
                    "print/x demo_magic",
                    NULL};
    struct guest g;

    test_boot("gdbmode", 64, "scenario=idle");
    guest_open("gdbmode", &g);
    int rc = test_run(argv, out, OUT_MAX, GDB_MS);
    ck_assert_msg(rc == 0, "unigdb --gdb: %d: %s", rc, out);
    ASSERT_HAS(out, "\"vCPU 0\"");
    ASSERT_HAS(out, "\"heartbeat\"");
    ASSERT_HAS(out, "= 0x5ca1ab1e0ddba11");
    /* gdb quit: the session ended, the guest runs */
    assert_guest_runs(&g);
    guest_close(&g);
}
END_TEST

/* The whole of (path) into a malloc'd buffer, its size in (*len). */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;

    ck_assert_msg(f, "%s: %s", path, strerror(errno));
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

START_TEST(test_monitor_dump_writes_the_guest_memory)
{
    static char out[OUT_MAX];
    char file[PATH_MAX], bad[PATH_MAX], cmd[2][PATH_MAX + 64],
        bad_cmd[PATH_MAX + 64];
    /* from the 1 MiB the image is linked at through some of its code */
    uint64_t text_end = test_symbol("sleep_ticks") + 256;
    uint64_t start = text_end & ~0xfffffull;
    const uint64_t size = 16u << 20;
    unsigned char *dump, *ram;
    size_t len;
    struct stat st;
    struct guest g;

    test_boot("mdump", 64, "scenario=idle");
    guest_open("mdump", &g);
    guest_file("mdump", "monitor-dump.bin", file, sizeof(file));
    guest_file("mdump", "monitor-bad.bin", bad, sizeof(bad));
    snprintf(cmd[0], sizeof(cmd[0]), "monitor dump %s 0x%" PRIx64 " %" PRIu64,
             file, start, size);
    /* the same again: the file exists, it is not replaced */
    snprintf(cmd[1], sizeof(cmd[1]), "monitor dump %s 0x%" PRIx64 " 4096", file,
             start);
    /* no page is mapped at the bottom of the upper half but the kernel's */
    snprintf(bad_cmd, sizeof(bad_cmd),
             "monitor dump %s 0xffff800000000000 8192", bad);
    const char *cmds[] = {cmd[0], cmd[1], bad_cmd, NULL};
    debug_once("mdump", "mdump", cmds, out);
    ASSERT_HAS(out, "wrote 16777216 bytes from 0x");
    ASSERT_HAS(out, "exists; not replaced");
    ASSERT_HAS(out, "cannot read 0xffff800000000000");
    ck_assert_msg(stat(bad, &st) != 0, "a failed dump left %s", bad);

    dump = slurp(file, &len);
    ck_assert_uint_eq(len, size);
    ck_assert_int_eq(stat(file, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    /* code and read-only data do not change while the guest runs on */
    ram = malloc(text_end - start);
    ck_assert_ptr_nonnull(ram);
    ck_assert_int_eq(usc_target_read_virt(g.t, 0, start, ram, text_end - start),
                     0);
    ck_assert_msg(!memcmp(dump, ram, text_end - start),
                  "the dump differs from guest memory");
    free(ram);
    free(dump);
    assert_guest_runs(&g);
    guest_close(&g);
}
END_TEST

START_TEST(test_command_line)
{
    char out[4096];
    char *help[] = {(char *)test_env("USC_UNIGDB"), "--help", NULL};
    char *version[] = {(char *)test_env("USC_UNIGDB"), "--version", NULL};
    char *nosuch[] = {(char *)test_env("USC_UNIGDB"), "nosuchguest", NULL};
    char *badopt[] = {(char *)test_env("USC_UNIGDB"), "x", "--frob", NULL};
    char *noarg[] = {(char *)test_env("USC_UNIGDB"), NULL};

    ck_assert_int_eq(test_run(help, out, sizeof(out), GDB_MS), 0);
    ASSERT_HAS(out, "Usage: unigdb TARGET");
    ck_assert_int_eq(test_run(version, out, sizeof(out), GDB_MS), 0);
    ASSERT_HAS(out, "unigdb (uniscope) ");
    ck_assert_int_eq(test_run(nosuch, out, sizeof(out), GDB_MS), 1);
    ck_assert_str_eq(out, "unigdb: nosuchguest: no such guest or file\n");
    ck_assert_int_eq(test_run(badopt, out, sizeof(out), GDB_MS), 2);
    ck_assert_msg(strchr(out, '\n') == out + strlen(out) - 1,
                  "not one line: %s", out);
    ASSERT_HAS(out, "unigdb: ");
    ck_assert_int_eq(test_run(noarg, out, sizeof(out), GDB_MS), 2);
}
END_TEST

int main(void)
{
    TCase *tc;
    Suite *su = test_suite("unigdb", "gdb", 120, &tc);
    tcase_add_unchecked_fixture(tc, test_rundir_fixture_setup,
                                test_rundir_teardown);
    tcase_add_test(tc, test_break_continue_stops_there_with_a_backtrace);
    tcase_add_test(tc, test_stepi_next_and_finish);
    tcase_add_test(tc, test_info_registers_has_fs_base_and_cr3);
    tcase_add_test(tc, test_print_and_set_var_the_guest_acts_on);
    tcase_add_test(tc, test_continue_into_a_crash_stops_at_the_fault);
    tcase_add_test(tc, test_watch_fires_on_the_write);
    tcase_add_test(tc, test_threads_by_name_and_where_a_sleeper_waits);
    tcase_add_test(tc, test_sigint_returns_to_the_prompt_with_the_guest_paused);
    tcase_add_test(tc, test_detach_leaves_the_guest_running_with_its_code);
    tcase_add_test(tc, test_core_file_of_a_crash_gives_the_faulting_bt);
    tcase_add_test(tc, test_sigkill_of_gdb_leaves_the_guest_running_as_it_was);
    tcase_add_test(tc, test_second_client_is_refused_then_served);
    tcase_add_test(tc, test_gdb_mode_starts_gdb_attached_with_symbols);
    tcase_add_test(tc, test_monitor_dump_writes_the_guest_memory);
    tcase_add_test(tc, test_command_line);
    return test_run_suite(su);
}
