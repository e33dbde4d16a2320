/* Descriptor tables: a flat 64-bit GDT, a TSS for the IST stacks, the IDT. */
#include "cpu.h"
#include "kernel.h"

#define SEL_CODE 0x08
#define SEL_DATA 0x10
#define SEL_TSS 0x18
#define IST_STACK_SIZE 16384
#define IST_EXCEPTION 1
#define IST_IRQ 2

struct tss {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
} __attribute__((packed));

struct gate {
    uint16_t offset_lo;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_hi;
    uint32_t reserved;
};

struct table_ptr {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

_Static_assert(sizeof(struct tss) == 104, "tss");
_Static_assert(sizeof(struct gate) == 16, "gate");

/* Stubs in traps.S, one per vector, 16 bytes apart. */
extern const char trap_stubs[];

/* Each vCPU's GDT: these, then its TSS (16 bytes) at 0x18. */
static const uint64_t gdt_template[3] = {
    0, 0x00af9a000000ffffull, /* 0x08: code, 64-bit (L), DPL 0 */
    0x00cf92000000ffffull,    /* 0x10: data, flat */
};
static uint64_t gdt[MAX_CPUS][5];
static struct tss tss[MAX_CPUS];
static struct gate idt[NUM_VECTORS];
/*
 * Exceptions and interrupts run on stacks of their own, one pair per
 * vCPU: a fault on an overflowed thread stack can still report, and an
 * interrupt never writes below a thread's stack pointer.
 */
static uint8_t exception_stack[MAX_CPUS][IST_STACK_SIZE]
    __attribute__((aligned(16)));
static uint8_t irq_stack[MAX_CPUS][IST_STACK_SIZE] __attribute__((aligned(16)));

static void set_tss_descriptor(uint64_t *g, const struct tss *t)
{
    uint64_t base = (uint64_t)(uintptr_t)t;
    uint64_t limit = sizeof(*t) - 1;

    g[3] = (limit & 0xffff) | ((base & 0xffffff) << 16) |
           (0x89ull << 40) | /* present, available 64-bit TSS */
           ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
    g[4] = base >> 32;
}

/* Load (g) and reload the segments from it; %gs is left alone, its base
 * being this vCPU's (smp_early, ap_main). */
static void load_gdt(const uint64_t *g)
{
    struct table_ptr p = {5 * sizeof(*g) - 1, (uint64_t)(uintptr_t)g};

    /* lretq reloads CS, which a plain mov cannot. */
    __asm__ volatile("lgdt %0\n\t"
                     "pushq %1\n\t"
                     "leaq 1f(%%rip), %%rax\n\t"
                     "pushq %%rax\n\t"
                     "lretq\n"
                     "1:\n\t"
                     "movl %2, %%eax\n\t"
                     "movl %%eax, %%ds\n\t"
                     "movl %%eax, %%es\n\t"
                     "movl %%eax, %%ss\n\t"
                     "xorl %%eax, %%eax\n\t"
                     "movl %%eax, %%fs\n\t"
                     :
                     : "m"(p), "i"(SEL_CODE), "i"(SEL_DATA)
                     : "rax", "memory");
    __asm__ volatile("ltr %w0" : : "r"(SEL_TSS));
}

static void set_gate(unsigned vec, unsigned ist)
{
    uint64_t addr = (uint64_t)(uintptr_t)(trap_stubs + 16 * vec);

    idt[vec] = (struct gate){
        .offset_lo = addr & 0xffff,
        .selector = SEL_CODE,
        .ist = (uint8_t)ist,
        .type_attr = 0x8e, /* present, DPL 0, interrupt gate */
        .offset_mid = (addr >> 16) & 0xffff,
        .offset_hi = (uint32_t)(addr >> 32),
    };
}

void desc_init_cpu(uint32_t index)
{
    struct tss *t = &tss[index];
    uint64_t *g = gdt[index];

    t->ist[IST_EXCEPTION - 1] =
        (uint64_t)(uintptr_t)(exception_stack[index] + IST_STACK_SIZE);
    t->ist[IST_IRQ - 1] =
        (uint64_t)(uintptr_t)(irq_stack[index] + IST_STACK_SIZE);
    t->iomap_base = sizeof(*t); /* no I/O bitmap */
    for (int i = 0; i < 3; i++)
        g[i] = gdt_template[i];
    set_tss_descriptor(g, t);
    load_gdt(g);

    struct table_ptr p = {sizeof(idt) - 1, (uint64_t)(uintptr_t)idt};
    __asm__ volatile("lidt %0" : : "m"(p));
}

void desc_init(void)
{
    for (unsigned v = 0; v < NUM_VECTORS; v++)
        set_gate(v, v < IRQ_BASE ? IST_EXCEPTION : IST_IRQ);
    desc_init_cpu(0);
}
