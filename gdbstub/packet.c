/* Reading gdb's byte stream packet by packet, and framing our replies. */
#include "packet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp.h"

enum { ST_IDLE = 0, ST_DATA, ST_CS1, ST_CS2 };

#define INTERRUPT_BYTE 0x03
#define RLE_BIAS 29    /* a run length is sent as the character count + 29 */
#define RLE_MIN_RUN 4  /* shorter runs take no more room spelt out */
#define RLE_MAX_RUN 98 /* '~' (126) - RLE_BIAS repeats, plus the first */

static const char hexdigits[] = "0123456789abcdef";

/* ---- buffers ------------------------------------------------------------- */

int unigdb_buf_reserve(struct unigdb_buf *b, size_t more)
{
    size_t cap;
    char *p;

    if (more <= b->cap - b->len)
        return 0;
    if (more > SIZE_MAX / 2 - b->len)
        return -ENOMEM;
    cap = b->cap ? b->cap : 256;
    while (cap - b->len < more)
        cap *= 2;
    p = realloc(b->p, cap);
    if (!p)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int unigdb_buf_put(struct unigdb_buf *b, const void *data, size_t n)
{
    if (unigdb_buf_reserve(b, n + 1))
        return -ENOMEM;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int unigdb_buf_puts(struct unigdb_buf *b, const char *s)
{
    return unigdb_buf_put(b, s, strlen(s));
}

int unigdb_buf_printf(struct unigdb_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || unigdb_buf_reserve(b, (size_t)n + 1))
        return -ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int unigdb_buf_hex(struct unigdb_buf *b, const void *data, size_t n)
{
    const unsigned char *s = data;
    char *o;

    if (n > SIZE_MAX / 4 || unigdb_buf_reserve(b, 2 * n + 1))
        return -ENOMEM;
    o = b->p + b->len;
    for (size_t i = 0; i < n; i++) {
        o[2 * i] = hexdigits[s[i] >> 4];
        o[2 * i + 1] = hexdigits[s[i] & 15];
    }
    b->len += 2 * n;
    b->p[b->len] = '\0';
    return 0;
}

void unigdb_buf_consume(struct unigdb_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

void unigdb_buf_free(struct unigdb_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Append to (o) a run of (n) characters (c), run-length encoded:
 * "c*N" stands for c and N - 29 more; N is printable, never '#' or '$'. */
static char *put_run(char *o, unsigned *sum, char c, size_t n)
{
    while (n >= RLE_MIN_RUN) {
        size_t take = n < RLE_MAX_RUN ? n : RLE_MAX_RUN;
        unsigned count = (unsigned)(take - 1 + RLE_BIAS);

        if (count == '#' || count == '$') {
            count = '"';
            take = count - RLE_BIAS + 1;
        }
        *o++ = c;
        *o++ = '*';
        *o++ = (char)count;
        *sum += (unsigned char)c + '*' + count;
        n -= take;
    }
    for (; n; n--) {
        *o++ = c;
        *sum += (unsigned char)c;
    }
    return o;
}

/* Close the frame begun at out->len (the '$' written): checksum, length. */
static void end_frame(struct unigdb_buf *out, char *o, unsigned sum)
{
    *o++ = '#';
    *o++ = hexdigits[(sum >> 4) & 15];
    *o++ = hexdigits[sum & 15];
    out->len = (size_t)(o - out->p);
}

int unigdb_frame(struct unigdb_buf *out, const void *data, size_t len)
{
    const unsigned char *s = data;
    unsigned sum = 0;
    char *o;

    /* worst case: every byte escaped */
    if (len > SIZE_MAX / 4 || unigdb_buf_reserve(out, 2 * len + 5))
        return -ENOMEM;
    o = out->p + out->len;
    *o++ = '$';
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        size_t run = 1;

        if (c == '$' || c == '#' || c == '}' || c == '*') {
            *o++ = '}';
            *o++ = (char)(c ^ 0x20);
            sum += '}' + (c ^ 0x20);
            i++;
            continue;
        }
        /* gdb spends its time reading characters: runs cost it less */
        while (i + run < len && s[i + run] == c)
            run++;
        o = put_run(o, &sum, (char)c, run);
        i += run;
    }
    end_frame(out, o, sum);
    return 0;
}

int unigdb_frame_hex(struct unigdb_buf *out, const void *data, size_t len)
{
    const unsigned char *s = data;
    unsigned sum = 0;
    size_t run = 0;
    char *o, cur = 0;

    /* hex never needs escaping; runs only shrink it */
    if (len > SIZE_MAX / 4 || unigdb_buf_reserve(out, 2 * len + 5))
        return -ENOMEM;
    o = out->p + out->len;
    *o++ = '$';
    for (size_t i = 0; i < len;) {
        uint64_t word;

        /* guest memory is mostly zeros: take them eight bytes at a time */
        if (cur == '0' && len - i >= sizeof(word)) {
            memcpy(&word, s + i, sizeof(word));
            if (word == 0) {
                run += 2 * sizeof(word);
                i += sizeof(word);
                continue;
            }
        }
        for (int half = 0; half < 2; half++) {
            char c = hexdigits[half ? s[i] & 15 : s[i] >> 4];

            if (c == cur) {
                run++;
                continue;
            }
            o = put_run(o, &sum, cur, run);
            cur = c;
            run = 1;
        }
        i++;
    }
    o = put_run(o, &sum, cur, run);
    end_frame(out, o, sum);
    return 0;
}

/* ---- the reader ---------------------------------------------------------- */

int unigdb_reader_init(struct unigdb_reader *r, size_t max)
{
    memset(r, 0, sizeof(*r));
    r->max = max;
    r->raw = malloc(2 * max + 2);
    r->pkt = malloc(max + 1);
    if (!r->raw || !r->pkt) {
        unigdb_reader_free(r);
        return -ENOMEM;
    }
    return 0;
}

void unigdb_reader_free(struct unigdb_reader *r)
{
    free(r->raw);
    free(r->pkt);
    r->raw = r->pkt = NULL;
}

/* Undo escapes and run lengths of r->raw into r->pkt. */
static enum unigdb_input decode(struct unigdb_reader *r)
{
    size_t o = 0;

    for (size_t i = 0; i < r->rawlen; i++) {
        unsigned char c = (unsigned char)r->raw[i];

        if (c == '*') {
            size_t count;

            if (o == 0 || ++i == r->rawlen)
                return UNIGDB_IN_BAD;
            c = (unsigned char)r->raw[i];
            if (c < ' ' || c > '~')
                return UNIGDB_IN_BAD;
            count = (size_t)(c - RLE_BIAS);
            if (count > r->max - o)
                return UNIGDB_IN_TOO_LONG;
            memset(r->pkt + o, r->pkt[o - 1], count);
            o += count;
            continue;
        }
        if (c == '}') {
            if (++i == r->rawlen)
                return UNIGDB_IN_BAD;
            c = (unsigned char)r->raw[i] ^ 0x20;
        }
        if (o == r->max)
            return UNIGDB_IN_TOO_LONG;
        r->pkt[o++] = (char)c;
    }
    r->pkt[o] = '\0';
    r->pktlen = o;
    return UNIGDB_IN_PACKET;
}

static void start_packet(struct unigdb_reader *r)
{
    r->state = ST_DATA;
    r->rawlen = 0;
    r->sum = 0;
    r->overflow = 0;
}

enum unigdb_input unigdb_reader_feed(struct unigdb_reader *r, const char *p,
                                     size_t n, size_t *used)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        int v;

        switch (r->state) {
        case ST_IDLE:
            if (c == '$') {
                start_packet(r);
                continue;
            }
            *used = i + 1;
            if (c == '+')
                return UNIGDB_IN_ACK;
            if (c == '-')
                return UNIGDB_IN_NACK;
            if (c == INTERRUPT_BYTE)
                return UNIGDB_IN_INTERRUPT;
            continue; /* line noise between packets */
        case ST_DATA:
            if (c == '#') {
                r->state = ST_CS1;
            } else if (c == '$') {
                /* an unescaped '$' is never data: gdb started over */
                start_packet(r);
            } else {
                r->sum = (uint8_t)(r->sum + (unsigned char)c);
                if (r->rawlen < 2 * r->max + 2)
                    r->raw[r->rawlen++] = c;
                else
                    r->overflow = 1;
            }
            continue;
        case ST_CS1:
            v = usc_rsp_hexval(c);
            if (v < 0) {
                r->state = ST_IDLE;
                *used = i + 1;
                return UNIGDB_IN_BAD;
            }
            r->cs_hi = v;
            r->state = ST_CS2;
            continue;
        default: /* ST_CS2 */
            v = usc_rsp_hexval(c);
            r->state = ST_IDLE;
            *used = i + 1;
            if (r->overflow)
                return UNIGDB_IN_TOO_LONG;
            if (v < 0 || r->cs_hi * 16 + v != r->sum)
                return UNIGDB_IN_BAD;
            return decode(r);
        }
    }
    *used = n;
    return UNIGDB_IN_NONE;
}

/* ---- numbers ------------------------------------------------------------- */

int unigdb_parse_hex(const char *s, size_t len, uint64_t *v)
{
    return usc_rsp_parse_hex_u64(s, len, v) ? -EINVAL : 0;
}

/* Length of the run of hex digits at (s), at most (n). */
static size_t hex_run(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && usc_rsp_hexval(s[i]) >= 0)
        i++;
    return i;
}

int unigdb_parse_addr_len(const char *s, size_t n, uint64_t *addr,
                          uint64_t *len, size_t *used)
{
    size_t a = hex_run(s, n), l;

    if (a == n || s[a] != ',' || unigdb_parse_hex(s, a, addr))
        return -EINVAL;
    l = hex_run(s + a + 1, n - a - 1);
    if (unigdb_parse_hex(s + a + 1, l, len))
        return -EINVAL;
    *used = a + 1 + l;
    return 0;
}

int unigdb_hex_decode(const char *hex, size_t hexlen, void *out)
{
    unsigned char *o = out;

    if (hexlen % 2)
        return -EINVAL;
    for (size_t i = 0; i < hexlen; i += 2) {
        int hi = usc_rsp_hexval(hex[i]), lo = usc_rsp_hexval(hex[i + 1]);

        if (hi < 0 || lo < 0)
            return -EINVAL;
        o[i / 2] = (unsigned char)(hi * 16 + lo);
    }
    return (int)(hexlen / 2);
}
