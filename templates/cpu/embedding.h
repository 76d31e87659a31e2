/* embedding.h: token embedding lookup (the table is tied to the LM head).
 *
 *   out[bt, :] = wte[tokens[bt], :]
 *
 * Token ids are validated by the data loader against V before they reach
 * the step; the ops cannot check them (V is not an argument). */
#ifndef OPS_EMBEDDING_H
#define OPS_EMBEDDING_H

#include "common.h"

static inline void embedding_forward(real *out /* (BT,C) */, const int32_t *tokens /* (BT) */,
                                     const real *wte /* (V,C) */, int BT, int C)
{
#pragma omp parallel for schedule(static) if ((long)BT * C >= OPS_OMP_MIN)
    for (int bt = 0; bt < BT; bt++)
        memcpy(out + (size_t)bt * C, wte + (size_t)tokens[bt] * C, (size_t)C * sizeof(real));
}

/* dwte[tokens[bt], :] += dout[bt, :]. Several tokens hit the same row, so the
 * threads split the channels instead of the tokens: each thread owns a column
 * block of dwte and walks all tokens in order, which keeps every row's sum in
 * token order whatever the thread count. */
static inline void embedding_backward(real *dwte /* (V,C) */, const real *dout /* (BT,C) */,
                                      const int32_t *tokens /* (BT) */, int BT, int C)
{
    enum { CB = 64 }; /* channels per block: one or a few cache lines per row */
    int nblk = (C + CB - 1) / CB;
#pragma omp parallel for schedule(static) if ((long)BT * C >= OPS_OMP_MIN)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CB, c1 = ops_imin(C, c0 + CB);
        for (int bt = 0; bt < BT; bt++) {
            real *d = dwte + (size_t)tokens[bt] * C;
            const real *g = dout + (size_t)bt * C;
            for (int c = c0; c < c1; c++) d[c] += g[c];
        }
    }
}

#endif /* OPS_EMBEDDING_H */
