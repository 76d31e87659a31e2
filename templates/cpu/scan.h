/* scan.h: Mamba-1 selective scan (selective_scan_ref semantics), gated.
 *
 * Per batch row b and channel e, with A = -exp(A_log) (E,N), state h (N):
 *   at a document start (doc_start[b,t] = 1, when given): h = 0
 *   h[n]  = exp(delta*A[e,n]) * h[n] + delta*u * B[bt,n]     (ZOH for A, Euler for B)
 *   y     = sum_n C[bt,n]*h[n] + D[e]*u
 *   out   = y * silu(z[bt,e])
 * u, delta, out, ypre are (B,T,E) contiguous; B and C are row-strided views of
 * x_proj's output (N values at Bm[bt*ldbc + n]); z is the z half of in_proj's
 * output (row stride ldz). B and C are shared by all channels ("one group").
 *
 * Channels are processed in blocks of SCAN_EB so each time step reads a few
 * contiguous values of every (B,T,E) array instead of one per cache line. */
#ifndef OPS_SCAN_H
#define OPS_SCAN_H

#include "common.h"

#define SCAN_MAX_N 256 /* d_state limit (the CUDA kernels have the same) */
#define SCAN_EB 8      /* channels per block */

/* h <- exp(d*A)*h + (d*u)*B, or (d*u)*B at a document start. The forward and
 * the backward's recomputation share it, so both see the same states. */
static inline void scan_step(real *h, const real *hprev /* NULL: reset; may be h */,
                             const real *restrict A, const real *restrict Brow, real d, real u, int N)
{
    real du = d * u;
    if (hprev)
        for (int n = 0; n < N; n++) h[n] = r_exp(d * A[n]) * hprev[n] + du * Brow[n];
    else
        for (int n = 0; n < N; n++) h[n] = du * Brow[n];
}

static inline real scan_y(const real *restrict h, const real *restrict Crow, real D, real u, int N)
{
    real y = 0;
    for (int n = 0; n < N; n++) y += Crow[n] * h[n];
    return y + D * u;
}

static inline void scan_check_n(const char *fn, int N)
{
    if (N < 1 || N > SCAN_MAX_N) ops_fatal("%s: d_state N=%d outside [1, %d]", fn, N, SCAN_MAX_N);
}

static inline void selective_scan_forward(real *out /* (B,T,E) gated */,
                                          real *ypre /* (B,T,E) y before the gate, or NULL */,
                                          const real *u /* (B,T,E) */,
                                          const real *delta /* (B,T,E) after softplus */,
                                          const real *A_log /* (E,N) */,
                                          const real *Bm, const real *Cm /* (B,T,*) stride ldbc */,
                                          int ldbc, const real *D /* (E) */,
                                          const real *z /* (B,T,*) stride ldz */, int ldz,
                                          const uint8_t *doc_start /* (B,T) or NULL */, int B, int T,
                                          int E, int N)
{
    scan_check_n("selective_scan_forward", N);
    int nblk = (E + SCAN_EB - 1) / SCAN_EB;
#pragma omp parallel for schedule(static) if ((long)B * T * E * N >= OPS_OMP_MIN)
    for (int task = 0; task < B * nblk; task++) {
        int b = task / nblk, e0 = (task % nblk) * SCAN_EB, ne = ops_imin(E, e0 + SCAN_EB) - e0;
        real A[SCAN_EB][SCAN_MAX_N], h[SCAN_EB][SCAN_MAX_N];
        for (int j = 0; j < ne; j++)
            for (int n = 0; n < N; n++) A[j][n] = -r_exp(A_log[(size_t)(e0 + j) * N + n]);
        for (int t = 0; t < T; t++) {
            size_t bt = (size_t)b * T + t;
            int reset = t == 0 || (doc_start && doc_start[bt]);
            const real *Brow = Bm + bt * ldbc, *Crow = Cm + bt * ldbc;
            for (int j = 0; j < ne; j++) {
                size_t i = bt * E + e0 + j;
                scan_step(h[j], reset ? NULL : h[j], A[j], Brow, delta[i], u[i], N);
                real y = scan_y(h[j], Crow, D[e0 + j], u[i], N);
                if (ypre) ypre[i] = y;
                out[i] = y * r_silu(z[bt * ldz + e0 + j]);
            }
        }
    }
}

/* Scratch for the backward, per batch row b: the states of one channel block
 * over T (T*SCAN_EB*N), and b's partial sums of dA_log (E*N) and dD (E),
 * which are added over b in order at the end. */
static inline size_t selective_scan_scratch_reals(int B, int T, int E, int N)
{
    return (size_t)B * ((size_t)T * SCAN_EB * N + (size_t)E * N + (size_t)E);
}

/* Gradients of the scan, all accumulated (+=). With dy = dout*silu(z) and dh
 * the gradient reaching h_t (dy*C_t plus dh_{t+1}*exp(delta_{t+1}*A), cut at
 * document starts):
 *   dz     += dout * y * silu'(z)          dD      += dy*u
 *   du     += dy*D + sum_n dh*delta*B      dB[bt,n] += dh*delta*u (summed over e)
 *   ddelta += sum_n dh*(B*u + A*exp(delta*A)*h_{t-1})
 *   dC[bt,n] += dy*h_t (summed over e)
 *   dA_log  += A * sum_t dh*delta*exp(delta*A)*h_{t-1}   (dA/dA_log = A)
 * Threads split the batch rows: a row b owns its dB/dC rows and its slice of
 * du, ddelta, dz; dA_log and dD go through per-b partials in scratch. */
static inline void selective_scan_backward(
    real *du, real *ddelta, real *dA_log, real *dBm, real *dCm, int lddbc, real *dD, real *dz,
    int lddz, const real *dout /* (B,T,E) */, const real *u, const real *delta,
    const real *A_log /* (E,N) */, const real *Bm, const real *Cm, int ldbc, const real *D,
    const real *z, int ldz, const uint8_t *doc_start, int B, int T, int E, int N, real *scratch)
{
    scan_check_n("selective_scan_backward", N);
    int nblk = (E + SCAN_EB - 1) / SCAN_EB;
    size_t per_b = (size_t)T * SCAN_EB * N + (size_t)E * N + (size_t)E;
#pragma omp parallel for schedule(static) if ((long)B * T * E * N >= OPS_OMP_MIN)
    for (int b = 0; b < B; b++) {
        real *hs = scratch + (size_t)b * per_b;              /* (T, SCAN_EB, N) */
        real *dA_part = hs + (size_t)T * SCAN_EB * N;        /* (E, N) */
        real *dD_part = dA_part + (size_t)E * N;             /* (E) */
        for (int blk = 0; blk < nblk; blk++) {
            int e0 = blk * SCAN_EB, ne = ops_imin(E, e0 + SCAN_EB) - e0;
            real A[SCAN_EB][SCAN_MAX_N], dh[SCAN_EB][SCAN_MAX_N];
            double dA_acc[SCAN_EB][SCAN_MAX_N], dD_acc[SCAN_EB];
            for (int j = 0; j < ne; j++) {
                for (int n = 0; n < N; n++) {
                    A[j][n] = -r_exp(A_log[(size_t)(e0 + j) * N + n]);
                    dh[j][n] = 0;
                    dA_acc[j][n] = 0;
                }
                dD_acc[j] = 0;
            }
            /* forward again, keeping every state of the block */
            for (int t = 0; t < T; t++) {
                size_t bt = (size_t)b * T + t;
                int reset = t == 0 || (doc_start && doc_start[bt]);
                for (int j = 0; j < ne; j++) {
                    size_t i = bt * E + e0 + j;
                    real *h = hs + ((size_t)t * SCAN_EB + j) * N;
                    scan_step(h, reset ? NULL : h - (size_t)SCAN_EB * N, A[j], Bm + bt * ldbc,
                              delta[i], u[i], N);
                }
            }
            /* reverse */
            for (int t = T - 1; t >= 0; t--) {
                size_t bt = (size_t)b * T + t;
                int reset = t == 0 || (doc_start && doc_start[bt]);
                const real *Brow = Bm + bt * ldbc, *Crow = Cm + bt * ldbc;
                real *dBrow = dBm + bt * lddbc, *dCrow = dCm + bt * lddbc;
                for (int j = 0; j < ne; j++) {
                    int e = e0 + j;
                    size_t i = bt * E + e;
                    const real *h = hs + ((size_t)t * SCAN_EB + j) * N;
                    const real *hp = reset ? NULL : h - (size_t)SCAN_EB * N;
                    real d = delta[i], uu = u[i], zz = z[bt * ldz + e], g = dout[i];
                    real y = scan_y(h, Crow, D[e], uu, N);
                    real dy = g * r_silu(zz);
                    dz[bt * lddz + e] += g * y * r_dsilu(zz);
                    dD_acc[j] += (double)dy * uu;
                    real du_acc = dy * D[e], dd_acc = 0, du_ = d * uu;
                    for (int n = 0; n < N; n++) {
                        real a = r_exp(d * A[j][n]);
                        real hprev = hp ? hp[n] : 0;
                        real dhn = dh[j][n] + dy * Crow[n];
                        dCrow[n] += dy * h[n];
                        dBrow[n] += dhn * du_;
                        du_acc += dhn * d * Brow[n];
                        dd_acc += dhn * (Brow[n] * uu + A[j][n] * a * hprev);
                        dA_acc[j][n] += (double)(dhn * d * a * hprev);
                        dh[j][n] = hp ? dhn * a : 0; /* nothing flows past a reset */
                    }
                    du[i] += du_acc;
                    ddelta[i] += dd_acc;
                }
            }
            for (int j = 0; j < ne; j++) {
                for (int n = 0; n < N; n++) dA_part[(size_t)(e0 + j) * N + n] = (real)dA_acc[j][n];
                dD_part[e0 + j] = (real)dD_acc[j];
            }
        }
    }
    /* fixed-order sum of the per-b partials */
#pragma omp parallel for schedule(static) if ((long)B * E * N >= OPS_OMP_MIN)
    for (int e = 0; e < E; e++) {
        for (int n = 0; n < N; n++) {
            double s = 0.0;
            for (int b = 0; b < B; b++) s += scratch[(size_t)b * per_b + (size_t)T * SCAN_EB * N + (size_t)e * N + n];
            real A = -r_exp(A_log[(size_t)e * N + n]);
            dA_log[(size_t)e * N + n] += (real)(s * A);
        }
        double s = 0.0;
        for (int b = 0; b < B; b++) s += scratch[(size_t)b * per_b + (size_t)T * SCAN_EB * N + (size_t)E * N + e];
        dD[e] += (real)s;
    }
}

#endif /* OPS_SCAN_H */
