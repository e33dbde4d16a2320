/* Reads a unikernel image's symbols, executable ranges and build-id with
 * libelf; reads any ELF file's build-id and kind. */
#include "elfimage.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uniscope/abi.h>
#include <unistd.h>

struct sym {
    uint64_t addr;
    uint64_t size;
    char *name;
};

struct range {
    uint64_t start, end;
};

struct usc_elfimage {
    struct sym *syms; /* sorted by address */
    size_t nsyms;
    struct range *text;
    size_t ntext;
    uint8_t build_id[USC_BUILD_ID_MAX];
    size_t build_id_len;
};

static int by_addr(const void *a, const void *b)
{
    const struct sym *x = a, *y = b;
    return (x->addr > y->addr) - (x->addr < y->addr);
}

static int load_symbols(Elf *elf, struct usc_elfimage *img)
{
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB ||
            !sh.sh_entsize)
            continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        if (!data)
            continue;
        size_t n = sh.sh_size / sh.sh_entsize;
        struct sym *s = realloc(img->syms, (img->nsyms + n) * sizeof(*s));
        if (!s)
            return -ENOMEM;
        img->syms = s;
        for (size_t i = 0; i < n; i++) {
            GElf_Sym es;
            if (!gelf_getsym(data, (int)i, &es))
                continue;
            int type = GELF_ST_TYPE(es.st_info);
            if ((type != STT_FUNC && type != STT_OBJECT) || !es.st_value)
                continue;
            const char *name = elf_strptr(elf, sh.sh_link, es.st_name);
            if (!name || !*name)
                continue;
            char *copy = strdup(name);
            if (!copy)
                return -ENOMEM;
            img->syms[img->nsyms++] =
                (struct sym){es.st_value, es.st_size, copy};
        }
    }
    qsort(img->syms, img->nsyms, sizeof(*img->syms), by_addr);
    return 0;
}

static int load_segments(Elf *elf, struct usc_elfimage *img)
{
    size_t phnum;
    if (elf_getphdrnum(elf, &phnum) != 0)
        return -ENOEXEC;
    img->text = calloc(phnum ? phnum : 1, sizeof(*img->text));
    if (!img->text)
        return -ENOMEM;
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph))
            continue;
        if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) &&
            ph.p_vaddr + ph.p_memsz >= ph.p_vaddr)
            img->text[img->ntext++] =
                (struct range){ph.p_vaddr, ph.p_vaddr + ph.p_memsz};
    }
    return 0;
}

int usc_elfimage_open(const char *path, struct usc_elfimage **out)
{
    int err;
    Elf *elf = NULL;
    struct usc_elfimage *img = NULL;

    elf_version(EV_CURRENT);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    elf = elf_begin(fd, ELF_C_READ, NULL);
    if (!elf || elf_kind(elf) != ELF_K_ELF ||
        gelf_getclass(elf) != ELFCLASS64) {
        err = -ENOEXEC;
        goto err;
    }
    img = calloc(1, sizeof(*img));
    if (!img) {
        err = -ENOMEM;
        goto err;
    }
    err = load_symbols(elf, img);
    if (!err)
        err = load_segments(elf, img);
    if (err)
        goto err;
    /* An image without a build-id, or with a malformed one, has none. */
    if (usc_elf_build_id(elf, img->build_id, sizeof(img->build_id),
                         &img->build_id_len) != 0)
        img->build_id_len = 0;
    elf_end(elf);
    close(fd);
    *out = img;
    return 0;
err:
    usc_elfimage_close(img);
    if (elf)
        elf_end(elf);
    close(fd);
    return err;
}

void usc_elfimage_close(struct usc_elfimage *img)
{
    if (!img)
        return;
    for (size_t i = 0; i < img->nsyms; i++)
        free(img->syms[i].name);
    free(img->syms);
    free(img->text);
    free(img);
}

int usc_elfimage_symbol(const struct usc_elfimage *img, const char *name,
                        uint64_t *addr, uint64_t *size)
{
    for (size_t i = 0; i < img->nsyms; i++)
        if (strcmp(img->syms[i].name, name) == 0) {
            if (addr)
                *addr = img->syms[i].addr;
            if (size)
                *size = img->syms[i].size;
            return 0;
        }
    return -ENOENT;
}

int usc_elfimage_symbolize(const struct usc_elfimage *img, uint64_t addr,
                           const char **name, uint64_t *offset)
{
    /* The last symbol starting at or below addr, if addr lies inside it. */
    size_t lo = 0, hi = img->nsyms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (img->syms[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -ENOENT;
    const struct sym *s = &img->syms[lo - 1];
    if (addr - s->addr >= (s->size ? s->size : 1))
        return -ENOENT;
    *name = s->name;
    *offset = addr - s->addr;
    return 0;
}

int usc_elfimage_in_text(const struct usc_elfimage *img, uint64_t addr)
{
    for (size_t i = 0; i < img->ntext; i++)
        if (addr >= img->text[i].start && addr < img->text[i].end)
            return 1;
    return 0;
}

int usc_elfimage_build_id(const struct usc_elfimage *img, uint8_t *buf,
                          size_t cap, size_t *len)
{
    if (!img->build_id_len)
        return -ENOENT;
    if (cap < img->build_id_len)
        return -ENOSPC;
    memcpy(buf, img->build_id, img->build_id_len);
    *len = img->build_id_len;
    return 0;
}

/* ---- build-ids and kinds, of any ELF file -------------------------------- */

/*
 * Look through the notes (d) for the GNU build-id. Returns 0 with it in
 * (buf, *len); -ENOENT; -EBADMSG for a build-id note of the wrong size or
 * notes that run past their end.
 */
static int id_in_notes(Elf_Data *d, uint8_t *buf, size_t cap, size_t *len)
{
    size_t off = 0, next, name_off, desc_off;
    GElf_Nhdr nh;

    if (!d || !d->d_buf)
        return -ENOENT;
    while (off < d->d_size) {
        next = gelf_getnote(d, off, &nh, &name_off, &desc_off);
        if (next == 0)
            return -EBADMSG; /* a note past the end */
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
            memcmp((const char *)d->d_buf + name_off, "GNU", 4) == 0) {
            if (nh.n_descsz < USC_BUILD_ID_MIN || nh.n_descsz > cap)
                return -EBADMSG;
            memcpy(buf, (const char *)d->d_buf + desc_off, nh.n_descsz);
            *len = nh.n_descsz;
            return 0;
        }
        off = next;
    }
    return -ENOENT;
}

int usc_elf_build_id(Elf *elf, uint8_t *buf, size_t cap, size_t *len)
{
    size_t phnum = 0;
    Elf_Scn *scn = NULL;
    int err, bad = 0;

    *len = 0;
    if (cap > USC_BUILD_ID_MAX)
        cap = USC_BUILD_ID_MAX;
    if (elf_getphdrnum(elf, &phnum) != 0)
        phnum = 0;
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;

        if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_NOTE ||
            ph.p_filesz == 0)
            continue;
        err = id_in_notes(
            elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz,
                                 ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR),
            buf, cap, len);
        if (err != -ENOENT)
            return err;
    }
    /* As elfutils does: the sections too, for a note in a segment that is
     * not a PT_NOTE (Unikraft's linker scripts put it in a PT_LOAD). */
    while ((scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr sh;

        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
            continue;
        err = id_in_notes(elf_getdata(scn, NULL), buf, cap, len);
        if (err == -EBADMSG)
            bad = 1;
        else if (err != -ENOENT)
            return err;
    }
    return bad ? -EBADMSG : -ENOENT;
}

/* Do (elf)'s headers lie inside its (size) bytes? A file cut short does
 * not count as an image. */
static int headers_fit(Elf *elf, const GElf_Ehdr *eh, uint64_t size)
{
    size_t n;

    /* libelf quietly drops tables the file cannot hold: compare with
     * what the header claims. */
    if (elf_getphdrnum(elf, &n) != 0 ||
        (eh->e_phnum && eh->e_phnum != PN_XNUM && n != eh->e_phnum) ||
        (n && (eh->e_phoff > size ||
               (uint64_t)n * eh->e_phentsize > size - eh->e_phoff)))
        return 0;
    for (size_t i = 0; i < n; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph))
            return 0;
    }
    if (elf_getshdrnum(elf, &n) != 0 || (eh->e_shnum && n != eh->e_shnum) ||
        (n && (eh->e_shoff > size ||
               (uint64_t)n * eh->e_shentsize > size - eh->e_shoff)))
        return 0;
    for (size_t i = 1; i < n; i++) {
        GElf_Shdr sh;
        Elf_Scn *scn = elf_getscn(elf, i);
        if (!scn || !gelf_getshdr(scn, &sh))
            return 0;
        if (sh.sh_type != SHT_NOBITS &&
            (sh.sh_offset > size || sh.sh_size > size - sh.sh_offset))
            return 0;
    }
    return 1;
}

int usc_elf_probe(Elf *elf, struct usc_elf_probe *out)
{
    Elf_Scn *scn = NULL;
    size_t shstrndx, size = 0;
    GElf_Ehdr eh;

    memset(out, 0, sizeof(*out));
    if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh) ||
        !elf_rawfile(elf, &size) || !headers_fit(elf, &eh, size))
        return -ENOEXEC;
    out->elfclass = gelf_getclass(elf);
    out->machine = eh.e_machine;
    out->type = eh.e_type;
    if (elf_getshdrstrndx(elf, &shstrndx) != 0)
        shstrndx = SHN_UNDEF;
    while ((scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr sh;
        const char *name;

        if (!gelf_getshdr(scn, &sh))
            continue;
        if (sh.sh_type == SHT_SYMTAB && sh.sh_entsize && sh.sh_size)
            out->has_symtab = 1;
        name = shstrndx != SHN_UNDEF ? elf_strptr(elf, shstrndx, sh.sh_name)
                                     : NULL;
        if (name && sh.sh_type != SHT_NOBITS && sh.sh_size &&
            !strcmp(name, ".debug_info"))
            out->has_debug_info = 1;
    }
    out->build_id_err = usc_elf_build_id(
        elf, out->build_id, sizeof(out->build_id), &out->build_id_len);
    return 0;
}

int usc_elf_probe_file(const char *path, struct usc_elf_probe *out)
{
    struct stat st;
    Elf *elf;
    int fd, err;

    memset(out, 0, sizeof(*out));
    elf_version(EV_CURRENT);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -ENOEXEC;
    }
    elf = elf_begin(fd, ELF_C_READ, NULL);
    err = usc_elf_probe(elf, out);
    elf_end(elf);
    close(fd);
    return err;
}
