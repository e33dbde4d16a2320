/* Fuzz target: the input is guest RAM (paddr == offset) for the reader. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent_reader.h"

/* Output space for the largest tables the reader accepts. */
static struct usc_agent_metric metrics[USC_AGENT_MAX_METRICS];
static struct usc_agent_thread threads[USC_AGENT_MAX_THREADS];
static char log_buf[1u << 16];

/* A promise of the reader's contract broken: make the fuzzer report it. */
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

static void check_header(const struct usc_agent *a, uint64_t found)
{
    const struct usc_control_block *h = usc_agent_header(a);

    CHECK(usc_agent_paddr(a) == found && h->self_paddr == found);
    CHECK(TERMINATED(h->name) && h->build_id_len <= USC_BUILD_ID_MAX);
    CHECK(h->max_vcpus >= 1 && h->max_vcpus <= USC_AGENT_MAX_VCPUS);
}

static void check_status(struct usc_agent *a)
{
    struct usc_agent_status st;

    if (usc_agent_status(a, &st) != 0)
        return;
    CHECK(st.state <= USC_STATE_HALTED);
    CHECK(st.panic_others <= USC_PANIC_OTHERS_STOPPED);
    /* never more vCPUs online than the guest may have */
    CHECK((st.vcpus_online & st.vcpus_beyond) == 0);
    if (usc_agent_header(a)->max_vcpus < 32)
        CHECK(st.vcpus_online >> usc_agent_header(a)->max_vcpus == 0);
    CHECK(st.metrics_count <= usc_agent_header(a)->metrics.capacity);
    CHECK(st.threads_used <= usc_agent_header(a)->threads.capacity);
    CHECK(usc_agent_uptime(a, &st) >= 0.0);
}

static void check_metrics(struct usc_agent *a, size_t cap)
{
    size_t n = cap + 1;
    int err = usc_agent_metrics(a, metrics, cap, &n);

    CHECK(n <= cap && (err == 0 || err == -ENOSPC || n == 0));
    for (size_t i = 0; i < n; i++)
        CHECK(TERMINATED(metrics[i].name) && TERMINATED(metrics[i].unit));
}

static void check_threads(struct usc_agent *a, size_t cap)
{
    size_t n = cap + 1;
    int err = usc_agent_threads(a, threads, cap, &n);

    CHECK(n <= cap && (err == 0 || err == -ENOSPC || n == 0));
    for (size_t i = 0; i < n; i++) {
        CHECK(TERMINATED(threads[i].name));
        CHECK(threads[i].state != USC_THREAD_FREE &&
              threads[i].state <= USC_THREAD_EXITED);
        CHECK(threads[i].vcpu < usc_agent_header(a)->max_vcpus);
    }
    /* Slot by slot, in flux or not, and one past the end. */
    uint32_t slots = usc_agent_header(a)->threads.capacity;
    for (uint32_t i = 0; i <= slots && i < 64; i++) {
        struct usc_agent_thread t;
        int settled;
        if (usc_agent_thread_at(a, i, &t, &settled) == 0) {
            CHECK(TERMINATED(t.name));
            CHECK(t.slot == i && t.state != USC_THREAD_FREE);
        }
    }
}

static void check_vcpus(struct usc_agent *a)
{
    uint32_t n = usc_agent_nvcpus(a);

    CHECK(n <= usc_agent_header(a)->max_vcpus);
    for (uint32_t i = 0; i <= n && i < 64; i++) {
        struct usc_agent_vcpu e;
        int settled;
        int err = usc_agent_vcpu_at(a, i, &e, &settled);
        if (i == n)
            CHECK(err == -ERANGE);
        if (err == 0)
            CHECK(e.vcpu == i && e.state <= USC_VCPU_PANICKED);
    }
}

static void check_log(struct usc_agent *a, char *buf, size_t cap)
{
    size_t len = cap + 1;
    uint64_t head;

    if (usc_agent_log(a, buf, cap, &len, &head) == 0)
        CHECK(len <= cap && len <= usc_agent_header(a)->log.capacity &&
              len <= head);
}

static void check_panic(struct usc_agent *a)
{
    struct usc_panic p;

    if (usc_agent_panic(a, &p) == 0)
        CHECK(p.valid && TERMINATED(p.reason) &&
              p.vcpu < usc_agent_header(a)->max_vcpus);
}

/*
 * Every read the tools make, with whole and with too-small buffers; (stable)
 * when guest memory does not change meanwhile.
 */
static void read_all(const struct usc_physmem *pm, bool stable)
{
    struct usc_agent *a;
    uint64_t found;

    if (usc_agent_find(pm, &found) != 0)
        return;
    /* What find found, open finds at that address. */
    if (stable) {
        CHECK(usc_agent_open(pm, found, &a) != -ENOENT);
        usc_agent_close(a);
    }
    if (usc_agent_open(pm, USC_AGENT_SCAN, &a) != 0)
        return;
    check_header(a, found);
    check_status(a);
    check_metrics(a, USC_AGENT_MAX_METRICS);
    check_metrics(a, 1);
    check_threads(a, USC_AGENT_MAX_THREADS);
    check_threads(a, 1);
    check_vcpus(a);
    check_log(a, log_buf, sizeof(log_buf));
    check_log(a, log_buf, 3);
    check_log(a, NULL, 0);
    check_panic(a);
    usc_agent_close(a);
}

/*
 * Mutations of a header almost always break its checksum, which would stop
 * the fuzzer at the gate: also read a copy whose blocks are resealed.
 */
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
 * A guest that writes while the host reads: the input's last bytes script
 * byte stores, each made right after the host's read number `after`. The
 * reader must stay in bounds however memory changes between its reads.
 */
struct store {
    uint8_t after;
    uint8_t value;
    uint16_t offset; /* taken modulo the RAM size */
};

#define MAX_STORES 16

struct racing_ram {
    uint8_t *ram;
    size_t size;
    const struct store *stores;
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
    struct store stores[MAX_STORES];
    size_t n = size / 64 < MAX_STORES ? size / 64 : MAX_STORES;

    memcpy(stores, ram + size - n * sizeof(stores[0]), n * sizeof(stores[0]));
    struct racing_ram r = {ram, size, stores, n, 0};
    struct usc_physmem pm = {
        .read = racing_read, .map = NULL, .priv = &r, .phys_end = size};
    read_all(&pm, false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct usc_physmem pm;

    usc_physmem_from_buffer(&pm, data, size);
    read_all(&pm, true);

    uint8_t *copy = size ? malloc(size) : NULL;
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    reseal(copy, size);
    usc_physmem_from_buffer(&pm, copy, size);
    read_all(&pm, true);
    read_racing(copy, size);
    free(copy);
    return 0;
}
