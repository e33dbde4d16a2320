/* One gdb client debugging one guest: the protocol, without any I/O. */
#ifndef UNIGDB_SESSION_H
#define UNIGDB_SESSION_H

#include <stddef.h>

#include "packet.h"
#include "target.h"

/* What a session needs besides the guest. */
struct unigdb_config {
    const char *name; /* how errors name the guest */
    int verbose;      /* log every packet on stderr */
    int files;        /* monitor commands may write files (monitor dump) */
};

struct unigdb_session;

/*
 * Attach to (t) for one gdb client: stop the guest if it runs and we can
 * control it, find its agent (if any), and learn its threads. (t) and
 * (cfg)'s strings are borrowed and must outlive the session. Stores a new
 * session in (*out). Returns 0; -EBUSY when another debugger holds the
 * guest; -ENOMEM; or the target's error.
 */
int unigdb_session_open(struct usc_target *t, const struct unigdb_config *cfg,
                        struct unigdb_session **out);

/*
 * End (s) and free it, leaving the guest as gdb would expect after a
 * detach: every breakpoint and watchpoint we planted is removed and a
 * guest we can control runs. Returns 0 or the first error met doing so
 * (the rest is still done). NULL is a no-op.
 */
int unigdb_session_close(struct unigdb_session *s);

/*
 * Take (len) bytes gdb sent: acknowledge and answer every complete
 * packet, interrupt a running guest on 0x03. Replies are queued in the
 * session's output. Returns 0, or -ENOMEM.
 */
int unigdb_session_input(struct unigdb_session *s, const char *buf, size_t len);

/*
 * While the guest runs (after a continue or a step): wait up to
 * (timeout_ms) for it to stop and queue the stop reply. Also notices a
 * guest whose agent reports a panic, stops it and reports the fault.
 * Returns 1 when a stop was queued, 0 when it still runs (or was not
 * running), or a negative errno when the target failed.
 */
int unigdb_session_wait(struct unigdb_session *s, int timeout_ms);

/* 1 while a continue or step is in flight. */
int unigdb_session_running(const struct unigdb_session *s);

/* 1 once gdb detached or killed, or the guest went away: flush the
 * output, then close the connection. */
int unigdb_session_done(const struct unigdb_session *s);

/*
 * Why a guest QEMU holds in run state (state) cannot run, as a phrase for
 * people ("the guest has shut down (run state \"shutdown\"): ..."), or
 * NULL for a state a guest runs from (running, paused, debug, ...).
 */
const char *unigdb_cannot_run(enum usc_vm_state state);

/* The bytes queued for gdb; the caller writes and consumes them. */
struct unigdb_buf *unigdb_session_output(struct unigdb_session *s);

#endif /* UNIGDB_SESSION_H */
