/* Which image holds a guest's symbols: given, from guest.json, or beside a
 * core. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent_reader.h"
#include "elfimage.h"
#include "rundir.h"
#include "unigdb.h"

/* Files looked at beside a core before giving up. */
#define SCAN_MAX 512

/* The guest agent's build-id, when it has an agent that gives one. */
static size_t agent_build_id(struct usc_target *t, uint8_t *id)
{
    struct usc_agent *a = NULL;
    size_t n = 0;

    if (usc_target_agent_open(t, &a) == 0) {
        const struct usc_control_block *cb = usc_agent_header(a);

        n = cb->build_id_len;
        memcpy(id, cb->build_id, n);
    }
    usc_agent_close(a);
    return n;
}

/* 1 when (path) is an ELF image with build-id (id), (n) bytes. */
static int image_matches(const char *path, const uint8_t *id, size_t n)
{
    struct usc_elfimage *img = NULL;
    uint8_t got[USC_BUILD_ID_MAX];
    size_t len = 0;
    int same;

    if (usc_elfimage_open(path, &img) < 0)
        return 0;
    same = usc_elfimage_build_id(img, got, sizeof(got), &len) == 0 &&
           len == n && memcmp(got, id, n) == 0;
    usc_elfimage_close(img);
    return same;
}

/* An image beside (core) with build-id (id) into (out). */
static int beside_core(const char *core, const uint8_t *id, size_t n, char *out,
                       size_t cap)
{
    char dir[PATH_MAX], path[PATH_MAX];
    const char *slash = strrchr(core, '/');
    struct dirent *e;
    struct stat st;
    int seen = 0, err = -ENOENT;
    DIR *d;

    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == core)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - core), core);
    d = opendir(dir);
    if (!d)
        return -ENOENT;
    while (err && seen++ < SCAN_MAX && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >=
                (int)sizeof(path) ||
            stat(path, &st) || !S_ISREG(st.st_mode))
            continue;
        if (image_matches(path, id, n))
            err = snprintf(out, cap, "%s", path) < (int)cap ? 0 : -ENAMETOOLONG;
    }
    closedir(d);
    return err;
}

static void hex(const uint8_t *id, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", id[i]);
    out[2 * n] = '\0';
}

int unigdb_find_image(const char *spec_text, struct usc_target *t,
                      const char *given, char *out, size_t cap)
{
    struct usc_target_spec *spec = malloc(sizeof(*spec));
    struct usc_guest_info *gi = malloc(sizeof(*gi));
    uint8_t id[USC_BUILD_ID_MAX];
    char idtext[2 * USC_BUILD_ID_MAX + 1];
    size_t n = agent_build_id(t, id);
    int err = -ENOENT;

    if (!spec || !gi) {
        err = -ENOMEM;
        goto out;
    }
    if (usc_target_spec_parse(spec_text, spec) < 0)
        goto out;
    if (given) {
        err = snprintf(out, cap, "%s", given) < (int)cap ? 0 : -ENAMETOOLONG;
    } else if (spec->kind == USC_TARGET_NAME) {
        if (usc_guest_info_read(spec->name, gi) == 0)
            err = snprintf(out, cap, "%s", gi->image) < (int)cap
                      ? 0
                      : -ENAMETOOLONG;
    } else if (spec->kind == USC_TARGET_CORE && n) {
        err = beside_core(spec->core, id, n, out, cap);
    }
    if (err == 0 && n && !image_matches(out, id, n)) {
        hex(id, n, idtext);
        fprintf(stderr,
                "unigdb: warning: %s is not the image the guest runs "
                "(build-id %s): its symbols may not fit\n",
                out, idtext);
    }
out:
    free(spec);
    free(gi);
    return err;
}
