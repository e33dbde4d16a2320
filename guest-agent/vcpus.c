/* The vCPU table: each vCPU's state, heartbeat and busy time. */
#include "internal.h"

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
