/* The panic record: the first panic's reason, fault and full register frame. */
#include "internal.h"

/*
 * A later panicker waits this long for the first one's record (and for
 * the other vCPUs to stop) before it gives up: the first may itself have
 * died half-way. Spins count as well, for a clock that stands still.
 */
#define WAIT_SPINS_MIN 1000u
#define WAIT_SPINS_MAX (1u << 28)

static void (*stop_others)(void);
static int recorded;            /* the first panic is completely published */
static uint32_t recorder = ~0u; /* the vCPU writing the first panic */

static size_t length_of(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n])
        n++;
    return n;
}

static void record(struct usc_panic *p, uint32_t vcpu, const char *reason,
                   const struct usca_fault *fault)
{
    struct usc_thread *cur = usca_current[vcpu];

    unsigned long f = usca_seq_begin(&p->seq);
    p->vcpu = vcpu;
    p->timestamp = usca_port_timestamp();
    p->vector = fault ? fault->vector : USC_PANIC_NO_VECTOR;
    p->error_code = fault ? fault->error_code : 0;
    p->cr2 = fault ? fault->cr2 : 0;
    p->thread_id = cur ? cur->id : 0;
    usca_copy_name(p->reason, reason ? reason : "panic", USC_REASON_MAX);
    /* volatile: a plain loop or struct copy may become a memcpy call */
    volatile uint64_t *dst = (volatile uint64_t *)&p->regs;
    const uint64_t *src =
        fault && fault->regs ? (const uint64_t *)fault->regs : 0;
    for (size_t i = 0; i < sizeof(p->regs) / 8; i++)
        dst[i] = src ? src[i] : 0;
    __atomic_store_n(&p->valid, 1, __ATOMIC_RELAXED);
    usca_seq_end(&p->seq, f);
}

/* Has the wait that began at (start), (spins) turns ago, lasted enough? */
static int waited_enough(uint64_t start, uint32_t spins)
{
    uint64_t hz = usca_area.cb.ts_hz;

    if (spins >= WAIT_SPINS_MAX)
        return 1;
    return spins >= WAIT_SPINS_MIN && hz && usca_port_timestamp() - start >= hz;
}

/* Is every other online vCPU stopped (or panicked itself)? */
static int others_stopped(uint32_t self)
{
    for (uint32_t v = 0; v < usca_area.cb.max_vcpus; v++) {
        uint32_t st =
            __atomic_load_n(&usca_area.vcpus[v].state, __ATOMIC_ACQUIRE);
        if (v != self && st == USC_VCPU_ONLINE)
            return 0;
    }
    return 1;
}

static void wait_others_stopped(uint32_t self)
{
    uint64_t start = usca_port_timestamp();

    for (uint32_t spins = 0; !others_stopped(self); spins++) {
        if (waited_enough(start, spins))
            return;
        __builtin_ia32_pause();
    }
}

static void wait_recorded(void)
{
    uint64_t start = usca_port_timestamp();

    for (uint32_t spins = 0; !__atomic_load_n(&recorded, __ATOMIC_ACQUIRE);
         spins++) {
        if (waited_enough(start, spins))
            return;
        __builtin_ia32_pause();
    }
}

void usca_panic_set_stop(void (*stop)(void))
{
    __atomic_store_n(&stop_others, stop, __ATOMIC_RELEASE);
}

void usca_panic_record(const char *reason, const struct usca_fault *fault)
{
    struct usc_panic *p = &usca_area.panic;
    struct usc_control_block *cb = &usca_area.cb;

    if (!usca_ready)
        return;
    uint32_t vcpu = usca_vcpu();
    usca_vcpu_set_state(vcpu, USC_VCPU_PANICKED);
    /*
     * The first panic is the one that explains the crash: keep it. A later
     * one on another vCPU returns only once the first is complete, so
     * that whatever it does next (halt, reset) leaves the host a whole
     * record; one on the recording vCPU (a fault in this very path) must
     * not wait for itself.
     */
    if (__atomic_fetch_add(&p->count, 1, __ATOMIC_ACQ_REL) != 0) {
        if (__atomic_load_n(&recorder, __ATOMIC_ACQUIRE) != vcpu)
            wait_recorded();
        return;
    }
    __atomic_store_n(&recorder, vcpu, __ATOMIC_RELEASE);
    void (*stop)(void) = __atomic_load_n(&stop_others, __ATOMIC_ACQUIRE);
    __atomic_store_n(&cb->panic_others,
                     stop ? USC_PANIC_OTHERS_STOPPED : USC_PANIC_OTHERS_RUNNING,
                     __ATOMIC_RELEASE);
    record(p, vcpu, reason, fault);
    usca_trace_panic(fault);
    if (stop) {
        stop();
        wait_others_stopped(vcpu);
    }
    usca_set_state(USC_STATE_PANICKED);
    const char *r = reason ? reason : "panic";
    usca_log_append("PANIC: ", 7, 1);
    usca_log_append(r, length_of(r, USC_REASON_MAX - 1), 1);
    usca_log_append("\n", 1, 1);
    __atomic_store_n(&recorded, 1, __ATOMIC_RELEASE);
}

_Noreturn void usca_panic(const char *reason, const struct usca_fault *fault)
{
    usca_panic_record(reason, fault);
    for (;;)
        __asm__ volatile("cli; hlt" ::: "memory");
}
