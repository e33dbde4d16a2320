/* /proc/PID/maps parsing, and where guest RAM lies among the mappings. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procmaps.h"
#include "procram.h"

#define GIB(n) ((uint64_t)(n) << 30)
#define MIB(n) ((uint64_t)(n) << 20)

static struct usc_procmap *m;
static size_t n;

static int parse(const char *text)
{
    free(m);
    m = NULL;
    return usc_procmaps_parse(text, strlen(text), &m, &n);
}

/* ---- the parser --------------------------------------------------------- */

START_TEST(lines_of_every_kind)
{
    static const char text[] =
        "55ff03a3b000-55ff03e42000 r--p 00000000 fe:00 10977317            "
        "       /usr/bin/qemu-system-x86_64\n"
        "55ff237e7000-55ff246b5000 rw-p 00000000 00:00 0                  "
        "        [heap]\n"
        "7f6997e00000-7f699be00000 rw-p 00000000 00:00 0 \n"
        "7f699c000000-7f69dbfff000 rwxp 00000000 00:00 0\n"
        "7f8f80577000-7f8fa0577000 rwxs 00000000 00:01 1277               "
        "        /dev/zero (deleted)\n"
        "7f8fb0000000-7f8fb4000000 rw-s 00000000 00:01 2001 /memfd:guest "
        "ram (deleted)\n"
        "7f8fc0000000-7f8fc1000000 r--s 00001000 00:23 77 /dev/shm/ram\n"
        "7fff0000a000-7fff0000c000 r-xp 00000000 00:00 0 [vdso]\n"
        "7fff0000c000-7fff0000e000 rw-p 00000000 00:00 0 [anon:guest]";

    ck_assert_int_eq(parse(text), 0);
    ck_assert_uint_eq(n, 9);
    ck_assert_uint_eq(m[0].start, 0x55ff03a3b000ull);
    ck_assert_uint_eq(m[0].end, 0x55ff03e42000ull);
    ck_assert_uint_eq(m[0].flags, USC_PROCMAP_READ);
    ck_assert_int_eq(m[0].kind, USC_PROCMAP_FILE);
    ck_assert_uint_eq(m[0].dev_major, 0xfe);
    ck_assert_uint_eq(m[0].inode, 10977317);
    ck_assert_str_eq(m[0].name, "/usr/bin/qemu-system-x86_64");
    ck_assert_int_eq(m[1].kind, USC_PROCMAP_SPECIAL);
    ck_assert_int_eq(m[2].kind, USC_PROCMAP_ANON);
    ck_assert_str_eq(m[2].name, "");
    ck_assert_uint_eq(m[3].flags,
                      USC_PROCMAP_READ | USC_PROCMAP_WRITE | USC_PROCMAP_EXEC);
    ck_assert_int_eq(m[4].kind, USC_PROCMAP_SHMEM);
    ck_assert(m[4].flags & USC_PROCMAP_DELETED);
    ck_assert(m[4].flags & USC_PROCMAP_SHARED);
    ck_assert_str_eq(m[4].name, "/dev/zero");
    ck_assert_int_eq(m[5].kind, USC_PROCMAP_MEMFD);
    ck_assert_str_eq(m[5].name, "/memfd:guest ram");
    ck_assert_int_eq(m[6].kind, USC_PROCMAP_FILE);
    ck_assert_uint_eq(m[6].offset, 0x1000);
    ck_assert_int_eq(m[7].kind, USC_PROCMAP_SPECIAL);
    ck_assert_int_eq(m[8].kind, USC_PROCMAP_ANON);
}
END_TEST

START_TEST(empty_text_has_no_mappings)
{
    ck_assert_int_eq(parse(""), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(usc_procmaps_parse(NULL, 0, &m, &n), 0);
}
END_TEST

START_TEST(malformed_lines_are_eproto)
{
    static const char *const bad[] = {
        "1000-2000 rw-p 0 00:00 0",             /* fine: the control */
        "1000 rw-p 0 00:00 0\n",                /* no end */
        "2000-1000 rw-p 0 00:00 0\n",           /* backwards */
        "1000-1000 rw-p 0 00:00 0\n",           /* empty */
        "1000-2000 rwzp 0 00:00 0\n",           /* bad perms */
        "1000-2000 rw-q 0 00:00 0\n",           /* bad sharing */
        "1000-2000 rw- 0 00:00 0\n",            /* short perms */
        "1000-2000 rw-p 0 00 0\n",              /* no minor */
        "1000-2000 rw-p 0 00:00\n",             /* no inode */
        "1000-2000 rw-p 0 00:00 x\n",           /* not decimal */
        "10000000000000000-2 rw-p 0 00:00 0\n", /* overflow */
        "1000-2000 rw-p 0 100000000:00 0\n",    /* major too big */
        "1000-2000 rw-p 0 00:00 0\n1000-3000 rw-p 0 00:00 0\n", /* overlap */
        "\n",
    };

    ck_assert_int_eq(parse(bad[0]), 0);
    for (size_t i = 1; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(parse(bad[i]) == -EPROTO, "%s parsed", bad[i]);
    ck_assert_int_eq(
        usc_procmaps_parse("1000-2000 rw-p 0 00:00 0 a\0b", 28, &m, &n),
        -EPROTO);
}
END_TEST

START_TEST(long_paths_are_cut)
{
    char text[512];

    memset(text, 0, sizeof(text));
    strcpy(text, "1000-2000 r--s 0 00:01 5 /");
    memset(text + strlen(text), 'a', 300);
    ck_assert_int_eq(parse(text), 0);
    ck_assert_uint_eq(strlen(m[0].name), USC_PROCMAP_NAME_MAX - 1);
}
END_TEST

START_TEST(our_own_maps_read)
{
    struct usc_procmap *own = NULL;
    size_t k = 0;

    ck_assert_int_eq(usc_procmaps_read(getpid(), &own, &k), 0);
    ck_assert_uint_gt(k, 5);
    free(own);
    ck_assert_int_eq(usc_procmaps_read(0, &own, &k), -EINVAL);
}
END_TEST

/* ---- areas ------------------------------------------------------------- */

static struct usc_procram_area *a;
static size_t na;

static void areas(const char *text)
{
    ck_assert_int_eq(parse(text), 0);
    free(a);
    a = NULL;
    ck_assert_int_eq(usc_procram_areas(m, n, &a, &na), 0);
}

START_TEST(areas_rank_shared_memory_first_and_skip_code_and_jits)
{
    areas("400000-500000 r-xp 0 fe:00 7 /usr/bin/x\n"
          "10000000-20000000 rwxp 0 00:00 0\n" /* a JIT: never */
          "20000000-24000000 rw-p 0 00:00 0\n" /* anonymous RAM */
          "30000000-30080000 rw-p 0 00:00 0\n" /* too small */
          "40000000-48000000 rw-s 0 00:01 9 /dev/zero (deleted)\n"
          "50000000-58000000 rw-p 0 fe:00 8 /var/lib/disk.img\n" /* private */
          "60000000-61000000 rw-p 0 00:00 0 [stack]\n"
          "70000000-71000000 ---p 0 00:00 0\n"
          "7f0000000000-7ff000000000 rw-p 0 00:00 0\n"); /* too large */
    ck_assert_uint_eq(na, 2);
    ck_assert_uint_eq(a[0].start, 0x40000000);
    ck_assert_int_eq(a[0].rank, 0);
    ck_assert_uint_eq(a[1].start, 0x20000000);
    ck_assert_int_eq(a[1].rank, 1);
}
END_TEST

START_TEST(a_mapping_mprotected_in_parts_is_one_area)
{
    /* hvt: its guest memory, text made read-only and executable */
    areas("40000000-40100000 rw-s 0 00:01 9 /dev/zero (deleted)\n"
          "40100000-40105000 r-xs 100000 00:01 9 /dev/zero (deleted)\n"
          "40105000-60000000 rw-s 105000 00:01 9 /dev/zero (deleted)\n"
          "60000000-61000000 rw-s 0 00:01 10 /dev/zero (deleted)\n");
    ck_assert_uint_eq(na, 2);
    ck_assert_uint_eq(a[0].start, 0x40000000);
    ck_assert_uint_eq(a[0].end, 0x60000000);
    ck_assert_uint_eq(a[1].start, 0x60000000); /* another file */
}
END_TEST

/* ---- RAM from a control block ---------------------------------------- */

static struct usc_procram ram;

START_TEST(a_block_places_guest_physical_zero)
{
    struct usc_procram_area ar = {0x40000000, 0x44000000, USC_PROCMAP_ANON, 0,
                                  1};
    int q;

    ck_assert_int_eq(usc_procram_from_block(&ar, 0x40166000, 0x166000,
                                            USC_VMM_QEMU, 0, &ram, &q),
                     0);
    ck_assert_int_eq(q, 3);
    ck_assert_uint_eq(ram.n, 1);
    ck_assert_uint_eq(ram.r[0].gpa, 0);
    ck_assert_uint_eq(ram.r[0].hva, 0x40000000);
    ck_assert_uint_eq(ram.r[0].len, MIB(64));
    /* merged with a mapping before it: guest-physical 0 inside the area */
    ck_assert_int_eq(usc_procram_from_block(&ar, 0x40166000, 0x66000,
                                            USC_VMM_FIRECRACKER, 0, &ram, &q),
                     0);
    ck_assert_int_eq(q, 1);
    ck_assert_uint_eq(ram.r[0].hva, 0x40100000);
    ck_assert_uint_eq(ram.r[0].len, MIB(63));
    /* a block that records more than its place allows: stale */
    ck_assert_int_eq(usc_procram_from_block(&ar, 0x40002000, 0x80000,
                                            USC_VMM_QEMU, 0, &ram, &q),
                     -ESTALE);
    /* unaligned, or outside the area */
    ck_assert_int_eq(usc_procram_from_block(&ar, 0x40000800, 0x800,
                                            USC_VMM_QEMU, 0, &ram, &q),
                     -EINVAL);
    ck_assert_int_eq(usc_procram_from_block(&ar, 0x50000000, 0x1000,
                                            USC_VMM_QEMU, 0, &ram, &q),
                     -EINVAL);
}
END_TEST

START_TEST(qemu_ram_above_the_pci_hole)
{
    uint64_t base = 0x7f0000000000ull, hva, chunk;
    struct usc_procram_area ar = {base, base + GIB(6), USC_PROCMAP_ANON, 0, 1};
    int q;

    /* pc: 3 GiB below the hole, the rest from 4 GiB */
    ck_assert_int_eq(usc_procram_from_block(&ar, base + 0x166000, 0x166000,
                                            USC_VMM_QEMU, 0, &ram, &q),
                     0);
    ck_assert_uint_eq(ram.n, 2);
    ck_assert_uint_eq(ram.r[0].len, GIB(3));
    ck_assert_uint_eq(ram.r[1].gpa, GIB(4));
    ck_assert_uint_eq(ram.r[1].hva, base + GIB(3));
    ck_assert_uint_eq(ram.r[1].len, GIB(3));
    ck_assert_uint_eq(usc_procram_phys_end(&ram), GIB(7));
    ck_assert_uint_eq(usc_procram_bytes(&ram), GIB(6));
    ck_assert_int_eq(usc_procram_xlate(&ram, GIB(4) + 5, 10, &hva, &chunk), 0);
    ck_assert_uint_eq(hva, base + GIB(3) + 5);
    ck_assert_int_eq(usc_procram_xlate(&ram, GIB(3) + 5, 10, &hva, &chunk),
                     -EFAULT);
    ck_assert_int_eq(usc_procram_xlate(&ram, GIB(3) - 4, 10, &hva, &chunk), 0);
    ck_assert_uint_eq(chunk, 4);
    /* a block above the hole, in the same mapping */
    ck_assert_int_eq(usc_procram_from_block(&ar, base + GIB(3) + 0x2000,
                                            GIB(4) + 0x2000, USC_VMM_QEMU, 0,
                                            &ram, &q),
                     0);
    ck_assert_int_eq(q, 3);
    ck_assert_uint_eq(ram.n, 2);
    /* q35: 2 GiB below the hole */
    ck_assert_int_eq(usc_procram_from_block(&ar, base + 0x166000, 0x166000,
                                            USC_VMM_QEMU, 1, &ram, &q),
                     0);
    ck_assert_uint_eq(ram.r[0].len, GIB(2));
    ck_assert_uint_eq(ram.r[1].len, GIB(4));
    /* another VMM: one region as it is */
    ck_assert_int_eq(usc_procram_from_block(&ar, base + 0x166000, 0x166000,
                                            USC_VMM_HVT, 0, &ram, &q),
                     0);
    ck_assert_uint_eq(ram.n, 1);
    ck_assert_uint_eq(ram.r[0].len, GIB(6));
}
END_TEST

START_TEST(a_mapping_of_its_own_above_4g)
{
    struct usc_procram_area ar = {0x7f0000000000ull, 0x7f0040000000ull,
                                  USC_PROCMAP_ANON, 0, 1};
    int q;

    ck_assert_int_eq(usc_procram_from_block(&ar, 0x7f0000003000ull,
                                            GIB(4) + 0x3000,
                                            USC_VMM_FIRECRACKER, 0, &ram, &q),
                     0);
    ck_assert_int_eq(q, 2);
    ck_assert_uint_eq(ram.n, 1);
    ck_assert_uint_eq(ram.r[0].gpa, GIB(4));
}
END_TEST

START_TEST(hvt_ram_is_guessed_only_when_unambiguous)
{
    areas("40000000-60000000 rw-s 0 00:01 9 /dev/zero (deleted)\n"
          "70000000-74000000 rw-p 0 00:00 0\n");
    ck_assert_int_eq(usc_procram_guess(a, na, USC_VMM_HVT, &ram), 0);
    ck_assert_uint_eq(ram.n, 1);
    ck_assert_uint_eq(ram.r[0].hva, 0x40000000);
    ck_assert_uint_eq(ram.r[0].len, MIB(512));
    ck_assert_int_eq(usc_procram_guess(a, na, USC_VMM_QEMU, &ram), -ENOENT);
    areas("40000000-60000000 rw-s 0 00:01 9 /dev/zero (deleted)\n"
          "70000000-74000000 rw-s 0 00:01 10 /dev/zero (deleted)\n");
    ck_assert_int_eq(usc_procram_guess(a, na, USC_VMM_HVT, &ram), -ENOENT);
    areas("70000000-74000000 rw-p 0 00:00 0\n");
    ck_assert_int_eq(usc_procram_guess(a, na, USC_VMM_HVT, &ram), -ENOENT);
}
END_TEST

START_TEST(named_ram_must_be_mapped)
{
    ck_assert_int_eq(parse("40000000-40100000 rw-p 0 00:00 0\n"
                           "40100000-40200000 r--p 0 00:00 0\n"
                           "40300000-40400000 rw-p 0 00:00 0\n"
                           "40400000-40500000 ---p 0 00:00 0\n"),
                     0);
    ram = (struct usc_procram){1, {{0, 0x40000000, MIB(2)}}};
    ck_assert_int_eq(usc_procram_check(m, n, &ram), 0);
    ram = (struct usc_procram){1, {{0, 0x40000000, MIB(3)}}}; /* a gap */
    ck_assert_int_eq(usc_procram_check(m, n, &ram), -ERANGE);
    ram = (struct usc_procram){1, {{0, 0x40300000, MIB(2)}}}; /* unreadable */
    ck_assert_int_eq(usc_procram_check(m, n, &ram), -ERANGE);
    ram = (struct usc_procram){1, {{0, 0x3ff00000, MIB(1)}}}; /* before */
    ck_assert_int_eq(usc_procram_check(m, n, &ram), -ERANGE);
    ram = (struct usc_procram){
        2, {{GIB(4), 0x40300000, MIB(1)}, {0, 0x40000000, MIB(1)}}};
    ck_assert_int_eq(usc_procram_check(m, n, &ram), 0);
    ck_assert_uint_eq(ram.r[0].gpa, 0); /* sorted */
    ram = (struct usc_procram){
        2, {{0, 0x40300000, MIB(1)}, {MIB(1) - 1, 0x40000000, MIB(1)}}};
    ck_assert_int_eq(usc_procram_check(m, n, &ram), -EINVAL); /* overlap */
    ram = (struct usc_procram){1, {{0, 0x40000000, 0}}};
    ck_assert_int_eq(usc_procram_check(m, n, &ram), -EINVAL);
    ram = (struct usc_procram){0, {{0, 0, 0}}};
    ck_assert_int_eq(usc_procram_check(m, n, &ram), -EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("procmaps");
    TCase *tc = tcase_create("procmaps");

    tcase_add_test(tc, lines_of_every_kind);
    tcase_add_test(tc, empty_text_has_no_mappings);
    tcase_add_test(tc, malformed_lines_are_eproto);
    tcase_add_test(tc, long_paths_are_cut);
    tcase_add_test(tc, our_own_maps_read);
    tcase_add_test(tc, areas_rank_shared_memory_first_and_skip_code_and_jits);
    tcase_add_test(tc, a_mapping_mprotected_in_parts_is_one_area);
    tcase_add_test(tc, a_block_places_guest_physical_zero);
    tcase_add_test(tc, qemu_ram_above_the_pci_hole);
    tcase_add_test(tc, a_mapping_of_its_own_above_4g);
    tcase_add_test(tc, hvt_ram_is_guessed_only_when_unambiguous);
    tcase_add_test(tc, named_ram_must_be_mapped);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    free(m);
    free(a);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
