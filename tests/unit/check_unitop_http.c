/* Unit tests of the request parser of unitop's Prometheus endpoint. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "unitop.h"

static int parse(const char *req, char *path, size_t size, int *head)
{
    return top_http_parse(req, strlen(req), path, size, head);
}

START_TEST(get_and_head_of_metrics)
{
    char path[64];
    int head = -1;

    ck_assert_int_eq(parse("GET /metrics HTTP/1.1\r\nHost: h\r\n"
                           "Accept: */*\r\n\r\n",
                           path, sizeof(path), &head),
                     0);
    ck_assert_str_eq(path, "/metrics");
    ck_assert_int_eq(head, 0);
    ck_assert_int_eq(
        parse("HEAD /metrics?x=1 HTTP/1.0\r\n\r\n", path, sizeof(path), &head),
        0);
    ck_assert_str_eq(path, "/metrics?x=1");
    ck_assert_int_eq(head, 1);
    /* A bare line feed, as a lax client sends it. */
    ck_assert_int_eq(parse("GET / HTTP/1.1\n\n", path, sizeof(path), &head), 0);
    ck_assert_str_eq(path, "/");
}
END_TEST

START_TEST(incomplete_heads_wait)
{
    char path[64];
    int head;

    ck_assert_int_eq(parse("", path, sizeof(path), &head), -EAGAIN);
    ck_assert_int_eq(parse("GET /metrics HTTP/1.1\r\nHost: h\r\n", path,
                           sizeof(path), &head),
                     -EAGAIN);
    ck_assert_int_eq(
        parse("GET /metrics HTTP/1.1\r\n\r", path, sizeof(path), &head),
        -EAGAIN);
}
END_TEST

START_TEST(other_methods_are_not_supported)
{
    char path[64];
    int head;

    ck_assert_int_eq(
        parse("POST /metrics HTTP/1.1\r\n\r\n", path, sizeof(path), &head),
        -ENOTSUP);
    ck_assert_int_eq(
        parse("GETX /metrics HTTP/1.1\r\n\r\n", path, sizeof(path), &head),
        -ENOTSUP);
}
END_TEST

START_TEST(malformed_heads_are_refused)
{
    static const char *const bad[] = {
        "GET /metrics\r\n\r\n",
        "GET  /metrics HTTP/1.1\r\n\r\n",
        "GET /met\x01rics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/2.0\r\n\r\n",
        "GET /metrics HTTP/1.1 extra\r\n\r\n",
        "\r\n\r\n",
        "GET /\x80 HTTP/1.1\r\n\r\n",
    };
    char path[64];
    int head;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(parse(bad[i], path, sizeof(path), &head) == -EINVAL,
                      "accepted: %s", bad[i]);
    /* A path longer than the caller's buffer. */
    ck_assert_int_eq(parse("GET /metrics HTTP/1.1\r\n\r\n", path, 8, &head),
                     -EINVAL);
}
END_TEST

START_TEST(an_endless_head_is_refused)
{
    size_t len = 9000;
    char *req = malloc(len + 1), path[64];
    int head;

    memset(req, 'a', len);
    memcpy(req, "GET /", 5);
    req[len] = '\0';
    ck_assert_int_eq(top_http_parse(req, len, path, sizeof(path), &head),
                     -EINVAL);
    free(req);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("unitop_http");
    TCase *tc = tcase_create("parse");

    tcase_add_test(tc, get_and_head_of_metrics);
    tcase_add_test(tc, incomplete_heads_wait);
    tcase_add_test(tc, other_methods_are_not_supported);
    tcase_add_test(tc, malformed_heads_are_refused);
    tcase_add_test(tc, an_endless_head_is_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
