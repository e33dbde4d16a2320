/* Integration-test harness: boot the demo kernel under QEMU TCG, RAM on a file.
 * Linked into the Check test binaries only: its helpers fail the running
 * test (ck_assert) where they say so.
 */
#ifndef USC_TEST_HARNESS_H
#define USC_TEST_HARNESS_H

#include <check.h>
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct usc_agent;
struct usc_target;

/* How long a guest may take to come up: generous, TCG on a loaded CI box. */
#define TEST_BOOT_MS 30000

struct test_guest {
    pid_t pid;          /* QEMU's pid, 0 once reaped */
    int exit_status;    /* QEMU's exit status once reaped, else -1 */
    char dir[256];      /* private directory on a tmpfs */
    char mem_path[300]; /* the guest's RAM file */
    char console_path[300];
    uint64_t mem_bytes;
};

/*
 * Boot (kernel) with command line (append) and (mem_mib) MiB of RAM shared
 * through a file, console to a file. Returns 0 with (g) filled, or a
 * negative errno. The RAM file exists when this returns.
 */
int test_guest_boot(struct test_guest *g, const char *kernel,
                    const char *append, unsigned mem_mib);

/* Kill QEMU if still running, reap it, remove the directory. */
void test_guest_stop(struct test_guest *g);

/*
 * Wait until QEMU exits, at most (timeout_ms). Returns 0 with
 * g->exit_status set, or -ETIMEDOUT.
 */
int test_guest_wait_exit(struct test_guest *g, int timeout_ms);

/* Read up to (cap - 1) bytes of the console into (buf), NUL-terminated. */
size_t test_guest_console(const struct test_guest *g, char *buf, size_t cap);

/* Milliseconds on a monotonic clock. */
int64_t test_now_ms(void);

/* Sleep-free pacing for polling loops: yields the CPU for about 10 ms. */
void test_poll_pause(void);

/*
 * Wait for cond(arg) to return non-zero, polling, at most (timeout_ms).
 * Returns 1 if it did, 0 on timeout.
 */
int test_wait_for(int (*cond)(void *arg), void *arg, int timeout_ms);

/*
 * Start (argv) (found on PATH as execvp does) with its stdout and stderr into
 * a pipe, whose read end goes to (*out_fd); the child is killed should the
 * test die. Returns the child's pid, or a negative errno.
 */
pid_t test_spawn(char *const argv[], int *out_fd);

/*
 * Run (argv) to completion, at most (timeout_ms), its stdout and stderr
 * into (out) (cap bytes, NUL-terminated, may be NULL). Returns its exit
 * status, 128 + signal, or -ETIMEDOUT (the child is then killed).
 */
int test_run(char *const argv[], char *out, size_t cap, int timeout_ms);

/*
 * test_run of the command (prefix) (NULL-ended) followed by the char *
 * arguments of (ap) up to a NULL, 15 words in all at the most.
 */
int test_vrun(const char *const prefix[], va_list ap, char *out, size_t cap,
              int timeout_ms);

/*
 * Make a private run directory (mode 0700) and point UNISCOPE_RUNDIR at
 * it, for this process and the tools it starts, and set UNISCOPE_VMM_SCAN
 * to 0: unitop and unirun --list then show its guests only, not the
 * host's other VMM processes. Returns its path (static).
 */
const char *test_rundir_setup(void);

/* Stop every guest left in the private run directory, then remove it. */
void test_rundir_teardown(void);

/* Remove the folder (dir) and all in it, not following symlinks. */
void test_remove_tree(const char *dir);

/* test_rundir_setup as a Check fixture: fails the test if it cannot. */
void test_rundir_fixture_setup(void);

/* ---- Check ------------------------------------------------------------- */

/*
 * A suite (suite) of one test case (tcase), each test of which may take
 * (timeout_s) seconds. Returns the suite, the test case in (*tc) for the
 * caller's fixtures and tests.
 */
Suite *test_suite(const char *suite, const char *tcase, int timeout_s,
                  TCase **tc);

/*
 * Run (s) with each test in a process of its own (CK_FORK), print the
 * results, free it. Returns EXIT_SUCCESS if every test passed, else
 * EXIT_FAILURE: main()'s status.
 */
int test_run_suite(Suite *s);

/* ---- the tools, through the environment CTest gives ------------------- */

/* The value of environment variable (name); fails the test if unset or "". */
const char *test_env(const char *name);

/*
 * unirun --detach --accel tcg --memory (mem_mib) --name (name) (image) --
 * (kernel_args), at most TEST_BOOT_MS. Fails the test, with unirun's
 * output, unless unirun exits 0. Returns once unirun has: the guest may
 * still be in its boot code.
 */
void test_boot_image(const char *name, const char *image, unsigned mem_mib,
                     const char *kernel_args);

/*
 * unirun --detach --accel tcg --memory (mem_mib) --name (name) the demo
 * kernel (USC_DEMOKERNEL) with (kernel_args), at most TEST_BOOT_MS. Fails
 * the test, with unirun's output, unless unirun exits 0.
 */
void test_boot(const char *name, unsigned mem_mib, const char *kernel_args);

/* As test_boot, with --vcpus (vcpus) (0: unirun's default, one). */
void test_boot_vcpus(const char *name, unsigned mem_mib, unsigned vcpus,
                     const char *kernel_args);

/*
 * As test_boot with "(kernel_args) name=(name)", unless guest (name)'s
 * folder exists in the run directory already (it was booted before).
 */
void test_boot_once(const char *name, unsigned mem_mib,
                    const char *kernel_args);

/*
 * unirun --stop (name), at most 30 s, its output into (out) (cap bytes, may
 * be NULL). Returns unirun's exit status (see test_run).
 */
int test_unirun_stop(const char *name, char *out, size_t cap);

/*
 * unirun --list, at most 30 s, its output into (out) (cap bytes). Returns
 * unirun's exit status (see test_run).
 */
int test_unirun_list(char *out, size_t cap);

/* ---- unitop's JSON ------------------------------------------------------ */

/* The guest named (name) in one iteration of unitop --format json, or NULL. */
json_t *test_top_guest(json_t *iteration, const char *name);

/* The value of metric (metric) of unitop's guest (g), or -1 if it has none. */
json_int_t test_top_metric(json_t *g, const char *metric);

/* ---- a running guest ---------------------------------------------------- */

/* usc_target_open (name); fails the test, with the error, if it cannot. */
struct usc_target *test_target_open(const char *name);

/*
 * Wait, at most TEST_BOOT_MS, until the agent of target (t) (guest (name),
 * for the message) is found in its RAM. Returns it open; fails the test if
 * it never is.
 */
struct usc_agent *test_wait_agent(struct usc_target *t, const char *name);

/*
 * The value of agent (a)'s metric (name), 0 if it has none by that name;
 * fails the test if the metrics cannot be read.
 */
uint64_t test_agent_metric(struct usc_agent *a, const char *name);

/* The address of symbol (name) in the demo kernel; fails the test if none. */
uint64_t test_symbol(const char *name);

/*
 * The number of the first line of the source file (file) that holds
 * (text): where a tool's "file.c:LINE" must point. Fails the test if no
 * line does.
 */
int test_source_line(const char *file, const char *text);

/*
 * QEMU's dump-guest-memory (no paging) of guest (name) into the file
 * (core), over its QMP socket (10 s to connect, 60 s for the dump). Fails
 * the test, with QEMU's error, if it cannot.
 */
void test_qemu_dump(const char *name, const char *core);

#endif
