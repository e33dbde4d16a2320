/* Named counters and gauges, published in the metrics table. */
#include "internal.h"

static int register_lock;

struct usc_metric *usca_metric_register(const char *name, const char *unit,
                                        enum usc_metric_kind kind)
{
    struct usc_control_block *cb = &usca_area.cb;
    struct usc_metric *m = 0;

    if (!usca_ready || !name || !name[0] ||
        (kind != USC_METRIC_COUNTER && kind != USC_METRIC_GAUGE))
        return 0;

    unsigned long flags = usca_lock(&register_lock);
    uint32_t n = cb->metrics_count;
    for (uint32_t i = 0; i < n; i++)
        if (usca_name_eq(usca_area.metrics[i].name, name, USC_NAME_MAX)) {
            m = &usca_area.metrics[i];
            goto out;
        }
    if (n == USCA_MAX_METRICS)
        goto out;
    m = &usca_area.metrics[n];
    m->value = 0;
    m->kind = kind;
    m->flags = 0;
    usca_copy_name(m->name, name, USC_NAME_MAX);
    usca_copy_name(m->unit, unit, USC_UNIT_MAX);
    /* Publishing the count publishes the finished slot. */
    __atomic_store_n(&cb->metrics_count, n + 1, __ATOMIC_RELEASE);
out:
    usca_unlock(&register_lock, flags);
    return m;
}

void usca_counter_add(struct usc_metric *m, uint64_t n)
{
    if (m)
        __atomic_fetch_add(&m->value, n, __ATOMIC_RELAXED);
}

void usca_gauge_set(struct usc_metric *m, int64_t v)
{
    if (m)
        __atomic_store_n(&m->value, (uint64_t)v, __ATOMIC_RELAXED);
}

void usca_gauge_add(struct usc_metric *m, int64_t d)
{
    if (m)
        __atomic_fetch_add(&m->value, (uint64_t)d, __ATOMIC_RELAXED);
}
