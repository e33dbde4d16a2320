/* The inside of a unigdb session, shared by the files that serve packets. */
#ifndef UNIGDB_STUB_H
#define UNIGDB_STUB_H

#include <stddef.h>
#include <stdint.h>

#include "agent_reader.h"
#include "packet.h"
#include "regs.h"
#include "session.h"
#include "target.h"

/* gdb's signal numbers in stop replies (its own, not the host's). */
#define GDB_SIGNAL_INT 2
#define GDB_SIGNAL_ILL 4
#define GDB_SIGNAL_TRAP 5
#define GDB_SIGNAL_ABRT 6
#define GDB_SIGNAL_FPE 8
#define GDB_SIGNAL_BUS 10
#define GDB_SIGNAL_SEGV 11

/* A handler's return: its reply is in s->reply, or none is due (the guest
 * was resumed: the stop reply comes later). */
#define REPLY 0
#define NO_REPLY 1

/* One thread as gdb sees it. */
struct unigdb_thread {
    int64_t tid;   /* gdb's thread id, > 0 */
    int agent;     /* 0: a vCPU; 1: a thread of the guest's agent */
    uint32_t vcpu; /* the vCPU; an agent thread's: where it runs or ran */
    int live;      /* shows vCPU (vcpu)'s registers: a vCPU, or the agent
                      thread running on it */
    int panicked;  /* shows the registers of the agent's panic record */
    struct usc_agent_thread at; /* agent threads only */
};

/* A breakpoint or watchpoint gdb asked us to plant. */
struct unigdb_point {
    enum usc_break_type type;
    uint64_t addr, len;
};

/* The last stop, as '?' and the stop reply tell it. */
struct unigdb_stop {
    int exited;  /* the guest is gone: "W00" */
    int signal;  /* gdb signal number */
    int64_t tid; /* the thread that stopped */
    int swbreak, hwbreak;
    int watch_type; /* 0, or 2/3/4: watch, rwatch, awatch */
    uint64_t watch_addr;
};

struct unigdb_session {
    struct usc_target *t;
    const struct unigdb_config *cfg;
    struct usc_target_info info; /* as it was at attach */
    uint32_t nvcpus;             /* at least 1 */
    int ctrl;                    /* we may write, resume and plant */
    int touched;                 /* we stopped the guest or hold it */

    /* the wire */
    struct unigdb_reader rd;
    struct unigdb_buf out;   /* framed bytes for gdb */
    struct unigdb_buf reply; /* the payload being built */
    struct unigdb_buf last;  /* the last packet framed, for a '-' */
    int noack;
    int binary_upload; /* gdb offered it: 'x' gets binary replies */

    /* run state */
    int running;     /* a continue or step in flight */
    int interrupted; /* gdb sent 0x03 during it */
    int panic_stop;  /* we stopped the guest because its agent panicked */
    int done;
    /* QEMU holds the guest in a state it cannot run from (shutdown,
     * guest-panicked, internal-error); USC_VM_UNKNOWN when it can run */
    enum usc_vm_state stuck;
    struct unigdb_stop stop;
    int64_t g_tid; /* thread of 'g', 'p', memory: Hg; 0 = the stop's */

    /* vCPU registers, read once per stop */
    struct usc_regs *vregs;
    unsigned char *vregs_ok;

    /* the guest's agent, when it has one */
    struct usc_agent *agent;
    int64_t agent_tried_ms; /* when a scan last failed */
    /* without vCPU registers (a VMM process read without its stub): the
     * page tables found through the agent's block, once */
    int root_tried;
    uint64_t root;        /* 0: none found */
    uint32_t agent_state; /* enum usc_run_state, last seen */
    int have_panic;
    struct usc_panic panic;
    struct usc_agent_thread *athreads; /* last good copy of its table */
    size_t nathreads, athreads_cap;

    /* gdb's view of threads, rebuilt at each stop */
    struct unigdb_thread *threads;
    size_t nthreads, threads_cap;
    size_t next_info; /* qsThreadInfo position */

    /* what we planted */
    struct unigdb_point *points;
    size_t npoints, points_cap;

    /* qXfer:threads:read works on one snapshot from offset 0 on */
    struct unigdb_buf threads_xml;

    unsigned char *scratch; /* UNIGDB_PACKET_MAX bytes for memory data */
};

/* ---- replies (session.c) ------------------------------------------------ */

/* Replace the reply with (text). Returns REPLY. */
int reply_str(struct unigdb_session *s, const char *text);
/* Reply "Enn" for the negative errno (err). Returns REPLY. */
int reply_errno(struct unigdb_session *s, int err);
/* Reply "E." followed by (text), gdb's form of an error with a message. */
int reply_msg(struct unigdb_session *s, const char *text);
/* Frame (len) bytes of (data) into the output now, ahead of the reply
 * (qRcmd's 'O' packets). Returns 0 or -ENOMEM. */
int emit_packet(struct unigdb_session *s, const void *data, size_t len);
/* Frame the (len) bytes at (data) as a packet of their hex digits now,
 * as the reply ('m'): the handler then returns NO_REPLY. */
int emit_hex_packet(struct unigdb_session *s, const void *data, size_t len);
/* Put (text) on gdb's console now, as an 'O' packet. Returns 0 or
 * -ENOMEM. */
int emit_console(struct unigdb_session *s, const char *text);
/* Log a line on stderr when verbose. */
void stub_log(const struct unigdb_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- threads (threads.c) ------------------------------------------------ */

/* Rebuild s->threads from the vCPUs and the agent's table. Returns 0 or
 * -ENOMEM; agent trouble only leaves agent threads out. */
int threads_refresh(struct unigdb_session *s);
/* The thread (tid), or NULL. */
const struct unigdb_thread *thread_find(const struct unigdb_session *s,
                                        int64_t tid);
/* The thread that registers and memory are read for: Hg's, or the stop's. */
const struct unigdb_thread *thread_current(const struct unigdb_session *s);
/* Registers of (th) into (set). Returns 0 or the target's error. */
int thread_regs(struct unigdb_session *s, const struct unigdb_thread *th,
                struct unigdb_regset *set);
/* gdb's thread id of agent thread (id). */
int64_t thread_agent_tid(const struct unigdb_session *s, uint32_t id);
/* Append (th)'s name and its description for gdb to (name) and (extra). */
int thread_describe(const struct unigdb_session *s,
                    const struct unigdb_thread *th, struct unigdb_buf *name,
                    struct unigdb_buf *extra);
/* vCPU (vcpu)'s registers, read at most once per stop. */
int vcpu_regs(struct unigdb_session *s, uint32_t vcpu,
              const struct usc_regs **regs);
/* Forget registers read before the guest ran again. */
void vcpu_regs_forget(struct unigdb_session *s);
/* Look at the agent again: reopen it after a reboot, find one that
 * appeared, read its state and panic record. */
void agent_refresh(struct unigdb_session *s);
/* gdb's signal for the agent's panic record. */
int panic_signal(const struct usc_panic *p);

/* ---- memory (memory.c) -------------------------------------------------- */

/*
 * Read up to (len) bytes at guest-virtual (addr) as (vcpu) sees it into
 * (buf), stopping at the first unreadable page: (*done) bytes were read.
 * Returns 0 when at least one byte was, else the error (-EFAULT).
 */
int mem_read(struct unigdb_session *s, uint32_t vcpu, uint64_t addr, void *buf,
             size_t len, size_t *done);
/* Write (len) bytes at guest-virtual (addr), all or an error. */
int mem_write(struct unigdb_session *s, uint32_t vcpu, uint64_t addr,
              const void *buf, size_t len);

/* ---- monitor commands -------------------------------------------------- */

/*
 * monitor dump FILE ADDR LEN (args, split here): write guest memory at
 * (ADDR) as the current thread's vCPU sees it into a new file (0600), whole
 * or not at all; what happened goes to (o) for gdb's console. Returns 0,
 * or -ENOMEM.
 */
int monitor_dump(struct unigdb_session *s, char *args, struct unigdb_buf *o);

/* ---- packet handlers ---------------------------------------------------- */

/* A handler gets the packet after its name: (arg), (len) bytes. */
typedef int (*handler_fn)(struct unigdb_session *s, const char *arg,
                          size_t len);

/* query.c */
int h_supported(struct unigdb_session *s, const char *arg, size_t len);
int h_noack(struct unigdb_session *s, const char *arg, size_t len);
int h_xfer_features(struct unigdb_session *s, const char *arg, size_t len);
int h_xfer_threads(struct unigdb_session *s, const char *arg, size_t len);
int h_thread_info_first(struct unigdb_session *s, const char *arg, size_t len);
int h_thread_info_next(struct unigdb_session *s, const char *arg, size_t len);
int h_thread_extra(struct unigdb_session *s, const char *arg, size_t len);
int h_current_thread(struct unigdb_session *s, const char *arg, size_t len);
int h_attached(struct unigdb_session *s, const char *arg, size_t len);
int h_symbol(struct unigdb_session *s, const char *arg, size_t len);
int h_set_thread(struct unigdb_session *s, const char *arg, size_t len);
int h_thread_alive(struct unigdb_session *s, const char *arg, size_t len);

/* data.c: registers and memory */
int h_read_regs(struct unigdb_session *s, const char *arg, size_t len);
int h_write_regs(struct unigdb_session *s, const char *arg, size_t len);
int h_read_reg(struct unigdb_session *s, const char *arg, size_t len);
int h_write_reg(struct unigdb_session *s, const char *arg, size_t len);
int h_read_mem(struct unigdb_session *s, const char *arg, size_t len);
int h_write_mem(struct unigdb_session *s, const char *arg, size_t len);
int h_read_mem_binary(struct unigdb_session *s, const char *arg, size_t len);
int h_write_mem_binary(struct unigdb_session *s, const char *arg, size_t len);

/* run.c: run control */
int h_stop_reason(struct unigdb_session *s, const char *arg, size_t len);
int h_vcont_query(struct unigdb_session *s, const char *arg, size_t len);
int h_vcont(struct unigdb_session *s, const char *arg, size_t len);
int h_continue(struct unigdb_session *s, const char *arg, size_t len);
int h_continue_signal(struct unigdb_session *s, const char *arg, size_t len);
int h_step(struct unigdb_session *s, const char *arg, size_t len);
int h_step_signal(struct unigdb_session *s, const char *arg, size_t len);
int h_insert_point(struct unigdb_session *s, const char *arg, size_t len);
int h_remove_point(struct unigdb_session *s, const char *arg, size_t len);
int h_detach(struct unigdb_session *s, const char *arg, size_t len);
int h_kill(struct unigdb_session *s, const char *arg, size_t len);
int h_vkill(struct unigdb_session *s, const char *arg, size_t len);

/* monitor.c */
int h_monitor(struct unigdb_session *s, const char *arg, size_t len);

/* run.c, for the session */
/* Queue the stop reply for s->stop. Returns 0 or -ENOMEM. */
int stop_reply(struct unigdb_session *s, struct unigdb_buf *out);
/* Turn the target's stop event (ev) into s->stop. */
void stop_from_event(struct unigdb_session *s, const struct usc_stop_event *ev);
/* Remove every point we planted; the first error, or 0. */
int points_remove_all(struct unigdb_session *s);
/* Let a guest we (or gdb) stopped run again, as gdb leaves; one that
 * stopped by itself and cannot run stays as it is. Returns 0 or the
 * target's error. */
int resume_on_leaving(struct unigdb_session *s);

#endif /* UNIGDB_STUB_H */
