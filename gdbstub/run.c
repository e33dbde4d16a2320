/* Run control: stop replies, vCont, breakpoints and watchpoints, detach. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stub.h"

/* ---- stop replies -------------------------------------------------------- */

/* Is (type, addr) one of ours? For telling gdb what a SIGTRAP was. */
static int planted(const struct unigdb_session *s, enum usc_break_type type,
                   uint64_t addr)
{
    for (size_t i = 0; i < s->npoints; i++)
        if (s->points[i].type == type && s->points[i].addr == addr)
            return 1;
    return 0;
}

void stop_from_event(struct unigdb_session *s, const struct usc_stop_event *ev)
{
    struct unigdb_stop *st = &s->stop;
    const struct usc_regs *r;
    uint32_t vcpu = ev->vcpu < s->nvcpus ? ev->vcpu : 0;
    int panicked = s->panic_stop || ev->reason == USC_STOP_PANIC;

    enum usc_vm_state vm = USC_VM_DEAD;

    memset(st, 0, sizeof(*st));
    st->tid = (int64_t)vcpu + 1;
    st->signal = GDB_SIGNAL_TRAP;
    switch (ev->reason) {
    case USC_STOP_SHUTDOWN:
        /* Gone, or held where it stopped (QEMU's -action ...=pause)? */
        if (usc_target_run_state(s->t, &vm) != 0 || vm == USC_VM_DEAD ||
            !unigdb_cannot_run(vm, s->cfg->held)) {
            st->exited = 1;
            return;
        }
        s->stuck = vm;
        st->signal = 0; /* gdb: "Program stopped." */
        return;
    case USC_STOP_WATCHPOINT:
        st->watch_type = ev->watch_type >= USC_WATCH_WRITE &&
                                 ev->watch_type <= USC_WATCH_ACCESS
                             ? ev->watch_type
                             : USC_WATCH_WRITE;
        st->watch_addr = ev->addr;
        return;
    case USC_STOP_BREAKPOINT:
        /* QEMU does not say which kind: ours do, by where it stopped */
        if (vcpu_regs(s, vcpu, &r) == 0) {
            st->swbreak = planted(s, USC_BREAK_SW, r->rip);
            st->hwbreak = !st->swbreak && planted(s, USC_BREAK_HW, r->rip);
        }
        return;
    case USC_STOP_STEP:
        return;
    default: /* a pause: Ctrl-C, someone's QMP stop, or a guest panic */
        break;
    }
    if (ev->reason == USC_STOP_PANIC && usc_target_run_state(s->t, &vm) == 0 &&
        unigdb_cannot_run(vm, s->cfg->held))
        s->stuck = vm;
    if (panicked && s->have_panic) {
        st->signal = panic_signal(&s->panic);
        if (s->panic.thread_id &&
            thread_find(s, thread_agent_tid(s, s->panic.thread_id)))
            st->tid = thread_agent_tid(s, s->panic.thread_id);
        return;
    }
    st->signal = panicked ? GDB_SIGNAL_ABRT : GDB_SIGNAL_INT;
}

/*
 * The registers gdb needs first at a stop (frame pointer, stack pointer,
 * pc) in the reply itself, as "NN:value;": a step then costs gdb no 'g'.
 * Nothing when they cannot be read: gdb asks.
 */
static int expedite(struct unigdb_session *s, struct unigdb_buf *out)
{
    static const unsigned expedited[] = {UNIGDB_REG_RBP, UNIGDB_REG_RSP,
                                         UNIGDB_REG_RIP};
    const struct unigdb_thread *th = thread_find(s, s->stop.tid);
    struct unigdb_regset set;
    int err = 0;

    if (!th || thread_regs(s, th, &set))
        return 0;
    for (size_t i = 0; i < sizeof(expedited) / sizeof(expedited[0]); i++) {
        size_t at = out->len;

        err = unigdb_buf_printf(out, "%02x:", expedited[i]);
        if (!err)
            err = unigdb_reg_encode(&set, expedited[i], out);
        if (err)
            return err;
        if (out->p[out->len - 1] == 'x') { /* unknown: not worth sending */
            out->len = at;
            continue;
        }
        err = unigdb_buf_puts(out, ";");
        if (err)
            return err;
    }
    return 0;
}

int stop_reply(struct unigdb_session *s, struct unigdb_buf *out)
{
    const struct unigdb_stop *st = &s->stop;
    static const char *const watch[] = {"watch", "rwatch", "awatch"};
    int err;

    if (st->exited)
        return unigdb_buf_puts(out, "W00");
    err = unigdb_buf_printf(out, "T%02xthread:%" PRIx64 ";", st->signal,
                            (uint64_t)st->tid);
    if (!err && st->swbreak)
        err = unigdb_buf_puts(out, "swbreak:;");
    if (!err && st->hwbreak)
        err = unigdb_buf_puts(out, "hwbreak:;");
    if (!err && st->watch_type)
        err = unigdb_buf_printf(out, "%s:%" PRIx64 ";",
                                watch[st->watch_type - USC_WATCH_WRITE],
                                st->watch_addr);
    if (!err)
        err = expedite(s, out);
    return err;
}

int h_stop_reason(struct unigdb_session *s, const char *arg, size_t len)
{
    (void)arg;
    (void)len;
    s->reply.len = 0;
    return stop_reply(s, &s->reply) ? reply_errno(s, -ENOMEM) : REPLY;
}

/* ---- resuming ------------------------------------------------------------ */

/* Why a guest cannot be resumed, for gdb's "Remote failure reply". */
static int refuse_resume(struct unigdb_session *s)
{
    if (!s->ctrl)
        return reply_msg(s, "this target is read-only (a core file, or a "
                            "guest known only by its memory)");
    return reply_msg(s, "the guest cannot be resumed");
}

/*
 * A guest QEMU holds where it stopped, for good: say why on gdb's console
 * and report the stop again, signal 0, which gdb shows as "Program
 * stopped." and the frame, the session going on.
 */
static int stuck(struct unigdb_session *s)
{
    char text[400];

    snprintf(text, sizeof(text), "unigdb: %s: %s\n",
             s->cfg->name ? s->cfg->name : "guest",
             unigdb_cannot_run(s->stuck, s->cfg->held));
    if (emit_console(s, text))
        return reply_errno(s, -ENOMEM);
    s->stop.signal = 0;
    s->stop.swbreak = s->stop.hwbreak = s->stop.watch_type = 0;
    s->reply.len = 0;
    return stop_reply(s, &s->reply) ? reply_errno(s, -ENOMEM) : REPLY;
}

/* Resume the guest: step (step_vcpu) alone, or run every vCPU (-1). */
static int resume(struct unigdb_session *s, int64_t step_vcpu)
{
    int err;

    if (!s->ctrl)
        return refuse_resume(s);
    if (unigdb_cannot_run(s->stuck, s->cfg->held))
        return stuck(s);
    if (step_vcpu >= 0)
        err = usc_target_step(s->t, (uint32_t)step_vcpu);
    else
        err = usc_target_resume(s->t);
    if (err)
        return reply_errno(s, err);
    vcpu_regs_forget(s);
    /* A guest let run may start its agent meanwhile (one stopped at boot
     * does): look again at the next stop. Steps keep the pause between
     * scans, so that stepping an agent-less guest stays quick. */
    if (step_vcpu < 0)
        s->agent_tried_ms = 0;
    s->running = 1;
    s->interrupted = 0;
    s->panic_stop = 0;
    s->g_tid = 0;
    return NO_REPLY;
}

/* The vCPU thread id (tid) names for a resume; -1 for none. */
static int64_t vcpu_of_tid(const struct unigdb_session *s, int64_t tid)
{
    const struct unigdb_thread *th;

    if (tid == 0) /* any thread: the one that stopped */
        tid = s->stop.tid;
    th = thread_find(s, tid);
    if (!th || !th->live)
        return -1;
    return th->vcpu;
}

/*
 * vCont;ACTION[:TID]... The backend steps one vCPU with the others held,
 * or runs them all, so a step anywhere wins over continues elsewhere (as
 * QEMU's own stub does), and a thread that is not on a vCPU can be
 * continued (it runs when its scheduler picks it) but not stepped.
 */
int h_vcont(struct unigdb_session *s, const char *arg, size_t len)
{
    int64_t step_vcpu = -1;
    int any = 0;
    size_t i = 0;

    if (!s->ctrl)
        return refuse_resume(s);
    while (i < len) {
        const char *a = arg + i;
        const char *semi = memchr(a, ';', len - i);
        size_t n = semi ? (size_t)(semi - a) : len - i;
        const char *colon = memchr(a, ':', n);
        size_t alen = colon ? (size_t)(colon - a) : n;
        int64_t tid = -1, vcpu;
        uint64_t v;

        if (alen == 0)
            return reply_errno(s, -EINVAL);
        if (colon) {
            const char *id = colon + 1;
            size_t idlen = n - alen - 1;

            if (idlen == 2 && id[0] == '-' && id[1] == '1')
                tid = -1;
            else if (unigdb_parse_hex(id, idlen, &v) || v > INT64_MAX)
                return reply_errno(s, -EINVAL);
            else
                tid = (int64_t)v;
        }
        /* C and S carry a signal: a guest has none to take */
        if ((a[0] == 'C' || a[0] == 'S') &&
            (alen != 3 || unigdb_parse_hex(a + 1, 2, &v)))
            return reply_errno(s, -EINVAL);
        if ((a[0] == 'c' || a[0] == 's') && alen != 1)
            return reply_errno(s, -EINVAL);
        switch (a[0]) {
        case 'c':
        case 'C':
            any = 1;
            break;
        case 's':
        case 'S':
            vcpu = tid < 0 ? vcpu_of_tid(s, 0) : vcpu_of_tid(s, tid);
            if (vcpu < 0)
                return reply_msg(s, "that thread is not on a vCPU now: it "
                                    "cannot be stepped");
            if (step_vcpu < 0)
                step_vcpu = vcpu;
            any = 1;
            break;
        default: /* t, r: not announced */
            return reply_errno(s, -EINVAL);
        }
        i += n + 1;
    }
    if (!any)
        return reply_errno(s, -EINVAL);
    return resume(s, step_vcpu);
}

int h_vcont_query(struct unigdb_session *s, const char *arg, size_t len)
{
    (void)arg;
    (void)len;
    return reply_str(s, "vCont;c;C;s;S");
}

/* c/s [ADDR], C/S SIG[;ADDR]: resuming elsewhere than here is refused. */
static int legacy_resume(struct unigdb_session *s, const char *arg, size_t len,
                         int signal, int step)
{
    if (signal) {
        const char *semi = memchr(arg, ';', len);
        size_t n = semi ? (size_t)(semi - arg) : len;
        uint64_t v;

        if (n != 2 || unigdb_parse_hex(arg, 2, &v))
            return reply_errno(s, -EINVAL);
        len = semi ? len - n - 1 : 0;
    }
    if (len)
        return reply_msg(s, "resuming at another address is not supported");
    if (!step)
        return resume(s, -1);
    return resume(s, vcpu_of_tid(s, 0) < 0 ? 0 : vcpu_of_tid(s, 0));
}

int h_continue(struct unigdb_session *s, const char *arg, size_t len)
{
    return legacy_resume(s, arg, len, 0, 0);
}

int h_continue_signal(struct unigdb_session *s, const char *arg, size_t len)
{
    return legacy_resume(s, arg, len, 1, 0);
}

int h_step(struct unigdb_session *s, const char *arg, size_t len)
{
    return legacy_resume(s, arg, len, 0, 1);
}

int h_step_signal(struct unigdb_session *s, const char *arg, size_t len)
{
    return legacy_resume(s, arg, len, 1, 1);
}

/* ---- breakpoints and watchpoints ----------------------------------------- */

/* "TYPE,ADDR,KIND[;conditions]" into its parts. */
static int parse_point(const char *arg, size_t len, struct unigdb_point *p)
{
    const char *semi = memchr(arg, ';', len);
    size_t used;
    uint64_t addr, kind;

    if (semi)
        len = (size_t)(semi - arg); /* gdb sends conditions only if asked */
    if (len < 3 || arg[0] < '0' || arg[0] > '4' || arg[1] != ',')
        return -EINVAL;
    if (unigdb_parse_addr_len(arg + 2, len - 2, &addr, &kind, &used) ||
        used != len - 2)
        return -EINVAL;
    p->type = (enum usc_break_type)(arg[0] - '0');
    p->addr = addr;
    /* x86 breakpoints are one byte (kind 1); watchpoints 1, 2, 4 or 8 */
    if (p->type <= USC_BREAK_HW
            ? kind != 1
            : (kind != 1 && kind != 2 && kind != 4 && kind != 8))
        return -EINVAL;
    p->len = kind;
    return 0;
}

static int point_index(const struct unigdb_session *s,
                       const struct unigdb_point *p)
{
    for (size_t i = 0; i < s->npoints; i++)
        if (s->points[i].type == p->type && s->points[i].addr == p->addr &&
            s->points[i].len == p->len)
            return (int)i;
    return -1;
}

int h_insert_point(struct unigdb_session *s, const char *arg, size_t len)
{
    struct unigdb_point p;
    int err;

    if (parse_point(arg, len, &p))
        return reply_errno(s, -EINVAL);
    if (!s->ctrl)
        return reply_errno(s, -EROFS);
    /* gdb may insert again what is in: that must succeed */
    if (point_index(s, &p) >= 0)
        return reply_str(s, "OK");
    if (s->npoints == s->points_cap) {
        size_t cap = s->points_cap ? 2 * s->points_cap : 16;
        struct unigdb_point *a = realloc(s->points, cap * sizeof(*a));

        if (!a)
            return reply_errno(s, -ENOMEM);
        s->points = a;
        s->points_cap = cap;
    }
    err = usc_target_insert_break(s->t, p.type, p.addr, p.len);
    if (err == -ENOTSUP)
        return reply_str(s, ""); /* not this kind: gdb copes */
    if (err)
        return reply_errno(s, err);
    s->points[s->npoints++] = p;
    return reply_str(s, "OK");
}

int h_remove_point(struct unigdb_session *s, const char *arg, size_t len)
{
    struct unigdb_point p;
    int i, err;

    if (parse_point(arg, len, &p))
        return reply_errno(s, -EINVAL);
    i = point_index(s, &p);
    if (i < 0)
        return reply_str(s, "OK"); /* not in: already what gdb wants */
    err = usc_target_remove_break(s->t, p.type, p.addr, p.len);
    if (err && err != -ENOENT)
        return reply_errno(s, err);
    s->points[i] = s->points[--s->npoints];
    return reply_str(s, "OK");
}

int points_remove_all(struct unigdb_session *s)
{
    int first = 0;

    while (s->npoints) {
        struct unigdb_point *p = &s->points[s->npoints - 1];
        int err = usc_target_remove_break(s->t, p->type, p->addr, p->len);

        if (err && err != -ENOENT && !first)
            first = err;
        s->npoints--;
    }
    return first;
}

/* ---- leaving ------------------------------------------------------------- */

int resume_on_leaving(struct unigdb_session *s)
{
    enum usc_vm_state st;

    /* a guest QEMU (or unirun) holds stopped after a crash stays so */
    if (usc_target_run_state(s->t, &st) != 0 ||
        (st != USC_VM_PAUSED && st != USC_VM_DEBUG) ||
        unigdb_cannot_run(st, s->cfg->held))
        return 0;
    return usc_target_resume(s->t);
}

/* Leave now: our points go and the guest runs before gdb hears back. */
static int leave(struct unigdb_session *s)
{
    int err = 0;

    if (s->ctrl) {
        err = points_remove_all(s);
        if (!err)
            err = resume_on_leaving(s);
    }
    s->done = 1;
    return err;
}

int h_detach(struct unigdb_session *s, const char *arg, size_t len)
{
    int err;

    (void)arg;
    (void)len;
    err = leave(s);
    return err ? reply_errno(s, err) : reply_str(s, "OK");
}

/*
 * Kill: a debugger does not get to destroy a production guest (unirun
 * --stop does that): a detach, without the reply the protocol has none of.
 */
int h_kill(struct unigdb_session *s, const char *arg, size_t len)
{
    (void)arg;
    (void)len;
    leave(s);
    return NO_REPLY;
}

int h_vkill(struct unigdb_session *s, const char *arg, size_t len)
{
    (void)arg;
    (void)len;
    leave(s);
    return reply_str(s, "OK");
}
