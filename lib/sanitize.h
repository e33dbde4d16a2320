/* Making untrusted strings safe for terminals, files and Prometheus scrapes. */
#ifndef USC_SANITIZE_H
#define USC_SANITIZE_H

#include <stddef.h>

/*
 * Guest names, thread and metric names, units and console text come from
 * guest memory (or files anyone with our uid may edit): they pass through
 * here before reaching a terminal, a CSV or JSON file or a Prometheus
 * scrape. Every function writes a NUL-terminated result into (dst) of
 * (size) bytes and returns its length; (size) 0 writes nothing. Input is
 * read up to its first NUL or (len) bytes, whichever comes first.
 */

/*
 * Copy (src) into (dst) as printable ASCII: every byte outside 0x20..0x7e
 * becomes '?', so no escape sequence, control character or invalid UTF-8
 * can reach a terminal. Truncates to fit.
 */
size_t usc_sanitize_text(char *dst, size_t size, const char *src, size_t len);

/*
 * Escape (src) as a Prometheus label value (the part between the double
 * quotes): backslash, double quote and line feed get the text format's
 * escapes; every other byte outside printable ASCII becomes '?'. An escape
 * is never cut in half when truncating.
 */
size_t usc_sanitize_prom_label(char *dst, size_t size, const char *src,
                               size_t len);

/* How a guest value becomes the base unit its Prometheus name ends with. */
struct usc_prom_unit {
    double scale;  /* base value = value * scale + offset */
    double offset; /* non-zero only for temperatures */
};

/*
 * Name a guest metric for Prometheus: from guest metric (name) with unit
 * (unit) ("" when unitless), a counter when (counter) is non-zero, build
 * the part after a prefix such as "uniscope_agent_" that passes promtool's
 * lint: only [a-z0-9_], snake_case, no ':' and no type word, no
 * abbreviated or non-base unit (a unit named in the name is taken as the
 * unit when (unit) is empty), the base unit as suffix, "_total" on
 * counters and only on them, no "_count", "_sum" or "_bucket" ending.
 * Stores the conversion of values into (conv). Returns the length, or 0
 * when no name is left (nothing but unit and type words) or it does not
 * fit (dst then holds "").
 */
size_t usc_sanitize_prom_name(char *dst, size_t size, const char *name,
                              const char *unit, int counter,
                              struct usc_prom_unit *conv);

#endif /* USC_SANITIZE_H */
