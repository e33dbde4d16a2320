/* The target facade: TARGET specs, backend choice and checked operations. */
#include "target.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_reader.h"
#include "backend.h"
#include "backend/core.h"
#include "pagewalk.h"
#include "rsp.h" /* usc_rsp_hexval */
#include "rundir.h"

#define XEN_DOMID_MAX 0x7fef /* DOMID_FIRST_RESERVED - 1 */
#define ELF_TYPE_OFFSET 16   /* e_type in the ELF header */
#define ELF_TYPE_CORE 4      /* ET_CORE, little-endian */

#define CR0_PE (1ull << 0)
#define CR0_PG (1ull << 31)
#define CR4_LA57 (1ull << 12)
#define CR3_ADDR_MASK 0x000ffffffffff000ull

struct usc_target {
    const struct usc_backend_ops *ops;
    void *priv;
    /*
     * What describe said once, at the first need: a backend's fixed
     * ability and RAM bound. Not at open, where it would cost a QEMU
     * round trip that most callers never use.
     */
    int described;
    int can_control;
    struct usc_physmem pm;
};

/* Which backend serves which kind; NULL: not built in. */
static const struct {
    enum usc_target_kind kind;
    const struct usc_backend_ops *ops;
} backends[] = {
    {USC_TARGET_QEMU, &usc_backend_qemu},
    {USC_TARGET_CORE, &usc_backend_core},
    {USC_TARGET_PID, &usc_backend_proc},
#ifdef USC_HAVE_XEN
    {USC_TARGET_XEN, &usc_backend_xen},
#else
    {USC_TARGET_XEN, NULL},
#endif
};

/* ---- parsing ------------------------------------------------------------ */

/* Copy the (len) bytes at (src) into the path field (dst); never empty. */
static int set_path(char *dst, const char *src, size_t len)
{
    if (len == 0 || len >= PATH_MAX || memchr(src, '\0', len))
        return -EINVAL;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

/* "QMP[,mem=PATH][,gdb=SOCKET]"; QMP may be empty only when mem is given. */
static int parse_qemu(const char *s, struct usc_target_spec *spec)
{
    const char *end = strchr(s, ',');
    size_t len = end ? (size_t)(end - s) : strlen(s);

    if (len && set_path(spec->qmp, s, len))
        return -EINVAL;
    while (end) {
        const char *field = end + 1;
        char *dst;

        end = strchr(field, ',');
        len = end ? (size_t)(end - field) : strlen(field);
        if (len > 4 && !strncmp(field, "mem=", 4))
            dst = spec->mem;
        else if (len > 4 && !strncmp(field, "gdb=", 4))
            dst = spec->gdb;
        else
            return -EINVAL;
        if (*dst || set_path(dst, field + 4, len - 4))
            return -EINVAL;
    }
    if (!spec->qmp[0] && !spec->mem[0])
        return -EINVAL;
    spec->kind = USC_TARGET_QEMU;
    return 0;
}

/* Hex digits, optionally after "0x", all of (s, len), into (*v). */
static int parse_hex(const char *s, size_t len, uint64_t *v)
{
    uint64_t x = 0;

    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        len -= 2;
    }
    if (len == 0 || len > 16)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        int d = usc_rsp_hexval(s[i]);

        if (d < 0)
            return -EINVAL;
        x = x << 4 | (uint64_t)d;
    }
    *v = x;
    return 0;
}

/* A size: "0x..." hex, else decimal with an optional K, M or G. */
static int parse_size(const char *s, size_t len, uint64_t *v)
{
    unsigned shift = 0;
    uint64_t x = 0;

    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        return parse_hex(s, len, v);
    if (len > 1 && strchr("KkMmGg", s[len - 1])) {
        shift = strchr("Kk", s[len - 1])   ? 10
                : strchr("Mm", s[len - 1]) ? 20
                                           : 30;
        len--;
    }
    if (len == 0 || len > 19)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    if (x > UINT64_MAX >> shift)
        return -EINVAL;
    *v = x << shift;
    return 0;
}

/* "HVA:SIZE[:GPA]" of (len) bytes at (s) into (r). */
static int parse_ram(const char *s, size_t len, struct usc_target_ram *r)
{
    const char *c1 = memchr(s, ':', len), *c2;
    size_t rest;

    if (!c1)
        return -EINVAL;
    rest = len - (size_t)(c1 + 1 - s);
    c2 = memchr(c1 + 1, ':', rest);
    r->gpa = 0;
    if (parse_hex(s, (size_t)(c1 - s), &r->hva) ||
        parse_size(c1 + 1, c2 ? (size_t)(c2 - c1 - 1) : rest, &r->size) ||
        (c2 && parse_hex(c2 + 1, (size_t)(s + len - c2 - 1), &r->gpa)))
        return -EINVAL;
    if (r->size == 0 || r->hva + r->size < r->hva || r->gpa + r->size < r->gpa)
        return -EINVAL;
    return 0;
}

/* A pid: stub address: "unix:PATH" or a path, else "HOST:PORT". */
static int parse_stub(const char *s, size_t len, char *dst)
{
    const char *colon;
    size_t port;

    if (len > 5 && !strncmp(s, "unix:", 5))
        return set_path(dst, s + 5, len - 5);
    if (memchr(s, '/', len))
        return set_path(dst, s, len);
    colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ':')
            colon = s + i;
    port = colon ? len - (size_t)(colon + 1 - s) : 0;
    if (!colon || port == 0 || port > 5 ||
        strspn(colon + 1, "0123456789") < port || len + 4 >= PATH_MAX)
        return -EINVAL;
    memcpy(dst, "tcp:", 4);
    return set_path(dst + 4, s, len);
}

/* "PID[,gdb=ADDR][,ram=HVA:SIZE[:GPA]]..." */
static int parse_pid(const char *s, struct usc_target_spec *spec)
{
    const char *end = strchr(s, ',');
    size_t len = end ? (size_t)(end - s) : strlen(s);
    long pid = 0;

    if (len == 0 || len > 10 || strspn(s, "0123456789") < len)
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        pid = pid * 10 + (s[i] - '0');
    if (pid <= 0 || pid > INT32_MAX)
        return -EINVAL;
    spec->pid = (int)pid;
    while (end) {
        const char *field = end + 1;

        end = strchr(field, ',');
        len = end ? (size_t)(end - field) : strlen(field);
        if (len > 4 && !strncmp(field, "gdb=", 4)) {
            if (spec->gdb[0] || parse_stub(field + 4, len - 4, spec->gdb))
                return -EINVAL;
        } else if (len > 4 && !strncmp(field, "ram=", 4)) {
            if (spec->nram == USC_TARGET_RAM_MAX ||
                parse_ram(field + 4, len - 4, &spec->ram[spec->nram]))
                return -EINVAL;
            spec->nram++;
        } else {
            return -EINVAL;
        }
    }
    spec->kind = USC_TARGET_PID;
    return 0;
}

/* "DOMID" (decimal, below Xen's reserved ids) or "NAME". */
static int parse_xen(const char *s, struct usc_target_spec *spec)
{
    size_t len = strspn(s, "0123456789");
    long id = 0;

    if (len && !s[len]) {
        if (len > 5)
            return -EINVAL;
        for (size_t i = 0; i < len; i++)
            id = id * 10 + (s[i] - '0');
        if (id > XEN_DOMID_MAX)
            return -EINVAL;
        spec->domid = (int)id;
    } else if (usc_rundir_name_valid(s)) {
        strcpy(spec->name, s);
    } else {
        return -EINVAL;
    }
    spec->kind = USC_TARGET_XEN;
    return 0;
}

/*
 * 0 when (path) is not an existing regular file starting with the ELF
 * magic, 1 when it is, 2 when it is moreover an ET_CORE file.
 */
static int elf_file_kind(const char *path)
{
    unsigned char h[ELF_TYPE_OFFSET + 2];
    struct stat st;
    ssize_t n;
    int fd, kind = 0;

    /* O_NONBLOCK: a FIFO named like a guest must not block the parse. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        n = pread(fd, h, sizeof(h), 0);
        if (n >= 4 && !memcmp(h, "\177ELF", 4))
            kind = 1;
        if (kind && n == (ssize_t)sizeof(h) &&
            h[ELF_TYPE_OFFSET] == ELF_TYPE_CORE && h[ELF_TYPE_OFFSET + 1] == 0)
            kind = 2;
    }
    close(fd);
    return kind;
}

int usc_target_spec_parse(const char *text, struct usc_target_spec *spec)
{
    int err = -EINVAL, elf;

    if (!spec)
        return -EINVAL;
    memset(spec, 0, sizeof(*spec));
    spec->domid = -1;
    if (!text)
        return -EINVAL;
    if (!strncmp(text, "qemu:", 5)) {
        err = parse_qemu(text + 5, spec);
    } else if (!strncmp(text, "xen:", 4)) {
        err = parse_xen(text + 4, spec);
    } else if (!strncmp(text, "pid:", 4)) {
        err = parse_pid(text + 4, spec);
    } else if (!strncmp(text, "core:", 5)) {
        err = set_path(spec->core, text + 5, strlen(text + 5));
        spec->kind = USC_TARGET_CORE;
    } else {
        /*
         * An ELF file wins over a guest name, except a non-core ELF whose
         * name is also a guest name: that is the image a guest was named
         * after, sitting in the working directory.
         */
        elf = elf_file_kind(text);
        if (elf == 2 || (elf == 1 && !usc_rundir_name_valid(text))) {
            err = set_path(spec->core, text, strlen(text));
            spec->kind = USC_TARGET_CORE;
        } else if (usc_rundir_name_valid(text)) {
            strcpy(spec->name, text);
            spec->kind = USC_TARGET_NAME;
            err = 0;
        }
    }
    if (err) {
        memset(spec, 0, sizeof(*spec));
        spec->domid = -1;
    }
    return err;
}

int usc_target_spec_resolve(struct usc_target_spec *spec)
{
    char dir[PATH_MAX];
    struct stat st;
    int err;

    if (!spec)
        return -EINVAL;
    if (spec->kind != USC_TARGET_NAME)
        return 0;
    err = usc_rundir_guest_path(spec->name, NULL, dir, sizeof(dir));
    if (err)
        return err == -EINVAL ? -ENOENT : err;
    err = usc_rundir_check(0);
    if (err)
        return err;
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return -ENOENT;
    err = usc_rundir_guest_path(spec->name, USC_RUNDIR_QMP, spec->qmp,
                                sizeof(spec->qmp));
    if (!err)
        err = usc_rundir_guest_path(spec->name, USC_RUNDIR_GDB, spec->gdb,
                                    sizeof(spec->gdb));
    if (!err)
        err = usc_rundir_guest_path(spec->name, USC_RUNDIR_MEM, spec->mem,
                                    sizeof(spec->mem));
    if (err)
        return err;
    spec->kind = USC_TARGET_QEMU;
    return 0;
}

const char *usc_vm_state_name(enum usc_vm_state state)
{
    static const char *const names[] = {
        [USC_VM_UNKNOWN] = "unknown",   [USC_VM_RUNNING] = "running",
        [USC_VM_PAUSED] = "paused",     [USC_VM_DEBUG] = "debug",
        [USC_VM_PANICKED] = "panicked", [USC_VM_SHUTDOWN] = "shutdown",
        [USC_VM_DEAD] = "dead",         [USC_VM_ERROR] = "internal-error",
    };

    if ((unsigned)state >= sizeof(names) / sizeof(names[0]))
        return "unknown";
    return names[state];
}

/* ---- opening ------------------------------------------------------------ */

static int pm_read(void *priv, uint64_t paddr, void *buf, size_t len)
{
    struct usc_target *t = priv;

    return t->ops->read_phys(t->priv, paddr, buf, len);
}

static const void *pm_map(void *priv, uint64_t paddr, size_t len)
{
    struct usc_target *t = priv;

    return t->ops->map_phys(t->priv, paddr, len);
}

static int pm_write(void *priv, uint64_t paddr, const void *buf, size_t len)
{
    struct usc_target *t = priv;

    return t->ops->write_data(t->priv, paddr, buf, len);
}

int usc_target_open(const char *text, struct usc_target **out)
{
    struct usc_target_spec *spec;
    int err;

    if (!out)
        return -EINVAL;
    *out = NULL;
    /* Four PATH_MAX fields: too large for a tool's stack frame twice. */
    spec = malloc(sizeof(*spec));
    if (!spec)
        return -ENOMEM;
    err = usc_target_spec_parse(text, spec);
    if (!err)
        err = usc_target_open_spec(spec, out);
    free(spec);
    return err;
}

int usc_target_open_spec(const struct usc_target_spec *spec,
                         struct usc_target **out)
{
    const struct usc_backend_ops *ops = NULL;
    struct usc_target_spec *s = NULL;
    struct usc_target *t = NULL;
    int err;
    size_t i;

    if (!spec || !out)
        return -EINVAL;
    *out = NULL;
    s = malloc(sizeof(*s));
    t = calloc(1, sizeof(*t));
    if (!s || !t) {
        err = -ENOMEM;
        goto err;
    }
    *s = *spec;
    err = usc_target_spec_resolve(s);
    if (err)
        goto err;
    err = -EINVAL;
    for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
        if (backends[i].kind == s->kind) {
            ops = backends[i].ops;
            err = ops ? 0 : -ENOTSUP;
        }
    }
    if (err)
        goto err;
    t->ops = ops;
    err = ops->open(s, &t->priv);
    if (err)
        goto err;
    t->pm.read = pm_read;
    t->pm.map = ops->map_phys ? pm_map : NULL;
    t->pm.write = ops->write_data ? pm_write : NULL;
    t->pm.priv = t;
    free(s);
    *out = t;
    return 0;
err:
    free(t);
    free(s);
    return err;
}

int usc_target_wrap(const struct usc_backend_ops *ops, void *priv,
                    struct usc_target **out)
{
    struct usc_target *t;

    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!ops || !ops->close || !ops->describe || !ops->read_phys)
        return -EINVAL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->ops = ops;
    t->priv = priv;
    t->pm.read = pm_read;
    t->pm.map = ops->map_phys ? pm_map : NULL;
    t->pm.write = ops->write_data ? pm_write : NULL;
    t->pm.priv = t;
    *out = t;
    return 0;
}

/* Learn (t)'s fixed facts from describe, once; a failure leaves none. */
static void describe_once(struct usc_target *t)
{
    struct usc_target_info info;

    if (t->described)
        return;
    memset(&info, 0, sizeof(info));
    if (t->ops->describe(t->priv, &info) != 0)
        return;
    t->described = 1;
    t->can_control = info.can_control;
    t->pm.phys_end = info.phys_end;
}

void usc_target_close(struct usc_target *t)
{
    if (!t)
        return;
    t->ops->close(t->priv);
    free(t);
}

int usc_target_describe(struct usc_target *t, struct usc_target_info *info)
{
    if (!t || !info)
        return -EINVAL;
    return t->ops->describe(t->priv, info);
}

const struct usc_physmem *usc_target_physmem(struct usc_target *t)
{
    if (!t)
        return NULL;
    describe_once(t);
    return &t->pm;
}

/* ---- operations --------------------------------------------------------- */

/*
 * 0 when (t) can serve an operation whose member is (have) (non-zero when
 * set); (control): the operation needs a controllable guest.
 */
static int usable(struct usc_target *t, int have, int control)
{
    if (!t)
        return -EINVAL;
    if (!have)
        return -ENOTSUP;
    if (control)
        describe_once(t);
    if (control && !t->can_control)
        return -ENOTSUP;
    return 0;
}

int usc_target_read_phys(struct usc_target *t, uint64_t paddr, void *buf,
                         size_t len)
{
    int err = usable(t, 1, 0);

    return err ? err : t->ops->read_phys(t->priv, paddr, buf, len);
}

int usc_target_write_phys(struct usc_target *t, uint64_t paddr, const void *buf,
                          size_t len)
{
    int err = usable(t, t && t->ops->write_phys, 0);

    return err ? err : t->ops->write_phys(t->priv, paddr, buf, len);
}

int usc_target_write_data(struct usc_target *t, uint64_t paddr, const void *buf,
                          size_t len)
{
    int err = usable(t, t && t->ops->write_data, 0);

    return err ? err : t->ops->write_data(t->priv, paddr, buf, len);
}

/*
 * How (vcpu) of (t) translates addresses now: through page tables rooted
 * at (*cr3) when (*paging), else one to one. -ENOTSUP when the backend
 * gives no control registers (a core file without them) or the guest uses
 * 5-level paging, which the page walker does not do.
 */
static int virt_root(struct usc_target *t, uint32_t vcpu, uint64_t *cr3,
                     int *paging)
{
    struct usc_regs regs;
    int err;

    if (!t->ops->get_regs)
        return -ENOTSUP;
    memset(&regs, 0, sizeof(regs));
    err = t->ops->get_regs(t->priv, vcpu, &regs);
    if (err)
        return err;
    if (regs.cr4 & CR4_LA57)
        return -ENOTSUP;
    if (regs.cr3) {
        *cr3 = regs.cr3 & CR3_ADDR_MASK;
        *paging = 1;
        return 0;
    }
    /* Protected mode without paging: PVH entry, before the kernel's tables. */
    if ((regs.cr0 & CR0_PE) && !(regs.cr0 & CR0_PG)) {
        *paging = 0;
        return 0;
    }
    return -ENOTSUP;
}

/* Read into (rbuf), or write from (wbuf), (len) bytes at (vaddr). */
static int virt_access(struct usc_target *t, uint32_t vcpu, uint64_t vaddr,
                       unsigned char *rbuf, const unsigned char *wbuf,
                       size_t len)
{
    struct usc_xlate x;
    uint64_t cr3 = 0, paddr, chunk;
    int err, paging = 0;

    if (len && vaddr + (len - 1) < vaddr)
        return -EFAULT;
    describe_once(t);
    /* The root is read once per call: the guest may switch tables later. */
    err = virt_root(t, vcpu, &cr3, &paging);
    if (err)
        return err;
    while (len) {
        if (paging) {
            err = usc_pagewalk(&t->pm, cr3, vaddr, &x);
            if (err)
                return err;
            if (!x.page_size || (x.page_size & (x.page_size - 1)))
                return -EINVAL;
            paddr = x.paddr;
            chunk = x.page_size - (vaddr & (x.page_size - 1));
        } else {
            paddr = vaddr;
            chunk = len;
        }
        if (chunk > len)
            chunk = len;
        if (rbuf) {
            err = t->ops->read_phys(t->priv, paddr, rbuf, chunk);
            rbuf += chunk;
        } else {
            err = t->ops->write_phys(t->priv, paddr, wbuf, chunk);
            wbuf += chunk;
        }
        if (err)
            return err;
        vaddr += chunk;
        len -= chunk;
    }
    return 0;
}

int usc_target_read_virt(struct usc_target *t, uint32_t vcpu, uint64_t vaddr,
                         void *buf, size_t len)
{
    int err = usable(t, 1, 0);

    if (err)
        return err;
    err = virt_access(t, vcpu, vaddr, buf, NULL, len);
    /* A core without control registers still maps by its p_vaddrs. */
    if (err == -ENOTSUP && t->ops == &usc_backend_core)
        err = usc_core_read_vaddr(t->priv, vaddr, buf, len);
    return err;
}

int usc_target_write_virt(struct usc_target *t, uint32_t vcpu, uint64_t vaddr,
                          const void *buf, size_t len)
{
    int err = usable(t, t && t->ops->write_phys, 0);

    return err ? err : virt_access(t, vcpu, vaddr, NULL, buf, len);
}

int usc_target_pause(struct usc_target *t)
{
    int err = usable(t, t && t->ops->pause, 1);

    return err ? err : t->ops->pause(t->priv);
}

int usc_target_resume(struct usc_target *t)
{
    int err = usable(t, t && t->ops->resume, 1);

    return err ? err : t->ops->resume(t->priv);
}

int usc_target_run_state(struct usc_target *t, enum usc_vm_state *state)
{
    int err = usable(t, t && t->ops->run_state, 0);

    return err ? err : t->ops->run_state(t->priv, state);
}

int usc_target_wait_stop(struct usc_target *t, int timeout_ms,
                         struct usc_stop_event *ev)
{
    int err = usable(t, t && t->ops->wait_stop, 0);

    return err ? err : t->ops->wait_stop(t->priv, timeout_ms, ev);
}

int usc_target_get_regs(struct usc_target *t, uint32_t vcpu,
                        struct usc_regs *regs)
{
    int err = usable(t, t && t->ops->get_regs, 0);

    return err ? err : t->ops->get_regs(t->priv, vcpu, regs);
}

int usc_target_set_regs(struct usc_target *t, uint32_t vcpu,
                        const struct usc_regs *regs)
{
    int err = usable(t, t && t->ops->set_regs, 1);

    return err ? err : t->ops->set_regs(t->priv, vcpu, regs);
}

int usc_target_insert_break(struct usc_target *t, enum usc_break_type type,
                            uint64_t addr, uint64_t len)
{
    int err = usable(t, t && t->ops->insert_break, 1);

    return err ? err : t->ops->insert_break(t->priv, type, addr, len);
}

int usc_target_remove_break(struct usc_target *t, enum usc_break_type type,
                            uint64_t addr, uint64_t len)
{
    int err = usable(t, t && t->ops->remove_break, 1);

    return err ? err : t->ops->remove_break(t->priv, type, addr, len);
}

int usc_target_step(struct usc_target *t, uint32_t vcpu)
{
    int err = usable(t, t && t->ops->step, 1);

    return err ? err : t->ops->step(t->priv, vcpu);
}

int usc_target_vcpu_stats(struct usc_target *t, uint32_t vcpu,
                          struct usc_vcpu_stats *st)
{
    int err = usable(t, t && t->ops->vcpu_stats, 0);

    return err ? err : t->ops->vcpu_stats(t->priv, vcpu, st);
}

int usc_target_agent_at(struct usc_target *t, uint64_t *cb_paddr)
{
    int err = usable(t, t && t->ops->agent_at, 0);

    return err ? err : t->ops->agent_at(t->priv, cb_paddr);
}

int usc_target_agent_open(struct usc_target *t, struct usc_agent **out)
{
    const struct usc_physmem *pm = usc_target_physmem(t);
    uint64_t cb;
    int err;

    if (!pm || !out)
        return -EINVAL;
    err = usc_target_agent_at(t, &cb);
    if (err == 0)
        return usc_agent_open(pm, cb, out);
    if (err != -ENOTSUP) {
        *out = NULL;
        return err;
    }
    return usc_agent_open(pm, USC_AGENT_SCAN, out);
}

int usc_target_read_batch(struct usc_target *t, const struct usc_phys_seg *segs,
                          size_t n)
{
    int err = usable(t, 1, 0);

    if (err)
        return err;
    if (t->ops->read_batch)
        return t->ops->read_batch(t->priv, segs, n);
    for (size_t i = 0; i < n && !err; i++)
        err =
            t->ops->read_phys(t->priv, segs[i].paddr, segs[i].buf, segs[i].len);
    return err;
}

int usc_target_next_data(struct usc_target *t, uint64_t paddr, uint64_t end,
                         uint64_t *start, uint64_t *stop)
{
    int err = usable(t, t && t->ops->next_data, 0);

    return err ? err : t->ops->next_data(t->priv, paddr, end, start, stop);
}
