/* Checking the guest's tracepoint table into event classes. */
#include "trace_schema.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool usc_trace_name_ok(const char *s)
{
    size_t n = strnlen(s, USC_TP_NAME_MAX);

    if (n == 0 || n >= USC_TP_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(is_alpha(s[i]) || is_digit(s[i]) || s[i] == '.' || s[i] == ':' ||
              s[i] == '-'))
            return false;
    return true;
}

bool usc_trace_field_name_ok(const char *s)
{
    size_t n = strnlen(s, USC_TP_FIELD_NAME_MAX);

    if (n == 0 || n >= USC_TP_FIELD_NAME_MAX || !is_alpha(s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(is_alpha(s[i]) || is_digit(s[i])))
            return false;
    return true;
}

static bool size_ok(uint8_t type, uint8_t size)
{
    switch (type) {
    case USC_FIELD_UNSIGNED:
    case USC_FIELD_SIGNED:
        return size == 1 || size == 2 || size == 4 || size == 8;
    case USC_FIELD_POINTER:
        return size == 8;
    case USC_FIELD_STRING:
        return size >= 2 && size <= USC_TP_STRING_MAX;
    default:
        return false;
    }
}

int usc_trace_class_parse(const struct usc_tracepoint *raw, uint32_t index,
                          struct usc_trace_class *out)
{
    uint32_t off = sizeof(struct usc_trace_event_header);

    memset(out, 0, sizeof(*out));
    out->id = index;
    out->pair = USC_TP_NO_PAIR;
    /* A name even for a corrupt entry: a listing can say which one. */
    if (memchr(raw->name, '\0', sizeof(raw->name)) &&
        usc_trace_name_ok(raw->name))
        memcpy(out->name, raw->name, sizeof(out->name));
    else
        snprintf(out->name, sizeof(out->name), "invalid_%u", index);
    if (raw->id != index || raw->kind > USC_TP_END ||
        raw->nfields > USC_TP_FIELDS_MAX || !out->name[0] ||
        strncmp(out->name, raw->name, sizeof(out->name)) != 0)
        return -EINVAL;
    out->kind = raw->kind;
    out->nfields = raw->nfields;
    out->pair = raw->kind == USC_TP_END ? raw->pair : USC_TP_NO_PAIR;
    out->enabled_paddr = raw->enabled_at.paddr;
    for (uint32_t i = 0; i < raw->nfields; i++) {
        const struct usc_tp_field *f = &raw->fields[i];
        struct usc_trace_field *o = &out->fields[i];

        if (!memchr(f->name, '\0', sizeof(f->name)) ||
            !usc_trace_field_name_ok(f->name) || !size_ok(f->type, f->size))
            return -EINVAL;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(out->fields[j].name, f->name) == 0)
                return -EINVAL;
        uint32_t align = f->type == USC_FIELD_STRING ? 1 : f->size;
        off = (off + align - 1) & ~(align - 1);
        if (f->offset != off)
            return -EINVAL;
        memcpy(o->name, f->name, sizeof(o->name));
        o->type = f->type;
        o->size = f->size;
        o->offset = f->offset;
        off += f->size;
        if (f->type == USC_FIELD_STRING)
            out->has_strings = true;
    }
    off = (off + 7) & ~7u;
    if (raw->event_size != off || off > USC_TRACE_EVENT_MAX)
        return -EINVAL;
    out->size = raw->event_size;
    out->valid = true;
    return 0;
}

void usc_trace_schema_link(struct usc_trace_schema *s)
{
    for (uint32_t i = 0; i < s->count; i++) {
        struct usc_trace_class *c = &s->classes[i];

        if (c->kind != USC_TP_END)
            continue;
        if (c->pair >= s->count || !s->classes[c->pair].valid ||
            s->classes[c->pair].kind != USC_TP_BEGIN) {
            c->kind = USC_TP_INSTANT;
            c->pair = USC_TP_NO_PAIR;
        }
    }
}

int usc_trace_schema_build(struct usc_trace_schema *s,
                           const struct usc_tracepoint *raw, uint32_t count)
{
    s->count = 0;
    s->classes = NULL;
    s->sizes = NULL;
    if (count > USC_TRACE_SCHEMA_MAX)
        return -EINVAL;
    if (count == 0)
        return 0;
    s->classes = calloc(count, sizeof(*s->classes));
    s->sizes = calloc(count, sizeof(*s->sizes));
    if (!s->classes || !s->sizes) {
        usc_trace_schema_free(s);
        return -ENOMEM;
    }
    s->count = count;
    for (uint32_t i = 0; i < count; i++) {
        usc_trace_class_parse(&raw[i], i, &s->classes[i]);
        s->sizes[i] = s->classes[i].valid ? s->classes[i].size : 0;
    }
    usc_trace_schema_link(s);
    return 0;
}

int usc_trace_schema_copy(struct usc_trace_schema *dst,
                          const struct usc_trace_schema *src)
{
    struct usc_trace_schema c = {0};

    if (src->count) {
        c.classes = malloc(src->count * sizeof(*c.classes));
        c.sizes = malloc(src->count * sizeof(*c.sizes));
        if (!c.classes || !c.sizes) {
            usc_trace_schema_free(&c);
            return -ENOMEM;
        }
        memcpy(c.classes, src->classes, src->count * sizeof(*c.classes));
        memcpy(c.sizes, src->sizes, src->count * sizeof(*c.sizes));
        c.count = src->count;
    }
    usc_trace_schema_free(dst);
    *dst = c;
    return 0;
}

void usc_trace_schema_free(struct usc_trace_schema *s)
{
    free(s->classes);
    free(s->sizes);
    s->classes = NULL;
    s->sizes = NULL;
    s->count = 0;
}

void usc_trace_field_describe(const struct usc_trace_field *f, char *buf,
                              size_t cap)
{
    switch (f->type) {
    case USC_FIELD_UNSIGNED:
        snprintf(buf, cap, "u%u", f->size * 8u);
        break;
    case USC_FIELD_SIGNED:
        snprintf(buf, cap, "s%u", f->size * 8u);
        break;
    case USC_FIELD_POINTER:
        snprintf(buf, cap, "ptr");
        break;
    default:
        snprintf(buf, cap, "str%u", f->size);
        break;
    }
}

const char *usc_trace_kind_name(uint16_t kind)
{
    switch (kind) {
    case USC_TP_BEGIN:
        return "begin";
    case USC_TP_END:
        return "end";
    default:
        return "instant";
    }
}

void usc_trace_span_name(const struct usc_trace_class *c, char *buf, size_t cap)
{
    size_t n = strnlen(c->name, sizeof(c->name));

    if (n > 6 && strcmp(c->name + n - 5, "begin") == 0 &&
        strchr("_-.:", c->name[n - 6]))
        n -= 6;
    snprintf(buf, cap, "%.*s", (int)n, c->name);
}
