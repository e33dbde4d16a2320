/* The fleet: every guest of the run directory and Xen, refreshed per tick. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "unitop.h"

/* What a scan of the run directory found under one name. */
struct entry {
    char name[USC_TARGET_NAME_MAX];
    uint64_t ino;
};

static int compare_entries(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name,
                  ((const struct entry *)b)->name);
}

/*
 * A row's state is some tens of KiB over a handful of allocations (its
 * hypervisor samples, its agent, its target, a mirror): a refresh of a
 * thousand rows touched them on as many 4 KiB pages, and missed the TLB
 * on most (measured: half of a refresh of 1000 VMM processes). The heap
 * they come from is grown in large steps and marked for huge pages, so a
 * thousand rows sit on a few dozen of them. Where the kernel has no THP
 * this changes nothing.
 */
#define HEAP_PAD (128 << 20)

static void heap_on_huge_pages(void)
{
    char line[256];
    FILE *maps;
    void *p;

    /* one growth of the heap for a few thousand rows, never given back
     * (a later growth would be a mapping of its own, on small pages) */
    mallopt(M_TOP_PAD, HEAP_PAD);
    mallopt(M_TRIM_THRESHOLD, 2 * HEAP_PAD);
    p = malloc(1);
    free(p);
    maps = fopen("/proc/self/maps", "re");
    if (!maps)
        return;
    while (fgets(line, sizeof(line), maps)) {
        unsigned long start, end;

        if (strstr(line, "[heap]") &&
            sscanf(line, "%lx-%lx", &start, &end) == 2) {
            madvise((void *)start, end - start, MADV_HUGEPAGE);
            break;
        }
    }
    fclose(maps);
}

int top_fleet_init(struct top_fleet *f)
{
    int err;

    memset(f, 0, sizeof(*f));
    heap_on_huge_pages();
    err = top_pool_new(TOP_WORKERS_MAX, &f->pool);
    if (err)
        return err;
    f->host_cores = sysconf(_SC_NPROCESSORS_ONLN);
    f->loadavg_fd = -1;
    f->xen = &top_xen_real;
    top_agent_guard_install();
    return 0;
}

void top_more_files(void)
{
    static int done;
    struct rlimit rl;

    if (done++ || getrlimit(RLIMIT_NOFILE, &rl) != 0 ||
        rl.rlim_cur >= rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

struct top_guest *top_guest_new(enum top_kind kind, const char *name)
{
    struct top_guest *g = calloc(1, sizeof(*g));

    if (!g)
        return NULL;
    g->hv = calloc(1, sizeof(*g->hv));
    if (!g->hv) {
        free(g);
        return NULL;
    }
    g->kind = kind;
    snprintf(g->name, sizeof(g->name), "%s", name);
    g->hv->cpu_pct = NAN;
    for (uint32_t v = 0; v < TOP_VCPUS_MAX; v++)
        g->hv->vcpu_pct[v] = NAN;
    g->ag.switch_rate = NAN;
    g->ag.trace_rate = NAN;
    return g;
}

void top_guest_free(struct top_guest *g)
{
    if (!g)
        return;
    top_agent_close(&g->ag);
    top_proc_close(g);
    top_hv_close(g->hv);
    free(g->hv);
    free(g);
}

void top_fleet_fini(struct top_fleet *f, int wait_ms)
{
    /* Workers still asking a hung QEMU keep their guests: leave those. */
    int joined = top_pool_free(f->pool, wait_ms);

    for (size_t i = 0; i < f->nrun; i++)
        if (joined || !f->run[i]->hv || !f->run[i]->hv->busy)
            top_guest_free(f->run[i]);
    for (size_t i = 0; i < f->ndoms; i++)
        top_guest_free(f->doms[i]);
    for (size_t i = 0; i < f->nprocs; i++)
        top_guest_free(f->procs[i]);
    free(f->procs);
    free(f->seen);
    free(f->pids);
    if (f->loadavg_fd >= 0)
        close(f->loadavg_fd);
    for (size_t i = 0; joined && i < f->ngone; i++)
        top_guest_free(f->gone[i]);
    free(f->g);
    free(f->run);
    free(f->doms);
    free(f->gone);
    free(f->scratch.threads);
    free(f->scratch.metrics);
    free(f->scratch.packet);
    memset(f, 0, sizeof(*f));
}

/* A guest seen for the first time: its kind from the marker file. */
static struct top_guest *guest_new(int dfd, const struct entry *e)
{
    struct top_guest *g = calloc(1, sizeof(*g));
    char marker[USC_TARGET_NAME_MAX + sizeof(USC_RUNDIR_AGENT_ONLY) + 1];

    if (!g)
        return NULL;
    snprintf(g->name, sizeof(g->name), "%s", e->name);
    g->dir_ino = e->ino;
    snprintf(marker, sizeof(marker), "%s/%s", e->name, USC_RUNDIR_AGENT_ONLY);
    g->kind = faccessat(dfd, marker, F_OK, AT_SYMLINK_NOFOLLOW) == 0
                  ? TOP_KIND_AGENT_ONLY
                  : TOP_KIND_QEMU;
    if (g->kind == TOP_KIND_QEMU) {
        g->hv = calloc(1, sizeof(*g->hv));
        if (!g->hv) {
            free(g);
            return NULL;
        }
        g->hv->cpu_pct = NAN;
    }
    g->ag.switch_rate = NAN;
    g->ag.trace_rate = NAN;
    return g;
}

/* Retire (g): freed now, or once its job comes back. */
static void retire(struct top_fleet *f, struct top_guest *g)
{
    if (!g->hv || !g->hv->busy) {
        top_guest_free(g);
        return;
    }
    g->gone = 1;
    if (f->ngone == f->gone_cap) {
        size_t ncap = f->gone_cap ? f->gone_cap * 2 : 16;
        struct top_guest **nv = realloc(f->gone, ncap * sizeof(*nv));

        if (!nv)
            return; /* leaked rather than freed under a worker */
        f->gone = nv;
        f->gone_cap = ncap;
    }
    f->gone[f->ngone++] = g;
}

/* The guest folders of the open run directory (d), sorted by name. */
static int read_entries(DIR *d, struct entry **out, size_t *n)
{
    struct entry *v = NULL, *nv;
    size_t count = 0, cap = 0;
    struct dirent *e;
    struct stat st;

    while ((e = readdir(d))) {
        int dir = e->d_type == DT_DIR;

        if (!usc_rundir_name_valid(e->d_name))
            continue;
        /* Only file systems that do not say need a stat per entry. */
        if (e->d_type == DT_UNKNOWN)
            dir = fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                  S_ISDIR(st.st_mode);
        if (!dir)
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                free(v);
                return -ENOMEM;
            }
            v = nv;
        }
        /* usc_rundir_name_valid bounds it: it fits. */
        memcpy(v[count].name, e->d_name, strlen(e->d_name) + 1);
        v[count].ino = e->d_ino;
        count++;
    }
    if (count)
        qsort(v, count, sizeof(*v), compare_entries);
    *out = v;
    *n = count;
    return 0;
}

/* Merge the sorted (e) of (ne) names into the run directory's guests. */
static int merge(struct top_fleet *f, int dfd, const struct entry *e, size_t ne)
{
    struct top_guest **nv = malloc((ne ? ne : 1) * sizeof(*nv));
    size_t i = 0, j = 0, k = 0;

    if (!nv)
        return -ENOMEM;
    while (i < f->nrun || j < ne) {
        int c = i == f->nrun ? 1
                : j == ne    ? -1
                             : strcmp(f->run[i]->name, e[j].name);

        if (c < 0) {
            retire(f, f->run[i++]);
            continue;
        }
        /* The same name on another folder: a new guest. */
        if (c == 0 && f->run[i]->dir_ino == e[j].ino) {
            nv[k++] = f->run[i++];
            j++;
            continue;
        }
        if (c == 0)
            retire(f, f->run[i++]);
        nv[k] = guest_new(dfd, &e[j++]);
        if (nv[k])
            k++;
    }
    free(f->run);
    f->run = nv;
    f->nrun = k;
    /* Retired guests may be freed: f->g is made again before any use. */
    return top_fleet_join(f);
}

/* By name; a unirun guest before a Xen domain of the same name. */
static int compare_guests(const void *a, const void *b)
{
    const struct top_guest *x = *(struct top_guest *const *)a;
    const struct top_guest *y = *(struct top_guest *const *)b;
    int c = strcmp(x->name, y->name);

    if (c)
        return c;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->proc.pid != y->proc.pid)
        return x->proc.pid < y->proc.pid ? -1 : 1;
    return x->dom.domid < y->dom.domid ? -1 : x->dom.domid > y->dom.domid;
}

int top_fleet_join(struct top_fleet *f)
{
    size_t n = f->nrun + f->ndoms + f->nprocs;
    struct top_guest **nv = n > f->cap ? malloc(n * sizeof(*nv)) : f->g;

    if (n && !nv) {
        /* Never a list of guests that may be freed: none until the next. */
        f->n = 0;
        return -ENOMEM;
    }
    if (nv != f->g) {
        free(f->g);
        f->g = nv;
        f->cap = n;
    }
    if (f->nrun)
        memcpy(f->g, f->run, f->nrun * sizeof(*f->g));
    if (f->ndoms)
        memcpy(f->g + f->nrun, f->doms, f->ndoms * sizeof(*f->g));
    if (f->nprocs)
        memcpy(f->g + f->nrun + f->ndoms, f->procs, f->nprocs * sizeof(*f->g));
    f->n = n;
    /* Only Xen's domains and VMM processes need sorting in. */
    if (f->ndoms || f->nprocs)
        qsort(f->g, n, sizeof(*f->g), compare_guests);
    return 0;
}

/*
 * Rescan the run directory when it changed since the last scan: its
 * mtime moves whenever a guest folder comes or goes, so an unchanged
 * fleet costs one stat per refresh, whatever its size.
 */
static int scan(struct top_fleet *f)
{
    char path[PATH_MAX];
    struct entry *e = NULL;
    struct stat st;
    size_t ne = 0;
    int64_t mtime;
    DIR *d;
    int err;

    err = usc_rundir_path(path, sizeof(path));
    if (err)
        return err;
    if (stat(path, &st) != 0) {
        if (errno != ENOENT)
            return -errno;
        /* No run directory: no guests (yet). */
        f->dir_known = 0;
        return f->nrun ? merge(f, AT_FDCWD, NULL, 0) : 0;
    }
    mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (f->dir_known && mtime == f->dir_mtime_ns)
        return 0;
    err = usc_rundir_check(0);
    if (err)
        return err;
    d = opendir(path);
    if (!d)
        return -errno;
    err = read_entries(d, &e, &ne);
    if (!err)
        err = merge(f, dirfd(d), e, ne);
    closedir(d);
    free(e);
    if (err)
        return err;
    f->dir_mtime_ns = mtime;
    f->dir_known = 1;
    return 0;
}

static int submit(struct top_fleet *f, struct top_guest *g, enum top_job job,
                  int64_t now_ms)
{
    struct top_hv *hv = g->hv;
    int err;

    hv->busy = 1;
    hv->job = job;
    hv->pending = TOP_JOB_NONE;
    hv->job_ms = now_ms;
    err = top_pool_submit(f->pool, g);
    if (err) {
        hv->busy = 0;
        return err;
    }
    f->jobs_out++;
    return 0;
}

/*
 * A folder taken for QEMU's that still has no monitor may have become an
 * agent-only guest: its marker is written after the folder.
 */
static void recheck_kind(struct top_guest *g)
{
    char marker[PATH_MAX];

    if (g->hv->busy || g->hv->err != -EINPROGRESS ||
        usc_rundir_guest_path(g->name, USC_RUNDIR_AGENT_ONLY, marker,
                              sizeof(marker)) != 0 ||
        access(marker, F_OK) != 0)
        return;
    top_hv_close(g->hv);
    free(g->hv);
    g->hv = NULL;
    g->kind = TOP_KIND_AGENT_ONLY;
}

struct agent_call {
    struct top_guest *g;
    int64_t now_ms;
    struct top_scratch *scratch;
};

static void agent_call(void *arg)
{
    struct agent_call *c = arg;

    top_agent_refresh(c->g, c->now_ms, c->scratch);
}

int top_fleet_refresh(struct top_fleet *f, int64_t now_ms)
{
    int err = scan(f);

    /* Domains or VMMs came or went, or a join failed for want of memory. */
    int changed = top_xen_refresh(f, now_ms);

    changed |= top_procs_refresh(f, now_ms);
    if (changed || f->n != f->nrun + f->ndoms + f->nprocs)
        top_fleet_join(f);
    f->dir_err = err;
    if (err)
        snprintf(f->msg, sizeof(f->msg), "run directory: %s",
                 err == -EPERM ? "not owned by us or open to others"
                               : strerror(-err));
    f->tick_jobs = 0;
    for (size_t i = 0; i < f->n; i++) {
        struct top_guest *g = f->g[i];

        if (g->kind != TOP_KIND_QEMU)
            continue;
        recheck_kind(g);
        if (g->hv && !g->hv->busy &&
            submit(f, g, g->hv->pending ? g->hv->pending : TOP_JOB_SAMPLE,
                   now_ms) == 0)
            f->tick_jobs++;
    }
    for (size_t i = 0; i < f->n; i++) {
        struct agent_call c = {f->g[i], now_ms, &f->scratch};

        /* A domain's read is timed apart: see struct top_xen_ops. */
        if (f->g[i]->kind == TOP_KIND_XEN)
            c.now_ms = f->xen->now_ms();

        top_agent_guarded(&f->g[i]->ag, now_ms, agent_call, &c);
        top_procs_after_agent(f->g[i], now_ms);
        top_fleet_state(f->g[i], now_ms);
    }
    f->tick_ms = now_ms;
    f->tick_epoch = (int64_t)time(NULL);
    f->ticks++;
    return err;
}

/* CPU% of each vCPU between the two last samples of (hv). */
static void cpu_rates(struct top_hv *hv)
{
    const struct top_hv_sample *a = &hv->prev, *b = &hv->cur;
    double dt_ns = (double)(b->at_ms - a->at_ms) * 1e6, sum = 0;
    uint32_t n = b->nvcpu_stats;

    hv->cpu_pct = NAN;
    for (uint32_t v = 0; v < TOP_VCPUS_MAX; v++)
        hv->vcpu_pct[v] = NAN;
    if (hv->valid < 2 || dt_ns <= 0 || n == 0 || a->nvcpu_stats != n)
        return;
    for (uint32_t v = 0; v < n; v++) {
        const struct top_vcpu *x = &a->vcpu[v], *y = &b->vcpu[v];

        if (x->cpu_ns == USC_STAT_UNKNOWN || y->cpu_ns == USC_STAT_UNKNOWN ||
            x->tid != y->tid || y->cpu_ns < x->cpu_ns)
            return;
        hv->vcpu_pct[v] = (double)(y->cpu_ns - x->cpu_ns) / dt_ns * 100.0;
        sum += hv->vcpu_pct[v];
    }
    hv->cpu_pct = sum;
}

/* Take in (g)'s finished job. */
static void take(struct top_fleet *f, struct top_guest *g, int64_t now_ms)
{
    struct top_hv *hv = g->hv;

    hv->busy = 0;
    if (hv->next.msg[0])
        snprintf(f->msg, sizeof(f->msg), "%s", hv->next.msg);
    hv->err = hv->next.err;
    if (!hv->err) {
        hv->prev = hv->cur;
        hv->cur = hv->next;
        if (hv->valid < 2)
            hv->valid++;
        cpu_rates(hv);
    } else {
        hv->cpu_pct = NAN;
    }
    if (hv->pending)
        submit(f, g, hv->pending, now_ms);
    top_fleet_state(g, now_ms);
}

size_t top_fleet_collect(struct top_fleet *f, int64_t now_ms)
{
    struct top_guest *g;
    size_t count = 0;

    while ((g = top_pool_done(f->pool))) {
        f->jobs_out--;
        if (f->tick_jobs)
            f->tick_jobs--;
        count++;
        if (!g->gone) {
            take(f, g, now_ms);
            continue;
        }
        for (size_t i = 0; i < f->ngone; i++) {
            if (f->gone[i] == g) {
                f->gone[i] = f->gone[--f->ngone];
                break;
            }
        }
        g->hv->busy = 0;
        top_guest_free(g);
    }
    return count;
}

/* Errors of an agent that is there but does not validate. */
static int corrupt(int err)
{
    return err == -EINVAL || err == -EPROTONOSUPPORT || err == -EFAULT ||
           err == -EAGAIN || err == -ESTALE;
}

static enum top_state agent_state(const struct top_agent *ag)
{
    if (!ag->valid) {
        /* No RAM file, an empty one, or one cut short: the guest is gone. */
        if (!ag->ram && ag->ram_err)
            return TOP_STATE_DEAD;
        if (corrupt(ag->err))
            return TOP_STATE_CORRUPT;
        return TOP_STATE_STARTING;
    }
    switch (ag->st.state) {
    case USC_STATE_RUNNING:
        return TOP_STATE_RUNNING;
    case USC_STATE_PANICKED:
        return TOP_STATE_PANICKED;
    case USC_STATE_HALTED:
        return TOP_STATE_HALTED;
    default:
        return TOP_STATE_STARTING;
    }
}

/*
 * A running guest, as its agent refines it; (readable): its RAM could be
 * read, so an agent that does not validate is a corrupt one.
 */
static enum top_state refine(const struct top_agent *ag, int readable)
{
    if (ag->valid && ag->st.state == USC_STATE_PANICKED)
        return TOP_STATE_PANICKED;
    if (ag->valid && ag->st.state == USC_STATE_HALTED)
        return TOP_STATE_HALTED;
    if (!ag->valid && readable && corrupt(ag->err))
        return TOP_STATE_CORRUPT;
    return TOP_STATE_RUNNING;
}

/* A Xen domain (a VMM process): its hypervisor's word, refined by its
 * agent. */
static enum top_state domain_state(const struct top_guest *g)
{
    const struct top_hv *hv = g->hv;

    if (!hv->valid)
        return TOP_STATE_STARTING;
    switch (hv->cur.vm) {
    case USC_VM_RUNNING:
        return refine(&g->ag, hv->t != NULL);
    case USC_VM_PAUSED:
        return TOP_STATE_PAUSED;
    case USC_VM_DEBUG:
        return TOP_STATE_DEBUG;
    case USC_VM_PANICKED:
        return TOP_STATE_PANICKED;
    case USC_VM_SHUTDOWN:
        /* A crash Xen keeps (on_crash="preserve") after the agent's panic. */
        return g->ag.valid && g->ag.st.state == USC_STATE_PANICKED
                   ? TOP_STATE_PANICKED
                   : TOP_STATE_SHUTDOWN;
    case USC_VM_DEAD:
        return TOP_STATE_DEAD;
    default:
        return TOP_STATE_UNKNOWN;
    }
}

void top_fleet_state(struct top_guest *g, int64_t now_ms)
{
    const struct top_hv *hv = g->hv;

    if ((g->kind == TOP_KIND_XEN || g->kind == TOP_KIND_PROC) && hv) {
        g->state = domain_state(g);
        /* a VMM process stopped (SIGSTOP) is the VMM's stall, not a pause */
        if (g->kind == TOP_KIND_PROC && g->state == TOP_STATE_PAUSED)
            g->state = TOP_STATE_STALLED;
        return;
    }
    if (g->kind == TOP_KIND_AGENT_ONLY || !hv) {
        g->state = agent_state(&g->ag);
        return;
    }
    if ((hv->busy && now_ms - hv->job_ms > TOP_STALL_MS) ||
        hv->err == -ETIMEDOUT) {
        g->state = TOP_STATE_STALLED;
        return;
    }
    if (hv->err == -EINPROGRESS) {
        g->state = TOP_STATE_STARTING;
        return;
    }
    if (hv->err || !hv->valid) {
        g->state = TOP_STATE_UNKNOWN;
        return;
    }
    switch (hv->cur.vm) {
    case USC_VM_RUNNING:
        g->state = refine(&g->ag, g->ag.ram != NULL);
        break;
    case USC_VM_PAUSED:
        g->state = TOP_STATE_PAUSED;
        break;
    case USC_VM_DEBUG:
        g->state = TOP_STATE_DEBUG;
        break;
    case USC_VM_PANICKED:
        g->state = TOP_STATE_PANICKED;
        break;
    case USC_VM_SHUTDOWN:
        g->state = TOP_STATE_SHUTDOWN;
        break;
    case USC_VM_DEAD:
        g->state = TOP_STATE_DEAD;
        break;
    default:
        g->state = TOP_STATE_UNKNOWN;
        break;
    }
}

void top_backoff(int *backoff_ms, int64_t *retry_ms, int64_t now_ms, int min_ms,
                 int max_ms)
{
    *backoff_ms = *backoff_ms ? *backoff_ms * 2 : min_ms;
    if (*backoff_ms > max_ms)
        *backoff_ms = max_ms;
    *retry_ms = now_ms + *backoff_ms;
}

int top_act_target(struct top_fleet *f, struct top_guest *g, enum top_job job,
                   int open_err, const char *notsup)
{
    const char *what = job == TOP_JOB_PAUSE ? "pause" : "resume";
    int err;

    if (job != TOP_JOB_PAUSE && job != TOP_JOB_RESUME)
        return -EINVAL;
    if (!g->hv || !g->hv->t)
        err = open_err ? open_err : -ENODEV;
    else
        err = job == TOP_JOB_PAUSE ? usc_target_pause(g->hv->t)
                                   : usc_target_resume(g->hv->t);
    if (err == -ENOTSUP)
        snprintf(f->msg, sizeof(f->msg), "%s: %s: %s", g->name, what, notsup);
    else if (err)
        snprintf(f->msg, sizeof(f->msg), "%s: %s: %s", g->name, what,
                 strerror(-err));
    else
        snprintf(f->msg, sizeof(f->msg), "%s: %s", g->name,
                 job == TOP_JOB_PAUSE ? "paused" : "resumed");
    return err;
}

int top_fleet_act(struct top_fleet *f, struct top_guest *g, enum top_job job)
{
    if (g->kind == TOP_KIND_XEN)
        return top_xen_act(f, g, job);
    if (g->kind == TOP_KIND_PROC)
        return top_procs_act(f, g, job);
    if (!g->hv)
        return -ENOTSUP;
    if (g->hv->busy) {
        g->hv->pending = job;
        return 0;
    }
    return submit(f, g, job, usc_now_ms());
}

const char *top_state_name(enum top_state s)
{
    static const char *const names[] = {
        [TOP_STATE_UNKNOWN] = "unknown",   [TOP_STATE_STARTING] = "starting",
        [TOP_STATE_RUNNING] = "running",   [TOP_STATE_PAUSED] = "paused",
        [TOP_STATE_DEBUG] = "debug",       [TOP_STATE_HALTED] = "halted",
        [TOP_STATE_SHUTDOWN] = "shutdown", [TOP_STATE_PANICKED] = "panicked",
        [TOP_STATE_CORRUPT] = "corrupt",   [TOP_STATE_STALLED] = "stalled",
        [TOP_STATE_DEAD] = "dead",
    };

    if ((unsigned)s >= sizeof(names) / sizeof(names[0]))
        return "unknown";
    return names[s];
}
