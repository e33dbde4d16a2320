/* Console on COM1 (under Xen, Xen's consoles), every byte also kept in the
 * agent's log ring. */
#include <uniscope/agent.h>

#include "cpu.h"
#include "kernel.h"

#define COM1 0x3f8
#define UART_DATA 0
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define LSR_THRE 0x20
#define LCR_DLAB 0x80
/* A vCPU reporting a panic waits this many tries for the console: its
 * holder may be stopped, or be the one that faulted. */
#define PANIC_TRIES 10000000u

/* One vCPU writes at a time: lines stay whole, in the log ring too. */
static struct spinlock console_lock;

void console_init(void)
{
    /* A PVH domU has no UART: each access would trap for nothing. */
    if (xen_present()) {
        xen_console_init();
        return;
    }
    outb(COM1 + UART_IER, 0x00);
    outb(COM1 + UART_LCR, LCR_DLAB);
    outb(COM1 + UART_DATA, 1); /* divisor 1: 115200 baud */
    outb(COM1 + UART_IER, 0x00);
    outb(COM1 + UART_LCR, 0x03); /* 8N1 */
    outb(COM1 + UART_FCR, 0x07); /* FIFOs on, cleared */
    outb(COM1 + UART_MCR, 0x03); /* DTR, RTS */
}

static void serial_putc(char c)
{
    /* Bounded: where no UART answers, reads float and must not hang us. */
    for (int i = 0; i < 100000 && !(inb(COM1 + UART_LSR) & LSR_THRE); i++)
        cpu_relax();
    outb(COM1 + UART_DATA, (uint8_t)c);
}

/* Take the console, interrupts off (*flags to restore). Returns 0 when
 * a panicking vCPU gave up waiting: it writes anyway, unlocked. */
static int console_take(unsigned long *flags)
{
    *flags = save_flags_cli();
    if (!this_cpu()->panicking) {
        spin_lock(&console_lock);
        return 1;
    }
    for (uint32_t i = 0; i < PANIC_TRIES; i++) {
        if (spin_trylock(&console_lock))
            return 1;
        cpu_relax();
    }
    return 0;
}

static void console_give(int taken, unsigned long flags)
{
    if (taken)
        spin_unlock(&console_lock);
    restore_flags(flags);
}

static void write_device(const char *buf, size_t len)
{
    if (xen_present()) {
        xen_console_write(buf, len);
        return;
    }
    for (size_t i = 0; i < len; i++)
        serial_putc(buf[i]);
}

void console_write_serial(const char *buf, size_t len)
{
    unsigned long flags;
    int taken = console_take(&flags);

    write_device(buf, len);
    console_give(taken, flags);
}

void console_write(const char *buf, size_t len)
{
    unsigned long flags;
    int taken = console_take(&flags);

    write_device(buf, len);
    usca_log_write(buf, len);
    console_give(taken, flags);
}

void kprintf(const char *fmt, ...)
{
    char line[256];
    va_list ap;

    va_start(ap, fmt);
    int n = kvsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    console_write(line, (size_t)n);
}
