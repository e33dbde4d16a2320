/* Interrupt and exception entry: one stub per vector, one common path. */

/*
 * One stub per vector, 16 bytes apart. The CPU pushes an error code for
 * some vectors; the others get a 0 to match. Each stub has CFI of its own
 * describing the interrupted frame, as trap_common does, so a debugger or
 * a dump that catches a vCPU on a stub's first instructions still unwinds
 * into the interrupted code.
 */
.macro stub n, has_err
    .balign 16
    .cfi_startproc simple
    .cfi_signal_frame
    .if \has_err
    .cfi_def_cfa %rsp, 6 * 8
    .else
    .cfi_def_cfa %rsp, 5 * 8
    .endif
    .cfi_offset %rip, -5 * 8
    .cfi_offset %rsp, -2 * 8
    .if \has_err == 0
    pushq $0
    .cfi_adjust_cfa_offset 8
    .endif
    pushq $\n
    .cfi_adjust_cfa_offset 8
    jmp trap_common
    .cfi_endproc
.endm

    .text
    .balign 16
    .globl trap_stubs
trap_stubs:
    /* exceptions 0-31, the PIC's IRQ 0-15 (the tick on 32), then 48-63 */
    stub 0, 0
    stub 1, 0
    stub 2, 0
    stub 3, 0
    stub 4, 0
    stub 5, 0
    stub 6, 0
    stub 7, 0
    stub 8, 1
    stub 9, 0
    stub 10, 1
    stub 11, 1
    stub 12, 1
    stub 13, 1
    stub 14, 1
    stub 15, 0
    stub 16, 0
    stub 17, 1
    stub 18, 0
    stub 19, 0
    stub 20, 0
    stub 21, 1
    stub 22, 0
    stub 23, 0
    stub 24, 0
    stub 25, 0
    stub 26, 0
    stub 27, 0
    stub 28, 0
    stub 29, 1
    stub 30, 1
    stub 31, 0
    stub 32, 0
    stub 33, 0
    stub 34, 0
    stub 35, 0
    stub 36, 0
    stub 37, 0
    stub 38, 0
    stub 39, 0
    stub 40, 0
    stub 41, 0
    stub 42, 0
    stub 43, 0
    stub 44, 0
    stub 45, 0
    stub 46, 0
    stub 47, 0
    /* the local APIC's own vectors: IPIs, spurious */
    stub 48, 0
    stub 49, 0
    stub 50, 0
    stub 51, 0
    stub 52, 0
    stub 53, 0
    stub 54, 0
    stub 55, 0
    stub 56, 0
    stub 57, 0
    stub 58, 0
    stub 59, 0
    stub 60, 0
    stub 61, 0
    stub 62, 0
    stub 63, 0

/*
 * Build a struct trap_frame, save the FPU/SSE state (the agent's code may
 * use SSE, and it runs in interrupt context), call trap_dispatch, and
 * return to the interrupted code. The CFI describes the interrupted frame
 * so a debugger can unwind through an interrupt.
 */
/* push or pop one register, keeping the CFI's idea of the CFA right */
.macro push_reg reg
    pushq \reg
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset \reg, 0
.endm
.macro pop_reg reg
    popq \reg
    .cfi_adjust_cfa_offset -8
    .cfi_restore \reg
.endm

    .balign 16
trap_common:
    .cfi_startproc simple
    .cfi_signal_frame
    /* on entry: vector, error, rip, cs, rflags, rsp, ss */
    .cfi_def_cfa %rsp, 7 * 8
    .cfi_offset %rip, -5 * 8
    .cfi_offset %rsp, -2 * 8
    push_reg %rax
    push_reg %rbx
    push_reg %rcx
    push_reg %rdx
    push_reg %rbp
    push_reg %rsi
    push_reg %rdi
    push_reg %r8
    push_reg %r9
    push_reg %r10
    push_reg %r11
    push_reg %r12
    push_reg %r13
    push_reg %r14
    push_reg %r15
    cld
    /* %rbp, not another callee-saved register: every C function saves
     * it with CFI (frame pointers are on), so an unwinder can always
     * recover it and, from it, this frame. */
    movq %rsp, %rbp
    .cfi_def_cfa_register %rbp
    subq $512, %rsp
    andq $-16, %rsp
    fxsave (%rsp)
    movq %rbp, %rdi
    call trap_dispatch
    fxrstor (%rsp)
    movq %rbp, %rsp
    .cfi_def_cfa_register %rsp
    pop_reg %r15
    pop_reg %r14
    pop_reg %r13
    pop_reg %r12
    pop_reg %r11
    pop_reg %r10
    pop_reg %r9
    pop_reg %r8
    pop_reg %rdi
    pop_reg %rsi
    pop_reg %rbp
    pop_reg %rdx
    pop_reg %rcx
    pop_reg %rbx
    pop_reg %rax
    addq $16, %rsp
    .cfi_adjust_cfa_offset -16
    iretq
    .cfi_endproc

    .section .note.GNU-stack, "", @progbits
