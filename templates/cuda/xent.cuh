// xent.cuh: softmax cross-entropy over a chunk of LM-head logits (the GEMMs
// around it are gemm.cuh's), as templates/cpu/lmhead_xent.h:
//
//   nll[i]    = logsumexp_v(logits[i, :]) - logits[i, targets[i]]   (all Vp columns)
//   loss_sum += sum_i mask[i] * nll[i]
//   dlogits   = (softmax(logits[i, :]) - onehot(targets[i])) * mask[i] * dscale
//
// written in place over the bf16 logits (rows with mask 0 become zeros).
// Softmax in fp32. One block per row at a time (persistent blocks); the
// row (100 KB at Vp = 50280) is copied once into shared memory with
// cp.async, so HBM sees one read and one write of it, and two blocks fit on
// a multiprocessor so one's copy overlaps the other's arithmetic. Rows that
// do not fit (Vp > ~56k), or unaligned ones, take a slower path that reads
// the row from global memory three times.
//
// Targets are validated by the data loader; a target outside [0, Vp) on a
// masked-in row makes loss_sum NaN (no host round trip to report it from).
#pragma once

#include "common.cuh"

#define XENT_THREADS 512

// SMEM: the row goes through shared memory (Vp % 8 == 0, 16-byte aligned
// rows); otherwise every pass reads it from global memory.
template <bool BWD, bool SMEM>
__global__ void __launch_bounds__(XENT_THREADS)
    xent_kernel(bf16 *__restrict__ logits, float *__restrict__ loss_sum, const int32_t *__restrict__ targets,
                const float *__restrict__ mask, int n, int Vp, float dscale, const float *__restrict__ dscale_dev) {
    extern __shared__ uint4 xent_row[];  // (Vp/8) when SMEM
    __shared__ float red[32];
    const int V8 = Vp / 8;
    float block_loss = 0.0f;  // thread 0's running sum over this block's rows
    for (int row = blockIdx.x; row < n; row += gridDim.x) {
        bf16 *lr = logits + (size_t)row * Vp;
        const float m = mask ? mask[row] : 1.0f;
        if (m == 0.0f) {
            if (BWD) {
                for (int c = threadIdx.x; c < Vp; c += blockDim.x) lr[c] = f2bf(0.0f);
            }
            continue;  // uniform over the block
        }
        const int tgt = targets[row];
        const bool ok = tgt >= 0 && tgt < Vp;
        // the target's logit, read before any thread overwrites the row
        const float xt = threadIdx.x == 0 && ok ? bf2f(lr[tgt]) : NAN;
        if (SMEM) {
            for (int i = threadIdx.x; i < V8; i += blockDim.x) cp_async<16>(&xent_row[i], lr + 8 * (size_t)i);
            cp_async_commit();
            cp_async_wait<0>();
            __syncthreads();
        }
        float mx = -INFINITY;
        if (SMEM) {
            for (int i = threadIdx.x; i < V8; i += blockDim.x) {
                float f[8];
                bf16x8_to_f32(xent_row[i], f);
#pragma unroll
                for (int k = 0; k < 8; k++) mx = fmaxf(mx, f[k]);
            }
        } else {
            for (int c = threadIdx.x; c < Vp; c += blockDim.x) mx = fmaxf(mx, bf2f(lr[c]));
        }
        mx = block_max(mx, red);
        const float mxl = mx * LOG2E_F;  // exp(x - mx) = 2^(x*log2e - mx*log2e)
        float s = 0.0f;
        if (SMEM) {
            for (int i = threadIdx.x; i < V8; i += blockDim.x) {
                float f[8];
                bf16x8_to_f32(xent_row[i], f);
#pragma unroll
                for (int k = 0; k < 8; k++) s += ex2_approx(fmaf(f[k], LOG2E_F, -mxl));
            }
        } else {
            for (int c = threadIdx.x; c < Vp; c += blockDim.x) s += ex2_approx(fmaf(bf2f(lr[c]), LOG2E_F, -mxl));
        }
        s = block_sum(s, red);
        if (threadIdx.x == 0) block_loss += m * (mx + logf(s) - xt);
        if (BWD) {
            const float sc = dscale * (dscale_dev ? *dscale_dev : 1.0f) * m, inv = sc / s;
            if (SMEM) {
                for (int i = threadIdx.x; i < V8; i += blockDim.x) {
                    float f[8];
                    bf16x8_to_f32(xent_row[i], f);
#pragma unroll
                    for (int k = 0; k < 8; k++) {
                        f[k] = ex2_approx(fmaf(f[k], LOG2E_F, -mxl)) * inv;
                        if (8 * i + k == tgt) f[k] -= sc;
                    }
                    reinterpret_cast<uint4 *>(lr)[i] = f32_to_bf16x8(f);
                }
            } else {
                for (int c = threadIdx.x; c < Vp; c += blockDim.x) {
                    float p = ex2_approx(fmaf(bf2f(lr[c]), LOG2E_F, -mxl)) * inv;
                    lr[c] = f2bf(c == tgt ? p - sc : p);
                }
            }
        }
        __syncthreads();  // everyone is done with xent_row and red before the next row
    }
    if (threadIdx.x == 0 && block_loss != 0.0f) atomicAdd(loss_sum, block_loss);
}

template <bool BWD>
static inline void xent_launch(bf16 *logits, float *loss_sum, const int32_t *targets, const float *mask, int n, int Vp,
                               float dscale, const float *dscale_dev, cudaStream_t st) {
    if (n <= 0) return;
    if (Vp <= 0) cuda_ops_fatal("xent: Vp=%d", Vp);
    const size_t smem = (size_t)Vp * sizeof(bf16);
    const size_t smem_max = 110 * 1024;  // two blocks per multiprocessor
    const int nsm = cuda_num_sms();
    if (Vp % 8 == 0 && is_aligned(logits, 16) && smem <= smem_max) {
        static bool attr_set = false;
        if (!attr_set) {
            CUDA_CHECK(cudaFuncSetAttribute(xent_kernel<BWD, true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            (int)smem_max));
            attr_set = true;
        }
        int grid = n < 2 * nsm ? n : 2 * nsm;
        xent_kernel<BWD, true><<<grid, XENT_THREADS, smem, st>>>(logits, loss_sum, targets, mask, n, Vp, dscale,
                                                                 dscale_dev);
    } else {
        int grid = n < 4 * nsm ? n : 4 * nsm;
        xent_kernel<BWD, false><<<grid, XENT_THREADS, 0, st>>>(logits, loss_sum, targets, mask, n, Vp, dscale,
                                                               dscale_dev);
    }
    CUDA_CHECK_LAST();
}

// logits (n, Vp) bf16 in: logits, out: dlogits; loss_sum device scalar (+=);
// targets (n); mask (n) or NULL (all ones); dscale: gradient scale.
static inline void xent_fwd_bwd(bf16 *logits, float *loss_sum, const int32_t *targets, const float *mask, int n, int Vp,
                                float dscale, cudaStream_t st) {
    xent_launch<true>(logits, loss_sum, targets, mask, n, Vp, dscale, nullptr, st);
}

// Same, with the gradient scale read on the device (*dscale_dev, e.g. 1 /
// the micro-batch's valid-token count, which changes from step to step while
// the graph stays the same).
static inline void xent_fwd_bwd(bf16 *logits, float *loss_sum, const int32_t *targets, const float *mask, int n, int Vp,
                                const float *dscale_dev, cudaStream_t st) {
    xent_launch<true>(logits, loss_sum, targets, mask, n, Vp, 1.0f, dscale_dev, st);
}

// Loss only (evaluation); logits untouched.
static inline void xent_fwd(const bf16 *logits, float *loss_sum, const int32_t *targets, const float *mask, int n,
                            int Vp, cudaStream_t st) {
    xent_launch<false>(const_cast<bf16 *>(logits), loss_sum, targets, mask, n, Vp, 1.0f, nullptr, st);
}
