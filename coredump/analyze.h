/* What unicore analyze knows about one core, shared by its report sections. */
#ifndef UNICORE_ANALYZE_H
#define UNICORE_ANALYZE_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_reader.h"
#include "imagefind.h"
#include "target.h"
#include "unwind.h"
#include "uscope_note.h"

/* Frames unwound per stack: deep enough to see a recursion for what it is. */
#define AN_FRAMES 64
#define AN_PANIC_FRAMES 512
/* Flight-recorder events shown per vCPU: the newest before the end. */
#define AN_TRACE_EVENTS 16

struct an {
    const char *core;
    struct usc_target *t;
    struct usc_target_info info;
    const struct usc_physmem *pm;
    uint32_t nvcpus;
    struct usc_note_hdr note; /* when have_note */
    int have_note;
    struct usc_note_vcpu *nv; /* the note's records, nnv of them */
    size_t nnv;
    struct usc_agent *agent; /* NULL: none found */
    struct usc_agent_status st;
    int have_status;
    struct usc_panic panic;
    int have_panic;
    struct usc_agent_thread *threads;
    size_t nthreads;
    struct usc_note_thread *core_threads; /* the core's threads note */
    size_t ncore_threads;
    uint8_t build_id[USC_BUILD_ID_MAX];
    uint32_t build_id_len;
    char image[PATH_MAX]; /* the file with the symbols; "" when not found */
    struct usc_image_found found;
    json_t *image_skipped; /* candidates passed over: [{"path", "why"}] */
    int image_err;
    struct usc_unwind *uw; /* NULL when libdw could not start */
    char *console;         /* the core's console note, NULL: none */
    size_t console_len;
};

/* JSON of guest data (analyze.c): hex strings for addresses, guest text
 * made printable. Each returns a new reference. */
json_t *an_hex(uint64_t v);
json_t *an_text(const char *s, size_t len);
json_t *an_str(const char *s);
json_t *an_frame(const struct usc_frame *f);
json_t *an_frames(const struct usc_frame *f, size_t n);
json_t *an_regs(const struct usc_regs *r);

/*
 * The registers vCPU (i) of the core (in note order) had at the dump, and
 * its hypervisor number into (*index). Returns 0, -ENODATA when the dump
 * could not read them, or the backend's error.
 */
int an_vcpu_live(struct an *a, uint32_t i, struct usc_regs *r, uint32_t *index);
/* The core's vCPU (note order) whose hypervisor number is (index), or -1. */
int an_vcpu_by_index(struct an *a, uint32_t index);

/* analyze_stacks.c: the sections that unwind, and what they share. */
/* The name of x86 exception (vector) ("page fault"), or NULL. */
const char *an_vector_name(uint64_t vector);
/* "write to a not-present page, kernel mode" for a page fault's (code). */
void an_pf_text(uint64_t code, char *buf, size_t cap);
/* What (addr) is in the image ("demo_bad_pointer+0x8"), or NULL. */
json_t *an_where(struct an *a, uint64_t addr);
void an_section_panic(struct an *a, json_t *r);
void an_section_vcpus(struct an *a, json_t *r);
void an_section_threads(struct an *a, json_t *r);

/* analyze_crash.c: the unikernel's own crash report, from the console. */
/* Read the core's console note into a->console (NULL when it has none). */
void an_read_console(struct an *a);
void an_section_crash(struct an *a, json_t *r);

/* analyze_diag.c: what the rest of the report adds up to. */
void an_section_diagnosis(struct an *a, json_t *r);

/* analyze_trace.c: "trace", each vCPU's newest flight-recorder events,
 * timed from the panic (or the newest event), with their threads. */
void an_section_trace(struct an *a, json_t *r);

#endif /* UNICORE_ANALYZE_H */
