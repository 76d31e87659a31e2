// conv1d.cuh: Mamba's causal depthwise conv1d over time fused with bias and
// SiLU, exactly templates/cpu/conv1d.h (document-start resets included):
//
//   preact[b,t,e] = bias[e] + sum_{k<K} w[e,k] * x[b, t-(K-1)+k, e]
//   out[b,t,e]    = silu(preact[b,t,e])
//
// terms whose source row s = t-(K-1)+k is < 0 or before the start of t's
// document (the last s' <= t with doc_start[b,s'] = 1) are zero.
// backward, with dpre = dout * silu'(preact) (preact recomputed):
//   dx[s] = sum over the t whose window holds s of dpre[t]*w[k]   (WRITTEN)
//   dw[e,k] += sum_t dpre[t]*x[s];  dbias[e] += sum_t dpre[t]     (accumulated)
//
// Memory-bound: fwd moves 2+2 bytes an element, bwd 2+4+2 (2+2+2 with a bf16 dout).
#pragma once

#include <type_traits>

#include "common.cuh"

#define CONV_RUN 32  // time steps per thread in the backward

template <int VEC>
__device__ __forceinline__ void conv_ld_bf16(const bf16 *p, float *v) {
    if (VEC == 8) {
        bf16x8_to_f32(*reinterpret_cast<const uint4 *>(p), v);
    } else if (VEC == 4) {
        ld_bf16x4(p, v);
    } else {
#pragma unroll
        for (int j = 0; j < VEC; j++) v[j] = bf2f(p[j]);
    }
}

template <int VEC>
__device__ __forceinline__ void conv_st_bf16(bf16 *p, const float *v) {
    if (VEC == 8) {
        *reinterpret_cast<uint4 *>(p) = f32_to_bf16x8(v);
    } else if (VEC == 4) {
        st_bf16x4(p, v);
    } else {
#pragma unroll
        for (int j = 0; j < VEC; j++) p[j] = f2bf(v[j]);
    }
}

// the backward's incoming gradient: fp32 or bf16
template <int VEC>
__device__ __forceinline__ void conv_ld_grad(const bf16 *p, float *v) { conv_ld_bf16<VEC>(p, v); }

template <int VEC>
__device__ __forceinline__ void conv_ld_f32(const float *p, float *v) {
    if (VEC % 4 == 0) {
#pragma unroll
        for (int j = 0; j < VEC; j += 4) {
            float4 t = *reinterpret_cast<const float4 *>(p + j);
            v[j] = t.x, v[j + 1] = t.y, v[j + 2] = t.z, v[j + 3] = t.w;
        }
    } else {
#pragma unroll
        for (int j = 0; j < VEC; j++) v[j] = p[j];
    }
}
template <int VEC>
__device__ __forceinline__ void conv_ld_grad(const float *p, float *v) { conv_ld_f32<VEC>(p, v); }

// First tap that counts at step t: with fl's bit j = doc_start of row t-j,
// taps k < kmin read rows before t's document start (row t-(K-1)+k, so the
// nearest start at j < K-1 cuts every tap below k = K-1-j).
template <int K>
__device__ __forceinline__ int conv_kmin(unsigned fl) {
    unsigned m = fl & ((1u << (K - 1)) - 1u);
    return m ? K - 1 - (__ffs((int)m) - 1) : 0;
}

// Forward: block (32, CONV_FWD_TY); x = a vector of VEC channels, kept by the
// thread (its weights and bias stay in registers), y = tiles of CONV_TT steps,
// strided over (batch row, tile). Per tile the thread issues the loads of all
// CONV_TT+K-1 input rows at once (kept as raw bf16): ~176 bytes in flight.
// The K-1 overlapping rows are read again by the neighbouring tile, from L1/L2.
// (A first version took a new channel vector per tile and re-read its K+1
// weight and bias values with scalar loads every time: 40 scattered loads per
// tile kept L1 78% busy and HBM at 25%: 0.152 ms at the 130m shapes.)
#define CONV_TT 8
#define CONV_FWD_TY 8

template <int K, int VEC>
__global__ void __launch_bounds__(32 * CONV_FWD_TY)
    conv1d_silu_fwd_kernel(bf16 *__restrict__ out, const bf16 *__restrict__ x, int ldx, const float *__restrict__ w,
                           const float *__restrict__ bias, const uint8_t *__restrict__ doc_start, int B, int T, int E) {
    typedef typename std::conditional<VEC == 8, uint4, bf16>::type raw_t;
    constexpr int R = CONV_TT + K - 1;  // input rows t0-(K-1) .. t0+CONV_TT-1
    const int nvec = E / VEC, ntile = (T + CONV_TT - 1) / CONV_TT;
    const int v = blockIdx.x * 32 + threadIdx.x;
    if (v >= nvec) return;  // no barriers below
    const int e0 = v * VEC;
    float wv[K][VEC], bv[VEC];
#pragma unroll
    for (int j = 0; j < VEC; j++) {
        bv[j] = bias[e0 + j];
#pragma unroll
        for (int k = 0; k < K; k++) wv[k][j] = w[(size_t)(e0 + j) * K + k];
    }
    const long total = (long)B * ntile;
    for (long r = (long)blockIdx.y * CONV_FWD_TY + threadIdx.y; r < total; r += (long)gridDim.y * CONV_FWD_TY) {
        const int tile = (int)(r % ntile), b = (int)(r / ntile);
        const int t0 = tile * CONV_TT;
        const bf16 *xb = x + (size_t)b * T * ldx + e0;
        const uint8_t *ds = doc_start ? doc_start + (size_t)b * T : nullptr;
        raw_t raw[R];
        unsigned fl = 0;  // bit r: row t0-(K-1)+r starts a document
#pragma unroll
        for (int q = 0; q < R; q++) {
            const int s = t0 - (K - 1) + q;
            if (s >= 0 && s < T) {
                raw[q] = *reinterpret_cast<const raw_t *>(xb + (size_t)s * ldx);
                if (ds && ds[s]) fl |= 1u << q;
            } else {
                raw[q] = raw_t{};
            }
        }
#pragma unroll
        for (int i = 0; i < CONV_TT; i++) {
            const int t = t0 + i;
            if (t >= T) break;
            // taps k read row i+k; a document start at row i+k (k >= 1) cuts taps < k
            const unsigned m = (fl >> (i + 1)) & ((1u << (K - 1)) - 1u);
            const int kmin = m ? 32 - __clz((int)m) : 0;
            float acc[VEC];
#pragma unroll
            for (int j = 0; j < VEC; j++) acc[j] = bv[j];
#pragma unroll
            for (int k = 0; k < K; k++) {
                if (k < kmin) continue;
                float xv[VEC];
                if (VEC == 8)
                    bf16x8_to_f32(*reinterpret_cast<const uint4 *>(&raw[i + k]), xv);
                else
                    xv[0] = bf2f(*reinterpret_cast<const bf16 *>(&raw[i + k]));
#pragma unroll
                for (int j = 0; j < VEC; j++) acc[j] = fmaf(wv[k][j], xv[j], acc[j]);
            }
#pragma unroll
            for (int j = 0; j < VEC; j++) acc[j] = siluf_(acc[j]);
            conv_st_bf16<VEC>(out + ((size_t)b * T + t) * E + e0, acc);
        }
    }
}

// Blocks resident at once on the whole GPU for a kernel (queried once per kernel).
template <typename F>
static inline long conv_resident_blocks(F kernel, int threads) {
    int per_sm = 0;
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, 0));
    return (long)cuda_num_sms() * (per_sm > 0 ? per_sm : 1);
}

template <int K, int VEC>
static inline void conv1d_fwd_launch_vec(bf16 *out, const bf16 *x, int ldx, const float *w, const float *bias,
                                         const uint8_t *doc_start, int B, int T, int E, cudaStream_t st) {
    static long resident = 0;  // one wave of blocks, each thread striding over many tiles
    if (!resident) resident = conv_resident_blocks(conv1d_silu_fwd_kernel<K, VEC>, 32 * CONV_FWD_TY);
    const long gx = ceil_div_i(E / VEC, 32), nwork = (long)B * ((T + CONV_TT - 1) / CONV_TT);
    long gy = (nwork + CONV_FWD_TY - 1) / CONV_FWD_TY, cap = resident / gx;
    if (gy > cap) gy = cap;
    if (gy < 1) gy = 1;
    conv1d_silu_fwd_kernel<K, VEC><<<dim3((unsigned)gx, (unsigned)gy), dim3(32, CONV_FWD_TY), 0, st>>>(
        out, x, ldx, w, bias, doc_start, B, T, E);
    CUDA_CHECK_LAST();
}

template <int K>
static inline void conv1d_fwd_launch(bf16 *out, const bf16 *x, int ldx, const float *w, const float *bias,
                                     const uint8_t *doc_start, int B, int T, int E, cudaStream_t st) {
    if (E % 8 == 0 && ldx % 8 == 0 && is_aligned(x, 16) && is_aligned(out, 16))
        conv1d_fwd_launch_vec<K, 8>(out, x, ldx, w, bias, doc_start, B, T, E, st);
    else
        conv1d_fwd_launch_vec<K, 1>(out, x, ldx, w, bias, doc_start, B, T, E, st);
}

static inline void conv1d_silu_fwd(bf16 *out, const bf16 *x, int ldx, const float *w, const float *bias,
                                   const uint8_t *doc_start, int B, int T, int E, int K, cudaStream_t st) {
    if (B <= 0 || T <= 0 || E <= 0) return;
    if (ldx < E) cuda_ops_fatal("conv1d_silu_fwd: ldx %d < E %d", ldx, E);
    switch (K) {
    case 2: conv1d_fwd_launch<2>(out, x, ldx, w, bias, doc_start, B, T, E, st); break;
    case 3: conv1d_fwd_launch<3>(out, x, ldx, w, bias, doc_start, B, T, E, st); break;
    case 4: conv1d_fwd_launch<4>(out, x, ldx, w, bias, doc_start, B, T, E, st); break;
    default: cuda_ops_fatal("conv1d_silu_fwd: kernel width d_conv=%d not supported (2, 3 or 4)", K);
    }
}

#define CONV_L2_AHEAD 4  // backward: rows prefetched into L2 this many steps ahead

__device__ __forceinline__ void conv_prefetch_l2(const void *p) {
    asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
}

// Backward. Block (32, CONV_BWD_TY): x over channel vectors, y over runs; a
// thread keeps its channels for all its runs, so dw/dbias are summed in
// registers, then over the block's y threads in shared memory, then one
// atomicAdd per value and block.
#define CONV_BWD_TY 8

template <int K, int VEC, typename GT>
__global__ void __launch_bounds__(32 * CONV_BWD_TY)
    conv1d_silu_bwd_kernel(bf16 *__restrict__ dx, int lddx, float *__restrict__ dw, float *__restrict__ dbias,
                           const GT *__restrict__ dout, const bf16 *__restrict__ x, int ldx,
                           const float *__restrict__ w, const float *__restrict__ bias,
                           const uint8_t *__restrict__ doc_start, int B, int T, int E) {
    __shared__ float red[CONV_BWD_TY][33];
    const int nvec = E / VEC, nrun = (T + CONV_RUN - 1) / CONV_RUN;
    const int v = blockIdx.x * 32 + threadIdx.x;
    const bool active = v < nvec;
    const int e0 = (active ? v : 0) * VEC;
    float wv[K][VEC], bv[VEC], dwa[K][VEC], dba[VEC];
#pragma unroll
    for (int q = 0; q < VEC; q++) {
        bv[q] = bias[e0 + q];
        dba[q] = 0.0f;
#pragma unroll
        for (int k = 0; k < K; k++) {
            wv[k][q] = w[(size_t)(e0 + q) * K + k];
            dwa[k][q] = 0.0f;
        }
    }
    const long nwork = (long)B * nrun;
    for (long r = (long)blockIdx.y * CONV_BWD_TY + threadIdx.y; active && r < nwork;
         r += (long)gridDim.y * CONV_BWD_TY) {
        int b = (int)(r / nrun), ta = (int)(r % nrun) * CONV_RUN, tb = min(T, ta + CONV_RUN);
        const bf16 *xb = x + (size_t)b * T * ldx + e0;
        const GT *gb = dout + (size_t)b * T * E + e0;
        bf16 *dxb = dx + (size_t)b * T * lddx + e0;
        const uint8_t *ds = doc_start ? doc_start + (size_t)b * T : nullptr;
        // inside step t: xw[j] = x row t-j, dp[j] = dpre[t-j], fl's bit j = doc
        // start of row t-j, kmv's 4 bits at 4j = kmin(t-j)
        float xw[K][VEC], dp[K][VEC];
        unsigned fl = 0, kmv = 0;
#pragma unroll
        for (int j = 0; j < K; j++)
#pragma unroll
            for (int q = 0; q < VEC; q++) dp[j][q] = 0.0f;
        // before step ta (windows shift first): xw[j] = row ta-1-j, as in the forward
#pragma unroll
        for (int j = 0; j < K - 1; j++) {
            int s = ta - 1 - j;
            if (s >= 0) {
                conv_ld_bf16<VEC>(xb + (size_t)s * ldx, xw[j]);
                if (ds && ds[s]) fl |= 1u << j;
            } else {
#pragma unroll
                for (int q = 0; q < VEC; q++) xw[j][q] = 0.0f;
            }
        }
        // dx of rows [ta, tb) needs dpre of [ta, tb+K-2]; steps past T have dpre 0
        const int tend = tb + K - 1;
        float nx[VEC], ng[VEC];
        conv_ld_bf16<VEC>(xb + (size_t)ta * ldx, nx);
        conv_ld_grad<VEC>(gb + (size_t)ta * E, ng);
        for (int t = ta; t < tend; t++) {
#pragma unroll
            for (int j = K - 1; j > 0; j--) {
#pragma unroll
                for (int q = 0; q < VEC; q++) {
                    xw[j][q] = xw[j - 1][q];
                    dp[j][q] = dp[j - 1][q];
                }
            }
            kmv <<= 4;
            if (t < T) {
                float g[VEC];
#pragma unroll
                for (int q = 0; q < VEC; q++) xw[0][q] = nx[q], g[q] = ng[q];
                if (t + 1 < T && t + 1 < tend) {  // prefetch
                    conv_ld_bf16<VEC>(xb + (size_t)(t + 1) * ldx, nx);
                    conv_ld_grad<VEC>(gb + (size_t)(t + 1) * E, ng);
                }
                // and rows a few steps ahead into L2 (no registers held), so
                // the loads above wait on L2 rather than on HBM
                if (t + CONV_L2_AHEAD < T && t + CONV_L2_AHEAD < tend) {
                    conv_prefetch_l2(xb + (size_t)(t + CONV_L2_AHEAD) * ldx);
                    conv_prefetch_l2(gb + (size_t)(t + CONV_L2_AHEAD) * E);
                }
                fl = (fl << 1) | (ds && ds[t] ? 1u : 0u);
                int kmin = conv_kmin<K>(fl);
                kmv |= (unsigned)kmin;
                bool own = t < tb;  // dw, dbias: each t counted by the run that owns it
#pragma unroll
                for (int q = 0; q < VEC; q++) {
                    float pre = bv[q];
#pragma unroll
                    for (int k = 0; k < K; k++)
                        if (k >= kmin) pre = fmaf(wv[k][q], xw[K - 1 - k][q], pre);
                    float d = g[q] * dsiluf_(pre);
                    dp[0][q] = d;
                    if (own) {
                        dba[q] += d;
#pragma unroll
                        for (int k = 0; k < K; k++)
                            if (k >= kmin) dwa[k][q] = fmaf(d, xw[K - 1 - k][q], dwa[k][q]);
                    }
                }
            } else {
#pragma unroll
                for (int q = 0; q < VEC; q++) xw[0][q] = 0.0f, dp[0][q] = 0.0f;
            }
            // row s = t-(K-1) now has all its terms: tap k comes from step s+(K-1)-k = t-k
            int s = t - (K - 1);
            if (s >= ta) {
                float o[VEC];
#pragma unroll
                for (int q = 0; q < VEC; q++) {
                    float acc = 0.0f;
#pragma unroll
                    for (int k = 0; k < K; k++)
                        if (k >= (int)((kmv >> (4 * k)) & 15u)) acc = fmaf(dp[k][q], wv[k][q], acc);
                    o[q] = acc;
                }
                conv_st_bf16<VEC>(dxb + (size_t)s * lddx, o);
            }
        }
    }
    // sum the CONV_BWD_TY threads of each channel, then one atomic per value
#pragma unroll
    for (int k = 0; k <= K; k++) {
#pragma unroll
        for (int q = 0; q < VEC; q++) {
            red[threadIdx.y][threadIdx.x] = k < K ? dwa[k][q] : dba[q];
            __syncthreads();
            if (threadIdx.y == 0 && active) {
                float s = 0.0f;
#pragma unroll
                for (int y = 0; y < CONV_BWD_TY; y++) s += red[y][threadIdx.x];
                if (k < K)
                    atomicAdd(dw + (size_t)(e0 + q) * K + k, s);
                else
                    atomicAdd(dbias + e0 + q, s);
            }
            __syncthreads();
        }
    }
}

template <int K, typename GT>
static inline void conv1d_bwd_launch(bf16 *dx, int lddx, float *dw, float *dbias, const GT *dout, const bf16 *x,
                                     int ldx, const float *w, const float *bias, const uint8_t *doc_start, int B,
                                     int T, int E, cudaStream_t st) {
    long nwork = (long)B * ((T + CONV_RUN - 1) / CONV_RUN);
    dim3 block(32, CONV_BWD_TY);
    bool v4 = E % 4 == 0 && ldx % 4 == 0 && lddx % 4 == 0 && is_aligned(x, 8) && is_aligned(dx, 8) &&
              is_aligned(dout, 4 * sizeof(GT));
    int VEC = v4 ? 4 : 1;
    int gx = ceil_div_i(E / VEC, 32);
    // enough blocks for ~4 per multiprocessor, but each thread gets >= 2 runs
    long gy = ceil_div_i(nwork, CONV_BWD_TY * 2);
    long cap = ceil_div_i((long)cuda_num_sms() * 4, gx);
    if (gy > cap) gy = cap;
    if (gy < 1) gy = 1;
    dim3 grid(gx, (unsigned)gy);
    if (v4)
        conv1d_silu_bwd_kernel<K, 4, GT><<<grid, block, 0, st>>>(dx, lddx, dw, dbias, dout, x, ldx, w, bias, doc_start, B,
                                                             T, E);
    else
        conv1d_silu_bwd_kernel<K, 1, GT><<<grid, block, 0, st>>>(dx, lddx, dw, dbias, dout, x, ldx, w, bias, doc_start, B,
                                                             T, E);
    CUDA_CHECK_LAST();
}

// dout: fp32 or bf16 (GT)
template <typename GT>
static inline void conv1d_silu_bwd(bf16 *dx, int lddx, float *dw, float *dbias, const GT *dout, const bf16 *x,
                                   int ldx, const float *w, const float *bias, const uint8_t *doc_start, int B, int T,
                                   int E, int K, cudaStream_t st) {
    if (B <= 0 || T <= 0 || E <= 0) return;
    if (ldx < E || lddx < E) cuda_ops_fatal("conv1d_silu_bwd: ldx %d / lddx %d < E %d", ldx, lddx, E);
    switch (K) {
    case 2: conv1d_bwd_launch<2>(dx, lddx, dw, dbias, dout, x, ldx, w, bias, doc_start, B, T, E, st); break;
    case 3: conv1d_bwd_launch<3>(dx, lddx, dw, dbias, dout, x, ldx, w, bias, doc_start, B, T, E, st); break;
    case 4: conv1d_bwd_launch<4>(dx, lddx, dw, dbias, dout, x, ldx, w, bias, doc_start, B, T, E, st); break;
    default: cuda_ops_fatal("conv1d_silu_bwd: kernel width d_conv=%d not supported (2, 3 or 4)", K);
    }
}
