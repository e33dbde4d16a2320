/* unitop's parts: the fleet of guests, their samples, columns and outputs. */
#ifndef UNITOP_H
#define UNITOP_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uniscope/abi.h>

#include "agent_reader.h"
#include "guestmem.h"
#include "physmem.h"
#include "physmirror.h"
#include "procvmm.h"
#include "rundir.h"
#include "sanitize.h"
#include "target.h"
#include "trace_reader.h"

/* Exit statuses. */
#define TOP_EXIT_FAIL 1
#define TOP_EXIT_USAGE 2

#define TOP_DELAY_DEFAULT_MS 1000
#define TOP_DELAY_MIN_MS 10
#define TOP_DELAY_MAX_MS 3600000
/* From the baseline sample to the first figures shown (or -d, if less). */
#define TOP_FIRST_MS 500
/* A hypervisor exchange outstanding this long shows the guest stalled. */
#define TOP_STALL_MS 1000
/* vCPUs of one guest unitop keeps figures for. */
#define TOP_VCPUS_MAX 256
/* Threads that ask QEMU in parallel: a hung QEMU holds one for 3 s. */
#define TOP_WORKERS_MAX 8

/* ---- options (options.c) ------------------------------------------------ */

enum top_format {
    TOP_FORMAT_TEXT = 0,
    TOP_FORMAT_CSV,
    TOP_FORMAT_JSON,
};

struct top_opts {
    int batch;
    long iterations; /* -n: 0 until interrupted */
    int delay_ms;    /* -d */
    enum top_format format;
    const char *prometheus; /* --prometheus HOST:PORT, or NULL */
    int help, version;
};

/*
 * Parse (argc, argv) into (o). Returns 0, or TOP_EXIT_USAGE after printing
 * one line on stderr.
 */
int top_options_parse(int argc, char **argv, struct top_opts *o);

/* --help's text on stdout. */
void top_usage(void);

/* "unitop: (context): (reason...)" as one line on stderr. */
void top_error(const char *context, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- a guest and its samples -------------------------------------------- */

/* What the STATE column says: the hypervisor's state, refined. */
enum top_state {
    TOP_STATE_UNKNOWN = 0,
    TOP_STATE_STARTING, /* no monitor yet, or no agent on a RAM file */
    TOP_STATE_RUNNING,
    TOP_STATE_PAUSED,
    TOP_STATE_DEBUG,
    TOP_STATE_HALTED,   /* the agent shut down in order */
    TOP_STATE_SHUTDOWN, /* QEMU says so */
    TOP_STATE_PANICKED, /* QEMU or the agent says so */
    TOP_STATE_CORRUPT,  /* the agent's control block does not validate */
    TOP_STATE_STALLED,  /* QEMU did not answer in time */
    TOP_STATE_DEAD,     /* QEMU is gone, or the RAM file */
};

const char *top_state_name(enum top_state s);

enum top_kind {
    TOP_KIND_QEMU = 1,   /* unirun's: QMP, RAM file, gdbstub */
    TOP_KIND_AGENT_ONLY, /* its RAM file alone (USC_RUNDIR_AGENT_ONLY) */
    TOP_KIND_XEN,        /* a domain of the Xen host we run in (xen.c) */
    TOP_KIND_PROC,       /* a VMM process of this host (procs.c) */
};

/* One agent metric as last read; strings sanitised. */
struct top_metric {
    char name[USC_NAME_MAX];
    char unit[USC_UNIT_MAX];
    uint32_t kind;  /* enum usc_metric_kind */
    uint64_t value; /* a gauge's is two's complement */
    double rate;    /* counters: per second; NAN when unknown */
    char prom[96];  /* its Prometheus name after the prefix; "" to skip */
    struct usc_prom_unit conv;
};

/* A guest's trace rings, watched for their event rate (trace_rate.c). */
struct top_trace {
    struct usc_trace *t; /* NULL when the agent publishes no rings */
    uint32_t nrings;
    struct ring_seen *seen;
};

/* Watch the trace rings of agent (a) in (pm), when it has any. */
int top_trace_open(struct top_trace *tr, struct usc_agent *a,
                   const struct usc_physmem *pm);
void top_trace_close(struct top_trace *tr);

/*
 * Events written since the last call, summed over the rings, into
 * (*events) ((*events_known) 0 when a ring could not say), and the events
 * the guest dropped since boot into (*lost). (buf) holds a packet,
 * USC_TRACE_PACKET_MAX bytes. Returns 0 or a negative errno.
 */
int top_trace_sample(struct top_trace *tr, unsigned char *buf, uint64_t *events,
                     int *events_known, uint64_t *lost);

/* The agent side of a guest: read in unitop's main thread, from RAM. */
struct top_agent {
    struct usc_ramfile *ram; /* mapped once, kept */
    /* a VMM process's memory, read in a batch per refresh (procs.c) */
    struct usc_physmirror *mirror;
    struct usc_agent *agent; /* opened once, kept; reopened on -ESTALE */
    struct top_trace trace;
    uint64_t ram_bytes;
    int ram_err;      /* the RAM file could not be mapped (or faulted) */
    uint64_t last_cb; /* where the agent was last found; 0 never */
    int err;          /* why there are no figures, 0 when there are */
    int64_t retry_ms; /* next attempt to open, after a failure */
    int backoff_ms;
    char name[USC_GUEST_NAME_MAX]; /* the agent's own name, sanitised */

    int valid; /* the figures below are from the last refresh */
    int64_t at_ms;
    struct usc_agent_status st;
    double uptime;            /* seconds since the agent's boot */
    uint32_t threads;         /* not exited */
    uint64_t switches;        /* summed over threads */
    uint32_t threads_refused; /* slots left out as corrupt (a vCPU out of
                                 range...): the others are shown */
    int trace_known;          /* trace rings are published */
    uint64_t trace_events;    /* counted since unitop started watching */
    uint64_t trace_lost;      /* the guest's count, since its boot */
    double switch_rate;       /* per second; NAN when unknown */
    double trace_rate;        /* per second; NAN when unknown */
    size_t nmetrics, metrics_cap;
    struct top_metric *metrics;
};

/* One vCPU as the hypervisor sees it. */
struct top_vcpu {
    int64_t tid;     /* host thread, -1 when unknown */
    uint64_t cpu_ns; /* USC_STAT_UNKNOWN when unknown */
    uint64_t exits;  /* USC_STAT_UNKNOWN when unknown */
};

/* What one worker job learned from the hypervisor. */
struct top_hv_sample {
    int64_t at_ms;
    int err; /* 0, or the failure (-ETIMEDOUT: QEMU did not answer) */
    enum usc_vm_state vm;
    uint32_t nvcpus; /* 0 when unknown */
    uint64_t mem_bytes;
    int64_t pid;
    int64_t start_time; /* guest.json's, epoch seconds; -1 when unknown */
    uint64_t cpu_ns;    /* all vCPUs (Xen's domain list); USC_STAT_UNKNOWN */
    int64_t vcpu_ms;    /* Xen: when vcpu[] was read, apart from the list */
    uint32_t nvcpu_stats;
    struct top_vcpu vcpu[TOP_VCPUS_MAX];
    char msg[160]; /* an action's outcome, "" when none */
};

enum top_job {
    TOP_JOB_NONE = 0,
    TOP_JOB_SAMPLE,
    TOP_JOB_PAUSE,
    TOP_JOB_RESUME,
};

/*
 * The hypervisor side of a guest. The worker running a job (busy) owns
 * the members marked so; everything else is the main thread's. A Xen
 * domain's is the main thread's alone: no job ever runs for it.
 */
struct top_hv {
    struct usc_target *t; /* worker: kept open, QMP connects per exchange */
    struct usc_target_info w_info; /* worker: describe's, at open */
    int64_t w_start_time;          /* worker: guest.json's */
    int info_read;                 /* worker */
    struct top_hv_sample next;     /* worker: the job's result */

    int busy;
    enum top_job job, pending; /* in flight; asked for while busy */
    int64_t job_ms;            /* when the job in flight started */
    int err;                   /* the last job's failure, 0 when none */
    int valid;                 /* cur holds a sample; prev too if >= 2 */
    struct top_hv_sample cur, prev;
    double cpu_pct; /* all vCPUs; NAN when unknown */
    double vcpu_pct[TOP_VCPUS_MAX];
};

/* What a Xen domain's row knows of it beyond its samples (xen.c). */
struct top_domain {
    uint32_t domid;
    int hvm;          /* HVM or PVH: 1; PV: 0 */
    int named;        /* the guest's name is the domain's Xen name */
    int open_err;     /* why hv->t is not open; 0 when it is */
    int64_t retry_ms; /* next attempt to open it */
    int backoff_ms;
};

/* What a VMM process's row knows of it beyond its samples (procs.c). */
struct top_proc {
    int pid;
    enum usc_vmm_kind vmm;
    uint64_t start_ticks; /* its start, clock ticks after boot */
    int stat_fd;          /* /proc/PID/stat, kept open; -1 */
    size_t ntids;         /* vCPU threads known by their names */
    int64_t *tids;
    int *tid_fds;             /* their stat files, kept open; -1 */
    int64_t threads_retry_ms; /* next look for vCPU threads, while none */
    int threads_backoff_ms;
    int open_err;     /* why hv->t is not open; 0 when it is */
    int64_t retry_ms; /* next attempt to open it */
    int backoff_ms;
    uint64_t mem_bytes; /* its guest RAM, as the target found it */
    uint32_t nvcpus;    /* as the target said */
    int64_t gone_ms;    /* when it was seen gone; 0 while it runs */
};

struct top_guest {
    char name[USC_TARGET_NAME_MAX]; /* the run directory's, or Xen's */
    enum top_kind kind;
    uint64_t dir_ino;      /* a folder replaced under the name is a new guest */
    struct top_domain dom; /* TOP_KIND_XEN only */
    struct top_proc proc;  /* TOP_KIND_PROC only */
    struct top_agent ag;
    struct top_hv *hv; /* QEMU guests and Xen domains */
    enum top_state state;
    int tagged;
    int gone;        /* its folder went; freed once no job runs */
    pid_t trace_pid; /* a unitrace record started by us, or 0 */
};

/* Memory size, vCPUs and uptime as best known; -1 / 0 when unknown. */
int64_t top_guest_mem_bytes(const struct top_guest *g);
int64_t top_guest_vcpus(const struct top_guest *g);
double top_guest_uptime(const struct top_guest *g, int64_t now_epoch);
/* The guest's heap in bytes from its "heap_used" gauge; -1 when none. */
int64_t top_guest_heap(const struct top_guest *g);
/* The TARGET spec other tools take for (g), into (buf): "xen:NAME" for
 * a Xen domain (or "xen:DOMID" when its name is no valid one). */
int top_guest_target(const struct top_guest *g, char *buf, size_t size);
/* The guest's hypervisor name: "qemu" or "xen", a VMM process's own
 * ("firecracker", "solo5-hvt", ...). */
const char *top_guest_hypervisor(const struct top_guest *g);
/* How unitop reaches it: "qemu", "agent-only", "xen" or "pid". */
const char *top_guest_kind(const struct top_guest *g);

/* ---- the agent reader's part (agent.c) ---------------------------------- */

/* Buffers a refresh reuses for every guest. */
struct top_scratch {
    struct usc_agent_thread *threads;
    size_t threads_cap;
    struct usc_agent_metric *metrics;
    size_t metrics_cap;
    unsigned char *packet; /* USC_TRACE_PACKET_MAX bytes */
};

/*
 * Refresh (g)'s agent figures from its RAM file (a Xen domain's: through
 * its open target, hv->t) at (now_ms): open what is not open yet (at most
 * once per backoff step), read status, metrics, threads and trace rings,
 * and compute rates from the previous refresh. On failure (g)->ag.err
 * says why and ag.valid is 0.
 */
void top_agent_refresh(struct top_guest *g, int64_t now_ms,
                       struct top_scratch *s);

/*
 * Make a SIGBUS (a RAM file cut short under our mapping) return to
 * top_agent_guarded instead of ending unitop. Main thread only.
 */
void top_agent_guard_install(void);

/*
 * Run fn(arg), which reads (ag)'s RAM; a SIGBUS meanwhile drops (ag)'s
 * mapping (top_agent_fault) and gives -EFAULT. Returns 0 otherwise.
 */
int top_agent_guarded(struct top_agent *ag, int64_t now_ms,
                      void (*fn)(void *arg), void *arg);

/* Drop (ag)'s mapping and handle after its RAM file faulted. */
void top_agent_fault(struct top_agent *ag, int64_t now_ms);

/* Free everything (ag) holds. */
void top_agent_close(struct top_agent *ag);

/* ---- the hypervisor's part (hv.c), run by workers ----------------------- */

/* Run (job) for guest (name) on (hv): opens, asks, fills hv->next. */
void top_hv_run(struct top_hv *hv, const char *name, enum top_job job);

/* Close what (hv) holds; no job may be running. */
void top_hv_close(struct top_hv *hv);

/* ---- Xen domains (xen.c), in the main thread ------------------------------
 */

/*
 * Where unitop learns of Xen domains: usc_xen_list_domains,
 * usc_target_open("xen:DOMID") and usc_now_ms (top_xen_real); tests put
 * fakes here. A domain's reads are timed by (now_ms) apart from the
 * refresh: opening one and scanning its RAM takes a while.
 */
struct top_xen_ops {
    int (*list)(struct usc_xen_domain **out, size_t *count);
    int (*open)(uint32_t domid, struct usc_target **out);
    int64_t (*now_ms)(void);
};

extern const struct top_xen_ops top_xen_real;

struct top_fleet;

/*
 * List the Xen host's domains once at (now_ms) and bring the fleet's
 * domUs in line: new ones added, vanished or recreated ones retired,
 * every one's sample taken from the list (state, vCPUs, memory, CPU time)
 * and per-vCPU statistics from its target, opened and kept. Returns 1
 * when domains came or went, 0 otherwise. The first -ENOTSUP or -ENODEV
 * (no Xen here) turns the lister off for good, silently.
 */
int top_xen_refresh(struct top_fleet *f, int64_t now_ms);

/* Pause or resume (job) Xen domain (g) now; the outcome in f->msg. */
int top_xen_act(struct top_fleet *f, struct top_guest *g, enum top_job job);

/*
 * CPU% of all vCPUs (from cur.cpu_ns) and of each (from vcpu[], timed by
 * vcpu_ms) between the two last samples of (hv), as the main thread takes
 * them for Xen domains and VMM processes.
 */
void top_hv_rates(struct top_hv *hv);

/* ---- VMM processes of this host (procs.c), in the main thread -------------
 */

/* Processes that are no VMM are looked at again after 1 s, doubling to: */
#define TOP_PROC_RECHECK_MAX_MS 30000
/* /proc is listed again when a process was made, and at least this often. */
#define TOP_PROC_RELIST_MS 10000
/* A VMM process that exited shows dead this long, then its row goes. */
#define TOP_PROC_DEAD_KEEP_MS 10000

/* When to look at a process that was no VMM (or not readable) again. */
struct top_pidseen {
    int pid;
    int backoff_ms;
    int64_t retry_ms;
    int unreadable; /* a VMM whose memory we may not read */
};

/*
 * List /proc at (now_ms) and bring the fleet's VMM processes in line:
 * each process is looked at once (its name; a VMM's owner, rights and
 * whether unirun started it here, which leaves it to the run directory's
 * row), other processes again only after a backoff. Every VMM's row gets
 * its sample (state, CPU time of its vCPU threads or of the process) and
 * its target pid:PID, opened and kept, for the agent. Returns 1 when rows
 * came or went, 0 otherwise.
 */
int top_procs_refresh(struct top_fleet *f, int64_t now_ms);

/* After the agent's refresh: a row whose target found no agent is closed,
 * to be opened (scanned) again after a backoff. */
void top_procs_after_agent(struct top_guest *g, int64_t now_ms);

/* Pause or resume (job) VMM process (g) through its target (a stub
 * unitop does not know: not supported); the outcome in f->msg. */
int top_procs_act(struct top_fleet *f, struct top_guest *g, enum top_job job);

/* Free what (g)'s struct top_proc holds. */
void top_proc_close(struct top_guest *g);

/* ---- workers (pool.c) --------------------------------------------------- */

struct top_pool;

/* Start a pool of up to (nthreads) workers, made as jobs come. */
int top_pool_new(int nthreads, struct top_pool **out);

/*
 * Stop (p): queued jobs are dropped, running ones get up to (wait_ms) to
 * finish. Returns 1 when every worker ended and (p) was freed, 0 when some
 * job still runs (a hung QEMU) and (p) was left to the process's exit.
 */
int top_pool_free(struct top_pool *p, int wait_ms);

/* Queue (job) for (g), whose hv->busy the caller has set. */
int top_pool_submit(struct top_pool *p, struct top_guest *g);

/* A guest whose job finished, or NULL; clears the pool's fd. */
struct top_guest *top_pool_done(struct top_pool *p);

/* Readable while finished jobs wait for top_pool_done. */
int top_pool_fd(const struct top_pool *p);

/* ---- the fleet (fleet.c) ------------------------------------------------ */

struct top_fleet {
    struct top_guest **g; /* every guest, sorted by name */
    size_t n, cap;
    struct top_guest **run; /* the run directory's, sorted by name */
    size_t nrun;
    struct top_guest **doms; /* Xen's domUs, by domid */
    size_t ndoms;
    struct top_guest **procs; /* VMM processes, by pid */
    size_t nprocs;
    struct top_pidseen *seen; /* other processes, by pid */
    size_t nseen, seen_cap;
    int *pids; /* /proc's pids at the last listing */
    size_t npids, pids_cap;
    long last_pid;           /* the kernel's last pid then (/proc/loadavg) */
    int64_t listed_ms;       /* when */
    int loadavg_fd;          /* /proc/loadavg kept open; -1 */
    int procs_off;           /* /proc cannot be listed: not again */
    size_t procs_unreadable; /* VMM processes we may not read */
    const struct top_xen_ops *xen; /* &top_xen_real unless a test's */
    int xen_off;                   /* no Xen here: not asked again */
    int xen_err;                   /* the last listing's error, 0 if none */
    struct top_pool *pool;
    int64_t dir_mtime_ns; /* of the run directory at the last scan */
    int dir_known;
    int dir_err;             /* the run directory's problem, 0 when none */
    struct top_guest **gone; /* removed while a job ran: freed after */
    size_t ngone, gone_cap;
    struct top_scratch scratch;
    long host_cores;
    int64_t tick_ms; /* the last refresh, monotonic */
    int64_t tick_epoch;
    int ticks;        /* refreshes done */
    size_t jobs_out;  /* jobs in flight */
    size_t tick_jobs; /* ... of those, submitted by the last refresh */
    char msg[256];    /* the latest message for the status line */
};

/* Make an empty fleet. Returns 0 or a negative errno. */
int top_fleet_init(struct top_fleet *f);

/* Free the fleet; waits at most (wait_ms) for jobs in flight. */
void top_fleet_fini(struct top_fleet *f, int wait_ms);

/*
 * One refresh at (now_ms): rescan the run directory when it changed, list
 * the Xen host's domains (when there is one), ask the hypervisor of every
 * idle QEMU guest (jobs run in the background), read every agent, and
 * derive states. Returns 0, or the run directory's error (its guests are
 * then left as they were).
 */
int top_fleet_refresh(struct top_fleet *f, int64_t now_ms);

/* Take in every finished job; returns how many. */
size_t top_fleet_collect(struct top_fleet *f, int64_t now_ms);

/* Derive (g)'s state from its latest samples at (now_ms). */
void top_fleet_state(struct top_guest *g, int64_t now_ms);

/*
 * Ask for (job) (pause, resume) on (g); runs in the background (at once
 * for a Xen domain), the result shows in f->msg. Returns 0, or -ENOTSUP
 * for a guest without a monitor.
 */
int top_fleet_act(struct top_fleet *f, struct top_guest *g, enum top_job job);

/*
 * Pause or resume (job) (g) now through its open target (hv->t; else fail
 * with (open_err)), the outcome in f->msg, (notsup) said for -ENOTSUP.
 * Returns 0 or the error. For the main thread's guests: Xen's, VMMs'.
 */
int top_act_target(struct top_fleet *f, struct top_guest *g, enum top_job job,
                   int open_err, const char *notsup);

/*
 * One more failure at (now_ms): (*backoff_ms) doubles from (min_ms) up to
 * (max_ms), and (*retry_ms) is when to try again.
 */
void top_backoff(int *backoff_ms, int64_t *retry_ms, int64_t now_ms, int min_ms,
                 int max_ms);

/*
 * A new row of (kind) named (name), with host figures (its hv) and every
 * rate unknown (NAN) until measured; NULL without memory. Freed with
 * top_guest_free.
 */
struct top_guest *top_guest_new(enum top_kind kind, const char *name);

/*
 * Rows of VMM processes and Xen domains each hold a few descriptors: with
 * hundreds of them the usual soft limit of 1024 runs out, so take what the
 * hard limit allows, once per process.
 */
void top_more_files(void);

/* Free (g) and everything it holds; no job may run for it. */
void top_guest_free(struct top_guest *g);

/* Make f->g again from the run directory's guests and the Xen domains. */
int top_fleet_join(struct top_fleet *f);

/* ---- columns (columns.c) ------------------------------------------------ */

enum top_fmt {
    TOP_FMT_TEXT = 0,
    TOP_FMT_COUNT,    /* an integer */
    TOP_FMT_PERCENT,  /* one decimal */
    TOP_FMT_BYTES,    /* 64M, 1.5G */
    TOP_FMT_DURATION, /* 42s, 3m05s, 2h07m, 4d03h */
    TOP_FMT_RATE,     /* per second: 12, 3.5, 1.2k */
};

/* A figure of a guest; unknown figures print "-", null or nothing. */
struct top_value {
    int known;
    double num;       /* numeric formats */
    const char *text; /* TOP_FMT_TEXT */
};

/*
 * A column of the guest table, one const instance each (as htop's
 * meters): its screen title, its key in CSV and JSON, a line of help, how
 * its figure prints, its width (0: the rest of the line), its sort
 * shortcut key, and how to get its figure from a guest at a time.
 */
struct top_column {
    const char *title;
    const char *key;
    const char *help;
    enum top_fmt fmt;
    int width;
    int left;
    int sort_key; /* htop's shortcut ('P', 'M', 'T'), or 0 */
    /* Fill (v) for (g); TEXT columns may build their text in (buf). */
    void (*get)(const struct top_guest *g, int64_t now_epoch,
                struct top_value *v, char *buf, size_t size);
};

extern const struct top_column *const top_columns[];
extern const size_t top_ncolumns;

/* Index of the column titled or keyed (name), or -1. */
int top_column_find(const char *name);

/* (v) in screen form into (buf): "-" when unknown. */
void top_value_format(const struct top_value *v, enum top_fmt fmt, char *buf,
                      size_t size);

/*
 * Sort (v) of (n) guests by column (col) at (now_epoch), descending for
 * numbers and ascending for text unless (invert); unknown figures last,
 * ties by name.
 */
void top_sort(struct top_guest **v, size_t n, int col, int invert,
              int64_t now_epoch);

/* Seconds as "42s", "3m05s", "2h07m", "4d03h". */
void top_format_duration(double s, char *buf, size_t size);

/* ---- outputs ------------------------------------------------------------- */

/* A growing text buffer. */
struct top_buf {
    char *p;
    size_t len, cap;
    int oom; /* an append failed: the text is incomplete */
};

void top_buf_printf(struct top_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void top_buf_put(struct top_buf *b, const char *s, size_t len);
void top_buf_free(struct top_buf *b);

/* The fleet in the Prometheus text format (0.0.4) into (b). */
void top_prom_render(const struct top_fleet *f, struct top_buf *b);

/* Batch output (batch.c). */
struct top_batch {
    enum top_format format;
    int iteration;
    int open; /* JSON: the array is open */
};

/* Write (f)'s guests, one iteration, to stdout. Returns 0 or -EIO. */
int top_batch_emit(struct top_batch *b, const struct top_fleet *f,
                   int delay_ms);
/* Close the output (the JSON array). */
int top_batch_end(struct top_batch *b);

/* ---- the Prometheus endpoint (http.c) ----------------------------------- */

struct top_http;
struct pollfd;

/*
 * Listen on (hostport) ("HOST:PORT", "[V6]:PORT"; port 0 takes any).
 * Returns 0, -EINVAL for a bad address, or the socket's error.
 */
int top_http_open(const char *hostport, struct top_http **out);
void top_http_close(struct top_http *h);

/* The port (h) listens on. */
int top_http_port(const struct top_http *h);

/* Add (h)'s sockets to (fds) from index (*n), at most (max). */
void top_http_pollfds(struct top_http *h, struct pollfd *fds, int *n, int max);

/*
 * Serve what poll found ready among (fds) of (n): accept, read requests,
 * answer GET /metrics with (f) rendered, write, close. Never blocks.
 */
void top_http_serve(struct top_http *h, const struct pollfd *fds, int n,
                    const struct top_fleet *f, int64_t now_ms);

/*
 * Parse the HTTP request head in (buf) of (len) bytes: the request line's
 * path into (path) of (size). Returns 0 for a complete GET or HEAD head
 * (*head set for HEAD), -EAGAIN when incomplete, -ENOTSUP for another
 * method, -EINVAL for anything malformed.
 */
int top_http_parse(const char *buf, size_t len, char *path, size_t size,
                   int *head);

/* ---- actions that run sibling tools (actions.c) ------------------------- */

struct top_actions;

int top_actions_new(struct top_actions **out);
/* Stop traces we started (SIGINT) and reap children, up to (wait_ms). */
void top_actions_free(struct top_actions *a, struct top_fleet *f, int wait_ms);

/* "unicore dump" of (g) into the working directory; outcome in f->msg. */
int top_action_dump(struct top_actions *a, struct top_fleet *f,
                    struct top_guest *g);
/* "unitrace record" of (g) until stopped; outcome in f->msg. */
int top_action_trace_start(struct top_actions *a, struct top_fleet *f,
                           struct top_guest *g);
int top_action_trace_stop(struct top_actions *a, struct top_fleet *f,
                          struct top_guest *g);

/* Add the children's output pipes to (fds). */
void top_actions_pollfds(struct top_actions *a, struct pollfd *fds, int *n,
                         int max);
/* Read their output and reap the ones that ended; 1 if anything changed. */
int top_actions_poll(struct top_actions *a, struct top_fleet *f);
/* 1 while children run (the loop then wakes to reap them). */
int top_actions_running(const struct top_actions *a);

/* ---- the main loop (loop.c) and the screen (ui*.c) ----------------------- */

/* Run unitop as (o) says; returns the exit status. */
int top_run(const struct top_opts *o);

struct top_ui;

/* Take the terminal (ncurses). Returns 0 or -ENOTTY. */
int top_ui_open(struct top_ui **out, int delay_ms);
void top_ui_close(struct top_ui *ui);

/* Draw (f) now. */
void top_ui_draw(struct top_ui *ui, struct top_fleet *f);

/*
 * Handle the keys waiting on the terminal: returns 1 when the user quit,
 * 0 otherwise; (*dirty) is set when the screen must be drawn again.
 */
int top_ui_keys(struct top_ui *ui, struct top_fleet *f, struct top_actions *a,
                int *dirty);

#endif /* UNITOP_H */
