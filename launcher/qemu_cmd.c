/* QEMU's command line for a guest, and the accelerator choice. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "rundir.h"
#include "unirun.h"

const char *unirun_accel_auto(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    int ok;

    if (fd < 0)
        return "tcg";
    /* A device node alone proves nothing: a stale or foreign one exists. */
    ok = ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION;
    close(fd);
    return ok ? "kvm" : "tcg";
}

/* Append a copy of (s) to (cmd). */
static int add(struct unirun_qemu_cmd *cmd, const char *s)
{
    char **v;

    /* One slot more for the terminating NULL. */
    if (cmd->argc + 1 >= cmd->cap) {
        size_t cap = cmd->cap ? cmd->cap * 2 : 64;

        v = realloc(cmd->argv, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        cmd->argv = v;
        cmd->cap = cap;
    }
    cmd->argv[cmd->argc] = strdup(s);
    if (!cmd->argv[cmd->argc])
        return -ENOMEM;
    cmd->argv[++cmd->argc] = NULL;
    return 0;
}

/* Append each argument up to a NULL to (cmd). */
static int add_all(struct unirun_qemu_cmd *cmd, ...)
{
    const char *arg;
    va_list ap;
    int err = 0;

    va_start(ap, cmd);
    while (!err && (arg = va_arg(ap, const char *)))
        err = add(cmd, arg);
    va_end(ap);
    return err;
}

/*
 * Guest (name)'s (file) path as a QEMU option value, in (buf): QEMU splits
 * option lists at commas, and reads ",," as one comma.
 */
static int opt_path(const char *name, const char *file, char *buf, size_t size)
{
    char path[PATH_MAX];
    size_t i, j = 0;
    int err = usc_rundir_guest_path(name, file, path, sizeof(path));

    if (err)
        return err;
    for (i = 0; path[i]; i++) {
        if (j + 3 > size)
            return -ENAMETOOLONG;
        buf[j++] = path[i];
        if (path[i] == ',')
            buf[j++] = ',';
    }
    buf[j] = '\0';
    return 0;
}

/* snprintf into an array, -ENAMETOOLONG when it does not fit. */
#define FORMAT(buf, ...)                                                       \
    ((size_t)snprintf(buf, sizeof(buf), __VA_ARGS__) >= sizeof(buf)            \
         ? -ENAMETOOLONG                                                       \
         : 0)

int unirun_qemu_cmd(const struct unirun_opts *o, const char *name,
                    const char *image, const char *accel, int exit_fd,
                    int monitor_fd, struct unirun_qemu_cmd *cmd)
{
    char mem[2 * PATH_MAX], qmp[2 * PATH_MAX], gdb[2 * PATH_MAX];
    char con[2 * PATH_MAX], ram[2 * PATH_MAX + 80], size[16], smp[16];
    char qmp_dev[2 * PATH_MAX + 32], gdb_dev[2 * PATH_MAX + 32];
    char con_dev[2 * PATH_MAX + 48], exit_dev[64], exit_port[64];
    char mon_dev[64];
    const char *qemu = getenv("UNISCOPE_QEMU");
    int err;

    memset(cmd, 0, sizeof(*cmd));
    if (!qemu || !*qemu)
        qemu = "qemu-system-x86_64";
    err = opt_path(name, USC_RUNDIR_MEM, mem, sizeof(mem));
    err = err ? err : opt_path(name, USC_RUNDIR_QMP, qmp, sizeof(qmp));
    err = err ? err : opt_path(name, USC_RUNDIR_GDB, gdb, sizeof(gdb));
    err = err ? err : opt_path(name, USC_RUNDIR_CONSOLE, con, sizeof(con));
    err = err ? err
              : FORMAT(ram,
                       "memory-backend-file,id=ram,size=%uM,mem-path=%s,"
                       "share=on",
                       o->memory_mib, mem);
    err = err ? err : FORMAT(size, "%uM", o->memory_mib);
    err = err ? err : FORMAT(smp, "%u", o->vcpus);
    err = err ? err : FORMAT(qmp_dev, "unix:%s,server=on,wait=off", qmp);
    err = err ? err : FORMAT(gdb_dev, "unix:%s,server=on,wait=off", gdb);
    if (o->console)
        err = err ? err
                  : FORMAT(con_dev, "stdio,id=con,logfile=%s,signal=off", con);
    else
        err = err ? err : FORMAT(con_dev, "file,id=con,path=%s", con);
    err = err ? err
              : FORMAT(exit_dev, "file,id=exitport,path=/dev/fd/%d", exit_fd);
    err = err ? err
              : FORMAT(exit_port, "isa-serial,iobase=%#x,chardev=exitport",
                       UNIRUN_EXIT_PORT);
    err = err ? err : FORMAT(mon_dev, "socket,id=unirun,fd=%d", monitor_fd);
    if (err)
        return err;
    /*
     * -name early: usc_guest_pid_alive finds the guest's QEMU by it. -S:
     * the guest runs only once QMP answers (unirun then sends cont), so a
     * guest that exits at once is never taken for a QEMU that failed.
     *
     * The exit port: isa-debug-exit would make QEMU exit() on the write,
     * taking registers and a live look with it, and isa-debugcon drops
     * the 2- and 4-byte writes unikernels make. A 16550 UART placed at the
     * port takes any of them, byte by byte, and sends the low byte, which
     * lands in its transmit register, to the chardev. pvpanic comes after
     * it, so that port 0x505 (the UART's MCR) is pvpanic's. -action holds
     * a guest that powers off, resets (a triple fault) or panics, stopped.
     */
    err = add_all(
        cmd, qemu, "-name", name, "-S", "-nodefaults", "-display", "none",
        "-action", "shutdown=pause,reboot=shutdown,panic=pause", "-machine",
        "pc,memory-backend=ram", "-object", ram, "-m", size, "-smp", smp,
        "-accel", accel, "-chardev", exit_dev, "-device", exit_port, "-device",
        "pvpanic", "-qmp", qmp_dev, "-chardev", mon_dev, "-mon",
        "chardev=unirun,mode=control", "-gdb", gdb_dev, "-chardev", con_dev,
        "-serial", "chardev:con", "-kernel", image, (char *)NULL);
    if (!err && o->kernel_args)
        err = add_all(cmd, "-append", o->kernel_args, (char *)NULL);
    if (err)
        unirun_qemu_cmd_free(cmd);
    return err;
}

void unirun_qemu_cmd_free(struct unirun_qemu_cmd *cmd)
{
    size_t i;

    for (i = 0; i < cmd->argc; i++)
        free(cmd->argv[i]);
    free(cmd->argv);
    memset(cmd, 0, sizeof(*cmd));
}
