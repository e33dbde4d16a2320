/*
 * Console mirror: a ukconsole output device that copies everything
 * Unikraft prints (uk_pr_*, printf, the crash dumps) into the agent's log
 * ring. Registered from the early-boot table, right after the serial
 * console, so that the boot log is caught too: output before the agent
 * starts is held here and copied in by usca_uk_console_start.
 */
#include <uk/boot/earlytab.h>
#include <uk/console/driver.h>
#include <uk/plat/lcpu.h>
#include <uk/prio.h>

#include "glue.h"

#define EARLY_MAX 4096 /* bytes of console held until the agent starts */
#define LINE_MAX 128   /* the last line, for a crash's reason */

static struct uk_console mirror;
static char early[EARLY_MAX];
static size_t early_len, early_lost;
static char line[LINE_MAX], last[LINE_MAX];
static size_t line_len;
static int lock;

/*
 * The mirror's state is shared by every vCPU that prints. A vCPU that
 * crashes while another holds the lock (or while it holds it itself,
 * printing from a trap) must still get its dump out: after a while the
 * lock is given up on, at worst mixing two lines.
 */
static unsigned long take(int *locked)
{
    unsigned long flags = ukplat_lcpu_save_irqf();

    *locked = 1;
    for (unsigned spins = 0; __atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE);
         spins++) {
        if (spins > 1000000) {
            *locked = 0;
            break;
        }
        __builtin_ia32_pause();
    }
    return flags;
}

static void drop(int locked, unsigned long flags)
{
    if (locked)
        __atomic_store_n(&lock, 0, __ATOMIC_RELEASE);
    ukplat_lcpu_restore_irqf(flags);
}

/* Keep the line being printed and the last complete one. */
static void track_lines(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n') {
            if (line_len) {
                for (size_t j = 0; j < line_len; j++)
                    last[j] = line[j];
                last[line_len] = '\0';
            }
            line_len = 0;
        } else if (buf[i] != '\r' && line_len + 1 < LINE_MAX) {
            line[line_len++] = buf[i];
        }
    }
}

static void keep(const char *buf, size_t len)
{
    if (usca_uk_ready) {
        usca_log_write(buf, len);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        if (early_len < EARLY_MAX)
            early[early_len++] = buf[i];
        else
            early_lost++;
    }
}

/* The log ring gets the text without the serial line's carriage returns. */
static __ssz mirror_out(struct uk_console *dev __unused, const char *buf,
                        __sz len)
{
    int locked;
    unsigned long flags = take(&locked);
    size_t from = 0;

    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '\r')
            continue;
        keep(buf + from, i - from);
        from = i + 1;
    }
    keep(buf + from, len - from);
    track_lines(buf, len);
    drop(locked, flags);
    return len;
}

static const struct uk_console_ops mirror_ops = {.out = mirror_out};

static int mirror_register(struct ukplat_bootinfo *bi __unused)
{
    uk_console_init(&mirror, "uniscope", &mirror_ops, UK_CONSOLE_FLAG_STDOUT);
    uk_console_register(&mirror);
    return 0;
}

/* After the serial console's early entry, so that it keeps its flags. */
UK_BOOT_EARLYTAB_ENTRY(mirror_register, UK_PRIO_LATEST);

void usca_uk_console_start(void)
{
    static const char lost[] = "[uniscope: early console output cut]\n";
    int locked;
    unsigned long flags = take(&locked);

    usca_log_write(early, early_len);
    if (early_lost)
        usca_log_write(lost, sizeof(lost) - 1);
    early_len = 0;
    /* from here on the console goes straight to the ring, in order */
    usca_uk_ready = 1;
    drop(locked, flags);
}

/* Does (s) start with (prefix)? */
static int starts(const char *s, const char *prefix)
{
    while (*prefix)
        if (*s++ != *prefix++)
            return 0;
    return 1;
}

/* Past a "[...] " or "<...> " token at (s), or (s) itself. */
static const char *skip_token(const char *s, char open, char close)
{
    const char *p = s;

    if (*p != open)
        return s;
    while (*p && *p != close)
        p++;
    if (!*p)
        return s;
    for (p++; *p == ' '; p++)
        ;
    return p;
}

/*
 * The message of a uk_pr_* line: without the time, level, library and
 * source tokens Unikraft puts before it ("[    0.31] CRIT: [app] <main.c @
 * 92> text").
 */
static const char *message_of(const char *s)
{
    static const char *const levels[] = {
        "CRIT: ", "ERR:  ", "Warn: ", "Info: "};

    s = skip_token(s, '[', ']');
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (starts(s, levels[i])) {
            s += 6;
            while (*s == ' ')
                s++;
            s = skip_token(s, '[', ']');
            break;
        }
    return skip_token(s, '<', '>');
}

void usca_uk_console_last_line(char *buf, size_t cap)
{
    int locked;
    unsigned long flags = take(&locked);
    char text[LINE_MAX];
    size_t i = 0;

    /* the line being printed, if a crash stopped it half-way */
    if (line_len) {
        for (; i < line_len; i++)
            text[i] = line[i];
        text[i] = '\0';
    } else {
        for (; i + 1 < LINE_MAX && last[i]; i++)
            text[i] = last[i];
        text[i] = '\0';
    }
    drop(locked, flags);

    const char *m = message_of(text);

    for (i = 0; i + 1 < cap && m[i]; i++)
        buf[i] = m[i];
    if (cap)
        buf[i] = '\0';
}
