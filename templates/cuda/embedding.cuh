// embedding.cuh: token embedding lookup from the fp32 master table (tied to
// the LM head) into the fp32 residual stream, and its backward.
//
//   out[bt, :]          = wte[tokens[bt], :]
//   dwte[tokens[bt], :] += dout[bt, :]
//
// Token ids are validated by the data loader against the vocabulary before
// they reach the step (the ops cannot: V is not an argument), as on the CPU.
#pragma once

#include "common.cuh"

// One float4 (or float) per thread, grid-stride over (BT, D/4).
template <int VEC>
__global__ void embedding_fwd_kernel(float *__restrict__ out, const int32_t *__restrict__ tokens,
                                     const float *__restrict__ wte, int BT, int D) {
    int DV = D / VEC;
    long n = (long)BT * DV, stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        long bt = i / DV, c = i - bt * DV;
        long row = tokens[bt];
        if (VEC == 4)
            reinterpret_cast<float4 *>(out)[i] = reinterpret_cast<const float4 *>(wte)[row * DV + c];
        else
            out[i] = wte[row * D + c];
    }
}

static inline void embedding_fwd(float *out, const int32_t *tokens, const float *wte, int BT, int D, cudaStream_t st) {
    if (BT <= 0 || D <= 0) return;
    const int threads = 256;
    if (D % 4 == 0 && is_aligned(out, 16) && is_aligned(wte, 16))
        embedding_fwd_kernel<4><<<grid_for((long)BT * D / 4, threads), threads, 0, st>>>(out, tokens, wte, BT, D);
    else
        embedding_fwd_kernel<1><<<grid_for((long)BT * D, threads), threads, 0, st>>>(out, tokens, wte, BT, D);
    CUDA_CHECK_LAST();
}

// Tokens repeat, so rows of dwte are hit by several threads: atomics (the
// float4 form on sm_90 does one memory transaction per 4 values). The sum's
// order varies from run to run: fp32 rounding differences only.
template <int VEC>
__global__ void embedding_bwd_kernel(float *__restrict__ dwte, const float *__restrict__ dout,
                                     const int32_t *__restrict__ tokens, int BT, int D) {
    int DV = D / VEC;
    long n = (long)BT * DV, stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        long bt = i / DV, c = i - bt * DV;
        long row = tokens[bt];
        if (VEC == 4) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
            atomicAdd(reinterpret_cast<float4 *>(dwte) + row * DV + c, reinterpret_cast<const float4 *>(dout)[i]);
#else
            float4 g = reinterpret_cast<const float4 *>(dout)[i];
            float *d = dwte + row * D + c * 4;
            atomicAdd(d, g.x), atomicAdd(d + 1, g.y), atomicAdd(d + 2, g.z), atomicAdd(d + 3, g.w);
#endif
        } else {
            atomicAdd(dwte + row * D + c, dout[i]);
        }
    }
}

static inline void embedding_bwd(float *dwte, const float *dout, const int32_t *tokens, int BT, int D, cudaStream_t st) {
    if (BT <= 0 || D <= 0) return;
    const int threads = 256;
    if (D % 4 == 0 && is_aligned(dwte, 16) && is_aligned(dout, 16))
        embedding_bwd_kernel<4><<<grid_for((long)BT * D / 4, threads), threads, 0, st>>>(dwte, dout, tokens, BT, D);
    else
        embedding_bwd_kernel<1><<<grid_for((long)BT * D, threads), threads, 0, st>>>(dwte, dout, tokens, BT, D);
    CUDA_CHECK_LAST();
}
