/* Fuzz target: the input is what a client sends unitop's /metrics port. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unitop.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[256];
    int head = -1;
    int err =
        top_http_parse((const char *)data, size, path, sizeof(path), &head);

    CHECK(err == 0 || err == -EAGAIN || err == -EINVAL || err == -ENOTSUP);
    if (err == -ENOTSUP || err == 0) {
        size_t n = strnlen(path, sizeof(path));

        /* A path is one printable token, taken from the input. */
        CHECK(n > 0 && n < sizeof(path));
        for (size_t i = 0; i < n; i++)
            CHECK(path[i] > 0x20 && path[i] < 0x7f);
        CHECK(memmem(data, size, path, n) != NULL);
    }
    if (err == 0)
        CHECK(head == 0 || head == 1);
    return 0;
}
