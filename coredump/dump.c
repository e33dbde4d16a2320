/* unicore dump: the command line around usc_core_dump. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "coredump.h"
#include "procvmm.h"
#include "unicore.h"

#define PAGE 4096ull

/* ---- the command ------------------------------------------------------- */

static const char *size_text(uint64_t bytes, char *buf, size_t cap)
{
    if (bytes >= (10ull << 20))
        snprintf(buf, cap, "%.1f MiB", bytes / 1048576.0);
    else if (bytes >= (10ull << 10))
        snprintf(buf, cap, "%.1f KiB", bytes / 1024.0);
    else
        snprintf(buf, cap, "%llu bytes", (unsigned long long)bytes);
    return buf;
}

int unicore_dump_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"live", no_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct usc_core_dump_opts o = {.cancel = &unicore_stop};
    struct usc_core_dump_result res;
    const char *what = NULL;
    char a[32], b[32], line[512];
    int c, err;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            o.path = optarg;
            break;
        case 'l':
            o.live = 1;
            break;
        case 'h':
            printf("usage: unicore dump TARGET -o FILE [--live]\n");
            return 0;
        default:
            unicore_error("usage", "unicore dump TARGET -o FILE [--live]");
            return UNICORE_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc || !o.path || !o.path[0]) {
        unicore_error("usage", "unicore dump TARGET -o FILE [--live]");
        return UNICORE_EXIT_USAGE;
    }
    o.target = argv[optind];
    unicore_catch_signals();
    err = usc_core_dump(&o, &res, &what);
    if (err) {
        if (!strcmp(what, "target") &&
            usc_proc_open_error(o.target, err, line, sizeof(line)))
            unicore_error(o.target, "%s", line);
        else if (err == -EEXIST && !strcmp(what, "output"))
            unicore_error(o.path, "file exists (cores are never replaced)");
        else if (err == -EISDIR)
            unicore_error(o.target, "is a core file already");
        else if (err == -ECANCELED)
            unicore_error(o.target, "interrupted; no core written");
        else if (err == -ENOENT && !strcmp(what, "target"))
            unicore_error(o.target, "no such guest");
        else if (err == -ECONNREFUSED && !strcmp(what, "target"))
            unicore_error(o.target, "the guest's QEMU is not running (a "
                                    "crash's core, if unirun kept one: "
                                    "unicore list)");
        else if (err == -EACCES && !strcmp(what, "target"))
            unicore_error(o.target, "its memory cannot be read from here (the "
                                    "hypervisor refuses a mapping)");
        else if (err == -ESRCH)
            unicore_error(o.target, "the guest went away (%s)", what);
        else
            unicore_error(!strcmp(what, "output") ? o.path : o.target, "%s: %s",
                          what, strerror(-err));
        return UNICORE_EXIT_FAIL;
    }
    printf("unicore: wrote %s: %s, %llu pages of RAM written, %llu zero pages "
           "skipped (%s of RAM); %u vCPU%s%s\n",
           o.path, size_text(res.file_bytes, a, sizeof(a)),
           (unsigned long long)res.stats.pages_written,
           (unsigned long long)res.stats.pages_skipped,
           size_text((res.stats.pages_written + res.stats.pages_skipped) * PAGE,
                     b, sizeof(b)),
           res.nvcpus, res.nvcpus == 1 ? "" : "s",
           res.panicked ? ", guest had panicked" : "");
    if (res.no_regs)
        fprintf(stderr,
                "unicore: %s: registers: QEMU's gdbstub is held by "
                "another debugger; the core has none\n",
                o.target);
    if (o.live)
        printf("unicore: guest not paused (--live); took %.1f ms\n",
               res.total_ns / 1e6);
    else if (res.was_stopped)
        printf("unicore: guest was stopped already; took %.1f ms\n",
               res.total_ns / 1e6);
    else
        printf("unicore: guest paused %.1f ms; took %.1f ms\n",
               res.pause_ns / 1e6, res.total_ns / 1e6);
    return 0;
}
