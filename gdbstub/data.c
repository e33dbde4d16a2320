/* Packets that read and write registers and memory: g G p P m M x X. */
#include <errno.h>
#include <string.h>

#include "stub.h"

/* The most memory one reply carries: hex doubles it. */
#define MEM_MAX_HEX ((UNIGDB_PACKET_MAX - 16) / 2)
#define MEM_MAX_BINARY (UNIGDB_PACKET_MAX - 16)

/* ---- registers ----------------------------------------------------------- */

int h_read_regs(struct unigdb_session *s, const char *arg, size_t len)
{
    struct unigdb_regset set;
    int err;

    (void)arg;
    (void)len;
    err = thread_regs(s, thread_current(s), &set);
    if (err)
        return reply_errno(s, err);
    s->reply.len = 0;
    if (unigdb_regs_encode(&set, &s->reply))
        return reply_errno(s, -ENOMEM);
    return REPLY;
}

/* The vCPU whose registers gdb may change through thread (th). */
static int writable_vcpu(struct unigdb_session *s,
                         const struct unigdb_thread *th, uint32_t *vcpu)
{
    if (!s->ctrl)
        return -EROFS;
    /* a switched-out thread's registers are a copy the guest never reads */
    if (!th->live)
        return -EPERM;
    *vcpu = th->vcpu;
    return 0;
}

/* Write (set) to (vcpu), and keep our copy in step. */
static int commit_regs(struct unigdb_session *s, uint32_t vcpu,
                       const struct unigdb_regset *set)
{
    int err = usc_target_set_regs(s->t, vcpu, &set->r);

    if (err)
        return err;
    s->vregs[vcpu] = set->r;
    return 0;
}

int h_write_regs(struct unigdb_session *s, const char *arg, size_t len)
{
    const struct unigdb_thread *th = thread_current(s);
    struct unigdb_regset set;
    uint32_t vcpu;
    int err;

    err = writable_vcpu(s, th, &vcpu);
    if (!err)
        err = thread_regs(s, th, &set);
    if (!err)
        err = unigdb_regs_decode(&set, arg, len);
    if (!err)
        err = commit_regs(s, vcpu, &set);
    return err ? reply_errno(s, err) : reply_str(s, "OK");
}

int h_read_reg(struct unigdb_session *s, const char *arg, size_t len)
{
    struct unigdb_regset set;
    uint64_t regno;
    int err;

    if (unigdb_parse_hex(arg, len, &regno) || regno >= UNIGDB_NREGS)
        return reply_errno(s, -EINVAL);
    err = thread_regs(s, thread_current(s), &set);
    if (err)
        return reply_errno(s, err);
    s->reply.len = 0;
    if (unigdb_reg_encode(&set, (unsigned)regno, &s->reply))
        return reply_errno(s, -ENOMEM);
    return REPLY;
}

int h_write_reg(struct unigdb_session *s, const char *arg, size_t len)
{
    const struct unigdb_thread *th = thread_current(s);
    const char *eq = memchr(arg, '=', len);
    struct unigdb_regset set;
    uint64_t regno;
    uint32_t vcpu;
    int err;

    if (!eq || unigdb_parse_hex(arg, (size_t)(eq - arg), &regno) ||
        regno >= UNIGDB_NREGS)
        return reply_errno(s, -EINVAL);
    err = writable_vcpu(s, th, &vcpu);
    if (!err)
        err = thread_regs(s, th, &set);
    if (!err)
        err = unigdb_reg_decode(&set, (unsigned)regno, eq + 1,
                                len - (size_t)(eq - arg) - 1);
    if (!err)
        err = commit_regs(s, vcpu, &set);
    return err ? reply_errno(s, err) : reply_str(s, "OK");
}

/* ---- memory -------------------------------------------------------------- */

static uint32_t mem_vcpu(const struct unigdb_session *s)
{
    return thread_current(s)->vcpu;
}

/* "ADDR,LEN" alone (m, x) into (*addr), (*n). */
static int parse_read(const char *arg, size_t len, uint64_t *addr, uint64_t *n)
{
    size_t used;

    if (unigdb_parse_addr_len(arg, len, addr, n, &used) || used != len)
        return -EINVAL;
    return 0;
}

int h_read_mem(struct unigdb_session *s, const char *arg, size_t len)
{
    uint64_t addr, n;
    size_t done;
    int err;

    if (parse_read(arg, len, &addr, &n))
        return reply_errno(s, -EINVAL);
    /* a shorter reply is allowed: gdb asks again for the rest */
    if (n > MEM_MAX_HEX)
        n = MEM_MAX_HEX;
    err = mem_read(s, mem_vcpu(s), addr, s->scratch, (size_t)n, &done);
    if (err)
        return reply_errno(s, err);
    if (emit_hex_packet(s, s->scratch, done))
        return reply_errno(s, -ENOMEM);
    return NO_REPLY;
}

int h_read_mem_binary(struct unigdb_session *s, const char *arg, size_t len)
{
    uint64_t addr, n;
    size_t done;
    int err;

    /* gdb's 'x' answers "b" + data; other clients mean other things */
    if (!s->binary_upload)
        return reply_str(s, "");
    if (parse_read(arg, len, &addr, &n))
        return reply_errno(s, -EINVAL);
    if (n > MEM_MAX_BINARY)
        n = MEM_MAX_BINARY;
    err = mem_read(s, mem_vcpu(s), addr, s->scratch, (size_t)n, &done);
    if (err)
        return reply_errno(s, err);
    s->reply.len = 0;
    if (unigdb_buf_put(&s->reply, "b", 1) ||
        unigdb_buf_put(&s->reply, s->scratch, done))
        return reply_errno(s, -ENOMEM);
    return REPLY;
}

/* "ADDR,LEN:" then the data (M, X): where the data starts, in (*data). */
static int parse_write(const char *arg, size_t len, uint64_t *addr, uint64_t *n,
                       size_t *data)
{
    size_t used;

    if (unigdb_parse_addr_len(arg, len, addr, n, &used) || used == len ||
        arg[used] != ':')
        return -EINVAL;
    *data = used + 1;
    return 0;
}

int h_write_mem(struct unigdb_session *s, const char *arg, size_t len)
{
    uint64_t addr, n;
    size_t at;
    int err;

    if (parse_write(arg, len, &addr, &n, &at) || len - at != 2 * n ||
        n > UNIGDB_PACKET_MAX / 2 ||
        unigdb_hex_decode(arg + at, len - at, s->scratch) != (int)n)
        return reply_errno(s, -EINVAL);
    err = mem_write(s, mem_vcpu(s), addr, s->scratch, (size_t)n);
    return err ? reply_errno(s, err) : reply_str(s, "OK");
}

int h_write_mem_binary(struct unigdb_session *s, const char *arg, size_t len)
{
    uint64_t addr, n;
    size_t at;
    int err;

    if (parse_write(arg, len, &addr, &n, &at) || len - at != n)
        return reply_errno(s, -EINVAL);
    /* "X addr,0:" is gdb asking whether we take binary writes */
    if (n == 0)
        return reply_str(s, "OK");
    err = mem_write(s, mem_vcpu(s), addr, arg + at, (size_t)n);
    return err ? reply_errno(s, err) : reply_str(s, "OK");
}
