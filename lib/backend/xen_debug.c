/*
 * The Xen backend's debugging half: breakpoints, watchpoints, single steps
 * and stop events of an HVM or PVH domain, through the vm_event monitor
 * ring (Debian's Xen has no gdbsx).
 *
 * - The ring brings int3 (VM_EVENT_REASON_SOFTWARE_BREAKPOINT) and #DB
 *   (VM_EVENT_REASON_DEBUG_EXCEPTION) with the vCPU paused. We pause the
 *   whole domain, handle the event, answer it, and leave the domain paused
 *   when it is a stop: the guest stays stopped until resume, as with QEMU.
 * - Software breakpoints are int3 bytes in guest memory; the vCPU stops at
 *   the int3, so rip is the breakpoint's address, as gdb wants.
 * - Some hosts do not intercept int3 (QEMU's emulated SVM, which nests Xen
 *   under TCG, checks the INTn intercept for it): the guest's own #BP
 *   handler then runs. A catcher over that handler's first bytes,
 *   "pushf; orb $1,1(%rsp); popf; nop", makes its entry a #DB we do see;
 *   the interrupt frame tells where the int3 was, and we unwind it.
 * - A step sets RFLAGS.TF (IF off for the step, so that no interrupt
 *   handler is stepped instead) and takes the #DB. After an instruction it
 *   emulates (hlt, in/out, cpuid, ...) Xen injects that #DB into the guest
 *   instead: a catcher over the guest's #DB handler, armed while a step is
 *   in flight, catches those.
 * - Hardware breakpoints and watchpoints use DR0-3 and DR7 of every vCPU.
 * - Xen has no pause of one vCPU but for gdbsx: while one vCPU steps, the
 *   others run.
 */
#include "xen.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <xen/hvm/save.h>
#include <xen/vm_event.h>
#include <xendevicemodel.h>
#include <xenevtchn.h>

#include "../fdio.h"
#include "../pagewalk.h"

#define PAGE_SIZE_4K 4096ull
#define RFLAGS_TF (1ull << 8)
#define RFLAGS_IF (1ull << 9)
#define RFLAGS_RF (1ull << 16)
#define CR0_PG (1ull << 31)
#define CR4_LA57 (1ull << 12)
#define EFER_LMA (1ull << 10)
#define CR3_ADDR_MASK 0x000ffffffffff000ull
#define DR6_HITS 0xfull     /* B0-B3 */
#define DR6_BS (1ull << 14) /* single step */
#define DR7_FIXED 0x400ull  /* the bit that reads as one */
#define INT3 0xcc
#define VEC_DB 1
#define VEC_BP 3
#define NSLOTS 4          /* DR0-DR3 */
#define MAX_SITES 8       /* catchers: distinct #DB and #BP handlers */
#define MAX_QUEUE 16      /* stops waiting to be reported */
#define WAIT_SLICE_MS 100 /* how often wait_stop looks at the domain */
/* How long a pause not ours must last to be one: xl destroy pauses first. */
#define FOREIGN_PAUSE_MS 500
#define INSN_MAX 15

/* What a stepped instruction does to TF and IF (usc_xen_insn_kind). */
enum {
    INSN_OTHER = 0,
    INSN_IF = 1,    /* cli, sti: IF is theirs */
    INSN_FLAGS = 2, /* popf, iret: IF and TF come from the stack */
    INSN_PUSHF = 3, /* pushf: the pushed image holds our TF and IF */
};

/* The catcher: pushf; orb $0x1,0x1(%rsp); popf; nop. TF traps after nop. */
static const uint8_t stub[] = {0x9c, 0x80, 0x4c, 0x24, 0x01, 0x01, 0x9d, 0x90};
#define STUB_LEN sizeof(stub)

/* endbr64: a handler that starts with it keeps it, the stub follows. */
static const uint8_t endbr64[] = {0xf3, 0x0f, 0x1e, 0xfa};

struct sw_break {
    uint64_t addr;  /* guest-virtual, as gdb gave it */
    uint64_t paddr; /* where the int3 is */
    uint8_t orig;   /* the byte it replaced */
};

struct hw_slot {
    int used;
    enum usc_break_type type;
    uint64_t addr, len;
};

/* A catcher: our stub over the first bytes of a guest exception handler. */
struct site {
    uint64_t vaddr; /* where the stub starts */
    uint64_t paddr;
    uint8_t saved[STUB_LEN];
};

struct step {
    int active;
    uint64_t rflags; /* before the step: its TF and IF go back */
    int kind;        /* INSN_* */
};

/* A vCPU's own debug registers, parked while we use them. */
struct guest_dr {
    int valid;
    uint64_t dr[NSLOTS], dr7;
};

struct usc_xen_debug {
    uint32_t nvcpus;
    /* the monitor ring */
    int monitor;
    void *ring;
    vm_event_back_ring_t back;
    xenevtchn_handle *xce;
    int port; /* ours, bound to the ring's; -1 when none */
    xendevicemodel_handle *dm;
    /* breakpoints and watchpoints */
    struct sw_break *sw;
    size_t nsw, sw_cap;
    struct hw_slot slot[NSLOTS];
    struct guest_dr *gdr; /* [nvcpus] */
    int dr_owned;
    /* catchers in place */
    struct site site[MAX_SITES];
    size_t nsites;
    int int3_seen;     /* an int3 of ours reached the ring: no #BP catcher */
    struct step *step; /* [nvcpus] */
    /* stops found but not reported yet */
    struct usc_stop_event queue[MAX_QUEUE];
    size_t nqueue;
    int64_t foreign_pause_ms; /* when a pause not ours was first seen, or 0 */
};

/* What one pass over the ring found. */
struct batch {
    int took;  /* we paused the domain for it */
    int dirty; /* steps or catchers changed: sync the catchers */
    int have;  /* a stop to report */
    int prio;
    struct usc_stop_event ev;
    int rf; /* (ev)'s vCPU must resume with RFLAGS.RF */
};

/*
 * The negative errno of a failed Xen library call, made -ESRCH when the
 * reason is that the domain is gone.
 */
static int xfail(struct usc_xen *x)
{
    int err = errno > 0 ? -errno : -EIO;

    return usc_xen_alive(x) == -ESRCH ? -ESRCH : err;
}

/* ---- pure helpers (unit-tested) ------------------------------------------ */

/*
 * What the instruction in (b) (n bytes read at rip) does to TF and IF, as
 * INSN_*: legacy prefixes, and REX when (long_mode), are skipped.
 */
int usc_xen_insn_kind(const uint8_t *b, size_t n, int long_mode)
{
    size_t i = 0;

    for (; i < n && i < INSN_MAX; i++) {
        uint8_t p = b[i];

        if (p == 0x66 || p == 0x67 || p == 0xf0 || p == 0xf2 || p == 0xf3 ||
            p == 0x2e || p == 0x36 || p == 0x3e || p == 0x26 || p == 0x64 ||
            p == 0x65)
            continue;
        if (long_mode && (p & 0xf0) == 0x40)
            continue;
        break;
    }
    if (i >= n || i >= INSN_MAX)
        return INSN_OTHER;
    switch (b[i]) {
    case 0xfa: /* cli */
    case 0xfb: /* sti */
        return INSN_IF;
    case 0x9d: /* popf */
    case 0xcf: /* iret */
        return INSN_FLAGS;
    case 0x9c: /* pushf */
        return INSN_PUSHF;
    default:
        return INSN_OTHER;
    }
}

/*
 * RFLAGS after a step of an instruction of (kind): (now) as the step left
 * them, (before) as they were; TF and IF go back to (before) unless the
 * instruction set them itself.
 */
uint64_t usc_xen_step_rflags(uint64_t now, uint64_t before, int kind)
{
    uint64_t theirs = kind == INSN_IF      ? RFLAGS_IF
                      : kind == INSN_FLAGS ? RFLAGS_IF | RFLAGS_TF
                                           : 0;
    uint64_t back = (RFLAGS_TF | RFLAGS_IF) & ~theirs;

    return (now & ~back) | (before & back);
}

/*
 * The DR7 bits that arm slot (slot) (0-3) for a point of (type) over (len)
 * bytes at (addr): local enable, R/W and LEN. 0 when x86 cannot watch
 * that: a length other than 1, 2, 4 or 8, or an address not aligned to it
 * (an execution breakpoint is one byte).
 */
uint64_t usc_xen_dr7_bits(unsigned slot, enum usc_break_type type,
                          uint64_t addr, uint64_t len)
{
    uint64_t rw, ln;

    if (slot >= NSLOTS)
        return 0;
    switch (type) {
    case USC_BREAK_HW:
        rw = 0;
        break;
    case USC_WATCH_WRITE:
        rw = 1;
        break;
    case USC_WATCH_READ: /* x86 has no read-only watch: reads or writes */
    case USC_WATCH_ACCESS:
        rw = 3;
        break;
    default:
        return 0;
    }
    switch (len) {
    case 1:
        ln = 0;
        break;
    case 2:
        ln = 1;
        break;
    case 4:
        ln = 3;
        break;
    case 8:
        ln = 2;
        break;
    default:
        return 0;
    }
    if ((type == USC_BREAK_HW && len != 1) || (addr & (len - 1)))
        return 0;
    return (1ull << (2 * slot)) | ((rw | ln << 2) << (16 + 4 * slot));
}

/* ---- guest memory through a vCPU's eyes ---------------------------------- */

/*
 * The guest-physical address of (va) as the vCPU of (c) sees it into
 * (*pa), and how many bytes from there stay in the same page into (*room).
 * Unpaged protected mode maps one to one; 32-bit paging and 5-level
 * tables are not walked (-ENOTSUP). -EFAULT where nothing is mapped.
 */
static int xlate(struct usc_xen *x, const struct hvm_hw_cpu *c, uint64_t va,
                 uint64_t *pa, uint64_t *room)
{
    struct usc_physmem pm = {
        .read = usc_xen_read_phys,
        .priv = x,
        .phys_end = x->phys_end,
    };
    struct usc_xlate xl;
    int err;

    if (!(c->cr0 & CR0_PG)) {
        if (va >> 32)
            return -EFAULT;
        *pa = va;
        *room = PAGE_SIZE_4K - (va & (PAGE_SIZE_4K - 1));
        return 0;
    }
    if (!(c->msr_efer & EFER_LMA) || (c->cr4 & CR4_LA57))
        return -ENOTSUP;
    err = usc_pagewalk(&pm, c->cr3 & CR3_ADDR_MASK, va, &xl);
    if (err)
        return err;
    if (!xl.page_size || (xl.page_size & (xl.page_size - 1)))
        return -EINVAL;
    *pa = xl.paddr;
    *room = xl.page_size - (va & (xl.page_size - 1));
    return 0;
}

/* Read into (rbuf), or write from (wbuf), (len) bytes at guest-virtual (va)
 * as the vCPU of (c) sees them. Returns 0 or a negative errno. */
static int virt_rw(struct usc_xen *x, const struct hvm_hw_cpu *c, uint64_t va,
                   void *rbuf, const void *wbuf, size_t len)
{
    uint8_t *r = rbuf;
    const uint8_t *w = wbuf;

    while (len) {
        uint64_t pa, room;
        size_t n;
        int err = xlate(x, c, va, &pa, &room);

        if (err)
            return err;
        n = room < len ? (size_t)room : len;
        err = r ? usc_xen_read_phys(x, pa, r, n)
                : usc_xen_write_phys(x, pa, w, n);
        if (err)
            return err;
        if (r)
            r += n;
        else
            w += n;
        va += n;
        len -= n;
    }
    return 0;
}

/*
 * The entry point of vector (vec) in the IDT of the vCPU of (c), a 64-bit
 * interrupt or trap gate, into (*entry). -ENOTSUP outside long mode;
 * -ENOENT for a vector past the limit or a gate not present.
 */
static int idt_entry(struct usc_xen *x, const struct hvm_hw_cpu *c,
                     unsigned vec, uint64_t *entry)
{
    uint8_t g[16];
    int err;

    if (!(c->msr_efer & EFER_LMA))
        return -ENOTSUP;
    if ((uint64_t)vec * 16 + 15 > c->idtr_limit)
        return -ENOENT;
    err = virt_rw(x, c, c->idtr_base + vec * 16, g, NULL, sizeof(g));
    return err ? err : usc_xen_gate_entry(g, entry);
}

/*
 * The entry point of the 64-bit IDT gate in the 16 guest bytes (g), into
 * (*entry): 0, or -ENOENT for a gate not present or neither an interrupt
 * nor a trap gate.
 */
int usc_xen_gate_entry(const uint8_t g[16], uint64_t *entry)
{
    if (!(g[5] & 0x80) || (g[5] & 0x0e) != 0x0e)
        return -ENOENT;
    *entry = (uint64_t)g[0] | (uint64_t)g[1] << 8 | (uint64_t)g[6] << 16 |
             (uint64_t)g[7] << 24 | (uint64_t)g[8] << 32 |
             (uint64_t)g[9] << 40 | (uint64_t)g[10] << 48 |
             (uint64_t)g[11] << 56;
    return 0;
}

/* ---- vCPU records ----------------------------------------------------------
 */

/*
 * usc_xen_set_cpu(vcpu, c); it keeps the guest's current TSC, whatever
 * the record read earlier says. The domain must be paused. Returns 0 or a
 * negative errno.
 */
static int put_cpu(struct usc_xen *x, uint32_t vcpu, struct hvm_hw_cpu *c)
{
    return usc_xen_set_cpu(x, vcpu, c);
}

/* ---- pausing around changes ---------------------------------------------- */

/*
 * Pause the domain for a change unless we hold it paused already; (*took)
 * says whether let_go must undo it. Returns 0 or a negative errno.
 */
static int hold(struct usc_xen *x, int *took)
{
    int err;

    *took = 0;
    if (x->paused)
        return 0;
    err = usc_xen_pause(x);
    if (err)
        return err;
    *took = 1;
    return 0;
}

/* Undo hold's pause when it took one. */
static void let_go(struct usc_xen *x, int took)
{
    if (took)
        usc_xen_resume(x);
}

/* ---- state --------------------------------------------------------------- */

/* x->dbg, made when (create) and missing; NULL when out of memory or not
 * asked to create it. */
static struct usc_xen_debug *dbg_of(struct usc_xen *x, int create)
{
    struct usc_xen_debug *d = x->dbg;

    if (d || !create)
        return d;
    d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->nvcpus = x->nvcpus ? x->nvcpus : 1;
    d->port = -1;
    d->step = calloc(d->nvcpus, sizeof(*d->step));
    d->gdr = calloc(d->nvcpus, sizeof(*d->gdr));
    if (!d->step || !d->gdr) {
        free(d->step);
        free(d->gdr);
        free(d);
        return NULL;
    }
    x->dbg = d;
    return d;
}

static int sw_find(const struct usc_xen_debug *d, uint64_t addr)
{
    for (size_t i = 0; i < d->nsw; i++)
        if (d->sw[i].addr == addr)
            return (int)i;
    return -1;
}

/* The software breakpoint whose int3 is at guest-physical (paddr), or -1. */
static int sw_find_phys(const struct usc_xen_debug *d, uint64_t paddr)
{
    for (size_t i = 0; i < d->nsw; i++)
        if (d->sw[i].paddr == paddr)
            return (int)i;
    return -1;
}

static int any_step(const struct usc_xen_debug *d)
{
    for (uint32_t v = 0; v < d->nvcpus; v++)
        if (d->step[v].active)
            return 1;
    return 0;
}

/* ---- the monitor ring ---------------------------------------------------- */

/* Let go of the ring, its event channel and the device model handle, the
 * monitor left on Xen's side only when (disable) is 0 (the domain died). */
static void monitor_drop(struct usc_xen *x, int disable)
{
    struct usc_xen_debug *d = x->dbg;

    if (d->monitor && disable) {
        xc_monitor_software_breakpoint(x->xch, x->domid, false);
        xc_monitor_debug_exceptions(x->xch, x->domid, false, false);
    }
    if (d->port >= 0)
        xenevtchn_unbind(d->xce, (evtchn_port_t)d->port);
    d->port = -1;
    if (d->ring) {
        if (disable)
            xc_monitor_disable(x->xch, x->domid);
        munmap(d->ring, XC_PAGE_SIZE);
        d->ring = NULL;
    }
    if (d->xce)
        xenevtchn_close(d->xce);
    d->xce = NULL;
    if (d->dm)
        xendevicemodel_close(d->dm);
    d->dm = NULL;
    d->monitor = 0;
}

/*
 * Become the domain's monitor, once: the ring, its event channel, int3 and
 * #DB events (synchronous: the vCPU waits for our answer). -EBUSY when
 * another monitor (another debugger, an introspection tool) holds the
 * domain; -ENOTSUP when Xen refuses a domain that is not HVM; -ESRCH when
 * the domain is gone.
 */
static int monitor_on(struct usc_xen *x)
{
    struct usc_xen_debug *d = x->dbg;
    uint32_t remote;
    int rc, err;

    if (d->monitor)
        return 0;
    d->xce = xenevtchn_open(&usc_xen_quiet, 0);
    d->dm = xendevicemodel_open(&usc_xen_quiet, 0);
    if (!d->xce || !d->dm) {
        err = errno > 0 ? -errno : -ENODEV;
        goto err;
    }
    d->ring = xc_monitor_enable(x->xch, x->domid, &remote);
    if (!d->ring) {
        err = xfail(x);
        if (err == -EOPNOTSUPP || err == -ENODEV)
            err = -ENOTSUP;
        goto err;
    }
    SHARED_RING_INIT((vm_event_sring_t *)d->ring);
    BACK_RING_INIT(&d->back, (vm_event_sring_t *)d->ring, XC_PAGE_SIZE);
    d->monitor = 1; /* from here on monitor_drop turns it off */
    rc = xenevtchn_bind_interdomain(d->xce, x->domid, remote);
    if (rc < 0) {
        err = xfail(x);
        goto err;
    }
    d->port = rc;
    if (xc_monitor_software_breakpoint(x->xch, x->domid, true) < 0 ||
        xc_monitor_debug_exceptions(x->xch, x->domid, true, true) < 0) {
        err = xfail(x);
        goto err;
    }
    return 0;
err:
    monitor_drop(x, err != -ESRCH);
    return err;
}

/* ---- catchers ------------------------------------------------------------ */

/* The catcher whose trap rip is (rip) (the end of its stub), or NULL. */
static struct site *site_ending_at(struct usc_xen_debug *d, uint64_t rip)
{
    for (size_t i = 0; i < d->nsites; i++)
        if (d->site[i].vaddr + STUB_LEN == rip)
            return &d->site[i];
    return NULL;
}

/* Does [paddr, paddr + len) touch a catcher's bytes? */
static int site_overlaps(const struct usc_xen_debug *d, uint64_t paddr,
                         uint64_t len)
{
    for (size_t i = 0; i < d->nsites; i++)
        if (paddr < d->site[i].paddr + STUB_LEN &&
            d->site[i].paddr < paddr + len)
            return 1;
    return 0;
}

/*
 * A vCPU stopped inside the stub of (s) is moved back to its start as if
 * it had not entered it, so that the original bytes can return under it:
 * after pushf the push is undone, after popf our TF. Returns 0 or a
 * negative errno.
 */
static int site_leave(struct usc_xen *x, const struct site *s)
{
    struct hvm_hw_cpu c;

    for (uint32_t v = 0; v < x->dbg->nvcpus; v++) {
        int err = usc_xen_get_cpu(x, v, &c);
        uint64_t off;

        if (err == -ESRCH)
            return err;
        if (err || c.rip <= s->vaddr || c.rip >= s->vaddr + STUB_LEN)
            continue;
        off = c.rip - s->vaddr;
        if (off < 7) /* pushed, not popped */
            c.rsp += 8;
        else
            c.rflags &= ~RFLAGS_TF;
        c.rip = s->vaddr;
        err = put_cpu(x, v, &c);
        if (err)
            return err;
    }
    return 0;
}

/* Put back the bytes under catcher (i) and forget it. */
static int site_disarm(struct usc_xen *x, size_t i)
{
    struct usc_xen_debug *d = x->dbg;
    int err = site_leave(x, &d->site[i]);

    if (!err)
        err =
            usc_xen_write_phys(x, d->site[i].paddr, d->site[i].saved, STUB_LEN);
    if (err == -ESRCH)
        err = 0; /* gone with the domain */
    if (!err)
        d->site[i] = d->site[--d->nsites];
    return err;
}

/*
 * Put a catcher over the entry (entry) of an exception handler as the vCPU
 * of (c) sees it, unless one is there already. It is not put where it
 * would cross a page, cover an int3 of ours, or under a vCPU that is
 * inside those bytes: that handler stays uncaught.
 */
static int site_arm(struct usc_xen *x, const struct hvm_hw_cpu *c,
                    const struct hvm_hw_cpu *cpus, const int *valid,
                    uint64_t entry)
{
    struct usc_xen_debug *d = x->dbg;
    struct site s;
    uint8_t head[sizeof(endbr64)];
    uint64_t room;
    int err;

    err = virt_rw(x, c, entry, head, NULL, sizeof(head));
    if (err)
        return err;
    s.vaddr = entry;
    if (!memcmp(head, endbr64, sizeof(endbr64)))
        s.vaddr += sizeof(endbr64);
    for (size_t i = 0; i < d->nsites; i++)
        if (d->site[i].vaddr == s.vaddr)
            return 0;
    if (d->nsites == MAX_SITES)
        return -ENOSPC;
    err = xlate(x, c, s.vaddr, &s.paddr, &room);
    if (err)
        return err;
    if (room < STUB_LEN)
        return -EFAULT;
    for (size_t i = 0; i < STUB_LEN; i++)
        if (sw_find_phys(d, s.paddr + i) >= 0)
            return -EBUSY;
    for (uint32_t v = 0; v < d->nvcpus; v++)
        if (valid[v] && cpus[v].rip >= s.vaddr &&
            cpus[v].rip < s.vaddr + STUB_LEN)
            return -EBUSY;
    err = usc_xen_read_phys(x, s.paddr, s.saved, STUB_LEN);
    if (!err)
        err = usc_xen_write_phys(x, s.paddr, stub, STUB_LEN);
    if (err)
        return err;
    d->site[d->nsites++] = s;
    return 0;
}

/*
 * Make the catchers in place what is needed now: over every vCPU's #BP
 * handler while int3 bytes of ours are in and int3 has not been seen to
 * reach the ring; over the #DB handler of a vCPU that steps. The domain
 * must be paused. A handler that cannot be caught is left alone (an int3
 * is then still caught where the host intercepts it). Returns 0, or
 * -ESRCH when the domain is gone.
 */
static int sync_sites(struct usc_xen *x)
{
    struct usc_xen_debug *d = x->dbg;
    int need_bp = d->nsw && !d->int3_seen;
    uint64_t want[2 * MAX_SITES];
    size_t nwant = 0;
    struct hvm_hw_cpu *cpus;
    int *valid, err = 0;

    if (!need_bp && !any_step(d) && !d->nsites)
        return 0;
    cpus = calloc(d->nvcpus, sizeof(*cpus));
    valid = calloc(d->nvcpus, sizeof(*valid));
    if (!cpus || !valid) {
        err = -ENOMEM;
        goto out;
    }
    for (uint32_t v = 0; v < d->nvcpus; v++) {
        err = usc_xen_get_cpu(x, v, &cpus[v]);
        if (err == -ESRCH)
            goto out;
        valid[v] = err == 0;
        err = 0;
    }
    /* what stays: the catchers still wanted */
    for (uint32_t v = 0; v < d->nvcpus; v++) {
        uint64_t e;

        if (!valid[v])
            continue;
        if (need_bp && nwant < 2 * MAX_SITES &&
            idt_entry(x, &cpus[v], VEC_BP, &e) == 0)
            want[nwant++] = e;
        if (d->step[v].active && nwant < 2 * MAX_SITES &&
            idt_entry(x, &cpus[v], VEC_DB, &e) == 0)
            want[nwant++] = e;
    }
    for (size_t i = d->nsites; i-- > 0;) {
        int keep = 0;

        for (size_t k = 0; k < nwant; k++)
            if (d->site[i].vaddr == want[k] ||
                d->site[i].vaddr == want[k] + sizeof(endbr64))
                keep = 1;
        if (!keep) {
            err = site_disarm(x, i);
            if (err)
                goto out;
        }
    }
    for (uint32_t v = 0; v < d->nvcpus; v++) {
        uint64_t e;

        if (!valid[v])
            continue;
        if (need_bp && idt_entry(x, &cpus[v], VEC_BP, &e) == 0)
            site_arm(x, &cpus[v], cpus, valid, e);
        if (d->step[v].active && idt_entry(x, &cpus[v], VEC_DB, &e) == 0)
            site_arm(x, &cpus[v], cpus, valid, e);
    }
out:
    free(cpus);
    free(valid);
    return err == -ESRCH ? err : 0;
}

/* ---- debug registers ----------------------------------------------------- */

/*
 * Write our DR0-3 and DR7 into every vCPU while a slot is in use, parking
 * each vCPU's own values the first time; give them back when none is. The
 * domain must be paused. Returns 0 or a negative errno.
 */
static int apply_drs(struct usc_xen *x)
{
    struct usc_xen_debug *d = x->dbg;
    int used = 0;

    for (unsigned i = 0; i < NSLOTS; i++)
        used |= d->slot[i].used;
    if (!used && !d->dr_owned)
        return 0;
    for (uint32_t v = 0; v < d->nvcpus; v++) {
        struct guest_dr *g = &d->gdr[v];
        struct hvm_hw_cpu c;
        int err = usc_xen_get_cpu(x, v, &c);

        if (err == -ESRCH)
            return err;
        if (err)
            continue; /* a vCPU that is down */
        if (used && !g->valid) {
            g->dr[0] = c.dr0;
            g->dr[1] = c.dr1;
            g->dr[2] = c.dr2;
            g->dr[3] = c.dr3;
            g->dr7 = c.dr7;
            g->valid = 1;
        }
        if (used) {
            uint64_t dr[NSLOTS] = {0}, dr7 = DR7_FIXED;

            for (unsigned i = 0; i < NSLOTS; i++) {
                const struct hw_slot *s = &d->slot[i];

                if (!s->used)
                    continue;
                dr[i] = s->addr;
                dr7 |= usc_xen_dr7_bits(i, s->type, s->addr, s->len);
            }
            c.dr0 = dr[0];
            c.dr1 = dr[1];
            c.dr2 = dr[2];
            c.dr3 = dr[3];
            c.dr7 = dr7;
        } else if (g->valid) {
            c.dr0 = g->dr[0];
            c.dr1 = g->dr[1];
            c.dr2 = g->dr[2];
            c.dr3 = g->dr[3];
            c.dr7 = g->dr7;
            g->valid = 0;
        }
        err = put_cpu(x, v, &c);
        if (err == -ESRCH)
            return err;
    }
    d->dr_owned = used;
    return 0;
}

/* ---- steps --------------------------------------------------------------- */

/*
 * The step of vCPU (v) is over with the vCPU's record in (c): TF and IF go
 * back (usc_xen_step_rflags), a pushed RFLAGS image loses ours, DR6 its
 * BS. The caller writes (c) back.
 */
static void step_finish(struct usc_xen *x, uint32_t v, struct hvm_hw_cpu *c)
{
    struct step *st = &x->dbg->step[v];
    uint8_t b;

    c->rflags = usc_xen_step_rflags(c->rflags, st->rflags, st->kind);
    c->dr6 &= ~DR6_BS;
    if (st->kind == INSN_PUSHF && virt_rw(x, c, c->rsp + 1, &b, NULL, 1) == 0) {
        b = (uint8_t)((b & ~3u) | ((st->rflags >> 8) & 3u));
        virt_rw(x, c, c->rsp + 1, NULL, &b, 1);
    }
    st->active = 0;
}

/*
 * Call off every step in flight (the guest stopped for another reason):
 * TF and IF as they were. The domain must be paused. Returns 0 or a
 * negative errno.
 */
static int cancel_steps(struct usc_xen *x)
{
    struct usc_xen_debug *d = x->dbg;
    int err = 0;

    for (uint32_t v = 0; v < d->nvcpus; v++) {
        struct step *st = &d->step[v];
        struct hvm_hw_cpu c;

        if (!st->active)
            continue;
        st->active = 0;
        err = usc_xen_get_cpu(x, v, &c);
        if (!err) {
            c.rflags = (c.rflags & ~(RFLAGS_TF | RFLAGS_IF)) |
                       (st->rflags & (RFLAGS_TF | RFLAGS_IF));
            err = put_cpu(x, v, &c);
        }
        if (err == -ESRCH)
            return err;
    }
    return sync_sites(x);
}

/* ---- events -------------------------------------------------------------- */

enum { PRIO_BREAK = 1, PRIO_WATCH = 2, PRIO_STEP = 3 };

/*
 * A stop found in this pass: the most telling one is reported (a step,
 * then a watchpoint, then a breakpoint); watchpoints and steps that lose
 * wait in the queue, breakpoints are dropped: their vCPU sits on the
 * breakpoint and meets it again when resumed.
 */
static void found(struct usc_xen_debug *d, struct batch *b, uint32_t vcpu,
                  enum usc_stop_reason reason, uint64_t addr, int type, int rf)
{
    struct usc_stop_event ev = {.reason = reason, .vcpu = vcpu};
    int prio = reason == USC_STOP_STEP         ? PRIO_STEP
               : reason == USC_STOP_WATCHPOINT ? PRIO_WATCH
                                               : PRIO_BREAK;

    ev.addr = addr;
    ev.watch_type = type;
    if (b->have && prio <= b->prio) {
        if (prio > PRIO_BREAK && d->nqueue < MAX_QUEUE)
            d->queue[d->nqueue++] = ev;
        return;
    }
    if (b->have && b->prio > PRIO_BREAK && d->nqueue < MAX_QUEUE)
        d->queue[d->nqueue++] = b->ev;
    b->have = 1;
    b->prio = prio;
    b->ev = ev;
    b->rf = rf;
}

/* Give the guest back an exception it raised itself. */
static void reinject(struct usc_xen *x, uint32_t v, uint8_t vector,
                     const struct vm_event_debug *e)
{
    xendevicemodel_inject_event(x->dbg->dm, (domid_t)x->domid, (int)v, vector,
                                e->type, ~0u, (uint8_t)e->insn_length,
                                vector == VEC_DB ? e->pending_dbg : 0);
}

/* An int3 reached the ring: ours is a breakpoint, the guest's its own. */
static void on_int3(struct usc_xen *x, const vm_event_request_t *req,
                    struct batch *b)
{
    struct usc_xen_debug *d = x->dbg;
    uint32_t v = req->vcpu_id;
    struct hvm_hw_cpu c;

    if (usc_xen_get_cpu(x, v, &c))
        return;
    /* Xen leaves rip on the int3; had it moved on, move it back */
    if (sw_find(d, c.rip) < 0 && c.rip && sw_find(d, c.rip - 1) >= 0) {
        c.rip--;
        put_cpu(x, v, &c);
    }
    if (sw_find(d, c.rip) < 0) {
        reinject(x, v, VEC_BP, &req->u.software_breakpoint);
        return;
    }
    if (!d->int3_seen) {
        d->int3_seen = 1; /* this host intercepts int3: no #BP catcher */
        b->dirty = 1;
    }
    if (d->step[v].active) {
        c.rflags = usc_xen_step_rflags(c.rflags, d->step[v].rflags, INSN_OTHER);
        d->step[v].active = 0;
        b->dirty = 1;
        put_cpu(x, v, &c);
    }
    found(d, b, v, USC_STOP_BREAKPOINT, 0, 0, 0);
}

/*
 * The vCPU (v), with record (c), came out of the catcher (s): a leaked
 * int3 of ours (unwound to it: a breakpoint), the #DB Xen injected after a
 * step (unwound past it: the step's end), or the guest's own exception,
 * which its handler then gets (the catcher leaves, to come back with the
 * next breakpoint or step).
 */
static void on_catch(struct usc_xen *x, uint32_t v, struct hvm_hw_cpu *c,
                     size_t s, struct batch *b)
{
    struct usc_xen_debug *d = x->dbg;
    struct step *st = &d->step[v];
    uint64_t f[5]; /* rip, cs, rflags, rsp, ss */
    int ok = virt_rw(x, c, c->rsp, f, NULL, sizeof(f)) == 0;

    b->dirty = 1;
    if (ok && f[0] && sw_find(d, f[0] - 1) >= 0 &&
        (f[1] & 0xffff) == c->cs_sel) {
        c->rip = f[0] - 1;
        c->rflags = f[2];
        c->rsp = f[3];
        if (st->active) {
            c->rflags = usc_xen_step_rflags(c->rflags, st->rflags, INSN_OTHER);
            st->active = 0;
        }
        if (put_cpu(x, v, c) == 0)
            found(d, b, v, USC_STOP_BREAKPOINT, 0, 0, 0);
        return;
    }
    if (ok && st->active && (f[2] & RFLAGS_TF) &&
        (f[1] & 0xffff) == c->cs_sel) {
        c->rip = f[0];
        c->rflags = f[2];
        c->rsp = f[3];
        step_finish(x, v, c);
        if (put_cpu(x, v, c) == 0)
            found(d, b, v, USC_STOP_STEP, 0, 0, 0);
        return;
    }
    c->rip = d->site[s].vaddr;
    c->rflags &= ~RFLAGS_TF;
    if (put_cpu(x, v, c) == 0)
        site_disarm(x, s);
}

/* A #DB reached the ring: a catcher, our step, our debug registers, or the
 * guest's own. */
static void on_db(struct usc_xen *x, const vm_event_request_t *req,
                  struct batch *b)
{
    struct usc_xen_debug *d = x->dbg;
    uint32_t v = req->vcpu_id;
    struct hvm_hw_cpu c;
    struct site *s;
    uint64_t hits, mask = 0;

    if (usc_xen_get_cpu(x, v, &c))
        return;
    s = site_ending_at(d, c.rip);
    if (s) {
        on_catch(x, v, &c, (size_t)(s - d->site), b);
        return;
    }
    if (d->step[v].active) {
        step_finish(x, v, &c);
        b->dirty = 1;
        if (put_cpu(x, v, &c) == 0)
            found(d, b, v, USC_STOP_STEP, 0, 0, 0);
        return;
    }
    for (unsigned i = 0; i < NSLOTS; i++)
        if (d->slot[i].used)
            mask |= 1ull << i;
    /* VT-x says which slot hit; where nothing does, it is guessed */
    hits = (req->u.debug_exception.pending_dbg | c.dr6) & DR6_HITS & mask;
    for (unsigned i = 0; !hits && i < NSLOTS; i++)
        if (d->slot[i].used && d->slot[i].type == USC_BREAK_HW &&
            d->slot[i].addr == c.rip)
            hits = 1ull << i;
    for (unsigned i = 0; !hits && i < NSLOTS; i++)
        if (d->slot[i].used && d->slot[i].type != USC_BREAK_HW)
            hits = 1ull << i;
    if (!hits) {
        reinject(x, v, VEC_DB, &req->u.debug_exception);
        return;
    }
    c.dr6 &= ~(DR6_HITS | DR6_BS);
    put_cpu(x, v, &c);
    for (unsigned i = 0; i < NSLOTS; i++) {
        const struct hw_slot *sl = &d->slot[i];

        if (!(hits & (1ull << i)))
            continue;
        if (sl->type == USC_BREAK_HW)
            found(d, b, v, USC_STOP_BREAKPOINT, 0, 0, 1);
        else
            found(d, b, v, USC_STOP_WATCHPOINT, sl->addr, (int)sl->type, 0);
        break;
    }
}

/* Answer (req): its vCPU may go on (the domain stays as it is). */
static void answer(struct usc_xen_debug *d, const vm_event_request_t *req)
{
    vm_event_response_t rsp;

    memset(&rsp, 0, sizeof(rsp));
    rsp.version = VM_EVENT_INTERFACE_VERSION;
    rsp.vcpu_id = req->vcpu_id;
    rsp.reason = req->reason;
    rsp.flags = req->flags & VM_EVENT_FLAG_VCPU_PAUSED;
    memcpy(RING_GET_RESPONSE(&d->back, d->back.rsp_prod_pvt), &rsp,
           sizeof(rsp));
    d->back.rsp_prod_pvt++;
}

/*
 * Handle every request in the ring, answering each, the domain paused
 * meanwhile. A stop found is stored in (*ev) with (*have) set, and the
 * domain then stays paused, other steps called off; with none the domain
 * runs again if it did before. (ev) NULL: stops are handled and dropped
 * (closing). Returns 0 or a negative errno (-ESRCH: the domain is gone).
 */
static int drain(struct usc_xen *x, struct usc_stop_event *ev, int *have)
{
    struct usc_xen_debug *d = x->dbg;
    struct batch b;
    int more, err = 0;

    memset(&b, 0, sizeof(b));
    if (have)
        *have = 0;
    if (!RING_HAS_UNCONSUMED_REQUESTS(&d->back))
        return 0;
    err = hold(x, &b.took);
    if (err)
        return err;
    for (;;) {
        while (RING_HAS_UNCONSUMED_REQUESTS(&d->back)) {
            vm_event_request_t req;

            RING_COPY_REQUEST(&d->back, d->back.req_cons, &req);
            d->back.req_cons++;
            if (req.vcpu_id < d->nvcpus &&
                req.reason == VM_EVENT_REASON_SOFTWARE_BREAKPOINT)
                on_int3(x, &req, &b);
            else if (req.vcpu_id < d->nvcpus &&
                     req.reason == VM_EVENT_REASON_DEBUG_EXCEPTION)
                on_db(x, &req, &b);
            answer(d, &req);
        }
        RING_FINAL_CHECK_FOR_REQUESTS(&d->back, more);
        if (!more)
            break;
    }
    RING_PUSH_RESPONSES(&d->back);
    xenevtchn_notify(d->xce, (evtchn_port_t)d->port);
    if (b.have && ev) {
        struct hvm_hw_cpu c;

        /* a hardware breakpoint faults again unless RF lets it by once */
        if (b.rf && usc_xen_get_cpu(x, b.ev.vcpu, &c) == 0) {
            c.rflags |= RFLAGS_RF;
            put_cpu(x, b.ev.vcpu, &c);
        }
        err = cancel_steps(x);
        *ev = b.ev;
        *have = 1;
        return err;
    }
    if (!ev)
        d->nqueue = 0;
    if (b.dirty)
        err = sync_sites(x);
    if (d->nqueue && ev)
        return err; /* a queued stop is reported next: stay paused */
    let_go(x, b.took);
    return err;
}

/* ---- the operations ------------------------------------------------------ */

/* Check a point's type and length; a breakpoint's 0 length becomes 1. */
static int point_args(enum usc_break_type type, uint64_t *len)
{
    if ((int)type < USC_BREAK_SW || type > USC_WATCH_ACCESS)
        return -EINVAL;
    if (type <= USC_BREAK_HW && *len == 0)
        *len = 1;
    return *len ? 0 : -EINVAL;
}

/* The record of the first vCPU that has one, to translate addresses. */
static int any_cpu(struct usc_xen *x, struct hvm_hw_cpu *c)
{
    int err = -ENOENT;

    for (uint32_t v = 0; v < x->dbg->nvcpus; v++) {
        err = usc_xen_get_cpu(x, v, c);
        if (err == 0 || err == -ESRCH)
            return err;
    }
    return err;
}

static int insert_sw(struct usc_xen *x, uint64_t addr)
{
    struct usc_xen_debug *d = x->dbg;
    struct hvm_hw_cpu c;
    struct sw_break s = {.addr = addr};
    uint64_t room;
    uint8_t cc = INT3;
    int took, k, err;

    if (sw_find(d, addr) >= 0)
        return 0;
    if (d->nsw == d->sw_cap) {
        size_t cap = d->sw_cap ? 2 * d->sw_cap : 16;
        struct sw_break *a = realloc(d->sw, cap * sizeof(*a));

        if (!a)
            return -ENOMEM;
        d->sw = a;
        d->sw_cap = cap;
    }
    err = hold(x, &took);
    if (err)
        return err;
    err = any_cpu(x, &c);
    if (!err)
        err = xlate(x, &c, addr, &s.paddr, &room);
    if (!err && site_overlaps(d, s.paddr, 1))
        err = -EBUSY;
    if (err)
        goto out;
    /* two virtual names of one byte share its int3 */
    k = sw_find_phys(d, s.paddr);
    if (k >= 0) {
        s.orig = d->sw[k].orig;
    } else {
        err = usc_xen_read_phys(x, s.paddr, &s.orig, 1);
        if (!err)
            err = usc_xen_write_phys(x, s.paddr, &cc, 1);
        if (err)
            goto out;
    }
    d->sw[d->nsw++] = s;
    err = sync_sites(x);
out:
    let_go(x, took);
    return err;
}

static int remove_sw(struct usc_xen *x, uint64_t addr)
{
    struct usc_xen_debug *d = x->dbg;
    struct sw_break s;
    int i = sw_find(d, addr), took, err;

    if (i < 0)
        return -ENOENT;
    err = hold(x, &took);
    if (err)
        return err;
    s = d->sw[i];
    d->sw[i] = d->sw[--d->nsw];
    if (sw_find_phys(d, s.paddr) < 0)
        err = usc_xen_write_phys(x, s.paddr, &s.orig, 1);
    if (!err || err == -ESRCH)
        err = sync_sites(x);
    let_go(x, took);
    return err;
}

static int insert_hw(struct usc_xen *x, enum usc_break_type type, uint64_t addr,
                     uint64_t len)
{
    struct usc_xen_debug *d = x->dbg;
    int took, err, free_slot = -1;

    if (!usc_xen_dr7_bits(0, type, addr, len))
        return -EINVAL;
    for (int i = NSLOTS - 1; i >= 0; i--) {
        const struct hw_slot *s = &d->slot[i];

        if (s->used && s->type == type && s->addr == addr && s->len == len)
            return 0;
        if (!s->used)
            free_slot = i;
    }
    if (free_slot < 0)
        return -ENOSPC;
    err = hold(x, &took);
    if (err)
        return err;
    d->slot[free_slot] = (struct hw_slot){1, type, addr, len};
    err = apply_drs(x);
    if (err && err != -ESRCH) {
        d->slot[free_slot].used = 0;
        apply_drs(x);
    }
    let_go(x, took);
    return err;
}

static int remove_hw(struct usc_xen *x, enum usc_break_type type, uint64_t addr,
                     uint64_t len)
{
    struct usc_xen_debug *d = x->dbg;
    int took, err;

    for (unsigned i = 0; i < NSLOTS; i++) {
        struct hw_slot *s = &d->slot[i];

        if (!s->used || s->type != type || s->addr != addr || s->len != len)
            continue;
        /* a hit of it not reported yet would name a watchpoint gdb lost */
        for (size_t q = d->nqueue; q-- > 0;)
            if (d->queue[q].reason == USC_STOP_WATCHPOINT &&
                d->queue[q].addr == addr)
                d->queue[q] = d->queue[--d->nqueue];
        err = hold(x, &took);
        if (err)
            return err;
        s->used = 0;
        err = apply_drs(x);
        let_go(x, took);
        return err;
    }
    return -ENOENT;
}

/*
 * What every debugging operation needs first: an HVM domain that is still
 * there, our state (in *d) and the monitor. Returns 0; -ENOTSUP for a PV
 * domain; -ESRCH when it is gone; -ENOMEM; or monitor_on's error.
 */
static int debug_on(struct usc_xen *x, struct usc_xen_debug **d)
{
    if (!x->hvm)
        return -ENOTSUP;
    if (usc_xen_alive(x) == -ESRCH)
        return -ESRCH;
    *d = dbg_of(x, 1);
    if (!*d)
        return -ENOMEM;
    return monitor_on(x);
}

/*
 * Insert a breakpoint (int3; the first one turns the monitor on) or a
 * hardware breakpoint or watchpoint (a slot of DR0-3 on every vCPU) at
 * guest-virtual (addr), translated through the first vCPU's page tables.
 * Inserting what is in already succeeds. Returns 0; -EINVAL for a bad type
 * or a length or alignment x86 cannot watch; -ENOSPC when the four debug
 * registers are taken; -EBUSY when another monitor holds the domain or
 * the byte is one of our catchers'; -EFAULT where (addr) is not mapped;
 * -ENOTSUP for a PV domain; -ESRCH when the domain is gone.
 */
int usc_xen_insert_break(void *priv, enum usc_break_type type, uint64_t addr,
                         uint64_t len)
{
    struct usc_xen *x = priv;
    struct usc_xen_debug *d;
    int err = point_args(type, &len);

    if (!err)
        err = debug_on(x, &d);
    if (err)
        return err;
    if (type == USC_BREAK_SW)
        return insert_sw(x, addr);
    return insert_hw(x, type, addr, len);
}

/*
 * Remove what usc_xen_insert_break put at (addr): the original byte goes
 * back, or the slot is freed (the vCPUs' own debug registers return with
 * the last). Returns 0; -ENOENT when it is not in; -EINVAL for a bad type;
 * -ESRCH when the domain is gone (and everything with it).
 */
int usc_xen_remove_break(void *priv, enum usc_break_type type, uint64_t addr,
                         uint64_t len)
{
    struct usc_xen *x = priv;
    struct usc_xen_debug *d = dbg_of(x, 0);
    int err = point_args(type, &len);

    if (err)
        return err;
    if (!d)
        return -ENOENT;
    if (type == USC_BREAK_SW)
        return remove_sw(x, addr);
    return remove_hw(x, type, addr, len);
}

/*
 * Single-step (vcpu): TF and RF set, IF cleared for the one instruction,
 * the #DB catcher over its handler, and the domain runs (the other vCPUs
 * too: Xen cannot hold them). The stop comes through usc_xen_wait_stop as
 * USC_STOP_STEP, with TF and IF as the instruction left them. Returns 0;
 * -EINVAL for a vCPU that does not exist; -EBUSY when another monitor
 * holds the domain; -ENOTSUP for a PV domain; -ESRCH when it is gone.
 */
int usc_xen_step(void *priv, uint32_t vcpu)
{
    struct usc_xen *x = priv;
    struct usc_xen_debug *d;
    struct hvm_hw_cpu c;
    uint8_t insn[INSN_MAX];
    size_t n = 0;
    int took, err;

    if (x->hvm && vcpu >= x->nvcpus)
        return -EINVAL;
    err = debug_on(x, &d);
    if (!err)
        err = hold(x, &took);
    if (err)
        return err;
    err = cancel_steps(x);
    if (!err)
        err = usc_xen_get_cpu(x, vcpu, &c);
    if (err)
        goto err;
    /* what it does to TF and IF; an instruction at a page's end is read
     * as far as it is mapped */
    if (virt_rw(x, &c, c.rip, insn, NULL, INSN_MAX) == 0)
        n = INSN_MAX;
    while (n < INSN_MAX && virt_rw(x, &c, c.rip + n, &insn[n], NULL, 1) == 0)
        n++;
    d->step[vcpu].rflags = c.rflags;
    d->step[vcpu].kind = usc_xen_insn_kind(
        insn, n, (c.msr_efer & EFER_LMA) && (c.cs_arbytes & (1u << 9)));
    c.rflags = (c.rflags | RFLAGS_TF | RFLAGS_RF) & ~RFLAGS_IF;
    err = put_cpu(x, vcpu, &c);
    if (err)
        goto err;
    d->step[vcpu].active = 1;
    err = sync_sites(x);
    if (err)
        goto err;
    d->nqueue = 0;
    return usc_xen_resume(x);
err:
    if (d->step[vcpu].active)
        cancel_steps(x);
    let_go(x, took);
    return err;
}

/*
 * Has the pause someone else put on the domain (xl pause; xl destroy,
 * which pauses first) lasted FOREIGN_PAUSE_MS? Until then wait_stop waits
 * on, so that a domain being destroyed ends as a shutdown, not a pause.
 */
static int foreign_pause_over(struct usc_xen *x)
{
    struct usc_xen_debug *d = dbg_of(x, 1);
    int64_t now = usc_now_ms();

    if (!d)
        return 1;
    if (!d->foreign_pause_ms)
        d->foreign_pause_ms = now;
    return now - d->foreign_pause_ms >= FOREIGN_PAUSE_MS;
}

/*
 * Wait up to (timeout_ms) (-1: forever) for the guest to stop, into (ev):
 * a breakpoint, watchpoint or step of ours (the domain is then paused
 * until resume), a pause (the domain paused by usc_xen_pause or the
 * toolstack: USC_STOP_PAUSE, steps in flight called off), a crash
 * (USC_STOP_PANIC) or the domain's end (USC_STOP_SHUTDOWN). A stopped
 * guest answers at once. Returns 0, -ETIMEDOUT, -EINTR when a signal came,
 * or a negative errno.
 */
int usc_xen_wait_stop(void *priv, int timeout_ms, struct usc_stop_event *ev)
{
    struct usc_xen *x = priv;
    int64_t end = timeout_ms < 0 ? -1 : usc_now_ms() + timeout_ms;

    memset(ev, 0, sizeof(*ev));
    for (;;) {
        struct usc_xen_debug *d = x->dbg;
        enum usc_vm_state st;
        struct pollfd p = {.fd = -1, .events = POLLIN};
        int64_t left;
        int have = 0, err;

        if (d && d->nqueue) {
            *ev = d->queue[0];
            memmove(d->queue, d->queue + 1, --d->nqueue * sizeof(d->queue[0]));
            err = usc_xen_pause(x);
            if (err != -ESRCH)
                return err;
        }
        err = usc_backend_xen.run_state(x, &st);
        if (err)
            return err;
        if (st == USC_VM_DEAD || st == USC_VM_SHUTDOWN) {
            if (d && d->monitor)
                monitor_drop(x, st != USC_VM_DEAD);
            memset(ev, 0, sizeof(*ev));
            ev->reason = USC_STOP_SHUTDOWN;
            return 0;
        }
        if (d && d->monitor) {
            err = drain(x, ev, &have);
            if (err == -ESRCH)
                continue; /* the next look says how it ended */
            if (err)
                return err;
            if (have)
                return 0;
        }
        if (st == USC_VM_PANICKED) {
            ev->reason = USC_STOP_PANIC;
            return 0;
        }
        if (st == USC_VM_PAUSED && !x->paused && !foreign_pause_over(x)) {
            /* the toolstack's: xl pause, or xl destroy under way */
        } else if (st == USC_VM_PAUSED || x->paused) {
            if (x->dbg)
                x->dbg->foreign_pause_ms = 0;
            err = x->dbg ? cancel_steps(x) : 0;
            ev->reason = USC_STOP_PAUSE;
            return err == -ESRCH ? 0 : err;
        } else if (x->dbg) {
            x->dbg->foreign_pause_ms = 0;
        }
        left = end < 0 ? WAIT_SLICE_MS : end - usc_now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        if (d && d->monitor)
            p.fd = xenevtchn_fd(d->xce);
        if (poll(&p, 1, left < WAIT_SLICE_MS ? (int)left : WAIT_SLICE_MS) < 0) {
            if (errno == EINTR)
                return -EINTR;
            return -errno;
        }
        if (p.fd >= 0 && (p.revents & POLLIN)) {
            xenevtchn_port_or_error_t port = xenevtchn_pending(d->xce);

            if (port >= 0)
                xenevtchn_unmask(d->xce, (evtchn_port_t)port);
        }
    }
}

/*
 * Leave the guest as we found it: events still in the ring answered (the
 * guest's own exceptions given back), steps called off, every int3 byte,
 * catcher and debug register restored, the monitor off, x->dbg freed. A
 * domain that is gone only has our handles closed. The domain's pause
 * state is the caller's.
 */
void usc_xen_debug_close(struct usc_xen *x)
{
    struct usc_xen_debug *d = x->dbg;
    int took = 0, alive;

    if (!d)
        return;
    alive = usc_xen_alive(x) == 0 && hold(x, &took) == 0;
    if (alive && d->monitor) {
        /* no new events; then the ones already in */
        xc_monitor_software_breakpoint(x->xch, x->domid, false);
        xc_monitor_debug_exceptions(x->xch, x->domid, false, false);
        drain(x, NULL, NULL);
    }
    if (alive) {
        cancel_steps(x);
        while (d->nsw) {
            size_t before = d->nsw;
            remove_sw(x, d->sw[d->nsw - 1].addr);
            if (d->nsw == before)
                break; /* the domain is gone, or cannot be paused */
        }
        memset(d->slot, 0, sizeof(d->slot));
        apply_drs(x);
        sync_sites(x);
    }
    if (d->monitor)
        monitor_drop(x, alive);
    if (alive)
        let_go(x, took);
    free(d->sw);
    free(d->step);
    free(d->gdr);
    free(d);
    x->dbg = NULL;
}
