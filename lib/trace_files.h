/* The files of a trace directory: metadata and JSON description. */
#ifndef USC_TRACE_FILES_H
#define USC_TRACE_FILES_H

#include <stddef.h>

#include "trace_ctf.h"
#include "trace_schema.h"

/*
 * Replace (dir)/(name) with (len) bytes at (data), atomically: written to
 * a hidden temporary file, then renamed over it. Returns 0 or -errno.
 */
int usc_trace_replace_file(const char *dir, const char *name, const void *data,
                           size_t len);

/*
 * The CTF 1.8 metadata (TSDL text) of a trace of (info) and (s), in a new
 * NUL-terminated string the caller frees, in (*text). Invalid classes are
 * left out. Returns 0 or -ENOMEM.
 */
int usc_ctf_metadata(const struct usc_ctf_info *info,
                     const struct usc_trace_schema *s, char **text);

/*
 * The JSON description (USC_CTF_SIDECAR) of a trace of (info), (s) and
 * (threads, n), in a new string the caller frees. Returns 0 or -ENOMEM.
 */
int usc_trace_sidecar_format(const struct usc_ctf_info *info,
                             const struct usc_trace_schema *s,
                             const struct usc_ctf_thread *threads, size_t n,
                             char **text);

/*
 * Parse a JSON description (text, len), which is untrusted input, into
 * (info), a schema (s) (checked as a guest's table is) and thread names
 * (*threads, *n; malloc'd, the caller frees). Returns 0; -EINVAL for
 * malformed or inconsistent input; -ENOMEM.
 */
int usc_trace_sidecar_parse(const char *text, size_t len,
                            struct usc_ctf_info *info,
                            struct usc_trace_schema *s,
                            struct usc_ctf_thread **threads, size_t *n);

#endif /* USC_TRACE_FILES_H */
