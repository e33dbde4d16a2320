/* The USCOPE core note: encoding it, and checking an untrusted one. */
#include "uscope_note.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bounds on what a core may claim, as the core backend has them. */
#define MAX_PHDRS (1u << 20)
#define MAX_NOTE_BYTES (64u << 20)

static int terminated(const char *field, size_t size)
{
    return memchr(field, '\0', size) != NULL;
}

/* Are the strings and counts of (hdr) within their fields? */
static int hdr_sane(const struct usc_note_hdr *hdr)
{
    return hdr->build_id_len <= USC_BUILD_ID_MAX &&
           hdr->nvcpus <= USC_NOTE_MAX_VCPUS &&
           terminated(hdr->name, sizeof(hdr->name)) &&
           terminated(hdr->hypervisor, sizeof(hdr->hypervisor)) &&
           terminated(hdr->image, sizeof(hdr->image));
}

size_t usc_note_size(uint32_t nvcpus)
{
    return sizeof(struct usc_note_hdr) +
           (size_t)nvcpus * sizeof(struct usc_note_vcpu);
}

long usc_note_encode(const struct usc_note_hdr *hdr,
                     const struct usc_note_vcpu *vcpus, uint32_t nvcpus,
                     void *buf, size_t cap)
{
    struct usc_note_hdr h;
    size_t size;

    if (!hdr || (nvcpus && !vcpus) || !buf)
        return -EINVAL;
    h = *hdr;
    h.version = USC_NOTE_VERSION;
    h.hdr_size = sizeof(h);
    h.nvcpus = nvcpus;
    h.vcpu_size = sizeof(struct usc_note_vcpu);
    if (!hdr_sane(&h))
        return -EINVAL;
    size = usc_note_size(nvcpus);
    if (cap < size)
        return -ENOSPC;
    memcpy(buf, &h, sizeof(h));
    if (nvcpus)
        memcpy((unsigned char *)buf + sizeof(h), vcpus,
               (size_t)nvcpus * sizeof(*vcpus));
    return (long)size;
}

int usc_note_parse(const void *desc, size_t len, struct usc_note_hdr *hdr)
{
    uint32_t version, hdr_size, nvcpus, vcpu_size;
    const unsigned char *p = desc;

    if (!desc || !hdr || len < 16)
        return -EINVAL;
    memcpy(&version, p, 4);
    memcpy(&hdr_size, p + 4, 4);
    memcpy(&nvcpus, p + 8, 4);
    memcpy(&vcpu_size, p + 12, 4);
    if (version != USC_NOTE_VERSION)
        return -EPROTONOSUPPORT;
    if (hdr_size < sizeof(*hdr) || hdr_size > len ||
        vcpu_size < sizeof(struct usc_note_vcpu) || nvcpus > USC_NOTE_MAX_VCPUS)
        return -EINVAL;
    /* nvcpus and vcpu_size are 32-bit: their product fits in 64 bits. */
    if ((uint64_t)nvcpus * vcpu_size > len - hdr_size)
        return -EINVAL;
    memcpy(hdr, p, sizeof(*hdr));
    if (!hdr_sane(hdr)) {
        memset(hdr, 0, sizeof(*hdr));
        return -EINVAL;
    }
    return 0;
}

int usc_note_read_vcpu(const void *desc, size_t len,
                       const struct usc_note_hdr *hdr, uint32_t i,
                       struct usc_note_vcpu *out)
{
    uint64_t off;

    if (!desc || !hdr || !out || i >= hdr->nvcpus)
        return -EINVAL;
    off = hdr->hdr_size + (uint64_t)i * hdr->vcpu_size;
    /* usc_note_parse checked this; a caller's mismatched pair is not. */
    if (off > len || sizeof(*out) > len - off)
        return -EINVAL;
    memcpy(out, (const unsigned char *)desc + off, sizeof(*out));
    return 0;
}

/* ---- the threads note ------------------------------------------------- */

size_t usc_note_threads_size(uint32_t n)
{
    return sizeof(struct usc_note_threads) +
           (size_t)n * sizeof(struct usc_note_thread);
}

long usc_note_threads_encode(const struct usc_note_thread *threads, uint32_t n,
                             void *buf, size_t cap)
{
    struct usc_note_threads h = {
        .hdr_size = sizeof(h),
        .nthreads = n,
        .thread_size = sizeof(struct usc_note_thread),
    };
    size_t size = usc_note_threads_size(n);

    if ((n && !threads) || !buf || n > USC_NOTE_MAX_THREADS)
        return -EINVAL;
    for (uint32_t i = 0; i < n; i++)
        if (!terminated(threads[i].name, sizeof(threads[i].name)))
            return -EINVAL;
    if (cap < size)
        return -ENOSPC;
    memcpy(buf, &h, sizeof(h));
    if (n)
        memcpy((unsigned char *)buf + sizeof(h), threads,
               (size_t)n * sizeof(*threads));
    return (long)size;
}

int usc_note_threads_parse(const void *desc, size_t len,
                           struct usc_note_threads *hdr)
{
    struct usc_note_threads h;

    if (!desc || !hdr || len < sizeof(h))
        return -EINVAL;
    memcpy(&h, desc, sizeof(h));
    if (h.hdr_size < sizeof(h) || h.hdr_size > len ||
        h.thread_size < sizeof(struct usc_note_thread) ||
        h.nthreads > USC_NOTE_MAX_THREADS)
        return -EINVAL;
    /* 32-bit factors: the product fits in 64 bits. */
    if ((uint64_t)h.nthreads * h.thread_size > len - h.hdr_size)
        return -EINVAL;
    *hdr = h;
    return 0;
}

int usc_note_read_thread(const void *desc, size_t len,
                         const struct usc_note_threads *hdr, uint32_t i,
                         struct usc_note_thread *out)
{
    uint64_t off;

    if (!desc || !hdr || !out || i >= hdr->nthreads)
        return -EINVAL;
    off = hdr->hdr_size + (uint64_t)i * hdr->thread_size;
    if (off > len || sizeof(*out) > len - off)
        return -EINVAL;
    memcpy(out, (const unsigned char *)desc + off, sizeof(*out));
    out->name[sizeof(out->name) - 1] = '\0';
    return 0;
}

/* ---- finding it in a segment ------------------------------------------ */

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

int usc_note_find(const void *notes, size_t len, unsigned align, uint32_t type,
                  const void **desc, size_t *desc_len)
{
    const unsigned char *p = notes;
    size_t off = 0;

    if ((!notes && len) || !desc || !desc_len || (align != 4 && align != 8))
        return -EINVAL;
    /* Each step checks what it reads against what is left: no overflow. */
    while (len - off >= 12) {
        uint64_t namesz = get_u32(p + off), descsz = get_u32(p + off + 4);
        uint32_t ntype = get_u32(p + off + 8);
        uint64_t name_off = off + 12, desc_off, next;

        desc_off = name_off + ((namesz + align - 1) & ~(uint64_t)(align - 1));
        if (desc_off > len || descsz > len - desc_off)
            return -EINVAL;
        next = desc_off + ((descsz + align - 1) & ~(uint64_t)(align - 1));
        if (ntype == type && namesz == sizeof(USC_NOTE_NAME) &&
            memcmp(p + name_off, USC_NOTE_NAME, sizeof(USC_NOTE_NAME)) == 0) {
            *desc = p + desc_off;
            *desc_len = (size_t)descsz;
            return 0;
        }
        /* The last note's padding may be cut off. */
        if (next >= len)
            break;
        off = (size_t)next;
    }
    return -ENOENT;
}

int usc_note_console(const void *notes, size_t len, unsigned align,
                     const void **text, size_t *text_len)
{
    int err =
        usc_note_find(notes, len, align, USC_NOTE_TYPE_CONSOLE, text, text_len);

    if (err == 0 && *text_len > USC_NOTE_CONSOLE_MAX)
        err = -EINVAL;
    return err;
}

/* ---- finding it in a file ---------------------------------------------- */

/*
 * Call (fn) on each PT_NOTE segment of the ELF64 core at (path) until it
 * returns 1 (done, its result in (*err)); -ENOENT when none did.
 */
static int each_note_segment(const char *path,
                             int (*fn)(const void *notes, size_t len,
                                       unsigned align, void *arg, int *err),
                             void *arg)
{
    GElf_Ehdr eh;
    struct stat st;
    Elf *elf = NULL;
    unsigned char *seg = NULL;
    size_t phnum;
    int fd, err = -ENOENT;

    if (!path)
        return -EINVAL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        err = -EINVAL;
        goto out;
    }
    elf_version(EV_CURRENT);
    elf = elf_begin(fd, ELF_C_READ, NULL);
    if (!elf || elf_kind(elf) != ELF_K_ELF ||
        gelf_getclass(elf) != ELFCLASS64 || !gelf_getehdr(elf, &eh) ||
        eh.e_type != ET_CORE) {
        err = -ENOEXEC;
        goto out;
    }
    /* elf_getphdrnum understands PN_XNUM; bound it as the backend does. */
    if (elf_getphdrnum(elf, &phnum) != 0 || phnum > MAX_PHDRS) {
        err = -EINVAL;
        goto out;
    }
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        ssize_t got;

        if (!gelf_getphdr(elf, (int)i, &ph)) {
            err = -EINVAL;
            goto out;
        }
        if (ph.p_type != PT_NOTE || ph.p_filesz == 0)
            continue;
        if (ph.p_filesz > MAX_NOTE_BYTES ||
            ph.p_offset > (uint64_t)st.st_size ||
            ph.p_filesz > (uint64_t)st.st_size - ph.p_offset) {
            err = -EINVAL;
            goto out;
        }
        free(seg);
        seg = malloc(ph.p_filesz);
        if (!seg) {
            err = -ENOMEM;
            goto out;
        }
        got = pread(fd, seg, ph.p_filesz, (off_t)ph.p_offset);
        if (got != (ssize_t)ph.p_filesz) {
            err = got < 0 ? -errno : -EINVAL;
            goto out;
        }
        if (fn(seg, ph.p_filesz, ph.p_align == 8 ? 8 : 4, arg, &err))
            goto out;
    }
    err = -ENOENT;
out:
    free(seg);
    elf_end(elf);
    close(fd);
    return err;
}

struct want_hdr {
    struct usc_note_hdr *hdr;
    struct usc_note_vcpu *vcpus;
    size_t cap, *n;
};

static int take_hdr(const void *notes, size_t len, unsigned align, void *arg,
                    int *err)
{
    struct want_hdr *w = arg;
    const void *desc;
    size_t dlen;

    *err = usc_note_find(notes, len, align, USC_NOTE_TYPE, &desc, &dlen);
    if (*err == -ENOENT)
        return 0;
    if (!*err)
        *err = usc_note_parse(desc, dlen, w->hdr);
    for (uint32_t i = 0; !*err && w->vcpus && i < w->hdr->nvcpus && i < w->cap;
         i++)
        *err = usc_note_read_vcpu(desc, dlen, w->hdr, i, &w->vcpus[i]);
    if (!*err && w->n)
        *w->n = w->hdr->nvcpus < w->cap ? w->hdr->nvcpus : w->cap;
    return 1;
}

int usc_note_read_file(const char *path, struct usc_note_hdr *hdr,
                       struct usc_note_vcpu *vcpus, size_t cap, size_t *n)
{
    struct want_hdr w = {hdr, vcpus, cap, n};

    if (!path || !hdr)
        return -EINVAL;
    if (n)
        *n = 0;
    return each_note_segment(path, take_hdr, &w);
}

struct want_console {
    void *buf;
    size_t cap, *len;
};

static int take_console(const void *notes, size_t len, unsigned align,
                        void *arg, int *err)
{
    struct want_console *w = arg;
    const void *text;
    size_t tlen;

    *err = usc_note_console(notes, len, align, &text, &tlen);
    if (*err == -ENOENT)
        return 0;
    if (!*err && tlen > w->cap)
        *err = -ENOSPC;
    if (!*err) {
        memcpy(w->buf, text, tlen);
        *w->len = tlen;
    }
    return 1;
}

int usc_note_read_console(const char *path, void *buf, size_t cap, size_t *len)
{
    struct want_console w = {buf, cap, len};

    if (!path || (!buf && cap) || !len)
        return -EINVAL;
    *len = 0;
    return each_note_segment(path, take_console, &w);
}

struct want_threads {
    struct usc_note_thread *out;
    size_t cap, *n;
};

static int take_threads(const void *notes, size_t len, unsigned align,
                        void *arg, int *err)
{
    struct want_threads *w = arg;
    struct usc_note_threads h;
    const void *desc;
    size_t dlen;

    *err =
        usc_note_find(notes, len, align, USC_NOTE_TYPE_THREADS, &desc, &dlen);
    if (*err == -ENOENT)
        return 0;
    if (!*err)
        *err = usc_note_threads_parse(desc, dlen, &h);
    for (uint32_t i = 0; !*err && i < h.nthreads && i < w->cap; i++) {
        *err = usc_note_read_thread(desc, dlen, &h, i, &w->out[i]);
        if (!*err)
            *w->n = i + 1;
    }
    return 1;
}

int usc_note_read_threads(const char *path, struct usc_note_thread *out,
                          size_t cap, size_t *n)
{
    struct want_threads w = {out, cap, n};
    int err;

    if (!path || (!out && cap) || !n)
        return -EINVAL;
    *n = 0;
    err = each_note_segment(path, take_threads, &w);
    return err == -ENOENT ? 0 : err;
}
