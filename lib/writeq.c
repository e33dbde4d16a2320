/* A background writer: chunks filled by one thread, written by another. */
#include "writeq.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct job {
    int fd;
    unsigned char *chunk;
    size_t len;
};

struct usc_writeq {
    pthread_mutex_t lock;
    pthread_cond_t work; /* a job was queued, or stop */
    pthread_cond_t done; /* a chunk came back, or the queue emptied */
    pthread_t thread;
    size_t chunk_size;
    unsigned max_chunks, allocated;
    unsigned char **spare; /* free chunks: a stack of (nspare) */
    unsigned nspare;
    struct job *jobs; /* a ring of max_chunks: [head, head + njobs) */
    unsigned head, njobs;
    int writing; /* the thread holds a job outside the lock */
    int stop;
    int err; /* the first write error */
};

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void *writer(void *arg)
{
    struct usc_writeq *q = arg;

    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!q->njobs && !q->stop)
            pthread_cond_wait(&q->work, &q->lock);
        if (!q->njobs)
            break;
        struct job j = q->jobs[q->head];
        q->head = (q->head + 1) % q->max_chunks;
        q->njobs--;
        q->writing = 1;
        pthread_mutex_unlock(&q->lock);
        /* after an error, nothing more: the stream would have a hole */
        int err = q->err ? 0 : write_all(j.fd, j.chunk, j.len);
        pthread_mutex_lock(&q->lock);
        if (err && !q->err)
            q->err = err;
        q->spare[q->nspare++] = j.chunk;
        q->writing = 0;
        pthread_cond_broadcast(&q->done);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

int usc_writeq_open(size_t chunk_size, unsigned max_chunks,
                    struct usc_writeq **out)
{
    struct usc_writeq *q;
    int err;

    *out = NULL;
    if (!chunk_size || !max_chunks)
        return -EINVAL;
    q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->chunk_size = chunk_size;
    q->max_chunks = max_chunks;
    q->spare = calloc(max_chunks, sizeof(*q->spare));
    q->jobs = calloc(max_chunks, sizeof(*q->jobs));
    if (!q->spare || !q->jobs) {
        err = -ENOMEM;
        goto err;
    }
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->done, NULL);
    err = -pthread_create(&q->thread, NULL, writer, q);
    if (err) {
        pthread_cond_destroy(&q->done);
        pthread_cond_destroy(&q->work);
        pthread_mutex_destroy(&q->lock);
        goto err;
    }
    *out = q;
    return 0;
err:
    free(q->jobs);
    free(q->spare);
    free(q);
    return err;
}

unsigned char *usc_writeq_get(struct usc_writeq *q)
{
    unsigned char *c = NULL;

    pthread_mutex_lock(&q->lock);
    while (!q->nspare && q->allocated == q->max_chunks)
        pthread_cond_wait(&q->done, &q->lock);
    if (q->nspare) {
        c = q->spare[--q->nspare];
    } else {
        c = malloc(q->chunk_size);
        if (c)
            q->allocated++;
    }
    pthread_mutex_unlock(&q->lock);
    return c;
}

void usc_writeq_put(struct usc_writeq *q, unsigned char *chunk)
{
    if (!chunk)
        return;
    pthread_mutex_lock(&q->lock);
    q->spare[q->nspare++] = chunk;
    pthread_cond_broadcast(&q->done);
    pthread_mutex_unlock(&q->lock);
}

int usc_writeq_submit(struct usc_writeq *q, int fd, unsigned char *chunk,
                      size_t len)
{
    int err;

    if (!len || len > q->chunk_size) {
        usc_writeq_put(q, chunk);
        return len ? -EINVAL : 0;
    }
    pthread_mutex_lock(&q->lock);
    /* every chunk that exists fits in the ring: a job always has a slot */
    q->jobs[(q->head + q->njobs) % q->max_chunks] =
        (struct job){.fd = fd, .chunk = chunk, .len = len};
    q->njobs++;
    err = q->err;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->lock);
    return err;
}

int usc_writeq_sync(struct usc_writeq *q)
{
    int err;

    pthread_mutex_lock(&q->lock);
    while (q->njobs || q->writing)
        pthread_cond_wait(&q->done, &q->lock);
    err = q->err;
    pthread_mutex_unlock(&q->lock);
    return err;
}

int usc_writeq_close(struct usc_writeq *q)
{
    int err;

    if (!q)
        return 0;
    err = usc_writeq_sync(q);
    pthread_mutex_lock(&q->lock);
    q->stop = 1;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    for (unsigned i = 0; i < q->nspare; i++)
        free(q->spare[i]);
    pthread_cond_destroy(&q->done);
    pthread_cond_destroy(&q->work);
    pthread_mutex_destroy(&q->lock);
    free(q->jobs);
    free(q->spare);
    free(q);
    return err;
}
