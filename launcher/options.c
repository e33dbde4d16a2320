/* unirun's command line. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rundir.h"
#include "unirun.h"

#define DEFAULT_MEMORY_MIB 128u
#define DEFAULT_VCPUS 1u
#define MAX_VCPUS 255u /* QEMU's pc machine */

enum {
    OPT_NAME = 256,
    OPT_MEMORY,
    OPT_VCPUS,
    OPT_ACCEL,
    OPT_DETACH,
    OPT_CONSOLE,
    OPT_KEEP,
    OPT_LIST,
    OPT_STOP,
};

static const struct option long_options[] = {
    {"name", required_argument, NULL, OPT_NAME},
    {"memory", required_argument, NULL, OPT_MEMORY},
    {"vcpus", required_argument, NULL, OPT_VCPUS},
    {"accel", required_argument, NULL, OPT_ACCEL},
    {"detach", no_argument, NULL, OPT_DETACH},
    {"console", no_argument, NULL, OPT_CONSOLE},
    {"keep", no_argument, NULL, OPT_KEEP},
    {"list", no_argument, NULL, OPT_LIST},
    {"stop", required_argument, NULL, OPT_STOP},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

void unirun_usage(void)
{
    printf(
        "Usage: unirun [OPTION]... IMAGE [-- KERNEL-ARGS]\n"
        "       unirun --list\n"
        "       unirun --stop NAME\n"
        "Boot the unikernel IMAGE (a PVH ELF or a multiboot image) under\n"
        "QEMU, wired for the uniscope tools, which then reach it by its\n"
        "NAME. A guest that crashes leaves its core in the run directory\n"
        "(unicore list shows them).\n"
        "\n"
        "  --name N          guest name (default: from IMAGE, plus a suffix)\n"
        "  --memory MIB      guest RAM in MiB (default %u)\n"
        "  --vcpus N         virtual CPUs (default %u)\n"
        "  --accel A         tcg, kvm or auto (default auto: kvm when\n"
        "                    /dev/kvm works, else tcg)\n"
        "  --detach          run in the background; print the name\n"
        "  --console         also show the guest's console on the terminal\n"
        "  --keep            hold a crashed guest, stopped, for a live look\n"
        "                    (unigdb NAME) until unirun --stop NAME\n"
        "  --list            list guests: NAME STATE VCPUS MEM UPTIME AGENT\n"
        "                    CORE\n"
        "  --stop NAME       stop a guest and remove its files\n"
        "  -h, --help        show this help\n"
        "  -V, --version     show the version\n"
        "\n"
        "In the foreground unirun exits with the guest's status (written to\n"
        "port 0x501, as for isa-debug-exit), 1 when QEMU could not start, 2\n"
        "on a usage error.\n"
        "Run directory: $UNISCOPE_RUNDIR, $XDG_RUNTIME_DIR/uniscope or\n"
        "/tmp/uniscope-$UID. QEMU: $UNISCOPE_QEMU or qemu-system-x86_64.\n",
        DEFAULT_MEMORY_MIB, DEFAULT_VCPUS);
}

static int usage_error(const char *context, const char *reason)
{
    unirun_error(context, "%s (try 'unirun --help')", reason);
    return UNIRUN_EXIT_USAGE;
}

/* A decimal number in [min, max] without sign or spaces, into (*v). */
static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *v)
{
    unsigned long n;
    char *end;

    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    n = strtoul(s, &end, 10);
    if (errno || *end || n < min || n > max)
        return -EINVAL;
    *v = (unsigned)n;
    return 0;
}

/* The words after "--", joined by spaces, as QEMU's -append wants them. */
static char *join_words(char **words, int n)
{
    size_t len = 1;
    char *s, *p;
    int i;

    for (i = 0; i < n; i++)
        len += strlen(words[i]) + 1;
    s = malloc(len);
    if (!s)
        return NULL;
    p = s;
    for (i = 0; i < n; i++) {
        size_t l = strlen(words[i]);

        if (i)
            *p++ = ' ';
        memcpy(p, words[i], l);
        p += l;
    }
    *p = '\0';
    return s;
}

/* One option (c) with its argument (arg) into (o); 0 or a usage status. */
static int take_option(int c, const char *arg, struct unirun_opts *o,
                       int *boot_opts)
{
    switch (c) {
    case OPT_NAME:
        if (!usc_rundir_name_valid(arg))
            return usage_error("--name", "not a guest name: letters, digits "
                                         "and ._- (not first), at most 63");
        o->name = arg;
        break;
    case OPT_MEMORY:
        if (parse_uint(arg, 1, USC_GUEST_MEMORY_MAX, &o->memory_mib))
            return usage_error("--memory", "not a size in MiB");
        break;
    case OPT_VCPUS:
        if (parse_uint(arg, 1, MAX_VCPUS, &o->vcpus))
            return usage_error("--vcpus", "not a vCPU count from 1 to 255");
        break;
    case OPT_ACCEL:
        if (!strcmp(arg, "tcg"))
            o->accel = UNIRUN_ACCEL_TCG;
        else if (!strcmp(arg, "kvm"))
            o->accel = UNIRUN_ACCEL_KVM;
        else if (!strcmp(arg, "auto"))
            o->accel = UNIRUN_ACCEL_AUTO;
        else
            return usage_error("--accel", "must be tcg, kvm or auto");
        break;
    case OPT_DETACH:
        o->detach = 1;
        break;
    case OPT_CONSOLE:
        o->console = 1;
        break;
    case OPT_KEEP:
        o->keep = 1;
        break;
    default:
        return usage_error("option", "unknown");
    }
    *boot_opts = 1;
    return 0;
}

int unirun_options_parse(int argc, char **argv, struct unirun_opts *o)
{
    int c, status, nopts = argc, boot_opts = 0, list = 0;
    const char *stop = NULL;

    memset(o, 0, sizeof(*o));
    o->memory_mib = DEFAULT_MEMORY_MIB;
    o->vcpus = DEFAULT_VCPUS;
    /* Everything after the first "--" belongs to the guest's kernel. */
    for (c = 1; c < argc; c++) {
        if (!strcmp(argv[c], "--")) {
            nopts = c;
            break;
        }
    }
    opterr = 0;
    while ((c = getopt_long(nopts, argv, ":hV", long_options, NULL)) != -1) {
        switch (c) {
        case 'h':
            o->mode = UNIRUN_HELP;
            return 0;
        case 'V':
            o->mode = UNIRUN_VERSION;
            return 0;
        case OPT_LIST:
            list = 1;
            break;
        case OPT_STOP:
            stop = optarg;
            break;
        case ':':
            return usage_error(argv[optind - 1], "needs an argument");
        case '?':
            if (optopt > 0 && optopt < 256) {
                char shortopt[3] = {'-', (char)optopt, '\0'};

                return usage_error(shortopt, "unknown option");
            }
            if (optopt >= OPT_NAME)
                return usage_error(argv[optind - 1], "takes no argument");
            return usage_error(argv[optind - 1], "unknown option");
        default:
            status = take_option(c, optarg, o, &boot_opts);
            if (status)
                return status;
        }
    }
    if (list || stop) {
        if (list && stop)
            return usage_error("--list", "cannot go with --stop");
        if (boot_opts || optind < nopts || nopts < argc)
            return usage_error(list ? "--list" : "--stop",
                               "takes no other options or arguments");
        o->mode = list ? UNIRUN_LIST : UNIRUN_STOP;
        o->name = stop;
        return 0;
    }
    if (optind >= nopts)
        return usage_error("IMAGE", "missing");
    if (optind + 1 < nopts)
        return usage_error(argv[optind + 1],
                           "unexpected (kernel arguments go after --)");
    if (o->detach && o->console)
        return usage_error("--console", "needs the foreground, not --detach");
    o->mode = UNIRUN_BOOT;
    o->image = argv[optind];
    if (nopts < argc) {
        o->kernel_args = join_words(argv + nopts + 1, argc - nopts - 1);
        if (!o->kernel_args) {
            unirun_error("options", "%s", strerror(ENOMEM));
            return UNIRUN_EXIT_FAIL;
        }
    }
    return 0;
}

void unirun_opts_free(struct unirun_opts *o)
{
    free(o->kernel_args);
    o->kernel_args = NULL;
}
