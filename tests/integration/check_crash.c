/*
 * A unikernel that dies stays examinable: Solo5's own crashing tests (no
 * agent) under unirun leave a core in the run directory with no command
 * from the user; gdb and unigdb show the crash from it, or live with
 * --keep; an orderly exit leaves none; a triple fault keeps its registers.
 */
#include <check.h>
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cores.h"
#include "harness.h"
#include "rundir.h"
#include "target.h"
#include "uscope_note.h"

#define RUN_MS 60000
#define OUT_MAX (64u << 10)

static char out[OUT_MAX];

/* Solo5's test (name), e.g. "test_exception", as built for virtio. */
static const char *solo5(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/tests/%s/%s.virtio", test_env("USC_SOLO5_DIR"), name,
             name);
    ck_assert_msg(access(buf, R_OK) == 0, "%s: not built", buf);
    return buf;
}

/* Run (argv...) to its end, its output in (out); its exit status. */
static int run(const char *first, ...)
{
    char *argv[16];
    va_list ap;
    int n = 0;

    argv[n++] = (char *)first;
    va_start(ap, first);
    while (n < 15 && (argv[n] = va_arg(ap, char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    return test_run(argv, out, sizeof(out), RUN_MS);
}

static void has(const char *text, const char *what)
{
    ck_assert_msg(strstr(text, what), "no \"%s\" in:\n%s", what, text);
}

/* The one kept core of (guest), into (r); fails unless there is exactly
 * one. */
static void the_core(const char *guest, struct usc_core_record *r)
{
    struct usc_core_record *v = NULL;
    size_t n = 0;
    struct stat st;

    ck_assert_int_eq(usc_cores_list(guest, &v, &n), 0);
    ck_assert_msg(n == 1, "%s: %zu kept cores", guest, n);
    *r = v[0];
    free(v);
    ck_assert_int_eq(stat(r->path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
}

/* gdb IMAGE CORE -ex bt, its output in (out). */
static void gdb_bt(const char *image, const char *core)
{
    int rc = run("gdb", "-q", "-nx", "-batch", "-ex", "bt", image, core, NULL);
    ck_assert_msg(rc == 0, "gdb: %d: %s", rc, out);
}

/* No RAM file of guest (name) left under /dev/shm. */
static int ram_released(void *arg)
{
    char prefix[128];
    struct dirent *e;
    int found = 0;
    DIR *d = opendir("/dev/shm");

    snprintf(prefix, sizeof(prefix), "uniscope-%u-%s-", (unsigned)getuid(),
             (const char *)arg);
    while (d && (e = readdir(d)))
        found |= !strncmp(e->d_name, prefix, strlen(prefix));
    if (d)
        closedir(d);
    return !found;
}

/* guest.json of (arg) says how it ended. */
static int ended(void *arg)
{
    struct usc_guest_info gi;

    return usc_guest_info_read(arg, &gi) == 0 &&
           (!strcmp(gi.state, USC_GUEST_CRASHED) ||
            !strcmp(gi.state, USC_GUEST_EXITED)) &&
           !usc_guest_supervised(arg);
}

/* ---- Solo5 test_exception, foreground: the core, gdb, unigdb ----------- */

START_TEST(test_exception_leaves_a_core_gdb_reads)
{
    char image[512], console[USC_NOTE_CONSOLE_MAX + 1], path[512];
    struct usc_core_record r;
    struct usc_note_hdr h;
    size_t len = 0;

    solo5("test_exception", image, sizeof(image));
    /* Solo5 writes 41 to the exit port for every end: a script gets 41. */
    ck_assert_int_eq(run(test_env("USC_UNIRUN"), "--accel", "tcg", "--name",
                         "exc", image, NULL),
                     41);
    has(out, "unirun: exc: crashed: Solo5: trap: type=#PF");
    has(out, "its core: ");
    /* The foreground guest's folder went with it, and its RAM file. */
    ck_assert_int_eq(usc_rundir_guest_path("exc", NULL, path, sizeof(path)), 0);
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert(ram_released("exc"));

    /* The core, in the run directory, recorded as a trap. */
    the_core("exc", &r);
    ck_assert_str_eq(r.kind, "trap");
    ck_assert_int_eq(r.exit_status, 41);
    has(r.image, "test_exception.virtio");
    /* It carries what analyze needs: the image path and the console. */
    ck_assert_int_eq(usc_note_read_file(r.path, &h, NULL, 0, NULL), 0);
    ck_assert_ptr_nonnull(strstr(h.image, "test_exception.virtio"));
    ck_assert_int_eq(
        usc_note_read_console(r.path, console, sizeof(console) - 1, &len), 0);
    console[len] = '\0';
    has(console, "Solo5: trap: type=#PF");
    has(console, "Solo5: ABORT: cpu_x86_64.c");

    /* gdb on it: Solo5's trap path, real frames from real registers. */
    gdb_bt(image, r.path);
    has(out, "cpu_trap_handler");
    has(out, "_abort");
    has(out, "platform_exit");

    /* unicore list names it. */
    ck_assert_int_eq(run(test_env("USC_UNICORE"), "list", "exc", NULL), 0);
    has(out, " exc ");
    has(out, "trap");
    has(out, r.path);

    /* unigdb on the guest that died: its kept core, said in one line. */
    int rc = run(test_env("USC_UNIGDB"), "exc", "--gdb", "--", "-nx", "-batch",
                 "-ex", "bt", NULL);
    ck_assert_msg(rc == 0, "unigdb: %d: %s", rc, out);
    has(out, "unigdb: exc: the guest is gone (it crashed at ");
    has(out, "serving its kept core");
    has(out, "cpu_trap_handler");
    has(out, "platform_exit");
}
END_TEST

/* ---- test_dumpcore detached; test_hello; what unirun refuses ------------ */

START_TEST(test_dumpcore_detached_and_hello_orderly)
{
    char image[512], hello[512];
    struct usc_core_record r;
    struct usc_guest_info gi;
    struct usc_core_record *v;
    size_t n;

    solo5("test_dumpcore", image, sizeof(image));
    ck_assert_int_eq(run(test_env("USC_UNIRUN"), "--accel", "tcg", "--detach",
                         "--name", "dump", image, NULL),
                     0);
    ck_assert_msg(test_wait_for(ended, "dump", RUN_MS), "dump never ended");
    ck_assert_int_eq(usc_guest_info_read("dump", &gi), 0);
    ck_assert_str_eq(gi.state, USC_GUEST_CRASHED);
    ck_assert_str_eq(gi.boot, "multiboot");
    ck_assert_int_eq(gi.exit_status, 41);
    has(gi.reason, "solo5_abort");
    the_core("dump", &r);
    ck_assert_str_eq(gi.core, r.path);
    ck_assert_str_eq(r.kind, "abort");
    /* Its RAM is let go once the core is safe; the record stays. */
    ck_assert_msg(test_wait_for(ram_released, "dump", RUN_MS),
                  "the RAM file of a crashed guest stayed");
    ck_assert_int_eq(test_unirun_list(out, sizeof(out)), 0);
    has(out, "dump crashed");
    has(out, r.path);
    gdb_bt(image, r.path);
    has(out, "solo5_abort");
    has(out, "test_dumpcore.c");
    /* unigdb finds it through guest.json while the folder is there. */
    ck_assert_int_eq(run(test_env("USC_UNIGDB"), "dump", "--gdb", "--", "-nx",
                         "-batch", "-ex", "bt", NULL),
                     0);
    has(out, "serving its kept core");
    has(out, "test_dumpcore.c");
    ck_assert_int_eq(test_unirun_stop("dump", out, sizeof(out)), 0);

    /* An orderly exit: its usual status, no core. */
    solo5("test_hello", hello, sizeof(hello));
    ck_assert_int_eq(run(test_env("USC_UNIRUN"), "--accel", "tcg", "--console",
                         "--name", "hello", hello, "--", "Hello_Solo5", NULL),
                     41);
    has(out, "SUCCESS");
    ck_assert_ptr_null(strstr(out, "crashed"));
    ck_assert_int_eq(usc_cores_list("hello", &v, &n), 0);
    ck_assert_uint_eq(n, 0);
    free(v);

    /* What unirun cannot boot, in one line. */
    snprintf(hello, sizeof(hello), "%s/tests/test_hello/test_hello.hvt",
             test_env("USC_SOLO5_DIR"));
    ck_assert_int_eq(run(test_env("USC_UNIRUN"), "--accel", "tcg", hello, NULL),
                     1);
    has(out, "a Solo5 hvt image");
    has(out, "unirun boots PVH ELFs");
    ck_assert_ptr_null(strchr(out, '\n') ? strchr(strchr(out, '\n') + 1, '\n')
                                         : NULL);
}
END_TEST

/* ---- --keep: the crashed guest, live --------------------------------- */

static int held(void *arg)
{
    struct usc_guest_info gi;

    return usc_guest_info_read(arg, &gi) == 0 &&
           !strcmp(gi.state, USC_GUEST_HELD);
}

START_TEST(test_keep_holds_the_crash_live)
{
    char image[512], path[512];
    struct usc_core_record r;

    solo5("test_exception", image, sizeof(image));
    ck_assert_int_eq(run(test_env("USC_UNIRUN"), "--accel", "tcg", "--detach",
                         "--keep", "--name", "kept", image, NULL),
                     0);
    ck_assert_msg(test_wait_for(held, "kept", RUN_MS), "never held");
    the_core("kept", &r);
    ck_assert_int_eq(test_unirun_list(out, sizeof(out)), 0);
    has(out, "kept shutdown");
    has(out, r.path);

    /* Live: the same frames; continue says why it cannot run. */
    int rc =
        run(test_env("USC_UNIGDB"), "kept", "--gdb", "--", "-nx", "-batch",
            "-ex", "bt", "-ex", "continue", "-ex", "info registers rip", NULL);
    ck_assert_msg(rc == 0, "unigdb: %d: %s", rc, out);
    has(out, "unigdb: kept: the guest has shut down (run state \"shutdown\")");
    has(out, "cpu_trap_handler");
    has(out, "platform_exit");
    has(out, "it cannot run again");
    has(out, "Program stopped.");
    ck_assert_ptr_null(strstr(out, "Connection refused"));
    /* Still held after gdb left; unicore dumps it live. */
    ck_assert(held("kept"));
    ck_assert_int_eq(usc_rundir_guest_path("kept", NULL, path, sizeof(path)),
                     0);
    strcat(path, "/../live.core");
    ck_assert_int_eq(
        run(test_env("USC_UNICORE"), "dump", "kept", "-o", path, NULL), 0);
    has(out, "guest was stopped already");
    unlink(path);
    ck_assert_int_eq(test_unirun_stop("kept", out, sizeof(out)), 0);
    ck_assert(ram_released("kept"));
    the_core("kept", &r); /* the core outlives the guest's folder */
}
END_TEST

/* ---- stops without an agent or a console report ------------------------ */

START_TEST(test_triple_fault_and_pvpanic)
{
    struct usc_core_record r;
    struct usc_target *t;
    struct usc_regs regs;
    char spec[PATH_MAX + 8];

    ck_assert_int_eq(run(test_env("USC_UNIRUN"), "--accel", "tcg", "--name",
                         "triple", test_env("USC_STOPKERNEL_TRIPLE"), NULL),
                     0);
    has(out, "crashed: triple fault");
    the_core("triple", &r);
    ck_assert_str_eq(r.kind, "triple-fault");
    /* The registers of the fault, not of a reset CPU. */
    snprintf(spec, sizeof(spec), "core:%s", r.path);
    ck_assert_int_eq(usc_target_open(spec, &t), 0);
    ck_assert_int_eq(usc_target_get_regs(t, 0, &regs), 0);
    ck_assert_uint_eq(regs.rbx & 0xffffffff, 0x5eedcafe);
    ck_assert_uint_ne(regs.rip, 0xfff0);
    usc_target_close(t);

    ck_assert_int_eq(run(test_env("USC_UNIRUN"), "--accel", "tcg", "--name",
                         "panic", test_env("USC_STOPKERNEL_PVPANIC"), NULL),
                     0);
    has(out, "crashed: guest panic (pvpanic)");
    the_core("panic", &r);
    ck_assert_str_eq(r.kind, "guest-panic");
}
END_TEST

/* ---- SIGKILL while the core is written ---------------------------------- */

/* Every program header's bytes lie inside the file: a core written whole. */
static void core_is_whole(const char *path)
{
    Elf64_Ehdr eh;
    Elf64_Phdr ph;
    struct stat st;
    int fd = open(path, O_RDONLY);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_int_eq(pread(fd, &eh, sizeof(eh), 0), (ssize_t)sizeof(eh));
    ck_assert_int_eq(memcmp(eh.e_ident, ELFMAG, SELFMAG), 0);
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        ck_assert_int_eq(
            pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))),
            (ssize_t)sizeof(ph));
        ck_assert_uint_le(ph.p_offset + ph.p_filesz, (uint64_t)st.st_size);
    }
    close(fd);
    struct usc_note_hdr h;
    ck_assert_int_eq(usc_note_read_file(path, &h, NULL, 0, NULL), 0);
}

/* A temporary core (a dot-file) or a final one in the cores folder. */
static int writing(const char *dir)
{
    struct dirent *e;
    int seen = 0;
    DIR *d = opendir(dir);

    while (d && (e = readdir(d)))
        seen |= !strncmp(e->d_name, ".killed-", 8) ||
                !strncmp(e->d_name, "killed-", 7);
    if (d)
        closedir(d);
    return seen;
}

START_TEST(test_sigkill_while_the_core_is_written)
{
    char image[512], dir[PATH_MAX];
    struct usc_core_record *v;
    int fd, st;
    size_t n;

    solo5("test_exception", image, sizeof(image));
    ck_assert_int_eq(usc_cores_path(dir, sizeof(dir)), 0);
    char *argv[] = {(char *)test_env("USC_UNIRUN"),
                    "--accel",
                    "tcg",
                    "--memory",
                    "512",
                    "--name",
                    "killed",
                    image,
                    NULL};
    pid_t pid = test_spawn(argv, &fd);
    ck_assert_int_gt(pid, 0);
    /* Spin, no pause: the kill must land as the core is being written. */
    int64_t deadline = test_now_ms() + RUN_MS;
    while (!writing(dir) && test_now_ms() < deadline)
        ;
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    close(fd);
    ck_assert_msg(test_now_ms() < deadline, "no core was ever begun");
    /* A complete core under the final name, or none. */
    ck_assert_int_eq(usc_cores_list("killed", &v, &n), 0);
    ck_assert_uint_le(n, 1);
    for (size_t i = 0; i < n; i++)
        core_is_whole(v[i].path);
    free(v);
    /* QEMU went with its supervisor. */
    test_unirun_stop("killed", out, sizeof(out));
}
END_TEST

int main(void)
{
    TCase *tc;
    Suite *s = test_suite("crash", "crash", 240, &tc);

    tcase_add_unchecked_fixture(tc, test_rundir_fixture_setup,
                                test_rundir_teardown);
    tcase_add_test(tc, test_exception_leaves_a_core_gdb_reads);
    tcase_add_test(tc, test_dumpcore_detached_and_hello_orderly);
    tcase_add_test(tc, test_keep_holds_the_crash_live);
    tcase_add_test(tc, test_triple_fault_and_pvpanic);
    tcase_add_test(tc, test_sigkill_while_the_core_is_written);
    return test_run_suite(s);
}
