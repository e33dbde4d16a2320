/* unirun's parts: options, QEMU's command line, boot, list and stop. */
#ifndef UNIRUN_H
#define UNIRUN_H

#include <stdint.h>
#include <sys/types.h>

/* Exit statuses of unirun itself (a booted guest's own status aside). */
#define UNIRUN_EXIT_FAIL 1
#define UNIRUN_EXIT_USAGE 2

/* How long a new QEMU may take to answer on QMP before we give up. */
#define UNIRUN_START_TIMEOUT_MS 15000

enum unirun_mode {
    UNIRUN_BOOT = 0,
    UNIRUN_LIST,
    UNIRUN_STOP,
    UNIRUN_HELP,
    UNIRUN_VERSION,
};

enum unirun_accel {
    UNIRUN_ACCEL_AUTO = 0,
    UNIRUN_ACCEL_TCG,
    UNIRUN_ACCEL_KVM,
};

struct unirun_opts {
    enum unirun_mode mode;
    const char *name; /* --name, or --stop's NAME; NULL when not given */
    unsigned memory_mib;
    unsigned vcpus;
    enum unirun_accel accel;
    int detach;
    int console;
    const char *image;
    char *kernel_args; /* the words after "--" joined by spaces, or NULL */
};

/*
 * Parse (argc, argv) into (o). Returns 0; or UNIRUN_EXIT_USAGE after
 * printing one line on stderr. (o)->kernel_args is freed by
 * unirun_opts_free.
 */
int unirun_options_parse(int argc, char **argv, struct unirun_opts *o);
void unirun_opts_free(struct unirun_opts *o);

/* Print "unirun: (context): (reason...)" as one line on stderr. */
void unirun_error(const char *context, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Usage text, for --help. */
void unirun_usage(void);

/* ---- QEMU's command line (qemu_cmd.c) ----------------------------------- */

/* QEMU's argv, with the strings it owns. */
struct unirun_qemu_cmd {
    char **argv; /* NULL-terminated */
    size_t argc, cap;
};

/*
 * Build the command line booting (o)->image as guest (name) in its run
 * directory folder, with accelerator (accel) ("tcg" or "kvm"), paused
 * (-S) so that the guest runs only once its tools can see it. Returns 0
 * or a negative errno.
 */
int unirun_qemu_cmd(const struct unirun_opts *o, const char *name,
                    const char *image, const char *accel,
                    struct unirun_qemu_cmd *cmd);
void unirun_qemu_cmd_free(struct unirun_qemu_cmd *cmd);

/* "kvm" when /dev/kvm can be opened and answers, else "tcg". */
const char *unirun_accel_auto(void);

/* ---- the jobs ----------------------------------------------------------- */

/* Boot (o)->image; returns unirun's exit status (the guest's, foreground). */
int unirun_boot(const struct unirun_opts *o);

/* Print the guest table; returns the exit status. */
int unirun_list(void);

/* Stop guest (name) and remove its folder; returns the exit status. */
int unirun_stop(const char *name);

/* Milliseconds on the monotonic clock. */
int64_t unirun_now_ms(void);

#endif /* UNIRUN_H */
