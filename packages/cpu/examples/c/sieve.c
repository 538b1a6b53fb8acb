/*
 * sieve.c - sieve of Eratosthenes up to LIMIT two ways: a byte array and a
 * bit array of odd numbers only. Prints prime counts at powers of ten, the
 * last few primes, a few gap statistics, and checks against known values
 * (pi(10^k)) and agreement of both sieves. Returns 0 on success.
 */
#include "lib.h"

#define LIMIT 100000

static unsigned char composite[LIMIT + 1];          /* 1 = composite */
static uint32_t oddbits[(LIMIT / 2) / 32 + 1];      /* bit i: 2i+1 composite */

static int32_t sieve_bytes(void)
{
    int32_t i, j, count = 0;
    composite[0] = composite[1] = 1;
    for (i = 2; i * i <= LIMIT; i++) {
        if (composite[i])
            continue;
        for (j = i * i; j <= LIMIT; j += i)
            composite[j] = 1;
    }
    for (i = 2; i <= LIMIT; i++)
        count += !composite[i];
    return count;
}

#define BIT_TEST(a, i) (((a)[(i) >> 5] >> ((i) & 31)) & 1u)
#define BIT_SET(a, i) ((a)[(i) >> 5] |= 1u << ((i) & 31))

static int32_t sieve_bits(void)
{
    uint32_t i, j, count = 1; /* the prime 2 */
    uint32_t half = LIMIT / 2;  /* index i stands for 2i+1, i in [0, half) */
    BIT_SET(oddbits, 0);        /* 1 is not prime */
    for (i = 1; (2 * i + 1) * (2 * i + 1) <= LIMIT; i++) {
        uint32_t p = 2 * i + 1;
        if (BIT_TEST(oddbits, i))
            continue;
        for (j = (p * p) >> 1; j < half; j += p)
            BIT_SET(oddbits, j);
    }
    for (i = 0; i < half; i++)
        count += !BIT_TEST(oddbits, i);
    return (int32_t)count;
}

static int is_prime_bits(uint32_t n)
{
    if (n < 2)
        return 0;
    if (n == 2)
        return 1;
    if ((n & 1) == 0)
        return 0;
    return !BIT_TEST(oddbits, n >> 1);
}

/* Trial division: an independent check for a few numbers. */
static int is_prime_trial(uint32_t n)
{
    uint32_t d;
    if (n < 2)
        return 0;
    for (d = 2; d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

int main(void)
{
    static const int32_t powers[] = {10, 100, 1000, 10000, 100000};
    static const int32_t pi_known[] = {4, 25, 168, 1229, 9592};
    int32_t nb, nbits, i, k, shown, count, last, max_gap, max_gap_at, twins;
    int32_t last_primes[8];
    uint32_t sum;

    kprintf("sieve: limit %d\n", LIMIT);
    nb = sieve_bytes();
    nbits = sieve_bits();
    kprintf("primes <= %d: %d (byte sieve), %d (bit sieve)\n", LIMIT, nb, nbits);
    check(nb == 9592 && nbits == 9592, "pi(100000) = 9592");

    /* pi(x) at powers of ten */
    count = 0;
    k = 0;
    for (i = 2; i <= LIMIT; i++) {
        if (!composite[i])
            count++;
        if (k < ARRAY_LEN(powers) && i == powers[k]) {
            kprintf("  pi(%6d) = %5d %s\n", powers[k], count, count == pi_known[k] ? "ok" : "BAD");
            check(count == pi_known[k], "pi(10^k)");
            k++;
        }
    }

    /* both sieves agree everywhere; gaps, twins, sum */
    last = 2;
    max_gap = 0;
    max_gap_at = 0;
    twins = 0;
    sum = 0;
    for (i = 2; i <= LIMIT; i++) {
        int a = !composite[i];
        if (a != is_prime_bits((uint32_t)i)) {
            kprintf("sieves disagree at %d\n", i);
            check(0, "sieves agree");
            break;
        }
        if (!a)
            continue;
        sum += (uint32_t)i;
        if (i - last > max_gap) {
            max_gap = i - last;
            max_gap_at = last;
        }
        if (i - last == 2)
            twins++;
        last = i;
    }
    kprintf("sum of primes = %u, twin pairs = %d, max gap = %d after %d\n", sum, twins, max_gap, max_gap_at);
    check(sum == 454396537u, "sum of primes below 100000");
    check(twins == 1224, "twin prime pairs below 100000");

    /* the last 8 primes, found by walking down */
    shown = 0;
    for (i = LIMIT; i >= 2 && shown < 8; i--)
        if (!composite[i])
            last_primes[shown++] = i;
    kprintf("last primes:");
    for (i = shown - 1; i >= 0; i--)
        kprintf(" %d", last_primes[i]);
    kprintf("\n");
    check(last_primes[0] == 99991, "largest prime below 100000");

    /* spot check with trial division */
    for (i = 99900; i <= LIMIT; i++)
        if (is_prime_trial((uint32_t)i) != !composite[i])
            check(0, "trial division agrees");

    /* a table of the first primes, 10 per row */
    kprintf("first 40 primes:\n");
    shown = 0;
    for (i = 2; shown < 40; i++) {
        if (composite[i])
            continue;
        kprintf("%5d%s", i, (++shown % 10 == 0) ? "\n" : "");
    }

    kprintf("sieve: %s (%d failures)\n", g_failures == 0 ? "PASS" : "FAIL", g_failures);
    return g_failures == 0 ? 0 : 1;
}
