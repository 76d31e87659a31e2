// gemm.cuh: every matrix multiply of the CUDA backend, through cuBLASLt.
//
// Operands are row-major (as PyTorch stores nn.Linear weights); cuBLASLt is
// column-major, so a row-major (M, K) matrix is handed over as the
// column-major (K, M) matrix it is in memory. bf16 operands, fp32
// accumulation, bf16 or fp32 outputs; beta = 1 accumulates into the output
// (gradient accumulation, the residual add). Descriptors and the chosen
// algorithm are cached per shape, so after the first step a call costs one
// cublasLtMatmul, and everything is CUDA-graph capturable.
//
// The algorithm: cuBLASLt's heuristic proposes up to GEMM_CANDIDATES; at a
// shape's first call (outside graph capture) each is timed on the call's own
// operands and the fastest kept. The output is saved first and put back after,
// so an accumulating product (beta = 1 into its own output) is not disturbed.
// GEMM_CANDIDATES = 1 takes the heuristic's first choice untimed.
#pragma once
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common.cuh"

#define CUBLAS_CHECK(call)                                                                                  \
    do {                                                                                                    \
        cublasStatus_t st_ = (call);                                                                        \
        if (st_ != CUBLAS_STATUS_SUCCESS) {                                                                 \
            fprintf(stderr, "%s:%d: cuBLASLt error %d in %s\n", __FILE__, __LINE__, (int)st_, #call);       \
            exit(1);                                                                                        \
        }                                                                                                   \
    } while (0)

struct gemm_key {
    int ta, tb, m, n, k, lda, ldb, ldc, ldd, batch;
    long long sa, sb, sc, sd;
    cudaDataType_t at, bt, ct;
    int beta_nonzero;
};

struct gemm_plan {
    gemm_key key;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c, d;
    cublasLtMatmulAlgo_t algo;
};

#ifndef GEMM_CANDIDATES
#define GEMM_CANDIDATES 8
#endif

struct gemm_ctx {
    cublasLtHandle_t handle;
    void *workspace;
    size_t workspace_bytes;
    gemm_plan plans[256];
    int n_plans;
};

// bytes of a (rows, cols) column-major matrix with leading dimension ld, strided-batched
static size_t gemm_matrix_bytes(cudaDataType_t t, int rows, int cols, int ld, int batch, long long stride) {
    const size_t es = t == CUDA_R_32F ? 4 : 2;
    const size_t one = ((size_t)ld * (cols - 1) + rows) * es;
    return batch > 1 ? (size_t)stride * es * (batch - 1) + one : one;
}

static void gemm_init(gemm_ctx *g, void *workspace, size_t workspace_bytes) {
    memset(g, 0, sizeof *g);
    CUBLAS_CHECK(cublasLtCreate(&g->handle));
    g->workspace = workspace;
    g->workspace_bytes = workspace_bytes;
}

static void gemm_destroy(gemm_ctx *g) {
    for (int i = 0; i < g->n_plans; i++) {
        gemm_plan *p = &g->plans[i];
        cublasLtMatrixLayoutDestroy(p->a);
        cublasLtMatrixLayoutDestroy(p->b);
        cublasLtMatrixLayoutDestroy(p->c);
        cublasLtMatrixLayoutDestroy(p->d);
        cublasLtMatmulDescDestroy(p->op);
    }
    cublasLtDestroy(g->handle);
}

static cublasLtMatrixLayout_t gemm_layout(cudaDataType_t t, int rows, int cols, int ld, int batch, long long stride) {
    cublasLtMatrixLayout_t l;
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, t, rows, cols, ld));
    if (batch > 1) {
        CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch));
        CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
    }
    return l;
}

// Runs D = alpha op(A) op(B) + beta C with each candidate algorithm (one
// warm-up, then the mean of 3) and returns the index of the fastest.
static int gemm_pick(gemm_ctx *g, gemm_plan *p, const cublasLtMatmulHeuristicResult_t *res, int found, const void *A,
                     const void *B, float beta, const void *C, void *D, float alpha, cudaStream_t st) {
    const gemm_key *k = &p->key;
    const size_t dbytes = gemm_matrix_bytes(k->ct, k->m, k->n, k->ldd, k->batch, k->sd);
    void *saved = NULL;
    if (cudaMalloc(&saved, dbytes) != cudaSuccess) {  // no room to time them: the heuristic's first choice
        (void)cudaGetLastError();
        return 0;
    }
    CUDA_CHECK(cudaMemcpyAsync(saved, D, dbytes, cudaMemcpyDeviceToDevice, st));
    cudaEvent_t e0, e1;
    CUDA_CHECK(cudaEventCreate(&e0));
    CUDA_CHECK(cudaEventCreate(&e1));
    int best = 0;
    float best_ms = 1e30f;
    for (int i = 0; i < found; i++) {
        if (res[i].state != CUBLAS_STATUS_SUCCESS) continue;
        cublasStatus_t ok = cublasLtMatmul(g->handle, p->op, &alpha, A, p->a, B, p->b, &beta, C, p->c, D, p->d, &res[i].algo,
                                           g->workspace, g->workspace_bytes, st);
        if (ok != CUBLAS_STATUS_SUCCESS) continue;  // this candidate cannot run these operands: skip it
        CUDA_CHECK(cudaEventRecord(e0, st));
        for (int r = 0; r < 3; r++)
            CUBLAS_CHECK(cublasLtMatmul(g->handle, p->op, &alpha, A, p->a, B, p->b, &beta, C, p->c, D, p->d, &res[i].algo,
                                        g->workspace, g->workspace_bytes, st));
        CUDA_CHECK(cudaEventRecord(e1, st));
        CUDA_CHECK(cudaEventSynchronize(e1));
        float ms = 0;
        CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
        // the same result on a copy restored each time: the output of an
        // accumulating product was changed by the runs above
        CUDA_CHECK(cudaMemcpyAsync(D, saved, dbytes, cudaMemcpyDeviceToDevice, st));
        if (ms < best_ms) best_ms = ms, best = i;
    }
    CUDA_CHECK(cudaStreamSynchronize(st));
    CUDA_CHECK(cudaEventDestroy(e0));
    CUDA_CHECK(cudaEventDestroy(e1));
    CUDA_CHECK(cudaFree(saved));
    return best;
}

static gemm_plan *gemm_plan_for(gemm_ctx *g, const gemm_key *k, const void *A, const void *B, float beta, const void *C,
                                void *D, float alpha, cudaStream_t st) {
    for (int i = 0; i < g->n_plans; i++)
        if (!memcmp(&g->plans[i].key, k, sizeof *k)) return &g->plans[i];
    if (g->n_plans == 256) {
        fprintf(stderr, "%s:%d: more than 256 GEMM shapes\n", __FILE__, __LINE__);
        exit(1);
    }
    gemm_plan *p = &g->plans[g->n_plans++];
    p->key = *k;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = k->ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb = k->tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    // stored shapes: op(A) is (m, k), op(B) is (k, n)
    p->a = gemm_layout(k->at, k->ta ? k->k : k->m, k->ta ? k->m : k->k, k->lda, k->batch, k->sa);
    p->b = gemm_layout(k->bt, k->tb ? k->n : k->k, k->tb ? k->k : k->n, k->ldb, k->batch, k->sb);
    p->c = gemm_layout(k->ct, k->m, k->n, k->ldc, k->batch, k->sc);
    p->d = gemm_layout(k->ct, k->m, k->n, k->ldd, k->batch, k->sd);
    cublasLtMatmulPreference_t pref;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &g->workspace_bytes,
                                                      sizeof g->workspace_bytes));
    cublasLtMatmulHeuristicResult_t res[GEMM_CANDIDATES];
    int found = 0;
    CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(g->handle, p->op, p->a, p->b, p->c, p->d, pref, GEMM_CANDIDATES, res, &found));
    cublasLtMatmulPreferenceDestroy(pref);
    if (!found) {
        fprintf(stderr, "%s:%d: cuBLASLt has no algorithm for m=%d n=%d k=%d (ta=%d tb=%d)\n", __FILE__, __LINE__, k->m, k->n,
                k->k, k->ta, k->tb);
        exit(1);
    }
    int pick = 0;
    cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    CUDA_CHECK(cudaStreamIsCapturing(st, &cap));
    if (found > 1 && cap == cudaStreamCaptureStatusNone) pick = gemm_pick(g, p, res, found, A, B, beta, C, D, alpha, st);
    p->algo = res[pick].algo;
    return p;
}

// D = alpha * op(A) op(B) + beta * C, column-major, optionally strided-batched.
static void gemm_raw(gemm_ctx *g, int ta, int tb, int m, int n, int k, const void *A, cudaDataType_t at, int lda, long long sa,
                     const void *B, cudaDataType_t bt, int ldb, long long sb, float beta, const void *C, int ldc, long long sc,
                     void *D, cudaDataType_t ct, int ldd, long long sd, int batch, float alpha, cudaStream_t st) {
    gemm_key key;
    memset(&key, 0, sizeof key);
    key.ta = ta, key.tb = tb, key.m = m, key.n = n, key.k = k, key.lda = lda, key.ldb = ldb, key.ldc = ldc, key.ldd = ldd;
    key.batch = batch, key.sa = sa, key.sb = sb, key.sc = sc, key.sd = sd, key.at = at, key.bt = bt, key.ct = ct;
    key.beta_nonzero = beta != 0.0f;
    gemm_plan *p = gemm_plan_for(g, &key, A, B, beta, C ? C : D, D, alpha, st);
    CUBLAS_CHECK(cublasLtMatmul(g->handle, p->op, &alpha, A, p->a, B, p->b, &beta, C ? C : D, p->c, D, p->d, &p->algo,
                                g->workspace, g->workspace_bytes, st));
}

// ---- the three products of a linear layer y = x W^T (row-major) -----------
// x (M, K) ld ldx; W (N, K); y (M, N) ld ldy.

// forward: y = x W^T (+ beta * c, which may be a different buffer: the residual add)
static void linear_fwd(gemm_ctx *g, void *y, cudaDataType_t yt, int ldy, const bf16 *x, int ldx, const bf16 *W, int M, int K, int N,
                       float beta, const void *c, cudaStream_t st) {
    gemm_raw(g, 1, 0, N, M, K, W, CUDA_R_16BF, K, 0, x, CUDA_R_16BF, ldx, 0, beta, c, ldy, 0, y, yt, ldy, 0, 1, 1.0f, st);
}

// input gradient: dx (M, K) = dy (M, N) W (N, K) (+ beta * dx)
static void linear_bwd_x(gemm_ctx *g, void *dx, cudaDataType_t dxt, int lddx, const bf16 *dy, int lddy, const bf16 *W, int M, int K,
                         int N, float beta, cudaStream_t st) {
    gemm_raw(g, 0, 0, K, M, N, W, CUDA_R_16BF, K, 0, dy, CUDA_R_16BF, lddy, 0, beta, dx, lddx, 0, dx, dxt, lddx, 0, 1, 1.0f, st);
}

// weight gradient, accumulated in fp32: dW (N, K) += dy^T (N, M) x (M, K)
static void linear_bwd_w(gemm_ctx *g, float *dW, const bf16 *dy, int lddy, const bf16 *x, int ldx, int M, int K, int N,
                         cudaStream_t st) {
    gemm_raw(g, 0, 1, K, N, M, x, CUDA_R_16BF, ldx, 0, dy, CUDA_R_16BF, lddy, 0, 1.0f, dW, K, 0, dW, CUDA_R_32F, K, 0, 1, 1.0f, st);
}

// ---- Newton-Schulz, batched over `count` matrices of one shape ------------
// Each matrix is row-major (r, c) = column-major M (p = c, q = r); NS commutes
// with transposition, so it runs on M as stored: for p <= q, A = M M^T (p, p)
// and M' = a M + (b A + c A A) M; for p > q, A = M^T M (q, q) and
// M' = a M + M (b A + c A A). X and X2 ping-pong; A, AA are (count, k, k).
static void newton_schulz(gemm_ctx *g, bf16 *X, bf16 *X2, bf16 *A, bf16 *AA, int count, int r, int c, int steps, float ca,
                          float cb, float cc, cudaStream_t st) {
    const int p = c, q = r, k = p <= q ? p : q;
    const long long sm = (long long)p * q, sk = (long long)k * k;
    for (int s = 0; s < steps; s++) {
        if (p <= q) gemm_raw(g, 0, 1, p, p, q, X, CUDA_R_16BF, p, sm, X, CUDA_R_16BF, p, sm, 0.f, NULL, p, sk, A, CUDA_R_16BF, p, sk, count, 1.f, st);
        else gemm_raw(g, 1, 0, q, q, p, X, CUDA_R_16BF, p, sm, X, CUDA_R_16BF, p, sm, 0.f, NULL, q, sk, A, CUDA_R_16BF, q, sk, count, 1.f, st);
        // AA = cc * A A + cb * A
        gemm_raw(g, 0, 0, k, k, k, A, CUDA_R_16BF, k, sk, A, CUDA_R_16BF, k, sk, cb, A, k, sk, AA, CUDA_R_16BF, k, sk, count, cc, st);
        // X2 = X * AA (p > q) or AA * X (p <= q), plus ca * X
        if (p <= q) gemm_raw(g, 0, 0, p, q, p, AA, CUDA_R_16BF, p, sk, X, CUDA_R_16BF, p, sm, ca, X, p, sm, X2, CUDA_R_16BF, p, sm, count, 1.f, st);
        else gemm_raw(g, 0, 0, p, q, q, X, CUDA_R_16BF, p, sm, AA, CUDA_R_16BF, q, sk, ca, X, p, sm, X2, CUDA_R_16BF, p, sm, count, 1.f, st);
        bf16 *t = X;
        X = X2;
        X2 = t;
    }
    // an odd number of steps leaves the result in the second buffer: copy back
    if (steps % 2) CUDA_CHECK(cudaMemcpyAsync(X2, X, sizeof(bf16) * (size_t)count * sm, cudaMemcpyDeviceToDevice, st));
}
