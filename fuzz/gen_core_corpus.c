/*
 * Writes the seed corpus of fuzz_core: a few small x86-64 ELF cores.
 * Built by hand, not by CMake:
 *   cc -std=c11 -Wall -Wextra -o /tmp/gen_core_corpus fuzz/gen_core_corpus.c
 *   /tmp/gen_core_corpus fuzz/corpus/core
 */
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE 16384u
#define PRSTATUS_SIZE 336u
#define QEMU_SIZE 440u

/* A core under construction: everything goes into one buffer in order. */
struct gen {
    unsigned char buf[MAX_FILE];
    size_t len;
    size_t phnum;
};

static unsigned char prstatus[PRSTATUS_SIZE];
static unsigned char qemu[QEMU_SIZE];

static void put_u64(unsigned char *p, size_t off, uint64_t v)
{
    memcpy(p + off, &v, sizeof(v));
}

static void put_u32(unsigned char *p, size_t off, uint32_t v)
{
    memcpy(p + off, &v, sizeof(v));
}

/* Start a core with room for (phnum) program headers. */
static void begin(struct gen *g, size_t phnum, int xnum)
{
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

    memset(g, 0, sizeof(*g));
    g->len = sizeof(eh) + phnum * sizeof(Elf64_Phdr);
    if (xnum) {
        /* QEMU's way past 65535 headers: the count in section 0. */
        Elf64_Shdr sh = {.sh_info = (Elf64_Word)phnum};
        eh.e_phnum = PN_XNUM;
        eh.e_shoff = g->len;
        eh.e_shentsize = sizeof(sh);
        eh.e_shnum = 1;
        memcpy(g->buf + g->len, &sh, sizeof(sh));
        g->len += sizeof(sh);
    }
    memcpy(g->buf, &eh, sizeof(eh));
}

static Elf64_Phdr *phdr(struct gen *g, size_t i)
{
    return (Elf64_Phdr *)(g->buf + sizeof(Elf64_Ehdr)) + i;
}

static void note(struct gen *g, const char *name, uint32_t type,
                 const void *desc, uint32_t descsz)
{
    Elf64_Nhdr nh = {(Elf64_Word)strlen(name) + 1, descsz, type};

    memcpy(g->buf + g->len, &nh, sizeof(nh));
    g->len += sizeof(nh);
    memcpy(g->buf + g->len, name, nh.n_namesz);
    g->len += (nh.n_namesz + 3) & ~3u;
    memcpy(g->buf + g->len, desc, descsz);
    g->len += (descsz + 3) & ~3u;
}

/* Header (i) becomes the PT_NOTE of the notes written since (from). */
static void end_notes(struct gen *g, size_t i, size_t from)
{
    *phdr(g, i) = (Elf64_Phdr){.p_type = PT_NOTE,
                               .p_offset = from,
                               .p_filesz = g->len - from,
                               .p_memsz = g->len - from};
}

/* Header (i) becomes a PT_LOAD of (filesz) bytes from (bytes), or zeros. */
static void load(struct gen *g, size_t i, uint64_t paddr, uint64_t vaddr,
                 const void *bytes, size_t filesz, uint64_t memsz)
{
    g->len = (g->len + 15) & ~(size_t)15;
    *phdr(g, i) = (Elf64_Phdr){.p_type = PT_LOAD,
                               .p_flags = PF_R | PF_W | PF_X,
                               .p_offset = g->len,
                               .p_vaddr = vaddr,
                               .p_paddr = paddr,
                               .p_filesz = filesz,
                               .p_memsz = memsz};
    if (bytes)
        memcpy(g->buf + g->len, bytes, filesz);
    else
        for (size_t b = 0; b < filesz; b++)
            g->buf[g->len + b] = (unsigned char)(paddr + b);
    g->len += filesz;
}

static int save(const struct gen *g, const char *dir, const char *name)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t n = fwrite(g->buf, 1, g->len, f);
    if (fclose(f) != 0 || n != g->len) {
        perror(path);
        return -1;
    }
    return 0;
}

static void make_regs(uint64_t rip, uint64_t cr3)
{
    memset(prstatus, 0, sizeof(prstatus));
    put_u32(prstatus, 32, 1);
    for (size_t i = 0; i < 27; i++)
        put_u64(prstatus, 112 + i * 8, 0x1000 + i);
    put_u64(prstatus, 112 + 16 * 8, rip);
    memset(qemu, 0, sizeof(qemu));
    put_u32(qemu, 0, 1);
    put_u32(qemu, 4, QEMU_SIZE);
    put_u64(qemu, 392, 0x80000011);
    put_u64(qemu, 416, cr3);
    put_u64(qemu, 424, 0x20);
}

/*
 * Page tables from 0 (CR3 0): 0 and 0xffffffff80000000 both map a 2 MiB
 * page at 0; 0x200000 goes through a PT that is the PML4 page itself.
 */
static void page_tables(unsigned char *ram)
{
    put_u64(ram, 0x0000 + 0 * 8, 0x1003);
    put_u64(ram, 0x0000 + 511 * 8, 0x1003);
    put_u64(ram, 0x1000 + 0 * 8, 0x2003);
    put_u64(ram, 0x1000 + 510 * 8, 0x2003);
    put_u64(ram, 0x2000 + 0 * 8, 0x83);
    put_u64(ram, 0x2000 + 1 * 8, 0x0003);
}

int main(int argc, char **argv)
{
    static struct gen g;
    static unsigned char ram[0x2010];
    size_t from;
    int err = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }

    /* Two vCPUs with QEMU notes, two segments, a zero tail. */
    make_regs(0xffffffff80100000ull, 0x1000);
    begin(&g, 3, 0);
    from = g.len;
    note(&g, "CORE", NT_PRSTATUS, prstatus, PRSTATUS_SIZE);
    note(&g, "CORE", NT_PRSTATUS, prstatus, PRSTATUS_SIZE);
    note(&g, "QEMU", 0, qemu, QEMU_SIZE);
    note(&g, "QEMU", 0, qemu, QEMU_SIZE);
    end_notes(&g, 0, from);
    load(&g, 1, 0x0, 0xffffffff80000000ull, NULL, 0x800, 0x1000);
    load(&g, 2, 0x1000, 0x1000, NULL, 0x400, 0x400);
    err |= save(&g, argv[1], "two-vcpus");

    /* Page tables in RAM and CR3 pointing at them, for the walker. */
    make_regs(0xffffffff80100000ull, 0x0);
    memset(ram, 0, sizeof(ram));
    page_tables(ram);
    begin(&g, 2, 0);
    from = g.len;
    note(&g, "CORE", NT_PRSTATUS, prstatus, PRSTATUS_SIZE);
    note(&g, "QEMU", 0, qemu, QEMU_SIZE);
    end_notes(&g, 0, from);
    load(&g, 1, 0x0, 0x0, ram, sizeof(ram), 0x200000);
    err |= save(&g, argv[1], "page-tables");

    /* Like QEMU's paging=true: aliases of one range, PN_XNUM headers. */
    begin(&g, 4, 1);
    from = g.len;
    note(&g, "CORE", NT_PRSTATUS, prstatus, PRSTATUS_SIZE);
    note(&g, "QEMU", 0, qemu, QEMU_SIZE);
    note(&g, "USCOPE", 1, qemu, 64);
    end_notes(&g, 0, from);
    load(&g, 1, 0x0, 0xffffffff80000000ull, NULL, 0x1000, 0x1000);
    *phdr(&g, 2) = *phdr(&g, 1);
    phdr(&g, 2)->p_vaddr = 0xffff800000000000ull;
    *phdr(&g, 3) = *phdr(&g, 1);
    phdr(&g, 3)->p_vaddr = 0xffff000000000000ull; /* as QEMU 7.2 writes */
    err |= save(&g, argv[1], "aliases-xnum");

    /* The least a core can be: one vCPU, one byte of RAM. */
    begin(&g, 2, 0);
    from = g.len;
    note(&g, "CORE", NT_PRSTATUS, prstatus, PRSTATUS_SIZE);
    end_notes(&g, 0, from);
    load(&g, 1, 0x1000, 0x1000, NULL, 1, 1);
    err |= save(&g, argv[1], "minimal");

    /* A core that lies: a note running past its segment. */
    begin(&g, 2, 0);
    from = g.len;
    note(&g, "CORE", NT_PRSTATUS, prstatus, PRSTATUS_SIZE);
    end_notes(&g, 0, from);
    phdr(&g, 0)->p_filesz -= 16;
    load(&g, 1, 0x0, 0x0, NULL, 0x100, 0x100);
    err |= save(&g, argv[1], "short-note");
    return err ? 1 : 0;
}
