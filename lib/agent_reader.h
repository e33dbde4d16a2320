/* Reading a guest agent's control block from the host, while the guest runs. */
#ifndef USC_AGENT_READER_H
#define USC_AGENT_READER_H

#include <stddef.h>
#include <stdint.h>
#include <uniscope/abi.h>

#include "physmem.h"

/*
 * The control block and every table are guest memory, hence untrusted:
 * each function validates what it reads and returns 0 or a negative errno,
 * never reading outside guest RAM and never looping without bound:
 *   -EINVAL   corrupt structure (bad checksum, size, count, string, ...)
 *   -EFAULT   a table or block outside guest RAM, or unreadable
 *   -EAGAIN   a record's sequence counter never settled
 *   -ENOENT   no control block (or no panic)
 *   -ESTALE   the block changed under an open handle: the guest rebooted
 *   -EPROTONOSUPPORT  an agent of another ABI version
 *   -ENOMEM, and -EINVAL for a caller's bad argument.
 * Output structures hold host copies; their strings are NUL-terminated.
 */

/* usc_agent_open's (cb_paddr) meaning "scan guest RAM for it". */
#define USC_AGENT_SCAN UINT64_MAX

/* The largest tables and vCPU count an agent may declare. */
#define USC_AGENT_MAX_METRICS 4096u
#define USC_AGENT_MAX_THREADS 4096u
#define USC_AGENT_MAX_TRACEPOINTS 4096u
#define USC_AGENT_MAX_TRACE_RINGS 256u
#define USC_AGENT_MAX_LOG (64u << 20) /* bytes */
#define USC_AGENT_MAX_VCPUS 4096u

/* An open agent: a validated copy of its header and where its tables are. */
struct usc_agent;

/* The live part of the control block, as one usc_agent_status call saw it. */
struct usc_agent_status {
    uint32_t state;             /* enum usc_run_state, checked */
    uint32_t vcpus_online;      /* bitmap of the first 32 vCPUs, only those
                                   below the header's max_vcpus */
    uint32_t vcpus_beyond;      /* bits the guest set at or above max_vcpus
                                   (corrupt: never counted online) */
    uint32_t panic_others;      /* enum usc_panic_others, checked */
    uint64_t heartbeat_ts;      /* timestamp of the guest's last tick */
    uint32_t metrics_count;     /* <= metrics capacity */
    uint32_t threads_used;      /* <= threads capacity */
    uint32_t tracepoints_count; /* <= tracepoints capacity */
    uint64_t log_head;          /* bytes ever written to the log */
};

struct usc_agent_metric {
    char name[USC_NAME_MAX];
    char unit[USC_UNIT_MAX]; /* "" when unitless */
    uint32_t kind;           /* enum usc_metric_kind, checked */
    uint64_t value;          /* a gauge's is an int64_t in two's complement */
};

struct usc_agent_thread {
    uint32_t slot;  /* index in the guest's thread table */
    uint32_t id;    /* the unikernel's thread id */
    uint32_t state; /* enum usc_thread_state, never FREE */
    uint32_t vcpu;  /* < the header's max_vcpus */
    uint32_t flags;
    uint64_t cpu_time;
    uint64_t switches;
    uint64_t last_switch_ts;
    uint64_t wait_obj;
    char name[USC_NAME_MAX];
    struct usc_saved_regs regs; /* meaningful when state != RUNNING */
};

/* One vCPU's entry of the agent's vCPU table. */
struct usc_agent_vcpu {
    uint32_t vcpu;      /* its index, checked equal to the entry's */
    uint32_t state;     /* enum usc_vcpu_state, checked */
    uint32_t thread_id; /* agent thread it runs, 0: idle */
    uint64_t heartbeat_ts;
    uint64_t ticks;
    uint64_t busy_time; /* ticks it ran threads, up to since */
    uint64_t since;     /* its last switch; busy since then if thread_id */
    uint64_t switches;
};

/*
 * Scan (pm) page by page for a live control block: magic at offset 0, ABI
 * version, size, header size and checksum right, and self_paddr equal to
 * the page (a copy elsewhere is stale). Stores the lowest such page's
 * address in (*cb_paddr). Returns 0, or -ENOENT if there is none.
 */
int usc_agent_find(const struct usc_physmem *pm, uint64_t *cb_paddr);

/*
 * Check a copy (cb) of a page of guest memory for a control block of our
 * ABI: magic, version, size, header size and checksum, wherever it was
 * found (its self_paddr is the caller's to compare with that). Returns 0;
 * -ENOENT for no magic; -EPROTONOSUPPORT; -EINVAL.
 */
int usc_agent_check_block(const struct usc_control_block *cb);

/*
 * Open the agent whose control block is at (cb_paddr) of (pm), or the one
 * usc_agent_find finds when (cb_paddr) is USC_AGENT_SCAN. Checks the block
 * as usc_agent_find does, then the name, build-id length and max_vcpus,
 * and every table descriptor against the limits above (the log a power of
 * two, at most one panic record). (pm) is borrowed and must outlive the
 * handle; stores a new handle in (*out), freed with usc_agent_close.
 * Returns 0; -ENOENT for no magic there (or none found); -ESTALE for a
 * stale copy; -EPROTONOSUPPORT; -EINVAL; -EFAULT; -ENOMEM.
 */
int usc_agent_open(const struct usc_physmem *pm, uint64_t cb_paddr,
                   struct usc_agent **out);

/* Free (a); NULL is a no-op. */
void usc_agent_close(struct usc_agent *a);

/* Guest-physical address of (a)'s control block. */
uint64_t usc_agent_paddr(const struct usc_agent *a);

/*
 * The validated header of (a), owned by (a): its name is NUL-terminated,
 * build_id_len <= USC_BUILD_ID_MAX, 1 <= max_vcpus <= USC_AGENT_MAX_VCPUS.
 * The live part of the copy is zero: read it with usc_agent_status.
 */
const struct usc_control_block *usc_agent_header(const struct usc_agent *a);

/*
 * Read (a)'s live state into (st), after checking the header still is the
 * one opened. Returns 0; -ESTALE if the header changed (the guest rebooted
 * or overwrote it: open it again); -EINVAL for a state or count out of
 * range; -EFAULT.
 */
int usc_agent_status(struct usc_agent *a, struct usc_agent_status *st);

/*
 * Seconds from (a)'s boot to the heartbeat in (st); 0 when the guest gave
 * no timestamp frequency or its heartbeat precedes its boot.
 */
double usc_agent_uptime(const struct usc_agent *a,
                        const struct usc_agent_status *st);

/*
 * Copy (a)'s published metrics, at most (cap), into (out) and their number
 * into (*n). The header's metrics.capacity is always enough. Returns 0;
 * -ENOSPC if more than (cap) were published (the first cap are stored);
 * -EINVAL for a count above capacity, a bad kind or unterminated name or
 * unit; -EFAULT.
 */
int usc_agent_metrics(struct usc_agent *a, struct usc_agent_metric *out,
                      size_t cap, size_t *n);

/*
 * Copy (a)'s threads, at most (cap), into (out) and their number into
 * (*n): every slot below threads_used that is not FREE, each copied under
 * its sequence counter. The header's threads.capacity is always enough.
 * Returns 0; -ENOSPC if there were more than (cap) (the first cap are
 * stored); -EINVAL for threads_used above capacity, a bad state or vCPU or
 * an unterminated name; -EAGAIN; -EFAULT.
 */
int usc_agent_threads(struct usc_agent *a, struct usc_agent_thread *out,
                      size_t cap, size_t *n);

/*
 * As usc_agent_threads, but a slot the reader refuses (a state or vCPU
 * out of range, an unterminated name) is left out on its own instead of
 * failing the table: the others are then read one by one, as
 * usc_agent_thread_at does. The refused slots' indices go to (bad) (NULL:
 * not wanted; at most (cap)) and their count to (*nbad). Returns 0, or
 * usc_agent_threads' other errors.
 */
int usc_agent_threads_salvage(struct usc_agent *a, struct usc_agent_thread *out,
                              size_t cap, size_t *n, uint32_t *bad,
                              size_t *nbad);

/*
 * Copy thread slot (slot) of (a) into (out), for callers that want the
 * other threads when one slot is corrupt or in flux. A slot whose sequence
 * counter never settles (a guest stopped while it rewrote the slot) is
 * copied as it stands, checked like any other, with (*settled) set to 0;
 * else (*settled) is 1. Returns 0; -ENOENT for a FREE slot; -ERANGE for a
 * slot beyond the table; -EINVAL for a bad state or vCPU or an
 * unterminated name; -EFAULT.
 */
int usc_agent_thread_at(struct usc_agent *a, uint32_t slot,
                        struct usc_agent_thread *out, int *settled);

/*
 * Number of entries in (a)'s vCPU table (0: an agent without one), at
 * most the header's max_vcpus (checked at open).
 */
uint32_t usc_agent_nvcpus(const struct usc_agent *a);

/*
 * Copy entry (vcpu) of (a)'s vCPU table into (out), under its sequence
 * counter; one that never settles is taken as it stands, checked, with
 * (*settled) 0 (else 1). Returns 0; -ERANGE for (vcpu) beyond the table
 * (or no table); -EINVAL for an entry naming another vCPU or a bad state;
 * -EFAULT.
 */
int usc_agent_vcpu_at(struct usc_agent *a, uint32_t vcpu,
                      struct usc_agent_vcpu *out, int *settled);

/*
 * Copy the newest bytes of (a)'s console log, at most (cap), into (buf)
 * (not NUL-terminated), their number into (*len) and the log position
 * they end at into (*head) (may be NULL). Bytes the guest may have
 * overwritten during the copy are dropped from the front, so (*len) can
 * be less than min(cap, ring capacity, head) while the guest logs fast.
 * An absent log gives 0 bytes. Returns 0; -ESTALE if the log head went
 * backwards (the guest rebooted); -EFAULT.
 */
int usc_agent_log(struct usc_agent *a, char *buf, size_t cap, size_t *len,
                  uint64_t *head);

/*
 * Copy (a)'s panic record into (out), under its sequence counter. Returns
 * 0; -ENOENT if the guest has not panicked (or has no panic record);
 * -EINVAL for an unterminated reason or a bad vCPU; -EAGAIN; -EFAULT.
 */
int usc_agent_panic(struct usc_agent *a, struct usc_panic *out);

/*
 * Does the panic record (p) carry a register frame? A panic recorded
 * without one (usca_panic(reason, NULL), which the agent's API allows)
 * has all its registers zero.
 */
int usc_panic_has_frame(const struct usc_panic *p);

/*
 * The registers of the thread that panicked, into (out): the record's
 * frame when it has one (returns 1); else (vcpu), the registers of the
 * vCPU it ran on (p->vcpu), which then sits in usca_panic's halt loop,
 * called from the function that panicked (returns 0); (vcpu) may be NULL
 * when the record has a frame. Every tool takes a panicked thread's
 * registers from here.
 */
int usc_panic_regs(const struct usc_panic *p, const struct usc_regs *vcpu,
                   struct usc_regs *out);

#endif /* USC_AGENT_READER_H */
