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
/*
 * Guest-physical address of (vaddr), which lies in the agent's storage or
 * in a registered tracepoint (the unikernel's own static data).
 */
uint64_t usca_port_virt_to_phys(const void *vaddr);

/* ---- life cycle ------------------------------------------------------- */

struct usca_config {
    const char *name;      /* guest name; NULL for "unikernel" */
    const void *build_id;  /* the image's GNU build-id, or NULL */
    uint32_t build_id_len; /* bytes at build_id (at most 32 are kept) */
    uint32_t max_vcpus;    /* vCPUs that may run; 0 means 1 */
    uint64_t ts_hz;        /* usca_port_timestamp ticks per second */
    /*
     * Trace rings of the unikernel's choosing: (trace_mem_size) bytes at
     * (trace_mem), page-aligned and physically contiguous, which the agent
     * owns from init on, split into one ring per vCPU of the largest power
     * of two that fits (at least two packets). NULL and 0: the built-in
     * rings (USCA_TRACE_RINGS vCPUs of USCA_TRACE_RING_SIZE bytes). A ring
     * holds (size / event bytes) events: a host that drains it must come
     * back before it fills, so a guest that traces fast wants large ones.
     */
    void *trace_mem;
    uint64_t trace_mem_size;
};

/*
 * Build and publish the control block (cfg); call once, early, on one vCPU,
 * before other vCPUs call in. Returns 0, or -22 (EINVAL) for a bad cfg
 * (trace memory unaligned or too small for two packets a vCPU) or a second
 * call; nothing is published then.
 */
int usca_init(const struct usca_config *cfg);

/* The published control block, or NULL before usca_init. */
const struct usc_control_block *usca_control_block(void);

/*
 * Mark (vcpu) online in the control block and in its entry of the vCPU
 * table (from any vCPU; usually the one coming up, before it ticks).
 */
void usca_vcpu_online(uint32_t vcpu);

/*
 * Record a heartbeat of the calling vCPU (call from each vCPU's timer
 * tick): the control block's heartbeat and the vCPU's own entry (its
 * heartbeat and tick count), so the host sees each vCPU's liveness.
 */
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
 * RUNNING with a non-zero (wait_obj) says the running thread spins on that
 * lock (flag USC_THREAD_SPINNING); RUNNING with 0 clears it once it has
 * the lock.
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

/*
 * Several vCPUs: only the first panic is recorded; a panic on another vCPU
 * while it is being recorded is counted and its usca_panic_record returns
 * once the first record, state and log line are complete (or after a
 * second, if that vCPU died half-way), so that the host never finds a
 * half-written record however the unikernel then stops. Each panicking
 * vCPU is marked PANICKED in the vCPU table.
 *
 * What happens to the other vCPUs is the unikernel's choice, and the
 * control block says which (panic_others): by default they are left
 * running. With a (stop) hook registered here, the first panic calls it,
 * with interrupts off, once the record is written and before the state
 * becomes PANICKED, to make the other vCPUs stop (an IPI); each of them
 * calls usca_vcpu_stopped() before it halts, and the agent waits (at most
 * a second) for every online vCPU to have stopped. NULL: leave them
 * running again. Call at any time after init.
 */
void usca_panic_set_stop(void (*stop)(void));

/*
 * The calling vCPU stops because another one panicked (from the stop
 * hook's IPI handler, before it halts): marks it STOPPED in its vCPU
 * entry.
 */
void usca_vcpu_stopped(void);

/* ---- tracing (docs/tracing.md) ---------------------------------------- */

/*
 * Each vCPU records events into a ring of its own; the host drains the
 * rings (stream mode) or reads the newest of them (flight recorder, the
 * default). Declare each tracepoint once, static, with USCA_TP*(); register
 * it after usca_init; trace with USCA_TRACE<n>(&tp, args...), which costs
 * one load and one branch while the tracepoint is disabled and does not
 * evaluate its arguments then. Tracing is safe in interrupt handlers (an
 * interrupted event is never torn), not in NMI handlers.
 */

/* A payload field as the unikernel declares it. */
struct usca_tp_field {
    const char *name; /* a C identifier of at most 15 characters */
    uint8_t type;     /* enum usc_field_type */
    uint8_t size;     /* 1, 2, 4, 8 (pointers 8); strings 2..64, NUL incl. */
};

/* clang-format off */
#define USCA_U8(n) {(n), USC_FIELD_UNSIGNED, 1}
#define USCA_U16(n) {(n), USC_FIELD_UNSIGNED, 2}
#define USCA_U32(n) {(n), USC_FIELD_UNSIGNED, 4}
#define USCA_U64(n) {(n), USC_FIELD_UNSIGNED, 8}
#define USCA_S8(n) {(n), USC_FIELD_SIGNED, 1}
#define USCA_S16(n) {(n), USC_FIELD_SIGNED, 2}
#define USCA_S32(n) {(n), USC_FIELD_SIGNED, 4}
#define USCA_S64(n) {(n), USC_FIELD_SIGNED, 8}
#define USCA_PTR(n) {(n), USC_FIELD_POINTER, 8}
#define USCA_STR(n, size) {(n), USC_FIELD_STRING, (size)}

/*
 * A tracepoint. enabled comes first and is all a trace site reads while
 * it is off; the host flips it (it is data, never code). The rest is set
 * by the USCA_TP*() initialisers and by usca_tracepoint_register.
 */
struct usca_tracepoint {
    volatile uint32_t enabled; /* non-zero: record */
    uint16_t size;             /* event record bytes; 0 until registered */
    uint16_t kind;             /* enum usc_tp_kind */
    uint32_t id;               /* index in the tracepoint table */
    uint16_t nfields;
    uint8_t start_off;         /* register it disabled */
    uint8_t reserved;
    const char *name; /* at most 47 characters of [A-Za-z0-9_.:-] */
    const struct usca_tp_field *fields;
    struct usca_tracepoint *begin; /* END: the BEGIN whose span it closes */
    uint16_t offset[USC_TP_FIELDS_MAX]; /* where each field goes */
    uint8_t ftype[USC_TP_FIELDS_MAX];
    uint8_t fsize[USC_TP_FIELDS_MAX];
};

#define USCA_FIELDS_OF(a) (uint16_t)(sizeof(a) / sizeof((a)[0]))
/* Initialisers: (fields) is an array of USCA_U32(..) and the like. */
#define USCA_TP(tpname, tpkind, fields_)                                       \
    {.name = (tpname), .kind = (tpkind), .fields = (fields_),                  \
     .nfields = USCA_FIELDS_OF(fields_)}
#define USCA_TP0(tpname, tpkind) {.name = (tpname), .kind = (tpkind)}
/* The END of the span (begin_tp), a struct usca_tracepoint, opens. */
#define USCA_TP_END(tpname, begin_tp, fields_)                                 \
    {.name = (tpname), .kind = USC_TP_END, .begin = &(begin_tp),               \
     .fields = (fields_), .nfields = USCA_FIELDS_OF(fields_)}
#define USCA_TP_END0(tpname, begin_tp)                                         \
    {.name = (tpname), .kind = USC_TP_END, .begin = &(begin_tp)}
/* clang-format on */

/*
 * Publish (tp) in the tracepoint table (an END registers its BEGIN
 * first) and enable it unless start_off is set. Call after usca_init,
 * not from interrupt handlers. Returns 0 (also when already registered);
 * -22 (EINVAL) for a bad declaration or before init; -17 (EEXIST) when
 * another tracepoint has the name; -28 (ENOSPC) when the table is full.
 */
int usca_tracepoint_register(struct usca_tracepoint *tp);

/*
 * Record an event of (tp) with the field values (a0..a5, as many as it
 * has fields; strings by pointer) on this vCPU's ring. Call it through
 * USCA_TRACE<n>, which tests tp->enabled first.
 */
void usca_trace_emit(struct usca_tracepoint *tp, uint64_t a0, uint64_t a1,
                     uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);

#define USCA_TRACE_IF(tp, call)                                                \
    do {                                                                       \
        if (__builtin_expect((tp)->enabled != 0, 0))                           \
            call;                                                              \
    } while (0)
#define USCA_U(x) ((uint64_t)(x))
#define USCA_TRACE0(tp)                                                        \
    USCA_TRACE_IF(tp, usca_trace_emit((tp), 0, 0, 0, 0, 0, 0))
#define USCA_TRACE1(tp, a)                                                     \
    USCA_TRACE_IF(tp, usca_trace_emit((tp), USCA_U(a), 0, 0, 0, 0, 0))
#define USCA_TRACE2(tp, a, b)                                                  \
    USCA_TRACE_IF(tp, usca_trace_emit((tp), USCA_U(a), USCA_U(b), 0, 0, 0, 0))
#define USCA_TRACE3(tp, a, b, c)                                               \
    USCA_TRACE_IF(                                                             \
        tp, usca_trace_emit((tp), USCA_U(a), USCA_U(b), USCA_U(c), 0, 0, 0))
#define USCA_TRACE4(tp, a, b, c, d)                                            \
    USCA_TRACE_IF(tp, usca_trace_emit((tp), USCA_U(a), USCA_U(b), USCA_U(c),   \
                                      USCA_U(d), 0, 0))
#define USCA_TRACE5(tp, a, b, c, d, e)                                         \
    USCA_TRACE_IF(tp, usca_trace_emit((tp), USCA_U(a), USCA_U(b), USCA_U(c),   \
                                      USCA_U(d), USCA_U(e), 0))
#define USCA_TRACE6(tp, a, b, c, d, e, f)                                      \
    USCA_TRACE_IF(tp, usca_trace_emit((tp), USCA_U(a), USCA_U(b), USCA_U(c),   \
                                      USCA_U(d), USCA_U(e), USCA_U(f)))

#endif /* UNISCOPE_AGENT_H */
