/* Unit tests of how unitop names a guest's state, and of its options. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unitop.h"

/* A stand-in for a mapped RAM file: only its being non-NULL matters. */
static struct usc_ramfile *const mapped = (struct usc_ramfile *)1;

static enum top_state agent_only(int valid, uint32_t st, int err, int ram_err)
{
    struct top_guest g = {.kind = TOP_KIND_AGENT_ONLY};

    g.ag.valid = valid;
    g.ag.st.state = st;
    g.ag.err = err;
    g.ag.ram_err = ram_err;
    g.ag.ram = ram_err ? NULL : mapped;
    top_fleet_state(&g, 0);
    return g.state;
}

START_TEST(agent_only_guests_take_their_agents_word)
{
    ck_assert_int_eq(agent_only(1, USC_STATE_RUNNING, 0, 0), TOP_STATE_RUNNING);
    ck_assert_int_eq(agent_only(1, USC_STATE_PANICKED, 0, 0),
                     TOP_STATE_PANICKED);
    ck_assert_int_eq(agent_only(1, USC_STATE_HALTED, 0, 0), TOP_STATE_HALTED);
    ck_assert_int_eq(agent_only(1, USC_STATE_BOOTING, 0, 0),
                     TOP_STATE_STARTING);
    ck_assert_int_eq(agent_only(0, 0, -ENOENT, 0), TOP_STATE_STARTING);
    ck_assert_int_eq(agent_only(0, 0, -EINVAL, 0), TOP_STATE_CORRUPT);
    ck_assert_int_eq(agent_only(0, 0, -EAGAIN, 0), TOP_STATE_CORRUPT);
    ck_assert_int_eq(agent_only(0, 0, -EPROTONOSUPPORT, 0), TOP_STATE_CORRUPT);
    /* RAM file gone, empty or cut short under us. */
    ck_assert_int_eq(agent_only(0, 0, -ENOENT, -ENOENT), TOP_STATE_DEAD);
    ck_assert_int_eq(agent_only(0, 0, -EFAULT, -EFAULT), TOP_STATE_DEAD);
}
END_TEST

static struct top_guest *qemu_guest(void)
{
    struct top_guest *g = calloc(1, sizeof(*g));

    g->kind = TOP_KIND_QEMU;
    g->hv = calloc(1, sizeof(*g->hv));
    g->hv->valid = 2;
    g->hv->cur.vm = USC_VM_RUNNING;
    g->ag.ram = mapped;
    g->ag.valid = 1;
    g->ag.st.state = USC_STATE_RUNNING;
    return g;
}

static enum top_state state_at(struct top_guest *g, int64_t now)
{
    top_fleet_state(g, now);
    return g->state;
}

START_TEST(qemu_guests_refined_by_agent_and_deadlines)
{
    struct top_guest *g = qemu_guest();

    ck_assert_int_eq(state_at(g, 0), TOP_STATE_RUNNING);
    g->ag.st.state = USC_STATE_PANICKED; /* QEMU sees a halted vCPU run */
    ck_assert_int_eq(state_at(g, 0), TOP_STATE_PANICKED);
    g->ag.valid = 0;
    g->ag.err = -EINVAL;
    ck_assert_int_eq(state_at(g, 0), TOP_STATE_CORRUPT);
    g->ag.err = -ENOENT; /* no agent (yet): QEMU's word stands */
    ck_assert_int_eq(state_at(g, 0), TOP_STATE_RUNNING);
    g->hv->cur.vm = USC_VM_PAUSED;
    ck_assert_int_eq(state_at(g, 0), TOP_STATE_PAUSED);
    g->hv->cur.vm = USC_VM_DEAD;
    ck_assert_int_eq(state_at(g, 0), TOP_STATE_DEAD);
    g->hv->cur.vm = USC_VM_RUNNING;
    /* A job out longer than the stall limit, or one that timed out. */
    g->hv->busy = 1;
    g->hv->job_ms = 1000;
    ck_assert_int_eq(state_at(g, 1000 + TOP_STALL_MS / 2), TOP_STATE_RUNNING);
    ck_assert_int_eq(state_at(g, 1000 + TOP_STALL_MS + 1), TOP_STATE_STALLED);
    g->hv->busy = 0;
    g->hv->err = -ETIMEDOUT;
    ck_assert_int_eq(state_at(g, 0), TOP_STATE_STALLED);
    g->hv->err = -EINPROGRESS;
    ck_assert_int_eq(state_at(g, 0), TOP_STATE_STARTING);
    g->hv->err = -EPROTO;
    ck_assert_int_eq(state_at(g, 0), TOP_STATE_UNKNOWN);
    free(g->hv);
    free(g);
}
END_TEST

START_TEST(state_names)
{
    ck_assert_str_eq(top_state_name(TOP_STATE_RUNNING), "running");
    ck_assert_str_eq(top_state_name(TOP_STATE_DEAD), "dead");
    ck_assert_str_eq(top_state_name((enum top_state)99), "unknown");
    ck_assert_str_eq(top_state_name((enum top_state) - 1), "unknown");
}
END_TEST

static int parse(struct top_opts *o, const char *a, const char *b,
                 const char *c, const char *d)
{
    char *argv[] = {"unitop", (char *)a, (char *)b, (char *)c, (char *)d, NULL};
    int argc = 1;

    while (argv[argc])
        argc++;
    return top_options_parse(argc, argv, o);
}

START_TEST(options)
{
    struct top_opts o;

    ck_assert_int_eq(parse(&o, NULL, NULL, NULL, NULL), 0);
    ck_assert_int_eq(o.batch, 0);
    ck_assert_int_eq(o.iterations, 0);
    ck_assert_int_eq(o.delay_ms, TOP_DELAY_DEFAULT_MS);
    ck_assert_int_eq(parse(&o, "-b", "-n", "3", "-d.25"), 0);
    ck_assert_int_eq(o.batch, 1);
    ck_assert_int_eq(o.iterations, 3);
    ck_assert_int_eq(o.delay_ms, 250);
    ck_assert_int_eq(parse(&o, "--format", "csv", "--prometheus", "[::1]:9"),
                     0);
    ck_assert_int_eq(o.format, TOP_FORMAT_CSV);
    ck_assert_str_eq(o.prometheus, "[::1]:9");
    ck_assert_int_eq(parse(&o, "-d", "0.001", NULL, NULL), TOP_EXIT_USAGE);
    ck_assert_int_eq(parse(&o, "-d", "-1", NULL, NULL), TOP_EXIT_USAGE);
    ck_assert_int_eq(parse(&o, "-d", "nan", NULL, NULL), TOP_EXIT_USAGE);
    ck_assert_int_eq(parse(&o, "-n", "-2", NULL, NULL), TOP_EXIT_USAGE);
    ck_assert_int_eq(parse(&o, "--format", "yaml", NULL, NULL), TOP_EXIT_USAGE);
    ck_assert_int_eq(parse(&o, "-n", NULL, NULL, NULL), TOP_EXIT_USAGE);
    ck_assert_int_eq(parse(&o, "guest", NULL, NULL, NULL), TOP_EXIT_USAGE);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("unitop_state");
    TCase *tc = tcase_create("state");

    tcase_add_test(tc, agent_only_guests_take_their_agents_word);
    tcase_add_test(tc, qemu_guests_refined_by_agent_and_deadlines);
    tcase_add_test(tc, state_names);
    tcase_add_test(tc, options);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
