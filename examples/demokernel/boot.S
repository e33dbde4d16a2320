/* PVH entry: from 32-bit protected mode to 64-bit long mode, higher half. */

#define KERNEL_VMA 0xffffffff80000000
/* Before paging is on, and in the note, symbols are needed at their
 * physical (load) address. */
#define PHYS(sym) ((sym) - KERNEL_VMA)

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define PTE_P 0x1
#define PTE_RW 0x2
#define PTE_PS 0x80
#define CR0_PE (1 << 0)
#define CR0_MP (1 << 1)
#define CR0_EM (1 << 2)
#define CR0_WP (1 << 16)
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define CR4_OSFXSR (1 << 9)
#define CR4_OSXMMEXCPT (1 << 10)
#define MSR_EFER 0xc0000080
#define EFER_LME (1 << 8)
#define EFER_NXE (1 << 11)
#define CPUID_EXT_NX (1 << 20)
#define SEL_CODE 0x08
#define SEL_DATA 0x10
#define BOOT_STACK_SIZE 16384

/*
 * The PVH entry note: QEMU's -kernel and Xen's PVH domain builder both
 * enter at this 32-bit physical address, with %ebx holding the physical
 * address of struct hvm_start_info. linker.ld puts it in the PT_NOTE.
 */
    .section .note.Xen, "a", @note
    .balign 4
    .long 2f - 1f           /* namesz */
    .long 4f - 3f           /* descsz */
    .long XEN_ELFNOTE_PHYS32_ENTRY
1:  .asciz "Xen"
2:  .balign 4
3:  .long PHYS(pvh_start)
4:  .balign 4

    .section .text.boot, "ax"
    .code32
    .globl pvh_start
    .type pvh_start, @function
pvh_start:
    cli
    cld
    movl %ebx, %esi         /* start info; survives until kmain */

    /* .bss holds the page tables and the stack: clear it first */
    movl $PHYS(__bss_start), %edi
    movl $PHYS(__bss_end), %ecx
    subl %edi, %ecx
    xorl %eax, %eax
    rep stosb

    /* one page directory of 2 MiB pages covering physical 0 - 1 GiB */
    movl $PHYS(boot_pd), %edi
    movl $(PTE_P | PTE_RW | PTE_PS), %eax
    movl $512, %ecx
1:  movl %eax, (%edi)
    addl $0x200000, %eax
    addl $8, %edi
    loop 1b

    /* used twice: identity at 0, and the image's view at KERNEL_VMA */
    movl $(PHYS(boot_pd) + PTE_P + PTE_RW), %eax
    movl %eax, PHYS(boot_pdpt_low)
    movl %eax, PHYS(boot_pdpt_high) + 510 * 8
    movl $(PHYS(boot_pdpt_low) + PTE_P + PTE_RW), %eax
    movl %eax, PHYS(boot_pml4)
    movl $(PHYS(boot_pdpt_high) + PTE_P + PTE_RW), %eax
    movl %eax, PHYS(boot_pml4) + 511 * 8

    movl $PHYS(boot_pml4), %eax
    movl %eax, %cr3
    movl %cr4, %eax
    orl $(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
    movl %eax, %cr4

    /* EFER.NXE only where the CPU has NX: setting it otherwise faults */
    movl $0x80000001, %eax
    cpuid
    xorl %edi, %edi
    testl $CPUID_EXT_NX, %edx
    jz 2f
    movl $EFER_NXE, %edi
2:  movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    orl %edi, %eax
    wrmsr

    movl %cr0, %eax
    andl $~CR0_EM, %eax
    orl $(CR0_PE | CR0_MP | CR0_WP | CR0_PG), %eax
    movl %eax, %cr0

    lgdt PHYS(boot_gdt_ptr)
    ljmp $SEL_CODE, $PHYS(long_mode)

    .code64
long_mode:
    /* still running at the physical address: no %rip-relative data yet */
    movl $SEL_DATA, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    xorl %eax, %eax
    movl %eax, %fs
    movl %eax, %gs
    movabsq $higher_half, %rax
    jmp *%rax

higher_half:
    movabsq $(boot_stack + BOOT_STACK_SIZE), %rsp
    xorl %ebp, %ebp
    movl %esi, %edi
    call kmain
3:  cli
    hlt
    jmp 3b
    .size pvh_start, . - pvh_start

    .section .rodata
    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* SEL_CODE: 64-bit code */
    .quad 0x00cf92000000ffff    /* SEL_DATA: flat data */
boot_gdt_end:
boot_gdt_ptr:                   /* lgdt in 32-bit mode: 32-bit base */
    .word boot_gdt_end - boot_gdt - 1
    .long PHYS(boot_gdt)

    .section .bss
    .balign 4096
boot_pml4:
    .skip 4096
boot_pdpt_low:
    .skip 4096
boot_pdpt_high:
    .skip 4096
boot_pd:
    .skip 4096
    .globl boot_stack
boot_stack:
    .skip BOOT_STACK_SIZE

    .section .note.GNU-stack, "", @progbits
