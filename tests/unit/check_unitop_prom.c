/* Unit tests of unitop's Prometheus exposition over hand-made guests. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unitop.h"

struct fake {
    struct top_fleet f;
    struct top_guest *g[3];
};

static void metric(struct top_guest *g, const char *name, const char *unit,
                   uint32_t kind, uint64_t value)
{
    struct top_metric *m = &g->ag.metrics[g->ag.nmetrics++];

    snprintf(m->name, sizeof(m->name), "%s", name);
    snprintf(m->unit, sizeof(m->unit), "%s", unit);
    m->kind = kind;
    m->value = value;
    m->rate = NAN;
    usc_sanitize_prom_name(m->prom, sizeof(m->prom), name, unit,
                           kind == USC_METRIC_COUNTER, &m->conv);
}

static struct top_guest *guest(const char *name)
{
    struct top_guest *g = calloc(1, sizeof(*g));

    snprintf(g->name, sizeof(g->name), "%s", name);
    g->kind = TOP_KIND_AGENT_ONLY;
    g->state = TOP_STATE_RUNNING;
    g->ag.valid = 1;
    g->ag.ram_bytes = 16384;
    g->ag.threads = 2;
    g->ag.switches = 77;
    g->ag.metrics = calloc(8, sizeof(*g->ag.metrics));
    return g;
}

/* Three guests: "b" and "a" share names with kinds at odds, "c" is dead. */
static void make(struct fake *k)
{
    memset(k, 0, sizeof(*k));
    k->g[0] = guest("a");
    k->g[1] = guest("b");
    k->g[2] = guest("c");
    metric(k->g[0], "ticks", "", USC_METRIC_COUNTER, 10);
    metric(k->g[0], "mixed", "", USC_METRIC_COUNTER, 1);
    metric(k->g[0], "start_us", "microseconds", USC_METRIC_GAUGE, 1500);
    metric(k->g[1], "ticks", "", USC_METRIC_COUNTER, 20);
    metric(k->g[1], "mixed", "", USC_METRIC_GAUGE, (uint64_t)-4);
    metric(k->g[1], "ticks", "", USC_METRIC_COUNTER, 99); /* a duplicate */
    metric(k->g[1], "\x1b[2J\"}\n", "", USC_METRIC_GAUGE, 5);
    k->g[2]->state = TOP_STATE_DEAD;
    k->g[2]->ag.valid = 0;
    k->f.g = k->g;
    k->f.n = 3;
    k->f.ticks = 7;
    k->f.tick_epoch = 1000;
}

static void unmake(struct fake *k)
{
    for (int i = 0; i < 3; i++) {
        free(k->g[i]->ag.metrics);
        free(k->g[i]);
    }
}

/* How many lines of (text) start with (prefix). */
static int lines(const char *text, const char *prefix)
{
    int n = 0;

    for (const char *l = text; l && *l; l = strchr(l, '\n') + 1) {
        if (!strncmp(l, prefix, strlen(prefix)))
            n++;
        if (!strchr(l, '\n'))
            break;
    }
    return n;
}

START_TEST(families_are_whole_and_typed_once)
{
    struct top_buf b = {0};
    struct fake k;

    make(&k);
    top_prom_render(&k.f, &b);
    ck_assert(!b.oom);
    ck_assert_int_eq(lines(b.p, "# TYPE uniscope_guest_info gauge"), 1);
    ck_assert_int_eq(lines(b.p, "uniscope_guest_info{"), 3);
    ck_assert_int_eq(lines(b.p, "uniscope_guest_up{guest=\"a\",hypervisor="
                                "\"qemu\"} 1"),
                     1);
    ck_assert_int_eq(lines(b.p, "uniscope_guest_up{guest=\"c\",hypervisor="
                                "\"qemu\"} 0"),
                     1);
    ck_assert_int_eq(lines(b.p, "uniscope_exporter_refreshes_total 7"), 1);
    /* A dead guest with no agent: no made-up figures for it. */
    ck_assert_int_eq(lines(b.p, "uniscope_guest_threads{guest=\"c\""), 0);
    /* Counters end in _total; base units, converted. */
    ck_assert_int_eq(lines(b.p, "# TYPE uniscope_agent_ticks_total counter"),
                     1);
    ck_assert_int_eq(lines(b.p, "uniscope_agent_ticks_total{guest=\"a\","
                                "hypervisor=\"qemu\"} 10"),
                     1);
    /* The guest's first slot of a name wins over its duplicate. */
    ck_assert_int_eq(lines(b.p, "uniscope_agent_ticks_total{guest=\"b\","
                                "hypervisor=\"qemu\"} 20"),
                     1);
    ck_assert_int_eq(lines(b.p, "uniscope_agent_ticks_total{guest=\"b\""), 1);
    ck_assert_int_eq(lines(b.p, "uniscope_agent_start_seconds{guest=\"a\","
                                "hypervisor=\"qemu\"} 0.0015"),
                     1);
    /* A name a guest has as a gauge and another as a counter: one kind. */
    ck_assert_int_eq(lines(b.p, "# TYPE uniscope_agent_mixed_total counter"),
                     1);
    ck_assert_int_eq(lines(b.p, "# TYPE uniscope_agent_mixed gauge"), 1);
    ck_assert_int_eq(lines(b.p, "uniscope_agent_mixed{guest=\"b\","
                                "hypervisor=\"qemu\"} -4"),
                     1);
    /* Hostile bytes never reach the output. */
    ck_assert_ptr_null(strchr(b.p, 0x1b));
    ck_assert_int_eq(lines(b.p, "uniscope_agent_2_j{guest=\"b\""), 1);
    top_buf_free(&b);
    unmake(&k);
}
END_TEST

/* Every family's samples follow its TYPE line, with nothing in between. */
START_TEST(samples_follow_their_type_line)
{
    struct top_buf b = {0};
    char family[128] = "";
    struct fake k;

    make(&k);
    top_prom_render(&k.f, &b);
    for (char *l = strtok(b.p, "\n"); l; l = strtok(NULL, "\n")) {
        if (!strncmp(l, "# HELP ", 7))
            continue;
        if (!strncmp(l, "# TYPE ", 7)) {
            sscanf(l + 7, "%127s", family);
            /* A family is typed once in the whole exposition. */
            continue;
        }
        ck_assert_msg(
            !strncmp(l, family, strlen(family)) &&
                (l[strlen(family)] == '{' || l[strlen(family)] == ' '),
            "%s outside its family %s", l, family);
    }
    top_buf_free(&b);
    unmake(&k);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("unitop_prom");
    TCase *tc = tcase_create("prom");

    tcase_add_test(tc, families_are_whole_and_typed_once);
    tcase_add_test(tc, samples_follow_their_type_line);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
