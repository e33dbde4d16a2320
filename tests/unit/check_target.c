/* Unit tests of the TARGET spec parser, resolver and the facade's choices. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rundir.h"
#include "target.h"

#define BASE_TEMPLATE "/tmp/check_target.XXXXXX"

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

/* A scratch base per test, the run directory base/run, and cwd = base. */
static void setup(void)
{
    memcpy(base, BASE_TEMPLATE, sizeof(base));
    ck_assert_ptr_nonnull(mkdtemp(base));
    snprintf(run, sizeof(run), "%s/run", base);
    setenv("UNISCOPE_RUNDIR", run, 1);
    ck_assert_int_eq(chdir(base), 0);
}

static void teardown(void)
{
    nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write (len) bytes of (data) to (name) under base; its path in (path). */
static void make_file(const char *name, const void *data, size_t len,
                      char *path, size_t size)
{
    int fd;

    snprintf(path, size, "%s/%s", base, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* An ELF header of (type), enough for the parser's look at the file. */
static void make_elf(const char *name, int type, char *path, size_t size)
{
    unsigned char h[64] = {0x7f, 'E', 'L', 'F', 2, 1, 1};

    h[16] = (unsigned char)type;
    make_file(name, h, sizeof(h), path, size);
}

static struct usc_target_spec spec;

static int parse(const char *text)
{
    return usc_target_spec_parse(text, &spec);
}

/* ---- NAME --------------------------------------------------------------- */

START_TEST(name_form)
{
    char n63[64];

    ck_assert_int_eq(parse("demo"), 0);
    ck_assert_int_eq(spec.kind, USC_TARGET_NAME);
    ck_assert_str_eq(spec.name, "demo");
    ck_assert_str_eq(spec.qmp, "");
    ck_assert_int_eq(spec.domid, -1);
    ck_assert_int_eq(parse("Demo-1.2_x"), 0);
    ck_assert_str_eq(spec.name, "Demo-1.2_x");
    memset(n63, 'n', 63);
    n63[63] = '\0';
    ck_assert_int_eq(parse(n63), 0);
    ck_assert_str_eq(spec.name, n63);
}
END_TEST

static const char *const bad_specs[] = {
    "",
    "-demo",
    ".demo",
    "_demo",
    "de mo",
    "de/mo",
    "demo!",
    "d\xc3\xa9mo",
    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
    "/no/such/file",
    "./nosuch",
    "qemu:",
    "qemu:,",
    "qemu:/q,",
    "qemu:/q,,mem=/m",
    "qemu:/q,mem=",
    "qemu:/q,gdb=",
    "qemu:/q,mem",
    "qemu:/q,foo=/x",
    "qemu:/q,MEM=/m",
    "qemu:/q,mem=/a,mem=/b",
    "qemu:/q,gdb=/a,gdb=/b",
    "qemu:,gdb=/g",
    "xen:",
    "xen:-1",
    "xen:32752",
    "xen:99999",
    "xen:123456",
    "xen:1 ",
    "xen:web 1",
    "xen:-web",
    "core:",
    "unknown:thing",
    "QEMU:/q",
};

START_TEST(bad_forms_are_einval)
{
    spec.kind = USC_TARGET_QEMU;
    ck_assert_int_eq(parse(bad_specs[_i]), -EINVAL);
    /* A failed parse leaves nothing half-filled. */
    ck_assert_int_eq(spec.kind, 0);
    ck_assert_str_eq(spec.qmp, "");
    ck_assert_int_eq(spec.domid, -1);
}
END_TEST

START_TEST(null_arguments_are_einval)
{
    ck_assert_int_eq(parse(NULL), -EINVAL);
    ck_assert_int_eq(usc_target_spec_parse("demo", NULL), -EINVAL);
    ck_assert_int_eq(usc_target_spec_resolve(NULL), -EINVAL);
}
END_TEST

/* ---- qemu: -------------------------------------------------------------- */

START_TEST(qemu_form)
{
    ck_assert_int_eq(parse("qemu:/run/q.sock"), 0);
    ck_assert_int_eq(spec.kind, USC_TARGET_QEMU);
    ck_assert_str_eq(spec.qmp, "/run/q.sock");
    ck_assert_str_eq(spec.mem, "");
    ck_assert_str_eq(spec.gdb, "");

    ck_assert_int_eq(parse("qemu:/q,mem=/dev/shm/m,gdb=/g"), 0);
    ck_assert_str_eq(spec.qmp, "/q");
    ck_assert_str_eq(spec.mem, "/dev/shm/m");
    ck_assert_str_eq(spec.gdb, "/g");

    ck_assert_int_eq(parse("qemu:rel.sock,gdb=g.sock,mem=m=x"), 0);
    ck_assert_str_eq(spec.qmp, "rel.sock");
    ck_assert_str_eq(spec.gdb, "g.sock");
    ck_assert_str_eq(spec.mem, "m=x");
}
END_TEST

START_TEST(qemu_form_by_ram_file_alone)
{
    ck_assert_int_eq(parse("qemu:,mem=/m"), 0);
    ck_assert_int_eq(spec.kind, USC_TARGET_QEMU);
    ck_assert_str_eq(spec.qmp, "");
    ck_assert_str_eq(spec.mem, "/m");
    ck_assert_int_eq(parse("qemu:,mem=/m,gdb=/g"), 0);
    ck_assert_str_eq(spec.gdb, "/g");
}
END_TEST

START_TEST(qemu_paths_must_fit)
{
    static char text[PATH_MAX + 64];
    size_t n = strlen("qemu:");

    memcpy(text, "qemu:", n);
    memset(text + n, 'p', PATH_MAX);
    text[n + PATH_MAX] = '\0';
    ck_assert_int_eq(parse(text), -EINVAL);
    text[n + PATH_MAX - 1] = '\0';
    ck_assert_int_eq(parse(text), 0);
    ck_assert_uint_eq(strlen(spec.qmp), PATH_MAX - 1);
}
END_TEST

/* ---- xen: --------------------------------------------------------------- */

START_TEST(xen_form)
{
    ck_assert_int_eq(parse("xen:0"), 0);
    ck_assert_int_eq(spec.kind, USC_TARGET_XEN);
    ck_assert_int_eq(spec.domid, 0);
    ck_assert_int_eq(parse("xen:12"), 0);
    ck_assert_int_eq(spec.domid, 12);
    ck_assert_int_eq(parse("xen:32751"), 0);
    ck_assert_int_eq(spec.domid, 32751);
    ck_assert_int_eq(parse("xen:web-1"), 0);
    ck_assert_int_eq(spec.kind, USC_TARGET_XEN);
    ck_assert_int_eq(spec.domid, -1);
    ck_assert_str_eq(spec.name, "web-1");
    ck_assert_int_eq(parse("xen:1web"), 0);
    ck_assert_str_eq(spec.name, "1web");
}
END_TEST

/* ---- pid: --------------------------------------------------------------- */

START_TEST(pid_form)
{
    ck_assert_int_eq(parse("pid:4242"), 0);
    ck_assert_int_eq(spec.kind, USC_TARGET_PID);
    ck_assert_int_eq(spec.pid, 4242);
    ck_assert_str_eq(spec.gdb, "");
    ck_assert_uint_eq(spec.nram, 0);
    ck_assert_int_eq(parse("pid:7,gdb=unix:/run/fc/gdb.sock"), 0);
    ck_assert_str_eq(spec.gdb, "/run/fc/gdb.sock");
    ck_assert_int_eq(parse("pid:7,gdb=/run/gdb.sock"), 0);
    ck_assert_str_eq(spec.gdb, "/run/gdb.sock");
    ck_assert_int_eq(parse("pid:7,gdb=localhost:1234"), 0);
    ck_assert_str_eq(spec.gdb, "tcp:localhost:1234");
    ck_assert_int_eq(parse("pid:7,gdb=[::1]:1234"), 0);
    ck_assert_str_eq(spec.gdb, "tcp:[::1]:1234");
    ck_assert_int_eq(parse("pid:9,ram=7f6997e00000:64M"), 0);
    ck_assert_uint_eq(spec.nram, 1);
    ck_assert_uint_eq(spec.ram[0].hva, 0x7f6997e00000ull);
    ck_assert_uint_eq(spec.ram[0].size, 64ull << 20);
    ck_assert_uint_eq(spec.ram[0].gpa, 0);
    ck_assert_int_eq(
        parse("pid:9,ram=0x7f0000000000:0xc0000000,ram=7f00c0000000:1G:"
              "100000000,gdb=127.0.0.1:1"),
        0);
    ck_assert_uint_eq(spec.nram, 2);
    ck_assert_uint_eq(spec.ram[0].size, 0xc0000000ull);
    ck_assert_uint_eq(spec.ram[1].gpa, 0x100000000ull);
    ck_assert_uint_eq(spec.ram[1].size, 1ull << 30);
    ck_assert_int_eq(parse("pid:9,ram=1000:4096K"), 0);
    ck_assert_uint_eq(spec.ram[0].size, 4ull << 20);
}
END_TEST

START_TEST(bad_pid_forms_are_einval)
{
    static const char *const bad[] = {
        "pid:",
        "pid:0",
        "pid:-1",
        "pid:12x",
        "pid:99999999999",
        "pid:1,",
        "pid:1,gdb=",
        "pid:1,gdb=host",
        "pid:1,gdb=host:",
        "pid:1,gdb=host:12345678",
        "pid:1,gdb=host:http",
        "pid:1,gdb=a:1,gdb=b:2",
        "pid:1,mem=/x",
        "pid:1,ram=",
        "pid:1,ram=1000",
        "pid:1,ram=1000:",
        "pid:1,ram=1000:0",
        "pid:1,ram=zz:1M",
        "pid:1,ram=1000:1Q",
        "pid:1,ram=1000:1M:",
        "pid:1,ram=1000:1M:xyz",
        "pid:1,ram=ffffffffffffffff:2",
        "pid:1,ram=1000:1M:ffffffffffffffff",
        "pid:1,ram=1000:99999999999999999999",
        "pid:1,ram=12345678901234567:1M",
        ("pid:1,ram=1:1,ram=2:1,ram=3:1,ram=4:1,ram=5:1,ram=6:1,ram=7:1,"
         "ram=8:1,ram=9:1"),
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(parse(bad[i]) == -EINVAL, "%s parsed", bad[i]);
}
END_TEST

/* ---- core: and bare core files ------------------------------------------ */

START_TEST(core_form)
{
    ck_assert_int_eq(parse("core:/var/crash/guest.core"), 0);
    ck_assert_int_eq(spec.kind, USC_TARGET_CORE);
    ck_assert_str_eq(spec.core, "/var/crash/guest.core");
    /* Not looked at: opening reports a missing file. */
    ck_assert_int_eq(parse("core:relative"), 0);
    ck_assert_str_eq(spec.core, "relative");
}
END_TEST

START_TEST(bare_elf_path_is_a_core)
{
    char path[PATH_MAX];

    make_elf("vm.core", 4, path, sizeof(path));
    ck_assert_int_eq(parse(path), 0);
    ck_assert_int_eq(spec.kind, USC_TARGET_CORE);
    ck_assert_str_eq(spec.core, path);

    /* Any ELF magic at a path that cannot be a name. */
    make_file("magic-only", "\177ELF", 4, path, sizeof(path));
    ck_assert_int_eq(parse(path), 0);
    ck_assert_int_eq(spec.kind, USC_TARGET_CORE);

    /* A core in the working directory wins over a guest of that name. */
    ck_assert_int_eq(parse("vm.core"), 0);
    ck_assert_int_eq(spec.kind, USC_TARGET_CORE);
    ck_assert_str_eq(spec.core, "vm.core");
}
END_TEST

START_TEST(image_named_like_a_guest_stays_a_name)
{
    char path[PATH_MAX];

    make_elf("demo", 2, path, sizeof(path));
    ck_assert_int_eq(parse("demo"), 0);
    ck_assert_int_eq(spec.kind, USC_TARGET_NAME);
    ck_assert_int_eq(parse("./demo"), 0);
    ck_assert_int_eq(spec.kind, USC_TARGET_CORE);
}
END_TEST

START_TEST(other_files_are_not_cores)
{
    char path[PATH_MAX];

    make_file("text", "hello", 5, path, sizeof(path));
    ck_assert_int_eq(parse(path), -EINVAL);
    make_file("empty", "", 0, path, sizeof(path));
    ck_assert_int_eq(parse(path), -EINVAL);
    ck_assert_int_eq(parse(base), -EINVAL);
    /* A plain file named like a guest is the guest. */
    ck_assert_int_eq(parse("text"), 0);
    ck_assert_int_eq(spec.kind, USC_TARGET_NAME);
}
END_TEST

START_TEST(fifo_does_not_block_the_parse)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/fifo", base);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    ck_assert_int_eq(parse(path), -EINVAL);
}
END_TEST

/* ---- resolving names ---------------------------------------------------- */

START_TEST(resolve_finds_the_guest_files)
{
    char want[PATH_MAX];

    ck_assert_int_eq(usc_rundir_guest_create("g1"), 0);
    ck_assert_int_eq(parse("g1"), 0);
    ck_assert_int_eq(usc_target_spec_resolve(&spec), 0);
    ck_assert_int_eq(spec.kind, USC_TARGET_QEMU);
    ck_assert_str_eq(spec.name, "g1");
    snprintf(want, sizeof(want), "%s/g1/qmp.sock", run);
    ck_assert_str_eq(spec.qmp, want);
    snprintf(want, sizeof(want), "%s/g1/gdb.sock", run);
    ck_assert_str_eq(spec.gdb, want);
    snprintf(want, sizeof(want), "%s/g1/mem", run);
    ck_assert_str_eq(spec.mem, want);
}
END_TEST

START_TEST(resolve_unknown_name_is_enoent)
{
    ck_assert_int_eq(parse("nosuch"), 0);
    ck_assert_int_eq(usc_target_spec_resolve(&spec), -ENOENT);
    ck_assert_int_eq(usc_rundir_guest_create("g1"), 0);
    ck_assert_int_eq(usc_target_spec_resolve(&spec), -ENOENT);
}
END_TEST

START_TEST(resolve_refuses_a_bad_rundir)
{
    ck_assert_int_eq(usc_rundir_guest_create("g1"), 0);
    ck_assert_int_eq(chmod(run, 0755), 0);
    ck_assert_int_eq(parse("g1"), 0);
    ck_assert_int_eq(usc_target_spec_resolve(&spec), -EPERM);
}
END_TEST

START_TEST(resolve_leaves_other_kinds)
{
    ck_assert_int_eq(parse("qemu:/q"), 0);
    ck_assert_int_eq(usc_target_spec_resolve(&spec), 0);
    ck_assert_str_eq(spec.qmp, "/q");
    ck_assert_int_eq(parse("xen:3"), 0);
    ck_assert_int_eq(usc_target_spec_resolve(&spec), 0);
    ck_assert_int_eq(spec.kind, USC_TARGET_XEN);
}
END_TEST

/* ---- the facade --------------------------------------------------------- */

START_TEST(state_names)
{
    ck_assert_str_eq(usc_vm_state_name(USC_VM_UNKNOWN), "unknown");
    ck_assert_str_eq(usc_vm_state_name(USC_VM_RUNNING), "running");
    ck_assert_str_eq(usc_vm_state_name(USC_VM_PAUSED), "paused");
    ck_assert_str_eq(usc_vm_state_name(USC_VM_DEBUG), "debug");
    ck_assert_str_eq(usc_vm_state_name(USC_VM_PANICKED), "panicked");
    ck_assert_str_eq(usc_vm_state_name(USC_VM_SHUTDOWN), "shutdown");
    ck_assert_str_eq(usc_vm_state_name(USC_VM_DEAD), "dead");
    ck_assert_str_eq(usc_vm_state_name((enum usc_vm_state)99), "unknown");
    ck_assert_str_eq(usc_vm_state_name((enum usc_vm_state) - 1), "unknown");
}
END_TEST

START_TEST(open_reports_spec_errors)
{
    struct usc_target *t = (struct usc_target *)&spec;

    ck_assert_int_eq(usc_target_open("bad name", &t), -EINVAL);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(usc_target_open("nosuch", &t), -ENOENT);
#ifdef USC_HAVE_XEN
    /* built with the Xen backend, but this is not a Xen host's dom0 */
    const int xen_err = -ENODEV;
#else
    const int xen_err = -ENOTSUP;
#endif
    ck_assert_int_eq(usc_target_open("xen:1", &t), xen_err);
    ck_assert_int_eq(usc_target_open("xen:web", &t), xen_err);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(usc_target_open("demo", NULL), -EINVAL);
    ck_assert_int_eq(usc_target_open_spec(NULL, &t), -EINVAL);
    memset(&spec, 0, sizeof(spec));
    ck_assert_int_eq(usc_target_open_spec(&spec, &t), -EINVAL);
}
END_TEST

START_TEST(open_of_missing_core_fails_cleanly)
{
    struct usc_target *t = NULL;
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "core:%s/nosuch.core", base);
    ck_assert_int_lt(usc_target_open(path, &t), 0);
    ck_assert_ptr_null(t);
    make_file("text.core", "not an elf", 10, path, sizeof(path));
    memmove(path + 5, path, strlen(path) + 1);
    memcpy(path, "core:", 5);
    ck_assert_int_lt(usc_target_open(path, &t), 0);
    ck_assert_ptr_null(t);
}
END_TEST

START_TEST(operations_on_null_are_einval)
{
    struct usc_target_info info;
    struct usc_regs regs;
    enum usc_vm_state st;
    char b[4];

    usc_target_close(NULL);
    ck_assert_ptr_null(usc_target_physmem(NULL));
    ck_assert_int_eq(usc_target_describe(NULL, &info), -EINVAL);
    ck_assert_int_eq(usc_target_read_phys(NULL, 0, b, 1), -EINVAL);
    ck_assert_int_eq(usc_target_write_phys(NULL, 0, b, 1), -EINVAL);
    ck_assert_int_eq(usc_target_read_virt(NULL, 0, 0, b, 1), -EINVAL);
    ck_assert_int_eq(usc_target_write_virt(NULL, 0, 0, b, 1), -EINVAL);
    ck_assert_int_eq(usc_target_pause(NULL), -EINVAL);
    ck_assert_int_eq(usc_target_resume(NULL), -EINVAL);
    ck_assert_int_eq(usc_target_run_state(NULL, &st), -EINVAL);
    ck_assert_int_eq(usc_target_get_regs(NULL, 0, &regs), -EINVAL);
    ck_assert_int_eq(usc_target_step(NULL, 0), -EINVAL);
}
END_TEST

/* ---- virtual reads over a core file -------------------------------------- */

#define RAM_SIZE (64u * 1024u)
#define KVBASE 0xffffffff80000000ull /* the PT_LOAD's p_vaddr */
#define MAPPED 0x400000ull           /* two pages mapped at this address */
#define CR3 0x1000ull

static void put64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, sizeof(v));
}

static void put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v));
}

/*
 * Guest RAM with 4-level tables at CR3 mapping MAPPED -> physical 0xa000
 * and MAPPED + 4 KiB -> 0x9000 (backwards, so a read across the two pages
 * must be split), each byte of a page holding its page number and offset.
 */
static void make_ram(unsigned char *ram)
{
    memset(ram, 0, RAM_SIZE);
    put64(ram + 0x1000 + 0 * 8, 0x2000 | 3); /* PML4[0] */
    put64(ram + 0x2000 + 0 * 8, 0x3000 | 3); /* PDPT[0] */
    put64(ram + 0x3000 + 2 * 8, 0x4000 | 3); /* PD[2]: 4 MiB */
    put64(ram + 0x4000 + 0 * 8, 0xa000 | 3); /* PT[0] */
    put64(ram + 0x4000 + 1 * 8, 0x9000 | 3); /* PT[1] */
    for (unsigned i = 0x8000; i < RAM_SIZE; i++)
        ram[i] = (unsigned char)((i >> 12) << 4 ^ (i & 0xf));
}

/* Append an ELF note (name, type, desc) at (p); returns its size. */
static size_t put_note(unsigned char *p, const char *name, uint32_t type,
                       const unsigned char *desc, uint32_t descsz)
{
    uint32_t namesz = (uint32_t)strlen(name) + 1;
    size_t n = 12;

    put32(p, namesz);
    put32(p + 4, descsz);
    put32(p + 8, type);
    memcpy(p + n, name, namesz);
    n += (namesz + 3) & ~3u;
    memcpy(p + n, desc, descsz);
    n += (descsz + 3) & ~3u;
    return n;
}

/*
 * Write an x86-64 ELF core (name) under base: one vCPU, RAM from make_ram
 * in one PT_LOAD at p_paddr 0 and p_vaddr KVBASE, and, when (with_cr),
 * QEMU's note carrying CR0 and CR3. Its "core:" spec goes into (text).
 */
static void make_core(const char *name, int with_cr, char *text, size_t size)
{
    static unsigned char file[4096 + RAM_SIZE];
    unsigned char prstatus[336] = {0}, qemu[440] = {0};
    unsigned char *eh = file, *ph = file + 64, *notes = file + 64 + 2 * 56;
    size_t nlen, off = 4096;
    char path[256]; /* base is short */

    memset(file, 0, sizeof(file));
    put32(qemu, 1);
    put32(qemu + 4, sizeof(qemu));
    put64(qemu + 392, 0x80000011);     /* CR0: PG, ET, PE */
    put64(qemu + 392 + 24, CR3 | 0x8); /* CR3 with a flag bit set */
    nlen = put_note(notes, "CORE", 1, prstatus, sizeof(prstatus));
    if (with_cr)
        nlen += put_note(notes + nlen, "QEMU", 0, qemu, sizeof(qemu));

    memcpy(eh, "\177ELF\2\1\1", 7);
    eh[16] = 4;  /* ET_CORE */
    eh[18] = 62; /* EM_X86_64 */
    put32(eh + 20, 1);
    put64(eh + 32, 64); /* e_phoff */
    eh[52] = 64;        /* e_ehsize */
    eh[54] = 56;        /* e_phentsize */
    eh[56] = 2;         /* e_phnum */
    put32(ph, 4);       /* PT_NOTE */
    put64(ph + 8, (uint64_t)(notes - file));
    put64(ph + 32, nlen);
    put64(ph + 40, nlen);
    put32(ph + 56, 1); /* PT_LOAD */
    put64(ph + 56 + 8, off);
    put64(ph + 56 + 16, KVBASE); /* p_vaddr */
    put64(ph + 56 + 24, 0);      /* p_paddr */
    put64(ph + 56 + 32, RAM_SIZE);
    put64(ph + 56 + 40, RAM_SIZE);
    make_ram(file + off);
    make_file(name, file, sizeof(file), path, size);
    snprintf(text, size, "core:%s", path);
}

START_TEST(read_virt_walks_the_page_tables)
{
    unsigned char ram[RAM_SIZE], got[32], want[32];
    struct usc_target *t = NULL;
    struct usc_regs regs;
    char text[PATH_MAX];

    make_ram(ram);
    make_core("paged.core", 1, text, sizeof(text));
    ck_assert_int_eq(usc_target_open(text, &t), 0);
    ck_assert_int_eq(usc_target_physmem(t)->phys_end, RAM_SIZE);
    ck_assert_int_eq(usc_target_get_regs(t, 0, &regs), 0);
    ck_assert_uint_eq(regs.cr3, CR3 | 0x8);

    ck_assert_int_eq(usc_target_read_virt(t, 0, MAPPED + 0x10, got, 8), 0);
    ck_assert_mem_eq(got, ram + 0xa010, 8);
    /* Across the page boundary: the tail of 0xa000, the head of 0x9000. */
    memcpy(want, ram + 0xaff0, 16);
    memcpy(want + 16, ram + 0x9000, 16);
    ck_assert_int_eq(usc_target_read_virt(t, 0, MAPPED + 0xff0, got, 32), 0);
    ck_assert_mem_eq(got, want, 32);
    ck_assert_int_eq(usc_target_read_virt(t, 0, MAPPED, got, 0), 0);

    ck_assert_int_eq(usc_target_read_virt(t, 0, MAPPED + 0x2000, got, 1),
                     -EFAULT);
    ck_assert_int_eq(usc_target_read_virt(t, 0, MAPPED + 0x1ff8, got, 16),
                     -EFAULT);
    ck_assert_int_eq(usc_target_read_virt(t, 0, 0x0000800000000000ull, got, 1),
                     -EINVAL);
    ck_assert_int_eq(usc_target_read_virt(t, 0, UINT64_MAX, got, 2), -EFAULT);
    ck_assert_int_eq(usc_target_read_virt(t, 1, MAPPED, got, 1), -EINVAL);
    usc_target_close(t);
}
END_TEST

START_TEST(read_virt_of_core_without_cr3_uses_its_vaddrs)
{
    unsigned char ram[RAM_SIZE], got[16];
    struct usc_target *t = NULL;
    char text[PATH_MAX];

    make_ram(ram);
    make_core("flat.core", 0, text, sizeof(text));
    ck_assert_int_eq(usc_target_open(text, &t), 0);
    ck_assert_int_eq(usc_target_read_virt(t, 0, KVBASE + 0x9ff8, got, 16), 0);
    ck_assert_mem_eq(got, ram + 0x9ff8, 16);
    ck_assert_int_eq(usc_target_read_virt(t, 0, MAPPED, got, 1), -EFAULT);
    usc_target_close(t);
}
END_TEST

START_TEST(core_refuses_writes_and_control)
{
    struct usc_target *t = NULL;
    struct usc_regs regs;
    struct usc_stop_event ev;
    enum usc_vm_state st;
    char text[PATH_MAX];
    unsigned char b[4] = {0};

    make_core("ro.core", 1, text, sizeof(text));
    ck_assert_int_eq(usc_target_open(text, &t), 0);
    ck_assert_int_eq(usc_target_read_phys(t, 0x9000, b, 4), 0);
    ck_assert_int_eq(usc_target_write_phys(t, 0x9000, b, 4), -ENOTSUP);
    ck_assert_int_eq(usc_target_write_virt(t, 0, MAPPED, b, 4), -ENOTSUP);
    ck_assert_int_eq(usc_target_pause(t), -ENOTSUP);
    ck_assert_int_eq(usc_target_resume(t), -ENOTSUP);
    ck_assert_int_eq(usc_target_run_state(t, &st), -ENOTSUP);
    ck_assert_int_eq(usc_target_wait_stop(t, 0, &ev), -ENOTSUP);
    ck_assert_int_eq(usc_target_get_regs(t, 0, &regs), 0);
    ck_assert_int_eq(usc_target_set_regs(t, 0, &regs), -ENOTSUP);
    ck_assert_int_eq(usc_target_insert_break(t, USC_BREAK_SW, MAPPED, 1),
                     -ENOTSUP);
    ck_assert_int_eq(usc_target_remove_break(t, USC_BREAK_SW, MAPPED, 1),
                     -ENOTSUP);
    ck_assert_int_eq(usc_target_step(t, 0), -ENOTSUP);
    usc_target_close(t);
}
END_TEST

static Suite *target_suite(void)
{
    Suite *s = suite_create("target");
    TCase *tc = tcase_create("spec");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, name_form);
    tcase_add_loop_test(tc, bad_forms_are_einval, 0,
                        (int)(sizeof(bad_specs) / sizeof(bad_specs[0])));
    tcase_add_test(tc, null_arguments_are_einval);
    tcase_add_test(tc, qemu_form);
    tcase_add_test(tc, qemu_form_by_ram_file_alone);
    tcase_add_test(tc, qemu_paths_must_fit);
    tcase_add_test(tc, xen_form);
    tcase_add_test(tc, pid_form);
    tcase_add_test(tc, bad_pid_forms_are_einval);
    tcase_add_test(tc, core_form);
    tcase_add_test(tc, bare_elf_path_is_a_core);
    tcase_add_test(tc, image_named_like_a_guest_stays_a_name);
    tcase_add_test(tc, other_files_are_not_cores);
    tcase_add_test(tc, fifo_does_not_block_the_parse);
    tcase_add_test(tc, resolve_finds_the_guest_files);
    tcase_add_test(tc, resolve_unknown_name_is_enoent);
    tcase_add_test(tc, resolve_refuses_a_bad_rundir);
    tcase_add_test(tc, resolve_leaves_other_kinds);
    suite_add_tcase(s, tc);

    tc = tcase_create("facade");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, state_names);
    tcase_add_test(tc, open_reports_spec_errors);
    tcase_add_test(tc, open_of_missing_core_fails_cleanly);
    tcase_add_test(tc, operations_on_null_are_einval);
    suite_add_tcase(s, tc);

    tc = tcase_create("virtual");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, read_virt_walks_the_page_tables);
    tcase_add_test(tc, read_virt_of_core_without_cr3_uses_its_vaddrs);
    tcase_add_test(tc, core_refuses_writes_and_control);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(target_suite());
    int failed;

    /* Tests change the working directory and the environment. */
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
