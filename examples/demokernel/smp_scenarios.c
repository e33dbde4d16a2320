/* Scenarios for several vCPUs: race (a counter updated without its lock)
 * and stress (every vCPU traces and counts as fast as it can). */
#include <uniscope/agent.h>

#include "cpu.h"
#include "kernel.h"

#define RACE_BATCH 20000 /* increments of each racer per round */

/* Symbols the tests look up by name: keep them. */
volatile uint64_t demo_race_counter; /* racers' increments, unlocked */
volatile uint64_t demo_race_locked;  /* the same, under demo_race_lock */
struct spinlock demo_race_lock;

static uint32_t racers;
static volatile uint32_t race_round, race_arrived;
static struct usc_metric *race_increments, *race_lost, *race_locked_lost,
    *race_rounds;

/*
 * Read, let time pass, write back: another vCPU's increment in between is
 * lost. The same under the lock never is.
 */
static void race_once(void)
{
    uint64_t v = demo_race_counter;
    for (volatile int i = 0; i < 4; i++)
        ;
    demo_race_counter = v + 1;
    usca_counter_add(race_increments, 1);

    spin_lock(&demo_race_lock);
    demo_race_locked++;
    spin_unlock(&demo_race_lock);
}

/* The last racer of a round counts what the round lost. */
static void race_round_end(uint32_t round)
{
    uint64_t expected = (uint64_t)(round + 1) * racers * RACE_BATCH;

    usca_gauge_set(race_lost, (int64_t)(expected - demo_race_counter));
    usca_gauge_set(race_locked_lost, (int64_t)(expected - demo_race_locked));
    usca_gauge_set(race_rounds, round + 1);
    __atomic_store_n(&race_arrived, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&race_round, round + 1, __ATOMIC_RELEASE);
}

static void racer(void *arg)
{
    (void)arg;
    for (;;) {
        uint32_t round = __atomic_load_n(&race_round, __ATOMIC_ACQUIRE);
        for (int i = 0; i < RACE_BATCH; i++)
            race_once();
        if (__atomic_add_fetch(&race_arrived, 1, __ATOMIC_ACQ_REL) == racers)
            race_round_end(round);
        else
            while (__atomic_load_n(&race_round, __ATOMIC_ACQUIRE) == round)
                sleep_ticks(1);
    }
}

static void start_race(const struct options *opt)
{
    char name[USC_NAME_MAX];

    race_increments =
        usca_metric_register("race_increments", "", USC_METRIC_COUNTER);
    race_lost = usca_metric_register("race_lost", "", USC_METRIC_GAUGE);
    race_locked_lost =
        usca_metric_register("race_locked_lost", "", USC_METRIC_GAUGE);
    race_rounds = usca_metric_register("race_rounds", "", USC_METRIC_GAUGE);
    /* one racer a vCPU unless threads= says otherwise */
    racers = opt->threads_given ? opt->threads : smp_ncpus();
    if (racers < 2)
        racers = 2;
    for (uint32_t i = 0; i < racers; i++) {
        ksnprintf(name, sizeof(name), "racer-%u", i);
        if (thread_create(name, racer, NULL) < 0)
            kprintf("race: no thread slot left for %s\n", name);
    }
    kprintf("race: %u racers, %u increments each a round\n", racers,
            RACE_BATCH);
}

/* ---- stress ---------------------------------------------------------------
 */

static const struct usca_tp_field stress_fields[] = {USCA_U64("n"),
                                                     USCA_U64("vcpu")};
static struct usca_tracepoint tp_stress =
    USCA_TP("stress_event", USC_TP_INSTANT, stress_fields);
static struct usc_metric *stress_events, *stress_last, *stress_done;
static uint64_t stress_ticks;

/* Is this vCPU's trace ring being streamed by a host? */
static int ring_streamed(uint32_t vcpu)
{
    const struct usc_control_block *cb = usca_control_block();
    const volatile struct usc_trace_ring *r =
        (const volatile struct usc_trace_ring *)(uintptr_t)
            cb->trace_rings.at.vaddr +
        vcpu;

    return vcpu < cb->trace_rings.capacity && r->mode == USC_TRACE_STREAM;
}

/*
 * Once a host streams this vCPU's ring, trace and count for stress_ticks
 * as fast as it goes, then stop: the host can then check each vCPU's
 * events add up (emitted = written + lost).
 */
static void stresser(void *arg)
{
    uint32_t vcpu = (uint32_t)(uintptr_t)arg;

    while (!ring_streamed(vcpu))
        sleep_ticks(1);
    kprintf("stress-%u: tracing for %lu ticks\n", vcpu,
            (unsigned long)stress_ticks);
    /* by the TSC: a busy host delays (and drops) timer ticks */
    uint64_t start = rdtsc(), n = 0;
    uint64_t span = tsc_hz() / TIMER_HZ * stress_ticks;
    while (rdtsc() - start < span) {
        for (int i = 0; i < 64; i++, n++) {
            USCA_TRACE2(&tp_stress, n, vcpu);
            usca_counter_add(stress_events, 1);
            usca_gauge_set(stress_last, (int64_t)n);
        }
    }
    usca_gauge_add(stress_done, 1);
    kprintf("stress-%u: %lu events\n", vcpu, (unsigned long)n);
}

static void start_stress(const struct options *opt)
{
    char name[USC_NAME_MAX];

    stress_ticks = opt->stress_ticks;
    stress_events =
        usca_metric_register("stress_events", "", USC_METRIC_COUNTER);
    stress_last = usca_metric_register("stress_last", "", USC_METRIC_GAUGE);
    stress_done = usca_metric_register("stress_done", "", USC_METRIC_GAUGE);
    if (usca_tracepoint_register(&tp_stress) != 0)
        kprintf("stress: tracepoint not registered\n");
    for (uint32_t v = 0; v < smp_ncpus(); v++) {
        ksnprintf(name, sizeof(name), "stress-%u", v);
        if (thread_create_on(name, stresser, (void *)(uintptr_t)v, (int)v) < 0)
            kprintf("stress: no thread slot left for %s\n", name);
    }
}

void smp_scenarios_start(const struct options *opt)
{
    if (opt->scenario == SCENARIO_RACE)
        start_race(opt);
    else if (opt->scenario == SCENARIO_STRESS)
        start_stress(opt);
}
