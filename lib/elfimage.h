/* A unikernel's image (ELF executable): its symbols, text and build-id. */
#ifndef USC_ELFIMAGE_H
#define USC_ELFIMAGE_H

#include <stddef.h>
#include <stdint.h>

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
 * Copy the GNU build-id into (buf) (cap bytes) and its length into (*len).
 * Returns 0; -ENOENT if the image has none; -ENOSPC if cap is too small.
 */
int usc_elfimage_build_id(const struct usc_elfimage *img, uint8_t *buf,
                          size_t cap, size_t *len);

#endif /* USC_ELFIMAGE_H */
