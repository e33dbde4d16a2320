/* Boot in C: bring the agent up early, then the machine, then the demo. */
#include <uniscope/agent.h>

#include "cpu.h"
#include "kernel.h"
#include "xen.h" /* the PVH start info */

#define CMDLINE_MAX 512
#define MEMMAP_MAX 32

/* The linker's build-id note (linker.ld). */
extern const char __build_id_note[], __build_id_note_end[];

static char cmdline[CMDLINE_MAX];
static struct hvm_memmap_table_entry memmap[MEMMAP_MAX];
static uint32_t memmap_entries;

/* The loader's start info at (paddr) (%ebx at entry), or NULL. */
static const struct hvm_start_info *start_info(uint32_t paddr)
{
    const struct hvm_start_info *si =
        (const struct hvm_start_info *)(uintptr_t)paddr;

    if (!si || paddr > IDENTITY_MAP_SIZE - sizeof(*si) ||
        si->magic != HVM_START_MAGIC)
        return NULL;
    return si;
}

/* Keep the memory map (start info version 1) before anything overwrites
 * it; up to MEMMAP_MAX entries. */
static void read_memmap(uint32_t start_info_paddr)
{
    const struct hvm_start_info *si = start_info(start_info_paddr);

    if (!si || si->version < 1 || !si->memmap_paddr)
        return;
    uint32_t n =
        si->memmap_entries < MEMMAP_MAX ? si->memmap_entries : MEMMAP_MAX;
    if (si->memmap_paddr > IDENTITY_MAP_SIZE - n * sizeof(memmap[0]))
        return;
    memcpy(memmap, (const void *)(uintptr_t)si->memmap_paddr,
           n * sizeof(memmap[0]));
    memmap_entries = n;
}

uint64_t boot_ram_end(uint64_t paddr)
{
    for (uint32_t i = 0; i < memmap_entries; i++) {
        const struct hvm_memmap_table_entry *e = &memmap[i];
        if (e->type == XEN_HVM_MEMMAP_TYPE_RAM && paddr >= e->addr &&
            paddr - e->addr < e->size)
            return e->addr + e->size;
    }
    return 0;
}

/* Print the memory map read_memmap kept. */
static void print_memmap(void)
{
    static const char *const types[] = {"?",        "RAM",       "reserved",
                                        "ACPI",     "ACPI NVS",  "unusable",
                                        "disabled", "persistent"};

    for (uint32_t i = 0; i < memmap_entries; i++) {
        const struct hvm_memmap_table_entry *e = &memmap[i];
        kprintf("memmap: 0x%010lx-0x%010lx %s\n", (unsigned long)e->addr,
                (unsigned long)(e->addr + e->size - 1),
                e->type < sizeof(types) / sizeof(types[0]) ? types[e->type]
                                                           : "?");
    }
}

/* Copy the command line out of low memory, where the loader left it. */
static const char *read_cmdline(uint32_t start_info_paddr)
{
    const struct hvm_start_info *si = start_info(start_info_paddr);

    if (!si || !si->cmdline_paddr || si->cmdline_paddr >= IDENTITY_MAP_SIZE)
        return NULL;
    const char *src = (const char *)(uintptr_t)si->cmdline_paddr;
    size_t n = 0;
    while (n < CMDLINE_MAX - 1 && si->cmdline_paddr + n < IDENTITY_MAP_SIZE &&
           src[n])
        n++;
    memcpy(cmdline, src, n);
    cmdline[n] = '\0';
    return cmdline;
}

/* The GNU build-id's bytes, found by walking the note; NULL if absent. */
static const uint8_t *build_id(uint32_t *len)
{
    const uint32_t *note = (const uint32_t *)__build_id_note;
    size_t avail = (size_t)(__build_id_note_end - __build_id_note);

    if (avail < 12)
        return NULL;
    uint32_t namesz = note[0], descsz = note[1], type = note[2];
    size_t name_pad = (namesz + 3) & ~3u;
    if (type != 3 /* NT_GNU_BUILD_ID */ || 12 + name_pad + descsz > avail)
        return NULL;
    *len = descsz;
    return (const uint8_t *)note + 12 + name_pad;
}

/* Start the agent; (entry_ts) is the TSC when the kernel was entered. */
static void start_agent(const char *name, uint64_t hz, uint64_t entry_ts,
                        uint32_t vcpus)
{
    uint32_t id_len = 0;
    const uint8_t *id = build_id(&id_len);
    struct usca_config cfg = {
        .name = name,
        .build_id = id,
        .build_id_len = id_len,
        .max_vcpus = vcpus,
        .ts_hz = hz,
    };

    int err = usca_init(&cfg);
    if (err) {
        kprintf("demokernel: usca_init failed (%d)\n", err);
        return;
    }
    usca_vcpu_online(0);
    /* How long the host had to wait for the agent, from kernel entry. */
    uint64_t up = usca_control_block()->boot_ts - entry_ts;
    usca_gauge_set(usca_metric_register("agent_start_us", "microseconds",
                                        USC_METRIC_GAUGE),
                   hz ? (int64_t)(up * 1000000 / hz) : -1);

    char hex[2 * USC_BUILD_ID_MAX + 1] = "";
    for (uint32_t i = 0; i < id_len && i < USC_BUILD_ID_MAX; i++)
        ksnprintf(hex + 2 * i, 3, "%02x", id[i]);
    kprintf("demokernel: agent up, control block at %p, ts_hz %lu, "
            "build-id %s\n",
            (const void *)usca_control_block(), (unsigned long)hz, hex);
    if (xen_present())
        kprintf("demokernel: control block at guest-physical 0x%lx\n",
                (unsigned long)usca_control_block()->self_paddr);
}

void kmain(uint32_t start_info_paddr);

void kmain(uint32_t start_info_paddr)
{
    struct options opt;
    uint64_t entry_ts = rdtsc();

    smp_early();
    xen_init();
    console_init();
    desc_init();
    read_memmap(start_info_paddr);
    cmdline_parse(read_cmdline(start_info_paddr), &opt);
    /* The agent must be up within 50 ms of boot: calibrate briefly, then
     * start it before anything slow. */
    uint64_t hz = tsc_calibrate();
    uint32_t vcpus = smp_count(opt.max_cpus);
    start_agent(opt.name, hz, entry_ts, vcpus);
    char runtime[32] = "forever";
    if (opt.runtime_ticks)
        ksnprintf(runtime, sizeof(runtime), "%lu ticks",
                  (unsigned long)opt.runtime_ticks);
    kprintf("demokernel: name %s, scenario %s, threads %u, runtime %s\n",
            opt.name, scenario_name(opt.scenario), opt.threads, runtime);
    if (xen_present()) {
        xen_report();
        print_memmap();
    } else {
        pic_init(); /* PVH under Xen has no 8259s: the local APIC serves */
    }
    sched_init();
    timer_init(opt.runtime_ticks, opt.exit_status);
    if (opt.scenario == SCENARIO_STRESS) {
        /* its events only: the host counts every one */
        timer_trace_off();
        sched_trace_off();
    }
    smp_start(opt.panic_stop);
    scenario_start(&opt);
    sched_run();
}
