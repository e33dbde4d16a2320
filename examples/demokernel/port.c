/* The port layer the uniscope agent asks of its unikernel. */
#include <uniscope/agent.h>

#include "cpu.h"
#include "kernel.h"

uint64_t usca_port_timestamp(void)
{
    return rdtsc();
}

uint32_t usca_port_vcpu(void)
{
    uint32_t index;

    /* %gs:8 is this vCPU's struct cpu index (smp.c): one load, fit for
     * every trace event */
    __asm__ volatile("movl %%gs:8, %0" : "=r"(index));
    return index;
}

unsigned long usca_port_irq_save(void)
{
    return save_flags_cli();
}

void usca_port_irq_restore(unsigned long flags)
{
    restore_flags(flags);
}

uint64_t usca_port_virt_to_phys(const void *vaddr)
{
    uint64_t va = (uint64_t)(uintptr_t)vaddr;

    /* The image lives at KERNEL_VMA + phys; the rest is identity-mapped. */
    if (va >= KERNEL_VMA)
        return va - KERNEL_VMA;
    return va;
}
