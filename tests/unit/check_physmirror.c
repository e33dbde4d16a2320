/* The batched mirror of guest memory: served from its copy only when the
 * guest did not write meanwhile, so records under seqlocks stay whole. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guestmem.h"
#include "physmirror.h"

#define RAM 65536

static unsigned char ram[RAM];
static struct usc_physmem live;
static int batches, fail, live_reads;
/* between the first copy and the second: the guest writes this */
static void (*meanwhile)(void);

static int counting_read(void *priv, uint64_t paddr, void *buf, size_t len)
{
    (void)priv;
    live_reads++;
    memcpy(buf, ram + paddr, len);
    return 0;
}

/* The pieces in order: the first copy, then the second (n / 2 each). */
static int batch(void *priv, const struct usc_phys_seg *segs, size_t n)
{
    (void)priv;
    if (fail)
        return fail;
    batches++;
    for (size_t i = 0; i < n; i++) {
        if (i == n / 2 && meanwhile)
            meanwhile();
        memcpy(segs[i].buf, ram + segs[i].paddr, segs[i].len);
    }
    return 0;
}

static struct usc_physmirror *m;
static const struct usc_physmem *pm;

static void setup(void)
{
    memset(ram, 0, sizeof(ram));
    usc_physmem_from_buffer_rw(&live, ram, sizeof(ram));
    live.read = counting_read;
    batches = fail = live_reads = 0;
    meanwhile = NULL;
    ck_assert_int_eq(usc_physmirror_new(&live, batch, NULL, &m), 0);
    pm = usc_physmirror_physmem(m);
    ck_assert_uint_eq(pm->phys_end, RAM);
}

static void teardown(void)
{
    usc_physmirror_free(m);
    m = NULL;
}

START_TEST(what_was_read_is_copied_then_served)
{
    uint64_t v = 0;

    ram[100] = 7;
    ck_assert_int_eq(usc_guestmem_read(pm, 96, &v, 8), 0); /* live */
    ck_assert_int_eq(live_reads, 1);
    ck_assert_int_eq(usc_physmirror_refresh(m), 0);
    ck_assert_int_eq(batches, 1);
    ck_assert_uint_eq(usc_physmirror_bytes(m), 64);
    ram[100] = 9; /* after the copy: the copy is what a refresh saw */
    ck_assert_int_eq(usc_guestmem_read(pm, 96, &v, 8), 0);
    ck_assert_int_eq(live_reads, 1);
    ck_assert_uint_eq((v >> 32) & 0xff, 7);
    /* served again next time, copied anew */
    ck_assert_int_eq(usc_physmirror_refresh(m), 0);
    ck_assert_int_eq(usc_guestmem_read(pm, 96, &v, 8), 0);
    ck_assert_uint_eq((v >> 32) & 0xff, 9);
    ck_assert_int_eq(live_reads, 1);
    /* what is not in the copy reads live */
    ck_assert_int_eq(usc_guestmem_read(pm, 40000, &v, 8), 0);
    ck_assert_int_eq(live_reads, 2);
}
END_TEST

static void write_at_1000(void)
{
    ram[1000]++;
}

START_TEST(lines_written_between_copies_read_live)
{
    uint32_t a = 0, b = 0;

    usc_guestmem_load_u32(pm, 1000, &a);
    usc_guestmem_load_u32(pm, 2000, &b);
    meanwhile = write_at_1000;
    ck_assert_int_eq(usc_physmirror_refresh(m), 0);
    live_reads = 0;
    ck_assert_int_eq(usc_guestmem_load_u32(pm, 1000, &a), 0);
    ck_assert_int_eq(live_reads, 1); /* changed: live */
    ck_assert_uint_eq(a, 1);
    ck_assert_int_eq(usc_guestmem_load_u32(pm, 2000, &b), 0);
    ck_assert_int_eq(live_reads, 1); /* unchanged: the copy */
}
END_TEST

/* A record under a sequence counter, as a thread slot is. */
struct rec {
    uint64_t seq;
    uint64_t a[15]; /* two lines and more: a, b must agree */
    uint64_t b;
};

#define REC 4096

static struct rec *rec(void)
{
    return (struct rec *)(void *)(ram + REC);
}

/* The guest's writer, caught in the middle: seq odd, half written. */
static void write_half(void)
{
    rec()->seq++;
    rec()->a[0]++;
}

static void finish_write(void)
{
    rec()->b++;
    rec()->seq++;
}

START_TEST(a_record_torn_under_the_copies_is_never_taken)
{
    struct rec r;

    ck_assert_int_eq(usc_guestmem_read_seq(pm, REC, &r, sizeof(r)), 0);
    meanwhile = write_half;
    ck_assert_int_eq(usc_physmirror_refresh(m), 0);
    /* the counter moved between the copies: live, where it is odd */
    finish_write();
    ck_assert_int_eq(usc_guestmem_read_seq(pm, REC, &r, sizeof(r)), 0);
    ck_assert_uint_eq(r.seq, 2);
    ck_assert_uint_eq(r.a[0], r.b);
    /* a writer that finishes between the copies: not taken from them */
    meanwhile = NULL;
    rec()->seq++;
    rec()->a[0]++;
    ck_assert_int_eq(usc_physmirror_refresh(m), 0);
    finish_write();
    ck_assert_int_eq(usc_guestmem_read_seq(pm, REC, &r, sizeof(r)), 0);
    ck_assert_uint_eq(r.seq % 2, 0);
    ck_assert_uint_eq(r.a[0], r.b);
}
END_TEST

START_TEST(a_failed_copy_leaves_everything_live)
{
    uint64_t v;

    usc_guestmem_read(pm, 0, &v, 8);
    fail = -ESRCH;
    ck_assert_int_eq(usc_physmirror_refresh(m), -ESRCH);
    ck_assert_uint_eq(usc_physmirror_bytes(m), 0);
    live_reads = 0;
    fail = 0;
    ck_assert_int_eq(usc_guestmem_read(pm, 0, &v, 8), 0);
    ck_assert_int_eq(live_reads, 1);
}
END_TEST

START_TEST(writes_go_to_the_guest_and_spoil_the_copy)
{
    uint64_t v = 5, back = 0;

    usc_guestmem_read(pm, 512, &back, 8);
    ck_assert_int_eq(usc_physmirror_refresh(m), 0);
    ck_assert_int_eq(usc_guestmem_store_u64(pm, 512, v), 0);
    ck_assert_uint_eq(ram[512], 5);
    live_reads = 0;
    ck_assert_int_eq(usc_guestmem_read(pm, 512, &back, 8), 0);
    ck_assert_int_eq(live_reads, 1);
    ck_assert_uint_eq(back, 5);
}
END_TEST

START_TEST(many_scattered_reads_stay_within_bounds)
{
    uint64_t v;

    /* more ranges than it copies, far apart, and one at RAM's end */
    for (int i = 0; i < 200; i++)
        usc_guestmem_read(pm, (uint64_t)i * 320 % (RAM - 8), &v, 8);
    usc_guestmem_read(pm, RAM - 8, &v, 8);
    ck_assert_int_eq(usc_guestmem_read(pm, RAM - 4, &v, 8), -EFAULT);
    ck_assert_int_eq(usc_physmirror_refresh(m), 0);
    ck_assert_uint_le(usc_physmirror_bytes(m), RAM);
    for (int i = 0; i < 200; i++) {
        ram[(uint64_t)i * 320 % (RAM - 8)] = (unsigned char)i;
        ck_assert_int_eq(
            usc_guestmem_read(pm, (uint64_t)i * 320 % (RAM - 8), &v, 8), 0);
    }
    ck_assert_int_eq(usc_guestmem_read(pm, RAM - 8, &v, 8), 0);
}
END_TEST

START_TEST(bad_arguments)
{
    struct usc_physmirror *x = NULL;

    ck_assert_int_eq(usc_physmirror_new(NULL, batch, NULL, &x), -EINVAL);
    ck_assert_int_eq(usc_physmirror_new(&live, NULL, NULL, &x), -EINVAL);
    ck_assert_ptr_null(usc_physmirror_physmem(NULL));
    ck_assert_uint_eq(usc_physmirror_bytes(NULL), 0);
    usc_physmirror_free(NULL);
    /* nothing read yet: a refresh copies nothing */
    ck_assert_int_eq(usc_physmirror_refresh(m), 0);
    ck_assert_int_eq(batches, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("physmirror");
    TCase *tc = tcase_create("physmirror");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, what_was_read_is_copied_then_served);
    tcase_add_test(tc, lines_written_between_copies_read_live);
    tcase_add_test(tc, a_record_torn_under_the_copies_is_never_taken);
    tcase_add_test(tc, a_failed_copy_leaves_everything_live);
    tcase_add_test(tc, writes_go_to_the_guest_and_spoil_the_copy);
    tcase_add_test(tc, many_scattered_reads_stay_within_bounds);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
