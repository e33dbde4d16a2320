/* Unit tests of the core writer, the page-table collector and the USCOPE
 * note: cores written from a buffer, read back through the core backend. */
#include <check.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "backend/core.h"
#include "corewrite.h"
#include "uscope_note.h"

#define RAM (4u << 20) /* guest RAM of the built cores */
#define PAGE 4096u
#define HIGH 0xffffffff80000000ull
#define PTE_P 1ull
#define PTE_RW 2ull
#define PTE_PS 0x80ull
#define PTE_NX (1ull << 63)
/* Page tables in the built guest's RAM. */
#define PML4 0x1000u
#define PDPT_LOW 0x2000u
#define PDPT_HIGH 0x3000u
#define PD 0x4000u
#define PT 0x5000u

static unsigned char *ram;
static struct usc_physmem pm;

static void put(uint64_t paddr, uint64_t v)
{
    memcpy(ram + paddr, &v, sizeof(v));
}

/*
 * A guest of RAM bytes: identity and high-half views of the first 4 MiB
 * through one page directory, the first 2 MiB as 4 KiB pages of which
 * page 0x7000 is unmapped (a guard), the second 2 MiB one large page; a
 * few pages of data.
 */
static void setup(void)
{
    ram = calloc(1, RAM);
    ck_assert_ptr_nonnull(ram);
    put(PML4, PDPT_LOW | PTE_P | PTE_RW);
    put(PML4 + 511 * 8, PDPT_HIGH | PTE_P | PTE_RW);
    put(PDPT_LOW, PD | PTE_P | PTE_RW);
    put(PDPT_HIGH + 510 * 8, PD | PTE_P | PTE_RW);
    put(PD, PT | PTE_P | PTE_RW);
    put(PD + 8, 0x200000 | PTE_P | PTE_PS | PTE_NX); /* read-only, NX */
    for (uint64_t i = 0; i < 512; i++)
        if (i != 7)
            put(PT + i * 8, i * PAGE | PTE_P | PTE_RW);
    memset(ram + 0x10000, 0xaa, PAGE);
    memset(ram + 0x11000, 0xbb, 2 * PAGE);
    memset(ram + 0x300000, 0xcc, 100); /* in the large page */
    usc_physmem_from_buffer(&pm, ram, RAM);
}

static void teardown(void)
{
    free(ram);
}

/* ---- the page-table collector ------------------------------------------ */

START_TEST(test_vmap_merges_and_sorts_mappings)
{
    struct usc_vrange *r = NULL;
    size_t n = 0;

    ck_assert_int_eq(usc_vmap_collect(&pm, PML4, &r, &n), 0);
    /* Per view: pages 0-6, pages 8-511, the large page (other flags). */
    ck_assert_uint_eq(n, 6);
    ck_assert_uint_eq(r[0].vaddr, 0);
    ck_assert_uint_eq(r[0].len, 7 * PAGE);
    ck_assert_uint_eq(r[1].vaddr, 8 * PAGE);
    ck_assert_uint_eq(r[1].paddr, 8 * PAGE);
    ck_assert_uint_eq(r[1].len, 0x200000 - 8 * PAGE);
    ck_assert_uint_eq(r[2].vaddr, 0x200000);
    ck_assert_uint_eq(r[2].len, 0x200000);
    ck_assert_uint_eq(r[2].flags, USC_VRANGE_R);
    ck_assert_uint_eq(r[1].flags, USC_VRANGE_R | USC_VRANGE_W | USC_VRANGE_X);
    ck_assert_uint_eq(r[3].vaddr, HIGH);
    ck_assert_uint_eq(r[5].vaddr, HIGH + 0x200000);
    ck_assert_uint_eq(r[5].paddr, 0x200000);
    free(r);
}
END_TEST

START_TEST(test_vmap_hostile_tables_are_bounded)
{
    struct usc_vrange *r = NULL;
    size_t n = 0;

    /* Every entry of every level points back at the PML4. */
    for (uint64_t i = 0; i < 512; i++)
        put(PML4 + i * 8, PML4 | PTE_P | PTE_RW);
    ck_assert_int_eq(usc_vmap_collect(&pm, PML4, &r, &n), -E2BIG);
    ck_assert_ptr_null(r);
    /* Tables outside RAM map nothing. */
    for (uint64_t i = 0; i < 512; i++)
        put(PML4 + i * 8, (0x100000000ull + i * PAGE) | PTE_P);
    ck_assert_int_eq(usc_vmap_collect(&pm, PML4, &r, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(usc_vmap_collect(&pm, 0xfffffffff000ull, &r, &n), 0);
    ck_assert_uint_eq(n, 0);
}
END_TEST

/* ---- writing a core ---------------------------------------------------- */

static char path[64];
static const void *console; /* for the next write_core */
static size_t console_len;
static const struct usc_core_thread *threads; /* for the next write_core */
static uint32_t nthreads;

/* Write the core of the test guest, with (vmap) when (paging), to a file. */
static void write_core(int paging, struct usc_core_stats *st,
                       int (*next_data)(void *, uint64_t, uint64_t, uint64_t *,
                                        uint64_t *))
{
    struct usc_core_ram r = {0, RAM};
    struct usc_vrange *v = NULL;
    size_t nv = 0;
    struct usc_core_vcpu vcpus[2] = {
        {.index = 1, .signal = 11, .flags = USC_NOTE_VCPU_PANIC_FRAME},
        {.index = 0},
    };
    struct usc_core_plan *plan = NULL;

    if (paging)
        ck_assert_int_eq(usc_vmap_collect(&pm, PML4, &v, &nv), 0);
    vcpus[0].regs.rip = 0x1234;
    vcpus[0].regs.rsp = 0x8000;
    vcpus[0].live.rip = 0x5678;
    vcpus[0].live.cr3 = PML4;
    vcpus[0].live.cr0 = 0x80000011;
    vcpus[0].live.efer = 0xd00;
    vcpus[1].regs.rip = vcpus[1].live.rip = 0x9abc;
    vcpus[1].live.cr3 = PML4;
    struct usc_core_desc d = {
        .ram = &r,
        .nram = 1,
        .vmap = v,
        .nvmap = nv,
        .vcpus = vcpus,
        .nvcpus = 2,
    };
    snprintf(d.note.name, sizeof(d.note.name), "unit-guest");
    snprintf(d.note.hypervisor, sizeof(d.note.hypervisor), "test");
    d.console = console;
    d.console_len = console_len;
    d.threads = threads;
    d.nthreads = nthreads;
    d.note.cb_paddr = 0x10000;
    d.note.build_id_len = 3;
    memcpy(d.note.build_id, "\x01\x02\x03", 3);
    struct usc_core_source src = {.pm = &pm, .next_data = next_data};

    snprintf(path, sizeof(path), "/tmp/check_corewrite-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    memset(st, 0, sizeof(*st));
    ck_assert_int_eq(usc_core_plan(&d, &src, &plan), 0);
    ck_assert_int_eq(usc_core_write_data(plan, fd, NULL, st), 0);
    ck_assert_int_eq(usc_core_write_headers(plan, fd, NULL, st), 0);
    struct stat sb;
    ck_assert_int_eq(fstat(fd, &sb), 0);
    ck_assert_uint_eq((uint64_t)sb.st_size, usc_core_plan_size(plan));
    usc_core_plan_free(plan);
    close(fd);
    free(v);
}

static void *open_core(void)
{
    struct usc_target_spec spec = {.kind = USC_TARGET_CORE, .domid = -1};
    void *priv = NULL;

    snprintf(spec.core, sizeof(spec.core), "%s", path);
    ck_assert_int_eq(usc_backend_core.open(&spec, &priv), 0);
    return priv;
}

START_TEST(test_core_round_trip)
{
    struct usc_core_stats st;
    unsigned char buf[PAGE], zero[PAGE] = {0};
    struct usc_target_info info;
    struct usc_regs regs;

    write_core(1, &st, NULL);
    /* Sparse: the tables, three pages of data and the large page's. */
    ck_assert_uint_eq(st.pages_written, 9);
    ck_assert_uint_eq(st.pages_written + st.pages_skipped, RAM / PAGE);
    void *c = open_core();
    ck_assert_int_eq(usc_backend_core.describe(c, &info), 0);
    ck_assert_str_eq(info.name, "unit-guest");
    ck_assert_uint_eq(info.nvcpus, 2);
    ck_assert_uint_eq(info.phys_end, RAM);

    /* Physical reads: data, and zeros where nothing was written. */
    ck_assert_int_eq(usc_backend_core.read_phys(c, 0x11000, buf, PAGE), 0);
    ck_assert_int_eq(memcmp(buf, ram + 0x11000, PAGE), 0);
    ck_assert_int_eq(usc_backend_core.read_phys(c, 0x20000, buf, PAGE), 0);
    ck_assert_int_eq(memcmp(buf, zero, PAGE), 0);
    ck_assert_int_eq(usc_backend_core.read_phys(c, RAM - PAGE, buf, PAGE), 0);
    ck_assert_int_eq(usc_backend_core.read_phys(c, RAM, buf, 1), -EFAULT);

    /* Virtual reads by p_vaddr: both views, and the guard page's gap. */
    ck_assert_int_eq(usc_core_read_vaddr(c, HIGH + 0x10000, buf, 16), 0);
    ck_assert_uint_eq(buf[0], 0xaa);
    ck_assert_int_eq(usc_core_read_vaddr(c, HIGH + 0x300000, buf, 16), 0);
    ck_assert_uint_eq(buf[15], 0xcc);
    ck_assert_int_eq(usc_core_read_vaddr(c, 0x12000, buf, 16), 0);
    ck_assert_uint_eq(buf[0], 0xbb);
    ck_assert_int_eq(usc_core_read_vaddr(c, HIGH + 7 * PAGE, buf, 1), -EFAULT);
    /* The guard page's RAM is in the core all the same. */
    ck_assert_int_eq(
        usc_core_read_vaddr(c, USC_CORE_UNMAPPED_VADDR + 7 * PAGE, buf, 1), 0);

    /* vCPU 0 is the faulting one: NT_PRSTATUS's registers, note's CRs. */
    ck_assert_int_eq(usc_backend_core.get_regs(c, 0, &regs), 0);
    ck_assert_uint_eq(regs.rip, 0x1234);
    ck_assert_uint_eq(regs.rsp, 0x8000);
    ck_assert_uint_eq(regs.cr3, PML4);
    ck_assert_uint_eq(regs.efer, 0xd00);
    ck_assert_int_eq(usc_backend_core.get_regs(c, 1, &regs), 0);
    ck_assert_uint_eq(regs.rip, 0x9abc);
    usc_backend_core.close(c);

    /* The note, read on its own. */
    struct usc_note_hdr h;
    struct usc_note_vcpu v[4];
    size_t n = 0;
    ck_assert_int_eq(usc_note_read_file(path, &h, v, 4, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(v[0].index, 1);
    ck_assert_uint_eq(v[0].flags, USC_NOTE_VCPU_PANIC_FRAME);
    ck_assert_uint_eq(v[0].regs.rip, 0x5678);
    ck_assert_uint_eq(h.cb_paddr, 0x10000);
    ck_assert_uint_eq(h.build_id_len, 3);
    ck_assert_str_eq(h.hypervisor, "test");
    unlink(path);
}
END_TEST

START_TEST(test_core_keeps_the_console_tail)
{
    static unsigned char text[USC_NOTE_CONSOLE_MAX + 4464];
    static unsigned char back[USC_NOTE_CONSOLE_MAX];
    struct usc_core_stats st;
    struct usc_note_hdr h;
    size_t n = 0;

    for (size_t i = 0; i < sizeof(text); i++)
        text[i] = (unsigned char)(i * 7 + i / 251);
    console = text;
    console_len = sizeof(text);
    write_core(1, &st, NULL);
    console = NULL;
    console_len = 0;
    /* Only the last USC_NOTE_CONSOLE_MAX bytes, as they were. */
    ck_assert_int_eq(usc_note_read_console(path, back, sizeof(back), &n), 0);
    ck_assert_uint_eq(n, USC_NOTE_CONSOLE_MAX);
    ck_assert_int_eq(
        memcmp(back, text + sizeof(text) - USC_NOTE_CONSOLE_MAX, n), 0);
    ck_assert_int_eq(usc_note_read_console(path, back, 100, &n), -ENOSPC);
    /* The other notes and the core backend are not disturbed by it. */
    ck_assert_int_eq(usc_note_read_file(path, &h, NULL, 0, NULL), 0);
    ck_assert_str_eq(h.name, "unit-guest");
    usc_backend_core.close(open_core());
    unlink(path);

    /* A core of a guest without a console has no such note. */
    write_core(1, &st, NULL);
    ck_assert_int_eq(usc_note_read_console(path, back, sizeof(back), &n),
                     -ENOENT);
    unlink(path);
}
END_TEST

START_TEST(test_core_names_its_threads)
{
    struct usc_core_thread t[2] = {0};
    struct usc_note_thread back[4];
    struct usc_core_stats st;
    struct usc_target_info info;
    size_t n = 0;

    for (uint32_t i = 0; i < 2; i++) {
        t[i].note.lwp = 2 + 1 + 5 + i;
        t[i].note.id = 5 + i;
        t[i].note.state = USC_THREAD_BLOCKED;
        snprintf(t[i].note.name, sizeof(t[i].note.name), "sleeper-%u", i);
        t[i].regs.rip = 0x7000 + i;
    }
    threads = t;
    nthreads = 2;
    write_core(1, &st, NULL);
    threads = NULL;
    nthreads = 0;
    ck_assert_int_eq(usc_note_read_threads(path, back, 4, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(back[1].lwp, 9);
    ck_assert_uint_eq(back[1].id, 6);
    ck_assert_str_eq(back[1].name, "sleeper-1");
    /* The threads' NT_PRSTATUS are no vCPUs to the core backend. */
    void *c = open_core();
    ck_assert_int_eq(usc_backend_core.describe(c, &info), 0);
    ck_assert_uint_eq(info.nvcpus, 2);
    usc_backend_core.close(c);
    unlink(path);

    /* Without threads, no note. */
    write_core(1, &st, NULL);
    ck_assert_int_eq(usc_note_read_threads(path, back, 4, &n), 0);
    ck_assert_uint_eq(n, 0);
    unlink(path);
}
END_TEST

START_TEST(test_threads_note_lies_are_refused)
{
    struct usc_note_thread t = {.lwp = 3, .id = 1}, out;
    struct usc_note_threads h;
    unsigned char buf[256];
    uint32_t w[4];

    snprintf(t.name, sizeof(t.name), "a");
    ck_assert_int_eq(usc_note_threads_encode(&t, 1, buf, sizeof(buf)), 64);
    ck_assert_int_eq(usc_note_threads_parse(buf, 64, &h), 0);
    ck_assert_int_eq(usc_note_read_thread(buf, 64, &h, 0, &out), 0);
    ck_assert_str_eq(out.name, "a");
    ck_assert_int_eq(usc_note_read_thread(buf, 64, &h, 1, &out), -EINVAL);
    /* a record cut short, too many, records too small, a short header */
    ck_assert_int_eq(usc_note_threads_parse(buf, 63, &h), -EINVAL);
    memcpy(w, buf, sizeof(w));
    w[1] = USC_NOTE_MAX_THREADS + 1;
    memcpy(buf, w, sizeof(w));
    ck_assert_int_eq(usc_note_threads_parse(buf, sizeof(buf), &h), -EINVAL);
    w[1] = 1;
    w[2] = 8;
    memcpy(buf, w, sizeof(w));
    ck_assert_int_eq(usc_note_threads_parse(buf, sizeof(buf), &h), -EINVAL);
    ck_assert_int_eq(usc_note_threads_parse(buf, 8, &h), -EINVAL);
    /* an unterminated name is not written; one read is cut */
    memset(t.name, 'x', sizeof(t.name));
    ck_assert_int_eq(usc_note_threads_encode(&t, 1, buf, sizeof(buf)), -EINVAL);
    ck_assert_int_eq(usc_note_threads_encode(&t, 0, buf, 15), -ENOSPC);
    w[2] = sizeof(t);
    memcpy(buf, w, sizeof(w));
    memcpy(buf + 16, &t, sizeof(t));
    ck_assert_int_eq(usc_note_threads_parse(buf, 64, &h), 0);
    ck_assert_int_eq(usc_note_read_thread(buf, 64, &h, 0, &out), 0);
    ck_assert_uint_eq(strlen(out.name), sizeof(out.name) - 1);
}
END_TEST

/* A note "USCOPE" of (type) with (descsz) claimed, at (at); its size. */
static size_t seg_note(unsigned char *at, uint32_t type, uint32_t descsz,
                       const char *desc, size_t have)
{
    uint32_t hdr[3] = {7, descsz, type};

    memcpy(at, hdr, sizeof(hdr));
    memcpy(at + 12, "USCOPE\0\0", 8);
    memcpy(at + 20, desc, have);
    return 20 + ((have + 3) & ~(size_t)3);
}

START_TEST(test_console_note_lies_are_refused)
{
    unsigned char seg[256];
    const void *text;
    size_t len, n;

    /* Found after another note, pointing into the segment. */
    n = seg_note(seg, USC_NOTE_TYPE, 4, "abcd", 4);
    n += seg_note(seg + n, USC_NOTE_TYPE_CONSOLE, 5, "boom\n", 5);
    ck_assert_int_eq(usc_note_console(seg, n, 4, &text, &len), 0);
    ck_assert_uint_eq(len, 5);
    ck_assert_int_eq(memcmp(text, "boom\n", 5), 0);
    /* The last note's padding may be missing. */
    ck_assert_int_eq(usc_note_console(seg, n - 3, 4, &text, &len), 0);
    /* Bytes claimed beyond the segment. */
    ck_assert_int_eq(usc_note_console(seg, n - 4, 4, &text, &len), -EINVAL);
    n = seg_note(seg, USC_NOTE_TYPE_CONSOLE, 0xfffffff0u, "x", 1);
    ck_assert_int_eq(usc_note_console(seg, n, 4, &text, &len), -EINVAL);
    /* Longer than any console note may be. */
    static unsigned char big[USC_NOTE_CONSOLE_MAX + 64];
    memset(big, 'a', sizeof(big));
    n = seg_note(big, USC_NOTE_TYPE_CONSOLE, USC_NOTE_CONSOLE_MAX + 4,
                 (const char *)big + 20, USC_NOTE_CONSOLE_MAX + 4);
    ck_assert_int_eq(usc_note_console(big, n, 4, &text, &len), -EINVAL);
    /* None, an empty segment, and an alignment no core has. */
    n = seg_note(seg, USC_NOTE_TYPE, 4, "abcd", 4);
    ck_assert_int_eq(usc_note_console(seg, n, 4, &text, &len), -ENOENT);
    ck_assert_int_eq(usc_note_console(seg, 0, 4, &text, &len), -ENOENT);
    ck_assert_int_eq(usc_note_console(seg, n, 2, &text, &len), -EINVAL);
}
END_TEST

START_TEST(test_core_without_paging_is_identity)
{
    struct usc_core_stats st;
    unsigned char buf[16];

    write_core(0, &st, NULL);
    void *c = open_core();
    ck_assert_int_eq(usc_core_read_vaddr(c, 0x10000, buf, sizeof(buf)), 0);
    ck_assert_uint_eq(buf[0], 0xaa);
    ck_assert_int_eq(usc_core_read_vaddr(c, HIGH + 0x10000, buf, 1), -EFAULT);
    usc_backend_core.close(c);
    unlink(path);
}
END_TEST

/* A source that says only [0x10000, 0x13000) may hold data. */
static int some_data(void *priv, uint64_t paddr, uint64_t end, uint64_t *start,
                     uint64_t *stop)
{
    (void)priv;
    if (paddr >= 0x13000 || end <= 0x10000)
        return -ENXIO;
    *start = paddr > 0x10000 ? paddr : 0x10000;
    *stop = 0x13000;
    return 0;
}

START_TEST(test_core_holes_are_never_read)
{
    struct usc_core_stats st;

    write_core(0, &st, some_data);
    ck_assert_uint_eq(st.pages_written, 3);
    ck_assert_uint_eq(st.pages_in_holes, RAM / PAGE - 3);
    ck_assert_uint_eq(st.pages_skipped, RAM / PAGE - 3);
    unlink(path);
}
END_TEST

START_TEST(test_core_bad_descriptions)
{
    struct usc_core_ram r[2] = {{0x1000, 0x2000}, {0x2000, 0x1000}};
    struct usc_core_vcpu vcpu = {0};
    struct usc_core_desc d = {.ram = r, .nram = 2, .vcpus = &vcpu, .nvcpus = 1};
    struct usc_core_source src = {.pm = &pm};
    struct usc_core_plan *p = NULL;

    ck_assert_int_eq(usc_core_plan(&d, &src, &p), -EINVAL); /* overlap */
    d.nram = 1;
    r[0].len = 100;
    ck_assert_int_eq(usc_core_plan(&d, &src, &p), -EINVAL); /* unaligned */
    r[0].len = 0x2000;
    d.nvcpus = 0;
    ck_assert_int_eq(usc_core_plan(&d, &src, &p), -EINVAL); /* no vCPU */
    d.nvcpus = 1;
    r[0].paddr = RAM;
    ck_assert_int_eq(usc_core_plan(&d, &src, &p), -EFAULT); /* not RAM */
    ck_assert_ptr_null(p);
}
END_TEST

START_TEST(test_core_many_segments_use_pn_xnum)
{
    enum { N = 70000 };
    struct usc_core_ram r = {0, RAM};
    struct usc_vrange *v = calloc(N, sizeof(*v));
    struct usc_core_vcpu vcpu = {0};
    struct usc_core_plan *plan = NULL;
    struct usc_core_stats st = {0};
    unsigned char buf[4];

    ck_assert_ptr_nonnull(v);
    /* 70000 separate one-page views of the data page 0x10000. */
    for (size_t i = 0; i < N; i++)
        v[i] = (struct usc_vrange){HIGH + 2 * i * PAGE, 0x10000, PAGE, 4};
    struct usc_core_desc d = {.ram = &r,
                              .nram = 1,
                              .vmap = v,
                              .nvmap = N,
                              .vcpus = &vcpu,
                              .nvcpus = 1};
    struct usc_core_source src = {.pm = &pm};
    snprintf(path, sizeof(path), "/tmp/check_corewrite-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_eq(usc_core_plan(&d, &src, &plan), 0);
    ck_assert_int_eq(usc_core_write_data(plan, fd, NULL, &st), 0);
    ck_assert_int_eq(usc_core_write_headers(plan, fd, NULL, &st), 0);
    ck_assert_uint_gt(st.loads, 65535);
    usc_core_plan_free(plan);
    Elf64_Ehdr eh;
    ck_assert_int_eq(pread(fd, &eh, sizeof(eh), 0), sizeof(eh));
    ck_assert_uint_eq(eh.e_phnum, PN_XNUM);
    close(fd);
    void *c = open_core();
    ck_assert_int_eq(
        usc_core_read_vaddr(c, HIGH + 2 * (N - 1) * PAGE, buf, sizeof(buf)), 0);
    ck_assert_uint_eq(buf[0], 0xaa);
    usc_backend_core.close(c);
    unlink(path);
    free(v);
}
END_TEST

START_TEST(test_core_cancel)
{
    struct usc_core_ram r = {0, RAM};
    struct usc_core_vcpu vcpu = {0};
    struct usc_core_plan *plan = NULL;
    struct usc_core_desc d = {
        .ram = &r, .nram = 1, .vcpus = &vcpu, .nvcpus = 1};
    struct usc_core_source src = {.pm = &pm};
    volatile int cancel = 1;
    int fd = open("/dev/null", O_WRONLY);

    ck_assert_int_eq(usc_core_plan(&d, &src, &plan), 0);
    ck_assert_int_eq(usc_core_write_data(plan, fd, &cancel, NULL), -ECANCELED);
    usc_core_plan_free(plan);
    close(fd);
}
END_TEST

/* ---- the note ---------------------------------------------------------- */

static unsigned char note[4096];

static size_t good_note(uint32_t nvcpus)
{
    struct usc_note_hdr h = {.build_id_len = 20, .cb_paddr = 0x1000};
    struct usc_note_vcpu v[3] = {{.index = 2}, {.index = 0}, {.index = 1}};
    long n;

    snprintf(h.name, sizeof(h.name), "guest");
    n = usc_note_encode(&h, v, nvcpus, note, sizeof(note));
    ck_assert_int_gt(n, 0);
    return (size_t)n;
}

static void set_u32(size_t off, uint32_t v)
{
    memcpy(note + off, &v, sizeof(v));
}

START_TEST(test_note_round_trip)
{
    size_t len = good_note(3);
    struct usc_note_hdr h;
    struct usc_note_vcpu v;

    ck_assert_uint_eq(len, usc_note_size(3));
    ck_assert_int_eq(usc_note_parse(note, len, &h), 0);
    ck_assert_uint_eq(h.nvcpus, 3);
    ck_assert_str_eq(h.name, "guest");
    ck_assert_int_eq(usc_note_read_vcpu(note, len, &h, 0, &v), 0);
    ck_assert_uint_eq(v.index, 2);
    ck_assert_int_eq(usc_note_read_vcpu(note, len, &h, 3, &v), -EINVAL);
    /* A later version's larger records are read, their tail ignored. */
    ck_assert_int_eq(usc_note_parse(note, len + 8, &h), 0);
}
END_TEST

START_TEST(test_note_lies_are_refused)
{
    struct usc_note_hdr h;
    size_t len = good_note(2);

    ck_assert_int_eq(usc_note_parse(note, 15, &h), -EINVAL);
    ck_assert_int_eq(usc_note_parse(note, len - 1, &h), -EINVAL);
    set_u32(0, 2); /* version */
    ck_assert_int_eq(usc_note_parse(note, len, &h), -EPROTONOSUPPORT);
    len = good_note(2);
    set_u32(4, 100); /* header smaller than ours */
    ck_assert_int_eq(usc_note_parse(note, len, &h), -EINVAL);
    len = good_note(2);
    set_u32(4, 0xffffffff); /* header past the descriptor */
    ck_assert_int_eq(usc_note_parse(note, len, &h), -EINVAL);
    len = good_note(2);
    set_u32(8, 0xffffffff); /* records past it, and too many */
    set_u32(12, 0xffffffff);
    ck_assert_int_eq(usc_note_parse(note, len, &h), -EINVAL);
    len = good_note(2);
    set_u32(12, 8); /* records smaller than ours */
    ck_assert_int_eq(usc_note_parse(note, len, &h), -EINVAL);
    len = good_note(2);
    set_u32(20, 33); /* build-id longer than its field */
    ck_assert_int_eq(usc_note_parse(note, len, &h), -EINVAL);
    len = good_note(2);
    memset(note + offsetof(struct usc_note_hdr, name), 'x', USC_GUEST_NAME_MAX);
    ck_assert_int_eq(usc_note_parse(note, len, &h), -EINVAL);
    len = good_note(2);
    memset(note + offsetof(struct usc_note_hdr, image), 'x',
           USC_NOTE_IMAGE_MAX);
    ck_assert_int_eq(usc_note_parse(note, len, &h), -EINVAL);
}
END_TEST

START_TEST(test_note_encode_refuses_bad_headers)
{
    struct usc_note_hdr h = {0};
    struct usc_note_vcpu v = {0};

    ck_assert_int_eq(usc_note_encode(&h, &v, 1, note, 10), -ENOSPC);
    h.build_id_len = 40;
    ck_assert_int_eq(usc_note_encode(&h, &v, 1, note, sizeof(note)), -EINVAL);
    h.build_id_len = 0;
    memset(h.hypervisor, 'q', sizeof(h.hypervisor));
    ck_assert_int_eq(usc_note_encode(&h, &v, 1, note, sizeof(note)), -EINVAL);
}
END_TEST

/* A core whose USCOPE note lies is refused by the core backend. */
START_TEST(test_core_with_lying_note_is_refused)
{
    struct usc_core_stats st;
    struct usc_target_spec spec = {.kind = USC_TARGET_CORE, .domid = -1};
    struct usc_note_hdr h;
    void *priv = NULL;
    Elf64_Phdr ph;

    write_core(0, &st, NULL);
    int fd = open(path, O_RDWR);
    ck_assert_int_eq(pread(fd, &ph, sizeof(ph), sizeof(Elf64_Ehdr)),
                     sizeof(ph));
    ck_assert_uint_eq(ph.p_type, PT_NOTE);
    /* The USCOPE descriptor ends the PT_NOTE: claim more vCPUs than fit. */
    uint64_t desc = ph.p_offset + ph.p_filesz - usc_note_size(2);
    uint32_t lie = 3;
    ck_assert_int_eq(pwrite(fd, &lie, 4, (off_t)desc + 8), 4);
    close(fd);
    snprintf(spec.core, sizeof(spec.core), "%s", path);
    ck_assert_int_eq(usc_backend_core.open(&spec, &priv), -EINVAL);
    ck_assert_int_eq(usc_note_read_file(path, &h, NULL, 0, NULL), -EINVAL);
    unlink(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("corewrite");
    TCase *tc = tcase_create("corewrite");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_vmap_merges_and_sorts_mappings);
    tcase_add_test(tc, test_vmap_hostile_tables_are_bounded);
    tcase_add_test(tc, test_core_round_trip);
    tcase_add_test(tc, test_core_keeps_the_console_tail);
    tcase_add_test(tc, test_core_names_its_threads);
    tcase_add_test(tc, test_threads_note_lies_are_refused);
    tcase_add_test(tc, test_console_note_lies_are_refused);
    tcase_add_test(tc, test_core_without_paging_is_identity);
    tcase_add_test(tc, test_core_holes_are_never_read);
    tcase_add_test(tc, test_core_bad_descriptions);
    tcase_add_test(tc, test_core_many_segments_use_pn_xnum);
    tcase_add_test(tc, test_core_cancel);
    tcase_add_test(tc, test_note_round_trip);
    tcase_add_test(tc, test_note_lies_are_refused);
    tcase_add_test(tc, test_note_encode_refuses_bad_headers);
    tcase_add_test(tc, test_core_with_lying_note_is_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
