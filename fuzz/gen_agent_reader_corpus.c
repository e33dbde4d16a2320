/* Seed corpus of fuzz_agent_reader: a valid guest image, then corruptions. */
/*
 * Built by hand, not by CMake:
 *   cc -std=c11 -Wall -Wextra -Iinclude fuzz/gen_agent_reader_corpus.c \
 *      -o /tmp/gen && /tmp/gen fuzz/corpus/agent_reader
 * Each image is guest RAM with paddr == offset: the control block on page
 * 0, its panic record, metrics, threads, log ring and vCPU table on page 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <uniscope/abi.h>

#define PAGE USC_ABI_PAGE_SIZE
#define PANIC_AT PAGE
#define METRICS_AT (PANIC_AT + 512)
#define NMETRICS 4
#define THREADS_AT (METRICS_AT + NMETRICS * sizeof(struct usc_metric))
#define NTHREADS 3
#define LOG_AT (THREADS_AT + NTHREADS * sizeof(struct usc_thread))
#define LOG_CAP 512u
#define VCPUS_AT (LOG_AT + LOG_CAP)
#define NVCPUS 2
#define RAM_SIZE (VCPUS_AT + NVCPUS * sizeof(struct usc_vcpu))

static _Alignas(PAGE) unsigned char ram[RAM_SIZE];

#define CB ((struct usc_control_block *)ram)
#define METRIC(i) ((struct usc_metric *)(ram + METRICS_AT) + (i))
#define THREAD(i) ((struct usc_thread *)(ram + THREADS_AT) + (i))
#define PANIC ((struct usc_panic *)(ram + PANIC_AT))
#define VCPU(i) ((struct usc_vcpu *)(ram + VCPUS_AT) + (i))

static void table(struct usc_table *t, uint64_t paddr, uint32_t entry_size,
                  uint32_t capacity)
{
    t->at.paddr = paddr;
    t->at.vaddr = 0xffffffff80000000ull + paddr;
    t->entry_size = entry_size;
    t->capacity = capacity;
}

static void seal(void)
{
    CB->checksum = usc_abi_checksum(CB, USC_CB_HEADER_SIZE);
}

static void build_header(void)
{
    CB->magic = USC_ABI_MAGIC;
    CB->abi_version = USC_ABI_VERSION;
    CB->size = sizeof(*CB);
    CB->header_size = USC_CB_HEADER_SIZE;
    CB->self_paddr = 0;
    CB->self_vaddr = 0xffffffff80000000ull;
    CB->ts_hz = 1000000000ull;
    CB->boot_ts = 1000;
    CB->max_vcpus = 2;
    CB->build_id_len = 4;
    memcpy(CB->build_id, "\xde\xad\xbe\xef", 4);
    strcpy(CB->name, "seed");
    table(&CB->metrics, METRICS_AT, sizeof(struct usc_metric), NMETRICS);
    table(&CB->threads, THREADS_AT, sizeof(struct usc_thread), NTHREADS);
    table(&CB->tracepoints, 0, sizeof(struct usc_tracepoint), 0);
    table(&CB->trace_rings, 0, sizeof(struct usc_trace_ring), 0);
    table(&CB->log, LOG_AT, 1, LOG_CAP);
    table(&CB->panic, PANIC_AT, sizeof(struct usc_panic), 1);
    table(&CB->vcpus, VCPUS_AT, sizeof(struct usc_vcpu), NVCPUS);
    CB->features = USC_FEATURE_RING_EMITTED;
    seal();
}

static void build_tables(void)
{
    static const char *names[] = {"requests", "queue_depth"};
    for (uint32_t i = 0; i < 2; i++) {
        METRIC(i)->kind = i ? USC_METRIC_GAUGE : USC_METRIC_COUNTER;
        METRIC(i)->value = 1000 + i;
        strcpy(METRIC(i)->name, names[i]);
    }
    strcpy(METRIC(0)->unit, "requests");
    CB->metrics_count = 2;

    static const char *threads[] = {"main", "", "net"};
    for (uint32_t i = 0; i < NTHREADS; i++) {
        THREAD(i)->seq = 4;
        THREAD(i)->id = i + 1;
        THREAD(i)->state = i == 1 ? USC_THREAD_FREE : USC_THREAD_BLOCKED;
        THREAD(i)->vcpu = i & 1;
        THREAD(i)->regs.rip = 0xffffffff81000000ull + i;
        strcpy(THREAD(i)->name, threads[i]);
    }
    THREAD(0)->state = USC_THREAD_RUNNING;
    CB->threads_used = NTHREADS;

    /* 1.5 rings' worth of text: the ring has wrapped. */
    uint64_t head = LOG_CAP + LOG_CAP / 2;
    for (uint64_t p = 0; p < head; p++)
        ram[LOG_AT + p % LOG_CAP] = (unsigned char)"booting... ok\n"[p % 14];
    CB->log_head = head;
    CB->log_reserve = head;

    for (uint32_t v = 0; v < NVCPUS; v++) {
        VCPU(v)->seq = 2;
        VCPU(v)->vcpu = v;
        VCPU(v)->state = USC_VCPU_ONLINE;
        VCPU(v)->thread_id = v + 1;
        VCPU(v)->ticks = 50 + v;
        VCPU(v)->busy_time = 7;
    }
    CB->vcpus_online = 3;
}

static void build_panic(void)
{
    PANIC->seq = 2;
    PANIC->valid = 1;
    PANIC->vcpu = 1;
    PANIC->vector = 14;
    PANIC->cr2 = 0x10;
    PANIC->thread_id = 3;
    PANIC->count = 1;
    strcpy(PANIC->reason, "page fault");
    PANIC->regs.rip = 0xffffffff81000123ull;
    CB->state = USC_STATE_PANICKED;
    CB->panic_others = USC_PANIC_OTHERS_RUNNING;
    VCPU(1)->state = USC_VCPU_PANICKED;
    CB->heartbeat_ts = 5000;
}

static void build_valid(void)
{
    memset(ram, 0, sizeof(ram));
    build_header();
    build_tables();
    build_panic();
}

/* ---- corruptions: each starts from the valid image ------------------- */

static void bad_checksum(void)
{
    CB->checksum ^= 1;
}

static void stale_copy(void)
{
    CB->self_paddr = PAGE;
    seal();
}

static void huge_capacities(void)
{
    CB->metrics.capacity = 0xffffffffu;
    CB->threads.capacity = 4097;
    seal();
}

static void table_outside_ram(void)
{
    CB->threads.at.paddr = RAM_SIZE - sizeof(struct usc_thread);
    seal();
}

static void paddr_overflow(void)
{
    CB->log.at.paddr = UINT64_MAX - 16;
    seal();
}

static void counts_above_capacity(void)
{
    CB->metrics_count = NMETRICS + 1;
    CB->threads_used = 0xffffffffu;
}

static void unterminated_strings(void)
{
    memset(METRIC(1)->unit, 'u', USC_UNIT_MAX);
    memset(THREAD(2)->name, 't', USC_NAME_MAX);
    memset(PANIC->reason, 'r', USC_REASON_MAX);
}

static void odd_seqs(void)
{
    THREAD(2)->seq = 5;
    PANIC->seq = 3;
}

static void log_not_pow2(void)
{
    CB->log.capacity = LOG_CAP - 12;
    seal();
}

static void hostile_log_positions(void)
{
    CB->log_head = UINT64_MAX - 3;
    CB->log_reserve = 7;
}

/* ---- several vCPUs: a guest claiming more than it has --------------- */

static void vcpus_online_beyond_max(void)
{
    CB->vcpus_online = 0xffffffffu; /* 32 vCPUs online of 2 */
}

static void thread_vcpu_out_of_range(void)
{
    THREAD(2)->vcpu = 9;
    PANIC->vcpu = 5;
}

static void vcpu_entry_names_another(void)
{
    VCPU(1)->vcpu = 0;           /* would merge into vCPU 0's figures */
    VCPU(0)->state = 0x7fffffff; /* no such state */
    VCPU(0)->seq = 7;            /* and in flux */
}

static void vcpu_table_beyond_max(void)
{
    CB->vcpus.capacity = NVCPUS + 1;
    seal();
}

static void panic_others_unknown(void)
{
    CB->panic_others = 77;
}

static const struct variant {
    const char *name;
    void (*corrupt)(void);
} variants[] = {
    {"valid_wrapped_log_panic", NULL},
    {"bad_checksum", bad_checksum},
    {"stale_copy", stale_copy},
    {"huge_capacities", huge_capacities},
    {"table_outside_ram", table_outside_ram},
    {"paddr_overflow", paddr_overflow},
    {"counts_above_capacity", counts_above_capacity},
    {"unterminated_strings", unterminated_strings},
    {"odd_seqs", odd_seqs},
    {"log_not_pow2", log_not_pow2},
    {"hostile_log_positions", hostile_log_positions},
    {"vcpus_online_beyond_max", vcpus_online_beyond_max},
    {"thread_vcpu_out_of_range", thread_vcpu_out_of_range},
    {"vcpu_entry_names_another", vcpu_entry_names_another},
    {"vcpu_table_beyond_max", vcpu_table_beyond_max},
    {"panic_others_unknown", panic_others_unknown},
};

static int write_file(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t put = fwrite(ram, 1, sizeof(ram), f);
    return fclose(f) == 0 && put == sizeof(ram) ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        char path[4096];
        build_valid();
        if (variants[i].corrupt)
            variants[i].corrupt();
        snprintf(path, sizeof(path), "%s/%s", argv[1], variants[i].name);
        if (write_file(path) != 0) {
            perror(path);
            return 1;
        }
    }
    return 0;
}
