/* The cores unirun keeps of guests that crashed, in the run directory. */
#ifndef USC_CORES_H
#define USC_CORES_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "target.h"

/*
 * RUNDIR/.cores/ (mode 0700; its name is no guest name, so it is never
 * listed as one) holds, for each crash, NAME-YYYYmmdd-HHMMSS.core (local
 * time; "-2", "-3" ... when taken) and beside it NAME-....core.json, the
 * record of why. Cores outlive their guest's folder (unirun --stop) and
 * last as long as the run directory (a tmpfs under $XDG_RUNTIME_DIR: until
 * logout or reboot); a guest name keeps its USC_CORES_KEEP newest.
 */
#define USC_CORES_DIR ".cores"
#define USC_CORES_KEEP 5u

struct usc_core_record {
    char path[PATH_MAX];             /* the core file */
    char guest[USC_TARGET_NAME_MAX]; /* the unirun guest's name */
    int64_t time;                    /* epoch seconds when it was taken */
    char kind[24];        /* a word: "trap", "abort", "triple-fault", ... */
    char reason[160];     /* one line, for people ("" when unknown) */
    char image[PATH_MAX]; /* the booted image, "" when unknown */
    char debug[PATH_MAX]; /* its debug file (a wrapper's .dbg), or "" */
    int exit_status;      /* what unirun exited with; -1 when unknown */
    uint64_t size;        /* bytes of the core file */
    int recorded;         /* the .json was there (else: from the core) */
};

/* The cores folder's path into (buf) of (size) bytes. Returns 0 or
 * -ENAMETOOLONG. */
int usc_cores_path(char *buf, size_t size);

/*
 * Make the cores folder when missing (and the run directory, checked as
 * usc_rundir_check does) and store in (buf) a path for a new core of guest
 * (guest) taken at (when), not taken by any file. Returns 0; -EINVAL for
 * a bad name; -ENAMETOOLONG; -EEXIST when every suffix is taken;
 * usc_rundir_check's errors.
 */
int usc_cores_new_path(const char *guest, time_t when, char *buf, size_t size);

/*
 * Write (r)'s record beside its core (r->path + ".json"), atomically (a
 * temporary file renamed, mode 0600). r->size and r->recorded are not
 * stored. Returns 0; -EINVAL for a record whose strings are not UTF-8 or
 * whose path is not in the cores folder; -errno.
 */
int usc_cores_record_write(const struct usc_core_record *r);

/*
 * The kept cores of guest (guest) (NULL: of every guest), newest first,
 * as a new array of (*n) records in (*out) (free() it; NULL when none).
 * Files that do not follow the naming are skipped; a core without its
 * record is described from its file name and USCOPE note. A missing run
 * directory or cores folder has none. Returns 0; -ENOMEM; or
 * usc_rundir_check's errors.
 */
int usc_cores_list(const char *guest, struct usc_core_record **out, size_t *n);

/* The newest kept core of (guest) into (out). Returns 0; -ENOENT when it
 * has none; usc_cores_list's errors. */
int usc_cores_latest(const char *guest, struct usc_core_record *out);

/* Remove the cores of (guest) (and their records) beyond its (keep)
 * newest, and the temporaries a writer killed midway left of its cores
 * an hour ago or more. Returns 0, or usc_cores_list's errors. */
int usc_cores_prune(const char *guest, unsigned keep);

#endif /* USC_CORES_H */
