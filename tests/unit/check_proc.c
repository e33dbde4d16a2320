/* The proc backend against real processes that hold an agent in memory. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bench/bench_proc_fleet.h"
#include "agent_reader.h"
#include "procvmm.h"
#include "target.h"

static struct proc_fleet fl;

static void start(enum proc_fleet_layout layout, const char *comm)
{
    ck_assert_int_eq(proc_fleet_start(&fl, 1, comm, layout), 0);
}

static void stop(void)
{
    proc_fleet_stop(&fl);
}

static int open_pid(const char *extra, struct usc_target **t)
{
    char spec[256];

    snprintf(spec, sizeof(spec), "pid:%d%s", (int)fl.pids[0], extra);
    return usc_target_open(spec, t);
}

START_TEST(finds_the_agent_and_guest_ram_through_it)
{
    struct usc_target_info info;
    struct usc_agent_status st;
    struct usc_target *t = NULL;
    struct usc_agent *a = NULL;
    struct usc_vcpu_stats vs;
    uint64_t cb = 0, magic = 0;

    start(PROC_FLEET_LIVE, PROC_FLEET_COMM);
    ck_assert_int_eq(open_pid("", &t), 0);
    ck_assert_int_eq(usc_target_agent_at(t, &cb), 0);
    ck_assert_uint_eq(cb, FLEET_CB);
    ck_assert_int_eq(usc_target_describe(t, &info), 0);
    ck_assert_str_eq(info.hypervisor, "solo5-hvt");
    ck_assert_int_eq(info.pid, fl.pids[0]);
    ck_assert_int_eq(info.can_control, 0);
    ck_assert_int_eq(info.state, USC_VM_RUNNING);
    /* guest-physical 0 is the area's start: at least the area is RAM */
    ck_assert_uint_ge(info.phys_end, PROC_FLEET_AREA);
    ck_assert_int_eq(usc_target_read_phys(t, FLEET_CB, &magic, 8), 0);
    ck_assert_uint_eq(magic, USC_ABI_MAGIC);
    ck_assert_int_eq(usc_target_agent_open(t, &a), 0);
    ck_assert_int_eq(usc_agent_status(a, &st), 0);
    ck_assert_uint_eq(st.state, USC_STATE_RUNNING);
    ck_assert_str_eq(usc_agent_header(a)->name, PROC_FLEET_COMM);
    /* the process as its one vCPU: hvt runs its vCPU on its thread */
    ck_assert_int_eq(usc_target_vcpu_stats(t, 0, &vs), 0);
    ck_assert_int_eq(vs.host_tid, fl.pids[0]);
    ck_assert(vs.cpu_ns != USC_STAT_UNKNOWN);
    /* control needs the VMM's stub */
    ck_assert_int_eq(usc_target_pause(t), -ENOTSUP);
    usc_agent_close(a);
    usc_target_close(t);
    stop();
}
END_TEST

START_TEST(reads_beyond_ram_fail_and_never_leave_it)
{
    struct usc_target *t = NULL;
    struct usc_target_info info;
    char buf[64];

    start(PROC_FLEET_LIVE, PROC_FLEET_COMM);
    ck_assert_int_eq(open_pid("", &t), 0);
    ck_assert_int_eq(usc_target_describe(t, &info), 0);
    ck_assert_int_eq(usc_target_read_phys(t, info.phys_end, buf, 1), -EFAULT);
    ck_assert_int_eq(usc_target_read_phys(t, info.phys_end - 8, buf, 16),
                     -EFAULT);
    ck_assert_int_eq(usc_target_read_phys(t, UINT64_MAX - 4, buf, 8), -EFAULT);
    usc_target_close(t);
    stop();
}
END_TEST

START_TEST(untouched_pages_hold_no_data)
{
    struct usc_target *t = NULL;
    uint64_t a = 0, b = 0;

    start(PROC_FLEET_LIVE, PROC_FLEET_COMM);
    ck_assert_int_eq(open_pid("", &t), 0);
    /* the fleet's tables fill the first pages; the rest was never written */
    ck_assert_int_eq(usc_target_next_data(t, 0, PROC_FLEET_AREA, &a, &b), 0);
    ck_assert_uint_le(a, FLEET_CB);
    ck_assert_uint_gt(b, FLEET_CB);
    ck_assert_uint_le(b, FLEET_RAM);
    ck_assert_int_eq(
        usc_target_next_data(t, FLEET_RAM, PROC_FLEET_AREA / 2, &a, &b),
        -ENXIO);
    usc_target_close(t);
    stop();
}
END_TEST

START_TEST(a_stale_copy_alone_is_one_clear_error)
{
    struct usc_target *t = NULL;
    char line[512];

    start(PROC_FLEET_STALE, PROC_FLEET_COMM);
    ck_assert_int_eq(open_pid("", &t), -ESTALE);
    ck_assert_ptr_null(t);
    ck_assert_ptr_nonnull(
        usc_proc_open_error("pid:1", -ESTALE, line, sizeof(line)));
    ck_assert_ptr_nonnull(strstr(line, "stale"));
    stop();
}
END_TEST

START_TEST(the_live_block_wins_over_a_stale_copy)
{
    struct usc_target *t = NULL;
    uint64_t cb = 0;

    start(PROC_FLEET_BOTH, PROC_FLEET_COMM);
    ck_assert_int_eq(open_pid("", &t), 0);
    ck_assert_int_eq(usc_target_agent_at(t, &cb), 0);
    ck_assert_uint_eq(cb, FLEET_CB);
    usc_target_close(t);
    stop();
}
END_TEST

START_TEST(no_agent_means_no_ram_unless_named)
{
    struct usc_target *t = NULL;
    struct usc_target_info info;
    char extra[96];
    uint64_t cb;

    start(PROC_FLEET_NONE, PROC_FLEET_COMM);
    ck_assert_int_eq(open_pid("", &t), -ENOENT);
    snprintf(extra, sizeof(extra), ",ram=%" PRIx64 ":1M:100000", fl.areas[0]);
    ck_assert_int_eq(open_pid(extra, &t), 0);
    ck_assert_int_eq(usc_target_describe(t, &info), 0);
    ck_assert_uint_eq(info.phys_end, 0x100000 + PROC_FLEET_AREA);
    ck_assert_uint_eq(info.mem_bytes, PROC_FLEET_AREA);
    ck_assert_int_eq(usc_target_agent_at(t, &cb), -ENOENT);
    usc_target_close(t);
    stop();
}
END_TEST

START_TEST(a_ram_size_that_lies_is_refused)
{
    struct usc_target *t = NULL;
    char extra[96];

    start(PROC_FLEET_LIVE, PROC_FLEET_COMM);
    snprintf(extra, sizeof(extra), ",ram=%" PRIx64 ":64G", fl.areas[0]);
    ck_assert_int_eq(open_pid(extra, &t), -ERANGE);
    snprintf(extra, sizeof(extra), ",ram=%" PRIx64 ":1M,ram=%" PRIx64 ":1M",
             fl.areas[0], fl.areas[0]);
    ck_assert_int_eq(open_pid(extra, &t), -EINVAL); /* both at gpa 0 */
    ck_assert_ptr_null(t);
    stop();
}
END_TEST

START_TEST(a_process_that_is_no_vmm_needs_its_ram_named)
{
    struct usc_target *t = NULL;
    char extra[96];
    uint64_t cb = 0;

    start(PROC_FLEET_LIVE, "sleeper");
    ck_assert_int_eq(open_pid("", &t), -ENOEXEC);
    snprintf(extra, sizeof(extra), ",ram=%" PRIx64 ":1M", fl.areas[0]);
    ck_assert_int_eq(open_pid(extra, &t), 0);
    ck_assert_int_eq(usc_target_agent_at(t, &cb), 0);
    ck_assert_uint_eq(cb, FLEET_CB);
    usc_target_close(t);
    stop();
}
END_TEST

START_TEST(a_mapping_that_shrinks_reads_as_unreachable)
{
    struct usc_target *t = NULL;
    struct usc_agent *a = NULL;
    struct usc_agent_status st;
    uint64_t v;

    start(PROC_FLEET_LIVE, PROC_FLEET_COMM);
    ck_assert_int_eq(open_pid("", &t), 0);
    ck_assert_int_eq(usc_target_agent_open(t, &a), 0);
    ck_assert_int_eq(proc_fleet_tell(&fl, 0, PROC_FLEET_SHRINK), 0);
    ck_assert_int_eq(usc_target_read_phys(t, PROC_FLEET_AREA - 8, &v, 8),
                     -EFAULT);
    /* the half that is left still reads */
    ck_assert_int_eq(usc_agent_status(a, &st), 0);
    usc_agent_close(a);
    usc_target_close(t);
    stop();
}
END_TEST

START_TEST(a_process_that_exits_mid_read_is_gone)
{
    struct usc_target *t = NULL;
    struct usc_agent *a = NULL;
    struct usc_agent_status st;
    enum usc_vm_state vm;
    uint64_t v;

    start(PROC_FLEET_LIVE, PROC_FLEET_COMM);
    ck_assert_int_eq(open_pid("", &t), 0);
    ck_assert_int_eq(usc_target_agent_open(t, &a), 0);
    proc_fleet_kill(&fl, 0);
    ck_assert_int_eq(usc_target_read_phys(t, FLEET_CB, &v, 8), -ESRCH);
    ck_assert_int_eq(usc_agent_status(a, &st), -ESRCH);
    ck_assert_int_eq(usc_target_run_state(t, &vm), 0);
    ck_assert_int_eq(vm, USC_VM_DEAD);
    usc_agent_close(a);
    usc_target_close(t);
    stop();
}
END_TEST

START_TEST(data_writes_reach_the_process)
{
    struct usc_target *t = NULL;
    uint64_t v = 0x1122334455667788ull, back = 0;

    start(PROC_FLEET_LIVE, PROC_FLEET_COMM);
    ck_assert_int_eq(open_pid("", &t), 0);
    ck_assert_int_eq(usc_target_write_data(t, 3 * FLEET_PAGE + 2048, &v, 8), 0);
    ck_assert_int_eq(usc_target_read_phys(t, 3 * FLEET_PAGE + 2048, &back, 8),
                     0);
    ck_assert_uint_eq(back, v);
    /* not QEMU: code writes go the same way (KVM runs from this memory) */
    ck_assert_int_eq(usc_target_write_phys(t, 3 * FLEET_PAGE + 2056, &v, 8), 0);
    usc_target_close(t);
    stop();
}
END_TEST

START_TEST(discovery_sees_the_process_as_a_vmm)
{
    struct usc_vmm_proc *v = NULL, p;
    size_t n = 0, found = 0;

    start(PROC_FLEET_LIVE, PROC_FLEET_COMM);
    ck_assert_int_eq(usc_vmm_probe(fl.pids[0], &p), 0);
    ck_assert_int_eq(p.kind, USC_VMM_HVT);
    ck_assert_int_eq(p.readable, 1);
    ck_assert_int_eq(p.ours, 0);
    ck_assert_uint_gt(p.start_ticks, 0);
    ck_assert_int_eq(usc_vmm_list(&v, &n), 0);
    for (size_t i = 0; i < n; i++)
        found += v[i].pid == fl.pids[0];
    ck_assert_uint_eq(found, 1);
    free(v);
    ck_assert_int_eq(usc_vmm_probe(getpid(), &p), 0);
    ck_assert_int_eq(p.kind, USC_VMM_NONE);
    stop();
}
END_TEST

START_TEST(vmm_names)
{
    ck_assert_int_eq(usc_vmm_kind_of("qemu-system-x86", NULL), USC_VMM_QEMU);
    ck_assert_int_eq(usc_vmm_kind_of("qemu-kvm", NULL), USC_VMM_QEMU);
    ck_assert_int_eq(usc_vmm_kind_of("firecracker", ""), USC_VMM_FIRECRACKER);
    ck_assert_int_eq(
        usc_vmm_kind_of("cloud-hyperviso", "/usr/bin/cloud-hypervisor"),
        USC_VMM_CLOUD_HV);
    ck_assert_int_eq(usc_vmm_kind_of("cloud-hyperviso", "/bin/cloud-hyperv"),
                     USC_VMM_NONE);
    ck_assert_int_eq(usc_vmm_kind_of("solo5-hvt", NULL), USC_VMM_HVT);
    ck_assert_int_eq(usc_vmm_kind_of("solo5-hvt-debug", NULL), USC_VMM_HVT);
    ck_assert_int_eq(usc_vmm_kind_of("mirage-hvt", NULL), USC_VMM_HVT);
    ck_assert_int_eq(usc_vmm_kind_of("a-long-name-hv", "/x/a-long-name-hvt"),
                     USC_VMM_NONE);
    ck_assert_int_eq(usc_vmm_kind_of("uhyve", NULL), USC_VMM_UHYVE);
    ck_assert_int_eq(usc_vmm_kind_of("lkvm", NULL), USC_VMM_LKVM);
    ck_assert_int_eq(usc_vmm_kind_of("bash", "/bin/bash"), USC_VMM_NONE);
    ck_assert_int_eq(usc_vmm_kind_of(NULL, NULL), USC_VMM_NONE);
    ck_assert_str_eq(usc_vmm_name(USC_VMM_CLOUD_HV), "cloud-hv");
    ck_assert_str_eq(usc_vmm_name((enum usc_vmm_kind)99), "");
}
END_TEST

START_TEST(stat_lines_parse)
{
    static const char line[] =
        "123 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 -2 -5 1 0 4242 0 0\n";
    uint64_t ns = 0, start = 0;
    char st = 0;

    ck_assert_int_eq(
        usc_proc_parse_stat(line, sizeof(line) - 1, &ns, &start, &st), 0);
    ck_assert_uint_eq(ns,
                      300 * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK)));
    ck_assert_uint_eq(start, 4242);
    ck_assert_int_eq(st, 'S');
    ck_assert_int_eq(usc_proc_parse_stat("1 (x) S 1", 9, &ns, NULL, NULL),
                     -EPROTO);
    ck_assert_int_eq(usc_proc_parse_stat("no paren", 8, &ns, NULL, NULL),
                     -EPROTO);
}
END_TEST

START_TEST(permission_hints_say_what_to_run)
{
    char line[512];

    usc_proc_perm_hint(1, line, sizeof(line));
    ck_assert_ptr_nonnull(strstr(line, "CAP_SYS_PTRACE"));
    ck_assert_ptr_null(strchr(line, '\n'));
    ck_assert_ptr_nonnull(
        usc_proc_open_error("pid:1", -EPERM, line, sizeof(line)));
    ck_assert_ptr_nonnull(strstr(line, "ptrace"));
    ck_assert_ptr_null(usc_proc_open_error("web1", -EPERM, line, sizeof(line)));
    ck_assert_ptr_null(
        usc_proc_open_error("pid:1", -ENOMEM, line, sizeof(line)));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proc");
    TCase *tc = tcase_create("proc");

    tcase_add_test(tc, finds_the_agent_and_guest_ram_through_it);
    tcase_add_test(tc, reads_beyond_ram_fail_and_never_leave_it);
    tcase_add_test(tc, untouched_pages_hold_no_data);
    tcase_add_test(tc, a_stale_copy_alone_is_one_clear_error);
    tcase_add_test(tc, the_live_block_wins_over_a_stale_copy);
    tcase_add_test(tc, no_agent_means_no_ram_unless_named);
    tcase_add_test(tc, a_ram_size_that_lies_is_refused);
    tcase_add_test(tc, a_process_that_is_no_vmm_needs_its_ram_named);
    tcase_add_test(tc, a_mapping_that_shrinks_reads_as_unreachable);
    tcase_add_test(tc, a_process_that_exits_mid_read_is_gone);
    tcase_add_test(tc, data_writes_reach_the_process);
    tcase_add_test(tc, discovery_sees_the_process_as_a_vmm);
    tcase_add_test(tc, vmm_names);
    tcase_add_test(tc, stat_lines_parse);
    tcase_add_test(tc, permission_hints_say_what_to_run);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
