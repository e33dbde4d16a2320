/*
 * Crashes into the agent's panic record, before Unikraft halts.
 *
 * CPU exceptions: Unikraft raises a trap event (UKARCH_TRAP_*) for each
 * exception it lets libraries handle; a handler of the latest priority is
 * reached only when no other handler took the exception, that is when
 * Unikraft is about to dump the registers and crash. It records the
 * vector, error code, CR2 and the full trap frame, and lets Unikraft go
 * on. Vectors Unikraft gives no event (overflow, bounds, invalid TSS,
 * machine check) are not recorded here.
 *
 * Software crashes (UK_CRASH, UK_ASSERT, abort) and orderly halts all end
 * in ukplat_terminate, which the link wraps (-Wl,--wrap=ukplat_terminate):
 * uk_hooks.S captures the caller's registers and calls usca_uk_terminate.
 * The platform's own calls (inside libkvmplat, e.g. after the trap dump
 * above) are not wrapped; those after a trap were recorded by the trap
 * event already.
 */
#include <uk/arch/traps.h>
#include <uk/event.h>
#include <uk/plat/bootstrap.h>

#include "glue.h"

#define MSR_FS_BASE 0xc0000100u
#define MSR_GS_BASE 0xc0000101u
#define MSR_KERNEL_GS_BASE 0xc0000102u
#define MSR_EFER 0xc0000080u

static uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;

    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

#define READ_CR(n)                                                             \
    ({                                                                         \
        uint64_t v_;                                                           \
        __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v_));                     \
        v_;                                                                    \
    })
#define READ_SEG(s)                                                            \
    ({                                                                         \
        uint16_t v_;                                                           \
        __asm__ volatile("mov %%" #s ", %0" : "=r"(v_));                       \
        (uint64_t) v_;                                                         \
    })

void usca_uk_fill_system_regs(struct usc_regs *r)
{
    r->ds = READ_SEG(ds);
    r->es = READ_SEG(es);
    r->fs = READ_SEG(fs);
    r->gs = READ_SEG(gs);
    r->fs_base = rdmsr(MSR_FS_BASE);
    r->gs_base = rdmsr(MSR_GS_BASE);
    r->k_gs_base = rdmsr(MSR_KERNEL_GS_BASE);
    r->cr0 = READ_CR(0);
    r->cr2 = READ_CR(2);
    r->cr3 = READ_CR(3);
    r->cr4 = READ_CR(4);
    r->cr8 = READ_CR(8);
    r->efer = rdmsr(MSR_EFER);
}

/* The trap frame in the agent's register layout. */
static void frame_regs(const struct __regs *f, struct usc_regs *r)
{
    *r = (struct usc_regs){
        .rax = f->rax,
        .rbx = f->rbx,
        .rcx = f->rcx,
        .rdx = f->rdx,
        .rsi = f->rsi,
        .rdi = f->rdi,
        .rbp = f->rbp,
        .rsp = f->rsp,
        .r8 = f->r8,
        .r9 = f->r9,
        .r10 = f->r10,
        .r11 = f->r11,
        .r12 = f->r12,
        .r13 = f->r13,
        .r14 = f->r14,
        .r15 = f->r15,
        .rip = f->rip,
        .rflags = f->eflags,
        .cs = f->cs,
        .ss = f->ss,
    };
    usca_uk_fill_system_regs(r);
}

static const char *trap_name(int trapnr)
{
    switch (trapnr) {
    case 0:
        return "divide error";
    case 6:
        return "invalid opcode";
    case 7:
        return "device not available";
    case 11:
        return "segment not present";
    case 12:
        return "stack segment fault";
    case 13:
        return "general protection fault";
    case 14:
        return "page fault";
    case 16:
        return "x87 floating-point error";
    case 17:
        return "alignment check";
    case 19:
        return "SIMD floating-point error";
    case 21:
        return "control protection fault";
    default:
        return "CPU exception";
    }
}

static int unhandled_trap(void *arg)
{
    const struct ukarch_trap_ctx *ctx = arg;
    struct usc_regs regs;
    struct usca_fault f = {
        .vector = (uint64_t)ctx->trapnr,
        .error_code = (uint64_t)(uint32_t)ctx->error_code,
        .cr2 = ctx->trapnr == 14 ? ctx->fault_address : 0,
        .regs = &regs,
    };

    if (!usca_uk_ready)
        return UK_EVENT_NOT_HANDLED;
    frame_regs(ctx->regs, &regs);
    usca_panic_record(trap_name(ctx->trapnr), &f);
    return UK_EVENT_NOT_HANDLED; /* Unikraft dumps and crashes */
}

UK_EVENT_HANDLER_PRIO(UKARCH_TRAP_PAGE_FAULT, unhandled_trap, UK_PRIO_LATEST);
UK_EVENT_HANDLER_PRIO(UKARCH_TRAP_X86_GP, unhandled_trap, UK_PRIO_LATEST);
UK_EVENT_HANDLER_PRIO(UKARCH_TRAP_INVALID_OP, unhandled_trap, UK_PRIO_LATEST);
UK_EVENT_HANDLER_PRIO(UKARCH_TRAP_BUS_ERROR, unhandled_trap, UK_PRIO_LATEST);
UK_EVENT_HANDLER_PRIO(UKARCH_TRAP_MATH, unhandled_trap, UK_PRIO_LATEST);
UK_EVENT_HANDLER_PRIO(UKARCH_TRAP_SECURITY, unhandled_trap, UK_PRIO_LATEST);

void __real_ukplat_terminate(enum ukplat_gstate request) __noreturn;

/*
 * The call into ukplat_terminate, from its return address: a noreturn call
 * is often the last instruction of its function, so the return address may
 * already lie in the next one. A direct call (e8 + rel32, what the
 * compiler emits here) is 5 bytes back; else point into the call.
 */
static uint64_t call_site(uint64_t ret)
{
    const volatile uint8_t *op = (const volatile uint8_t *)(ret - 5);

    return *op == 0xe8 ? ret - 5 : ret - 1;
}

/*
 * From __wrap_ukplat_terminate (uk_hooks.S), with the caller's registers
 * in (regs). A crash is recorded as a software panic whose reason is the
 * message UK_CRASH or UK_ASSERT printed last; a halt sets the state.
 */
__noreturn void usca_uk_terminate(enum ukplat_gstate request,
                                  struct usc_regs *regs)
{
    if (usca_uk_ready) {
        if (request == UKPLAT_CRASH) {
            char reason[USC_REASON_MAX];

            usca_uk_console_last_line(reason, sizeof(reason));
            usca_uk_fill_system_regs(regs);
            regs->rip = call_site(regs->rip);
            struct usca_fault f = {.vector = USC_PANIC_NO_VECTOR, .regs = regs};
            usca_panic_record(reason[0] ? reason : "UK_CRASH", &f);
        } else {
            usca_set_state(USC_STATE_HALTED);
        }
    }
    __real_ukplat_terminate(request);
}
