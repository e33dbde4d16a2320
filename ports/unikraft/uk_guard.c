/*
 * The agent's entry points as the rest of the image sees them.
 *
 * The agent ignores calls made before usca_init (it returns NULL or an
 * error): a Unikraft guest that registers a metric from a constructor or
 * an early-boot entry would run on with the metric silently missing. The
 * link wraps these entry points for every object but this library's own
 * (-Wl,--wrap=usca_...), so a call before the port has started the agent
 * stops the guest with one line saying so. The agent's hot paths (counter
 * updates, trace events, thread switches) take handles only these return,
 * and are not wrapped.
 */
#include <uk/assert.h>
#include <uk/print.h>

#include "glue.h"

void usca_uk_guard(const char *fn)
{
    if (usca_uk_ready)
        return;
    /* Unikraft cuts long console lines: two short ones, the cause last */
    uk_pr_crit("uniscope: the port starts the agent in the first init-table "
               "entry; call it from main() or later\n");
    UK_CRASH("uniscope: %s() called before the agent started\n", fn);
}

int __real_usca_init(const struct usca_config *cfg);
struct usc_metric *__real_usca_metric_register(const char *name,
                                               const char *unit,
                                               enum usc_metric_kind kind);
struct usc_thread *__real_usca_thread_create(uint32_t id, const char *name);
int __real_usca_tracepoint_register(struct usca_tracepoint *tp);
void __real_usca_log_write(const char *buf, size_t len);
void __real_usca_set_state(uint32_t state);
void __real_usca_vcpu_online(uint32_t vcpu);
void __real_usca_panic_record(const char *reason,
                              const struct usca_fault *fault);
_Noreturn void __real_usca_panic(const char *reason,
                                 const struct usca_fault *fault);

int __wrap_usca_init(const struct usca_config *cfg __unused)
{
    uk_pr_crit("uniscope: with CONFIG_LIBUNISCOPE the port starts the "
               "agent itself\n");
    UK_CRASH("uniscope: usca_init() called by the application\n");
}

struct usc_metric *__wrap_usca_metric_register(const char *name,
                                               const char *unit,
                                               enum usc_metric_kind kind)
{
    usca_uk_guard("usca_metric_register");
    return __real_usca_metric_register(name, unit, kind);
}

struct usc_thread *__wrap_usca_thread_create(uint32_t id, const char *name)
{
    usca_uk_guard("usca_thread_create");
    return __real_usca_thread_create(id, name);
}

int __wrap_usca_tracepoint_register(struct usca_tracepoint *tp)
{
    usca_uk_guard("usca_tracepoint_register");
    return __real_usca_tracepoint_register(tp);
}

void __wrap_usca_log_write(const char *buf, size_t len)
{
    usca_uk_guard("usca_log_write");
    __real_usca_log_write(buf, len);
}

void __wrap_usca_set_state(uint32_t state)
{
    usca_uk_guard("usca_set_state");
    __real_usca_set_state(state);
}

void __wrap_usca_vcpu_online(uint32_t vcpu)
{
    usca_uk_guard("usca_vcpu_online");
    __real_usca_vcpu_online(vcpu);
}

void __wrap_usca_panic_record(const char *reason,
                              const struct usca_fault *fault)
{
    usca_uk_guard("usca_panic_record");
    __real_usca_panic_record(reason, fault);
}

_Noreturn void __wrap_usca_panic(const char *reason,
                                 const struct usca_fault *fault)
{
    usca_uk_guard("usca_panic");
    __real_usca_panic(reason, fault);
}
