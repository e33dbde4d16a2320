/* unicore: memory-snapshot core dumps of unikernels, and their postmortem. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "unicore.h"

volatile int unicore_stop;

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"dump", unicore_dump_main},
    {"analyze", unicore_analyze_main},
    {"watch", unicore_watch_main},
    {"list", unicore_list_main},
};

static void usage(void)
{
    printf("usage: unicore dump TARGET -o FILE [--live]\n"
           "       unicore analyze CORE [--image ELF] [--json]\n"
           "       unicore watch [TARGET...] --dir DIR [--interval MS] "
           "[--count N]\n"
           "       unicore list [NAME] [--json]\n"
           "       unicore --help | --version\n"
           "\n"
           "TARGET: a unirun guest NAME, qemu:QMP[,mem=PATH][,gdb=SOCKET],\n"
           "xen:DOMID or xen:NAME (a Xen domain, from dom0), or\n"
           "pid:PID[,gdb=HOST:PORT|unix:PATH][,ram=HVA:SIZE[:GPA]] (any VMM\n"
           "process: QEMU, Firecracker, Cloud Hypervisor, Solo5 hvt, ...)\n"
           "See unicore(1).\n");
}

void unicore_error(const char *context, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "unicore: %s: ", context);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void on_signal(int sig)
{
    (void)sig;
    unicore_stop = 1;
}

void unicore_catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a wait must end when the user asks us to stop. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        unicore_error("usage",
                      "unicore dump|analyze|watch|list ... (see unicore "
                      "--help)");
        return UNICORE_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage();
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("unicore (uniscope) %s\n", USC_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    unicore_error("usage", "unknown command '%s' (dump, analyze, watch, list)",
                  argv[1]);
    return UNICORE_EXIT_USAGE;
}
