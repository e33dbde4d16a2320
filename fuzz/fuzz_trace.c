/* Fuzz target: the input is guest RAM (paddr == offset) for the trace
 * ring reader: tracepoint table, ring descriptors, packets, records. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent_reader.h"
#include "trace_packet.h"
#include "trace_reader.h"

/* Packets read per ring and rings looked at: a bound on each input's work. */
#define MAX_PACKETS 16
#define MAX_RINGS 8

/* A promise of the reader's contract broken: make the fuzzer report it. */
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

static unsigned char pkt[USC_TRACE_PACKET_MAX];

static void check_schema(const struct usc_trace_schema *s)
{
    for (uint32_t i = 0; i < s->count; i++) {
        const struct usc_trace_class *c = &s->classes[i];
        CHECK(memchr(c->name, '\0', sizeof(c->name)));
        if (!c->valid)
            continue;
        CHECK(c->size >= 16 && c->size <= USC_TRACE_EVENT_MAX &&
              c->size % 8 == 0 && c->nfields <= USC_TP_FIELDS_MAX);
        for (uint32_t k = 0; k < c->nfields; k++)
            CHECK(c->fields[k].offset + c->fields[k].size <= c->size);
        if (c->kind == USC_TP_END)
            CHECK(c->pair < s->count && s->classes[c->pair].valid &&
                  s->classes[c->pair].kind == USC_TP_BEGIN);
    }
}

/* What read_packet took must decode again exactly as it said. */
static void check_packet(struct usc_trace *t, const struct usc_trace_pkt *p,
                         uint32_t ps)
{
    struct usc_trace_walk w;

    CHECK(p->end >= sizeof(struct usc_trace_packet) && p->end <= ps);
    CHECK(p->ts_end >= p->ts_begin || p->open);
    usc_trace_walk(usc_trace_schema_of(t), pkt, sizeof(struct usc_trace_packet),
                   p->end, p->ts_begin, UINT64_MAX, &w);
    CHECK(w.events == p->events && w.end == p->end && w.error == 0);
}

static void read_ring(struct usc_trace *t, uint32_t ring)
{
    struct usc_trace_ring_info ri;
    struct usc_trace_pkt p;

    if (usc_trace_ring_info(t, ring, &ri) != 0)
        return;
    if (!ri.usable) {
        CHECK(usc_trace_read_packet(t, ring, 0, true, pkt, &p) == -ENOENT);
        return;
    }
    CHECK(ri.packet_size >= USC_TRACE_PACKET_MIN &&
          ri.packet_size <= USC_TRACE_PACKET_MAX && ri.npackets);
    uint64_t cur = ri.pos / ri.packet_size;
    uint64_t n = ri.npackets < MAX_PACKETS ? ri.npackets : MAX_PACKETS;
    uint64_t first = cur >= n - 1 ? cur - (n - 1) : 0;
    for (uint64_t seq = first; seq <= cur; seq++)
        for (int force = 0; force < 2; force++)
            if (usc_trace_read_packet(t, ring, seq, force, pkt, &p) == 0)
                check_packet(t, &p, ri.packet_size);
    usc_trace_read_packet(t, ring, UINT64_MAX, true, pkt, &p);
}

static void read_all(const struct usc_physmem *pm)
{
    struct usc_agent *a = NULL;
    struct usc_trace *t = NULL;
    bool changed;

    if (usc_agent_open(pm, USC_AGENT_SCAN, &a) != 0)
        return;
    if (usc_trace_open(a, pm, &t) == 0) {
        check_schema(usc_trace_schema_of(t));
        uint32_t n = usc_trace_nrings(t);
        for (uint32_t i = 0; i < n && i < MAX_RINGS; i++)
            read_ring(t, i);
        /* Writes land in RAM, at checked places, or are refused. */
        for (uint32_t i = 0; i < usc_trace_schema_of(t)->count && i < 64; i++)
            usc_trace_set_enabled(t, i, i & 1);
        for (uint32_t i = 0; i < n && i < MAX_RINGS; i++)
            usc_trace_set_stream(t, i, true, 1, 2);
        usc_trace_refresh(t, &changed);
        check_schema(usc_trace_schema_of(t));
        usc_trace_close(t);
    }
    usc_agent_close(a);
}

/* Mutated headers fail their checksum: read a resealed copy as well. */
static void reseal(uint8_t *ram, size_t size)
{
    for (size_t p = 0; p + sizeof(struct usc_control_block) <= size;
         p += USC_ABI_PAGE_SIZE) {
        struct usc_control_block *cb = (struct usc_control_block *)(ram + p);
        if (cb->magic == USC_ABI_MAGIC && cb->header_size <= sizeof(*cb))
            cb->checksum = usc_abi_checksum(cb, cb->header_size);
    }
}

/*
 * A guest writing while the host reads: the input's last bytes script
 * byte stores, each made right after the host's read number `after`.
 */
struct store {
    uint8_t after;
    uint8_t value;
    uint16_t offset; /* modulo the RAM size */
};

#define MAX_STORES 16

struct racing_ram {
    uint8_t *ram;
    size_t size;
    struct store stores[MAX_STORES];
    size_t nstores;
    unsigned int reads;
};

static int racing_read(void *priv, uint64_t paddr, void *buf, size_t len)
{
    struct racing_ram *r = priv;

    if (paddr > r->size || len > r->size - paddr)
        return -EFAULT;
    memcpy(buf, r->ram + paddr, len);
    for (size_t i = 0; i < r->nstores; i++)
        if (r->stores[i].after == (uint8_t)r->reads)
            r->ram[r->stores[i].offset % r->size] = r->stores[i].value;
    r->reads++;
    return 0;
}

static void read_racing(uint8_t *ram, size_t size)
{
    struct racing_ram r = {.ram = ram, .size = size};

    r.nstores = size / 64 < MAX_STORES ? size / 64 : MAX_STORES;
    memcpy(r.stores, ram + size - r.nstores * sizeof(r.stores[0]),
           r.nstores * sizeof(r.stores[0]));
    struct usc_physmem pm = {.read = racing_read, .priv = &r, .phys_end = size};
    read_all(&pm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct usc_physmem pm;
    uint8_t *copy = size ? malloc(size) : NULL;

    if (!copy)
        return 0;
    memcpy(copy, data, size);
    usc_physmem_from_buffer(&pm, copy, size);
    read_all(&pm);
    reseal(copy, size);
    usc_physmem_from_buffer_rw(&pm, copy, size);
    read_all(&pm);
    read_racing(copy, size);
    free(copy);
    return 0;
}
