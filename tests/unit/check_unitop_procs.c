/* unitop's VMM-process rows, over real child processes holding an agent. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../bench/bench_proc_fleet.h"
#include "fdio.h"
#include "unitop.h"

static struct proc_fleet fl;
static struct top_fleet f;
static char rundir[] = "/tmp/check_unitop_procs-XXXXXX";

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(rundir));
    setenv("UNISCOPE_RUNDIR", rundir, 1);
    unsetenv("UNISCOPE_VMM_SCAN");
    ck_assert_int_eq(top_fleet_init(&f), 0);
    f.xen_off = 1;
}

static void teardown(void)
{
    top_fleet_fini(&f, 0);
    proc_fleet_stop(&fl);
    rmdir(rundir);
}

/* (pid)'s row, or NULL; fails the test on two. */
static struct top_guest *row(int pid)
{
    struct top_guest *found = NULL;

    for (size_t i = 0; i < f.n; i++) {
        if (f.g[i]->kind == TOP_KIND_PROC && f.g[i]->proc.pid == pid) {
            ck_assert_ptr_null(found);
            found = f.g[i];
        }
    }
    return found;
}

START_TEST(vmm_processes_are_rows_with_their_agents)
{
    int64_t now = usc_now_ms();
    struct top_guest *g;
    char target[32];

    ck_assert_int_eq(proc_fleet_start(&fl, 2, PROC_FLEET_COMM, PROC_FLEET_LIVE),
                     0);
    ck_assert_int_eq(top_fleet_refresh(&f, now), 0);
    g = row(fl.pids[0]);
    ck_assert_ptr_nonnull(g);
    ck_assert_str_eq(top_guest_hypervisor(g), "solo5-hvt");
    ck_assert_str_eq(top_guest_kind(g), "pid");
    ck_assert_int_eq(top_guest_target(g, target, sizeof(target)), 0);
    ck_assert_int_eq(strncmp(target, "pid:", 4), 0);
    ck_assert_str_eq(g->name, target);
    ck_assert_int_eq(g->state, TOP_STATE_RUNNING);
    ck_assert(g->ag.valid);
    ck_assert_str_eq(g->ag.name, PROC_FLEET_COMM);
    ck_assert_int_eq(top_guest_mem_bytes(g), PROC_FLEET_AREA);
    ck_assert_int_eq(top_guest_vcpus(g), 1);
    /* a second refresh: rates, and the mirror serves the reads */
    ck_assert_int_eq(top_fleet_refresh(&f, now + 500), 0);
    g = row(fl.pids[0]);
    ck_assert(g->ag.valid);
    ck_assert(!isnan(g->hv->cpu_pct));
    ck_assert_ptr_nonnull(g->ag.mirror);
    ck_assert_uint_gt(usc_physmirror_bytes(g->ag.mirror), 0);
    ck_assert_ptr_nonnull(row(fl.pids[1]));
    /* pause: no stub known to unitop, said so */
    ck_assert_int_eq(top_fleet_act(&f, g, TOP_JOB_PAUSE), -ENOTSUP);
    ck_assert_ptr_nonnull(strstr(f.msg, "gdb stub"));
}
END_TEST

START_TEST(a_vmm_that_exits_is_dead_then_gone)
{
    int64_t now = usc_now_ms();
    struct top_guest *g;

    ck_assert_int_eq(proc_fleet_start(&fl, 1, PROC_FLEET_COMM, PROC_FLEET_LIVE),
                     0);
    ck_assert_int_eq(top_fleet_refresh(&f, now), 0);
    ck_assert_ptr_nonnull(row(fl.pids[0]));
    int pid = fl.pids[0];
    proc_fleet_kill(&fl, 0);
    ck_assert_int_eq(top_fleet_refresh(&f, now + 100), 0);
    g = row(pid);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(g->state, TOP_STATE_DEAD);
    ck_assert(!g->ag.valid);
    ck_assert_int_eq(top_fleet_refresh(&f, now + 200 + TOP_PROC_DEAD_KEEP_MS),
                     0);
    ck_assert_ptr_null(row(pid));
}
END_TEST

START_TEST(a_stopped_vmm_is_stalled)
{
    int64_t now = usc_now_ms();

    ck_assert_int_eq(proc_fleet_start(&fl, 1, PROC_FLEET_COMM, PROC_FLEET_LIVE),
                     0);
    ck_assert_int_eq(kill(fl.pids[0], SIGSTOP), 0);
    /* the kernel says it is stopped once it is */
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(top_fleet_refresh(&f, now + i), 0);
        if (row(fl.pids[0]) && row(fl.pids[0])->state == TOP_STATE_STALLED)
            break;
        poll(NULL, 0, 10);
    }
    ck_assert_int_eq(row(fl.pids[0])->state, TOP_STATE_STALLED);
    kill(fl.pids[0], SIGCONT);
}
END_TEST

START_TEST(others_are_not_rows_and_an_agentless_vmm_has_host_figures)
{
    struct proc_fleet other;
    int64_t now = usc_now_ms();
    struct top_guest *g;

    ck_assert_int_eq(proc_fleet_start(&other, 1, "sleeper", PROC_FLEET_LIVE),
                     0);
    ck_assert_int_eq(proc_fleet_start(&fl, 1, PROC_FLEET_COMM, PROC_FLEET_NONE),
                     0);
    ck_assert_int_eq(top_fleet_refresh(&f, now), 0);
    ck_assert_ptr_null(row(other.pids[0]));
    g = row(fl.pids[0]);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(g->state, TOP_STATE_RUNNING);
    ck_assert(!g->ag.valid);
    ck_assert_int_eq(g->proc.open_err, -ENOENT);
    ck_assert_int_eq(top_guest_mem_bytes(g), -1);
    /* not asked again at once: the open backs off */
    int64_t retry = g->proc.retry_ms;
    ck_assert_int_gt(retry, now);
    ck_assert_int_eq(top_fleet_refresh(&f, now + 1), 0);
    ck_assert_int_eq(row(fl.pids[0])->proc.retry_ms, retry);
    proc_fleet_stop(&other);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("unitop_procs");
    TCase *tc = tcase_create("procs");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, vmm_processes_are_rows_with_their_agents);
    tcase_add_test(tc, a_vmm_that_exits_is_dead_then_gone);
    tcase_add_test(tc, a_stopped_vmm_is_stalled);
    tcase_add_test(tc,
                   others_are_not_rows_and_an_agentless_vmm_has_host_figures);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
