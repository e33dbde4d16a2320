/* The legacy 8259 interrupt controller pair, remapped off the exceptions. */
#include "cpu.h"
#include "kernel.h"

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1
#define ICW1_INIT_ICW4 0x11
#define ICW4_8086 0x01
#define OCW3_READ_ISR 0x0b
#define PIC_EOI 0x20

static uint16_t mask = 0xffff; /* bit n set: IRQ n masked */

static void write_mask(void)
{
    outb(PIC1_DATA, (uint8_t)mask);
    outb(PIC2_DATA, (uint8_t)(mask >> 8));
}

void pic_init(void)
{
    /* The BIOS leaves IRQ 0-7 on vectors 8-15, on top of CPU exceptions. */
    outb(PIC1_CMD, ICW1_INIT_ICW4);
    outb(PIC2_CMD, ICW1_INIT_ICW4);
    outb(PIC1_DATA, IRQ_BASE);
    outb(PIC2_DATA, IRQ_BASE + 8);
    outb(PIC1_DATA, 1 << 2); /* slave on IRQ 2 */
    outb(PIC2_DATA, 2);      /* slave's cascade identity */
    outb(PIC1_DATA, ICW4_8086);
    outb(PIC2_DATA, ICW4_8086);
    mask = 0xffff;
    write_mask();
}

void pic_unmask(unsigned irq)
{
    mask &= (uint16_t) ~(1u << irq);
    if (irq >= 8)
        mask &= (uint16_t) ~(1u << 2);
    write_mask();
}

static uint8_t in_service(uint16_t cmd)
{
    outb(cmd, OCW3_READ_ISR);
    return inb(cmd);
}

int pic_eoi(unsigned irq)
{
    /* IRQ 7 and 15 also arrive spuriously, with nothing in service. */
    if (irq == 7 && !(in_service(PIC1_CMD) & 0x80))
        return 0;
    if (irq == 15 && !(in_service(PIC2_CMD) & 0x80)) {
        outb(PIC1_CMD, PIC_EOI); /* the master did see the cascade */
        return 0;
    }
    if (irq >= 8)
        outb(PIC2_CMD, PIC_EOI);
    outb(PIC1_CMD, PIC_EOI);
    return 1;
}
