/* unicore analyze: a postmortem report from a core file alone, as JSON. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_reader.h"
#include "analyze.h"
#include "sanitize.h"
#include "unicore.h"

#define LOG_CAP (64u << 10)     /* console bytes read from the core */
#define LOG_JSON_MAX (8u << 10) /* ... of which the report keeps */

/* ---- JSON helpers ------------------------------------------------------ */

json_t *an_hex(uint64_t v)
{
    char b[24];

    snprintf(b, sizeof(b), "0x%" PRIx64, v);
    return json_string(b);
}

/* Guest text as a JSON string: printable ASCII only, newlines kept. */
json_t *an_text(const char *s, size_t len)
{
    char *out = malloc(len + 1), *line = malloc(len + 1);
    size_t o = 0, start = 0;
    json_t *j;

    if (!out || !line) {
        free(out);
        free(line);
        return json_string("");
    }
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '\n' && s[i] != '\0')
            continue;
        size_t end = i;
        if (end > start && s[end - 1] == '\r') /* a serial line's CR LF */
            end--;
        size_t n = usc_sanitize_text(line, len + 1, s + start, end - start);
        memcpy(out + o, line, n);
        o += n;
        if (i < len && s[i] == '\n')
            out[o++] = '\n';
        if (i < len && s[i] == '\0')
            break;
        start = i + 1;
    }
    j = json_stringn(out, o);
    free(out);
    free(line);
    return j ? j : json_string("");
}

json_t *an_str(const char *s)
{
    return an_text(s, strlen(s));
}

static void set(json_t *obj, const char *key, json_t *v)
{
    if (v)
        json_object_set_new(obj, key, v);
}

json_t *an_frame(const struct usc_frame *f)
{
    json_t *j = json_object();

    set(j, "pc", an_hex(f->pc));
    if (f->function[0]) {
        set(j, "function", an_str(f->function));
        set(j, "offset", json_integer((json_int_t)f->offset));
    }
    if (f->file[0]) {
        set(j, "file", an_str(f->file));
        set(j, "line", json_integer(f->line));
    }
    if (f->activation)
        set(j, "interrupted", json_true());
    return j;
}

json_t *an_frames(const struct usc_frame *f, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, an_frame(&f[i]));
    return a;
}

json_t *an_regs(const struct usc_regs *r)
{
    static const char *const names[] = {
        "rax", "rbx", "rcx", "rdx",     "rsi",     "rdi",       "rbp",
        "rsp", "r8",  "r9",  "r10",     "r11",     "r12",       "r13",
        "r14", "r15", "rip", "rflags",  "cs",      "ss",        "ds",
        "es",  "fs",  "gs",  "fs_base", "gs_base", "k_gs_base", "cr0",
        "cr2", "cr3", "cr4", "cr8",     "efer",
    };
    const uint64_t *v = (const uint64_t *)r;
    json_t *j = json_object();

    /* struct usc_regs is these 64-bit members in this order (abi.h). */
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        set(j, names[i], an_hex(v[i]));
    return j;
}

/* ---- opening the core -------------------------------------------------- */

static int open_core(struct an *a)
{
    struct usc_target_spec spec = {.kind = USC_TARGET_CORE, .domid = -1};
    int n = snprintf(spec.core, sizeof(spec.core), "%s", a->core);
    int err;

    if (n < 0 || (size_t)n >= sizeof(spec.core))
        return -ENAMETOOLONG;
    err = usc_target_open_spec(&spec, &a->t);
    if (!err)
        err = usc_target_describe(a->t, &a->info);
    if (err)
        return err;
    a->pm = usc_target_physmem(a->t);
    a->nvcpus = a->info.nvcpus;
    return 0;
}

/* The USCOPE note, when unicore wrote the core. */
static int read_note(struct an *a)
{
    int err;

    a->nv = calloc(a->nvcpus ? a->nvcpus : 1, sizeof(*a->nv));
    if (!a->nv)
        return -ENOMEM;
    err = usc_note_read_file(a->core, &a->note, a->nv, a->nvcpus, &a->nnv);
    a->have_note = err == 0;
    /* The core backend accepted the file: a note it skipped is no error. */
    return err == -ENOMEM ? err : 0;
}

static void read_agent(struct an *a)
{
    uint64_t at = USC_AGENT_SCAN;

    if (a->have_note && a->note.cb_paddr != USC_NOTE_NO_AGENT)
        at = a->note.cb_paddr;
    if (usc_agent_open(a->pm, at, &a->agent) != 0 &&
        (at == USC_AGENT_SCAN ||
         usc_agent_open(a->pm, USC_AGENT_SCAN, &a->agent) != 0)) {
        a->agent = NULL;
        return;
    }
    a->have_status = usc_agent_status(a->agent, &a->st) == 0;
    a->have_panic = usc_agent_panic(a->agent, &a->panic) == 0;
    size_t cap = usc_agent_header(a->agent)->threads.capacity;
    a->threads = calloc(cap ? cap : 1, sizeof(*a->threads));
    if (a->threads &&
        usc_agent_threads(a->agent, a->threads, cap, &a->nthreads) != 0)
        a->nthreads = 0;
    /* Which NT_PRSTATUS (gdb's LWP) each thread the dump wrote has. */
    a->core_threads = calloc(USC_NOTE_MAX_THREADS, sizeof(*a->core_threads));
    if (a->core_threads &&
        usc_note_read_threads(a->core, a->core_threads, USC_NOTE_MAX_THREADS,
                              &a->ncore_threads) != 0)
        a->ncore_threads = 0;
}

static void find_image(struct an *a, const char *given)
{
    const char *hint = a->have_note ? a->note.image : "";

    if (a->have_note && a->note.build_id_len) {
        memcpy(a->build_id, a->note.build_id, a->note.build_id_len);
        a->build_id_len = a->note.build_id_len;
    } else if (a->agent) {
        const struct usc_control_block *cb = usc_agent_header(a->agent);
        memcpy(a->build_id, cb->build_id, cb->build_id_len);
        a->build_id_len = cb->build_id_len;
    }
    a->image_skipped = json_array();
    a->image_err =
        unicore_image_find(a->core, given, hint, a->build_id, a->build_id_len,
                           &a->found, a->image_skipped);
    if (a->image_err)
        a->image[0] = '\0';
    else
        snprintf(a->image, sizeof(a->image), "%s", a->found.path);
}

int an_vcpu_live(struct an *a, uint32_t i, struct usc_regs *r, uint32_t *index)
{
    *index = i;
    if (a->have_note && i < a->nnv) {
        *index = a->nv[i].index;
        if (a->nv[i].flags & USC_NOTE_VCPU_NO_REGS)
            return -ENODATA;
        *r = a->nv[i].regs;
        return 0;
    }
    /* QEMU's cores: NT_PRSTATUS holds the vCPU's own registers. */
    return usc_target_get_regs(a->t, i, r);
}

int an_vcpu_by_index(struct an *a, uint32_t index)
{
    for (uint32_t i = 0; i < a->nvcpus; i++) {
        uint32_t idx = a->have_note && i < a->nnv ? a->nv[i].index : i;
        if (idx == index)
            return (int)i;
    }
    return -1;
}

/* ---- sections ---------------------------------------------------------- */

static void iso_time(int64_t ns, char *buf, size_t cap)
{
    time_t s = (time_t)(ns / 1000000000);
    struct tm tm;

    if (!gmtime_r(&s, &tm) || !strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, cap, "?");
}

static const char *const state_names[] = {"booting", "running", "panicked",
                                          "halted"};

static void section_guest(struct an *a, json_t *r)
{
    json_t *g = json_object();
    char b[2 * USC_BUILD_ID_MAX + 1] = "";
    const char *name = a->info.name;

    set(r, "core", an_str(a->core));
    set(r, "format", json_string(a->have_note ? "uniscope" : "elf"));
    if (a->agent && usc_agent_header(a->agent)->name[0])
        name = usc_agent_header(a->agent)->name;
    set(g, "name", an_str(name));
    if (a->have_note && a->note.hypervisor[0])
        set(g, "hypervisor", an_str(a->note.hypervisor));
    set(g, "vcpus", json_integer(a->nvcpus));
    set(g, "memory_bytes",
        json_integer((json_int_t)(a->have_note && a->note.mem_bytes
                                      ? a->note.mem_bytes
                                      : a->info.mem_bytes)));
    for (uint32_t i = 0; i < a->build_id_len; i++)
        snprintf(b + 2 * i, 3, "%02x", a->build_id[i]);
    if (a->build_id_len)
        set(g, "build_id", json_string(b));
    if (a->have_note) {
        char t[64];
        iso_time(a->note.dump_time_ns, t, sizeof(t));
        set(g, "dumped_at", json_string(t));
        set(g, "paused_ms", json_real(a->note.pause_ns / 1e6));
        set(g, "live", json_boolean(a->note.flags & USC_NOTE_LIVE));
    }
    if (a->agent) {
        set(g, "agent_at", an_hex(usc_agent_paddr(a->agent)));
        if (a->have_status)
            set(g, "uptime_s", json_real(usc_agent_uptime(a->agent, &a->st)));
    }
    set(r, "guest", g);
    if (!a->agent)
        set(r, "state", json_string("unknown (no agent found)"));
    else if (a->have_status && a->st.state < 4)
        set(r, "state", json_string(state_names[a->st.state]));
    else
        set(r, "state", json_string("unknown"));
}

static void section_image(struct an *a, json_t *r)
{
    json_t *im = json_object();

    if (a->image_err) {
        set(im, "error",
            json_string(a->image_err == -EBADF ? "the image given has another "
                                                 "build-id"
                                               : "not found: give --image"));
    } else {
        set(im, "path", an_str(a->image));
        if (strcmp(a->found.image, a->found.path))
            set(im, "boot_image", an_str(a->found.image));
        set(im, "found", json_string(a->found.how));
    }
    if (json_array_size(a->image_skipped))
        set(im, "passed_over", json_incref(a->image_skipped));
    set(r, "image", im);
}

/* The end of (buf, len) that the report keeps, from a line's start. */
static size_t tail_from(const char *buf, size_t len)
{
    size_t from = len > LOG_JSON_MAX ? len - LOG_JSON_MAX : 0;

    while (from > 0 && from < len && buf[from - 1] != '\n')
        from++;
    return from;
}

static void section_console(struct an *a, json_t *r)
{
    char *buf;
    size_t len = 0;
    uint64_t head = 0;
    json_t *c;

    if (!a->agent && a->console) {
        /* no agent: the console the core carries (its last bytes) */
        size_t from = tail_from(a->console, a->console_len);
        c = json_object();
        set(c, "source", json_string("the core's console note"));
        set(c, "bytes_logged", json_integer((json_int_t)a->console_len));
        set(c, "tail", an_text(a->console + from, a->console_len - from));
        set(r, "console", c);
        return;
    }
    if (!a->agent)
        return;
    buf = malloc(LOG_CAP);
    if (!buf)
        return;
    if (usc_agent_log(a->agent, buf, LOG_CAP, &len, &head) == 0) {
        size_t from = tail_from(buf, len);
        c = json_object();
        set(c, "source", json_string("the agent's log"));
        set(c, "bytes_logged", json_integer((json_int_t)head));
        set(c, "tail", an_text(buf + from, len - from));
        set(r, "console", c);
    }
    free(buf);
}

static void section_metrics(struct an *a, json_t *r)
{
    size_t cap, n = 0;
    struct usc_agent_metric *m;
    json_t *arr;

    if (!a->agent)
        return;
    cap = usc_agent_header(a->agent)->metrics.capacity;
    m = calloc(cap ? cap : 1, sizeof(*m));
    if (!m)
        return;
    if (usc_agent_metrics(a->agent, m, cap, &n) != 0 && n == 0) {
        free(m);
        return;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *j = json_object();
        set(j, "name", an_str(m[i].name));
        set(j, "kind",
            json_string(m[i].kind == USC_METRIC_GAUGE ? "gauge" : "counter"));
        set(j, "value",
            m[i].kind == USC_METRIC_GAUGE
                ? json_integer((json_int_t)(int64_t)m[i].value)
                : json_integer((json_int_t)m[i].value));
        if (m[i].unit[0])
            set(j, "unit", an_str(m[i].unit));
        json_array_append_new(arr, j);
    }
    set(r, "metrics", arr);
    free(m);
}

/*
 * The report's sections, in order. Each adds its members to the report,
 * or nothing when the core has nothing for it.
 */
static const struct {
    const char *name;
    void (*fill)(struct an *a, json_t *r);
} sections[] = {
    {"guest", section_guest},
    {"image", section_image},
    {"panic", an_section_panic},
    {"crash_report", an_section_crash},
    {"vcpus", an_section_vcpus},
    {"threads", an_section_threads},
    {"diagnosis", an_section_diagnosis},
    {"console", section_console},
    {"metrics", section_metrics},
    {"trace", an_section_trace},
};

static void an_free(struct an *a)
{
    json_decref(a->image_skipped);
    free(a->console);
    usc_unwind_close(a->uw);
    free(a->threads);
    free(a->core_threads);
    usc_agent_close(a->agent);
    free(a->nv);
    usc_target_close(a->t);
}

int unicore_analyze(const char *core, const char *image, json_t **out,
                    const char **what)
{
    struct an a;
    json_t *r;
    int err;

    memset(&a, 0, sizeof(a));
    a.core = core;
    *out = NULL;
    *what = "core";
    err = open_core(&a);
    if (!err)
        err = read_note(&a);
    if (err)
        goto out;
    read_agent(&a);
    an_read_console(&a);
    find_image(&a, image);
    if (image && a.image_err) {
        *what = "image";
        err = a.image_err;
        goto out;
    }
    /* Without an image, libdw still unwinds by frame pointers. */
    if (usc_unwind_open(a.t, a.image[0] ? a.image : NULL, &a.uw) != 0) {
        a.uw = NULL;
        if (image) {
            *what = "image";
            err = -ENOEXEC;
            goto out;
        }
    }
    r = json_object();
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
        sections[i].fill(&a, r);
    *out = r;
out:
    an_free(&a);
    return err;
}

/* ---- the command ------------------------------------------------------- */

int unicore_analyze_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"image", required_argument, NULL, 'i'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *image = NULL, *what = "core";
    int c, as_json = 0, err;
    json_t *r = NULL;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "i:jh", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            image = optarg;
            break;
        case 'j':
            as_json = 1;
            break;
        case 'h':
            printf("usage: unicore analyze CORE [--image ELF] [--json]\n");
            return 0;
        default:
            unicore_error("usage",
                          "unicore analyze CORE [--image ELF] [--json]");
            return UNICORE_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        unicore_error("usage", "unicore analyze CORE [--image ELF] [--json]");
        return UNICORE_EXIT_USAGE;
    }
    err = unicore_analyze(argv[optind], image, &r, &what);
    if (err) {
        const char *why = strerror(-err);
        if (!strcmp(what, "core") && err == -ENOEXEC)
            why = "not an x86-64 ELF64 core file";
        else if (!strcmp(what, "core") && err == -EINVAL)
            why = "corrupt core file (headers or notes lie about sizes)";
        else if (!strcmp(what, "core") && err == -EIO)
            why = "cannot read the core file (truncated?)";
        else if (!strcmp(what, "image") && err == -EBADF)
            why = "its build-id is not the core's";
        else if (!strcmp(what, "image") && err == -ENOEXEC)
            why = "not an x86-64 ELF executable";
        else if (!strcmp(what, "image") && err == -EBADMSG)
            why = "its build-id note is malformed (a wrong size)";
        else if (!strcmp(what, "image") && err == -ENOENT)
            why = "no symbols in it, nor a debug file beside it or by its "
                  "build-id";
        unicore_error(!strcmp(what, "image") ? image : argv[optind], "%s", why);
        return UNICORE_EXIT_FAIL;
    }
    if (as_json) {
        json_dumpf(r, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    } else {
        unicore_report_text(r);
    }
    json_decref(r);
    return fflush(stdout) == 0 ? 0 : UNICORE_EXIT_FAIL;
}
