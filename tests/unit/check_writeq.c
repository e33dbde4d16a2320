/* The background writer: order, backpressure, errors, close. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "writeq.h"

#define CHUNK 4096u

static int tmpfile_fd(char *path, size_t cap)
{
    snprintf(path, cap, "/tmp/usc-writeq-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    return fd;
}

/* Chunks submitted to two files arrive whole and in order. */
START_TEST(test_chunks_written_in_order)
{
    char pa[64], pb[64];
    int fa = tmpfile_fd(pa, sizeof(pa)), fb = tmpfile_fd(pb, sizeof(pb));
    struct usc_writeq *q;
    const unsigned n = 200;

    /* fewer chunks than submissions: the filler waits for the writer */
    ck_assert_int_eq(usc_writeq_open(CHUNK, 3, &q), 0);
    for (unsigned i = 0; i < n; i++) {
        unsigned char *c = usc_writeq_get(q);
        ck_assert_ptr_nonnull(c);
        memset(c, (int)(i & 0xff), CHUNK);
        /* odd ones shorter, to the other file */
        ck_assert_int_eq(
            usc_writeq_submit(q, i & 1 ? fb : fa, c, i & 1 ? CHUNK / 2 : CHUNK),
            0);
    }
    ck_assert_int_eq(usc_writeq_sync(q), 0);
    struct stat st;
    ck_assert_int_eq(fstat(fa, &st), 0);
    ck_assert_int_eq(st.st_size, (off_t)(n / 2) * CHUNK);
    ck_assert_int_eq(fstat(fb, &st), 0);
    ck_assert_int_eq(st.st_size, (off_t)(n / 2) * CHUNK / 2);
    unsigned char buf[CHUNK];
    for (unsigned i = 0; i < n; i += 2) {
        ck_assert_int_eq(pread(fa, buf, CHUNK, (off_t)(i / 2) * CHUNK),
                         (ssize_t)CHUNK);
        ck_assert_uint_eq(buf[0], i & 0xff);
        ck_assert_uint_eq(buf[CHUNK - 1], i & 0xff);
    }
    ck_assert_int_eq(usc_writeq_close(q), 0);
    close(fa);
    close(fb);
    unlink(pa);
    unlink(pb);
}
END_TEST

/* A failed write is reported by later calls, and nothing after it lands. */
START_TEST(test_write_error_reported_later)
{
    char path[64];
    int fd = tmpfile_fd(path, sizeof(path));
    int ro = open(path, O_RDONLY);
    struct usc_writeq *q;

    ck_assert_int_ge(ro, 0);
    ck_assert_int_eq(usc_writeq_open(CHUNK, 2, &q), 0);
    unsigned char *c = usc_writeq_get(q);
    ck_assert_int_eq(usc_writeq_submit(q, ro, c, CHUNK), 0);
    ck_assert_int_eq(usc_writeq_sync(q), -EBADF);
    c = usc_writeq_get(q);
    ck_assert_int_eq(usc_writeq_submit(q, fd, c, CHUNK), -EBADF);
    ck_assert_int_eq(usc_writeq_close(q), -EBADF);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
    close(ro);
    close(fd);
    unlink(path);
}
END_TEST

/* Empty submissions, chunks given back unsent, bad arguments. */
START_TEST(test_put_and_empty_submit)
{
    struct usc_writeq *q;

    ck_assert_int_eq(usc_writeq_open(0, 2, &q), -EINVAL);
    ck_assert_int_eq(usc_writeq_open(CHUNK, 0, &q), -EINVAL);
    ck_assert_int_eq(usc_writeq_open(CHUNK, 1, &q), 0);
    /* one chunk in all: each must come back for the next get */
    for (int i = 0; i < 10; i++) {
        unsigned char *c = usc_writeq_get(q);
        ck_assert_ptr_nonnull(c);
        if (i & 1)
            usc_writeq_put(q, c);
        else
            ck_assert_int_eq(usc_writeq_submit(q, -1, c, 0), 0);
    }
    unsigned char *c = usc_writeq_get(q);
    ck_assert_int_eq(usc_writeq_submit(q, -1, c, CHUNK + 1), -EINVAL);
    usc_writeq_put(q, NULL);
    ck_assert_int_eq(usc_writeq_close(q), 0);
    ck_assert_int_eq(usc_writeq_close(NULL), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("writeq");
    TCase *tc = tcase_create("writeq");

    tcase_add_test(tc, test_chunks_written_in_order);
    tcase_add_test(tc, test_write_error_reported_later);
    tcase_add_test(tc, test_put_and_empty_submit);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
