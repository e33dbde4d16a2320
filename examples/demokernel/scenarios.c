/* What the demo does: the idle, work, crash and hang scenarios. */
#include <uniscope/agent.h>

#include "cpu.h"
#include "kernel.h"

#define WORK_BURST_US 2000 /* computation per work item */
#define SPIN_DELAY_TICKS 20
#define HEARTBEAT_TICKS 10
#define QUEUE_MAX 1000

/*
 * Globals a debugger reads or writes in the tests: keep their names, types
 * and initial values.
 */
uint64_t demo_magic = 0x5ca1ab1e0ddba11ull;
volatile uint32_t demo_work_delay_ticks = 1; /* workers sleep this long */
volatile uint64_t *volatile demo_bad_pointer =
    (volatile uint64_t *)0xdeadbeefull; /* unmapped: see boot.S */
volatile uint64_t demo_spin_count;      /* spin_forever's progress */
volatile uint64_t demo_work_result;     /* keeps the computation alive */
volatile uint64_t demo_crash_trail;     /* the crash path writes here */

static struct usc_metric *heartbeats;
static struct usc_metric *work_items;
static struct usc_metric *queue_depth;
static uint32_t queue; /* a pretend backlog the workers drain */
static struct spinlock queue_lock;

/* Tracepoints: a span per work item and per heartbeat, a step of each
 * computation, and the starts of the crash and the hang. */
static const struct usca_tp_field item_fields[] = {USCA_U64("item")};
static const struct usca_tp_field step_fields[] = {USCA_U64("acc")};
static struct usca_tracepoint tp_work_begin =
    USCA_TP("work_begin", USC_TP_BEGIN, item_fields);
static struct usca_tracepoint tp_work_end =
    USCA_TP_END("work_end", tp_work_begin, item_fields);
static struct usca_tracepoint tp_work_step =
    USCA_TP("work_step", USC_TP_INSTANT, step_fields);
static struct usca_tracepoint tp_beat_begin =
    USCA_TP0("heartbeat_begin", USC_TP_BEGIN);
static struct usca_tracepoint tp_beat_end =
    USCA_TP_END0("heartbeat_end", tp_beat_begin);
static struct usca_tracepoint tp_crash_begin =
    USCA_TP0("crash_begin", USC_TP_BEGIN);
static struct usca_tracepoint tp_crash_end =
    USCA_TP_END0("crash_end", tp_crash_begin);
static struct usca_tracepoint tp_spin_begin =
    USCA_TP0("spin_begin", USC_TP_BEGIN);
static struct usca_tracepoint tp_spin_end =
    USCA_TP_END0("spin_end", tp_spin_begin);

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Mix numbers for (us) microseconds of TSC time. */
static uint64_t compute(uint64_t us, uint64_t *seed)
{
    uint64_t end = rdtsc() + tsc_hz() / 1000000 * us;
    uint64_t acc = 0;
    unsigned steps = 0;

    do {
        for (int i = 0; i < 256; i++)
            acc += xorshift(seed) * 0x9e3779b97f4a7c15ull;
        /* Some 300 000 events a second under TCG. */
        if (++steps % 2 == 0)
            USCA_TRACE1(&tp_work_step, acc);
    } while (rdtsc() < end);
    return acc;
}

static void heartbeat(void *arg)
{
    (void)arg;
    for (uint64_t n = 1;; n++) {
        sleep_ticks(HEARTBEAT_TICKS);
        USCA_TRACE0(&tp_beat_begin);
        usca_counter_add(heartbeats, 1);
        if (n % 10 == 0)
            kprintf("heartbeat: %lu\n", (unsigned long)n);
        USCA_TRACE0(&tp_beat_end);
    }
}

static void worker(void *arg)
{
    uint64_t seed = (uintptr_t)arg + 1;
    uint64_t items = 0;

    for (;;) {
        USCA_TRACE1(&tp_work_begin, items);
        demo_work_result ^= compute(WORK_BURST_US, &seed);
        usca_counter_add(work_items, 1);
        /* as much work arrives as is served, so the depth wanders */
        unsigned long flags = spin_lock_irqsave(&queue_lock);
        queue += (uint32_t)(xorshift(&seed) % 3);
        queue = queue > 0 ? queue - 1 : 0;
        if (queue > QUEUE_MAX)
            queue = QUEUE_MAX;
        usca_gauge_set(queue_depth, queue);
        spin_unlock_irqrestore(&queue_lock, flags);
        USCA_TRACE1(&tp_work_end, items);
        if (++items % 100 == 0)
            kprintf("%s: %lu items\n", thread_current_name(),
                    (unsigned long)items);
        sleep_ticks(demo_work_delay_ticks);
    }
}

/*
 * The crash path: three real frames (noinline, and work after each call
 * so none becomes a tail call) ending in a load through demo_bad_pointer.
 */
__attribute__((noinline)) uint64_t crash_level3(uint64_t x)
{
    /* A stack slot: GCC gives a frameless leaf no frame pointer, and a
     * frame-pointer walk from here would then skip crash_level2. */
    volatile uint64_t depth = 3;

    demo_crash_trail = x;
    return *demo_bad_pointer + x + depth;
}

__attribute__((noinline)) uint64_t crash_level2(uint64_t x)
{
    uint64_t r = crash_level3(x * 3 + 1);
    demo_crash_trail = r;
    return r + 2;
}

__attribute__((noinline)) uint64_t crash_level1(uint64_t x)
{
    uint64_t r = crash_level2(x + 7);
    demo_crash_trail = r;
    return r ^ x;
}

static uint64_t crash_ticks; /* crash_after= */

static void crasher(void *arg)
{
    (void)arg;
    sleep_ticks(crash_ticks);
    kprintf("crasher: dereferencing demo_bad_pointer (%p)\n",
            (void *)demo_bad_pointer);
    USCA_TRACE0(&tp_crash_begin);
    demo_work_result = crash_level1(demo_spin_count);
}

/* Never returns, never yields; interrupts stay on, so the tick goes on. */
__attribute__((noinline)) void spin_forever(void)
{
    for (;;)
        demo_spin_count++;
}

static void spinner(void *arg)
{
    (void)arg;
    sleep_ticks(SPIN_DELAY_TICKS);
    kprintf("spinner: spinning forever\n");
    USCA_TRACE0(&tp_spin_begin);
    spin_forever();
}

static void start(const char *name, void (*fn)(void *), void *arg)
{
    if (thread_create(name, fn, arg) < 0)
        kprintf("scenario: no thread slot left for %s\n", name);
}

/* The crasher, on vCPU (cpu) when there is one of that index (-1: any). */
static void start_crasher(int cpu)
{
    if (cpu >= (int)smp_ncpus()) {
        kprintf("scenario: no vCPU %d: the crasher runs anywhere\n", cpu);
        cpu = -1;
    }
    if (thread_create_on("crasher", crasher, NULL, cpu) < 0)
        kprintf("scenario: no thread slot left for crasher\n");
}

static void start_workers(uint32_t n)
{
    char name[USC_NAME_MAX];

    work_items = usca_metric_register("work_items", "", USC_METRIC_COUNTER);
    queue_depth = usca_metric_register("queue_depth", "", USC_METRIC_GAUGE);
    for (uint32_t i = 0; i < n; i++) {
        ksnprintf(name, sizeof(name), "worker-%u", i);
        start(name, worker, (void *)(uintptr_t)i);
    }
}

static void register_tracepoints(void)
{
    struct usca_tracepoint *const tps[] = {
        &tp_work_end, &tp_work_step, &tp_beat_end, &tp_crash_end, &tp_spin_end,
    };

    for (size_t i = 0; i < sizeof(tps) / sizeof(tps[0]); i++)
        if (usca_tracepoint_register(tps[i]) != 0)
            kprintf("scenario: tracepoint %s not registered\n", tps[i]->name);
}

void scenario_start(const struct options *opt)
{
    register_tracepoints();
    switch (opt->scenario) {
    case SCENARIO_IDLE:
        heartbeats = usca_metric_register("heartbeats", "", USC_METRIC_COUNTER);
        start("heartbeat", heartbeat, NULL);
        break;
    case SCENARIO_WORK:
        start_workers(opt->threads);
        break;
    case SCENARIO_CRASH:
        start_workers(opt->threads);
        crash_ticks = opt->crash_ticks;
        start_crasher(opt->crash_cpu);
        break;
    case SCENARIO_HANG:
        start_workers(opt->threads);
        start("spinner", spinner, NULL);
        break;
    case SCENARIO_RACE:
    case SCENARIO_STRESS:
        smp_scenarios_start(opt);
        break;
    default: /* a planted bug of bugs.c, among workers */
        start_workers(opt->threads);
        break;
    }
    bugs_start(opt);
}
