/* Unit tests of the host's agent reader over hand-built guest images. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent_reader.h"

/*
 * The fake guest: RAM_SIZE bytes at guest-physical 0 (paddr == offset),
 * the control block on page 2 and its tables after it, as an agent would
 * lay them out. Each test starts from a valid image (setup) and breaks it.
 */
#define PAGE USC_ABI_PAGE_SIZE
#define RAM_SIZE (8 * PAGE)
#define CB_PADDR (2 * PAGE)
#define PANIC_PADDR (3 * PAGE)
#define METRICS_PADDR (PANIC_PADDR + 0x200)
#define NMETRICS 8
#define THREADS_PADDR (METRICS_PADDR + NMETRICS * sizeof(struct usc_metric))
#define NTHREADS 4
#define LOG_PADDR (4 * PAGE)
#define VCPUS_PADDR (5 * PAGE)
#define LOG_CAP 256u
#define TS_HZ 1000000000ull
#define BOOT_TS 5000ull

static _Alignas(PAGE) unsigned char ram[RAM_SIZE];
static struct usc_physmem pm;

static struct usc_control_block *cb_at(uint64_t paddr)
{
    return (struct usc_control_block *)(ram + paddr);
}

#define CB cb_at(CB_PADDR)
#define METRIC(i) ((struct usc_metric *)(ram + METRICS_PADDR) + (i))
#define THREAD(i) ((struct usc_thread *)(ram + THREADS_PADDR) + (i))
#define PANIC ((struct usc_panic *)(ram + PANIC_PADDR))
#define VCPU(i) ((struct usc_vcpu *)(ram + VCPUS_PADDR) + (i))

/* Recompute the header checksum after a test changed the header. */
static void seal(struct usc_control_block *cb)
{
    cb->checksum = usc_abi_checksum(cb, USC_CB_HEADER_SIZE);
}

static void table(struct usc_table *t, uint64_t paddr, uint32_t entry_size,
                  uint32_t capacity)
{
    t->at.paddr = paddr;
    t->at.vaddr = 0xffffffff80000000ull + paddr;
    t->entry_size = entry_size;
    t->capacity = capacity;
}

static void build_header(struct usc_control_block *cb)
{
    cb->magic = USC_ABI_MAGIC;
    cb->abi_version = USC_ABI_VERSION;
    cb->size = sizeof(*cb);
    cb->header_size = USC_CB_HEADER_SIZE;
    cb->self_paddr = CB_PADDR;
    cb->self_vaddr = 0xffffffff80000000ull + CB_PADDR;
    cb->ts_hz = TS_HZ;
    cb->boot_ts = BOOT_TS;
    cb->max_vcpus = 2;
    cb->build_id_len = 20;
    memset(cb->build_id, 0xab, 20);
    strcpy(cb->name, "demo");
    table(&cb->metrics, METRICS_PADDR, sizeof(struct usc_metric), NMETRICS);
    table(&cb->threads, THREADS_PADDR, sizeof(struct usc_thread), NTHREADS);
    table(&cb->tracepoints, 0, sizeof(struct usc_tracepoint), 0);
    table(&cb->trace_rings, 0, sizeof(struct usc_trace_ring), 0);
    table(&cb->log, LOG_PADDR, 1, LOG_CAP);
    table(&cb->panic, PANIC_PADDR, sizeof(struct usc_panic), 1);
    table(&cb->vcpus, VCPUS_PADDR, sizeof(struct usc_vcpu), 2);
    cb->features = USC_FEATURE_RING_EMITTED;
    seal(cb);
}

static void metric(uint32_t i, const char *name, const char *unit,
                   uint32_t kind, uint64_t value)
{
    struct usc_metric *m = METRIC(i);
    m->value = value;
    m->kind = kind;
    strcpy(m->name, name);
    strcpy(m->unit, unit);
}

static void thread(uint32_t i, uint32_t id, const char *name, uint32_t state,
                   uint32_t vcpu)
{
    struct usc_thread *t = THREAD(i);
    t->seq = 2 * (i + 1);
    t->id = id;
    t->state = state;
    t->vcpu = vcpu;
    t->cpu_time = 1000 * id;
    t->switches = id;
    strcpy(t->name, name);
    for (int r = 0; r < 8; r++)
        ((uint64_t *)&t->regs)[r] = 0x1000ull * id + (uint64_t)r;
}

/* The byte the guest logs at log position (p): a recognisable pattern. */
static char log_byte(uint64_t p)
{
    return (char)('a' + p % 26);
}

/* The guest logs up to position (upto), as the agent does. */
static void guest_log_to(uint64_t upto)
{
    for (uint64_t p = CB->log_head; p < upto; p++)
        ram[LOG_PADDR + p % LOG_CAP] = (unsigned char)log_byte(p);
    CB->log_head = upto;
    CB->log_reserve = upto;
}

static void setup(void)
{
    memset(ram, 0, sizeof(ram));
    build_header(CB);
    metric(0, "requests", "", USC_METRIC_COUNTER, 42);
    metric(1, "temperature", "celsius", USC_METRIC_GAUGE, (uint64_t)-5);
    metric(2, "bytes_in", "bytes", USC_METRIC_COUNTER, 1ull << 40);
    CB->metrics_count = 3;
    thread(0, 1, "main", USC_THREAD_RUNNING, 0);
    thread(2, 7, "worker", USC_THREAD_BLOCKED, 1);
    THREAD(2)->wait_obj = 0xffff8000deadbeefull;
    CB->threads_used = 3; /* slot 1 FREE, slot 3 never used */
    CB->state = USC_STATE_RUNNING;
    CB->vcpus_online = 3;
    CB->heartbeat_ts = BOOT_TS + 3 * TS_HZ;
    for (uint32_t v = 0; v < 2; v++) {
        VCPU(v)->seq = 4;
        VCPU(v)->vcpu = v;
        VCPU(v)->state = USC_VCPU_ONLINE;
        VCPU(v)->ticks = 100 + v;
        VCPU(v)->heartbeat_ts = BOOT_TS + v;
        VCPU(v)->busy_time = 10 * v;
    }
    VCPU(1)->thread_id = 7;
    usc_physmem_from_buffer(&pm, ram, sizeof(ram));
}

static struct usc_agent *open_ok(void)
{
    struct usc_agent *a = NULL;
    ck_assert_int_eq(usc_agent_open(&pm, USC_AGENT_SCAN, &a), 0);
    ck_assert_ptr_nonnull(a);
    return a;
}

static int open_err(void)
{
    struct usc_agent *a = (struct usc_agent *)1;
    int err = usc_agent_open(&pm, USC_AGENT_SCAN, &a);
    ck_assert_ptr_null(a);
    return err;
}

static int open_at(uint64_t paddr)
{
    struct usc_agent *a = NULL;
    int err = usc_agent_open(&pm, paddr, &a);
    usc_agent_close(a);
    return err;
}

/* ---- finding and opening ---------------------------------------------- */

START_TEST(find_locates_the_block)
{
    uint64_t paddr = 0;

    ck_assert_int_eq(usc_agent_find(&pm, &paddr), 0);
    ck_assert_uint_eq(paddr, CB_PADDR);
}
END_TEST

START_TEST(find_skips_a_stale_copy_at_another_page)
{
    uint64_t paddr = 0;

    memcpy(cb_at(PAGE), CB, sizeof(*CB)); /* found first, self_paddr wrong */
    ck_assert_int_eq(usc_agent_find(&pm, &paddr), 0);
    ck_assert_uint_eq(paddr, CB_PADDR);
    ck_assert_int_eq(open_at(PAGE), -ESTALE);
}
END_TEST

START_TEST(find_without_a_block_is_enoent)
{
    uint64_t paddr;

    memset(ram, 0, sizeof(ram));
    ck_assert_int_eq(usc_agent_find(&pm, &paddr), -ENOENT);
    ck_assert_int_eq(open_err(), -ENOENT);
    usc_physmem_from_buffer(&pm, ram, PAGE - 1);
    ck_assert_int_eq(usc_agent_find(&pm, &paddr), -ENOENT);
}
END_TEST

START_TEST(wrong_magic_is_not_found)
{
    CB->magic ^= 1;
    ck_assert_int_eq(open_err(), -ENOENT);
    ck_assert_int_eq(open_at(CB_PADDR), -ENOENT);
}
END_TEST

START_TEST(wrong_version_is_rejected)
{
    CB->abi_version = USC_ABI_VERSION + 1;
    seal(CB);
    ck_assert_int_eq(open_err(), -ENOENT);
    ck_assert_int_eq(open_at(CB_PADDR), -EPROTONOSUPPORT);
}
END_TEST

START_TEST(wrong_checksum_is_rejected)
{
    CB->checksum ^= 0x100;
    ck_assert_int_eq(open_err(), -ENOENT);
    ck_assert_int_eq(open_at(CB_PADDR), -EINVAL);
}
END_TEST

START_TEST(header_changed_after_sealing_is_rejected)
{
    CB->threads.capacity = 4000; /* a bit flip the checksum catches */
    ck_assert_int_eq(open_at(CB_PADDR), -EINVAL);
}
END_TEST

START_TEST(wrong_sizes_are_rejected)
{
    CB->size = sizeof(*CB) - 8;
    seal(CB);
    ck_assert_int_eq(open_at(CB_PADDR), -EINVAL);
    build_header(CB);
    CB->header_size = 0;
    seal(CB);
    ck_assert_int_eq(open_at(CB_PADDR), -EINVAL);
}
END_TEST

START_TEST(open_at_a_bad_address_fails)
{
    ck_assert_int_eq(open_at(CB_PADDR + 8), -EINVAL);
    ck_assert_int_eq(open_at(RAM_SIZE), -EFAULT);
    ck_assert_int_eq(open_at(UINT64_MAX - PAGE + 1), -EFAULT);
}
END_TEST

START_TEST(open_keeps_a_validated_header)
{
    struct usc_agent *a = open_ok();
    const struct usc_control_block *h = usc_agent_header(a);

    ck_assert_uint_eq(usc_agent_paddr(a), CB_PADDR);
    ck_assert_str_eq(h->name, "demo");
    ck_assert_uint_eq(h->build_id_len, 20);
    ck_assert_uint_eq(h->ts_hz, TS_HZ);
    ck_assert_uint_eq(h->log.capacity, LOG_CAP);
    ck_assert_uint_eq(h->threads_used, 0); /* live part not copied */
    usc_agent_close(a);
}
END_TEST

START_TEST(open_copies_the_header_once)
{
    struct usc_agent *a = open_ok();

    strcpy(CB->name, "evil");
    CB->metrics.capacity = 0xffffffffu;
    ck_assert_str_eq(usc_agent_header(a)->name, "demo");
    ck_assert_uint_eq(usc_agent_header(a)->metrics.capacity, NMETRICS);
    usc_agent_close(a);
}
END_TEST

START_TEST(unterminated_guest_name_is_rejected)
{
    memset(CB->name, 'n', sizeof(CB->name));
    seal(CB);
    ck_assert_int_eq(open_err(), -EINVAL);
}
END_TEST

START_TEST(bad_build_id_length_or_vcpu_count_is_rejected)
{
    CB->build_id_len = USC_BUILD_ID_MAX + 1;
    seal(CB);
    ck_assert_int_eq(open_err(), -EINVAL);
    build_header(CB);
    CB->max_vcpus = 0;
    seal(CB);
    ck_assert_int_eq(open_err(), -EINVAL);
    CB->max_vcpus = USC_AGENT_MAX_VCPUS + 1;
    seal(CB);
    ck_assert_int_eq(open_err(), -EINVAL);
}
END_TEST

START_TEST(huge_capacities_are_rejected)
{
    struct usc_table *tables[] = {&CB->metrics, &CB->threads, &CB->tracepoints,
                                  &CB->trace_rings, &CB->panic};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        build_header(CB);
        tables[i]->at.paddr = 0;
        tables[i]->capacity = 0xffffffffu;
        seal(CB);
        ck_assert_int_eq(open_err(), -EINVAL);
    }
    build_header(CB);
    CB->threads.capacity = USC_AGENT_MAX_THREADS + 1;
    seal(CB);
    ck_assert_int_eq(open_err(), -EINVAL);
    build_header(CB);
    CB->log.capacity = USC_AGENT_MAX_LOG * 2;
    seal(CB);
    ck_assert_int_eq(open_err(), -EINVAL);
}
END_TEST

START_TEST(more_than_one_panic_record_is_rejected)
{
    table(&CB->panic, PANIC_PADDR, sizeof(struct usc_panic), 2);
    seal(CB);
    ck_assert_int_eq(open_err(), -EINVAL);
}
END_TEST

START_TEST(wrong_entry_size_is_rejected)
{
    CB->threads.entry_size = sizeof(struct usc_thread) - 8;
    seal(CB);
    ck_assert_int_eq(open_err(), -EINVAL);
    build_header(CB);
    CB->log.entry_size = 2;
    seal(CB);
    ck_assert_int_eq(open_err(), -EINVAL);
}
END_TEST

START_TEST(table_outside_ram_is_rejected)
{
    table(&CB->metrics, RAM_SIZE - 2 * sizeof(struct usc_metric),
          sizeof(struct usc_metric), NMETRICS);
    seal(CB);
    ck_assert_int_eq(open_err(), -EFAULT);
    build_header(CB);
    table(&CB->log, 1ull << 52, 1, LOG_CAP);
    seal(CB);
    ck_assert_int_eq(open_err(), -EFAULT);
}
END_TEST

START_TEST(table_wrapping_the_address_space_is_rejected)
{
    table(&CB->threads, UINT64_MAX - 100, sizeof(struct usc_thread), NTHREADS);
    seal(CB);
    ck_assert_int_eq(open_err(), -EFAULT);
}
END_TEST

START_TEST(log_capacity_not_a_power_of_two_is_rejected)
{
    CB->log.capacity = 200;
    seal(CB);
    ck_assert_int_eq(open_err(), -EINVAL);
}
END_TEST

START_TEST(the_ram_file_backend_reads_an_agent)
{
    char path[] = "/tmp/check_agent_reader.XXXXXX";
    struct usc_ramfile *rf;
    struct usc_agent *a = NULL;
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, ram, sizeof(ram)), (ssize_t)sizeof(ram));
    close(fd);
    ck_assert_int_eq(usc_ramfile_open(path, &rf), 0);
    unlink(path);
    ck_assert_int_eq(
        usc_agent_open(usc_ramfile_physmem(rf), USC_AGENT_SCAN, &a), 0);
    ck_assert_str_eq(usc_agent_header(a)->name, "demo");
    usc_agent_close(a);
    usc_ramfile_close(rf);
}
END_TEST

/* ---- status ------------------------------------------------------------ */

START_TEST(status_reads_the_live_part)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_status st;

    guest_log_to(77);
    ck_assert_int_eq(usc_agent_status(a, &st), 0);
    ck_assert_uint_eq(st.state, USC_STATE_RUNNING);
    ck_assert_uint_eq(st.vcpus_online, 3);
    ck_assert_uint_eq(st.heartbeat_ts, BOOT_TS + 3 * TS_HZ);
    ck_assert_uint_eq(st.metrics_count, 3);
    ck_assert_uint_eq(st.threads_used, 3);
    ck_assert_uint_eq(st.tracepoints_count, 0);
    ck_assert_uint_eq(st.log_head, 77);
    ck_assert_double_eq_tol(usc_agent_uptime(a, &st), 3.0, 1e-9);
    usc_agent_close(a);
}
END_TEST

START_TEST(uptime_guards_a_zero_rate_and_time_before_boot)
{
    struct usc_agent_status st = {.heartbeat_ts = BOOT_TS - 1};
    struct usc_agent *a = open_ok();

    ck_assert_double_eq(usc_agent_uptime(a, &st), 0.0);
    usc_agent_close(a);
    CB->ts_hz = 0;
    seal(CB);
    a = open_ok();
    st.heartbeat_ts = BOOT_TS + 100;
    ck_assert_double_eq(usc_agent_uptime(a, &st), 0.0);
    usc_agent_close(a);
}
END_TEST

START_TEST(status_after_a_reboot_is_estale)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_status st;

    CB->boot_ts = BOOT_TS + 1; /* a new agent, sealed and valid */
    seal(CB);
    ck_assert_int_eq(usc_agent_status(a, &st), -ESTALE);
    memset(CB, 0, PAGE); /* or memory wiped */
    ck_assert_int_eq(usc_agent_status(a, &st), -ESTALE);
    usc_agent_close(a);
}
END_TEST

START_TEST(status_with_a_bad_state_is_einval)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_status st;

    CB->state = USC_STATE_HALTED + 1;
    ck_assert_int_eq(usc_agent_status(a, &st), -EINVAL);
    usc_agent_close(a);
}
END_TEST

START_TEST(status_with_counts_above_capacity_is_einval)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_status st;

    CB->metrics_count = NMETRICS + 1;
    ck_assert_int_eq(usc_agent_status(a, &st), -EINVAL);
    CB->metrics_count = 0;
    CB->threads_used = NTHREADS + 1;
    ck_assert_int_eq(usc_agent_status(a, &st), -EINVAL);
    CB->threads_used = 0;
    CB->tracepoints_count = 1; /* the table is absent */
    ck_assert_int_eq(usc_agent_status(a, &st), -EINVAL);
    usc_agent_close(a);
}
END_TEST

/* ---- metrics ----------------------------------------------------------- */

START_TEST(metrics_are_read)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_metric m[NMETRICS];
    size_t n = 0;

    ck_assert_int_eq(usc_agent_metrics(a, m, NMETRICS, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(m[0].name, "requests");
    ck_assert_str_eq(m[0].unit, "");
    ck_assert_uint_eq(m[0].kind, USC_METRIC_COUNTER);
    ck_assert_uint_eq(m[0].value, 42);
    ck_assert_str_eq(m[1].name, "temperature");
    ck_assert_str_eq(m[1].unit, "celsius");
    ck_assert_uint_eq(m[1].kind, USC_METRIC_GAUGE);
    ck_assert_int_eq((int64_t)m[1].value, -5);
    ck_assert_uint_eq(m[2].value, 1ull << 40);
    usc_agent_close(a);
}
END_TEST

START_TEST(metrics_beyond_cap_are_enospc)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_metric m[2];
    size_t n = 0;

    ck_assert_int_eq(usc_agent_metrics(a, m, 2, &n), -ENOSPC);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(m[1].name, "temperature");
    usc_agent_close(a);
}
END_TEST

START_TEST(metrics_count_above_capacity_is_einval)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_metric m[NMETRICS];
    size_t n = 99;

    CB->metrics_count = NMETRICS + 1;
    ck_assert_int_eq(usc_agent_metrics(a, m, NMETRICS, &n), -EINVAL);
    ck_assert_uint_eq(n, 0);
    CB->metrics_count = 0xffffffffu;
    ck_assert_int_eq(usc_agent_metrics(a, m, NMETRICS, &n), -EINVAL);
    usc_agent_close(a);
}
END_TEST

START_TEST(metric_with_unterminated_name_or_unit_is_einval)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_metric m[NMETRICS];
    size_t n;

    memset(METRIC(1)->name, 'x', USC_NAME_MAX);
    ck_assert_int_eq(usc_agent_metrics(a, m, NMETRICS, &n), -EINVAL);
    metric(1, "temperature", "celsius", USC_METRIC_GAUGE, 0);
    memset(METRIC(2)->unit, 'u', USC_UNIT_MAX);
    ck_assert_int_eq(usc_agent_metrics(a, m, NMETRICS, &n), -EINVAL);
    usc_agent_close(a);
}
END_TEST

START_TEST(metric_with_unknown_kind_is_einval)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_metric m[NMETRICS];
    size_t n;

    METRIC(0)->kind = 0;
    ck_assert_int_eq(usc_agent_metrics(a, m, NMETRICS, &n), -EINVAL);
    usc_agent_close(a);
}
END_TEST

/* ---- threads ----------------------------------------------------------- */

START_TEST(threads_are_read_with_saved_registers)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_thread t[NTHREADS];
    size_t n = 0;

    ck_assert_int_eq(usc_agent_threads(a, t, NTHREADS, &n), 0);
    ck_assert_uint_eq(n, 2); /* slot 1 is FREE */
    ck_assert_uint_eq(t[0].slot, 0);
    ck_assert_uint_eq(t[0].id, 1);
    ck_assert_str_eq(t[0].name, "main");
    ck_assert_uint_eq(t[0].state, USC_THREAD_RUNNING);
    ck_assert_uint_eq(t[1].slot, 2);
    ck_assert_uint_eq(t[1].id, 7);
    ck_assert_str_eq(t[1].name, "worker");
    ck_assert_uint_eq(t[1].state, USC_THREAD_BLOCKED);
    ck_assert_uint_eq(t[1].vcpu, 1);
    ck_assert_uint_eq(t[1].cpu_time, 7000);
    ck_assert_uint_eq(t[1].switches, 7);
    ck_assert_uint_eq(t[1].wait_obj, 0xffff8000deadbeefull);
    ck_assert_uint_eq(t[1].regs.rip, 0x7000);
    ck_assert_uint_eq(t[1].regs.rsp, 0x7001);
    ck_assert_uint_eq(t[1].regs.r15, 0x7007);
    usc_agent_close(a);
}
END_TEST

START_TEST(threads_beyond_cap_are_enospc)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_thread t[1];
    size_t n = 0;

    ck_assert_int_eq(usc_agent_threads(a, t, 1, &n), -ENOSPC);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(t[0].name, "main");
    usc_agent_close(a);
}
END_TEST

START_TEST(threads_used_above_capacity_is_einval)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_thread t[NTHREADS];
    size_t n = 99;

    CB->threads_used = NTHREADS + 1;
    ck_assert_int_eq(usc_agent_threads(a, t, NTHREADS, &n), -EINVAL);
    ck_assert_uint_eq(n, 0);
    usc_agent_close(a);
}
END_TEST

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(thread_whose_seq_stays_odd_is_eagain_quickly)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_thread t[NTHREADS];
    size_t n;

    THREAD(2)->seq = 9;
    double t0 = now_s();
    ck_assert_int_eq(usc_agent_threads(a, t, NTHREADS, &n), -EAGAIN);
    ck_assert_double_lt(now_s() - t0, 1.0);
    usc_agent_close(a);
}
END_TEST

START_TEST(thread_at_reads_one_slot_even_in_flux)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_thread t;
    int settled = -1;

    ck_assert_int_eq(usc_agent_thread_at(a, 0, &t, &settled), 0);
    ck_assert_int_eq(settled, 1);
    ck_assert_str_eq(t.name, "main");
    ck_assert_int_eq(usc_agent_thread_at(a, 1, &t, &settled), -ENOENT);
    /* A guest stopped mid-update: the slot as it stands, marked so. */
    THREAD(2)->seq = 9;
    ck_assert_int_eq(usc_agent_thread_at(a, 2, &t, &settled), 0);
    ck_assert_int_eq(settled, 0);
    ck_assert_uint_eq(t.slot, 2);
    ck_assert_str_eq(t.name, "worker");
    /* A corrupt slot is refused alone; the table's end is a range error. */
    memset(THREAD(0)->name, 't', USC_NAME_MAX);
    ck_assert_int_eq(usc_agent_thread_at(a, 0, &t, &settled), -EINVAL);
    ck_assert_int_eq(usc_agent_thread_at(a, 2, &t, &settled), 0);
    ck_assert_int_eq(usc_agent_thread_at(a, CB->threads.capacity, &t, &settled),
                     -ERANGE);
    usc_agent_close(a);
}
END_TEST

START_TEST(thread_with_bad_state_or_vcpu_is_einval)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_thread t[NTHREADS];
    size_t n;

    THREAD(2)->state = USC_THREAD_EXITED + 1;
    ck_assert_int_eq(usc_agent_threads(a, t, NTHREADS, &n), -EINVAL);
    THREAD(2)->state = USC_THREAD_EXITED;
    THREAD(2)->vcpu = 2; /* max_vcpus is 2 */
    ck_assert_int_eq(usc_agent_threads(a, t, NTHREADS, &n), -EINVAL);
    usc_agent_close(a);
}
END_TEST

START_TEST(thread_with_unterminated_name_is_einval)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_thread t[NTHREADS];
    size_t n;

    memset(THREAD(0)->name, 't', USC_NAME_MAX);
    ck_assert_int_eq(usc_agent_threads(a, t, NTHREADS, &n), -EINVAL);
    usc_agent_close(a);
}
END_TEST

/* ---- the log ring ------------------------------------------------------ */

/* Assert (buf, len) holds the log bytes that end at position (end). */
static void assert_log_bytes(const char *buf, size_t len, uint64_t end)
{
    for (size_t i = 0; i < len; i++)
        ck_assert_int_eq(buf[i], log_byte(end - len + i));
}

START_TEST(log_before_wrap_is_read_whole)
{
    struct usc_agent *a = open_ok();
    char buf[LOG_CAP];
    size_t len = 0;
    uint64_t head = 0;

    guest_log_to(100);
    ck_assert_int_eq(usc_agent_log(a, buf, sizeof(buf), &len, &head), 0);
    ck_assert_uint_eq(len, 100);
    ck_assert_uint_eq(head, 100);
    assert_log_bytes(buf, len, 100);
    usc_agent_close(a);
}
END_TEST

START_TEST(log_after_wrap_gives_the_newest_bytes_in_order)
{
    struct usc_agent *a = open_ok();
    char buf[2 * LOG_CAP];
    size_t len = 0;
    uint64_t head = 0;

    guest_log_to(1000);
    ck_assert_int_eq(usc_agent_log(a, buf, sizeof(buf), &len, &head), 0);
    ck_assert_uint_eq(len, LOG_CAP);
    ck_assert_uint_eq(head, 1000);
    assert_log_bytes(buf, len, 1000);
    ck_assert_int_eq(usc_agent_log(a, buf, 10, &len, NULL), 0);
    ck_assert_uint_eq(len, 10);
    assert_log_bytes(buf, len, 1000);
    usc_agent_close(a);
}
END_TEST

START_TEST(log_drops_bytes_a_write_in_progress_may_overwrite)
{
    struct usc_agent *a = open_ok();
    char buf[LOG_CAP];
    size_t len = 0;

    guest_log_to(1000);
    CB->log_reserve = 1000 + 50; /* 50 bytes being written now */
    ck_assert_int_eq(usc_agent_log(a, buf, sizeof(buf), &len, NULL), 0);
    ck_assert_uint_eq(len, LOG_CAP - 50);
    assert_log_bytes(buf, len, 1000);
    usc_agent_close(a);
}
END_TEST

START_TEST(log_with_a_hostile_reserve_gives_no_bytes)
{
    struct usc_agent *a = open_ok();
    char buf[LOG_CAP];
    size_t len = 99;

    guest_log_to(1000);
    CB->log_reserve = UINT64_MAX;
    ck_assert_int_eq(usc_agent_log(a, buf, sizeof(buf), &len, NULL), 0);
    ck_assert_uint_eq(len, 0);
    usc_agent_close(a);
}
END_TEST

/*
 * A backend without map, so that every access is a read callback: after
 * the host's first read of the log ring, (guest_action) runs, as a guest
 * writing concurrently would.
 */
static void (*guest_action)(void);

static int racing_read(void *priv, uint64_t paddr, void *buf, size_t len)
{
    memcpy(buf, (unsigned char *)priv + paddr, len);
    if (guest_action && paddr >= LOG_PADDR && paddr < LOG_PADDR + LOG_CAP) {
        guest_action();
        guest_action = NULL;
    }
    return 0;
}

static void log_230_more(void)
{
    guest_log_to(CB->log_head + 230);
}

START_TEST(log_copy_torn_by_a_concurrent_write_is_trimmed)
{
    struct usc_physmem racing = {
        .read = racing_read, .priv = ram, .phys_end = RAM_SIZE};
    struct usc_agent *a = NULL;
    char buf[LOG_CAP];
    size_t len = 0;
    uint64_t head = 0;

    guest_log_to(300);
    ck_assert_int_eq(usc_agent_open(&racing, USC_AGENT_SCAN, &a), 0);
    /*
     * The host copies positions 44..299 in two pieces, ring slots 44..255
     * then 0..43; between them the guest writes 300..529, whose tail
     * lands on slots 0..17. Only 274..299 are certainly intact.
     */
    guest_action = log_230_more;
    ck_assert_int_eq(usc_agent_log(a, buf, sizeof(buf), &len, &head), 0);
    ck_assert_ptr_null(guest_action);
    ck_assert_uint_eq(head, 300);
    ck_assert_uint_eq(len, 26);
    assert_log_bytes(buf, len, 300);
    usc_agent_close(a);
}
END_TEST

static void log_reboot(void)
{
    CB->log_head = 5;
}

START_TEST(log_head_going_backwards_is_estale)
{
    struct usc_physmem racing = {
        .read = racing_read, .priv = ram, .phys_end = RAM_SIZE};
    struct usc_agent *a = NULL;
    char buf[LOG_CAP];
    size_t len;

    guest_log_to(300);
    ck_assert_int_eq(usc_agent_open(&racing, USC_AGENT_SCAN, &a), 0);
    guest_action = log_reboot;
    ck_assert_int_eq(usc_agent_log(a, buf, sizeof(buf), &len, NULL), -ESTALE);
    usc_agent_close(a);
}
END_TEST

START_TEST(absent_log_gives_no_bytes)
{
    struct usc_agent *a;
    char buf[16];
    size_t len = 99;
    uint64_t head = 99;

    table(&CB->log, 0, 1, 0);
    seal(CB);
    a = open_ok();
    CB->log_head = 1000;
    ck_assert_int_eq(usc_agent_log(a, buf, sizeof(buf), &len, &head), 0);
    ck_assert_uint_eq(len, 0);
    ck_assert_uint_eq(head, 0);
    usc_agent_close(a);
}
END_TEST

/* ---- the panic record -------------------------------------------------- */

static void guest_panics(void)
{
    struct usc_panic *p = PANIC;
    p->seq = 2;
    p->valid = 1;
    p->vcpu = 1;
    p->timestamp = BOOT_TS + 10;
    p->vector = 14;
    p->error_code = 2;
    p->cr2 = 0xdead0000;
    p->thread_id = 7;
    p->count = 3;
    strcpy(p->reason, "page fault");
    p->regs.rip = 0xffffffff81000123ull;
    p->regs.cr3 = 0x1000;
    CB->state = USC_STATE_PANICKED;
}

START_TEST(panic_record_is_read)
{
    struct usc_agent *a = open_ok();
    struct usc_panic p;

    guest_panics();
    ck_assert_int_eq(usc_agent_panic(a, &p), 0);
    ck_assert_str_eq(p.reason, "page fault");
    ck_assert_uint_eq(p.vector, 14);
    ck_assert_uint_eq(p.error_code, 2);
    ck_assert_uint_eq(p.cr2, 0xdead0000);
    ck_assert_uint_eq(p.vcpu, 1);
    ck_assert_uint_eq(p.thread_id, 7);
    ck_assert_uint_eq(p.count, 3);
    ck_assert_uint_eq(p.regs.rip, 0xffffffff81000123ull);
    ck_assert_uint_eq(p.regs.cr3, 0x1000);
    usc_agent_close(a);
}
END_TEST

START_TEST(no_panic_is_enoent)
{
    struct usc_agent *a = open_ok();
    struct usc_panic p;

    ck_assert_int_eq(usc_agent_panic(a, &p), -ENOENT);
    usc_agent_close(a);
    table(&CB->panic, 0, sizeof(struct usc_panic), 0);
    seal(CB);
    a = open_ok();
    guest_panics();
    ck_assert_int_eq(usc_agent_panic(a, &p), -ENOENT);
    usc_agent_close(a);
}
END_TEST

START_TEST(panic_with_unterminated_reason_is_einval)
{
    struct usc_agent *a = open_ok();
    struct usc_panic p;

    guest_panics();
    memset(PANIC->reason, 'r', USC_REASON_MAX);
    ck_assert_int_eq(usc_agent_panic(a, &p), -EINVAL);
    usc_agent_close(a);
}
END_TEST

START_TEST(panic_with_a_bad_vcpu_is_einval)
{
    struct usc_agent *a = open_ok();
    struct usc_panic p;

    guest_panics();
    PANIC->vcpu = 2; /* max_vcpus is 2 */
    ck_assert_int_eq(usc_agent_panic(a, &p), -EINVAL);
    usc_agent_close(a);
}
END_TEST

START_TEST(panic_being_written_forever_is_eagain)
{
    struct usc_agent *a = open_ok();
    struct usc_panic p;

    guest_panics();
    PANIC->seq = 3;
    ck_assert_int_eq(usc_agent_panic(a, &p), -EAGAIN);
    usc_agent_close(a);
}
END_TEST

/* ---- vCPUs: the table, and a guest claiming more than it has ---------- */

START_TEST(vcpu_table_is_read)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_vcpu e;
    int settled = -1;

    ck_assert_uint_eq(usc_agent_nvcpus(a), 2);
    ck_assert_int_eq(usc_agent_vcpu_at(a, 1, &e, &settled), 0);
    ck_assert_int_eq(settled, 1);
    ck_assert_uint_eq(e.vcpu, 1);
    ck_assert_uint_eq(e.state, USC_VCPU_ONLINE);
    ck_assert_uint_eq(e.thread_id, 7);
    ck_assert_uint_eq(e.ticks, 101);
    ck_assert_uint_eq(e.busy_time, 10);
    ck_assert_int_eq(usc_agent_vcpu_at(a, 2, &e, &settled), -ERANGE);
    /* one in flux is taken as it stands, said so */
    VCPU(0)->seq = 5;
    ck_assert_int_eq(usc_agent_vcpu_at(a, 0, &e, &settled), 0);
    ck_assert_int_eq(settled, 0);
    usc_agent_close(a);
}
END_TEST

START_TEST(vcpu_entry_naming_another_or_bad_state_is_einval_alone)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_vcpu e;
    int settled;

    VCPU(0)->vcpu = 1; /* would merge into vCPU 1's figures */
    ck_assert_int_eq(usc_agent_vcpu_at(a, 0, &e, &settled), -EINVAL);
    ck_assert_int_eq(usc_agent_vcpu_at(a, 1, &e, &settled), 0);
    VCPU(1)->state = USC_VCPU_PANICKED + 1;
    ck_assert_int_eq(usc_agent_vcpu_at(a, 1, &e, &settled), -EINVAL);
    usc_agent_close(a);
}
END_TEST

START_TEST(vcpu_table_larger_than_max_vcpus_is_rejected)
{
    struct usc_agent *a = NULL;

    CB->vcpus.capacity = 3; /* max_vcpus is 2 */
    seal(CB);
    ck_assert_int_eq(usc_agent_open(&pm, CB_PADDR, &a), -EINVAL);
    CB->vcpus.capacity = 2;
    CB->vcpus.entry_size = sizeof(struct usc_vcpu) - 8;
    seal(CB);
    ck_assert_int_eq(usc_agent_open(&pm, CB_PADDR, &a), -EINVAL);
}
END_TEST

START_TEST(agent_without_a_vcpu_table_reads_as_before)
{
    struct usc_agent *a = NULL;
    struct usc_agent_status st;
    struct usc_agent_vcpu e;
    int settled;

    /* what an agent from before the table wrote there: zeros */
    memset(&CB->vcpus, 0, sizeof(CB->vcpus));
    CB->features = 0;
    seal(CB);
    ck_assert_int_eq(usc_agent_open(&pm, CB_PADDR, &a), 0);
    ck_assert_uint_eq(usc_agent_nvcpus(a), 0);
    ck_assert_int_eq(usc_agent_vcpu_at(a, 0, &e, &settled), -ERANGE);
    ck_assert_int_eq(usc_agent_status(a, &st), 0);
    ck_assert_uint_eq(st.vcpus_online, 3);
    ck_assert_uint_eq(st.panic_others, USC_PANIC_OTHERS_UNSAID);
    usc_agent_close(a);
}
END_TEST

START_TEST(vcpus_online_beyond_max_vcpus_are_shown_apart)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_status st;

    CB->vcpus_online = 0x8000001f; /* claims 6 vCPUs of 2 */
    ck_assert_int_eq(usc_agent_status(a, &st), 0);
    ck_assert_uint_eq(st.vcpus_online, 0x3);
    ck_assert_uint_eq(st.vcpus_beyond, 0x8000001c);
    usc_agent_close(a);
}
END_TEST

START_TEST(panic_others_is_read_and_checked)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_status st;

    CB->panic_others = USC_PANIC_OTHERS_STOPPED;
    ck_assert_int_eq(usc_agent_status(a, &st), 0);
    ck_assert_uint_eq(st.panic_others, USC_PANIC_OTHERS_STOPPED);
    CB->panic_others = USC_PANIC_OTHERS_STOPPED + 1;
    ck_assert_int_eq(usc_agent_status(a, &st), -EINVAL);
    usc_agent_close(a);
}
END_TEST

START_TEST(thread_on_a_vcpu_out_of_range_is_refused_alone)
{
    struct usc_agent *a = open_ok();
    struct usc_agent_thread t[NTHREADS];
    int settled;
    size_t n;

    THREAD(2)->vcpu = 7; /* max_vcpus is 2 */
    ck_assert_int_eq(usc_agent_threads(a, t, NTHREADS, &n), -EINVAL);
    /* the other threads still read, one slot at a time */
    ck_assert_int_eq(usc_agent_thread_at(a, 0, &t[0], &settled), 0);
    ck_assert_uint_eq(t[0].vcpu, 0);
    ck_assert_int_eq(usc_agent_thread_at(a, 2, &t[1], &settled), -EINVAL);
    usc_agent_close(a);
}
END_TEST

/* What every tool (unigdb, unicore analyze, the core writer) takes as the
 * registers of the thread that panicked. */
START_TEST(panic_without_a_frame_takes_the_vcpus_registers)
{
    struct usc_panic p;
    struct usc_regs vcpu, out;

    memset(&p, 0, sizeof(p));
    memset(&vcpu, 0, sizeof(vcpu));
    vcpu.rip = 0x1500;
    vcpu.rsp = 0x6000;
    /* usca_panic(reason, NULL): no frame, the vCPU's own */
    ck_assert_int_eq(usc_panic_has_frame(&p), 0);
    ck_assert_int_eq(usc_panic_regs(&p, &vcpu, &out), 0);
    ck_assert_uint_eq(out.rip, 0x1500);
    ck_assert_uint_eq(out.rsp, 0x6000);
    /* with a frame, the frame; the vCPU may be unknown */
    p.regs.rip = 0x1234;
    p.regs.rsp = 0x7000;
    ck_assert_int_eq(usc_panic_has_frame(&p), 1);
    ck_assert_int_eq(usc_panic_regs(&p, NULL, &out), 1);
    ck_assert_uint_eq(out.rip, 0x1234);
    ck_assert_uint_eq(out.rsp, 0x7000);
}
END_TEST

static Suite *agent_reader_suite(void)
{
    Suite *s = suite_create("agent_reader");
    TCase *tc = tcase_create("open");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, find_locates_the_block);
    tcase_add_test(tc, find_skips_a_stale_copy_at_another_page);
    tcase_add_test(tc, find_without_a_block_is_enoent);
    tcase_add_test(tc, wrong_magic_is_not_found);
    tcase_add_test(tc, wrong_version_is_rejected);
    tcase_add_test(tc, wrong_checksum_is_rejected);
    tcase_add_test(tc, header_changed_after_sealing_is_rejected);
    tcase_add_test(tc, wrong_sizes_are_rejected);
    tcase_add_test(tc, open_at_a_bad_address_fails);
    tcase_add_test(tc, open_keeps_a_validated_header);
    tcase_add_test(tc, open_copies_the_header_once);
    tcase_add_test(tc, unterminated_guest_name_is_rejected);
    tcase_add_test(tc, bad_build_id_length_or_vcpu_count_is_rejected);
    tcase_add_test(tc, huge_capacities_are_rejected);
    tcase_add_test(tc, more_than_one_panic_record_is_rejected);
    tcase_add_test(tc, wrong_entry_size_is_rejected);
    tcase_add_test(tc, table_outside_ram_is_rejected);
    tcase_add_test(tc, table_wrapping_the_address_space_is_rejected);
    tcase_add_test(tc, log_capacity_not_a_power_of_two_is_rejected);
    tcase_add_test(tc, the_ram_file_backend_reads_an_agent);
    suite_add_tcase(s, tc);

    tc = tcase_create("status");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, status_reads_the_live_part);
    tcase_add_test(tc, uptime_guards_a_zero_rate_and_time_before_boot);
    tcase_add_test(tc, status_after_a_reboot_is_estale);
    tcase_add_test(tc, status_with_a_bad_state_is_einval);
    tcase_add_test(tc, status_with_counts_above_capacity_is_einval);
    suite_add_tcase(s, tc);

    tc = tcase_create("metrics");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, metrics_are_read);
    tcase_add_test(tc, metrics_beyond_cap_are_enospc);
    tcase_add_test(tc, metrics_count_above_capacity_is_einval);
    tcase_add_test(tc, metric_with_unterminated_name_or_unit_is_einval);
    tcase_add_test(tc, metric_with_unknown_kind_is_einval);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, threads_are_read_with_saved_registers);
    tcase_add_test(tc, threads_beyond_cap_are_enospc);
    tcase_add_test(tc, threads_used_above_capacity_is_einval);
    tcase_add_test(tc, thread_whose_seq_stays_odd_is_eagain_quickly);
    tcase_add_test(tc, thread_at_reads_one_slot_even_in_flux);
    tcase_add_test(tc, thread_with_bad_state_or_vcpu_is_einval);
    tcase_add_test(tc, thread_with_unterminated_name_is_einval);
    suite_add_tcase(s, tc);

    tc = tcase_create("vcpus");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, vcpu_table_is_read);
    tcase_add_test(tc, vcpu_entry_naming_another_or_bad_state_is_einval_alone);
    tcase_add_test(tc, vcpu_table_larger_than_max_vcpus_is_rejected);
    tcase_add_test(tc, agent_without_a_vcpu_table_reads_as_before);
    tcase_add_test(tc, vcpus_online_beyond_max_vcpus_are_shown_apart);
    tcase_add_test(tc, panic_others_is_read_and_checked);
    tcase_add_test(tc, thread_on_a_vcpu_out_of_range_is_refused_alone);
    suite_add_tcase(s, tc);

    tc = tcase_create("log");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, log_before_wrap_is_read_whole);
    tcase_add_test(tc, log_after_wrap_gives_the_newest_bytes_in_order);
    tcase_add_test(tc, log_drops_bytes_a_write_in_progress_may_overwrite);
    tcase_add_test(tc, log_with_a_hostile_reserve_gives_no_bytes);
    tcase_add_test(tc, log_copy_torn_by_a_concurrent_write_is_trimmed);
    tcase_add_test(tc, log_head_going_backwards_is_estale);
    tcase_add_test(tc, absent_log_gives_no_bytes);
    suite_add_tcase(s, tc);

    tc = tcase_create("panic");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, panic_record_is_read);
    tcase_add_test(tc, no_panic_is_enoent);
    tcase_add_test(tc, panic_with_unterminated_reason_is_einval);
    tcase_add_test(tc, panic_with_a_bad_vcpu_is_einval);
    tcase_add_test(tc, panic_being_written_forever_is_eagain);
    tcase_add_test(tc, panic_without_a_frame_takes_the_vcpus_registers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(agent_reader_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
