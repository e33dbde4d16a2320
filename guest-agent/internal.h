/* Private state and helpers shared by the agent's source files. */
#ifndef USCA_INTERNAL_H
#define USCA_INTERNAL_H

#include <uniscope/agent.h>

#ifndef USCA_MAX_METRICS
#define USCA_MAX_METRICS 128
#endif
#ifndef USCA_MAX_THREADS
#define USCA_MAX_THREADS 64
#endif
#ifndef USCA_MAX_VCPUS
#define USCA_MAX_VCPUS 64
#endif
#ifndef USCA_LOG_SIZE
#define USCA_LOG_SIZE 16384 /* bytes, a power of two */
#endif

_Static_assert((USCA_LOG_SIZE & (USCA_LOG_SIZE - 1)) == 0,
               "the log ring size must be a power of two");

#define USCA_HIDDEN __attribute__((visibility("hidden")))

/*
 * All of the agent's storage, in one page-aligned object so that it is
 * physically contiguous wherever the unikernel's image is: the host reads
 * every table by guest-physical address.
 */
struct usca_area {
    struct usc_control_block cb;
    struct usc_panic panic;
    struct usc_metric metrics[USCA_MAX_METRICS];
    struct usc_thread threads[USCA_MAX_THREADS];
    struct usc_vcpu vcpus[USCA_MAX_VCPUS];
    char log[USCA_LOG_SIZE];
} __attribute__((aligned(USC_ABI_PAGE_SIZE)));

extern struct usca_area usca_area USCA_HIDDEN;
/* Non-zero once usca_init has published the control block. */
extern int usca_ready USCA_HIDDEN;
/* The agent thread running on each vCPU, or NULL. */
extern struct usc_thread *usca_current[USCA_MAX_VCPUS] USCA_HIDDEN;

/* The calling vCPU, clamped into the agent's tables (inline: the trace
 * call uses it on every event). */
static inline uint32_t usca_vcpu(void)
{
    uint32_t v = usca_port_vcpu();
    return v < USCA_MAX_VCPUS ? v : USCA_MAX_VCPUS - 1;
}

/* Copy string (src) into field (dst, cap), truncated, NUL-padded. */
void usca_copy_name(char *dst, const char *src, uint32_t cap) USCA_HIDDEN;

/* Names equal as the ABI stores them (at most cap bytes)? */
int usca_name_eq(const char *a, const char *b, uint32_t cap) USCA_HIDDEN;

/*
 * A spin lock private to the guest (the host never takes it), held with
 * interrupts off. usca_lock returns the interrupt state for usca_unlock.
 */
unsigned long usca_lock(int *lock) USCA_HIDDEN;
void usca_unlock(int *lock, unsigned long flags) USCA_HIDDEN;

/*
 * Open a write section on a record guarded by sequence counter (seq): make
 * it odd, with interrupts off. Writers on other vCPUs wait for it to be
 * even again. usca_seq_end publishes the record (even) and returns
 * interrupts to (flags).
 */
unsigned long usca_seq_begin(uint64_t *seq) USCA_HIDDEN;
void usca_seq_end(uint64_t *seq, unsigned long flags) USCA_HIDDEN;

/*
 * Append (buf, len) to the log ring; when (panicking), stop waiting for a
 * lock this vCPU may itself hold.
 */
void usca_log_append(const char *buf, size_t len, int panicking) USCA_HIDDEN;

/*
 * Set up the tracepoint table and the trace rings of (max_vcpus) vCPUs, in
 * (cfg)'s trace memory or the built-in one, and describe them in the
 * header of (cb); at init, before the checksum. Returns 0, or -22 for trace
 * memory that cannot hold them (then nothing is set up).
 */
int usca_trace_setup(struct usc_control_block *cb, uint32_t max_vcpus,
                     const struct usca_config *cfg) USCA_HIDDEN;

/*
 * Set vCPU (vcpu)'s state to (state) (enum usc_vcpu_state) in its entry of
 * the vCPU table; a vCPU past max_vcpus has none.
 */
void usca_vcpu_set_state(uint32_t vcpu, uint32_t state) USCA_HIDDEN;

/*
 * The scheduler hooks' share of the vCPU table: (vcpu) switches at (now)
 * to the thread (next_id) (0: idle); until now it ran a thread if (busy).
 */
void usca_vcpu_switch(uint32_t vcpu, uint64_t now, int busy,
                      uint32_t next_id) USCA_HIDDEN;

/* Record (f) (may be NULL) as an agent_panic event on this vCPU's ring. */
void usca_trace_panic(const struct usca_fault *f) USCA_HIDDEN;

#endif /* USCA_INTERNAL_H */
