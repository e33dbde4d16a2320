/* Query packets: features, the target description, threads, attachment. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "stub.h"

/* ---- features ------------------------------------------------------------ */

/* Does gdb's qSupported list (arg) hold (feature), e.g. "binary-upload+"? */
static int offered(const char *arg, size_t len, const char *feature)
{
    size_t n = strlen(feature);

    for (size_t i = 0; i < len;) {
        const char *semi = memchr(arg + i, ';', len - i);
        size_t flen = semi ? (size_t)(semi - (arg + i)) : len - i;

        if (flen == n && memcmp(arg + i, feature, n) == 0)
            return 1;
        i += flen + 1;
    }
    return 0;
}

int h_supported(struct unigdb_session *s, const char *arg, size_t len)
{
    int err;

    if (len && arg[0] == ':') {
        arg++;
        len--;
    }
    s->binary_upload = offered(arg, len, "binary-upload+");
    s->reply.len = 0;
    err = unigdb_buf_printf(&s->reply,
                            "PacketSize=%x;QStartNoAckMode+;"
                            "qXfer:features:read+;qXfer:threads:read+;"
                            "swbreak+;hwbreak+;vContSupported+",
                            UNIGDB_PACKET_MAX);
    if (!err && s->binary_upload)
        err = unigdb_buf_puts(&s->reply, ";binary-upload+");
    return err ? reply_errno(s, -ENOMEM) : REPLY;
}

int h_noack(struct unigdb_session *s, const char *arg, size_t len)
{
    (void)arg;
    (void)len;
    /* this "OK" is the last packet gdb acknowledges; nothing is resent */
    reply_str(s, "OK");
    s->noack = 1;
    s->last.len = 0;
    return REPLY;
}

/* ---- qXfer --------------------------------------------------------------- */

/*
 * Answer "qXfer:OBJECT:read:ANNEX:OFFSET,LENGTH" (arg starts at ANNEX) for
 * which the document is (doc), (doclen) bytes, when ANNEX is (annex).
 */
static int xfer(struct unigdb_session *s, const char *arg, size_t len,
                const char *annex, const char *doc, size_t doclen)
{
    const char *colon = memchr(arg, ':', len);
    uint64_t off, n;
    size_t used;

    if (!colon)
        return reply_errno(s, -EINVAL);
    if (annex && ((size_t)(colon - arg) != strlen(annex) ||
                  memcmp(arg, annex, strlen(annex)) != 0))
        return reply_str(s, "E00"); /* no such annex */
    len -= (size_t)(colon - arg) + 1;
    if (unigdb_parse_addr_len(colon + 1, len, &off, &n, &used) || used != len)
        return reply_errno(s, -EINVAL);
    if (off > doclen)
        return reply_errno(s, -EINVAL);
    if (n > UNIGDB_PACKET_MAX - 1)
        n = UNIGDB_PACKET_MAX - 1;
    if (n > doclen - off)
        n = doclen - off;
    s->reply.len = 0;
    if (unigdb_buf_put(&s->reply, off + n < doclen ? "m" : "l", 1) ||
        unigdb_buf_put(&s->reply, doc + off, (size_t)n))
        return reply_errno(s, -ENOMEM);
    return REPLY;
}

int h_xfer_features(struct unigdb_session *s, const char *arg, size_t len)
{
    size_t doclen;
    const char *doc = unigdb_tdesc_xml(&doclen);

    if (!doclen)
        return reply_errno(s, -ENOMEM);
    return xfer(s, arg, len, "target.xml", doc, doclen);
}

/* The <threads> document, rebuilt when gdb starts reading it. */
static int threads_xml(struct unigdb_session *s)
{
    struct unigdb_buf name = {0}, extra = {0};
    struct unigdb_buf *x = &s->threads_xml;
    int err;

    x->len = 0;
    err = unigdb_buf_puts(x, "<?xml version=\"1.0\"?>\n<threads>\n");
    for (size_t i = 0; i < s->nthreads && !err; i++) {
        const struct unigdb_thread *th = &s->threads[i];

        name.len = extra.len = 0;
        err = thread_describe(s, th, &name, &extra);
        if (!err)
            err = unigdb_buf_printf(
                x,
                "<thread id=\"%" PRIx64 "\" core=\"%u\" name=\"%s\">%s"
                "</thread>\n",
                (uint64_t)th->tid, th->vcpu, name.len ? name.p : "",
                extra.len ? extra.p : "");
    }
    if (!err)
        err = unigdb_buf_puts(x, "</threads>\n");
    unigdb_buf_free(&name);
    unigdb_buf_free(&extra);
    return err;
}

int h_xfer_threads(struct unigdb_session *s, const char *arg, size_t len)
{
    const char *colon = memchr(arg, ':', len);

    /* ":0,LEN" starts a read: take a new snapshot */
    if (colon && (size_t)(colon - arg) + 2 < len && colon[1] == '0' &&
        colon[2] == ',' && threads_xml(s))
        return reply_errno(s, -ENOMEM);
    if (!s->threads_xml.len && threads_xml(s))
        return reply_errno(s, -ENOMEM);
    return xfer(s, arg, len, "", s->threads_xml.p, s->threads_xml.len);
}

/* ---- threads ------------------------------------------------------------- */

/* "-1", "0" or a hex id. */
static int parse_tid(const char *arg, size_t len, int64_t *tid)
{
    uint64_t v;

    if (len == 2 && arg[0] == '-' && arg[1] == '1') {
        *tid = -1;
        return 0;
    }
    if (unigdb_parse_hex(arg, len, &v) || v > INT64_MAX)
        return -EINVAL;
    *tid = (int64_t)v;
    return 0;
}

static int thread_list(struct unigdb_session *s)
{
    s->reply.len = 0;
    if (s->next_info >= s->nthreads)
        return reply_str(s, "l");
    if (unigdb_buf_put(&s->reply, "m", 1))
        return reply_errno(s, -ENOMEM);
    while (s->next_info < s->nthreads &&
           s->reply.len < UNIGDB_PACKET_MAX - 32) {
        if (unigdb_buf_printf(&s->reply, "%s%" PRIx64,
                              s->reply.len > 1 ? "," : "",
                              (uint64_t)s->threads[s->next_info].tid))
            return reply_errno(s, -ENOMEM);
        s->next_info++;
    }
    return REPLY;
}

int h_thread_info_first(struct unigdb_session *s, const char *arg, size_t len)
{
    (void)arg;
    (void)len;
    s->next_info = 0;
    return thread_list(s);
}

int h_thread_info_next(struct unigdb_session *s, const char *arg, size_t len)
{
    (void)arg;
    (void)len;
    return thread_list(s);
}

int h_thread_extra(struct unigdb_session *s, const char *arg, size_t len)
{
    struct unigdb_buf name = {0}, extra = {0};
    const struct unigdb_thread *th;
    int64_t tid;
    int err;

    if (parse_tid(arg, len, &tid))
        return reply_errno(s, -EINVAL);
    th = thread_find(s, tid);
    if (!th)
        return reply_errno(s, -ESRCH);
    err = thread_describe(s, th, &name, &extra);
    if (!err)
        err = unigdb_buf_puts(&name, " (");
    if (!err)
        err = unigdb_buf_put(&name, extra.p ? extra.p : "", extra.len);
    if (!err)
        err = unigdb_buf_puts(&name, ")");
    s->reply.len = 0;
    if (!err)
        err = unigdb_buf_hex(&s->reply, name.p, name.len);
    unigdb_buf_free(&name);
    unigdb_buf_free(&extra);
    return err ? reply_errno(s, err) : REPLY;
}

int h_current_thread(struct unigdb_session *s, const char *arg, size_t len)
{
    (void)arg;
    (void)len;
    s->reply.len = 0;
    if (unigdb_buf_printf(&s->reply, "QC%" PRIx64, (uint64_t)s->stop.tid))
        return reply_errno(s, -ENOMEM);
    return REPLY;
}

int h_attached(struct unigdb_session *s, const char *arg, size_t len)
{
    (void)arg;
    (void)len;
    /* the guest was there before us: quitting gdb detaches, never kills */
    return reply_str(s, "1");
}

int h_symbol(struct unigdb_session *s, const char *arg, size_t len)
{
    (void)arg;
    (void)len;
    return reply_str(s, "OK"); /* no symbols wanted */
}

int h_set_thread(struct unigdb_session *s, const char *arg, size_t len)
{
    int64_t tid;

    if (len < 2 || parse_tid(arg + 1, len - 1, &tid))
        return reply_errno(s, -EINVAL);
    if (tid > 0 && !thread_find(s, tid))
        return reply_errno(s, -ESRCH);
    /* Hc names the thread of old-style c/s: vCont names its own */
    if (arg[0] == 'g')
        s->g_tid = tid > 0 ? tid : 0;
    else if (arg[0] != 'c')
        return reply_errno(s, -EINVAL);
    return reply_str(s, "OK");
}

int h_thread_alive(struct unigdb_session *s, const char *arg, size_t len)
{
    int64_t tid;

    if (parse_tid(arg, len, &tid))
        return reply_errno(s, -EINVAL);
    return thread_find(s, tid) ? reply_str(s, "OK") : reply_errno(s, -ESRCH);
}
