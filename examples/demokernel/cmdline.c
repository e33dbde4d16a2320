/* Kernel command line: scenario=, threads=, name=, runtime=, status=, and
 * the rest the README lists. */
#include "kernel.h"

#define DEFAULT_THREADS 3
#define DEFAULT_STRESS_TICKS (10 * TIMER_HZ)
/* Workers leave room for the scenario's own thread (crasher, spinner). */
#define MAX_WORKERS (MAX_THREADS - 1)

static const char *const scenario_names[] = {
    [SCENARIO_IDLE] = "idle",
    [SCENARIO_WORK] = "work",
    [SCENARIO_CRASH] = "crash",
    [SCENARIO_HANG] = "hang",
    /* bugs.c */
    [SCENARIO_ASSERT] = "assert",
    [SCENARIO_OVERFLOW] = "overflow",
    [SCENARIO_DEADLOCK] = "deadlock",
    /* smp_scenarios.c */
    [SCENARIO_RACE] = "race",
    [SCENARIO_STRESS] = "stress",
    [SCENARIO_ABORT] = "abort",
};

const char *scenario_name(enum scenario s)
{
    return scenario_names[s];
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Does the value (v, n bytes) equal the string (s)? */
static int value_is(const char *v, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(v, s, n) == 0;
}

/* Parse (v, n bytes) as a decimal integer into (out). Returns 0, or -1. */
static int parse_uint(const char *v, size_t n, uint64_t *out)
{
    uint64_t x = 0;

    if (n == 0 || n > 12)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return 0;
}

/* Seconds, with up to two decimals ("2", "0.5"), as timer ticks. */
static int parse_seconds(const char *v, size_t n, uint64_t *ticks)
{
    size_t dot = 0;
    uint64_t whole, frac = 0;

    while (dot < n && v[dot] != '.')
        dot++;
    if (parse_uint(v, dot, &whole) < 0)
        return -1;
    if (dot < n) {
        size_t fn = n - dot - 1;
        if (fn == 0 || fn > 2 || parse_uint(v + dot + 1, fn, &frac) < 0)
            return -1;
        if (fn == 1)
            frac *= 10;
    }
    *ticks = whole * TIMER_HZ + frac * TIMER_HZ / 100;
    return 0;
}

/* Say that the token (tok, len bytes) is not understood. */
static void ignore(const char *tok, size_t len)
{
    char buf[64];

    if (len >= sizeof(buf))
        len = sizeof(buf) - 1;
    memcpy(buf, tok, len);
    buf[len] = '\0';
    kprintf("cmdline: ignoring '%s'\n", buf);
}

/* Apply key=value; the key and value are contiguous around the '='. */
static void set_option(struct options *opt, const char *key, size_t klen,
                       const char *v, size_t vlen)
{
    uint64_t x;

    if (value_is(key, klen, "scenario")) {
        for (size_t i = 0; i < sizeof(scenario_names) / sizeof(*scenario_names);
             i++) {
            if (value_is(v, vlen, scenario_names[i])) {
                opt->scenario = (enum scenario)i;
                return;
            }
        }
    } else if (value_is(key, klen, "threads")) {
        if (parse_uint(v, vlen, &x) == 0 && x >= 1) {
            opt->threads = x > MAX_WORKERS ? MAX_WORKERS : (uint32_t)x;
            opt->threads_given = 1;
            return;
        }
    } else if (value_is(key, klen, "name")) {
        if (vlen > 0 && vlen < sizeof(opt->name)) {
            memcpy(opt->name, v, vlen);
            opt->name[vlen] = '\0';
            return;
        }
    } else if (value_is(key, klen, "runtime")) {
        if (parse_seconds(v, vlen, &opt->runtime_ticks) == 0)
            return;
    } else if (value_is(key, klen, "touch")) {
        if (parse_uint(v, vlen, &x) == 0 && x <= 1024) {
            opt->touch_mib = (uint32_t)x;
            return;
        }
    } else if (value_is(key, klen, "crash_after")) {
        if (parse_seconds(v, vlen, &opt->crash_ticks) == 0)
            return;
    } else if (value_is(key, klen, "crash_cpu")) {
        if (parse_uint(v, vlen, &x) == 0 && x < MAX_CPUS) {
            opt->crash_cpu = (int32_t)x;
            return;
        }
    } else if (value_is(key, klen, "vcpus")) {
        if (parse_uint(v, vlen, &x) == 0 && x >= 1 && x <= MAX_CPUS) {
            opt->max_cpus = (uint32_t)x;
            return;
        }
    } else if (value_is(key, klen, "panic_stop")) {
        if (parse_uint(v, vlen, &x) == 0 && x <= 1) {
            opt->panic_stop = (int)x;
            return;
        }
    } else if (value_is(key, klen, "stress_for")) {
        if (parse_seconds(v, vlen, &opt->stress_ticks) == 0)
            return;
    } else if (value_is(key, klen, "status")) {
        if (parse_uint(v, vlen, &x) == 0 && x <= 127) {
            opt->exit_status = (uint32_t)x;
            return;
        }
    }
    ignore(key, klen + 1 + vlen);
}

void cmdline_parse(const char *cmdline, struct options *opt)
{
    opt->scenario = SCENARIO_IDLE;
    opt->threads = DEFAULT_THREADS;
    opt->threads_given = 0;
    opt->runtime_ticks = 0;
    opt->exit_status = 0;
    opt->crash_ticks = CRASH_DELAY_TICKS;
    opt->touch_mib = 0;
    opt->crash_cpu = -1;
    opt->max_cpus = 0;
    opt->panic_stop = 0;
    opt->stress_ticks = DEFAULT_STRESS_TICKS;
    strlcpy(opt->name, "demokernel", sizeof(opt->name));
    if (!cmdline)
        return;

    const char *p = cmdline;
    while (*p) {
        while (is_space(*p))
            p++;
        const char *tok = p;
        while (*p && !is_space(*p))
            p++;
        size_t len = (size_t)(p - tok);
        if (len == 0)
            break;
        size_t klen = 0;
        while (klen < len && tok[klen] != '=')
            klen++;
        if (klen == len) {
            ignore(tok, len);
            continue;
        }
        set_option(opt, tok, klen, tok + klen + 1, len - klen - 1);
    }
}
