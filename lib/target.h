/* Naming and opening a guest: the TARGET spec every tool takes, and its API. */
#ifndef USC_TARGET_H
#define USC_TARGET_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <uniscope/abi.h>

#include "physmem.h"

/*
 * TARGET forms (DESIGN.md), parsed in one place:
 *   NAME                                   a guest started by unirun
 *   qemu:QMP_SOCKET[,mem=PATH][,gdb=SOCKET] any QEMU; "qemu:,mem=PATH"
 *                                          is a guest known by its RAM file
 *                                          alone (read-only, agent data)
 *   xen:DOMID | xen:NAME                   a Xen domain
 *   core:PATH, or a path to an ELF core    a core file, read-only
 *   pid:PID[,gdb=ADDR][,ram=HVA:SIZE[:GPA]]...
 *                                          any VMM process: RAM through
 *                                          /proc/PID/mem, control through
 *                                          its own gdb stub at ADDR
 *                                          ("HOST:PORT", "unix:PATH")
 */
enum usc_target_kind {
    USC_TARGET_NAME = 1,
    USC_TARGET_QEMU,
    USC_TARGET_XEN,
    USC_TARGET_CORE,
    USC_TARGET_PID,
};

#define USC_TARGET_NAME_MAX 64
/* ram= regions one pid: target may name. */
#define USC_TARGET_RAM_MAX 8

/* pid:'s ram=HVA:SIZE[:GPA]: guest-physical GPA (default 0) onwards lies
 * at host virtual HVA of the VMM, SIZE bytes. */
struct usc_target_ram {
    uint64_t hva, size, gpa;
};

struct usc_target_spec {
    enum usc_target_kind kind;
    char name[USC_TARGET_NAME_MAX]; /* NAME, xen:NAME; unirun guest name */
    char qmp[PATH_MAX];             /* qemu: QMP socket, "" if none */
    char mem[PATH_MAX];             /* qemu: RAM file, "" if none */
    char gdb[PATH_MAX];             /* qemu: QEMU's gdbstub socket, "" if none;
                                       pid: the VMM's stub, a unix socket's path
                                       or "tcp:HOST:PORT" */
    char core[PATH_MAX];            /* core: the file */
    int domid;                      /* xen: domain id, -1 when by name */
    int pid;                        /* pid: the VMM process */
    size_t nram; /* pid: ram= regions given, 0: found by scanning */
    struct usc_target_ram ram[USC_TARGET_RAM_MAX];
};

/*
 * Parse (text) into (spec) without touching the system, except that a
 * bare path naming an existing file is taken as a core file. Returns 0, or
 * -EINVAL for text that is none of the forms (bad name, empty socket, an
 * unknown qemu option, a domid out of range).
 */
int usc_target_spec_parse(const char *text, struct usc_target_spec *spec);

/*
 * Resolve a NAME spec through the run directory into the qemu spec of that
 * guest (its qmp.sock, gdb.sock and mem); other kinds are left as they
 * are. Returns 0, or -ENOENT when no guest of that name exists.
 */
int usc_target_spec_resolve(struct usc_target_spec *spec);

/* Run state of a guest as the hypervisor sees it. */
enum usc_vm_state {
    USC_VM_UNKNOWN = 0,
    USC_VM_RUNNING,
    USC_VM_PAUSED,   /* stopped by a user or tool */
    USC_VM_DEBUG,    /* stopped by the debugger (breakpoint, step) */
    USC_VM_PANICKED, /* the hypervisor saw a guest panic */
    USC_VM_SHUTDOWN, /* the guest shut down or exited */
    USC_VM_DEAD,     /* the hypervisor process is gone */
    USC_VM_ERROR,    /* stopped on the hypervisor's internal error: its
                        memory and registers are there, it cannot run */
};

/* "running", "paused", ...: a constant string for (state). */
const char *usc_vm_state_name(enum usc_vm_state state);

struct usc_target_info {
    char name[USC_TARGET_NAME_MAX];
    char hypervisor[16]; /* "qemu", "core", "xen"; a pid: target's VMM
                            ("qemu", "firecracker", "solo5-hvt", ...) */
    uint32_t nvcpus;     /* 0 when unknown */
    uint64_t mem_bytes;  /* guest RAM size, 0 when unknown */
    uint64_t phys_end;   /* exclusive bound of guest-physical addresses */
    enum usc_vm_state state;
    int64_t pid;     /* hypervisor process, or -1 */
    int can_control; /* pause/resume/registers/breakpoints available */
};

/* Why a guest stopped (usc_target_wait_stop). */
enum usc_stop_reason {
    USC_STOP_NONE = 0,
    USC_STOP_PAUSE,      /* a pause was asked for (QMP stop, Ctrl-C) */
    USC_STOP_BREAKPOINT, /* a software or hardware breakpoint */
    USC_STOP_WATCHPOINT, /* addr says where */
    USC_STOP_STEP,       /* a single step completed */
    USC_STOP_PANIC,      /* the hypervisor saw a guest panic */
    USC_STOP_SHUTDOWN,   /* the guest cannot run any more: it shut down
                            (QEMU may hold it, readable), an internal error
                            stopped it, or its hypervisor died */
};

struct usc_stop_event {
    enum usc_stop_reason reason;
    uint32_t vcpu;  /* the vCPU that stopped, 0-based */
    uint64_t addr;  /* watchpoint data address */
    int watch_type; /* enum usc_break_type of the watchpoint */
};

/* Z-packet numbering, so a gdb stub passes types straight through. */
enum usc_break_type {
    USC_BREAK_SW = 0,
    USC_BREAK_HW = 1,
    USC_WATCH_WRITE = 2,
    USC_WATCH_READ = 3,
    USC_WATCH_ACCESS = 4,
};

#define USC_STAT_UNKNOWN UINT64_MAX

/* Hypervisor statistics of one vCPU; USC_STAT_UNKNOWN where unknown. */
struct usc_vcpu_stats {
    int64_t host_tid; /* host thread running the vCPU, or -1 */
    uint64_t cpu_ns;  /* host CPU time of that thread */
    uint64_t exits;   /* VM exits (KVM), unknown under TCG */
};

/* An open guest: a backend instance behind the operations below. */
struct usc_target;

/*
 * Open the guest named by (text) (any TARGET form; NAME is resolved
 * through the run directory), choosing the backend from its kind. Stores a
 * new handle in (*out), closed with usc_target_close. Returns 0; -EINVAL
 * for a bad spec; -ENOENT for a guest that does not exist; -ENOTSUP for a
 * backend not built in; or the backend's error (e.g. -ECONNREFUSED for a
 * dead QEMU, -EPROTO for a socket that is not QMP).
 */
int usc_target_open(const char *text, struct usc_target **out);

/* As usc_target_open, from a parsed spec. */
int usc_target_open_spec(const struct usc_target_spec *spec,
                         struct usc_target **out);

struct usc_backend_ops;

/*
 * Make a target of (priv), a backend instance the caller opened itself
 * through (ops) (a test's fake guest, a fuzzer's scripted one), so that
 * every usc_target_* operation serves it; usc_target_close then calls
 * ops->close(priv). Stores the new handle in (*out). Returns 0; -EINVAL
 * when (ops) lacks close, describe or read_phys; -ENOMEM (priv is then
 * left to the caller).
 */
int usc_target_wrap(const struct usc_backend_ops *ops, void *priv,
                    struct usc_target **out);

/*
 * Close (t): release anything borrowed from the hypervisor (QEMU's stub:
 * our breakpoints removed, the guest resumed if borrowing the stub stopped
 * it). A usc_target_pause stays in force: the caller resumes what it
 * paused. NULL is a no-op.
 */
void usc_target_close(struct usc_target *t);

/* Describe (t) now into (info). Returns 0 or a negative errno. */
int usc_target_describe(struct usc_target *t, struct usc_target_info *info);

/*
 * The guest's physical memory as a usc_physmem (for the agent reader and
 * the page walker), valid while (t) is open.
 */
const struct usc_physmem *usc_target_physmem(struct usc_target *t);

/*
 * Every operation below returns 0 or a negative errno; -ENOTSUP when the
 * backend cannot serve it (e.g. registers of a guest known by its RAM
 * file alone, writes to a core file).
 */

/* Read/write (len) bytes at guest-physical (paddr). Writes that patch code
 * go through the hypervisor so that TCG sees them. */
int usc_target_read_phys(struct usc_target *t, uint64_t paddr, void *buf,
                         size_t len);
int usc_target_write_phys(struct usc_target *t, uint64_t paddr, const void *buf,
                          size_t len);

/*
 * Write (len) bytes of data at guest-physical (paddr) straight into guest
 * RAM (the QEMU RAM file), without stopping the guest: data only (trace
 * flags, ring positions), as TCG would not see code written this way. The
 * same writes are usc_target_physmem(t)->write. -ENOTSUP where RAM is not
 * writable so (a core file, a read-only RAM file).
 */
int usc_target_write_data(struct usc_target *t, uint64_t paddr, const void *buf,
                          size_t len);

/* Read/write at guest-virtual (vaddr) as (vcpu) sees it (its CR3), through
 * the page walker; -EFAULT where a page is not mapped. */
int usc_target_read_virt(struct usc_target *t, uint32_t vcpu, uint64_t vaddr,
                         void *buf, size_t len);
int usc_target_write_virt(struct usc_target *t, uint32_t vcpu, uint64_t vaddr,
                          const void *buf, size_t len);

int usc_target_pause(struct usc_target *t);
int usc_target_resume(struct usc_target *t);

/* Current run state into (*state). */
int usc_target_run_state(struct usc_target *t, enum usc_vm_state *state);

/*
 * Wait up to (timeout_ms) (-1: forever) for the guest to stop, filling
 * (ev). Returns 0, -ETIMEDOUT, or -EINTR when interrupted by a signal.
 */
int usc_target_wait_stop(struct usc_target *t, int timeout_ms,
                         struct usc_stop_event *ev);

/* Registers of (vcpu) (0-based); the guest must be stopped to set them.
 * Reading a running guest's registers stops it briefly and resumes it. */
int usc_target_get_regs(struct usc_target *t, uint32_t vcpu,
                        struct usc_regs *regs);
int usc_target_set_regs(struct usc_target *t, uint32_t vcpu,
                        const struct usc_regs *regs);

/* Breakpoints and watchpoints at guest-virtual (addr), (len) bytes. */
int usc_target_insert_break(struct usc_target *t, enum usc_break_type type,
                            uint64_t addr, uint64_t len);
int usc_target_remove_break(struct usc_target *t, enum usc_break_type type,
                            uint64_t addr, uint64_t len);

/* Single-step (vcpu) one instruction; the stop arrives via wait_stop. */
int usc_target_step(struct usc_target *t, uint32_t vcpu);

/* Hypervisor statistics of (vcpu). */
int usc_target_vcpu_stats(struct usc_target *t, uint32_t vcpu,
                          struct usc_vcpu_stats *st);

/*
 * Where the backend itself found the agent's control block, into
 * (*cb_paddr): a pid: target finds guest RAM through it, so a reader need
 * not scan RAM again. -ENOENT when it did not find one; -ENOTSUP for
 * backends that do not look.
 */
int usc_target_agent_at(struct usc_target *t, uint64_t *cb_paddr);

struct usc_agent;

/*
 * Open (t)'s agent (agent_reader.h) in (*out): where the backend found it
 * (usc_target_agent_at), else by scanning its RAM. A backend that looked
 * and found none is not scanned again (a VMM process's RAM read page by
 * page would make it fault in, even allocate, every page). Returns what
 * usc_agent_open does.
 */
int usc_target_agent_open(struct usc_target *t, struct usc_agent **out);

/*
 * Read the (n) pieces (segs) of guest-physical memory in their order, all
 * or none: in one system call for a VMM process (process_vm_readv, which
 * copies in the order of its vectors), else one read each. Returns 0, -EFAULT
 * when a piece is outside RAM or unreadable, or -ESRCH when the guest is gone.
 */
int usc_target_read_batch(struct usc_target *t, const struct usc_phys_seg *segs,
                          size_t n);

/*
 * The first range [*start, *stop) at or after guest-physical (paddr),
 * before (end), that may hold data, all bytes before it being zeros the
 * guest never wrote (a VMM process's pages never touched: a dump skips
 * them rather than read, which would make the VMM allocate them). Returns
 * 0; -ENXIO when the rest of [paddr, end) holds none; -ENOTSUP for
 * backends that cannot tell.
 */
int usc_target_next_data(struct usc_target *t, uint64_t paddr, uint64_t end,
                         uint64_t *start, uint64_t *stop);

/* ---- Xen domains (dom0) ---------------------------------------------- */

/* One domain of the Xen host this process runs in. */
struct usc_xen_domain {
    uint32_t domid;
    char name[USC_TARGET_NAME_MAX]; /* from xenstore; "" if it has none */
    uint32_t nvcpus;
    uint64_t mem_bytes;
    enum usc_vm_state state;
    uint64_t cpu_ns; /* CPU time of all its vCPUs */
    int hvm;         /* HVM or PVH: 1; PV: 0 */
};

/*
 * The domains of the Xen host we run in, dom0 included, in domid order:
 * a malloc'd array in (*out) of (*count) entries, freed by the caller.
 * Returns 0; -ENOTSUP when uniscope was built without the Xen libraries;
 * -ENODEV when this is not a privileged domain of a Xen host (no
 * /dev/xen/privcmd or the hypervisor refuses us).
 */
int usc_xen_list_domains(struct usc_xen_domain **out, size_t *count);

#endif /* USC_TARGET_H */
