/* lmhead_xent.h: tied LM head + softmax cross-entropy, in chunks of tokens.
 *
 *   logits[bt, v] = sum_c inp[bt, c] * wte[v, c]          (Vp columns, padded vocab)
 *   nll[bt]       = logsumexp_v(logits[bt, :]) - logits[bt, targets[bt]]
 *   loss          = sum_bt mask[bt] * nll[bt]             (returned, double)
 *
 * The softmax runs over all Vp columns, padding included, as mamba_ssm and HF
 * do. LMHEAD_CHUNK tokens at a time, so the (BT, Vp) logits never exist
 * whole: each chunk's logits are turned in place into their gradient
 * dscale*mask*(softmax - onehot), which feeds the two backward GEMMs. */
#ifndef OPS_LMHEAD_XENT_H
#define OPS_LMHEAD_XENT_H

#include "common.h"
#include "matmul.h"

#define LMHEAD_CHUNK 64

static inline size_t lmhead_scratch_reals(int Vp) { return (size_t)LMHEAD_CHUNK * Vp; }

/* Returns sum_bt mask*nll. When dinp or dwte is non-NULL, accumulates the
 * gradients of dscale * (that sum) into them; with both NULL (evaluation) no
 * backward work is done. mask NULL means all ones; a token with mask 0 adds
 * nothing and its target is not read. scratch: lmhead_scratch_reals(Vp). */
static inline double lmhead_xent_forward_backward(real *dinp /* (BT,C) or NULL */,
                                                  real *dwte /* (Vp,C) or NULL */,
                                                  const real *inp /* (BT,C) */,
                                                  const real *wte /* (Vp,C) */,
                                                  const int32_t *targets /* (BT) */,
                                                  const real *mask /* (BT) or NULL */, int BT,
                                                  int C, int Vp, real dscale, real *scratch)
{
    int backward = dinp != NULL || dwte != NULL;
    double loss = 0.0;
    for (int bt = 0; bt < BT; bt++)
        if ((!mask || mask[bt] != 0) && (targets[bt] < 0 || targets[bt] >= Vp))
            ops_fatal("lmhead_xent_forward_backward: target %d of token %d outside [0, %d)",
                      (int)targets[bt], bt, Vp);
    for (int c0 = 0; c0 < BT; c0 += LMHEAD_CHUNK) {
        int n = ops_imin(LMHEAD_CHUNK, BT - c0);
        real *logits = scratch; /* (n, Vp) */
        memset(logits, 0, (size_t)n * Vp * sizeof(real));
        ops_gemm(n, Vp, C, inp + (size_t)c0 * C, C, 1, wte, 1, C, logits, Vp);
        double nll[LMHEAD_CHUNK];
#pragma omp parallel for schedule(static) if ((long)n * Vp >= OPS_OMP_MIN)
        for (int i = 0; i < n; i++) {
            int bt = c0 + i;
            real m = mask ? mask[bt] : (real)1;
            real *row = logits + (size_t)i * Vp;
            if (m == 0) {
                nll[i] = 0.0;
                if (backward) memset(row, 0, (size_t)Vp * sizeof(real));
                continue;
            }
            int tgt = targets[bt];
            real mx = row[0];
            for (int v = 1; v < Vp; v++) mx = row[v] > mx ? row[v] : mx;
            real lt = row[tgt];
            double sum = 0.0; /* Vp terms in (0, 1]: double */
            for (int v = 0; v < Vp; v++) {
                real ev = r_exp(row[v] - mx);
                sum += ev;
                if (backward) row[v] = ev;
            }
            double lse = (double)mx + log(sum);
            nll[i] = (double)m * (lse - (double)lt);
            if (backward) {
                real s = (real)((double)dscale * m / sum);
                for (int v = 0; v < Vp; v++) row[v] *= s;
                row[tgt] -= dscale * m;
            }
        }
        for (int i = 0; i < n; i++) loss += nll[i];
        if (!backward) continue;
        /* dinp(n,C) += dlogits(n,Vp) @ wte(Vp,C) */
        if (dinp) ops_gemm(n, C, Vp, logits, Vp, 1, wte, C, 1, dinp + (size_t)c0 * C, C);
        /* dwte(Vp,C) += dlogits^T(Vp,n) @ inp(n,C) */
        if (dwte) ops_gemm(Vp, C, n, logits, 1, Vp, inp + (size_t)c0 * C, C, 1, dwte, C);
    }
    return loss;
}

/* Full logits (BT, Vp), for tests and generation. Returns 0. */
static inline double lmhead_logits(real *logits /* (BT,Vp) */, const real *inp /* (BT,C) */,
                                   const real *wte /* (Vp,C) */, int BT, int C, int Vp)
{
    memset(logits, 0, (size_t)BT * Vp * sizeof(real));
    ops_gemm(BT, Vp, C, inp, C, 1, wte, 1, C, logits, Vp);
    return 0.0;
}

#endif /* OPS_LMHEAD_XENT_H */
