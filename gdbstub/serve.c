/* unigdb's server loop: one gdb at a time, bytes between it and a session. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdio.h"
#include "rsp.h"
#include "unigdb.h"

/* How long one wait for a running guest's stop lasts before gdb's bytes
 * (a Ctrl-C) are looked at again. */
#define WAIT_SLICE_MS 50
/* How long gdb may take to read what we send. */
#define WRITE_TIMEOUT_MS 30000
/* Refused clients get this long to read why before we hang up. */
#define REFUSE_LINGER_MS 2000
#define MAX_REFUSED 8
#define READ_CHUNK 65536

static int wake_fd = -1;

void unigdb_serve_wake_fd(int fd)
{
    wake_fd = fd;
}

/* Was the server woken (a signal)? Empties the pipe. */
static int woken(void)
{
    char buf[64];
    struct pollfd p = {.fd = wake_fd, .events = POLLIN};

    if (wake_fd < 0 || poll(&p, 1, 0) <= 0)
        return 0;
    while (read(wake_fd, buf, sizeof(buf)) > 0)
        ;
    return 1;
}

/* Clients turned away while one is served, each lingering a moment. */
struct refused {
    int fd[MAX_REFUSED];
    int64_t until[MAX_REFUSED];
};

/* Send (text) to a fresh client as the answer to whatever it asks first:
 * gdb shows it as "Remote failure reply: E.(text)". */
static void tell_client(int fd, const char *text)
{
    char msg[512], pkt[600];
    int n;

    n = snprintf(msg, sizeof(msg), "E.%s", text);
    if (n < 0 || (size_t)n >= sizeof(msg))
        n = (int)sizeof(msg) - 1;
    n = usc_rsp_frame(msg, (size_t)n, pkt + 1, sizeof(pkt) - 1);
    if (n < 0)
        return;
    pkt[0] = '+'; /* the acknowledgement of its first packet */
    usc_fd_write_all(fd, pkt, (size_t)n + 1, usc_deadline_in(1000));
}

/* Tell client (fd) why it is not served (taking it over), and leave it a
 * moment to read that: closing at once could lose it. */
static void turn_away(struct refused *r, int fd, const char *text)
{
    tell_client(fd, text);
    shutdown(fd, SHUT_WR);
    for (int i = 0; i < MAX_REFUSED; i++) {
        if (r->fd[i] < 0) {
            r->fd[i] = fd;
            r->until[i] = usc_now_ms() + REFUSE_LINGER_MS;
            return;
        }
    }
    close(fd);
}

static void refuse(struct refused *r, int lfd, const char *name)
{
    char text[200];
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd < 0)
        return;
    snprintf(text, sizeof(text),
             "unigdb: %s: another gdb is attached; one client at a time", name);
    turn_away(r, fd, text);
}

/* Hang up on refused clients that have read (they closed) or had time;
 * with (all), wait for each of them to do so. */
static void refused_reap(struct refused *r, int all)
{
    char buf[256];
    int open;

    do {
        open = 0;
        for (int i = 0; i < MAX_REFUSED; i++) {
            struct pollfd p = {.fd = r->fd[i], .events = POLLIN};
            ssize_t n;

            if (r->fd[i] < 0)
                continue;
            if (all)
                poll(&p, 1, usc_deadline_left(r->until[i]));
            while ((n = read(r->fd[i], buf, sizeof(buf))) > 0)
                ;
            if (n == 0 || (n < 0 && errno != EAGAIN) ||
                usc_now_ms() >= r->until[i]) {
                close(r->fd[i]);
                r->fd[i] = -1;
            } else {
                open = 1;
            }
        }
    } while (all && open);
}

static int refused_any(const struct refused *r)
{
    for (int i = 0; i < MAX_REFUSED; i++)
        if (r->fd[i] >= 0)
            return 1;
    return 0;
}

/* Write out what the session queued. */
static int flush(int fd, struct unigdb_buf *out)
{
    int err;

    if (!out->len)
        return 0;
    err = usc_fd_write_all(fd, out->p, out->len,
                           usc_deadline_in(WRITE_TIMEOUT_MS));
    out->len = 0;
    return err;
}

/* Read what gdb sent into the session: 1 when gdb has gone. */
static int take_input(int fd, struct unigdb_session *s, char *buf)
{
    for (;;) {
        ssize_t n = read(fd, buf, READ_CHUNK);

        if (n > 0) {
            if (unigdb_session_input(s, buf, (size_t)n))
                return 1;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return 1; /* end of file, or a reset */
    }
}

/* Serve one client on (cfd), which it takes over, until it leaves.
 * Returns 0, or the error that made the guest unusable or left it
 * otherwise than gdb would expect (reported on stderr). */
static int serve_client(struct usc_target *t, const struct unigdb_config *cfg,
                        int lfd, int cfd, struct refused *r, int *stop)
{
    static char buf[READ_CHUNK];
    struct unigdb_session *s = NULL;
    int err, gone = 0, fatal = 0;

    err = unigdb_session_open(t, cfg, &s);
    if (err) {
        const char *why =
            err == -EBUSY ? "another debugger holds the guest" : strerror(-err);
        char text[300];

        snprintf(text, sizeof(text), "unigdb: %s: cannot attach: %s", cfg->name,
                 why);
        turn_away(r, cfd, text);
        unigdb_error(cfg->name, "cannot attach: %s", why);
        return err;
    }
    while (!gone && !*stop) {
        struct pollfd p[3] = {{.fd = cfd, .events = POLLIN},
                              {.fd = lfd, .events = POLLIN},
                              {.fd = wake_fd, .events = POLLIN}};
        int running = unigdb_session_running(s);

        if (flush(cfd, unigdb_session_output(s)))
            break;
        if (unigdb_session_done(s))
            break;
        refused_reap(r, 0);
        /* a running guest is waited for in slices, gdb looked at between */
        if (poll(p, 3, running ? 0 : REFUSE_LINGER_MS) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            gone = take_input(cfd, s, buf);
        if (p[1].revents & POLLIN)
            refuse(r, lfd, cfg->name);
        if (wake_fd >= 0 && (p[2].revents & POLLIN) && woken())
            *stop = 1;
        if (!gone && unigdb_session_running(s)) {
            err = unigdb_session_wait(s, WAIT_SLICE_MS);
            if (err < 0) {
                unigdb_error(cfg->name, "waiting for the guest: %s",
                             strerror(-err));
                fatal = err;
                break;
            }
        }
    }
    if (!gone)
        flush(cfd, unigdb_session_output(s));
    err = unigdb_session_close(s);
    if (err)
        unigdb_error(cfg->name, "leaving the guest as it was: %s",
                     strerror(-err));
    close(cfd); /* after the clean-up: a client may wait for the end */
    return fatal ? fatal : err;
}

int unigdb_serve(struct usc_target *t, const struct unigdb_config *cfg,
                 struct unigdb_listener *l, int once)
{
    struct refused r;
    int stop = 0, err = 0;

    for (int i = 0; i < MAX_REFUSED; i++)
        r.fd[i] = -1;
    while (!stop) {
        struct pollfd p[2] = {{.fd = l->fd, .events = POLLIN},
                              {.fd = wake_fd, .events = POLLIN}};
        int cfd;

        /* wake now and then while refused clients linger */
        if (poll(p, 2, refused_any(&r) ? REFUSE_LINGER_MS / 4 : -1) < 0 &&
            errno != EINTR) {
            err = -errno;
            break;
        }
        refused_reap(&r, 0);
        if (wake_fd >= 0 && (p[1].revents & POLLIN) && woken())
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        cfd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
            continue;
        err = serve_client(t, cfg, l->fd, cfd, &r, &stop);
        if (once || err == -ECONNREFUSED || err == -ENOENT)
            break;
        err = 0;
    }
    refused_reap(&r, 1);
    return err;
}
