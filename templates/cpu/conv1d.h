/* conv1d.h: Mamba's causal depthwise conv1d over time, fused with SiLU.
 *
 * PyTorch Conv1d(E, E, K, groups=E, padding=K-1)(x)[..., :T], weight (E,1,K)
 * stored as (E,K):
 *   preact[b,t,e] = bias[e] + sum_{k<K} w[e,k] * inp[b, t-(K-1)+k, e]
 *   out[b,t,e]    = silu(preact[b,t,e])
 * Terms whose source s = t-(K-1)+k is < 0 are zero (causal padding). With
 * doc_start (packed documents), terms with s before the start of t's document
 * are zero too, so the window never reaches into the previous document; the
 * start of t's document is the last s' <= t with doc_start[b,s'] = 1 (0 if
 * none). inp is the x half of in_proj's output, hence its row stride ldi. */
#ifndef OPS_CONV1D_H
#define OPS_CONV1D_H

#include "common.h"

#define CONV1D_MAX_K 16

/* First source index t's window may read: max(0, t-(K-1)), raised to the
 * document start when one lies inside the window. */
static inline int conv1d_first_src(const uint8_t *doc_start_row /* (T) or NULL */, int t, int K)
{
    int lo = t - (K - 1) > 0 ? t - (K - 1) : 0;
    if (doc_start_row)
        for (int s = t; s > lo; s--)
            if (doc_start_row[s]) return s;
    return lo;
}

static inline void conv1d_silu_forward(real *out /* (B,T,E) */, real *preact /* (B,T,E) or NULL */,
                                       const real *inp /* (B,T,*) row stride ldi */, int ldi,
                                       const real *w /* (E,K) */, const real *bias /* (E) */,
                                       const uint8_t *doc_start /* (B,T) or NULL */, int B, int T,
                                       int E, int K)
{
    if (K < 1 || K > CONV1D_MAX_K)
        ops_fatal("conv1d_silu_forward: kernel width K=%d outside [1, %d]", K, CONV1D_MAX_K);
#pragma omp parallel for schedule(static) if ((long)B * T * E >= OPS_OMP_MIN)
    for (int bt = 0; bt < B * T; bt++) {
        int b = bt / T, t = bt % T;
        int lo = conv1d_first_src(doc_start ? doc_start + (size_t)b * T : NULL, t, K);
        real *p = preact ? preact + (size_t)bt * E : out + (size_t)bt * E;
        for (int e = 0; e < E; e++) p[e] = bias[e];
        for (int k = 0; k < K; k++) {
            int s = t - (K - 1) + k;
            if (s < lo) continue;
            const real *x = inp + ((size_t)b * T + s) * ldi;
            for (int e = 0; e < E; e++) p[e] += w[(size_t)e * K + k] * x[e];
        }
        real *o = out + (size_t)bt * E;
        for (int e = 0; e < E; e++) o[e] = r_silu(p[e]);
    }
}

/* Recomputes preact (cheaper than storing it), then with
 * dpre = dout * silu'(preact):
 *   dbias[e] += sum dpre;  dw[e,k] += sum dpre[t] * inp[s];  dinp[s] += dpre[t] * w[e,k]
 * Threads own blocks of channels: a block's dw, dbias and dinp columns get all
 * their terms from one thread, in (b, t, k) order. */
static inline void conv1d_silu_backward(real *dinp /* (B,T,*) row stride lddi */, int lddi,
                                        real *dw /* (E,K) */, real *dbias /* (E) */,
                                        const real *dout /* (B,T,E) */,
                                        const real *inp /* (B,T,*) row stride ldi */, int ldi,
                                        const real *w /* (E,K) */, const real *bias /* (E) */,
                                        const uint8_t *doc_start /* (B,T) or NULL */, int B, int T,
                                        int E, int K)
{
    enum { EB = 32 }; /* channels per block */
    if (K < 1 || K > CONV1D_MAX_K)
        ops_fatal("conv1d_silu_backward: kernel width K=%d outside [1, %d]", K, CONV1D_MAX_K);
    int nblk = (E + EB - 1) / EB;
#pragma omp parallel for schedule(static) if ((long)B * T * E >= OPS_OMP_MIN)
    for (int blk = 0; blk < nblk; blk++) {
        int e0 = blk * EB, n = ops_imin(E, e0 + EB) - e0;
        double acc_b[EB] = {0};                   /* dbias over B*T tokens */
        double acc_w[CONV1D_MAX_K][EB] = {{0}};   /* dw[e0+j, k] over B*T tokens */
        real pre[EB], dpre[EB];
        for (int b = 0; b < B; b++) {
            const uint8_t *ds = doc_start ? doc_start + (size_t)b * T : NULL;
            for (int t = 0; t < T; t++) {
                int lo = conv1d_first_src(ds, t, K);
                size_t bt = (size_t)b * T + t;
                for (int j = 0; j < n; j++) pre[j] = bias[e0 + j];
                for (int k = 0; k < K; k++) {
                    int s = t - (K - 1) + k;
                    if (s < lo) continue;
                    const real *x = inp + ((size_t)b * T + s) * ldi + e0;
                    for (int j = 0; j < n; j++) pre[j] += w[(size_t)(e0 + j) * K + k] * x[j];
                }
                const real *g = dout + bt * E + e0;
                for (int j = 0; j < n; j++) {
                    dpre[j] = g[j] * r_dsilu(pre[j]);
                    acc_b[j] += dpre[j];
                }
                for (int k = 0; k < K; k++) {
                    int s = t - (K - 1) + k;
                    if (s < lo) continue;
                    const real *x = inp + ((size_t)b * T + s) * ldi + e0;
                    real *dx = dinp + ((size_t)b * T + s) * lddi + e0;
                    for (int j = 0; j < n; j++) {
                        acc_w[k][j] += (double)(dpre[j] * x[j]);
                        dx[j] += dpre[j] * w[(size_t)(e0 + j) * K + k];
                    }
                }
            }
        }
        for (int j = 0; j < n; j++) {
            dbias[e0 + j] += (real)acc_b[j];
            for (int k = 0; k < K; k++) dw[(size_t)(e0 + j) * K + k] += (real)acc_w[k][j];
        }
    }
}

#endif /* OPS_CONV1D_H */
