/* A background writer: buffers filled by one thread, written by another. */
#ifndef USC_WRITEQ_H
#define USC_WRITEQ_H

#include <stddef.h>

/*
 * A trace drain must hand a ring's packets back to the guest within the
 * time the ring lasts (under a millisecond at 10 M events/s), and a write
 * to a file can stall for longer than that. So the drain copies packets
 * into chunks and submits them; a thread of the queue writes them, in
 * submission order, each with one write(2) of all its bytes, and gives
 * the chunk back. One thread fills and submits; the queue's thread writes.
 */
struct usc_writeq;

/*
 * A queue of chunks of (chunk_size) bytes, at most (max_chunks) of them
 * allocated at once (so a writer that falls behind holds the caller back
 * instead of taking all memory). Starts its thread. Stores it in (*out).
 * Returns 0, -EINVAL, -ENOMEM or the error starting the thread.
 */
int usc_writeq_open(size_t chunk_size, unsigned max_chunks,
                    struct usc_writeq **out);

/*
 * An empty chunk of the queue's chunk size, the caller's until submitted.
 * Waits while every chunk is in use. Returns NULL only when no memory is
 * left for a first one.
 */
unsigned char *usc_writeq_get(struct usc_writeq *q);

/*
 * Queue the first (len) bytes of (chunk), taken from usc_writeq_get, to be
 * appended to (fd) (which must stay open until usc_writeq_sync returns);
 * the chunk belongs to the queue from here on. len 0 just gives it back.
 * Returns 0, or the error of an earlier write (the chunk is taken back
 * either way).
 */
int usc_writeq_submit(struct usc_writeq *q, int fd, unsigned char *chunk,
                      size_t len);

/* Give back a chunk that will not be submitted. */
void usc_writeq_put(struct usc_writeq *q, unsigned char *chunk);

/*
 * Wait until every submitted chunk is written. Returns 0 or the first
 * write error since the queue opened (-errno, -EIO for a short write).
 */
int usc_writeq_sync(struct usc_writeq *q);

/* Sync, stop the thread and free (q) and its chunks. NULL: no-op. */
int usc_writeq_close(struct usc_writeq *q);

#endif /* USC_WRITEQ_H */
