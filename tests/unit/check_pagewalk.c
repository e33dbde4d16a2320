/* Unit tests of the x86-64 page walker (lib/pagewalk.c) on hand-built tables.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pagewalk.h"

#define RAM_SIZE (16u * 4096u)

#define P (1ull << 0)
#define RW (1ull << 1)
#define US (1ull << 2)
#define PS (1ull << 7)
#define PAT_LARGE (1ull << 12)
#define NX (1ull << 63)

/* Where the tables live in guest-physical memory. */
#define PML4 0x1000ull
#define PDPT 0x2000ull
#define PD 0x3000ull
#define PT 0x4000ull
#define PDPT_HI 0x5000ull
#define PD_HI 0x6000ull
#define PT_HI 0x7000ull

static _Alignas(4096) unsigned char ram[RAM_SIZE];
static struct usc_physmem pm;

static void set_entry(uint64_t table, unsigned int index, uint64_t value)
{
    memcpy(ram + table + index * 8u, &value, sizeof(value));
}

static uint64_t va(unsigned int l4, unsigned int l3, unsigned int l2,
                   unsigned int l1, uint64_t offset)
{
    uint64_t v = (uint64_t)l4 << 39 | (uint64_t)l3 << 30 | (uint64_t)l2 << 21 |
                 (uint64_t)l1 << 12 | offset;
    return (v & (1ull << 47)) ? v | 0xffff000000000000ull : v;
}

/*
 * Low half: 0x201abc (PML4 0, PDPT 0, PD 1, PT 1) is a 4 KiB page at
 * 0xa000; PD 2 a 2 MiB page at 1 GiB; PDPT 1 a read-only 1 GiB page at
 * 2 GiB. High half: 0xffffffff80000000 (511, 510, 0) a 2 MiB page at 0,
 * 0xffffffff80200000 (511, 510, 1, 0) a 4 KiB page at 0xb000.
 */
static void setup(void)
{
    memset(ram, 0, sizeof(ram));
    set_entry(PML4, 0, PDPT | P | RW | US);
    set_entry(PDPT, 0, PD | P | RW | US);
    set_entry(PD, 1, PT | P | RW | US);
    set_entry(PT, 1, 0xa000 | P | RW | US);
    set_entry(PD, 2, 0x40000000 | PS | P | RW | US);
    set_entry(PDPT, 1, 0x80000000 | PS | P | US);
    set_entry(PML4, 511, PDPT_HI | P | RW);
    set_entry(PDPT_HI, 510, PD_HI | P | RW);
    set_entry(PD_HI, 0, 0 | PS | P | RW);
    set_entry(PD_HI, 1, PT_HI | P | RW);
    set_entry(PT_HI, 0, 0xb000 | P | RW);
    usc_physmem_from_buffer(&pm, ram, RAM_SIZE);
}

/* ---- a physmem without a map, which counts its reads ------------------ */

static int reads;

static int counting_read(void *priv, uint64_t paddr, void *buf, size_t len)
{
    memcpy(buf, (unsigned char *)priv + paddr, len);
    reads++;
    return 0;
}

static struct usc_physmem counting(void)
{
    struct usc_physmem c = {
        .read = counting_read, .priv = ram, .phys_end = RAM_SIZE};
    reads = 0;
    return c;
}

/* ---- page sizes -------------------------------------------------------- */

START_TEST(four_kib_page)
{
    struct usc_xlate x;

    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0x201abc, &x), 0);
    ck_assert_uint_eq(x.paddr, 0xaabc);
    ck_assert_uint_eq(x.page_size, 4096);
    ck_assert(x.writable && x.user && !x.nx);
}
END_TEST

START_TEST(two_mib_page_keeps_offset)
{
    struct usc_xlate x;

    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0x400000 + 0x12345, &x), 0);
    ck_assert_uint_eq(x.paddr, 0x40012345);
    ck_assert_uint_eq(x.page_size, 2u << 20);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0x400000 + 0x1fffff, &x), 0);
    ck_assert_uint_eq(x.paddr, 0x401fffff);
}
END_TEST

START_TEST(one_gib_page_keeps_offset)
{
    struct usc_xlate x;

    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0x40000000 + 0x2345678, &x), 0);
    ck_assert_uint_eq(x.paddr, 0x82345678);
    ck_assert_uint_eq(x.page_size, 1u << 30);
    ck_assert(!x.writable && x.user);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0x7fffffff, &x), 0);
    ck_assert_uint_eq(x.paddr, 0xbfffffff);
}
END_TEST

START_TEST(higher_half_addresses)
{
    struct usc_xlate x;

    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0xffffffff80100000ull, &x), 0);
    ck_assert_uint_eq(x.paddr, 0x100000);
    ck_assert_uint_eq(x.page_size, 2u << 20);
    ck_assert(x.writable && !x.user);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0xffffffff80200123ull, &x), 0);
    ck_assert_uint_eq(x.paddr, 0xb123);
    ck_assert_uint_eq(x.page_size, 4096);
}
END_TEST

START_TEST(one_read_per_level)
{
    struct usc_physmem c = counting();
    struct usc_xlate x;

    ck_assert_int_eq(usc_pagewalk(&c, PML4, 0x201abc, &x), 0);
    ck_assert_int_eq(reads, 4);
    reads = 0;
    ck_assert_int_eq(usc_pagewalk(&c, PML4, 0x400000, &x), 0);
    ck_assert_int_eq(reads, 3);
    reads = 0;
    ck_assert_int_eq(usc_pagewalk(&c, PML4, 0x40000000, &x), 0);
    ck_assert_int_eq(reads, 2);
}
END_TEST

/* ---- what the walk refuses -------------------------------------------- */

START_TEST(not_present_at_each_level)
{
    /* _i: the PML4, PDPT, PD or PT entry of 0x201abc. */
    static const struct {
        uint64_t table;
        unsigned int index;
    } at[] = {{PML4, 0}, {PDPT, 0}, {PD, 1}, {PT, 1}};
    uint64_t e;
    struct usc_xlate x = {.paddr = 0x1234};

    memcpy(&e, ram + at[_i].table + at[_i].index * 8u, sizeof(e));
    set_entry(at[_i].table, at[_i].index, e & ~P);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0x201abc, &x), -EFAULT);
    ck_assert_uint_eq(x.paddr, 0x1234); /* untouched on failure */
}
END_TEST

START_TEST(zeroed_entry_is_not_present)
{
    struct usc_xlate x;

    ck_assert_int_eq(usc_pagewalk(&pm, PML4, va(1, 0, 0, 0, 0), &x), -EFAULT);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, va(0, 0, 1, 7, 0), &x), -EFAULT);
}
END_TEST

START_TEST(tables_outside_ram)
{
    struct usc_xlate x;

    /* CR3 itself, a table just past RAM, and one at the top of 52 bits. */
    ck_assert_int_eq(usc_pagewalk(&pm, RAM_SIZE, 0x201abc, &x), -EFAULT);
    set_entry(PD, 3, RAM_SIZE | P);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, va(0, 0, 3, 0, 0), &x), -EFAULT);
    set_entry(PD, 3, 0x000ffffffffff000ull | P);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, va(0, 0, 3, 511, 0), &x), -EFAULT);
    set_entry(PML4, 5, 0xfffffffffffff000ull | P);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, va(5, 511, 511, 511, 0), &x),
                     -EFAULT);
}
END_TEST

START_TEST(leaf_outside_ram_still_translates)
{
    struct usc_xlate x;

    /* Only tables are read; where the page lands is the caller's to read. */
    set_entry(PT, 2, 0x000ffffffffff000ull | P);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, va(0, 0, 1, 2, 0xfff), &x), 0);
    ck_assert_uint_eq(x.paddr, 0x000fffffffffffffull);
}
END_TEST

START_TEST(recursive_entry_terminates)
{
    struct usc_physmem c = counting();
    struct usc_xlate x;

    /* PML4 slot 493 maps the PML4 itself, at every level. */
    set_entry(PML4, 493, PML4 | P | RW);
    ck_assert_int_eq(usc_pagewalk(&c, PML4, va(493, 493, 493, 493, 0x18), &x),
                     0);
    ck_assert_int_eq(reads, 4);
    ck_assert_uint_eq(x.paddr, PML4 + 0x18);
    ck_assert_uint_eq(x.page_size, 4096);

    /* Once through the self-entry: every table is taken one level down. */
    reads = 0;
    ck_assert_int_eq(usc_pagewalk(&c, PML4, va(493, 0, 0, 1, 0x20), &x), 0);
    ck_assert_int_eq(reads, 4);
    ck_assert_uint_eq(x.paddr, PT + 0x20);
}
END_TEST

START_TEST(every_entry_points_at_itself)
{
    struct usc_xlate x;

    /* A table whose every entry names the table: four reads, no loop. */
    for (unsigned int i = 0; i < 512; i++)
        set_entry(PML4, i, PML4 | P);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0xffffffff80100000ull, &x), 0);
    ck_assert_uint_eq(x.paddr, PML4);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0x7fffffffffffull, &x), 0);
    ck_assert_uint_eq(x.paddr, PML4 + 0xfff);
}
END_TEST

START_TEST(non_canonical_addresses)
{
    struct usc_xlate x;

    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0x0000800000000000ull, &x),
                     -EINVAL);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0xffff7fffffffffffull, &x),
                     -EINVAL);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0x8000000000000000ull, &x),
                     -EINVAL);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0x00ff000000000000ull, &x),
                     -EINVAL);
    /* The edges of the canonical halves are walked (and are unmapped). */
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0x00007fffffffffffull, &x),
                     -EFAULT);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0xffff800000000000ull, &x),
                     -EFAULT);
}
END_TEST

START_TEST(rights_accumulate_over_levels)
{
    struct usc_xlate x;

    /* Read-only at the PDPT, no-execute at the PD. */
    set_entry(PDPT, 0, PD | P | US);
    set_entry(PD, 1, PT | P | RW | US | NX);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0x201abc, &x), 0);
    ck_assert(!x.writable && x.user && x.nx);

    /* Supervisor-only at the leaf. */
    setup();
    set_entry(PT, 1, 0xa000 | P | RW);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0x201abc, &x), 0);
    ck_assert(x.writable && !x.user && !x.nx);

    /* NX at the top is enough. */
    setup();
    set_entry(PML4, 0, PDPT | P | RW | US | NX);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0x400000, &x), 0);
    ck_assert(x.writable && x.user && x.nx);
}
END_TEST

START_TEST(reserved_bits_are_refused)
{
    struct usc_xlate x;

    /* PS in a PML4 entry. */
    set_entry(PML4, 2, 0x0 | PS | P);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, va(2, 0, 0, 0, 0), &x), -EINVAL);
    /* Bit 13 of a 2 MiB page, bit 29 of a 1 GiB page. */
    set_entry(PD, 4, 0x40000000 | (1ull << 13) | PS | P);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, va(0, 0, 4, 0, 0), &x), -EINVAL);
    set_entry(PDPT, 2, 0x80000000 | (1ull << 29) | PS | P);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, va(0, 2, 0, 0, 0), &x), -EINVAL);
}
END_TEST

START_TEST(ignored_bits_are_masked)
{
    struct usc_xlate x;
    uint64_t high = 0x7ffull << 52; /* bits 52..62: software, keys */

    /* PAT of a 2 MiB page is not part of the frame. */
    set_entry(PD, 4, 0x40000000 | PAT_LARGE | PS | P);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, va(0, 0, 4, 0, 0x10), &x), 0);
    ck_assert_uint_eq(x.paddr, 0x40000010);
    set_entry(PML4, 0, PDPT | high | P | RW | US);
    set_entry(PT, 1, 0xa000 | high | PS | P | RW | US); /* bit 7: PAT */
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0x201abc, &x), 0);
    ck_assert_uint_eq(x.paddr, 0xaabc);
    ck_assert(!x.nx);
}
END_TEST

START_TEST(cr3_flags_and_pcid_are_masked)
{
    struct usc_xlate x;

    ck_assert_int_eq(
        usc_pagewalk(&pm, PML4 | 0xabc | (1ull << 63), 0x201abc, &x), 0);
    ck_assert_uint_eq(x.paddr, 0xaabc);
}
END_TEST

START_TEST(bad_arguments)
{
    struct usc_xlate x;

    ck_assert_int_eq(usc_pagewalk(NULL, PML4, 0x201abc, &x), -EINVAL);
    ck_assert_int_eq(usc_pagewalk(&pm, PML4, 0x201abc, NULL), -EINVAL);
}
END_TEST

/* ---- finding the root without a vCPU -------------------------------- */

START_TEST(the_root_is_found_by_a_known_translation)
{
    uint64_t cr3 = 0;

    /* 0xffffffff80200010 lands at 0xb010 only through the tables at PML4 */
    ck_assert_int_eq(usc_pagewalk_find_root(&pm, 0, RAM_SIZE,
                                            va(511, 510, 1, 0, 0x10), 0xb010,
                                            NULL, NULL, &cr3),
                     0);
    ck_assert_uint_eq(cr3, PML4);
    /* a translation no page gives */
    ck_assert_int_eq(usc_pagewalk_find_root(&pm, 0, RAM_SIZE,
                                            va(511, 510, 1, 0, 0x10), 0xc010,
                                            NULL, NULL, &cr3),
                     -ENOENT);
}
END_TEST

/* next_data: the data lies from 0x1000 to 0x2000 only, else -ENXIO. */
static int tried;

static int one_page(void *priv, uint64_t pos, uint64_t end, uint64_t *start,
                    uint64_t *stop)
{
    (void)priv;
    tried++;
    if (pos >= 0x2000 || end <= 0x1000)
        return -ENXIO;
    *start = pos > 0x1000 ? pos : 0x1000;
    *stop = end < 0x2000 ? end : 0x2000;
    return 0;
}

START_TEST(only_pages_with_data_are_tried)
{
    uint64_t cr3 = 0;

    tried = 0;
    ck_assert_int_eq(usc_pagewalk_find_root(&pm, 0, RAM_SIZE, 0x201abc, 0xaabc,
                                            one_page, NULL, &cr3),
                     0);
    ck_assert_uint_eq(cr3, PML4);
    /* past the only data: nothing tried, one call to say so */
    tried = 0;
    ck_assert_int_eq(usc_pagewalk_find_root(&pm, 0x2000, RAM_SIZE, 0x201abc,
                                            0xaabc, one_page, NULL, &cr3),
                     -ENOENT);
    ck_assert_int_eq(tried, 1);
    ck_assert_int_eq(
        usc_pagewalk_find_root(NULL, 0, RAM_SIZE, 0, 0, NULL, NULL, &cr3),
        -EINVAL);
    ck_assert_int_eq(
        usc_pagewalk_find_root(&pm, RAM_SIZE, 0, 0, 0, NULL, NULL, &cr3),
        -EINVAL);
}
END_TEST

static Suite *pagewalk_suite(void)
{
    Suite *s = suite_create("pagewalk");
    TCase *tc = tcase_create("walk");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, four_kib_page);
    tcase_add_test(tc, two_mib_page_keeps_offset);
    tcase_add_test(tc, one_gib_page_keeps_offset);
    tcase_add_test(tc, higher_half_addresses);
    tcase_add_test(tc, one_read_per_level);
    tcase_add_loop_test(tc, not_present_at_each_level, 0, 4);
    tcase_add_test(tc, zeroed_entry_is_not_present);
    tcase_add_test(tc, tables_outside_ram);
    tcase_add_test(tc, leaf_outside_ram_still_translates);
    tcase_add_test(tc, recursive_entry_terminates);
    tcase_add_test(tc, every_entry_points_at_itself);
    tcase_add_test(tc, non_canonical_addresses);
    tcase_add_test(tc, rights_accumulate_over_levels);
    tcase_add_test(tc, reserved_bits_are_refused);
    tcase_add_test(tc, ignored_bits_are_masked);
    tcase_add_test(tc, cr3_flags_and_pcid_are_masked);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, the_root_is_found_by_a_known_translation);
    tcase_add_test(tc, only_pages_with_data_are_tried);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pagewalk_suite());

    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
