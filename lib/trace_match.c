/* Matching END events to open BEGINs, per thread (or vCPU) and per span. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trace_stats.h"

/* Open BEGINs one context may nest; deeper ones are refused (unmatched). */
#define MAX_DEPTH 4096u

struct slot {
    bool used;
    uint32_t thread, vcpu, begin; /* vcpu: ~0 for events of a thread */
    struct usc_trace_dir_event *stack;
    uint32_t depth, cap;
};

struct usc_trace_matcher {
    struct slot *slots;
    size_t cap, used; /* cap: a power of two */
};

struct usc_trace_matcher *usc_trace_matcher_new(void)
{
    return calloc(1, sizeof(struct usc_trace_matcher));
}

void usc_trace_matcher_free(struct usc_trace_matcher *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].stack);
    free(m->slots);
    free(m);
}

static size_t hash(uint32_t thread, uint32_t vcpu, uint32_t begin)
{
    uint64_t h = ((uint64_t)thread << 32 | begin) * 0x9e3779b97f4a7c15ull;
    return (size_t)((h ^ (h >> 29)) + vcpu * 0x85ebca6bu);
}

static struct slot *find(struct usc_trace_matcher *m, uint32_t thread,
                         uint32_t vcpu, uint32_t begin, bool create);

static int grow(struct usc_trace_matcher *m)
{
    struct slot *old = m->slots;
    size_t oldcap = m->cap;
    size_t cap = oldcap ? oldcap * 2 : 64;

    m->slots = calloc(cap, sizeof(*m->slots));
    if (!m->slots) {
        m->slots = old;
        return -ENOMEM;
    }
    m->cap = cap;
    m->used = 0;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].used)
            continue;
        struct slot *s =
            find(m, old[i].thread, old[i].vcpu, old[i].begin, true);
        *s = old[i];
    }
    free(old);
    return 0;
}

static struct slot *find(struct usc_trace_matcher *m, uint32_t thread,
                         uint32_t vcpu, uint32_t begin, bool create)
{
    if (create && (m->used + 1) * 2 > m->cap && grow(m) != 0)
        return NULL;
    if (!m->cap)
        return NULL;
    for (size_t i = hash(thread, vcpu, begin) & (m->cap - 1);;
         i = (i + 1) & (m->cap - 1)) {
        struct slot *s = &m->slots[i];
        if (!s->used) {
            if (!create)
                return NULL;
            memset(s, 0, sizeof(*s));
            s->used = true;
            s->thread = thread;
            s->vcpu = vcpu;
            s->begin = begin;
            m->used++;
            return s;
        }
        if (s->thread == thread && s->vcpu == vcpu && s->begin == begin)
            return s;
    }
}

/* Events of a thread match across vCPUs; events outside threads per vCPU. */
static uint32_t context_vcpu(const struct usc_trace_dir_event *ev)
{
    return ev->ev.thread ? UINT32_MAX : ev->vcpu;
}

int usc_trace_matcher_push(struct usc_trace_matcher *m,
                           const struct usc_trace_dir_event *ev)
{
    struct slot *s = find(m, ev->ev.thread, context_vcpu(ev), ev->ev.id, true);

    if (!s)
        return -ENOMEM;
    if (s->depth == MAX_DEPTH)
        return -ENOSPC;
    if (s->depth == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 4;
        struct usc_trace_dir_event *st = realloc(s->stack, cap * sizeof(*st));
        if (!st)
            return -ENOMEM;
        s->stack = st;
        s->cap = cap;
    }
    s->stack[s->depth++] = *ev;
    return 0;
}

int usc_trace_matcher_pop(struct usc_trace_matcher *m,
                          const struct usc_trace_dir_event *end,
                          struct usc_trace_dir_event *begin)
{
    struct slot *s =
        find(m, end->ev.thread, context_vcpu(end), end->ev.cls->pair, false);

    if (!s || s->depth == 0)
        return 0;
    *begin = s->stack[--s->depth];
    return 1;
}

void usc_trace_matcher_drain(struct usc_trace_matcher *m,
                             void (*fn)(void *arg,
                                        const struct usc_trace_dir_event *ev),
                             void *arg)
{
    for (size_t i = 0; i < m->cap; i++) {
        struct slot *s = &m->slots[i];
        for (uint32_t k = 0; s->used && k < s->depth; k++)
            fn(arg, &s->stack[k]);
        s->depth = 0;
    }
}
