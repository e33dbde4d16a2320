/* The "USCOPE" ELF core note: what unicore adds to a core beyond Linux's. */
#ifndef USC_USCOPE_NOTE_H
#define USC_USCOPE_NOTE_H

#include <stddef.h>
#include <stdint.h>
#include <uniscope/abi.h>

/*
 * A uniscope core (written by unicore dump) carries, in its PT_NOTE, one
 * NT_PRSTATUS note per vCPU ("CORE", Linux x86-64 layout) and then one
 * note named "USCOPE" of type USC_NOTE_TYPE whose descriptor is:
 *
 *   struct usc_note_hdr                      hdr_size bytes
 *   struct usc_note_vcpu[nvcpus]             vcpu_size bytes each
 *
 * Records are in the order of the NT_PRSTATUS notes (the faulting vCPU
 * first); record i describes the vCPU of the i-th NT_PRSTATUS. All
 * integers are little-endian; strings are NUL-terminated inside their
 * field. A reader accepts hdr_size and vcpu_size larger than the structures
 * below (later versions append fields) and ignores what it does not know.
 * docs/unicore.md documents the layout field by field.
 */
#define USC_NOTE_NAME "USCOPE"
#define USC_NOTE_TYPE 0x55530001u /* "US", note 1 */
#define USC_NOTE_VERSION 1u

/*
 * Further notes named "USCOPE" a core may carry, each at most once, after
 * the one above; a reader skips types it does not know.
 *   USC_NOTE_TYPE_CONSOLE: the guest's console output up to the dump, its
 *   last USC_NOTE_CONSOLE_MAX bytes at most, as written (no terminator):
 *   the unikernel's own crash report when it has no agent.
 */
#define USC_NOTE_TYPE_CONSOLE 0x55530002u
/*
 *   USC_NOTE_TYPE_THREADS: the agent threads that were not running at the
 *   dump, each also an NT_PRSTATUS after the vCPUs' (its saved registers),
 *   in the same order: a struct usc_note_threads header, then nthreads
 *   records of thread_size bytes, each a struct usc_note_thread. It names
 *   the threads, which NT_PRSTATUS cannot: gdb ignores it.
 */
#define USC_NOTE_TYPE_THREADS 0x55530003u
#define USC_NOTE_CONSOLE_MAX 65536u

/* A core's guest with no agent found (cb_paddr, cb_vaddr). */
#define USC_NOTE_NO_AGENT UINT64_MAX

/* The most vCPU records a reader takes. */
#define USC_NOTE_MAX_VCPUS 4096u

#define USC_NOTE_HYPERVISOR_MAX 16
#define USC_NOTE_IMAGE_MAX 256

/* usc_note_hdr.flags */
enum usc_note_flags {
    USC_NOTE_LIVE = 1u << 0,      /* taken without pausing the guest */
    USC_NOTE_PANICKED = 1u << 1,  /* the agent had recorded a panic */
    USC_NOTE_NO_PAGING = 1u << 2, /* p_vaddr == p_paddr: no page walk done */
    /* Taken from guest RAM alone (its hypervisor gone or not reachable):
     * no vCPU registers; the page tables were found by searching RAM. */
    USC_NOTE_RAM_ONLY = 1u << 3,
};

/* usc_note_vcpu.flags */
enum usc_note_vcpu_flags {
    /* This vCPU's NT_PRSTATUS holds the agent's panic frame (the registers
     * at the fault), so a debugger starts in the faulting function; the
     * record's regs are the vCPU's own at the dump. */
    USC_NOTE_VCPU_PANIC_FRAME = 1u << 0,
    /* The vCPU's registers could not be read: regs are zero but for the
     * control registers the dump recovered otherwise (cr3, cr0). */
    USC_NOTE_VCPU_NO_REGS = 1u << 1,
};

struct usc_note_hdr {
    uint32_t version;   /* USC_NOTE_VERSION */
    uint32_t hdr_size;  /* bytes of this header; vCPU records follow */
    uint32_t nvcpus;    /* vCPU records */
    uint32_t vcpu_size; /* bytes per record */
    uint32_t flags;     /* enum usc_note_flags */
    uint32_t build_id_len;
    uint8_t build_id[USC_BUILD_ID_MAX]; /* the image's, from the agent */
    uint64_t cb_paddr;    /* agent control block, or USC_NOTE_NO_AGENT */
    uint64_t cb_vaddr;    /* its guest-virtual address, or USC_NOTE_NO_AGENT */
    uint64_t mem_bytes;   /* guest RAM size */
    int64_t dump_time_ns; /* CLOCK_REALTIME when the dump began */
    uint64_t pause_ns;    /* how long the guest was paused */
    char name[USC_GUEST_NAME_MAX];            /* the guest's name */
    char hypervisor[USC_NOTE_HYPERVISOR_MAX]; /* "qemu", "xen" */
    char image[USC_NOTE_IMAGE_MAX]; /* the booted image's path, a hint */
    uint64_t reserved[10];
};

struct usc_note_vcpu {
    uint32_t index;       /* the hypervisor's vCPU number, 0-based */
    uint32_t flags;       /* enum usc_note_vcpu_flags */
    struct usc_regs regs; /* at the dump: general, segment, control, efer */
};

_Static_assert(sizeof(struct usc_note_hdr) == 512, "usc_note_hdr");
_Static_assert(offsetof(struct usc_note_hdr, cb_paddr) == 56, "cb_paddr");
_Static_assert(offsetof(struct usc_note_hdr, name) == 96, "name");
_Static_assert(offsetof(struct usc_note_hdr, image) == 176, "image");
_Static_assert(sizeof(struct usc_note_vcpu) == 280, "usc_note_vcpu");

/* The most thread records a reader takes. */
#define USC_NOTE_MAX_THREADS 4096u

struct usc_note_threads {
    uint32_t hdr_size;    /* bytes of this header; records follow */
    uint32_t nthreads;    /* records */
    uint32_t thread_size; /* bytes per record */
    uint32_t reserved;
};

struct usc_note_thread {
    uint32_t lwp;   /* pr_pid of its NT_PRSTATUS (vCPUs + 1 + id, as the
                       thread ids unigdb gives gdb) */
    uint32_t id;    /* the unikernel's thread id */
    uint32_t state; /* enum usc_thread_state */
    uint32_t vcpu;  /* the vCPU it last ran on */
    char name[USC_NAME_MAX];
};

_Static_assert(sizeof(struct usc_note_threads) == 16, "usc_note_threads");
_Static_assert(sizeof(struct usc_note_thread) == 48, "usc_note_thread");

/* The descriptor size of a note with (nvcpus) records. */
size_t usc_note_size(uint32_t nvcpus);

/*
 * Encode (hdr) and (nvcpus) records (vcpus) into (buf) of (cap) bytes, as
 * a descriptor of usc_note_size(nvcpus) bytes: version and sizes are set
 * here, whatever (hdr) holds. Returns the bytes written, or -EINVAL when
 * a string of (hdr) is unterminated, build_id_len too large or nvcpus
 * above USC_NOTE_MAX_VCPUS, -ENOSPC when (cap) is too small.
 */
long usc_note_encode(const struct usc_note_hdr *hdr,
                     const struct usc_note_vcpu *vcpus, uint32_t nvcpus,
                     void *buf, size_t cap);

/*
 * Check the untrusted descriptor (desc, len) of a USCOPE note and copy its
 * header into (hdr), padded or cut to our structure. Returns 0; -EINVAL
 * for a descriptor that lies: a size below our structures, records that
 * do not fit in (len) (overflow-safe), too many vCPUs, an unterminated
 * string, build_id_len above USC_BUILD_ID_MAX; -EPROTONOSUPPORT for
 * another version.
 */
int usc_note_parse(const void *desc, size_t len, struct usc_note_hdr *hdr);

/*
 * Copy record (i) of the descriptor (desc, len), which usc_note_parse
 * accepted into (hdr), into (out). Returns 0, or -EINVAL when i >=
 * hdr->nvcpus.
 */
int usc_note_read_vcpu(const void *desc, size_t len,
                       const struct usc_note_hdr *hdr, uint32_t i,
                       struct usc_note_vcpu *out);

/*
 * Find the USCOPE note of the ELF core at (path) and copy its header into
 * (hdr) and, when (vcpus) is not NULL, up to (cap) records into (vcpus),
 * their number into (*n) (may be NULL). Returns 0; -ENOENT when the core
 * has none; -ENOEXEC for a file that is not an ELF64 core; -EINVAL for a
 * note that lies (as usc_note_parse) or notes beyond the file; -errno.
 */
int usc_note_read_file(const char *path, struct usc_note_hdr *hdr,
                       struct usc_note_vcpu *vcpus, size_t cap, size_t *n);

/* The descriptor size of a threads note with (n) records. */
size_t usc_note_threads_size(uint32_t n);

/*
 * Encode (n) records (threads) as a threads note's descriptor into (buf)
 * of (cap) bytes. Returns the bytes written, or -EINVAL for an
 * unterminated name or n above USC_NOTE_MAX_THREADS, -ENOSPC when (cap)
 * is too small.
 */
long usc_note_threads_encode(const struct usc_note_thread *threads, uint32_t n,
                             void *buf, size_t cap);

/*
 * Check the untrusted threads descriptor (desc, len) and copy its header
 * into (hdr). Returns 0; -EINVAL for sizes below our structures, records
 * that do not fit in (len) or more than USC_NOTE_MAX_THREADS.
 */
int usc_note_threads_parse(const void *desc, size_t len,
                           struct usc_note_threads *hdr);

/*
 * Copy record (i) of the descriptor (desc, len), which
 * usc_note_threads_parse accepted into (hdr), into (out), its name
 * terminated whatever the core holds. Returns 0, or -EINVAL when i >=
 * hdr->nthreads.
 */
int usc_note_read_thread(const void *desc, size_t len,
                         const struct usc_note_threads *hdr, uint32_t i,
                         struct usc_note_thread *out);

/*
 * Copy up to (cap) records of the threads note of the ELF core at (path)
 * into (out) and their number into (*n). Returns 0 (*n = 0 for a core
 * without the note); -ENOEXEC for a file that is not an ELF64 core;
 * -EINVAL for a note that lies; -errno.
 */
int usc_note_read_threads(const char *path, struct usc_note_thread *out,
                          size_t cap, size_t *n);

/*
 * Find the first note named "USCOPE" of (type) in (notes, len), the bytes
 * of one untrusted PT_NOTE segment whose notes are aligned to (align) (4,
 * or 8 for a segment with p_align 8). Stores where its descriptor lies,
 * inside (notes), in (*desc) and its size in (*desc_len). Returns 0;
 * -ENOENT when there is none; -EINVAL for an (align) other than 4 or 8, or
 * for notes that run past (len) before it is found.
 */
int usc_note_find(const void *notes, size_t len, unsigned align, uint32_t type,
                  const void **desc, size_t *desc_len);

/*
 * The console tail in the untrusted PT_NOTE segment (notes, len) of notes
 * aligned to (align): the USC_NOTE_TYPE_CONSOLE note's bytes, which are
 * raw console output (not terminated, anything but text possible), in
 * (*text, *text_len), pointing into (notes). Returns 0; -ENOENT when there
 * is none; -EINVAL as usc_note_find, or for a note longer than
 * USC_NOTE_CONSOLE_MAX.
 */
int usc_note_console(const void *notes, size_t len, unsigned align,
                     const void **text, size_t *text_len);

/*
 * Copy the console tail of the ELF core at (path) into (buf) of (cap)
 * bytes (USC_NOTE_CONSOLE_MAX always suffices) and its length into
 * (*len); the bytes are not terminated. Returns 0; -ENOENT when the core
 * has none; -ENOEXEC for a file that is not an ELF64 core; -EINVAL for
 * notes that lie (as usc_note_console) or lie beyond the file; -ENOSPC
 * when (cap) is too small; -errno.
 */
int usc_note_read_console(const char *path, void *buf, size_t cap, size_t *len);

#endif /* USC_USCOPE_NOTE_H */
