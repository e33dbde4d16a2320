/* Cooperative scheduler of named threads, reported to the uniscope agent. */
#include <uniscope/agent.h>

#include "cpu.h"
#include "kernel.h"

enum thread_state {
    T_FREE,
    T_RUNNABLE, /* includes the running thread */
    T_SLEEPING,
    T_EXITED,
};

struct thread {
    uint64_t rsp; /* saved by switch_context while switched out */
    uint32_t id;
    enum thread_state state;
    uint64_t wake_tick;
    void (*fn)(void *);
    void *arg;
    struct usc_thread *agent;
    char name[USC_NAME_MAX];
};

/* switch.S */
void switch_context(uint64_t *save_rsp, uint64_t new_rsp);
void thread_trampoline(void);
_Noreturn void thread_start(struct thread *t);

static struct thread threads[MAX_THREADS];
static uint8_t stacks[MAX_THREADS][THREAD_STACK_SIZE]
    __attribute__((aligned(4096)));
static struct thread *current; /* NULL: the idle loop on the boot stack */
static uint64_t idle_rsp;
static unsigned last_index;  /* round-robin position */
static uint32_t next_id = 1; /* 0 means "no thread" to the agent */
static struct usc_metric *switches_metric;
static const struct usca_tp_field switch_fields[] = {USCA_U32("prev"),
                                                     USCA_U32("next")};
static struct usca_tracepoint tp_switch =
    USCA_TP("sched_switch", USC_TP_INSTANT, switch_fields);

void sched_init(void)
{
    switches_metric =
        usca_metric_register("context_switches", "", USC_METRIC_COUNTER);
    usca_tracepoint_register(&tp_switch);
}

int thread_create(const char *name, void (*fn)(void *), void *arg)
{
    unsigned long flags = save_flags_cli();
    struct thread *t = NULL;
    unsigned i;

    for (i = 0; i < MAX_THREADS; i++) {
        struct thread *c = &threads[i];
        if ((c->state == T_FREE || c->state == T_EXITED) && c != current) {
            t = c;
            break;
        }
    }
    if (!t) {
        restore_flags(flags);
        return -1;
    }
    t->id = next_id++;
    t->fn = fn;
    t->arg = arg;
    strlcpy(t->name, name, sizeof(t->name));

    /* The frame switch_context pops: r15 r14 r13 r12 rbx rbp, then ret. */
    uint64_t *sp = (uint64_t *)(uintptr_t)(stacks[i] + THREAD_STACK_SIZE);
    *--sp = 0; /* a null return address ends a frame-pointer walk */
    *--sp = (uint64_t)(uintptr_t)thread_trampoline;
    *--sp = 0;                      /* rbp */
    *--sp = 0;                      /* rbx */
    *--sp = (uint64_t)(uintptr_t)t; /* r12: the trampoline's argument */
    *--sp = 0;                      /* r13 */
    *--sp = 0;                      /* r14 */
    *--sp = 0;                      /* r15 */
    t->rsp = (uint64_t)(uintptr_t)sp;
    t->agent = usca_thread_create(t->id, t->name);
    t->state = T_RUNNABLE;
    restore_flags(flags);
    return 0;
}

/* Runnable now? Wakes a sleeper whose time has come. */
static int ready(struct thread *t)
{
    if (t->state == T_SLEEPING && demo_ticks >= t->wake_tick)
        t->state = T_RUNNABLE;
    return t->state == T_RUNNABLE;
}

/* The next ready thread after the last one picked, round robin; NULL if
 * none. The current thread comes last, so it runs on only when alone. */
static struct thread *pick_next(void)
{
    for (unsigned n = 1; n <= MAX_THREADS; n++) {
        unsigned i = (last_index + n) % MAX_THREADS;
        if (ready(&threads[i])) {
            last_index = i;
            return &threads[i];
        }
    }
    return NULL;
}

/* Switch from (prev) to (next); NULL is the idle loop. Interrupts off. */
static void switch_to(struct thread *prev, struct thread *next)
{
    uint64_t *save = prev ? &prev->rsp : &idle_rsp;
    uint64_t to = next ? next->rsp : idle_rsp;
    /* an exited thread's agent slot is gone already */
    struct usc_thread *from =
        prev && prev->state != T_EXITED ? prev->agent : NULL;

    USCA_TRACE2(&tp_switch, prev ? prev->id : 0, next ? next->id : 0);
    usca_thread_switch(from, next ? next->agent : NULL);
    usca_counter_add(switches_metric, 1);
    current = next;
    switch_context(save, to);
    /* Not a tail call: the frame usca_thread_switch recorded must stay
     * on the stack while this thread is switched out. */
    barrier();
}

/* Give the CPU to the next ready thread, or to the idle loop. */
static void schedule(void)
{
    unsigned long flags = save_flags_cli();
    struct thread *self = current;
    struct thread *next = pick_next();

    if (next == self) {
        /* it was alone, or woke before switching: tell the agent */
        usca_thread_set_state(self->agent, USC_THREAD_RUNNING, 0);
    } else {
        switch_to(self, next);
    }
    restore_flags(flags);
}

void yield(void)
{
    schedule();
}

void sleep_ticks(uint32_t n)
{
    if (n == 0) {
        yield();
        return;
    }
    unsigned long flags = save_flags_cli();
    current->wake_tick = demo_ticks + n;
    current->state = T_SLEEPING;
    usca_thread_set_state(current->agent, USC_THREAD_BLOCKED,
                          (uint64_t)(uintptr_t)&demo_ticks);
    schedule();
    restore_flags(flags);
}

void sleep_ticks_on(uint32_t n, const volatile void *wait_obj)
{
    unsigned long flags = save_flags_cli();
    current->wake_tick = demo_ticks + (n ? n : 1);
    current->state = T_SLEEPING;
    usca_thread_set_state(current->agent, USC_THREAD_BLOCKED,
                          (uint64_t)(uintptr_t)wait_obj);
    schedule();
    restore_flags(flags);
}

_Noreturn void thread_exit(void)
{
    cli();
    current->state = T_EXITED;
    usca_thread_exit(current->agent);
    current->agent = NULL;
    schedule();
    halt_forever(); /* an exited thread is never picked again */
}

_Noreturn void thread_start(struct thread *t)
{
    sti(); /* switched to from the scheduler, which runs with them off */
    t->fn(t->arg);
    thread_exit();
}

const char *thread_current_name(void)
{
    return current ? current->name : "idle";
}

static int any_alive(void)
{
    for (unsigned i = 0; i < MAX_THREADS; i++) {
        if (threads[i].state == T_RUNNABLE || threads[i].state == T_SLEEPING)
            return 1;
    }
    return 0;
}

_Noreturn void sched_run(void)
{
    for (;;) {
        cli();
        struct thread *next = pick_next();
        if (next) {
            switch_to(NULL, next);
            continue;
        }
        if (!any_alive())
            demo_exit(0);
        sti_hlt();
    }
}
