// elementwise.cuh: fp32 -> bf16 casts (the bf16 weight copies, the x_proj
// input gradient). The backward's gated output y_pre * silu(z) is written by
// the scan backward itself (scan.cuh's y_gate).
#pragma once

#include "common.cuh"

// dst (n) = bf16(src (n)), 8 elements per thread when both are 16-byte aligned.
static __global__ void cast_f32_to_bf16_kernel(bf16 *__restrict__ dst, const float *__restrict__ src, long n,
                                               int vec) {
    long stride = (long)gridDim.x * blockDim.x;
    long i0 = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (vec) {
        long n8 = n / 8;
        for (long i = i0; i < n8; i += stride) {
            float4 a = reinterpret_cast<const float4 *>(src)[2 * i];
            float4 b = reinterpret_cast<const float4 *>(src)[2 * i + 1];
            float f[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
            reinterpret_cast<uint4 *>(dst)[i] = f32_to_bf16x8(f);
        }
        for (long i = n8 * 8 + i0; i < n; i += stride) dst[i] = f2bf(src[i]);
    } else {
        for (long i = i0; i < n; i += stride) dst[i] = f2bf(src[i]);
    }
}

static inline void cast_f32_to_bf16(bf16 *dst, const float *src, long n, cudaStream_t st) {
    if (n <= 0) return;
    int vec = is_aligned(dst, 16) && is_aligned(src, 16);
    const int threads = 256;
    cast_f32_to_bf16_kernel<<<grid_for(vec ? (n + 7) / 8 : n, threads), threads, 0, st>>>(dst, src, n, vec);
    CUDA_CHECK_LAST();
}
