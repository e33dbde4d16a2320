/* Unit tests of the Xen backend's parts that need no hypervisor. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef USC_HAVE_XEN

#include <sys/mman.h>
#include <unistd.h>

#include "backend/xen_maps.h"

#define PAGE USC_XEN_PAGE_SIZE
#define CHUNK USC_XEN_CHUNK_PAGES
#define MAX_BAD 16

/* Xen's getdomaininfo flags (public/domctl.h, public/sched.h): an ABI. */
#define DOMINF_DYING (1u << 0)
#define DOMINF_HVM (1u << 1)
#define DOMINF_SHUTDOWN (1u << 2)
#define DOMINF_PAUSED (1u << 3)
#define DOMINF_BLOCKED (1u << 4)
#define DOMINF_RUNNING (1u << 5)
#define SHUTDOWN_WHY(n) ((uint32_t)(n) << 16)

/*
 * A fake guest: (nframes) pages of RAM in a memfd, so that read-only and
 * writable mappings share it as Xen's do; (bad) frames are refused, and
 * left inaccessible in a mapping so that touching one crashes the test.
 */
struct fake {
    int fd;
    uint64_t nframes;
    uint64_t bad[MAX_BAD];
    int nbad;
    int fail_next; /* the next map fails as a whole with this */
    int maps, unmaps;
    uint64_t last_frame;
    size_t last_n;
};

static int is_bad(const struct fake *f, uint64_t frame)
{
    for (int i = 0; i < f->nbad; i++)
        if (f->bad[i] == frame)
            return 1;
    return 0;
}

static int fake_map(void *ctx, uint64_t frame, size_t n, int writable, int *err,
                    void **addr)
{
    struct fake *f = ctx;
    unsigned char *p;

    f->maps++;
    f->last_frame = frame;
    f->last_n = n;
    if (f->fail_next) {
        int e = f->fail_next;

        f->fail_next = 0;
        return e;
    }
    ck_assert_uint_le(n, CHUNK);
    ck_assert_uint_le(frame + n, f->nframes);
    p = mmap(NULL, n * PAGE, writable ? PROT_READ | PROT_WRITE : PROT_READ,
             MAP_SHARED, f->fd, (off_t)(frame * PAGE));
    ck_assert_ptr_ne(p, MAP_FAILED);
    for (size_t i = 0; i < n; i++) {
        err[i] = is_bad(f, frame + i) ? EFAULT : 0;
        if (err[i])
            ck_assert_int_eq(mprotect(p + i * PAGE, PAGE, PROT_NONE), 0);
    }
    *addr = p;
    return 0;
}

static void fake_unmap(void *ctx, void *addr, size_t n)
{
    struct fake *f = ctx;

    f->unmaps++;
    ck_assert_int_eq(munmap(addr, n * PAGE), 0);
}

/* Each page of the fake holds its frame number in its first 8 bytes. */
static void fake_init(struct fake *f, uint64_t nframes)
{
    memset(f, 0, sizeof(*f));
    f->nframes = nframes;
    f->fd = memfd_create("check_xen_maps", 0);
    ck_assert_int_ge(f->fd, 0);
    ck_assert_int_eq(ftruncate(f->fd, (off_t)(nframes * PAGE)), 0);
    for (uint64_t i = 0; i < nframes; i++)
        ck_assert_int_eq(pwrite(f->fd, &i, sizeof(i), (off_t)(i * PAGE)),
                         (ssize_t)sizeof(i));
}

static struct usc_xen_maps *cache(struct fake *f, uint64_t nframes,
                                  unsigned max)
{
    struct usc_xen_mapper m = {fake_map, fake_unmap, f};
    struct usc_xen_maps *c = NULL;

    ck_assert_int_eq(usc_xen_maps_new(&m, nframes, max, &c), 0);
    ck_assert_ptr_nonnull(c);
    return c;
}

static uint64_t frame_at(struct usc_xen_maps *c, uint64_t frame)
{
    unsigned char *p = NULL;
    uint64_t v;

    ck_assert_int_eq(usc_xen_maps_page(c, frame, 0, &p), 0);
    memcpy(&v, p, sizeof(v));
    return v;
}

/* ---- the mapping cache ----------------------------------------------------
 */

START_TEST(new_rejects_what_it_cannot_use)
{
    struct usc_xen_mapper m = {fake_map, fake_unmap, NULL};
    struct usc_xen_mapper no_unmap = {fake_map, NULL, NULL};
    struct usc_xen_maps *c = (struct usc_xen_maps *)&m;

    ck_assert_int_eq(usc_xen_maps_new(&m, 10, 4, NULL), -EINVAL);
    ck_assert_int_eq(usc_xen_maps_new(NULL, 10, 4, &c), -EINVAL);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(usc_xen_maps_new(&no_unmap, 10, 4, &c), -EINVAL);
    ck_assert_int_eq(usc_xen_maps_new(&m, 10, 0, &c), -EINVAL);
    usc_xen_maps_free(NULL);
    usc_xen_maps_drop(NULL);
    ck_assert_uint_eq(usc_xen_maps_count(NULL), 0);
}
END_TEST

START_TEST(pages_come_from_one_mapping_per_chunk)
{
    struct fake f;
    struct usc_xen_maps *c;

    fake_init(&f, 3 * CHUNK);
    c = cache(&f, f.nframes, 8);
    for (uint64_t i = 0; i < f.nframes; i++)
        ck_assert_uint_eq(frame_at(c, i), i);
    ck_assert_int_eq(f.maps, 3);
    ck_assert_uint_eq(usc_xen_maps_count(c), 3);
    /* and again, from the cache */
    ck_assert_uint_eq(frame_at(c, 5), 5);
    ck_assert_uint_eq(frame_at(c, 2 * CHUNK + 7), 2 * CHUNK + 7);
    ck_assert_int_eq(f.maps, 3);
    usc_xen_maps_free(c);
    ck_assert_int_eq(f.unmaps, 3);
}
END_TEST

START_TEST(frames_beyond_the_end_are_efault)
{
    struct fake f;
    struct usc_xen_maps *c;
    unsigned char *p = NULL;

    fake_init(&f, CHUNK + 3);
    c = cache(&f, f.nframes, 8);
    ck_assert_int_eq(usc_xen_maps_page(c, CHUNK + 3, 0, &p), -EFAULT);
    ck_assert_int_eq(usc_xen_maps_page(c, UINT64_MAX, 0, &p), -EFAULT);
    ck_assert_int_eq(f.maps, 0);
    /* the last chunk is mapped short, never past the end */
    ck_assert_uint_eq(frame_at(c, CHUNK + 2), CHUNK + 2);
    ck_assert_uint_eq(f.last_frame, CHUNK);
    ck_assert_uint_eq(f.last_n, 3);
    usc_xen_maps_free(c);
}
END_TEST

START_TEST(a_refused_page_does_not_poison_its_chunk)
{
    struct fake f;
    struct usc_xen_maps *c;
    unsigned char *p = NULL;

    fake_init(&f, CHUNK);
    f.bad[f.nbad++] = 7;
    f.bad[f.nbad++] = 64; /* the first page of the bitmap's second word */
    c = cache(&f, f.nframes, 4);
    ck_assert_int_eq(usc_xen_maps_page(c, 7, 0, &p), -EFAULT);
    ck_assert_int_eq(usc_xen_maps_page(c, 64, 0, &p), -EFAULT);
    for (uint64_t i = 0; i < CHUNK; i++)
        if (i != 7 && i != 64)
            ck_assert_uint_eq(frame_at(c, i), i);
    /* refused for as long as the chunk is held: not asked again */
    ck_assert_int_eq(usc_xen_maps_page(c, 7, 0, &p), -EFAULT);
    ck_assert_int_eq(f.maps, 1);
    usc_xen_maps_free(c);
}
END_TEST

START_TEST(a_failed_mapping_is_tried_again)
{
    struct fake f;
    struct usc_xen_maps *c;
    unsigned char *p = NULL;

    fake_init(&f, CHUNK);
    c = cache(&f, f.nframes, 4);
    f.fail_next = -ESRCH;
    ck_assert_int_eq(usc_xen_maps_page(c, 3, 0, &p), -ESRCH);
    ck_assert_uint_eq(frame_at(c, 3), 3);
    ck_assert_int_eq(f.maps, 2);
    usc_xen_maps_free(c);
    ck_assert_int_eq(f.unmaps, 1);
}
END_TEST

START_TEST(the_least_recently_used_chunk_goes_first)
{
    struct fake f;
    struct usc_xen_maps *c;

    fake_init(&f, 4 * CHUNK);
    c = cache(&f, f.nframes, 2);
    frame_at(c, 0);         /* chunk 0 */
    frame_at(c, CHUNK);     /* chunk 1 */
    frame_at(c, 1);         /* chunk 0 again: 1 is now the older */
    frame_at(c, 2 * CHUNK); /* chunk 2: 1 goes */
    ck_assert_uint_eq(usc_xen_maps_count(c), 2);
    ck_assert_int_eq(f.maps, 3);
    ck_assert_int_eq(f.unmaps, 1);
    frame_at(c, 2); /* 0 is still held */
    ck_assert_int_eq(f.maps, 3);
    frame_at(c, CHUNK + 1); /* 1 again: 2, now the older, goes */
    ck_assert_int_eq(f.maps, 4);
    ck_assert_int_eq(f.unmaps, 2);
    frame_at(c, 3); /* 0 was kept */
    ck_assert_int_eq(f.maps, 4);
    /* a long scan keeps at most two chunks mapped */
    for (uint64_t i = 0; i < f.nframes; i += 17)
        ck_assert_uint_eq(frame_at(c, i), i);
    ck_assert_uint_eq(usc_xen_maps_count(c), 2);
    ck_assert_int_eq(f.maps - f.unmaps, 2);
    usc_xen_maps_free(c);
    ck_assert_int_eq(f.maps, f.unmaps);
}
END_TEST

START_TEST(writes_go_through_a_writable_mapping)
{
    struct fake f;
    struct usc_xen_maps *c;
    unsigned char *w = NULL;
    uint64_t v = 0xfeedfacecafebeefull;

    fake_init(&f, CHUNK);
    f.bad[f.nbad++] = 9;
    c = cache(&f, f.nframes, 4);
    ck_assert_uint_eq(frame_at(c, 4), 4);
    ck_assert_int_eq(usc_xen_maps_page(c, 4, 1, &w), 0);
    memcpy(w + 8, &v, sizeof(v));
    ck_assert_int_eq(f.maps, 2);
    ck_assert_int_eq(usc_xen_maps_page(c, 9, 1, &w), -EFAULT);
    /* the read-only mapping sees the store: the same RAM */
    {
        unsigned char *r = NULL;
        uint64_t back = 0;

        ck_assert_int_eq(usc_xen_maps_page(c, 4, 0, &r), 0);
        memcpy(&back, r + 8, sizeof(back));
        ck_assert_uint_eq(back, v);
    }
    usc_xen_maps_free(c);
    ck_assert_int_eq(f.unmaps, 2);
}
END_TEST

START_TEST(drop_unmaps_everything_and_maps_again_later)
{
    struct fake f;
    struct usc_xen_maps *c;

    fake_init(&f, 2 * CHUNK);
    c = cache(&f, f.nframes, 4);
    frame_at(c, 0);
    frame_at(c, CHUNK);
    usc_xen_maps_drop(c);
    ck_assert_uint_eq(usc_xen_maps_count(c), 0);
    ck_assert_int_eq(f.unmaps, 2);
    ck_assert_uint_eq(frame_at(c, 1), 1);
    ck_assert_int_eq(f.maps, 3);
    usc_xen_maps_free(c);
    ck_assert_int_eq(f.unmaps, 3);
}
END_TEST

/* ---- the run state ----------------------------------------------------------
 */

START_TEST(state_follows_the_flags)
{
    ck_assert_int_eq(usc_xen_state_of_flags(DOMINF_RUNNING), USC_VM_RUNNING);
    ck_assert_int_eq(usc_xen_state_of_flags(DOMINF_BLOCKED | DOMINF_HVM),
                     USC_VM_RUNNING);
    ck_assert_int_eq(usc_xen_state_of_flags(0), USC_VM_RUNNING);
    ck_assert_int_eq(usc_xen_state_of_flags(DOMINF_PAUSED | DOMINF_BLOCKED),
                     USC_VM_PAUSED);
    ck_assert_int_eq(usc_xen_state_of_flags(DOMINF_SHUTDOWN | SHUTDOWN_WHY(0)),
                     USC_VM_SHUTDOWN);
    ck_assert_int_eq(usc_xen_state_of_flags(DOMINF_SHUTDOWN | SHUTDOWN_WHY(1)),
                     USC_VM_SHUTDOWN);
    ck_assert_int_eq(usc_xen_state_of_flags(DOMINF_SHUTDOWN | SHUTDOWN_WHY(2)),
                     USC_VM_PAUSED);
    ck_assert_int_eq(usc_xen_state_of_flags(DOMINF_SHUTDOWN | SHUTDOWN_WHY(3)),
                     USC_VM_PANICKED);
    ck_assert_int_eq(usc_xen_state_of_flags(DOMINF_SHUTDOWN | SHUTDOWN_WHY(4)),
                     USC_VM_PANICKED);
    /* a crashed domain kept paused by on_crash=preserve is still crashed */
    ck_assert_int_eq(usc_xen_state_of_flags(DOMINF_SHUTDOWN | DOMINF_PAUSED |
                                            SHUTDOWN_WHY(3)),
                     USC_VM_PANICKED);
    ck_assert_int_eq(usc_xen_state_of_flags(DOMINF_DYING | DOMINF_SHUTDOWN |
                                            SHUTDOWN_WHY(3)),
                     USC_VM_DEAD);
    /* the reason is ignored without the shutdown flag */
    ck_assert_int_eq(usc_xen_state_of_flags(SHUTDOWN_WHY(3)), USC_VM_RUNNING);
}
END_TEST

/* ---- where RAM ends
 * ----------------------------------------------------------- */

/* A layout of populated frames: up to four [start, end) runs. */
struct layout {
    uint64_t run[4][2];
    int probes;
};

static int layout_present(void *ctx, uint64_t frame)
{
    struct layout *l = ctx;

    l->probes++;
    for (int i = 0; i < 4; i++)
        if (frame >= l->run[i][0] && frame < l->run[i][1])
            return 1;
    return 0;
}

static uint64_t populated(const struct layout *l)
{
    uint64_t n = 0;

    for (int i = 0; i < 4; i++)
        n += l->run[i][1] - l->run[i][0];
    return n;
}

/* The ACPI tables and special pages Xen puts below 4 GiB. */
#define ACPI_RUN                                                               \
    {                                                                          \
        0xfc000, 0xfc010                                                       \
    }
#define SPECIAL_RUN                                                            \
    {                                                                          \
        0xfefe0, 0xff000                                                       \
    }

START_TEST(ram_of_a_small_pvh_domain_ends_before_xens_pages)
{
    struct layout l = {{{0, 0x4000}, ACPI_RUN, SPECIAL_RUN, {0, 0}}, 0};
    struct usc_xen_ram ram;

    usc_xen_ram_find(layout_present, &l, 0xfefff, populated(&l), &ram);
    ck_assert_uint_eq(ram.low_end, 0x4000); /* 64 MiB */
    ck_assert_uint_eq(ram.high_end, 0);
    ck_assert_int_lt(l.probes, 64);
}
END_TEST

START_TEST(ram_of_an_hvm_domain_skips_the_vga_hole)
{
    struct layout l = {{{0, 0xa0}, {0xc0, 0xc0000}, ACPI_RUN, SPECIAL_RUN}, 0};
    struct usc_xen_ram ram;

    usc_xen_ram_find(layout_present, &l, 0xfefff, populated(&l), &ram);
    ck_assert_uint_eq(ram.low_end, 0xc0000); /* 3 GiB */
    ck_assert_uint_eq(ram.high_end, 0);
}
END_TEST

START_TEST(ram_above_4_gib_is_found)
{
    struct layout l = {
        {{0, 0xf0000}, ACPI_RUN, SPECIAL_RUN, {0x100000, 0x124000}}, 0};
    struct usc_xen_ram ram;

    usc_xen_ram_find(layout_present, &l, 0x123fff, populated(&l), &ram);
    ck_assert_uint_eq(ram.low_end, 0xf0000);
    ck_assert_uint_eq(ram.high_end, 0x124000);
    ck_assert_int_lt(l.probes, 96);
}
END_TEST

START_TEST(a_frame_mapped_far_away_is_not_ram)
{
    /* a guest may map grant frames anywhere: not RAM, not worth a scan */
    struct layout l = {{{0, 0x4000},
                        SPECIAL_RUN,
                        {0x100000, 0x100020},
                        {0x10000000, 0x10000001}},
                       0};
    struct usc_xen_ram ram;

    usc_xen_ram_find(layout_present, &l, 0x10000000, populated(&l), &ram);
    ck_assert_uint_eq(ram.low_end, 0x4000);
    ck_assert_uint_eq(ram.high_end, 0);
}
END_TEST

START_TEST(tiny_and_empty_layouts)
{
    struct layout tiny = {{{0, 0x80}, {0, 0}, {0, 0}, {0, 0}}, 0};
    struct layout none = {{{0, 0}, SPECIAL_RUN, {0, 0}, {0, 0}}, 0};
    struct usc_xen_ram ram;

    usc_xen_ram_find(layout_present, &tiny, 0x7f, populated(&tiny), &ram);
    ck_assert_uint_eq(ram.low_end, 0x80);
    usc_xen_ram_find(layout_present, &none, 0xfefff, populated(&none), &ram);
    ck_assert_uint_eq(ram.low_end, 0);
    ck_assert_uint_eq(ram.high_end, 0);
}
END_TEST

static Suite *xen_suite(void)
{
    Suite *s = suite_create("xen_maps");
    TCase *tc = tcase_create("maps");

    tcase_add_test(tc, new_rejects_what_it_cannot_use);
    tcase_add_test(tc, pages_come_from_one_mapping_per_chunk);
    tcase_add_test(tc, frames_beyond_the_end_are_efault);
    tcase_add_test(tc, a_refused_page_does_not_poison_its_chunk);
    tcase_add_test(tc, a_failed_mapping_is_tried_again);
    tcase_add_test(tc, the_least_recently_used_chunk_goes_first);
    tcase_add_test(tc, writes_go_through_a_writable_mapping);
    tcase_add_test(tc, drop_unmaps_everything_and_maps_again_later);
    suite_add_tcase(s, tc);

    tc = tcase_create("state");
    tcase_add_test(tc, state_follows_the_flags);
    suite_add_tcase(s, tc);

    tc = tcase_create("ram");
    tcase_add_test(tc, ram_of_a_small_pvh_domain_ends_before_xens_pages);
    tcase_add_test(tc, ram_of_an_hvm_domain_skips_the_vga_hole);
    tcase_add_test(tc, ram_above_4_gib_is_found);
    tcase_add_test(tc, a_frame_mapped_far_away_is_not_ram);
    tcase_add_test(tc, tiny_and_empty_layouts);
    suite_add_tcase(s, tc);
    return s;
}

#else /* !USC_HAVE_XEN */

START_TEST(built_without_xen)
{
    ck_assert_int_eq(0, 0);
}
END_TEST

static Suite *xen_suite(void)
{
    Suite *s = suite_create("xen_maps");
    TCase *tc = tcase_create("none");

    tcase_add_test(tc, built_without_xen);
    suite_add_tcase(s, tc);
    return s;
}

#endif /* USC_HAVE_XEN */

int main(void)
{
    SRunner *sr = srunner_create(xen_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
