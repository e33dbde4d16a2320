/* uniscope's port for Solo5 (virtio, hvt; x86-64): the agent's hooks, its
 * init before solo5_app_main, and the console, yield, exit and abort. */
#include "port.h"

/*
 * The image's GNU build-id. Solo5's linker scripts discard .note.gnu.*, and
 * with it ld's --build-id, so the port carries the note itself: in a
 * section that Solo5's scripts put in the not_openbsd PT_NOTE segment,
 * after Solo5's own note there (tenders read no note but the first of a
 * segment). usc-solo5-buildid fills its 20 bytes after linking with a
 * SHA-1 of the image, as ld would; all zeros means it was never filled.
 */
struct build_id_note {
    uint32_t namesz, descsz, type;
    char name[4];
    uint8_t desc[20];
};

__attribute__((used, aligned(4), section(".note.solo5.not_openbsd.uniscope")))
const struct build_id_note usca_solo5_build_id = {4, 20, 3, "GNU", {0}};

/*
 * The guest name the agent publishes: an application may define this
 * (const char usca_solo5_name[] = "my-service";), else "solo5".
 */
extern const char usca_solo5_name[] __attribute__((weak));

#define NS_PER_S 1000000000ull

/* ---- the five hooks ---------------------------------------------------- */

/*
 * Solo5's monotonic clock, in nanoseconds: the TSC scaled (virtio), or the
 * tender's clock (hvt); a rdtsc and a multiply. It updates Solo5's clock
 * state, so it is not reentrant: the agent calls it from the application
 * (Solo5 runs no application code in interrupts) and, once, from the
 * fatal-trap path.
 */
uint64_t usca_port_timestamp(void)
{
    return solo5_clock_monotonic();
}

uint32_t usca_port_vcpu(void)
{
    return 0; /* Solo5 runs one vCPU */
}

unsigned long usca_port_irq_save(void)
{
    unsigned long flags;
    __asm__ volatile("pushfq; popq %0; cli" : "=r"(flags)::"memory");
    return flags;
}

void usca_port_irq_restore(unsigned long flags)
{
    __asm__ volatile("pushq %0; popfq" ::"r"(flags) : "memory", "cc");
}

/* Solo5 maps guest memory one to one (virtio's boot page tables, hvt's
 * tender): a virtual address is the physical one. */
uint64_t usca_port_virt_to_phys(const void *vaddr)
{
    return (uint64_t)(uintptr_t)vaddr;
}

/* ---- text without libc ------------------------------------------------- */

static void put(struct usca_solo5_text *t, char c)
{
    if (t->len + 1 < t->cap) {
        t->buf[t->len++] = c;
        t->buf[t->len] = 0;
    }
}

void usca_solo5_puts(struct usca_solo5_text *t, const char *s)
{
    while (*s)
        put(t, *s++);
}

void usca_solo5_puthex(struct usca_solo5_text *t, uint64_t v)
{
    int shift = 60;

    usca_solo5_puts(t, "0x");
    while (shift > 0 && !((v >> shift) & 0xf))
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        put(t, "0123456789abcdef"[(v >> shift) & 0xf]);
}

void usca_solo5_putdec(struct usca_solo5_text *t, uint64_t v)
{
    char digits[20];
    int n = 0;

    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        put(t, digits[--n]);
}

void usca_solo5_console(const char *s, size_t len)
{
    __real_solo5_console_write(s, len);
}

/* ---- init, before the application's first instruction ------------------ */

static struct usc_metric *m_heap, *m_yields, *m_console;

static const struct usca_tp_field yield_begin_fields[] = {USCA_U64("deadline")};
static const struct usca_tp_field yield_end_fields[] = {USCA_U64("ready")};
static struct usca_tracepoint tp_yield_begin =
    USCA_TP("solo5_yield_begin", USC_TP_BEGIN, yield_begin_fields);
static struct usca_tracepoint tp_yield_end =
    USCA_TP_END("solo5_yield_end", tp_yield_begin, yield_end_fields);

/* The build-id's bytes, or NULL when the image was never given one. */
static const void *build_id(void)
{
    const volatile uint8_t *d = usca_solo5_build_id.desc;
    uint8_t any = 0;

    for (size_t i = 0; i < sizeof(usca_solo5_build_id.desc); i++)
        any |= d[i];
    return any ? usca_solo5_build_id.desc : NULL;
}

static void say(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    usca_log_write(s, n);
    usca_solo5_console(s, n);
}

static void port_init(const struct solo5_start_info *si)
{
    char line[160];
    struct usca_solo5_text t = {line, sizeof(line), 0};
    const void *id = build_id();
    struct usca_config cfg = {
        .name = usca_solo5_name ? usca_solo5_name : "solo5",
        .build_id = id,
        .build_id_len = id ? sizeof(usca_solo5_build_id.desc) : 0,
        .max_vcpus = 1,
        .ts_hz = NS_PER_S,
    };
    int err = usca_init(&cfg);

    if (err) {
        /* Every later call into the agent does nothing: say so, once. */
        usca_solo5_puts(&t, "uniscope: agent init failed (");
        usca_solo5_putdec(&t, (uint64_t)-err);
        usca_solo5_puts(&t, "): this guest publishes nothing\n");
        usca_solo5_console(line, t.len);
        return;
    }
    usca_vcpu_online(0);
    m_heap = usca_metric_register("solo5_heap_size", "bytes", USC_METRIC_GAUGE);
    usca_gauge_set(m_heap, (int64_t)si->heap_size);
    m_yields = usca_metric_register("solo5_yields", "", USC_METRIC_COUNTER);
    m_console =
        usca_metric_register("console_bytes", "bytes", USC_METRIC_COUNTER);
    usca_tracepoint_register(&tp_yield_end);
    unsigned gates = usca_solo5_traps_install();

    usca_solo5_puts(&t, "uniscope: agent at ");
    usca_solo5_puthex(&t, usca_port_virt_to_phys(usca_control_block()));
    usca_solo5_puts(&t, ", heap ");
    usca_solo5_putdec(&t, si->heap_size >> 10);
    usca_solo5_puts(&t, " KiB, ");
    usca_solo5_putdec(&t, gates);
    usca_solo5_puts(&t, " exception gates recorded\n");
    say(line);
    if (!id)
        say("uniscope: this image has no build-id (usc-solo5-buildid was "
            "not run on it): give the tools --image\n");
}

/* ---- the wrapped Solo5 calls ------------------------------------------- */

/* Solo5's start code calls solo5_app_main: this runs first. */
int __wrap_solo5_app_main(const struct solo5_start_info *si)
{
    port_init(si);
    int status = __real_solo5_app_main(si);
    const struct usc_control_block *cb = usca_control_block();
    if (cb && cb->state == USC_STATE_RUNNING)
        usca_set_state(USC_STATE_HALTED);
    return status;
}

void __wrap_solo5_exit(int status)
{
    const struct usc_control_block *cb = usca_control_block();
    if (cb && cb->state == USC_STATE_RUNNING)
        usca_set_state(USC_STATE_HALTED);
    __real_solo5_exit(status);
}

void __wrap_solo5_abort(void)
{
    struct usc_regs regs = {0};

    usca_solo5_capture(&regs);
    usca_solo5_system_regs(&regs);
    struct usca_fault fault = {.vector = USC_PANIC_NO_VECTOR, .regs = &regs};
    usca_panic_record("solo5_abort() called", &fault);
    __real_solo5_abort();
}

void __wrap_solo5_console_write(const char *buf, size_t size)
{
    usca_log_write(buf, size);
    usca_counter_add(m_console, size);
    __real_solo5_console_write(buf, size);
}

/* Every wake-up is a heartbeat: a guest that stops yielding goes stale. */
void __wrap_solo5_yield(solo5_time_t deadline, solo5_handle_set_t *ready)
{
    USCA_TRACE1(&tp_yield_begin, deadline);
    __real_solo5_yield(deadline, ready);
    usca_tick();
    usca_counter_add(m_yields, 1);
    USCA_TRACE1(&tp_yield_end, ready ? *ready : 0);
}
