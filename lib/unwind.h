/* Unwinding a guest's stacks with elfutils' libdw, over any target. */
#ifndef USC_UNWIND_H
#define USC_UNWIND_H

#include <stddef.h>
#include <stdint.h>
#include <uniscope/abi.h>

#include "target.h"

/*
 * A Dwfl session whose one module is the guest's image (its CFI, symbols
 * and lines) and whose thread callbacks (elfutils' Dwfl_Thread_Callbacks)
 * read guest memory through the target facade, as a vCPU sees it: the
 * same unwinder serves a live guest, a uniscope core and QEMU's own
 * dumps. Guest memory is untrusted: an unwind stops at the first frame it
 * cannot read and never yields more frames than asked for.
 */
struct usc_unwind;

#define USC_FRAME_FUNC_MAX 96
#define USC_FRAME_FILE_MAX 160

/* Bits of usc_frame.known, and of the (known) of usc_unwind_partial: one
 * per member of struct usc_saved_regs. */
enum usc_frame_known {
    USC_FRAME_RIP = 1u << 0,
    USC_FRAME_RSP = 1u << 1,
    USC_FRAME_RBP = 1u << 2,
    USC_FRAME_RBX = 1u << 3,
    USC_FRAME_R12 = 1u << 4,
    USC_FRAME_R13 = 1u << 5,
    USC_FRAME_R14 = 1u << 6,
    USC_FRAME_R15 = 1u << 7,
    USC_FRAME_ALL = 0xffu,
};

/* One frame of a backtrace, symbolized. */
struct usc_frame {
    uint64_t pc;    /* where the frame is: the caller's return address */
    int activation; /* pc is the interrupted instruction itself (frame
                       0, or a frame an interrupt or fault stopped) */
    char function[USC_FRAME_FUNC_MAX]; /* "" when no symbol covers pc */
    uint64_t offset;                   /* pc - the function's start */
    char file[USC_FRAME_FILE_MAX];     /* source file, "" when unknown */
    int line;                          /* source line, 0 when unknown */
    /* The callee-saved registers, rsp and rip in this frame as the
     * unwinder recovered them (a trap entry's frame: their values at the
     * trap); (known) has a bit per member recovered. */
    struct usc_saved_regs regs;
    uint32_t known; /* enum usc_frame_known */
};

/*
 * Start unwinding guest (t) with the symbols and CFI of the ELF executable
 * at (image) (NULL: none, frames then carry addresses only and libdw
 * unwinds what it can without CFI). (t) is borrowed and must outlive the
 * session. Stores a new session in (*out), freed with usc_unwind_close.
 * Returns 0; -ENOEXEC when (image) is not an ELF file libdw takes; -ENOMEM;
 * -EIO for another libdw failure.
 */
int usc_unwind_open(struct usc_target *t, const char *image,
                    struct usc_unwind **out);

/* Free (u); NULL is a no-op. */
void usc_unwind_close(struct usc_unwind *u);

/*
 * Unwind from the full register set (regs), reading memory as (vcpu) sees
 * it, into at most (cap) frames of (frames); their number goes to (*n).
 * Frame 0 is (regs)'s rip. Returns 0 (also when the stack ends early or
 * (cap) cuts it: *n tells), or -EINVAL for bad arguments.
 */
int usc_unwind_regs(struct usc_unwind *u, uint32_t vcpu,
                    const struct usc_regs *regs, struct usc_frame *frames,
                    size_t cap, size_t *n);

/*
 * As usc_unwind_regs from a switched-out thread's callee-saved registers
 * (saved), as the agent records them; the other registers are unknown.
 */
int usc_unwind_saved(struct usc_unwind *u, uint32_t vcpu,
                     const struct usc_saved_regs *saved,
                     struct usc_frame *frames, size_t cap, size_t *n);

/*
 * As usc_unwind_saved from the members of (regs) whose bits are set in
 * (known) (enum usc_frame_known; rip and rsp are needed), the others
 * unknown: registers found on a stack, such as a trap frame's.
 */
int usc_unwind_partial(struct usc_unwind *u, uint32_t vcpu,
                       const struct usc_saved_regs *regs, uint32_t known,
                       struct usc_frame *frames, size_t cap, size_t *n);

/*
 * Symbolize the address (pc) into (out): function, offset, file and line.
 * (activation) 0 takes pc as a return address (looked up at pc - 1).
 * Returns 0 when some symbol covers pc, else -ENOENT (out->pc and
 * out->activation are still set).
 */
int usc_unwind_symbolize(struct usc_unwind *u, uint64_t pc, int activation,
                         struct usc_frame *out);

/*
 * The data symbol covering (addr), into (name) of (cap) bytes, and the
 * offset of addr in it into (*offset) (may be NULL). Returns 0 or -ENOENT.
 */
int usc_unwind_data_symbol(struct usc_unwind *u, uint64_t addr, char *name,
                           size_t cap, uint64_t *offset);

/*
 * The C type of the global variable whose symbol covers (addr), from the
 * image's DWARF, as text ("struct demo_lock", "volatile uint64_t") into
 * (type) of (cap) bytes. Returns 0, or -ENOENT when no symbol or no
 * debugging information describes it.
 */
int usc_unwind_data_type(struct usc_unwind *u, uint64_t addr, char *type,
                         size_t cap);

#endif /* USC_UNWIND_H */
