/* The agent's control block: init, run state, the vCPU table (each vCPU's
 * state, heartbeat and busy time) and the shared helpers. */
#include "internal.h"

struct usca_area usca_area;
int usca_ready;
struct usc_thread *usca_current[USCA_MAX_VCPUS];

static uint64_t vaddr_of(const void *p)
{
    return (uint64_t)(uintptr_t)p;
}

static void describe_table(struct usc_table *t, const void *at,
                           uint32_t entry_size, uint32_t capacity)
{
    t->at.paddr = at ? usca_port_virt_to_phys(at) : 0;
    t->at.vaddr = vaddr_of(at);
    t->entry_size = entry_size;
    t->capacity = capacity;
}

int usca_init(const struct usca_config *cfg)
{
    struct usc_control_block *cb = &usca_area.cb;

    if (!cfg || usca_ready || __atomic_load_n(&cb->magic, __ATOMIC_ACQUIRE))
        return -22;
    if (cfg->build_id_len && !cfg->build_id)
        return -22;

    cb->abi_version = USC_ABI_VERSION;
    cb->size = sizeof(*cb);
    cb->header_size = USC_CB_HEADER_SIZE;
    cb->self_paddr = usca_port_virt_to_phys(cb);
    cb->self_vaddr = vaddr_of(cb);
    cb->ts_hz = cfg->ts_hz;
    cb->boot_ts = usca_port_timestamp();
    cb->max_vcpus = cfg->max_vcpus ? cfg->max_vcpus : 1;
    if (cb->max_vcpus > USCA_MAX_VCPUS)
        cb->max_vcpus = USCA_MAX_VCPUS;

    uint32_t n = cfg->build_id_len;
    if (n > USC_BUILD_ID_MAX)
        n = USC_BUILD_ID_MAX;
    const volatile uint8_t *id = cfg->build_id;
    for (uint32_t i = 0; i < n; i++)
        cb->build_id[i] = id[i];
    cb->build_id_len = n;
    usca_copy_name(cb->name, cfg->name ? cfg->name : "unikernel",
                   USC_GUEST_NAME_MAX);

    describe_table(&cb->metrics, usca_area.metrics, sizeof(struct usc_metric),
                   USCA_MAX_METRICS);
    describe_table(&cb->threads, usca_area.threads, sizeof(struct usc_thread),
                   USCA_MAX_THREADS);
    if (usca_trace_setup(cb, cb->max_vcpus, cfg))
        return -22;
    describe_table(&cb->log, usca_area.log, 1, USCA_LOG_SIZE);
    describe_table(&cb->panic, &usca_area.panic, sizeof(struct usc_panic), 1);
    for (uint32_t v = 0; v < cb->max_vcpus; v++) {
        usca_area.vcpus[v].vcpu = v;
        usca_area.vcpus[v].since = cb->boot_ts;
    }
    describe_table(&cb->vcpus, usca_area.vcpus, sizeof(struct usc_vcpu),
                   cb->max_vcpus);
    cb->features = USC_FEATURE_RING_EMITTED;

    cb->checksum = usc_abi_checksum(cb, USC_CB_HEADER_SIZE);
    cb->state = USC_STATE_RUNNING;
    cb->heartbeat_ts = cb->boot_ts;
    usca_ready = 1;
    /* The magic goes last: a host that sees it sees a finished block. */
    __atomic_store_n(&cb->magic, USC_ABI_MAGIC, __ATOMIC_RELEASE);
    return 0;
}

const struct usc_control_block *usca_control_block(void)
{
    return usca_ready ? &usca_area.cb : 0;
}

/* ---- the vCPU table ---------------------------------------------------- */
/* vCPU (vcpu)'s entry, or NULL past max_vcpus. */
static struct usc_vcpu *entry(uint32_t vcpu)
{
    return vcpu < usca_area.cb.max_vcpus ? &usca_area.vcpus[vcpu] : 0;
}

void usca_vcpu_set_state(uint32_t vcpu, uint32_t state)
{
    struct usc_vcpu *e = entry(vcpu);

    if (!e)
        return;
    unsigned long f = usca_seq_begin(&e->seq);
    __atomic_store_n(&e->state, state, __ATOMIC_RELAXED);
    usca_seq_end(&e->seq, f);
}

void usca_vcpu_online(uint32_t vcpu)
{
    struct usc_vcpu *e = entry(vcpu);

    if (!usca_ready || !e)
        return;
    unsigned long f = usca_seq_begin(&e->seq);
    if (e->state == USC_VCPU_OFFLINE) {
        e->state = USC_VCPU_ONLINE;
        e->since = usca_port_timestamp();
    }
    usca_seq_end(&e->seq, f);
    if (vcpu < 32)
        __atomic_fetch_or(&usca_area.cb.vcpus_online, 1u << vcpu,
                          __ATOMIC_RELEASE);
}

void usca_vcpu_stopped(void)
{
    if (usca_ready)
        usca_vcpu_set_state(usca_vcpu(), USC_VCPU_STOPPED);
}

void usca_tick(void)
{
    if (!usca_ready)
        return;
    uint64_t now = usca_port_timestamp();
    struct usc_vcpu *e = entry(usca_vcpu());

    __atomic_store_n(&usca_area.cb.heartbeat_ts, now, __ATOMIC_RELEASE);
    if (!e)
        return;
    unsigned long f = usca_seq_begin(&e->seq);
    e->heartbeat_ts = now;
    e->ticks++;
    usca_seq_end(&e->seq, f);
}

void usca_vcpu_switch(uint32_t vcpu, uint64_t now, int busy, uint32_t next_id)
{
    struct usc_vcpu *e = entry(vcpu);

    if (!e)
        return;
    unsigned long f = usca_seq_begin(&e->seq);
    if (busy && now > e->since)
        e->busy_time += now - e->since;
    e->since = now;
    e->thread_id = next_id;
    e->switches++;
    usca_seq_end(&e->seq, f);
}

void usca_set_state(uint32_t state)
{
    if (usca_ready)
        __atomic_store_n(&usca_area.cb.state, state, __ATOMIC_RELEASE);
}

void usca_copy_name(char *dst, const char *src, uint32_t cap)
{
    uint32_t i = 0;
    if (src)
        for (; i + 1 < cap && src[i]; i++)
            dst[i] = src[i];
    /* volatile: keep the compiler from turning this into a memset call */
    volatile char *pad = dst;
    for (; i < cap; i++)
        pad[i] = 0;
}

int usca_name_eq(const char *a, const char *b, uint32_t cap)
{
    for (uint32_t i = 0; i < cap; i++) {
        if (a[i] != b[i])
            return 0;
        if (!a[i])
            return 1;
    }
    return 1;
}

unsigned long usca_lock(int *lock)
{
    unsigned long flags = usca_port_irq_save();
    while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE))
        __builtin_ia32_pause();
    return flags;
}

void usca_unlock(int *lock, unsigned long flags)
{
    __atomic_store_n(lock, 0, __ATOMIC_RELEASE);
    usca_port_irq_restore(flags);
}

unsigned long usca_seq_begin(uint64_t *seq)
{
    unsigned long flags = usca_port_irq_save();
    for (;;) {
        uint64_t s = __atomic_load_n(seq, __ATOMIC_RELAXED);
        if (!(s & 1) &&
            __atomic_compare_exchange_n(seq, &s, s + 1, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return flags;
        __builtin_ia32_pause();
    }
}

void usca_seq_end(uint64_t *seq, unsigned long flags)
{
    /* An atomic load: other vCPUs' usca_seq_begin try it meanwhile. */
    __atomic_store_n(seq, __atomic_load_n(seq, __ATOMIC_RELAXED) + 1,
                     __ATOMIC_RELEASE);
    usca_port_irq_restore(flags);
}
