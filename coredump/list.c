/* unicore list: the cores unirun kept of guests that crashed, newest first,
 * as coredumpctl lists a host's. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cores.h"
#include "rundir.h"
#include "sanitize.h"
#include "unicore.h"

static const char *usage_line = "unicore list [NAME] [--json]";

static void when_text(int64_t when, char *buf, size_t cap)
{
    time_t t = (time_t)when;
    struct tm tm;

    localtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

static void size_text(uint64_t bytes, char *buf, size_t cap)
{
    if (bytes >= (10ull << 20))
        snprintf(buf, cap, "%.0fM", bytes / 1048576.0);
    else if (bytes >= (1ull << 20))
        snprintf(buf, cap, "%.1fM", bytes / 1048576.0);
    else
        snprintf(buf, cap, "%.0fK", bytes / 1024.0);
}

/* One core as the JSON object --json prints; NULL without memory. */
static json_t *as_json(const struct usc_core_record *r)
{
    json_t *o, *path = json_string(r->path);
    char when[32];

    when_text(r->time, when, sizeof(when));
    /* A file name need not be UTF-8: then it is null, not a string. */
    o = json_pack("{s:o, s:s, s:I, s:s, s:I}", "core",
                  path ? path : json_null(), "guest", r->guest, "time",
                  (json_int_t)r->time, "time_text", when, "size",
                  (json_int_t)r->size);
    if (!o)
        return NULL;
    if (r->kind[0])
        json_object_set_new(o, "kind", json_string(r->kind));
    if (r->reason[0])
        json_object_set_new(o, "reason", json_string(r->reason));
    if (r->image[0])
        json_object_set_new(o, "image", json_string(r->image));
    if (r->debug[0])
        json_object_set_new(o, "debug", json_string(r->debug));
    if (r->exit_status >= 0)
        json_object_set_new(o, "exit_status", json_integer(r->exit_status));
    return o;
}

static int print_json(const struct usc_core_record *v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++) {
        json_t *o = as_json(&v[i]);

        if (!o || json_array_append_new(a, o)) {
            json_decref(a);
            a = NULL;
        }
    }
    if (!a || json_dumpf(a, stdout, JSON_INDENT(2)) != 0) {
        json_decref(a);
        unicore_error("list", "%s", strerror(ENOMEM));
        return UNICORE_EXIT_FAIL;
    }
    putchar('\n');
    json_decref(a);
    return 0;
}

static void print_text(const struct usc_core_record *v, size_t n)
{
    int width = 5;

    for (size_t i = 0; i < n; i++)
        if ((int)strlen(v[i].guest) > width)
            width = (int)strlen(v[i].guest);
    printf("%-19s %-*s %-14s %6s %-24s %s\n", "TIME", width, "GUEST", "REASON",
           "SIZE", "IMAGE", "CORE");
    for (size_t i = 0; i < n; i++) {
        char when[32], size[16], image[64], kind[32];
        const char *slash = strrchr(v[i].image, '/');
        const char *base = slash ? slash + 1 : v[i].image;

        when_text(v[i].time, when, sizeof(when));
        size_text(v[i].size, size, sizeof(size));
        usc_sanitize_text(image, sizeof(image), base[0] ? base : "-",
                          strlen(base[0] ? base : "-"));
        usc_sanitize_text(kind, sizeof(kind), v[i].kind[0] ? v[i].kind : "-",
                          sizeof(v[i].kind));
        printf("%-19s %-*s %-14s %6s %-24s %s\n", when, width, v[i].guest, kind,
               size, image, v[i].path);
    }
}

int unicore_list_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct usc_core_record *v = NULL;
    const char *name = NULL;
    int c, json = 0, status, err;
    char dir[PATH_MAX] = "run directory";
    size_t n = 0;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'h':
            printf("usage: %s\n", usage_line);
            return 0;
        default:
            unicore_error("usage", "%s", usage_line);
            return UNICORE_EXIT_USAGE;
        }
    }
    if (optind + 1 < argc) {
        unicore_error("usage", "%s", usage_line);
        return UNICORE_EXIT_USAGE;
    }
    if (optind < argc) {
        name = argv[optind];
        if (!usc_rundir_name_valid(name)) {
            unicore_error(name, "not a guest name");
            return UNICORE_EXIT_USAGE;
        }
    }
    err = usc_cores_list(name, &v, &n);
    if (err) {
        usc_rundir_path(dir, sizeof(dir));
        unicore_error(dir, "%s",
                      err == -EPERM ? "not owned by us or open to others "
                                      "(needs 0700)"
                                    : strerror(-err));
        return UNICORE_EXIT_FAIL;
    }
    status = 0;
    if (json)
        status = print_json(v, n);
    else if (n)
        print_text(v, n);
    else if (usc_cores_path(dir, sizeof(dir)) == 0)
        fprintf(stderr, "unicore: no kept cores%s%s (in %s)\n",
                name ? " of " : "", name ? name : "", dir);
    free(v);
    return status;
}
