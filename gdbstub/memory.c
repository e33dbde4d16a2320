/* Guest-virtual memory for gdb: one page walk per page, reads from RAM. */
#include <errno.h>
#include <string.h>

#include "pagewalk.h"
#include "stub.h"

#define CR0_PE (1ull << 0)
#define CR0_PG (1ull << 31)
#define CR4_LA57 (1ull << 12)
#define CR3_ADDR_MASK 0x000ffffffffff000ull
#define SMALL_PAGE 4096ull

/* How (vcpu) maps addresses now, from the registers read at this stop. */
struct mapping {
    int paging; /* 1: through the tables at cr3; 0: one to one */
    uint64_t cr3;
};

/*
 * The facade would read the registers again for each access; gdb reads
 * memory in many small pieces, so we walk from the copy of this stop.
 * -ENOTSUP: no control registers (a core without them), or 5-level paging.
 */
/* usc_target_next_data for usc_pagewalk_find_root: every page where the
 * target cannot say. */
static int target_data(void *priv, uint64_t pos, uint64_t end, uint64_t *start,
                       uint64_t *stop)
{
    int err = usc_target_next_data(priv, pos, end, start, stop);

    if (err == -ENOTSUP) {
        *start = pos;
        *stop = end;
        return 0;
    }
    return err;
}

/*
 * A guest whose vCPUs cannot be asked (a VMM process without its stub):
 * its agent's block, whose virtual and physical addresses it records,
 * says which page is the root of its tables; searched for once.
 */
static int mapping_by_agent(struct unigdb_session *s, struct mapping *m)
{
    const struct usc_physmem *pm = usc_target_physmem(s->t);
    const struct usc_control_block *cb;
    uint64_t paddr;

    if (!s->agent)
        agent_refresh(s);
    if (!s->agent || !pm)
        return -ENOTSUP;
    cb = usc_agent_header(s->agent);
    paddr = usc_agent_paddr(s->agent);
    if (cb->self_vaddr == paddr) {
        m->paging = 0; /* mapped one to one (Solo5) */
        return 0;
    }
    if (!s->root_tried) {
        s->root_tried = 1;
        if (usc_pagewalk_find_root(pm, 0, pm->phys_end, cb->self_vaddr, paddr,
                                   target_data, s->t, &s->root) != 0)
            s->root = 0;
    }
    if (!s->root)
        return -ENOTSUP;
    m->paging = 1;
    m->cr3 = s->root;
    return 0;
}

static int mapping_of(struct unigdb_session *s, uint32_t vcpu,
                      struct mapping *m)
{
    const struct usc_regs *r;
    int err = vcpu_regs(s, vcpu < s->nvcpus ? vcpu : 0, &r);

    if (err == -ENOTSUP && !s->ctrl)
        return mapping_by_agent(s, m);
    if (err)
        return err;
    if (r->cr4 & CR4_LA57)
        return -ENOTSUP;
    if ((r->cr0 & CR0_PG) && r->cr3) {
        m->paging = 1;
        m->cr3 = r->cr3 & CR3_ADDR_MASK;
        return 0;
    }
    if ((r->cr0 & CR0_PE) && !(r->cr0 & CR0_PG)) {
        m->paging = 0;
        return 0;
    }
    return -ENOTSUP;
}

/* Where (addr) lands, and how many bytes from there share its page. */
static int translate(struct unigdb_session *s, const struct mapping *m,
                     uint64_t addr, uint64_t *paddr, uint64_t *room)
{
    struct usc_xlate x;
    int err;

    if (!m->paging) {
        *paddr = addr;
        *room = SMALL_PAGE - (addr & (SMALL_PAGE - 1));
        return 0;
    }
    err = usc_pagewalk(usc_target_physmem(s->t), m->cr3, addr, &x);
    if (err)
        return err;
    if (!x.page_size || (x.page_size & (x.page_size - 1)))
        return -EINVAL;
    *paddr = x.paddr;
    *room = x.page_size - (addr & (x.page_size - 1));
    return 0;
}

static int read_phys(struct unigdb_session *s, uint64_t paddr, void *buf,
                     size_t len)
{
    const struct usc_physmem *pm = usc_target_physmem(s->t);
    const void *p;

    /* the RAM file, mapped: no copy through the backend */
    if (pm && pm->map && paddr < pm->phys_end && len <= pm->phys_end - paddr) {
        p = pm->map(pm->priv, paddr, len);
        if (p) {
            memcpy(buf, p, len);
            return 0;
        }
    }
    return usc_target_read_phys(s->t, paddr, buf, len);
}

int mem_read(struct unigdb_session *s, uint32_t vcpu, uint64_t addr, void *buf,
             size_t len, size_t *done)
{
    struct mapping m;
    uint64_t paddr, room;
    size_t n;
    int err;

    *done = 0;
    if (len == 0)
        return 0;
    err = mapping_of(s, vcpu, &m);
    if (err == -ENOTSUP) {
        /* the facade knows a core's own virtual addresses */
        err = usc_target_read_virt(s->t, vcpu, addr, buf, len);
        if (err == 0)
            *done = len;
        return err;
    }
    while (!err && *done < len) {
        err = translate(s, &m, addr + *done, &paddr, &room);
        if (err)
            break;
        n = len - *done < room ? len - *done : (size_t)room;
        err = read_phys(s, paddr, (char *)buf + *done, n);
        if (!err) {
            *done += n;
            continue;
        }
        /* part of a large page may be readable: take what is, page by page */
        while (n > SMALL_PAGE - (paddr & (SMALL_PAGE - 1))) {
            size_t k = SMALL_PAGE - (paddr & (SMALL_PAGE - 1));

            if (read_phys(s, paddr, (char *)buf + *done, k))
                break;
            *done += k;
            paddr += k;
            n -= k;
        }
        break;
    }
    return *done ? 0 : (err ? err : -EFAULT);
}

int mem_write(struct unigdb_session *s, uint32_t vcpu, uint64_t addr,
              const void *buf, size_t len)
{
    struct mapping m;
    uint64_t paddr, room;
    size_t done = 0, n;
    int err;

    if (!s->ctrl)
        return -EROFS;
    if (len && addr + (len - 1) < addr)
        return -EFAULT;
    err = mapping_of(s, vcpu, &m);
    while (!err && done < len) {
        err = translate(s, &m, addr + done, &paddr, &room);
        if (err)
            break;
        n = len - done < room ? len - done : (size_t)room;
        /* through the hypervisor: TCG must see code we change */
        err = usc_target_write_phys(s->t, paddr, (const char *)buf + done, n);
        done += n;
    }
    return err;
}
