/* The Solo5 port's own parts, shared by its files (not for applications). */
#ifndef USCA_SOLO5_PORT_H
#define USCA_SOLO5_PORT_H

#include <stddef.h>
#include <stdint.h>
#include <uniscope/agent.h>

#include "solo5.h"

/*
 * The Solo5 calls the port stands in front of, linked with --wrap=NAME for
 * each: references to NAME from other objects reach __wrap_NAME (port.c),
 * which calls Solo5's own as __real_NAME. solo5_app_main is the
 * application's, called by Solo5's start code.
 */
int __wrap_solo5_app_main(const struct solo5_start_info *si);
int __real_solo5_app_main(const struct solo5_start_info *si);
void __wrap_solo5_console_write(const char *buf, size_t size);
void __real_solo5_console_write(const char *buf, size_t size);
void __wrap_solo5_yield(solo5_time_t deadline, solo5_handle_set_t *ready);
void __real_solo5_yield(solo5_time_t deadline, solo5_handle_set_t *ready);
void __wrap_solo5_exit(int status) __attribute__((noreturn));
void __real_solo5_exit(int status) __attribute__((noreturn));
void __wrap_solo5_abort(void) __attribute__((noreturn));
void __real_solo5_abort(void) __attribute__((noreturn));

/* Write (len) bytes of (s) to Solo5's console only (not the log ring). */
void usca_solo5_console(const char *s, size_t len);

/*
 * Point each exception gate Solo5 installed at the port's stub for its
 * vector, which records the panic and then jumps to Solo5's own handler
 * (traps.c). Returns how many gates now pass through the port.
 */
unsigned usca_solo5_traps_install(void);

/*
 * The registers the exception stubs save (traps.S), lowest address first,
 * followed on the stack by the CPU's frame (error code if any, rip, cs,
 * rflags, rsp, ss). (chain) is Solo5's handler, where the stub goes next.
 */
struct usca_solo5_gprs {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t chain;
};

/* Called by the stubs with the vector and the saved registers. */
void usca_solo5_trap(uint64_t vector, const struct usca_solo5_gprs *g);

/*
 * Store in (r) the caller's registers as they will be once this returns:
 * rip the return address, rsp past it, rbp, rbx, r12-r15 and rflags as
 * they are (traps.S). A debugger unwinds the caller from them.
 */
void usca_solo5_capture(struct usc_regs *r);

/* Fill the segment, control and MSR fields of (r) from this CPU. */
void usca_solo5_system_regs(struct usc_regs *r);

/* ---- text without libc ------------------------------------------------ */

/* A bounded string being built; always NUL-terminated. */
struct usca_solo5_text {
    char *buf;
    size_t cap, len;
};

void usca_solo5_puts(struct usca_solo5_text *t, const char *s);
void usca_solo5_puthex(struct usca_solo5_text *t, uint64_t v);
void usca_solo5_putdec(struct usca_solo5_text *t, uint64_t v);

#endif
