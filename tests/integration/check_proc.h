/* What the VMM-process tests (check_proc_*.c) share: tools, checks, files. */
#ifndef CHECK_PROC_H
#define CHECK_PROC_H

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TOOL_MS 60000
#define OUT_MAX (256 * 1024)

/* Run the tool $(env) with the arguments after (out), NULL-ended; its
 * output (static) in (*out). Returns its exit status. */
static inline int tool(const char *env, char **out, ...)
{
    static char buf[OUT_MAX];
    const char *cmd[] = {test_env(env), NULL};
    va_list ap;

    va_start(ap, out);
    int rc = test_vrun(cmd, ap, buf, sizeof(buf), TOOL_MS);
    va_end(ap);
    *out = buf;
    return rc;
}

static inline void has(const char *out, const char *what)
{
    ck_assert_msg(strstr(out, what), "no '%s' in:\n%s", what, out);
}

/* Wait until the unix socket (path) exists, at most TOOL_MS. */
static inline void wait_socket(const char *path)
{
    struct stat st;
    int64_t end = test_now_ms() + TOOL_MS;

    while (stat(path, &st) != 0 && test_now_ms() < end)
        test_poll_pause();
}

/* unigdb on (target) for one debugger, listening in (dir); started, with
 * gdb's command to reach it in (remote) and the pipe of its output in
 * (*fd). Returns its pid. */
static inline pid_t unigdb_once(const char *dir, const char *target,
                                char *remote, size_t cap, int *fd)
{
    char sock[320], listen[340];

    snprintf(sock, sizeof(sock), "%s/unigdb.sock", dir);
    snprintf(listen, sizeof(listen), "unix:%s", sock);
    char *srv[] = {(char *)test_env("USC_UNIGDB"),
                   (char *)target,
                   "--listen",
                   listen,
                   "--once",
                   NULL};
    pid_t ug = test_spawn(srv, fd);
    ck_assert_int_gt(ug, 0);
    wait_socket(sock);
    snprintf(remote, cap, "target remote %s", sock);
    return ug;
}

/* gdb in batch mode on (image) and (core) (NULL: none), then "-ex" each
 * of the commands (ex), NULL-ended; it must succeed. Its output (static). */
static inline const char *gdb_batch(const char *image, const char *core,
                                    const char *const ex[])
{
    static char out[OUT_MAX];
    char *argv[64] = {"gdb", "-batch", "-nx", (char *)image};
    size_t n = 4;

    if (core)
        argv[n++] = (char *)core;
    for (size_t i = 0; ex[i] && n + 3 < sizeof(argv) / sizeof(argv[0]); i++) {
        argv[n++] = "-ex";
        argv[n++] = (char *)ex[i];
    }
    argv[n] = NULL;
    int rc = test_run(argv, out, sizeof(out), TOOL_MS);
    ck_assert_msg(rc == 0, "gdb: %d: %s", rc, out);
    return out;
}

/* unigdb (ug), whose output pipe is (fd), ends by itself, and well. */
static inline void unigdb_ended(pid_t ug, int fd)
{
    int status;

    ck_assert_int_eq(waitpid(ug, &status, 0), ug);
    close(fd);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "unigdb: %#x",
                  status);
}

#endif /* CHECK_PROC_H */
