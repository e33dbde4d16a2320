/* Solo5's hvt tender on /dev/kvm, reached as pid:PID: unitop lists it,
 * unicore dumps its guest's RAM, unigdb attaches through hvt's own stub. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/kvm.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_reader.h"
#include "check_proc.h"
#include "harness.h"
#include "target.h"

#define MEM_MIB 32

static char dir[256], hvt_out[320], image[512], tender[512];
static pid_t hvt;
static int port;

/* /dev/kvm as hvt needs it, or why not, into (why). */
static int kvm_usable(char *why, size_t cap)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC), v;

    if (fd < 0) {
        snprintf(why, cap, "/dev/kvm: %s", strerror(errno));
        return 0;
    }
    v = ioctl(fd, KVM_GET_API_VERSION, 0);
    close(fd);
    if (v != KVM_API_VERSION) {
        snprintf(why, cap, "/dev/kvm: API version %d, not %d", v,
                 KVM_API_VERSION);
        return 0;
    }
    return 1;
}

/* A TCP port free on this host now (hvt listens on every address). */
static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int s = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(s, 0);
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;

    if (f)
        fclose(f);
    buf[n] = '\0';
    return n;
}

static int says(void *arg)
{
    static char buf[OUT_MAX];

    read_file(hvt_out, buf, sizeof(buf));
    return strstr(buf, (const char *)arg) != NULL;
}

/* A scratch folder, a run directory and the host's VMMs in view. */
static void prepare(void)
{
    char why[256];

    ck_assert_msg(kvm_usable(why, sizeof(why)),
                  "hvt needs KVM, which is unusable on this machine: %s", why);
    snprintf(dir, sizeof(dir), "/tmp/usc-proc-hvt-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_ptr_nonnull(test_rundir_setup());
    unsetenv("UNISCOPE_VMM_SCAN");
    snprintf(hvt_out, sizeof(hvt_out), "%s/hvt.out", dir);
}

/* Start (tender) with (argv) (argv[0] its name), its output to hvt_out. */
static void start_tender(char *const argv[])
{
    hvt = fork();
    ck_assert_int_ge(hvt, 0);
    if (hvt == 0) {
        int fd = open(hvt_out, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execv(tender, argv);
        _exit(127);
    }
}

/* hvt waiting for its debugger: the image set in (image) loaded, stopped
 * at boot. */
static void hvt_debug_up(void)
{
    char mem[32], gdbport[32];

    snprintf(tender, sizeof(tender), "%s/tenders/hvt/solo5-hvt-debug",
             test_env("USC_SOLO5_DIR"));
    port = free_port();
    snprintf(mem, sizeof(mem), "--mem=%d", MEM_MIB);
    snprintf(gdbport, sizeof(gdbport), "--gdb-port=%d", port);
    char *argv[] = {"solo5-hvt-debug", mem, "--gdb", gdbport, image,
                    "Hello_hvt",       NULL};
    start_tender(argv);
    ck_assert_msg(test_wait_for(says, "Waiting for a debugger", TEST_BOOT_MS),
                  "%s never waited for gdb", tender);
}

/* Solo5's test_hello (no agent) under hvt's debugger. */
static void hvt_up(void)
{
    prepare();
    snprintf(image, sizeof(image), "%s/tests/test_hello/test_hello.hvt",
             test_env("USC_SOLO5_DIR"));
    hvt_debug_up();
}

static void hvt_down(void)
{
    if (hvt > 0) {
        kill(hvt, SIGKILL);
        waitpid(hvt, NULL, 0);
    }
    hvt = 0;
    test_rundir_teardown();
    test_remove_tree(dir);
}

static const char *target(const char *extra)
{
    static char buf[128];

    snprintf(buf, sizeof(buf), "pid:%d%s", (int)hvt, extra);
    return buf;
}

/* "pid:PID,gdb=..." of hvt's stub. */
static const char *with_stub(void)
{
    char stub[64];

    snprintf(stub, sizeof(stub), ",gdb=127.0.0.1:%d", port);
    return target(stub);
}

/* unitop -b --format json, two refreshes (delay) seconds apart. */
static json_t *top_json(const char *delay)
{
    json_error_t e;
    char *out;

    ck_assert_int_eq(tool("USC_UNITOP", &out, "-b", "-n", "2", "-d", delay,
                          "--format", "json", NULL),
                     0);
    json_t *all = json_loads(out, 0, &e);
    ck_assert_msg(json_is_array(all) && json_array_size(all) == 2,
                  "not two refreshes of JSON: %s: %s", e.text, out);
    return all;
}

/* hvt's row, pid:PID, in refresh (n) of (all); it must be there. */
static json_t *hvt_row(json_t *all, size_t n)
{
    json_t *g = test_top_guest(json_array_get(all, n), target(""));

    ck_assert_msg(g, "%s not listed in refresh %zu", target(""), n);
    return g;
}

START_TEST(test_unitop_lists_it_with_host_figures)
{
    json_t *all = top_json("0.3"), *found = hvt_row(all, 1);

    ck_assert_str_eq(json_string_value(json_object_get(found, "kind")), "pid");
    ck_assert_str_eq(json_string_value(json_object_get(found, "hypervisor")),
                     "solo5-hvt");
    ck_assert_str_eq(json_string_value(json_object_get(found, "state")),
                     "running");
    ck_assert_int_eq(json_integer_value(json_object_get(found, "vcpus")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(found, "memory_bytes")),
                     MEM_MIB << 20);
    ck_assert(json_is_real(json_object_get(found, "cpu_percent")));
    ck_assert(json_is_number(json_object_get(found, "uptime_seconds")));
    ck_assert(json_is_null(json_object_get(found, "agent_name")));
    json_decref(all);
}
END_TEST

START_TEST(test_unicore_dumps_its_guest_ram)
{
    char core[320], *out;
    struct stat st;

    snprintf(core, sizeof(core), "%s/hvt.core", dir);
    ck_assert_int_eq(
        tool("USC_UNICORE", &out, "dump", target(""), "-o", core, NULL), 0);
    has(out, "1 vCPU");
    ck_assert_int_eq(stat(core, &st), 0);
    /* only the pages hvt loaded: never all of its 32 MiB */
    ck_assert_uint_lt((uint64_t)st.st_size, 1u << 20);
    ck_assert_int_eq(
        tool("USC_UNICORE", &out, "analyze", core, "--image", image, NULL), 0);
    has(out, "under solo5-hvt, 1 vCPU, 32 MiB");
    /* the guest's code in the dump is the image's */
    static const char *const ex[] = {"x/2i solo5_app_main", NULL};
    const char *gdb = gdb_batch(image, core, ex);

    has(gdb, "<solo5_app_main>:");
    ck_assert_ptr_null(strstr(gdb, "Cannot access memory"));
}
END_TEST

/* Last: hvt's stub takes one debugger, once, and the guest runs after. */
START_TEST(test_unigdb_attaches_through_hvts_stub)
{
    char remote[360];
    int fd;
    pid_t ug = unigdb_once(dir, with_stub(), remote, sizeof(remote), &fd);
    /* software breakpoints fault under this host's KVM (see docs/proc.md):
     * a hardware one, through hvt's debug registers */
    const char *ex[] = {remote,
                        "info registers rip",
                        "hbreak solo5_app_main",
                        "continue",
                        "bt",
                        "print si->cmdline",
                        "detach",
                        NULL};
    const char *out = gdb_batch(image, NULL, ex);

    has(out, "<_start>");
    has(out, "Breakpoint 1, solo5_app_main");
    has(out, "#1  0x");
    has(out, "in _start");
    has(out, "\"Hello_hvt\"");
    has(out, "detached");
    unigdb_ended(ug, fd);
    /* let go, the guest runs to its end */
    ck_assert_msg(test_wait_for(says, "solo5_exit(0) called", TOOL_MS),
                  "the guest never ran on");
}
END_TEST

/* ---- a Solo5 unikernel with the agent linked (the Solo5 port's) ------ */

/* Its agent through pid:PID, its "work_items" into (*items). */
static int agent_items(int64_t *items)
{
    struct usc_agent_metric m[32];
    struct usc_target *t = NULL;
    struct usc_agent *a = NULL;
    struct usc_agent_status st;
    size_t n = 0;
    int ok = 0;

    if (usc_target_open(target(""), &t) == 0 &&
        usc_target_agent_open(t, &a) == 0 && usc_agent_status(a, &st) == 0 &&
        st.state == USC_STATE_RUNNING &&
        usc_agent_metrics(a, m, 32, &n) != -EFAULT)
        for (size_t i = 0; i < n; i++)
            if (!strcmp(m[i].name, "work_items")) {
                *items = (int64_t)m[i].value;
                ok = 1;
            }
    usc_agent_close(a);
    usc_target_close(t);
    return ok;
}

static int agent_up(void *arg)
{
    int64_t items;

    (void)arg;
    return agent_items(&items) && items > 0;
}

/* The port's image under hvt (no --gdb): it runs from the start. */
static void agent_hvt_up(void)
{
    char mem[32];

    prepare();
    snprintf(tender, sizeof(tender), "%s/tenders/hvt/solo5-hvt",
             test_env("USC_SOLO5_DIR"));
    snprintf(image, sizeof(image), "%s", test_env("USC_SOLO5_HELLO_HVT"));
    snprintf(mem, sizeof(mem), "--mem=%d", MEM_MIB);
    char *argv[] = {"solo5-hvt", mem, image, NULL};
    start_tender(argv);
    if (!test_wait_for(agent_up, NULL, TEST_BOOT_MS)) {
        static char tail[4096];

        read_file(hvt_out, tail, sizeof(tail));
        ck_abort_msg("no agent at work in pid:%d; hvt said:\n%s", (int)hvt,
                     tail);
    }
}

START_TEST(test_agent_figures_core_and_analysis)
{
    char core[320], *out;
    json_t *all = top_json("0.5"), *found = hvt_row(all, 1);

    ck_assert_str_eq(json_string_value(json_object_get(found, "hypervisor")),
                     "solo5-hvt");
    ck_assert_ptr_nonnull(
        json_string_value(json_object_get(found, "agent_name")));
    ck_assert(
        json_is_real(json_object_get(found, "context_switches_per_second")));
    /* the agent's figures advance between unitop's refreshes */
    ck_assert_int_gt(test_top_metric(found, "work_items"),
                     test_top_metric(hvt_row(all, 0), "work_items"));
    ck_assert_int_gt(test_top_metric(hvt_row(all, 0), "work_items"), 0);
    json_decref(all);

    snprintf(core, sizeof(core), "%s/agent.core", dir);
    ck_assert_int_eq(
        tool("USC_UNICORE", &out, "dump", target(""), "-o", core, NULL), 0);
    ck_assert_int_eq(
        tool("USC_UNICORE", &out, "analyze", core, "--image", image, NULL), 0);
    has(out, "under solo5-hvt");
    has(out, "state      running");
    /* without hvt's stub no vCPU registers, but every task that waits is
     * a thread of the core, its bt from where it waits */
    static const char *const ex[] = {"thread apply all bt", NULL};
    const char *gdb = gdb_batch(image, core, ex);

    has(gdb, " lwt_sleep (");
    has(gdb, " in sleeper (");
    has(gdb, " lwt_wait (");
    has(gdb, " in waiter (");
}
END_TEST

/* The port's image under hvt's debugger: stopped at boot, its agent not
 * yet begun. */
static void agent_hvt_debug_up(void)
{
    prepare();
    snprintf(image, sizeof(image), "%s", test_env("USC_SOLO5_HELLO_HVT"));
    hvt_debug_up();
}

/* unigdb through hvt's stub adds the agent's tasks as threads. */
START_TEST(test_unigdb_through_hvts_stub_shows_the_agents_tasks)
{
    char remote[360];
    int fd;
    pid_t ug = unigdb_once(dir, with_stub(), remote, sizeof(remote), &fd);
    /* a hardware breakpoint once the tasks run (see docs/proc.md) */
    const char *ex[] = {remote,         "hbreak hello_work",
                        "continue",     "bt",
                        "info threads", "delete",
                        "detach",       NULL};
    const char *out = gdb_batch(image, NULL, ex);
    has(out, "Breakpoint 1, hello_work");
    has(out, " in worker (");
    /* the application's tasks by the names the agent gives them */
    has(out, "\"ticker\"");
    has(out, "\"sleeper\"");
    has(out, "\"worker-1\"");
    has(out, "detached");
    unigdb_ended(ug, fd);
    /* let go, the guest works on */
    ck_assert_msg(test_wait_for(agent_up, NULL, TOOL_MS),
                  "the guest never worked on: no agent at work");
}
END_TEST

int main(void)
{
    TCase *tc, *agent, *agent_gdb;
    Suite *s = test_suite("proc_hvt", "hvt", 300, &tc);

    tcase_add_unchecked_fixture(tc, hvt_up, hvt_down);
    tcase_add_test(tc, test_unitop_lists_it_with_host_figures);
    tcase_add_test(tc, test_unicore_dumps_its_guest_ram);
    tcase_add_test(tc, test_unigdb_attaches_through_hvts_stub);
    /* With the agent linked: the Solo5 port's hvt image, solo5-hello.hvt
     * (tests/integration/CMakeLists.txt sets USC_SOLO5_HELLO_HVT). */
    agent = tcase_create("hvt-agent");
    tcase_set_timeout(agent, 300);
    tcase_add_unchecked_fixture(agent, agent_hvt_up, hvt_down);
    tcase_add_test(agent, test_agent_figures_core_and_analysis);
    suite_add_tcase(s, agent);
    agent_gdb = tcase_create("hvt-agent-gdb");
    tcase_set_timeout(agent_gdb, 300);
    tcase_add_unchecked_fixture(agent_gdb, agent_hvt_debug_up, hvt_down);
    tcase_add_test(agent_gdb,
                   test_unigdb_through_hvts_stub_shows_the_agents_tasks);
    suite_add_tcase(s, agent_gdb);
    return test_run_suite(s);
}
