/* The QEMU backend's private state, shared by its QMP and gdbstub halves. */
#ifndef USC_BACKEND_QEMU_H
#define USC_BACKEND_QEMU_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "../backend.h"
#include "../physmem.h"
#include "../qmp.h"
#include "../rsp.h"

#define QEMU_MAX_VCPUS 256
#define QEMU_MAX_BREAKS 64
#define QEMU_NREGS 33 /* struct usc_regs members we fill, rax .. efer */
#define QEMU_QOM_MAX 64

struct qemu_break {
    enum usc_break_type type;
    uint64_t addr, len;
};

/* Where one register lies in the stub's 'g' packet. */
struct qemu_reg_slot {
    int64_t off;   /* byte offset, -1 when the stub does not send it */
    uint32_t size; /* bytes */
};

struct qemu {
    char name[USC_TARGET_NAME_MAX];
    char qmp_path[PATH_MAX]; /* "" for a guest known by its RAM file alone */
    char gdb_path[PATH_MAX]; /* "" when QEMU's stub was not given */
    struct usc_ramfile *ram; /* NULL without a RAM file */
    const struct usc_physmem *pm;
    pid_t pid; /* QEMU's, -1 when unknown */
    uint64_t mem_bytes, phys_end;
    uint32_t nvcpus;
    int64_t vcpu_tid[QEMU_MAX_VCPUS]; /* host thread of each vCPU, or -1 */
    char vcpu_qom[QEMU_MAX_VCPUS][QEMU_QOM_MAX];
    int exits_known;   /* -1 not asked yet, 0 the accelerator has none, 1 */
    int found_running; /* the guest ran when we opened it */
    int touched;       /* we held its stub since (a pause is not undone) */

    /* QEMU's gdbstub, while we hold it */
    struct usc_rsp *rsp;
    int running;      /* a continue or a step is in flight on rsp */
    int stepping;     /* ... and it is a step */
    uint32_t hg_vcpu; /* vCPU + 1 selected by 'Hg' on rsp, 0 when none */
    int stop_pending; /* (stop) not yet reported by wait_stop */
    int stop_valid;   /* (stop) is the stub's last word */
    struct usc_stop_event stop;

    /*
     * What the stub is like, set by whoever opens it (QEMU's: all 0; see
     * proc.c for other VMMs' stubs).
     */
    int stub_hold;         /* one client, once: keep the connection */
    int stub_waits;        /* a stop at connect is a guest waiting for us */
    int stub_no_interrupt; /* deaf while the guest runs: it cannot pause */

    /* learnt from the stub once, kept across connections */
    int single_thread; /* no thread packets: one thread, no 'H' */
    int vcont;         /* 0 not asked, 1 vCont works, -1: 'c' and 's' */
    int layout_ok;
    struct qemu_reg_slot regs[QEMU_NREGS];
    uint32_t nthreads;
    int64_t thread_pid[QEMU_MAX_VCPUS], thread_tid[QEMU_MAX_VCPUS];

    size_t nbreaks;
    struct qemu_break breaks[QEMU_MAX_BREAKS];

    char pkt[USC_RSP_PACKET_MAX + 1]; /* packet scratch */
    unsigned char bytes[USC_RSP_PACKET_MAX / 2];
};

/* How long one exchange with QEMU may take before we call it hung. */
#define QEMU_TIMEOUT_MS 3000

/* ---- qemu.c: QMP ----------------------------------------------------- */

/* A fresh QMP connection to (qm)'s monitor in (*out); see usc_qmp_connect. */
int usc_qemu_qmp_open(struct qemu *qm, struct usc_qmp **out);

/*
 * Run (cmd) with (args) (borrowed, may be NULL) on a connection of its own,
 * storing the reply's value in (*ret) when not NULL. Returns 0 or a
 * negative errno (usc_qmp_execute's, or the connection's).
 */
int usc_qemu_qmp_run(struct qemu *qm, const char *cmd, json_t *args,
                     json_t **ret);

/* The run state QMP reports, over (q) or, when NULL, a connection of its
 * own. A monitor nobody listens on is USC_VM_DEAD. */
int usc_qemu_qmp_state(struct qemu *qm, struct usc_qmp *q,
                       enum usc_vm_state *state);

/*
 * 0 unless QMP says another client holds QEMU's stub (-EBUSY). Connecting
 * then would be worse than failing: QEMU 7.2 accepts a connection left in
 * its backlog once the holder leaves, which stops the guest for good.
 */
int usc_qemu_qmp_stub_free(struct qemu *qm);

/* The stop event a guest stopped in run state (state) stands for. */
void usc_qemu_state_event(const struct qemu *qm, enum usc_vm_state state,
                          struct usc_stop_event *ev);

/* ---- qemu_stub.c: QEMU's gdbstub ------------------------------------- */

/*
 * Hold QEMU's stub with the guest stopped; (*was_running) is set when it ran
 * just before, so that usc_qemu_stub_give_back runs it again. Returns 0;
 * -ENOTSUP without a stub socket; or the connection's error.
 */
int usc_qemu_stub_borrow(struct qemu *qm, int *was_running);

/*
 * Done with what usc_qemu_stub_borrow gave: when (was_running), run the guest
 * again, keeping the stub while breakpoints exist, else detaching.
 */
int usc_qemu_stub_give_back(struct qemu *qm, int was_running);

/* Close the stub after an error on it; our breakpoint list is kept, since
 * QEMU keeps them. */
void usc_qemu_stub_fail(struct qemu *qm);

/*
 * Let go of the stub: remove our breakpoints (connecting if need be), then
 * detach so the guest runs when (run), else just close. No-op without one.
 */
void usc_qemu_stub_release(struct qemu *qm, int run);

/* Continue every vCPU through the held stub (a continue in flight). */
int usc_qemu_stub_continue(struct qemu *qm);

/* Stop a continue in flight with the interrupt byte; its stop is kept in
 * (qm->stop) for wait_stop. */
int usc_qemu_stub_interrupt(struct qemu *qm);

/* Wait up to (timeout_ms) (-1: forever) for the stop of a continue in
 * flight, into (ev). Returns 0, -ETIMEDOUT, -EINTR or an error. */
int usc_qemu_stub_wait(struct qemu *qm, int timeout_ms,
                       struct usc_stop_event *ev);

/* The backend members served through the stub. */
int usc_qemu_stub_get_regs(void *priv, uint32_t vcpu, struct usc_regs *regs);
int usc_qemu_stub_set_regs(void *priv, uint32_t vcpu,
                           const struct usc_regs *regs);
int usc_qemu_stub_insert_break(void *priv, enum usc_break_type type,
                               uint64_t addr, uint64_t len);
int usc_qemu_stub_remove_break(void *priv, enum usc_break_type type,
                               uint64_t addr, uint64_t len);
int usc_qemu_stub_step(void *priv, uint32_t vcpu);

/* Read (rbuf) or write (wbuf) (len) bytes at guest-physical (paddr)
 * through the stub, whose m/M packets QEMU makes physical on request. */
int usc_qemu_stub_phys(struct qemu *qm, uint64_t paddr, void *rbuf,
                       const void *wbuf, size_t len);

#endif /* USC_BACKEND_QEMU_H */
