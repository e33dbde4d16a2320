/* A unikernel's own crash report, read from its console output. */
#ifndef USC_CRASHLOG_H
#define USC_CRASHLOG_H

#include <stddef.h>
#include <stdint.h>
#include <uniscope/abi.h>

/*
 * Unikernels without an agent still say why they die, on their console;
 * this reads what they say (facts of their output, docs/unicore.md):
 *
 *   Solo5:    "Solo5: trap: type=#PF ec=0x2 rip=0x105fe2 rsp=0x3fdffa0
 *              rflags=0x206", "Solo5: trap: cr2=0x400000000",
 *             "Solo5: ABORT: cpu_x86_64.c:182: Fatal trap",
 *             "Solo5: solo5_abort() called", "Solo5: solo5_exit(N) called"
 *   Unikraft: lines "[time] CRIT: [lib] <file @ line> message" (each part
 *             but the message optional, ANSI colours stripped):
 *             "Unhandled Trap N (name), error code=0xEC", "Cannot handle
 *             write page fault at 0xADDR", the register dump "RIP: X CS: X",
 *             "RSP: X SS: X EFLAGS: X", "RAX: X RBX: X RCX: X" ... "R15: X",
 *             its frame-pointer walk "base is 0xB caller is 0xC",
 *             "Assertion failure: expr", and the crash message
 *             ("Crashing") with the file and line it was raised at.
 *
 * Console text is untrusted: a line that looks like a crash report but
 * does not parse is counted in (garbled), never believed; numbers that
 * overflow, fields cut short and absurd values are such lines.
 */

enum usc_crash_kind {
    USC_CRASH_NONE,
    USC_CRASH_SOLO5,
    USC_CRASH_UNIKRAFT,
};

/* usc_crashlog.have: the fields the report gave. */
enum usc_crash_have {
    USC_CRASH_HAVE_TRAP = 1u << 0,   /* trap (a name), vector when known */
    USC_CRASH_HAVE_EC = 1u << 1,     /* error_code */
    USC_CRASH_HAVE_RIP = 1u << 2,    /* regs.rip */
    USC_CRASH_HAVE_RSP = 1u << 3,    /* regs.rsp */
    USC_CRASH_HAVE_RFLAGS = 1u << 4, /* regs.rflags */
    USC_CRASH_HAVE_CR2 = 1u << 5,    /* cr2 */
    USC_CRASH_HAVE_GPRS = 1u << 6,   /* every general register of regs */
    USC_CRASH_HAVE_WHERE = 1u << 7,  /* file, line the crash was raised at */
    USC_CRASH_HAVE_ABORT = 1u << 8,  /* it aborted (no trap needed) */
    USC_CRASH_HAVE_EXIT = 1u << 9,   /* it exited, exit_status */
    USC_CRASH_HAVE_SEGS = 1u << 10,  /* regs.cs, regs.ss */
};

#define USC_CRASH_TRAP_MAX 24
#define USC_CRASH_FILE_MAX 64
#define USC_CRASH_MESSAGE_MAX 160
#define USC_CRASH_CALLERS_MAX 16

struct usc_crashlog {
    enum usc_crash_kind kind;
    uint32_t have;                 /* enum usc_crash_have */
    char trap[USC_CRASH_TRAP_MAX]; /* "#PF", "page fault", "invalid opcode" */
    int vector;                    /* 0..31, or -1 when not told */
    uint64_t error_code, cr2;      /* as told */
    struct usc_regs regs;          /* as told: rip, rsp, rflags, ... */
    char file[USC_CRASH_FILE_MAX]; /* with HAVE_WHERE */
    int line;                      /* with HAVE_WHERE */
    char message[USC_CRASH_MESSAGE_MAX];     /* "Fatal trap", "Crashing", ... */
    int exit_status;                         /* with HAVE_EXIT */
    uint64_t callers[USC_CRASH_CALLERS_MAX]; /* Unikraft's own stack walk */
    unsigned ncallers;
    unsigned lines;   /* lines taken as the report */
    unsigned garbled; /* lines that looked like a report but did not parse */
    unsigned later_traps; /* traps after the first (a fault in the handler) */
    size_t start;         /* offset in the text of the report's first line */
};

/*
 * Read the crash report in the console text (text, len) (any bytes) into
 * (out). Only the first trap is taken as the cause; later lines add to it.
 * Returns 0 when the text holds a report (some line parsed, or some line
 * was garbled: out->garbled says), -ENOENT when it holds none, -EINVAL for
 * bad arguments.
 */
int usc_crashlog_parse(const char *text, size_t len, struct usc_crashlog *out);

/* The x86 vector of a Solo5 trap name ("#PF": 14), or -1. */
int usc_crashlog_vector(const char *trap);

#endif /* USC_CRASHLOG_H */
