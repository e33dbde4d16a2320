/* Unit tests of the sanitiser guest strings pass before any output. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sanitize.h"

/* ---- terminal text ---------------------------------------------------- */

START_TEST(text_replaces_escapes_and_controls)
{
    char out[64];
    const char *in = "ok\x1b[2J\x1b]0;owned\a\r\n\t\x7f";

    ck_assert_uint_eq(usc_sanitize_text(out, sizeof(out), in, strlen(in)),
                      strlen(in));
    ck_assert_str_eq(out, "ok?[2J?]0;owned?????");
    for (size_t i = 0; out[i]; i++)
        ck_assert(out[i] >= 0x20 && out[i] <= 0x7e);
}
END_TEST

START_TEST(text_replaces_every_non_ascii_byte)
{
    char out[64];
    /* U+009B (CSI as a C1 control, in UTF-8) and a right-to-left override */
    const char *in = "a\xc2\x9b"
                     "b\xe2\x80\xae"
                     "c\xff";

    usc_sanitize_text(out, sizeof(out), in, strlen(in));
    ck_assert_str_eq(out, "a??b???c?");
}
END_TEST

START_TEST(text_stops_at_nul_len_and_size)
{
    char out[8];
    char field[4] = {'a', 'b', 'c', 'd'}; /* unterminated guest field */

    ck_assert_uint_eq(usc_sanitize_text(out, sizeof(out), field, 4), 4);
    ck_assert_str_eq(out, "abcd");
    ck_assert_uint_eq(usc_sanitize_text(out, sizeof(out), "ab\0cd", 5), 2);
    ck_assert_uint_eq(usc_sanitize_text(out, 4, "abcdefgh", 8), 3);
    ck_assert_str_eq(out, "abc");
    ck_assert_uint_eq(usc_sanitize_text(out, 1, "abc", 3), 0);
    ck_assert_str_eq(out, "");
    out[0] = 'x';
    ck_assert_uint_eq(usc_sanitize_text(out, 0, "abc", 3), 0);
    ck_assert_int_eq(out[0], 'x');
    ck_assert_uint_eq(usc_sanitize_text(out, sizeof(out), NULL, 3), 0);
    ck_assert_str_eq(out, "");
}
END_TEST

/* ---- Prometheus label values ------------------------------------------ */

START_TEST(label_escapes_quote_backslash_newline)
{
    char out[64];
    const char *in = "web\"} 1\nuniscope_fake{x=\"\\";

    usc_sanitize_prom_label(out, sizeof(out), in, strlen(in));
    ck_assert_str_eq(out, "web\\\"} 1\\nuniscope_fake{x=\\\"\\\\");
    /* No raw quote or line feed is left to end the value or the line. */
    for (size_t i = 0; out[i]; i++) {
        ck_assert_int_ne(out[i], '\n');
        if (out[i] == '"')
            ck_assert_int_eq(out[i - 1], '\\');
    }
}
END_TEST

START_TEST(label_never_cuts_an_escape)
{
    char out[4];

    /* "a" then an escape that needs 2 bytes: only 3 fit with the NUL. */
    ck_assert_uint_eq(usc_sanitize_prom_label(out, sizeof(out), "ab\"", 3), 2);
    ck_assert_str_eq(out, "ab");
    ck_assert_uint_eq(usc_sanitize_prom_label(out, sizeof(out), "a\"b", 3), 3);
    ck_assert_str_eq(out, "a\\\"");
    ck_assert_uint_eq(usc_sanitize_prom_label(out, sizeof(out), "\x1b\t", 2),
                      2);
    ck_assert_str_eq(out, "??");
}
END_TEST

/* ---- Prometheus metric names ------------------------------------------ */

struct name_case {
    const char *name, *unit;
    int counter;
    const char *want;
    double scale, offset;
};

static const struct name_case name_cases[] = {
    {"timer_ticks", "", 1, "timer_ticks_total", 1, 0},
    {"queue_depth", "", 0, "queue_depth", 1, 0},
    {"heap_used", "bytes", 0, "heap_used_bytes", 1, 0},
    {"heap_used_bytes", "bytes", 0, "heap_used_bytes", 1, 0},
    {"agent_start_us", "microseconds", 0, "agent_start_seconds", 1e-6, 0},
    {"latency_ms", "", 0, "latency_seconds", 1e-3, 0},
    {"heapUsed", "KiB", 0, "heap_used_bytes", 1024, 0},
    {"requests_total", "", 1, "requests_total", 1, 0},
    {"requests_total", "", 0, "requests", 1, 0},
    {"queue_count", "", 0, "queue_count_value", 1, 0},
    {"rx:bytes", "bytes", 1, "rx_bytes_total", 1, 0},
    {"temp", "fahrenheit", 0, "temp_celsius", 5.0 / 9.0, -160.0 / 9.0},
    {"cpu_gauge", "%", 0, "cpu_ratio", 0.01, 0},
    {"rx", "packets", 1, "rx_packets_total", 1, 0},
    {"uptime", "hours", 0, "uptime_seconds", 3600, 0},
    {"disk_read", "kilobytes", 1, "disk_read_bytes_total", 1000, 0},
    {"wait_time", "req/s", 0, "wait_time_req", 1, 0},
    {"ms", "", 0, "seconds", 1e-3, 0},
    {"\x1b[31mevil\"} 1", "", 0, "31mevil_1", 1, 0},
    {"HTTPRequests", "", 1, "httprequests_total", 1, 0},
};

START_TEST(prom_names_follow_the_conventions)
{
    const struct name_case *c = &name_cases[_i];
    struct usc_prom_unit conv;
    char out[128];
    size_t n = usc_sanitize_prom_name(out, sizeof(out), c->name, c->unit,
                                      c->counter, &conv);

    ck_assert_str_eq(out, c->want);
    ck_assert_uint_eq(n, strlen(c->want));
    ck_assert_msg(fabs(conv.scale - c->scale) < 1e-12 * fabs(c->scale) + 1e-18,
                  "%s: scale %g", c->name, conv.scale);
    ck_assert(fabs(conv.offset - c->offset) < 1e-9);
}
END_TEST

START_TEST(prom_name_of_only_unit_or_type_words_is_empty)
{
    struct usc_prom_unit conv;
    char out[64] = "x";

    ck_assert_uint_eq(
        usc_sanitize_prom_name(out, sizeof(out), "gauge_total", "", 0, &conv),
        0);
    ck_assert_str_eq(out, "");
    ck_assert_uint_eq(
        usc_sanitize_prom_name(out, sizeof(out), "", "", 1, &conv), 0);
    ck_assert_uint_eq(
        usc_sanitize_prom_name(out, sizeof(out), "!!!", "", 1, &conv), 0);
    ck_assert_uint_eq(
        usc_sanitize_prom_name(out, sizeof(out), NULL, NULL, 1, &conv), 0);
}
END_TEST

START_TEST(prom_name_that_does_not_fit_is_empty)
{
    struct usc_prom_unit conv;
    char out[8];

    ck_assert_uint_eq(usc_sanitize_prom_name(
                          out, sizeof(out), "a_rather_long_name", "", 1, &conv),
                      0);
    ck_assert_str_eq(out, "");
}
END_TEST

/* Every byte value in every position: only [a-z0-9_], no empty words. */
START_TEST(prom_name_charset_holds_for_any_input)
{
    struct usc_prom_unit conv;
    char in[8], out[128];

    for (int b = 1; b < 256; b++) {
        snprintf(in, sizeof(in), "a%cB%c", b, b);
        size_t n =
            usc_sanitize_prom_name(out, sizeof(out), in, in, b & 1, &conv);
        for (size_t i = 0; i < n; i++)
            ck_assert((out[i] >= 'a' && out[i] <= 'z') ||
                      (out[i] >= '0' && out[i] <= '9') || out[i] == '_');
        ck_assert(n == 0 || (out[0] != '_' && out[n - 1] != '_'));
        ck_assert_ptr_null(strstr(out, "__"));
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sanitize");
    TCase *tc = tcase_create("sanitize");

    tcase_add_test(tc, text_replaces_escapes_and_controls);
    tcase_add_test(tc, text_replaces_every_non_ascii_byte);
    tcase_add_test(tc, text_stops_at_nul_len_and_size);
    tcase_add_test(tc, label_escapes_quote_backslash_newline);
    tcase_add_test(tc, label_never_cuts_an_escape);
    tcase_add_loop_test(tc, prom_names_follow_the_conventions, 0,
                        (int)(sizeof(name_cases) / sizeof(name_cases[0])));
    tcase_add_test(tc, prom_name_of_only_unit_or_type_words_is_empty);
    tcase_add_test(tc, prom_name_that_does_not_fit_is_empty);
    tcase_add_test(tc, prom_name_charset_holds_for_any_input);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
