/* Unit tests of unitop's Xen domains, on a fake Xen host: its domain list
 * and domains whose RAM holds a hand-built agent (bench_unitop_fleet.h). */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../bench/bench_unitop_fleet.h"
#include "backend.h"
#include "unitop.h"

/* ---- the fake host ------------------------------------------------------ */

#define SLOTS 8
#define NS_PER_S 1000000000ull

struct fake_dom {
    int listed; /* in the domain list */
    struct usc_xen_domain d;
    unsigned char *ram; /* FLEET_RAM bytes */
    uint64_t vcpu_ns;
    int open_err; /* what opening it returns, 0: it opens */
    int opens;    /* attempts */
    int handles;  /* open now */
    int paused;
};

static struct fake_dom slots[SLOTS];
static int list_err, list_calls;

static int fake_list(struct usc_xen_domain **out, size_t *count)
{
    size_t n = 0;

    list_calls++;
    *out = NULL;
    *count = 0;
    if (list_err)
        return list_err;
    *out = calloc(SLOTS, sizeof(**out));
    if (!*out)
        return -ENOMEM;
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].listed)
            (*out)[n++] = slots[i].d;
    *count = n;
    return 0;
}

static void fake_close(void *priv)
{
    ((struct fake_dom *)priv)->handles--;
}

static int fake_describe(void *priv, struct usc_target_info *info)
{
    struct fake_dom *x = priv;

    memset(info, 0, sizeof(*info));
    snprintf(info->hypervisor, sizeof(info->hypervisor), "xen");
    info->nvcpus = x->d.nvcpus;
    info->mem_bytes = x->d.mem_bytes;
    info->phys_end = FLEET_RAM;
    info->pid = -1;
    info->can_control = 1;
    return 0;
}

static int fake_read(void *priv, uint64_t paddr, void *buf, size_t len)
{
    struct fake_dom *x = priv;

    if (paddr > FLEET_RAM || len > FLEET_RAM - paddr)
        return -EFAULT;
    memcpy(buf, x->ram + paddr, len);
    return 0;
}

static int fake_pause(void *priv)
{
    ((struct fake_dom *)priv)->paused = 1;
    return 0;
}

static int fake_resume(void *priv)
{
    ((struct fake_dom *)priv)->paused = 0;
    return 0;
}

static int fake_vcpu_stats(void *priv, uint32_t vcpu, struct usc_vcpu_stats *st)
{
    struct fake_dom *x = priv;

    if (vcpu >= x->d.nvcpus)
        return -EINVAL;
    st->host_tid = -1;
    st->cpu_ns = x->vcpu_ns;
    st->exits = USC_STAT_UNKNOWN;
    return 0;
}

static const struct usc_backend_ops fake_ops = {
    .name = "fake-xen",
    .close = fake_close,
    .describe = fake_describe,
    .read_phys = fake_read,
    .pause = fake_pause,
    .resume = fake_resume,
    .vcpu_stats = fake_vcpu_stats,
};

static int fake_open(uint32_t domid, struct usc_target **out)
{
    for (int i = 0; i < SLOTS; i++) {
        struct fake_dom *x = &slots[i];
        int err;

        if (!x->listed || x->d.domid != domid)
            continue;
        x->opens++;
        if (x->open_err)
            return x->open_err;
        err = usc_target_wrap(&fake_ops, x, out);
        if (!err)
            x->handles++;
        return err;
    }
    return -ESRCH;
}

/* The fake host's clock: what the test last gave top_fleet_refresh. */
static int64_t fake_ms;

static int64_t fake_now(void)
{
    return fake_ms;
}

static const struct top_xen_ops fake_xen = {
    .list = fake_list,
    .open = fake_open,
    .now_ms = fake_now,
};

/* One refresh at (now_ms), the fake clock standing still during it. */
static int refresh(struct top_fleet *f, int64_t now_ms)
{
    fake_ms = now_ms;
    return top_fleet_refresh(f, now_ms);
}

/* Slot (i): domain (domid) named (name), with an agent when (agent). */
static struct fake_dom *domain(int i, uint32_t domid, const char *name,
                               int agent)
{
    struct fake_dom *x = &slots[i];
    unsigned char *ram = x->ram;

    memset(x, 0, sizeof(*x));
    x->ram = ram;
    x->listed = 1;
    x->d.domid = domid;
    snprintf(x->d.name, sizeof(x->d.name), "%s", name);
    x->d.nvcpus = 1;
    x->d.mem_bytes = 64ull << 20;
    x->d.state = USC_VM_RUNNING;
    x->d.hvm = 1;
    free(x->ram);
    x->ram = calloc(1, FLEET_RAM);
    ck_assert_ptr_nonnull(x->ram);
    if (agent)
        fleet_build(x->ram, name);
    return x;
}

/* (x) runs for (ns) of CPU time and its agent ticks once. */
static void run(struct fake_dom *x, uint64_t ns)
{
    unsigned char *ram[1] = {x->ram};
    struct fleet fl = {.n = 1, .ram = ram};

    x->d.cpu_ns += ns;
    x->vcpu_ns += ns;
    fleet_advance(&fl);
}

static void fleet_up(struct top_fleet *f)
{
    ck_assert_int_eq(top_fleet_init(f), 0);
    f->xen = &fake_xen;
    f->procs_off = 1; /* the host's own VMM processes are not this test's */
}

static struct top_guest *find(const struct top_fleet *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->g[i]->name, name))
            return f->g[i];
    return NULL;
}

/* A host without domains yet (also when tests run without forking). */
static void host_reset(void)
{
    for (int i = 0; i < SLOTS; i++)
        free(slots[i].ram);
    memset(slots, 0, sizeof(slots));
    list_err = 0;
    list_calls = 0;
}

static char rundir[64];

/* An empty run directory: only Xen's domains show. */
static void no_rundir(void)
{
    host_reset();
    snprintf(rundir, sizeof(rundir), "/tmp/check_unitop_xen.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(rundir));
    setenv("UNISCOPE_RUNDIR", rundir, 1);
}

/* Remove the run directory a test made (empty by then). */
static void teardown(void)
{
    if (rundir[0])
        rmdir(rundir);
    rundir[0] = '\0';
}

/* ---- tests -------------------------------------------------------------- */

static void absent(int err)
{
    struct top_fleet f;

    no_rundir();
    fleet_up(&f);
    list_err = err;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(refresh(&f, 1000 + i * 1000), 0);
    ck_assert_int_eq(list_calls, 1); /* asked once, never again */
    ck_assert_uint_eq(f.n, 0);
    ck_assert_str_eq(f.msg, "");
    top_fleet_fini(&f, 0);
}

START_TEST(no_xen_is_silent_and_asked_once)
{
    absent(-ENOTSUP);
}
END_TEST

START_TEST(not_dom0_is_silent_and_asked_once)
{
    absent(-ENODEV);
}
END_TEST

START_TEST(domus_listed_with_agent_and_hypervisor_figures)
{
    struct top_fleet f;
    struct fake_dom *demo;
    struct top_guest *g, *bare;
    char target[64];

    no_rundir();
    domain(0, 0, "Domain-0", 0);
    demo = domain(1, 3, "demo", 1);
    domain(2, 5, "", 0);
    fleet_up(&f);
    ck_assert_int_eq(refresh(&f, 1000), 0);
    ck_assert_int_eq(list_calls, 1);
    ck_assert_uint_eq(f.n, 2); /* dom0 is the host, not a guest */
    g = find(&f, "demo");
    bare = find(&f, "domain-5");
    ck_assert_ptr_nonnull(g);
    ck_assert_ptr_nonnull(bare);
    ck_assert_int_eq(g->kind, TOP_KIND_XEN);
    ck_assert_str_eq(top_guest_hypervisor(g), "xen");
    ck_assert_str_eq(top_guest_kind(g), "xen");
    ck_assert_int_eq(top_guest_target(g, target, sizeof(target)), 0);
    ck_assert_str_eq(target, "xen:demo");
    ck_assert_int_eq(top_guest_target(bare, target, sizeof(target)), 0);
    ck_assert_str_eq(target, "xen:5");
    ck_assert_int_eq(g->ag.valid, 1);
    ck_assert_str_eq(g->ag.name, "demo");
    ck_assert_uint_eq(g->ag.threads, 3);
    ck_assert_uint_eq(g->ag.nmetrics, 4);
    ck_assert_int_eq(g->state, TOP_STATE_RUNNING);
    ck_assert_int_eq(top_guest_vcpus(g), 1);
    ck_assert_int_eq(top_guest_mem_bytes(g), 64ll << 20);
    ck_assert(isnan(g->hv->cpu_pct)); /* one sample: no rate yet */
    /* No agent: the hypervisor's figures and word stand, as for QEMU. */
    ck_assert_int_eq(bare->ag.valid, 0);
    ck_assert_int_eq(bare->state, TOP_STATE_RUNNING);
    ck_assert_int_eq(top_guest_mem_bytes(bare), 64ll << 20);

    run(demo, NS_PER_S / 4);
    ck_assert_int_eq(refresh(&f, 2000), 0);
    ck_assert_int_eq(list_calls, 2);
    ck_assert_ptr_eq(find(&f, "demo"), g); /* the same row, kept */
    ck_assert_double_eq_tol(g->hv->cpu_pct, 25.0, 1e-9);
    ck_assert_uint_eq(g->hv->cur.nvcpu_stats, 1);
    ck_assert_double_eq_tol(g->hv->vcpu_pct[0], 25.0, 1e-9);
    ck_assert_double_eq_tol(g->ag.metrics[0].rate, 10.0, 1e-9);
    ck_assert_uint_eq(g->ag.metrics[0].value, 10);
    ck_assert_double_eq_tol(g->ag.switch_rate, 6.0, 1e-9);
    ck_assert_int_eq(demo->handles, 1); /* opened once, kept */
    ck_assert_int_eq(demo->opens, 1);
    top_fleet_fini(&f, 0);
    ck_assert_int_eq(demo->handles, 0);
}
END_TEST

START_TEST(domains_that_go_or_come_back_are_new_rows)
{
    struct top_fleet f;
    struct fake_dom *demo;
    struct top_guest *g;

    no_rundir();
    demo = domain(0, 3, "demo", 1);
    fleet_up(&f);
    refresh(&f, 1000);
    run(demo, NS_PER_S);
    refresh(&f, 2000);
    ck_assert_int_eq(find(&f, "demo")->hv->valid, 2);

    /* Destroyed: its row goes, its handle is closed. */
    demo->listed = 0;
    refresh(&f, 3000);
    ck_assert_uint_eq(f.n, 0);
    ck_assert_int_eq(demo->handles, 0);

    /* Made again under a new id: a new row, opened anew. */
    demo->listed = 1;
    demo->d.domid = 4;
    demo->d.cpu_ns = 0;
    refresh(&f, 4000);
    g = find(&f, "demo");
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(g->dom.domid, 4);
    ck_assert_int_eq(g->hv->valid, 1);
    ck_assert_int_eq(demo->handles, 1);

    /* The same id again with less CPU time: another domain since. */
    run(demo, NS_PER_S);
    refresh(&f, 5000);
    ck_assert_int_eq(find(&f, "demo")->hv->valid, 2);
    demo->d.cpu_ns = 1000;
    refresh(&f, 6000);
    ck_assert_int_eq(find(&f, "demo")->hv->valid, 1);
    ck_assert(isnan(find(&f, "demo")->hv->cpu_pct));
    ck_assert_int_eq(demo->handles, 1);

    /* Renamed (xl rename): the same row under its new name. */
    g = find(&f, "demo");
    snprintf(demo->d.name, sizeof(demo->d.name), "demo2");
    refresh(&f, 7000);
    ck_assert_ptr_null(find(&f, "demo"));
    ck_assert_ptr_eq(find(&f, "demo2"), g);
    ck_assert_int_eq(g->hv->valid, 2);
    ck_assert_int_eq(demo->handles, 1);

    /* Its name gone from xenstore as it is destroyed: the row keeps it. */
    demo->d.name[0] = '\0';
    demo->d.state = USC_VM_PAUSED;
    refresh(&f, 8000);
    ck_assert_ptr_eq(find(&f, "demo2"), g);
    ck_assert_int_eq(g->state, TOP_STATE_PAUSED);

    /* Named just after it was made: the row takes the name. */
    domain(1, 9, "", 0);
    refresh(&f, 9000);
    g = find(&f, "domain-9");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(g->dom.named, 0);
    ck_assert_str_eq(f.g[0]->name, "demo2");
    snprintf(slots[1].d.name, sizeof(slots[1].d.name), "alpha");
    refresh(&f, 10000);
    ck_assert_ptr_eq(find(&f, "alpha"), g);
    ck_assert_int_eq(g->dom.named, 1);
    ck_assert_str_eq(f.g[0]->name, "alpha"); /* sorted in again */
    ck_assert_str_eq(f.g[1]->name, "demo2");
    top_fleet_fini(&f, 0);
}
END_TEST

START_TEST(a_domain_that_will_not_open_still_shows)
{
    struct top_fleet f;
    struct fake_dom *demo;
    struct top_guest *g;

    no_rundir();
    demo = domain(0, 3, "demo", 1);
    demo->open_err = -EACCES;
    fleet_up(&f);
    refresh(&f, 1000);
    g = find(&f, "demo");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(g->ag.valid, 0);
    ck_assert_int_eq(g->ag.err, -EACCES);
    ck_assert_int_eq(g->state, TOP_STATE_RUNNING);
    ck_assert_int_eq(demo->opens, 1);
    /* Not asked again before its backoff ends... */
    refresh(&f, 1100);
    ck_assert_int_eq(demo->opens, 1);
    /* ...and its agent found as soon as it opens. */
    demo->open_err = 0;
    refresh(&f, 1300);
    ck_assert_int_eq(demo->opens, 2);
    ck_assert_int_eq(g->ag.valid, 1);
    ck_assert_int_eq(g->ag.err, 0);
    top_fleet_fini(&f, 0);
}
END_TEST

START_TEST(states_come_from_the_list_refined_by_the_agent)
{
    struct top_fleet f;
    struct fake_dom *demo;
    struct usc_control_block *cb;
    struct top_guest *g;

    no_rundir();
    demo = domain(0, 3, "demo", 1);
    cb = (struct usc_control_block *)(demo->ram + FLEET_CB);
    fleet_up(&f);
    refresh(&f, 1000);
    g = find(&f, "demo");
    demo->d.state = USC_VM_PAUSED;
    refresh(&f, 2000);
    ck_assert_int_eq(g->state, TOP_STATE_PAUSED);
    demo->d.state = USC_VM_RUNNING;
    cb->state = USC_STATE_PANICKED;
    refresh(&f, 3000);
    ck_assert_int_eq(g->state, TOP_STATE_PANICKED);
    /* Crashed and kept by Xen after the agent's panic: panicked. */
    demo->d.state = USC_VM_SHUTDOWN;
    refresh(&f, 4000);
    ck_assert_int_eq(g->state, TOP_STATE_PANICKED);
    cb->state = USC_STATE_RUNNING;
    refresh(&f, 5000);
    ck_assert_int_eq(g->state, TOP_STATE_SHUTDOWN);
    top_fleet_fini(&f, 0);
}
END_TEST

START_TEST(pause_and_resume_act_at_once)
{
    struct top_fleet f;
    struct fake_dom *demo;
    struct top_guest *g;

    no_rundir();
    demo = domain(0, 3, "demo", 1);
    fleet_up(&f);
    refresh(&f, 1000);
    g = find(&f, "demo");
    ck_assert_int_eq(top_fleet_act(&f, g, TOP_JOB_PAUSE), 0);
    ck_assert_int_eq(demo->paused, 1);
    ck_assert_int_eq(g->state, TOP_STATE_PAUSED);
    ck_assert_str_eq(f.msg, "demo: paused");
    ck_assert_uint_eq(f.jobs_out, 0); /* no worker job for a domain */
    ck_assert_int_eq(top_fleet_act(&f, g, TOP_JOB_RESUME), 0);
    ck_assert_int_eq(demo->paused, 0);
    ck_assert_str_eq(f.msg, "demo: resumed");
    top_fleet_fini(&f, 0);
}
END_TEST

START_TEST(listing_errors_keep_the_rows)
{
    struct top_fleet f;

    no_rundir();
    domain(0, 3, "demo", 1);
    fleet_up(&f);
    refresh(&f, 1000);
    list_err = -EIO;
    refresh(&f, 2000);
    ck_assert_uint_eq(f.n, 1);
    ck_assert_ptr_nonnull(strstr(f.msg, "xen: listing domains"));
    list_err = 0;
    refresh(&f, 3000);
    ck_assert_uint_eq(f.n, 1);
    ck_assert_int_eq(f.xen_off, 0);
    top_fleet_fini(&f, 0);
}
END_TEST

START_TEST(names_that_are_no_target_name_go_by_id)
{
    struct top_fleet f;
    char target[64];

    no_rundir();
    domain(0, 6, "42", 0);
    domain(1, 7, "two words", 0);
    fleet_up(&f);
    refresh(&f, 1000);
    ck_assert_uint_eq(f.n, 2);
    top_guest_target(find(&f, "42"), target, sizeof(target));
    ck_assert_str_eq(target, "xen:6");
    top_guest_target(find(&f, "two words"), target, sizeof(target));
    ck_assert_str_eq(target, "xen:7");
    top_fleet_fini(&f, 0);
}
END_TEST

START_TEST(run_directory_guests_and_domains_share_the_list)
{
    struct top_fleet f;
    struct fleet fl;

    no_rundir();
    ck_assert_int_eq(fleet_make(&fl, 2, "m"), 0); /* m00000, m00001 */
    domain(0, 3, "demo", 1);
    domain(1, 4, "m00001", 1); /* a name both have */
    domain(2, 5, "zulu", 0);
    fleet_up(&f);
    ck_assert_int_eq(refresh(&f, 1000), 0);
    ck_assert_uint_eq(f.n, 5);
    ck_assert_str_eq(f.g[0]->name, "demo");
    ck_assert_str_eq(f.g[1]->name, "m00000");
    ck_assert_str_eq(f.g[2]->name, "m00001");
    ck_assert_int_eq(f.g[2]->kind, TOP_KIND_AGENT_ONLY);
    ck_assert_str_eq(f.g[3]->name, "m00001");
    ck_assert_int_eq(f.g[3]->kind, TOP_KIND_XEN);
    ck_assert_str_eq(f.g[4]->name, "zulu");
    ck_assert_int_eq(f.g[1]->ag.valid, 1);
    ck_assert_int_eq(f.g[3]->ag.valid, 1);
    /* A guest leaves the run directory: the domains stay. */
    usc_rundir_guest_remove("m00000");
    ck_assert_int_eq(refresh(&f, 2000), 0);
    ck_assert_uint_eq(f.n, 4);
    ck_assert_str_eq(f.g[0]->name, "demo");
    ck_assert_str_eq(f.g[1]->name, "m00001");
    /* A domain goes: the run directory's guests stay. */
    slots[0].listed = 0;
    ck_assert_int_eq(refresh(&f, 3000), 0);
    ck_assert_uint_eq(f.n, 3);
    ck_assert_str_eq(f.g[0]->name, "m00001");
    top_fleet_fini(&f, 0);
    fleet_destroy(&fl);
}
END_TEST

START_TEST(batch_json_names_hypervisor_kind_and_domid)
{
    char path[] = "/tmp/check_unitop_xen.json.XXXXXX";
    struct top_batch b = {.format = TOP_FORMAT_JSON};
    struct top_fleet f;
    json_error_t jerr;
    json_t *root, *g;
    int fd;

    no_rundir();
    domain(0, 3, "demo", 1);
    fleet_up(&f);
    refresh(&f, 1000);
    refresh(&f, 2000);
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_ptr_nonnull(freopen(path, "w", stdout));
    ck_assert_int_eq(top_batch_emit(&b, &f, 1000), 0);
    ck_assert_int_eq(top_batch_end(&b), 0);
    fflush(stdout);
    root = json_load_file(path, 0, &jerr);
    unlink(path);
    close(fd);
    ck_assert_ptr_nonnull(root);
    g = json_array_get(json_object_get(json_array_get(root, 0), "guests"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(g, "name")), "demo");
    ck_assert_str_eq(json_string_value(json_object_get(g, "hypervisor")),
                     "xen");
    ck_assert_str_eq(json_string_value(json_object_get(g, "kind")), "xen");
    ck_assert_int_eq(json_integer_value(json_object_get(g, "domid")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(g, "state")), "running");
    ck_assert_int_eq(json_integer_value(json_object_get(g, "threads")), 3);
    json_decref(root);
    top_fleet_fini(&f, 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("unitop_xen");
    TCase *tc = tcase_create("xen");

    tcase_add_checked_fixture(tc, NULL, teardown);

    tcase_add_test(tc, no_xen_is_silent_and_asked_once);
    tcase_add_test(tc, not_dom0_is_silent_and_asked_once);
    tcase_add_test(tc, domus_listed_with_agent_and_hypervisor_figures);
    tcase_add_test(tc, domains_that_go_or_come_back_are_new_rows);
    tcase_add_test(tc, a_domain_that_will_not_open_still_shows);
    tcase_add_test(tc, states_come_from_the_list_refined_by_the_agent);
    tcase_add_test(tc, pause_and_resume_act_at_once);
    tcase_add_test(tc, listing_errors_keep_the_rows);
    tcase_add_test(tc, names_that_are_no_target_name_go_by_id);
    tcase_add_test(tc, run_directory_guests_and_domains_share_the_list);
    tcase_add_test(tc, batch_json_names_hypervisor_kind_and_domid);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
