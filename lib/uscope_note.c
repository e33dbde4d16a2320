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

/* ---- finding it in a file ---------------------------------------------- */

/* Look through one PT_NOTE's notes, (d), for ours. 1 when found. */
static int scan_notes(Elf_Data *d, struct usc_note_hdr *hdr,
                      struct usc_note_vcpu *vcpus, size_t cap, size_t *n,
                      int *err)
{
    size_t off = 0, name_off, desc_off, next;
    GElf_Nhdr nh;

    while (off < d->d_size) {
        next = gelf_getnote(d, off, &nh, &name_off, &desc_off);
        if (next == 0) {
            *err = -EINVAL;
            return 1;
        }
        const char *name = (const char *)d->d_buf + name_off;
        if (nh.n_type == USC_NOTE_TYPE &&
            nh.n_namesz == sizeof(USC_NOTE_NAME) &&
            memcmp(name, USC_NOTE_NAME, sizeof(USC_NOTE_NAME)) == 0) {
            const unsigned char *desc =
                (const unsigned char *)d->d_buf + desc_off;
            *err = usc_note_parse(desc, nh.n_descsz, hdr);
            for (uint32_t i = 0; !*err && vcpus && i < hdr->nvcpus && i < cap;
                 i++)
                *err = usc_note_read_vcpu(desc, nh.n_descsz, hdr, i, &vcpus[i]);
            if (!*err && n)
                *n = hdr->nvcpus < cap ? hdr->nvcpus : cap;
            return 1;
        }
        off = next;
    }
    return 0;
}

int usc_note_read_file(const char *path, struct usc_note_hdr *hdr,
                       struct usc_note_vcpu *vcpus, size_t cap, size_t *n)
{
    GElf_Ehdr eh;
    struct stat st;
    Elf *elf = NULL;
    size_t phnum;
    int fd, err = -ENOENT;

    if (!path || !hdr)
        return -EINVAL;
    if (n)
        *n = 0;
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
        Elf_Data *d;

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
        d = elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz,
                                 ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
        if (!d) {
            err = -EINVAL;
            goto out;
        }
        if (scan_notes(d, hdr, vcpus, cap, n, &err))
            goto out;
    }
    err = -ENOENT;
out:
    elf_end(elf);
    close(fd);
    return err;
}
