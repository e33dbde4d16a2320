/* Backtraces of guest stacks: libdw's unwinder over the target facade. */
#include "unwind.h"

#include <dwarf.h>
#include <elf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* DWARF register numbers of x86-64 (System V psABI): 16 is the return
 * address column, which holds rip. */
enum {
    DW_RAX,
    DW_RDX,
    DW_RCX,
    DW_RBX,
    DW_RSI,
    DW_RDI,
    DW_RBP,
    DW_RSP,
    DW_R8,
    DW_R9,
    DW_R10,
    DW_R11,
    DW_R12,
    DW_R13,
    DW_R14,
    DW_R15,
    DW_RIP,
    DW_NREGS
};

#define TID 1 /* the one thread the session shows libdw at a time */

struct usc_unwind {
    Dwfl *dwfl;
    struct usc_target *t;
    uint32_t vcpu;             /* whose view memory reads take */
    Dwarf_Word regs[DW_NREGS]; /* the registers to unwind from */
    uint32_t known;            /* bit per DWARF register set in regs */
    int attached;
    /* Without an image, libdw still needs an x86-64 ELF for its backend:
     * an ELF header alone, built here. */
    Elf *arch;
    Elf64_Ehdr arch_hdr;
};

struct collect {
    struct usc_unwind *u;
    struct usc_frame *frames;
    size_t cap, n;
};

/* ---- the thread callbacks ---------------------------------------------- */

/* The session is the thread's argument too: one thread, shown at a time. */
static pid_t next_thread(Dwfl *dwfl, void *dwfl_arg, void **thread_argp)
{
    (void)dwfl;
    if (*thread_argp)
        return 0;
    *thread_argp = dwfl_arg;
    return TID;
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *dwfl_arg,
                       void **thread_argp)
{
    (void)dwfl;
    *thread_argp = dwfl_arg;
    return tid == TID;
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result,
                        void *dwfl_arg)
{
    struct usc_unwind *u = dwfl_arg;
    uint64_t v;

    (void)dwfl;
    if (usc_target_read_virt(u->t, u->vcpu, addr, &v, sizeof(v)) != 0)
        return false;
    *result = v;
    return true;
}

/* Hand libdw the registers known, in runs of consecutive numbers. */
static bool set_initial_registers(Dwfl_Thread *thread, void *thread_arg)
{
    const struct usc_unwind *u = thread_arg;

    for (int r = 0; r < DW_NREGS;) {
        int end = r;
        while (end < DW_NREGS && (u->known & (1u << end)))
            end++;
        if (end > r && !dwfl_thread_state_registers(
                           thread, r, (unsigned)(end - r), &u->regs[r]))
            return false;
        r = end + 1;
    }
    dwfl_thread_state_register_pc(thread, u->regs[DW_RIP]);
    return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
    .next_thread = next_thread,
    .get_thread = get_thread,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
};

/* ---- the session ------------------------------------------------------- */

static const Dwfl_Callbacks offline_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

int usc_unwind_open(struct usc_target *t, const char *image,
                    struct usc_unwind **out)
{
    struct usc_unwind *u;
    Elf *arch = NULL;
    int err;

    if (!t || !out)
        return -EINVAL;
    *out = NULL;
    u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    u->t = t;
    elf_version(EV_CURRENT);
    u->dwfl = dwfl_begin(&offline_callbacks);
    if (!u->dwfl) {
        err = -ENOMEM;
        goto err;
    }
    dwfl_report_begin(u->dwfl);
    if (image && !dwfl_report_elf(u->dwfl, "image", image, -1, 0, false)) {
        dwfl_report_end(u->dwfl, NULL, NULL);
        err = -ENOEXEC;
        goto err;
    }
    dwfl_report_end(u->dwfl, NULL, NULL);
    if (!image) {
        memcpy(u->arch_hdr.e_ident, ELFMAG, SELFMAG);
        u->arch_hdr.e_ident[EI_CLASS] = ELFCLASS64;
        u->arch_hdr.e_ident[EI_DATA] = ELFDATA2LSB;
        u->arch_hdr.e_ident[EI_VERSION] = EV_CURRENT;
        u->arch_hdr.e_type = ET_EXEC;
        u->arch_hdr.e_machine = EM_X86_64;
        u->arch_hdr.e_version = EV_CURRENT;
        u->arch_hdr.e_ehsize = sizeof(Elf64_Ehdr);
        arch = u->arch = elf_memory((char *)&u->arch_hdr, sizeof(u->arch_hdr));
        if (!arch) {
            err = -EIO;
            goto err;
        }
    }
    if (!dwfl_attach_state(u->dwfl, arch, TID, &thread_callbacks, u)) {
        err = -EIO;
        goto err;
    }
    u->attached = 1;
    *out = u;
    return 0;
err:
    usc_unwind_close(u);
    return err;
}

void usc_unwind_close(struct usc_unwind *u)
{
    if (!u)
        return;
    if (u->dwfl)
        dwfl_end(u->dwfl);
    if (u->arch)
        elf_end(u->arch);
    free(u);
}

/* ---- symbols ----------------------------------------------------------- */

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t len = strnlen(src, cap - 1);

    memcpy(dst, src, len);
    dst[len] = '\0';
}

int usc_unwind_symbolize(struct usc_unwind *u, uint64_t pc, int activation,
                         struct usc_frame *out)
{
    /* A return address follows its call, which may end the function. */
    Dwarf_Addr look = activation || pc == 0 ? pc : pc - 1;
    Dwfl_Module *m;
    const char *name, *src;
    Dwfl_Line *line;
    GElf_Off off = 0;
    GElf_Sym sym;
    int lineno = 0;

    if (!u || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->pc = pc;
    out->activation = activation;
    m = dwfl_addrmodule(u->dwfl, look);
    if (!m)
        return -ENOENT;
    name = dwfl_module_addrinfo(m, look, &off, &sym, NULL, NULL, NULL);
    line = dwfl_module_getsrc(m, look);
    src = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
    if (src) {
        copy_str(out->file, sizeof(out->file), src);
        out->line = lineno;
    }
    if (!name)
        return -ENOENT;
    copy_str(out->function, sizeof(out->function), name);
    out->offset = pc - (look - off);
    return 0;
}

int usc_unwind_data_symbol(struct usc_unwind *u, uint64_t addr, char *name,
                           size_t cap, uint64_t *offset)
{
    Dwfl_Module *m;
    const char *sym_name;
    GElf_Off off = 0;
    GElf_Sym sym;

    if (!u || !name || cap == 0)
        return -EINVAL;
    name[0] = '\0';
    m = dwfl_addrmodule(u->dwfl, addr);
    sym_name =
        m ? dwfl_module_addrinfo(m, addr, &off, &sym, NULL, NULL, NULL) : NULL;
    if (!sym_name)
        return -ENOENT;
    copy_str(name, cap, sym_name);
    if (offset)
        *offset = off;
    return 0;
}

/* ---- types ------------------------------------------------------------- */

#define TYPE_DEPTH 8 /* qualifiers and pointers followed, at most */

/* Append (s) to (out) of (cap) bytes, cutting it. */
static void append(char *out, size_t cap, const char *s)
{
    size_t len = strnlen(out, cap);

    if (len + 1 < cap)
        snprintf(out + len, cap - len, "%s", s);
}

/* The C spelling of the type (die), into (out). */
static void type_name(Dwarf_Die *die, char *out, size_t cap, int depth)
{
    Dwarf_Attribute at;
    Dwarf_Die next;
    const char *name = dwarf_diename(die);
    int tag = dwarf_tag(die);
    int has_next = dwarf_attr_integrate(die, DW_AT_type, &at) &&
                   dwarf_formref_die(&at, &next) != NULL;

    if (depth > TYPE_DEPTH)
        return;
    switch (tag) {
    case DW_TAG_volatile_type:
    case DW_TAG_const_type:
        append(out, cap, tag == DW_TAG_const_type ? "const " : "volatile ");
        if (has_next)
            type_name(&next, out, cap, depth + 1);
        else
            append(out, cap, "void");
        return;
    case DW_TAG_pointer_type:
        if (has_next)
            type_name(&next, out, cap, depth + 1);
        else
            append(out, cap, "void");
        append(out, cap, " *");
        return;
    case DW_TAG_array_type:
        if (has_next)
            type_name(&next, out, cap, depth + 1);
        append(out, cap, "[]");
        return;
    case DW_TAG_structure_type:
        append(out, cap, "struct ");
        break;
    case DW_TAG_union_type:
        append(out, cap, "union ");
        break;
    case DW_TAG_enumeration_type:
        append(out, cap, "enum ");
        break;
    default:
        break;
    }
    append(out, cap, name ? name : "?");
}

/* Find the variable (name) with a type among the top-level DIEs of (dw). */
static int find_variable(Dwarf *dw, const char *name, Dwarf_Die *type)
{
    Dwarf_Off off = 0, next;
    size_t hsize;

    while (dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
        Dwarf_Die cu, child;
        if (dwarf_offdie(dw, off + hsize, &cu) && dwarf_child(&cu, &child) == 0)
            do {
                Dwarf_Attribute at;
                const char *n = dwarf_diename(&child);
                if (dwarf_tag(&child) == DW_TAG_variable && n &&
                    !strcmp(n, name) &&
                    dwarf_attr_integrate(&child, DW_AT_type, &at) &&
                    dwarf_formref_die(&at, type))
                    return 0;
            } while (dwarf_siblingof(&child, &child) == 0);
        off = next;
    }
    return -ENOENT;
}

int usc_unwind_data_type(struct usc_unwind *u, uint64_t addr, char *type,
                         size_t cap)
{
    char name[USC_FRAME_FUNC_MAX];
    Dwarf_Addr bias;
    Dwfl_Module *m;
    Dwarf_Die die;
    Dwarf *dw;

    if (!u || !type || cap == 0)
        return -EINVAL;
    type[0] = '\0';
    if (usc_unwind_data_symbol(u, addr, name, sizeof(name), NULL) != 0)
        return -ENOENT;
    m = dwfl_addrmodule(u->dwfl, addr);
    dw = m ? dwfl_module_getdwarf(m, &bias) : NULL;
    if (!dw || find_variable(dw, name, &die) != 0)
        return -ENOENT;
    type_name(&die, type, cap, 0);
    return 0;
}

/* ---- unwinding --------------------------------------------------------- */

/* The DWARF register of each member of struct usc_saved_regs, in order. */
static const int saved_dwarf[8] = {DW_RIP, DW_RSP, DW_RBP, DW_RBX,
                                   DW_R12, DW_R13, DW_R14, DW_R15};

/* The registers libdw recovered in (state) into (f). */
static void frame_regs(Dwfl_Frame *state, struct usc_frame *f)
{
    uint64_t *v = (uint64_t *)&f->regs;

    /* struct usc_saved_regs is eight uint64_t in saved_dwarf's order */
    for (int i = 0; i < 8; i++) {
        Dwarf_Word w;
        if (dwfl_frame_reg(state, (unsigned)saved_dwarf[i], &w) == 0) {
            v[i] = w;
            f->known |= 1u << i;
        }
    }
    f->regs.rip = f->pc;
    f->known |= USC_FRAME_RIP;
}

static int frame_cb(Dwfl_Frame *state, void *arg)
{
    struct collect *c = arg;
    Dwarf_Addr pc;
    bool activation;

    if (c->n >= c->cap || !dwfl_frame_pc(state, &pc, &activation))
        return DWARF_CB_ABORT;
    usc_unwind_symbolize(c->u, pc, activation, &c->frames[c->n]);
    frame_regs(state, &c->frames[c->n++]);
    /* pc 0 ends a stack: a thread's first frame returns nowhere. */
    return pc ? DWARF_CB_OK : DWARF_CB_ABORT;
}

/* Unwind from the registers set in (u), as (vcpu) sees memory. */
static int unwind(struct usc_unwind *u, uint32_t vcpu, struct usc_frame *frames,
                  size_t cap, size_t *n)
{
    struct collect c = {u, frames, cap, 0};

    u->vcpu = vcpu;
    /* An error ends the walk where it is: what was found stands. */
    dwfl_getthread_frames(u->dwfl, TID, frame_cb, &c);
    /* A trailing zero pc is the end marker, not a frame. */
    if (c.n > 1 && frames[c.n - 1].pc == 0)
        c.n--;
    *n = c.n;
    return 0;
}

int usc_unwind_regs(struct usc_unwind *u, uint32_t vcpu,
                    const struct usc_regs *regs, struct usc_frame *frames,
                    size_t cap, size_t *n)
{
    if (!u || !regs || (!frames && cap) || !n)
        return -EINVAL;
    *n = 0;
    const Dwarf_Word r[DW_NREGS] = {
        regs->rax, regs->rdx, regs->rcx, regs->rbx, regs->rsi, regs->rdi,
        regs->rbp, regs->rsp, regs->r8,  regs->r9,  regs->r10, regs->r11,
        regs->r12, regs->r13, regs->r14, regs->r15, regs->rip,
    };
    memcpy(u->regs, r, sizeof(r));
    u->known = (1u << DW_NREGS) - 1;
    return unwind(u, vcpu, frames, cap, n);
}

int usc_unwind_partial(struct usc_unwind *u, uint32_t vcpu,
                       const struct usc_saved_regs *regs, uint32_t known,
                       struct usc_frame *frames, size_t cap, size_t *n)
{
    const uint64_t *v = (const uint64_t *)regs;

    if (!u || !regs || (!frames && cap) || !n ||
        (known & (USC_FRAME_RIP | USC_FRAME_RSP)) !=
            (USC_FRAME_RIP | USC_FRAME_RSP))
        return -EINVAL;
    *n = 0;
    memset(u->regs, 0, sizeof(u->regs));
    u->known = 0;
    for (int i = 0; i < 8; i++)
        if (known & (1u << i)) {
            u->regs[saved_dwarf[i]] = v[i];
            u->known |= 1u << saved_dwarf[i];
        }
    return unwind(u, vcpu, frames, cap, n);
}

int usc_unwind_saved(struct usc_unwind *u, uint32_t vcpu,
                     const struct usc_saved_regs *saved,
                     struct usc_frame *frames, size_t cap, size_t *n)
{
    return usc_unwind_partial(u, vcpu, saved, USC_FRAME_ALL, frames, cap, n);
}
