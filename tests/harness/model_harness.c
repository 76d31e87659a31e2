/* model_harness.c: drives one generated CPU model outside the training
 * program, for the numerical tests (tests/check_model.c runs it).
 *
 *   harness fixture FILE   compare logits, loss and every gradient with a
 *                          reference fixture made by transformers
 *   harness optim FILE     compare muon_update / adamw_update with
 *                          torch.optim.Muon / AdamW fixtures
 *   harness gradcheck      central finite differences of every parameter
 *                          tensor (build with -DREAL=double)
 *
 * Output: lines "RESULT <name> <relative error>", where the relative error
 * of a tensor is max|ours - ref| / max|ref|; the test applies tolerances. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "optim.h"
#include "rt.h"
#if !OPS_REAL_IS_DOUBLE /* the checkpoint code is the fp32 programs'; the fp64 build leaves it out */
#include "checkpoint.h"
#define HAVE_CHECKPOINT 1
#endif

#define BT (MICRO_BATCH * SEQ_LEN)

/* Hugging Face spelling of our names (as checkpoint.h writes them) */
static void fixture_name(const char *ours, char *out, size_t n) {
    if (!strcmp(ours, "embedding.weight")) snprintf(out, n, "backbone.embeddings.weight");
    else snprintf(out, n, "backbone.%s", ours);
}

static float *read_f32(rt_safetensors_t *f, const char *name, int64_t numel) {
    float *buf = rt_malloc(sizeof(float) * (size_t)numel);
    if (rt_safetensors_read_f32(f, name, buf, numel) != 0) exit(2);
    return buf;
}

/* max|a - b| / max|b| */
static double rel_err_f(const real *ours, const float *ref, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)ours[i] - (double)ref[i]);
        if (d > num) num = d;
        if (fabs((double)ref[i]) > den) den = fabs((double)ref[i]);
    }
    return den > 0 ? num / den : num;
}

static int cmd_fixture(const char *path) {
    rt_safetensors_t *f = rt_safetensors_open(path);
    if (!f) return 2;
    model_t *m = model_create();
    real *params = model_params(m), *grads = model_grads(m);
    for (int i = 0; i < N_PARAM_TENSORS; i++) {
        char name[160];
        fixture_name(PARAM_TABLE[i].name, name, sizeof name);
        float *w = read_f32(f, name, PARAM_TABLE[i].numel);
        for (int64_t k = 0; k < PARAM_TABLE[i].numel; k++) params[PARAM_TABLE[i].offset + k] = (real)w[k];
        free(w);
    }
    model_params_upload(m);
    int32_t tokens[BT], targets[BT];
    real mask[BT];
    if (rt_safetensors_read_i32(f, "input_ids", tokens, BT) || rt_safetensors_read_i32(f, "targets", targets, BT)) return 2;
    float *maskf = read_f32(f, "mask", BT);
    for (int i = 0; i < BT; i++) mask[i] = (real)maskf[i];

    real *logits = rt_malloc(sizeof(real) * (size_t)BT * VOCAB_PADDED);
    model_logits(m, tokens, NULL, MICRO_BATCH, logits);
    float *ref_logits = read_f32(f, "logits", (int64_t)BT * VOCAB_PADDED);
    printf("RESULT logits %.3e\n", rel_err_f(logits, ref_logits, (int64_t)BT * VOCAB_PADDED));

    model_zero_grad(m);
    double loss = model_forward_backward(m, tokens, targets, mask, NULL, 1.0);
    float ref_loss;
    if (rt_safetensors_read_f32(f, "loss", &ref_loss, 1)) return 2;
    printf("RESULT loss %.3e (ours %.8f, reference %.8f)\n", fabs(loss - ref_loss) / fabs(ref_loss), loss, ref_loss);
    for (int i = 0; i < N_PARAM_TENSORS; i++) {
        char name[160], gname[170];
        fixture_name(PARAM_TABLE[i].name, name, sizeof name);
        snprintf(gname, sizeof gname, "grad.%s", name);
        float *g = read_f32(f, gname, PARAM_TABLE[i].numel);
        printf("RESULT grad.%s %.3e\n", PARAM_TABLE[i].name, rel_err_f(grads + PARAM_TABLE[i].offset, g, PARAM_TABLE[i].numel));
        free(g);
    }
    free(ref_logits);
    free(logits);
    free(maskf);
    model_free(m);
    rt_safetensors_close(f);
    return 0;
}

static real *read_real(rt_safetensors_t *f, const char *name, int64_t n) {
    float *t = read_f32(f, name, n);
    real *r = rt_malloc(sizeof(real) * (size_t)n);
    for (int64_t i = 0; i < n; i++) r[i] = (real)t[i];
    free(t);
    return r;
}

static int cmd_optim(const char *path) {
    rt_safetensors_t *f = rt_safetensors_open(path);
    if (!f) return 2;
    const char *shapes[2] = {"wide", "tall"};
    const int dims[2][2] = {{12, 20}, {20, 12}};
    const char *adj[2] = {"original", "match_rms_adamw"};
    const char *prec[2] = {"fp32", "bf16"};
    for (int s = 0; s < 2; s++) {
        int r = dims[s][0], c = dims[s][1], n = r * c;
        char name[128];
        snprintf(name, sizeof name, "muon.%s.p0", shapes[s]);
        real *p0 = read_real(f, name, n);
        snprintf(name, sizeof name, "muon.%s.g1", shapes[s]);
        real *g1 = read_real(f, name, n);
        snprintf(name, sizeof name, "muon.%s.g2", shapes[s]);
        real *g2 = read_real(f, name, n);
        for (int a = 0; a < 2; a++) {
            real *p = rt_malloc(sizeof(real) * (size_t)n), *mom = rt_calloc((size_t)n, sizeof(real));
            real *scratch = rt_malloc(sizeof(real) * muon_scratch_reals(r, c));
            memcpy(p, p0, sizeof(real) * (size_t)n);
            for (int step = 1; step <= 2; step++) {
                muon_update(p, step == 1 ? g1 : g2, mom, r, c, (real)0.02, (real)0.95, 1, 5, (real)3.4445, (real)-4.7750,
                            (real)2.0315, (real)0.1, a, scratch);
                for (int q = 0; q < 2; q++) {
                    snprintf(name, sizeof name, "muon.%s.%s.%s.p%d", shapes[s], adj[a], prec[q], step);
                    float *ref = read_f32(f, name, n);
                    printf("RESULT %s %.3e\n", name, rel_err_f(p, ref, n));
                    free(ref);
                }
            }
            free(p);
            free(mom);
            free(scratch);
        }
        free(p0);
        free(g1);
        free(g2);
    }
    /* AdamW: lr 1e-2, betas (0.9, 0.95), eps 1e-8, weight decay 0.1 */
    real *p = read_real(f, "adamw.p0", 50), *g1 = read_real(f, "adamw.g1", 50), *g2 = read_real(f, "adamw.g2", 50);
    real *mm = rt_calloc(50, sizeof(real)), *vv = rt_calloc(50, sizeof(real));
    for (int step = 1; step <= 2; step++) {
        adamw_update(p, step == 1 ? g1 : g2, mm, vv, 50, (real)1e-2, (real)0.9, (real)0.95, (real)1e-8, (real)0.1, step);
        char name[32];
        snprintf(name, sizeof name, "adamw.p%d", step);
        float *ref = read_f32(f, name, 50);
        printf("RESULT %s %.3e\n", name, rel_err_f(p, ref, 50));
        free(ref);
    }
    free(p);
    free(g1);
    free(g2);
    free(mm);
    free(vv);
    rt_safetensors_close(f);
    return 0;
}

/* splitmix64: the test's own inputs, independent of the model's RNG */
static uint64_t sm_state = 12345;
static uint64_t sm_next(void) {
    uint64_t z = (sm_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static double sm_uniform(void) { return (double)(sm_next() >> 11) / 9007199254740992.0; }

static int cmd_gradcheck(void) {
    if (sizeof(real) != sizeof(double)) {
        fprintf(stderr, "gradcheck needs a -DREAL=double build\n");
        return 2;
    }
    model_t *m = model_create();
    model_init_weights(m, 5);
    real *params = model_params(m), *grads = model_grads(m);
    /* Move every tensor off its special initial value (norm gains 1, D 1,
     * A_log = log n) so no gradient vanishes by symmetry. */
    for (int64_t i = 0; i < N_PARAMS; i++) params[i] += (real)(0.1 * (sm_uniform() * 2 - 1));
    int32_t tokens[BT], targets[BT];
    real mask[BT];
    uint8_t doc_start[BT];
    for (int i = 0; i < BT; i++) {
        tokens[i] = (int32_t)(sm_next() % VOCAB_SIZE);
        targets[i] = (int32_t)(sm_next() % VOCAB_SIZE);
        mask[i] = (i % 5 == 1) ? 0 : 1;
        doc_start[i] = 0;
    }
    doc_start[4] = 1;                 /* row 0: a document starts mid-row */
    if (MICRO_BATCH > 1) doc_start[SEQ_LEN + 6] = 1;
    model_zero_grad(m);
    model_forward_backward(m, tokens, targets, mask, doc_start, 1.0);
    const double h = 1e-5;
    double worst = 0;
    for (int t = 0; t < N_PARAM_TENSORS; t++) {
        const param_info_t *pi = &PARAM_TABLE[t];
        double tensor_worst = 0;
        int probes = pi->numel < 24 ? (int)pi->numel : 24;
        for (int k = 0; k < probes; k++) {
            int64_t idx = pi->numel < 24 ? k : (int64_t)(sm_next() % (uint64_t)pi->numel);
            real *w = &params[pi->offset + idx];
            real save = *w;
            double nv;
            *w = save + h;
            double lp = model_forward_loss(m, tokens, targets, mask, doc_start, &nv);
            *w = save - h;
            double lm = model_forward_loss(m, tokens, targets, mask, doc_start, &nv);
            *w = save;
            double fd = (lp - lm) / (2 * h), an = grads[pi->offset + idx];
            double err = fabs(fd - an) / fmax(fmax(fabs(fd), fabs(an)), 1e-3);
            if (err > tensor_worst) tensor_worst = err;
        }
        printf("RESULT gradcheck.%s %.3e\n", pi->name, tensor_worst);
        if (tensor_worst > worst) worst = tensor_worst;
    }
    printf("RESULT gradcheck.worst %.3e\n", worst);
    model_free(m);
    return 0;
}

/* Recurrent decoding against the full-sequence forward: every position of
 * every row, from a fresh state per row. */
static int cmd_decode(void) {
    model_t *m = model_create();
    model_init_weights(m, 9);
    real *params = model_params(m);
    for (int64_t i = 0; i < N_PARAMS; i++) params[i] += (real)(0.05 * (sm_uniform() * 2 - 1));
    model_params_upload(m);
    int32_t tokens[BT];
    for (int i = 0; i < BT; i++) tokens[i] = (int32_t)(sm_next() % VOCAB_SIZE);
    real *full = rt_malloc(sizeof(real) * (size_t)BT * VOCAB_PADDED), *one = rt_malloc(sizeof(real) * VOCAB_PADDED);
    model_logits(m, tokens, NULL, MICRO_BATCH, full);
    double num = 0, den = 0;
    for (int b = 0; b < MICRO_BATCH; b++) {
        model_decode_reset(m);
        for (int t = 0; t < SEQ_LEN; t++) {
            model_decode_step(m, tokens[b * SEQ_LEN + t], one);
            const real *ref = full + ((size_t)b * SEQ_LEN + t) * VOCAB_PADDED;
            for (int v = 0; v < VOCAB_PADDED; v++) {
                num = fmax(num, fabs((double)one[v] - (double)ref[v]));
                den = fmax(den, fabs((double)ref[v]));
            }
        }
    }
    printf("RESULT decode %.3e\n", den > 0 ? num / den : num);
    free(full);
    free(one);
    model_free(m);
    return 0;
}

/* Packing: two examples in one row with a document start between them give
 * the second example the same per-token losses as running it alone (the
 * scan and conv states reset); without the reset they leak. Prints the
 * largest difference in each case. Needs a spec with
 * reset_state_at_doc_boundaries and SEQ_LEN >= 48. */
static double nll_at(const real *logits, int32_t target) {
    double mx = -1e30, z = 0;
    for (int v = 0; v < VOCAB_PADDED; v++) mx = fmax(mx, logits[v]);
    for (int v = 0; v < VOCAB_PADDED; v++) z += exp(logits[v] - mx);
    return log(z) + mx - logits[target];
}

static int cmd_packing(void) {
    if (!RESET_AT_DOC_BOUNDARIES || SEQ_LEN < 48) {
        fprintf(stderr, "packing needs reset_state_at_doc_boundaries and seq_len >= 48\n");
        return 2;
    }
    model_t *m = model_create();
    model_init_weights(m, 11);
    const int L1 = 20, L2 = 25;
    static int32_t packed[BT], alone[BT];
    static uint8_t ds_packed[BT], ds_alone[BT];
    int32_t ex1[64], ex2[64];
    for (int i = 0; i < L1; i++) ex1[i] = (int32_t)(sm_next() % VOCAB_SIZE);
    for (int i = 0; i < L2; i++) ex2[i] = (int32_t)(sm_next() % VOCAB_SIZE);
    for (int i = 0; i < BT; i++) packed[i] = alone[i] = (int32_t)(sm_next() % VOCAB_SIZE);
    memcpy(packed, ex1, sizeof(int32_t) * L1);
    memcpy(packed + L1, ex2, sizeof(int32_t) * L2);
    memcpy(alone, ex2, sizeof(int32_t) * L2);
    ds_packed[0] = ds_packed[L1] = ds_packed[L1 + L2] = 1;
    ds_alone[0] = ds_alone[L2] = 1;
    real *lp = rt_malloc(sizeof(real) * (size_t)BT * VOCAB_PADDED), *la = rt_malloc(sizeof(real) * (size_t)BT * VOCAB_PADDED);
    double worst_reset = 0, worst_leak = 0, mean_p = 0, mean_a = 0;
    model_logits(m, alone, ds_alone, MICRO_BATCH, la);
    model_logits(m, packed, ds_packed, MICRO_BATCH, lp);
    for (int t = 0; t + 1 < L2; t++) {
        double a = nll_at(la + (size_t)t * VOCAB_PADDED, ex2[t + 1]);
        double p = nll_at(lp + (size_t)(L1 + t) * VOCAB_PADDED, ex2[t + 1]);
        worst_reset = fmax(worst_reset, fabs(a - p));
        mean_a += a / (L2 - 1), mean_p += p / (L2 - 1);
    }
    model_logits(m, packed, NULL, MICRO_BATCH, lp);
    for (int t = 0; t + 1 < L2; t++) {
        double a = nll_at(la + (size_t)t * VOCAB_PADDED, ex2[t + 1]);
        double p = nll_at(lp + (size_t)(L1 + t) * VOCAB_PADDED, ex2[t + 1]);
        worst_leak = fmax(worst_leak, fabs(a - p));
    }
    printf("example loss alone %.9f, packed %.9f\n", mean_a, mean_p);
    printf("RESULT packing.reset %.3e\nRESULT packing.noreset %.3e\n", worst_reset, worst_leak);
    free(lp);
    free(la);
    model_free(m);
    return 0;
}

#ifdef HAVE_CHECKPOINT
/* Writes DIR/export (our checkpoint format: HF names + config.json) of
 * seeded weights and DIR/tokens.safetensors, for
 * tests/reference/make_hf_export_fixture.py to load into transformers. */
static int cmd_export(const char *dir) {
    model_t *m = model_create();
    model_init_weights(m, 21);
    real *params = model_params(m);
    for (int64_t i = 0; i < N_PARAMS; i++) params[i] += (real)(0.05 * (sm_uniform() * 2 - 1));
    model_params_upload(m);
    if (rt_mkdirs(dir) != 0 || save_checkpoint(m, dir, "export", 0, NAN, NULL) != 0) return 2;
    static int32_t tokens[BT];
    for (int i = 0; i < BT; i++) tokens[i] = (int32_t)(sm_next() % VOCAB_SIZE);
    static float tf[BT];
    for (int i = 0; i < BT; i++) tf[i] = (float)tokens[i];
    rt_tensor_t t = {"input_ids", 2, {MICRO_BATCH, SEQ_LEN}, tf};
    char path[4096];
    snprintf(path, sizeof path, "%s/tokens.safetensors", dir);
    int rc = rt_safetensors_save(path, &t, 1, NULL, NULL, 0);
    model_free(m);
    return rc ? 2 : 0;
}

/* Our logits for the exported checkpoint against transformers' (fixture
 * made by tests/reference/make_hf_export_fixture.py). */
static int cmd_hfexport(const char *ckpt_dir, const char *fixture) {
    model_t *m = model_create();
    if (load_weights(m, ckpt_dir) != 0) return 2;
    rt_safetensors_t *f = rt_safetensors_open(fixture);
    if (!f) return 2;
    float *tf = read_f32(f, "input_ids", BT);
    static int32_t tokens[BT];
    for (int i = 0; i < BT; i++) tokens[i] = (int32_t)tf[i];
    real *logits = rt_malloc(sizeof(real) * (size_t)BT * VOCAB_PADDED);
    model_logits(m, tokens, NULL, MICRO_BATCH, logits);
    float *ref = read_f32(f, "logits", (int64_t)BT * VOCAB_PADDED);
    printf("RESULT hfexport.logits %.3e\n", rel_err_f(logits, ref, (int64_t)BT * VOCAB_PADDED));
    free(tf);
    free(ref);
    free(logits);
    rt_safetensors_close(f);
    model_free(m);
    return 0;
}
#endif

/* The same weights and batch on any backend: writes the loss and every
 * gradient to FILE, for `compare` against another backend's dump. */
static int cmd_dump(const char *path) {
    model_t *m = model_create();
    model_init_weights(m, 3);
    static int32_t tokens[BT], targets[BT];
    static real mask[BT];
    static uint8_t doc_start[BT];
    for (int i = 0; i < BT; i++) {
        tokens[i] = (int32_t)(sm_next() % VOCAB_SIZE);
        targets[i] = (int32_t)(sm_next() % VOCAB_SIZE);
        mask[i] = (i % 7 == 3) ? 0 : 1;
        doc_start[i] = (i % SEQ_LEN) == SEQ_LEN / 3;
    }
    model_zero_grad(m);
    double loss = model_forward_backward(m, tokens, targets, mask, doc_start, 1.0);
    real *grads = model_grads(m);
    static float gbuf[N_PARAMS];
    for (int64_t i = 0; i < N_PARAMS; i++) gbuf[i] = (float)grads[i];
    static char names[N_PARAM_TENSORS + 1][128];
    rt_tensor_t t[N_PARAM_TENSORS + 1];
    float lossf = (float)loss;
    t[0] = (rt_tensor_t){"loss", 1, {1}, &lossf};
    for (int i = 0; i < N_PARAM_TENSORS; i++) {
        snprintf(names[i + 1], sizeof names[i + 1], "grad.%s", PARAM_TABLE[i].name);
        t[i + 1] = (rt_tensor_t){names[i + 1], 1, {PARAM_TABLE[i].numel}, gbuf + PARAM_TABLE[i].offset};
    }
    int rc = rt_safetensors_save(path, t, N_PARAM_TENSORS + 1, NULL, NULL, 0);
    printf("loss %.6f written to %s\n", loss, path);
    model_free(m);
    return rc ? 2 : 0;
}

/* RESULT lines: relative error of every tensor of dump B against dump A. */
static int cmd_compare(const char *a, const char *b) {
    rt_safetensors_t *fa = rt_safetensors_open(a), *fb = rt_safetensors_open(b);
    if (!fa || !fb) return 2;
    for (int i = 0; i < rt_safetensors_count(fa); i++) {
        const char *name = rt_safetensors_name(fa, i);
        const char *dt;
        int nd;
        int64_t shape[8];
        if (rt_safetensors_find(fa, name, &dt, &nd, shape) != 0) return 2;
        int64_t n = 1;
        for (int d = 0; d < nd; d++) n *= shape[d];
        float *x = read_f32(fa, name, n), *y = read_f32(fb, name, n);
        double num = 0, den = 0;
        for (int64_t k = 0; k < n; k++) {
            num = fmax(num, fabs((double)x[k] - (double)y[k]));
            den = fmax(den, fabs((double)x[k]));
        }
        printf("RESULT %s %.3e\n", name, den > 0 ? num / den : num);
        free(x);
        free(y);
    }
    rt_safetensors_close(fa);
    rt_safetensors_close(fb);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "fixture")) return cmd_fixture(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "optim")) return cmd_optim(argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "gradcheck")) return cmd_gradcheck();
    if (argc >= 2 && !strcmp(argv[1], "decode")) return cmd_decode();
    if (argc >= 3 && !strcmp(argv[1], "dump")) return cmd_dump(argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "packing")) return cmd_packing();
#ifdef HAVE_CHECKPOINT
    if (argc >= 3 && !strcmp(argv[1], "export")) return cmd_export(argv[2]);
    if (argc >= 4 && !strcmp(argv[1], "hfexport")) return cmd_hfexport(argv[2], argv[3]);
#endif
    if (argc >= 4 && !strcmp(argv[1], "compare")) return cmd_compare(argv[2], argv[3]);
    fprintf(stderr, "usage: %s fixture FILE | optim FILE | gradcheck\n", argv[0]);
    return 2;
}
