/*
 * uksched threads in the agent's thread table.
 *
 * Create and exit come from uksched's own thread init/term table
 * (UK_THREAD_INIT_PRIO_FLAGS), for every thread whatever its features.
 * uksched has no hook at a context switch: uk_sched_thread_switch (inline,
 * in each scheduler) ends in an out-of-line call to ukarch_ctx_switch,
 * which the link wraps (-Wl,--wrap=ukarch_ctx_switch): uk_hooks.S captures
 * the leaving thread's registers and calls usca_uk_switch below, then
 * jumps on to Unikraft's ukarch_ctx_switch.
 * A thread that is not runnable when it is switched out has blocked.
 */
#include <uk/essentials.h>
#include <uk/plat/lcpu.h>
#include <uk/prio.h>
#include <uk/sched.h>
#include <uk/thread.h>

#include "glue.h"

struct map_entry {
    struct uk_thread *ut; /* NULL: free */
    struct usc_thread *at;
    const char *name; /* ut->name when last seen */
    uint32_t id;
};

static struct map_entry map[USCA_UK_MAX_THREADS];
static int map_lock;
static uint32_t next_id = 1;

/* The entry of each vCPU's running thread, so that a switch finds prev
 * without a search. */
static struct map_entry *running[CONFIG_UKPLAT_LCPU_MAXCOUNT];

static const struct usca_tp_field switch_fields[] = {USCA_U32("prev"),
                                                     USCA_U32("next")};
static struct usca_tracepoint tp_switch =
    USCA_TP("sched_switch", USC_TP_INSTANT, switch_fields);

static unsigned long map_take_lock(void)
{
    unsigned long flags = ukplat_lcpu_save_irqf();

    while (__atomic_exchange_n(&map_lock, 1, __ATOMIC_ACQUIRE))
        __builtin_ia32_pause();
    return flags;
}

static void map_drop_lock(unsigned long flags)
{
    __atomic_store_n(&map_lock, 0, __ATOMIC_RELEASE);
    ukplat_lcpu_restore_irqf(flags);
}

static struct map_entry *find(const struct uk_thread *ut)
{
    for (size_t i = 0; i < USCA_UK_MAX_THREADS; i++)
        if (__atomic_load_n(&map[i].ut, __ATOMIC_ACQUIRE) == ut)
            return &map[i];
    return NULL;
}

static const char *name_of(const struct uk_thread *ut)
{
    return ut->name ? ut->name : "unnamed";
}

/* Give (ut) a slot in the agent's table and in the map. */
static void track(struct uk_thread *ut)
{
    unsigned long flags = map_take_lock();
    struct map_entry *e = find(ut) ? NULL : find(NULL);

    if (e) {
        e->id = next_id++;
        e->name = ut->name;
        e->at = usca_thread_create(e->id, name_of(ut));
        if (e->at) {
            if (!uk_thread_is_runnable(ut))
                usca_thread_set_state(e->at, USC_THREAD_BLOCKED, 0);
            __atomic_store_n(&e->ut, ut, __ATOMIC_RELEASE);
            usca_uk_metrics_threads(1);
        }
    }
    map_drop_lock(flags);
}

static int on_create(struct uk_thread *child, struct uk_thread *parent __unused)
{
    if (usca_uk_ready)
        track(child);
    return 0;
}

static void on_exit(struct uk_thread *child)
{
    unsigned long flags = map_take_lock();
    struct map_entry *e = usca_uk_ready ? find(child) : NULL;

    if (e) {
        usca_thread_exit(e->at);
        for (size_t v = 0; v < CONFIG_UKPLAT_LCPU_MAXCOUNT; v++)
            if (running[v] == e)
                running[v] = NULL;
        __atomic_store_n(&e->ut, NULL, __ATOMIC_RELEASE);
        e->at = NULL;
        usca_uk_metrics_threads(-1);
    }
    map_drop_lock(flags);
}

/* Every thread, whatever its features (flags 0), as early as may be. */
UK_THREAD_INIT_PRIO_FLAGS(on_create, on_exit, UK_PRIO_EARLIEST, 0);

void usca_uk_threads_start(void)
{
    struct uk_thread *t, *cur = uk_thread_current();
    struct uk_sched *s = uk_sched_current();

    usca_tracepoint_register(&tp_switch);
    if (!cur || !s)
        return;
    /* The threads made before the agent: "init" (running this), "idle" */
    uk_sched_foreach_thread(s, t)
    {
        track(t);
    }
    track(cur);
    struct map_entry *e = find(cur);
    uint32_t v = usca_port_vcpu();

    if (e && v < CONFIG_UKPLAT_LCPU_MAXCOUNT) {
        running[v] = e;
        usca_thread_switch_regs(NULL, e->at, NULL);
    }
}

/*
 * Called by __wrap_ukarch_ctx_switch (uk_hooks.S) with the contexts of
 * the thread leaving (store) and the one coming (load), and (regs): the
 * registers a debugger unwinds the thread leaving from.
 */
void usca_uk_switch(struct ukarch_ctx *store, struct ukarch_ctx *load,
                    const struct usc_saved_regs *regs)
{
    struct uk_thread *prev = __containerof(store, struct uk_thread, ctx);
    struct uk_thread *next = __containerof(load, struct uk_thread, ctx);
    uint32_t v = usca_port_vcpu();
    struct map_entry *p, *n;

    if (!usca_uk_ready || v >= CONFIG_UKPLAT_LCPU_MAXCOUNT)
        return;
    p = running[v] && running[v]->ut == prev ? running[v] : find(prev);
    n = find(next);
    if (p && !uk_thread_is_exited(prev) && !uk_thread_is_runnable(prev))
        usca_thread_set_state(p->at, USC_THREAD_BLOCKED, 0);
    if (n && n->name != next->name) {
        n->name = next->name;
        usca_thread_rename(n->at, name_of(next));
    }
    USCA_TRACE2(&tp_switch, p ? p->id : 0, n ? n->id : 0);
    usca_thread_switch_regs(p ? p->at : NULL, n ? n->at : NULL, regs);
    running[v] = n;
    usca_uk_metrics_switch();
}
