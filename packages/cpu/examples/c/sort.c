/*
 * sort.c - quicksort (median-of-three, Hoare partition, explicit recursion on
 * the smaller side) finishing with insertion sort, over several deterministic
 * data sets; plus an insertion sort of 16-bit values and a comparator-driven
 * sort of strings. Prints checksums and first/last elements, verifies
 * sortedness and that the multiset of values was preserved.
 * Returns 0 when every self-check passes.
 */
#include "lib.h"

#define N 4000
#define CUTOFF 12

static int32_t data[N];

/* ---- deterministic pseudo-random sources ------------------------------ */

static uint32_t xs_state;

static uint32_t xorshift32(void)
{
    uint32_t x = xs_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    xs_state = x;
    return x;
}

static uint32_t lcg_state;

static uint32_t lcg(void)
{
    lcg_state = lcg_state * 1103515245u + 12345u;
    return (lcg_state >> 16) & 0x7FFF;
}

/* ---- the sort ------------------------------------------------------------ */

static uint32_t g_compares;

static void insertion_sort(int32_t *a, int32_t lo, int32_t hi)
{
    int32_t i, j;
    for (i = lo + 1; i <= hi; i++) {
        int32_t v = a[i];
        j = i - 1;
        while (j >= lo && (g_compares++, a[j] > v)) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
}

static void swap32(int32_t *a, int32_t i, int32_t j)
{
    int32_t t = a[i];
    a[i] = a[j];
    a[j] = t;
}

static int32_t g_max_depth;

static void quicksort(int32_t *a, int32_t lo, int32_t hi, int32_t depth)
{
    if (depth > g_max_depth)
        g_max_depth = depth;
    while (hi - lo + 1 > CUTOFF) {
        int32_t mid = lo + ((hi - lo) >> 1);
        int32_t pivot, i, j;

        /* median of three -> a[mid] */
        if (a[mid] < a[lo])
            swap32(a, mid, lo);
        if (a[hi] < a[lo])
            swap32(a, hi, lo);
        if (a[hi] < a[mid])
            swap32(a, hi, mid);
        pivot = a[mid];

        i = lo - 1;
        j = hi + 1;
        for (;;) {
            do {
                i++;
                g_compares++;
            } while (a[i] < pivot);
            do {
                j--;
                g_compares++;
            } while (a[j] > pivot);
            if (i >= j)
                break;
            swap32(a, i, j);
        }
        /* [lo..j] and [j+1..hi]: recurse into the smaller one */
        if (j - lo < hi - j) {
            quicksort(a, lo, j, depth + 1);
            lo = j + 1;
        } else {
            quicksort(a, j + 1, hi, depth + 1);
            hi = j;
        }
    }
    insertion_sort(a, lo, hi);
}

/* ---- invariants ------------------------------------------------------------ */

struct summary {
    uint32_t sum;
    uint32_t xor;
    uint32_t sumsq;
};

static void summarize(const int32_t *a, int32_t n, struct summary *s)
{
    int32_t i;
    s->sum = 0;
    s->xor = 0;
    s->sumsq = 0;
    for (i = 0; i < n; i++) {
        uint32_t v = (uint32_t)a[i];
        s->sum += v;
        s->xor ^= v;
        s->sumsq += v * v;
    }
}

static uint32_t order_hash(const int32_t *a, int32_t n)
{
    uint32_t h = 2166136261u;
    int32_t i;
    for (i = 0; i < n; i++) {
        h ^= (uint32_t)a[i];
        h *= 16777619u;
    }
    return h;
}

static int is_sorted(const int32_t *a, int32_t n)
{
    int32_t i;
    for (i = 1; i < n; i++)
        if (a[i - 1] > a[i])
            return 0;
    return 1;
}

/* ---- data sets -------------------------------------------------------------- */

enum dataset { DS_RANDOM, DS_SMALL_RANGE, DS_SORTED, DS_REVERSED, DS_EQUAL, DS_SAWTOOTH, DS_LCG_NEG, DS_COUNT };

static const char *const ds_names[DS_COUNT] = {
    "random32", "range100", "sorted", "reversed", "all-equal", "sawtooth", "lcg-signed",
};

static void fill(enum dataset ds, int32_t *a, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        switch (ds) {
        case DS_RANDOM:
            a[i] = (int32_t)xorshift32();
            break;
        case DS_SMALL_RANGE:
            a[i] = (int32_t)(xorshift32() % 100u);
            break;
        case DS_SORTED:
            a[i] = i;
            break;
        case DS_REVERSED:
            a[i] = n - i;
            break;
        case DS_EQUAL:
            a[i] = 42;
            break;
        case DS_SAWTOOTH:
            a[i] = (i * 7) % 37 - 18;
            break;
        default:
            a[i] = (int32_t)lcg() - 16384;
            break;
        }
    }
}

static int32_t run_dataset(enum dataset ds)
{
    struct summary before, after;
    uint32_t h;
    int ok_sorted, ok_multiset;

    fill(ds, data, N);
    summarize(data, N, &before);
    g_compares = 0;
    g_max_depth = 0;
    quicksort(data, 0, N - 1, 1);
    summarize(data, N, &after);
    h = order_hash(data, N);
    ok_sorted = is_sorted(data, N);
    ok_multiset = before.sum == after.sum && before.xor == after.xor && before.sumsq == after.sumsq;

    kprintf("%-10s n=%d first=%11d last=%11d sum=%08x hash=%08x cmp=%6u depth=%2d %s\n", ds_names[ds], N,
            data[0], data[N - 1], after.sum, h, g_compares, g_max_depth,
            (ok_sorted && ok_multiset) ? "ok" : "BAD");
    check(ok_sorted, "array sorted");
    check(ok_multiset, "multiset preserved");
    return (ok_sorted && ok_multiset) ? 0 : 1;
}

/* ---- 16-bit insertion sort --------------------------------------------------- */

#define N16 256
static uint16_t half[N16];
static int16_t shalf[N16];

static void sort_u16(uint16_t *a, int32_t n)
{
    int32_t i, j;
    for (i = 1; i < n; i++) {
        uint16_t v = a[i];
        for (j = i; j > 0 && a[j - 1] > v; j--)
            a[j] = a[j - 1];
        a[j] = v;
    }
}

static void sort_s16_desc(int16_t *a, int32_t n)
{
    int32_t i, j;
    for (i = 1; i < n; i++) {
        int16_t v = a[i];
        for (j = i; j > 0 && a[j - 1] < v; j--)
            a[j] = a[j - 1];
        a[j] = v;
    }
}

static void run_16bit(void)
{
    int32_t i;
    uint32_t h = 0;
    int ok = 1;

    for (i = 0; i < N16; i++) {
        uint32_t r = xorshift32();
        half[i] = (uint16_t)r;
        shalf[i] = (int16_t)(r >> 16);
    }
    sort_u16(half, N16);
    sort_s16_desc(shalf, N16);
    for (i = 0; i < N16; i++) {
        h = h * 33u + half[i] + (uint32_t)(int32_t)shalf[i];
        if (i > 0 && (half[i - 1] > half[i] || shalf[i - 1] < shalf[i]))
            ok = 0;
    }
    kprintf("u16 asc   n=%d first=%u last=%u | s16 desc first=%d last=%d hash=%08x %s\n", N16, half[0],
            half[N16 - 1], shalf[0], shalf[N16 - 1], h, ok ? "ok" : "BAD");
    check(ok, "16-bit sorts");
}

/* ---- strings through a comparator function pointer ---------------------------- */

typedef int (*cmp_fn)(const void *a, const void *b);

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_len_then_str(const void *a, const void *b)
{
    const char *x = *(const char *const *)a;
    const char *y = *(const char *const *)b;
    int32_t lx = (int32_t)strlen(x), ly = (int32_t)strlen(y);
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return strcmp(x, y);
}

/* A generic (byte-swapping) insertion sort, like a tiny qsort(). */
static void gsort(void *base, uint32_t n, uint32_t size, cmp_fn cmp)
{
    unsigned char *b = (unsigned char *)base;
    unsigned char tmp[16];
    uint32_t i, j;
    for (i = 1; i < n; i++) {
        memcpy(tmp, b + i * size, size);
        for (j = i; j > 0 && cmp(b + (j - 1) * size, tmp) > 0; j--)
            memcpy(b + j * size, b + (j - 1) * size, size);
        memcpy(b + j * size, tmp, size);
    }
}

static void run_strings(void)
{
    const char *words[] = {
        "kernel", "emulator", "ia32", "paging", "segment", "gdt", "idt", "tss", "cr0", "eflags",
        "interrupt", "port", "opcode", "modrm", "sib", "prefix", "x86", "vmx", "lab", "a",
    };
    int32_t n = ARRAY_LEN(words);
    int32_t i;
    int ok = 1;
    static const cmp_fn cmps[2] = {cmp_str, cmp_len_then_str};
    static const char *const names[2] = {"alpha", "length"};
    int32_t k;

    for (k = 0; k < 2; k++) {
        gsort(words, (uint32_t)n, (uint32_t)sizeof(words[0]), cmps[k]);
        kprintf("strings by %-6s:", names[k]);
        for (i = 0; i < n; i++) {
            kprintf(" %s", words[i]);
            if (i > 0 && cmps[k](&words[i - 1], &words[i]) > 0)
                ok = 0;
        }
        kprintf("\n");
    }
    check(ok, "string sorts");
}

int main(void)
{
    int32_t ds;
    int32_t bad = 0;

    kprintf("sort: quicksort+insertion, N=%d, cutoff=%d\n", N, CUTOFF);
    xs_state = 2463534242u;
    lcg_state = 1;
    for (ds = 0; ds < DS_COUNT; ds++)
        bad += run_dataset((enum dataset)ds);

    /* Known-answer checks on the deterministic inputs. */
    fill(DS_SORTED, data, N);
    quicksort(data, 0, N - 1, 1);
    check(data[0] == 0 && data[N - 1] == N - 1, "sorted input stays 0..N-1");
    fill(DS_REVERSED, data, N);
    quicksort(data, 0, N - 1, 1);
    check(data[0] == 1 && data[N - 1] == N, "reversed input becomes 1..N");

    run_16bit();
    run_strings();

    kprintf("sort: %s (%d failures)\n", g_failures == 0 && bad == 0 ? "PASS" : "FAIL", g_failures);
    return g_failures == 0 && bad == 0 ? 0 : 1;
}
