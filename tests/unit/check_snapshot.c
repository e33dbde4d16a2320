/* The copy a dump takes of a paused guest: what it holds, reading it back. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guestmem.h"
#include "snapshot.h"

#define PAGE 4096u
#define RAM (8u << 20) /* two BLOCKs in each half: the helper thread runs */

static unsigned char *ram;
static struct usc_physmem live;

/* Data in pages [1, 3) and from 1 MiB to 7 MiB; the rest is holes. */
static int data_at(void *priv, uint64_t paddr, uint64_t end, uint64_t *start,
                   uint64_t *stop)
{
    static const uint64_t runs[][2] = {{PAGE, 3 * PAGE}, {1u << 20, 7u << 20}};
    (void)priv;
    for (size_t i = 0; i < 2; i++)
        if (runs[i][1] > paddr && runs[i][0] < end) {
            *start = runs[i][0] > paddr ? runs[i][0] : paddr;
            *stop = runs[i][1] < end ? runs[i][1] : end;
            return 0;
        }
    return -ENXIO;
}

static void setup(void)
{
    ram = malloc(RAM);
    for (size_t i = 0; i < RAM; i++)
        ram[i] = (unsigned char)(i * 13 + i / 4093);
    usc_physmem_from_buffer(&live, ram, RAM);
}

static void teardown(void)
{
    free(ram);
}

START_TEST(test_copy_holds_the_data_and_zeros_elsewhere)
{
    struct usc_snapshot s;
    struct usc_core_ram r = {0, RAM};
    static unsigned char back[RAM];
    uint64_t start, stop;

    ck_assert_int_eq(usc_snapshot_init(&s, 7u << 20, RAM), 0);
    ck_assert_int_eq(usc_snapshot_take(&s, &live, &r, 1, data_at, NULL), 0);
    /* the guest writes on: the copy keeps what it had */
    memset(ram + (2u << 20), 0xee, PAGE);
    const struct usc_physmem *pm = usc_snapshot_physmem(&s);
    ck_assert_int_eq(usc_guestmem_read(pm, 0, back, RAM), 0);
    for (size_t i = 0; i < RAM; i++) {
        int data =
            (i >= PAGE && i < 3 * PAGE) || (i >= (1u << 20) && i < (7u << 20));
        unsigned char want = data ? (i >= (2u << 20) && i < (2u << 20) + PAGE
                                         ? (unsigned char)(i * 13 + i / 4093)
                                         : ram[i])
                                  : 0;
        ck_assert_msg(back[i] == want, "byte %zu: %u, not %u", i, back[i],
                      want);
    }
    /* across a hole and a piece's end, and past RAM */
    ck_assert_int_eq(usc_guestmem_read(pm, 2 * PAGE, back, 2 * PAGE), 0);
    ck_assert_int_eq(back[0], ram[2 * PAGE]);
    ck_assert_int_eq(back[PAGE], 0);
    ck_assert_int_eq(usc_guestmem_read(pm, RAM - 8, back, 16), -EFAULT);
    /* a mapping only inside one piece */
    ck_assert_ptr_nonnull(pm->map(pm->priv, 1u << 20, 1u << 20));
    ck_assert_ptr_null(pm->map(pm->priv, 2 * PAGE, 2 * PAGE));
    ck_assert_ptr_null(pm->map(pm->priv, 4 * PAGE, PAGE));
    /* where the data is, as the RAM file said */
    ck_assert_int_eq(usc_snapshot_next(&s, 0, RAM, &start, &stop), 0);
    ck_assert_uint_eq(start, PAGE);
    ck_assert_uint_eq(stop, 3 * PAGE);
    ck_assert_int_eq(usc_snapshot_next(&s, 3 * PAGE, RAM, &start, &stop), 0);
    ck_assert_uint_eq(start, 1u << 20);
    ck_assert_int_eq(usc_snapshot_next(&s, 7u << 20, RAM, &start, &stop),
                     -ENXIO);
    usc_snapshot_free(&s);
    usc_snapshot_free(&s); /* twice is harmless */
}
END_TEST

START_TEST(test_data_beyond_the_room_is_refused)
{
    struct usc_snapshot s;
    struct usc_core_ram r = {0, RAM};

    ck_assert_int_eq(usc_snapshot_init(&s, 2u << 20, RAM), 0);
    ck_assert_int_eq(usc_snapshot_take(&s, &live, &r, 1, data_at, NULL),
                     -E2BIG);
    ck_assert_uint_eq(s.npieces, 0);
    /* without next_data, every byte of the range is data */
    r.len = 1u << 20;
    ck_assert_int_eq(usc_snapshot_take(&s, &live, &r, 1, NULL, NULL), 0);
    ck_assert_uint_eq(s.used, 1u << 20);
    usc_snapshot_free(&s);
}
END_TEST

/* As data_at, and pages [8, 10) of the second MiB too once (grown). */
static int grown;
static int data_grown(void *priv, uint64_t paddr, uint64_t end, uint64_t *start,
                      uint64_t *stop)
{
    static const uint64_t runs[][2] = {
        {PAGE, 3 * PAGE}, {8 * PAGE, 10 * PAGE}, {1u << 20, 7u << 20}};
    (void)priv;
    for (size_t i = 0; i < 3; i++) {
        if (i == 1 && !grown)
            continue;
        if (runs[i][1] > paddr && runs[i][0] < end) {
            *start = runs[i][0] > paddr ? runs[i][0] : paddr;
            *stop = runs[i][1] < end ? runs[i][1] : end;
            return 0;
        }
    }
    return -ENXIO;
}

START_TEST(test_an_armed_copy_takes_what_the_guest_gained_since)
{
    struct usc_snapshot s;
    struct usc_core_ram r = {0, RAM};
    static unsigned char back[RAM];

    grown = 0;
    ck_assert_int_eq(usc_snapshot_init(&s, 8u << 20, RAM), 0);
    /* planned while the guest runs: a helper waits for the stop */
    ck_assert_int_eq(usc_snapshot_arm(&s, &live, &r, 1, data_grown, NULL), 0);
    ck_assert_ptr_nonnull(s.copy);
    /* the guest writes on and gains two pages before it stops */
    memset(ram + (3u << 20), 0x5a, PAGE);
    grown = 1;
    usc_snapshot_go(&s);
    ck_assert_int_eq(usc_snapshot_take(&s, &live, &r, 1, data_grown, NULL), 0);
    ck_assert_ptr_null(s.copy);
    ck_assert_uint_eq(s.npieces, 3);
    for (size_t i = 1; i < s.npieces; i++)
        ck_assert_uint_lt(s.pieces[i - 1].paddr, s.pieces[i].paddr);
    memset(ram + (4u << 20), 0xee, PAGE); /* after the copy: not in it */
    ck_assert_int_eq(usc_guestmem_read(usc_snapshot_physmem(&s), 0, back, RAM),
                     0);
    for (size_t i = 0; i < RAM; i++) {
        int data = (i >= PAGE && i < 3 * PAGE) ||
                   (i >= 8 * PAGE && i < 10 * PAGE) ||
                   (i >= (1u << 20) && i < (7u << 20));
        unsigned char want = !data ? 0
                             : i >= (4u << 20) && i < (4u << 20) + PAGE
                                 ? (unsigned char)(i * 13 + i / 4093)
                                 : ram[i];
        ck_assert_msg(back[i] == want, "byte %zu: %u, not %u", i, back[i],
                      want);
    }
    ck_assert_int_eq(back[(3u << 20) + 1], 0x5a);
    usc_snapshot_free(&s);
}
END_TEST

START_TEST(test_an_armed_copy_never_started_is_freed)
{
    struct usc_snapshot s;
    struct usc_core_ram r = {0, RAM};

    grown = 0;
    ck_assert_int_eq(usc_snapshot_init(&s, 8u << 20, RAM), 0);
    ck_assert_int_eq(usc_snapshot_arm(&s, &live, &r, 1, data_grown, NULL), 0);
    /* the guest was not stopped after all: the helper goes, nothing read */
    usc_snapshot_free(&s);
    ck_assert_ptr_null(s.copy);
    /* too much data for the room: refused at once */
    ck_assert_int_eq(usc_snapshot_init(&s, 2u << 20, RAM), 0);
    ck_assert_int_eq(usc_snapshot_arm(&s, &live, &r, 1, data_grown, NULL),
                     -E2BIG);
    ck_assert_ptr_null(s.copy);
    ck_assert_uint_eq(s.npieces, 0);
    usc_snapshot_free(&s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("snapshot");
    TCase *tc = tcase_create("snapshot");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_copy_holds_the_data_and_zeros_elsewhere);
    tcase_add_test(tc, test_data_beyond_the_room_is_refused);
    tcase_add_test(tc, test_an_armed_copy_takes_what_the_guest_gained_since);
    tcase_add_test(tc, test_an_armed_copy_never_started_is_freed);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
