/* The details of one guest: vCPUs, agent threads, metrics, console tail. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdio.h"
#include "ui.h"

#define LOG_BYTES 16384 /* of the console ring read for its tail */
#define LOG_LINES 60
#define LINE_MAX_COLS 256

struct line {
    char text[LINE_MAX_COLS];
    int attr;
};

struct lines {
    struct line *v;
    size_t n, cap;
};

static void add(struct lines *l, int attr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add(struct lines *l, int attr, const char *fmt, ...)
{
    va_list ap;

    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        struct line *nv = realloc(l->v, ncap * sizeof(*nv));

        if (!nv)
            return;
        l->v = nv;
        l->cap = ncap;
    }
    va_start(ap, fmt);
    vsnprintf(l->v[l->n].text, sizeof(l->v[l->n].text), fmt, ap);
    va_end(ap);
    l->v[l->n++].attr = attr;
}

static const char *thread_state(uint32_t s)
{
    static const char *const names[] = {"free", "runnable", "running",
                                        "blocked", "exited"};

    return s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

/* Seconds with two decimals under a minute, else as UPTIME prints. */
static void seconds(double s, char *buf, size_t size)
{
    if (isnan(s) || s < 0)
        snprintf(buf, size, "-");
    else if (s < 60)
        snprintf(buf, size, "%.2fs", s);
    else
        top_format_duration(s, buf, size);
}

static void summary(struct top_ui *ui, const struct top_fleet *f,
                    const struct top_guest *g, struct lines *l)
{
    char fig[8][64];
    static const int idx[] = {2, 3, 4, 5};

    for (int i = 0; i < 4; i++) {
        const struct top_column *c = top_columns[idx[i]];
        struct top_value v = {0};

        c->get(g, f->tick_epoch, &v, NULL, 0);
        top_value_format(&v, c->fmt, fig[i], sizeof(fig[i]));
    }
    add(l, top_ui_state_attr(ui, g->state), "%s  %s", g->name,
        top_state_name(g->state));
    if (g->kind == TOP_KIND_XEN)
        add(l, A_NORMAL,
            "Xen domain %u (%s)   VCPUS %s   CPU%% %s   MEM %s   UPTIME %s",
            g->dom.domid, g->dom.hvm ? "HVM/PVH" : "PV", fig[0], fig[1], fig[2],
            fig[3]);
    else if (g->kind == TOP_KIND_PROC)
        add(l, A_NORMAL,
            "%s process %d, not unirun's   VCPUS %s   CPU%% %s   MEM %s   "
            "UPTIME %s",
            usc_vmm_name(g->proc.vmm), g->proc.pid, fig[0], fig[1], fig[2],
            fig[3]);
    else if (g->hv && g->hv->valid)
        add(l, A_NORMAL,
            "QEMU pid %lld   VCPUS %s   CPU%% %s   MEM %s   "
            "UPTIME %s",
            (long long)g->hv->cur.pid, fig[0], fig[1], fig[2], fig[3]);
    else
        add(l, A_NORMAL, "%s   VCPUS %s   MEM %s   UPTIME %s",
            g->kind == TOP_KIND_AGENT_ONLY ? "known by its RAM file alone"
                                           : "no answer from QEMU yet",
            fig[0], fig[2], fig[3]);
    if (g->ag.agent)
        add(l, A_NORMAL, "agent \"%s\"%s", g->ag.name,
            g->ag.valid ? "" : " (not readable now)");
    else
        add(l, A_NORMAL, "no agent found (%s)", strerror(-g->ag.err));
    if (g->trace_pid)
        add(l, top_ui_attr(ui, UI_C_WARN), "tracing (unitrace pid %d)",
            (int)g->trace_pid);
}

static void vcpus(struct top_ui *ui, const struct top_guest *g, struct lines *l)
{
    const struct top_hv *hv = g->hv;

    if (!hv || !hv->valid || hv->cur.nvcpu_stats == 0)
        return;
    add(l, A_NORMAL, "%s", "");
    add(l, top_ui_attr(ui, UI_C_BAR), "%5s %9s %6s %10s %10s", "VCPU",
        "HOST-TID", "CPU%", "CPU-TIME", "EXITS");
    for (uint32_t v = 0; v < hv->cur.nvcpu_stats; v++) {
        const struct top_vcpu *c = &hv->cur.vcpu[v];
        char pct[16] = "-", tid[24] = "-", cpu[24], exits[24] = "-";

        if (!isnan(hv->vcpu_pct[v]))
            snprintf(pct, sizeof(pct), "%.1f", hv->vcpu_pct[v]);
        if (c->tid > 0)
            snprintf(tid, sizeof(tid), "%lld", (long long)c->tid);
        seconds(c->cpu_ns == USC_STAT_UNKNOWN ? NAN : (double)c->cpu_ns / 1e9,
                cpu, sizeof(cpu));
        if (c->exits != USC_STAT_UNKNOWN)
            snprintf(exits, sizeof(exits), "%llu",
                     (unsigned long long)c->exits);
        add(l, A_NORMAL, "%5u %9s %6s %10s %10s", v, tid, pct, cpu, exits);
    }
}

/* Keep (n) threads' CPU times, unless the last ones are too recent. */
static void keep_threads(struct top_ui *ui, const struct top_guest *g,
                         const struct usc_agent_thread *t, size_t n,
                         int64_t now_ms)
{
    if (!strcmp(ui->tprev_guest, g->name) &&
        now_ms - ui->tprev_ms < ui->delay_ms / 2)
        return;
    if (n > ui->tprev_cap) {
        struct ui_thread_prev *nv = realloc(ui->tprev, n * sizeof(*nv));

        if (!nv)
            return;
        ui->tprev = nv;
        ui->tprev_cap = n;
    }
    for (size_t i = 0; i < n; i++)
        ui->tprev[i] =
            (struct ui_thread_prev){t[i].slot, t[i].id, t[i].cpu_time};
    ui->ntprev = n;
    ui->tprev_ms = now_ms;
    snprintf(ui->tprev_guest, sizeof(ui->tprev_guest), "%s", g->name);
}

/* CPU% of thread (t) since the kept times, NAN when not comparable. */
static double thread_pct(const struct top_ui *ui, const struct top_guest *g,
                         const struct usc_agent_thread *t, double hz,
                         int64_t now_ms)
{
    double dt = (double)(now_ms - ui->tprev_ms) / 1000.0;

    if (strcmp(ui->tprev_guest, g->name) || dt <= 0 || hz <= 0)
        return NAN;
    for (size_t i = 0; i < ui->ntprev; i++)
        if (ui->tprev[i].slot == t->slot && ui->tprev[i].id == t->id &&
            t->cpu_time >= ui->tprev[i].cpu_time)
            return (double)(t->cpu_time - ui->tprev[i].cpu_time) / hz / dt *
                   100.0;
    return NAN;
}

struct agent_read {
    struct top_ui *ui;
    struct top_guest *g;
    struct lines *l;
    int64_t now_ms;
};

static void threads(struct agent_read *r)
{
    struct top_ui *ui = r->ui;
    struct usc_agent *a = r->g->ag.agent;
    double hz = (double)usc_agent_header(a)->ts_hz;
    uint32_t cap = usc_agent_header(a)->threads.capacity;
    size_t n = 0;
    int err;

    if (cap > ui->threads_cap) {
        struct usc_agent_thread *nv = realloc(ui->threads, cap * sizeof(*nv));

        if (!nv)
            return;
        ui->threads = nv;
        ui->threads_cap = cap;
    }
    size_t nbad = 0;
    err = usc_agent_threads_salvage(a, ui->threads, ui->threads_cap, &n, NULL,
                                    &nbad);
    add(r->l, A_NORMAL, "%s", "");
    if (err) {
        add(r->l, top_ui_attr(ui, UI_C_BAD), "threads: %s", strerror(-err));
        return;
    }
    if (nbad)
        add(r->l, top_ui_attr(ui, UI_C_BAD),
            "%zu thread slot(s) refused as corrupt (a state or vCPU out of "
            "range, or a name without its end): left out",
            nbad);
    add(r->l, top_ui_attr(ui, UI_C_BAR), "%5s %-24s %-9s %4s %6s %10s %10s",
        "ID", "THREAD", "STATE", "VCPU", "CPU%", "CPU-TIME", "SWITCHES");
    for (size_t i = 0; i < n; i++) {
        const struct usc_agent_thread *t = &ui->threads[i];
        double pct = thread_pct(ui, r->g, t, hz, r->now_ms);
        char name[USC_NAME_MAX], p[16] = "-", cpu[24];

        usc_sanitize_text(name, sizeof(name), t->name, sizeof(t->name));
        if (!isnan(pct))
            snprintf(p, sizeof(p), "%.1f", pct);
        seconds(hz > 0 ? (double)t->cpu_time / hz : NAN, cpu, sizeof(cpu));
        add(r->l, A_NORMAL, "%5u %-24s %-9s %4u %6s %10s %10llu", t->id, name,
            thread_state(t->state), t->vcpu, p, cpu,
            (unsigned long long)t->switches);
    }
    keep_threads(ui, r->g, ui->threads, n, r->now_ms);
}

static void metrics(struct agent_read *r)
{
    const struct top_agent *ag = &r->g->ag;

    add(r->l, A_NORMAL, "%s", "");
    add(r->l, top_ui_attr(r->ui, UI_C_BAR), "%-31s %-7s %20s %12s %s", "METRIC",
        "KIND", "VALUE", "RATE/s", "UNIT");
    for (size_t i = 0; i < ag->nmetrics; i++) {
        const struct top_metric *m = &ag->metrics[i];
        char rate[32] = "-", value[32];

        if (m->kind == USC_METRIC_COUNTER) {
            snprintf(value, sizeof(value), "%llu",
                     (unsigned long long)m->value);
            if (!isnan(m->rate))
                snprintf(rate, sizeof(rate), "%.1f", m->rate);
        } else {
            snprintf(value, sizeof(value), "%lld",
                     (long long)(int64_t)m->value);
        }
        add(r->l, A_NORMAL, "%-31s %-7s %20s %12s %s", m->name,
            m->kind == USC_METRIC_COUNTER ? "counter" : "gauge", value, rate,
            m->unit);
    }
}

static void panic_record(struct agent_read *r)
{
    struct usc_panic p;

    if (usc_agent_panic(r->g->ag.agent, &p) != 0)
        return;
    char reason[USC_REASON_MAX];

    usc_sanitize_text(reason, sizeof(reason), p.reason, sizeof(p.reason));
    add(r->l, A_NORMAL, "%s", "");
    add(r->l, top_ui_attr(r->ui, UI_C_BAD), "PANIC on vCPU %u: %s", p.vcpu,
        reason);
    if (p.vector != USC_PANIC_NO_VECTOR)
        add(r->l, A_NORMAL,
            "vector %llu  error code %#llx  cr2 %#llx  "
            "rip %#llx  thread %u",
            (unsigned long long)p.vector, (unsigned long long)p.error_code,
            (unsigned long long)p.cr2, (unsigned long long)p.regs.rip,
            p.thread_id);
}

/* The last lines of the agent's console log ring. */
static void console(struct agent_read *r)
{
    char *buf = malloc(LOG_BYTES), line[LINE_MAX_COLS];
    size_t len = 0, start, count = 0;
    size_t first = 0;

    if (!buf)
        return;
    if (usc_agent_log(r->g->ag.agent, buf, LOG_BYTES, &len, NULL) != 0 ||
        len == 0) {
        free(buf);
        return;
    }
    /* Count back LOG_LINES line breaks from the end. */
    for (start = len; start > 0; start--) {
        if (buf[start - 1] == '\n' && start != len && ++count == LOG_LINES)
            break;
    }
    first = start;
    add(r->l, A_NORMAL, "%s", "");
    add(r->l, top_ui_attr(r->ui, UI_C_BAR), "%s", "CONSOLE (the agent's log)");
    while (first < len) {
        char *nl = memchr(buf + first, '\n', len - first);
        size_t n = nl ? (size_t)(nl - (buf + first)) : len - first;

        if (n && buf[first + n - 1] == '\r')
            n--;
        usc_sanitize_text(line, sizeof(line), buf + first, n);
        add(r->l, A_NORMAL, "%s", line);
        first += (nl ? (size_t)(nl - (buf + first)) + 1 : len - first);
    }
    free(buf);
}

static void agent_parts(void *arg)
{
    struct agent_read *r = arg;

    if (!r->g->ag.agent)
        return;
    panic_record(r);
    threads(r);
    metrics(r);
    console(r);
}

void top_ui_draw_detail(struct top_ui *ui, struct top_fleet *f)
{
    static const char *const keys[] = {
        "Esc", "Back", "F9", "Actions", "Up/Dn", "Scroll", "F10", "Quit", NULL};
    struct top_guest *g = top_ui_selected(ui);
    struct lines l = {0};
    int64_t now = usc_now_ms();
    int rows = LINES > 2 ? LINES - 2 : 0;

    if (!g)
        return;
    summary(ui, f, g, &l);
    vcpus(ui, g, &l);
    struct agent_read r = {ui, g, &l, now};

    top_agent_guarded(&g->ag, now, agent_parts, &r);
    if (ui->scroll > (int)l.n - rows)
        ui->scroll = (int)l.n - rows > 0 ? (int)l.n - rows : 0;
    attron(top_ui_attr(ui, UI_C_TITLE));
    top_ui_put(0, 0, COLS, l.n ? l.v[0].text : "");
    attroff(top_ui_attr(ui, UI_C_TITLE));
    for (int y = 1; y <= rows; y++) {
        size_t i = (size_t)(ui->scroll + y);

        if (i >= l.n)
            break;
        attron(l.v[i].attr);
        top_ui_put(y, 0, COLS, l.v[i].text);
        attroff(l.v[i].attr);
    }
    top_ui_draw_keys(ui, keys);
    free(l.v);
}
