/* Unit tests of the QMP line parser and client, against fake servers. */
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

#include "qmp.h"

static int parse(const char *s, struct usc_qmp_msg *m)
{
    return usc_qmp_parse(s, strlen(s), m);
}

/* ---- parsing one line --------------------------------------------------- */

START_TEST(parse_greeting)
{
    struct usc_qmp_msg m;

    ck_assert_int_eq(
        parse("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": "
              "2, \"major\": 7}, \"package\": \"Debian\"}, \"capabilities\": "
              "[\"oob\"]}}\r",
              &m),
        0);
    ck_assert_int_eq(m.kind, USC_QMP_GREETING);
    ck_assert(json_is_object(m.value));
    usc_qmp_msg_clear(&m);
    ck_assert_ptr_null(m.root);
}
END_TEST

START_TEST(parse_return_with_and_without_id)
{
    struct usc_qmp_msg m;

    ck_assert_int_eq(parse("{\"return\": {\"status\": \"running\", "
                           "\"running\": true}, \"id\": 7}",
                           &m),
                     0);
    ck_assert_int_eq(m.kind, USC_QMP_RETURN);
    ck_assert_int_eq(m.has_id, 1);
    ck_assert_int_eq(m.id, 7);
    ck_assert_str_eq(json_string_value(json_object_get(m.value, "status")),
                     "running");
    usc_qmp_msg_clear(&m);
    ck_assert_int_eq(parse("{\"return\": []}", &m), 0);
    ck_assert_int_eq(m.has_id, 0);
    ck_assert(json_is_array(m.value));
    usc_qmp_msg_clear(&m);
    /* QMP echoes any id; one that is not ours is not an integer id */
    ck_assert_int_eq(parse("{\"return\": {}, \"id\": \"x\"}", &m), 0);
    ck_assert_int_eq(m.has_id, 0);
    usc_qmp_msg_clear(&m);
}
END_TEST

START_TEST(parse_error)
{
    struct usc_qmp_msg m;

    ck_assert_int_eq(parse("{\"error\": {\"class\": \"CommandNotFound\", "
                           "\"desc\": \"The command foo has not been "
                           "found\"}, \"id\": 3}",
                           &m),
                     0);
    ck_assert_int_eq(m.kind, USC_QMP_ERROR);
    ck_assert_str_eq(m.error_class, "CommandNotFound");
    ck_assert_ptr_nonnull(strstr(m.error_desc, "foo"));
    ck_assert_int_eq(m.id, 3);
    usc_qmp_msg_clear(&m);
}
END_TEST

START_TEST(parse_events)
{
    struct usc_qmp_msg m;

    ck_assert_int_eq(parse("{\"timestamp\": {\"seconds\": 1795335045, "
                           "\"microseconds\": 392126}, \"event\": \"RESUME\"}",
                           &m),
                     0);
    ck_assert_int_eq(m.kind, USC_QMP_EVENT);
    ck_assert_str_eq(m.event, "RESUME");
    ck_assert_ptr_null(m.value);
    usc_qmp_msg_clear(&m);
    ck_assert_int_eq(parse("{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": "
                           "true, \"reason\": \"guest-shutdown\"}}",
                           &m),
                     0);
    ck_assert_str_eq(m.event, "SHUTDOWN");
    ck_assert(json_is_true(json_object_get(m.value, "guest")));
    usc_qmp_msg_clear(&m);
}
END_TEST

START_TEST(parse_rejects_malformed_lines)
{
    struct usc_qmp_msg m;
    static const char *const bad[] = {
        "",
        " ",
        "{",
        "}",
        "[]",
        "42",
        "\"QMP\"",
        "null",
        "{}",
        "{\"id\": 1}",
        "{\"return\": {}} trailing",
        "{\"return\": {}, \"error\": {\"class\": \"a\", \"desc\": \"b\"}}",
        "{\"return\": {}, \"event\": \"STOP\"}",
        "{\"QMP\": {}, \"return\": {}}",
        "{\"QMP\": 1}",
        "{\"QMP\": []}",
        "{\"error\": {}}",
        "{\"error\": \"GenericError\"}",
        "{\"error\": {\"class\": \"GenericError\"}}",
        "{\"error\": {\"class\": 1, \"desc\": \"x\"}}",
        "{\"error\": {\"class\": \"x\", \"desc\": null}}",
        "{\"event\": 1}",
        "{\"event\": null}",
        "{\"event\": \"STOP\", \"data\": 1}",
        "{\"event\": \"STOP\", \"data\": []}",
        "{\"return\": {}, \"return\": {}}",
        "{'return': {}}",
        "{\"return\": \"\\u0000\"}",
        "{\"return\": \"\xff\xfe\"}",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(parse(bad[i], &m) == -EPROTO, "accepted %s", bad[i]);
        ck_assert_ptr_null(m.root);
    }
}
END_TEST

START_TEST(parse_rejects_a_nul_inside_the_line)
{
    struct usc_qmp_msg m;
    static const char line[] = "{\"return\": {}}\0{\"x\": 1}";

    ck_assert_int_eq(usc_qmp_parse(line, sizeof(line) - 1, &m), -EPROTO);
}
END_TEST

START_TEST(parse_survives_deep_nesting)
{
    struct usc_qmp_msg m;
    size_t depth = 200000;
    char *s = malloc(2 * depth + 16);

    ck_assert_ptr_nonnull(s);
    strcpy(s, "{\"return\": ");
    size_t n = strlen(s);
    memset(s + n, '[', depth);
    memset(s + n + depth, ']', depth);
    strcpy(s + n + 2 * depth, "}");
    ck_assert_int_eq(parse(s, &m), -EPROTO);
    free(s);
}
END_TEST

START_TEST(parse_bounds_the_line_length)
{
    struct usc_qmp_msg m;
    size_t n = USC_QMP_LINE_MAX + 1;
    char *s = malloc(n);

    ck_assert_ptr_nonnull(s);
    memset(s, ' ', n);
    memcpy(s, "{\"return\": {}}", 14);
    ck_assert_int_eq(usc_qmp_parse(s, n, &m), -EPROTO);
    ck_assert_int_eq(usc_qmp_parse(s, n - 1, &m), 0);
    usc_qmp_msg_clear(&m);
    ck_assert_int_eq(usc_qmp_parse(NULL, 0, &m), -EPROTO);
    free(s);
}
END_TEST

/* ---- the client against fake servers ------------------------------------ */

static pid_t child;

/* Fork a server that writes (script) on its end of a socketpair, then
 * reads until the client hangs up. */
static int serve(const char *script, size_t len)
{
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        char b[4096];

        close(sv[0]);
        while (len) {
            ssize_t n = send(sv[1], script, len, MSG_NOSIGNAL);

            if (n <= 0)
                _exit(0);
            script += n;
            len -= (size_t)n;
        }
        while (read(sv[1], b, sizeof(b)) > 0)
            ;
        _exit(0);
    }
    close(sv[1]);
    return sv[0];
}

static int serve_str(const char *script)
{
    return serve(script, strlen(script));
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

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define GREETING "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n"
#define CAPS_OK "{\"return\": {}, \"id\": 1}\r\n"

START_TEST(client_negotiates_and_runs_a_command)
{
    struct usc_qmp *q;
    json_t *ret;
    int fd = serve_str(GREETING CAPS_OK
                       "{\"return\": {\"status\": \"paused\"}, \"id\": 2}\r\n");

    ck_assert_int_eq(usc_qmp_connect_fd(fd, 2000, &q), 0);
    ck_assert_int_eq(usc_qmp_execute(q, "query-status", NULL, &ret, 2000), 0);
    ck_assert_str_eq(json_string_value(json_object_get(ret, "status")),
                     "paused");
    json_decref(ret);
    usc_qmp_close(q);
    reap();
}
END_TEST

START_TEST(client_queues_events_and_skips_stale_replies)
{
    struct usc_qmp *q;
    json_t *ret, *data;
    char name[8];
    int fd = serve_str(
        GREETING CAPS_OK
        "{\"event\": \"STOP\"}\r\n"
        "{\"return\": {\"stale\": true}, \"id\": 99}\r\n"
        "\r\n"
        "{\"event\": \"GUEST_PANICKED\", \"data\": {\"action\": \"pause\"}}\n"
        "{\"return\": 5, \"id\": 2}\r\n"
        "{\"return\": {}, \"id\": 3}\r\n"
        "{\"event\": \"RESUME\"}\r\n");

    ck_assert_int_eq(usc_qmp_connect_fd(fd, 2000, &q), 0);
    ck_assert_int_eq(usc_qmp_execute(q, "query-x", NULL, &ret, 2000), 0);
    ck_assert_int_eq(json_integer_value(ret), 5);
    json_decref(ret);
    ck_assert_int_eq(usc_qmp_next_event(q, 0, name, sizeof(name), NULL), 0);
    ck_assert_str_eq(name, "STOP");
    ck_assert_int_eq(usc_qmp_next_event(q, 0, name, sizeof(name), &data), 0);
    ck_assert_str_eq(name, "GUEST_P"); /* truncated to fit */
    ck_assert_str_eq(json_string_value(json_object_get(data, "action")),
                     "pause");
    json_decref(data);
    /* the reply to command 3 arrives where only events are wanted */
    ck_assert_int_eq(usc_qmp_next_event(q, 1000, name, sizeof(name), &data), 0);
    ck_assert_str_eq(name, "RESUME");
    ck_assert_ptr_null(data);
    ck_assert_int_eq(usc_qmp_next_event(q, 50, name, sizeof(name), NULL),
                     -ETIMEDOUT);
    usc_qmp_close(q);
    reap();
}
END_TEST

START_TEST(client_maps_error_replies)
{
    struct usc_qmp *q;
    json_t *ret = (json_t *)1;
    int fd = serve_str(GREETING CAPS_OK
                       "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": "
                       "\"The command query-stats has not been found\"}, "
                       "\"id\": 2}\r\n"
                       "{\"error\": {\"class\": \"GenericError\", \"desc\": "
                       "\"nope\"}, \"id\": 3}\r\n");

    ck_assert_int_eq(usc_qmp_connect_fd(fd, 2000, &q), 0);
    ck_assert_int_eq(usc_qmp_execute(q, "query-stats", NULL, &ret, 2000),
                     -ENOTSUP);
    ck_assert_ptr_null(ret);
    ck_assert_int_eq(usc_qmp_execute(q, "stop", NULL, NULL, 2000), -EIO);
    ck_assert_str_eq(usc_qmp_last_error(q), "nope");
    usc_qmp_close(q);
    reap();
}
END_TEST

START_TEST(client_reports_a_malformed_reply_without_hanging)
{
    struct usc_qmp *q;
    json_t *ret;
    int64_t t0;
    int fd = serve_str(GREETING CAPS_OK "{\"return\": {\"status\": \r\n");

    ck_assert_int_eq(usc_qmp_connect_fd(fd, 2000, &q), 0);
    t0 = now_ms();
    ck_assert_int_eq(usc_qmp_execute(q, "query-status", NULL, &ret, 5000),
                     -EPROTO);
    ck_assert_int_lt(now_ms() - t0, 1000);
    usc_qmp_close(q);
    reap();
}
END_TEST

START_TEST(client_reports_a_malformed_capabilities_reply)
{
    struct usc_qmp *q;
    int fd = serve_str(GREETING "{\"return\": 1, \"error\": 2}\r\n");

    ck_assert_int_eq(usc_qmp_connect_fd(fd, 2000, &q), -EPROTO);
    ck_assert_ptr_null(q);
    reap();
}
END_TEST

START_TEST(client_rejects_a_socket_that_is_not_qmp)
{
    struct usc_qmp *q;
    int fd = serve_str("$T02thread:01;#04");

    ck_assert_int_eq(usc_qmp_connect_fd(fd, 2000, &q), -EPROTO);
    reap();
    fd = serve_str("{\"return\": {}}\r\n");
    ck_assert_int_eq(usc_qmp_connect_fd(fd, 2000, &q), -EPROTO);
    reap();
}
END_TEST

START_TEST(client_times_out_on_a_silent_server)
{
    struct usc_qmp *q;
    int64_t t0 = now_ms();
    int fd = serve_str("");

    ck_assert_int_eq(usc_qmp_connect_fd(fd, 200, &q), -ETIMEDOUT);
    ck_assert_int_lt(now_ms() - t0, 2000);
    reap();
    fd = serve_str(GREETING CAPS_OK);
    ck_assert_int_eq(usc_qmp_connect_fd(fd, 2000, &q), 0);
    t0 = now_ms();
    ck_assert_int_eq(usc_qmp_execute(q, "query-status", NULL, NULL, 200),
                     -ETIMEDOUT);
    ck_assert_int_lt(now_ms() - t0, 2000);
    usc_qmp_close(q);
    reap();
}
END_TEST

START_TEST(client_sees_the_server_hang_up)
{
    struct usc_qmp *q;
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(write(sv[1], GREETING, strlen(GREETING)),
                     (ssize_t)strlen(GREETING));
    close(sv[1]);
    ck_assert_int_eq(usc_qmp_connect_fd(sv[0], 2000, &q), -ECONNRESET);
}
END_TEST

START_TEST(client_refuses_a_huge_line)
{
    size_t n = 2u << 20;
    char *script = malloc(n + sizeof(GREETING CAPS_OK));
    struct usc_qmp *q;
    int fd;

    ck_assert_ptr_nonnull(script);
    strcpy(script, GREETING CAPS_OK);
    memset(script + strlen(script), 'a', n);
    fd = serve(script, strlen(GREETING CAPS_OK) + n);
    ck_assert_int_eq(usc_qmp_connect_fd(fd, 2000, &q), 0);
    ck_assert_int_eq(usc_qmp_execute(q, "query-status", NULL, NULL, 5000),
                     -EPROTO);
    usc_qmp_close(q);
    reap();
    free(script);
}
END_TEST

START_TEST(client_checks_its_arguments)
{
    struct usc_qmp *q;
    json_t *arr = json_array();
    int fd = serve_str(GREETING CAPS_OK);

    ck_assert_int_eq(usc_qmp_connect_fd(fd, 2000, &q), 0);
    ck_assert_int_eq(usc_qmp_execute(q, "x", arr, NULL, 100), -EINVAL);
    ck_assert_int_eq(usc_qmp_execute(q, "", NULL, NULL, 100), -EINVAL);
    ck_assert_int_eq(usc_qmp_execute(q, "x", NULL, NULL, -1), -EINVAL);
    usc_qmp_close(q);
    json_decref(arr);
    reap();
}
END_TEST

START_TEST(client_knows_its_peer)
{
    struct usc_qmp *q;
    pid_t pid = 0;
    int fd = serve_str(GREETING CAPS_OK);

    ck_assert_int_eq(usc_qmp_connect_fd(fd, 2000, &q), 0);
    ck_assert_int_ge(usc_qmp_fd(q), 0);
    /* a socketpair's credentials are those of the process that made it */
    ck_assert_int_eq(usc_qmp_peer_pid(q, &pid), 0);
    ck_assert_int_eq(pid, getpid());
    usc_qmp_close(q);
    reap();
}
END_TEST

START_TEST(client_connect_without_a_listener)
{
    struct usc_qmp *q;
    char dir[] = "/tmp/check_qmp.XXXXXX", path[64], longpath[200];

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/qmp.sock", dir);
    ck_assert_int_eq(usc_qmp_connect(path, 200, &q), -ENOENT);
    rmdir(dir);
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    ck_assert_int_eq(usc_qmp_connect(longpath, 200, &q), -ENAMETOOLONG);
    usc_qmp_close(NULL);
}
END_TEST

static Suite *qmp_suite(void)
{
    Suite *s = suite_create("qmp");
    TCase *tc = tcase_create("parse");

    tcase_add_test(tc, parse_greeting);
    tcase_add_test(tc, parse_return_with_and_without_id);
    tcase_add_test(tc, parse_error);
    tcase_add_test(tc, parse_events);
    tcase_add_test(tc, parse_rejects_malformed_lines);
    tcase_add_test(tc, parse_rejects_a_nul_inside_the_line);
    tcase_add_test(tc, parse_survives_deep_nesting);
    tcase_add_test(tc, parse_bounds_the_line_length);
    suite_add_tcase(s, tc);

    tc = tcase_create("client");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, client_negotiates_and_runs_a_command);
    tcase_add_test(tc, client_queues_events_and_skips_stale_replies);
    tcase_add_test(tc, client_maps_error_replies);
    tcase_add_test(tc, client_reports_a_malformed_reply_without_hanging);
    tcase_add_test(tc, client_reports_a_malformed_capabilities_reply);
    tcase_add_test(tc, client_rejects_a_socket_that_is_not_qmp);
    tcase_add_test(tc, client_times_out_on_a_silent_server);
    tcase_add_test(tc, client_sees_the_server_hang_up);
    tcase_add_test(tc, client_refuses_a_huge_line);
    tcase_add_test(tc, client_checks_its_arguments);
    tcase_add_test(tc, client_knows_its_peer);
    tcase_add_test(tc, client_connect_without_a_listener);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(qmp_suite());

    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
