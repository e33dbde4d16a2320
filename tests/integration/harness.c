/* Boots and tears down QEMU guests for the integration tests. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void test_poll_pause(void)
{
    poll(NULL, 0, 10);
}

int test_wait_for(int (*cond)(void *arg), void *arg, int timeout_ms)
{
    int64_t deadline = test_now_ms() + timeout_ms;
    for (;;) {
        if (cond(arg))
            return 1;
        if (test_now_ms() > deadline)
            return 0;
        test_poll_pause();
    }
}

/* A tmpfs for the RAM file, as unirun uses: /dev/shm, else TMPDIR. */
static const char *scratch_root(void)
{
    struct stat st;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
        access("/dev/shm", W_OK) == 0)
        return "/dev/shm";
    const char *t = getenv("TMPDIR");
    return t ? t : "/tmp";
}

static int ram_file_ready(void *arg)
{
    const struct test_guest *g = arg;
    struct stat st;
    return stat(g->mem_path, &st) == 0 && (uint64_t)st.st_size == g->mem_bytes;
}

int test_guest_boot(struct test_guest *g, const char *kernel,
                    const char *append, unsigned mem_mib)
{
    memset(g, 0, sizeof(*g));
    g->exit_status = -1;
    g->mem_bytes = (uint64_t)mem_mib << 20;
    snprintf(g->dir, sizeof(g->dir), "%s/usc-itest-XXXXXX", scratch_root());
    if (!mkdtemp(g->dir))
        return -errno;
    snprintf(g->mem_path, sizeof(g->mem_path), "%s/mem", g->dir);
    snprintf(g->console_path, sizeof(g->console_path), "%s/console.log",
             g->dir);

    char backend[512], serial[400], size[32];
    snprintf(size, sizeof(size), "%uM", mem_mib);
    snprintf(backend, sizeof(backend),
             "memory-backend-file,id=ram,size=%s,mem-path=%s,share=on", size,
             g->mem_path);
    snprintf(serial, sizeof(serial), "file:%s", g->console_path);
    const char *qemu = getenv("USC_QEMU");
    if (!qemu)
        qemu = "qemu-system-x86_64";
    const char *argv[] = {qemu,
                          "-accel",
                          "tcg",
                          "-machine",
                          "pc,memory-backend=ram",
                          "-m",
                          size,
                          "-object",
                          backend,
                          "-nodefaults",
                          "-display",
                          "none",
                          "-serial",
                          serial,
                          "-no-reboot",
                          "-device",
                          "isa-debug-exit",
                          "-kernel",
                          kernel,
                          "-append",
                          append,
                          NULL};
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        /* A test that dies on a failed assertion takes its QEMU along. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
        }
        execvp(qemu, (char *const *)argv);
        _exit(127);
    }
    g->pid = pid;
    int64_t deadline = test_now_ms() + 20000;
    while (!ram_file_ready(g)) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            g->pid = 0;
            g->exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            return -ECHILD;
        }
        if (test_now_ms() > deadline)
            return -ETIMEDOUT;
        test_poll_pause();
    }
    return 0;
}

int test_guest_wait_exit(struct test_guest *g, int timeout_ms)
{
    int64_t deadline = test_now_ms() + timeout_ms;
    while (g->pid) {
        int st;
        if (waitpid(g->pid, &st, WNOHANG) == g->pid) {
            g->pid = 0;
            g->exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            return 0;
        }
        if (test_now_ms() > deadline)
            return -ETIMEDOUT;
        test_poll_pause();
    }
    return 0;
}

void test_guest_stop(struct test_guest *g)
{
    if (g->pid) {
        kill(g->pid, SIGKILL);
        int st;
        waitpid(g->pid, &st, 0);
        g->pid = 0;
    }
    if (g->dir[0]) {
        unlink(g->mem_path);
        unlink(g->console_path);
        rmdir(g->dir);
        g->dir[0] = 0;
    }
}

size_t test_guest_console(const struct test_guest *g, char *buf, size_t cap)
{
    size_t n = 0;
    FILE *f = fopen(g->console_path, "rb");
    if (f) {
        n = fread(buf, 1, cap - 1, f);
        fclose(f);
    }
    buf[n] = 0;
    return n;
}

int test_run(char *const argv[], char *out, size_t cap, int timeout_ms)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pipefd[1], STDOUT_FILENO);
        dup2(pipefd[1], STDERR_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t len = 0;
    int64_t deadline = test_now_ms() + timeout_ms;
    int timed_out = 0;
    for (;;) {
        struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
        int left = (int)(deadline - test_now_ms());
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        if (poll(&pfd, 1, left) <= 0)
            continue;
        char chunk[4096];
        ssize_t n = read(pipefd[0], chunk, sizeof(chunk));
        if (n <= 0)
            break;
        for (ssize_t i = 0; out && i < n && len + 1 < cap; i++)
            out[len++] = chunk[i];
    }
    close(pipefd[0]);
    if (out && cap)
        out[len] = 0;
    if (timed_out)
        kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    if (timed_out)
        return -ETIMEDOUT;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char rundir[256];

const char *test_rundir_setup(void)
{
    snprintf(rundir, sizeof(rundir), "/tmp/usc-rd-XXXXXX");
    if (!mkdtemp(rundir))
        return NULL;
    setenv("UNISCOPE_RUNDIR", rundir, 1);
    return rundir;
}

void test_rundir_teardown(void)
{
    if (!rundir[0])
        return;
    const char *unirun = getenv("USC_UNIRUN");
    DIR *d = opendir(rundir);
    struct dirent *e;
    while (unirun && d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *argv[] = {(char *)unirun, "--stop", e->d_name, NULL};
        test_run(argv, NULL, 0, 30000);
    }
    if (d)
        closedir(d);
    rmdir(rundir);
    rundir[0] = 0;
}
