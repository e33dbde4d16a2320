/* What kind of kernel image a file is, as QEMU's -kernel would take it. */
#ifndef USC_BOOTIMAGE_H
#define USC_BOOTIMAGE_H

#include <stddef.h>
#include <stdint.h>

/*
 * QEMU 7.2's pc machine boots with -kernel, in this order: a Linux
 * bzImage ("HdrS" at 0x202); a multiboot (version 1) image, found by its
 * header in the first 8 KiB (an ELF64 one only with the header's address
 * fields, flag bit 16: QEMU refuses to load a 64-bit ELF itself); then an
 * ELF (32- or 64-bit x86) carrying the PVH entry note
 * (XEN_ELFNOTE_PHYS32_ENTRY, a PT_NOTE of owner "Xen", type 18). unirun
 * takes the last two: unikernels.
 */
enum usc_boot_kind {
    USC_BOOT_NONE = 0,  /* not bootable by unirun; (what) says what it is */
    USC_BOOT_PVH,       /* an ELF with the PVH entry note */
    USC_BOOT_MULTIBOOT, /* a multiboot image QEMU loads */
};

struct usc_bootimage {
    enum usc_boot_kind kind;
    int elf_class;  /* 32 or 64 for an ELF file, else 0 */
    char what[160]; /* e.g. "a multiboot image (ELF 32-bit i386)" */
};

/* How the prober reads the image: (len) bytes at (off) into (buf). Returns
 * 0, or a negative errno (-EIO for bytes past the end). */
struct usc_bootimage_reader {
    int (*read)(void *priv, uint64_t off, void *buf, size_t len);
    void *priv;
    uint64_t size; /* the file's size */
};

/*
 * Tell what the untrusted image behind (r) is, into (out). Reads only the
 * first 8 KiB, the ELF and program headers (at most 256) and PT_NOTE
 * segments (64 KiB each at most). Returns 0 (out->kind says whether it
 * boots), or the reader's error.
 */
int usc_bootimage_probe(const struct usc_bootimage_reader *r,
                        struct usc_bootimage *out);

/* usc_bootimage_probe of the file at (path). Returns 0, or -errno from
 * opening or reading it (-EISDIR and friends: not a regular file). */
int usc_bootimage_probe_file(const char *path, struct usc_bootimage *out);

#endif /* USC_BOOTIMAGE_H */
