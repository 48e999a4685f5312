/* rng.h - the library's one random generator: xoshiro256** (Blackman & Vigna)
 * seeded through splitmix64, so every seeded result is a function of the seed
 * alone, on every platform, and independent of libc's rand().
 *
 *     struct rng r;  rng_seed(&r, 42);
 *     double z = rng_normal(&r);
 */
#ifndef INTERP_RNG_H
#define INTERP_RNG_H

#include <math.h>
#include <stdint.h>

struct rng {
    uint64_t s[4];
};

/* splitmix64: advances *x and returns the next well-mixed 64-bit value. */
static inline uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A value in [0, n) from the splitmix64 stream *x, by modulo (biased by
 * less than n / 2^64). The report's seeded samples and picks draw from it. */
static inline uint64_t splitmix64_below(uint64_t *x, uint64_t n)
{
    return splitmix64(x) % n;
}

static inline void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s, out = rng_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rng_rotl(s[3], 45);
    return out;
}

/* Uniform in (0, 1): 53 random bits, never 0. */
static inline double rng_uniform(struct rng *r)
{
    return ((double)(rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* Standard normal by Box-Muller, one value per call (the pair's sine is
 * discarded, which keeps the sequence simple to reproduce). */
static inline double rng_normal(struct rng *r)
{
    double u = rng_uniform(r), v = rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

#endif
