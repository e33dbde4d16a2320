/* A guest's hypervisor figures and controls, run by a worker thread. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fdio.h"
#include "unitop.h"

/* Errors that mean nobody listens on the monitor any more. */
static int is_gone(int err)
{
    return err == -ENOENT || err == -ECONNREFUSED || err == -ECONNRESET;
}

/* Read guest.json once: when unirun started the guest. */
static void read_info(struct top_hv *hv, const char *name)
{
    struct usc_guest_info gi;

    if (usc_guest_info_read(name, &gi) == 0) {
        hv->w_start_time = gi.start_time;
        hv->info_read = 1;
    }
}

/*
 * No monitor to talk to: dead when guest.json names a QEMU that is gone,
 * else starting (unirun writes guest.json once QEMU answers).
 */
static void absent(const char *name, struct top_hv_sample *s)
{
    struct usc_guest_info gi;

    if (usc_guest_info_read(name, &gi) == 0 &&
        !usc_guest_pid_alive(gi.pid, name)) {
        s->vm = USC_VM_DEAD;
        return;
    }
    s->err = -EINPROGRESS;
}

/* Pause or resume (job) the guest: a pause stays after unitop lets go. */
static void action(struct top_hv *hv, const char *name, enum top_job job,
                   struct top_hv_sample *s)
{
    const char *what = job == TOP_JOB_PAUSE ? "pause" : "resume";
    int err = hv->t ? 0 : usc_target_open(name, &hv->t);

    if (!err)
        err = job == TOP_JOB_PAUSE ? usc_target_pause(hv->t)
                                   : usc_target_resume(hv->t);
    if (err)
        snprintf(s->msg, sizeof(s->msg), "%s: %s: %s", name, what,
                 is_gone(err) ? "QEMU is gone" : strerror(-err));
    else
        snprintf(s->msg, sizeof(s->msg), "%s: %s", name,
                 job == TOP_JOB_PAUSE ? "paused" : "resumed");
}

/* Host CPU time of each vCPU thread (found through QMP at open). */
static void vcpu_stats(struct top_hv *hv, struct top_hv_sample *s)
{
    uint32_t n =
        hv->w_info.nvcpus < TOP_VCPUS_MAX ? hv->w_info.nvcpus : TOP_VCPUS_MAX;

    for (uint32_t v = 0; v < n; v++) {
        struct usc_vcpu_stats st;

        s->vcpu[v].tid = -1;
        s->vcpu[v].cpu_ns = USC_STAT_UNKNOWN;
        s->vcpu[v].exits = USC_STAT_UNKNOWN;
        if (usc_target_vcpu_stats(hv->t, v, &st) == 0) {
            s->vcpu[v].tid = st.host_tid;
            s->vcpu[v].cpu_ns = st.cpu_ns;
            s->vcpu[v].exits = st.exits;
        }
    }
    s->nvcpu_stats = n;
}

void top_hv_run(struct top_hv *hv, const char *name, enum top_job job)
{
    struct top_hv_sample *s = &hv->next;
    int err;

    memset(s, 0, sizeof(*s));
    s->pid = -1;
    s->start_time = -1;
    if (job == TOP_JOB_PAUSE || job == TOP_JOB_RESUME)
        action(hv, name, job, s);
    if (!hv->t) {
        err = usc_target_open(name, &hv->t);
        if (is_gone(err)) {
            absent(name, s);
            goto out;
        }
        if (err) {
            s->err = err;
            goto out;
        }
        /* Fixed facts, once: describe costs a QMP exchange. */
        if (usc_target_describe(hv->t, &hv->w_info) != 0)
            memset(&hv->w_info, 0, sizeof(hv->w_info));
    }
    if (!hv->info_read)
        read_info(hv, name);
    s->nvcpus = hv->w_info.nvcpus;
    s->mem_bytes = hv->w_info.mem_bytes;
    s->pid = hv->w_info.pid;
    s->start_time = hv->info_read ? hv->w_start_time : -1;
    err = usc_target_run_state(hv->t, &s->vm);
    if (is_gone(err)) {
        s->vm = USC_VM_DEAD;
        err = 0;
    }
    if (err) {
        s->err = err;
        goto out;
    }
    if (s->vm == USC_VM_DEAD) {
        /* Reopened if a QEMU answers under this name again. */
        usc_target_close(hv->t);
        hv->t = NULL;
        goto out;
    }
    vcpu_stats(hv, s);
out:
    s->at_ms = usc_now_ms();
}

void top_hv_close(struct top_hv *hv)
{
    if (!hv)
        return;
    usc_target_close(hv->t);
    hv->t = NULL;
}
