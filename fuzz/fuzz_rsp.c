/* Fuzz target: the input is what a GDB stub sends us. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rsp.h"

/* A promise of the codec's contract broken: make the fuzzer report it. */
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

static char out[USC_RSP_PACKET_MAX + 1];

static void check_packet(const char *pkt, size_t len)
{
    struct usc_rsp_stop st;
    unsigned char bytes[64];
    int64_t pid, tid;
    uint64_t v;
    int r;

    CHECK(pkt[len] == '\0');
    if (usc_rsp_parse_stop(pkt, len, &st) == 0) {
        CHECK(st.kind >= USC_RSP_STOP_SIGNAL && st.kind <= USC_RSP_STOP_KILLED);
        CHECK(st.signal >= 0 && st.signal <= 255);
        CHECK(st.watch_type == 0 || (st.watch_type >= 2 && st.watch_type <= 4));
        CHECK(st.tid >= -1);
    }
    r = usc_rsp_reply_status(pkt, len);
    CHECK(r == 1 || (r <= 0 && r >= -133));
    r = usc_rsp_hex_decode(pkt, len, bytes, sizeof(bytes));
    CHECK(r < 0 || (size_t)r == len / 2);
    usc_rsp_parse_hex_u64(pkt, len, &v);
    if (usc_rsp_parse_thread_id(pkt, len, &pid, &tid) == 0)
        CHECK(pid >= -1 && tid >= -1);
}

/* Unframe the whole input as a stream, checking every packet. */
static void stream(const char *data, size_t size)
{
    size_t pos = 0;

    while (pos < size) {
        size_t used = 0, len = 0, nacks = 0;
        int r = usc_rsp_unframe(data + pos, size - pos, &used, &nacks, out,
                                sizeof(out), &len);

        CHECK(used <= size - pos);
        CHECK(nacks <= used);
        if (r == 1) {
            CHECK(len < sizeof(out));
            check_packet(out, len);
        }
        if (used == 0 ||
            (r < 0 && r != -EBADMSG && r != -EPROTO && r != -EMSGSIZE))
            break;
        pos += used;
    }
}

static void tdesc(const char *data, size_t size)
{
    struct usc_rsp_tdesc_item it;
    size_t pos = 0, prev = 0;
    int r;

    while ((r = usc_rsp_tdesc_next(data, size, &pos, &it)) == 1) {
        CHECK(pos > prev && pos <= size);
        prev = pos;
        if (it.kind == USC_RSP_TDESC_REG)
            CHECK(it.name[0] && memchr(it.name, '\0', sizeof(it.name)) &&
                  it.bitsize >= 1 && it.bitsize <= 4096);
        else
            CHECK(it.href[0] && memchr(it.href, '\0', sizeof(it.href)));
    }
    CHECK(r == 0 || r == -EPROTO);
}

/* The client, talking to a peer that said (data) and then hung up. */
static void client(const char *data, size_t size)
{
    struct usc_rsp_stop st;
    struct usc_rsp *c;
    size_t len;
    int sv[2];

    if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return;
    if (write(sv[1], data, size) != (ssize_t)size) {
        close(sv[0]);
        close(sv[1]);
        return;
    }
    shutdown(sv[1], SHUT_WR);
    if (usc_rsp_connect_fd(sv[0], 100, &c) == 0) {
        for (int i = 0; i < 4; i++) {
            if (usc_rsp_request(c, "g", out, sizeof(out), &len, 100) < 0)
                break;
            CHECK(len < sizeof(out) && out[len] == '\0');
        }
        while (usc_rsp_wait_stop(c, &st, 100) == 0)
            ;
        usc_rsp_close(c);
    }
    close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    char *copy = malloc(size + 1);

    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    stream(text, size);
    check_packet(copy, size);
    tdesc(text, size);
    client(text, size);
    free(copy);
    return 0;
}
