/* Tracepoint registration: lay out the payload, publish the table entry. */
#include "trace_internal.h"

static int register_lock;

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A C identifier shorter than (cap): CTF field names must be. */
static int identifier_ok(const char *s, uint32_t cap)
{
    uint32_t i = 0;

    if (!s || !is_alpha(s[0]))
        return 0;
    for (; s[i]; i++)
        if (i + 1 >= cap || !(is_alpha(s[i]) || is_digit(s[i])))
            return 0;
    return 1;
}

/* A tracepoint name: [A-Za-z0-9_.:-], shorter than (cap). */
static int name_ok(const char *s, uint32_t cap)
{
    uint32_t i = 0;

    if (!s || !s[0])
        return 0;
    for (; s[i]; i++)
        if (i + 1 >= cap || !(is_alpha(s[i]) || is_digit(s[i]) || s[i] == '.' ||
                              s[i] == ':' || s[i] == '-'))
            return 0;
    return 1;
}

static uint32_t align_up(uint32_t x, uint32_t a)
{
    return (x + a - 1) & ~(a - 1);
}

/*
 * Check (tp)'s fields and compute where each goes: in order, each aligned
 * to its size (strings to 1) after the event header, as a CTF reader will
 * lay them out. Returns the record size, or 0 for a bad declaration.
 */
static uint32_t lay_out(struct usca_tracepoint *tp)
{
    uint32_t off = sizeof(struct usc_trace_event_header);

    if (tp->nfields > USC_TP_FIELDS_MAX || (tp->nfields && !tp->fields))
        return 0;
    for (uint32_t i = 0; i < tp->nfields; i++) {
        const struct usca_tp_field *f = &tp->fields[i];
        uint32_t align = f->size;

        if (!identifier_ok(f->name, USC_TP_FIELD_NAME_MAX))
            return 0;
        switch (f->type) {
        case USC_FIELD_UNSIGNED:
        case USC_FIELD_SIGNED:
            if (f->size != 1 && f->size != 2 && f->size != 4 && f->size != 8)
                return 0;
            break;
        case USC_FIELD_POINTER:
            if (f->size != 8)
                return 0;
            break;
        case USC_FIELD_STRING:
            if (f->size < 2 || f->size > USC_TP_STRING_MAX)
                return 0;
            align = 1;
            break;
        default:
            return 0;
        }
        off = align_up(off, align);
        tp->offset[i] = (uint16_t)off;
        tp->ftype[i] = f->type;
        tp->fsize[i] = f->size;
        off += f->size;
    }
    off = align_up(off, 8);
    return off <= USC_TRACE_EVENT_MAX ? off : 0;
}

static int taken(const char *name, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++)
        if (usca_name_eq(usca_trace_area.tps[i].name, name, USC_TP_NAME_MAX))
            return 1;
    return 0;
}

/* Fill table entry (e) from (tp), laid out to (size) bytes. */
static void describe(struct usc_tracepoint *e, const struct usca_tracepoint *tp,
                     uint32_t id, uint32_t size)
{
    e->id = id;
    e->kind = tp->kind;
    e->nfields = tp->nfields;
    e->event_size = (uint16_t)size;
    e->reserved0 = 0;
    e->pair = tp->kind == USC_TP_END ? tp->begin->id : USC_TP_NO_PAIR;
    e->enabled_at.paddr = usca_port_virt_to_phys((const void *)&tp->enabled);
    e->enabled_at.vaddr = (uint64_t)(uintptr_t)&tp->enabled;
    usca_copy_name(e->name, tp->name, USC_TP_NAME_MAX);
    for (uint32_t i = 0; i < USC_TP_FIELDS_MAX; i++) {
        struct usc_tp_field *f = &e->fields[i];
        int used = i < tp->nfields;

        usca_copy_name(f->name, used ? tp->fields[i].name : 0,
                       USC_TP_FIELD_NAME_MAX);
        f->type = used ? tp->ftype[i] : 0;
        f->size = used ? tp->fsize[i] : 0;
        f->offset = used ? tp->offset[i] : 0;
        f->reserved = 0;
    }
}

static int do_register(struct usca_tracepoint *tp)
{
    struct usc_control_block *cb = &usca_area.cb;
    int err = 0;

    if (!tp || tp->kind > USC_TP_END || !name_ok(tp->name, USC_TP_NAME_MAX))
        return -22;
    if (tp->kind == USC_TP_END) {
        if (!tp->begin || tp->begin == tp || tp->begin->kind != USC_TP_BEGIN)
            return -22;
        err = do_register(tp->begin);
        if (err)
            return err;
    }

    unsigned long flags = usca_lock(&register_lock);
    uint32_t n = cb->tracepoints_count;
    uint32_t size;
    if (tp->size)
        goto out; /* registered already */
    size = lay_out(tp);
    if (!size) {
        err = -22;
        goto out;
    }
    if (taken(tp->name, n)) {
        err = -17;
        goto out;
    }
    if (n == USCA_MAX_TRACEPOINTS) {
        err = -28;
        goto out;
    }
    describe(&usca_trace_area.tps[n], tp, n, size);
    tp->id = n;
    tp->size = (uint16_t)size;
    /* The entry is complete before the host can count it... */
    __atomic_store_n(&cb->tracepoints_count, n + 1, __ATOMIC_RELEASE);
    /* ...and published before any event can carry its id. */
    __atomic_store_n(&tp->enabled, tp->start_off ? 0u : 1u, __ATOMIC_RELEASE);
out:
    usca_unlock(&register_lock, flags);
    return err;
}

int usca_tracepoint_register(struct usca_tracepoint *tp)
{
    return usca_ready ? do_register(tp) : -22;
}

/* The agent's own: every flight recorder ends with the panic, if any. */
static const struct usca_tp_field panic_fields[] = {
    USCA_U64("vector"), USCA_U64("error"), USCA_PTR("cr2"), USCA_PTR("rip")};
static struct usca_tracepoint panic_tp =
    USCA_TP("agent_panic", USC_TP_INSTANT, panic_fields);

void usca_trace_builtin(void)
{
    do_register(&panic_tp);
}

void usca_trace_panic(const struct usca_fault *f)
{
    USCA_TRACE4(&panic_tp, f ? f->vector : USC_PANIC_NO_VECTOR,
                f ? f->error_code : 0, f ? f->cr2 : 0,
                f && f->regs ? f->regs->rip : 0);
}
