/* unitop's command line. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unitop.h"

enum {
    OPT_FORMAT = 256,
    OPT_PROMETHEUS,
};

static const struct option long_options[] = {
    {"batch", no_argument, NULL, 'b'},
    {"iterations", required_argument, NULL, 'n'},
    {"delay", required_argument, NULL, 'd'},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"prometheus", required_argument, NULL, OPT_PROMETHEUS},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

void top_error(const char *context, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "unitop: %s: ", context);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void top_usage(void)
{
    printf(
        "Usage: unitop [-b] [-n ITER] [-d SEC] [--format text|csv|json]\n"
        "              [--prometheus HOST:PORT]\n"
        "A live top of every uniscope guest on this host: what the\n"
        "hypervisor sees (state, vCPUs, CPU%%, memory) and what each\n"
        "guest's agent publishes (threads, context switches, trace events,\n"
        "heap, its own metrics).\n"
        "\n"
        "  -b, --batch            print figures instead of the live view\n"
        "  -n, --iterations ITER  stop after ITER refreshes (default 0:\n"
        "                         until interrupted)\n"
        "  -d, --delay SEC        seconds between refreshes (default %.1f,\n"
        "                         at least %.2f)\n"
        "      --format F         batch output: text (default), csv or json\n"
        "      --prometheus HOST:PORT\n"
        "                         serve /metrics in the Prometheus text\n"
        "                         format; without -b and without a\n"
        "                         terminal, unitop only serves\n"
        "  -h, --help             show this help\n"
        "  -V, --version          show the version\n"
        "\n"
        "CPU%% is host CPU time of a guest's vCPU threads: 100%% is one host\n"
        "core. A '-' is a figure nobody knows. Keys of the live view: h.\n"
        "Guests: every folder of the run directory ($UNISCOPE_RUNDIR,\n"
        "$XDG_RUNTIME_DIR/uniscope or /tmp/uniscope-$UID) and, run in dom0\n"
        "of a Xen host, every domU (hypervisor \"xen\").\n",
        TOP_DELAY_DEFAULT_MS / 1000.0, TOP_DELAY_MIN_MS / 1000.0);
}

static int usage_error(const char *context, const char *reason)
{
    top_error(context, "%s (try 'unitop --help')", reason);
    return TOP_EXIT_USAGE;
}

/* Seconds as a plain decimal ("1", "0.5", ".25") into milliseconds. */
static int parse_delay(const char *s, int *ms)
{
    char *end;
    double v;

    if (!((*s >= '0' && *s <= '9') || *s == '.'))
        return -EINVAL;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v * 1000.0 < TOP_DELAY_MIN_MS ||
        v * 1000.0 > TOP_DELAY_MAX_MS)
        return -EINVAL;
    *ms = (int)(v * 1000.0 + 0.5);
    return 0;
}

static int parse_count(const char *s, long *n)
{
    char *end;
    long v;

    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 0)
        return -EINVAL;
    *n = v;
    return 0;
}

int top_options_parse(int argc, char **argv, struct top_opts *o)
{
    int c;

    memset(o, 0, sizeof(*o));
    o->delay_ms = TOP_DELAY_DEFAULT_MS;
    o->format = TOP_FORMAT_TEXT;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":bn:d:hV", long_options, NULL)) !=
           -1) {
        switch (c) {
        case 'b':
            o->batch = 1;
            break;
        case 'n':
            if (parse_count(optarg, &o->iterations))
                return usage_error(optarg, "-n takes a count, 0 or more");
            break;
        case 'd':
            if (parse_delay(optarg, &o->delay_ms))
                return usage_error(optarg, "-d takes seconds, 0.01 to 3600");
            break;
        case OPT_FORMAT:
            if (!strcmp(optarg, "text"))
                o->format = TOP_FORMAT_TEXT;
            else if (!strcmp(optarg, "csv"))
                o->format = TOP_FORMAT_CSV;
            else if (!strcmp(optarg, "json"))
                o->format = TOP_FORMAT_JSON;
            else
                return usage_error(optarg, "--format is text, csv or json");
            break;
        case OPT_PROMETHEUS:
            if (!*optarg)
                return usage_error("--prometheus", "needs HOST:PORT");
            o->prometheus = optarg;
            break;
        case 'h':
            o->help = 1;
            return 0;
        case 'V':
            o->version = 1;
            return 0;
        case ':':
            return usage_error(argv[optind - 1], "needs an argument");
        default:
            return usage_error(argv[optind - 1], "unknown option");
        }
    }
    if (optind < argc)
        return usage_error(argv[optind], "unexpected argument");
    return 0;
}
