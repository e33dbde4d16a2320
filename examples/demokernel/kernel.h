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

/* ---- console.c: COM1, mirrored into the agent's log ring -------------- */

/* Set COM1 up as 115200 8N1, polled. */
void console_init(void);
/* Write (len) bytes to the serial port and the agent's log ring. */
void console_write(const char *buf, size_t len);
/* Write to the serial port only (the panic path: the agent logs its own). */
void console_write_serial(const char *buf, size_t len);
/* printf to console_write; lines longer than 255 bytes are cut. */
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- cmdline.c -------------------------------------------------------- */

enum scenario {
    SCENARIO_IDLE,
    SCENARIO_WORK,
    SCENARIO_CRASH,
    SCENARIO_HANG,
    SCENARIO_ASSERT,   /* bugs.c: a failed assertion, a software panic */
    SCENARIO_OVERFLOW, /* bugs.c: unbounded recursion into a guard page */
    SCENARIO_DEADLOCK, /* bugs.c: two threads, each waiting for the other */
};

#define CRASH_DELAY_TICKS 20 /* scenario=crash: 200 ms unless crash_after= */

struct options {
    enum scenario scenario;
    uint32_t threads;       /* workers */
    uint64_t runtime_ticks; /* 0: run forever */
    uint32_t exit_status;   /* status to exit with when runtime ends */
    uint64_t crash_ticks;   /* scenario=crash: when the crasher faults */
    char name[64];          /* guest name */
    uint32_t touch_mib;     /* touch=N: MiB of RAM to fill at boot */
};

/* Parse the kernel command line (cmdline, may be NULL) into (opt), which is
 * first set to the defaults. Complains on the console about what it
 * ignores. */
void cmdline_parse(const char *cmdline, struct options *opt);
/* The scenario's name, for messages. */
const char *scenario_name(enum scenario s);

/* ---- desc.c: GDT, TSS and IDT ----------------------------------------- */

/* Load a GDT with a TSS (for the IST stacks) and an IDT routing vectors
 * 0-47 to traps.S. */
void desc_init(void);

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

/* ---- pic.c ------------------------------------------------------------ */

#define IRQ_BASE 32 /* the PIC's IRQ 0 arrives as this vector */

/* Remap the 8259 pair to IRQ_BASE.. and mask every line. */
void pic_init(void);
void pic_unmask(unsigned irq);
/* Acknowledge (irq). Returns 0 when it was spurious (no EOI then due). */
int pic_eoi(unsigned irq);

/* ---- tsc.c ------------------------------------------------------------ */

/* TSC ticks per second, measured against PIT channel 2 over ~10 ms. */
uint64_t tsc_calibrate(void);
/* The value tsc_calibrate found (0 before). */
uint64_t tsc_hz(void);

/* ---- timer.c ---------------------------------------------------------- */

extern volatile uint64_t demo_ticks; /* timer interrupts since boot */

/* Start the PIT at TIMER_HZ on IRQ 0; exit the guest at tick (exit_tick)
 * unless it is 0, with (exit_status). Needs the agent and the IDT. */
void timer_init(uint64_t exit_tick, uint32_t exit_status);
/* The IRQ 0 handler. */
void timer_irq(void);

/* ---- sched.c: cooperative threads ------------------------------------- */

#define MAX_THREADS 16
#define THREAD_STACK_SIZE 16384

/* Register the scheduler's metrics. */
void sched_init(void);
/*
 * Create a runnable thread (name) running fn(arg). Returns 0, or -1 when
 * all MAX_THREADS slots are taken.
 */
int thread_create(const char *name, void (*fn)(void *), void *arg);
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
/* Run threads on the boot stack until none is left, idling with hlt when
 * none is runnable; then exit the guest with status 0. */
_Noreturn void sched_run(void);

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

/* A lock of cooperative threads; owner is the holder's name, or NULL. */
struct demo_lock {
    const char *volatile owner;
    const char *name;
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

/* ---- halt.c ----------------------------------------------------------- */

/*
 * Orderly exit: mark the agent HALTED, say so, and leave QEMU through
 * isa-debug-exit with (status); where that device is absent, halt.
 */
_Noreturn void demo_exit(uint32_t status);
/* Stop this vCPU for good, interrupts off. */
_Noreturn void halt_forever(void);

#endif /* DEMOKERNEL_KERNEL_H */
