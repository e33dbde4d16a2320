/* unigdb's listening socket: a unix socket (0600) or a TCP address. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdio.h"
#include "unigdb.h"

#define BACKLOG 4

/* Is something listening on the unix socket (path)? */
static int unix_alive(const char *path)
{
    int fd, err = usc_unix_connect(path, usc_deadline_in(200), &fd);

    if (err == 0)
        close(fd);
    return err != -ECONNREFUSED && err != -ENOENT;
}

static int listen_unix(const char *path, struct unigdb_listener *l)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    mode_t old;
    int fd, err;

    if (!*path || strlen(path) >= sizeof(sa.sun_path) ||
        strlen(path) >= sizeof(l->unix_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    /* a socket file left by a unigdb that died: take its place */
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode) || unix_alive(path))
            return -EADDRINUSE;
        unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* 0600 from the start: no moment when others may connect */
    old = umask(0177);
    err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
    umask(old);
    if (!err && listen(fd, BACKLOG))
        err = -errno;
    if (err) {
        close(fd);
        return err;
    }
    l->fd = fd;
    snprintf(l->unix_path, sizeof(l->unix_path), "%s", path);
    snprintf(l->where, sizeof(l->where), "%s", path);
    return 0;
}

/* Split "HOST:PORT" or "[V6]:PORT" into (host) and (port). */
static int split_host_port(const char *addr, char *host, size_t hcap,
                           const char **port)
{
    const char *colon = strrchr(addr, ':');
    const char *h = addr;
    size_t hlen;

    if (!colon || !colon[1])
        return -EINVAL;
    hlen = (size_t)(colon - addr);
    if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= hcap)
        return -EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = colon + 1;
    return strspn(*port, "0123456789") == strlen(*port) ? 0 : -EINVAL;
}

static int listen_tcp(const char *addr, struct unigdb_listener *l)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL, *ai;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[256], shown[NI_MAXHOST], port_text[NI_MAXSERV];
    const char *port;
    int fd = -1, err, one = 1;

    err = split_host_port(addr, host, sizeof(host), &port);
    if (err)
        return err;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -EINVAL;
    err = -EADDRNOTAVAIL;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, BACKLOG) == 0) {
            err = 0;
            break;
        }
        err = -errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (err)
        return err;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) ||
        getnameinfo((struct sockaddr *)&ss, sl, shown, sizeof(shown), port_text,
                    sizeof(port_text), NI_NUMERICHOST | NI_NUMERICSERV)) {
        close(fd);
        return -EINVAL;
    }
    l->fd = fd;
    l->unix_path[0] = '\0';
    snprintf(l->where, sizeof(l->where),
             ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", shown, port_text);
    return 0;
}

int unigdb_listen(const char *addr, struct unigdb_listener *l)
{
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    if (!strncmp(addr, "unix:", 5))
        return listen_unix(addr + 5, l);
    return listen_tcp(addr, l);
}

void unigdb_listener_close(struct unigdb_listener *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    if (l->unix_path[0])
        unlink(l->unix_path);
    l->unix_path[0] = '\0';
}
