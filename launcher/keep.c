/* Keeping a crashed guest's core: written while QEMU holds the guest, into
 * the run directory's cores folder, with the record of why. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coredump.h"
#include "cores.h"
#include "rundir.h"
#include "unirun.h"

/* How long a debugger holding QEMU's stub may keep the registers from the
 * core: it lets go once gdb hears of the stop. */
#define STUB_WAIT_MS 5000
#define POLL_MS 100

/* Wait, a while, for QEMU's gdbstub to be free for the registers. */
static void wait_for_stub(const char *name)
{
    int64_t deadline = unirun_now_ms() + STUB_WAIT_MS;
    struct usc_target *t;
    struct usc_regs regs;

    while (usc_target_open(name, &t) == 0) {
        int err = usc_target_get_regs(t, 0, &regs);

        usc_target_close(t);
        if (err != -EBUSY || unirun_now_ms() >= deadline || unirun_cancel)
            return;
        poll(NULL, 0, POLL_MS);
    }
}

/* The dump of (target) into (path); its error, with the step in (*what). */
static int dump(struct unirun_boot *b, const char *target, const char *path,
                const char **what, struct usc_core_dump_result *res)
{
    struct usc_core_dump_opts o = {
        .target = target,
        .path = path,
        .guest = b->name,
        .cancel = &unirun_cancel,
    };

    return usc_core_dump(&o, res, what);
}

int unirun_keep_core(struct unirun_boot *b, const struct usc_crash_verdict *v,
                     char *core, size_t cap)
{
    struct usc_core_dump_result res;
    struct usc_core_record r;
    char mem[PATH_MAX + 16], memfile[PATH_MAX];
    const char *what = "dump";
    time_t now = time(NULL);
    int err;

    err = usc_cores_new_path(b->name, now, core, cap);
    if (err) {
        unirun_error(b->name, "cores folder: %s", strerror(-err));
        return err;
    }
    wait_for_stub(b->name);
    err = dump(b, b->name, core, &what, &res);
    /* QEMU gone under us: what is left is its RAM, without registers. */
    if (err && err != -ECANCELED && !usc_guest_pid_alive(b->qemu, b->name) &&
        usc_rundir_guest_path(b->name, USC_RUNDIR_MEM, memfile,
                              sizeof(memfile)) == 0) {
        snprintf(mem, sizeof(mem), "qemu:,mem=%s", memfile);
        err = dump(b, mem, core, &what, &res);
    }
    if (err) {
        unirun_error(b->name, "its core: %s: %s", what,
                     err == -ECANCELED ? "interrupted, none written"
                                       : strerror(-err));
        core[0] = '\0';
        return err;
    }
    if (res.no_regs)
        unirun_error(b->name, "its core has no registers: another debugger "
                              "held QEMU's gdbstub");
    memset(&r, 0, sizeof(r));
    snprintf(r.path, sizeof(r.path), "%s", core);
    snprintf(r.guest, sizeof(r.guest), "%s", b->name);
    r.time = (int64_t)now;
    snprintf(r.kind, sizeof(r.kind), "%s", v->kind);
    snprintf(r.reason, sizeof(r.reason), "%s", v->reason);
    snprintf(r.image, sizeof(r.image), "%s", b->image);
    snprintf(r.debug, sizeof(r.debug), "%s", b->debug);
    r.exit_status = v->status;
    /* The core is whole already; a missing record only loses the why. */
    err = usc_cores_record_write(&r);
    if (err)
        unirun_error(core, "its record: %s", strerror(-err));
    usc_cores_prune(b->name, USC_CORES_KEEP);
    return 0;
}
