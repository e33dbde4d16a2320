/* Finding the file with a guest image's symbols, as elfutils finds
 * debugging information: the paths known, beside them, then by build-id. */
#ifndef USC_IMAGEFIND_H
#define USC_IMAGEFIND_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <uniscope/abi.h>

/*
 * Every tool that needs a guest's symbols (unigdb --gdb: which file gdb
 * loads; unicore analyze: what libdw opens) finds them here, in this
 * order, taking the first file that fits:
 *
 *   1. (given), the user's --image;
 *   2. (recorded), the image unirun booted (guest.json) or a core's note
 *      names, when its build-id is the guest's (or either is unknown);
 *   each of them, when it is a 32-bit boot wrapper (Unikraft's multiboot
 *   image is ELFCLASS32 and stripped) or a stripped image, leading to its
 *   debug file: (recorded_debug), then IMAGE.dbg beside it;
 *   3. by build-id (the guest's, else the one found on a wrapper):
 *      DIR/.build-id/xx/rest.debug under the core's folder (where unicore
 *      watch keeps images) and each of (debug_dirs), found by libdwfl's
 *      dwfl_build_id_find_debuginfo;
 *   4. debuginfod (libdebuginfod: the executable, then the debuginfo),
 *      only when DEBUGINFOD_URLS is set.
 *
 * A file that fits is an ELF64 x86-64 file whose build-id is the guest's
 * (when both are known). A candidate that does not fit (unreadable, not
 * ELF, a malformed build-id note, another build-id, no symbols) is passed
 * to (skipped), once, and the next one is tried: a wrong file is never
 * taken silently. (given) is the user's choice: the search goes no
 * further than it, its debug file and its own build-id (not to the
 * recorded image), and it is taken with another build-id than the
 * guest's, flagged (mismatch): the caller decides (unicore analyze
 * refuses it, unigdb warns). A stripped 64-bit image is taken last, when
 * nothing with symbols was found ("(no symbols)" in how).
 */

/* The build-id trees looked in after the core's folder, by default. */
#define USC_IMAGE_DEBUG_DIRS "/usr/lib/debug"

/* Why a candidate was passed over. */
enum usc_image_skip {
    USC_IMAGE_SKIP_UNREADABLE,     /* cannot be opened: (err) says why */
    USC_IMAGE_SKIP_NOT_ELF,        /* not an ELF file, or a corrupt one */
    USC_IMAGE_SKIP_BAD_BUILD_ID,   /* its build-id note has a wrong size */
    USC_IMAGE_SKIP_OTHER_BUILD_ID, /* not the guest's build-id: rebuilt? */
    USC_IMAGE_SKIP_NO_SYMBOLS,     /* a wrapper or stripped, no debug file */
    USC_IMAGE_SKIP_WRONG_ARCH,     /* not an x86-64 (or i386 wrapper) ELF */
};

struct usc_image_query {
    const char *given;          /* --image, or NULL */
    const char *recorded;       /* the image the guest booted, or NULL */
    const char *recorded_debug; /* its debug file as recorded, or NULL */
    const char *core;           /* the core file looked at, or NULL */
    const uint8_t *build_id;    /* the guest's (agent or core note) */
    size_t build_id_len;        /* 0: unknown */
    const char *debug_dirs;     /* ':'-separated; NULL: the default */
    /* Told of each candidate passed over (may be NULL). */
    void (*skipped)(void *arg, const char *path, enum usc_image_skip why,
                    int err);
    void *arg;
};

struct usc_image_found {
    char path[PATH_MAX];  /* the ELF64 file with the symbols */
    char image[PATH_MAX]; /* the candidate it came from (a wrapper), or path */
    const char *how;      /* where it was found, a static phrase */
    uint8_t build_id[USC_BUILD_ID_MAX];
    size_t build_id_len; /* path's build-id; 0: it has none */
    int mismatch;        /* (given) has a build-id other than the guest's */
};

/*
 * Find the symbols of the guest (q) describes into (out). Returns 0;
 * -ENOENT when no candidate fits; -ENOMEM; for (given): -errno when it
 * cannot be read, -ENOEXEC when it is not an x86-64 ELF file (nor a
 * boot wrapper of one), -EBADMSG when its build-id note is malformed.
 */
int usc_image_find(const struct usc_image_query *q,
                   struct usc_image_found *out);

/* A sentence for (why) ("its build-id note is malformed"). */
const char *usc_image_skip_text(enum usc_image_skip why);

/* (id, len) as lowercase hex into (out), 2 * len + 1 bytes. */
void usc_build_id_hex(const uint8_t *id, size_t len, char *out);

#endif /* USC_IMAGEFIND_H */
