/* Fuzz target: the input is what a QMP monitor sends us. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmp.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

static void check_msg(const struct usc_qmp_msg *m)
{
    CHECK(m->root && json_is_object(m->root));
    switch (m->kind) {
    case USC_QMP_GREETING:
        CHECK(json_is_object(m->value));
        break;
    case USC_QMP_RETURN:
        CHECK(m->value != NULL);
        break;
    case USC_QMP_ERROR:
        CHECK(m->error_class && m->error_desc);
        break;
    case USC_QMP_EVENT:
        CHECK(m->event && (!m->value || json_is_object(m->value)));
        break;
    default:
        CHECK(0);
    }
}

/* Every line of the input through the parser. */
static void lines(const char *data, size_t size)
{
    while (size) {
        const char *nl = memchr(data, '\n', size);
        size_t len = nl ? (size_t)(nl - data) : size;
        struct usc_qmp_msg m;

        if (usc_qmp_parse(data, len, &m) == 0) {
            check_msg(&m);
            usc_qmp_msg_clear(&m);
        } else {
            CHECK(m.root == NULL);
        }
        if (!nl)
            break;
        data += len + 1;
        size -= len + 1;
    }
}

/* The client, talking to a peer that said (data) and then hung up. */
static void client(const char *data, size_t size)
{
    struct usc_qmp *q;
    json_t *ret, *ev;
    char name[32];
    int sv[2];

    if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return;
    if (write(sv[1], data, size) != (ssize_t)size) {
        close(sv[0]);
        close(sv[1]);
        return;
    }
    shutdown(sv[1], SHUT_WR);
    if (usc_qmp_connect_fd(sv[0], 100, &q) == 0) {
        for (int i = 0; i < 4; i++) {
            int r = usc_qmp_execute(q, "query-status", NULL, &ret, 100);

            if (r == 0)
                json_decref(ret);
            else if (r != -EIO && r != -ENOTSUP)
                break;
        }
        while (usc_qmp_next_event(q, 100, name, sizeof(name), &ev) == 0) {
            CHECK(memchr(name, '\0', sizeof(name)));
            CHECK(!ev || json_is_object(ev));
            json_decref(ev);
        }
        usc_qmp_close(q);
    }
    close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lines((const char *)data, size);
    client((const char *)data, size);
    return 0;
}
