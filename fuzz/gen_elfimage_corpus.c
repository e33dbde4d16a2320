/*
 * Writes the seed corpus of fuzz_elfimage: small ELF files with GNU
 * build-ids where images keep them (a PT_NOTE; only a section, as in
 * Unikraft's images; a 32-bit boot wrapper) and broken ones (an id of the
 * wrong size, a note past its end, tables past the file). Built by hand:
 *   cc -std=c11 -o /tmp/gen_elf fuzz/gen_elfimage_corpus.c
 *   /tmp/gen_elf fuzz/corpus/elfimage
 */
#include <elf.h>
#include <stdio.h>
#include <string.h>

static unsigned char buf[4096];

static void save(const char *dir, const char *name, size_t n)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, n, f) != n) {
        perror(path);
        return;
    }
    fclose(f);
}

/* A GNU build-id note of (descsz) bytes claimed, (have) written, at (at). */
static size_t note(size_t at, unsigned descsz, unsigned have)
{
    Elf64_Nhdr nh = {
        .n_namesz = 4, .n_descsz = descsz, .n_type = NT_GNU_BUILD_ID};

    memcpy(buf + at, &nh, sizeof(nh));
    memcpy(buf + at + 12, "GNU", 4);
    for (unsigned i = 0; i < have; i++)
        buf[at + 16 + i] = (unsigned char)(0xa0 + i);
    return 16 + ((have + 3) & ~3u);
}

static void ident(unsigned char *e, int cls)
{
    memcpy(e, ELFMAG, SELFMAG);
    e[EI_CLASS] = (unsigned char)cls;
    e[EI_DATA] = ELFDATA2LSB;
    e[EI_VERSION] = EV_CURRENT;
}

/* ELF64 with one PT_NOTE holding a build-id note (descsz, have). */
static size_t with_phdr(unsigned descsz, unsigned have)
{
    Elf64_Ehdr eh = {.e_type = ET_EXEC,
                     .e_machine = EM_X86_64,
                     .e_version = EV_CURRENT,
                     .e_phoff = sizeof(Elf64_Ehdr),
                     .e_ehsize = sizeof(Elf64_Ehdr),
                     .e_phentsize = sizeof(Elf64_Phdr),
                     .e_phnum = 1};
    size_t at = sizeof(eh) + sizeof(Elf64_Phdr), n;

    memset(buf, 0, sizeof(buf));
    ident(eh.e_ident, ELFCLASS64);
    memcpy(buf, &eh, sizeof(eh));
    n = note(at, descsz, have);
    Elf64_Phdr ph = {.p_type = PT_NOTE,
                     .p_offset = at,
                     .p_filesz = n,
                     .p_memsz = n,
                     .p_align = 4};
    memcpy(buf + sizeof(eh), &ph, sizeof(ph));
    return at + n;
}

/* ELF (cls) with sections only: null, .note.gnu.build-id, .shstrtab. */
static size_t with_section(int cls, unsigned descsz, unsigned have)
{
    static const char names[] = "\0.note.gnu.build-id\0.shstrtab";
    size_t ehsize = cls == ELFCLASS64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
    size_t at = ehsize, n, str, sh;

    memset(buf, 0, sizeof(buf));
    n = note(at, descsz, have);
    str = at + n;
    memcpy(buf + str, names, sizeof(names));
    sh = (str + sizeof(names) + 7) & ~(size_t)7;
    if (cls == ELFCLASS64) {
        Elf64_Ehdr eh = {.e_type = ET_EXEC,
                         .e_machine = EM_X86_64,
                         .e_version = EV_CURRENT,
                         .e_shoff = sh,
                         .e_ehsize = sizeof(eh),
                         .e_shentsize = sizeof(Elf64_Shdr),
                         .e_shnum = 3,
                         .e_shstrndx = 2};
        Elf64_Shdr s[3] = {
            {0},
            {.sh_name = 1,
             .sh_type = SHT_NOTE,
             .sh_flags = SHF_ALLOC,
             .sh_offset = at,
             .sh_size = n,
             .sh_addralign = 4},
            {.sh_name = 20,
             .sh_type = SHT_STRTAB,
             .sh_offset = str,
             .sh_size = sizeof(names),
             .sh_addralign = 1},
        };
        ident(eh.e_ident, ELFCLASS64);
        memcpy(buf, &eh, sizeof(eh));
        memcpy(buf + sh, s, sizeof(s));
        return sh + sizeof(s);
    }
    Elf32_Ehdr eh = {.e_type = ET_EXEC,
                     .e_machine = EM_386,
                     .e_version = EV_CURRENT,
                     .e_shoff = (Elf32_Off)sh,
                     .e_ehsize = sizeof(eh),
                     .e_shentsize = sizeof(Elf32_Shdr),
                     .e_shnum = 3,
                     .e_shstrndx = 2};
    Elf32_Shdr s[3] = {
        {0},
        {.sh_name = 1,
         .sh_type = SHT_NOTE,
         .sh_flags = SHF_ALLOC,
         .sh_offset = (Elf32_Off)at,
         .sh_size = (Elf32_Word)n,
         .sh_addralign = 4},
        {.sh_name = 20,
         .sh_type = SHT_STRTAB,
         .sh_offset = (Elf32_Off)str,
         .sh_size = sizeof(names),
         .sh_addralign = 1},
    };
    ident(eh.e_ident, ELFCLASS32);
    memcpy(buf, &eh, sizeof(eh));
    memcpy(buf + sh, s, sizeof(s));
    return sh + sizeof(s);
}

int main(int argc, char **argv)
{
    size_t n;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    save(argv[1], "phdr_note", with_phdr(20, 20));
    save(argv[1], "section_note_only", with_section(ELFCLASS64, 20, 20));
    save(argv[1], "elf32_wrapper", with_section(ELFCLASS32, 16, 16));
    save(argv[1], "id_too_short", with_phdr(2, 2));
    save(argv[1], "id_too_long", with_section(ELFCLASS64, 40, 40));
    save(argv[1], "note_past_its_end", with_phdr(200, 20));
    n = with_section(ELFCLASS64, 20, 20);
    save(argv[1], "sections_past_the_file", n - 40);
    return 0;
}
