/* unirun --stop NAME: end a guest's QEMU, then remove its folder. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "qmp.h"
#include "rundir.h"
#include "unirun.h"

#define QMP_TIMEOUT_MS 3000 /* a monitor held by another client, or hung */
#define QUIT_GRACE_MS 5000  /* QMP quit: QEMU exits at once */
#define TERM_GRACE_MS 3000  /* SIGTERM: a clean shutdown too */
#define KILL_GRACE_MS 2000  /* SIGKILL: the kernel's time to tear down */
/* A supervisor writing a crashed guest's core finishes it before it ends
 * QEMU: a core of a large guest takes a while. */
#define SUPERVISOR_GRACE_MS 60000
#define POLL_MS 20

/* Wait up to (timeout_ms) for (pid), QEMU of guest (name), to be gone. */
static int wait_gone(pid_t pid, const char *name, int timeout_ms)
{
    int64_t deadline = unirun_now_ms() + timeout_ms;

    while (usc_guest_pid_alive(pid, name)) {
        if (unirun_now_ms() >= deadline)
            return 0;
        poll(NULL, 0, POLL_MS);
    }
    return 1;
}

/*
 * Ask guest (name)'s QEMU to quit over QMP, learning its pid in (*pid)
 * when that was unknown (0). Returns 0 when QEMU took the command;
 * -ENOENT or -ECONNREFUSED when nothing listens; another negative errno.
 */
static int qmp_quit(const char *name, pid_t *pid)
{
    char path[PATH_MAX];
    struct usc_qmp *q;
    pid_t peer;
    int err;

    err = usc_rundir_guest_path(name, USC_RUNDIR_QMP, path, sizeof(path));
    if (err)
        return err;
    err = usc_qmp_connect(path, QMP_TIMEOUT_MS, &q);
    if (err)
        return err;
    if (!*pid && usc_qmp_peer_pid(q, &peer) == 0 &&
        usc_guest_pid_alive(peer, name))
        *pid = peer;
    err = usc_qmp_execute(q, "quit", NULL, NULL, QMP_TIMEOUT_MS);
    /* QEMU may close the socket before its answer gets out. */
    if (err == -ECONNRESET)
        err = 0;
    usc_qmp_close(q);
    return err;
}

/* End (pid): QMP quit already asked when (asked), then SIGTERM, SIGKILL. */
static int end_qemu(pid_t pid, const char *name, int asked)
{
    if (asked && wait_gone(pid, name, QUIT_GRACE_MS))
        return 0;
    if (kill(pid, SIGTERM) == 0 && wait_gone(pid, name, TERM_GRACE_MS))
        return 0;
    if (kill(pid, SIGKILL) == 0 && wait_gone(pid, name, KILL_GRACE_MS))
        return 0;
    return wait_gone(pid, name, 0) ? 0 : -ETIMEDOUT;
}

/*
 * Ask the unirun supervising guest (name) to end it (SIGUSR1: it quits
 * QEMU, after a core it may be writing) and wait until it has gone.
 * Returns 1 when it did; 0 when there was none to ask or it took too long
 * (the caller then ends QEMU itself).
 */
static int stop_supervisor(const char *name, const struct usc_guest_info *gi)
{
    int64_t deadline = unirun_now_ms() + SUPERVISOR_GRACE_MS;

    if (gi->supervisor <= 0 || !usc_guest_supervised(name) ||
        kill((pid_t)gi->supervisor, SIGUSR1) != 0)
        return 0;
    while (usc_guest_supervised(name)) {
        if (unirun_now_ms() >= deadline)
            return 0;
        poll(NULL, 0, POLL_MS);
    }
    return 1;
}

int unirun_stop(const char *name)
{
    char dir[PATH_MAX];
    struct usc_guest_info gi;
    struct stat st;
    pid_t pid = 0;
    int err, quit;

    if (usc_rundir_guest_path(name, NULL, dir, sizeof(dir)) != 0) {
        unirun_error(name, "no such guest");
        return UNIRUN_EXIT_FAIL;
    }
    err = usc_rundir_check(0);
    if (err && err != -ENOENT) {
        usc_rundir_path(dir, sizeof(dir));
        unirun_error(dir, "%s",
                     err == -EPERM ? "not owned by us or open to "
                                     "others (needs 0700)"
                                   : strerror(-err));
        return UNIRUN_EXIT_FAIL;
    }
    if (err || lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        unirun_error(name, "no such guest");
        return UNIRUN_EXIT_FAIL;
    }
    /* A recycled pid is never ours: usc_guest_pid_alive checks its -name;
     * a supervisor is known by the lock it holds. */
    if (usc_guest_info_read(name, &gi) == 0) {
        stop_supervisor(name, &gi);
        if (usc_guest_pid_alive(gi.pid, name))
            pid = (pid_t)gi.pid;
    }
    quit = qmp_quit(name, &pid);
    if (pid) {
        err = end_qemu(pid, name, quit == 0);
        if (err) {
            unirun_error(name, "QEMU (pid %d) survived SIGKILL", (int)pid);
            return UNIRUN_EXIT_FAIL;
        }
    } else if (quit != 0 && quit != -ENOENT && quit != -ECONNREFUSED) {
        /* Something holds the socket and we cannot name a process to end. */
        unirun_error(name, "QMP: %s, and no QEMU pid recorded",
                     strerror(-quit));
        return UNIRUN_EXIT_FAIL;
    }
    err = usc_rundir_guest_remove(name);
    if (err && err != -ENOENT) {
        unirun_error(name, "removing its folder: %s", strerror(-err));
        return UNIRUN_EXIT_FAIL;
    }
    return 0;
}
