/* The Lwt-style scheduler: tasks, their stacks, and the agent's hooks. */
#include "lwt.h"

#include "agent_optional.h"

#define LWT_MAX 16
#define LWT_STACK (16 * 1024)
#define IDLE_NS 1000000000ull /* the longest solo5_yield with no deadline */

enum lwt_state { LWT_FREE, LWT_READY, LWT_SLEEPING, LWT_WAITING, LWT_DONE };

struct lwt_task {
    uint64_t sp; /* saved stack pointer while switched out */
    const char *name;
    uint32_t id;
    enum lwt_state state;
    solo5_time_t wake;
    struct lwt_cond *cond;
    void (*fn)(void *);
    void *arg;
    struct usc_thread *agent;
};

/* What a sleeping task waits on, as the agent records it. */
struct lwt_timer {
    solo5_time_t next_wake;
};
struct lwt_timer lwt_timer;

static struct lwt_task tasks[LWT_MAX];
static struct lwt_task main_task = {.name = "main", .id = 1};
static struct lwt_task *current = &main_task;
static uint32_t next_id = 2;
static uintptr_t heap_next, heap_end, heap_base;
static struct usc_metric *m_heap, *m_switches;

static const struct usca_tp_field switch_fields[] = {USCA_U32("prev"),
                                                     USCA_U32("next")};
static struct usca_tracepoint tp_switch =
    USCA_TP("sched_switch", USC_TP_INSTANT, switch_fields);

/* lwt_switch.S */
void lwt_switch_context(uint64_t *save_sp, uint64_t next_sp);
void lwt_trampoline(void);

void lwt_init(uintptr_t heap_start, size_t heap_size)
{
    heap_base = heap_next = (heap_start + 15) & ~(uintptr_t)15;
    heap_end = heap_start + heap_size;
    if (!HAVE_AGENT)
        return;
    main_task.agent = usca_thread_create(main_task.id, main_task.name);
    usca_thread_switch(0, main_task.agent);
    m_heap = usca_metric_register("heap_used", "bytes", USC_METRIC_GAUGE);
    m_switches =
        usca_metric_register("context_switches", "", USC_METRIC_COUNTER);
    usca_tracepoint_register(&tp_switch);
}

size_t lwt_heap_used(void)
{
    return heap_next - heap_base;
}

static void *heap_alloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (heap_end - heap_next < n)
        return 0;
    void *p = (void *)heap_next;
    heap_next += n;
    if (HAVE_AGENT)
        usca_gauge_set(m_heap, (int64_t)lwt_heap_used());
    return p;
}

/*
 * Switch from the running task to (next). The agent saves the registers
 * of this call for the task switched out: a debugger unwinds it from here
 * up to where it waits.
 */
static __attribute__((noinline)) void lwt_switch(struct lwt_task *next)
{
    struct lwt_task *prev = current;

    if (HAVE_AGENT) {
        usca_thread_switch(prev->agent, next->agent);
        usca_counter_add(m_switches, 1);
    }
    USCA_TRACE2(&tp_switch, prev->id, next->id);
    current = next;
    lwt_switch_context(&prev->sp, next->sp);
}

/* The first code of every task, on its own stack (lwt_trampoline). */
_Noreturn void lwt_task_start(struct lwt_task *t);

_Noreturn void lwt_task_start(struct lwt_task *t)
{
    t->fn(t->arg);
    t->state = LWT_DONE;
    if (HAVE_AGENT)
        usca_thread_exit(t->agent);
    t->agent = 0;
    lwt_switch(&main_task);
    __builtin_unreachable();
}

int lwt_spawn(const char *name, void (*fn)(void *), void *arg)
{
    struct lwt_task *t = 0;

    for (int i = 0; i < LWT_MAX && !t; i++)
        if (tasks[i].state == LWT_FREE || tasks[i].state == LWT_DONE)
            t = &tasks[i];
    uint8_t *stack = t ? heap_alloc(LWT_STACK) : 0;
    if (!stack)
        return -1;
    /* As lwt_switch_context leaves a stack: r15 r14 r13 r12 rbx rbp, then
     * the return into lwt_trampoline, which finds the task in r12 and
     * calls lwt_task_start with the stack 16-byte aligned. */
    uint64_t *sp = (uint64_t *)(stack + LWT_STACK - 72);
    for (int i = 0; i < 9; i++)
        sp[i] = 0;
    sp[3] = (uint64_t)(uintptr_t)t;
    sp[6] = (uint64_t)(uintptr_t)lwt_trampoline;
    *t = (struct lwt_task){
        .sp = (uint64_t)(uintptr_t)sp,
        .name = name,
        .id = next_id++,
        .state = LWT_READY,
        .fn = fn,
        .arg = arg,
    };
    if (HAVE_AGENT)
        t->agent = usca_thread_create(t->id, name);
    return 0;
}

/* Back to the scheduler, blocked on (what) unless 0. */
static void block(uint64_t what)
{
    if (HAVE_AGENT && what)
        usca_thread_set_state(current->agent, USC_THREAD_BLOCKED, what);
    lwt_switch(&main_task);
}

void lwt_sleep(solo5_time_t ns)
{
    current->wake = solo5_clock_monotonic() + ns;
    current->state = LWT_SLEEPING;
    block((uint64_t)(uintptr_t)&lwt_timer);
}

void lwt_wait(struct lwt_cond *c)
{
    if (c->signalled)
        return;
    current->cond = c;
    current->state = LWT_WAITING;
    block((uint64_t)(uintptr_t)c);
}

void lwt_signal(struct lwt_cond *c)
{
    c->signalled = 1;
    for (int i = 0; i < LWT_MAX; i++)
        if (tasks[i].state == LWT_WAITING && tasks[i].cond == c)
            tasks[i].state = LWT_READY;
}

void lwt_yield(void)
{
    current->state = LWT_READY;
    block(0);
}

const char *lwt_self(void)
{
    return current->name;
}

void lwt_run(solo5_time_t until)
{
    int last = LWT_MAX - 1;

    for (;;) {
        solo5_time_t now = solo5_clock_monotonic();
        solo5_time_t deadline = until ? until : now + IDLE_NS;
        int live = 0, ran = 0;

        if (until && now >= until)
            return;
        /* Round robin from the task after the last one run. */
        for (int k = 1; k <= LWT_MAX && !ran; k++) {
            int i = (last + k) % LWT_MAX;
            struct lwt_task *t = &tasks[i];
            if (t->state == LWT_SLEEPING && t->wake <= now)
                t->state = LWT_READY;
            if (t->state == LWT_READY) {
                last = i;
                ran = 1;
                lwt_switch(t);
            }
        }
        if (ran)
            continue;
        for (int i = 0; i < LWT_MAX; i++) {
            struct lwt_task *t = &tasks[i];
            live += t->state == LWT_SLEEPING || t->state == LWT_WAITING;
            if (t->state == LWT_SLEEPING && t->wake < deadline)
                deadline = t->wake;
        }
        if (!live)
            return;
        lwt_timer.next_wake = deadline;
        solo5_yield(deadline, 0);
    }
}
