/* unitrace: drain a unikernel's trace rings to CTF, report and convert. */
#include <stdio.h>
#include <string.h>

#include "unitrace.h"

#ifndef USC_VERSION
#define USC_VERSION "0.0.0"
#endif

static const char usage[] =
    "usage: unitrace COMMAND ...\n"
    "\n"
    "  unitrace list TARGET                 tracepoints and rings of a guest\n"
    "  unitrace enable TARGET PATTERN       turn tracepoints on (glob)\n"
    "  unitrace disable TARGET PATTERN      turn tracepoints off (glob)\n"
    "  unitrace record TARGET -o DIR [--duration SEC]\n"
    "                  [--mode overwrite|stream] [--interval MS]\n"
    "                                       record a CTF trace; until SEC\n"
    "                                       or SIGINT/SIGTERM\n"
    "  unitrace extract CORE -o DIR         the flight recorder of a core\n"
    "  unitrace report DIR [--json]         losses, counts, rates, spans\n"
    "  unitrace convert DIR --format chrome -o FILE\n"
    "                                       Chrome trace-event JSON "
    "(Perfetto)\n"
    "\n"
    "TARGET: NAME (a unirun guest), qemu:QMP[,mem=PATH], xen:DOMID or\n"
    "xen:NAME (a Xen domain, from dom0), core:PATH or a core file,\n"
    "pid:PID[,ram=HVA:SIZE[:GPA]] (any VMM process, through /proc).\n"
    "See unitrace(1).\n";

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"list", unitrace_list},       {"enable", unitrace_enable},
    {"disable", unitrace_enable},  {"record", unitrace_record},
    {"extract", unitrace_extract}, {"report", unitrace_report},
    {"convert", unitrace_convert},
};

int main(int argc, char **argv)
{
    if (argc < 2)
        return unitrace_usage("no command");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("unitrace (uniscope) %s\n", USC_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "unitrace: %s: unknown command (see unitrace --help)\n",
            argv[1]);
    return 2;
}
