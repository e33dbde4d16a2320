/* usc-solo5-buildid: give a Solo5 image linked with uniscope's port its
 * GNU build-id, as ld --build-id=sha1 would have had Solo5 kept it. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ID_LEN 20
#define IMAGE_MAX (1u << 30)

/* ---- SHA-1 (FIPS 180-4) ------------------------------------------------ */

struct sha1 {
    uint32_t h[5];
    uint64_t bytes;
    uint8_t block[64];
};

static uint32_t rol(uint32_t x, int n)
{
    return x << n | x >> (32 - n);
}

static void sha1_block(struct sha1 *s, const uint8_t *p)
{
    uint32_t w[80], a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3],
                    e = s->h[4];

    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdc;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6;
        }
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = t;
    }
    s->h[0] += a;
    s->h[1] += b;
    s->h[2] += c;
    s->h[3] += d;
    s->h[4] += e;
}

static void sha1(const uint8_t *p, size_t n, uint8_t out[ID_LEN])
{
    struct sha1 s = {
        {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0}, n, {0}};
    size_t i = 0;

    for (; n - i >= 64; i += 64)
        sha1_block(&s, p + i);
    size_t rest = n - i;
    memcpy(s.block, p + i, rest);
    s.block[rest++] = 0x80;
    if (rest > 56) {
        memset(s.block + rest, 0, 64 - rest);
        sha1_block(&s, s.block);
        rest = 0;
    }
    memset(s.block + rest, 0, 56 - rest);
    for (int k = 0; k < 8; k++)
        s.block[56 + k] = (uint8_t)((s.bytes * 8) >> (56 - 8 * k));
    sha1_block(&s, s.block);
    for (int k = 0; k < 5; k++)
        for (int j = 0; j < 4; j++)
            out[4 * k + j] = (uint8_t)(s.h[k] >> (24 - 8 * j));
}

/* ---- the note ----------------------------------------------------------- */

/*
 * The file offset of the description of the one GNU build-id note of
 * 20 bytes in a PT_NOTE segment of the image (img, n). Returns it, or -1
 * with errno set (ENOEXEC: not a 64-bit ELF; ENOENT: no such note; EEXIST:
 * more than one).
 */
static long find_note(const uint8_t *img, size_t n)
{
    Elf64_Ehdr eh;
    long found = -1;

    if (n < sizeof(eh) || memcmp(img, ELFMAG, SELFMAG) != 0 ||
        img[EI_CLASS] != ELFCLASS64 || img[EI_DATA] != ELFDATA2LSB) {
        errno = ENOEXEC;
        return -1;
    }
    memcpy(&eh, img, sizeof(eh));
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > n ||
        (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > n - eh.e_phoff) {
        errno = ENOEXEC;
        return -1;
    }
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_NOTE || ph.p_offset > n || ph.p_filesz > n ||
            ph.p_offset + ph.p_filesz > n)
            continue;
        uint64_t at = ph.p_offset, end = ph.p_offset + ph.p_filesz;
        while (end - at >= sizeof(Elf64_Nhdr)) {
            Elf64_Nhdr nh;
            memcpy(&nh, img + at, sizeof(nh));
            uint64_t name = at + sizeof(nh);
            uint64_t desc = name + (((uint64_t)nh.n_namesz + 3) & ~3ull);
            uint64_t next = desc + (((uint64_t)nh.n_descsz + 3) & ~3ull);
            if (next > end)
                break;
            if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
                nh.n_descsz == ID_LEN && !memcmp(img + name, "GNU", 4)) {
                if (found >= 0) {
                    errno = EEXIST;
                    return -1;
                }
                found = (long)desc;
            }
            at = next;
        }
    }
    if (found < 0)
        errno = ENOENT;
    return found;
}

static int usage(FILE *f, int status)
{
    fprintf(f, "usage: usc-solo5-buildid IMAGE\n"
               "Give IMAGE, a Solo5 unikernel linked with uniscope's Solo5 "
               "port, its GNU\nbuild-id: a SHA-1 of the image with the id "
               "zeroed, written into the port's\nnote. The file is replaced "
               "whole (a new file renamed over it).\n");
    return status;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--help"))
        return usage(stdout, 0);
    if (argc == 2 && !strcmp(argv[1], "--version")) {
        printf("usc-solo5-buildid (uniscope) %s\n", USC_VERSION);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-')
        return usage(stderr, 2);

    const char *path = argv[1];
    char tmp[4096];
    uint8_t *img = NULL;
    struct stat st;
    int fd = open(path, O_RDONLY), out = -1, err;
    const char *what = "open";

    if (fd < 0 || fstat(fd, &st) != 0)
        goto fail;
    what = "read";
    if (!S_ISREG(st.st_mode) || st.st_size > IMAGE_MAX) {
        errno = EFBIG;
        goto fail;
    }
    size_t n = (size_t)st.st_size;
    img = malloc(n ? n : 1);
    if (!img)
        goto fail;
    for (size_t got = 0; got < n;) {
        ssize_t r = read(fd, img + got, n - got);
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            goto fail;
        }
        got += (size_t)r;
    }
    what = "no build-id note of uniscope's port";
    long at = find_note(img, n);
    if (at < 0)
        goto fail;
    memset(img + at, 0, ID_LEN);
    sha1(img, n, img + at);

    what = "write";
    if (snprintf(tmp, sizeof(tmp), "%s.buildid-XXXXXX", path) >=
        (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        goto fail;
    }
    out = mkstemp(tmp);
    if (out < 0)
        goto fail;
    for (size_t put = 0; put < n;) {
        ssize_t w = write(out, img + put, n - put);
        if (w <= 0)
            goto fail_tmp;
        put += (size_t)w;
    }
    if (fchmod(out, st.st_mode & 07777) != 0 || fsync(out) != 0 ||
        close(out) != 0) {
        out = -1;
        goto fail_tmp;
    }
    out = -1;
    if (rename(tmp, path) != 0)
        goto fail_tmp;
    free(img);
    close(fd);
    return 0;

fail_tmp:
    err = errno;
    if (out >= 0)
        close(out);
    unlink(tmp);
    errno = err;
fail:
    fprintf(stderr, "usc-solo5-buildid: %s: %s: %s\n", path, what,
            strerror(errno));
    free(img);
    if (fd >= 0)
        close(fd);
    return 1;
}
