/* Finding the image a core came from, by its GNU build-id. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unicore.h"

#define MAX_DIR_ENTRIES 4096 /* files looked at beside a core */
#define COPY_BLOCK 65536

/*
 * The GNU build-id of the executable at (path) into (id) (USC_BUILD_ID_MAX
 * bytes), its length into (*len) (0: none). Returns 0, or -ENOEXEC for a
 * file that is not an ELF executable (cores included).
 */
static int build_id_of(const char *path, uint8_t *id, uint32_t *len)
{
    GElf_Ehdr eh;
    Elf *elf = NULL;
    size_t phnum;
    int fd, err = -ENOEXEC;

    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    elf_version(EV_CURRENT);
    elf = elf_begin(fd, ELF_C_READ, NULL);
    if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh) ||
        (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) ||
        elf_getphdrnum(elf, &phnum) != 0)
        goto out;
    err = 0;
    for (size_t i = 0; i < phnum && !*len; i++) {
        GElf_Phdr ph;
        Elf_Data *d;
        size_t off = 0, next, name_off, desc_off;
        GElf_Nhdr nh;

        if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_NOTE)
            continue;
        d = elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz,
                                 ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
        while (d && (next = gelf_getnote(d, off, &nh, &name_off, &desc_off))) {
            if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
                !memcmp((char *)d->d_buf + name_off, "GNU", 4) &&
                nh.n_descsz <= USC_BUILD_ID_MAX) {
                memcpy(id, (char *)d->d_buf + desc_off, nh.n_descsz);
                *len = nh.n_descsz;
                break;
            }
            off = next;
        }
    }
out:
    elf_end(elf);
    close(fd);
    return err;
}

/* 1 when the executable at (path) has build-id (id, len). */
static int matches(const char *path, const uint8_t *id, uint32_t len)
{
    uint8_t got[USC_BUILD_ID_MAX];
    uint32_t got_len;

    return build_id_of(path, got, &got_len) == 0 && got_len == len &&
           memcmp(got, id, len) == 0;
}

static void hex(const uint8_t *id, uint32_t len, char *out)
{
    for (uint32_t i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", id[i]);
    out[2 * len] = '\0';
}

/* "DIR/.build-id/xx/rest.debug" for (id, len), into (out). */
static int build_id_path(const char *dir, const uint8_t *id, uint32_t len,
                         char *out, size_t cap)
{
    char h[2 * USC_BUILD_ID_MAX + 1];
    int n;

    if (len < 2)
        return -EINVAL;
    hex(id, len, h);
    n = snprintf(out, cap, "%s/.build-id/%.2s/%s.debug", dir, h, h + 2);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int set(char *out, size_t cap, const char *path)
{
    int n = snprintf(out, cap, "%s", path);

    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* An executable with build-id (id, len) in the folder (dir). */
static int search_dir(const char *dir, const char *core, const uint8_t *id,
                      uint32_t len, char *out, size_t cap)
{
    struct dirent *e;
    DIR *dp = opendir(dir);
    char path[PATH_MAX];
    const char *core_base = strrchr(core, '/');
    int seen = 0, err = -ENOENT;

    core_base = core_base ? core_base + 1 : core;
    if (!dp)
        return -ENOENT;
    while (err && (e = readdir(dp)) && seen++ < MAX_DIR_ENTRIES) {
        struct stat st;

        if (e->d_name[0] == '.' || !strcmp(e->d_name, core_base))
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >=
            (int)sizeof(path))
            continue;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (matches(path, id, len))
            err = set(out, cap, path);
    }
    closedir(dp);
    return err;
}

int unicore_image_find(const char *core, const char *given, const char *hint,
                       const uint8_t *id, uint32_t len, char *out,
                       size_t out_size, const char **how)
{
    char dir[PATH_MAX], path[PATH_MAX];
    const char *slash = strrchr(core, '/');

    if (given) {
        uint8_t got[USC_BUILD_ID_MAX];
        uint32_t got_len;
        int err = build_id_of(given, got, &got_len);
        if (err)
            return err;
        if (len && got_len && (got_len != len || memcmp(got, id, len)))
            return -EBADF;
        *how = "given";
        return set(out, out_size, given);
    }
    if (len == 0) {
        if (hint && hint[0] && access(hint, R_OK) == 0) {
            *how = "recorded path";
            return set(out, out_size, hint);
        }
        return -ENOENT;
    }
    if (hint && hint[0] && matches(hint, id, len)) {
        *how = "recorded path";
        return set(out, out_size, hint);
    }
    if (slash)
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - core), core);
    else
        snprintf(dir, sizeof(dir), ".");
    if (!dir[0])
        snprintf(dir, sizeof(dir), "/");
    if (build_id_path(dir, id, len, path, sizeof(path)) == 0 &&
        matches(path, id, len)) {
        *how = "beside the core (.build-id)";
        return set(out, out_size, path);
    }
    *how = "beside the core";
    return search_dir(dir, core, id, len, out, out_size);
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
    char path[PATH_MAX];
    int err = build_id_path(dir, id, len, path, sizeof(path));

    if (err)
        return err;
    if (matches(path, id, len))
        return 0;
    if (!matches(image, id, len))
        return -EBADF; /* rebuilt since it booted: keeping it would lie */
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
