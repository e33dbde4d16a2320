/* Unit tests of the GDB remote-protocol codec and client. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rsp.h"

/* "$raw#cs" for wire bytes (raw), checksummed as sent; its length. */
static size_t wire(char *out, size_t cap, const char *raw)
{
    int n =
        snprintf(out, cap, "$%s#%02x", raw, usc_rsp_checksum(raw, strlen(raw)));

    ck_assert_int_gt(n, 0);
    ck_assert_uint_lt((size_t)n, cap);
    return (size_t)n;
}

/* Unframe the NUL-terminated wire text (in) into (out). */
static int unframe(const char *in, char *out, size_t cap, size_t *outlen,
                   size_t *consumed)
{
    size_t c = 0, n = 0;
    int r = usc_rsp_unframe(in, strlen(in), &c, &n, out, cap, outlen);

    if (consumed)
        *consumed = c;
    return r;
}

/* ---- framing ------------------------------------------------------------ */

START_TEST(checksum_is_the_byte_sum)
{
    ck_assert_uint_eq(usc_rsp_checksum("OK", 2), 0x9a);
    ck_assert_uint_eq(usc_rsp_checksum("", 0), 0);
    ck_assert_uint_eq(usc_rsp_checksum("\xff\xff", 2), 0xfe);
}
END_TEST

START_TEST(frame_writes_dollar_data_hash_checksum)
{
    char out[32];
    int n = usc_rsp_frame("OK", 2, out, sizeof(out));

    ck_assert_int_eq(n, 6);
    ck_assert_mem_eq(out, "$OK#9a", 6);
}
END_TEST

START_TEST(frame_escapes_the_four_special_bytes)
{
    char out[64], back[64];
    size_t len, used;
    int n = usc_rsp_frame("a$b#c}d*", 8, out, sizeof(out));

    ck_assert_int_eq(n, 1 + 12 + 3);
    ck_assert_mem_eq(out,
                     "$a}\x04"
                     "b}\x03"
                     "c}]d}\x0a#",
                     13);
    ck_assert_int_eq(
        usc_rsp_unframe(out, (size_t)n, &used, NULL, back, sizeof(back), &len),
        1);
    ck_assert_uint_eq(len, 8);
    ck_assert_mem_eq(back, "a$b#c}d*", 8);
}
END_TEST

START_TEST(frame_refuses_a_small_buffer_or_a_huge_packet)
{
    char out[8];
    static char big[USC_RSP_PACKET_MAX + 1];

    ck_assert_int_eq(usc_rsp_frame("OKOK", 4, out, 7), -EMSGSIZE);
    ck_assert_int_eq(usc_rsp_frame("OK", 2, out, 6), 6);
    ck_assert_int_eq(usc_rsp_frame("}", 1, out, 5), -EMSGSIZE);
    ck_assert_int_eq(usc_rsp_frame(big, sizeof(big), out, sizeof(out)),
                     -EMSGSIZE);
}
END_TEST

START_TEST(every_byte_survives_frame_and_unframe)
{
    unsigned char data[256];
    char framed[600], back[300];
    size_t len, used;
    int n;

    for (int i = 0; i < 256; i++)
        data[i] = (unsigned char)i;
    n = usc_rsp_frame(data, sizeof(data), framed, sizeof(framed));
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(usc_rsp_unframe(framed, (size_t)n, &used, NULL, back,
                                     sizeof(back), &len),
                     1);
    ck_assert_uint_eq(used, (size_t)n);
    ck_assert_uint_eq(len, 256);
    ck_assert_mem_eq(back, data, 256);
}
END_TEST

/* ---- unframing ---------------------------------------------------------- */

START_TEST(unframe_skips_acks_and_counts_nacks)
{
    char in[64], out[64];
    size_t len, used, nacks = 0;

    strcpy(in, "+-+-");
    wire(in + 4, sizeof(in) - 4, "T05");
    ck_assert_int_eq(
        usc_rsp_unframe(in, strlen(in), &used, &nacks, out, sizeof(out), &len),
        1);
    ck_assert_uint_eq(nacks, 2);
    ck_assert_uint_eq(used, strlen(in));
    ck_assert_str_eq(out, "T05");
}
END_TEST

START_TEST(unframe_waits_for_the_whole_packet)
{
    char in[64], out[64];
    size_t len, used, full;

    full = wire(in, sizeof(in), "OK");
    for (size_t cut = 0; cut < full; cut++) {
        ck_assert_int_eq(
            usc_rsp_unframe(in, cut, &used, NULL, out, sizeof(out), &len), 0);
        ck_assert_uint_le(used, cut);
    }
    ck_assert_int_eq(
        usc_rsp_unframe(in, full, &used, NULL, out, sizeof(out), &len), 1);
}
END_TEST

START_TEST(unframe_takes_one_packet_at_a_time)
{
    char in[64], out[64];
    size_t len, used, a;

    a = wire(in, sizeof(in), "OK");
    wire(in + a, sizeof(in) - a, "E22");
    ck_assert_int_eq(unframe(in, out, sizeof(out), &len, &used), 1);
    ck_assert_uint_eq(used, a);
    ck_assert_str_eq(out, "OK");
    ck_assert_int_eq(unframe(in + used, out, sizeof(out), &len, NULL), 1);
    ck_assert_str_eq(out, "E22");
}
END_TEST

START_TEST(unframe_rejects_a_bad_checksum_and_moves_past_it)
{
    char out[64];
    size_t len, used;

    ck_assert_int_eq(unframe("$OK#00$OK#9a", out, sizeof(out), &len, &used),
                     -EBADMSG);
    ck_assert_uint_eq(used, 6);
    ck_assert_int_eq(unframe("$OK#zz", out, sizeof(out), &len, NULL), -EPROTO);
}
END_TEST

START_TEST(unframe_undoes_escapes)
{
    char in[64], out[64];
    size_t len;

    wire(in, sizeof(in), "a}]b}\x03");
    ck_assert_int_eq(unframe(in, out, sizeof(out), &len, NULL), 1);
    ck_assert_uint_eq(len, 4);
    ck_assert_str_eq(out, "a}b#");
    wire(in, sizeof(in), "ab}");
    ck_assert_int_eq(unframe(in, out, sizeof(out), &len, NULL), -EPROTO);
}
END_TEST

START_TEST(unframe_expands_run_lengths)
{
    char in[64], out[128];
    size_t len;

    wire(in, sizeof(in), "0* ");
    ck_assert_int_eq(unframe(in, out, sizeof(out), &len, NULL), 1);
    ck_assert_str_eq(out, "0000");
    wire(in, sizeof(in), "x1*\"y");
    ck_assert_int_eq(unframe(in, out, sizeof(out), &len, NULL), 1);
    ck_assert_str_eq(out, "x111111y");
    /* the largest count: '~' is 97 more */
    wire(in, sizeof(in), "a*~");
    ck_assert_int_eq(unframe(in, out, sizeof(out), &len, NULL), 1);
    ck_assert_uint_eq(len, 98);
    /* an escaped byte repeats as itself */
    wire(in, sizeof(in), "}]* ");
    ck_assert_int_eq(unframe(in, out, sizeof(out), &len, NULL), 1);
    ck_assert_str_eq(out, "}}}}");
}
END_TEST

START_TEST(unframe_rejects_bad_run_lengths)
{
    char in[64], out[128];
    size_t len;

    wire(in, sizeof(in), "* ");
    ck_assert_int_eq(unframe(in, out, sizeof(out), &len, NULL), -EPROTO);
    wire(in, sizeof(in), "a*");
    ck_assert_int_eq(unframe(in, out, sizeof(out), &len, NULL), -EPROTO);
    wire(in, sizeof(in), "a*\x01");
    ck_assert_int_eq(unframe(in, out, sizeof(out), &len, NULL), -EPROTO);
    wire(in, sizeof(in), "a*\x7f");
    ck_assert_int_eq(unframe(in, out, sizeof(out), &len, NULL), -EPROTO);
}
END_TEST

START_TEST(unframe_bounds_its_output)
{
    char in[64], out[8];
    size_t len;

    wire(in, sizeof(in), "a*~");
    ck_assert_int_eq(unframe(in, out, sizeof(out), &len, NULL), -EMSGSIZE);
    wire(in, sizeof(in), "01234567");
    ck_assert_int_eq(unframe(in, out, sizeof(out), &len, NULL), -EMSGSIZE);
    wire(in, sizeof(in), "0123456");
    ck_assert_int_eq(unframe(in, out, sizeof(out), &len, NULL), 1);
    ck_assert_int_eq(usc_rsp_unframe(in, strlen(in), &len, NULL, out, 0, &len),
                     -EMSGSIZE);
}
END_TEST

START_TEST(unframe_refuses_an_endless_frame)
{
    size_t n = USC_RSP_FRAME_MAX + 10, len, used;
    char *in = malloc(n), out[16];

    ck_assert_ptr_nonnull(in);
    memset(in, 'a', n);
    in[0] = '$';
    ck_assert_int_eq(
        usc_rsp_unframe(in, n, &used, NULL, out, sizeof(out), &len), -EMSGSIZE);
    free(in);
}
END_TEST

START_TEST(unframe_restarts_at_a_second_dollar)
{
    char in[64], out[64];
    size_t len;

    strcpy(in, "$garb");
    wire(in + 5, sizeof(in) - 5, "OK");
    ck_assert_int_eq(unframe(in, out, sizeof(out), &len, NULL), 1);
    ck_assert_str_eq(out, "OK");
}
END_TEST

START_TEST(unframe_drops_junk_without_a_packet)
{
    char out[64];
    size_t len, used;

    ck_assert_int_eq(
        unframe("{\"QMP\": {}}\r\n", out, sizeof(out), &len, &used), 0);
    ck_assert_uint_eq(used, 13);
}
END_TEST

/* ---- hex and replies ---------------------------------------------------- */

START_TEST(hex_decodes_and_encodes)
{
    unsigned char b[4];
    char h[9];

    ck_assert_int_eq(usc_rsp_hex_decode("00fFa5", 6, b, sizeof(b)), 3);
    ck_assert_uint_eq(b[0], 0);
    ck_assert_uint_eq(b[1], 0xff);
    ck_assert_uint_eq(b[2], 0xa5);
    usc_rsp_hex_encode(b, 3, h);
    ck_assert_str_eq(h, "00ffa5");
    ck_assert_int_eq(usc_rsp_hex_decode("abc", 3, b, sizeof(b)), -EPROTO);
    ck_assert_int_eq(usc_rsp_hex_decode("zz", 2, b, sizeof(b)), -EPROTO);
    ck_assert_int_eq(usc_rsp_hex_decode("0011223344", 10, b, sizeof(b)),
                     -EMSGSIZE);
    ck_assert_int_eq(usc_rsp_hex_decode("", 0, b, sizeof(b)), 0);
}
END_TEST

START_TEST(hex_numbers_have_1_to_16_digits)
{
    uint64_t v;

    ck_assert_int_eq(usc_rsp_parse_hex_u64("ffffffff80101f30", 16, &v), 0);
    ck_assert_uint_eq(v, 0xffffffff80101f30ull);
    ck_assert_int_eq(usc_rsp_parse_hex_u64("1", 1, &v), 0);
    ck_assert_uint_eq(v, 1);
    ck_assert_int_eq(usc_rsp_parse_hex_u64("", 0, &v), -EPROTO);
    ck_assert_int_eq(usc_rsp_parse_hex_u64("10000000000000000", 17, &v),
                     -EPROTO);
    ck_assert_int_eq(usc_rsp_parse_hex_u64("12g", 3, &v), -EPROTO);
}
END_TEST

START_TEST(reply_status_classifies_ok_errors_and_empty)
{
    ck_assert_int_eq(usc_rsp_reply_status("OK", 2), 0);
    ck_assert_int_eq(usc_rsp_reply_status("", 0), -ENOTSUP);
    ck_assert_int_eq(usc_rsp_reply_status("E22", 3), -EINVAL);
    ck_assert_int_eq(usc_rsp_reply_status("E14", 3), -EFAULT);
    ck_assert_int_eq(usc_rsp_reply_status("E.no such thing", 15), -EIO);
    ck_assert_int_eq(usc_rsp_reply_status("Eff", 3), -EIO);
    ck_assert_int_eq(usc_rsp_reply_status("E00", 3), -EIO);
    /* data that merely starts with E is data */
    ck_assert_int_eq(usc_rsp_reply_status("ENABLE=1,NOIRQ=2", 16), 1);
    ck_assert_int_eq(usc_rsp_reply_status("E", 1), 1);
    ck_assert_int_eq(usc_rsp_reply_status("0011", 4), 1);
    ck_assert_int_eq(usc_rsp_reply_status("OKAY", 4), 1);
}
END_TEST

/* ---- stop replies ------------------------------------------------------- */

static int stop(const char *s, struct usc_rsp_stop *st)
{
    return usc_rsp_parse_stop(s, strlen(s), st);
}

START_TEST(stop_s_carries_a_signal)
{
    struct usc_rsp_stop st;

    ck_assert_int_eq(stop("S05", &st), 0);
    ck_assert_int_eq(st.kind, USC_RSP_STOP_SIGNAL);
    ck_assert_int_eq(st.signal, 5);
    ck_assert_int_eq(st.has_thread, 0);
    ck_assert_int_eq(stop("S05;", &st), -EPROTO);
}
END_TEST

START_TEST(stop_t_as_qemu_sends_it)
{
    struct usc_rsp_stop st;

    /* what QEMU 7.2 sends for a breakpoint, a step and an interrupt */
    ck_assert_int_eq(stop("T05thread:p01.02;", &st), 0);
    ck_assert_int_eq(st.signal, 5);
    ck_assert_int_eq(st.has_thread, 1);
    ck_assert_int_eq(st.pid, 1);
    ck_assert_int_eq(st.tid, 2);
    ck_assert_int_eq(st.watch_type, 0);
    ck_assert_int_eq(stop("T02thread:01;", &st), 0);
    ck_assert_int_eq(st.signal, 2);
    ck_assert_int_eq(st.pid, -1);
    ck_assert_int_eq(st.tid, 1);
}
END_TEST

START_TEST(stop_t_reports_watchpoints_by_kind)
{
    struct usc_rsp_stop st;

    ck_assert_int_eq(stop("T05thread:p01.01;watch:000000000000046c;", &st), 0);
    ck_assert_int_eq(st.watch_type, 2);
    ck_assert_uint_eq(st.watch_addr, 0x46c);
    ck_assert_int_eq(stop("T05thread:p01.01;rwatch:ffffffff80159500;", &st), 0);
    ck_assert_int_eq(st.watch_type, 3);
    ck_assert_uint_eq(st.watch_addr, 0xffffffff80159500ull);
    ck_assert_int_eq(stop("T05awatch:10;thread:3;", &st), 0);
    ck_assert_int_eq(st.watch_type, 4);
    ck_assert_int_eq(st.tid, 3);
}
END_TEST

START_TEST(stop_t_reports_sw_and_hw_breaks)
{
    struct usc_rsp_stop st;

    ck_assert_int_eq(stop("T05swbreak:;thread:p1.1;", &st), 0);
    ck_assert_int_eq(st.swbreak, 1);
    ck_assert_int_eq(st.hwbreak, 0);
    ck_assert_int_eq(stop("T05hwbreak:;", &st), 0);
    ck_assert_int_eq(st.hwbreak, 1);
}
END_TEST

START_TEST(stop_t_ignores_registers_and_unknown_fields)
{
    struct usc_rsp_stop st;

    ck_assert_int_eq(
        stop("T0506:0000000000000000;07:10ff;core:1;library:;thread:2", &st),
        0);
    ck_assert_int_eq(st.tid, 2);
    ck_assert_int_eq(stop("T05;;thread:2;", &st), 0);
}
END_TEST

START_TEST(stop_w_and_x_are_exits)
{
    struct usc_rsp_stop st;

    ck_assert_int_eq(stop("W00", &st), 0);
    ck_assert_int_eq(st.kind, USC_RSP_STOP_EXITED);
    ck_assert_int_eq(st.signal, 0);
    ck_assert_int_eq(stop("X09", &st), 0);
    ck_assert_int_eq(st.kind, USC_RSP_STOP_KILLED);
    ck_assert_int_eq(st.signal, 9);
    ck_assert_int_eq(stop("W01;process:1a", &st), 0);
    ck_assert_int_eq(st.pid, 0x1a);
    ck_assert_int_eq(stop("W01;proc:1a", &st), -EPROTO);
    ck_assert_int_eq(stop("W01;process:", &st), -EPROTO);
}
END_TEST

START_TEST(stop_rejects_malformed_replies)
{
    struct usc_rsp_stop st;
    static const char *const bad[] = {
        "",
        "T",
        "T0",
        "Tzz",
        "Q05",
        "OK",
        "T05thread:;",
        "T05thread:p.;",
        "T05thread:p1.;",
        "T05watch:zz;",
        "T05watch:;",
        "T05foo;",
        "T05:1;",
        "T05thread:12345678901234567;",
        "T05thread:ffffffffffffffff;",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(stop(bad[i], &st) == -EPROTO, "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(thread_ids_in_every_form)
{
    int64_t pid, tid;

    ck_assert_int_eq(usc_rsp_parse_thread_id("-1", 2, &pid, &tid), 0);
    ck_assert_int_eq(tid, -1);
    ck_assert_int_eq(usc_rsp_parse_thread_id("0", 1, &pid, &tid), 0);
    ck_assert_int_eq(tid, 0);
    ck_assert_int_eq(usc_rsp_parse_thread_id("pff.10", 6, &pid, &tid), 0);
    ck_assert_int_eq(pid, 0xff);
    ck_assert_int_eq(tid, 0x10);
    ck_assert_int_eq(usc_rsp_parse_thread_id("p1", 2, &pid, &tid), 0);
    ck_assert_int_eq(pid, 1);
    ck_assert_int_eq(tid, -1);
    ck_assert_int_eq(usc_rsp_parse_thread_id("p-1.-1", 6, &pid, &tid), 0);
    ck_assert_int_eq(usc_rsp_parse_thread_id("", 0, &pid, &tid), -EPROTO);
    ck_assert_int_eq(usc_rsp_parse_thread_id("p", 1, &pid, &tid), -EPROTO);
    ck_assert_int_eq(usc_rsp_parse_thread_id("p.1", 3, &pid, &tid), -EPROTO);
    ck_assert_int_eq(usc_rsp_parse_thread_id("-2", 2, &pid, &tid), -EPROTO);
}
END_TEST

/* ---- target descriptions ------------------------------------------------ */

static const char qemu_target_xml[] =
    "<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
    "<target><architecture>i386:x86-64</architecture>"
    "<xi:include href=\"i386-64bit.xml\"/></target>";

/* Shaped like QEMU 7.2's i386-64bit.xml, comments and all. */
static const char qemu_core_xml[] =
    "<?xml version=\"1.0\"?>\n<!-- Copyright (C) 2010-2017 <reg "
    "name=\"fake\"/> -->\n"
    "<feature name=\"org.gnu.gdb.i386.core\">\n"
    "  <flags id=\"x64_eflags\" size=\"4\">\n"
    "\t<field name=\"\" start=\"22\" end=\"31\"/>\n  </flags>\n"
    "  <reg name=\"rax\" bitsize=\"64\" type=\"int64\" regnum=\"0\"/>\n"
    "  <reg name=\"rbx\" bitsize=\"64\" type=\"int64\"/>\n"
    "  <!--reg name=\"cs_base\" bitsize=\"64\" type=\"int64\"/>\n"
    "  <reg name=\"ss_base\" bitsize=\"64\" type=\"int64\"/-->\n"
    "  <reg name='st0' bitsize='80' type='i387_ext'/>\n"
    "  <reg name=\"eflags\" bitsize=\"32\" type=\"x64_eflags\"/>\n"
    "</feature>\n";

START_TEST(tdesc_finds_the_include_of_target_xml)
{
    struct usc_rsp_tdesc_item it;
    size_t pos = 0, len = strlen(qemu_target_xml);

    ck_assert_int_eq(usc_rsp_tdesc_next(qemu_target_xml, len, &pos, &it), 1);
    ck_assert_int_eq(it.kind, USC_RSP_TDESC_INCLUDE);
    ck_assert_str_eq(it.href, "i386-64bit.xml");
    ck_assert_int_eq(usc_rsp_tdesc_next(qemu_target_xml, len, &pos, &it), 0);
    ck_assert_uint_eq(pos, len);
}
END_TEST

START_TEST(tdesc_lists_registers_and_skips_comments)
{
    struct usc_rsp_tdesc_item it;
    size_t pos = 0, len = strlen(qemu_core_xml);
    static const struct {
        const char *name;
        int64_t regnum;
        uint32_t bitsize;
    } want[] = {
        {"rax", 0, 64}, {"rbx", -1, 64}, {"st0", -1, 80}, {"eflags", -1, 32}};

    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(usc_rsp_tdesc_next(qemu_core_xml, len, &pos, &it), 1);
        ck_assert_int_eq(it.kind, USC_RSP_TDESC_REG);
        ck_assert_str_eq(it.name, want[i].name);
        ck_assert_int_eq(it.regnum, want[i].regnum);
        ck_assert_uint_eq(it.bitsize, want[i].bitsize);
    }
    ck_assert_int_eq(usc_rsp_tdesc_next(qemu_core_xml, len, &pos, &it), 0);
}
END_TEST

START_TEST(tdesc_rejects_malformed_elements)
{
    struct usc_rsp_tdesc_item it;
    static const char *const bad[] = {
        "<reg name=\"rax\"/>",
        "<reg bitsize=\"64\"/>",
        "<reg name=\"rax\" bitsize=\"0\"/>",
        "<reg name=\"rax\" bitsize=\"99999\"/>",
        "<reg name=\"rax\" bitsize=\"6x\"/>",
        "<reg name=\"rax\" bitsize=\"64\" regnum=\"-1\"/>",
        "<reg name=\"a_register_name_far_too_long\" bitsize=\"64\"/>",
        "<reg name=\"\" bitsize=\"64\"/>",
        "<reg name=rax bitsize=\"64\"/>",
        "<reg name=\"rax bitsize=\"64\"/>",
        "<reg name=\"rax\" bitsize=\"64\"",
        "<xi:include/>",
        "<!-- never closed <reg name=\"rax\" bitsize=\"64\"/>",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t pos = 0;

        ck_assert_msg(usc_rsp_tdesc_next(bad[i], strlen(bad[i]), &pos, &it) ==
                          -EPROTO,
                      "accepted %s", bad[i]);
    }
}
END_TEST

START_TEST(tdesc_of_plain_text_is_empty)
{
    struct usc_rsp_tdesc_item it;
    size_t pos = 0;

    ck_assert_int_eq(usc_rsp_tdesc_next("no tags", 7, &pos, &it), 0);
    pos = 0;
    ck_assert_int_eq(usc_rsp_tdesc_next("", 0, &pos, &it), 0);
}
END_TEST

/* ---- the client against a fake stub ------------------------------------- */

static pid_t child;

/* Read one packet from (fd) in the fake stub: up to '#' and two digits. */
static int stub_read_packet(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    char c;
    int hashes = -1;

    while (read(fd, &c, 1) == 1) {
        if (hashes < 0 && n == 0 && c != '$')
            continue;
        if (n + 1 < cap)
            buf[n++] = c;
        if (hashes >= 0 && ++hashes == 2)
            break;
        if (c == '#')
            hashes = 0;
    }
    buf[n] = '\0';
    return hashes == 2 ? 0 : -1;
}

static void stub_send(int fd, const char *raw)
{
    char out[256];
    size_t n = wire(out, sizeof(out), raw);

    if (send(fd, out, n, MSG_NOSIGNAL) != (ssize_t)n)
        _exit(2);
}

/*
 * A fake stub on (fd) like QEMU: a stop reply of its own first, acks until
 * QStartNoAckMode, then "g" is answered "0011", then it hangs up.
 */
static void fake_stub(int fd)
{
    char pkt[256];

    stub_send(fd, "T02thread:01;");
    if (stub_read_packet(fd, pkt, sizeof(pkt)) < 0 ||
        !strstr(pkt, "qSupported"))
        _exit(3);
    if (send(fd, "+", 1, MSG_NOSIGNAL) != 1)
        _exit(2);
    stub_send(fd, "PacketSize=1000;qXfer:features:read+;multiprocess+");
    if (stub_read_packet(fd, pkt, sizeof(pkt)) < 0 ||
        !strstr(pkt, "QStartNoAckMode"))
        _exit(3);
    if (send(fd, "+", 1, MSG_NOSIGNAL) != 1)
        _exit(2);
    stub_send(fd, "OK");
    if (stub_read_packet(fd, pkt, sizeof(pkt)) < 0 || !strstr(pkt, "$g#"))
        _exit(3);
    stub_send(fd, "T05thread:01;"); /* a stop that races with the reply */
    stub_send(fd, "0011");
    _exit(0);
}

/* Fork (serve) on one end of a socketpair; the other end is returned. */
static int spawn(void (*serve)(int))
{
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        close(sv[0]);
        serve(sv[1]);
        _exit(0);
    }
    close(sv[1]);
    return sv[0];
}

static void reap(void)
{
    int status;

    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
    }
    child = 0;
}

START_TEST(client_handshakes_and_keeps_a_racing_stop)
{
    struct usc_rsp *c;
    struct usc_rsp_stop st;
    char reply[64];
    size_t len;
    int fd = spawn(fake_stub);

    ck_assert_int_eq(usc_rsp_connect_fd(fd, 2000, &c), 0);
    ck_assert_int_eq(usc_rsp_stopped_on_connect(c), 1);
    ck_assert_int_eq(usc_rsp_multiprocess(c), 1);
    ck_assert_int_eq(usc_rsp_stop_pending(c), 0);
    ck_assert_int_eq(usc_rsp_request(c, "g", reply, sizeof(reply), &len, 2000),
                     0);
    ck_assert_str_eq(reply, "0011");
    ck_assert_int_eq(usc_rsp_stop_pending(c), 1);
    ck_assert_int_eq(usc_rsp_wait_stop(c, &st, 0), 0);
    ck_assert_int_eq(st.signal, 5);
    ck_assert_int_eq(usc_rsp_request(c, "g", reply, sizeof(reply), &len, 2000),
                     -ECONNRESET);
    usc_rsp_close(c);
    reap();
}
END_TEST

static void silent(int fd)
{
    char b;

    while (read(fd, &b, 1) == 1)
        ;
    _exit(0);
}

static void speaks_qmp(int fd)
{
    static const char greeting[] = "{\"QMP\": {\"version\": {}}}\r\n";

    if (send(fd, greeting, sizeof(greeting) - 1, MSG_NOSIGNAL) < 0)
        _exit(2);
    silent(fd);
}

static void hangs_up(int fd)
{
    close(fd);
    _exit(0);
}

START_TEST(client_gives_up_on_a_silent_peer)
{
    struct usc_rsp *c;
    struct timespec a, b;
    int fd = spawn(silent);

    clock_gettime(CLOCK_MONOTONIC, &a);
    ck_assert_int_eq(usc_rsp_connect_fd(fd, 200, &c), -ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ck_assert_int_lt(
        (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000, 2000);
    ck_assert_ptr_null(c);
    reap();
}
END_TEST

START_TEST(client_rejects_a_peer_that_is_not_a_stub)
{
    struct usc_rsp *c;
    int fd = spawn(speaks_qmp);

    ck_assert_int_eq(usc_rsp_connect_fd(fd, 2000, &c), -EPROTO);
    reap();
}
END_TEST

START_TEST(client_sees_a_peer_hang_up)
{
    struct usc_rsp *c;
    int fd = spawn(hangs_up);

    ck_assert_int_eq(usc_rsp_connect_fd(fd, 2000, &c), -ECONNRESET);
    reap();
}
END_TEST

START_TEST(client_connect_fails_cleanly_without_a_listener)
{
    struct usc_rsp *c;
    char path[] = "/tmp/check_rsp.XXXXXX";
    char sock[64];

    ck_assert_ptr_nonnull(mkdtemp(path));
    snprintf(sock, sizeof(sock), "%s/none.sock", path);
    ck_assert_int_eq(usc_rsp_connect(sock, 200, &c), -ENOENT);
    rmdir(path);
}
END_TEST

START_TEST(client_refuses_a_path_too_long_for_a_socket)
{
    struct usc_rsp *c;
    char longpath[200];

    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    ck_assert_int_eq(usc_rsp_connect(longpath, 200, &c), -ENAMETOOLONG);
}
END_TEST

static Suite *rsp_suite(void)
{
    Suite *s = suite_create("rsp");
    TCase *tc = tcase_create("framing");

    tcase_add_test(tc, checksum_is_the_byte_sum);
    tcase_add_test(tc, frame_writes_dollar_data_hash_checksum);
    tcase_add_test(tc, frame_escapes_the_four_special_bytes);
    tcase_add_test(tc, frame_refuses_a_small_buffer_or_a_huge_packet);
    tcase_add_test(tc, every_byte_survives_frame_and_unframe);
    tcase_add_test(tc, unframe_skips_acks_and_counts_nacks);
    tcase_add_test(tc, unframe_waits_for_the_whole_packet);
    tcase_add_test(tc, unframe_takes_one_packet_at_a_time);
    tcase_add_test(tc, unframe_rejects_a_bad_checksum_and_moves_past_it);
    tcase_add_test(tc, unframe_undoes_escapes);
    tcase_add_test(tc, unframe_expands_run_lengths);
    tcase_add_test(tc, unframe_rejects_bad_run_lengths);
    tcase_add_test(tc, unframe_bounds_its_output);
    tcase_add_test(tc, unframe_refuses_an_endless_frame);
    tcase_add_test(tc, unframe_restarts_at_a_second_dollar);
    tcase_add_test(tc, unframe_drops_junk_without_a_packet);
    suite_add_tcase(s, tc);

    tc = tcase_create("replies");
    tcase_add_test(tc, hex_decodes_and_encodes);
    tcase_add_test(tc, hex_numbers_have_1_to_16_digits);
    tcase_add_test(tc, reply_status_classifies_ok_errors_and_empty);
    tcase_add_test(tc, stop_s_carries_a_signal);
    tcase_add_test(tc, stop_t_as_qemu_sends_it);
    tcase_add_test(tc, stop_t_reports_watchpoints_by_kind);
    tcase_add_test(tc, stop_t_reports_sw_and_hw_breaks);
    tcase_add_test(tc, stop_t_ignores_registers_and_unknown_fields);
    tcase_add_test(tc, stop_w_and_x_are_exits);
    tcase_add_test(tc, stop_rejects_malformed_replies);
    tcase_add_test(tc, thread_ids_in_every_form);
    suite_add_tcase(s, tc);

    tc = tcase_create("tdesc");
    tcase_add_test(tc, tdesc_finds_the_include_of_target_xml);
    tcase_add_test(tc, tdesc_lists_registers_and_skips_comments);
    tcase_add_test(tc, tdesc_rejects_malformed_elements);
    tcase_add_test(tc, tdesc_of_plain_text_is_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("client");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, client_handshakes_and_keeps_a_racing_stop);
    tcase_add_test(tc, client_gives_up_on_a_silent_peer);
    tcase_add_test(tc, client_rejects_a_peer_that_is_not_a_stub);
    tcase_add_test(tc, client_sees_a_peer_hang_up);
    tcase_add_test(tc, client_connect_fails_cleanly_without_a_listener);
    tcase_add_test(tc, client_refuses_a_path_too_long_for_a_socket);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rsp_suite());

    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
