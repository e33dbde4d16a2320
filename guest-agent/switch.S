/* usca_thread_switch: capture the caller's callee-saved state, then record it. */

/*
 * void usca_thread_switch(struct usc_thread *prev, struct usc_thread *next)
 *
 * Builds a struct usc_saved_regs on the stack describing the caller as it
 * will be right after this call returns (rip = return address, rsp = the
 * caller's stack pointer after the return, callee-saved registers as they
 * are), and passes it to usca_thread_switch_regs. A debugger given those
 * registers unwinds the switched-out thread from inside its scheduler.
 */
    .text
    .globl usca_thread_switch
    .type usca_thread_switch, @function
usca_thread_switch:
    .cfi_startproc
    subq $72, %rsp              /* 64 bytes of regs, keeps 16-byte alignment */
    .cfi_adjust_cfa_offset 72
    movq 72(%rsp), %rax
    movq %rax, 0(%rsp)          /* rip */
    leaq 80(%rsp), %rax
    movq %rax, 8(%rsp)          /* rsp */
    movq %rbp, 16(%rsp)
    movq %rbx, 24(%rsp)
    movq %r12, 32(%rsp)
    movq %r13, 40(%rsp)
    movq %r14, 48(%rsp)
    movq %r15, 56(%rsp)
    movq %rsp, %rdx
    call usca_thread_switch_regs
    addq $72, %rsp
    .cfi_adjust_cfa_offset -72
    ret
    .cfi_endproc
    .size usca_thread_switch, . - usca_thread_switch

    .section .note.GNU-stack, "", @progbits
