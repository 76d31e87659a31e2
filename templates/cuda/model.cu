/*@ banner @*/
// model.cu: one Mamba-1 language model of fixed shape on one NVIDIA GPU:
// forward, backward (recomputing what is cheaper than storing), the hybrid
// Muon/AdamW step, and the whole training step captured as one CUDA graph.
//
// Template: templates/cuda/model.cu. gen replaces each insertion-point line
// with code written from the plan, unrolled over layers with literal shapes.
// Precision: fp32 master weights, gradients, optimizer states, residual
// stream, scan state and loss; bf16 copies of the weights and bf16
// activations as GEMM operands (fp32 accumulation in cuBLASLt).
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "common.cuh"
#include "gemm.cuh"
#include "embedding.cuh"
#include "rmsnorm.cuh"
#include "conv1d.cuh"
#include "scan.cuh"
#include "xent.cuh"
#include "elementwise.cuh"
#include "optim.cuh"
#include "decode.cuh"

#define REAL float
#include "init.h"

const param_info_t PARAM_TABLE[N_PARAM_TENSORS] = {
/*@ param_table @*/
};

// Eager-pass profiling for `make bench`: PROF(label) marks the end of an
// op; the time since the previous mark is that op's. Off inside the graph.
#define PROF_MAX 8192
struct prof_t {
    int on, n;
    cudaEvent_t ev[PROF_MAX];
    const char *label[PROF_MAX];
};

struct model {
    char *arena;            // the one device allocation, laid out below
    size_t arena_bytes;
    float *host_params;     // host mirror for init, checkpoints, loading
    float *host_grads;      // host copy for tests (model_grads)
    float *h_sched;         // pinned: per-step learning rates, step, dscale (copied in by the graph)
    float *h_loss;          // pinned: per-micro-batch loss sums and the gradient norm (copied out)
    char *h_batch;          // pinned: the step's token batches
    gemm_ctx gemm;
    cudaStream_t st;
    cudaGraphExec_t graph;
    int graph_ready;
    optim_hparams_t graph_h;  // the settings the graph was captured with
    double graph_clip;
    long step;
    prof_t *prof;
};

#define PROF(label) prof_mark(m, label)
static void prof_mark(model_t *m, const char *label) {
    prof_t *p = m->prof;
    if (!p || !p->on || p->n >= PROF_MAX) return;
    if (!p->ev[p->n]) CUDA_CHECK(cudaEventCreate(&p->ev[p->n]));
    CUDA_CHECK(cudaEventRecord(p->ev[p->n], m->st));
    p->label[p->n++] = label;
}

/*@ buffers @*/

#define P(t) (m->host_params + t##_OFF)

static void *pinned(size_t bytes) {
    void *p = NULL;
    CUDA_CHECK(cudaMallocHost(&p, bytes ? bytes : 1));
    memset(p, 0, bytes);
    return p;
}

model_t *model_create(void) {
    model_t *m = (model_t *)calloc(1, sizeof *m);
    if (!m) exit(1);
    m->arena_bytes = arena_bytes();
    cudaError_t err = cudaMalloc(&m->arena, m->arena_bytes);
    if (err != cudaSuccess) {
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        fprintf(stderr,
                "error: variant %s needs %.2f GiB of GPU memory (%zu bytes) in one allocation, but %s (%.2f GiB free of "
                "%.2f GiB).\n  Shrink the spec: lower train.micro_batch (raise train.grad_accum to keep the tokens per "
                "step) or train.seq_len, then re-run gen.\n",
                VARIANT_NAME, m->arena_bytes / 1073741824.0, m->arena_bytes, cudaGetErrorString(err),
                free_b / 1073741824.0, total_b / 1073741824.0);
        exit(1);
    }
    CUDA_CHECK(cudaMemset(m->arena, 0, m->arena_bytes));
    CUDA_CHECK(cudaStreamCreateWithFlags(&m->st, cudaStreamNonBlocking));
    gemm_init(&m->gemm, m->arena + OFF_GEMM_WS, GEMM_WS_BYTES);
    m->host_params = (float *)calloc(N_PARAMS, sizeof(float));
    m->host_grads = (float *)calloc(N_PARAMS, sizeof(float));
    if (!m->host_params || !m->host_grads) exit(1);
    m->h_sched = (float *)pinned(sizeof(float) * SCHED_FLOATS);
    m->h_loss = (float *)pinned(sizeof(float) * LOSS_FLOATS);
    m->h_batch = (char *)pinned(BATCH_BYTES);
    return m;
}

void model_free(model_t *m) {
    if (!m) return;
    if (m->graph_ready) cudaGraphExecDestroy(m->graph);
    gemm_destroy(&m->gemm);
    cudaStreamDestroy(m->st);
    cudaFree(m->arena);
    cudaFreeHost(m->h_sched);
    cudaFreeHost(m->h_loss);
    cudaFreeHost(m->h_batch);
    free(m->host_params);
    free(m->host_grads);
    free(m);
}

// The bf16 weight copies follow every change of the fp32 masters.
void model_params_upload(model_t *m) {
    CUDA_CHECK(cudaMemcpyAsync(PARAMS, m->host_params, sizeof(float) * N_PARAMS, cudaMemcpyHostToDevice, m->st));
    cast_f32_to_bf16(WBF, PARAMS, N_PARAMS, m->st);
    CUDA_CHECK(cudaStreamSynchronize(m->st));
}

real *model_params(model_t *m) {
    CUDA_CHECK(cudaMemcpyAsync(m->host_params, PARAMS, sizeof(float) * N_PARAMS, cudaMemcpyDeviceToHost, m->st));
    CUDA_CHECK(cudaStreamSynchronize(m->st));
    return m->host_params;
}

real *model_grads(model_t *m) {
    CUDA_CHECK(cudaMemcpyAsync(m->host_grads, GRADS, sizeof(float) * N_PARAMS, cudaMemcpyDeviceToHost, m->st));
    CUDA_CHECK(cudaStreamSynchronize(m->st));
    return m->host_grads;
}

void model_set_step(model_t *m, long step) { m->step = step; }
void model_zero_grad(model_t *m) { CUDA_CHECK(cudaMemsetAsync(GRADS, 0, sizeof(float) * N_PARAMS, m->st)); }

// Same initialisation as the CPU backend (same RNG streams), done on the host.
void model_init_weights(model_t *m, uint64_t seed) {
    rng_t rng;
/*@ init @*/
    model_params_upload(m);
}

// ---- generated: forward, loss + backward, optimizer -------------------------

/*@ forward @*/

/*@ backward @*/

/*@ optimizer @*/

/*@ decode @*/

// ---- batches ----------------------------------------------------------------

// Copies micro-batch `mb` into pinned slot i and returns its number of
// masked-in targets.
static double stage_batch(model_t *m, int i, const model_batch_t *mb) {
    const size_t n = (size_t)MICRO_BATCH * SEQ_LEN;
    int32_t *tok = (int32_t *)(m->h_batch + HB_TOKENS) + i * n;
    int32_t *tgt = (int32_t *)(m->h_batch + HB_TARGETS) + i * n;
    float *mask = (float *)(m->h_batch + HB_MASK) + i * n;
    uint8_t *ds = (uint8_t *)(m->h_batch + HB_DOCSTART) + i * n;
    memcpy(tok, mb->tokens, sizeof(int32_t) * n);
    memcpy(tgt, mb->targets, sizeof(int32_t) * n);
    double n_valid = 0;
    for (size_t k = 0; k < n; k++) {
        mask[k] = mb->mask ? mb->mask[k] : 1.0f;
        n_valid += mask[k];
    }
    if (mb->doc_start) memcpy(ds, mb->doc_start, n);
    else memset(ds, 0, n);
    return n_valid;
}

static void upload_batches(model_t *m) {
    CUDA_CHECK(cudaMemcpyAsync(BATCH_DEV, m->h_batch, BATCH_BYTES, cudaMemcpyHostToDevice, m->st));
}

#define SLOT_TOKENS(i) ((const int32_t *)(BATCH_DEV + HB_TOKENS) + (size_t)(i) * MICRO_BATCH * SEQ_LEN)
#define SLOT_TARGETS(i) ((const int32_t *)(BATCH_DEV + HB_TARGETS) + (size_t)(i) * MICRO_BATCH * SEQ_LEN)
#define SLOT_MASK(i) ((const float *)(BATCH_DEV + HB_MASK) + (size_t)(i) * MICRO_BATCH * SEQ_LEN)
#define SLOT_DOCSTART(i) ((const uint8_t *)(BATCH_DEV + HB_DOCSTART) + (size_t)(i) * MICRO_BATCH * SEQ_LEN)

// The whole step, as captured into the graph: inputs in, gradients, clip,
// Muon, AdamW, bf16 weight copies, losses out.
static void step_body(model_t *m, const optim_hparams_t *h, double grad_clip) {
    CUDA_CHECK(cudaMemcpyAsync(SCHED, m->h_sched, sizeof(float) * SCHED_FLOATS, cudaMemcpyHostToDevice, m->st));
    upload_batches(m);
    CUDA_CHECK(cudaMemsetAsync(GRADS, 0, sizeof(float) * N_PARAMS, m->st));
    CUDA_CHECK(cudaMemsetAsync(LOSS, 0, sizeof(float) * LOSS_FLOATS, m->st));
    PROF("inputs.upload");
    for (int i = 0; i < GRAD_ACCUM; i++) {
        forward(m, SLOT_TOKENS(i), SLOT_DOCSTART(i), MICRO_BATCH);
        backward(m, SLOT_TOKENS(i), SLOT_TARGETS(i), SLOT_MASK(i), SLOT_DOCSTART(i), SCHED + SCHED_DSCALE + i, LOSS + i);
    }
    optimizer_step(m, h, grad_clip);
    PROF("optimizer.cast_bf16");
    CUDA_CHECK(cudaMemcpyAsync(m->h_loss, LOSS, sizeof(float) * LOSS_FLOATS, cudaMemcpyDeviceToHost, m->st));
}

static int same_hparams(const optim_hparams_t *a, const optim_hparams_t *b) { return !memcmp(a, b, sizeof *a); }

double model_train_step(model_t *m, const model_batch_t *mb, const optim_hparams_t *h, double lr_ratio, double grad_clip,
                        double *grad_norm) {
    double n_valid[GRAD_ACCUM];
    for (int i = 0; i < GRAD_ACCUM; i++) n_valid[i] = stage_batch(m, i, &mb[i]);
    m->step++;
    m->h_sched[SCHED_MUON_LR] = (float)(h->muon_lr * lr_ratio);
    m->h_sched[SCHED_ADAMW_LR] = (float)(h->adamw_lr * lr_ratio);
    m->h_sched[SCHED_MUON_LR + 1] = m->h_sched[SCHED_ADAMW_LR + 1] = (float)m->step;
    for (int i = 0; i < GRAD_ACCUM; i++)
        m->h_sched[SCHED_DSCALE + i] = n_valid[i] > 0 ? (float)(1.0 / (GRAD_ACCUM * n_valid[i])) : 0.0f;
    // Settings are baked into the graph at capture: a change re-captures it.
    if (m->graph_ready && (!same_hparams(&m->graph_h, h) || m->graph_clip != grad_clip)) {
        CUDA_CHECK(cudaGraphExecDestroy(m->graph));
        m->graph_ready = 0;
    }
    if (!m->graph_ready && m->step >= 2) {
        // the first step runs eagerly: cuBLASLt picks its algorithms outside capture
        cudaGraph_t g;
        CUDA_CHECK(cudaStreamBeginCapture(m->st, cudaStreamCaptureModeThreadLocal));
        step_body(m, h, grad_clip);
        CUDA_CHECK(cudaStreamEndCapture(m->st, &g));
        CUDA_CHECK(cudaGraphInstantiate(&m->graph, g, 0));
        CUDA_CHECK(cudaGraphDestroy(g));
        m->graph_ready = 1;
        m->graph_h = *h;
        m->graph_clip = grad_clip;
    }
    if (m->graph_ready) CUDA_CHECK(cudaGraphLaunch(m->graph, m->st));
    else step_body(m, h, grad_clip);
    CUDA_CHECK(cudaStreamSynchronize(m->st));
    double loss = 0;
    for (int i = 0; i < GRAD_ACCUM; i++) loss += n_valid[i] > 0 ? m->h_loss[i] / n_valid[i] / GRAD_ACCUM : 0;
    *grad_norm = sqrt((double)m->h_loss[LOSS_NORMSQ]);
    return loss;
}

// One micro-batch forward + backward without the optimizer (tests compare
// these gradients with the CPU backend's).
double model_forward_backward(model_t *m, const int32_t *tokens, const int32_t *targets, const real *mask,
                              const uint8_t *doc_start, double grad_scale) {
    model_batch_t b = {tokens, targets, mask, doc_start};
    double n_valid = stage_batch(m, 0, &b);
    m->h_sched[SCHED_DSCALE] = n_valid > 0 ? (float)(grad_scale / n_valid) : 0.0f;
    CUDA_CHECK(cudaMemcpyAsync(SCHED, m->h_sched, sizeof(float) * SCHED_FLOATS, cudaMemcpyHostToDevice, m->st));
    upload_batches(m);
    CUDA_CHECK(cudaMemsetAsync(LOSS, 0, sizeof(float) * LOSS_FLOATS, m->st));
    forward(m, SLOT_TOKENS(0), SLOT_DOCSTART(0), MICRO_BATCH);
    backward(m, SLOT_TOKENS(0), SLOT_TARGETS(0), SLOT_MASK(0), SLOT_DOCSTART(0), SCHED + SCHED_DSCALE, LOSS);
    CUDA_CHECK(cudaMemcpyAsync(m->h_loss, LOSS, sizeof(float) * LOSS_FLOATS, cudaMemcpyDeviceToHost, m->st));
    CUDA_CHECK(cudaStreamSynchronize(m->st));
    return n_valid > 0 ? m->h_loss[0] / n_valid : 0;
}

double model_forward_loss(model_t *m, const int32_t *tokens, const int32_t *targets, const real *mask,
                          const uint8_t *doc_start, double *n_valid_out) {
    model_batch_t b = {tokens, targets, mask, doc_start};
    double n_valid = stage_batch(m, 0, &b);
    *n_valid_out = n_valid;
    upload_batches(m);
    CUDA_CHECK(cudaMemsetAsync(LOSS, 0, sizeof(float) * LOSS_FLOATS, m->st));
    forward(m, SLOT_TOKENS(0), SLOT_DOCSTART(0), MICRO_BATCH);
    eval_loss(m, SLOT_TARGETS(0), SLOT_MASK(0), LOSS);
    CUDA_CHECK(cudaMemcpyAsync(m->h_loss, LOSS, sizeof(float) * LOSS_FLOATS, cudaMemcpyDeviceToHost, m->st));
    CUDA_CHECK(cudaStreamSynchronize(m->st));
    return n_valid > 0 ? m->h_loss[0] / n_valid : 0;
}

// logits (VOCAB_PADDED) at position pos of one row of SEQ_LEN tokens (full forward of the row)
static void logits_at(model_t *m, const int32_t *row, int pos, real *logits) {
    int32_t *tok = (int32_t *)(m->h_batch + HB_TOKENS);
    memcpy(tok, row, sizeof(int32_t) * SEQ_LEN);
    memset(m->h_batch + HB_DOCSTART, 0, (size_t)MICRO_BATCH * SEQ_LEN);
    upload_batches(m);
    forward(m, SLOT_TOKENS(0), NULL, 1);
    linear_fwd(&m->gemm, LOGITS, CUDA_R_32F, VOCAB_PADDED, NORMF + (size_t)pos * D_MODEL, D_MODEL, WBF + EMBEDDING_W_OFF, 1,
               D_MODEL, VOCAB_PADDED, 0.0f, NULL, m->st);
    CUDA_CHECK(cudaMemcpyAsync(logits, LOGITS, sizeof(float) * VOCAB_PADDED, cudaMemcpyDeviceToHost, m->st));
    CUDA_CHECK(cudaStreamSynchronize(m->st));
}

void model_logits(model_t *m, const int32_t *tokens, const uint8_t *doc_start, int nb, real *logits) {
    for (int b = 0; b < nb; b++)
        for (int t = 0; t < SEQ_LEN; t++) logits_at(m, tokens + (size_t)b * SEQ_LEN, t, logits + ((size_t)b * SEQ_LEN + t) * VOCAB_PADDED);
    (void)doc_start;
}

void model_get_state(model_t *m, real *muon_mom, real *adam_m, real *adam_v) {
    CUDA_CHECK(cudaMemcpyAsync(muon_mom, MOM, sizeof(float) * MUON_NUMEL, cudaMemcpyDeviceToHost, m->st));
    CUDA_CHECK(cudaMemcpyAsync(adam_m, ADAM_M, sizeof(float) * ADAMW_NUMEL, cudaMemcpyDeviceToHost, m->st));
    CUDA_CHECK(cudaMemcpyAsync(adam_v, ADAM_V, sizeof(float) * ADAMW_NUMEL, cudaMemcpyDeviceToHost, m->st));
    CUDA_CHECK(cudaStreamSynchronize(m->st));
}
void model_set_state(model_t *m, const real *muon_mom, const real *adam_m, const real *adam_v) {
    CUDA_CHECK(cudaMemcpyAsync(MOM, muon_mom, sizeof(float) * MUON_NUMEL, cudaMemcpyHostToDevice, m->st));
    CUDA_CHECK(cudaMemcpyAsync(ADAM_M, adam_m, sizeof(float) * ADAMW_NUMEL, cudaMemcpyHostToDevice, m->st));
    CUDA_CHECK(cudaMemcpyAsync(ADAM_V, adam_v, sizeof(float) * ADAMW_NUMEL, cudaMemcpyHostToDevice, m->st));
    CUDA_CHECK(cudaStreamSynchronize(m->st));
}

// ---- benchmark ------------------------------------------------------------------

typedef struct {
    const char *label;
    double ms;
    int calls;
} prof_row_t;

static int by_ms(const void *a, const void *b) {
    double x = ((const prof_row_t *)a)->ms, y = ((const prof_row_t *)b)->ms;
    return x < y ? 1 : x > y ? -1 : 0;
}

// `steps` replays of the step graph on synthetic tokens, then one eager pass
// with a mark after every op for the phase and op breakdown.
void model_bench(model_t *m, const optim_hparams_t *h, const model_batch_t *mb, int steps, int top) {
    const size_t n = (size_t)MICRO_BATCH * SEQ_LEN;
    double gn = 0;
    for (int i = 0; i < 3; i++) model_train_step(m, mb, h, 1.0, 1.0, &gn);  // eager, capture, replay
    cudaEvent_t a, b;
    CUDA_CHECK(cudaEventCreate(&a));
    CUDA_CHECK(cudaEventCreate(&b));
    CUDA_CHECK(cudaEventRecord(a, m->st));
    for (int i = 0; i < steps; i++) CUDA_CHECK(cudaGraphLaunch(m->graph, m->st));
    CUDA_CHECK(cudaEventRecord(b, m->st));
    CUDA_CHECK(cudaEventSynchronize(b));
    float total_ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&total_ms, a, b));
    const double ms = total_ms / steps, tokens = (double)n * GRAD_ACCUM, tps = tokens / (ms / 1e3);
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    printf("variant %s: %lld parameters (%lld in 2-D matrices), %.0f tokens per step\n", VARIANT_NAME, (long long)N_PARAMS,
           (long long)N_PARAMS_2D, tokens);
    printf("step (CUDA graph, mean of %d): %.2f ms  ->  %.0f tokens/s, MFU %.1f%% (6 x N_2D x tokens/s / 790 TFLOP/s)\n",
           steps, ms, tps, 100.0 * 6.0 * (double)N_PARAMS_2D * tps / 790e12);
    printf("GPU memory: arena %.2f GiB; device in use %.2f GiB of %.2f GiB (context and cuBLASLt included)\n",
           m->arena_bytes / 1073741824.0, (total_b - free_b) / 1073741824.0, total_b / 1073741824.0);

    m->prof = (prof_t *)calloc(1, sizeof(prof_t));
    m->prof->on = 1;
    PROF("start");
    step_body(m, h, 1.0);
    CUDA_CHECK(cudaStreamSynchronize(m->st));
    prof_t *p = m->prof;
    static prof_row_t rows[512];
    int nr = 0;
    double phase[3] = {0, 0, 0}, eager = 0;
    for (int i = 1; i < p->n; i++) {
        float t = 0;
        CUDA_CHECK(cudaEventElapsedTime(&t, p->ev[i - 1], p->ev[i]));
        eager += t;
        const char *l = p->label[i];
        if (!strncmp(l, "forward.", 8)) phase[0] += t;
        else if (!strncmp(l, "backward.", 9)) phase[1] += t;
        else if (!strncmp(l, "optimizer.", 10)) phase[2] += t;
        int r;
        for (r = 0; r < nr; r++)
            if (!strcmp(rows[r].label, l)) break;
        if (r == nr && nr < 512) rows[nr++] = (prof_row_t){l, 0, 0};
        if (r < 512) rows[r].ms += t, rows[r].calls++;
    }
    printf("eager pass with per-op marks: %.2f ms (the graph removes launch gaps)\n", eager);
    printf("phases: forward %.2f ms (%.1f%%), backward %.2f ms (%.1f%%), optimizer %.2f ms (%.1f%%)\n", phase[0],
           100 * phase[0] / eager, phase[1], 100 * phase[1] / eager, phase[2], 100 * phase[2] / eager);
    qsort(rows, (size_t)nr, sizeof rows[0], by_ms);
    printf("the %d most costly ops (all layers together):\n", top < nr ? top : nr);
    for (int r = 0; r < nr && r < top; r++)
        printf("  %-32s %8.3f ms  %5.1f%%  (%d calls)\n", rows[r].label, rows[r].ms, 100 * rows[r].ms / eager, rows[r].calls);
    m->prof->on = 0;
}
