/*
 * The smallest guests that stop QEMU without an agent, booted PVH (the
 * entry runs in 32-bit protected mode, no paging): with TRIPLE, a triple
 * fault (an empty IDT, then int3) after setting rbx to a known value, so
 * a core shows whether registers survived; else a pvpanic (port 0x505),
 * then a halt.
 */
#define STOP_MARK 0x5eedcafe

    .section .note.pvh, "a"
    .p2align 2
    .long 4, 4, 18 /* "Xen", 4 bytes, XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long _start

    .text
    .code32
    .globl _start
_start:
    mov $STOP_MARK, %ebx
#ifdef TRIPLE
    lidt idt0
    int3
#else
    mov $0x505, %dx
    mov $1, %al
    outb %al, %dx
#endif
1:  hlt
    jmp 1b

    .p2align 3
idt0:
    .word 0
    .long 0
