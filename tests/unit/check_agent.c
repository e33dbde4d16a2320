/* Unit tests of the guest agent, compiled for the host with a fake port. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uniscope/agent.h>

/* ---- the port, as a test controls it ---------------------------------- */

static uint64_t fake_now = 1000;
static uint32_t fake_vcpu;
static int irq_depth;

uint64_t usca_port_timestamp(void)
{
    return fake_now;
}

uint32_t usca_port_vcpu(void)
{
    return fake_vcpu;
}

unsigned long usca_port_irq_save(void)
{
    return (unsigned long)irq_depth++;
}

void usca_port_irq_restore(unsigned long flags)
{
    irq_depth = (int)flags;
}

/* A made-up but recognisable physical mapping: virtual minus 0x1000. */
uint64_t usca_port_virt_to_phys(const void *vaddr)
{
    return (uint64_t)(uintptr_t)vaddr - 0x1000;
}

static const uint8_t build_id[20] = {0xde, 0xad, 0xbe, 0xef, 1,  2, 3,
                                     4,    5,    6,    7,    8,  9, 10,
                                     11,   12,   13,   14,   15, 16};

static const struct usc_control_block *init_agent(void)
{
    struct usca_config cfg = {.name = "unit-guest",
                              .build_id = build_id,
                              .build_id_len = sizeof(build_id),
                              .max_vcpus = 2,
                              .ts_hz = 1000000};
    ck_assert_int_eq(usca_init(&cfg), 0);
    return usca_control_block();
}

/* ---- init and the control block --------------------------------------- */

START_TEST(test_init_publishes_valid_block)
{
    const struct usc_control_block *cb = init_agent();
    ck_assert_ptr_nonnull(cb);
    ck_assert_uint_eq(cb->magic, USC_ABI_MAGIC);
    ck_assert_uint_eq(cb->abi_version, USC_ABI_VERSION);
    ck_assert_uint_eq(cb->size, sizeof(*cb));
    ck_assert_uint_eq((uintptr_t)cb % USC_ABI_PAGE_SIZE, 0);
    ck_assert_uint_eq(cb->checksum, usc_abi_checksum(cb, cb->header_size));
    ck_assert_uint_eq(cb->self_vaddr, (uintptr_t)cb);
    ck_assert_uint_eq(cb->self_paddr, (uintptr_t)cb - 0x1000);
    ck_assert_str_eq(cb->name, "unit-guest");
    ck_assert_uint_eq(cb->build_id_len, 20);
    ck_assert_mem_eq(cb->build_id, build_id, 20);
    ck_assert_uint_eq(cb->ts_hz, 1000000);
    ck_assert_uint_eq(cb->boot_ts, 1000);
    ck_assert_uint_eq(cb->state, USC_STATE_RUNNING);
    ck_assert_uint_eq(cb->log.capacity & (cb->log.capacity - 1), 0);
    ck_assert_uint_eq(cb->panic.capacity, 1);
    ck_assert_uint_eq(cb->metrics.entry_size, sizeof(struct usc_metric));
    ck_assert_uint_eq(cb->threads.entry_size, sizeof(struct usc_thread));
    ck_assert_uint_eq(cb->threads.at.paddr, cb->threads.at.vaddr - 0x1000);
    ck_assert_uint_eq(cb->tracepoints.entry_size,
                      sizeof(struct usc_tracepoint));
    ck_assert_uint_eq(cb->trace_rings.capacity, cb->max_vcpus);
    ck_assert_int_eq(irq_depth, 0);
}
END_TEST

START_TEST(test_init_twice_or_bad_config_fails)
{
    ck_assert_int_eq(usca_init(NULL), -22);
    struct usca_config bad = {.build_id_len = 4};
    ck_assert_int_eq(usca_init(&bad), -22);
    ck_assert_ptr_null(usca_control_block());
    init_agent();
    struct usca_config again = {.name = "again"};
    ck_assert_int_eq(usca_init(&again), -22);
    ck_assert_str_eq(usca_control_block()->name, "unit-guest");
}
END_TEST

START_TEST(test_long_name_and_build_id_truncated)
{
    char name[200];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = 0;
    uint8_t id[64] = {7};
    struct usca_config cfg = {
        .name = name, .build_id = id, .build_id_len = sizeof(id)};
    ck_assert_int_eq(usca_init(&cfg), 0);
    const struct usc_control_block *cb = usca_control_block();
    ck_assert_uint_eq(strlen(cb->name), USC_GUEST_NAME_MAX - 1);
    ck_assert_uint_eq(cb->build_id_len, USC_BUILD_ID_MAX);
    ck_assert_uint_eq(cb->max_vcpus, 1);
}
END_TEST

START_TEST(test_calls_before_init_do_nothing)
{
    ck_assert_ptr_null(usca_metric_register("m", "", USC_METRIC_COUNTER));
    ck_assert_ptr_null(usca_thread_create(1, "t"));
    usca_log_write("x", 1);
    usca_tick();
    usca_panic_record("early", NULL);
    usca_thread_switch(NULL, NULL);
    ck_assert_ptr_null(usca_control_block());
}
END_TEST

START_TEST(test_tick_and_state)
{
    const struct usc_control_block *cb = init_agent();
    fake_now = 5000;
    usca_tick();
    ck_assert_uint_eq(cb->heartbeat_ts, 5000);
    usca_vcpu_online(0);
    usca_vcpu_online(1);
    usca_vcpu_online(40); /* beyond the bitmap: ignored */
    ck_assert_uint_eq(cb->vcpus_online, 3);
    usca_set_state(USC_STATE_HALTED);
    ck_assert_uint_eq(cb->state, USC_STATE_HALTED);
}
END_TEST

static const struct usc_vcpu *vcpu_entry(const struct usc_control_block *cb,
                                         uint32_t v)
{
    return (const struct usc_vcpu *)(uintptr_t)cb->vcpus.at.vaddr + v;
}

START_TEST(test_vcpu_table_online_and_ticks)
{
    const struct usc_control_block *cb = init_agent(); /* 2 vCPUs */
    ck_assert_uint_eq(cb->vcpus.capacity, 2);
    ck_assert_uint_eq(cb->vcpus.entry_size, sizeof(struct usc_vcpu));
    ck_assert_uint_eq(cb->vcpus.at.paddr, cb->vcpus.at.vaddr - 0x1000);
    ck_assert_uint_eq(cb->features & USC_FEATURE_RING_EMITTED,
                      USC_FEATURE_RING_EMITTED);
    ck_assert_uint_eq(vcpu_entry(cb, 1)->vcpu, 1);
    ck_assert_uint_eq(vcpu_entry(cb, 1)->state, USC_VCPU_OFFLINE);
    fake_now = 3000;
    usca_vcpu_online(1);
    ck_assert_uint_eq(vcpu_entry(cb, 1)->state, USC_VCPU_ONLINE);
    ck_assert_uint_eq(vcpu_entry(cb, 1)->since, 3000);
    usca_vcpu_online(2); /* beyond max_vcpus: the bitmap only */
    fake_vcpu = 1;
    fake_now = 3100;
    usca_tick();
    usca_tick();
    ck_assert_uint_eq(vcpu_entry(cb, 1)->ticks, 2);
    ck_assert_uint_eq(vcpu_entry(cb, 1)->heartbeat_ts, 3100);
    ck_assert_uint_eq(vcpu_entry(cb, 0)->ticks, 0);
    ck_assert_uint_eq(vcpu_entry(cb, 1)->seq % 2, 0);
    fake_vcpu = 0;
    ck_assert_int_eq(irq_depth, 0);
}
END_TEST

/* ---- metrics ---------------------------------------------------------- */

START_TEST(test_metrics_counters_and_gauges)
{
    const struct usc_control_block *cb = init_agent();
    struct usc_metric *c =
        usca_metric_register("requests", "", USC_METRIC_COUNTER);
    struct usc_metric *g =
        usca_metric_register("heap_used", "bytes", USC_METRIC_GAUGE);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(cb->metrics_count, 2);
    usca_counter_add(c, 3);
    usca_counter_add(c, 4);
    usca_gauge_set(g, 100);
    usca_gauge_add(g, -30);
    ck_assert_uint_eq(c->value, 7);
    ck_assert_int_eq((int64_t)g->value, 70);
    usca_gauge_set(g, -5);
    ck_assert_int_eq((int64_t)g->value, -5);
    ck_assert_str_eq(g->unit, "bytes");
    ck_assert_uint_eq(g->kind, USC_METRIC_GAUGE);
    /* The published slots are the table's first entries. */
    ck_assert_ptr_eq(c, (struct usc_metric *)(uintptr_t)cb->metrics.at.vaddr);
    /* NULL handles are harmless. */
    usca_counter_add(NULL, 1);
    usca_gauge_set(NULL, 1);
    ck_assert_int_eq(irq_depth, 0);
}
END_TEST

START_TEST(test_metric_registered_twice_is_one_slot)
{
    const struct usc_control_block *cb = init_agent();
    struct usc_metric *a = usca_metric_register("x", "", USC_METRIC_COUNTER);
    struct usc_metric *b = usca_metric_register("x", "", USC_METRIC_COUNTER);
    ck_assert_ptr_eq(a, b);
    ck_assert_uint_eq(cb->metrics_count, 1);
    ck_assert_ptr_null(usca_metric_register("", "", USC_METRIC_COUNTER));
    ck_assert_ptr_null(usca_metric_register("bad-kind", "", 9));
}
END_TEST

START_TEST(test_metrics_table_full)
{
    const struct usc_control_block *cb = init_agent();
    char name[16];
    uint32_t cap = cb->metrics.capacity;
    for (uint32_t i = 0; i < cap; i++) {
        snprintf(name, sizeof(name), "m%u", i);
        ck_assert_ptr_nonnull(
            usca_metric_register(name, "", USC_METRIC_COUNTER));
    }
    ck_assert_ptr_null(
        usca_metric_register("one-more", "", USC_METRIC_COUNTER));
    ck_assert_uint_eq(cb->metrics_count, cap);
    ck_assert_int_eq(irq_depth, 0);
}
END_TEST

START_TEST(test_metric_long_name_truncated)
{
    init_agent();
    struct usc_metric *m =
        usca_metric_register("a_metric_name_that_is_far_longer_than_its_field",
                             "a_unit_too_long_too", USC_METRIC_GAUGE);
    ck_assert_uint_eq(strlen(m->name), USC_NAME_MAX - 1);
    ck_assert_uint_eq(strlen(m->unit), USC_UNIT_MAX - 1);
}
END_TEST

/* ---- threads ---------------------------------------------------------- */

START_TEST(test_thread_create_rename_exit)
{
    const struct usc_control_block *cb = init_agent();
    struct usc_thread *a = usca_thread_create(7, "net-rx");
    struct usc_thread *b = usca_thread_create(8, "timer");
    ck_assert_uint_eq(a->id, 7);
    ck_assert_str_eq(a->name, "net-rx");
    ck_assert_uint_eq(a->state, USC_THREAD_RUNNABLE);
    ck_assert_uint_eq(cb->threads_used, 2);
    usca_thread_rename(b, "timer-wheel");
    ck_assert_str_eq(b->name, "timer-wheel");
    usca_thread_exit(a);
    ck_assert_uint_eq(a->state, USC_THREAD_EXITED);
    /* An exited slot is reused; the high-water mark stays. */
    struct usc_thread *c = usca_thread_create(9, "worker");
    ck_assert_ptr_eq(c, a);
    ck_assert_uint_eq(cb->threads_used, 2);
    ck_assert_uint_eq(a->seq % 2, 0);
    ck_assert_uint_eq(b->seq % 2, 0);
    ck_assert_int_eq(irq_depth, 0);
}
END_TEST

START_TEST(test_thread_table_full)
{
    const struct usc_control_block *cb = init_agent();
    for (uint32_t i = 0; i < cb->threads.capacity; i++)
        ck_assert_ptr_nonnull(usca_thread_create(i + 1, "t"));
    ck_assert_ptr_null(usca_thread_create(999, "extra"));
}
END_TEST

START_TEST(test_switch_regs_saved_and_time_accounted)
{
    init_agent();
    struct usc_thread *a = usca_thread_create(1, "a");
    struct usc_thread *b = usca_thread_create(2, "b");
    fake_now = 2000;
    fake_vcpu = 1;
    usca_thread_switch_regs(NULL, a, NULL);
    ck_assert_uint_eq(a->state, USC_THREAD_RUNNING);
    ck_assert_uint_eq(a->switches, 1);

    fake_now = 2500;
    struct usc_saved_regs r = {.rip = 0x1111,
                               .rsp = 0x2222,
                               .rbp = 0x3333,
                               .rbx = 4,
                               .r12 = 12,
                               .r13 = 13,
                               .r14 = 14,
                               .r15 = 15};
    usca_thread_set_state(a, USC_THREAD_BLOCKED, 0xabc0);
    ck_assert_uint_eq(a->wait_obj, 0xabc0);
    usca_thread_switch_regs(a, b, &r);
    /* BLOCKED stays BLOCKED, and the time it ran before blocking counts. */
    ck_assert_uint_eq(a->state, USC_THREAD_BLOCKED);
    ck_assert_uint_eq(a->cpu_time, 500);
    ck_assert_mem_eq(&a->regs, &r, sizeof(r));
    ck_assert_uint_eq(b->state, USC_THREAD_RUNNING);
    ck_assert_uint_eq(b->vcpu, 1);
    ck_assert_uint_eq(b->last_switch_ts, 2500);

    fake_now = 2600;
    usca_thread_switch_regs(b, a, &r);
    ck_assert_uint_eq(b->state, USC_THREAD_RUNNABLE);
    ck_assert_uint_eq(b->cpu_time, 100);
    ck_assert_uint_eq(a->wait_obj, 0);
    ck_assert_uint_eq(a->switches, 2);
    ck_assert_int_eq(irq_depth, 0);
}
END_TEST

START_TEST(test_vcpu_busy_time_follows_switches)
{
    const struct usc_control_block *cb = init_agent();
    const struct usc_vcpu *e = vcpu_entry(cb, 1);
    struct usc_thread *a = usca_thread_create(1, "a");
    fake_vcpu = 1;
    fake_now = 2000;
    usca_vcpu_online(1);
    fake_now = 2100;
    usca_thread_switch_regs(NULL, a, NULL); /* idle 100: not busy */
    ck_assert_uint_eq(e->busy_time, 0);
    ck_assert_uint_eq(e->thread_id, 1);
    ck_assert_uint_eq(e->since, 2100);
    fake_now = 2400;
    usca_thread_switch_regs(a, NULL, NULL); /* ran a for 300 */
    ck_assert_uint_eq(e->busy_time, 300);
    ck_assert_uint_eq(e->thread_id, 0);
    ck_assert_uint_eq(e->switches, 2);
    /* a migrates: it runs on vCPU 0 next */
    fake_vcpu = 0;
    fake_now = 2500;
    usca_thread_switch_regs(NULL, a, NULL);
    ck_assert_uint_eq(a->vcpu, 0);
    ck_assert_uint_eq(vcpu_entry(cb, 0)->thread_id, 1);
    ck_assert_uint_eq(e->busy_time, 300);
}
END_TEST

START_TEST(test_spinning_thread_flagged)
{
    init_agent();
    struct usc_thread *a = usca_thread_create(1, "a");
    usca_thread_switch_regs(NULL, a, NULL);
    usca_thread_set_state(a, USC_THREAD_RUNNING, 0x5000);
    ck_assert_uint_eq(a->state, USC_THREAD_RUNNING);
    ck_assert_uint_eq(a->wait_obj, 0x5000);
    ck_assert_uint_eq(a->flags, USC_THREAD_SPINNING);
    usca_thread_set_state(a, USC_THREAD_RUNNING, 0); /* got it */
    ck_assert_uint_eq(a->flags, 0);
    usca_thread_set_state(a, USC_THREAD_BLOCKED, 0x5000);
    ck_assert_uint_eq(a->flags, 0);
}
END_TEST

/* Calls usca_thread_switch from a known frame and reports where it was. */
static __attribute__((noinline)) void switch_from_here(struct usc_thread *p,
                                                       uintptr_t *sp_after)
{
    usca_thread_switch(p, NULL);
    *sp_after = (uintptr_t)__builtin_frame_address(0);
}

START_TEST(test_switch_captures_callers_registers)
{
    init_agent();
    struct usc_thread *a = usca_thread_create(1, "a");
    usca_thread_switch_regs(NULL, a, NULL);
    uintptr_t frame = 0;
    switch_from_here(a, &frame);
    /* rip: a return address inside switch_from_here's code. */
    uintptr_t fn = (uintptr_t)switch_from_here;
    ck_assert_uint_gt(a->regs.rip, fn);
    ck_assert_uint_lt(a->regs.rip, fn + 256);
    /* rsp: in the caller's frame, below its frame pointer. */
    ck_assert_uint_ne(a->regs.rsp, 0);
    ck_assert_uint_le(a->regs.rsp, frame + 16);
    ck_assert_uint_gt(a->regs.rsp, frame - 4096);
    ck_assert_uint_eq(a->regs.rsp % 8, 0);
    ck_assert_uint_eq(a->state, USC_THREAD_RUNNABLE);
}
END_TEST

/* ---- log ring --------------------------------------------------------- */

static const char *ring_of(const struct usc_control_block *cb)
{
    return (const char *)(uintptr_t)cb->log.at.vaddr;
}

START_TEST(test_log_ring_holds_text)
{
    const struct usc_control_block *cb = init_agent();
    usca_log_write("hello ", 6);
    usca_log_write("world\n", 6);
    ck_assert_uint_eq(cb->log_head, 12);
    ck_assert_uint_eq(cb->log_reserve, 12);
    ck_assert_mem_eq(ring_of(cb), "hello world\n", 12);
    usca_log_write(NULL, 5);
    usca_log_write("x", 0);
    ck_assert_uint_eq(cb->log_head, 12);
}
END_TEST

START_TEST(test_log_ring_wraps)
{
    const struct usc_control_block *cb = init_agent();
    uint32_t cap = cb->log.capacity;
    char line[100];
    uint64_t total = 0;
    for (int i = 0; total < 3ull * cap; i++) {
        int n = snprintf(line, sizeof(line), "line %06d\n", i);
        usca_log_write(line, (size_t)n);
        total += (uint64_t)n;
    }
    ck_assert_uint_eq(cb->log_head, total);
    /* The newest bytes sit just below head, modulo the capacity. */
    const char *ring = ring_of(cb);
    char last[12];
    for (int i = 0; i < 12; i++)
        last[i] = ring[(total - 12 + (uint64_t)i) % cap];
    ck_assert_mem_eq(last + 5, line + strlen(line) - 7, 7);
    ck_assert_int_eq(irq_depth, 0);
}
END_TEST

START_TEST(test_log_write_longer_than_ring)
{
    const struct usc_control_block *cb = init_agent();
    uint32_t cap = cb->log.capacity;
    size_t len = (size_t)cap * 2 + 3;
    char *big = malloc(len);
    for (size_t i = 0; i < len; i++)
        big[i] = (char)('a' + i % 26);
    usca_log_write(big, len);
    /* Only the newest ring-full is kept, and head counts what is kept. */
    ck_assert_uint_eq(cb->log_head, cap);
    const char *ring = ring_of(cb);
    ck_assert_int_eq(ring[cap - 1], big[len - 1]);
    ck_assert_int_eq(ring[0], big[len - cap]);
    free(big);
}
END_TEST

/* ---- panic record ----------------------------------------------------- */

START_TEST(test_panic_record_full_frame)
{
    const struct usc_control_block *cb = init_agent();
    const struct usc_panic *p =
        (const struct usc_panic *)(uintptr_t)cb->panic.at.vaddr;
    struct usc_thread *t = usca_thread_create(42, "crasher");
    usca_thread_switch_regs(NULL, t, NULL);
    ck_assert_uint_eq(p->valid, 0);

    struct usc_regs regs;
    uint64_t *w = (uint64_t *)&regs;
    for (size_t i = 0; i < sizeof(regs) / 8; i++)
        w[i] = 0x100 + i;
    struct usca_fault f = {
        .vector = 14, .error_code = 2, .cr2 = 0xdeadbeef, .regs = &regs};
    fake_now = 9999;
    usca_panic_record("page fault", &f);

    ck_assert_uint_eq(p->valid, 1);
    ck_assert_uint_eq(p->seq % 2, 0);
    ck_assert_uint_eq(p->vector, 14);
    ck_assert_uint_eq(p->error_code, 2);
    ck_assert_uint_eq(p->cr2, 0xdeadbeef);
    ck_assert_uint_eq(p->timestamp, 9999);
    ck_assert_uint_eq(p->thread_id, 42);
    ck_assert_uint_eq(p->vcpu, 0);
    ck_assert_uint_eq(p->count, 1);
    ck_assert_str_eq(p->reason, "page fault");
    ck_assert_mem_eq(&p->regs, &regs, sizeof(regs));
    ck_assert_uint_eq(cb->state, USC_STATE_PANICKED);
    ck_assert_mem_eq(ring_of(cb), "PANIC: page fault\n", 18);
    ck_assert_int_eq(irq_depth, 0);
}
END_TEST

START_TEST(test_first_panic_wins)
{
    const struct usc_control_block *cb = init_agent();
    const struct usc_panic *p =
        (const struct usc_panic *)(uintptr_t)cb->panic.at.vaddr;
    usca_panic_record("assertion failed: x > 0", NULL);
    struct usca_fault f = {.vector = 13};
    usca_panic_record("second", &f);
    ck_assert_str_eq(p->reason, "assertion failed: x > 0");
    ck_assert_uint_eq(p->vector, USC_PANIC_NO_VECTOR);
    ck_assert_uint_eq(p->count, 2);
    ck_assert_uint_eq(p->thread_id, 0);
    ck_assert_uint_eq(p->regs.rip, 0);
}
END_TEST

START_TEST(test_panic_says_others_running_by_default)
{
    const struct usc_control_block *cb = init_agent();
    ck_assert_uint_eq(cb->panic_others, USC_PANIC_OTHERS_UNSAID);
    fake_vcpu = 1;
    usca_panic_record("boom", NULL);
    ck_assert_uint_eq(cb->panic_others, USC_PANIC_OTHERS_RUNNING);
    ck_assert_uint_eq(vcpu_entry(cb, 1)->state, USC_VCPU_PANICKED);
    ck_assert_uint_eq(vcpu_entry(cb, 0)->state, USC_VCPU_OFFLINE);
    fake_vcpu = 0;
}
END_TEST

static int stops_asked;

/* A stop hook, as a unikernel's IPI would run it on the other vCPU. */
static void stop_vcpu_zero(void)
{
    uint32_t self = fake_vcpu;
    stops_asked++;
    fake_vcpu = 0;
    usca_vcpu_stopped();
    fake_vcpu = self;
}

START_TEST(test_panic_stops_others_through_hook)
{
    const struct usc_control_block *cb = init_agent();
    usca_vcpu_online(0);
    usca_vcpu_online(1);
    usca_panic_set_stop(stop_vcpu_zero);
    fake_vcpu = 1;
    usca_panic_record("boom", NULL);
    ck_assert_int_eq(stops_asked, 1);
    ck_assert_uint_eq(cb->panic_others, USC_PANIC_OTHERS_STOPPED);
    ck_assert_uint_eq(vcpu_entry(cb, 0)->state, USC_VCPU_STOPPED);
    ck_assert_uint_eq(vcpu_entry(cb, 1)->state, USC_VCPU_PANICKED);
    ck_assert_uint_eq(cb->state, USC_STATE_PANICKED);
    /* a second panic neither stops again nor waits for itself */
    usca_panic_record("again", NULL);
    ck_assert_int_eq(stops_asked, 1);
    ck_assert_int_eq(irq_depth, 0);
    fake_vcpu = 0;
}
END_TEST

static Suite *agent_suite(void)
{
    Suite *s = suite_create("agent");
    TCase *tc = tcase_create("init");
    tcase_add_test(tc, test_init_publishes_valid_block);
    tcase_add_test(tc, test_init_twice_or_bad_config_fails);
    tcase_add_test(tc, test_long_name_and_build_id_truncated);
    tcase_add_test(tc, test_calls_before_init_do_nothing);
    tcase_add_test(tc, test_tick_and_state);
    tcase_add_test(tc, test_vcpu_table_online_and_ticks);
    suite_add_tcase(s, tc);

    tc = tcase_create("metrics");
    tcase_add_test(tc, test_metrics_counters_and_gauges);
    tcase_add_test(tc, test_metric_registered_twice_is_one_slot);
    tcase_add_test(tc, test_metrics_table_full);
    tcase_add_test(tc, test_metric_long_name_truncated);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_add_test(tc, test_thread_create_rename_exit);
    tcase_add_test(tc, test_thread_table_full);
    tcase_add_test(tc, test_switch_regs_saved_and_time_accounted);
    tcase_add_test(tc, test_switch_captures_callers_registers);
    tcase_add_test(tc, test_vcpu_busy_time_follows_switches);
    tcase_add_test(tc, test_spinning_thread_flagged);
    suite_add_tcase(s, tc);

    tc = tcase_create("log");
    tcase_add_test(tc, test_log_ring_holds_text);
    tcase_add_test(tc, test_log_ring_wraps);
    tcase_add_test(tc, test_log_write_longer_than_ring);
    suite_add_tcase(s, tc);

    tc = tcase_create("panic");
    tcase_add_test(tc, test_panic_record_full_frame);
    tcase_add_test(tc, test_first_panic_wins);
    tcase_add_test(tc, test_panic_says_others_running_by_default);
    tcase_add_test(tc, test_panic_stops_others_through_hook);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(agent_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
