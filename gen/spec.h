/* spec.h: the resolved model/optimizer/training spec that gen reads from YAML.
 *
 * Data flow: spec.yaml --spec_load()--> spec_t (validated, defaults filled,
 * derived fields computed) --plan--> plan_t --emit--> build/<name>/.
 *
 * Every field below is filled after a successful spec_load(); derived fields
 * are marked "derived". Strings are heap-owned by the spec (spec_free). */
#ifndef GEN_SPEC_H
#define GEN_SPEC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { BACKEND_CPU = 0, BACKEND_CUDA = 1 } backend_t;
typedef enum { PHASE_PRETRAIN = 0, PHASE_FINETUNE = 1 } phase_t;
typedef enum { DECAY_COSINE = 0, DECAY_LINEAR = 1, DECAY_CONSTANT = 2 } decay_t;
typedef enum { LR_ADJUST_ORIGINAL = 0, LR_ADJUST_MATCH_RMS_ADAMW = 1 } lr_adjust_t;

typedef struct {
    char **items;
    int n;
} strlist_t;

typedef struct {
    int d_model;
    int n_layer;
    int vocab_size;      /* as written in the spec (e.g. 50277) */
    int vocab_padded;    /* derived: vocab_size rounded up to a multiple of 8 */
    int d_state;
    int d_conv;
    int expand;
    int d_inner;         /* derived: expand * d_model */
    int dt_rank;         /* "auto" -> derived ceil(d_model / 16) */
    bool dt_rank_auto;   /* true when the spec said "auto" (or omitted it) */
    double norm_eps;
    bool tie_embeddings; /* only true is supported by this version */
    struct {
        double dt_min, dt_max, dt_init_floor, embed_std;
        bool rescale_prenorm_residual;
    } init;
} spec_model_t;

typedef struct {
    strlist_t params;           /* fnmatch patterns over parameter names */
    double lr;
    double momentum;
    bool nesterov;
    int ns_steps;
    double ns_coefficients[3];
    double weight_decay;
    lr_adjust_t lr_adjust;
} spec_muon_t;

typedef struct {
    strlist_t params;
    double lr;
    double betas[2];
    double eps;
    double weight_decay;
    strlist_t no_decay;         /* patterns of parameters exempt from decay */
} spec_adamw_t;

typedef struct {
    double grad_clip;           /* 0 disables clipping */
    spec_muon_t muon;
    spec_adamw_t adamw;
} spec_optimizer_t;

typedef struct {
    int64_t warmup_steps;
    decay_t decay;
    double min_lr_ratio;
} spec_schedule_t;

typedef struct {
    phase_t phase;
    int seq_len;
    int micro_batch;
    int grad_accum;
    bool train_by_epochs;
    double num_epochs;
    int64_t total_train_tokens;
    int64_t max_steps;          /* derived when train_by_epochs */
    int64_t tokens_per_step;    /* derived: seq_len * micro_batch * grad_accum */
    int64_t eval_every;         /* 0 disables evaluation */
    int64_t eval_tokens;
    int64_t checkpoint_every;   /* 0 disables periodic checkpoints */
    uint64_t seed;
    bool reset_state_at_doc_boundaries;
    char *init_from;            /* checkpoint dir to start from; required for finetune; NULL if none */
} spec_train_t;

typedef struct {
    char *source;               /* "local" | "hf" | "url" */
    strlist_t paths;            /* local: files or globs */
    char *url;                  /* url: one http(s) URL */
    char *format;               /* "auto" | "txt" | "jsonl" | "parquet" */
    char *dataset;              /* hf: owner/name */
    char *config;               /* hf: config name, e.g. sample-10BT */
    char *split;                /* hf: split, e.g. train */
    char *text_column;          /* jsonl/parquet column holding the text */
    char *prompt_template;      /* "none" | "alpaca" */
    double validation_fraction; /* fraction of documents held out */
} spec_data_t;

typedef struct {
    char *name;                 /* "bytes" | path to tokenizer.json | dir | "hf:OWNER/NAME" */
} spec_tokenizer_t;

typedef struct {
    char *dir;
    int keep_last;
} spec_checkpoint_t;

typedef struct {
    char *dir;
    int every;
} spec_logging_t;

typedef struct {
    char *path;                 /* the spec file as given on the command line */
    char *name;
    backend_t backend;
    spec_model_t model;
    spec_optimizer_t optimizer;
    spec_schedule_t schedule;
    spec_train_t train;
    spec_data_t data;
    spec_tokenizer_t tokenizer;
    spec_checkpoint_t checkpoint;
    spec_logging_t logging;
    char hash[65];              /* derived: sha256 hex of spec_lock_yaml() body */
} spec_t;

/* Reads, validates and resolves the spec at `path`. On error writes one or
 * more lines "FILE:LINE:COL: key.path: what is wrong" to `err` and returns -1;
 * on success returns 0 and `out` owns its strings. `out` is zeroed first. */
int spec_load(const char *path, spec_t *out, FILE *err);

void spec_free(spec_t *s);

/* The resolved spec as canonical YAML (every key, defaults filled, derived
 * values under a `derived:` mapping), ending with "hash: <sha256>".
 * Deterministic. Caller frees. */
char *spec_lock_yaml(const spec_t *s);

/* One parameter tensor of the model, in mamba_ssm state-dict order:
 *   embedding.weight (vocab_padded, d_model)
 *   for i in 0..n_layer-1:
 *     layers.{i}.norm.weight (d_model)
 *     layers.{i}.mixer.in_proj.weight (2*d_inner, d_model)
 *     layers.{i}.mixer.conv1d.weight (d_inner, 1, d_conv)
 *     layers.{i}.mixer.conv1d.bias (d_inner)
 *     layers.{i}.mixer.x_proj.weight (dt_rank + 2*d_state, d_inner)
 *     layers.{i}.mixer.dt_proj.weight (d_inner, dt_rank)
 *     layers.{i}.mixer.dt_proj.bias (d_inner)
 *     layers.{i}.mixer.A_log (d_inner, d_state)
 *     layers.{i}.mixer.D (d_inner)
 *     layers.{i}.mixer.out_proj.weight (d_model, d_inner)
 *   norm_f.weight (d_model)
 * Optimizer patterns are fnmatch(3) globs (flags 0: '*' also matches '.')
 * matched against the whole name. */
typedef enum { GROUP_MUON = 0, GROUP_ADAMW = 1 } opt_group_t;
typedef struct {
    char name[96];
    int ndim;
    int64_t shape[3];
    int64_t numel;
    opt_group_t group;
    bool decay;              /* muon: weight_decay > 0; adamw: not matched by no_decay */
} spec_param_t;

/* Fills *out (malloc'd, *n entries) with the parameter table above and the
 * group each pattern list assigns. Assumes a spec that spec_load accepted. */
int spec_param_list(const spec_t *s, spec_param_t **out, int *n);

const char *backend_name(backend_t b);
const char *phase_name(phase_t p);
const char *decay_name(decay_t d);
const char *lr_adjust_name(lr_adjust_t a);

#endif
