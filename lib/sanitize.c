/* Terminal-safe text and Prometheus label values from untrusted strings. */
#include "sanitize.h"

static int printable(unsigned char c)
{
    return c >= 0x20 && c <= 0x7e;
}

size_t usc_sanitize_text(char *dst, size_t size, const char *src, size_t len)
{
    size_t n = 0;

    if (size == 0)
        return 0;
    for (size_t i = 0; src && i < len && src[i] && n + 1 < size; i++)
        dst[n++] = printable((unsigned char)src[i]) ? src[i] : '?';
    dst[n] = '\0';
    return n;
}

size_t usc_sanitize_prom_label(char *dst, size_t size, const char *src,
                               size_t len)
{
    size_t n = 0;

    if (size == 0)
        return 0;
    for (size_t i = 0; src && i < len && src[i]; i++) {
        unsigned char c = (unsigned char)src[i];
        char esc = c == '\\' ? '\\' : c == '"' ? '"' : c == '\n' ? 'n' : 0;
        size_t need = esc ? 2 : 1;

        if (n + need + 1 > size)
            break;
        if (esc) {
            dst[n++] = '\\';
            dst[n++] = esc;
        } else {
            dst[n++] = printable(c) ? (char)c : '?';
        }
    }
    dst[n] = '\0';
    return n;
}
