/* Unit tests of the image reader, on this test program's own ELF file. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "elfimage.h"

/* A function and an object to look up; used so they stay in the image. */
__attribute__((noinline)) int elfimage_fixture_fn(int x)
{
    return x * 3 + 1;
}
int elfimage_fixture_obj[16] = {1};

static struct usc_elfimage *open_self(void)
{
    struct usc_elfimage *img = NULL;
    ck_assert_int_eq(usc_elfimage_open("/proc/self/exe", &img), 0);
    return img;
}

START_TEST(test_symbol_lookup_and_symbolize)
{
    struct usc_elfimage *img = open_self();
    uint64_t fn = 0, fn_size = 0, obj = 0, obj_size = 0;
    ck_assert_int_eq(
        usc_elfimage_symbol(img, "elfimage_fixture_fn", &fn, &fn_size), 0);
    ck_assert_int_eq(
        usc_elfimage_symbol(img, "elfimage_fixture_obj", &obj, &obj_size), 0);
    ck_assert_uint_gt(fn_size, 0);
    /* ASan pads globals with a red zone, which the symbol's size covers. */
    ck_assert_uint_ge(obj_size, sizeof(elfimage_fixture_obj));
    ck_assert_int_eq(elfimage_fixture_fn(1), 4);

    const char *name = NULL;
    uint64_t off = 99;
    ck_assert_int_eq(usc_elfimage_symbolize(img, fn + 2, &name, &off), 0);
    ck_assert_str_eq(name, "elfimage_fixture_fn");
    ck_assert_uint_eq(off, 2);
    ck_assert_int_eq(usc_elfimage_in_text(img, fn), 1);
    ck_assert_int_eq(usc_elfimage_in_text(img, obj), 0);
    ck_assert_int_eq(usc_elfimage_symbol(img, "no_such_symbol", NULL, NULL),
                     -ENOENT);
    usc_elfimage_close(img);
}
END_TEST

START_TEST(test_build_id)
{
    struct usc_elfimage *img = open_self();
    uint8_t id[64];
    size_t len = 0;
    ck_assert_int_eq(usc_elfimage_build_id(img, id, sizeof(id), &len), 0);
    ck_assert_uint_eq(len, 20);
    ck_assert_int_eq(usc_elfimage_build_id(img, id, 4, &len), -ENOSPC);
    usc_elfimage_close(img);
}
END_TEST

START_TEST(test_not_an_elf)
{
    char path[] = "/tmp/usc-elfimage-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "not an elf file", 15), 15);
    close(fd);
    struct usc_elfimage *img = NULL;
    ck_assert_int_eq(usc_elfimage_open(path, &img), -ENOEXEC);
    ck_assert_int_eq(usc_elfimage_open("/nonexistent/image", &img), -ENOENT);
    unlink(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("elfimage");
    TCase *tc = tcase_create("elfimage");
    tcase_add_test(tc, test_symbol_lookup_and_symbolize);
    tcase_add_test(tc, test_build_id);
    tcase_add_test(tc, test_not_an_elf);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
