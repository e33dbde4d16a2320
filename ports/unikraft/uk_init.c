/* Agent initialisation: the first entry of Unikraft's init table. */
#include <uk/config.h>
#include <uk/init.h>
#include <uk/plat/bootstrap.h>
#include <uk/plat/lcpu.h>
#include <uk/plat/time.h>
#include <uk/print.h>
#if CONFIG_LIBUKLIBPARAM
#include <uk/libparam.h>
#endif

#include "glue.h"

volatile int usca_uk_ready;

/* The build-id note, where uniscope.ld put it (empty without a build-id). */
extern const char usca_uk_build_id_note[], usca_uk_build_id_note_end[];

static char *usca_uk_name = CONFIG_LIBUNISCOPE_NAME;
#if CONFIG_LIBUKLIBPARAM
UK_LIBPARAM_PARAM_ALIAS(name, &usca_uk_name, charp,
                        "guest name the host tools show");
#endif

/* The descriptor of the GNU build-id note: (*len) bytes, or NULL. */
static const uint8_t *build_id(uint32_t *len)
{
    const uint32_t *note = (const uint32_t *)usca_uk_build_id_note;
    size_t avail = (size_t)(usca_uk_build_id_note_end - usca_uk_build_id_note);

    *len = 0;
    /* namesz, descsz, type 3 (NT_GNU_BUILD_ID), "GNU\0", the id */
    if (avail < 16 || note[0] != 4 || note[2] != 3 ||
        avail < 16 + (size_t)note[1])
        return NULL;
    *len = note[1];
    return (const uint8_t *)&note[4];
}

/*
 * The TSC's rate, measured against Unikraft's monotonic clock (itself the
 * TSC scaled by the rate Unikraft calibrated at boot), over 2 ms: both
 * reads of each pair come in the same order, so their gap cancels out.
 */
static uint64_t tsc_hz(void)
{
    uint64_t t0 = usca_uk_rdtsc(), t1;
    __nsec n0 = ukplat_monotonic_clock(), n1;

    do {
        t1 = usca_uk_rdtsc();
        n1 = ukplat_monotonic_clock();
    } while (n1 - n0 < 2000000);
    return (t1 - t0) * 1000000000ull / (n1 - n0);
}

static int usca_uk_init(struct uk_init_ctx *ictx __unused)
{
    uint32_t id_len;
    const uint8_t *id = build_id(&id_len);
    struct usca_config cfg = {
        .name = usca_uk_name && *usca_uk_name ? usca_uk_name : CONFIG_UK_NAME,
        .build_id = id,
        .build_id_len = id_len,
        .max_vcpus = CONFIG_UKPLAT_LCPU_MAXCOUNT,
        .ts_hz = tsc_hz(),
    };
    int rc = usca_init(&cfg);
    __nsec up = ukplat_monotonic_clock();

    if (rc < 0) {
        uk_pr_crit("uniscope: the agent did not start (usca_init: %d)\n", rc);
        return rc;
    }
    usca_vcpu_online(usca_port_vcpu());
    usca_uk_console_start();
    /* Unikraft's clock starts with its TSC calibration, early in boot */
    usca_gauge_set(usca_metric_register("agent_start_us", "microseconds",
                                        USC_METRIC_GAUGE),
                   (int64_t)(up / 1000));
    usca_uk_metrics_start(cfg.ts_hz);
    usca_uk_threads_start();
    if (!id_len)
        uk_pr_warn("uniscope: the image has no build-id note\n");
    return 0;
}

/* An orderly shutdown (init-table terms run; a crash does not come here
 * but through uk_crash.c). */
static void usca_uk_term(const struct uk_term_ctx *tctx)
{
    if (tctx->target != UKPLAT_CRASH)
        usca_set_state(USC_STATE_HALTED);
}

/* First in the init table: after the allocator, the clock and the
 * scheduler, before every library's and the application's own code. */
uk_early_initcall_prio(usca_uk_init, usca_uk_term, UK_PRIO_EARLIEST);
