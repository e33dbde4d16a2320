/*
 * The part of Xen's guest ABI the demo kernel uses as a PVH domU. The
 * values and layouts are those of Xen's public headers (xen.h, sched.h,
 * version.h, event_channel.h, hvm/hvm_op.h, hvm/params.h, io/console.h,
 * arch-x86/cpuid.h, arch-x86/hvm/start_info.h); the kernel is
 * freestanding, so it states them here instead of including those.
 */
#ifndef DEMOKERNEL_XEN_H
#define DEMOKERNEL_XEN_H

#include <stdint.h>

/* ---- CPUID (arch-x86/cpuid.h) ----------------------------------------- */

/* Xen's leaves start at one of 0x40000000 + n * 0x100: later ones when it
 * also poses as another hypervisor (Viridian) at the first. */
#define XEN_CPUID_FIRST 0x40000000u
#define XEN_CPUID_LAST 0x40010000u
#define XEN_CPUID_STEP 0x100u
/* base + 0: EAX the last Xen leaf, EBX ECX EDX "XenVMMXenVMM" */
#define XEN_CPUID_SIGNATURE_EBX 0x566e6558u /* "XenV" */
#define XEN_CPUID_SIGNATURE_ECX 0x65584d4du /* "MMXe" */
#define XEN_CPUID_SIGNATURE_EDX 0x4d4d566eu /* "nVMM" */
/* base + 1: EAX major << 16 | minor */
#define XEN_CPUID_LEAF_VERSION 1u
/* base + 2: EAX hypercall pages (at least 1), EBX the MSR that takes the
 * guest-physical address of a page for Xen to fill with hypercall stubs */
#define XEN_CPUID_LEAF_HYPERCALL 2u
/* base + 3, sub-leaf 0: ECX the guest's TSC frequency in kHz, EBX the
 * tsc_mode (0 default, 1 always emulate, 2 native, 3 native + TSC_AUX) */
#define XEN_CPUID_LEAF_TIME 3u

/* ---- hypercalls (xen.h) ----------------------------------------------- */

/* Entry i of the hypercall page is at page + 32 * i. Arguments go in
 * rdi, rsi, rdx, r10, r8; the result comes back in rax (a negative errno
 * on failure). */
#define XEN_HYPERCALL_STRIDE 32u
#define HYPERVISOR_xen_version 17u
#define HYPERVISOR_console_io 18u
#define HYPERVISOR_vcpu_op 24u
#define HYPERVISOR_sched_op 29u
#define HYPERVISOR_event_channel_op 32u
#define HYPERVISOR_hvm_op 34u

#define XEN_EPERM 1  /* errno.h: what XSM answers a refused operation */
#define XEN_ENOENT 2 /* VCPUOP_*: no such vCPU */

/* xen_version(XENVER_version, NULL): major << 16 | minor */
#define XENVER_version 0u

/* console_io(CONSOLEIO_write, count, buffer): the hypervisor's console.
 * Release builds of Xen refuse it to a domU (XSM dummy policy). */
#define CONSOLEIO_write 0u

#define DOMID_SELF 0x7ff0u

/* ---- sched_op (sched.h) ----------------------------------------------- */

#define SCHEDOP_yield 0u
#define SCHEDOP_block 1u
#define SCHEDOP_shutdown 2u

#define SHUTDOWN_poweroff 0u
#define SHUTDOWN_crash 3u

struct sched_shutdown {
    uint32_t reason; /* SHUTDOWN_* */
};

/* ---- event channels (event_channel.h) --------------------------------- */

#define EVTCHNOP_send 4u

struct evtchn_send {
    uint32_t port;
};

/* ---- HVM parameters (hvm/hvm_op.h, hvm/params.h) ---------------------- */

/* vcpu_op: bring a vCPU up in a state the guest gives (vcpu.h); for an
 * HVM (PVH) vCPU, VCPUOP_initialise takes a struct vcpu_hvm_context. */
#define VCPUOP_initialise 0u
#define VCPUOP_up 1u
#define VCPUOP_is_up 3u /* 1 up, 0 down, -ENOENT: no such vCPU */
#define VCPU_HVM_MODE_64B 1u

/* hvm/hvm_vcpu.h: a vCPU started in long mode, flat segments. */
struct vcpu_hvm_x86_64 {
    uint64_t rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, rip, rflags;
    uint64_t cr0, cr3, cr4, efer;
};

struct vcpu_hvm_context {
    uint32_t mode;
    uint32_t pad;
    union {
        struct vcpu_hvm_x86_64 x86_64;
        uint8_t x86_32[120]; /* the 32-bit form, for the union's size */
    } cpu_regs;
};

#define HVMOP_get_param 1u

/* The PV console the toolstack sets up for the guest: the frame of its
 * struct xencons_interface, and the event channel to notify. */
#define HVM_PARAM_CONSOLE_PFN 17u
#define HVM_PARAM_CONSOLE_EVTCHN 18u

struct xen_hvm_param {
    uint16_t domid; /* DOMID_SELF */
    uint16_t pad;
    uint32_t index; /* HVM_PARAM_* */
    uint64_t value; /* out */
};

/* ---- the PV console ring (io/console.h) ------------------------------- */

#define XENCONS_IN_SIZE 1024u
#define XENCONS_OUT_SIZE 2048u

/* The guest produces into out[] (free-running indices, taken modulo the
 * size), the console daemon consumes; each side then notifies the other
 * through the event channel. */
struct xencons_interface {
    char in[XENCONS_IN_SIZE];
    char out[XENCONS_OUT_SIZE];
    uint32_t in_cons, in_prod;
    uint32_t out_cons, out_prod;
};

/* ---- the PVH start info (arch-x86/hvm/start_info.h) ------------------- */

#define HVM_START_MAGIC 0x336ec578u

struct hvm_start_info {
    uint32_t magic;
    uint32_t version; /* memmap_* are there from version 1 */
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};

#define XEN_HVM_MEMMAP_TYPE_RAM 1u

struct hvm_memmap_table_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type; /* XEN_HVM_MEMMAP_TYPE_*: the E820 types */
    uint32_t reserved;
};

_Static_assert(sizeof(struct xen_hvm_param) == 16, "xen_hvm_param");
_Static_assert(sizeof(struct vcpu_hvm_x86_64) == 112, "vcpu_hvm_x86_64");
_Static_assert(sizeof(struct vcpu_hvm_context) == 128, "vcpu_hvm_context");
_Static_assert(sizeof(struct xencons_interface) == 3088, "xencons_interface");
_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "memmap entry");

#endif /* DEMOKERNEL_XEN_H */
