/*
 * Fuzz target: what the Xen backend's debugger reads from a guest to plant
 * and recognise its stops. Input: 16 bytes of an IDT gate, then the bytes
 * at a stepped instruction's rip, then (if left) rflags values and a debug
 * register request. Built without the Xen libraries, it does nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "target.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

#ifdef USC_HAVE_XEN
/* xen_debug.c's pure helpers (lib/backend/xen.h needs the Xen headers). */
int usc_xen_gate_entry(const uint8_t g[16], uint64_t *entry);
int usc_xen_insn_kind(const uint8_t *b, size_t n, int long_mode);
uint64_t usc_xen_step_rflags(uint64_t now, uint64_t before, int kind);
uint64_t usc_xen_dr7_bits(unsigned slot, enum usc_break_type type,
                          uint64_t addr, uint64_t len);

#define RFLAGS_TF 0x100u
#define RFLAGS_IF 0x200u

static uint64_t load_u64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t entry = 0;

    if (size < 16)
        return 0;
    if (usc_xen_gate_entry(data, &entry) == 0)
        CHECK((data[5] & 0x80) && (data[5] & 0x0e) == 0x0e);
    data += 16;
    size -= 16;

    size_t code = size < 15 ? size : 15;
    int kind = usc_xen_insn_kind(data, code, 1);
    CHECK(kind >= 0 && kind <= 3);
    CHECK(usc_xen_insn_kind(data, code, 0) >= 0);
    data += code;
    size -= code;

    if (size >= 16) {
        uint64_t now = load_u64(data), before = load_u64(data + 8);
        uint64_t after = usc_xen_step_rflags(now, before, kind);
        /* our TF and IF never survive a step, unless the instruction's */
        if (!(before & RFLAGS_TF))
            CHECK(!(after & RFLAGS_TF) || kind == 2);
        if (kind == 0 || kind == 3)
            CHECK((after & RFLAGS_IF) == (before & RFLAGS_IF));
        data += 16;
        size -= 16;
    }
    if (size >= 18) {
        unsigned slot = data[0] & 3;
        enum usc_break_type type = (enum usc_break_type)(data[1] % 5);
        uint64_t addr = load_u64(data + 2), len = load_u64(data + 10);
        uint64_t dr7 = usc_xen_dr7_bits(slot, type, addr, len);
        /* only the slot's enable and condition bits */
        uint64_t mine = (3ull << (slot * 2)) | (0xfull << (16 + slot * 4));
        CHECK((dr7 & ~mine) == 0);
    }
    return 0;
}
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)data;
    (void)size;
    return 0;
}
#endif
