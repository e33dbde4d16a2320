/* CTF 1.8 metadata (TSDL) for a trace, and replacing files atomically. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace_files.h"

int usc_trace_replace_file(const char *dir, const char *name, const void *data,
                           size_t len)
{
    char tmp[4096], path[4096];
    const char *p = data;
    int fd, err = 0;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >=
            sizeof(tmp) ||
        (size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
            sizeof(path))
        return -ENAMETOOLONG;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? -errno : -EIO;
            break;
        }
        p += n;
        len -= (size_t)n;
    }
    if (close(fd) != 0 && !err)
        err = -errno;
    if (!err && rename(tmp, path) != 0)
        err = -errno;
    if (err)
        unlink(tmp);
    return err;
}

static void uuid_text(const uint8_t u[16], char out[37])
{
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10],
             u[11], u[12], u[13], u[14], u[15]);
}

static void field_decl(FILE *f, const struct usc_trace_field *fl)
{
    unsigned bits = fl->size * 8u;

    /* A leading underscore escapes TSDL keywords; readers drop it. */
    switch (fl->type) {
    case USC_FIELD_STRING:
        fprintf(f,
                "\t\tinteger { size = 8; align = 8; signed = false; "
                "encoding = UTF8; } _%s[%u];\n",
                fl->name, fl->size);
        break;
    case USC_FIELD_POINTER:
        fprintf(f,
                "\t\tinteger { size = 64; align = 64; signed = false; "
                "base = 16; } _%s;\n",
                fl->name);
        break;
    default:
        fprintf(f,
                "\t\tinteger { size = %u; align = %u; signed = %s; "
                "base = 10; } _%s;\n",
                bits, bits, fl->type == USC_FIELD_SIGNED ? "true" : "false",
                fl->name);
        break;
    }
}

static void write_events(FILE *f, const struct usc_trace_schema *s)
{
    for (uint32_t i = 0; i < s->count; i++) {
        const struct usc_trace_class *c = &s->classes[i];

        if (!c->valid)
            continue;
        fprintf(f,
                "event {\n\tname = \"%s\";\n\tid = %" PRIu32
                ";\n\tstream_id = 0;\n",
                c->name, c->id);
        if (c->nfields) {
            fprintf(f, "\tfields := struct {\n");
            for (uint32_t k = 0; k < c->nfields; k++)
                field_decl(f, &c->fields[k]);
            fprintf(f, "\t};\n");
        }
        fprintf(f, "};\n\n");
    }
}

int usc_ctf_metadata(const struct usc_ctf_info *info,
                     const struct usc_trace_schema *s, char **text)
{
    char uuid[37];
    size_t len = 0;
    FILE *f = open_memstream(text, &len);
    uint64_t hz = info->ts_hz ? info->ts_hz : 1000000000ull;

    if (!f)
        return -ENOMEM;
    uuid_text(info->uuid, uuid);
    fprintf(f,
            "/* CTF 1.8 */\n\n"
            "/* Written by unitrace (uniscope): guest %s. */\n\n"
            "typealias integer { size = 8; align = 8; signed = false; } "
            ":= uint8_t;\n"
            "typealias integer { size = 32; align = 32; signed = false; } "
            ":= uint32_t;\n"
            "typealias integer { size = 64; align = 64; signed = false; } "
            ":= uint64_t;\n\n"
            "trace {\n\tmajor = 1;\n\tminor = 8;\n\tuuid = \"%s\";\n"
            "\tbyte_order = le;\n"
            "\tpacket.header := struct {\n\t\tuint32_t magic;\n"
            "\t\tuint8_t uuid[16];\n\t\tuint32_t stream_id;\n"
            "\t\tuint64_t stream_instance_id;\n\t};\n};\n\n",
            info->guest, uuid);
    fprintf(f,
            "env {\n\thostname = \"%s\";\n\tdomain = \"uniscope\";\n"
            "\ttracer_name = \"unitrace\";\n\ttracer_major = 0;\n"
            "\ttracer_minor = 1;\n\tguest = \"%s\";\n\tsource = \"%s\";\n"
            "\tmode = \"%s\";\n\tvcpus = %" PRIu32 ";\n};\n\n",
            info->guest, info->guest, info->source, info->mode, info->nvcpus);
    /* The offset in ticks: offset_ns < 1e9 and hz < 2^34 keep it exact. */
    uint64_t off_ticks =
        (uint64_t)((unsigned __int128)info->offset_ns * hz / 1000000000u);
    fprintf(f,
            "clock {\n\tname = \"guest\";\n"
            "\tdescription = \"the guest agent's timestamp (usca_port_"
            "timestamp)\";\n"
            "\tfreq = %" PRIu64 ";\n\tprecision = 1;\n\toffset_s = %" PRId64
            ";\n\toffset = %" PRIu64 ";\n\tabsolute = %s;\n};\n\n",
            hz, info->offset_known ? info->offset_s : (int64_t)0,
            info->offset_known ? off_ticks : 0,
            info->offset_known ? "true" : "false");
    fprintf(f, "typealias integer { size = 64; align = 64; signed = false; "
               "map = clock.guest.value; } := uint64_clock_t;\n\n"
               "stream {\n\tid = 0;\n"
               "\tpacket.context := struct {\n"
               "\t\tuint64_clock_t timestamp_begin;\n"
               "\t\tuint64_clock_t timestamp_end;\n"
               "\t\tuint64_t content_size;\n\t\tuint64_t packet_size;\n"
               "\t\tuint64_t packet_seq_num;\n\t\tuint64_t events_discarded;\n"
               "\t\tuint32_t cpu_id;\n\t};\n"
               "\tevent.header := struct {\n"
               "\t\tuint64_clock_t timestamp;\n\t\tuint32_t id;\n\t};\n"
               "\tevent.context := struct {\n\t\tuint32_t _tid;\n\t};\n"
               "};\n\n");
    write_events(f, s);
    if (fclose(f) != 0) {
        free(*text);
        *text = NULL;
        return -ENOMEM;
    }
    return 0;
}
