/* A GDB remote-protocol client over a stream socket, every wait bounded. */
#include "fdio.h"
#include "rsp.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* How often a stub may NAK one packet, or we NAK its, before we give up. */
#define MAX_RETRIES 3

struct usc_rsp {
    int fd;
    int ack; /* still in ack mode */
    int multiprocess;
    int stopped_on_connect;
    int have_stop;
    struct usc_rsp_stop stop; /* a stop reply kept for usc_rsp_wait_stop */
    size_t last_len;          /* the last frame sent, for retransmission */
    char last[USC_RSP_FRAME_MAX];
    size_t rlen;
    char rbuf[2 * USC_RSP_FRAME_MAX];
};

/* Read what the socket holds into rbuf, waiting until (deadline). */
static int fill(struct usc_rsp *c, int64_t deadline)
{
    for (;;) {
        ssize_t n;
        int err;

        if (c->rlen == sizeof(c->rbuf))
            return -EMSGSIZE;
        n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen,
                 MSG_DONTWAIT);
        if (n > 0) {
            c->rlen += (size_t)n;
            return 0;
        }
        if (n == 0)
            return -ECONNRESET;
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        err = usc_fd_wait(c->fd, POLLIN, deadline);
        if (err < 0)
            return err;
    }
}

static void drop(struct usc_rsp *c, size_t n)
{
    memmove(c->rbuf, c->rbuf + n, c->rlen - n);
    c->rlen -= n;
}

/* 1 when rbuf starts with bytes that no stub sends outside a packet. */
static int starts_with_junk(const struct usc_rsp *c)
{
    for (size_t i = 0; i < c->rlen; i++) {
        if (c->rbuf[i] == '$')
            return 0;
        if (c->rbuf[i] != '+' && c->rbuf[i] != '-')
            return 1;
    }
    return 0;
}

/* Receive one packet; (strict) rejects a peer that sends non-RSP bytes. */
static int recv_packet(struct usc_rsp *c, char *buf, size_t cap, size_t *len,
                       int64_t deadline, int strict)
{
    int resent = 0, naked = 0;

    for (;;) {
        size_t consumed, nacks = 0;
        int r, err;

        if (strict && starts_with_junk(c))
            return -EPROTO;
        r = usc_rsp_unframe(c->rbuf, c->rlen, &consumed, &nacks, buf, cap, len);
        drop(c, consumed);
        if (nacks && c->ack && c->last_len) {
            if (++resent > MAX_RETRIES)
                return -EPROTO;
            err = usc_fd_write_all(c->fd, c->last, c->last_len, deadline);
            if (err < 0)
                return err;
        }
        if (r == 1) {
            if (c->ack)
                return usc_fd_write_all(c->fd, "+", 1, deadline);
            return 0;
        }
        if (r == -EBADMSG && c->ack && ++naked <= MAX_RETRIES) {
            err = usc_fd_write_all(c->fd, "-", 1, deadline);
            if (err < 0)
                return err;
            continue;
        }
        if (r < 0)
            return r;
        err = fill(c, deadline);
        if (err < 0)
            return err;
    }
}

static int send_packet(struct usc_rsp *c, const char *data, size_t len,
                       int64_t deadline)
{
    int n = usc_rsp_frame(data, len, c->last, sizeof(c->last));

    if (n < 0)
        return n;
    c->last_len = (size_t)n;
    return usc_fd_write_all(c->fd, c->last, c->last_len, deadline);
}

/* A packet that looks like a stop reply, parsed into (st). */
static int as_stop(const char *pkt, size_t len, struct usc_rsp_stop *st)
{
    if (len < 3 || !strchr("STWX", pkt[0]))
        return 0;
    return usc_rsp_parse_stop(pkt, len, st) == 0;
}

/* Send (cmd) and take the first packet that is not a stop reply. */
static int request(struct usc_rsp *c, const char *cmd, char *reply, size_t cap,
                   size_t *len, int64_t deadline, int handshake)
{
    struct usc_rsp_stop st;
    int err = send_packet(c, cmd, strlen(cmd), deadline);

    while (err == 0 || err == -EINTR) {
        /* A reply has no id: give up on it only at the deadline, or the
         * next request would take it for its own. */
        err = recv_packet(c, reply, cap, len, deadline, handshake);
        if (err < 0)
            continue;
        if (!as_stop(reply, *len, &st))
            return 0;
        if (handshake) {
            c->stopped_on_connect = 1;
        } else {
            c->stop = st;
            c->have_stop = 1;
        }
    }
    return err;
}

static int handshake(struct usc_rsp *c, int64_t deadline)
{
    char reply[1024];
    size_t len;
    int err;

    /* As gdb does: acknowledge what the stub may have sent before we came.
     * A stub that waits for that (hvt's, with its first stop reply) reads
     * nothing else until it has it; the others skip a stray '+'. */
    err = usc_fd_write_all(c->fd, "+", 1, deadline);
    if (err < 0)
        return err;
    err = request(c,
                  "qSupported:multiprocess+;swbreak+;hwbreak+;"
                  "vContSupported+",
                  reply, sizeof(reply), &len, deadline, 1);
    if (err < 0)
        return err;
    if (usc_rsp_reply_status(reply, len) < 0 && len != 0)
        return -EPROTO;
    c->multiprocess = strstr(reply, "multiprocess+") != NULL;
    /* QEMU does not offer QStartNoAckMode in qSupported but accepts it. */
    err =
        request(c, "QStartNoAckMode", reply, sizeof(reply), &len, deadline, 1);
    if (err < 0)
        return err;
    err = usc_rsp_reply_status(reply, len);
    if (err == 0)
        c->ack = 0;
    else if (err != -ENOTSUP)
        return -EPROTO;
    return 0;
}

int usc_rsp_connect_fd(int fd, int timeout_ms, struct usc_rsp **out)
{
    struct usc_rsp *c;
    int err;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return -ENOMEM;
    }
    c->fd = fd;
    c->ack = 1;
    err = handshake(c, usc_deadline_in(timeout_ms));
    if (err < 0) {
        usc_rsp_close(c);
        return err;
    }
    *out = c;
    return 0;
}

int usc_rsp_connect(const char *path, int timeout_ms, struct usc_rsp **out)
{
    int64_t deadline = usc_deadline_in(timeout_ms);
    int fd, err;

    *out = NULL;
    err = usc_unix_connect(path, deadline, &fd);
    if (err < 0)
        return err;
    return usc_rsp_connect_fd(fd, usc_deadline_left(deadline), out);
}

void usc_rsp_close(struct usc_rsp *c)
{
    if (!c)
        return;
    close(c->fd);
    free(c);
}

int usc_rsp_fd(const struct usc_rsp *c)
{
    return c->fd;
}

int usc_rsp_stopped_on_connect(const struct usc_rsp *c)
{
    return c->stopped_on_connect;
}

int usc_rsp_multiprocess(const struct usc_rsp *c)
{
    return c->multiprocess;
}

int usc_rsp_send(struct usc_rsp *c, const char *data, size_t len,
                 int timeout_ms)
{
    return send_packet(c, data, len, usc_deadline_in(timeout_ms));
}

int usc_rsp_recv(struct usc_rsp *c, char *buf, size_t cap, size_t *len,
                 int timeout_ms)
{
    return recv_packet(c, buf, cap, len, usc_deadline_in(timeout_ms), 0);
}

int usc_rsp_request(struct usc_rsp *c, const char *cmd, char *reply, size_t cap,
                    size_t *len, int timeout_ms)
{
    return request(c, cmd, reply, cap, len, usc_deadline_in(timeout_ms), 0);
}

int usc_rsp_request_ok(struct usc_rsp *c, const char *cmd, int timeout_ms)
{
    char reply[256];
    size_t len;
    int err = usc_rsp_request(c, cmd, reply, sizeof(reply), &len, timeout_ms);

    if (err < 0)
        return err;
    err = usc_rsp_reply_status(reply, len);
    return err > 0 ? -EPROTO : err;
}

int usc_rsp_wait_stop(struct usc_rsp *c, struct usc_rsp_stop *st,
                      int timeout_ms)
{
    char pkt[1024];
    size_t len;
    int err;

    if (c->have_stop) {
        *st = c->stop;
        c->have_stop = 0;
        return 0;
    }
    err =
        recv_packet(c, pkt, sizeof(pkt), &len, usc_deadline_in(timeout_ms), 0);
    if (err < 0)
        return err;
    if (as_stop(pkt, len, st))
        return 0;
    err = usc_rsp_reply_status(pkt, len);
    return err < 0 ? err : -EPROTO;
}

int usc_rsp_stop_pending(const struct usc_rsp *c)
{
    return c->have_stop;
}

int usc_rsp_interrupt(struct usc_rsp *c, int timeout_ms)
{
    return usc_fd_write_all(c->fd, "\x03", 1, usc_deadline_in(timeout_ms));
}
