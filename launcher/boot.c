/* unirun IMAGE: boot a guest in the foreground or detached. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bootimage.h"
#include "rundir.h"
#include "target.h"
#include "unirun.h"

#define NAME_TRIES 16
#define NAME_STEM_MAX (USC_GUEST_NAME_LEN - 5) /* room for "-xxxx" */
#define POLL_MS 20

/* The QEMU child, for the signal handler; 0 until it exists. */
static volatile pid_t qemu_pid;
/* The last signal forwarded to QEMU, or 0. */
static volatile sig_atomic_t forwarded;

static const int forward_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define NFORWARD (sizeof(forward_signals) / sizeof(forward_signals[0]))

static void forward(int sig)
{
    forwarded = sig;
    if (qemu_pid > 0)
        kill(qemu_pid, sig);
}

/* Forward (on) or default (off) the signals that end a foreground run. */
static void handle_signals(int on)
{
    struct sigaction sa;
    size_t i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on ? forward : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < NFORWARD; i++)
        sigaction(forward_signals[i], &sa, NULL);
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
static void exec_qemu(const struct unirun_qemu_cmd *cmd,
                      const struct unirun_opts *o, const char *log, int errfd,
                      pid_t parent)
{
    sigset_t none;
    int fd, e;

    handle_signals(0);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (o->detach) {
        setsid();
    } else {
        /* The terminal's Ctrl-C reaches QEMU once, through our handler;
         * with --console QEMU reads the terminal, so must stay in front. */
        if (!o->console)
            setpgid(0, 0);
        /* A foreground guest must not outlive a killed unirun. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
    }
    /* QEMU's sockets, console log and stderr log: 0600. */
    umask(0177);
    fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0)
        dup2(fd, STDERR_FILENO);
    fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd >= 0 && !o->console)
        dup2(fd, STDIN_FILENO);
    if (fd >= 0 && o->detach)
        dup2(fd, STDOUT_FILENO);
    execvp(cmd->argv[0], cmd->argv);
    e = errno;
    if (write(errfd, &e, sizeof(e)) < 0)
        _exit(127);
    _exit(127);
}

/*
 * Start QEMU from (cmd), its stderr going to (log), storing its pid in
 * (*out). Returns 0, or minus the errno of a failed exec.
 */
static int spawn(const struct unirun_qemu_cmd *cmd, const struct unirun_opts *o,
                 const char *log, pid_t *out)
{
    pid_t parent = getpid(), pid;
    sigset_t block, old;
    int fds[2], e = 0, status;
    ssize_t n;
    size_t i;

    if (pipe2(fds, O_CLOEXEC) != 0)
        return -errno;
    /* No forwarding to a half-made child: signals wait until qemu_pid. */
    sigemptyset(&block);
    for (i = 0; i < NFORWARD; i++)
        sigaddset(&block, forward_signals[i]);
    sigprocmask(SIG_BLOCK, &block, &old);
    pid = fork();
    if (pid == 0)
        exec_qemu(cmd, o, log, fds[1], parent);
    if (pid > 0)
        qemu_pid = pid;
    e = pid < 0 ? errno : 0;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return -e;
    }
    /* The pipe closes on exec; an errno arrives only when exec failed. */
    do
        n = read(fds[0], &e, sizeof(e));
    while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (n == (ssize_t)sizeof(e)) {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        qemu_pid = 0;
        return -e;
    }
    *out = pid;
    return 0;
}

/* Kill QEMU, which failed us, and reap it. */
static void kill_qemu(pid_t pid)
{
    int status;

    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    qemu_pid = 0;
}

/*
 * Wait until QMP answers on guest (name)'s socket, then let the guest run
 * (QEMU was started with -S). Returns 0; -ECHILD when QEMU exited first,
 * with its wait status in (*wstatus); -ETIMEDOUT, the last open error in
 * (*last); or the error of resuming the guest.
 */
static int start_guest(pid_t pid, const char *name, int *wstatus, int *last)
{
    int64_t deadline = unirun_now_ms() + UNIRUN_START_TIMEOUT_MS;
    struct usc_target *t;
    int err;

    *last = 0;
    for (;;) {
        if (waitpid(pid, wstatus, WNOHANG) == pid) {
            qemu_pid = 0;
            return -ECHILD;
        }
        err = usc_target_open(name, &t);
        if (!err) {
            err = usc_target_resume(t);
            usc_target_close(t);
            return err;
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
static int report_qemu_log(const char *log, const char *program)
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
    if (report_qemu_log(log, program))
        return;
    if (WIFEXITED(ws))
        unirun_error("qemu", "exited with status %d before QMP answered",
                     WEXITSTATUS(ws));
    else if (WIFSIGNALED(ws))
        unirun_error("qemu", "killed by signal %d (%s) before QMP answered",
                     WTERMSIG(ws), strsignal(WTERMSIG(ws)));
}

/*
 * unirun's exit status for QEMU's wait status (ws) once the guest ran:
 * isa-debug-exit makes QEMU exit with (value << 1) | 1, so an odd status
 * carries the guest's value; 0 is a clean end (128 + a signal we forwarded
 * when that is what ended it); anything else is QEMU's failure.
 */
static int guest_status(int ws, const char *log, const char *program)
{
    if (WIFEXITED(ws)) {
        int c = WEXITSTATUS(ws);

        if (c & 1)
            return c >> 1;
        if (c == 0)
            return forwarded ? 128 + forwarded : 0;
        if (!report_qemu_log(log, program))
            unirun_error("qemu", "exited with status %d", c);
        return UNIRUN_EXIT_FAIL;
    }
    if (WIFSIGNALED(ws) && forwarded)
        return 128 + forwarded;
    unirun_error("qemu", "killed by signal %d (%s)", WTERMSIG(ws),
                 strsignal(WTERMSIG(ws)));
    return UNIRUN_EXIT_FAIL;
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

/* One boot's state, shared by its steps. */
struct boot {
    char image[PATH_MAX]; /* absolute */
    char boot[16];        /* "pvh" or "multiboot" */
    char debug[PATH_MAX]; /* a wrapper's X.dbg, or "" */
    char name[USC_TARGET_NAME_MAX];
    char log[PATH_MAX]; /* QEMU's stderr */
    const char *accel;
    struct unirun_qemu_cmd cmd;
    pid_t pid;   /* QEMU while it is ours to kill, else 0 */
    int created; /* the guest's folder is ours to remove */
};

/* Record the running guest in guest.json. */
static int write_info(const struct unirun_opts *o, const struct boot *b,
                      time_t start)
{
    struct usc_guest_info gi;

    memset(&gi, 0, sizeof(gi));
    snprintf(gi.name, sizeof(gi.name), "%s", b->name);
    gi.pid = b->pid;
    snprintf(gi.image, sizeof(gi.image), "%s", b->image);
    snprintf(gi.boot, sizeof(gi.boot), "%s", b->boot);
    snprintf(gi.debug, sizeof(gi.debug), "%s", b->debug);
    gi.memory_mib = o->memory_mib;
    gi.vcpus = o->vcpus;
    snprintf(gi.accel, sizeof(gi.accel), "%s", b->accel);
    gi.start_time = (int64_t)start;
    gi.exit_status = -1;
    return usc_guest_info_write(&gi);
}

/*
 * What (b->image) is: a PVH ELF or a multiboot image, else one line and
 * UNIRUN_EXIT_FAIL. A 32-bit ELF is a wrapper whose symbols are in the
 * X.dbg beside it, when there is one.
 */
static int check_image(const char *given, struct boot *b)
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

/*
 * Check the image, pick the accelerator and make the guest's folder.
 * Returns 0, or unirun's exit status after reporting.
 */
static int prepare(const struct unirun_opts *o, struct boot *b)
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
    err = usc_rundir_guest_path(b->name, USC_RUNDIR_QEMU_LOG, b->log,
                                sizeof(b->log));
    if (!err)
        err = unirun_qemu_cmd(o, b->name, b->image, b->accel, &b->cmd);
    if (err) {
        unirun_error(b->name, "QEMU command line: %s", strerror(-err));
        return UNIRUN_EXIT_FAIL;
    }
    return 0;
}

/*
 * Start QEMU and the guest, record it, then leave it (--detach) or wait
 * for its end. Returns unirun's exit status, after reporting.
 */
static int run(const struct unirun_opts *o, struct boot *b)
{
    const char *program = b->cmd.argv[0];
    int err, ws = 0, last;
    time_t start;

    handle_signals(1);
    err = spawn(&b->cmd, o, b->log, &b->pid);
    if (err) {
        unirun_error(program, "%s", strerror(-err));
        return UNIRUN_EXIT_FAIL;
    }
    start = time(NULL);
    err = start_guest(b->pid, b->name, &ws, &last);
    if (err == -ECHILD) {
        b->pid = 0;
        if (forwarded)
            return 128 + forwarded;
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
        err = write_info(o, b, start);
        if (err)
            unirun_error(b->name, "guest.json: %s", strerror(-err));
    }
    if (err)
        return UNIRUN_EXIT_FAIL;
    if (o->detach) {
        printf("%s\n", b->name);
        fflush(stdout);
        b->pid = 0;
        b->created = 0;
        return 0;
    }
    while (waitpid(b->pid, &ws, 0) < 0 && errno == EINTR)
        ;
    b->pid = 0;
    qemu_pid = 0;
    return guest_status(ws, b->log, program);
}

int unirun_boot(const struct unirun_opts *o)
{
    struct boot *b = calloc(1, sizeof(*b));
    int status, err;

    if (!b) {
        unirun_error("boot", "%s", strerror(ENOMEM));
        return UNIRUN_EXIT_FAIL;
    }
    status = prepare(o, b);
    if (!status)
        status = run(o, b);
    if (b->pid > 0)
        kill_qemu(b->pid);
    if (b->created) {
        err = usc_rundir_guest_remove(b->name);
        if (err && err != -ENOENT)
            unirun_error(b->name, "removing its folder: %s", strerror(-err));
    }
    unirun_qemu_cmd_free(&b->cmd);
    free(b);
    return status;
}
