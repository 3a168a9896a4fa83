/*
 * util/rng.h — small deterministic PRNG (xoshiro256** seeded by splitmix64).
 * Same seed, same sequence on every platform: generators and property tests
 * rely on it. The state is a plain value the caller embeds.
 */
#ifndef TP_UTIL_RNG_H
#define TP_UTIL_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} tp_rng_t;

void tp_rng_init(tp_rng_t *r, uint64_t seed);
uint64_t tp_rng_next(tp_rng_t *r);
/* Uniform in [0, n); n > 0. */
uint64_t tp_rng_below(tp_rng_t *r, uint64_t n);
/* Uniform in [lo, hi] (inclusive). */
int64_t tp_rng_range(tp_rng_t *r, int64_t lo, int64_t hi);
/* Uniform double in [0, 1). */
double tp_rng_unit(tp_rng_t *r);
/* true with probability p. */
int tp_rng_chance(tp_rng_t *r, double p);
/* Index drawn with the given non-negative weights (n > 0, sum > 0). */
int tp_rng_pick(tp_rng_t *r, const double *weights, int n);

#endif
