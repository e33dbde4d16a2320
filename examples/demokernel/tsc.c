/* TSC frequency, measured against the PIT's fixed 1.193182 MHz clock, or
 * under Xen as Xen states it. */
#include "cpu.h"
#include "kernel.h"

#define PIT_HZ 1193182u
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PORT_B 0x61 /* bit 0: channel 2 gate, 1: speaker, 5: channel 2 out */
#define SHORT_US 500
#define LONG_US 2500
#define ROUNDS 3 /* 9 ms in all */
/* Used when no PIT answers and no hypervisor states the rate. */
#define FALLBACK_HZ 1000000000ull

static uint64_t hz;

/* TSC ticks in one run of PIT channel 2 down from (count); 0 if there
 * seems to be no PIT. */
static uint64_t measure(uint32_t count)
{
    /* Channel 2's gate is ours to drive, unlike channel 0's; keep the
     * speaker off. Mode 0 raises OUT once the count has run down. */
    outb(PORT_B, (inb(PORT_B) & ~0x02) | 0x01);
    outb(PIT_CMD, 0xb0); /* channel 2, lobyte/hibyte, mode 0, binary */
    outb(PIT_CH2, count & 0xff);
    /* the count starts with its high byte: a delay before the write
     * lengthens the measurement, never shortens it */
    uint64_t start = rdtsc();
    outb(PIT_CH2, count >> 8);

    /* OUT already high: nothing is counting, so no PIT answers here */
    if (inb(PORT_B) & 0x20)
        return 0;
    for (uint32_t spins = 0; !(inb(PORT_B) & 0x20); spins++) {
        if (spins > 10u * 1000 * 1000)
            return 0;
    }
    return rdtsc() - start;
}

/* PIT ticks in (us) microseconds. */
static uint32_t pit_count(uint32_t us)
{
    return (uint32_t)((uint64_t)PIT_HZ * us / 1000000);
}

/* The shortest of ROUNDS windows of (count) PIT ticks; 0 without a PIT. */
static uint64_t shortest(uint32_t count)
{
    uint64_t best = 0;

    for (int i = 0; i < ROUNDS; i++) {
        uint64_t t = measure(count);
        if (t == 0)
            return 0;
        if (best == 0 || t < best)
            best = t;
    }
    return best;
}

uint64_t tsc_calibrate(void)
{
    /*
     * Anything that stalls the vCPU (a busy host) only makes a window look
     * longer, so the shortest of a few is the truest. What every window
     * pays alike (the exits to an emulated PIT at both ends) cancels in
     * the difference between a long and a short one.
     */
    /* A Xen PVH guest has no PIT; Xen knows the TSC's rate (CPUID). */
    hz = xen_tsc_hz();
    if (hz)
        return hz;

    uint32_t c_short = pit_count(SHORT_US), c_long = pit_count(LONG_US);
    uint64_t t_short = shortest(c_short);
    uint64_t t_long = t_short ? shortest(c_long) : 0;

    if (t_long > t_short)
        hz = (t_long - t_short) * PIT_HZ / (c_long - c_short);
    else
        hz = FALLBACK_HZ;
    return hz;
}

uint64_t tsc_hz(void)
{
    return hz;
}
