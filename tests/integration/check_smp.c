/* The demo kernel on 4 vCPUs (unirun --vcpus 4) as its agent shows it:
 * vCPUs online and ticking, threads spread and migrating, the race's lost
 * updates, a crash on vCPU 3 while the others run, a panic that stops
 * the others, and a deadlock of two vCPUs spinning on each other's lock.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_reader.h"
#include "guestmem.h"
#include "harness.h"
#include "target.h"

#define BOOT_MS TEST_BOOT_MS
#define NCPU 4
#define MAX_T 64
#define KERNEL_VMA 0xffffffff80000000ull /* the demo kernel's layout */
#define TOOL_MS 120000
#define OUT_MAX (256u << 10)

struct view {
    const char *name;
    struct usc_target *t;
    struct usc_agent *a;
};

/* Boot (name) on NCPU vCPUs with (args) and open its agent. */
static void boot(struct view *v, const char *name, const char *args)
{
    char kargs[256];

    snprintf(kargs, sizeof(kargs), "%s name=%s", args, name);
    test_boot_vcpus(name, 64, NCPU, kargs);
    v->name = name;
    v->t = test_target_open(name);
    v->a = test_wait_agent(v->t, name);
}

static void finish(struct view *v)
{
    char out[1024];

    usc_agent_close(v->a);
    usc_target_close(v->t);
    ck_assert_int_eq(test_unirun_stop(v->name, out, sizeof(out)), 0);
}

static struct usc_agent_status status(struct view *v)
{
    struct usc_agent_status st;
    int rc = usc_agent_status(v->a, &st);

    ck_assert_msg(rc == 0, "%s: status: %s", v->name, strerror(-rc));
    return st;
}

static struct usc_agent_vcpu vcpu_of(struct view *v, uint32_t i)
{
    struct usc_agent_vcpu e;
    int settled;
    int rc = usc_agent_vcpu_at(v->a, i, &e, &settled);

    ck_assert_msg(rc == 0, "%s: vCPU %u: %s", v->name, i, strerror(-rc));
    return e;
}

/* The agent's threads; 0 when the table was in flux (try again). */
static size_t threads_of(struct view *v, struct usc_agent_thread *t)
{
    size_t n = 0;
    return usc_agent_threads(v->a, t, MAX_T, &n) == 0 ? n : 0;
}

static const struct usc_agent_thread *named(const struct usc_agent_thread *t,
                                            size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].name, name))
            return &t[i];
    return NULL;
}

/* ---- every vCPU online, ticking --------------------------------------- */

struct ticks_wait {
    struct view *v;
    uint64_t base[NCPU];
    uint32_t mask; /* the vCPUs whose ticks must advance */
};

static int ticks_advance(void *arg)
{
    struct ticks_wait *w = arg;
    for (uint32_t i = 0; i < NCPU; i++)
        if ((w->mask >> i & 1) && vcpu_of(w->v, i).ticks <= w->base[i] + 2)
            return 0;
    return 1;
}

/* Wait until the ticks of every vCPU in (mask) have advanced. */
static void assert_ticking(struct view *v, uint32_t mask)
{
    struct ticks_wait w = {.v = v, .mask = mask};
    for (uint32_t i = 0; i < NCPU; i++)
        w.base[i] = vcpu_of(v, i).ticks;
    ck_assert_msg(test_wait_for(ticks_advance, &w, BOOT_MS),
                  "%s: the ticks of vCPUs 0x%x did not all advance", v->name,
                  mask);
}

static int all_online(void *arg)
{
    struct view *v = arg;
    return status(v).vcpus_online == (1u << NCPU) - 1;
}

/* ---- threads on several vCPUs, migrating ------------------------------- */

struct spread_wait {
    struct view *v;
    uint32_t first_vcpu[MAX_T + 1]; /* by thread id; 0: unseen, else + 1 */
    uint32_t vcpus_seen;            /* bitmap over worker observations */
    int migrated;                   /* a worker seen on two vCPUs */
};

static int spread_and_migrated(void *arg)
{
    struct spread_wait *w = arg;
    struct usc_agent_thread t[MAX_T];
    size_t n = threads_of(w->v, t);

    for (size_t i = 0; i < n; i++) {
        if (strncmp(t[i].name, "worker-", 7) || t[i].id > MAX_T)
            continue;
        ck_assert_uint_lt(t[i].vcpu, NCPU);
        w->vcpus_seen |= 1u << t[i].vcpu;
        if (!w->first_vcpu[t[i].id])
            w->first_vcpu[t[i].id] = t[i].vcpu + 1;
        else if (w->first_vcpu[t[i].id] != t[i].vcpu + 1)
            w->migrated = 1;
    }
    return w->migrated && __builtin_popcount(w->vcpus_seen) >= 3;
}

struct busy_wait {
    struct view *v;
    uint64_t base[NCPU];
};

static int busy_on_three(void *arg)
{
    struct busy_wait *w = arg;
    int busy = 0;
    for (uint32_t i = 0; i < NCPU; i++)
        busy += vcpu_of(w->v, i).busy_time > w->base[i];
    return busy >= 3;
}

START_TEST(test_work_spreads_over_vcpus_and_migrates)
{
    struct view v;
    boot(&v, "smp-work", "scenario=work threads=4");

    const struct usc_control_block *cb = usc_agent_header(v.a);
    ck_assert_uint_eq(cb->max_vcpus, NCPU);
    ck_assert_uint_eq(usc_agent_nvcpus(v.a), NCPU);
    ck_assert_msg(test_wait_for(all_online, &v, BOOT_MS),
                  "vcpus_online is 0x%x", status(&v).vcpus_online);
    ck_assert_uint_eq(status(&v).vcpus_beyond, 0);
    for (uint32_t i = 0; i < NCPU; i++) {
        struct usc_agent_vcpu e = vcpu_of(&v, i);
        ck_assert_uint_eq(e.vcpu, i);
        ck_assert_uint_eq(e.state, USC_VCPU_ONLINE);
    }
    assert_ticking(&v, 0xf);

    struct spread_wait w = {.v = &v};
    ck_assert_msg(test_wait_for(spread_and_migrated, &w, BOOT_MS),
                  "workers seen on vCPUs 0x%x, migrated %d", w.vcpus_seen,
                  w.migrated);

    struct busy_wait b = {.v = &v};
    for (uint32_t i = 0; i < NCPU; i++)
        b.base[i] = vcpu_of(&v, i).busy_time;
    ck_assert_msg(test_wait_for(busy_on_three, &b, BOOT_MS),
                  "fewer than 3 vCPUs ran threads");
    finish(&v);
}
END_TEST

/* ---- the race: lost updates in a metric -------------------------------- */

static int race_lost(void *arg)
{
    struct view *v = arg;
    return test_agent_metric(v->a, "race_rounds") >= 1 &&
           test_agent_metric(v->a, "race_lost") > 0;
}

START_TEST(test_race_loses_updates)
{
    struct view v;
    boot(&v, "smp-race", "scenario=race");
    ck_assert_msg(test_wait_for(race_lost, &v, 4 * BOOT_MS),
                  "no lost update after %" PRIu64 " rounds",
                  test_agent_metric(v.a, "race_rounds"));
    /* the same increments under the spin lock lose none */
    ck_assert_uint_eq(test_agent_metric(v.a, "race_locked_lost"), 0);
    ck_assert_uint_gt(test_agent_metric(v.a, "race_increments"), 0);
    finish(&v);
}
END_TEST

/* ---- a crash on vCPU 3 while the others run ----------------------------- */

static int panicked(void *arg)
{
    struct view *v = arg;
    return status(v).state == USC_STATE_PANICKED;
}

struct metric_wait {
    struct view *v;
    const char *name;
    uint64_t above;
};

static int metric_above(void *arg)
{
    struct metric_wait *w = arg;
    return test_agent_metric(w->v->a, w->name) > w->above;
}

/* gdb -batch on the demo image with (args...) (NULL-ended), its output. */
static char *gdb(const char *first, ...)
{
    static char out[OUT_MAX];
    char *argv[40] = {"gdb", "-batch", "-nx", "-ex", "set pagination off"};
    int k = 5;
    va_list ap;

    va_start(ap, first);
    for (const char *a = first; a && k < 36; a = va_arg(ap, const char *))
        argv[k++] = (char *)a;
    va_end(ap);
    argv[k] = NULL;
    int rc = test_run(argv, out, sizeof(out), TOOL_MS);
    ck_assert_msg(rc == 0, "gdb: %d: %s", rc, out);
    return out;
}

static void has(const char *out, const char *what)
{
    ck_assert_msg(strstr(out, what), "no '%s' in:\n%s", what, out);
}

static int file_exists(void *arg)
{
    struct stat st;
    return stat(arg, &st) == 0;
}

START_TEST(test_crash_on_vcpu3_others_run)
{
    struct view v;
    struct usc_panic p;
    boot(&v, "smp-crash", "scenario=crash threads=3 crash_cpu=3");
    ck_assert_msg(test_wait_for(panicked, &v, BOOT_MS), "never panicked");

    ck_assert_int_eq(usc_agent_panic(v.a, &p), 0);
    ck_assert_uint_eq(p.vcpu, 3);
    ck_assert_uint_eq(p.vector, 14);
    ck_assert_uint_eq(p.cr2, 0xdeadbeef);
    ck_assert_uint_eq(p.count, 1);
    ck_assert_msg(strstr(p.reason, "in thread crasher on vCPU 3"), "%s",
                  p.reason);
    ck_assert_uint_eq(status(&v).panic_others, USC_PANIC_OTHERS_RUNNING);
    ck_assert_uint_eq(vcpu_of(&v, 3).state, USC_VCPU_PANICKED);

    struct usc_agent_thread t[MAX_T];
    size_t n = 0;
    for (int i = 0; i < 100 && !n; i++)
        n = threads_of(&v, t);
    const struct usc_agent_thread *c = named(t, n, "crasher");
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->id, p.thread_id);
    ck_assert_uint_eq(c->vcpu, 3);

    /* the others tick and work on; vCPU 3 is halted */
    assert_ticking(&v, 0x7);
    uint64_t t3 = vcpu_of(&v, 3).ticks;
    struct metric_wait w = {&v, "work_items",
                            test_agent_metric(v.a, "work_items") + 3};
    ck_assert_msg(test_wait_for(metric_above, &w, BOOT_MS),
                  "the workers stopped after the crash");
    ck_assert_uint_eq(vcpu_of(&v, 3).ticks, t3);
    for (uint32_t i = 0; i < 3; i++)
        ck_assert_uint_eq(vcpu_of(&v, i).state, USC_VCPU_ONLINE);

    /* its core: the faulting vCPU first, so gdb's bt is the crash */
    char core[512], out[4096];
    snprintf(core, sizeof(core), "%s/smp-crash.core",
             getenv("USC_TEST_SCRATCH") ? getenv("USC_TEST_SCRATCH") : "/tmp");
    char *dump[] = {
        (char *)test_env("USC_UNICORE"), "dump", "smp-crash", "-o", core, NULL};
    ck_assert_int_eq(test_run(dump, out, sizeof(out), TOOL_MS), 0);
    char *bt = gdb("-ex", "bt", "-ex", "info threads",
                   test_env("USC_DEMOKERNEL"), core, NULL);
    has(bt, "crash_level3");
    ck_assert_msg(strstr(bt, "#0  ") &&
                      strstr(bt, "#0  ") < strstr(bt, "crash_level3") &&
                      strstr(bt, "crash_level3") < strstr(bt, "Id   Target Id"),
                  "bt is not the crash:\n%s", bt);
    unlink(core);
    finish(&v);
}
END_TEST

/* gdb through unigdb: a breakpoint hit on vCPU 2 stops there, the agent's
 * thread shown on it. */
START_TEST(test_gdb_breakpoint_on_vcpu2)
{
    struct view v;
    char sock[512], listen[600], log[4096];
    int fd;

    boot(&v, "smp-gdb", "scenario=crash threads=2 crash_cpu=2 crash_after=3");
    snprintf(sock, sizeof(sock), "%s/smp-gdb.sock",
             getenv("USC_TEST_SCRATCH") ? getenv("USC_TEST_SCRATCH") : "/tmp");
    snprintf(listen, sizeof(listen), "unix:%s", sock);
    char *serve[] = {(char *)test_env("USC_UNIGDB"),
                     "smp-gdb",
                     "--listen",
                     listen,
                     "--once",
                     NULL};
    pid_t pid = test_spawn(serve, &fd);
    ck_assert_int_gt(pid, 0);
    ck_assert_msg(test_wait_for(file_exists, sock, BOOT_MS),
                  "unigdb never listened");
    char target[600];
    snprintf(target, sizeof(target), "target remote %s", sock);
    char *out = gdb("-ex", target, "-ex", "break crash_level3", "-ex",
                    "continue", "-ex", "info threads", "-ex", "delete", "-ex",
                    "detach", test_env("USC_DEMOKERNEL"), NULL);
    has(out, "Thread 3 \"vCPU 2\" hit Breakpoint 1, crash_level3");
    has(out, "* 3    Thread 3 \"vCPU 2\" (running crasher)");
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ssize_t n = read(fd, log, sizeof(log) - 1);
    log[n > 0 ? n : 0] = 0;
    close(fd);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "unigdb: %s", log);
    finish(&v);
}
END_TEST

static int all_stopped(void *arg)
{
    struct view *v = arg;
    for (uint32_t i = 0; i < NCPU; i++)
        if (i != 2 && vcpu_of(v, i).state != USC_VCPU_STOPPED)
            return 0;
    return status(v).state == USC_STATE_PANICKED;
}

START_TEST(test_panic_stop_stops_the_others)
{
    struct view v;
    struct usc_panic p;
    boot(&v, "smp-stop", "scenario=crash threads=2 crash_cpu=2 panic_stop=1");
    ck_assert_msg(test_wait_for(all_stopped, &v, BOOT_MS),
                  "the other vCPUs never all stopped");
    ck_assert_int_eq(usc_agent_panic(v.a, &p), 0);
    ck_assert_uint_eq(p.vcpu, 2);
    ck_assert_uint_eq(status(&v).panic_others, USC_PANIC_OTHERS_STOPPED);
    ck_assert_uint_eq(vcpu_of(&v, 2).state, USC_VCPU_PANICKED);
    finish(&v);
}
END_TEST

/* ---- a deadlock of two vCPUs, each spinning on the other's lock --------- */

struct demo_spin {
    uint32_t locked, owner_vcpu, owner_thread, reserved;
};

/* struct demo_lock (kernel.h): owner, name, then its struct spinlock. */
static struct demo_spin lock_at(struct view *v, uint64_t vaddr)
{
    struct demo_spin s;
    int rc = usc_guestmem_read(usc_target_physmem(v->t),
                               vaddr - KERNEL_VMA + 16, &s, sizeof(s));
    ck_assert_int_eq(rc, 0);
    return s;
}

struct deadlock_wait {
    struct view *v;
    uint64_t lock_a, lock_b;
    struct usc_agent_thread a, b;
};

/* Both lockers RUNNING, flagged spinning, each on the other's lock. */
static int spinning_on_each_other(void *arg)
{
    struct deadlock_wait *w = arg;
    struct usc_agent_thread t[MAX_T];
    size_t n = threads_of(w->v, t);
    const struct usc_agent_thread *a = named(t, n, "locker-a");
    const struct usc_agent_thread *b = named(t, n, "locker-b");

    if (!a || !b)
        return 0;
    w->a = *a;
    w->b = *b;
    return a->state == USC_THREAD_RUNNING && b->state == USC_THREAD_RUNNING &&
           (a->flags & USC_THREAD_SPINNING) &&
           (b->flags & USC_THREAD_SPINNING) && a->wait_obj == w->lock_b &&
           b->wait_obj == w->lock_a;
}

static int both_busy(void *arg)
{
    struct deadlock_wait *w = arg;
    struct usc_agent_vcpu ea = vcpu_of(w->v, w->a.vcpu);
    struct usc_agent_vcpu eb = vcpu_of(w->v, w->b.vcpu);
    return ea.thread_id == w->a.id && eb.thread_id == w->b.id &&
           ea.heartbeat_ts > ea.since && eb.heartbeat_ts > eb.since;
}

START_TEST(test_deadlock_two_vcpus_spin)
{
    struct view v;
    struct deadlock_wait w = {.v = &v};
    boot(&v, "smp-deadlock", "scenario=deadlock threads=1");
    w.lock_a = test_symbol("demo_lock_a");
    w.lock_b = test_symbol("demo_lock_b");
    ck_assert_msg(test_wait_for(spinning_on_each_other, &w, BOOT_MS),
                  "the lockers never spun on each other's lock");
    ck_assert_uint_ne(w.a.vcpu, w.b.vcpu);

    /* each vCPU runs its locker, busy: it does not switch away */
    ck_assert_msg(test_wait_for(both_busy, &w, BOOT_MS),
                  "the lockers' vCPUs are not both busy with them");

    /* whose is each lock: the holder the other one waits for */
    struct demo_spin la = lock_at(&v, w.lock_a), lb = lock_at(&v, w.lock_b);
    ck_assert_uint_eq(la.locked, 1);
    ck_assert_uint_eq(la.owner_thread, w.a.id);
    ck_assert_uint_eq(la.owner_vcpu, w.a.vcpu);
    ck_assert_uint_eq(lb.locked, 1);
    ck_assert_uint_eq(lb.owner_thread, w.b.id);
    ck_assert_uint_eq(lb.owner_vcpu, w.b.vcpu);
    finish(&v);
}
END_TEST

int main(void)
{
    TCase *tc;
    Suite *s = test_suite("smp", "smp", 300, &tc);
    /* unchecked: the guests go even when a test fails */
    tcase_add_unchecked_fixture(tc, test_rundir_fixture_setup,
                                test_rundir_teardown);
    tcase_add_test(tc, test_work_spreads_over_vcpus_and_migrates);
    tcase_add_test(tc, test_race_loses_updates);
    tcase_add_test(tc, test_crash_on_vcpu3_others_run);
    tcase_add_test(tc, test_gdb_breakpoint_on_vcpu2);
    tcase_add_test(tc, test_panic_stop_stops_the_others);
    tcase_add_test(tc, test_deadlock_two_vcpus_spin);
    return test_run_suite(s);
}
