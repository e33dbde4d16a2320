/* The agent's five port hooks, on Unikraft's platform API. */
#include <uk/plat/io.h>
#include <uk/plat/lcpu.h>

#include "glue.h"

/* The TSC: cheap enough for trace events, and the clock Unikraft's own
 * monotonic time is scaled from; uk_init.c measures its rate. */
uint64_t usca_port_timestamp(void)
{
    return usca_uk_rdtsc();
}

/* The logical CPU's index (ukplat_lcpu_idx: 0 .. count - 1, also on SMP). */
uint32_t usca_port_vcpu(void)
{
    return (uint32_t)ukplat_lcpu_idx();
}

unsigned long usca_port_irq_save(void)
{
    return ukplat_lcpu_save_irqf();
}

void usca_port_irq_restore(unsigned long flags)
{
    ukplat_lcpu_restore_irqf(flags);
}

/* Through Unikraft's page tables with CONFIG_PAGING, else its identity
 * map. */
uint64_t usca_port_virt_to_phys(const void *vaddr)
{
    return (uint64_t)ukplat_virt_to_phys(vaddr);
}
