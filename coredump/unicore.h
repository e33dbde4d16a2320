/* unicore's parts: dump, analyze, watch, and what they share. */
#ifndef UNICORE_H
#define UNICORE_H

#include <jansson.h>
#include <limits.h>
#include <stdint.h>

#include "agent_reader.h"
#include "coredump.h"
#include "corewrite.h"
#include "imagefind.h"
#include "ramdata.h"
#include "target.h"

/* Exit statuses. */
#define UNICORE_EXIT_FAIL 1
#define UNICORE_EXIT_USAGE 2

/* Print "unicore: (context): (reason...)" as one line on stderr. */
void unicore_error(const char *context, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Set by SIGINT and SIGTERM once unicore_catch_signals ran. */
extern volatile int unicore_stop;
void unicore_catch_signals(void);

/* The subcommands: each parses its own arguments (argv[0] is its name)
 * and returns the exit status. */
int unicore_dump_main(int argc, char **argv);
int unicore_analyze_main(int argc, char **argv);
int unicore_watch_main(int argc, char **argv);
int unicore_list_main(int argc, char **argv);

/* ---- image.c: the image a core was made from --------------------------- */

/*
 * Find the symbols of the guest whose build-id is (id, len) for the core
 * at (core), through usc_image_find (lib/imagefind.h): (given) when not
 * NULL, the image path the core recorded (hint, may be ""), its debug
 * file beside it, then by build-id under the core's folder, in
 * /usr/lib/debug and from debuginfod. Fills (found); each candidate
 * passed over is appended to (skipped) (a JSON array, may be NULL) as
 * {"path", "why"}. Returns 0; -ENOENT; -EBADF when (given) has another
 * build-id.
 */
int unicore_image_find(const char *core, const char *given, const char *hint,
                       const uint8_t *id, uint32_t len,
                       struct usc_image_found *found, json_t *skipped);

/*
 * Copy what holds the symbols of the image at (image) (the image, or a
 * boot wrapper's debug file beside it), whose build-id is (id, len), into
 * (dir) as .build-id/xx/rest.debug (mode 0600), unless it is there.
 * Returns 0, -EBADF when none has that build-id, or -errno.
 */
int unicore_image_keep(const char *image, const uint8_t *id, uint32_t len,
                       const char *dir);

/* ---- analyze.c, report.c ----------------------------------------------- */

/*
 * Build the postmortem report of the core at (core) (image: --image or
 * NULL) as a JSON object in (*out). Returns 0, or a negative errno with
 * (*what) naming what failed (the core cannot be opened or is corrupt).
 */
int unicore_analyze(const char *core, const char *image, json_t **out,
                    const char **what);

/* Print the report (r) as text on stdout. */
void unicore_report_text(const json_t *r);

#endif /* UNICORE_H */
