/* Boots and tears down QEMU guests for the integration tests, and the
 * helpers the tests share. */
#include "harness.h"

#include <check.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

#include "agent_reader.h"
#include "elfimage.h"
#include "qmp.h"
#include "rundir.h"
#include "target.h"

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
static const char *tmpfs_root(void)
{
    struct stat st;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
        access("/dev/shm", W_OK) == 0)
        return "/dev/shm";
    const char *t = getenv("TMPDIR");
    return t ? t : "/tmp";
}

/*
 * Where a test's guest folders go: a folder per suite run, made and
 * removed whole by the parent process (an unchecked fixture), so a test
 * that dies on a failed assertion leaves nothing behind.
 */
static char scratch[256];

static const char *scratch_root(void)
{
    const char *s = getenv("USC_TEST_SCRATCH");
    return s && *s ? s : tmpfs_root();
}

static void scratch_setup(void)
{
    snprintf(scratch, sizeof(scratch), "%s/usc-itest-run-XXXXXX", tmpfs_root());
    if (mkdtemp(scratch))
        setenv("USC_TEST_SCRATCH", scratch, 1);
    else
        scratch[0] = 0;
}

static int remove_one(const char *path, const struct stat *st, int type,
                      struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

void test_remove_tree(const char *dir)
{
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void scratch_teardown(void)
{
    if (scratch[0])
        test_remove_tree(scratch);
    scratch[0] = 0;
    unsetenv("USC_TEST_SCRATCH");
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

pid_t test_spawn(char *const argv[], int *out_fd)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return -err;
    }
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
    *out_fd = pipefd[0];
    return pid;
}

int test_run(char *const argv[], char *out, size_t cap, int timeout_ms)
{
    int fd;
    pid_t pid = test_spawn(argv, &fd);
    if (pid < 0)
        return pid;
    size_t len = 0;
    int64_t deadline = test_now_ms() + timeout_ms;
    int timed_out = 0;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int left = (int)(deadline - test_now_ms());
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        if (poll(&pfd, 1, left) <= 0)
            continue;
        char chunk[4096];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n <= 0)
            break;
        for (ssize_t i = 0; out && i < n && len + 1 < cap; i++)
            out[len++] = chunk[i];
    }
    close(fd);
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

int test_vrun(const char *const prefix[], va_list ap, char *out, size_t cap,
              int timeout_ms)
{
    char *argv[16];
    int n = 0;

    for (; n < 15 && prefix[n]; n++)
        argv[n] = (char *)prefix[n];
    while (n < 15 && (argv[n] = va_arg(ap, char *)) != NULL)
        n++;
    argv[n] = NULL;
    return test_run(argv, out, cap, timeout_ms);
}

/* unirun (unirun) --stop (name), as test_unirun_stop. */
static int unirun_stop(const char *unirun, const char *name, char *out,
                       size_t cap)
{
    char *argv[] = {(char *)unirun, "--stop", (char *)name, NULL};
    return test_run(argv, out, cap, 30000);
}

static char rundir[256];

const char *test_rundir_setup(void)
{
    snprintf(rundir, sizeof(rundir), "/tmp/usc-rd-XXXXXX");
    if (!mkdtemp(rundir))
        return NULL;
    setenv("UNISCOPE_RUNDIR", rundir, 1);
    /* Its guests alone: not every VMM of the host (other tests' QEMUs). */
    setenv("UNISCOPE_VMM_SCAN", "0", 1);
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
        unirun_stop(unirun, e->d_name, NULL, 0);
    }
    if (d)
        closedir(d);
    /* The cores unirun kept of guests that crashed. */
    char cores[sizeof(rundir) + 16];
    snprintf(cores, sizeof(cores), "%s/.cores", rundir);
    d = opendir(cores);
    while (d && (e = readdir(d)) != NULL) {
        char path[sizeof(cores) + 256];
        snprintf(path, sizeof(path), "%s/%s", cores, e->d_name);
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(cores);
    rmdir(rundir);
    rundir[0] = 0;
}

void test_rundir_fixture_setup(void)
{
    ck_assert_ptr_nonnull(test_rundir_setup());
}

/* ---- Check ------------------------------------------------------------- */

Suite *test_suite(const char *suite, const char *tcase, int timeout_s,
                  TCase **tc)
{
    Suite *s = suite_create(suite);
    *tc = tcase_create(tcase);
    tcase_set_timeout(*tc, timeout_s);
    tcase_add_unchecked_fixture(*tc, scratch_setup, scratch_teardown);
    suite_add_tcase(s, *tc);
    return s;
}

int test_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- the tools --------------------------------------------------------- */

const char *test_env(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v && *v, "%s is not set", name);
    return v;
}

struct started {
    struct usc_agent *a;
};

/* The demo kernel's scheduler runs: threads exist and the timer ticks. */
static int scheduler_runs(void *arg)
{
    struct started *s = arg;
    struct usc_agent_status st;
    if (usc_agent_status(s->a, &st) != 0 || st.threads_used == 0)
        return 0;
    if (st.state == USC_STATE_PANICKED || st.state == USC_STATE_HALTED)
        return 1; /* it ran, and is already past what we wait for */
    return test_agent_metric(s->a, "timer_ticks") > 0;
}

/*
 * QMP answering only says QEMU is up; a test that attaches a debugger or
 * takes a dump then may find the guest still in its boot code. Wait until
 * the agent is published, the scheduler has threads and the timer ticks.
 */
static void wait_scheduler(const char *name)
{
    struct usc_target *t = test_target_open(name);
    struct started s = {test_wait_agent(t, name)};
    ck_assert_msg(test_wait_for(scheduler_runs, &s, TEST_BOOT_MS),
                  "%s: the scheduler never started", name);
    usc_agent_close(s.a);
    usc_target_close(t);
}

/* unirun --detach (image) as (name), with --vcpus (vcpus) unless 0. */
static void unirun_detach(const char *name, const char *image, unsigned mem_mib,
                          unsigned vcpus, const char *kernel_args)
{
    char out[4096], mib[16], ncpu[16];
    snprintf(mib, sizeof(mib), "%u", mem_mib);
    snprintf(ncpu, sizeof(ncpu), "%u", vcpus);
    char *argv[16] = {(char *)test_env("USC_UNIRUN"),
                      "--detach",
                      "--accel",
                      "tcg",
                      "--memory",
                      mib,
                      "--name",
                      (char *)name};
    int n = 8;
    if (vcpus) {
        argv[n++] = "--vcpus";
        argv[n++] = ncpu;
    }
    argv[n++] = (char *)image;
    argv[n++] = "--";
    argv[n++] = (char *)kernel_args;
    argv[n] = NULL;
    int rc = test_run(argv, out, sizeof(out), TEST_BOOT_MS);
    ck_assert_msg(rc == 0, "unirun --detach %s: %d: %s", name, rc, out);
}

void test_boot_image(const char *name, const char *image, unsigned mem_mib,
                     const char *kernel_args)
{
    unirun_detach(name, image, mem_mib, 0, kernel_args);
}

void test_boot_vcpus(const char *name, unsigned mem_mib, unsigned vcpus,
                     const char *kernel_args)
{
    unirun_detach(name, test_env("USC_DEMOKERNEL"), mem_mib, vcpus,
                  kernel_args);
    wait_scheduler(name);
}

void test_boot(const char *name, unsigned mem_mib, const char *kernel_args)
{
    test_boot_vcpus(name, mem_mib, 0, kernel_args);
}

void test_boot_once(const char *name, unsigned mem_mib, const char *kernel_args)
{
    char kargs[256], path[512];
    ck_assert_int_eq(usc_rundir_guest_path(name, NULL, path, sizeof(path)), 0);
    if (access(path, F_OK) == 0)
        return;
    snprintf(kargs, sizeof(kargs), "%s name=%s", kernel_args, name);
    test_boot(name, mem_mib, kargs);
}

int test_unirun_stop(const char *name, char *out, size_t cap)
{
    return unirun_stop(test_env("USC_UNIRUN"), name, out, cap);
}

int test_unirun_list(char *out, size_t cap)
{
    char *argv[] = {(char *)test_env("USC_UNIRUN"), "--list", NULL};
    return test_run(argv, out, cap, 30000);
}

/* ---- unitop's JSON ------------------------------------------------------ */

json_t *test_top_guest(json_t *iteration, const char *name)
{
    json_t *g;
    size_t i;

    json_array_foreach(json_object_get(iteration, "guests"), i, g)
    {
        if (!strcmp(json_string_value(json_object_get(g, "name")), name))
            return g;
    }
    return NULL;
}

json_int_t test_top_metric(json_t *g, const char *metric)
{
    json_t *m;
    size_t i;

    json_array_foreach(json_object_get(g, "metrics"), i, m)
    {
        if (!strcmp(json_string_value(json_object_get(m, "name")), metric))
            return json_integer_value(json_object_get(m, "value"));
    }
    return -1;
}

/* ---- a running guest ---------------------------------------------------- */

struct usc_target *test_target_open(const char *name)
{
    struct usc_target *t = NULL;
    int rc = usc_target_open(name, &t);
    ck_assert_msg(rc == 0, "open %s: %s", name, strerror(-rc));
    return t;
}

struct agent_wait {
    struct usc_target *t;
    struct usc_agent *a;
};

static int agent_found(void *arg)
{
    struct agent_wait *w = arg;
    return usc_agent_open(usc_target_physmem(w->t), USC_AGENT_SCAN, &w->a) == 0;
}

struct usc_agent *test_wait_agent(struct usc_target *t, const char *name)
{
    struct agent_wait w = {t, NULL};
    ck_assert_msg(test_wait_for(agent_found, &w, TEST_BOOT_MS),
                  "no agent in %s", name);
    return w.a;
}

uint64_t test_agent_metric(struct usc_agent *a, const char *name)
{
    struct usc_agent_metric m[64];
    size_t n = 0;
    ck_assert_int_eq(usc_agent_metrics(a, m, 64, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].name, name) == 0)
            return m[i].value;
    return 0;
}

uint64_t test_symbol(const char *name)
{
    struct usc_elfimage *img = NULL;
    uint64_t addr = 0;
    ck_assert_int_eq(usc_elfimage_open(test_env("USC_DEMOKERNEL"), &img), 0);
    ck_assert_msg(usc_elfimage_symbol(img, name, &addr, NULL) == 0,
                  "no symbol %s", name);
    usc_elfimage_close(img);
    return addr;
}

int test_source_line(const char *file, const char *text)
{
    char buf[1024];
    FILE *f = fopen(file, "r");
    int n = 0;

    ck_assert_msg(f, "%s: %s", file, strerror(errno));
    while (fgets(buf, sizeof(buf), f)) {
        n++;
        if (strstr(buf, text)) {
            fclose(f);
            return n;
        }
    }
    fclose(f);
    ck_abort_msg("no '%s' in %s", text, file);
    return 0;
}

void test_qemu_dump(const char *name, const char *core)
{
    char qmp_path[512], proto[1024];
    struct usc_qmp *q = NULL;

    ck_assert_int_eq(
        usc_rundir_guest_path(name, USC_RUNDIR_QMP, qmp_path, sizeof(qmp_path)),
        0);
    ck_assert_int_eq(usc_qmp_connect(qmp_path, 10000, &q), 0);
    snprintf(proto, sizeof(proto), "file:%s", core);
    json_t *args = json_pack("{s:b, s:s}", "paging", 0, "protocol", proto);
    int rc = usc_qmp_execute(q, "dump-guest-memory", args, NULL, 60000);
    ck_assert_msg(rc == 0, "dump-guest-memory: %s", usc_qmp_last_error(q));
    json_decref(args);
    usc_qmp_close(q);
}
