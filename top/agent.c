/* A guest's agent figures, read from its RAM in unitop's main thread. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "unitop.h"

/* Retries of a RAM file without an agent (yet): 250 ms, doubling to 4 s. */
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 4000
/*
 * A Xen domain's RAM is scanned through foreign mappings, dearer than a
 * mapped file, and most domains (dom0's peers: Linux, BSD) never have an
 * agent: theirs slows on to a minute.
 */
#define BACKOFF_MAX_XEN_MS 60000

/* Where a SIGBUS from a shrunk RAM file returns to; main thread only. */
static sigjmp_buf *fault_jmp;

static void on_sigbus(int sig)
{
    if (fault_jmp)
        siglongjmp(*fault_jmp, 1);
    signal(sig, SIG_DFL);
    raise(sig);
}

void top_agent_guard_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigbus;
    /* Left by siglongjmp, the handler must not leave SIGBUS blocked. */
    sa.sa_flags = SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

int top_agent_guarded(struct top_agent *ag, int64_t now_ms,
                      void (*fn)(void *arg), void *arg)
{
    sigjmp_buf jb;

    /* No mask saved: a syscall per guest per refresh would cost more than
     * the reading; SA_NODEFER keeps the mask as it was. */
    if (sigsetjmp(jb, 0)) {
        fault_jmp = NULL;
        top_agent_fault(ag, now_ms);
        return -EFAULT;
    }
    fault_jmp = &jb;
    fn(arg);
    fault_jmp = NULL;
    return 0;
}

void top_agent_fault(struct top_agent *ag, int64_t now_ms)
{
    top_trace_close(&ag->trace);
    usc_agent_close(ag->agent);
    ag->agent = NULL;
    usc_ramfile_close(ag->ram);
    ag->ram = NULL;
    ag->valid = 0;
    ag->nmetrics = 0;
    ag->err = -EFAULT;
    ag->ram_err = -EFAULT;
    ag->retry_ms = now_ms + BACKOFF_MAX_MS;
}

void top_agent_close(struct top_agent *ag)
{
    top_trace_close(&ag->trace);
    usc_agent_close(ag->agent);
    usc_physmirror_free(ag->mirror);
    usc_ramfile_close(ag->ram);
    free(ag->metrics);
    memset(ag, 0, sizeof(*ag));
}

static void backoff(struct top_agent *ag, int64_t now_ms, int max_ms)
{
    top_backoff(&ag->backoff_ms, &ag->retry_ms, now_ms, BACKOFF_MIN_MS, max_ms);
}

/* (g)'s RAM: its RAM file, mapped if not yet, or its Xen domain's. */
static int guest_ram(struct top_guest *g, const struct usc_physmem **pm)
{
    struct top_agent *ag = &g->ag;
    char path[PATH_MAX];
    struct stat st;
    int err;

    if (g->kind == TOP_KIND_XEN || g->kind == TOP_KIND_PROC) {
        /* The target is xen.c's (procs.c's) to open, once per guest. */
        if (!g->hv || !g->hv->t)
            return g->kind == TOP_KIND_XEN && g->dom.open_err ? g->dom.open_err
                   : g->kind == TOP_KIND_PROC && g->proc.open_err
                       ? g->proc.open_err
                       : -ENODEV;
        *pm = ag->mirror ? usc_physmirror_physmem(ag->mirror)
                         : usc_target_physmem(g->hv->t);
        return *pm ? 0 : -ENOTSUP;
    }
    if (!ag->ram) {
        err =
            usc_rundir_guest_path(g->name, USC_RUNDIR_MEM, path, sizeof(path));
        if (err)
            return err;
        /* An empty file is QEMU's still: it sizes it as it starts. */
        err = usc_ramfile_open(path, &ag->ram);
        ag->ram_err = err;
        if (err)
            return err;
        ag->ram_bytes = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    }
    *pm = usc_ramfile_physmem(ag->ram);
    return 0;
}

/* Find and open (g)'s agent in its RAM. */
static int open_agent(struct top_guest *g)
{
    struct top_agent *ag = &g->ag;
    const struct usc_control_block *hdr;
    const struct usc_physmem *pm = NULL;
    int err;

    err = guest_ram(g, &pm);
    if (err)
        return err;
    /* A VMM process's target scanned its memory for the block already. */
    if (g->kind == TOP_KIND_PROC) {
        uint64_t cb;

        /* at the block the target found, read through the mirror */
        err = usc_target_agent_at(g->hv->t, &cb);
        if (!err)
            err = usc_agent_open(pm, cb, &ag->agent);
        if (err)
            return err;
    } else {
        err = usc_agent_open(pm, USC_AGENT_SCAN, &ag->agent);
    }
    /*
     * The scan passes over a block that does not validate as if it were
     * not there; where the agent was, the reason shows: a corrupt block
     * is not the same as no agent yet.
     */
    if (err == -ENOENT && ag->last_cb) {
        int why = usc_agent_open(pm, ag->last_cb, &ag->agent);

        err = why == -ENOENT ? err : why;
    }
    if (err)
        return err;
    ag->last_cb = usc_agent_paddr(ag->agent);
    hdr = usc_agent_header(ag->agent);
    usc_sanitize_text(ag->name, sizeof(ag->name), hdr->name, sizeof(hdr->name));
    /* Rings that do not check out leave TRC/s unknown, nothing more. */
    if (top_trace_open(&ag->trace, ag->agent, pm) != 0)
        memset(&ag->trace, 0, sizeof(ag->trace));
    ag->valid = 0;
    ag->nmetrics = 0;
    return 0;
}

/* Grow (*v) of (*cap) entries of (size) bytes to hold (want). */
static int reserve(void **v, size_t *cap, size_t want, size_t size)
{
    size_t ncap = *cap ? *cap : 16;
    void *nv;

    if (want <= *cap)
        return 0;
    while (ncap < want)
        ncap *= 2;
    nv = realloc(*v, ncap * size);
    if (!nv)
        return -ENOMEM;
    *v = nv;
    *cap = ncap;
    return 0;
}

/* Take in (n) metrics just read; rates against the previous refresh. */
static int take_metrics(struct top_agent *ag, const struct usc_agent_metric *m,
                        size_t n, double dt)
{
    size_t known = ag->nmetrics;
    int err = reserve((void **)&ag->metrics, &ag->metrics_cap, n,
                      sizeof(*ag->metrics));

    if (err)
        return err;
    for (size_t i = 0; i < n; i++) {
        struct top_metric *t = &ag->metrics[i];

        /* A published slot keeps its name and kind: only values move. */
        if (i >= known || t->kind != m[i].kind) {
            usc_sanitize_text(t->name, sizeof(t->name), m[i].name,
                              sizeof(m[i].name));
            usc_sanitize_text(t->unit, sizeof(t->unit), m[i].unit,
                              sizeof(m[i].unit));
            t->kind = m[i].kind;
            usc_sanitize_prom_name(t->prom, sizeof(t->prom), m[i].name,
                                   m[i].unit, m[i].kind == USC_METRIC_COUNTER,
                                   &t->conv);
            t->rate = NAN;
        } else if (t->kind == USC_METRIC_COUNTER && dt > 0 &&
                   m[i].value >= t->value) {
            t->rate = (double)(m[i].value - t->value) / dt;
        } else {
            t->rate = NAN;
        }
        t->value = m[i].value;
    }
    ag->nmetrics = n;
    return 0;
}

/* Threads: how many live and their switches in total. */
static int take_threads(struct top_agent *ag, struct top_scratch *s,
                        uint32_t used)
{
    size_t n = 0;
    int err = reserve((void **)&s->threads, &s->threads_cap, used ? used : 1,
                      sizeof(*s->threads));

    size_t nbad = 0;

    /* a slot refused (its vCPU out of range...) is left out on its own */
    if (!err)
        err = usc_agent_threads_salvage(ag->agent, s->threads, s->threads_cap,
                                        &n, NULL, &nbad);
    if (err)
        return err;
    ag->threads_refused = (uint32_t)nbad;
    ag->threads = 0;
    ag->switches = 0;
    for (size_t i = 0; i < n; i++) {
        if (s->threads[i].state != USC_THREAD_EXITED)
            ag->threads++;
        ag->switches += s->threads[i].switches;
    }
    return 0;
}

/* Events written and lost, over every vCPU's trace ring. */
static int take_rings(struct top_agent *ag, struct top_scratch *s,
                      uint64_t *delta, int *delta_known)
{
    *delta = 0;
    *delta_known = 0;
    ag->trace_known = ag->trace.t != NULL;
    if (!ag->trace_known)
        return 0;
    if (!s->packet) {
        s->packet = malloc(USC_TRACE_PACKET_MAX);
        if (!s->packet)
            return -ENOMEM;
    }
    return top_trace_sample(&ag->trace, s->packet, delta, delta_known,
                            &ag->trace_lost);
}

/* One read of everything the list shows; -ESTALE asks for a reopen. */
static int read_agent(struct top_agent *ag, struct top_scratch *s,
                      int64_t now_ms)
{
    uint64_t old_switches = ag->switches, events = 0;
    int had = ag->valid, events_known = 0;
    double dt = had ? (double)(now_ms - ag->at_ms) / 1000.0 : 0;
    size_t n = 0;
    int err;

    ag->valid = 0;
    err = usc_agent_status(ag->agent, &ag->st);
    if (err)
        return err;
    err = reserve((void **)&s->metrics, &s->metrics_cap,
                  ag->st.metrics_count ? ag->st.metrics_count : 1,
                  sizeof(*s->metrics));
    if (!err)
        err = usc_agent_metrics(ag->agent, s->metrics, s->metrics_cap, &n);
    /* More published since the status was read: the first ones do. */
    if (err == -ENOSPC)
        err = 0;
    if (!err)
        err = take_metrics(ag, s->metrics, n, dt);
    if (!err)
        err = take_threads(ag, s, ag->st.threads_used);
    if (!err)
        err = take_rings(ag, s, &events, &events_known);
    if (err)
        return err;
    ag->uptime = usc_agent_uptime(ag->agent, &ag->st);
    ag->switch_rate = had && dt > 0 && ag->switches >= old_switches
                          ? (double)(ag->switches - old_switches) / dt
                          : NAN;
    ag->trace_events += events;
    ag->trace_rate = had && dt > 0 && ag->trace_known && events_known
                         ? (double)events / dt
                         : NAN;
    ag->at_ms = now_ms;
    ag->valid = 1;
    ag->err = 0;
    return 0;
}

void top_agent_refresh(struct top_guest *g, int64_t now_ms,
                       struct top_scratch *s)
{
    struct top_agent *ag = &g->ag;
    int xen = g->kind == TOP_KIND_XEN, proc = g->kind == TOP_KIND_PROC;
    int max_ms = xen || proc ? BACKOFF_MAX_XEN_MS : BACKOFF_MAX_MS;
    int err;

    /* A domain (a VMM) not open (yet) costs nothing to ask again. */
    if ((xen || proc) && (!g->hv || !g->hv->t)) {
        ag->err = xen && g->dom.open_err     ? g->dom.open_err
                  : proc && g->proc.open_err ? g->proc.open_err
                                             : -ENODEV;
        ag->valid = 0;
        return;
    }
    if (!ag->agent) {
        if (now_ms < ag->retry_ms)
            return;
        err = open_agent(g);
        if (err) {
            ag->err = err;
            backoff(ag, now_ms, max_ms);
            return;
        }
        ag->backoff_ms = 0;
    }
    err = read_agent(ag, s, now_ms);
    if (err == -ESTALE) {
        /* The guest rebooted or moved its block: find it again now. */
        top_trace_close(&ag->trace);
        usc_agent_close(ag->agent);
        ag->agent = NULL;
        err = open_agent(g);
        if (!err)
            err = read_agent(ag, s, now_ms);
        if (err && !ag->agent)
            backoff(ag, now_ms, max_ms);
    }
    if (err) {
        ag->err = err;
        ag->valid = 0;
    }
}
