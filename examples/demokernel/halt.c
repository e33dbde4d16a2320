/* Leaving the guest: orderly exit through isa-debug-exit, or a dead stop. */
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
    for (;;)
        __asm__ volatile("cli; hlt" : : : "memory");
}

_Noreturn void demo_exit(uint32_t status)
{
    cli();
    usca_set_state(USC_STATE_HALTED);
    kprintf("demokernel: halted after %lu ticks, exit status %u\n",
            (unsigned long)demo_ticks, status);
    outl(DEBUG_EXIT_PORT, status);
    /* still here: no isa-debug-exit device (e.g. under Xen) */
    halt_forever();
}
