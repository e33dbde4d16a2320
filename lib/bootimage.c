/* Telling a PVH ELF and a multiboot image from everything QEMU cannot boot
 * as a unikernel, reading a bounded part of an untrusted file. */
#include "bootimage.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEAD 8192u           /* where a multiboot header must start */
#define MB_MAGIC 0x1BADB002u /* multiboot 1 */
#define MB2_MAGIC 0xE85250D6u
#define MB_HAS_ADDR (1u << 16) /* the header gives load addresses */
#define MAX_PHDRS 256u
#define MAX_NOTES 65536u
#define XEN_ELFNOTE_PHYS32_ENTRY 18u
#define SOLO5_NOTE_ABI 0x31494241u /* "ABI1": its target comes first */

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* The multiboot flags when (head, n) holds a valid header, else -1;
 * (*mb2) when only a multiboot2 header is there. */
static int64_t multiboot_flags(const unsigned char *head, size_t n, int *mb2)
{
    *mb2 = 0;
    for (size_t off = 0; off + 12 <= n; off += 4) {
        uint32_t magic = le32(head + off), flags = le32(head + off + 4);

        if (magic == MB_MAGIC && magic + flags + le32(head + off + 8) == 0)
            return flags;
        /* multiboot2: 8-aligned, magic, arch, length, checksum */
        if (magic == MB2_MAGIC && off % 8 == 0 && off + 16 <= n &&
            magic + flags + le32(head + off + 8) + le32(head + off + 12) == 0)
            *mb2 = 1;
    }
    return -1;
}

static const char *machine_name(uint16_t m)
{
    switch (m) {
    case EM_386:
        return "i386";
    case EM_X86_64:
        return "x86-64";
    case EM_AARCH64:
        return "AArch64";
    case EM_ARM:
        return "ARM";
    case EM_RISCV:
        return "RISC-V";
    case EM_PPC64:
        return "PowerPC64";
    default:
        return NULL;
    }
}

/* What an image's notes say: the PVH entry, Solo5's ABI target. */
struct notes {
    int pvh;
    uint32_t solo5_target; /* 0: no Solo5 ABI note */
};

/* Look through the PT_NOTE segment (p, n) for the notes we know. */
static void scan_notes(const unsigned char *p, size_t n, size_t align,
                       struct notes *found)
{
    size_t off = 0;

    while (n - off >= 12) {
        uint64_t namesz = le32(p + off), descsz = le32(p + off + 4);
        uint32_t type = le32(p + off + 8);
        uint64_t name = off + 12;
        uint64_t desc = name + ((namesz + align - 1) & ~(uint64_t)(align - 1));
        uint64_t next = desc + ((descsz + align - 1) & ~(uint64_t)(align - 1));

        if (desc > n || descsz > n - desc)
            return;
        if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
            memcmp(p + name, "Xen", 4) == 0 && descsz >= 4)
            found->pvh = 1;
        if (type == SOLO5_NOTE_ABI && namesz == 6 &&
            memcmp(p + name, "Solo5", 6) == 0 && descsz >= 4)
            found->solo5_target = le32(p + desc);
        if (next >= n)
            return;
        off = (size_t)next;
    }
}

/* The notes of the ELF whose header is (eh) into (found). 0 or -errno. */
static int elf_notes(const struct usc_bootimage_reader *r,
                     const unsigned char *eh, int is64, struct notes *found)
{
    uint64_t phoff = is64 ? le64(eh + 32) : le32(eh + 28);
    uint16_t phentsize = le16(eh + (is64 ? 54 : 42));
    uint16_t phnum = le16(eh + (is64 ? 56 : 44));
    size_t want = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    unsigned char ph[sizeof(Elf64_Phdr)];
    unsigned char *seg = NULL;
    int err = 0;

    if (phentsize < want || phnum == 0 || phnum > MAX_PHDRS ||
        phoff > r->size || (uint64_t)phnum * phentsize > r->size - phoff)
        return 0;
    for (uint16_t i = 0; i < phnum && !err; i++) {
        uint64_t off, filesz, align;

        err = r->read(r->priv, phoff + (uint64_t)i * phentsize, ph, want);
        if (err || le32(ph) != PT_NOTE)
            continue;
        off = is64 ? le64(ph + 8) : le32(ph + 4);
        filesz = is64 ? le64(ph + 32) : le32(ph + 16);
        align = is64 ? le64(ph + 48) : le32(ph + 28);
        if (filesz == 0 || filesz > MAX_NOTES || off > r->size ||
            filesz > r->size - off)
            continue;
        free(seg);
        seg = malloc(filesz);
        if (!seg)
            return -ENOMEM;
        err = r->read(r->priv, off, seg, filesz);
        if (!err)
            scan_notes(seg, filesz, align == 8 ? 8 : 4, found);
    }
    free(seg);
    return err;
}

/* The name of a Solo5 target that is not booted by QEMU, or NULL. */
static const char *solo5_tender(uint32_t target)
{
    switch (target) {
    case 1:
        return "hvt";
    case 2:
        return "spt";
    case 4:
        return "muen";
    case 5:
        return "genode";
    default:
        return NULL;
    }
}

static void say(struct usc_bootimage *out, enum usc_boot_kind kind,
                const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(struct usc_bootimage *out, enum usc_boot_kind kind,
                const char *fmt, ...)
{
    va_list ap;

    out->kind = kind;
    va_start(ap, fmt);
    vsnprintf(out->what, sizeof(out->what), fmt, ap);
    va_end(ap);
}

/* The ELF file whose header is (eh, n bytes). */
static int probe_elf(const struct usc_bootimage_reader *r,
                     const unsigned char *eh, size_t n, int64_t mb_flags,
                     struct usc_bootimage *out)
{
    int is64 = eh[EI_CLASS] == ELFCLASS64;
    const char *bits = is64 ? "64" : "32";
    const char *mach;
    uint16_t type, machine;
    char unknown[24];
    struct notes notes = {0, 0};
    int err;

    if ((eh[EI_CLASS] != ELFCLASS32 && !is64) || eh[EI_DATA] != ELFDATA2LSB ||
        n < (is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr))) {
        say(out, USC_BOOT_NONE,
            "an ELF file of a class or byte order "
            "no x86 kernel has");
        return 0;
    }
    out->elf_class = is64 ? 64 : 32;
    type = le16(eh + 16);
    machine = le16(eh + 18);
    mach = machine_name(machine);
    if (!mach) {
        snprintf(unknown, sizeof(unknown), "machine %u", machine);
        mach = unknown;
    }
    if (machine != EM_386 && machine != EM_X86_64) {
        say(out, USC_BOOT_NONE, "an ELF %s-bit %s file, not an x86 kernel",
            bits, mach);
        return 0;
    }
    if (type != ET_EXEC) {
        say(out, USC_BOOT_NONE, "an ELF %s-bit %s %s, not a kernel", bits, mach,
            type == ET_REL    ? "object file"
            : type == ET_DYN  ? "shared object or position-independent program"
            : type == ET_CORE ? "core file"
                              : "file of an unknown type");
        return 0;
    }
    if (mb_flags >= 0) {
        if (is64 && !(mb_flags & MB_HAS_ADDR)) {
            say(out, USC_BOOT_NONE,
                "an ELF %s-bit %s executable with a "
                "multiboot header QEMU refuses (no load addresses in it)",
                bits, mach);
            return 0;
        }
        say(out, USC_BOOT_MULTIBOOT, "a multiboot image (ELF %s-bit %s)", bits,
            mach);
        return 0;
    }
    err = elf_notes(r, eh, is64, &notes);
    if (err)
        return err;
    if (notes.pvh)
        say(out, USC_BOOT_PVH, "a PVH ELF (%s-bit %s)", bits, mach);
    else if (solo5_tender(notes.solo5_target))
        say(out, USC_BOOT_NONE,
            "a Solo5 %s image (it runs in Solo5's own tender, not under "
            "QEMU: build its virtio target)",
            solo5_tender(notes.solo5_target));
    else
        say(out, USC_BOOT_NONE,
            "an ELF %s-bit %s executable with neither the PVH entry note "
            "nor a multiboot header",
            bits, mach);
    return 0;
}

int usc_bootimage_probe(const struct usc_bootimage_reader *r,
                        struct usc_bootimage *out)
{
    unsigned char head[HEAD];
    size_t n;
    int64_t flags;
    int mb2, err;

    if (!r || !r->read || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    n = r->size < HEAD ? (size_t)r->size : HEAD;
    if (n == 0) {
        say(out, USC_BOOT_NONE, "an empty file");
        return 0;
    }
    err = r->read(r->priv, 0, head, n);
    if (err)
        return err;
    if (n >= 0x206 && le32(head + 0x202) == 0x53726448) { /* "HdrS" */
        say(out, USC_BOOT_NONE, "a Linux kernel (bzImage)");
        return 0;
    }
    flags = multiboot_flags(head, n, &mb2);
    if (n >= 4 && memcmp(head, ELFMAG, SELFMAG) == 0)
        return probe_elf(r, head, n, flags, out);
    if (flags >= 0 && (flags & MB_HAS_ADDR))
        say(out, USC_BOOT_MULTIBOOT, "a multiboot image");
    else if (flags >= 0)
        say(out, USC_BOOT_NONE,
            "a multiboot header without load "
            "addresses in a file that is not ELF");
    else if (mb2)
        say(out, USC_BOOT_NONE,
            "a multiboot2 image (QEMU's -kernel "
            "boots multiboot version 1 only)");
    else
        say(out, USC_BOOT_NONE,
            "neither an ELF file nor a multiboot "
            "image");
    return 0;
}

/* ---- a file ------------------------------------------------------------- */

static int read_fd(void *priv, uint64_t off, void *buf, size_t len)
{
    int fd = *(int *)priv;
    size_t done = 0;

    while (done < len) {
        ssize_t got =
            pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -errno;
        if (got == 0)
            return -EIO;
        done += (size_t)got;
    }
    return 0;
}

int usc_bootimage_probe_file(const char *path, struct usc_bootimage *out)
{
    struct usc_bootimage_reader r = {.read = read_fd};
    struct stat st;
    int fd, err;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0) {
        err = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        err = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
        goto out;
    }
    r.priv = &fd;
    r.size = (uint64_t)st.st_size;
    err = usc_bootimage_probe(&r, out);
out:
    close(fd);
    return err;
}
