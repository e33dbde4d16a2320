/* Per-vCPU trace rings: reserve, write and commit events, switch packets. */
#include "trace_internal.h"

struct usca_trace_area usca_trace_area;

/*
 * What the emit path needs of a vCPU's ring, private to the guest: the
 * descriptor in the shared area is the host's to read (and partly to
 * write), so the guest never trusts its sizes or addresses.
 */
struct ring {
    unsigned char *buf;    /* NULL: this vCPU has no ring */
    uint64_t wrap_mask;    /* ring bytes - 1 */
    uint32_t packet_size;  /* 0: no ring; makes every event take slow() */
    uint32_t packet_shift; /* log2(packet_size) */
    uint32_t npackets;
} __attribute__((aligned(64)));

static struct ring rings[USCA_MAX_VCPUS];

/* Event records are stored into a byte buffer: stores that may alias it. */
typedef uint16_t __attribute__((may_alias)) u16_alias;
typedef uint32_t __attribute__((may_alias)) u32_alias;
typedef uint64_t __attribute__((may_alias)) u64_alias;

/*
 * Single instructions, so atomic against interrupts on this vCPU; no lock
 * prefix, as no other vCPU ever writes this ring.
 */
static inline int cas_local(uint64_t *p, uint64_t old, uint64_t new_value)
{
#if defined(__x86_64__)
    uint64_t prev;
    __asm__ volatile("cmpxchgq %2, %1"
                     : "=a"(prev), "+m"(*p)
                     : "r"(new_value), "0"(old)
                     : "memory", "cc");
    return prev == old;
#else
    return __atomic_compare_exchange_n(p, &old, new_value, 0, __ATOMIC_RELAXED,
                                       __ATOMIC_RELAXED);
#endif
}

static inline void add_local(uint32_t *p, uint32_t v)
{
#if defined(__x86_64__)
    __asm__ volatile("addl %1, %0" : "+m"(*p) : "ir"(v) : "memory", "cc");
#else
    __atomic_fetch_add(p, v, __ATOMIC_RELEASE);
#endif
}

static inline void inc_local(uint64_t *p)
{
#if defined(__x86_64__)
    __asm__ volatile("incq %0" : "+m"(*p) : : "memory", "cc");
#else
    __atomic_fetch_add(p, 1, __ATOMIC_RELAXED);
#endif
}

static inline struct usc_trace_packet *packet(const struct ring *r,
                                              uint64_t number)
{
    uint64_t at = (number << r->packet_shift) & r->wrap_mask;
    return (struct usc_trace_packet *)(void *)(r->buf + at);
}

/* Open packet (number) of (r) at (ts): header first, its number last. */
static void open_packet(struct ring *r, uint64_t number, uint64_t ts,
                        uint64_t lost)
{
    struct usc_trace_packet *p = packet(r, number);

    /* A host copying the old contents sees its number change first. */
    __atomic_store_n(&p->seq, USC_TRACE_SEQ_BUSY, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    p->ts_begin = ts;
    p->ts_end = 0;
    p->lost = lost;
    p->content_size = 0;
    p->commit = USCA_TRACE_HEADER;
    __atomic_store_n(&p->seq, number, __ATOMIC_RELEASE);
}

static uint32_t log2_of(uint32_t x)
{
    uint32_t s = 0;
    while ((1u << s) < x)
        s++;
    return s;
}

/*
 * Where vCPU (v)'s ring lies and its size in bytes (0: it has none), in
 * (cfg)'s memory split (max_vcpus) ways, else in the built-in area.
 */
static unsigned char *ring_memory(const struct usca_config *cfg,
                                  uint32_t max_vcpus, uint32_t v,
                                  uint64_t *size)
{
    if (!cfg->trace_mem) {
        *size = v < USCA_TRACE_RINGS ? USCA_TRACE_RING_SIZE : 0;
        return *size ? usca_trace_area.buf[v] : 0;
    }
    uint64_t each = cfg->trace_mem_size / max_vcpus, pow = 1;
    while (pow <= each / 2)
        pow *= 2;
    *size = pow;
    return (unsigned char *)cfg->trace_mem + (uint64_t)v * pow;
}

int usca_trace_setup(struct usc_control_block *cb, uint32_t max_vcpus,
                     const struct usca_config *cfg)
{
    struct usca_trace_area *a = &usca_trace_area;
    uint64_t now = usca_port_timestamp(), size;

    if (cfg->trace_mem) {
        ring_memory(cfg, max_vcpus, 0, &size);
        if ((uintptr_t)cfg->trace_mem % USC_ABI_PAGE_SIZE ||
            cfg->trace_mem_size / max_vcpus < 2 * USCA_TRACE_PACKET_SIZE ||
            size / USCA_TRACE_PACKET_SIZE > UINT32_MAX)
            return -22;
    }
    cb->tracepoints.at.paddr = usca_port_virt_to_phys(a->tps);
    cb->tracepoints.at.vaddr = (uint64_t)(uintptr_t)a->tps;
    cb->tracepoints.entry_size = sizeof(struct usc_tracepoint);
    cb->tracepoints.capacity = USCA_MAX_TRACEPOINTS;
    cb->trace_rings.at.paddr = usca_port_virt_to_phys(a->rings);
    cb->trace_rings.at.vaddr = (uint64_t)(uintptr_t)a->rings;
    cb->trace_rings.entry_size = sizeof(struct usc_trace_ring);
    cb->trace_rings.capacity = max_vcpus;

    for (uint32_t v = 0; v < max_vcpus; v++) {
        struct usc_trace_ring *d = &a->rings[v];
        struct ring *r = &rings[v];
        unsigned char *buf = ring_memory(cfg, max_vcpus, v, &size);
        uint32_t npackets = (uint32_t)(size / USCA_TRACE_PACKET_SIZE);

        d->vcpu = v;
        d->mode = USC_TRACE_OVERWRITE;
        if (!buf)
            continue;
        d->buf.paddr = usca_port_virt_to_phys(buf);
        d->buf.vaddr = (uint64_t)(uintptr_t)buf;
        d->packet_size = USCA_TRACE_PACKET_SIZE;
        d->npackets = npackets;
        r->buf = buf;
        r->wrap_mask = size - 1;
        r->packet_shift = log2_of(USCA_TRACE_PACKET_SIZE);
        r->npackets = npackets;
        open_packet(r, 0, now, 0);
        d->pos = USCA_TRACE_HEADER;
        /* Last: the emit path's test of it sends every event elsewhere. */
        r->packet_size = USCA_TRACE_PACKET_SIZE;
    }
    usca_trace_builtin();
    return 0;
}

/* Store the event of (tp) at (e). Its bytes past the fields are padding. */
static inline void write_event(unsigned char *e,
                               const struct usca_tracepoint *tp, uint64_t ts,
                               uint32_t thread, const uint64_t *args)
{
    *(u64_alias *)(void *)e = ts;
    *(u32_alias *)(void *)(e + 8) = tp->id;
    *(u32_alias *)(void *)(e + 12) = thread;
    for (uint32_t i = 0; i < tp->nfields; i++) {
        unsigned char *d = e + tp->offset[i];
        uint64_t v = args[i];

        switch (tp->fsize[i] | (tp->ftype[i] == USC_FIELD_STRING ? 0x100 : 0)) {
        case 1:
            *d = (uint8_t)v;
            break;
        case 2:
            *(u16_alias *)(void *)d = (uint16_t)v;
            break;
        case 4:
            *(u32_alias *)(void *)d = (uint32_t)v;
            break;
        case 8:
            *(u64_alias *)(void *)d = v;
            break;
        default: {
            /* A string: at most size - 1 bytes, NUL-padded. volatile:
             * the loop must not become a call to memcpy or memset. */
            const char *s = (const char *)(uintptr_t)v;
            volatile char *out = (volatile char *)d;
            uint32_t n = tp->fsize[i], k = 0;
            if (s)
                for (; k + 1 < n && s[k]; k++)
                    out[k] = s[k];
            for (; k < n; k++)
                out[k] = 0;
        }
        }
    }
}

static inline uint32_t current_thread(uint32_t vcpu)
{
    const struct usc_thread *t = usca_current[vcpu];
    return t ? t->id : 0;
}

/*
 * The event does not fit in the open packet (or there is no ring): with
 * interrupts off, close that packet and open the next one with the event
 * in it, or count the event lost. Returns 1 when another writer switched
 * packets first and the caller should try its fast path again.
 */
static int slow(struct ring *r, struct usc_trace_ring *d,
                const struct usca_tracepoint *tp, uint32_t vcpu,
                const uint64_t *args)
{
    unsigned long flags = usca_port_irq_save();
    uint64_t pos = d->pos;
    uint32_t ps = r->packet_size;

    if (ps && (pos & (ps - 1)) + tp->size < ps) {
        usca_port_irq_restore(flags);
        return 1;
    }
    uint64_t ts = usca_port_timestamp();
    uint64_t next = (pos >> r->packet_shift) + 1;
    uint32_t mode = __atomic_load_n(&d->mode, __ATOMIC_RELAXED);
    uint64_t until = __atomic_load_n(&d->stream_until, __ATOMIC_RELAXED);
    uint64_t tail = __atomic_load_n(&d->tail, __ATOMIC_ACQUIRE);
    /* Stream mode only while the host keeps renewing its lease. */
    int full = mode == USC_TRACE_STREAM && (int64_t)(until - ts) > 0 &&
               next - tail >= r->npackets;
    if (!ps || full) {
        __atomic_store_n(&d->lost, d->lost + 1, __ATOMIC_RELAXED);
        usca_port_irq_restore(flags);
        return 0;
    }

    struct usc_trace_packet *old = packet(r, next - 1);
    old->ts_end = ts;
    __atomic_store_n(&old->content_size, (uint32_t)(pos & (ps - 1)),
                     __ATOMIC_RELEASE);
    open_packet(r, next, ts, d->lost);
    uint64_t at = (next << r->packet_shift) + USCA_TRACE_HEADER;
    __atomic_store_n(&d->pos, at + tp->size, __ATOMIC_RELEASE);
    usca_port_irq_restore(flags);

    write_event(r->buf + (at & r->wrap_mask), tp, ts, current_thread(vcpu),
                args);
    add_local(&packet(r, next)->commit, tp->size);
    return 0;
}

void usca_trace_emit(struct usca_tracepoint *tp, uint64_t a0, uint64_t a1,
                     uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
    const uint64_t args[USC_TP_FIELDS_MAX] = {a0, a1, a2, a3, a4, a5};
    uint32_t vcpu = usca_vcpu();
    struct ring *r = &rings[vcpu];
    struct usc_trace_ring *d = &usca_trace_area.rings[vcpu];
    uint32_t size = tp->size;
    uint64_t pos, ts;

    if (!size)
        return; /* never registered */
    /* Every event is either written or counted lost: emitted says how
     * many there were, so the host can check the two add up. */
    inc_local(&d->emitted);
    /*
     * Reserve with one compare-and-swap, the timestamp read between the
     * load and the swap: an interrupt that records an event in between
     * makes the swap fail, so timestamps never go backwards in a ring.
     */
    for (;;) {
        pos = __atomic_load_n(&d->pos, __ATOMIC_RELAXED);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        ts = usca_port_timestamp();
        if ((pos & (uint64_t)(r->packet_size - 1)) + size >= r->packet_size) {
            if (slow(r, d, tp, vcpu, args))
                continue;
            return;
        }
        if (cas_local(&d->pos, pos, pos + size))
            break;
    }
    write_event(r->buf + (pos & r->wrap_mask), tp, ts, current_thread(vcpu),
                args);
    /* Commit: the host takes a packet only when every reservation in it
     * has been committed. */
    add_local(&packet(r, pos >> r->packet_shift)->commit, size);
}
