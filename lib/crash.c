/* What a guest's stop means: a crash whose core is kept, or an orderly end,
 * and the exit status a script gets. */
#include "crash.h"

#include <stdio.h>
#include <string.h>
#include <uniscope/abi.h>

#include "sanitize.h"

/* Lines of the unikernels' own crash reports (their console). */
static const struct {
    const char *prefix;
    const char *kind;
} markers[] = {
    /* Solo5 (bindings/cpu_x86_64.c, abort.c, exit.c, crt.c) */
    {"Solo5: trap:", "trap"},
    {"Solo5: ABORT:", "abort"},
    {"Solo5: solo5_abort() called", "abort"},
    /* Unikraft (uk_pr_crit, UK_CRASH) */
    {"CRIT:", "crash"},
};
#define NMARKERS (sizeof(markers) / sizeof(markers[0]))

/*
 * The first line of the last crash report in (text, len): the earliest
 * marked line of the last run of them, so that Solo5's "trap:" line
 * names the fault rather than the "ABORT:" that follows. Its kind into
 * (*kind), the line, sanitized, into (out). 1 when there was one.
 */
static int crash_line(const char *text, size_t len, const char **kind,
                      char *out, size_t cap)
{
    const char *line = text, *end = text + len, *found = NULL;
    size_t found_len = 0;
    int in_run = 0;

    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
        size_t m;

        /* A log prefix such as Unikraft's "[    0.1] " may come first. */
        const char *at = line;
        if (n && *at == '[') {
            const char *close = memchr(at, ']', n);
            if (close && close + 2 <= line + n)
                at = close + 2;
        }
        for (m = 0; m < NMARKERS; m++) {
            size_t p = strlen(markers[m].prefix);
            if ((size_t)(line + n - at) >= p &&
                memcmp(at, markers[m].prefix, p) == 0)
                break;
        }
        if (m < NMARKERS && !in_run) {
            found = line;
            found_len = n;
            *kind = markers[m].kind;
        }
        in_run = m < NMARKERS;
        line += n + (nl ? 1 : 0);
    }
    if (!found)
        return 0;
    if (found_len && found[found_len - 1] == '\r')
        found_len--;
    usc_sanitize_text(out, cap, found, found_len);
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
