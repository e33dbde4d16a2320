/* A core of a guest: pause, registers, page tables, sparse RAM, resume,
 * rename. */
#include "coredump.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent_reader.h"
#include "fdio.h"
#include "guestmem.h"
#include "pagewalk.h"
#include "ramdata.h"
#include "rundir.h"
#include "snapshot.h"

#define GIB(n) ((uint64_t)(n) << 30)
#define PAGE 4096ull
#define CR0_PG (1ull << 31)
#define CR4_LA57 (1ull << 12)
#define MAX_RAM 2
#define SNAPSHOT_MAX (1ull << 30)   /* bytes of guest pages copied, at most */
#define SNAPSHOT_SLACK (8ull << 20) /* pages touched while we prepare */

/* Nanoseconds on the monotonic clock. */
static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Everything one dump holds while it runs; released by finish(). */
struct dump {
    const struct usc_core_dump_opts *o;
    struct usc_core_dump_result *res;
    struct usc_target_spec spec;
    struct usc_target *t;
    struct usc_target_info info;
    const struct usc_physmem *pm;
    struct usc_ramdata rf;
    int have_rf;
    int target_data; /* the target says where data is (next_data) */
    struct usc_agent *agent;
    struct usc_panic panic;
    int have_panic;
    struct usc_core_ram ram[MAX_RAM];
    size_t nram;
    struct usc_core_vcpu *vcpus;
    struct usc_core_thread *threads;
    struct usc_vrange *vmap;
    size_t nvmap;
    struct usc_core_desc desc;
    struct usc_core_plan *plan;
    struct usc_snapshot snap; /* the guest's data, copied while paused */
    int have_snap;            /* room for it set aside */
    /* Where the file's memory comes from: the guest, or the copy. */
    const struct usc_physmem *src_pm;
    int (*next)(void *priv, uint64_t paddr, uint64_t end, uint64_t *start,
                uint64_t *stop);
    void *next_priv;
    char tmp[PATH_MAX];
    int fd;
    int paused; /* we paused the guest: resume it */
    int64_t pause_start;
    unsigned char *console; /* the console's tail, for its note */
    size_t console_len;
};

/* ---- the guest --------------------------------------------------------- */

/* usc_core_source.next_data over the guest's target (a VMM process's pages
 * never touched), for a guest without a RAM file. */
static int target_next_data(void *priv, uint64_t paddr, uint64_t end,
                            uint64_t *start, uint64_t *stop)
{
    struct dump *d = priv;

    return usc_target_next_data(d->t, paddr, end, start, stop);
}

/* Guest RAM as QEMU's pc machine lays it out, within what the backend
 * says is physical memory. */
static void ram_ranges(struct dump *d)
{
    uint64_t mem = d->info.mem_bytes, end = d->info.phys_end & ~(PAGE - 1);
    uint64_t low = mem >= 0xe0000000ull ? 0xc0000000ull : mem;

    d->nram = 0;
    if (mem == 0) {
        if (end)
            d->ram[d->nram++] = (struct usc_core_ram){0, end};
        return;
    }
    low &= ~(PAGE - 1);
    if (low && end)
        d->ram[d->nram++] = (struct usc_core_ram){0, low < end ? low : end};
    if (mem > low && end > GIB(4)) {
        uint64_t high = (mem - low) & ~(PAGE - 1);
        if (high > end - GIB(4))
            high = end - GIB(4);
        if (high)
            d->ram[d->nram++] = (struct usc_core_ram){GIB(4), high};
    }
}

/* The signal a debugger should report for the panic's vector. */
static int signal_of(uint64_t vector)
{
    switch (vector) {
    case USC_PANIC_NO_VECTOR:
        return SIGABRT;
    case 0:  /* divide error */
    case 16: /* x87 */
    case 19: /* SIMD */
        return SIGFPE;
    case 1: /* debug */
    case 3: /* breakpoint */
        return SIGTRAP;
    case 6: /* invalid opcode */
        return SIGILL;
    case 17: /* alignment check */
        return SIGBUS;
    default:
        return SIGSEGV;
    }
}

/*
 * Registers of every vCPU, the panicking one first carrying the agent's
 * fault frame so that a debugger starts where it faulted.
 */
static int collect_vcpus(struct dump *d)
{
    uint32_t n = d->info.nvcpus ? d->info.nvcpus : 1;
    uint32_t first = 0, k = 0;
    int got = 0, last_err = 0;

    if (n > USC_NOTE_MAX_VCPUS)
        n = USC_NOTE_MAX_VCPUS;
    d->vcpus = calloc(n, sizeof(*d->vcpus));
    if (!d->vcpus)
        return -ENOMEM;
    if (d->have_panic && d->panic.vcpu < n)
        first = d->panic.vcpu;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t v = i == 0 ? first : (i <= first ? i - 1 : i);
        struct usc_core_vcpu *c = &d->vcpus[k++];
        int err = d->info.can_control ? usc_target_get_regs(d->t, v, &c->live)
                                      : -ENOTSUP;
        c->index = v;
        if (err) {
            last_err = err;
            c->flags |= USC_NOTE_VCPU_NO_REGS;
            memset(&c->live, 0, sizeof(c->live));
        } else {
            got++;
        }
        c->regs = c->live;
        if (d->have_panic && v == d->panic.vcpu) {
            c->signal = signal_of(d->panic.vector);
            /* no frame recorded: the vCPU's own registers, as they are */
            if (usc_panic_regs(&d->panic, &c->live, &c->regs))
                c->flags |= USC_NOTE_VCPU_PANIC_FRAME;
        }
    }
    d->desc.vcpus = d->vcpus;
    d->desc.nvcpus = n;
    /* Another debugger holds QEMU's stub: the memory is worth having. */
    if (d->info.can_control && got == 0 && last_err == -EBUSY) {
        d->res->no_regs = 1;
        return 0;
    }
    /* A controllable guest whose registers cannot be read: say why. */
    if (d->info.can_control && got == 0)
        return last_err ? last_err : -EIO;
    return 0;
}

/* (t) as the core's thread (c): its saved registers, its vCPU's segments. */
static void core_thread(const struct dump *d, const struct usc_agent_thread *t,
                        uint32_t lwp, struct usc_core_thread *c)
{
    const struct usc_regs *seg = &d->vcpus[0].live;
    struct usc_regs *r = &c->regs;

    for (uint32_t i = 0; i < d->desc.nvcpus; i++)
        if (d->vcpus[i].index == t->vcpu)
            seg = &d->vcpus[i].live;
    memset(c, 0, sizeof(*c));
    c->note.lwp = lwp;
    c->note.id = t->id;
    c->note.state = t->state;
    c->note.vcpu = t->vcpu;
    snprintf(c->note.name, sizeof(c->note.name), "%s", t->name);
    r->rip = t->regs.rip;
    r->rsp = t->regs.rsp;
    r->rbp = t->regs.rbp;
    r->rbx = t->regs.rbx;
    r->r12 = t->regs.r12;
    r->r13 = t->regs.r13;
    r->r14 = t->regs.r14;
    r->r15 = t->regs.r15;
    r->cs = seg->cs;
    r->ss = seg->ss;
    r->ds = seg->ds;
    r->es = seg->es;
    r->fs = seg->fs;
    r->gs = seg->gs;
    r->fs_base = seg->fs_base;
    r->gs_base = seg->gs_base;
}

/*
 * Every agent thread that is not running, so that a plain debugger lists
 * it beside the vCPUs: thread ids follow the vCPUs' as unigdb numbers
 * them. A thread table that cannot be read leaves them out, slot by slot.
 */
static int collect_threads(struct dump *d)
{
    struct usc_agent_thread *at;
    size_t cap, n = 0;

    if (!d->agent)
        return 0;
    cap = usc_agent_header(d->agent)->threads.capacity;
    if (cap > USC_NOTE_MAX_THREADS)
        cap = USC_NOTE_MAX_THREADS;
    if (!cap)
        return 0;
    at = calloc(cap, sizeof(*at));
    d->threads = calloc(cap, sizeof(*d->threads));
    if (!at || !d->threads) {
        free(at);
        return -ENOMEM;
    }
    if (usc_agent_threads(d->agent, at, cap, &n) != 0) {
        int settled;
        n = 0;
        for (uint32_t slot = 0; slot < cap; slot++)
            if (usc_agent_thread_at(d->agent, slot, &at[n], &settled) == 0)
                n++;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t lwp = (uint64_t)d->desc.nvcpus + 1 + at[i].id;
        if (at[i].state == USC_THREAD_RUNNING ||
            at[i].state == USC_THREAD_EXITED || lwp > INT32_MAX)
            continue;
        core_thread(d, &at[i], (uint32_t)lwp, &d->threads[d->desc.nthreads++]);
    }
    free(at);
    d->desc.threads = d->threads;
    return 0;
}

/*
 * Without registers, find the page tables in RAM: the page that, taken as
 * a PML4, translates the agent's own virtual address to where it lies.
 * Only pages with data are tried.
 */
static uint64_t search_cr3(struct dump *d)
{
    const struct usc_control_block *cb =
        d->agent ? usc_agent_header(d->agent) : NULL;
    uint64_t want = d->agent ? usc_agent_paddr(d->agent) : 0, cr3;

    if (!cb || cb->self_vaddr == want)
        return 0;
    for (size_t r = 0; r < d->nram; r++)
        if (usc_pagewalk_find_root(
                d->src_pm, d->ram[r].paddr, d->ram[r].paddr + d->ram[r].len,
                cb->self_vaddr, want, d->next, d->next_priv, &cr3) == 0)
            return cr3;
    return 0;
}

/* The page tables of the first vCPU that has paging on, or the panic's. */
static void collect_vmap(struct dump *d)
{
    uint64_t cr3 = 0;

    for (uint32_t i = 0; i < d->desc.nvcpus && !cr3; i++) {
        const struct usc_core_vcpu *c = &d->vcpus[i];
        if (!(c->flags & USC_NOTE_VCPU_NO_REGS) && (c->live.cr0 & CR0_PG) &&
            !(c->live.cr4 & CR4_LA57))
            cr3 = c->live.cr3;
    }
    if (!cr3 && d->have_panic && (d->panic.regs.cr0 & CR0_PG) &&
        !(d->panic.regs.cr4 & CR4_LA57))
        cr3 = d->panic.regs.cr3;
    if (!cr3)
        cr3 = search_cr3(d);
    /* No vCPU to ask: give readers the root found, as vCPU 0's. */
    if (cr3 && (d->vcpus[0].flags & USC_NOTE_VCPU_NO_REGS)) {
        d->vcpus[0].live.cr3 = cr3;
        d->vcpus[0].live.cr0 = CR0_PG | 1; /* paging, protected mode */
    }
    /* Without tables (or with too many) the core maps virtual = physical. */
    if (!cr3 || usc_vmap_collect(d->src_pm, cr3, &d->vmap, &d->nvmap) != 0) {
        free(d->vmap);
        d->vmap = NULL;
        d->nvmap = 0;
        d->desc.note.flags |= USC_NOTE_NO_PAGING;
    }
    d->desc.vmap = d->vmap;
    d->desc.nvmap = d->nvmap;
}

/* Identity of the guest for the USCOPE note. */
static void fill_note(struct dump *d)
{
    struct usc_note_hdr *h = &d->desc.note;
    struct usc_guest_info gi;
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    h->dump_time_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    h->cb_paddr = h->cb_vaddr = USC_NOTE_NO_AGENT;
    h->mem_bytes = d->info.mem_bytes;
    snprintf(h->name, sizeof(h->name), "%s", d->info.name);
    snprintf(h->hypervisor, sizeof(h->hypervisor), "%s", d->info.hypervisor);
    if (d->o->live)
        h->flags |= USC_NOTE_LIVE;
    if (!d->info.can_control)
        h->flags |= USC_NOTE_RAM_ONLY;
    if (d->agent) {
        const struct usc_control_block *cb = usc_agent_header(d->agent);
        h->cb_paddr = usc_agent_paddr(d->agent);
        h->cb_vaddr = cb->self_vaddr;
        h->build_id_len = cb->build_id_len;
        memcpy(h->build_id, cb->build_id, cb->build_id_len);
        if (cb->name[0])
            snprintf(h->name, sizeof(h->name), "%s", cb->name);
    }
    if (d->have_panic)
        h->flags |= USC_NOTE_PANICKED;
    /* unirun records the image: a hint for analyze, if it is still there. */
    const char *guest = d->o->guest ? d->o->guest : d->spec.name;

    if (guest[0] && usc_guest_info_read(guest, &gi) == 0) {
        char *real = realpath(gi.image, NULL);
        const char *img = real ? real : gi.image;
        if (strlen(img) < sizeof(h->image))
            snprintf(h->image, sizeof(h->image), "%s", img);
        snprintf(d->res->image, sizeof(d->res->image), "%s", img);
        free(real);
    }
    snprintf(d->res->name, sizeof(d->res->name), "%s", h->name);
    memcpy(d->res->build_id, h->build_id, sizeof(h->build_id));
    d->res->build_id_len = h->build_id_len;
}

/*
 * The last USC_NOTE_CONSOLE_MAX bytes of the guest's console log: the
 * given file, else a unirun guest's console.log. A console that cannot
 * be read only leaves the note out.
 */
static void read_console(struct dump *d)
{
    const char *guest = d->o->guest ? d->o->guest : d->spec.name;
    char path[PATH_MAX];

    if (d->o->console)
        snprintf(path, sizeof(path), "%s", d->o->console);
    else if (!guest[0] || usc_rundir_guest_path(guest, USC_RUNDIR_CONSOLE, path,
                                                sizeof(path)) != 0)
        return;
    d->console = malloc(USC_NOTE_CONSOLE_MAX);
    if (!d->console ||
        usc_file_read_tail(path, d->console, USC_NOTE_CONSOLE_MAX,
                           &d->console_len) != 0)
        return;
    d->desc.console = d->console;
    d->desc.console_len = d->console_len;
}

/* ---- the file ---------------------------------------------------------- */

/* A temporary name beside (path): "DIR/.BASE.XXXXXX", created 0600, O_EXCL. */
static int create_tmp(struct dump *d)
{
    const char *path = d->o->path, *slash = strrchr(path, '/');
    int n;

    if (slash)
        n = snprintf(d->tmp, sizeof(d->tmp), "%.*s/.%s.XXXXXX",
                     (int)(slash - path), path, slash + 1);
    else
        n = snprintf(d->tmp, sizeof(d->tmp), ".%s.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof(d->tmp))
        return -ENAMETOOLONG;
    d->fd = mkostemp(d->tmp, O_CLOEXEC);
    if (d->fd < 0) {
        d->tmp[0] = '\0';
        return -errno;
    }
    return 0;
}

/* Give the file its final name, never replacing another. */
static int publish(struct dump *d)
{
    if (renameat2(AT_FDCWD, d->tmp, AT_FDCWD, d->o->path, RENAME_NOREPLACE) ==
        0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -errno;
    /* A file system without RENAME_NOREPLACE: link() refuses too. */
    if (link(d->tmp, d->o->path) != 0)
        return -errno;
    unlink(d->tmp);
    return 0;
}

static int resume(struct dump *d)
{
    int err = 0;

    if (d->paused) {
        err = usc_target_resume(d->t);
        d->paused = 0;
        d->res->pause_ns = now_ns() - d->pause_start;
    }
    return err;
}

static void finish(struct dump *d)
{
    resume(d);
    usc_snapshot_free(&d->snap);
    if (d->fd >= 0)
        close(d->fd);
    if (d->tmp[0])
        unlink(d->tmp);
    usc_core_plan_free(d->plan);
    free(d->vmap);
    free(d->vcpus);
    free(d->threads);
    free(d->console);
    usc_agent_close(d->agent);
    if (d->have_rf)
        usc_ramdata_close(&d->rf);
    usc_target_close(d->t);
}

#define STEP(name, expr)                                                       \
    do {                                                                       \
        step = (name);                                                         \
        err = (expr);                                                          \
        if (err)                                                               \
            goto out;                                                          \
        if (o->cancel && *o->cancel) {                                         \
            err = -ECANCELED;                                                  \
            goto out;                                                          \
        }                                                                      \
    } while (0)

static int open_target(struct dump *d)
{
    int err = usc_target_spec_parse(d->o->target, &d->spec);

    if (err)
        return err;
    if (d->spec.kind == USC_TARGET_CORE)
        return -EISDIR; /* a core is a dump already */
    err = usc_target_spec_resolve(&d->spec);
    if (!err)
        err = usc_target_open_spec(&d->spec, &d->t);
    if (!err)
        err = usc_target_describe(d->t, &d->info);
    if (err)
        return err;
    if (d->info.phys_end == 0)
        return -EACCES; /* e.g. dom0 itself: Xen refuses it its own RAM */
    d->pm = usc_target_physmem(d->t);
    if (d->spec.mem[0] && usc_ramdata_open(d->spec.mem, &d->rf) == 0)
        d->have_rf = 1;
    if (!d->have_rf) {
        uint64_t a, b;

        d->target_data =
            usc_target_next_data(d->t, 0, PAGE, &a, &b) != -ENOTSUP;
    }
    ram_ranges(d);
    return d->nram ? 0 : -EINVAL;
}

static int pause_guest(struct dump *d)
{
    enum usc_vm_state st = USC_VM_UNKNOWN;
    int err;

    if (d->o->live || !d->info.can_control)
        return 0;
    err = usc_target_run_state(d->t, &st);
    if (err || st != USC_VM_RUNNING) {
        d->res->was_stopped = !err;
        return err; /* stopped already: leave it as it is */
    }
    d->pause_start = now_ns();
    err = usc_target_pause(d->t);
    if (!err)
        d->paused = 1;
    return err;
}

/* Bring our mapping of [paddr, paddr + len) in before the guest stops. */
static void prefault(struct dump *d, uint64_t paddr, uint64_t len)
{
    const unsigned char *p =
        d->pm->map ? d->pm->map(d->pm->priv, paddr, len) : NULL;
    uintptr_t start, end;

    if (!p)
        return;
    start = (uintptr_t)p & ~(uintptr_t)(PAGE - 1);
    end = (uintptr_t)p + len;
    if (madvise((void *)start, end - start, MADV_POPULATE_READ) == 0)
        return;
    for (uintptr_t a = start; a < end; a += PAGE)
        (void)*(const volatile unsigned char *)a;
}

/*
 * What can be done while the guest still runs: find its agent (it does
 * not move), map in the RAM that has data and set aside memory for a copy
 * of it, so that the pause only scans and copies.
 */
static int prepare(struct dump *d)
{
    uint64_t data = 0;

    /* A guest without an agent is dumped all the same. */
    if ((d->have_rf ? usc_ramdata_find_agent(&d->rf, d->pm, &d->agent)
                    : usc_target_agent_open(d->t, &d->agent)) != 0)
        d->agent = NULL;
    if (!d->have_rf || d->o->live || !d->info.can_control)
        return 0;
    /* A guest stopped already waits for the file: no copy needed. */
    enum usc_vm_state st = USC_VM_UNKNOWN;
    if (usc_target_run_state(d->t, &st) != 0 || st != USC_VM_RUNNING)
        return 0;
    for (size_t r = 0; r < d->nram; r++) {
        uint64_t pos = d->ram[r].paddr, end = pos + d->ram[r].len;
        while (pos < end) {
            uint64_t start, stop;
            if (usc_ramdata_next(&d->rf, pos, end, &start, &stop))
                break;
            prefault(d, start, stop - start);
            data += stop - start;
            pos = stop > pos ? stop : pos + PAGE;
        }
    }
    /* Room for what the guest may touch until it stops, too. */
    data += SNAPSHOT_SLACK;
    if (data <= SNAPSHOT_MAX)
        d->have_snap =
            usc_snapshot_init(&d->snap, (size_t)data, d->pm->phys_end) == 0;
    /* The plan, and a helper ready to copy it the moment the guest stops. */
    if (d->have_snap)
        (void)usc_snapshot_arm(&d->snap, d->pm, d->ram, d->nram,
                               usc_ramdata_next, &d->rf);
    return 0;
}

static int read_agent(struct dump *d)
{
    if (d->agent)
        d->have_panic = usc_agent_panic(d->agent, &d->panic) == 0;
    d->res->panicked = d->have_panic;
    return 0;
}

int usc_core_dump(const struct usc_core_dump_opts *o,
                  struct usc_core_dump_result *res, const char **what)
{
    struct usc_core_source src;
    struct dump *d = calloc(1, sizeof(*d));
    const char *step = "dump";
    int64_t t0 = now_ns();
    struct stat st;
    int err;

    memset(res, 0, sizeof(*res));
    if (!d) {
        err = -ENOMEM;
        goto out;
    }
    d->o = o;
    d->res = res;
    d->fd = -1;
    d->rf.fd = -1;
    STEP("output", lstat(o->path, &st) == 0 ? -EEXIST : 0);
    STEP("target", open_target(d));
    STEP("output", create_tmp(d));
    STEP("prepare", prepare(d));
    STEP("pause", pause_guest(d));
    if (d->paused && d->have_snap)
        usc_snapshot_go(&d->snap); /* copied while we read the registers */
    STEP("agent", read_agent(d));
    STEP("registers", collect_vcpus(d));
    STEP("threads", collect_threads(d));
    d->src_pm = d->pm;
    d->next = d->have_rf       ? usc_ramdata_next
              : d->target_data ? target_next_data
                               : NULL;
    d->next_priv = d->have_rf ? (void *)&d->rf : (void *)d;
    /* With the data copied the guest runs again; the page tables, the
     * zeros and the file are read from the copy. Without room for it (too
     * much data) the guest waits for the file. */
    if (d->have_snap && d->paused &&
        usc_snapshot_take(&d->snap, d->pm, d->ram, d->nram, d->next,
                          d->next_priv) == 0) {
        STEP("resume", resume(d));
        d->src_pm = usc_snapshot_physmem(&d->snap);
        d->next = usc_snapshot_next;
        d->next_priv = &d->snap;
    }
    collect_vmap(d);
    fill_note(d);
    read_console(d);
    d->desc.ram = d->ram;
    d->desc.nram = d->nram;
    src = (struct usc_core_source){
        .pm = d->src_pm,
        .next_data = d->next,
        .priv = d->next_priv,
    };
    STEP("memory", usc_core_plan(&d->desc, &src, &d->plan));
    STEP("write", usc_core_write_data(d->plan, d->fd, o->cancel, &res->stats));
    STEP("resume", resume(d));
    d->desc.note.pause_ns = (uint64_t)res->pause_ns;
    STEP("write",
         usc_core_write_headers(d->plan, d->fd, &d->desc.note, &res->stats));
    STEP("write", fdatasync(d->fd) == 0 ? 0 : -errno);
    STEP("output", publish(d));
    d->tmp[0] = '\0';
    res->file_bytes = usc_core_plan_size(d->plan);
    res->nvcpus = d->desc.nvcpus;
out:
    if (d)
        finish(d);
    free(d);
    res->total_ns = now_ns() - t0;
    if (what)
        *what = step;
    return err;
}
