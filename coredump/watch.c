/* unicore watch: dump every watched guest that panics or dies, once. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rundir.h"
#include "sanitize.h"
#include "unicore.h"

#define DEFAULT_INTERVAL_MS 200
#define QMP_EVERY 5 /* polls between two QMP state queries */
#define MAX_GUESTS 4096

/*
 * One guest being watched. A panic is polled from the agent's state in the
 * RAM file (the agent keeps PANICKED and the vCPU halts, so a panic
 * between two polls is still there at the next); QEMU's death from its
 * pid; other abnormal stops (internal-error, guest-panicked, shutdown)
 * from QMP, less often.
 */
struct guest {
    char spec[PATH_MAX + 8]; /* what we open */
    char name[USC_TARGET_NAME_MAX];
    char mem[PATH_MAX]; /* its RAM file, "" when unknown */
    char qmp[PATH_MAX];
    int64_t pid, start_time; /* unirun's, for a NAME; -1/0 otherwise */
    int from_rundir;         /* found by listing the run directory */
    int seen;                /* in this poll's list */
    int done;                /* dumped, or given up on */
    char kept[PATH_MAX];     /* the core unirun kept of it */
    unsigned polls;
    struct usc_ramfile *ram;
    struct usc_ramdata rf;
    struct usc_agent *agent;
};

struct watch {
    const char *dir;
    char **names; /* NAMEs given, or none: every guest of the run directory */
    size_t nnames;
    int interval_ms;
    long count; /* dumps before exiting; 0: forever */
    long dumps;
    struct guest **g;
    size_t n, cap;
};

static void guest_free(struct guest *g)
{
    if (!g)
        return;
    usc_agent_close(g->agent);
    usc_ramfile_close(g->ram);
    usc_ramdata_close(&g->rf);
    free(g);
}

static struct guest *find(struct watch *w, const char *name, int64_t start)
{
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->g[i]->name, name) && w->g[i]->start_time == start)
            return w->g[i];
    return NULL;
}

static struct guest *add(struct watch *w)
{
    struct guest *g;

    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        struct guest **a;
        if (cap > MAX_GUESTS)
            return NULL;
        a = realloc(w->g, cap * sizeof(*a));
        if (!a)
            return NULL;
        w->g = a;
        w->cap = cap;
    }
    g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->pid = -1;
    g->rf.fd = -1;
    w->g[w->n++] = g;
    return g;
}

/* Watch unirun guest (name), as it is now (a restart is a new guest). */
static void add_named(struct watch *w, const char *name, int from_rundir)
{
    struct usc_guest_info gi;
    struct guest *g;

    if (usc_guest_info_read(name, &gi) != 0)
        return; /* not started yet, or going: seen at a later poll */
    g = find(w, name, gi.start_time);
    if (!g) {
        g = add(w);
        if (!g)
            return;
        snprintf(g->spec, sizeof(g->spec), "%s", name);
        snprintf(g->name, sizeof(g->name), "%s", name);
        g->pid = gi.pid;
        g->start_time = gi.start_time;
        g->from_rundir = from_rundir;
        usc_rundir_guest_path(name, USC_RUNDIR_MEM, g->mem, sizeof(g->mem));
        usc_rundir_guest_path(name, USC_RUNDIR_QMP, g->qmp, sizeof(g->qmp));
    }
    g->seen = 1;
}

static int add_spec(struct watch *w, char *text)
{
    struct usc_target_spec spec;
    struct guest *g;

    if (usc_target_spec_parse(text, &spec) != 0 ||
        spec.kind == USC_TARGET_CORE || spec.kind == USC_TARGET_XEN)
        return -EINVAL;
    if (spec.kind == USC_TARGET_NAME) {
        /* Looked for at every poll: it may not have started yet. */
        w->names[w->nnames++] = text;
        return 0;
    }
    g = add(w);
    if (!g)
        return -ENOMEM;
    snprintf(g->spec, sizeof(g->spec), "%s", text);
    usc_sanitize_text(g->name, sizeof(g->name), text, strlen(text));
    for (char *c = g->name; *c; c++)
        if (*c == '/' || *c == ':' || *c == ',')
            *c = '_';
    snprintf(g->mem, sizeof(g->mem), "%s", spec.mem);
    snprintf(g->qmp, sizeof(g->qmp), "%s", spec.qmp);
    g->seen = 1;
    return 0;
}

/* ---- what happened to a guest ------------------------------------------ */

enum verdict { FINE, PANICKED, DIED, STOPPED, KEPT };

/* The agent's run state in the RAM file; -1 when there is no agent. */
static int agent_state(struct guest *g)
{
    struct usc_agent_status st;
    int err;

    if (!g->mem[0])
        return -1;
    if (!g->ram) {
        if (usc_ramfile_open(g->mem, &g->ram) != 0)
            return -1;
        usc_ramdata_open(g->mem, &g->rf);
    }
    if (!g->agent && usc_ramdata_find_agent(&g->rf, usc_ramfile_physmem(g->ram),
                                            &g->agent) != 0) {
        g->agent = NULL;
        return -1;
    }
    err = usc_agent_status(g->agent, &st);
    if (err == -ESTALE) { /* rebooted: find it again next time */
        usc_agent_close(g->agent);
        g->agent = NULL;
        return -1;
    }
    return err ? -1 : (int)st.state;
}

/* QEMU's own view: a stop that is not a pause, or QEMU gone. */
static enum verdict qemu_state(struct guest *g)
{
    struct usc_target *t;
    enum usc_vm_state st = USC_VM_UNKNOWN;
    char spec[PATH_MAX + 8];

    if (!g->qmp[0])
        return FINE;
    snprintf(spec, sizeof(spec), "qemu:%s", g->qmp);
    if (usc_target_open(spec, &t) != 0)
        return access(g->qmp, F_OK) == 0 ? FINE : DIED;
    if (usc_target_run_state(t, &st) != 0)
        st = USC_VM_UNKNOWN;
    usc_target_close(t);
    switch (st) {
    case USC_VM_PANICKED:
    case USC_VM_SHUTDOWN:
        return STOPPED;
    case USC_VM_DEAD:
        return DIED;
    default:
        return FINE;
    }
}

/* What unirun recorded of how a guest it supervised ended, if it did. */
static enum verdict unirun_said(struct guest *g, int *wait)
{
    struct usc_guest_info gi;

    *wait = 0;
    if (!g->from_rundir || usc_guest_info_read(g->name, &gi) != 0 ||
        gi.start_time != g->start_time)
        return FINE;
    /* unirun is taking its core: wait for it (unless unirun died) */
    if (!strcmp(gi.state, USC_GUEST_STOPPING) &&
        usc_guest_supervised(g->name)) {
        *wait = 1;
        return FINE;
    }
    if (!strcmp(gi.state, USC_GUEST_EXITED)) {
        g->done = 1; /* an orderly end: nothing to keep */
        return FINE;
    }
    if (gi.core[0] && (!strcmp(gi.state, USC_GUEST_CRASHED) ||
                       !strcmp(gi.state, USC_GUEST_HELD))) {
        snprintf(g->kept, sizeof(g->kept), "%s", gi.core);
        return KEPT;
    }
    return FINE;
}

/*
 * A guest unirun supervises whose stop is unirun's to handle: QEMU holds
 * it stopped, or has just ended under unirun; unirun keeps its core and
 * says so in guest.json (unirun_said), so that we do not race it.
 */
static int unirun_handles(struct guest *g, int qemu_gone)
{
    if (!g->from_rundir || !usc_guest_supervised(g->name))
        return 0;
    return qemu_gone || qemu_state(g) == STOPPED;
}

static enum verdict check(struct guest *g)
{
    int wait, state;
    enum verdict said = unirun_said(g, &wait);
    enum verdict v;

    if (said != FINE || g->done || wait)
        return said;
    state = agent_state(g);
    /* A panic that halts the vCPU leaves QEMU running: ours to dump. */
    if (state == USC_STATE_PANICKED && unirun_handles(g, 0))
        return FINE;

    if (state == USC_STATE_PANICKED)
        return PANICKED;
    if (state == USC_STATE_HALTED)
        return FINE; /* an orderly exit, whatever QEMU does next */
    if (g->pid > 0 && !usc_guest_pid_alive(g->pid, g->name))
        return unirun_handles(g, 1) ? FINE : DIED;
    if (g->polls++ % QMP_EVERY == 0) {
        v = qemu_state(g);
        return v == STOPPED && unirun_handles(g, 0) ? FINE : v;
    }
    return FINE;
}

/* ---- dumping ----------------------------------------------------------- */

static void core_path(const struct watch *w, const struct guest *g, char *out,
                      size_t cap)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    struct stat st;

    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    snprintf(out, cap, "%s/%s-%s.core", w->dir, g->name, stamp);
    for (int i = 2; lstat(out, &st) == 0 && i < 1000; i++)
        snprintf(out, cap, "%s/%s-%s-%d.core", w->dir, g->name, stamp, i);
}

static const char *const verdicts[] = {
    [FINE] = "fine",
    [PANICKED] = "panicked",
    [DIED] = "exited abnormally",
    [STOPPED] = "stopped abnormally",
    [KEPT] = "crashed",
};

/* The rest of (in) appended to (out) by read and write. */
static int copy_bytes(int in, int out)
{
    static char buf[1 << 16];
    ssize_t n;

    while ((n = read(in, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));

            if (w < 0 && errno != EINTR)
                return -errno;
            if (w > 0)
                done += w;
        }
    }
    return 0;
}

/* Copy the core unirun kept, (from), to (to): a hard link when they share
 * a file system, else the bytes, through a dot-file renamed. */
static int copy_kept(const char *from, const char *to)
{
    char tmp[PATH_MAX + 16];
    const char *slash = strrchr(to, '/');
    int in, out, err = 0;
    ssize_t n;

    if (link(from, to) == 0)
        return 0;
    if (errno == EEXIST)
        return -EEXIST;
    snprintf(tmp, sizeof(tmp), "%.*s/.%s.XXXXXX", slash ? (int)(slash - to) : 1,
             slash ? to : ".", slash ? slash + 1 : to);
    in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    out = mkostemp(tmp, O_CLOEXEC);
    if (out < 0) {
        err = -errno;
        close(in);
        return err;
    }
    /* copy_file_range refuses another file system (EXDEV): plain I/O */
    while (!err && (n = copy_file_range(in, NULL, out, NULL, 1 << 20, 0)) != 0)
        if (n < 0) {
            err = errno == EXDEV || errno == EINVAL || errno == ENOSYS
                      ? copy_bytes(in, out)
                      : -errno;
            break;
        }
    if (!err && fdatasync(out) != 0)
        err = -errno;
    close(in);
    if (close(out) != 0 && !err)
        err = -errno;
    if (!err && renameat2(AT_FDCWD, tmp, AT_FDCWD, to, RENAME_NOREPLACE) != 0)
        err = -errno;
    if (err)
        unlink(tmp);
    return err;
}

static void dump(struct watch *w, struct guest *g, enum verdict v)
{
    struct usc_core_dump_opts o = {.cancel = &unicore_stop};
    struct usc_core_dump_result res;
    char path[PATH_MAX], spec[PATH_MAX + 16];
    const char *what = NULL;
    int err;

    g->done = 1;
    if (v == KEPT) {
        core_path(w, g, path, sizeof(path));
        err = copy_kept(g->kept, path);
        if (err) {
            unicore_error(g->name, "crashed: its core %s: %s", g->kept,
                          strerror(-err));
            return;
        }
        w->dumps++;
        printf("unicore: %s crashed: unirun kept its core; copied to %s\n",
               g->name, path);
        fflush(stdout);
        return;
    }
    /* QEMU is gone: what is left is its RAM file, read-only. */
    if (v == DIED && g->mem[0] && access(g->mem, R_OK) == 0) {
        snprintf(spec, sizeof(spec), "qemu:,mem=%s", g->mem);
        o.target = spec;
        o.guest = g->from_rundir ? g->name : NULL;
    } else if (v == DIED) {
        unicore_error(g->name, "QEMU exited and left no RAM file to dump");
        return;
    } else {
        o.target = g->spec;
    }
    /* Our mapping of the RAM file is not needed any more. */
    usc_agent_close(g->agent);
    g->agent = NULL;
    core_path(w, g, path, sizeof(path));
    o.path = path;
    err = usc_core_dump(&o, &res, &what);
    if (err) {
        unicore_error(g->name, "%s: dump: %s: %s", verdicts[v], what,
                      strerror(-err));
        return;
    }
    w->dumps++;
    if (res.image[0] && res.build_id_len)
        unicore_image_keep(res.image, res.build_id, res.build_id_len, w->dir);
    printf("unicore: %s %s: wrote %s (%llu bytes, guest paused %.1f ms)\n",
           g->name, verdicts[v], path, (unsigned long long)res.file_bytes,
           res.pause_ns / 1e6);
    fflush(stdout);
}

/* ---- the loop ---------------------------------------------------------- */

static void poll_rundir(struct watch *w)
{
    char **names = NULL;
    size_t n = 0;

    for (size_t i = 0; i < w->n; i++)
        if (w->g[i]->from_rundir)
            w->g[i]->seen = 0;
    if (usc_rundir_list(&names, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        int wanted = w->nnames == 0;
        for (size_t j = 0; !wanted && j < w->nnames; j++)
            wanted = !strcmp(w->names[j], names[i]);
        if (wanted)
            add_named(w, names[i], 1);
    }
    usc_rundir_list_free(names, n);
}

/* Forget guests whose folder is gone (stopped with unirun --stop). */
static void forget_gone(struct watch *w)
{
    size_t k = 0;

    for (size_t i = 0; i < w->n; i++) {
        if (w->g[i]->from_rundir && !w->g[i]->seen) {
            guest_free(w->g[i]);
            continue;
        }
        w->g[k++] = w->g[i];
    }
    w->n = k;
}

static int run(struct watch *w)
{
    while (!unicore_stop && (!w->count || w->dumps < w->count)) {
        /* Only qemu: targets given: no run directory to look at. */
        if (w->nnames || !w->n || w->g[0]->from_rundir)
            poll_rundir(w);
        forget_gone(w);
        for (size_t i = 0; i < w->n && !unicore_stop; i++) {
            struct guest *g = w->g[i];
            enum verdict v;
            if (g->done || !g->spec[0])
                continue;
            v = check(g);
            if (v != FINE)
                dump(w, g, v);
            if (w->count && w->dumps >= w->count)
                break;
        }
        if (!unicore_stop && (!w->count || w->dumps < w->count))
            poll(NULL, 0, w->interval_ms); /* a signal ends it early */
    }
    return 0;
}

int unicore_watch_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"interval", required_argument, NULL, 'i'},
        {"count", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *usage_line =
        "unicore watch [TARGET...] --dir DIR [--interval MS] [--count N]";
    struct watch w = {.interval_ms = DEFAULT_INTERVAL_MS};
    struct stat st;
    char *end;
    int c, status;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "d:i:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            w.dir = optarg;
            break;
        case 'i':
            w.interval_ms = (int)strtol(optarg, &end, 10);
            if (*end || w.interval_ms < 10 || w.interval_ms > 60000) {
                unicore_error("--interval", "'%s': 10 to 60000 ms", optarg);
                return UNICORE_EXIT_USAGE;
            }
            break;
        case 'n':
            w.count = strtol(optarg, &end, 10);
            if (*end || w.count < 1) {
                unicore_error("--count", "'%s': a positive number", optarg);
                return UNICORE_EXIT_USAGE;
            }
            break;
        case 'h':
            printf("usage: %s\n", usage_line);
            return 0;
        default:
            unicore_error("usage", "%s", usage_line);
            return UNICORE_EXIT_USAGE;
        }
    }
    if (!w.dir) {
        unicore_error("usage", "%s", usage_line);
        return UNICORE_EXIT_USAGE;
    }
    if (mkdir(w.dir, 0700) != 0 && errno != EEXIST) {
        unicore_error(w.dir, "%s", strerror(errno));
        return UNICORE_EXIT_FAIL;
    }
    if (stat(w.dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        unicore_error(w.dir, "not a directory");
        return UNICORE_EXIT_FAIL;
    }
    w.names = calloc((size_t)argc, sizeof(*w.names));
    if (!w.names) {
        unicore_error("watch", "%s", strerror(ENOMEM));
        return UNICORE_EXIT_FAIL;
    }
    for (int i = optind; i < argc; i++) {
        if (add_spec(&w, argv[i]) != 0) {
            unicore_error(argv[i], "not a guest NAME or qemu: target");
            status = UNICORE_EXIT_USAGE;
            goto out;
        }
    }
    unicore_catch_signals();
    status = run(&w);
out:
    for (size_t i = 0; i < w.n; i++)
        guest_free(w.g[i]);
    free(w.g);
    free(w.names);
    return status;
}
