/* unicore analyze: the unikernel's own crash report, from the console the
 * core carries, checked against the trap frame on the stack. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"
#include "crashlog.h"

#define FRAME_SEARCH_BYTES (16u << 10) /* of stack above the vCPU's rsp */
#define PAGE 4096u

/* ---- the console note ------------------------------------------------------
 */

void an_read_console(struct an *a)
{
    a->console = malloc(USC_NOTE_CONSOLE_MAX);
    if (!a->console ||
        usc_note_read_console(a->core, a->console, USC_NOTE_CONSOLE_MAX,
                              &a->console_len) != 0) {
        free(a->console);
        a->console = NULL;
        a->console_len = 0;
    }
}

/* ---- the crash report ------------------------------------------------------
 */

static void set(json_t *obj, const char *key, json_t *v)
{
    if (v)
        json_object_set_new(obj, key, v);
}

static const char *const kind_names[] = {"", "Solo5", "Unikraft"};

/* Functions a unikernel aborts through: the frame above the last of them
 * is where it gave up. */
static const char *const abort_paths[] = {
    "solo5_abort",      "solo5_exit",   "_abort",
    "ukplat_terminate", "ukplat_crash", "ukplat_halt",
};

/* Trap handlers' names, for a trap frame searched for by its shape alone. */
static const char *const trap_words[] = {"trap", "exception", "fault"};

static int is_abort_path(const char *fn)
{
    for (size_t i = 0; i < sizeof(abort_paths) / sizeof(abort_paths[0]); i++)
        if (!strcmp(fn, abort_paths[i]))
            return 1;
    return 0;
}

static int canonical(uint64_t a)
{
    uint64_t top = a >> 47;

    return top == 0 || top == 0x1ffff;
}

/* The registers of the first vCPU (note order) that has them. */
static int first_vcpu(struct an *a, struct usc_regs *r, uint32_t *i)
{
    for (*i = 0; *i < a->nvcpus; (*i)++) {
        uint32_t index;
        if (an_vcpu_live(a, *i, r, &index) == 0 && r->rip)
            return 0;
    }
    return -ENODATA;
}

struct trap_frame {
    uint64_t addr; /* of its rip */
    uint64_t rip, cs, rflags, rsp, ss;
};

/* Does (q), five words, look like the frame a CPU pushes on a trap from
 * kernel code running with (cs)? */
static int frame_shape(const uint64_t *q, uint64_t cs)
{
    return canonical(q[0]) && q[0] && q[1] == cs && (q[2] & 2) &&
           !(q[2] >> 22) && canonical(q[3]) && q[4] <= 0xffff;
}

/*
 * Find the frame the CPU pushed on the trap, above (vcpu)'s stack pointer
 * (rsp): the words rip, cs, rflags, rsp, ss, with the report's rip, rsp and
 * rflags when it gave them, else (report NULL) by their shape, its rip in
 * a function of the image. Returns 0 with (*f) filled, or -ENOENT.
 */
static int find_trap_frame(struct an *a, uint32_t vcpu,
                           const struct usc_regs *cur,
                           const struct usc_crashlog *report,
                           struct trap_frame *f)
{
    static uint64_t w[FRAME_SEARCH_BYTES / 8 + 4];
    uint64_t base = cur->rsp & ~7ull;
    size_t n = 0;

    /* page by page, up to the first that cannot be read */
    while (n * 8 < FRAME_SEARCH_BYTES) {
        uint64_t at = base + n * 8;
        size_t chunk = PAGE - (at & (PAGE - 1));
        if (chunk > FRAME_SEARCH_BYTES - n * 8)
            chunk = FRAME_SEARCH_BYTES - n * 8;
        if (usc_target_read_virt(a->t, vcpu, at, &w[n], chunk) != 0)
            break;
        n += chunk / 8;
    }
    for (size_t i = 0; i + 5 <= n; i++) {
        const uint64_t *q = &w[i];
        if (report) {
            if (q[0] != report->regs.rip ||
                ((report->have & USC_CRASH_HAVE_RSP) &&
                 q[3] != report->regs.rsp) ||
                ((report->have & USC_CRASH_HAVE_RFLAGS) &&
                 q[2] != report->regs.rflags) ||
                !frame_shape(q, cur->cs))
                continue;
        } else {
            struct usc_frame sym;
            if (!frame_shape(q, cur->cs) || !a->uw ||
                usc_unwind_symbolize(a->uw, q[0], 1, &sym) != 0)
                continue;
        }
        *f = (struct trap_frame){base + i * 8, q[0], q[1], q[2], q[3], q[4]};
        return 0;
    }
    return -ENOENT;
}

/* Does the backtrace (f, n) pass through a trap handler? */
static int through_trap_handler(const struct usc_frame *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < sizeof(trap_words) / sizeof(trap_words[0]); k++)
            if (strstr(f[i].function, trap_words[k]))
                return 1;
    return 0;
}

/*
 * The registers at the trap, from the trap frame (f): rip, rsp, rflags,
 * cs, ss from it; rbx, rbp, r12-r15 as the unwinder recovered them in the
 * last frame of (bt, n) below the trap frame (the trap entry's, which saves
 * none of them). Returns the bits of struct usc_saved_regs known.
 */
static uint32_t regs_at_trap(const struct trap_frame *f,
                             const struct usc_frame *bt, size_t n,
                             struct usc_saved_regs *r)
{
    const struct usc_frame *entry = NULL;
    uint32_t known = USC_FRAME_RIP | USC_FRAME_RSP;

    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < n; i++)
        if ((bt[i].known & USC_FRAME_RSP) && bt[i].regs.rsp <= f->addr)
            entry = &bt[i];
    if (entry) {
        *r = entry->regs;
        known |= entry->known & ~(USC_FRAME_RIP | USC_FRAME_RSP);
    }
    r->rip = f->rip;
    r->rsp = f->rsp;
    return known;
}

/* The registers of (r) whose bits are in (known), and rflags. */
static json_t *saved_json(const struct usc_saved_regs *r, uint32_t known,
                          uint64_t rflags)
{
    static const char *const names[8] = {"rip", "rsp", "rbp", "rbx",
                                         "r12", "r13", "r14", "r15"};
    const uint64_t *v = (const uint64_t *)r;
    json_t *j = json_object();

    for (int i = 0; i < 8; i++)
        if (known & (1u << i))
            set(j, names[i], an_hex(v[i]));
    set(j, "rflags", an_hex(rflags));
    return j;
}

static json_t *frames_json(const struct usc_frame *f, size_t n, size_t cap)
{
    json_t *j = an_frames(f, n);

    if (n == cap)
        json_array_append_new(j, json_pack("{s:b}", "truncated", 1));
    return j;
}

/* The trap's part of the report: where it faulted, and from what. */
static void trap_part(struct an *a, const struct usc_crashlog *c, json_t *j,
                      uint32_t vcpu, const struct usc_regs *cur,
                      const struct usc_frame *bt, size_t nbt)
{
    struct usc_frame *f = calloc(AN_PANIC_FRAMES, sizeof(*f));
    struct usc_saved_regs sr;
    struct trap_frame tf = {0};
    size_t n = 0;
    uint32_t known;
    int have_tf = 0;

    if (!f)
        return;
    if (cur &&
        find_trap_frame(a, vcpu, cur, (c->have & USC_CRASH_HAVE_RIP) ? c : NULL,
                        &tf) == 0) {
        json_t *t = json_object();
        have_tf = 1;
        set(t, "addr", an_hex(tf.addr));
        set(t, "rip", an_hex(tf.rip));
        set(t, "rsp", an_hex(tf.rsp));
        set(t, "rflags", an_hex(tf.rflags));
        set(t, "cs", an_hex(tf.cs));
        set(t, "ss", an_hex(tf.ss));
        set(t, "found_by",
            json_string((c->have & USC_CRASH_HAVE_RIP)
                            ? "the report's rip and rsp on the stack"
                            : "its shape on the stack"));
        set(j, "trap_frame", t);
    }
    if ((c->have & USC_CRASH_HAVE_GPRS) && (c->have & USC_CRASH_HAVE_RSP)) {
        /* Unikraft printed every register: unwind from those. */
        static const char *const untold[] = {
            "ds",  "es",  "fs",  "gs",  "fs_base", "gs_base", "k_gs_base",
            "cr0", "cr2", "cr3", "cr4", "cr8",     "efer"};
        json_t *regs = an_regs(&c->regs);
        for (size_t i = 0; i < sizeof(untold) / sizeof(untold[0]); i++)
            json_object_del(regs, untold[i]);
        set(j, "registers", regs);
        set(j, "registers_from", json_string("the report's register dump"));
        if (a->uw)
            usc_unwind_regs(a->uw, vcpu, &c->regs, f, AN_PANIC_FRAMES, &n);
    } else if (have_tf) {
        known = regs_at_trap(&tf, bt, nbt, &sr);
        set(j, "registers", saved_json(&sr, known, tf.rflags));
        set(j, "registers_from",
            json_string("the trap frame on the stack, the callee-saved "
                        "registers as the handler kept them"));
        if (a->uw)
            usc_unwind_partial(a->uw, vcpu, &sr, known, f, AN_PANIC_FRAMES, &n);
    } else if ((c->have & USC_CRASH_HAVE_RIP) &&
               (c->have & USC_CRASH_HAVE_RSP)) {
        sr = (struct usc_saved_regs){.rip = c->regs.rip, .rsp = c->regs.rsp};
        set(j, "registers_from", json_string("the report's rip and rsp"));
        if (a->uw)
            usc_unwind_partial(a->uw, vcpu, &sr, USC_FRAME_RIP | USC_FRAME_RSP,
                               f, AN_PANIC_FRAMES, &n);
    }
    if (n) {
        set(j, "at", an_frame(&f[0]));
        set(j, "backtrace", frames_json(f, n, AN_PANIC_FRAMES));
    } else if ((c->have & USC_CRASH_HAVE_RIP) || have_tf) {
        struct usc_frame at;
        uint64_t pc = (c->have & USC_CRASH_HAVE_RIP) ? c->regs.rip : tf.rip;
        if (a->uw)
            usc_unwind_symbolize(a->uw, pc, 1, &at);
        else
            at = (struct usc_frame){.pc = pc, .activation = 1};
        set(j, "at", an_frame(&at));
    }
    if (a->uw && json_object_get(j, "at") &&
        !json_object_get(json_object_get(j, "at"), "function"))
        set(j, "rip_outside_image", json_true());
    free(f);
}

/* Where an abort without a trap was called: the frame above the last
 * abort function in the vCPU's backtrace (bt, n). */
static void abort_part(const struct usc_frame *bt, size_t n, json_t *j)
{
    size_t last = n;

    for (size_t i = 0; i < n; i++)
        if (bt[i].function[0] && is_abort_path(bt[i].function))
            last = i;
    if (last < n && last + 1 < n) {
        json_t *f = an_frame(&bt[last + 1]);
        set(f, "calls", json_string(bt[last].function));
        set(j, "aborted_in", f);
    }
}

/* Unikraft's own frame-pointer walk, symbolized. */
static void stack_walk(struct an *a, const struct usc_crashlog *c, json_t *j)
{
    json_t *arr;

    if (!c->ncallers)
        return;
    arr = json_array();
    for (unsigned i = 0; i < c->ncallers; i++) {
        struct usc_frame f = {.pc = c->callers[i]};
        if (a->uw)
            usc_unwind_symbolize(a->uw, c->callers[i], 0, &f);
        json_array_append_new(arr, an_frame(&f));
    }
    set(j, "stack_walk", arr);
}

void an_section_crash(struct an *a, json_t *r)
{
    struct usc_frame *bt = NULL;
    struct usc_crashlog c;
    struct usc_regs cur;
    uint32_t vcpu = 0;
    size_t nbt = 0;
    int have_cur;
    json_t *j;
    char buf[128];

    if (!a->console || usc_crashlog_parse(a->console, a->console_len, &c))
        return;
    j = json_object();
    if (c.kind != USC_CRASH_NONE)
        set(j, "unikernel", json_string(kind_names[c.kind]));
    set(j, "lines", json_integer(c.lines));
    if (c.garbled)
        set(j, "garbled_lines", json_integer(c.garbled));
    if (c.later_traps)
        set(j, "later_traps", json_integer(c.later_traps));
    if (c.have & USC_CRASH_HAVE_TRAP) {
        set(j, "trap", an_str(c.trap));
        if (c.vector >= 0) {
            set(j, "vector", json_integer(c.vector));
            if (an_vector_name((uint64_t)c.vector))
                set(j, "exception",
                    json_string(an_vector_name((uint64_t)c.vector)));
        }
    }
    if (c.have & USC_CRASH_HAVE_EC) {
        set(j, "error_code", an_hex(c.error_code));
        if (c.vector == 14) {
            an_pf_text(c.error_code, buf, sizeof(buf));
            set(j, "error", json_string(buf));
        }
    }
    if (c.have & USC_CRASH_HAVE_RIP)
        set(j, "rip", an_hex(c.regs.rip));
    if (c.have & USC_CRASH_HAVE_RSP)
        set(j, "rsp", an_hex(c.regs.rsp));
    if (c.have & USC_CRASH_HAVE_RFLAGS)
        set(j, "rflags", an_hex(c.regs.rflags));
    if (c.have & USC_CRASH_HAVE_CR2) {
        set(j, "cr2", an_hex(c.cr2));
        set(j, "cr2_symbol", an_where(a, c.cr2));
    }
    if (c.have & (USC_CRASH_HAVE_WHERE | USC_CRASH_HAVE_ABORT) ||
        c.message[0]) {
        json_t *w = json_object();
        if (c.have & USC_CRASH_HAVE_WHERE) {
            set(w, "file", an_str(c.file));
            set(w, "line", json_integer(c.line));
        }
        if (c.message[0])
            set(w, "message", an_str(c.message));
        set(w, "aborted", json_boolean(c.have & USC_CRASH_HAVE_ABORT));
        set(j, "raised_at", w);
    }
    if (c.have & USC_CRASH_HAVE_EXIT)
        set(j, "exit_status", json_integer(c.exit_status));

    have_cur = first_vcpu(a, &cur, &vcpu) == 0;
    if (have_cur && a->uw && (bt = calloc(AN_FRAMES, sizeof(*bt))))
        usc_unwind_regs(a->uw, vcpu, &cur, bt, AN_FRAMES, &nbt);
    /* A report without the fault address: the CPU keeps the last page
     * fault's in cr2. */
    if (have_cur && cur.cr2 && !(c.have & USC_CRASH_HAVE_CR2) &&
        (c.have & USC_CRASH_HAVE_RIP) && (c.vector == 14 || c.vector < 0)) {
        set(j, "cr2_at_dump", an_hex(cur.cr2));
        set(j, "cr2_symbol", an_where(a, cur.cr2));
    }
    if ((c.have & (USC_CRASH_HAVE_RIP | USC_CRASH_HAVE_TRAP)) ||
        (!c.lines && through_trap_handler(bt, nbt)))
        trap_part(a, &c, j, vcpu, have_cur ? &cur : NULL, bt, nbt);
    else if (c.have & USC_CRASH_HAVE_ABORT)
        abort_part(bt, nbt, j);
    stack_walk(a, &c, j);
    free(bt);
    set(r, "crash_report", j);
}
