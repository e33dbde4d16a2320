/* VMM processes: names, owners, rights, command lines and vCPU threads. */
#include "procvmm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rundir.h"

#define COMM_MAX 15 /* TASK_COMM_LEN - 1: longer names are cut */
#define CMDLINE_MAX 8192
#define STAT_MAX 1024

const char *usc_vmm_name(enum usc_vmm_kind kind)
{
    static const char *const names[] = {
        [USC_VMM_NONE] = "",
        [USC_VMM_QEMU] = "qemu",
        [USC_VMM_FIRECRACKER] = "firecracker",
        [USC_VMM_CLOUD_HV] = "cloud-hv",
        [USC_VMM_HVT] = "solo5-hvt",
        [USC_VMM_UHYVE] = "uhyve",
        [USC_VMM_LKVM] = "lkvm",
    };

    if ((unsigned)kind >= sizeof(names) / sizeof(names[0]))
        return "";
    return names[kind];
}

static int starts(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

static int ends(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && !strcmp(s + n - m, suffix);
}

/* The kind a full program name (no path) stands for. */
static enum usc_vmm_kind kind_of_name(const char *name)
{
    if (starts(name, "qemu-system-") || !strcmp(name, "qemu-kvm"))
        return USC_VMM_QEMU;
    if (!strcmp(name, "firecracker"))
        return USC_VMM_FIRECRACKER;
    if (!strcmp(name, "cloud-hypervisor"))
        return USC_VMM_CLOUD_HV;
    if (starts(name, "solo5-hvt") || ends(name, "-hvt"))
        return USC_VMM_HVT;
    if (!strcmp(name, "uhyve"))
        return USC_VMM_UHYVE;
    if (starts(name, "lkvm"))
        return USC_VMM_LKVM;
    return USC_VMM_NONE;
}

enum usc_vmm_kind usc_vmm_kind_of(const char *comm, const char *argv0)
{
    enum usc_vmm_kind k = comm ? kind_of_name(comm) : USC_VMM_NONE;
    const char *base;

    if (k != USC_VMM_NONE || !comm || !argv0 || !argv0[0])
        return k;
    /* A name of 15 characters may be a longer one cut short: the program's
     * own name then says, if it starts the same. */
    if (strlen(comm) != COMM_MAX)
        return USC_VMM_NONE;
    base = strrchr(argv0, '/');
    base = base ? base + 1 : argv0;
    if (strncmp(base, comm, COMM_MAX) != 0)
        return USC_VMM_NONE;
    return kind_of_name(base);
}

/* Read (path) into (buf) of (cap) bytes; its length in (*len). */
static int read_proc_file(const char *path, char *buf, size_t cap, size_t *len)
{
    ssize_t r;
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return errno == ENOENT ? -ESRCH : -errno;
    while (n < cap) {
        r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *len = n;
    return 0;
}

/* Read /proc/(pid)/(file) into (buf) of (cap) bytes; its length in (*len). */
static int read_proc(int pid, const char *file, char *buf, size_t cap,
                     size_t *len)
{
    char path[96];

    snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
    return read_proc_file(path, buf, cap, len);
}

int usc_proc_cmdline(int pid, char *buf, size_t cap, size_t *len)
{
    return read_proc(pid, "cmdline", buf, cap, len);
}

int usc_proc_parse_stat(const char *buf, size_t len, uint64_t *ns,
                        uint64_t *start, char *state)
{
    const char *p = NULL, *end = buf + len;
    uint64_t ticks = 0, v = 0;
    long hz = sysconf(_SC_CLK_TCK);

    for (const char *c = buf; c < end; c++)
        if (*c == ')')
            p = c + 1;
    if (!p || hz <= 0)
        return -EPROTO;
    for (int field = 3; field <= 22; field++) {
        const char *f;

        while (p < end && *p == ' ')
            p++;
        if (p == end)
            return -EPROTO;
        f = p;
        v = 0;
        for (; p < end && *p != ' ' && *p != '\n'; p++) {
            int numeric = field == 14 || field == 15 || field == 22;

            if (numeric && (*p < '0' || *p > '9' || v > UINT64_MAX / 20))
                return -EPROTO;
            if (numeric)
                v = v * 10 + (uint64_t)(*p - '0');
        }
        if (field == 3 && state)
            *state = *f;
        if (field == 14 || field == 15)
            ticks += v;
    }
    if (ticks > UINT64_MAX / 1000000000ull)
        return -EPROTO;
    *ns = ticks * (1000000000ull / (uint64_t)hz);
    if (start)
        *start = v; /* field 22 */
    return 0;
}

/* Whether the NUL-separated command line (cmd, len) names a path in the
 * run directory (dir): "-qmp unix:DIR/NAME/qmp.sock,..." does. */
static int names_rundir(const char *cmd, size_t len, const char *dir)
{
    size_t dlen = strlen(dir);

    if (!dlen)
        return 0;
    for (size_t i = 0; i + dlen < len; i++)
        if (!memcmp(cmd + i, dir, dlen) && cmd[i + dlen] == '/')
            return 1;
    return 0;
}

int usc_vmm_probe(int pid, struct usc_vmm_proc *out)
{
    char comm[32], *cmd = NULL, dir[PATH_MAX], path[64], stat_line[STAT_MAX];
    size_t len = 0, clen = 0, slen = 0;
    uint64_t ns;
    struct stat st;
    int err, fd;

    memset(out, 0, sizeof(*out));
    out->pid = pid;
    err = read_proc(pid, "comm", comm, sizeof(comm) - 1, &len);
    if (err)
        return err;
    while (len && comm[len - 1] == '\n')
        len--;
    comm[len] = '\0';
    snprintf(out->comm, sizeof(out->comm), "%.15s", comm);
    out->kind = kind_of_name(comm);
    if (out->kind == USC_VMM_NONE && len < COMM_MAX)
        return 0;
    cmd = malloc(CMDLINE_MAX);
    if (!cmd)
        return -ENOMEM;
    if (usc_proc_cmdline(pid, cmd, CMDLINE_MAX - 1, &clen) == 0) {
        cmd[clen] = '\0';
        if (out->kind == USC_VMM_NONE)
            out->kind = usc_vmm_kind_of(comm, cmd);
    }
    if (out->kind == USC_VMM_NONE)
        goto out;
    snprintf(path, sizeof(path), "/proc/%d", pid);
    if (stat(path, &st) != 0) {
        err = -ESRCH;
        goto out;
    }
    out->uid = st.st_uid;
    if (read_proc(pid, "stat", stat_line, sizeof(stat_line), &slen) == 0)
        usc_proc_parse_stat(stat_line, slen, &ns, &out->start_ticks, NULL);
    snprintf(path, sizeof(path), "/proc/%d/mem", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    out->readable = fd >= 0;
    if (fd >= 0)
        close(fd);
    out->ours = out->kind == USC_VMM_QEMU &&
                usc_rundir_path(dir, sizeof(dir)) == 0 &&
                names_rundir(cmd, clen, dir);
out:
    free(cmd);
    return err;
}

int usc_vmm_scan_enabled(void)
{
    const char *v = getenv("UNISCOPE_VMM_SCAN");

    return !v || strcmp(v, "0") != 0;
}

static int compare_pids(const void *a, const void *b)
{
    int x = ((const struct usc_vmm_proc *)a)->pid;
    int y = ((const struct usc_vmm_proc *)b)->pid;

    return x < y ? -1 : x > y;
}

int usc_vmm_list(struct usc_vmm_proc **out, size_t *n)
{
    struct usc_vmm_proc *v = NULL, *nv, p;
    size_t count = 0, cap = 0;
    struct dirent *e;
    DIR *d;

    *out = NULL;
    *n = 0;
    d = opendir("/proc");
    if (!d)
        return -errno;
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);

        if (*end || pid <= 0 || pid > INT32_MAX)
            continue;
        if (usc_vmm_probe((int)pid, &p) != 0 || p.kind == USC_VMM_NONE)
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                free(v);
                closedir(d);
                return -ENOMEM;
            }
            v = nv;
        }
        v[count++] = p;
    }
    closedir(d);
    if (count)
        qsort(v, count, sizeof(*v), compare_pids);
    *out = v;
    *n = count;
    return 0;
}

/* The vCPU number in thread name (comm) of a (kind) VMM, or -1. */
static long vcpu_of_thread(enum usc_vmm_kind kind, const char *comm)
{
    const char *num;
    char *end;
    long v;

    switch (kind) {
    case USC_VMM_QEMU:
        num = starts(comm, "CPU ") ? comm + 4 : NULL;
        break;
    case USC_VMM_FIRECRACKER:
        num = starts(comm, "fc_vcpu ") ? comm + 8 : NULL;
        break;
    case USC_VMM_CLOUD_HV:
        num = starts(comm, "vcpu") ? comm + 4 : NULL;
        break;
    case USC_VMM_LKVM:
        num = starts(comm, "kvm-vcpu-") ? comm + 9 : NULL;
        break;
    default:
        num = NULL;
        break;
    }
    if (!num || *num < '0' || *num > '9')
        return -1;
    v = strtol(num, &end, 10);
    /* QEMU: "CPU 0/KVM"; the others end with the number */
    if (kind == USC_VMM_QEMU ? *end != '/' : *end != '\0')
        return -1;
    return v < USC_VMM_MAX_VCPUS ? v : -1;
}

int usc_vmm_vcpu_threads(int pid, enum usc_vmm_kind kind, int64_t *tids,
                         size_t cap, size_t *n)
{
    char path[64], comm[32];
    struct dirent *e;
    size_t count = 0, len;
    DIR *d;

    *n = 0;
    for (size_t i = 0; i < cap; i++)
        tids[i] = -1;
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    d = opendir(path);
    if (!d)
        return errno == ENOENT ? -ESRCH : -errno;
    while ((e = readdir(d))) {
        char file[64], *end;
        long tid = strtol(e->d_name, &end, 10), v;

        if (*end || tid <= 0)
            continue;
        snprintf(file, sizeof(file), "task/%ld/comm", tid);
        if (read_proc(pid, file, comm, sizeof(comm) - 1, &len) != 0)
            continue;
        while (len && comm[len - 1] == '\n')
            len--;
        comm[len] = '\0';
        v = vcpu_of_thread(kind, comm);
        if (v < 0 || (size_t)v >= cap)
            continue;
        tids[v] = tid;
        if ((size_t)v + 1 > count)
            count = (size_t)v + 1;
    }
    closedir(d);
    *n = count;
    return 0;
}

int usc_proc_read_stat(int pid, int64_t tid, uint64_t *ns, uint64_t *start,
                       char *state)
{
    char path[96], buf[STAT_MAX];
    size_t n = 0;

    if (tid > 0)
        snprintf(path, sizeof(path), "/proc/%d/task/%lld/stat", pid,
                 (long long)tid);
    else
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (read_proc_file(path, buf, sizeof(buf), &n) != 0 || n == 0)
        return -ESRCH;
    return usc_proc_parse_stat(buf, n, ns, start, state);
}

int64_t usc_proc_start_epoch(uint64_t start_ticks)
{
    static int64_t btime;
    long hz = sysconf(_SC_CLK_TCK);
    char buf[4096];
    const char *p;
    size_t n = 0;

    if (!btime && read_proc_file("/proc/stat", buf, sizeof(buf) - 1, &n) == 0) {
        buf[n] = '\0';
        p = strstr(buf, "\nbtime ");
        btime = p ? strtoll(p + 7, NULL, 10) : 0;
    }
    if (btime <= 0 || hz <= 0)
        return -1;
    return btime + (int64_t)(start_ticks / (uint64_t)hz);
}

void usc_proc_perm_hint(int pid, char *buf, size_t cap)
{
    char path[64], scope[16] = "";
    struct stat st;
    size_t len = 0;
    const char *who = "";
    int fd;

    snprintf(path, sizeof(path), "/proc/%d", pid);
    if (stat(path, &st) == 0 && st.st_uid != geteuid())
        who = st.st_uid == 0 ? " (it is root's)" : " (another user's)";
    fd = open("/proc/sys/kernel/yama/ptrace_scope", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r = read(fd, scope, sizeof(scope) - 1);

        len = r > 0 ? (size_t)r : 0;
        close(fd);
    }
    while (len && (scope[len - 1] == '\n' || scope[len - 1] == ' '))
        len--;
    scope[len] = '\0';
    snprintf(buf, cap,
             "reading process %d's memory needs ptrace rights over it%s: "
             "run as root or its owner with CAP_SYS_PTRACE (sudo, or setcap "
             "cap_sys_ptrace+ep on the tool)%s%s%s",
             pid, who,
             len && strcmp(scope, "0") ? "; /proc/sys/kernel/yama/ptrace_scope "
                                         "is "
                                       : "",
             len && strcmp(scope, "0") ? scope : "",
             len && strcmp(scope, "0") ? " (0 lets owners read their own)"
                                       : "");
}

const char *usc_proc_open_error(const char *text, int err, char *buf,
                                size_t cap)
{
    char comm[32] = "", *end;
    long pid;
    size_t len = 0;

    if (!text || strncmp(text, "pid:", 4) != 0)
        return NULL;
    pid = strtol(text + 4, &end, 10);
    if (end == text + 4 || pid <= 0 || pid > INT32_MAX || (*end && *end != ','))
        err = -EINVAL;
    if (err != -EINVAL &&
        read_proc((int)pid, "comm", comm, sizeof(comm) - 1, &len) == 0) {
        while (len && comm[len - 1] == '\n')
            len--;
        comm[len] = '\0';
    }
    switch (err) {
    case -EINVAL:
        snprintf(buf, cap,
                 "not a pid: TARGET (pid:PID[,gdb=HOST:PORT|"
                 "unix:PATH][,ram=HVA:SIZE[:GPA]]...), or ram= "
                 "regions that overlap");
        break;
    case -ESRCH:
        snprintf(buf, cap, "no such process (or it exited)");
        break;
    case -EACCES:
    case -EPERM:
        usc_proc_perm_hint((int)pid, buf, cap);
        break;
    case -ENOEXEC:
        snprintf(buf, cap,
                 "process %ld (%s) is no VMM uniscope knows (qemu-system-*, "
                 "firecracker, cloud-hypervisor, *-hvt, uhyve, lkvm): name "
                 "its guest's RAM with ram=HVA:SIZE[:GPA]",
                 pid, comm);
        break;
    case -ENOENT:
        snprintf(buf, cap,
                 "no agent control block in %s %ld's memory, so where its "
                 "guest's RAM lies is not known: name it with "
                 "ram=HVA:SIZE[:GPA] (see /proc/%ld/maps)",
                 comm, pid, pid);
        break;
    case -ESTALE:
        snprintf(buf, cap,
                 "only stale agent control blocks in %s %ld's memory (the "
                 "address each records does not fit where it lies): name "
                 "the guest's RAM with ram=HVA:SIZE[:GPA]",
                 comm, pid);
        break;
    case -ERANGE:
        snprintf(buf, cap,
                 "ram= names memory process %ld does not map (a wrong "
                 "address, or a size that is more than there is): see "
                 "/proc/%ld/maps",
                 pid, pid);
        break;
    default:
        return NULL;
    }
    return buf;
}
