/* The local APIC timer in x2APIC mode: the tick where there is no PIT. */
#include "cpu.h"
#include "kernel.h"

#define MSR_APIC_BASE 0x1bu
#define APIC_BASE_EXTD (1ull << 10) /* x2APIC mode */
#define APIC_BASE_EN (1ull << 11)
/* x2APIC registers are MSRs 0x800 + (xAPIC offset >> 4). */
#define X2APIC_EOI 0x80bu
#define X2APIC_SVR 0x80fu
#define X2APIC_LVT_TIMER 0x832u
#define X2APIC_TIMER_INITIAL 0x838u
#define X2APIC_TIMER_CURRENT 0x839u
#define X2APIC_TIMER_DIVIDE 0x83eu
#define SVR_ENABLE 0x100u
#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define DIVIDE_BY_16 0x3u
#define CPUID1_ECX_X2APIC (1u << 21)
/*
 * The timer is measured against the TSC in windows of CALIBRATE_MS: the
 * median of CALIBRATE_ROUNDS good ones, out of at most CALIBRATE_TRIES.
 * A window is good when its two reads of the count together took under
 * 1/CALIBRATE_SLACK of it.
 */
#define CALIBRATE_ROUNDS 7
#define CALIBRATE_TRIES 21
#define CALIBRATE_MS 10u
#define CALIBRATE_SLACK 20u
/* Xen 4.17's emulated APIC bus runs at 100 MHz (measured: 6.27 MHz after
 * the divider): the rate to assume if the measurement makes no sense. */
#define FALLBACK_HZ (100000000ull / 16)

static int in_use;
static uint64_t timer_hz;  /* timer counts per second, divider included */
static uint64_t spread[2]; /* the slowest and fastest good window */

/* A reading of the current count, stamped with the TSC halfway through;
 * adds the TSC ticks the read took to (*slack). */
static void sample(uint64_t *tsc, uint32_t *count, uint64_t *slack)
{
    uint64_t before = rdtsc();

    *count = (uint32_t)rdmsr(X2APIC_TIMER_CURRENT);
    uint64_t took = rdtsc() - before;
    *tsc = before + took / 2;
    *slack += took;
}

/* The timer's counts per second over one window of (window) TSC ticks,
 * and in (*slack) the ticks its reads took; 0 if that makes no sense. */
static uint64_t measure(uint64_t window, uint64_t *slack)
{
    uint64_t hz = tsc_hz(), t0, t1;
    uint32_t c0, c1;

    *slack = 0;
    wrmsr(X2APIC_TIMER_INITIAL, 0xffffffffu);
    sample(&t0, &c0, slack);
    while (rdtsc() - t0 < window)
        cpu_relax();
    sample(&t1, &c1, slack);
    wrmsr(X2APIC_TIMER_INITIAL, 0);
    uint64_t counted = (uint64_t)c0 - c1, elapsed = t1 - t0;
    /* both under 2^31 and 2^33 in any sane case: the product fits */
    if (c1 >= c0 || elapsed == 0 || counted >> 31 || hz >> 33)
        return 0;
    return counted * hz / elapsed;
}

/*
 * The timer's counts per second (0 if no window was good). Under Xen a
 * single window can be far off (by half, seen under nested TCG on a busy
 * host): a read of the count is a trap that can take milliseconds, and the
 * emulated timer runs on the guest's time, which stands still while the
 * vCPU is descheduled. Slow reads are what the slack rejects; the median
 * leaves out the rest. The LVT must be masked.
 */
static uint64_t calibrate(void)
{
    uint64_t rates[CALIBRATE_ROUNDS], window = tsc_hz() / 1000 * CALIBRATE_MS;
    int n = 0;

    if (!window)
        return 0;
    for (int tries = 0; tries < CALIBRATE_TRIES && n < CALIBRATE_ROUNDS;
         tries++) {
        uint64_t slack, r = measure(window, &slack);
        if (r == 0 || slack > window / CALIBRATE_SLACK)
            continue;
        /* insertion sort: few rounds */
        int j = n++;
        for (; j > 0 && rates[j - 1] > r; j--)
            rates[j] = rates[j - 1];
        rates[j] = r;
    }
    if (n == 0)
        return 0;
    spread[0] = rates[0];
    spread[1] = rates[n - 1];
    return rates[n / 2];
}

int apic_timer_start(uint32_t hz)
{
    uint32_t r[4];

    cpuid(1, 0, r);
    if (!(r[2] & CPUID1_ECX_X2APIC))
        return -1;
    /* from xAPIC (enabled, as firmware and Xen leave it) to x2APIC */
    wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_EN | APIC_BASE_EXTD);
    wrmsr(X2APIC_SVR, SVR_ENABLE | APIC_SPURIOUS_VECTOR);
    wrmsr(X2APIC_TIMER_DIVIDE, DIVIDE_BY_16);
    wrmsr(X2APIC_LVT_TIMER, LVT_MASKED | APIC_TIMER_VECTOR);
    in_use = 1;

    uint64_t measured = calibrate();
    timer_hz = measured ? measured : FALLBACK_HZ;
    uint64_t count = (timer_hz + hz / 2) / hz;
    if (count == 0)
        count = 1;
    if (count > 0xffffffffu)
        count = 0xffffffffu;
    wrmsr(X2APIC_LVT_TIMER, LVT_PERIODIC | APIC_TIMER_VECTOR);
    wrmsr(X2APIC_TIMER_INITIAL, count);
    if (measured)
        kprintf("apic: x2APIC timer at %lu Hz (divide by 16; windows "
                "%lu-%lu), %lu counts a tick\n",
                (unsigned long)timer_hz, (unsigned long)spread[0],
                (unsigned long)spread[1], (unsigned long)count);
    else
        kprintf("apic: x2APIC timer at %lu Hz (assumed), %lu counts a tick\n",
                (unsigned long)timer_hz, (unsigned long)count);
    return 0;
}

void apic_timer_stop(void)
{
    if (!in_use)
        return;
    wrmsr(X2APIC_LVT_TIMER, LVT_MASKED | APIC_TIMER_VECTOR);
    wrmsr(X2APIC_TIMER_INITIAL, 0);
}

int apic_in_use(void)
{
    return in_use;
}

void apic_eoi(void)
{
    wrmsr(X2APIC_EOI, 0);
}
