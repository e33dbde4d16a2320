/* unitop's main loop: refresh on a clock, serve scrapes, draw, answer keys. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "unitop.h"

#define POLL_MAX 64
/* How long quitting waits for a hung QEMU's worker, and for traces. */
#define QUIT_JOBS_MS 300
#define QUIT_CHILDREN_MS 5000

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
    stop_signal = sig;
}

static void catch_stops(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: poll must return at once. */
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
}

/* Everything one run of unitop holds. */
struct app {
    const struct top_opts *o;
    struct top_fleet f;
    struct top_http *http;
    struct top_ui *ui;
    struct top_actions *acts;
    struct top_batch batch;
    int printed; /* batch iterations written */
    int ready;   /* the first figures with rates are in */
    int dirty;   /* the screen needs drawing */
    int out_due; /* a refresh waits for its jobs before it is shown */
    int64_t tick_at;
};

/* Refuse a run directory that is not ours before taking the terminal. */
static int check_rundir(void)
{
    char path[PATH_MAX] = "run directory";
    int err = usc_rundir_check(0);

    if (!err || err == -ENOENT)
        return 0;
    usc_rundir_path(path, sizeof(path));
    top_error(path, "%s",
              err == -EPERM ? "not owned by us or open to others (needs 0700)"
                            : strerror(-err));
    return TOP_EXIT_FAIL;
}

static int open_parts(struct app *a, int live)
{
    int err;

    err = top_fleet_init(&a->f);
    if (err) {
        top_error("start", "%s", strerror(-err));
        return TOP_EXIT_FAIL;
    }
    if (a->o->prometheus) {
        err = top_http_open(a->o->prometheus, &a->http);
        if (err) {
            top_error(a->o->prometheus, "%s",
                      err == -EINVAL ? "not HOST:PORT" : strerror(-err));
            return TOP_EXIT_FAIL;
        }
    }
    if (live) {
        err = top_actions_new(&a->acts);
        if (!err)
            err = top_ui_open(&a->ui, a->o->delay_ms);
        if (err) {
            top_error("terminal", "%s", strerror(-err));
            return TOP_EXIT_FAIL;
        }
    }
    return 0;
}

/* Guests whose job runs late turn stalled without waiting for a refresh. */
static void watch_stalls(struct app *a, int64_t now)
{
    if (a->f.jobs_out == 0)
        return;
    for (size_t i = 0; i < a->f.n; i++) {
        struct top_guest *g = a->f.g[i];
        enum top_state before = g->state;

        if (g->hv && g->hv->busy) {
            top_fleet_state(g, now);
            a->dirty |= g->state != before;
        }
    }
}

/* Show the refresh: its jobs are in, or the ones left are late. */
static int show(struct app *a, int64_t now)
{
    int wait = a->o->delay_ms < TOP_STALL_MS ? a->o->delay_ms : TOP_STALL_MS;

    if (!a->out_due || (a->f.tick_jobs > 0 && now - a->tick_at < wait))
        return 0;
    a->out_due = 0;
    a->ready = 1;
    for (size_t i = 0; i < a->f.n; i++)
        top_fleet_state(a->f.g[i], now);
    a->dirty = 1;
    if (a->o->batch) {
        if (top_batch_emit(&a->batch, &a->f, a->o->delay_ms) != 0)
            return -EIO;
        a->printed++;
    }
    return 0;
}

static int next_timeout(const struct app *a, int64_t now, int64_t next_tick)
{
    int64_t t = next_tick - now;
    int wait = a->o->delay_ms < TOP_STALL_MS ? a->o->delay_ms : TOP_STALL_MS;

    if (a->out_due && a->tick_at + wait - now < t)
        t = a->tick_at + wait - now;
    if (a->acts && top_actions_running(a->acts) && t > 200)
        t = 200;
    if (a->ui && a->f.jobs_out && t > 250)
        t = 250;
    return t < 0 ? 0 : (int)t;
}

static int loop(struct app *a)
{
    int64_t now = usc_now_ms(), next_tick;
    int first = a->o->delay_ms < TOP_FIRST_MS ? a->o->delay_ms : TOP_FIRST_MS;

    /* A baseline first, so the first figures shown are rates already. */
    top_fleet_refresh(&a->f, now);
    next_tick = now + first;
    while (!stop_signal) {
        struct pollfd fds[POLL_MAX];
        int n = 0, quit = 0;

        now = usc_now_ms();
        if (top_fleet_collect(&a->f, now))
            a->dirty = 1;
        if (now >= next_tick) {
            top_fleet_refresh(&a->f, now);
            a->out_due = 1;
            a->tick_at = now;
            next_tick += a->o->delay_ms;
            if (next_tick <= now)
                next_tick = now + a->o->delay_ms;
        }
        watch_stalls(a, now);
        if (show(a, now) != 0)
            return TOP_EXIT_FAIL;
        if (a->o->batch && a->o->iterations && a->printed >= a->o->iterations)
            break;
        if (a->ui && a->ready && a->dirty) {
            top_ui_draw(a->ui, &a->f);
            a->dirty = 0;
        }
        if (a->ui)
            fds[n++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
        fds[n++] =
            (struct pollfd){.fd = top_pool_fd(a->f.pool), .events = POLLIN};
        if (a->http)
            top_http_pollfds(a->http, fds, &n, POLL_MAX);
        if (a->acts)
            top_actions_pollfds(a->acts, fds, &n, POLL_MAX);
        if (poll(fds, (nfds_t)n, next_timeout(a, now, next_tick)) < 0 &&
            errno != EINTR)
            return TOP_EXIT_FAIL;
        now = usc_now_ms();
        if (a->http)
            top_http_serve(a->http, fds, n, &a->f, now);
        if (a->acts && top_actions_poll(a->acts, &a->f))
            a->dirty = 1;
        /* Keys are read after every wake: a resize interrupts poll. */
        if (a->ui && top_ui_keys(a->ui, &a->f, a->acts, &a->dirty))
            quit = 1;
        if (quit)
            break;
    }
    return 0;
}

int top_run(const struct top_opts *o)
{
    struct app *a = &(struct app){.o = o, .batch = {.format = o->format}};
    int tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    int live = !o->batch && tty, status;

    if (!o->batch && !tty && !o->prometheus) {
        top_error("terminal",
                  "the live view needs one (use -b for batch output)");
        return TOP_EXIT_USAGE;
    }
    status = check_rundir();
    if (status)
        return status;
    catch_stops();
    status = open_parts(a, live);
    if (!status)
        status = loop(a);
    top_ui_close(a->ui);
    if (o->batch && top_batch_end(&a->batch) != 0 && !status)
        status = TOP_EXIT_FAIL;
    top_http_close(a->http);
    top_actions_free(a->acts, &a->f, QUIT_CHILDREN_MS);
    top_fleet_fini(&a->f, QUIT_JOBS_MS);
    return status;
}
