// rmsnorm.cuh: RMSNorm of the fp32 residual stream into a bf16 GEMM operand.
//
//   rstd[bt]  = 1 / sqrt(mean_c(inp[bt,c]^2) + eps)
//   out[bt,c] = inp[bt,c] * rstd[bt] * w[c]
// backward, with g = dout*w:
//   dinp[bt,c] += rstd * (g[c] - inp[bt,c] * rstd^2 * mean_i(g[i]*inp[bt,i]))
//   dw[c]      += sum_bt dout[bt,c] * inp[bt,c] * rstd[bt]
//
// One warp per row (D = 768 is 24 values a lane); rows are read twice, the
// second time from L1. Memory-bound: fwd moves 4+2 bytes an element, bwd 16
// (14 with a bf16 dout, +2 with the bf16 copy of dinp).
#pragma once

#include "common.cuh"

template <int VEC>
__device__ __forceinline__ void ld_f32(const float *p, float *v) {
    if (VEC == 4) {
        float4 t = *reinterpret_cast<const float4 *>(p);
        v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
    } else {
        v[0] = *p;
    }
}
// the same from bf16 (the backward's dout may be either)
template <int VEC>
__device__ __forceinline__ void ld_f32(const bf16 *p, float *v) {
    if (VEC == 4) {
        ld_bf16x4(p, v);
    } else {
        v[0] = bf2f(*p);
    }
}

// rstd of one row, every lane gets it
template <int VEC>
__device__ __forceinline__ float rms_rstd_row(const float *x, int D, float eps, int lane) {
    float ss = 0.0f;
    for (int c = lane * VEC; c < D; c += 32 * VEC) {
        float v[VEC];
        ld_f32<VEC>(x + c, v);
#pragma unroll
        for (int k = 0; k < VEC; k++) ss = fmaf(v[k], v[k], ss);
    }
    ss = warp_sum(ss);
    return rsqrtf(ss / (float)D + eps);
}

template <int VEC>
__global__ void rmsnorm_fwd_kernel(bf16 *__restrict__ out, float *__restrict__ rstd, const float *__restrict__ inp,
                                   const float *__restrict__ w, int BT, int D, float eps) {
    int lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    for (long row = (long)blockIdx.x * nw + (threadIdx.x >> 5); row < BT; row += (long)gridDim.x * nw) {
        const float *x = inp + row * D;
        float r = rms_rstd_row<VEC>(x, D, eps, lane);
        if (lane == 0 && rstd) rstd[row] = r;
        bf16 *o = out + row * D;
        for (int c = lane * VEC; c < D; c += 32 * VEC) {
            float v[VEC], g[VEC];
            ld_f32<VEC>(x + c, v);
            ld_f32<VEC>(w + c, g);
            if (VEC == 4) {
                const float n4[4] = {v[0] * r * g[0], v[1] * r * g[1], v[2] * r * g[2], v[3] * r * g[3]};
                st_bf16x4(o + c, n4);
            } else {
                o[c] = f2bf(v[0] * r * g[0]);
            }
        }
    }
}

static inline void rmsnorm_fwd(bf16 *out, float *rstd, const float *inp, const float *w, int BT, int D, float eps,
                               cudaStream_t st) {
    if (BT <= 0 || D <= 0) return;
    const int threads = 256, rows_per_block = threads / 32;
    int grid = grid_for(BT, rows_per_block, 16);
    if (D % 4 == 0 && is_aligned(inp, 16) && is_aligned(w, 16) && is_aligned(out, 8))
        rmsnorm_fwd_kernel<4><<<grid, threads, 0, st>>>(out, rstd, inp, w, BT, D, eps);
    else
        rmsnorm_fwd_kernel<1><<<grid, threads, 0, st>>>(out, rstd, inp, w, BT, D, eps);
    CUDA_CHECK_LAST();
}

// dw partial sums live in shared memory, one row of D per warp (each lane
// owns its columns: no atomics there); at the end the block adds its warps'
// rows and does one atomicAdd per column. rstd NULL: recomputed (eps needed).
// dinp_bf16 (or NULL) gets a bf16 copy of the updated dinp: the next layer's
// out_proj backward reads it as a GEMM operand, with no separate cast pass.
template <int VEC, typename GT>
__global__ void rmsnorm_bwd_kernel(float *__restrict__ dinp, float *__restrict__ dw, const GT *__restrict__ dout,
                                   const float *__restrict__ inp, const float *__restrict__ w,
                                   const float *__restrict__ rstd, int BT, int D, float eps,
                                   bf16 *__restrict__ dinp_bf16) {
    extern __shared__ float dw_s[];  // (nw, D)
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    float *acc = dw_s + (size_t)wid * D;
    for (int c = threadIdx.x; c < nw * D; c += blockDim.x) dw_s[c] = 0.0f;
    __syncthreads();
    for (long row = (long)blockIdx.x * nw + wid; row < BT; row += (long)gridDim.x * nw) {
        const float *x = inp + row * D;
        const GT *g = dout + row * D;
        float r = rstd ? rstd[row] : rms_rstd_row<VEC>(x, D, eps, lane);
        float dot = 0.0f;
        for (int c = lane * VEC; c < D; c += 32 * VEC) {
            float xv[VEC], gv[VEC], wv[VEC];
            ld_f32<VEC>(x + c, xv);
            ld_f32<VEC>(g + c, gv);
            ld_f32<VEC>(w + c, wv);
#pragma unroll
            for (int k = 0; k < VEC; k++) dot = fmaf(gv[k] * wv[k], xv[k], dot);
        }
        dot = warp_sum(dot);
        float kk = r * r * dot / (float)D;
        float *dx = dinp + row * D;
        for (int c = lane * VEC; c < D; c += 32 * VEC) {
            float xv[VEC], gv[VEC], wv[VEC], dv[VEC];
            ld_f32<VEC>(x + c, xv);
            ld_f32<VEC>(g + c, gv);
            ld_f32<VEC>(w + c, wv);
            ld_f32<VEC>(dx + c, dv);
float av[VEC];
            ld_f32<VEC>(acc + c, av);  // shared memory: 16-byte accesses avoid bank conflicts
#pragma unroll
            for (int k = 0; k < VEC; k++) {
                dv[k] += r * (gv[k] * wv[k] - xv[k] * kk);
                av[k] = fmaf(gv[k] * xv[k], r, av[k]);
            }
            if (VEC == 4) {
                *reinterpret_cast<float4 *>(dx + c) = make_float4(dv[0], dv[1], dv[2], dv[3]);
                *reinterpret_cast<float4 *>(acc + c) = make_float4(av[0], av[1], av[2], av[3]);
                if (dinp_bf16) st_bf16x4(dinp_bf16 + row * D + c, dv);
            } else {
                dx[c] = dv[0];
                acc[c] = av[0];
                if (dinp_bf16) dinp_bf16[row * D + c] = f2bf(dv[0]);
            }
        }
    }
    __syncthreads();
    for (int c = threadIdx.x; c < D; c += blockDim.x) {
        float s = 0.0f;
        for (int k = 0; k < nw; k++) s += dw_s[(size_t)k * D + c];
        atomicAdd(dw + c, s);
    }
}

// eps is only used when rstd is NULL (then rstd is recomputed from inp).
// dout: fp32 or bf16 (GT). dinp_bf16: NULL, or (BT, D) bf16 that gets a copy of the updated dinp.
template <typename GT>
static inline void rmsnorm_bwd(float *dinp, float *dw, const GT *dout, const float *inp, const float *w,
                               const float *rstd, int BT, int D, cudaStream_t st, float eps = 1e-5f,
                               bf16 *dinp_bf16 = nullptr) {
    if (BT <= 0 || D <= 0) return;
    const int max_smem = 48 * 1024;
    int nw = 4;
    while (nw > 1 && (size_t)nw * D * sizeof(float) > (size_t)max_smem) nw--;
    if ((size_t)nw * D * sizeof(float) > (size_t)max_smem)
        cuda_ops_fatal("rmsnorm_bwd: D=%d too wide (at most %d)", D, max_smem / 4);
    size_t smem = (size_t)nw * D * sizeof(float);
    int grid = grid_for(BT, nw, 8);
    if (D % 4 == 0 && is_aligned(dinp, 16) && is_aligned(dout, 4 * sizeof(GT)) && is_aligned(inp, 16) && is_aligned(w, 16) &&
        (!dinp_bf16 || is_aligned(dinp_bf16, 8)))
        rmsnorm_bwd_kernel<4, GT><<<grid, nw * 32, smem, st>>>(dinp, dw, dout, inp, w, rstd, BT, D, eps, dinp_bf16);
    else
        rmsnorm_bwd_kernel<1, GT><<<grid, nw * 32, smem, st>>>(dinp, dw, dout, inp, w, rstd, BT, D, eps, dinp_bf16);
    CUDA_CHECK_LAST();
}
