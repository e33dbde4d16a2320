/* The vCPUs: how many, starting the others (QEMU: INIT/SIPI to a real-mode
 * trampoline; Xen: VCPUOP_initialise), stopping them for a panic. */
#include <uniscope/agent.h>

#include "cpu.h"
#include "kernel.h"

#define FW_CFG_SELECTOR 0x510
#define FW_CFG_DATA 0x511
#define FW_CFG_SIGNATURE 0x0000u
#define FW_CFG_NB_CPUS 0x0005u
#define TRAMPOLINE_PHYS 0x8000ull /* trampoline.S: where its copy runs */
#define AP_STACK_SIZE 16384       /* trampoline.S: AP_STACK_SHIFT */
#define AP_WAIT_MS 10000 /* for all of them to come up; TCG may be slow */
#define EFER_LME (1ull << 8)
#define EFER_NXE (1ull << 11)

struct cpu cpus[MAX_CPUS];
/* trampoline.S: an AP whose APIC id is ap_limit or more parks. */
uint32_t ap_limit;
/* Each AP's boot stack, its idle loop's (index 0, the boot vCPU's, is
 * boot.S's). */
uint8_t ap_stacks[MAX_CPUS][AP_STACK_SIZE] __attribute__((aligned(16)));

extern const char ap_trampoline[], ap_trampoline_end[];
extern uint64_t ap_tramp_cr3, ap_tramp_efer, ap_tramp_entry;
void ap_entry64(void);
void ap_entry_xen(void);

static uint32_t ncpus = 1; /* to run */
static volatile uint32_t online = 1;

static void set_gs(struct cpu *c, uint32_t index)
{
    c->self = c;
    c->index = index;
    wrmsr(MSR_GS_BASE, (uint64_t)(uintptr_t)c);
}

void smp_early(void)
{
    set_gs(&cpus[0], 0);
}

/* QEMU's vCPU count (fw_cfg, FW_CFG_NB_CPUS), or 1 without fw_cfg. */
static uint32_t fw_cfg_cpus(void)
{
    static const char want[4] = "QEMU";
    char sig[4];

    outw(FW_CFG_SELECTOR, FW_CFG_SIGNATURE);
    for (int i = 0; i < 4; i++)
        sig[i] = (char)inb(FW_CFG_DATA);
    if (memcmp(sig, want, sizeof(want)) != 0)
        return 1;
    outw(FW_CFG_SELECTOR, FW_CFG_NB_CPUS);
    uint32_t lo = inb(FW_CFG_DATA);
    return lo | (uint32_t)inb(FW_CFG_DATA) << 8;
}

uint32_t smp_count(uint32_t limit)
{
    uint32_t n = xen_present() ? xen_vcpu_count(MAX_CPUS) : fw_cfg_cpus();

    if (n > MAX_CPUS)
        n = MAX_CPUS;
    if (limit && n > limit)
        n = limit;
    ncpus = n ? n : 1;
    return ncpus;
}

uint32_t smp_ncpus(void)
{
    return ncpus;
}

/* The panic's stop hook: every other vCPU takes IPI_STOP_VECTOR. */
static void stop_others(void)
{
    apic_ipi_others(IPI_STOP_VECTOR);
}

_Noreturn void smp_stop_irq(void)
{
    usca_vcpu_stopped();
    halt_forever();
}

_Noreturn void ap_main(uint32_t index)
{
    struct cpu *c = &cpus[index];

    set_gs(c, index);
    desc_init_cpu(index);
    timer_start_ap();
    usca_vcpu_online(index);
    c->online = 1;
    __atomic_add_fetch(&online, 1, __ATOMIC_RELEASE);
    sched_run();
}

/* QEMU (or KVM): copy the trampoline below 1 MiB, STARTUP everyone. */
static int start_by_sipi(void)
{
    uint64_t cr3;
    size_t len = (size_t)(ap_trampoline_end - ap_trampoline);
    unsigned char *copy = (unsigned char *)(uintptr_t)TRAMPOLINE_PHYS;

    /* the boot vCPU sends the IPIs through its own local APIC */
    if (apic_enable() != 0)
        return -1;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    /* physical memory below 1 GiB is identity-mapped, and the loader's
     * data there (start info, command line) has been read already */
    memcpy(copy, ap_trampoline, len);
#define PATCH(sym, v)                                                          \
    (*(uint64_t *)(void *)(copy + ((const char *)&(sym)-ap_trampoline)) = (v))
    PATCH(ap_tramp_cr3, cr3);
    PATCH(ap_tramp_efer, EFER_LME | (rdmsr(MSR_EFER) & EFER_NXE));
    PATCH(ap_tramp_entry, (uint64_t)(uintptr_t)ap_entry64);
#undef PATCH
    ap_limit = ncpus;
    barrier();
    apic_start_others((uint8_t)(TRAMPOLINE_PHYS >> 12));
    return 0;
}

/* Xen: each vCPU started where and how we say, in long mode. */
static int start_by_hypercall(void)
{
    for (uint32_t i = 1; i < ncpus; i++) {
        uint64_t rsp = (uint64_t)(uintptr_t)(ap_stacks[i] + AP_STACK_SIZE);
        long rc = xen_vcpu_start(i, (uint64_t)(uintptr_t)ap_entry_xen, rsp);
        if (rc != 0)
            kprintf("smp: vCPU %u did not start (%ld)\n", i, rc);
    }
    return 0;
}

void smp_start(int panic_stop)
{
    cpus[0].online = 1;
    if (ncpus <= 1)
        return;
    int err = xen_present() ? start_by_hypercall() : start_by_sipi();
    if (err) {
        kprintf("smp: no local APIC to start the other vCPUs with\n");
        ncpus = 1;
        return;
    }
    uint64_t start = rdtsc(), limit = tsc_hz() / 1000 * AP_WAIT_MS;
    while (__atomic_load_n(&online, __ATOMIC_ACQUIRE) < ncpus &&
           rdtsc() - start < limit)
        cpu_relax();
    kprintf("smp: %u of %u vCPUs online; a panic %s\n", online, ncpus,
            panic_stop ? "stops the others" : "leaves the others running");
    if (panic_stop)
        usca_panic_set_stop(stop_others);
}
