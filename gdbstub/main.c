/* unigdb: a GDB stub over the hypervisor that knows the unikernel's threads. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cores.h"
#include "procvmm.h"
#include "rundir.h"
#include "sanitize.h"
#include "unigdb.h"

struct options {
    const char *target;
    const char *listen;
    const char *image;
    int once, gdb, verbose;
    char **gdb_args; /* the words after "--", for gdb */
    int ngdb_args;
};

enum { OPT_LISTEN = 256, OPT_ONCE, OPT_IMAGE, OPT_GDB };

static const struct option long_options[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"once", no_argument, NULL, OPT_ONCE},
    {"image", required_argument, NULL, OPT_IMAGE},
    {"gdb", no_argument, NULL, OPT_GDB},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static int wake_pipe[2] = {-1, -1};

void unigdb_error(const char *context, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "unigdb: %s: ", context);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void usage(void)
{
    printf("Usage: unigdb TARGET [--listen HOST:PORT|unix:PATH] [--once]\n"
           "       unigdb TARGET --gdb [--image ELF] [-- GDB-ARGS...]\n"
           "Serve the GDB remote protocol for a unikernel guest: gdb attaches\n"
           "and sees every vCPU and every thread of the guest's agent.\n"
           "\n"
           "TARGET is a guest started by unirun (NAME), qemu:QMP[,mem=..]"
           "[,gdb=..],\n"
           "xen:DOMID or xen:NAME (a Xen domain, from dom0), core:PATH or\n"
           "the path of a core file (read-only), or pid:PID[,gdb=HOST:PORT|\n"
           "unix:PATH][,ram=HVA:SIZE[:GPA]] (any VMM process: its RAM through\n"
           "/proc, control through the VMM's own gdb stub).\n"
           "\n"
           "  --listen ADDR   where gdb connects: HOST:PORT (default %s)\n"
           "                  or unix:PATH (a socket of mode 0600)\n"
           "  --once          exit after the first gdb leaves\n"
           "  --gdb           start gdb on the guest's image, attached; the\n"
           "                  words after -- are passed to gdb\n"
           "  --image ELF     the guest's image, for its symbols (default:\n"
           "                  from unirun's guest.json, or beside a core)\n"
           "  -v, --verbose   log every packet on stderr\n"
           "  -h, --help      show this help\n"
           "  -V, --version   show the version\n"
           "\n"
           "In gdb: target remote ADDR. Detaching, or gdb going away, removes\n"
           "every breakpoint and lets the guest run.\n",
           UNIGDB_DEFAULT_LISTEN);
}

static int usage_error(const char *context, const char *reason)
{
    unigdb_error(context, "%s (try 'unigdb --help')", reason);
    return UNIGDB_EXIT_USAGE;
}

/* 0, or an exit status after reporting; -1 for --help and --version. */
static int parse(int argc, char **argv, struct options *o)
{
    int nopts = argc, c;

    memset(o, 0, sizeof(*o));
    /* the words after "--" are gdb's: getopt must not see them */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            nopts = i;
            o->gdb_args = argv + i + 1;
            o->ngdb_args = argc - i - 1;
            break;
        }
    }
    opterr = 0;
    while ((c = getopt_long(nopts, argv, ":vhV", long_options, NULL)) != -1) {
        switch (c) {
        case OPT_LISTEN:
            o->listen = optarg;
            break;
        case OPT_ONCE:
            o->once = 1;
            break;
        case OPT_IMAGE:
            o->image = optarg;
            break;
        case OPT_GDB:
            o->gdb = 1;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case 'h':
            usage();
            return -1;
        case 'V':
            printf("unigdb (uniscope) %s\n", USC_VERSION);
            return -1;
        case ':':
            return usage_error(argv[optind - 1], "needs an argument");
        default:
            return usage_error(optopt ? (char[]){(char)optopt, 0}
                                      : argv[optind - 1],
                               "unknown option");
        }
    }
    if (optind >= nopts)
        return usage_error("TARGET", "missing");
    o->target = argv[optind];
    if (optind + 1 < nopts)
        return usage_error(argv[optind + 1], "unexpected argument");
    if (o->ngdb_args && !o->gdb)
        return usage_error("--", "words for gdb need --gdb");
    if (o->gdb && o->listen)
        return usage_error("--listen", "not with --gdb");
    return 0;
}

static void on_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;

    if (write(wake_pipe[1], &c, 1) < 0) {
        /* the pipe is full: the server wakes anyway */
    }
    errno = saved;
}

static int setup_signals(int gdb_mode)
{
    struct sigaction sa = {.sa_handler = on_signal};
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD};

    if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK))
        return -errno;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        if (sigs[i] == SIGCHLD && !gdb_mode)
            continue;
        sigaction(sigs[i], &sa, NULL);
    }
    signal(SIGPIPE, SIG_IGN);
    unigdb_serve_wake_fd(wake_pipe[0]);
    return 0;
}

/* "no such guest" and friends, for the one line we print. */
static const char *open_reason(int err)
{
    switch (err) {
    case -ENOENT:
        return "no such guest or file";
    case -EINVAL:
        return "not a TARGET (NAME, qemu:..., xen:..., core:PATH, a core "
               "file or pid:...)";
    case -ECONNREFUSED:
        return "the guest's QEMU is not running (and it left no kept core: "
               "unicore list)";
    case -EBUSY:
        return "another debugger holds the guest";
    default:
        return strerror(-err);
    }
}

/*
 * (name), a unirun guest whose QEMU is gone: its latest kept core when
 * that is the one of this guest (its folder gone with it, or its
 * guest.json naming it), into (core) as a target, and one line saying so.
 * Returns 0, or -ENOENT when it left none.
 */
static int kept_core(const char *name, char *target, size_t cap,
                     struct usc_core_record *rec)
{
    struct usc_guest_info gi;
    char when[32], reason[sizeof(rec->reason)];
    struct tm tm;
    time_t t;
    int err = usc_cores_latest(name, rec);

    if (err)
        return -ENOENT;
    /* A folder of a later guest of that name that left no core of its own
     * must not show an older guest's crash. */
    err = usc_guest_info_read(name, &gi);
    if (err != -ENOENT && (err || strcmp(gi.core, rec->path) != 0))
        return -ENOENT;
    if ((size_t)snprintf(target, cap, "core:%s", rec->path) >= cap)
        return -ENAMETOOLONG;
    t = (time_t)rec->time;
    localtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    usc_sanitize_text(reason, sizeof(reason), rec->reason, sizeof(rec->reason));
    fprintf(stderr,
            "unigdb: %s: the guest is gone (it crashed at %s%s%s); "
            "serving its kept core %s\n",
            name, when, reason[0] ? ": " : "", reason, rec->path);
    return 0;
}

/* 1 when (spec) names a unirun guest that unirun holds after its crash
 * (--keep): its guest.json says so while its supervisor runs. */
static int held_by_unirun(const char *spec)
{
    struct usc_target_spec ts;
    struct usc_guest_info gi;

    return usc_target_spec_parse(spec, &ts) == 0 &&
           ts.kind == USC_TARGET_NAME &&
           usc_guest_info_read(ts.name, &gi) == 0 &&
           !strcmp(gi.state, USC_GUEST_HELD) && usc_guest_supervised(ts.name);
}

/* One line on a guest QEMU keeps stopped: what gdb can and cannot do. */
static void say_state(const char *name, struct usc_target *t, int held)
{
    struct usc_target_info info;
    const char *why;

    if (usc_target_describe(t, &info) != 0)
        return;
    why = unigdb_cannot_run(info.state, held);
    if (why)
        fprintf(stderr, "unigdb: %s: %s\n", name, why);
    else if (info.state == USC_VM_PAUSED || info.state == USC_VM_DEBUG)
        fprintf(stderr,
                "unigdb: %s: the guest is stopped (run state \"%s\"); "
                "gdb's continue runs it\n",
                name, info.state == USC_VM_PAUSED ? "paused" : "debug");
}

int main(int argc, char **argv)
{
    struct unigdb_config cfg = {0};
    struct unigdb_listener l = {.fd = -1};
    struct usc_target *t = NULL;
    struct usc_target_spec spec;
    struct usc_core_record rec;
    char image[PATH_MAX], core[PATH_MAX + 8];
    struct options o;
    const char *shown = NULL; /* how messages name the guest */
    int status, err;

    status = parse(argc, argv, &o);
    if (status)
        return status < 0 ? 0 : status;
    err = usc_target_open(o.target, &t);
    /* A unirun guest that died: its kept core, if it left one. */
    if ((err == -ECONNREFUSED || err == -ENOENT) &&
        usc_target_spec_parse(o.target, &spec) == 0 &&
        spec.kind == USC_TARGET_NAME &&
        kept_core(spec.name, core, sizeof(core), &rec) == 0) {
        err = usc_target_open(core, &t);
        if (!err) {
            shown = o.target;
            o.target = core;
            if (!o.image && rec.debug[0] && access(rec.debug, R_OK) == 0)
                o.image = rec.debug;
            else if (!o.image && rec.image[0] && access(rec.image, R_OK) == 0)
                o.image = rec.image;
        }
    }
    if (err) {
        const char *why =
            usc_proc_open_error(o.target, err, image, sizeof(image));

        unigdb_error(o.target, "%s", why ? why : open_reason(err));
        return UNIGDB_EXIT_FAIL;
    }
    if (!shown)
        shown = o.target;
    /* A VMM process read through /proc alone: memory and the agent's
     * threads, but no registers, breakpoints or stops, which only its own
     * stub gives. */
    if (usc_target_spec_parse(o.target, &spec) == 0 &&
        spec.kind == USC_TARGET_PID && !spec.gdb[0])
        fprintf(stderr,
                "unigdb: %s: read-only, memory and the agent's threads: no "
                "vCPU registers, breakpoints or stops without the VMM's gdb "
                "stub (pid:PID,gdb=HOST:PORT or unix:PATH)\n",
                shown);
    cfg.held = held_by_unirun(o.target);
    say_state(shown, t, cfg.held);
    cfg.name = shown;
    cfg.verbose = o.verbose;
    cfg.files = 1;
    status = UNIGDB_EXIT_FAIL;
    if (setup_signals(o.gdb)) {
        unigdb_error("signals", "%s", strerror(errno));
        goto out;
    }
    if (o.gdb) {
        if (unigdb_find_image(o.target, t, o.image, image, sizeof(image))) {
            unigdb_error(o.target, "no image known for its symbols: give "
                                   "--image ELF");
            goto out;
        }
        status = unigdb_run_gdb(t, &cfg, image, o.gdb_args, o.ngdb_args);
        goto out;
    }
    err = unigdb_listen(o.listen ? o.listen : UNIGDB_DEFAULT_LISTEN, &l);
    if (err) {
        unigdb_error(
            o.listen ? o.listen : UNIGDB_DEFAULT_LISTEN, "cannot listen: %s",
            err == -EINVAL ? "not HOST:PORT or unix:PATH" : strerror(-err));
        goto out;
    }
    printf("unigdb: serving %s on %s (in gdb: target remote %s)\n", o.target,
           l.where, l.where);
    fflush(stdout);
    err = unigdb_serve(t, &cfg, &l, o.once);
    status = err ? UNIGDB_EXIT_FAIL : 0;
out:
    unigdb_listener_close(&l);
    usc_target_close(t);
    return status;
}
