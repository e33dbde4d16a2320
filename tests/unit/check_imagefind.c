/* Unit tests of finding an image's symbols (lib/imagefind, lib/elfimage):
 * build-ids in sections, boot wrappers and their .dbg, wrong and corrupt
 * files, .build-id trees and debuginfod, on copies of this test's own ELF
 * file. */
#include <check.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "elfimage.h"
#include "imagefind.h"

static char dir[64];        /* this test's files */
static unsigned char *self; /* this test program's ELF file */
static size_t self_len;
static uint8_t self_id[USC_BUILD_ID_MAX];
static size_t self_id_len;

/* The candidates passed over, as "why:basename;" */
static char skips[4096];

static void on_skip(void *arg, const char *path, enum usc_image_skip why,
                    int err)
{
    const char *base = strrchr(path, '/');
    size_t n = strlen(skips);

    (void)arg;
    (void)err;
    snprintf(skips + n, sizeof(skips) - n, "%d:%s;", (int)why,
             base ? base + 1 : path);
}

static const char *in_dir(char *buf, const char *name)
{
    snprintf(buf, PATH_MAX, "%s/%s", dir, name);
    return buf;
}

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static void mkdirs(const char *path)
{
    char buf[PATH_MAX];

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *c = buf + 1; *c; c++)
        if (*c == '/') {
            *c = '\0';
            mkdir(buf, 0700);
            *c = '/';
        }
    mkdir(buf, 0700);
}

/* DIR/.build-id/xx/rest.debug for this program's id, made. */
static const char *id_path(char *buf, const char *top)
{
    char hex[2 * USC_BUILD_ID_MAX + 1], d[PATH_MAX];

    usc_build_id_hex(self_id, self_id_len, hex);
    ck_assert_int_lt(snprintf(d, sizeof(d) - 80, "%s/.build-id/%.2s", top, hex),
                     (int)sizeof(d) - 80);
    mkdirs(d);
    ck_assert_int_lt(snprintf(buf, PATH_MAX, "%s/%s.debug", d, hex + 2),
                     PATH_MAX);
    return buf;
}

/* The program headers of (elf), a copy of this program. */
static Elf64_Phdr *phdrs(unsigned char *elf, size_t *n)
{
    Elf64_Ehdr *eh = (Elf64_Ehdr *)elf;

    *n = eh->e_phnum;
    return (Elf64_Phdr *)(elf + eh->e_phoff);
}

/* The offset of the GNU build-id note's header in (elf). */
static size_t build_id_note(const unsigned char *elf, size_t len)
{
    for (size_t off = 0; off + 16 <= len; off += 4) {
        Elf64_Nhdr nh;
        memcpy(&nh, elf + off, sizeof(nh));
        if (nh.n_namesz == 4 && nh.n_type == NT_GNU_BUILD_ID &&
            nh.n_descsz == self_id_len && !memcmp(elf + off + 12, "GNU", 4) &&
            !memcmp(elf + off + 16, self_id, self_id_len))
            return off;
    }
    ck_abort_msg("no build-id note in the test program");
    return 0;
}

/* A 32-bit i386 ELF header alone: a boot wrapper with no symbols. */
static void write_wrapper(const char *path)
{
    Elf32_Ehdr eh;

    memset(&eh, 0, sizeof(eh));
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS32;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_386;
    eh.e_version = EV_CURRENT;
    eh.e_ehsize = sizeof(eh);
    write_file(path, &eh, sizeof(eh));
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    struct usc_elf_probe p;
    FILE *f;

    snprintf(dir, sizeof(dir), "/tmp/usc-imagefind-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    f = fopen("/proc/self/exe", "rb");
    ck_assert_ptr_nonnull(f);
    self = malloc(64u << 20);
    self_len = fread(self, 1, 64u << 20, f);
    fclose(f);
    ck_assert_uint_gt(self_len, 0);
    ck_assert_int_eq(usc_elf_probe_file("/proc/self/exe", &p), 0);
    ck_assert_int_eq(p.build_id_err, 0);
    memcpy(self_id, p.build_id, p.build_id_len);
    self_id_len = p.build_id_len;
    skips[0] = '\0';
}

static void teardown(void)
{
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(self);
}

static struct usc_image_query query(void)
{
    struct usc_image_query q = {
        .build_id = self_id,
        .build_id_len = self_id_len,
        .debug_dirs = "/nonexistent",
        .skipped = on_skip,
    };
    return q;
}

START_TEST(test_build_id_only_in_a_section_is_matched)
{
    char path[PATH_MAX];
    unsigned char *copy = malloc(self_len);
    struct usc_elf_probe p;
    struct usc_image_found found;
    size_t n, hidden = 0;
    Elf64_Phdr *ph;

    /* As Unikraft's linker script has it: no PT_NOTE holds the note. */
    memcpy(copy, self, self_len);
    ph = phdrs(copy, &n);
    for (size_t i = 0; i < n; i++)
        if (ph[i].p_type == PT_NOTE) {
            ph[i].p_type = PT_NULL;
            hidden++;
        }
    ck_assert_uint_gt(hidden, 0);
    write_file(in_dir(path, "secnote.elf"), copy, self_len);
    free(copy);
    ck_assert_int_eq(usc_elf_probe_file(path, &p), 0);
    ck_assert_int_eq(p.build_id_err, 0);
    ck_assert_uint_eq(p.build_id_len, self_id_len);
    ck_assert_mem_eq(p.build_id, self_id, self_id_len);

    struct usc_image_query q = query();
    q.recorded = path;
    ck_assert_int_eq(usc_image_find(&q, &found), 0);
    ck_assert_str_eq(found.path, path);
    ck_assert_str_eq(found.how, "recorded");
    ck_assert_int_eq(found.mismatch, 0);
    ck_assert_str_eq(skips, "");
    /* given, with the same id: no warning either */
    q.recorded = NULL;
    q.given = path;
    ck_assert_int_eq(usc_image_find(&q, &found), 0);
    ck_assert_int_eq(found.mismatch, 0);
}
END_TEST

START_TEST(test_wrapper_leads_to_its_dbg)
{
    char img[PATH_MAX], dbg[PATH_MAX];
    struct usc_elf_probe p;
    struct usc_image_found found;

    write_wrapper(in_dir(img, "app_qemu-x86_64"));
    ck_assert_int_eq(usc_elf_probe_file(img, &p), 0);
    ck_assert_int_eq(p.elfclass, ELFCLASS32);
    struct usc_image_query q = query();
    /* no .dbg beside it: passed over, nothing found */
    q.recorded = img;
    ck_assert_int_eq(usc_image_find(&q, &found), -ENOENT);
    ck_assert_str_eq(skips, "4:app_qemu-x86_64;");
    /* with one: that is what gdb and libdw load */
    write_file(in_dir(dbg, "app_qemu-x86_64.dbg"), self, self_len);
    skips[0] = '\0';
    ck_assert_int_eq(usc_image_find(&q, &found), 0);
    ck_assert_str_eq(found.path, dbg);
    ck_assert_str_eq(found.image, img);
    ck_assert_ptr_nonnull(strstr(found.how, "debug file"));
    ck_assert_str_eq(skips, "");
    /* given, and with the guest's id unknown, the same */
    q = query();
    q.given = img;
    q.build_id_len = 0;
    ck_assert_int_eq(usc_image_find(&q, &found), 0);
    ck_assert_str_eq(found.path, dbg);
    ck_assert_int_eq(found.mismatch, 0);
}
END_TEST

START_TEST(test_wrong_image_is_flagged_or_passed_over)
{
    static const uint8_t other[20] = {1, 2, 3, 4, 5};
    char path[PATH_MAX];
    struct usc_image_found found;

    write_file(in_dir(path, "old.elf"), self, self_len);
    struct usc_image_query q = query();
    q.build_id = other;
    q.build_id_len = sizeof(other);
    /* the user's choice: taken, flagged */
    q.given = path;
    ck_assert_int_eq(usc_image_find(&q, &found), 0);
    ck_assert_int_eq(found.mismatch, 1);
    /* a recorded one that was rebuilt: passed over, said once */
    q.given = NULL;
    q.recorded = path;
    ck_assert_int_eq(usc_image_find(&q, &found), -ENOENT);
    ck_assert_str_eq(skips, "3:old.elf;");
    /* a guest with no id: no mismatch can be told */
    q.build_id_len = 0;
    skips[0] = '\0';
    ck_assert_int_eq(usc_image_find(&q, &found), 0);
    ck_assert_int_eq(found.mismatch, 0);
    ck_assert_str_eq(skips, "");
    /* a given file that is no image is an error of its own */
    q.given = "/etc/hostname";
    ck_assert_int_eq(usc_image_find(&q, &found), -ENOEXEC);
    q.given = "/nonexistent/image";
    ck_assert_int_eq(usc_image_find(&q, &found), -ENOENT);
}
END_TEST

START_TEST(test_corrupt_dbg_and_bad_note_go_to_the_next_lookup)
{
    char img[PATH_MAX], dbg[PATH_MAX], bad[PATH_MAX], core[PATH_MAX];
    char kept[PATH_MAX];
    unsigned char *copy = malloc(self_len);
    struct usc_image_found found;
    uint32_t two = 2;

    write_wrapper(in_dir(img, "app"));
    write_file(in_dir(dbg, "app.dbg"), self, 100); /* cut short */
    /* a build-id note of the wrong size */
    memcpy(copy, self, self_len);
    memcpy(copy + build_id_note(self, self_len) + 4, &two, 4);
    write_file(in_dir(bad, "badnote.elf"), copy, self_len);
    free(copy);
    struct usc_elf_probe p;
    ck_assert_int_eq(usc_elf_probe_file(bad, &p), 0);
    ck_assert_int_eq(p.build_id_err, -EBADMSG);
    /* the next lookup: the core's folder's .build-id tree */
    in_dir(core, "guest.core");
    write_file(id_path(kept, dir), self, self_len);

    struct usc_image_query q = query();
    q.recorded = img;
    q.core = core;
    ck_assert_int_eq(usc_image_find(&q, &found), 0);
    ck_assert_str_eq(found.path, kept);
    ck_assert_ptr_nonnull(strstr(found.how, "build-id"));
    ck_assert_str_eq(skips, "1:app.dbg;4:app;");
    skips[0] = '\0';
    q.recorded = bad;
    ck_assert_int_eq(usc_image_find(&q, &found), 0);
    ck_assert_str_eq(found.path, kept);
    ck_assert_str_eq(skips, "2:badnote.elf;");
    /* given, a malformed note is refused */
    q.recorded = NULL;
    q.given = bad;
    ck_assert_int_eq(usc_image_find(&q, &found), -EBADMSG);
}
END_TEST

START_TEST(test_usr_lib_debug_style_tree)
{
    char top[PATH_MAX], kept[PATH_MAX], dirs[2 * PATH_MAX];
    struct usc_image_found found;

    in_dir(top, "debug");
    write_file(id_path(kept, top), self, self_len);
    struct usc_image_query q = query();
    snprintf(dirs, sizeof(dirs), "/nonexistent:%s", top);
    q.debug_dirs = dirs;
    ck_assert_int_eq(usc_image_find(&q, &found), 0);
    ck_assert_str_eq(found.path, kept);
    /* a file there with another id is not believed */
    q.build_id = (const uint8_t *)"0123456789abcdefghij";
    ck_assert_int_eq(usc_image_find(&q, &found), -ENOENT);
}
END_TEST

/* A static HTTP server on loopback, serving (root); its port in (*port). */
static pid_t http_server(const char *root, int *port)
{
    static const char script[] =
        "import functools,http.server,sys\n"
        "h=functools.partial(http.server.SimpleHTTPRequestHandler,"
        "directory=sys.argv[1])\n"
        "s=http.server.HTTPServer(('127.0.0.1',0),h)\n"
        "print(s.server_address[1],flush=True)\n"
        "s.serve_forever()\n";
    int fds[2];
    char buf[16] = "";
    pid_t pid;

    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(fds[1], 1);
        dup2(null, 2);
        close(fds[0]);
        execlp("python3", "python3", "-c", script, root, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    /* blocks until the server listens (or python dies: end of file); the
     * whole line, so that python never writes into a closed pipe */
    size_t got = 0;
    while (got < sizeof(buf) - 1 && !memchr(buf, '\n', got)) {
        ssize_t r = read(fds[0], buf + got, sizeof(buf) - 1 - got);
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
    }
    buf[got] = '\0';
    close(fds[0]);
    *port = atoi(buf);
    ck_assert_int_gt(*port, 0);
    return pid;
}

START_TEST(test_debuginfod_when_urls_are_set)
{
    char root[PATH_MAX], exe[2 * PATH_MAX], cache[PATH_MAX], url[64];
    char hex[2 * USC_BUILD_ID_MAX + 1];
    struct usc_image_found found;
    int port;

    usc_build_id_hex(self_id, self_id_len, hex);
    in_dir(root, "www");
    snprintf(exe, sizeof(exe), "%s/buildid/%s", root, hex);
    mkdirs(exe);
    strcat(exe, "/executable");
    write_file(exe, self, self_len);
    setenv("DEBUGINFOD_CACHE_PATH", in_dir(cache, "cache"), 1);
    struct usc_image_query q = query();
    /* not set: not asked */
    unsetenv("DEBUGINFOD_URLS");
    ck_assert_int_eq(usc_image_find(&q, &found), -ENOENT);
    pid_t server = http_server(root, &port);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    setenv("DEBUGINFOD_URLS", url, 1);
    int err = usc_image_find(&q, &found);
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    ck_assert_msg(err == 0, "%d, passed over: %s", err, skips);
    ck_assert_str_eq(found.how, "from debuginfod");
    ck_assert_uint_eq(found.build_id_len, self_id_len);
    ck_assert_mem_eq(found.build_id, self_id, self_id_len);
    ck_assert_str_eq(skips, "");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("imagefind");
    TCase *tc = tcase_create("imagefind");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_build_id_only_in_a_section_is_matched);
    tcase_add_test(tc, test_wrapper_leads_to_its_dbg);
    tcase_add_test(tc, test_wrong_image_is_flagged_or_passed_over);
    tcase_add_test(tc, test_corrupt_dbg_and_bad_note_go_to_the_next_lookup);
    tcase_add_test(tc, test_usr_lib_debug_style_tree);
    tcase_add_test(tc, test_debuginfod_when_urls_are_set);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
