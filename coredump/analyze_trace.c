/* unicore analyze's "trace": the flight recorder's last events before the end.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"
#include "trace_packet.h"
#include "trace_reader.h"

/* Event records start right after a packet's header. */
#define RECORDS_AT ((uint32_t)sizeof(struct usc_trace_packet))

/* The newest events of one ring, oldest first: a circle of AN_TRACE_EVENTS. */
struct newest {
    json_t *ev[AN_TRACE_EVENTS];
    size_t n, next;
};

static void keep(struct newest *w, json_t *ev)
{
    if (w->n == AN_TRACE_EVENTS)
        json_decref(w->ev[w->next]);
    else
        w->n++;
    w->ev[w->next] = ev;
    w->next = (w->next + 1) % AN_TRACE_EVENTS;
}

static const char *thread_name(const struct an *a, uint32_t id)
{
    for (size_t i = 0; id && i < a->nthreads; i++)
        if (a->threads[i].id == id)
            return a->threads[i].name;
    return NULL;
}

/* One decoded event as JSON; (ref): the time the report counts back from. */
static json_t *event_json(const struct an *a, uint32_t vcpu, uint64_t ref,
                          const struct usc_trace_event *ev)
{
    const struct usc_trace_class *c = ev->cls;
    uint64_t hz = usc_agent_header(a->agent)->ts_hz;
    json_t *j = json_object(), *f = json_object();
    const char *tname = thread_name(a, ev->thread);

    json_object_set_new(j, "vcpu", json_integer(vcpu));
    json_object_set_new(j, "timestamp",
                        json_integer((json_int_t)ev->timestamp));
    /* seconds before (negative) or after the panic or the last event */
    json_object_set_new(
        j, "t_s",
        json_real(hz ? ((double)ev->timestamp - (double)ref) / (double)hz : 0));
    json_object_set_new(j, "name", an_str(c->name));
    json_object_set_new(j, "thread", json_integer(ev->thread));
    if (tname)
        json_object_set_new(j, "thread_name", an_str(tname));
    for (unsigned i = 0; i < c->nfields; i++) {
        if (c->fields[i].type == USC_FIELD_STRING) {
            char s[USC_TP_STRING_MAX];
            usc_trace_event_string(ev, i, s, sizeof(s));
            json_object_set_new(f, c->fields[i].name, an_str(s));
        } else if (c->fields[i].type == USC_FIELD_POINTER) {
            json_object_set_new(f, c->fields[i].name,
                                an_hex(usc_trace_event_value(ev, i)));
        } else if (c->fields[i].type == USC_FIELD_UNSIGNED &&
                   usc_trace_event_value(ev, i) > INT64_MAX) {
            /* past what a JSON integer holds here: as hex */
            json_object_set_new(f, c->fields[i].name,
                                an_hex(usc_trace_event_value(ev, i)));
        } else {
            json_object_set_new(
                f, c->fields[i].name,
                json_integer((json_int_t)usc_trace_event_value(ev, i)));
        }
    }
    json_object_set_new(j, "fields", f);
    return j;
}

/*
 * The newest events of ring (ring) into (w): the packets from the oldest
 * still in the ring to the one being filled, forced (a stopped guest never
 * commits what it had reserved), records past a bad one left out.
 */
static void read_ring(struct an *a, struct usc_trace *t, uint32_t ring,
                      uint64_t ref, unsigned char *buf, struct newest *w)
{
    const struct usc_trace_schema *s = usc_trace_schema_of(t);
    struct usc_trace_ring_info info;
    struct usc_trace_pkt p;

    if (usc_trace_ring_info(t, ring, &info) || !info.usable)
        return;
    uint64_t cur = info.pos / info.packet_size;
    /* a few packets hold AN_TRACE_EVENTS; start no further back than that */
    uint64_t back = info.npackets - 1 < 4 ? info.npackets - 1 : 4;
    for (uint64_t seq = cur >= back ? cur - back : 0; seq <= cur; seq++) {
        struct usc_trace_cursor c;
        struct usc_trace_event ev;

        if (usc_trace_read_packet(t, ring, seq, true, buf, &p))
            continue;
        usc_trace_cursor_init(&c, s, buf, RECORDS_AT, p.end, p.ts_begin,
                              p.ts_end);
        while (usc_trace_cursor_next(&c, &ev) == 1)
            keep(w, event_json(a, info.vcpu, ref, &ev));
    }
}

/* The time events are counted from: the panic's, else the newest event's. */
static uint64_t reference_ts(struct an *a, struct usc_trace *t,
                             unsigned char *buf)
{
    struct usc_trace_ring_info info;
    struct usc_trace_pkt p;
    uint64_t ref = 0;

    if (a->have_panic)
        return a->panic.timestamp;
    for (uint32_t i = 0; i < usc_trace_nrings(t); i++)
        if (!usc_trace_ring_info(t, i, &info) && info.usable &&
            !usc_trace_read_packet(t, i, info.pos / info.packet_size, true, buf,
                                   &p) &&
            p.ts_end > ref)
            ref = p.ts_end;
    return ref;
}

void an_section_trace(struct an *a, json_t *r)
{
    json_t *tr = json_object(), *events = json_array();
    struct usc_trace *t = NULL;
    unsigned char *buf = NULL;
    const char *note = NULL;

    if (!a->agent)
        note = "no agent: no trace rings";
    else if (usc_trace_open(a->agent, a->pm, &t))
        note = "the agent's trace rings cannot be read";
    else if (!(buf = malloc(USC_TRACE_PACKET_MAX)))
        note = "out of memory";
    if (!note) {
        uint64_t ref = reference_ts(a, t, buf);
        uint64_t lost = 0;

        for (uint32_t i = 0; i < usc_trace_nrings(t); i++) {
            struct newest w = {0};
            struct usc_trace_ring_info info;

            if (!usc_trace_ring_info(t, i, &info))
                lost += info.lost;
            read_ring(a, t, i, ref, buf, &w);
            for (size_t k = 0; k < w.n; k++)
                json_array_append_new(
                    events, w.ev[(w.next + AN_TRACE_EVENTS - w.n + k) %
                                 AN_TRACE_EVENTS]);
        }
        json_object_set_new(tr, "per_vcpu", json_integer(AN_TRACE_EVENTS));
        json_object_set_new(tr, "from",
                            json_string(a->have_panic ? "panic" : "newest"));
        json_object_set_new(tr, "lost", json_integer((json_int_t)lost));
        if (!json_array_size(events))
            note = "the trace rings hold no events";
    }
    json_object_set_new(tr, "events", events);
    if (note)
        json_object_set_new(tr, "note", json_string(note));
    json_object_set_new(r, "trace", tr);
    free(buf);
    usc_trace_close(t);
}
