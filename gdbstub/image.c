/* Which file holds a guest's symbols, for gdb: lib/imagefind over what
 * the guest, unirun or the core say. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_reader.h"
#include "imagefind.h"
#include "rundir.h"
#include "unigdb.h"
#include "uscope_note.h"

/* The guest agent's build-id, when it has an agent that gives one. */
static size_t agent_build_id(struct usc_target *t, uint8_t *id)
{
    struct usc_agent *a = NULL;
    size_t n = 0;

    if (usc_target_agent_open(t, &a) == 0) {
        const struct usc_control_block *cb = usc_agent_header(a);

        n = cb->build_id_len;
        memcpy(id, cb->build_id, n);
    }
    usc_agent_close(a);
    return n;
}

/* One line per candidate passed over. */
static void skipped(void *arg, const char *path, enum usc_image_skip why,
                    int err)
{
    (void)arg;
    if (why == USC_IMAGE_SKIP_UNREADABLE)
        unigdb_error(path, "passed over: %s: %s", usc_image_skip_text(why),
                     strerror(-err));
    else
        unigdb_error(path, "passed over: %s", usc_image_skip_text(why));
}

int unigdb_find_image(const char *spec_text, struct usc_target *t,
                      const char *given, char *out, size_t cap)
{
    struct usc_target_spec *spec = malloc(sizeof(*spec));
    struct usc_guest_info *gi = malloc(sizeof(*gi));
    struct usc_image_found *found = malloc(sizeof(*found));
    struct usc_note_hdr note;
    struct usc_image_query q = {.given = given, .skipped = skipped};
    uint8_t id[USC_BUILD_ID_MAX];
    char hex[2 * USC_BUILD_ID_MAX + 1];
    int err = -ENOMEM;

    if (!spec || !gi || !found)
        goto out;
    q.build_id = id;
    q.build_id_len = agent_build_id(t, id);
    if (usc_target_spec_parse(spec_text, spec) == 0) {
        if (spec->kind == USC_TARGET_NAME &&
            usc_guest_info_read(spec->name, gi) == 0) {
            q.recorded = gi->image;
        } else if (spec->kind == USC_TARGET_CORE) {
            q.core = spec->core;
            /* What unicore recorded: the booted image, the agent's id. */
            if (usc_note_read_file(spec->core, &note, NULL, 0, NULL) == 0) {
                q.recorded = note.image[0] ? note.image : NULL;
                if (!q.build_id_len && note.build_id_len) {
                    memcpy(id, note.build_id, note.build_id_len);
                    q.build_id_len = note.build_id_len;
                }
            }
        }
    }
    err = usc_image_find(&q, found);
    if (err)
        goto out;
    if (found->mismatch) {
        usc_build_id_hex(id, q.build_id_len, hex);
        fprintf(stderr,
                "unigdb: warning: %s is not the image the guest runs "
                "(build-id %s): its symbols may not fit\n",
                found->path, hex);
    } else if (strcmp(found->path, given        ? given
                                   : q.recorded ? q.recorded
                                                : "")) {
        /* not the file named: say which it is */
        fprintf(stderr, "unigdb: symbols from %s (%s)\n", found->path,
                found->how);
    }
    err = snprintf(out, cap, "%s", found->path) < (int)cap ? 0 : -ENAMETOOLONG;
out:
    free(spec);
    free(gi);
    free(found);
    return err;
}
