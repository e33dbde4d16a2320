/* Fuzz target: the core-file backend on an arbitrary file, then its reads. */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend.h"
#include "backend/core.h"
#include "pagewalk.h"

/* vCPUs and reads per input: enough to reach every path, cheap per run. */
#define MAX_VCPUS_TRIED 8u

static int write_all(int fd, const uint8_t *data, size_t size)
{
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n <= 0)
            return -1;
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

/* Walk a few usual kernel addresses through the core's own page tables. */
static void walk(void *priv, const struct usc_target_info *info, uint64_t cr3)
{
    static const uint64_t vaddrs[] = {0x0,
                                      0x100000,
                                      0x200000,
                                      0xffffffff80000000ull,
                                      0xffffffff80100000ull,
                                      0xffff800000000000ull};
    struct usc_physmem pm = {.read = usc_backend_core.read_phys,
                             .priv = priv,
                             .phys_end = info->phys_end};
    uint8_t buf[64];

    for (size_t i = 0; i < sizeof(vaddrs) / sizeof(vaddrs[0]); i++) {
        struct usc_xlate x;
        if (usc_pagewalk(&pm, cr3, vaddrs[i], &x) == 0)
            usc_backend_core.read_phys(priv, x.paddr, buf, sizeof(buf));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct usc_target_spec spec = {.kind = USC_TARGET_CORE, .domid = -1};
    struct usc_target_info info;
    void *priv = NULL;
    uint8_t buf[4096];
    int fd = memfd_create("fuzz_core", MFD_CLOEXEC);

    if (fd < 0)
        return 0;
    if (write_all(fd, data, size) != 0)
        goto out;
    snprintf(spec.core, sizeof(spec.core), "/proc/self/fd/%d", fd);
    if (usc_backend_core.open(&spec, &priv) != 0)
        goto out;
    if (usc_backend_core.describe(priv, &info) != 0)
        goto out;

    for (uint32_t v = 0; v < info.nvcpus && v < MAX_VCPUS_TRIED; v++) {
        struct usc_regs regs;
        if (usc_backend_core.get_regs(priv, v, &regs) == 0 && v == 0)
            walk(priv, &info, regs.cr3);
    }
    usc_backend_core.read_phys(priv, 0, buf, sizeof(buf));
    if (info.phys_end >= 64)
        usc_backend_core.read_phys(priv, info.phys_end - 64, buf, 64);
    usc_backend_core.read_phys(priv, info.phys_end, buf, 1);
    usc_backend_core.read_phys(priv, UINT64_MAX - 8, buf, 64);
    usc_core_read_vaddr(priv, 0, buf, sizeof(buf));
    usc_core_read_vaddr(priv, 0xffffffff80000000ull, buf, sizeof(buf));
    usc_core_read_vaddr(priv, UINT64_MAX - 8, buf, 64);

out:
    if (priv)
        usc_backend_core.close(priv);
    close(fd);
    return 0;
}
