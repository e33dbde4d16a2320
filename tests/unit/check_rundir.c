/* Unit tests of the run directory: paths, modes, guest folders, guest.json. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rundir.h"

#define BASE_TEMPLATE "/tmp/check_rundir.XXXXXX"

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

/* A scratch base per test; the run directory (run) is base/run. */
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

static void guest_file(const char *name, const char *file, char *buf,
                       size_t size)
{
    ck_assert_int_eq(usc_rundir_guest_path(name, file, buf, size), 0);
}

static struct usc_guest_info sample(const char *name)
{
    struct usc_guest_info gi;

    memset(&gi, 0, sizeof(gi));
    snprintf(gi.name, sizeof(gi.name), "%s", name);
    gi.pid = 4242;
    snprintf(gi.image, sizeof(gi.image), "/images/demo kernel.elf");
    gi.memory_mib = 128;
    gi.vcpus = 2;
    snprintf(gi.accel, sizeof(gi.accel), "tcg");
    gi.start_time = 1700000000;
    return gi;
}

/* ---- names and paths ---------------------------------------------------- */

START_TEST(names_follow_the_pattern)
{
    char n63[64], n64[65];

    memset(n63, 'a', 63);
    n63[63] = '\0';
    memset(n64, 'a', 64);
    n64[64] = '\0';
    ck_assert(usc_rundir_name_valid("demo"));
    ck_assert(usc_rundir_name_valid("0"));
    ck_assert(usc_rundir_name_valid("Demo-1.2_x"));
    ck_assert(usc_rundir_name_valid(n63));
    ck_assert(!usc_rundir_name_valid(n64));
    ck_assert(!usc_rundir_name_valid(""));
    ck_assert(!usc_rundir_name_valid(NULL));
    ck_assert(!usc_rundir_name_valid("-demo"));
    ck_assert(!usc_rundir_name_valid(".hidden"));
    ck_assert(!usc_rundir_name_valid(".."));
    ck_assert(!usc_rundir_name_valid("a/b"));
    ck_assert(!usc_rundir_name_valid("a b"));
    ck_assert(!usc_rundir_name_valid("a:b"));
    ck_assert(!usc_rundir_name_valid("d\xc3\xa9mo"));
}
END_TEST

START_TEST(path_comes_from_the_environment)
{
    char p[PATH_MAX], want[64];

    setenv("UNISCOPE_RUNDIR", "/x/run//", 1);
    setenv("XDG_RUNTIME_DIR", "/run/user/7", 1);
    ck_assert_int_eq(usc_rundir_path(p, sizeof(p)), 0);
    ck_assert_str_eq(p, "/x/run");

    setenv("UNISCOPE_RUNDIR", "", 1);
    ck_assert_int_eq(usc_rundir_path(p, sizeof(p)), 0);
    ck_assert_str_eq(p, "/run/user/7/uniscope");

    unsetenv("UNISCOPE_RUNDIR");
    setenv("XDG_RUNTIME_DIR", "", 1);
    ck_assert_int_eq(usc_rundir_path(p, sizeof(p)), 0);
    snprintf(want, sizeof(want), "/tmp/uniscope-%u", (unsigned)getuid());
    ck_assert_str_eq(p, want);

    unsetenv("XDG_RUNTIME_DIR");
    ck_assert_int_eq(usc_rundir_path(p, sizeof(p)), 0);
    ck_assert_str_eq(p, want);

    setenv("UNISCOPE_RUNDIR", "/x", 1);
    ck_assert_int_eq(usc_rundir_path(p, 2), -ENAMETOOLONG);
}
END_TEST

START_TEST(guest_paths_join_folder_and_file)
{
    char p[PATH_MAX], want[PATH_MAX];

    guest_file("g1", NULL, p, sizeof(p));
    snprintf(want, sizeof(want), "%s/g1", run);
    ck_assert_str_eq(p, want);
    guest_file("g1", USC_RUNDIR_QMP, p, sizeof(p));
    snprintf(want, sizeof(want), "%s/g1/qmp.sock", run);
    ck_assert_str_eq(p, want);
    ck_assert_int_eq(usc_rundir_guest_path("../etc", "x", p, sizeof(p)),
                     -EINVAL);
    ck_assert_int_eq(usc_rundir_guest_path("g1", "x", p, 8), -ENAMETOOLONG);
}
END_TEST

/* ---- the run directory itself ------------------------------------------- */

START_TEST(check_creates_the_directory_0700)
{
    struct stat st;

    snprintf(run, sizeof(run), "%s/a/b", base);
    setenv("UNISCOPE_RUNDIR", run, 1);
    ck_assert_int_eq(usc_rundir_check(0), -ENOENT);
    umask(022);
    ck_assert_int_eq(usc_rundir_check(1), 0);
    ck_assert_int_eq(stat(run, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    ck_assert_int_eq(st.st_uid, geteuid());
    ck_assert_int_eq(usc_rundir_check(0), 0);
}
END_TEST

START_TEST(check_refuses_open_permissions)
{
    ck_assert_int_eq(mkdir(run, 0700), 0);
    ck_assert_int_eq(chmod(run, 0750), 0);
    ck_assert_int_eq(usc_rundir_check(1), -EPERM);
    ck_assert_int_eq(chmod(run, 0701), 0);
    ck_assert_int_eq(usc_rundir_check(0), -EPERM);
    ck_assert_int_eq(usc_rundir_guest_create("g1"), -EPERM);
    ck_assert_int_eq(chmod(run, 0700), 0);
    ck_assert_int_eq(usc_rundir_check(0), 0);
}
END_TEST

START_TEST(check_refuses_another_owner)
{
    if (geteuid() != 0)
        return; /* only root can give a directory away */
    ck_assert_int_eq(mkdir(run, 0700), 0);
    ck_assert_int_eq(chown(run, 12345, 12345), 0);
    ck_assert_int_eq(usc_rundir_check(1), -EPERM);
    ck_assert_int_eq(usc_rundir_guest_create("g1"), -EPERM);
}
END_TEST

START_TEST(check_refuses_a_file)
{
    write_file(run, "x");
    ck_assert_int_eq(usc_rundir_check(1), -ENOTDIR);
}
END_TEST

/* ---- guest folders ------------------------------------------------------ */

START_TEST(guest_create_makes_a_private_folder)
{
    char p[PATH_MAX];
    struct stat st;

    umask(022);
    ck_assert_int_eq(usc_rundir_guest_create("g1"), 0);
    guest_file("g1", NULL, p, sizeof(p));
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    ck_assert_int_eq(usc_rundir_guest_create("g1"), -EEXIST);
    ck_assert_int_eq(usc_rundir_guest_create("bad name"), -EINVAL);
}
END_TEST

START_TEST(guest_create_refuses_socket_paths_too_long)
{
    char deep[200];

    snprintf(deep, sizeof(deep), "%s/%0150d", base, 0);
    setenv("UNISCOPE_RUNDIR", deep, 1);
    ck_assert_int_eq(usc_rundir_guest_create("g1"), -ENAMETOOLONG);
}
END_TEST

/* The RAM file lands on a tmpfs: in the folder, or behind a symlink. */
static void check_mem(int want_link)
{
    char mem[PATH_MAX], target[PATH_MAX];
    struct stat st;
    struct statfs sfs;
    ssize_t n;

    ck_assert_int_eq(usc_rundir_guest_create("g1"), 0);
    ck_assert_int_eq(usc_rundir_guest_mem("g1"), 0);
    ck_assert_int_eq(usc_rundir_guest_mem("g1"), -EEXIST);
    guest_file("g1", USC_RUNDIR_MEM, mem, sizeof(mem));
    ck_assert_int_eq(lstat(mem, &st), 0);
    ck_assert_int_eq(S_ISLNK(st.st_mode), want_link);
    ck_assert_int_eq(stat(mem, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(st.st_size, 0);
    ck_assert_int_eq(statfs(mem, &sfs), 0);
    ck_assert(sfs.f_type == TMPFS_MAGIC);
    if (want_link) {
        n = readlink(mem, target, sizeof(target) - 1);
        ck_assert_int_gt(n, 0);
        target[n] = '\0';
        ck_assert_int_eq(strncmp(target, USC_RUNDIR_SHM_PREFIX,
                                 strlen(USC_RUNDIR_SHM_PREFIX)),
                         0);
        ck_assert_int_eq(usc_rundir_guest_remove("g1"), 0);
        ck_assert_int_eq(access(target, F_OK), -1);
    } else {
        ck_assert_int_eq(usc_rundir_guest_remove("g1"), 0);
    }
    guest_file("g1", NULL, mem, sizeof(mem));
    ck_assert_int_eq(access(mem, F_OK), -1);
}

START_TEST(guest_mem_is_on_a_tmpfs)
{
    struct statfs sfs;

    ck_assert_int_eq(usc_rundir_check(1), 0);
    ck_assert_int_eq(statfs(run, &sfs), 0);
    check_mem(sfs.f_type != TMPFS_MAGIC);
}
END_TEST

START_TEST(guest_mem_in_a_tmpfs_rundir_is_a_file)
{
    char shm[64];

    snprintf(shm, sizeof(shm), "/dev/shm/check_rundir.%d", (int)getpid());
    setenv("UNISCOPE_RUNDIR", shm, 1);
    check_mem(0);
    rmdir(shm);
}
END_TEST

START_TEST(guest_remove_takes_everything)
{
    char p[PATH_MAX];

    ck_assert_int_eq(usc_rundir_guest_create("g1"), 0);
    guest_file("g1", USC_RUNDIR_CONSOLE, p, sizeof(p));
    write_file(p, "hello\n");
    guest_file("g1", "stray", p, sizeof(p));
    write_file(p, "x");
    ck_assert_int_eq(usc_rundir_guest_remove("g1"), 0);
    guest_file("g1", NULL, p, sizeof(p));
    ck_assert_int_eq(access(p, F_OK), -1);
    ck_assert_int_eq(usc_rundir_guest_remove("g1"), -ENOENT);
    ck_assert_int_eq(usc_rundir_guest_remove("../x"), -EINVAL);
}
END_TEST

START_TEST(guest_remove_never_follows_a_foreign_link)
{
    char p[PATH_MAX], victim[PATH_MAX];

    snprintf(victim, sizeof(victim), "%s/victim", base);
    write_file(victim, "keep");
    ck_assert_int_eq(usc_rundir_guest_create("g1"), 0);
    guest_file("g1", USC_RUNDIR_MEM, p, sizeof(p));
    ck_assert_int_eq(symlink(victim, p), 0);
    ck_assert_int_eq(usc_rundir_guest_remove("g1"), 0);
    ck_assert_int_eq(access(victim, F_OK), 0);
}
END_TEST

START_TEST(list_is_sorted_and_skips_strangers)
{
    char **names;
    char p[PATH_MAX];
    size_t n;

    ck_assert_int_eq(usc_rundir_list(&names, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(usc_rundir_guest_create("zeta"), 0);
    ck_assert_int_eq(usc_rundir_guest_create("alpha"), 0);
    ck_assert_int_eq(usc_rundir_guest_create("m-1"), 0);
    snprintf(p, sizeof(p), "%s/file", run);
    write_file(p, "x");
    snprintf(p, sizeof(p), "%s/.hidden", run);
    ck_assert_int_eq(mkdir(p, 0700), 0);
    snprintf(p, sizeof(p), "%s/link", run);
    ck_assert_int_eq(symlink(base, p), 0);
    ck_assert_int_eq(usc_rundir_list(&names, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(names[0], "alpha");
    ck_assert_str_eq(names[1], "m-1");
    ck_assert_str_eq(names[2], "zeta");
    usc_rundir_list_free(names, n);
    usc_rundir_list_free(NULL, 0);
}
END_TEST

START_TEST(list_refuses_a_bad_rundir)
{
    char **names;
    size_t n;

    ck_assert_int_eq(mkdir(run, 0777), 0);
    ck_assert_int_eq(chmod(run, 0777), 0);
    ck_assert_int_eq(usc_rundir_list(&names, &n), -EPERM);
}
END_TEST

/* ---- guest.json --------------------------------------------------------- */

START_TEST(info_round_trips)
{
    struct usc_guest_info gi = sample("g1"), back;
    char p[PATH_MAX];
    struct stat st;

    ck_assert_int_eq(usc_rundir_guest_create("g1"), 0);
    ck_assert_int_eq(usc_guest_info_read("g1", &back), -ENOENT);
    ck_assert_int_eq(usc_guest_info_write(&gi), 0);
    ck_assert_int_eq(usc_guest_info_read("g1", &back), 0);
    ck_assert_str_eq(back.name, "g1");
    ck_assert_int_eq(back.pid, 4242);
    ck_assert_str_eq(back.image, "/images/demo kernel.elf");
    ck_assert_uint_eq(back.memory_mib, 128);
    ck_assert_uint_eq(back.vcpus, 2);
    ck_assert_str_eq(back.accel, "tcg");
    ck_assert_int_eq(back.start_time, 1700000000);
    guest_file("g1", USC_RUNDIR_INFO, p, sizeof(p));
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);

    /* Rewriting replaces the file whole, leaving no temporary behind. */
    gi.pid = 99;
    ck_assert_int_eq(usc_guest_info_write(&gi), 0);
    ck_assert_int_eq(usc_guest_info_read("g1", &back), 0);
    ck_assert_int_eq(back.pid, 99);
    ck_assert_int_eq(usc_guest_info_read("nosuch", &back), -ENOENT);
}
END_TEST

START_TEST(info_write_checks_fields)
{
    struct usc_guest_info gi;

    ck_assert_int_eq(usc_rundir_guest_create("g1"), 0);
    gi = sample("g1");
    gi.vcpus = 0;
    ck_assert_int_eq(usc_guest_info_write(&gi), -EINVAL);
    gi = sample("g1");
    gi.pid = 0;
    ck_assert_int_eq(usc_guest_info_write(&gi), -EINVAL);
    gi = sample("g1");
    snprintf(gi.accel, sizeof(gi.accel), "hvf");
    ck_assert_int_eq(usc_guest_info_write(&gi), -EINVAL);
    gi = sample("g1");
    gi.image[0] = '\0';
    ck_assert_int_eq(usc_guest_info_write(&gi), -EINVAL);
    gi = sample("g1");
    snprintf(gi.image, sizeof(gi.image), "/bad\xff");
    ck_assert_int_eq(usc_guest_info_write(&gi), -EINVAL);
    gi = sample("nosuch");
    ck_assert_int_eq(usc_guest_info_write(&gi), -ENOENT);
    ck_assert_int_eq(usc_guest_info_write(NULL), -EINVAL);
}
END_TEST

/* Each text, written as g1's guest.json, must read back as -EINVAL. */
static const char *const corrupt_infos[] = {
    "",
    "not json",
    "[1, 2]",
    "{\"name\": \"g1\"}",
    "{\"name\": \"g1\", \"pid\": \"4242\", \"image\": \"/i\", \"memory_mib\": "
    "128, \"vcpus\": 1, \"accel\": \"tcg\", \"start_time\": 1}",
    "{\"name\": \"g1\", \"pid\": -5, \"image\": \"/i\", \"memory_mib\": 128, "
    "\"vcpus\": 1, \"accel\": \"tcg\", \"start_time\": 1}",
    "{\"name\": \"g1\", \"pid\": 4294967297, \"image\": \"/i\", "
    "\"memory_mib\": 128, \"vcpus\": 1, \"accel\": \"tcg\", \"start_time\": "
    "1}",
    "{\"name\": \"g1\", \"pid\": 1, \"image\": \"\", \"memory_mib\": 128, "
    "\"vcpus\": 1, \"accel\": \"tcg\", \"start_time\": 1}",
    "{\"name\": \"g1\", \"pid\": 1, \"image\": \"/i\\u0000x\", \"memory_mib\": "
    "128, \"vcpus\": 1, \"accel\": \"tcg\", \"start_time\": 1}",
    "{\"name\": \"g1\", \"pid\": 1, \"image\": \"/i\", \"memory_mib\": 0, "
    "\"vcpus\": 1, \"accel\": \"tcg\", \"start_time\": 1}",
    "{\"name\": \"g1\", \"pid\": 1, \"image\": \"/i\", \"memory_mib\": 128, "
    "\"vcpus\": 100000, \"accel\": \"tcg\", \"start_time\": 1}",
    "{\"name\": \"g1\", \"pid\": 1, \"image\": \"/i\", \"memory_mib\": 128, "
    "\"vcpus\": 1.5, \"accel\": \"tcg\", \"start_time\": 1}",
    "{\"name\": \"g1\", \"pid\": 1, \"image\": \"/i\", \"memory_mib\": 128, "
    "\"vcpus\": 1, \"accel\": \"xyz\", \"start_time\": 1}",
    "{\"name\": \"g1\", \"pid\": 1, \"image\": \"/i\", \"memory_mib\": 128, "
    "\"vcpus\": 1, \"accel\": \"kvmkvmkvmkvm\", \"start_time\": 1}",
    "{\"name\": \"g1\", \"pid\": 1, \"image\": \"/i\", \"memory_mib\": 128, "
    "\"vcpus\": 1, \"accel\": \"tcg\", \"start_time\": -1}",
    "{\"name\": \"g1\", \"pid\": 1, \"image\": \"/i\", \"memory_mib\": 128, "
    "\"vcpus\": 1, \"accel\": \"tcg\", \"start_time\": null}",
    "{\"name\": \"other\", \"pid\": 1, \"image\": \"/i\", \"memory_mib\": "
    "128, \"vcpus\": 1, \"accel\": \"tcg\", \"start_time\": 1}",
    "{\"name\": \"g1\", \"pid\": 1, \"pid\": 2, \"image\": \"/i\", "
    "\"memory_mib\": 128, \"vcpus\": 1, \"accel\": \"tcg\", \"start_time\": "
    "1}",
    "{\"name\": \"g1\", \"pid\": 1, \"image\": \"/i\", \"memory_mib\": 128, "
    "\"vcpus\": 1, \"accel\": \"tcg\", \"start_time\": 1",
    /* the optional members: present means of the right type and range */
    "{\"name\": \"g1\", \"pid\": 1, \"image\": \"/i\", \"memory_mib\": 128, "
    "\"vcpus\": 1, \"accel\": \"tcg\", \"start_time\": 1, \"keep\": 1}",
    "{\"name\": \"g1\", \"pid\": 1, \"image\": \"/i\", \"memory_mib\": 128, "
    "\"vcpus\": 1, \"accel\": \"tcg\", \"start_time\": 1, \"exit_status\": "
    "256}",
    "{\"name\": \"g1\", \"pid\": 1, \"image\": \"/i\", \"memory_mib\": 128, "
    "\"vcpus\": 1, \"accel\": \"tcg\", \"start_time\": 1, \"core\": \"\"}",
    "{\"name\": \"g1\", \"pid\": 1, \"image\": \"/i\", \"memory_mib\": 128, "
    "\"vcpus\": 1, \"accel\": \"tcg\", \"start_time\": 1, \"supervisor\": "
    "0}",
};

START_TEST(info_read_rejects_corrupt_files)
{
    struct usc_guest_info gi;
    char p[PATH_MAX];

    ck_assert_int_eq(usc_rundir_guest_create("g1"), 0);
    guest_file("g1", USC_RUNDIR_INFO, p, sizeof(p));
    write_file(p, corrupt_infos[_i]);
    gi.pid = 77;
    ck_assert_int_eq(usc_guest_info_read("g1", &gi), -EINVAL);
    ck_assert_int_eq(gi.pid, 0);
}
END_TEST

START_TEST(info_read_accepts_extra_members)
{
    struct usc_guest_info gi;
    char p[PATH_MAX];

    ck_assert_int_eq(usc_rundir_guest_create("g1"), 0);
    guest_file("g1", USC_RUNDIR_INFO, p, sizeof(p));
    write_file(p, "{\"name\": \"g1\", \"pid\": 1, \"image\": \"/i\", "
                  "\"memory_mib\": 64, \"vcpus\": 4, \"accel\": \"kvm\", "
                  "\"start_time\": 0, \"future\": [1]}");
    ck_assert_int_eq(usc_guest_info_read("g1", &gi), 0);
    ck_assert_uint_eq(gi.vcpus, 4);
    ck_assert_str_eq(gi.accel, "kvm");
}
END_TEST

START_TEST(info_optional_members_round_trip)
{
    struct usc_guest_info gi = sample("g1"), back;

    ck_assert_int_eq(usc_rundir_guest_create("g1"), 0);
    /* Absent: empty, and no exit status yet. */
    ck_assert_int_eq(usc_guest_info_write(&gi), 0);
    ck_assert_int_eq(usc_guest_info_read("g1", &back), 0);
    ck_assert_str_eq(back.debug, "");
    ck_assert_str_eq(back.state, "");
    ck_assert_int_eq(back.exit_status, -1);
    ck_assert_int_eq(back.supervisor, 0);
    snprintf(gi.boot, sizeof(gi.boot), "multiboot");
    snprintf(gi.debug, sizeof(gi.debug), "/images/app.dbg");
    snprintf(gi.state, sizeof(gi.state), USC_GUEST_CRASHED);
    snprintf(gi.reason, sizeof(gi.reason), "Solo5 trap: type=#PF");
    snprintf(gi.core, sizeof(gi.core), "/run/x/.cores/g1.core");
    gi.supervisor = 321;
    gi.keep = 1;
    gi.exit_status = 41;
    ck_assert_int_eq(usc_guest_info_write(&gi), 0);
    ck_assert_int_eq(usc_guest_info_read("g1", &back), 0);
    ck_assert_str_eq(back.boot, "multiboot");
    ck_assert_str_eq(back.debug, "/images/app.dbg");
    ck_assert_str_eq(back.state, USC_GUEST_CRASHED);
    ck_assert_str_eq(back.reason, "Solo5 trap: type=#PF");
    ck_assert_str_eq(back.core, "/run/x/.cores/g1.core");
    ck_assert_int_eq(back.supervisor, 321);
    ck_assert_int_eq(back.keep, 1);
    ck_assert_int_eq(back.exit_status, 41);
    gi.exit_status = 300;
    ck_assert_int_eq(usc_guest_info_write(&gi), -EINVAL);
}
END_TEST

START_TEST(mem_release_frees_the_ram_file)
{
    char mem[PATH_MAX], target[PATH_MAX];
    ssize_t n;

    ck_assert_int_eq(usc_rundir_guest_create("g1"), 0);
    ck_assert_int_eq(usc_rundir_guest_mem("g1"), 0);
    guest_file("g1", USC_RUNDIR_MEM, mem, sizeof(mem));
    /* A symlink into /dev/shm unless the run directory is on a tmpfs. */
    n = readlink(mem, target, sizeof(target) - 1);
    target[n > 0 ? n : 0] = '\0';
    ck_assert_int_eq(access(n > 0 ? target : mem, F_OK), 0);
    ck_assert_int_eq(usc_rundir_guest_mem_release("g1"), 0);
    if (n > 0)
        ck_assert_int_ne(access(target, F_OK), 0);
    ck_assert_int_ne(access(mem, F_OK), 0);
    /* Again, and for a guest without one: nothing to do. */
    ck_assert_int_eq(usc_rundir_guest_mem_release("g1"), 0);
    ck_assert_int_eq(usc_rundir_guest_remove("g1"), 0);
}
END_TEST

START_TEST(info_read_rejects_huge_and_odd_files)
{
    struct usc_guest_info gi;
    char p[PATH_MAX], victim[PATH_MAX];
    FILE *f;

    ck_assert_int_eq(usc_rundir_guest_create("g1"), 0);
    guest_file("g1", USC_RUNDIR_INFO, p, sizeof(p));

    f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputc('[', f);
    for (int i = 0; i < 100000; i++)
        fputs("1,", f);
    fputs("1]", f);
    fclose(f);
    ck_assert_int_eq(usc_guest_info_read("g1", &gi), -EINVAL);

    /* A symlink could point anywhere: not followed. */
    unlink(p);
    snprintf(victim, sizeof(victim), "%s/elsewhere.json", base);
    write_file(victim, "{}");
    ck_assert_int_eq(symlink(victim, p), 0);
    ck_assert_int_eq(usc_guest_info_read("g1", &gi), -EINVAL);

    unlink(p);
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    ck_assert_int_eq(usc_guest_info_read("g1", &gi), -EINVAL);
}
END_TEST

/* ---- the QEMU process --------------------------------------------------- */

START_TEST(pid_alive_needs_the_guest_name)
{
    pid_t pid = fork();
    int status;

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "sleep 30; exit 0", "sh", "-name", "g1",
              (char *)NULL);
        _exit(127);
    }
    /* The child's cmdline is the test's until it has exec'd. */
    for (int i = 0; i < 500 && !usc_guest_pid_alive(pid, "g1"); i++)
        usleep(10000);
    ck_assert(usc_guest_pid_alive(pid, "g1"));
    ck_assert(!usc_guest_pid_alive(pid, "g2"));
    ck_assert(!usc_guest_pid_alive(getpid(), "g1"));
    ck_assert(!usc_guest_pid_alive(0, "g1"));
    ck_assert(!usc_guest_pid_alive(-1, "g1"));
    ck_assert(!usc_guest_pid_alive((int64_t)1 << 40, "g1"));

    /* A zombie is not alive. */
    kill(pid, SIGKILL);
    for (int i = 0; i < 500 && usc_guest_pid_alive(pid, "g1"); i++)
        usleep(10000);
    ck_assert(!usc_guest_pid_alive(pid, "g1"));
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(!usc_guest_pid_alive(pid, "g1"));
}
END_TEST

static Suite *rundir_suite(void)
{
    Suite *s = suite_create("rundir");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, names_follow_the_pattern);
    tcase_add_test(tc, path_comes_from_the_environment);
    tcase_add_test(tc, guest_paths_join_folder_and_file);
    tcase_add_test(tc, check_creates_the_directory_0700);
    tcase_add_test(tc, check_refuses_open_permissions);
    tcase_add_test(tc, check_refuses_another_owner);
    tcase_add_test(tc, check_refuses_a_file);
    tcase_add_test(tc, guest_create_makes_a_private_folder);
    tcase_add_test(tc, guest_create_refuses_socket_paths_too_long);
    tcase_add_test(tc, guest_mem_is_on_a_tmpfs);
    tcase_add_test(tc, guest_mem_in_a_tmpfs_rundir_is_a_file);
    tcase_add_test(tc, guest_remove_takes_everything);
    tcase_add_test(tc, guest_remove_never_follows_a_foreign_link);
    tcase_add_test(tc, list_is_sorted_and_skips_strangers);
    tcase_add_test(tc, list_refuses_a_bad_rundir);
    tcase_add_test(tc, info_round_trips);
    tcase_add_test(tc, info_write_checks_fields);
    tcase_add_loop_test(
        tc, info_read_rejects_corrupt_files, 0,
        (int)(sizeof(corrupt_infos) / sizeof(corrupt_infos[0])));
    tcase_add_test(tc, info_read_accepts_extra_members);
    tcase_add_test(tc, info_optional_members_round_trip);
    tcase_add_test(tc, mem_release_frees_the_ram_file);
    tcase_add_test(tc, info_read_rejects_huge_and_odd_files);
    tcase_add_test(tc, pid_alive_needs_the_guest_name);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rundir_suite());
    int failed;

    /* Tests change the environment and the umask: one process each. */
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
