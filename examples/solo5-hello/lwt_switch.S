/* The scheduler's context switch and the first frame of every task. */

/*
 * void lwt_switch_context(uint64_t *save_sp, uint64_t next_sp)
 *
 * Push the callee-saved registers, store the stack pointer in (*save_sp),
 * load (next_sp) and pop the next task's registers: its lwt_switch
 * returns, or a new task enters lwt_trampoline.
 */
    .text
    .globl lwt_switch_context
    .type lwt_switch_context, @function
lwt_switch_context:
    .cfi_startproc
    pushq %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbx, 0
    pushq %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r12, 0
    pushq %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r13, 0
    pushq %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r14, 0
    pushq %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r15, 0
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
    .size lwt_switch_context, . - lwt_switch_context

/*
 * A new task's first return lands here, the task in %r12: call
 * lwt_task_start(task), which never returns. The outermost frame of every
 * task: its return address is undefined, so unwinding stops here.
 */
    .globl lwt_trampoline
    .type lwt_trampoline, @function
lwt_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    xorl %ebp, %ebp
    movq %r12, %rdi
    call lwt_task_start
    ud2
    .cfi_endproc
    .size lwt_trampoline, . - lwt_trampoline

    .section .note.GNU-stack, "", @progbits
