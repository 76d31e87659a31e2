/* softplus.h: dt = softplus(dt_proj(x) + bias), PyTorch's threshold form
 * (beta 1, threshold 20), as the Mamba scan kernel applies it. */
#ifndef OPS_SOFTPLUS_H
#define OPS_SOFTPLUS_H

#include "common.h"

static inline void softplus_forward(real *out, const real *inp, long n)
{
#pragma omp parallel for schedule(static) if (n >= OPS_OMP_MIN)
    for (long i = 0; i < n; i++) {
        real x = inp[i];
        out[i] = x > (real)20 ? x : r_log1p(r_exp(x));
    }
}

/* dinp += dout * sigmoid(inp) (softplus' derivative; 1 above the threshold). */
static inline void softplus_backward(real *dinp, const real *dout, const real *inp, long n)
{
#pragma omp parallel for schedule(static) if (n >= OPS_OMP_MIN)
    for (long i = 0; i < n; i++) {
        real x = inp[i];
        dinp[i] += x > (real)20 ? dout[i] : dout[i] * r_sigmoid(x);
    }
}

#endif /* OPS_SOFTPLUS_H */
