/*
 * printf.c - exercises the kprintf/ksnprintf formatter of lib.c: every
 * conversion, flags, widths, precision, '*', INT_MIN/INT_MAX, truncation.
 * Each case is formatted into a buffer and compared with the expected text
 * (self-check), and shown in a table; then a few tables are printed
 * straight to the console. Returns 0 when every case matches.
 */
#include "lib.h"

static int32_t g_case;

/* Not format-attributed on purpose: some cases are deliberately odd. */
static void t(const char *expected, const char *fmt, ...)
{
    char buf[96];
    va_list ap;
    int n, ok;

    va_start(ap, fmt);
    n = kvsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    ok = strcmp(buf, expected) == 0 && n == (int)strlen(expected);
    g_case++;
    kprintf("%3d | %-12s | [%s]%*s| %2d | %s\n", g_case, fmt, buf, 16 - (int)strlen(buf), "", n, ok ? "ok" : "BAD");
    if (!ok)
        kprintf("      expected [%s] (%d chars)\n", expected, (int)strlen(expected));
    check(ok, "format case");
}

static void format_cases(void)
{
    kprintf("  # | format       | result            | n  | check\n");
    kprintf("----+--------------+-------------------+----+------\n");
    /* %d / %i */
    t("0", "%d", 0);
    t("42", "%d", 42);
    t("-42", "%d", -42);
    t("-7", "%i", -7);
    t("2147483647", "%d", VMX_INT32_MAX);
    t("-2147483648", "%d", VMX_INT32_MIN);
    t("-1", "%d", -1);
    /* %u */
    t("4294967295", "%u", VMX_UINT32_MAX);
    t("4294967295", "%u", -1);
    t("2147483648", "%u", VMX_INT32_MIN);
    t("0", "%u", 0);
    /* %x / %X */
    t("deadbeef", "%x", 0xDEADBEEFu);
    t("DEADBEEF", "%X", 0xDEADBEEFu);
    t("80000000", "%x", VMX_INT32_MIN);
    t("ffffffff", "%x", -1);
    t("00001234", "%08x", 0x1234);
    t("0xff", "%#x", 255);
    t("0XFF", "%#X", 255);
    t("0", "%#x", 0);
    t("0x000000ff", "%#010x", 255);
    t("      beef", "%10x", 0xBEEF);
    t("beef      |", "%-10x|", 0xBEEF);
    /* widths, zero padding, left justification, signs */
    t("   42", "%5d", 42);
    t("42   |", "%-5d|", 42);
    t("00042", "%05d", 42);
    t("-0042", "%05d", -42);
    t("-42  |", "%-05d|", -42);
    t("12345", "%1d", 12345);
    t("+5", "%+d", 5);
    t("-5", "%+d", -5);
    t(" 5", "% d", 5);
    t("+0005", "%+05d", 5);
    t("-2147483648", "%011d", VMX_INT32_MIN);
    t("-02147483648", "%012d", VMX_INT32_MIN);
    t("  -2147483648", "%13d", VMX_INT32_MIN);
    /* precision on integers */
    t("007", "%.3d", 7);
    t("    -007", "%8.3d", -7);
    t("", "%.0d", 0);
    t("     |", "%5.0d|", 0);
    t("     007", "%08.3d", 7);
    t("00ff", "%.4x", 255);
    /* %c */
    t("A", "%c", 'A');
    t("  B", "%3c", 'B');
    t("C  |", "%-3c|", 'C');
    t("xyz", "%c%c%c", 'x', 'y', 'z');
    /* %s */
    t("hello", "%s", "hello");
    t("     hello", "%10s", "hello");
    t("hello     |", "%-10s|", "hello");
    t("hel", "%.3s", "hello");
    t("he    |", "%-6.2s|", "hello");
    t("(null)", "%s", (const char *)0);
    t("", "%s", "");
    t("hello", "%2s", "hello");
    /* '*' width and precision */
    t("    42", "%*d", 6, 42);
    t("7   |", "%-*d|", 4, 7);
    t("7   |", "%*d|", -4, 7);
    t("ab", "%.*s", 2, "abc");
    t("   ab", "%*.*s", 5, 2, "abc");
    /* %% and odd inputs */
    t("%", "%%");
    t("100%", "100%%");
    t("50%", "%d%%", 50);
    t("%y", "%y");
    t("x=300 (0x012C)!", "%s=%d (0x%04X)%c", "x", 300, 300, '!');
    t("[-1|ff|255]", "[%d|%x|%u]", -1, 255, 255);
}

static void truncation(void)
{
    char small[8];
    int n;

    memset(small, 'Z', sizeof(small));
    n = ksnprintf(small, sizeof(small), "%s", "truncate me");
    kprintf("truncation: n=%d buf=[%s]\n", n, small);
    check(n == 11 && strcmp(small, "truncat") == 0, "ksnprintf truncates");

    n = ksnprintf(small, 1, "%d", 12345);
    check(n == 5 && small[0] == '\0', "ksnprintf size 1");

    n = kprintf("kprintf returns the count: %d %s\n", -123, "ok");
    kprintf("  -> %d characters\n", n);
    check(n == 35, "kprintf count");
}

static void tables(void)
{
    int32_t i;
    uint32_t u;

    kprintf("\npowers of two:\n");
    kprintf(" k | %-10s | %-8s | %-11s | %-11s |\n", "unsigned", "hex", "signed", "negated");
    for (i = 0; i < 32; i++) {
        u = 1u << i;
        kprintf("%2d | %10u | %08X | %11d | %-11d |\n", i, u, u, (int32_t)u, (int32_t)(0u - u));
    }

    kprintf("\nsigned squares and cubes:\n");
    for (i = -5; i <= 5; i++) {
        int32_t sq = i * i, cube = i * i * i;
        kprintf("%+3d %4d %+5d %08x %-6d|\n", i, sq, cube, (uint32_t)cube, cube * 1000);
    }

    kprintf("\nascii:\n");
    for (i = 32; i < 127; i++)
        kprintf("%c%s", (char)i, ((i - 31) % 32 == 0) ? "\n" : "");
    kprintf("\n");

    kprintf("\nmultiplication table:\n    ");
    for (i = 1; i <= 9; i++)
        kprintf("%4d", i);
    kprintf("\n");
    for (i = 1; i <= 9; i++) {
        int32_t j;
        kprintf("%2d |", i);
        for (j = 1; j <= 9; j++)
            kprintf("%4d", i * j);
        kprintf("\n");
    }
}

int main(void)
{
    kprintf("printf: formatter tests\n");
    format_cases();
    truncation();
    tables();
    kprintf("printf: %d cases, %s (%d failures)\n", g_case, g_failures == 0 ? "PASS" : "FAIL", g_failures);
    return g_failures == 0 ? 0 : 1;
}
