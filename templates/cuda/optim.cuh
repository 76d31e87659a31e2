// optim.cuh: the elementwise parts of the hybrid optimizer (templates/cpu/
// optim.h semantics): global gradient norm, clip scale, AdamW
// (torch.optim.AdamW), and Muon's momentum, Frobenius pre-normalisation,
// Newton-Schulz polynomial combine and final update (torch.optim.Muon); the
// Newton-Schulz products themselves are batched GEMMs (gemm.cuh).
//
// Per-step values live on the device so a captured graph replays unchanged:
// `sched` points at a group's floats {lr * schedule ratio, step (1-based,
// as a float), gradient clip scale}.
#pragma once

#include "common.cuh"

// torch.lerp's formula (it switches form at weight 0.5 to stay exact at 1).
__device__ __forceinline__ float lerpf_(float self, float end, float w) {
    return fabsf(w) < 0.5f ? self + w * (end - self) : end - (end - self) * (1.0f - w);
}

// ---- gradient norm ----------------------------------------------------------

#define GN_BLOCKS 512  // fixed: the same partial sums whatever the GPU
#define GN_THREADS 256

static inline size_t grad_norm_sq_scratch_floats(long n) {
    (void)n;
    return GN_BLOCKS;
}

static __global__ void __launch_bounds__(GN_THREADS) grad_sq_partial_kernel(float *__restrict__ part, const float *__restrict__ g, long n, int vec) {
    __shared__ float red[32];
    float s = 0.0f;
    const long stride = (long)GN_BLOCKS * GN_THREADS, i0 = (long)blockIdx.x * GN_THREADS + threadIdx.x;
    if (vec) {
        const long n4 = n / 4;
        for (long i = i0; i < n4; i += stride) {
            float4 v = reinterpret_cast<const float4 *>(g)[i];
            s = fmaf(v.x, v.x, s);
            s = fmaf(v.y, v.y, s);
            s = fmaf(v.z, v.z, s);
            s = fmaf(v.w, v.w, s);
        }
        for (long i = n4 * 4 + i0; i < n; i += stride) s = fmaf(g[i], g[i], s);
    } else {
        for (long i = i0; i < n; i += stride) s = fmaf(g[i], g[i], s);
    }
    s = block_sum(s, red);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

static __global__ void __launch_bounds__(GN_BLOCKS) grad_sq_final_kernel(float *__restrict__ out, const float *__restrict__ part) {
    __shared__ float red[32];
    float s = block_sum(part[threadIdx.x], red);  // blockDim.x == GN_BLOCKS
    if (threadIdx.x == 0) *out = s;
}

// *out (device) = sum g[i]^2, WRITTEN. Two passes with a fixed grid and fixed
// reduction trees: deterministic. scratch: grad_norm_sq_scratch_floats(n).
static inline void grad_norm_sq(float *out, const float *g, long n, float *scratch, cudaStream_t st) {
    if (n < 0) cuda_ops_fatal("grad_norm_sq: n=%ld", n);
    grad_sq_partial_kernel<<<GN_BLOCKS, GN_THREADS, 0, st>>>(scratch, g, n, is_aligned(g, 16) ? 1 : 0);
    CUDA_CHECK_LAST();
    grad_sq_final_kernel<<<1, GN_BLOCKS, 0, st>>>(out, scratch);
    CUDA_CHECK_LAST();
}

static __global__ void clip_scale_kernel(float *scale_out, const float *norm_sq, float max_norm) {
    float norm = sqrtf(*norm_sq);
    *scale_out = (max_norm > 0.0f && norm > max_norm) ? max_norm / (norm + 1e-6f) : 1.0f;
}

// *scale_out = max_norm > 0 && ||g|| > max_norm ? max_norm / (||g|| + 1e-6) : 1
static inline void clip_scale(float *scale_out, const float *norm_sq, float max_norm, cudaStream_t st) {
    clip_scale_kernel<<<1, 1, 0, st>>>(scale_out, norm_sq, max_norm);
    CUDA_CHECK_LAST();
}

// ---- AdamW ------------------------------------------------------------------

struct adamw_consts {
    float clip, step_size, bc2_sqrt, decay;
};
static __device__ __forceinline__ void adamw_one(float &p, float g, float &m, float &v, const adamw_consts &k, float beta1,
                                                 float beta2, float eps) {
    float gi = g * k.clip, pi = p * k.decay;
    float mi = lerpf_(m, gi, 1.0f - beta1);
    float vi = v * beta2 + (1.0f - beta2) * gi * gi;
    float denom = sqrtf(vi) / k.bc2_sqrt + eps;
    p = pi + -k.step_size * (mi / denom);
    m = mi;
    v = vi;
}

// vec: 16-byte accesses for the first n/4 groups of 4 (same arithmetic), the rest scalar
static __global__ void adamw_kernel(float *__restrict__ p, const float *__restrict__ g, float *__restrict__ m,
                                    float *__restrict__ v, long n, const float *__restrict__ sched, float beta1,
                                    float beta2, float eps, float wd, int vec) {
    const float lr = sched[0];
    const double step = (double)sched[1];
    adamw_consts k;
    k.clip = sched[2];
    k.step_size = (float)((double)lr / (1.0 - pow((double)beta1, step)));
    k.bc2_sqrt = (float)sqrt(1.0 - pow((double)beta2, step));
    k.decay = 1.0f - lr * wd;
    const long stride = (long)gridDim.x * blockDim.x, t0 = (long)blockIdx.x * blockDim.x + threadIdx.x;
    const long n4 = vec ? n / 4 : 0;
    for (long i = t0; i < n4; i += stride) {
        float4 p4 = reinterpret_cast<float4 *>(p)[i], m4 = reinterpret_cast<float4 *>(m)[i];
        float4 v4 = reinterpret_cast<float4 *>(v)[i];
        const float4 g4 = reinterpret_cast<const float4 *>(g)[i];
        adamw_one(p4.x, g4.x, m4.x, v4.x, k, beta1, beta2, eps);
        adamw_one(p4.y, g4.y, m4.y, v4.y, k, beta1, beta2, eps);
        adamw_one(p4.z, g4.z, m4.z, v4.z, k, beta1, beta2, eps);
        adamw_one(p4.w, g4.w, m4.w, v4.w, k, beta1, beta2, eps);
        reinterpret_cast<float4 *>(p)[i] = p4;
        reinterpret_cast<float4 *>(m)[i] = m4;
        reinterpret_cast<float4 *>(v)[i] = v4;
    }
    for (long i = 4 * n4 + t0; i < n; i += stride) adamw_one(p[i], g[i], m[i], v[i], k, beta1, beta2, eps);
}

// torch.optim.AdamW on g * clip: p *= 1 - lr*wd; m = lerp(m, g, 1-b1);
// v = b2*v + (1-b2)*g^2; p -= lr/(1-b1^step) * m / (sqrt(v)/sqrt(1-b2^step) + eps).
static inline void adamw_step(float *p, const float *g, float *m, float *v, long n, const float *sched, float beta1,
                              float beta2, float eps, float weight_decay, cudaStream_t st) {
    if (n <= 0) return;
    const int vec = is_aligned(p, 16) && is_aligned(g, 16) && is_aligned(m, 16) && is_aligned(v, 16);
    adamw_kernel<<<grid_for(vec ? n / 4 + 1 : n, 256, 4), 256, 0, st>>>(p, g, m, v, n, sched, beta1, beta2, eps,
                                                                       weight_decay, vec);
    CUDA_CHECK_LAST();
}

// ---- Muon ---------------------------------------------------------------------

// The elementwise Muon kernels move 4 (momentum, apply) or 8 (Frobenius norm)
// values per thread and iteration with 16-byte fp32 and 8/16-byte bf16
// accesses where the pointers allow, the same arithmetic in the scalar loop
// that does the rest: with 2-byte bf16 accesses the three passes of the
// (3072, 768) class ran at 1.2-2.7 TB/s.
static __device__ __forceinline__ void muon_momentum_one(bf16 *X, float *mom, const float *g, long i, float beta,
                                                         int nesterov, float clip) {
    float gi = g[i] * clip;
    float mi = lerpf_(mom[i], gi, 1.0f - beta);
    mom[i] = mi;
    X[i] = f2bf(nesterov ? lerpf_(gi, mi, beta) : mi);
}

static __global__ void muon_momentum_kernel(bf16 *__restrict__ X, float *__restrict__ mom, const float *__restrict__ g,
                                            long n, float beta, int nesterov, const float *__restrict__ sched, int vec) {
    const float clip = sched[2];
    const long stride = (long)gridDim.x * blockDim.x, t0 = (long)blockIdx.x * blockDim.x + threadIdx.x;
    const long n4 = vec ? n / 4 : 0;
    for (long i = t0; i < n4; i += stride) {
        const float4 g4 = reinterpret_cast<const float4 *>(g)[i], m4 = reinterpret_cast<const float4 *>(mom)[i];
        const float gv[4] = {g4.x * clip, g4.y * clip, g4.z * clip, g4.w * clip}, mv0[4] = {m4.x, m4.y, m4.z, m4.w};
        float mv[4], xv[4];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            mv[j] = lerpf_(mv0[j], gv[j], 1.0f - beta);
            xv[j] = nesterov ? lerpf_(gv[j], mv[j], beta) : mv[j];
        }
        reinterpret_cast<float4 *>(mom)[i] = make_float4(mv[0], mv[1], mv[2], mv[3]);
        st_bf16x4(X + 4 * i, xv);
    }
    for (long i = 4 * n4 + t0; i < n; i += stride) muon_momentum_one(X, mom, g, i, beta, nesterov, clip);
}

// mom = lerp(mom, g*clip, 1-beta) (= beta*mom + (1-beta)*g*clip);
// X = nesterov ? lerp(g*clip, mom, beta) : mom, in bf16 for Newton-Schulz.
// X has the layout of g (the lead's GEMMs handle tall matrices).
static inline void muon_momentum(bf16 *X, float *mom, const float *g, long n, float beta, int nesterov,
                                 const float *sched, cudaStream_t st) {
    if (n <= 0) return;
    const int vec = is_aligned(X, 8) && is_aligned(mom, 16) && is_aligned(g, 16);
    muon_momentum_kernel<<<grid_for(vec ? n / 4 + 1 : n, 256, 4), 256, 0, st>>>(X, mom, g, n, beta, nesterov, sched, vec);
    CUDA_CHECK_LAST();
}

#define FN_PARTS 32  // partial sums per matrix

static inline size_t frob_normalize_scratch_floats(int count) { return (size_t)count * FN_PARTS; }

// The block walks the slice [lo, hi) of x: one(i) for a single value, eight(g)
// for the 8 values from 8*g. 16-byte accesses over the slice's 8-aligned
// middle when x is 16-byte aligned, single values at its ends (or throughout).
template <typename One, typename Eight>
static __device__ __forceinline__ void frob_slice(const bf16 *x, long lo, long hi, One one, Eight eight) {
    const long a8 = min(hi, (lo + 7) & ~7L), b8 = max(a8, hi & ~7L);
    const bool v8 = ((uintptr_t)x % 16) == 0;
    for (long i = lo + threadIdx.x; i < (v8 ? a8 : hi); i += blockDim.x) one(i);
    if (!v8) return;
    for (long g = a8 / 8 + threadIdx.x; g < b8 / 8; g += blockDim.x) eight(g);
    for (long i = b8 + threadIdx.x; i < hi; i += blockDim.x) one(i);
}

// grid (FN_PARTS, count): block p of matrix q sums the squares of its slice
static __global__ void frob_partial_kernel(float *__restrict__ part, const bf16 *__restrict__ X, long per_matrix) {
    __shared__ float red[32];
    const bf16 *x = X + (size_t)blockIdx.y * per_matrix;
    const long lo = per_matrix * blockIdx.x / FN_PARTS, hi = per_matrix * (blockIdx.x + 1) / FN_PARTS;
    float s = 0.0f;
    frob_slice(
        x, lo, hi,
        [&](long i) {
            const float v = bf2f(x[i]);
            s = fmaf(v, v, s);
        },
        [&](long g) {
            float v[8];
            bf16x8_to_f32(reinterpret_cast<const uint4 *>(x)[g], v);
#pragma unroll
            for (int j = 0; j < 8; j++) s = fmaf(v[j], v[j], s);
        });
    s = block_sum(s, red);
    if (threadIdx.x == 0) part[blockIdx.y * FN_PARTS + blockIdx.x] = s;
}

// grid (FN_PARTS, count): every block re-adds its matrix's partials (same
// order everywhere) and scales its slice by 1 / max(||X||_F, eps)
static __global__ void frob_scale_kernel(bf16 *__restrict__ X, const float *__restrict__ part, long per_matrix,
                                         float eps) {
    __shared__ float scale;
    if (threadIdx.x < 32) {
        float s = threadIdx.x < FN_PARTS ? part[blockIdx.y * FN_PARTS + threadIdx.x] : 0.0f;
        s = warp_sum(s);
        if (threadIdx.x == 0) scale = 1.0f / fmaxf(sqrtf(s), eps);
    }
    __syncthreads();
    bf16 *x = X + (size_t)blockIdx.y * per_matrix;
    const long lo = per_matrix * blockIdx.x / FN_PARTS, hi = per_matrix * (blockIdx.x + 1) / FN_PARTS;
    const float sc = scale;
    frob_slice(
        x, lo, hi, [&](long i) { x[i] = f2bf(bf2f(x[i]) * sc); },
        [&](long g) {
            float v[8];
            bf16x8_to_f32(reinterpret_cast<const uint4 *>(x)[g], v);
#pragma unroll
            for (int j = 0; j < 8; j++) v[j] *= sc;
            reinterpret_cast<uint4 *>(x)[g] = f32_to_bf16x8(v);
        });
}

// Each of `count` matrices of per_matrix elements (consecutive in X) divided
// by max(||X||_F, eps), the norm in fp32. scratch: frob_normalize_scratch_floats(count).
static inline void frob_normalize_batched(bf16 *X, int count, long per_matrix, float eps, float *scratch,
                                          cudaStream_t st) {
    if (count <= 0 || per_matrix <= 0) return;
    if (count > 65535) cuda_ops_fatal("frob_normalize_batched: count %d > 65535", count);
    dim3 grid(FN_PARTS, count);
    frob_partial_kernel<<<grid, 256, 0, st>>>(scratch, X, per_matrix);
    CUDA_CHECK_LAST();
    frob_scale_kernel<<<grid, 256, 0, st>>>(X, scratch, per_matrix, eps);
    CUDA_CHECK_LAST();
}

static __global__ void ns_poly_kernel(bf16 *__restrict__ Bq, const bf16 *__restrict__ A, const bf16 *__restrict__ AA,
                                      long n, float b, float c) {
    const long stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        Bq[i] = f2bf(b * bf2f(A[i]) + c * bf2f(AA[i]));
}

// Newton-Schulz combine Bq = b*A + c*AA (elementwise, bf16 in and out), for
// when the GEMM epilogue does not do it.
static inline void ns_poly(bf16 *Bq, const bf16 *A, const bf16 *AA, long n, float b, float c, cudaStream_t st) {
    if (n <= 0) return;
    ns_poly_kernel<<<grid_for(n, 256, 4), 256, 0, st>>>(Bq, A, AA, n, b, c);
    CUDA_CHECK_LAST();
}

// p *= 1 - lr*wd, then p -= lr*adjust*x
static __device__ __forceinline__ float muon_apply_one(float p, float x, float decay, float radj) {
    float pi = p * decay;
    return pi - radj * x;
}

static __global__ void muon_apply_kernel(float *__restrict__ p, const bf16 *__restrict__ X, long n,
                                         const float *__restrict__ sched, float adjust, float wd, int vec) {
    const float lr = sched[0], decay = 1.0f - lr * wd, radj = lr * adjust;
    const long stride = (long)gridDim.x * blockDim.x, t0 = (long)blockIdx.x * blockDim.x + threadIdx.x;
    const long n4 = vec ? n / 4 : 0;
    for (long i = t0; i < n4; i += stride) {
        const float4 p4 = reinterpret_cast<const float4 *>(p)[i];
        float xv[4];
        ld_bf16x4(X + 4 * i, xv);
        reinterpret_cast<float4 *>(p)[i] =
            make_float4(muon_apply_one(p4.x, xv[0], decay, radj), muon_apply_one(p4.y, xv[1], decay, radj),
                        muon_apply_one(p4.z, xv[2], decay, radj), muon_apply_one(p4.w, xv[3], decay, radj));
    }
    for (long i = 4 * n4 + t0; i < n; i += stride) p[i] = muon_apply_one(p[i], bf2f(X[i]), decay, radj);
}

// p *= 1 - lr*wd; p -= lr * lr_adjust_factor * X (X in p's layout), with
// lr = sched[0] (Muon lr * schedule ratio) and lr_adjust_factor
// sqrt(max(1, rows/cols)) ("original") or 0.2*sqrt(max(rows, cols)).
static inline void muon_apply(float *p, const bf16 *X, long n, const float *sched, float lr_adjust_factor,
                              float weight_decay, cudaStream_t st) {
    if (n <= 0) return;
    const int vec = is_aligned(p, 16) && is_aligned(X, 8);
    muon_apply_kernel<<<grid_for(vec ? n / 4 + 1 : n, 256, 4), 256, 0, st>>>(p, X, n, sched, lr_adjust_factor, weight_decay,
                                                                            vec);
    CUDA_CHECK_LAST();
}
