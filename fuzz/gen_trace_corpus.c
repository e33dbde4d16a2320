/* Seed corpora of fuzz_trace (guest RAM with trace rings) and
 * fuzz_trace_dir (a trace directory): valid inputs, then corruptions. */
/*
 * Built by hand, not by CMake:
 *   cc -std=c11 -Wall -Wextra -Iinclude fuzz/gen_trace_corpus.c \
 *      -o /tmp/gen && /tmp/gen fuzz/corpus/trace fuzz/corpus/trace_dir
 * A guest image is RAM with paddr == offset: the control block on page 0,
 * tracepoints on page 1, two ring descriptors and the enable flags on
 * page 2, ring 0's four packets of 1024 bytes on page 3.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <uniscope/abi.h>

#define PAGE USC_ABI_PAGE_SIZE
#define PS 1024
#define NP 4
#define HDR 88
#define RAM (4 * PAGE)
#define TPS_AT PAGE
#define RINGS_AT (2 * PAGE)
#define FLAGS_AT (RINGS_AT + 2 * 128)
#define BUF_AT (3 * PAGE)

static _Alignas(PAGE) unsigned char ram[RAM];
static const char *out_dir;

#define CB ((struct usc_control_block *)ram)
#define TP(i) ((struct usc_tracepoint *)(ram + TPS_AT) + (i))
#define RING(i) ((struct usc_trace_ring *)(ram + RINGS_AT) + (i))
#define SLOT(seq) (ram + BUF_AT + ((seq) % NP) * PS)
#define PKT(seq) ((struct usc_trace_packet *)(void *)SLOT(seq))

static void emit(const char *name, const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", out_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        perror(path);
        return;
    }
    fclose(f);
}

static void field(struct usc_tracepoint *t, int i, const char *name,
                  uint8_t type, uint8_t size, uint16_t offset)
{
    snprintf(t->fields[i].name, sizeof(t->fields[i].name), "%s", name);
    t->fields[i].type = type;
    t->fields[i].size = size;
    t->fields[i].offset = offset;
    t->nfields = (uint16_t)(i + 1);
}

static void tracepoint(int id, const char *name, uint16_t kind, uint32_t pair,
                       uint16_t size)
{
    struct usc_tracepoint *t = TP(id);
    t->id = (uint32_t)id;
    t->kind = kind;
    t->pair = pair;
    t->event_size = size;
    t->enabled_at.paddr = FLAGS_AT + 4 * (uint64_t)id;
    snprintf(t->name, sizeof(t->name), "%s", name);
    *(uint32_t *)(void *)(ram + t->enabled_at.paddr) = 1;
}

/* Records cycling through the three classes from (ts), in [at, end). */
static uint32_t fill(unsigned char *p, uint32_t at, uint32_t end, uint64_t ts)
{
    static const uint16_t sizes[] = {24, 32, 16};
    for (int k = 0;; k++, ts++) {
        uint32_t id = (uint32_t)(k % 3);
        if (at + sizes[id] > end)
            return at;
        struct usc_trace_event_header h = {ts, id, 7};
        memcpy(p + at, &h, sizeof(h));
        memset(p + at + 16, 0, sizes[id] - 16);
        if (id == 0)
            memcpy(p + at + 16, &ts, 8);
        if (id == 1)
            memcpy(p + at + 20, "abcdefg", 8);
        at += sizes[id];
    }
}

static void packet(uint64_t seq, int open, int events)
{
    struct usc_trace_packet *p = PKT(seq);
    uint64_t ts = 1000 * seq;
    uint32_t end =
        fill(SLOT(seq), HDR, open ? HDR + 24 * (uint32_t)events : PS, ts);
    memset(p, 0, sizeof(*p));
    p->seq = seq;
    p->ts_begin = ts;
    p->ts_end = open ? 0 : ts + 999;
    p->content_size = open ? 0 : end;
    p->commit = end;
    p->lost = seq / 2;
}

static void seal(void)
{
    CB->checksum = usc_abi_checksum(CB, USC_CB_HEADER_SIZE);
}

/* A ring that wrapped: packets 2..4 closed, 5 being filled. */
static void build(void)
{
    memset(ram, 0, sizeof(ram));
    CB->abi_version = USC_ABI_VERSION;
    CB->size = sizeof(*CB);
    CB->header_size = USC_CB_HEADER_SIZE;
    CB->ts_hz = 1000000;
    CB->max_vcpus = 2;
    snprintf(CB->name, sizeof(CB->name), "fuzz");
    CB->tracepoints = (struct usc_table){{TPS_AT, 0}, 224, 8};
    CB->trace_rings = (struct usc_table){{RINGS_AT, 0}, 128, 2};
    CB->state = USC_STATE_RUNNING;
    CB->tracepoints_count = 3;
    tracepoint(0, "tick", USC_TP_INSTANT, USC_TP_NO_PAIR, 24);
    field(TP(0), 0, "v", USC_FIELD_UNSIGNED, 8, 16);
    tracepoint(1, "op_begin", USC_TP_BEGIN, USC_TP_NO_PAIR, 32);
    field(TP(1), 0, "n", USC_FIELD_SIGNED, 4, 16);
    field(TP(1), 1, "who", USC_FIELD_STRING, 8, 20);
    tracepoint(2, "op_end", USC_TP_END, 1, 16);
    *RING(0) = (struct usc_trace_ring){.buf = {BUF_AT, 0},
                                       .packet_size = PS,
                                       .npackets = NP,
                                       .pos = 5 * PS + HDR + 5 * 24};
    *RING(1) = (struct usc_trace_ring){.vcpu = 1, .lost = 5};
    for (uint64_t s = 2; s <= 5; s++)
        packet(s, s == 5, 5);
    RING(0)->pos = 5 * PS + PKT(5)->commit;
    CB->magic = USC_ABI_MAGIC;
    seal();
}

static void guest_images(void)
{
    build();
    emit("wrapped", ram, sizeof(ram));

    build();
    /* Just booted: packet 0 open and empty. */
    memset(ram + BUF_AT, 0, NP * PS);
    packet(0, 1, 0);
    RING(0)->pos = HDR;
    emit("fresh", ram, sizeof(ram));

    build();
    PKT(3)->content_size = PS + 8;
    PKT(4)->commit -= 16;
    emit("bad_sizes_uncommitted", ram, sizeof(ram));

    build();
    ((struct usc_trace_event_header *)(void *)(SLOT(2) + HDR + 24))->id = 9;
    ((struct usc_trace_event_header *)(void *)(SLOT(3) + HDR))->timestamp = 1;
    PKT(4)->seq = USC_TRACE_SEQ_BUSY;
    emit("bad_records", ram, sizeof(ram));

    build();
    TP(0)->fields[0].offset = 17;
    TP(1)->nfields = 9;
    TP(2)->pair = 0;
    RING(1)->npackets = 1u << 30;
    RING(1)->packet_size = PS;
    seal();
    emit("bad_tables", ram, sizeof(ram));

    build();
    RING(0)->pos = UINT64_MAX - 3;
    TP(0)->enabled_at.paddr = UINT64_MAX - 1;
    seal();
    emit("far_position", ram, sizeof(ram));
}

/* ---- trace directories ------------------------------------------------- */

static const char sidecar[] =
    "{\"format\":\"unitrace\",\"version\":1,"
    "\"uuid\":\"00112233-4455-6677-8899-aabbccddeeff\",\"guest\":\"g\","
    "\"ts_hz\":1000000,\"offset_known\":true,\"offset_s\":1700000000,"
    "\"offset_ns\":5,\"vcpus\":2,\"source\":\"live\",\"mode\":\"stream\","
    "\"threads\":[{\"id\":7,\"name\":\"worker\"}],\"tracepoints\":["
    "{\"id\":0,\"name\":\"tick\",\"kind\":0,\"pair\":-1,\"size\":24,"
    "\"valid\":true,\"fields\":[{\"name\":\"v\",\"type\":1,\"size\":8,"
    "\"offset\":16}]},"
    "{\"id\":1,\"name\":\"op_begin\",\"kind\":1,\"pair\":-1,\"size\":32,"
    "\"valid\":true,\"fields\":[{\"name\":\"n\",\"type\":2,\"size\":4,"
    "\"offset\":16},{\"name\":\"who\",\"type\":4,\"size\":8,"
    "\"offset\":20}]},"
    "{\"id\":2,\"name\":\"op_end\",\"kind\":2,\"pair\":1,\"size\":16,"
    "\"valid\":true,\"fields\":[]}]}";

static unsigned char input[2 + sizeof(sidecar) + 6 * PS + 2];

/* A CTF packet of (vcpu) made of ring packet (seq) of the image. */
static void ctf_packet(unsigned char *out, uint32_t vcpu, uint64_t seq)
{
    const struct usc_trace_packet *g = PKT(seq);
    uint32_t end = g->content_size ? g->content_size : g->commit;
    uint8_t uuid[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                        0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    uint32_t magic = 0xc1fc1fc1u;
    uint64_t ctx[6] = {g->ts_begin,
                       g->ts_end ? g->ts_end : g->ts_begin + 4,
                       (uint64_t)end * 8,
                       PS * 8,
                       seq,
                       g->lost};
    uint64_t instance = vcpu;

    memcpy(out, SLOT(seq), PS);
    memset(out, 0, HDR);
    memcpy(out, &magic, 4);
    memcpy(out + 4, uuid, 16);
    memcpy(out + 24, &instance, 8);
    memcpy(out + 32, ctx, sizeof(ctx));
    memcpy(out + 80, &vcpu, 4);
    memset(out + end, 0, PS - end);
}

static void dir_inputs(void)
{
    size_t n = sizeof(sidecar) - 1;

    build();
    input[0] = (uint8_t)n;
    input[1] = (uint8_t)(n >> 8);
    memcpy(input + 2, sidecar, n);
    unsigned char *s = input + 2 + n;
    for (uint64_t seq = 2; seq <= 5; seq++)
        ctf_packet(s + (seq - 2) * PS, 0, seq);
    s[4 * PS] = 0xff;
    s[4 * PS + 1] = 0xfe;
    ctf_packet(s + 4 * PS + 2, 1, 3);
    emit("two_streams", input, 2 + n + 5 * PS + 2);
    emit("one_stream", input, 2 + n + 4 * PS);
    /* A stream killed mid-packet. */
    emit("cut_short", input, 2 + n + 2 * PS + 500);
    /* A packet going back in time, and a gap. */
    ctf_packet(s + PS, 0, 5);
    ctf_packet(s + 2 * PS, 0, 4);
    emit("out_of_order", input, 2 + n + 4 * PS);
    /* A description that is not one. */
    memcpy(input + 2, "{\"format\":1}", 12);
    input[0] = 12;
    input[1] = 0;
    emit("bad_description", input, 14);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: gen_trace_corpus RINGS_DIR DIRS_DIR\n");
        return 2;
    }
    out_dir = argv[1];
    guest_images();
    out_dir = argv[2];
    dir_inputs();
    return 0;
}
