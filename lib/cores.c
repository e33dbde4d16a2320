/* The kept cores: their names, their records, listing and pruning. */
#include "cores.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rundir.h"
#include "uscope_note.h"

#define SUFFIX ".core"
#define RECORD ".json"
#define RECORD_MAX (64u * 1024u)
#define MAX_TRIES 1000
#define MAX_CORES 100000 /* files listed, at most */
#define STALE_S 3600     /* a temporary this old has no writer left */

int usc_cores_path(char *buf, size_t size)
{
    char run[PATH_MAX];
    int err = usc_rundir_path(run, sizeof(run)), n;

    if (err)
        return err;
    n = snprintf(buf, size, "%s/%s", run, USC_CORES_DIR);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int usc_cores_new_path(const char *guest, time_t when, char *buf, size_t size)
{
    char dir[PATH_MAX], stamp[32];
    struct stat st;
    struct tm tm;
    int err, n;

    if (!usc_rundir_name_valid(guest))
        return -EINVAL;
    err = usc_rundir_check(1);
    if (!err)
        err = usc_cores_path(dir, sizeof(dir));
    if (err)
        return err;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -errno;
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return -ENOTDIR;
    localtime_r(&when, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    for (int i = 1; i <= MAX_TRIES; i++) {
        if (i == 1)
            n = snprintf(buf, size, "%s/%s-%s%s", dir, guest, stamp, SUFFIX);
        else
            n = snprintf(buf, size, "%s/%s-%s-%d%s", dir, guest, stamp, i,
                         SUFFIX);
        if (n < 0 || (size_t)n >= size)
            return -ENAMETOOLONG;
        if (lstat(buf, &st) != 0 && errno == ENOENT)
            return 0;
    }
    return -EEXIST;
}

/* ---- names ---------------------------------------------------------------
 */

static int digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return n > 0;
}

/*
 * The guest name in file name (file), "NAME-YYYYmmdd-HHMMSS[-N].core",
 * into (guest) and the local time it names into (*when) (may be NULL);
 * 0, or -EINVAL for a file that is not named so.
 */
static int guest_of(const char *file, char *guest, int64_t *when)
{
    struct tm tm;
    size_t len = strlen(file), end;
    const char *dash;

    if (len <= strlen(SUFFIX) || file[0] == '.' ||
        strcmp(file + len - strlen(SUFFIX), SUFFIX) != 0)
        return -EINVAL;
    end = len - strlen(SUFFIX);
    /* an optional "-N" */
    dash = memrchr(file, '-', end);
    if (dash && (size_t)(dash - file) + 7 != end &&
        digits(dash + 1, end - (size_t)(dash - file) - 1))
        end = (size_t)(dash - file);
    /* "-YYYYmmdd-HHMMSS" */
    if (end < 17 || file[end - 7] != '-' || file[end - 16] != '-' ||
        !digits(file + end - 6, 6) || !digits(file + end - 15, 8))
        return -EINVAL;
    memset(&tm, 0, sizeof(tm));
    if (!strptime(file + end - 15, "%Y%m%d-%H%M%S", &tm))
        return -EINVAL;
    tm.tm_isdst = -1;
    if (when)
        *when = (int64_t)mktime(&tm);
    end -= 16;
    if (end == 0 || end >= USC_TARGET_NAME_MAX)
        return -EINVAL;
    memcpy(guest, file, end);
    guest[end] = '\0';
    return usc_rundir_name_valid(guest) ? 0 : -EINVAL;
}

/* ---- records --------------------------------------------------------------
 */

static int put_str(json_t *o, const char *key, const char *v)
{
    json_t *j = json_string(v); /* NULL for text that is not UTF-8 */

    return j && json_object_set_new(o, key, j) == 0 ? 0 : -EINVAL;
}

int usc_cores_record_write(const struct usc_core_record *r)
{
    char dir[PATH_MAX], tmp[PATH_MAX + 16], path[PATH_MAX + 8];
    const char *slash = r ? strrchr(r->path, '/') : NULL;
    char guest[USC_TARGET_NAME_MAX];
    json_t *root = NULL;
    char *text = NULL;
    int fd = -1, err;

    if (!r || !slash || usc_cores_path(dir, sizeof(dir)) != 0 ||
        (size_t)(slash - r->path) != strlen(dir) ||
        strncmp(r->path, dir, strlen(dir)) != 0 ||
        guest_of(slash + 1, guest, NULL))
        return -EINVAL;
    snprintf(path, sizeof(path), "%s%s", r->path, RECORD);
    snprintf(tmp, sizeof(tmp), "%s/.%s%s.XXXXXX", dir, slash + 1, RECORD);
    root = json_object();
    if (!root)
        return -ENOMEM;
    err = put_str(root, "guest", r->guest);
    err = err ? err : put_str(root, "kind", r->kind);
    err = err ? err : put_str(root, "reason", r->reason);
    err = err ? err : put_str(root, "image", r->image);
    err = err ? err : put_str(root, "debug", r->debug);
    if (!err && (json_object_set_new(root, "time", json_integer(r->time)) ||
                 json_object_set_new(root, "exit_status",
                                     json_integer(r->exit_status))))
        err = -ENOMEM;
    if (!err && !(text = json_dumps(root, JSON_INDENT(2))))
        err = -ENOMEM;
    if (err)
        goto out;
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        err = -errno;
        goto out;
    }
    for (size_t done = 0, len = strlen(text); done < len && !err;) {
        ssize_t w = write(fd, text + done, len - done);

        if (w < 0 && errno != EINTR)
            err = -errno;
        else if (w > 0)
            done += (size_t)w;
    }
    if (!err && (fdatasync(fd) != 0 || close(fd) != 0))
        err = -errno;
    else if (err)
        close(fd);
    if (!err && rename(tmp, path) != 0)
        err = -errno;
    if (err)
        unlink(tmp);
out:
    free(text);
    json_decref(root);
    return err;
}

/* String member (key) of (o) into (dst) of (size), if it is one that fits
 * (a record is our own file, but anyone with our uid may edit it). */
static void get_str(json_t *o, const char *key, char *dst, size_t size)
{
    json_t *j = json_object_get(o, key);
    size_t len = json_string_length(j);

    if (json_is_string(j) && len < size &&
        !memchr(json_string_value(j), '\0', len))
        memcpy(dst, json_string_value(j), len + 1);
}

/* The record beside (r->path), into (r); 0 when there was a good one. */
static int read_record(struct usc_core_record *r)
{
    char path[PATH_MAX + 8];
    json_t *root, *t, *x;

    snprintf(path, sizeof(path), "%s%s", r->path, RECORD);
    root = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return -ENOENT;
    }
    get_str(root, "kind", r->kind, sizeof(r->kind));
    get_str(root, "reason", r->reason, sizeof(r->reason));
    get_str(root, "image", r->image, sizeof(r->image));
    get_str(root, "debug", r->debug, sizeof(r->debug));
    t = json_object_get(root, "time");
    if (json_is_integer(t) && json_integer_value(t) >= 0)
        r->time = json_integer_value(t);
    x = json_object_get(root, "exit_status");
    if (json_is_integer(x) && json_integer_value(x) >= 0 &&
        json_integer_value(x) <= 255)
        r->exit_status = (int)json_integer_value(x);
    r->recorded = 1;
    json_decref(root);
    return 0;
}

/* A core without its record: what its own note says. */
static void from_note(struct usc_core_record *r)
{
    struct usc_note_hdr h;

    if (usc_note_read_file(r->path, &h, NULL, 0, NULL) != 0)
        return;
    if (h.dump_time_ns > 0)
        r->time = h.dump_time_ns / 1000000000;
    snprintf(r->image, sizeof(r->image), "%s", h.image);
}

/* ---- listing --------------------------------------------------------------
 */

static int newest_first(const void *a, const void *b)
{
    const struct usc_core_record *x = a, *y = b;

    if (x->time != y->time)
        return x->time < y->time ? 1 : -1;
    return -strcmp(x->path, y->path);
}

/* Describe the file (name) in folder (dir) into (r); 0 if it is a core. */
static int describe(int dfd, const char *dir, const char *name,
                    const char *want, struct usc_core_record *r)
{
    struct stat st;

    memset(r, 0, sizeof(*r));
    r->exit_status = -1;
    if (guest_of(name, r->guest, &r->time) ||
        (want && strcmp(want, r->guest) != 0) ||
        fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode))
        return -ENOENT;
    if ((size_t)snprintf(r->path, sizeof(r->path), "%s/%s", dir, name) >=
        sizeof(r->path))
        return -ENAMETOOLONG;
    r->size = (uint64_t)st.st_size;
    if (read_record(r) != 0)
        from_note(r);
    return 0;
}

int usc_cores_list(const char *guest, struct usc_core_record **out, size_t *n)
{
    struct usc_core_record *v = NULL, *nv;
    size_t count = 0, cap = 0;
    char dir[PATH_MAX];
    struct dirent *e;
    DIR *d;
    int err;

    *out = NULL;
    *n = 0;
    err = usc_rundir_check(0);
    if (err)
        return err == -ENOENT ? 0 : err;
    err = usc_cores_path(dir, sizeof(dir));
    if (err)
        return err;
    d = opendir(dir);
    if (!d)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
    while ((e = readdir(d)) && count < MAX_CORES) {
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                err = -ENOMEM;
                break;
            }
            v = nv;
        }
        if (describe(dirfd(d), dir, e->d_name, guest, &v[count]) == 0)
            count++;
    }
    closedir(d);
    if (err) {
        free(v);
        return err;
    }
    if (count)
        qsort(v, count, sizeof(*v), newest_first);
    else {
        free(v);
        v = NULL;
    }
    *out = v;
    *n = count;
    return 0;
}

int usc_cores_latest(const char *guest, struct usc_core_record *out)
{
    struct usc_core_record *v;
    size_t n;
    int err = usc_cores_list(guest, &v, &n);

    if (err)
        return err;
    if (n)
        *out = v[0];
    free(v);
    return n ? 0 : -ENOENT;
}

/*
 * Remove what writers of (guest)'s cores killed midway left behind: its
 * dot-files ".GUEST-....core.XXXXXX" (and of records) older than
 * STALE_S, which no writer still at work can own.
 */
static void remove_stale(const char *guest)
{
    char dir[PATH_MAX], prefix[USC_TARGET_NAME_MAX + 2];
    time_t now = time(NULL);
    struct dirent *e;
    struct stat st;
    DIR *d;

    if (usc_cores_path(dir, sizeof(dir)) || !(d = opendir(dir)))
        return;
    snprintf(prefix, sizeof(prefix), ".%s-", guest);
    while ((e = readdir(d))) {
        char other[USC_TARGET_NAME_MAX];

        /* ".GUEST-stamp.core.XXXXXX" is GUEST's, not another name's. */
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 ||
            !strstr(e->d_name, SUFFIX ".") ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode) || now - st.st_mtime < STALE_S)
            continue;
        char core[NAME_MAX + 1];
        const char *end = strstr(e->d_name, SUFFIX ".");
        size_t len = (size_t)(end - e->d_name - 1) + strlen(SUFFIX);
        if (len >= sizeof(core))
            continue;
        memcpy(core, e->d_name + 1, len);
        core[len] = '\0';
        if (guest_of(core, other, NULL) == 0 && !strcmp(other, guest))
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

int usc_cores_prune(const char *guest, unsigned keep)
{
    struct usc_core_record *v;
    char rec[PATH_MAX + 8];
    size_t n;
    int err = usc_cores_list(guest, &v, &n);

    if (err)
        return err;
    if (guest)
        remove_stale(guest);
    for (size_t i = keep; i < n; i++) {
        snprintf(rec, sizeof(rec), "%s%s", v[i].path, RECORD);
        unlink(v[i].path);
        unlink(rec);
    }
    free(v);
    return 0;
}
