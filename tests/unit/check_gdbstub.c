/* Unit tests of unigdb's protocol core: the codec, and sessions on a fake
 * guest. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_target.h"
#include "packet.h"
#include "session.h"

/* ---- the codec ----------------------------------------------------------- */

/* Decode every packet in (wire), (n) bytes, into (out); returns how many. */
static int decode_all(const char *wire, size_t n, char out[][4096], int max)
{
    struct unigdb_reader r;
    int k = 0;

    ck_assert_int_eq(unigdb_reader_init(&r, UNIGDB_PACKET_MAX), 0);
    while (n) {
        size_t used;
        enum unigdb_input in = unigdb_reader_feed(&r, wire, n, &used);

        wire += used;
        n -= used;
        if (in == UNIGDB_IN_PACKET && k < max) {
            ck_assert_uint_lt(r.pktlen, 4096);
            memcpy(out[k], r.pkt, r.pktlen + 1);
            k++;
        }
        ck_assert(in != UNIGDB_IN_BAD && in != UNIGDB_IN_TOO_LONG);
    }
    unigdb_reader_free(&r);
    return k;
}

START_TEST(test_frame_round_trip_escapes_and_runs)
{
    static const char *payloads[] = {
        "", "OK", "a$b#c}d*e", "0000000000000000000000", "x", "xxxxxx",
        /* runs of 7 and 8: counts that would be '$' and '#' */
        "ZZZZZZZ", "ZZZZZZZZ", "}}}}}}}}"};
    struct unigdb_buf b = {0};
    static char out[1][4096];

    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        b.len = 0;
        ck_assert_int_eq(unigdb_frame(&b, payloads[i], strlen(payloads[i])), 0);
        /* no raw specials inside: '$' starts, '#' ends */
        ck_assert_ptr_eq(memchr(b.p + 1, '$', b.len - 1), NULL);
        ck_assert_ptr_eq(strchr(b.p, '#'), b.p + b.len - 3);
        ck_assert_int_eq(decode_all(b.p, b.len, out, 1), 1);
        ck_assert_str_eq(out[0], payloads[i]);
    }
    unigdb_buf_free(&b);
}
END_TEST

START_TEST(test_frame_long_runs_shrink)
{
    char zeros[5000];
    struct unigdb_buf b = {0};
    static char out[1][4096];

    memset(zeros, '0', sizeof(zeros));
    ck_assert_int_eq(unigdb_frame(&b, zeros, 4000), 0);
    ck_assert_uint_lt(b.len, 200);
    ck_assert_int_eq(decode_all(b.p, b.len, out, 1), 1);
    ck_assert_uint_eq(strlen(out[0]), 4000);
    ck_assert_uint_eq(strspn(out[0], "0"), 4000);
    unigdb_buf_free(&b);
}
END_TEST

START_TEST(test_frame_hex_matches_plain_hex)
{
    unsigned char data[1500];
    struct unigdb_buf b = {0}, hex = {0};
    static char out[1][4096];
    unsigned seed = 7;

    /* zeros, a pattern, noise and runs of every length */
    memset(data, 0, sizeof(data));
    for (size_t i = 300; i < 700; i++)
        data[i] = (unsigned char)(i / 37);
    for (size_t i = 900; i < 1400; i++) {
        seed = seed * 1103515245u + 12345u;
        data[i] = (unsigned char)(seed >> 16);
    }
    for (size_t len = 0; len <= 1500; len += len < 40 ? 1 : 97) {
        b.len = hex.len = 0;
        ck_assert_int_eq(unigdb_frame_hex(&b, data + 1500 - len, len), 0);
        ck_assert_int_eq(unigdb_buf_hex(&hex, data + 1500 - len, len), 0);
        ck_assert_int_eq(decode_all(b.p, b.len, out, 1), 1);
        ck_assert_str_eq(out[0], hex.p ? hex.p : "");
    }
    unigdb_buf_free(&b);
    unigdb_buf_free(&hex);
}
END_TEST

START_TEST(test_reader_any_split_and_oob_bytes)
{
    const char wire[] = "+$m10,4#2e\003-$g#67+";
    enum unigdb_input expect[] = {UNIGDB_IN_ACK,       UNIGDB_IN_PACKET,
                                  UNIGDB_IN_INTERRUPT, UNIGDB_IN_NACK,
                                  UNIGDB_IN_PACKET,    UNIGDB_IN_ACK};
    struct unigdb_reader r;

    ck_assert_int_eq(unigdb_reader_init(&r, 64), 0);
    /* fed one byte at a time, the same events come out */
    for (size_t chunk = 1; chunk <= sizeof(wire) - 1; chunk++) {
        size_t pos = 0, k = 0;

        while (pos < sizeof(wire) - 1) {
            size_t n =
                sizeof(wire) - 1 - pos < chunk ? sizeof(wire) - 1 - pos : chunk;
            while (n) {
                size_t used;
                enum unigdb_input in =
                    unigdb_reader_feed(&r, wire + pos, n, &used);

                pos += used;
                n -= used;
                if (in == UNIGDB_IN_NONE)
                    continue;
                ck_assert_uint_lt(k, 6);
                ck_assert_int_eq(in, expect[k]);
                if (in == UNIGDB_IN_PACKET)
                    ck_assert_str_eq(r.pkt, k == 1 ? "m10,4" : "g");
                k++;
            }
        }
        ck_assert_uint_eq(k, 6);
    }
    unigdb_reader_free(&r);
}
END_TEST

START_TEST(test_reader_rejects_bad_checksum_long_and_bad_runs)
{
    struct unigdb_reader r;
    char big[200];
    size_t used;

    ck_assert_int_eq(unigdb_reader_init(&r, 64), 0);
    ck_assert_int_eq(unigdb_reader_feed(&r, "$g#00", 5, &used), UNIGDB_IN_BAD);
    ck_assert_int_eq(unigdb_reader_feed(&r, "$g#zz", 5, &used), UNIGDB_IN_BAD);
    /* a run with nothing before it, and a count out of range */
    ck_assert_int_eq(unigdb_reader_feed(&r, "$*!#4b", 6, &used), UNIGDB_IN_BAD);
    ck_assert_int_eq(unigdb_reader_feed(&r, "$0*\x01#5b", 7, &used),
                     UNIGDB_IN_BAD);
    /* a packet beyond the limit is refused whole */
    memset(big, 'a', sizeof(big));
    big[0] = '$';
    ck_assert_int_eq(unigdb_reader_feed(&r, big, sizeof(big), &used),
                     UNIGDB_IN_NONE);
    ck_assert_int_eq(unigdb_reader_feed(&r, "#00", 3, &used),
                     UNIGDB_IN_TOO_LONG);
    /* and a run that expands beyond it too */
    ck_assert_int_eq(unigdb_reader_feed(&r, "$0*~0*~#b0", 10, &used),
                     UNIGDB_IN_TOO_LONG);
    unigdb_reader_free(&r);
}
END_TEST

START_TEST(test_parse_numbers)
{
    uint64_t a, l, v;
    size_t used;

    ck_assert_int_eq(
        unigdb_parse_addr_len("ffffffff80000000,40:", 20, &a, &l, &used), 0);
    ck_assert_uint_eq(a, 0xffffffff80000000ull);
    ck_assert_uint_eq(l, 0x40);
    ck_assert_uint_eq(used, 19);
    ck_assert_int_ne(unigdb_parse_addr_len(",4", 2, &a, &l, &used), 0);
    ck_assert_int_ne(unigdb_parse_addr_len("12", 2, &a, &l, &used), 0);
    ck_assert_int_ne(unigdb_parse_addr_len("12,", 3, &a, &l, &used), 0);
    ck_assert_int_ne(unigdb_parse_hex("11112222333344445", 17, &v), 0);
}
END_TEST

/* ---- sessions on the fake guest ------------------------------------------ */

static struct usc_target *t;
static struct unigdb_fake *fake;
static struct unigdb_session *s;
static const struct unigdb_config cfg = {.name = "fake"};

#define MAXPKT 16
static char got[MAXPKT][4096]; /* the packets of the last exchange */
static int ngot;

static void open_fake(uint32_t nvcpus, int agent, int panicked, int ro)
{
    ck_assert_int_eq(unigdb_fake_open(nvcpus, agent, panicked, ro, &t, &fake),
                     0);
    ck_assert_int_eq(unigdb_session_open(t, &cfg, &s), 0);
}

static void close_fake(void)
{
    ck_assert_int_eq(unigdb_session_close(s), 0);
    usc_target_close(t);
}

/* Send raw bytes; collect what the session answers (acks dropped). */
static void raw(const char *bytes, size_t n)
{
    struct unigdb_buf *out = unigdb_session_output(s);

    ck_assert_int_eq(unigdb_session_input(s, bytes, n), 0);
    ngot = decode_all(out->p, out->len, got, MAXPKT);
    out->len = 0;
}

/* Send (pkt) framed; returns the last packet of the answer. */
static const char *ask(const char *pkt)
{
    struct unigdb_buf b = {0};

    ck_assert_int_eq(unigdb_frame(&b, pkt, strlen(pkt)), 0);
    raw(b.p, b.len);
    unigdb_buf_free(&b);
    return ngot ? got[ngot - 1] : NULL;
}

/* Let the fake run until it stops; returns the stop reply. */
static const char *wait_stop(void)
{
    struct unigdb_buf *out = unigdb_session_output(s);

    ck_assert(unigdb_session_running(s));
    ck_assert_int_eq(unigdb_session_wait(s, 0), 1);
    ngot = decode_all(out->p, out->len, got, MAXPKT);
    out->len = 0;
    ck_assert_int_eq(ngot, 1);
    return got[0];
}

/* (r) is the stop reply (expect), then registers sent ahead ("NN:hex;"). */
#define ASSERT_STOP(r, expect) assert_stop((r), (expect), __LINE__)

static void assert_stop(const char *r, const char *expect, int line)
{
    size_t n = strlen(expect);

    ck_assert_msg(r && !strncmp(r, expect, n), "line %d: %s is not %s...", line,
                  r ? r : "(none)", expect);
    for (r += n; *r;) {
        size_t digits = strspn(r + 3, "0123456789abcdef");

        ck_assert_msg(strspn(r, "0123456789abcdef") == 2 && r[2] == ':' &&
                          digits == 16 && r[3 + digits] == ';',
                      "line %d: bad register field in %s", line, r);
        r += 3 + digits + 1;
    }
}

/* The text of the 'O' packets of the last exchange, decoded. */
static const char *console(void)
{
    static char text[16384];
    size_t at = 0;

    for (int i = 0; i < ngot; i++) {
        if (got[i][0] != 'O' || !strcmp(got[i], "OK"))
            continue;
        size_t n = strlen(got[i] + 1) / 2;
        ck_assert_uint_lt(at + n, sizeof(text));
        ck_assert_int_eq(unigdb_hex_decode(got[i] + 1, 2 * n, text + at),
                         (int)n);
        at += n;
    }
    text[at] = '\0';
    return text;
}

START_TEST(test_attach_stops_a_running_guest)
{
    open_fake(1, 0, 0, 0);
    ck_assert_uint_eq(fake->pauses, 1);
    ck_assert(!fake->running);
    ASSERT_STOP(ask("?"), "T05thread:1;");
    /* pc, sp and fp sent ahead: gdb then needs no 'g' for a step */
    ck_assert_ptr_nonnull(strstr(ask("?"), ";10:0001000000000000;"));
    ck_assert_ptr_nonnull(strstr(ask("?"), ";07:0040000000000000;"));
    close_fake();
}
END_TEST

START_TEST(test_supported_and_no_ack)
{
    open_fake(1, 0, 0, 0);
    const char *r = ask("qSupported:multiprocess+;swbreak+;xmlRegisters=i386");
    ck_assert_ptr_nonnull(strstr(r, "PacketSize="));
    ck_assert_uint_ge(strtoul(strstr(r, "PacketSize=") + 11, NULL, 16),
                      64 * 1024);
    for (const char *f = "QStartNoAckMode+\0qXfer:features:read+\0"
                         "qXfer:threads:read+\0swbreak+\0hwbreak+\0"
                         "vContSupported+\0";
         *f; f += strlen(f) + 1)
        ck_assert_msg(strstr(r, f), "%s missing from %s", f, r);
    ck_assert_ptr_null(strstr(r, "binary-upload"));
    r = ask("qSupported:binary-upload+;swbreak+");
    ck_assert_ptr_nonnull(strstr(r, "binary-upload+"));

    /* in ack mode every packet is acknowledged */
    struct unigdb_buf *out = unigdb_session_output(s);
    ck_assert_int_eq(unigdb_session_input(s, "$?#3f", 5), 0);
    ck_assert_int_eq(out->p[0], '+');
    out->len = 0;
    ck_assert_str_eq(ask("QStartNoAckMode"), "OK");
    ck_assert_int_eq(unigdb_session_input(s, "$?#3f", 5), 0);
    ck_assert_int_eq(out->p[0], '$');
    out->len = 0;
    close_fake();
}
END_TEST

START_TEST(test_nack_resends_and_bad_checksum_is_nacked)
{
    open_fake(1, 0, 0, 0);
    struct unigdb_buf *out = unigdb_session_output(s);

    ask("?");
    ck_assert_int_eq(unigdb_session_input(s, "-", 1), 0);
    ck_assert_uint_gt(out->len, 0);
    ck_assert_int_eq(strncmp(out->p, "$T05", 4), 0);
    out->len = 0;
    ck_assert_int_eq(unigdb_session_input(s, "$?#00", 5), 0);
    ck_assert_int_eq(out->len, 1);
    ck_assert_int_eq(out->p[0], '-');
    out->len = 0;
    close_fake();
}
END_TEST

START_TEST(test_target_description)
{
    char xml[65536] = "";
    char req[64];
    size_t at = 0;

    open_fake(1, 0, 0, 0);
    /* read it in small pieces, as gdb may */
    for (;;) {
        snprintf(req, sizeof(req), "qXfer:features:read:target.xml:%zx,100",
                 at);
        const char *r = ask(req);
        ck_assert(r[0] == 'm' || r[0] == 'l');
        ck_assert_uint_lt(at + strlen(r + 1), sizeof(xml));
        strcpy(xml + at, r + 1);
        at += strlen(r + 1);
        if (r[0] == 'l')
            break;
    }
    ck_assert_ptr_nonnull(strstr(xml, "<architecture>i386:x86-64"));
    ck_assert_ptr_nonnull(strstr(xml, "org.gnu.gdb.i386.core"));
    ck_assert_ptr_nonnull(strstr(xml, "org.gnu.gdb.i386.sse"));
    ck_assert_ptr_nonnull(strstr(xml, "name=\"fs_base\""));
    ck_assert_ptr_nonnull(strstr(xml, "name=\"gs_base\""));
    ck_assert_ptr_nonnull(strstr(xml, "name=\"cr3\""));
    ck_assert_ptr_nonnull(strstr(xml, "name=\"efer\""));
    ck_assert_str_eq(ask("qXfer:features:read:nosuch.xml:0,100"), "E00");
    close_fake();
}
END_TEST

/* Register (n) of a 'g' reply: 8 bytes at the layout's offsets. */
static uint64_t g_reg(const char *g, size_t byte_off)
{
    unsigned char b[8];
    uint64_t v = 0;

    ck_assert_int_eq(unigdb_hex_decode(g + 2 * byte_off, 16, b), 8);
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

#define OFF_RIP 128     /* 16 registers of 8 bytes before rip */
#define OFF_FS_BASE 536 /* after x87 and SSE: see regs.c */
#define OFF_CR3 (536 + 8 * 5)

START_TEST(test_registers_of_a_vcpu)
{
    open_fake(2, 0, 0, 0);
    fake->regs[1].cr3 = 0x1234000;
    const char *g = ask("g");
    ck_assert_uint_eq(g_reg(g, OFF_RIP), 0x100);
    ck_assert_uint_eq(g_reg(g, OFF_FS_BASE), 0x1111);
    ck_assert_str_eq(ask("Hg2"), "OK");
    g = ask("g");
    ck_assert_uint_eq(g_reg(g, OFF_RIP), 0x101);
    ck_assert_uint_eq(g_reg(g, OFF_FS_BASE), 0x2222);
    ck_assert_uint_eq(g_reg(g, OFF_CR3), 0x1234000);
    /* x87 and SSE: unknown, hence unavailable */
    ck_assert_int_eq(g[2 * 164], 'x');
    /* p: one register */
    ck_assert_str_eq(ask("p10"), "0101000000000000");
    ck_assert_str_eq(ask("p18"), "xxxxxxxxxxxxxxxxxxxx"); /* st0 */
    ck_assert_int_eq(ask("p99")[0], 'E');
    /* P and G write through */
    ck_assert_str_eq(ask("P0=efbeadde00000000"), "OK");
    ck_assert_uint_eq(fake->regs[1].rax, 0xdeadbeef);
    ck_assert_int_eq(ask("P18=00000000000000000000")[0], 'E');
    g = ask("g");
    char G[4096] = "G";
    strcat(G, g);
    memcpy(G + 1 + 2 * 8, "0100000000000000", 16); /* rbx = 1 */
    ck_assert_str_eq(ask(G), "OK");
    ck_assert_uint_eq(fake->regs[1].rbx, 1);
    ck_assert_uint_eq(fake->regs[1].rax, 0xdeadbeef);
    ck_assert_int_eq(ask("Gzz")[0], 'E');
    ck_assert_int_eq(ask("Hg99")[0], 'E');
    close_fake();
}
END_TEST

START_TEST(test_memory_read_write_and_bounds)
{
    open_fake(1, 0, 0, 0);
    memcpy(fake->ram + 0x3000, "\x01\x02\x03\x04", 4);
    ck_assert_str_eq(ask("m3000,4"), "01020304");
    ck_assert_str_eq(ask("M3000,2:aabb"), "OK");
    ck_assert_int_eq(fake->ram[0x3000], 0xaa);
    ck_assert_str_eq(ask("X3002,0:"), "OK");
    ck_assert_str_eq(ask("X3002,2:\x10\x20"), "OK");
    ck_assert_str_eq(ask("m3000,4"), "aabb1020");
    /* outside guest RAM: an error, and a read across the end is cut short */
    ck_assert_int_eq(ask("m100000,4")[0], 'E');
    ck_assert_int_eq(ask("M100000,1:00")[0], 'E');
    ck_assert_uint_eq(strlen(ask("mfffe,10")), 4);
    ck_assert_int_eq(ask("mffffffffffffffff,10")[0], 'E');
    /* malformed */
    ck_assert_int_eq(ask("M3000,2:aab")[0], 'E');
    ck_assert_int_eq(ask("M3000,2:zzzz")[0], 'E');
    ck_assert_int_eq(ask("m3000")[0], 'E');
    ck_assert_int_eq(ask("X3000,2:\x01")[0], 'E');
    /* x answers only a gdb that offered binary-upload */
    ck_assert_str_eq(ask("x3000,2"), "");
    ask("qSupported:binary-upload+");
    ck_assert_int_eq(memcmp(ask("x3000,2"), "b\xaa\xbb", 3), 0);
    close_fake();
}
END_TEST

START_TEST(test_breakpoint_continue_reports_swbreak)
{
    open_fake(1, 0, 0, 0);
    ck_assert_str_eq(ask("Z0,2000,1"), "OK");
    ck_assert_str_eq(ask("Z0,2000,1"), "OK"); /* again: still one */
    ck_assert_uint_eq(fake->nbreaks, 1);
    ck_assert_str_eq(ask("Z0,2000,2"), "E16"); /* kind must be 1 */
    ck_assert_ptr_null(ask("vCont;c"));
    ASSERT_STOP(wait_stop(), "T05thread:1;swbreak:;");
    ck_assert_str_eq(ask("z0,2000,1"), "OK");
    ck_assert_uint_eq(fake->nbreaks, 0);
    ck_assert_str_eq(ask("z0,2000,1"), "OK"); /* not in: fine */
    ck_assert_str_eq(ask("Z1,2100,1"), "OK");
    ask("c");
    ASSERT_STOP(wait_stop(), "T05thread:1;hwbreak:;");
    ask("z1,2100,1");
    close_fake();
}
END_TEST

START_TEST(test_watchpoint_step_and_interrupt)
{
    open_fake(2, 0, 0, 0);
    ck_assert_str_eq(ask("Z2,3000,8"), "OK");
    ck_assert_str_eq(ask("Z2,3000,3")[0] == 'E' ? "E" : "?", "E");
    ask("vCont;c");
    ASSERT_STOP(wait_stop(), "T05thread:1;watch:3000;");
    ask("z2,3000,8");
    ask("Z3,3008,4");
    ask("vCont;c");
    ASSERT_STOP(wait_stop(), "T05thread:1;rwatch:3008;");
    ask("z3,3008,4");

    /* a step of thread 2 steps vCPU 1 alone */
    ask("vCont;s:2;c");
    ck_assert_uint_eq(fake->steps, 1);
    ck_assert_uint_eq(fake->step_vcpu, 1);
    ASSERT_STOP(wait_stop(), "T05thread:2;");
    ck_assert_uint_eq(fake->regs[1].rip, 0x102);
    ask("s");
    ASSERT_STOP(wait_stop(), "T05thread:2;");

    /* no breakpoints: it runs until gdb's Ctrl-C */
    ask("vCont;c");
    ck_assert_int_eq(unigdb_session_wait(s, 0), 0);
    ck_assert(unigdb_session_running(s));
    /* anything but 0x03 meanwhile is refused */
    ck_assert_int_eq(ask("g")[0], 'E');
    raw("\003", 1);
    ASSERT_STOP(wait_stop(), "T02thread:1;");
    ck_assert_int_eq(ask("vCont;x")[0], 'E');
    ck_assert_int_eq(ask("vCont;s:9")[0], 'E');
    ck_assert_int_eq(ask("vCont;C:1")[0], 'E');
    ck_assert_int_eq(ask("c1234")[0], 'E');
    ck_assert_str_eq(ask("vCont?"), "vCont;c;C;s;S");
    close_fake();
}
END_TEST

START_TEST(test_threads_of_the_agent)
{
    open_fake(1, 1, 0, 0);
    /* vCPU 0 is 1; agent ids 1, 2, 3 are 3, 4, 5 */
    ck_assert_str_eq(ask("qfThreadInfo"), "m1,3,4,5");
    ck_assert_str_eq(ask("qsThreadInfo"), "l");
    ck_assert_str_eq(ask("T4"), "OK");
    ck_assert_int_eq(ask("T2")[0], 'E');
    ck_assert_str_eq(ask("qC"), "QC1");
    ck_assert_str_eq(ask("qAttached"), "1");

    const char *x = ask("qXfer:threads:read::0,fff");
    ck_assert_int_eq(x[0], 'l');
    ck_assert_ptr_nonnull(strstr(x,
                                 "<thread id=\"1\" core=\"0\" name=\"vCPU 0\">"
                                 "running idle-loop</thread>"));
    ck_assert_ptr_nonnull(strstr(x, "name=\"worker\">blocked on 0x"));
    ck_assert_ptr_nonnull(strstr(x, "name=\"sleeper\">runnable"));

    char text[256];
    const char *h = ask("qThreadExtraInfo,4");
    ck_assert_int_gt(unigdb_hex_decode(h, strlen(h), text), 0);
    text[strlen(h) / 2] = '\0';
    ck_assert_str_eq(text, "worker (blocked on 0xffffffff80001000)");

    /* a switched-out thread: its saved registers, the rest unavailable */
    ck_assert_str_eq(ask("Hg4"), "OK");
    const char *g = ask("g");
    ck_assert_uint_eq(g_reg(g, OFF_RIP), 0x1100);
    ck_assert_uint_eq(g_reg(g, 7 * 8), 0x9000); /* rsp */
    ck_assert_int_eq(g[0], 'x');                /* rax */
    /* its registers are a copy: not writable, and it cannot step */
    ck_assert_int_eq(ask("P0=0000000000000000")[0], 'E');
    ck_assert_int_eq(ask("vCont;s:4")[0], 'E');
    ck_assert_uint_eq(fake->steps, 0);
    /* the running thread is its vCPU */
    ask("Hg3");
    ck_assert_uint_eq(g_reg(ask("g"), OFF_RIP), 0x100);
    ask("vCont;s:3");
    ck_assert_uint_eq(fake->step_vcpu, 0);
    ASSERT_STOP(wait_stop(), "T05thread:1;");
    close_fake();
}
END_TEST

/* Run "monitor (cmd)"; returns its console text. */
static const char *monitor(const char *cmd)
{
    char pkt[512] = "qRcmd,";
    struct unigdb_buf hex = {0};

    ck_assert_int_eq(unigdb_buf_hex(&hex, cmd, strlen(cmd)), 0);
    strcat(pkt, hex.p);
    unigdb_buf_free(&hex);
    ck_assert_str_eq(ask(pkt), "OK");
    return console();
}

START_TEST(test_monitor_commands)
{
    open_fake(1, 1, 0, 0);
    ck_assert_ptr_nonnull(strstr(monitor("help"), "monitor threads"));
    const char *m = monitor("threads");
    ck_assert_ptr_nonnull(strstr(m, "idle-loop"));
    ck_assert_ptr_nonnull(strstr(m, "blocked"));
    m = monitor("metrics");
    ck_assert_ptr_nonnull(strstr(m, "timer_ticks"));
    ck_assert_ptr_nonnull(strstr(m, "-3"));
    ck_assert_ptr_nonnull(strstr(monitor("log"), "hello from the fake guest"));
    ck_assert_ptr_nonnull(strstr(monitor("log 6"), "guest\n"));
    ck_assert_ptr_nonnull(strstr(monitor("panic"), "not panicked"));
    ck_assert_ptr_nonnull(strstr(monitor("info"), "vCPUs:      1"));
    ck_assert_ptr_nonnull(strstr(monitor("frobnicate"), "unknown"));
    /* this session may not write files: nothing is written */
    ck_assert_ptr_nonnull(
        strstr(monitor("dump check-gdbstub.bin 0 16"), "writes no files"));
    ck_assert_int_ne(access("check-gdbstub.bin", F_OK), 0);
    ck_assert_int_eq(ask("qRcmd,zz")[0], 'E');
    ck_assert_int_eq(ask("qRcmd,6")[0], 'E');
    close_fake();

    open_fake(1, 0, 0, 0);
    ck_assert_ptr_nonnull(strstr(monitor("threads"), "no uniscope agent"));
    close_fake();
}
END_TEST

START_TEST(test_a_slot_in_flux_leaves_the_others)
{
    struct usc_thread *slot;

    ck_assert_int_eq(unigdb_fake_open(1, 1, 0, 0, &t, &fake), 0);
    slot = (struct usc_thread *)(fake->ram + FAKE_THREADS);
    /* stopped while it rewrote slot 1: that counter stays odd */
    slot[1].seq = 3;
    ck_assert_int_eq(unigdb_session_open(t, &cfg, &s), 0);
    ck_assert_str_eq(ask("qfThreadInfo"), "m1,3,4,5");
    /* later, with a copy: the copy stands in; a corrupt slot is left out */
    slot[1].seq = 4;
    monitor("threads");
    slot[1].seq = 5;
    slot[1].regs.rip = 0xbad;
    slot[2].state = 99;
    ck_assert_ptr_nonnull(strstr(monitor("threads"), "worker"));
    ck_assert_str_eq(ask("qfThreadInfo"), "m1,3,4");
    ask("Hg4");
    ck_assert_uint_eq(g_reg(ask("g"), OFF_RIP), 0x1100);
    /* a corrupt slot alone hides nothing else */
    slot[1].seq = 6;
    ck_assert_ptr_nonnull(strstr(monitor("threads"), "worker"));
    ck_assert_str_eq(ask("qfThreadInfo"), "m1,3,4");
    close_fake();
}
END_TEST

START_TEST(test_panicked_guest_stops_at_its_fault)
{
    open_fake(1, 1, 1, 0);
    ASSERT_STOP(ask("?"), "T0bthread:3;");
    ask("Hg3");
    ck_assert_uint_eq(g_reg(ask("g"), OFF_RIP), 0x1234);
    ck_assert_ptr_nonnull(strstr(monitor("panic"), "page fault at 0xdeadbeef"));
    ck_assert_ptr_nonnull(
        strstr(ask("qXfer:threads:read::0,fff"), ">panicked: page fault"));
    close_fake();
}
END_TEST

/* usca_panic(reason, NULL): the thread that panicked has its vCPU's
 * registers, not a frame of zeros, so gdb's bt starts where it panicked. */
START_TEST(test_panic_without_a_frame_takes_its_vcpus_registers)
{
    open_fake(2, 1, FAKE_PANIC_NO_FRAME, 0);
    fake->regs[1].rip = 0x1500;
    fake->regs[1].rsp = 0x6000;
    ASSERT_STOP(ask("?"), "T06thread:4;");
    ask("Hg4");
    const char *g = ask("g");
    ck_assert_uint_eq(g_reg(g, OFF_RIP), 0x1500);
    ck_assert_uint_eq(g_reg(g, OFF_FS_BASE), 0x2222);
    ck_assert_str_eq(ask("p7"), "0060000000000000"); /* rsp */
    ck_assert_ptr_nonnull(
        strstr(ask("qXfer:threads:read::0,fff"), ">panicked: gave up"));
    /* the other vCPU's registers are its own */
    ask("Hg1");
    ck_assert_uint_eq(g_reg(ask("g"), OFF_RIP), 0x100);
    close_fake();
    /* a read-only target (a core) the same */
    open_fake(2, 1, FAKE_PANIC_NO_FRAME, 1);
    ask("Hg4");
    ck_assert_uint_eq(g_reg(ask("g"), OFF_RIP), 0x101);
    close_fake();
}
END_TEST

/*
 * No registers at all (a VMM process without its stub): the session
 * opens, stops on the first switched-out agent thread, whose saved
 * registers are served; the vCPU's are unavailable; nothing runs.
 */
START_TEST(test_no_registers_serves_the_agents_threads)
{
    open_fake(1, 1, 0, FAKE_NO_REGS);
    ASSERT_STOP(ask("?"), "T05thread:4;");
    ask("Hg4");
    const char *g = ask("g");
    ck_assert_uint_eq(g_reg(g, OFF_RIP), 0x1100);
    /* the vCPU, and the thread running on it: nothing known */
    ask("Hg1");
    g = ask("g");
    ck_assert_uint_eq(strspn(g, "x"), strlen(g));
    ask("Hg3");
    g = ask("g");
    ck_assert_uint_eq(strspn(g, "x"), strlen(g));
    ck_assert_ptr_nonnull(strstr(ask("qfThreadInfo"), "4"));
    /* no tables take the block's virtual address to it: memory at
     * virtual addresses is refused, not guessed */
    ck_assert_int_eq(ask("mffffffff80002000,4")[0], 'E');
    ck_assert_int_eq(ask("c")[0], 'E');
    ck_assert_int_eq(ask("Z0,2000,1")[0], 'E');
    close_fake();
}
END_TEST

START_TEST(test_detach_removes_points_and_runs)
{
    open_fake(1, 0, 0, 0);
    ask("Z0,2000,1");
    ask("Z2,3000,4");
    ck_assert_uint_eq(fake->nbreaks, 2);
    ck_assert_str_eq(ask("D"), "OK");
    ck_assert_uint_eq(fake->nbreaks, 0);
    ck_assert(fake->running);
    ck_assert(unigdb_session_done(s));
    ck_assert_int_eq(ask("g")[0], 'E'); /* after the end: refused */
    close_fake();
}
END_TEST

START_TEST(test_gdb_vanishing_removes_points_and_runs)
{
    open_fake(1, 0, 0, 0);
    ask("Z0,2000,1");
    ask("Z1,2004,1");
    ask("vCont;c");
    wait_stop();
    /* stopped, with points in, and gdb gone: close cleans up */
    close_fake();
    /* (close_fake freed the fake: check through a second one) */
    open_fake(1, 0, 0, 0);
    ask("Z0,2000,1");
    ck_assert_int_eq(unigdb_session_close(s), 0);
    ck_assert_uint_eq(fake->nbreaks, 0);
    ck_assert(fake->running);
    usc_target_close(t);
}
END_TEST

START_TEST(test_held_guest_is_read_and_cannot_run)
{
    static const enum usc_vm_state held[] = {USC_VM_SHUTDOWN, USC_VM_PANICKED,
                                             USC_VM_ERROR};

    for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++) {
        ck_assert_int_eq(unigdb_fake_open(1, 0, 0, 0, &t, &fake), 0);
        fake->held = held[i];
        /* attached as it is: nothing to stop, registers readable */
        ck_assert_int_eq(unigdb_session_open(t, &cfg, &s), 0);
        ck_assert_uint_eq(fake->pauses, 0);
        ck_assert_uint_eq(strlen(ask("g")), 2 * 608);
        /* continue: why on gdb's console, the stop again, signal 0 */
        ASSERT_STOP(ask("vCont;c"), "T00thread:1;");
        ck_assert_ptr_nonnull(strstr(console(), "unigdb: fake: "));
        ck_assert_ptr_nonnull(strstr(console(), held[i] == USC_VM_PANICKED
                                                    ? "does not run again"
                                                    : "cannot run again"));
        ck_assert(!unigdb_session_running(s));
        ASSERT_STOP(ask("s"), "T00thread:1;");
        ck_assert_uint_eq(fake->resumes, 0);
        ck_assert_uint_eq(fake->steps, 0);
        /* leaving does not resume it either */
        ck_assert_str_eq(ask("D"), "OK");
        ck_assert_uint_eq(fake->resumes, 0);
        close_fake();
    }
}
END_TEST

/* A crashed guest unirun holds (--keep) in run state paused: looked at,
 * never resumed, neither by continue nor by leaving. */
START_TEST(test_paused_guest_unirun_holds_is_never_resumed)
{
    static const struct unigdb_config held_cfg = {.name = "fake", .held = 1};

    ck_assert_int_eq(unigdb_fake_open(1, 0, 0, 0, &t, &fake), 0);
    fake->held = USC_VM_PAUSED;
    ck_assert_int_eq(unigdb_session_open(t, &held_cfg, &s), 0);
    ck_assert_uint_eq(fake->pauses, 0);
    ck_assert_uint_eq(strlen(ask("g")), 2 * 608);
    ASSERT_STOP(ask("vCont;c"), "T00thread:1;");
    ck_assert_ptr_nonnull(
        strstr(console(), "unigdb: fake: the guest crashed and unirun holds "
                          "it (run state \"paused\"): it does not run again"));
    ASSERT_STOP(ask("s"), "T00thread:1;");
    ck_assert_str_eq(ask("D"), "OK");
    ck_assert_uint_eq(fake->resumes, 0);
    ck_assert_uint_eq(fake->steps, 0);
    close_fake();
    /* not held: paused is a state a guest runs from */
    ck_assert_ptr_null(unigdb_cannot_run(USC_VM_PAUSED, 0));
}
END_TEST

/* Wait for the stop of a continue; its packets in got[0 .. ngot). */
static void wait_all(void)
{
    struct unigdb_buf *out = unigdb_session_output(s);

    ck_assert_int_eq(unigdb_session_wait(s, 0), 1);
    ngot = decode_all(out->p, out->len, got, MAXPKT);
    out->len = 0;
}

START_TEST(test_shutdown_under_gdb_is_a_stop_unless_gone)
{
    open_fake(1, 0, 0, 0);
    ck_assert_int_eq(ask("vCont;c") == NULL, 1);
    fake->held = USC_VM_SHUTDOWN;
    wait_all();
    ck_assert_int_eq(ngot, 2);
    ck_assert_ptr_nonnull(strstr(console(), "has shut down"));
    ASSERT_STOP(got[1], "T00thread:1;");
    ck_assert(!unigdb_session_done(s));
    close_fake();

    /* A QEMU that went away: the guest exited. */
    open_fake(1, 0, 0, 0);
    ck_assert_int_eq(ask("vCont;c") == NULL, 1);
    fake->held = USC_VM_DEAD;
    wait_all();
    ck_assert_int_eq(ngot, 1);
    ck_assert_str_eq(got[0], "W00");
    ck_assert(unigdb_session_done(s));
    close_fake();
}
END_TEST

START_TEST(test_read_only_target_refuses_changes)
{
    open_fake(1, 1, 1, 1);
    ck_assert_uint_eq(fake->pauses, 0);
    ASSERT_STOP(ask("?"), "T0bthread:3;");
    ck_assert_int_eq(ask("M3000,1:00")[0], 'E');
    ck_assert_int_eq(ask("X3000,1:\x01")[0], 'E');
    ck_assert_int_eq(ask("P0=0000000000000000")[0], 'E');
    ck_assert_int_eq(ask("Z0,2000,1")[0], 'E');
    ck_assert_int_eq(strncmp(ask("vCont;c"), "E.", 2), 0);
    ck_assert_int_eq(strncmp(ask("vCont;s:1"), "E.", 2), 0);
    ck_assert_int_eq(strncmp(ask("c"), "E.", 2), 0);
    ck_assert(!unigdb_session_running(s));
    ck_assert_str_eq(ask("m8000,4"), "00000000");
    ck_assert_str_eq(ask("D"), "OK");
    close_fake();
}
END_TEST

START_TEST(test_garbage_gets_answers_not_crashes)
{
    static const char *junk[] = {
        "",
        "qXfer",
        "qXfer:features:read:target.xml:",
        "Z",
        "Z9,0,1",
        "z0,",
        "H",
        "Hx",
        "qThreadExtraInfo,zz",
        "vCont",
        "vCont;",
        "vCont;c:",
        "vCont;s:-1",
        "P",
        "P=",
        "m,",
        "M1,1",
        "X1,1",
        "qXfer:threads:read::ffffffff,1",
        "T",
        "qRcmd,",
        "qSupported",
        "!",
        "zz",
    };

    open_fake(1, 1, 0, 0);
    ask("QStartNoAckMode");
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        const char *r = ask(junk[i]);
        ck_assert_msg(r != NULL || unigdb_session_running(s),
                      "no answer to \"%s\"", junk[i]);
        if (unigdb_session_running(s)) {
            raw("\003", 1);
            wait_stop();
        }
    }
    ck_assert_str_eq(ask("qNoSuchThing"), "");
    close_fake();
}
END_TEST

START_TEST(test_over_long_packet_is_refused)
{
    size_t n = UNIGDB_PACKET_MAX + 100;
    char *big = malloc(n + 4);

    ck_assert_ptr_nonnull(big);
    open_fake(1, 0, 0, 0);
    big[0] = '$';
    memset(big + 1, 'm', n - 1);
    snprintf(big + n, 4, "#%02x", (unsigned)(('m' * (n - 1)) & 0xff));
    raw(big, n + 3);
    ck_assert_int_eq(ngot, 1);
    ck_assert_str_eq(got[0], "E.packet too long");
    ASSERT_STOP(ask("?"), "T05thread:1;");
    free(big);
    close_fake();
}
END_TEST

static Suite *gdbstub_suite(void)
{
    Suite *su = suite_create("gdbstub");
    TCase *codec = tcase_create("codec");
    TCase *session = tcase_create("session");

    tcase_add_test(codec, test_frame_round_trip_escapes_and_runs);
    tcase_add_test(codec, test_frame_long_runs_shrink);
    tcase_add_test(codec, test_frame_hex_matches_plain_hex);
    tcase_add_test(codec, test_reader_any_split_and_oob_bytes);
    tcase_add_test(codec, test_reader_rejects_bad_checksum_long_and_bad_runs);
    tcase_add_test(codec, test_parse_numbers);
    suite_add_tcase(su, codec);
    tcase_add_test(session, test_attach_stops_a_running_guest);
    tcase_add_test(session, test_supported_and_no_ack);
    tcase_add_test(session, test_nack_resends_and_bad_checksum_is_nacked);
    tcase_add_test(session, test_target_description);
    tcase_add_test(session, test_registers_of_a_vcpu);
    tcase_add_test(session, test_memory_read_write_and_bounds);
    tcase_add_test(session, test_breakpoint_continue_reports_swbreak);
    tcase_add_test(session, test_watchpoint_step_and_interrupt);
    tcase_add_test(session, test_threads_of_the_agent);
    tcase_add_test(session, test_monitor_commands);
    tcase_add_test(session, test_a_slot_in_flux_leaves_the_others);
    tcase_add_test(session, test_panicked_guest_stops_at_its_fault);
    tcase_add_test(session,
                   test_panic_without_a_frame_takes_its_vcpus_registers);
    tcase_add_test(session, test_detach_removes_points_and_runs);
    tcase_add_test(session, test_gdb_vanishing_removes_points_and_runs);
    tcase_add_test(session, test_held_guest_is_read_and_cannot_run);
    tcase_add_test(session, test_paused_guest_unirun_holds_is_never_resumed);
    tcase_add_test(session, test_shutdown_under_gdb_is_a_stop_unless_gone);
    tcase_add_test(session, test_read_only_target_refuses_changes);
    tcase_add_test(session, test_no_registers_serves_the_agents_threads);
    tcase_add_test(session, test_garbage_gets_answers_not_crashes);
    tcase_add_test(session, test_over_long_packet_is_refused);
    suite_add_tcase(su, session);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(gdbstub_suite());

    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
