/* The QEMU backend: QMP for state, the RAM file for reads, the stub for code.
 */
#include "qemu.h"
#include "../fdio.h"
#include "../procvmm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How long wait_stop holds the monitor before letting other tools in. */
#define WAIT_SLICE_MS 1000
#define GIB(n) ((uint64_t)(n) << 30)

/* ---- QMP ---------------------------------------------------------------- */

int usc_qemu_qmp_open(struct qemu *qm, struct usc_qmp **out)
{
    if (!qm->qmp_path[0])
        return -ENOTSUP;
    return usc_qmp_connect(qm->qmp_path, QEMU_TIMEOUT_MS, out);
}

int usc_qemu_qmp_run(struct qemu *qm, const char *cmd, json_t *args,
                     json_t **ret)
{
    struct usc_qmp *q;
    int err = usc_qemu_qmp_open(qm, &q);

    if (err < 0)
        return err;
    err = usc_qmp_execute(q, cmd, args, ret, QEMU_TIMEOUT_MS);
    usc_qmp_close(q);
    return err;
}

static enum usc_vm_state state_of_status(const char *s)
{
    static const struct {
        const char *status;
        enum usc_vm_state state;
    } map[] = {
        {"running", USC_VM_RUNNING},
        {"debug", USC_VM_DEBUG},
        {"guest-panicked", USC_VM_PANICKED},
        {"shutdown", USC_VM_SHUTDOWN},
        {"internal-error", USC_VM_ERROR},
        /* every other status QEMU 7.2 knows is a stopped VM */
        {"paused", USC_VM_PAUSED},
        {"prelaunch", USC_VM_PAUSED},
        {"inmigrate", USC_VM_PAUSED},
        {"postmigrate", USC_VM_PAUSED},
        {"finish-migrate", USC_VM_PAUSED},
        {"restore-vm", USC_VM_PAUSED},
        {"save-vm", USC_VM_PAUSED},
        {"suspended", USC_VM_PAUSED},
        {"watchdog", USC_VM_PAUSED},
        {"io-error", USC_VM_PAUSED},
        {"colo", USC_VM_PAUSED},
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(s, map[i].status) == 0)
            return map[i].state;
    return USC_VM_UNKNOWN;
}

/* A monitor nobody listens on, or that hangs up as we connect, means QEMU
 * is gone or going. */
static int is_dead(int err)
{
    return err == -ENOENT || err == -ECONNREFUSED || err == -ECONNRESET;
}

int usc_qemu_qmp_state(struct qemu *qm, struct usc_qmp *q,
                       enum usc_vm_state *state)
{
    struct usc_qmp *own = NULL;
    json_t *ret = NULL;
    const char *status;
    int err = 0;

    if (!q) {
        err = usc_qemu_qmp_open(qm, &own);
        if (is_dead(err)) {
            *state = USC_VM_DEAD;
            return 0;
        }
        if (err < 0)
            return err;
        q = own;
    }
    err = usc_qmp_execute(q, "query-status", NULL, &ret, QEMU_TIMEOUT_MS);
    if (err < 0)
        goto out;
    status = json_string_value(json_object_get(ret, "status"));
    if (!status) {
        err = -EPROTO;
        goto out;
    }
    *state = state_of_status(status);
out:
    json_decref(ret);
    usc_qmp_close(own);
    return err;
}

/* Whether chardev (filename) is a unix socket server at (path):
 * "[disconnected:]unix:PATH,server=on[,...]". */
static int is_stub_chardev(const char *filename, const char *path)
{
    size_t n = strlen(path);

    if (strncmp(filename, "unix:", 5) != 0)
        return 0;
    filename += 5;
    return strncmp(filename, path, n) == 0 &&
           (filename[n] == ',' || filename[n] == '\0');
}

int usc_qemu_qmp_stub_free(struct qemu *qm)
{
    char real[PATH_MAX];
    json_t *ret = NULL, *dev;
    int err = 0;
    size_t i;

    if (!realpath(qm->gdb_path, real))
        snprintf(real, sizeof(real), "%s", qm->gdb_path);
    /* without an answer, connecting is all there is left to try */
    if (usc_qemu_qmp_run(qm, "query-chardev", NULL, &ret) < 0)
        return 0;
    json_array_foreach(ret, i, dev)
    {
        const char *f = json_string_value(json_object_get(dev, "filename"));
        int idle = f && strncmp(f, "disconnected:", 13) == 0;

        if (f && idle)
            f += 13;
        if (f && !idle &&
            (is_stub_chardev(f, qm->gdb_path) || is_stub_chardev(f, real)))
            err = -EBUSY;
    }
    json_decref(ret);
    return err;
}

void usc_qemu_state_event(const struct qemu *qm, enum usc_vm_state state,
                          struct usc_stop_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    switch (state) {
    case USC_VM_DEBUG:
        if (qm->stop_valid) {
            *ev = qm->stop;
            return;
        }
        ev->reason = USC_STOP_BREAKPOINT;
        break;
    case USC_VM_PANICKED:
        ev->reason = USC_STOP_PANIC;
        break;
    case USC_VM_SHUTDOWN:
    case USC_VM_ERROR:
    case USC_VM_DEAD:
        ev->reason = USC_STOP_SHUTDOWN;
        break;
    default:
        ev->reason = USC_STOP_PAUSE;
        break;
    }
}

/* vCPU host threads and QOM paths from query-cpus-fast. */
static int learn_vcpus(struct qemu *qm, struct usc_qmp *q)
{
    json_t *ret = NULL, *cpu;
    size_t i;
    int err;

    err = usc_qmp_execute(q, "query-cpus-fast", NULL, &ret, QEMU_TIMEOUT_MS);
    if (err < 0)
        return err;
    if (!json_is_array(ret)) {
        err = -EPROTO;
        goto out;
    }
    qm->nvcpus = json_array_size(ret) < QEMU_MAX_VCPUS
                     ? (uint32_t)json_array_size(ret)
                     : QEMU_MAX_VCPUS;
    json_array_foreach(ret, i, cpu)
    {
        json_t *idx = json_object_get(cpu, "cpu-index");
        json_t *tid = json_object_get(cpu, "thread-id");
        const char *qom = json_string_value(json_object_get(cpu, "qom-path"));
        json_int_t n = json_integer_value(idx);

        if (!json_is_integer(idx) || n < 0 || n >= (json_int_t)qm->nvcpus)
            continue;
        qm->vcpu_tid[n] = json_is_integer(tid) ? json_integer_value(tid) : -1;
        snprintf(qm->vcpu_qom[n], QEMU_QOM_MAX, "%s", qom ? qom : "");
    }
out:
    json_decref(ret);
    return err;
}

/* The pc machine's layout for (mem) bytes of RAM (as physmem.c has it). */
static void set_mem(struct qemu *qm, uint64_t mem)
{
    uint64_t low = mem >= 0xe0000000ull ? 0xc0000000ull : mem;

    qm->mem_bytes = mem;
    qm->phys_end = mem > low ? GIB(4) + (mem - low) : mem;
}

static int learn_memory(struct qemu *qm, struct usc_qmp *q)
{
    json_t *ret = NULL, *base;
    int err;

    err = usc_qmp_execute(q, "query-memory-size-summary", NULL, &ret,
                          QEMU_TIMEOUT_MS);
    if (err < 0)
        return err;
    base = json_object_get(ret, "base-memory");
    if (json_is_integer(base) && json_integer_value(base) > 0)
        set_mem(qm, (uint64_t)json_integer_value(base));
    json_decref(ret);
    return 0;
}

static void learn_name(struct qemu *qm, struct usc_qmp *q)
{
    json_t *ret = NULL;
    const char *name;

    if (usc_qmp_execute(q, "query-name", NULL, &ret, QEMU_TIMEOUT_MS) < 0)
        return;
    name = json_string_value(json_object_get(ret, "name"));
    if (name && *name)
        snprintf(qm->name, sizeof(qm->name), "%s", name);
    json_decref(ret);
}

/* Everything open needs to know from QMP, on one connection. */
static int learn_from_qmp(struct qemu *qm)
{
    enum usc_vm_state state = USC_VM_UNKNOWN;
    struct usc_qmp *q;
    int err;

    err = usc_qemu_qmp_open(qm, &q);
    if (err < 0)
        return err;
    if (usc_qmp_peer_pid(q, &qm->pid) < 0)
        qm->pid = -1;
    err = usc_qemu_qmp_state(qm, q, &state);
    if (err == 0)
        err = learn_vcpus(qm, q);
    if (err == 0 && !qm->ram)
        err = learn_memory(qm, q);
    if (err == 0 && !qm->name[0])
        learn_name(qm, q);
    qm->found_running = state == USC_VM_RUNNING;
    usc_qmp_close(q);
    return err;
}

/* ---- open, close, describe ---------------------------------------------- */

/* The guest's folder name in the run directory: "/run/x/NAME/qmp.sock". */
static void name_from_path(char *name, size_t cap, const char *path)
{
    const char *end = strrchr(path, '/'), *start;

    if (!end || end == path) {
        snprintf(name, cap, "qemu");
        return;
    }
    for (start = end; start > path && start[-1] != '/'; start--)
        ;
    snprintf(name, cap, "%.*s", (int)(end - start), start);
}

static void qemu_close(void *priv)
{
    struct qemu *qm = priv;
    enum usc_vm_state state;

    if (!qm)
        return;
    usc_qemu_stub_release(qm, qm->found_running);
    /* leave a guest we found running, running */
    if (qm->found_running && qm->touched &&
        usc_qemu_qmp_state(qm, NULL, &state) == 0 &&
        (state == USC_VM_PAUSED || state == USC_VM_DEBUG))
        usc_qemu_qmp_run(qm, "cont", NULL, NULL);
    usc_ramfile_close(qm->ram);
    free(qm);
}

static int open_ram(struct qemu *qm, const char *path)
{
    struct stat st;
    /* Writable for data (write_data) when we may; else read-only. */
    int err = usc_ramfile_open_rw(path, &qm->ram);

    if (err == -EACCES || err == -EPERM || err == -EROFS)
        err = usc_ramfile_open(path, &qm->ram);
    if (err < 0)
        return err;
    qm->pm = usc_ramfile_physmem(qm->ram);
    if (stat(path, &st) == 0 && st.st_size > 0)
        set_mem(qm, (uint64_t)st.st_size);
    qm->phys_end = qm->pm->phys_end;
    return 0;
}

static int qemu_open(const struct usc_target_spec *spec, void **priv)
{
    struct qemu *qm;
    int err;

    if (!spec || !priv || spec->kind != USC_TARGET_QEMU)
        return -EINVAL;
    *priv = NULL;
    if (!spec->qmp[0] && !spec->mem[0])
        return -EINVAL;
    qm = calloc(1, sizeof(*qm));
    if (!qm)
        return -ENOMEM;
    qm->pid = -1;
    qm->exits_known = -1;
    for (int i = 0; i < QEMU_MAX_VCPUS; i++)
        qm->vcpu_tid[i] = -1;
    snprintf(qm->name, sizeof(qm->name), "%s", spec->name);
    memcpy(qm->qmp_path, spec->qmp, sizeof(qm->qmp_path));
    qm->qmp_path[sizeof(qm->qmp_path) - 1] = '\0';
    /* the stub is only used along with QMP, which says when it runs */
    if (qm->qmp_path[0]) {
        memcpy(qm->gdb_path, spec->gdb, sizeof(qm->gdb_path));
        qm->gdb_path[sizeof(qm->gdb_path) - 1] = '\0';
    }
    if (spec->mem[0]) {
        err = open_ram(qm, spec->mem);
        if (err < 0)
            goto err;
    }
    if (qm->qmp_path[0]) {
        err = learn_from_qmp(qm);
        if (err < 0)
            goto err;
    }
    if (!qm->name[0])
        name_from_path(qm->name, sizeof(qm->name),
                       spec->qmp[0] ? spec->qmp : spec->mem);
    *priv = qm;
    return 0;
err:
    usc_ramfile_close(qm->ram);
    free(qm);
    return err;
}

static int qemu_run_state(void *priv, enum usc_vm_state *state)
{
    struct qemu *qm = priv;
    int err;

    if (!qm->qmp_path[0])
        return -ENOTSUP;
    err = usc_qemu_qmp_state(qm, NULL, state);
    /* a busy monitor: the stub we hold knows as well */
    if (err == -ETIMEDOUT && qm->rsp) {
        *state = qm->running ? USC_VM_RUNNING : USC_VM_DEBUG;
        err = 0;
    }
    return err;
}

static int qemu_describe(void *priv, struct usc_target_info *info)
{
    struct qemu *qm = priv;

    memset(info, 0, sizeof(*info));
    snprintf(info->name, sizeof(info->name), "%s", qm->name);
    snprintf(info->hypervisor, sizeof(info->hypervisor), "qemu");
    info->nvcpus = qm->nvcpus;
    info->mem_bytes = qm->mem_bytes;
    info->phys_end = qm->phys_end;
    info->pid = qm->pid;
    info->can_control = qm->qmp_path[0] != '\0';
    info->state = USC_VM_UNKNOWN;
    /* describing must work while another tool holds the monitor */
    if (qm->qmp_path[0] && qemu_run_state(qm, &info->state) < 0)
        info->state = USC_VM_UNKNOWN;
    return 0;
}

/* ---- memory ---------------------------------------------------------------
 */

/* Whether [paddr, paddr + len) is guest RAM, in one region. */
static int in_ram(const struct qemu *qm, uint64_t paddr, size_t len)
{
    uint64_t low = qm->phys_end > GIB(4)
                       ? qm->mem_bytes - (qm->phys_end - GIB(4))
                       : qm->phys_end;

    if (paddr < low)
        return len <= low - paddr;
    return paddr >= GIB(4) && paddr <= qm->phys_end &&
           len <= qm->phys_end - paddr;
}

static int qemu_read_phys(void *priv, uint64_t paddr, void *buf, size_t len)
{
    struct qemu *qm = priv;

    if (qm->pm)
        return qm->pm->read(qm->pm->priv, paddr, buf, len);
    if (!qm->gdb_path[0])
        return -ENOTSUP;
    if (!in_ram(qm, paddr, len))
        return -EFAULT;
    return usc_qemu_stub_phys(qm, paddr, buf, NULL, len);
}

static const void *qemu_map_phys(void *priv, uint64_t paddr, size_t len)
{
    struct qemu *qm = priv;

    if (!qm->pm || !qm->pm->map)
        return NULL;
    return qm->pm->map(qm->pm->priv, paddr, len);
}

/* Never through our mapping (write_data's, for data only): TCG would keep
 * running the code it translated before. QEMU's stub invalidates it. */
static int qemu_write_phys(void *priv, uint64_t paddr, const void *buf,
                           size_t len)
{
    struct qemu *qm = priv;

    if (!qm->gdb_path[0])
        return -ENOTSUP;
    if (!in_ram(qm, paddr, len))
        return -EFAULT;
    if (len == 0)
        return 0;
    return usc_qemu_stub_phys(qm, paddr, NULL, buf, len);
}

/* Data only, through the RAM file: no stop, no round trip. */
static int qemu_write_data(void *priv, uint64_t paddr, const void *buf,
                           size_t len)
{
    struct qemu *qm = priv;

    if (!qm->pm || !qm->pm->write)
        return -ENOTSUP;
    return qm->pm->write(qm->pm->priv, paddr, buf, len);
}

/* ---- run control ----------------------------------------------------------
 */

static int qemu_pause(void *priv)
{
    struct qemu *qm = priv;

    if (!qm->qmp_path[0])
        return -ENOTSUP;
    /* A stop of a debug session's continue belongs to that session; a
     * pause asked for through QMP is the caller's to undo: close keeps it. */
    if (qm->rsp && qm->running)
        return usc_qemu_stub_interrupt(qm);
    return usc_qemu_qmp_run(qm, "stop", NULL, NULL);
}

static int qemu_resume(void *priv)
{
    struct qemu *qm = priv;
    int was_running;

    if (!qm->qmp_path[0])
        return -ENOTSUP;
    qm->stop_pending = 0;
    if (!qm->rsp)
        return usc_qemu_qmp_run(qm, "cont", NULL, NULL);
    if (qm->running)
        return 0;
    /* holding the stub: run through it, or hand it back by detaching */
    was_running = 1;
    return usc_qemu_stub_give_back(qm, was_running);
}

/* Wait on QMP for up to (slice_ms) for the guest to stop. */
static int wait_qmp(struct qemu *qm, int slice_ms, struct usc_stop_event *ev)
{
    int64_t end = usc_now_ms() + slice_ms;
    enum usc_vm_state state;
    struct usc_qmp *q;
    char name[64];
    int err;

    err = usc_qemu_qmp_open(qm, &q);
    if (is_dead(err)) {
        usc_qemu_state_event(qm, USC_VM_DEAD, ev);
        return 0;
    }
    if (err < 0)
        return err;
    /* Events are only sent while we are connected: the state tells what
     * happened before. */
    err = usc_qemu_qmp_state(qm, q, &state);
    while (err == 0 && state == USC_VM_RUNNING) {
        int64_t left = end - usc_now_ms();

        err = usc_qmp_next_event(q, left < 0 ? 0 : (int)left, name,
                                 sizeof(name), NULL);
        if (err == -ECONNRESET) { /* QEMU exited */
            state = USC_VM_DEAD;
            err = 0;
        } else if (err == 0 && strcmp(name, "SHUTDOWN") == 0) {
            state = USC_VM_SHUTDOWN;
        } else if (err == 0 && strcmp(name, "GUEST_PANICKED") == 0) {
            state = USC_VM_PANICKED;
        } else if (err == 0 && strcmp(name, "STOP") == 0) {
            err = usc_qemu_qmp_state(qm, q, &state);
        }
    }
    if (err == 0)
        usc_qemu_state_event(qm, state, ev);
    usc_qmp_close(q);
    return err;
}

/* Wait on the stub for the stop of the continue or step in flight. */
static int wait_stub(struct qemu *qm, int slice_ms, struct usc_stop_event *ev)
{
    enum usc_vm_state state;
    int err = usc_qemu_stub_wait(qm, slice_ms, ev);

    if (err != -ETIMEDOUT)
        return err;
    /* A guest that cannot run (panicked, shut down) never answers a
     * continue: ask QMP, then take a stop that raced with the question. */
    if (usc_qemu_qmp_state(qm, NULL, &state) < 0 || state == USC_VM_RUNNING ||
        state == USC_VM_UNKNOWN)
        return -ETIMEDOUT;
    err = usc_qemu_stub_wait(qm, 0, ev);
    if (err != -ETIMEDOUT)
        return err;
    qm->running = qm->stepping = 0;
    usc_qemu_state_event(qm, state, ev);
    return 0;
}

static int qemu_wait_stop(void *priv, int timeout_ms, struct usc_stop_event *ev)
{
    struct qemu *qm = priv;
    int64_t end = timeout_ms < 0 ? -1 : usc_now_ms() + timeout_ms;

    if (!qm->qmp_path[0])
        return -ENOTSUP;
    if (qm->stop_pending) {
        *ev = qm->stop;
        qm->stop_pending = 0;
        return 0;
    }
    for (;;) {
        int slice = usc_deadline_slice(end, WAIT_SLICE_MS);
        int err = qm->rsp && qm->running ? wait_stub(qm, slice, ev)
                                         : wait_qmp(qm, slice, ev);

        if (err != -ETIMEDOUT)
            return err;
        if (end >= 0 && usc_now_ms() >= end)
            return -ETIMEDOUT;
    }
}

/* ---- statistics ------------------------------------------------------------
 */

static uint64_t thread_cpu_ns(pid_t pid, int64_t tid)
{
    uint64_t ns;

    return usc_proc_read_stat((int)pid, tid, &ns, NULL, NULL) == 0
               ? ns
               : USC_STAT_UNKNOWN;
}

/* VM exits of (vcpu) from query-stats, where the accelerator counts them
 * (KVM does; TCG answers with nothing, and is not asked again). */
static uint64_t vcpu_exits(struct qemu *qm, uint32_t vcpu)
{
    json_t *args, *ret = NULL, *entry, *stat;
    uint64_t exits = USC_STAT_UNKNOWN;
    size_t i, j;
    int err;

    args = json_pack("{s:s, s:[{s:s, s:[s]}]}", "target", "vcpu", "providers",
                     "provider", "kvm", "names", "exits");
    if (!args)
        return exits;
    err = usc_qemu_qmp_run(qm, "query-stats", args, &ret);
    json_decref(args);
    if (err == -ENOTSUP || (err == 0 && json_array_size(ret) == 0)) {
        qm->exits_known = 0;
        goto out;
    }
    if (err < 0)
        goto out;
    qm->exits_known = 1;
    json_array_foreach(ret, i, entry)
    {
        const char *qom = json_string_value(json_object_get(entry, "qom-path"));

        if (!qom || strcmp(qom, qm->vcpu_qom[vcpu]) != 0)
            continue;
        json_array_foreach(json_object_get(entry, "stats"), j, stat)
        {
            json_t *v = json_object_get(stat, "value");
            const char *name = json_string_value(json_object_get(stat, "name"));

            if (name && strcmp(name, "exits") == 0 && json_is_integer(v) &&
                json_integer_value(v) >= 0)
                exits = (uint64_t)json_integer_value(v);
        }
    }
out:
    json_decref(ret);
    return exits;
}

static int qemu_vcpu_stats(void *priv, uint32_t vcpu, struct usc_vcpu_stats *st)
{
    struct qemu *qm = priv;

    if (!qm->qmp_path[0])
        return -ENOTSUP;
    if (vcpu >= qm->nvcpus)
        return -EINVAL;
    st->host_tid = qm->vcpu_tid[vcpu];
    st->cpu_ns = USC_STAT_UNKNOWN;
    st->exits = USC_STAT_UNKNOWN;
    if (qm->pid > 0 && st->host_tid > 0)
        st->cpu_ns = thread_cpu_ns(qm->pid, st->host_tid);
    if (qm->exits_known != 0)
        st->exits = vcpu_exits(qm, vcpu);
    return 0;
}

const struct usc_backend_ops usc_backend_qemu = {
    .name = "qemu",
    .open = qemu_open,
    .close = qemu_close,
    .describe = qemu_describe,
    .read_phys = qemu_read_phys,
    .map_phys = qemu_map_phys,
    .write_phys = qemu_write_phys,
    .pause = qemu_pause,
    .resume = qemu_resume,
    .run_state = qemu_run_state,
    .wait_stop = qemu_wait_stop,
    .get_regs = usc_qemu_stub_get_regs,
    .set_regs = usc_qemu_stub_set_regs,
    .insert_break = usc_qemu_stub_insert_break,
    .remove_break = usc_qemu_stub_remove_break,
    .step = usc_qemu_stub_step,
    .vcpu_stats = qemu_vcpu_stats,
    .write_data = qemu_write_data,
};
