/* Boot in C: bring the agent up early, then the machine, then the demo. */
#include <uniscope/agent.h>

#include "cpu.h"
#include "kernel.h"

#define HVM_START_MAGIC 0x336ec578u
#define CMDLINE_MAX 512

/* The start of the PVH contract's struct hvm_start_info (Xen's
 * public/arch-x86/hvm/start_info.h); %ebx points at it. */
struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
};

/* The linker's build-id note (linker.ld). */
extern const char __build_id_note[], __build_id_note_end[];

static char cmdline[CMDLINE_MAX];

/* Copy the command line out of low memory, where the loader left it. */
static const char *read_cmdline(uint32_t start_info_paddr)
{
    const struct hvm_start_info *si =
        (const struct hvm_start_info *)(uintptr_t)start_info_paddr;

    if (!si || si->magic != HVM_START_MAGIC || !si->cmdline_paddr ||
        si->cmdline_paddr >= IDENTITY_MAP_SIZE)
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
static void start_agent(const char *name, uint64_t hz, uint64_t entry_ts)
{
    uint32_t id_len = 0;
    const uint8_t *id = build_id(&id_len);
    struct usca_config cfg = {
        .name = name,
        .build_id = id,
        .build_id_len = id_len,
        .max_vcpus = 1,
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
}

void kmain(uint32_t start_info_paddr);

void kmain(uint32_t start_info_paddr)
{
    struct options opt;
    uint64_t entry_ts = rdtsc();

    console_init();
    desc_init();
    cmdline_parse(read_cmdline(start_info_paddr), &opt);
    /* The agent must be up within 50 ms of boot: calibrate briefly, then
     * start it before anything slow. */
    uint64_t hz = tsc_calibrate();
    start_agent(opt.name, hz, entry_ts);
    char runtime[32] = "forever";
    if (opt.runtime_ticks)
        ksnprintf(runtime, sizeof(runtime), "%lu ticks",
                  (unsigned long)opt.runtime_ticks);
    kprintf("demokernel: name %s, scenario %s, threads %u, runtime %s\n",
            opt.name, scenario_name(opt.scenario), opt.threads, runtime);

    pic_init();
    sched_init();
    timer_init(opt.runtime_ticks, opt.exit_status);
    scenario_start(&opt);
    sched_run();
}
