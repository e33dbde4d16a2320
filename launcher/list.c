/* unirun --list: one line per guest of the run directory. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent_reader.h"
#include "procvmm.h"
#include "rundir.h"
#include "target.h"
#include "unirun.h"

/*
 * The guest's run state through its backend, which bounds every QMP
 * exchange with a deadline, so a stuck QEMU costs time, never a hang.
 */
static enum usc_vm_state probe_state(const char *name)
{
    enum usc_vm_state state = USC_VM_UNKNOWN;
    struct usc_target *t;
    int err;

    err = usc_target_open(name, &t);
    if (err == -ENOENT || err == -ECONNREFUSED)
        return USC_VM_DEAD;
    if (err)
        return USC_VM_UNKNOWN;
    if (usc_target_run_state(t, &state) != 0)
        state = USC_VM_UNKNOWN;
    usc_target_close(t);
    return state;
}

/*
 * "yes" when the guest's RAM file holds a live agent control block, and
 * then the agent's own run state into (*agent_state). The file is read
 * alone (qemu:,mem=), so a monitor held by another tool does not hide the
 * agent.
 */
static const char *probe_agent(const char *name, uint32_t *agent_state)
{
    struct usc_target_spec *spec;
    struct usc_target *t = NULL;
    struct usc_agent *a = NULL;
    struct usc_agent_status st;
    int found = 0;

    spec = calloc(1, sizeof(*spec));
    if (!spec)
        return "?";
    spec->kind = USC_TARGET_QEMU;
    spec->domid = -1;
    if (usc_rundir_guest_path(name, USC_RUNDIR_MEM, spec->mem,
                              sizeof(spec->mem)) == 0 &&
        usc_target_open_spec(spec, &t) == 0 &&
        usc_agent_open(usc_target_physmem(t), USC_AGENT_SCAN, &a) == 0) {
        found = 1;
        if (usc_agent_status(a, &st) == 0)
            *agent_state = st.state;
    }
    usc_agent_close(a);
    usc_target_close(t);
    free(spec);
    return found ? "yes" : "no";
}

/*
 * 1 if guest (name) is known by its RAM file alone (USC_RUNDIR_AGENT_ONLY):
 * no QEMU to ask, so its agent alone says how it is.
 */
static int agent_only(const char *name)
{
    char path[PATH_MAX];

    return usc_rundir_guest_path(name, USC_RUNDIR_AGENT_ONLY, path,
                                 sizeof(path)) == 0 &&
           access(path, F_OK) == 0;
}

static void print_agent_only(const char *name, int width)
{
    uint32_t st = USC_STATE_BOOTING;
    const char *agent = probe_agent(name, &st);
    enum usc_vm_state state = st == USC_STATE_RUNNING    ? USC_VM_RUNNING
                              : st == USC_STATE_PANICKED ? USC_VM_PANICKED
                              : st == USC_STATE_HALTED   ? USC_VM_SHUTDOWN
                                                         : USC_VM_UNKNOWN;

    printf("%-*s %-8s %5s %7s %8s %5s %s\n", width, name,
           usc_vm_state_name(state), "-", "-", "-", agent, "-");
    fflush(stdout);
}

/* Seconds as "42s", "3m05s", "2h07m" or "4d03h". */
static void format_uptime(int64_t s, char *buf, size_t size)
{
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(buf, size, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(buf, size, "%lldm%02llds", (long long)(s / 60),
                 (long long)(s % 60));
    else if (s < 86400)
        snprintf(buf, size, "%lldh%02lldm", (long long)(s / 3600),
                 (long long)(s / 60 % 60));
    else
        snprintf(buf, size, "%lldd%02lldh", (long long)(s / 86400),
                 (long long)(s / 3600 % 24));
}

static void print_guest(const char *name, int width, time_t now)
{
    struct usc_guest_info gi;
    enum usc_vm_state state = USC_VM_DEAD;
    char vcpus[16] = "-", mem[24] = "-", uptime[24] = "-";
    const char *agent = "-", *state_name, *core = "-";
    int known = usc_guest_info_read(name, &gi) == 0;

    if (!known && agent_only(name)) {
        print_agent_only(name, width);
        return;
    }
    /* Without guest.json (a guest still starting) only QMP can tell. */
    if (!known || usc_guest_pid_alive(gi.pid, name))
        state = probe_state(name);
    if (known) {
        snprintf(vcpus, sizeof(vcpus), "%u", gi.vcpus);
        snprintf(mem, sizeof(mem), "%uM", gi.memory_mib);
    }
    if (state != USC_VM_DEAD) {
        uint32_t agent_state = USC_STATE_BOOTING;
        agent = probe_agent(name, &agent_state);
        /* QEMU sees a halted vCPU run; the agent knows it panicked. */
        if (state == USC_VM_RUNNING && agent_state == USC_STATE_PANICKED)
            state = USC_VM_PANICKED;
        if (known)
            format_uptime((int64_t)now - gi.start_time, uptime, sizeof(uptime));
    }
    state_name = usc_vm_state_name(state);
    /* QEMU gone: how unirun saw the guest end, when it did. */
    if (state == USC_VM_DEAD && known &&
        (!strcmp(gi.state, USC_GUEST_EXITED) ||
         !strcmp(gi.state, USC_GUEST_CRASHED)))
        state_name = gi.state;
    if (known && gi.core[0])
        core = gi.core;
    printf("%-*s %-8s %5s %7s %8s %5s %s\n", width, name, state_name, vcpus,
           mem, uptime, agent, core);
    fflush(stdout);
}

/*
 * A VMM process unirun did not start (pid:PID), after the run directory's
 * guests: its state, size and agent through the proc backend, marked as
 * not ours.
 */
static void print_vmm(const struct usc_vmm_proc *p, int width, time_t now)
{
    char target[32], vcpus[16] = "-", mem[24] = "-", uptime[24] = "-";
    enum usc_vm_state state = USC_VM_RUNNING;
    struct usc_target_info info;
    struct usc_agent_status st;
    struct usc_target *t = NULL;
    struct usc_agent *a = NULL;
    const char *agent = "no";
    int64_t start = usc_proc_start_epoch(p->start_ticks);

    snprintf(target, sizeof(target), "pid:%d", p->pid);
    if (usc_target_open(target, &t) == 0 &&
        usc_target_describe(t, &info) == 0) {
        state = info.state;
        if (info.nvcpus)
            snprintf(vcpus, sizeof(vcpus), "%u", info.nvcpus);
        if (info.mem_bytes)
            snprintf(mem, sizeof(mem), "%lluM",
                     (unsigned long long)(info.mem_bytes >> 20));
        if (usc_target_agent_open(t, &a) == 0) {
            agent = "yes";
            if (usc_agent_status(a, &st) == 0 &&
                st.state == USC_STATE_PANICKED && state == USC_VM_RUNNING)
                state = USC_VM_PANICKED;
        }
    }
    if (start >= 0)
        format_uptime((int64_t)now - start, uptime, sizeof(uptime));
    printf("%-*s %-8s %5s %7s %8s %5s %s  (%s, not unirun's)\n", width, target,
           usc_vm_state_name(state), vcpus, mem, uptime, agent, "-",
           usc_vmm_name(p->kind));
    fflush(stdout);
    usc_agent_close(a);
    usc_target_close(t);
}

int unirun_list(void)
{
    char path[PATH_MAX] = "run directory";
    struct usc_vmm_proc *vmms = NULL;
    size_t nvmms = 0;
    char **names;
    size_t n, i;
    int width = 4, err;

    err = usc_rundir_list(&names, &n);
    if (err) {
        usc_rundir_path(path, sizeof(path));
        unirun_error(path, "%s",
                     err == -EPERM ? "not owned by us or open to "
                                     "others (needs 0700)"
                                   : strerror(-err));
        return UNIRUN_EXIT_FAIL;
    }
    for (i = 0; i < n; i++)
        if ((int)strlen(names[i]) > width)
            width = (int)strlen(names[i]);
    /* The host's other VMMs: those whose memory we may read. */
    if (!usc_vmm_scan_enabled() || usc_vmm_list(&vmms, &nvmms) != 0)
        nvmms = 0;
    for (i = 0; i < nvmms; i++)
        if (!vmms[i].ours && vmms[i].readable && width < 14)
            width = 14; /* "pid:" and a pid */
    printf("%-*s %-8s %5s %7s %8s %5s %s\n", width, "NAME", "STATE", "VCPUS",
           "MEM", "UPTIME", "AGENT", "CORE");
    for (i = 0; i < n; i++)
        print_guest(names[i], width, time(NULL));
    for (i = 0; i < nvmms; i++)
        if (!vmms[i].ours && vmms[i].readable)
            print_vmm(&vmms[i], width, time(NULL));
    free(vmms);
    usc_rundir_list_free(names, n);
    return 0;
}
