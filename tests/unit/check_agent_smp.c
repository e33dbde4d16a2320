/* The guest agent under real concurrency: host threads play the vCPUs.
 *
 * Built and run as well under ThreadSanitizer (./run test, build-tsan):
 * every test here has several threads call the agent at once, as the
 * vCPUs of an SMP unikernel do, and checks what the host would then see.
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uniscope/agent.h>

#define NVCPUS 4

/* ---- the port: each host thread is a vCPU ------------------------------ */

static _Thread_local uint32_t my_vcpu;
static _Thread_local int irq_depth;
static uint64_t clock_ticks = 1000;

uint64_t usca_port_timestamp(void)
{
    return __atomic_add_fetch(&clock_ticks, 1, __ATOMIC_RELAXED);
}

uint32_t usca_port_vcpu(void)
{
    return my_vcpu;
}

unsigned long usca_port_irq_save(void)
{
    return (unsigned long)irq_depth++;
}

void usca_port_irq_restore(unsigned long flags)
{
    irq_depth = (int)flags;
}

uint64_t usca_port_virt_to_phys(const void *vaddr)
{
    return (uint64_t)(uintptr_t)vaddr - 0x1000;
}

static const struct usc_control_block *init_agent(void)
{
    struct usca_config cfg = {
        .name = "smp-guest", .max_vcpus = NVCPUS, .ts_hz = 1000000};
    ck_assert_int_eq(usca_init(&cfg), 0);
    for (uint32_t v = 0; v < NVCPUS; v++)
        usca_vcpu_online(v);
    return usca_control_block();
}

/* Run fn(vcpu) on NVCPUS threads at once, each as vCPU (vcpu), and wait. */
struct vcpu_arg {
    void (*fn)(uint32_t vcpu);
    uint32_t vcpu;
};

static pthread_barrier_t start_line;

static void *vcpu_main(void *p)
{
    struct vcpu_arg *a = p;
    my_vcpu = a->vcpu;
    pthread_barrier_wait(&start_line);
    a->fn(a->vcpu);
    ck_assert_int_eq(irq_depth, 0);
    return NULL;
}

static void run_vcpus(uint32_t n, void (*fn)(uint32_t vcpu))
{
    pthread_t th[NVCPUS];
    struct vcpu_arg args[NVCPUS];

    ck_assert_uint_le(n, NVCPUS);
    pthread_barrier_init(&start_line, NULL, n);
    for (uint32_t v = 0; v < n; v++) {
        args[v] = (struct vcpu_arg){fn, v};
        ck_assert_int_eq(pthread_create(&th[v], NULL, vcpu_main, &args[v]), 0);
    }
    for (uint32_t v = 0; v < n; v++)
        pthread_join(th[v], NULL);
    pthread_barrier_destroy(&start_line);
}

static const struct usc_vcpu *vcpu_entry(uint32_t v)
{
    const struct usc_control_block *cb = usca_control_block();
    return (const struct usc_vcpu *)(uintptr_t)cb->vcpus.at.vaddr + v;
}

/* ---- metrics ----------------------------------------------------------- */

#define BUMPS 100000

static void bump_metrics(uint32_t vcpu)
{
    char own[32];
    struct usc_metric *shared =
        usca_metric_register("shared_total", "", USC_METRIC_COUNTER);
    snprintf(own, sizeof(own), "vcpu%u_total", vcpu);
    struct usc_metric *mine = usca_metric_register(own, "", USC_METRIC_COUNTER);
    struct usc_metric *gauge =
        usca_metric_register("shared_gauge", "", USC_METRIC_GAUGE);
    ck_assert_ptr_nonnull(shared);
    ck_assert_ptr_nonnull(mine);
    for (int i = 0; i < BUMPS; i++) {
        usca_counter_add(shared, 1);
        usca_counter_add(mine, 2);
        usca_gauge_add(gauge, (i & 1) ? -1 : 1);
        if (i % 1000 == 0)
            usca_tick();
    }
    usca_gauge_add(gauge, (int64_t)vcpu); /* leaves 0 + 1 + 2 + 3 */
}

START_TEST(test_metrics_from_all_vcpus)
{
    const struct usc_control_block *cb = init_agent();
    run_vcpus(NVCPUS, bump_metrics);
    const struct usc_metric *m =
        (const struct usc_metric *)(uintptr_t)cb->metrics.at.vaddr;
    /* one slot per name, however many vCPUs registered it at once */
    ck_assert_uint_eq(cb->metrics_count, 2 + NVCPUS);
    for (uint32_t i = 0; i < cb->metrics_count; i++) {
        if (!strcmp(m[i].name, "shared_total"))
            ck_assert_uint_eq(m[i].value, (uint64_t)NVCPUS * BUMPS);
        else if (!strcmp(m[i].name, "shared_gauge"))
            ck_assert_int_eq((int64_t)m[i].value, 0 + 1 + 2 + 3);
        else
            ck_assert_uint_eq(m[i].value, 2ull * BUMPS);
    }
    for (uint32_t v = 0; v < NVCPUS; v++) {
        ck_assert_uint_eq(vcpu_entry(v)->ticks, BUMPS / 1000);
        ck_assert_uint_eq(vcpu_entry(v)->seq % 2, 0);
    }
}
END_TEST

/* ---- trace rings ------------------------------------------------------- */

#define EVENTS 20000 /* more than a 256 KiB ring holds: some are lost */

static const struct usca_tp_field smp_fields[] = {USCA_U32("vcpu"),
                                                  USCA_U64("n")};
static struct usca_tracepoint tp_smp =
    USCA_TP("smp_event", USC_TP_INSTANT, smp_fields);

struct smp_record {
    struct usc_trace_event_header h;
    uint32_t vcpu;
    uint32_t pad;
    uint64_t n;
};

static void emit_events(uint32_t vcpu)
{
    for (uint64_t n = 0; n < EVENTS; n++)
        USCA_TRACE2(&tp_smp, vcpu, n);
}

static struct usc_trace_ring *ring_desc(uint32_t v)
{
    const struct usc_control_block *cb = usca_control_block();
    return (struct usc_trace_ring *)(uintptr_t)cb->trace_rings.at.vaddr + v;
}

/*
 * Walk packets (first) .. the open one of vCPU (v)'s ring, checking each
 * record is whole, of this ring's vCPU and numbered on from (*next).
 * Returns the records seen.
 */
static uint64_t walk_ring(uint32_t v, uint64_t first, uint64_t *next)
{
    const struct usc_trace_ring *d = ring_desc(v);
    const unsigned char *buf = (const unsigned char *)(uintptr_t)d->buf.vaddr;
    uint64_t last = d->pos / d->packet_size, seen = 0;

    for (uint64_t n = first; n <= last; n++) {
        const unsigned char *pk =
            buf + (n % d->npackets) * (uint64_t)d->packet_size;
        const struct usc_trace_packet *h = (const void *)pk;
        uint32_t end =
            n < last ? h->content_size : (uint32_t)(d->pos % d->packet_size);
        ck_assert_uint_eq(h->seq, n);
        ck_assert_uint_eq(h->commit, end);
        for (uint32_t off = sizeof(*h); off < end; off += tp_smp.size) {
            struct smp_record r;
            memcpy(&r, pk + off, sizeof(r));
            ck_assert_uint_eq(r.h.id, tp_smp.id);
            ck_assert_uint_eq(r.vcpu, v);
            ck_assert_uint_eq(r.n, *next);
            (*next)++;
            seen++;
        }
    }
    return seen;
}

START_TEST(test_stream_rings_count_every_event)
{
    init_agent();
    ck_assert_int_eq(usca_tracepoint_register(&tp_smp), 0);
    ck_assert_uint_eq(tp_smp.size, sizeof(struct smp_record));
    /* the host's part: every ring in stream mode, nothing consumed */
    for (uint32_t v = 0; v < NVCPUS; v++) {
        struct usc_trace_ring *d = ring_desc(v);
        d->tail = 0;
        d->stream_until = UINT64_MAX / 2;
        __atomic_store_n(&d->mode, USC_TRACE_STREAM, __ATOMIC_RELEASE);
    }
    run_vcpus(NVCPUS, emit_events);
    for (uint32_t v = 0; v < NVCPUS; v++) {
        const struct usc_trace_ring *d = ring_desc(v);
        uint64_t next = 0;
        uint64_t written = walk_ring(v, 0, &next);
        ck_assert_uint_eq(d->emitted, EVENTS);
        ck_assert_uint_gt(d->lost, 0);
        ck_assert_uint_eq(written + d->lost, d->emitted);
    }
}
END_TEST

START_TEST(test_overwrite_rings_keep_newest)
{
    init_agent();
    ck_assert_int_eq(usca_tracepoint_register(&tp_smp), 0);
    run_vcpus(NVCPUS, emit_events);
    for (uint32_t v = 0; v < NVCPUS; v++) {
        const struct usc_trace_ring *d = ring_desc(v);
        uint64_t last = d->pos / d->packet_size;
        /* the oldest packet still there, read from its first record */
        uint64_t first = last - (d->npackets - 1);
        const struct usc_trace_packet *h =
            (const void *)((const unsigned char *)(uintptr_t)d->buf.vaddr +
                           (first % d->npackets) * (uint64_t)d->packet_size);
        struct smp_record r;
        memcpy(&r, (const unsigned char *)h + sizeof(*h), sizeof(r));
        uint64_t next = r.n;
        walk_ring(v, first, &next);
        ck_assert_uint_eq(next, EVENTS);
        ck_assert_uint_eq(d->emitted, EVENTS);
        ck_assert_uint_eq(d->lost, 0);
    }
}
END_TEST

/* ---- the thread table from several schedulers -------------------------- */

#define POOL 12
#define SWITCHES 20000
#define CHURN 2000

/* The unikernel's run queue: which agent threads are free to be picked. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct usc_thread *pool[POOL];
static int pool_busy[POOL];
static uint64_t switched_in[NVCPUS];

static int take_thread(void)
{
    for (;;) {
        pthread_mutex_lock(&pool_lock);
        for (int i = 0; i < POOL; i++)
            if (!pool_busy[i]) {
                pool_busy[i] = 1;
                pthread_mutex_unlock(&pool_lock);
                return i;
            }
        pthread_mutex_unlock(&pool_lock);
    }
}

static void put_thread(int i)
{
    pthread_mutex_lock(&pool_lock);
    pool_busy[i] = 0;
    pthread_mutex_unlock(&pool_lock);
}

static void schedule_threads(uint32_t vcpu)
{
    struct usc_saved_regs regs = {.rip = 0x1000 + vcpu, .rsp = 0x8000};
    int cur = -1;

    /* threads made (and ended) on every vCPU at once */
    for (int i = 0; i < CHURN; i++) {
        struct usc_thread *t = usca_thread_create(10000 + vcpu, "churn");
        ck_assert_ptr_nonnull(t);
        usca_thread_rename(t, "churned");
        usca_thread_exit(t);
    }
    /* the pool's threads migrate: any vCPU picks any free one */
    for (int i = 0; i < SWITCHES; i++) {
        int next = take_thread();
        if (i % 7 == 0 && cur >= 0)
            usca_thread_set_state(pool[cur], USC_THREAD_BLOCKED, 0x4000);
        usca_thread_switch_regs(cur >= 0 ? pool[cur] : NULL, pool[next], &regs);
        switched_in[vcpu]++;
        if (cur >= 0)
            put_thread(cur); /* its registers are saved: free to run */
        cur = next;
    }
    usca_thread_switch_regs(pool[cur], NULL, &regs);
    put_thread(cur);
}

START_TEST(test_thread_table_from_several_schedulers)
{
    const struct usc_control_block *cb = init_agent();
    const struct usc_thread *slots =
        (const struct usc_thread *)(uintptr_t)cb->threads.at.vaddr;
    for (int i = 0; i < POOL; i++) {
        char name[16];
        snprintf(name, sizeof(name), "pool-%d", i);
        pool[i] = usca_thread_create((uint32_t)i + 1, name);
        ck_assert_ptr_nonnull(pool[i]);
    }
    run_vcpus(NVCPUS, schedule_threads);

    uint64_t switches = 0, expected = 0, vcpu_switches = 0;
    int live = 0;
    ck_assert_uint_le(cb->threads_used, POOL + NVCPUS);
    for (uint32_t i = 0; i < cb->threads_used; i++) {
        const struct usc_thread *t = &slots[i];
        ck_assert_uint_eq(t->seq % 2, 0);
        ck_assert_uint_lt(t->vcpu, NVCPUS);
        if (t->state == USC_THREAD_EXITED) {
            ck_assert_str_eq(t->name, "churned");
            continue;
        }
        ck_assert(t->state == USC_THREAD_RUNNABLE ||
                  t->state == USC_THREAD_BLOCKED);
        ck_assert_uint_eq(t->id, i + 1);
        switches += t->switches;
        live++;
    }
    ck_assert_int_eq(live, POOL);
    for (uint32_t v = 0; v < NVCPUS; v++) {
        expected += switched_in[v];
        vcpu_switches += vcpu_entry(v)->switches;
        ck_assert_uint_eq(vcpu_entry(v)->thread_id, 0);
        ck_assert_uint_gt(vcpu_entry(v)->busy_time, 0);
    }
    ck_assert_uint_eq(switches, expected);
    /* each switch in, plus each vCPU's last switch to idle */
    ck_assert_uint_eq(vcpu_switches, expected + NVCPUS);
}
END_TEST

/* ---- the log ring ------------------------------------------------------ */

#define LINES 2000

static void log_lines(uint32_t vcpu)
{
    char line[32];
    for (int i = 0; i < LINES; i++) {
        int n = snprintf(line, sizeof(line), "vcpu %u line %05d\n", vcpu, i);
        usca_log_write(line, (size_t)n);
    }
}

START_TEST(test_log_lines_stay_whole)
{
    const struct usc_control_block *cb = init_agent();
    run_vcpus(NVCPUS, log_lines);
    ck_assert_uint_eq(cb->log_head, (uint64_t)NVCPUS * LINES * 18);
    ck_assert_uint_eq(cb->log_reserve, cb->log_head);
    /* every line in the ring is one vCPU's, whole: 18 bytes each, and the
     * head is a multiple of 18, so lines start at head - 18 k */
    const char *ring = (const char *)(uintptr_t)cb->log.at.vaddr;
    uint64_t cap = cb->log.capacity;
    for (uint64_t end = cb->log_head;
         end >= 18 && cb->log_head - end + 18 <= cap; end -= 18) {
        char l[19];
        for (int k = 0; k < 18; k++)
            l[k] = ring[(end - 18 + (uint64_t)k) % cap];
        l[18] = 0;
        unsigned v;
        int n;
        ck_assert_msg(sscanf(l, "vcpu %u line %05d\n", &v, &n) == 2, "torn: %s",
                      l);
        ck_assert_uint_lt(v, NVCPUS);
    }
}
END_TEST

/* ---- panics on several vCPUs at once ----------------------------------- */

static void panic_now(uint32_t vcpu)
{
    const struct usc_control_block *cb = usca_control_block();
    const struct usc_panic *p =
        (const struct usc_panic *)(uintptr_t)cb->panic.at.vaddr;
    struct usc_regs regs = {.rip = 0x100 + vcpu};
    struct usca_fault f = {.vector = 14, .cr2 = vcpu, .regs = &regs};
    char reason[32];

    if (vcpu >= 2)
        return; /* vCPUs 0 and 1 panic; 2 and 3 look on */
    snprintf(reason, sizeof(reason), "fault on vcpu %u", vcpu);
    usca_panic_record(reason, &f);
    /* Whoever returns, first or second: the record is whole, the state
     * says so, and the log has the line. */
    ck_assert_uint_eq(__atomic_load_n(&p->valid, __ATOMIC_ACQUIRE), 1);
    ck_assert_uint_eq(__atomic_load_n(&p->seq, __ATOMIC_ACQUIRE) % 2, 0);
    ck_assert_uint_eq(__atomic_load_n(&cb->state, __ATOMIC_ACQUIRE),
                      USC_STATE_PANICKED);
    ck_assert_uint_ge(__atomic_load_n(&cb->log_head, __ATOMIC_ACQUIRE), 7);
}

START_TEST(test_two_panics_at_once_one_record)
{
    const struct usc_control_block *cb = init_agent();
    const struct usc_panic *p =
        (const struct usc_panic *)(uintptr_t)cb->panic.at.vaddr;
    run_vcpus(NVCPUS, panic_now);
    ck_assert_uint_eq(p->count, 2);
    ck_assert_uint_lt(p->vcpu, 2);
    ck_assert_uint_eq(p->cr2, p->vcpu);
    ck_assert_uint_eq(p->regs.rip, 0x100 + p->vcpu);
    char want[32];
    snprintf(want, sizeof(want), "fault on vcpu %u", p->vcpu);
    ck_assert_str_eq(p->reason, want);
    ck_assert_uint_eq(cb->panic_others, USC_PANIC_OTHERS_RUNNING);
    ck_assert_uint_eq(vcpu_entry(0)->state, USC_VCPU_PANICKED);
    ck_assert_uint_eq(vcpu_entry(1)->state, USC_VCPU_PANICKED);
    ck_assert_uint_eq(vcpu_entry(2)->state, USC_VCPU_ONLINE);
}
END_TEST

/* The stop hook's "IPI": the other vCPUs look at it in their loop. */
static int stop_requested;

static void request_stop(void)
{
    __atomic_store_n(&stop_requested, 1, __ATOMIC_RELEASE);
}

static void run_until_stopped(uint32_t vcpu)
{
    struct usc_metric *m = usca_metric_register("work", "", USC_METRIC_COUNTER);

    if (vcpu == 3) {
        for (int i = 0; i < 1000; i++)
            usca_counter_add(m, 1);
        usca_panic_record("vcpu 3 gives up", NULL);
        return;
    }
    while (!__atomic_load_n(&stop_requested, __ATOMIC_ACQUIRE)) {
        usca_counter_add(m, 1);
        usca_tick();
    }
    usca_vcpu_stopped();
}

START_TEST(test_panic_stops_other_vcpus)
{
    const struct usc_control_block *cb = init_agent();
    const struct usc_panic *p =
        (const struct usc_panic *)(uintptr_t)cb->panic.at.vaddr;
    usca_panic_set_stop(request_stop);
    run_vcpus(NVCPUS, run_until_stopped);
    ck_assert_uint_eq(p->vcpu, 3);
    ck_assert_uint_eq(p->count, 1);
    ck_assert_uint_eq(cb->panic_others, USC_PANIC_OTHERS_STOPPED);
    for (uint32_t v = 0; v < 3; v++)
        ck_assert_uint_eq(vcpu_entry(v)->state, USC_VCPU_STOPPED);
    ck_assert_uint_eq(vcpu_entry(3)->state, USC_VCPU_PANICKED);
}
END_TEST

static Suite *agent_smp_suite(void)
{
    Suite *s = suite_create("agent_smp");
    TCase *tc = tcase_create("concurrent");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_metrics_from_all_vcpus);
    tcase_add_test(tc, test_stream_rings_count_every_event);
    tcase_add_test(tc, test_overwrite_rings_keep_newest);
    tcase_add_test(tc, test_thread_table_from_several_schedulers);
    tcase_add_test(tc, test_log_lines_stay_whole);
    tcase_add_test(tc, test_two_panics_at_once_one_record);
    tcase_add_test(tc, test_panic_stops_other_vcpus);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(agent_smp_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
