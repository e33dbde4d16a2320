/* solo5-hello: a Solo5 unikernel with Lwt-style tasks, metrics, a trace and
 * planted crashes, for uniscope's tools to look at. */
#include "agent_optional.h"
#include "lwt.h"

#define MS 1000000ull /* nanoseconds */
#define WORKERS_MAX 8

/* The guest name the agent publishes (the port reads it, if linked). */
const char usca_solo5_name[] = "solo5-hello";

/* What the crasher of mode=fault reads: nothing is mapped there. */
volatile uint64_t *volatile hello_bad_pointer =
    (volatile uint64_t *)0xdeadbeef000ull;
/* Checked by mode=crash: a request count that a bug made negative. */
volatile int64_t hello_pending = -1;
/* Items the workers have done, and what they computed (a checksum). */
volatile uint64_t hello_items, hello_sum;

static struct lwt_cond hello_request = {.name = "hello_request"};
static struct usc_metric *m_ticks, *m_items;

static const struct usca_tp_field tick_fields[] = {USCA_U64("n")};
static const struct usca_tp_field item_fields[] = {USCA_U64("item")};
static struct usca_tracepoint tp_tick =
    USCA_TP("tick", USC_TP_INSTANT, tick_fields);
static struct usca_tracepoint tp_work_begin =
    USCA_TP("work_begin", USC_TP_BEGIN, item_fields);
static struct usca_tracepoint tp_work_end =
    USCA_TP_END("work_end", tp_work_begin, item_fields);

static struct {
    const char *mode;
    unsigned workers;
    uint64_t after_ms, runtime_ms;
} opt = {"work", 2, 200, 0};

/* ---- console --------------------------------------------------------- */

static size_t length(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

/* Print the strings up to a NULL, then a newline. */
static void say(const char *first, ...)
{
    __builtin_va_list ap;

    __builtin_va_start(ap, first);
    for (const char *s = first; s; s = __builtin_va_arg(ap, const char *))
        solo5_console_write(s, length(s));
    __builtin_va_end(ap);
    solo5_console_write("\n", 1);
}

static const char *dec(uint64_t v, char buf[24])
{
    char *p = buf + 23;
    *p = 0;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

/* ---- command line: mode=work|idle|crash|fault workers=N after=MS
 *      runtime=MS ---------------------------------------------------- */

/* Does (word) start with (key)? Then the value after it, else NULL. */
static const char *value(const char *word, const char *key)
{
    while (*key)
        if (*word++ != *key++)
            return 0;
    return word;
}

static uint64_t number(const char *s)
{
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (uint64_t)(*s++ - '0');
    return v;
}

static int same(const char *a, const char *b)
{
    while (*a && *a != ' ' && *a == *b)
        a++, b++;
    return (*a == 0 || *a == ' ') && *b == 0;
}

static void parse(const char *cmdline)
{
    static const char *const modes[] = {"work", "idle", "crash", "fault"};
    const char *w = cmdline, *v;

    while (w && *w) {
        while (*w == ' ')
            w++;
        if ((v = value(w, "mode="))) {
            for (unsigned i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
                if (same(v, modes[i]))
                    opt.mode = modes[i];
        } else if ((v = value(w, "workers="))) {
            opt.workers = (unsigned)number(v);
        } else if ((v = value(w, "after="))) {
            opt.after_ms = number(v);
        } else if ((v = value(w, "runtime="))) {
            opt.runtime_ms = number(v);
        }
        while (*w && *w != ' ')
            w++;
    }
    if (opt.workers < 1 || opt.workers > WORKERS_MAX)
        opt.workers = 2;
}

/* ---- the tasks -------------------------------------------------------- */

static void ticker(void *arg)
{
    solo5_time_t period = (uintptr_t)arg * MS;

    for (uint64_t n = 1;; n++) {
        lwt_sleep(period);
        if (HAVE_AGENT)
            usca_counter_add(m_ticks, 1);
        USCA_TRACE1(&tp_tick, n);
    }
}

/* One work item: some computation, not to be optimised away. */
__attribute__((noinline)) uint64_t hello_work(uint64_t item)
{
    uint64_t h = item * 0x9e3779b97f4a7c15ull;

    for (int i = 0; i < 20000; i++)
        h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull + (uint64_t)i;
    return h;
}

static void worker(void *arg)
{
    (void)arg;
    for (;;) {
        uint64_t item = ++hello_items;
        USCA_TRACE1(&tp_work_begin, item);
        hello_sum += hello_work(item);
        USCA_TRACE1(&tp_work_end, item);
        if (HAVE_AGENT)
            usca_counter_add(m_items, 1);
        lwt_sleep(2 * MS);
    }
}

/* Waits for a request that never comes: blocked on hello_request. */
static void waiter(void *arg)
{
    (void)arg;
    lwt_wait(&hello_request);
    say("waiter: a request came", NULL);
}

/* Sleeps a minute at a time: its wait point is in lwt_sleep. */
static void sleeper(void *arg)
{
    (void)arg;
    for (;;)
        lwt_sleep(60000 * MS);
}

/* mode=fault: three calls deep, a read through hello_bad_pointer. */
__attribute__((noinline)) uint64_t fault_level3(void)
{
    return *hello_bad_pointer;
}

__attribute__((noinline)) uint64_t fault_level2(void)
{
    return fault_level3() + 1;
}

__attribute__((noinline)) uint64_t fault_level1(void)
{
    return fault_level2() + 1;
}

/* mode=crash: an assertion that fails, and aborts through Solo5. */
__attribute__((noinline, noreturn)) void hello_assert_fail(const char *what)
{
    say("solo5-hello: assertion failed: ", what, NULL);
    solo5_abort();
}

__attribute__((noinline)) void hello_check_requests(void)
{
    if (hello_pending < 0)
        hello_assert_fail("hello_pending >= 0");
}

static void crasher(void *arg)
{
    (void)arg;
    lwt_sleep(opt.after_ms * MS);
    if (same(opt.mode, "fault")) {
        say("crasher: reading through hello_bad_pointer (0xdeadbeef000)", NULL);
        hello_sum += fault_level1();
    } else {
        say("crasher: checking the request count", NULL);
        hello_check_requests();
    }
    say("crasher: still alive", NULL);
}

/* ---- main ------------------------------------------------------------- */

static void start(const char *name, void (*fn)(void *), void *arg)
{
    if (lwt_spawn(name, fn, arg) != 0)
        say("solo5-hello: cannot start ", name, NULL);
}

int solo5_app_main(const struct solo5_start_info *si)
{
    static const char *const names[WORKERS_MAX] = {
        "worker-0", "worker-1", "worker-2", "worker-3",
        "worker-4", "worker-5", "worker-6", "worker-7"};
    char n[24];

    parse(si->cmdline);
    lwt_init(si->heap_start, si->heap_size);
    if (HAVE_AGENT) {
        m_ticks = usca_metric_register("hello_ticks", "", USC_METRIC_COUNTER);
        m_items = usca_metric_register("work_items", "", USC_METRIC_COUNTER);
        usca_tracepoint_register(&tp_tick);
        usca_tracepoint_register(&tp_work_end);
    }
    say("solo5-hello: mode=", opt.mode, ", ", dec(opt.workers, n), " workers",
        HAVE_AGENT ? ", with uniscope's agent" : ", no agent", NULL);

    int idle = same(opt.mode, "idle");
    start("ticker", ticker, (void *)(uintptr_t)(idle ? 100 : 10));
    start("waiter", waiter, NULL);
    start("sleeper", sleeper, NULL);
    for (unsigned i = 0; !idle && i < opt.workers; i++)
        start(names[i], worker, NULL);
    if (same(opt.mode, "crash") || same(opt.mode, "fault"))
        start("crasher", crasher, NULL);

    lwt_run(opt.runtime_ms ? solo5_clock_monotonic() + opt.runtime_ms * MS : 0);
    say("solo5-hello: done after ", dec(hello_items, n), " items", NULL);
    return 0;
}
