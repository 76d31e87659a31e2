/*@ banner @*/
/* model.c: one Mamba-1 language model of fixed shape: weight init, forward,
 * backward and the hybrid Muon/AdamW step, fp32 on the CPU.
 *
 * This file is the template gen specialises (templates/cpu/model.c): each
 * line of the form "slash-star-at NAME at-star-slash" is replaced by code the
 * generator writes from the plan, fully unrolled over layers with the shapes
 * as literals. The ops it calls (one header per op, forward and backward side
 * by side) are templates/cpu/<op>.h; they are static, so the compiler
 * specialises them for the literal shapes at each call site. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "embedding.h"
#include "rmsnorm.h"
#include "matmul.h"
#include "conv1d.h"
#include "softplus.h"
#include "scan.h"
#include "lmhead_xent.h"
#include "optim.h"
#include "init.h"
#include "decode.h"

/* Parameter table in state-dict (checkpoint) order; offsets follow the
 * planner's layout (Muon matrices, AdamW with decay, AdamW without). */
const param_info_t PARAM_TABLE[N_PARAM_TENSORS] = {
/*@ param_table @*/
};

struct model {
    real *params;     /* (N_PARAMS) layout order */
    real *grads;      /* (N_PARAMS) */
    real *muon_mom;   /* (MUON_NUMEL) momentum of the Muon matrices */
    real *adam_m;     /* (ADAMW_NUMEL) first moments, AdamW range */
    real *adam_v;     /* (ADAMW_NUMEL) second moments */
    real *act;        /* (ACT_TOTAL) activation arena laid out by the planner */
    real *scratch;    /* scan backward, LM-head chunks, Newton-Schulz (scratch_reals()) */
    real *dec;        /* recurrent decoding state, allocated on first use */
    long step;        /* optimizer steps taken (AdamW bias correction) */
};

#define P(t) (m->params + t##_OFF)
#define G(t) (m->grads + t##_OFF)
#define MOM(t) (m->muon_mom + (t##_OFF - MUON_OFF))
#define ACT(b, l) (m->act + b##_OFF + (size_t)(l) * b##_PER_LAYER)

/*@ scratch @*/

static void *model_alloc(size_t count, const char *what) {
    void *p = calloc(count ? count : 1, sizeof(real));
    if (!p) {
        fprintf(stderr, "error: cannot allocate %zu bytes for %s of variant %s\n", count * sizeof(real), what,
                VARIANT_NAME);
        exit(1);
    }
    return p;
}

model_t *model_create(void) {
    model_t *m = calloc(1, sizeof *m);
    if (!m) exit(1);
    m->params = model_alloc(N_PARAMS, "parameters");
    m->grads = model_alloc(N_PARAMS, "gradients");
    m->muon_mom = model_alloc(MUON_NUMEL, "Muon momentum");
    m->adam_m = model_alloc(ADAMW_NUMEL, "AdamW moments");
    m->adam_v = model_alloc(ADAMW_NUMEL, "AdamW moments");
    m->act = model_alloc(ACT_TOTAL, "activations");
    m->scratch = model_alloc(scratch_reals(), "scratch");
    return m;
}

void model_free(model_t *m) {
    if (!m) return;
    free(m->params);
    free(m->grads);
    free(m->muon_mom);
    free(m->adam_m);
    free(m->adam_v);
    free(m->act);
    free(m->scratch);
    free(m->dec);
    free(m);
}

real *model_params(model_t *m) { return m->params; }
real *model_grads(model_t *m) { return m->grads; }
void model_set_step(model_t *m, long step) { m->step = step; }
void model_get_state(model_t *m, real *muon_mom, real *adam_m, real *adam_v) {
    memcpy(muon_mom, m->muon_mom, sizeof(real) * MUON_NUMEL);
    memcpy(adam_m, m->adam_m, sizeof(real) * ADAMW_NUMEL);
    memcpy(adam_v, m->adam_v, sizeof(real) * ADAMW_NUMEL);
}
void model_set_state(model_t *m, const real *muon_mom, const real *adam_m, const real *adam_v) {
    memcpy(m->muon_mom, muon_mom, sizeof(real) * MUON_NUMEL);
    memcpy(m->adam_m, adam_m, sizeof(real) * ADAMW_NUMEL);
    memcpy(m->adam_v, adam_v, sizeof(real) * ADAMW_NUMEL);
}
void model_zero_grad(model_t *m) { memset(m->grads, 0, sizeof(real) * N_PARAMS); }

/* mamba_ssm's initialisation (mamba_simple.py + mixer_seq_simple.py
 * _init_weights): one RNG stream per tensor, so a tensor's values do not
 * depend on the order of the others. */
void model_init_weights(model_t *m, uint64_t seed) {
    rng_t rng;
/*@ init @*/
}

/* Forward over nb rows of SEQ_LEN tokens (nb <= MICRO_BATCH). Leaves the
 * final normed hidden states in ACT_NORMF. */
static void forward(model_t *m, const int32_t *tokens, const uint8_t *doc_start, int nb) {
    const int BT = nb * SEQ_LEN;
    (void)doc_start;
/*@ forward @*/
}

double model_forward_backward(model_t *m, const int32_t *tokens, const int32_t *targets, const real *mask,
                              const uint8_t *doc_start, double grad_scale) {
    const int BT = MICRO_BATCH * SEQ_LEN;
    double n_valid = 0;
    for (int i = 0; i < BT; i++) n_valid += mask ? mask[i] : 1;
    if (n_valid == 0) return 0;
    forward(m, tokens, doc_start, MICRO_BATCH);
/*@ backward @*/
    return loss_sum / n_valid;
}

double model_forward_loss(model_t *m, const int32_t *tokens, const int32_t *targets, const real *mask,
                          const uint8_t *doc_start, double *n_valid_out) {
    const int BT = MICRO_BATCH * SEQ_LEN;
    double n_valid = 0;
    for (int i = 0; i < BT; i++) n_valid += mask ? mask[i] : 1;
    *n_valid_out = n_valid;
    if (n_valid == 0) return 0;
    forward(m, tokens, doc_start, MICRO_BATCH);
    const double loss_sum = lmhead_xent_forward_backward(NULL, NULL, ACT(ACT_NORMF, 0), P(EMBEDDING_W), targets, mask,
                                                         BT, D_MODEL, VOCAB_PADDED, 0, m->scratch);
    return loss_sum / n_valid;
}

void model_logits(model_t *m, const int32_t *tokens, const uint8_t *doc_start, int nb, real *logits) {
    forward(m, tokens, doc_start, nb);
    lmhead_logits(logits, ACT(ACT_NORMF, 0), P(EMBEDDING_W), nb * SEQ_LEN, D_MODEL, VOCAB_PADDED);
}

/*@ decode @*/

static double global_grad_norm(const model_t *m) { return sqrt(grad_sq_sum(m->grads, N_PARAMS)); }

static void optimizer_step(model_t *m, const optim_hparams_t *h, double lr_ratio, double clip_scale) {
    m->step++;
    if (clip_scale != 1.0) scale_inplace(m->grads, N_PARAMS, (real)clip_scale);
    const real lr_muon = (real)(h->muon_lr * lr_ratio);
    const real lr_adamw = (real)(h->adamw_lr * lr_ratio);
    (void)lr_muon;
    (void)lr_adamw;
/*@ optimizer @*/
}

double model_train_step(model_t *m, const model_batch_t *mb, const optim_hparams_t *h, double lr_ratio,
                        double grad_clip, double *grad_norm) {
    model_zero_grad(m);
    double loss = 0;
    for (int i = 0; i < GRAD_ACCUM; i++)
        loss += model_forward_backward(m, mb[i].tokens, mb[i].targets, mb[i].mask, mb[i].doc_start, 1.0 / GRAD_ACCUM) /
                GRAD_ACCUM;
    const double norm = global_grad_norm(m);
    *grad_norm = norm;
    /* torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when above */
    const double clip = grad_clip > 0 && norm > grad_clip ? grad_clip / (norm + 1e-6) : 1.0;
    optimizer_step(m, h, lr_ratio, clip);
    return loss;
}

void model_params_upload(model_t *m) { (void)m; /* the CPU model reads its parameters in place */ }


/* Benchmark of the CPU backend: mean time of `steps` training steps on
 * synthetic tokens. */
void model_bench(model_t *m, const optim_hparams_t *h, const model_batch_t *mb, int steps, int top) {
    (void)top; /* no per-op marks on the CPU */
    const size_t n = (size_t)MICRO_BATCH * SEQ_LEN;
    double gn;
    model_train_step(m, mb, h, 1.0, 1.0, &gn);
    double t0 = omp_get_wtime();
    for (int i = 0; i < steps; i++) model_train_step(m, mb, h, 1.0, 1.0, &gn);
    double ms = (omp_get_wtime() - t0) * 1e3 / steps, tps = (double)n * GRAD_ACCUM / (ms / 1e3);
    printf("variant %s (cpu, %d threads): %.1f ms per step, %.0f tokens/s, %.1f GFLOP/s (6 x N_2D x tokens/s)\n", VARIANT_NAME,
           omp_get_max_threads(), ms, tps, 6.0 * (double)N_PARAMS_2D * tps / 1e9);
}
