/* Fuzz target: an ELF file's kind and GNU build-id (lib/elfimage.c), as
 * the image lookup reads them from files it is given or finds. */
#include <errno.h>
#include <gelf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "elfimage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct usc_elf_probe p;
    uint8_t id[8];
    size_t len = 99;
    char *copy = malloc(size ? size : 1);
    Elf *elf;

    if (!copy)
        return 0;
    memcpy(copy, data, size);
    elf_version(EV_CURRENT);
    elf = elf_memory(copy, size);
    if (usc_elf_probe(elf, &p) == 0) {
        /* an id is within its bounds, or there is none */
        if (p.build_id_err == 0 && (p.build_id_len < USC_BUILD_ID_MIN ||
                                    p.build_id_len > USC_BUILD_ID_MAX))
            abort();
        if (p.build_id_err != 0 && p.build_id_len != 0)
            abort();
        if (p.build_id_err != 0 && p.build_id_err != -ENOENT &&
            p.build_id_err != -EBADMSG)
            abort();
        /* a small buffer: never written past */
        int err = usc_elf_build_id(elf, id, sizeof(id), &len);
        if ((err == 0) != (len > 0) || len > sizeof(id))
            abort();
    }
    elf_end(elf);
    free(copy);
    return 0;
}
