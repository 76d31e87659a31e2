/* common.h: what every CPU op header shares.
 *
 * The op headers are included by a generated model.c, so every function is
 * `static inline` (header-only, never a link conflict, no unused-function
 * warnings) and the compiler specialises each call on the literal shape
 * constants the generator passes.
 *
 * Conventions of the whole library:
 *   - element type `real` (float unless the includer defines REAL, e.g. the
 *     op tests build with -DREAL=double or #define REAL double);
 *   - activations (B,T,C) row-major, token index bt = b*T + t; weights in
 *     PyTorch layout (out, in);
 *   - forward outputs overwrite, gradient outputs accumulate (+=);
 *   - results are deterministic and do not depend on the number of OpenMP
 *     threads: every parallel loop runs over the index that owns a sum, and
 *     cross-thread reductions go through per-block partials summed in a
 *     fixed order. */
#ifndef OPS_COMMON_H
#define OPS_COMMON_H

#include <math.h>
#ifdef __cplusplus
#include <cmath>
#endif
#include <stdint.h>
#include <string.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <omp.h>

#ifndef REAL
#define REAL float
#endif
typedef REAL real;

/* OPS_REAL_IS_DOUBLE: 1 when real is double, for the SIMD code paths that
 * must pick float or double intrinsics in the preprocessor. */
#define OPS_IS_DOUBLE_float 0
#define OPS_IS_DOUBLE_double 1
#define OPS_CAT2_(a, b) a##b
#define OPS_CAT2(a, b) OPS_CAT2_(a, b)
#define OPS_REAL_IS_DOUBLE OPS_CAT2(OPS_IS_DOUBLE_, REAL)
#if OPS_REAL_IS_DOUBLE != 0 && OPS_REAL_IS_DOUBLE != 1
#error "templates/cpu/common.h: REAL must be float or double"
#endif

/* Below this much work (elements, or multiply-adds for GEMMs) a loop runs on
 * the calling thread: starting a parallel region costs microseconds. The op
 * tests set it to 1 so the small shapes they use still run in parallel. */
#ifndef OPS_OMP_MIN
#define OPS_OMP_MIN 32768
#endif

/* Fatal error with the op and the problem. Ops run inside a training step
 * that cannot continue after bad input, so they stop like llm.c's *Check. */
__attribute__((noreturn, format(printf, 1, 2), unused))
static void ops_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "error: templates/cpu: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* Aligned allocation for packed GEMM panels and other work buffers. */
static inline void *ops_alloc(size_t bytes, const char *what)
{
    size_t size = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, size ? size : 64);
    if (!p) ops_fatal("%s: out of memory allocating %zu bytes", what, bytes);
    return p;
}

/* libm in the precision of `real` (expf for float, exp for double). C++
 * (the CUDA backend includes init.h on the host) has overloads instead. */
#ifdef __cplusplus
static inline real r_exp(real x) { return std::exp(x); }
static inline real r_log1p(real x) { return std::log1p(x); }
static inline real r_sqrt(real x) { return std::sqrt(x); }
#else
static inline real r_exp(real x) { return _Generic(x, float: expf, default: exp)(x); }
static inline real r_log1p(real x) { return _Generic(x, float: log1pf, default: log1p)(x); }
static inline real r_sqrt(real x) { return _Generic(x, float: sqrtf, default: sqrt)(x); }
#endif

static inline real r_sigmoid(real x) { return (real)1 / ((real)1 + r_exp(-x)); }
static inline real r_silu(real x) { return x * r_sigmoid(x); }
/* d silu(x)/dx = s + x*s*(1-s) with s = sigmoid(x). */
static inline real r_dsilu(real x)
{
    real s = r_sigmoid(x);
    return s * ((real)1 + x * ((real)1 - s));
}

static inline int ops_imin(int a, int b) { return a < b ? a : b; }
static inline int ops_imax(int a, int b) { return a > b ? a : b; }

#endif /* OPS_COMMON_H */
