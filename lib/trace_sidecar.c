/* The JSON description of a trace directory: written, and parsed back. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace_files.h"

#define SIDECAR_VERSION 1
#define MAX_THREADS 65536

static int uuid_parse(const char *s, uint8_t out[16])
{
    int k = 0;

    for (size_t i = 0; s[i] && k < 32; i++) {
        char c = s[i];
        int v;
        if (c == '-')
            continue;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else
            return -EINVAL;
        out[k / 2] = (uint8_t)(k % 2 ? out[k / 2] | v : v << 4);
        k++;
    }
    return k == 32 ? 0 : -EINVAL;
}

static json_t *class_json(const struct usc_trace_class *c)
{
    json_t *fields = json_array();

    for (uint32_t i = 0; i < c->nfields && fields; i++)
        json_array_append_new(fields, json_pack("{s:s, s:i, s:i, s:i}", "name",
                                                c->fields[i].name, "type",
                                                c->fields[i].type, "size",
                                                c->fields[i].size, "offset",
                                                c->fields[i].offset));
    return json_pack("{s:i, s:s, s:i, s:i, s:i, s:b, s:o}", "id", (int)c->id,
                     "name", c->name, "kind", c->kind, "pair",
                     c->pair == USC_TP_NO_PAIR ? -1 : (json_int_t)c->pair,
                     "size", c->size, "valid", c->valid, "fields", fields);
}

int usc_trace_sidecar_format(const struct usc_ctf_info *info,
                             const struct usc_trace_schema *s,
                             const struct usc_ctf_thread *threads, size_t n,
                             char **text)
{
    char uuid[40];
    json_t *root, *classes = json_array(), *th = json_array();

    *text = NULL;
    const uint8_t *u = info->uuid;
    snprintf(uuid, sizeof(uuid),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10],
             u[11], u[12], u[13], u[14], u[15]);
    for (uint32_t i = 0; i < s->count && classes; i++)
        json_array_append_new(classes, class_json(&s->classes[i]));
    for (size_t i = 0; i < n && th; i++)
        json_array_append_new(th, json_pack("{s:i, s:s}", "id",
                                            (json_int_t)threads[i].id, "name",
                                            threads[i].name));
    root = json_pack(
        "{s:s, s:i, s:s, s:s, s:I, s:b, s:I, s:I, s:i, s:s, s:s, s:o, s:o}",
        "format", "unitrace", "version", SIDECAR_VERSION, "uuid", uuid, "guest",
        info->guest, "ts_hz", (json_int_t)info->ts_hz, "offset_known",
        info->offset_known, "offset_s", (json_int_t)info->offset_s, "offset_ns",
        (json_int_t)info->offset_ns, "vcpus", (int)info->nvcpus, "source",
        info->source, "mode", info->mode, "tracepoints", classes, "threads",
        th);
    if (!root)
        return -ENOMEM;
    *text = json_dumps(root, JSON_INDENT(1));
    json_decref(root);
    return *text ? 0 : -ENOMEM;
}

/* Copy the string member (key) of (o) into (dst, cap); "" when absent. */
static int get_str(json_t *o, const char *key, char *dst, size_t cap)
{
    const char *v = json_string_value(json_object_get(o, key));

    dst[0] = '\0';
    if (!v)
        return -EINVAL;
    if (strlen(v) >= cap)
        return -EINVAL;
    strcpy(dst, v);
    return 0;
}

/* The integer member (key) of (o) in [lo, hi] into (*v). */
static int get_int(json_t *o, const char *key, json_int_t lo, json_int_t hi,
                   json_int_t *v)
{
    json_t *j = json_object_get(o, key);

    if (!json_is_integer(j))
        return -EINVAL;
    *v = json_integer_value(j);
    return *v < lo || *v > hi ? -EINVAL : 0;
}

/* Back to the guest's table entry form, so the one check applies. */
static int class_raw(json_t *o, struct usc_tracepoint *raw)
{
    json_int_t v;
    json_t *fields = json_object_get(o, "fields");
    size_t nf = json_array_size(fields);

    memset(raw, 0, sizeof(*raw));
    if (!json_is_object(o) || !json_is_array(fields) || nf > USC_TP_FIELDS_MAX)
        return -EINVAL;
    if (get_int(o, "id", 0, UINT32_MAX, &v))
        return -EINVAL;
    raw->id = (uint32_t)v;
    if (get_int(o, "kind", 0, USC_TP_END, &v))
        return -EINVAL;
    raw->kind = (uint16_t)v;
    if (get_int(o, "pair", -1, UINT32_MAX - 1, &v))
        return -EINVAL;
    raw->pair = v < 0 ? USC_TP_NO_PAIR : (uint32_t)v;
    if (get_int(o, "size", 0, UINT16_MAX, &v))
        return -EINVAL;
    raw->event_size = (uint16_t)v;
    raw->nfields = (uint16_t)nf;
    if (get_str(o, "name", raw->name, sizeof(raw->name)))
        return -EINVAL;
    for (size_t i = 0; i < nf; i++) {
        json_t *f = json_array_get(fields, i);
        struct usc_tp_field *rf = &raw->fields[i];
        if (get_str(f, "name", rf->name, sizeof(rf->name)) ||
            get_int(f, "type", 0, UINT8_MAX, &v))
            return -EINVAL;
        rf->type = (uint8_t)v;
        if (get_int(f, "size", 0, UINT8_MAX, &v))
            return -EINVAL;
        rf->size = (uint8_t)v;
        if (get_int(f, "offset", 0, UINT16_MAX, &v))
            return -EINVAL;
        rf->offset = (uint16_t)v;
    }
    return 0;
}

static int parse_classes(json_t *arr, struct usc_trace_schema *s)
{
    size_t n = json_array_size(arr);
    struct usc_tracepoint *raw;
    int err = 0;

    if (!json_is_array(arr) || n > USC_TRACE_SCHEMA_MAX)
        return -EINVAL;
    raw = calloc(n ? n : 1, sizeof(*raw));
    if (!raw)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        /* A malformed entry stays invalid, as a corrupt guest entry. */
        if (class_raw(json_array_get(arr, i), &raw[i]))
            memset(&raw[i], 0xff, sizeof(raw[i]));
    }
    err = usc_trace_schema_build(s, raw, (uint32_t)n);
    free(raw);
    return err;
}

static int parse_threads(json_t *arr, struct usc_ctf_thread **threads,
                         size_t *n)
{
    size_t count = json_array_size(arr);
    json_int_t v;

    if (!json_is_array(arr) || count > MAX_THREADS)
        return -EINVAL;
    *threads = calloc(count ? count : 1, sizeof(**threads));
    if (!*threads)
        return -ENOMEM;
    for (size_t i = 0; i < count; i++) {
        json_t *o = json_array_get(arr, i);
        struct usc_ctf_thread *t = &(*threads)[*n];
        if (get_int(o, "id", 0, UINT32_MAX, &v) ||
            get_str(o, "name", t->name, sizeof(t->name)))
            continue;
        t->id = (uint32_t)v;
        (*n)++;
    }
    return 0;
}

int usc_trace_sidecar_parse(const char *text, size_t len,
                            struct usc_ctf_info *info,
                            struct usc_trace_schema *s,
                            struct usc_ctf_thread **threads, size_t *n)
{
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    json_int_t v;
    char uuid[40];
    int err = -EINVAL;

    memset(info, 0, sizeof(*info));
    s->count = 0;
    s->classes = NULL;
    *threads = NULL;
    *n = 0;
    if (!json_is_object(root))
        goto out;
    const char *fmt = json_string_value(json_object_get(root, "format"));
    if (!fmt || strcmp(fmt, "unitrace") != 0 ||
        get_int(root, "version", SIDECAR_VERSION, SIDECAR_VERSION, &v) ||
        get_str(root, "uuid", uuid, sizeof(uuid)) ||
        uuid_parse(uuid, info->uuid) ||
        get_str(root, "guest", info->guest, sizeof(info->guest)) ||
        get_int(root, "ts_hz", 0, INT64_MAX, &v))
        goto out;
    info->ts_hz = (uint64_t)v;
    info->offset_known = json_is_true(json_object_get(root, "offset_known"));
    if (get_int(root, "offset_s", INT64_MIN, INT64_MAX, &v))
        goto out;
    info->offset_s = v;
    if (get_int(root, "offset_ns", 0, 999999999, &v))
        goto out;
    info->offset_ns = (uint64_t)v;
    if (get_int(root, "vcpus", 0, USC_TRACE_MAX_RINGS, &v))
        goto out;
    info->nvcpus = (uint32_t)v;
    get_str(root, "source", info->source, sizeof(info->source));
    get_str(root, "mode", info->mode, sizeof(info->mode));
    err = parse_classes(json_object_get(root, "tracepoints"), s);
    if (!err)
        err = parse_threads(json_object_get(root, "threads"), threads, n);
    if (err) {
        usc_trace_schema_free(s);
        free(*threads);
        *threads = NULL;
        *n = 0;
    }
out:
    json_decref(root);
    return err;
}
