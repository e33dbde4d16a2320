/* Context switch between cooperative threads, and a new thread's first frame. */

/*
 * void switch_context(uint64_t *save_rsp, uint64_t new_rsp)
 * Push the callee-saved registers, park the stack pointer in *save_rsp,
 * and resume the context whose stack pointer is new_rsp. The caller-saved
 * registers are the C caller's business; flags are the scheduler's.
 */
    .text
    .globl switch_context
    .type switch_context, @function
switch_context:
    .cfi_startproc
    pushq %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    pushq %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r12, 0
    pushq %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r13, 0
    pushq %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r14, 0
    pushq %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r15, 0
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size switch_context, . - switch_context

/*
 * A new thread's first switch_context returns here, with its struct
 * thread in %r12 (see thread_create). The CFI marks the outermost frame
 * so that debuggers stop unwinding here.
 */
    .globl thread_trampoline
    .type thread_trampoline, @function
thread_trampoline:
    .cfi_startproc
    .cfi_undefined %rip
    xorl %ebp, %ebp
    movq %r12, %rdi
    andq $-16, %rsp
    call thread_start
    ud2
    .cfi_endproc
    .size thread_trampoline, . - thread_trampoline

    .section .note.GNU-stack, "", @progbits
