/* The panic record: the first panic's reason, fault and full register frame. */
#include "internal.h"

static size_t length_of(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n])
        n++;
    return n;
}

static void record(struct usc_panic *p, const char *reason,
                   const struct usca_fault *fault)
{
    uint32_t vcpu = usca_vcpu();
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
    p->valid = 1;
    usca_seq_end(&p->seq, f);
}

void usca_panic_record(const char *reason, const struct usca_fault *fault)
{
    struct usc_panic *p = &usca_area.panic;

    if (!usca_ready)
        return;
    /* The first panic is the one that explains the crash: keep it. */
    if (__atomic_fetch_add(&p->count, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    record(p, reason, fault);
    usca_trace_panic(fault);
    usca_set_state(USC_STATE_PANICKED);
    const char *r = reason ? reason : "panic";
    usca_log_append("PANIC: ", 7, 1);
    usca_log_append(r, length_of(r, USC_REASON_MAX - 1), 1);
    usca_log_append("\n", 1, 1);
}

_Noreturn void usca_panic(const char *reason, const struct usca_fault *fault)
{
    usca_panic_record(reason, fault);
    for (;;)
        __asm__ volatile("cli; hlt" ::: "memory");
}
