/* Small processes that hold an agent in their own memory, as VMMs do. */
#ifndef BENCH_PROC_FLEET_H
#define BENCH_PROC_FLEET_H

/*
 * Each is a child process named like a Solo5 tender ("*-hvt"), so that
 * discovery takes it for a VMM, holding an anonymous mapping of
 * PROC_FLEET_AREA bytes whose start is "guest-physical 0": the agent
 * control block of bench_unitop_fleet.h at FLEET_CB, its tables after.
 * It ticks at 10 Hz as a running guest would and obeys one-byte commands
 * on a pipe (PROC_FLEET_SHRINK: unmap the second half of its area,
 * PROC_FLEET_EXIT), answering each with a byte. Used by bench/bench_proc.c
 * and tests/unit/check_proc.c; every function is static inline.
 */

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "bench_unitop_fleet.h"

#define PROC_FLEET_AREA (1u << 20)
#define PROC_FLEET_COMM "agent-hvt"
#define PROC_FLEET_SHRINK 'S'
#define PROC_FLEET_EXIT 'X'

/* How a child lays out its area. */
enum proc_fleet_layout {
    PROC_FLEET_LIVE = 0, /* the block where it says it is */
    PROC_FLEET_STALE,    /* only a copy that cannot be where it says */
    PROC_FLEET_BOTH,     /* the live block, and a stale copy after it */
    PROC_FLEET_NONE,     /* no block at all */
};

struct proc_fleet {
    size_t n;
    pid_t *pids;
    int *cmd;        /* write end of each child's command pipe */
    int *reply;      /* read end of each child's answers */
    uint64_t *areas; /* each child's area, as an address in its memory */
};

/* The child: lay out its area, say where, tick and obey until told. */
static inline void proc_fleet_child(int cmd, int reply, const char *comm,
                                    enum proc_fleet_layout layout)
{
    unsigned char *area;
    struct fleet one = {.n = 1};
    uint64_t at;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_NAME, comm);
    area = mmap(NULL, PROC_FLEET_AREA, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED)
        _exit(3);
    if (layout != PROC_FLEET_NONE)
        fleet_build(area, comm);
    if (layout == PROC_FLEET_STALE || layout == PROC_FLEET_BOTH) {
        /* an old page: it records an address far beyond where it lies */
        struct usc_control_block *cb;

        memcpy(area + 8 * FLEET_PAGE, area + FLEET_CB, FLEET_PAGE);
        cb = (struct usc_control_block *)(area + 8 * FLEET_PAGE);
        cb->self_paddr = 0x100000;
        cb->checksum = usc_abi_checksum(cb, USC_CB_HEADER_SIZE);
        if (layout == PROC_FLEET_STALE)
            memset(area + FLEET_CB, 0, FLEET_PAGE);
    }
    one.ram = &area;
    at = (uint64_t)(uintptr_t)area;
    if (write(reply, &at, sizeof(at)) != (ssize_t)sizeof(at))
        _exit(4);
    for (;;) {
        struct pollfd p = {.fd = cmd, .events = POLLIN};
        char c;

        if (poll(&p, 1, 100) == 0) {
            if (layout != PROC_FLEET_NONE && layout != PROC_FLEET_STALE)
                fleet_advance(&one);
            continue;
        }
        if (read(cmd, &c, 1) != 1 || c == PROC_FLEET_EXIT)
            _exit(0);
        if (c == PROC_FLEET_SHRINK)
            munmap(area + PROC_FLEET_AREA / 2, PROC_FLEET_AREA / 2);
        if (write(reply, &c, 1) != 1)
            _exit(4);
    }
}

/*
 * Start (n) children named (comm) with areas laid out as (layout) into
 * (f). Returns 0 or a negative errno, with what was started in (f) to
 * stop either way.
 */
static inline int proc_fleet_start(struct proc_fleet *f, size_t n,
                                   const char *comm,
                                   enum proc_fleet_layout layout)
{
    memset(f, 0, sizeof(*f));
    f->pids = calloc(n ? n : 1, sizeof(*f->pids));
    f->cmd = calloc(n ? n : 1, sizeof(*f->cmd));
    f->reply = calloc(n ? n : 1, sizeof(*f->reply));
    f->areas = calloc(n ? n : 1, sizeof(*f->areas));
    if (!f->pids || !f->cmd || !f->reply || !f->areas)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int c[2], r[2];
        pid_t pid;

        if (pipe2(c, O_CLOEXEC) != 0)
            return -errno;
        if (pipe2(r, O_CLOEXEC) != 0) {
            close(c[0]);
            close(c[1]);
            return -errno;
        }
        pid = fork();
        if (pid < 0)
            return -errno;
        if (pid == 0) {
            close(c[1]);
            close(r[0]);
            proc_fleet_child(c[0], r[1], comm, layout);
        }
        close(c[0]);
        close(r[1]);
        f->pids[i] = pid;
        f->cmd[i] = c[1];
        f->reply[i] = r[0];
        f->n = i + 1;
        if (read(r[0], &f->areas[i], sizeof(f->areas[i])) !=
            (ssize_t)sizeof(f->areas[i]))
            return -EIO;
    }
    return 0;
}

/* Send child (i) command (c) and wait for its answer. */
static inline int proc_fleet_tell(struct proc_fleet *f, size_t i, char c)
{
    char a;

    if (write(f->cmd[i], &c, 1) != 1 || read(f->reply[i], &a, 1) != 1)
        return -EIO;
    return a == c ? 0 : -EIO;
}

/* Kill child (i) and reap it. */
static inline void proc_fleet_kill(struct proc_fleet *f, size_t i)
{
    if (f->pids[i] <= 0)
        return;
    kill(f->pids[i], SIGKILL);
    waitpid(f->pids[i], NULL, 0);
    f->pids[i] = 0;
}

/* Stop every child and free (f). */
static inline void proc_fleet_stop(struct proc_fleet *f)
{
    for (size_t i = 0; i < f->n; i++) {
        proc_fleet_kill(f, i);
        close(f->cmd[i]);
        close(f->reply[i]);
    }
    free(f->pids);
    free(f->cmd);
    free(f->reply);
    free(f->areas);
    memset(f, 0, sizeof(*f));
}

#endif /* BENCH_PROC_FLEET_H */
