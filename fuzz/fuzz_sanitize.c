/* Fuzz target: the input is a guest-supplied name and unit, NUL-separated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sanitize.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

static int printable(char c)
{
    return c >= 0x20 && c <= 0x7e;
}

static void check_text(const char *in, size_t len)
{
    char out[80];
    size_t n = usc_sanitize_text(out, sizeof(out), in, len);

    CHECK(n < sizeof(out) && out[n] == '\0' && strlen(out) == n);
    for (size_t i = 0; i < n; i++)
        CHECK(printable(out[i]));
}

static void check_label(const char *in, size_t len)
{
    char out[80];
    size_t n = usc_sanitize_prom_label(out, sizeof(out), in, len);

    CHECK(n < sizeof(out) && out[n] == '\0' && strlen(out) == n);
    /* Every quote, backslash and escape letter comes as a pair. */
    for (size_t i = 0; i < n; i++) {
        CHECK(printable(out[i]));
        if (out[i] == '\\') {
            CHECK(i + 1 < n && strchr("\\\"n", out[i + 1]));
            i++;
        } else {
            CHECK(out[i] != '"');
        }
    }
}

static void check_name(const char *name, const char *unit, int counter)
{
    struct usc_prom_unit conv;
    char out[96];
    size_t n =
        usc_sanitize_prom_name(out, sizeof(out), name, unit, counter, &conv);

    CHECK(n < sizeof(out) && strlen(out) == n);
    CHECK(conv.scale > 0);
    for (size_t i = 0; i < n; i++)
        CHECK((out[i] >= 'a' && out[i] <= 'z') ||
              (out[i] >= '0' && out[i] <= '9') || out[i] == '_');
    if (n == 0)
        return;
    CHECK(out[0] != '_' && out[n - 1] != '_' && !strstr(out, "__"));
    CHECK(!counter == !(n >= 6 && !strcmp(out + n - 6, "_total")));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 2);
    const char *unit;

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = '\0';
    check_text(buf, size);
    check_label(buf, size);
    unit = buf + strlen(buf) + 1;
    if (unit > buf + size)
        unit = buf + size;
    check_name(buf, unit, size & 1);
    check_name(buf, unit, !(size & 1));
    free(buf);
    return 0;
}
