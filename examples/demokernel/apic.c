/* The local APIC: its timer (the tick where there is no PIT: Xen PVH, and
 * the vCPUs other than the boot one) and inter-processor interrupts. */
#include "cpu.h"
#include "kernel.h"

#define MSR_APIC_BASE 0x1bu
#define APIC_BASE_EXTD (1ull << 10) /* x2APIC mode */
#define APIC_BASE_EN (1ull << 11)
#define APIC_BASE_ADDR 0x000ffffffffff000ull
/* Registers by their xAPIC offset; x2APIC MSRs are 0x800 + offset / 16. */
#define REG_ID 0x20u
#define REG_EOI 0xb0u
#define REG_SVR 0xf0u
#define REG_ICR_LOW 0x300u
#define REG_ICR_HIGH 0x310u
#define REG_LVT_TIMER 0x320u
#define REG_TIMER_INITIAL 0x380u
#define REG_TIMER_CURRENT 0x390u
#define REG_TIMER_DIVIDE 0x3e0u
#define X2APIC_MSR(reg) (0x800u + (reg) / 16)
#define SVR_ENABLE 0x100u
#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define DIVIDE_BY_16 0x3u
#define CPUID1_ECX_X2APIC (1u << 21)
/* ICR: delivery mode, level, the "all but me" shorthand, busy. */
#define ICR_FIXED 0x000u
#define ICR_INIT 0x500u
#define ICR_STARTUP 0x600u
#define ICR_BUSY (1u << 12)
#define ICR_ASSERT (1u << 14)
#define ICR_ALL_BUT_SELF (3u << 18)
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

static int x2apic;              /* x2APIC mode (Xen) rather than MMIO */
static volatile uint32_t *mmio; /* the xAPIC's registers, once mapped */
static uint64_t timer_hz;       /* timer counts per second, divider incl. */
static uint32_t timer_count;    /* counts a tick */
static uint64_t spread[2];      /* the slowest and fastest good window */

static uint32_t reg_read(uint32_t reg)
{
    return x2apic ? (uint32_t)rdmsr(X2APIC_MSR(reg)) : mmio[reg / 4];
}

static void reg_write(uint32_t reg, uint32_t v)
{
    if (x2apic)
        wrmsr(X2APIC_MSR(reg), v);
    else
        mmio[reg / 4] = v;
}

int apic_enable(void)
{
    struct cpu *c = this_cpu();
    uint32_t r[4];

    /* Xen's PVH vCPUs have x2APIC (and the demo has always used it
     * there); QEMU's TCG has only the xAPIC, whose page lies outside the
     * identity map. */
    x2apic = xen_present();
    if (x2apic) {
        cpuid(1, 0, r);
        if (!(r[2] & CPUID1_ECX_X2APIC))
            return -1;
        wrmsr(MSR_APIC_BASE,
              rdmsr(MSR_APIC_BASE) | APIC_BASE_EN | APIC_BASE_EXTD);
    } else {
        uint64_t base = rdmsr(MSR_APIC_BASE);
        if (!mmio)
            mmio =
                window_map((base & APIC_BASE_ADDR) >> 12, WINDOW_SLOT_LAPIC, 1);
        if (!mmio)
            return -1;
        wrmsr(MSR_APIC_BASE, base | APIC_BASE_EN);
    }
    reg_write(REG_SVR, SVR_ENABLE | APIC_SPURIOUS_VECTOR);
    c->apic_id = x2apic ? reg_read(REG_ID) : reg_read(REG_ID) >> 24;
    return 0;
}

/* A reading of the current count, stamped with the TSC halfway through;
 * adds the TSC ticks the read took to (*slack). */
static void sample(uint64_t *tsc, uint32_t *count, uint64_t *slack)
{
    uint64_t before = rdtsc();

    *count = reg_read(REG_TIMER_CURRENT);
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
    reg_write(REG_TIMER_INITIAL, 0xffffffffu);
    sample(&t0, &c0, slack);
    while (rdtsc() - t0 < window)
        cpu_relax();
    sample(&t1, &c1, slack);
    reg_write(REG_TIMER_INITIAL, 0);
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

int apic_timer_calibrate(uint32_t hz)
{
    if (apic_enable() != 0)
        return -1;
    reg_write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
    reg_write(REG_LVT_TIMER, LVT_MASKED | APIC_TIMER_VECTOR);

    uint64_t measured = calibrate();
    timer_hz = measured ? measured : FALLBACK_HZ;
    uint64_t count = (timer_hz + hz / 2) / hz;
    if (count == 0)
        count = 1;
    if (count > 0xffffffffu)
        count = 0xffffffffu;
    timer_count = (uint32_t)count;
    if (measured)
        kprintf("apic: %s timer at %lu Hz (divide by 16; windows "
                "%lu-%lu), %lu counts a tick\n",
                x2apic ? "x2APIC" : "xAPIC", (unsigned long)timer_hz,
                (unsigned long)spread[0], (unsigned long)spread[1],
                (unsigned long)count);
    else
        kprintf("apic: %s timer at %lu Hz (assumed), %lu counts a tick\n",
                x2apic ? "x2APIC" : "xAPIC", (unsigned long)timer_hz,
                (unsigned long)count);
    return 0;
}

/* Start this vCPU's timer periodic with the measured count. */
static void start_timer(void)
{
    reg_write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
    reg_write(REG_LVT_TIMER, LVT_PERIODIC | APIC_TIMER_VECTOR);
    reg_write(REG_TIMER_INITIAL, timer_count);
    this_cpu()->lapic_tick = 1;
}

int apic_timer_start(uint32_t hz)
{
    if (apic_timer_calibrate(hz) != 0)
        return -1;
    start_timer();
    return 0;
}

int apic_timer_start_ap(void)
{
    if (!timer_count || apic_enable() != 0)
        return -1;
    start_timer();
    return 0;
}

void apic_timer_stop(void)
{
    if (!this_cpu()->lapic_tick)
        return;
    reg_write(REG_LVT_TIMER, LVT_MASKED | APIC_TIMER_VECTOR);
    reg_write(REG_TIMER_INITIAL, 0);
}

void apic_eoi(void)
{
    reg_write(REG_EOI, 0);
}

/* Send the IPI (low) (shorthand, mode, vector) once the last one left. */
static void send_ipi(uint32_t low)
{
    if (x2apic) {
        wrmsr(X2APIC_MSR(REG_ICR_LOW), low);
        return;
    }
    while (mmio[REG_ICR_LOW / 4] & ICR_BUSY)
        cpu_relax();
    mmio[REG_ICR_HIGH / 4] = 0;
    mmio[REG_ICR_LOW / 4] = low;
    while (mmio[REG_ICR_LOW / 4] & ICR_BUSY)
        cpu_relax();
}

/* Wait (us) microseconds by the TSC. */
static void udelay(uint64_t us)
{
    uint64_t start = rdtsc(), n = tsc_hz() / 1000000 * us;

    while (rdtsc() - start < n)
        cpu_relax();
}

void apic_start_others(uint8_t vector)
{
    /* The MP start-up sequence: INIT, 10 ms, STARTUP, 200 us, STARTUP
     * (a CPU already started ignores the second). */
    send_ipi(ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_INIT);
    udelay(10000);
    for (int i = 0; i < 2; i++) {
        send_ipi(ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_STARTUP | vector);
        udelay(200);
    }
}

void apic_ipi_others(uint8_t vector)
{
    send_ipi(ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_FIXED | vector);
}
