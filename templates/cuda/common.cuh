// common.cuh: what every CUDA op header shares.
//
// The op headers are included by one generated model.cu (one translation
// unit), so host wrappers are `static inline` and kernels are templates or
// `static`: no link conflicts, no unused-function warnings.
//
// Conventions of the whole library (the CPU op library's, templates/cpu/):
//   - activations (BT, C) row-major, bt = b*T + t, a batch row's tokens
//     consecutive; `ld` arguments are row strides in elements;
//   - bf16 storage for activations, fp32 for the residual stream, master
//     weights, gradients and every reduction; all arithmetic in fp32;
//   - every op is `void op(..., cudaStream_t st)`: it only launches kernels,
//     allocates nothing, never synchronises or reads device values on the
//     host, so a whole training step can be captured into one CUDA graph;
//   - bad arguments (unsupported d_state, kernel width, sizes) stop the
//     program with a message naming the op; launches are checked.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef __nv_bfloat16 bf16;

#define CUDA_CHECK(call)                                                                           \
    do {                                                                                           \
        cudaError_t err_ = (call);                                                                 \
        if (err_ != cudaSuccess) {                                                                 \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(err_));          \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

// After every launch: catches bad launch configurations at once (the kernel's
// own faults surface at the next synchronising call, as usual in CUDA).
#define CUDA_CHECK_LAST() CUDA_CHECK(cudaGetLastError())

// Fatal error for bad op arguments, like the CPU library's ops_fatal: a
// training step cannot continue past them.
__attribute__((noreturn, format(printf, 1, 2), unused)) static void cuda_ops_fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "error: templates/cuda: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static inline int ceil_div_i(long a, long b) { return (int)((a + b - 1) / b); }

// Number of multiprocessors of the current device, read once: grids of
// grid-stride kernels are sized from it (a host attribute query, legal while
// a stream is being captured).
static inline int cuda_num_sms(void) {
    static int n = 0;
    if (n == 0) {
        int dev = 0;
        CUDA_CHECK(cudaGetDevice(&dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
        if (n <= 0) n = 1;
    }
    return n;
}

// Grid for a grid-stride loop over `n` items with `threads` per block: enough
// blocks to fill the GPU a few times over, no more than the work needs.
static inline int grid_for(long n, int threads, int blocks_per_sm = 8) {
    long need = (n + threads - 1) / threads;
    long cap = (long)cuda_num_sms() * blocks_per_sm;
    long g = need < cap ? need : cap;
    return (int)(g < 1 ? 1 : g);
}

// True when p is aligned to `bytes` (vector loads need it).
static inline bool is_aligned(const void *p, size_t bytes) { return ((uintptr_t)p % bytes) == 0; }

// ---- device helpers ---------------------------------------------------------

#define LOG2E_F 1.4426950408889634f
#define LN2_F 0.6931471805599453f

__device__ __forceinline__ float bf2f(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ bf16 f2bf(float x) { return __float2bfloat16(x); } // round to nearest even

// 2^x on the special-function unit (relative error ~2^-22; flushes results
// below 2^-126 to 0, harmless for decay factors and softmax terms).
__device__ __forceinline__ float ex2_approx(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// __fdividef: one reciprocal on the SFU (2 ulp), not IEEE division; gives 0
// (the right limit) once 1 + exp(-x) overflows
__device__ __forceinline__ float sigmoidf_(float x) { return __fdividef(1.0f, 1.0f + __expf(-x)); }
__device__ __forceinline__ float siluf_(float x) { return x * sigmoidf_(x); }
// d silu(x)/dx = s + x*s*(1-s), s = sigmoid(x)
__device__ __forceinline__ float dsiluf_(float x) {
    float s = sigmoidf_(x);
    return s * (1.0f + x * (1.0f - s));
}
// PyTorch's softplus (beta 1, threshold 20), as the Mamba scan applies it,
// with one exp and one log on the SFU: log1p(e) by its series below e = 0.01
// (error < e^5/5), else log(1 + e) (relative error < 1e-5). log1pf itself is
// ~30 instructions, a large part of the scans' per-token work.
__device__ __forceinline__ float softplusf_(float x) {
    const float e = __expf(x);
    const float ser = e * (1.0f - e * (0.5f - e * (1.0f / 3.0f - 0.25f * e)));
    return x > 20.0f ? x : (e < 0.01f ? ser : __logf(1.0f + e));
}
// its derivative: sigmoid below the threshold, 1 above
__device__ __forceinline__ float dsoftplusf_(float x) { return x > 20.0f ? 1.0f : sigmoidf_(x); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread
// gets the result. `red` is 32 floats of shared memory; the function may be
// called again with the same buffer (it synchronises before returning).
__device__ __forceinline__ float block_sum(float v, float *red) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();  // the previous use of red is finished
    if (lane == 0) red[w] = v;
    __syncthreads();
    float r = lane < nw ? red[lane] : 0.0f;
    return warp_sum(r);
}
__device__ __forceinline__ float block_max(float v, float *red) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) red[w] = v;
    __syncthreads();
    float r = lane < nw ? red[lane] : -INFINITY;
    return warp_max(r);
}

// 4 bf16 <-> 4 floats through one 8-byte access.
__device__ __forceinline__ void ld_bf16x4(const bf16 *p, float *v) {
    uint2 w = *reinterpret_cast<const uint2 *>(p);
    float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&w.x));
    float2 c = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&w.y));
    v[0] = a.x, v[1] = a.y, v[2] = c.x, v[3] = c.y;
}
__device__ __forceinline__ void st_bf16x4(bf16 *p, const float *v) {
    __nv_bfloat162 a = __floats2bfloat162_rn(v[0], v[1]), c = __floats2bfloat162_rn(v[2], v[3]);
    uint2 w;
    w.x = *reinterpret_cast<uint32_t *>(&a);
    w.y = *reinterpret_cast<uint32_t *>(&c);
    *reinterpret_cast<uint2 *>(p) = w;
}

// 8 bf16 <-> 8 floats through one 16-byte access.
__device__ __forceinline__ void bf16x8_to_f32(uint4 v, float *f) {
    const __nv_bfloat162 *p = reinterpret_cast<const __nv_bfloat162 *>(&v);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 t = __bfloat1622float2(p[i]);
        f[2 * i] = t.x;
        f[2 * i + 1] = t.y;
    }
}
__device__ __forceinline__ uint4 f32_to_bf16x8(const float *f) {
    uint4 v;
    __nv_bfloat162 *p = reinterpret_cast<__nv_bfloat162 *>(&v);
#pragma unroll
    for (int i = 0; i < 4; i++) p[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
    return v;
}

// cp.async: global -> shared copies that do not hold registers while in flight.
// BYTES 4 or 8 go through L1 (.ca), 16 bypass it (.cg). A thread's copies
// become visible to it after cp_async_wait<n> (at most n of its committed
// groups still pending).
template <int BYTES>
__device__ __forceinline__ void cp_async(void *smem, const void *gmem) {
    static_assert(BYTES == 4 || BYTES == 8 || BYTES == 16, "cp.async copies 4, 8 or 16 bytes");
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    if constexpr (BYTES == 16)
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem));
    else
        asm volatile("cp.async.ca.shared.global [%0], [%1], %2;\n" ::"r"(s), "l"(gmem), "n"(BYTES));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }
