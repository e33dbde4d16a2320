/* What the VMM-process tests (check_proc_*.c) share: tools, checks, files. */
#ifndef CHECK_PROC_H
#define CHECK_PROC_H

#include <check.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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

static inline int remove_one(const char *path, const struct stat *st, int type,
                             struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

/* Remove (dir) and all in it. */
static inline void remove_tree(const char *dir)
{
    nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Wait until the unix socket (path) exists, at most TOOL_MS. */
static inline void wait_socket(const char *path)
{
    struct stat st;
    int64_t end = test_now_ms() + TOOL_MS;

    while (stat(path, &st) != 0 && test_now_ms() < end)
        test_poll_pause();
}

#endif /* CHECK_PROC_H */
