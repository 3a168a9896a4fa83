/* util/rng.c — xoshiro256** (Blackman & Vigna), seeded with splitmix64. */
#include "util/rng.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void tp_rng_init(tp_rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t tp_rng_next(tp_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t tp_rng_below(tp_rng_t *r, uint64_t n)
{
    /* Rejection sampling: no modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, x;
    do
        x = tp_rng_next(r);
    while (x >= limit);
    return x % n;
}

int64_t tp_rng_range(tp_rng_t *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)tp_rng_below(r, (uint64_t)(hi - lo) + 1);
}

double tp_rng_unit(tp_rng_t *r)
{
    return (double)(tp_rng_next(r) >> 11) * 0x1.0p-53;
}

int tp_rng_chance(tp_rng_t *r, double p)
{
    return tp_rng_unit(r) < p;
}

int tp_rng_pick(tp_rng_t *r, const double *weights, int n)
{
    double sum = 0, x;
    for (int i = 0; i < n; i++)
        sum += weights[i];
    x = tp_rng_unit(r) * sum;
    for (int i = 0; i < n; i++) {
        if (x < weights[i])
            return i;
        x -= weights[i];
    }
    return n - 1;
}
