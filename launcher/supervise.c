/* A guest's supervisor: hears of its stop from QEMU's monitor and the exit
 * port, holds it, keeps the core of a crash, then ends QEMU. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_reader.h"
#include "fdio.h"
#include "physmem.h"
#include "qmp.h"
#include "ramdata.h"
#include "rundir.h"
#include "unirun.h"
#include "uscope_note.h"

#define QMP_TIMEOUT_MS 3000
#define QUIT_GRACE_MS 5000 /* QMP quit, then SIGKILL */

enum phase {
    RUNNING,  /* the guest runs */
    SETTLING, /* it wrote to the exit port: give it a moment to stop */
    STOPPED,  /* QEMU holds it: judge it */
    HELD,     /* a crash kept for a live look (--keep) */
    ENDING,   /* QEMU was asked to go */
};

struct super {
    const struct unirun_opts *o;
    struct unirun_boot *b;
    struct usc_qmp *q; /* NULL once QEMU hung up */
    enum phase phase;
    int have_value;
    unsigned value;
    int64_t settle_until, kill_at;
    int guest_reset, guest_panicked, internal_error;
    int judged;
    struct usc_crash_verdict v;
    char core[PATH_MAX];
    int ws, exited;
};

/* ---- what QEMU says ----------------------------------------------------- */

static enum usc_vm_state qemu_state(struct super *s)
{
    static const struct {
        const char *status;
        enum usc_vm_state state;
    } map[] = {
        {"running", USC_VM_RUNNING},      {"debug", USC_VM_DEBUG},
        {"shutdown", USC_VM_SHUTDOWN},    {"guest-panicked", USC_VM_PANICKED},
        {"internal-error", USC_VM_ERROR},
    };
    enum usc_vm_state st = USC_VM_PAUSED;
    json_t *ret = NULL;
    const char *status;

    if (!s->q)
        return USC_VM_DEAD;
    if (usc_qmp_execute(s->q, "query-status", NULL, &ret, QMP_TIMEOUT_MS))
        return USC_VM_UNKNOWN;
    status = json_string_value(json_object_get(ret, "status"));
    for (size_t i = 0; status && i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcmp(status, map[i].status))
            st = map[i].state;
    json_decref(ret);
    return st;
}

static void on_event(struct super *s, const char *name, json_t *data)
{
    const char *reason = json_string_value(json_object_get(data, "reason"));
    int guest = json_is_true(json_object_get(data, "guest"));

    if (!strcmp(name, "SHUTDOWN") && guest) {
        /* -action shutdown=pause: QEMU stops the guest for us */
        s->guest_reset = reason && !strcmp(reason, "guest-reset");
        if (s->phase < STOPPED)
            s->phase = STOPPED;
    } else if (!strcmp(name, "GUEST_PANICKED")) {
        s->guest_panicked = 1;
        if (s->phase < STOPPED)
            s->phase = STOPPED;
    } else if (!strcmp(name, "STOP") && s->phase < STOPPED &&
               qemu_state(s) == USC_VM_ERROR) {
        s->internal_error = 1;
        s->phase = STOPPED;
    }
    /* Other stops (a tool's pause, a breakpoint) are not the guest's. */
}

/* Take every event QEMU has sent. */
static void drain_events(struct super *s)
{
    char name[64];
    json_t *data;
    int err;

    while (s->q) {
        data = NULL;
        err = usc_qmp_next_event(s->q, 0, name, sizeof(name), &data);
        if (err == 0)
            on_event(s, name, data);
        json_decref(data);
        if (err == -ETIMEDOUT || err == -EINTR)
            return;
        if (err) { /* QEMU hung up: it is going */
            usc_qmp_close(s->q);
            s->q = NULL;
        }
    }
}

/* Read what the guest wrote to the exit port; the first byte counts. */
static void read_exit_port(struct super *s)
{
    unsigned char buf[256];
    ssize_t n;

    while (s->b->exit_fd >= 0) {
        n = read(s->b->exit_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return; /* EAGAIN: nothing more now */
        if (n == 0) {
            close(s->b->exit_fd);
            s->b->exit_fd = -1;
            return;
        }
        if (!s->have_value) {
            s->have_value = 1;
            s->value = buf[0];
        }
    }
}

/* ---- the guest's own word ----------------------------------------------- */

/* The agent's run state (-1: none) and panic reason, from the RAM file. */
static int agent_state(struct super *s, char *reason, size_t cap)
{
    char path[PATH_MAX];
    struct usc_ramfile *ram = NULL;
    struct usc_ramdata rd = {.fd = -1};
    struct usc_agent *a = NULL;
    struct usc_agent_status st;
    struct usc_panic p;
    int state = -1;

    reason[0] = '\0';
    if (usc_rundir_guest_path(s->b->name, USC_RUNDIR_MEM, path, sizeof(path)) ||
        usc_ramfile_open(path, &ram))
        return -1;
    usc_ramdata_open(path, &rd);
    if (usc_ramdata_find_agent(rd.fd >= 0 ? &rd : NULL,
                               usc_ramfile_physmem(ram), &a) == 0 &&
        usc_agent_status(a, &st) == 0) {
        state = (int)st.state;
        if (state == USC_STATE_PANICKED && usc_agent_panic(a, &p) == 0)
            snprintf(reason, cap, "%s", p.reason);
    }
    usc_agent_close(a);
    usc_ramdata_close(&rd);
    usc_ramfile_close(ram);
    return state;
}

/* The last USC_NOTE_CONSOLE_MAX bytes of the console log, malloc'd. */
static char *console_tail(struct super *s, size_t *len)
{
    char path[PATH_MAX];
    char *buf;

    *len = 0;
    if (usc_rundir_guest_path(s->b->name, USC_RUNDIR_CONSOLE, path,
                              sizeof(path)) ||
        !(buf = malloc(USC_NOTE_CONSOLE_MAX)))
        return NULL;
    if (usc_file_read_tail(path, buf, USC_NOTE_CONSOLE_MAX, len) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- ending it ---------------------------------------------------------- */

/* Ask QEMU to go; SIGKILL follows if it does not. */
static void end_qemu(struct super *s)
{
    if (s->phase == ENDING)
        return;
    s->phase = ENDING;
    unirun_forward_now = 0;
    s->kill_at = unirun_now_ms() + QUIT_GRACE_MS;
    if (!s->q || usc_qmp_execute(s->q, "quit", NULL, NULL, QMP_TIMEOUT_MS))
        kill(s->b->pid, SIGTERM);
}

/* Update guest.json with how the guest is now. */
static void record(struct super *s, const char *state)
{
    struct usc_guest_info end;

    memset(&end, 0, sizeof(end));
    snprintf(end.state, sizeof(end.state), "%s", state);
    end.exit_status = s->v.status;
    snprintf(end.reason, sizeof(end.reason), "%s", s->v.reason);
    snprintf(end.core, sizeof(end.core), "%s", s->core);
    unirun_write_info(s->o, s->b, &end);
}

/* The guest stopped and QEMU holds it: what it means, its core, its end. */
static void judge(struct super *s)
{
    struct usc_crash_facts f;
    char *con;

    unirun_forward_now = 0;
    /* Tools that watch for crashes (unicore watch) leave this one to us. */
    record(s, USC_GUEST_STOPPING);
    read_exit_port(s);
    memset(&f, 0, sizeof(f));
    f.have_value = s->have_value;
    f.value = s->value;
    f.state = s->internal_error ? USC_VM_ERROR : qemu_state(s);
    f.guest_reset = s->guest_reset;
    f.guest_panicked = s->guest_panicked;
    f.agent_state = agent_state(s, f.panic_reason, sizeof(f.panic_reason));
    con = console_tail(s, &f.console_len);
    f.console = con;
    usc_crash_judge(&f, &s->v);
    free(con);
    s->judged = 1;
    if (!s->v.crash) {
        end_qemu(s);
        return;
    }
    if (unirun_keep_core(s->b, &s->v, s->core, sizeof(s->core)) == 0)
        unirun_error(s->b->name, "crashed: %s; its core: %s", s->v.reason,
                     s->core);
    else
        unirun_error(s->b->name, "crashed: %s", s->v.reason);
    /* Said at once, while QEMU still holds the guest: unicore watch takes
     * this core rather than racing us for one of its own. */
    if (!s->o->keep || unirun_signals || unirun_stop_asked || !s->q)
        record(s, USC_GUEST_CRASHED);
    if (s->o->keep && !unirun_signals && !unirun_stop_asked && s->q) {
        s->phase = HELD;
        record(s, USC_GUEST_HELD);
        unirun_error(s->b->name,
                     "held for a look (unigdb %s; unirun --stop %s "
                     "ends it)",
                     s->b->name, s->b->name);
        return;
    }
    end_qemu(s);
}

/* The guest wrote to the exit port while running. */
static void exit_written(struct super *s)
{
    char reason[128];
    int agent = agent_state(s, reason, sizeof(reason));

    /* An agent that says how it ended needs no waiting. */
    if (agent == USC_STATE_HALTED || agent == USC_STATE_PANICKED) {
        if (s->q)
            usc_qmp_execute(s->q, "stop", NULL, NULL, QMP_TIMEOUT_MS);
        s->phase = STOPPED;
        return;
    }
    s->phase = SETTLING;
    s->settle_until = unirun_now_ms() + UNIRUN_SETTLE_MS;
}

/* ---- the loop ----------------------------------------------------------- */

static void on_signals(struct super *s)
{
    char buf[64];

    while (read(unirun_sig_fd, buf, sizeof(buf)) > 0)
        ;
    if (!s->exited && waitpid(s->b->pid, &s->ws, WNOHANG) == s->b->pid)
        s->exited = 1;
    /* --stop, or a signal once QEMU holds the guest: end it ourselves. */
    if (!s->exited && s->phase != ENDING &&
        (unirun_stop_asked || (unirun_signals && !unirun_forward_now)))
        end_qemu(s);
}

static int poll_timeout(const struct super *s)
{
    int64_t now = unirun_now_ms(), until = -1;

    if (s->phase == SETTLING)
        until = s->settle_until;
    else if (s->phase == ENDING)
        until = s->kill_at;
    if (until < 0)
        return -1;
    return until <= now ? 0 : (int)(until - now);
}

/* unirun's exit status once QEMU has gone. */
static int final_status(struct super *s)
{
    int ws = s->ws;

    if (s->judged)
        return s->v.status;
    if (unirun_forwarded)
        return 128 + unirun_forwarded;
    if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
        return 0; /* someone's QMP quit, unirun --stop */
    if (WIFEXITED(ws) && (WEXITSTATUS(ws) & 1))
        return WEXITSTATUS(ws) >> 1; /* an isa-debug-exit of its own */
    if (WIFEXITED(ws)) {
        if (!unirun_report_qemu(s->b->log, s->b->cmd.argv[0]))
            unirun_error("qemu", "exited with status %d", WEXITSTATUS(ws));
        return UNIRUN_EXIT_FAIL;
    }
    unirun_error("qemu", "killed by signal %d (%s)", WTERMSIG(ws),
                 strsignal(WTERMSIG(ws)));
    return UNIRUN_EXIT_FAIL;
}

int unirun_supervise(const struct unirun_opts *o, struct unirun_boot *b,
                     struct usc_qmp *q)
{
    struct super *s = calloc(1, sizeof(*s));
    int status, ended_by_us;

    if (!s) {
        usc_qmp_close(q);
        kill(b->pid, SIGTERM);
        return UNIRUN_EXIT_FAIL;
    }
    s->o = o;
    s->b = b;
    s->q = q;
    fcntl(b->exit_fd, F_SETFL, O_NONBLOCK);
    while (!s->exited) {
        struct pollfd p[3] = {
            {.fd = unirun_sig_fd, .events = POLLIN},
            {.fd = b->exit_fd, .events = POLLIN},
            {.fd = s->q ? usc_qmp_fd(s->q) : -1, .events = POLLIN}};

        drain_events(s);
        on_signals(s);
        if (s->exited)
            break;
        if (s->phase == RUNNING && s->have_value)
            exit_written(s);
        if (s->phase == SETTLING && unirun_now_ms() >= s->settle_until) {
            if (s->q)
                usc_qmp_execute(s->q, "stop", NULL, NULL, QMP_TIMEOUT_MS);
            s->phase = STOPPED;
        }
        if (s->phase == STOPPED) {
            judge(s);
            continue;
        }
        if (s->phase == ENDING && unirun_now_ms() >= s->kill_at) {
            kill(b->pid, SIGKILL);
            s->kill_at = unirun_now_ms() + QUIT_GRACE_MS;
        }
        if (poll(p, 3, poll_timeout(s)) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            read_exit_port(s);
    }
    if (!s->exited)
        while (waitpid(b->pid, &s->ws, 0) < 0 && errno == EINTR)
            ;
    b->pid = 0;
    unirun_qemu_pid = 0;
    status = final_status(s);
    /*
     * Detached, the folder stays as the record of how the guest ended;
     * its RAM is let go, unless QEMU died under us (a kill -9): then that
     * RAM is all there is, for unicore watch or dump to take.
     */
    ended_by_us = s->judged || unirun_forwarded || unirun_stop_asked;
    if (o->detach && ended_by_us) {
        /* A crash whose core could not be written keeps its RAM. */
        if (!s->judged || !s->v.crash || s->core[0])
            usc_rundir_guest_mem_release(b->name);
        if (!s->judged) {
            s->v.status = status;
            snprintf(s->v.reason, sizeof(s->v.reason), "stopped on request");
        }
        record(s, s->v.crash ? USC_GUEST_CRASHED : USC_GUEST_EXITED);
    }
    usc_qmp_close(s->q);
    free(s);
    return status;
}
