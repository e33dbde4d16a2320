/* Scheduler hooks: the thread table, with saved registers of threads off CPU.
 */
#include "internal.h"

static int create_lock;

struct usc_thread *usca_thread_create(uint32_t id, const char *name)
{
    struct usc_control_block *cb = &usca_area.cb;
    struct usc_thread *t = 0;

    if (!usca_ready)
        return 0;
    unsigned long flags = usca_lock(&create_lock);
    for (uint32_t i = 0; i < USCA_MAX_THREADS; i++) {
        uint32_t st =
            __atomic_load_n(&usca_area.threads[i].state, __ATOMIC_RELAXED);
        if (st == USC_THREAD_FREE || st == USC_THREAD_EXITED) {
            t = &usca_area.threads[i];
            if (i + 1 > cb->threads_used)
                __atomic_store_n(&cb->threads_used, i + 1, __ATOMIC_RELEASE);
            break;
        }
    }
    if (t) {
        unsigned long f = usca_seq_begin(&t->seq);
        t->id = id;
        /* state is also read outside the slot's seq, by this scan */
        __atomic_store_n(&t->state, USC_THREAD_RUNNABLE, __ATOMIC_RELAXED);
        t->vcpu = usca_vcpu();
        t->flags = 0;
        t->cpu_time = 0;
        t->switches = 0;
        t->last_switch_ts = 0;
        t->wait_obj = 0;
        usca_copy_name(t->name, name, USC_NAME_MAX);
        t->regs = (struct usc_saved_regs){0};
        usca_seq_end(&t->seq, f);
    }
    usca_unlock(&create_lock, flags);
    return t;
}

void usca_thread_rename(struct usc_thread *t, const char *name)
{
    if (!t)
        return;
    unsigned long f = usca_seq_begin(&t->seq);
    usca_copy_name(t->name, name, USC_NAME_MAX);
    usca_seq_end(&t->seq, f);
}

void usca_thread_set_state(struct usc_thread *t, uint32_t state,
                           uint64_t wait_obj)
{
    if (!t)
        return;
    unsigned long f = usca_seq_begin(&t->seq);
    __atomic_store_n(&t->state, state, __ATOMIC_RELAXED);
    t->wait_obj = wait_obj;
    /* Running yet waiting: it spins on wait_obj, its vCPU busy. */
    t->flags =
        state == USC_THREAD_RUNNING && wait_obj ? USC_THREAD_SPINNING : 0;
    usca_seq_end(&t->seq, f);
}

void usca_thread_switch_regs(struct usc_thread *prev, struct usc_thread *next,
                             const struct usc_saved_regs *regs)
{
    if (!usca_ready)
        return;
    uint64_t now = usca_port_timestamp();
    uint32_t vcpu = usca_vcpu();

    usca_vcpu_switch(vcpu, now, usca_current[vcpu] != 0, next ? next->id : 0);
    if (prev) {
        unsigned long f = usca_seq_begin(&prev->seq);
        /* It ran since it was switched in, even if it has just blocked. */
        if (usca_current[vcpu] == prev && now > prev->last_switch_ts)
            prev->cpu_time += now - prev->last_switch_ts;
        if (prev->state == USC_THREAD_RUNNING)
            __atomic_store_n(&prev->state, USC_THREAD_RUNNABLE,
                             __ATOMIC_RELAXED);
        prev->flags = 0;
        if (regs) {
            prev->regs.rip = regs->rip;
            prev->regs.rsp = regs->rsp;
            prev->regs.rbp = regs->rbp;
            prev->regs.rbx = regs->rbx;
            prev->regs.r12 = regs->r12;
            prev->regs.r13 = regs->r13;
            prev->regs.r14 = regs->r14;
            prev->regs.r15 = regs->r15;
        }
        usca_seq_end(&prev->seq, f);
    }
    if (next) {
        unsigned long f = usca_seq_begin(&next->seq);
        __atomic_store_n(&next->state, USC_THREAD_RUNNING, __ATOMIC_RELAXED);
        next->flags = 0;
        next->vcpu = vcpu;
        next->last_switch_ts = now;
        next->switches++;
        next->wait_obj = 0;
        usca_seq_end(&next->seq, f);
    }
    usca_current[vcpu] = next;
}

void usca_thread_exit(struct usc_thread *t)
{
    if (!t)
        return;
    uint64_t now = usca_port_timestamp();
    uint32_t vcpu = usca_vcpu();
    unsigned long f = usca_seq_begin(&t->seq);
    if (usca_current[vcpu] == t && now > t->last_switch_ts)
        t->cpu_time += now - t->last_switch_ts;
    __atomic_store_n(&t->state, USC_THREAD_EXITED, __ATOMIC_RELAXED);
    t->wait_obj = 0;
    t->flags = 0;
    usca_seq_end(&t->seq, f);
    if (usca_current[vcpu] == t)
        usca_current[vcpu] = 0;
}
