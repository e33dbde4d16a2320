/* Xen domains as guests: listed once per refresh, read through xen:DOMID. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdio.h"
#include "unitop.h"

/* Retries of a domain that would not open: 250 ms, doubling to 4 s. */
#define OPEN_BACKOFF_MIN_MS 250
#define OPEN_BACKOFF_MAX_MS 4000

static int open_domid(uint32_t domid, struct usc_target **out)
{
    char spec[32];

    snprintf(spec, sizeof(spec), "xen:%u", domid);
    return usc_target_open(spec, out);
}

const struct top_xen_ops top_xen_real = {
    .list = usc_xen_list_domains,
    .open = open_domid,
    .now_ms = usc_now_ms,
};

/*
 * The row name of domain (d) into (buf): its Xen name made printable, or
 * "domain-ID" for a domain without one. Returns 1 when the name can serve
 * as xen:NAME (a valid name, not all digits, which would read as an id).
 */
static int domain_name(const struct usc_xen_domain *d, char *buf, size_t size)
{
    usc_sanitize_text(buf, size, d->name, sizeof(d->name));
    if (!buf[0]) {
        snprintf(buf, size, "domain-%u", d->domid);
        return 0;
    }
    return usc_rundir_name_valid(buf) && buf[strspn(buf, "0123456789")];
}

static struct top_guest *domain_new(const struct usc_xen_domain *d,
                                    const char *name, int named)
{
    struct top_guest *g = top_guest_new(TOP_KIND_XEN, name);

    if (!g)
        return NULL;
    g->dom.domid = d->domid;
    g->dom.hvm = d->hvm;
    g->dom.named = named;
    return g;
}

/* Open (g)'s target if not yet, at most once per backoff step. */
static void open_domain(struct top_fleet *f, struct top_guest *g,
                        int64_t now_ms)
{
    struct top_domain *dom = &g->dom;
    int err;

    if (g->hv->t || now_ms < dom->retry_ms)
        return;
    err = f->xen->open(dom->domid, &g->hv->t);
    if (err) {
        g->hv->t = NULL;
        dom->open_err = err;
        top_backoff(&dom->backoff_ms, &dom->retry_ms, now_ms,
                    OPEN_BACKOFF_MIN_MS, OPEN_BACKOFF_MAX_MS);
        return;
    }
    dom->open_err = 0;
    dom->backoff_ms = 0;
    /* Its RAM is readable now: look for the agent at this refresh. */
    g->ag.retry_ms = 0;
    g->ag.backoff_ms = 0;
}

/* Close (g)'s target, its agent first (it reads through the target). */
static void drop_target(struct top_guest *g, int why)
{
    top_trace_close(&g->ag.trace);
    usc_agent_close(g->ag.agent);
    g->ag.agent = NULL;
    g->ag.valid = 0;
    g->ag.nmetrics = 0;
    usc_target_close(g->hv->t);
    g->hv->t = NULL;
    g->dom.open_err = why;
    g->dom.retry_ms = 0;
}

/* Per-vCPU CPU time from (g)'s target; none when it cannot say. */
static void vcpu_stats(struct top_fleet *f, struct top_guest *g,
                       struct top_hv_sample *s)
{
    uint32_t n = s->nvcpus < TOP_VCPUS_MAX ? s->nvcpus : TOP_VCPUS_MAX;

    s->nvcpu_stats = 0;
    if (!g->hv->t || s->vm == USC_VM_DEAD)
        return;
    /* Opening a domain takes a while: these are timed on their own. */
    s->vcpu_ms = f->xen->now_ms();
    for (uint32_t v = 0; v < n; v++) {
        struct usc_vcpu_stats st;
        int err = usc_target_vcpu_stats(g->hv->t, v, &st);

        /*
         * The domain our target opened is gone while the list still has
         * its id: another made under it. Opened again at the next refresh.
         */
        if (err == -ESRCH) {
            drop_target(g, err);
            return;
        }
        if (err == -ENOTSUP)
            return; /* a backend without them */
        s->vcpu[v].tid = -1;
        s->vcpu[v].cpu_ns = err ? USC_STAT_UNKNOWN : st.cpu_ns;
        s->vcpu[v].exits = err ? USC_STAT_UNKNOWN : st.exits;
    }
    s->nvcpu_stats = n;
}

void top_hv_rates(struct top_hv *hv)
{
    const struct top_hv_sample *a = &hv->prev, *b = &hv->cur;
    double dt_ns = (double)(b->at_ms - a->at_ms) * 1e6;
    double vdt_ns = (double)(b->vcpu_ms - a->vcpu_ms) * 1e6;

    hv->cpu_pct = NAN;
    for (uint32_t v = 0; v < a->nvcpu_stats || v < b->nvcpu_stats; v++)
        hv->vcpu_pct[v] = NAN;
    if (hv->valid < 2 || dt_ns <= 0)
        return;
    if (a->cpu_ns != USC_STAT_UNKNOWN && b->cpu_ns != USC_STAT_UNKNOWN &&
        b->cpu_ns >= a->cpu_ns)
        hv->cpu_pct = (double)(b->cpu_ns - a->cpu_ns) / dt_ns * 100.0;
    if (a->nvcpu_stats != b->nvcpu_stats || vdt_ns <= 0)
        return;
    for (uint32_t v = 0; v < b->nvcpu_stats; v++) {
        const struct top_vcpu *x = &a->vcpu[v], *y = &b->vcpu[v];

        if (x->cpu_ns != USC_STAT_UNKNOWN && y->cpu_ns != USC_STAT_UNKNOWN &&
            y->cpu_ns >= x->cpu_ns)
            hv->vcpu_pct[v] = (double)(y->cpu_ns - x->cpu_ns) / vdt_ns * 100.0;
    }
}

/* (g)'s sample at (now_ms): the list's figures, its target's vCPUs. */
static void sample(struct top_fleet *f, struct top_guest *g,
                   const struct usc_xen_domain *d, int64_t now_ms)
{
    struct top_hv *hv = g->hv;
    struct top_hv_sample *s = &hv->cur;

    /* A dying domain is not worth opening; one that crashed still is. */
    if (d->state != USC_VM_DEAD)
        open_domain(f, g, now_ms);
    hv->prev = hv->cur;
    s->at_ms = now_ms;
    s->err = 0;
    s->vm = d->state;
    s->nvcpus = d->nvcpus;
    s->mem_bytes = d->mem_bytes;
    s->pid = -1;
    s->start_time = -1;
    s->cpu_ns = d->cpu_ns;
    s->msg[0] = '\0';
    vcpu_stats(f, g, s);
    if (hv->valid < 2)
        hv->valid++;
    top_hv_rates(hv);
}

/* (g) is still the domain (d) of the same id, not one made since. */
static int same_domain(const struct top_guest *g,
                       const struct usc_xen_domain *d)
{
    const struct top_hv_sample *s = &g->hv->cur;

    /* CPU time never goes back in one domain's life. */
    return !g->hv->valid || s->cpu_ns == USC_STAT_UNKNOWN ||
           d->cpu_ns == USC_STAT_UNKNOWN || d->cpu_ns >= s->cpu_ns;
}

/*
 * Take the name (d) has now for (g): returns 1 when it changed. A domain
 * is named just after it is made, renamed (xl rename) in place, and its
 * name goes from xenstore just before it does: that leaves the row's.
 */
static int rename_domain(struct top_guest *g, const struct usc_xen_domain *d)
{
    char name[USC_TARGET_NAME_MAX];
    int named = domain_name(d, name, sizeof(name));

    if (!d->name[0] || !strcmp(g->name, name))
        return 0;
    memcpy(g->name, name, sizeof(g->name));
    g->dom.named = named;
    return 1;
}

static int compare_domids(const void *a, const void *b)
{
    uint32_t x = ((const struct usc_xen_domain *)a)->domid;
    uint32_t y = ((const struct usc_xen_domain *)b)->domid;

    return x < y ? -1 : x > y;
}

/*
 * Merge the (nd) domains (d), sorted by id, into f->doms: returns 1 when
 * rows came or went, 0 when not, -ENOMEM (nothing changed).
 */
static int merge(struct top_fleet *f, const struct usc_xen_domain *d, size_t nd,
                 int64_t now_ms)
{
    struct top_guest **nv = malloc((nd ? nd : 1) * sizeof(*nv));
    size_t i = 0, j = 0, k = 0;
    int changed = 0;

    if (!nv)
        return -ENOMEM;
    while (i < f->ndoms || j < nd) {
        struct top_guest *g = i < f->ndoms ? f->doms[i] : NULL;
        char name[USC_TARGET_NAME_MAX];
        int named;

        if (j < nd && d[j].domid == 0) {
            j++; /* dom0: the host itself, not a guest to watch */
            continue;
        }
        if (g && (j == nd || g->dom.domid < d[j].domid)) {
            top_guest_free(g); /* destroyed */
            i++;
            changed = 1;
            continue;
        }
        if (g && g->dom.domid == d[j].domid) {
            i++;
            if (!same_domain(g, &d[j])) {
                top_guest_free(g);
                g = NULL;
            } else if (rename_domain(g, &d[j])) {
                changed = 1; /* sorted in again under its new name */
            }
        } else {
            g = NULL;
        }
        if (!g) {
            named = domain_name(&d[j], name, sizeof(name));
            g = domain_new(&d[j], name, named);
            changed = 1;
        }
        if (g) {
            sample(f, g, &d[j], now_ms);
            nv[k++] = g;
        }
        j++;
    }
    free(f->doms);
    f->doms = nv;
    f->ndoms = k;
    return changed;
}

int top_xen_refresh(struct top_fleet *f, int64_t now_ms)
{
    struct usc_xen_domain *d = NULL;
    size_t nd = 0;
    int err;

    if (f->xen_off || !f->xen)
        return 0;
    err = f->xen->list(&d, &nd);
    if (err == -ENOTSUP || err == -ENODEV) {
        /* No Xen here, or not its privileged domain: unitop as ever. */
        f->xen_off = 1;
        return 0;
    }
    if (err == -EACCES || err == -EPERM) {
        f->xen_off = 1;
        snprintf(f->msg, sizeof(f->msg),
                 "xen: domains not listed: %s (root in dom0 sees them)",
                 strerror(-err));
        return 0;
    }
    if (err) {
        /* Said once; the rows keep their last figures till it passes. */
        if (err != f->xen_err)
            snprintf(f->msg, sizeof(f->msg), "xen: listing domains: %s",
                     strerror(-err));
        f->xen_err = err;
        return 0;
    }
    f->xen_err = 0;
    if (nd > 1)
        /* libxc's privcmd and hypercall buffers, foreign memory */
        top_more_files();
    for (size_t i = 1; i < nd; i++) {
        if (d[i - 1].domid >= d[i].domid) {
            qsort(d, nd, sizeof(*d), compare_domids);
            break;
        }
    }
    err = merge(f, d, nd, now_ms);
    free(d);
    return err == 1;
}

int top_xen_act(struct top_fleet *f, struct top_guest *g, enum top_job job)
{
    int err = top_act_target(f, g, job, g->dom.open_err,
                             "not supported for this Xen domain");

    if (!err && g->hv->valid) {
        /* Shown at once; the next listing says it again. */
        g->hv->cur.vm = job == TOP_JOB_PAUSE ? USC_VM_PAUSED : USC_VM_RUNNING;
        top_fleet_state(g, f->xen->now_ms());
    }
    return err;
}
