/* uniscope guest agent: the API a unikernel calls, and the port it supplies. */
#ifndef UNISCOPE_AGENT_H
#define UNISCOPE_AGENT_H

/*
 * The agent publishes the unikernel's state in its own memory, in the
 * layout of <uniscope/abi.h>; it never talks to the host. It is
 * freestanding: no libc, no allocation, no locks the host must take. All
 * of its storage is static and lies in one physically contiguous area, as
 * a unikernel's image is. Names are truncated to fit their ABI fields.
 *
 * Unless said otherwise, a function may be called from any vCPU and from
 * interrupt handlers once usca_init() has returned 0; before that, and
 * with a NULL handle, it does nothing.
 */

#include <stddef.h>
#include <stdint.h>
#include <uniscope/abi.h>

/* ---- the port: five functions the unikernel defines ------------------- */

/* Current timestamp in ticks of usca_config.ts_hz (rdtsc, typically). */
uint64_t usca_port_timestamp(void);
/* Index of the calling vCPU, 0 .. usca_config.max_vcpus - 1. */
uint32_t usca_port_vcpu(void);
/* Disable interrupts on this vCPU; return what usca_port_irq_restore needs. */
unsigned long usca_port_irq_save(void);
/* Restore the interrupt state (flags) that usca_port_irq_save returned. */
void usca_port_irq_restore(unsigned long flags);
/* Guest-physical address of (vaddr), which lies in the agent's storage. */
uint64_t usca_port_virt_to_phys(const void *vaddr);

/* ---- life cycle ------------------------------------------------------- */

struct usca_config {
    const char *name;      /* guest name; NULL for "unikernel" */
    const void *build_id;  /* the image's GNU build-id, or NULL */
    uint32_t build_id_len; /* bytes at build_id (at most 32 are kept) */
    uint32_t max_vcpus;    /* vCPUs that may run; 0 means 1 */
    uint64_t ts_hz;        /* usca_port_timestamp ticks per second */
};

/*
 * Build and publish the control block (cfg); call once, early, on one vCPU,
 * before other vCPUs call in. Returns 0, or -22 (EINVAL) for a bad cfg or
 * a second call.
 */
int usca_init(const struct usca_config *cfg);

/* The published control block, or NULL before usca_init. */
const struct usc_control_block *usca_control_block(void);

/* Mark (vcpu) online in the control block. */
void usca_vcpu_online(uint32_t vcpu);

/* Record a heartbeat (call from the timer tick); the host sees liveness. */
void usca_tick(void);

/* Set the run state (enum usc_run_state), e.g. HALTED on orderly exit. */
void usca_set_state(uint32_t state);

/* ---- metrics ---------------------------------------------------------- */

/*
 * Register a metric of (kind) named (name) in (unit) ("" or NULL for
 * none, else a base unit: "seconds", "bytes"). Returns its slot, or NULL
 * when the table is full or before init. Registering a name twice returns
 * the existing slot.
 */
struct usc_metric *usca_metric_register(const char *name, const char *unit,
                                        enum usc_metric_kind kind);

/* Add (n) to counter (m). Lock-free; safe in interrupt handlers. */
void usca_counter_add(struct usc_metric *m, uint64_t n);

/* Set gauge (m) to (v). */
void usca_gauge_set(struct usc_metric *m, int64_t v);

/* Add (d), which may be negative, to gauge (m). */
void usca_gauge_add(struct usc_metric *m, int64_t d);

/* ---- threads: hooks for the unikernel's scheduler --------------------- */

/*
 * A thread (id, name) was created, runnable. Returns its slot (the handle
 * the other hooks take), or NULL when the table is full.
 */
struct usc_thread *usca_thread_create(uint32_t id, const char *name);

/* Rename (t) to (name). */
void usca_thread_rename(struct usc_thread *t, const char *name);

/*
 * Set (t)'s state (enum usc_thread_state) and what it waits on (wait_obj,
 * a guest-virtual address or 0), e.g. BLOCKED before switching away.
 */
void usca_thread_set_state(struct usc_thread *t, uint32_t state,
                           uint64_t wait_obj);

/*
 * The scheduler is about to switch from (prev) to (next) on this vCPU;
 * either may be NULL (boot or idle context). Saves the caller's own
 * rip/rsp/rbp/rbx/r12-r15 as prev's registers, so a debugger unwinding
 * prev starts in the scheduler at this call. prev's state becomes
 * RUNNABLE unless it was set BLOCKED or EXITED; next becomes RUNNING.
 */
void usca_thread_switch(struct usc_thread *prev, struct usc_thread *next);

/* As usca_thread_switch, with prev's registers given by the caller (regs). */
void usca_thread_switch_regs(struct usc_thread *prev, struct usc_thread *next,
                             const struct usc_saved_regs *regs);

/* (t) exited; its slot may be reused. */
void usca_thread_exit(struct usc_thread *t);

/* ---- console log ring ------------------------------------------------- */

/* Append (len) bytes at (buf) to the log ring, overwriting the oldest. */
void usca_log_write(const char *buf, size_t len);

/* ---- panic ------------------------------------------------------------ */

struct usca_fault {
    uint64_t vector; /* exception vector, or USC_PANIC_NO_VECTOR */
    uint64_t error_code;
    uint64_t cr2;
    const struct usc_regs *regs; /* full frame at the fault, or NULL */
};

/*
 * Record a panic (reason, fault; fault may be NULL for a software panic
 * such as a failed assertion) with the vCPU, timestamp and running thread,
 * log "PANIC: reason" to the log ring and set the state PANICKED. Only the
 * first panic is recorded; later ones are counted. Returns.
 */
void usca_panic_record(const char *reason, const struct usca_fault *fault);

/* usca_panic_record, then halt this vCPU for good (interrupts off, hlt). */
_Noreturn void usca_panic(const char *reason, const struct usca_fault *fault);

#endif /* UNISCOPE_AGENT_H */
