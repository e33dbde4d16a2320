/* unicore analyze: the report, as text for a person. */
#include <stdio.h>
#include <string.h>

#include "unicore.h"

#define CONSOLE_LINES 20
#define RUN_FOLD 4 /* a run of one function this long is folded */

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s ? s : "";
}

static long long integer(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static double real(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static const char *base(const char *path)
{
    const char *s = strrchr(path, '/');

    return s ? s + 1 : path;
}

static void frame(size_t i, const json_t *f)
{
    const char *fn = str(f, "function"), *file = str(f, "file");

    printf("    #%-3zu %18s", i, str(f, "pc"));
    if (fn[0])
        printf(" %s+%lld", fn, integer(f, "offset"));
    if (file[0])
        printf(" at %s:%lld", base(file), integer(f, "line"));
    putchar('\n');
}

static int same_function(const json_t *a, const json_t *b)
{
    const char *x = str(a, "function"), *y = str(b, "function");

    return x[0] && !strcmp(x, y);
}

/* Frames of (bt), a long run of one function (a recursion) folded. */
static void backtrace(const json_t *bt)
{
    size_t n = json_array_size(bt);

    if (!n) {
        printf("    (no frames)\n");
        return;
    }
    for (size_t i = 0; i < n;) {
        const json_t *f = json_array_get(bt, i);
        size_t run = 1;

        if (json_object_get(f, "truncated")) {
            printf("    ... (more frames not unwound)\n");
            i++;
            continue;
        }
        while (i + run < n && same_function(f, json_array_get(bt, i + run)))
            run++;
        if (run < RUN_FOLD) {
            frame(i, f);
            i++;
            continue;
        }
        frame(i, f);
        frame(i + 1, json_array_get(bt, i + 1));
        printf("    ... %zu more frames of %s ...\n", run - 3,
               str(f, "function"));
        frame(i + run - 1, json_array_get(bt, i + run - 1));
        i += run;
    }
}

static void registers(const json_t *regs, const char *indent)
{
    static const char *const order[] = {
        "rax",     "rbx", "rcx", "rdx",    "rsi", "rdi", "rbp",
        "rsp",     "r8",  "r9",  "r10",    "r11", "r12", "r13",
        "r14",     "r15", "rip", "rflags", "cs",  "ss",  "fs_base",
        "gs_base", "cr0", "cr2", "cr3",    "cr4", "cr8", "efer",
    };

    size_t k = 0;

    /* three a line, of those the set has */
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        const json_t *v = json_object_get(regs, order[i]);
        if (!v)
            continue;
        if (k % 3 == 0)
            printf("%s", indent);
        printf("%-7s %-18s%s", order[i], json_string_value(v),
               k % 3 == 2 ? "\n" : " ");
        k++;
    }
    if (k % 3)
        putchar('\n');
}

static void header(const json_t *r)
{
    const json_t *g = json_object_get(r, "guest");
    const json_t *im = json_object_get(r, "image"), *s;
    size_t i;

    printf("core       %s (%s core)\n", str(r, "core"), str(r, "format"));
    printf("guest      %s", str(g, "name"));
    if (str(g, "hypervisor")[0])
        printf(", under %s", str(g, "hypervisor"));
    printf(", %lld vCPU%s, %lld MiB", integer(g, "vcpus"),
           integer(g, "vcpus") == 1 ? "" : "s",
           integer(g, "memory_bytes") >> 20);
    if (str(g, "build_id")[0])
        printf(", build-id %s", str(g, "build_id"));
    putchar('\n');
    if (str(im, "path")[0])
        printf("image      %s (%s)\n", str(im, "path"), str(im, "found"));
    else
        printf("image      %s\n", str(im, "error"));
    json_array_foreach(json_object_get(im, "passed_over"), i, s) printf(
        "           passed over %s: %s\n", str(s, "path"), str(s, "why"));
    if (json_is_true(json_object_get(g, "live")))
        printf("dumped     %s, guest running (--live)\n", str(g, "dumped_at"));
    else if (str(g, "dumped_at")[0])
        printf("dumped     %s, guest paused %.1f ms\n", str(g, "dumped_at"),
               real(g, "paused_ms"));
    if (json_object_get(g, "uptime_s"))
        printf("uptime     %.2f s\n", real(g, "uptime_s"));
    printf("state      %s\n", str(r, "state"));
}

static void diagnosis(const json_t *r)
{
    const json_t *d = json_object_get(r, "diagnosis"), *s;
    size_t i;

    if (!json_array_size(d))
        return;
    printf("\ndiagnosis\n");
    json_array_foreach(d, i, s) printf("  * %s\n", json_string_value(s));
}

static void panic(const json_t *r)
{
    const json_t *p = json_object_get(r, "panic");

    if (!p)
        return;
    printf("\npanic\n  reason     %s\n", str(p, "reason"));
    if (json_is_integer(json_object_get(p, "vector")))
        printf("  vector     %lld (%s), error code %s%s%s\n",
               integer(p, "vector"), str(p, "exception"), str(p, "error_code"),
               str(p, "error")[0] ? ": " : "", str(p, "error"));
    else
        printf("  vector     %s\n", str(p, "vector"));
    if (str(p, "cr2")[0])
        printf("  cr2        %s%s%s%s\n", str(p, "cr2"),
               str(p, "cr2_symbol")[0] ? " (" : "", str(p, "cr2_symbol"),
               str(p, "cr2_symbol")[0] ? ")" : "");
    printf("  where      vCPU %lld", integer(p, "vcpu"));
    if (str(p, "thread")[0])
        printf(", thread %s (id %lld)", str(p, "thread"),
               integer(p, "thread_id"));
    if (json_object_get(p, "uptime_s"))
        printf(", %.2f s after boot", real(p, "uptime_s"));
    putchar('\n');
    if (json_object_get(p, "at")) {
        const json_t *at = json_object_get(p, "at");
        printf("  at         %s",
               str(at, "function")[0] ? str(at, "function") : str(at, "pc"));
        if (str(at, "file")[0])
            printf(" (%s:%lld)", base(str(at, "file")), integer(at, "line"));
        putchar('\n');
    }
    if (json_object_get(p, "registers")) {
        if (str(p, "registers_from")[0])
            printf("  registers of %s\n", str(p, "registers_from"));
        else
            printf("  registers at the fault\n");
        registers(json_object_get(p, "registers"), "    ");
    }
    if (json_object_get(p, "backtrace")) {
        printf("  backtrace\n");
        backtrace(json_object_get(p, "backtrace"));
    }
}

static void crash_report(const json_t *r)
{
    const json_t *c = json_object_get(r, "crash_report");
    const json_t *w = json_object_get(c, "raised_at");
    const json_t *tf = json_object_get(c, "trap_frame");
    const json_t *at = json_object_get(c, "at");
    const json_t *af = json_object_get(c, "aborted_in");

    if (!c)
        return;
    printf("\ncrash report (%s, read from its console: %lld line%s",
           str(c, "unikernel")[0] ? str(c, "unikernel") : "unknown",
           integer(c, "lines"), integer(c, "lines") == 1 ? "" : "s");
    if (integer(c, "garbled_lines"))
        printf(", %lld garbled", integer(c, "garbled_lines"));
    printf(")\n");
    if (str(c, "trap")[0]) {
        printf("  trap       %s", str(c, "trap"));
        if (str(c, "exception")[0] &&
            strcmp(str(c, "exception"), str(c, "trap")))
            printf(" (%s)", str(c, "exception"));
        if (str(c, "error_code")[0])
            printf(", error code %s%s%s", str(c, "error_code"),
                   str(c, "error")[0] ? ": " : "", str(c, "error"));
        putchar('\n');
    }
    if (str(c, "cr2")[0])
        printf("  cr2        %s%s%s%s\n", str(c, "cr2"),
               str(c, "cr2_symbol")[0] ? " (" : "", str(c, "cr2_symbol"),
               str(c, "cr2_symbol")[0] ? ")" : "");
    if (str(c, "cr2_at_dump")[0])
        printf("  cr2        %s at the dump (not in the report)\n",
               str(c, "cr2_at_dump"));
    if (str(c, "rip")[0])
        printf("  reported   rip %s%s%s%s%s\n", str(c, "rip"),
               str(c, "rsp")[0] ? ", rsp " : "", str(c, "rsp"),
               str(c, "rflags")[0] ? ", rflags " : "", str(c, "rflags"));
    if (w) {
        printf("  raised at  ");
        if (str(w, "file")[0])
            printf("%s:%lld: ", str(w, "file"), integer(w, "line"));
        printf("%s\n", str(w, "message"));
    }
    if (json_object_get(c, "exit_status"))
        printf("  exit       status %lld\n", integer(c, "exit_status"));
    if (at) {
        printf("  at         %s",
               str(at, "function")[0] ? str(at, "function") : str(at, "pc"));
        if (str(at, "file")[0])
            printf(" (%s:%lld)", base(str(at, "file")), integer(at, "line"));
        putchar('\n');
    }
    if (af) {
        printf("  aborted in %s", str(af, "function"));
        if (str(af, "file")[0])
            printf(" (%s:%lld)", base(str(af, "file")), integer(af, "line"));
        printf(", calling %s\n", str(af, "calls"));
    }
    if (tf)
        printf("  trap frame at %s on the stack: rip %s, rsp %s, rflags %s "
               "(found by %s)\n",
               str(tf, "addr"), str(tf, "rip"), str(tf, "rsp"),
               str(tf, "rflags"), str(tf, "found_by"));
    if (json_object_get(c, "registers")) {
        printf("  registers, from %s\n", str(c, "registers_from"));
        registers(json_object_get(c, "registers"), "    ");
    }
    if (json_object_get(c, "backtrace")) {
        printf("  backtrace\n");
        backtrace(json_object_get(c, "backtrace"));
    }
    if (json_object_get(c, "stack_walk")) {
        printf("  its own stack walk\n");
        backtrace(json_object_get(c, "stack_walk"));
    }
}

static void vcpus(const json_t *r)
{
    const json_t *v;
    size_t i;

    json_array_foreach(json_object_get(r, "vcpus"), i, v)
    {
        printf("\nvCPU %lld", integer(v, "index"));
        if (str(v, "thread")[0])
            printf(" (thread %s)", str(v, "thread"));
        printf(": registers at the dump%s\n",
               str(v, "note")[0] ? " (its NT_PRSTATUS holds the panic frame)"
                                 : "");
        if (json_is_null(json_object_get(v, "registers"))) {
            printf("    (not read)\n");
            continue;
        }
        registers(json_object_get(v, "registers"), "    ");
        if (json_object_get(v, "backtrace")) {
            printf("  backtrace\n");
            backtrace(json_object_get(v, "backtrace"));
        }
    }
}

static void threads(const json_t *r)
{
    const json_t *all = json_object_get(r, "threads"), *t;
    size_t i;

    if (!all)
        return;
    printf("\nthreads (%zu)\n", json_array_size(all));
    printf("  %-4s %-16s %-9s %-4s %9s %9s  %s\n", "ID", "NAME", "STATE",
           "VCPU", "CPU (s)", "SWITCHES", "WAITS ON");
    json_array_foreach(all, i, t)
    {
        const json_t *w = json_object_get(t, "waits_on");
        printf("  %-4lld %-16s %-9s %-4lld %9.3f %9lld  ", integer(t, "id"),
               str(t, "name"), str(t, "state"), integer(t, "vcpu"),
               real(t, "cpu_time_s"), integer(t, "switches"));
        if (w)
            printf("%s%s%s%s",
                   str(w, "symbol")[0] ? str(w, "symbol") : str(w, "addr"),
                   str(w, "type")[0] ? " (" : "", str(w, "type"),
                   str(w, "type")[0] ? ")" : "");
        putchar('\n');
    }
    json_array_foreach(all, i, t)
    {
        if (!json_object_get(t, "backtrace"))
            continue;
        printf("\n  thread %lld %s (%s), from %s", integer(t, "id"),
               str(t, "name"), str(t, "state"), str(t, "backtrace_from"));
        if (json_object_get(t, "core_lwp"))
            printf("; LWP %lld in gdb", integer(t, "core_lwp"));
        printf(":\n");
        backtrace(json_object_get(t, "backtrace"));
    }
}

static void console(const json_t *r)
{
    const json_t *c = json_object_get(r, "console");
    const char *tail = str(c, "tail"), *p;
    int lines = 0;

    if (!c)
        return;
    /* The last CONSOLE_LINES lines. */
    p = tail + strlen(tail);
    if (p > tail && p[-1] == '\n')
        p--;
    while (p > tail && lines < CONSOLE_LINES)
        if (*--p == '\n')
            lines++;
    if (*p == '\n')
        p++;
    if (!strcmp(str(c, "source"), "the core's console note"))
        printf("\nconsole (its last %lld bytes, from the core)\n",
               integer(c, "bytes_logged"));
    else
        printf("\nconsole (the end of %lld bytes logged)\n",
               integer(c, "bytes_logged"));
    while (*p) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        printf("  | %.*s\n", len, p);
        p += len + (nl ? 1 : 0);
    }
}

static void metrics(const json_t *r)
{
    const json_t *m;
    size_t i;

    if (!json_array_size(json_object_get(r, "metrics")))
        return;
    printf("\nmetrics at the dump\n");
    json_array_foreach(json_object_get(r, "metrics"), i, m)
        printf("  %-28s %-7s %20lld %s\n", str(m, "name"), str(m, "kind"),
               integer(m, "value"), str(m, "unit"));
}

static void trace(const json_t *r)
{
    const json_t *t = json_object_get(r, "trace"), *ev, *f, *v;
    const char *key;
    size_t i;

    if (!t)
        return;
    if (!json_array_size(json_object_get(t, "events"))) {
        printf("\ntrace: %s\n", str(t, "note"));
        return;
    }
    printf("\ntrace: the last events of each vCPU, ms from the %s\n",
           strcmp(str(t, "from"), "panic") ? "newest" : "panic");
    json_array_foreach(json_object_get(t, "events"), i, ev)
    {
        const json_t *tn = json_object_get(ev, "thread_name");
        printf("  vCPU %-2lld %+10.3f  %-16s %-20s", integer(ev, "vcpu"),
               json_real_value(json_object_get(ev, "t_s")) * 1e3,
               tn ? json_string_value(tn) : "-", str(ev, "name"));
        f = json_object_get(ev, "fields");
        json_object_foreach((json_t *)f, key, v)
        {
            if (json_is_string(v))
                printf(" %s=%s", key, json_string_value(v));
            else
                printf(" %s=%lld", key, (long long)json_integer_value(v));
        }
        putchar('\n');
    }
    if (integer(t, "lost"))
        printf("  (%lld events were lost by the rings)\n", integer(t, "lost"));
}

void unicore_report_text(const json_t *r)
{
    header(r);
    diagnosis(r);
    panic(r);
    crash_report(r);
    vcpus(r);
    threads(r);
    console(r);
    metrics(r);
    trace(r);
}
