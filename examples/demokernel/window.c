/* A 2 MiB window of 4 KiB pages for frames outside boot.S's identity map:
 * the Xen console ring, the local APIC's registers. */
#include "cpu.h"
#include "kernel.h"

#define PAGE_SIZE 4096u
#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_PWT 0x8ull
#define PTE_PCD 0x10ull
#define PTE_ADDR 0x000ffffffffff000ull
/* PML4 slot 511, PDPT slot 511, which boot.S leaves empty (the image uses
 * slot 510). */
#define WINDOW_VA 0xffffffffc0000000ull

static uint64_t window_pd[512] __attribute__((aligned(PAGE_SIZE)));
static uint64_t window_pt[512] __attribute__((aligned(PAGE_SIZE)));

/* The guest-physical address of (p), which lies in the image. */
static uint64_t image_phys(const void *p)
{
    return (uint64_t)(uintptr_t)p - KERNEL_VMA;
}

volatile void *window_map(uint64_t pfn, unsigned slot, int uncached)
{
    uint64_t cr3;

    if (slot >= 512)
        return NULL;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    /* boot.S's tables lie in the identity-mapped first GiB */
    uint64_t *pml4 = (uint64_t *)(uintptr_t)(cr3 & PTE_ADDR);
    uint64_t pml4e = pml4[(WINDOW_VA >> 39) & 511];
    if (!(pml4e & PTE_P))
        return NULL;
    uint64_t *pdpt = (uint64_t *)(uintptr_t)(pml4e & PTE_ADDR);
    uint64_t *pdpte = &pdpt[(WINDOW_VA >> 30) & 511];
    if (!(*pdpte & PTE_P)) {
        window_pd[(WINDOW_VA >> 21) & 511] =
            image_phys(window_pt) | PTE_P | PTE_RW;
        *pdpte = image_phys(window_pd) | PTE_P | PTE_RW;
    } else if ((*pdpte & PTE_ADDR) != image_phys(window_pd)) {
        return NULL;
    }
    uint64_t va = WINDOW_VA + (uint64_t)slot * PAGE_SIZE;
    window_pt[slot] =
        (pfn << 12) | PTE_P | PTE_RW | (uncached ? PTE_PCD | PTE_PWT : 0);
    invlpg((const void *)(uintptr_t)va);
    return (volatile void *)(uintptr_t)va;
}
