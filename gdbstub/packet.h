/* unigdb's byte level of the GDB remote protocol: what gdb sends, framed. */
#ifndef UNIGDB_PACKET_H
#define UNIGDB_PACKET_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The largest packet payload we accept and send (the PacketSize we
 * announce): gdb then reads memory PACKET_MAX / 2 bytes per 'm'.
 */
#define UNIGDB_PACKET_MAX (1024 * 1024)

/* A growing byte buffer. */
struct unigdb_buf {
    char *p;
    size_t len, cap;
};

/* Make room for (more) bytes past the end of (b). Returns 0 or -ENOMEM. */
int unigdb_buf_reserve(struct unigdb_buf *b, size_t more);
/* Append (n) bytes at (data) to (b). Returns 0 or -ENOMEM. */
int unigdb_buf_put(struct unigdb_buf *b, const void *data, size_t n);
/* Append the NUL-terminated (s). */
int unigdb_buf_puts(struct unigdb_buf *b, const char *s);
/* Append printf-formatted text. Returns 0 or -ENOMEM. */
int unigdb_buf_printf(struct unigdb_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append (n) bytes of (data) as 2 * n lowercase hex digits. */
int unigdb_buf_hex(struct unigdb_buf *b, const void *data, size_t n);
/* Drop the first (n) bytes of (b) (all when n >= len). */
void unigdb_buf_consume(struct unigdb_buf *b, size_t n);
/* Free (b)'s storage and empty it. */
void unigdb_buf_free(struct unigdb_buf *b);

/*
 * Append (len) payload bytes of (data) framed as "$payload#cs" to (out),
 * escaping '$', '#', '}' and '*' ('}' then the byte ^ 0x20) so that
 * binary payloads pass, and run-length encoding runs of four or more
 * bytes (gdb's reading is what limits large transfers). Returns 0 or
 * -ENOMEM.
 */
int unigdb_frame(struct unigdb_buf *out, const void *data, size_t len);

/*
 * Append the (len) bytes at (data) framed as one packet of their hex
 * digits (a reply to 'm'), run-length encoded, without building the hex
 * first. Returns 0 or -ENOMEM.
 */
int unigdb_frame_hex(struct unigdb_buf *out, const void *data, size_t len);

/* What the reader found in gdb's byte stream. */
enum unigdb_input {
    UNIGDB_IN_NONE = 0,  /* every byte given was consumed: need more */
    UNIGDB_IN_PACKET,    /* a packet: reader.pkt, reader.pktlen */
    UNIGDB_IN_INTERRUPT, /* the 0x03 byte, outside a packet */
    UNIGDB_IN_ACK,       /* '+' */
    UNIGDB_IN_NACK,      /* '-': resend the last packet */
    UNIGDB_IN_BAD,       /* a checksum mismatch or malformed escape or run
                            length: the packet is dropped (answer '-') */
    UNIGDB_IN_TOO_LONG,  /* a payload over the reader's limit: dropped */
};

/* An incremental parser of gdb's byte stream; any split of it works. */
struct unigdb_reader {
    int state;
    size_t max; /* the largest decoded payload accepted */
    char *raw;  /* the payload as framed, up to 2 * max + 2 bytes */
    size_t rawlen;
    uint8_t sum; /* checksum of raw so far */
    int cs_hi;   /* first checksum digit, once read */
    int overflow;
    char *pkt; /* the decoded payload, NUL-terminated, max + 1 bytes */
    size_t pktlen;
};

/* Set up (r) for payloads of at most (max) bytes. Returns 0 or -ENOMEM. */
int unigdb_reader_init(struct unigdb_reader *r, size_t max);
/* Free (r)'s buffers. */
void unigdb_reader_free(struct unigdb_reader *r);

/*
 * Consume bytes of the (n) at (p) until one thing is found, storing how
 * many were consumed in (*used), and return it (see enum unigdb_input).
 * Bytes outside packets other than '+', '-' and 0x03 are skipped. The
 * decoded packet of UNIGDB_IN_PACKET is valid until the next call.
 */
enum unigdb_input unigdb_reader_feed(struct unigdb_reader *r, const char *p,
                                     size_t n, size_t *used);

/*
 * Parse (len) hex digits at (s) (1..16) into (*v). Returns 0 or -EINVAL.
 */
int unigdb_parse_hex(const char *s, size_t len, uint64_t *v);

/*
 * Parse "ADDR,LEN" at the start of (s) (n bytes): stores the numbers and
 * how many bytes were used in (*used). Returns 0 or -EINVAL.
 */
int unigdb_parse_addr_len(const char *s, size_t n, uint64_t *addr,
                          uint64_t *len, size_t *used);

/* Decode (hexlen) hex digits at (hex) into (out); returns bytes or -EINVAL.
 * (out) must hold hexlen / 2 bytes. */
int unigdb_hex_decode(const char *hex, size_t hexlen, void *out);

#endif /* UNIGDB_PACKET_H */
