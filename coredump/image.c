/* The image a core came from (lib/imagefind), and keeping images by
 * build-id beside cores. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfimage.h"
#include "imagefind.h"
#include "unicore.h"

#define COPY_BLOCK 65536

/* 1 when the ELF file at (path) has build-id (id, len). */
static int matches(const char *path, const uint8_t *id, uint32_t len)
{
    struct usc_elf_probe p;

    return usc_elf_probe_file(path, &p) == 0 && p.build_id_len == len &&
           memcmp(p.build_id, id, len) == 0;
}

/* "DIR/.build-id/xx/rest.debug" for (id, len), into (out). */
static int build_id_path(const char *dir, const uint8_t *id, uint32_t len,
                         char *out, size_t cap)
{
    char h[2 * USC_BUILD_ID_MAX + 1];
    int n;

    if (len < 2)
        return -EINVAL;
    usc_build_id_hex(id, len, h);
    n = snprintf(out, cap, "%s/.build-id/%.2s/%s.debug", dir, h, h + 2);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Each candidate passed over, as {"path", "why"} in (arg), a JSON array. */
static void note_skipped(void *arg, const char *path, enum usc_image_skip why,
                         int err)
{
    json_t *j = json_object();
    char buf[160];

    if (why == USC_IMAGE_SKIP_UNREADABLE)
        snprintf(buf, sizeof(buf), "%s: %s", usc_image_skip_text(why),
                 strerror(-err));
    else
        snprintf(buf, sizeof(buf), "%s", usc_image_skip_text(why));
    json_object_set_new(j, "path", json_string(path));
    json_object_set_new(j, "why", json_string(buf));
    if (json_is_array((json_t *)arg))
        json_array_append_new(arg, j);
    else
        json_decref(j);
}

int unicore_image_find(const char *core, const char *given, const char *hint,
                       const uint8_t *id, uint32_t len,
                       struct usc_image_found *found, json_t *skipped)
{
    struct usc_image_query q = {
        .given = given,
        .recorded = hint && hint[0] ? hint : NULL,
        .core = core,
        .build_id = id,
        .build_id_len = len,
        .skipped = note_skipped,
        .arg = skipped,
    };
    int err = usc_image_find(&q, found);

    if (err == 0 && found->mismatch)
        return -EBADF;
    return err;
}

/* Copy (from) to a new file (to), 0600, through a temporary name. */
static int copy_file(const char *from, const char *to)
{
    char tmp[PATH_MAX], buf[COPY_BLOCK];
    int in = -1, out = -1, err = 0;
    ssize_t n;

    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", to) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    out = mkostemp(tmp, O_CLOEXEC);
    if (out < 0) {
        err = -errno;
        goto out;
    }
    while ((n = read(in, buf, sizeof(buf))) > 0) {
        if (write(out, buf, (size_t)n) != n) {
            err = -EIO;
            goto out;
        }
    }
    if (n < 0 || fsync(out) != 0 || rename(tmp, to) != 0)
        err = -errno ? -errno : -EIO;
out:
    if (out >= 0)
        close(out);
    if (err && out >= 0)
        unlink(tmp);
    close(in);
    return err;
}

int unicore_image_keep(const char *image, const uint8_t *id, uint32_t len,
                       const char *dir)
{
    struct usc_image_query q = {
        .recorded = image, .build_id = id, .build_id_len = len};
    struct usc_image_found found;
    char path[PATH_MAX];
    int err = build_id_path(dir, id, len, path, sizeof(path));

    if (err)
        return err;
    if (matches(path, id, len))
        return 0;
    /* What holds the symbols: the image, or a boot wrapper's debug file;
     * with another build-id (rebuilt since it booted) keeping it would
     * lie. */
    if (usc_image_find(&q, &found) != 0 || !matches(found.path, id, len))
        return -EBADF;
    image = found.path;
    /* .build-id, then .build-id/xx */
    char *cut = strrchr(path, '/');
    *cut = '\0';
    char *mid = strrchr(path, '/');
    *mid = '\0';
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -errno;
    *mid = '/';
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -errno;
    *cut = '/';
    return copy_file(image, path);
}
