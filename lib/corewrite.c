/* The ELF core writer: find the non-zero pages, lay out, write. */
#include "corewrite.h"
#include "guestmem.h"

#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE 4096ull
#define BLOCK (1ull << 20) /* bytes scanned or copied at a time */
#define MAX_LOADS                                                              \
    ((1u << 20) - 2) /* the core backend's limit, less PT_NOTE                 \
                      */

/* Linux x86-64 struct elf_prstatus and struct elf_prpsinfo. */
#define PRSTATUS_SIZE 336u
#define PRSTATUS_CURSIG 12u
#define PRSTATUS_PID 32u
#define PRSTATUS_PGRP 40u
#define PRSTATUS_SID 44u
#define PRSTATUS_REG 112u
#define PRPSINFO_SIZE 136u
#define PRPSINFO_SNAME 1u
#define PRPSINFO_PID 24u
#define PRPSINFO_FNAME 40u
#define PRPSINFO_PSARGS 56u
#define PRPSINFO_FNAME_LEN 16u
#define PRPSINFO_PSARGS_LEN 80u

/* clang-format off */
enum prreg {
    R15, R14, R13, R12, RBP, RBX, R11, R10, R9, R8, RAX, RCX, RDX, RSI,
    RDI, ORIG_RAX, RIP, CS, EFLAGS, RSP, SS, FS_BASE, GS_BASE, DS, ES, FS,
    GS, NPRREG
};
/* clang-format on */

/* A run of non-zero pages, (rel) bytes into the file's data area. */
struct chunk {
    uint64_t paddr, len, rel;
};

/* A physical range some virtual range covers. */
struct span {
    uint64_t paddr, len;
};

struct usc_core_plan {
    struct usc_core_desc d;
    struct usc_core_source src;
    struct chunk *chunks;
    size_t nchunks, capchunks;
    Elf64_Phdr *ph; /* ph[0] is the PT_NOTE */
    size_t nph, capph;
    uint64_t data_bytes;
    uint64_t notes_size;
    uint64_t data_off; /* page-aligned start of the data area */
    uint64_t pages_skipped, pages_in_holes;
    unsigned char *buf; /* BLOCK bytes, for sources without a mapping */
};

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* ---- finding the data -------------------------------------------------- */

static int is_zero(const unsigned char *p, size_t len)
{
    static const unsigned char zero[PAGE];

    for (size_t off = 0; off < len; off += PAGE)
        if (memcmp(p + off, zero, min_u64(PAGE, len - off)) != 0)
            return 0;
    return 1;
}

static int add_chunk(struct usc_core_plan *p, uint64_t paddr, uint64_t len)
{
    if (p->nchunks) {
        struct chunk *last = &p->chunks[p->nchunks - 1];
        if (last->paddr + last->len == paddr) {
            last->len += len;
            return 0;
        }
    }
    if (p->nchunks == p->capchunks) {
        size_t cap = p->capchunks ? p->capchunks * 2 : 256;
        struct chunk *c = realloc(p->chunks, cap * sizeof(*c));
        if (!c)
            return -ENOMEM;
        p->chunks = c;
        p->capchunks = cap;
    }
    p->chunks[p->nchunks++] = (struct chunk){paddr, len, 0};
    return 0;
}

/* The bytes of [paddr, paddr + len) (len <= BLOCK), mapped or copied. */
static const unsigned char *fetch(struct usc_core_plan *p, uint64_t paddr,
                                  size_t len, int *err)
{
    const struct usc_physmem *pm = p->src.pm;
    const void *m = pm->map ? pm->map(pm->priv, paddr, len) : NULL;

    *err = 0;
    if (m)
        return m;
    *err = usc_guestmem_read(pm, paddr, p->buf, len);
    return *err ? NULL : p->buf;
}

/* Record the non-zero pages of [start, stop), page-aligned. */
static int scan_span(struct usc_core_plan *p, uint64_t start, uint64_t stop)
{
    int err;

    for (uint64_t blk = start; blk < stop; blk += BLOCK) {
        size_t len = (size_t)min_u64(BLOCK, stop - blk);
        const unsigned char *b = fetch(p, blk, len, &err);
        if (!b)
            return err ? err : -EFAULT;
        for (size_t off = 0; off < len; off += PAGE) {
            if (is_zero(b + off, PAGE)) {
                p->pages_skipped++;
                continue;
            }
            err = add_chunk(p, blk + off, PAGE);
            if (err)
                return err;
        }
    }
    return 0;
}

static int scan_ram(struct usc_core_plan *p, const struct usc_core_ram *r)
{
    uint64_t pos = r->paddr, end = r->paddr + r->len;

    while (pos < end) {
        uint64_t start = pos, stop = end;
        if (p->src.next_data) {
            int err = p->src.next_data(p->src.priv, pos, end, &start, &stop);
            if (err == -ENXIO) {
                start = stop = end;
            } else if (err) {
                return err;
            }
            /* Whole pages, inside [pos, end), always moving forward. */
            start = start < pos ? pos : start & ~(PAGE - 1);
            stop = min_u64(end, align_up(stop, PAGE));
            if (start > end)
                start = end;
            if (stop <= start)
                stop = min_u64(end, start + PAGE);
            p->pages_in_holes += (start - pos) / PAGE;
            p->pages_skipped += (start - pos) / PAGE;
        }
        int err = scan_span(p, start, stop);
        if (err)
            return err;
        pos = stop;
    }
    return 0;
}

/* Merge chunks less than (gap) bytes apart: fewer segments, zeros written. */
static void merge_chunks(struct usc_core_plan *p, uint64_t gap)
{
    size_t k = 0;

    for (size_t i = 0; i < p->nchunks; i++) {
        if (k && p->chunks[i].paddr -
                         (p->chunks[k - 1].paddr + p->chunks[k - 1].len) <
                     gap) {
            struct chunk *last = &p->chunks[k - 1];
            uint64_t skipped = (p->chunks[i].paddr - last->paddr - last->len);
            p->pages_skipped -= skipped / PAGE;
            last->len = p->chunks[i].paddr + p->chunks[i].len - last->paddr;
            continue;
        }
        p->chunks[k++] = p->chunks[i];
    }
    p->nchunks = k;
}

/* ---- the program headers ---------------------------------------------- */

static int add_load(struct usc_core_plan *p, uint64_t vaddr, uint64_t paddr,
                    uint64_t filesz, uint64_t memsz, uint64_t rel,
                    uint32_t flags)
{
    if (p->nph >= MAX_LOADS + 1)
        return -E2BIG;
    if (p->nph == p->capph) {
        size_t cap = p->capph ? p->capph * 2 : 64;
        Elf64_Phdr *ph;

        ph = realloc(p->ph, cap * sizeof(*ph));
        if (!ph)
            return -ENOMEM;
        p->ph = ph;
        p->capph = cap;
    }
    /* p_offset holds the data-relative offset until the layout is known. */
    p->ph[p->nph++] = (Elf64_Phdr){
        .p_type = PT_LOAD,
        .p_flags = flags,
        .p_offset = filesz ? rel : 0,
        .p_vaddr = vaddr,
        .p_paddr = paddr,
        .p_filesz = filesz,
        .p_memsz = memsz,
        .p_align = PAGE,
    };
    return 0;
}

/* The first chunk ending above (paddr). */
static size_t chunk_after(const struct usc_core_plan *p, uint64_t paddr)
{
    size_t lo = 0, hi = p->nchunks;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->chunks[mid].paddr + p->chunks[mid].len <= paddr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*
 * PT_LOADs for RAM [paddr, paddr + len) seen at (vaddr): each starts with
 * a chunk's bytes and runs on over the zeros after it; zeros before the
 * first chunk get a segment of their own with no file bytes.
 */
static int emit_range(struct usc_core_plan *p, uint64_t vaddr, uint64_t paddr,
                      uint64_t len, uint32_t flags)
{
    uint64_t pos = paddr, end = paddr + len;
    size_t i = chunk_after(p, paddr);
    int err = 0;

    while (pos < end && !err) {
        const struct chunk *c = i < p->nchunks ? &p->chunks[i] : NULL;
        uint64_t v = vaddr + (pos - paddr);
        if (c && c->paddr <= pos) {
            uint64_t data_end = min_u64(c->paddr + c->len, end);
            uint64_t tail = end;
            if (i + 1 < p->nchunks)
                tail = min_u64(p->chunks[i + 1].paddr, end);
            if (data_end == end)
                tail = end;
            err = add_load(p, v, pos, data_end - pos, tail - pos,
                           c->rel + (pos - c->paddr), flags);
            pos = tail;
            i++;
        } else {
            uint64_t zend = c ? min_u64(c->paddr, end) : end;
            err = add_load(p, v, pos, 0, zend - pos, 0, flags);
            pos = zend;
        }
    }
    return err;
}

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;

    return x->paddr < y->paddr ? -1 : x->paddr > y->paddr;
}

/* PT_LOADs for RAM no virtual range covers, given the (n) (covered) ones. */
static int emit_unmapped(struct usc_core_plan *p, struct span *covered,
                         size_t n)
{
    uint64_t base = p->d.nvmap ? USC_CORE_UNMAPPED_VADDR : 0;
    const uint32_t all = USC_VRANGE_R | USC_VRANGE_W | USC_VRANGE_X;
    int err = 0;

    if (n)
        qsort(covered, n, sizeof(*covered), span_cmp);
    for (size_t r = 0; r < p->d.nram && !err; r++) {
        uint64_t pos = p->d.ram[r].paddr;
        uint64_t end = pos + p->d.ram[r].len;
        for (size_t i = 0; i < n && pos < end && !err; i++) {
            uint64_t cs = covered[i].paddr, ce = cs + covered[i].len;
            if (ce <= pos || cs >= end)
                continue;
            if (cs > pos)
                err = emit_range(p, base + pos, pos, cs - pos, all);
            if (ce > pos)
                pos = ce;
        }
        if (pos < end && !err)
            err = emit_range(p, base + pos, pos, end - pos, all);
    }
    return err;
}

/* Build every PT_LOAD: the virtual views, then RAM nothing maps. */
static int build_loads(struct usc_core_plan *p)
{
    struct span *covered = NULL;
    size_t ncovered = 0, cap = 0;
    int err = 0;

    p->nph = 1; /* the PT_NOTE, filled in later */
    if (!p->ph) {
        p->ph = calloc(64, sizeof(*p->ph));
        if (!p->ph)
            return -ENOMEM;
        p->capph = 64;
    }
    for (size_t v = 0; v < p->d.nvmap && !err; v++) {
        const struct usc_vrange *vr = &p->d.vmap[v];
        for (size_t r = 0; r < p->d.nram && !err; r++) {
            uint64_t rs = p->d.ram[r].paddr, re = rs + p->d.ram[r].len;
            uint64_t s = vr->paddr > rs ? vr->paddr : rs;
            uint64_t e = vr->len > UINT64_MAX - vr->paddr
                             ? re
                             : min_u64(vr->paddr + vr->len, re);
            if (s >= e)
                continue;
            if (ncovered == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                struct span *c = realloc(covered, ncap * sizeof(*c));
                if (!c) {
                    err = -ENOMEM;
                    break;
                }
                covered = c;
                cap = ncap;
            }
            covered[ncovered++] = (struct span){s, e - s};
            err =
                emit_range(p, vr->vaddr + (s - vr->paddr), s, e - s, vr->flags);
        }
    }
    if (!err)
        err = emit_unmapped(p, covered, ncovered);
    free(covered);
    return err;
}

/* ---- notes ------------------------------------------------------------- */

static size_t note_size(size_t namesz, size_t descsz)
{
    return sizeof(Elf64_Nhdr) + align_up(namesz, 4) + align_up(descsz, 4);
}

static unsigned char *put_note(unsigned char *at, const char *name,
                               uint32_t type, const void *desc, size_t descsz)
{
    Elf64_Nhdr nh = {(Elf64_Word)strlen(name) + 1, (Elf64_Word)descsz, type};

    memcpy(at, &nh, sizeof(nh));
    at += sizeof(nh);
    memcpy(at, name, nh.n_namesz);
    at += align_up(nh.n_namesz, 4);
    memcpy(at, desc, descsz);
    return at + align_up(descsz, 4);
}

static void put_prstatus(unsigned char *d, const struct usc_regs *r,
                         int32_t pid, int signal)
{
    int32_t one = 1;
    int16_t sig = (int16_t)signal;
    int32_t signo = signal;
    uint64_t g[NPRREG] = {
        [R15] = r->r15,         [R14] = r->r14,
        [R13] = r->r13,         [R12] = r->r12,
        [RBP] = r->rbp,         [RBX] = r->rbx,
        [R11] = r->r11,         [R10] = r->r10,
        [R9] = r->r9,           [R8] = r->r8,
        [RAX] = r->rax,         [RCX] = r->rcx,
        [RDX] = r->rdx,         [RSI] = r->rsi,
        [RDI] = r->rdi,         [ORIG_RAX] = UINT64_MAX,
        [RIP] = r->rip,         [CS] = r->cs,
        [EFLAGS] = r->rflags,   [RSP] = r->rsp,
        [SS] = r->ss,           [FS_BASE] = r->fs_base,
        [GS_BASE] = r->gs_base, [DS] = r->ds,
        [ES] = r->es,           [FS] = r->fs,
        [GS] = r->gs,
    };

    memset(d, 0, PRSTATUS_SIZE);
    memcpy(d, &signo, sizeof(signo)); /* pr_info.si_signo */
    memcpy(d + PRSTATUS_CURSIG, &sig, sizeof(sig));
    memcpy(d + PRSTATUS_PID, &pid, sizeof(pid));
    memcpy(d + PRSTATUS_PGRP, &one, sizeof(one));
    memcpy(d + PRSTATUS_SID, &one, sizeof(one));
    memcpy(d + PRSTATUS_REG, g, sizeof(g));
}

/* NT_PRPSINFO: gdb says "Core was generated by `NAME'" from it. */
static void put_prpsinfo(unsigned char *d, const struct usc_note_hdr *note)
{
    int32_t pid = 1;
    const char *args = note->image[0] ? note->image : note->name;
    const char *slash = strrchr(note->image, '/');
    /* gdb checks the program name against the executable's file name. */
    const char *fname = slash ? slash + 1 : args;

    memset(d, 0, PRPSINFO_SIZE);
    d[PRPSINFO_SNAME] = 'R';
    memcpy(d + PRPSINFO_PID, &pid, sizeof(pid));
    /* Cut to the fields, which need no terminating NUL. */
    memcpy(d + PRPSINFO_FNAME, fname, strnlen(fname, PRPSINFO_FNAME_LEN));
    memcpy(d + PRPSINFO_PSARGS, args, strnlen(args, PRPSINFO_PSARGS_LEN));
}

/* The console bytes the core keeps: the last USC_NOTE_CONSOLE_MAX. */
static size_t console_kept(const struct usc_core_plan *p,
                           const unsigned char **from)
{
    size_t n = p->d.console ? p->d.console_len : 0;

    if (n > USC_NOTE_CONSOLE_MAX)
        n = USC_NOTE_CONSOLE_MAX;
    *from =
        n ? (const unsigned char *)p->d.console + p->d.console_len - n : NULL;
    return n;
}

static uint64_t notes_size(const struct usc_core_plan *p)
{
    const unsigned char *con;
    size_t ncon = console_kept(p, &con);

    uint32_t nt = p->d.nthreads;

    return (p->d.nvcpus + nt) * note_size(5, PRSTATUS_SIZE) +
           note_size(5, PRPSINFO_SIZE) +
           note_size(sizeof(USC_NOTE_NAME), usc_note_size(p->d.nvcpus)) +
           (ncon ? note_size(sizeof(USC_NOTE_NAME), ncon) : 0) +
           (nt ? note_size(sizeof(USC_NOTE_NAME), usc_note_threads_size(nt))
               : 0);
}

/* The threads note: the names gdb cannot take from NT_PRSTATUS. */
static int put_threads(const struct usc_core_plan *p, unsigned char *at)
{
    uint32_t n = p->d.nthreads;
    size_t size = usc_note_threads_size(n);
    struct usc_note_thread *recs = calloc(n, sizeof(*recs));
    unsigned char *desc = malloc(size);
    long len = -ENOMEM;

    if (recs && desc) {
        for (uint32_t i = 0; i < n; i++)
            recs[i] = p->d.threads[i].note;
        len = usc_note_threads_encode(recs, n, desc, size);
        if (len > 0)
            put_note(at, USC_NOTE_NAME, USC_NOTE_TYPE_THREADS, desc,
                     (size_t)len);
    }
    free(recs);
    free(desc);
    return len < 0 ? (int)len : 0;
}

static int put_notes(const struct usc_core_plan *p, unsigned char *at,
                     const struct usc_note_hdr *note)
{
    unsigned char prstatus[PRSTATUS_SIZE], prpsinfo[PRPSINFO_SIZE];
    size_t size = usc_note_size(p->d.nvcpus);
    const unsigned char *con;
    size_t ncon = console_kept(p, &con);
    struct usc_note_vcpu *recs = calloc(p->d.nvcpus, sizeof(*recs));
    unsigned char *desc = malloc(size);
    long n;
    int err = 0;

    if (!recs || !desc) {
        err = -ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < p->d.nvcpus; i++) {
        const struct usc_core_vcpu *v = &p->d.vcpus[i];
        put_prstatus(prstatus, &v->regs, (int32_t)v->index + 1, v->signal);
        at = put_note(at, "CORE", NT_PRSTATUS, prstatus, sizeof(prstatus));
        recs[i].index = p->d.vcpus[i].index;
        recs[i].flags = p->d.vcpus[i].flags;
        recs[i].regs = p->d.vcpus[i].live;
    }
    for (uint32_t i = 0; i < p->d.nthreads; i++) {
        const struct usc_core_thread *t = &p->d.threads[i];
        put_prstatus(prstatus, &t->regs, (int32_t)t->note.lwp, 0);
        at = put_note(at, "CORE", NT_PRSTATUS, prstatus, sizeof(prstatus));
    }
    put_prpsinfo(prpsinfo, note);
    at = put_note(at, "CORE", NT_PRPSINFO, prpsinfo, sizeof(prpsinfo));
    n = usc_note_encode(note, recs, p->d.nvcpus, desc, size);
    if (n < 0) {
        err = (int)n;
        goto out;
    }
    at = put_note(at, USC_NOTE_NAME, USC_NOTE_TYPE, desc, (size_t)n);
    if (ncon)
        at = put_note(at, USC_NOTE_NAME, USC_NOTE_TYPE_CONSOLE, con, ncon);
    if (p->d.nthreads)
        err = put_threads(p, at);
out:
    free(recs);
    free(desc);
    return err;
}

/* ---- the plan ---------------------------------------------------------- */

static int desc_ok(const struct usc_core_desc *d)
{
    if (!d->nvcpus || !d->vcpus || d->nvcpus > USC_NOTE_MAX_VCPUS ||
        d->nthreads > USC_NOTE_MAX_THREADS || (d->nthreads && !d->threads) ||
        (d->nram && !d->ram) || (d->nvmap && !d->vmap))
        return 0;
    for (size_t i = 0; i < d->nram; i++) {
        const struct usc_core_ram *r = &d->ram[i];
        if ((r->paddr | r->len) & (PAGE - 1) || r->len > UINT64_MAX - r->paddr)
            return 0;
        if (i && r->paddr < d->ram[i - 1].paddr + d->ram[i - 1].len)
            return 0;
    }
    return 1;
}

/* Headers, notes and data offsets, once the PT_LOADs are known. */
static void lay_out(struct usc_core_plan *p)
{
    uint64_t rel = 0, hdrs;

    for (size_t i = 0; i < p->nchunks; i++)
        rel += p->chunks[i].len;
    p->data_bytes = rel;
    p->notes_size = notes_size(p);
    hdrs = sizeof(Elf64_Ehdr) + p->nph * sizeof(Elf64_Phdr);
    if (p->nph >= PN_XNUM)
        hdrs += sizeof(Elf64_Shdr);
    p->ph[0] = (Elf64_Phdr){
        .p_type = PT_NOTE,
        .p_offset = hdrs,
        .p_filesz = p->notes_size,
        .p_align = 4,
    };
    p->data_off = align_up(hdrs + p->notes_size, PAGE);
    for (size_t i = 1; i < p->nph; i++)
        if (p->ph[i].p_filesz)
            p->ph[i].p_offset += p->data_off;
}

int usc_core_plan(const struct usc_core_desc *desc,
                  const struct usc_core_source *src, struct usc_core_plan **out)
{
    struct usc_core_plan *p;
    uint64_t gap = PAGE;
    int err;

    if (!desc || !src || !src->pm || !src->pm->read || !out)
        return -EINVAL;
    *out = NULL;
    if (!desc_ok(desc))
        return -EINVAL;
    /* The mapping is used as is: every range must lie in guest RAM. */
    for (size_t r = 0; r < desc->nram; r++)
        if (!usc_guestmem_in_ram(src->pm, desc->ram[r].paddr, desc->ram[r].len))
            return -EFAULT;
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->d = *desc;
    p->src = *src;
    p->buf = malloc(BLOCK);
    if (!p->buf) {
        err = -ENOMEM;
        goto err;
    }
    for (size_t r = 0; r < desc->nram; r++) {
        err = scan_ram(p, &desc->ram[r]);
        if (err)
            goto err;
    }
    /* Too many segments for a reader: write some zeros instead. */
    for (;;) {
        uint64_t rel = 0;
        for (size_t i = 0; i < p->nchunks; i++) {
            p->chunks[i].rel = rel;
            rel += p->chunks[i].len;
        }
        err = build_loads(p);
        if (err != -E2BIG)
            break;
        if (gap >= (1ull << 40))
            goto err;
        gap *= 2;
        merge_chunks(p, gap);
    }
    if (err)
        goto err;
    lay_out(p);
    *out = p;
    return 0;
err:
    usc_core_plan_free(p);
    return err;
}

uint64_t usc_core_plan_size(const struct usc_core_plan *p)
{
    return p ? p->data_off + p->data_bytes : 0;
}

uint64_t usc_core_plan_data(const struct usc_core_plan *p)
{
    return p ? p->data_bytes : 0;
}

void usc_core_plan_free(struct usc_core_plan *p)
{
    if (!p)
        return;
    free(p->chunks);
    free(p->ph);
    free(p->buf);
    free(p);
}

/* ---- writing ----------------------------------------------------------- */

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const unsigned char *b = buf;

    while (len > 0) {
        ssize_t n = pwrite(fd, b, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        b += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int usc_core_write_data(struct usc_core_plan *p, int fd,
                        const volatile int *cancel, struct usc_core_stats *st)
{
    int err;

    if (!p || fd < 0)
        return -EINVAL;
    for (size_t i = 0; i < p->nchunks; i++) {
        const struct chunk *c = &p->chunks[i];
        for (uint64_t off = 0; off < c->len; off += BLOCK) {
            size_t len = (size_t)min_u64(BLOCK, c->len - off);
            const unsigned char *b;
            if (cancel && *cancel)
                return -ECANCELED;
            b = fetch(p, c->paddr + off, len, &err);
            if (!b)
                return err ? err : -EFAULT;
            err = pwrite_all(fd, b, len, p->data_off + c->rel + off);
            if (err)
                return err;
            if (st) {
                st->bytes_written += len;
                st->pages_written += len / PAGE;
            }
        }
    }
    if (st) {
        st->pages_skipped = p->pages_skipped;
        st->pages_in_holes = p->pages_in_holes;
    }
    /* A file that ends in a hole must still have its full length. */
    if (ftruncate(fd, (off_t)usc_core_plan_size(p)) != 0)
        return -errno;
    return 0;
}

int usc_core_write_headers(struct usc_core_plan *p, int fd,
                           const struct usc_note_hdr *note,
                           struct usc_core_stats *st)
{
    uint64_t phoff = sizeof(Elf64_Ehdr);
    uint64_t shoff = phoff + p->nph * sizeof(Elf64_Phdr);
    unsigned char *buf;
    int err;

    if (!p || fd < 0)
        return -EINVAL;
    if (!note)
        note = &p->d.note;
    buf = calloc(1, p->data_off);
    if (!buf)
        return -ENOMEM;
    Elf64_Ehdr eh = {
        .e_ident = {ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB,
                    EV_CURRENT, ELFOSABI_NONE},
        .e_type = ET_CORE,
        .e_machine = EM_X86_64,
        .e_version = EV_CURRENT,
        .e_phoff = phoff,
        .e_ehsize = sizeof(Elf64_Ehdr),
        .e_phentsize = sizeof(Elf64_Phdr),
        .e_phnum = p->nph >= PN_XNUM ? PN_XNUM : (Elf64_Half)p->nph,
    };
    if (p->nph >= PN_XNUM) {
        /* More headers than e_phnum holds: the count goes in section 0. */
        Elf64_Shdr sh = {.sh_info = (Elf64_Word)p->nph};
        eh.e_shoff = shoff;
        eh.e_shentsize = sizeof(Elf64_Shdr);
        eh.e_shnum = 1;
        memcpy(buf + shoff, &sh, sizeof(sh));
    }
    memcpy(buf, &eh, sizeof(eh));
    memcpy(buf + phoff, p->ph, p->nph * sizeof(Elf64_Phdr));
    err = put_notes(p, buf + p->ph[0].p_offset, note);
    if (!err)
        err = pwrite_all(fd, buf, p->data_off, 0);
    if (!err && st) {
        st->bytes_written += p->data_off;
        st->loads = p->nph - 1;
    }
    free(buf);
    return err;
}
