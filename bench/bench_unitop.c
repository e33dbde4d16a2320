/* unitop's CPU per refresh over 10 to 10 000 agent-only guests, and over
 * 100 and 1000 VMM processes found in /proc. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_proc_fleet.h"
#include "bench_unitop_fleet.h"
#include "procvmm.h"

#define DELAY "0.05" /* a fast refresh, CPU per refresh scaled to 1 s */

static const char *unitop_path, *unirun_path;
static int only_procs;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_of(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 +
           (double)ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6;
}

/* Start (argv) with its output into /dev/null. */
static pid_t spawn(char *const argv[])
{
    pid_t pid = fork();

    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR);

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Run (argv) to its end; its CPU seconds, or -1. */
static double cpu_run(char *const argv[])
{
    struct rusage ru;
    int st;
    pid_t pid = spawn(argv);

    if (pid < 0 || wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) ||
        WEXITSTATUS(st) != 0)
        return -1;
    return cpu_of(&ru);
}

/* unitop -b -n (n) to /dev/null: startup, baseline and n refreshes. */
static double batch_cpu(int n)
{
    char iters[16];

    snprintf(iters, sizeof(iters), "%d", n);
    char *argv[] = {(char *)unitop_path, "-b", "-n", iters, "-d", DELAY, NULL};
    return cpu_run(argv);
}

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* uniscope_exporter_refreshes_total from a scrape of (port), or -1. */
static long refreshes(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    static char buf[1 << 16];
    const char *req = "GET /metrics HTTP/1.1\r\n\r\n";
    size_t len = 0;
    long n = -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        write(fd, req, strlen(req)) == (ssize_t)strlen(req)) {
        ssize_t r;

        /* The count is near the top: the first 64 KiB hold it. */
        while (len < sizeof(buf) - 1 &&
               (r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
            len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    char *p = strstr(buf, "\nuniscope_exporter_refreshes_total ");
    if (p)
        n = strtol(p + 35, NULL, 10);
    return n;
}

/* CPU seconds of every thread of (pid), in ns precision (schedstat). */
static double cpu_now(pid_t pid)
{
    char path[64], line[128];
    double sum = 0;
    DIR *d;
    struct dirent *e;

    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    d = opendir(path);
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        char stat[400];
        unsigned long long ns;
        FILE *f;

        if (e->d_name[0] == '.')
            continue;
        snprintf(stat, sizeof(stat), "%s/%s/schedstat", path, e->d_name);
        f = fopen(stat, "r");
        if (f && fgets(line, sizeof(line), f) && sscanf(line, "%llu", &ns) == 1)
            sum += (double)ns / 1e9;
        if (f)
            fclose(f);
    }
    closedir(d);
    return sum;
}

/*
 * CPU per refresh of the unitop (pid) serving /metrics on (port), over
 * (seconds), counted from its second refresh (after opening every agent).
 */
static double per_refresh(pid_t pid, int port, double seconds)
{
    double start = now_s(), c0, c1;
    long n0 = -1, n1;

    while (n0 < 2 && now_s() - start < 120) {
        poll(NULL, 0, 50);
        n0 = refreshes(port);
    }
    c0 = cpu_now(pid);
    poll(NULL, 0, (int)(seconds * 1000));
    n1 = refreshes(port);
    c1 = cpu_now(pid);
    if (n0 < 0 || n1 <= n0 || c0 < 0 || c1 < c0)
        return -1;
    return (c1 - c0) / (double)(n1 - n0);
}

/* unitop as a pure exporter: no output, no scrapes but ours. */
static double exporter_cpu_per_refresh(double seconds)
{
    char addr[32];
    int port = free_port();
    double cpu;

    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    char *argv[] = {(char *)unitop_path, "-d", DELAY,
                    "--prometheus",      addr, NULL};
    pid_t pid = spawn(argv);

    cpu = per_refresh(pid, port, seconds);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return cpu;
}

/* Run "tmux -L usc-bench-top ARGS": its status. */
static int tmux(const char *a1, const char *a2, const char *a3, const char *a4,
                const char *a5, const char *a6, const char *a7, const char *a8,
                const char *a9)
{
    char *argv[] = {
        "tmux",     "-L",       "usc-bench-top", "-f",       "/dev/null",
        (char *)a1, (char *)a2, (char *)a3,      (char *)a4, (char *)a5,
        (char *)a6, (char *)a7, (char *)a8,      (char *)a9, NULL};
    pid_t pid = fork();
    int st;

    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR);

        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execvp("tmux", argv);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The live view itself, drawing in a 200x50 tmux pane; -1 without tmux. */
static double live_cpu_per_refresh(double seconds)
{
    char addr[32], cmd[1024], pidfile[] = "/tmp/usc-bench-top-pid-XXXXXX";
    int port = free_port(), fd = mkstemp(pidfile);
    long pid = -1;
    double cpu = -1;

    if (fd < 0)
        return -1;
    close(fd);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    snprintf(cmd, sizeof(cmd),
             "echo $$ > %s; exec env UNISCOPE_RUNDIR=%s "
             "%s -d %s --prometheus %s",
             pidfile, getenv("UNISCOPE_RUNDIR"), unitop_path, DELAY, addr);
    if (tmux("new-session", "-d", "-s", "top", "-x", "200", "-y", "50", cmd) ==
        0) {
        for (int i = 0; i < 100 && pid <= 0; i++) {
            FILE *f = fopen(pidfile, "r");

            if (f && fscanf(f, "%ld", &pid) != 1)
                pid = -1;
            if (f)
                fclose(f);
            poll(NULL, 0, 20);
        }
        if (pid > 0)
            cpu = per_refresh((pid_t)pid, port, seconds);
    }
    tmux("kill-server", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    unlink(pidfile);
    return cpu;
}

/* `unirun --list` over the fleet: a one-shot pass opening every agent. */
static double list_cpu(void)
{
    char *argv[] = {(char *)unirun_path, "--list", NULL};
    return cpu_run(argv);
}

/* A CPU-per-refresh figure in ms and % of a core at 1 s; "-" if none. */
static void figure(double s)
{
    if (s < 0)
        printf("  %9s %8s", "-", "-");
    else
        printf("  %9.3f %7.2f%%", s * 1e3, s * 100);
}

static int measure(size_t n)
{
    char dir[] = "/tmp/usc-bench-top-XXXXXX";
    struct fleet f;
    int refreshes_n = n >= 10000 ? 20 : 60, err;
    double b1, bn, per_batch, per_export, per_live, list;
    pid_t ticker;

    if (!mkdtemp(dir))
        return -errno;
    setenv("UNISCOPE_RUNDIR", dir, 1);
    err = fleet_make(&f, n, "g");
    if (err) {
        fleet_destroy(&f);
        rmdir(dir);
        return err;
    }
    ticker = fork();
    if (ticker == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;) {
            fleet_advance(&f);
            poll(NULL, 0, 100);
        }
    }
    list = list_cpu();
    b1 = batch_cpu(1);
    bn = batch_cpu(1 + refreshes_n);
    per_batch = (bn - b1) / refreshes_n;
    per_live = live_cpu_per_refresh(3.0);
    per_export = exporter_cpu_per_refresh(3.0);
    printf("%6zu", n);
    figure(per_live);
    figure(per_export);
    figure(per_batch);
    printf("  %9.1f", list * 1e3);
    if (per_live > 0)
        printf("  %6.0fx\n", list / per_live);
    else if (per_export > 0)
        printf("  %6.0fx (exporter)\n", list / per_export);
    else
        printf("  %7s\n", "-");
    fflush(stdout);
    kill(ticker, SIGKILL);
    waitpid(ticker, NULL, 0);
    fleet_destroy(&f);
    rmdir(dir);
    return 0;
}

/* VMMs on the host besides ours: unitop reads them too, at every refresh. */
static size_t other_vmms(const struct proc_fleet *pf)
{
    struct usc_vmm_proc *v = NULL;
    size_t n = 0, others = 0;

    if (usc_vmm_list(&v, &n) != 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int ours = 0;

        for (size_t j = 0; j < pf->n && !ours; j++)
            ours = v[i].pid == pf->pids[j];
        others += !ours && !v[i].ours && v[i].readable;
    }
    free(v);
    return others;
}

/*
 * The host's VMM processes, found in /proc rather than the run directory
 * (left empty): (n) small processes holding an agent in their own memory
 * (bench_proc_fleet.h), each read through pid:PID.
 */
static int measure_procs(size_t n)
{
    char dir[] = "/tmp/usc-bench-top-XXXXXX";
    struct proc_fleet pf;
    int refreshes_n = 40, err;
    double b1, bn, per_batch, per_export, list;

    if (!mkdtemp(dir))
        return -errno;
    setenv("UNISCOPE_RUNDIR", dir, 1);
    unsetenv("UNISCOPE_VMM_SCAN");
    err = proc_fleet_start(&pf, n, PROC_FLEET_COMM, PROC_FLEET_LIVE);
    if (!err) {
        list = list_cpu();
        b1 = batch_cpu(1);
        bn = batch_cpu(1 + refreshes_n);
        per_batch = (bn - b1) / refreshes_n;
        per_export = exporter_cpu_per_refresh(3.0);
        printf("%6zu  %5zu", n, other_vmms(&pf));
        figure(per_export);
        figure(per_batch);
        printf("  %9.1f", list * 1e3);
        if (per_export > 0)
            printf("  %6.0fx", list / per_export);
        else
            printf("  %7s", "-");
        /* the aim: 2 % of a core at 1 s, for 1000 of them */
        if (per_export > 0)
            printf("   %.2f%% of a core for 1000 (aim <= 2%%)\n",
                   per_export * 100 * 1000 / (double)n);
        else
            printf("\n");
        fflush(stdout);
    }
    proc_fleet_stop(&pf);
    rmdir(dir);
    setenv("UNISCOPE_VMM_SCAN", "0", 1);
    return err;
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {10, 100, 1000, 10000};
    static const size_t nprocs[] = {100, 1000};

    if (argc < 3) {
        fprintf(stderr, "usage: bench_unitop UNITOP UNIRUN\n");
        return 2;
    }
    unitop_path = argv[1];
    unirun_path = argv[2];
    /* "procs" after them: the VMM processes' table alone */
    only_procs = argc > 3 && !strcmp(argv[3], "procs");
    printf("unitop CPU per refresh, agent-only guests ticking at 10 Hz; "
           "%% of one core at a 1 s refresh\n");
    printf("anchor: unirun --list, a one-shot pass that opens every agent "
           "(ratio: anchor / unitop's refresh)\n");
    /* the run directory's guests alone here; the host's VMMs below */
    setenv("UNISCOPE_VMM_SCAN", "0", 1);
    printf("aims: 1000 guests <= 2%%, 10000 guests <= 10%%\n");
    printf("(live: the ncurses view in a 200x50 tmux pane; exporter: no "
           "output; batch: -b text to /dev/null)\n\n");
    printf("%6s  %9s %8s  %9s %8s  %9s %8s  %9s  %7s\n", "guests", "live", "",
           "exporter", "", "batch", "", "--list", "ratio");
    printf("%6s  %9s %8s  %9s %8s  %9s %8s  %9s  %7s\n", "", "ms", "% core",
           "ms", "% core", "ms", "% core", "ms", "");
    for (size_t i = 0; !only_procs && i < sizeof(sizes) / sizeof(sizes[0]);
         i++) {
        int err = measure(sizes[i]);

        if (err) {
            fprintf(stderr, "bench_unitop: %zu guests: %s\n", sizes[i],
                    strerror(-err));
            return 1;
        }
    }
    printf("\nVMM processes found in /proc, each holding an agent in its "
           "own memory (named *-hvt, ticking at 10 Hz), read as pid:PID;\n"
           "anchor: unirun --list over them; \"others\": other VMMs of the "
           "host, read as well\n\n");
    printf("%6s  %5s  %9s %8s  %9s %8s  %9s  %7s\n", "procs", "others",
           "exporter", "", "batch", "", "--list", "ratio");
    printf("%6s  %5s  %9s %8s  %9s %8s  %9s  %7s\n", "", "", "ms", "% core",
           "ms", "% core", "ms", "");
    for (size_t i = 0; i < sizeof(nprocs) / sizeof(nprocs[0]); i++) {
        int err = measure_procs(nprocs[i]);

        if (err) {
            fprintf(stderr, "bench_unitop: %zu VMM processes: %s\n", nprocs[i],
                    strerror(-err));
            return 1;
        }
    }
    return 0;
}
