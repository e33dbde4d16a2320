/* Boots the demo kernel under QEMU TCG and reads its agent from the RAM file.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_reader.h"
#include "harness.h"
#include "physmem.h"

#define BOOT_MS TEST_BOOT_MS

struct live {
    struct test_guest g;
    struct usc_ramfile *rf;
    struct usc_agent *agent;
};

static int agent_opens(void *arg)
{
    struct live *l = arg;
    return usc_agent_open(usc_ramfile_physmem(l->rf), USC_AGENT_SCAN,
                          &l->agent) == 0;
}

/* Boot (append) and wait for the agent to be found in the RAM file. */
static void boot_and_find(struct live *l, const char *append)
{
    memset(l, 0, sizeof(*l));
    int rc = test_guest_boot(&l->g, test_env("USC_DEMOKERNEL"), append, 64);
    ck_assert_msg(rc == 0, "boot: %s", strerror(-rc));
    rc = usc_ramfile_open(l->g.mem_path, &l->rf);
    ck_assert_msg(rc == 0, "ram file: %s", strerror(-rc));
    ck_assert_msg(test_wait_for(agent_opens, l, BOOT_MS),
                  "agent not found in guest RAM");
}

static void finish(struct live *l)
{
    usc_agent_close(l->agent);
    usc_ramfile_close(l->rf);
    test_guest_stop(&l->g);
}

static int find_metric(struct live *l, const char *name, uint64_t *value)
{
    struct usc_agent_metric m[128];
    size_t n = 0;
    if (usc_agent_metrics(l->agent, m, 128, &n) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].name, name) == 0) {
            *value = m[i].value;
            return 1;
        }
    return 0;
}

struct metric_wait {
    struct live *l;
    const char *name;
    uint64_t above;
};

static int metric_above(void *arg)
{
    struct metric_wait *w = arg;
    uint64_t v;
    return find_metric(w->l, w->name, &v) && v > w->above;
}

/* Wait until metric (name) exists and then until it has advanced. */
static void assert_metric_advances(struct live *l, const char *name)
{
    struct metric_wait w = {l, name, 0};
    ck_assert_msg(test_wait_for(metric_above, &w, BOOT_MS),
                  "metric %s never appeared or stayed 0", name);
    ck_assert(find_metric(l, name, &w.above));
    ck_assert_msg(test_wait_for(metric_above, &w, BOOT_MS),
                  "metric %s stuck at %llu", name, (unsigned long long)w.above);
}

struct thread_wait {
    struct live *l;
    const char *names[8];
    struct usc_agent_thread found[8];
};

static int threads_listed(void *arg)
{
    struct thread_wait *w = arg;
    struct usc_agent_thread t[64];
    size_t n = 0;
    if (usc_agent_threads(w->l->agent, t, 64, &n) != 0)
        return 0;
    for (int k = 0; w->names[k]; k++) {
        size_t i = 0;
        while (i < n && strcmp(t[i].name, w->names[k]) != 0)
            i++;
        if (i == n)
            return 0;
        w->found[k] = t[i];
    }
    return 1;
}

struct log_wait {
    struct live *l;
    const char *needle;
    char buf[16384 + 1];
};

static int log_contains(void *arg)
{
    struct log_wait *w = arg;
    size_t len = 0;
    if (usc_agent_log(w->l->agent, w->buf, sizeof(w->buf) - 1, &len, NULL))
        return 0;
    w->buf[len] = 0;
    return strstr(w->buf, w->needle) != NULL;
}

START_TEST(test_work_guest_seen_from_host)
{
    struct live l;
    boot_and_find(&l, "scenario=work threads=3 name=itest-work");

    const struct usc_control_block *h = usc_agent_header(l.agent);
    ck_assert_str_eq(h->name, "itest-work");
    ck_assert_uint_eq(h->build_id_len, 20);
    ck_assert_uint_gt(h->ts_hz, 0);

    /* The agent was visible soon after the kernel's entry (about 10 ms on
     * a quiet machine; bounded loosely, TCG on a loaded one is slow). The
     * kernel registers this metric just after the agent is up: wait. */
    uint64_t start_us = 0;
    struct metric_wait mw = {&l, "agent_start_us", 0};
    ck_assert_msg(test_wait_for(metric_above, &mw, BOOT_MS),
                  "agent_start_us never published");
    ck_assert(find_metric(&l, "agent_start_us", &start_us));
    ck_assert_int_ge((int64_t)start_us, 0);
    ck_assert_int_le((int64_t)start_us, 1000000);

    assert_metric_advances(&l, "work_items");
    assert_metric_advances(&l, "timer_ticks");

    struct thread_wait tw = {
        .l = &l, .names = {"worker-0", "worker-1", "worker-2", NULL}};
    ck_assert_msg(test_wait_for(threads_listed, &tw, BOOT_MS),
                  "thread table lacks worker-0..2");

    /* The log ring holds what the console printed. */
    struct log_wait *lw = calloc(1, sizeof(*lw));
    lw->l = &l;
    lw->needle = "worker-2";
    ck_assert_msg(test_wait_for(log_contains, lw, BOOT_MS),
                  "log ring never mentioned worker-2");
    char *console = malloc(1 << 20);
    size_t clen = test_guest_console(&l.g, console, 1 << 20);
    size_t llen = strlen(lw->buf);
    ck_assert_uint_gt(llen, 64);
    char chunk[65];
    memcpy(chunk, lw->buf + llen / 2 - 32, 64);
    chunk[64] = 0;
    ck_assert_uint_gt(clen, 0);
    ck_assert_msg(strstr(console, chunk), "log text not on the console: %s",
                  chunk);

    struct usc_agent_status st;
    ck_assert_int_eq(usc_agent_status(l.agent, &st), 0);
    ck_assert_uint_eq(st.state, USC_STATE_RUNNING);
    struct usc_panic p;
    ck_assert_int_eq(usc_agent_panic(l.agent, &p), -ENOENT);
    free(console);
    free(lw);
    finish(&l);
}
END_TEST

/* The agent sets PANICKED once the panic record is complete: wait for it. */
static int panicked(void *arg)
{
    struct live *l = arg;
    struct usc_agent_status st;
    return usc_agent_status(l->agent, &st) == 0 &&
           st.state == USC_STATE_PANICKED;
}

START_TEST(test_crash_fills_panic_record)
{
    struct live l;
    boot_and_find(&l, "scenario=crash threads=2");
    ck_assert_msg(test_wait_for(panicked, &l, BOOT_MS), "no panic recorded");

    struct usc_panic p;
    ck_assert_int_eq(usc_agent_panic(l.agent, &p), 0);
    ck_assert_uint_eq(p.vector, 14);
    ck_assert_uint_eq(p.cr2, 0xdeadbeef);
    ck_assert_uint_eq(p.regs.cr2, 0xdeadbeef);
    ck_assert_uint_ne(p.regs.rip, 0);
    ck_assert_uint_ne(p.regs.cr3, 0);
    ck_assert_ptr_nonnull(strstr(p.reason, "page fault"));

    struct usc_agent_status st;
    ck_assert_int_eq(usc_agent_status(l.agent, &st), 0);
    ck_assert_uint_eq(st.state, USC_STATE_PANICKED);

    /* The panicking thread is the scenario's crasher. */
    struct thread_wait tw = {.l = &l, .names = {"crasher", NULL}};
    ck_assert(threads_listed(&tw));
    ck_assert_uint_eq(tw.found[0].id, p.thread_id);

    struct log_wait *lw = calloc(1, sizeof(*lw));
    lw->l = &l;
    lw->needle = "PANIC";
    ck_assert(log_contains(lw));
    free(lw);
    finish(&l);
}
END_TEST

static int spinner_running(void *arg)
{
    struct thread_wait *w = arg;
    return threads_listed(w) && w->found[0].state == USC_THREAD_RUNNING;
}

START_TEST(test_hang_spinner_runs_and_timer_ticks)
{
    struct live l;
    boot_and_find(&l, "scenario=hang threads=1");
    struct thread_wait tw = {.l = &l, .names = {"spinner", NULL}};
    ck_assert_msg(test_wait_for(spinner_running, &tw, BOOT_MS),
                  "spinner never seen running");
    /* It never yields again, yet the timer interrupt keeps ticking. */
    assert_metric_advances(&l, "timer_ticks");
    ck_assert(threads_listed(&tw));
    ck_assert_uint_eq(tw.found[0].state, USC_THREAD_RUNNING);
    finish(&l);
}
END_TEST

int main(void)
{
    TCase *tc;
    Suite *s = test_suite("agent_live", "qemu", 120, &tc);
    tcase_add_test(tc, test_work_guest_seen_from_host);
    tcase_add_test(tc, test_crash_fills_panic_record);
    tcase_add_test(tc, test_hang_spinner_runs_and_timer_ticks);
    return test_run_suite(s);
}
