/* unigdb's register layout: the target description and 'g'/'p' encoding. */
#include "regs.h"

#include <errno.h>
#include <string.h>

#define NONE (-1)
#define MEMBER(f) ((int)(offsetof(struct usc_regs, f) / 8))

enum feature { CORE, SSE, SEGMENTS, SYSTEM, NFEATURES };

static const char *const feature_names[NFEATURES] = {
    "org.gnu.gdb.i386.core",
    "org.gnu.gdb.i386.sse",
    "org.gnu.gdb.i386.segments",
    /* ours: gdb shows what it does not know as plain registers */
    "org.uniscope.x86.system",
};

static const struct reg {
    const char *name;
    unsigned bits;
    int member; /* index of the 64-bit member of struct usc_regs, or NONE */
    enum feature feature;
    const char *type;
    const char *group; /* NULL: gdb's default */
} regs[UNIGDB_NREGS] = {
    {"rax", 64, MEMBER(rax), CORE, "int64", NULL},
    {"rbx", 64, MEMBER(rbx), CORE, "int64", NULL},
    {"rcx", 64, MEMBER(rcx), CORE, "int64", NULL},
    {"rdx", 64, MEMBER(rdx), CORE, "int64", NULL},
    {"rsi", 64, MEMBER(rsi), CORE, "int64", NULL},
    {"rdi", 64, MEMBER(rdi), CORE, "int64", NULL},
    {"rbp", 64, MEMBER(rbp), CORE, "data_ptr", NULL},
    {"rsp", 64, MEMBER(rsp), CORE, "data_ptr", NULL},
    {"r8", 64, MEMBER(r8), CORE, "int64", NULL},
    {"r9", 64, MEMBER(r9), CORE, "int64", NULL},
    {"r10", 64, MEMBER(r10), CORE, "int64", NULL},
    {"r11", 64, MEMBER(r11), CORE, "int64", NULL},
    {"r12", 64, MEMBER(r12), CORE, "int64", NULL},
    {"r13", 64, MEMBER(r13), CORE, "int64", NULL},
    {"r14", 64, MEMBER(r14), CORE, "int64", NULL},
    {"r15", 64, MEMBER(r15), CORE, "int64", NULL},
    {"rip", 64, MEMBER(rip), CORE, "code_ptr", NULL},
    {"eflags", 32, MEMBER(rflags), CORE, "usc_eflags", NULL},
    {"cs", 32, MEMBER(cs), CORE, "int32", NULL},
    {"ss", 32, MEMBER(ss), CORE, "int32", NULL},
    {"ds", 32, MEMBER(ds), CORE, "int32", NULL},
    {"es", 32, MEMBER(es), CORE, "int32", NULL},
    {"fs", 32, MEMBER(fs), CORE, "int32", NULL},
    {"gs", 32, MEMBER(gs), CORE, "int32", NULL},
    {"st0", 80, NONE, CORE, "i387_ext", NULL},
    {"st1", 80, NONE, CORE, "i387_ext", NULL},
    {"st2", 80, NONE, CORE, "i387_ext", NULL},
    {"st3", 80, NONE, CORE, "i387_ext", NULL},
    {"st4", 80, NONE, CORE, "i387_ext", NULL},
    {"st5", 80, NONE, CORE, "i387_ext", NULL},
    {"st6", 80, NONE, CORE, "i387_ext", NULL},
    {"st7", 80, NONE, CORE, "i387_ext", NULL},
    {"fctrl", 32, NONE, CORE, "int", "float"},
    {"fstat", 32, NONE, CORE, "int", "float"},
    {"ftag", 32, NONE, CORE, "int", "float"},
    {"fiseg", 32, NONE, CORE, "int", "float"},
    {"fioff", 32, NONE, CORE, "int", "float"},
    {"foseg", 32, NONE, CORE, "int", "float"},
    {"fooff", 32, NONE, CORE, "int", "float"},
    {"fop", 32, NONE, CORE, "int", "float"},
    {"xmm0", 128, NONE, SSE, "usc_vec128", NULL},
    {"xmm1", 128, NONE, SSE, "usc_vec128", NULL},
    {"xmm2", 128, NONE, SSE, "usc_vec128", NULL},
    {"xmm3", 128, NONE, SSE, "usc_vec128", NULL},
    {"xmm4", 128, NONE, SSE, "usc_vec128", NULL},
    {"xmm5", 128, NONE, SSE, "usc_vec128", NULL},
    {"xmm6", 128, NONE, SSE, "usc_vec128", NULL},
    {"xmm7", 128, NONE, SSE, "usc_vec128", NULL},
    {"xmm8", 128, NONE, SSE, "usc_vec128", NULL},
    {"xmm9", 128, NONE, SSE, "usc_vec128", NULL},
    {"xmm10", 128, NONE, SSE, "usc_vec128", NULL},
    {"xmm11", 128, NONE, SSE, "usc_vec128", NULL},
    {"xmm12", 128, NONE, SSE, "usc_vec128", NULL},
    {"xmm13", 128, NONE, SSE, "usc_vec128", NULL},
    {"xmm14", 128, NONE, SSE, "usc_vec128", NULL},
    {"xmm15", 128, NONE, SSE, "usc_vec128", NULL},
    {"mxcsr", 32, NONE, SSE, "usc_mxcsr", "vector"},
    {"fs_base", 64, MEMBER(fs_base), SEGMENTS, "int", NULL},
    {"gs_base", 64, MEMBER(gs_base), SEGMENTS, "int", NULL},
    {"k_gs_base", 64, MEMBER(k_gs_base), SYSTEM, "int64", "system"},
    {"cr0", 64, MEMBER(cr0), SYSTEM, "usc_cr0", "system"},
    {"cr2", 64, MEMBER(cr2), SYSTEM, "int64", "system"},
    {"cr3", 64, MEMBER(cr3), SYSTEM, "usc_cr3", "system"},
    {"cr4", 64, MEMBER(cr4), SYSTEM, "usc_cr4", "system"},
    {"cr8", 64, MEMBER(cr8), SYSTEM, "int64", "system"},
    {"efer", 64, MEMBER(efer), SYSTEM, "usc_efer", "system"},
};

/* Types each feature defines before its registers use them. */
static const char *const feature_types[NFEATURES] = {
    [CORE] = "<flags id=\"usc_eflags\" size=\"4\">"
             "<field name=\"CF\" start=\"0\" end=\"0\"/>"
             "<field name=\"\" start=\"1\" end=\"1\"/>"
             "<field name=\"PF\" start=\"2\" end=\"2\"/>"
             "<field name=\"AF\" start=\"4\" end=\"4\"/>"
             "<field name=\"ZF\" start=\"6\" end=\"6\"/>"
             "<field name=\"SF\" start=\"7\" end=\"7\"/>"
             "<field name=\"TF\" start=\"8\" end=\"8\"/>"
             "<field name=\"IF\" start=\"9\" end=\"9\"/>"
             "<field name=\"DF\" start=\"10\" end=\"10\"/>"
             "<field name=\"OF\" start=\"11\" end=\"11\"/>"
             "<field name=\"NT\" start=\"14\" end=\"14\"/>"
             "<field name=\"RF\" start=\"16\" end=\"16\"/>"
             "<field name=\"VM\" start=\"17\" end=\"17\"/>"
             "<field name=\"AC\" start=\"18\" end=\"18\"/>"
             "<field name=\"VIF\" start=\"19\" end=\"19\"/>"
             "<field name=\"VIP\" start=\"20\" end=\"20\"/>"
             "<field name=\"ID\" start=\"21\" end=\"21\"/>"
             "</flags>\n",
    [SSE] = "<vector id=\"usc_v4f\" type=\"ieee_single\" count=\"4\"/>"
            "<vector id=\"usc_v2d\" type=\"ieee_double\" count=\"2\"/>"
            "<vector id=\"usc_v16i8\" type=\"int8\" count=\"16\"/>"
            "<vector id=\"usc_v8i16\" type=\"int16\" count=\"8\"/>"
            "<vector id=\"usc_v4i32\" type=\"int32\" count=\"4\"/>"
            "<vector id=\"usc_v2i64\" type=\"int64\" count=\"2\"/>"
            "<union id=\"usc_vec128\">"
            "<field name=\"v4_float\" type=\"usc_v4f\"/>"
            "<field name=\"v2_double\" type=\"usc_v2d\"/>"
            "<field name=\"v16_int8\" type=\"usc_v16i8\"/>"
            "<field name=\"v8_int16\" type=\"usc_v8i16\"/>"
            "<field name=\"v4_int32\" type=\"usc_v4i32\"/>"
            "<field name=\"v2_int64\" type=\"usc_v2i64\"/>"
            "<field name=\"uint128\" type=\"uint128\"/>"
            "</union>"
            "<flags id=\"usc_mxcsr\" size=\"4\">"
            "<field name=\"IE\" start=\"0\" end=\"0\"/>"
            "<field name=\"DE\" start=\"1\" end=\"1\"/>"
            "<field name=\"ZE\" start=\"2\" end=\"2\"/>"
            "<field name=\"OE\" start=\"3\" end=\"3\"/>"
            "<field name=\"UE\" start=\"4\" end=\"4\"/>"
            "<field name=\"PE\" start=\"5\" end=\"5\"/>"
            "<field name=\"DAZ\" start=\"6\" end=\"6\"/>"
            "<field name=\"IM\" start=\"7\" end=\"7\"/>"
            "<field name=\"DM\" start=\"8\" end=\"8\"/>"
            "<field name=\"ZM\" start=\"9\" end=\"9\"/>"
            "<field name=\"OM\" start=\"10\" end=\"10\"/>"
            "<field name=\"UM\" start=\"11\" end=\"11\"/>"
            "<field name=\"PM\" start=\"12\" end=\"12\"/>"
            "<field name=\"FZ\" start=\"15\" end=\"15\"/>"
            "</flags>\n",
    [SEGMENTS] = "",
    [SYSTEM] = "<flags id=\"usc_cr0\" size=\"8\">"
               "<field name=\"PE\" start=\"0\" end=\"0\"/>"
               "<field name=\"MP\" start=\"1\" end=\"1\"/>"
               "<field name=\"EM\" start=\"2\" end=\"2\"/>"
               "<field name=\"TS\" start=\"3\" end=\"3\"/>"
               "<field name=\"ET\" start=\"4\" end=\"4\"/>"
               "<field name=\"NE\" start=\"5\" end=\"5\"/>"
               "<field name=\"WP\" start=\"16\" end=\"16\"/>"
               "<field name=\"AM\" start=\"18\" end=\"18\"/>"
               "<field name=\"NW\" start=\"29\" end=\"29\"/>"
               "<field name=\"CD\" start=\"30\" end=\"30\"/>"
               "<field name=\"PG\" start=\"31\" end=\"31\"/>"
               "</flags>"
               "<flags id=\"usc_cr3\" size=\"8\">"
               "<field name=\"PCID\" start=\"0\" end=\"11\" type=\"uint64\"/>"
               "<field name=\"PDBR\" start=\"12\" end=\"63\" type=\"uint64\"/>"
               "</flags>"
               "<flags id=\"usc_cr4\" size=\"8\">"
               "<field name=\"VME\" start=\"0\" end=\"0\"/>"
               "<field name=\"PVI\" start=\"1\" end=\"1\"/>"
               "<field name=\"TSD\" start=\"2\" end=\"2\"/>"
               "<field name=\"DE\" start=\"3\" end=\"3\"/>"
               "<field name=\"PSE\" start=\"4\" end=\"4\"/>"
               "<field name=\"PAE\" start=\"5\" end=\"5\"/>"
               "<field name=\"MCE\" start=\"6\" end=\"6\"/>"
               "<field name=\"PGE\" start=\"7\" end=\"7\"/>"
               "<field name=\"PCE\" start=\"8\" end=\"8\"/>"
               "<field name=\"OSFXSR\" start=\"9\" end=\"9\"/>"
               "<field name=\"OSXMMEXCPT\" start=\"10\" end=\"10\"/>"
               "<field name=\"UMIP\" start=\"11\" end=\"11\"/>"
               "<field name=\"LA57\" start=\"12\" end=\"12\"/>"
               "<field name=\"FSGSBASE\" start=\"16\" end=\"16\"/>"
               "<field name=\"PCIDE\" start=\"17\" end=\"17\"/>"
               "<field name=\"OSXSAVE\" start=\"18\" end=\"18\"/>"
               "<field name=\"SMEP\" start=\"20\" end=\"20\"/>"
               "<field name=\"SMAP\" start=\"21\" end=\"21\"/>"
               "<field name=\"PKE\" start=\"22\" end=\"22\"/>"
               "</flags>"
               "<flags id=\"usc_efer\" size=\"8\">"
               "<field name=\"SCE\" start=\"0\" end=\"0\"/>"
               "<field name=\"LME\" start=\"8\" end=\"8\"/>"
               "<field name=\"LMA\" start=\"10\" end=\"10\"/>"
               "<field name=\"NXE\" start=\"11\" end=\"11\"/>"
               "<field name=\"SVME\" start=\"12\" end=\"12\"/>"
               "<field name=\"FFXSR\" start=\"14\" end=\"14\"/>"
               "</flags>\n",
};

/* Built once, at the first need; reachable until exit. */
static struct unigdb_buf tdesc;

static int build_tdesc(void)
{
    int bad =
        unigdb_buf_puts(&tdesc, "<?xml version=\"1.0\"?>\n"
                                "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
                                "<target version=\"1.0\">\n"
                                "<architecture>i386:x86-64</architecture>\n");

    for (int f = 0; f < NFEATURES; f++) {
        bad |= unigdb_buf_printf(&tdesc, "<feature name=\"%s\">\n%s",
                                 feature_names[f], feature_types[f]);
        for (int i = 0; i < UNIGDB_NREGS; i++) {
            if (regs[i].feature != (enum feature)f)
                continue;
            bad |= unigdb_buf_printf(
                &tdesc,
                "<reg name=\"%s\" type=\"%s\" bitsize=\"%u\" "
                "regnum=\"%d\"%s%s%s/>\n",
                regs[i].name, regs[i].type, regs[i].bits, i,
                regs[i].group ? " group=\"" : "",
                regs[i].group ? regs[i].group : "", regs[i].group ? "\"" : "");
        }
        bad |= unigdb_buf_puts(&tdesc, "</feature>\n");
    }
    bad |= unigdb_buf_puts(&tdesc, "</target>\n");
    if (bad) {
        unigdb_buf_free(&tdesc);
        return -ENOMEM;
    }
    return 0;
}

const char *unigdb_tdesc_xml(size_t *len)
{
    if (!tdesc.len && build_tdesc()) {
        *len = 0;
        return "";
    }
    *len = tdesc.len;
    return tdesc.p;
}

void unigdb_regset_from_saved(struct unigdb_regset *set,
                              const struct usc_saved_regs *saved)
{
    memset(set, 0, sizeof(*set));
    set->r.rip = saved->rip;
    set->r.rsp = saved->rsp;
    set->r.rbp = saved->rbp;
    set->r.rbx = saved->rbx;
    set->r.r12 = saved->r12;
    set->r.r13 = saved->r13;
    set->r.r14 = saved->r14;
    set->r.r15 = saved->r15;
    set->known = 1ull << MEMBER(rip) | 1ull << MEMBER(rsp) |
                 1ull << MEMBER(rbp) | 1ull << MEMBER(rbx) |
                 1ull << MEMBER(r12) | 1ull << MEMBER(r13) |
                 1ull << MEMBER(r14) | 1ull << MEMBER(r15);
}

static uint64_t member(const struct usc_regs *r, int m)
{
    uint64_t v;

    memcpy(&v, (const char *)r + (size_t)m * 8, sizeof(v));
    return v;
}

static void set_member(struct usc_regs *r, int m, uint64_t v)
{
    memcpy((char *)r + (size_t)m * 8, &v, sizeof(v));
}

int unigdb_reg_encode(const struct unigdb_regset *set, unsigned regno,
                      struct unigdb_buf *out)
{
    const struct reg *g;
    unsigned char bytes[8];
    uint64_t v;
    size_t n;

    if (regno >= UNIGDB_NREGS)
        return -EINVAL;
    g = &regs[regno];
    n = g->bits / 8;
    if (g->member == NONE || !(set->known >> g->member & 1)) {
        if (unigdb_buf_reserve(out, 2 * n + 1))
            return -ENOMEM;
        memset(out->p + out->len, 'x', 2 * n);
        out->len += 2 * n;
        out->p[out->len] = '\0';
        return 0;
    }
    v = member(&set->r, g->member);
    for (size_t i = 0; i < n; i++, v >>= 8)
        bytes[i] = (unsigned char)v;
    return unigdb_buf_hex(out, bytes, n);
}

int unigdb_regs_encode(const struct unigdb_regset *set, struct unigdb_buf *out)
{
    for (unsigned i = 0; i < UNIGDB_NREGS; i++)
        if (unigdb_reg_encode(set, i, out))
            return -ENOMEM;
    return 0;
}

/* Little-endian value of the (n) bytes in (hex) into (*v). */
static int decode_value(const char *hex, size_t n, uint64_t *v)
{
    unsigned char bytes[8];

    if (unigdb_hex_decode(hex, 2 * n, bytes) != (int)n)
        return -EINVAL;
    *v = 0;
    for (size_t i = n; i-- > 0;)
        *v = *v << 8 | bytes[i];
    return 0;
}

int unigdb_reg_decode(struct unigdb_regset *set, unsigned regno,
                      const char *hex, size_t hexlen)
{
    const struct reg *g;
    uint64_t v;

    if (regno >= UNIGDB_NREGS)
        return -EINVAL;
    g = &regs[regno];
    if (hexlen != g->bits / 4)
        return -EINVAL;
    if (g->member == NONE)
        return -ENOTSUP;
    if (decode_value(hex, g->bits / 8, &v))
        return -EINVAL;
    set_member(&set->r, g->member, v);
    return 0;
}

int unigdb_regs_decode(struct unigdb_regset *set, const char *hex,
                       size_t hexlen)
{
    size_t at = 0;

    for (unsigned i = 0; i < UNIGDB_NREGS && at < hexlen; i++) {
        size_t n = regs[i].bits / 4;
        uint64_t v;

        if (n > hexlen - at)
            return -EINVAL;
        if (hex[at] != 'x' && regs[i].member != NONE) {
            if (decode_value(hex + at, n / 2, &v))
                return -EINVAL;
            set_member(&set->r, regs[i].member, v);
        }
        at += n;
    }
    return at == hexlen ? 0 : -EINVAL;
}
