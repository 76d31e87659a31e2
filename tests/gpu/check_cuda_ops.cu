// check_cuda_ops.cu: every kernel of the CUDA op library (templates/cuda/)
// against the CPU op library (templates/cpu/, verified against PyTorch),
// computed in double on the same bf16-rounded inputs; plus timings at the
// Mamba-130m training shapes.
//
// Build and run from the repository root on a machine with an sm_90 GPU:
//   nvcc -O2 -std=c++17 -gencode arch=compute_90,code=sm_90 -Xcompiler -Wall,-Wextra,-fopenmp
//        -Itemplates/cuda -Itemplates/cpu tests/gpu/check_cuda_ops.cu -o /tmp/check_cuda_ops -lgomp
//   (one line)
//   /tmp/check_cuda_ops                 # every group, small odd shapes and the 130m shapes
//   /tmp/check_cuda_ops --small scan    # small shapes only, one group (elementwise embedding
//                                       # rmsnorm conv scan xent optim)
// Prints one line per compared output: op, shape, output, relative error
// max|gpu - cpu| / max|cpu|, its tolerance, and, for timed runs, the GPU time
// (cudaEvents, mean of several launches) and the bandwidth from the bytes
// the op must move. Exits 1 on any failure. (A standalone program, not a
// Check suite: the GPU machines have no libcheck.)
//
// Tolerances. Inputs are identical on both sides (bf16 values rounded once,
// the CPU sees them as doubles), so the errors come from the GPU's fp32
// arithmetic and its bf16 outputs:
//   TOL_BF16 = 1e-2  outputs stored as bf16: rounding is 2^-9 ~ 2e-3 of the
//                    element; some also use a bf16 intermediate (dz uses the
//                    saved bf16 y_pre): <= ~5e-3, so 1e-2 leaves 2x margin
//                    while a wrong term (O(1) error) still fails.
//   TOL_F32  = 1e-4  fp32 results of short sums (rmsnorm, conv weights over
//                    <= 1e5 terms, embedding sums): fp32 rounding ~1e-7 per
//                    operation, grown by summation order to <~1e-5.
//   TOL_SCAN = 1e-3  fp32 results of the scan: 2048-step recurrences through
//                    ex2.approx (rel. error 2^-22) and fast softplus/sigmoid
//                    (a few ulp), sums over 1536 channels by atomics;
//                    expected ~1e-5, so 1e-3 still catches any missing or
//                    wrong term.
//   TOL_EXACT = 0    copies and casts (bit-exact).
#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

// ---- the CPU op library, in double -------------------------------------------
// templates/cpu/common.h is C11 (_Generic); this is its C++ equivalent for
// real = double, defined under its include guard so the op headers below
// use it instead. Keep in step with common.h.
#define REAL double
#define OPS_COMMON_H
typedef double real;
#define OPS_REAL_IS_DOUBLE 1
#define OPS_OMP_MIN 32768
#define restrict __restrict__
__attribute__((noreturn, unused)) static void ops_fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "error: templates/cpu: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}
__attribute__((unused)) static inline void *ops_alloc(size_t bytes, const char *what) {
    size_t size = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, size ? size : 64);
    if (!p) ops_fatal("%s: out of memory allocating %zu bytes", what, bytes);
    return p;
}
__attribute__((unused)) static inline real r_exp(real x) { return exp(x); }
__attribute__((unused)) static inline real r_log1p(real x) { return log1p(x); }
__attribute__((unused)) static inline real r_sqrt(real x) { return sqrt(x); }
__attribute__((unused)) static inline real r_sigmoid(real x) { return 1.0 / (1.0 + exp(-x)); }
__attribute__((unused)) static inline real r_silu(real x) { return x * r_sigmoid(x); }
__attribute__((unused)) static inline real r_dsilu(real x) {
    real s = r_sigmoid(x);
    return s * (1.0 + x * (1.0 - s));
}
__attribute__((unused)) static inline int ops_imin(int a, int b) { return a < b ? a : b; }
__attribute__((unused)) static inline int ops_imax(int a, int b) { return a > b ? a : b; }
#pragma nv_diag_suppress 1675  // matmul.h's "#pragma GCC unroll" is for the host compiler
#include "conv1d.h"
#include "embedding.h"
#include "lmhead_xent.h"
#include "optim.h"
#include "rmsnorm.h"
#include "scan.h"
#include "softplus.h"
#pragma nv_diag_default 1675
#undef restrict

// ---- the CUDA op library -------------------------------------------------------
#include "common.cuh"
#include "conv1d.cuh"
#include "elementwise.cuh"
#include "embedding.cuh"
#include "optim.cuh"
#include "rmsnorm.cuh"
#include "scan.cuh"
#include "xent.cuh"

static const double TOL_BF16 = 1e-2, TOL_F32 = 1e-4, TOL_SCAN = 1e-3, TOL_EXACT = 0.0;

// ---- report ------------------------------------------------------------------------

static int g_fail = 0, g_checks = 0;

static void header(void) {
    printf("%-20s %-38s %-9s %10s %8s %-4s %10s %9s\n", "op", "shape", "output", "rel.err", "tol", "", "GPU ms",
           "GB/s");
}

// One compared output; ms/bytes < 0: not timed.
static void report(const char *op, const char *shape, const char *what, double err, double tol, double ms = -1,
                   double bytes = -1) {
    bool ok = err <= tol;  // NaN fails
    g_checks++;
    if (!ok) g_fail++;
    printf("%-20s %-38s %-9s %10.2e %8.0e %-4s", op, shape, what, err, tol, ok ? "ok" : "FAIL");
    if (ms >= 0) printf(" %10.4f %9.1f", ms, bytes / (ms * 1e-3) / 1e9);
    printf("\n");
    fflush(stdout);
}

static void report_time(const char *op, const char *shape, double ms, double bytes) {
    printf("%-20s %-38s %-9s %10s %8s %-4s %10.4f %9.1f\n", op, shape, "(time)", "", "", "", ms,
           bytes / (ms * 1e-3) / 1e9);
    fflush(stdout);
}

// max|g - r| / max|r| over a set of pairs
struct Cmp {
    double maxdiff = 0, maxref = 0;
    void add(double g, double r) {
        double d = fabs(g - r);
        if (std::isnan(d)) d = INFINITY;
        maxdiff = std::max(maxdiff, d);
        maxref = std::max(maxref, fabs(r));
    }
    double rel() const { return maxref > 0 ? maxdiff / maxref : maxdiff; }
};

// ---- data ----------------------------------------------------------------------

// Counter-based uniform numbers in [-1, 1), the same on host and device.
__host__ __device__ static inline uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}
__host__ __device__ static inline float urand(uint64_t seed, uint64_t i) {
    return (float)(mix64(seed * 0x100000001B3ull + i) >> 40) * (2.0f / 16777216.0f) - 1.0f;
}
__host__ __device__ static inline uint32_t irand(uint64_t seed, uint64_t i) {
    return (uint32_t)(mix64(seed * 0x100000001B3ull + i) >> 32);
}

static __global__ void fill_f32_kernel(float *p, long n, uint64_t seed, float scale, float offset) {
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        p[i] = offset + scale * urand(seed, i);
}
static __global__ void fill_bf16_kernel(bf16 *p, long n, uint64_t seed, float scale, float offset) {
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        p[i] = __float2bfloat16(offset + scale * urand(seed, i));
}
// 1 with probability 1/period
static __global__ void fill_flags_kernel(uint8_t *p, long n, uint64_t seed, uint32_t period) {
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        p[i] = irand(seed, i) % period == 0;
}
static __global__ void fill_tokens_kernel(int32_t *p, long n, uint64_t seed, int V) {
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        p[i] = (int32_t)(irand(seed, i) % (uint32_t)V);
}
static void dfill(float *p, long n, uint64_t seed, float scale, float offset = 0) {
    fill_f32_kernel<<<1024, 256>>>(p, n, seed, scale, offset);
    CUDA_CHECK_LAST();
}
static void dfill(bf16 *p, long n, uint64_t seed, float scale, float offset = 0) {
    fill_bf16_kernel<<<1024, 256>>>(p, n, seed, scale, offset);
    CUDA_CHECK_LAST();
}

template <class T>
static T *dalloc(size_t n) {
    T *p = nullptr;
    CUDA_CHECK(cudaMalloc(&p, n * sizeof(T) + 256));  // slack for deliberately unaligned views
    CUDA_CHECK(cudaMemset(p, 0, n * sizeof(T) + 256));
    return p;
}
template <class T>
static void h2d(T *d, const std::vector<T> &h) {
    CUDA_CHECK(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
}
template <class T>
static void h2d(T *d, const T *h, size_t n) {
    CUDA_CHECK(cudaMemcpy(d, h, n * sizeof(T), cudaMemcpyHostToDevice));
}
template <class T>
static std::vector<T> d2h(const T *d, size_t n) {
    std::vector<T> h(n);
    CUDA_CHECK(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
}
static void sync() { CUDA_CHECK(cudaDeviceSynchronize()); }

static inline double b2d(bf16 x) { return (double)__bfloat162float(x); }
static inline bf16 f2b(float x) { return __float2bfloat16(x); }

// host random vectors (and their double views)
static std::vector<float> hrand_f32(size_t n, uint64_t seed, float scale, float offset = 0) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; i++) v[i] = offset + scale * urand(seed, i);
    return v;
}
static std::vector<bf16> hrand_bf16(size_t n, uint64_t seed, float scale, float offset = 0) {
    std::vector<bf16> v(n);
    for (size_t i = 0; i < n; i++) v[i] = f2b(offset + scale * urand(seed, i));
    return v;
}
static std::vector<double> to_d(const std::vector<float> &v) { return std::vector<double>(v.begin(), v.end()); }
static std::vector<double> to_d(const std::vector<bf16> &v) {
    std::vector<double> r(v.size());
    for (size_t i = 0; i < v.size(); i++) r[i] = b2d(v[i]);
    return r;
}

// mean time of `reps` calls after one warm-up
template <class F>
static double time_ms(F f, int reps) {
    f();
    sync();
    cudaEvent_t a, b;
    CUDA_CHECK(cudaEventCreate(&a));
    CUDA_CHECK(cudaEventCreate(&b));
    CUDA_CHECK(cudaEventRecord(a));
    for (int i = 0; i < reps; i++) f();
    CUDA_CHECK(cudaEventRecord(b));
    CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    CUDA_CHECK(cudaEventDestroy(a));
    CUDA_CHECK(cudaEventDestroy(b));
    return ms / reps;
}

static char g_shape[128];
static const char *shp(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_shape, sizeof g_shape, fmt, ap);
    va_end(ap);
    return g_shape;
}

// ---- elementwise ------------------------------------------------------------------

static void test_elementwise(bool big) {
    // cast: aligned (vector path + tail) and misaligned by one element (scalar path)
    for (int off = 0; off < 2; off++) {
        const long n = 100003;
        std::vector<float> src = hrand_f32(n, 11, 3.0f);
        float *d_src = dalloc<float>(n + 1);
        bf16 *d_dst = dalloc<bf16>(n + 1);
        h2d(d_src + off, src.data(), n);
        cast_f32_to_bf16(d_dst + off, d_src + off, n, 0);
        std::vector<bf16> got = d2h(d_dst + off, n);
        long bad = 0;
        for (long i = 0; i < n; i++) {
            bf16 want = f2b(src[i]);
            if (memcmp(&want, &got[i], sizeof(bf16))) bad++;
        }
        report("cast_f32_to_bf16", shp("n=%ld offset=%d", n, off), "dst", (double)bad, TOL_EXACT);
        cudaFree(d_src);
        cudaFree(d_dst);
    }
    if (!big) return;
    {
        const long n = 64L << 20;
        float *d_src = dalloc<float>(n);
        bf16 *d_dst = dalloc<bf16>(n);
        dfill(d_src, n, 14, 2.0f);
        double ms = time_ms([&] { cast_f32_to_bf16(d_dst, d_src, n, 0); }, 10);
        std::vector<float> src = d2h(d_src, 1 << 20);
        std::vector<bf16> got = d2h(d_dst, 1 << 20);
        long bad = 0;
        for (long i = 0; i < (1 << 20); i++) {
            bf16 want = f2b(src[i]);
            if (memcmp(&want, &got[i], sizeof(bf16))) bad++;
        }
        report("cast_f32_to_bf16", shp("n=%ld (first 1M checked)", n), "dst", (double)bad, TOL_EXACT, ms, n * 6.0);
        cudaFree(d_src);
        cudaFree(d_dst);
    }
}

// ---- embedding ----------------------------------------------------------------------

static void embedding_case(int V, int BT, int D, bool timed) {
    std::vector<float> wte = hrand_f32((size_t)V * D, 21, 1.0f), dout = hrand_f32((size_t)BT * D, 22, 1.0f);
    std::vector<float> dw0 = hrand_f32((size_t)V * D, 23, 0.5f);
    std::vector<int32_t> tok(BT);
    for (int i = 0; i < BT; i++) tok[i] = (int32_t)(irand(24, i) % (uint32_t)V);
    float *d_wte = dalloc<float>(wte.size()), *d_out = dalloc<float>((size_t)BT * D), *d_dout = dalloc<float>(dout.size());
    float *d_dw = dalloc<float>(dw0.size());
    int32_t *d_tok = dalloc<int32_t>(BT);
    h2d(d_wte, wte);
    h2d(d_dout, dout);
    h2d(d_tok, tok);
    double ms_f = -1, ms_b = -1;
    if (timed) {
        ms_f = time_ms([&] { embedding_fwd(d_out, d_tok, d_wte, BT, D, 0); }, 10);
        ms_b = time_ms([&] { embedding_bwd(d_dw, d_dout, d_tok, BT, D, 0); }, 10);
    }
    h2d(d_dw, dw0);
    embedding_fwd(d_out, d_tok, d_wte, BT, D, 0);
    embedding_bwd(d_dw, d_dout, d_tok, BT, D, 0);
    std::vector<float> out = d2h(d_out, (size_t)BT * D), dw = d2h(d_dw, dw0.size());

    std::vector<double> wd = to_d(wte), outr((size_t)BT * D), dwr = to_d(dw0), gd = to_d(dout);
    embedding_forward(outr.data(), tok.data(), wd.data(), BT, D);
    embedding_backward(dwr.data(), gd.data(), tok.data(), BT, D);
    Cmp a, b;
    for (size_t i = 0; i < out.size(); i++) a.add(out[i], outr[i]);
    for (size_t i = 0; i < dw.size(); i++) b.add(dw[i], dwr[i]);
    const char *s = shp("V=%d BT=%d D=%d", V, BT, D);
    report("embedding_fwd", s, "out", a.rel(), TOL_EXACT, ms_f, (double)BT * D * 8);
    report("embedding_bwd", s, "dwte", b.rel(), TOL_F32, ms_b, (double)BT * D * 12);
    cudaFree(d_wte);
    cudaFree(d_out);
    cudaFree(d_dout);
    cudaFree(d_dw);
    cudaFree(d_tok);
}

static void test_embedding(bool big) {
    embedding_case(50, 21, 24, false);
    embedding_case(50, 21, 13, false);
    if (big) embedding_case(50280, 32768, 768, true);
}

// ---- rmsnorm --------------------------------------------------------------------------

static void rmsnorm_case(int BT, int D, bool timed) {
    const float eps = 1e-5f;
    std::vector<float> inp = hrand_f32((size_t)BT * D, 31, 2.0f), w = hrand_f32(D, 32, 0.1f, 1.0f);
    std::vector<float> dout = hrand_f32((size_t)BT * D, 33, 1.0f), dinp0 = hrand_f32((size_t)BT * D, 34, 0.1f);
    std::vector<float> dw0 = hrand_f32(D, 35, 0.1f);
    float *d_inp = dalloc<float>(inp.size()), *d_w = dalloc<float>(D), *d_dout = dalloc<float>(dout.size());
    float *d_dinp = dalloc<float>(inp.size()), *d_dw = dalloc<float>(D), *d_rstd = dalloc<float>(BT);
    bf16 *d_out = dalloc<bf16>(inp.size());
    h2d(d_inp, inp);
    h2d(d_w, w);
    h2d(d_dout, dout);
    double ms_f = -1, ms_b = -1;
    if (timed) {
        ms_f = time_ms([&] { rmsnorm_fwd(d_out, d_rstd, d_inp, d_w, BT, D, eps, 0); }, 10);
        ms_b = time_ms([&] { rmsnorm_bwd(d_dinp, d_dw, d_dout, d_inp, d_w, d_rstd, BT, D, 0); }, 10);
    }
    h2d(d_dinp, dinp0);
    h2d(d_dw, dw0);
    rmsnorm_fwd(d_out, d_rstd, d_inp, d_w, BT, D, eps, 0);
    rmsnorm_bwd(d_dinp, d_dw, d_dout, d_inp, d_w, d_rstd, BT, D, 0);
    std::vector<bf16> out = d2h(d_out, inp.size());
    std::vector<float> rstd = d2h(d_rstd, BT), dinp = d2h(d_dinp, inp.size()), dw = d2h(d_dw, D);
    // again with rstd recomputed inside the backward
    h2d(d_dinp, dinp0);
    h2d(d_dw, dw0);
    bf16 *d_dinp_bf = dalloc<bf16>(inp.size());
    rmsnorm_bwd(d_dinp, d_dw, d_dout, d_inp, d_w, nullptr, BT, D, 0, eps, d_dinp_bf);
    std::vector<float> dinp2 = d2h(d_dinp, inp.size()), dw2 = d2h(d_dw, D);
    std::vector<bf16> dinp2_bf = d2h(d_dinp_bf, inp.size());
    cudaFree(d_dinp_bf);

    std::vector<double> xi = to_d(inp), wd = to_d(w), g = to_d(dout), outr(inp.size()), rr(BT);
    std::vector<double> dx = to_d(dinp0), dwr = to_d(dw0);
    rmsnorm_forward(outr.data(), rr.data(), xi.data(), wd.data(), BT, D, (double)eps);
    rmsnorm_backward(dx.data(), dwr.data(), g.data(), xi.data(), wd.data(), rr.data(), BT, D);
    Cmp co, cr, cx, cw, cx2, cw2, cxb;
    for (size_t i = 0; i < out.size(); i++) co.add(b2d(out[i]), outr[i]);
    for (int i = 0; i < BT; i++) cr.add(rstd[i], rr[i]);
    for (size_t i = 0; i < dinp.size(); i++) cx.add(dinp[i], dx[i]), cx2.add(dinp2[i], dx[i]), cxb.add(b2d(dinp2_bf[i]), dx[i]);
    for (int i = 0; i < D; i++) cw.add(dw[i], dwr[i]), cw2.add(dw2[i], dwr[i]);
    const char *s = shp("BT=%d D=%d", BT, D);
    report("rmsnorm_fwd", s, "out", co.rel(), TOL_BF16, ms_f, (double)BT * D * 6);
    report("rmsnorm_fwd", s, "rstd", cr.rel(), TOL_F32);
    report("rmsnorm_bwd", s, "dinp", cx.rel(), TOL_F32, ms_b, (double)BT * D * 16);
    report("rmsnorm_bwd", s, "dw", cw.rel(), TOL_F32);
    report("rmsnorm_bwd", s, "dinp(rs=0)", cx2.rel(), TOL_F32);
    report("rmsnorm_bwd", s, "dw(rs=0)", cw2.rel(), TOL_F32);
    report("rmsnorm_bwd", s, "dinp bf16 copy", cxb.rel(), TOL_BF16);
    {
        // with a bf16 dout (the model's); the reference gets the same rounded values
        std::vector<bf16> dout_b((size_t)BT * D);
        std::vector<double> gb((size_t)BT * D), dx3 = to_d(dinp0), dw3 = to_d(dw0);
        for (size_t i = 0; i < dout_b.size(); i++) dout_b[i] = f2b(dout[i]), gb[i] = b2d(dout_b[i]);
        bf16 *d_dout_b = dalloc<bf16>(dout_b.size());
        h2d(d_dout_b, dout_b);
        h2d(d_dinp, dinp0);
        h2d(d_dw, dw0);
        double ms_bb = -1;
        rmsnorm_bwd(d_dinp, d_dw, d_dout_b, d_inp, d_w, d_rstd, BT, D, 0);
        std::vector<float> dinp3 = d2h(d_dinp, inp.size()), dw3g = d2h(d_dw, D);
        if (timed) ms_bb = time_ms([&] { rmsnorm_bwd(d_dinp, d_dw, d_dout_b, d_inp, d_w, d_rstd, BT, D, 0); }, 10);
        rmsnorm_backward(dx3.data(), dw3.data(), gb.data(), xi.data(), wd.data(), rr.data(), BT, D);
        Cmp c3, w3;
        for (size_t i = 0; i < dinp3.size(); i++) c3.add(dinp3[i], dx3[i]);
        for (int i = 0; i < D; i++) w3.add(dw3g[i], dw3[i]);
        report("rmsnorm_bwd", s, "dinp (bf16 dout)", c3.rel(), TOL_F32, ms_bb, (double)BT * D * 14);
        report("rmsnorm_bwd", s, "dw (bf16 dout)", w3.rel(), TOL_F32);
        cudaFree(d_dout_b);
    }
    cudaFree(d_inp);
    cudaFree(d_w);
    cudaFree(d_dout);
    cudaFree(d_dinp);
    cudaFree(d_dw);
    cudaFree(d_rstd);
    cudaFree(d_out);
}

static void test_rmsnorm(bool big) {
    rmsnorm_case(37, 24, false);
    rmsnorm_case(37, 13, false);
    if (big) rmsnorm_case(32768, 768, true);
}

// ---- conv1d ---------------------------------------------------------------------------

// docs: a document starts at each row with probability 1/doc_period
static void conv_case(int B, int T, int E, int K, int ldx, int lddx, bool docs, bool timed, int doc_period = 6) {
    const size_t BT = (size_t)B * T;
    const float SENT = 777.0f;  // dx columns past E must keep it
    float *d_w = dalloc<float>((size_t)E * K), *d_bias = dalloc<float>(E), *d_dout = dalloc<float>(BT * E);
    float *d_dw = dalloc<float>((size_t)E * K), *d_db = dalloc<float>(E);
    bf16 *d_x = dalloc<bf16>(BT * ldx), *d_out = dalloc<bf16>(BT * E), *d_dx = dalloc<bf16>(BT * lddx);
    uint8_t *d_ds = dalloc<uint8_t>(BT);
    dfill(d_x, (long)(BT * ldx), 41, 2.0f);
    dfill(d_w, (long)E * K, 42, 0.5f);
    dfill(d_bias, E, 43, 0.2f);
    dfill(d_dout, (long)(BT * E), 44, 1.0f);
    fill_flags_kernel<<<1024, 256>>>(d_ds, (long)BT, 45, (uint32_t)doc_period);
    CUDA_CHECK_LAST();
    const uint8_t *ds = docs ? d_ds : nullptr;
    double ms_f = -1, ms_b = -1;
    if (timed) {
        ms_f = time_ms([&] { conv1d_silu_fwd(d_out, d_x, ldx, d_w, d_bias, ds, B, T, E, K, 0); }, 10);
        ms_b = time_ms([&] { conv1d_silu_bwd(d_dx, lddx, d_dw, d_db, d_dout, d_x, ldx, d_w, d_bias, ds, B, T, E, K, 0); }, 10);
    }
    std::vector<bf16> sent(BT * lddx, f2b(SENT));
    h2d(d_dx, sent);
    std::vector<float> dw0 = hrand_f32((size_t)E * K, 46, 0.1f), db0 = hrand_f32(E, 47, 0.1f);
    h2d(d_dw, dw0);
    h2d(d_db, db0);
    conv1d_silu_fwd(d_out, d_x, ldx, d_w, d_bias, ds, B, T, E, K, 0);
    conv1d_silu_bwd(d_dx, lddx, d_dw, d_db, d_dout, d_x, ldx, d_w, d_bias, ds, B, T, E, K, 0);
    std::vector<bf16> out = d2h(d_out, BT * E), dx = d2h(d_dx, BT * lddx), x = d2h(d_x, BT * ldx);
    std::vector<float> dw = d2h(d_dw, (size_t)E * K), db = d2h(d_db, E), w = d2h(d_w, (size_t)E * K);
    std::vector<float> bias = d2h(d_bias, E), dout = d2h(d_dout, BT * E);
    std::vector<uint8_t> dsh = d2h(d_ds, BT);

    std::vector<double> xd = to_d(x), wd = to_d(w), bd = to_d(bias), gd = to_d(dout), outr(BT * E);
    std::vector<double> dxr(BT * lddx, 0.0), dwr = to_d(dw0), dbr = to_d(db0);
    const uint8_t *dsp = docs ? dsh.data() : nullptr;
    conv1d_silu_forward(outr.data(), nullptr, xd.data(), ldx, wd.data(), bd.data(), dsp, B, T, E, K);
    conv1d_silu_backward(dxr.data(), lddx, dwr.data(), dbr.data(), gd.data(), xd.data(), ldx, wd.data(), bd.data(),
                         dsp, B, T, E, K);
    Cmp co, cx, cw, cb;
    long bad = 0;
    for (size_t i = 0; i < out.size(); i++) co.add(b2d(out[i]), outr[i]);
    for (size_t bt = 0; bt < BT; bt++)
        for (int c = 0; c < lddx; c++) {
            size_t i = bt * lddx + c;
            if (c < E)
                cx.add(b2d(dx[i]), dxr[i]);
            else if (b2d(dx[i]) != b2d(f2b(SENT)))
                bad++;
        }
    for (size_t i = 0; i < dw.size(); i++) cw.add(dw[i], dwr[i]);
    for (int i = 0; i < E; i++) cb.add(db[i], dbr[i]);
    char dtag[32] = "";
    if (docs) snprintf(dtag, sizeof dtag, " docs 1/%d", doc_period);
    const char *s = shp("B=%d T=%d E=%d K=%d ldx=%d%s", B, T, E, K, ldx, dtag);
    report("conv1d_silu_fwd", s, "out", co.rel(), TOL_BF16, ms_f, (double)BT * E * 4);
    report("conv1d_silu_bwd", s, "dx", cx.rel(), TOL_BF16, ms_b, (double)BT * E * 8);
    report("conv1d_silu_bwd", s, "dx pad", (double)bad, TOL_EXACT);
    report("conv1d_silu_bwd", s, "dw", cw.rel(), TOL_F32);
    report("conv1d_silu_bwd", s, "dbias", cb.rel(), TOL_F32);
    {
        // again with a bf16 dout (the model's): the reference gets the same rounded values
        std::vector<bf16> dout_b(BT * E);
        for (size_t i = 0; i < dout_b.size(); i++) dout_b[i] = f2b(dout[i]);
        bf16 *d_dout_b = dalloc<bf16>(BT * E);
        h2d(d_dout_b, dout_b);
        double ms_bb = -1;
        if (timed) ms_bb = time_ms([&] { conv1d_silu_bwd(d_dx, lddx, d_dw, d_db, d_dout_b, d_x, ldx, d_w, d_bias, ds, B, T, E, K, 0); }, 10);
        h2d(d_dw, dw0);
        h2d(d_db, db0);
        conv1d_silu_bwd(d_dx, lddx, d_dw, d_db, d_dout_b, d_x, ldx, d_w, d_bias, ds, B, T, E, K, 0);
        std::vector<bf16> dx2 = d2h(d_dx, BT * lddx);
        std::vector<float> dw2 = d2h(d_dw, (size_t)E * K), db2 = d2h(d_db, E);
        std::vector<double> gb(BT * E), dxr2(BT * lddx, 0.0), dwr2 = to_d(dw0), dbr2 = to_d(db0);
        for (size_t i = 0; i < gb.size(); i++) gb[i] = b2d(dout_b[i]);
        conv1d_silu_backward(dxr2.data(), lddx, dwr2.data(), dbr2.data(), gb.data(), xd.data(), ldx, wd.data(), bd.data(),
                             dsp, B, T, E, K);
        Cmp cx2, cw2, cb2;
        for (size_t bt = 0; bt < BT; bt++)
            for (int c = 0; c < E; c++) cx2.add(b2d(dx2[bt * lddx + c]), dxr2[bt * lddx + c]);
        for (size_t i = 0; i < dw2.size(); i++) cw2.add(dw2[i], dwr2[i]);
        for (int i = 0; i < E; i++) cb2.add(db2[i], dbr2[i]);
        report("conv1d_silu_bwd", s, "dx (bf16 dout)", cx2.rel(), TOL_BF16, ms_bb, (double)BT * E * 6);
        report("conv1d_silu_bwd", s, "dw (bf16 dout)", cw2.rel(), TOL_F32);
        report("conv1d_silu_bwd", s, "dbias (bf16 dout)", cb2.rel(), TOL_F32);
        cudaFree(d_dout_b);
    }
    cudaFree(d_w);
    cudaFree(d_bias);
    cudaFree(d_dout);
    cudaFree(d_dw);
    cudaFree(d_db);
    cudaFree(d_x);
    cudaFree(d_out);
    cudaFree(d_dx);
    cudaFree(d_ds);
}

static void test_conv(bool big) {
    conv_case(3, 37, 24, 4, 56, 56, true, false);  // 8- and 4-wide paths
    conv_case(3, 37, 24, 3, 56, 56, true, false);
    conv_case(3, 37, 24, 2, 56, 56, true, false);
    conv_case(3, 37, 24, 4, 56, 56, false, false);
    conv_case(2, 70, 13, 4, 29, 31, true, false);  // scalar paths, odd strides
    conv_case(2, 70, 13, 3, 29, 31, true, false);
    // long runs with sparse starts: the backward's unmasked groups beside masked ones
    conv_case(2, 300, 24, 4, 56, 56, true, false, 40);
    conv_case(2, 300, 24, 3, 56, 56, true, false, 40);
    conv_case(2, 300, 24, 2, 56, 56, true, false, 40);
    if (big) conv_case(16, 2048, 1536, 4, 3072, 3072, true, true, 1024);
}

// ---- selective scan -------------------------------------------------------------------

// Device buffers of one scan problem; B, C, z, dz, dB/dC are views into wider
// rows (as in the model: x_proj's and in_proj's outputs).
struct ScanBufs {
    int B, T, E, N, R, ldbc, ldz;
    bf16 *u, *xdbl, *xz, *dy, *y, *ypre, *dxz, *yg, *dtraw;  // yg: the backward's gated-output copy
    float *dt_bias, *A_log, *D, *states, *du, *ddt, *dxdbl, *ddt_bias, *dA_log, *dD;
    uint8_t *ds;
    const bf16 *Bm() const { return xdbl + R; }
    const bf16 *Cm() const { return xdbl + R + N; }
    const bf16 *z() const { return xz + E; }
};

static ScanBufs scan_alloc(int B, int T, int E, int N, int R, int ldz, uint64_t seed, int ds_period) {
    ScanBufs s;
    s.B = B, s.T = T, s.E = E, s.N = N, s.R = R, s.ldbc = R + 2 * N, s.ldz = ldz;
    const size_t BT = (size_t)B * T;
    s.u = dalloc<bf16>(BT * E), s.xdbl = dalloc<bf16>(BT * s.ldbc), s.xz = dalloc<bf16>(BT * ldz);
    s.dy = dalloc<bf16>(BT * E), s.y = dalloc<bf16>(BT * E), s.ypre = dalloc<bf16>(BT * E);
    s.dxz = dalloc<bf16>(BT * ldz), s.yg = dalloc<bf16>(BT * ldz);
    s.dtraw = dalloc<bf16>(BT * E), s.dt_bias = dalloc<float>(E), s.A_log = dalloc<float>((size_t)E * N);
    s.D = dalloc<float>(E), s.states = dalloc<float>(selective_scan_states_floats(B, T, E, N));
    s.du = dalloc<float>(BT * E), s.ddt = dalloc<float>(BT * E), s.dxdbl = dalloc<float>(BT * s.ldbc);
    s.ddt_bias = dalloc<float>(E), s.dA_log = dalloc<float>((size_t)E * N), s.dD = dalloc<float>(E);
    s.ds = dalloc<uint8_t>(BT);
    dfill(s.u, (long)(BT * E), seed + 1, 1.5f);
    dfill(s.xdbl, (long)(BT * s.ldbc), seed + 2, 1.0f);
    dfill(s.xz, (long)(BT * ldz), seed + 3, 2.0f);
    dfill(s.dy, (long)(BT * E), seed + 4, 1.0f);
    dfill(s.dtraw, (long)(BT * E), seed + 5, 1.0f);
    fill_flags_kernel<<<1024, 256>>>(s.ds, (long)BT, seed + 6, (uint32_t)ds_period);
    CUDA_CHECK_LAST();
    // mamba_ssm's initialisation, perturbed: dt_bias = softplus^-1(dt), dt
    // log-uniform in [1e-3, 1e-1]; A_log = log(1..N); D = 1
    std::vector<float> bias(E), alog((size_t)E * N), Dv(E);
    for (int e = 0; e < E; e++) {
        double dt = exp(log(1e-3) + (0.5 + 0.5 * urand(seed + 7, e)) * (log(1e-1) - log(1e-3)));
        bias[e] = (float)(dt + log(-expm1(-dt)));
        Dv[e] = 1.0f + 0.1f * urand(seed + 8, e);
        for (int n = 0; n < N; n++) alog[(size_t)e * N + n] = (float)log(n + 1.0) + 0.1f * urand(seed + 9, e * N + n);
    }
    h2d(s.dt_bias, bias);
    h2d(s.A_log, alog);
    h2d(s.D, Dv);
    if (T > 8) {  // a few steps past softplus' threshold
        std::vector<bf16> big(1, f2b(30.0f));
        for (int k = 0; k < 3; k++) {
            size_t i = (size_t)(irand(seed + 10, k) % (uint32_t)(BT * E));
            h2d(s.dtraw + i, big);
        }
    }
    return s;
}

static void scan_free(ScanBufs &s) {
    void *p[] = {s.u, s.xdbl, s.xz, s.dy, s.y, s.ypre, s.dxz, s.yg, s.dtraw, s.dt_bias, s.A_log, s.D, s.states, s.du,
                 s.ddt, s.dxdbl, s.ddt_bias, s.dA_log, s.dD, s.ds};
    for (void *q : p) cudaFree(q);
}

// The kernels under test: nullptr = the library's dispatch; otherwise one of
// the fast launchers (N = 16 only), to time and check the alternatives.
typedef void (*scan_fwd_fn)(bf16 *, bf16 *, float *, const bf16 *, const bf16 *, const float *, const float *,
                            const bf16 *, const bf16 *, int, const float *, const bf16 *, int, const uint8_t *, int,
                            int, int, cudaStream_t);
typedef void (*scan_bwd_fn)(float *, float *, float *, float *, float *, float *, int, float *, bf16 *, int, bf16 *,
                            const bf16 *, const bf16 *, const bf16 *, const float *, const float *, const bf16 *,
                            const bf16 *, int, const float *, const bf16 *, int, const bf16 *, const float *,
                            const uint8_t *, int, int, int, cudaStream_t);
static scan_fwd_fn g_scan_fwd = nullptr;
static scan_bwd_fn g_scan_bwd = nullptr;

static void scan_run_fwd(const ScanBufs &s, int B, size_t row0) {
    const size_t o = row0;  // first token row (a slice of batch rows)
    float *states = s.states + selective_scan_states_floats(1, s.T, s.E, s.N) * (o / s.T);
    const uint8_t *ds = s.ds ? s.ds + o : nullptr;
    if (g_scan_fwd)
        g_scan_fwd(s.y + o * s.E, s.ypre + o * s.E, states, s.u + o * s.E, s.dtraw + o * s.E, s.dt_bias, s.A_log,
                   s.Bm() + o * s.ldbc, s.Cm() + o * s.ldbc, s.ldbc, s.D, s.z() + o * s.ldz, s.ldz, ds, B, s.T, s.E, 0);
    else
        selective_scan_fwd(s.y + o * s.E, s.ypre + o * s.E, states, s.u + o * s.E, s.dtraw + o * s.E, s.dt_bias,
                           s.A_log, s.Bm() + o * s.ldbc, s.Cm() + o * s.ldbc, s.ldbc, s.D, s.z() + o * s.ldz, s.ldz, ds,
                           B, s.T, s.E, s.N, 0);
}

static void scan_run_bwd(const ScanBufs &s, int B, size_t row0) {
    const size_t o = row0;
    const float *states = s.states + selective_scan_states_floats(1, s.T, s.E, s.N) * (o / s.T);
    const uint8_t *ds = s.ds ? s.ds + o : nullptr;
    if (g_scan_bwd)
        g_scan_bwd(s.du + o * s.E, s.ddt + o * s.E, s.ddt_bias, s.dA_log, s.dxdbl + s.R + o * s.ldbc,
                   s.dxdbl + s.R + s.N + o * s.ldbc, s.ldbc, s.dD, s.dxz + s.E + o * s.ldz, s.ldz, s.yg + o * s.ldz, s.dy + o * s.E,
                   s.u + o * s.E, s.dtraw + o * s.E, s.dt_bias, s.A_log, s.Bm() + o * s.ldbc, s.Cm() + o * s.ldbc,
                   s.ldbc, s.D, s.z() + o * s.ldz, s.ldz, s.ypre + o * s.E, states, ds, B, s.T, s.E, 0);
    else
        selective_scan_bwd(s.du + o * s.E, s.ddt + o * s.E, s.ddt_bias, s.dA_log, s.dxdbl + s.R + o * s.ldbc,
                           s.dxdbl + s.R + s.N + o * s.ldbc, s.ldbc, s.dD, s.dxz + s.E + o * s.ldz, s.ldz,
                           s.yg + o * s.ldz, s.dy + o * s.E, s.u + o * s.E, s.dtraw + o * s.E, s.dt_bias, s.A_log, s.Bm() + o * s.ldbc,
                           s.Cm() + o * s.ldbc, s.ldbc, s.D, s.z() + o * s.ldz, s.ldz, s.ypre + o * s.E, states, ds, B,
                           s.T, s.E, s.N, 0);
}

// Runs the GPU forward + backward on batch rows [g0, g0+gn), the CPU
// reference on rows [c0, c0+nb) of those, and compares them. Parameter
// gradients (sums over batch rows) are compared when the two sets are equal.
static void scan_check(ScanBufs &s, int g0, int gn, int c0, int nb, bool docs, const char *shape) {
    const int T = s.T, E = s.E, N = s.N, R = s.R, ldbc = s.ldbc, ldz = s.ldz;
    const size_t BT = (size_t)nb * T, row0 = (size_t)c0 * T;
    const bool params = g0 == c0 && gn == nb;
    uint8_t *ds_save = s.ds;
    if (!docs) s.ds = nullptr;
    // fresh accumulators; sentinels in dz's other columns and dB/dC's dt columns
    const float SENT = 555.0f;
    std::vector<float> ddtb0 = hrand_f32(E, 51, 1.0f), dA0 = hrand_f32((size_t)E * N, 52, 1.0f), dD0 = hrand_f32(E, 53, 1.0f);
    h2d(s.ddt_bias, ddtb0);
    h2d(s.dA_log, dA0);
    h2d(s.dD, dD0);
    CUDA_CHECK(cudaMemset(s.dxdbl, 0, sizeof(float) * (size_t)s.B * T * ldbc));
    {
        std::vector<bf16> sent((size_t)s.B * T * ldz, f2b(SENT));
        h2d(s.dxz, sent);
    }
    // poison what the kernels write (NaN in fp32 and bf16): an element they
    // miss fails, whatever an earlier run left there
    const size_t BTall = (size_t)s.B * T;
    CUDA_CHECK(cudaMemset(s.y, 0xff, sizeof(bf16) * BTall * E));
    CUDA_CHECK(cudaMemset(s.ypre, 0xff, sizeof(bf16) * BTall * E));
    CUDA_CHECK(cudaMemset(s.yg, 0xff, sizeof(bf16) * BTall * ldz));
    CUDA_CHECK(cudaMemset(s.du, 0xff, sizeof(float) * BTall * E));
    CUDA_CHECK(cudaMemset(s.ddt, 0xff, sizeof(float) * BTall * E));
    CUDA_CHECK(cudaMemset(s.states, 0xff, sizeof(float) * selective_scan_states_floats(s.B, T, E, N)));
    scan_run_fwd(s, gn, (size_t)g0 * T);
    scan_run_bwd(s, gn, (size_t)g0 * T);
    sync();
    // GPU results of the rows
    std::vector<bf16> y = d2h(s.y + row0 * E, BT * E), ypre = d2h(s.ypre + row0 * E, BT * E);
    std::vector<bf16> dxz = d2h(s.dxz + row0 * ldz, BT * ldz), yg = d2h(s.yg + row0 * ldz, BT * ldz);
    std::vector<float> du = d2h(s.du + row0 * E, BT * E), ddt = d2h(s.ddt + row0 * E, BT * E);
    std::vector<float> dxdbl = d2h(s.dxdbl + row0 * ldbc, BT * ldbc);
    std::vector<float> ddtb = d2h(s.ddt_bias, E), dA = d2h(s.dA_log, (size_t)E * N), dD = d2h(s.dD, E);
    // inputs of the rows
    std::vector<double> u = to_d(d2h(s.u + row0 * E, BT * E)), xdbl = to_d(d2h(s.xdbl + row0 * ldbc, BT * ldbc));
    std::vector<double> xz = to_d(d2h(s.xz + row0 * ldz, BT * ldz)), dy = to_d(d2h(s.dy + row0 * E, BT * E));
    std::vector<bf16> dtraw = d2h(s.dtraw + row0 * E, BT * E);
    std::vector<float> bias = d2h(s.dt_bias, E);
    std::vector<double> alog = to_d(d2h(s.A_log, (size_t)E * N)), Dv = to_d(d2h(s.D, E));
    std::vector<uint8_t> ds = s.ds ? d2h(s.ds + row0, BT) : std::vector<uint8_t>();
    s.ds = ds_save;

    // CPU: delta = softplus(dtraw + bias); scan forward and backward; ddtraw
    std::vector<double> x(BT * E), delta(BT * E);
    for (size_t bt = 0; bt < BT; bt++)
        for (int e = 0; e < E; e++) x[bt * E + e] = b2d(dtraw[bt * E + e]) + (double)bias[e];
    softplus_forward(delta.data(), x.data(), (long)(BT * E));
    std::vector<double> yr(BT * E), ypr(BT * E);
    const uint8_t *dsp = ds.empty() ? nullptr : ds.data();
    selective_scan_forward(yr.data(), ypr.data(), u.data(), delta.data(), alog.data(), xdbl.data() + R,
                           xdbl.data() + R + N, ldbc, Dv.data(), xz.data() + E, ldz, dsp, nb, T, E, N);
    std::vector<double> dur(BT * E, 0.0), ddr(BT * E, 0.0), dxdr(BT * ldbc, 0.0), dzr(BT * ldz, 0.0);
    std::vector<double> dAr = to_d(dA0), dDr = to_d(dD0);
    std::vector<double> scratch(selective_scan_scratch_reals(nb, T, E, N));
    selective_scan_backward(dur.data(), ddr.data(), dAr.data(), dxdr.data() + R, dxdr.data() + R + N, ldbc, dDr.data(),
                            dzr.data() + E, ldz, dy.data(), u.data(), delta.data(), alog.data(), xdbl.data() + R,
                            xdbl.data() + R + N, ldbc, Dv.data(), xz.data() + E, ldz, dsp, nb, T, E, N, scratch.data());
    std::vector<double> ddtr(BT * E, 0.0), ddtbr = to_d(ddtb0);
    softplus_backward(ddtr.data(), ddr.data(), x.data(), (long)(BT * E));
    for (size_t bt = 0; bt < BT; bt++)
        for (int e = 0; e < E; e++) ddtbr[e] += ddtr[bt * E + e];

    Cmp cy, cyp, cyg, cdu, cdd, cdz, cdB, cdC, cA, cD, cb;
    long bad = 0;
    for (size_t i = 0; i < BT * E; i++) {
        cy.add(b2d(y[i]), yr[i]);
        // the gated output again, from the bf16 y_pre the backward reads
        const double zv = xz[(i / E) * ldz + E + i % E];
        cyg.add(b2d(yg[(i / E) * ldz + i % E]), b2d(ypre[i]) * r_silu(zv));
        cyp.add(b2d(ypre[i]), ypr[i]);
        cdu.add(du[i], dur[i]);
        cdd.add(ddt[i], ddtr[i]);
    }
    for (size_t bt = 0; bt < BT; bt++) {
        for (int c = 0; c < ldz; c++) {
            size_t i = bt * ldz + c;
            if (c >= E && c < 2 * E)
                cdz.add(b2d(dxz[i]), dzr[i]);
            else if (b2d(dxz[i]) != b2d(f2b(SENT)))
                bad++;
        }
        for (int c = 0; c < ldbc; c++) {
            size_t i = bt * ldbc + c;
            if (c < R) {
                if (dxdbl[i] != 0.0f) bad++;
            } else if (c < R + N) {
                cdB.add(dxdbl[i], dxdr[i]);
            } else {
                cdC.add(dxdbl[i], dxdr[i]);
            }
        }
    }
    report("selective_scan_fwd", shape, "y", cy.rel(), TOL_BF16);
    report("selective_scan_fwd", shape, "y_pre", cyp.rel(), TOL_BF16);
    report("selective_scan_bwd", shape, "du", cdu.rel(), TOL_SCAN);
    report("selective_scan_bwd", shape, "ddtraw", cdd.rel(), TOL_SCAN);
    report("selective_scan_bwd", shape, "dz", cdz.rel(), TOL_BF16);
    report("selective_scan_bwd", shape, "y_gate", cyg.rel(), TOL_BF16);
    report("selective_scan_bwd", shape, "dB", cdB.rel(), TOL_SCAN);
    report("selective_scan_bwd", shape, "dC", cdC.rel(), TOL_SCAN);
    report("selective_scan_bwd", shape, "untouched", (double)bad, TOL_EXACT);
    if (params) {
        for (size_t i = 0; i < dA.size(); i++) cA.add(dA[i], dAr[i]);
        for (int e = 0; e < E; e++) cD.add(dD[e], dDr[e]), cb.add(ddtb[e], ddtbr[e]);
        report("selective_scan_bwd", shape, "dA_log", cA.rel(), TOL_SCAN);
        report("selective_scan_bwd", shape, "dD", cD.rel(), TOL_SCAN);
        report("selective_scan_bwd", shape, "ddt_bias", cb.rel(), TOL_SCAN);
    }
}

// the alternatives of the fast kernels at N = 16 (the first: the v1 kernels;
// the library's marked)
struct FwdV { const char *name; scan_fwd_fn f; };
struct BwdV { const char *name; scan_bwd_fn f; };
static const FwdV g_fv[] = {
    {"fwd v1 NS=8 TL=16", scan_fwd_fast_launch<16, 16>},
    {"fwd v2 NS=4 TL=16 B6", scan_fwd_v2_launch<16, 16, 4, 6, false>},
    {"fwd v2 NS=4 TL=16 B6 vBC", scan_fwd_v2_launch<16, 16, 4, 6, true>},
    {"fwd v2 NS=8 TL=16 B3 vBC (library)", scan_fwd_v2_launch<16, 16, 8, 3, true>},
};
static const BwdV g_bv[] = {
    {"bwd v3 pairs (library)", scan_bwd_pairs_launch<float>},
    {"bwd v1 NS=8", scan_bwd_fast_launch<16, 8>},
};

static void test_scan(bool big) {
    if (getenv("SCAN_PROFILE")) {  // at the 130m shapes, for ncu: fwd v1, the library's fwd and bwd, the v1 bwd
        const int B = 16, T = 2048, E = 1536, N = 16, R = 48, ldz = 2 * E;
        ScanBufs s = scan_alloc(B, T, E, N, R, ldz, 70, 1024);
        g_scan_fwd = g_fv[0].f;
        scan_run_fwd(s, B, 0);
        g_scan_fwd = nullptr;
        scan_run_fwd(s, B, 0);
        scan_run_bwd(s, B, 0);
        g_scan_bwd = g_bv[1].f;  // v1
        scan_run_bwd(s, B, 0);
        sync();
        g_scan_fwd = nullptr, g_scan_bwd = nullptr;
        scan_free(s);
        return;
    }
    // E % 4 == 0 with 4-aligned row strides takes the fast kernels (the
    // forward only for N <= 16), other shapes the generic ones; T = 150: 3
    // chunks, the last one partial (and its last tile and sub-chunk); E = 72:
    // a partial block of channels
    struct { int B, T, E, N, R, ldz; bool docs; } cases[] = {
        {3, 150, 72, 16, 5, 148, true}, {3, 150, 72, 4, 5, 148, true},  {3, 150, 72, 8, 5, 148, true},
        {3, 150, 72, 32, 5, 148, true}, {3, 150, 72, 64, 5, 148, true}, {2, 64, 8, 16, 3, 16, false},
        {1, 1, 8, 16, 2, 16, true},     {2, 200, 136, 16, 48, 272, true},
        {3, 150, 37, 16, 5, 77, true},  {3, 150, 37, 4, 5, 77, true},   {3, 150, 37, 8, 5, 77, true},
        {3, 150, 37, 32, 5, 77, true},  {3, 150, 37, 64, 5, 77, true},  {1, 1, 5, 8, 2, 11, true},
        {2, 200, 130, 16, 48, 263, true},
    };
    for (auto &c : cases) {
        ScanBufs s = scan_alloc(c.B, c.T, c.E, c.N, c.R, c.ldz, 60, 23);
        const bool fast = c.E % 4 == 0 && c.ldz % 4 == 0;
        scan_check(s, 0, c.B, 0, c.B, c.docs,
                   shp("B=%d T=%d E=%d N=%d ldz=%d%s %s", c.B, c.T, c.E, c.N, c.ldz, c.docs ? " docs" : "",
                       fast ? "fast" : "generic"));
        scan_free(s);
    }
    // the alternatives of the fast kernels (N = 16), each checked on odd shapes
    const FwdV *fv = g_fv;
    const BwdV *bv = g_bv;
    const int nfv = (int)(sizeof g_fv / sizeof g_fv[0]), nbv = (int)(sizeof g_bv / sizeof g_bv[0]);
    {
        // R = 5: B/C rows 2-byte aligned; R = 48: 16-byte aligned (the vector B/C loads)
        struct { int B, T, E, ldz, R; } odd[] = {{3, 150, 72, 148, 5}, {2, 200, 136, 272, 5}, {3, 150, 72, 148, 48}};
        for (auto &c : odd) {
            ScanBufs t = scan_alloc(c.B, c.T, c.E, 16, c.R, c.ldz, 61, 23);
            for (int i = 0; i < std::max(nfv, nbv); i++) {
                g_scan_fwd = fv[i % nfv].f, g_scan_bwd = bv[i % nbv].f;
                scan_check(t, 0, c.B, 0, c.B, true,
                           shp("B=%d T=%d E=%d R=%d %s/%s", c.B, c.T, c.E, c.R, fv[i % nfv].name + 4, bv[i % nbv].name + 4));
            }
            g_scan_fwd = nullptr, g_scan_bwd = nullptr;
            scan_free(t);
        }
    }
    if (!big) return;
    // Mamba-130m: B=16, T=2048, E=1536, N=16, x_proj rows of R+2N = 80, in_proj rows of 2E
    const int B = 16, T = 2048, E = 1536, N = 16, R = 48, ldz = 2 * E;
    ScanBufs s = scan_alloc(B, T, E, N, R, ldz, 70, 1024);
    const double BTE = (double)B * T * E;
    const double bytes_f = BTE * (2 + 2 + 2 + 2 + 2) + (double)B * T * 2 * N * 2 + 4.0 * selective_scan_states_floats(B, T, E, N);
    const double bytes_b = BTE * (2 + 2 + 2 + 2 + 2 + 4 + 4 + 2 + 2) + (double)B * T * 2 * N * (2 + 4) +
                           4.0 * selective_scan_states_floats(B, T, E, N);
    const char *sh = "B=16 T=2048 E=1536 N=16 docs";
    double ms_f = time_ms([&] { scan_run_fwd(s, B, 0); }, 20);
    double ms_b = time_ms([&] { scan_run_bwd(s, B, 0); }, 10);
    report_time("selective_scan_fwd", sh, ms_f, bytes_f);
    report_time("selective_scan_bwd", sh, ms_b, bytes_b);
    // every alternative, timed twice (the spread is the noise)
    double tf[8][2], tb[8][2];
    for (int rep = 0; rep < 2; rep++) {
        for (int i = 0; i < nfv; i++) {
            g_scan_fwd = fv[i].f;
            tf[i][rep] = time_ms([&] { scan_run_fwd(s, B, 0); }, 20);
            report_time(fv[i].name, sh, tf[i][rep], bytes_f);
        }
        g_scan_fwd = nullptr;
        scan_run_fwd(s, B, 0);  // the states the backward reads
        for (int i = 0; i < nbv; i++) {
            g_scan_bwd = bv[i].f;
            tb[i][rep] = time_ms([&] { scan_run_bwd(s, B, 0); }, 10);
            report_time(bv[i].name, sh, tb[i][rep], bytes_b);
        }
        g_scan_bwd = nullptr;
    }
    // correctness (the CPU reference on one batch row at a time): the last row
    // of a full-batch run, then row 0 run alone (parameter gradients too)
    scan_check(s, 0, B, B - 1, 1, true, "B=16 T=2048 E=1536 N=16, row 15");
    scan_check(s, 0, 1, 0, 1, true, "B=1 T=2048 E=1536 N=16 docs");
    for (int i = 0; i < std::max(nfv, nbv); i++) {
        g_scan_fwd = fv[i % nfv].f, g_scan_bwd = bv[i % nbv].f;
        scan_check(s, 0, 1, 0, 1, true, shp("B=1 T=2048 %s/%s", fv[i % nfv].name + 4, bv[i % nbv].name + 4));
    }
    g_scan_fwd = nullptr, g_scan_bwd = nullptr;
    scan_free(s);
    printf("scan per layer at the 130m shapes (ms, two timings):\n");
    for (int i = 0; i < nfv; i++) printf("  %-36s %8.4f %8.4f\n", fv[i].name, tf[i][0], tf[i][1]);
    for (int i = 0; i < nbv; i++) printf("  %-36s %8.4f %8.4f\n", bv[i].name, tb[i][0], tb[i][1]);
    printf("  library: fwd %.4f bwd %.4f\n", ms_f, ms_b);
}

// ---- cross-entropy ---------------------------------------------------------------------

// double reference of one row: returns nll, fills grad (softmax - onehot) * m * dscale
static double xent_ref_row(const bf16 *row, int Vp, int tgt, double m, double dscale, double *grad) {
    double mx = -INFINITY;
    for (int v = 0; v < Vp; v++) mx = std::max(mx, b2d(row[v]));
    double s = 0;
    for (int v = 0; v < Vp; v++) s += exp(b2d(row[v]) - mx);
    if (grad)
        for (int v = 0; v < Vp; v++) grad[v] = (exp(b2d(row[v]) - mx) / s - (v == tgt)) * m * dscale;
    return mx + log(s) - b2d(row[tgt]);
}

static void xent_small(int n, int Vp) {
    const float dscale = 0.37f, loss0 = 1.5f;
    std::vector<bf16> lg = hrand_bf16((size_t)n * Vp, 81, 4.0f);
    std::vector<int32_t> tg(n);
    std::vector<float> mask(n);
    for (int i = 0; i < n; i++) {
        tg[i] = (int32_t)(irand(82, i) % (uint32_t)Vp);
        mask[i] = i % 5 == 3 ? 0.0f : i == 7 ? 0.5f : 1.0f;
    }
    bf16 *d_lg = dalloc<bf16>(lg.size());
    int32_t *d_tg = dalloc<int32_t>(n);
    float *d_mask = dalloc<float>(n), *d_loss = dalloc<float>(1), *d_ds = dalloc<float>(1);
    h2d(d_lg, lg);
    h2d(d_tg, tg);
    h2d(d_mask, mask);
    std::vector<float> l0(1, loss0), dsv(1, dscale);
    h2d(d_ds, dsv);

    // CPU: the LM head with an identity table and C = Vp turns inputs into logits
    std::vector<double> inp = to_d(lg), eye((size_t)Vp * Vp, 0.0), dl((size_t)n * Vp, 0.0), md = to_d(mask);
    for (int v = 0; v < Vp; v++) eye[(size_t)v * Vp + v] = 1.0;
    std::vector<double> scratch(lmhead_scratch_reals(Vp));
    double loss_r = lmhead_xent_forward_backward(dl.data(), nullptr, inp.data(), eye.data(), tg.data(), md.data(), n,
                                                 Vp, Vp, (double)dscale, scratch.data());
    const char *s = shp("n=%d Vp=%d mask", n, Vp);
    // loss only: logits untouched
    h2d(d_loss, l0);
    xent_fwd(d_lg, d_loss, d_tg, d_mask, n, Vp, 0);
    std::vector<float> lf = d2h(d_loss, 1);
    std::vector<bf16> after = d2h(d_lg, lg.size());
    report("xent_fwd", s, "loss", fabs((lf[0] - loss0) - loss_r) / fabs(loss_r), TOL_F32);
    report("xent_fwd", s, "logits", memcmp(after.data(), lg.data(), lg.size() * sizeof(bf16)) ? 1.0 : 0.0, TOL_EXACT);
    for (int dev = 0; dev < 2; dev++) {
        h2d(d_lg, lg);
        h2d(d_loss, l0);
        if (dev)
            xent_fwd_bwd(d_lg, d_loss, d_tg, d_mask, n, Vp, (const float *)d_ds, 0);
        else
            xent_fwd_bwd(d_lg, d_loss, d_tg, d_mask, n, Vp, dscale, 0);
        std::vector<float> lb = d2h(d_loss, 1);
        std::vector<bf16> g = d2h(d_lg, lg.size());
        Cmp cg;
        for (size_t i = 0; i < g.size(); i++) cg.add(b2d(g[i]), dl[i]);
        report(dev ? "xent_fwd_bwd(dev)" : "xent_fwd_bwd", s, "loss", fabs((lb[0] - loss0) - loss_r) / fabs(loss_r),
               TOL_F32);
        report(dev ? "xent_fwd_bwd(dev)" : "xent_fwd_bwd", s, "dlogits", cg.rel(), TOL_BF16);
    }
    cudaFree(d_lg);
    cudaFree(d_tg);
    cudaFree(d_mask);
    cudaFree(d_loss);
    cudaFree(d_ds);
}

static void test_xent(bool big) {
    xent_small(37, 1000);  // shared-memory path
    xent_small(37, 1003);  // global-memory path (Vp not a multiple of 8)
    if (!big) return;
    const int n = 8192, Vp = 50280;
    const float dscale = 1.0f / 8192;
    bf16 *d_lg = dalloc<bf16>((size_t)n * Vp);
    int32_t *d_tg = dalloc<int32_t>(n);
    float *d_loss = dalloc<float>(1);
    fill_tokens_kernel<<<64, 256>>>(d_tg, n, 91, Vp);
    CUDA_CHECK_LAST();
    dfill(d_lg, (long)n * Vp, 92, 8.0f);
    double ms_f = time_ms([&] { xent_fwd(d_lg, d_loss, d_tg, nullptr, n, Vp, 0); }, 5);
    double ms_b = time_ms([&] { xent_fwd_bwd(d_lg, d_loss, d_tg, nullptr, n, Vp, dscale, 0); }, 5);
    dfill(d_lg, (long)n * Vp, 92, 8.0f);
    std::vector<bf16> lg = d2h(d_lg, (size_t)n * Vp);
    std::vector<int32_t> tg = d2h(d_tg, n);
    CUDA_CHECK(cudaMemset(d_loss, 0, sizeof(float)));
    xent_fwd_bwd(d_lg, d_loss, d_tg, nullptr, n, Vp, dscale, 0);
    std::vector<float> lb = d2h(d_loss, 1);
    // dlogits of the first and last 64 rows; loss over all rows
    std::vector<bf16> g0 = d2h(d_lg, (size_t)64 * Vp), g1 = d2h(d_lg + (size_t)(n - 64) * Vp, (size_t)64 * Vp);
    std::vector<double> grad(Vp);
    Cmp cg;
    double loss_r = 0;
#pragma omp parallel for reduction(+ : loss_r) schedule(static)
    for (int i = 0; i < n; i++) loss_r += xent_ref_row(&lg[(size_t)i * Vp], Vp, tg[i], 1.0, dscale, nullptr);
    for (int i = 0; i < 128; i++) {
        int row = i < 64 ? i : n - 128 + i;
        xent_ref_row(&lg[(size_t)row * Vp], Vp, tg[row], 1.0, dscale, grad.data());
        const bf16 *gg = i < 64 ? &g0[(size_t)i * Vp] : &g1[(size_t)(i - 64) * Vp];
        for (int v = 0; v < Vp; v++) cg.add(b2d(gg[v]), grad[v]);
    }
    const char *s = "n=8192 Vp=50280 (128 rows' dlogits)";
    report_time("xent_fwd", s, ms_f, (double)n * Vp * 2);
    report("xent_fwd_bwd", s, "loss", fabs(lb[0] - loss_r) / fabs(loss_r), TOL_F32, ms_b, (double)n * Vp * 4);
    report("xent_fwd_bwd", s, "dlogits", cg.rel(), TOL_BF16);
    cudaFree(d_lg);
    cudaFree(d_tg);
    cudaFree(d_loss);
}

// ---- optimizer ------------------------------------------------------------------------

static void test_optim(bool big) {
    // grad_norm_sq: vector path with a tail, and misaligned; twice for determinism
    for (int off = 0; off < 2; off++) {
        const long n = 1000003;
        std::vector<float> g = hrand_f32(n, 101, 0.01f);
        float *d_g = dalloc<float>(n + 1), *d_out = dalloc<float>(2);
        float *d_scr = dalloc<float>(grad_norm_sq_scratch_floats(n));
        h2d(d_g + off, g.data(), n);
        grad_norm_sq(d_out, d_g + off, n, d_scr, 0);
        grad_norm_sq(d_out + 1, d_g + off, n, d_scr, 0);
        std::vector<float> o = d2h(d_out, 2);
        std::vector<double> gd = to_d(g);
        double r = grad_sq_sum(gd.data(), n);
        const char *s = shp("n=%ld offset=%d", n, off);
        report("grad_norm_sq", s, "sum g^2", fabs(o[0] - r) / r, TOL_F32);
        report("grad_norm_sq", s, "repeat", memcmp(&o[0], &o[1], sizeof(float)) ? 1.0 : 0.0, TOL_EXACT);
        cudaFree(d_g);
        cudaFree(d_out);
        cudaFree(d_scr);
    }
    // clip_scale
    {
        const float cases[][2] = {{4.0f, 1.0f}, {0.25f, 1.0f}, {4.0f, 0.0f}, {1e6f, 0.5f}};  // norm^2, max_norm
        float *d = dalloc<float>(2);
        Cmp c;
        for (auto &k : cases) {
            std::vector<float> v(1, k[0]);
            h2d(d, v);
            clip_scale(d + 1, d, k[1], 0);
            float got = d2h(d + 1, 1)[0];
            double nrm = sqrt((double)k[0]);
            double want = (k[1] > 0 && nrm > k[1]) ? k[1] / (nrm + 1e-6) : 1.0;
            c.add(got, want);
        }
        report("clip_scale", "4 cases", "scale", c.rel(), 1e-6);
        cudaFree(d);
    }
    // AdamW
    {
        const long n = 100003;
        const float lr = 3e-3f, clip = 0.8f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f;
        const long step = 7;
        std::vector<float> p = hrand_f32(n, 111, 1.0f), g = hrand_f32(n, 112, 0.1f), m = hrand_f32(n, 113, 0.01f);
        std::vector<float> v = hrand_f32(n, 114, 0.004f, 0.005f), sched = {lr, (float)step, clip};
        float *d_p = dalloc<float>(n), *d_g = dalloc<float>(n), *d_m = dalloc<float>(n), *d_v = dalloc<float>(n);
        float *d_s = dalloc<float>(3);
        h2d(d_p, p), h2d(d_g, g), h2d(d_m, m), h2d(d_v, v), h2d(d_s, sched);
        adamw_step(d_p, d_g, d_m, d_v, n, d_s, b1, b2, eps, wd, 0);
        std::vector<float> p1 = d2h(d_p, n), m1 = d2h(d_m, n), v1 = d2h(d_v, n);
        std::vector<double> pr = to_d(p), gr(n), mr = to_d(m), vr = to_d(v);
        for (long i = 0; i < n; i++) gr[i] = (double)g[i] * clip;
        adamw_update(pr.data(), gr.data(), mr.data(), vr.data(), n, lr, b1, b2, eps, wd, step);
        Cmp cp, cm, cv;
        for (long i = 0; i < n; i++) {
            cp.add((double)p1[i] - p[i], pr[i] - p[i]);  // the update itself
            cm.add(m1[i], mr[i]);
            cv.add(v1[i], vr[i]);
        }
        const char *s = shp("n=%ld step=%ld clip=%.1f", n, step, clip);
        // p: fp32 rounding of p (~6e-8) against updates of ~3e-3
        report("adamw_step", s, "p update", cp.rel(), 1e-3);
        report("adamw_step", s, "m", cm.rel(), TOL_F32);
        report("adamw_step", s, "v", cv.rel(), TOL_F32);
        cudaFree(d_p), cudaFree(d_g), cudaFree(d_m), cudaFree(d_v), cudaFree(d_s);
    }
    // Muon without Newton-Schulz (the CPU muon_update with ns_steps = 0):
    // momentum -> Frobenius normalisation -> update, batched over 3 matrices
    {
        // (37, 25): n % 4 != 0 and matrices off 16-byte alignment (the scalar paths of the vector kernels)
        const int shapes[3][3] = {{37, 24, 0}, {24, 37, 1}, {37, 25, 0}};  // rows, cols, lr_adjust
        for (auto &sh : shapes) {
            const int r = sh[0], c = sh[1], adj_mode = sh[2], count = 3;
            const long per = (long)r * c, n = per * count;
            const float lr = 0.02f, clip = 0.8f, beta = 0.95f, wd = 0.01f;
            std::vector<float> p = hrand_f32(n, 121, 0.5f), g = hrand_f32(n, 122, 0.1f), mom = hrand_f32(n, 123, 0.05f);
            std::vector<float> sched = {lr, 7.0f, clip};
            float *d_p = dalloc<float>(n), *d_g = dalloc<float>(n), *d_mom = dalloc<float>(n), *d_s = dalloc<float>(3);
            float *d_scr = dalloc<float>(frob_normalize_scratch_floats(count));
            bf16 *d_X = dalloc<bf16>(n);
            h2d(d_p, p), h2d(d_g, g), h2d(d_mom, mom), h2d(d_s, sched);
            double adj = adj_mode == 0 ? sqrt(std::max(1.0, (double)r / c)) : 0.2 * sqrt((double)std::max(r, c));
            muon_momentum(d_X, d_mom, d_g, n, beta, 1, d_s, 0);
            frob_normalize_batched(d_X, count, per, 1e-7f, d_scr, 0);
            muon_apply(d_p, d_X, n, d_s, (float)adj, wd, 0);
            std::vector<float> p1 = d2h(d_p, n), mom1 = d2h(d_mom, n);
            std::vector<double> pr = to_d(p), momr = to_d(mom), gr(n);
            for (long i = 0; i < n; i++) gr[i] = (double)g[i] * clip;
            std::vector<double> scratch(muon_scratch_reals(r, c));
            for (int q = 0; q < count; q++)
                muon_update(pr.data() + q * per, gr.data() + q * per, momr.data() + q * per, r, c, lr, beta, 1, 0,
                            3.4445, -4.7750, 2.0315, wd, adj_mode, scratch.data());
            Cmp cp, cm;
            for (long i = 0; i < n; i++) {
                cp.add((double)p1[i] - p[i], pr[i] - p[i]);
                cm.add(mom1[i], momr[i]);
            }
            const char *s = shp("3 x (%d,%d) nesterov lr_adjust=%d", r, c, adj_mode);
            // the update direction passes through bf16 twice (momentum, normalised)
            report("muon (mom,frob,apply)", s, "p update", cp.rel(), TOL_BF16);
            report("muon_momentum", s, "mom", cm.rel(), TOL_F32);
            cudaFree(d_p), cudaFree(d_g), cudaFree(d_mom), cudaFree(d_s), cudaFree(d_scr), cudaFree(d_X);
        }
    }
    // ns_poly
    {
        const long n = 1001;
        const float b = -4.7750f, c = 2.0315f;
        std::vector<bf16> A = hrand_bf16(n, 131, 1.0f), AA = hrand_bf16(n, 132, 1.0f);
        bf16 *d_A = dalloc<bf16>(n), *d_AA = dalloc<bf16>(n), *d_B = dalloc<bf16>(n);
        h2d(d_A, A), h2d(d_AA, AA);
        ns_poly(d_B, d_A, d_AA, n, b, c, 0);
        std::vector<bf16> Bq = d2h(d_B, n);
        Cmp cb;
        for (long i = 0; i < n; i++) cb.add(b2d(Bq[i]), b * b2d(A[i]) + c * b2d(AA[i]));
        report("ns_poly", shp("n=%ld", n), "Bq", cb.rel(), TOL_BF16);
        cudaFree(d_A), cudaFree(d_AA), cudaFree(d_B);
    }
    if (!big) return;
    // timings at the 130m sizes: ~129M parameters in all (grad norm), the
    // AdamW group (embedding 38.6M + small), Muon's in_proj group (24 x 3072 x 768)
    {
        const long n = 129L << 20;
        float *d_g = dalloc<float>(n), *d_out = dalloc<float>(1), *d_scr = dalloc<float>(GN_BLOCKS);
        dfill(d_g, n, 141, 0.01f);
        double ms = time_ms([&] { grad_norm_sq(d_out, d_g, n, d_scr, 0); }, 10);
        report_time("grad_norm_sq", shp("n=%ld", n), ms, n * 4.0);
        cudaFree(d_g), cudaFree(d_out), cudaFree(d_scr);
    }
    {
        const long n = 40L << 20;
        float *d_p = dalloc<float>(n), *d_g = dalloc<float>(n), *d_m = dalloc<float>(n), *d_v = dalloc<float>(n);
        float *d_s = dalloc<float>(3);
        std::vector<float> sched = {1e-3f, 10.0f, 1.0f};
        h2d(d_s, sched);
        double ms = time_ms([&] { adamw_step(d_p, d_g, d_m, d_v, n, d_s, 0.9f, 0.95f, 1e-8f, 0.1f, 0); }, 10);
        report_time("adamw_step", shp("n=%ld", n), ms, n * 28.0);
        cudaFree(d_p), cudaFree(d_g), cudaFree(d_m), cudaFree(d_v), cudaFree(d_s);
    }
    {
        const int count = 24;
        const long per = 3072L * 768, n = per * count;
        float *d_p = dalloc<float>(n), *d_g = dalloc<float>(n), *d_mom = dalloc<float>(n), *d_s = dalloc<float>(3);
        float *d_scr = dalloc<float>(frob_normalize_scratch_floats(count));
        bf16 *d_X = dalloc<bf16>(n);
        std::vector<float> sched = {0.02f, 10.0f, 1.0f};
        h2d(d_s, sched);
        dfill(d_g, n, 151, 0.01f);
        double ms1 = time_ms([&] { muon_momentum(d_X, d_mom, d_g, n, 0.95f, 1, d_s, 0); }, 10);
        double ms2 = time_ms([&] { frob_normalize_batched(d_X, count, per, 1e-7f, d_scr, 0); }, 10);
        double ms3 = time_ms([&] { muon_apply(d_p, d_X, n, d_s, 2.0f, 0.0f, 0); }, 10);
        const char *s = "24 x (3072,768)";
        report_time("muon_momentum", s, ms1, n * 14.0);
        report_time("frob_normalize", s, ms2, n * 6.0);
        report_time("muon_apply", s, ms3, n * 10.0);
        cudaFree(d_p), cudaFree(d_g), cudaFree(d_mom), cudaFree(d_s), cudaFree(d_scr), cudaFree(d_X);
    }
}

// ---- main -----------------------------------------------------------------------------

int main(int argc, char **argv) {
    bool big = true;
    std::vector<const char *> groups;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--small"))
            big = false;
        else
            groups.push_back(argv[i]);
    }
    struct { const char *name; void (*fn)(bool); } all[] = {
        {"elementwise", test_elementwise}, {"embedding", test_embedding}, {"rmsnorm", test_rmsnorm},
        {"conv", test_conv}, {"scan", test_scan}, {"xent", test_xent}, {"optim", test_optim},
    };
    for (const char *g : groups) {
        bool known = false;
        for (auto &a : all) known |= !strcmp(a.name, g);
        if (!known) {
            fprintf(stderr, "check_cuda_ops: unknown group '%s' (elementwise embedding rmsnorm conv scan xent optim)\n", g);
            return 2;
        }
    }
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    printf("device: %s, %d SMs, %.0f MB L2\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize / 1048576.0);
    header();
    for (auto &a : all) {
        bool run = groups.empty();
        for (const char *g : groups) run |= !strcmp(a.name, g);
        if (run) a.fn(big);
    }
    sync();
    printf("%d checks, %d failed\n", g_checks, g_fail);
    return g_fail ? 1 : 0;
}
