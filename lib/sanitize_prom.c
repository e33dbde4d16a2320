/* Prometheus metric names and base units from a guest's own metric names. */
#include <stdio.h>
#include <string.h>

#include "sanitize.h"

#define WORDS_MAX 24
#define WORD_MAX 40
#define NAME_MAX_IN 128 /* longer input is cut: guest names are 32 bytes */

struct unit_def {
    const char *word;
    const char *base; /* the suffix the Prometheus name gets */
    double scale, offset;
};

/* The units promtool knows by their plural names; base units map to
 * themselves, and any of them may carry a prefix below. */
static const struct unit_def units[] = {
    {"amperes", "amperes", 1, 0},
    {"bytes", "bytes", 1, 0},
    {"celsius", "celsius", 1, 0},
    {"grams", "grams", 1, 0},
    {"joules", "joules", 1, 0},
    {"kelvin", "kelvin", 1, 0},
    {"meters", "meters", 1, 0},
    {"metres", "metres", 1, 0},
    {"seconds", "seconds", 1, 0},
    {"volts", "volts", 1, 0},
    {"minutes", "seconds", 60, 0},
    {"hours", "seconds", 3600, 0},
    {"days", "seconds", 86400, 0},
    {"weeks", "seconds", 604800, 0},
    {"kelvins", "kelvin", 1, 0},
    {"fahrenheit", "celsius", 5.0 / 9.0, -160.0 / 9.0},
    {"rankine", "celsius", 5.0 / 9.0, -273.15},
    {"inches", "meters", 0.0254, 0},
    {"yards", "meters", 0.9144, 0},
    {"miles", "meters", 1609.344, 0},
    {"bits", "bytes", 0.125, 0},
    {"calories", "joules", 4.184, 0},
    {"pounds", "grams", 453.59237, 0},
    {"ounces", "grams", 28.349523125, 0},
};

static const struct {
    const char *word;
    double factor;
} prefixes[] = {
    {"pico", 1e-12},
    {"nano", 1e-9},
    {"micro", 1e-6},
    {"milli", 1e-3},
    {"centi", 1e-2},
    {"deci", 1e-1},
    {"deca", 1e1},
    {"hecto", 1e2},
    {"kilo", 1e3},
    {"kibi", 1024.0},
    {"mega", 1e6},
    {"mibi", 1048576.0},
    {"mebi", 1048576.0},
    {"giga", 1e9},
    {"gibi", 1073741824.0},
    {"tera", 1e12},
    {"tebi", 1099511627776.0},
    {"peta", 1e15},
    {"pebi", 1125899906842624.0},
};

/* The abbreviations promtool rejects as words of a name. */
static const struct unit_def abbreviations[] = {
    {"s", "seconds", 1, 0},     {"ms", "seconds", 1e-3, 0},
    {"us", "seconds", 1e-6, 0}, {"ns", "seconds", 1e-9, 0},
    {"sec", "seconds", 1, 0},   {"b", "bytes", 1, 0},
    {"kb", "bytes", 1e3, 0},    {"mb", "bytes", 1e6, 0},
    {"gb", "bytes", 1e9, 0},    {"tb", "bytes", 1e12, 0},
    {"pb", "bytes", 1e15, 0},   {"m", "meters", 1, 0},
    {"h", "seconds", 3600, 0},  {"d", "seconds", 86400, 0},
};

/* Spellings accepted as a declared unit only: harmless inside a name. */
static const struct unit_def declared_only[] = {
    {"second", "seconds", 1, 0},
    {"byte", "bytes", 1, 0},
    {"bit", "bytes", 0.125, 0},
    {"minute", "seconds", 60, 0},
    {"min", "seconds", 60, 0},
    {"hour", "seconds", 3600, 0},
    {"day", "seconds", 86400, 0},
    {"week", "seconds", 604800, 0},
    {"usec", "seconds", 1e-6, 0},
    {"msec", "seconds", 1e-3, 0},
    {"nsec", "seconds", 1e-9, 0},
    {"kib", "bytes", 1024.0, 0},
    {"mib", "bytes", 1048576.0, 0},
    {"gib", "bytes", 1073741824.0, 0},
    {"tib", "bytes", 1099511627776.0, 0},
    {"percent", "ratio", 0.01, 0},
    {"pct", "ratio", 0.01, 0},
    {"ratio", "ratio", 1, 0},
};

/* Metric type names promtool rejects inside a name. */
static const char *const type_words[] = {"counter", "gauge", "histogram",
                                         "summary", "untyped"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

struct words {
    char w[WORDS_MAX][WORD_MAX];
    size_t n;
};

static int is_type_word(const char *w)
{
    for (size_t i = 0; i < COUNT(type_words); i++)
        if (!strcmp(w, type_words[i]))
            return 1;
    return 0;
}

static const struct unit_def *in_table(const struct unit_def *t, size_t n,
                                       const char *w)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(w, t[i].word))
            return &t[i];
    return NULL;
}

/*
 * The unit (w) names, with any prefix folded into (*out); (declared)
 * admits the spellings only a declared unit may use. Returns 1 if (w) is
 * a unit, 0 if not.
 */
static int find_unit(const char *w, int declared, struct unit_def *out)
{
    const struct unit_def *u = in_table(abbreviations, COUNT(abbreviations), w);

    if (!u && declared)
        u = in_table(declared_only, COUNT(declared_only), w);
    if (!u)
        u = in_table(units, COUNT(units), w);
    if (u) {
        *out = *u;
        return 1;
    }
    for (size_t i = 0; i < COUNT(prefixes); i++) {
        size_t plen = strlen(prefixes[i].word);

        if (strncmp(w, prefixes[i].word, plen) != 0)
            continue;
        u = in_table(units, COUNT(units), w + plen);
        if (u) {
            *out = *u;
            out->scale *= prefixes[i].factor;
            return 1;
        }
    }
    return 0;
}

/*
 * Split (s) into lower-case words of [a-z0-9] at every other byte and, when
 * (camel), where a capital follows a lower-case letter or digit.
 */
static void split_words(const char *s, int camel, struct words *out)
{
    size_t len = 0;
    char prev = 0;

    out->n = 0;
    for (size_t i = 0; i < NAME_MAX_IN && s[i]; i++) {
        char c = s[i];
        int upper = c >= 'A' && c <= 'Z';
        int lower = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        int boundary =
            camel && upper &&
            ((prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9'));

        if ((!upper && !lower) || boundary) {
            if (len) {
                out->n++;
                len = 0;
            }
            if (!upper && !lower) {
                prev = 0;
                continue;
            }
        }
        if (out->n == WORDS_MAX)
            break;
        if (len + 1 < WORD_MAX) {
            out->w[out->n][len++] = upper ? (char)(c - 'A' + 'a') : c;
            out->w[out->n][len] = '\0';
        }
        prev = c;
    }
    if (len && out->n < WORDS_MAX)
        out->n++;
}

/* Append "_"-separated (w) to (dst) of (size) at (*n); 0 when it fits. */
static int append(char *dst, size_t size, size_t *n, const char *w)
{
    size_t wl = strlen(w), sep = *n ? 1 : 0;

    if (*n + sep + wl + 1 > size)
        return -1;
    if (sep)
        dst[(*n)++] = '_';
    memcpy(dst + *n, w, wl + 1);
    *n += wl;
    return 0;
}

/* 1 if (s) of (n) bytes ends with the word (w) (after '_' or alone). */
static int ends_with_word(const char *s, size_t n, const char *w)
{
    size_t wl = strlen(w);

    if (wl == 0 || wl > n || strcmp(s + n - wl, w) != 0)
        return 0;
    return wl == n || s[n - wl - 1] == '_';
}

/*
 * The suffix a declared (unit) gives, into (suffix) of (size), and its
 * conversion into (conv): a known unit's base name, else the unit's own
 * words with unit abbreviations and type words left out.
 */
static void declared_suffix(const char *unit, char *suffix, size_t size,
                            struct usc_prom_unit *conv)
{
    char key[WORD_MAX];
    struct unit_def u;
    struct words *w = &(struct words){0};
    size_t k = 0, n = 0;

    suffix[0] = '\0';
    /* "KiB", "%" and "micro-seconds" all name one unit: look it up whole. */
    for (size_t i = 0; i < NAME_MAX_IN && unit[i]; i++) {
        char c = unit[i];
        const char *add = c == '%' ? "percent" : NULL;
        char one[2] = {0, 0};

        if (c >= 'A' && c <= 'Z')
            one[0] = (char)(c - 'A' + 'a');
        else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            one[0] = c;
        if (one[0])
            add = one;
        if (!add)
            continue;
        if (k + strlen(add) + 1 > sizeof(key))
            break;
        memcpy(key + k, add, strlen(add));
        k += strlen(add);
    }
    key[k] = '\0';
    if (key[0] && find_unit(key, 1, &u)) {
        snprintf(suffix, size, "%s", u.base);
        conv->scale = u.scale;
        conv->offset = u.offset;
        return;
    }
    split_words(unit, 0, w);
    for (size_t i = 0; i < w->n; i++) {
        if (is_type_word(w->w[i]) || find_unit(w->w[i], 0, &u) ||
            !strcmp(w->w[i], "total"))
            continue;
        if (append(suffix, size, &n, w->w[i]))
            break;
    }
}

size_t usc_sanitize_prom_name(char *dst, size_t size, const char *name,
                              const char *unit, int counter,
                              struct usc_prom_unit *conv)
{
    struct words *w = &(struct words){0};
    struct unit_def from_name = {0}, u;
    char suffix[WORD_MAX * 2];
    size_t n = 0;
    int named = 0;

    conv->scale = 1;
    conv->offset = 0;
    if (size == 0)
        return 0;
    dst[0] = '\0';
    if (!name)
        return 0;
    split_words(name, 1, w);
    /* Unit words of the name go: promtool wants base units, and a suffix. */
    for (size_t i = 0; i < w->n; i++) {
        if (is_type_word(w->w[i])) {
            w->w[i][0] = '\0';
        } else if (find_unit(w->w[i], 0, &u) && strcmp(w->w[i], u.base)) {
            if (!named) {
                from_name = u;
                named = 1;
            }
            w->w[i][0] = '\0';
        }
    }
    if (unit && unit[0]) {
        declared_suffix(unit, suffix, sizeof(suffix), conv);
    } else if (named) {
        snprintf(suffix, sizeof(suffix), "%s", from_name.base);
        conv->scale = from_name.scale;
        conv->offset = from_name.offset;
    } else {
        suffix[0] = '\0';
    }
    for (size_t i = 0; i < w->n; i++)
        if (w->w[i][0] && append(dst, size, &n, w->w[i]))
            goto toolong;
    /* "_total" is the counter's alone, and comes last. */
    while (ends_with_word(dst, n, "total")) {
        n = n > 5 ? n - 6 : 0;
        dst[n] = '\0';
    }
    if (suffix[0] && ends_with_word(dst, n, suffix)) {
        n = n > strlen(suffix) ? n - strlen(suffix) - 1 : 0;
        dst[n] = '\0';
    }
    if (suffix[0] && append(dst, size, &n, suffix))
        goto toolong;
    if (n == 0)
        return 0;
    if (counter && append(dst, size, &n, "total"))
        goto toolong;
    if (!counter &&
        (ends_with_word(dst, n, "count") || ends_with_word(dst, n, "sum") ||
         ends_with_word(dst, n, "bucket")) &&
        append(dst, size, &n, "value"))
        goto toolong;
    return n;
toolong:
    dst[0] = '\0';
    return 0;
}
