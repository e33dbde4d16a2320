/* Reading Solo5's and Unikraft's crash reports out of console text. */
#include "crashlog.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define LINE_MAX_TAKEN 512 /* bytes of one line looked at */

/* Solo5's trap names, by vector (bindings/cpu_x86_64.c prints these). */
static const char *const solo5_traps[32] = {
    "#DE", "#DB", "#NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
    "#DF", "#9",  "#TS",  "#NP", "#SS", "#GP", "#PF", "#15",
    "#MF", "#AC", "#MC",  "#XM", "#VE", "#21", "#22", "#23",
    "#24", "#25", "#26",  "#27", "#28", "#29", "#30", "#31"};

int usc_crashlog_vector(const char *trap)
{
    for (int v = 0; v < 32; v++)
        if (!strcmp(trap, solo5_traps[v]))
            return v;
    return -1;
}

/* ---- reading numbers and words --------------------------------------------
 */

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

static int hex_value(char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* A hexadecimal number at (*p), "0x" optional, at most 16 digits. */
static int hex_u64(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    int digits = 0;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2;
    while (is_hex(*s)) {
        if (++digits > 16)
            return -1;
        v = v << 4 | (uint64_t)hex_value(*s++);
    }
    if (!digits)
        return -1;
    *out = v;
    *p = s;
    return 0;
}

/* A decimal number at (*p), at most (max). */
static int dec_int(const char **p, int max, int *out)
{
    const char *s = *p;
    long v = 0;

    if (*s == '-')
        return -1;
    if (*s < '0' || *s > '9')
        return -1;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s++ - '0');
        if (v > max)
            return -1;
    }
    *out = (int)v;
    *p = s;
    return 0;
}

/* Does (*p) start with (lit)? Then step past it. */
static int take(const char **p, const char *lit)
{
    size_t n = strlen(lit);

    if (strncmp(*p, lit, n))
        return 0;
    *p += n;
    return 1;
}

static const char *spaces(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Copy (s, n bytes) into (dst) of (cap), cut, without trailing spaces. */
static void copy_text(char *dst, size_t cap, const char *s, size_t n)
{
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* A source file name as crash reports print it. */
static int file_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' ||
           c == '/' || c == '+';
}

/* An address a CPU can push: canonical (48-bit). */
static int canonical(uint64_t a)
{
    uint64_t top = a >> 47;

    return top == 0 || top == 0x1ffff;
}

/* ---- Solo5 ------------------------------------------------------------------
 */

/* "type=#PF ec=0x2 rip=0x105fe2 rsp=0x3fdffa0 rflags=0x206" */
static int solo5_trap(const char *p, struct usc_crashlog *c)
{
    struct usc_crashlog t = *c;
    uint32_t have = 0;

    while (*(p = spaces(p))) {
        uint64_t v;
        if (take(&p, "type=")) {
            const char *s = p;
            while (*p && *p != ' ')
                p++;
            if (s[0] != '#' || p - s >= USC_CRASH_TRAP_MAX)
                return -1;
            copy_text(t.trap, sizeof(t.trap), s, (size_t)(p - s));
            t.vector = usc_crashlog_vector(t.trap);
            have |= USC_CRASH_HAVE_TRAP;
            continue;
        }
        uint32_t bit = take(&p, "ec=")       ? USC_CRASH_HAVE_EC
                       : take(&p, "rip=")    ? USC_CRASH_HAVE_RIP
                       : take(&p, "rsp=")    ? USC_CRASH_HAVE_RSP
                       : take(&p, "rflags=") ? USC_CRASH_HAVE_RFLAGS
                                             : 0;
        if (!bit || (have & bit) || hex_u64(&p, &v) || (*p && *p != ' '))
            return -1;
        if (bit == USC_CRASH_HAVE_EC)
            t.error_code = v;
        else if (bit == USC_CRASH_HAVE_RIP)
            t.regs.rip = v;
        else if (bit == USC_CRASH_HAVE_RSP)
            t.regs.rsp = v;
        else
            t.regs.rflags = v;
        have |= bit;
    }
    if (!(have & USC_CRASH_HAVE_TRAP) || !(have & USC_CRASH_HAVE_RIP) ||
        !canonical(t.regs.rip) || !canonical(t.regs.rsp))
        return -1;
    if (c->have & USC_CRASH_HAVE_RIP) {
        c->later_traps++; /* a fault while handling the first */
        return 0;
    }
    t.have |= have;
    *c = t;
    return 0;
}

/* "cpu_x86_64.c:182: Fatal trap" */
static int solo5_abort_at(const char *p, struct usc_crashlog *c)
{
    const char *f = p;
    int line;

    while (file_char(*p))
        p++;
    if (p == f || p - f >= USC_CRASH_FILE_MAX || *p++ != ':' ||
        dec_int(&p, 1 << 24, &line) || *p++ != ':')
        return -1;
    if (!(c->have & USC_CRASH_HAVE_WHERE)) {
        copy_text(c->file, sizeof(c->file), f, (size_t)(strchr(f, ':') - f));
        c->line = line;
        p = spaces(p);
        copy_text(c->message, sizeof(c->message), p, strlen(p));
        c->have |= USC_CRASH_HAVE_WHERE | USC_CRASH_HAVE_ABORT;
    }
    return 0;
}

/* A line after "Solo5: ". Returns 1 taken, 0 not a crash line, -1 garbled. */
static int solo5_line(const char *p, struct usc_crashlog *c)
{
    int status;

    if (take(&p, "trap: ")) {
        uint64_t v;
        if (take(&p, "cr2=")) {
            if (hex_u64(&p, &v) || *spaces(p))
                return -1;
            if (!(c->have & USC_CRASH_HAVE_CR2) && !c->later_traps) {
                c->cr2 = v;
                c->have |= USC_CRASH_HAVE_CR2;
            }
            return 1;
        }
        return solo5_trap(p, c) ? -1 : 1;
    }
    if (take(&p, "ABORT: "))
        return solo5_abort_at(p, c) ? -1 : 1;
    if (take(&p, "solo5_abort() called")) {
        if (!(c->have & (USC_CRASH_HAVE_ABORT | USC_CRASH_HAVE_RIP)))
            snprintf(c->message, sizeof(c->message), "solo5_abort() called");
        c->have |= USC_CRASH_HAVE_ABORT;
        return 1;
    }
    if (take(&p, "solo5_exit(")) {
        if (dec_int(&p, 1 << 30, &status) || !take(&p, ") called"))
            return -1;
        c->exit_status = status;
        c->have |= USC_CRASH_HAVE_EXIT;
        return 1;
    }
    return 0;
}

/* ---- Unikraft ---------------------------------------------------------------
 */

/* Unikraft's register dump: "RAX: X RBX: X RCX: X" and the like. */
static const struct {
    const char *name;
    size_t off;
} gprs[] = {
    {"RAX", offsetof(struct usc_regs, rax)},
    {"RBX", offsetof(struct usc_regs, rbx)},
    {"RCX", offsetof(struct usc_regs, rcx)},
    {"RDX", offsetof(struct usc_regs, rdx)},
    {"RSI", offsetof(struct usc_regs, rsi)},
    {"RDI", offsetof(struct usc_regs, rdi)},
    {"RBP", offsetof(struct usc_regs, rbp)},
    {"R08", offsetof(struct usc_regs, r8)},
    {"R09", offsetof(struct usc_regs, r9)},
    {"R10", offsetof(struct usc_regs, r10)},
    {"R11", offsetof(struct usc_regs, r11)},
    {"R12", offsetof(struct usc_regs, r12)},
    {"R13", offsetof(struct usc_regs, r13)},
    {"R14", offsetof(struct usc_regs, r14)},
    {"R15", offsetof(struct usc_regs, r15)},
};
#define NGPRS (sizeof(gprs) / sizeof(gprs[0]))

struct uk_state {
    uint32_t gprs_seen; /* a bit per gprs[] entry */
    int dumped;         /* the first register dump is complete */
};

/* "RAX: X RBX: X RCX: X": (p) at its first name. */
static int uk_gprs(const char *p, struct usc_crashlog *c, struct uk_state *u)
{
    struct usc_regs r = c->regs;
    uint32_t seen = 0;

    while (*(p = spaces(p))) {
        size_t i;
        uint64_t v;
        for (i = 0; i < NGPRS; i++)
            if (!strncmp(p, gprs[i].name, 3) && p[3] == ':')
                break;
        if (i == NGPRS || (seen & (1u << i)))
            return -1;
        p = spaces(p + 4);
        if (hex_u64(&p, &v) || (*p && *p != ' '))
            return -1;
        memcpy((char *)&r + gprs[i].off, &v, sizeof(v));
        seen |= 1u << i;
    }
    if (u->dumped)
        return 0; /* a second dump: the first is the fault's */
    c->regs = r;
    u->gprs_seen |= seen;
    if (u->gprs_seen == (1u << NGPRS) - 1) {
        c->have |= USC_CRASH_HAVE_GPRS;
        u->dumped = 1;
    }
    return 0;
}

/* "Unhandled Trap 13 (general protection), error code=0x0" */
static int uk_trap(const char *p, struct usc_crashlog *c)
{
    const char *name, *end;
    uint64_t ec;
    int vector;

    if (dec_int(&p, 255, &vector) || !take(&p, " ("))
        return -1;
    name = p;
    while (*p && *p != ')')
        p++;
    end = p;
    if (*p != ')' || p == name || p - name >= USC_CRASH_TRAP_MAX ||
        !take(&p, "), error code=") || hex_u64(&p, &ec) || *spaces(p))
        return -1;
    if (c->have & USC_CRASH_HAVE_TRAP) {
        c->later_traps++;
        return 0;
    }
    copy_text(c->trap, sizeof(c->trap), name, (size_t)(end - name));
    c->vector = vector < 32 ? vector : -1;
    c->error_code = ec;
    c->have |= USC_CRASH_HAVE_TRAP | USC_CRASH_HAVE_EC;
    return 0;
}

/* A hex dump line of Unikraft's ("10f60: 80 0f 01 ..."), or an empty one. */
static int uk_hexdump(const char *p)
{
    uint64_t a;

    if (!*spaces(p))
        return 1;
    if (hex_u64(&p, &a) || *p++ != ':')
        return 0;
    while (*p == ' ' && is_hex(p[1]) && is_hex(p[2]))
        p += 3;
    return !*spaces(p);
}

/*
 * The message of a Unikraft CRIT line (p), raised at (file, line) (file
 * "" when not printed). Returns 1 taken, -1 garbled.
 */
static int uk_message(const char *p, const char *file, int line,
                      struct usc_crashlog *c, struct uk_state *u)
{
    uint64_t v, w;
    const char *q = p;

    if (take(&q, "Unhandled Trap "))
        return uk_trap(q, c) ? -1 : 1;
    if (take(&q, "Cannot handle ")) {
        while (*q >= 'a' && *q <= 'z')
            q++;
        if (!take(&q, " page fault at ") || hex_u64(&q, &v))
            return -1;
        if (!(c->have & USC_CRASH_HAVE_CR2)) {
            c->cr2 = v;
            c->have |= USC_CRASH_HAVE_CR2;
        }
        if (!(c->have & USC_CRASH_HAVE_TRAP)) {
            snprintf(c->trap, sizeof(c->trap), "page fault");
            c->vector = 14;
            c->have |= USC_CRASH_HAVE_TRAP;
        }
        return 1;
    }
    if (take(&q, "RIP: ")) {
        if (hex_u64(&q, &v) || !take(&q, " CS: ") || hex_u64(&q, &w) ||
            *spaces(q) || !canonical(v) || w > 0xffff)
            return -1;
        if (!(c->have & USC_CRASH_HAVE_RIP)) {
            c->regs.rip = v;
            c->regs.cs = w;
            c->have |= USC_CRASH_HAVE_RIP;
        }
        return 1;
    }
    if (take(&q, "RSP: ")) {
        uint64_t ss, fl;
        if (hex_u64(&q, &v) || !take(&q, " SS: ") || hex_u64(&q, &ss) ||
            !take(&q, " EFLAGS: ") || hex_u64(&q, &fl) || *spaces(q) ||
            !canonical(v) || ss > 0xffff)
            return -1;
        if (!(c->have & USC_CRASH_HAVE_RSP)) {
            c->regs.rsp = v;
            c->regs.ss = ss;
            c->regs.rflags = fl;
            c->have |=
                USC_CRASH_HAVE_RSP | USC_CRASH_HAVE_RFLAGS |
                ((c->have & USC_CRASH_HAVE_RIP) ? USC_CRASH_HAVE_SEGS : 0);
        }
        return 1;
    }
    for (size_t i = 0; i < NGPRS; i++)
        if (!strncmp(p, gprs[i].name, 3) && p[3] == ':')
            return uk_gprs(p, c, u) ? -1 : 1;
    if (take(&q, "base is ")) {
        if (hex_u64(&q, &v) || !take(&q, " caller is ") || hex_u64(&q, &w) ||
            *spaces(q))
            return -1;
        if (w && c->ncallers < USC_CRASH_CALLERS_MAX)
            c->callers[c->ncallers++] = w;
        return 1;
    }
    if (uk_hexdump(p))
        return 1;
    /* "Assertion failure: x", "Crashing", any message UK_CRASH raised:
     * the last one with a place is where it died. */
    if (take(&q, "Assertion failure: "))
        c->have |= USC_CRASH_HAVE_ABORT;
    copy_text(c->message, sizeof(c->message), p, strlen(p));
    if (file[0]) {
        snprintf(c->file, sizeof(c->file), "%s", file);
        c->line = line;
        c->have |= USC_CRASH_HAVE_WHERE;
    }
    return 1;
}

/*
 * A Unikraft console line: "[    0.103019] CRIT: [libkvmplat] <trace.c @
 * 41> RIP: ...". Returns 1 taken, 0 not a crash line, -1 garbled.
 */
static int unikraft_line(const char *p, struct usc_crashlog *c,
                         struct uk_state *u)
{
    char file[USC_CRASH_FILE_MAX] = "";
    int line = 0;

    p = spaces(p);
    if (*p == '[') { /* the time */
        p++;
        while (*p == ' ' || *p == '.' || (*p >= '0' && *p <= '9'))
            p++;
        if (*p++ != ']')
            return 0;
        p = spaces(p);
    }
    if (!take(&p, "CRIT:"))
        return 0;
    p = spaces(p);
    if (*p == '[') { /* the library */
        const char *e = strchr(p, ']');
        if (!e || e - p > 64)
            return -1;
        p = spaces(e + 1);
    }
    if (*p == '<') { /* where it was printed from */
        const char *f = ++p;
        while (file_char(*p))
            p++;
        if (p == f || p - f >= (long)sizeof(file) || !take(&p, " @ "))
            return -1;
        copy_text(file, sizeof(file), f, (size_t)(p - 3 - f));
        p = spaces(p);
        if (dec_int(&p, 1 << 24, &line) || !take(&p, ">"))
            return -1;
        p = spaces(p);
    }
    return uk_message(p, file, line, c, u);
}

/* ---- lines
 * -------------------------------------------------------------------- */

/* (s, n) as a C string in (out), ANSI escapes and control bytes dropped. */
static void clean_line(const char *s, size_t n, char *out)
{
    size_t o = 0;

    if (n > LINE_MAX_TAKEN)
        n = LINE_MAX_TAKEN;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == 0x1b) { /* ESC [ parameters final-byte */
            if (i + 1 < n && s[i + 1] == '[') {
                i += 2;
                while (i < n && (s[i] < 0x40 || s[i] > 0x7e))
                    i++;
            }
            continue;
        }
        if (ch == '\t')
            out[o++] = ' ';
        else if (ch >= ' ' && ch != 0x7f)
            out[o++] = (char)ch;
    }
    out[o] = '\0';
}

int usc_crashlog_parse(const char *text, size_t len, struct usc_crashlog *out)
{
    char line[LINE_MAX_TAKEN + 1];
    struct uk_state uk = {0};
    size_t pos = 0;

    if (!out || (!text && len))
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->vector = -1;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        const char *p;
        int r;
        enum usc_crash_kind kind = USC_CRASH_SOLO5;

        clean_line(text + pos, n, line);
        p = spaces(line);
        if (take(&p, "Solo5: ")) {
            r = solo5_line(p, out);
        } else {
            kind = USC_CRASH_UNIKRAFT;
            r = unikraft_line(p, out, &uk);
        }
        if (r < 0)
            out->garbled++;
        if (r > 0) {
            if (!out->lines)
                out->start = pos;
            if (out->kind == USC_CRASH_NONE &&
                !(kind == USC_CRASH_SOLO5 && out->have == USC_CRASH_HAVE_EXIT))
                out->kind = kind;
            out->lines++;
        }
        pos += n + (nl ? 1 : 0);
    }
    return out->lines || out->garbled ? 0 : -ENOENT;
}
