/* unitop's batch output and Prometheus endpoint against three demo guests. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../bench/bench_unitop_fleet.h"
#include "harness.h"

#define BOOT_MS TEST_BOOT_MS
#define OUT_MAX (1 << 20)

static const char *const demo[] = {"topx", "topy", "topz"};

static void boot_demo(void)
{
    test_boot_once("topx", 64, "scenario=work threads=2");
    test_boot_once("topy", 64, "scenario=idle");
    test_boot_once("topz", 64, "scenario=work threads=1");
}

/* unitop with (args...), its output in (out). Returns its status. */
static int unitop(char *out, size_t cap, const char *a1, const char *a2,
                  const char *a3, const char *a4, const char *a5,
                  const char *a6, const char *a7)
{
    char *argv[] = {(char *)test_env("USC_UNITOP"),
                    (char *)a1,
                    (char *)a2,
                    (char *)a3,
                    (char *)a4,
                    (char *)a5,
                    (char *)a6,
                    (char *)a7,
                    NULL};
    return test_run(argv, out, cap, 60000);
}

/* Wait until every demo agent is up: unirun --list says "yes". */
static int agents_up(void *arg)
{
    char out[8192];
    (void)arg;
    if (test_unirun_list(out, sizeof(out)) != 0)
        return 0;
    int n = 0;
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n"))
        n += strstr(l, " running ") && strstr(l, " yes") ? 1 : 0;
    return n >= 3;
}

START_TEST(test_json_two_iterations_advance)
{
    static char out[OUT_MAX];
    json_error_t jerr;

    boot_demo();
    ck_assert(test_wait_for(agents_up, NULL, BOOT_MS));
    int rc = unitop(out, sizeof(out), "-b", "-n", "2", "-d", "0.5",
                    "--format=json", NULL);
    ck_assert_msg(rc == 0, "unitop: %d: %s", rc, out);
    json_t *root = json_loads(out, 0, &jerr);
    ck_assert_msg(root, "not JSON: %s at line %d:\n%.2000s", jerr.text,
                  jerr.line, out);
    ck_assert(json_is_array(root));
    ck_assert_uint_eq(json_array_size(root), 2);
    json_t *first = json_array_get(root, 0), *second = json_array_get(root, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(first, "iteration")),
                     1);
    ck_assert_str_eq(
        json_string_value(json_object_get(first, "cpu_percent_of")),
        "one host core");
    for (int i = 0; i < 3; i++) {
        json_t *a = test_top_guest(first, demo[i]),
               *b = test_top_guest(second, demo[i]);
        ck_assert_msg(a && b, "%s missing", demo[i]);
        ck_assert_str_eq(json_string_value(json_object_get(a, "state")),
                         "running");
        ck_assert_str_eq(json_string_value(json_object_get(a, "hypervisor")),
                         "qemu");
        ck_assert_int_eq(json_integer_value(json_object_get(a, "vcpus")), 1);
        ck_assert_int_eq(json_integer_value(json_object_get(a, "memory_bytes")),
                         64 << 20);
        /* Real CPU% from the first output on: a baseline came before. */
        ck_assert_msg(json_is_real(json_object_get(a, "cpu_percent")),
                      "%s: no CPU%% in the first iteration", demo[i]);
        ck_assert(json_is_real(json_object_get(b, "cpu_percent")));
        ck_assert(json_is_integer(json_object_get(a, "threads")));
        ck_assert(
            json_is_real(json_object_get(a, "context_switches_per_second")));
        /* Figures advance between the two iterations. */
        json_int_t t1 = test_top_metric(a, "timer_ticks"),
                   t2 = test_top_metric(b, "timer_ticks");
        ck_assert_msg(t1 > 0 && t2 > t1, "%s: timer_ticks %lld then %lld",
                      demo[i], (long long)t1, (long long)t2);
        ck_assert_int_gt(
            json_integer_value(json_object_get(b, "context_switches_total")),
            json_integer_value(json_object_get(a, "context_switches_total")));
        json_t *vcpu = json_array_get(json_object_get(b, "vcpu_stats"), 0);
        ck_assert(json_is_integer(json_object_get(vcpu, "host_tid")));
        ck_assert(json_is_real(json_object_get(vcpu, "cpu_seconds")));
        /* The demo publishes no heap_used: unknown, not 0. */
        ck_assert(json_is_null(json_object_get(a, "heap_bytes")));
    }
    json_decref(root);
}
END_TEST

START_TEST(test_text_and_csv)
{
    static char out[OUT_MAX];

    boot_demo();
    ck_assert(test_wait_for(agents_up, NULL, BOOT_MS));
    int rc = unitop(out, sizeof(out), "-b", "-n", "1", "-d", "0.3", NULL, NULL);
    ck_assert_msg(rc == 0, "unitop: %d: %s", rc, out);
    ck_assert_ptr_nonnull(strstr(out, "NAME"));
    ck_assert_ptr_nonnull(strstr(out, "CPU%"));
    for (int i = 0; i < 3; i++) {
        char *l = strstr(out, demo[i]);
        ck_assert_msg(l, "%s not in:\n%s", demo[i], out);
        ck_assert_ptr_nonnull(strstr(l, " running "));
    }

    rc = unitop(out, sizeof(out), "-b", "-n", "1", "-d", "0.3", "--format",
                "csv");
    ck_assert_msg(rc == 0, "unitop: %d: %s", rc, out);
    ck_assert_int_eq(strncmp(out, "time,iteration,hypervisor,name,state,", 37),
                     0);
    for (int i = 0; i < 3; i++) {
        char want[32];
        snprintf(want, sizeof(want), ",qemu,\"%s\",\"running\",", demo[i]);
        ck_assert_msg(strstr(out, want), "%s not in:\n%s", want, out);
    }
}
END_TEST

START_TEST(test_bad_command_lines_give_one_line)
{
    char out[4096];

    ck_assert_int_eq(
        unitop(out, sizeof(out), "--help", NULL, NULL, NULL, NULL, NULL, NULL),
        0);
    ck_assert_ptr_nonnull(strstr(out, "Usage: unitop"));
    ck_assert_int_eq(unitop(out, sizeof(out), "--version", NULL, NULL, NULL,
                            NULL, NULL, NULL),
                     0);
    ck_assert_ptr_nonnull(strstr(out, "unitop (uniscope) "));
    const char *bad[][3] = {
        {"-d", "0", NULL},
        {"-n", "x", NULL},
        {"--format", "xml", NULL},
        {"--bogus", NULL, NULL},
        {"--prometheus", "nocolon", "-b"},
        {"-b", "extra", NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = unitop(out, sizeof(out), bad[i][0], bad[i][1], bad[i][2], NULL,
                        NULL, NULL, NULL);
        ck_assert_msg(rc == 1 || rc == 2, "%s: status %d", bad[i][0], rc);
        ck_assert_int_eq(strncmp(out, "unitop: ", 8), 0);
        ck_assert_msg(strchr(out, '\n') && !strchr(out, '\n')[1],
                      "not one line: %s", out);
    }
    /* No terminal and no -b: told so, not an ncurses abort. */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s </dev/null >/dev/null",
             test_env("USC_UNITOP"));
    char *sh[] = {"sh", "-c", cmd, NULL};
    ck_assert_int_eq(test_run(sh, out, sizeof(out), 10000), 2);
    ck_assert_ptr_nonnull(strstr(out, "unitop: terminal: "));
}
END_TEST

/* ---- Prometheus --------------------------------------------------------- */

/* A free TCP port on 127.0.0.1 (free when asked, as good as it gets). */
static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* Send (request) to 127.0.0.1:(port); the whole answer into (out). */
static int http(int port, const char *request, char *out, size_t cap)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct timeval tv = {5, 0};
    size_t len = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        write(fd, request, strlen(request)) != (ssize_t)strlen(request)) {
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t n = read(fd, out + len, cap - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    out[len] = '\0';
    close(fd);
    return 0;
}

struct scrape {
    int port;
    const char *want[6];
    char out[OUT_MAX];
};

static int scraped(void *arg)
{
    struct scrape *s = arg;
    if (http(s->port, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", s->out,
             sizeof(s->out)) != 0)
        return 0;
    for (int i = 0; s->want[i]; i++)
        if (!strstr(s->out, s->want[i]))
            return 0;
    return 1;
}

/*
 * An agent-only guest whose strings are hostile: escape sequences, quotes
 * and line feeds in its name, a metric's name and a thread's name.
 */
static void hostile_guest(void)
{
    struct fleet f;
    ck_assert_int_eq(fleet_make(&f, 1, "hostile"), 0);
    unsigned char *ram = f.ram[0];
    struct usc_control_block *cb = (void *)(ram + FLEET_CB);
    struct usc_metric *m = (void *)(ram + FLEET_METRICS);
    struct usc_thread *t = (void *)(ram + FLEET_THREADS);

    snprintf(m[0].name, sizeof(m[0].name), "\x1b[2J\"} 1\nevil");
    snprintf(m[1].name, sizeof(m[1].name), "latencyMs");
    snprintf(m[1].unit, sizeof(m[1].unit), "ms");
    snprintf(m[2].name, sizeof(m[2].name), "x:y_total");
    snprintf(t[0].name, sizeof(t[0].name), "\x1b[31mred\a");
    snprintf(cb->name, sizeof(cb->name), "\x1b]0;pwned\a");
    cb->checksum = usc_abi_checksum(cb, USC_CB_HEADER_SIZE);
    /* The folder stays for the run directory's teardown. */
    for (size_t i = 0; i < f.n; i++)
        munmap(f.ram[i], FLEET_RAM);
    free(f.names);
    free(f.ram);
}

START_TEST(test_prometheus_passes_promtool)
{
    static char out[OUT_MAX];
    char port_arg[32], file[512], cmd[1200];
    int port = free_port();

    boot_demo();
    hostile_guest();
    ck_assert(test_wait_for(agents_up, NULL, BOOT_MS));
    snprintf(port_arg, sizeof(port_arg), "127.0.0.1:%d", port);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        freopen("/dev/null", "r", stdin);
        freopen("/dev/null", "w", stdout);
        /* No -b and no terminal: unitop only serves. */
        execl(test_env("USC_UNITOP"), "unitop", "-d", "0.5", "--prometheus",
              port_arg, (char *)NULL);
        _exit(127);
    }
    struct scrape *s = calloc(1, sizeof(*s));
    *s = (struct scrape){
        port,
        {"200 OK", "uniscope_guest_info{guest=\"topx\"",
         "uniscope_vcpu_cpu_seconds_total{guest=\"topz\"",
         "uniscope_agent_timer_ticks_total{guest=\"topy\"",
         "uniscope_agent_latency_seconds_total{guest=\"hostile00000", NULL},
        ""};
    ck_assert_msg(test_wait_for(scraped, s, BOOT_MS), "last scrape:\n%s",
                  strstr(s->out, "uniscope_agent")
                      ? strstr(s->out, "uniscope_agent")
                      : s->out);
    ck_assert_ptr_nonnull(strstr(s->out, "text/plain; version=0.0.4"));
    ck_assert_ptr_null(strchr(s->out, 0x1b));
    ck_assert_ptr_null(strstr(s->out, "evil\""));
    char *body = strstr(s->out, "\r\n\r\n") + 4;
    snprintf(file, sizeof(file), "%s/metrics.txt", getenv("UNISCOPE_RUNDIR"));
    FILE *fp = fopen(file, "w");
    ck_assert_ptr_nonnull(fp);
    fputs(body, fp);
    fclose(fp);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", file);
    char *sh[] = {"sh", "-c", cmd, NULL};
    int rc = test_run(sh, out, sizeof(out), 30000);
    ck_assert_msg(rc == 0, "promtool: %d: %s\non:\n%.4000s", rc, out, body);
    unlink(file);

    ck_assert_int_eq(
        http(port, "GET /other HTTP/1.1\r\n\r\n", out, sizeof(out)), 0);
    ck_assert_ptr_nonnull(strstr(out, "404"));
    ck_assert_int_eq(
        http(port, "POST /metrics HTTP/1.1\r\n\r\n", out, sizeof(out)), 0);
    ck_assert_ptr_nonnull(strstr(out, "405"));
    ck_assert_int_eq(http(port, "garbage\r\n\r\n", out, sizeof(out)), 0);
    ck_assert_ptr_nonnull(strstr(out, "400"));

    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    /* The same hostile strings in batch text: no escape reaches it. */
    rc = unitop(out, sizeof(out), "-b", "-n", "1", "-d", "0.3", NULL, NULL);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(strstr(out, "hostile00000"));
    ck_assert_ptr_null(strchr(out, 0x1b));
    ck_assert_ptr_null(strchr(out, '\a'));
    free(s);
}
END_TEST

/* ---- the real Prometheus server scraping unitop ------------------------ */

struct prom_query {
    int port;        /* Prometheus' own */
    const char *url; /* path and query string, URL-encoded */
    int positive;    /* each demo guest's value must be above zero */
    char out[OUT_MAX];
};

/* Every demo guest in the result of a query of the HTTP API, answered in
 * (q->out), with a value above zero if (q->positive). */
static int prom_has_every_guest(void *arg)
{
    struct prom_query *q = arg;
    char req[512];
    json_error_t jerr;
    int found = 0;

    /* HTTP/1.0: one answer, no chunks, then the server closes */
    snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: t\r\n\r\n", q->url);
    if (http(q->port, req, q->out, sizeof(q->out)) != 0)
        return 0;
    const char *body = strstr(q->out, "\r\n\r\n");
    json_t *root = body ? json_loads(body + 4, 0, &jerr) : NULL;
    json_t *result = json_object_get(json_object_get(root, "data"), "result");
    for (size_t g = 0; g < 3; g++) {
        for (size_t i = 0; i < json_array_size(result); i++) {
            json_t *r = json_array_get(result, i);
            const char *name = json_string_value(
                json_object_get(json_object_get(r, "metric"), "guest"));
            const char *v = json_string_value(
                json_array_get(json_object_get(r, "value"), 1));
            if (name && v && strcmp(name, demo[g]) == 0 &&
                (!q->positive || strtod(v, NULL) > 0)) {
                found++;
                break;
            }
        }
    }
    json_decref(root);
    return found == 3;
}

static pid_t spawn_quiet(char *const argv[])
{
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        freopen("/dev/null", "r", stdin);
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void stop_child(pid_t pid)
{
    int st;

    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
}

START_TEST(test_prometheus_server_scrapes_every_guest)
{
    char top_arg[32], web_arg[64], cfg_arg[700], tsdb_arg[600], dir[512];
    char cfg[600];
    int top_port = free_port(), web_port = free_port();
    struct prom_query *q = calloc(1, sizeof(*q));

    boot_demo();
    ck_assert(test_wait_for(agents_up, NULL, BOOT_MS));
    snprintf(top_arg, sizeof(top_arg), "127.0.0.1:%d", top_port);
    char *top[] = {(char *)test_env("USC_UNITOP"),
                   "-d",
                   "0.5",
                   "--prometheus",
                   top_arg,
                   NULL};
    pid_t unitop_pid = spawn_quiet(top);

    /* the scrape configuration docs/unitop.md shows, at a 1 s interval */
    snprintf(dir, sizeof(dir), "%s/prometheus", getenv("UNISCOPE_RUNDIR"));
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    snprintf(cfg, sizeof(cfg), "%s/prometheus.yml", dir);
    FILE *fp = fopen(cfg, "w");
    ck_assert_ptr_nonnull(fp);
    fprintf(fp,
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: uniscope\n"
            "    static_configs:\n      - targets: ['127.0.0.1:%d']\n",
            top_port);
    fclose(fp);
    snprintf(cfg_arg, sizeof(cfg_arg), "--config.file=%s", cfg);
    snprintf(tsdb_arg, sizeof(tsdb_arg), "--storage.tsdb.path=%s/data", dir);
    snprintf(web_arg, sizeof(web_arg), "--web.listen-address=127.0.0.1:%d",
             web_port);
    char *prom[] = {"prometheus", cfg_arg, tsdb_arg, web_arg, NULL};
    pid_t prom_pid = spawn_quiet(prom);

    q->port = web_port;
    q->url = "/api/v1/query?query=uniscope_guest_info";
    ck_assert_msg(test_wait_for(prom_has_every_guest, q, 2 * BOOT_MS),
                  "uniscope_guest_info, last answer:\n%.4000s", q->out);
    /* a counter's rate needs two scrapes in its window: waited for too */
    q->url = "/api/v1/query?query="
             "rate%28uniscope_agent_timer_ticks_total%5B10s%5D%29";
    q->positive = 1;
    ck_assert_msg(test_wait_for(prom_has_every_guest, q, 2 * BOOT_MS),
                  "rate(timer_ticks), last answer:\n%.4000s", q->out);

    stop_child(prom_pid);
    stop_child(unitop_pid);
    free(q);
}
END_TEST

int main(void)
{
    TCase *tc;
    Suite *s = test_suite("unitop_batch", "batch", 120, &tc);
    tcase_add_unchecked_fixture(tc, test_rundir_fixture_setup,
                                test_rundir_teardown);
    tcase_add_test(tc, test_bad_command_lines_give_one_line);
    tcase_add_test(tc, test_json_two_iterations_advance);
    tcase_add_test(tc, test_text_and_csv);
    tcase_add_test(tc, test_prometheus_passes_promtool);
    tcase_add_test(tc, test_prometheus_server_scrapes_every_guest);
    return test_run_suite(s);
}
