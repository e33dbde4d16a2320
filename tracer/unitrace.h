/* unitrace's subcommands and the helpers they share. */
#ifndef UNITRACE_H
#define UNITRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "agent_reader.h"
#include "target.h"
#include "trace_ctf.h"
#include "trace_reader.h"

/* Each subcommand: argv[0] is its name; returns the exit status. */
int unitrace_list(int argc, char **argv);
int unitrace_enable(int argc, char **argv); /* enable and disable */
int unitrace_record(int argc, char **argv);
int unitrace_extract(int argc, char **argv);
int unitrace_report(int argc, char **argv);
int unitrace_convert(int argc, char **argv);

/* Print "unitrace: (context): (reason)" on stderr; returns 1. */
int unitrace_fail(const char *context, const char *reason);
/* The same with strerror(-err) as the reason. */
int unitrace_fail_errno(const char *context, int err);
/* Usage error: one line naming (what), and "see unitrace --help"; 2. */
int unitrace_usage(const char *what);

/* A guest opened for tracing: target, agent, rings. */
struct unitrace_guest {
    struct usc_target *target;
    struct usc_agent *agent;
    struct usc_trace *trace;
    bool is_core;
};

/*
 * Open (spec) and find its agent and trace rings. On failure prints the
 * reason (context: the spec) and returns non-zero; (g) is then closed.
 */
int unitrace_guest_open(const char *spec, struct unitrace_guest *g);
void unitrace_guest_close(struct unitrace_guest *g);

/*
 * Fill (info) for a trace of (g): name, clock (ts_hz; the offset to
 * wall-clock time: watched against the guest's heartbeat when it runs,
 * from the core file's time for a core), vCPUs, (source) and (mode).
 */
void unitrace_guest_info(struct unitrace_guest *g, const char *spec,
                         const char *mode, struct usc_ctf_info *info);

/* Give the guest's thread names to (w). */
void unitrace_guest_threads(struct unitrace_guest *g, struct usc_ctf_writer *w);

/* Seconds on the monotonic clock. */
double unitrace_now(void);

/* Parse a duration in seconds ("2", "0.5"); -1 when it is not one. */
double unitrace_parse_seconds(const char *s);

#endif /* UNITRACE_H */
