/* unirun IMAGE: boot a guest, supervised in the foreground or detached. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bootimage.h"
#include "qmp.h"
#include "rundir.h"
#include "target.h"
#include "unirun.h"

#define NAME_TRIES 16
#define NAME_STEM_MAX (USC_GUEST_NAME_LEN - 5) /* room for "-xxxx" */
#define POLL_MS 20

volatile pid_t unirun_qemu_pid;
volatile sig_atomic_t unirun_forward_now;
volatile sig_atomic_t unirun_forwarded;
volatile sig_atomic_t unirun_signals;
volatile sig_atomic_t unirun_stop_asked;
volatile int unirun_cancel;
int unirun_sig_fd = -1;
static int sig_wfd = -1;

static const int run_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGCHLD};
#define NSIGNALS (sizeof(run_signals) / sizeof(run_signals[0]))

/*
 * While the guest runs, a signal that ends a run goes straight on to QEMU
 * (which exits); once QEMU holds a stopped guest, the supervisor ends it,
 * after the core it may be writing (a second signal gives that up).
 * SIGUSR1 is unirun --stop's: QEMU is asked to quit.
 */
static void on_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;

    if (sig == SIGUSR1) {
        unirun_stop_asked = 1;
    } else if (sig != SIGCHLD) {
        unirun_signals++;
        if (unirun_forward_now && unirun_qemu_pid > 0) {
            unirun_forwarded = sig;
            kill(unirun_qemu_pid, sig);
        } else if (unirun_signals >= 2) {
            unirun_cancel = 1;
        }
    }
    if (write(sig_wfd, &c, 1) < 0) {
        /* the pipe is full: the supervisor wakes anyway */
    }
    errno = saved;
}

/* Catch (on) or default (off) the signals of a run. */
static int handle_signals(int on)
{
    struct sigaction sa;
    int fds[2];

    if (on && unirun_sig_fd < 0) {
        if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
            return -errno;
        unirun_sig_fd = fds[0];
        sig_wfd = fds[1];
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on ? on_signal : SIG_DFL;
    sa.sa_flags = on ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NSIGNALS; i++)
        sigaction(run_signals[i], &sa, NULL);
    return 0;
}

/* ---- naming ------------------------------------------------------------- */

/* The stem of a default name: the image's file name, made a valid name. */
static void name_stem(const char *image, char *stem)
{
    const char *base = strrchr(image, '/');
    const char *dot;
    size_t n = 0;

    base = base ? base + 1 : image;
    dot = strrchr(base, '.');
    if (dot == base)
        dot = NULL;
    for (; *base && base != dot && n < NAME_STEM_MAX; base++) {
        char c = *base;
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9');

        if (!n && !alnum)
            continue;
        stem[n++] = alnum || c == '.' || c == '_' ? c : '-';
    }
    stem[n] = '\0';
    if (!n)
        strcpy(stem, "guest");
}

/* Create the guest's folder under (o)->name or a fresh default (name). */
static int create_guest(const struct unirun_opts *o, const char *image,
                        char *name)
{
    char stem[NAME_STEM_MAX + 1];
    unsigned short suffix;
    int err = -EEXIST, i;

    if (o->name) {
        strcpy(name, o->name);
        return usc_rundir_guest_create(name);
    }
    name_stem(image, stem);
    for (i = 0; i < NAME_TRIES && err == -EEXIST; i++) {
        if (getrandom(&suffix, sizeof(suffix), 0) != sizeof(suffix))
            suffix = (unsigned short)(getpid() + i * 7919 + time(NULL));
        snprintf(name, USC_TARGET_NAME_MAX, "%s-%04x", stem, suffix);
        err = usc_rundir_guest_create(name);
    }
    return err;
}

/* ---- QEMU's process ----------------------------------------------------- */

/* In the child: set up and exec QEMU; tell the parent errno on failure. */
static void exec_qemu(const struct unirun_opts *o, const struct unirun_boot *b,
                      int errfd, pid_t parent)
{
    sigset_t none;
    int fd, e;

    handle_signals(0);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* The terminal's Ctrl-C reaches QEMU once, through our handler; with
     * --console QEMU reads the terminal, so must stay in front. */
    if (!o->console && !o->detach)
        setpgid(0, 0);
    /* A guest never outlives its supervisor. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(127);
    /* Its ends of the exit port and of our monitor stay open in QEMU. */
    fcntl(b->exit_qfd, F_SETFD, 0);
    fcntl(b->mon_qfd, F_SETFD, 0);
    /* QEMU's sockets, console log and stderr log: 0600. */
    umask(0177);
    fd = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0)
        dup2(fd, STDERR_FILENO);
    fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd >= 0 && !o->console)
        dup2(fd, STDIN_FILENO);
    if (fd >= 0 && o->detach)
        dup2(fd, STDOUT_FILENO);
    execvp(b->cmd.argv[0], b->cmd.argv);
    e = errno;
    if (write(errfd, &e, sizeof(e)) < 0)
        _exit(127);
    _exit(127);
}

/* Start QEMU, its pid into b->pid. Returns 0, or minus the errno of a
 * failed exec. */
static int spawn(const struct unirun_opts *o, struct unirun_boot *b)
{
    pid_t parent = getpid(), pid;
    sigset_t block, old;
    int fds[2], e = 0, status;
    ssize_t n;

    if (pipe2(fds, O_CLOEXEC) != 0)
        return -errno;
    /* No forwarding to a half-made child: signals wait until it is known. */
    sigemptyset(&block);
    for (size_t i = 0; i < NSIGNALS; i++)
        sigaddset(&block, run_signals[i]);
    sigprocmask(SIG_BLOCK, &block, &old);
    pid = fork();
    if (pid == 0)
        exec_qemu(o, b, fds[1], parent);
    if (pid > 0)
        unirun_qemu_pid = pid;
    e = pid < 0 ? errno : 0;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return -e;
    }
    /* QEMU has its ends now. */
    close(b->exit_qfd);
    close(b->mon_qfd);
    b->exit_qfd = b->mon_qfd = -1;
    /* The pipe closes on exec; an errno arrives only when exec failed. */
    do
        n = read(fds[0], &e, sizeof(e));
    while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (n == (ssize_t)sizeof(e)) {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        unirun_qemu_pid = 0;
        return -e;
    }
    b->pid = b->qemu = pid;
    return 0;
}

/* Kill QEMU, which failed us, and reap it. */
static void kill_qemu(struct unirun_boot *b)
{
    int status;

    kill(b->pid, SIGKILL);
    while (waitpid(b->pid, &status, 0) < 0 && errno == EINTR)
        ;
    b->pid = 0;
    unirun_qemu_pid = 0;
}

/*
 * Take our monitor (its greeting), wait until QMP answers on the guest's
 * own socket too (the tools'), then let the guest run (QEMU was started
 * with -S). Returns 0 with the monitor in (*q); -ECHILD when QEMU exited
 * first, with its wait status in (*wstatus); -ETIMEDOUT, the last open
 * error in (*last); or the error of resuming the guest.
 */
static int start_guest(struct unirun_boot *b, struct usc_qmp **q, int *wstatus,
                       int *last)
{
    int64_t deadline = unirun_now_ms() + UNIRUN_START_TIMEOUT_MS;
    struct usc_target *t;
    int err;

    *last = 0;
    *q = NULL;
    err = usc_qmp_connect_fd(b->mon_fd, UNIRUN_START_TIMEOUT_MS, q);
    b->mon_fd = -1; /* the connection's, whatever came of it */
    if (err) {
        *q = NULL;
        *last = err;
        /* A QEMU that failed hangs up as it exits: give it that moment. */
        for (int i = 0; i < 50 && err != -ETIMEDOUT; i++) {
            if (waitpid(b->pid, wstatus, WNOHANG) == b->pid) {
                unirun_qemu_pid = 0;
                return -ECHILD;
            }
            poll(NULL, 0, POLL_MS);
        }
        return -ETIMEDOUT;
    }
    for (;;) {
        if (waitpid(b->pid, wstatus, WNOHANG) == b->pid) {
            unirun_qemu_pid = 0;
            return -ECHILD;
        }
        err = usc_target_open(b->name, &t);
        if (!err) {
            usc_target_close(t);
            return usc_qmp_execute(*q, "cont", NULL, NULL, 3000);
        }
        *last = err;
        if (unirun_now_ms() >= deadline)
            return -ETIMEDOUT;
        poll(NULL, 0, POLL_MS);
    }
}

/* ---- reporting ---------------------------------------------------------- */

/*
 * Report QEMU's own last message from (log), without its "PROGRAM: "
 * prefix, as "unirun: qemu: ..."; returns 0 when the log had none.
 */
int unirun_report_qemu(const char *log, const char *program)
{
    char line[1024], last[1024] = "";
    const char *base = strrchr(program, '/'), *msg = last;
    size_t plen;
    FILE *f = fopen(log, "re");

    if (!f)
        return 0;
    /* QEMU's warnings come first; the line that ended it comes last. */
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0])
            memcpy(last, line, sizeof(last));
    }
    fclose(f);
    if (!last[0])
        return 0;
    /* QEMU names itself by its program name, or plain "qemu". */
    base = base ? base + 1 : program;
    plen = strlen(base);
    if (!strncmp(last, base, plen) && !strncmp(last + plen, ": ", 2))
        msg = last + plen + 2;
    else if (!strncmp(last, "qemu: ", 6))
        msg = last + 6;
    unirun_error("qemu", "%s", msg);
    return 1;
}

/* Why QEMU ended before QMP answered: its message, or its wait status. */
static void report_early_exit(int ws, const char *log, const char *program)
{
    if (unirun_report_qemu(log, program))
        return;
    if (WIFEXITED(ws))
        unirun_error("qemu", "exited with status %d before QMP answered",
                     WEXITSTATUS(ws));
    else if (WIFSIGNALED(ws))
        unirun_error("qemu", "killed by signal %d (%s) before QMP answered",
                     WTERMSIG(ws), strsignal(WTERMSIG(ws)));
}

/* ---- the job ------------------------------------------------------------ */

/* Check the image and store its absolute path in (image). */
static int find_image(const char *path, char *image)
{
    struct stat st;

    if (!realpath(path, image) || stat(image, &st) != 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EINVAL;
    if (access(image, R_OK) != 0)
        return -errno;
    return 0;
}

/* Report a run directory that cannot be used. */
static void report_rundir(int err)
{
    char path[PATH_MAX] = "run directory";

    usc_rundir_path(path, sizeof(path));
    if (err == -EPERM)
        unirun_error(path, "not owned by us or open to others (needs 0700)");
    else if (err == -ENAMETOOLONG)
        unirun_error(path, "too long for the guests' unix socket paths");
    else
        unirun_error(path, "%s", strerror(-err));
}

int unirun_write_info(const struct unirun_opts *o, const struct unirun_boot *b,
                      const struct usc_guest_info *end)
{
    struct usc_guest_info gi;

    memset(&gi, 0, sizeof(gi));
    snprintf(gi.name, sizeof(gi.name), "%s", b->name);
    gi.pid = b->qemu;
    snprintf(gi.image, sizeof(gi.image), "%s", b->image);
    snprintf(gi.boot, sizeof(gi.boot), "%s", b->boot);
    snprintf(gi.debug, sizeof(gi.debug), "%s", b->debug);
    gi.memory_mib = o->memory_mib;
    gi.vcpus = o->vcpus;
    snprintf(gi.accel, sizeof(gi.accel), "%s", b->accel);
    gi.start_time = (int64_t)b->start;
    gi.supervisor = getpid();
    gi.keep = o->keep;
    gi.exit_status = -1;
    if (end) {
        snprintf(gi.state, sizeof(gi.state), "%s", end->state);
        gi.exit_status = end->exit_status;
        snprintf(gi.reason, sizeof(gi.reason), "%s", end->reason);
        snprintf(gi.core, sizeof(gi.core), "%s", end->core);
    }
    return usc_guest_info_write(&gi);
}

/*
 * What (b->image) is: a PVH ELF or a multiboot image, else one line and
 * UNIRUN_EXIT_FAIL. A 32-bit ELF is a wrapper whose symbols are in the
 * X.dbg beside it, when there is one.
 */
static int check_image(const char *given, struct unirun_boot *b)
{
    struct usc_bootimage img;
    char dbg[PATH_MAX + 8];
    int err = usc_bootimage_probe_file(b->image, &img);

    if (err) {
        unirun_error(given, "%s", strerror(-err));
        return UNIRUN_EXIT_FAIL;
    }
    if (img.kind == USC_BOOT_NONE) {
        unirun_error(given,
                     "%s; unirun boots PVH ELFs (with the "
                     "XEN_ELFNOTE_PHYS32_ENTRY note) and multiboot images",
                     img.what);
        return UNIRUN_EXIT_FAIL;
    }
    snprintf(b->boot, sizeof(b->boot), "%s",
             img.kind == USC_BOOT_PVH ? "pvh" : "multiboot");
    snprintf(dbg, sizeof(dbg), "%s.dbg", b->image);
    if (img.elf_class == 32 && access(dbg, R_OK) == 0 &&
        !realpath(dbg, b->debug))
        b->debug[0] = '\0';
    return 0;
}

/* The exit port's pipe, our monitor's socket pair and the folder's lock. */
static int open_channels(struct unirun_boot *b)
{
    char lock[PATH_MAX];
    int fds[2];

    if (pipe2(fds, O_CLOEXEC) != 0)
        return -errno;
    b->exit_fd = fds[0];
    b->exit_qfd = fds[1];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        return -errno;
    b->mon_fd = fds[0];
    b->mon_qfd = fds[1];
    if (usc_rundir_guest_path(b->name, USC_RUNDIR_LOCK, lock, sizeof(lock)))
        return -ENAMETOOLONG;
    b->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (b->lock_fd < 0)
        return -errno;
    return flock(b->lock_fd, LOCK_EX | LOCK_NB) == 0 ? 0 : -errno;
}

/*
 * Check the image, pick the accelerator and make the guest's folder.
 * Returns 0, or unirun's exit status after reporting.
 */
static int prepare(const struct unirun_opts *o, struct unirun_boot *b)
{
    int err = find_image(o->image, b->image);

    if (err) {
        unirun_error(o->image, "%s",
                     err == -EINVAL ? "not a regular file" : strerror(-err));
        return UNIRUN_EXIT_FAIL;
    }
    if (check_image(o->image, b))
        return UNIRUN_EXIT_FAIL;
    b->accel = o->accel == UNIRUN_ACCEL_KVM   ? "kvm"
               : o->accel == UNIRUN_ACCEL_TCG ? "tcg"
                                              : unirun_accel_auto();
    err = usc_rundir_check(1);
    if (!err)
        err = create_guest(o, b->image, b->name);
    if (err == -EEXIST && o->name)
        unirun_error(o->name, "a guest of this name exists (unirun --stop %s)",
                     o->name);
    else if (err == -EPERM || err == -ENAMETOOLONG || err == -ENOTDIR)
        report_rundir(err);
    else if (err)
        unirun_error(o->name ? o->name : "guest folder", "%s", strerror(-err));
    if (err)
        return UNIRUN_EXIT_FAIL;
    b->created = 1;
    err = usc_rundir_guest_mem(b->name);
    if (err) {
        unirun_error(b->name, "RAM file: %s", strerror(-err));
        return UNIRUN_EXIT_FAIL;
    }
    err = open_channels(b);
    if (err) {
        unirun_error(b->name, "its channels: %s", strerror(-err));
        return UNIRUN_EXIT_FAIL;
    }
    err = usc_rundir_guest_path(b->name, USC_RUNDIR_QEMU_LOG, b->log,
                                sizeof(b->log));
    if (!err)
        err = unirun_qemu_cmd(o, b->name, b->image, b->accel, b->exit_qfd,
                              b->mon_qfd, &b->cmd);
    if (err) {
        unirun_error(b->name, "QEMU command line: %s", strerror(-err));
        return UNIRUN_EXIT_FAIL;
    }
    return 0;
}

/* Detached, once the guest runs: our output goes to the folder's log,
 * and the parent hears that all went well and prints the name. */
static void detach_done(struct unirun_boot *b)
{
    char log[PATH_MAX];
    char ok = 0;
    int fd = -1;

    if (usc_rundir_guest_path(b->name, USC_RUNDIR_UNIRUN_LOG, log,
                              sizeof(log)) == 0)
        fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        close(fd);
    }
    if (write(b->notify_fd, &ok, 1) < 0) {
        /* the parent is gone: nobody to tell */
    }
    close(b->notify_fd);
    b->notify_fd = -1;
}

/*
 * Start QEMU and the guest, record it, then supervise it to its end.
 * Returns unirun's exit status, after reporting.
 */
static int run(const struct unirun_opts *o, struct unirun_boot *b)
{
    const char *program = b->cmd.argv[0];
    struct usc_qmp *q = NULL;
    int err, ws = 0, last;

    err = handle_signals(1);
    unirun_forward_now = 1;
    if (!err)
        err = spawn(o, b);
    if (err) {
        unirun_error(program, "%s", strerror(-err));
        return UNIRUN_EXIT_FAIL;
    }
    b->start = time(NULL);
    err = start_guest(b, &q, &ws, &last);
    if (err == -ECHILD) {
        b->pid = 0;
        if (unirun_forwarded)
            return 128 + unirun_forwarded;
        report_early_exit(ws, b->log, program);
        return UNIRUN_EXIT_FAIL;
    }
    if (err == -ETIMEDOUT)
        unirun_error(b->name, "QMP did not answer within %d s (%s: %s)",
                     UNIRUN_START_TIMEOUT_MS / 1000, USC_RUNDIR_QMP,
                     strerror(-last));
    else if (err)
        unirun_error(b->name, "starting the guest: %s", strerror(-err));
    if (!err) {
        err = unirun_write_info(o, b, NULL);
        if (err)
            unirun_error(b->name, "guest.json: %s", strerror(-err));
    }
    if (err) {
        usc_qmp_close(q);
        return UNIRUN_EXIT_FAIL;
    }
    if (o->detach) {
        b->created = 0; /* the folder stays, the record of the guest */
        detach_done(b);
    }
    return unirun_supervise(o, b, q);
}

/* --detach: the child supervises; we wait for its word, print the name. */
static int detach(const struct unirun_opts *o, struct unirun_boot *b)
{
    int fds[2], ws;
    pid_t child;
    char ok;
    ssize_t n;

    if (pipe2(fds, O_CLOEXEC) != 0) {
        unirun_error("detach", "%s", strerror(errno));
        return UNIRUN_EXIT_FAIL;
    }
    child = fork();
    if (child < 0) {
        unirun_error("detach", "%s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return UNIRUN_EXIT_FAIL;
    }
    if (child == 0) {
        close(fds[0]);
        setsid();
        b->notify_fd = fds[1];
        return run(o, b);
    }
    /* The guest is the child's now, to clean up or to keep. */
    close(fds[1]);
    b->created = 0;
    do
        n = read(fds[0], &ok, 1);
    while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (n == 1) {
        printf("%s\n", b->name);
        fflush(stdout);
        return 0;
    }
    /* It said why on our stderr before it ended. */
    while (waitpid(child, &ws, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(ws) && WEXITSTATUS(ws) ? WEXITSTATUS(ws)
                                            : UNIRUN_EXIT_FAIL;
}

int unirun_boot(const struct unirun_opts *o)
{
    struct unirun_boot *b = calloc(1, sizeof(*b));
    pid_t self = getpid();
    int status, err;

    if (!b) {
        unirun_error("boot", "%s", strerror(ENOMEM));
        return UNIRUN_EXIT_FAIL;
    }
    b->exit_fd = b->exit_qfd = b->mon_fd = b->mon_qfd = -1;
    b->lock_fd = b->notify_fd = -1;
    status = prepare(o, b);
    if (!status)
        status = o->detach ? detach(o, b) : run(o, b);
    /* Only the process that owns the guest cleans up after it. */
    if (b->pid > 0 && (getpid() != self || !o->detach))
        kill_qemu(b);
    if (b->created) {
        err = usc_rundir_guest_remove(b->name);
        if (err && err != -ENOENT)
            unirun_error(b->name, "removing its folder: %s", strerror(-err));
    }
    int *fds[] = {&b->exit_fd, &b->exit_qfd, &b->mon_fd,
                  &b->mon_qfd, &b->lock_fd,  &b->notify_fd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        if (*fds[i] >= 0)
            close(*fds[i]);
    unirun_qemu_cmd_free(&b->cmd);
    free(b);
    return status;
}
