/* Reads a unikernel image's symbols, executable ranges and build-id with
 * libelf. */
#include "elfimage.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
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
    uint8_t build_id[64];
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
        if (ph.p_type != PT_NOTE)
            continue;
        Elf_Data *d =
            elf_getdata_rawchunk(elf, ph.p_offset, ph.p_filesz, ELF_T_NHDR);
        size_t off = 0, name_off, desc_off;
        GElf_Nhdr nh;
        while (d && (off = gelf_getnote(d, off, &nh, &name_off, &desc_off))) {
            if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
                memcmp((char *)d->d_buf + name_off, "GNU", 4) == 0 &&
                nh.n_descsz <= sizeof(img->build_id)) {
                memcpy(img->build_id, (char *)d->d_buf + desc_off, nh.n_descsz);
                img->build_id_len = nh.n_descsz;
            }
        }
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
