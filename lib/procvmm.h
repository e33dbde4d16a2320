/* VMM processes on this host: which they are, whose, and their vCPU threads. */
#ifndef USC_PROCVMM_H
#define USC_PROCVMM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The VMMs recognised by their process names (docs/proc.md). */
enum usc_vmm_kind {
    USC_VMM_NONE = 0,
    USC_VMM_QEMU,        /* qemu-system-*, qemu-kvm */
    USC_VMM_FIRECRACKER, /* firecracker */
    USC_VMM_CLOUD_HV,    /* cloud-hypervisor */
    USC_VMM_HVT,         /* solo5-hvt and other *-hvt tenders */
    USC_VMM_UHYVE,       /* uhyve */
    USC_VMM_LKVM,        /* kvmtool's lkvm */
};

/* "qemu", "firecracker", "cloud-hv", "solo5-hvt", "uhyve", "lkvm"; "" for
 * none. At most 15 characters: it fits usc_target_info.hypervisor. */
const char *usc_vmm_name(enum usc_vmm_kind kind);

/*
 * The VMM a process is by its name: (comm), the kernel's 15-character
 * name, and (argv0), its first argument (may be NULL or ""), whose last
 * path component counts when comm may have been cut short.
 */
enum usc_vmm_kind usc_vmm_kind_of(const char *comm, const char *argv0);

/* What a look at one process found. */
struct usc_vmm_proc {
    int pid;
    enum usc_vmm_kind kind; /* USC_VMM_NONE: not a VMM */
    uid_t uid;              /* its owner (the /proc entry's) */
    int readable;           /* we may read its memory (ptrace rights) */
    int ours;               /* a QEMU unirun started in our run directory */
    uint64_t start_ticks;   /* start time, clock ticks after boot */
    char comm[16];
};

/*
 * Look at process (pid): its name, and when it is a VMM its owner, start
 * time, whether we may read its memory and whether it is one of unirun's
 * in our run directory (its command line names a path in it). Returns 0
 * (kind USC_VMM_NONE for other processes); -ESRCH when it is gone.
 */
int usc_vmm_probe(int pid, struct usc_vmm_proc *out);

/*
 * Whether tools that list guests (unitop, unirun --list) look for the
 * host's VMM processes: 1 unless $UNISCOPE_VMM_SCAN is "0" (the tests of
 * the run directory's own guests set it, to see only theirs).
 */
int usc_vmm_scan_enabled(void);

/*
 * Every VMM process on the host, in pid order: a new array of (*n) in
 * (*out), freed by the caller with free(). Returns 0 or -ENOMEM, or
 * -errno when /proc cannot be read.
 */
int usc_vmm_list(struct usc_vmm_proc **out, size_t *n);

/*
 * The command line of (pid), its arguments separated by NULs, into (buf)
 * of (cap) bytes (cut short if longer), its length in (*len). Returns 0
 * or -ESRCH.
 */
int usc_proc_cmdline(int pid, char *buf, size_t cap, size_t *len);

/* The most vCPU threads usc_vmm_vcpu_threads finds. */
#define USC_VMM_MAX_VCPUS 256

/*
 * The host threads running vCPUs of VMM (pid) of (kind), found by the
 * names the VMM gives them (QEMU with debug-threads=on: "CPU N/KVM";
 * Firecracker: "fc_vcpu N"; Cloud Hypervisor: "vcpuN"; lkvm:
 * "kvm-vcpu-N"), vCPU N into (tids)[N], at most (cap); their number (the
 * highest N + 1, gaps -1) in (*n). None found: (*n) is 0. Returns 0 or
 * -ESRCH.
 */
int usc_vmm_vcpu_threads(int pid, enum usc_vmm_kind kind, int64_t *tids,
                         size_t cap, size_t *n);

/*
 * utime + stime in nanoseconds from (len) bytes of a /proc stat line at
 * (buf) into (*ns); the start time (field 22, clock ticks) into (*start)
 * (may be NULL), and the state letter (field 3) into (*state) (may be
 * NULL). The command name may hold spaces and parentheses: fields count
 * from its last ')'. Returns 0 or -EPROTO.
 */
int usc_proc_parse_stat(const char *buf, size_t len, uint64_t *ns,
                        uint64_t *start, char *state);

/*
 * Read /proc/(pid)/stat, or /proc/(pid)/task/(tid)/stat when (tid) > 0,
 * into what usc_proc_parse_stat gives (start and state may be NULL).
 * Returns 0; -ESRCH when it is gone; -EPROTO.
 */
int usc_proc_read_stat(int pid, int64_t tid, uint64_t *ns, uint64_t *start,
                       char *state);

/*
 * When a process started (start_ticks, clock ticks after boot, as
 * usc_vmm_probe gives it), in epoch seconds; -1 when the host's boot time
 * cannot be read.
 */
int64_t usc_proc_start_epoch(uint64_t start_ticks);

/*
 * One line, for a tool's error, saying what reading process (pid)'s
 * memory needs when it was refused: who owns it, CAP_SYS_PTRACE, and
 * /proc/sys/kernel/yama/ptrace_scope when it is set. Into (buf) of (cap).
 */
void usc_proc_perm_hint(int pid, char *buf, size_t cap);

/*
 * The one line a tool prints when opening TARGET (text) failed with (err),
 * if (text) is a pid: target: what went wrong and what to do (ptrace
 * rights; a process that is no VMM; no agent, so guest RAM unknown; only
 * a stale control block; a ram= range the process does not map), into
 * (buf) of (cap). Returns (buf), or NULL for other targets and errors
 * (the tool's own words apply).
 */
const char *usc_proc_open_error(const char *text, int err, char *buf,
                                size_t cap);

#endif /* USC_PROCVMM_H */
