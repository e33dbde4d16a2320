/* The threads gdb sees: every vCPU, then every thread of the guest's agent. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fdio.h"
#include "guestmem.h"
#include "stub.h"

/* How often a guest without an agent (yet) is scanned for one again. */
#define AGENT_RESCAN_MS 2000

/* x86 exception vectors with a signal of their own */
#define VEC_DIVIDE 0
#define VEC_DEBUG 1
#define VEC_BREAKPOINT 3
#define VEC_INVALID_OP 6
#define VEC_X87 16
#define VEC_ALIGNMENT 17
#define VEC_SIMD 19

/* ---- vCPU registers ------------------------------------------------------ */

int vcpu_regs(struct unigdb_session *s, uint32_t vcpu,
              const struct usc_regs **regs)
{
    int err;

    if (vcpu >= s->nvcpus)
        return -EINVAL;
    if (!s->vregs_ok[vcpu]) {
        err = usc_target_get_regs(s->t, vcpu, &s->vregs[vcpu]);
        if (err)
            return err;
        s->vregs_ok[vcpu] = 1;
    }
    *regs = &s->vregs[vcpu];
    return 0;
}

void vcpu_regs_forget(struct unigdb_session *s)
{
    memset(s->vregs_ok, 0, s->nvcpus);
}

/* ---- the agent ----------------------------------------------------------- */

int panic_signal(const struct usc_panic *p)
{
    switch (p->vector) {
    case USC_PANIC_NO_VECTOR:
        return GDB_SIGNAL_ABRT;
    case VEC_DIVIDE:
    case VEC_X87:
    case VEC_SIMD:
        return GDB_SIGNAL_FPE;
    case VEC_DEBUG:
    case VEC_BREAKPOINT:
        return GDB_SIGNAL_TRAP;
    case VEC_INVALID_OP:
        return GDB_SIGNAL_ILL;
    case VEC_ALIGNMENT:
        return GDB_SIGNAL_BUS;
    default: /* page faults, protection faults and the rest */
        return GDB_SIGNAL_SEGV;
    }
}

static void agent_drop(struct unigdb_session *s)
{
    usc_agent_close(s->agent);
    s->agent = NULL;
    s->nathreads = 0;
    s->have_panic = 0;
    s->agent_state = 0;
}

/* Open the agent; a failed scan is not repeated for a while. */
static void agent_open(struct unigdb_session *s)
{
    const struct usc_physmem *pm = usc_target_physmem(s->t);
    int64_t now = usc_now_ms();
    size_t cap;

    if (s->agent_tried_ms && now - s->agent_tried_ms < AGENT_RESCAN_MS)
        return;
    if (!pm || usc_target_agent_open(s->t, &s->agent) < 0) {
        s->agent = NULL;
        s->agent_tried_ms = now ? now : 1;
        return;
    }
    cap = usc_agent_header(s->agent)->threads.capacity;
    if (cap > s->athreads_cap) {
        struct usc_agent_thread *a = realloc(s->athreads, cap * sizeof(*a));

        if (!a) {
            agent_drop(s);
            return;
        }
        s->athreads = a;
        s->athreads_cap = cap;
    }
    s->agent_tried_ms = 0;
}

/* Our copy of the slot (slot) of the agent's table, or NULL. */
static const struct usc_agent_thread *old_slot(const struct unigdb_session *s,
                                               uint32_t slot)
{
    for (size_t i = 0; i < s->nathreads; i++)
        if (s->athreads[i].slot == slot)
            return &s->athreads[i];
    return NULL;
}

/*
 * The agent's table when usc_agent_threads gives up on all of it for one
 * slot: a guest stopped while it rewrote a slot keeps that slot's counter
 * odd for as long as it stays stopped (-EAGAIN), and a corrupt slot
 * (-EINVAL) says nothing of the others. Read slot by slot; take a slot in
 * flux from our last copy, else as it stands (the guest is stopped: it is
 * at least stable); leave out corrupt ones.
 */
static int threads_by_slot(struct unigdb_session *s, uint32_t used)
{
    struct usc_agent_thread *fresh;
    size_t k = 0;

    fresh = calloc(s->athreads_cap ? s->athreads_cap : 1, sizeof(*fresh));
    if (!fresh)
        return -ENOMEM;
    for (uint32_t i = 0; i < used && k < s->athreads_cap; i++) {
        const struct usc_agent_thread *old;
        int settled;

        if (usc_agent_thread_at(s->agent, i, &fresh[k], &settled) != 0)
            continue;
        if (!settled && (old = old_slot(s, i)))
            fresh[k] = *old;
        k++;
    }
    memcpy(s->athreads, fresh, k * sizeof(*fresh));
    s->nathreads = k;
    free(fresh);
    return 0;
}

void agent_refresh(struct unigdb_session *s)
{
    struct usc_agent_status st;
    size_t n = 0;
    int err;

    if (!s->agent)
        agent_open(s);
    if (!s->agent)
        return;
    err = usc_agent_status(s->agent, &st);
    if (err == -ESTALE) { /* rebooted: its tables may have moved */
        agent_drop(s);
        agent_open(s);
        if (!s->agent)
            return;
        err = usc_agent_status(s->agent, &st);
    }
    if (err) {
        agent_drop(s);
        return;
    }
    s->agent_state = st.state;
    s->have_panic = usc_agent_panic(s->agent, &s->panic) == 0 && s->panic.valid;
    err = usc_agent_threads(s->agent, s->athreads, s->athreads_cap, &n);
    /* a slot in flux or corrupt: the others are still worth showing */
    if (err == 0 || err == -ENOSPC)
        s->nathreads = n;
    else if ((err != -EAGAIN && err != -EINVAL) ||
             threads_by_slot(s, st.threads_used))
        s->nathreads = 0;
}

/* ---- the thread list ----------------------------------------------------- */

int64_t thread_agent_tid(const struct unigdb_session *s, uint32_t id)
{
    /* after the vCPUs' 1..N; fixed for the session, as gdb needs */
    return (int64_t)s->nvcpus + 1 + id;
}

const struct unigdb_thread *thread_find(const struct unigdb_session *s,
                                        int64_t tid)
{
    for (size_t i = 0; i < s->nthreads; i++)
        if (s->threads[i].tid == tid)
            return &s->threads[i];
    return NULL;
}

const struct unigdb_thread *thread_current(const struct unigdb_session *s)
{
    const struct unigdb_thread *th = NULL;

    if (s->g_tid > 0)
        th = thread_find(s, s->g_tid);
    if (!th)
        th = thread_find(s, s->stop.tid);
    return th ? th : &s->threads[0];
}

static struct unigdb_thread *thread_add(struct unigdb_session *s)
{
    if (s->nthreads == s->threads_cap) {
        size_t cap = s->threads_cap ? 2 * s->threads_cap : 16;
        struct unigdb_thread *t = realloc(s->threads, cap * sizeof(*t));

        if (!t)
            return NULL;
        s->threads = t;
        s->threads_cap = cap;
    }
    memset(&s->threads[s->nthreads], 0, sizeof(s->threads[0]));
    return &s->threads[s->nthreads++];
}

int threads_refresh(struct unigdb_session *s)
{
    struct unigdb_thread *th;

    s->nthreads = 0;
    s->next_info = 0;
    for (uint32_t v = 0; v < s->nvcpus; v++) {
        th = thread_add(s);
        if (!th)
            return -ENOMEM;
        th->tid = (int64_t)v + 1;
        th->vcpu = v;
        th->live = 1;
    }
    for (size_t i = 0; i < s->nathreads; i++) {
        const struct usc_agent_thread *a = &s->athreads[i];
        int64_t tid = thread_agent_tid(s, a->id);

        /* an exited thread is gone to gdb; a duplicate id is the guest's
         * mistake, and gdb needs ids to be unique */
        if (a->state == USC_THREAD_EXITED || thread_find(s, tid))
            continue;
        th = thread_add(s);
        if (!th)
            return -ENOMEM;
        th->tid = tid;
        th->agent = 1;
        th->vcpu = a->vcpu;
        th->at = *a;
        th->panicked = s->have_panic && s->panic.thread_id == a->id;
        th->live = !th->panicked && a->state == USC_THREAD_RUNNING &&
                   a->vcpu < s->nvcpus;
    }
    return 0;
}

int thread_regs(struct unigdb_session *s, const struct unigdb_thread *th,
                struct unigdb_regset *set)
{
    const struct usc_regs *r;
    int err;

    memset(set, 0, sizeof(*set));
    if (th->panicked) {
        /* Without a frame, the vCPU it panicked on still holds it: in
         * usca_panic's halt loop, called from where it panicked. */
        r = NULL;
        if (!usc_panic_has_frame(&s->panic)) {
            if (s->panic.vcpu >= s->nvcpus)
                return 0; /* a vCPU we do not know: nothing is known */
            err = vcpu_regs(s, s->panic.vcpu, &r);
            if (err)
                return err;
        }
        usc_panic_regs(&s->panic, r, &set->r);
        set->known = UNIGDB_KNOWN_ALL;
        return 0;
    }
    if (th->live) {
        err = vcpu_regs(s, th->vcpu, &r);
        if (err == -ENOTSUP && !s->ctrl)
            return 0; /* no vCPU registers: nothing is known */
        if (err)
            return err;
        set->r = *r;
        set->known = UNIGDB_KNOWN_ALL;
        return 0;
    }
    if (th->at.state == USC_THREAD_RUNNING)
        return 0; /* on a vCPU we do not know: nothing is known */
    unigdb_regset_from_saved(set, &th->at.regs);
    return 0;
}

static const char *state_name(uint32_t state)
{
    switch (state) {
    case USC_THREAD_RUNNABLE:
        return "runnable";
    case USC_THREAD_RUNNING:
        return "running";
    case USC_THREAD_BLOCKED:
        return "blocked";
    default:
        return "exited";
    }
}

/* The agent thread running on (vcpu), or NULL. */
static const struct unigdb_thread *running_on(const struct unigdb_session *s,
                                              uint32_t vcpu)
{
    for (size_t i = 0; i < s->nthreads; i++) {
        const struct unigdb_thread *th = &s->threads[i];

        if (th->agent && th->at.state == USC_THREAD_RUNNING && th->vcpu == vcpu)
            return th;
    }
    return NULL;
}

/* Guest text made safe for XML and the terminal. */
static int put_clean(struct unigdb_buf *b, const char *s)
{
    int err = 0;

    for (; *s && !err; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '<')
            err = unigdb_buf_puts(b, "&lt;");
        else if (c == '>')
            err = unigdb_buf_puts(b, "&gt;");
        else if (c == '&')
            err = unigdb_buf_puts(b, "&amp;");
        else if (c == '"')
            err = unigdb_buf_puts(b, "&quot;");
        else if (c == '\'')
            err = unigdb_buf_puts(b, "&apos;");
        else
            err = unigdb_buf_put(b, c < ' ' || c > '~' ? "?" : (char *)&c, 1);
    }
    return err;
}

int thread_describe(const struct unigdb_session *s,
                    const struct unigdb_thread *th, struct unigdb_buf *name,
                    struct unigdb_buf *extra)
{
    const struct unigdb_thread *on;
    int err;

    if (!th->agent) {
        on = running_on(s, th->vcpu);
        err = unigdb_buf_printf(name, "vCPU %u", th->vcpu);
        if (on) {
            err |= unigdb_buf_puts(extra, "running ");
            err |= put_clean(extra, on->at.name);
        } else {
            err |= unigdb_buf_puts(extra, s->nathreads ? "idle" : "vCPU");
        }
        return err ? -ENOMEM : 0;
    }
    err = put_clean(name, th->at.name);
    if (th->panicked) {
        err |= unigdb_buf_puts(extra, "panicked: ");
        err |= put_clean(extra, s->panic.reason);
    } else if (th->at.state == USC_THREAD_RUNNING) {
        err |= unigdb_buf_printf(extra, "running on vCPU %u", th->vcpu);
    } else if (th->at.state == USC_THREAD_BLOCKED && th->at.wait_obj) {
        err |= unigdb_buf_printf(extra, "blocked on 0x%llx",
                                 (unsigned long long)th->at.wait_obj);
    } else {
        err |= unigdb_buf_puts(extra, state_name(th->at.state));
    }
    return err ? -ENOMEM : 0;
}
