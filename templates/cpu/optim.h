/* optim.h: gradient-norm helpers, Muon (torch.optim.Muon semantics) and
 * AdamW (torch.optim.AdamW semantics) on fp32/real master weights. */
#ifndef OPS_OPTIM_H
#define OPS_OPTIM_H

#include "common.h"
#include "matmul.h"

/* sum g[i]^2 in double. The range is cut into a fixed number of segments
 * (not one per thread) whose sums are added in order: same bits for any
 * thread count. */
static inline double grad_sq_sum(const real *g, long n)
{
    enum { NSEG = 64, LANES = 8 };
    double part[NSEG];
#pragma omp parallel for schedule(static) if (n >= OPS_OMP_MIN)
    for (int s = 0; s < NSEG; s++) {
        long lo = n * s / NSEG, hi = n * (s + 1) / NSEG, i = lo;
        double acc[LANES] = {0}; /* independent lanes: fixed order, more ILP */
        for (; i + LANES <= hi; i += LANES)
            for (int l = 0; l < LANES; l++) acc[l] += (double)g[i + l] * g[i + l];
        for (; i < hi; i++) acc[0] += (double)g[i] * g[i];
        double t = 0.0;
        for (int l = 0; l < LANES; l++) t += acc[l];
        part[s] = t;
    }
    double sum = 0.0;
    for (int s = 0; s < NSEG; s++) sum += part[s];
    return sum;
}

static inline void scale_inplace(real *x, long n, real s)
{
#pragma omp parallel for schedule(static) if (n >= OPS_OMP_MIN)
    for (long i = 0; i < n; i++) x[i] *= s;
}

/* torch.lerp's formula (it switches form at weight 0.5 to stay exact at 1). */
static inline real ops_lerp(real self, real end, real w)
{
    return fabs((double)w) < 0.5 ? self + w * (end - self) : end - (end - self) * ((real)1 - w);
}

/* ---- Muon ---------------------------------------------------------------- */

/* X (rows*cols), the next X (rows*cols), the Gram matrix and its square
 * (min(rows,cols)^2 each). */
static inline size_t muon_scratch_reals(int rows, int cols)
{
    size_t m = (size_t)(rows < cols ? rows : cols);
    return 2 * (size_t)rows * cols + 2 * m * m;
}

/* One Muon step on a (rows, cols) matrix, as torch.optim.Muon:
 *   mom = lerp(mom, grad, 1-beta)
 *   U   = nesterov ? lerp(grad, mom, beta) : mom
 *   X   = U (transposed when rows > cols, so X X^T is the small Gram matrix)
 *   X  /= max(||X||_F, 1e-7)
 *   ns_steps times:  A = X X^T;  Bq = b*A + c*A*A;  X = a*X + Bq*X
 *   param *= 1 - lr*weight_decay
 *   param -= adjusted_lr * X^(T)
 * adjusted_lr = lr*sqrt(max(1, rows/cols)) (lr_adjust 0, "original") or
 * lr*0.2*sqrt(max(rows, cols)) (lr_adjust 1, "match_rms_adamw"). Unlike
 * torch, Newton-Schulz runs in `real` precision, not bf16. */
static inline void muon_update(real *param /* (rows,cols) */, const real *grad /* (rows,cols) */,
                               real *mom /* (rows,cols) */, int rows, int cols, real lr, real beta,
                               int nesterov, int ns_steps, real a, real b, real c,
                               real weight_decay, int lr_adjust, real *scratch)
{
    if (rows <= 0 || cols <= 0) ops_fatal("muon_update: bad shape %d x %d", rows, cols);
    if (lr_adjust != 0 && lr_adjust != 1) ops_fatal("muon_update: lr_adjust %d is not 0 or 1", lr_adjust);
    int tr = rows > cols;
    int m = tr ? cols : rows, n = tr ? rows : cols; /* X is (m, n), m <= n */
    size_t mn = (size_t)m * n;
    real *X = scratch, *Xn = X + mn, *G = Xn + mn, *G2 = G + (size_t)m * m;

#pragma omp parallel for schedule(static) if ((long)mn >= OPS_OMP_MIN)
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < cols; q++) {
            size_t i = (size_t)r * cols + q;
            mom[i] = ops_lerp(mom[i], grad[i], (real)1 - beta);
            real upd = nesterov ? ops_lerp(grad[i], mom[i], beta) : mom[i];
            X[tr ? (size_t)q * rows + r : i] = upd;
        }

    double nrm = sqrt(grad_sq_sum(X, (long)mn));
    real den = (real)(nrm > 1e-7 ? nrm : 1e-7);
#pragma omp parallel for schedule(static) if ((long)mn >= OPS_OMP_MIN)
    for (size_t i = 0; i < mn; i++) X[i] /= den;

    for (int it = 0; it < ns_steps; it++) {
        /* G(m,m) = X X^T */
        memset(G, 0, (size_t)m * m * sizeof(real));
        ops_gemm(m, m, n, X, n, 1, X, 1, n, G, m);
        /* G2 = G G, then G2 <- b*G + c*G2 */
        memset(G2, 0, (size_t)m * m * sizeof(real));
        ops_gemm(m, m, m, G, m, 1, G, m, 1, G2, m);
#pragma omp parallel for schedule(static) if ((long)m * m >= OPS_OMP_MIN)
        for (size_t i = 0; i < (size_t)m * m; i++) G2[i] = b * G[i] + c * G2[i];
        /* Xn = a*X + G2 X */
#pragma omp parallel for schedule(static) if ((long)mn >= OPS_OMP_MIN)
        for (size_t i = 0; i < mn; i++) Xn[i] = a * X[i];
        ops_gemm(m, n, m, G2, m, 1, X, n, 1, Xn, n);
        real *t = X;
        X = Xn;
        Xn = t;
    }

    double adj = lr_adjust == 0
                     ? (double)lr * sqrt(fmax(1.0, (double)rows / (double)cols))
                     : (double)lr * 0.2 * sqrt((double)(rows > cols ? rows : cols));
    real radj = (real)adj, decay = (real)1 - lr * weight_decay;
#pragma omp parallel for schedule(static) if ((long)mn >= OPS_OMP_MIN)
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < cols; q++) {
            size_t i = (size_t)r * cols + q;
            param[i] *= decay;
            param[i] -= radj * X[tr ? (size_t)q * rows + r : i];
        }
}

/* ---- AdamW --------------------------------------------------------------- */

/* torch.optim.AdamW (single-tensor form), step counted from 1:
 *   param *= 1 - lr*wd;  m = lerp(m, g, 1-b1);  v = b2*v + (1-b2)*g^2
 *   param -= (lr / (1-b1^step)) * m / (sqrt(v)/sqrt(1-b2^step) + eps) */
static inline void adamw_update(real *param, const real *grad, real *m, real *v, long n, real lr,
                                real beta1, real beta2, real eps, real weight_decay, long step)
{
    if (step < 1) ops_fatal("adamw_update: step %ld (it counts from 1)", step);
    double bc1 = 1.0 - pow((double)beta1, (double)step);
    double bc2 = 1.0 - pow((double)beta2, (double)step);
    real step_size = (real)((double)lr / bc1);
    real bc2_sqrt = (real)sqrt(bc2);
    real decay = (real)1 - lr * weight_decay;
#pragma omp parallel for schedule(static) if (n >= OPS_OMP_MIN)
    for (long i = 0; i < n; i++) {
        real g = grad[i];
        param[i] *= decay;
        m[i] = ops_lerp(m[i], g, (real)1 - beta1);
        v[i] = v[i] * beta2 + ((real)1 - beta2) * g * g;
        real denom = r_sqrt(v[i]) / bc2_sqrt + eps;
        param[i] += -step_size * (m[i] / denom);
    }
}

#endif /* OPS_OPTIM_H */
