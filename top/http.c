/* A minimal HTTP/1.1 server for Prometheus scrapes of /metrics. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unitop.h"

#define CLIENTS_MAX 16
#define REQUEST_MAX 8192     /* a scraper's request is a few hundred bytes */
#define CLIENT_IDLE_MS 10000 /* a client silent this long is dropped */

struct client {
    int fd; /* -1 when free */
    int64_t since_ms;
    char req[REQUEST_MAX];
    size_t reqlen;
    struct top_buf out; /* the response once known */
    size_t sent;
};

struct top_http {
    int lfd;
    int port;
    struct client c[CLIENTS_MAX];
};

/* "HOST:PORT" or "[V6]:PORT" into (host) and (port). */
static int split_hostport(const char *hp, char *host, size_t hsize, char *port,
                          size_t psize)
{
    const char *colon;
    size_t hlen;

    if (hp[0] == '[') {
        const char *end = strchr(hp, ']');

        if (!end || end[1] != ':')
            return -EINVAL;
        hp++;
        hlen = (size_t)(end - hp);
        colon = end + 1;
    } else {
        colon = strrchr(hp, ':');
        if (!colon || memchr(hp, ':', (size_t)(colon - hp)))
            return -EINVAL;
        hlen = (size_t)(colon - hp);
    }
    if (hlen == 0 || hlen >= hsize || strlen(colon + 1) == 0 ||
        strlen(colon + 1) >= psize ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return -EINVAL;
    memcpy(host, hp, hlen);
    host[hlen] = '\0';
    snprintf(port, psize, "%s", colon + 1);
    return atoi(port) > 65535 ? -EINVAL : 0;
}

static int listen_on(const char *host, const char *port, int *fd, int *bound)
{
    struct addrinfo hints, *res = NULL, *ai;
    struct sockaddr_storage ss;
    socklen_t slen = sizeof(ss);
    int err = -EADDRNOTAVAIL, one = 1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -EINVAL;
    for (ai = res; ai; ai = ai->ai_next) {
        int s = socket(ai->ai_family,
                       ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        if (s < 0) {
            err = -errno;
            continue;
        }
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(s, ai->ai_addr, ai->ai_addrlen) == 0 && listen(s, 16) == 0) {
            *fd = s;
            err = 0;
            break;
        }
        err = -errno;
        close(s);
    }
    freeaddrinfo(res);
    if (err)
        return err;
    *bound = 0;
    if (getsockname(*fd, (struct sockaddr *)&ss, &slen) == 0) {
        char serv[16];

        if (getnameinfo((struct sockaddr *)&ss, slen, NULL, 0, serv,
                        sizeof(serv), NI_NUMERICSERV) == 0)
            *bound = atoi(serv);
    }
    return 0;
}

int top_http_open(const char *hostport, struct top_http **out)
{
    char host[256], port[16];
    struct top_http *h;
    int err;

    err = split_hostport(hostport, host, sizeof(host), port, sizeof(port));
    if (err)
        return err;
    h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    for (int i = 0; i < CLIENTS_MAX; i++)
        h->c[i].fd = -1;
    err = listen_on(host, port, &h->lfd, &h->port);
    if (err) {
        free(h);
        return err;
    }
    *out = h;
    return 0;
}

static void drop(struct client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    top_buf_free(&c->out);
    c->fd = -1;
    c->reqlen = 0;
    c->sent = 0;
}

void top_http_close(struct top_http *h)
{
    if (!h)
        return;
    for (int i = 0; i < CLIENTS_MAX; i++)
        drop(&h->c[i]);
    close(h->lfd);
    free(h);
}

int top_http_port(const struct top_http *h)
{
    return h->port;
}

void top_http_pollfds(struct top_http *h, struct pollfd *fds, int *n, int max)
{
    if (*n < max)
        fds[(*n)++] = (struct pollfd){.fd = h->lfd, .events = POLLIN};
    for (int i = 0; i < CLIENTS_MAX && *n < max; i++)
        if (h->c[i].fd >= 0)
            fds[(*n)++] = (struct pollfd){
                .fd = h->c[i].fd,
                .events = h->c[i].out.p ? POLLOUT : POLLIN,
            };
}

/* 1 if (s) of (n) bytes is a token of the request line: no controls. */
static int token_ok(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

int top_http_parse(const char *buf, size_t len, char *path, size_t size,
                   int *head)
{
    const char *eol, *sp1, *sp2, *end = NULL;
    size_t plen;

    for (size_t i = 0; i + 1 < len; i++) {
        /* Blank line: CRLF CRLF, or a bare LF LF from a lax client. */
        if (buf[i] == '\n' &&
            (buf[i + 1] == '\n' ||
             (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n'))) {
            end = buf + i;
            break;
        }
    }
    if (!end)
        return len >= REQUEST_MAX ? -EINVAL : -EAGAIN;
    eol = memchr(buf, '\n', (size_t)(end - buf) + 1);
    if (eol > buf && eol[-1] == '\r')
        eol--;
    sp1 = memchr(buf, ' ', (size_t)(eol - buf));
    if (!sp1)
        return -EINVAL;
    sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
    if (!sp2 || !token_ok(buf, (size_t)(sp1 - buf)) ||
        !token_ok(sp1 + 1, (size_t)(sp2 - sp1 - 1)) ||
        (size_t)(eol - sp2 - 1) != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
        return -EINVAL;
    plen = (size_t)(sp2 - sp1 - 1);
    if (plen >= size)
        return -EINVAL;
    memcpy(path, sp1 + 1, plen);
    path[plen] = '\0';
    *head = (size_t)(sp1 - buf) == 4 && !strncmp(buf, "HEAD", 4);
    if (!*head && !((size_t)(sp1 - buf) == 3 && !strncmp(buf, "GET", 3)))
        return -ENOTSUP;
    return 0;
}

static void respond(struct client *c, const struct top_fleet *f)
{
    struct top_buf body = {0};
    const char *status = "200 OK";
    char path[REQUEST_MAX];
    int head = 0, err;

    err = top_http_parse(c->req, c->reqlen, path, sizeof(path), &head);
    if (err == -EAGAIN)
        return;
    if (err == -ENOTSUP) {
        status = "405 Method Not Allowed";
        top_buf_printf(&body, "only GET /metrics here\n");
    } else if (err) {
        status = "400 Bad Request";
        top_buf_printf(&body, "bad request\n");
    } else if (strcmp(path, "/metrics") != 0 &&
               strncmp(path, "/metrics?", 9) != 0) {
        status = "404 Not Found";
        top_buf_printf(&body, "unitop serves /metrics\n");
    } else {
        top_prom_render(f, &body);
    }
    if (body.oom) {
        status = "500 Internal Server Error";
        top_buf_free(&body);
    }
    top_buf_printf(&c->out,
                   "HTTP/1.1 %s\r\n"
                   "Content-Type: %s\r\n"
                   "Content-Length: %zu\r\n"
                   "Connection: close\r\n\r\n",
                   status,
                   strcmp(status, "200 OK")
                       ? "text/plain; charset=utf-8"
                       : "text/plain; version=0.0.4; charset=utf-8",
                   body.len);
    if (!head && body.len)
        top_buf_put(&c->out, body.p, body.len);
    top_buf_free(&body);
    if (c->out.oom)
        drop(c);
}

static void accept_all(struct top_http *h, int64_t now_ms)
{
    for (;;) {
        int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        int i;

        if (fd < 0)
            return;
        for (i = 0; i < CLIENTS_MAX && h->c[i].fd >= 0; i++)
            ;
        if (i == CLIENTS_MAX) {
            /* Busy: the scraper retries at its next interval. */
            close(fd);
            continue;
        }
        h->c[i].fd = fd;
        h->c[i].since_ms = now_ms;
    }
}

static void serve_client(struct client *c, const struct top_fleet *f)
{
    ssize_t n;

    if (!c->out.p) {
        n = read(c->fd, c->req + c->reqlen, sizeof(c->req) - c->reqlen);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            drop(c);
            return;
        }
        if (n > 0)
            c->reqlen += (size_t)n;
        respond(c, f);
        if (c->fd < 0 || !c->out.p)
            return;
    }
    n = send(c->fd, c->out.p + c->sent, c->out.len - c->sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        drop(c);
        return;
    }
    c->sent += (size_t)n;
    if (c->sent == c->out.len) {
        shutdown(c->fd, SHUT_WR);
        drop(c);
    }
}

void top_http_serve(struct top_http *h, const struct pollfd *fds, int n,
                    const struct top_fleet *f, int64_t now_ms)
{
    for (int k = 0; k < n; k++) {
        if (!fds[k].revents)
            continue;
        if (fds[k].fd == h->lfd) {
            accept_all(h, now_ms);
            continue;
        }
        for (int i = 0; i < CLIENTS_MAX; i++)
            if (h->c[i].fd == fds[k].fd)
                serve_client(&h->c[i], f);
    }
    for (int i = 0; i < CLIENTS_MAX; i++)
        if (h->c[i].fd >= 0 && now_ms - h->c[i].since_ms > CLIENT_IDLE_MS)
            drop(&h->c[i]);
}
