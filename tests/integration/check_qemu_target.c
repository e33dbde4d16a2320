/* The QEMU and core backends against demo guests booted by unirun --detach. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_reader.h"
#include "cores.h"
#include "elfimage.h"
#include "harness.h"
#include "rundir.h"
#include "target.h"

#define BOOT_MS TEST_BOOT_MS

static struct usc_elfimage *demo_image(void)
{
    struct usc_elfimage *img = NULL;
    ck_assert_int_eq(usc_elfimage_open(test_env("USC_DEMOKERNEL"), &img), 0);
    return img;
}

static uint64_t ticks(struct usc_agent *a)
{
    return test_agent_metric(a, "timer_ticks");
}

struct tick_wait {
    struct usc_agent *a;
    uint64_t above;
};

static int ticks_above(void *arg)
{
    struct tick_wait *w = arg;
    return ticks(w->a) > w->above;
}

START_TEST(test_paused_registers_rip_in_text)
{
    test_boot("regs", 64, "scenario=work threads=2");
    struct usc_target *t = test_target_open("regs");
    struct usc_agent *a = test_wait_agent(t, "regs");
    struct usc_elfimage *img = demo_image();

    ck_assert_int_eq(usc_target_pause(t), 0);
    struct usc_regs r;
    ck_assert_int_eq(usc_target_get_regs(t, 0, &r), 0);
    ck_assert_msg(usc_elfimage_in_text(img, r.rip),
                  "rip %#llx outside the image's text",
                  (unsigned long long)r.rip);
    ck_assert_uint_ne(r.cr3, 0);
    ck_assert_uint_ne(r.cr0 & 0x80000000u, 0); /* paging on */
    ck_assert_uint_ne(r.efer & 0x400, 0);      /* long mode active */
    enum usc_vm_state st;
    ck_assert_int_eq(usc_target_run_state(t, &st), 0);
    ck_assert_int_eq(st, USC_VM_PAUSED);
    ck_assert_int_eq(usc_target_resume(t), 0);

    usc_elfimage_close(img);
    usc_agent_close(a);
    usc_target_close(t);
}
END_TEST

START_TEST(test_global_read_by_symbol_through_page_walker)
{
    test_boot("global", 64, "scenario=work threads=1");
    struct usc_target *t = test_target_open("global");
    struct usc_agent *a = test_wait_agent(t, "global");

    uint64_t magic = 0;
    uint64_t addr = test_symbol("demo_magic");
    ck_assert_uint_ge(addr, 0xffffffff80000000ull); /* virtual != physical */
    ck_assert_int_eq(usc_target_read_virt(t, 0, addr, &magic, sizeof(magic)),
                     0);
    ck_assert_uint_eq(magic, 0x5ca1ab1e0ddba11ull);
    /* Reading registers for CR3 borrowed the stub; the guest runs again. */
    enum usc_vm_state st;
    ck_assert_int_eq(usc_target_run_state(t, &st), 0);
    ck_assert_int_eq(st, USC_VM_RUNNING);

    usc_agent_close(a);
    usc_target_close(t);
}
END_TEST

START_TEST(test_pause_stops_metrics_resume_restarts_them)
{
    test_boot("pause", 64, "scenario=work threads=1");
    struct usc_target *t = test_target_open("pause");
    struct usc_agent *a = test_wait_agent(t, "pause");
    struct tick_wait w = {a, 0};
    ck_assert(test_wait_for(ticks_above, &w, BOOT_MS));

    ck_assert_int_eq(usc_target_pause(t), 0);
    enum usc_vm_state st;
    ck_assert_int_eq(usc_target_run_state(t, &st), 0);
    ck_assert_int_eq(st, USC_VM_PAUSED);
    w.above = ticks(a);
    /* Paused: 100 Hz ticks would show within 500 ms; none may. */
    ck_assert_msg(!test_wait_for(ticks_above, &w, 500),
                  "metrics advanced while paused");

    ck_assert_int_eq(usc_target_resume(t), 0);
    ck_assert_int_eq(usc_target_run_state(t, &st), 0);
    ck_assert_int_eq(st, USC_VM_RUNNING);
    ck_assert_msg(test_wait_for(ticks_above, &w, BOOT_MS),
                  "metrics did not advance after resume");
    usc_agent_close(a);
    usc_target_close(t);
}
END_TEST

START_TEST(test_qemu_dump_reads_like_the_live_guest)
{
    test_boot("dump", 64, "scenario=work threads=2");
    struct usc_target *t = test_target_open("dump");
    struct usc_agent *a = test_wait_agent(t, "dump");
    struct tick_wait w = {a, 10};
    ck_assert(test_wait_for(ticks_above, &w, BOOT_MS));

    /* A page that changes all the time (demo_ticks) and the agent's block. */
    uint64_t addrs[2] = {test_symbol("demo_ticks") & ~0xfffull,
                         usc_agent_header(a)->self_vaddr};
    static uint8_t live[2][4096], dumped[2][4096];
    ck_assert_int_eq(usc_target_pause(t), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(usc_target_read_virt(t, 0, addrs[i], live[i], 4096),
                         0);

    char core[512];
    snprintf(core, sizeof(core), "%s/dump.core", getenv("UNISCOPE_RUNDIR"));
    test_qemu_dump("dump", core);

    struct usc_target *c = NULL;
    ck_assert_int_eq(usc_target_open(core, &c), 0);
    struct usc_target_info info;
    ck_assert_int_eq(usc_target_describe(c, &info), 0);
    ck_assert_str_eq(info.hypervisor, "core");
    ck_assert_uint_eq(info.nvcpus, 1);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(usc_target_read_virt(c, 0, addrs[i], dumped[i], 4096),
                         0);
        ck_assert_msg(memcmp(live[i], dumped[i], 4096) == 0,
                      "core and live guest differ at %#llx",
                      (unsigned long long)addrs[i]);
    }
    struct usc_regs live_regs, core_regs;
    ck_assert_int_eq(usc_target_get_regs(t, 0, &live_regs), 0);
    ck_assert_int_eq(usc_target_get_regs(c, 0, &core_regs), 0);
    ck_assert_uint_eq(live_regs.rip, core_regs.rip);
    ck_assert_uint_eq(live_regs.cr3, core_regs.cr3);
    ck_assert_int_eq(usc_target_write_phys(c, 0, "x", 1), -ENOTSUP);
    usc_target_close(c);
    unlink(core);
    ck_assert_int_eq(usc_target_resume(t), 0);

    usc_agent_close(a);
    usc_target_close(t);
}
END_TEST

/* ---- unirun --list / --stop ------------------------------------------- */

/* The --list line of guest (name), copied into (line); 0 if absent. */
static int list_line(const char *name, char *line, size_t cap)
{
    char out[8192];
    ck_assert_int_eq(test_unirun_list(out, sizeof(out)), 0);
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
        size_t n = strlen(name);
        if (strncmp(l, name, n) == 0 && l[n] == ' ') {
            snprintf(line, cap, "%s", l);
            return 1;
        }
    }
    return 0;
}

struct line_wait {
    const char *name;
    const char *words[4];
    char line[256];
};

static int line_has(void *arg)
{
    struct line_wait *w = arg;
    if (!list_line(w->name, w->line, sizeof(w->line)))
        return 0;
    for (int i = 0; w->words[i]; i++)
        if (!strstr(w->line, w->words[i]))
            return 0;
    return 1;
}

START_TEST(test_unirun_list_stop_and_dead_guests)
{
    test_boot("lista", 64, "scenario=idle");
    test_boot("listb", 64, "scenario=work threads=1");
    struct line_wait a = {.name = "lista",
                          .words = {" running ", " yes", NULL}};
    struct line_wait b = {.name = "listb",
                          .words = {" running ", " yes", NULL}};
    ck_assert_msg(test_wait_for(line_has, &a, BOOT_MS), "lista: %s", a.line);
    ck_assert_msg(test_wait_for(line_has, &b, BOOT_MS), "listb: %s", b.line);
    ck_assert_ptr_nonnull(strstr(a.line, " 64M"));

    /* kill -9 of listb's QEMU (as if QEMU itself crashed): its RAM is
     * kept as a core, the guest shown crashed with it, still cleanable. */
    struct usc_guest_info gi;
    ck_assert_int_eq(usc_guest_info_read("listb", &gi), 0);
    ck_assert_int_eq(kill((pid_t)gi.pid, SIGKILL), 0);
    struct line_wait dead = {.name = "listb",
                             .words = {" crashed ", ".core", NULL}};
    ck_assert_msg(test_wait_for(line_has, &dead, BOOT_MS), "listb: %s",
                  dead.line);
    struct usc_core_record *kept = NULL;
    size_t nkept = 0;
    ck_assert_int_eq(usc_cores_list("listb", &kept, &nkept), 0);
    ck_assert_uint_eq(nkept, 1);
    ck_assert_str_eq(kept[0].kind, "qemu-died");
    ck_assert_ptr_nonnull(strstr(kept[0].reason, "signal 9"));
    /* RAM alone, but the agent's tables are in it */
    char *argv[] = {(char *)test_env("USC_UNICORE"), "analyze", kept[0].path,
                    NULL};
    static char report[65536];
    ck_assert_int_eq(test_run(argv, report, sizeof(report), 60000), 0);
    free(kept);
    ck_assert_ptr_nonnull(strstr(report, "dumped from guest RAM alone"));
    ck_assert_ptr_nonnull(strstr(report, "worker-0"));

    char out[1024], path[512];
    ck_assert_int_eq(test_unirun_stop("lista", out, sizeof(out)), 0);
    ck_assert_int_eq(test_unirun_stop("listb", out, sizeof(out)), 0);
    ck_assert_int_eq(usc_rundir_guest_path("lista", NULL, path, sizeof(path)),
                     0);
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_eq(usc_rundir_guest_path("listb", NULL, path, sizeof(path)),
                     0);
    ck_assert_int_ne(access(path, F_OK), 0);
    char line[256];
    ck_assert(!list_line("lista", line, sizeof(line)));
    ck_assert(!list_line("listb", line, sizeof(line)));

    /* A name that is not there: one line, status 1. */
    ck_assert_int_eq(test_unirun_stop("nosuch", out, sizeof(out)), 1);
    ck_assert_ptr_nonnull(strstr(out, "unirun: "));
    ck_assert_ptr_null(strchr(out, '\n') ? strchr(strchr(out, '\n') + 1, '\n')
                                         : NULL);
}
END_TEST

/* Is guest (arg) gone: refused at open, or in state DEAD? */
static int reported_dead(void *arg)
{
    struct usc_target *t = NULL;
    int rc = usc_target_open(arg, &t);
    if (rc == -ECONNREFUSED || rc == -ENOENT)
        return 1;
    if (rc != 0)
        return 0;
    enum usc_vm_state st = USC_VM_UNKNOWN;
    rc = usc_target_run_state(t, &st);
    usc_target_close(t);
    return rc == -ECONNREFUSED || st == USC_VM_DEAD;
}

START_TEST(test_bad_targets_give_clear_errors)
{
    struct usc_target *t = NULL;
    ck_assert_int_eq(usc_target_open("nosuchguest", &t), -ENOENT);
    ck_assert_int_eq(usc_target_open("qemu:", &t), -EINVAL);

    /* A socket that is not QMP: a server that greets with garbage. */
    char sock[512];
    snprintf(sock, sizeof(sock), "%s/notqmp.sock", getenv("UNISCOPE_RUNDIR"));
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    ck_assert_uint_lt(strlen(sock), sizeof(sa.sun_path));
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    pid_t server = fork();
    if (server == 0) {
        for (;;) {
            int c = accept(lfd, NULL, NULL);
            if (c >= 0 && write(c, "SSH-2.0-nope\r\n", 15) < 0)
                _exit(1);
        }
    }
    char spec[600];
    snprintf(spec, sizeof(spec), "qemu:%s", sock);
    int rc = usc_target_open(spec, &t);
    if (rc == 0) {
        enum usc_vm_state st;
        rc = usc_target_run_state(t, &st);
        usc_target_close(t);
    }
    ck_assert_int_eq(rc, -EPROTO);
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    close(lfd);
    unlink(sock);

    /* A QEMU that has died: the open or the state says so. */
    test_boot("dies", 64, "scenario=idle");
    struct usc_guest_info gi;
    ck_assert_int_eq(usc_guest_info_read("dies", &gi), 0);
    ck_assert_int_eq(kill((pid_t)gi.pid, SIGKILL), 0);
    ck_assert_msg(test_wait_for(reported_dead, "dies", BOOT_MS),
                  "a killed QEMU never reported as dead");
    char out[512];
    ck_assert_int_eq(test_unirun_stop("dies", out, sizeof(out)), 0);
}
END_TEST

START_TEST(test_foreground_exit_status_is_the_guests)
{
    char out[8192];
    char *argv[] = {(char *)test_env("USC_UNIRUN"),
                    "--accel",
                    "tcg",
                    "--memory",
                    "64",
                    "--name",
                    "fg",
                    (char *)test_env("USC_DEMOKERNEL"),
                    "--",
                    "scenario=work runtime=0.2 status=42",
                    NULL};
    ck_assert_int_eq(test_run(argv, out, sizeof(out), BOOT_MS), 42);
    argv[9] = "scenario=idle runtime=0.1";
    ck_assert_int_eq(test_run(argv, out, sizeof(out), BOOT_MS), 0);
    /* The foreground guest's folder is gone with it. */
    char path[512];
    ck_assert_int_eq(usc_rundir_guest_path("fg", NULL, path, sizeof(path)), 0);
    ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

int main(void)
{
    TCase *tc;
    Suite *s = test_suite("qemu_target", "qemu", 180, &tc);
    tcase_add_unchecked_fixture(tc, test_rundir_fixture_setup,
                                test_rundir_teardown);
    tcase_add_test(tc, test_paused_registers_rip_in_text);
    tcase_add_test(tc, test_global_read_by_symbol_through_page_walker);
    tcase_add_test(tc, test_pause_stops_metrics_resume_restarts_them);
    tcase_add_test(tc, test_qemu_dump_reads_like_the_live_guest);
    tcase_add_test(tc, test_unirun_list_stop_and_dead_guests);
    tcase_add_test(tc, test_bad_targets_give_clear_errors);
    tcase_add_test(tc, test_foreground_exit_status_is_the_guests);
    return test_run_suite(s);
}
