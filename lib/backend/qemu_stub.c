/* The QEMU backend through QEMU's gdbstub: registers, breakpoints, steps. */
#include "../fdio.h"
#include "qemu.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GDB_SIGINT 2
#define GDB_SIGQUIT 3 /* QEMU's word for a guest that shut down */
#define GDB_SIGTRAP 5

#define MEM_CHUNK 1024         /* bytes per m/M: well inside 4 KiB packets */
#define TDESC_MAX (256 * 1024) /* bytes of one target description annex */
#define TDESC_DEPTH 4          /* nested xi:includes followed */
#define XFER_CHUNK 0xffb       /* what fits QEMU's 4 KiB packets */
#define CORE_REGS 18           /* reg_map[0 .. 17]: rax .. eflags */

/* The registers we fill, by the names of gdb's amd64 target description. */
static const struct {
    const char *name;
    size_t field;
} reg_map[QEMU_NREGS] = {
#define OFF(f) offsetof(struct usc_regs, f)
    {"rax", OFF(rax)},
    {"rbx", OFF(rbx)},
    {"rcx", OFF(rcx)},
    {"rdx", OFF(rdx)},
    {"rsi", OFF(rsi)},
    {"rdi", OFF(rdi)},
    {"rbp", OFF(rbp)},
    {"rsp", OFF(rsp)},
    {"r8", OFF(r8)},
    {"r9", OFF(r9)},
    {"r10", OFF(r10)},
    {"r11", OFF(r11)},
    {"r12", OFF(r12)},
    {"r13", OFF(r13)},
    {"r14", OFF(r14)},
    {"r15", OFF(r15)},
    {"rip", OFF(rip)},
    {"eflags", OFF(rflags)},
    {"cs", OFF(cs)},
    {"ss", OFF(ss)},
    {"ds", OFF(ds)},
    {"es", OFF(es)},
    {"fs", OFF(fs)},
    {"gs", OFF(gs)},
    {"fs_base", OFF(fs_base)},
    {"gs_base", OFF(gs_base)},
    {"k_gs_base", OFF(k_gs_base)},
    {"cr0", OFF(cr0)},
    {"cr2", OFF(cr2)},
    {"cr3", OFF(cr3)},
    {"cr4", OFF(cr4)},
    {"cr8", OFF(cr8)},
    {"efer", OFF(efer)},
#undef OFF
};

/* ---- talking to the held stub ------------------------------------------ */

void usc_qemu_stub_fail(struct qemu *qm)
{
    usc_rsp_close(qm->rsp);
    qm->rsp = NULL;
    qm->running = qm->stepping = 0;
    qm->hg_vcpu = 0;
    qm->stop_valid = 0;
}

/* Send (cmd), its reply in qm->pkt; an I/O error drops the stub. */
static int xfer(struct qemu *qm, const char *cmd, size_t *len)
{
    int err = usc_rsp_request(qm->rsp, cmd, qm->pkt, sizeof(qm->pkt), len,
                              QEMU_TIMEOUT_MS);

    if (err < 0)
        usc_qemu_stub_fail(qm);
    return err;
}

/* (cmd) answered "OK": 0, the stub's error, or -EPROTO. */
static int xfer_ok(struct qemu *qm, const char *cmd)
{
    size_t len;
    int err = xfer(qm, cmd, &len);

    if (err < 0)
        return err;
    err = usc_rsp_reply_status(qm->pkt, len);
    return err > 0 ? -EPROTO : err;
}

/* Wait for a stop reply until (deadline_ms), riding out signals. */
static int wait_stop_until(struct qemu *qm, struct usc_rsp_stop *st,
                           int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - usc_now_ms();
        int err = usc_rsp_wait_stop(qm->rsp, st, left < 0 ? 0 : (int)left);

        if (err != -EINTR)
            return err;
    }
}

/* Thread id text of (vcpu) for Hg, vCont and friends. */
static void thread_text(const struct qemu *qm, uint32_t vcpu, char *buf,
                        size_t cap)
{
    if (qm->thread_pid[vcpu] >= 0)
        snprintf(buf, cap, "p%" PRIx64 ".%" PRIx64,
                 (uint64_t)qm->thread_pid[vcpu],
                 (uint64_t)qm->thread_tid[vcpu]);
    else
        snprintf(buf, cap, "%" PRIx64, (uint64_t)qm->thread_tid[vcpu]);
}

/* The vCPU (0-based) of thread (pid, tid) in a stop reply, else 0. */
static uint32_t vcpu_of(const struct qemu *qm, int64_t pid, int64_t tid)
{
    for (uint32_t i = 0; i < qm->nthreads; i++)
        if (qm->thread_tid[i] == tid && (pid < 0 || qm->thread_pid[i] == pid))
            return i;
    return 0;
}

/* ---- what we learn from the stub once ----------------------------------- */

/* The ids in a qfThreadInfo reply "mID,ID,..." (after the 'm'). */
static int add_threads(struct qemu *qm, const char *p, size_t len)
{
    while (len) {
        const char *comma = memchr(p, ',', len);
        size_t n = comma ? (size_t)(comma - p) : len;
        int64_t pid, tid;

        if (usc_rsp_parse_thread_id(p, n, &pid, &tid) < 0 || tid <= 0)
            return -EPROTO;
        if (qm->nthreads == QEMU_MAX_VCPUS)
            return 0;
        qm->thread_pid[qm->nthreads] = pid;
        qm->thread_tid[qm->nthreads++] = tid;
        len -= comma ? n + 1 : n;
        p += comma ? n + 1 : n;
    }
    return 0;
}

static int learn_threads(struct qemu *qm)
{
    const char *cmd = "qfThreadInfo";
    size_t len;
    int err;

    qm->nthreads = 0;
    for (int round = 0; round < QEMU_MAX_VCPUS + 1; round++) {
        err = xfer(qm, cmd, &len);
        if (err < 0)
            return err;
        if (len == 0 && round == 0) {
            /* a stub without thread packets (hvt's) serves one thread */
            qm->single_thread = 1;
            qm->nthreads = 1;
            qm->thread_pid[0] = -1;
            qm->thread_tid[0] = 1;
            return 0;
        }
        if (len >= 1 && qm->pkt[0] == 'l')
            return qm->nthreads ? 0 : -EPROTO;
        if (len < 2 || qm->pkt[0] != 'm')
            return -EPROTO;
        err = add_threads(qm, qm->pkt + 1, len - 1);
        if (err < 0)
            return err;
        cmd = "qsThreadInfo";
    }
    return -EPROTO;
}

/* Annex names we pass back into a packet: no separators, no escapes. */
static int annex_ok(const char *s)
{
    for (; *s; s++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789._-",
                    *s))
            return 0;
    return 1;
}

/* Fetch target description (annex) into a new buffer (*xml), (*len). */
static int fetch_annex(struct qemu *qm, const char *annex, char **xml,
                       size_t *len)
{
    char cmd[160];
    char *buf = NULL;
    size_t have = 0, n;
    int err;

    if (!annex_ok(annex))
        return -EPROTO;
    buf = malloc(TDESC_MAX);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        snprintf(cmd, sizeof(cmd), "qXfer:features:read:%s:%zx,%x", annex, have,
                 XFER_CHUNK);
        err = xfer(qm, cmd, &n);
        if (err < 0)
            goto err;
        err = usc_rsp_reply_status(qm->pkt, n);
        if (err <= 0 || (qm->pkt[0] != 'l' && qm->pkt[0] != 'm')) {
            err = err < 0 ? err : -EPROTO;
            goto err;
        }
        if (n - 1 > TDESC_MAX - have) {
            err = -EMSGSIZE;
            goto err;
        }
        memcpy(buf + have, qm->pkt + 1, n - 1);
        have += n - 1;
        if (qm->pkt[0] == 'l')
            break;
        if (n == 1) { /* 'm' with no data would never end */
            err = -EPROTO;
            goto err;
        }
    }
    *xml = buf;
    *len = have;
    return 0;
err:
    free(buf);
    return err;
}

/* Registers in 'g' order: the next regnum, and its byte offset (or -1
 * once the numbering has a gap: those are not in 'g'). */
struct layout_walk {
    int64_t next;
    int64_t off;
};

static void place_reg(struct qemu *qm, const struct usc_rsp_tdesc_item *it,
                      struct layout_walk *w)
{
    int64_t regnum = it->regnum >= 0 ? it->regnum : w->next;
    uint32_t size = (it->bitsize + 7) / 8;

    if (regnum != w->next)
        w->off = -1;
    for (int i = 0; i < QEMU_NREGS; i++) {
        if (strcmp(it->name, reg_map[i].name) == 0 && qm->regs[i].size == 0) {
            qm->regs[i].off = w->off;
            qm->regs[i].size = size;
        }
    }
    w->next = regnum + 1;
    if (w->off >= 0)
        w->off += size;
}

static int walk_tdesc(struct qemu *qm, const char *annex, int depth,
                      struct layout_walk *w)
{
    struct usc_rsp_tdesc_item it;
    size_t len, pos = 0;
    char *xml;
    int r;

    if (depth > TDESC_DEPTH)
        return -ELOOP;
    r = fetch_annex(qm, annex, &xml, &len);
    if (r < 0)
        return r;
    while ((r = usc_rsp_tdesc_next(xml, len, &pos, &it)) > 0) {
        if (it.kind == USC_RSP_TDESC_INCLUDE) {
            r = walk_tdesc(qm, it.href, depth + 1, w);
            if (r < 0)
                break;
        } else {
            place_reg(qm, &it, w);
        }
    }
    free(xml);
    return r;
}

/*
 * gdb's amd64 'g' packet without a target description: rax .. r15 and
 * rip of 8 bytes, eflags and the six segment selectors of 4 (reg_map's
 * first CORE_REGS + 6, in that order); the x87 state follows, which we
 * leave alone. What a stub that serves no description (hvt's) sends.
 */
static void default_layout(struct qemu *qm)
{
    int64_t off = 0;

    for (int i = 0; i < CORE_REGS + 6; i++) {
        uint32_t size = i < CORE_REGS - 1 ? 8 : 4;

        qm->regs[i] = (struct qemu_reg_slot){off, size};
        off += size;
    }
    qm->layout_ok = 1;
}

/* Whether the stub has vCont (QEMU's) or only 'c' and 's' (hvt's). */
static int learn_vcont(struct qemu *qm)
{
    size_t len;
    int err = xfer(qm, "vCont?", &len);

    if (err < 0)
        return err;
    qm->vcont = len > 5 && !strncmp(qm->pkt, "vCont", 5) &&
                        strstr(qm->pkt, ";c") && strstr(qm->pkt, ";s")
                    ? 1
                    : -1;
    return 0;
}

/*
 * Learn the register layout from the stub's own description. Reading it
 * also makes QEMU 7.2 answer 'p'/'P' (it refuses them to a client that has
 * not read target.xml).
 */
static int learn_layout(struct qemu *qm)
{
    struct layout_walk w = {0, 0};
    int err;

    for (int i = 0; i < QEMU_NREGS; i++)
        qm->regs[i] = (struct qemu_reg_slot){-1, 0};
    err = walk_tdesc(qm, "target.xml", 0, &w);
    if (err == -ENOTSUP && qm->rsp) {
        default_layout(qm);
        return 0;
    }
    if (err < 0)
        return err;
    /* without these a register set means nothing */
    for (int i = 0; i < CORE_REGS; i++)
        if (qm->regs[i].off < 0)
            return -EPROTO;
    qm->layout_ok = 1;
    return 0;
}

/* ---- borrowing the stub ------------------------------------------------- */

/* Turn the stub's stop reply (st) into (ev). */
static void stop_event(struct qemu *qm, const struct usc_rsp_stop *st,
                       struct usc_stop_event *ev)
{
    enum usc_vm_state state;

    memset(ev, 0, sizeof(*ev));
    ev->vcpu = st->has_thread ? vcpu_of(qm, st->pid, st->tid) : 0;
    if (st->kind != USC_RSP_STOP_SIGNAL || st->signal == GDB_SIGQUIT) {
        ev->reason = USC_STOP_SHUTDOWN;
    } else if (st->signal == GDB_SIGTRAP && st->watch_type) {
        ev->reason = USC_STOP_WATCHPOINT;
        ev->addr = st->watch_addr;
        ev->watch_type = st->watch_type;
    } else if (st->signal == GDB_SIGTRAP) {
        ev->reason = qm->stepping ? USC_STOP_STEP : USC_STOP_BREAKPOINT;
    } else if (st->signal == GDB_SIGINT) {
        ev->reason = USC_STOP_PAUSE;
    } else {
        /* QEMU says "unknown signal" for a guest panic: ask QMP */
        if (usc_qemu_qmp_state(qm, NULL, &state) < 0)
            state = USC_VM_PAUSED;
        usc_qemu_state_event(qm, state, ev);
        ev->vcpu = st->has_thread ? vcpu_of(qm, st->pid, st->tid) : 0;
    }
}

/* Keep the stop (st) of the continue in flight for wait_stop. */
static void record_stop(struct qemu *qm, const struct usc_rsp_stop *st)
{
    stop_event(qm, st, &qm->stop);
    qm->stop_pending = qm->stop_valid = 1;
    qm->running = qm->stepping = 0;
}

/* Stop a continue in flight; (*was_plain) when it was not already
 * stopping on its own (a breakpoint that raced with us is kept). */
static int interrupt(struct qemu *qm, int *was_plain)
{
    struct usc_rsp_stop st;
    int err = usc_rsp_interrupt(qm->rsp, QEMU_TIMEOUT_MS);

    if (err == 0)
        err = wait_stop_until(qm, &st, usc_now_ms() + QEMU_TIMEOUT_MS);
    if (err < 0) {
        usc_qemu_stub_fail(qm);
        return err;
    }
    *was_plain = st.kind == USC_RSP_STOP_SIGNAL && st.signal == GDB_SIGINT &&
                 !qm->stepping;
    record_stop(qm, &st);
    return 0;
}

/* Drop stop replies left over from before (someone's QMP stop, say), so
 * that the next wait sees the stop of what we start now. */
static void drain_stops(struct qemu *qm)
{
    struct usc_rsp_stop st;

    while (usc_rsp_wait_stop(qm->rsp, &st, 0) == 0)
        ;
}

/* Detach (QEMU then runs the guest) and close. */
static int detach(struct qemu *qm)
{
    char cmd[32];
    int err;

    if (usc_rsp_multiprocess(qm->rsp))
        snprintf(cmd, sizeof(cmd), "D;%" PRIx64,
                 (uint64_t)(qm->nthreads && qm->thread_pid[0] > 0
                                ? qm->thread_pid[0]
                                : 1));
    else
        snprintf(cmd, sizeof(cmd), "D");
    err = xfer_ok(qm, cmd);
    if (qm->rsp)
        usc_qemu_stub_fail(qm);
    if (err < 0 && qm->qmp_path[0])
        err = usc_qemu_qmp_run(qm, "cont", NULL, NULL);
    return err;
}

/* Connect to the stub: "tcp:HOST:PORT", else a unix socket's path. */
static int stub_connect(struct qemu *qm)
{
    int64_t deadline = usc_deadline_in(QEMU_TIMEOUT_MS);
    int fd, err;

    if (strncmp(qm->gdb_path, "tcp:", 4) != 0)
        return usc_rsp_connect(qm->gdb_path, QEMU_TIMEOUT_MS, &qm->rsp);
    err = usc_tcp_connect(qm->gdb_path + 4, deadline, &fd);
    if (err < 0)
        return err;
    return usc_rsp_connect_fd(fd, usc_deadline_left(deadline), &qm->rsp);
}

int usc_qemu_stub_borrow(struct qemu *qm, int *was_running)
{
    int err, plain = 0;

    *was_running = 0;
    if (!qm->gdb_path[0])
        return -ENOTSUP;
    /* a stub deaf while the guest runs would never answer the interrupt */
    if (qm->rsp && qm->running && qm->stub_no_interrupt)
        return -EBUSY;
    if (qm->rsp && qm->running) {
        err = interrupt(qm, &plain);
        if (err == 0 && plain) {
            /* our own interrupt is no stop to report */
            qm->stop_pending = 0;
            *was_running = 1;
        }
        return err;
    }
    if (qm->rsp)
        return 0;
    err = usc_qemu_qmp_stub_free(qm);
    if (err < 0)
        return err;
    err = stub_connect(qm);
    if (err < 0) {
        qm->rsp = NULL;
        return err;
    }
    qm->touched = 1;
    qm->hg_vcpu = 0;
    /* QEMU stops a running guest for us; other stubs wait for us with
     * the guest stopped from the start */
    *was_running = usc_rsp_stopped_on_connect(qm->rsp) && !qm->stub_waits;
    err = qm->nthreads ? 0 : learn_threads(qm);
    if (err == 0 && !qm->layout_ok)
        err = learn_layout(qm);
    if (err == 0 && !qm->vcont)
        err = learn_vcont(qm);
    if (err < 0 && qm->rsp) {
        if (*was_running)
            detach(qm);
        else
            usc_qemu_stub_fail(qm);
    }
    return err;
}

int usc_qemu_stub_continue(struct qemu *qm)
{
    int err;

    drain_stops(qm);
    err = qm->vcont > 0 ? usc_rsp_send(qm->rsp, "vCont;c", 7, QEMU_TIMEOUT_MS)
                        : usc_rsp_send(qm->rsp, "c", 1, QEMU_TIMEOUT_MS);
    if (err < 0) {
        usc_qemu_stub_fail(qm);
        return err;
    }
    qm->running = 1;
    qm->stepping = 0;
    qm->stop_pending = 0;
    return 0;
}

int usc_qemu_stub_give_back(struct qemu *qm, int was_running)
{
    if (!was_running)
        return 0;
    if (!qm->rsp) /* it failed under us: at least run the guest again */
        return qm->qmp_path[0] ? usc_qemu_qmp_run(qm, "cont", NULL, NULL) : 0;
    /* a stub that takes one client, once, is never let go before close */
    if (qm->nbreaks || qm->stub_hold)
        return usc_qemu_stub_continue(qm);
    return detach(qm);
}

int usc_qemu_stub_interrupt(struct qemu *qm)
{
    int plain;

    return interrupt(qm, &plain);
}

int usc_qemu_stub_wait(struct qemu *qm, int timeout_ms,
                       struct usc_stop_event *ev)
{
    struct usc_rsp_stop st;
    int err = usc_rsp_wait_stop(qm->rsp, &st, timeout_ms);

    if (err == -ECONNRESET) {
        /* QEMU went away, and our breakpoints with it */
        usc_qemu_stub_fail(qm);
        qm->nbreaks = 0;
        memset(ev, 0, sizeof(*ev));
        ev->reason = USC_STOP_SHUTDOWN;
        return 0;
    }
    if (err == -ETIMEDOUT || err == -EINTR)
        return err;
    if (err < 0) {
        usc_qemu_stub_fail(qm);
        return err;
    }
    record_stop(qm, &st);
    qm->stop_pending = 0;
    *ev = qm->stop;
    if (st.kind != USC_RSP_STOP_SIGNAL) {
        usc_qemu_stub_fail(qm); /* the stub reports its exit and is gone */
        qm->nbreaks = 0;
    }
    return 0;
}

void usc_qemu_stub_release(struct qemu *qm, int run)
{
    char cmd[64];
    int was_running;

    if (!qm->gdb_path[0] || (!qm->rsp && !qm->nbreaks))
        return;
    if (usc_qemu_stub_borrow(qm, &was_running) < 0)
        return;
    for (size_t i = 0; i < qm->nbreaks && qm->rsp; i++) {
        snprintf(cmd, sizeof(cmd), "z%d,%" PRIx64 ",%" PRIx64,
                 (int)qm->breaks[i].type, qm->breaks[i].addr,
                 qm->breaks[i].len);
        xfer_ok(qm, cmd);
    }
    qm->nbreaks = 0;
    if (!qm->rsp)
        return;
    if (run || was_running)
        detach(qm);
    else
        usc_qemu_stub_fail(qm); /* a plain close leaves the guest stopped */
}

/* ---- registers ---------------------------------------------------------- */

static int select_thread(struct qemu *qm, uint32_t vcpu)
{
    char cmd[64] = "Hg";
    int err;

    if (vcpu >= qm->nthreads)
        return -EINVAL;
    if (qm->hg_vcpu == vcpu + 1 || qm->single_thread)
        return 0;
    thread_text(qm, vcpu, cmd + 2, sizeof(cmd) - 2);
    err = xfer_ok(qm, cmd);
    if (err == 0)
        qm->hg_vcpu = vcpu + 1;
    return err;
}

/* (vcpu)'s 'g' packet into qm->bytes; its length in (*glen). */
static int read_g(struct qemu *qm, uint32_t vcpu, size_t *glen)
{
    size_t len;
    int err = select_thread(qm, vcpu);

    if (err == 0)
        err = xfer(qm, "g", &len);
    if (err < 0)
        return err;
    err = usc_rsp_reply_status(qm->pkt, len);
    if (err <= 0)
        return err < 0 ? err : -EPROTO;
    err = usc_rsp_hex_decode(qm->pkt, len, qm->bytes, sizeof(qm->bytes));
    if (err < 0)
        return err;
    *glen = (size_t)err;
    return 0;
}

/* Whether register (i) is inside a 'g' packet of (glen) bytes. */
static int slot_ok(const struct qemu *qm, int i, size_t glen)
{
    const struct qemu_reg_slot *s = &qm->regs[i];

    return s->off >= 0 && s->size <= 8 && (uint64_t)s->off + s->size <= glen;
}

static void unpack_regs(const struct qemu *qm, size_t glen,
                        struct usc_regs *regs)
{
    memset(regs, 0, sizeof(*regs));
    for (int i = 0; i < QEMU_NREGS; i++) {
        uint64_t v = 0;

        if (!slot_ok(qm, i, glen))
            continue;
        for (uint32_t b = qm->regs[i].size; b-- > 0;)
            v = v << 8 | qm->bytes[qm->regs[i].off + b];
        memcpy((char *)regs + reg_map[i].field, &v, sizeof(v));
    }
}

static void pack_regs(struct qemu *qm, size_t glen, const struct usc_regs *regs)
{
    for (int i = 0; i < QEMU_NREGS; i++) {
        uint64_t v;

        if (!slot_ok(qm, i, glen))
            continue;
        memcpy(&v, (const char *)regs + reg_map[i].field, sizeof(v));
        for (uint32_t b = 0; b < qm->regs[i].size; b++, v >>= 8)
            qm->bytes[qm->regs[i].off + b] = (unsigned char)v;
    }
}

int usc_qemu_stub_get_regs(void *priv, uint32_t vcpu, struct usc_regs *regs)
{
    struct qemu *qm = priv;
    int was_running, err, err2;
    size_t glen;

    err = usc_qemu_stub_borrow(qm, &was_running);
    if (err < 0)
        return err;
    err = read_g(qm, vcpu, &glen);
    if (err == 0)
        unpack_regs(qm, glen, regs);
    err2 = usc_qemu_stub_give_back(qm, was_running);
    return err < 0 ? err : err2;
}

int usc_qemu_stub_set_regs(void *priv, uint32_t vcpu,
                           const struct usc_regs *regs)
{
    struct qemu *qm = priv;
    int was_running, err;
    size_t glen;
    char *cmd = NULL;

    err = usc_qemu_stub_borrow(qm, &was_running);
    if (err < 0)
        return err;
    if (was_running) {
        err = -EBUSY; /* the contract: the guest must be stopped */
        goto out;
    }
    err = read_g(qm, vcpu, &glen);
    if (err < 0)
        goto out;
    /* QEMU takes a short 'G' and sets only what it holds: send it all */
    if (2 * glen + 2 > USC_RSP_PACKET_MAX) {
        err = -EMSGSIZE;
        goto out;
    }
    cmd = malloc(2 * glen + 2);
    if (!cmd) {
        err = -ENOMEM;
        goto out;
    }
    pack_regs(qm, glen, regs);
    cmd[0] = 'G';
    usc_rsp_hex_encode(qm->bytes, glen, cmd + 1);
    err = xfer_ok(qm, cmd);
out:
    free(cmd);
    if (was_running)
        usc_qemu_stub_give_back(qm, was_running);
    return err;
}

/* ---- breakpoints and steps ---------------------------------------------- */

static int break_index(const struct qemu *qm, enum usc_break_type type,
                       uint64_t addr, uint64_t len)
{
    for (size_t i = 0; i < qm->nbreaks; i++)
        if (qm->breaks[i].type == type && qm->breaks[i].addr == addr &&
            qm->breaks[i].len == len)
            return (int)i;
    return -1;
}

/* x86 breakpoints have "kind" 1; watchpoints a length QEMU checks. */
static int break_args(enum usc_break_type type, uint64_t *len)
{
    if ((int)type < USC_BREAK_SW || type > USC_WATCH_ACCESS)
        return -EINVAL;
    if (type <= USC_BREAK_HW && *len == 0)
        *len = 1;
    return *len ? 0 : -EINVAL;
}

int usc_qemu_stub_insert_break(void *priv, enum usc_break_type type,
                               uint64_t addr, uint64_t len)
{
    struct qemu *qm = priv;
    char cmd[64];
    int was_running, err, err2;

    err = break_args(type, &len);
    if (err < 0)
        return err;
    if (qm->nbreaks == QEMU_MAX_BREAKS)
        return -ENOSPC;
    err = usc_qemu_stub_borrow(qm, &was_running);
    if (err < 0)
        return err;
    snprintf(cmd, sizeof(cmd), "Z%d,%" PRIx64 ",%" PRIx64, (int)type, addr,
             len);
    err = xfer_ok(qm, cmd);
    if (err == 0)
        qm->breaks[qm->nbreaks++] = (struct qemu_break){type, addr, len};
    err2 = usc_qemu_stub_give_back(qm, was_running);
    return err < 0 ? err : err2;
}

int usc_qemu_stub_remove_break(void *priv, enum usc_break_type type,
                               uint64_t addr, uint64_t len)
{
    struct qemu *qm = priv;
    char cmd[64];
    int was_running, err, err2, i;

    err = break_args(type, &len);
    if (err < 0)
        return err;
    i = break_index(qm, type, addr, len);
    if (i < 0)
        return -ENOENT;
    err = usc_qemu_stub_borrow(qm, &was_running);
    if (err < 0)
        return err;
    snprintf(cmd, sizeof(cmd), "z%d,%" PRIx64 ",%" PRIx64, (int)type, addr,
             len);
    err = xfer_ok(qm, cmd);
    /* E22: QEMU does not have it (any more), which is what we wanted */
    if (err == 0 || err == -EINVAL) {
        qm->breaks[i] = qm->breaks[--qm->nbreaks];
        err = 0;
    }
    err2 = usc_qemu_stub_give_back(qm, was_running);
    return err < 0 ? err : err2;
}

int usc_qemu_stub_step(void *priv, uint32_t vcpu)
{
    struct qemu *qm = priv;
    char cmd[64] = "vCont;s:";
    int was_running, err;

    err = usc_qemu_stub_borrow(qm, &was_running);
    if (err < 0)
        return err;
    if (vcpu >= qm->nthreads) {
        usc_qemu_stub_give_back(qm, was_running);
        return -EINVAL;
    }
    /* the other vCPUs stay stopped: QEMU steps only the one named */
    thread_text(qm, vcpu, cmd + 8, sizeof(cmd) - 8);
    if (qm->vcont < 0)
        snprintf(cmd, sizeof(cmd), "s"); /* a one-thread stub */
    drain_stops(qm);
    err = usc_rsp_send(qm->rsp, cmd, strlen(cmd), QEMU_TIMEOUT_MS);
    if (err < 0) {
        usc_qemu_stub_fail(qm);
        usc_qemu_stub_give_back(qm, was_running);
        return err;
    }
    qm->running = qm->stepping = 1;
    qm->stop_pending = 0;
    return 0;
}

/* ---- memory through the stub --------------------------------------------- */

static int phys_chunk(struct qemu *qm, uint64_t paddr, unsigned char *rbuf,
                      const unsigned char *wbuf, size_t n, char *cmd)
{
    size_t len;
    int err, hdr;

    if (wbuf) {
        hdr = sprintf(cmd, "M%" PRIx64 ",%zx:", paddr, n);
        usc_rsp_hex_encode(wbuf, n, cmd + hdr);
        return xfer_ok(qm, cmd);
    }
    sprintf(cmd, "m%" PRIx64 ",%zx", paddr, n);
    err = xfer(qm, cmd, &len);
    if (err < 0)
        return err;
    err = usc_rsp_reply_status(qm->pkt, len);
    if (err <= 0)
        return err < 0 ? err : -EPROTO;
    err = usc_rsp_hex_decode(qm->pkt, len, rbuf, n);
    return err == (int)n ? 0 : -EPROTO;
}

int usc_qemu_stub_phys(struct qemu *qm, uint64_t paddr, void *rbuf,
                       const void *wbuf, size_t len)
{
    char cmd[2 * MEM_CHUNK + 64];
    int was_running, err, err2;
    size_t done = 0;

    err = usc_qemu_stub_borrow(qm, &was_running);
    if (err < 0)
        return err;
    err = xfer_ok(qm, "Qqemu.PhyMemMode:1");
    while (err == 0 && done < len) {
        size_t n = len - done < MEM_CHUNK ? len - done : MEM_CHUNK;

        err = phys_chunk(
            qm, paddr + done, rbuf ? (unsigned char *)rbuf + done : NULL,
            wbuf ? (const unsigned char *)wbuf + done : NULL, n, cmd);
        done += n;
    }
    /* The mode is QEMU's, not the connection's: the next client of the
     * stub (gdb) expects virtual addresses. */
    if (qm->rsp && err != -ENOTSUP)
        xfer_ok(qm, "Qqemu.PhyMemMode:0");
    err2 = usc_qemu_stub_give_back(qm, was_running);
    return err < 0 ? err : err2;
}
