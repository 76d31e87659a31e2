/* init.h: deterministic parameter initialisation.
 *
 * RNG: xoshiro256** seeded by splitmix64 from (seed, stream), so each
 * parameter tensor can get its own stream and the initial weights do not
 * depend on the order tensors are visited or on the thread count (all fills
 * here are sequential). The emitter composes these primitives into
 * mamba_ssm's recipe (reference/mamba.md section 1.3). */
#ifndef OPS_INIT_H
#define OPS_INIT_H

#include "common.h"

typedef struct {
    uint64_t s[4];
} rng_t;

static inline uint64_t rng_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Distinct (seed, stream) pairs give unrelated sequences: the stream is
 * hashed before it is mixed into the seed. */
static inline void rng_seed(rng_t *r, uint64_t seed, uint64_t stream)
{
    uint64_t h = stream;
    uint64_t x = seed ^ rng_splitmix64(&h);
    for (int i = 0; i < 4; i++) r->s[i] = rng_splitmix64(&x);
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1; /* the one bad state */
}

static inline uint64_t rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rng_next_u64(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t out = rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rng_rotl(s[3], 45);
    return out;
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double rng_uniform(rng_t *r) { return (double)(rng_next_u64(r) >> 11) * 0x1.0p-53; }

/* Standard normal by Box-Muller (two uniforms per draw, no cached spare, so
 * the whole RNG state is the four words). */
static inline double rng_normal(rng_t *r)
{
    double u1 = 1.0 - rng_uniform(r); /* (0, 1]: log is finite */
    double u2 = rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

static inline void init_uniform(real *p, long n, double lo, double hi, rng_t *r)
{
    for (long i = 0; i < n; i++) p[i] = (real)(lo + (hi - lo) * rng_uniform(r));
}

static inline void init_normal(real *p, long n, double std, rng_t *r)
{
    for (long i = 0; i < n; i++) p[i] = (real)(std * rng_normal(r));
}

static inline void init_const(real *p, long n, double v)
{
    for (long i = 0; i < n; i++) p[i] = (real)v;
}

/* dt_proj.bias: dt log-uniform in [dt_min, dt_max], clamped below at floor,
 * stored as its inverse softplus dt + log(-expm1(-dt)) so that
 * softplus(bias) = dt at the start. */
static inline void init_dt_bias(real *bias, int E, double dt_min, double dt_max, double floor_,
                                rng_t *r)
{
    if (!(dt_min > 0 && dt_max >= dt_min && floor_ > 0))
        ops_fatal("init_dt_bias: need 0 < dt_min <= dt_max and floor > 0 (got %g, %g, %g)", dt_min,
                  dt_max, floor_);
    double lmin = log(dt_min), lmax = log(dt_max);
    for (int e = 0; e < E; e++) {
        double dt = exp(rng_uniform(r) * (lmax - lmin) + lmin);
        if (dt < floor_) dt = floor_;
        bias[e] = (real)(dt + log(-expm1(-dt)));
    }
}

/* A_log[e, n] = log(n + 1): A = -exp(A_log) = -(1..N) in every channel (S4D-Real). */
static inline void init_A_log(real *A_log /* (E,N) */, int E, int N)
{
    for (int e = 0; e < E; e++)
        for (int n = 0; n < N; n++) A_log[(size_t)e * N + n] = (real)log((double)(n + 1));
}

#endif /* OPS_INIT_H */
