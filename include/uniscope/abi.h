/* uniscope guest<->host memory ABI: the only thing the agent and the host
 * share. */
#ifndef UNISCOPE_ABI_H
#define UNISCOPE_ABI_H

/*
 * Everything here lives in guest memory. The guest agent writes it; host
 * tools read it (through the hypervisor, a RAM file or a core file) and must
 * treat every field as untrusted. All integers are little-endian x86-64,
 * fixed-width, naturally aligned, with explicit padding. docs/abi.md
 * documents the layout field by field.
 *
 * Layout: one page-aligned control block (exactly one page) whose header
 * names each table by guest-physical and guest-virtual address. The header
 * is written once by the agent's init and is covered by a checksum; the
 * live part after it changes while the guest runs.
 */

#include <stddef.h>
#include <stdint.h>

#define USC_ABI_MAGIC 0x45504f4353494e55ull /* "UNISCOPE" in memory order */
#define USC_ABI_VERSION 1u
#define USC_ABI_PAGE_SIZE 4096u

#define USC_GUEST_NAME_MAX 64 /* bytes, including the terminating NUL */
#define USC_BUILD_ID_MAX 32
#define USC_NAME_MAX 32 /* metric and thread names, including NUL */
#define USC_UNIT_MAX 16
#define USC_REASON_MAX 128
#define USC_TP_NAME_MAX 48
#define USC_TP_FIELD_NAME_MAX 16
#define USC_TP_FIELDS_MAX 6

/* Run state of the guest (usc_control_block.state). */
enum usc_run_state {
    USC_STATE_BOOTING = 0, /* control block not yet fully live */
    USC_STATE_RUNNING = 1,
    USC_STATE_PANICKED = 2, /* the panic record is valid */
    USC_STATE_HALTED = 3,   /* orderly shutdown */
};

/* A table in guest memory, given by both addresses. */
struct usc_ref {
    uint64_t paddr; /* guest-physical address of the first byte */
    uint64_t vaddr; /* guest-virtual address, as the image's symbols use */
};

/* Descriptor of a table of fixed-size entries (or of a byte ring). */
struct usc_table {
    struct usc_ref at;
    uint32_t entry_size; /* bytes per entry; 1 for a byte ring */
    uint32_t capacity;   /* entries (bytes for a byte ring); 0 = absent */
};

/* ---- metrics ---------------------------------------------------------- */

enum usc_metric_kind {
    USC_METRIC_COUNTER = 1, /* monotonic, unsigned */
    USC_METRIC_GAUGE = 2,   /* current value, signed (two's complement) */
};

/*
 * One named metric. name, unit and kind are written before the slot is
 * published (usc_control_block.metrics_count raised past it) and never
 * change after; value is updated with single 64-bit stores.
 */
struct usc_metric {
    uint64_t value;
    uint32_t kind; /* enum usc_metric_kind */
    uint32_t flags;
    char name[USC_NAME_MAX]; /* NUL-terminated */
    char unit[USC_UNIT_MAX]; /* NUL-terminated; "" when unitless */
};

/* ---- threads ---------------------------------------------------------- */

enum usc_thread_state {
    USC_THREAD_FREE = 0, /* slot unused */
    USC_THREAD_RUNNABLE = 1,
    USC_THREAD_RUNNING = 2,
    USC_THREAD_BLOCKED = 3, /* waiting; wait_obj says on what, if known */
    USC_THREAD_EXITED = 4,
};

/*
 * usc_thread.flags: a RUNNING thread busy-waits (spins) on the lock at
 * wait_obj, rather than blocking: its vCPU stays busy.
 */
#define USC_THREAD_SPINNING 0x1u

/* Callee-saved state of a thread that is not running (System V x86-64). */
struct usc_saved_regs {
    uint64_t rip, rsp, rbp, rbx, r12, r13, r14, r15;
};

/*
 * One thread slot. Written under its own sequence counter: seq is odd
 * while the guest writes the slot, and bumped again (even) when done. A
 * host copy is consistent when seq was even and unchanged across the copy.
 */
struct usc_thread {
    uint64_t seq;
    uint32_t id;             /* the unikernel's thread id */
    uint32_t state;          /* enum usc_thread_state */
    uint32_t vcpu;           /* vCPU it runs on, or last ran on */
    uint32_t flags;          /* USC_THREAD_SPINNING */
    uint64_t cpu_time;       /* timestamp ticks run, up to last_switch_ts */
    uint64_t switches;       /* times switched in */
    uint64_t last_switch_ts; /* timestamp it was last switched in */
    uint64_t wait_obj;       /* guest-virtual address waited (or spun) on */
    uint64_t reserved;
    char name[USC_NAME_MAX];    /* NUL-terminated */
    struct usc_saved_regs regs; /* valid when state != RUNNING */
};

/* ---- tracing: tracepoint table, per-vCPU rings of packets ------------- */

/*
 * docs/tracing.md explains the design; docs/abi.md the fields. In short:
 * each vCPU writes its own ring of fixed-size packets; a packet is a
 * struct usc_trace_packet followed by event records, each a struct
 * usc_trace_event_header and a payload laid out as its tracepoint's table
 * entry says. Event records start 8-byte aligned and are a multiple of 8
 * bytes long, so packet bytes can be copied verbatim into a CTF 1.8
 * stream whose packet header and context take the same 88 bytes.
 */

#define USC_TP_STRING_MAX 64 /* bytes of a string field, NUL included */
#define USC_TP_NO_PAIR 0xffffffffu
#define USC_TRACE_EVENT_MAX 512       /* bytes of the largest event record */
#define USC_TRACE_PACKET_MIN 1024u    /* smallest packet_size */
#define USC_TRACE_PACKET_MAX 65536u   /* largest packet_size */
#define USC_TRACE_SEQ_BUSY UINT64_MAX /* a packet being recycled */

enum usc_field_type {
    USC_FIELD_UNSIGNED = 1,
    USC_FIELD_SIGNED = 2,
    USC_FIELD_POINTER = 3,
    USC_FIELD_STRING = 4, /* fixed-size, NUL-padded, NUL-terminated */
};

/* What an event of a tracepoint marks. */
enum usc_tp_kind {
    USC_TP_INSTANT = 0,
    USC_TP_BEGIN = 1, /* opens a span, closed by the END naming it */
    USC_TP_END = 2,   /* closes the span its pair (a BEGIN) opened */
};

/*
 * One payload field. Fields are laid out in order, each at the next
 * offset aligned to its size (strings: to 1), starting right after the
 * 16-byte event header: the natural layout a CTF reader computes.
 */
struct usc_tp_field {
    char name[USC_TP_FIELD_NAME_MAX]; /* NUL-terminated C identifier */
    uint8_t type;                     /* enum usc_field_type */
    uint8_t size;    /* bytes: 1, 2, 4 or 8 (pointer: 8); string 2..64 */
    uint16_t offset; /* byte offset from the start of the event record */
    uint32_t reserved;
};

/*
 * One tracepoint, published by raising usc_control_block.tracepoints_count
 * past it; it never changes after. Its enabled flag lives where the
 * unikernel's code tests it (enabled_at, a uint32_t, non-zero: record);
 * the host writes that word to turn the tracepoint on or off.
 */
struct usc_tracepoint {
    uint32_t id;         /* its index in the table: the id in its events */
    uint16_t kind;       /* enum usc_tp_kind */
    uint16_t nfields;    /* <= USC_TP_FIELDS_MAX */
    uint16_t event_size; /* bytes of its event record, a multiple of 8 */
    uint16_t reserved0;
    uint32_t pair; /* END: id of its BEGIN; else USC_TP_NO_PAIR */
    struct usc_ref enabled_at;
    char name[USC_TP_NAME_MAX]; /* NUL-terminated */
    struct usc_tp_field fields[USC_TP_FIELDS_MAX];
};

enum usc_trace_mode {
    USC_TRACE_OVERWRITE = 0, /* flight recorder */
    USC_TRACE_STREAM = 1,    /* host consumes; full ring drops new events */
};

/*
 * The start of every packet in a ring (88 bytes, the size of the CTF
 * packet header and context the host writes in its place). Packet number
 * n (since boot) lives in slot n % npackets.
 */
struct usc_trace_packet {
    uint64_t seq;          /* n, or USC_TRACE_SEQ_BUSY while recycled */
    uint64_t ts_begin;     /* timestamp when opened (<= its events') */
    uint64_t ts_end;       /* timestamp when closed; 0 while open */
    uint64_t lost;         /* the ring's lost count when opened */
    uint32_t content_size; /* bytes used, header included; 0 while open */
    uint32_t commit;       /* header + bytes of completely written events */
    uint64_t reserved[6];
};

/* The start of every event record. */
struct usc_trace_event_header {
    uint64_t timestamp; /* usca_port_timestamp(), when reserved */
    uint32_t id;        /* the tracepoint's */
    uint32_t thread;    /* the agent thread running on the vCPU, 0: none */
};

/*
 * Descriptor of one vCPU's trace ring: 64 bytes fixed at init and written
 * by that vCPU alone, then 64 bytes the host writes (stream mode), so that
 * the two never share a cache line. A vCPU without a buffer (npackets 0)
 * still counts what it could not record in lost.
 */
struct usc_trace_ring {
    struct usc_ref buf;   /* npackets * packet_size bytes */
    uint32_t packet_size; /* bytes, power of two, PACKET_MIN..PACKET_MAX */
    uint32_t npackets;    /* power of two; 0: this vCPU has no ring */
    uint32_t vcpu;
    uint32_t reserved0;
    uint64_t pos;     /* guest: bytes reserved since boot; the open packet is
                         number pos / packet_size */
    uint64_t lost;    /* guest: events dropped (stream mode, ring full) */
    uint64_t emitted; /* guest: events this vCPU recorded or dropped since
                         boot (USC_FEATURE_RING_EMITTED) */
    uint64_t reserved1;
    /* written by the host */
    uint32_t mode; /* enum usc_trace_mode */
    uint32_t reserved2;
    uint64_t tail;         /* stream: packets the host has consumed */
    uint64_t stream_until; /* stream mode lapses at this timestamp */
    uint64_t reserved3[5];
};

/* ---- vCPUs -------------------------------------------------------------- */

enum usc_vcpu_state {
    USC_VCPU_OFFLINE = 0,  /* not (yet) brought up */
    USC_VCPU_ONLINE = 1,   /* running: a thread, or idle */
    USC_VCPU_STOPPED = 2,  /* stopped for another vCPU's panic */
    USC_VCPU_PANICKED = 3, /* panicked itself (usc_panic.count counts it) */
};

/*
 * One vCPU as the agent sees it, under its own sequence counter (like a
 * thread slot). Entry v describes vCPU v; its figures are written on that
 * vCPU. busy_time counts the time the scheduler hooks said a thread ran
 * on it: busy since (since) as well while thread_id is not 0.
 */
struct usc_vcpu {
    uint64_t seq;
    uint32_t vcpu;         /* its index */
    uint32_t state;        /* enum usc_vcpu_state */
    uint32_t thread_id;    /* agent thread it runs, 0: none (idle) */
    uint32_t flags;        /* zero */
    uint64_t heartbeat_ts; /* timestamp of its last usca_tick() */
    uint64_t ticks;        /* usca_tick() calls on it */
    uint64_t busy_time;    /* ticks it ran threads, up to since */
    uint64_t since;        /* timestamp of its last switch (or of online) */
    uint64_t switches;     /* context switches on it */
};

/* ---- panic record ----------------------------------------------------- */

/* A full x86-64 register frame, in the order of gdb's amd64 target. */
struct usc_regs {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t rip, rflags;
    uint64_t cs, ss, ds, es, fs, gs;
    uint64_t fs_base, gs_base, k_gs_base;
    uint64_t cr0, cr2, cr3, cr4, cr8, efer;
    uint64_t reserved;
};

#define USC_PANIC_NO_VECTOR 0xffffffffffffffffull /* a software panic */

/*
 * Written once, when the guest panics, under seq like a thread slot; valid
 * is set last. The first panic wins: later ones are counted, not recorded.
 */
struct usc_panic {
    uint64_t seq;
    uint32_t valid;
    uint32_t vcpu;
    uint64_t timestamp;
    uint64_t vector; /* exception vector, or USC_PANIC_NO_VECTOR */
    uint64_t error_code;
    uint64_t cr2;
    uint32_t thread_id;          /* running agent thread, 0 if none */
    uint32_t count;              /* panics seen, including this one */
    char reason[USC_REASON_MAX]; /* NUL-terminated */
    struct usc_regs regs;
};

/* What the first panic did with the other vCPUs (usc_control_block). */
enum usc_panic_others {
    USC_PANIC_OTHERS_UNSAID = 0,  /* not said (an agent before this field) */
    USC_PANIC_OTHERS_RUNNING = 1, /* left running */
    USC_PANIC_OTHERS_STOPPED = 2, /* asked to stop (IPI): the vCPU table
                                     says which did (USC_VCPU_STOPPED) */
};

/* ---- the control block ------------------------------------------------ */

#define USC_CB_HEADER_SIZE 512u

/*
 * usc_control_block.features: fields added within ABI version 1 whose
 * zero would otherwise be ambiguous, set when the agent keeps them.
 */
#define USC_FEATURE_RING_EMITTED 0x1u /* usc_trace_ring.emitted */

/*
 * Page-aligned, exactly one page. The host finds it by scanning guest RAM
 * page by page for magic at offset 0, then checks abi_version, size,
 * header_size, checksum and that self_paddr is where it was found (a copy
 * elsewhere is stale).
 */
struct usc_control_block {
    /* header: written once at init, covered by checksum */
    uint64_t magic;
    uint32_t abi_version;
    uint32_t size;        /* sizeof(struct usc_control_block) */
    uint32_t header_size; /* USC_CB_HEADER_SIZE: bytes the checksum covers */
    uint32_t checksum;    /* usc_abi_checksum() of the header */
    uint64_t self_paddr;  /* guest-physical address of this block */
    uint64_t self_vaddr;
    uint64_t ts_hz;   /* timestamp ticks per second */
    uint64_t boot_ts; /* timestamp at agent init */
    uint32_t max_vcpus;
    uint32_t build_id_len;
    uint8_t build_id[USC_BUILD_ID_MAX];
    char name[USC_GUEST_NAME_MAX]; /* NUL-terminated */
    struct usc_table metrics;      /* struct usc_metric[] */
    struct usc_table threads;      /* struct usc_thread[] */
    struct usc_table tracepoints;  /* struct usc_tracepoint[] */
    struct usc_table trace_rings;  /* struct usc_trace_ring[], one per vCPU */
    struct usc_table log;          /* byte ring, capacity a power of two */
    struct usc_table panic;        /* one struct usc_panic */
    struct usc_table vcpus;        /* struct usc_vcpu[]; 0: absent (older) */
    uint32_t features;             /* USC_FEATURE_* */
    uint32_t header_reserved0;
    uint8_t header_reserved[USC_CB_HEADER_SIZE - 336];

    /* live part: changes while the guest runs */
    uint32_t state;             /* enum usc_run_state */
    uint32_t vcpus_online;      /* bitmap of the first 32 vCPUs */
    uint64_t heartbeat_ts;      /* timestamp of the last usca_tick() */
    uint32_t metrics_count;     /* published metric slots */
    uint32_t threads_used;      /* slots ever used (high-water mark) */
    uint32_t tracepoints_count; /* published tracepoints */
    uint32_t reserved0;
    uint64_t log_head;     /* bytes ever written to the log ring */
    uint64_t log_reserve;  /* log_head plus bytes being written now */
    uint32_t panic_others; /* enum usc_panic_others, set before the panic
                              record is valid */
    uint32_t reserved1;
    uint64_t live_reserved[(USC_ABI_PAGE_SIZE - USC_CB_HEADER_SIZE - 56) / 8];
};

/*
 * The checksum of the header: 32-bit FNV-1a over header_size bytes, with
 * the bytes of magic and of checksum itself taken as zero (the agent
 * stores magic last, after the checksum). (p) points at the block.
 */
static inline uint32_t usc_abi_checksum(const void *p, uint32_t header_size)
{
    const unsigned char *b = (const unsigned char *)p;
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < header_size; i++) {
        unsigned char c = (i < 8 || (i >= 20 && i < 24)) ? 0 : b[i];
        h = (h ^ c) * 16777619u;
    }
    return h;
}

/* Layout is the ABI: pin every size and every offset a reader relies on. */
_Static_assert(sizeof(struct usc_ref) == 16, "usc_ref");
_Static_assert(sizeof(struct usc_table) == 24, "usc_table");
_Static_assert(sizeof(struct usc_metric) == 64, "usc_metric");
_Static_assert(sizeof(struct usc_saved_regs) == 64, "usc_saved_regs");
_Static_assert(sizeof(struct usc_thread) == 160, "usc_thread");
_Static_assert(offsetof(struct usc_thread, name) == 64, "thread name");
_Static_assert(offsetof(struct usc_thread, regs) == 96, "thread regs");
_Static_assert(sizeof(struct usc_tp_field) == 24, "usc_tp_field");
_Static_assert(sizeof(struct usc_tracepoint) == 224, "usc_tracepoint");
_Static_assert(offsetof(struct usc_tracepoint, enabled_at) == 16, "tp flag");
_Static_assert(offsetof(struct usc_tracepoint, name) == 32, "tp name");
_Static_assert(sizeof(struct usc_trace_packet) == 88, "usc_trace_packet");
_Static_assert(offsetof(struct usc_trace_packet, commit) == 36, "commit");
_Static_assert(sizeof(struct usc_trace_event_header) == 16, "event header");
_Static_assert(sizeof(struct usc_trace_ring) == 128, "usc_trace_ring");
_Static_assert(offsetof(struct usc_trace_ring, pos) == 32, "ring pos");
_Static_assert(offsetof(struct usc_trace_ring, mode) == 64, "ring mode");
_Static_assert(offsetof(struct usc_trace_ring, emitted) == 48, "emitted");
_Static_assert(sizeof(struct usc_vcpu) == 64, "usc_vcpu");
_Static_assert(offsetof(struct usc_vcpu, heartbeat_ts) == 24, "vcpu hb");
_Static_assert(sizeof(struct usc_regs) == 272, "usc_regs");
_Static_assert(offsetof(struct usc_regs, rip) == 128, "regs rip");
_Static_assert(offsetof(struct usc_regs, cr3) == 232, "regs cr3");
_Static_assert(sizeof(struct usc_panic) == 456, "usc_panic");
_Static_assert(offsetof(struct usc_panic, reason) == 56, "panic reason");
_Static_assert(offsetof(struct usc_panic, regs) == 184, "panic regs");
_Static_assert(offsetof(struct usc_control_block, checksum) == 20, "cksum");
_Static_assert(offsetof(struct usc_control_block, self_paddr) == 24, "self");
_Static_assert(offsetof(struct usc_control_block, name) == 96, "name");
_Static_assert(offsetof(struct usc_control_block, metrics) == 160, "metrics");
_Static_assert(offsetof(struct usc_control_block, panic) == 280, "panic");
_Static_assert(offsetof(struct usc_control_block, vcpus) == 304, "vcpus");
_Static_assert(offsetof(struct usc_control_block, features) == 328, "feat");
_Static_assert(offsetof(struct usc_control_block, state) == USC_CB_HEADER_SIZE,
               "header size");
_Static_assert(offsetof(struct usc_control_block, log_head) == 544, "log_head");
_Static_assert(offsetof(struct usc_control_block, log_reserve) == 552,
               "log_res");
_Static_assert(offsetof(struct usc_control_block, panic_others) == 560,
               "panic_others");
_Static_assert(sizeof(struct usc_control_block) == USC_ABI_PAGE_SIZE, "cb");

#endif /* UNISCOPE_ABI_H */
