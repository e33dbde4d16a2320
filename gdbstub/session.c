/* A gdb session: attach and detach, acknowledgements, packet dispatch. */
#include "session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stub.h"

/* How long attaching waits for a running guest to stop. */
#define ATTACH_STOP_MS 5000

/* Packets by name: the first whose name starts the packet (or equals it,
 * when exact) handles it; gdb's rule for anything else: an empty reply. */
static const struct command {
    const char *name;
    int exact;
    handler_fn fn;
} commands[] = {
    {"qSupported", 0, h_supported},
    {"QStartNoAckMode", 1, h_noack},
    {"qXfer:features:read:", 0, h_xfer_features},
    {"qXfer:threads:read:", 0, h_xfer_threads},
    {"qfThreadInfo", 1, h_thread_info_first},
    {"qsThreadInfo", 1, h_thread_info_next},
    {"qThreadExtraInfo,", 0, h_thread_extra},
    {"qC", 1, h_current_thread},
    {"qAttached", 0, h_attached},
    {"qRcmd,", 0, h_monitor},
    {"qSymbol:", 0, h_symbol},
    {"vCont?", 1, h_vcont_query},
    {"vCont;", 0, h_vcont},
    {"vKill", 0, h_vkill},
    {"?", 1, h_stop_reason},
    {"g", 1, h_read_regs},
    {"G", 0, h_write_regs},
    {"p", 0, h_read_reg},
    {"P", 0, h_write_reg},
    {"m", 0, h_read_mem},
    {"M", 0, h_write_mem},
    {"x", 0, h_read_mem_binary},
    {"X", 0, h_write_mem_binary},
    {"Z", 0, h_insert_point},
    {"z", 0, h_remove_point},
    {"H", 0, h_set_thread},
    {"T", 0, h_thread_alive},
    {"c", 0, h_continue},
    {"C", 0, h_continue_signal},
    {"s", 0, h_step},
    {"S", 0, h_step_signal},
    {"D", 0, h_detach},
    {"k", 1, h_kill},
};

/* ---- replies ------------------------------------------------------------- */

int reply_str(struct unigdb_session *s, const char *text)
{
    s->reply.len = 0;
    if (unigdb_buf_puts(&s->reply, text))
        s->reply.len = 0; /* out of memory: an empty reply is all we have */
    return REPLY;
}

int reply_errno(struct unigdb_session *s, int err)
{
    char text[8];

    snprintf(text, sizeof(text), "E%02x",
             (unsigned)(err < 0 ? -err : err) & 0xff);
    return reply_str(s, text);
}

int reply_msg(struct unigdb_session *s, const char *text)
{
    s->reply.len = 0;
    if (unigdb_buf_puts(&s->reply, "E.") || unigdb_buf_puts(&s->reply, text))
        return reply_str(s, "E01");
    return REPLY;
}

void stub_log(const struct unigdb_session *s, const char *fmt, ...)
{
    va_list ap;

    if (!s->cfg->verbose)
        return;
    fprintf(stderr, "unigdb: %s: ", s->cfg->name ? s->cfg->name : "guest");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* In ack mode, keep the packet framed from (start) on for a resend. */
static int keep_last(struct unigdb_session *s, size_t start)
{
    if (s->noack)
        return 0;
    s->last.len = 0;
    return unigdb_buf_put(&s->last, s->out.p + start, s->out.len - start);
}

/* Frame (data) into the output. */
static int send_packet(struct unigdb_session *s, const void *data, size_t len)
{
    size_t start = s->out.len;

    if (unigdb_frame(&s->out, data, len))
        return -ENOMEM;
    return keep_last(s, start);
}

int emit_packet(struct unigdb_session *s, const void *data, size_t len)
{
    return send_packet(s, data, len);
}

int emit_console(struct unigdb_session *s, const char *text)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(text);
    char *pkt = malloc(2 * n + 1);
    int err;

    if (!pkt)
        return -ENOMEM;
    pkt[0] = 'O';
    for (size_t i = 0; i < n; i++) {
        pkt[1 + 2 * i] = hex[(unsigned char)text[i] >> 4];
        pkt[2 + 2 * i] = hex[(unsigned char)text[i] & 15];
    }
    stub_log(s, "-> O %s", text);
    err = send_packet(s, pkt, 2 * n + 1);
    free(pkt);
    return err;
}

const char *unigdb_cannot_run(enum usc_vm_state state, int held)
{
    switch (state) {
    case USC_VM_PAUSED:
        return held ? "the guest crashed and unirun holds it (run state "
                      "\"paused\"): it does not run again; its registers "
                      "and memory stay readable"
                    : NULL;
    case USC_VM_SHUTDOWN:
        return "the guest has shut down (run state \"shutdown\"): it "
               "cannot run again; its registers and memory stay readable";
    case USC_VM_PANICKED:
        return "the guest panicked (run state \"guest-panicked\"): it is "
               "held for a look and does not run again; its registers and "
               "memory stay readable";
    case USC_VM_ERROR:
        return "the hypervisor stopped the guest on an internal error (run "
               "state \"internal-error\"): it cannot run again; its registers "
               "and memory stay readable";
    default:
        return NULL;
    }
}

int emit_hex_packet(struct unigdb_session *s, const void *data, size_t len)
{
    size_t start = s->out.len;

    if (unigdb_frame_hex(&s->out, data, len))
        return -ENOMEM;
    stub_log(s, "-> %zu bytes of memory", len);
    return keep_last(s, start);
}

/* ---- dispatch ------------------------------------------------------------ */

static int dispatch(struct unigdb_session *s, const char *pkt, size_t len)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        const struct command *c = &commands[i];
        size_t n = strlen(c->name);

        if (len < n || memcmp(pkt, c->name, n) != 0)
            continue;
        if (c->exact && len != n)
            continue;
        return c->fn(s, pkt + n, len - n);
    }
    return reply_str(s, "");
}

static int handle_packet(struct unigdb_session *s)
{
    const char *pkt = s->rd.pkt;
    size_t len = s->rd.pktlen;
    int r;

    if (!s->noack && unigdb_buf_put(&s->out, "+", 1))
        return -ENOMEM;
    stub_log(s, "<- %.*s", len > 200 ? 200 : (int)len, pkt);
    s->reply.len = 0;
    if (s->running) {
        /* all-stop: gdb only interrupts a running guest */
        r = reply_msg(s, "the guest is running");
    } else if (s->done) {
        r = reply_msg(s, "the session has ended");
    } else {
        r = dispatch(s, pkt, len);
    }
    if (r == NO_REPLY)
        return 0;
    stub_log(s, "-> %.*s", s->reply.len > 200 ? 200 : (int)s->reply.len,
             s->reply.p ? s->reply.p : "");
    return send_packet(s, s->reply.p ? s->reply.p : "", s->reply.len);
}

int unigdb_session_input(struct unigdb_session *s, const char *buf, size_t len)
{
    while (len) {
        size_t used = 0;
        enum unigdb_input in = unigdb_reader_feed(&s->rd, buf, len, &used);
        int err = 0;

        buf += used;
        len -= used;
        switch (in) {
        case UNIGDB_IN_PACKET:
            err = handle_packet(s);
            break;
        case UNIGDB_IN_INTERRUPT:
            if (s->running && !s->interrupted) {
                /* the wait reports what came of it; a failure, nothing */
                err = usc_target_pause(s->t);
                s->interrupted = err == 0;
                stub_log(s, "<- interrupt: %s", err ? strerror(-err) : "ok");
                err = 0;
            }
            break;
        case UNIGDB_IN_NACK:
            if (!s->noack && s->last.len)
                err = unigdb_buf_put(&s->out, s->last.p, s->last.len);
            break;
        case UNIGDB_IN_BAD:
            if (!s->noack)
                err = unigdb_buf_put(&s->out, "-", 1);
            break;
        case UNIGDB_IN_TOO_LONG:
            /* a resend would be as long: refuse it instead */
            if (!s->noack)
                err = unigdb_buf_put(&s->out, "+", 1);
            if (!err)
                err = send_packet(s, "E.packet too long", 17);
            break;
        default: /* acks, and the end of the bytes */
            break;
        }
        if (err)
            return err;
    }
    return 0;
}

/* ---- waiting for a stop -------------------------------------------------- */

/* While the guest runs: has its agent just reported a panic? */
static int agent_panicked_now(struct unigdb_session *s)
{
    struct usc_agent_status st;

    if (!s->agent || s->agent_state == USC_STATE_PANICKED ||
        usc_agent_status(s->agent, &st) != 0)
        return 0;
    return st.state == USC_STATE_PANICKED;
}

int unigdb_session_wait(struct unigdb_session *s, int timeout_ms)
{
    struct usc_stop_event ev;
    int err;

    if (!s->running)
        return 0;
    if (!s->panic_stop && agent_panicked_now(s)) {
        stub_log(s, "the guest panicked: stopping it");
        s->panic_stop = 1;
        usc_target_pause(s->t);
    }
    memset(&ev, 0, sizeof(ev));
    err = usc_target_wait_stop(s->t, timeout_ms, &ev);
    if (err == -ETIMEDOUT || err == -EINTR)
        return 0;
    if (err < 0)
        return err;
    s->running = 0;
    vcpu_regs_forget(s);
    agent_refresh(s);
    if (threads_refresh(s))
        return -ENOMEM;
    stop_from_event(s, &ev);
    s->interrupted = s->panic_stop = 0;
    if (s->stop.exited)
        s->done = 1;
    if (unigdb_cannot_run(s->stuck, s->cfg->held)) {
        char text[400];

        snprintf(text, sizeof(text), "unigdb: %s: %s\n",
                 s->cfg->name ? s->cfg->name : "guest",
                 unigdb_cannot_run(s->stuck, s->cfg->held));
        if (emit_console(s, text))
            return -ENOMEM;
    }
    s->reply.len = 0;
    if (stop_reply(s, &s->reply))
        return -ENOMEM;
    stub_log(s, "-> %s", s->reply.p);
    err = send_packet(s, s->reply.p, s->reply.len);
    return err ? err : 1;
}

int unigdb_session_running(const struct unigdb_session *s)
{
    return s->running;
}

int unigdb_session_done(const struct unigdb_session *s)
{
    return s->done;
}

struct unigdb_buf *unigdb_session_output(struct unigdb_session *s)
{
    return &s->out;
}

/* ---- attach and detach --------------------------------------------------- */

/* Stop a guest that runs, so that gdb finds it stopped. */
static int stop_guest(struct unigdb_session *s)
{
    struct usc_stop_event ev;
    enum usc_vm_state st = s->info.state;
    int err;

    if (!s->ctrl)
        return 0;
    if (st == USC_VM_UNKNOWN && usc_target_run_state(s->t, &st) < 0)
        st = USC_VM_UNKNOWN;
    if (st == USC_VM_DEAD)
        return -ECONNREFUSED;
    /* A guest QEMU holds stopped is looked at as it is. */
    if (unigdb_cannot_run(st, s->cfg->held))
        s->stuck = st;
    if (st != USC_VM_RUNNING && st != USC_VM_UNKNOWN)
        return 0;
    err = usc_target_pause(s->t);
    if (err < 0)
        return err;
    s->touched = 1;
    err = usc_target_wait_stop(s->t, ATTACH_STOP_MS, &ev);
    return err == -ETIMEDOUT ? -EBUSY : err;
}

int unigdb_session_open(struct usc_target *t, const struct unigdb_config *cfg,
                        struct unigdb_session **out)
{
    struct unigdb_session *s;
    const struct usc_regs *regs;
    int err, no_regs = 0;

    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->t = t;
    s->cfg = cfg;
    err = unigdb_reader_init(&s->rd, UNIGDB_PACKET_MAX);
    if (err)
        goto err;
    err = usc_target_describe(t, &s->info);
    if (err)
        goto err;
    s->nvcpus = s->info.nvcpus ? s->info.nvcpus : 1;
    s->ctrl = s->info.can_control;
    s->vregs = calloc(s->nvcpus, sizeof(*s->vregs));
    s->vregs_ok = calloc(s->nvcpus, 1);
    s->scratch = malloc(UNIGDB_PACKET_MAX);
    if (!s->vregs || !s->vregs_ok || !s->scratch) {
        err = -ENOMEM;
        goto err;
    }
    /* Another debugger holding the guest is found out before we touch
     * it: reading registers fails then, and changes nothing. */
    if (s->ctrl) {
        struct usc_regs probe;

        err = usc_target_get_regs(t, 0, &probe);
        if (err)
            goto err;
    }
    err = stop_guest(s);
    if (err)
        goto err;
    /* Registers now: a guest held by another debugger fails here, not
     * in the middle of gdb's first questions. */
    err = vcpu_regs(s, 0, &regs);
    /* no registers at all (a VMM process without its stub): memory and
     * the agent's threads still are */
    if (err == -ENOTSUP && !s->ctrl) {
        no_regs = 1;
        err = 0;
    }
    if (err)
        goto err;
    s->touched = s->ctrl;
    agent_refresh(s);
    err = threads_refresh(s);
    if (err)
        goto err;
    s->stop.signal = GDB_SIGNAL_TRAP;
    s->stop.tid = 1;
    /* gdb needs the stopped thread's pc: without vCPU registers, the
     * first agent thread that is switched out has one */
    for (size_t i = 0; no_regs && i < s->nthreads; i++)
        if (s->threads[i].agent && !s->threads[i].live &&
            s->threads[i].at.state != USC_THREAD_RUNNING) {
            s->stop.tid = s->threads[i].tid;
            break;
        }
    if (s->have_panic) {
        /* attaching to a crashed guest shows the crash, as a core would */
        s->stop.signal = panic_signal(&s->panic);
        if (s->panic.thread_id &&
            thread_find(s, thread_agent_tid(s, s->panic.thread_id)))
            s->stop.tid = thread_agent_tid(s, s->panic.thread_id);
        else if (s->panic.vcpu < s->nvcpus)
            s->stop.tid = (int64_t)s->panic.vcpu + 1;
    }
    *out = s;
    return 0;
err:
    unigdb_session_close(s);
    return err;
}

int unigdb_session_close(struct unigdb_session *s)
{
    int err = 0, e;

    if (!s)
        return 0;
    /* a guest we stopped (or that gdb left stopped) runs again */
    if (s->touched && !s->stop.exited) {
        err = points_remove_all(s);
        e = resume_on_leaving(s);
        if (!err)
            err = e;
    }
    usc_agent_close(s->agent);
    free(s->athreads);
    free(s->threads);
    free(s->points);
    free(s->vregs);
    free(s->vregs_ok);
    free(s->scratch);
    unigdb_buf_free(&s->out);
    unigdb_buf_free(&s->reply);
    unigdb_buf_free(&s->last);
    unigdb_buf_free(&s->threads_xml);
    unigdb_reader_free(&s->rd);
    free(s);
    return err;
}
