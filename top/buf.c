/* A growing text buffer for the outputs. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unitop.h"

static int reserve(struct top_buf *b, size_t more)
{
    size_t cap = b->cap ? b->cap : 4096;
    char *np;

    if (b->oom)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    while (cap < b->len + more + 1)
        cap *= 2;
    np = realloc(b->p, cap);
    if (!np) {
        b->oom = 1;
        return -1;
    }
    b->p = np;
    b->cap = cap;
    return 0;
}

void top_buf_put(struct top_buf *b, const char *s, size_t len)
{
    if (reserve(b, len))
        return;
    memcpy(b->p + b->len, s, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void top_buf_printf(struct top_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void top_buf_free(struct top_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}
