/* Opening a guest for tracing, its clock and thread names; error lines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "procvmm.h"
#include "unitrace.h"

/* How long to watch the heartbeat for a tick, to pin the clock's offset. */
#define CLOCK_WATCH_S 0.3

int unitrace_fail(const char *context, const char *reason)
{
    fprintf(stderr, "unitrace: %s: %s\n", context, reason);
    return 1;
}

int unitrace_fail_errno(const char *context, int err)
{
    if (err == -ESRCH)
        return unitrace_fail(context, "the guest went away");
    return unitrace_fail(context, strerror(err < 0 ? -err : err));
}

int unitrace_usage(const char *what)
{
    fprintf(stderr, "unitrace: %s (see unitrace --help)\n", what);
    return 2;
}

double unitrace_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double unitrace_parse_seconds(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    return end != s && !*end && v >= 0 && v < 1e9 ? v : -1;
}

static const char *agent_error(int err)
{
    switch (err) {
    case -ENOENT:
        return "no uniscope agent found in guest memory";
    case -EPROTONOSUPPORT:
        return "the guest's agent speaks another ABI version";
    case -EINVAL:
        return "the guest's agent control block is corrupt";
    default:
        return strerror(-err);
    }
}

int unitrace_guest_open(const char *spec, struct unitrace_guest *g)
{
    struct usc_target_info ti;
    char line[512];
    int err;

    memset(g, 0, sizeof(*g));
    err = usc_target_open(spec, &g->target);
    if (err && usc_proc_open_error(spec, err, line, sizeof(line)))
        return unitrace_fail(spec, line);
    if (err)
        return unitrace_fail(spec,
                             err == -ENOENT ? "no such guest" : strerror(-err));
    if (usc_target_describe(g->target, &ti) == 0) {
        g->is_core = strcmp(ti.hypervisor, "core") == 0;
        if (ti.phys_end == 0) {
            /* e.g. dom0 itself: Xen refuses it a mapping of its own RAM */
            unitrace_guest_close(g);
            return unitrace_fail(spec, "its memory cannot be read from here "
                                       "(the hypervisor refuses a mapping)");
        }
    }
    err = usc_target_agent_open(g->target, &g->agent);
    if (err) {
        unitrace_guest_close(g);
        return unitrace_fail(spec, agent_error(err));
    }
    err = usc_trace_open(g->agent, usc_target_physmem(g->target), &g->trace);
    if (err) {
        unitrace_guest_close(g);
        return unitrace_fail(spec, err == -EINVAL
                                       ? "the guest's trace tables are corrupt"
                                       : strerror(-err));
    }
    return 0;
}

void unitrace_guest_close(struct unitrace_guest *g)
{
    usc_trace_close(g->trace);
    usc_agent_close(g->agent);
    usc_target_close(g->target);
    memset(g, 0, sizeof(*g));
}

/* Wall-clock time (s, ns) that guest timestamp (ts) happened at (wall). */
static void set_offset(struct usc_ctf_info *info, double wall, uint64_t ts)
{
    double hz = (double)(info->ts_hz ? info->ts_hz : 1000000000ull);
    double origin = wall - (double)ts / hz;
    double s = origin < 0 ? 0 : origin;

    info->offset_s = (int64_t)s;
    info->offset_ns = (uint64_t)((s - (double)info->offset_s) * 1e9);
    if (info->offset_ns > 999999999)
        info->offset_ns = 999999999;
    info->offset_known = true;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A live guest: the moment its heartbeat changes, the guest's clock read
 * about (heartbeat) then. A guest that does not tick leaves it unknown.
 */
static void live_offset(struct unitrace_guest *g, struct usc_ctf_info *info)
{
    struct usc_agent_status st;
    struct timespec pause = {0, 1000000};

    if (usc_agent_status(g->agent, &st) != 0)
        return;
    uint64_t first = st.heartbeat_ts;
    double until = unitrace_now() + CLOCK_WATCH_S;
    while (unitrace_now() < until) {
        nanosleep(&pause, NULL);
        if (usc_agent_status(g->agent, &st) != 0)
            return;
        if (st.heartbeat_ts != first) {
            set_offset(info, wall_now(), st.heartbeat_ts);
            return;
        }
    }
}

/* A core: it was written about when the guest last ticked. */
static void core_offset(const char *spec, struct unitrace_guest *g,
                        struct usc_ctf_info *info)
{
    struct usc_agent_status st;
    struct stat sb;
    const char *path = strncmp(spec, "core:", 5) ? spec : spec + 5;

    if (usc_agent_status(g->agent, &st) != 0 || stat(path, &sb) != 0)
        return;
    set_offset(info, (double)sb.st_mtim.tv_sec + sb.st_mtim.tv_nsec / 1e9,
               st.heartbeat_ts);
}

void unitrace_guest_info(struct unitrace_guest *g, const char *spec,
                         const char *mode, struct usc_ctf_info *info)
{
    const struct usc_control_block *h = usc_agent_header(g->agent);

    memset(info, 0, sizeof(*info));
    snprintf(info->guest, sizeof(info->guest), "%s", h->name);
    info->ts_hz = h->ts_hz;
    info->nvcpus = usc_trace_nrings(g->trace);
    snprintf(info->source, sizeof(info->source), "%s",
             g->is_core ? "core" : "live");
    snprintf(info->mode, sizeof(info->mode), "%s", mode);
    if (g->is_core)
        core_offset(spec, g, info);
    else
        live_offset(g, info);
}

void unitrace_guest_threads(struct unitrace_guest *g, struct usc_ctf_writer *w)
{
    size_t cap = USC_AGENT_MAX_THREADS, n = 0;
    struct usc_agent_thread *th = calloc(cap, sizeof(*th));
    struct usc_ctf_thread *out = calloc(cap, sizeof(*out));

    if (th && out) {
        size_t nbad = 0; /* slots refused: named by none */
        int err = usc_agent_threads_salvage(g->agent, th, cap, &n, NULL, &nbad);
        if (err && err != -ENOSPC)
            n = 0;
        for (size_t i = 0; i < n; i++) {
            out[i].id = th[i].id;
            snprintf(out[i].name, sizeof(out[i].name), "%s", th[i].name);
        }
        usc_ctf_writer_threads(w, out, n);
    }
    free(th);
    free(out);
}
