/* unicore analyze: the panic, each vCPU and each agent thread, unwound. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"

static const char *const vector_names[32] = {
    "divide error",
    "debug",
    "NMI",
    "breakpoint",
    "overflow",
    "bound range exceeded",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor segment overrun",
    "invalid TSS",
    "segment not present",
    "stack-segment fault",
    "general protection fault",
    "page fault",
    "reserved",
    "x87 floating-point error",
    "alignment check",
    "machine check",
    "SIMD floating-point error",
    "virtualization exception",
    "control protection exception",
};

static const char *const thread_states[] = {"free", "runnable", "running",
                                            "blocked", "exited"};

static void set(json_t *obj, const char *key, json_t *v)
{
    if (v)
        json_object_set_new(obj, key, v);
}

static double seconds(const struct an *a, uint64_t ticks)
{
    uint64_t hz = a->agent ? usc_agent_header(a->agent)->ts_hz : 0;

    return hz ? (double)ticks / (double)hz : 0.0;
}

/* Unwind (regs) into a new JSON array; NULL without an unwinder. */
static json_t *backtrace(struct an *a, uint32_t vcpu,
                         const struct usc_regs *regs,
                         const struct usc_saved_regs *saved, size_t cap)
{
    struct usc_frame *f;
    size_t n = 0;
    json_t *j;

    if (!a->uw)
        return NULL;
    f = calloc(cap, sizeof(*f));
    if (!f)
        return NULL;
    if (regs)
        usc_unwind_regs(a->uw, vcpu, regs, f, cap, &n);
    else
        usc_unwind_saved(a->uw, vcpu, saved, f, cap, &n);
    j = an_frames(f, n);
    if (n == cap)
        json_array_append_new(j, json_pack("{s:b}", "truncated", 1));
    free(f);
    return j;
}

/* The vCPU whose view memory reads take: the core's first. */
static uint32_t mem_vcpu(const struct an *a)
{
    (void)a;
    return 0;
}

const char *an_vector_name(uint64_t vector)
{
    return vector < 32 ? vector_names[vector] : NULL;
}

void an_pf_text(uint64_t code, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s %s page, %s mode%s",
             code & 16  ? "instruction fetch from"
             : code & 2 ? "write to"
                        : "read from",
             code & 1 ? "a present (protected)" : "a not-present",
             code & 4 ? "user" : "kernel",
             code & 8 ? ", reserved bit set" : "");
}

json_t *an_where(struct an *a, uint64_t addr)
{
    char name[USC_FRAME_FUNC_MAX], buf[USC_FRAME_FUNC_MAX + 24];
    uint64_t off = 0;

    if (!a->uw ||
        usc_unwind_data_symbol(a->uw, addr, name, sizeof(name), &off) != 0)
        return NULL;
    if (off)
        snprintf(buf, sizeof(buf), "%s+0x%llx", name, (unsigned long long)off);
    else
        snprintf(buf, sizeof(buf), "%s", name);
    return an_str(buf);
}

static const char *thread_name(const struct an *a, uint32_t id)
{
    for (size_t i = 0; i < a->nthreads; i++)
        if (a->threads[i].id == id)
            return a->threads[i].name;
    return NULL;
}

/* The function of the frame (f) of a backtrace, "" when unknown. */
static const char *frame_function(const json_t *f)
{
    const char *fn = json_string_value(json_object_get(f, "function"));

    return fn ? fn : "";
}

/*
 * The registers of the thread that panicked (the record's frame, or its
 * vCPU's when it recorded none) into (*regs), and the core's vCPU whose
 * view memory reads take into (*vcpu). Returns 0 or -ENODATA.
 */
static int panic_regs(struct an *a, struct usc_regs *regs, uint32_t *vcpu)
{
    struct usc_regs live;
    uint32_t index;
    int v = an_vcpu_by_index(a, a->panic.vcpu);

    *vcpu = v < 0 ? mem_vcpu(a) : (uint32_t)v;
    if (usc_panic_has_frame(&a->panic))
        return usc_panic_regs(&a->panic, NULL, regs) ? 0 : -ENODATA;
    if (v < 0 || an_vcpu_live(a, (uint32_t)v, &live, &index) != 0)
        return -ENODATA;
    usc_panic_regs(&a->panic, &live, regs);
    return 0;
}

void an_section_panic(struct an *a, json_t *r)
{
    const struct usc_panic *p = &a->panic;
    struct usc_regs regs;
    json_t *j, *bt, *at;
    uint32_t v;
    char buf[128];

    if (!a->have_panic)
        return;
    j = json_object();
    set(j, "reason", an_str(p->reason));
    set(j, "vcpu", json_integer(p->vcpu));
    if (p->thread_id) {
        const char *name = thread_name(a, p->thread_id);
        set(j, "thread_id", json_integer(p->thread_id));
        if (name)
            set(j, "thread", an_str(name));
    }
    if (a->agent && p->timestamp >= usc_agent_header(a->agent)->boot_ts)
        set(j, "uptime_s",
            json_real(seconds(a, p->timestamp -
                                     usc_agent_header(a->agent)->boot_ts)));
    if (p->vector == USC_PANIC_NO_VECTOR) {
        set(j, "vector", json_string("none (software panic)"));
    } else {
        set(j, "vector", json_integer((json_int_t)p->vector));
        if (an_vector_name(p->vector))
            set(j, "exception", json_string(an_vector_name(p->vector)));
        set(j, "error_code", an_hex(p->error_code));
        if (p->vector == 14) {
            an_pf_text(p->error_code, buf, sizeof(buf));
            set(j, "error", json_string(buf));
            set(j, "cr2", an_hex(p->cr2));
            set(j, "cr2_symbol", an_where(a, p->cr2));
        }
    }
    if (panic_regs(a, &regs, &v) == 0) {
        set(j, "registers", an_regs(&regs));
        if (!usc_panic_has_frame(p))
            set(j, "registers_from",
                json_string("its vCPU (the panic recorded no frame)"));
        bt = backtrace(a, v, &regs, NULL, AN_PANIC_FRAMES);
        at = json_array_get(bt, 0);
        /* Frameless: the vCPU halts in usca_panic, called from where the
         * panic was raised. */
        if (!usc_panic_has_frame(p) && json_array_size(bt) > 1 &&
            !strcmp(frame_function(at), "usca_panic"))
            at = json_array_get(bt, 1);
        if (at)
            set(j, "at", json_incref(at));
        set(j, "backtrace", bt);
    }
    set(r, "panic", j);
}

/* The agent thread running on vCPU (index), or NULL. */
static const struct usc_agent_thread *running_on(const struct an *a,
                                                 uint32_t index)
{
    for (size_t i = 0; i < a->nthreads; i++)
        if (a->threads[i].state == USC_THREAD_RUNNING &&
            a->threads[i].vcpu == index)
            return &a->threads[i];
    return NULL;
}

void an_section_vcpus(struct an *a, json_t *r)
{
    json_t *arr = json_array();

    for (uint32_t i = 0; i < a->nvcpus; i++) {
        json_t *j = json_object();
        struct usc_regs regs;
        uint32_t index;
        int err = an_vcpu_live(a, i, &regs, &index);
        const struct usc_agent_thread *t = running_on(a, index);

        set(j, "index", json_integer(index));
        if (t)
            set(j, "thread", an_str(t->name));
        if (a->have_note && i < a->nnv &&
            (a->nv[i].flags & USC_NOTE_VCPU_PANIC_FRAME))
            set(j, "note",
                json_string("its NT_PRSTATUS holds the panic "
                            "frame; these are its registers at "
                            "the dump"));
        if (err) {
            set(j, "registers", json_null());
        } else {
            set(j, "registers", an_regs(&regs));
            set(j, "backtrace", backtrace(a, i, &regs, NULL, AN_FRAMES));
        }
        json_array_append_new(arr, j);
    }
    set(r, "vcpus", arr);
}

/* What a blocked thread waits on: address, symbol and C type. */
static json_t *wait_json(struct an *a, uint64_t obj)
{
    json_t *w = json_object();
    char type[96];

    set(w, "addr", an_hex(obj));
    set(w, "symbol", an_where(a, obj));
    if (a->uw && usc_unwind_data_type(a->uw, obj, type, sizeof(type)) == 0)
        set(w, "type", an_str(type));
    return w;
}

/* The registers a running thread has: the panic's, or its vCPU's. */
static json_t *running_backtrace(struct an *a, const struct usc_agent_thread *t,
                                 const char **source)
{
    struct usc_regs regs;
    uint32_t index;
    int v;

    if (a->have_panic && a->panic.thread_id == t->id) {
        uint32_t pv;
        *source = usc_panic_has_frame(&a->panic) ? "panic frame"
                                                 : "the vCPU it panicked on";
        if (panic_regs(a, &regs, &pv) != 0)
            return NULL;
        return backtrace(a, pv, &regs, NULL, AN_FRAMES);
    }
    v = an_vcpu_by_index(a, t->vcpu);
    if (v < 0 || an_vcpu_live(a, (uint32_t)v, &regs, &index) != 0)
        return NULL;
    *source = "its vCPU";
    return backtrace(a, (uint32_t)v, &regs, NULL, AN_FRAMES);
}

void an_section_threads(struct an *a, json_t *r)
{
    json_t *arr;

    if (!a->agent)
        return;
    arr = json_array();
    for (size_t i = 0; i < a->nthreads; i++) {
        const struct usc_agent_thread *t = &a->threads[i];
        const char *source = "saved registers";
        json_t *j = json_object(), *bt = NULL;

        set(j, "id", json_integer(t->id));
        set(j, "name", an_str(t->name));
        set(j, "state",
            json_string(t->state < 5 ? thread_states[t->state] : "?"));
        set(j, "vcpu", json_integer(t->vcpu));
        set(j, "cpu_time_s", json_real(seconds(a, t->cpu_time)));
        set(j, "switches", json_integer((json_int_t)t->switches));
        if (a->have_status && a->st.heartbeat_ts >= t->last_switch_ts &&
            t->last_switch_ts)
            set(j, "since_switch_s",
                json_real(seconds(a, a->st.heartbeat_ts - t->last_switch_ts)));
        if (t->state == USC_THREAD_BLOCKED && t->wait_obj)
            set(j, "waits_on", wait_json(a, t->wait_obj));
        for (size_t k = 0; k < a->ncore_threads; k++)
            if (a->core_threads[k].id == t->id)
                set(j, "core_lwp", json_integer(a->core_threads[k].lwp));
        if (t->state == USC_THREAD_RUNNING)
            bt = running_backtrace(a, t, &source);
        else if (t->state != USC_THREAD_EXITED)
            bt = backtrace(a, mem_vcpu(a), NULL, &t->regs, AN_FRAMES);
        if (bt) {
            set(j, "backtrace_from", json_string(source));
            set(j, "backtrace", bt);
        }
        json_array_append_new(arr, j);
    }
    set(r, "threads", arr);
}
