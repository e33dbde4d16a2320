/* The host's reader of a guest agent's control block and tables. */
#include "agent_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guestmem.h"

struct usc_agent {
    const struct usc_physmem *pm;
    uint64_t cb_paddr;
    struct usc_control_block hdr; /* validated; live part zero */
    struct usc_gtable metrics;
    struct usc_gtable threads;
    struct usc_gtable tracepoints;
    struct usc_gtable trace_rings;
    struct usc_gtable log;
    struct usc_gtable panic;
    struct usc_gtable vcpus;
};

/*
 * Copy the block at (paddr) into (cb) and check it is a live control block
 * of our ABI that lives at (paddr).
 */
static int read_block(const struct usc_physmem *pm, uint64_t paddr,
                      struct usc_control_block *cb)
{
    if (paddr % USC_ABI_PAGE_SIZE)
        return -EINVAL;
    int err = usc_guestmem_read(pm, paddr, cb, sizeof(*cb));
    if (err)
        return err;
    err = usc_agent_check_block(cb);
    if (err)
        return err;
    if (cb->self_paddr != paddr)
        return -ESTALE;
    return 0;
}

int usc_agent_check_block(const struct usc_control_block *cb)
{
    if (cb->magic != USC_ABI_MAGIC)
        return -ENOENT;
    if (cb->abi_version != USC_ABI_VERSION)
        return -EPROTONOSUPPORT;
    if (cb->size != sizeof(*cb) || cb->header_size != USC_CB_HEADER_SIZE)
        return -EINVAL;
    if (cb->checksum != usc_abi_checksum(cb, USC_CB_HEADER_SIZE))
        return -EINVAL;
    return 0;
}

int usc_agent_find(const struct usc_physmem *pm, uint64_t *cb_paddr)
{
    struct usc_control_block cb;

    if (!pm || !pm->read || !cb_paddr)
        return -EINVAL;
    /* p + page <= phys_end holds in the loop, so p never wraps. */
    for (uint64_t p = 0;
         p < pm->phys_end && pm->phys_end - p >= USC_ABI_PAGE_SIZE;
         p += USC_ABI_PAGE_SIZE) {
        uint64_t magic;
        /* Most pages fail here, without a page-sized copy. */
        if (usc_guestmem_load_u64(pm, p, &magic) != 0 || magic != USC_ABI_MAGIC)
            continue;
        if (read_block(pm, p, &cb) == 0) {
            *cb_paddr = p;
            return 0;
        }
    }
    return -ENOENT;
}

/* The header fields that are not table descriptors. */
static int check_header(const struct usc_control_block *cb)
{
    if (!memchr(cb->name, '\0', sizeof(cb->name)))
        return -EINVAL;
    if (cb->build_id_len > USC_BUILD_ID_MAX)
        return -EINVAL;
    if (cb->max_vcpus == 0 || cb->max_vcpus > USC_AGENT_MAX_VCPUS)
        return -EINVAL;
    return 0;
}

static int open_tables(struct usc_agent *a)
{
    const struct usc_control_block *cb = &a->hdr;
    const struct usc_physmem *pm = a->pm;
    int err;

    /* A byte ring is indexed modulo its size: only a power of two works. */
    if (cb->log.capacity & (cb->log.capacity - 1))
        return -EINVAL;
    err = usc_gtable_init(&a->metrics, pm, &cb->metrics,
                          sizeof(struct usc_metric), USC_AGENT_MAX_METRICS);
    if (!err)
        err = usc_gtable_init(&a->threads, pm, &cb->threads,
                              sizeof(struct usc_thread), USC_AGENT_MAX_THREADS);
    if (!err)
        err = usc_gtable_init(&a->tracepoints, pm, &cb->tracepoints,
                              sizeof(struct usc_tracepoint),
                              USC_AGENT_MAX_TRACEPOINTS);
    if (!err)
        err = usc_gtable_init(&a->trace_rings, pm, &cb->trace_rings,
                              sizeof(struct usc_trace_ring),
                              USC_AGENT_MAX_TRACE_RINGS);
    if (!err)
        err = usc_gtable_init(&a->log, pm, &cb->log, 1, USC_AGENT_MAX_LOG);
    if (!err)
        err = usc_gtable_init(&a->panic, pm, &cb->panic,
                              sizeof(struct usc_panic), 1);
    /* absent (capacity 0) from agents before it; never more vCPUs than
     * the guest says it may run */
    if (!err)
        err = usc_gtable_init(&a->vcpus, pm, &cb->vcpus,
                              sizeof(struct usc_vcpu), cb->max_vcpus);
    return err;
}

int usc_agent_open(const struct usc_physmem *pm, uint64_t cb_paddr,
                   struct usc_agent **out)
{
    struct usc_agent *a = NULL;
    int err;

    if (!pm || !pm->read || !out)
        return -EINVAL;
    *out = NULL;
    if (cb_paddr == USC_AGENT_SCAN) {
        err = usc_agent_find(pm, &cb_paddr);
        if (err)
            return err;
    }
    a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->pm = pm;
    a->cb_paddr = cb_paddr;
    err = read_block(pm, cb_paddr, &a->hdr);
    if (err)
        goto err;
    /* Only the header is a snapshot; the live part is read when asked. */
    memset((char *)&a->hdr + USC_CB_HEADER_SIZE, 0,
           sizeof(a->hdr) - USC_CB_HEADER_SIZE);
    err = check_header(&a->hdr);
    if (err)
        goto err;
    err = open_tables(a);
    if (err)
        goto err;
    *out = a;
    return 0;
err:
    usc_agent_close(a);
    return err;
}

void usc_agent_close(struct usc_agent *a)
{
    free(a);
}

uint64_t usc_agent_paddr(const struct usc_agent *a)
{
    return a->cb_paddr;
}

const struct usc_control_block *usc_agent_header(const struct usc_agent *a)
{
    return &a->hdr;
}

/* Live-part fields, each loaded untorn from the guest's block. */
#define LIVE(a, field)                                                         \
    ((a)->cb_paddr + offsetof(struct usc_control_block, field))

static int load_count(struct usc_agent *a, uint64_t paddr,
                      const struct usc_gtable *t, uint32_t *count)
{
    int err = usc_guestmem_load_u32(a->pm, paddr, count);

    if (err)
        return err;
    return *count > t->capacity ? -EINVAL : 0;
}

/* -ESTALE unless the guest's header is still byte for byte the one opened. */
static int check_unchanged(struct usc_agent *a)
{
    unsigned char now[USC_CB_HEADER_SIZE];
    int err = usc_guestmem_read(a->pm, a->cb_paddr, now, sizeof(now));

    if (err)
        return err;
    return memcmp(now, &a->hdr, sizeof(now)) ? -ESTALE : 0;
}

int usc_agent_status(struct usc_agent *a, struct usc_agent_status *st)
{
    const struct usc_physmem *pm = a->pm;
    int err;

    memset(st, 0, sizeof(*st));
    err = check_unchanged(a);
    if (!err)
        err = usc_guestmem_load_u32(pm, LIVE(a, state), &st->state);
    if (!err && st->state > USC_STATE_HALTED)
        err = -EINVAL;
    if (!err)
        err =
            usc_guestmem_load_u32(pm, LIVE(a, vcpus_online), &st->vcpus_online);
    if (!err && a->hdr.max_vcpus < 32) {
        uint32_t valid = (1u << a->hdr.max_vcpus) - 1;
        st->vcpus_beyond = st->vcpus_online & ~valid;
        st->vcpus_online &= valid;
    }
    if (!err)
        err =
            usc_guestmem_load_u32(pm, LIVE(a, panic_others), &st->panic_others);
    if (!err && st->panic_others > USC_PANIC_OTHERS_STOPPED)
        err = -EINVAL;
    if (!err)
        err =
            usc_guestmem_load_u64(pm, LIVE(a, heartbeat_ts), &st->heartbeat_ts);
    if (!err)
        err = load_count(a, LIVE(a, metrics_count), &a->metrics,
                         &st->metrics_count);
    if (!err)
        err = load_count(a, LIVE(a, threads_used), &a->threads,
                         &st->threads_used);
    if (!err)
        err = load_count(a, LIVE(a, tracepoints_count), &a->tracepoints,
                         &st->tracepoints_count);
    if (!err)
        err = usc_guestmem_load_u64(pm, LIVE(a, log_head), &st->log_head);
    return err;
}

double usc_agent_uptime(const struct usc_agent *a,
                        const struct usc_agent_status *st)
{
    if (a->hdr.ts_hz == 0 || st->heartbeat_ts < a->hdr.boot_ts)
        return 0.0;
    return (double)(st->heartbeat_ts - a->hdr.boot_ts) / (double)a->hdr.ts_hz;
}

/* Copy metric slot (i) of (a) into (m). */
static int read_metric(struct usc_agent *a, uint32_t i,
                       struct usc_agent_metric *m)
{
    struct usc_metric raw;
    int err = usc_gtable_read(&a->metrics, i, &raw, sizeof(raw));

    if (err)
        return err;
    if (raw.kind != USC_METRIC_COUNTER && raw.kind != USC_METRIC_GAUGE)
        return -EINVAL;
    err = usc_guestmem_copy_str(m->name, sizeof(m->name), raw.name,
                                sizeof(raw.name));
    if (!err)
        err = usc_guestmem_copy_str(m->unit, sizeof(m->unit), raw.unit,
                                    sizeof(raw.unit));
    if (err)
        return err;
    m->kind = raw.kind;
    /* The guest stores value whole; the slot copy above may have torn it. */
    return usc_gtable_load_u64(&a->metrics, i,
                               offsetof(struct usc_metric, value), &m->value);
}

int usc_agent_metrics(struct usc_agent *a, struct usc_agent_metric *out,
                      size_t cap, size_t *n)
{
    uint32_t count;
    int err;

    *n = 0;
    err = load_count(a, LIVE(a, metrics_count), &a->metrics, &count);
    if (err)
        return err;
    size_t want = count < cap ? count : cap;
    for (size_t i = 0; i < want; i++) {
        err = read_metric(a, (uint32_t)i, &out[i]);
        if (err)
            return err;
    }
    *n = want;
    return count > cap ? -ENOSPC : 0;
}

/* Copy thread slot (raw) of the guest into (t), checking it. */
static int convert_thread(const struct usc_agent *a, uint32_t slot,
                          const struct usc_thread *raw,
                          struct usc_agent_thread *t)
{
    if (raw->state > USC_THREAD_EXITED || raw->vcpu >= a->hdr.max_vcpus)
        return -EINVAL;
    int err = usc_guestmem_copy_str(t->name, sizeof(t->name), raw->name,
                                    sizeof(raw->name));
    if (err)
        return err;
    t->slot = slot;
    t->id = raw->id;
    t->state = raw->state;
    t->vcpu = raw->vcpu;
    t->flags = raw->flags;
    t->cpu_time = raw->cpu_time;
    t->switches = raw->switches;
    t->last_switch_ts = raw->last_switch_ts;
    t->wait_obj = raw->wait_obj;
    t->regs = raw->regs;
    return 0;
}

int usc_agent_thread_at(struct usc_agent *a, uint32_t slot,
                        struct usc_agent_thread *out, int *settled)
{
    struct usc_thread raw;
    int err;

    if (slot >= a->threads.capacity)
        return -ERANGE;
    err = usc_gtable_read_seq(&a->threads, slot, &raw, sizeof(raw));
    *settled = err != -EAGAIN;
    /* A guest stopped mid-update keeps the slot in flux for good: take
     * it as it stands, still checked like any other copy. */
    if (err == -EAGAIN)
        err = usc_gtable_read(&a->threads, slot, &raw, sizeof(raw));
    if (err)
        return err;
    if (raw.state == USC_THREAD_FREE)
        return -ENOENT;
    return convert_thread(a, slot, &raw, out);
}

int usc_agent_threads(struct usc_agent *a, struct usc_agent_thread *out,
                      size_t cap, size_t *n)
{
    struct usc_thread raw;
    uint32_t used;
    size_t k = 0;
    int err;

    *n = 0;
    err = load_count(a, LIVE(a, threads_used), &a->threads, &used);
    if (err)
        return err;
    for (uint32_t i = 0; i < used; i++) {
        err = usc_gtable_read_seq(&a->threads, i, &raw, sizeof(raw));
        if (err)
            return err;
        if (raw.state == USC_THREAD_FREE)
            continue;
        if (k == cap) {
            *n = k;
            return -ENOSPC;
        }
        err = convert_thread(a, i, &raw, &out[k]);
        if (err)
            return err;
        k++;
    }
    *n = k;
    return 0;
}

int usc_agent_threads_salvage(struct usc_agent *a, struct usc_agent_thread *out,
                              size_t cap, size_t *n, uint32_t *bad,
                              size_t *nbad)
{
    uint32_t used;
    size_t k = 0;
    int err = usc_agent_threads(a, out, cap, n);

    *nbad = 0;
    if (err != -EINVAL)
        return err;
    *n = 0;
    err = load_count(a, LIVE(a, threads_used), &a->threads, &used);
    if (err)
        return err;
    for (uint32_t i = 0; i < used; i++) {
        struct usc_agent_thread t;
        int settled;
        err = usc_agent_thread_at(a, i, &t, &settled);
        if (err == 0 && k == cap) {
            *n = k;
            return -ENOSPC;
        } else if (err == 0) {
            out[k++] = t;
        } else if (err == -EINVAL) {
            if (bad && *nbad < cap)
                bad[*nbad] = i;
            ++*nbad;
        } else if (err != -ENOENT) {
            *n = k;
            return err;
        }
    }
    *n = k;
    return 0;
}

/* Copy log positions [from, from + len) of the byte ring (log) into (buf). */
static int copy_ring(const struct usc_gtable *log, uint64_t from, char *buf,
                     size_t len)
{
    uint64_t mask = log->capacity - 1;
    uint64_t off = from & mask;
    size_t first = len < log->capacity - off ? len : log->capacity - off;
    int err = usc_gtable_read_bytes(log, off, buf, first);

    if (!err && len > first)
        err = usc_gtable_read_bytes(log, 0, buf + first, len - first);
    return err;
}

int usc_agent_log(struct usc_agent *a, char *buf, size_t cap, size_t *len,
                  uint64_t *head)
{
    uint64_t h1, h2, reserve;
    int err;

    *len = 0;
    if (head)
        *head = 0;
    if (a->log.capacity == 0)
        return 0;
    err = usc_guestmem_load_u64(a->pm, LIVE(a, log_head), &h1);
    if (err)
        return err;
    uint64_t n = cap < a->log.capacity ? cap : a->log.capacity;
    n = n < h1 ? n : h1;
    uint64_t start = h1 - n;
    err = copy_ring(&a->log, start, buf, n);
    if (err)
        return err;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    err = usc_guestmem_load_u64(a->pm, LIVE(a, log_reserve), &reserve);
    if (!err)
        err = usc_guestmem_load_u64(a->pm, LIVE(a, log_head), &h2);
    if (err)
        return err;
    if (h2 < h1)
        return -ESTALE;
    /*
     * Writes reach at most max(reserve, head); each byte written overwrote
     * the one a ring capacity before it. Keep only bytes not reached.
     */
    uint64_t reach = reserve > h2 ? reserve : h2;
    uint64_t drop = 0;
    if (reach - start > a->log.capacity)
        drop = reach - start - a->log.capacity;
    drop = drop < n ? drop : n;
    if (drop) {
        memmove(buf, buf + drop, n - drop);
        n -= drop;
    }
    *len = n;
    if (head)
        *head = h1;
    return 0;
}

uint32_t usc_agent_nvcpus(const struct usc_agent *a)
{
    return a->vcpus.capacity;
}

int usc_agent_vcpu_at(struct usc_agent *a, uint32_t vcpu,
                      struct usc_agent_vcpu *out, int *settled)
{
    struct usc_vcpu raw;
    int err;

    memset(out, 0, sizeof(*out));
    *settled = 0;
    if (vcpu >= a->vcpus.capacity)
        return -ERANGE;
    err = usc_gtable_read_seq(&a->vcpus, vcpu, &raw, sizeof(raw));
    *settled = err != -EAGAIN;
    if (err == -EAGAIN)
        err = usc_gtable_read(&a->vcpus, vcpu, &raw, sizeof(raw));
    if (err)
        return err;
    if (raw.vcpu != vcpu || raw.state > USC_VCPU_PANICKED)
        return -EINVAL;
    out->vcpu = raw.vcpu;
    out->state = raw.state;
    out->thread_id = raw.thread_id;
    out->heartbeat_ts = raw.heartbeat_ts;
    out->ticks = raw.ticks;
    out->busy_time = raw.busy_time;
    out->since = raw.since;
    out->switches = raw.switches;
    return 0;
}

int usc_agent_panic(struct usc_agent *a, struct usc_panic *out)
{
    struct usc_panic raw;
    int err;

    memset(out, 0, sizeof(*out));
    if (a->panic.capacity == 0)
        return -ENOENT;
    err = usc_gtable_read_seq(&a->panic, 0, &raw, sizeof(raw));
    if (err)
        return err;
    if (!raw.valid)
        return -ENOENT;
    if (!memchr(raw.reason, '\0', sizeof(raw.reason)) ||
        raw.vcpu >= a->hdr.max_vcpus)
        return -EINVAL;
    *out = raw;
    return 0;
}

int usc_panic_has_frame(const struct usc_panic *p)
{
    /* No code runs at 0: a frame's rip is never zero. */
    return p->regs.rip != 0;
}

int usc_panic_regs(const struct usc_panic *p, const struct usc_regs *vcpu,
                   struct usc_regs *out)
{
    if (usc_panic_has_frame(p)) {
        *out = p->regs;
        return 1;
    }
    *out = *vcpu;
    return 0;
}
