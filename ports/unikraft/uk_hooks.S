/*
 * The two calls out of Unikraft's objects that the link wraps
 * (-Wl,--wrap=...): each captures its caller's registers as the caller
 * left them, hands them to the port's C code, and goes on into Unikraft.
 */

/*
 * void __wrap_ukarch_ctx_switch(struct ukarch_ctx *store,
 *                               struct ukarch_ctx *load)
 *
 * Reached for every context switch from uk_sched_thread_switch, inline in
 * the scheduler (which, like uk_sched_thread_sleep before it, often gets
 * here by a tail jump: then no scheduler frame is left on the stack and
 * the return address is in the code that went to sleep). Builds a struct
 * usc_saved_regs describing the thread as it is when it leaves: at
 * .Lswitched below, about to jump into Unikraft's own ukarch_ctx_switch,
 * its stack as its caller left it and the callee-saved registers
 * untouched. Then calls usca_uk_switch(store, load, &regs) and jumps on.
 * A debugger unwinding a switched-out thread from these registers starts
 * here, in the switch, and walks up to where the thread waits; when the
 * thread is switched back in it returns straight to its caller, with no
 * frame of ours left in between.
 */
	.text
	.globl __wrap_ukarch_ctx_switch
	.type __wrap_ukarch_ctx_switch, @function
__wrap_ukarch_ctx_switch:
	.cfi_startproc
	subq $88, %rsp		/* regs (64), store, load, pad: 16-aligned */
	.cfi_adjust_cfa_offset 88
	movq %rdi, 64(%rsp)
	movq %rsi, 72(%rsp)
	leaq .Lswitched(%rip), %rax
	movq %rax, 0(%rsp)	/* rip */
	leaq 88(%rsp), %rax
	movq %rax, 8(%rsp)	/* rsp: as at entry */
	movq %rbp, 16(%rsp)
	movq %rbx, 24(%rsp)
	movq %r12, 32(%rsp)
	movq %r13, 40(%rsp)
	movq %r14, 48(%rsp)
	movq %r15, 56(%rsp)
	movq %rsp, %rdx
	call usca_uk_switch
	movq 64(%rsp), %rdi
	movq 72(%rsp), %rsi
	addq $88, %rsp
	.cfi_adjust_cfa_offset -88
.Lswitched:
	jmp __real_ukarch_ctx_switch
	.cfi_endproc
	.size __wrap_ukarch_ctx_switch, . - __wrap_ukarch_ctx_switch

/*
 * void __wrap_ukplat_terminate(enum ukplat_gstate request)
 *
 * Every halt, restart and software crash (UK_CRASH, UK_ASSERT, abort)
 * outside the platform library. Stores the caller's full register set in
 * a struct usc_regs (rip the return address, fixed up in C; rsp past it;
 * rflags as at entry), then calls usca_uk_terminate(request, &regs),
 * which does not return.
 */
	.globl __wrap_ukplat_terminate
	.type __wrap_ukplat_terminate, @function
__wrap_ukplat_terminate:
	.cfi_startproc
	pushfq
	.cfi_adjust_cfa_offset 8
	subq $272, %rsp		/* struct usc_regs; rsp stays 16-aligned */
	.cfi_adjust_cfa_offset 272
	movq %rax, 0(%rsp)
	movq %rbx, 8(%rsp)
	movq %rcx, 16(%rsp)
	movq %rdx, 24(%rsp)
	movq %rsi, 32(%rsp)
	movq %rdi, 40(%rsp)
	movq %rbp, 48(%rsp)
	leaq 288(%rsp), %rax
	movq %rax, 56(%rsp)	/* rsp */
	movq %r8, 64(%rsp)
	movq %r9, 72(%rsp)
	movq %r10, 80(%rsp)
	movq %r11, 88(%rsp)
	movq %r12, 96(%rsp)
	movq %r13, 104(%rsp)
	movq %r14, 112(%rsp)
	movq %r15, 120(%rsp)
	movq 280(%rsp), %rax
	movq %rax, 128(%rsp)	/* rip: the return address */
	movq 272(%rsp), %rax
	movq %rax, 136(%rsp)	/* rflags */
	xorl %eax, %eax
	movw %cs, %ax
	movq %rax, 144(%rsp)
	movw %ss, %ax
	movq %rax, 152(%rsp)
	xorl %eax, %eax		/* ds .. efer, reserved: zero, filled in C */
	leaq 160(%rsp), %rcx
	leaq 272(%rsp), %rdx
1:	movq %rax, (%rcx)
	addq $8, %rcx
	cmpq %rdx, %rcx
	jb 1b
	movq %rsp, %rsi
	call usca_uk_terminate
	ud2
	.cfi_endproc
	.size __wrap_ukplat_terminate, . - __wrap_ukplat_terminate

	.section .note.GNU-stack, "", @progbits
