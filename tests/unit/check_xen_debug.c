/* Unit tests of xen_debug.c's pure helpers: steps and debug registers. */
#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef USC_HAVE_XEN

#include "target.h"

/* xen_debug.c's, declared in backend/xen.h (whose Xen headers tests avoid) */
int usc_xen_insn_kind(const uint8_t *b, size_t n, int long_mode);
uint64_t usc_xen_step_rflags(uint64_t now, uint64_t before, int kind);
uint64_t usc_xen_dr7_bits(unsigned slot, enum usc_break_type type,
                          uint64_t addr, uint64_t len);

/* xen_debug.c's INSN_* */
#define OTHER 0
#define SETS_IF 1
#define SETS_FLAGS 2
#define PUSHF 3

#define TF 0x100ull
#define IF 0x200ull

static int kind(const uint8_t *b, size_t n, int long_mode)
{
    return usc_xen_insn_kind(b, n, long_mode);
}

START_TEST(plain_instructions_are_other)
{
    static const uint8_t nop[] = {0x90};
    static const uint8_t mov[] = {0x48, 0x89, 0xe5};
    static const uint8_t hlt[] = {0xf4};
    static const uint8_t rdtsc[] = {0x0f, 0x31};

    ck_assert_int_eq(kind(nop, sizeof(nop), 1), OTHER);
    ck_assert_int_eq(kind(mov, sizeof(mov), 1), OTHER);
    ck_assert_int_eq(kind(hlt, sizeof(hlt), 1), OTHER);
    ck_assert_int_eq(kind(rdtsc, sizeof(rdtsc), 1), OTHER);
}
END_TEST

START_TEST(flag_instructions_are_found)
{
    static const uint8_t cli[] = {0xfa}, sti[] = {0xfb}, popf[] = {0x9d};
    static const uint8_t iretq[] = {0x48, 0xcf}, pushf[] = {0x9c};

    ck_assert_int_eq(kind(cli, 1, 1), SETS_IF);
    ck_assert_int_eq(kind(sti, 1, 1), SETS_IF);
    ck_assert_int_eq(kind(popf, 1, 1), SETS_FLAGS);
    ck_assert_int_eq(kind(iretq, 2, 1), SETS_FLAGS);
    ck_assert_int_eq(kind(pushf, 1, 1), PUSHF);
}
END_TEST

START_TEST(prefixes_are_skipped)
{
    static const uint8_t pushf16[] = {0x66, 0x9c};
    static const uint8_t seg_popf[] = {0x2e, 0x3e, 0x9d};
    /* REX is a prefix only in long mode: in 32-bit code 0x48 is dec eax */
    static const uint8_t rex_iret[] = {0x48, 0xcf};

    ck_assert_int_eq(kind(pushf16, 2, 1), PUSHF);
    ck_assert_int_eq(kind(seg_popf, 3, 0), SETS_FLAGS);
    ck_assert_int_eq(kind(rex_iret, 2, 0), OTHER);
}
END_TEST

START_TEST(short_or_endless_prefixes_are_other)
{
    uint8_t many[20];

    for (size_t i = 0; i < sizeof(many); i++)
        many[i] = 0x66;
    many[sizeof(many) - 1] = 0xfa;
    ck_assert_int_eq(kind(many, sizeof(many), 1), OTHER);
    ck_assert_int_eq(kind(many, 0, 1), OTHER);
    ck_assert_int_eq(kind(many, 3, 1), OTHER);
}
END_TEST

START_TEST(a_step_gives_tf_and_if_back)
{
    /* the step ran with TF on, IF off; before it: IF on, TF off */
    uint64_t during = 0x2 | TF, before = 0x2 | IF | 0x40;

    ck_assert_uint_eq(usc_xen_step_rflags(during | 0x1, before, OTHER),
                      0x2 | IF | 0x1);
    ck_assert_uint_eq(usc_xen_step_rflags(during, before, PUSHF), 0x2 | IF);
    /* cli leaves IF off, sti on; TF is ours either way */
    ck_assert_uint_eq(usc_xen_step_rflags(during, before, SETS_IF), 0x2);
    ck_assert_uint_eq(usc_xen_step_rflags(during | IF, 0x2, SETS_IF), 0x2 | IF);
    /* popf and iret: TF and IF are what the stack said */
    ck_assert_uint_eq(usc_xen_step_rflags(0x2 | IF, before, SETS_FLAGS),
                      0x2 | IF);
    ck_assert_uint_eq(usc_xen_step_rflags(0x2 | TF, before, SETS_FLAGS),
                      0x2 | TF);
    /* a guest that was stepping itself keeps its TF */
    ck_assert_uint_eq(usc_xen_step_rflags(during, 0x2 | TF, OTHER), 0x2 | TF);
}
END_TEST

START_TEST(dr7_encodes_each_slot)
{
    /* execution: enable only, R/W 00, LEN 00 */
    ck_assert_uint_eq(usc_xen_dr7_bits(0, USC_BREAK_HW, 0x1000, 1), 0x1);
    ck_assert_uint_eq(usc_xen_dr7_bits(3, USC_BREAK_HW, 0x1001, 1), 0x40);
    /* write, 8 bytes in slot 1: L1, R/W1 01, LEN1 10 */
    ck_assert_uint_eq(usc_xen_dr7_bits(1, USC_WATCH_WRITE, 0x2000, 8),
                      (1ull << 2) | (0x9ull << 20));
    /* access, 4 bytes in slot 2: L2, R/W2 11, LEN2 11 */
    ck_assert_uint_eq(usc_xen_dr7_bits(2, USC_WATCH_ACCESS, 0x2004, 4),
                      (1ull << 4) | (0xfull << 24));
    /* read watches are access watches on x86; 2 bytes: LEN 01 */
    ck_assert_uint_eq(usc_xen_dr7_bits(0, USC_WATCH_READ, 0x2002, 2),
                      1ull | (0x7ull << 16));
}
END_TEST

START_TEST(dr7_refuses_what_x86_cannot_watch)
{
    ck_assert_uint_eq(usc_xen_dr7_bits(0, USC_WATCH_WRITE, 0x2001, 2), 0);
    ck_assert_uint_eq(usc_xen_dr7_bits(0, USC_WATCH_WRITE, 0x2004, 8), 0);
    ck_assert_uint_eq(usc_xen_dr7_bits(0, USC_WATCH_WRITE, 0x2000, 3), 0);
    ck_assert_uint_eq(usc_xen_dr7_bits(0, USC_WATCH_WRITE, 0x2000, 16), 0);
    ck_assert_uint_eq(usc_xen_dr7_bits(0, USC_BREAK_HW, 0x2000, 2), 0);
    ck_assert_uint_eq(usc_xen_dr7_bits(0, USC_BREAK_SW, 0x2000, 1), 0);
    ck_assert_uint_eq(usc_xen_dr7_bits(4, USC_WATCH_WRITE, 0x2000, 8), 0);
}
END_TEST

static Suite *xen_debug_suite(void)
{
    Suite *s = suite_create("xen_debug");
    TCase *tc = tcase_create("steps");

    tcase_add_test(tc, plain_instructions_are_other);
    tcase_add_test(tc, flag_instructions_are_found);
    tcase_add_test(tc, prefixes_are_skipped);
    tcase_add_test(tc, short_or_endless_prefixes_are_other);
    tcase_add_test(tc, a_step_gives_tf_and_if_back);
    suite_add_tcase(s, tc);

    tc = tcase_create("debug registers");
    tcase_add_test(tc, dr7_encodes_each_slot);
    tcase_add_test(tc, dr7_refuses_what_x86_cannot_watch);
    suite_add_tcase(s, tc);
    return s;
}

#else /* !USC_HAVE_XEN */

START_TEST(built_without_xen)
{
    ck_assert_int_eq(0, 0);
}
END_TEST

static Suite *xen_debug_suite(void)
{
    Suite *s = suite_create("xen_debug");
    TCase *tc = tcase_create("none");

    tcase_add_test(tc, built_without_xen);
    suite_add_tcase(s, tc);
    return s;
}

#endif /* USC_HAVE_XEN */

int main(void)
{
    SRunner *sr = srunner_create(xen_debug_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
