/* A GDB remote-serial-protocol client: packet codec, stop replies, I/O. */
#ifndef USC_RSP_H
#define USC_RSP_H

#include <stddef.h>
#include <stdint.h>

/*
 * Everything a stub sends is untrusted: the parsers below bound every
 * length and return -EPROTO (malformed), -EBADMSG (bad checksum) or
 * -EMSGSIZE (too large), never read past what they were given.
 */

/* Largest decoded packet payload we accept or send, in bytes. */
#define USC_RSP_PACKET_MAX 16384
/* Largest framed packet on the wire ('$', escaped data, '#', checksum). */
#define USC_RSP_FRAME_MAX (2 * USC_RSP_PACKET_MAX + 4)

/* ---- pure codec --------------------------------------------------------- */

/* The value of hex digit (c), either case, or -1 if it is none. */
int usc_rsp_hexval(char c);

/* The modulo-256 sum of the (len) bytes at (data). */
uint8_t usc_rsp_checksum(const void *data, size_t len);

/*
 * Frame (len) bytes of (data) as "$data#cs" into (out) of (cap) bytes,
 * escaping '$', '#', '}' and '*' as '}' followed by the byte ^ 0x20. Adds no
 * terminating NUL. Returns the frame's length, or -EMSGSIZE if it does not
 * fit in (cap) or (len) exceeds USC_RSP_PACKET_MAX.
 */
int usc_rsp_frame(const void *data, size_t len, char *out, size_t cap);

/*
 * Find the first complete packet in the (len) received bytes at (buf).
 * Acknowledgements ('+', '-') and any other bytes before a '$' are skipped;
 * (*nacks) (may be NULL) is raised by the number of '-' skipped, so a caller
 * in ack mode can retransmit. On return (*consumed) is how many bytes of
 * (buf) the caller may drop. Decodes the payload (escapes and run-length
 * encoding) into (out) of (cap) bytes, stores its length in (*outlen) and
 * NUL-terminates it (so cap must exceed the payload).
 * Returns 1 when a packet was decoded; 0 when more bytes are needed;
 * -EBADMSG for a checksum mismatch (the packet is consumed); -EMSGSIZE for a
 * frame longer than USC_RSP_FRAME_MAX or a payload that exceeds (cap);
 * -EPROTO for a malformed escape, run length or checksum digit. After a
 * negative return other than -EBADMSG the stream cannot be trusted.
 */
int usc_rsp_unframe(const char *buf, size_t len, size_t *consumed,
                    size_t *nacks, char *out, size_t cap, size_t *outlen);

/*
 * Decode (hexlen) hex digits at (hex) into bytes at (out) of (cap) bytes.
 * Returns the byte count, or -EPROTO for an odd count or a non-hex digit,
 * -EMSGSIZE if the result exceeds (cap).
 */
int usc_rsp_hex_decode(const char *hex, size_t hexlen, void *out, size_t cap);

/* Encode (len) bytes at (data) as 2 * len lowercase hex digits plus a NUL
 * into (out), which holds at least 2 * len + 1 bytes. */
void usc_rsp_hex_encode(const void *data, size_t len, char *out);

/*
 * Parse (len) hex digits at (s) (1 to 16 of them, big-endian text as the
 * protocol writes numbers) into (*v). Returns 0 or -EPROTO.
 */
int usc_rsp_parse_hex_u64(const char *s, size_t len, uint64_t *v);

/*
 * Classify a reply that is not data: "OK" → 0; "" (the stub does not
 * support the request) → -ENOTSUP; "Exx" → minus the stub's two-digit error
 * number when it is a plausible errno (QEMU answers E14 for EFAULT, E22 for
 * EINVAL), else -EIO; "E.text" → -EIO. Anything else → 1 (a data reply).
 */
int usc_rsp_reply_status(const char *pkt, size_t len);

enum usc_rsp_stop_kind {
    USC_RSP_STOP_SIGNAL = 1, /* 'S' or 'T': stopped with (signal) */
    USC_RSP_STOP_EXITED,     /* 'W': exited with status (signal) */
    USC_RSP_STOP_KILLED,     /* 'X': terminated by (signal) */
};

/* A parsed stop reply. Watch types use Z-packet numbering (2 write, 3
 * read, 4 access), like enum usc_break_type. */
struct usc_rsp_stop {
    enum usc_rsp_stop_kind kind;
    int signal;     /* signal number or exit status, 0..255 */
    int has_thread; /* a "thread:" field was given */
    int64_t pid;    /* its process ("thread:pP.T"), -1 when not given */
    int64_t tid;    /* its thread, > 0; -1 means all, 0 any */
    int watch_type; /* 0, or 2/3/4 for watch:/rwatch:/awatch: */
    uint64_t watch_addr;
    int swbreak; /* "swbreak:" was given */
    int hwbreak; /* "hwbreak:" was given */
};

/*
 * Parse (len) bytes at (pkt) as a stop reply (S, T, W, X; W and X may carry
 * ";process:P") into (st). Unknown T fields are ignored, as the protocol
 * says. Returns 0, or -EPROTO when (pkt) is not a well-formed stop reply.
 */
int usc_rsp_parse_stop(const char *pkt, size_t len, struct usc_rsp_stop *st);

/*
 * Parse a thread id (len bytes at (s)): "T", "pP.T", "-1", "0". Stores the
 * process in (*pid) (-1 when absent) and the thread in (*tid). Returns 0
 * or -EPROTO.
 */
int usc_rsp_parse_thread_id(const char *s, size_t len, int64_t *pid,
                            int64_t *tid);

/* ---- target descriptions (qXfer:features:read) -------------------------- */

#define USC_RSP_REG_NAME_MAX 24
#define USC_RSP_HREF_MAX 64

enum usc_rsp_tdesc_kind {
    USC_RSP_TDESC_REG = 1, /* a <reg> element */
    USC_RSP_TDESC_INCLUDE, /* an <xi:include href=...> element */
};

/* One item of a target description, in document order. */
struct usc_rsp_tdesc_item {
    enum usc_rsp_tdesc_kind kind;
    char name[USC_RSP_REG_NAME_MAX]; /* REG: its name, NUL-terminated */
    int64_t regnum;                  /* REG: its "regnum" attribute, or -1 */
    uint32_t bitsize;                /* REG: 1 .. 4096 */
    char href[USC_RSP_HREF_MAX];     /* INCLUDE: the annex to fetch */
};

/*
 * Scan the XML target description (len bytes at (xml)) from (*pos) for the
 * next <reg> or <xi:include> element, skipping comments and every other
 * element, and advance (*pos) past it. Returns 1 with (item) filled, 0 at
 * the end of the document, -EPROTO for a malformed element (a missing or
 * out-of-range attribute, a name or href too long, an unterminated tag or
 * comment). This is a scanner for what stubs send, not a general XML parser.
 */
int usc_rsp_tdesc_next(const char *xml, size_t len, size_t *pos,
                       struct usc_rsp_tdesc_item *item);

/* ---- the client ------------------------------------------------------- */

/* A connection to one stub. */
struct usc_rsp;

/*
 * Connect to the stub listening on the unix socket (path) and negotiate:
 * qSupported (announcing multiprocess, swbreak, hwbreak, vContSupported)
 * and QStartNoAckMode (kept in ack mode when the stub refuses it), all
 * within (timeout_ms). A stop reply that the stub sends on its own during
 * this handshake (QEMU does when connecting stopped a running guest) is
 * recorded, see usc_rsp_stopped_on_connect, not queued. Stores a new
 * connection in (*out), freed with usc_rsp_close. Returns 0, -ENAMETOOLONG,
 * -ECONNREFUSED or -ENOENT (nobody listening), -ETIMEDOUT, -ECONNRESET,
 * -EPROTO for a peer that does not speak RSP, or another negative errno.
 */
int usc_rsp_connect(const char *path, int timeout_ms, struct usc_rsp **out);

/*
 * As usc_rsp_connect, over the connected stream socket (fd), which the
 * connection owns from then on (closed on failure too).
 */
int usc_rsp_connect_fd(int fd, int timeout_ms, struct usc_rsp **out);

/* Close (c)'s socket and free it, without a detach; NULL is a no-op. */
void usc_rsp_close(struct usc_rsp *c);

/* The socket of (c), for poll(): readable when a packet may be waiting. */
int usc_rsp_fd(const struct usc_rsp *c);

/* 1 if the stub announced a stop during (c)'s handshake, else 0. */
int usc_rsp_stopped_on_connect(const struct usc_rsp *c);

/* 1 if the stub accepted "multiprocess+" (thread ids are then "pP.T"). */
int usc_rsp_multiprocess(const struct usc_rsp *c);

/*
 * Send the (len) bytes at (data) as one packet within (timeout_ms)
 * (-1: no deadline). In ack mode, a '-' from the stub seen later makes the
 * next receive retransmit it. Returns 0 or a negative errno.
 */
int usc_rsp_send(struct usc_rsp *c, const char *data, size_t len,
                 int timeout_ms);

/*
 * Receive the next packet within (timeout_ms) (-1: no deadline; 0: only
 * what has arrived) into (buf) of (cap) bytes, NUL-terminated, its length
 * in (*len). Returns 0; -ETIMEDOUT; -EINTR when a signal interrupted the
 * wait; -ECONNRESET when the stub closed; or a codec error (above).
 */
int usc_rsp_recv(struct usc_rsp *c, char *buf, size_t cap, size_t *len,
                 int timeout_ms);

/*
 * Send the NUL-terminated (cmd) and receive its reply into (reply) of
 * (cap) bytes, as usc_rsp_recv. A stop reply that arrives first (the
 * stub's own notice of a stop) is kept for usc_rsp_wait_stop, not taken as
 * the reply; so (cmd) must be one whose reply is not a stop reply. Returns
 * 0 or a negative errno; the reply's meaning is the caller's
 * (usc_rsp_reply_status).
 */
int usc_rsp_request(struct usc_rsp *c, const char *cmd, char *reply, size_t cap,
                    size_t *len, int timeout_ms);

/*
 * usc_rsp_request for commands answered "OK": returns 0, or the error of
 * usc_rsp_reply_status, or -EPROTO for any other reply.
 */
int usc_rsp_request_ok(struct usc_rsp *c, const char *cmd, int timeout_ms);

/*
 * Wait within (timeout_ms) (-1: no deadline) for a stop reply, taking a
 * kept one first, and parse it into (st). An error reply in its place
 * ("E22": the resume it answers was refused) returns that error; any other
 * reply returns -EPROTO. Also -ETIMEDOUT, -EINTR, -ECONNRESET.
 */
int usc_rsp_wait_stop(struct usc_rsp *c, struct usc_rsp_stop *st,
                      int timeout_ms);

/* 1 if a stop reply is kept (usc_rsp_wait_stop would not block), else 0. */
int usc_rsp_stop_pending(const struct usc_rsp *c);

/* Send the interrupt byte (0x03) within (timeout_ms). Returns 0 or a
 * negative errno; the stop reply comes through usc_rsp_wait_stop. */
int usc_rsp_interrupt(struct usc_rsp *c, int timeout_ms);

#endif /* USC_RSP_H */
