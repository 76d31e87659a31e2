/* matmul.h: nn.Linear forward/backward on row-strided activations, and the
 * blocked GEMM (ops_gemm) the LM head and Muon's Newton-Schulz also use.
 *
 *   out[bt, o] = bias[o] + sum_i inp[bt, i] * weight[o, i]     weight (OC, IC)
 *
 * Activations carry a row stride (ld*) because in_proj's output (BT, 2E) is
 * read as its x and z halves and x_proj's output (BT, R+2N) as dt_low, B, C.
 *
 * The GEMM follows the usual packed-panel scheme: B is packed into column
 * panels of OPS_NR (k-major), A into row panels of OPS_MR, and a register-
 * tile micro-kernel walks a KC-deep slice. Every C element is loaded once per
 * slice and its products are added in increasing k, so each output is the
 * plain sequential sum c + a0*b0 + a1*b1 + ... (fused where the CPU has FMA)
 * whatever the blocking or the thread count. */
#ifndef OPS_MATMUL_H
#define OPS_MATMUL_H

#include "common.h"
#if defined(__SSE2__) || defined(__AVX__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

/* ---- SIMD vocabulary ----------------------------------------------------
 * GCC vector extensions give portable vector arithmetic; the FMA goes
 * through intrinsics because -std=c11 turns off contraction of a*b+c. */
#if defined(__AVX512F__)
#define OPS_VBYTES 64
#define OPS_MR_ 8 /* 8 x 2 accumulators + operands fit the 32 zmm registers */
#define OPS_NV_ 2
#elif defined(__AVX__)
#define OPS_VBYTES 32
#define OPS_MR_ 6 /* 6 x 2 accumulators of the 16 ymm registers */
#define OPS_NV_ 2
#else
#define OPS_VBYTES 16
#define OPS_MR_ 4
#define OPS_NV_ 2
#endif
/* micro-tile: OPS_MR rows x OPS_NV vectors (overridable for tuning) */
#ifndef OPS_MR
#define OPS_MR OPS_MR_
#endif
#ifndef OPS_NV
#define OPS_NV OPS_NV_
#endif
typedef real ops_vec __attribute__((vector_size(OPS_VBYTES)));
#define OPS_VL ((int)(OPS_VBYTES / sizeof(real))) /* lanes */
#define OPS_NR (OPS_NV * OPS_VL)                  /* micro-tile columns */

static inline ops_vec ops_vfma(ops_vec a, ops_vec b, ops_vec c)
{
#if OPS_VBYTES == 64 && !OPS_REAL_IS_DOUBLE
    return (ops_vec)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#elif OPS_VBYTES == 64
    return (ops_vec)_mm512_fmadd_pd((__m512d)a, (__m512d)b, (__m512d)c);
#elif OPS_VBYTES == 32 && defined(__FMA__) && !OPS_REAL_IS_DOUBLE
    return (ops_vec)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#elif OPS_VBYTES == 32 && defined(__FMA__)
    return (ops_vec)_mm256_fmadd_pd((__m256d)a, (__m256d)b, (__m256d)c);
#else
    return a * b + c;
#endif
}

/* broadcast; intrinsics because GCC builds a lane-by-lane loop with inserts */
static inline ops_vec ops_vset1(real x)
{
#if OPS_VBYTES == 64 && !OPS_REAL_IS_DOUBLE
    return (ops_vec)_mm512_set1_ps(x);
#elif OPS_VBYTES == 64
    return (ops_vec)_mm512_set1_pd(x);
#elif OPS_VBYTES == 32 && !OPS_REAL_IS_DOUBLE
    return (ops_vec)_mm256_set1_ps(x);
#elif OPS_VBYTES == 32
    return (ops_vec)_mm256_set1_pd(x);
#elif defined(__SSE2__) && !OPS_REAL_IS_DOUBLE
    return (ops_vec)_mm_set1_ps(x);
#elif defined(__SSE2__)
    return (ops_vec)_mm_set1_pd(x);
#else
    ops_vec v;
    for (int l = 0; l < OPS_VL; l++) v[l] = x;
    return v;
#endif
}

/* C[0:OPS_MR, 0:OPS_NR] (row stride ldc) += Ap * Bp over kc, with Ap one packed
 * A panel (kc, OPS_MR) and Bp one packed B panel (kc, OPS_NR). */
static inline void ops_gemm_kernel(int kc, const real *restrict ap, const real *restrict bp,
                                   real *restrict c, long ldc)
{
    ops_vec acc[OPS_MR][OPS_NV];
#pragma GCC unroll 16
    for (int i = 0; i < OPS_MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < OPS_NV; v++)
            memcpy(&acc[i][v], c + i * ldc + v * OPS_VL, sizeof(ops_vec));
    for (int k = 0; k < kc; k++) {
        ops_vec b[OPS_NV];
#pragma GCC unroll 4
        for (int v = 0; v < OPS_NV; v++)
            b[v] = *(const ops_vec *)(bp + (size_t)k * OPS_NR + v * OPS_VL);
#pragma GCC unroll 16
        for (int i = 0; i < OPS_MR; i++) {
            ops_vec a = ops_vset1(ap[(size_t)k * OPS_MR + i]);
#pragma GCC unroll 4
            for (int v = 0; v < OPS_NV; v++) acc[i][v] = ops_vfma(a, b[v], acc[i][v]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < OPS_MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < OPS_NV; v++)
            memcpy(c + i * ldc + v * OPS_VL, &acc[i][v], sizeof(ops_vec));
}

/* Edge tiles (mr < OPS_MR or nr < OPS_NR) go through a full local tile. */
static inline void ops_gemm_kernel_edge(int kc, const real *ap, const real *bp, real *c, long ldc,
                                        int mr, int nr)
{
    real t[OPS_MR * OPS_NR] __attribute__((aligned(64)));
    memset(t, 0, sizeof t);
    for (int i = 0; i < mr; i++) memcpy(t + i * OPS_NR, c + i * ldc, (size_t)nr * sizeof(real));
    ops_gemm_kernel(kc, ap, bp, t, OPS_NR);
    for (int i = 0; i < mr; i++) memcpy(c + i * ldc, t + i * OPS_NR, (size_t)nr * sizeof(real));
}

/* Packs B(k, j) for k < kc, j < nr (zero columns up to OPS_NR) as (kc, OPS_NR). */
static inline void ops_pack_b(real *restrict bp, const real *B, long rsb, long csb, int kc, int nr)
{
    if (csb == 1) {
        for (int k = 0; k < kc; k++) {
            const real *src = B + k * rsb;
            real *dst = bp + (size_t)k * OPS_NR;
            for (int j = 0; j < nr; j++) dst[j] = src[j];
            for (int j = nr; j < OPS_NR; j++) dst[j] = 0;
        }
    } else { /* B is a transposed view: read along k, which is contiguous */
        for (int j = 0; j < nr; j++) {
            const real *src = B + j * csb;
            for (int k = 0; k < kc; k++) bp[(size_t)k * OPS_NR + j] = src[k * rsb];
        }
        for (int k = 0; k < kc; k++)
            for (int j = nr; j < OPS_NR; j++) bp[(size_t)k * OPS_NR + j] = 0;
    }
}

/* Packs A(i, k) for i < mr, k < kc (zero rows up to OPS_MR) as (kc, OPS_MR). */
static inline void ops_pack_a(real *restrict ap, const real *A, long rsa, long csa, int kc, int mr)
{
    if (rsa == 1) { /* A is a transposed view: rows are contiguous per k */
        for (int k = 0; k < kc; k++) {
            const real *src = A + k * csa;
            real *dst = ap + (size_t)k * OPS_MR;
            for (int i = 0; i < mr; i++) dst[i] = src[i];
            for (int i = mr; i < OPS_MR; i++) dst[i] = 0;
        }
    } else {
        for (int i = 0; i < mr; i++) {
            const real *src = A + i * rsa;
            for (int k = 0; k < kc; k++) ap[(size_t)k * OPS_MR + i] = src[k * csa];
        }
        for (int k = 0; k < kc; k++)
            for (int i = mr; i < OPS_MR; i++) ap[(size_t)k * OPS_MR + i] = 0;
    }
}

/* C(M,N) += A(M,K) * B(K,N). Element (i,k) of A is A[i*rsa + k*csa], element
 * (k,j) of B is B[k*rsb + j*csb] (so transposed operands are just strides),
 * C has row stride ldc and must not overlap A or B. Threads split C into
 * (MC rows x JG columns) tiles, so each C element has one owner. */
static inline void ops_gemm(int M, int N, int K, const real *A, long rsa, long csa, const real *B,
                            long rsb, long csb, real *C, long ldc)
{
    enum {
        KC = 256,            /* depth of a slice: one B panel (KC x NR) stays in L1 */
        MC = (96 + OPS_MR - 1) / OPS_MR * OPS_MR, /* rows of A packed per tile (in L2) */
        JG = 8 * OPS_NR,     /* columns per tile */
        NC = 8 * JG          /* columns of B packed per slice (in L2/L3) */
    };
    if (M <= 0 || N <= 0 || K <= 0) return;
    int ncmax = ops_imin(N, NC);
    int kcmax = ops_imin(K, KC);
    size_t bp_len = (size_t)kcmax * ((ncmax + OPS_NR - 1) / OPS_NR) * OPS_NR;
    real *bp = (real *)ops_alloc(bp_len * sizeof(real), "ops_gemm");
    int par = (double)M * N * K >= 64.0 * OPS_OMP_MIN;
#pragma omp parallel if (par)
    {
        real *ap = (real *)ops_alloc((size_t)MC * kcmax * sizeof(real), "ops_gemm");
        for (int jc = 0; jc < N; jc += NC) {
            int nc = ops_imin(NC, N - jc);
            int npanel = (nc + OPS_NR - 1) / OPS_NR;
            for (int pc = 0; pc < K; pc += KC) {
                int kc = ops_imin(KC, K - pc);
#pragma omp for schedule(static)
                for (int p = 0; p < npanel; p++)
                    ops_pack_b(bp + (size_t)p * kc * OPS_NR, B + pc * rsb + (long)(jc + p * OPS_NR) * csb,
                               rsb, csb, kc, ops_imin(OPS_NR, nc - p * OPS_NR));
                int nmb = (M + MC - 1) / MC, njg = (nc + JG - 1) / JG;
#pragma omp for schedule(static)
                for (int tile = 0; tile < nmb * njg; tile++) {
                    int ic = (tile / njg) * MC, mc = ops_imin(MC, M - ic);
                    int jg = (tile % njg) * JG, jn = ops_imin(JG, nc - jg);
                    for (int ir = 0; ir < mc; ir += OPS_MR)
                        ops_pack_a(ap + (size_t)ir * kc, A + (long)(ic + ir) * rsa + pc * csa, rsa, csa,
                                   kc, ops_imin(OPS_MR, mc - ir));
                    for (int jr = jg; jr < jg + jn; jr += OPS_NR) {
                        int nr = ops_imin(OPS_NR, nc - jr);
                        const real *bpp = bp + (size_t)(jr / OPS_NR) * kc * OPS_NR;
                        for (int ir = 0; ir < mc; ir += OPS_MR) {
                            int mr = ops_imin(OPS_MR, mc - ir);
                            real *c = C + (long)(ic + ir) * ldc + jc + jr;
                            if (mr == OPS_MR && nr == OPS_NR)
                                ops_gemm_kernel(kc, ap + (size_t)ir * kc, bpp, c, ldc);
                            else
                                ops_gemm_kernel_edge(kc, ap + (size_t)ir * kc, bpp, c, ldc, mr, nr);
                        }
                    }
                }
            }
        }
        free(ap);
    }
    free(bp);
}

/* ---- nn.Linear --------------------------------------------------------- */

static inline void matmul_forward(real *out /* (BT,OC) row stride ldo */, int ldo,
                                  const real *inp /* (BT,IC) row stride ldi */, int ldi,
                                  const real *weight /* (OC,IC) contiguous */,
                                  const real *bias /* (OC) or NULL */, int BT, int IC, int OC)
{
#pragma omp parallel for schedule(static) if ((long)BT * OC >= OPS_OMP_MIN)
    for (int bt = 0; bt < BT; bt++) {
        real *o = out + (size_t)bt * ldo;
        if (bias) memcpy(o, bias, (size_t)OC * sizeof(real));
        else memset(o, 0, (size_t)OC * sizeof(real));
    }
    /* out(BT,OC) += inp(BT,IC) * weight^T: weight read as a (IC,OC) view */
    ops_gemm(BT, OC, IC, inp, ldi, 1, weight, 1, IC, out, ldo);
}

/* dinp(BT,IC) += dout @ weight; dweight(OC,IC) += dout^T @ inp;
 * dbias(OC) += column sums of dout. dinp and dbias may be NULL. */
static inline void matmul_backward(real *dinp /* (BT,IC) stride lddi, or NULL */, int lddi,
                                   real *dweight /* (OC,IC) */, real *dbias /* (OC) or NULL */,
                                   const real *dout /* (BT,OC) stride lddo */, int lddo,
                                   const real *inp /* (BT,IC) stride ldi */, int ldi,
                                   const real *weight /* (OC,IC) */, int BT, int IC, int OC)
{
    if (dinp) ops_gemm(BT, IC, OC, dout, lddo, 1, weight, IC, 1, dinp, lddi);
    ops_gemm(OC, IC, BT, dout, 1, lddo, inp, ldi, 1, dweight, IC);
    if (dbias) {
        enum { OB = 64 };
        int nblk = (OC + OB - 1) / OB;
#pragma omp parallel for schedule(static) if ((long)BT * OC >= OPS_OMP_MIN)
        for (int blk = 0; blk < nblk; blk++) {
            int o0 = blk * OB, n = ops_imin(OC, o0 + OB) - o0;
            double acc[OB] = {0}; /* sums over B*T tokens */
            for (int bt = 0; bt < BT; bt++) {
                const real *g = dout + (size_t)bt * lddo + o0;
                for (int o = 0; o < n; o++) acc[o] += g[o];
            }
            for (int o = 0; o < n; o++) dbias[o0 + o] += (real)acc[o];
        }
    }
}

#endif /* OPS_MATMUL_H */
