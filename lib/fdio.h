/* Deadlines, non-blocking socket I/O, and reading a file's tail. */
#ifndef USC_FDIO_H
#define USC_FDIO_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds on the monotonic clock. */
int64_t usc_now_ms(void);

/* The deadline (timeout_ms) from now; -1 (no deadline) when it is < 0. */
int64_t usc_deadline_in(int timeout_ms);

/* Milliseconds left until (deadline), for poll(): 0 once past, -1 for none. */
int usc_deadline_left(int64_t deadline);

/*
 * How long to wait next, in milliseconds, in slices of at most (slice_ms)
 * until (end) (usc_now_ms time; -1: none): 0 once past it.
 */
int usc_deadline_slice(int64_t end, int slice_ms);

/*
 * Wait until (fd) is ready for poll (events) or (deadline) passes. Returns
 * 0, -ETIMEDOUT, or -errno of poll (-EINTR on a signal).
 */
int usc_fd_wait(int fd, short events, int64_t deadline);

/*
 * Send all (len) bytes at (p) on the non-blocking socket (fd) by
 * (deadline). Returns 0, -ETIMEDOUT, -ECONNRESET when the peer is gone, or
 * another -errno.
 */
int usc_fd_write_all(int fd, const void *p, size_t len, int64_t deadline);

/*
 * Connect a new non-blocking, close-on-exec stream socket to the unix
 * socket (path) by (deadline), retrying while the listener's backlog is
 * full. Stores the socket in (*fd). Returns 0; -ENAMETOOLONG; -ENOENT or
 * -ECONNREFUSED when nothing listens there; -ETIMEDOUT; another -errno.
 */
int usc_unix_connect(const char *path, int64_t deadline, int *fd);

/*
 * As usc_unix_connect, to the TCP listener at (hostport), "HOST:PORT"
 * ("[V6]:PORT" for an IPv6 address), with TCP_NODELAY set. Returns 0;
 * -EINVAL for an address that is none or does not resolve; -ECONNREFUSED;
 * -ETIMEDOUT; another -errno.
 */
int usc_tcp_connect(const char *hostport, int64_t deadline, int *fd);

/*
 * Read the last (cap) bytes at most of the regular file at (path), not
 * following a symlink, into (buf); their number into (*len). Returns 0 or
 * -errno (-EINVAL for a file that is not regular).
 */
int usc_file_read_tail(const char *path, void *buf, size_t cap, size_t *len);

#endif /* USC_FDIO_H */
