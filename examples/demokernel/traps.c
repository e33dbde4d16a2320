/* Trap dispatch: interrupts to their handlers, exceptions to the panic. */
#include <uniscope/agent.h>

#include "cpu.h"
#include "kernel.h"

#define VECTOR_PAGE_FAULT 14
#define BACKTRACE_MAX 16

/* Bounds of the loaded image (linker.ld), which holds every stack. */
extern const char __kernel_start[], __kernel_end[];

static const char *const exception_names[32] = {
    "divide error",
    "debug exception",
    "non-maskable interrupt",
    "breakpoint",
    "overflow",
    "bound range exceeded",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor segment overrun",
    "invalid TSS",
    "segment not present",
    "stack-segment fault",
    "general protection fault",
    "page fault",
    "reserved exception 15",
    "x87 floating-point error",
    "alignment check",
    "machine check",
    "SIMD floating-point error",
    "virtualization exception",
    "control protection exception",
    "reserved exception 22",
    "reserved exception 23",
    "reserved exception 24",
    "reserved exception 25",
    "reserved exception 26",
    "reserved exception 27",
    "hypervisor injection exception",
    "VMM communication exception",
    "security exception",
    "reserved exception 31",
};

#define READ_CR(n)                                                             \
    ({                                                                         \
        uint64_t v_;                                                           \
        __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v_));                     \
        v_;                                                                    \
    })
#define READ_SEG(s)                                                            \
    ({                                                                         \
        uint64_t v_;                                                           \
        __asm__ volatile("mov %%" #s ", %0" : "=r"(v_));                       \
        v_;                                                                    \
    })

static void fill_regs(const struct trap_frame *f, struct usc_regs *r)
{
    *r = (struct usc_regs){
        .rax = f->rax,
        .rbx = f->rbx,
        .rcx = f->rcx,
        .rdx = f->rdx,
        .rsi = f->rsi,
        .rdi = f->rdi,
        .rbp = f->rbp,
        .rsp = f->rsp,
        .r8 = f->r8,
        .r9 = f->r9,
        .r10 = f->r10,
        .r11 = f->r11,
        .r12 = f->r12,
        .r13 = f->r13,
        .r14 = f->r14,
        .r15 = f->r15,
        .rip = f->rip,
        .rflags = f->rflags,
        .cs = f->cs,
        .ss = f->ss,
    };
    r->ds = READ_SEG(ds);
    r->es = READ_SEG(es);
    r->fs = READ_SEG(fs);
    r->gs = READ_SEG(gs);
    r->fs_base = rdmsr(MSR_FS_BASE);
    r->gs_base = rdmsr(MSR_GS_BASE);
    r->k_gs_base = rdmsr(MSR_KERNEL_GS_BASE);
    r->cr0 = READ_CR(0);
    r->cr2 = READ_CR(2);
    r->cr3 = READ_CR(3);
    r->cr4 = READ_CR(4);
    r->cr8 = READ_CR(8);
    r->efer = rdmsr(MSR_EFER);
}

static void serial_printf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* The panic report goes to the serial port only: the agent puts its own
 * "PANIC: reason" line in the log ring and keeps the registers. */
static void serial_printf(const char *fmt, ...)
{
    char line[256];
    va_list ap;

    va_start(ap, fmt);
    int n = kvsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    console_write_serial(line, (size_t)n);
}

static void dump_regs(const struct usc_regs *r)
{
    serial_printf("  rax %016lx rbx %016lx rcx %016lx rdx %016lx\n", r->rax,
                  r->rbx, r->rcx, r->rdx);
    serial_printf("  rsi %016lx rdi %016lx rbp %016lx rsp %016lx\n", r->rsi,
                  r->rdi, r->rbp, r->rsp);
    serial_printf("  r8  %016lx r9  %016lx r10 %016lx r11 %016lx\n", r->r8,
                  r->r9, r->r10, r->r11);
    serial_printf("  r12 %016lx r13 %016lx r14 %016lx r15 %016lx\n", r->r12,
                  r->r13, r->r14, r->r15);
    serial_printf("  rip %016lx rflags %08lx cs %lx ss %lx cr2 %lx cr3 %lx\n",
                  r->rip, r->rflags, r->cs, r->ss, r->cr2, r->cr3);
}

/* Follow the frame-pointer chain, trusting only frames inside the image. */
static void dump_backtrace(const struct usc_regs *r)
{
    uint64_t lo = (uint64_t)(uintptr_t)__kernel_start;
    uint64_t hi = (uint64_t)(uintptr_t)__kernel_end;
    uint64_t fp = r->rbp;

    serial_printf("  backtrace: %lx", r->rip);
    for (int i = 0; i < BACKTRACE_MAX; i++) {
        if (fp < lo || fp > hi - 16 || (fp & 7))
            break;
        const uint64_t *frame = (const uint64_t *)(uintptr_t)fp;
        if (frame[1] == 0)
            break;
        serial_printf(" %lx", frame[1]);
        if (frame[0] <= fp)
            break; /* callers' frames lie above: anything else is garbage */
        fp = frame[0];
    }
    serial_printf("\n");
}

static _Noreturn void exception(const struct trap_frame *f)
{
    struct cpu *c = this_cpu();
    struct usc_regs regs;
    char reason[USC_REASON_MAX];
    char cr2_text[32] = "";

    /* A fault while reporting a fault: stop before it recurses. Another
     * vCPU's fault is its own: the agent records the first, counts the
     * rest. */
    if (c->panicking)
        halt_forever();
    c->panicking = 1;

    fill_regs(f, &regs);
    if (f->vector == VECTOR_PAGE_FAULT)
        ksnprintf(cr2_text, sizeof(cr2_text), " cr2 0x%lx", regs.cr2);
    if (smp_ncpus() > 1)
        ksnprintf(reason, sizeof(reason),
                  "%s (vector %lu, error 0x%lx) at rip 0x%lx%s in thread %s "
                  "on vCPU %u",
                  exception_names[f->vector], f->vector, f->error, f->rip,
                  cr2_text, thread_current_name(), c->index);
    else
        ksnprintf(reason, sizeof(reason),
                  "%s (vector %lu, error 0x%lx) at rip 0x%lx%s in thread %s",
                  exception_names[f->vector], f->vector, f->error, f->rip,
                  cr2_text, thread_current_name());
    serial_printf("PANIC: %s\n", reason);
    dump_regs(&regs);
    dump_backtrace(&regs);

    struct usca_fault fault = {
        .vector = f->vector,
        .error_code = f->error,
        .cr2 = regs.cr2,
        .regs = &regs,
    };
    if (!usca_control_block())
        halt_forever(); /* too early for the agent, which would return */
    demo_panic(reason, &fault);
}

int irq_eoi(unsigned irq)
{
    if (IRQ_BASE + irq == APIC_SPURIOUS_VECTOR)
        return 0;
    if (!this_cpu()->lapic_tick && irq < 16)
        return pic_eoi(irq);
    apic_eoi();
    return 1;
}

void trap_dispatch(struct trap_frame *f)
{
    if (f->vector < IRQ_BASE)
        exception(f);
    if (f->vector == IPI_STOP_VECTOR)
        smp_stop_irq();
    unsigned irq = (unsigned)(f->vector - IRQ_BASE);
    if (irq == 0)
        timer_irq();
    else
        irq_eoi(irq); /* masked lines, or spurious: nothing to do */
}
