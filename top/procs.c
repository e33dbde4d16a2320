/* VMM processes of this host as guests: found in /proc, read through pid:. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "unitop.h"

/* Looks at a process that is no VMM: after 1 s, doubling. */
#define RECHECK_MIN_MS 1000
/* Opening pid:PID scans the VMM's memory for the agent: 250 ms doubling
 * to a minute, since most VMMs' guests (Linux, BSD) have none. */
#define OPEN_BACKOFF_MIN_MS 250
#define OPEN_BACKOFF_MAX_MS 60000
/* VMMs name their vCPU threads as they start them: looked for again. */
#define THREADS_BACKOFF_MIN_MS 1000
#define THREADS_BACKOFF_MAX_MS 60000
#define STAT_MAX 1024

/* ---- the rows ---------------------------------------------------------- */

static void close_fds(struct top_proc *pr)
{
    if (pr->stat_fd >= 0)
        close(pr->stat_fd);
    pr->stat_fd = -1;
    for (size_t i = 0; pr->tid_fds && i < pr->ntids; i++)
        if (pr->tid_fds[i] >= 0)
            close(pr->tid_fds[i]);
    free(pr->tids);
    free(pr->tid_fds);
    pr->tids = NULL;
    pr->tid_fds = NULL;
    pr->ntids = 0;
}

/* Close (g)'s target, its agent first (it reads through the target). */
static void drop_target(struct top_guest *g, int why)
{
    top_trace_close(&g->ag.trace);
    usc_agent_close(g->ag.agent);
    g->ag.agent = NULL;
    usc_physmirror_free(g->ag.mirror);
    g->ag.mirror = NULL;
    g->ag.valid = 0;
    g->ag.nmetrics = 0;
    usc_target_close(g->hv->t);
    g->hv->t = NULL;
    g->proc.open_err = why;
}

void top_proc_close(struct top_guest *g)
{
    if (g->kind != TOP_KIND_PROC)
        return;
    close_fds(&g->proc);
    if (g->hv && g->hv->t)
        drop_target(g, 0);
}

static int open_stat(int pid, const char *task)
{
    char path[96];

    if (task)
        snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", pid, task);
    else
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    return open(path, O_RDONLY | O_CLOEXEC);
}

static struct top_guest *proc_new(const struct usc_vmm_proc *p)
{
    char name[24];
    struct top_guest *g;

    snprintf(name, sizeof(name), "pid:%d", p->pid);
    g = top_guest_new(TOP_KIND_PROC, name);
    if (!g)
        return NULL;
    g->proc.pid = p->pid;
    g->proc.vmm = p->kind;
    g->proc.start_ticks = p->start_ticks;
    g->proc.stat_fd = open_stat(p->pid, NULL);
    return g;
}

/* (g)'s vCPU threads by their names, looked for until some are found. */
static void learn_threads(struct top_guest *g, int64_t now_ms)
{
    struct top_proc *pr = &g->proc;
    int64_t tids[USC_VMM_MAX_VCPUS];
    size_t n = 0;
    char id[24];

    if (pr->ntids || now_ms < pr->threads_retry_ms)
        return;
    /* hvt runs its vCPU on its one thread: the process is the vCPU */
    if (pr->vmm == USC_VMM_HVT ||
        usc_vmm_vcpu_threads(pr->pid, pr->vmm, tids, USC_VMM_MAX_VCPUS, &n) ||
        n == 0) {
        top_backoff(&pr->threads_backoff_ms, &pr->threads_retry_ms, now_ms,
                    THREADS_BACKOFF_MIN_MS, THREADS_BACKOFF_MAX_MS);
        return;
    }
    if (n > TOP_VCPUS_MAX)
        n = TOP_VCPUS_MAX;
    pr->tids = malloc(n * sizeof(*pr->tids));
    pr->tid_fds = malloc(n * sizeof(*pr->tid_fds));
    if (!pr->tids || !pr->tid_fds) {
        free(pr->tids);
        free(pr->tid_fds);
        pr->tids = NULL;
        pr->tid_fds = NULL;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        pr->tids[i] = tids[i];
        snprintf(id, sizeof(id), "%lld", (long long)tids[i]);
        pr->tid_fds[i] = tids[i] > 0 ? open_stat(pr->pid, id) : -1;
    }
    pr->ntids = n;
}

/* CPU time and state from an open stat file; -ESRCH when it is gone. */
static int read_stat(int fd, uint64_t *ns, uint64_t *start, char *state)
{
    char buf[STAT_MAX];
    ssize_t n;

    if (fd < 0)
        return -ESRCH;
    /* a /proc stat file is made anew at every read from offset 0 */
    n = pread(fd, buf, sizeof(buf), 0);
    if (n <= 0)
        return -ESRCH;
    return usc_proc_parse_stat(buf, (size_t)n, ns, start, state) ? -ESRCH : 0;
}

static int read_batch(void *priv, const struct usc_phys_seg *segs, size_t n)
{
    return usc_target_read_batch(priv, segs, n);
}

/* Open (g)'s target if not yet, at most once per backoff step. */
static void open_target(struct top_guest *g, int64_t now_ms)
{
    struct top_proc *pr = &g->proc;
    struct usc_target_info info;
    char spec[32];
    int err;

    if (g->hv->t || now_ms < pr->retry_ms)
        return;
    snprintf(spec, sizeof(spec), "pid:%d", pr->pid);
    err = usc_target_open(spec, &g->hv->t);
    if (err) {
        g->hv->t = NULL;
        pr->open_err = err;
        top_backoff(&pr->backoff_ms, &pr->retry_ms, now_ms, OPEN_BACKOFF_MIN_MS,
                    OPEN_BACKOFF_MAX_MS);
        return;
    }
    pr->open_err = 0;
    /* Without a mirror (no memory for it) reads go one by one: slower. */
    if (usc_physmirror_new(usc_target_physmem(g->hv->t), read_batch, g->hv->t,
                           &g->ag.mirror) != 0)
        g->ag.mirror = NULL;
    if (usc_target_describe(g->hv->t, &info) == 0) {
        pr->mem_bytes = info.mem_bytes;
        pr->nvcpus = info.nvcpus;
    }
    /* its RAM is readable now: look for the agent at this refresh */
    g->ag.retry_ms = 0;
    g->ag.backoff_ms = 0;
}

void top_procs_after_agent(struct top_guest *g, int64_t now_ms)
{
    struct top_proc *pr = &g->proc;

    if (g->kind != TOP_KIND_PROC || !g->hv->t || g->ag.agent)
        return;
    /* The target found none (or one since gone): scan again later. */
    drop_target(g, g->ag.err ? g->ag.err : -ENOENT);
    top_backoff(&pr->backoff_ms, &pr->retry_ms, now_ms, OPEN_BACKOFF_MIN_MS,
                OPEN_BACKOFF_MAX_MS);
}

/* (g)'s sample at (now_ms): its process's state and CPU time. */
static void sample(struct top_guest *g, int64_t now_ms)
{
    struct top_proc *pr = &g->proc;
    struct top_hv *hv = g->hv;
    struct top_hv_sample *s = &hv->cur;
    uint64_t ns = 0, start = 0, sum = 0;
    char state = 0;
    int err;

    /* Only what is used of a sample: 6 KiB of vCPU slots, copied and
     * cleared for each of a thousand VMMs at every refresh, would cost
     * more than reading them. */
    memcpy(&hv->prev, s,
           offsetof(struct top_hv_sample, vcpu) +
               s->nvcpu_stats * sizeof(s->vcpu[0]));
    memset(s, 0, offsetof(struct top_hv_sample, vcpu));
    s->at_ms = s->vcpu_ms = now_ms;
    s->pid = pr->pid;
    s->cpu_ns = USC_STAT_UNKNOWN;
    s->start_time = -1;
    err = pr->gone_ms ? -ESRCH : read_stat(pr->stat_fd, &ns, &start, &state);
    /* a pid taken by another process since: this one is gone */
    if (err || state == 'Z' || state == 'X' ||
        (pr->start_ticks && start != pr->start_ticks)) {
        if (!pr->gone_ms)
            pr->gone_ms = now_ms;
        s->vm = USC_VM_DEAD;
        if (hv->t)
            drop_target(g, -ESRCH);
        close_fds(pr);
        if (!hv->valid)
            hv->valid = 1;
        top_hv_rates(hv);
        return;
    }
    s->vm = state == 'T' || state == 't' ? USC_VM_PAUSED : USC_VM_RUNNING;
    s->start_time = usc_proc_start_epoch(start);
    learn_threads(g, now_ms);
    open_target(g, now_ms);
    /* what the agent's reader looked at last time, in two system calls */
    if (g->ag.mirror && g->ag.agent)
        usc_physmirror_refresh(g->ag.mirror);
    for (size_t v = 0; v < pr->ntids; v++) {
        s->vcpu[v].tid = pr->tids[v];
        s->vcpu[v].exits = USC_STAT_UNKNOWN;
        if (read_stat(pr->tid_fds[v], &s->vcpu[v].cpu_ns, NULL, NULL) != 0)
            s->vcpu[v].cpu_ns = USC_STAT_UNKNOWN;
        else
            sum += s->vcpu[v].cpu_ns;
    }
    s->nvcpu_stats = (uint32_t)pr->ntids;
    /* vCPU threads not known by name: the VMM's CPU time as a whole */
    s->cpu_ns = pr->ntids ? sum : ns;
    s->nvcpus = pr->ntids ? (uint32_t)pr->ntids : pr->nvcpus;
    s->mem_bytes = pr->mem_bytes;
    if (hv->valid < 2)
        hv->valid++;
    top_hv_rates(hv);
}

/* ---- /proc ----------------------------------------------------------------
 */

static int compare_ints(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;

    return x < y ? -1 : x > y;
}

/*
 * The pid the kernel gave last (/proc/loadavg's last field), or -1: while
 * it stays, no process (nor thread) was made, and /proc need not be
 * listed again (a listing costs some 3 µs an entry).
 */
static long last_pid(struct top_fleet *f)
{
    char buf[128], *p;
    ssize_t n;

    if (f->loadavg_fd < 0)
        f->loadavg_fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    n = f->loadavg_fd >= 0 ? pread(f->loadavg_fd, buf, sizeof(buf) - 1, 0) : -1;
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    p = strrchr(buf, ' ');
    return p ? strtol(p + 1, NULL, 10) : -1;
}

/* /proc's pids now, sorted, into f->pids; their number in (*n). Kept from
 * the last listing when no process was made since (or f->npids old). */
static int list_pids(struct top_fleet *f, size_t *n, int64_t now_ms)
{
    long last = last_pid(f);
    struct dirent *e;
    size_t k = 0;
    int sorted = 1;
    DIR *d;

    if (last >= 0 && last == f->last_pid &&
        now_ms - f->listed_ms < TOP_PROC_RELIST_MS) {
        *n = f->npids;
        return 0;
    }
    d = opendir("/proc");
    if (!d)
        return -errno;
    while ((e = readdir(d))) {
        char *end;
        long pid;

        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid > INT32_MAX)
            continue;
        if (k == f->pids_cap) {
            size_t ncap = f->pids_cap ? f->pids_cap * 2 : 1024;
            int *nv = realloc(f->pids, ncap * sizeof(*nv));

            if (!nv) {
                closedir(d);
                return -ENOMEM;
            }
            f->pids = nv;
            f->pids_cap = ncap;
        }
        if (k && f->pids[k - 1] >= (int)pid)
            sorted = 0;
        f->pids[k++] = (int)pid;
    }
    closedir(d);
    if (!sorted)
        qsort(f->pids, k, sizeof(*f->pids), compare_ints);
    *n = f->npids = k;
    f->last_pid = last;
    f->listed_ms = now_ms;
    return 0;
}

/* Remember to look at (pid) again later: (prev)'s backoff doubled. */
static struct top_pidseen later(int pid, const struct top_pidseen *prev,
                                int64_t now_ms)
{
    struct top_pidseen s = {pid, prev ? prev->backoff_ms : 0, 0, 0};

    top_backoff(&s.backoff_ms, &s.retry_ms, now_ms, RECHECK_MIN_MS,
                TOP_PROC_RECHECK_MAX_MS);
    return s;
}

/* Growing arrays for a merge. */
struct merged {
    struct top_guest **rows;
    size_t nrows;
    struct top_pidseen *seen;
    size_t nseen;
};

/* A pid not seen before (or due again): a row, or a note to look later. */
static void look_at(struct top_fleet *f, int pid, const struct top_pidseen *old,
                    struct merged *m, int64_t now_ms, int *changed)
{
    struct usc_vmm_proc p;
    struct top_guest *g;

    if (usc_vmm_probe(pid, &p) != 0)
        return; /* gone already */
    (void)f;
    if (p.kind == USC_VMM_NONE || p.ours || !p.readable) {
        m->seen[m->nseen] = later(pid, old, now_ms);
        /* unirun's stay its own: the run directory's rows show them */
        if (p.ours)
            m->seen[m->nseen].retry_ms = INT64_MAX;
        m->seen[m->nseen].unreadable =
            p.kind != USC_VMM_NONE && !p.ours && !p.readable;
        m->nseen++;
        return;
    }
    g = proc_new(&p);
    if (!g)
        return;
    /* Each open row holds a few descriptors (its stat files, the
     * target's memory file). */
    top_more_files();
    m->rows[m->nrows++] = g;
    *changed = 1;
}

int top_procs_refresh(struct top_fleet *f, int64_t now_ms)
{
    struct merged m = {0};
    size_t np = 0, i = 0, j = 0, k = 0, had_unreadable;
    int changed = 0, err;

    if (f->procs_off)
        return 0;
    if (!usc_vmm_scan_enabled()) {
        f->procs_off = 1;
        return 0;
    }
    err = list_pids(f, &np, now_ms);
    if (err) {
        f->procs_off = 1;
        snprintf(f->msg, sizeof(f->msg), "/proc: %s: VMM processes not listed",
                 strerror(-err));
        return 0;
    }
    /* every pid is a row, a note, or new; the gone keep their rows a while */
    m.rows = malloc((np + f->nprocs + 1) * sizeof(*m.rows));
    m.seen = malloc((np + 1) * sizeof(*m.seen));
    if (!m.rows || !m.seen) {
        free(m.rows);
        free(m.seen);
        return 0;
    }
    had_unreadable = f->procs_unreadable;
    f->procs_unreadable = 0;
    for (size_t n = 0; n < np; n++) {
        int pid = f->pids[n];

        /* rows of processes no longer listed: gone */
        while (i < f->nprocs && f->procs[i]->proc.pid < pid)
            m.rows[m.nrows++] = f->procs[i++];
        while (j < f->nseen && f->seen[j].pid < pid)
            j++;
        if (i < f->nprocs && f->procs[i]->proc.pid == pid) {
            m.rows[m.nrows++] = f->procs[i++];
            continue;
        }
        if (j < f->nseen && f->seen[j].pid == pid &&
            now_ms < f->seen[j].retry_ms) {
            m.seen[m.nseen++] = f->seen[j++];
            continue;
        }
        look_at(f, pid,
                j < f->nseen && f->seen[j].pid == pid ? &f->seen[j] : NULL, &m,
                now_ms, &changed);
        if (j < f->nseen && f->seen[j].pid == pid)
            j++;
    }
    while (i < f->nprocs)
        m.rows[m.nrows++] = f->procs[i++];
    for (size_t n = 0; n < m.nseen; n++)
        f->procs_unreadable += m.seen[n].unreadable;
    if (f->procs_unreadable && !had_unreadable)
        snprintf(f->msg, sizeof(f->msg),
                 "%zu VMM process%s not shown: reading another user's "
                 "process needs ptrace rights (root, or CAP_SYS_PTRACE)",
                 f->procs_unreadable, f->procs_unreadable == 1 ? "" : "es");
    /* sample every row; the long gone go */
    for (size_t r = 0; r < m.nrows; r++) {
        struct top_guest *g = m.rows[r];

        sample(g, now_ms);
        if (g->proc.gone_ms &&
            now_ms - g->proc.gone_ms > TOP_PROC_DEAD_KEEP_MS) {
            top_guest_free(g);
            changed = 1;
            continue;
        }
        m.rows[k++] = g;
    }
    free(f->procs);
    free(f->seen);
    f->procs = m.rows;
    f->nprocs = k;
    f->seen = m.seen;
    f->nseen = m.nseen;
    f->seen_cap = np + 1;
    return changed;
}

int top_procs_act(struct top_fleet *f, struct top_guest *g, enum top_job job)
{
    return top_act_target(f, g, job, g->proc.open_err,
                          "needs the VMM's gdb stub (gdb=), which unitop "
                          "does not know");
}
