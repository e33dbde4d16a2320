/* A process's memory mappings, as /proc/PID/maps lists them. */
#ifndef USC_PROCMAPS_H
#define USC_PROCMAPS_H

#include <stddef.h>
#include <stdint.h>

/* Protection and sharing of a mapping (struct usc_procmap.flags). */
#define USC_PROCMAP_READ 0x1u
#define USC_PROCMAP_WRITE 0x2u
#define USC_PROCMAP_EXEC 0x4u
#define USC_PROCMAP_SHARED 0x8u
#define USC_PROCMAP_DELETED 0x10u /* the path ends " (deleted)" */

/* What backs a mapping, from its path column. */
enum usc_procmap_kind {
    USC_PROCMAP_ANON = 1, /* no path: private (or shared) anonymous memory */
    USC_PROCMAP_SHMEM,    /* shared anonymous: "/dev/zero (deleted)", SysV */
    USC_PROCMAP_MEMFD,    /* "/memfd:NAME (deleted)" */
    USC_PROCMAP_FILE,     /* any other path */
    USC_PROCMAP_SPECIAL,  /* "[heap]", "[stack]", "[vdso]", ... */
};

#define USC_PROCMAP_NAME_MAX 64

/* One line of /proc/PID/maps. */
struct usc_procmap {
    uint64_t start, end; /* host virtual addresses, start < end */
    uint64_t offset;     /* into the backing file */
    uint64_t inode;
    uint32_t dev_major, dev_minor;
    uint32_t flags; /* USC_PROCMAP_* */
    enum usc_procmap_kind kind;
    char name[USC_PROCMAP_NAME_MAX]; /* the path, cut to fit; "" for none */
};

/* The most lines usc_procmaps_parse takes: more is -E2BIG. */
#define USC_PROCMAPS_MAX (1u << 20)

/*
 * Parse (len) bytes of /proc/PID/maps text at (text) into a new array of
 * (*n) mappings in (*out), freed by the caller with free(). Every line is
 * "START-END PERMS OFFSET MAJ:MIN INODE [PATH]" with hex numbers (the
 * inode decimal); a last line without its newline is taken too. Returns
 * 0 (with *out NULL when there are none); -EPROTO for a malformed line
 * (bad number, start not below end, lines out of order); -E2BIG for more
 * than USC_PROCMAPS_MAX lines; -ENOMEM.
 */
int usc_procmaps_parse(const char *text, size_t len, struct usc_procmap **out,
                       size_t *n);

/*
 * Read /proc/(pid)/maps whole and parse it as usc_procmaps_parse does.
 * Returns 0; -ESRCH when the process is gone; -EACCES or -EPERM when its
 * maps may not be read by us; another negative errno.
 */
int usc_procmaps_read(int pid, struct usc_procmap **out, size_t *n);

#endif /* USC_PROCMAPS_H */
