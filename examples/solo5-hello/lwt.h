/* A small cooperative scheduler in the style of Lwt, for solo5-hello. */
#ifndef HELLO_LWT_H
#define HELLO_LWT_H

#include <stddef.h>
#include <stdint.h>

#include "solo5.h"

/*
 * Named tasks on stacks of their own, switched only where they wait: on
 * the clock (lwt_sleep), on a condition (lwt_wait) or to let others run
 * (lwt_yield). Each task, and the scheduler's own context ("main"), is a
 * thread of uniscope's agent: the scheduler calls the agent's thread hooks
 * as Lwt's would, so a debugger sees every task and where it waits. Solo5
 * has one vCPU and no threads; with no task ready the scheduler sleeps in
 * solo5_yield until the next task's deadline.
 */

/* Something tasks wait on until lwt_signal. */
struct lwt_cond {
    const char *name;
    int signalled;
};

/* Set up the scheduler on the heap Solo5 gave (start, size). */
void lwt_init(uintptr_t heap_start, size_t heap_size);

/*
 * Start task (name) running fn(arg), on a stack from the heap. Returns 0,
 * or -1 when the heap or the task table is full.
 */
int lwt_spawn(const char *name, void (*fn)(void *), void *arg);

/* Run the tasks until none is left or the clock reaches (until), 0: never. */
void lwt_run(solo5_time_t until);

/* In a task: wait (ns) nanoseconds; others run meanwhile. */
void lwt_sleep(solo5_time_t ns);

/* In a task: wait until (c) is signalled. */
void lwt_wait(struct lwt_cond *c);

/* Wake the tasks waiting on (c). */
void lwt_signal(struct lwt_cond *c);

/* In a task: let the other ready tasks run first. */
void lwt_yield(void);

/* The running task's name ("main" in the scheduler). */
const char *lwt_self(void);

/* Heap bytes handed out so far. */
size_t lwt_heap_used(void);

#endif
