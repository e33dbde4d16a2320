/* The Xen backend: domains, foreign-mapped memory and registers, from dom0. */
#include "xen.h"
#include "xen_maps.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <xen/hvm/save.h>
#include <xenguest.h>
#include <xenstore.h>

#define MAPPED_CHUNKS_MAX 64 /* 128 MiB of guest RAM mapped at most */
#define ALIVE_CHECK_MS 200   /* how stale a read of a dead domain may be */
#define LIST_BATCH 64
#define DOMID_LIMIT 0x7ff0u /* DOMID_FIRST_RESERVED */
#define NAME_PATH_MAX 48
#define PV_MFN_LIMIT (1ull << 40) /* 52-bit machine addresses */
#define FRAME_1M 0x100ull
/*
 * Populated frames of an HVM domain beyond its RAM: special pages, ioreq
 * pages, ACPI tables, video RAM. More than this beyond the low RAM's end
 * means RAM above 4 GiB.
 */
#define HIGH_SLACK_PAGES 8192ull

#define CR0_PE (1ull << 0)
#define CR0_PG (1ull << 31)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

/* The backend's state; (x), first, is what xen_debug.c and priv see. */
struct xen {
    struct usc_xen x;
    xen_domain_handle_t handle; /* the domain's UUID: a domid may be reused */
    uint64_t mem_bytes;
    int gone;           /* the domain died: every operation is -ESRCH */
    int64_t checked_ms; /* when usc_xen_alive last asked */
    unsigned pv_width;  /* PV: guest word size, 4 or 8 */
    struct xc_domain_meminfo minfo; /* PV: the p2m, mapped */
    int have_minfo;
    int no_memory; /* PV: the p2m could not be had (dom0 itself) */
};

static struct xen *xen_of(void *priv)
{
    return (struct xen *)priv; /* x is the first member */
}

/* ---- quiet libraries ---------------------------------------------------- */

/* Library code prints nothing: the Xen libraries' messages are dropped. */
static void quiet_vmessage(struct xentoollog_logger *logger,
                           xentoollog_level level, int errnoval,
                           const char *context, const char *format, va_list al)
{
    (void)logger;
    (void)level;
    (void)errnoval;
    (void)context;
    (void)format;
    (void)al;
}

static void quiet_progress(struct xentoollog_logger *logger,
                           const char *context, const char *doing_what,
                           int percent, unsigned long done, unsigned long total)
{
    (void)logger;
    (void)context;
    (void)doing_what;
    (void)percent;
    (void)done;
    (void)total;
}

static void quiet_destroy(struct xentoollog_logger *logger)
{
    (void)logger;
}

struct xentoollog_logger usc_xen_quiet = {
    .vmessage = quiet_vmessage,
    .progress = quiet_progress,
    .destroy = quiet_destroy,
};

/* The negative errno of a failed libxc call. */
static int xc_err(void)
{
    return errno > 0 ? -errno : -EIO;
}

/* A monotonic clock in milliseconds. */
static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A handle on the hypervisor in (*xch). Returns 0; -ENODEV outside a
 * privileged Xen domain (no privcmd device, or Xen refuses its hypercalls);
 * -EACCES when the device is there but not ours to open.
 */
static int open_xc(xc_interface **xch)
{
    xc_domaininfo_t info;
    int err;

    *xch = NULL;
    if (access("/dev/xen/privcmd", F_OK) != 0 &&
        access("/proc/xen/privcmd", F_OK) != 0)
        return -ENODEV;
    errno = 0;
    *xch = xc_interface_open(&usc_xen_quiet, &usc_xen_quiet, 0);
    if (!*xch)
        return errno == EACCES || errno == EPERM ? -EACCES : -ENODEV;
    /* a domU has the device too: Xen answers it with EPERM */
    if (xc_domain_getinfolist(*xch, 0, 1, &info) < 0) {
        err = errno == EACCES || errno == EPERM ? -ENODEV : xc_err();
        xc_interface_close(*xch);
        *xch = NULL;
        return err;
    }
    return 0;
}

/* The name xenstore gives domain (domid), into (name); "" without one. */
static void domain_name(struct xs_handle *xsh, uint32_t domid, char *name,
                        size_t cap)
{
    char path[NAME_PATH_MAX];
    unsigned int len = 0;
    char *s;
    size_t n = 0;

    name[0] = '\0';
    if (!xsh)
        return;
    snprintf(path, sizeof(path), "/local/domain/%u/name", domid);
    s = xs_read(xsh, XBT_NULL, path, &len);
    if (!s)
        return;
    /* the toolstack's, but bounded and printable all the same */
    while (n < len && n + 1 < cap && s[n] >= 0x20 && s[n] < 0x7f) {
        name[n] = s[n];
        n++;
    }
    name[n] = '\0';
    free(s);
}

/* ---- state -------------------------------------------------------------- */

enum usc_vm_state usc_xen_state_of_flags(uint32_t flags)
{
    uint32_t why =
        (flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;

    if (flags & XEN_DOMINF_dying)
        return USC_VM_DEAD;
    if (flags & XEN_DOMINF_shutdown) {
        if (why == SHUTDOWN_crash || why == SHUTDOWN_watchdog)
            return USC_VM_PANICKED;
        if (why == SHUTDOWN_suspend)
            return USC_VM_PAUSED;
        return USC_VM_SHUTDOWN;
    }
    if (flags & XEN_DOMINF_paused)
        return USC_VM_PAUSED;
    return USC_VM_RUNNING;
}

/* This domain's info now into (info): -ESRCH when it is gone. */
static int domain_info(struct xen *xs, xc_domaininfo_t *info)
{
    int n = xc_domain_getinfolist(xs->x.xch, xs->x.domid, 1, info);

    if (n < 0)
        return errno == ESRCH ? -ESRCH : xc_err();
    if (n == 0 || info->domain != xs->x.domid ||
        memcmp(info->handle, xs->handle, sizeof(xs->handle)) != 0 ||
        (info->flags & XEN_DOMINF_dying))
        return -ESRCH;
    return 0;
}

int usc_xen_alive(struct usc_xen *x)
{
    struct xen *xs = xen_of(x);
    xc_domaininfo_t info;
    int err;

    if (xs->gone)
        return -ESRCH;
    err = domain_info(xs, &info);
    xs->checked_ms = now_ms();
    if (err == -ESRCH) {
        /* our mappings would keep the dead domain's memory from Xen */
        xs->gone = 1;
        usc_xen_maps_drop(x->maps);
    }
    return err;
}

/* (err) of a failed call, or -ESRCH when the reason is the domain's end. */
static int failed(struct xen *xs, int err)
{
    return usc_xen_alive(&xs->x) == -ESRCH ? -ESRCH : err;
}

/* Between reads, ask now and then whether the domain still exists. */
static int still_there(struct xen *xs)
{
    if (xs->gone)
        return -ESRCH;
    if (now_ms() - xs->checked_ms < ALIVE_CHECK_MS)
        return 0;
    return usc_xen_alive(&xs->x) == -ESRCH ? -ESRCH : 0;
}

/* ---- where RAM is ------------------------------------------------------- */

/*
 * The first frame after the run of present frames that starts at (start)
 * (present itself), below (limit): doubling steps out, then halving.
 */
static uint64_t run_end(int (*present)(void *, uint64_t), void *ctx,
                        uint64_t start, uint64_t limit)
{
    uint64_t in = start, out = limit, step = 1;

    while (in + step < limit) {
        if (!present(ctx, in + step)) {
            out = in + step;
            break;
        }
        in += step;
        step <<= 1;
    }
    while (out - in > 1) {
        uint64_t mid = in + (out - in) / 2;

        if (present(ctx, mid))
            in = mid;
        else
            out = mid;
    }
    return out;
}

void usc_xen_ram_find(int (*present)(void *ctx, uint64_t frame), void *ctx,
                      uint64_t max_frame, uint64_t tot_pages,
                      struct usc_xen_ram *ram)
{
    uint64_t limit =
        max_frame < USC_XEN_FRAME_4G ? max_frame + 1 : USC_XEN_FRAME_4G;
    uint64_t start = FRAME_1M;

    ram->low_end = ram->high_end = 0;
    if (limit <= start || !present(ctx, start)) {
        start = 0;
        if (!present(ctx, 0))
            return;
    }
    ram->low_end = run_end(present, ctx, start, limit);
    if (max_frame >= USC_XEN_FRAME_4G &&
        tot_pages > ram->low_end + HIGH_SLACK_PAGES &&
        present(ctx, USC_XEN_FRAME_4G))
        ram->high_end = run_end(present, ctx, USC_XEN_FRAME_4G, max_frame + 1);
}

/* ---- mapping frames ----------------------------------------------------- */

/* HVM and PVH: frames are the guest's own (gfns). */
static int map_hvm(void *ctx, uint64_t frame, size_t n, int writable, int *err,
                   void **addr)
{
    struct xen *xs = ctx;
    xen_pfn_t gfn[USC_XEN_CHUNK_PAGES];

    if (n > USC_XEN_CHUNK_PAGES)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        gfn[i] = frame + i;
    *addr = xenforeignmemory_map(xs->x.fmem, xs->x.domid,
                                 writable ? PROT_READ | PROT_WRITE : PROT_READ,
                                 n, gfn, err);
    return *addr ? 0 : xc_err();
}

/*
 * PV: the machine frame of pseudo-physical (pfn) from the guest's p2m, or
 * UINT64_MAX. The p2m is guest memory: its entries are taken as claims,
 * which Xen checks when mapping (a frame the domain does not own is
 * refused); Linux's identity and foreign marks (the top bits) are not
 * frames of the domain's RAM.
 */
static uint64_t pv_mfn(const struct xen *xs, uint64_t pfn)
{
    const unsigned char *p2m = (const unsigned char *)xs->minfo.p2m_table;
    uint64_t v = UINT64_MAX;
    uint32_t v32;

    if (!xs->have_minfo || pfn >= xs->minfo.p2m_size)
        return UINT64_MAX;
    if (xs->pv_width == 8) {
        memcpy(&v, p2m + pfn * 8, sizeof(v));
    } else {
        memcpy(&v32, p2m + pfn * 4, sizeof(v32));
        if (v32 != UINT32_MAX)
            v = v32;
    }
    return v < PV_MFN_LIMIT ? v : UINT64_MAX;
}

/* PV: frames are pseudo-physical, mapped through the p2m; read-only. */
static int map_pv(void *ctx, uint64_t frame, size_t n, int writable, int *err,
                  void **addr)
{
    struct xen *xs = ctx;
    xen_pfn_t mfn[USC_XEN_CHUNK_PAGES];
    uint64_t any = UINT64_MAX;
    int absent[USC_XEN_CHUNK_PAGES];

    *addr = NULL;
    if (n > USC_XEN_CHUNK_PAGES)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        uint64_t m = writable ? UINT64_MAX : pv_mfn(xs, frame + i);

        absent[i] = m == UINT64_MAX;
        mfn[i] = absent[i] ? 0 : m;
        if (!absent[i] && any == UINT64_MAX)
            any = m;
        err[i] = absent[i] ? EFAULT : 0;
    }
    if (any == UINT64_MAX)
        return 0;
    /* a hole is filled with a frame of the domain's, then called refused */
    for (size_t i = 0; i < n; i++)
        if (absent[i])
            mfn[i] = any;
    *addr =
        xenforeignmemory_map(xs->x.fmem, xs->x.domid, PROT_READ, n, mfn, err);
    if (!*addr)
        return xc_err();
    for (size_t i = 0; i < n; i++)
        if (absent[i])
            err[i] = EFAULT;
    return 0;
}

/* The mapper's unmap, for both kinds of domain. */
static void unmap_frames(void *ctx, void *addr, size_t n)
{
    struct xen *xs = ctx;

    xenforeignmemory_unmap(xs->x.fmem, addr, n);
}

/* Whether HVM frame (gfn) is populated: mapped and let go at once. */
static int hvm_present(void *ctx, uint64_t gfn)
{
    struct xen *xs = ctx;
    xen_pfn_t f = gfn;
    int err = 0;
    void *p =
        xenforeignmemory_map(xs->x.fmem, xs->x.domid, PROT_READ, 1, &f, &err);

    if (!p)
        return 0;
    xenforeignmemory_unmap(xs->x.fmem, p, 1);
    return err == 0;
}

/* RAM bounds of an HVM or PVH domain, from its populated frames. */
static int learn_hvm_memory(struct xen *xs, const xc_domaininfo_t *info)
{
    struct usc_xen_ram ram;
    xen_pfn_t max = 0;

    if (xc_domain_maximum_gpfn(xs->x.xch, xs->x.domid, &max) < 0)
        return xc_err();
    usc_xen_ram_find(hvm_present, xs, max, info->tot_pages, &ram);
    if (ram.high_end) {
        xs->x.phys_end = ram.high_end << USC_XEN_PAGE_SHIFT;
        xs->mem_bytes = (ram.low_end + ram.high_end - USC_XEN_FRAME_4G)
                        << USC_XEN_PAGE_SHIFT;
    } else {
        xs->x.phys_end = ram.low_end << USC_XEN_PAGE_SHIFT;
        xs->mem_bytes = xs->x.phys_end;
    }
    return 0;
}

/* A PV domain's p2m, and RAM up to its last frame. */
static int learn_pv_memory(struct xen *xs, const xc_domaininfo_t *info)
{
    unsigned int width = 0;
    uint64_t end;
    int err;

    if (xc_domain_get_guest_width(xs->x.xch, xs->x.domid, &width) < 0)
        return xc_err();
    if (width != 4 && width != 8)
        return -ENOTSUP;
    xs->pv_width = width;
    xs->mem_bytes = (uint64_t)info->tot_pages << USC_XEN_PAGE_SHIFT;
    if (xc_map_domain_meminfo(xs->x.xch, xs->x.domid, &xs->minfo) < 0) {
        err = xc_err();
        /*
         * Xen will not let a domain name itself as the foreign domain of a
         * mapping (-ESRCH): dom0 looking at itself gets no memory, only
         * its registers and statistics.
         */
        if (err == -ESRCH && usc_xen_alive(&xs->x) == 0) {
            xs->no_memory = 1;
            return 0;
        }
        return err;
    }
    xs->have_minfo = 1;
    if (xs->minfo.guest_width != width)
        return -EPROTO;
    /* the p2m may reserve room for ballooning: RAM ends at its last frame */
    for (end = xs->minfo.p2m_size; end > 0; end--)
        if (pv_mfn(xs, end - 1) != UINT64_MAX)
            break;
    xs->x.phys_end = end << USC_XEN_PAGE_SHIFT;
    return 0;
}

/* ---- open, close, describe ---------------------------------------------- */

/*
 * The domain (spec) names into (info): by domid, or by its xenstore name.
 * Returns 0, -ENOENT for none.
 */
static int find_domain(xc_interface *xch, struct xs_handle *xsh,
                       const struct usc_target_spec *spec,
                       xc_domaininfo_t *info)
{
    xc_domaininfo_t batch[LIST_BATCH];
    char name[USC_TARGET_NAME_MAX];
    uint32_t first = 0;
    int n;

    if (spec->domid >= 0) {
        n = xc_domain_getinfolist(xch, (uint32_t)spec->domid, 1, info);
        if (n < 0)
            return xc_err();
        return n == 1 && info->domain == (uint32_t)spec->domid ? 0 : -ENOENT;
    }
    if (!xsh)
        return -ENOENT;
    do {
        n = xc_domain_getinfolist(xch, first, LIST_BATCH, batch);
        if (n < 0)
            return xc_err();
        for (int i = 0; i < n; i++) {
            domain_name(xsh, batch[i].domain, name, sizeof(name));
            if (strcmp(name, spec->name) == 0) {
                *info = batch[i];
                return 0;
            }
        }
        if (n > 0)
            first = batch[n - 1].domain + 1u;
    } while (n == LIST_BATCH && first < DOMID_LIMIT);
    return -ENOENT;
}

/* Release what open took; a half-opened state too (open's error path). */
static void xen_close(void *priv)
{
    struct xen *xs = xen_of(priv);

    if (!xs)
        return;
    if (xs->x.dbg)
        usc_xen_debug_close(&xs->x);
    /*
     * A pause asked for through usc_target_pause stays in force (target.h):
     * the caller resumes what it paused.
     */
    usc_xen_maps_free(xs->x.maps);
    if (xs->have_minfo)
        xc_unmap_domain_meminfo(xs->x.xch, &xs->minfo);
    if (xs->x.fmem)
        xenforeignmemory_close(xs->x.fmem);
    if (xs->x.xch)
        xc_interface_close(xs->x.xch);
    free(xs);
}

/*
 * Open domain spec->domid, or the one xenstore names spec->name, without
 * pausing or changing it. -ENOENT for no such domain (or a dying one);
 * -ENODEV outside a privileged Xen domain; -EACCES without the rights to
 * privcmd; -ESRCH when the domain dies meanwhile.
 */
static int xen_open(const struct usc_target_spec *spec, void **priv)
{
    struct usc_xen_mapper m;
    struct xs_handle *xsh = NULL;
    xc_domaininfo_t info;
    struct xen *xs;
    int err, found = 0;

    if (!spec || !priv || spec->kind != USC_TARGET_XEN)
        return -EINVAL;
    *priv = NULL;
    if (spec->domid < 0 && !spec->name[0])
        return -EINVAL;
    xs = calloc(1, sizeof(*xs));
    if (!xs)
        return -ENOMEM;
    err = open_xc(&xs->x.xch);
    if (err)
        goto err;
    xsh = xs_open(0);
    err = find_domain(xs->x.xch, xsh, spec, &info);
    if (!err && (info.flags & XEN_DOMINF_dying))
        err = -ENOENT; /* a zombie, kept only by someone's mappings */
    if (err)
        goto err;
    found = 1;
    xs->x.domid = info.domain;
    memcpy(xs->handle, info.handle, sizeof(xs->handle));
    xs->x.hvm = (info.flags & XEN_DOMINF_hvm_guest) != 0;
    xs->x.nvcpus =
        info.max_vcpu_id == XEN_INVALID_MAX_VCPU_ID ? 0 : info.max_vcpu_id + 1;
    domain_name(xsh, xs->x.domid, xs->x.name, sizeof(xs->x.name));
    if (!xs->x.name[0])
        snprintf(xs->x.name, sizeof(xs->x.name), "domain-%u", xs->x.domid);
    xs->checked_ms = now_ms();
    xs->x.fmem = xenforeignmemory_open(&usc_xen_quiet, 0);
    if (!xs->x.fmem) {
        err = -ENODEV;
        goto err;
    }
    err = xs->x.hvm ? learn_hvm_memory(xs, &info) : learn_pv_memory(xs, &info);
    if (err)
        goto err;
    m.map = xs->x.hvm ? map_hvm : map_pv;
    m.unmap = unmap_frames;
    m.ctx = xs;
    err = usc_xen_maps_new(&m, xs->x.phys_end >> USC_XEN_PAGE_SHIFT,
                           MAPPED_CHUNKS_MAX, &xs->x.maps);
    if (err)
        goto err;
    if (xsh)
        xs_close(xsh);
    *priv = &xs->x;
    return 0;
err:
    if (xsh)
        xs_close(xsh);
    if (found && err != -ENOMEM)
        err = failed(xs, err);
    xen_close(xs);
    return err;
}

/* The state from the domain's flags; dead once it is gone. */
static int xen_run_state(void *priv, enum usc_vm_state *state)
{
    struct xen *xs = xen_of(priv);
    xc_domaininfo_t info;
    int err;

    *state = USC_VM_DEAD;
    if (xs->gone)
        return 0;
    err = domain_info(xs, &info);
    if (err == -ESRCH) {
        usc_xen_alive(&xs->x);
        return 0;
    }
    if (err)
        return err;
    *state = usc_xen_state_of_flags(info.flags);
    return 0;
}

/* Facts learnt at open, and the state now (dead once gone): never fails. */
static int xen_describe(void *priv, struct usc_target_info *info)
{
    struct xen *xs = xen_of(priv);

    memset(info, 0, sizeof(*info));
    snprintf(info->name, sizeof(info->name), "%s", xs->x.name);
    snprintf(info->hypervisor, sizeof(info->hypervisor), "xen");
    info->nvcpus = xs->x.nvcpus;
    info->mem_bytes = xs->mem_bytes;
    info->phys_end = xs->x.phys_end;
    info->pid = -1;
    /* PV: no HVM CPU record to set, no vm_event debugging */
    info->can_control = xs->x.hvm;
    if (xen_run_state(xs, &info->state) < 0)
        info->state = USC_VM_UNKNOWN;
    return 0;
}

/* ---- memory ---------------------------------------------------------------
 */

/* [paddr, paddr + len) inside [0, phys_end), and the domain still there. */
static int check_range(struct xen *xs, uint64_t paddr, size_t len)
{
    if (xs->no_memory)
        return -ENOTSUP;
    if (paddr > xs->x.phys_end || len > xs->x.phys_end - paddr)
        return -EFAULT;
    return still_there(xs);
}

/* The page of (paddr), mapped; (writable) for a store. */
static int page_of(struct xen *xs, uint64_t paddr, int writable,
                   unsigned char **page)
{
    int err = usc_xen_maps_page(xs->x.maps, paddr >> USC_XEN_PAGE_SHIFT,
                                writable, page);

    return err && err != -EFAULT ? failed(xs, err) : err;
}

/*
 * Copy (len) bytes between guest RAM at (paddr) and (buf), a page at a
 * time: into (buf) unless (writing), then out of it.
 */
static int copy_pages(struct xen *xs, uint64_t paddr, void *buf, size_t len,
                      int writing)
{
    unsigned char *p = buf, *page;
    int err = check_range(xs, paddr, len);

    while (!err && len) {
        size_t off = paddr & (USC_XEN_PAGE_SIZE - 1);
        size_t n =
            USC_XEN_PAGE_SIZE - off < len ? USC_XEN_PAGE_SIZE - off : len;

        err = page_of(xs, paddr, writing, &page);
        if (err)
            break;
        if (writing)
            memcpy(page + off, p, n);
        else
            memcpy(p, page + off, n);
        p += n;
        paddr += n;
        len -= n;
    }
    return err;
}

int usc_xen_read_phys(void *priv, uint64_t paddr, void *buf, size_t len)
{
    return copy_pages(xen_of(priv), paddr, buf, len, 0);
}

/* Copy (len) bytes into guest RAM at (paddr), a page at a time. */
static int write_bytes(struct xen *xs, uint64_t paddr, const void *buf,
                       size_t len)
{
    if (!xs->x.hvm)
        return -ENOTSUP; /* PV: a writable mapping would pin page types */
    /* copy_pages only reads (buf) when writing */
    return copy_pages(xs, paddr, (void *)(uintptr_t)buf, len, 1);
}

/*
 * Code writes too go straight into guest RAM: the guest's CPUs see our
 * stores as they see each other's.
 */
int usc_xen_write_phys(void *priv, uint64_t paddr, const void *buf, size_t len)
{
    return write_bytes(xen_of(priv), paddr, buf, len);
}

/* An aligned 4- or 8-byte value is one store, as the agent expects. */
static int xen_write_data(void *priv, uint64_t paddr, const void *buf,
                          size_t len)
{
    struct xen *xs = xen_of(priv);
    unsigned char *page;
    uint64_t v64;
    uint32_t v32;
    int err;

    if ((len != 4 && len != 8) || (paddr & (len - 1)))
        return write_bytes(xs, paddr, buf, len);
    if (!xs->x.hvm)
        return -ENOTSUP;
    err = check_range(xs, paddr, len);
    if (!err)
        err = page_of(xs, paddr, 1, &page);
    if (err)
        return err;
    page += paddr & (USC_XEN_PAGE_SIZE - 1);
    if (len == 8) {
        memcpy(&v64, buf, sizeof(v64));
        *(volatile uint64_t *)(void *)page = v64;
    } else {
        memcpy(&v32, buf, sizeof(v32));
        *(volatile uint32_t *)(void *)page = v32;
    }
    return 0;
}

/* ---- run control ----------------------------------------------------------
 */

int usc_xen_pause(void *priv)
{
    struct xen *xs = xen_of(priv);

    if (xs->gone)
        return -ESRCH;
    /* Xen counts pauses: ours is taken once, so that one resume undoes it */
    if (xs->x.paused)
        return 0;
    if (xc_domain_pause(xs->x.xch, xs->x.domid) < 0)
        return failed(xs, xc_err());
    xs->x.paused = 1;
    return 0;
}

int usc_xen_resume(void *priv)
{
    struct xen *xs = xen_of(priv);
    xc_domaininfo_t info;
    int err;

    if (xs->gone)
        return -ESRCH;
    /* not ours: the toolstack's pause (xl pause), which resume undoes too */
    if (!xs->x.paused) {
        err = domain_info(xs, &info);
        if (err)
            return failed(xs, err);
        if (!(info.flags & XEN_DOMINF_paused))
            return 0;
    }
    err = xc_domain_unpause(xs->x.xch, xs->x.domid) < 0 ? xc_err() : 0;
    /* -EINVAL: no pause left to undo (xl unpause took ours) */
    if (err == -EINVAL)
        err = 0;
    if (!err)
        xs->x.paused = 0;
    return err ? failed(xs, err) : 0;
}

/* ---- registers ------------------------------------------------------------
 */

int usc_xen_get_cpu(struct usc_xen *x, uint32_t vcpu, struct hvm_hw_cpu *cpu)
{
    struct xen *xs = xen_of(x);

    if (!x->hvm)
        return -ENOTSUP;
    if (xs->gone)
        return -ESRCH;
    if (vcpu >= x->nvcpus)
        return -EINVAL;
    /* Xen pauses the vCPU while it copies the record */
    if (xc_domain_hvm_getcontext_partial(x->xch, x->domid, HVM_SAVE_CODE(CPU),
                                         (uint16_t)vcpu, cpu, sizeof(*cpu)) < 0)
        return failed(xs, xc_err());
    return 0;
}

/*
 * In the HVM context (buf) of (len) bytes, put (cpu) in place of the CPU
 * record of (vcpu), keeping that record's TSC: a record read on its own
 * (usc_xen_get_cpu) carries the guest's TSC as of Xen's last full save,
 * and writing that back would set the guest's clock back by all the time
 * since (its timers would stall). -ENOENT without one (a vCPU that is
 * down); -EPROTO for a context that does not parse.
 */
static int replace_cpu(unsigned char *buf, size_t len, uint32_t vcpu,
                       const struct hvm_hw_cpu *cpu)
{
    struct hvm_save_descriptor d;
    size_t off = 0;

    while (len - off >= sizeof(d)) {
        memcpy(&d, buf + off, sizeof(d));
        off += sizeof(d);
        if (d.length > len - off)
            return -EPROTO;
        if (d.typecode == HVM_SAVE_CODE(END))
            break;
        if (d.typecode == HVM_SAVE_CODE(CPU) && d.instance == vcpu) {
            struct hvm_hw_cpu now = *cpu;
            if (d.length != sizeof(now))
                return -EPROTO;
            memcpy(&now.tsc, buf + off + offsetof(struct hvm_hw_cpu, tsc),
                   sizeof(now.tsc));
            memcpy(buf + off, &now, sizeof(now));
            return 0;
        }
        off += d.length;
    }
    return -ENOENT;
}

int usc_xen_set_cpu(struct usc_xen *x, uint32_t vcpu,
                    const struct hvm_hw_cpu *cpu)
{
    struct xen *xs = xen_of(x);
    unsigned char *buf = NULL;
    int size, len, err;

    if (!x->hvm)
        return -ENOTSUP;
    if (xs->gone)
        return -ESRCH;
    if (vcpu >= x->nvcpus)
        return -EINVAL;
    /*
     * The whole context goes back (a CPU record alone would down the other
     * vCPUs and lose the extended FPU state): nothing may run meanwhile.
     */
    if (xc_domain_pause(x->xch, x->domid) < 0)
        return failed(xs, xc_err());
    size = xc_domain_hvm_getcontext(x->xch, x->domid, NULL, 0);
    if (size <= 0) {
        err = size < 0 ? xc_err() : -EPROTO;
        goto out;
    }
    buf = malloc((size_t)size);
    if (!buf) {
        err = -ENOMEM;
        goto out;
    }
    len = xc_domain_hvm_getcontext(x->xch, x->domid, buf, (uint32_t)size);
    if (len <= 0 || len > size) {
        err = len < 0 ? xc_err() : -EPROTO;
        goto out;
    }
    err = replace_cpu(buf, (size_t)len, vcpu, cpu);
    if (!err &&
        xc_domain_hvm_setcontext(x->xch, x->domid, buf, (uint32_t)len) < 0)
        err = xc_err();
out:
    free(buf);
    xc_domain_unpause(x->xch, x->domid);
    return err ? failed(xs, err) : 0;
}

/* usc_regs from an HVM CPU record (cr8 is not in it: 0). */
static void regs_of_cpu(const struct hvm_hw_cpu *c, struct usc_regs *r)
{
    memset(r, 0, sizeof(*r));
    r->rax = c->rax;
    r->rbx = c->rbx;
    r->rcx = c->rcx;
    r->rdx = c->rdx;
    r->rsi = c->rsi;
    r->rdi = c->rdi;
    r->rbp = c->rbp;
    r->rsp = c->rsp;
    r->r8 = c->r8;
    r->r9 = c->r9;
    r->r10 = c->r10;
    r->r11 = c->r11;
    r->r12 = c->r12;
    r->r13 = c->r13;
    r->r14 = c->r14;
    r->r15 = c->r15;
    r->rip = c->rip;
    r->rflags = c->rflags;
    r->cs = c->cs_sel;
    r->ss = c->ss_sel;
    r->ds = c->ds_sel;
    r->es = c->es_sel;
    r->fs = c->fs_sel;
    r->gs = c->gs_sel;
    r->fs_base = c->fs_base;
    r->gs_base = c->gs_base;
    r->k_gs_base = c->shadow_gs;
    r->cr0 = c->cr0;
    r->cr2 = c->cr2;
    r->cr3 = c->cr3;
    r->cr4 = c->cr4;
    r->efer = c->msr_efer;
}

/* Put (r) into the CPU record (c), leaving the rest of it as it was. */
static void cpu_of_regs(const struct usc_regs *r, struct hvm_hw_cpu *c)
{
    c->rax = r->rax;
    c->rbx = r->rbx;
    c->rcx = r->rcx;
    c->rdx = r->rdx;
    c->rsi = r->rsi;
    c->rdi = r->rdi;
    c->rbp = r->rbp;
    c->rsp = r->rsp;
    c->r8 = r->r8;
    c->r9 = r->r9;
    c->r10 = r->r10;
    c->r11 = r->r11;
    c->r12 = r->r12;
    c->r13 = r->r13;
    c->r14 = r->r14;
    c->r15 = r->r15;
    c->rip = r->rip;
    c->rflags = r->rflags;
    c->cs_sel = (uint32_t)r->cs;
    c->ss_sel = (uint32_t)r->ss;
    c->ds_sel = (uint32_t)r->ds;
    c->es_sel = (uint32_t)r->es;
    c->fs_sel = (uint32_t)r->fs;
    c->gs_sel = (uint32_t)r->gs;
    c->fs_base = r->fs_base;
    c->gs_base = r->gs_base;
    c->shadow_gs = r->k_gs_base;
    c->cr0 = r->cr0;
    c->cr2 = r->cr2;
    c->cr3 = r->cr3;
    c->cr4 = r->cr4;
    c->msr_efer = r->efer;
}

/*
 * A 64-bit PV vCPU's registers. Its CR3 holds a machine frame and its page
 * tables machine addresses, which the page walker (guest-physical) cannot
 * follow: CR3 reads as 0, so virtual addresses are refused (-ENOTSUP)
 * rather than translated wrongly.
 */
static int pv_regs(struct xen *xs, uint32_t vcpu, struct usc_regs *r)
{
    vcpu_guest_context_any_t ctx;
    const struct vcpu_guest_context_x86_64 *c = &ctx.x64;
    int kernel;

    if (xs->pv_width != 8)
        return -ENOTSUP;
    if (xc_vcpu_getcontext(xs->x.xch, xs->x.domid, vcpu, &ctx) < 0)
        return failed(xs, xc_err());
    memset(r, 0, sizeof(*r));
    r->rax = c->user_regs.rax;
    r->rbx = c->user_regs.rbx;
    r->rcx = c->user_regs.rcx;
    r->rdx = c->user_regs.rdx;
    r->rsi = c->user_regs.rsi;
    r->rdi = c->user_regs.rdi;
    r->rbp = c->user_regs.rbp;
    r->rsp = c->user_regs.rsp;
    r->r8 = c->user_regs.r8;
    r->r9 = c->user_regs.r9;
    r->r10 = c->user_regs.r10;
    r->r11 = c->user_regs.r11;
    r->r12 = c->user_regs.r12;
    r->r13 = c->user_regs.r13;
    r->r14 = c->user_regs.r14;
    r->r15 = c->user_regs.r15;
    r->rip = c->user_regs.rip;
    r->rflags = c->user_regs.rflags;
    r->cs = c->user_regs.cs;
    r->ss = c->user_regs.ss;
    r->ds = c->user_regs.ds;
    r->es = c->user_regs.es;
    r->fs = c->user_regs.fs;
    r->gs = c->user_regs.gs;
    r->fs_base = c->fs_base;
    kernel = (c->flags & VGCF_in_kernel) != 0;
    r->gs_base = kernel ? c->gs_base_kernel : c->gs_base_user;
    r->k_gs_base = kernel ? c->gs_base_user : c->gs_base_kernel;
    /* a 64-bit PV guest always runs paged, in long mode */
    r->cr0 = c->ctrlreg[0] | CR0_PE | CR0_PG;
    r->cr2 = c->ctrlreg[2];
    r->cr4 = c->ctrlreg[4];
    r->efer = EFER_LME | EFER_LMA;
    return 0;
}

/* HVM: from the CPU save record; PV: from the vCPU context. */
static int xen_get_regs(void *priv, uint32_t vcpu, struct usc_regs *regs)
{
    struct xen *xs = xen_of(priv);
    struct hvm_hw_cpu cpu;
    int err;

    if (xs->gone)
        return -ESRCH;
    if (vcpu >= xs->x.nvcpus)
        return -EINVAL;
    if (!xs->x.hvm)
        return pv_regs(xs, vcpu, regs);
    err = usc_xen_get_cpu(&xs->x, vcpu, &cpu);
    if (err)
        return err;
    regs_of_cpu(&cpu, regs);
    return 0;
}

/* HVM only: the record read, changed and put back whole. */
static int xen_set_regs(void *priv, uint32_t vcpu, const struct usc_regs *regs)
{
    struct xen *xs = xen_of(priv);
    struct hvm_hw_cpu cpu;
    int err;

    if (!xs->x.hvm)
        return -ENOTSUP;
    err = usc_xen_get_cpu(&xs->x, vcpu, &cpu);
    if (err)
        return err;
    cpu_of_regs(regs, &cpu);
    return usc_xen_set_cpu(&xs->x, vcpu, &cpu);
}

/* ---- statistics -----------------------------------------------------------
 */

/* Xen's CPU time of (vcpu); no host thread, no exit count. */
static int xen_vcpu_stats(void *priv, uint32_t vcpu, struct usc_vcpu_stats *st)
{
    struct xen *xs = xen_of(priv);
    xc_vcpuinfo_t info;

    if (xs->gone)
        return -ESRCH;
    if (vcpu >= xs->x.nvcpus)
        return -EINVAL;
    if (xc_vcpu_getinfo(xs->x.xch, xs->x.domid, vcpu, &info) < 0)
        return failed(xs, xc_err());
    st->host_tid = -1;
    st->cpu_ns = info.cpu_time;
    st->exits = USC_STAT_UNKNOWN;
    return 0;
}

/* ---- the domain list ------------------------------------------------------
 */

/* qsort order of usc_xen_domain entries. */
static int by_domid(const void *a, const void *b)
{
    const struct usc_xen_domain *x = a, *y = b;

    return x->domid < y->domid ? -1 : x->domid > y->domid;
}

int usc_xen_list_domains(struct usc_xen_domain **out, size_t *count)
{
    xc_domaininfo_t batch[LIST_BATCH];
    struct usc_xen_domain *list = NULL, *grown;
    struct xs_handle *xsh = NULL;
    xc_interface *xch = NULL;
    size_t n = 0, cap = 0;
    uint32_t first = 0;
    int got, err;

    if (!out || !count)
        return -EINVAL;
    *out = NULL;
    *count = 0;
    err = open_xc(&xch);
    if (err)
        return err;
    xsh = xs_open(0);
    do {
        got = xc_domain_getinfolist(xch, first, LIST_BATCH, batch);
        if (got < 0) {
            err = xc_err();
            goto err;
        }
        if (n + (size_t)got > cap) {
            cap = cap ? 2 * cap : LIST_BATCH;
            grown = realloc(list, cap * sizeof(*list));
            if (!grown) {
                err = -ENOMEM;
                goto err;
            }
            list = grown;
        }
        for (int i = 0; i < got; i++) {
            const xc_domaininfo_t *d = &batch[i];
            struct usc_xen_domain *e = &list[n++];

            memset(e, 0, sizeof(*e));
            e->domid = d->domain;
            domain_name(xsh, d->domain, e->name, sizeof(e->name));
            e->nvcpus = d->max_vcpu_id == XEN_INVALID_MAX_VCPU_ID
                            ? 0
                            : d->max_vcpu_id + 1;
            e->mem_bytes = (uint64_t)d->tot_pages << USC_XEN_PAGE_SHIFT;
            e->state = usc_xen_state_of_flags(d->flags);
            e->cpu_ns = d->cpu_time;
            e->hvm = (d->flags & XEN_DOMINF_hvm_guest) != 0;
        }
        if (got > 0)
            first = batch[got - 1].domain + 1u;
    } while (got == LIST_BATCH && first < DOMID_LIMIT);
    qsort(list, n, sizeof(*list), by_domid);
    *out = list;
    *count = n;
    list = NULL;
    err = 0;
err:
    free(list);
    if (xsh)
        xs_close(xsh);
    xc_interface_close(xch);
    return err;
}

const struct usc_backend_ops usc_backend_xen = {
    .name = "xen",
    .open = xen_open,
    .close = xen_close,
    .describe = xen_describe,
    .read_phys = usc_xen_read_phys,
    .write_phys = usc_xen_write_phys,
    .pause = usc_xen_pause,
    .resume = usc_xen_resume,
    .run_state = xen_run_state,
    .wait_stop = usc_xen_wait_stop,
    .get_regs = xen_get_regs,
    .set_regs = xen_set_regs,
    .insert_break = usc_xen_insert_break,
    .remove_break = usc_xen_remove_break,
    .step = usc_xen_step,
    .vcpu_stats = xen_vcpu_stats,
    .write_data = xen_write_data,
};
