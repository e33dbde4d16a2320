/*
 * Writes the seed corpora with uniscope's own note: USCOPE descriptors for
 * fuzz_uscope_note, and small uniscope cores (written by lib/corewrite.c)
 * for fuzz_core. Built by hand, not by CMake:
 *   cc -std=c11 -D_GNU_SOURCE -Iinclude -Ilib -o /tmp/gen_note \
 *      fuzz/gen_uscope_note_corpus.c lib/corewrite.c lib/corewrite_vmap.c \
 *      lib/uscope_note.c lib/guestmem.c lib/physmem.c -lelf
 *   /tmp/gen_note fuzz/corpus/uscope_note fuzz/corpus/core
 */
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corewrite.h"
#include "uscope_note.h"

#define RAM (64u << 10)
#define PML4 0x1000u
#define PDPT 0x2000u
#define PD 0x3000u
#define PT 0x4000u

static void save(const char *dir, const char *name, const void *p, size_t n)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static size_t note(unsigned char *buf, size_t cap, uint32_t nvcpus)
{
    struct usc_note_hdr h = {.build_id_len = 20,
                             .cb_paddr = 0x8000,
                             .cb_vaddr = 0xffffffff80008000ull,
                             .mem_bytes = RAM,
                             .flags = USC_NOTE_PANICKED};
    struct usc_note_vcpu v[2] = {
        {.index = 1, .flags = USC_NOTE_VCPU_PANIC_FRAME},
        {.index = 0},
    };

    snprintf(h.name, sizeof(h.name), "fuzzguest");
    snprintf(h.hypervisor, sizeof(h.hypervisor), "qemu");
    snprintf(h.image, sizeof(h.image), "/nonexistent/kernel.elf");
    for (int i = 0; i < 2; i++) {
        v[i].regs.cr3 = PML4;
        v[i].regs.cr0 = 0x80000011;
        v[i].regs.efer = 0xd00;
        v[i].regs.rip = 0xffffffff80001000ull;
    }
    return (size_t)usc_note_encode(&h, v, nvcpus, buf, cap);
}

static void put(unsigned char *ram, uint64_t at, uint64_t v)
{
    memcpy(ram + at, &v, 8);
}

/* Two sleeping threads, as the threads note and the core carry them. */
static struct usc_core_thread sleepers[2];

static void make_sleepers(void)
{
    for (uint32_t i = 0; i < 2; i++) {
        sleepers[i].note.lwp = 4 + i;
        sleepers[i].note.id = 1 + i;
        sleepers[i].note.state = 3;
        snprintf(sleepers[i].note.name, sizeof(sleepers[i].note.name),
                 "worker-%u", i);
        sleepers[i].regs.rip = 0xffffffff80001000ull;
        sleepers[i].regs.rsp = 0xffffffff80008f00ull;
    }
}

static size_t threads_note(unsigned char *buf, size_t cap)
{
    struct usc_note_thread t[2] = {sleepers[0].note, sleepers[1].note};

    return (size_t)usc_note_threads_encode(t, 2, buf, cap);
}

/* A 64 KiB guest mapped at 0 and at -2 GiB, two vCPUs, a page of data. */
static void core(const char *dir, const char *name, int paging, uint32_t n,
                 uint32_t nthreads)
{
    static unsigned char ram[RAM];
    struct usc_physmem pm;
    struct usc_core_ram r = {0, RAM};
    struct usc_vrange *v = NULL;
    size_t nv = 0;
    struct usc_core_vcpu vcpus[2] = {{.index = 1, .signal = 11}, {.index = 0}};
    struct usc_core_plan *plan = NULL;
    char path[512];

    memset(ram, 0, sizeof(ram));
    put(ram, PML4, PDPT | 3);
    put(ram, PML4 + 511 * 8, PDPT | 3);
    put(ram, PDPT, PD | 3);
    put(ram, PDPT + 510 * 8, PD | 3);
    put(ram, PD, PT | 3);
    for (uint64_t i = 0; i < RAM / 4096; i++)
        put(ram, PT + i * 8, i * 4096 | 3);
    memset(ram + 0x8000, 0x5a, 4096);
    usc_physmem_from_buffer(&pm, ram, RAM);
    if (paging)
        usc_vmap_collect(&pm, PML4, &v, &nv);
    for (int i = 0; i < 2; i++) {
        vcpus[i].live.cr3 = PML4;
        vcpus[i].live.cr0 = 0x80000011;
        vcpus[i].regs.rip = 0xffffffff80001000ull;
    }
    struct usc_core_desc d = {.ram = &r,
                              .nram = 1,
                              .vmap = v,
                              .nvmap = nv,
                              .vcpus = vcpus,
                              .nvcpus = n,
                              .threads = sleepers,
                              .nthreads = nthreads};
    snprintf(d.note.name, sizeof(d.note.name), "fuzzguest");
    struct usc_core_source src = {.pm = &pm};
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || usc_core_plan(&d, &src, &plan) ||
        usc_core_write_data(plan, fd, NULL, NULL) ||
        usc_core_write_headers(plan, fd, NULL, NULL)) {
        perror(path);
        exit(1);
    }
    usc_core_plan_free(plan);
    close(fd);
    free(v);
}

/* uscope-paging with its note claiming a third vCPU record. */
static void lying_core(const char *dir)
{
    char from[512];
    static unsigned char file[1 << 16];
    Elf64_Phdr ph;
    uint32_t lie = 3;
    FILE *f;
    size_t n;

    snprintf(from, sizeof(from), "%s/uscope-paging", dir);
    f = fopen(from, "rb");
    if (!f)
        exit(1);
    n = fread(file, 1, sizeof(file), f);
    fclose(f);
    memcpy(&ph, file + sizeof(Elf64_Ehdr), sizeof(ph));
    memcpy(file + ph.p_offset + ph.p_filesz - usc_note_size(2) + 8, &lie, 4);
    save(dir, "uscope-lying-note", file, n);
}

/* A PT_NOTE segment: the USCOPE note, then a console note of (claim). */
static size_t segment(unsigned char *buf, size_t cap, uint32_t claim)
{
    static const char text[] = "Solo5: trap: type=#PF ec=0x2 rip=0x105fe2\n";
    unsigned char desc[1024];
    size_t dlen = note(desc, sizeof(desc), 1), at = 0;
    uint32_t h[3] = {sizeof(USC_NOTE_NAME), (uint32_t)dlen, USC_NOTE_TYPE};

    if (cap < 64 + dlen + sizeof(text))
        exit(1);
    memset(buf, 0, cap);
    memcpy(buf, h, 12);
    memcpy(buf + 12, USC_NOTE_NAME, sizeof(USC_NOTE_NAME));
    at = 20;
    memcpy(buf + at, desc, dlen);
    at += (dlen + 3) & ~(size_t)3;
    h[1] = claim;
    h[2] = USC_NOTE_TYPE_CONSOLE;
    memcpy(buf + at, h, 12);
    memcpy(buf + at + 12, USC_NOTE_NAME, sizeof(USC_NOTE_NAME));
    memcpy(buf + at + 20, text, sizeof(text) - 1);
    return at + 20 + ((sizeof(text) - 1 + 3) & ~(size_t)3);
}

int main(int argc, char **argv)
{
    unsigned char buf[4096];
    size_t n;

    if (argc != 3) {
        fprintf(stderr, "usage: %s NOTE_DIR CORE_DIR\n", argv[0]);
        return 2;
    }
    n = note(buf, sizeof(buf), 2);
    save(argv[1], "two_vcpus", buf, n);
    save(argv[1], "truncated_records", buf, n - 100);
    n = note(buf, sizeof(buf), 0);
    save(argv[1], "no_vcpus", buf, n);
    n = note(buf, sizeof(buf), 1);
    memset(buf + 96, 'A', 64); /* name unterminated */
    save(argv[1], "unterminated_name", buf, n);
    n = note(buf, sizeof(buf), 1);
    buf[8] = 0xff; /* nvcpus 255 */
    save(argv[1], "lying_count", buf, n);
    n = note(buf, sizeof(buf), 1);
    buf[12] = 0x10; /* vcpu_size 16 */
    save(argv[1], "small_records", buf, n);
    n = note(buf, sizeof(buf), 2);
    buf[4] = 0x00;
    buf[5] = 0x03; /* hdr_size 768: records shift */
    save(argv[1], "larger_header", buf, n);

    n = segment(buf, sizeof(buf), 43);
    save(argv[1], "segment_console", buf, n);
    n = segment(buf, sizeof(buf), 0x7ffffff0u);
    save(argv[1], "segment_console_lies", buf, n);

    make_sleepers();
    n = threads_note(buf, sizeof(buf));
    save(argv[1], "threads_two", buf, n);
    buf[4] = 0xff; /* nthreads 255 */
    save(argv[1], "threads_lying_count", buf, n);

    core(argv[2], "uscope-paging", 1, 2, 0);
    core(argv[2], "uscope-identity", 0, 1, 0);
    core(argv[2], "uscope-threads", 1, 2, 2);
    lying_core(argv[2]);
    return 0;
}
