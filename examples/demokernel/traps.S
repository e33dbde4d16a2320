/* Interrupt and exception entry: one stub per vector, one common path. */

/* The CPU pushes an error code for these; the others get a 0 to match. */
#define STUB(n) .balign 16; pushq $0; pushq $n; jmp trap_common
#define STUB_ERR(n) .balign 16; pushq $n; jmp trap_common

    .text
    .balign 16
    .globl trap_stubs
trap_stubs:
    STUB(0);  STUB(1);  STUB(2);  STUB(3)
    STUB(4);  STUB(5);  STUB(6);  STUB(7)
    STUB_ERR(8); STUB(9); STUB_ERR(10); STUB_ERR(11)
    STUB_ERR(12); STUB_ERR(13); STUB_ERR(14); STUB(15)
    STUB(16); STUB_ERR(17); STUB(18); STUB(19)
    STUB(20); STUB_ERR(21); STUB(22); STUB(23)
    STUB(24); STUB(25); STUB(26); STUB(27)
    STUB(28); STUB_ERR(29); STUB_ERR(30); STUB(31)
    /* the PIC's IRQ 0-15 */
    STUB(32); STUB(33); STUB(34); STUB(35)
    STUB(36); STUB(37); STUB(38); STUB(39)
    STUB(40); STUB(41); STUB(42); STUB(43)
    STUB(44); STUB(45); STUB(46); STUB(47)

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
    movq %rsp, %rbx
    .cfi_def_cfa_register %rbx
    subq $512, %rsp
    andq $-16, %rsp
    fxsave (%rsp)
    movq %rbx, %rdi
    call trap_dispatch
    fxrstor (%rsp)
    movq %rbx, %rsp
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
