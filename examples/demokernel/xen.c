/* Running as a Xen PVH domU: detection, hypercalls, console, shutdown. */
#include "xen.h"
#include "cpu.h"
#include "kernel.h"

#define PAGE_SIZE 4096u
/* How long a write waits for the console daemon to make room, and how
 * long an orderly exit waits for it to read everything. */
#define ROOM_WAIT_MS 200u
#define FLUSH_WAIT_MS 1000u
#define YIELDS_WITHOUT_TSC 10000u /* the bound when no TSC rate is known */

static uint32_t cpuid_base; /* Xen's first CPUID leaf; 0: not under Xen */
static int hypercalls_ok;
/* Xen fills this with one 32-byte stub per hypercall; never NX-mapped. */
static uint8_t hypercall_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

static long hv_console = -XEN_EPERM; /* CONSOLEIO_write's answer to a probe */
static volatile struct xencons_interface *ring; /* NULL: no PV console */
static uint64_t ring_pfn;
static uint32_t ring_port;
static int ring_stalled; /* the daemon did not make room in time */

/* The guest-physical address of (p), which lies in the image. */
static uint64_t image_phys(const void *p)
{
    return (uint64_t)(uintptr_t)p - KERNEL_VMA;
}

/*
 * Hypercall (nr) with up to three arguments, through the hypercall page.
 * Xen may clobber the argument registers (debug builds poison the unused
 * ones), so all five are outputs or clobbers. Returns Xen's rax: >= 0, or
 * a negative errno.
 */
static long hypercall(unsigned nr, uint64_t a1, uint64_t a2, uint64_t a3)
{
    register uint64_t rdi __asm__("rdi") = a1;
    register uint64_t rsi __asm__("rsi") = a2;
    register uint64_t rdx __asm__("rdx") = a3;
    const uint8_t *entry = hypercall_page + XEN_HYPERCALL_STRIDE * nr;
    long ret;

    __asm__ volatile("call *%[entry]"
                     : "=a"(ret), "+r"(rdi), "+r"(rsi), "+r"(rdx)
                     : [entry] "r"(entry)
                     : "memory", "cc", "rcx", "r8", "r10", "r11");
    return ret;
}

int xen_init(void)
{
    uint32_t r[4];

    for (uint32_t leaf = XEN_CPUID_FIRST; leaf <= XEN_CPUID_LAST;
         leaf += XEN_CPUID_STEP) {
        cpuid(leaf, 0, r);
        if (r[1] == XEN_CPUID_SIGNATURE_EBX &&
            r[2] == XEN_CPUID_SIGNATURE_ECX &&
            r[3] == XEN_CPUID_SIGNATURE_EDX &&
            r[0] >= leaf + XEN_CPUID_LEAF_HYPERCALL) {
            cpuid_base = leaf;
            break;
        }
    }
    if (!cpuid_base)
        return 0;
    cpuid(cpuid_base + XEN_CPUID_LEAF_HYPERCALL, 0, r);
    wrmsr(r[1], image_phys(hypercall_page));
    /* Every stub begins with an instruction: a zero page means Xen did
     * not take the MSR write. */
    hypercalls_ok = hypercall_page[0] != 0;
    return hypercalls_ok;
}

int xen_present(void)
{
    return hypercalls_ok;
}

uint64_t xen_tsc_hz(void)
{
    uint32_t r[4];

    if (!cpuid_base)
        return 0;
    cpuid(cpuid_base, 0, r);
    if (r[0] < cpuid_base + XEN_CPUID_LEAF_TIME)
        return 0;
    cpuid(cpuid_base + XEN_CPUID_LEAF_TIME, 0, r);
    return (uint64_t)r[2] * 1000;
}

/* The HVM parameter (index) of this domain into (value); 0, or -errno. */
static long get_param(uint32_t index, uint64_t *value)
{
    struct xen_hvm_param p = {.domid = DOMID_SELF, .index = index};
    long rc = hypercall(HYPERVISOR_hvm_op, HVMOP_get_param,
                        (uint64_t)(uintptr_t)&p, 0);

    *value = rc == 0 ? p.value : 0;
    return rc;
}

void xen_console_init(void)
{
    static const char probe[1];
    uint64_t pfn, port;

    /* A zero-length write: XSM's answer, without any output. */
    hv_console = hypercall(HYPERVISOR_console_io, CONSOLEIO_write, 0,
                           (uint64_t)(uintptr_t)probe);
    if (get_param(HVM_PARAM_CONSOLE_PFN, &pfn) != 0 || pfn == 0 ||
        get_param(HVM_PARAM_CONSOLE_EVTCHN, &port) != 0)
        return;
    /* The toolstack puts the ring just below 4 GiB: outside the identity
     * map. */
    ring = window_map(pfn, WINDOW_SLOT_CONSOLE, 0);
    ring_pfn = pfn;
    ring_port = (uint32_t)port;
}

/* Tell the console daemon there is output. */
static void ring_notify(void)
{
    struct evtchn_send send = {.port = ring_port};

    hypercall(HYPERVISOR_event_channel_op, EVTCHNOP_send,
              (uint64_t)(uintptr_t)&send, 0);
}

/* Bytes in the ring the daemon has not read. */
static uint32_t ring_used(void)
{
    uint32_t cons = ring->out_cons;

    barrier();
    return ring->out_prod - cons;
}

/*
 * Yield to dom0 until done() holds or (ms) milliseconds have passed
 * (by the TSC; a fixed number of yields when its rate is unknown).
 * Returns 1 if it came to hold.
 */
static int wait_until(int (*done)(void), unsigned ms)
{
    uint64_t hz = xen_tsc_hz();
    uint64_t start = rdtsc(), limit = hz / 1000 * ms;

    for (uint32_t n = 0; !done(); n++) {
        if (hz ? rdtsc() - start > limit : n > YIELDS_WITHOUT_TSC)
            return 0;
        ring_notify();
        hypercall(HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0);
    }
    return 1;
}

static int ring_has_room(void)
{
    return ring_used() < XENCONS_OUT_SIZE;
}

static int ring_is_empty(void)
{
    return ring_used() == 0;
}

/*
 * Copy (len) bytes into the ring's out half and notify. When the ring is
 * full, wait for the daemon a while; if it does not come, drop output
 * (without waiting again) until it has made room.
 */
static void ring_write(const char *buf, size_t len)
{
    volatile struct xencons_interface *r = ring;
    size_t done = 0;

    while (done < len) {
        uint32_t prod = r->out_prod;
        uint32_t used = ring_used();
        if (used > XENCONS_OUT_SIZE)
            break; /* indices a daemon corrupted: write nothing */
        if (used == XENCONS_OUT_SIZE) {
            if (ring_stalled || !wait_until(ring_has_room, ROOM_WAIT_MS)) {
                ring_stalled = 1;
                break;
            }
            continue;
        }
        ring_stalled = 0;
        for (; used < XENCONS_OUT_SIZE && done < len; used++, prod++)
            r->out[prod % XENCONS_OUT_SIZE] = buf[done++];
        /* x86 keeps stores in order: the bytes land before the index */
        barrier();
        r->out_prod = prod;
    }
    ring_notify();
}

void xen_console_write(const char *buf, size_t len)
{
    unsigned long flags = save_flags_cli();

    if (hv_console >= 0)
        hypercall(HYPERVISOR_console_io, CONSOLEIO_write, len,
                  (uint64_t)(uintptr_t)buf);
    if (ring)
        ring_write(buf, len);
    restore_flags(flags);
}

void xen_console_flush(void)
{
    if (ring && !ring_stalled)
        wait_until(ring_is_empty, FLUSH_WAIT_MS);
}

void xen_report(void)
{
    long v = hypercall(HYPERVISOR_xen_version, XENVER_version, 0, 0);

    kprintf("xen: Xen %ld.%ld PVH guest, CPUID base 0x%x, hypercall page at "
            "phys 0x%lx, TSC %lu kHz\n",
            v >> 16, v & 0xffff, cpuid_base,
            (unsigned long)image_phys(hypercall_page),
            (unsigned long)(xen_tsc_hz() / 1000));
    if (ring)
        kprintf("xen: console ring at pfn 0x%lx, event channel %u\n",
                (unsigned long)ring_pfn, ring_port);
    else
        kprintf("xen: no PV console ring\n");
    if (hv_console >= 0)
        kprintf("xen: CONSOLEIO_write allowed: output goes to Xen's console "
                "too\n");
    else
        kprintf("xen: CONSOLEIO_write refused (%ld)\n", hv_console);
}

long xen_poweroff(void)
{
    struct sched_shutdown s = {.reason = SHUTDOWN_poweroff};

    return hypercall(HYPERVISOR_sched_op, SCHEDOP_shutdown,
                     (uint64_t)(uintptr_t)&s, 0);
}

uint32_t xen_vcpu_count(uint32_t max)
{
    uint32_t n = 0;

    /* vCPU ids are dense from 0: the first that does not exist ends them */
    while (n < max &&
           hypercall(HYPERVISOR_vcpu_op, VCPUOP_is_up, n, 0) != -XEN_ENOENT)
        n++;
    return n ? n : 1;
}

long xen_vcpu_start(uint32_t index, uint64_t rip, uint64_t rsp)
{
    static struct vcpu_hvm_context ctx; /* one start at a time */
    uint64_t cr0, cr3, cr4;

    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    ctx = (struct vcpu_hvm_context){.mode = VCPU_HVM_MODE_64B};
    ctx.cpu_regs.x86_64 = (struct vcpu_hvm_x86_64){
        .rip = rip,
        .rsp = rsp,
        .rdi = index,
        .rflags = 0x2, /* interrupts off */
        /* the boot vCPU's own paging and modes: the same page tables */
        .cr0 = cr0,
        .cr3 = cr3,
        .cr4 = cr4,
        .efer = rdmsr(MSR_EFER),
    };
    long rc = hypercall(HYPERVISOR_vcpu_op, VCPUOP_initialise, index,
                        (uint64_t)(uintptr_t)&ctx);
    if (rc == 0)
        rc = hypercall(HYPERVISOR_vcpu_op, VCPUOP_up, index, 0);
    return rc;
}
