/* Unit tests of unitop's columns: figures, "-" for the unknown, sorting. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unitop.h"

static void fmt(enum top_fmt f, double num, const char *want)
{
    struct top_value v = {.known = 1, .num = num};
    char buf[32];

    top_value_format(&v, f, buf, sizeof(buf));
    ck_assert_msg(!strcmp(buf, want), "%g: %s, not %s", num, buf, want);
}

START_TEST(figures_print_short)
{
    struct top_value unknown = {0};
    char buf[16];

    for (int f = TOP_FMT_TEXT; f <= TOP_FMT_RATE; f++) {
        top_value_format(&unknown, (enum top_fmt)f, buf, sizeof(buf));
        ck_assert_str_eq(buf, "-");
    }
    fmt(TOP_FMT_BYTES, 0, "0B");
    fmt(TOP_FMT_BYTES, 512, "512B");
    fmt(TOP_FMT_BYTES, 1536, "1.5K");
    fmt(TOP_FMT_BYTES, 64 << 20, "64M");
    fmt(TOP_FMT_BYTES, 1.5 * (1 << 30), "1.5G");
    fmt(TOP_FMT_RATE, 0, "0");
    fmt(TOP_FMT_RATE, 3.5, "3.5");
    fmt(TOP_FMT_RATE, 12, "12");
    fmt(TOP_FMT_RATE, 1234, "1.2k");
    fmt(TOP_FMT_RATE, 45e6, "45M");
    fmt(TOP_FMT_PERCENT, 12.34, "12.3");
    fmt(TOP_FMT_COUNT, 42, "42");
    fmt(TOP_FMT_DURATION, 42, "42s");
    fmt(TOP_FMT_DURATION, 185, "3m05s");
    fmt(TOP_FMT_DURATION, 7620, "2h07m");
    fmt(TOP_FMT_DURATION, 4 * 86400 + 3 * 3600, "4d03h");
}
END_TEST

/* A QEMU guest (name) at (cpu) CPU% (NAN: unknown), its agent valid. */
static struct top_guest *guest(const char *name, double cpu)
{
    struct top_guest *g = calloc(1, sizeof(*g));

    snprintf(g->name, sizeof(g->name), "%s", name);
    g->kind = TOP_KIND_QEMU;
    g->hv = calloc(1, sizeof(*g->hv));
    g->hv->valid = 2;
    g->hv->cpu_pct = cpu;
    g->hv->cur.start_time = -1;
    g->state = TOP_STATE_RUNNING;
    return g;
}

static void free_guest(struct top_guest *g)
{
    free(g->hv);
    free(g->ag.metrics);
    free(g);
}

static void order(struct top_guest **v, const char *a, const char *b,
                  const char *c, const char *d)
{
    ck_assert_str_eq(v[0]->name, a);
    ck_assert_str_eq(v[1]->name, b);
    ck_assert_str_eq(v[2]->name, c);
    ck_assert_str_eq(v[3]->name, d);
}

START_TEST(sort_puts_unknown_last_both_ways)
{
    struct top_guest *v[4] = {guest("a", NAN), guest("b", 5), guest("c", 50),
                              guest("d", 5)};
    int cpu = top_column_find("CPU%"), name = top_column_find("name");

    ck_assert_int_ge(cpu, 0);
    ck_assert_int_eq(name, 0);
    top_sort(v, 4, cpu, 0, 0);
    order(v, "c", "b", "d", "a"); /* ties by name */
    top_sort(v, 4, cpu, 1, 0);
    order(v, "b", "d", "c", "a");
    top_sort(v, 4, name, 0, 0);
    order(v, "a", "b", "c", "d");
    top_sort(v, 4, name, 1, 0);
    order(v, "d", "c", "b", "a");
    for (int i = 0; i < 4; i++)
        free_guest(v[i]);
}
END_TEST

START_TEST(unknown_figures_are_not_zero)
{
    struct top_guest *g = guest("x", NAN);
    char buf[256];

    for (size_t c = 0; c < top_ncolumns; c++) {
        struct top_value v = {0};

        top_columns[c]->get(g, 1000, &v, buf, sizeof(buf));
        /* Name and state are always known; the rest are not, yet. */
        ck_assert_int_eq(v.known, c < 2);
    }
    free_guest(g);
}
END_TEST

START_TEST(metrics_column_shows_rates_and_values)
{
    struct top_guest *g = guest("x", 1);
    int col = top_column_find("METRICS");
    struct top_value v = {0};
    char buf[256];

    g->ag.valid = 1;
    g->ag.nmetrics = 3;
    g->ag.metrics = calloc(3, sizeof(*g->ag.metrics));
    strcpy(g->ag.metrics[0].name, "ticks");
    g->ag.metrics[0].kind = USC_METRIC_COUNTER;
    g->ag.metrics[0].rate = 100;
    strcpy(g->ag.metrics[1].name, "depth");
    g->ag.metrics[1].kind = USC_METRIC_GAUGE;
    g->ag.metrics[1].value = (uint64_t)-3;
    strcpy(g->ag.metrics[2].name, "fresh");
    g->ag.metrics[2].kind = USC_METRIC_COUNTER;
    g->ag.metrics[2].rate = NAN;
    top_columns[col]->get(g, 0, &v, buf, sizeof(buf));
    ck_assert(v.known);
    ck_assert_str_eq(v.text, "ticks=100/s depth=-3 fresh=-/s");
    /* A dead guest's rates are nobody's. */
    g->state = TOP_STATE_DEAD;
    top_columns[col]->get(g, 0, &v, buf, sizeof(buf));
    ck_assert_str_eq(v.text, "ticks=-/s depth=-3 fresh=-/s");
    /* Cut to fit, never in the middle of one. */
    top_columns[col]->get(g, 0, &v, buf, 14);
    ck_assert_str_eq(v.text, "ticks=-/s");
    free_guest(g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("unitop_columns");
    TCase *tc = tcase_create("columns");

    tcase_add_test(tc, figures_print_short);
    tcase_add_test(tc, sort_puts_unknown_last_both_ways);
    tcase_add_test(tc, unknown_figures_are_not_zero);
    tcase_add_test(tc, metrics_column_shows_rates_and_values);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
