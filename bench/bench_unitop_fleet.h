/* A fleet of agent-only guests in the run directory, for unitop at scale. */
#ifndef BENCH_UNITOP_FLEET_H
#define BENCH_UNITOP_FLEET_H

/*
 * Each guest is a folder of the run directory holding a RAM file ("mem")
 * and the agent-only marker, and nothing else: no QEMU. The RAM file holds
 * an agent control block built by hand as abi.h lays it out (as
 * tests/unit/check_agent_reader.c does), with metrics, threads and a log;
 * fleet_advance moves its counters as a running guest would. Used by
 * bench/bench_unitop_fleet.c and tests/integration/check_unitop_scale.c;
 * every function is static inline, so each includer gets its own copy.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <uniscope/abi.h>
#include <unistd.h>

#include "rundir.h"

#define FLEET_PAGE USC_ABI_PAGE_SIZE
#define FLEET_RAM (4 * FLEET_PAGE)
#define FLEET_CB (1 * FLEET_PAGE)
#define FLEET_METRICS (2 * FLEET_PAGE)
#define FLEET_NMETRICS 8
#define FLEET_THREADS (FLEET_METRICS + FLEET_NMETRICS * 64)
#define FLEET_NTHREADS 4
#define FLEET_LOG (3 * FLEET_PAGE)
#define FLEET_LOG_CAP 1024u
#define FLEET_PANIC (FLEET_LOG + FLEET_LOG_CAP)
#define FLEET_HZ 1000000000ull

struct fleet {
    size_t n;
    char (*names)[USC_TARGET_NAME_MAX];
    unsigned char **ram; /* each FLEET_RAM bytes, shared with the file */
    uint64_t ticks;
};

static inline void fleet_table(struct usc_table *t, uint64_t paddr,
                               uint32_t size, uint32_t cap)
{
    t->at.paddr = paddr;
    t->at.vaddr = 0xffffffff80000000ull + paddr;
    t->entry_size = size;
    t->capacity = cap;
}

static inline void fleet_metric(unsigned char *ram, uint32_t i,
                                const char *name, const char *unit,
                                uint32_t kind, uint64_t value)
{
    struct usc_metric *m = (struct usc_metric *)(ram + FLEET_METRICS) + i;

    m->value = value;
    m->kind = kind;
    snprintf(m->name, sizeof(m->name), "%s", name);
    snprintf(m->unit, sizeof(m->unit), "%s", unit);
}

static inline void fleet_thread(unsigned char *ram, uint32_t i,
                                const char *name, uint32_t state)
{
    struct usc_thread *t = (struct usc_thread *)(ram + FLEET_THREADS) + i;

    t->seq = 2;
    t->id = i + 1;
    t->state = state;
    snprintf(t->name, sizeof(t->name), "%s", name);
}

/* Lay out a live agent named (name) in (ram). */
static inline void fleet_build(unsigned char *ram, const char *name)
{
    struct usc_control_block *cb = (struct usc_control_block *)(ram + FLEET_CB);
    static const char hello[] = "fake agent up\n";

    memset(ram, 0, FLEET_RAM);
    cb->abi_version = USC_ABI_VERSION;
    cb->size = sizeof(*cb);
    cb->header_size = USC_CB_HEADER_SIZE;
    cb->self_paddr = FLEET_CB;
    cb->self_vaddr = 0xffffffff80000000ull + FLEET_CB;
    cb->ts_hz = FLEET_HZ;
    cb->boot_ts = 1;
    cb->max_vcpus = 1;
    snprintf(cb->name, sizeof(cb->name), "%s", name);
    fleet_table(&cb->metrics, FLEET_METRICS, sizeof(struct usc_metric),
                FLEET_NMETRICS);
    fleet_table(&cb->threads, FLEET_THREADS, sizeof(struct usc_thread),
                FLEET_NTHREADS);
    fleet_table(&cb->tracepoints, 0, sizeof(struct usc_tracepoint), 0);
    fleet_table(&cb->trace_rings, 0, sizeof(struct usc_trace_ring), 0);
    fleet_table(&cb->log, FLEET_LOG, 1, FLEET_LOG_CAP);
    fleet_table(&cb->panic, FLEET_PANIC, sizeof(struct usc_panic), 1);
    fleet_metric(ram, 0, "timer_ticks", "", USC_METRIC_COUNTER, 0);
    fleet_metric(ram, 1, "requests", "", USC_METRIC_COUNTER, 0);
    fleet_metric(ram, 2, "queue_depth", "", USC_METRIC_GAUGE, 0);
    fleet_metric(ram, 3, "heap_used", "bytes", USC_METRIC_GAUGE, 1 << 20);
    fleet_thread(ram, 0, "main", USC_THREAD_RUNNING);
    fleet_thread(ram, 1, "worker-0", USC_THREAD_BLOCKED);
    fleet_thread(ram, 2, "worker-1", USC_THREAD_RUNNABLE);
    memcpy(ram + FLEET_LOG, hello, sizeof(hello) - 1);
    cb->log_head = cb->log_reserve = sizeof(hello) - 1;
    cb->metrics_count = 4;
    cb->threads_used = 3;
    cb->vcpus_online = 1;
    cb->heartbeat_ts = cb->boot_ts;
    cb->state = USC_STATE_RUNNING;
    cb->checksum = usc_abi_checksum(cb, USC_CB_HEADER_SIZE);
    /* The magic last, as the agent does: a scan never sees half a block. */
    __atomic_store_n(&cb->magic, USC_ABI_MAGIC, __ATOMIC_RELEASE);
}

/* Make guest (name): its folder, RAM file and marker. */
static inline int fleet_add(struct fleet *f, size_t i, const char *name)
{
    char path[PATH_MAX];
    int fd, err;
    void *p;

    err = usc_rundir_guest_create(name);
    if (!err)
        err = usc_rundir_guest_mem(name);
    if (!err)
        err = usc_rundir_guest_path(name, USC_RUNDIR_MEM, path, sizeof(path));
    if (err)
        return err;
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, FLEET_RAM) != 0) {
        err = -errno;
        close(fd);
        return err;
    }
    p = mmap(NULL, FLEET_RAM, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return -errno;
    f->ram[i] = p;
    fleet_build(f->ram[i], name);
    /* The marker comes last: until then unitop takes it for QEMU's. */
    err =
        usc_rundir_guest_path(name, USC_RUNDIR_AGENT_ONLY, path, sizeof(path));
    if (err)
        return err;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

/*
 * Make (n) guests "(prefix)NNNNN" in the run directory (which the caller
 * made). Returns 0 or a negative errno, with what was made in (f) to
 * destroy either way.
 */
static inline int fleet_make(struct fleet *f, size_t n, const char *prefix)
{
    memset(f, 0, sizeof(*f));
    f->names = calloc(n ? n : 1, sizeof(*f->names));
    f->ram = calloc(n ? n : 1, sizeof(*f->ram));
    if (!f->names || !f->ram)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        snprintf(f->names[i], sizeof(f->names[i]), "%s%05zu", prefix, i);
        f->n = i + 1;
        int err = fleet_add(f, i, f->names[i]);

        if (err)
            return err;
    }
    return 0;
}

/* One tick of every guest: counters, a gauge, threads, the heartbeat. */
static inline void fleet_advance(struct fleet *f)
{
    f->ticks++;
    for (size_t i = 0; i < f->n; i++) {
        unsigned char *ram = f->ram[i];
        struct usc_control_block *cb;
        struct usc_metric *m;
        struct usc_thread *t;

        if (!ram)
            continue;
        cb = (struct usc_control_block *)(ram + FLEET_CB);
        m = (struct usc_metric *)(ram + FLEET_METRICS);
        t = (struct usc_thread *)(ram + FLEET_THREADS);
        __atomic_store_n(&m[0].value, m[0].value + 10, __ATOMIC_RELAXED);
        __atomic_store_n(&m[1].value, m[1].value + 1 + i % 7, __ATOMIC_RELAXED);
        __atomic_store_n(&m[2].value, f->ticks % 16, __ATOMIC_RELAXED);
        for (int k = 0; k < 3; k++) {
            /* Odd while written, as the agent's seqlock has it. */
            __atomic_store_n(&t[k].seq, t[k].seq + 1, __ATOMIC_RELEASE);
            t[k].switches += 1 + (uint64_t)k;
            t[k].cpu_time += FLEET_HZ / 100;
            __atomic_store_n(&t[k].seq, t[k].seq + 1, __ATOMIC_RELEASE);
        }
        __atomic_store_n(&cb->heartbeat_ts, cb->heartbeat_ts + FLEET_HZ / 10,
                         __ATOMIC_RELEASE);
    }
}

/* Unmap and remove every guest (f) made. */
static inline void fleet_destroy(struct fleet *f)
{
    for (size_t i = 0; i < f->n; i++) {
        if (f->ram && f->ram[i])
            munmap(f->ram[i], FLEET_RAM);
        usc_rundir_guest_remove(f->names[i]);
    }
    free(f->names);
    free(f->ram);
    memset(f, 0, sizeof(*f));
}

#endif /* BENCH_UNITOP_FLEET_H */
