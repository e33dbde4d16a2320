/* Cooperative scheduler of named threads on every vCPU, reported to the
 * uniscope agent. */
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
    int cpu; /* the vCPU running it, -1: none */
    int pin; /* the only vCPU that may run it, -1: any */
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

/*
 * One lock for all of it, held with interrupts off. A switch hands it
 * over: taken by the thread (or idle loop) switching away, released by
 * the one switched to, once the first one's stack pointer is saved, so no
 * other vCPU can pick a thread up before it is fully switched out.
 */
static struct spinlock sched_lock;
static struct thread threads[MAX_THREADS];
static uint8_t stacks[MAX_THREADS][THREAD_STACK_SIZE]
    __attribute__((aligned(4096)));
static unsigned last_index;  /* round-robin position, shared */
static uint32_t next_id = 1; /* 0 means "no thread" to the agent */
static struct usc_metric *switches_metric;
static const struct usca_tp_field switch_fields[] = {USCA_U32("prev"),
                                                     USCA_U32("next")};
static struct usca_tracepoint tp_switch =
    USCA_TP("sched_switch", USC_TP_INSTANT, switch_fields);

void sched_init(void)
{
    for (unsigned i = 0; i < MAX_THREADS; i++)
        threads[i].cpu = threads[i].pin = -1;
    switches_metric =
        usca_metric_register("context_switches", "", USC_METRIC_COUNTER);
    usca_tracepoint_register(&tp_switch);
}

void sched_trace_off(void)
{
    __atomic_store_n(&tp_switch.enabled, 0, __ATOMIC_RELEASE);
}

int thread_create_on(const char *name, void (*fn)(void *), void *arg, int cpu)
{
    unsigned long flags = spin_lock_irqsave(&sched_lock);
    struct thread *t = NULL;
    unsigned i;

    /* An exited thread's slot is free once it is switched out for good. */
    for (i = 0; i < MAX_THREADS; i++) {
        struct thread *c = &threads[i];
        if ((c->state == T_FREE || c->state == T_EXITED) && c->cpu < 0) {
            t = c;
            break;
        }
    }
    if (!t) {
        spin_unlock_irqrestore(&sched_lock, flags);
        return -1;
    }
    t->id = next_id++;
    t->fn = fn;
    t->arg = arg;
    t->pin = cpu;
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
    spin_unlock_irqrestore(&sched_lock, flags);
    return 0;
}

int thread_create(const char *name, void (*fn)(void *), void *arg)
{
    return thread_create_on(name, fn, arg, -1);
}

/* Runnable now? Wakes a sleeper whose time has come. */
static int ready(struct thread *t)
{
    if (t->state == T_SLEEPING && demo_ticks >= t->wake_tick)
        t->state = T_RUNNABLE;
    return t->state == T_RUNNABLE;
}

/* May (c) run (t): not running elsewhere, not kept on another vCPU? */
static int may_run(const struct cpu *c, const struct thread *t)
{
    return (t->cpu < 0 || t == c->current) &&
           (t->pin < 0 || t->pin == (int)c->index);
}

/* The next thread (c) may run after the last one picked, round robin;
 * NULL if none. Its current thread comes last, so it runs on only when
 * alone. Lock held. */
static struct thread *pick_next(const struct cpu *c)
{
    for (unsigned n = 1; n <= MAX_THREADS; n++) {
        unsigned i = (last_index + n) % MAX_THREADS;
        if (may_run(c, &threads[i]) && ready(&threads[i])) {
            last_index = i;
            return &threads[i];
        }
    }
    return NULL;
}

/*
 * Switch (c) from (prev) to (next); NULL is c's idle loop. Lock held,
 * interrupts off; returns, with the lock held by whoever switched back
 * to prev, possibly on another vCPU.
 */
static void switch_to(struct cpu *c, struct thread *prev, struct thread *next)
{
    uint64_t *save = prev ? &prev->rsp : &c->idle_rsp;
    uint64_t to = next ? next->rsp : c->idle_rsp;
    /* an exited thread's agent slot is gone already */
    struct usc_thread *from =
        prev && prev->state != T_EXITED ? prev->agent : NULL;

    USCA_TRACE2(&tp_switch, prev ? prev->id : 0, next ? next->id : 0);
    usca_thread_switch(from, next ? next->agent : NULL);
    usca_counter_add(switches_metric, 1);
    if (prev)
        prev->cpu = -1;
    if (next)
        next->cpu = (int)c->index;
    c->current = next;
    switch_context(save, to);
    /* Not a tail call: the frame usca_thread_switch recorded must stay
     * on the stack while this thread is switched out. */
    barrier();
}

/* Give this vCPU to the next ready thread, or to its idle loop. Lock
 * held, interrupts off. */
static void schedule(void)
{
    struct cpu *c = this_cpu();
    struct thread *self = c->current;
    struct thread *next = pick_next(c);

    if (next == self) {
        /* it was alone, or woke before switching: tell the agent */
        if (self)
            usca_thread_set_state(self->agent, USC_THREAD_RUNNING, 0);
    } else {
        switch_to(c, self, next);
    }
}

void yield(void)
{
    unsigned long flags = spin_lock_irqsave(&sched_lock);
    schedule();
    spin_unlock_irqrestore(&sched_lock, flags);
}

void sleep_ticks_on(uint32_t n, const volatile void *wait_obj)
{
    unsigned long flags = spin_lock_irqsave(&sched_lock);
    struct thread *self = this_cpu()->current;

    self->wake_tick = demo_ticks + (n ? n : 1);
    self->state = T_SLEEPING;
    usca_thread_set_state(self->agent, USC_THREAD_BLOCKED,
                          (uint64_t)(uintptr_t)wait_obj);
    schedule();
    spin_unlock_irqrestore(&sched_lock, flags);
}

/* Written out rather than a call of sleep_ticks_on: the debugger tests
 * step through it line by line. */
void sleep_ticks(uint32_t n)
{
    if (n == 0) {
        yield();
        return;
    }
    unsigned long flags = spin_lock_irqsave(&sched_lock);
    struct thread *self = this_cpu()->current;
    self->wake_tick = demo_ticks + n;
    self->state = T_SLEEPING;
    usca_thread_set_state(self->agent, USC_THREAD_BLOCKED,
                          (uint64_t)(uintptr_t)&demo_ticks);
    schedule();
    spin_unlock_irqrestore(&sched_lock, flags);
}

_Noreturn void thread_exit(void)
{
    cli();
    spin_lock(&sched_lock);
    struct thread *self = this_cpu()->current;
    self->state = T_EXITED;
    usca_thread_exit(self->agent);
    self->agent = NULL;
    schedule();
    halt_forever(); /* an exited thread is never picked again */
}

_Noreturn void thread_start(struct thread *t)
{
    /* switched to from a scheduler, which holds the lock, interrupts off */
    spin_unlock(&sched_lock);
    sti();
    t->fn(t->arg);
    thread_exit();
}

const char *thread_current_name(void)
{
    struct thread *t = this_cpu()->current;
    return t ? t->name : "idle";
}

uint32_t thread_current_id(void)
{
    struct thread *t = this_cpu()->current;
    return t ? t->id : 0;
}

struct usc_thread *thread_current_agent(void)
{
    struct thread *t = this_cpu()->current;
    return t ? t->agent : NULL;
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
        spin_lock(&sched_lock);
        struct cpu *c = this_cpu();
        struct thread *next = pick_next(c);
        if (next) {
            switch_to(c, NULL, next);
            spin_unlock(&sched_lock);
            continue;
        }
        int alive = any_alive();
        spin_unlock(&sched_lock);
        if (!alive && c->index == 0)
            demo_exit(0);
        sti_hlt();
    }
}
