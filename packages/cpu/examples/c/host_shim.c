/*
 * host_shim.c - lets the very same program sources run on the build host
 * (x86-64 Linux) to produce the expected console output.
 *
 * Built with -DVMX_HOST -ffreestanding -nostdlib -static (no libc at all),
 * so lib.c's formatter and mem* functions are what gets tested, exactly as
 * on the emulated machine. putchar_e9() -> host_putc() buffers bytes and
 * writes them to stdout; main's return value becomes the exit status.
 * Used only by build.sh; never linked into the ELF32 images.
 */
#include "lib.h"

int main(void);

static long host_syscall3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
}

#define SYS_WRITE 1
#define SYS_EXIT_GROUP 231

static unsigned char out_buf[4096];
static long out_len;

static void host_flush(void)
{
    long off = 0;
    while (off < out_len) {
        long n = host_syscall3(SYS_WRITE, 1, (long)(out_buf + off), out_len - off);
        if (n <= 0)
            break;
        off += n;
    }
    out_len = 0;
}

void host_putc(int c)
{
    if (out_len == (long)sizeof(out_buf))
        host_flush();
    out_buf[out_len++] = (unsigned char)c;
}

void host_start(void) __attribute__((noreturn, used));
void host_start(void)
{
    int status = main();
    host_flush();
    for (;;)
        host_syscall3(SYS_EXIT_GROUP, status & 0xFF, 0, 0);
}

/* Entry: align the stack as the x86-64 ABI expects for a call, go. */
__asm__(".text\n"
        ".globl _start\n"
        "_start:\n"
        "    xorl %ebp, %ebp\n"
        "    andq $-16, %rsp\n"
        "    call host_start\n"
        "    hlt\n");
