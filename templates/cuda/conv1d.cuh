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
    } else if (VEC == 2) {
        const float2 f = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(p));
        v[0] = f.x, v[1] = f.y;
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
    } else if (VEC == 2) {
        *reinterpret_cast<__nv_bfloat162 *>(p) = __floats2bfloat162_rn(v[0], v[1]);
    } else {
#pragma unroll
        for (int j = 0; j < VEC; j++) p[j] = f2bf(v[j]);
    }
}

// First tap that counts at step t: with fl's bit j = doc_start of row t-j,
// taps k < kmin read rows before t's document start (row t-(K-1)+k, so the
// nearest start at j < K-1 cuts every tap below k = K-1-j).
template <int K>
__device__ __forceinline__ int conv_kmin(unsigned fl) {
    unsigned m = fl & ((1u << (K - 1)) - 1u);
    return m ? K - 1 - (__ffs((int)m) - 1) : 0;
}

// Forward: block (32, CONV_FWD_TY); x = a vector of CONV_FWD_VEC channels,
// kept by the thread (its weights and bias stay in registers), y = tiles of
// CONV_TT steps, strided over (batch row, tile). Per tile the thread issues
// the loads of all CONV_TT+K-1 input rows at once (kept as raw bf16): ~152
// bytes in flight. The K-1 overlapping rows are read again by the
// neighbouring tile, from L1/L2.
// (A first version took a new channel vector per tile and re-read its K+1
// weight and bias values with scalar loads every time: 40 scattered loads per
// tile kept L1 78% busy and HBM at 25%: 0.152 ms at the 130m shapes. Then,
// channels x steps per tile, H200, 2026-11-28: 8 x 8: 0.082 ms; 8 x 4: 0.083;
// 8 x 16 (4-warp blocks): 0.092; 4 x 8: 0.079; 4 x 16: 0.076; 4 x 24: 0.086.)
#define CONV_TT 16      // steps per tile (CONV_TT + K - 1 <= 32: one bit each in a mask)
#define CONV_FWD_TY 8   // warps per block
#define CONV_FWD_VEC 4  // channels per thread when the rows allow it (else 1)

template <int K, int VEC>
__global__ void __launch_bounds__(32 * CONV_FWD_TY)
    conv1d_silu_fwd_kernel(bf16 *__restrict__ out, const bf16 *__restrict__ x, int ldx, const float *__restrict__ w,
                           const float *__restrict__ bias, const uint8_t *__restrict__ doc_start, int B, int T, int E) {
    static_assert(VEC == 1 || VEC == 4 || VEC == 8, "raw rows of 1, 4 or 8 bf16");
    typedef typename std::conditional<VEC == 8, uint4, typename std::conditional<VEC == 4, uint2, bf16>::type>::type raw_t;
    constexpr int R = CONV_TT + K - 1;  // input rows t0-(K-1) .. t0+CONV_TT-1
    static_assert(R <= 32, "the document-start mask has one bit per input row");
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
                conv_ld_bf16<VEC>(reinterpret_cast<const bf16 *>(&raw[i + k]), xv);
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
static inline long conv_resident_blocks(F kernel, int threads, size_t smem = 0) {
    int per_sm = 0;
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, smem));
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
    constexpr int V = CONV_FWD_VEC;
    if (E % V == 0 && ldx % V == 0 && is_aligned(x, 2 * V) && is_aligned(out, 2 * V))
        conv1d_fwd_launch_vec<K, V>(out, x, ldx, w, bias, doc_start, B, T, E, st);
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

// Backward. Block (32, CONV_BWD_TY): each warp a vector of VEC channels per
// lane, the block's warps adjacent channel ranges (so a block reads and writes
// 8 neighbouring 128-byte pieces of each row at about the same time); the grid
// strides the blocks over runs of CONV_RUN steps. A thread keeps its channels
// for all its runs: dw/dbias are summed in registers, then one atomicAdd per
// value and thread.
//
// Within a run the thread walks its steps in groups of CONV_G, each group's
// steps unrolled so the K-step windows shift by register renaming; a group
// with no document start within K-1 rows of it (nearly all) skips the per-tap
// masks. The rows of a group come through a per-warp shared-memory ring,
// copied in (cp.async) two groups ahead (conv_bwd_staged_run).
//
// Measured at the 130m shapes with a bf16 dout (H200, 2026-11-28):
//   one step at a time, one row of prefetch (v5): 0.218 ms, ~200 instructions
//     per thread-step, a third of them window moves and tap selects;
//   groups loaded into registers, VEC x CONV_G x min blocks: 2 x 8 x 2
//     (124 registers) 0.166 ms; 2 x 4 x 3: 0.179; 2 x 16 x 2 (spills): 0.188;
//     4 x 8 x 1: 0.179 (4 x 8 x 3 with 4-warp blocks: 0.174);
//   + the shared-memory ring: 0.155; + adjacent channels per block: 0.152
//     (ncu: 1.9 TB/s, issue-bound at 64% with 4 warps per scheduler, 114
//     instructions per 2-channel step).
#define CONV_BWD_TY 8    // warps per block
#define CONV_BWD_VEC 2   // channels per thread when the rows allow it (else 1)
#define CONV_BWD_MINB 2  // blocks per multiprocessor: caps registers at 128
#define CONV_G 8         // steps per group

// one row of a thread's VEC channels as loaded (bf16 or fp32), converted to
// fp32 only in the step that uses it: a group holds 2*CONV_G of them
template <typename T, int VEC>
struct alignas(sizeof(T) * VEC) ConvRow {
    T v[VEC];
};
__device__ __forceinline__ float conv_f32(bf16 x) { return bf2f(x); }
__device__ __forceinline__ float conv_f32(float x) { return x; }

// what a thread carries from step to step inside a run
template <int K, int VEC>
struct ConvBwdWindow {
    float xw[K - 1][VEC];  // xw[j]: x row t-1-j
    float dp[K - 1][VEC];  // dp[j]: dpre of step t-1-j
    unsigned fl;           // bit j: row t-1-j starts a document
    unsigned kmv;          // 4 bits at 4j: first counted tap (kmin) of step t-1-j
};

// the thread's fixed data: its channels' weights and dw/dbias sums
template <int K, int VEC>
struct ConvBwdChannels {
    float wv[K][VEC], bv[VEC], dwa[K][VEC], dba[VEC];
};

// Step t: x row t arrives (xin, gin = dout[t], start = its doc flag); dpre[t]
// is computed and, when own, added into dw/dbias; row s = t-(K-1) then has all
// its terms (tap k from step t-k) and is stored when dxrow is set. valid =
// t < T (past T: x = 0, dpre = 0). MASKED = false: no document start reaches
// the taps of steps t-(K-1)..t, so every kmin is 0.
template <int K, int VEC, bool MASKED, typename GT>
__device__ __forceinline__ void conv_bwd_step(ConvBwdWindow<K, VEC> &win, ConvBwdChannels<K, VEC> &ch,
                                              const ConvRow<bf16, VEC> &xin, const ConvRow<GT, VEC> &gin,
                                              unsigned start, bool valid, bool own, bf16 *dxrow) {
    float xs[K][VEC], ds[K][VEC];  // [j]: row / step t-j
    const unsigned fl = (win.fl << 1) | start;
    const int kmin = MASKED && valid ? conv_kmin<K>(fl) : 0;
#pragma unroll
    for (int q = 0; q < VEC; q++) {
        xs[0][q] = valid ? conv_f32(xin.v[q]) : 0.0f;
#pragma unroll
        for (int j = 1; j < K; j++) xs[j][q] = win.xw[j - 1][q], ds[j][q] = win.dp[j - 1][q];
        float d = 0.0f;
        if (valid) {
            float pre = ch.bv[q];
#pragma unroll
            for (int k = 0; k < K; k++)
                if (!MASKED || k >= kmin) pre = fmaf(ch.wv[k][q], xs[K - 1 - k][q], pre);
            d = conv_f32(gin.v[q]) * dsiluf_(pre);
            if (own) {
                ch.dba[q] += d;
#pragma unroll
                for (int k = 0; k < K; k++)
                    if (!MASKED || k >= kmin) ch.dwa[k][q] = fmaf(d, xs[K - 1 - k][q], ch.dwa[k][q]);
            }
        }
        ds[0][q] = d;
    }
    const unsigned kmv = (win.kmv << 4) | (unsigned)kmin;
    if (dxrow) {
        float o[VEC];
#pragma unroll
        for (int q = 0; q < VEC; q++) {
            float acc = 0.0f;
#pragma unroll
            for (int k = 0; k < K; k++)
                if (!MASKED || k >= (int)((kmv >> (4 * k)) & 15u)) acc = fmaf(ds[k][q], ch.wv[k][q], acc);
            o[q] = acc;
        }
        conv_st_bf16<VEC>(dxrow, o);
    }
    win.fl = fl;
    win.kmv = kmv;
#pragma unroll
    for (int j = 0; j < K - 1; j++)
#pragma unroll
        for (int q = 0; q < VEC; q++) win.xw[j][q] = xs[j][q], win.dp[j][q] = ds[j][q];
}

// The N steps t0 .. t0+N-1 of the run [ta, tb) of one batch row, their rows
// given (xin, gin; starts' bit i: row t0+i starts a document). FULL: all N
// steps lie in [ta, tb), so all are valid and own. dxb NULL: store nothing.
template <int K, int VEC, int N, bool FULL, typename GT>
__device__ __forceinline__ void conv_bwd_steps(ConvBwdWindow<K, VEC> &win, ConvBwdChannels<K, VEC> &ch,
                                               const ConvRow<bf16, VEC> (&xin)[N], const ConvRow<GT, VEC> (&gin)[N],
                                               unsigned starts, bf16 *dxb, int lddx, int t0, int ta, int tb, int T) {
    // masks matter if a start is among the new rows, the K-2 rows before them
    // (taps of step t0), or among the kmins of steps t0-(K-1)..t0-1 (dx rows)
    const bool masked = starts || (win.fl & ((1u << (K - 2)) - 1u)) || (win.kmv & ((1u << (4 * (K - 1))) - 1u));
#pragma unroll
    for (int i = 0; i < N; i++) {
        const int t = t0 + i, s = t - (K - 1);
        const bool valid = FULL || t < T, own = FULL || t < tb;
        bf16 *dxrow = dxb && s >= ta ? dxb + (size_t)s * lddx : nullptr;
        if (masked)
            conv_bwd_step<K, VEC, true, GT>(win, ch, xin[i], gin[i], (starts >> i) & 1u, valid, own, dxrow);
        else
            conv_bwd_step<K, VEC, false, GT>(win, ch, xin[i], gin[i], 0u, valid, own, dxrow);
    }
}

// Same, loading the rows from global memory (pointers at the thread's
// channels of row 0 of the batch row)
template <int K, int VEC, int N, bool FULL, typename GT>
__device__ __forceinline__ void conv_bwd_group(ConvBwdWindow<K, VEC> &win, ConvBwdChannels<K, VEC> &ch,
                                               const bf16 *xb, int ldx, const GT *gb, int E, bf16 *dxb, int lddx,
                                               const uint8_t *ds, int t0, int ta, int tb, int T) {
    ConvRow<bf16, VEC> xin[N];
    ConvRow<GT, VEC> gin[N];
    unsigned starts = 0;
#pragma unroll
    for (int i = 0; i < N; i++) {
        const int t = t0 + i;
        if (FULL || t < T) {
            xin[i] = *reinterpret_cast<const ConvRow<bf16, VEC> *>(xb + (size_t)t * ldx);
            gin[i] = *reinterpret_cast<const ConvRow<GT, VEC> *>(gb + (size_t)t * E);
            if (ds && ds[t]) starts |= 1u << i;
        }
    }
    conv_bwd_steps<K, VEC, N, FULL, GT>(win, ch, xin, gin, starts, dxb, lddx, t0, ta, tb, T);
}

// The full groups of a run through shared memory: the rows of group j+2 are
// copied in (cp.async, no registers held) while group j is computed, into a
// ring of CONV_STAGES groups per warp. Each lane reads back only what it
// copied, so no barrier is needed. Lane i < CONV_G loads the document flag of
// row i of group j+2; a ballot gives the group's starts. Returns the first
// step after the full groups.
#define CONV_STAGES 3
#define CONV_STAGED(VEC) ((VEC) >= 2)  // cp.async copies 4, 8 or 16 bytes: not one bf16
template <int VEC, typename GT>
__host__ __device__ constexpr size_t conv_bwd_stage_bytes() {  // one warp's ring
    return (size_t)CONV_STAGES * CONV_G * 32 * (sizeof(ConvRow<bf16, VEC>) + sizeof(ConvRow<GT, VEC>));
}

template <int K, int VEC, typename GT>
__device__ __forceinline__ int conv_bwd_staged_run(ConvBwdWindow<K, VEC> &win, ConvBwdChannels<K, VEC> &ch,
                                                   unsigned char *ring, const bf16 *xb, int ldx, const GT *gb, int E,
                                                   bf16 *dxb, int lddx, const uint8_t *ds, int ta, int tb, int T) {
    typedef ConvRow<bf16, VEC> XR;
    typedef ConvRow<GT, VEC> GR;
    constexpr int G = CONV_G;
    const int lane = threadIdx.x, ng = (tb - ta) / G;
    XR *sx = reinterpret_cast<XR *>(ring);                               // [stage][row][lane]
    GR *sg = reinterpret_cast<GR *>(ring + CONV_STAGES * G * 32 * sizeof(XR));
    auto issue = [&](int j) {  // copies of group j (if any), always one commit group
        if (j < ng) {
            const int st = j % CONV_STAGES, t0 = ta + j * G;
#pragma unroll
            for (int i = 0; i < G; i++) {
                cp_async<sizeof(XR)>(&sx[(st * G + i) * 32 + lane], xb + (size_t)(t0 + i) * ldx);
                cp_async<sizeof(GR)>(&sg[(st * G + i) * 32 + lane], gb + (size_t)(t0 + i) * E);
            }
        }
        cp_async_commit();
    };
    auto flag = [&](int j) { return j < ng && lane < G && ds && ds[ta + j * G + lane] ? 1 : 0; };
    issue(0);
    issue(1);
    int f0 = flag(0), f1 = flag(1);
    for (int j = 0; j < ng; j++) {
        const unsigned starts = __ballot_sync(0xffffffffu, f0) & ((1u << G) - 1u);
        f0 = f1;
        f1 = flag(j + 2);
        issue(j + 2);      // into the stage group j-1 used (its values are consumed)
        cp_async_wait<2>();  // group j has landed (j+1, j+2 may still be in flight)
        const int st = j % CONV_STAGES;
        XR xin[G];
        GR gin[G];
#pragma unroll
        for (int i = 0; i < G; i++) xin[i] = sx[(st * G + i) * 32 + lane], gin[i] = sg[(st * G + i) * 32 + lane];
        conv_bwd_steps<K, VEC, G, true, GT>(win, ch, xin, gin, starts, dxb, lddx, ta + j * G, ta, tb, T);
    }
    cp_async_wait<0>();  // no copy outlives the run (the ring is reused)
    return ta + ng * G;
}

template <int K, int VEC, typename GT>
__global__ void __launch_bounds__(32 * CONV_BWD_TY, CONV_BWD_MINB)
    conv1d_silu_bwd_kernel(bf16 *__restrict__ dx, int lddx, float *__restrict__ dw, float *__restrict__ dbias,
                           const GT *__restrict__ dout, const bf16 *__restrict__ x, int ldx,
                           const float *__restrict__ w, const float *__restrict__ bias,
                           const uint8_t *__restrict__ doc_start, int B, int T, int E) {
    extern __shared__ uint4 conv_ring[];  // CONV_STAGED: each warp's ring of row groups
    const int nvec = E / VEC, nrun = (T + CONV_RUN - 1) / CONV_RUN;
    const int v = (blockIdx.x * CONV_BWD_TY + threadIdx.y) * 32 + threadIdx.x;
    // lanes past the last channel vector walk the runs too (the staged path's
    // ballots need the whole warp) on channel 0, storing and adding nothing
    const bool active = v < nvec;
    const int e0 = (active ? v : 0) * VEC;
    ConvBwdChannels<K, VEC> ch;
#pragma unroll
    for (int q = 0; q < VEC; q++) {
        ch.bv[q] = bias[e0 + q];
        ch.dba[q] = 0.0f;
#pragma unroll
        for (int k = 0; k < K; k++) {
            ch.wv[k][q] = w[(size_t)(e0 + q) * K + k];
            ch.dwa[k][q] = 0.0f;
        }
    }
    const long nwork = (long)B * nrun;
    for (long r = blockIdx.y; r < nwork; r += gridDim.y) {
        const int b = (int)(r / nrun), ta = (int)(r % nrun) * CONV_RUN, tb = min(T, ta + CONV_RUN);
        const bf16 *xb = x + (size_t)b * T * ldx + e0;
        const GT *gb = dout + (size_t)b * T * E + e0;
        bf16 *dxb = active ? dx + (size_t)b * T * lddx + e0 : nullptr;
        const uint8_t *ds = doc_start ? doc_start + (size_t)b * T : nullptr;
        // before step ta: the K-1 rows before it, as in the forward; no dpre yet
        ConvBwdWindow<K, VEC> win;
        win.fl = 0;
        win.kmv = 0;
#pragma unroll
        for (int j = 0; j < K - 1; j++) {
            const int s = ta - 1 - j;
#pragma unroll
            for (int q = 0; q < VEC; q++) win.xw[j][q] = 0.0f, win.dp[j][q] = 0.0f;
            if (s >= 0) {
                conv_ld_bf16<VEC>(xb + (size_t)s * ldx, win.xw[j]);
                if (ds && ds[s]) win.fl |= 1u << j;
            }
        }
        int t = ta;
        if constexpr (CONV_STAGED(VEC)) {
            unsigned char *ring = reinterpret_cast<unsigned char *>(conv_ring) + threadIdx.y * conv_bwd_stage_bytes<VEC, GT>();
            t = conv_bwd_staged_run<K, VEC, GT>(win, ch, ring, xb, ldx, gb, E, dxb, lddx, ds, ta, tb, T);
        } else {
            for (; t + CONV_G <= tb; t += CONV_G)
                conv_bwd_group<K, VEC, CONV_G, true>(win, ch, xb, ldx, gb, E, dxb, lddx, ds, t, ta, tb, T);
        }
        for (; t < tb; t++) conv_bwd_group<K, VEC, 1, false>(win, ch, xb, ldx, gb, E, dxb, lddx, ds, t, ta, tb, T);
        // steps tb .. tb+K-2 (dpre 0 past T) finish dx of the run's last K-1 rows
        conv_bwd_group<K, VEC, K - 1, false>(win, ch, xb, ldx, gb, E, dxb, lddx, ds, tb, ta, tb, T);
    }
    if (active) {  // this thread's share of dw, dbias
#pragma unroll
        for (int q = 0; q < VEC; q++) {
            atomicAdd(dbias + e0 + q, ch.dba[q]);
#pragma unroll
            for (int k = 0; k < K; k++) atomicAdd(dw + (size_t)(e0 + q) * K + k, ch.dwa[k][q]);
        }
    }
}

template <int K, int VEC, typename GT>
static inline void conv1d_bwd_launch_vec(bf16 *dx, int lddx, float *dw, float *dbias, const GT *dout, const bf16 *x,
                                         int ldx, const float *w, const float *bias, const uint8_t *doc_start, int B,
                                         int T, int E, cudaStream_t st) {
    constexpr size_t smem = CONV_STAGED(VEC) ? CONV_BWD_TY * conv_bwd_stage_bytes<VEC, GT>() : 0;
    // once per kernel, outside graph capture (the first step runs eagerly):
    // the shared-memory opt-in and one wave of resident blocks
    static long resident = 0;
    if (!resident) {
        if (smem > 48 * 1024)
            CUDA_CHECK(cudaFuncSetAttribute(conv1d_silu_bwd_kernel<K, VEC, GT>,
                                            cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        resident = conv_resident_blocks(conv1d_silu_bwd_kernel<K, VEC, GT>, 32 * CONV_BWD_TY, smem);
    }
    const long nwork = (long)B * ((T + CONV_RUN - 1) / CONV_RUN);
    const int gx = ceil_div_i(E / VEC, 32 * CONV_BWD_TY);
    long gy = ceil_div_i(nwork, 2), cap = resident / gx;  // each thread >= 2 runs
    if (gy > cap) gy = cap;
    if (gy < 1) gy = 1;
    conv1d_silu_bwd_kernel<K, VEC, GT><<<dim3(gx, (unsigned)gy), dim3(32, CONV_BWD_TY), smem, st>>>(
        dx, lddx, dw, dbias, dout, x, ldx, w, bias, doc_start, B, T, E);
    CUDA_CHECK_LAST();
}

template <int K, typename GT>
static inline void conv1d_bwd_launch(bf16 *dx, int lddx, float *dw, float *dbias, const GT *dout, const bf16 *x,
                                     int ldx, const float *w, const float *bias, const uint8_t *doc_start, int B,
                                     int T, int E, cudaStream_t st) {
    constexpr int VW = CONV_BWD_VEC;
    if (E % VW == 0 && ldx % VW == 0 && lddx % VW == 0 && is_aligned(x, 2 * VW) && is_aligned(dx, 2 * VW) &&
        is_aligned(dout, VW * sizeof(GT)))
        conv1d_bwd_launch_vec<K, VW, GT>(dx, lddx, dw, dbias, dout, x, ldx, w, bias, doc_start, B, T, E, st);
    else
        conv1d_bwd_launch_vec<K, 1, GT>(dx, lddx, dw, dbias, dout, x, ldx, w, bias, doc_start, B, T, E, st);
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
