/* Deadlines, non-blocking socket I/O, and reading a file's tail. */
#include "fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int64_t usc_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t usc_deadline_in(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : usc_now_ms() + timeout_ms;
}

int usc_deadline_left(int64_t deadline)
{
    int64_t left;

    if (deadline < 0)
        return -1;
    left = deadline - usc_now_ms();
    return left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

int usc_deadline_slice(int64_t end, int slice_ms)
{
    int64_t left = end < 0 ? slice_ms : end - usc_now_ms();

    return left < 0 ? 0 : left > slice_ms ? slice_ms : (int)left;
}

int usc_fd_wait(int fd, short events, int64_t deadline)
{
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, usc_deadline_left(deadline));

    if (n < 0)
        return -errno;
    return n == 0 ? -ETIMEDOUT : 0;
}

int usc_fd_write_all(int fd, const void *buf, size_t len, int64_t deadline)
{
    const char *p = buf;

    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0) {
            int err = -errno;

            if (err == -EINTR)
                continue;
            if (err != -EAGAIN)
                return err == -EPIPE ? -ECONNRESET : err;
            err = usc_fd_wait(fd, POLLOUT, deadline);
            if (err < 0 && err != -EINTR)
                return err;
            continue;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Connect (fd) to (addr) by (deadline): a full backlog says "try again". */
static int connect_by(int fd, const struct sockaddr *addr, socklen_t alen,
                      int64_t deadline)
{
    for (;;) {
        int err, soerr = 0;
        socklen_t sl = sizeof(soerr);

        if (connect(fd, addr, alen) == 0)
            return 0;
        err = -errno;
        if (err == -EINTR)
            continue;
        if (err == -EAGAIN) {
            /* the listener is alive but busy */
            if (usc_deadline_left(deadline) == 0)
                return -ETIMEDOUT;
            usleep(10000);
            continue;
        }
        if (err != -EINPROGRESS)
            return err;
        err = usc_fd_wait(fd, POLLOUT, deadline);
        if (err < 0)
            return err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            return -errno;
        return -soerr;
    }
}

int usc_unix_connect(const char *path, int64_t deadline, int *fd)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int s, err;

    if (!path || strlen(path) >= sizeof(addr.sun_path))
        return -ENAMETOOLONG;
    memcpy(addr.sun_path, path, strlen(path) + 1);
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return -errno;
    err = connect_by(s, (const struct sockaddr *)&addr, sizeof(addr), deadline);
    if (err < 0) {
        close(s);
        return err;
    }
    *fd = s;
    return 0;
}

int usc_tcp_connect(const char *hostport, int64_t deadline, int *fd)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV},
                    *res = NULL, *ai;
    char host[256];
    const char *colon = hostport ? strrchr(hostport, ':') : NULL;
    size_t hlen;
    int s = -1, err = -EINVAL, one = 1;

    if (!colon || !colon[1] || colon - hostport >= (ptrdiff_t)sizeof(host))
        return -EINVAL;
    hlen = (size_t)(colon - hostport);
    /* "[::1]:1234": the brackets are the address's, not the host's */
    if (hlen >= 2 && hostport[0] == '[' && hostport[hlen - 1] == ']') {
        memcpy(host, hostport + 1, hlen - 2);
        host[hlen - 2] = '\0';
    } else {
        memcpy(host, hostport, hlen);
        host[hlen] = '\0';
    }
    if (getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res) != 0)
        return -EINVAL;
    for (ai = res; ai; ai = ai->ai_next) {
        s = socket(ai->ai_family,
                   ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                   ai->ai_protocol);
        if (s < 0) {
            err = -errno;
            continue;
        }
        err = connect_by(s, ai->ai_addr, ai->ai_addrlen, deadline);
        if (err == 0)
            break;
        close(s);
        s = -1;
    }
    freeaddrinfo(res);
    if (s < 0)
        return err;
    /* one small packet per round trip: do not wait to fill a segment */
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    *fd = s;
    return 0;
}

int usc_file_read_tail(const char *path, void *buf, size_t cap, size_t *len)
{
    struct stat st;
    off_t from;
    ssize_t n;
    int fd, err = 0;

    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    from = (uint64_t)st.st_size > cap ? st.st_size - (off_t)cap : 0;
    n = cap ? pread(fd, buf, cap, from) : 0;
    if (n < 0)
        err = -errno;
    else
        *len = (size_t)n;
    close(fd);
    return err;
}
