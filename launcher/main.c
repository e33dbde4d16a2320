/* unirun: boot a unikernel under QEMU wired for the other uniscope tools. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "unirun.h"

void unirun_error(const char *context, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "unirun: %s: ", context);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int64_t unirun_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    struct unirun_opts o;
    int status;

    status = unirun_options_parse(argc, argv, &o);
    if (status)
        return status;
    switch (o.mode) {
    case UNIRUN_HELP:
        unirun_usage();
        status = 0;
        break;
    case UNIRUN_VERSION:
        printf("unirun (uniscope) %s\n", USC_VERSION);
        status = 0;
        break;
    case UNIRUN_LIST:
        status = unirun_list();
        break;
    case UNIRUN_STOP:
        status = unirun_stop(o.name);
        break;
    case UNIRUN_BOOT:
    default:
        status = unirun_boot(&o);
        break;
    }
    unirun_opts_free(&o);
    return status;
}
