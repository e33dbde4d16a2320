/* A QMP (QEMU Machine Protocol) client over a unix socket, using jansson. */
#ifndef USC_QMP_H
#define USC_QMP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Everything the peer sends is untrusted: a line that is not one JSON
 * object of a known shape is -EPROTO, a line longer than USC_QMP_LINE_MAX is
 * -EPROTO, a peer that closes is -ECONNRESET, and every wait has a deadline
 * (-ETIMEDOUT). QEMU 7.2 serves one client per monitor socket at a time: a
 * second client connects but hears nothing until the first leaves, so hold
 * a connection only as long as needed.
 */

/* The longest line (one JSON message) accepted from the peer. */
#define USC_QMP_LINE_MAX (1u << 20)

/* ---- one received line ------------------------------------------------ */

enum usc_qmp_kind {
    USC_QMP_GREETING = 1, /* {"QMP": {...}} */
    USC_QMP_RETURN,       /* {"return": ..., "id": ...} */
    USC_QMP_ERROR,        /* {"error": {"class", "desc"}, "id": ...} */
    USC_QMP_EVENT,        /* {"event": "NAME", "data": {...}, ...} */
};

/*
 * A classified message. (root) is owned by the message (usc_qmp_msg_clear);
 * the other pointers borrow from it.
 */
struct usc_qmp_msg {
    enum usc_qmp_kind kind;
    json_t *root;
    json_t *value;           /* RETURN: the value; GREETING: the "QMP"
                                object; EVENT: "data" or NULL; ERROR: the
                                "error" object */
    const char *event;       /* EVENT: its name */
    const char *error_class; /* ERROR: e.g. "GenericError" */
    const char *error_desc;  /* ERROR: human-readable text */
    int has_id;              /* RETURN/ERROR: an integer "id" was given */
    int64_t id;
};

/*
 * Parse and classify one received line, (len) bytes at (line), without the
 * line terminator (trailing whitespace is allowed). Fills (msg) and returns
 * 0, or returns -EPROTO for anything else: not JSON, not an object, members
 * of the wrong type, none or more than one of QMP/return/error/event, a line
 * longer than USC_QMP_LINE_MAX. On error (msg) holds nothing to clear.
 */
int usc_qmp_parse(const char *line, size_t len, struct usc_qmp_msg *msg);

/* Release what (msg) owns and zero it; a zeroed (msg) is a no-op. */
void usc_qmp_msg_clear(struct usc_qmp_msg *msg);

/* ---- the client ------------------------------------------------------- */

/* A negotiated connection to one QMP monitor. */
struct usc_qmp;

/*
 * Connect to the monitor at unix socket (path), read its greeting and
 * negotiate qmp_capabilities, all within (timeout_ms) (>= 0). Stores a new
 * connection in (*out), freed with usc_qmp_close. Returns 0; -ENOENT or
 * -ECONNREFUSED (no QEMU listening: dead); -ENAMETOOLONG; -EPROTO for a
 * socket that is not QMP (its first line is not a greeting); -ETIMEDOUT
 * (e.g. another client holds the monitor); -ECONNRESET.
 */
int usc_qmp_connect(const char *path, int timeout_ms, struct usc_qmp **out);

/* As usc_qmp_connect, over the connected stream socket (fd), which the
 * connection owns from then on (closed on failure too). */
int usc_qmp_connect_fd(int fd, int timeout_ms, struct usc_qmp **out);

/* Close (q) and free it, with any queued events; NULL is a no-op. */
void usc_qmp_close(struct usc_qmp *q);

/* The socket of (q), for poll(): readable when a message may be waiting. */
int usc_qmp_fd(const struct usc_qmp *q);

/* The pid of the process at the other end of (q) (SO_PEERCRED) into
 * (*pid). Returns 0 or a negative errno. */
int usc_qmp_peer_pid(const struct usc_qmp *q, pid_t *pid);

/*
 * Run command (cmd) with (args) (a JSON object, borrowed, or NULL) and
 * wait up to (timeout_ms) (>= 0) for its reply, matched by id; events that
 * arrive meanwhile are queued. When (ret) is not NULL, stores a new
 * reference to the reply's "return" value in (*ret) (json_decref it).
 * Returns 0; -EINVAL for bad arguments; -ENOTSUP when QEMU does not know
 * the command (CommandNotFound); -EIO for any other QMP error (see
 * usc_qmp_last_error); -EPROTO, -ECONNRESET, -ETIMEDOUT.
 */
int usc_qmp_execute(struct usc_qmp *q, const char *cmd, json_t *args,
                    json_t **ret, int timeout_ms);

/* The "desc" of the last error reply on (q), or "" (valid until the next
 * call on q). */
const char *usc_qmp_last_error(const struct usc_qmp *q);

/*
 * Take the oldest queued event, else wait up to (timeout_ms) (0: only what
 * has arrived; -1: no deadline) for one. Copies its name into (name) of
 * (name_size) bytes (truncated, NUL-terminated) and, when (data) is not
 * NULL, stores a new reference to its "data" (or NULL) in (*data). Returns
 * 0; -ETIMEDOUT; -EINTR when a signal interrupted the wait; -EPROTO;
 * -ECONNRESET. Replies that arrive here (to commands given up on) are
 * dropped. At most 64 events are queued; older ones are dropped first.
 */
int usc_qmp_next_event(struct usc_qmp *q, int timeout_ms, char *name,
                       size_t name_size, json_t **data);

#endif /* USC_QMP_H */
