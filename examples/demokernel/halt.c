/* Leaving the guest: orderly exit through isa-debug-exit (Xen: a poweroff),
 * or a dead stop. */
#include <uniscope/agent.h>

#include "cpu.h"
#include "kernel.h"

/*
 * QEMU's -device isa-debug-exit (iobase 0x501 by default, 4 bytes wide)
 * makes QEMU exit with status (value << 1) | 1 on a write. So QEMU's exit
 * code is always odd: demo_exit(0) gives 1, demo_exit(1) gives 3, and so
 * on; 0 can only come from QEMU itself shutting down normally.
 */
#define DEBUG_EXIT_PORT 0x501

_Noreturn void halt_forever(void)
{
    if (xen_present()) {
        /*
         * Under Xen, hlt with interrupts off takes the vCPU down, and the
         * domain is powered off once no vCPU is up. Blocking in hlt with
         * interrupts on and nothing left to send one keeps it, blocked,
         * for the host tools to look at.
         */
        cli();
        timer_stop();
        for (;;)
            sti_hlt();
    }
    for (;;)
        __asm__ volatile("cli; hlt" : : : "memory");
}

_Noreturn void demo_panic(const char *reason, const struct usca_fault *fault)
{
    if (!xen_present())
        usca_panic(reason, fault);
    usca_panic_record(reason, fault);
    halt_forever();
}

_Noreturn void demo_exit(uint32_t status)
{
    cli();
    usca_set_state(USC_STATE_HALTED);
    kprintf("demokernel: halted after %lu ticks, exit status %u\n",
            (unsigned long)demo_ticks, status);
    if (xen_present()) {
        /* The domain goes with its console ring: let xenconsoled read it
         * all first. */
        xen_console_flush();
        long rc = xen_poweroff();
        kprintf("demokernel: SCHEDOP_shutdown failed (%ld)\n", rc);
        halt_forever();
    }
    outl(DEBUG_EXIT_PORT, status);
    /* still here: no isa-debug-exit device */
    halt_forever();
}
