/* Deadlines, non-blocking socket I/O, and reading a file's tail. */
#include "fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
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
static int connect_by(int fd, const struct sockaddr_un *addr, int64_t deadline)
{
    for (;;) {
        int err, soerr = 0;
        socklen_t sl = sizeof(soerr);

        if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0)
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
    err = connect_by(s, &addr, deadline);
    if (err < 0) {
        close(s);
        return err;
    }
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
