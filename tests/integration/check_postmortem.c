/* Postmortems without help: a panic that records no frame (demo kernel),
 * and Solo5's own crash tests, which have no agent, read from their cores
 * and the crash reports on their consoles. */
#include <check.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_reader.h"
#include "harness.h"
#include "target.h"
#include "uscope_note.h"

#define TOOL_MS 60000
#define OUT_MAX (256u << 10)

static char scratch[64]; /* this test's files */

static void has(const char *out, const char *what)
{
    ck_assert_msg(strstr(out, what), "no '%s' in:\n%s", what, out);
}

/* (a) appears before (b) in (out). */
static void before(const char *out, const char *a, const char *b)
{
    const char *pa = strstr(out, a), *pb = pa ? strstr(pa, b) : NULL;
    ck_assert_msg(pa && pb, "'%s' not before '%s' in:\n%s", a, b, out);
}

/* The line of (out) that starts with (prefix), as a new string. */
static char *line_of(const char *out, const char *prefix)
{
    const char *p = out;
    size_t n = strlen(prefix);

    while (p && *p) {
        if (!strncmp(p, prefix, n)) {
            const char *e = strchr(p, '\n');
            return strndup(p, e ? (size_t)(e - p) : strlen(p));
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    ck_abort_msg("no line '%s' in:\n%s", prefix, out);
    return NULL;
}

/* Frame (k) of the first backtrace in (out) names (fn). */
static void frame_is(const char *out, int k, const char *fn)
{
    char prefix[8];
    snprintf(prefix, sizeof(prefix), "#%d  ", k);
    char *l = line_of(out, prefix);
    ck_assert_msg(strstr(l, fn), "frame %d is not %s: %s\nin:\n%s", k, fn, l,
                  out);
    free(l);
}

static int run(char *out, const char *const *cmd, ...)
{
    va_list ap;

    va_start(ap, cmd);
    int rc = test_vrun(cmd, ap, out, OUT_MAX, TOOL_MS);
    va_end(ap);
    return rc;
}

/* "SCRATCH/NAME" into (buf). */
static const char *in_scratch(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", scratch, name);
    return buf;
}

/* The line number of the first line of (file) holding (text). */
static int source_line(const char *file, const char *text)
{
    char buf[1024];
    FILE *f = fopen(file, "r");
    int n = 0;

    ck_assert_msg(f, "%s: %s", file, strerror(errno));
    while (fgets(buf, sizeof(buf), f)) {
        n++;
        if (strstr(buf, text)) {
            fclose(f);
            return n;
        }
    }
    fclose(f);
    ck_abort_msg("no '%s' in %s", text, file);
    return 0;
}

/* ---- a panic with no frame ---------------------------------------------- */

static int panicked(void *arg)
{
    const char *name = arg;
    struct usc_target *t = NULL;
    struct usc_agent *a = NULL;
    struct usc_agent_status st;
    int ok = 0;

    if (usc_target_open(name, &t) == 0 &&
        usc_agent_open(usc_target_physmem(t), USC_AGENT_SCAN, &a) == 0)
        ok = usc_agent_status(a, &st) == 0 && st.state == USC_STATE_PANICKED;
    usc_agent_close(a);
    usc_target_close(t);
    return ok;
}

/* bt of a thread that panicked in demo_give_up: the halt loop of
 * usca_panic, its caller, the thread's function. */
static void check_give_up_bt(const char *out)
{
    frame_is(out, 0, "usca_panic");
    frame_is(out, 1, "demo_give_up");
    frame_is(out, 2, "aborter");
}

START_TEST(test_panic_without_a_frame_starts_at_its_caller)
{
    static char out[OUT_MAX];
    const char *unigdb[] = {test_env("USC_UNIGDB"), NULL};
    const char *unicore[] = {test_env("USC_UNICORE"), NULL};
    const char *gdb[] = {"gdb", "-batch", "-nx", NULL};
    char core[128];

    test_boot("noframe", 64, "scenario=abort threads=1");
    ck_assert_msg(test_wait_for(panicked, "noframe", TEST_BOOT_MS),
                  "the guest never panicked");

    /* unigdb: gdb stops in the thread that panicked, on its vCPU's
     * registers; bt starts in usca_panic, called from demo_give_up */
    int rc = run(out, unigdb, "noframe", "--gdb", "--", "-batch", "-nx", "-ex",
                 "bt", "-ex", "info threads", NULL);
    ck_assert_msg(rc == 0, "unigdb --gdb: %d: %s", rc, out);
    has(out, "\"aborter\" (panicked: abort: nothing left to try)");
    check_give_up_bt(out);

    /* a core: its NT_PRSTATUS holds the vCPU's own registers */
    in_scratch(core, sizeof(core), "noframe.core");
    rc = run(out, unicore, "dump", "noframe", "-o", core, NULL);
    ck_assert_msg(rc == 0, "unicore dump: %d: %s", rc, out);
    rc = run(out, gdb, test_env("USC_DEMOKERNEL"), core, "-ex", "bt", NULL);
    ck_assert_msg(rc == 0, "gdb: %d: %s", rc, out);
    check_give_up_bt(out);
    /* drgn on the core: its thread of the vCPU the same */
    const char *py[] = {"/usr/bin/python3", "-c",
                        "import drgn, sys\n"
                        "p = drgn.Program()\n"
                        "p.set_core_dump(sys.argv[1])\n"
                        "p.load_debug_info([sys.argv[2]])\n"
                        "print(p.crashed_thread().stack_trace())\n",
                        NULL};
    rc = run(out, py, core, test_env("USC_DEMOKERNEL"), NULL);
    ck_assert_msg(rc == 0, "drgn: %d: %s", rc, out);
    check_give_up_bt(out);
    /* unigdb on the core, its image found from the core's note alone */
    rc = run(out, unigdb, core, "--gdb", "--", "-batch", "-nx", "-ex", "bt",
             NULL);
    ck_assert_msg(rc == 0, "unigdb CORE --gdb: %d: %s", rc, out);
    check_give_up_bt(out);
    /* a wrong image gets the warning; the right one none */
    rc = run(out, unigdb, core, "--gdb", "--image", test_env("USC_UNICORE"),
             "--", "-batch", "-nx", NULL);
    ck_assert_msg(rc == 0, "unigdb CORE --gdb --image: %d: %s", rc, out);
    has(out, "is not the image the guest runs (build-id ");
    rc = run(out, unigdb, core, "--gdb", "--image", test_env("USC_DEMOKERNEL"),
             "--", "-batch", "-nx", NULL);
    ck_assert_msg(rc == 0 && !strstr(out, "warning"), "unigdb: %d: %s", rc,
                  out);
    /* analyze: the panic's place from its vCPU */
    rc = run(out, unicore, "analyze", core, NULL);
    ck_assert_msg(rc == 0, "unicore analyze: %d: %s", rc, out);
    has(out, "software panic raised in demo_give_up (bugs.c:");
    has(out, "called from aborter (bugs.c:");
    has(out, "registers of its vCPU (the panic recorded no frame)");
    before(out,
           "aborter (running), from the vCPU it panicked on:", "demo_give_up");
    ck_assert_int_eq(test_unirun_stop("noframe", NULL, 0), 0);
}
END_TEST

/* ---- a Unikraft boot wrapper ----------------------------------------------
 */

static int agent_up(void *arg)
{
    const char *name = arg;
    struct usc_target *t = NULL;
    struct usc_agent *a = NULL;
    int ok = usc_target_open(name, &t) == 0 &&
             usc_agent_open(usc_target_physmem(t), USC_AGENT_SCAN, &a) == 0;

    usc_agent_close(a);
    usc_target_close(t);
    return ok;
}

/* Unikraft's bootable image is a 32-bit multiboot wrapper, stripped, its
 * build-id in a section no PT_NOTE covers: the tools find the .dbg beside
 * it without --image, and believe its build-id is the agent's. */
START_TEST(test_unikraft_wrapper_leads_to_its_dbg)
{
    static char out[OUT_MAX];
    const char *unirun[] = {test_env("USC_UNIRUN"), NULL};
    const char *unigdb[] = {test_env("USC_UNIGDB"), NULL};
    const char *unicore[] = {test_env("USC_UNICORE"), NULL};
    const char *dbg = test_env("USC_UK_HELLO_DBG");
    char core[128], line[PATH_MAX + 64];

    int rc = run(out, unirun, "--detach", "--accel", "tcg", "--memory", "64",
                 "--name", "ukwrap", test_env("USC_UK_HELLO"), NULL);
    ck_assert_msg(rc == 0, "unirun: %d: %s", rc, out);
    ck_assert_msg(test_wait_for(agent_up, "ukwrap", TEST_BOOT_MS),
                  "no agent in ukwrap");
    rc = run(out, unigdb, "ukwrap", "--gdb", "--", "-batch", "-nx", "-ex",
             "info threads", NULL);
    ck_assert_msg(rc == 0, "unigdb --gdb: %d: %s", rc, out);
    snprintf(line, sizeof(line),
             "unigdb: symbols from %s (recorded; its "
             "debug file beside it)",
             dbg);
    has(out, line);
    ck_assert_msg(!strstr(out, "warning"), "a warning:\n%s", out);
    has(out, "\"worker-0\"");
    in_scratch(core, sizeof(core), "ukwrap.core");
    rc = run(out, unicore, "dump", "ukwrap", "-o", core, NULL);
    ck_assert_msg(rc == 0, "unicore dump: %d: %s", rc, out);
    rc = run(out, unicore, "analyze", core, NULL);
    ck_assert_msg(rc == 0, "unicore analyze: %d: %s", rc, out);
    snprintf(line, sizeof(line),
             "image      %s (recorded; its debug file beside it)", dbg);
    has(out, line);
    ck_assert_int_eq(test_unirun_stop("ukwrap", NULL, 0), 0);
}
END_TEST

/* ---- Solo5's crash tests, no agent -------------------------------------- */

struct solo5_guest {
    const char *test; /* "test_exception" */
    char image[512];  /* its .virtio */
    char source[512]; /* its .c */
    char dir[160];    /* sockets, RAM, console */
    char qmp[200], gdb[200], mem[200], console[200];
    pid_t pid;
    int out_fd; /* QEMU's stdout and stderr */
};

/*
 * Boot Solo5's (test) under QEMU TCG as unirun would, but kept when it
 * stops: no isa-debug-exit, so platform_exit's ACPI power-off pauses the
 * guest (-action shutdown=pause) with its memory and vCPU intact.
 */
static void solo5_boot(struct solo5_guest *g, const char *test)
{
    const char *solo5 = test_env("USC_SOLO5_DIR");
    char ram[400];

    memset(g, 0, sizeof(*g));
    g->test = test;
    snprintf(g->image, sizeof(g->image), "%s/tests/%s/%s.virtio", solo5, test,
             test);
    snprintf(g->source, sizeof(g->source), "%s/tests/%s/%s.c", solo5, test,
             test);
    snprintf(g->dir, sizeof(g->dir), "%s/%s", scratch, test);
    ck_assert_int_eq(mkdir(g->dir, 0700), 0);
    snprintf(g->qmp, sizeof(g->qmp), "%s/qmp.sock", g->dir);
    snprintf(g->gdb, sizeof(g->gdb), "%s/gdb.sock", g->dir);
    snprintf(g->mem, sizeof(g->mem), "/dev/shm/usc-pm-%d-%s", (int)getpid(),
             test);
    snprintf(g->console, sizeof(g->console), "%s/console.log", g->dir);
    snprintf(ram, sizeof(ram),
             "memory-backend-file,id=ram,size=64M,mem-path=%s,share=on",
             g->mem);
    char qmp[256], gdb[256], con[256];
    snprintf(qmp, sizeof(qmp), "unix:%s,server=on,wait=off", g->qmp);
    snprintf(gdb, sizeof(gdb), "unix:%s,server=on,wait=off", g->gdb);
    snprintf(con, sizeof(con), "file,id=con,path=%s", g->console);
    char *argv[] = {"qemu-system-x86_64",
                    "-nodefaults",
                    "-display",
                    "none",
                    "-no-reboot",
                    "-no-shutdown",
                    "-action",
                    "shutdown=pause,reboot=shutdown,panic=pause",
                    "-machine",
                    "pc,memory-backend=ram",
                    "-object",
                    ram,
                    "-m",
                    "64M",
                    "-accel",
                    "tcg",
                    "-qmp",
                    qmp,
                    "-gdb",
                    gdb,
                    "-chardev",
                    con,
                    "-serial",
                    "chardev:con",
                    "-kernel",
                    g->image,
                    NULL};
    g->pid = test_spawn(argv, &g->out_fd);
    ck_assert_int_gt(g->pid, 0);
}

/* Has the guest powered off (Solo5 says so last)? */
static int powered_off(void *arg)
{
    const struct solo5_guest *g = arg;
    char buf[8192];
    FILE *f = fopen(g->console, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

    if (f)
        fclose(f);
    buf[n] = '\0';
    return strstr(buf, "Solo5: ACPI: power off") != NULL;
}

static void solo5_stop(struct solo5_guest *g)
{
    if (g->pid > 0) {
        kill(g->pid, SIGKILL);
        waitpid(g->pid, NULL, 0);
        g->pid = 0;
        close(g->out_fd);
    }
    unlink(g->mem);
}

/* Does the ELF core at (path) carry a USCOPE console note? */
static int has_console_note(const unsigned char *b, size_t len)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)b;

    for (unsigned i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, b + eh->e_phoff + i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_NOTE)
            continue;
        for (size_t off = ph.p_offset; off + 12 <= ph.p_offset + ph.p_filesz;) {
            Elf64_Nhdr nh;
            memcpy(&nh, b + off, sizeof(nh));
            if (nh.n_type == USC_NOTE_TYPE_CONSOLE)
                return 1;
            off += 12 + ((nh.n_namesz + 3) & ~3u) + ((nh.n_descsz + 3) & ~3u);
        }
    }
    (void)len;
    return 0;
}

/*
 * The core at (path) with its guest's console tail as the USCOPE console
 * note, as unirun's cores carry it: when unicore dump of a qemu: target
 * did not write one, add it (one more PT_NOTE at the end of the file, the
 * rest moved down a page).
 */
static void with_console(const char *path, const char *console)
{
    static unsigned char con[USC_NOTE_CONSOLE_MAX];
    FILE *f = fopen(path, "rb");
    struct stat st;
    unsigned char *b, *nb;
    size_t n, conlen;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fstat(fileno(f), &st), 0);
    b = malloc((size_t)st.st_size);
    n = fread(b, 1, (size_t)st.st_size, f);
    fclose(f);
    ck_assert_uint_eq(n, (size_t)st.st_size);
    if (has_console_note(b, n)) {
        free(b);
        return;
    }
    f = fopen(console, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)sizeof(con) ? size - (long)sizeof(con) : 0, SEEK_SET);
    conlen = fread(con, 1, sizeof(con), f);
    fclose(f);

    Elf64_Ehdr eh;
    memcpy(&eh, b, sizeof(eh));
    ck_assert_uint_eq(eh.e_phoff, sizeof(eh));
    size_t ph_end = sizeof(eh) + (size_t)eh.e_phnum * sizeof(Elf64_Phdr);
    size_t shift = 4096, desc = 20 + ((conlen + 3) & ~(size_t)3);
    size_t total = n + shift + desc;
    nb = calloc(1, total);
    memcpy(nb, b, ph_end);
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr *ph = (Elf64_Phdr *)(nb + sizeof(eh)) + i;
        ph->p_offset += shift;
    }
    Elf64_Phdr note = {.p_type = PT_NOTE,
                       .p_offset = n + shift,
                       .p_filesz = desc,
                       .p_align = 4};
    memcpy(nb + ph_end, &note, sizeof(note));
    memcpy(nb + ph_end + shift, b + ph_end, n - ph_end);
    Elf64_Nhdr nh = {sizeof(USC_NOTE_NAME), (Elf64_Word)conlen,
                     USC_NOTE_TYPE_CONSOLE};
    memcpy(nb + n + shift, &nh, sizeof(nh));
    memcpy(nb + n + shift + 12, USC_NOTE_NAME, sizeof(USC_NOTE_NAME));
    memcpy(nb + n + shift + 20, con, conlen);
    eh.e_phnum++;
    if (eh.e_shoff)
        eh.e_shoff += shift;
    memcpy(nb, &eh, sizeof(eh));
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(nb, 1, total, f), total);
    fclose(f);
    free(b);
    free(nb);
}

static void copy_file(const char *from, const char *to)
{
    static char buf[1u << 20];
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    size_t n;

    ck_assert(in && out);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

/* A core of the stopped guest (g), with its console, at (core); the same
 * without the console note at (bare) when not NULL. */
static void solo5_core(struct solo5_guest *g, char *core, size_t cap,
                       const char *bare)
{
    static char out[OUT_MAX];
    const char *unicore[] = {test_env("USC_UNICORE"), NULL};
    char target[700];

    ck_assert_msg(test_wait_for(powered_off, g, TEST_BOOT_MS),
                  "%s never stopped", g->test);
    snprintf(target, sizeof(target), "qemu:%s,mem=%s,gdb=%s", g->qmp, g->mem,
             g->gdb);
    snprintf(core, cap, "%s/%s.core", scratch, g->test);
    int rc = run(out, unicore, "dump", target, "-o", core, NULL);
    ck_assert_msg(rc == 0, "unicore dump %s: %d: %s", g->test, rc, out);
    if (bare)
        copy_file(core, bare);
    with_console(core, g->console);
}

START_TEST(test_solo5_crashes_analyze_from_their_own_reports)
{
    static char out[OUT_MAX];
    const char *unicore[] = {test_env("USC_UNICORE"), NULL};
    struct solo5_guest exc, dump;
    char core[2][256], where[256], bare[256], junk[256];

    solo5_boot(&exc, "test_exception");
    solo5_boot(&dump, "test_dumpcore");
    solo5_core(&exc, core[0], sizeof(core[0]),
               in_scratch(bare, sizeof(bare), "garbage.core"));
    solo5_core(&dump, core[1], sizeof(core[1]), NULL);
    solo5_stop(&exc);
    solo5_stop(&dump);

    /* the trap: the faulting store, found through the trap frame */
    int rc = run(out, unicore, "analyze", core[0], "--image", exc.image, NULL);
    ck_assert_msg(rc == 0, "analyze: %d: %s", rc, out);
    snprintf(where, sizeof(where), "at solo5_app_main (test_exception.c:%d)",
             source_line(exc.source, "*addr_invalid = 1;"));
    has(out, "Solo5 reported a trap: page fault (#PF) ");
    has(out, where);
    has(out, "write to a not-present page");
    has(out, "the fault address (cr2) is 0x400000000");
    has(out, "the trap handler's frame on the stack");
    has(out, "its crash handler gave up at cpu_x86_64.c:182: Fatal trap");
    /* its backtrace starts in the faulting function */
    const char *bt = strstr(out, "crash report (Solo5");
    bt = bt ? strstr(bt, "backtrace\n    #0 ") : NULL;
    ck_assert_msg(bt, "no backtrace in the crash report:\n%s", out);
    char *l = line_of(bt + 10, "    #0 ");
    ck_assert_msg(strstr(l, "solo5_app_main+"), "frame 0: %s", l);
    free(l);
    /* the console tail */
    before(out, "console (its last", "**** Solo5 standalone test_exception");
    has(out, "| Solo5: ABORT: cpu_x86_64.c:182: Fatal trap");
    /* --json carries it */
    rc = run(out, unicore, "analyze", core[0], "--image", exc.image, "--json",
             NULL);
    ck_assert_int_eq(rc, 0);
    has(out, "\"crash_report\": {");
    has(out, "\"unikernel\": \"Solo5\"");
    has(out, "\"trap_frame\": {");
    has(out, "\"source\": \"the core's console note\"");

    /* the abort: where solo5_abort was called */
    rc = run(out, unicore, "analyze", core[1], "--image", dump.image, NULL);
    ck_assert_msg(rc == 0, "analyze: %d: %s", rc, out);
    snprintf(where, sizeof(where),
             "solo5_abort was called from solo5_app_main (test_dumpcore.c:%d)",
             source_line(dump.source, "solo5_abort();"));
    has(out, "Solo5 aborted: solo5_abort() called");
    has(out, where);
    has(out, "| Solo5: solo5_abort() called");

    /* unirun's own core of the crash (it keeps crashed guests): found
     * again by the image it recorded, no --image needed */
    const char *unirun[] = {test_env("USC_UNIRUN"), NULL};
    rc = run(out, unirun, "--accel", "tcg", "--memory", "64", "--name", "pmexc",
             exc.image, NULL);
    const char *kept = strstr(out, "its core: ");
    ck_assert_msg(rc != 0 && kept, "unirun %s: %d: %s", exc.image, rc, out);
    char *kept_core = strndup(kept + 10, strcspn(kept + 10, " \n"));
    rc = run(out, unicore, "analyze", kept_core, NULL);
    free(kept_core);
    ck_assert_msg(rc == 0, "analyze of unirun's core: %d: %s", rc, out);
    snprintf(where, sizeof(where), "at solo5_app_main (test_exception.c:%d)",
             source_line(exc.source, "*addr_invalid = 1;"));
    has(out, where);
    has(out, "(recorded)");

    /* a console of lines that look like a crash report but are garbage:
     * said so, nothing believed, no crash of the tool */
    FILE *f = fopen(in_scratch(junk, sizeof(junk), "junk.log"), "w");
    ck_assert_ptr_nonnull(f);
    fputs("Solo5: trap: type=#PF ec=0xzz rip=0x105fe2\n"
          "Solo5: trap: type=#PF rip=0x99999999999999999999\n"
          "Solo5: ABORT: :: Fatal\n"
          "CRIT: RIP: 00000000zz127072 CS: 0008\n"
          "CRIT: RAX: 1 RAX: 2\n",
          f);
    fclose(f);
    with_console(bare, junk);
    rc = run(out, unicore, "analyze", bare, "--image", exc.image, NULL);
    ck_assert_msg(rc == 0, "analyze of garbage: %d: %s", rc, out);
    has(out, "the console has 5 line(s) that look like a crash report but "
             "do not parse: garbage, not believed");
    ck_assert_msg(!strstr(out, "reported a trap"), "believed:\n%s", out);
}
END_TEST

/* ---- fixture ------------------------------------------------------------- */

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
    test_rundir_fixture_setup();
    snprintf(scratch, sizeof(scratch), "/tmp/usc-pm-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(scratch));
}

static void teardown(void)
{
    test_rundir_teardown();
    if (scratch[0])
        nftw(scratch, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    TCase *tc;
    Suite *s = test_suite("postmortem", "postmortem", 240, &tc);
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_panic_without_a_frame_starts_at_its_caller);
    tcase_add_test(tc, test_solo5_crashes_analyze_from_their_own_reports);
    tcase_add_test(tc, test_unikraft_wrapper_leads_to_its_dbg);
    return test_run_suite(s);
}
