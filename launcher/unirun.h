/* unirun's parts: options, QEMU's command line, boot, list and stop. */
#ifndef UNIRUN_H
#define UNIRUN_H

#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "crash.h"
#include "target.h"

/* Exit statuses of unirun itself (a booted guest's own status aside). */
#define UNIRUN_EXIT_FAIL 1
#define UNIRUN_EXIT_USAGE 2

/* How long a new QEMU may take to answer on QMP before we give up. */
#define UNIRUN_START_TIMEOUT_MS 15000

/*
 * After a write to the exit port, how long a guest without an agent's
 * word gets to stop by itself (Solo5 and Unikraft power off, or signal a
 * panic, right after it) before unirun stops it.
 */
#define UNIRUN_SETTLE_MS 2000

/* The I/O port a guest writes its exit status to (isa-debug-exit's). */
#define UNIRUN_EXIT_PORT 0x501

enum unirun_mode {
    UNIRUN_BOOT = 0,
    UNIRUN_LIST,
    UNIRUN_STOP,
    UNIRUN_HELP,
    UNIRUN_VERSION,
};

enum unirun_accel {
    UNIRUN_ACCEL_AUTO = 0,
    UNIRUN_ACCEL_TCG,
    UNIRUN_ACCEL_KVM,
};

struct unirun_opts {
    enum unirun_mode mode;
    const char *name; /* --name, or --stop's NAME; NULL when not given */
    unsigned memory_mib;
    unsigned vcpus;
    enum unirun_accel accel;
    int detach;
    int console;
    int keep; /* a crashed guest stays, held, for a live look */
    const char *image;
    char *kernel_args; /* the words after "--" joined by spaces, or NULL */
};

/*
 * Parse (argc, argv) into (o). Returns 0; or UNIRUN_EXIT_USAGE after
 * printing one line on stderr. (o)->kernel_args is freed by
 * unirun_opts_free.
 */
int unirun_options_parse(int argc, char **argv, struct unirun_opts *o);
void unirun_opts_free(struct unirun_opts *o);

/* Print "unirun: (context): (reason...)" as one line on stderr. */
void unirun_error(const char *context, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Usage text, for --help. */
void unirun_usage(void);

/* ---- QEMU's command line (qemu_cmd.c) ----------------------------------- */

/* QEMU's argv, with the strings it owns. */
struct unirun_qemu_cmd {
    char **argv; /* NULL-terminated */
    size_t argc, cap;
};

/*
 * Build the command line booting (o)->image as guest (name) in its run
 * directory folder, with accelerator (accel) ("tcg" or "kvm"), paused
 * (-S) so that the guest runs only once its tools can see it. The guest's
 * writes to UNIRUN_EXIT_PORT go, their low byte, to the pipe (exit_fd);
 * QEMU's own events to the monitor on the connected socket (monitor_fd);
 * both are QEMU's once it runs. A guest that stops (powers off, resets,
 * panics) is held, not ended. Returns 0 or a negative errno.
 */
int unirun_qemu_cmd(const struct unirun_opts *o, const char *name,
                    const char *image, const char *accel, int exit_fd,
                    int monitor_fd, struct unirun_qemu_cmd *cmd);
void unirun_qemu_cmd_free(struct unirun_qemu_cmd *cmd);

/* "kvm" when /dev/kvm can be opened and answers, else "tcg". */
const char *unirun_accel_auto(void);

/* ---- one guest's boot (boot.c) and its supervision (supervise.c) ------- */

struct unirun_boot {
    char image[PATH_MAX]; /* absolute */
    char boot[16];        /* "pvh" or "multiboot" */
    char debug[PATH_MAX]; /* a wrapper's X.dbg, or "" */
    char name[USC_TARGET_NAME_MAX];
    char log[PATH_MAX]; /* QEMU's stderr */
    const char *accel;
    struct unirun_qemu_cmd cmd;
    pid_t pid;     /* QEMU while it is ours to kill, else 0 */
    pid_t qemu;    /* QEMU's pid as guest.json records it */
    int created;   /* the guest's folder is ours to remove */
    int exit_fd;   /* the exit port's pipe, our end (-1: none) */
    int exit_qfd;  /* ... QEMU's end, until QEMU has it */
    int mon_fd;    /* QEMU's second monitor, our end */
    int mon_qfd;   /* ... QEMU's end */
    int lock_fd;   /* USC_RUNDIR_LOCK, locked while we supervise */
    int notify_fd; /* --detach: tells the waiting parent it started */
    time_t start;
};

/*
 * Supervise guest (b), whose QEMU runs and whose guest.json is written,
 * over its monitor (q, which this takes): hold a guest that stops, judge
 * its end, keep the core of a crash, then end QEMU (unless --keep holds a
 * crashed guest), and record how it ended. Returns unirun's exit status.
 */
struct usc_qmp;
int unirun_supervise(const struct unirun_opts *o, struct unirun_boot *b,
                     struct usc_qmp *q);

/*
 * Report QEMU's own last message from its log (log), without its
 * "PROGRAM: " prefix, as "unirun: qemu: ..."; returns 0 when the log had
 * none.
 */
int unirun_report_qemu(const char *log, const char *program);

/* Write guest.json for (b) as booted with (o), with (end) (may be NULL)
 * laid over it: its state, status, reason and core. */
struct usc_guest_info;
int unirun_write_info(const struct unirun_opts *o, const struct unirun_boot *b,
                      const struct usc_guest_info *end);

/* The signals of a run: forwarded to QEMU while (forward_now) says so,
 * else left to the supervisor, which reads them from unirun_sig_fd. */
extern volatile pid_t unirun_qemu_pid;
extern volatile sig_atomic_t unirun_forward_now;
extern volatile sig_atomic_t unirun_forwarded;  /* last signal forwarded */
extern volatile sig_atomic_t unirun_signals;    /* SIGINT/TERM/HUP seen */
extern volatile sig_atomic_t unirun_stop_asked; /* SIGUSR1 (--stop) */
extern volatile int unirun_cancel;              /* a second signal: give up
                                                   the core being written */
extern int unirun_sig_fd;                       /* readable on a signal */

/* ---- keeping a crash's core (keep.c) ------------------------------------- */

/*
 * Write the core of stopped guest (b) into the cores folder, record (v)
 * beside it, prune the guest's old cores, and store its path in (core).
 * Falls back to a core of RAM alone when QEMU is gone. Returns 0 or a
 * negative errno (reported on stderr).
 */
int unirun_keep_core(struct unirun_boot *b, const struct usc_crash_verdict *v,
                     char *core, size_t cap);

/* ---- the jobs ----------------------------------------------------------- */

/* Boot (o)->image; returns unirun's exit status (the guest's, foreground). */
int unirun_boot(const struct unirun_opts *o);

/* Print the guest table; returns the exit status. */
int unirun_list(void);

/* Stop guest (name) and remove its folder; returns the exit status. */
int unirun_stop(const char *name);

/* Milliseconds on the monotonic clock. */
int64_t unirun_now_ms(void);

#endif /* UNIRUN_H */
