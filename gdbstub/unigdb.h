/* unigdb's parts outside the protocol: sockets, serving, images, gdb. */
#ifndef UNIGDB_H
#define UNIGDB_H

#include <stddef.h>

#include "session.h"
#include "target.h"

#define UNIGDB_EXIT_FAIL 1
#define UNIGDB_EXIT_USAGE 2

/* Where unigdb listens unless told: gdb's own habit, on loopback only. */
#define UNIGDB_DEFAULT_LISTEN "127.0.0.1:1234"

/* Print "unigdb: (context): (reason...)" as one line on stderr. */
void unigdb_error(const char *context, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- listen.c -------------------------------------------------------------
 */

/* A listening socket and how to name it to gdb. */
struct unigdb_listener {
    int fd;
    char unix_path[108]; /* set for a unix socket: removed at close */
    char where[300];     /* what gdb's "target remote" takes */
};

/*
 * Listen on (addr): "unix:PATH" (a unix socket, mode 0600; a stale socket
 * file nobody listens on is replaced) or "HOST:PORT" ("[V6]:PORT"; port 0
 * picks one, shown in (l)->where). Returns 0; -EINVAL for a malformed
 * address; -EADDRINUSE; another negative errno.
 */
int unigdb_listen(const char *addr, struct unigdb_listener *l);

/* Close (l) and remove its unix socket file. */
void unigdb_listener_close(struct unigdb_listener *l);

/* ---- serve.c --------------------------------------------------------------
 */

/*
 * The file descriptor that wakes the server when it becomes readable (a
 * signal handler writes to it), or -1.
 */
void unigdb_serve_wake_fd(int fd);

/*
 * Serve gdb clients of (t) on (l), one at a time (a second one is told
 * why it is refused), until woken, or after the first client when (once).
 * Returns 0, or the negative errno that ended it (the guest went away, a
 * failure to attach with (once)); errors are reported on stderr.
 */
int unigdb_serve(struct usc_target *t, const struct unigdb_config *cfg,
                 struct unigdb_listener *l, int once);

/* ---- image.c --------------------------------------------------------------
 */

/*
 * Find the file whose symbols fit the guest (spec) (opened as (t)), with
 * usc_image_find (lib/imagefind.h): (given) when not NULL; else for a
 * unirun guest the image its guest.json names, for a core the image its
 * USCOPE note names; a boot wrapper's debug file beside it; by build-id
 * (the agent's, else the core note's) in .build-id trees and debuginfod.
 * Stores the path in (out) of (cap) bytes. Returns 0; -ENOENT when none
 * is known; -ENAMETOOLONG; another error for a (given) that is no image.
 * Prints one line per candidate passed over, a warning when (given) has
 * another build-id than the guest's, and which file it took when that is
 * not the one named.
 */
int unigdb_find_image(const char *spec, struct usc_target *t, const char *given,
                      char *out, size_t cap);

/* ---- launch.c -------------------------------------------------------------
 */

/*
 * Run gdb (UNIGDB_GDB, else "gdb" from PATH) on (image) attached to (t)
 * through a private unix socket, passing it (argv) (n words) after our
 * own -ex, and serve it until it exits. Returns gdb's exit status, or
 * UNIGDB_EXIT_FAIL after reporting why it could not run.
 */
int unigdb_run_gdb(struct usc_target *t, const struct unigdb_config *cfg,
                   const char *image, char **argv, int n);

#endif /* UNIGDB_H */
