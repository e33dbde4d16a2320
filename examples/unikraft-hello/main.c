/*
 * unikraft-hello: a small Unikraft application for uniscope's tools.
 *
 * Named uksched threads that work, sleep and wait; a metric and a traced
 * span per work item; and, chosen by the first word of the kernel command
 * line, a crash: "crash" (a software panic, UK_CRASH) or "fault" (a page
 * fault). "hello.early=1 --" (a library parameter) calls into the agent
 * before it has started. The same source builds without uniscope
 * (defconfigs/qemu-x86_64-noagent).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <uk/assert.h>
#include <uk/boot/earlytab.h>
#include <uk/config.h>
#include <uk/essentials.h>
#include <uk/libparam.h>
#include <uk/plat/time.h>
#include <uk/prio.h>
#include <uk/sched.h>
#include <uk/thread.h>
#include <uk/wait.h>
#if CONFIG_LIBUNISCOPE
#include <uniscope/unikraft.h>
#endif

#define MS 1000000ull /* nanoseconds */
#define WORKERS 2

/* Where the "fault" mode reads: far above what Unikraft maps. */
volatile uint64_t *volatile hello_bad_pointer =
    (volatile uint64_t *)0x00000deadbeef000ull;
/* Work items done, by every worker, and the last one's result. */
volatile uint64_t hello_items, hello_digest;
/* Never signalled: the "waiter" thread blocks on it for good. */
static struct uk_waitq hello_never = UK_WAIT_QUEUE_INITIALIZER(hello_never);
static volatile int hello_released;

#if CONFIG_LIBUNISCOPE
static struct usc_metric *m_items;
static const struct usca_tp_field item_fields[] = {USCA_U64("item")};
static struct usca_tracepoint tp_work_begin =
    USCA_TP("work_begin", USC_TP_BEGIN, item_fields);
static struct usca_tracepoint tp_work_end =
    USCA_TP_END("work_end", tp_work_begin, item_fields);
#define HELLO_TRACE(tp, item) USCA_TRACE1(tp, item)
#else
#define HELLO_TRACE(tp, item) ((void)(item))
#endif

/* One step of work: a breakpoint target that every worker reaches. */
__attribute__((noinline)) uint64_t hello_work_step(uint64_t item)
{
    uint64_t h = item * 0x9e3779b97f4a7c15ull;

    for (int i = 0; i < 20000; i++)
        h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull;
    return h;
}

static __noreturn void hello_worker(void *arg __unused)
{
    for (;;) {
        uint64_t item = __atomic_add_fetch(&hello_items, 1, __ATOMIC_RELAXED);

        HELLO_TRACE(&tp_work_begin, item);
        hello_digest = hello_work_step(item);
        HELLO_TRACE(&tp_work_end, item);
#if CONFIG_LIBUNISCOPE
        usca_counter_add(m_items, 1);
#endif
        uk_sched_thread_sleep(20 * MS);
    }
}

/* Blocks on a wait queue nobody wakes: a thread with a wait point. */
__attribute__((noinline)) void hello_wait_forever(void)
{
    uk_waitq_wait_event(&hello_never, hello_released);
}

static __noreturn void hello_waiter(void *arg __unused)
{
    for (;;)
        hello_wait_forever();
}

/* ---- the crashes ------------------------------------------------------ */

__attribute__((noinline)) void hello_crash_level2(int depth)
{
    UK_CRASH("hello: the crasher gives up at depth %d\n", depth);
}

__attribute__((noinline)) void hello_crash_level1(void)
{
    hello_crash_level2(2);
    __asm__ volatile("" ::: "memory"); /* not a tail call */
}

__attribute__((noinline)) uint64_t hello_fault_level2(void)
{
    return *hello_bad_pointer;
}

__attribute__((noinline)) uint64_t hello_fault_level1(void)
{
    uint64_t v = hello_fault_level2();

    __asm__ volatile("" ::: "memory"); /* not a tail call */
    return v + 1;
}

static __noreturn void hello_crasher(void *arg)
{
    const char *mode = arg;

    uk_sched_thread_sleep(200 * MS);
    printf("hello: %s now\n", mode);
    if (!strcmp(mode, "crash"))
        hello_crash_level1();
    else
        printf("hello: read %lu\n", (unsigned long)hello_fault_level1());
    UK_CRASH("hello: still running after '%s'\n", mode);
}

#if CONFIG_LIBUNISCOPE
/*
 * hello.early=1: register a metric from the early-boot table, before the
 * port has started the agent. The port stops the guest saying so.
 */
static int early;
UK_LIBPARAM_PARAM(early, int, "call the agent before it starts");

static int hello_early(struct ukplat_bootinfo *bi __unused)
{
    if (early)
        usca_metric_register("too_early", "", USC_METRIC_COUNTER);
    return 0;
}

/* After ukboot's entry that parses the command line's parameters. */
UK_BOOT_EARLYTAB_ENTRY(hello_early, UK_PRIO_LATEST);
#endif

/* ---- main ------------------------------------------------------------- */

static void hello_start(const char *name, uk_thread_fn1_t fn, void *arg)
{
    struct uk_thread *t =
        uk_sched_thread_create(uk_sched_current(), fn, arg, name);

    if (!t)
        UK_CRASH("hello: cannot create thread %s\n", name);
}

/* The "init" thread, which runs main, checks in once a second. */
__attribute__((noinline)) void hello_supervise(void)
{
    for (;;) {
        uk_sched_thread_sleep(1000 * MS);
        printf("hello: %lu items\n", (unsigned long)hello_items);
    }
}

int main(int argc, char *argv[])
{
    static const char *const workers[WORKERS] = {"worker-0", "worker-1"};
    const char *mode = argc > 1 ? argv[1] : "run";

#if CONFIG_LIBUNISCOPE
    m_items = usca_metric_register("work_items", "", USC_METRIC_COUNTER);
    if (!m_items || usca_tracepoint_register(&tp_work_end) != 0)
        UK_CRASH("hello: cannot register with the agent\n");
#endif
    printf("hello: mode %s, %d workers\n", mode, WORKERS);
    for (int i = 0; i < WORKERS; i++)
        hello_start(workers[i], hello_worker, NULL);
    hello_start("waiter", hello_waiter, NULL);
    if (!strcmp(mode, "crash") || !strcmp(mode, "fault"))
        hello_start("crasher", hello_crasher, (void *)mode);
    hello_supervise();
    return 0;
}
