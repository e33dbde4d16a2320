/* The core-file backend: an x86-64 ELF64 core, read-only, through libelf. */
#include "core.h"
#include "uscope_note.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bounds on what a core may claim, far above any real guest's. */
#define MAX_VCPUS 4096u
/* NT_PRSTATUS notes read: the vCPUs' and the agent threads' a uniscope
 * core adds after them (uscope_note.h). */
#define MAX_PRSTATUS (MAX_VCPUS + USC_NOTE_MAX_THREADS)
#define MAX_PHDRS (1u << 20)
#define MAX_NOTE_BYTES (64u << 20) /* one PT_NOTE */

/*
 * Linux x86-64 struct elf_prstatus: pr_pid at 32, pr_reg (a struct
 * user_regs_struct, in the order of enum prreg) at 112.
 */
#define PRSTATUS_SIZE 336u
#define PRSTATUS_REG 112u

/* clang-format off */
enum prreg {
    R15, R14, R13, R12, RBP, RBX, R11, R10, R9, R8, RAX, RCX, RDX, RSI,
    RDI, ORIG_RAX, RIP, CS, EFLAGS, RSP, SS, FS_BASE, GS_BASE, DS, ES, FS,
    GS, NPRREG
};
/* clang-format on */

/*
 * QEMU's dump-guest-memory writes, after the NT_PRSTATUS notes, one note
 * per vCPU in the same order, named "QEMU", type 0: its QEMUCPUState.
 * Layout as QEMU 7.2 writes it, read byte by byte from a real dump (the
 * same whether the dump is ELF32 or ELF64): u32 version (1) at 0, u32 size
 * at 4; rax rbx rcx rdx rsi rdi rsp rbp (note: rsp before rbp) r8..r15
 * from 8; rip 136; rflags 144; segment records of 24 bytes (u32 selector,
 * limit, flags, pad; u64 base) for cs ds es fs gs ss from 152 and ldt tr
 * gdt idt from 296; cr[0..4] from 392; kernel_gs_base at 432, present
 * when size >= 440 (fields are appended without a version bump).
 */
#define QEMU_NOTE_VERSION 1u
#define QEMU_CR 392u
#define QEMU_CR_END (QEMU_CR + 5 * 8)
#define QEMU_KGS_BASE 432u

/* A PT_LOAD, keyed by its physical or its virtual address. */
struct seg {
    uint64_t addr;
    uint64_t size;   /* p_memsz */
    uint64_t filesz; /* bytes from the file; the rest read as zeros */
    uint64_t offset; /* in the file */
};

struct core {
    int fd;
    char name[USC_TARGET_NAME_MAX];
    struct seg *phys; /* sorted, disjoint */
    size_t nphys;
    struct seg *virt; /* sorted, disjoint */
    size_t nvirt;
    struct usc_regs *regs; /* one per vCPU */
    uint32_t nvcpus;       /* NT_PRSTATUS notes seen */
    uint32_t nqemu;        /* "QEMU" notes seen */
    uint32_t cap;          /* entries allocated in regs */
    uint64_t mem_bytes;
    uint64_t phys_end;
    /* The USCOPE note's records (NULL: none), laid over regs once read. */
    struct usc_note_vcpu *uscope;
    uint32_t nuscope;
};

/* ---- the file ---------------------------------------------------------- */

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

/* Read exactly (len) bytes at (off); the file shrinking is an I/O error. */
static int pread_full(int fd, unsigned char *buf, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = pread(fd, buf, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -EIO;
        buf += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Does [off, off + len) lie inside a file of (size) bytes? */
static int in_file(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

/* ---- segments ---------------------------------------------------------- */

/* By address, then the larger first, so an alias follows what it repeats. */
static int seg_cmp(const void *a, const void *b)
{
    const struct seg *x = a, *y = b;

    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    return 0;
}

/* Drop the first (cut) bytes of (s). */
static void seg_trim(struct seg *s, uint64_t cut)
{
    s->addr += cut;
    s->size -= cut;
    s->offset += cut;
    s->filesz = s->filesz > cut ? s->filesz - cut : 0;
}

/*
 * Sort (s) and make it disjoint in place, keeping the earlier segment
 * where two overlap; the count left goes to (*n). With (strict), an
 * overlap is accepted only from an alias that repeats the same file bytes
 * (as QEMU's paging=true dumps write one PT_LOAD per virtual mapping of
 * the same RAM) or that has none; anything else is -EINVAL.
 */
static int seg_disjoin(struct seg *s, size_t *n, int strict)
{
    size_t k = 0;

    qsort(s, *n, sizeof(*s), seg_cmp);
    for (size_t i = 0; i < *n; i++) {
        struct seg cur = s[i];
        if (k > 0) {
            const struct seg *prev = &s[k - 1];
            uint64_t prev_end = prev->addr + prev->size;
            if (cur.addr < prev_end) {
                int alias = cur.filesz == 0 ||
                            cur.offset - cur.addr == prev->offset - prev->addr;
                if (strict && !alias)
                    return -EINVAL;
                if (cur.size <= prev_end - cur.addr)
                    continue;
                seg_trim(&cur, prev_end - cur.addr);
            }
        }
        s[k++] = cur;
    }
    *n = k;
    return 0;
}

/* The segment of sorted, disjoint (t) holding (addr), or NULL. */
static const struct seg *seg_find(const struct seg *t, size_t n, uint64_t addr)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const struct seg *s = &t[lo - 1];
    return addr - s->addr < s->size ? s : NULL;
}

static int seg_read(int fd, const struct seg *t, size_t n, uint64_t addr,
                    unsigned char *buf, size_t len)
{
    while (len > 0) {
        const struct seg *s = seg_find(t, n, addr);
        if (!s)
            return -EFAULT;
        uint64_t at = addr - s->addr;
        size_t chunk = s->size - at < len ? (size_t)(s->size - at) : len;
        size_t from_file = 0;
        if (at < s->filesz)
            from_file =
                s->filesz - at < chunk ? (size_t)(s->filesz - at) : chunk;
        int err = pread_full(fd, buf, from_file, s->offset + at);
        if (err)
            return err;
        memset(buf + from_file, 0, chunk - from_file);
        buf += chunk;
        addr += chunk;
        len -= chunk;
    }
    return 0;
}

/* Build the physical and virtual segment tables from the PT_LOADs. */
static int load_segments(struct core *c, Elf *elf, size_t phnum,
                         uint64_t file_size)
{
    c->phys = calloc(phnum, sizeof(*c->phys));
    c->virt = calloc(phnum, sizeof(*c->virt));
    if (!c->phys || !c->virt)
        return -ENOMEM;

    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph))
            return -EINVAL;
        if (ph.p_type != PT_LOAD)
            continue;
        /* No file bytes, no offset to check: QEMU may leave it unset. */
        if (ph.p_filesz > ph.p_memsz ||
            (ph.p_filesz && !in_file(ph.p_offset, ph.p_filesz, file_size)) ||
            ph.p_memsz > UINT64_MAX - ph.p_paddr)
            return -EINVAL;
        if (ph.p_memsz == 0)
            continue;
        struct seg s = {ph.p_paddr, ph.p_memsz, ph.p_filesz, ph.p_offset};
        c->phys[c->nphys++] = s;
        /* The top byte of the address space is not worth a special case. */
        if (ph.p_memsz <= UINT64_MAX - ph.p_vaddr) {
            s.addr = ph.p_vaddr;
            c->virt[c->nvirt++] = s;
        }
    }
    if (c->nphys == 0)
        return -EINVAL;
    int err = seg_disjoin(c->phys, &c->nphys, 1);
    if (err)
        return err;
    seg_disjoin(c->virt, &c->nvirt, 0);

    for (size_t i = 0; i < c->nphys; i++)
        c->mem_bytes += c->phys[i].size;
    c->phys_end = c->phys[c->nphys - 1].addr + c->phys[c->nphys - 1].size;
    return 0;
}

/* ---- notes ------------------------------------------------------------- */

/* Make room for vCPU (index), which is at most one past the last. */
static int grow_vcpus(struct core *c, uint32_t index)
{
    if (index >= MAX_PRSTATUS)
        return -EINVAL;
    if (index < c->cap)
        return 0;
    uint32_t cap = c->cap ? c->cap * 2 : 8;
    struct usc_regs *r = realloc(c->regs, cap * sizeof(*r));
    if (!r)
        return -ENOMEM;
    memset(r + c->cap, 0, (cap - c->cap) * sizeof(*r));
    c->regs = r;
    c->cap = cap;
    return 0;
}

static int prstatus_note(struct core *c, const unsigned char *desc,
                         size_t descsz)
{
    if (descsz != PRSTATUS_SIZE)
        return -EINVAL;
    int err = grow_vcpus(c, c->nvcpus);
    if (err)
        return err;

    uint64_t g[NPRREG];
    struct usc_regs *r = &c->regs[c->nvcpus++];
    memcpy(g, desc + PRSTATUS_REG, sizeof(g));
    r->rax = g[RAX];
    r->rbx = g[RBX];
    r->rcx = g[RCX];
    r->rdx = g[RDX];
    r->rsi = g[RSI];
    r->rdi = g[RDI];
    r->rbp = g[RBP];
    r->rsp = g[RSP];
    r->r8 = g[R8];
    r->r9 = g[R9];
    r->r10 = g[R10];
    r->r11 = g[R11];
    r->r12 = g[R12];
    r->r13 = g[R13];
    r->r14 = g[R14];
    r->r15 = g[R15];
    r->rip = g[RIP];
    r->rflags = g[EFLAGS];
    r->cs = g[CS];
    r->ss = g[SS];
    r->ds = g[DS];
    r->es = g[ES];
    r->fs = g[FS];
    r->gs = g[GS];
    r->fs_base = g[FS_BASE];
    r->gs_base = g[GS_BASE];
    return 0;
}

/* The i-th "QEMU" note belongs to the i-th vCPU: QEMU writes both in order. */
static int qemu_note(struct core *c, const unsigned char *desc, size_t descsz)
{
    uint32_t version, size;

    if (descsz < 8)
        return -EINVAL;
    memcpy(&version, desc, sizeof(version));
    memcpy(&size, desc + 4, sizeof(size));
    if (size > descsz)
        return -EINVAL;
    int err = grow_vcpus(c, c->nqemu);
    if (err)
        return err;
    struct usc_regs *r = &c->regs[c->nqemu++];
    /* A layout we do not know leaves the vCPU with NT_PRSTATUS's registers. */
    if (version != QEMU_NOTE_VERSION)
        return 0;
    if (size < QEMU_CR_END)
        return -EINVAL;
    r->cr0 = get_u64(desc + QEMU_CR);
    r->cr2 = get_u64(desc + QEMU_CR + 16);
    r->cr3 = get_u64(desc + QEMU_CR + 24);
    r->cr4 = get_u64(desc + QEMU_CR + 32);
    if (size >= QEMU_KGS_BASE + 8)
        r->k_gs_base = get_u64(desc + QEMU_KGS_BASE);
    return 0;
}

/*
 * ==== USCOPE: uniscope's own note (written by unicore; uscope_note.h) ====
 * It names the guest and carries, per vCPU in NT_PRSTATUS order, the
 * registers QEMU's note lacks (cr8, efer) and the rest of the control
 * set. Its records are kept here and laid over the vCPUs once every note
 * is read, since they win over a QEMU note wherever the notes lie.
 */
static int uscope_note(struct core *c, const GElf_Nhdr *nh,
                       const unsigned char *desc)
{
    struct usc_note_hdr hdr;
    int err;

    /* Another type or a later version: not ours to judge. */
    if (nh->n_type != USC_NOTE_TYPE)
        return 0;
    err = usc_note_parse(desc, nh->n_descsz, &hdr);
    if (err == -EPROTONOSUPPORT)
        return 0;
    if (err)
        return err;
    if (c->uscope) /* one per core */
        return -EINVAL;
    c->uscope = calloc(hdr.nvcpus ? hdr.nvcpus : 1, sizeof(*c->uscope));
    if (!c->uscope)
        return -ENOMEM;
    for (uint32_t i = 0; i < hdr.nvcpus; i++) {
        err = usc_note_read_vcpu(desc, nh->n_descsz, &hdr, i, &c->uscope[i]);
        if (err)
            return err;
    }
    c->nuscope = hdr.nvcpus;
    if (hdr.name[0])
        snprintf(c->name, sizeof(c->name), "%s", hdr.name);
    return 0;
}

/* Lay the USCOPE records' control registers over the vCPUs' registers. */
static void apply_uscope(struct core *c)
{
    for (uint32_t i = 0; i < c->nuscope && i < c->nvcpus; i++) {
        const struct usc_regs *u = &c->uscope[i].regs;
        struct usc_regs *r = &c->regs[i];

        /* Without registers the dump may still have found the tables. */
        r->cr0 = u->cr0;
        r->cr2 = u->cr2;
        r->cr3 = u->cr3;
        r->cr4 = u->cr4;
        r->cr8 = u->cr8;
        r->efer = u->efer;
        r->k_gs_base = u->k_gs_base;
    }
}

/* Is the note's name (name, namesz) the string (want)? */
static int name_is(const char *name, size_t namesz, const char *want)
{
    return namesz == strlen(want) + 1 && memcmp(name, want, namesz) == 0;
}

/* Take the notes of one PT_NOTE, (d), as libelf converted them. */
static int parse_notes(struct core *c, Elf_Data *d)
{
    size_t off = 0;

    while (off < d->d_size) {
        GElf_Nhdr nh;
        size_t name_off, desc_off;
        /* libelf checks that name and descriptor lie inside (d). */
        size_t next = gelf_getnote(d, off, &nh, &name_off, &desc_off);
        if (next == 0)
            return -EINVAL;
        const char *name = (const char *)d->d_buf + name_off;
        const unsigned char *desc = (const unsigned char *)d->d_buf + desc_off;
        int err = 0;
        if (name_is(name, nh.n_namesz, "CORE") && nh.n_type == NT_PRSTATUS)
            err = prstatus_note(c, desc, nh.n_descsz);
        else if (name_is(name, nh.n_namesz, "QEMU") && nh.n_type == 0)
            err = qemu_note(c, desc, nh.n_descsz);
        else if (name_is(name, nh.n_namesz, "USCOPE"))
            err = uscope_note(c, &nh, desc);
        if (err)
            return err;
        off = next;
    }
    return 0;
}

static int load_notes(struct core *c, Elf *elf, size_t phnum,
                      uint64_t file_size)
{
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph))
            return -EINVAL;
        if (ph.p_type != PT_NOTE || ph.p_filesz == 0)
            continue;
        if (ph.p_filesz > MAX_NOTE_BYTES ||
            !in_file(ph.p_offset, ph.p_filesz, file_size))
            return -EINVAL;
        Elf_Data *d =
            elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz,
                                 ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
        if (!d)
            return -EINVAL;
        int err = parse_notes(c, d);
        if (err)
            return err;
    }
    /* A vCPU is an NT_PRSTATUS: QEMU notes alone do not make one. */
    if (c->nvcpus == 0 || c->nqemu > c->nvcpus)
        return -EINVAL;
    /* NT_PRSTATUS beyond the USCOPE note's vCPUs are agent threads. */
    if (c->uscope && c->nuscope && c->nuscope < c->nvcpus)
        c->nvcpus = c->nuscope;
    if (c->nvcpus > MAX_VCPUS)
        return -EINVAL;
    apply_uscope(c);
    return 0;
}

/* ---- the header -------------------------------------------------------- */

/*
 * Check that (elf) is an x86-64 ELF64 core whose program header table
 * lies inside the file, and count its entries into (*phnum).
 */
static int check_header(Elf *elf, uint64_t file_size, size_t *phnum)
{
    GElf_Ehdr eh;
    size_t n;

    if (elf_kind(elf) != ELF_K_ELF || gelf_getclass(elf) != ELFCLASS64)
        return -ENOEXEC;
    if (!gelf_getehdr(elf, &eh))
        return -EINVAL;
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_type != ET_CORE ||
        eh.e_machine != EM_X86_64)
        return -ENOEXEC;
    if (eh.e_phentsize != sizeof(Elf64_Phdr))
        return -EINVAL;
    /*
     * libelf's own count silently drops entries past the end of the file,
     * so count from the header (or section 0, for PN_XNUM) ourselves.
     */
    n = eh.e_phnum;
    if (n == PN_XNUM) {
        GElf_Shdr sh;
        Elf_Scn *s0 = elf_getscn(elf, 0);
        if (!s0 || !gelf_getshdr(s0, &sh))
            return -EINVAL;
        n = sh.sh_info;
    }
    if (n == 0 || n > MAX_PHDRS ||
        !in_file(eh.e_phoff, (uint64_t)n * sizeof(Elf64_Phdr), file_size))
        return -EINVAL;
    *phnum = n;
    return 0;
}

/* ---- the operations ---------------------------------------------------- */

static void core_close(void *priv)
{
    struct core *c = priv;

    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c->phys);
    free(c->virt);
    free(c->regs);
    free(c->uscope);
    free(c);
}

/* The guest's name, until the USCOPE note tells: the file's, truncated. */
static void set_name(struct core *c, const char *path)
{
    const char *base = strrchr(path, '/');

    base = base ? base + 1 : path;
    size_t len = strnlen(base, sizeof(c->name) - 1);
    memcpy(c->name, base, len);
    c->name[len] = '\0';
}

static int core_open(const struct usc_target_spec *spec, void **priv)
{
    struct core *c = calloc(1, sizeof(*c));
    Elf *elf = NULL;
    struct stat st;
    size_t phnum;
    int err;

    if (!c)
        return -ENOMEM;
    c->fd = open(spec->core, O_RDONLY | O_CLOEXEC);
    if (c->fd < 0 || fstat(c->fd, &st) != 0) {
        err = -errno;
        goto err;
    }
    if (!S_ISREG(st.st_mode)) {
        err = -EINVAL;
        goto err;
    }
    set_name(c, spec->core);

    /* ELF_C_READ: libelf reads headers and notes, never maps the RAM. */
    elf_version(EV_CURRENT);
    elf = elf_begin(c->fd, ELF_C_READ, NULL);
    if (!elf) {
        err = -EIO;
        goto err;
    }
    err = check_header(elf, (uint64_t)st.st_size, &phnum);
    if (err)
        goto err;
    err = load_segments(c, elf, phnum, (uint64_t)st.st_size);
    if (err)
        goto err;
    err = load_notes(c, elf, phnum, (uint64_t)st.st_size);
    if (err)
        goto err;
    elf_end(elf);
    *priv = c;
    return 0;

err:
    elf_end(elf);
    core_close(c);
    return err;
}

static int core_describe(void *priv, struct usc_target_info *info)
{
    const struct core *c = priv;

    memset(info, 0, sizeof(*info));
    memcpy(info->name, c->name, sizeof(info->name));
    snprintf(info->hypervisor, sizeof(info->hypervisor), "core");
    info->nvcpus = c->nvcpus;
    info->mem_bytes = c->mem_bytes;
    info->phys_end = c->phys_end;
    /* What the guest was doing is the agent's to tell, not the file's. */
    info->state = USC_VM_UNKNOWN;
    info->pid = -1;
    info->can_control = 0;
    return 0;
}

static int core_read_phys(void *priv, uint64_t paddr, void *buf, size_t len)
{
    const struct core *c = priv;

    return seg_read(c->fd, c->phys, c->nphys, paddr, buf, len);
}

int usc_core_read_vaddr(void *priv, uint64_t vaddr, void *buf, size_t len)
{
    const struct core *c = priv;

    return seg_read(c->fd, c->virt, c->nvirt, vaddr, buf, len);
}

static int core_get_regs(void *priv, uint32_t vcpu, struct usc_regs *regs)
{
    const struct core *c = priv;

    if (vcpu >= c->nvcpus)
        return -EINVAL;
    *regs = c->regs[vcpu];
    return 0;
}

const struct usc_backend_ops usc_backend_core = {
    .name = "core",
    .open = core_open,
    .close = core_close,
    .describe = core_describe,
    .read_phys = core_read_phys,
    .get_regs = core_get_regs,
};
