/* What a guest's stop means: a crash whose core is kept, or an orderly end,
 * and the exit status a script gets. */
#include "crash.h"

#include <stdio.h>
#include <string.h>
#include <uniscope/abi.h>

#include "crashlog.h"
#include "sanitize.h"

/*
 * The unikernel's own crash report in (text, len), read by
 * usc_crashlog_parse: its kind ("trap" when it names a trap, "abort"
 * when it aborted, "crash" for another report) into (*kind) and its first
 * line, sanitized, into (out). 1 when there was one; an exit report
 * (Solo5's "solo5_exit(N) called") alone is none. Lines that look like a
 * report but do not parse count as one (the core is kept), said so.
 */
static int crash_line(const char *text, size_t len, const char **kind,
                      char *out, size_t cap)
{
    struct usc_crashlog log;
    const char *line, *nl;
    size_t n;

    if (!text || usc_crashlog_parse(text, len, &log) != 0)
        return 0;
    if (log.lines == 0 || log.start >= len) {
        *kind = "crash";
        snprintf(out, cap,
                 "%u line%s on its console that look like a crash "
                 "report but do not parse",
                 log.garbled, log.garbled == 1 ? "" : "s");
        return 1;
    }
    if (!(log.have & (USC_CRASH_HAVE_TRAP | USC_CRASH_HAVE_ABORT)) &&
        (log.kind != USC_CRASH_UNIKRAFT || (log.have & USC_CRASH_HAVE_EXIT)))
        return 0;
    *kind = log.have & USC_CRASH_HAVE_TRAP    ? "trap"
            : log.have & USC_CRASH_HAVE_ABORT ? "abort"
                                              : "crash";
    line = text + log.start;
    nl = memchr(line, '\n', len - log.start);
    n = nl ? (size_t)(nl - line) : len - log.start;
    if (n && line[n - 1] == '\r')
        n--;
    usc_sanitize_text(out, cap, line, n);
    return 1;
}

static void set(struct usc_crash_verdict *v, int crash, const char *kind,
                const char *reason)
{
    size_t n = strnlen(reason, sizeof(v->reason) - 1);

    v->crash = crash;
    snprintf(v->kind, sizeof(v->kind), "%s", kind);
    /* cut to fit: a console line may be longer */
    memcpy(v->reason, reason, n);
    v->reason[n] = '\0';
}

void usc_crash_judge(const struct usc_crash_facts *f,
                     struct usc_crash_verdict *v)
{
    char line[sizeof(v->reason)], text[sizeof(v->reason) + 64];
    const char *kind = NULL;
    int console = f->console && crash_line(f->console, f->console_len, &kind,
                                           line, sizeof(line));

    memset(v, 0, sizeof(*v));
    /*
     * isa-debug-exit made QEMU exit with (value << 1) | 1, and unirun
     * with that >> 1: the low 7 bits. No write: QEMU's own end, 0.
     */
    v->status = f->have_value ? (int)(f->value & 0x7f) : 0;
    if (f->agent_state == USC_STATE_PANICKED) {
        snprintf(text, sizeof(text), "agent panic: %s",
                 f->panic_reason[0] ? f->panic_reason : "(no reason given)");
        set(v, 1, "agent-panic", text);
    } else if (f->guest_panicked || f->state == USC_VM_PANICKED) {
        snprintf(text, sizeof(text), "guest panic (pvpanic)%s%s",
                 console ? ": " : "", console ? line : "");
        set(v, 1, "guest-panic", text);
    } else if (f->state == USC_VM_ERROR) {
        set(v, 1, "internal-error", "QEMU stopped it on an internal error");
        v->status = 1; /* QEMU failed: unirun's own failure status */
    } else if (f->guest_reset) {
        set(v, 1, "triple-fault", "triple fault (the CPU reset itself)");
    } else if (f->agent_state == USC_STATE_HALTED) {
        snprintf(text, sizeof(text), "halted (exit status %d)", v->status);
        set(v, 0, "exit", text);
    } else if (console) {
        set(v, 1, kind, line);
    } else if (f->have_value) {
        snprintf(text, sizeof(text), "exit (status %d)", v->status);
        set(v, 0, "exit", text);
    } else {
        set(v, 0, "power-off", "powered off");
    }
}
