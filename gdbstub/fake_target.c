/* A scripted guest: a backend over a buffer, for tests and the fuzzer. */
#include "fake_target.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

#define PAGE USC_ABI_PAGE_SIZE
#define THREADS_AT FAKE_THREADS
#define METRICS_AT (THREADS_AT + FAKE_NTHREADS * sizeof(struct usc_thread))
#define NMETRICS 2
#define PANIC_AT (FAKE_CB + 2 * PAGE)
#define LOG_AT (FAKE_CB + 3 * PAGE)
#define LOG_CAP 256u
#define VBASE 0xffffffff80000000ull
#define CR0_PE 1ull

static int fake_describe(void *priv, struct usc_target_info *info)
{
    struct unigdb_fake *f = priv;

    memset(info, 0, sizeof(*info));
    snprintf(info->name, sizeof(info->name), "fake");
    snprintf(info->hypervisor, sizeof(info->hypervisor), "fake");
    info->nvcpus = f->nvcpus;
    info->mem_bytes = FAKE_RAM_SIZE;
    info->phys_end = FAKE_RAM_SIZE;
    info->state = f->held        ? f->held
                  : f->read_only ? USC_VM_PAUSED
                  : f->running   ? USC_VM_RUNNING
                                 : USC_VM_DEBUG;
    info->pid = -1;
    info->can_control = !f->read_only;
    return 0;
}

static int in_ram(uint64_t paddr, size_t len)
{
    return paddr <= FAKE_RAM_SIZE && len <= FAKE_RAM_SIZE - paddr;
}

static int fake_read_phys(void *priv, uint64_t paddr, void *buf, size_t len)
{
    struct unigdb_fake *f = priv;

    if (!in_ram(paddr, len))
        return -EFAULT;
    memcpy(buf, f->ram + paddr, len);
    return 0;
}

static const void *fake_map_phys(void *priv, uint64_t paddr, size_t len)
{
    struct unigdb_fake *f = priv;

    return in_ram(paddr, len) ? f->ram + paddr : NULL;
}

static int fake_write_phys(void *priv, uint64_t paddr, const void *buf,
                           size_t len)
{
    struct unigdb_fake *f = priv;

    if (f->fail)
        return -EIO;
    if (!in_ram(paddr, len))
        return -EFAULT;
    memcpy(f->ram + paddr, buf, len);
    f->writes++;
    return 0;
}

static int fake_pause(void *priv)
{
    struct unigdb_fake *f = priv;

    if (f->fail)
        return -EIO;
    f->pauses++;
    if (f->running)
        f->stop_pending = 1;
    return 0;
}

static int fake_resume(void *priv)
{
    struct unigdb_fake *f = priv;

    if (f->fail || f->held)
        return -EIO;
    f->resumes++;
    f->running = 1;
    f->stepping = 0;
    return 0;
}

static int fake_run_state(void *priv, enum usc_vm_state *state)
{
    struct unigdb_fake *f = priv;

    *state = f->held ? f->held : f->running ? USC_VM_RUNNING : USC_VM_DEBUG;
    return 0;
}

static int fake_wait_stop(void *priv, int timeout_ms, struct usc_stop_event *ev)
{
    struct unigdb_fake *f = priv;

    (void)timeout_ms;
    memset(ev, 0, sizeof(*ev));
    if (!f->running) {
        ev->reason = USC_STOP_PAUSE;
        return 0;
    }
    if (f->held) {
        f->running = 0;
        ev->reason =
            f->held == USC_VM_PANICKED ? USC_STOP_PANIC : USC_STOP_SHUTDOWN;
        return 0;
    }
    if (f->stepping) {
        ev->reason = USC_STOP_STEP;
        ev->vcpu = f->step_vcpu;
        f->regs[f->step_vcpu].rip++;
    } else if (f->stop_pending) {
        ev->reason = USC_STOP_PAUSE;
    } else if (f->nbreaks && f->breaks[0].type <= USC_BREAK_HW) {
        ev->reason = USC_STOP_BREAKPOINT;
        f->regs[0].rip = f->breaks[0].addr;
    } else if (f->nbreaks) {
        ev->reason = USC_STOP_WATCHPOINT;
        ev->addr = f->breaks[0].addr;
        ev->watch_type = (int)f->breaks[0].type;
    } else {
        return -ETIMEDOUT;
    }
    f->running = f->stepping = f->stop_pending = 0;
    return 0;
}

static int fake_get_regs(void *priv, uint32_t vcpu, struct usc_regs *regs)
{
    struct unigdb_fake *f = priv;

    if (vcpu >= f->nvcpus)
        return -EINVAL;
    *regs = f->regs[vcpu];
    return 0;
}

static int fake_set_regs(void *priv, uint32_t vcpu, const struct usc_regs *regs)
{
    struct unigdb_fake *f = priv;

    if (f->fail)
        return -EIO;
    if (vcpu >= f->nvcpus)
        return -EINVAL;
    f->regs[vcpu] = *regs;
    f->set_regs++;
    return 0;
}

static int fake_insert_break(void *priv, enum usc_break_type type,
                             uint64_t addr, uint64_t len)
{
    struct unigdb_fake *f = priv;

    if (f->fail)
        return -EIO;
    if (f->nbreaks == FAKE_MAX_BREAKS)
        return -ENOSPC;
    f->breaks[f->nbreaks].type = type;
    f->breaks[f->nbreaks].addr = addr;
    f->breaks[f->nbreaks].len = len;
    f->nbreaks++;
    return 0;
}

static int fake_remove_break(void *priv, enum usc_break_type type,
                             uint64_t addr, uint64_t len)
{
    struct unigdb_fake *f = priv;

    if (f->fail)
        return -EIO;
    for (size_t i = 0; i < f->nbreaks; i++) {
        if (f->breaks[i].type == type && f->breaks[i].addr == addr &&
            f->breaks[i].len == len) {
            f->breaks[i] = f->breaks[--f->nbreaks];
            return 0;
        }
    }
    return -ENOENT;
}

static int fake_step(void *priv, uint32_t vcpu)
{
    struct unigdb_fake *f = priv;

    if (f->fail)
        return -EIO;
    if (vcpu >= f->nvcpus)
        return -EINVAL;
    f->steps++;
    f->running = f->stepping = 1;
    f->step_vcpu = vcpu;
    return 0;
}

static void fake_close(void *priv)
{
    struct unigdb_fake *f = priv;

    if (f)
        free(f->ram);
    free(f);
}

static const struct usc_backend_ops fake_rw = {
    .name = "fake",
    .close = fake_close,
    .describe = fake_describe,
    .read_phys = fake_read_phys,
    .map_phys = fake_map_phys,
    .write_phys = fake_write_phys,
    .pause = fake_pause,
    .resume = fake_resume,
    .run_state = fake_run_state,
    .wait_stop = fake_wait_stop,
    .get_regs = fake_get_regs,
    .set_regs = fake_set_regs,
    .insert_break = fake_insert_break,
    .remove_break = fake_remove_break,
    .step = fake_step,
};

/* What a core file serves: registers and memory, nothing else. */
static const struct usc_backend_ops fake_ro = {
    .name = "fake",
    .close = fake_close,
    .describe = fake_describe,
    .read_phys = fake_read_phys,
    .map_phys = fake_map_phys,
    .get_regs = fake_get_regs,
};

/* A VMM process read without its stub: memory alone. */
static const struct usc_backend_ops fake_noregs = {
    .name = "fake",
    .close = fake_close,
    .describe = fake_describe,
    .read_phys = fake_read_phys,
    .map_phys = fake_map_phys,
};

static void table(struct usc_table *t, uint64_t paddr, uint32_t entry_size,
                  uint32_t capacity)
{
    t->at.paddr = paddr;
    t->at.vaddr = VBASE + paddr;
    t->entry_size = entry_size;
    t->capacity = capacity;
}

static void put_thread(unsigned char *ram, uint32_t i, const char *name,
                       uint32_t state)
{
    struct usc_thread *t = (struct usc_thread *)(ram + THREADS_AT) + i;

    t->seq = 2;
    t->id = i + 1;
    t->state = state;
    t->vcpu = 0;
    t->cpu_time = 1000 * (i + 1);
    t->switches = i + 1;
    t->wait_obj = state == USC_THREAD_BLOCKED ? VBASE + 0x1000 : 0;
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->regs.rip = 0x1000 + 0x100 * i;
    t->regs.rsp = 0x8000 + 0x1000 * i;
    t->regs.rbp = 0x8010 + 0x1000 * i;
}

static void put_agent(unsigned char *ram, int panicked, uint32_t nvcpus)
{
    struct usc_control_block *cb = (struct usc_control_block *)(ram + FAKE_CB);
    struct usc_metric *m = (struct usc_metric *)(ram + METRICS_AT);
    struct usc_panic *p = (struct usc_panic *)(ram + PANIC_AT);
    static const char log[] = "boot\nhello from the fake guest\n";

    cb->abi_version = USC_ABI_VERSION;
    cb->size = sizeof(*cb);
    cb->header_size = USC_CB_HEADER_SIZE;
    cb->self_paddr = FAKE_CB;
    cb->self_vaddr = VBASE + FAKE_CB;
    cb->ts_hz = 1000000;
    cb->max_vcpus = FAKE_MAX_VCPUS;
    cb->build_id_len = 4;
    memcpy(cb->build_id, "\x12\x34\x56\x78", 4);
    snprintf(cb->name, sizeof(cb->name), "fake");
    table(&cb->metrics, METRICS_AT, sizeof(struct usc_metric), NMETRICS);
    table(&cb->threads, THREADS_AT, sizeof(struct usc_thread), FAKE_NTHREADS);
    table(&cb->log, LOG_AT, 1, LOG_CAP);
    table(&cb->panic, PANIC_AT, sizeof(struct usc_panic), 1);
    cb->checksum = usc_abi_checksum(cb, USC_CB_HEADER_SIZE);
    cb->magic = USC_ABI_MAGIC;
    cb->state = panicked ? USC_STATE_PANICKED : USC_STATE_RUNNING;
    cb->vcpus_online = 1;
    cb->metrics_count = NMETRICS;
    cb->threads_used = FAKE_NTHREADS;
    m[0].kind = USC_METRIC_COUNTER;
    m[0].value = 42;
    snprintf(m[0].name, sizeof(m[0].name), "timer_ticks");
    m[1].kind = USC_METRIC_GAUGE;
    m[1].value = (uint64_t)-3;
    snprintf(m[1].name, sizeof(m[1].name), "queue_depth");
    put_thread(ram, 0, "idle-loop", USC_THREAD_RUNNING);
    put_thread(ram, 1, "worker", USC_THREAD_BLOCKED);
    put_thread(ram, 2, "sleeper", USC_THREAD_RUNNABLE);
    memcpy(ram + LOG_AT, log, sizeof(log) - 1);
    cb->log_head = cb->log_reserve = sizeof(log) - 1;
    if (panicked == FAKE_PANIC_NO_FRAME) {
        /* usca_panic(reason, NULL) on the last vCPU: no registers */
        p->seq = 2;
        p->valid = 1;
        p->vcpu = nvcpus - 1;
        p->vector = USC_PANIC_NO_VECTOR;
        p->thread_id = 1;
        p->count = 1;
        snprintf(p->reason, sizeof(p->reason), "gave up");
    } else if (panicked) {
        p->seq = 2;
        p->valid = 1;
        p->vector = 14;
        p->cr2 = 0xdeadbeef;
        p->thread_id = 1;
        p->count = 1;
        snprintf(p->reason, sizeof(p->reason), "page fault at 0xdeadbeef");
        p->regs.rip = 0x1234;
        p->regs.rsp = 0x7000;
        p->regs.cr0 = CR0_PE;
    }
}

int unigdb_fake_open(uint32_t nvcpus, int agent, int panicked, int read_only,
                     struct usc_target **t, struct unigdb_fake **fake)
{
    struct unigdb_fake *f;
    int err;

    *t = NULL;
    *fake = NULL;
    if (nvcpus == 0 || nvcpus > FAKE_MAX_VCPUS)
        return -EINVAL;
    f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    f->ram = calloc(1, FAKE_RAM_SIZE);
    if (!f->ram) {
        free(f);
        return -ENOMEM;
    }
    f->nvcpus = nvcpus;
    f->read_only = read_only;
    f->running = !read_only;
    for (uint32_t v = 0; v < nvcpus; v++) {
        f->regs[v].cr0 = CR0_PE;
        f->regs[v].rip = 0x100 + v;
        f->regs[v].rsp = 0x4000;
        f->regs[v].cs = 8;
        f->regs[v].fs_base = 0x1111 * (v + 1);
    }
    if (agent)
        put_agent(f->ram, panicked, nvcpus);
    err = usc_target_wrap(read_only == FAKE_NO_REGS ? &fake_noregs
                          : read_only               ? &fake_ro
                                                    : &fake_rw,
                          f, t);
    if (err) {
        fake_close(f);
        return err;
    }
    *fake = f;
    return 0;
}
