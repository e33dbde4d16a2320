/*
 * The Xen backend's private state, shared by its two halves:
 *   xen.c        domains, guest-physical memory through foreign mappings,
 *                pause/resume, registers (HVM CPU save record), statistics;
 *   xen_debug.c  breakpoints, watchpoints, single-step and stop events
 *                through the vm_event monitor ring.
 * Built only when the Xen libraries are found (USC_HAVE_XEN).
 */
#ifndef USC_BACKEND_XEN_H
#define USC_BACKEND_XEN_H

#include <stdint.h>

#include <xenctrl.h>
#include <xenforeignmemory.h>

#include "../backend.h"

struct usc_xen_debug; /* xen_debug.c: NULL until first needed */
struct usc_xen_maps;  /* xen.c: the foreign-mapping cache */

struct usc_xen {
    xc_interface *xch;
    xenforeignmemory_handle *fmem;
    uint32_t domid;
    char name[USC_TARGET_NAME_MAX];
    int hvm;         /* HVM or PVH: 1; PV: 0 */
    uint32_t nvcpus; /* max_vcpu_id + 1 */
    uint64_t phys_end;
    int paused; /* 1 while we hold a pause of ours on the domain */
    struct usc_xen_maps *maps;
    struct usc_xen_debug *dbg;
};

/* ---- xen.c, for xen_debug.c ---------------------------------------------- */

/* A logger that drops the Xen libraries' messages: library code prints
 * nothing, its callers report errors. */
extern struct xentoollog_logger usc_xen_quiet;

/* 0 while the domain exists and is not dying; -ESRCH once it is gone. */
int usc_xen_alive(struct usc_xen *x);

/*
 * The HVM CPU save record of (vcpu), read or replaced as a whole. -ENOTSUP
 * for a PV domain; -ESRCH when the domain is gone.
 */
int usc_xen_get_cpu(struct usc_xen *x, uint32_t vcpu, struct hvm_hw_cpu *cpu);
int usc_xen_set_cpu(struct usc_xen *x, uint32_t vcpu,
                    const struct hvm_hw_cpu *cpu);

/* Guest-physical access, as the ops table's read_phys / write_phys. */
int usc_xen_read_phys(void *priv, uint64_t paddr, void *buf, size_t len);
int usc_xen_write_phys(void *priv, uint64_t paddr, const void *buf, size_t len);

/* Pause / unpause the whole domain, counting our own pause once. */
int usc_xen_pause(void *priv);
int usc_xen_resume(void *priv);

/* ---- xen_debug.c, for xen.c's operations table -----------------------------
 */

int usc_xen_insert_break(void *priv, enum usc_break_type type, uint64_t addr,
                         uint64_t len);
int usc_xen_remove_break(void *priv, enum usc_break_type type, uint64_t addr,
                         uint64_t len);
int usc_xen_step(void *priv, uint32_t vcpu);
int usc_xen_wait_stop(void *priv, int timeout_ms, struct usc_stop_event *ev);
/*
 * Called first by close: restore every byte a breakpoint replaced, clear
 * debug registers and TF we set, turn the monitor off and free x->dbg.
 * Leaves the domain's pause state to the caller.
 */
void usc_xen_debug_close(struct usc_xen *x);

/*
 * xen_debug.c's pure helpers, for its unit test (check_xen_debug.c, which
 * declares them itself: the Xen headers are not for tests).
 */
int usc_xen_insn_kind(const uint8_t *b, size_t n, int long_mode);
uint64_t usc_xen_step_rflags(uint64_t now, uint64_t before, int kind);
int usc_xen_gate_entry(const uint8_t g[16], uint64_t *entry);
uint64_t usc_xen_dr7_bits(unsigned slot, enum usc_break_type type,
                          uint64_t addr, uint64_t len);

#endif /* USC_BACKEND_XEN_H */
