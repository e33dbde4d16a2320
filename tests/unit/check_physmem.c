/* Unit tests of guest-physical memory over buffers and RAM files. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guestmem.h"
#include "physmem.h"

#define GIB(n) ((uint64_t)(n) << 30)
#define PAGE 4096u

#define DIR_TEMPLATE "/tmp/check_physmem.XXXXXX"

static char dir[sizeof(DIR_TEMPLATE)];
static char path[sizeof(dir) + 16];

/* A scratch directory per test, holding the RAM file (path). */
static void setup(void)
{
    memcpy(dir, DIR_TEMPLATE, sizeof(dir));
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/mem", dir);
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
}

/* Create the RAM file at (path): (size) bytes, sparse, (len) of (data) at 0. */
static void make_file(uint64_t size, const void *data, size_t len)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
    if (len)
        ck_assert_int_eq(pwrite(fd, data, len, 0), (ssize_t)len);
    close(fd);
}

static void poke(uint64_t offset, const char *s)
{
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, s, strlen(s), (off_t)offset),
                     (ssize_t)strlen(s));
    close(fd);
}

START_TEST(buffer_serves_its_bytes_at_offset_paddr)
{
    static const char ram[] = "0123456789";
    struct usc_physmem pm;
    char b[4] = {0};

    usc_physmem_from_buffer(&pm, ram, sizeof(ram));
    ck_assert_uint_eq(pm.phys_end, sizeof(ram));
    ck_assert_int_eq(usc_guestmem_read(&pm, 3, b, 3), 0);
    ck_assert_str_eq(b, "345");
    ck_assert_int_eq(usc_guestmem_read(&pm, 9, b, 3), -EFAULT);
}
END_TEST

START_TEST(ramfile_maps_a_small_file_at_paddr_zero)
{
    struct usc_ramfile *rf;
    char b[6] = {0};

    make_file(4 * PAGE, "hello", 5);
    ck_assert_int_eq(usc_ramfile_open(path, &rf), 0);
    const struct usc_physmem *pm = usc_ramfile_physmem(rf);
    ck_assert_uint_eq(pm->phys_end, 4 * PAGE);
    ck_assert_int_eq(usc_guestmem_read(pm, 0, b, 5), 0);
    ck_assert_str_eq(b, "hello");
    /* The callback itself refuses bytes past the file, too. */
    ck_assert_int_eq(pm->read(pm->priv, 4 * PAGE - 2, b, 4), -EFAULT);
    ck_assert_int_eq(pm->read(pm->priv, UINT64_MAX, b, 4), -EFAULT);
    usc_ramfile_close(rf);
}
END_TEST

START_TEST(ramfile_sees_writes_made_after_it_was_opened)
{
    struct usc_ramfile *rf;
    char b[6] = {0};

    make_file(PAGE, NULL, 0);
    ck_assert_int_eq(usc_ramfile_open(path, &rf), 0);
    poke(100, "alive");
    ck_assert_int_eq(usc_guestmem_read(usc_ramfile_physmem(rf), 100, b, 5), 0);
    ck_assert_str_eq(b, "alive");
    usc_ramfile_close(rf);
}
END_TEST

START_TEST(ramfile_below_3_5_gib_is_all_low_memory)
{
    struct usc_ramfile *rf;
    char b[5] = {0};
    uint64_t size = 0xe0000000ull - PAGE;

    make_file(size, NULL, 0);
    poke(size - 4, "last");
    ck_assert_int_eq(usc_ramfile_open(path, &rf), 0);
    const struct usc_physmem *pm = usc_ramfile_physmem(rf);
    ck_assert_uint_eq(pm->phys_end, size);
    ck_assert_int_eq(usc_guestmem_read(pm, size - 4, b, 4), 0);
    ck_assert_str_eq(b, "last");
    usc_ramfile_close(rf);
}
END_TEST

START_TEST(ramfile_above_3_5_gib_puts_the_rest_at_4_gib)
{
    struct usc_ramfile *rf;
    char b[5] = {0};
    uint64_t size = 0xe0000000ull + 2 * PAGE;
    uint64_t high = size - 0xc0000000ull;

    make_file(size, NULL, 0);
    poke(0xc0000000ull - 4, "low!");
    poke(0xc0000000ull, "high");
    ck_assert_int_eq(usc_ramfile_open(path, &rf), 0);
    const struct usc_physmem *pm = usc_ramfile_physmem(rf);
    ck_assert_uint_eq(pm->phys_end, GIB(4) + high);
    ck_assert_int_eq(usc_guestmem_read(pm, 0xc0000000ull - 4, b, 4), 0);
    ck_assert_str_eq(b, "low!");
    ck_assert_int_eq(usc_guestmem_read(pm, GIB(4), b, 4), 0);
    ck_assert_str_eq(b, "high");
    /* The PCI hole, and reads straddling its edges, are not RAM. */
    ck_assert_int_eq(usc_guestmem_read(pm, 0xc0000000ull, b, 4), -EFAULT);
    ck_assert_int_eq(usc_guestmem_read(pm, 0xc0000000ull - 2, b, 4), -EFAULT);
    ck_assert_int_eq(usc_guestmem_read(pm, GIB(4) - 2, b, 4), -EFAULT);
    ck_assert_int_eq(usc_guestmem_read(pm, GIB(4) + high - 2, b, 4), -EFAULT);
    usc_ramfile_close(rf);
}
END_TEST

START_TEST(ramfile_rejects_an_empty_file)
{
    struct usc_ramfile *rf = (struct usc_ramfile *)1;

    make_file(0, NULL, 0);
    ck_assert_int_eq(usc_ramfile_open(path, &rf), -EINVAL);
    ck_assert_ptr_null(rf);
}
END_TEST

START_TEST(ramfile_rejects_a_missing_file)
{
    struct usc_ramfile *rf;

    ck_assert_int_eq(usc_ramfile_open(path, &rf), -ENOENT);
}
END_TEST

START_TEST(ramfile_rejects_a_directory)
{
    struct usc_ramfile *rf;

    ck_assert_int_eq(usc_ramfile_open(dir, &rf), -EINVAL);
}
END_TEST

START_TEST(ramfile_rejects_a_fifo_without_blocking)
{
    struct usc_ramfile *rf;

    ck_assert_int_eq(mkfifo(path, 0600), 0);
    ck_assert_int_eq(usc_ramfile_open(path, &rf), -EINVAL);
}
END_TEST

START_TEST(ramfile_close_accepts_null)
{
    usc_ramfile_close(NULL);
    ck_assert_ptr_null(usc_ramfile_physmem(NULL));
}
END_TEST

static Suite *physmem_suite(void)
{
    Suite *s = suite_create("physmem");
    TCase *tc = tcase_create("buffer");
    tcase_add_test(tc, buffer_serves_its_bytes_at_offset_paddr);
    suite_add_tcase(s, tc);

    tc = tcase_create("ramfile");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, ramfile_maps_a_small_file_at_paddr_zero);
    tcase_add_test(tc, ramfile_sees_writes_made_after_it_was_opened);
    tcase_add_test(tc, ramfile_below_3_5_gib_is_all_low_memory);
    tcase_add_test(tc, ramfile_above_3_5_gib_puts_the_rest_at_4_gib);
    tcase_add_test(tc, ramfile_rejects_an_empty_file);
    tcase_add_test(tc, ramfile_rejects_a_missing_file);
    tcase_add_test(tc, ramfile_rejects_a_directory);
    tcase_add_test(tc, ramfile_rejects_a_fifo_without_blocking);
    tcase_add_test(tc, ramfile_close_accepts_null);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(physmem_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
