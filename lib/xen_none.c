/* Built instead of the Xen backend when the Xen libraries are missing. */
#include <errno.h>

#include "target.h"

int usc_xen_list_domains(struct usc_xen_domain **out, size_t *count)
{
    if (out)
        *out = NULL;
    if (count)
        *count = 0;
    return -ENOTSUP;
}
