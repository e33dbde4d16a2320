/* unicore analyze: what the report adds up to, in a few sentences. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analyze.h"

#define RECURSION_MIN 8     /* a function this many times in a row */
#define HANG_SECONDS 1.0    /* a running thread that has not yielded since */
#define OVERFLOW_BELOW 8192 /* cr2 this close below the stack pointer */

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s ? s : "";
}

static uint64_t hexval(const json_t *o, const char *key)
{
    return strtoull(str(o, key), NULL, 16);
}

/* "crash_level3 (scenarios.c:96)" for frame (f), into (buf). */
static const char *frame_text(const json_t *f, char *buf, size_t cap)
{
    const char *fn = str(f, "function"), *file = str(f, "file");
    const char *base = strrchr(file, '/');
    json_int_t line = json_integer_value(json_object_get(f, "line"));

    base = base ? base + 1 : file;
    if (!fn[0])
        snprintf(buf, cap, "%s", str(f, "pc"));
    else if (base[0])
        snprintf(buf, cap, "%s (%s:%lld)", fn, base, (long long)line);
    else
        snprintf(buf, cap, "%s", fn);
    return buf;
}

static void say(json_t *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void say(json_t *d, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_array_append_new(d, an_str(buf));
}

/* The longest run of one function in (bt): its first frame, its length. */
static size_t longest_run(const json_t *bt, size_t *at)
{
    size_t best = 0, run = 0;

    for (size_t i = 0; i < json_array_size(bt); i++) {
        const char *fn = str(json_array_get(bt, i), "function");
        const char *prev = i ? str(json_array_get(bt, i - 1), "function") : "";
        run = fn[0] && !strcmp(fn, prev) ? run + 1 : 1;
        if (fn[0] && run > best) {
            best = run;
            *at = i + 1 - run;
        }
    }
    return best;
}

/* The frame a vCPU's backtrace was interrupted in, past any handler. */
static const json_t *interrupted_frame(const json_t *bt)
{
    const json_t *f = json_array_get(bt, 0);

    for (size_t i = 1; i < json_array_size(bt); i++)
        if (json_is_true(json_object_get(json_array_get(bt, i), "interrupted")))
            f = json_array_get(bt, i);
    return f;
}

static void diagnose_panic(json_t *d, const json_t *p)
{
    const json_t *at = json_object_get(p, "at");
    const json_t *bt = json_object_get(p, "backtrace");
    const json_t *regs = json_object_get(p, "registers");
    const char *thread = str(p, "thread");
    char f[256];
    size_t run_at = 0, run = bt ? longest_run(bt, &run_at) : 0;

    say(d, "the guest panicked%s%s on vCPU %lld: %s",
        thread[0] ? " in thread " : "", thread,
        (long long)json_integer_value(json_object_get(p, "vcpu")),
        str(p, "reason"));
    if (at && json_is_integer(json_object_get(p, "vector"))) {
        say(d, "%s at %s", str(p, "exception"), frame_text(at, f, sizeof(f)));
    } else if (at) {
        char caller[256] = "";
        size_t i = 0;
        /* "at" is frame 0, or frame 1 above usca_panic's halt loop */
        while (i + 1 < json_array_size(bt) &&
               strcmp(str(json_array_get(bt, i), "pc"), str(at, "pc")))
            i++;
        if (i + 1 < json_array_size(bt))
            frame_text(json_array_get(bt, i + 1), caller, sizeof(caller));
        say(d, "software panic raised in %s%s%s", frame_text(at, f, sizeof(f)),
            caller[0] ? ", called from " : "", caller);
    }
    if (json_object_get(p, "cr2")) {
        const char *sym = str(p, "cr2_symbol");
        uint64_t cr2 = hexval(p, "cr2"), rsp = regs ? hexval(regs, "rsp") : 0;
        say(d, "%s at address %s%s%s%s", str(p, "error"), str(p, "cr2"),
            sym[0] ? " (" : "", sym, sym[0] ? ")" : "");
        if (rsp && cr2 <= rsp + 64 && rsp - cr2 <= OVERFLOW_BELOW)
            say(d,
                "stack overflow: the fault address is at the stack "
                "pointer (rsp %s): the stack ran into the unmapped page "
                "below it",
                str(regs, "rsp"));
    }
    if (run >= RECURSION_MIN) {
        const json_t *last = json_array_get(bt, json_array_size(bt) - 1);
        say(d, "recursion: %s calls itself %zu times in a row%s",
            frame_text(json_array_get(bt, run_at), f, sizeof(f)), run,
            json_object_get(last, "truncated") ? " (backtrace cut)" : "");
    }
}

/* Does the wait object (w) look like a lock: by its type or its name? */
static int lockish(const json_t *w)
{
    static const char *const words[] = {"lock", "mutex", "sem"};
    char both[256];

    snprintf(both, sizeof(both), "%s %s", str(w, "type"), str(w, "symbol"));
    for (char *c = both; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(both, words[i]))
            return 1;
    return 0;
}

/* The thread of (threads) named (name) that waits on a lock, or NULL. */
static const json_t *lock_waiter(const json_t *threads, const char *name)
{
    const json_t *t;
    size_t i;

    json_array_foreach(threads, i, t)
    {
        const json_t *w = json_object_get(t, "waits_on");
        if (w && lockish(w) && !strcmp(str(t, "name"), name))
            return t;
    }
    return NULL;
}

/* "demo_lock_b", or the lock's address when no symbol covers it. */
static const char *lock_text(const json_t *w)
{
    return str(w, "symbol")[0] ? str(w, "symbol") : str(w, "addr");
}

/*
 * A cycle of lock waiters from (t): each waits on a lock the next one
 * holds, back to (t). Said as one sentence naming each thread, its vCPU
 * and the locks; returns 1 if there is one.
 */
static int diagnose_cycle(json_t *d, const json_t *threads, const json_t *t)
{
    const json_t *ring[8];
    size_t n = 0;
    int spinning = 1;

    for (const json_t *c = t; c && n < 8; n++) {
        const json_t *w = json_object_get(c, "waits_on");
        const char *holder = str(json_object_get(w, "held_by"), "name");
        ring[n] = c;
        spinning &= json_is_true(json_object_get(w, "spinning"));
        if (!holder[0])
            return 0;
        c = lock_waiter(threads, holder);
        if (c == t)
            break;
        for (size_t k = 0; k <= n; k++)
            if (c == ring[k])
                return 0; /* a cycle not through (t): its own turn */
        if (!c)
            return 0;
    }
    if (n < 1 || n >= 8)
        return 0;
    n++;
    char text[640];
    size_t len = (size_t)snprintf(
        text, sizeof(text), "deadlock%s: ", spinning ? " across vCPUs" : "");
    for (size_t k = 0; k < n && len < sizeof(text); k++) {
        const json_t *w = json_object_get(ring[k], "waits_on");
        const json_t *h = json_object_get(w, "held_by");
        len += (size_t)snprintf(
            text + len, sizeof(text) - len,
            "%sthread %s on vCPU %lld %s %s, held by %s on vCPU %lld",
            k ? "; " : "", str(ring[k], "name"),
            (long long)json_integer_value(json_object_get(ring[k], "vcpu")),
            json_is_true(json_object_get(w, "spinning")) ? "spins on"
                                                         : "is blocked on",
            lock_text(w), str(h, "name"),
            (long long)json_integer_value(json_object_get(h, "vcpu")));
    }
    say(d, "%s", text);
    return 1;
}

static void diagnose_waits(json_t *d, const json_t *threads)
{
    char list[384] = "";
    size_t nlock = 0, len = 0;
    int cycle = 0;
    const json_t *t;
    size_t i;

    json_array_foreach(threads, i, t)
    {
        const json_t *w = json_object_get(t, "waits_on");
        if (!w || !lockish(w))
            continue;
        const json_t *h = json_object_get(w, "held_by");
        char held[128] = "";
        if (h)
            snprintf(held, sizeof(held), ", held by %s", str(h, "name"));
        if (json_is_true(json_object_get(w, "spinning")))
            say(d, "thread %s spins on %s%s%s%s on vCPU %lld%s", str(t, "name"),
                lock_text(w), json_object_get(w, "type") ? " (" : "",
                str(w, "type"), json_object_get(w, "type") ? ")" : "",
                (long long)json_integer_value(json_object_get(t, "vcpu")),
                held);
        else
            say(d, "thread %s is blocked on %s%s%s%s%s", str(t, "name"),
                lock_text(w), json_object_get(w, "type") ? " (" : "",
                str(w, "type"), json_object_get(w, "type") ? ")" : "", held);
        len += (size_t)snprintf(list + len,
                                len < sizeof(list) ? sizeof(list) - len : 0,
                                "%s%s waits on %s", nlock ? ", " : "",
                                str(t, "name"), lock_text(w));
        if (len >= sizeof(list))
            len = sizeof(list) - 1;
        nlock++;
    }
    /* each cycle once: said from its first member in the table */
    json_array_foreach(threads, i, t)
    {
        const json_t *w = json_object_get(t, "waits_on");
        if (!w || !lockish(w) || cycle)
            continue;
        cycle = diagnose_cycle(d, threads, t);
    }
    if (nlock >= 2 && !cycle)
        say(d, "possible deadlock: %s", list);
}

static void diagnose_running(json_t *d, const json_t *r)
{
    const json_t *threads = json_object_get(r, "threads");
    const json_t *vcpus = json_object_get(r, "vcpus");
    const json_t *t, *v;
    char f[256];
    size_t i;

    json_array_foreach(vcpus, i, v)
    {
        const json_t *bt = json_object_get(v, "backtrace");
        const char *th = str(v, "thread");
        if (!json_array_size(bt))
            continue;
        say(d, "vCPU %lld%s%s%s was in %s",
            (long long)json_integer_value(json_object_get(v, "index")),
            th[0] ? " (thread " : "", th, th[0] ? ")" : "",
            frame_text(interrupted_frame(bt), f, sizeof(f)));
    }
    json_array_foreach(threads, i, t)
    {
        double since = json_real_value(json_object_get(t, "since_switch_s"));
        const json_t *bt = json_object_get(t, "backtrace");
        if (strcmp(str(t, "state"), "running") || since < HANG_SECONDS)
            continue;
        say(d, "hang: thread %s has run for %.1f s without yielding%s%s",
            str(t, "name"), since, json_array_size(bt) ? ", in " : "",
            json_array_size(bt)
                ? frame_text(interrupted_frame(bt), f, sizeof(f))
                : "");
    }
}

/* The unikernel's own crash report, as read from its console. */
static void diagnose_crash(json_t *d, const json_t *c)
{
    const json_t *at = json_object_get(c, "at");
    const json_t *w = json_object_get(c, "raised_at");
    const json_t *tf = json_object_get(c, "trap_frame");
    const json_t *af = json_object_get(c, "aborted_in");
    const char *who =
        str(c, "unikernel")[0] ? str(c, "unikernel") : "the unikernel";
    char f[256];

    if (str(c, "trap")[0]) {
        const char *exc = str(c, "exception");
        say(d, "%s reported a trap: %s%s%s%s%s%s%s%s", who,
            exc[0] ? exc : str(c, "trap"), exc[0] ? " (" : "",
            exc[0] ? str(c, "trap") : "", exc[0] ? ")" : "", at ? " at " : "",
            at ? frame_text(at, f, sizeof(f)) : "",
            str(c, "error")[0] ? ": " : "", str(c, "error"));
        if (str(c, "cr2")[0])
            say(d, "the fault address (cr2) is %s%s%s%s", str(c, "cr2"),
                str(c, "cr2_symbol")[0] ? " (" : "", str(c, "cr2_symbol"),
                str(c, "cr2_symbol")[0] ? ")" : "");
    } else if (at) {
        say(d, "%s crashed at %s", who, frame_text(at, f, sizeof(f)));
    }
    if (str(c, "cr2_at_dump")[0])
        say(d,
            "the report gives no fault address; the vCPU's cr2 (the last "
            "page fault's address) is %s%s%s%s",
            str(c, "cr2_at_dump"), str(c, "cr2_symbol")[0] ? " (" : "",
            str(c, "cr2_symbol"), str(c, "cr2_symbol")[0] ? ")" : "");
    if (tf)
        say(d,
            "the trap handler's frame on the stack (at %s) holds rip %s, "
            "rsp %s%s; unwound from there",
            str(tf, "addr"), str(tf, "rip"), str(tf, "rsp"),
            str(c, "rip")[0] ? ", as the report says"
                             : " (found by its shape: no report says so)");
    if (json_is_true(json_object_get(c, "rip_outside_image")))
        say(d,
            "the reported rip %s is in no function of the image: the "
            "report, or the image, is not to be trusted",
            str(at, "pc"));
    if (w) {
        char place[96] = "";
        if (str(w, "file")[0])
            snprintf(place, sizeof(place), " at %s:%lld", str(w, "file"),
                     (long long)json_integer_value(json_object_get(w, "line")));
        if (str(c, "trap")[0] || at)
            say(d, "its crash handler gave up%s: %s", place, str(w, "message"));
        else
            say(d, "%s %s%s: %s", who,
                json_is_true(json_object_get(w, "aborted")) ? "aborted"
                                                            : "crashed",
                place, str(w, "message"));
    }
    if (af)
        say(d, "%s was called from %s", str(af, "calls"),
            frame_text(af, f, sizeof(f)));
    if (json_object_get(c, "exit_status"))
        say(d, "%s exited with status %lld", who,
            (long long)json_integer_value(json_object_get(c, "exit_status")));
    if (json_integer_value(json_object_get(c, "garbled_lines")))
        say(d,
            "the console has %lld line(s) that look like a crash report "
            "but do not parse: garbage, not believed",
            (long long)json_integer_value(json_object_get(c, "garbled_lines")));
}

void an_section_diagnosis(struct an *a, json_t *r)
{
    json_t *d = json_array();
    const json_t *panic = json_object_get(r, "panic");

    if (!a->agent && json_object_get(r, "crash_report"))
        say(d, "no uniscope agent found in the core: its registers, memory "
               "and the unikernel's own crash report only");
    else if (!a->agent)
        say(d, "no uniscope agent found in the core: registers and memory "
               "only");
    if (a->have_note && (a->note.flags & USC_NOTE_RAM_ONLY))
        say(d, "dumped from guest RAM alone (the hypervisor had exited, "
               "could not be reached, or was a VMM process given without "
               "its gdb stub): no vCPU registers");
    if (json_object_get(r, "crash_report"))
        diagnose_crash(d, json_object_get(r, "crash_report"));
    if (panic)
        diagnose_panic(d, panic);
    else if (a->have_status && a->st.state == USC_STATE_HALTED)
        say(d, "the guest had halted in an orderly way");
    else if (a->agent)
        diagnose_running(d, r);
    diagnose_waits(d, json_object_get(r, "threads"));
    if (json_array_size(json_object_get(r, "threads_refused")))
        say(d,
            "%zu thread slot(s) of the agent refused as corrupt (a state or "
            "vCPU out of range, or a name without its end): left out, the "
            "other threads shown",
            json_array_size(json_object_get(r, "threads_refused")));
    if (!a->uw || !a->image[0])
        say(d, "no image with symbols: give --image ELF for function names");
    json_object_set_new(r, "diagnosis", d);
}
