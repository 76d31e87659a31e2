/* emit_cuda.c: the CUDA backend: the device arena and the generated
 * sections of templates/cuda/model.cu, unrolled over layers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"

/* LM head + cross-entropy work on this many tokens at a time: their bf16
 * logits are the only logits that ever exist. */
#define CUDA_LMHEAD_CHUNK 4096
#define GEMM_WORKSPACE (32LL << 20)

/* Records the op for manifest.json and marks its end in the emitted code:
 * `make bench` times the span between consecutive marks (eager pass). */
#define REC(phase, layer, op, ...)                                                  \
    do {                                                                            \
        sb_printf(o, "    PROF(\"%s.%s\");\n", phase, op);                          \
        emit_record(e, phase, layer, op, __VA_ARGS__);                              \
    } while (0)

typedef struct {
    const char *name, *ctype, *shape;
    long long elem_bytes, per_layer, count; /* count = total elements */
} cbuf_t;

/* The device arena: every buffer the step uses, in one allocation. Per
 * layer we keep what the backward reads and is costly to redo (the fp32
 * residual stream, the normed input, xz, x_dbl, y before the gate, chunk
 * states of the scan); the conv output and dt are recomputed, and the scan
 * backward writes the gated y again (into DXZ) for out_proj's weight gradient. */
static int cuda_buffers(const plan_t *p, cbuf_t *b) {
    const spec_t *s = p->s;
    dims_t d = dims_of(s);
    long long BT = d.BT, L = d.L, X = d.R + 2 * d.N, GA = s->train.grad_accum;
    long long CH = BT < CUDA_LMHEAD_CHUNK ? BT : CUDA_LMHEAD_CHUNK;
    long long mx = 0, mk = 0;
    for (int k = 0; k < p->n_muon_shapes; k++) {
        long long r = p->muon_shapes[k].rows, c = p->muon_shapes[k].cols, n = p->muon_shapes[k].count;
        long long kk = r < c ? r : c;
        if (n * r * c > mx) mx = n * r * c;
        if (n * kk * kk > mk) mk = n * kk * kk;
    }
    int n = 0;
#define B(nm, ct, eb, pl, cnt, shp) b[n++] = (cbuf_t){nm, ct, shp, eb, pl, cnt}
    B("PARAMS", "float", 4, 0, (long long)p->total, "(N_PARAMS) fp32 master weights");
    B("GRADS", "float", 4, 0, (long long)p->total, "(N_PARAMS) fp32");
    B("MOM", "float", 4, 0, (long long)p->muon.numel, "(MUON_NUMEL) Muon momentum");
    B("ADAM_M", "float", 4, 0, (long long)(p->adamw_decay.numel + p->adamw_nodecay.numel), "(ADAMW_NUMEL)");
    B("ADAM_V", "float", 4, 0, (long long)(p->adamw_decay.numel + p->adamw_nodecay.numel), "(ADAMW_NUMEL)");
    B("WBF", "bf16", 2, 0, (long long)p->total, "(N_PARAMS) bf16 copies for GEMMs");
    B("RESID", "float", 4, BT * d.D, (L + 1) * BT * d.D, "(n_layer+1, B*T, d_model) residual stream");
    B("RSTD", "float", 4, BT, L * BT, "(n_layer, B*T)");
    B("XZ", "bf16", 2, BT * 2 * d.E, L * BT * 2 * d.E, "(n_layer, B*T, 2*d_inner)");
    B("XDBL", "bf16", 2, BT * X, L * BT * X, "(n_layer, B*T, dt_rank+2*d_state)");
    B("YPRE", "bf16", 2, BT * d.E, L * BT * d.E, "(n_layer, B*T, d_inner) scan output before the gate");
    B("NORMED", "bf16", 2, BT * d.D, L * BT * d.D, "(n_layer, B*T, d_model) in_proj input, kept for its weight gradient");
    B("XC", "bf16", 2, 0, BT * d.E, "(B*T, d_inner) conv output");
    B("DTRAW", "bf16", 2, 0, BT * d.E, "(B*T, d_inner) dt before bias+softplus");
    B("Y", "bf16", 2, 0, BT * d.E, "(B*T, d_inner) gated scan output");
    B("NORMF", "bf16", 2, 0, BT * d.D, "(B*T, d_model)");
    B("RSTDF", "float", 4, 0, BT, "(B*T)");
    B("DRESID", "float", 4, 0, BT * d.D, "(B*T, d_model)");
    B("DRESID_BF", "bf16", 2, 0, BT * d.D, "(B*T, d_model)");
    B("DNORMED", "bf16", 2, 0, BT * d.D, "(B*T, d_model) d of a norm's output (the GEMMs' input gradient)");
    B("DXZ", "bf16", 2, 0, BT * 2 * d.E, "(B*T, 2*d_inner)");
    B("DY", "bf16", 2, 0, BT * d.E, "(B*T, d_inner)");
    B("DU", "bf16", 2, 0, BT * d.E, "(B*T, d_inner) d conv output: the scan's part, plus x_proj's");
    B("DDTRAW_BF", "bf16", 2, 0, BT * d.E, "(B*T, d_inner)");
    B("DXDBL", "float", 4, 0, BT * X, "(B*T, dt_rank+2*d_state)");
    B("DXDBL_BF", "bf16", 2, 0, BT * X, "(B*T, dt_rank+2*d_state)");
    B("LOGITS", "bf16", 2, 0, (CH > 2 ? CH : 2) * d.Vp, "(chunk, vocab_padded) bf16 logits -> dlogits; one fp32 row when sampling");
    B("MX", "bf16", 2, 0, mx ? mx : 1, "Newton-Schulz X, one shape class");
    B("MX2", "bf16", 2, 0, mx ? mx : 1, "Newton-Schulz ping-pong");
    B("MA", "bf16", 2, 0, mk ? mk : 1, "Newton-Schulz X X^T");
    B("MAA", "bf16", 2, 0, mk ? mk : 1, "Newton-Schulz b A + c A A");
    B("SCHED", "float", 4, 0, 8 + GA, "lr, step, clip per group; dscale per micro-batch");
    B("LOSS", "float", 4, 0, GA + 2, "loss sums per micro-batch; gradient norm squared");
    B("BATCH_DEV", "char", 1, 0, GA * BT * (4 + 4 + 4 + 1), "tokens, targets, mask, doc_start of the step");
    B("GEMM_WS", "char", 1, 0, GEMM_WORKSPACE, "cuBLASLt workspace");
    /* recurrent decoding (generation): constant-size state and one token's vectors */
    B("DEC_CONV", "float", 4, 0, L * d.E * (d.K - 1), "(n_layer, d_inner, d_conv-1) conv windows");
    B("DEC_SSM", "float", 4, 0, L * d.E * d.N, "(n_layer, d_inner, d_state) scan states");
    B("DEC_RESID", "float", 4, 0, d.D, "(d_model)");
    B("DEC_NORMED", "bf16", 2, 0, d.D, "(d_model)");
    B("DEC_XZ", "bf16", 2, 0, 2 * d.E, "(2*d_inner)");
    B("DEC_XC", "bf16", 2, 0, d.E, "(d_inner)");
    B("DEC_XDBL", "bf16", 2, 0, X, "(dt_rank+2*d_state)");
    B("DEC_DTRAW", "float", 4, 0, d.E, "(d_inner)");
    B("DEC_Y", "bf16", 2, 0, d.E, "(d_inner)");
    B("DEC_NORMF", "bf16", 2, 0, d.D, "(d_model)");
    B("DEC_LOGITS", "float", 4, 0, d.Vp, "(vocab_padded)");
    B("DEC_TOK", "int32_t", 4, 0, 1, "the token being fed");
#undef B
    return n;
}

static int fill_buffers(emitter_t *e, sb_t *o) {
    const plan_t *p = e->plan;
    dims_t d = dims_of(p->s);
    cbuf_t b[64];
    int n = cuda_buffers(p, b);
    long long BT = d.BT, GA = p->s->train.grad_accum;
    sb_printf(o, "// ---- the device arena (laid out by gen) ----\n");
    sb_printf(o, "#define CUDA_LMHEAD_CHUNK %d\n", BT < CUDA_LMHEAD_CHUNK ? (int)BT : CUDA_LMHEAD_CHUNK);
    sb_printf(o, "#define GEMM_WS_BYTES %lldULL\n", GEMM_WORKSPACE);
    long long off = 0;
    for (int i = 0; i < n; i++) {
        sb_printf(o, "#define OFF_%s %lldULL  // %s\n", b[i].name, off, b[i].shape);
        off += (b[i].count * b[i].elem_bytes + 255) / 256 * 256;
    }
    sb_printf(o, "#define OFF_STATES %lldULL  // (n_layer, scan chunk states), sized by scan.cuh\n", off);
    sb_printf(o, "#define STATES_PER_LAYER (selective_scan_states_floats(MICRO_BATCH, SEQ_LEN, D_INNER, D_STATE))\n");
    sb_printf(o, "#define OFF_NORM_SCRATCH (OFF_STATES + ((size_t)N_LAYER * STATES_PER_LAYER * 4 + 255) / 256 * 256)\n");
    sb_printf(o, "static size_t arena_bytes(void) {\n");
    sb_printf(o, "    size_t ns = grad_norm_sq_scratch_floats(N_PARAMS);\n");
    sb_printf(o, "    if (ns < 65536) ns = 65536;  /* also the Frobenius norms of one Muon shape class */\n");
    sb_printf(o, "    return OFF_NORM_SCRATCH + 4 * ns + 256;\n}\n\n");
    for (int i = 0; i < n; i++) {
        if (!strcmp(b[i].ctype, "char")) sb_printf(o, "#define %s (m->arena + OFF_%s)\n", b[i].name, b[i].name);
        else if (b[i].per_layer)
            sb_printf(o, "#define %s(l) ((%s *)(m->arena + OFF_%s) + (size_t)(l) * %lldULL)\n", b[i].name, b[i].ctype, b[i].name,
                      b[i].per_layer);
        else sb_printf(o, "#define %s ((%s *)(m->arena + OFF_%s))\n", b[i].name, b[i].ctype, b[i].name);
    }
    sb_printf(o, "#define STATES(l) ((float *)(m->arena + OFF_STATES) + (size_t)(l) * STATES_PER_LAYER)\n");
    sb_printf(o, "#define NORM_SCRATCH ((float *)(m->arena + OFF_NORM_SCRATCH))\n\n");
    sb_printf(o, "// host staging (pinned): the batches of one step, in the layout of BATCH_DEV\n");
    sb_printf(o, "#define HB_TOKENS 0ULL\n#define HB_TARGETS %lldULL\n#define HB_MASK %lldULL\n#define HB_DOCSTART %lldULL\n",
              GA * BT * 4, GA * BT * 8, GA * BT * 12);
    sb_printf(o, "#define BATCH_BYTES %lldULL\n", GA * BT * 13);
    sb_printf(o, "#define SCHED_MUON_LR 0\n#define SCHED_ADAMW_LR 3\n#define SCHED_DSCALE 8\n#define SCHED_FLOATS %lld\n", 8 + GA);
    sb_printf(o, "#define LOSS_NORMSQ %lld\n#define LOSS_FLOATS %lld\n", GA, GA + 2);
    sb_printf(o, "#define WB(t) (WBF + t##_OFF)\n#define PD(t) (PARAMS + t##_OFF)\n#define GD(t) (GRADS + t##_OFF)\n");
    return 0;
}

static int fill_forward(emitter_t *e, sb_t *o) {
    const spec_t *s = e->plan->s;
    dims_t d = dims_of(s);
    const int X = d.R + 2 * d.N;
    const double BT = (double)d.BT;
    const char *ds = s->train.reset_state_at_doc_boundaries ? "ds" : "NULL";
    sb_printf(o, "// Forward over nb rows of SEQ_LEN tokens; leaves the final normed states in NORMF.\n");
    sb_printf(o, "static void forward(model_t *m, const int32_t *tok, const uint8_t *ds, int nb) {\n");
    sb_printf(o, "    const int BT = nb * SEQ_LEN;\n    cudaStream_t st = m->st;\n    gemm_ctx *g = &m->gemm;\n    (void)ds;\n");
    sb_printf(o, "    embedding_fwd(RESID(0), tok, PD(EMBEDDING_W), BT, %d, st);\n", d.D);
    REC("forward", -1, "embedding", 0, 8.0 * BT * d.D, "(%lld,%d)", d.BT, d.D);
    for (int l = 0; l < d.L; l++) {
        sb_printf(o, "\n    // ---- layer %d ----\n", l);
        sb_printf(o, "    rmsnorm_fwd(NORMED(%d), RSTD(%d), RESID(%d), PD(L%d_NORM_W), BT, %d, NORM_EPS, st);\n", l, l, l, l, d.D);
        REC("forward", l, "rmsnorm", 4 * BT * d.D, BT * d.D * 6.0, "(%lld,%d)", d.BT, d.D);
        sb_printf(o, "    // in_proj: (B*T, %d) x (%d, %d)^T -> xz bf16\n", d.D, 2 * d.E, d.D);
        sb_printf(o, "    linear_fwd(g, XZ(%d), CUDA_R_16BF, %d, NORMED(%d), %d, WB(L%d_IN_PROJ_W), BT, %d, %d, 0.0f, NULL, st);\n", l,
                  2 * d.E, l, d.D, l, d.D, 2 * d.E);
        REC("forward", l, "in_proj", 2 * BT * d.D * 2 * d.E, 2.0 * (BT * d.D + 2.0 * d.E * d.D + BT * 2 * d.E),
                    "(%lld,%d) x (%d,%d)^T", d.BT, d.D, 2 * d.E, d.D);
        sb_printf(o, "    conv1d_silu_fwd(XC, XZ(%d), %d, PD(L%d_CONV1D_W), PD(L%d_CONV1D_B), %s, nb, %d, %d, %d, st);\n", l, 2 * d.E,
                  l, l, ds, d.T, d.E, d.K);
        REC("forward", l, "conv1d_silu", BT * d.E * (2.0 * d.K + 5), 4.0 * BT * d.E, "(%d,%d,%d) k=%d", d.B, d.T, d.E,
                    d.K);
        sb_printf(o, "    linear_fwd(g, XDBL(%d), CUDA_R_16BF, %d, XC, %d, WB(L%d_X_PROJ_W), BT, %d, %d, 0.0f, NULL, st);\n", l, X,
                  d.E, l, d.E, X);
        REC("forward", l, "x_proj", 2 * BT * d.E * X, 2.0 * (BT * d.E + (double)X * d.E + BT * X), "(%lld,%d) x (%d,%d)^T",
                    d.BT, d.E, X, d.E);
        sb_printf(o, "    linear_fwd(g, DTRAW, CUDA_R_16BF, %d, XDBL(%d), %d, WB(L%d_DT_PROJ_W), BT, %d, %d, 0.0f, NULL, st);\n", d.E,
                  l, X, l, d.R, d.E);
        REC("forward", l, "dt_proj", 2 * BT * d.R * d.E, 2.0 * BT * d.R + 2.0 * d.R * d.E + 2.0 * BT * d.E,
                    "(%lld,%d) x (%d,%d)^T", d.BT, d.R, d.E, d.R);
        sb_printf(o, "    selective_scan_fwd(Y, YPRE(%d), STATES(%d), XC, DTRAW, PD(L%d_DT_PROJ_B), PD(L%d_A_LOG), XDBL(%d) + %d,\n"
                     "                       XDBL(%d) + %d, %d, PD(L%d_D), XZ(%d) + %d, %d, %s, nb, %d, %d, %d, st);\n",
                  l, l, l, l, l, d.R, l, d.R + d.N, X, l, l, d.E, 2 * d.E, ds, d.T, d.E, d.N);
        REC("forward", l, "selective_scan", BT * d.E * (9.0 * d.N + 12), BT * (2.0 * d.E * 5 + 4.0 * d.N),
                    "(%d,%d,%d) N=%d", d.B, d.T, d.E, d.N);
        sb_printf(o, "    // out_proj + residual: resid[%d] = y x (%d, %d)^T + resid[%d]\n", l + 1, d.D, d.E, l);
        sb_printf(o, "    linear_fwd(g, RESID(%d), CUDA_R_32F, %d, Y, %d, WB(L%d_OUT_PROJ_W), BT, %d, %d, 1.0f, RESID(%d), st);\n",
                  l + 1, d.D, d.E, l, d.E, d.D, l);
        REC("forward", l, "out_proj_residual", 2 * BT * d.E * d.D,
                    2.0 * BT * d.E + 2.0 * d.D * d.E + 8.0 * BT * d.D, "(%lld,%d) x (%d,%d)^T", d.BT, d.E, d.D, d.E);
    }
    sb_printf(o, "\n    rmsnorm_fwd(NORMF, RSTDF, RESID(%d), PD(NORM_F_W), BT, %d, NORM_EPS, st);\n", d.L, d.D);
    REC("forward", -1, "rmsnorm_f", 4 * BT * d.D, 6.0 * BT * d.D, "(%lld,%d)", d.BT, d.D);
    sb_printf(o, "}\n");
    return 0;
}

static int fill_backward(emitter_t *e, sb_t *o) {
    const spec_t *s = e->plan->s;
    dims_t d = dims_of(s);
    const int X = d.R + 2 * d.N;
    const double BT = (double)d.BT;
    const char *ds = s->train.reset_state_at_doc_boundaries ? "ds" : "NULL";
    /* evaluation: loss only */
    sb_printf(o, "// Loss of the forward just run (no gradients), chunk by chunk.\n");
    sb_printf(o, "static void eval_loss(model_t *m, const int32_t *tgt, const float *mask, float *loss) {\n");
    sb_printf(o, "    const int BT = MICRO_BATCH * SEQ_LEN;\n    cudaStream_t st = m->st;\n    gemm_ctx *g = &m->gemm;\n");
    sb_printf(o, "    for (int c0 = 0; c0 < BT; c0 += CUDA_LMHEAD_CHUNK) {\n");
    sb_printf(o, "        const int n = BT - c0 < CUDA_LMHEAD_CHUNK ? BT - c0 : CUDA_LMHEAD_CHUNK;\n");
    sb_printf(o, "        linear_fwd(g, LOGITS, CUDA_R_16BF, %d, NORMF + (size_t)c0 * %d, %d, WB(EMBEDDING_W), n, %d, %d, 0.0f, NULL, st);\n",
              d.Vp, d.D, d.D, d.D, d.Vp);
    sb_printf(o, "        xent_fwd(LOGITS, loss, tgt + c0, mask + c0, n, %d, st);\n    }\n}\n\n", d.Vp);

    sb_printf(o, "// LM head + cross-entropy (chunks), then the backward through every layer.\n");
    sb_printf(o, "static void backward(model_t *m, const int32_t *tok, const int32_t *tgt, const float *mask, const uint8_t *ds,\n"
                 "                     const float *dscale, float *loss) {\n");
    sb_printf(o, "    const int BT = MICRO_BATCH * SEQ_LEN;\n    cudaStream_t st = m->st;\n    gemm_ctx *g = &m->gemm;\n    (void)ds;\n");
    sb_printf(o, "    for (int c0 = 0; c0 < BT; c0 += CUDA_LMHEAD_CHUNK) {\n");
    sb_printf(o, "        const int n = BT - c0 < CUDA_LMHEAD_CHUNK ? BT - c0 : CUDA_LMHEAD_CHUNK;\n");
    sb_printf(o, "        const bf16 *x = NORMF + (size_t)c0 * %d;\n", d.D);
    sb_printf(o, "        linear_fwd(g, LOGITS, CUDA_R_16BF, %d, x, %d, WB(EMBEDDING_W), n, %d, %d, 0.0f, NULL, st);\n", d.Vp, d.D,
              d.D, d.Vp);
    sb_printf(o, "        xent_fwd_bwd(LOGITS, loss, tgt + c0, mask + c0, n, %d, dscale, st);\n", d.Vp);
    sb_printf(o, "        linear_bwd_x(g, DNORMED + (size_t)c0 * %d, CUDA_R_16BF, %d, LOGITS, %d, WB(EMBEDDING_W), n, %d, %d, 0.0f, st);\n",
              d.D, d.D, d.Vp, d.D, d.Vp);
    sb_printf(o, "        linear_bwd_w(g, GD(EMBEDDING_W), LOGITS, %d, x, %d, n, %d, %d, st);\n    }\n", d.Vp, d.D, d.D, d.Vp);
    REC("forward", -1, "lmhead_xent", 2 * BT * d.D * d.Vp + 5 * BT * d.Vp, 2.0 * d.Vp * d.D + 2.0 * BT * d.D + 4.0 * BT * d.Vp,
                "(%lld,%d) x (%d,%d)^T", d.BT, d.D, d.Vp, d.D);
    REC("backward", -1, "lmhead", 4 * BT * d.D * d.Vp, 4.0 * d.Vp * d.D + 4.0 * BT * d.Vp + 4.0 * BT * d.D,
                "(%lld,%d) x (%d,%d)^T", d.BT, d.D, d.Vp, d.D);
    sb_printf(o, "    CUDA_CHECK(cudaMemsetAsync(DRESID, 0, sizeof(float) * BT * %d, st));\n", d.D);
    // every rmsnorm backward but the first layer's also writes the bf16 copy of
    // d resid that the next (lower) layer's out_proj backward reads
    sb_printf(o, "    rmsnorm_bwd(DRESID, GD(NORM_F_W), DNORMED, RESID(%d), PD(NORM_F_W), RSTDF, BT, %d, st, NORM_EPS, DRESID_BF);\n",
              d.L, d.D);
    for (int l = d.L - 1; l >= 0; l--) {
        sb_printf(o, "\n    // ---- layer %d ----\n", l);
        sb_printf(o, "    linear_bwd_x(g, DY, CUDA_R_16BF, %d, DRESID_BF, %d, WB(L%d_OUT_PROJ_W), BT, %d, %d, 0.0f, st);\n", d.E, d.D,
                  l, d.E, d.D);
        REC("backward", l, "out_proj", 2 * BT * d.E * d.D, 2.0 * (BT * d.E + BT * d.D + d.D * d.E), "(%lld,%d) x (%d,%d)^T",
                    d.BT, d.E, d.D, d.E);
        sb_printf(o, "    conv1d_silu_fwd(XC, XZ(%d), %d, PD(L%d_CONV1D_W), PD(L%d_CONV1D_B), %s, MICRO_BATCH, %d, %d, %d, st);  // recompute\n",
                  l, 2 * d.E, l, l, ds, d.T, d.E, d.K);
        sb_printf(o, "    linear_fwd(g, DTRAW, CUDA_R_16BF, %d, XDBL(%d), %d, WB(L%d_DT_PROJ_W), BT, %d, %d, 0.0f, NULL, st);  // recompute\n",
                  d.E, l, X, l, d.R, d.E);
        sb_printf(o, "    CUDA_CHECK(cudaMemsetAsync(DXDBL, 0, sizeof(float) * BT * %d, st));\n", X);
        sb_printf(o, "    selective_scan_bwd(DU, DDTRAW_BF, GD(L%d_DT_PROJ_B), GD(L%d_A_LOG), DXDBL + %d, DXDBL + %d, %d, GD(L%d_D), DXZ + %d, %d,\n"
                     "                       DXZ, DY, XC, DTRAW, PD(L%d_DT_PROJ_B), PD(L%d_A_LOG), XDBL(%d) + %d, XDBL(%d) + %d, %d, PD(L%d_D),\n"
                     "                       XZ(%d) + %d, %d, YPRE(%d), STATES(%d), %s, MICRO_BATCH, %d, %d, %d, st);\n",
                  l, l, d.R, d.R + d.N, X, l, d.E, 2 * d.E, l, l, l, d.R, l, d.R + d.N, X, l, l, d.E, 2 * d.E, l, l, ds, d.T, d.E,
                  d.N);
        REC("backward", l, "selective_scan", BT * d.E * (20.0 * d.N + 20), BT * (2.0 * d.E * 8 + 4.0 * d.E + 8.0 * d.N),
                    "(%d,%d,%d) N=%d", d.B, d.T, d.E, d.N);
        // out_proj's weight gradient reads the gated output y_pre * silu(z) that the scan backward
        // wrote into DXZ's x half (free until the conv1d backward writes dx there)
        sb_printf(o, "    linear_bwd_w(g, GD(L%d_OUT_PROJ_W), DRESID_BF, %d, DXZ, %d, BT, %d, %d, st);\n", l, d.D, 2 * d.E, d.E, d.D);
        REC("backward", l, "out_proj_w", 2 * BT * d.E * d.D, 2.0 * (BT * d.E + BT * d.D) + 8.0 * d.D * d.E,
                    "(%lld,%d) x (%d,%d)^T", d.BT, d.E, d.D, d.E);
        sb_printf(o, "    linear_bwd_w(g, GD(L%d_DT_PROJ_W), DDTRAW_BF, %d, XDBL(%d), %d, BT, %d, %d, st);\n", l, d.E, l, X, d.R, d.E);
        sb_printf(o, "    linear_bwd_x(g, DXDBL, CUDA_R_32F, %d, DDTRAW_BF, %d, WB(L%d_DT_PROJ_W), BT, %d, %d, 0.0f, st);\n", X, d.E, l,
                  d.R, d.E);
        REC("backward", l, "dt_proj", 4 * BT * d.R * d.E, 4.0 * BT * d.E + 4.0 * BT * d.R, "(%lld,%d) x (%d,%d)^T", d.BT,
                    d.R, d.E, d.R);
        sb_printf(o, "    cast_f32_to_bf16(DXDBL_BF, DXDBL, (long)BT * %d, st);\n", X);
        sb_printf(o, "    linear_bwd_w(g, GD(L%d_X_PROJ_W), DXDBL_BF, %d, XC, %d, BT, %d, %d, st);\n", l, X, d.E, d.E, X);
        sb_printf(o, "    linear_bwd_x(g, DU, CUDA_R_16BF, %d, DXDBL_BF, %d, WB(L%d_X_PROJ_W), BT, %d, %d, 1.0f, st);\n", d.E, X, l, d.E,
                  X);
        REC("backward", l, "x_proj", 4 * BT * d.E * X, 2.0 * BT * d.E + 4.0 * BT * d.E + 4.0 * BT * X, "(%lld,%d) x (%d,%d)^T",
                    d.BT, d.E, X, d.E);
        sb_printf(o, "    conv1d_silu_bwd(DXZ, %d, GD(L%d_CONV1D_W), GD(L%d_CONV1D_B), DU, XZ(%d), %d, PD(L%d_CONV1D_W), PD(L%d_CONV1D_B), %s,\n"
                     "                    MICRO_BATCH, %d, %d, %d, st);\n",
                  2 * d.E, l, l, l, 2 * d.E, l, l, ds, d.T, d.E, d.K);
        REC("backward", l, "conv1d_silu", BT * d.E * (6.0 * d.K + 10), BT * d.E * 6.0, "(%d,%d,%d) k=%d", d.B, d.T, d.E, d.K);
        sb_printf(o, "    linear_bwd_w(g, GD(L%d_IN_PROJ_W), DXZ, %d, NORMED(%d), %d, BT, %d, %d, st);\n", l, 2 * d.E, l, d.D, d.D, 2 * d.E);
        sb_printf(o, "    linear_bwd_x(g, DNORMED, CUDA_R_16BF, %d, DXZ, %d, WB(L%d_IN_PROJ_W), BT, %d, %d, 0.0f, st);\n", d.D, 2 * d.E,
                  l, d.D, 2 * d.E);
        REC("backward", l, "in_proj", 4 * BT * d.D * 2 * d.E, 2.0 * (2 * BT * 2 * d.E + BT * d.D) + 2.0 * BT * d.D,
                    "(%lld,%d) x (%d,%d)^T", d.BT, d.D, 2 * d.E, d.D);
        sb_printf(o, "    rmsnorm_bwd(DRESID, GD(L%d_NORM_W), DNORMED, RESID(%d), PD(L%d_NORM_W), RSTD(%d), BT, %d, st, NORM_EPS, %s);\n",
                  l, l, l, l, d.D, l > 0 ? "DRESID_BF" : "NULL");
        REC("backward", l, "rmsnorm", 8 * BT * d.D, 16.0 * BT * d.D, "(%lld,%d)", d.BT, d.D);
    }
    sb_printf(o, "\n    embedding_bwd(GD(EMBEDDING_W), DRESID, tok, BT, %d, st);\n", d.D);
    REC("backward", -1, "embedding", BT * d.D, 8.0 * BT * d.D, "(%lld,%d)", d.BT, d.D);
    sb_printf(o, "}\n");
    return 0;
}

static int fill_optimizer(emitter_t *e, sb_t *o) {
    const plan_t *p = e->plan;
    sb_printf(o, "// Global norm and clip on the device (no host round trip), Muon per shape\n"
                 "// class (all matrices of a shape orthogonalised together), one fused AdamW\n"
                 "// pass per decay range, then the bf16 weight copies.\n");
    sb_printf(o, "static void optimizer_step(model_t *m, const optim_hparams_t *h, double grad_clip) {\n");
    sb_printf(o, "    cudaStream_t st = m->st;\n    gemm_ctx *g = &m->gemm;\n    (void)g;\n");
    sb_printf(o, "    grad_norm_sq(LOSS + LOSS_NORMSQ, GRADS, N_PARAMS, NORM_SCRATCH, st);\n");
    sb_printf(o, "    clip_scale(SCHED + SCHED_MUON_LR + 2, LOSS + LOSS_NORMSQ, (float)grad_clip, st);\n");
    sb_printf(o, "    clip_scale(SCHED + SCHED_ADAMW_LR + 2, LOSS + LOSS_NORMSQ, (float)grad_clip, st);\n");
    for (int k = 0; k < p->n_muon_shapes; k++) {
        long long r = p->muon_shapes[k].rows, c = p->muon_shapes[k].cols, n = p->muon_shapes[k].count;
        /* the first matrix of this class in layout order */
        const plan_param_t *first = NULL;
        for (int i = 0; i < p->n && !first; i++)
            if (p->params[i].p.group == GROUP_MUON && p->params[i].p.shape[0] == r && p->params[i].p.shape[1] == c) first = &p->params[i];
        sb_printf(o, "    // Muon: %lld matrices (%lld, %lld), contiguous from %s\n", n, r, c, first->cname);
        sb_printf(o, "    {\n        const long n = %lldL;\n", n * r * c);
        sb_printf(o, "        float *p = PARAMS + %s_OFF, *gr = GRADS + %s_OFF, *mom = MOM + (%s_OFF - MUON_OFF);\n", first->cname,
                  first->cname, first->cname);
        sb_printf(o, "        muon_momentum(MX, mom, gr, n, (float)h->muon_momentum, h->muon_nesterov, SCHED + SCHED_MUON_LR, st);\n");
        sb_printf(o, "        frob_normalize_batched(MX, %lld, %lldL, 1e-7f, NORM_SCRATCH, st);\n", n, r * c);
        sb_printf(o, "        newton_schulz(g, MX, MX2, MA, MAA, %lld, %lld, %lld, h->muon_ns_steps, (float)h->muon_ns_coef[0],\n"
                     "                      (float)h->muon_ns_coef[1], (float)h->muon_ns_coef[2], st);\n",
                  n, r, c);
        sb_printf(o, "        const float adjust = h->muon_lr_adjust ? 0.2f * sqrtf((float)%lld) : sqrtf(fmaxf(1.0f, (float)%lld / (float)%lld));\n",
                  r > c ? r : c, r, c);
        sb_printf(o, "        muon_apply(p, MX, n, SCHED + SCHED_MUON_LR, adjust, (float)h->muon_weight_decay, st);\n    }\n");
        double kk = (double)(r < c ? r : c), big = (double)(r < c ? c : r);
        REC("optimizer", -1, "muon", (double)n * 5 * (4 * kk * kk * big + 2 * kk * kk * kk), (double)n * r * c * 30.0,
                    "%lld x (%lld,%lld)", n, r, c);
    }
    if (p->adamw_decay.numel)
        sb_printf(o, "    adamw_step(PARAMS + ADAMW_DECAY_OFF, GRADS + ADAMW_DECAY_OFF, ADAM_M, ADAM_V, ADAMW_DECAY_NUMEL, SCHED + SCHED_ADAMW_LR,\n"
                     "               (float)h->adamw_beta1, (float)h->adamw_beta2, (float)h->adamw_eps, (float)h->adamw_weight_decay, st);\n");
    if (p->adamw_nodecay.numel)
        sb_printf(o, "    adamw_step(PARAMS + ADAMW_NODECAY_OFF, GRADS + ADAMW_NODECAY_OFF, ADAM_M + ADAMW_DECAY_NUMEL, ADAM_V + ADAMW_DECAY_NUMEL,\n"
                     "               ADAMW_NODECAY_NUMEL, SCHED + SCHED_ADAMW_LR, (float)h->adamw_beta1, (float)h->adamw_beta2,\n"
                     "               (float)h->adamw_eps, 0.0f, st);\n");
    double na = (double)(p->adamw_decay.numel + p->adamw_nodecay.numel);
    REC("optimizer", -1, "adamw", 12 * na, 28.0 * na, "%lld floats", (long long)na);
    sb_printf(o, "    cast_f32_to_bf16(WBF, PARAMS, N_PARAMS, st);\n}\n");
    return 0;
}

static int fill_decode(emitter_t *e, sb_t *o) {
    const spec_t *s = e->plan->s;
    dims_t d = dims_of(s);
    const int X = d.R + 2 * d.N;
    sb_printf(o, "void model_decode_reset(model_t *m) {\n");
    sb_printf(o, "    CUDA_CHECK(cudaMemsetAsync(DEC_CONV, 0, sizeof(float) * %lld, m->st));\n", (long long)d.L * d.E * (d.K - 1));
    sb_printf(o, "    CUDA_CHECK(cudaMemsetAsync(DEC_SSM, 0, sizeof(float) * %lld, m->st));\n}\n\n", (long long)d.L * d.E * d.N);
    sb_printf(o, "void model_decode_step(model_t *m, int32_t token, real *logits) {\n");
    sb_printf(o, "    cudaStream_t st = m->st;\n    gemm_ctx *g = &m->gemm;\n");
    sb_printf(o, "    int32_t *h_tok = (int32_t *)m->h_batch;\n    *h_tok = token;\n");
    sb_printf(o, "    CUDA_CHECK(cudaMemcpyAsync(DEC_TOK, h_tok, sizeof(int32_t), cudaMemcpyHostToDevice, st));\n");
    sb_printf(o, "    embedding_fwd(DEC_RESID, DEC_TOK, PD(EMBEDDING_W), 1, %d, st);\n", d.D);
    for (int l = 0; l < d.L; l++) {
        sb_printf(o, "    // layer %d\n", l);
        sb_printf(o, "    rmsnorm_fwd(DEC_NORMED, NULL, DEC_RESID, PD(L%d_NORM_W), 1, %d, NORM_EPS, st);\n", l, d.D);
        sb_printf(o, "    linear_fwd(g, DEC_XZ, CUDA_R_16BF, %d, DEC_NORMED, %d, WB(L%d_IN_PROJ_W), 1, %d, %d, 0.0f, NULL, st);\n", 2 * d.E,
                  d.D, l, d.D, 2 * d.E);
        sb_printf(o, "    decode_conv_step(DEC_XC, DEC_CONV + %lldULL, DEC_XZ, PD(L%d_CONV1D_W), PD(L%d_CONV1D_B), %d, %d, st);\n",
                  (long long)l * d.E * (d.K - 1), l, l, d.E, d.K);
        sb_printf(o, "    linear_fwd(g, DEC_XDBL, CUDA_R_16BF, %d, DEC_XC, %d, WB(L%d_X_PROJ_W), 1, %d, %d, 0.0f, NULL, st);\n", X, d.E,
                  l, d.E, X);
        sb_printf(o, "    linear_fwd(g, DEC_DTRAW, CUDA_R_32F, %d, DEC_XDBL, %d, WB(L%d_DT_PROJ_W), 1, %d, %d, 0.0f, NULL, st);\n", d.E,
                  X, l, d.R, d.E);
        sb_printf(o, "    decode_scan_step(DEC_Y, DEC_SSM + %lldULL, DEC_XC, DEC_DTRAW, PD(L%d_DT_PROJ_B), PD(L%d_A_LOG), DEC_XDBL + %d,\n"
                     "                     DEC_XDBL + %d, PD(L%d_D), DEC_XZ + %d, %d, %d, st);\n",
                  (long long)l * d.E * d.N, l, l, d.R, d.R + d.N, l, d.E, d.E, d.N);
        sb_printf(o, "    linear_fwd(g, DEC_RESID, CUDA_R_32F, %d, DEC_Y, %d, WB(L%d_OUT_PROJ_W), 1, %d, %d, 1.0f, DEC_RESID, st);\n", d.D,
                  d.E, l, d.E, d.D);
    }
    sb_printf(o, "    rmsnorm_fwd(DEC_NORMF, NULL, DEC_RESID, PD(NORM_F_W), 1, %d, NORM_EPS, st);\n", d.D);
    sb_printf(o, "    linear_fwd(g, DEC_LOGITS, CUDA_R_32F, %d, DEC_NORMF, %d, WB(EMBEDDING_W), 1, %d, %d, 0.0f, NULL, st);\n", d.Vp,
              d.D, d.D, d.Vp);
    sb_printf(o, "    CUDA_CHECK(cudaMemcpyAsync(logits, DEC_LOGITS, sizeof(float) * %d, cudaMemcpyDeviceToHost, st));\n", d.Vp);
    sb_printf(o, "    CUDA_CHECK(cudaStreamSynchronize(st));\n}\n");
    return 0;
}

static int fill_model_cu(emitter_t *e, const char *name, sb_t *o) {
    if (!strcmp(name, "decode")) return fill_decode(e, o);
    if (!strcmp(name, "banner")) {
        emit_banner(e->plan, "model.cu", "//", o);
        return 0;
    }
    if (!strcmp(name, "param_table")) return emit_fill_param_table(e, o);
    if (!strcmp(name, "init")) return emit_fill_init(e, o);
    if (!strcmp(name, "buffers")) return fill_buffers(e, o);
    if (!strcmp(name, "forward")) return fill_forward(e, o);
    if (!strcmp(name, "backward")) return fill_backward(e, o);
    if (!strcmp(name, "optimizer")) return fill_optimizer(e, o);
    return -1;
}

int emit_cuda_model(emitter_t *e, sb_t *model_h, sb_t *model_cu) {
    emit_model_h_common(e, model_h);
    char path[4096];
    snprintf(path, sizeof path, "%s/templates/cuda/model.cu", e->home);
    return emit_template(e, path, fill_model_cu, model_cu);
}
