/*
 * Unikraft's own metrics, and the agent's heartbeat.
 *
 * Unikraft is tickless: its timer interrupt fires only when a sleeping
 * thread is due. The heartbeat is given at every timer interrupt
 * (ukintctlr's UK_INTCTLR_EVENT_IRQ, raised before the IRQ's handlers)
 * and at every context switch, so a guest whose threads all wait forever
 * shows no heartbeat: the host then tells it apart by its threads' states.
 */
#include <uk/config.h>
#include <uk/event.h>
#include <uk/intctlr.h>
#include <uk/plat/time.h> /* ukplat_time_get_irq */
#if CONFIG_LIBUKALLOC
#include <uk/alloc.h>
#endif

#include "glue.h"

/* Heap figures are summed over the allocators: ten times a second at most. */
#define HEAP_PER_SECOND 10

static struct usc_metric *m_threads, *m_switches;
#if CONFIG_LIBUKALLOC
static struct usc_metric *m_heap_free;
#if CONFIG_LIBUNISCOPE_HEAP_STATS
static struct usc_metric *m_heap_used, *m_allocs;
#endif
static uint64_t heap_at, heap_every; /* TSC ticks */
static int heap_busy;
#endif

void usca_uk_metrics_start(uint64_t ts_hz)
{
#if CONFIG_LIBUKALLOC
    heap_every = ts_hz / HEAP_PER_SECOND;
#else
    (void)ts_hz;
#endif
    m_threads = usca_metric_register("threads", "", USC_METRIC_GAUGE);
    m_switches =
        usca_metric_register("context_switches", "", USC_METRIC_COUNTER);
#if CONFIG_LIBUKALLOC
    m_heap_free = usca_metric_register("heap_free", "bytes", USC_METRIC_GAUGE);
#if CONFIG_LIBUNISCOPE_HEAP_STATS
    m_heap_used = usca_metric_register("heap_used", "bytes", USC_METRIC_GAUGE);
    m_allocs = usca_metric_register("heap_allocations", "", USC_METRIC_COUNTER);
#endif
#endif
}

void usca_uk_metrics_threads(int delta)
{
    usca_gauge_add(m_threads, delta);
}

#if CONFIG_LIBUKALLOC
static void heap_update(void)
{
    uint64_t now = usca_uk_rdtsc();

    if (now - heap_at < heap_every ||
        __atomic_exchange_n(&heap_busy, 1, __ATOMIC_ACQUIRE))
        return;
    heap_at = now;
    usca_gauge_set(m_heap_free, (int64_t)uk_alloc_availmem_total());
#if CONFIG_LIBUNISCOPE_HEAP_STATS
    struct uk_alloc *a;
    int64_t used = 0;
    uint64_t allocs = 0;

    uk_alloc_foreach(a)
    {
        used += a->_stats.cur_mem_use;
        allocs += a->_stats.tot_nb_allocs;
    }
    usca_gauge_set(m_heap_used, used);
    /* a counter: publish the growth since the last look */
    if (m_allocs && allocs > m_allocs->value)
        usca_counter_add(m_allocs, allocs - m_allocs->value);
#endif
    __atomic_store_n(&heap_busy, 0, __ATOMIC_RELEASE);
}
#endif

/* From the context-switch hook, in the scheduler (interrupts on). */
void usca_uk_metrics_switch(void)
{
    usca_counter_add(m_switches, 1);
    usca_tick();
#if CONFIG_LIBUKALLOC
    heap_update();
#endif
}

static int timer_irq(void *arg)
{
    const struct uk_intctlr_event_irq_data *d = arg;

    if (usca_uk_ready && d->irq == ukplat_time_get_irq())
        usca_tick();
    return UK_EVENT_NOT_HANDLED; /* the IRQ's own handlers still run */
}

UK_EVENT_HANDLER(UK_INTCTLR_EVENT_IRQ, timer_irq);
