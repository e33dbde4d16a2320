/* A scripted guest in a buffer, for unigdb's unit tests and fuzzer. */
#ifndef UNIGDB_FAKE_TARGET_H
#define UNIGDB_FAKE_TARGET_H

#include <stddef.h>
#include <stdint.h>
#include <uniscope/abi.h>

#include "target.h"

/*
 * RAM is identity-mapped (paging off: CR0.PE, no CR0.PG), FAKE_RAM_SIZE
 * bytes. With (agent) set it holds an agent control block at FAKE_CB with
 * FAKE_NTHREADS threads (ids 1..3: "idle-loop" running on vCPU 0, "worker"
 * blocked, "sleeper" runnable), metrics, a log and, with (panicked), a
 * panic record of thread 1 (a page fault), or with (panicked) ==
 * FAKE_PANIC_NO_FRAME a software panic of thread 1 on the last vCPU
 * recorded without a frame (usca_panic(reason, NULL)).
 *
 * Run control: a continue stops at the first breakpoint planted (rip
 * moves there) or watchpoint, else runs until paused; a step stops at
 * once with rip + 1. (read_only) gives a target like a core file;
 * FAKE_NO_REGS one without registers either (a VMM process read without
 * its gdb stub).
 */
#define FAKE_RAM_SIZE (64 * 1024)
#define FAKE_CB 0x2000
#define FAKE_THREADS (FAKE_CB + 0x1000) /* its struct usc_thread table */
#define FAKE_NTHREADS 3
#define FAKE_MAX_VCPUS 4
#define FAKE_MAX_BREAKS 32
#define FAKE_PANIC_NO_FRAME 2
#define FAKE_NO_REGS 2 /* (read_only): no get_regs */

struct unigdb_fake {
    unsigned char *ram;
    uint32_t nvcpus;
    int read_only;
    struct usc_regs regs[FAKE_MAX_VCPUS];
    int running, stepping;
    uint32_t step_vcpu;
    int stop_pending; /* a pause was asked for */
    int fail;         /* every control operation fails with -EIO */
    /* A state the guest stopped in by itself, that QEMU holds (shutdown,
     * guest-panicked, internal-error), or dead; 0: none. A continue then
     * ends at once in it, and resuming fails as QMP's cont does. */
    enum usc_vm_state held;
    struct {
        enum usc_break_type type;
        uint64_t addr, len;
    } breaks[FAKE_MAX_BREAKS];
    size_t nbreaks;
    /* what the tests count */
    unsigned resumes, steps, pauses, set_regs, writes;
};

/*
 * Make a fake guest of (nvcpus) vCPUs (1..FAKE_MAX_VCPUS) with an agent
 * when (agent), its panic record when (panicked), read-only when
 * (read_only). Stores the target in (*t) (closed with usc_target_close,
 * which frees the fake) and the fake, for scripting, in (*fake). Returns
 * 0, -EINVAL or -ENOMEM.
 */
int unigdb_fake_open(uint32_t nvcpus, int agent, int panicked, int read_only,
                     struct usc_target **t, struct unigdb_fake **fake);

#endif /* UNIGDB_FAKE_TARGET_H */
