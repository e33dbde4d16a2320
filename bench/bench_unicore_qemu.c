/* bench_unicore's anchor: QEMU's own dump-guest-memory, timed over QMP. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "qmp.h"

#define DUMP_TIMEOUT_MS 600000

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* usage: bench_unicore_qemu QMP_SOCKET FILE; prints "total_ms N". */
int main(int argc, char **argv)
{
    struct usc_qmp *q = NULL;
    char proto[4200];
    json_t *args;
    double t0;
    int err;

    if (argc != 3) {
        fprintf(stderr, "usage: bench_unicore_qemu QMP_SOCKET FILE\n");
        return 2;
    }
    err = usc_qmp_connect(argv[1], 10000, &q);
    if (err) {
        fprintf(stderr, "bench_unicore_qemu: %s: %s\n", argv[1],
                strerror(-err));
        return 1;
    }
    snprintf(proto, sizeof(proto), "file:%s", argv[2]);
    args = json_pack("{s:b, s:s}", "paging", 0, "protocol", proto);
    /* Without detach, QEMU keeps the guest stopped until the file is done:
     * its pause is the whole dump. */
    t0 = now_ms();
    err = usc_qmp_execute(q, "dump-guest-memory", args, NULL, DUMP_TIMEOUT_MS);
    printf("total_ms %.1f\n", now_ms() - t0);
    json_decref(args);
    if (err)
        fprintf(stderr, "bench_unicore_qemu: dump-guest-memory: %s\n",
                usc_qmp_last_error(q));
    usc_qmp_close(q);
    return err ? 1 : 0;
}
