/* Unit tests of the core-file backend (lib/backend/core.c) on built cores. */
#include <check.h>
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "backend/core.h"

#define PRSTATUS_SIZE 336u
#define PRSTATUS_REG 112u
#define QEMU_SIZE 440u
#define DATA_AT 4096u /* segment bytes start here in a built core */

/* ---- building a core --------------------------------------------------- */

struct note {
    const char *name;
    uint32_t type;
    const void *desc;
    uint32_t descsz;
};

struct segment {
    uint64_t paddr, vaddr, filesz, memsz;
};

/* A core file's bytes; the tests break them before writing them out. */
struct image {
    unsigned char *buf;
    size_t len;
};

/* The byte of guest RAM at (paddr) in every built core. */
static unsigned char pattern(uint64_t paddr)
{
    return (unsigned char)(paddr * 7 + (paddr >> 12));
}

static size_t align4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

static size_t notes_size(const struct note *notes, size_t n)
{
    size_t len = 0;

    for (size_t i = 0; i < n; i++)
        len += 12 + align4(strlen(notes[i].name) + 1) + align4(notes[i].descsz);
    return len;
}

static void put_notes(unsigned char *p, const struct note *notes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        Elf64_Nhdr nh = {(Elf64_Word)strlen(notes[i].name) + 1, notes[i].descsz,
                         notes[i].type};
        memcpy(p, &nh, sizeof(nh));
        p += sizeof(nh);
        memcpy(p, notes[i].name, nh.n_namesz);
        p += align4(nh.n_namesz);
        memcpy(p, notes[i].desc, nh.n_descsz);
        p += align4(nh.n_descsz);
    }
}

/*
 * Ehdr, then one PT_NOTE holding (notes) and one PT_LOAD per segment, the
 * notes after the program headers, each segment's bytes page-aligned from
 * DATA_AT (or after the notes, when they are longer).
 */
static struct image build(const struct note *notes, size_t nnotes,
                          const struct segment *segs, size_t nsegs)
{
    size_t phnum = 1 + nsegs;
    size_t notes_at = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr);
    size_t nlen = notes_size(notes, nnotes);
    size_t data = (notes_at + nlen + 4095) & ~(size_t)4095;
    size_t len = data < DATA_AT ? DATA_AT : data;

    for (size_t i = 0; i < nsegs; i++)
        len += (segs[i].filesz + 4095) & ~(size_t)4095;
    struct image img = {calloc(1, len), len};
    ck_assert_ptr_nonnull(img.buf);

    Elf64_Ehdr eh = {
        .e_ident = {ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB,
                    EV_CURRENT},
        .e_type = ET_CORE,
        .e_machine = EM_X86_64,
        .e_version = EV_CURRENT,
        .e_phoff = sizeof(Elf64_Ehdr),
        .e_ehsize = sizeof(Elf64_Ehdr),
        .e_phentsize = sizeof(Elf64_Phdr),
        .e_phnum = (Elf64_Half)phnum,
    };
    memcpy(img.buf, &eh, sizeof(eh));

    Elf64_Phdr *ph = (Elf64_Phdr *)(img.buf + eh.e_phoff);
    ph[0] = (Elf64_Phdr){.p_type = PT_NOTE,
                         .p_offset = notes_at,
                         .p_filesz = nlen,
                         .p_memsz = nlen};
    put_notes(img.buf + notes_at, notes, nnotes);

    size_t at = data < DATA_AT ? DATA_AT : data;
    for (size_t i = 0; i < nsegs; i++) {
        ph[1 + i] = (Elf64_Phdr){.p_type = PT_LOAD,
                                 .p_flags = PF_R | PF_W | PF_X,
                                 .p_offset = at,
                                 .p_vaddr = segs[i].vaddr,
                                 .p_paddr = segs[i].paddr,
                                 .p_filesz = segs[i].filesz,
                                 .p_memsz = segs[i].memsz};
        for (uint64_t b = 0; b < segs[i].filesz; b++)
            img.buf[at + b] = pattern(segs[i].paddr + b);
        at += (segs[i].filesz + 4095) & ~(size_t)4095;
    }
    return img;
}

static Elf64_Ehdr *ehdr(struct image *img)
{
    return (Elf64_Ehdr *)img->buf;
}

static Elf64_Phdr *phdr(struct image *img, size_t i)
{
    return (Elf64_Phdr *)(img->buf + ehdr(img)->e_phoff) + i;
}

/* ---- the standard core: two vCPUs, three segments ---------------------- */

/*
 * A: paddr 0, vaddr 0xffffffff80000000, 8 KiB of file and a zero page;
 * B: right after A, 4 KiB; C: at 64 KiB, identity-mapped. A hole between.
 */
static const struct segment std_segs[] = {
    {0x0, 0xffffffff80000000ull, 0x2000, 0x3000},
    {0x3000, 0xffffffff80003000ull, 0x1000, 0x1000},
    {0x10000, 0x10000, 0x1000, 0x1000},
};

static unsigned char prstatus[2][PRSTATUS_SIZE];
static unsigned char qemu[2][QEMU_SIZE];
static struct note std_notes[4];

static void put_u64(unsigned char *p, size_t off, uint64_t v)
{
    memcpy(p + off, &v, sizeof(v));
}

static void put_u32(unsigned char *p, size_t off, uint32_t v)
{
    memcpy(p + off, &v, sizeof(v));
}

/*
 * vCPU v's pr_reg slot i holds (v + 1) << 12 | i; its QEMU note holds
 * junk GPRs (the backend takes them from NT_PRSTATUS) and control
 * registers that name v.
 */
static void make_notes(void)
{
    for (uint64_t v = 0; v < 2; v++) {
        memset(prstatus[v], 0, PRSTATUS_SIZE);
        put_u32(prstatus[v], 32, (uint32_t)v + 1); /* pr_pid */
        for (uint64_t i = 0; i < 27; i++)
            put_u64(prstatus[v], PRSTATUS_REG + i * 8, (v + 1) << 12 | i);
        memset(qemu[v], 0xee, QEMU_SIZE);
        put_u32(qemu[v], 0, 1);
        put_u32(qemu[v], 4, QEMU_SIZE);
        put_u64(qemu[v], 392, 0x80000011);
        put_u64(qemu[v], 400, 0);
        put_u64(qemu[v], 408, 0xdead000 + v);
        put_u64(qemu[v], 416, 0x102000 + v * 0x1000);
        put_u64(qemu[v], 424, 0x20 + v);
        put_u64(qemu[v], 432, 0x9abc000 + v);
    }
    std_notes[0] =
        (struct note){"CORE", NT_PRSTATUS, prstatus[0], PRSTATUS_SIZE};
    std_notes[1] =
        (struct note){"CORE", NT_PRSTATUS, prstatus[1], PRSTATUS_SIZE};
    std_notes[2] = (struct note){"QEMU", 0, qemu[0], QEMU_SIZE};
    std_notes[3] = (struct note){"QEMU", 0, qemu[1], QEMU_SIZE};
}

static struct image std_image(void)
{
    return build(std_notes, 4, std_segs, 3);
}

/* ---- writing and opening ----------------------------------------------- */

static char path[64];
static void *priv;

static void setup(void)
{
    make_notes();
    priv = NULL;
    path[0] = '\0';
}

static void teardown(void)
{
    if (priv)
        usc_backend_core.close(priv);
    if (path[0])
        unlink(path);
}

static void write_file(const void *buf, size_t len)
{
    const char *dir = getenv("TMPDIR");

    snprintf(path, sizeof(path), "%.40s/check_core.XXXXXX", dir ? dir : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

static int open_path(const char *p)
{
    struct usc_target_spec spec = {.kind = USC_TARGET_CORE, .domid = -1};

    snprintf(spec.core, sizeof(spec.core), "%s", p);
    return usc_backend_core.open(&spec, &priv);
}

/* Write (img) (its first (len) bytes), free it and open the file. */
static int open_image_len(struct image img, size_t len)
{
    write_file(img.buf, len);
    free(img.buf);
    int err = open_path(path);
    if (err)
        ck_assert_ptr_null(priv);
    return err;
}

static int open_image(struct image img)
{
    return open_image_len(img, img.len);
}

static void expect_pattern(const unsigned char *buf, uint64_t paddr, size_t len)
{
    for (size_t i = 0; i < len; i++)
        ck_assert_msg(buf[i] == pattern(paddr + i), "byte %#zx of %#llx: %u", i,
                      (unsigned long long)paddr, buf[i]);
}

/* ---- a good core ------------------------------------------------------- */

START_TEST(opens_and_describes)
{
    struct usc_target_info info;

    ck_assert_int_eq(open_image(std_image()), 0);
    ck_assert_int_eq(usc_backend_core.describe(priv, &info), 0);
    ck_assert_str_eq(info.hypervisor, "core");
    ck_assert_str_eq(info.name, strrchr(path, '/') + 1);
    ck_assert_uint_eq(info.nvcpus, 2);
    ck_assert_uint_eq(info.mem_bytes, 0x5000);
    ck_assert_uint_eq(info.phys_end, 0x11000);
    ck_assert_int_eq(info.can_control, 0);
    ck_assert_int_eq(info.pid, -1);
}
END_TEST

START_TEST(ops_table_is_read_only)
{
    const struct usc_backend_ops *o = &usc_backend_core;

    ck_assert_str_eq(o->name, "core");
    ck_assert(o->open && o->close && o->describe && o->read_phys &&
              o->get_regs);
    ck_assert(!o->map_phys && !o->write_phys && !o->pause && !o->resume);
    ck_assert(!o->run_state && !o->wait_stop && !o->set_regs);
    ck_assert(!o->insert_break && !o->remove_break && !o->step);
    ck_assert(!o->vcpu_stats);
}
END_TEST

START_TEST(reads_physical_memory)
{
    unsigned char buf[0x40];

    ck_assert_int_eq(open_image(std_image()), 0);
    ck_assert_int_eq(usc_backend_core.read_phys(priv, 0x123, buf, 32), 0);
    expect_pattern(buf, 0x123, 32);
    ck_assert_int_eq(usc_backend_core.read_phys(priv, 0x10ff0, buf, 16), 0);
    expect_pattern(buf, 0x10ff0, 16);
    ck_assert_int_eq(usc_backend_core.read_phys(priv, 0x5, buf, 0), 0);
}
END_TEST

START_TEST(bytes_past_filesz_read_as_zeros)
{
    unsigned char buf[0x40];

    ck_assert_int_eq(open_image(std_image()), 0);
    /* A's file part, its zero page, then B: one read over three kinds. */
    ck_assert_int_eq(usc_backend_core.read_phys(priv, 0x1ff0, buf, 16), 0);
    expect_pattern(buf, 0x1ff0, 16);
    memset(buf, 0xff, sizeof(buf));
    ck_assert_int_eq(usc_backend_core.read_phys(priv, 0x2ff0, buf, 0x20), 0);
    for (int i = 0; i < 16; i++)
        ck_assert_uint_eq(buf[i], 0);
    expect_pattern(buf + 16, 0x3000, 16);
}
END_TEST

START_TEST(holes_and_the_end_fault)
{
    unsigned char buf[0x40];

    ck_assert_int_eq(open_image(std_image()), 0);
    ck_assert_int_eq(usc_backend_core.read_phys(priv, 0x4000, buf, 1), -EFAULT);
    ck_assert_int_eq(usc_backend_core.read_phys(priv, 0x3ff8, buf, 16),
                     -EFAULT);
    ck_assert_int_eq(usc_backend_core.read_phys(priv, 0x11000, buf, 1),
                     -EFAULT);
    ck_assert_int_eq(usc_backend_core.read_phys(priv, UINT64_MAX, buf, 2),
                     -EFAULT);
}
END_TEST

START_TEST(reads_by_virtual_address)
{
    unsigned char buf[0x20];

    ck_assert_int_eq(open_image(std_image()), 0);
    ck_assert_int_eq(usc_core_read_vaddr(priv, 0xffffffff80000100ull, buf, 16),
                     0);
    expect_pattern(buf, 0x100, 16);
    /* Across A and B in the higher half, then C's identity mapping. */
    ck_assert_int_eq(usc_core_read_vaddr(priv, 0xffffffff80003ff0ull, buf, 16),
                     0);
    expect_pattern(buf, 0x3ff0, 16);
    ck_assert_int_eq(usc_core_read_vaddr(priv, 0x10010, buf, 16), 0);
    expect_pattern(buf, 0x10010, 16);
    ck_assert_int_eq(usc_core_read_vaddr(priv, 0x100, buf, 16), -EFAULT);
    ck_assert_int_eq(usc_core_read_vaddr(priv, 0xffffffff80004000ull, buf, 1),
                     -EFAULT);
}
END_TEST

START_TEST(registers_per_vcpu)
{
    struct usc_regs r;

    ck_assert_int_eq(open_image(std_image()), 0);
    for (uint64_t v = 0; v < 2; v++) {
        uint64_t b = (v + 1) << 12;
        ck_assert_int_eq(usc_backend_core.get_regs(priv, (uint32_t)v, &r), 0);
        /* user_regs_struct: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax
         * rcx rdx rsi rdi orig_rax rip cs eflags rsp ss fs_base gs_base
         * ds es fs gs */
        ck_assert_uint_eq(r.r15, b | 0);
        ck_assert_uint_eq(r.r12, b | 3);
        ck_assert_uint_eq(r.rbp, b | 4);
        ck_assert_uint_eq(r.rbx, b | 5);
        ck_assert_uint_eq(r.r8, b | 9);
        ck_assert_uint_eq(r.rax, b | 10);
        ck_assert_uint_eq(r.rcx, b | 11);
        ck_assert_uint_eq(r.rdx, b | 12);
        ck_assert_uint_eq(r.rsi, b | 13);
        ck_assert_uint_eq(r.rdi, b | 14);
        ck_assert_uint_eq(r.rip, b | 16);
        ck_assert_uint_eq(r.cs, b | 17);
        ck_assert_uint_eq(r.rflags, b | 18);
        ck_assert_uint_eq(r.rsp, b | 19);
        ck_assert_uint_eq(r.ss, b | 20);
        ck_assert_uint_eq(r.fs_base, b | 21);
        ck_assert_uint_eq(r.gs_base, b | 22);
        ck_assert_uint_eq(r.ds, b | 23);
        ck_assert_uint_eq(r.gs, b | 26);
        ck_assert_uint_eq(r.cr0, 0x80000011);
        ck_assert_uint_eq(r.cr2, 0xdead000 + v);
        ck_assert_uint_eq(r.cr3, 0x102000 + v * 0x1000);
        ck_assert_uint_eq(r.cr4, 0x20 + v);
        ck_assert_uint_eq(r.k_gs_base, 0x9abc000 + v);
        ck_assert_uint_eq(r.cr8, 0);
        ck_assert_uint_eq(r.efer, 0);
    }
    ck_assert_int_eq(usc_backend_core.get_regs(priv, 2, &r), -EINVAL);
}
END_TEST

START_TEST(without_qemu_notes_control_registers_are_zero)
{
    struct usc_regs r;

    ck_assert_int_eq(open_image(build(std_notes, 2, std_segs, 3)), 0);
    ck_assert_int_eq(usc_backend_core.get_regs(priv, 1, &r), 0);
    ck_assert_uint_eq(r.rax, 2 << 12 | 10);
    ck_assert_uint_eq(r.cr3, 0);
}
END_TEST

START_TEST(older_qemu_note_has_no_kernel_gs_base)
{
    struct usc_regs r;

    /* A note of 432 bytes stops after cr[4]. */
    put_u32(qemu[0], 4, 432);
    std_notes[2].descsz = 432;
    ck_assert_int_eq(open_image(std_image()), 0);
    ck_assert_int_eq(usc_backend_core.get_regs(priv, 0, &r), 0);
    ck_assert_uint_eq(r.cr3, 0x102000);
    ck_assert_uint_eq(r.k_gs_base, 0);
}
END_TEST

START_TEST(unknown_qemu_note_version_is_skipped)
{
    struct usc_regs r;

    put_u32(qemu[0], 0, 2);
    ck_assert_int_eq(open_image(std_image()), 0);
    ck_assert_int_eq(usc_backend_core.get_regs(priv, 0, &r), 0);
    ck_assert_uint_eq(r.rax, 1 << 12 | 10);
    ck_assert_uint_eq(r.cr3, 0);
    ck_assert_int_eq(usc_backend_core.get_regs(priv, 1, &r), 0);
    ck_assert_uint_eq(r.cr3, 0x103000);
}
END_TEST

START_TEST(other_notes_are_ignored)
{
    static const unsigned char junk[20] = {1, 2, 3};
    struct note notes[] = {
        {"CORE", NT_PRSTATUS, prstatus[0], PRSTATUS_SIZE},
        {"CORE", NT_PRPSINFO, junk, sizeof(junk)},
        {"LINUX", 0x202, junk, 7},
        {"USCOPE", 1, junk, sizeof(junk)},
    };
    struct usc_target_info info;

    ck_assert_int_eq(open_image(build(notes, 4, std_segs, 3)), 0);
    ck_assert_int_eq(usc_backend_core.describe(priv, &info), 0);
    ck_assert_uint_eq(info.nvcpus, 1);
}
END_TEST

/* Words QEMU 7.2 wrote for vCPU 0 of a real dump-guest-memory (all others
 * zero): its NT_PRSTATUS and its "QEMU" note. */
static const struct {
    uint16_t off;
    uint64_t v;
} qemu72_prstatus[] =
    {
        {32, 0x1},
        {112, 0xa0a0a0a0a0a0a010},
        {120, 0xa0a0a0a0a0a0a00f},
        {128, 0xa0a0a0a0a0a0a00e},
        {136, 0xa0a0a0a0a0a0a00d},
        {144, 0xa0a0a0a0a0a0a007},
        {152, 0xa0a0a0a0a0a0a002},
        {160, 0xa0a0a0a0a0a0a00c},
        {168, 0xa0a0a0a0a0a0a00b},
        {176, 0xa0a0a0a0a0a0a00a},
        {184, 0xa0a0a0a0a0a0a009},
        {192, 0xa0a0a0a0a0a0a001},
        {200, 0xa0a0a0a0a0a0a003},
        {208, 0xa0a0a0a0a0a0a004},
        {216, 0xa0a0a0a0a0a0a005},
        {224, 0xa0a0a0a0a0a0a006},
        {240, 0xffffffff80100114},
        {248, 0x8},
        {256, 0x46},
        {264, 0xa0a0a0a0a0a0a008},
        {272, 0x10},
        {280, 0x1234000},
        {288, 0x5678000},
        {296, 0x10},
        {304, 0x10},
        {312, 0x10},
        {320, 0x10},
},
  qemu72_note[] = {
      {0, 0x1b800000001},
      {8, 0xa0a0a0a0a0a0a001},
      {16, 0xa0a0a0a0a0a0a002},
      {24, 0xa0a0a0a0a0a0a003},
      {32, 0xa0a0a0a0a0a0a004},
      {40, 0xa0a0a0a0a0a0a005},
      {48, 0xa0a0a0a0a0a0a006},
      {56, 0xa0a0a0a0a0a0a008},
      {64, 0xa0a0a0a0a0a0a007},
      {72, 0xa0a0a0a0a0a0a009},
      {80, 0xa0a0a0a0a0a0a00a},
      {88, 0xa0a0a0a0a0a0a00b},
      {96, 0xa0a0a0a0a0a0a00c},
      {104, 0xa0a0a0a0a0a0a00d},
      {112, 0xa0a0a0a0a0a0a00e},
      {120, 0xa0a0a0a0a0a0a00f},
      {128, 0xa0a0a0a0a0a0a010},
      {136, 0xffffffff80100114},
      {144, 0x46},
      {152, 0xffffffff00000008},
      {160, 0xaf9a00},
      {176, 0xffffffff00000010},
      {184, 0xcf9300},
      {200, 0xffffffff00000010},
      {208, 0xcf9300},
      {224, 0xffffffff00000010},
      {232, 0xcf9300},
      {240, 0x1234000},
      {248, 0xffffffff00000010},
      {256, 0xcf9300},
      {264, 0x5678000},
      {272, 0xffffffff00000010},
      {280, 0xcf9300},
      {296, 0xffff00000000},
      {304, 0x8200},
      {320, 0xffff00000000},
      {328, 0x8b00},
      {344, 0x1700000000},
      {360, 0x101000},
      {368, 0x3ff00000000},
      {392, 0x80000011},
      {416, 0x102000},
      {424, 0x20},
      {432, 0x9abc000},
};

START_TEST(registers_as_qemu_7_2_writes_them)
{
    unsigned char pr[PRSTATUS_SIZE] = {0}, qn[QEMU_SIZE] = {0};
    struct usc_regs r;

    for (size_t i = 0; i < sizeof(qemu72_prstatus) / sizeof(*qemu72_prstatus);
         i++)
        put_u64(pr, qemu72_prstatus[i].off, qemu72_prstatus[i].v);
    for (size_t i = 0; i < sizeof(qemu72_note) / sizeof(*qemu72_note); i++)
        put_u64(qn, qemu72_note[i].off, qemu72_note[i].v);
    struct note notes[] = {{"CORE", NT_PRSTATUS, pr, sizeof(pr)},
                           {"QEMU", 0, qn, sizeof(qn)}};

    ck_assert_int_eq(open_image(build(notes, 2, std_segs, 3)), 0);
    ck_assert_int_eq(usc_backend_core.get_regs(priv, 0, &r), 0);
    /* As QEMU's "info registers" showed for that guest. */
    ck_assert_uint_eq(r.rax, 0xa0a0a0a0a0a0a001);
    ck_assert_uint_eq(r.rbx, 0xa0a0a0a0a0a0a002);
    ck_assert_uint_eq(r.rcx, 0xa0a0a0a0a0a0a003);
    ck_assert_uint_eq(r.rdx, 0xa0a0a0a0a0a0a004);
    ck_assert_uint_eq(r.rsi, 0xa0a0a0a0a0a0a005);
    ck_assert_uint_eq(r.rdi, 0xa0a0a0a0a0a0a006);
    ck_assert_uint_eq(r.rbp, 0xa0a0a0a0a0a0a007);
    ck_assert_uint_eq(r.rsp, 0xa0a0a0a0a0a0a008);
    ck_assert_uint_eq(r.r8, 0xa0a0a0a0a0a0a009);
    ck_assert_uint_eq(r.r15, 0xa0a0a0a0a0a0a010);
    ck_assert_uint_eq(r.rip, 0xffffffff80100114);
    ck_assert_uint_eq(r.rflags, 0x46);
    ck_assert_uint_eq(r.cs, 0x8);
    ck_assert_uint_eq(r.ss, 0x10);
    ck_assert_uint_eq(r.fs_base, 0x1234000);
    ck_assert_uint_eq(r.gs_base, 0x5678000);
    ck_assert_uint_eq(r.k_gs_base, 0x9abc000);
    ck_assert_uint_eq(r.cr0, 0x80000011);
    ck_assert_uint_eq(r.cr2, 0);
    ck_assert_uint_eq(r.cr3, 0x102000);
    ck_assert_uint_eq(r.cr4, 0x20);
}
END_TEST

START_TEST(aliases_of_the_same_ram_are_accepted)
{
    /* QEMU's paging=true dumps: one PT_LOAD per mapping of the same RAM. */
    struct segment segs[] = {{0x0, 0xffffffff80000000ull, 0x2000, 0x2000},
                             {0x0, 0xffff800000000000ull, 0x2000, 0x2000},
                             {0x1000, 0x1000, 0x1000, 0x1000}};
    struct image img = build(std_notes, 4, segs, 3);
    struct usc_target_info info;
    unsigned char buf[16];

    phdr(&img, 2)->p_offset = phdr(&img, 1)->p_offset;
    phdr(&img, 3)->p_offset = phdr(&img, 1)->p_offset + 0x1000;
    ck_assert_int_eq(open_image(img), 0);
    ck_assert_int_eq(usc_backend_core.describe(priv, &info), 0);
    ck_assert_uint_eq(info.mem_bytes, 0x2000);
    ck_assert_int_eq(usc_core_read_vaddr(priv, 0xffff800000001000, buf, 16), 0);
    expect_pattern(buf, 0x1000, 16);
    ck_assert_int_eq(usc_core_read_vaddr(priv, 0x1000, buf, 16), 0);
    expect_pattern(buf, 0x1000, 16);
}
END_TEST

START_TEST(partly_overlapping_aliases_are_joined)
{
    /* One run of RAM, 0 .. 0x3000, told as [0, 0x2000) + [0x1000, 0x3000)
     * + [0, 0x800), all of the same file bytes; the vaddrs of the first
     * two overlap with different contents, where the lower one wins. */
    struct segment segs[] = {{0x0, 0x40000, 0x3000, 0x3000},
                             {0x1000, 0x41800, 0x1000, 0x1000},
                             {0x0, 0x90000, 0x800, 0x800}};
    struct image img = build(std_notes, 4, segs, 3);
    struct usc_target_info info;
    unsigned char buf[16];

    phdr(&img, 1)->p_filesz = phdr(&img, 1)->p_memsz = 0x2000;
    phdr(&img, 2)->p_filesz = phdr(&img, 2)->p_memsz = 0x2000;
    phdr(&img, 2)->p_offset = phdr(&img, 1)->p_offset + 0x1000;
    phdr(&img, 3)->p_offset = phdr(&img, 1)->p_offset;
    ck_assert_int_eq(open_image(img), 0);
    ck_assert_int_eq(usc_backend_core.describe(priv, &info), 0);
    ck_assert_uint_eq(info.mem_bytes, 0x3000);
    ck_assert_uint_eq(info.phys_end, 0x3000);
    ck_assert_int_eq(usc_backend_core.read_phys(priv, 0x1ff8, buf, 16), 0);
    expect_pattern(buf, 0x1ff8, 16);
    ck_assert_int_eq(usc_backend_core.read_phys(priv, 0x2ff0, buf, 16), 0);
    expect_pattern(buf, 0x2ff0, 16);
    ck_assert_int_eq(usc_core_read_vaddr(priv, 0x41ff0, buf, 16), 0);
    expect_pattern(buf, 0x1ff0, 16);
    /* 0x41800 is paddr 0x1000 in the second: trimmed, 0x42000 is 0x1800. */
    ck_assert_int_eq(usc_core_read_vaddr(priv, 0x42000, buf, 16), 0);
    expect_pattern(buf, 0x1800, 16);
    ck_assert_int_eq(usc_core_read_vaddr(priv, 0x90010, buf, 16), 0);
    expect_pattern(buf, 0x10, 16);
}
END_TEST

START_TEST(many_program_headers_through_pn_xnum)
{
    struct image img = std_image();
    size_t sh_at = img.len;

    /* Section 0 carries the real count; e_phnum says PN_XNUM. */
    img.buf = realloc(img.buf, img.len + sizeof(Elf64_Shdr));
    ck_assert_ptr_nonnull(img.buf);
    Elf64_Shdr sh = {.sh_info = ehdr(&img)->e_phnum};
    memcpy(img.buf + sh_at, &sh, sizeof(sh));
    img.len += sizeof(sh);
    ehdr(&img)->e_phnum = PN_XNUM;
    ehdr(&img)->e_shoff = sh_at;
    ehdr(&img)->e_shentsize = sizeof(Elf64_Shdr);
    ehdr(&img)->e_shnum = 1;
    ck_assert_int_eq(open_image(img), 0);

    /* And an absurd count there. */
    usc_backend_core.close(priv);
    priv = NULL;
    unlink(path);
    img = std_image();
    img.buf = realloc(img.buf, img.len + sizeof(Elf64_Shdr));
    ck_assert_ptr_nonnull(img.buf);
    sh.sh_info = 0xffffffffu;
    memcpy(img.buf + img.len, &sh, sizeof(sh));
    ehdr(&img)->e_phnum = PN_XNUM;
    ehdr(&img)->e_shoff = img.len;
    ehdr(&img)->e_shentsize = sizeof(Elf64_Shdr);
    ehdr(&img)->e_shnum = 1;
    img.len += sizeof(sh);
    ck_assert_int_eq(open_image(img), -EINVAL);
}
END_TEST

/* ---- files that are not x86-64 cores ----------------------------------- */

START_TEST(missing_file_or_directory)
{
    ck_assert_int_eq(open_path("/nonexistent/core"), -ENOENT);
    ck_assert_int_eq(open_path("/"), -EINVAL);
    ck_assert_ptr_null(priv);
}
END_TEST

START_TEST(empty_or_not_elf)
{
    static const char text[] = "this is not an ELF core file at all\n";

    write_file("", 0);
    ck_assert_int_eq(open_path(path), -ENOEXEC);
    unlink(path);
    write_file(text, sizeof(text));
    ck_assert_int_eq(open_path(path), -ENOEXEC);
}
END_TEST

START_TEST(elf32_big_endian_other_machine_or_type)
{
    /* _i picks the field to spoil. */
    struct image img = std_image();
    Elf64_Ehdr *eh = ehdr(&img);

    switch (_i) {
    case 0:
        eh->e_ident[EI_CLASS] = ELFCLASS32;
        break;
    case 1:
        eh->e_ident[EI_DATA] = ELFDATA2MSB;
        break;
    case 2:
        eh->e_machine = EM_386; /* QEMU, for a guest not in long mode */
        break;
    case 3:
        eh->e_type = ET_EXEC;
        break;
    case 4:
        eh->e_ident[EI_MAG1] = 'X';
        break;
    }
    ck_assert_int_eq(open_image(img), -ENOEXEC);
}
END_TEST

/* ---- cores that lie ---------------------------------------------------- */

START_TEST(truncated_anywhere)
{
    static const size_t cuts[] = {4,   40,   63,   64,     100,   300,
                                  700, 1500, 4097, 0x3000, 0x4fff};
    struct image img = std_image();
    size_t cut = cuts[_i];

    ck_assert_uint_lt(cut, img.len);
    int err = open_image_len(img, cut);
    ck_assert_msg(err == -EINVAL || err == -ENOEXEC, "cut %zu: %d", cut, err);
}
END_TEST

START_TEST(bad_program_header_table)
{
    struct image img = std_image();
    Elf64_Ehdr *eh = ehdr(&img);

    switch (_i) {
    case 0:
        eh->e_phentsize = 32;
        break;
    case 1:
        eh->e_phnum = 0;
        break;
    case 2:
        eh->e_phoff = img.len;
        break;
    case 3:
        eh->e_phoff = UINT64_MAX - 8;
        break;
    case 4:
        eh->e_phnum = 4000; /* more than the file holds */
        break;
    case 5:
        eh->e_phnum = PN_XNUM; /* with no section 0 to say more */
        break;
    }
    ck_assert_int_eq(open_image(img), -EINVAL);
}
END_TEST

START_TEST(bad_load_segments)
{
    struct image img = std_image();
    Elf64_Phdr *a = phdr(&img, 1), *b = phdr(&img, 2);

    switch (_i) {
    case 0: /* beyond the end of the file */
        a->p_offset = img.len - 0x1000;
        break;
    case 1: /* offset + filesz wraps */
        a->p_offset = UINT64_MAX - 0x10;
        break;
    case 2: /* more file than memory */
        b->p_filesz = b->p_memsz + 1;
        break;
    case 3: /* paddr + memsz wraps */
        b->p_paddr = UINT64_MAX - 0x800;
        break;
    case 4: /* overlaps A with other bytes */
        b->p_paddr = 0x1000;
        break;
    case 5: /* filesz far past the file */
        a->p_filesz = a->p_memsz = 1ull << 40;
        break;
    case 6: /* no PT_LOAD at all */
        for (size_t i = 1; i <= 3; i++)
            phdr(&img, i)->p_type = PT_NULL;
        break;
    case 7: /* only empty ones */
        for (size_t i = 1; i <= 3; i++)
            phdr(&img, i)->p_memsz = phdr(&img, i)->p_filesz = 0;
        break;
    }
    ck_assert_int_eq(open_image(img), -EINVAL);
}
END_TEST

START_TEST(bad_note_segment)
{
    struct image img = std_image();
    Elf64_Phdr *n = phdr(&img, 0);

    switch (_i) {
    case 0:
        n->p_offset = img.len;
        break;
    case 1:
        n->p_filesz = 1ull << 40;
        break;
    case 2:
        n->p_offset = UINT64_MAX - 4;
        break;
    case 3: /* cuts the last note in half */
        n->p_filesz -= 100;
        break;
    case 4: /* no notes at all: no vCPU */
        n->p_type = PT_NULL;
        break;
    }
    ck_assert_int_eq(open_image(img), -EINVAL);
}
END_TEST

START_TEST(notes_whose_sizes_lie)
{
    struct image img = std_image();
    Elf64_Nhdr *nh = (Elf64_Nhdr *)(img.buf + phdr(&img, 0)->p_offset);

    switch (_i) {
    case 0:
        nh->n_descsz = 0x10000000;
        break;
    case 1:
        nh->n_namesz = 0xfffffff0u;
        break;
    case 2:
        nh->n_descsz = UINT32_MAX;
        break;
    }
    ck_assert_int_eq(open_image(img), -EINVAL);
}
END_TEST

START_TEST(bad_register_notes)
{
    unsigned char small[144] = {0};
    struct note notes[4];

    memcpy(notes, std_notes, sizeof(notes));
    switch (_i) {
    case 0: /* an i386 prstatus */
        notes[0] = (struct note){"CORE", NT_PRSTATUS, small, sizeof(small)};
        break;
    case 1: /* QEMU's size says more than the note holds */
        put_u32(qemu[1], 4, QEMU_SIZE + 8);
        break;
    case 2: /* a version 1 note too short for the control registers */
        put_u32(qemu[0], 4, 400);
        break;
    case 3: /* shorter than its own header */
        notes[2].descsz = 6;
        break;
    case 4: /* more QEMU notes than vCPUs */
        notes[1] = notes[3];
        break;
    case 5: /* QEMU notes only */
        notes[0] = notes[1] = notes[2];
        break;
    }
    ck_assert_int_eq(open_image(build(notes, 4, std_segs, 3)), -EINVAL);
}
END_TEST

START_TEST(absurd_vcpu_count)
{
    size_t n = 4097;
    struct note *notes = calloc(n, sizeof(*notes));

    ck_assert_ptr_nonnull(notes);
    for (size_t i = 0; i < n; i++)
        notes[i] = std_notes[0];
    ck_assert_int_eq(open_image(build(notes, n, std_segs, 3)), -EINVAL);
    free(notes);
}
END_TEST

START_TEST(many_vcpus_open)
{
    size_t n = 4096;
    struct note *notes = calloc(n, sizeof(*notes));
    struct usc_target_info info;
    struct usc_regs r;

    ck_assert_ptr_nonnull(notes);
    for (size_t i = 0; i < n; i++)
        notes[i] = std_notes[i % 2];
    ck_assert_int_eq(open_image(build(notes, n, std_segs, 3)), 0);
    free(notes);
    ck_assert_int_eq(usc_backend_core.describe(priv, &info), 0);
    ck_assert_uint_eq(info.nvcpus, 4096);
    ck_assert_int_eq(usc_backend_core.get_regs(priv, 4095, &r), 0);
    ck_assert_uint_eq(r.rax, 2 << 12 | 10);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *good = tcase_create("good");
    TCase *bad = tcase_create("bad");

    tcase_add_checked_fixture(good, setup, teardown);
    tcase_add_test(good, opens_and_describes);
    tcase_add_test(good, ops_table_is_read_only);
    tcase_add_test(good, reads_physical_memory);
    tcase_add_test(good, bytes_past_filesz_read_as_zeros);
    tcase_add_test(good, holes_and_the_end_fault);
    tcase_add_test(good, reads_by_virtual_address);
    tcase_add_test(good, registers_per_vcpu);
    tcase_add_test(good, without_qemu_notes_control_registers_are_zero);
    tcase_add_test(good, older_qemu_note_has_no_kernel_gs_base);
    tcase_add_test(good, unknown_qemu_note_version_is_skipped);
    tcase_add_test(good, other_notes_are_ignored);
    tcase_add_test(good, registers_as_qemu_7_2_writes_them);
    tcase_add_test(good, aliases_of_the_same_ram_are_accepted);
    tcase_add_test(good, partly_overlapping_aliases_are_joined);
    tcase_add_test(good, many_program_headers_through_pn_xnum);
    tcase_add_test(good, many_vcpus_open);
    suite_add_tcase(s, good);

    tcase_add_checked_fixture(bad, setup, teardown);
    tcase_add_test(bad, missing_file_or_directory);
    tcase_add_test(bad, empty_or_not_elf);
    tcase_add_loop_test(bad, elf32_big_endian_other_machine_or_type, 0, 5);
    tcase_add_loop_test(bad, truncated_anywhere, 0, 11);
    tcase_add_loop_test(bad, bad_program_header_table, 0, 6);
    tcase_add_loop_test(bad, bad_load_segments, 0, 8);
    tcase_add_loop_test(bad, bad_note_segment, 0, 5);
    tcase_add_loop_test(bad, notes_whose_sizes_lie, 0, 3);
    tcase_add_loop_test(bad, bad_register_notes, 0, 6);
    tcase_add_test(bad, absurd_vcpu_count);
    suite_add_tcase(s, bad);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(core_suite());

    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
