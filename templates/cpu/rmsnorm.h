/* rmsnorm.h: the residual add and RMSNorm of every block (and norm_f).
 *
 *   residual += x                                  (the stream stays in real)
 *   rstd[bt]  = 1 / sqrt(mean_c(inp[bt,c]^2) + eps)
 *   out[bt,c] = inp[bt,c] * rstd[bt] * weight[c]
 *
 * rstd is saved for the backward (one real per token). */
#ifndef OPS_RMSNORM_H
#define OPS_RMSNORM_H

#include "common.h"

static inline void residual_add(real *residual, const real *x, long n)
{
#pragma omp parallel for schedule(static) if (n >= OPS_OMP_MIN)
    for (long i = 0; i < n; i++) residual[i] += x[i];
}

static inline void rmsnorm_forward(real *out /* (BT,C) */, real *rstd /* (BT) */,
                                   const real *inp /* (BT,C) */, const real *weight /* (C) */,
                                   int BT, int C, real eps)
{
#pragma omp parallel for schedule(static) if ((long)BT * C >= OPS_OMP_MIN)
    for (int bt = 0; bt < BT; bt++) {
        const real *x = inp + (size_t)bt * C;
        real *o = out + (size_t)bt * C;
        double ss = 0.0; /* a sum of C squares: double keeps it exact enough */
        for (int c = 0; c < C; c++) ss += (double)x[c] * x[c];
        real r = (real)(1.0 / sqrt(ss / C + (double)eps));
        rstd[bt] = r;
        for (int c = 0; c < C; c++) o[c] = x[c] * r * weight[c];
    }
}

/* With g = dout*weight and r = rstd:
 *   dinp[c]    += r * (g[c] - inp[c] * r^2 * mean_i(g[i]*inp[i]))
 *   dweight[c] += sum_bt dout[bt,c] * inp[bt,c] * r[bt]
 * dweight sums over tokens, so it gets its own pass split by channel blocks
 * (each thread owns a block and adds the tokens in order). */
static inline void rmsnorm_backward(real *dinp /* (BT,C) */, real *dweight /* (C) */,
                                    const real *dout /* (BT,C) */, const real *inp /* (BT,C) */,
                                    const real *weight /* (C) */, const real *rstd /* (BT) */,
                                    int BT, int C)
{
#pragma omp parallel for schedule(static) if ((long)BT * C >= OPS_OMP_MIN)
    for (int bt = 0; bt < BT; bt++) {
        const real *x = inp + (size_t)bt * C;
        const real *g = dout + (size_t)bt * C;
        real *dx = dinp + (size_t)bt * C;
        double dot = 0.0;
        for (int c = 0; c < C; c++) dot += (double)g[c] * weight[c] * x[c];
        double r = rstd[bt];
        real k = (real)(r * r * dot / C);
        real rr = (real)r;
        for (int c = 0; c < C; c++) dx[c] += rr * (g[c] * weight[c] - x[c] * k);
    }

    enum { CB = 64 };
    int nblk = (C + CB - 1) / CB;
#pragma omp parallel for schedule(static) if ((long)BT * C >= OPS_OMP_MIN)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CB, n = ops_imin(C, c0 + CB) - c0;
        double acc[CB] = {0}; /* sums over up to B*T tokens: double */
        for (int bt = 0; bt < BT; bt++) {
            const real *x = inp + (size_t)bt * C + c0;
            const real *g = dout + (size_t)bt * C + c0;
            double r = rstd[bt];
            for (int c = 0; c < n; c++) acc[c] += (double)(g[c] * x[c]) * r;
        }
        for (int c = 0; c < n; c++) dweight[c0 + c] += (real)acc[c];
    }
}

#endif /* OPS_RMSNORM_H */
