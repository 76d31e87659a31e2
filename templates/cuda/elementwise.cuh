// elementwise.cuh: fp32 -> bf16 casts (the bf16 weight copies) and the z-gate
// y = y_pre * silu(z) (the scan writes the gated output itself; this is for
// recomputing it in the backward without re-running the scan).
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

// y (BT,E) = y_pre (BT,E) * silu(z (BT,*) ld ldz)
static __global__ void gate_fwd_kernel(bf16 *__restrict__ y, const bf16 *__restrict__ y_pre,
                                       const bf16 *__restrict__ z, int ldz, int BT, int E) {
    long n = (long)BT * E, stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        long bt = i / E, e = i - bt * E;
        y[i] = f2bf(bf2f(y_pre[i]) * siluf_(bf2f(z[bt * ldz + e])));
    }
}

// Same, 8 channels per thread (E, ldz multiples of 8, 16-byte aligned rows).
static __global__ void gate_fwd_kernel8(bf16 *__restrict__ y, const bf16 *__restrict__ y_pre,
                                        const bf16 *__restrict__ z, int ldz, int BT, int E) {
    int E8 = E / 8;
    long n = (long)BT * E8, stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        long bt = i / E8, e = (i - bt * E8) * 8;
        float a[8], g[8];
        bf16x8_to_f32(reinterpret_cast<const uint4 *>(y_pre)[i], a);
        bf16x8_to_f32(*reinterpret_cast<const uint4 *>(z + bt * ldz + e), g);
#pragma unroll
        for (int k = 0; k < 8; k++) a[k] *= siluf_(g[k]);
        reinterpret_cast<uint4 *>(y)[i] = f32_to_bf16x8(a);
    }
}

static inline void gate_fwd(bf16 *y, const bf16 *y_pre, const bf16 *z, int ldz, int BT, int E, cudaStream_t st) {
    if (BT <= 0 || E <= 0) return;
    if (ldz < E) cuda_ops_fatal("gate_fwd: ldz %d < E %d", ldz, E);
    const int threads = 256;
    if (E % 8 == 0 && ldz % 8 == 0 && is_aligned(y, 16) && is_aligned(y_pre, 16) && is_aligned(z, 16)) {
        gate_fwd_kernel8<<<grid_for((long)BT * E / 8, threads), threads, 0, st>>>(y, y_pre, z, ldz, BT, E);
    } else {
        gate_fwd_kernel<<<grid_for((long)BT * E, threads), threads, 0, st>>>(y, y_pre, z, ldz, BT, E);
    }
    CUDA_CHECK_LAST();
}
