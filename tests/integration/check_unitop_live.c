/* unitop's live view, driven in tmux against three demo guests. */
#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "rundir.h"

#define SCREEN_MS 20000
#define SCREEN_MAX 32768

static char sock[64]; /* our own tmux server: -L (sock) */

/* Run tmux on our server with the arguments after (out, cap). */
static int tmux(char *out, size_t cap, ...)
{
    const char *cmd[] = {"tmux", "-L", sock, "-f", "/dev/null", NULL};
    va_list ap;

    va_start(ap, cap);
    int rc = test_vrun(cmd, ap, out, cap, 10000);
    va_end(ap);
    return rc;
}

static void keys(const char *k)
{
    ck_assert_int_eq(tmux(NULL, 0, "send-keys", "-t", "top", k, NULL), 0);
}

static void capture(char *buf, size_t cap)
{
    ck_assert_int_eq(tmux(buf, cap, "capture-pane", "-p", "-t", "top", NULL),
                     0);
}

/* The screen line showing (name) as a row of the list, and its number. */
static int row_of(const char *screen, const char *name, char *line, size_t cap)
{
    size_t n = strlen(name);
    int no = 0;

    for (const char *l = screen; *l; no++) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);

        /* A row: a tag mark column, then the name and a space. */
        if (len > n + 1 && strncmp(l + 1, name, n) == 0 && l[n + 1] == ' ') {
            snprintf(line, cap, "%.*s", (int)len, l);
            return no;
        }
        if (!end)
            break;
        l = end + 1;
    }
    return -1;
}

struct screen_wait {
    const char *row;      /* a guest whose row must show... */
    const char *words[6]; /* ... these words, or the screen when row NULL */
    char screen[SCREEN_MAX];
};

static int screen_has(void *arg)
{
    struct screen_wait *w = arg;
    char line[512];

    capture(w->screen, sizeof(w->screen));
    if (w->row && row_of(w->screen, w->row, line, sizeof(line)) < 0)
        return 0;
    for (int i = 0; w->words[i]; i++)
        if (!strstr(w->row ? line : w->screen, w->words[i]))
            return 0;
    return 1;
}

static void wait_screen(struct screen_wait *w)
{
    ck_assert_msg(test_wait_for(screen_has, w, SCREEN_MS),
                  "screen never showed %s %s; it shows:\n%s",
                  w->row ? w->row : "", w->words[0], w->screen);
}

/* Rows a, b, c appear in this order on the screen. */
struct order_wait {
    const char *names[3];
    char screen[SCREEN_MAX];
};

static int in_order(void *arg)
{
    struct order_wait *w = arg;
    char line[512];

    capture(w->screen, sizeof(w->screen));
    int a = row_of(w->screen, w->names[0], line, sizeof(line));
    int b = row_of(w->screen, w->names[1], line, sizeof(line));
    int c = row_of(w->screen, w->names[2], line, sizeof(line));
    return a >= 0 && a < b && b < c;
}

static void wait_order(const char *a, const char *b, const char *c)
{
    struct order_wait w = {{a, b, c}, ""};
    ck_assert_msg(test_wait_for(in_order, &w, SCREEN_MS),
                  "rows never in order %s %s %s:\n%s", a, b, c, w.screen);
}

static int pane_alive(void)
{
    char out[64] = "";
    if (tmux(out, sizeof(out), "display-message", "-p", "-t", "top",
             "#{pane_dead}", NULL) != 0)
        return 0;
    return out[0] == '0';
}

static void start_unitop(void)
{
    char cmd[1024];

    snprintf(cmd, sizeof(cmd), "exec env UNISCOPE_RUNDIR=%s %s -d 0.5",
             getenv("UNISCOPE_RUNDIR"), test_env("USC_UNITOP"));
    /* A server a failed test left behind holds the session name. */
    tmux(NULL, 0, "kill-server", NULL);
    ck_assert_int_eq(tmux(NULL, 0, "new-session", "-d", "-s", "top", "-x",
                          "200", "-y", "40", cmd, NULL),
                     0);
    /* A crash leaves the pane (and its last screen) for us to see. */
    tmux(NULL, 0, "set-option", "-t", "top", "remain-on-exit", "on", NULL);
}

struct list_wait {
    const char *name, *word;
    char out[8192];
};

static int listed_as(void *arg)
{
    struct list_wait *w = arg;

    if (test_unirun_list(w->out, sizeof(w->out)) != 0)
        return 0;
    for (char *l = strtok(w->out, "\n"); l; l = strtok(NULL, "\n"))
        if (!strncmp(l, w->name, strlen(w->name)) &&
            l[strlen(w->name)] == ' ' && strstr(l, w->word))
            return 1;
    return 0;
}

START_TEST(test_rows_sort_details_and_pause)
{
    test_boot_once("topa", 64, "scenario=work threads=3");
    test_boot_once("topb", 64, "scenario=idle");
    test_boot_once("topc", 64, "scenario=work threads=1");
    start_unitop();

    /* Three rows, with their names and states. */
    struct screen_wait rows = {NULL, {"3 guests", NULL}, ""};
    wait_screen(&rows);
    const char *names[] = {"topa", "topb", "topc"};
    for (int i = 0; i < 3; i++) {
        struct screen_wait w = {names[i], {" running ", NULL}, ""};
        wait_screen(&w);
    }

    /* A sort key changes the order: by name, then inverted. */
    keys("N");
    wait_order("topa", "topb", "topc");
    keys("I");
    wait_order("topc", "topb", "topa");
    keys("I");
    wait_order("topa", "topb", "topc");

    /* Enter on topa (the first row) shows its agent's threads by name. */
    keys("Home");
    keys("Enter");
    struct screen_wait threads = {
        NULL, {"THREAD", "worker-0", "worker-2", "CONSOLE"}, ""};
    wait_screen(&threads);
    keys("Escape");
    struct screen_wait back = {"topa", {" running ", NULL}, ""};
    wait_screen(&back);

    /* F9, Pause: the state changes on screen and in unirun --list. */
    keys("Home");
    keys("F9");
    struct screen_wait menu = {NULL, {"Actions", "Pause", "Dump a core"}, ""};
    wait_screen(&menu);
    keys("Enter");
    struct screen_wait paused = {"topa", {" paused ", NULL}, ""};
    wait_screen(&paused);
    struct list_wait lw = {"topa", " paused ", ""};
    ck_assert_msg(test_wait_for(listed_as, &lw, SCREEN_MS), "--list: %s",
                  lw.out);
    struct screen_wait others = {"topb", {" running ", NULL}, ""};
    wait_screen(&others);

    /* F9, Resume brings it back. */
    keys("Home");
    keys("F9");
    wait_screen(&menu);
    keys("Down");
    keys("Enter");
    struct screen_wait resumed = {"topa", {" running ", NULL}, ""};
    wait_screen(&resumed);
    ck_assert(pane_alive());
}
END_TEST

START_TEST(test_stalled_and_killed_guests_show_and_unitop_runs_on)
{
    test_boot_once("topa", 64, "scenario=work threads=3");
    test_boot_once("topb", 64, "scenario=idle");
    test_boot_once("topc", 64, "scenario=work threads=1");
    start_unitop();
    struct screen_wait w = {"topc", {" running ", NULL}, ""};
    wait_screen(&w);

    /* A QEMU that stops answering: stalled, and the screen goes on. */
    struct usc_guest_info stalled;
    ck_assert_int_eq(usc_guest_info_read("topb", &stalled), 0);
    ck_assert_int_eq(kill((pid_t)stalled.pid, SIGSTOP), 0);
    struct screen_wait st = {"topb", {" stalled ", NULL}, ""};
    wait_screen(&st);
    keys("N");
    wait_order("topa", "topb", "topc");
    ck_assert_int_eq(kill((pid_t)stalled.pid, SIGCONT), 0);
    struct screen_wait again = {"topb", {" running ", NULL}, ""};
    wait_screen(&again);

    struct usc_guest_info gi;
    ck_assert_int_eq(usc_guest_info_read("topc", &gi), 0);
    ck_assert_int_eq(kill((pid_t)gi.pid, SIGKILL), 0);
    struct screen_wait dead = {"topc", {" dead ", NULL}, ""};
    wait_screen(&dead);

    /* Still alive and answering keys: the sort (by name) still works. */
    ck_assert(pane_alive());
    keys("I");
    wait_order("topc", "topb", "topa");
    keys("I");
    wait_order("topa", "topb", "topc");
    struct screen_wait still = {"topa", {" running ", NULL}, ""};
    wait_screen(&still);
    ck_assert(pane_alive());
    keys("q");
}
END_TEST

static void setup(void)
{
    test_rundir_fixture_setup();
    snprintf(sock, sizeof(sock), "usc-unitop-%d", (int)getpid());
}

/* Each test starts its own unitop: end the previous one's server. */
static void per_test_teardown(void)
{
    tmux(NULL, 0, "kill-server", NULL);
}

static void teardown(void)
{
    tmux(NULL, 0, "kill-server", NULL);
    test_rundir_teardown();
}

int main(void)
{
    TCase *tc;
    Suite *s = test_suite("unitop_live", "tmux", 120, &tc);
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_checked_fixture(tc, NULL, per_test_teardown);
    tcase_add_test(tc, test_rows_sort_details_and_pause);
    tcase_add_test(tc, test_stalled_and_killed_guests_show_and_unitop_runs_on);
    return test_run_suite(s);
}
