/* F9 actions that run a sibling tool: unicore dump, unitrace record. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "unitop.h"

#define CHILDREN_MAX 32
#define TAIL_MAX 200 /* the last bytes of a child's output we keep */

extern char **environ;

struct child {
    pid_t pid; /* 0 when free */
    int fd;    /* its stdout and stderr, -1 once closed */
    int trace; /* a unitrace record (else a unicore dump) */
    char guest[USC_TARGET_NAME_MAX];
    char out[PATH_MAX]; /* what it writes */
    char tail[TAIL_MAX + 1];
    size_t taillen;
};

struct top_actions {
    char dir[PATH_MAX]; /* unitop's own folder: its siblings live there */
    struct child c[CHILDREN_MAX];
};

int top_actions_new(struct top_actions **out)
{
    struct top_actions *a = calloc(1, sizeof(*a));
    char exe[PATH_MAX];
    ssize_t n;

    if (!a)
        return -ENOMEM;
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        snprintf(a->dir, sizeof(a->dir), "%s", dirname(exe));
    }
    for (int i = 0; i < CHILDREN_MAX; i++)
        a->c[i].fd = -1;
    *out = a;
    return 0;
}

/*
 * The sibling tool (tool) next to unitop: installed, the same folder; in
 * a build tree, the tool's own folder beside unitop's (top/ → (folder)/).
 */
static int find_tool(const struct top_actions *a, const char *tool,
                     const char *folder, char *path, size_t size)
{
    int n = snprintf(path, size, "%s/%s", a->dir, tool);

    if (n > 0 && (size_t)n < size && access(path, X_OK) == 0)
        return 0;
    n = snprintf(path, size, "%s/../%s/%s", a->dir, folder, tool);
    if (n > 0 && (size_t)n < size && access(path, X_OK) == 0)
        return 0;
    return -ENOENT;
}

/* "NAME-20240501-120000" for the files an action writes. */
static void stamp(const struct top_guest *g, char *buf, size_t size)
{
    time_t t = time(NULL);
    struct tm tm;
    char when[32] = "now";

    if (localtime_r(&t, &tm))
        strftime(when, sizeof(when), "%Y%m%d-%H%M%S", &tm);
    snprintf(buf, size, "%s-%s", g->name, when);
}

static struct child *free_child(struct top_actions *a)
{
    for (int i = 0; i < CHILDREN_MAX; i++)
        if (!a->c[i].pid)
            return &a->c[i];
    return NULL;
}

/* Start (argv) with its output into a pipe we read. */
static int spawn(struct child *c, char *const argv[])
{
    posix_spawn_file_actions_t fa;
    int p[2], err;
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) != 0)
        return -errno;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY,
                                     0);
    posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, p[1], STDERR_FILENO);
    err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (err) {
        close(p[0]);
        return -err;
    }
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    c->pid = pid;
    c->fd = p[0];
    c->taillen = 0;
    c->tail[0] = '\0';
    return 0;
}

int top_action_dump(struct top_actions *a, struct top_fleet *f,
                    struct top_guest *g)
{
    char tool[PATH_MAX], target[PATH_MAX + 16], base[128];
    struct child *c = free_child(a);
    int err;

    if (find_tool(a, "unicore", "coredump", tool, sizeof(tool)) != 0) {
        snprintf(f->msg, sizeof(f->msg),
                 "%s: dump: unicore is not installed next to unitop", g->name);
        return -ENOENT;
    }
    if (!c || top_guest_target(g, target, sizeof(target)) != 0)
        return -ENOMEM;
    stamp(g, base, sizeof(base));
    snprintf(c->out, sizeof(c->out), "%s.core", base);
    char *argv[] = {tool, "dump", target, "-o", c->out, NULL};
    err = spawn(c, argv);
    if (err) {
        snprintf(f->msg, sizeof(f->msg), "%s: unicore: %s", g->name,
                 strerror(-err));
        return err;
    }
    c->trace = 0;
    snprintf(c->guest, sizeof(c->guest), "%s", g->name);
    snprintf(f->msg, sizeof(f->msg), "%s: dumping a core to %.160s", g->name,
             c->out);
    return 0;
}

int top_action_trace_start(struct top_actions *a, struct top_fleet *f,
                           struct top_guest *g)
{
    char tool[PATH_MAX], target[PATH_MAX + 16], base[128];
    struct child *c = free_child(a);
    int err;

    if (g->trace_pid) {
        snprintf(f->msg, sizeof(f->msg), "%s: already tracing", g->name);
        return -EBUSY;
    }
    if (find_tool(a, "unitrace", "tracer", tool, sizeof(tool)) != 0) {
        snprintf(f->msg, sizeof(f->msg),
                 "%s: trace: unitrace is not installed next to unitop",
                 g->name);
        return -ENOENT;
    }
    if (!c || top_guest_target(g, target, sizeof(target)) != 0)
        return -ENOMEM;
    stamp(g, base, sizeof(base));
    snprintf(c->out, sizeof(c->out), "%s.trace", base);
    char *argv[] = {tool, "record", target, "-o", c->out, NULL};
    err = spawn(c, argv);
    if (err) {
        snprintf(f->msg, sizeof(f->msg), "%s: unitrace: %s", g->name,
                 strerror(-err));
        return err;
    }
    c->trace = 1;
    snprintf(c->guest, sizeof(c->guest), "%s", g->name);
    g->trace_pid = c->pid;
    snprintf(f->msg, sizeof(f->msg), "%s: tracing into %.160s (F9 to stop)",
             g->name, c->out);
    return 0;
}

int top_action_trace_stop(struct top_actions *a, struct top_fleet *f,
                          struct top_guest *g)
{
    (void)a;
    if (!g->trace_pid) {
        snprintf(f->msg, sizeof(f->msg), "%s: no trace of ours runs", g->name);
        return -ESRCH;
    }
    /* unitrace record ends a recording without --duration on SIGINT. */
    kill(g->trace_pid, SIGINT);
    snprintf(f->msg, sizeof(f->msg), "%s: stopping the trace", g->name);
    return 0;
}

void top_actions_pollfds(struct top_actions *a, struct pollfd *fds, int *n,
                         int max)
{
    for (int i = 0; i < CHILDREN_MAX && *n < max; i++)
        if (a->c[i].pid && a->c[i].fd >= 0)
            fds[(*n)++] = (struct pollfd){.fd = a->c[i].fd, .events = POLLIN};
}

int top_actions_running(const struct top_actions *a)
{
    for (int i = 0; i < CHILDREN_MAX; i++)
        if (a->c[i].pid)
            return 1;
    return 0;
}

/* Keep the last TAIL_MAX bytes the child wrote. */
static void drain(struct child *c)
{
    char buf[512];
    ssize_t n;

    while ((n = read(c->fd, buf, sizeof(buf))) > 0) {
        size_t k = (size_t)n;

        if (k >= TAIL_MAX) {
            memcpy(c->tail, buf + k - TAIL_MAX, TAIL_MAX);
            c->taillen = TAIL_MAX;
        } else {
            if (c->taillen + k > TAIL_MAX) {
                size_t drop = c->taillen + k - TAIL_MAX;

                memmove(c->tail, c->tail + drop, c->taillen - drop);
                c->taillen -= drop;
            }
            memcpy(c->tail + c->taillen, buf, k);
            c->taillen += k;
        }
    }
    if (n == 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->tail[c->taillen] = '\0';
}

/* The child's last line of output, made safe for the status line. */
static void last_line(const struct child *c, char *buf, size_t size)
{
    char tmp[TAIL_MAX + 1];
    size_t end = c->taillen, start;

    while (end > 0 && (c->tail[end - 1] == '\n' || c->tail[end - 1] == '\r'))
        end--;
    for (start = end; start > 0 && c->tail[start - 1] != '\n'; start--)
        ;
    memcpy(tmp, c->tail + start, end - start);
    tmp[end - start] = '\0';
    usc_sanitize_text(buf, size, tmp, sizeof(tmp));
}

static void finished(struct child *c, int status, struct top_fleet *f)
{
    char line[TAIL_MAX + 1];
    const char *tool = c->trace ? "unitrace" : "unicore";

    if (c->fd >= 0)
        drain(c);
    last_line(c, line, sizeof(line));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        snprintf(f->msg, sizeof(f->msg), "%s: %.160s written", c->guest,
                 c->out);
    else if (line[0])
        snprintf(f->msg, sizeof(f->msg), "%s: %s failed: %s", c->guest, tool,
                 line);
    else
        snprintf(
            f->msg, sizeof(f->msg), "%s: %s failed (status %d)", c->guest, tool,
            WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    for (size_t i = 0; i < f->n; i++)
        if (f->g[i]->trace_pid == c->pid)
            f->g[i]->trace_pid = 0;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->pid = 0;
}

int top_actions_poll(struct top_actions *a, struct top_fleet *f)
{
    int changed = 0, status;

    for (int i = 0; i < CHILDREN_MAX; i++) {
        struct child *c = &a->c[i];

        if (!c->pid)
            continue;
        if (c->fd >= 0)
            drain(c);
        if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
            finished(c, status, f);
            changed = 1;
        }
    }
    return changed;
}

void top_actions_free(struct top_actions *a, struct top_fleet *f, int wait_ms)
{
    int64_t deadline = usc_now_ms() + wait_ms;

    if (!a)
        return;
    /* A recording we started ends with us, written out properly. */
    for (int i = 0; i < CHILDREN_MAX; i++)
        if (a->c[i].pid && a->c[i].trace)
            kill(a->c[i].pid, SIGINT);
    while (top_actions_running(a) && usc_now_ms() < deadline) {
        top_actions_poll(a, f);
        poll(NULL, 0, 20);
    }
    for (int i = 0; i < CHILDREN_MAX; i++)
        if (a->c[i].fd >= 0)
            close(a->c[i].fd);
    free(a);
}
