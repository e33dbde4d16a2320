/* The backend operations table: one static const instance per hypervisor. */
#ifndef USC_BACKEND_H
#define USC_BACKEND_H

#include "target.h"

/*
 * A backend serves one kind of target. Members marked "required" are
 * always set; a member that "may be NULL" is NULL when the backend cannot
 * serve it, and the usc_target_* wrapper then returns -ENOTSUP. Every
 * member returns 0 or a negative errno; (priv) is what open stored.
 */
struct usc_backend_ops {
    const char *name; /* "qemu", "core", "xen", "proc" */

    /* required: open the guest (spec) and store the backend's state. */
    int (*open)(const struct usc_target_spec *spec, void **priv);
    /* required: release everything; leave the guest as we found it. */
    void (*close)(void *priv);
    /* required */
    int (*describe)(void *priv, struct usc_target_info *info);

    /* required: guest-physical reads; -EFAULT outside RAM. */
    int (*read_phys)(void *priv, uint64_t paddr, void *buf, size_t len);
    /* may be NULL: a direct pointer to mapped guest RAM, or NULL. */
    const void *(*map_phys)(void *priv, uint64_t paddr, size_t len);
    /* may be NULL: guest-physical writes, visible to the guest's code. */
    int (*write_phys)(void *priv, uint64_t paddr, const void *buf, size_t len);

    /* may be NULL (each of these) */
    int (*pause)(void *priv);
    int (*resume)(void *priv);
    int (*run_state)(void *priv, enum usc_vm_state *state);
    int (*wait_stop)(void *priv, int timeout_ms, struct usc_stop_event *ev);
    int (*get_regs)(void *priv, uint32_t vcpu, struct usc_regs *regs);
    int (*set_regs)(void *priv, uint32_t vcpu, const struct usc_regs *regs);
    int (*insert_break)(void *priv, enum usc_break_type type, uint64_t addr,
                        uint64_t len);
    int (*remove_break)(void *priv, enum usc_break_type type, uint64_t addr,
                        uint64_t len);
    int (*step)(void *priv, uint32_t vcpu);
    int (*vcpu_stats)(void *priv, uint32_t vcpu, struct usc_vcpu_stats *st);
    /*
     * may be NULL: guest-physical writes of data straight into guest RAM
     * (trace flags, ring positions), never code: TCG would not see it.
     */
    int (*write_data)(void *priv, uint64_t paddr, const void *buf, size_t len);
    /* may be NULL: where the backend found the agent's control block. */
    int (*agent_at)(void *priv, uint64_t *cb_paddr);
    /* may be NULL: read every piece of (segs), in as few calls as can be. */
    int (*read_batch)(void *priv, const struct usc_phys_seg *segs, size_t n);
    /* may be NULL: usc_target_next_data's answer. */
    int (*next_data)(void *priv, uint64_t paddr, uint64_t end, uint64_t *start,
                     uint64_t *stop);
};

extern const struct usc_backend_ops usc_backend_qemu;
extern const struct usc_backend_ops usc_backend_core;
extern const struct usc_backend_ops usc_backend_xen; /* with USC_HAVE_XEN */
extern const struct usc_backend_ops usc_backend_proc;

#endif /* USC_BACKEND_H */
