/* unitop: a live top across uniscope guests, batch output and Prometheus. */
#include <stdio.h>

#include "unitop.h"

int main(int argc, char **argv)
{
    struct top_opts o;
    int status = top_options_parse(argc, argv, &o);

    if (status)
        return status;
    if (o.help) {
        top_usage();
        return 0;
    }
    if (o.version) {
        printf("unitop (uniscope) %s\n", USC_VERSION);
        return 0;
    }
    return top_run(&o);
}
