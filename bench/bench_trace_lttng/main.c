/* Nanoseconds per LTTng-UST event (median of runs), enabled or not: the
 * anchor bench_trace compares the uniscope agent with. Prints one number.
 * Usage: bench_trace_lttng EVENTS RUNS */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tp.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    unsigned long events = argc > 1 ? strtoul(argv[1], NULL, 10) : 1u << 20;
    int runs = argc > 2 ? atoi(argv[2]) : 11;
    double r[64];
    cpu_set_t set;

    if (runs < 1 || runs > 64 || events == 0)
        return 2;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    sched_setaffinity(0, sizeof(set), &set);
    for (int k = 0; k < runs; k++) {
        double t = now_s();
        for (unsigned long i = 0; i < events; i++)
            lttng_ust_tracepoint(usc_bench, event, i, (uint64_t)k);
        r[k] = (now_s() - t) * 1e9 / (double)events;
    }
    qsort(r, (size_t)runs, sizeof(r[0]), cmp);
    printf("%.2f\n", r[runs / 2]);
    return 0;
}
