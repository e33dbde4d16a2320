/* Worker threads that ask hypervisors, so a hung QEMU never freezes unitop. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "unitop.h"

struct top_pool {
    pthread_mutex_t lock;
    pthread_cond_t work; /* a job was queued, or stop */
    pthread_cond_t idle; /* a job finished */
    struct top_guest **queue, **done;
    size_t nqueue, qcap, ndone, dcap;
    pthread_t threads[TOP_WORKERS_MAX];
    int nthreads, max_threads, waiting, running, stop;
    int efd;
};

/* Append (g) to the array (*v) of (*n) entries, (*cap) allocated. */
static int push(struct top_guest ***v, size_t *n, size_t *cap,
                struct top_guest *g)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct top_guest **nv = realloc(*v, ncap * sizeof(*nv));

        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = ncap;
    }
    (*v)[(*n)++] = g;
    return 0;
}

static void *worker(void *arg)
{
    struct top_pool *p = arg;
    uint64_t one = 1;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        struct top_guest *g;

        while (!p->stop && p->nqueue == 0) {
            p->waiting++;
            pthread_cond_wait(&p->work, &p->lock);
            p->waiting--;
        }
        if (p->stop)
            break;
        /* First in, first out: the queue is short, memmove is fine. */
        g = p->queue[0];
        memmove(p->queue, p->queue + 1, --p->nqueue * sizeof(*p->queue));
        p->running++;
        pthread_mutex_unlock(&p->lock);
        top_hv_run(g->hv, g->name, g->hv->job);
        pthread_mutex_lock(&p->lock);
        p->running--;
        /* Out of memory here loses the result; the guest then stays busy
         * and shows stalled, which is the truth as far as we know. */
        if (push(&p->done, &p->ndone, &p->dcap, g) == 0 &&
            write(p->efd, &one, sizeof(one)) < 0) {
            /* the counter is far from overflowing: nothing to do */
        }
        pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int top_pool_new(int nthreads, struct top_pool **out)
{
    struct top_pool *p = calloc(1, sizeof(*p));
    pthread_condattr_t ca;

    if (!p)
        return -ENOMEM;
    p->max_threads = nthreads < 1                 ? 1
                     : nthreads > TOP_WORKERS_MAX ? TOP_WORKERS_MAX
                                                  : nthreads;
    p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->efd < 0) {
        int err = -errno;

        free(p);
        return err;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->idle, &ca);
    pthread_condattr_destroy(&ca);
    *out = p;
    return 0;
}

/* Start one more worker, with every signal left to the main thread. */
static int grow(struct top_pool *p)
{
    sigset_t all, old;
    int err;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&p->threads[p->nthreads], NULL, worker, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err)
        return -err;
    p->nthreads++;
    return 0;
}

int top_pool_submit(struct top_pool *p, struct top_guest *g)
{
    int err;

    pthread_mutex_lock(&p->lock);
    err = push(&p->queue, &p->nqueue, &p->qcap, g);
    if (!err && p->waiting == 0 && p->nthreads < p->max_threads &&
        grow(p) < 0 && p->nthreads == 0) {
        p->nqueue--;
        err = -EAGAIN;
    }
    if (!err)
        pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->lock);
    return err;
}

struct top_guest *top_pool_done(struct top_pool *p)
{
    struct top_guest *g = NULL;
    uint64_t count;

    pthread_mutex_lock(&p->lock);
    if (p->ndone)
        g = p->done[--p->ndone];
    if (p->ndone == 0 && read(p->efd, &count, sizeof(count)) < 0) {
        /* EAGAIN: already clear */
    }
    pthread_mutex_unlock(&p->lock);
    return g;
}

int top_pool_fd(const struct top_pool *p)
{
    return p->efd;
}

int top_pool_free(struct top_pool *p, int wait_ms)
{
    struct timespec until;

    if (!p)
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    p->nqueue = 0;
    pthread_cond_broadcast(&p->work);
    while (p->running > 0 &&
           pthread_cond_timedwait(&p->idle, &p->lock, &until) != ETIMEDOUT)
        ;
    if (p->running > 0) {
        /* A QEMU that does not answer: its worker ends with the process. */
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->idle);
    close(p->efd);
    free(p->queue);
    free(p->done);
    free(p);
    return 1;
}
