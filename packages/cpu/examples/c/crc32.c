/*
 * crc32.c - CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, init and
 * final XOR 0xFFFFFFFF) three ways: bit-at-a-time, table-driven (one byte per
 * step) and "slice-by-4" (four tables, one 32-bit word per step). Checks the
 * standard known answers, agreement of the three methods, incremental vs
 * one-shot computation, and the CRC residue property, over short strings
 * and a 64 KiB generated buffer. Returns 0 when every self-check passes.
 */
#include "lib.h"

#define POLY 0xEDB88320u
#define BUF_SIZE 65536
#define BITWISE_PREFIX 4096 /* bit-at-a-time is slow: only on a prefix */

static uint32_t table[4][256];
static unsigned char buf[BUF_SIZE + 4];

static void make_tables(void)
{
    uint32_t i, k;
    for (i = 0; i < 256; i++) {
        uint32_t c = i;
        for (k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        table[0][i] = c;
    }
    for (i = 0; i < 256; i++) {
        table[1][i] = (table[0][i] >> 8) ^ table[0][table[0][i] & 0xFF];
        table[2][i] = (table[1][i] >> 8) ^ table[0][table[1][i] & 0xFF];
        table[3][i] = (table[2][i] >> 8) ^ table[0][table[2][i] & 0xFF];
    }
}

/* The *_update functions work on the raw (pre-inverted) register. */
static uint32_t crc_bitwise_update(uint32_t crc, const unsigned char *p, uint32_t n)
{
    while (n--) {
        int k;
        crc ^= *p++;
        for (k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (POLY & (0u - (crc & 1)));
    }
    return crc;
}

static uint32_t crc_table_update(uint32_t crc, const unsigned char *p, uint32_t n)
{
    while (n--)
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xFF];
    return crc;
}

static uint32_t crc_slice4_update(uint32_t crc, const unsigned char *p, uint32_t n)
{
    while (n >= 4) {
        /* assemble little-endian explicitly: no unaligned/aliasing tricks */
        crc ^= (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
        crc = table[3][crc & 0xFF] ^ table[2][(crc >> 8) & 0xFF] ^ table[1][(crc >> 16) & 0xFF] ^
              table[0][crc >> 24];
        p += 4;
        n -= 4;
    }
    return crc_table_update(crc, p, n);
}

static uint32_t crc32_bitwise(const void *p, uint32_t n)
{
    return ~crc_bitwise_update(0xFFFFFFFFu, (const unsigned char *)p, n);
}

static uint32_t crc32_table(const void *p, uint32_t n)
{
    return ~crc_table_update(0xFFFFFFFFu, (const unsigned char *)p, n);
}

static uint32_t crc32_slice4(const void *p, uint32_t n)
{
    return ~crc_slice4_update(0xFFFFFFFFu, (const unsigned char *)p, n);
}

struct known {
    const char *text;
    uint32_t crc;
};

static const struct known known_answers[] = {
    {"", 0x00000000u},
    {"a", 0xE8B7BE43u},
    {"abc", 0x352441C2u},
    {"123456789", 0xCBF43926u},
    {"message digest", 0x20159D7Fu},
    {"abcdefghijklmnopqrstuvwxyz", 0x4C2750BDu},
    {"The quick brown fox jumps over the lazy dog", 0x414FA339u},
};

static void fill_buffer(void)
{
    uint32_t s = 0x12345678u;
    uint32_t i;
    for (i = 0; i < BUF_SIZE; i++) {
        s = s * 1664525u + 1013904223u; /* Numerical Recipes LCG */
        buf[i] = (unsigned char)(s >> 24);
    }
}

int main(void)
{
    int32_t i;
    uint32_t full, crc, inc, prefix_bit, prefix_tab, residue;
    uint32_t chunk;

    make_tables();
    kprintf("crc32: table[1]=%08x table[128]=%08x table[255]=%08x\n", table[0][1], table[0][128], table[0][255]);
    check(table[0][1] == 0x77073096u && table[0][128] == 0xEDB88320u && table[0][255] == 0x2D02EF8Du,
          "CRC table entries");

    for (i = 0; i < ARRAY_LEN(known_answers); i++) {
        const char *t = known_answers[i].text;
        uint32_t n = (uint32_t)strlen(t);
        uint32_t a = crc32_bitwise(t, n), b = crc32_table(t, n), c = crc32_slice4(t, n);
        int ok = a == known_answers[i].crc && b == a && c == a;
        kprintf("crc32(\"%s\") = %08X %s\n", t, b, ok ? "ok" : "BAD");
        check(ok, "known answer");
    }

    fill_buffer();
    full = crc32_table(buf, BUF_SIZE);
    kprintf("buffer: %u bytes, first bytes %02x %02x %02x %02x, last %02x\n", BUF_SIZE, buf[0], buf[1], buf[2],
            buf[3], buf[BUF_SIZE - 1]);
    kprintf("crc32(buffer) table   = %08x\n", full);

    crc = crc32_slice4(buf, BUF_SIZE);
    kprintf("crc32(buffer) slice4  = %08x %s\n", crc, crc == full ? "ok" : "BAD");
    check(crc == full, "slice-by-4 equals table");

    /* Incremental, in chunks of growing odd sizes, alternating methods. */
    inc = 0xFFFFFFFFu;
    chunk = 1;
    for (i = 0; i < BUF_SIZE;) {
        uint32_t n = chunk;
        if (n > (uint32_t)(BUF_SIZE - i))
            n = (uint32_t)(BUF_SIZE - i);
        inc = (chunk & 2) ? crc_slice4_update(inc, buf + i, n) : crc_table_update(inc, buf + i, n);
        i += (int32_t)n;
        chunk = chunk * 3 + 1;
        if (chunk > 9000)
            chunk = 5;
    }
    inc = ~inc;
    kprintf("crc32(buffer) chunked = %08x %s\n", inc, inc == full ? "ok" : "BAD");
    check(inc == full, "incremental equals one-shot");

    prefix_bit = crc32_bitwise(buf, BITWISE_PREFIX);
    prefix_tab = crc32_table(buf, BITWISE_PREFIX);
    kprintf("crc32(buffer[0..%u]) bitwise = %08x table = %08x %s\n", BITWISE_PREFIX, prefix_bit, prefix_tab,
            prefix_bit == prefix_tab ? "ok" : "BAD");
    check(prefix_bit == prefix_tab, "bitwise equals table");

    /* Residue: CRC over (data || CRC little-endian) is the constant 0x2144DF1C. */
    buf[BUF_SIZE + 0] = (unsigned char)full;
    buf[BUF_SIZE + 1] = (unsigned char)(full >> 8);
    buf[BUF_SIZE + 2] = (unsigned char)(full >> 16);
    buf[BUF_SIZE + 3] = (unsigned char)(full >> 24);
    residue = crc32_slice4(buf, BUF_SIZE + 4);
    kprintf("residue = %08x %s\n", residue, residue == 0x2144DF1Cu ? "ok" : "BAD");
    check(residue == 0x2144DF1Cu, "CRC residue");

    /* A one-bit flip must change the CRC. */
    buf[12345] ^= 0x10;
    crc = crc32_table(buf, BUF_SIZE);
    kprintf("crc32(buffer with bit flipped) = %08x %s\n", crc, crc != full ? "ok" : "BAD");
    check(crc != full, "bit flip detected");

    kprintf("crc32: %s (%d failures)\n", g_failures == 0 ? "PASS" : "FAIL", g_failures);
    return g_failures == 0 ? 0 : 1;
}
