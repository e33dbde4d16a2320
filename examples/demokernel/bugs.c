/* Planted bugs for unicore: assert, stack overflow, deadlock, abort; touch=N.
 */
#include <uniscope/agent.h>

#include "cpu.h"
#include "kernel.h"

#define BUG_DELAY_TICKS 20  /* let the workers run first, as crash does */
#define LOCK_RETRY_TICKS 50 /* a blocked locker looks again this often */
#define LOCK_HOLD_TICKS 5   /* long enough for the other locker to start */
#define PAGE_SIZE 4096ull
#define LARGE_PAGE (2ull << 20)
#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_PS 0x80ull
#define PTE_ADDR 0x000ffffffffff000ull

/* Symbols the unicore tests look up by name: keep them. */
volatile uint64_t demo_recursion_limit = ~0ull; /* never reached */
volatile uint64_t demo_recursion_depth;         /* how deep it got */
volatile uint64_t demo_guard_page;              /* the unmapped page */
volatile uint64_t demo_touched_bytes;           /* touch=N progress */
struct demo_lock demo_lock_a = {.name = "demo_lock_a"};
struct demo_lock demo_lock_b = {.name = "demo_lock_b"};

/* A ring of requests whose indices a bug let run past each other. */
struct demo_ring {
    uint32_t head, tail, capacity;
};
struct demo_ring demo_requests = {.head = 0, .tail = 0, .capacity = 64};

/* ---- the registers of the caller, for a software panic ----------------- */

#define READ_CR(n)                                                             \
    ({                                                                         \
        uint64_t v_;                                                           \
        __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v_));                     \
        v_;                                                                    \
    })

/*
 * The registers at the label inside the asm: rip, rsp and rbp describe
 * this very point of the function the macro is expanded in, so a debugger
 * unwinds from it as from a fault there.
 */
#define CAPTURE_REGS(r)                                                        \
    __asm__ volatile("leaq 1f(%%rip), %%rax\n\t"                               \
                     "movq %%rax, %c[rip](%0)\n\t"                             \
                     "movq %%rsp, %c[rsp](%0)\n\t"                             \
                     "movq %%rbp, %c[rbp](%0)\n\t"                             \
                     "movq %%rbx, %c[rbx](%0)\n\t"                             \
                     "movq %%r12, %c[r12](%0)\n\t"                             \
                     "movq %%r13, %c[r13](%0)\n\t"                             \
                     "movq %%r14, %c[r14](%0)\n\t"                             \
                     "movq %%r15, %c[r15](%0)\n"                               \
                     "1:"                                                      \
                     :                                                         \
                     : "r"(r), [rip] "i"(offsetof(struct usc_regs, rip)),      \
                       [rsp] "i"(offsetof(struct usc_regs, rsp)),              \
                       [rbp] "i"(offsetof(struct usc_regs, rbp)),              \
                       [rbx] "i"(offsetof(struct usc_regs, rbx)),              \
                       [r12] "i"(offsetof(struct usc_regs, r12)),              \
                       [r13] "i"(offsetof(struct usc_regs, r13)),              \
                       [r14] "i"(offsetof(struct usc_regs, r14)),              \
                       [r15] "i"(offsetof(struct usc_regs, r15))               \
                     : "rax", "memory")

static void control_regs(struct usc_regs *r)
{
    uint16_t cs, ss;

    __asm__ volatile("mov %%cs, %0; mov %%ss, %1" : "=r"(cs), "=r"(ss));
    __asm__ volatile("pushfq; popq %0" : "=r"(r->rflags));
    r->cs = cs;
    r->ss = ss;
    r->cr0 = READ_CR(0);
    r->cr2 = READ_CR(2);
    r->cr3 = READ_CR(3);
    r->cr4 = READ_CR(4);
    r->efer = rdmsr(MSR_EFER);
}

/* ---- assert ------------------------------------------------------------ */

_Noreturn __attribute__((noinline)) void
demo_assert_fail(const char *expr, const char *msg, const char *file, int line,
                 const char *func)
{
    struct usc_regs regs = {0};
    char reason[USC_REASON_MAX];

    CAPTURE_REGS(&regs);
    control_regs(&regs);
    cli();
    for (const char *c = file; *c; c++)
        if (*c == '/')
            file = c + 1;
    ksnprintf(reason, sizeof(reason),
              "assertion failed: %s (%s) at %s:%d in %s", expr, msg, file, line,
              func);
    console_write_serial("PANIC: ", 7);
    console_write_serial(reason, strlen(reason));
    console_write_serial("\n", 1);
    struct usca_fault fault = {
        .vector = USC_PANIC_NO_VECTOR,
        .regs = &regs,
    };
    demo_panic(reason, &fault);
}

/* Requests taken off the ring; a bug moved head without a free slot. */
__attribute__((noinline)) void demo_ring_check(const struct demo_ring *r)
{
    DEMO_ASSERT(r->head - r->tail <= r->capacity, "request ring overrun");
}

static void checker(void *arg)
{
    (void)arg;
    sleep_ticks(BUG_DELAY_TICKS);
    demo_requests.tail = 7;
    demo_requests.head = demo_requests.tail + demo_requests.capacity + 3;
    kprintf("checker: checking the request ring\n");
    demo_ring_check(&demo_requests);
    kprintf("checker: request ring ok\n");
}

/* ---- stack overflow ---------------------------------------------------- */

/* The page table (4 KiB pages) that replaces one 2 MiB page of boot.S's. */
static uint64_t split_pt[512] __attribute__((aligned(4096)));

/* Physical memory below 1 GiB is identity-mapped: tables read in place. */
static uint64_t *table_at(uint64_t entry)
{
    return (uint64_t *)(uintptr_t)(entry & PTE_ADDR);
}

/*
 * Unmap the 4 KiB page at (va), splitting the 2 MiB page around it into a
 * page table (boot.S maps everything with 2 MiB pages). boot.S uses one
 * page directory for both the identity and the higher-half views, so the
 * page goes from both. Returns 0, or -1 when va is not mapped as expected.
 */
static int unmap_page(uint64_t va)
{
    uint64_t *pml4 = table_at(READ_CR(3));
    uint64_t *pdpt, *pd, *pde;

    if (!(pml4[(va >> 39) & 511] & PTE_P))
        return -1;
    pdpt = table_at(pml4[(va >> 39) & 511]);
    if (!(pdpt[(va >> 30) & 511] & PTE_P))
        return -1;
    pd = table_at(pdpt[(va >> 30) & 511]);
    pde = &pd[(va >> 21) & 511];
    if (!(*pde & PTE_P))
        return -1;
    if (*pde & PTE_PS) {
        uint64_t base = *pde & PTE_ADDR & ~(LARGE_PAGE - 1);
        for (unsigned i = 0; i < 512; i++)
            split_pt[i] = (base + i * PAGE_SIZE) | PTE_P | PTE_RW;
        *pde = ((uint64_t)(uintptr_t)split_pt - KERNEL_VMA) | PTE_P | PTE_RW;
    }
    table_at(*pde)[(va >> 12) & 511] = 0;
    /* Reloading CR3 drops every translation, the 2 MiB one included. */
    __asm__ volatile("mov %0, %%cr3" : : "r"(READ_CR(3)) : "memory");
    return 0;
}

/* Unbounded recursion: each frame holds a little state, as real code does. */
__attribute__((noinline)) uint64_t demo_recurse(uint64_t depth)
{
    volatile uint64_t frame[12];

    frame[0] = depth;
    demo_recursion_depth = depth;
    if (depth == demo_recursion_limit)
        return depth;
    return demo_recurse(depth + 1) + frame[0];
}

static void recurser(void *arg)
{
    uint64_t sp;

    (void)arg;
    sleep_ticks(BUG_DELAY_TICKS);
    /*
     * Threads start at the top page of their 16 KiB stack, so two pages
     * below is still this thread's own: unmapped, it is the guard that
     * turns the overflow into a fault instead of silent corruption.
     */
    __asm__ volatile("movq %%rsp, %0" : "=r"(sp));
    demo_guard_page = (sp & ~(PAGE_SIZE - 1)) - 2 * PAGE_SIZE;
    if (unmap_page(demo_guard_page) != 0) {
        kprintf("recurser: cannot unmap a guard page\n");
        return;
    }
    kprintf("recurser: guard page at %p, recursing\n", (void *)demo_guard_page);
    demo_work_result = demo_recurse(1);
}

/* ---- deadlock ---------------------------------------------------------- */

/* Lockers holding their first lock (several vCPUs: both, before either
 * takes its second). */
static volatile uint32_t lockers_holding;

/*
 * Take (l) for the running thread. One vCPU: wait blocked (for the agent)
 * while another holds it; the scheduler is cooperative, so test and set
 * is atomic. Several: spin on l->spin, the thread RUNNING and flagged
 * spinning on (l), its vCPU busy.
 */
static void lock_take(struct demo_lock *l)
{
    if (smp_ncpus() > 1) {
        if (!spin_trylock(&l->spin)) {
            usca_thread_set_state(thread_current_agent(), USC_THREAD_RUNNING,
                                  (uint64_t)(uintptr_t)l);
            while (!spin_trylock(&l->spin))
                cpu_relax();
            usca_thread_set_state(thread_current_agent(), USC_THREAD_RUNNING,
                                  0);
        }
        l->owner = thread_current_name();
        return;
    }
    while (l->owner)
        sleep_ticks_on(LOCK_RETRY_TICKS, l);
    l->owner = thread_current_name();
}

static void lock_give(struct demo_lock *l)
{
    l->owner = 0;
    if (smp_ncpus() > 1)
        spin_unlock(&l->spin);
}

__attribute__((noinline)) void demo_transfer(struct demo_lock *first,
                                             struct demo_lock *second)
{
    lock_take(first);
    if (smp_ncpus() > 1) {
        /* both lockers hold theirs before either goes on: a real cycle */
        __atomic_add_fetch(&lockers_holding, 1, __ATOMIC_ACQ_REL);
        while (__atomic_load_n(&lockers_holding, __ATOMIC_ACQUIRE) < 2)
            sleep_ticks(1);
    } else {
        sleep_ticks(LOCK_HOLD_TICKS);
    }
    kprintf("%s: holding %s, taking %s\n", thread_current_name(), first->name,
            second->name);
    lock_take(second); /* the other locker holds it, waiting for ours */
    lock_give(second);
    lock_give(first);
}

static void locker_a(void *arg)
{
    (void)arg;
    sleep_ticks(BUG_DELAY_TICKS);
    demo_transfer(&demo_lock_a, &demo_lock_b);
    kprintf("locker-a: done\n");
}

static void locker_b(void *arg)
{
    (void)arg;
    sleep_ticks(BUG_DELAY_TICKS);
    demo_transfer(&demo_lock_b, &demo_lock_a);
    kprintf("locker-b: done\n");
}

/* ---- abort: a software panic that records no frame ------------------- */

/* Gives up as code does that calls the agent's panic with no registers:
 * the vCPU then halts in usca_panic, called from here. */
__attribute__((noinline)) void demo_give_up(const char *why)
{
    kprintf("aborter: giving up: %s\n", why);
    if (!xen_present())
        usca_panic(why, NULL);
    demo_panic(why, NULL);
}

static void aborter(void *arg)
{
    (void)arg;
    sleep_ticks(BUG_DELAY_TICKS);
    demo_give_up("abort: nothing left to try");
}

/* ---- touch=N ----------------------------------------------------------- */

/* Fill (mib) MiB above the image with non-zero bytes, for dump benchmarks.
 * Only the identity map's first GiB is reachable; memory QEMU does not
 * back ignores the writes. Under Xen every such write would trap to the
 * hypervisor, so the fill stops at the end of RAM (the loader's map). */
static void touch(uint32_t mib)
{
    extern const char __kernel_end[];
    uint64_t start =
        ((uint64_t)(uintptr_t)__kernel_end - KERNEL_VMA + LARGE_PAGE - 1) &
        ~(LARGE_PAGE - 1);
    uint64_t len = (uint64_t)mib << 20;
    struct usc_metric *m =
        usca_metric_register("touched_bytes", "bytes", USC_METRIC_GAUGE);

    if (start >= IDENTITY_MAP_SIZE)
        return;
    if (len > IDENTITY_MAP_SIZE - start)
        len = IDENTITY_MAP_SIZE - start;
    uint64_t ram_end = xen_present() ? boot_ram_end(start) : 0;
    if (ram_end && len > ram_end - start)
        len = ram_end - start;
    volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)start;
    for (uint64_t i = 0; i < len / 8; i++)
        p[i] = (start + i * 8) * 0x9e3779b97f4a7c15ull | 1;
    demo_touched_bytes = len;
    usca_gauge_set(m, (int64_t)len);
    kprintf("touch: %lu MiB at physical %p\n", (unsigned long)(len >> 20),
            (void *)start);
}

void bugs_start(const struct options *opt)
{
    if (opt->touch_mib)
        touch(opt->touch_mib);
    switch (opt->scenario) {
    case SCENARIO_ASSERT:
        thread_create("checker", checker, NULL);
        break;
    case SCENARIO_OVERFLOW:
        thread_create("recurser", recurser, NULL);
        break;
    case SCENARIO_DEADLOCK:
        if (smp_ncpus() > 1) {
            /* a vCPU each, kept there: vCPUs 1 and 2 (0 and 1 of two) */
            int first = smp_ncpus() > 2 ? 1 : 0;
            thread_create_on("locker-a", locker_a, NULL, first);
            thread_create_on("locker-b", locker_b, NULL, first + 1);
            break;
        }
        thread_create("locker-a", locker_a, NULL);
        thread_create("locker-b", locker_b, NULL);
        break;
    case SCENARIO_ABORT:
        thread_create("aborter", aborter, NULL);
        break;
    default:
        break;
    }
}
