/* The console log ring: bytes in, oldest overwritten. */
#include "internal.h"

static int log_lock;

/*
 * Protocol for a lock-free host reader: log_reserve announces the bytes
 * about to be overwritten before they are, log_head publishes them after.
 * A reader copying below log_head keeps only the bytes log_reserve has
 * not yet reached around the ring.
 */
void usca_log_append(const char *buf, size_t len, int panicking)
{
    struct usc_control_block *cb = &usca_area.cb;

    if (!usca_ready || !buf || !len)
        return;
    /* Only the newest ring-full of a long write can survive anyway. */
    if (len > USCA_LOG_SIZE) {
        buf += len - USCA_LOG_SIZE;
        len = USCA_LOG_SIZE;
    }
    /*
     * A panic may strike while this vCPU holds the lock: then give up on
     * it after a while rather than hang the panic path.
     */
    unsigned long flags = usca_port_irq_save();
    int locked = 1;
    for (uint32_t spins = 0;
         __atomic_exchange_n(&log_lock, 1, __ATOMIC_ACQUIRE); spins++) {
        if (panicking && spins > 1000000) {
            locked = 0;
            break;
        }
        __builtin_ia32_pause();
    }
    uint64_t head = cb->log_head;
    __atomic_store_n(&cb->log_reserve, head + len, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    volatile char *ring = usca_area.log;
    for (size_t i = 0; i < len; i++)
        ring[(head + i) & (USCA_LOG_SIZE - 1)] = buf[i];
    __atomic_store_n(&cb->log_head, head + len, __ATOMIC_RELEASE);
    if (locked)
        __atomic_store_n(&log_lock, 0, __ATOMIC_RELEASE);
    usca_port_irq_restore(flags);
}

void usca_log_write(const char *buf, size_t len)
{
    usca_log_append(buf, len, 0);
}
