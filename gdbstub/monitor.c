/* gdb's "monitor" commands (qRcmd): the agent's view of the guest. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stub.h"

#define COMMAND_MAX 256
#define LOG_DEFAULT 4096u
#define LOG_MAX (1u << 20)

static const char help_text[] =
    "unigdb monitor commands:\n"
    "  monitor threads      the guest agent's threads: id, name, state, vCPU,\n"
    "                       CPU time, switches, what a blocked one waits on\n"
    "  monitor metrics      the agent's counters and gauges\n"
    "  monitor log [BYTES]  the end of the guest's console log (default 4096)\n"
    "  monitor panic        the agent's panic record\n"
    "  monitor info         the guest: hypervisor, state, vCPUs, memory\n"
    "  monitor dump FILE ADDR LEN\n"
    "                       write LEN bytes of memory at ADDR (as the current\n"
    "                       thread sees it) into FILE, created by unigdb\n"
    "                       (mode 0600, relative to its directory), whole or\n"
    "                       not at all: gdb's 'dump binary memory' without\n"
    "                       gdb's packet decoding, many times faster\n"
    "  monitor help         this text\n"
    "gdb thread ids: vCPU N is thread N + 1; agent thread ID is thread\n"
    "vCPUs + 1 + ID.\n";

/* Send (text) to gdb's console as 'O' packets. */
static int output(struct unigdb_session *s, const char *text, size_t len)
{
    struct unigdb_buf pkt = {0};
    size_t chunk = (UNIGDB_PACKET_MAX - 2) / 2;
    int err = 0;

    for (size_t at = 0; at < len && !err; at += chunk) {
        size_t n = len - at < chunk ? len - at : chunk;

        pkt.len = 0;
        err = unigdb_buf_put(&pkt, "O", 1);
        if (!err)
            err = unigdb_buf_hex(&pkt, text + at, n);
        if (!err)
            err = emit_packet(s, pkt.p, pkt.len);
    }
    unigdb_buf_free(&pkt);
    return err;
}

/* A copy of the guest's string (s) fit for gdb's terminal. */
static const char *printable(const char *s, char *buf, size_t cap)
{
    size_t i;

    for (i = 0; s[i] && i + 1 < cap; i++)
        buf[i] = s[i] >= ' ' && s[i] <= '~' ? s[i] : '?';
    buf[i] = '\0';
    return buf;
}

static int no_agent(struct unigdb_session *s, struct unigdb_buf *o)
{
    (void)s;
    return unigdb_buf_puts(o, "no uniscope agent found in this guest\n");
}

static double ticks_seconds(const struct unigdb_session *s, uint64_t ticks)
{
    uint64_t hz = usc_agent_header(s->agent)->ts_hz;

    return hz ? (double)ticks / (double)hz : 0.0;
}

static int cmd_threads(struct unigdb_session *s, const char *args,
                       struct unigdb_buf *o)
{
    int err;

    (void)args;
    if (!s->agent)
        return no_agent(s, o);
    err = unigdb_buf_printf(o, "%6s %6s %-20s %-9s %4s %12s %10s  %s\n",
                            "THREAD", "ID", "NAME", "STATE", "VCPU", "CPU-TIME",
                            "SWITCHES", "WAITS-ON");
    for (size_t i = 0; i < s->nthreads && !err; i++) {
        const struct unigdb_thread *th = &s->threads[i];
        const struct usc_agent_thread *a = &th->at;
        static const char *const states[] = {"free", "runnable", "running",
                                             "blocked", "exited"};
        char wait[32] = "-", name[USC_NAME_MAX];

        if (!th->agent)
            continue;
        if (a->state == USC_THREAD_BLOCKED && a->wait_obj)
            snprintf(wait, sizeof(wait), "0x%" PRIx64, a->wait_obj);
        err = unigdb_buf_printf(
            o, "%6" PRId64 " %6u %-20s %-9s %4u %11.3fs %10" PRIu64 "  %s\n",
            th->tid, a->id, printable(a->name, name, sizeof(name)),
            th->panicked ? "panicked" : states[a->state <= 4 ? a->state : 0],
            a->vcpu, ticks_seconds(s, a->cpu_time), a->switches, wait);
    }
    return err;
}

static int cmd_metrics(struct unigdb_session *s, const char *args,
                       struct unigdb_buf *o)
{
    struct usc_agent_metric *m;
    size_t n = 0, cap;
    int err;

    (void)args;
    if (!s->agent)
        return no_agent(s, o);
    cap = usc_agent_header(s->agent)->metrics.capacity;
    m = calloc(cap ? cap : 1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    err = usc_agent_metrics(s->agent, m, cap, &n);
    if (err && err != -ENOSPC) {
        err = unigdb_buf_printf(o, "cannot read the metrics: %s\n",
                                strerror(-err));
        goto out;
    }
    err = 0;
    for (size_t i = 0; i < n && !err; i++) {
        char name[USC_NAME_MAX], unit[USC_UNIT_MAX];

        printable(m[i].name, name, sizeof(name));
        printable(m[i].unit, unit, sizeof(unit));
        if (m[i].kind == USC_METRIC_GAUGE)
            err = unigdb_buf_printf(o, "%-32s %20" PRId64 " %s\n", name,
                                    (int64_t)m[i].value, unit);
        else
            err = unigdb_buf_printf(o, "%-32s %20" PRIu64 " %s\n", name,
                                    m[i].value, unit);
    }
out:
    free(m);
    return err;
}

static int cmd_log(struct unigdb_session *s, const char *args,
                   struct unigdb_buf *o)
{
    unsigned long want = LOG_DEFAULT;
    size_t len = 0;
    char *buf, *end;
    int err;

    if (!s->agent)
        return no_agent(s, o);
    if (*args) {
        want = strtoul(args, &end, 10);
        if (*end || want == 0)
            return unigdb_buf_puts(o, "usage: monitor log [BYTES]\n");
        if (want > LOG_MAX)
            want = LOG_MAX;
    }
    buf = malloc(want);
    if (!buf)
        return -ENOMEM;
    err = usc_agent_log(s->agent, buf, want, &len, NULL);
    if (err)
        err = unigdb_buf_printf(o, "cannot read the log: %s\n", strerror(-err));
    for (size_t i = 0; i < len && !err; i++) {
        unsigned char c = (unsigned char)buf[i];

        /* guest bytes on gdb's terminal: printable text and newlines */
        if ((c < ' ' && c != '\n' && c != '\t') || c > '~')
            c = '?';
        err = unigdb_buf_put(o, &c, 1);
    }
    if (!err && len && buf[len - 1] != '\n')
        err = unigdb_buf_puts(o, "\n");
    free(buf);
    return err;
}

static int cmd_panic(struct unigdb_session *s, const char *args,
                     struct unigdb_buf *o)
{
    const struct usc_panic *p = &s->panic;
    const struct usc_regs *r = &p->regs;
    char reason[USC_REASON_MAX];
    int err;

    (void)args;
    if (!s->agent)
        return no_agent(s, o);
    if (!s->have_panic)
        return unigdb_buf_puts(o, "the guest has not panicked\n");
    err = unigdb_buf_printf(o, "reason:  %s\n",
                            printable(p->reason, reason, sizeof(reason)));
    if (p->vector == USC_PANIC_NO_VECTOR)
        err |= unigdb_buf_puts(o, "vector:  none (a software panic)\n");
    else
        err |= unigdb_buf_printf(o,
                                 "vector:  %" PRIu64 ", error code 0x%" PRIx64
                                 ", cr2 0x%" PRIx64 "\n",
                                 p->vector, p->error_code, p->cr2);
    err |= unigdb_buf_printf(o,
                             "vCPU:    %u, agent thread %u (gdb thread %" PRId64
                             "), panics seen %u\n",
                             p->vcpu, p->thread_id,
                             p->thread_id ? thread_agent_tid(s, p->thread_id)
                                          : (int64_t)p->vcpu + 1,
                             p->count);
    err |= unigdb_buf_printf(
        o,
        "rip 0x%016" PRIx64 " rsp 0x%016" PRIx64 " rbp 0x%016" PRIx64 "\n"
        "rax 0x%016" PRIx64 " rbx 0x%016" PRIx64 " rflags 0x%" PRIx64 "\n",
        r->rip, r->rsp, r->rbp, r->rax, r->rbx, r->rflags);
    return err ? -ENOMEM : 0;
}

static int cmd_info(struct unigdb_session *s, const char *args,
                    struct unigdb_buf *o)
{
    struct usc_target_info info;
    struct usc_agent_status st;
    int err;

    (void)args;
    if (usc_target_describe(s->t, &info))
        info = s->info;
    err = unigdb_buf_printf(
        o,
        "guest:      %s (%s)\nstate:      %s\n"
        "vCPUs:      %u\nmemory:     %" PRIu64 " MiB\n"
        "control:    %s\n",
        info.name, info.hypervisor, usc_vm_state_name(info.state), info.nvcpus,
        info.mem_bytes >> 20, info.can_control ? "yes" : "read-only");
    if (!err && s->agent && usc_agent_status(s->agent, &st) == 0) {
        static const char *const states[] = {"booting", "running", "panicked",
                                             "halted"};
        err = unigdb_buf_printf(o, "agent:      \"%s\", %s, up %.1fs\n",
                                usc_agent_header(s->agent)->name,
                                states[st.state <= 3 ? st.state : 0],
                                usc_agent_uptime(s->agent, &st));
    } else if (!err) {
        err = unigdb_buf_puts(o, "agent:      none found\n");
    }
    return err;
}

static int cmd_dump(struct unigdb_session *s, const char *args,
                    struct unigdb_buf *o)
{
    char words[COMMAND_MAX + 1];

    snprintf(words, sizeof(words), "%s", args);
    return monitor_dump(s, words, o);
}

static int cmd_help(struct unigdb_session *s, const char *args,
                    struct unigdb_buf *o)
{
    (void)s;
    (void)args;
    return unigdb_buf_puts(o, help_text);
}

static const struct {
    const char *name;
    int (*fn)(struct unigdb_session *s, const char *args, struct unigdb_buf *o);
} monitor_commands[] = {
    {"threads", cmd_threads}, {"metrics", cmd_metrics}, {"log", cmd_log},
    {"panic", cmd_panic},     {"info", cmd_info},       {"dump", cmd_dump},
    {"help", cmd_help},
};

int h_monitor(struct unigdb_session *s, const char *arg, size_t len)
{
    char cmd[COMMAND_MAX + 1], *args;
    struct unigdb_buf o = {0};
    int n, err = 0;
    size_t i;

    if (len % 2 || len / 2 > COMMAND_MAX)
        return reply_errno(s, -EINVAL);
    n = unigdb_hex_decode(arg, len, cmd);
    if (n < 0 || memchr(cmd, '\0', (size_t)n))
        return reply_errno(s, -EINVAL);
    cmd[n] = '\0';
    args = cmd + strcspn(cmd, " \t");
    if (*args)
        *args++ = '\0';
    args += strspn(args, " \t");
    /* the agent's tables as they are now, the guest being stopped */
    agent_refresh(s);
    if (threads_refresh(s))
        return reply_errno(s, -ENOMEM);
    for (i = 0; i < sizeof(monitor_commands) / sizeof(monitor_commands[0]); i++)
        if (strcmp(cmd, monitor_commands[i].name) == 0)
            break;
    if (i == sizeof(monitor_commands) / sizeof(monitor_commands[0]))
        err = unigdb_buf_printf(&o,
                                "unknown monitor command \"%s\"; try "
                                "\"monitor help\"\n",
                                cmd);
    else
        err = monitor_commands[i].fn(s, args, &o);
    if (!err)
        err = output(s, o.p ? o.p : "", o.len);
    unigdb_buf_free(&o);
    return err ? reply_errno(s, err) : reply_str(s, "OK");
}
