/* The run directory: one folder per guest that unirun started. */
#ifndef USC_RUNDIR_H
#define USC_RUNDIR_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "target.h"

/*
 * The run directory is $UNISCOPE_RUNDIR, else $XDG_RUNTIME_DIR/uniscope,
 * else /tmp/uniscope-$UID (an empty variable counts as unset). It must be
 * a directory owned by the effective user with no group or other
 * permissions. Each guest NAME has a folder NAME/ in it holding:
 */
#define USC_RUNDIR_QMP "qmp.sock" /* QEMU's QMP server, 0600 */
#define USC_RUNDIR_GDB "gdb.sock" /* QEMU's gdbstub, 0600 */
#define USC_RUNDIR_MEM "mem"      /* guest RAM file, or a symlink to it */
#define USC_RUNDIR_CONSOLE "console.log"
#define USC_RUNDIR_QEMU_LOG "qemu.log" /* QEMU's own messages */
#define USC_RUNDIR_INFO "guest.json"
/* Locked (flock) by the unirun process supervising the guest's QEMU. */
#define USC_RUNDIR_LOCK "unirun.lock"
/* What a detached unirun has to say once it has no terminal. */
#define USC_RUNDIR_UNIRUN_LOG "unirun.log"
/*
 * An empty file marking a guest known by its RAM file alone (no QEMU, no
 * QMP: target "qemu:,mem=NAME/mem"); its folder holds "mem" and this.
 */
#define USC_RUNDIR_AGENT_ONLY "agent-only"

/* Where a RAM file lives when the run directory is not on a tmpfs. */
#define USC_RUNDIR_SHM_PREFIX "/dev/shm/uniscope-"

/* The longest guest name, without its NUL. */
#define USC_GUEST_NAME_LEN (USC_TARGET_NAME_MAX - 1)

/*
 * 1 if (name) is a guest name: [A-Za-z0-9][A-Za-z0-9._-]{0,62}, else 0
 * (NULL included).
 */
int usc_rundir_name_valid(const char *name);

/*
 * Store the run directory's path, from the environment, in (buf) of
 * (size) bytes. Touches nothing on disk. Returns 0, or -ENAMETOOLONG.
 */
int usc_rundir_path(char *buf, size_t size);

/*
 * Check the run directory: it exists, is a directory, is owned by the
 * effective user and has no group or other permission bits. With (create)
 * set, a missing directory is made (mode 0700, and any missing parents
 * too). Returns 0; -ENOENT when it is missing and (create) is 0; -ENOTDIR;
 * -EPERM for another owner or a permissive mode; another negative errno
 * from the file system.
 */
int usc_rundir_check(int create);

/*
 * Store the path of (file) in guest (name)'s folder in (buf) of (size)
 * bytes; (file) NULL or "" gives the folder itself. Touches nothing.
 * Returns 0; -EINVAL for an invalid name; -ENAMETOOLONG.
 */
int usc_rundir_guest_path(const char *name, const char *file, char *buf,
                          size_t size);

/*
 * Create guest (name)'s folder (mode 0700), making the run directory when
 * it is missing. Returns 0; -EEXIST when the guest exists; -EINVAL for an
 * invalid name; -ENAMETOOLONG when its socket paths would not fit a unix
 * socket address; or usc_rundir_check's errors.
 */
int usc_rundir_guest_create(const char *name);

/*
 * Create guest (name)'s RAM file, empty and mode 0600, on a tmpfs so that
 * guest RAM never reaches a disk: in the folder when the run directory is
 * on a tmpfs, else under USC_RUNDIR_SHM_PREFIX with the folder's "mem" a
 * symlink to it. Returns 0; -EEXIST when "mem" exists; a negative errno.
 */
int usc_rundir_guest_mem(const char *name);

/*
 * Remove guest (name)'s folder with every file in it, and the RAM file its
 * "mem" symlink points to when that lies under USC_RUNDIR_SHM_PREFIX.
 * Returns 0; -ENOENT when there is no such guest; -EINVAL for an invalid
 * name; -ENOTEMPTY when the folder holds a directory; a negative errno.
 */
int usc_rundir_guest_remove(const char *name);

/*
 * List the guests of the run directory, sorted by name: stores a new
 * array of (*n) names in (*names), freed with usc_rundir_list_free. A
 * missing run directory has no guests. Returns 0, -ENOMEM, or
 * usc_rundir_check's errors.
 */
int usc_rundir_list(char ***names, size_t *n);

/* Free a list from usc_rundir_list; NULL is a no-op. */
void usc_rundir_list_free(char **names, size_t n);

/* What guest.json records about a guest. */
struct usc_guest_info {
    char name[USC_TARGET_NAME_MAX]; /* the folder's name */
    int64_t pid;                    /* QEMU's process, > 0 */
    char image[PATH_MAX];           /* the booted image, non-empty */
    uint32_t memory_mib;            /* 1 .. USC_GUEST_MEMORY_MAX */
    uint32_t vcpus;                 /* 1 .. USC_GUEST_VCPUS_MAX */
    char accel[8];                  /* "tcg" or "kvm" */
    int64_t start_time;             /* epoch seconds, >= 0 */
    /* The members below are optional in the file ("" or 0 when absent). */
    char boot[16];        /* "pvh" or "multiboot": how QEMU booted it */
    char debug[PATH_MAX]; /* the image's symbols when the image is a
                             wrapper: IMAGE.dbg beside a 32-bit ELF */
    int64_t supervisor;   /* the unirun process holding QEMU, > 0 */
    int keep;             /* unirun --keep: a crashed guest stays alive */
    /* How it ended, once it did (see USC_GUEST_*): */
    char state[16];      /* "" while it runs, or a USC_GUEST_ word */
    int exit_status;     /* unirun's exit status; -1 while unknown */
    char reason[160];    /* why it stopped, "" when unknown */
    char core[PATH_MAX]; /* its kept core, "" when none */
};

/* usc_guest_info.state of a guest whose QEMU unirun no longer runs: */
#define USC_GUEST_EXITED "exited"   /* it ended in order; no core */
#define USC_GUEST_CRASHED "crashed" /* it crashed; its core is kept */
/* ... and of one QEMU still holds, stopped: unirun is judging it and
 * keeping its core, or holds it for a look (unirun --keep): */
#define USC_GUEST_STOPPING "stopping"
#define USC_GUEST_HELD "held"

/*
 * Release guest (name)'s RAM file: its "mem" and, when that is a symlink
 * into USC_RUNDIR_SHM_PREFIX, the file there, so a guest that is gone
 * stops holding its memory. Returns 0 (also when there was none), or a
 * negative errno.
 */
int usc_rundir_guest_mem_release(const char *name);

#define USC_GUEST_MEMORY_MAX (1u << 22) /* MiB: 4 TiB */
#define USC_GUEST_VCPUS_MAX 1024u

/*
 * Write (gi) as guest.json in the folder of gi->name, atomically (a
 * temporary file renamed over it, mode 0600). Returns 0; -EINVAL when a
 * field is out of its range; -ENOENT when there is no such guest; -ENOMEM;
 * another negative errno.
 */
int usc_guest_info_write(const struct usc_guest_info *gi);

/*
 * Read guest (name)'s guest.json into (gi), checking every field's type
 * and range (the file is input: anyone with our uid may have edited it).
 * Returns 0; -ENOENT when the guest or its file does not exist; -EINVAL
 * for a file that is not valid JSON, too large, or has a field missing,
 * of the wrong type, out of range, or a name other than (name).
 */
int usc_guest_info_read(const char *name, struct usc_guest_info *gi);

/*
 * 1 if process (pid) exists, is not a zombie, and is the QEMU of guest
 * (name) (its command line holds "-name NAME"), so that a recycled pid is
 * never taken for the guest; else 0.
 */
int usc_guest_pid_alive(int64_t pid, const char *name);

/*
 * 1 if a unirun process supervises guest (name) now (it holds the lock on
 * the folder's USC_RUNDIR_LOCK), else 0.
 */
int usc_guest_supervised(const char *name);

#endif /* USC_RUNDIR_H */
