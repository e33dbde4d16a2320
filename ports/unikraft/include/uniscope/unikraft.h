/* uniscope's agent API for Unikraft code: include this, not agent.h alone. */
#ifndef UNISCOPE_UNIKRAFT_H
#define UNISCOPE_UNIKRAFT_H

/* nolibc's <stddef.h> uses __offsetof from here without including it */
#include <uk/essentials.h>
#include <uniscope/agent.h>

#endif /* UNISCOPE_UNIKRAFT_H */
