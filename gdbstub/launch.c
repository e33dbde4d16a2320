/* unigdb --gdb: start gdb on the image, attached through a private socket. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unigdb.h"

/* Fixed words before the caller's: gdb -q IMAGE -ex "target remote S" */
#define OWN_ARGS 5

/* The child: gdb, with the signal dispositions a shell would give it. */
static void exec_gdb(const char *gdb, const char *image, const char *cmd,
                     char **argv, int n)
{
    char **args = calloc((size_t)n + OWN_ARGS + 1, sizeof(*args));
    int k = 0;

    signal(SIGINT, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    if (!args)
        _exit(127);
    args[k++] = (char *)gdb;
    args[k++] = "-q";
    args[k++] = (char *)image;
    args[k++] = "-ex";
    args[k++] = (char *)cmd;
    for (int i = 0; i < n; i++)
        args[k++] = argv[i];
    execvp(gdb, args);
    unigdb_error(gdb, "cannot run it: %s", strerror(errno));
    _exit(127);
}

int unigdb_run_gdb(struct usc_target *t, const struct unigdb_config *cfg,
                   const char *image, char **argv, int n)
{
    const char *gdb = getenv("UNIGDB_GDB");
    const char *tmp = getenv("TMPDIR");
    char dir[PATH_MAX], addr[PATH_MAX + 16], cmd[PATH_MAX + 32];
    struct unigdb_listener l = {.fd = -1};
    int status = UNIGDB_EXIT_FAIL, err, wst;
    pid_t pid;

    if (!gdb || !*gdb)
        gdb = "gdb";
    snprintf(dir, sizeof(dir), "%s/unigdb-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        unigdb_error(dir, "cannot make a private directory: %s",
                     strerror(errno));
        return UNIGDB_EXIT_FAIL;
    }
    snprintf(addr, sizeof(addr), "unix:%s/gdb.sock", dir);
    err = unigdb_listen(addr, &l);
    if (err) {
        unigdb_error(addr + 5, "cannot listen: %s", strerror(-err));
        goto out;
    }
    snprintf(cmd, sizeof(cmd), "target remote %s", l.where);
    pid = fork();
    if (pid < 0) {
        unigdb_error("gdb", "cannot start it: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        close(l.fd);
        exec_gdb(gdb, image, cmd, argv, n);
    }
    /* gdb owns the terminal: its Ctrl-C reaches the guest as 0x03 */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    unigdb_serve(t, cfg, &l, 1);
    /* the session has ended; gdb may still be finishing its script */
    while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
        ;
    status = WIFEXITED(wst)     ? WEXITSTATUS(wst)
             : WIFSIGNALED(wst) ? 128 + WTERMSIG(wst)
                                : UNIGDB_EXIT_FAIL;
out:
    unigdb_listener_close(&l);
    rmdir(dir);
    return status;
}
