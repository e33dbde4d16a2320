/* unitrace list, enable, disable: a guest's tracepoints and rings. */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "trace_schema.h"
#include "unitrace.h"

static void print_fields(const struct usc_trace_class *c)
{
    for (uint32_t k = 0; k < c->nfields; k++) {
        char type[16];
        usc_trace_field_describe(&c->fields[k], type, sizeof(type));
        printf("%s%s:%s", k ? " " : "", c->fields[k].name, type);
    }
}

/* The ring's mode as the guest applies it: a stream lease can lapse. */
static const char *mode_name(const struct usc_trace_ring_info *ri,
                             uint64_t guest_now)
{
    if (ri->mode != USC_TRACE_STREAM)
        return "overwrite";
    if ((int64_t)(ri->stream_until - guest_now) > 0)
        return "stream";
    return "overwrite (stream lease lapsed)";
}

static void print_rings(struct usc_agent *a, struct usc_trace *t)
{
    struct usc_agent_status st;
    uint64_t now = usc_agent_status(a, &st) == 0 ? st.heartbeat_ts : 0;

    for (uint32_t i = 0; i < usc_trace_nrings(t); i++) {
        struct usc_trace_ring_info ri;
        if (usc_trace_ring_info(t, i, &ri) != 0)
            continue;
        if (!ri.usable) {
            printf("vCPU %u: no ring, %llu events lost\n", i,
                   (unsigned long long)ri.lost);
            continue;
        }
        printf("vCPU %u: %u packets of %u bytes, %s, %llu packets written, "
               "%llu events lost\n",
               i, ri.npackets, ri.packet_size, mode_name(&ri, now),
               (unsigned long long)(ri.pos / ri.packet_size),
               (unsigned long long)ri.lost);
    }
}

int unitrace_list(int argc, char **argv)
{
    struct unitrace_guest g;

    if (argc == 2 && !strcmp(argv[1], "--help")) {
        puts("usage: unitrace list TARGET");
        return 0;
    }
    if (argc != 2)
        return unitrace_usage("list: expected TARGET");
    if (unitrace_guest_open(argv[1], &g))
        return 1;
    const struct usc_trace_schema *s = usc_trace_schema_of(g.trace);
    printf("guest %s: %u tracepoints, %u vCPUs\n",
           usc_agent_header(g.agent)->name, s->count,
           usc_trace_nrings(g.trace));
    print_rings(g.agent, g.trace);
    printf("%-4s %-3s %-7s %-32s %s\n", "ID", "ON", "KIND", "NAME", "FIELDS");
    for (uint32_t i = 0; i < s->count; i++) {
        const struct usc_trace_class *c = &s->classes[i];
        bool on = false;
        if (!c->valid) {
            printf("%-4u %-3s %-7s %-32s (corrupt entry)\n", i, "-", "-",
                   c->name);
            continue;
        }
        usc_trace_get_enabled(g.trace, i, &on);
        printf("%-4u %-3s %-7s %-32s", i, on ? "on" : "off",
               usc_trace_kind_name(c->kind), c->name);
        if (c->nfields)
            putchar(' ');
        print_fields(c);
        putchar('\n');
    }
    unitrace_guest_close(&g);
    return 0;
}

int unitrace_enable(int argc, char **argv)
{
    bool on = !strcmp(argv[0], "enable");
    struct unitrace_guest g;
    unsigned changed = 0, matched = 0;
    char ctx[128];
    int err = 0;

    if (argc == 2 && !strcmp(argv[1], "--help")) {
        printf("usage: unitrace %s TARGET PATTERN\n", argv[0]);
        return 0;
    }
    if (argc != 3)
        return unitrace_usage(on ? "enable: expected TARGET PATTERN"
                                 : "disable: expected TARGET PATTERN");
    if (unitrace_guest_open(argv[1], &g))
        return 1;
    if (!usc_target_physmem(g.target)->write)
        err = -ENOTSUP;
    const struct usc_trace_schema *s = usc_trace_schema_of(g.trace);
    for (uint32_t i = 0; i < s->count && !err; i++) {
        bool was;
        if (!s->classes[i].valid ||
            fnmatch(argv[2], s->classes[i].name, 0) != 0)
            continue;
        matched++;
        err = usc_trace_get_enabled(g.trace, i, &was);
        if (!err && was != on) {
            err = usc_trace_set_enabled(g.trace, i, on);
            changed += !err;
        }
    }
    unitrace_guest_close(&g);
    snprintf(ctx, sizeof(ctx), "%s %s", argv[0], argv[2]);
    if (err == -ENOTSUP)
        return unitrace_fail(ctx, "the guest's memory cannot be written "
                                  "(a core file, or a read-only RAM file)");
    if (err)
        return unitrace_fail_errno(ctx, err);
    if (!matched)
        return unitrace_fail(ctx, "no tracepoint matches");
    printf("%s %u of %u matching tracepoints\n", on ? "enabled" : "disabled",
           changed, matched);
    return 0;
}
