/* A core file of a guest, taken through the target facade (unicore dump,
 * and unirun for a guest that crashed). */
#ifndef USC_COREDUMP_H
#define USC_COREDUMP_H

#include <limits.h>
#include <stdint.h>
#include <uniscope/abi.h>

#include "corewrite.h"

struct usc_core_dump_opts {
    const char *target;  /* TARGET spec */
    const char *path;    /* the core to create; must not exist */
    int live;            /* do not pause the guest */
    const char *guest;   /* unirun guest whose guest.json names the image,
                            when (target) does not say (may be NULL) */
    const char *console; /* console log whose tail the core keeps (NULL:
                            the unirun guest's console.log, if any) */
    const volatile int *cancel; /* non-zero: give up, leave no file */
};

struct usc_core_dump_result {
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
 * A process killed meanwhile leaves at most the temporary dot-file.
 */
int usc_core_dump(const struct usc_core_dump_opts *o,
                  struct usc_core_dump_result *res, const char **what);

#endif /* USC_COREDUMP_H */
