/* Unit tests of the kept cores: names, records, listing, pruning. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cores.h"
#include "rundir.h"

#define BASE_TEMPLATE "/tmp/check_cores.XXXXXX"

static char base[sizeof(BASE_TEMPLATE)];
static char run[sizeof(base) + 16];

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void setup(void)
{
    memcpy(base, BASE_TEMPLATE, sizeof(base));
    ck_assert_ptr_nonnull(mkdtemp(base));
    snprintf(run, sizeof(run), "%s/run", base);
    setenv("UNISCOPE_RUNDIR", run, 1);
}

static void teardown(void)
{
    nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* A fake core of (guest) taken at (when), with a record of (kind). */
static void make_core(const char *guest, time_t when, const char *kind,
                      char *path, size_t size)
{
    struct usc_core_record r;

    ck_assert_int_eq(usc_cores_new_path(guest, when, path, size), 0);
    write_file(path, "not really a core");
    if (!kind)
        return;
    memset(&r, 0, sizeof(r));
    snprintf(r.path, sizeof(r.path), "%s", path);
    snprintf(r.guest, sizeof(r.guest), "%s", guest);
    snprintf(r.kind, sizeof(r.kind), "%s", kind);
    snprintf(r.reason, sizeof(r.reason), "Solo5: trap: type=#PF");
    snprintf(r.image, sizeof(r.image), "/img/%s.virtio", guest);
    r.time = when;
    r.exit_status = 41;
    ck_assert_int_eq(usc_cores_record_write(&r), 0);
}

START_TEST(new_paths_are_fresh_and_private)
{
    char a[PATH_MAX], b[PATH_MAX], dir[PATH_MAX];
    struct stat st;

    make_core("web-1", 1700000000, NULL, a, sizeof(a));
    ck_assert_int_eq(usc_cores_new_path("web-1", 1700000000, b, sizeof(b)), 0);
    ck_assert_str_ne(a, b);
    ck_assert_ptr_nonnull(strstr(b, "-2.core"));
    ck_assert_int_eq(usc_cores_path(dir, sizeof(dir)), 0);
    ck_assert_int_eq(strncmp(a, dir, strlen(dir)), 0);
    ck_assert_int_eq(stat(dir, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    ck_assert_int_eq(usc_cores_new_path("../x", 1, b, sizeof(b)), -EINVAL);
    /* Not a guest: never listed as one. */
    char **names;
    size_t n;
    ck_assert_int_eq(usc_rundir_list(&names, &n), 0);
    ck_assert_uint_eq(n, 0);
    usc_rundir_list_free(names, n);
}
END_TEST

START_TEST(list_is_newest_first_per_guest)
{
    char p[PATH_MAX];
    struct usc_core_record *v, last;
    size_t n;

    make_core("exc", 1700000000, "trap", p, sizeof(p));
    make_core("exc-2", 1700000100, "abort", p, sizeof(p));
    make_core("exc", 1700000200, "abort", p, sizeof(p));
    make_core("exc", 1700000050, NULL, p, sizeof(p));
    ck_assert_int_eq(usc_cores_list("exc", &v, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(v[0].time, 1700000200);
    ck_assert_str_eq(v[0].kind, "abort");
    ck_assert_str_eq(v[0].guest, "exc");
    ck_assert_str_eq(v[0].image, "/img/exc.virtio");
    ck_assert_int_eq(v[0].exit_status, 41);
    ck_assert_int_eq(v[0].recorded, 1);
    ck_assert_uint_eq(v[0].size, strlen("not really a core"));
    /* Without its record: named by its file, no reason. */
    ck_assert_int_eq(v[1].recorded, 0);
    ck_assert_str_eq(v[1].guest, "exc");
    ck_assert_str_eq(v[1].kind, "");
    ck_assert_int_eq(v[1].exit_status, -1);
    free(v);
    ck_assert_int_eq(usc_cores_list(NULL, &v, &n), 0);
    ck_assert_uint_eq(n, 4);
    free(v);
    ck_assert_int_eq(usc_cores_latest("exc-2", &last), 0);
    ck_assert_str_eq(last.kind, "abort");
    ck_assert_int_eq(usc_cores_latest("nosuch", &last), -ENOENT);
}
END_TEST

START_TEST(strangers_and_temporaries_are_skipped)
{
    char dir[PATH_MAX], p[PATH_MAX + 64];
    struct usc_core_record *v;
    size_t n;

    make_core("g", 1700000000, "trap", p, sizeof(p));
    ck_assert_int_eq(usc_cores_path(dir, sizeof(dir)), 0);
    static const char *const strangers[] = {
        ".g-20240101-000000.core.AbCdEf",
        "g.core",
        "g-2024-000000.core",
        "-20240101-000000.core",
        "g-20240101-000000.txt",
        "g-20240101-00000x.core",
    };
    for (size_t i = 0; i < sizeof(strangers) / sizeof(strangers[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, strangers[i]);
        write_file(p, "x");
    }
    snprintf(p, sizeof(p), "%s/g-20240101-000000.core", dir);
    ck_assert_int_eq(mkdir(p, 0700), 0);
    ck_assert_int_eq(usc_cores_list(NULL, &v, &n), 0);
    ck_assert_uint_eq(n, 1);
    free(v);
    /* A record that is not ours to trust: its bad members are ignored. */
    snprintf(p, sizeof(p), "%s/g-20240102-000000.core", dir);
    write_file(p, "x");
    snprintf(p, sizeof(p), "%s/g-20240102-000000.core.json", dir);
    write_file(p, "{\"kind\": 7, \"reason\": \"a\\u0000b\", \"time\": -5, "
                  "\"exit_status\": 999}");
    ck_assert_int_eq(usc_cores_list("g", &v, &n), 0);
    ck_assert_uint_eq(n, 2);
    for (size_t i = 0; i < n; i++)
        if (strstr(v[i].path, "20240102")) {
            ck_assert_str_eq(v[i].kind, "");
            ck_assert_str_eq(v[i].reason, "");
            ck_assert_int_eq(v[i].exit_status, -1);
            ck_assert_int_ge(v[i].time, 0);
        }
    free(v);
}
END_TEST

START_TEST(prune_keeps_the_newest)
{
    char p[PATH_MAX], rec[PATH_MAX + 8], first[PATH_MAX];
    struct usc_core_record *v;
    size_t n;

    for (int i = 0; i < 7; i++) {
        make_core("p", 1700000000 + i, "trap", p, sizeof(p));
        if (i == 0)
            snprintf(first, sizeof(first), "%s", p);
    }
    make_core("other", 1600000000, "trap", p, sizeof(p));
    /* A writer killed an hour ago left a temporary; one at work now. */
    char dir[PATH_MAX], old[PATH_MAX + 64], fresh[PATH_MAX + 64];
    ck_assert_int_eq(usc_cores_path(dir, sizeof(dir)), 0);
    snprintf(old, sizeof(old), "%s/.p-20240101-000000.core.AbCdEf", dir);
    snprintf(fresh, sizeof(fresh), "%s/.p-20240101-000001.core.GhIjKl", dir);
    write_file(old, "half");
    write_file(fresh, "half");
    struct timespec times[2] = {{.tv_sec = time(NULL) - 7200},
                                {.tv_sec = time(NULL) - 7200}};
    ck_assert_int_eq(utimensat(AT_FDCWD, old, times, 0), 0);
    ck_assert_int_eq(usc_cores_prune("p", USC_CORES_KEEP), 0);
    ck_assert_int_ne(access(old, F_OK), 0);
    ck_assert_int_eq(access(fresh, F_OK), 0);
    ck_assert_int_eq(usc_cores_list("p", &v, &n), 0);
    ck_assert_uint_eq(n, USC_CORES_KEEP);
    ck_assert_int_eq(v[n - 1].time, 1700000002);
    free(v);
    ck_assert_int_ne(access(first, F_OK), 0);
    snprintf(rec, sizeof(rec), "%s.json", first);
    ck_assert_int_ne(access(rec, F_OK), 0);
    ck_assert_int_eq(usc_cores_list("other", &v, &n), 0);
    ck_assert_uint_eq(n, 1);
    free(v);
}
END_TEST

START_TEST(records_stay_in_the_cores_folder)
{
    struct usc_core_record r;

    memset(&r, 0, sizeof(r));
    snprintf(r.path, sizeof(r.path), "/tmp/g-20240101-000000.core");
    snprintf(r.guest, sizeof(r.guest), "g");
    ck_assert_int_eq(usc_cores_record_write(&r), -EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cores");
    TCase *tc = tcase_create("cores");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, new_paths_are_fresh_and_private);
    tcase_add_test(tc, list_is_newest_first_per_guest);
    tcase_add_test(tc, strangers_and_temporaries_are_skipped);
    tcase_add_test(tc, prune_keeps_the_newest);
    tcase_add_test(tc, records_stay_in_the_cores_folder);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
