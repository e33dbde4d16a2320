/* Unit tests of reading unikernels' own crash reports (lib/crashlog.c),
 * on console output as Solo5 and Unikraft print it. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crashlog.h"

static int parse(const char *text, struct usc_crashlog *c)
{
    return usc_crashlog_parse(text, strlen(text), c);
}

START_TEST(test_solo5_trap)
{
    static const char con[] =
        "Solo5: Bindings version v0.12.1-7-g469c1a8\n"
        "Solo5: Memory map: 63 MB addressable:\n"
        "\n**** Solo5 standalone test_exception ****\n\n"
        "Solo5: trap: type=#PF ec=0x2 rip=0x105fe2 rsp=0x3fdffa0 "
        "rflags=0x206\n"
        "Solo5: trap: cr2=0x400000000\n"
        "Solo5: ABORT: cpu_x86_64.c:182: Fatal trap\n"
        "Solo5: ACPI: power off via PM1a=0x604 PM1b=0x0 SLP_TYPa=0\n";
    struct usc_crashlog c;

    ck_assert_int_eq(parse(con, &c), 0);
    ck_assert_int_eq(c.kind, USC_CRASH_SOLO5);
    ck_assert_str_eq(c.trap, "#PF");
    ck_assert_int_eq(c.vector, 14);
    ck_assert_uint_eq(c.error_code, 2);
    ck_assert_uint_eq(c.regs.rip, 0x105fe2);
    ck_assert_uint_eq(c.regs.rsp, 0x3fdffa0);
    ck_assert_uint_eq(c.regs.rflags, 0x206);
    ck_assert_uint_eq(c.cr2, 0x400000000ull);
    ck_assert_str_eq(c.file, "cpu_x86_64.c");
    ck_assert_int_eq(c.line, 182);
    ck_assert_str_eq(c.message, "Fatal trap");
    ck_assert_uint_eq(c.have & (USC_CRASH_HAVE_TRAP | USC_CRASH_HAVE_RIP |
                                USC_CRASH_HAVE_CR2 | USC_CRASH_HAVE_WHERE),
                      USC_CRASH_HAVE_TRAP | USC_CRASH_HAVE_RIP |
                          USC_CRASH_HAVE_CR2 | USC_CRASH_HAVE_WHERE);
    ck_assert_uint_eq(c.lines, 3);
    ck_assert_uint_eq(c.garbled, 0);
    ck_assert_ptr_eq(strstr(con, "Solo5: trap:"), con + c.start);
}
END_TEST

START_TEST(test_solo5_abort_and_exit)
{
    struct usc_crashlog c;

    ck_assert_int_eq(parse("hello\nSolo5: solo5_abort() called\n", &c), 0);
    ck_assert_int_eq(c.kind, USC_CRASH_SOLO5);
    ck_assert(c.have & USC_CRASH_HAVE_ABORT);
    ck_assert(!(c.have & USC_CRASH_HAVE_RIP));
    ck_assert_str_eq(c.message, "solo5_abort() called");
    ck_assert_int_eq(parse("Solo5: solo5_exit(0) called\n", &c), 0);
    ck_assert(c.have & USC_CRASH_HAVE_EXIT);
    ck_assert_int_eq(c.kind, USC_CRASH_NONE);
    ck_assert_int_eq(c.exit_status, 0);
    ck_assert_int_eq(parse("Solo5: Halted\nplain text\n", &c), -ENOENT);
    ck_assert_int_eq(parse("", &c), -ENOENT);
}
END_TEST

START_TEST(test_unikraft_page_fault_dump)
{
    static const char con[] =
        "Hello world!\n"
        "[    0.103374] CRIT: [libkvmplat] <trace.c @   41> RIP: "
        "0000000000127072 CS: 0008\n"
        "[    0.104154] CRIT: [libkvmplat] <trace.c @   42> RSP: "
        "0000000000010f70 SS: 0010 EFLAGS: 00000202\n"
        "[    0.104280] CRIT: [libkvmplat] <trace.c @   44> RAX: "
        "0000000400000000 RBX: 000000000016d240 RCX: 0000000000000280\n"
        "[    0.104412] CRIT: [libkvmplat] <trace.c @   46> RDX: "
        "0000000000139120 RSI: 00000000000003d4 RDI: 0000000000129d3e\n"
        "[    0.104544] CRIT: [libkvmplat] <trace.c @   48> RBP: "
        "0000000000010f80 R08: 00000000000003d5 R09: 0000000000000202\n"
        "[    0.104678] CRIT: [libkvmplat] <trace.c @   50> R10: "
        "000000000000000e R11: 0000000000129d65 R12: 000000000016d250\n"
        "[    0.104873] CRIT: [libkvmplat] <trace.c @   52> R13: "
        "0000000000000002 R14: 000000000016d240 R15: 0000000003fd0040\n"
        "[    0.105259] CRIT: [libkvmplat] <trace.c @   86> base is 0x10f80 "
        "caller is 0x11eb2f\n"
        "[    0.105393] CRIT: [libkvmplat] <trace.c @   86> base is 0x10fe0 "
        "caller is 0x1137b9\n"
        "[    0.105610] CRIT: [libkvmplat] <trace.c @   86> base is 0x10ff0 "
        "caller is 0\n"
        "[    0.105741] CRIT: [libkvmplat] <trace.c @   66> \n"
        "[    0.105809] CRIT: [libkvmplat] <trace.c @   66> 10f60: 80 0f 01 "
        "00 00 00 00 00 59 70 12 00 00 00 00 00\n"
        "[    0.107572] CRIT: [libkvmplat] <traps.c @  113> Crashing\n";
    struct usc_crashlog c;

    ck_assert_int_eq(parse(con, &c), 0);
    ck_assert_int_eq(c.kind, USC_CRASH_UNIKRAFT);
    ck_assert_uint_eq(c.regs.rip, 0x127072);
    ck_assert_uint_eq(c.regs.cs, 8);
    ck_assert_uint_eq(c.regs.rsp, 0x10f70);
    ck_assert_uint_eq(c.regs.ss, 0x10);
    ck_assert_uint_eq(c.regs.rflags, 0x202);
    ck_assert_uint_eq(c.regs.rax, 0x400000000ull);
    ck_assert_uint_eq(c.regs.rbp, 0x10f80);
    ck_assert_uint_eq(c.regs.r15, 0x3fd0040);
    ck_assert(c.have & USC_CRASH_HAVE_GPRS);
    ck_assert_uint_eq(c.ncallers, 2);
    ck_assert_uint_eq(c.callers[0], 0x11eb2f);
    ck_assert_str_eq(c.message, "Crashing");
    ck_assert_str_eq(c.file, "traps.c");
    ck_assert_int_eq(c.line, 113);
    ck_assert_uint_eq(c.garbled, 0);
}
END_TEST

START_TEST(test_unikraft_unhandled_trap_colours_and_assert)
{
    static const char con[] =
        "\x1b[01;31mCRIT:\x1b[0m \x1b[0;36m[libkvmplat]\x1b[0m "
        "<traps.c @   84> Unhandled Trap 6 (invalid opcode), error "
        "code=0x0\n"
        "CRIT: [libkvmplat] RIP: 0000000000101234 CS: 0008\n";
    struct usc_crashlog c;

    ck_assert_int_eq(parse(con, &c), 0);
    ck_assert_int_eq(c.kind, USC_CRASH_UNIKRAFT);
    ck_assert_str_eq(c.trap, "invalid opcode");
    ck_assert_int_eq(c.vector, 6);
    ck_assert_uint_eq(c.regs.rip, 0x101234);
    ck_assert_int_eq(parse("CRIT: [libfoo] <foo.c @   12> Assertion failure: "
                           "x != NULL\n",
                           &c),
                     0);
    ck_assert(c.have & USC_CRASH_HAVE_ABORT);
    ck_assert_str_eq(c.file, "foo.c");
    ck_assert_int_eq(c.line, 12);
    ck_assert_str_eq(c.message, "Assertion failure: x != NULL");
    ck_assert_int_eq(
        parse("CRIT: [libukvmem] Cannot handle write page fault at "
              "0x400000000\n",
              &c),
        0);
    ck_assert_uint_eq(c.cr2, 0x400000000ull);
    ck_assert_int_eq(c.vector, 14);
}
END_TEST

START_TEST(test_garbage_that_looks_like_a_report)
{
    static const char *const bad[] = {
        "Solo5: trap: type=#PF ec=0xzz rip=0x105fe2\n",
        "Solo5: trap: type=#PF ec=0x2 rip=0x11112222333344445555\n",
        "Solo5: trap: type=#PF rip=0x8000000000000000\n", /* not canonical */
        "Solo5: trap: type=PF rip=0x1\n",
        "Solo5: trap: ec=0x2 rsp=0x1\n",
        "Solo5: trap: type=#PF rip=0x1 rip=0x2\n",
        "Solo5: trap: cr2=\n",
        "Solo5: ABORT: :12: x\n",
        "Solo5: ABORT: a.c:99999999999: x\n",
        "Solo5: solo5_exit(-1) called\n",
        "CRIT: RIP: 00000000zz127072 CS: 0008\n",
        "CRIT: RSP: 0000000000010f70 SS: 10000 EFLAGS: 0\n",
        "CRIT: RAX: 1 RAX: 2\n",
        "CRIT: RAX: 1 RBX:\n",
        "CRIT: Unhandled Trap 999 (x), error code=0x0\n",
        "CRIT: Unhandled Trap 6 (invalid opcode, error code=0x0\n",
        "CRIT: <x.c @ y> boom\n",
        "CRIT: base is 0x1 caller is\n",
    };
    struct usc_crashlog c;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(parse(bad[i], &c) == 0, "%s", bad[i]);
        ck_assert_msg(c.garbled == 1 && c.lines == 0, "%s: %u %u", bad[i],
                      c.garbled, c.lines);
        ck_assert_msg(!(c.have & USC_CRASH_HAVE_RIP), "%s", bad[i]);
    }
    /* bytes of every value, no terminator: read, never past the end */
    char all[512];
    for (size_t i = 0; i < sizeof(all); i++)
        all[i] = (char)(i * 7 + 3);
    memcpy(all + 100, "Solo5: trap: type=#PF rip=0x1", 29);
    usc_crashlog_parse(all, sizeof(all), &c);
    /* a second trap is counted, not taken */
    ck_assert_int_eq(parse("Solo5: trap: type=#GP ec=0x0 rip=0x1000\n"
                           "Solo5: trap: type=#PF ec=0x0 rip=0x2000\n",
                           &c),
                     0);
    ck_assert_uint_eq(c.regs.rip, 0x1000);
    ck_assert_uint_eq(c.later_traps, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crashlog");
    TCase *tc = tcase_create("crashlog");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_solo5_trap);
    tcase_add_test(tc, test_solo5_abort_and_exit);
    tcase_add_test(tc, test_unikraft_page_fault_dump);
    tcase_add_test(tc, test_unikraft_unhandled_trap_colours_and_assert);
    tcase_add_test(tc, test_garbage_that_looks_like_a_report);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
