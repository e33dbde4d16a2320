/* bench_unitop_fleet N [PREFIX]: N agent-only guests that tick until killed. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_unitop_fleet.h"

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    struct fleet f;
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    int err;

    if (n <= 0 || n > 100000) {
        fprintf(stderr, "usage: bench_unitop_fleet N [PREFIX] "
                        "(in $UNISCOPE_RUNDIR)\n");
        return 2;
    }
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);
    err = usc_rundir_check(1);
    if (!err)
        err = fleet_make(&f, (size_t)n, argc > 2 ? argv[2] : "fake");
    if (err) {
        fprintf(stderr, "bench_unitop_fleet: %s\n", strerror(-err));
        fleet_destroy(&f);
        return 1;
    }
    printf("ready %ld\n", n);
    fflush(stdout);
    /* The guests' own clock: ten ticks a second, as a timer would. */
    while (!stop) {
        fleet_advance(&f);
        poll(NULL, 0, 100);
    }
    fleet_destroy(&f);
    return 0;
}
