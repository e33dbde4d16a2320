/* unicore's parts: dump, analyze, watch, and what they share. */
#ifndef UNICORE_H
#define UNICORE_H

#include <jansson.h>
#include <limits.h>
#include <stdint.h>

#include "agent_reader.h"
#include "corewrite.h"
#include "imagefind.h"
#include "target.h"

/* Exit statuses. */
#define UNICORE_EXIT_FAIL 1
#define UNICORE_EXIT_USAGE 2

/* Print "unicore: (context): (reason...)" as one line on stderr. */
void unicore_error(const char *context, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Nanoseconds on the monotonic clock. */
int64_t unicore_now_ns(void);

/* Set by SIGINT and SIGTERM once unicore_catch_signals ran. */
extern volatile int unicore_stop;
void unicore_catch_signals(void);

/* The subcommands: each parses its own arguments (argv[0] is its name)
 * and returns the exit status. */
int unicore_dump_main(int argc, char **argv);
int unicore_analyze_main(int argc, char **argv);
int unicore_watch_main(int argc, char **argv);

/* ---- dump.c ------------------------------------------------------------ */

struct unicore_dump_opts {
    const char *target; /* TARGET spec */
    const char *path;   /* the core to create; must not exist */
    int live;           /* do not pause the guest */
    const char *guest;  /* unirun guest whose guest.json names the image,
                           when (target) does not say (may be NULL) */
    const volatile int *cancel; /* non-zero: give up, leave no file */
};

struct unicore_dump_result {
    struct usc_core_stats stats;
    uint64_t file_bytes; /* the core's size */
    int64_t pause_ns;    /* how long the guest was paused; 0 with --live */
    int64_t total_ns;
    int panicked;    /* the agent had recorded a panic */
    int no_regs;     /* another debugger held the vCPUs' registers */
    int was_stopped; /* the guest was stopped already: not paused */
    uint32_t nvcpus;
    char name[USC_GUEST_NAME_MAX];
    char image[PATH_MAX]; /* the guest's image, "" when unknown */
    uint8_t build_id[USC_BUILD_ID_MAX];
    uint32_t build_id_len;
};

/*
 * Write a core of (o->target) to (o->path): create a temporary file beside
 * it (O_EXCL, 0600), pause the guest unless live, read registers, walk the
 * page tables, copy RAM, resume, write headers and notes, rename to the
 * final name (never replacing a file). Fills (res). Returns 0, or a
 * negative errno with (*what) (may be NULL) naming the step that failed;
 * no file is left under either name then, and the guest runs if it ran.
 */
int unicore_dump(const struct unicore_dump_opts *o,
                 struct unicore_dump_result *res, const char **what);

/* ---- ramfile.c: a guest's RAM file, for its holes ---------------------- */

/* A QEMU RAM file (pc layout) opened for lseek(SEEK_DATA/SEEK_HOLE). */
struct unicore_ramfile {
    int fd;
    uint64_t size, lowmem;
};

/* Open the RAM file at (path) into (rf). Returns 0 or -errno. */
int unicore_ramfile_open(const char *path, struct unicore_ramfile *rf);
void unicore_ramfile_close(struct unicore_ramfile *rf);

/* usc_core_source.next_data over a struct unicore_ramfile (priv). */
int unicore_ramfile_next_data(void *priv, uint64_t paddr, uint64_t end,
                              uint64_t *start, uint64_t *stop);

/*
 * Open the agent in (pm), whose RAM file is (rf) (NULL: scan every page),
 * looking for its control block only where the file has data. Stores the
 * handle in (*out). Returns 0, or usc_agent_open's errors (-ENOENT: none).
 */
int unicore_ramfile_find_agent(struct unicore_ramfile *rf,
                               const struct usc_physmem *pm,
                               struct usc_agent **out);

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
