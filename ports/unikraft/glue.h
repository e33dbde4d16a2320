/* uniscope's Unikraft port: what its files share. */
#ifndef USCA_UK_GLUE_H
#define USCA_UK_GLUE_H

#include <stddef.h>
#include <stdint.h>
#include <uniscope/unikraft.h>

/* Thread slots the port maps (the agent's USCA_MAX_THREADS). */
#define USCA_UK_MAX_THREADS 64

/* Non-zero once the port has initialised the agent (uk_init.c). */
extern volatile int usca_uk_ready;

/* The TSC, the agent's clock. */
static inline uint64_t usca_uk_rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* uk_console.c: copy the console captured before init into the log ring,
 * then set usca_uk_ready. */
void usca_uk_console_start(void);
/* The message of the last line the console printed (a crash's, without
 * Unikraft's time, level and source prefixes), NUL-terminated. */
void usca_uk_console_last_line(char *buf, size_t cap);

/* uk_threads.c: register the threads that exist at init (none without
 * uksched). */
void usca_uk_threads_start(void);

/* uk_metrics.c: register Unikraft's metrics (the agent's clock runs at
 * ts_hz); count a context switch. */
void usca_uk_metrics_start(uint64_t ts_hz);
void usca_uk_metrics_switch(void);
/* Threads alive, for the gauge: +1 or -1. */
void usca_uk_metrics_threads(int delta);

/* uk_crash.c: the control registers and segments of this vCPU into (r). */
void usca_uk_fill_system_regs(struct usc_regs *r);

/* uk_guard.c: has the agent been initialised? Else stop with one line
 * naming (fn). */
void usca_uk_guard(const char *fn);

#endif /* USCA_UK_GLUE_H */
