/* A unikernel's image (ELF executable): its symbols, text and build-id. */
#ifndef USC_ELFIMAGE_H
#define USC_ELFIMAGE_H

#include <libelf.h>
#include <stddef.h>
#include <stdint.h>
#include <uniscope/abi.h>

/* An open image; its symbol table is loaded once, at open. */
struct usc_elfimage;

/*
 * Open the ELF executable at (path) and load its symbol table. Stores a
 * new handle in (*out), freed with usc_elfimage_close. Returns 0; -ENOEXEC
 * for a file that is not a 64-bit ELF; -errno if it cannot be read.
 */
int usc_elfimage_open(const char *path, struct usc_elfimage **out);

/* Free (img); NULL is a no-op. */
void usc_elfimage_close(struct usc_elfimage *img);

/*
 * Look up the function or object symbol (name): its address into (*addr)
 * and its size into (*size) (either may be NULL). Returns 0, or -ENOENT.
 */
int usc_elfimage_symbol(const struct usc_elfimage *img, const char *name,
                        uint64_t *addr, uint64_t *size);

/*
 * The symbol containing (addr): its name (owned by img) into (*name) and
 * the offset of addr in it into (*offset). Returns 0, or -ENOENT.
 */
int usc_elfimage_symbolize(const struct usc_elfimage *img, uint64_t addr,
                           const char **name, uint64_t *offset);

/* Is (addr) inside an executable segment of (img)? */
int usc_elfimage_in_text(const struct usc_elfimage *img, uint64_t addr);

/*
 * Copy the GNU build-id (as usc_elf_build_id finds it) into (buf) (cap
 * bytes) and its length into (*len). Returns 0; -ENOENT if the image has
 * none or a malformed one; -ENOSPC if cap is too small.
 */
int usc_elfimage_build_id(const struct usc_elfimage *img, uint8_t *buf,
                          size_t cap, size_t *len);

/* ---- any ELF file: its build-id and kind --------------------------------- */

/* The shortest build-id taken; GNU ld makes 16 or 20 bytes, lld 8 to 32. */
#define USC_BUILD_ID_MIN 4

/*
 * The GNU build-id of (elf), of either class: the first NT_GNU_BUILD_ID
 * note named "GNU" in a PT_NOTE segment or else, as elfutils looks too,
 * in an SHT_NOTE section (a linker script may put .note.gnu.build-id in a
 * loadable segment with no PT_NOTE). The file is untrusted: every note is
 * bounds-checked. Copies the id into (buf) (cap bytes, at most
 * USC_BUILD_ID_MAX used) and its length into (*len). Returns 0; -ENOENT
 * when there is none; -EBADMSG for a build-id note of the wrong size
 * (under USC_BUILD_ID_MIN or over the cap) or notes that run past their
 * end.
 */
int usc_elf_build_id(Elf *elf, uint8_t *buf, size_t cap, size_t *len);

/* What an ELF file is, as far as finding symbols goes. */
struct usc_elf_probe {
    int elfclass;       /* ELFCLASS32 or ELFCLASS64 */
    uint16_t machine;   /* e_machine: EM_X86_64, EM_386 (a boot wrapper) */
    uint16_t type;      /* e_type */
    int has_symtab;     /* a non-empty .symtab */
    int has_debug_info; /* a .debug_info with contents */
    int build_id_err;   /* usc_elf_build_id's result: 0, -ENOENT, -EBADMSG */
    uint8_t build_id[USC_BUILD_ID_MAX];
    size_t build_id_len; /* 0 unless build_id_err is 0 */
};

/*
 * Probe (elf) into (out). Returns 0, or -ENOEXEC for something that is not
 * an ELF file (NULL included).
 */
int usc_elf_probe(Elf *elf, struct usc_elf_probe *out);

/* usc_elf_probe of the file at (path). Returns 0, -ENOEXEC, or -errno. */
int usc_elf_probe_file(const char *path, struct usc_elf_probe *out);

#endif /* USC_ELFIMAGE_H */
