/* Unit tests of judging a stopped guest: crash or orderly end, and why. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <uniscope/abi.h>

#include "crash.h"

static const char solo5_trap[] =
    "Solo5: Bindings version v0.12.1\r\n"
    "**** Solo5 standalone test_exception ****\r\n\r\n"
    "Solo5: trap: type=#PF ec=0x2 rip=0x105fe2 rsp=0x7fdffa0 rflags=0x206\r\n"
    "Solo5: trap: cr2=0x400000000\r\n"
    "Solo5: ABORT: cpu_x86_64.c:182: Fatal trap\r\n"
    "Solo5: ACPI: power off via PM1a=0x604 PM1b=0x0 SLP_TYPa=0\r\n";

static struct usc_crash_facts facts(const char *console)
{
    struct usc_crash_facts f;

    memset(&f, 0, sizeof(f));
    f.agent_state = -1;
    f.state = USC_VM_SHUTDOWN;
    f.console = console;
    f.console_len = console ? strlen(console) : 0;
    return f;
}

START_TEST(solo5_trap_is_a_crash_named_by_its_first_line)
{
    struct usc_crash_facts f = facts(solo5_trap);
    struct usc_crash_verdict v;

    f.have_value = 1;
    f.value = 41;
    usc_crash_judge(&f, &v);
    ck_assert_int_eq(v.crash, 1);
    ck_assert_str_eq(v.kind, "trap");
    ck_assert_str_eq(v.reason, "Solo5: trap: type=#PF ec=0x2 rip=0x105fe2 "
                               "rsp=0x7fdffa0 rflags=0x206");
    ck_assert_int_eq(v.status, 41);
}
END_TEST

START_TEST(solo5_exit_is_orderly_whatever_its_value)
{
    struct usc_crash_facts f =
        facts("Hello, World\r\nSUCCESS\r\nSolo5: solo5_exit(0) called\r\n");
    struct usc_crash_verdict v;

    f.have_value = 1;
    f.value = 41;
    usc_crash_judge(&f, &v);
    ck_assert_int_eq(v.crash, 0);
    ck_assert_str_eq(v.kind, "exit");
    ck_assert_int_eq(v.status, 41);
    /* an abort, by its own line */
    f = facts("**** test_dumpcore ****\nSolo5: solo5_abort() called\n");
    usc_crash_judge(&f, &v);
    ck_assert_int_eq(v.crash, 1);
    ck_assert_str_eq(v.kind, "abort");
    ck_assert_int_eq(v.status, 0);
    /* a line that looks like a report but does not parse: kept, said so */
    f = facts("Solo5: ABORT: x\nrecovered\n");
    usc_crash_judge(&f, &v);
    ck_assert_int_eq(v.crash, 1);
    ck_assert_str_eq(v.kind, "crash");
    ck_assert_ptr_nonnull(strstr(v.reason, "do not parse"));
}
END_TEST

START_TEST(the_agent_and_the_hypervisor_come_first)
{
    struct usc_crash_facts f = facts(solo5_trap);
    struct usc_crash_verdict v;

    /* an agent that halted in order wins over a console */
    f.agent_state = USC_STATE_HALTED;
    f.have_value = 1;
    f.value = 42;
    usc_crash_judge(&f, &v);
    ck_assert_int_eq(v.crash, 0);
    ck_assert_int_eq(v.status, 42);
    /* its panic, with its reason */
    f.agent_state = USC_STATE_PANICKED;
    strcpy(f.panic_reason, "assertion failed: ring");
    usc_crash_judge(&f, &v);
    ck_assert_int_eq(v.crash, 1);
    ck_assert_str_eq(v.kind, "agent-panic");
    ck_assert_str_eq(v.reason, "agent panic: assertion failed: ring");
    /* no agent: the hypervisor's word */
    f = facts("[    0.100000] CRIT: [libkvmplat] Crashing\n");
    f.guest_panicked = 1;
    f.state = USC_VM_PANICKED;
    f.have_value = 1;
    f.value = 42;
    usc_crash_judge(&f, &v);
    ck_assert_str_eq(v.kind, "guest-panic");
    ck_assert_str_eq(v.reason, "guest panic (pvpanic): [    0.100000] CRIT: "
                               "[libkvmplat] Crashing");
    ck_assert_int_eq(v.status, 42);
    f = facts(NULL);
    f.guest_reset = 1;
    usc_crash_judge(&f, &v);
    ck_assert_str_eq(v.kind, "triple-fault");
    ck_assert_int_eq(v.status, 0);
    f = facts(NULL);
    f.state = USC_VM_ERROR;
    usc_crash_judge(&f, &v);
    ck_assert_str_eq(v.kind, "internal-error");
    ck_assert_int_eq(v.status, 1);
    f = facts("just text\n");
    usc_crash_judge(&f, &v);
    ck_assert_int_eq(v.crash, 0);
    ck_assert_str_eq(v.kind, "power-off");
    /* the exit status is what isa-debug-exit's (value << 1) | 1 gave */
    f.have_value = 1;
    f.value = 0xff;
    usc_crash_judge(&f, &v);
    ck_assert_int_eq(v.status, 0x7f);
}
END_TEST

START_TEST(hostile_console_text_is_bounded_and_sanitized)
{
    static char text[4096];
    struct usc_crash_facts f;
    struct usc_crash_verdict v;

    /* a report line with escapes, far longer than a reason, no newline,
     * and the text not terminated where it ends */
    memset(text, 'A', sizeof(text));
    memcpy(text, "Solo5: trap: \x1b[2J\x07", 19);
    f = facts(NULL);
    f.console = text;
    f.console_len = sizeof(text);
    usc_crash_judge(&f, &v);
    ck_assert_int_eq(v.crash, 1);
    ck_assert_uint_lt(strlen(v.reason), sizeof(v.reason));
    ck_assert_ptr_null(strchr(v.reason, '\x1b'));
    ck_assert_ptr_null(strchr(v.reason, '\x07'));
    /* NULs and a marker cut at the end */
    f.console = "\0\0Solo5: tr";
    f.console_len = 11;
    usc_crash_judge(&f, &v);
    ck_assert_int_eq(v.crash, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crash");
    TCase *tc = tcase_create("judge");

    tcase_add_test(tc, solo5_trap_is_a_crash_named_by_its_first_line);
    tcase_add_test(tc, solo5_exit_is_orderly_whatever_its_value);
    tcase_add_test(tc, the_agent_and_the_hypervisor_come_first);
    tcase_add_test(tc, hostile_console_text_is_bounded_and_sanitized);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
