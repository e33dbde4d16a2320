/* A guest's figures as best known, from its hypervisor or else its agent. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "unitop.h"

int64_t top_guest_mem_bytes(const struct top_guest *g)
{
    if (g->hv && g->hv->valid && g->hv->cur.mem_bytes)
        return (int64_t)g->hv->cur.mem_bytes;
    /* The RAM file is all of the guest's RAM, as QEMU lays it out. */
    if (g->ag.ram_bytes)
        return (int64_t)g->ag.ram_bytes;
    return -1;
}

int64_t top_guest_vcpus(const struct top_guest *g)
{
    if (g->hv && g->hv->valid && g->hv->cur.nvcpus)
        return g->hv->cur.nvcpus;
    /* Without a hypervisor, the vCPUs the agent saw come online. */
    if (g->ag.valid && g->ag.st.vcpus_online)
        return __builtin_popcount(g->ag.st.vcpus_online);
    return -1;
}

double top_guest_uptime(const struct top_guest *g, int64_t now_epoch)
{
    if (g->state == TOP_STATE_DEAD)
        return NAN;
    if (g->hv && g->hv->valid && g->hv->cur.start_time >= 0 &&
        now_epoch >= g->hv->cur.start_time)
        return (double)(now_epoch - g->hv->cur.start_time);
    if (g->ag.valid && g->ag.uptime > 0)
        return g->ag.uptime;
    return NAN;
}

int64_t top_guest_heap(const struct top_guest *g)
{
    if (!g->ag.valid)
        return -1;
    /* The agent's documented convention (docs/agent.md): a gauge. */
    for (size_t i = 0; i < g->ag.nmetrics; i++) {
        const struct top_metric *m = &g->ag.metrics[i];

        if (m->kind == USC_METRIC_GAUGE && !strcmp(m->name, "heap_used") &&
            (int64_t)m->value >= 0)
            return (int64_t)m->value;
    }
    return -1;
}

int top_guest_target(const struct top_guest *g, char *buf, size_t size)
{
    char mem[PATH_MAX];
    int n, err;

    if (g->kind == TOP_KIND_PROC) {
        n = snprintf(buf, size, "pid:%d", g->proc.pid);
    } else if (g->kind == TOP_KIND_XEN) {
        /* By name as the user knows it; a name that is none: by id. */
        n = g->dom.named ? snprintf(buf, size, "xen:%s", g->name)
                         : snprintf(buf, size, "xen:%u", g->dom.domid);
    } else if (g->kind == TOP_KIND_QEMU) {
        n = snprintf(buf, size, "%s", g->name);
    } else {
        err = usc_rundir_guest_path(g->name, USC_RUNDIR_MEM, mem, sizeof(mem));
        if (err)
            return err;
        n = snprintf(buf, size, "qemu:,mem=%s", mem);
    }
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

const char *top_guest_hypervisor(const struct top_guest *g)
{
    if (g->kind == TOP_KIND_PROC)
        return usc_vmm_name(g->proc.vmm);
    return g->kind == TOP_KIND_XEN ? "xen" : "qemu";
}

const char *top_guest_kind(const struct top_guest *g)
{
    switch (g->kind) {
    case TOP_KIND_XEN:
        return "xen";
    case TOP_KIND_PROC:
        return "pid";
    case TOP_KIND_AGENT_ONLY:
        return "agent-only";
    default:
        return "qemu";
    }
}
