/* The proc backend: any VMM process, its RAM read through /proc/PID/mem. */
#include "qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../agent_reader.h"
#include "../fdio.h"
#include "../procmaps.h"
#include "../procram.h"
#include "../procvmm.h"

#define PAGE 4096ull
#define SCAN_BATCH 512 /* pages looked at per pagemap read and readv */
#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define WAIT_SLICE_MS 250
#define CMDLINE_MAX 8192

struct proc {
    int pid;
    enum usc_vmm_kind kind;
    char name[USC_TARGET_NAME_MAX];
    int mem_fd;     /* bound to the process's memory, not to its pid */
    int pagemap_fd; /* which of its pages hold data; -1 */
    int writable;
    struct usc_procram ram;
    uint64_t cb_paddr; /* where we found the agent; UINT64_MAX: nowhere */
    uint32_t nvcpus;   /* 0 when unknown */
    size_t ntids;      /* vCPU threads known by name; 0: the process */
    int64_t tid[USC_VMM_MAX_VCPUS];
    int q35;
    struct qemu *qm; /* the VMM's own gdb stub; NULL without gdb= */
    int paused;      /* a pause of ours is in force */
};

/* ---- the process -------------------------------------------------------- */

/* The state letter of /proc/(pid)/stat, 0 when it is gone. */
static char proc_state(int pid, uint64_t *cpu_ns)
{
    uint64_t ns = 0;
    char st = 0;

    if (usc_proc_read_stat(pid, -1, &ns, NULL, &st) != 0)
        return 0;
    if (cpu_ns)
        *cpu_ns = ns;
    return st;
}

/* Gone: no such process, or a zombie whose memory is released. */
static int gone(const struct proc *p)
{
    char st = proc_state(p->pid, NULL);

    return st == 0 || st == 'Z' || st == 'X';
}

/* ---- memory ------------------------------------------------------------- */

/* Read into (rbuf) or write from (wbuf) (len) bytes at guest-physical
 * (paddr), region by region. */
static int rw(struct proc *p, uint64_t paddr, void *rbuf, const void *wbuf,
              size_t len)
{
    while (len) {
        uint64_t hva, chunk;
        ssize_t r;

        if (usc_procram_xlate(&p->ram, paddr, len, &hva, &chunk) != 0)
            return -EFAULT;
        if (hva > (uint64_t)INT64_MAX - chunk)
            return -EFAULT;
        r = rbuf ? pread(p->mem_fd, rbuf, chunk, (off_t)hva)
                 : pwrite(p->mem_fd, wbuf, chunk, (off_t)hva);
        if (r < 0 && errno == EINTR)
            continue;
        /* nothing at all: its memory is gone with it; an error: unmapped
         * under us (a mapping that shrank), unless it exited meanwhile */
        if (r == 0)
            return -ESRCH;
        if (r < 0)
            return gone(p) ? -ESRCH : -EFAULT;
        paddr += (uint64_t)r;
        len -= (size_t)r;
        if (rbuf)
            rbuf = (char *)rbuf + r;
        else
            wbuf = (const char *)wbuf + r;
    }
    return 0;
}

static int proc_read_phys(void *priv, uint64_t paddr, void *buf, size_t len)
{
    return rw(priv, paddr, buf, NULL, len);
}

#define BATCH_MAX 256 /* pieces of one process_vm_readv */

/* Every piece in one process_vm_readv: all of them, or an error. */
static int proc_read_batch(void *priv, const struct usc_phys_seg *segs,
                           size_t n)
{
    struct proc *p = priv;
    struct iovec local[BATCH_MAX], remote[BATCH_MAX];
    size_t k = 0, total = 0;
    ssize_t r;

    for (size_t i = 0; i < n; i++) {
        uint64_t paddr = segs[i].paddr, left = segs[i].len, hva, chunk;
        char *buf = segs[i].buf;

        while (left) {
            if (k == BATCH_MAX ||
                usc_procram_xlate(&p->ram, paddr, left, &hva, &chunk))
                return k == BATCH_MAX ? -E2BIG : -EFAULT;
            local[k] = (struct iovec){buf, chunk};
            remote[k] = (struct iovec){(void *)(uintptr_t)hva, chunk};
            k++;
            total += chunk;
            buf += chunk;
            paddr += chunk;
            left -= chunk;
        }
    }
    if (k == 0)
        return 0;
    do
        r = process_vm_readv(p->pid, local, k, remote, k, 0);
    while (r < 0 && errno == EINTR);
    if (r == (ssize_t)total)
        return 0;
    return (r < 0 && errno == ESRCH) || gone(p) ? -ESRCH : -EFAULT;
}

static int proc_write_data(void *priv, uint64_t paddr, const void *buf,
                           size_t len)
{
    struct proc *p = priv;

    if (!p->writable)
        return -ENOTSUP;
    return rw(p, paddr, NULL, buf, len);
}

/*
 * Code: QEMU's TCG would not see bytes written under it, so through its
 * stub; the other VMMs run the guest on KVM, which executes from the
 * memory we write.
 */
static int proc_write_phys(void *priv, uint64_t paddr, const void *buf,
                           size_t len)
{
    struct proc *p = priv;
    uint64_t hva, chunk;

    if (p->kind != USC_VMM_QEMU)
        return proc_write_data(p, paddr, buf, len);
    if (!p->qm)
        return -ENOTSUP;
    if (len == 0)
        return 0;
    if (usc_procram_xlate(&p->ram, paddr, len, &hva, &chunk) != 0 ||
        chunk < len)
        return -EFAULT;
    return usc_qemu_stub_phys(p->qm, paddr, NULL, buf, len);
}

/* Whether the (n) pagemap entries of (hva) onwards hold data, into
 * (data); -1 when pagemap cannot say. */
static int pages_with_data(struct proc *p, uint64_t hva, size_t n,
                           unsigned char *data)
{
    uint64_t ent[SCAN_BATCH];

    if (p->pagemap_fd < 0 || pread(p->pagemap_fd, ent, n * sizeof(ent[0]),
                                   (off_t)(hva / PAGE * sizeof(ent[0]))) !=
                                 (ssize_t)(n * sizeof(ent[0])))
        return -1;
    for (size_t i = 0; i < n; i++)
        data[i] = (ent[i] & (PM_PRESENT | PM_SWAPPED)) != 0;
    return 0;
}

/*
 * Pages the guest never touched are in no page table of the VMM: reading
 * them would fault them in (for shared memory, allocate them). pagemap
 * says which are there, without touching any.
 */
static int proc_next_data(void *priv, uint64_t paddr, uint64_t end,
                          uint64_t *start, uint64_t *stop)
{
    struct proc *p = priv;
    unsigned char data[SCAN_BATCH];
    int in = 0;

    paddr &= ~(PAGE - 1);
    while (paddr < end) {
        uint64_t hva, chunk, next = UINT64_MAX;
        size_t n;

        if (usc_procram_xlate(&p->ram, paddr, end - paddr, &hva, &chunk)) {
            /* a hole between regions: no data; skip to the next region */
            for (size_t i = 0; i < p->ram.n; i++)
                if (p->ram.r[i].gpa > paddr && p->ram.r[i].gpa < next)
                    next = p->ram.r[i].gpa;
            if (in || next >= end)
                break;
            paddr = next;
            continue;
        }
        n = chunk / PAGE < SCAN_BATCH ? (size_t)(chunk / PAGE) : SCAN_BATCH;
        if (n == 0)
            n = 1;
        if (pages_with_data(p, hva, n, data) != 0) {
            /* no pagemap: everything may be data */
            if (!in)
                *start = paddr;
            *stop = end;
            return 0;
        }
        for (size_t i = 0; i < n; i++, paddr += PAGE) {
            if (data[i] && !in) {
                *start = paddr;
                in = 1;
            } else if (!data[i] && in) {
                *stop = paddr;
                return 0;
            }
        }
    }
    if (!in)
        return -ENXIO;
    *stop = paddr < end ? paddr : end;
    return 0;
}

static int rescan(struct proc *p);

static int proc_agent_at(void *priv, uint64_t *cb_paddr)
{
    struct proc *p = priv;

    /* A guest that boots after we came publishes its block later. */
    if (p->cb_paddr == UINT64_MAX && rescan(p) != 0)
        return -ENOENT;
    if (p->cb_paddr == UINT64_MAX)
        return -ENOENT;
    *cb_paddr = p->cb_paddr;
    return 0;
}

/* ---- finding guest RAM -------------------------------------------------- */

/* What a scan found so far. */
struct scan {
    struct proc *p;
    int pagemap_fd; /* -1: take every page as present */
    const struct usc_procram_area *area;
    /* an area scanned for a block in ram= regions instead: its region */
    const struct usc_procram_region *region;
    struct usc_procram best;
    int quality; /* the best's; 0 none */
    uint64_t cb;
    int stale; /* blocks found that cannot be where they are */
    int err;   /* the process went, or refused us */
};

/* A block (cb) that checks out at host address (hva): does it say where
 * guest RAM is, better than what was found before? */
static void take_block(struct scan *s, uint64_t hva,
                       const struct usc_control_block *cb)
{
    struct usc_procram ram;
    int quality = 0;

    if (s->region) {
        if (cb->self_paddr != s->region->gpa + (hva - s->region->hva)) {
            s->stale++;
            return;
        }
        if (s->quality == 0) {
            s->quality = 3;
            s->cb = cb->self_paddr;
        }
        return;
    }
    if (usc_procram_from_block(s->area, hva, cb->self_paddr, s->p->kind,
                               s->p->q35, &ram, &quality) != 0) {
        s->stale++;
        return;
    }
    if (quality > s->quality) {
        s->best = ram;
        s->quality = quality;
        s->cb = cb->self_paddr;
    }
}

/* The pages of [at, at + n pages) that hold data, into (pages). */
static size_t present_pages(struct scan *s, uint64_t at, size_t n,
                            uint64_t *pages)
{
    uint64_t ent[SCAN_BATCH];
    size_t k = 0;

    if (s->pagemap_fd >= 0 && pread(s->pagemap_fd, ent, n * sizeof(ent[0]),
                                    (off_t)(at / PAGE * sizeof(ent[0]))) ==
                                  (ssize_t)(n * sizeof(ent[0]))) {
        for (size_t i = 0; i < n; i++)
            if (ent[i] & (PM_PRESENT | PM_SWAPPED))
                pages[k++] = at + i * PAGE;
        return k;
    }
    /* no pagemap (not allowed, or not there): every page is a candidate */
    for (size_t i = 0; i < n; i++)
        pages[i] = at + i * PAGE;
    return n;
}

/* The first 8 bytes of each of (n) pages, in one readv where it can. */
static int read_heads(struct scan *s, const uint64_t *pages, size_t n,
                      uint64_t *heads)
{
    struct iovec local[SCAN_BATCH], remote[SCAN_BATCH];
    size_t done = 0;

    for (size_t i = 0; i < n; i++) {
        heads[i] = 0;
        local[i] = (struct iovec){&heads[i], sizeof(heads[i])};
        remote[i] = (struct iovec){(void *)(uintptr_t)pages[i], 8};
    }
    while (done < n) {
        ssize_t r = process_vm_readv(s->p->pid, local + done, n - done,
                                     remote + done, n - done, 0);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno != EFAULT)
            return errno == ESRCH ? -ESRCH : -errno;
        /* it stops at the first page it cannot read: skip that one */
        done += r > 0 ? (size_t)r / 8 : 1;
    }
    return 0;
}

/* Look at every page of [start, end) for a control block. */
static int scan_range(struct scan *s, uint64_t start, uint64_t end)
{
    uint64_t pages[SCAN_BATCH], heads[SCAN_BATCH];
    struct usc_control_block cb;

    start = (start + PAGE - 1) & ~(PAGE - 1);
    for (uint64_t at = start; at < end && end - at >= PAGE;) {
        size_t n =
            (end - at) / PAGE < SCAN_BATCH ? (end - at) / PAGE : SCAN_BATCH;
        size_t k = present_pages(s, at, n, pages);
        int err = k ? read_heads(s, pages, k, heads) : 0;

        if (err)
            return err;
        for (size_t i = 0; i < k; i++) {
            if (heads[i] != USC_ABI_MAGIC)
                continue;
            /* confirmed through the memory file: the pid may be reused,
             * the memory a process's file names never is */
            if (pread(s->p->mem_fd, &cb, sizeof(cb), (off_t)pages[i]) !=
                    (ssize_t)sizeof(cb) ||
                usc_agent_check_block(&cb) != 0)
                continue;
            take_block(s, pages[i], &cb);
            /* the lowest block where guest-physical 0 starts the area */
            if (s->quality == 3)
                return 0;
        }
        at += n * PAGE;
    }
    return 0;
}

static int open_pagemap(int pid)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* The agent's block in the guest RAM known (ram= or guessed), if any. */
static int rescan(struct proc *p)
{
    struct scan s = {.p = p, .pagemap_fd = p->pagemap_fd};
    int err = 0;

    for (size_t i = 0; !err && i < p->ram.n && !s.quality; i++) {
        s.region = &p->ram.r[i];
        err = scan_range(&s, s.region->hva, s.region->hva + s.region->len);
    }
    if (!err && s.quality)
        p->cb_paddr = s.cb;
    return err;
}

/* Guest RAM as the user named it (ram=), and the agent in it if any. */
static int ram_given(struct proc *p, const struct usc_target_spec *spec,
                     const struct usc_procmap *m, size_t nm)
{
    int err;

    p->ram.n = spec->nram;
    for (size_t i = 0; i < spec->nram; i++)
        p->ram.r[i] = (struct usc_procram_region){
            spec->ram[i].gpa, spec->ram[i].hva, spec->ram[i].size};
    err = usc_procram_check(m, nm, &p->ram);
    return err ? err : rescan(p);
}

/* Guest RAM found through the agent's control block, else guessed. */
static int ram_found(struct proc *p, const struct usc_procmap *m, size_t nm)
{
    struct scan s = {.p = p, .pagemap_fd = p->pagemap_fd};
    struct usc_procram_area *a = NULL;
    size_t na = 0;
    int err = usc_procram_areas(m, nm, &a, &na);

    for (size_t i = 0; !err && i < na && s.quality < 3; i++) {
        s.area = &a[i];
        err = scan_range(&s, a[i].start, a[i].end);
    }
    if (!err && s.quality) {
        p->ram = s.best;
        p->cb_paddr = s.cb;
    } else if (!err) {
        /* no agent: what the VMM is known to do, or a stale copy only */
        err = usc_procram_guess(a, na, p->kind, &p->ram);
        if (err && s.stale)
            err = -ESTALE;
    }
    free(a);
    return err;
}

/* ---- what the process says of itself ------------------------------------ */

/* "-smp N" or "-smp cpus=N,..." of a QEMU command line; 0 if not given. */
static uint32_t qemu_smp(const char *cmd, size_t len)
{
    for (size_t i = 0; i < len;) {
        const char *arg = cmd + i, *next;
        size_t alen = strnlen(arg, len - i);

        i += alen + 1;
        if (strcmp(arg, "-smp") != 0 || i >= len)
            continue;
        next = cmd + i;
        if (!strncmp(next, "cpus=", 5))
            next += 5;
        return (uint32_t)strtoul(next, NULL, 10);
    }
    return 0;
}

static void learn_process(struct proc *p)
{
    char *cmd = malloc(CMDLINE_MAX);
    size_t len = 0;

    if (usc_vmm_vcpu_threads(p->pid, p->kind, p->tid, USC_VMM_MAX_VCPUS,
                             &p->ntids) != 0)
        p->ntids = 0;
    p->nvcpus = (uint32_t)p->ntids;
    if (cmd && usc_proc_cmdline(p->pid, cmd, CMDLINE_MAX - 1, &len) == 0) {
        cmd[len] = '\0';
        if (p->kind == USC_VMM_QEMU) {
            /* "-machine q35", "-M q35", "-machine type=pc-q35-7.2" */
            for (size_t i = 0; i + 3 <= len; i++)
                if (!memcmp(cmd + i, "q35", 3))
                    p->q35 = 1;
            if (!p->nvcpus)
                p->nvcpus = qemu_smp(cmd, len);
            if (!p->nvcpus)
                p->nvcpus = 1; /* QEMU's default */
        }
    }
    /* hvt runs its one vCPU on its main thread */
    if (p->kind == USC_VMM_HVT && !p->nvcpus)
        p->nvcpus = 1;
    free(cmd);
}

/* The VMM's stub, as QEMU's code speaks to it, with this VMM's manners. */
static int open_stub(struct proc *p, const char *addr)
{
    struct qemu *qm = calloc(1, sizeof(*qm));

    if (!qm)
        return -ENOMEM;
    qm->pid = p->pid;
    qm->exits_known = 0;
    for (int i = 0; i < QEMU_MAX_VCPUS; i++)
        qm->vcpu_tid[i] = -1;
    snprintf(qm->name, sizeof(qm->name), "%s", p->name);
    snprintf(qm->gdb_path, sizeof(qm->gdb_path), "%s", addr);
    if (p->kind != USC_VMM_QEMU) {
        /*
         * The others' stubs (hvt's; the gdbstub crate's of Firecracker,
         * Cloud Hypervisor, uhyve) wait for one debugger with the guest
         * stopped at boot and take no second: keep the one connection.
         */
        qm->stub_hold = 1;
        qm->stub_waits = 1;
    }
    /* hvt reads its socket only while the guest is stopped */
    qm->stub_no_interrupt = p->kind == USC_VMM_HVT;
    p->qm = qm;
    return 0;
}

/* ---- open, close, describe ---------------------------------------------- */

static void proc_close(void *priv)
{
    struct proc *p = priv;

    if (!p)
        return;
    if (p->qm) {
        /* hvt dies when its debugger leaves it stopped: always let go */
        int run = !p->paused || p->qm->stub_hold;

        usc_qemu_stub_release(p->qm, run);
        if (p->qm->rsp) /* a continue in flight a deaf stub cannot stop */
            usc_qemu_stub_fail(p->qm);
        free(p->qm);
    }
    if (p->mem_fd >= 0)
        close(p->mem_fd);
    if (p->pagemap_fd >= 0)
        close(p->pagemap_fd);
    free(p);
}

static int open_memory(struct proc *p)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/%d/mem", p->pid);
    p->mem_fd = open(path, O_RDWR | O_CLOEXEC);
    p->writable = p->mem_fd >= 0;
    if (p->mem_fd < 0)
        p->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (p->mem_fd >= 0)
        return 0;
    return errno == ENOENT ? -ESRCH : -errno;
}

static int proc_open(const struct usc_target_spec *spec, void **priv)
{
    struct usc_vmm_proc info;
    struct usc_procmap *m = NULL;
    struct proc *p;
    size_t nm = 0;
    int err;

    if (!spec || !priv || spec->kind != USC_TARGET_PID || spec->pid <= 0)
        return -EINVAL;
    *priv = NULL;
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->pid = spec->pid;
    p->mem_fd = -1;
    p->pagemap_fd = -1;
    p->cb_paddr = UINT64_MAX;
    err = usc_vmm_probe(p->pid, &info);
    if (err)
        goto err;
    p->kind = info.kind;
    /* another process would only be scanned in vain: name its RAM */
    if (p->kind == USC_VMM_NONE && spec->nram == 0) {
        err = -ENOEXEC;
        goto err;
    }
    snprintf(p->name, sizeof(p->name), "%s-%d",
             p->kind ? usc_vmm_name(p->kind) : "pid", p->pid);
    err = open_memory(p);
    if (!err)
        err = usc_procmaps_read(p->pid, &m, &nm);
    if (err)
        goto err;
    if (nm == 0) { /* a zombie: its memory went with it */
        err = -ESRCH;
        goto err;
    }
    learn_process(p);
    p->pagemap_fd = open_pagemap(p->pid);
    err = spec->nram ? ram_given(p, spec, m, nm) : ram_found(p, m, nm);
    if (!err && spec->gdb[0])
        err = open_stub(p, spec->gdb);
    if (err)
        goto err;
    free(m);
    *priv = p;
    return 0;
err:
    free(m);
    proc_close(p);
    return err;
}

/* The run state: the process's, then the stub's when we hold it. */
static int proc_run_state(void *priv, enum usc_vm_state *state)
{
    struct proc *p = priv;
    char st = proc_state(p->pid, NULL);

    if (st == 0 || st == 'Z' || st == 'X')
        *state = USC_VM_DEAD;
    else if (st == 'T' || st == 't')
        *state = USC_VM_PAUSED; /* the VMM itself is stopped */
    else if (p->qm && p->qm->rsp && !p->qm->running)
        *state =
            p->qm->stop_valid && (p->qm->stop.reason == USC_STOP_BREAKPOINT ||
                                  p->qm->stop.reason == USC_STOP_STEP ||
                                  p->qm->stop.reason == USC_STOP_WATCHPOINT)
                ? USC_VM_DEBUG
                : USC_VM_PAUSED;
    else
        *state = USC_VM_RUNNING;
    return 0;
}

static int proc_describe(void *priv, struct usc_target_info *info)
{
    struct proc *p = priv;

    memset(info, 0, sizeof(*info));
    snprintf(info->name, sizeof(info->name), "%s", p->name);
    snprintf(info->hypervisor, sizeof(info->hypervisor), "%s",
             p->kind ? usc_vmm_name(p->kind) : "proc");
    info->nvcpus = p->nvcpus;
    if (!info->nvcpus && p->qm)
        info->nvcpus = p->qm->nthreads;
    info->mem_bytes = usc_procram_bytes(&p->ram);
    info->phys_end = usc_procram_phys_end(&p->ram);
    info->pid = p->pid;
    info->can_control = p->qm != NULL;
    return proc_run_state(p, &info->state);
}

/* ---- control, through the VMM's stub ------------------------------------ */

static int proc_pause(void *priv)
{
    struct proc *p = priv;
    struct qemu *qm = p->qm;
    int was_running, err;

    if (!qm)
        return -ENOTSUP;
    if (qm->rsp && qm->running) {
        if (qm->stub_no_interrupt)
            return -ENOTSUP;
        err = usc_qemu_stub_interrupt(qm); /* its stop is kept for wait */
    } else {
        /* hold the stub: QEMU stops the guest as we connect; the others
         * have it stopped until we let it go */
        err = usc_qemu_stub_borrow(qm, &was_running);
        if (!err && !qm->stop_pending) {
            memset(&qm->stop, 0, sizeof(qm->stop));
            qm->stop.reason = USC_STOP_PAUSE;
            qm->stop_pending = qm->stop_valid = 1;
        }
    }
    if (!err)
        p->paused = 1;
    return err;
}

static int proc_resume(void *priv)
{
    struct proc *p = priv;
    struct qemu *qm = p->qm;

    if (!qm)
        return -ENOTSUP;
    p->paused = 0;
    qm->stop_pending = 0;
    if (!qm->rsp || qm->running)
        return 0;
    return usc_qemu_stub_give_back(qm, 1);
}

static int proc_wait_stop(void *priv, int timeout_ms, struct usc_stop_event *ev)
{
    struct proc *p = priv;
    struct qemu *qm = p->qm;
    int64_t end = timeout_ms < 0 ? -1 : usc_now_ms() + timeout_ms;

    if (!qm)
        return -ENOTSUP;
    if (qm->stop_pending) {
        *ev = qm->stop;
        qm->stop_pending = 0;
        return 0;
    }
    for (;;) {
        int slice = usc_deadline_slice(end, WAIT_SLICE_MS);
        int err;

        if (gone(p)) {
            memset(ev, 0, sizeof(*ev));
            ev->reason = USC_STOP_SHUTDOWN;
            return 0;
        }
        if (qm->rsp && !qm->running) {
            /* held and stopped: what stopped it last */
            if (qm->stop_valid) {
                *ev = qm->stop;
            } else {
                memset(ev, 0, sizeof(*ev));
                ev->reason = USC_STOP_PAUSE;
            }
            return 0;
        }
        if (qm->rsp) {
            err = usc_qemu_stub_wait(qm, slice, ev);
            if (err != -ETIMEDOUT)
                return err;
        } else if (slice) {
            usleep((useconds_t)slice * 1000); /* nothing to wait on but it */
        }
        if (end >= 0 && usc_now_ms() >= end)
            return -ETIMEDOUT;
    }
}

/*
 * hvt's stub sends no control registers. hvt sets them once, at boot, and
 * Solo5 never changes them (tenders/hvt/hvt_cpu_x86_64.h: X86_CR0_INIT,
 * X86_CR4_INIT, X86_EFER_INIT, and the identity-mapping page tables at
 * X86_PML4_BASE): those values, so that virtual addresses translate.
 */
#define HVT_CR0 0x80010021ull /* PE | NE | WP | PG */
#define HVT_CR3 0x2000ull
#define HVT_CR4 0x620ull  /* PAE | OSFXSR | OSXMMEXCPT */
#define HVT_EFER 0x500ull /* LME | LMA */

static int proc_get_regs(void *priv, uint32_t vcpu, struct usc_regs *regs)
{
    struct proc *p = priv;
    int err;

    if (!p->qm)
        return -ENOTSUP;
    err = usc_qemu_stub_get_regs(p->qm, vcpu, regs);
    if (!err && p->kind == USC_VMM_HVT && !regs->cr0 && !regs->cr3) {
        regs->cr0 = HVT_CR0;
        regs->cr3 = HVT_CR3;
        regs->cr4 = HVT_CR4;
        regs->efer = HVT_EFER;
    }
    return err;
}

static int proc_set_regs(void *priv, uint32_t vcpu, const struct usc_regs *regs)
{
    struct proc *p = priv;

    return p->qm ? usc_qemu_stub_set_regs(p->qm, vcpu, regs) : -ENOTSUP;
}

static int proc_insert_break(void *priv, enum usc_break_type type,
                             uint64_t addr, uint64_t len)
{
    struct proc *p = priv;

    return p->qm ? usc_qemu_stub_insert_break(p->qm, type, addr, len)
                 : -ENOTSUP;
}

static int proc_remove_break(void *priv, enum usc_break_type type,
                             uint64_t addr, uint64_t len)
{
    struct proc *p = priv;

    return p->qm ? usc_qemu_stub_remove_break(p->qm, type, addr, len)
                 : -ENOTSUP;
}

static int proc_step(void *priv, uint32_t vcpu)
{
    struct proc *p = priv;

    return p->qm ? usc_qemu_stub_step(p->qm, vcpu) : -ENOTSUP;
}

/* ---- statistics --------------------------------------------------------- */

static int proc_vcpu_stats(void *priv, uint32_t vcpu, struct usc_vcpu_stats *st)
{
    struct proc *p = priv;

    st->host_tid = -1;
    st->cpu_ns = USC_STAT_UNKNOWN;
    st->exits = USC_STAT_UNKNOWN;
    /* vCPUs not known by name: the process as a whole, as vCPU 0 */
    if (p->ntids == 0 && vcpu == 0) {
        st->host_tid = p->pid;
        if (proc_state(p->pid, &st->cpu_ns) == 0)
            return -ESRCH;
        return 0;
    }
    if (vcpu >= p->ntids)
        return vcpu < p->nvcpus ? 0 : -EINVAL;
    st->host_tid = p->tid[vcpu];
    if (st->host_tid < 0)
        return 0;
    if (usc_proc_read_stat(p->pid, st->host_tid, &st->cpu_ns, NULL, NULL)) {
        st->cpu_ns = USC_STAT_UNKNOWN;
        return gone(p) ? -ESRCH : 0;
    }
    return 0;
}

const struct usc_backend_ops usc_backend_proc = {
    .name = "proc",
    .open = proc_open,
    .close = proc_close,
    .describe = proc_describe,
    .read_phys = proc_read_phys,
    .write_phys = proc_write_phys,
    .pause = proc_pause,
    .resume = proc_resume,
    .run_state = proc_run_state,
    .wait_stop = proc_wait_stop,
    .get_regs = proc_get_regs,
    .set_regs = proc_set_regs,
    .insert_break = proc_insert_break,
    .remove_break = proc_remove_break,
    .step = proc_step,
    .vcpu_stats = proc_vcpu_stats,
    .write_data = proc_write_data,
    .agent_at = proc_agent_at,
    .read_batch = proc_read_batch,
    .next_data = proc_next_data,
};
