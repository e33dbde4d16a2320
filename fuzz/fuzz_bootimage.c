/* Fuzz target: telling what kind of kernel image an arbitrary file is. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bootimage.h"

struct buf {
    const uint8_t *p;
    size_t n;
};

static int read_buf(void *priv, uint64_t off, void *out, size_t len)
{
    const struct buf *b = priv;

    /* The prober must never ask for bytes it was told are not there. */
    if (off > b->n || len > b->n - off)
        abort();
    memcpy(out, b->p + off, len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf b = {data, size};
    struct usc_bootimage_reader r = {
        .read = read_buf, .priv = &b, .size = size};
    struct usc_bootimage img;

    if (usc_bootimage_probe(&r, &img) != 0)
        abort();
    if (!memchr(img.what, '\0', sizeof(img.what)) || !img.what[0])
        abort();
    if (img.kind != USC_BOOT_NONE && img.kind != USC_BOOT_PVH &&
        img.kind != USC_BOOT_MULTIBOOT)
        abort();
    return 0;
}
