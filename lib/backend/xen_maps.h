/*
 * The Xen backend's parts that need no hypervisor, kept apart from the Xen
 * headers (which want GNU C) so that unit tests reach them: the cache of
 * foreign mappings (xen_maps.c), and from xen.c the run state of a domain
 * and the end of an HVM domain's RAM. Built only with USC_HAVE_XEN.
 */
#ifndef USC_BACKEND_XEN_MAPS_H
#define USC_BACKEND_XEN_MAPS_H

#include <stddef.h>
#include <stdint.h>

#include "../target.h"

#define USC_XEN_PAGE_SHIFT 12
#define USC_XEN_PAGE_SIZE 4096u
#define USC_XEN_CHUNK_PAGES 512u /* frames mapped at once: 2 MiB */
#define USC_XEN_FRAME_4G 0x100000ull

/* ---- the mapping cache ----------------------------------------------------
 */

/* How the cache maps guest frames: xen.c's foreign mappings, a test's fake. */
struct usc_xen_mapper {
    /*
     * Required: map the (n) frames (at most USC_XEN_CHUNK_PAGES) from
     * (frame) of the guest's physical space at one address, stored in
     * (*addr), writable when (writable), else read-only; each page's
     * result (0, or the errno that refused it) in (err). (*addr) may be
     * NULL when every page was refused. Returns 0, or a negative errno
     * when nothing could be tried (the domain gone: -ESRCH).
     */
    int (*map)(void *ctx, uint64_t frame, size_t n, int writable, int *err,
               void **addr);
    /* Required: undo a map of (n) pages at (addr). */
    void (*unmap)(void *ctx, void *addr, size_t n);
    void *ctx;
};

/* Mappings of a guest's frames, a chunk of USC_XEN_CHUNK_PAGES at a time. */
struct usc_xen_maps;

/*
 * A cache over (m) (copied) of the frames [0, nframes), holding at most
 * (max_chunks) chunks mapped (the least recently used one goes first).
 * Stores it in (*out), freed with usc_xen_maps_free. Returns 0; -EINVAL
 * for no mapper or max_chunks 0; -ENOMEM.
 */
int usc_xen_maps_new(const struct usc_xen_mapper *m, uint64_t nframes,
                     unsigned max_chunks, struct usc_xen_maps **out);

/*
 * The page of (frame), mapped writable when (writable), in (*page): valid
 * until the next call on (c). Its chunk is mapped at the first need; a
 * page the mapping refused stays refused (-EFAULT) while the chunk is
 * mapped, and does not keep the chunk's other pages from being served; a
 * mapping that could not even be tried is tried again at the next call.
 * Returns 0; -EFAULT beyond nframes or for a refused page; the mapper's
 * error; -ENOMEM.
 */
int usc_xen_maps_page(struct usc_xen_maps *c, uint64_t frame, int writable,
                      unsigned char **page);

/* Unmap everything (c) holds; later calls map again. */
void usc_xen_maps_drop(struct usc_xen_maps *c);

/* How many chunks (c) holds mapped now. */
unsigned usc_xen_maps_count(const struct usc_xen_maps *c);

/* Unmap everything and free (c); NULL is a no-op. */
void usc_xen_maps_free(struct usc_xen_maps *c);

/* ---- xen.c's pure helpers -------------------------------------------------
 */

/*
 * The run state of a domain whose getdomaininfo flags are (flags)
 * (XEN_DOMINF_*): dying is dead; shut down by a crash or the watchdog,
 * panicked; suspended, paused; shut down otherwise, shut down; paused by
 * the toolstack, paused; else running (blocked included).
 */
enum usc_vm_state usc_xen_state_of_flags(uint32_t flags);

/* Where an HVM or PVH domain's RAM lies, in frames. */
struct usc_xen_ram {
    uint64_t low_end;  /* RAM is [0, low_end) below the MMIO hole */
    uint64_t high_end; /* and [4 GiB, high_end) above it; 0: none */
};

/*
 * Find (ram) of an HVM or PVH domain whose populated frames (present says
 * which; ctx is its) reach (max_frame) and number (tot_pages). Xen lays
 * RAM out from 0 up to the MMIO hole below 4 GiB and on from 4 GiB, with
 * its own pages (ACPI tables, special pages) in the hole. The end of the
 * low run is searched for from 1 MiB (below it an HVM guest has the VGA
 * hole), doubling then halving, so that no probe lands in the hole's
 * pages. RAM above 4 GiB is looked for only when frame 4 GiB is populated
 * and more frames are than the low run and 32 MiB of Xen's pages account
 * for (a guest may map grant frames anywhere). About 2 log2(frames) calls
 * of (present); low_end is 0 when frame 0 is not populated.
 */
void usc_xen_ram_find(int (*present)(void *ctx, uint64_t frame), void *ctx,
                      uint64_t max_frame, uint64_t tot_pages,
                      struct usc_xen_ram *ram);

#endif /* USC_BACKEND_XEN_MAPS_H */
