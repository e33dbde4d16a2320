/* Integration-test harness: boot the demo kernel under QEMU TCG, RAM on a file.
 */
#ifndef USC_TEST_HARNESS_H
#define USC_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
 * Run (argv) to completion, at most (timeout_ms), its stdout and stderr
 * into (out) (cap bytes, NUL-terminated, may be NULL). Returns its exit
 * status, 128 + signal, or -ETIMEDOUT (the child is then killed).
 */
int test_run(char *const argv[], char *out, size_t cap, int timeout_ms);

/*
 * Make a private run directory (mode 0700) and point UNISCOPE_RUNDIR at
 * it, for this process and the tools it starts. Returns its path (static).
 */
const char *test_rundir_setup(void);

/* Stop every guest left in the private run directory, then remove it. */
void test_rundir_teardown(void);

#endif
