/* unitop over 1000 agent-only guests, some of which die or go corrupt. */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../bench/bench_unitop_fleet.h"
#include "harness.h"
#include "rundir.h"

#define GUESTS 1000
#define WAIT_MS 30000
#define CUT 5      /* its RAM file is cut to nothing under unitop */
#define BAD_LIVE 6 /* a live count beyond its table */
#define BAD_HEAD 7 /* a header that no longer checks */

/* The guests' clock, in a process of its own, as running guests have. */
static pid_t start_ticker(struct fleet *f)
{
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* The file the test cuts short would fault us. */
        munmap(f->ram[CUT], FLEET_RAM);
        f->ram[CUT] = NULL;
        for (;;) {
            fleet_advance(f);
            poll(NULL, 0, 100);
        }
    }
    ck_assert_int_gt(pid, 0);
    return pid;
}

/* unitop -b in JSON, every 0.5 s until SIGTERM, into (path). */
static pid_t start_unitop(const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
            _exit(127);
        execl(test_env("USC_UNITOP"), "unitop", "-b", "-d", "0.5", "--format",
              "json", (char *)NULL);
        _exit(127);
    }
    ck_assert_int_gt(pid, 0);
    return pid;
}

/* The newest complete iteration written to the output so far. */
struct latest {
    const char *path;
    off_t seen;     /* file size at the last parse */
    json_t *last;   /* the newest iteration parsed */
    int iterations; /* complete ones */
};

static void reread(struct latest *l)
{
    struct stat st;
    if (stat(l->path, &st) != 0 || st.st_size == l->seen)
        return;
    l->seen = st.st_size;
    FILE *fp = fopen(l->path, "r");
    ck_assert_ptr_nonnull(fp);
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = fread(buf, 1, (size_t)st.st_size, fp);
    fclose(fp);
    buf[n] = '\0';
    /* One iteration per line: "[", "{...}," ... "{...}", "]". */
    l->iterations = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        size_t len = strlen(line);
        if (len && line[len - 1] == ',')
            line[--len] = '\0';
        json_t *it = json_loadb(line, len, 0, NULL);
        if (!json_is_object(it)) {
            json_decref(it);
            continue;
        }
        json_decref(l->last);
        l->last = it;
        l->iterations++;
    }
    free(buf);
}

static const char *state_of(json_t *iteration, size_t i)
{
    json_t *g = json_array_get(json_object_get(iteration, "guests"), i);
    return json_string_value(json_object_get(g, "state"));
}

/* Every guest listed, running, with rates, past the first iteration. */
static int all_running(void *arg)
{
    struct latest *l = arg;
    reread(l);
    if (l->iterations < 2)
        return 0;
    json_t *gs = json_object_get(l->last, "guests");
    if (json_array_size(gs) != GUESTS)
        return 0;
    for (size_t i = 0; i < GUESTS; i++) {
        json_t *g = json_array_get(gs, i);
        if (strcmp(state_of(l->last, i), "running") ||
            !json_is_real(json_object_get(g, "context_switches_per_second")))
            return 0;
    }
    return 1;
}

static int broken_show(void *arg)
{
    struct latest *l = arg;
    reread(l);
    if (!l->last ||
        json_array_size(json_object_get(l->last, "guests")) != GUESTS)
        return 0;
    for (size_t i = 0; i < GUESTS; i++) {
        const char *want = i == CUT                         ? "dead"
                           : i == BAD_LIVE || i == BAD_HEAD ? "corrupt"
                                                            : "running";
        if (strcmp(state_of(l->last, i), want))
            return 0;
    }
    return 1;
}

START_TEST(test_thousand_guests_some_broken)
{
    struct fleet f;
    char out[600], path[512];
    ck_assert_int_eq(fleet_make(&f, GUESTS, "scale"), 0);
    pid_t ticker = start_ticker(&f);
    snprintf(out, sizeof(out), "/tmp/usc-unitop-scale-%d.json", (int)getpid());
    pid_t top = start_unitop(out);

    struct latest l = {out, -1, NULL, 0};
    ck_assert_msg(test_wait_for(all_running, &l, WAIT_MS),
                  "never all %d running after %d iterations", GUESTS,
                  l.iterations);
    json_t *g0 = json_array_get(json_object_get(l.last, "guests"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(g0, "kind")),
                     "agent-only");
    ck_assert_str_eq(json_string_value(json_object_get(g0, "name")),
                     "scale00000");
    ck_assert(json_is_null(json_object_get(g0, "cpu_percent")));
    ck_assert_int_eq(json_integer_value(json_object_get(g0, "threads")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(g0, "heap_bytes")),
                     1 << 20);

    /* One guest's RAM file cut to nothing: unitop's mapping faults. */
    ck_assert_int_eq(
        usc_rundir_guest_path(f.names[CUT], USC_RUNDIR_MEM, path, sizeof(path)),
        0);
    ck_assert_int_eq(truncate(path, 0), 0);
    /* One with a live count beyond its table, one with a bad header. */
    struct usc_control_block *live = (void *)(f.ram[BAD_LIVE] + FLEET_CB);
    __atomic_store_n(&live->metrics_count, 1000u, __ATOMIC_RELEASE);
    struct usc_control_block *head = (void *)(f.ram[BAD_HEAD] + FLEET_CB);
    head->name[0] ^= 1;
    ck_assert_msg(test_wait_for(broken_show, &l, WAIT_MS),
                  "states never dead/corrupt/running as expected");

    /* Still running: SIGTERM ends it well, its JSON closed. */
    ck_assert_int_eq(kill(top, SIGTERM), 0);
    int st;
    ck_assert_int_eq(waitpid(top, &st, 0), top);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
    json_error_t jerr;
    json_t *all = json_load_file(out, 0, &jerr);
    ck_assert_msg(json_is_array(all), "output not one JSON array: %s",
                  jerr.text);
    ck_assert_uint_ge(json_array_size(all), 3);
    json_decref(all);
    json_decref(l.last);
    unlink(out);

    kill(ticker, SIGKILL);
    waitpid(ticker, NULL, 0);
    fleet_destroy(&f);
}
END_TEST

int main(void)
{
    TCase *tc;
    Suite *s = test_suite("unitop_scale", "scale", 120, &tc);
    tcase_add_unchecked_fixture(tc, test_rundir_fixture_setup,
                                test_rundir_teardown);
    tcase_add_test(tc, test_thousand_guests_some_broken);
    return test_run_suite(s);
}
