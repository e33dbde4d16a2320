/* Finding a guest image's symbols: given, recorded, beside, by build-id
 * (libdwfl), from debuginfod (libdebuginfod). */
#include "imagefind.h"

#include <elf.h>
#include <elfutils/debuginfod.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elfimage.h"

/* The suffix of a boot wrapper's debug file beside it (Unikraft's). */
#define DEBUG_SUFFIX ".dbg"

struct search {
    const struct usc_image_query *q;
    struct usc_image_found *out;
    /* The guest's build-id; 0 bytes when unknown. */
    uint8_t want[USC_BUILD_ID_MAX];
    size_t want_len;
    /* The id to look up by: a given image's own, else the guest's, else
     * the one a recorded wrapper carried. */
    uint8_t id[USC_BUILD_ID_MAX];
    size_t id_len;
    /* A stripped image that fits, kept in case nothing better is found. */
    char fallback[PATH_MAX];
    const char *fallback_how;
};

void usc_build_id_hex(const uint8_t *id, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[2 * len] = '\0';
}

const char *usc_image_skip_text(enum usc_image_skip why)
{
    switch (why) {
    case USC_IMAGE_SKIP_UNREADABLE:
        return "cannot be read";
    case USC_IMAGE_SKIP_NOT_ELF:
        return "not an ELF file, or a corrupt one";
    case USC_IMAGE_SKIP_BAD_BUILD_ID:
        return "its build-id note is malformed (a wrong size)";
    case USC_IMAGE_SKIP_OTHER_BUILD_ID:
        return "its build-id is not the guest's (rebuilt since it booted?)";
    case USC_IMAGE_SKIP_NO_SYMBOLS:
        return "no symbols (a boot wrapper or a stripped image) and no "
               "debug file beside it";
    case USC_IMAGE_SKIP_WRONG_ARCH:
        return "not an x86-64 image";
    }
    return "not usable";
}

static void skip(struct search *s, const char *path, enum usc_image_skip why,
                 int err)
{
    if (s->q->skipped)
        s->q->skipped(s->q->arg, path, why, err);
}

static int copy_path(char *dst, const char *src)
{
    int n = snprintf(dst, PATH_MAX, "%s", src);

    return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Does (p)'s build-id differ from the guest's (both known)? */
static int other_id(const struct search *s, const struct usc_elf_probe *p)
{
    return s->want_len && p->build_id_len &&
           (p->build_id_len != s->want_len ||
            memcmp(p->build_id, s->want, s->want_len) != 0);
}

/* Take (p), the probe of (path), reached through (image). Returns 0. */
static int take(struct search *s, const char *path, const char *image,
                const struct usc_elf_probe *p, const char *how, int mismatch)
{
    int err = copy_path(s->out->path, path);

    if (!err)
        err = copy_path(s->out->image, image);
    if (err)
        return err;
    memcpy(s->out->build_id, p->build_id, p->build_id_len);
    s->out->build_id_len = p->build_id_len;
    s->out->how = how;
    s->out->mismatch = mismatch;
    return 0;
}

/* Probe (path); tell (skipped) and return -ENOENT when it cannot be. */
static int probe(struct search *s, const char *path, struct usc_elf_probe *p)
{
    int err = usc_elf_probe_file(path, p);

    if (err) {
        skip(s, path,
             err == -ENOEXEC ? USC_IMAGE_SKIP_NOT_ELF
                             : USC_IMAGE_SKIP_UNREADABLE,
             err);
        return -ENOENT;
    }
    if (p->build_id_err == -EBADMSG) {
        skip(s, path, USC_IMAGE_SKIP_BAD_BUILD_ID, -EBADMSG);
        return -ENOENT;
    }
    return 0;
}

static int is_x86_64(const struct usc_elf_probe *p)
{
    return p->elfclass == ELFCLASS64 && p->machine == EM_X86_64;
}

/*
 * The debug file of (image) (a wrapper or stripped, probed as (ip)):
 * (recorded_debug) when given, else IMAGE.dbg. Returns 0 when taken,
 * -ENOENT when none fits.
 */
static int debug_beside(struct search *s, const char *image,
                        const struct usc_elf_probe *ip,
                        const char *recorded_debug, int given)
{
    char dbg[PATH_MAX];
    struct usc_elf_probe p;
    const char *tries[2] = {recorded_debug, dbg};

    if (snprintf(dbg, sizeof(dbg), "%s%s", image, DEBUG_SUFFIX) >=
        (int)sizeof(dbg))
        dbg[0] = '\0';
    for (size_t i = 0; i < 2; i++) {
        const char *path = tries[i];

        if (!path || !path[0] ||
            (i == 1 && recorded_debug && !strcmp(recorded_debug, dbg)))
            continue;
        if (access(path, F_OK) != 0)
            continue;
        if (probe(s, path, &p))
            continue;
        if (!is_x86_64(&p)) {
            skip(s, path, USC_IMAGE_SKIP_WRONG_ARCH, 0);
            continue;
        }
        if (!p.has_symtab && !p.has_debug_info) {
            skip(s, path, USC_IMAGE_SKIP_NO_SYMBOLS, 0);
            continue;
        }
        /* The debug file of a wrapper with an id carries the same id. */
        if (ip->build_id_len && p.build_id_len &&
            (ip->build_id_len != p.build_id_len ||
             memcmp(ip->build_id, p.build_id, p.build_id_len))) {
            skip(s, path, USC_IMAGE_SKIP_OTHER_BUILD_ID, 0);
            continue;
        }
        if (other_id(s, &p) && !given) {
            skip(s, path, USC_IMAGE_SKIP_OTHER_BUILD_ID, 0);
            continue;
        }
        return take(s, path, image, &p,
                    given ? "given; its debug file beside it"
                          : "recorded; its debug file beside it",
                    other_id(s, &p));
    }
    return -ENOENT;
}

/*
 * Consider the given or recorded image (path). Returns 0 when taken;
 * -ENOENT to look further; for a given image that is no image at all,
 * the reason (-ENOEXEC, -errno): the search does not go past the user's
 * choice.
 */
static int consider(struct search *s, const char *path,
                    const char *recorded_debug, int given)
{
    struct usc_elf_probe p;
    int wrapper, err;

    if (!path || !path[0])
        return -ENOENT;
    if (given) {
        err = usc_elf_probe_file(path, &p);
        if (err)
            return err;
        if (p.build_id_err == -EBADMSG) {
            skip(s, path, USC_IMAGE_SKIP_BAD_BUILD_ID, -EBADMSG);
            return -EBADMSG;
        }
    } else if (probe(s, path, &p)) {
        return -ENOENT;
    }
    wrapper = p.elfclass == ELFCLASS32 &&
              (p.machine == EM_386 || p.machine == EM_X86_64);
    if (!is_x86_64(&p) && !wrapper) {
        skip(s, path, USC_IMAGE_SKIP_WRONG_ARCH, 0);
        return given ? -ENOEXEC : -ENOENT;
    }
    if (other_id(s, &p) && !given) {
        skip(s, path, USC_IMAGE_SKIP_OTHER_BUILD_ID, 0);
        return -ENOENT;
    }
    /* Its own id leads to its debug file: a given image's always, a
     * recorded one's when the guest's is unknown. */
    if (p.build_id_len && (given || !s->id_len)) {
        memcpy(s->id, p.build_id, p.build_id_len);
        s->id_len = p.build_id_len;
    }
    if (!wrapper && (p.has_symtab || p.has_debug_info))
        return take(s, path, path, &p, given ? "given" : "recorded",
                    other_id(s, &p));
    if (debug_beside(s, path, &p, recorded_debug, given) == 0)
        return 0;
    if (wrapper) {
        skip(s, path, USC_IMAGE_SKIP_NO_SYMBOLS, 0);
        return -ENOENT;
    }
    /* Stripped, but the image itself: its CFI still unwinds. Keep it in
     * case the build-id finds nothing better. */
    if (!s->fallback[0] && copy_path(s->fallback, path) == 0)
        s->fallback_how =
            given ? "given (no symbols)" : "recorded (no symbols)";
    return -ENOENT;
}

/* Take the file found by build-id at (path), if it fits. */
static int by_id(struct search *s, const char *path, const char *how)
{
    struct usc_elf_probe p;

    if (probe(s, path, &p))
        return -ENOENT;
    if (!is_x86_64(&p)) {
        skip(s, path, USC_IMAGE_SKIP_WRONG_ARCH, 0);
        return -ENOENT;
    }
    if (p.build_id_len != s->id_len ||
        memcmp(p.build_id, s->id, s->id_len) != 0) {
        skip(s, path, USC_IMAGE_SKIP_OTHER_BUILD_ID, 0);
        return -ENOENT;
    }
    return take(s, path, s->q->given ? s->q->given : path, &p, how,
                other_id(s, &p));
}

/* The folder of (file), made absolute, into (out) of PATH_MAX bytes. */
static int folder_of(const char *file, char *out)
{
    char dir[PATH_MAX], *abs;
    const char *slash = strrchr(file, '/');

    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == file)
        snprintf(dir, sizeof(dir), "/");
    else if (snprintf(dir, sizeof(dir), "%.*s", (int)(slash - file), file) >=
             (int)sizeof(dir))
        return -ENAMETOOLONG;
    abs = realpath(dir, NULL);
    if (!abs)
        return -errno;
    int err = copy_path(out, abs);
    free(abs);
    return err;
}

/* .build-id/xx/rest.debug under the core's folder and (debug_dirs), by
 * libdwfl's own lookup. */
static int in_build_id_trees(struct search *s)
{
    const char *dirs =
        s->q->debug_dirs ? s->q->debug_dirs : USC_IMAGE_DEBUG_DIRS;
    char core_dir[PATH_MAX] = "";
    char *path = NULL, *name = NULL;
    Dwfl_Callbacks cb = {
        .find_elf = dwfl_build_id_find_elf,
        .find_debuginfo = dwfl_build_id_find_debuginfo,
        .section_address = dwfl_offline_section_address,
    };
    Dwfl_Module *m;
    Dwfl *dwfl;
    int fd, err = -ENOENT;

    if (s->q->core && folder_of(s->q->core, core_dir) != 0)
        core_dir[0] = '\0';
    if (asprintf(&path, "%s%s%s", core_dir, core_dir[0] ? ":" : "", dirs) < 0)
        return -ENOMEM;
    cb.debuginfo_path = &path;
    dwfl = dwfl_begin(&cb);
    if (!dwfl) {
        free(path);
        return -ENOMEM;
    }
    /* A module known by its build-id alone: no file yet. */
    dwfl_report_begin(dwfl);
    m = dwfl_report_module(dwfl, "image", 0, 1);
    dwfl_report_end(dwfl, NULL, NULL);
    if (m && dwfl_module_report_build_id(m, s->id, s->id_len, 0) == 0) {
        fd = dwfl_build_id_find_debuginfo(m, NULL, NULL, 0, NULL, NULL, 0,
                                          &name);
        if (fd >= 0)
            close(fd);
        if (fd >= 0 && name)
            err = by_id(s, name, "by build-id (.build-id/xx/rest.debug)");
    }
    free(name);
    dwfl_end(dwfl);
    free(path);
    return err;
}

/* debuginfod, when the user set DEBUGINFOD_URLS: the executable (a
 * unikernel image holds its symbols), then the debuginfo. */
static int from_debuginfod(struct search *s)
{
    const char *urls = getenv("DEBUGINFOD_URLS");
    debuginfod_client *c;
    int err = -ENOENT;

    if (!urls || !urls[0])
        return -ENOENT;
    c = debuginfod_begin();
    if (!c)
        return -ENOMEM;
    for (int kind = 0; kind < 2 && err; kind++) {
        char *path = NULL;
        int fd =
            kind == 0
                ? debuginfod_find_executable(c, s->id, (int)s->id_len, &path)
                : debuginfod_find_debuginfo(c, s->id, (int)s->id_len, &path);
        if (fd >= 0) {
            close(fd);
            if (path)
                err = by_id(s, path, "from debuginfod");
        }
        free(path);
    }
    debuginfod_end(c);
    return err;
}

int usc_image_find(const struct usc_image_query *q, struct usc_image_found *out)
{
    struct search s = {.q = q, .out = out};
    struct usc_elf_probe p;
    int err;

    memset(out, 0, sizeof(*out));
    if (q->build_id_len && q->build_id_len <= sizeof(s.id)) {
        memcpy(s.want, q->build_id, q->build_id_len);
        s.want_len = q->build_id_len;
        memcpy(s.id, q->build_id, q->build_id_len);
        s.id_len = q->build_id_len;
    }
    /* The user's choice, or what it leads to: nothing else. */
    err = q->given ? consider(&s, q->given, NULL, 1)
                   : consider(&s, q->recorded, q->recorded_debug, 0);
    if (err != -ENOENT)
        return err;
    if (s.id_len >= USC_BUILD_ID_MIN) {
        err = in_build_id_trees(&s);
        if (err == 0 || err == -ENOMEM)
            return err;
        if (from_debuginfod(&s) == 0)
            return 0;
    }
    if (s.fallback[0] && usc_elf_probe_file(s.fallback, &p) == 0)
        return take(&s, s.fallback, s.fallback, &p, s.fallback_how,
                    other_id(&s, &p));
    return -ENOENT;
}
