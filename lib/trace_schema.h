/* Tracepoints as the host knows them: checked copies of the guest's table. */
#ifndef USC_TRACE_SCHEMA_H
#define USC_TRACE_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uniscope/abi.h>

/* A payload field of an event class; checked against the natural layout. */
struct usc_trace_field {
    char name[USC_TP_FIELD_NAME_MAX]; /* a C identifier */
    uint8_t type;                     /* enum usc_field_type */
    uint8_t size;                     /* bytes */
    uint16_t offset;                  /* from the start of the event record */
};

/*
 * One event class (a guest tracepoint). A class whose table entry was
 * corrupt is kept, not valid: events naming it cannot be decoded.
 */
struct usc_trace_class {
    uint32_t id;
    bool valid;
    bool has_strings;
    uint16_t kind;    /* enum usc_tp_kind; a BEGIN no END names stays BEGIN */
    uint16_t nfields; /* <= USC_TP_FIELDS_MAX */
    uint16_t size;    /* event record bytes: 16..USC_TRACE_EVENT_MAX, x8 */
    uint32_t pair;    /* END: id of its BEGIN; else USC_TP_NO_PAIR */
    uint64_t enabled_paddr;     /* the guest's flag, 0 when not known */
    char name[USC_TP_NAME_MAX]; /* [A-Za-z0-9_.:-]+ */
    struct usc_trace_field fields[USC_TP_FIELDS_MAX];
};

/* The event classes of one trace, indexed by id. */
struct usc_trace_schema {
    uint32_t count;
    struct usc_trace_class *classes; /* count entries, owned */
    /* Record size of each class, 0 for an invalid one: what decoding a
     * record needs, packed tight for the drain's inner loop. Owned. */
    uint16_t *sizes;
};

/*
 * Check guest table entry (raw), found at (index), and fill (out): id
 * equal to the index, a known kind, a valid name and field names, types
 * and sizes, offsets and event size exactly those of the natural layout
 * (docs/abi.md). (out) is filled as far as it goes and marked valid only
 * when all holds. Returns 0, or -EINVAL for a corrupt entry.
 */
int usc_trace_class_parse(const struct usc_tracepoint *raw, uint32_t index,
                          struct usc_trace_class *out);

/*
 * Build (s) from (count) guest entries (raw): each parsed as above (a
 * corrupt one kept, invalid), then every END's pair checked to name a
 * valid BEGIN (else the END becomes INSTANT). Returns 0, -EINVAL for more
 * than USC_TRACE_SCHEMA_MAX entries, or -ENOMEM. Free with
 * usc_trace_schema_free.
 */
#define USC_TRACE_SCHEMA_MAX 4096u
int usc_trace_schema_build(struct usc_trace_schema *s,
                           const struct usc_tracepoint *raw, uint32_t count);

/* Check (s)'s pairs again after its classes changed (END -> BEGIN). */
void usc_trace_schema_link(struct usc_trace_schema *s);

/* Replace (dst)'s contents with a copy of (src). Returns 0 or -ENOMEM
 * ((dst) then unchanged). */
int usc_trace_schema_copy(struct usc_trace_schema *dst,
                          const struct usc_trace_schema *src);

/* Release what (s) owns and empty it; an empty schema is a no-op. */
void usc_trace_schema_free(struct usc_trace_schema *s);

/* "u32", "s8", "ptr", "str16"...: a class field's type, for listings. */
void usc_trace_field_describe(const struct usc_trace_field *f, char *buf,
                              size_t cap);

/* "instant", "begin", "end". */
const char *usc_trace_kind_name(uint16_t kind);

/*
 * The name of the span a BEGIN class (c) opens: its name without a
 * trailing "_begin", "-begin", ".begin" or ":begin".
 */
void usc_trace_span_name(const struct usc_trace_class *c, char *buf,
                         size_t cap);

/* Is (s) a valid tracepoint name ([A-Za-z0-9_.:-]+, < USC_TP_NAME_MAX)? */
bool usc_trace_name_ok(const char *s);

/* Is (s) a C identifier shorter than USC_TP_FIELD_NAME_MAX? */
bool usc_trace_field_name_ok(const char *s);

#endif /* USC_TRACE_SCHEMA_H */
