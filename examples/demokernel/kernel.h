/* The demo kernel's modules and what each promises the others. */
#ifndef DEMOKERNEL_KERNEL_H
#define DEMOKERNEL_KERNEL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* The image is linked here and loaded at physical KERNEL_PHYS (linker.ld). */
#define KERNEL_VMA 0xffffffff80000000ull
#define KERNEL_PHYS 0x100000ull
/* boot.S identity-maps this much physical memory, and maps it again at
 * KERNEL_VMA; every other address is unmapped. */
#define IDENTITY_MAP_SIZE 0x40000000ull

#define TIMER_HZ 100
#define MAX_CPUS 8 /* vCPUs the kernel brings up; more are left parked */

/* ---- lib.c: what the compiler and the other modules expect of libc ---- */

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
/* Copy (src) into (dst) of (size) bytes, truncating; always NUL-terminated
 * when size > 0. Returns strlen(src). */
size_t strlcpy(char *dst, const char *src, size_t size);

/* ---- fmt.c ------------------------------------------------------------ */

/*
 * Format (fmt, ap) into (buf) of (size) bytes, always NUL-terminated when
 * size > 0. Conversions: %s %c %d %i %u %x %p %% with the l and ll
 * modifiers, a '0' or '-' flag and a width. Returns the length written,
 * excluding the NUL (output beyond size - 1 is dropped).
 */
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- console.c: COM1 (Xen: its console), mirrored into the log ring ---- */

/* Set COM1 up as 115200 8N1, polled; under Xen (after xen_init), Xen's
 * console instead (xen_console_init). */
void console_init(void);
/* Write (len) bytes to the console and the agent's log ring. */
void console_write(const char *buf, size_t len);
/* Write to the console only, COM1 or Xen's (the panic path: the agent logs
 * its own). */
void console_write_serial(const char *buf, size_t len);
/* printf to console_write; lines longer than 255 bytes are cut. */
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- lock.c: spin locks across vCPUs ----------------------------------- */

/*
 * A spin lock. Besides the lock word it records its holder, so a debugger
 * (or unicore) can tell who holds a lock another vCPU spins on: the vCPU
 * and the agent thread id (0: no thread, the idle loop or boot).
 */
struct spinlock {
    volatile uint32_t locked;       /* 0 free, 1 held */
    volatile uint32_t owner_vcpu;   /* while locked: the vCPU it was taken
                                       on (a holder may move since) */
    volatile uint32_t owner_thread; /* while locked: its thread id, or 0 */
    uint32_t reserved;
};

/* Take (l), spinning; interrupts are the caller's business. */
void spin_lock(struct spinlock *l);
/* Take (l) if free: 1, else 0. */
int spin_trylock(struct spinlock *l);
void spin_unlock(struct spinlock *l);
/* spin_lock with interrupts off; returns what spin_unlock_irqrestore
 * needs. */
unsigned long spin_lock_irqsave(struct spinlock *l);
void spin_unlock_irqrestore(struct spinlock *l, unsigned long flags);

/* ---- smp.c: the vCPUs ---------------------------------------------------- */

struct thread;

/* One vCPU's own state; %gs points at its struct cpu. */
struct cpu {
    struct cpu *self;        /* %gs:0 */
    uint32_t index;          /* %gs:8: 0 the boot vCPU, then 1, 2, ... */
    uint32_t apic_id;        /* its local APIC's id */
    struct thread *current;  /* sched.c: the running thread, NULL: idle */
    uint64_t idle_rsp;       /* sched.c: its idle loop, switched out */
    volatile uint64_t ticks; /* its own timer ticks */
    int lapic_tick;          /* its tick comes from the local APIC */
    int timer_stopped;       /* timer.c: timer_stop ran on it */
    volatile int panicking;  /* traps.c: reporting a fault */
    volatile int online;     /* up and scheduling */
};

extern struct cpu cpus[MAX_CPUS];

/* The calling vCPU's struct cpu. volatile: a thread moves between vCPUs
 * across a switch, so the value must be read anew each time. */
static inline struct cpu *this_cpu(void)
{
    struct cpu *c;
    __asm__ volatile("movq %%gs:0, %0" : "=r"(c));
    return c;
}

/* Point %gs at cpus[0]: first thing at boot, before anything asks. */
void smp_early(void);
/*
 * How many vCPUs to run: those the hypervisor gives (QEMU's fw_cfg, Xen's
 * VCPUOP_is_up), at most MAX_CPUS and at most (limit) (0: no limit).
 * Call before the agent starts; 1 without SMP.
 */
uint32_t smp_count(uint32_t limit);
/* The count smp_count settled on. */
uint32_t smp_ncpus(void);
/*
 * Start the other vCPUs smp_count found (QEMU: INIT/SIPI through the
 * local APIC, to a real-mode trampoline at 0x8000; Xen: VCPUOP_initialise
 * and VCPUOP_up), each with its descriptors, timer and idle loop, and wait
 * for them. With (panic_stop), a panic stops the others by IPI. After
 * sched_init and timer_init.
 */
void smp_start(int panic_stop);
/* The stop IPI's handler: tell the agent, halt this vCPU. */
_Noreturn void smp_stop_irq(void);
/* An AP's C entry (trampoline.S), on its own stack. */
_Noreturn void ap_main(uint32_t index);

/* ---- main.c: what the loader said --------------------------------------- */

/* The end of the RAM region of the loader's memory map (PVH start info,
 * version 1) that holds (paddr); 0 without a map, or outside RAM. */
uint64_t boot_ram_end(uint64_t paddr);

/* ---- cmdline.c -------------------------------------------------------- */

enum scenario {
    SCENARIO_IDLE,
    SCENARIO_WORK,
    SCENARIO_CRASH,
    SCENARIO_HANG,
    SCENARIO_ASSERT,   /* bugs.c: a failed assertion, a software panic */
    SCENARIO_OVERFLOW, /* bugs.c: unbounded recursion into a guard page */
    SCENARIO_DEADLOCK, /* bugs.c: two threads, each waiting for the other */
    SCENARIO_RACE,     /* smp_scenarios.c: a counter updated without lock */
    SCENARIO_STRESS,   /* smp_scenarios.c: every vCPU traces flat out */
    SCENARIO_ABORT,    /* bugs.c: usca_panic(reason, NULL), no frame */
};

#define CRASH_DELAY_TICKS 20 /* scenario=crash: 200 ms unless crash_after= */

struct options {
    enum scenario scenario;
    uint32_t threads;       /* workers */
    int threads_given;      /* threads= was on the command line */
    uint64_t runtime_ticks; /* 0: run forever */
    uint32_t exit_status;   /* status to exit with when runtime ends */
    uint64_t crash_ticks;   /* scenario=crash: when the crasher faults */
    char name[64];          /* guest name */
    uint32_t touch_mib;     /* touch=N: MiB of RAM to fill at boot */
    int32_t crash_cpu;      /* crash_cpu=N: the crasher's vCPU; -1 any */
    uint32_t max_cpus;      /* vcpus=N: use at most N; 0 all */
    int panic_stop;         /* panic_stop=1: a panic stops the others */
    uint64_t stress_ticks;  /* stress_for=: how long each vCPU traces */
};

/* Parse the kernel command line (cmdline, may be NULL) into (opt), which is
 * first set to the defaults. Complains on the console about what it
 * ignores. */
void cmdline_parse(const char *cmdline, struct options *opt);
/* The scenario's name, for messages. */
const char *scenario_name(enum scenario s);

/* ---- desc.c: GDT, TSS and IDT ----------------------------------------- */

/* Build the IDT (vectors 0-63 to traps.S), then desc_init_cpu(0). */
void desc_init(void);
/* Load vCPU (index)'s own GDT and TSS (its IST stacks) and the IDT. */
void desc_init_cpu(uint32_t index);

/* ---- traps.c ---------------------------------------------------------- */

/* What traps.S pushes: GPRs, then the vector and error code, then the
 * CPU's interrupt frame. */
struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rdi, rsi, rbp, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

/* Called by traps.S for every vector, interrupts off. */
void trap_dispatch(struct trap_frame *f);
/* Acknowledge interrupt (irq) (vector IRQ_BASE + irq) at the controller in
 * use, the local APIC once apic_timer_start succeeded, else the 8259s.
 * Returns 0 when it was spurious (no EOI then due). */
int irq_eoi(unsigned irq);

/* ---- pic.c ------------------------------------------------------------ */

#define IRQ_BASE 32 /* the PIC's IRQ 0 arrives as this vector */

/* Remap the 8259 pair to IRQ_BASE.. and mask every line. */
void pic_init(void);
void pic_unmask(unsigned irq);
/* Acknowledge (irq). Returns 0 when it was spurious (no EOI then due). */
int pic_eoi(unsigned irq);

/* ---- apic.c: the local APIC: its timer (the tick where there is no PIT:
 * Xen PVH, and the other vCPUs), and IPIs ------------------------------ */

#define APIC_TIMER_VECTOR IRQ_BASE           /* the tick, as the PIT's */
#define IPI_STOP_VECTOR 48                   /* smp: stop for a panic */
#define APIC_SPURIOUS_VECTOR (IRQ_BASE + 31) /* never EOI'd */
#define NUM_VECTORS 64

/*
 * Enable this vCPU's local APIC: x2APIC mode under Xen, the xAPIC's MMIO
 * page otherwise (QEMU's TCG has no x2APIC), mapped on first use; note its
 * id in this_cpu(). Returns 0, or -1 when there is none to use.
 */
int apic_enable(void);
/*
 * apic_enable, then measure the timer against the TSC (tsc_calibrate
 * first) and start it periodic at (hz) on APIC_TIMER_VECTOR, masked until
 * interrupts are enabled; this vCPU takes its tick from it. Returns 0, or
 * -1 without a local APIC. Needs the console.
 */
int apic_timer_start(uint32_t hz);
/* Measure the timer (on the boot vCPU, its LVT masked) for the other
 * vCPUs' apic_timer_start_ap, without starting it. 0, or -1. */
int apic_timer_calibrate(uint32_t hz);
/* apic_enable, and the timer apic_timer_calibrate measured, started. */
int apic_timer_start_ap(void);
/* Mask this vCPU's timer and stop its count (nothing if never started). */
void apic_timer_stop(void);
/* End of interrupt for the vector in service. */
void apic_eoi(void);
/* INIT, then two STARTUPs to page (vector) (the code at vector << 12), to
 * every vCPU but this one. */
void apic_start_others(uint8_t vector);
/* A fixed interrupt (vector) to every vCPU but this one. */
void apic_ipi_others(uint8_t vector);

/* ---- xen.c: running as a Xen PVH domU ---------------------------------- */

/*
 * Look for Xen's CPUID leaves and, if found, have Xen fill the hypercall
 * page. Returns 1 under Xen, else 0 (QEMU, KVM): call first, before the
 * console.
 */
int xen_init(void);
/* What xen_init returned: 1 under Xen with working hypercalls. */
int xen_present(void);
/* The guest's TSC rate Xen states (CPUID), in Hz; 0 if not under Xen. */
uint64_t xen_tsc_hz(void);
/* Probe CONSOLEIO_write (refused to a domU by release builds of Xen) and
 * map the PV console ring the toolstack set up, if any. */
void xen_console_init(void);
/* Write (len) bytes to the PV console ring (dom0's xenconsoled reads it:
 * xl console, the guest's console log) and to Xen's own console when
 * CONSOLEIO_write is allowed. Any context; waits a bounded time when the
 * ring is full, then drops output. */
void xen_console_write(const char *buf, size_t len);
/* Wait (at most a second) for xenconsoled to read the whole ring. */
void xen_console_flush(void);
/* Print what xen_init and xen_console_init found. */
void xen_report(void);
/* SCHEDOP_shutdown(SHUTDOWN_poweroff); returns only on failure (-errno). */
long xen_poweroff(void);
/* vCPUs of this domain (VCPUOP_is_up answers), at most (max). */
uint32_t xen_vcpu_count(uint32_t max);
/* Start vCPU (index) in 64-bit mode at (rip) with (rsp) and %rdi = index
 * (VCPUOP_initialise, VCPUOP_up). 0, or -errno. */
long xen_vcpu_start(uint32_t index, uint64_t rip, uint64_t rsp);

/* ---- window.c: pages outside the identity map ------------------------- */

/*
 * Map the frame (pfn) at slot (slot) (0-511) of a 2 MiB window at
 * 0xffffffffc0000000, read-write, uncached when (uncached) (MMIO); returns
 * its virtual address, or NULL when the window's slot of the page tables
 * is someone else's. Interrupts off, or before other vCPUs run: the tables
 * are shared.
 */
volatile void *window_map(uint64_t pfn, unsigned slot, int uncached);
#define WINDOW_SLOT_CONSOLE 0u /* xen.c: the PV console ring */
#define WINDOW_SLOT_LAPIC 1u   /* apic.c: the xAPIC's registers */

/* ---- tsc.c ------------------------------------------------------------ */

/* TSC ticks per second: under Xen, the rate it states (xen_tsc_hz); else
 * measured against PIT channel 2 over ~10 ms. */
uint64_t tsc_calibrate(void);
/* The value tsc_calibrate found (0 before). */
uint64_t tsc_hz(void);

/* ---- timer.c ---------------------------------------------------------- */

extern volatile uint64_t demo_ticks; /* timer interrupts since boot */

/* Start the PIT at TIMER_HZ on IRQ 0 (Xen: the local APIC timer on
 * APIC_TIMER_VECTOR, the same vector); exit the guest at tick (exit_tick)
 * unless it is 0, with (exit_status). With several vCPUs (smp_ncpus), also
 * measure the local APIC timer for the others. Needs the agent, the IDT
 * and tsc_calibrate. */
void timer_init(uint64_t exit_tick, uint32_t exit_status);
/* Start this (other) vCPU's tick: its local APIC timer at TIMER_HZ. */
void timer_start_ap(void);
/* The tick's handler (IRQ 0; on the other vCPUs, their APIC timer). The
 * boot vCPU's tick is the guest's clock (demo_ticks); each vCPU counts its
 * own (this_cpu()->ticks) and beats the agent's heartbeat. */
void timer_irq(void);
/* Stop this vCPU's tick for good (the APIC timer's; the PIT's is left
 * alone): a tick already pending only gets its EOI. */
void timer_stop(void);
/* Turn the timer_tick tracepoint off (scenario=stress). */
void timer_trace_off(void);

/* ---- sched.c: cooperative threads ------------------------------------- */

#define MAX_THREADS 16
#define THREAD_STACK_SIZE 16384

/* Register the scheduler's metrics. */
void sched_init(void);
/*
 * Create a runnable thread (name) running fn(arg), on any vCPU (it moves
 * between them). Returns 0, or -1 when all MAX_THREADS slots are taken.
 */
int thread_create(const char *name, void (*fn)(void *), void *arg);
/* As thread_create, the thread kept on vCPU (cpu) (-1: any). */
int thread_create_on(const char *name, void (*fn)(void *), void *arg, int cpu);
/* Let other runnable threads run; returns when this one is picked again. */
void yield(void);
/* Block the calling thread for at least (n) timer ticks; 0 yields. */
void sleep_ticks(uint32_t n);
/* As sleep_ticks, telling the agent the thread waits on (wait_obj). */
void sleep_ticks_on(uint32_t n, const volatile void *wait_obj);
/* End the calling thread. */
_Noreturn void thread_exit(void);
/* The running thread's name, or "idle" outside threads. */
const char *thread_current_name(void);
/* The running thread's id (the agent's), 0 outside threads. */
uint32_t thread_current_id(void);
/* The agent's slot of the running thread, NULL outside threads. */
struct usc_thread *thread_current_agent(void);
/* Run threads on this vCPU's boot stack, idling with hlt when none is
 * runnable; on the boot vCPU, once none is left, exit the guest with
 * status 0. Every vCPU runs it: threads move between them. */
_Noreturn void sched_run(void);
/* Turn the sched_switch tracepoint off (scenario=stress). */
void sched_trace_off(void);

/* ---- scenarios.c ------------------------------------------------------ */

/* Create the threads of the scenario (opt). */
void scenario_start(const struct options *opt);

/* Symbols the debugger tests look up by name: keep them. */
extern uint64_t demo_magic;                          /* 0x5ca1ab1e0ddba11 */
extern volatile uint32_t demo_work_delay_ticks;      /* workers' sleep */
extern volatile uint64_t *volatile demo_bad_pointer; /* 0xdeadbeef */
extern volatile uint64_t demo_spin_count;
uint64_t crash_level1(uint64_t x);
uint64_t crash_level2(uint64_t x);
uint64_t crash_level3(uint64_t x); /* faults on demo_bad_pointer */
void spin_forever(void);

/* ---- bugs.c: the planted bugs unicore finds ---------------------------- */

/*
 * A lock of the scenarios; owner is the holder's name, or NULL. One vCPU:
 * a waiter sleeps (BLOCKED on the lock). Several: a waiter spins on spin
 * (RUNNING, USC_THREAD_SPINNING, wait_obj the lock), whose owner_vcpu
 * and owner_thread say who holds it.
 */
struct demo_lock {
    const char *volatile owner;
    const char *name;
    struct spinlock spin;
};

/* Fill opt->touch_mib MiB of RAM, then start the threads of the planted-bug
 * scenario (assert, overflow, deadlock) in (opt), if it is one. */
void bugs_start(const struct options *opt);
_Noreturn void demo_assert_fail(const char *expr, const char *msg,
                                const char *file, int line, const char *func);
#define DEMO_ASSERT(cond, msg)                                                 \
    do {                                                                       \
        if (!(cond))                                                           \
            demo_assert_fail(#cond, msg, __FILE__, __LINE__, __func__);        \
    } while (0)
extern struct demo_lock demo_lock_a, demo_lock_b;
extern volatile uint64_t demo_work_result;

/* ---- smp_scenarios.c: race and stress ---------------------------------- */

/* Start the threads of scenario race or stress in (opt), if it is one. */
void smp_scenarios_start(const struct options *opt);

/* ---- halt.c ----------------------------------------------------------- */

/*
 * Orderly exit: mark the agent HALTED, say so, and leave QEMU through
 * isa-debug-exit with (status); where that device is absent, halt. Under
 * Xen: flush the console and power the domain off (whatever the status,
 * which only the console line tells).
 */
_Noreturn void demo_exit(uint32_t status);
/*
 * Stop this vCPU for good, interrupts off. Under Xen the vCPU must stay up
 * (cli; hlt would take it offline and Xen would power the domain off): the
 * timer is masked and the vCPU blocks in hlt with interrupts on, nothing
 * left to wake it, so the domain stays for the host tools.
 */
_Noreturn void halt_forever(void);
struct usca_fault;
/* Record the panic with the agent (usca_panic_record) and halt_forever;
 * usca_panic itself where cli; hlt is a safe stop (not under Xen). */
_Noreturn void demo_panic(const char *reason, const struct usca_fault *fault);

#endif /* DEMOKERNEL_KERNEL_H */
