/*
 * lib.c - tiny freestanding support library (console, printf-style
 * formatter, mem* / str* functions) for the vmxlab C test programs.
 * Written for this project; see lib.h for the interface.
 */
#include "lib.h"

/* ---- console ---------------------------------------------------------- */

#ifdef VMX_HOST
/* Host build (expected-output generation): host_shim.c supplies this. */
void host_putc(int c);
void putchar_e9(int c) { host_putc(c); }
#else
static inline void outb(uint16_t port, uint8_t value)
{
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

void putchar_e9(int c) { outb(0xE9, (uint8_t)c); }
#endif

void putstr(const char *s)
{
    while (*s)
        putchar_e9((unsigned char)*s++);
}

int puts(const char *s)
{
    putstr(s);
    putchar_e9('\n');
    return 0;
}

/* ---- formatter -------------------------------------------------------- */

struct fmt_state {
    kfmt_emit_fn emit;
    void *ctx;
    int count;
};

static void fs_put(struct fmt_state *st, int c)
{
    st->emit(c, st->ctx);
    st->count++;
}

static void fs_repeat(struct fmt_state *st, int c, int32_t n)
{
    while (n-- > 0)
        fs_put(st, c);
}

/* Produce an integer conversion. `prefix` is the sign or "0x" ("" if none). */
static void fs_number(struct fmt_state *st, uint32_t value, uint32_t base, int upper,
                      const char *prefix, int left, int zero, int32_t width, int32_t prec)
{
    static const char lower_digits[] = "0123456789abcdef";
    static const char upper_digits[] = "0123456789ABCDEF";
    const char *digits = upper ? upper_digits : lower_digits;
    char tmp[12];
    int32_t n = 0;
    int32_t plen = (int32_t)strlen(prefix);
    int32_t body, total;

    while (value != 0) {
        tmp[n++] = digits[value % base];
        value /= base;
    }
    if (n == 0 && prec != 0)
        tmp[n++] = '0'; /* "0", except for an explicit precision of 0 */

    body = (prec > n) ? prec : n;
    total = plen + body;

    if (!left && !(zero && prec < 0))
        fs_repeat(st, ' ', width - total);
    while (*prefix)
        fs_put(st, *prefix++);
    if (!left && zero && prec < 0)
        fs_repeat(st, '0', width - total);
    fs_repeat(st, '0', body - n);
    while (n > 0)
        fs_put(st, tmp[--n]);
    if (left)
        fs_repeat(st, ' ', width - total);
}

static void fs_string(struct fmt_state *st, const char *s, int32_t len, int left, int32_t width)
{
    int32_t i;
    if (!left)
        fs_repeat(st, ' ', width - len);
    for (i = 0; i < len; i++)
        fs_put(st, (unsigned char)s[i]);
    if (left)
        fs_repeat(st, ' ', width - len);
}

int kformat(kfmt_emit_fn emit, void *ctx, const char *fmt, va_list ap)
{
    struct fmt_state st;
    st.emit = emit;
    st.ctx = ctx;
    st.count = 0;

    while (*fmt) {
        int left = 0, zero = 0, plus = 0, space = 0, alt = 0;
        int32_t width = 0, prec = -1;
        char c = *fmt++;

        if (c != '%') {
            fs_put(&st, (unsigned char)c);
            continue;
        }

        /* flags */
        for (;;) {
            c = *fmt;
            if (c == '-')
                left = 1;
            else if (c == '0')
                zero = 1;
            else if (c == '+')
                plus = 1;
            else if (c == ' ')
                space = 1;
            else if (c == '#')
                alt = 1;
            else
                break;
            fmt++;
        }

        /* width */
        if (*fmt == '*') {
            width = va_arg(ap, int);
            if (width < 0) {
                left = 1;
                width = -width;
            }
            fmt++;
        } else {
            while (*fmt >= '0' && *fmt <= '9')
                width = width * 10 + (*fmt++ - '0');
        }

        /* precision */
        if (*fmt == '.') {
            fmt++;
            prec = 0;
            if (*fmt == '*') {
                prec = va_arg(ap, int);
                if (prec < 0)
                    prec = -1;
                fmt++;
            } else {
                while (*fmt >= '0' && *fmt <= '9')
                    prec = prec * 10 + (*fmt++ - '0');
            }
        }

        c = *fmt;
        if (c == '\0')
            break; /* dangling '%': stop */
        fmt++;

        switch (c) {
        case 'd':
        case 'i': {
            int32_t v = va_arg(ap, int);
            uint32_t u = (v < 0) ? (uint32_t)0 - (uint32_t)v : (uint32_t)v;
            const char *sign = (v < 0) ? "-" : plus ? "+" : space ? " " : "";
            fs_number(&st, u, 10, 0, sign, left, zero, width, prec);
            break;
        }
        case 'u':
            fs_number(&st, va_arg(ap, unsigned int), 10, 0, "", left, zero, width, prec);
            break;
        case 'x':
        case 'X': {
            uint32_t u = va_arg(ap, unsigned int);
            const char *pfx = (alt && u != 0) ? (c == 'x' ? "0x" : "0X") : "";
            fs_number(&st, u, 16, c == 'X', pfx, left, zero, width, prec);
            break;
        }
        case 'c': {
            char ch = (char)va_arg(ap, int);
            fs_string(&st, &ch, 1, left, width);
            break;
        }
        case 's': {
            const char *s = va_arg(ap, const char *);
            int32_t len = 0;
            if (s == NULL)
                s = "(null)";
            while (s[len] != '\0' && (prec < 0 || len < prec))
                len++;
            fs_string(&st, s, len, left, width);
            break;
        }
        case '%':
            fs_put(&st, '%');
            break;
        default:
            /* Unknown conversion: echo it verbatim. */
            fs_put(&st, '%');
            fs_put(&st, (unsigned char)c);
            break;
        }
    }
    return st.count;
}

static void emit_console(int c, void *ctx)
{
    (void)ctx;
    putchar_e9(c);
}

int kvprintf(const char *fmt, va_list ap)
{
    return kformat(emit_console, NULL, fmt, ap);
}

int kprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = kvprintf(fmt, ap);
    va_end(ap);
    return n;
}

struct buf_ctx {
    char *buf;
    uint32_t size;
    uint32_t pos;
};

static void emit_buffer(int c, void *ctx)
{
    struct buf_ctx *b = (struct buf_ctx *)ctx;
    if (b->pos + 1 < b->size)
        b->buf[b->pos] = (char)c;
    b->pos++;
}

int kvsnprintf(char *buf, uint32_t size, const char *fmt, va_list ap)
{
    struct buf_ctx b;
    int n;
    b.buf = buf;
    b.size = size;
    b.pos = 0;
    n = kformat(emit_buffer, &b, fmt, ap);
    if (size > 0)
        buf[(b.pos < size) ? b.pos : size - 1] = '\0';
    return n;
}

int ksnprintf(char *buf, uint32_t size, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = kvsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

/* ---- memory / strings ------------------------------------------------- */

/*
 * gcc recognises byte loops like the ones below and may turn them into
 * calls to memcpy/memset - which would make these functions call themselves.
 * The optimize attribute switches that transformation off for them only.
 */
#define NO_LIBCALL_PATTERNS __attribute__((optimize("no-tree-loop-distribute-patterns")))

NO_LIBCALL_PATTERNS void *memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    /* Word copy when both are 4-byte aligned, then the tail bytewise. */
    if ((((uintptr_t)d | (uintptr_t)s) & 3) == 0) {
        while (n >= 4) {
            *(uint32_t *)(void *)d = *(const uint32_t *)(const void *)s;
            d += 4;
            s += 4;
            n -= 4;
        }
    }
    while (n--)
        *d++ = *s++;
    return dst;
}

NO_LIBCALL_PATTERNS void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

NO_LIBCALL_PATTERNS void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    if (d == s || n == 0)
        return dst;
    if (d < s || d >= s + n) {
        while (n--)
            *d++ = *s++;
    } else {
        d += n;
        s += n;
        while (n--)
            *--d = *--s;
    }
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *p = (const unsigned char *)a;
    const unsigned char *q = (const unsigned char *)b;
    for (; n > 0; n--, p++, q++) {
        if (*p != *q)
            return (int)*p - (int)*q;
    }
    return 0;
}

size_t strlen(const char *s)
{
    const char *p = s;
    while (*p)
        p++;
    return (size_t)(p - s);
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return (int)(unsigned char)*a - (int)(unsigned char)*b;
}

/* ---- self-check helper -------------------------------------------------- */

int32_t g_failures;

void check(int cond, const char *what)
{
    if (!cond) {
        g_failures++;
        kprintf("FAIL: %s\n", what);
    }
}
