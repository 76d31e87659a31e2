/* emit_cpu.c: the CPU backend: model.h and the generated sections of
 * templates/cpu/model.c, unrolled over layers with literal shapes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"

void emit_model_h_common(emitter_t *e, sb_t *o) {
    const plan_t *p = e->plan;
    const spec_t *s = p->s;
    dims_t d = dims_of(s);
    char eps[40];
    fmt_double(s->model.norm_eps, eps, sizeof eps);
    emit_banner(p, "model.h", " *", o);
    if (s->backend == BACKEND_CUDA)
        sb_printf(o, "#ifndef MODEL_H\n#define MODEL_H\n\n#include <stdint.h>\n\n/* the CUDA backend keeps fp32 master weights */\ntypedef float real;\n\n");
    else
        sb_printf(o, "#ifndef MODEL_H\n#define MODEL_H\n\n#include <stdint.h>\n\n#include \"common.h\"\n\n");
    sb_printf(o, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    sb_printf(o, "#define VARIANT_NAME \"%s\"\n#define SPEC_HASH \"%s\"\n#define GEN_VERSION \"%s\"\n\n", s->name, s->hash,
              GEN_VERSION);
    sb_printf(o, "/* shapes */\n");
    sb_printf(o, "#define D_MODEL %d\n#define N_LAYER %d\n#define VOCAB_SIZE %d\n#define VOCAB_PADDED %d\n", d.D, d.L,
              d.V, d.Vp);
    sb_printf(o, "#define D_STATE %d\n#define D_CONV %d\n#define EXPAND %d\n#define D_INNER %d\n#define DT_RANK %d\n",
              d.N, d.K, s->model.expand, d.E, d.R);
    sb_printf(o, "#define SEQ_LEN %d\n#define MICRO_BATCH %d\n#define GRAD_ACCUM %d\n", d.T, d.B,
              s->train.grad_accum);
    sb_printf(o, "#define NORM_EPS ((real)%s)\n#define RESET_AT_DOC_BOUNDARIES %d\n\n", eps,
              s->train.reset_state_at_doc_boundaries ? 1 : 0);
    sb_printf(o, "/* parameter buffer: %s floats; optimizer groups are contiguous ranges */\n", fmt_count(p->total));
    sb_printf(o, "#define N_PARAMS %lldL\n#define N_PARAMS_2D %lldL\n#define N_PARAM_TENSORS %d\n", (long long)p->total,
              (long long)p->n_2d, p->n);
    sb_printf(o, "#define MUON_OFF %lldL\n#define MUON_NUMEL %lldL\n", (long long)p->muon.offset,
              (long long)p->muon.numel);
    int64_t adam_off = p->muon.numel;
    sb_printf(o, "#define ADAMW_OFF %lldL\n#define ADAMW_NUMEL %lldL\n", (long long)adam_off,
              (long long)(p->adamw_decay.numel + p->adamw_nodecay.numel));
    sb_printf(o, "#define ADAMW_DECAY_OFF %lldL\n#define ADAMW_DECAY_NUMEL %lldL\n", (long long)adam_off,
              (long long)p->adamw_decay.numel);
    sb_printf(o, "#define ADAMW_NODECAY_OFF %lldL\n#define ADAMW_NODECAY_NUMEL %lldL\n\n",
              (long long)(adam_off + p->adamw_decay.numel), (long long)p->adamw_nodecay.numel);
    sb_printf(o, "/* parameter offsets (floats), layout order */\n");
    for (int i = 0; i < p->n; i++)
        sb_printf(o, "#define %s_OFF %lldL /* %s */\n", p->params[i].cname, (long long)p->params[i].offset,
                  p->params[i].p.name);
    sb_printf(o, "\n/* activation arena (floats) */\n");
    for (int i = 0; i < p->n_bufs; i++) {
        const plan_buf_t *b = &p->bufs[i];
        sb_printf(o, "#define %s_OFF %lldL /* %s */\n#define %s_PER_LAYER %lldL\n", b->name, (long long)b->offset,
                  b->shape, b->name, (long long)b->per_layer);
    }
    sb_printf(o, "#define ACT_TOTAL %lldL\n\n", (long long)p->act_total);
    sb_puts(o,
            "typedef struct {\n"
            "    const char *name;   /* state-dict name (mamba_ssm spelling, no \"backbone.\") */\n"
            "    int ndim;\n"
            "    int64_t shape[3];\n"
            "    int64_t offset;     /* floats into the parameter buffer */\n"
            "    int64_t numel;\n"
            "    int group;          /* 0 muon, 1 adamw */\n"
            "    int decay;          /* weight decay applies */\n"
            "} param_info_t;\n"
            "extern const param_info_t PARAM_TABLE[N_PARAM_TENSORS];\n\n"
            "/* Optimizer settings that are not shapes (the runtime may override them). */\n"
            "typedef struct {\n"
            "    double muon_lr, muon_momentum, muon_weight_decay, muon_ns_coef[3];\n"
            "    int muon_nesterov, muon_ns_steps, muon_lr_adjust;\n"
            "    double adamw_lr, adamw_beta1, adamw_beta2, adamw_eps, adamw_weight_decay;\n"
            "} optim_hparams_t;\n\n"
            "/* One micro-batch: (MICRO_BATCH, SEQ_LEN) each; doc_start may be NULL. */\n"
            "typedef struct {\n"
            "    const int32_t *tokens, *targets;\n"
            "    const real *mask;\n"
            "    const uint8_t *doc_start;\n"
            "} model_batch_t;\n\n"
            "typedef struct model model_t;\n"
            "model_t *model_create(void);\n"
            "void model_free(model_t *m);\n"
            "void model_init_weights(model_t *m, uint64_t seed);\n"
            "real *model_params(model_t *m);\n"
            "real *model_grads(model_t *m);\n"
            "/* Optimizer state for checkpoints: Muon momentum (MUON_NUMEL), AdamW m and v (ADAMW_NUMEL). */\n"
            "void model_get_state(model_t *m, real *muon_mom, real *adam_m, real *adam_v);\n"
            "void model_set_state(model_t *m, const real *muon_mom, const real *adam_m, const real *adam_v);\n"
            "void model_set_step(model_t *m, long step);\n"
            "void model_zero_grad(model_t *m);\n"
            "/* tokens, targets, mask, doc_start: (MICRO_BATCH, SEQ_LEN); mask/doc_start may be NULL.\n"
            " * Accumulates grad_scale * d(mean masked loss) into the gradients; returns the mean loss. */\n"
            "double model_forward_backward(model_t *m, const int32_t *tokens, const int32_t *targets, const real *mask,\n"
            "                              const uint8_t *doc_start, double grad_scale);\n"
            "/* Mean masked loss without gradients; *n_valid gets the number of masked-in targets. */\n"
            "double model_forward_loss(model_t *m, const int32_t *tokens, const int32_t *targets, const real *mask,\n"
            "                          const uint8_t *doc_start, double *n_valid);\n"
            "/* logits: (nb*SEQ_LEN, VOCAB_PADDED) for nb rows of tokens. */\n"
            "void model_logits(model_t *m, const int32_t *tokens, const uint8_t *doc_start, int nb, real *logits);\n"

            "/* Recurrent generation: reset the state, then feed one token at a time; logits (VOCAB_PADDED)\n"
            " * of the next token. Constant memory and time per token. */\n"
            "void model_decode_reset(model_t *m);\n"
            "void model_decode_step(model_t *m, int32_t token, real *logits);\n"
            "/* One optimizer step over GRAD_ACCUM micro-batches: zero the gradients, forward and backward each,\n"
            " * clip the global gradient norm to grad_clip (0: off), Muon + AdamW at lr * lr_ratio. Returns the\n"
            " * mean loss; *grad_norm gets the norm before clipping. */\n"
            "double model_train_step(model_t *m, const model_batch_t *mb, const optim_hparams_t *h, double lr_ratio,\n"
            "                        double grad_clip, double *grad_norm);\n"
            "/* `make bench`: time `steps` training steps on synthetic tokens and print the breakdown\n"
            " * (its `top` costliest ops). */\n"
            "void model_bench(model_t *m, const optim_hparams_t *h, const model_batch_t *mb, int steps, int top);\n"
            "/* After changing model_params() in place (loading a checkpoint): make the change effective. */\n"
            "void model_params_upload(model_t *m);\n\n"
            "#ifdef __cplusplus\n}\n#endif\n\n"
            "#endif\n");
}

int emit_fill_param_table(emitter_t *e, sb_t *o) {
    const plan_t *p = e->plan;
    for (int t = 0; t < p->n; t++) {
        const plan_param_t *pp = &p->params[p->by_table[t]];
        sb_printf(o, "    {\"%s\", %d, {%lld, %lld, %lld}, %s_OFF, %lld, %d, %d},\n", pp->p.name, pp->p.ndim,
                  (long long)pp->p.shape[0], (long long)(pp->p.ndim > 1 ? pp->p.shape[1] : 0),
                  (long long)(pp->p.ndim > 2 ? pp->p.shape[2] : 0), pp->cname, (long long)pp->p.numel,
                  pp->p.group == GROUP_MUON ? 0 : 1, pp->p.decay ? 1 : 0);
    }
    return 0;
}

static void init_uniform_line(sb_t *o, const plan_param_t *pp, double bound, const char *why) {
    char b[40], nb[42];
    fmt_double(bound, b, sizeof b);
    snprintf(nb, sizeof nb, "-%s", b);
    sb_printf(o, "    /* %s: %s */\n", pp->p.name, why);
    sb_printf(o, "    rng_seed(&rng, seed, %d);\n    init_uniform(P(%s), %lld, %s, %s, &rng);\n", pp->table_index,
              pp->cname, (long long)pp->p.numel, nb, b);
}

int emit_fill_init(emitter_t *e, sb_t *o) {
    const plan_t *p = e->plan;
    const spec_t *s = p->s;
    dims_t d = dims_of(s);
    char v1[40], v2[40], v3[40];
    for (int t = 0; t < p->n; t++) {
        const plan_param_t *pp = &p->params[p->by_table[t]];
        const char *k = pp->kind;
        long long n = (long long)pp->p.numel;
        if (!strcmp(k, "embedding.weight")) {
            fmt_double(s->model.init.embed_std, v1, sizeof v1);
            sb_printf(o, "    /* %s: N(0, embed_std) */\n    rng_seed(&rng, seed, %d);\n", pp->p.name, pp->table_index);
            sb_printf(o, "    init_normal(P(%s), %lld, %s, &rng);\n", pp->cname, n, v1);
        } else if (!strcmp(k, "norm.weight") || !strcmp(k, "norm_f.weight")) {
            sb_printf(o, "    /* %s: RMSNorm gain 1 */\n    init_const(P(%s), %lld, 1.0);\n", pp->p.name, pp->cname, n);
        } else if (!strcmp(k, "in_proj.weight")) {
            init_uniform_line(o, pp, 1.0 / sqrt((double)d.D), "nn.Linear default, U(+-1/sqrt(d_model))");
        } else if (!strcmp(k, "conv1d.weight") || !strcmp(k, "conv1d.bias")) {
            init_uniform_line(o, pp, 1.0 / sqrt((double)d.K), "nn.Conv1d default, U(+-1/sqrt(d_conv))");
        } else if (!strcmp(k, "x_proj.weight")) {
            init_uniform_line(o, pp, 1.0 / sqrt((double)d.E), "nn.Linear default, U(+-1/sqrt(d_inner))");
        } else if (!strcmp(k, "dt_proj.weight")) {
            init_uniform_line(o, pp, 1.0 / sqrt((double)d.R), "dt_init random, U(+-dt_rank^-0.5)");
        } else if (!strcmp(k, "dt_proj.bias")) {
            fmt_double(s->model.init.dt_min, v1, sizeof v1);
            fmt_double(s->model.init.dt_max, v2, sizeof v2);
            fmt_double(s->model.init.dt_init_floor, v3, sizeof v3);
            sb_printf(o, "    /* %s: inverse softplus of dt, log-uniform in [dt_min, dt_max], floored */\n", pp->p.name);
            sb_printf(o, "    rng_seed(&rng, seed, %d);\n    init_dt_bias(P(%s), %d, %s, %s, %s, &rng);\n",
                      pp->table_index, pp->cname, d.E, v1, v2, v3);
        } else if (!strcmp(k, "A_log")) {
            sb_printf(o, "    /* %s: log(1..d_state), S4D-Real */\n    init_A_log(P(%s), %d, %d);\n", pp->p.name, pp->cname,
                      d.E, d.N);
        } else if (!strcmp(k, "D")) {
            sb_printf(o, "    /* %s: ones */\n    init_const(P(%s), %lld, 1.0);\n", pp->p.name, pp->cname, n);
        } else if (!strcmp(k, "out_proj.weight")) {
            double bound = 1.0 / sqrt((double)d.E);
            if (s->model.init.rescale_prenorm_residual) {
                bound /= sqrt((double)d.L);
                init_uniform_line(o, pp, bound, "U(+-1/sqrt(d_inner)) / sqrt(n_layer) (rescale_prenorm_residual)");
            } else {
                init_uniform_line(o, pp, bound, "nn.Linear default, U(+-1/sqrt(d_inner))");
            }
        } else {
            fprintf(stderr, "gen: internal error: no init rule for %s\n", pp->p.name);
            return -1;
        }
    }
    return 0;
}

/* ---- forward -------------------------------------------------------------- */

static int fill_forward(emitter_t *e, sb_t *o) {
    const plan_t *p = e->plan;
    const spec_t *s = p->s;
    dims_t d = dims_of(s);
    const int X = d.R + 2 * d.N; /* x_proj width: dt_low | B | C */
    const double BT = (double)d.BT;
    const char *ds = s->train.reset_state_at_doc_boundaries ? "doc_start" : "NULL";
    sb_printf(o, "    /* embedding: tokens (B*T) -> resid[0] (B*T, %d) */\n", d.D);
    sb_printf(o, "    embedding_forward(ACT(ACT_RESID, 0), tokens, P(EMBEDDING_W), BT, %d);\n", d.D);
    emit_record(e, "forward", -1, "embedding", 0, 4.0 * (2 * BT * d.D + BT), "tokens (%d,%d) -> (%lld,%d)", d.B, d.T,
                d.BT, d.D);
    for (int l = 0; l < d.L; l++) {
        sb_printf(o, "\n    /* ---- layer %d ---- */\n", l);
        if (l > 0) {
            sb_printf(o, "    /* residual: resid[%d] = resid[%d] + mixer out (written by out_proj below) */\n", l, l - 1);
        }
        sb_printf(o, "    /* RMSNorm: resid[%d] (B*T, %d) -> normed */\n", l, d.D);
        sb_printf(o, "    rmsnorm_forward(ACT(ACT_NORMED, %d), ACT(ACT_RSTD, %d), ACT(ACT_RESID, %d), P(L%d_NORM_W), BT, %d, NORM_EPS);\n",
                  l, l, l, l, d.D);
        emit_record(e, "forward", l, "rmsnorm", 4 * BT * d.D, 4.0 * 2 * BT * d.D, "(%lld,%d)", d.BT, d.D);
        sb_printf(o, "    /* in_proj: normed (B*T, %d) x W(%d, %d)^T -> xz (B*T, %d) = [x | z] */\n", d.D, 2 * d.E, d.D,
                  2 * d.E);
        sb_printf(o, "    matmul_forward(ACT(ACT_XZ, %d), %d, ACT(ACT_NORMED, %d), %d, P(L%d_IN_PROJ_W), NULL, BT, %d, %d);\n", l,
                  2 * d.E, l, d.D, l, d.D, 2 * d.E);
        emit_record(e, "forward", l, "in_proj", 2 * BT * d.D * 2 * d.E, 4.0 * (BT * d.D + 2.0 * d.E * d.D + BT * 2 * d.E),
                    "(%lld,%d) x (%d,%d)^T", d.BT, d.D, 2 * d.E, d.D);
        sb_printf(o, "    /* causal depthwise conv1d (k=%d) + bias + SiLU: x (B*T, %d, stride %d) -> xc (B*T, %d) */\n", d.K,
                  d.E, 2 * d.E, d.E);
        sb_printf(o, "    conv1d_silu_forward(ACT(ACT_XC, %d), NULL, ACT(ACT_XZ, %d), %d, P(L%d_CONV1D_W), P(L%d_CONV1D_B), %s, nb, %d, %d, %d);\n",
                  l, l, 2 * d.E, l, l, ds, d.T, d.E, d.K);
        emit_record(e, "forward", l, "conv1d_silu", BT * d.E * (2.0 * d.K + 5), 4.0 * 2 * BT * d.E, "(%d,%d,%d) k=%d",
                    d.B, d.T, d.E, d.K);
        sb_printf(o, "    /* x_proj: xc (B*T, %d) x W(%d, %d)^T -> x_dbl (B*T, %d) = [dt_low %d | B %d | C %d] */\n", d.E, X,
                  d.E, X, d.R, d.N, d.N);
        sb_printf(o, "    matmul_forward(ACT(ACT_XDBL, %d), %d, ACT(ACT_XC, %d), %d, P(L%d_X_PROJ_W), NULL, BT, %d, %d);\n", l, X,
                  l, d.E, l, d.E, X);
        emit_record(e, "forward", l, "x_proj", 2 * BT * d.E * X, 4.0 * (BT * d.E + (double)X * d.E + BT * X),
                    "(%lld,%d) x (%d,%d)^T", d.BT, d.E, X, d.E);
        sb_printf(o, "    /* dt_proj + bias: dt_low (B*T, %d, stride %d) x W(%d, %d)^T -> dt_raw (B*T, %d); softplus -> delta */\n",
                  d.R, X, d.E, d.R, d.E);
        sb_printf(o, "    matmul_forward(ACT(ACT_DTRAW, %d), %d, ACT(ACT_XDBL, %d), %d, P(L%d_DT_PROJ_W), P(L%d_DT_PROJ_B), BT, %d, %d);\n",
                  l, d.E, l, X, l, l, d.R, d.E);
        sb_printf(o, "    softplus_forward(ACT(ACT_DELTA, %d), ACT(ACT_DTRAW, %d), (long)BT * %d);\n", l, l, d.E);
        emit_record(e, "forward", l, "dt_proj_softplus", 2 * BT * d.R * d.E + 4 * BT * d.E,
                    4.0 * (BT * d.R + (double)d.R * d.E + 2 * BT * d.E), "(%lld,%d) x (%d,%d)^T", d.BT, d.R, d.E, d.R);
        sb_printf(o, "    /* selective scan (N=%d) with D skip and SiLU(z) gate -> y (B*T, %d) */\n", d.N, d.E);
        sb_printf(o, "    selective_scan_forward(ACT(ACT_Y, %d), NULL, ACT(ACT_XC, %d), ACT(ACT_DELTA, %d), P(L%d_A_LOG),\n"
                     "                           ACT(ACT_XDBL, %d) + %d, ACT(ACT_XDBL, %d) + %d, %d, P(L%d_D),\n"
                     "                           ACT(ACT_XZ, %d) + %d, %d, %s, nb, %d, %d, %d);\n",
                  l, l, l, l, l, d.R, l, d.R + d.N, X, l, l, d.E, 2 * d.E, ds, d.T, d.E, d.N);
        emit_record(e, "forward", l, "selective_scan", BT * d.E * (9.0 * d.N + 8), 4.0 * (BT * (4.0 * d.E + 2 * d.N)),
                    "(%d,%d,%d) N=%d", d.B, d.T, d.E, d.N);
        sb_printf(o, "    /* out_proj: y (B*T, %d) x W(%d, %d)^T -> resid[%d], then + resid[%d] */\n", d.E, d.D, d.E, l + 1, l);
        sb_printf(o, "    matmul_forward(ACT(ACT_RESID, %d), %d, ACT(ACT_Y, %d), %d, P(L%d_OUT_PROJ_W), NULL, BT, %d, %d);\n", l + 1,
                  d.D, l, d.E, l, d.E, d.D);
        sb_printf(o, "    residual_add(ACT(ACT_RESID, %d), ACT(ACT_RESID, %d), (long)BT * %d);\n", l + 1, l, d.D);
        emit_record(e, "forward", l, "out_proj_residual", 2 * BT * d.E * d.D + BT * d.D,
                    4.0 * (BT * d.E + (double)d.D * d.E + 3 * BT * d.D), "(%lld,%d) x (%d,%d)^T", d.BT, d.E, d.D, d.E);
    }
    sb_printf(o, "\n    /* final RMSNorm: resid[%d] (B*T, %d) -> normf */\n", d.L, d.D);
    sb_printf(o, "    rmsnorm_forward(ACT(ACT_NORMF, 0), ACT(ACT_RSTDF, 0), ACT(ACT_RESID, %d), P(NORM_F_W), BT, %d, NORM_EPS);\n",
              d.L, d.D);
    emit_record(e, "forward", -1, "rmsnorm_f", 4 * BT * d.D, 4.0 * 2 * BT * d.D, "(%lld,%d)", d.BT, d.D);
    return 0;
}

/* ---- backward ------------------------------------------------------------- */

static int fill_backward(emitter_t *e, sb_t *o) {
    const plan_t *p = e->plan;
    const spec_t *s = p->s;
    dims_t d = dims_of(s);
    const int X = d.R + 2 * d.N;
    const double BT = (double)d.BT;
    const char *ds = s->train.reset_state_at_doc_boundaries ? "doc_start" : "NULL";
    sb_printf(o, "    /* tied LM head + cross-entropy in chunks of %s tokens: logits are never whole */\n", "LMHEAD_CHUNK");
    sb_printf(o, "    real *dresid = ACT(GRAD_RESID, 0), *dnormed = ACT(GRAD_NORMED, 0);\n");
    sb_printf(o, "    memset(dnormed, 0, sizeof(real) * BT * %d);\n", d.D);
    sb_printf(o, "    const double loss_sum = lmhead_xent_forward_backward(dnormed, G(EMBEDDING_W), ACT(ACT_NORMF, 0), P(EMBEDDING_W),\n"
                 "                                                         targets, mask, BT, %d, %d, (real)(grad_scale / n_valid), m->scratch);\n",
              d.D, d.Vp);
    emit_record(e, "forward", -1, "lmhead_xent", 2 * BT * d.D * d.Vp + 5 * BT * d.Vp, 4.0 * ((double)d.Vp * d.D + BT * d.D),
                "(%lld,%d) x (%d,%d)^T", d.BT, d.D, d.Vp, d.D);
    emit_record(e, "backward", -1, "lmhead_xent", 4 * BT * d.D * d.Vp, 4.0 * (2.0 * d.Vp * d.D + 2 * BT * d.D),
                "(%lld,%d) x (%d,%d)^T", d.BT, d.D, d.Vp, d.D);
    sb_printf(o, "    memset(dresid, 0, sizeof(real) * BT * %d);\n", d.D);
    sb_printf(o, "    rmsnorm_backward(dresid, G(NORM_F_W), dnormed, ACT(ACT_RESID, %d), P(NORM_F_W), ACT(ACT_RSTDF, 0), BT, %d);\n",
              d.L, d.D);
    emit_record(e, "backward", -1, "rmsnorm_f", 8 * BT * d.D, 4.0 * 4 * BT * d.D, "(%lld,%d)", d.BT, d.D);
    sb_printf(o, "    real *dxz = ACT(GRAD_XZ, 0), *dxc = ACT(GRAD_XC, 0), *dxdbl = ACT(GRAD_XDBL, 0);\n");
    sb_printf(o, "    real *ddelta = ACT(GRAD_DELTA, 0), *ddtraw = ACT(GRAD_DTRAW, 0), *dy = ACT(GRAD_Y, 0);\n");
    for (int l = d.L - 1; l >= 0; l--) {
        sb_printf(o, "\n    /* ---- layer %d (dresid holds dLoss/dresid[%d]) ---- */\n", l, l + 1);
        sb_printf(o, "    memset(dy, 0, sizeof(real) * BT * %d);\n", d.E);
        sb_printf(o, "    matmul_backward(dy, %d, G(L%d_OUT_PROJ_W), NULL, dresid, %d, ACT(ACT_Y, %d), %d, P(L%d_OUT_PROJ_W), BT, %d, %d);\n",
                  d.E, l, d.D, l, d.E, l, d.E, d.D);
        emit_record(e, "backward", l, "out_proj", 4 * BT * d.E * d.D, 4.0 * (2 * BT * d.E + 2.0 * d.D * d.E + BT * d.D),
                    "(%lld,%d) x (%d,%d)^T", d.BT, d.E, d.D, d.E);
        sb_printf(o, "    memset(dxc, 0, sizeof(real) * BT * %d);\n", d.E);
        sb_printf(o, "    memset(ddelta, 0, sizeof(real) * BT * %d);\n", d.E);
        sb_printf(o, "    memset(dxdbl, 0, sizeof(real) * BT * %d);\n", X);
        sb_printf(o, "    memset(dxz, 0, sizeof(real) * BT * %d);\n", 2 * d.E);
        sb_printf(o, "    /* scan backward: recomputes the states of each channel, then runs the reverse recurrence */\n");
        sb_printf(o, "    selective_scan_backward(dxc, ddelta, G(L%d_A_LOG), dxdbl + %d, dxdbl + %d, %d, G(L%d_D), dxz + %d, %d,\n"
                     "                            dy, ACT(ACT_XC, %d), ACT(ACT_DELTA, %d), P(L%d_A_LOG), ACT(ACT_XDBL, %d) + %d,\n"
                     "                            ACT(ACT_XDBL, %d) + %d, %d, P(L%d_D), ACT(ACT_XZ, %d) + %d, %d, %s,\n"
                     "                            %d, %d, %d, %d, m->scratch);\n",
                  l, d.R, d.R + d.N, X, l, d.E, 2 * d.E, l, l, l, l, d.R, l, d.R + d.N, X, l, l, d.E, 2 * d.E, ds, d.B,
                  d.T, d.E, d.N);
        emit_record(e, "backward", l, "selective_scan", BT * d.E * (20.0 * d.N + 16), 4.0 * BT * (8.0 * d.E + 4 * d.N),
                    "(%d,%d,%d) N=%d", d.B, d.T, d.E, d.N);
        sb_printf(o, "    memset(ddtraw, 0, sizeof(real) * BT * %d);\n", d.E);
        sb_printf(o, "    softplus_backward(ddtraw, ddelta, ACT(ACT_DTRAW, %d), (long)BT * %d);\n", l, d.E);
        sb_printf(o, "    matmul_backward(dxdbl, %d, G(L%d_DT_PROJ_W), G(L%d_DT_PROJ_B), ddtraw, %d, ACT(ACT_XDBL, %d), %d, P(L%d_DT_PROJ_W), BT, %d, %d);\n",
                  X, l, l, d.E, l, X, l, d.R, d.E);
        emit_record(e, "backward", l, "dt_proj_softplus", 4 * BT * d.R * d.E + 4 * BT * d.E,
                    4.0 * (2 * BT * d.R + 2.0 * d.R * d.E + 3 * BT * d.E), "(%lld,%d) x (%d,%d)^T", d.BT, d.R, d.E, d.R);
        sb_printf(o, "    matmul_backward(dxc, %d, G(L%d_X_PROJ_W), NULL, dxdbl, %d, ACT(ACT_XC, %d), %d, P(L%d_X_PROJ_W), BT, %d, %d);\n",
                  d.E, l, X, l, d.E, l, d.E, X);
        emit_record(e, "backward", l, "x_proj", 4 * BT * d.E * X, 4.0 * (2 * BT * d.E + 2.0 * X * d.E + BT * X),
                    "(%lld,%d) x (%d,%d)^T", d.BT, d.E, X, d.E);
        sb_printf(o, "    conv1d_silu_backward(dxz, %d, G(L%d_CONV1D_W), G(L%d_CONV1D_B), dxc, ACT(ACT_XZ, %d), %d, P(L%d_CONV1D_W), P(L%d_CONV1D_B), %s, %d, %d, %d, %d);\n",
                  2 * d.E, l, l, l, 2 * d.E, l, l, ds, d.B, d.T, d.E, d.K);
        emit_record(e, "backward", l, "conv1d_silu", BT * d.E * (6.0 * d.K + 10), 4.0 * 4 * BT * d.E, "(%d,%d,%d) k=%d", d.B,
                    d.T, d.E, d.K);
        sb_printf(o, "    memset(dnormed, 0, sizeof(real) * BT * %d);\n", d.D);
        sb_printf(o, "    matmul_backward(dnormed, %d, G(L%d_IN_PROJ_W), NULL, dxz, %d, ACT(ACT_NORMED, %d), %d, P(L%d_IN_PROJ_W), BT, %d, %d);\n",
                  d.D, l, 2 * d.E, l, d.D, l, d.D, 2 * d.E);
        emit_record(e, "backward", l, "in_proj", 4 * BT * d.D * 2 * d.E, 4.0 * (2 * BT * d.D + 4.0 * d.E * d.D + BT * 2 * d.E),
                    "(%lld,%d) x (%d,%d)^T", d.BT, d.D, 2 * d.E, d.D);
        sb_printf(o, "    /* RMSNorm backward adds into dresid: the skip path already carries dLoss/dresid[%d] */\n", l + 1);
        sb_printf(o, "    rmsnorm_backward(dresid, G(L%d_NORM_W), dnormed, ACT(ACT_RESID, %d), P(L%d_NORM_W), ACT(ACT_RSTD, %d), BT, %d);\n",
                  l, l, l, l, d.D);
        emit_record(e, "backward", l, "rmsnorm", 8 * BT * d.D, 4.0 * 4 * BT * d.D, "(%lld,%d)", d.BT, d.D);
    }
    sb_printf(o, "\n    /* embedding (tied with the LM head: both add into its gradient) */\n");
    sb_printf(o, "    embedding_backward(G(EMBEDDING_W), dresid, tokens, BT, %d);\n", d.D);
    emit_record(e, "backward", -1, "embedding", BT * d.D, 4.0 * 3 * BT * d.D, "(%lld,%d)", d.BT, d.D);
    return 0;
}

/* ---- optimizer ------------------------------------------------------------ */

static int fill_optimizer(emitter_t *e, sb_t *o) {
    const plan_t *p = e->plan;
    sb_printf(o, "    const real a = (real)h->muon_ns_coef[0], b = (real)h->muon_ns_coef[1], c = (real)h->muon_ns_coef[2];\n");
    sb_printf(o, "    (void)a; (void)b; (void)c;\n");
    sb_printf(o, "    /* Muon: Nesterov momentum, Newton-Schulz orthogonalisation, decoupled decay; one matrix at a time */\n");
    for (int i = 0; i < p->n; i++) {
        const plan_param_t *pp = &p->params[i];
        if (pp->p.group != GROUP_MUON) continue;
        long long r = (long long)pp->p.shape[0], c = (long long)pp->p.shape[1];
        sb_printf(o, "    muon_update(P(%s), G(%s), MOM(%s), %lld, %lld, lr_muon, (real)h->muon_momentum, h->muon_nesterov,\n"
                     "                h->muon_ns_steps, a, b, c, (real)h->muon_weight_decay, h->muon_lr_adjust, m->scratch);\n",
                  pp->cname, pp->cname, pp->cname, r, c);
        double k = (double)(r < c ? r : c), big = (double)(r < c ? c : r);
        /* per NS step: X X^T (2 k k big), A A (2 k^3), B X (2 k k big) */
        double ns = 5 * (4 * k * k * big + 2 * k * k * k);
        emit_record(e, "optimizer", pp->layer, "muon", ns + 10.0 * r * c, 4.0 * 6 * r * c, "%s (%lld,%lld)", pp->p.name, r, c);
    }
    sb_printf(o, "    /* AdamW over its two contiguous ranges: with and without weight decay */\n");
    if (p->adamw_decay.numel)
        sb_printf(o, "    adamw_update(m->params + ADAMW_DECAY_OFF, m->grads + ADAMW_DECAY_OFF, m->adam_m, m->adam_v, ADAMW_DECAY_NUMEL,\n"
                     "                 lr_adamw, (real)h->adamw_beta1, (real)h->adamw_beta2, (real)h->adamw_eps,\n"
                     "                 (real)h->adamw_weight_decay, m->step);\n");
    if (p->adamw_nodecay.numel)
        sb_printf(o, "    adamw_update(m->params + ADAMW_NODECAY_OFF, m->grads + ADAMW_NODECAY_OFF, m->adam_m + ADAMW_DECAY_NUMEL,\n"
                     "                 m->adam_v + ADAMW_DECAY_NUMEL, ADAMW_NODECAY_NUMEL, lr_adamw, (real)h->adamw_beta1,\n"
                     "                 (real)h->adamw_beta2, (real)h->adamw_eps, (real)0, m->step);\n");
    double na = (double)(p->adamw_decay.numel + p->adamw_nodecay.numel);
    emit_record(e, "optimizer", -1, "adamw", 12 * na, 4.0 * 7 * na, "%lld floats", (long long)na);
    return 0;
}

/* ---- recurrent decoding ---------------------------------------------------- */

static int fill_decode(emitter_t *e, sb_t *o) {
    const spec_t *s = e->plan->s;
    dims_t d = dims_of(s);
    const int X = d.R + 2 * d.N;
    long long conv = (long long)d.L * d.E * (d.K - 1), ssm = (long long)d.L * d.E * d.N;
    /* work vectors of one token */
    long long off = conv + ssm;
    long long o_resid = off, o_normed = o_resid + d.D, o_rstd = o_normed + d.D, o_xz = o_rstd + 1, o_xc = o_xz + 2 * d.E,
              o_xdbl = o_xc + d.E, o_dtraw = o_xdbl + X, o_delta = o_dtraw + d.E, o_y = o_delta + d.E, o_out = o_y + d.E,
              o_normf = o_out + d.D, total = o_normf + d.D;
    sb_printf(o, "/* Recurrent state: conv windows (n_layer, %d, %d) and scan states (n_layer, %d, %d), then one\n"
                 " * token's work vectors: %lld floats in all, whatever the length of the text. */\n",
              d.E, d.K - 1, d.E, d.N, total);
    sb_printf(o, "#define DEC_TOTAL %lldL\n#define DEC(off) (m->dec + (off))\n\n", total);
    sb_printf(o, "void model_decode_reset(model_t *m) {\n");
    sb_printf(o, "    if (!m->dec) m->dec = model_alloc(DEC_TOTAL, \"decoding state\");\n");
    sb_printf(o, "    memset(m->dec, 0, sizeof(real) * %lld);\n}\n\n", conv + ssm);
    sb_printf(o, "void model_decode_step(model_t *m, int32_t token, real *logits) {\n");
    sb_printf(o, "    if (!m->dec) model_decode_reset(m);\n");
    sb_printf(o, "    real *resid = DEC(%lld), *normed = DEC(%lld), *rstd = DEC(%lld), *xz = DEC(%lld), *xc = DEC(%lld);\n", o_resid,
              o_normed, o_rstd, o_xz, o_xc);
    sb_printf(o, "    real *xdbl = DEC(%lld), *dtraw = DEC(%lld), *delta = DEC(%lld), *y = DEC(%lld), *out = DEC(%lld), *normf = DEC(%lld);\n",
              o_xdbl, o_dtraw, o_delta, o_y, o_out, o_normf);
    sb_printf(o, "    embedding_forward(resid, &token, P(EMBEDDING_W), 1, %d);\n", d.D);
    for (int l = 0; l < d.L; l++) {
        sb_printf(o, "    /* layer %d */\n", l);
        sb_printf(o, "    rmsnorm_forward(normed, rstd, resid, P(L%d_NORM_W), 1, %d, NORM_EPS);\n", l, d.D);
        sb_printf(o, "    matmul_forward(xz, %d, normed, %d, P(L%d_IN_PROJ_W), NULL, 1, %d, %d);\n", 2 * d.E, d.D, l, d.D, 2 * d.E);
        sb_printf(o, "    decode_conv_step(xc, DEC(%lld), xz, P(L%d_CONV1D_W), P(L%d_CONV1D_B), %d, %d);\n",
                  (long long)l * d.E * (d.K - 1), l, l, d.E, d.K);
        sb_printf(o, "    matmul_forward(xdbl, %d, xc, %d, P(L%d_X_PROJ_W), NULL, 1, %d, %d);\n", X, d.E, l, d.E, X);
        sb_printf(o, "    matmul_forward(dtraw, %d, xdbl, %d, P(L%d_DT_PROJ_W), P(L%d_DT_PROJ_B), 1, %d, %d);\n", d.E, X, l, l, d.R, d.E);
        sb_printf(o, "    softplus_forward(delta, dtraw, %d);\n", d.E);
        sb_printf(o, "    decode_scan_step(y, DEC(%lld), xc, delta, P(L%d_A_LOG), xdbl + %d, xdbl + %d, P(L%d_D), xz + %d, %d, %d);\n",
                  conv + (long long)l * d.E * d.N, l, d.R, d.R + d.N, l, d.E, d.E, d.N);
        sb_printf(o, "    matmul_forward(out, %d, y, %d, P(L%d_OUT_PROJ_W), NULL, 1, %d, %d);\n", d.D, d.E, l, d.E, d.D);
        sb_printf(o, "    residual_add(resid, out, %d);\n", d.D);
    }
    sb_printf(o, "    rmsnorm_forward(normf, rstd, resid, P(NORM_F_W), 1, %d, NORM_EPS);\n", d.D);
    sb_printf(o, "    lmhead_logits(logits, normf, P(EMBEDDING_W), 1, %d, %d);\n}\n", d.D, d.Vp);
    return 0;
}

/* Scratch is shared by ops that never run at the same time. */
static int fill_scratch(emitter_t *e, sb_t *o) {
    const plan_t *p = e->plan;
    sb_printf(o, "static size_t scratch_reals(void) {\n");
    sb_printf(o, "    size_t n = selective_scan_scratch_reals(MICRO_BATCH, SEQ_LEN, D_INNER, D_STATE);\n");
    sb_printf(o, "    if (lmhead_scratch_reals(VOCAB_PADDED) > n) n = lmhead_scratch_reals(VOCAB_PADDED);\n");
    for (int k = 0; k < p->n_muon_shapes; k++)
        sb_printf(o, "    if (muon_scratch_reals(%lld, %lld) > n) n = muon_scratch_reals(%lld, %lld);\n",
                  (long long)p->muon_shapes[k].rows, (long long)p->muon_shapes[k].cols, (long long)p->muon_shapes[k].rows,
                  (long long)p->muon_shapes[k].cols);
    sb_printf(o, "    return n;\n}\n");
    return 0;
}

static int fill_model_c(emitter_t *e, const char *name, sb_t *o) {
    if (!strcmp(name, "scratch")) return fill_scratch(e, o);
    if (!strcmp(name, "decode")) return fill_decode(e, o);
    if (!strcmp(name, "banner")) {
        emit_banner(e->plan, "model.c", " *", o);
        return 0;
    }
    if (!strcmp(name, "param_table")) return emit_fill_param_table(e, o);
    if (!strcmp(name, "init")) return emit_fill_init(e, o);
    if (!strcmp(name, "forward")) return fill_forward(e, o);
    if (!strcmp(name, "backward")) return fill_backward(e, o);
    if (!strcmp(name, "optimizer")) return fill_optimizer(e, o);
    return -1;
}

int emit_cpu_model(emitter_t *e, sb_t *model_h, sb_t *model_c) {
    emit_model_h_common(e, model_h);
    char path[4096];
    snprintf(path, sizeof path, "%s/templates/cpu/model.c", e->home);
    return emit_template(e, path, fill_model_c, model_c);
}
