/* CPU exceptions in a Solo5 guest: the agent's panic record, then Solo5's. */
#include "port.h"

#define VECTORS 32
#define VECTOR_PAGE_FAULT 14

#define MSR_EFER 0xc0000080u
#define MSR_FS_BASE 0xc0000100u
#define MSR_GS_BASE 0xc0000101u
#define MSR_KERNEL_GS_BASE 0xc0000102u

/* The offsets usca_solo5_capture (traps.S) stores at. */
_Static_assert(offsetof(struct usc_regs, rbx) == 8 &&
                   offsetof(struct usc_regs, rbp) == 48 &&
                   offsetof(struct usc_regs, rsp) == 56 &&
                   offsetof(struct usc_regs, r12) == 96 &&
                   offsetof(struct usc_regs, r15) == 120 &&
                   offsetof(struct usc_regs, rip) == 128 &&
                   offsetof(struct usc_regs, rflags) == 136,
               "struct usc_regs as traps.S stores it");

/* An x86-64 interrupt gate (16 bytes). */
struct gate {
    uint16_t offset_lo, selector;
    uint8_t ist, attr;
    uint16_t offset_mid;
    uint32_t offset_hi, reserved;
};

struct __attribute__((packed)) idtr {
    uint16_t limit;
    uint64_t base;
};

/* Solo5's handler for each vector the port stands in front of. */
uint64_t usca_solo5_chain[VECTORS];
/* The port's stub for each vector (traps.S). */
extern const uint64_t usca_solo5_stubs[VECTORS];

static const char *const names[VECTORS] = {
    "#DE divide error",
    "#DB debug exception",
    "#NMI non-maskable interrupt",
    "#BP breakpoint",
    "#OF overflow",
    "#BR bound range exceeded",
    "#UD invalid opcode",
    "#NM device not available",
    "#DF double fault",
    "#9 coprocessor segment overrun",
    "#TS invalid TSS",
    "#NP segment not present",
    "#SS stack-segment fault",
    "#GP general protection fault",
    "#PF page fault",
    "#15 reserved exception",
    "#MF x87 floating-point error",
    "#AC alignment check",
    "#MC machine check",
    "#XM SIMD floating-point error",
    "#VE virtualization exception",
    "#CP control protection exception",
    "#22 reserved exception",
    "#23 reserved exception",
    "#24 reserved exception",
    "#25 reserved exception",
    "#26 reserved exception",
    "#27 reserved exception",
    "#HV hypervisor injection exception",
    "#VC VMM communication exception",
    "#SX security exception",
    "#31 reserved exception",
};

/* Vectors for which the CPU pushes an error code. */
static int has_error_code(uint64_t v)
{
    return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 ||
           v == 30;
}

static uint64_t gate_offset(const volatile struct gate *g)
{
    return (uint64_t)g->offset_lo | (uint64_t)g->offset_mid << 16 |
           (uint64_t)g->offset_hi << 32;
}

unsigned usca_solo5_traps_install(void)
{
    struct idtr idtr;
    unsigned n = 0;

    __asm__ volatile("sidt %0" : "=m"(idtr));
    volatile struct gate *idt = (volatile struct gate *)(uintptr_t)idtr.base;
    unsigned gates = ((unsigned)idtr.limit + 1) / sizeof(struct gate);
    unsigned long flags = usca_port_irq_save();
    for (unsigned v = 0; v < VECTORS && v < gates; v++) {
        if (!(idt[v].attr & 0x80) || !gate_offset(&idt[v]))
            continue; /* not present: Solo5 takes no such exception */
        usca_solo5_chain[v] = gate_offset(&idt[v]);
        uint64_t stub = usca_solo5_stubs[v];
        idt[v].offset_lo = (uint16_t)stub;
        idt[v].offset_mid = (uint16_t)(stub >> 16);
        idt[v].offset_hi = (uint32_t)(stub >> 32);
        n++;
    }
    usca_port_irq_restore(flags);
    return n;
}

static uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t)hi << 32 | lo;
}

#define READ(insn)                                                             \
    ({                                                                         \
        uint64_t v_;                                                           \
        __asm__ volatile(insn : "=r"(v_));                                     \
        v_;                                                                    \
    })

void usca_solo5_system_regs(struct usc_regs *r)
{
    uint16_t cs, ss, ds, es, fs, gs;

    __asm__ volatile("mov %%cs, %0; mov %%ss, %1; mov %%ds, %2; mov %%es, %3;"
                     "mov %%fs, %4; mov %%gs, %5"
                     : "=r"(cs), "=r"(ss), "=r"(ds), "=r"(es), "=r"(fs),
                       "=r"(gs));
    if (!r->cs)
        r->cs = cs;
    if (!r->ss)
        r->ss = ss;
    r->ds = ds;
    r->es = es;
    r->fs = fs;
    r->gs = gs;
    r->fs_base = rdmsr(MSR_FS_BASE);
    r->gs_base = rdmsr(MSR_GS_BASE);
    r->k_gs_base = rdmsr(MSR_KERNEL_GS_BASE);
    r->cr0 = READ("mov %%cr0, %0");
    r->cr2 = READ("mov %%cr2, %0");
    r->cr3 = READ("mov %%cr3, %0");
    r->cr4 = READ("mov %%cr4, %0");
    r->cr8 = READ("mov %%cr8, %0");
    r->efer = rdmsr(MSR_EFER);
}

void usca_solo5_trap(uint64_t vector, const struct usca_solo5_gprs *g)
{
    /* A fault while recording a fault goes straight on to Solo5. */
    static volatile int busy;
    if (busy || vector >= VECTORS)
        return;
    busy = 1;

    const uint64_t *hw = (const uint64_t *)(g + 1);
    uint64_t error = 0;
    if (has_error_code(vector))
        error = *hw++;
    struct usc_regs r = {
        .rax = g->rax,
        .rbx = g->rbx,
        .rcx = g->rcx,
        .rdx = g->rdx,
        .rsi = g->rsi,
        .rdi = g->rdi,
        .rbp = g->rbp,
        .rsp = hw[3],
        .r8 = g->r8,
        .r9 = g->r9,
        .r10 = g->r10,
        .r11 = g->r11,
        .r12 = g->r12,
        .r13 = g->r13,
        .r14 = g->r14,
        .r15 = g->r15,
        .rip = hw[0],
        .cs = hw[1],
        .rflags = hw[2],
        .ss = hw[4],
    };
    usca_solo5_system_regs(&r);

    char reason[USC_REASON_MAX];
    struct usca_solo5_text t = {reason, sizeof(reason), 0};
    usca_solo5_puts(&t, names[vector]);
    usca_solo5_puts(&t, " (vector ");
    usca_solo5_putdec(&t, vector);
    usca_solo5_puts(&t, ", error ");
    usca_solo5_puthex(&t, error);
    usca_solo5_puts(&t, ") at rip ");
    usca_solo5_puthex(&t, r.rip);
    if (vector == VECTOR_PAGE_FAULT) {
        usca_solo5_puts(&t, ", cr2 ");
        usca_solo5_puthex(&t, r.cr2);
    }
    struct usca_fault fault = {
        .vector = vector,
        .error_code = error,
        .cr2 = r.cr2,
        .regs = &r,
    };
    usca_panic_record(reason, &fault);
}
