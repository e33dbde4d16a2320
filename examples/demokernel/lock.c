/* Spin locks across vCPUs, recording their holder for the host to see. */
#include "cpu.h"
#include "kernel.h"

static void note_owner(struct spinlock *l)
{
    l->owner_vcpu = this_cpu()->index;
    l->owner_thread = thread_current_id();
}

int spin_trylock(struct spinlock *l)
{
    if (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
        return 0;
    note_owner(l);
    return 1;
}

void spin_lock(struct spinlock *l)
{
    while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE)) {
        /* wait reading, not writing: the line stays shared */
        while (l->locked)
            cpu_relax();
    }
    note_owner(l);
}

void spin_unlock(struct spinlock *l)
{
    l->owner_thread = 0;
    __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

unsigned long spin_lock_irqsave(struct spinlock *l)
{
    unsigned long flags = save_flags_cli();
    spin_lock(l);
    return flags;
}

void spin_unlock_irqrestore(struct spinlock *l, unsigned long flags)
{
    spin_unlock(l);
    restore_flags(flags);
}
