/* Hostile guest rings and trace files: errors or skips, never a crash. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_reader.h"
#include "trace_dir.h"
#include "trace_packet.h"
#include "trace_reader.h"

/*
 * A guest image, paddr == offset: the control block on page 0, three
 * tracepoints on page 1, two ring descriptors on page 2 (ring 1 has no
 * buffer), ring 0's four packets of 1024 bytes on page 3. Packets 2..4
 * are closed, 5 is open (the ring has wrapped once).
 */
#define PAGE 4096
#define PS 1024
#define NP 4
#define HDR 88
#define RAM (4 * PAGE)
#define TPS_AT PAGE
#define RINGS_AT (2 * PAGE)
#define FLAGS_AT (RINGS_AT + 2 * 128)
#define BUF_AT (3 * PAGE)
#define OPEN_SEQ 5

static _Alignas(PAGE) unsigned char ram[RAM];
#define CB ((struct usc_control_block *)ram)
#define TP(i) ((struct usc_tracepoint *)(ram + TPS_AT) + (i))
#define RING(i) ((struct usc_trace_ring *)(ram + RINGS_AT) + (i))
#define SLOT(seq) (ram + BUF_AT + ((seq) % NP) * PS)
#define PKT(seq) ((struct usc_trace_packet *)SLOT(seq))

static void field(struct usc_tracepoint *t, int i, const char *name,
                  uint8_t type, uint8_t size, uint16_t offset)
{
    snprintf(t->fields[i].name, sizeof(t->fields[i].name), "%s", name);
    t->fields[i].type = type;
    t->fields[i].size = size;
    t->fields[i].offset = offset;
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
    *(uint32_t *)(ram + t->enabled_at.paddr) = 1;
}

/* Event records of 24 bytes ("tick": u64) from (ts) on, filling [at, end). */
static uint32_t fill(uint64_t seq, uint32_t at, uint32_t end, uint64_t ts)
{
    for (; at + 24 <= end; at += 24, ts++) {
        unsigned char *e = SLOT(seq) + at;
        struct usc_trace_event_header h = {ts, 0, 7};
        memcpy(e, &h, sizeof(h));
        memcpy(e + 16, &ts, 8);
    }
    return at;
}

static void packet(uint64_t seq, bool open)
{
    struct usc_trace_packet *p = PKT(seq);
    uint64_t ts = 1000 * seq;
    uint32_t end = fill(seq, HDR, open ? HDR + 5 * 24 : PS, ts);
    p->seq = seq;
    p->ts_begin = ts;
    p->ts_end = open ? 0 : ts + 999;
    p->content_size = open ? 0 : end;
    p->commit = end;
    p->lost = seq;
}

static void seal(void)
{
    CB->checksum = usc_abi_checksum(CB, USC_CB_HEADER_SIZE);
}

static void build(void)
{
    memset(ram, 0, sizeof(ram));
    CB->magic = USC_ABI_MAGIC;
    CB->abi_version = USC_ABI_VERSION;
    CB->size = sizeof(*CB);
    CB->header_size = USC_CB_HEADER_SIZE;
    CB->ts_hz = 1000000;
    CB->max_vcpus = 2;
    snprintf(CB->name, sizeof(CB->name), "hostile");
    CB->tracepoints = (struct usc_table){{TPS_AT, 0}, 224, 8};
    CB->trace_rings = (struct usc_table){{RINGS_AT, 0}, 128, 2};
    CB->state = USC_STATE_RUNNING;
    CB->tracepoints_count = 3;
    tracepoint(0, "tick", USC_TP_INSTANT, USC_TP_NO_PAIR, 24);
    TP(0)->nfields = 1;
    field(TP(0), 0, "v", USC_FIELD_UNSIGNED, 8, 16);
    tracepoint(1, "op_begin", USC_TP_BEGIN, USC_TP_NO_PAIR, 32);
    TP(1)->nfields = 2;
    field(TP(1), 0, "n", USC_FIELD_UNSIGNED, 4, 16);
    field(TP(1), 1, "who", USC_FIELD_STRING, 8, 20);
    tracepoint(2, "op_end", USC_TP_END, 1, 16);
    *RING(0) = (struct usc_trace_ring){.buf = {BUF_AT, 0},
                                       .packet_size = PS,
                                       .npackets = NP,
                                       .vcpu = 0,
                                       .pos = OPEN_SEQ * PS + HDR + 5 * 24};
    *RING(1) = (struct usc_trace_ring){.vcpu = 1, .lost = 5};
    for (uint64_t s = OPEN_SEQ - NP + 1; s <= OPEN_SEQ; s++)
        packet(s, s == OPEN_SEQ);
    seal();
}

static struct usc_physmem pm;
static struct usc_agent *agent;
static struct usc_trace *trace;
static unsigned char buf[USC_TRACE_PACKET_MAX];

/* Open the image; the trace handle's result. */
static int open_trace(void)
{
    usc_trace_close(trace);
    usc_agent_close(agent);
    trace = NULL;
    agent = NULL;
    seal();
    usc_physmem_from_buffer_rw(&pm, ram, sizeof(ram));
    ck_assert_int_eq(usc_agent_open(&pm, 0, &agent), 0);
    return usc_trace_open(agent, &pm, &trace);
}

static int read_seq(uint64_t seq, bool force, struct usc_trace_pkt *p)
{
    return usc_trace_read_packet(trace, 0, seq, force, buf, p);
}

static void setup(void)
{
    build();
    ck_assert_int_eq(open_trace(), 0);
}

static void teardown(void)
{
    usc_trace_close(trace);
    usc_agent_close(agent);
    trace = NULL;
    agent = NULL;
}

START_TEST(test_valid_image_reads)
{
    struct usc_trace_pkt p;
    const struct usc_trace_schema *s = usc_trace_schema_of(trace);
    ck_assert_uint_eq(s->count, 3);
    for (uint32_t i = 0; i < 3; i++)
        ck_assert(s->classes[i].valid);
    ck_assert_uint_eq(s->classes[2].kind, USC_TP_END);
    for (uint64_t seq = 2; seq < OPEN_SEQ; seq++) {
        ck_assert_int_eq(read_seq(seq, false, &p), 0);
        ck_assert_uint_eq(p.events, (PS - HDR) / 24);
        ck_assert(!p.truncated && !p.open && !p.incomplete);
    }
    ck_assert_int_eq(read_seq(OPEN_SEQ, false, &p), 0);
    ck_assert(p.open);
    ck_assert_uint_eq(p.events, 5);
    ck_assert_uint_eq(p.ts_end, OPEN_SEQ * 1000 + 4);
    ck_assert_int_eq(read_seq(1, false, &p), -ESTALE);
    ck_assert_int_eq(read_seq(OPEN_SEQ + 1, false, &p), -EAGAIN);
    struct usc_trace_ring_info ri;
    ck_assert_int_eq(usc_trace_ring_info(trace, 1, &ri), 0);
    ck_assert(!ri.usable);
    ck_assert_uint_eq(ri.lost, 5);
    ck_assert_int_eq(usc_trace_read_packet(trace, 1, 0, true, buf, &p),
                     -ENOENT);
    ck_assert_int_eq(usc_trace_read_packet(trace, 9, 0, true, buf, &p),
                     -EINVAL);
}
END_TEST

START_TEST(test_corrupt_packet_headers)
{
    struct usc_trace_pkt p;
    PKT(2)->content_size = PS + 8;
    ck_assert_int_eq(read_seq(2, true, &p), -EINVAL);
    PKT(2)->content_size = 91; /* not a multiple of 8 */
    ck_assert_int_eq(read_seq(2, true, &p), -EINVAL);
    PKT(2)->content_size = 0; /* closed but claims open */
    ck_assert_int_eq(read_seq(2, true, &p), -EINVAL);
    PKT(3)->seq = 1; /* older than the ring says: never opened */
    ck_assert_int_eq(read_seq(3, true, &p), -EINVAL);
    PKT(3)->seq = USC_TRACE_SEQ_BUSY;
    ck_assert_int_eq(read_seq(3, true, &p), -ESTALE);
    PKT(4)->ts_end = PKT(4)->ts_begin - 1;
    ck_assert_int_eq(read_seq(4, true, &p), -EINVAL);
}
END_TEST

START_TEST(test_uncommitted_packets_wait_or_are_forced)
{
    struct usc_trace_pkt p;
    PKT(3)->commit -= 24; /* a writer interrupted for good */
    ck_assert_int_eq(read_seq(3, false, &p), -EAGAIN);
    ck_assert_int_eq(read_seq(3, true, &p), 0);
    ck_assert(p.incomplete);
    PKT(OPEN_SEQ)->commit += 24; /* commits past the reservations */
    ck_assert_int_eq(read_seq(OPEN_SEQ, false, &p), -EAGAIN);
    ck_assert_int_eq(read_seq(OPEN_SEQ, true, &p), 0);
    ck_assert(p.incomplete && p.open);
}
END_TEST

START_TEST(test_bad_records_truncate)
{
    struct usc_trace_pkt p;
    /* Record 10 names a class that does not exist. */
    struct usc_trace_event_header *h = (void *)(SLOT(2) + HDR + 10 * 24);
    h->id = 77;
    ck_assert_int_eq(read_seq(2, false, &p), 0);
    ck_assert(p.truncated);
    ck_assert_uint_eq(p.events, 10);
    ck_assert_uint_eq(p.end, HDR + 10 * 24);
    /* Time going backwards. */
    h = (void *)(SLOT(3) + HDR + 3 * 24);
    h->timestamp = 0;
    ck_assert_int_eq(read_seq(3, false, &p), 0);
    ck_assert_uint_eq(p.events, 3);
    /* A record past the packet's end time. */
    h = (void *)(SLOT(4) + HDR + 5 * 24);
    h->timestamp = UINT64_MAX;
    ck_assert_int_eq(read_seq(4, false, &p), 0);
    ck_assert_uint_eq(p.events, 5);
    /* A class larger than what is left. */
    h = (void *)(SLOT(OPEN_SEQ) + HDR + 4 * 24);
    h->id = 1; /* 32 bytes, 24 left */
    ck_assert_int_eq(read_seq(OPEN_SEQ, false, &p), 0);
    ck_assert_uint_eq(p.events, 4);
}
END_TEST

START_TEST(test_bad_ring_descriptors_are_unusable)
{
    struct usc_trace_ring_info ri;
    struct usc_trace_pkt p;
    const struct {
        uint32_t ps, np;
        uint64_t buf;
        uint32_t vcpu;
    } bad[] = {
        {1000, NP, BUF_AT, 0},       /* not a power of two */
        {512, NP, BUF_AT, 0},        /* below the minimum */
        {1u << 17, NP, BUF_AT, 0},   /* above the maximum */
        {PS, 3, BUF_AT, 0},          /* npackets not a power of two */
        {PS, 1u << 31, BUF_AT, 0},   /* absurd */
        {PS, NP, RAM - PS, 0},       /* buffer leaves RAM */
        {PS, NP, UINT64_MAX - 8, 0}, /* wraps */
        {PS, NP, BUF_AT, 1},         /* not its own vCPU */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        build();
        RING(0)->packet_size = bad[i].ps;
        RING(0)->npackets = bad[i].np;
        RING(0)->buf.paddr = bad[i].buf;
        RING(0)->vcpu = bad[i].vcpu;
        ck_assert_int_eq(open_trace(), 0);
        ck_assert_int_eq(usc_trace_ring_info(trace, 0, &ri), 0);
        ck_assert_msg(!ri.usable, "case %zu", i);
        ck_assert_int_eq(read_seq(2, true, &p), -ENOENT);
    }
    /* A position far ahead: everything before it was overwritten. */
    build();
    RING(0)->pos = 1000 * PS + HDR;
    ck_assert_int_eq(open_trace(), 0);
    ck_assert_int_eq(read_seq(OPEN_SEQ, true, &p), -ESTALE);
    ck_assert_int_eq(read_seq(999, true, &p), -EINVAL);
}
END_TEST

/* Rings the vCPU count does not back: unusable, or shown offline. */
START_TEST(test_rings_of_missing_or_offline_vcpus)
{
    struct usc_trace_ring_info ri;
    struct usc_trace_pkt p;

    /* a guest that publishes more rings than it has vCPUs: ring 1 (a good
     * descriptor of vCPU 1) is not merged when max_vcpus says 1 */
    build();
    *RING(1) = *RING(0);
    RING(1)->vcpu = 1;
    CB->max_vcpus = 1;
    CB->vcpus_online = 0x3; /* and claims both online */
    ck_assert_int_eq(open_trace(), 0);
    ck_assert_int_eq(usc_trace_ring_info(trace, 1, &ri), 0);
    ck_assert(!ri.usable);
    ck_assert_int_eq(usc_trace_read_packet(trace, 1, 2, true, buf, &p),
                     -ENOENT);
    ck_assert_int_eq(usc_trace_ring_info(trace, 0, &ri), 0);
    ck_assert(ri.usable && ri.vcpu_online);
    /* a ring with events for a vCPU that never came online: readable,
     * and said to be offline */
    build();
    *RING(1) = *RING(0);
    RING(1)->vcpu = 1;
    CB->vcpus_online = 0x1;
    ck_assert_int_eq(open_trace(), 0);
    ck_assert_int_eq(usc_trace_ring_info(trace, 1, &ri), 0);
    ck_assert(ri.usable && !ri.vcpu_online);
    ck_assert(!ri.emitted_known); /* an image without the feature bit */
}
END_TEST

START_TEST(test_bad_tracepoint_entries)
{
    struct usc_trace_pkt p;
    TP(0)->fields[0].offset = 20; /* not the natural layout */
    TP(1)->nfields = 7;
    ck_assert_int_eq(open_trace(), 0);
    const struct usc_trace_schema *s = usc_trace_schema_of(trace);
    ck_assert(!s->classes[0].valid && !s->classes[1].valid);
    /* The END whose BEGIN is invalid is an instant now. */
    ck_assert_uint_eq(s->classes[2].kind, USC_TP_INSTANT);
    ck_assert_int_eq(read_seq(2, false, &p), 0);
    ck_assert_uint_eq(p.events, 0);
    ck_assert(p.truncated);

    build();
    snprintf(TP(0)->name, sizeof(TP(0)->name), "bad\"name");
    memset(TP(1)->fields[1].name, 'x', sizeof(TP(1)->fields[1].name));
    TP(2)->pair = 0; /* not a BEGIN */
    CB->tracepoints_count = 3;
    ck_assert_int_eq(open_trace(), 0);
    s = usc_trace_schema_of(trace);
    ck_assert(!s->classes[0].valid && !s->classes[1].valid);
    ck_assert_uint_eq(s->classes[2].kind, USC_TP_INSTANT);

    build();
    CB->tracepoints_count = 9; /* above capacity */
    ck_assert_int_eq(open_trace(), -EINVAL);
}
END_TEST

START_TEST(test_writes_are_checked)
{
    ck_assert_int_eq(usc_trace_set_enabled(trace, 0, false), 0);
    ck_assert_uint_eq(*(uint32_t *)(ram + FLAGS_AT), 0);
    bool on = true;
    ck_assert_int_eq(usc_trace_get_enabled(trace, 0, &on), 0);
    ck_assert(!on);
    ck_assert_int_eq(usc_trace_set_enabled(trace, 5, true), -EINVAL);
    ck_assert_int_eq(usc_trace_set_stream(trace, 0, true, 3, 99), 0);
    ck_assert_uint_eq(RING(0)->mode, USC_TRACE_STREAM);
    ck_assert_uint_eq(RING(0)->tail, 3);
    ck_assert_uint_eq(RING(0)->stream_until, 99);
    ck_assert_int_eq(usc_trace_set_tail(trace, 2, 0), -EINVAL);

    build();
    TP(0)->enabled_at.paddr = RAM;          /* outside RAM */
    TP(1)->enabled_at.paddr = FLAGS_AT + 1; /* unaligned */
    ck_assert_int_eq(open_trace(), 0);
    ck_assert_int_eq(usc_trace_set_enabled(trace, 0, true), -EFAULT);
    ck_assert_int_eq(usc_trace_set_enabled(trace, 1, true), -EINVAL);
    /* Read-only memory: no write at all. */
    usc_physmem_from_buffer(&pm, ram, sizeof(ram));
    ck_assert_int_eq(usc_trace_set_enabled(trace, 2, true), -ENOTSUP);
}
END_TEST

/* ---- trace files ------------------------------------------------------ */

static char dir[64];

static void put(const char *name, const void *data, size_t len)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void cleanup(void)
{
    char path[128];
    const char *names[] = {".unitrace.json", "vcpu0", "vcpu1", "vcpu07"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static const char sidecar[] =
    "{\"format\":\"unitrace\",\"version\":1,"
    "\"uuid\":\"00112233-4455-6677-8899-aabbccddeeff\",\"guest\":\"g\","
    "\"ts_hz\":1000,\"offset_known\":false,\"offset_s\":0,\"offset_ns\":0,"
    "\"vcpus\":2,\"source\":\"live\",\"mode\":\"stream\",\"threads\":"
    "[{\"id\":7,\"name\":\"w\"},{\"id\":\"x\"}],"
    "\"tracepoints\":[{\"id\":0,\"name\":\"tick\",\"kind\":0,\"pair\":-1,"
    "\"size\":24,\"valid\":true,\"fields\":[{\"name\":\"v\",\"type\":1,"
    "\"size\":8,\"offset\":16}]},{\"id\":1,\"name\":7}]}";

/* A CTF packet of vCPU 0 holding (n) tick records from (ts). */
static size_t ctf_packet(unsigned char *out, uint64_t seq, uint64_t ts, int n)
{
    static const uint8_t uuid[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
                                     0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
                                     0xcc, 0xdd, 0xee, 0xff};
    struct usc_ctf_packet_header h = {.magic = USC_CTF_MAGIC,
                                      .ts_begin = ts,
                                      .ts_end = ts + (uint64_t)n,
                                      .content_size = (HDR + 24u * n) * 8,
                                      .packet_size = PS * 8,
                                      .packet_seq_num = seq};
    memcpy(h.uuid, uuid, 16);
    memset(out, 0, PS);
    memcpy(out, &h, sizeof(h));
    for (int i = 0; i < n; i++) {
        struct usc_trace_event_header e = {ts + (uint64_t)i, 0, 7};
        memcpy(out + HDR + 24 * i, &e, sizeof(e));
    }
    return PS;
}

static uint64_t count_events(struct usc_trace_dir *d)
{
    struct usc_trace_dir_event ev;
    uint64_t n = 0;
    while (usc_trace_dir_next(d, &ev) == 1)
        n++;
    return n;
}

START_TEST(test_hostile_trace_files)
{
    static unsigned char s[8 * PS];
    struct usc_trace_dir *d = NULL;
    snprintf(dir, sizeof(dir), "/tmp/usc-hostile-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));

    ck_assert_int_eq(usc_trace_dir_open(dir, &d), -ENOENT);
    put(".unitrace.json", "{\"format\":\"unitrace\"", 20);
    ck_assert_int_eq(usc_trace_dir_open(dir, &d), -EINVAL);
    put(".unitrace.json", sidecar, strlen(sidecar));

    /* Good, a gap, then one going backwards: stops there. */
    size_t len = ctf_packet(s, 1, 100, 5);
    len += ctf_packet(s + len, 3, 200, 5);
    len += ctf_packet(s + len, 2, 300, 5);
    put("vcpu0", s, len);
    /* A stream cut in the middle of a packet, with a bad record first. */
    len = ctf_packet(s, 0, 50, 4);
    ((struct usc_trace_event_header *)(void *)(s + HDR + 24))->id = 1;
    ((struct usc_ctf_packet_header *)(void *)s)->stream_instance_id = 1;
    put("vcpu1", s, len + 100);
    put("vcpu07", s, len); /* not a stream name: ignored */

    ck_assert_int_eq(usc_trace_dir_open(dir, &d), 0);
    ck_assert(!usc_trace_dir_schema(d)->classes[1].valid);
    size_t nt;
    usc_trace_dir_threads(d, &nt);
    ck_assert_uint_eq(nt, 1);
    ck_assert_str_eq(usc_trace_dir_thread_name(d, 7), "w");
    ck_assert_uint_eq(count_events(d), 5 + 5 + 1);
    ck_assert_uint_eq(usc_trace_dir_nstreams(d), 2);
    for (size_t i = 0; i < 2; i++) {
        const struct usc_trace_stream_stats *st = usc_trace_dir_stream(d, i);
        ck_assert(st->bad_packet);
        if (st->vcpu == 0) {
            ck_assert_uint_eq(st->missing, 1);
            ck_assert_uint_eq(st->packets, 2);
        } else {
            ck_assert_uint_eq(st->bad_records, 1);
        }
    }
    usc_trace_dir_close(d);
    cleanup();
}
END_TEST

START_TEST(test_cursor_edges)
{
    struct usc_trace_schema s = {0};
    struct usc_trace_cursor c;
    struct usc_trace_event ev;
    unsigned char rec[64] = {0};
    /* No classes at all: every record is bad. */
    usc_trace_cursor_init(&c, &s, rec, 0, 64, 0, UINT64_MAX);
    ck_assert_int_eq(usc_trace_cursor_next(&c, &ev), -EINVAL);
    ck_assert_int_eq(usc_trace_cursor_next(&c, &ev), -EINVAL);
    /* Misaligned start, short tail, empty range. */
    usc_trace_cursor_init(&c, &s, rec, 4, 64, 0, UINT64_MAX);
    ck_assert_int_eq(usc_trace_cursor_next(&c, &ev), -EINVAL);
    usc_trace_cursor_init(&c, &s, rec, 56, 64, 0, UINT64_MAX);
    ck_assert_int_eq(usc_trace_cursor_next(&c, &ev), -EINVAL);
    usc_trace_cursor_init(&c, &s, rec, 64, 64, 0, UINT64_MAX);
    ck_assert_int_eq(usc_trace_cursor_next(&c, &ev), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("trace_hostile");
    TCase *tc = tcase_create("rings");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_valid_image_reads);
    tcase_add_test(tc, test_corrupt_packet_headers);
    tcase_add_test(tc, test_uncommitted_packets_wait_or_are_forced);
    tcase_add_test(tc, test_bad_records_truncate);
    tcase_add_test(tc, test_bad_ring_descriptors_are_unusable);
    tcase_add_test(tc, test_rings_of_missing_or_offline_vcpus);
    tcase_add_test(tc, test_bad_tracepoint_entries);
    tcase_add_test(tc, test_writes_are_checked);
    suite_add_tcase(s, tc);
    TCase *files = tcase_create("files");
    tcase_add_test(files, test_hostile_trace_files);
    tcase_add_test(files, test_cursor_edges);
    suite_add_tcase(s, files);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
