/* check_ops.c: the CPU op library (the headers in templates/cpu/), in double precision.
 *
 * Every backward is checked against central finite differences of a scalar
 * loss L = sum(out * W) (W random, so dout = W) on fresh random inputs, with
 * the gradient buffers pre-filled with random values to check that backward
 * passes accumulate (+=) and leave the gaps of row-strided buffers alone.
 * Forwards are checked against naive loops written here from the formulas,
 * the optimizers against a plain Muon and a hand-computed AdamW example, and
 * every op against itself at 1, 2 and 3 OpenMP threads (bit-identical).
 *
 * Build alone: cc -std=c11 -D_GNU_SOURCE -fopenmp -O2 -Wall -Wextra
 *   -Wno-unused-parameter tests/check_ops.c -o /tmp/check_ops
 *   $(pkg-config --libs check) -lm */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#define REAL double
/* run every parallel loop in parallel even on the tiny shapes used here, so
 * the thread-count tests exercise the split */
#define OPS_OMP_MIN 1
#include "../templates/cpu/common.h"
#include "../templates/cpu/embedding.h"
#include "../templates/cpu/rmsnorm.h"
#include "../templates/cpu/matmul.h"
#include "../templates/cpu/conv1d.h"
#include "../templates/cpu/softplus.h"
#include "../templates/cpu/scan.h"
#include "../templates/cpu/lmhead_xent.h"
#include "../templates/cpu/optim.h"
#include "../templates/cpu/init.h"

#include <check.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/wait.h>

/* ------------------------------------------------------------------------
 * Helpers */

static rng_t trng; /* test inputs; each test reseeds it */

static double *rnd(long n, double lo, double hi)
{
    double *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    ck_assert_ptr_nonnull(p);
    for (long i = 0; i < n; i++) p[i] = lo + (hi - lo) * rng_uniform(&trng);
    return p;
}

static double *dup_arr(const double *p, long n)
{
    double *q = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    ck_assert_ptr_nonnull(q);
    memcpy(q, p, (size_t)n * sizeof(double));
    return q;
}

static double dot(const double *a, const double *b, long n)
{
    double s = 0;
    for (long i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Finite differences: double precision, central difference with step
 * h = 1e-6. The truncation error is ~h^2*|L'''|/6 ~ 1e-12. The rounding
 * error is ~eps*|L|/h: L carries ~1e-16*|L| of rounding, divided by 2h, so
 * ~1e-10*|L| absolute. Analytic and numeric gradients of size O(0.01..1)
 * therefore agree to ~1e-8 relative; we require a relative 1e-6 (two orders
 * of margin, and still far below any real error, which is O(1) relative),
 * plus an absolute floor of 2e-9*(1+|L|) (20x the rounding noise) for the
 * entries whose gradient is nearly zero. */
#define FD_H 1e-6
#define FD_RTOL 1e-6
#define FD_ATOL_L 2e-9

static int close_fd(double a, double n, double L)
{
    return fabs(a - n) <= FD_RTOL * (fabs(a) + fabs(n)) + FD_ATOL_L * (1 + fabs(L));
}

typedef double (*loss_fn)(void *ctx);

/* Perturbs x[r*ldx + c] (r < rows, c < width) one at a time and compares
 * the numeric gradient with g[r*ldg + c]. Returns the number of mismatches
 * and reports the first. */
static int fd_mismatches(const char *what, loss_fn f, void *ctx, double *x, int rows, int width,
                         long ldx, const double *g, long ldg)
{
    int bad = 0;
    double L0 = f(ctx);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < width; c++) {
            double *p = x + (long)r * ldx + c, save = *p;
            *p = save + FD_H;
            double lp = f(ctx);
            *p = save - FD_H;
            double lm = f(ctx);
            *p = save;
            double num = (lp - lm) / (2 * FD_H), ana = g[(long)r * ldg + c];
            if (!close_fd(ana, num, L0)) {
                if (!bad)
                    fprintf(stderr, "FD mismatch %s[%d,%d]: analytic %.12g numeric %.12g\n", what, r, c,
                            ana, num);
                bad++;
            }
        }
    return bad;
}

#define FD_CHECK(what, f, ctx, x, rows, width, ldx, g, ldg)                                        \
    ck_assert_msg(fd_mismatches(what, f, ctx, x, rows, width, ldx, g, ldg) == 0,                   \
                  "gradient of %s disagrees with finite differences (see stderr)", what)

/* grad buffer after backward minus its pre-filled value */
static double *delta_of(const double *after, const double *before, long n)
{
    double *d = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    ck_assert_ptr_nonnull(d);
    for (long i = 0; i < n; i++) d[i] = after[i] - before[i];
    return d;
}

/* Entries outside the (rows, width) view of a strided buffer must be unchanged. */
static void assert_gaps_untouched(const char *what, const double *after, const double *before,
                                  int rows, int width, long ld, int offset)
{
    for (int r = 0; r < rows; r++)
        for (long c = 0; c < ld; c++) {
            if (c >= offset && c < offset + width) continue;
            long i = (long)r * ld + c;
            ck_assert_msg(after[i] == before[i], "%s: gap entry [%d,%ld] written", what, r, c);
        }
}

static void assert_close(const char *what, const double *a, const double *b, long n, double tol)
{
    for (long i = 0; i < n; i++)
        ck_assert_msg(fabs(a[i] - b[i]) <= tol * (1 + fabs(b[i])), "%s[%ld]: %.15g vs %.15g", what, i,
                      a[i], b[i]);
}

/* Runs fn in a child with stderr captured; it must exit(1) with a message
 * containing needle. */
static void expect_fatal(void (*fn)(void), const char *needle)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    char buf[1024];
    size_t len = 0;
    ssize_t k;
    while (len < sizeof buf - 1 && (k = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)k;
    buf[len] = 0;
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "expected exit status 1, message '%s'", buf);
    ck_assert_msg(strstr(buf, needle) != NULL, "message '%s' lacks '%s'", buf, needle);
    ck_assert_msg(strstr(buf, "templates/cpu") != NULL, "message '%s' does not name the file", buf);
}

/* ------------------------------------------------------------------------
 * Embedding */

typedef struct {
    int32_t *tok;
    double *wte, *W;
    int BT, C;
} emb_ctx;

static double emb_loss(void *p)
{
    emb_ctx *c = p;
    double *out = malloc(sizeof(double) * c->BT * c->C);
    embedding_forward(out, c->tok, c->wte, c->BT, c->C);
    double l = dot(out, c->W, (long)c->BT * c->C);
    free(out);
    return l;
}

START_TEST(test_embedding)
{
    rng_seed(&trng, 1, 1);
    int V = 6, C = 70, BT = 9; /* C > 64: two channel blocks in the backward */
    int32_t tok[9] = {3, 0, 5, 3, 3, 1, 5, 2, 0};
    emb_ctx c = {tok, rnd((long)V * C, -1, 1), rnd((long)BT * C, -1, 1), BT, C};
    double *out = malloc(sizeof(double) * BT * C);
    embedding_forward(out, tok, c.wte, BT, C);
    for (int bt = 0; bt < BT; bt++)
        for (int k = 0; k < C; k++) ck_assert(out[bt * C + k] == c.wte[tok[bt] * C + k]);
    double *g0 = rnd((long)V * C, -1, 1), *g = dup_arr(g0, (long)V * C);
    embedding_backward(g, c.W, tok, BT, C);
    double *dg = delta_of(g, g0, (long)V * C);
    FD_CHECK("dwte", emb_loss, &c, c.wte, V, C, C, dg, C);
    free(out), free(g0), free(g), free(dg), free(c.wte), free(c.W);
}
END_TEST

/* ------------------------------------------------------------------------
 * RMSNorm */

typedef struct {
    double *inp, *w, *W;
    int BT, C;
    double eps;
} rms_ctx;

static double rms_loss(void *p)
{
    rms_ctx *c = p;
    long n = (long)c->BT * c->C;
    double *out = malloc(sizeof(double) * n), *rstd = malloc(sizeof(double) * c->BT);
    rmsnorm_forward(out, rstd, c->inp, c->w, c->BT, c->C, c->eps);
    double l = dot(out, c->W, n);
    free(out), free(rstd);
    return l;
}

START_TEST(test_rmsnorm)
{
    rng_seed(&trng, 1, 2);
    int BT = 14, C = 67;
    long n = (long)BT * C;
    rms_ctx c = {rnd(n, -2, 2), rnd(C, 0.5, 1.5), rnd(n, -1, 1), BT, C, 1e-5};
    double *out = malloc(sizeof(double) * n), *rstd = malloc(sizeof(double) * BT);
    rmsnorm_forward(out, rstd, c.inp, c.w, BT, C, c.eps);
    for (int bt = 0; bt < BT; bt++) {
        double ss = 0;
        for (int k = 0; k < C; k++) ss += c.inp[bt * C + k] * c.inp[bt * C + k];
        double r = 1 / sqrt(ss / C + c.eps);
        ck_assert_double_eq_tol(rstd[bt], r, 1e-14 * r);
        for (int k = 0; k < C; k++)
            ck_assert_double_eq_tol(out[bt * C + k], c.inp[bt * C + k] * r * c.w[k], 1e-13);
    }
    double *di0 = rnd(n, -1, 1), *di = dup_arr(di0, n), *dw0 = rnd(C, -1, 1), *dw = dup_arr(dw0, C);
    rmsnorm_backward(di, dw, c.W, c.inp, c.w, rstd, BT, C);
    double *ddi = delta_of(di, di0, n), *ddw = delta_of(dw, dw0, C);
    FD_CHECK("rmsnorm dinp", rms_loss, &c, c.inp, BT, C, C, ddi, C);
    FD_CHECK("rmsnorm dweight", rms_loss, &c, c.w, 1, C, C, ddw, C);

    double *res = rnd(n, -1, 1), *res0 = dup_arr(res, n);
    residual_add(res, c.inp, n);
    for (long i = 0; i < n; i++) ck_assert(res[i] == res0[i] + c.inp[i]);
    free(out), free(rstd), free(di0), free(di), free(dw0), free(dw), free(ddi), free(ddw);
    free(res), free(res0), free(c.inp), free(c.w), free(c.W);
}
END_TEST

/* ------------------------------------------------------------------------
 * Matmul */

static void naive_linear(double *out, int ldo, const double *inp, int ldi, const double *w,
                         const double *bias, int BT, int IC, int OC)
{
    for (int bt = 0; bt < BT; bt++)
        for (int o = 0; o < OC; o++) {
            double s = bias ? bias[o] : 0;
            for (int i = 0; i < IC; i++) s += inp[(long)bt * ldi + i] * w[(long)o * IC + i];
            out[(long)bt * ldo + o] = s;
        }
}

typedef struct {
    double *inp, *w, *bias, *W;
    int BT, IC, OC, ldi, ldo;
} mm_ctx;

static double mm_loss(void *p)
{
    mm_ctx *c = p;
    long n = (long)c->BT * c->ldo;
    double *out = calloc((size_t)n, sizeof(double));
    matmul_forward(out, c->ldo, c->inp, c->ldi, c->w, c->bias, c->BT, c->IC, c->OC);
    double l = 0;
    for (int bt = 0; bt < c->BT; bt++)
        for (int o = 0; o < c->OC; o++) l += out[(long)bt * c->ldo + o] * c->W[(long)bt * c->ldo + o];
    free(out);
    return l;
}

/* forward and backward against naive loops, then against FD when fd is set */
static void check_matmul(int BT, int IC, int OC, int ldi, int ldo, int with_bias, int with_dinp, int fd)
{
    mm_ctx c = {rnd((long)BT * ldi, -1, 1), rnd((long)OC * IC, -1, 1),
                with_bias ? rnd(OC, -1, 1) : NULL, rnd((long)BT * ldo, -1, 1), BT, IC, OC, ldi, ldo};
    long no = (long)BT * ldo, nw = (long)OC * IC;
    double *out = rnd(no, -1, 1), *out0 = dup_arr(out, no), *ref = dup_arr(out, no);
    matmul_forward(out, ldo, c.inp, ldi, c.w, c.bias, BT, IC, OC);
    naive_linear(ref, ldo, c.inp, ldi, c.w, c.bias, BT, IC, OC);
    assert_close("matmul out", out, ref, no, 1e-12);
    assert_gaps_untouched("matmul out", out, out0, BT, OC, ldo, 0);

    /* gradients get their own strides: dinp ldi+2, dout ldo+1 (junk in the gaps) */
    int lddi = ldi + 2, lddo = ldo + 1;
    long ndi = (long)BT * lddi;
    double *gout = rnd((long)BT * lddo, -100, 100);
    for (int bt = 0; bt < BT; bt++)
        memcpy(gout + (long)bt * lddo, c.W + (long)bt * ldo, sizeof(double) * OC);
    double *di0 = rnd(ndi, -1, 1), *di = dup_arr(di0, ndi), *dw0 = rnd(nw, -1, 1), *dw = dup_arr(dw0, nw);
    double *db0 = rnd(OC, -1, 1), *db = dup_arr(db0, OC);
    matmul_backward(with_dinp ? di : NULL, lddi, dw, with_bias ? db : NULL, gout, lddo, c.inp, ldi, c.w,
                    BT, IC, OC);
    double *ddi = delta_of(di, di0, ndi), *ddw = delta_of(dw, dw0, nw), *ddb = delta_of(db, db0, OC);
    /* naive gradients */
    double *rdi = calloc((size_t)ndi, sizeof(double)), *rdw = calloc((size_t)nw, sizeof(double));
    double *rdb = calloc((size_t)OC, sizeof(double));
    for (int bt = 0; bt < BT; bt++)
        for (int o = 0; o < OC; o++) {
            double g = c.W[(long)bt * ldo + o];
            rdb[o] += g;
            for (int i = 0; i < IC; i++) {
                rdi[(long)bt * lddi + i] += g * c.w[(long)o * IC + i];
                rdw[(long)o * IC + i] += g * c.inp[(long)bt * ldi + i];
            }
        }
    assert_close("matmul dweight", ddw, rdw, nw, 1e-12);
    if (with_dinp) {
        for (int bt = 0; bt < BT; bt++)
            assert_close("matmul dinp", ddi + (long)bt * lddi, rdi + (long)bt * lddi, IC, 1e-12);
        assert_gaps_untouched("matmul dinp", di, di0, BT, IC, lddi, 0);
    } else {
        ck_assert(memcmp(di, di0, (size_t)ndi * sizeof(double)) == 0);
    }
    if (with_bias) assert_close("matmul dbias", ddb, rdb, OC, 1e-12);
    else ck_assert(memcmp(db, db0, (size_t)OC * sizeof(double)) == 0);
    if (fd) {
        FD_CHECK("matmul dweight", mm_loss, &c, c.w, OC, IC, IC, ddw, IC);
        if (with_dinp) FD_CHECK("matmul dinp", mm_loss, &c, c.inp, BT, IC, ldi, ddi, lddi);
        if (with_bias) FD_CHECK("matmul dbias", mm_loss, &c, c.bias, 1, OC, OC, ddb, OC);
    }
    free(out), free(out0), free(ref), free(di0), free(di), free(dw0), free(dw), free(db0), free(db);
    free(ddi), free(ddw), free(ddb), free(rdi), free(rdw), free(rdb), free(gout);
    free(c.inp), free(c.w), free(c.bias), free(c.W);
}

START_TEST(test_matmul_fd)
{
    rng_seed(&trng, 1, 3);
    check_matmul(14, 5, 6, 9, 8, 1, 1, 1); /* strided in and out, bias */
    check_matmul(14, 7, 3, 7, 3, 0, 1, 1); /* contiguous, no bias */
    check_matmul(6, 4, 9, 11, 9, 1, 0, 1); /* dinp NULL */
}
END_TEST

START_TEST(test_matmul_blocked)
{
    rng_seed(&trng, 1, 4);
    /* K > KC (two depth slices), M > MC (several row tiles), odd edges */
    check_matmul(150, 300, 77, 310, 80, 1, 1, 0);
    /* N wider than one packed slice of columns (NC) in every SIMD build */
    check_matmul(10, 7, 1100, 7, 1103, 1, 1, 0);
    check_matmul(1, 1, 1, 1, 1, 1, 1, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Conv1d */

typedef struct {
    double *inp, *w, *bias, *W;
    const uint8_t *ds;
    int B, T, E, K, ldi;
} conv_ctx;

static double conv_loss(void *p)
{
    conv_ctx *c = p;
    long n = (long)c->B * c->T * c->E;
    double *out = malloc(sizeof(double) * n);
    conv1d_silu_forward(out, NULL, c->inp, c->ldi, c->w, c->bias, c->ds, c->B, c->T, c->E, c->K);
    double l = dot(out, c->W, n);
    free(out);
    return l;
}

/* the formula of the contract, written independently of conv1d.h */
static void naive_conv(double *pre, const conv_ctx *c)
{
    for (int b = 0; b < c->B; b++)
        for (int t = 0; t < c->T; t++) {
            int seg = 0;
            if (c->ds)
                for (int s = 0; s <= t; s++)
                    if (c->ds[b * c->T + s]) seg = s;
            for (int e = 0; e < c->E; e++) {
                double s = c->bias[e];
                for (int k = 0; k < c->K; k++) {
                    int src = t - (c->K - 1) + k;
                    if (src < 0 || src < seg) continue;
                    s += c->w[e * c->K + k] * c->inp[((long)b * c->T + src) * c->ldi + e];
                }
                pre[((long)b * c->T + t) * c->E + e] = s;
            }
        }
}

static void check_conv(int B, int T, int E, int K, int ldi, const uint8_t *ds, int fd)
{
    conv_ctx c = {rnd((long)B * T * ldi, -1.5, 1.5), rnd((long)E * K, -0.8, 0.8), rnd(E, -0.5, 0.5),
                  rnd((long)B * T * E, -1, 1), ds, B, T, E, K, ldi};
    long n = (long)B * T * E;
    double *out = malloc(sizeof(double) * n), *pre = malloc(sizeof(double) * n);
    double *ref = calloc((size_t)n, sizeof(double)), *out2 = malloc(sizeof(double) * n);
    conv1d_silu_forward(out, pre, c.inp, ldi, c.w, c.bias, ds, B, T, E, K);
    conv1d_silu_forward(out2, NULL, c.inp, ldi, c.w, c.bias, ds, B, T, E, K);
    naive_conv(ref, &c);
    assert_close("conv preact", pre, ref, n, 1e-13);
    for (long i = 0; i < n; i++) {
        double s = ref[i] / (1 + exp(-ref[i]));
        ck_assert_double_eq_tol(out[i], s, 1e-13);
        ck_assert(out2[i] == out[i]);
    }
    int lddi = ldi + 2; /* its own stride */
    long ni = (long)B * T * lddi;
    double *di0 = rnd(ni, -1, 1), *di = dup_arr(di0, ni), *dw0 = rnd((long)E * K, -1, 1),
           *dw = dup_arr(dw0, (long)E * K), *db0 = rnd(E, -1, 1), *db = dup_arr(db0, E);
    conv1d_silu_backward(di, lddi, dw, db, c.W, c.inp, ldi, c.w, c.bias, ds, B, T, E, K);
    double *ddi = delta_of(di, di0, ni), *ddw = delta_of(dw, dw0, (long)E * K), *ddb = delta_of(db, db0, E);
    assert_gaps_untouched("conv dinp", di, di0, B * T, E, lddi, 0);
    if (fd) {
        FD_CHECK("conv dinp", conv_loss, &c, c.inp, B * T, E, ldi, ddi, lddi);
        FD_CHECK("conv dw", conv_loss, &c, c.w, E, K, K, ddw, K);
        FD_CHECK("conv dbias", conv_loss, &c, c.bias, 1, E, E, ddb, E);
    }
    free(out), free(pre), free(ref), free(out2), free(di0), free(di), free(dw0), free(dw), free(db0);
    free(db), free(ddi), free(ddw), free(ddb), free(c.inp), free(c.w), free(c.bias), free(c.W);
}

/* B=2, T=7: row 0 has documents starting at 0 and 3, row 1 one starting at 5
 * (and nothing marked at t=0, which must behave as a start anyway). */
static const uint8_t DS_2x7[14] = {1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};

START_TEST(test_conv1d)
{
    rng_seed(&trng, 1, 5);
    check_conv(2, 7, 5, 4, 10, DS_2x7, 1);
    check_conv(2, 7, 5, 4, 10, NULL, 1);
    check_conv(2, 7, 5, 1, 5, DS_2x7, 1);
    check_conv(2, 7, 37, 2, 80, DS_2x7, 0); /* two channel blocks in the backward */
    /* documents of length one: every window is cut to its own token */
    uint8_t all[14];
    memset(all, 1, sizeof all);
    check_conv(2, 7, 3, 4, 6, all, 1);
}
END_TEST

/* ------------------------------------------------------------------------
 * Softplus */

typedef struct {
    double *x, *W;
    long n;
} sp_ctx;

static double sp_loss(void *p)
{
    sp_ctx *c = p;
    double *out = malloc(sizeof(double) * c->n);
    softplus_forward(out, c->x, c->n);
    double l = dot(out, c->W, c->n);
    free(out);
    return l;
}

START_TEST(test_softplus)
{
    rng_seed(&trng, 1, 6);
    long n = 40;
    sp_ctx c = {rnd(n, -8, 8), rnd(n, -1, 1), n};
    c.x[0] = 25;    /* above the threshold: identity */
    c.x[1] = -30;   /* tiny but positive */
    c.x[2] = 19.5;  /* below the threshold: log1p(exp) */
    c.x[3] = 15;
    c.x[4] = 20.5;
    double *out = malloc(sizeof(double) * n);
    softplus_forward(out, c.x, n);
    for (long i = 0; i < n; i++) {
        double x = c.x[i], r = x > 20 ? x : log1p(exp(x));
        ck_assert_double_eq_tol(out[i], r, 1e-15 * (1 + fabs(r)));
    }
    ck_assert(out[0] == 25.0);
    ck_assert(out[1] > 0);
    double *g0 = rnd(n, -1, 1), *g = dup_arr(g0, n);
    softplus_backward(g, c.W, c.x, n);
    for (long i = 0; i < n; i++) {
        double x = c.x[i], d = x > 20 ? c.W[i] : c.W[i] / (1 + exp(-x));
        ck_assert_double_eq_tol(g[i] - g0[i], d, 1e-15);
    }
    double *dg = delta_of(g, g0, n);
    FD_CHECK("softplus dinp", sp_loss, &c, c.x, 1, (int)n, n, dg, n);
    free(out), free(g0), free(g), free(dg), free(c.x), free(c.W);
}
END_TEST

/* The FD checker must catch a gradient that is slightly wrong. */
START_TEST(test_fd_checker_catches_errors)
{
    rng_seed(&trng, 1, 7);
    long n = 10;
    sp_ctx c = {rnd(n, -3, 3), rnd(n, -1, 1), n};
    double *g = calloc((size_t)n, sizeof(double));
    softplus_backward(g, c.W, c.x, n);
    ck_assert_int_eq(fd_mismatches("ok", sp_loss, &c, c.x, 1, (int)n, n, g, n), 0);
    g[4] *= 1 + 1e-4;
    fprintf(stderr, "(the next FD mismatch is expected)\n");
    ck_assert_int_eq(fd_mismatches("perturbed", sp_loss, &c, c.x, 1, (int)n, n, g, n), 1);
    free(g), free(c.x), free(c.W);
}
END_TEST

/* ------------------------------------------------------------------------
 * Selective scan */

typedef struct {
    double *u, *delta, *A_log, *xdbl, *D, *xz, *W;
    const uint8_t *ds;
    int B, T, E, N, R;
} scan_ctx;

#define SC_LDBC(c) ((c)->R + 2 * (c)->N)

static void scan_fwd(const scan_ctx *c, double *out, double *ypre)
{
    selective_scan_forward(out, ypre, c->u, c->delta, c->A_log, c->xdbl + c->R, c->xdbl + c->R + c->N,
                           SC_LDBC(c), c->D, c->xz + c->E, 2 * c->E, c->ds, c->B, c->T, c->E, c->N);
}

static double scan_loss(void *p)
{
    scan_ctx *c = p;
    long n = (long)c->B * c->T * c->E;
    double *out = malloc(sizeof(double) * n);
    scan_fwd(c, out, NULL);
    double l = dot(out, c->W, n);
    free(out);
    return l;
}

/* a direct loop over (b, e, t) from the recurrence */
static void naive_scan(const scan_ctx *c, double *out, double *ypre)
{
    int E = c->E, N = c->N, ld = SC_LDBC(c);
    double h[16];
    for (int b = 0; b < c->B; b++)
        for (int e = 0; e < E; e++) {
            for (int t = 0; t < c->T; t++) {
                long bt = (long)b * c->T + t, i = bt * E + e;
                if (t == 0 || (c->ds && c->ds[bt]))
                    for (int n = 0; n < N; n++) h[n] = 0;
                double y = 0;
                for (int n = 0; n < N; n++) {
                    double A = -exp(c->A_log[e * N + n]);
                    h[n] = exp(c->delta[i] * A) * h[n] + c->delta[i] * c->xdbl[bt * ld + c->R + n] * c->u[i];
                    y += c->xdbl[bt * ld + c->R + N + n] * h[n];
                }
                y += c->D[e] * c->u[i];
                double z = c->xz[bt * 2 * E + E + e];
                ypre[i] = y;
                out[i] = y * z / (1 + exp(-z));
            }
        }
}

static scan_ctx make_scan(int B, int T, int E, int N, int R, const uint8_t *ds)
{
    long n = (long)B * T * E, BT = (long)B * T;
    scan_ctx c = {rnd(n, -1, 1), rnd(n, 0.05, 1.2), rnd((long)E * N, -0.5, 1.5),
                  rnd(BT * (R + 2 * N), -1, 1), rnd(E, 0.5, 1.5), rnd(BT * 2 * E, -2, 2),
                  rnd(n, -1, 1), ds, B, T, E, N, R};
    return c;
}

static void free_scan(scan_ctx *c)
{
    free(c->u), free(c->delta), free(c->A_log), free(c->xdbl), free(c->D), free(c->xz), free(c->W);
}

static void check_scan(int B, int T, int E, int N, int R, const uint8_t *ds, int fd)
{
    scan_ctx c = make_scan(B, T, E, N, R, ds);
    long n = (long)B * T * E, BT = (long)B * T, ldbc = R + 2 * N;
    double *out = malloc(sizeof(double) * n), *yp = malloc(sizeof(double) * n);
    double *rout = malloc(sizeof(double) * n), *ryp = malloc(sizeof(double) * n);
    double *out2 = malloc(sizeof(double) * n);
    scan_fwd(&c, out, yp);
    scan_fwd(&c, out2, NULL);
    naive_scan(&c, rout, ryp);
    assert_close("scan out", out, rout, n, 1e-12);
    assert_close("scan ypre", yp, ryp, n, 1e-12);
    ck_assert(memcmp(out, out2, sizeof(double) * n) == 0);

    double *du0 = rnd(n, -1, 1), *du = dup_arr(du0, n), *dd0 = rnd(n, -1, 1), *dd = dup_arr(dd0, n);
    double *dA0 = rnd((long)E * N, -1, 1), *dA = dup_arr(dA0, (long)E * N);
    long lddbc = ldbc + 3, lddz = 2 * E + 1; /* gradients get their own strides */
    double *dx0 = rnd(BT * lddbc, -1, 1), *dx = dup_arr(dx0, BT * lddbc);
    double *dD0 = rnd(E, -1, 1), *dD = dup_arr(dD0, E);
    double *dxz0 = rnd(BT * lddz, -1, 1), *dxz = dup_arr(dxz0, BT * lddz);
    size_t ns = selective_scan_scratch_reals(B, T, E, N);
    double *scratch = malloc(sizeof(double) * (ns + 1));
    scratch[ns] = 12345.0; /* canary: the backward must stay inside its scratch */
    selective_scan_backward(du, dd, dA, dx + R, dx + R + N, (int)lddbc, dD, dxz + E, (int)lddz, c.W, c.u,
                            c.delta, c.A_log, c.xdbl + R, c.xdbl + R + N, (int)ldbc, c.D, c.xz + E,
                            2 * E, ds, B, T, E, N, scratch);
    ck_assert(scratch[ns] == 12345.0);
    assert_gaps_untouched("scan dB/dC", dx, dx0, (int)BT, 2 * N, lddbc, R);
    assert_gaps_untouched("scan dz", dxz, dxz0, (int)BT, E, lddz, E);
    if (fd) {
        double *gu = delta_of(du, du0, n), *gd = delta_of(dd, dd0, n);
        double *gA = delta_of(dA, dA0, (long)E * N), *gx = delta_of(dx, dx0, BT * lddbc);
        double *gD = delta_of(dD, dD0, E), *gxz = delta_of(dxz, dxz0, BT * lddz);
        FD_CHECK("scan du", scan_loss, &c, c.u, 1, (int)n, n, gu, n);
        FD_CHECK("scan ddelta", scan_loss, &c, c.delta, 1, (int)n, n, gd, n);
        FD_CHECK("scan dA_log", scan_loss, &c, c.A_log, E, N, N, gA, N);
        FD_CHECK("scan dB", scan_loss, &c, c.xdbl + R, (int)BT, N, ldbc, gx + R, lddbc);
        FD_CHECK("scan dC", scan_loss, &c, c.xdbl + R + N, (int)BT, N, ldbc, gx + R + N, lddbc);
        FD_CHECK("scan dD", scan_loss, &c, c.D, 1, E, E, gD, E);
        FD_CHECK("scan dz", scan_loss, &c, c.xz + E, (int)BT, E, 2 * E, gxz + E, lddz);
        free(gu), free(gd), free(gA), free(gx), free(gD), free(gxz);
    }
    free(out), free(yp), free(rout), free(ryp), free(out2), free(du0), free(du), free(dd0), free(dd);
    free(dA0), free(dA), free(dx0), free(dx), free(dD0), free(dD), free(dxz0), free(dxz), free(scratch);
    free_scan(&c);
}

START_TEST(test_scan)
{
    rng_seed(&trng, 1, 8);
    check_scan(2, 7, 5, 3, 2, DS_2x7, 1);
    check_scan(2, 7, 5, 3, 2, NULL, 1);
    /* two channel blocks, the last one partial; resets at t=1 and t=5 */
    static const uint8_t ds3x6[18] = {0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
    check_scan(3, 6, 11, 4, 3, ds3x6, 1);
    check_scan(2, 9, 19, 16, 5, NULL, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * LM head + cross-entropy */

typedef struct {
    double *inp, *wte, *mask, *scratch;
    int32_t *tgt;
    int BT, C, Vp;
    double dscale;
} lm_ctx;

static double lm_loss(void *p)
{
    lm_ctx *c = p;
    return c->dscale * lmhead_xent_forward_backward(NULL, NULL, c->inp, c->wte, c->tgt, c->mask, c->BT,
                                                    c->C, c->Vp, c->dscale, c->scratch);
}

static double naive_xent(const lm_ctx *c)
{
    double loss = 0;
    double *lg = malloc(sizeof(double) * c->Vp);
    for (int bt = 0; bt < c->BT; bt++) {
        double m = c->mask ? c->mask[bt] : 1;
        if (m == 0) continue;
        double mx = -INFINITY;
        for (int v = 0; v < c->Vp; v++) {
            double s = 0;
            for (int k = 0; k < c->C; k++) s += c->inp[bt * c->C + k] * c->wte[v * c->C + k];
            lg[v] = s;
            mx = fmax(mx, s);
        }
        double se = 0;
        for (int v = 0; v < c->Vp; v++) se += exp(lg[v] - mx);
        double logp = lg[c->tgt[bt]] - mx - log(se);
        loss += -m * logp;
    }
    free(lg);
    return loss;
}

static void check_lmhead(int BT, int C, int Vp, int with_mask, int fd)
{
    lm_ctx c = {rnd((long)BT * C, -1, 1), rnd((long)Vp * C, -1, 1), NULL,
                malloc(sizeof(double) * lmhead_scratch_reals(Vp)), malloc(sizeof(int32_t) * BT), BT, C,
                Vp, 0.7};
    for (int bt = 0; bt < BT; bt++) c.tgt[bt] = (int32_t)(rng_next_u64(&trng) % (uint64_t)Vp);
    if (with_mask) {
        c.mask = rnd(BT, 0, 1);
        for (int bt = 0; bt < BT; bt += 3) {
            c.mask[bt] = 0;
            c.tgt[bt] = -1; /* never read under mask 0 */
        }
        c.mask[1] = 1;
    }
    double ref = naive_xent(&c);
    double ev = lmhead_xent_forward_backward(NULL, NULL, c.inp, c.wte, c.tgt, c.mask, BT, C, Vp, 0.7,
                                             c.scratch);
    ck_assert_double_eq_tol(ev, ref, 1e-12 * (1 + fabs(ref)));
    double *di0 = rnd((long)BT * C, -1, 1), *di = dup_arr(di0, (long)BT * C);
    double *dw0 = rnd((long)Vp * C, -1, 1), *dw = dup_arr(dw0, (long)Vp * C);
    double tr = lmhead_xent_forward_backward(di, dw, c.inp, c.wte, c.tgt, c.mask, BT, C, Vp, c.dscale,
                                             c.scratch);
    ck_assert(tr == ev); /* the same loss with or without the backward */
    double *gi = delta_of(di, di0, (long)BT * C), *gw = delta_of(dw, dw0, (long)Vp * C);
    if (with_mask)
        for (int bt = 0; bt < BT; bt += 3)
            for (int k = 0; k < C; k++) ck_assert(gi[bt * C + k] == 0); /* masked tokens: no gradient */
    /* dinp alone and dwte alone give the same parts */
    double *di2 = dup_arr(di0, (long)BT * C), *dw2 = dup_arr(dw0, (long)Vp * C);
    lmhead_xent_forward_backward(di2, NULL, c.inp, c.wte, c.tgt, c.mask, BT, C, Vp, c.dscale, c.scratch);
    lmhead_xent_forward_backward(NULL, dw2, c.inp, c.wte, c.tgt, c.mask, BT, C, Vp, c.dscale, c.scratch);
    ck_assert(memcmp(di2, di, sizeof(double) * BT * C) == 0);
    ck_assert(memcmp(dw2, dw, sizeof(double) * Vp * C) == 0);
    if (fd) {
        FD_CHECK("lmhead dinp", lm_loss, &c, c.inp, BT, C, C, gi, C);
        FD_CHECK("lmhead dwte", lm_loss, &c, c.wte, Vp, C, C, gw, C);
    }
    free(di0), free(di), free(dw0), free(dw), free(gi), free(gw), free(di2), free(dw2);
    free(c.inp), free(c.wte), free(c.mask), free(c.scratch), free(c.tgt);
}

START_TEST(test_lmhead_xent)
{
    rng_seed(&trng, 1, 9);
    check_lmhead(14, 6, 13, 0, 1);
    check_lmhead(14, 6, 13, 1, 1);
    check_lmhead(150, 5, 11, 1, 1); /* three chunks, the last one partial */
    check_lmhead(200, 33, 130, 0, 0);
}
END_TEST

START_TEST(test_lmhead_logits)
{
    rng_seed(&trng, 1, 10);
    int BT = 70, C = 9, Vp = 24;
    double *inp = rnd((long)BT * C, -1, 1), *wte = rnd((long)Vp * C, -1, 1);
    double *lg = rnd((long)BT * Vp, -1, 1);
    ck_assert(lmhead_logits(lg, inp, wte, BT, C, Vp) == 0.0);
    for (int bt = 0; bt < BT; bt++)
        for (int v = 0; v < Vp; v++) {
            double s = 0;
            for (int k = 0; k < C; k++) s += inp[bt * C + k] * wte[v * C + k];
            ck_assert_double_eq_tol(lg[bt * Vp + v], s, 1e-13);
        }
    free(inp), free(wte), free(lg);
}
END_TEST

/* ------------------------------------------------------------------------
 * Optimizers */

START_TEST(test_grad_sq_sum)
{
    rng_seed(&trng, 1, 11);
    long lens[] = {0, 1, 7, 63, 64, 65, 1000, 100003};
    for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
        long n = lens[j];
        double *g = rnd(n, -2, 2), s = 0;
        for (long i = 0; i < n; i++) s += g[i] * g[i];
        ck_assert_double_eq_tol(grad_sq_sum(g, n), s, 1e-12 * (1 + s));
        scale_inplace(g, n, 0.5);
        ck_assert_double_eq_tol(grad_sq_sum(g, n), 0.25 * s, 1e-12 * (1 + s));
        free(g);
    }
}
END_TEST

/* muon_update written the plain way: momentum, nesterov, transpose,
 * normalise, Newton-Schulz with triple loops, scale, decay, step. */
static void ref_muon(double *param, const double *grad, double *mom, int rows, int cols, double lr,
                     double beta, int nesterov, int steps, double a, double b, double c, double wd,
                     int adjust)
{
    int tr = rows > cols, m = tr ? cols : rows, n = tr ? rows : cols;
    double *X = malloc(sizeof(double) * m * n), *Xn = malloc(sizeof(double) * m * n);
    double *A = malloc(sizeof(double) * m * m), *Bq = malloc(sizeof(double) * m * m);
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < cols; q++) {
            int i = r * cols + q;
            mom[i] = beta * mom[i] + (1 - beta) * grad[i];
            double u = nesterov ? (1 - beta) * grad[i] + beta * mom[i] : mom[i];
            if (tr) X[q * rows + r] = u;
            else X[i] = u;
        }
    double nrm = 0;
    for (int i = 0; i < m * n; i++) nrm += X[i] * X[i];
    nrm = fmax(sqrt(nrm), 1e-7);
    for (int i = 0; i < m * n; i++) X[i] /= nrm;
    for (int it = 0; it < steps; it++) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) {
                double s = 0;
                for (int k = 0; k < n; k++) s += X[i * n + k] * X[j * n + k];
                A[i * m + j] = s;
            }
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) {
                double s = 0;
                for (int k = 0; k < m; k++) s += A[i * m + k] * A[k * m + j];
                Bq[i * m + j] = b * A[i * m + j] + c * s;
            }
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int k = 0; k < m; k++) s += Bq[i * m + k] * X[k * n + j];
                Xn[i * n + j] = a * X[i * n + j] + s;
            }
        memcpy(X, Xn, sizeof(double) * m * n);
    }
    double adj = adjust == 0 ? lr * sqrt(fmax(1.0, (double)rows / cols)) : lr * 0.2 * sqrt(fmax(rows, cols));
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < cols; q++) {
            int i = r * cols + q;
            param[i] = param[i] * (1 - lr * wd) - adj * (tr ? X[q * rows + r] : X[i]);
        }
    free(X), free(Xn), free(A), free(Bq);
}

static const double NS_A = 3.4445, NS_B = -4.7750, NS_C = 2.0315;

START_TEST(test_muon_vs_reference)
{
    rng_seed(&trng, 1, 12);
    int shapes[][2] = {{20, 12}, {12, 20}, {16, 16}, {130, 70}, {1, 5}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int variant = 0; variant < 4; variant++) {
            int rows = shapes[s][0], cols = shapes[s][1], nes = variant & 1, adj = variant >> 1;
            long n = (long)rows * cols;
            double *p = rnd(n, -1, 1), *pr = dup_arr(p, n), *mo = rnd(n, -0.1, 0.1), *mr = dup_arr(mo, n);
            double *scr = malloc(sizeof(double) * muon_scratch_reals(rows, cols));
            for (int step = 0; step < 2; step++) { /* two steps: the momentum carries over */
                double *g = rnd(n, -1, 1);
                muon_update(p, g, mo, rows, cols, 0.02, 0.95, nes, 5, NS_A, NS_B, NS_C, 0.1, adj, scr);
                ref_muon(pr, g, mr, rows, cols, 0.02, 0.95, nes, 5, NS_A, NS_B, NS_C, 0.1, adj);
                free(g);
            }
            assert_close("muon momentum", mo, mr, n, 1e-14);
            assert_close("muon param", p, pr, n, 1e-10);
            free(p), free(pr), free(mo), free(mr), free(scr);
        }
}
END_TEST

/* eigenvalues of a symmetric n x n matrix (cyclic Jacobi), in place */
static void jacobi_eigen(double *a, int n, double *ev)
{
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
        if (off < 1e-24) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (fabs(apq) < 1e-300) continue;
                double th = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                double t = (th >= 0 ? 1.0 : -1.0) / (fabs(th) + sqrt(th * th + 1));
                double cs = 1 / sqrt(t * t + 1), sn = t * cs;
                for (int k = 0; k < n; k++) {
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = cs * akp - sn * akq;
                    a[k * n + q] = sn * akp + cs * akq;
                }
                for (int k = 0; k < n; k++) {
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = cs * apk - sn * aqk;
                    a[q * n + k] = sn * apk + cs * aqk;
                }
            }
    }
    for (int i = 0; i < n; i++) ev[i] = a[i * n + i];
}

/* Newton-Schulz output: singular values in roughly [0.6, 1.2]. The update
 * is read back from a zero parameter with lr 1 and no decay. */
START_TEST(test_muon_singular_values)
{
    rng_seed(&trng, 1, 13);
    /* Rectangular Gaussian matrices: well conditioned, so every singular
     * value reaches the band in 5 steps. (A square one has singular values
     * near 0 that 5 steps only lift to ~0.5: Muon's known behaviour.) */
    int shapes[][2] = {{40, 24}, {24, 40}, {16, 64}};
    for (size_t s = 0; s < 3; s++) {
        int rows = shapes[s][0], cols = shapes[s][1], k = rows < cols ? rows : cols;
        long n = (long)rows * cols;
        double *p = calloc((size_t)n, sizeof(double)), *mo = calloc((size_t)n, sizeof(double));
        double *g = malloc(sizeof(double) * n);
        for (long i = 0; i < n; i++) g[i] = rng_normal(&trng);
        double *scr = malloc(sizeof(double) * muon_scratch_reals(rows, cols));
        muon_update(p, g, mo, rows, cols, 1.0, 0.95, 1, 5, NS_A, NS_B, NS_C, 0.0, 0, scr);
        double scale = sqrt(fmax(1.0, (double)rows / cols));
        /* Gram matrix of the small side: P P^T (wide) or P^T P (tall) */
        double *G = calloc((size_t)k * k, sizeof(double)), *ev = malloc(sizeof(double) * k);
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                double acc = 0;
                if (rows <= cols)
                    for (int q = 0; q < cols; q++) acc += p[i * cols + q] * p[j * cols + q];
                else
                    for (int r = 0; r < rows; r++) acc += p[r * cols + i] * p[r * cols + j];
                G[i * k + j] = acc / (scale * scale);
            }
        double maxdev = 0;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) maxdev = fmax(maxdev, fabs(G[i * k + j] - (i == j)));
        ck_assert_msg(maxdev < 0.7, "X X^T is far from identity (max |dev| %g)", maxdev);
        jacobi_eigen(G, k, ev);
        for (int i = 0; i < k; i++) {
            double sv = sqrt(fmax(ev[i], 0));
            ck_assert_msg(sv > 0.6 && sv < 1.2, "%dx%d: singular value %g outside [0.6, 1.2]", rows, cols, sv);
        }
        free(p), free(mo), free(g), free(scr), free(G), free(ev);
    }
}
END_TEST

/* Two AdamW steps on three values, computed by hand with the textbook form
 * m_hat/(sqrt(v_hat)+eps) (lr 0.01, betas 0.9/0.999, eps 1e-8, wd 0.1). */
START_TEST(test_adamw_two_steps)
{
    double p[3] = {0.5, -1.25, 2.0}, m[3] = {0}, v[3] = {0};
    double g1[3] = {0.1, -0.2, 0.3}, g2[3] = {-0.05, 0.4, 0.0};
    adamw_update(p, g1, m, v, 3, 0.01, 0.9, 0.999, 1e-8, 0.1, 1);
    /* step 1: p*(1-0.001) - 0.01*g/(|g|+1e-8) */
    double p1[3] = {0.4895000009999999, -1.2387500005, 1.9880000003333334};
    for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(p[i], p1[i], 1e-14);
    adamw_update(p, g2, m, v, 3, 0.01, 0.9, 0.999, 1e-8, 0.1, 2);
    double p2[3] = {0.48634713093933907, -1.2411722856541039, 1.9793114181075822};
    double m2[3] = {0.004, 0.022, 0.027}, v2[3] = {1.249e-05, 1.9996e-04, 8.991e-05};
    for (int i = 0; i < 3; i++) {
        ck_assert_double_eq_tol(p[i], p2[i], 1e-14);
        ck_assert_double_eq_tol(m[i], m2[i], 1e-15);
        ck_assert_double_eq_tol(v[i], v2[i], 1e-17);
    }
}
END_TEST

/* ------------------------------------------------------------------------
 * Init */

START_TEST(test_rng)
{
    /* xoshiro256** reference outputs for the state {1, 2, 3, 4} */
    rng_t r = {{1, 2, 3, 4}};
    uint64_t want[5] = {11520ULL, 0ULL, 1509978240ULL, 1215971899390074240ULL, 1216172134540287360ULL};
    for (int i = 0; i < 5; i++) ck_assert_uint_eq(rng_next_u64(&r), want[i]);

    rng_t a, b, c;
    rng_seed(&a, 42, 0);
    rng_seed(&b, 42, 0);
    rng_seed(&c, 42, 1);
    int same_ab = 1, same_ac = 1;
    for (int i = 0; i < 100; i++) {
        uint64_t x = rng_next_u64(&a), y = rng_next_u64(&b), z = rng_next_u64(&c);
        same_ab &= x == y;
        same_ac &= x == z;
    }
    ck_assert(same_ab);
    ck_assert(!same_ac);

    rng_seed(&a, 7, 3);
    long n = 200000;
    double su = 0, sn = 0, sn2 = 0, umin = 1, umax = 0;
    for (long i = 0; i < n; i++) {
        double u = rng_uniform(&a);
        umin = fmin(umin, u), umax = fmax(umax, u);
        su += u;
    }
    ck_assert(umin >= 0 && umax < 1);
    ck_assert_double_eq_tol(su / n, 0.5, 0.005);
    for (long i = 0; i < n; i++) {
        double x = rng_normal(&a);
        ck_assert(isfinite(x));
        sn += x, sn2 += x * x;
    }
    ck_assert_double_eq_tol(sn / n, 0.0, 0.01);
    ck_assert_double_eq_tol(sn2 / n, 1.0, 0.02);
}
END_TEST

START_TEST(test_init_fills)
{
    rng_t r;
    rng_seed(&r, 1337, 5);
    long n = 50000;
    double *p = malloc(sizeof(double) * n);
    init_uniform(p, n, -0.5, 0.5, &r);
    double s = 0;
    for (long i = 0; i < n; i++) {
        ck_assert(p[i] >= -0.5 && p[i] < 0.5);
        s += p[i];
    }
    ck_assert_double_eq_tol(s / n, 0.0, 0.01);
    init_normal(p, n, 0.02, &r);
    double s2 = 0;
    for (long i = 0; i < n; i++) s2 += p[i] * p[i];
    ck_assert_double_eq_tol(sqrt(s2 / n), 0.02, 0.0005);
    init_const(p, n, 1.0);
    for (long i = 0; i < n; i++) ck_assert(p[i] == 1.0);

    /* dt bias: softplus(bias) = dt in [dt_min, dt_max], log-uniform */
    int E = 4000;
    double *bias = malloc(sizeof(double) * E), *sp = malloc(sizeof(double) * E);
    init_dt_bias(bias, E, 0.001, 0.1, 1e-4, &r);
    softplus_forward(sp, bias, E);
    double slog = 0;
    for (int e = 0; e < E; e++) {
        ck_assert(sp[e] >= 0.001 * (1 - 1e-9) && sp[e] <= 0.1 * (1 + 1e-9));
        slog += log(sp[e]);
    }
    ck_assert_double_eq_tol(slog / E, 0.5 * (log(0.001) + log(0.1)), 0.1);
    /* the floor clamps: with dt_min below the floor some dts are raised to it */
    init_dt_bias(bias, E, 1e-6, 1e-3, 1e-4, &r);
    softplus_forward(sp, bias, E);
    int at_floor = 0;
    for (int e = 0; e < E; e++) {
        ck_assert(sp[e] >= 1e-4 * (1 - 1e-6));
        at_floor += fabs(sp[e] - 1e-4) < 1e-4 * 1e-6;
    }
    ck_assert_int_gt(at_floor, E / 4);

    double A[3 * 4];
    init_A_log(A, 3, 4);
    for (int e = 0; e < 3; e++)
        for (int k = 0; k < 4; k++) ck_assert_double_eq_tol(-exp(A[e * 4 + k]), -(double)(k + 1), 1e-15);
    free(p), free(bias), free(sp);
}
END_TEST

/* ------------------------------------------------------------------------
 * Thread-count independence: every op at 1, 2 and 3 threads, bit-identical */

typedef struct {
    double *v;
    long n, cap;
} rec_t;

static void rec(rec_t *r, const double *p, long n)
{
    if (r->n + n > r->cap) {
        r->cap = 2 * (r->n + n);
        r->v = realloc(r->v, sizeof(double) * r->cap);
        ck_assert_ptr_nonnull(r->v);
    }
    memcpy(r->v + r->n, p, sizeof(double) * n);
    r->n += n;
}

static void run_all_ops(rec_t *out)
{
    rng_seed(&trng, 99, 0); /* identical inputs in every run */
    /* matmul: several row tiles and depth slices */
    {
        int BT = 200, IC = 300, OC = 150;
        double *inp = rnd((long)BT * IC, -1, 1), *w = rnd((long)OC * IC, -1, 1), *bias = rnd(OC, -1, 1);
        double *o = malloc(sizeof(double) * BT * OC), *di = calloc((size_t)BT * IC, sizeof(double));
        double *dw = calloc((size_t)OC * IC, sizeof(double)), *db = calloc((size_t)OC, sizeof(double));
        matmul_forward(o, OC, inp, IC, w, bias, BT, IC, OC);
        matmul_backward(di, IC, dw, db, o, OC, inp, IC, w, BT, IC, OC);
        rec(out, o, (long)BT * OC), rec(out, di, (long)BT * IC), rec(out, dw, (long)OC * IC), rec(out, db, OC);
        free(inp), free(w), free(bias), free(o), free(di), free(dw), free(db);
    }
    /* embedding, rmsnorm, residual, softplus */
    {
        int V = 50, BT = 64, C = 130;
        int32_t tok[64];
        for (int i = 0; i < BT; i++) tok[i] = (int32_t)(rng_next_u64(&trng) % V);
        double *wte = rnd((long)V * C, -1, 1), *x = malloc(sizeof(double) * BT * C);
        double *dw = calloc((size_t)V * C, sizeof(double));
        embedding_forward(x, tok, wte, BT, C);
        embedding_backward(dw, x, tok, BT, C);
        double *wn = rnd(C, 0.5, 1.5), *o = malloc(sizeof(double) * BT * C), *rs = malloc(sizeof(double) * BT);
        double *di = calloc((size_t)BT * C, sizeof(double)), *dwn = calloc((size_t)C, sizeof(double));
        rmsnorm_forward(o, rs, x, wn, BT, C, 1e-5);
        rmsnorm_backward(di, dwn, o, x, wn, rs, BT, C);
        residual_add(di, o, (long)BT * C);
        double *sp = malloc(sizeof(double) * BT * C), *dsp = calloc((size_t)BT * C, sizeof(double));
        softplus_forward(sp, o, (long)BT * C);
        softplus_backward(dsp, x, o, (long)BT * C);
        rec(out, x, (long)BT * C), rec(out, dw, (long)V * C), rec(out, o, (long)BT * C), rec(out, rs, BT);
        rec(out, di, (long)BT * C), rec(out, dwn, C), rec(out, sp, (long)BT * C), rec(out, dsp, (long)BT * C);
        double s = grad_sq_sum(x, (long)BT * C);
        rec(out, &s, 1);
        free(wte), free(x), free(dw), free(wn), free(o), free(rs), free(di), free(dwn), free(sp), free(dsp);
    }
    /* conv1d, scan */
    {
        int B = 4, T = 33, E = 70, K = 4, N = 16, R = 5;
        uint8_t ds[4 * 33] = {0};
        ds[10] = ds[40] = ds[41] = ds[100] = 1;
        double *inp = rnd((long)B * T * 2 * E, -1, 1), *w = rnd((long)E * K, -1, 1), *bias = rnd(E, -1, 1);
        double *o = malloc(sizeof(double) * B * T * E), *pre = malloc(sizeof(double) * B * T * E);
        double *di = calloc((size_t)B * T * 2 * E, sizeof(double)), *dw = calloc((size_t)E * K, sizeof(double));
        double *db = calloc((size_t)E, sizeof(double));
        conv1d_silu_forward(o, pre, inp, 2 * E, w, bias, ds, B, T, E, K);
        conv1d_silu_backward(di, 2 * E, dw, db, o, inp, 2 * E, w, bias, ds, B, T, E, K);
        rec(out, o, (long)B * T * E), rec(out, pre, (long)B * T * E), rec(out, di, (long)B * T * 2 * E);
        rec(out, dw, (long)E * K), rec(out, db, E);
        scan_ctx c = make_scan(B, T, E, N, R, ds);
        long n = (long)B * T * E, BT = (long)B * T, ld = R + 2 * N;
        double *so = malloc(sizeof(double) * n), *yp = malloc(sizeof(double) * n);
        scan_fwd(&c, so, yp);
        double *du = calloc((size_t)n, sizeof(double)), *dd = calloc((size_t)n, sizeof(double));
        double *dA = calloc((size_t)E * N, sizeof(double)), *dx = calloc((size_t)BT * ld, sizeof(double));
        double *dD = calloc((size_t)E, sizeof(double)), *dz = calloc((size_t)BT * 2 * E, sizeof(double));
        double *scr = malloc(sizeof(double) * selective_scan_scratch_reals(B, T, E, N));
        selective_scan_backward(du, dd, dA, dx + R, dx + R + N, (int)ld, dD, dz + E, 2 * E, c.W, c.u, c.delta,
                                c.A_log, c.xdbl + R, c.xdbl + R + N, (int)ld, c.D, c.xz + E, 2 * E, ds, B,
                                T, E, N, scr);
        rec(out, so, n), rec(out, yp, n), rec(out, du, n), rec(out, dd, n), rec(out, dA, (long)E * N);
        rec(out, dx, BT * ld), rec(out, dD, E), rec(out, dz, BT * 2 * E);
        free(inp), free(w), free(bias), free(o), free(pre), free(di), free(dw), free(db), free(so), free(yp);
        free(du), free(dd), free(dA), free(dx), free(dD), free(dz), free(scr);
        free_scan(&c);
    }
    /* lmhead + xent */
    {
        int BT = 150, C = 40, Vp = 300;
        double *inp = rnd((long)BT * C, -1, 1), *wte = rnd((long)Vp * C, -1, 1), *mask = rnd(BT, 0, 1);
        int32_t *tg = malloc(sizeof(int32_t) * BT);
        for (int i = 0; i < BT; i++) tg[i] = (int32_t)(rng_next_u64(&trng) % Vp);
        double *scr = malloc(sizeof(double) * lmhead_scratch_reals(Vp));
        double *di = calloc((size_t)BT * C, sizeof(double)), *dw = calloc((size_t)Vp * C, sizeof(double));
        double l = lmhead_xent_forward_backward(di, dw, inp, wte, tg, mask, BT, C, Vp, 0.01, scr);
        rec(out, &l, 1), rec(out, di, (long)BT * C), rec(out, dw, (long)Vp * C);
        free(inp), free(wte), free(mask), free(tg), free(scr), free(di), free(dw);
    }
    /* muon, adamw */
    {
        int rows = 130, cols = 100;
        long n = (long)rows * cols;
        double *p = rnd(n, -1, 1), *g = rnd(n, -1, 1), *mo = rnd(n, -1, 1), *v = rnd(n, 0, 1);
        double *scr = malloc(sizeof(double) * muon_scratch_reals(rows, cols));
        muon_update(p, g, mo, rows, cols, 0.02, 0.95, 1, 5, NS_A, NS_B, NS_C, 0.01, 0, scr);
        rec(out, p, n), rec(out, mo, n);
        adamw_update(p, g, mo, v, n, 1e-3, 0.9, 0.95, 1e-8, 0.1, 3);
        rec(out, p, n), rec(out, mo, n), rec(out, v, n);
        free(p), free(g), free(mo), free(v), free(scr);
    }
}

START_TEST(test_threads_bit_identical)
{
    rec_t base = {0}, other = {0};
    omp_set_dynamic(0);
    omp_set_num_threads(1);
    run_all_ops(&base);
    for (int th = 2; th <= 3; th++) {
        omp_set_num_threads(th);
        int seen = 0;
#pragma omp parallel
        {
#pragma omp single
            seen = omp_get_num_threads();
        }
        ck_assert_int_eq(seen, th);
        other.n = 0;
        run_all_ops(&other);
        ck_assert_int_eq(other.n, base.n);
        long first = -1;
        for (long i = 0; i < base.n && first < 0; i++)
            if (memcmp(&base.v[i], &other.v[i], sizeof(double)) != 0) first = i;
        ck_assert_msg(first < 0, "%d threads: result %ld differs from 1 thread (%.17g vs %.17g)", th, first,
                      first >= 0 ? other.v[first] : 0.0, first >= 0 ? base.v[first] : 0.0);
    }
    free(base.v), free(other.v);
}
END_TEST

/* ------------------------------------------------------------------------
 * Bad input: a clear message naming the file and the problem, exit 1 */

static void bad_conv_k(void)
{
    double x[8] = {0}, w[1] = {0}, b[1] = {0}, o[8];
    conv1d_silu_forward(o, NULL, x, 1, w, b, NULL, 1, 8, 1, 0);
}
static void bad_conv_k_bwd(void)
{
    double x[8] = {0}, w[17] = {0}, b[1] = {0}, o[8] = {0}, dx[8], dw[17], db[1];
    conv1d_silu_backward(dx, 1, dw, db, o, x, 1, w, b, NULL, 1, 8, 1, 17);
}
static void bad_scan_n(void)
{
    double z[4] = {0};
    selective_scan_forward(z, NULL, z, z, z, z, z, 1, z, z, 1, NULL, 1, 1, 1, 300);
}
static void bad_target(void)
{
    double inp[4] = {0}, wte[12] = {0}, scr[LMHEAD_CHUNK * 3];
    int32_t tg[2] = {1, 3};
    lmhead_xent_forward_backward(NULL, NULL, inp, wte, tg, NULL, 2, 2, 3, 1.0, scr);
}
static void bad_adam_step(void)
{
    double p[1] = {0}, g[1] = {0}, m[1] = {0}, v[1] = {0};
    adamw_update(p, g, m, v, 1, 0.1, 0.9, 0.99, 1e-8, 0, 0);
}
static void bad_muon_adjust(void)
{
    double p[4] = {0}, scr[16];
    muon_update(p, p, p, 2, 2, 0.1, 0.9, 1, 5, NS_A, NS_B, NS_C, 0, 7, scr);
}
static void bad_dt_init(void)
{
    double b[2];
    rng_t r;
    rng_seed(&r, 1, 1);
    init_dt_bias(b, 2, 0.0, 0.1, 1e-4, &r);
}

START_TEST(test_bad_input)
{
    expect_fatal(bad_conv_k, "K=0");
    expect_fatal(bad_conv_k_bwd, "K=17");
    expect_fatal(bad_scan_n, "N=300");
    expect_fatal(bad_target, "target 3 of token 1");
    expect_fatal(bad_adam_step, "step 0");
    expect_fatal(bad_muon_adjust, "lr_adjust 7");
    expect_fatal(bad_dt_init, "dt_min");
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *ops_suite(void)
{
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("cpu");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_embedding);
    tcase_add_test(tc, test_rmsnorm);
    tcase_add_test(tc, test_matmul_fd);
    tcase_add_test(tc, test_matmul_blocked);
    tcase_add_test(tc, test_conv1d);
    tcase_add_test(tc, test_softplus);
    tcase_add_test(tc, test_fd_checker_catches_errors);
    tcase_add_test(tc, test_scan);
    tcase_add_test(tc, test_lmhead_xent);
    tcase_add_test(tc, test_lmhead_logits);
    tcase_add_test(tc, test_grad_sq_sum);
    tcase_add_test(tc, test_muon_vs_reference);
    tcase_add_test(tc, test_muon_singular_values);
    tcase_add_test(tc, test_adamw_two_steps);
    tcase_add_test(tc, test_rng);
    tcase_add_test(tc, test_init_fills);
    tcase_add_test(tc, test_threads_bit_identical);
    tcase_add_test(tc, test_bad_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ops_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
