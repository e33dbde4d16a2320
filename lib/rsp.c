/* The GDB remote protocol's byte level: framing, hex, stop replies. */
#include "rsp.h"

#include <errno.h>
#include <string.h>

uint8_t usc_rsp_checksum(const void *data, size_t len)
{
    const unsigned char *p = data;
    unsigned sum = 0;

    for (size_t i = 0; i < len; i++)
        sum += p[i];
    return (uint8_t)sum;
}

int usc_rsp_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static const char hexdigits[] = "0123456789abcdef";

int usc_rsp_frame(const void *data, size_t len, char *out, size_t cap)
{
    const unsigned char *p = data;
    size_t o = 0;
    uint8_t sum = 0;

    if (len > USC_RSP_PACKET_MAX || cap < 4)
        return -EMSGSIZE;
    out[o++] = '$';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        int esc = c == '$' || c == '#' || c == '}' || c == '*';

        /* room for this byte (two when escaped) plus '#' and checksum */
        if (cap - o < (size_t)(esc ? 2 : 1) + 3)
            return -EMSGSIZE;
        if (esc) {
            out[o++] = '}';
            sum += '}';
            c ^= 0x20;
        }
        out[o++] = (char)c;
        sum += c;
    }
    out[o++] = '#';
    out[o++] = hexdigits[sum >> 4];
    out[o++] = hexdigits[sum & 15];
    return (int)o;
}

/* Undo escapes and run-length encoding of the (n) payload bytes at (p). */
static int decode_payload(const char *p, size_t n, char *out, size_t cap,
                          size_t *outlen)
{
    size_t o = 0;

    if (cap == 0)
        return -EMSGSIZE;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];

        if (c == '*') {
            int count;

            if (o == 0 || ++i == n)
                return -EPROTO;
            /* the count is sent as a printable character, count + 29 */
            if ((unsigned char)p[i] < ' ' || (unsigned char)p[i] > '~')
                return -EPROTO;
            count = (unsigned char)p[i] - 29;
            if ((size_t)count >= cap - o)
                return -EMSGSIZE;
            memset(out + o, out[o - 1], (size_t)count);
            o += (size_t)count;
            continue;
        }
        if (c == '}') {
            if (++i == n)
                return -EPROTO;
            c = (char)(p[i] ^ 0x20);
        }
        if (o + 1 >= cap)
            return -EMSGSIZE;
        out[o++] = c;
    }
    out[o] = '\0';
    *outlen = o;
    return 0;
}

int usc_rsp_unframe(const char *buf, size_t len, size_t *consumed,
                    size_t *nacks, char *out, size_t cap, size_t *outlen)
{
    size_t start = 0, hash;
    int hi, lo, err;

    while (start < len && buf[start] != '$') {
        if (buf[start] == '-' && nacks)
            (*nacks)++;
        start++;
    }
    *consumed = start;
    if (start == len)
        return 0;
    /* A '$' inside a packet cannot be data (it is escaped): the stub
     * restarted, so the bytes before it are dropped. */
    for (hash = start + 1; hash < len && buf[hash] != '#'; hash++) {
        if (buf[hash] == '$')
            start = hash;
        if (hash - start > USC_RSP_FRAME_MAX)
            return -EMSGSIZE;
    }
    *consumed = start;
    if (hash >= len || len - hash < 3)
        return 0;
    *consumed = hash + 3;
    hi = usc_rsp_hexval(buf[hash + 1]);
    lo = usc_rsp_hexval(buf[hash + 2]);
    if (hi < 0 || lo < 0)
        return -EPROTO;
    if (usc_rsp_checksum(buf + start + 1, hash - start - 1) != hi * 16 + lo)
        return -EBADMSG;
    err = decode_payload(buf + start + 1, hash - start - 1, out, cap, outlen);
    return err < 0 ? err : 1;
}

int usc_rsp_hex_decode(const char *hex, size_t hexlen, void *out, size_t cap)
{
    unsigned char *o = out;

    if (hexlen % 2)
        return -EPROTO;
    if (hexlen / 2 > cap)
        return -EMSGSIZE;
    for (size_t i = 0; i < hexlen; i += 2) {
        int hi = usc_rsp_hexval(hex[i]), lo = usc_rsp_hexval(hex[i + 1]);

        if (hi < 0 || lo < 0)
            return -EPROTO;
        o[i / 2] = (unsigned char)(hi * 16 + lo);
    }
    return (int)(hexlen / 2);
}

void usc_rsp_hex_encode(const void *data, size_t len, char *out)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hexdigits[p[i] >> 4];
        out[2 * i + 1] = hexdigits[p[i] & 15];
    }
    out[2 * len] = '\0';
}

int usc_rsp_parse_hex_u64(const char *s, size_t len, uint64_t *v)
{
    uint64_t x = 0;

    if (len == 0 || len > 16)
        return -EPROTO;
    for (size_t i = 0; i < len; i++) {
        int d = usc_rsp_hexval(s[i]);

        if (d < 0)
            return -EPROTO;
        x = x << 4 | (uint64_t)d;
    }
    *v = x;
    return 0;
}

int usc_rsp_reply_status(const char *pkt, size_t len)
{
    if (len == 0)
        return -ENOTSUP;
    if (len == 2 && pkt[0] == 'O' && pkt[1] == 'K')
        return 0;
    if (pkt[0] != 'E' || len < 2)
        return 1;
    if (pkt[1] == '.')
        return -EIO;
    if (len == 3 && usc_rsp_hexval(pkt[1]) >= 0 &&
        usc_rsp_hexval(pkt[2]) >= 0) {
        int n = usc_rsp_hexval(pkt[1]) * 16 + usc_rsp_hexval(pkt[2]);

        /* QEMU writes host errnos in decimal (E14 EFAULT, E22 EINVAL),
         * other stubs in hex: digits-only numbers are taken as decimal. */
        if (pkt[1] <= '9' && pkt[2] <= '9')
            n = (pkt[1] - '0') * 10 + (pkt[2] - '0');
        return n >= 1 && n <= 133 ? -n : -EIO;
    }
    return 1;
}

/* One id: "-1" or 1..16 hex digits up to INT64_MAX. */
static int parse_id(const char *s, size_t len, int64_t *v)
{
    uint64_t x;

    if (len == 2 && s[0] == '-' && s[1] == '1') {
        *v = -1;
        return 0;
    }
    if (usc_rsp_parse_hex_u64(s, len, &x) < 0 || x > INT64_MAX)
        return -EPROTO;
    *v = (int64_t)x;
    return 0;
}

int usc_rsp_parse_thread_id(const char *s, size_t len, int64_t *pid,
                            int64_t *tid)
{
    const char *dot;

    if (len == 0)
        return -EPROTO;
    if (s[0] != 'p') {
        *pid = -1;
        return parse_id(s, len, tid);
    }
    dot = memchr(s, '.', len);
    if (!dot) {
        *tid = -1;
        return parse_id(s + 1, len - 1, pid);
    }
    if (parse_id(s + 1, (size_t)(dot - s) - 1, pid) < 0)
        return -EPROTO;
    return parse_id(dot + 1, len - (size_t)(dot - s) - 1, tid);
}

static int field_is(const char *f, size_t flen, const char *name)
{
    size_t n = strlen(name);

    return flen == n && memcmp(f, name, n) == 0;
}

/* One "name:value" field of a T reply into (st). */
static int parse_stop_field(const char *f, size_t flen, struct usc_rsp_stop *st)
{
    const char *colon = memchr(f, ':', flen);
    const char *val;
    size_t nlen, vlen;
    static const char *const watch[] = {"watch", "rwatch", "awatch"};

    if (!colon || colon == f)
        return -EPROTO;
    nlen = (size_t)(colon - f);
    val = colon + 1;
    vlen = flen - nlen - 1;
    if (field_is(f, nlen, "thread")) {
        st->has_thread = 1;
        return usc_rsp_parse_thread_id(val, vlen, &st->pid, &st->tid);
    }
    for (int i = 0; i < 3; i++) {
        if (field_is(f, nlen, watch[i])) {
            st->watch_type = 2 + i;
            return usc_rsp_parse_hex_u64(val, vlen, &st->watch_addr);
        }
    }
    if (field_is(f, nlen, "swbreak"))
        st->swbreak = 1;
    else if (field_is(f, nlen, "hwbreak"))
        st->hwbreak = 1;
    /* register values, "core:", "library:" and the like are not ours */
    return 0;
}

static int parse_signal(const char *pkt, size_t len, int *sig)
{
    uint64_t v;

    if (len < 3 || usc_rsp_parse_hex_u64(pkt + 1, 2, &v) < 0)
        return -EPROTO;
    *sig = (int)v;
    return 0;
}

int usc_rsp_parse_stop(const char *pkt, size_t len, struct usc_rsp_stop *st)
{
    size_t i;

    memset(st, 0, sizeof(*st));
    st->pid = -1;
    st->tid = -1;
    if (len == 0 || parse_signal(pkt, len, &st->signal) < 0)
        return -EPROTO;
    switch (pkt[0]) {
    case 'S':
        st->kind = USC_RSP_STOP_SIGNAL;
        return len == 3 ? 0 : -EPROTO;
    case 'W':
    case 'X':
        st->kind = pkt[0] == 'W' ? USC_RSP_STOP_EXITED : USC_RSP_STOP_KILLED;
        if (len == 3)
            return 0;
        if (len > 11 && memcmp(pkt + 3, ";process:", 9) == 0)
            return parse_id(pkt + 12, len - 12, &st->pid);
        return -EPROTO;
    case 'T':
        st->kind = USC_RSP_STOP_SIGNAL;
        break;
    default:
        return -EPROTO;
    }
    for (i = 3; i < len;) {
        const char *semi = memchr(pkt + i, ';', len - i);
        size_t flen = semi ? (size_t)(semi - (pkt + i)) : len - i;

        if (flen && parse_stop_field(pkt + i, flen, st) < 0)
            return -EPROTO;
        i += flen + 1;
    }
    return 0;
}

/* ---- target descriptions ------------------------------------------------ */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Index of the first occurrence of (needle) in xml[from, len), or len. */
static size_t find(const char *xml, size_t len, size_t from, const char *needle)
{
    size_t n = strlen(needle);

    for (size_t i = from; i + n <= len; i++)
        if (memcmp(xml + i, needle, n) == 0)
            return i;
    return len;
}

/* A decimal number of at most 9 digits, up to (max). */
static int parse_dec(const char *s, size_t len, uint32_t max, uint32_t *v)
{
    uint32_t x = 0;

    if (len == 0 || len > 9)
        return -EPROTO;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EPROTO;
        x = x * 10 + (uint32_t)(s[i] - '0');
    }
    if (x > max)
        return -EPROTO;
    *v = x;
    return 0;
}

static int copy_str(char *dst, size_t cap, const char *s, size_t len)
{
    if (len == 0 || len >= cap || memchr(s, '\0', len))
        return -EPROTO;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

/* Store attribute (name) = (val) of element (item) when it is one we use. */
static int tdesc_attr(struct usc_rsp_tdesc_item *item, const char *name,
                      size_t nlen, const char *val, size_t vlen)
{
    uint32_t v;

    if (item->kind == USC_RSP_TDESC_INCLUDE)
        return field_is(name, nlen, "href")
                   ? copy_str(item->href, sizeof(item->href), val, vlen)
                   : 0;
    if (field_is(name, nlen, "name"))
        return copy_str(item->name, sizeof(item->name), val, vlen);
    if (field_is(name, nlen, "bitsize")) {
        if (parse_dec(val, vlen, 4096, &v) < 0 || v == 0)
            return -EPROTO;
        item->bitsize = v;
    } else if (field_is(name, nlen, "regnum")) {
        if (parse_dec(val, vlen, 65535, &v) < 0)
            return -EPROTO;
        item->regnum = v;
    }
    return 0;
}

/* Parse the attributes in xml[i, end) of an element into (item). */
static int tdesc_attrs(const char *xml, size_t i, size_t end,
                       struct usc_rsp_tdesc_item *item)
{
    for (;;) {
        size_t name, nlen, val;
        char quote;

        while (i < end && (is_space(xml[i]) || xml[i] == '/'))
            i++;
        if (i == end)
            return 0;
        name = i;
        while (i < end && xml[i] != '=' && !is_space(xml[i]))
            i++;
        nlen = i - name;
        while (i < end && is_space(xml[i]))
            i++;
        if (nlen == 0 || i == end || xml[i] != '=')
            return -EPROTO;
        i++;
        while (i < end && is_space(xml[i]))
            i++;
        if (i == end || (xml[i] != '"' && xml[i] != '\''))
            return -EPROTO;
        quote = xml[i++];
        val = i;
        while (i < end && xml[i] != quote)
            i++;
        if (i == end)
            return -EPROTO;
        if (tdesc_attr(item, xml + name, nlen, xml + val, i - val) < 0)
            return -EPROTO;
        i++;
    }
}

/* The end of the tag opened at (i): the '>' not inside a quoted value. */
static size_t tag_end(const char *xml, size_t len, size_t i)
{
    char quote = 0;

    for (; i < len; i++) {
        if (quote) {
            if (xml[i] == quote)
                quote = 0;
        } else if (xml[i] == '"' || xml[i] == '\'') {
            quote = xml[i];
        } else if (xml[i] == '>') {
            return i;
        }
    }
    return len;
}

int usc_rsp_tdesc_next(const char *xml, size_t len, size_t *pos,
                       struct usc_rsp_tdesc_item *item)
{
    size_t i = *pos;

    while (i < len) {
        size_t lt = i, end, name, nlen;

        while (lt < len && xml[lt] != '<')
            lt++;
        if (lt == len)
            break;
        if (len - lt >= 4 && memcmp(xml + lt, "<!--", 4) == 0) {
            end = find(xml, len, lt + 4, "-->");
            if (end == len)
                return -EPROTO;
            i = end + 3;
            continue;
        }
        end = tag_end(xml, len, lt + 1);
        if (end == len)
            return -EPROTO;
        i = end + 1;
        name = lt + 1;
        for (nlen = 0; name + nlen < end && !is_space(xml[name + nlen]) &&
                       xml[name + nlen] != '/';
             nlen++)
            ;
        memset(item, 0, sizeof(*item));
        item->regnum = -1;
        if (field_is(xml + name, nlen, "reg"))
            item->kind = USC_RSP_TDESC_REG;
        else if (field_is(xml + name, nlen, "xi:include"))
            item->kind = USC_RSP_TDESC_INCLUDE;
        else
            continue;
        if (tdesc_attrs(xml, name + nlen, end, item) < 0)
            return -EPROTO;
        if (item->kind == USC_RSP_TDESC_REG &&
            (item->name[0] == '\0' || item->bitsize == 0))
            return -EPROTO;
        if (item->kind == USC_RSP_TDESC_INCLUDE && item->href[0] == '\0')
            return -EPROTO;
        *pos = i;
        return 1;
    }
    *pos = len;
    return 0;
}
