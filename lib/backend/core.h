/* The core-file backend: what it offers beyond the operations table. */
#ifndef USC_BACKEND_CORE_H
#define USC_BACKEND_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

/*
 * usc_backend_core serves an ELF64 ET_CORE file for EM_X86_64, read-only:
 * guest-physical memory from the PT_LOADs (by p_paddr; bytes past a
 * segment's p_filesz read as zeros), one vCPU per NT_PRSTATUS note in file
 * order, control registers (cr8 and efer included) and the guest's name
 * from uniscope's "USCOPE" note (uscope_note.h), else control registers
 * from QEMU's per-vCPU "QEMU" notes (cr8 and efer then read as 0), else
 * none. open returns -ENOEXEC for
 * a file that is not an x86-64 ELF64 core (QEMU writes EM_386 cores of
 * guests that are not in long mode) and -EINVAL for a
 * core whose structure is corrupt or lies (segments or notes beyond the
 * file, physical ranges that overlap with different contents, no PT_LOAD,
 * no NT_PRSTATUS, absurd counts).
 */

/*
 * Copy (len) bytes at guest-virtual (vaddr) into (buf), by the PT_LOADs'
 * p_vaddr, for a core opened by usc_backend_core.open whose state is
 * (priv). Meant as the fallback when there is no CR3 to walk page tables
 * with: uniscope cores set p_vaddr to the address the image's symbols
 * use, QEMU's dump-guest-memory sets it to p_paddr (paging=false) or to
 * the mapping it found (paging=true). Where p_vaddr ranges overlap the
 * lowest-addressed, then the largest, segment wins; a segment that would
 * wrap past the top of the address space is not served. Returns 0, or
 * -EFAULT when a byte lies in no segment (buf may then be partly
 * written), or -EIO when the file cannot be read.
 */
int usc_core_read_vaddr(void *priv, uint64_t vaddr, void *buf, size_t len);

#endif /* USC_BACKEND_CORE_H */
