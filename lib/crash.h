/* Judging a guest that stopped: a crash (keep its core) or an orderly end,
 * from what the hypervisor, the guest's agent and its console say. */
#ifndef USC_CRASH_H
#define USC_CRASH_H

#include <stddef.h>

#include "target.h"

/* What is known of a stopped guest. */
struct usc_crash_facts {
    int have_value;          /* the guest wrote to the exit port (0x501) */
    unsigned value;          /* the low byte of its first write */
    enum usc_vm_state state; /* the hypervisor's run state now */
    int guest_reset;         /* the hypervisor saw a reset (a triple fault) */
    int guest_panicked;      /* the hypervisor saw a panic (pvpanic) */
    int agent_state;         /* enum usc_run_state, or -1: no agent */
    char panic_reason[128];  /* the agent's, when it panicked */
    const char *console;     /* untrusted: the tail of its console log */
    size_t console_len;
};

struct usc_crash_verdict {
    int crash;        /* a crash: keep a core */
    char kind[24];    /* one word: "trap", "abort", "exit", ... */
    char reason[160]; /* one line for people, console text sanitized */
    int status;       /* the exit status a script gets */
};

/*
 * Judge (f) into (v), first rule that applies (docs/crashes.md): the
 * agent's PANICKED; a guest panic; an internal error (status 1); a reset;
 * the agent's HALTED (orderly); the unikernel's own crash report on its
 * console, as usc_crashlog_parse reads it (Solo5's "Solo5: trap:",
 * "Solo5: ABORT:", "Solo5: solo5_abort() called", Unikraft's "CRIT:"
 * lines; an exit report alone is none; lines that look like a report but
 * do not parse are kept as one); else an orderly exit or power-off. The status
 * is the low 7 bits of the exit port's value (what isa-debug-exit's (value <<
 * 1) | 1 gave), 0 without one. The console is read within (console_len),
 * whatever it holds.
 */
void usc_crash_judge(const struct usc_crash_facts *f,
                     struct usc_crash_verdict *v);

#endif /* USC_CRASH_H */
