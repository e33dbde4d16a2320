/* Exception stubs: record the panic, then go on to Solo5's own handler. */

/*
 * Each stub is entered through the IDT gate in place of Solo5's handler,
 * on the stack Solo5 gave that gate (IST), with the CPU's frame on it. It
 * saves every general register, calls usca_solo5_trap(vector, regs) and
 * restores them all, then "returns" into Solo5's handler for the vector
 * (usca_solo5_chain[vector]) with the stack exactly as the CPU left it:
 * Solo5 then reports and exits as it always does.
 *
 * Stack at the call (ascending): r15 ... rbx (14 saved by the common
 * code), rax (saved by the stub), the chain address, the CPU's frame.
 */
    .text

.macro STUB vec
    .globl usca_solo5_stub_\vec
    .type usca_solo5_stub_\vec, @function
usca_solo5_stub_\vec:
    subq $8, %rsp
    pushq %rax
    movq usca_solo5_chain+8*\vec(%rip), %rax
    movq %rax, 8(%rsp)
    movl $\vec, %eax
    jmp usca_solo5_trap_common
    .size usca_solo5_stub_\vec, . - usca_solo5_stub_\vec
.endm

    .type usca_solo5_trap_common, @function
usca_solo5_trap_common:
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    cld
    movq %rax, %rdi             /* vector */
    movq %rsp, %rsi             /* struct usca_solo5_gprs */
    movq %rsp, %rbx             /* callee-saved: the stack to come back to */
    andq $-16, %rsp
    call usca_solo5_trap
    movq %rbx, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    ret                         /* into Solo5's handler, the CPU frame on top */
    .size usca_solo5_trap_common, . - usca_solo5_trap_common

STUB 0
STUB 1
STUB 2
STUB 3
STUB 4
STUB 5
STUB 6
STUB 7
STUB 8
STUB 9
STUB 10
STUB 11
STUB 12
STUB 13
STUB 14
STUB 15
STUB 16
STUB 17
STUB 18
STUB 19
STUB 20
STUB 21
STUB 22
STUB 23
STUB 24
STUB 25
STUB 26
STUB 27
STUB 28
STUB 29
STUB 30
STUB 31

/*
 * void usca_solo5_capture(struct usc_regs *r): the caller's registers as
 * they will be once this returns (offsets of struct usc_regs, checked in
 * traps.c).
 */
    .globl usca_solo5_capture
    .type usca_solo5_capture, @function
usca_solo5_capture:
    movq (%rsp), %rax
    movq %rax, 128(%rdi)        /* rip: where the caller goes on */
    leaq 8(%rsp), %rax
    movq %rax, 56(%rdi)         /* rsp: the caller's, past the return */
    movq %rbp, 48(%rdi)
    movq %rbx, 8(%rdi)
    movq %r12, 96(%rdi)
    movq %r13, 104(%rdi)
    movq %r14, 112(%rdi)
    movq %r15, 120(%rdi)
    pushfq
    popq 136(%rdi)              /* rflags */
    ret
    .size usca_solo5_capture, . - usca_solo5_capture

    .section .rodata
    .align 8
    .globl usca_solo5_stubs
usca_solo5_stubs:
    .irp vec, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad usca_solo5_stub_\vec
    .endr

    .section .note.GNU-stack, "", @progbits
