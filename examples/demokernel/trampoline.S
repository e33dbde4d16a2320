/* The other vCPUs' way in: QEMU's real-mode start-up trampoline, Xen's
 * 64-bit entry, and the stack each gets. */

#define TRAMPOLINE_PHYS 0x8000 /* smp.c copies the trampoline here */
/* An address inside the copy, for code that runs there. */
#define T(sym) ((sym) - ap_trampoline + TRAMPOLINE_PHYS)

#define CR0_PE (1 << 0)
#define CR0_MP (1 << 1)
#define CR0_EM (1 << 2)
#define CR0_NW (1 << 29)
#define CR0_CD (1 << 30)
#define CR0_WP (1 << 16)
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define CR4_OSFXSR (1 << 9)
#define CR4_OSXMMEXCPT (1 << 10)
#define MSR_EFER 0xc0000080
#define SEL_CODE32 0x08
#define SEL_DATA 0x10
#define SEL_CODE64 0x18
#define AP_STACK_SHIFT 14 /* 16 KiB, as smp.c's AP_STACK_SIZE */

/*
 * Copied to TRAMPOLINE_PHYS (a page below 1 MiB) and entered there by a
 * STARTUP IPI with vector TRAMPOLINE_PHYS >> 12: %cs = 0x800, %ip = 0, in
 * real mode. It goes through protected mode into long mode with the boot
 * vCPU's page tables (ap_tramp_cr3, filled in by smp.c with ap_tramp_efer
 * and ap_tramp_entry) and jumps to ap_entry64 in the higher half. Every
 * AP runs it at once (the STARTUP goes to all): it only reads the copy.
 */
    .section .rodata
    .balign 16
    .globl ap_trampoline
    .code16
ap_trampoline:
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    lgdtl ap_tramp_gdt_ptr - ap_trampoline
    movl %cr0, %eax
    andl $~(CR0_CD | CR0_NW | CR0_EM), %eax
    orl $CR0_PE, %eax
    movl %eax, %cr0
    ljmpl $SEL_CODE32, $T(ap_tramp32)

    .code32
ap_tramp32:
    movl $SEL_DATA, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %cr4, %eax
    orl $(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
    movl %eax, %cr4
    movl T(ap_tramp_cr3), %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    rdmsr
    orl T(ap_tramp_efer), %eax
    wrmsr
    movl %cr0, %eax
    orl $(CR0_PE | CR0_MP | CR0_WP | CR0_PG), %eax
    movl %eax, %cr0
    ljmpl $SEL_CODE64, $T(ap_tramp64)

    .code64
ap_tramp64:
    movq T(ap_tramp_entry), %rax
    jmp *%rax

    .balign 8
ap_tramp_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff    /* SEL_CODE32: 32-bit code */
    .quad 0x00cf92000000ffff    /* SEL_DATA: flat data */
    .quad 0x00af9a000000ffff    /* SEL_CODE64: 64-bit code */
ap_tramp_gdt_end:
ap_tramp_gdt_ptr:
    .word ap_tramp_gdt_end - ap_tramp_gdt - 1
    .long T(ap_tramp_gdt)
    .balign 8
    .globl ap_tramp_cr3, ap_tramp_efer, ap_tramp_entry
ap_tramp_cr3:
    .quad 0
ap_tramp_efer:                  /* EFER bits to set: LME, and NXE if used */
    .quad 0
ap_tramp_entry:
    .quad 0
    .globl ap_trampoline_end
ap_trampoline_end:

/*
 * ap_entry64: in long mode, on the trampoline's GDT, no stack. The vCPU's
 * index is its initial APIC id (CPUID 1, EBX[31:24]): QEMU's own number
 * for it (its CPU index, which gdb and QMP use) with the topology -smp N
 * gives. Park a vCPU from ap_limit on (more than the kernel runs); else
 * switch to that index's stack and call ap_main(index).
 */
    .text
    .globl ap_entry64
    .type ap_entry64, @function
ap_entry64:
    movl $1, %eax
    cpuid
    shrl $24, %ebx
    movl %ebx, %eax
    cmpl ap_limit(%rip), %eax
    jae 2f
    movl %eax, %edi
    leaq ap_stacks(%rip), %rsp
    leal 1(%rax), %eax
    shlq $AP_STACK_SHIFT, %rax
    addq %rax, %rsp
    jmp 1f
    .size ap_entry64, . - ap_entry64

/*
 * ap_entry_xen: what VCPUOP_initialise starts a vCPU at, in long mode
 * on the boot vCPU's page tables, with its stack and %rdi = its index.
 */
    .globl ap_entry_xen
    .type ap_entry_xen, @function
ap_entry_xen:
1:  xorl %ebp, %ebp
    call ap_main
2:  cli
    hlt
    jmp 2b
    .size ap_entry_xen, . - ap_entry_xen

    .section .note.GNU-stack, "", @progbits
