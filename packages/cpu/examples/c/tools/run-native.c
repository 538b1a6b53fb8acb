/*
 * run-native.c - run one of the vmxlab ELF32 test images natively on an
 * x86-64 Linux build host, as a cross-check of the committed binaries
 * (independent of the emulator). Used by build.sh; never committed built.
 *
 * The image is exec'd as an ordinary 32-bit Linux process under ptrace.
 * Its port I/O instructions fault in user mode (#GP -> SIGSEGV); the tracer
 * decodes the faulting OUT, emulates it and skips it:
 *     OUT to 0xE9  -> the byte is written to our stdout
 *     OUT to 0xF4  -> the value is the exit status; the tracee is killed
 * Anything else that faults (HLT/CLI before an exit, a real crash) is an
 * error. With --count, the tracee is single-stepped and the number of
 * executed instructions is printed to stderr (each REP iteration counts as
 * one step, as the hardware traps once per iteration). --profile FILE also
 * writes "address count" lines (hex address, executions) to FILE.
 *
 * Exit status: the program's status (low 8 bits), or 125 on tracer errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t child;

/* --profile: executions per instruction address in [LOAD_BASE, +SPAN) */
#define LOAD_BASE 0x100000u
#define PROFILE_SPAN 0x100000u
static unsigned long long *profile;
static const char *profile_path;

static void profile_hit(struct user_regs_struct *regs)
{
    uint32_t eip = (uint32_t)regs->rip;
    if (profile != NULL && eip - LOAD_BASE < PROFILE_SPAN)
        profile[eip - LOAD_BASE]++;
}

static void profile_write(void)
{
    FILE *f;
    uint32_t i;
    if (profile == NULL)
        return;
    f = fopen(profile_path, "w");
    if (f == NULL) {
        perror(profile_path);
        exit(125);
    }
    for (i = 0; i < PROFILE_SPAN; i++)
        if (profile[i] != 0)
            fprintf(f, "%x %llu\n", LOAD_BASE + i, profile[i]);
    fclose(f);
}

static void die(const char *msg)
{
    fprintf(stderr, "run-native: %s\n", msg);
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    exit(125);
}

int main(int argc, char **argv)
{
    int count = 0, status;
    const char *path;
    unsigned long long steps = 0;
    int sig = 0;

    if (argc == 3 && strcmp(argv[1], "--count") == 0) {
        count = 1;
        path = argv[2];
    } else if (argc == 4 && strcmp(argv[1], "--profile") == 0) {
        count = 1;
        profile_path = argv[2];
        path = argv[3];
        profile = calloc(PROFILE_SPAN, sizeof(*profile));
        if (profile == NULL)
            die("out of memory");
    } else if (argc == 2) {
        path = argv[1];
    } else {
        fprintf(stderr, "usage: run-native [--count | --profile out.txt] image.elf\n");
        return 125;
    }

    child = fork();
    if (child < 0)
        die("fork failed");
    if (child == 0) {
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0) {
            perror("ptrace(TRACEME)");
            _exit(126);
        }
        execl(path, path, (char *)NULL);
        perror("execl");
        _exit(127);
    }
    if (waitpid(child, &status, 0) != child)
        die("waitpid failed");
    if (!WIFSTOPPED(status))
        die("tracee did not stop after exec (ptrace unavailable?)");

    for (;;) {
        if (profile != NULL) {
            /* the instruction about to be executed (or to fault) */
            struct user_regs_struct r;
            if (ptrace(PTRACE_GETREGS, child, NULL, &r) != 0)
                die("GETREGS failed");
            profile_hit(&r);
        }
        if (ptrace(count ? PTRACE_SINGLESTEP : PTRACE_CONT, child, NULL, (void *)(uintptr_t)sig) != 0)
            die("ptrace resume failed");
        sig = 0;
        if (waitpid(child, &status, 0) != child)
            die("waitpid failed");
        if (WIFEXITED(status) || WIFSIGNALED(status))
            die("tracee ended without an OUT to port 0xF4");
        if (!WIFSTOPPED(status))
            continue;
        int s = WSTOPSIG(status);
        if (s == SIGTRAP && count) {
            steps++;
            continue;
        }
        if (s != SIGSEGV) {
            fprintf(stderr, "run-native: unexpected signal %d\n", s);
            die("giving up");
        }

        struct user_regs_struct regs;
        if (ptrace(PTRACE_GETREGS, child, NULL, &regs) != 0)
            die("GETREGS failed");
        uint32_t eip = (uint32_t)regs.rip;
        errno = 0;
        long word = ptrace(PTRACE_PEEKTEXT, child, (void *)(uintptr_t)eip, NULL);
        if (errno != 0)
            die("cannot read the faulting instruction");
        unsigned char b[8];
        memcpy(b, &word, sizeof(b));

        int len = 0, size = 4;
        uint32_t port = 0;
        int i = 0;
        if (b[0] == 0x66) {
            size = 2;
            i = 1;
        }
        switch (b[i]) {
        case 0xE6: size = 1; /* fallthrough */
        case 0xE7: port = b[i + 1]; len = i + 2; break;
        case 0xEE: size = 1; /* fallthrough */
        case 0xEF: port = (uint32_t)regs.rdx & 0xFFFF; len = i + 1; break;
        default:
            fprintf(stderr, "run-native: fault at eip=%08x, bytes %02x %02x %02x %02x\n", eip, b[0], b[1], b[2], b[3]);
            die("not an OUT instruction (crash, or HLT/CLI without exit)");
        }
        uint32_t value = (uint32_t)regs.rax;
        if (size == 1)
            value &= 0xFF;
        else if (size == 2)
            value &= 0xFFFF;
        steps++; /* the emulated OUT itself */

        if (port == 0xE9) {
            putchar((int)(value & 0xFF));
        } else if (port == 0xF4) {
            fflush(stdout);
            if (count)
                fprintf(stderr, "instructions: %llu\n", steps);
            profile_write();
            kill(child, SIGKILL);
            waitpid(child, NULL, 0);
            return (int)(value & 0xFF);
        } else {
            fprintf(stderr, "run-native: OUT to unknown port %#x ignored\n", port);
        }
        regs.rip += (unsigned)len;
        if (ptrace(PTRACE_SETREGS, child, NULL, &regs) != 0)
            die("SETREGS failed");
    }
}
