/* Fuzz target: what a gdb client sends unigdb, against a scripted guest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fake_target.h"
#include "packet.h"
#include "session.h"

/* A promise broken: make the fuzzer report it. */
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

#define CHUNK 61 /* odd-sized pieces, so packets straddle reads */

/* Everything unigdb sends must be well-formed packets, acks and nothing
 * else: decode it all, then drop it. */
static void drain(struct unigdb_session *s, struct unigdb_reader *r)
{
    struct unigdb_buf *out = unigdb_session_output(s);
    size_t pos = 0;

    while (pos < out->len) {
        size_t used = 0;
        enum unigdb_input in =
            unigdb_reader_feed(r, out->p + pos, out->len - pos, &used);

        CHECK(used > 0 && used <= out->len - pos);
        CHECK(in != UNIGDB_IN_BAD && in != UNIGDB_IN_TOO_LONG &&
              in != UNIGDB_IN_INTERRUPT);
        if (in == UNIGDB_IN_PACKET)
            CHECK(r->pkt[r->pktlen] == '\0');
        pos += used;
    }
    out->len = 0;
}

/*
 * The first byte chooses the guest: bits 0-1 vCPUs - 1, bit 2 an agent,
 * bit 3 a panic record, bit 4 read-only, bit 5 no registers at all (a VMM
 * process without its stub). The rest is gdb's byte stream;
 * the guest stops at once when it can (a step, a breakpoint), else when
 * the stream says 0x03. gdb's writes may corrupt the agent's tables: the
 * reader must cope.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct unigdb_config cfg = {.name = "fuzz"};
    struct unigdb_session *s = NULL;
    struct unigdb_fake *fake;
    struct usc_target *t;
    struct unigdb_reader r;
    uint8_t conf;

    if (size < 1)
        return 0;
    conf = data[0];
    if (unigdb_fake_open((conf & 3) + 1, conf >> 2 & 1, conf >> 3 & 1,
                         conf >> 5 & 1 ? FAKE_NO_REGS : conf >> 4 & 1, &t,
                         &fake))
        return 0;
    if (unigdb_reader_init(&r, UNIGDB_PACKET_MAX)) {
        usc_target_close(t);
        return 0;
    }
    if (unigdb_session_open(t, &cfg, &s) == 0) {
        for (size_t pos = 1; pos < size && !unigdb_session_done(s);) {
            size_t n = size - pos < CHUNK ? size - pos : CHUNK;

            CHECK(unigdb_session_input(s, (const char *)data + pos, n) == 0);
            pos += n;
            if (unigdb_session_running(s))
                unigdb_session_wait(s, 0);
            drain(s, &r);
        }
        unigdb_session_close(s);
        /* gdb gone: nothing of ours stays planted, and the guest runs */
        CHECK(fake->nbreaks == 0);
        CHECK(fake->read_only || fake->running);
    }
    unigdb_reader_free(&r);
    usc_target_close(t);
    return 0;
}
