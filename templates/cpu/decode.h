/* decode.h: one token at a time (recurrent mode), for generation.
 *
 * The state of a layer is its last d_conv-1 conv inputs and its (d_inner,
 * d_state) scan state: memory and time per token are constant. Sums run in
 * the same order as the full-sequence ops (conv taps oldest to newest, the
 * scan through scan_step/scan_y), so a decoded token's logits equal the full
 * forward's at that position. */
#ifndef OPS_DECODE_H
#define OPS_DECODE_H

#include "common.h"
#include "conv1d.h"
#include "scan.h"

/* out (E) = SiLU(bias + sum_k w[e,k] * window[k]), window = the K-1 saved
 * inputs then x; then the window shifts by one. */
static inline void decode_conv_step(real *out /* (E) */, real *state /* (E, K-1) oldest first */,
                                    const real *x /* (E) */, const real *w /* (E,K) */, const real *bias,
                                    int E, int K)
{
    for (int e = 0; e < E; e++) {
        real *s = state + (size_t)e * (K - 1);
        real p = bias[e];
        for (int k = 0; k < K - 1; k++) p += w[(size_t)e * K + k] * s[k];
        p += w[(size_t)e * K + K - 1] * x[e];
        for (int k = 0; k + 1 < K - 1; k++) s[k] = s[k + 1];
        if (K > 1) s[K - 2] = x[e];
        out[e] = r_silu(p);
    }
}

/* One scan step for every channel: h = exp(delta A) h + delta B u,
 * y = C.h + D u, out = y * SiLU(z). */
static inline void decode_scan_step(real *out /* (E) */, real *h /* (E,N) */, const real *u, const real *delta,
                                    const real *A_log /* (E,N) */, const real *Bv /* (N) */,
                                    const real *Cv /* (N) */, const real *D, const real *z, int E, int N)
{
    real A[SCAN_MAX_N];
    for (int e = 0; e < E; e++) {
        for (int n = 0; n < N; n++) A[n] = -r_exp(A_log[(size_t)e * N + n]);
        real *he = h + (size_t)e * N;
        scan_step(he, he, A, Bv, delta[e], u[e], N);
        real y = scan_y(he, Cv, D[e], u[e], N);
        out[e] = y * r_silu(z[e]);
    }
}

#endif
