/*
 * lib.h - tiny freestanding support library for the vmxlab C test programs.
 *
 * Only 32-bit integer types are used by the formatter (no 64-bit division,
 * which would need libgcc). The same sources are also compiled for the host
 * (x86-64 Linux, -DVMX_HOST, see host_shim.c) to produce the expected output,
 * so nothing here may depend on sizeof(long) or sizeof(void *).
 */
#ifndef VMX_LIB_H
#define VMX_LIB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define VMX_INT32_MIN ((int32_t)-2147483647 - 1)
#define VMX_INT32_MAX ((int32_t)2147483647)
#define VMX_UINT32_MAX ((uint32_t)0xFFFFFFFFu)

#define ARRAY_LEN(a) ((int32_t)(sizeof(a) / sizeof((a)[0])))

/* ---- console ---------------------------------------------------------- */

/* Append one byte to the console (OUT to port 0xE9 on the emulated PC). */
void putchar_e9(int c);
/* Write s followed by '\n' (like the hosted puts). Returns 0. */
int puts(const char *s);
/* Write s without a trailing newline. */
void putstr(const char *s);

/*
 * printf-style formatting. Conversions: %d %i %u %x %X %c %s %%.
 * Flags: '-' (left-justify), '0' (zero pad; ignored with '-'), '+', ' '.
 * Width: decimal digits or '*' (taken from the arguments, negative = '-').
 * Precision: '.N' or '.*' - for %s the maximum number of characters, for
 * integers the minimum number of digits (as in C99; disables '0').
 * A 'l' length modifier is NOT supported (long differs between host/target).
 * Returns the number of characters produced.
 */
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kvprintf(const char *fmt, va_list ap);
/* Format into buf (always NUL-terminated when size > 0); returns the full
 * length that would have been written, like snprintf. */
int ksnprintf(char *buf, uint32_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int kvsnprintf(char *buf, uint32_t size, const char *fmt, va_list ap);
/* The formatter core: calls emit(c, ctx) for every produced character. */
typedef void (*kfmt_emit_fn)(int c, void *ctx);
int kformat(kfmt_emit_fn emit, void *ctx, const char *fmt, va_list ap);

/* ---- memory / strings (gcc may emit calls to the mem* ones itself) ---- */

void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

/* ---- self-check helper -------------------------------------------------- */

/* Print "FAIL: <what>" and count a failure when cond is false. */
extern int32_t g_failures;
void check(int cond, const char *what);

#endif /* VMX_LIB_H */
