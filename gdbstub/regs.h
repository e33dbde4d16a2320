/* The registers unigdb shows gdb: an amd64 target description, 'g' order. */
#ifndef UNIGDB_REGS_H
#define UNIGDB_REGS_H

#include <stddef.h>
#include <stdint.h>
#include <uniscope/abi.h>

#include "packet.h"

/* Registers in the description; gdb numbers them 0 .. UNIGDB_NREGS - 1. */
#define UNIGDB_NREGS 66

/* Register numbers the stop replies send ahead. */
#define UNIGDB_REG_RBP 6
#define UNIGDB_REG_RSP 7
#define UNIGDB_REG_RIP 16

/*
 * A register set as one thread shows it: values of struct usc_regs, and
 * which of its 64-bit members are known (bit i: the i-th member). The
 * x87 and SSE registers are never known: no backend reads them.
 */
struct unigdb_regset {
    struct usc_regs r;
    uint64_t known;
};

/* Every member of struct usc_regs known: a vCPU's full set. */
#define UNIGDB_KNOWN_ALL ((1ull << (sizeof(struct usc_regs) / 8)) - 1)

/* Fill (set) from the callee-saved registers an agent thread left. */
void unigdb_regset_from_saved(struct unigdb_regset *set,
                              const struct usc_saved_regs *saved);

/* The XML target description ("target.xml"), (len) bytes, static. */
const char *unigdb_tdesc_xml(size_t *len);

/*
 * Append register (regno) of (set) to (out) as hex, little-endian, or as
 * 'x' digits when unknown ("unavailable" to gdb). Returns 0, -EINVAL for
 * a number outside the description, -ENOMEM.
 */
int unigdb_reg_encode(const struct unigdb_regset *set, unsigned regno,
                      struct unigdb_buf *out);

/* Append every register, the reply to 'g'. Returns 0 or -ENOMEM. */
int unigdb_regs_encode(const struct unigdb_regset *set, struct unigdb_buf *out);

/*
 * Store register (regno) from the (hexlen) hex digits at (hex) into
 * (set->r). Returns 0; -EINVAL for a bad number, length or digit;
 * -ENOTSUP for a register we cannot write (x87, SSE).
 */
int unigdb_reg_decode(struct unigdb_regset *set, unsigned regno,
                      const char *hex, size_t hexlen);

/*
 * Store a 'G' payload of (hexlen) digits at (hex) into (set->r): every
 * register it covers that we can write; unknown ones ('x') are skipped.
 * Returns 0 or -EINVAL for bad digits or a payload longer than 'g'.
 */
int unigdb_regs_decode(struct unigdb_regset *set, const char *hex,
                       size_t hexlen);

#endif /* UNIGDB_REGS_H */
