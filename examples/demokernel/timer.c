/* The 100 Hz tick: PIT channel 0 on IRQ 0 (under Xen the local APIC timer,
 * on the same vector), the agent's heartbeat. */
#include <uniscope/agent.h>

#include "cpu.h"
#include "kernel.h"

#define PIT_HZ 1193182u
#define PIT_CH0 0x40
#define PIT_CMD 0x43

volatile uint64_t demo_ticks;

static struct usc_metric *ticks_metric;
static const struct usca_tp_field tick_fields[] = {USCA_U64("tick")};
static struct usca_tracepoint tp_tick =
    USCA_TP("timer_tick", USC_TP_INSTANT, tick_fields);
static uint64_t exit_at;
static uint32_t exit_code;

void timer_init(uint64_t exit_tick, uint32_t exit_status)
{
    const uint32_t divisor = (PIT_HZ + TIMER_HZ / 2) / TIMER_HZ;

    exit_at = exit_tick;
    exit_code = exit_status;
    ticks_metric = usca_metric_register("timer_ticks", "", USC_METRIC_COUNTER);
    usca_tracepoint_register(&tp_tick);
    if (xen_present()) {
        if (apic_timer_start(TIMER_HZ) != 0)
            kprintf("timer: no x2APIC, no tick\n");
        return;
    }
    outb(PIT_CMD, 0x34); /* channel 0, lobyte/hibyte, mode 2 (rate) */
    outb(PIT_CH0, divisor & 0xff);
    outb(PIT_CH0, divisor >> 8);
    pic_unmask(0);
    /* The PIT ticks the boot vCPU only: the others use their local APIC's
     * timer, measured here. */
    if (smp_ncpus() > 1 && apic_timer_calibrate(TIMER_HZ) != 0)
        kprintf("timer: no local APIC, the other vCPUs have no tick\n");
}

void timer_start_ap(void)
{
    if (apic_timer_start_ap() != 0)
        kprintf("timer: vCPU %u has no tick\n", this_cpu()->index);
}

void timer_trace_off(void)
{
    __atomic_store_n(&tp_tick.enabled, 0, __ATOMIC_RELEASE);
}

void timer_irq(void)
{
    struct cpu *c = this_cpu();

    if (c->timer_stopped) {
        irq_eoi(0);
        return;
    }
    c->ticks++;
    if (c->index != 0) {
        /* another vCPU: its own heartbeat; the guest's clock is vCPU 0's */
        USCA_TRACE1(&tp_tick, c->ticks);
        usca_tick();
        irq_eoi(0);
        return;
    }
    demo_ticks++;
    USCA_TRACE1(&tp_tick, demo_ticks);
    usca_tick();
    usca_counter_add(ticks_metric, 1);
    irq_eoi(0);
    /* Here rather than in the scheduler: a thread that never yields (the
     * hang scenario) must not keep the guest from exiting on time. */
    if (exit_at && demo_ticks >= exit_at)
        demo_exit(exit_code);
}

void timer_stop(void)
{
    this_cpu()->timer_stopped = 1;
    apic_timer_stop();
}
