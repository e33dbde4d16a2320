/* Fuzz target: a trace directory as unitrace report and convert read it.
 * Input: a 16-bit length L, L bytes of JSON description, then vcpu0's
 * stream bytes; the rest of a second stream (vcpu1) after a 0xff 0xfe
 * marker, if any. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace_dir.h"
#include "trace_stats.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

static char dir[64];

static void put(const char *name, const uint8_t *data, size_t len)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        abort();
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n <= 0)
            abort();
        data += n;
        len -= (size_t)n;
    }
    close(fd);
}

static void check(void)
{
    struct usc_trace_dir *d = NULL;
    struct usc_trace_stats st;
    struct usc_trace_dir_event ev;
    uint64_t n = 0, last = 0;

    if (usc_trace_dir_open(dir, &d) != 0)
        return;
    const struct usc_trace_schema *s = usc_trace_dir_schema(d);
    while (usc_trace_dir_next(d, &ev) == 1) {
        char str[USC_TP_STRING_MAX];
        CHECK(ev.ev.id < s->count && ev.ev.cls == &s->classes[ev.ev.id] &&
              ev.ev.cls->valid);
        for (unsigned i = 0; i < ev.ev.cls->nfields; i++) {
            usc_trace_event_value(&ev.ev, i);
            usc_trace_event_string(&ev.ev, i, str, sizeof(str));
            CHECK(memchr(str, '\0', sizeof(str)));
        }
        /* Merged in time order across streams. */
        CHECK(n == 0 || ev.ev.timestamp >= last);
        last = ev.ev.timestamp;
        n++;
    }
    usc_trace_dir_close(d);
    /* A second pass through the statistics and span matching. */
    if (usc_trace_dir_open(dir, &d) != 0)
        abort();
    if (usc_trace_stats_compute(d, &st) == 0) {
        CHECK(st.events == n);
        for (size_t k = 0; k < st.nspans; k++)
            CHECK(st.spans[k].count == 0 ||
                  (st.spans[k].min <= st.spans[k].p50 &&
                   st.spans[k].p50 <= st.spans[k].p99 &&
                   st.spans[k].p99 <= st.spans[k].max));
        usc_trace_stats_free(&st);
    }
    usc_trace_dir_close(d);
}

static void remove_dir(void)
{
    const char *names[] = {".unitrace.json", "vcpu0", "vcpu1"};
    char path[128];

    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/usc-fuzz-trace-XXXXXX");
        if (!mkdtemp(dir))
            abort();
        atexit(remove_dir);
    }
    if (size < 2)
        return 0;
    size_t len = (size_t)(data[0] | data[1] << 8);
    if (len > size - 2)
        len = size - 2;
    const uint8_t *rest = data + 2 + len;
    size_t left = size - 2 - len, first = left;
    for (size_t i = 0; i + 1 < left; i++)
        if (rest[i] == 0xff && rest[i + 1] == 0xfe) {
            first = i;
            break;
        }
    put(".unitrace.json", data + 2, len);
    put("vcpu0", rest, first);
    put("vcpu1", first < left ? rest + first + 2 : rest,
        first < left ? left - first - 2 : 0);
    check();
    return 0;
}
