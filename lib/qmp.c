/* QMP client: line parsing, capability negotiation, commands and events. */
#include "qmp.h"
#include "fdio.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EVENTS_MAX 64
#define READ_CHUNK 65536
#define ERROR_MAX 256

struct usc_qmp {
    int fd;
    int64_t next_id;
    char *rbuf; /* received bytes not yet parsed */
    size_t rlen, rcap;
    struct usc_qmp_msg events[EVENTS_MAX]; /* a ring of queued events */
    unsigned ev_head, ev_count;
    char last_error[ERROR_MAX];
};

/* ---- parsing ---------------------------------------------------------- */

void usc_qmp_msg_clear(struct usc_qmp_msg *msg)
{
    json_decref(msg->root);
    memset(msg, 0, sizeof(*msg));
}

static int classify(json_t *root, struct usc_qmp_msg *msg)
{
    json_t *greeting = json_object_get(root, "QMP");
    json_t *ret = json_object_get(root, "return");
    json_t *error = json_object_get(root, "error");
    json_t *event = json_object_get(root, "event");
    json_t *id = json_object_get(root, "id");

    if (!!greeting + !!ret + !!error + !!event != 1)
        return -EPROTO;
    if (json_is_integer(id)) {
        msg->has_id = 1;
        msg->id = json_integer_value(id);
    }
    if (greeting) {
        if (!json_is_object(greeting))
            return -EPROTO;
        msg->kind = USC_QMP_GREETING;
        msg->value = greeting;
    } else if (ret) {
        msg->kind = USC_QMP_RETURN;
        msg->value = ret;
    } else if (error) {
        msg->kind = USC_QMP_ERROR;
        msg->value = error;
        msg->error_class = json_string_value(json_object_get(error, "class"));
        msg->error_desc = json_string_value(json_object_get(error, "desc"));
        if (!msg->error_class || !msg->error_desc)
            return -EPROTO;
    } else {
        json_t *data = json_object_get(root, "data");

        msg->kind = USC_QMP_EVENT;
        msg->event = json_string_value(event);
        if (!msg->event || (data && !json_is_object(data)))
            return -EPROTO;
        msg->value = data;
    }
    return 0;
}

int usc_qmp_parse(const char *line, size_t len, struct usc_qmp_msg *msg)
{
    json_t *root;

    memset(msg, 0, sizeof(*msg));
    if (!line || len > USC_QMP_LINE_MAX)
        return -EPROTO;
    root = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(root) || classify(root, msg) < 0) {
        json_decref(root);
        memset(msg, 0, sizeof(*msg));
        return -EPROTO;
    }
    msg->root = root;
    return 0;
}

/* ---- deadlines and socket I/O ----------------------------------------- */

/* Read more bytes into rbuf, waiting until (deadline). */
static int fill(struct usc_qmp *q, int64_t deadline)
{
    for (;;) {
        ssize_t n;
        int err;

        if (q->rcap - q->rlen < READ_CHUNK) {
            size_t ncap = q->rlen + READ_CHUNK;
            char *nb = realloc(q->rbuf, ncap);

            if (!nb)
                return -ENOMEM;
            q->rbuf = nb;
            q->rcap = ncap;
        }
        n = recv(q->fd, q->rbuf + q->rlen, q->rcap - q->rlen, MSG_DONTWAIT);
        if (n > 0) {
            q->rlen += (size_t)n;
            return 0;
        }
        if (n == 0)
            return -ECONNRESET;
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        err = usc_fd_wait(q->fd, POLLIN, deadline);
        if (err < 0)
            return err;
    }
}

/*
 * Receive and parse the next non-blank line into (msg), waiting until
 * (deadline). (greeting) rejects at once a peer whose first byte cannot
 * start a JSON object, such as a gdbstub.
 */
static int next_msg(struct usc_qmp *q, struct usc_qmp_msg *msg,
                    int64_t deadline, int greeting)
{
    size_t scanned = 0;

    for (;;) {
        char *nl = q->rlen > scanned
                       ? memchr(q->rbuf + scanned, '\n', q->rlen - scanned)
                       : NULL;
        int err;

        if (greeting && q->rlen) {
            size_t i = 0;

            while (i < q->rlen && strchr(" \t\r\n", q->rbuf[i]))
                i++;
            if (i < q->rlen && q->rbuf[i] != '{')
                return -EPROTO;
        }
        if (nl) {
            size_t len = (size_t)(nl - q->rbuf), used = len + 1;
            size_t j = 0;

            while (j < len && strchr(" \t\r", q->rbuf[j]))
                j++;
            err = j == len ? 1 : usc_qmp_parse(q->rbuf, len, msg);
            memmove(q->rbuf, q->rbuf + used, q->rlen - used);
            q->rlen -= used;
            scanned = 0;
            if (err <= 0)
                return err;
            continue; /* a blank line */
        }
        scanned = q->rlen;
        if (q->rlen > USC_QMP_LINE_MAX)
            return -EPROTO;
        err = fill(q, deadline);
        if (err < 0)
            return err;
    }
}

static void queue_event(struct usc_qmp *q, struct usc_qmp_msg *msg)
{
    if (q->ev_count == EVENTS_MAX) {
        usc_qmp_msg_clear(&q->events[q->ev_head]);
        q->ev_head = (q->ev_head + 1) % EVENTS_MAX;
        q->ev_count--;
    }
    q->events[(q->ev_head + q->ev_count) % EVENTS_MAX] = *msg;
    q->ev_count++;
    memset(msg, 0, sizeof(*msg));
}

/* ---- the client ------------------------------------------------------- */

static int error_errno(const char *class)
{
    return strcmp(class, "CommandNotFound") == 0 ? -ENOTSUP : -EIO;
}

/* Send (cmd) with (args) and a fresh id; its id in (*id). */
static int send_command(struct usc_qmp *q, const char *cmd, json_t *args,
                        int64_t *id, int64_t deadline)
{
    json_t *obj;
    char *text = NULL;
    size_t len;
    int err = -ENOMEM;

    *id = ++q->next_id;
    obj = json_pack("{s:s, s:I}", "execute", cmd, "id", (json_int_t)*id);
    if (!obj)
        return -ENOMEM;
    if (args && json_object_set(obj, "arguments", args) < 0)
        goto out;
    text = json_dumps(obj, JSON_COMPACT);
    if (!text)
        goto out;
    len = strlen(text);
    text[len] = '\n'; /* json_dumps' NUL becomes the line end */
    err = usc_fd_write_all(q->fd, text, len + 1, deadline);
out:
    free(text);
    json_decref(obj);
    return err;
}

/* Whether reply (msg) answers command (id): an id-less reply answers a
 * command QEMU could not parse; one with another id is stale. */
static int answers(const struct usc_qmp_msg *msg, int64_t id)
{
    if (msg->has_id)
        return msg->id == id;
    return json_object_get(msg->root, "id") == NULL;
}

static int execute(struct usc_qmp *q, const char *cmd, json_t *args,
                   json_t **ret, int64_t deadline)
{
    int64_t id;
    int err;

    if (ret)
        *ret = NULL;
    if (!cmd || !*cmd || (args && !json_is_object(args)))
        return -EINVAL;
    q->last_error[0] = '\0';
    err = send_command(q, cmd, args, &id, deadline);
    while (err == 0 || err == -EINTR) {
        struct usc_qmp_msg msg;

        /* QMP matches by id, but giving up early would only make the
         * next command skip this reply: wait until the deadline. */
        err = next_msg(q, &msg, deadline, 0);
        if (err < 0)
            continue;
        if (msg.kind == USC_QMP_GREETING) {
            err = -EPROTO;
        } else if (msg.kind == USC_QMP_EVENT) {
            queue_event(q, &msg);
            continue;
        } else if (!answers(&msg, id)) {
            usc_qmp_msg_clear(&msg);
            continue;
        } else if (msg.kind == USC_QMP_ERROR) {
            snprintf(q->last_error, sizeof(q->last_error), "%s",
                     msg.error_desc);
            err = error_errno(msg.error_class);
        } else if (ret) {
            *ret = json_incref(msg.value);
        }
        usc_qmp_msg_clear(&msg);
        return err;
    }
    return err;
}

int usc_qmp_execute(struct usc_qmp *q, const char *cmd, json_t *args,
                    json_t **ret, int timeout_ms)
{
    if (timeout_ms < 0)
        return -EINVAL;
    return execute(q, cmd, args, ret, usc_deadline_in(timeout_ms));
}

int usc_qmp_connect_fd(int fd, int timeout_ms, struct usc_qmp **out)
{
    int64_t deadline = usc_deadline_in(timeout_ms);
    struct usc_qmp_msg msg;
    struct usc_qmp *q;
    int err;

    *out = NULL;
    q = timeout_ms < 0 ? NULL : calloc(1, sizeof(*q));
    if (!q) {
        close(fd);
        return timeout_ms < 0 ? -EINVAL : -ENOMEM;
    }
    q->fd = fd;
    do
        err = next_msg(q, &msg, deadline, 1);
    while (err == -EINTR);
    if (err < 0)
        goto err;
    err = msg.kind == USC_QMP_GREETING ? 0 : -EPROTO;
    usc_qmp_msg_clear(&msg);
    if (err < 0)
        goto err;
    err = execute(q, "qmp_capabilities", NULL, NULL, deadline);
    if (err < 0)
        goto err;
    *out = q;
    return 0;
err:
    usc_qmp_close(q);
    return err;
}

int usc_qmp_connect(const char *path, int timeout_ms, struct usc_qmp **out)
{
    int64_t deadline = usc_deadline_in(timeout_ms);
    int fd, err;

    *out = NULL;
    if (timeout_ms < 0)
        return -EINVAL;
    err = usc_unix_connect(path, deadline, &fd);
    if (err < 0)
        return err;
    return usc_qmp_connect_fd(fd, usc_deadline_left(deadline), out);
}

void usc_qmp_close(struct usc_qmp *q)
{
    if (!q)
        return;
    while (q->ev_count) {
        usc_qmp_msg_clear(&q->events[q->ev_head]);
        q->ev_head = (q->ev_head + 1) % EVENTS_MAX;
        q->ev_count--;
    }
    close(q->fd);
    free(q->rbuf);
    free(q);
}

int usc_qmp_fd(const struct usc_qmp *q)
{
    return q->fd;
}

int usc_qmp_peer_pid(const struct usc_qmp *q, pid_t *pid)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(q->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -errno;
    if (cred.pid <= 0)
        return -ESRCH;
    *pid = cred.pid;
    return 0;
}

const char *usc_qmp_last_error(const struct usc_qmp *q)
{
    return q->last_error;
}

int usc_qmp_next_event(struct usc_qmp *q, int timeout_ms, char *name,
                       size_t name_size, json_t **data)
{
    int64_t deadline = usc_deadline_in(timeout_ms);
    struct usc_qmp_msg msg;
    int err;

    if (data)
        *data = NULL;
    while (!q->ev_count) {
        err = next_msg(q, &msg, deadline, 0);
        if (err < 0)
            return err;
        if (msg.kind == USC_QMP_GREETING) {
            usc_qmp_msg_clear(&msg);
            return -EPROTO;
        }
        if (msg.kind == USC_QMP_EVENT)
            queue_event(q, &msg);
        else
            usc_qmp_msg_clear(&msg);
    }
    msg = q->events[q->ev_head];
    memset(&q->events[q->ev_head], 0, sizeof(msg));
    q->ev_head = (q->ev_head + 1) % EVENTS_MAX;
    q->ev_count--;
    if (name && name_size)
        snprintf(name, name_size, "%s", msg.event);
    if (data)
        *data = json_incref(msg.value);
    usc_qmp_msg_clear(&msg);
    return 0;
}
