/* The run directory: guest folders, their RAM files and guest.json. */
#include "rundir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/magic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <unistd.h>

/* guest.json is a few hundred bytes; anything far larger is not ours. */
#define INFO_MAX_BYTES (64u * 1024u)
/* Enough of /proc/PID/cmdline to hold QEMU's "-name NAME". */
#define CMDLINE_MAX_BYTES (64u * 1024u)

int usc_rundir_name_valid(const char *name)
{
    size_t i;

    if (!name)
        return 0;
    for (i = 0; name[i]; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9');

        if (i >= USC_GUEST_NAME_LEN)
            return 0;
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return 0;
    }
    return i > 0;
}

/* The value of (var), or NULL when it is unset or empty. */
static const char *env(const char *var)
{
    const char *v = getenv(var);

    return v && *v ? v : NULL;
}

int usc_rundir_path(char *buf, size_t size)
{
    const char *v;
    size_t len;
    int n;

    if ((v = env("UNISCOPE_RUNDIR")))
        n = snprintf(buf, size, "%s", v);
    else if ((v = env("XDG_RUNTIME_DIR")))
        n = snprintf(buf, size, "%s/uniscope", v);
    else
        n = snprintf(buf, size, "/tmp/uniscope-%u", (unsigned)getuid());
    if (n < 0 || (size_t)n >= size)
        return -ENAMETOOLONG;
    /* Trailing slashes only lengthen socket paths, which must stay short. */
    for (len = (size_t)n; len > 1 && buf[len - 1] == '/'; len--)
        buf[len - 1] = '\0';
    return 0;
}

/* mkdir -p (path) with mode 0700; (path) is modified and restored. */
static int make_dirs(char *path)
{
    char *p;

    for (p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            int err = -errno;

            *p = '/';
            return err;
        }
        *p = '/';
    }
    if (mkdir(path, 0700) != 0)
        return errno == EEXIST ? 0 : -errno;
    /* The umask may have taken bits the owner needs. */
    return chmod(path, 0700) == 0 ? 0 : -errno;
}

int usc_rundir_check(int create)
{
    char path[PATH_MAX];
    struct stat st;
    int err;

    err = usc_rundir_path(path, sizeof(path));
    if (err)
        return err;
    if (stat(path, &st) != 0) {
        if (errno != ENOENT || !create)
            return -errno;
        err = make_dirs(path);
        if (err)
            return err;
        if (stat(path, &st) != 0)
            return -errno;
    }
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    /* Others must not reach our sockets or read guest RAM. */
    if (st.st_uid != geteuid() || (st.st_mode & 077))
        return -EPERM;
    return 0;
}

int usc_rundir_guest_path(const char *name, const char *file, char *buf,
                          size_t size)
{
    char dir[PATH_MAX];
    int err, n;

    if (!usc_rundir_name_valid(name))
        return -EINVAL;
    err = usc_rundir_path(dir, sizeof(dir));
    if (err)
        return err;
    if (file && *file)
        n = snprintf(buf, size, "%s/%s/%s", dir, name, file);
    else
        n = snprintf(buf, size, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* The folder of guest (name) in (buf), once the run directory passes. */
static int guest_dir(const char *name, char *buf, size_t size)
{
    int err = usc_rundir_guest_path(name, NULL, buf, size);

    return err ? err : usc_rundir_check(0);
}

int usc_rundir_guest_create(const char *name)
{
    struct sockaddr_un sun;
    char dir[PATH_MAX];
    int err;

    err = usc_rundir_guest_path(name, NULL, dir, sizeof(dir));
    if (err)
        return err;
    /* QEMU would fail later, and less clearly, on a path that is too long. */
    if (strlen(dir) + 1 + strlen(USC_RUNDIR_QMP) >= sizeof(sun.sun_path))
        return -ENAMETOOLONG;
    err = usc_rundir_check(1);
    if (err)
        return err;
    if (mkdir(dir, 0700) != 0)
        return -errno;
    return chmod(dir, 0700) == 0 ? 0 : -errno;
}

int usc_rundir_guest_mem(const char *name)
{
    char dir[PATH_MAX], mem[PATH_MAX], shm[PATH_MAX];
    struct statfs sfs;
    int fd, err, n;

    err = guest_dir(name, dir, sizeof(dir));
    if (err)
        return err;
    n = snprintf(mem, sizeof(mem), "%s/%s", dir, USC_RUNDIR_MEM);
    if (n < 0 || (size_t)n >= sizeof(mem))
        return -ENAMETOOLONG;
    if (statfs(dir, &sfs) != 0)
        return -errno;
    if (sfs.f_type == TMPFS_MAGIC) {
        fd = open(mem, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
            return -errno;
        close(fd);
        return 0;
    }
    /*
     * QEMU creates a missing mem-path itself but spins forever on a
     * dangling symlink, so the target is made here, empty, for QEMU to
     * size.
     */
    n = snprintf(shm, sizeof(shm), "%s%u-%s-XXXXXX", USC_RUNDIR_SHM_PREFIX,
                 (unsigned)getuid(), name);
    if (n < 0 || (size_t)n >= sizeof(shm))
        return -ENAMETOOLONG;
    fd = mkostemp(shm, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    close(fd);
    if (symlink(shm, mem) != 0) {
        err = -errno;
        unlink(shm);
        return err;
    }
    return 0;
}

/* Remove the file the "mem" symlink in (dfd) points to, if it is ours. */
static void remove_shm_target(int dfd)
{
    char target[PATH_MAX];
    size_t plen = strlen(USC_RUNDIR_SHM_PREFIX);
    ssize_t n;

    n = readlinkat(dfd, USC_RUNDIR_MEM, target, sizeof(target) - 1);
    if (n <= 0)
        return;
    target[n] = '\0';
    /* Only a file we could have made: never follow a link elsewhere. */
    if (strncmp(target, USC_RUNDIR_SHM_PREFIX, plen) != 0 ||
        strchr(target + plen, '/'))
        return;
    unlink(target);
}

int usc_rundir_guest_mem_release(const char *name)
{
    char dir[PATH_MAX];
    int dfd, err;

    err = guest_dir(name, dir, sizeof(dir));
    if (err)
        return err;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : -errno;
    remove_shm_target(dfd);
    err = unlinkat(dfd, USC_RUNDIR_MEM, 0) == 0 || errno == ENOENT ? 0 : -errno;
    close(dfd);
    return err;
}

int usc_rundir_guest_remove(const char *name)
{
    char dir[PATH_MAX];
    struct dirent *e;
    DIR *d;
    int dfd, err;

    err = guest_dir(name, dir, sizeof(dir));
    if (err)
        return err;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return errno == ELOOP ? -ENOTDIR : -errno;
    d = fdopendir(dfd);
    if (!d) {
        err = -errno;
        close(dfd);
        return err;
    }
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (!strcmp(e->d_name, USC_RUNDIR_MEM))
            remove_shm_target(dfd);
        /* A directory stays, and rmdir below reports it. */
        unlinkat(dfd, e->d_name, 0);
    }
    closedir(d);
    /* Another remover (unirun's foreground parent, --stop) may be first. */
    if (rmdir(dir) != 0 && errno != ENOENT)
        return -errno;
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int usc_rundir_list(char ***names, size_t *n)
{
    char path[PATH_MAX];
    char **v = NULL, **nv;
    size_t count = 0, cap = 0;
    struct dirent *e;
    struct stat st;
    DIR *d = NULL;
    int err;

    *names = NULL;
    *n = 0;
    err = usc_rundir_check(0);
    if (err)
        return err == -ENOENT ? 0 : err;
    err = usc_rundir_path(path, sizeof(path));
    if (err)
        return err;
    d = opendir(path);
    if (!d)
        return -errno;
    while ((e = readdir(d))) {
        if (!usc_rundir_name_valid(e->d_name) ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISDIR(st.st_mode))
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            nv = realloc(v, cap * sizeof(*v));
            if (!nv)
                goto nomem;
            v = nv;
        }
        v[count] = strdup(e->d_name);
        if (!v[count])
            goto nomem;
        count++;
    }
    closedir(d);
    if (count)
        qsort(v, count, sizeof(*v), compare_names);
    *names = v;
    *n = count;
    return 0;
nomem:
    closedir(d);
    usc_rundir_list_free(v, count);
    return -ENOMEM;
}

void usc_rundir_list_free(char **names, size_t n)
{
    size_t i;

    if (!names)
        return;
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* ---- guest.json --------------------------------------------------------- */

static int terminated(const char *field, size_t size)
{
    return memchr(field, '\0', size) != NULL;
}

/* 0 if every field of (gi) is in its range, else -EINVAL. */
static int info_check(const struct usc_guest_info *gi)
{
    size_t ilen = strnlen(gi->image, sizeof(gi->image));

    if (!usc_rundir_name_valid(gi->name) || gi->pid <= 0 ||
        gi->pid > INT32_MAX || ilen == 0 || ilen == sizeof(gi->image) ||
        gi->memory_mib < 1 || gi->memory_mib > USC_GUEST_MEMORY_MAX ||
        gi->vcpus < 1 || gi->vcpus > USC_GUEST_VCPUS_MAX ||
        (strcmp(gi->accel, "tcg") != 0 && strcmp(gi->accel, "kvm") != 0) ||
        gi->start_time < 0)
        return -EINVAL;
    if (!terminated(gi->boot, sizeof(gi->boot)) ||
        !terminated(gi->debug, sizeof(gi->debug)) ||
        !terminated(gi->state, sizeof(gi->state)) ||
        !terminated(gi->reason, sizeof(gi->reason)) ||
        !terminated(gi->core, sizeof(gi->core)) || gi->supervisor < 0 ||
        gi->supervisor > INT32_MAX || gi->exit_status < -1 ||
        gi->exit_status > 255 || (gi->keep != 0 && gi->keep != 1))
        return -EINVAL;
    return 0;
}

/* Write all of (buf) to (fd). */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Set string member (key) of (o) to (v) unless it is empty. */
static int put_str(json_t *o, const char *key, const char *v)
{
    json_t *j;

    if (!v[0])
        return 0;
    j = json_string(v); /* NULL for text that is not UTF-8 */
    return j && json_object_set_new(o, key, j) == 0 ? 0 : -EINVAL;
}

/* The optional members of (gi) into (o). */
static int put_optional(json_t *o, const struct usc_guest_info *gi)
{
    int err = put_str(o, "boot", gi->boot);

    err = err ? err : put_str(o, "debug", gi->debug);
    err = err ? err : put_str(o, "state", gi->state);
    err = err ? err : put_str(o, "reason", gi->reason);
    err = err ? err : put_str(o, "core", gi->core);
    if (!err && gi->supervisor &&
        json_object_set_new(o, "supervisor", json_integer(gi->supervisor)))
        err = -ENOMEM;
    if (!err && gi->keep && json_object_set_new(o, "keep", json_true()))
        err = -ENOMEM;
    /* A status means something once the guest ended (state set). */
    if (!err && gi->state[0] && gi->exit_status >= 0 &&
        json_object_set_new(o, "exit_status", json_integer(gi->exit_status)))
        err = -ENOMEM;
    return err;
}

int usc_guest_info_write(const struct usc_guest_info *gi)
{
    char dir[PATH_MAX], tmp[PATH_MAX], path[PATH_MAX];
    char *text = NULL;
    json_t *root = NULL;
    int fd = -1, err, n;

    if (!gi || info_check(gi))
        return -EINVAL;
    err = guest_dir(gi->name, dir, sizeof(dir));
    if (err)
        return err;
    n = snprintf(path, sizeof(path), "%s/%s", dir, USC_RUNDIR_INFO);
    if (n < 0 || (size_t)n >= sizeof(path))
        return -ENAMETOOLONG;
    n = snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, USC_RUNDIR_INFO);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return -ENAMETOOLONG;
    /* json_pack fails on an image path that is not UTF-8. */
    root =
        json_pack("{s:s, s:I, s:s, s:I, s:I, s:s, s:I}", "name", gi->name,
                  "pid", (json_int_t)gi->pid, "image", gi->image, "memory_mib",
                  (json_int_t)gi->memory_mib, "vcpus", (json_int_t)gi->vcpus,
                  "accel", gi->accel, "start_time", (json_int_t)gi->start_time);
    if (!root)
        return -EINVAL;
    err = put_optional(root, gi);
    if (err)
        goto out;
    text = json_dumps(root, JSON_INDENT(2));
    if (!text) {
        err = -ENOMEM;
        goto out;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        err = -errno;
        goto out;
    }
    err = write_all(fd, text, strlen(text));
    if (!err)
        err = write_all(fd, "\n", 1);
    if (close(fd) != 0 && !err)
        err = -errno;
    fd = -1;
    /*
     * No fsync: the file describes a running process and means nothing
     * after a host crash; the rename alone keeps readers from half a file.
     */
    if (!err && rename(tmp, path) != 0)
        err = -errno;
    if (err)
        unlink(tmp);
out:
    free(text);
    json_decref(root);
    return err;
}

/* Integer member (key) of (o) in [min, max] into (*v), else -EINVAL. */
static int get_int(json_t *o, const char *key, json_int_t min, json_int_t max,
                   json_int_t *v)
{
    json_t *j = json_object_get(o, key);

    if (!json_is_integer(j))
        return -EINVAL;
    *v = json_integer_value(j);
    return *v < min || *v > max ? -EINVAL : 0;
}

/* String member (key) of (o), non-empty and without NULs, into (dst). */
static int get_str(json_t *o, const char *key, char *dst, size_t size)
{
    json_t *j = json_object_get(o, key);
    const char *s;
    size_t len;

    if (!json_is_string(j))
        return -EINVAL;
    s = json_string_value(j);
    len = json_string_length(j);
    if (len == 0 || len >= size || memchr(s, '\0', len))
        return -EINVAL;
    memcpy(dst, s, len + 1);
    return 0;
}

/* The optional members of (o) into (gi): absent is fine, wrong is not. */
static int get_optional(json_t *o, struct usc_guest_info *gi)
{
    static const struct {
        const char *key;
        size_t off, size;
    } strs[] = {
        {"boot", offsetof(struct usc_guest_info, boot), sizeof(gi->boot)},
        {"debug", offsetof(struct usc_guest_info, debug), sizeof(gi->debug)},
        {"state", offsetof(struct usc_guest_info, state), sizeof(gi->state)},
        {"reason", offsetof(struct usc_guest_info, reason), sizeof(gi->reason)},
        {"core", offsetof(struct usc_guest_info, core), sizeof(gi->core)},
    };
    json_t *keep = json_object_get(o, "keep");
    json_int_t v;

    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (json_object_get(o, strs[i].key) &&
            get_str(o, strs[i].key, (char *)gi + strs[i].off, strs[i].size))
            return -EINVAL;
    if (json_object_get(o, "supervisor")) {
        if (get_int(o, "supervisor", 1, INT32_MAX, &v))
            return -EINVAL;
        gi->supervisor = v;
    }
    gi->exit_status = -1;
    if (json_object_get(o, "exit_status")) {
        if (get_int(o, "exit_status", 0, 255, &v))
            return -EINVAL;
        gi->exit_status = (int)v;
    }
    if (keep && !json_is_boolean(keep))
        return -EINVAL;
    gi->keep = json_is_true(keep);
    return 0;
}

/* Read at most INFO_MAX_BYTES of (fd) into (buf); -EINVAL when longer. */
static int read_bounded(int fd, char *buf, size_t *len)
{
    size_t got = 0;

    for (;;) {
        ssize_t r = read(fd, buf + got, INFO_MAX_BYTES + 1 - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        got += (size_t)r;
        if (got > INFO_MAX_BYTES)
            return -EINVAL;
    }
    *len = got;
    return 0;
}

int usc_guest_info_read(const char *name, struct usc_guest_info *gi)
{
    char path[PATH_MAX];
    char *buf = NULL;
    json_t *root = NULL;
    json_int_t pid, mem, vcpus, start;
    size_t len = 0;
    int fd, err;

    memset(gi, 0, sizeof(*gi));
    err = guest_dir(name, path, sizeof(path));
    if (err)
        return err;
    err = usc_rundir_guest_path(name, USC_RUNDIR_INFO, path, sizeof(path));
    if (err)
        return err;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? -ENOENT : -EINVAL;
    buf = malloc(INFO_MAX_BYTES + 1);
    if (!buf) {
        err = -ENOMEM;
        goto out;
    }
    err = read_bounded(fd, buf, &len);
    if (err)
        goto out;
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(root) ||
        get_str(root, "name", gi->name, sizeof(gi->name)) ||
        get_int(root, "pid", 1, INT32_MAX, &pid) ||
        get_str(root, "image", gi->image, sizeof(gi->image)) ||
        get_int(root, "memory_mib", 1, USC_GUEST_MEMORY_MAX, &mem) ||
        get_int(root, "vcpus", 1, USC_GUEST_VCPUS_MAX, &vcpus) ||
        get_str(root, "accel", gi->accel, sizeof(gi->accel)) ||
        get_int(root, "start_time", 0, INT64_MAX, &start)) {
        err = -EINVAL;
        goto out;
    }
    gi->pid = pid;
    gi->memory_mib = (uint32_t)mem;
    gi->vcpus = (uint32_t)vcpus;
    gi->start_time = start;
    err = get_optional(root, gi);
    if (err || info_check(gi) || strcmp(gi->name, name) != 0)
        err = -EINVAL;
out:
    if (err)
        memset(gi, 0, sizeof(*gi));
    json_decref(root);
    free(buf);
    close(fd);
    return err;
}

/* ---- the QEMU process --------------------------------------------------- */

int usc_guest_pid_alive(int64_t pid, const char *name)
{
    char path[64];
    char *buf = NULL;
    size_t got = 0, i;
    int fd, alive = 0, after_flag = 0;

    if (pid <= 0 || pid > INT32_MAX || !usc_rundir_name_valid(name))
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    buf = malloc(CMDLINE_MAX_BYTES + 1);
    if (!buf)
        goto out;
    /* A zombie's cmdline is empty, so it never matches. */
    while (got < CMDLINE_MAX_BYTES) {
        ssize_t r = read(fd, buf + got, CMDLINE_MAX_BYTES - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    for (i = 0; i < got; i += strlen(buf + i) + 1) {
        if (after_flag && !strcmp(buf + i, name)) {
            alive = 1;
            break;
        }
        after_flag = !strcmp(buf + i, "-name");
    }
out:
    free(buf);
    close(fd);
    return alive;
}

int usc_guest_supervised(const char *name)
{
    char path[PATH_MAX];
    int fd, held;

    if (usc_rundir_guest_path(name, USC_RUNDIR_LOCK, path, sizeof(path)))
        return 0;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return 0;
    held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}
