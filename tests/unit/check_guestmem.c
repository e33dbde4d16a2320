/* Unit tests of the checked gate over guest memory (lib/guestmem.c). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guestmem.h"

#define RAM_SIZE 4096u

static _Alignas(64) unsigned char ram[RAM_SIZE];
static struct usc_physmem pm;

static void setup(void)
{
    for (unsigned int i = 0; i < RAM_SIZE; i++)
        ram[i] = (unsigned char)i;
    usc_physmem_from_buffer(&pm, ram, RAM_SIZE);
}

/* ---- a backend that simulates a guest writing while the host reads --- */

/*
 * Wraps the buffer backend without a map, so every access goes through
 * read; (on_read) runs after each read and may change guest memory.
 */
static int reads;
static void (*on_read)(uint64_t paddr, size_t len);

static int hooked_read(void *priv, uint64_t paddr, void *buf, size_t len)
{
    memcpy(buf, (unsigned char *)priv + paddr, len);
    reads++;
    if (on_read)
        on_read(paddr, len);
    return 0;
}

static struct usc_physmem hooked(void)
{
    struct usc_physmem h = {
        .read = hooked_read, .priv = ram, .phys_end = RAM_SIZE};
    return h;
}

static void put_u64(uint64_t paddr, uint64_t v)
{
    memcpy(ram + paddr, &v, sizeof(v));
}

/* ---- bounds ------------------------------------------------------------ */

START_TEST(in_ram_accepts_ranges_up_to_phys_end)
{
    ck_assert(usc_guestmem_in_ram(&pm, 0, RAM_SIZE));
    ck_assert(usc_guestmem_in_ram(&pm, RAM_SIZE - 8, 8));
    ck_assert(usc_guestmem_in_ram(&pm, RAM_SIZE, 0));
}
END_TEST

START_TEST(in_ram_rejects_ranges_past_phys_end)
{
    ck_assert(!usc_guestmem_in_ram(&pm, RAM_SIZE - 8, 9));
    ck_assert(!usc_guestmem_in_ram(&pm, RAM_SIZE + 1, 0));
    ck_assert(!usc_guestmem_in_ram(&pm, 0, RAM_SIZE + 1ull));
}
END_TEST

START_TEST(in_ram_rejects_wrapping_ranges)
{
    ck_assert(!usc_guestmem_in_ram(&pm, UINT64_MAX, 2));
    ck_assert(!usc_guestmem_in_ram(&pm, 16, UINT64_MAX - 8));
    pm.phys_end = UINT64_MAX;
    ck_assert(!usc_guestmem_in_ram(&pm, UINT64_MAX - 4, 8));
}
END_TEST

START_TEST(read_copies_bytes_inside_ram)
{
    unsigned char buf[16];

    ck_assert_int_eq(usc_guestmem_read(&pm, 100, buf, sizeof(buf)), 0);
    ck_assert_mem_eq(buf, ram + 100, sizeof(buf));
}
END_TEST

START_TEST(read_past_end_is_efault_and_leaves_buffer)
{
    unsigned char buf[16] = {0};
    unsigned char zero[16] = {0};

    ck_assert_int_eq(usc_guestmem_read(&pm, RAM_SIZE - 8, buf, sizeof(buf)),
                     -EFAULT);
    ck_assert_int_eq(usc_guestmem_read(&pm, UINT64_MAX - 4, buf, 8), -EFAULT);
    ck_assert_mem_eq(buf, zero, sizeof(buf));
}
END_TEST

static int failing_read(void *priv, uint64_t paddr, void *buf, size_t len)
{
    (void)priv, (void)paddr, (void)buf, (void)len;
    return -EIO;
}

START_TEST(read_reports_a_backend_failure_as_efault)
{
    struct usc_physmem bad = {.read = failing_read, .phys_end = RAM_SIZE};
    unsigned char b;

    ck_assert_int_eq(usc_guestmem_read(&bad, 0, &b, 1), -EFAULT);
}
END_TEST

START_TEST(load_u64_reads_aligned_and_unaligned_values)
{
    uint64_t v;
    uint32_t w;

    put_u64(64, 0x1122334455667788ull);
    put_u64(75, 0x0102030405060708ull);
    ck_assert_int_eq(usc_guestmem_load_u64(&pm, 64, &v), 0);
    ck_assert_uint_eq(v, 0x1122334455667788ull);
    ck_assert_int_eq(usc_guestmem_load_u64(&pm, 75, &v), 0);
    ck_assert_uint_eq(v, 0x0102030405060708ull);
    ck_assert_int_eq(usc_guestmem_load_u32(&pm, 75, &w), 0);
    ck_assert_uint_eq(w, 0x05060708u);
    ck_assert_int_eq(usc_guestmem_load_u64(&pm, RAM_SIZE - 4, &v), -EFAULT);
    ck_assert_int_eq(usc_guestmem_load_u32(&pm, RAM_SIZE - 2, &w), -EFAULT);
}
END_TEST

/* ---- strings ----------------------------------------------------------- */

START_TEST(copy_str_copies_a_terminated_field)
{
    char field[8] = "abc";
    char dst[8];

    ck_assert_int_eq(usc_guestmem_copy_str(dst, sizeof(dst), field, 8), 0);
    ck_assert_str_eq(dst, "abc");
}
END_TEST

START_TEST(copy_str_rejects_an_unterminated_field)
{
    char field[8];
    char dst[16];

    memset(field, 'x', sizeof(field));
    memset(dst, 'y', sizeof(dst));
    ck_assert_int_eq(usc_guestmem_copy_str(dst, sizeof(dst), field, 8),
                     -EINVAL);
    ck_assert_str_eq(dst, "");
}
END_TEST

START_TEST(copy_str_rejects_a_string_longer_than_dst)
{
    char field[8] = "abcdefg";
    char dst[4];

    ck_assert_int_eq(usc_guestmem_copy_str(dst, sizeof(dst), field, 8),
                     -ERANGE);
    ck_assert_str_eq(dst, "");
    ck_assert_int_eq(usc_guestmem_copy_str(dst, 0, field, 8), -EINVAL);
}
END_TEST

/* ---- seqlock copies ---------------------------------------------------- */

struct record {
    uint64_t seq;
    uint64_t a, b;
};

#define REC 256u /* paddr of the record in ram */

static void put_record(uint64_t seq, uint64_t a, uint64_t b)
{
    struct record r = {seq, a, b};
    memcpy(ram + REC, &r, sizeof(r));
}

START_TEST(read_seq_copies_a_settled_record)
{
    struct record r;

    put_record(6, 11, 22);
    ck_assert_int_eq(usc_guestmem_read_seq(&pm, REC, &r, sizeof(r)), 0);
    ck_assert_uint_eq(r.seq, 6);
    ck_assert_uint_eq(r.a, 11);
    ck_assert_uint_eq(r.b, 22);
}
END_TEST

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(read_seq_odd_forever_is_eagain_quickly)
{
    struct usc_physmem h = hooked();
    struct record r;

    put_record(7, 1, 2);
    double t0 = now_s();
    ck_assert_int_eq(usc_guestmem_read_seq(&h, REC, &r, sizeof(r)), -EAGAIN);
    ck_assert_double_lt(now_s() - t0, 1.0);
    /* One seq read per try, and never a copy of a record being written. */
    ck_assert_int_eq(reads, (int)USC_GUESTMEM_SEQ_TRIES);
}
END_TEST

/* The guest rewrites the record after each of the host's first copies. */
static int rewrites_left;

static void rewrite_after_copy(uint64_t paddr, size_t len)
{
    if (paddr == REC && len == sizeof(struct record) && rewrites_left > 0) {
        struct record r;
        memcpy(&r, ram + REC, sizeof(r));
        put_record(r.seq + 2, r.a + 1, r.b + 1);
        rewrites_left--;
    }
}

START_TEST(read_seq_retries_until_the_record_settles)
{
    struct usc_physmem h = hooked();
    struct record r;

    put_record(2, 100, 200);
    rewrites_left = 3;
    on_read = rewrite_after_copy;
    ck_assert_int_eq(usc_guestmem_read_seq(&h, REC, &r, sizeof(r)), 0);
    ck_assert_uint_eq(r.seq, 8);
    ck_assert_uint_eq(r.a, 103);
    ck_assert_uint_eq(r.b, 203);
}
END_TEST

START_TEST(read_seq_that_changes_every_copy_is_eagain)
{
    struct usc_physmem h = hooked();
    struct record r;

    put_record(0, 0, 0);
    rewrites_left = 1 << 30;
    on_read = rewrite_after_copy;
    ck_assert_int_eq(usc_guestmem_read_seq(&h, REC, &r, sizeof(r)), -EAGAIN);
}
END_TEST

START_TEST(read_seq_rejects_bad_ranges)
{
    struct record r;
    uint32_t small;

    ck_assert_int_eq(usc_guestmem_read_seq(&pm, RAM_SIZE - 8, &r, sizeof(r)),
                     -EFAULT);
    ck_assert_int_eq(usc_guestmem_read_seq(&pm, 0, &small, sizeof(small)),
                     -EINVAL);
}
END_TEST

/* ---- tables ------------------------------------------------------------ */

static struct usc_table desc(uint64_t paddr, uint32_t entry_size,
                             uint32_t capacity)
{
    struct usc_table d = {
        .at = {.paddr = paddr, .vaddr = 0xffff800000000000ull + paddr},
        .entry_size = entry_size,
        .capacity = capacity};
    return d;
}

START_TEST(gtable_init_accepts_a_table_ending_at_phys_end)
{
    struct usc_table d = desc(RAM_SIZE - 4 * 16, 16, 4);
    struct usc_gtable t;

    ck_assert_int_eq(usc_gtable_init(&t, &pm, &d, 16, 4), 0);
    ck_assert_uint_eq(t.paddr, RAM_SIZE - 64);
    ck_assert_uint_eq(t.capacity, 4);
}
END_TEST

START_TEST(gtable_init_takes_capacity_zero_as_absent)
{
    struct usc_table d = desc(UINT64_MAX, 12345, 0);
    struct usc_gtable t;
    char b[16];

    ck_assert_int_eq(usc_gtable_init(&t, &pm, &d, 16, 4), 0);
    ck_assert_uint_eq(t.capacity, 0);
    ck_assert_int_eq(usc_gtable_read(&t, 0, b, sizeof(b)), -EINVAL);
}
END_TEST

START_TEST(gtable_init_rejects_a_wrong_entry_size)
{
    struct usc_table d = desc(0, 32, 4);
    struct usc_gtable t;

    ck_assert_int_eq(usc_gtable_init(&t, &pm, &d, 16, 4), -EINVAL);
    d.entry_size = 8;
    ck_assert_int_eq(usc_gtable_init(&t, &pm, &d, 16, 4), -EINVAL);
}
END_TEST

START_TEST(gtable_init_rejects_a_capacity_above_the_maximum)
{
    struct usc_table d = desc(0, 1, 0xffffffffu);
    struct usc_gtable t;

    ck_assert_int_eq(usc_gtable_init(&t, &pm, &d, 1, 64), -EINVAL);
}
END_TEST

START_TEST(gtable_init_rejects_a_table_outside_ram)
{
    struct usc_table d = desc(RAM_SIZE - 4 * 16 + 1, 16, 4);
    struct usc_gtable t;

    ck_assert_int_eq(usc_gtable_init(&t, &pm, &d, 16, 4), -EFAULT);
    d.at.paddr = 1ull << 40;
    ck_assert_int_eq(usc_gtable_init(&t, &pm, &d, 16, 4), -EFAULT);
}
END_TEST

START_TEST(gtable_init_rejects_a_wrapping_table)
{
    struct usc_table d = desc(UINT64_MAX - 16, 16, 4);
    struct usc_gtable t;

    pm.phys_end = UINT64_MAX;
    ck_assert_int_eq(usc_gtable_init(&t, &pm, &d, 16, 4), -EFAULT);
    /* The largest table, 2^64 - 2^33 + 1 bytes, from 2^33 just wraps. */
    d = desc(1ull << 33, 0xffffffffu, 0xffffffffu);
    ck_assert_int_eq(usc_gtable_init(&t, &pm, &d, 0xffffffffu, 0xffffffffu),
                     -EFAULT);
}
END_TEST

START_TEST(gtable_read_checks_index_and_size)
{
    struct usc_table d = desc(512, 16, 4);
    struct usc_gtable t;
    unsigned char e[16];

    ck_assert_int_eq(usc_gtable_init(&t, &pm, &d, 16, 4), 0);
    ck_assert_int_eq(usc_gtable_read(&t, 3, e, sizeof(e)), 0);
    ck_assert_mem_eq(e, ram + 512 + 48, 16);
    ck_assert_int_eq(usc_gtable_read(&t, 4, e, sizeof(e)), -EINVAL);
    ck_assert_int_eq(usc_gtable_read(&t, UINT32_MAX, e, sizeof(e)), -EINVAL);
    ck_assert_int_eq(usc_gtable_read(&t, 0, e, 8), -EINVAL);
    ck_assert_int_eq(usc_gtable_read_seq(&t, 4, e, sizeof(e)), -EINVAL);
}
END_TEST

START_TEST(gtable_load_u64_checks_the_field_offset)
{
    struct usc_table d = desc(512, 16, 4);
    struct usc_gtable t;
    uint64_t v;

    put_u64(512 + 16 + 8, 99);
    ck_assert_int_eq(usc_gtable_init(&t, &pm, &d, 16, 4), 0);
    ck_assert_int_eq(usc_gtable_load_u64(&t, 1, 8, &v), 0);
    ck_assert_uint_eq(v, 99);
    ck_assert_int_eq(usc_gtable_load_u64(&t, 1, 9, &v), -EINVAL);
    ck_assert_int_eq(usc_gtable_load_u64(&t, 1, SIZE_MAX, &v), -EINVAL);
    ck_assert_int_eq(usc_gtable_load_u64(&t, 4, 0, &v), -EINVAL);
}
END_TEST

START_TEST(gtable_read_bytes_stays_inside_the_table)
{
    struct usc_table d = desc(1024, 1, 256);
    struct usc_gtable t;
    unsigned char b[16];

    ck_assert_int_eq(usc_gtable_init(&t, &pm, &d, 1, 256), 0);
    ck_assert_int_eq(usc_gtable_read_bytes(&t, 240, b, 16), 0);
    ck_assert_mem_eq(b, ram + 1024 + 240, 16);
    ck_assert_int_eq(usc_gtable_read_bytes(&t, 241, b, 16), -EINVAL);
    ck_assert_int_eq(usc_gtable_read_bytes(&t, UINT64_MAX - 4, b, 8), -EINVAL);
}
END_TEST

static Suite *guestmem_suite(void)
{
    Suite *s = suite_create("guestmem");
    TCase *tc = tcase_create("bounds");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, in_ram_accepts_ranges_up_to_phys_end);
    tcase_add_test(tc, in_ram_rejects_ranges_past_phys_end);
    tcase_add_test(tc, in_ram_rejects_wrapping_ranges);
    tcase_add_test(tc, read_copies_bytes_inside_ram);
    tcase_add_test(tc, read_past_end_is_efault_and_leaves_buffer);
    tcase_add_test(tc, read_reports_a_backend_failure_as_efault);
    tcase_add_test(tc, load_u64_reads_aligned_and_unaligned_values);
    suite_add_tcase(s, tc);

    tc = tcase_create("strings");
    tcase_add_test(tc, copy_str_copies_a_terminated_field);
    tcase_add_test(tc, copy_str_rejects_an_unterminated_field);
    tcase_add_test(tc, copy_str_rejects_a_string_longer_than_dst);
    suite_add_tcase(s, tc);

    tc = tcase_create("seqlock");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, read_seq_copies_a_settled_record);
    tcase_add_test(tc, read_seq_odd_forever_is_eagain_quickly);
    tcase_add_test(tc, read_seq_retries_until_the_record_settles);
    tcase_add_test(tc, read_seq_that_changes_every_copy_is_eagain);
    tcase_add_test(tc, read_seq_rejects_bad_ranges);
    suite_add_tcase(s, tc);

    tc = tcase_create("tables");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, gtable_init_accepts_a_table_ending_at_phys_end);
    tcase_add_test(tc, gtable_init_takes_capacity_zero_as_absent);
    tcase_add_test(tc, gtable_init_rejects_a_wrong_entry_size);
    tcase_add_test(tc, gtable_init_rejects_a_capacity_above_the_maximum);
    tcase_add_test(tc, gtable_init_rejects_a_table_outside_ram);
    tcase_add_test(tc, gtable_init_rejects_a_wrapping_table);
    tcase_add_test(tc, gtable_read_checks_index_and_size);
    tcase_add_test(tc, gtable_load_u64_checks_the_field_offset);
    tcase_add_test(tc, gtable_read_bytes_stays_inside_the_table);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(guestmem_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
