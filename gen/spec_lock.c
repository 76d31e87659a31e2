/* spec_lock.c: the resolved spec as canonical YAML (spec.lock.yaml) and its
 * sha256. Canonical means: every key, in the order of the README's spec section, with
 * defaults filled in, numbers in one spelling and strings double-quoted, so
 * two specs that mean the same thing give the same bytes and hash. */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec_priv.h"

typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} buf_t;

__attribute__((format(printf, 2, 3)))
static void put(buf_t *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (k < 0) { b->oom = true; return; }
        if (b->s && b->len + (size_t)k < b->cap) { b->len += (size_t)k; return; }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap <= b->len + (size_t)k) cap *= 2;
        char *t = realloc(b->s, cap);
        if (!t) { b->oom = true; return; }
        b->s = t;
        b->cap = cap;
    }
}

/* Shortest %g spelling that reads back as the same double, then tidied to a
 * YAML float: "1e-05" -> "1e-5", "1" -> "1.0". */
static const char *fmt_float(double v, char out[40]) {
    char t[40];
    if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v) {
        /* whole numbers in plain digits: 100 -> "100.0", not "1e2" */
        snprintf(out, 40, "%.1f", v);
        return out;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, v);
        if (strtod(t, NULL) == v) break;
    }
    char *o = out;
    const char *e = strchr(t, 'e');
    size_t mant = e ? (size_t)(e - t) : strlen(t);
    memcpy(o, t, mant);
    o += mant;
    if (!memchr(t, '.', mant) && !e) { memcpy(o, ".0", 2); o += 2; }
    if (e) {
        *o++ = 'e';
        e++;
        if (*e == '-') *o++ = *e++;
        else if (*e == '+') e++;
        while (*e == '0' && e[1]) e++;
        while (*e) *o++ = *e++;
    }
    *o = 0;
    return out;
}

static void put_str(buf_t *b, const char *s) {
    if (!s) { put(b, "null"); return; }
    put(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') put(b, "\\%c", *p);
        else if (*p == '\n') put(b, "\\n");
        else if (*p == '\t') put(b, "\\t");
        else if (*p < 0x20 || *p == 0x7f) put(b, "\\x%02x", *p);
        else put(b, "%c", *p);
    }
    put(b, "\"");
}

static void put_list(buf_t *b, const strlist_t *l) {
    put(b, "[");
    for (int i = 0; i < l->n; i++) {
        if (i) put(b, ", ");
        put_str(b, l->items[i]);
    }
    put(b, "]");
}

static void put_floats(buf_t *b, const double *v, int n) {
    char f[40];
    put(b, "[");
    for (int i = 0; i < n; i++) put(b, "%s%s", i ? ", " : "", fmt_float(v[i], f));
    put(b, "]");
}

static const char *tf(bool v) { return v ? "true" : "false"; }

char *spec_lock_body(const spec_t *s) {
    buf_t b = {0};
    char f[40];
    const spec_model_t *m = &s->model;
    const spec_muon_t *mu = &s->optimizer.muon;
    const spec_adamw_t *aw = &s->optimizer.adamw;
    const spec_train_t *t = &s->train;
    const spec_data_t *d = &s->data;

    put(&b, "# spec.lock.yaml: the resolved spec (every default filled in). The hash\n"
            "# on the last line is the sha256 of all the text above it.\n");
    put(&b, "name: "); put_str(&b, s->name); put(&b, "\n");
    put(&b, "backend: %s\n", backend_name(s->backend));

    put(&b, "model:\n");
    put(&b, "  d_model: %d\n  n_layer: %d\n  vocab_size: %d\n", m->d_model, m->n_layer, m->vocab_size);
    put(&b, "  d_state: %d\n  d_conv: %d\n  expand: %d\n", m->d_state, m->d_conv, m->expand);
    if (m->dt_rank_auto) put(&b, "  dt_rank: auto\n");
    else put(&b, "  dt_rank: %d\n", m->dt_rank);
    put(&b, "  norm_eps: %s\n", fmt_float(m->norm_eps, f));
    put(&b, "  tie_embeddings: %s\n", tf(m->tie_embeddings));
    put(&b, "  init:\n");
    put(&b, "    dt_min: %s\n", fmt_float(m->init.dt_min, f));
    put(&b, "    dt_max: %s\n", fmt_float(m->init.dt_max, f));
    put(&b, "    dt_init_floor: %s\n", fmt_float(m->init.dt_init_floor, f));
    put(&b, "    embed_std: %s\n", fmt_float(m->init.embed_std, f));
    put(&b, "    rescale_prenorm_residual: %s\n", tf(m->init.rescale_prenorm_residual));

    put(&b, "optimizer:\n");
    put(&b, "  grad_clip: %s\n", fmt_float(s->optimizer.grad_clip, f));
    put(&b, "  muon:\n    params: "); put_list(&b, &mu->params); put(&b, "\n");
    put(&b, "    lr: %s\n", fmt_float(mu->lr, f));
    put(&b, "    momentum: %s\n", fmt_float(mu->momentum, f));
    put(&b, "    nesterov: %s\n", tf(mu->nesterov));
    put(&b, "    ns_steps: %d\n", mu->ns_steps);
    put(&b, "    ns_coefficients: "); put_floats(&b, mu->ns_coefficients, 3); put(&b, "\n");
    put(&b, "    weight_decay: %s\n", fmt_float(mu->weight_decay, f));
    put(&b, "    lr_adjust: %s\n", lr_adjust_name(mu->lr_adjust));
    put(&b, "  adamw:\n    params: "); put_list(&b, &aw->params); put(&b, "\n");
    put(&b, "    lr: %s\n", fmt_float(aw->lr, f));
    put(&b, "    betas: "); put_floats(&b, aw->betas, 2); put(&b, "\n");
    put(&b, "    eps: %s\n", fmt_float(aw->eps, f));
    put(&b, "    weight_decay: %s\n", fmt_float(aw->weight_decay, f));
    put(&b, "    no_decay: "); put_list(&b, &aw->no_decay); put(&b, "\n");

    put(&b, "schedule:\n");
    put(&b, "  warmup_steps: %" PRId64 "\n", s->schedule.warmup_steps);
    put(&b, "  decay: %s\n", decay_name(s->schedule.decay));
    put(&b, "  min_lr_ratio: %s\n", fmt_float(s->schedule.min_lr_ratio, f));

    put(&b, "train:\n");
    put(&b, "  phase: %s\n", phase_name(t->phase));
    put(&b, "  seq_len: %d\n  micro_batch: %d\n  grad_accum: %d\n", t->seq_len, t->micro_batch, t->grad_accum);
    put(&b, "  train_by_epochs: %s\n", tf(t->train_by_epochs));
    put(&b, "  num_epochs: %s\n", fmt_float(t->num_epochs, f));
    if (t->total_train_tokens > 0) put(&b, "  total_train_tokens: %" PRId64 "\n", t->total_train_tokens);
    else put(&b, "  total_train_tokens: null\n");
    /* a derived max_steps is not an input: it is listed under derived: */
    if (t->train_by_epochs) put(&b, "  max_steps: null\n");
    else put(&b, "  max_steps: %" PRId64 "\n", t->max_steps);
    put(&b, "  eval_every: %" PRId64 "\n", t->eval_every);
    put(&b, "  eval_tokens: %" PRId64 "\n", t->eval_tokens);
    put(&b, "  checkpoint_every: %" PRId64 "\n", t->checkpoint_every);
    put(&b, "  seed: %" PRIu64 "\n", t->seed);
    put(&b, "  reset_state_at_doc_boundaries: %s\n", tf(t->reset_state_at_doc_boundaries));
    put(&b, "  init_from: "); put_str(&b, t->init_from); put(&b, "\n");

    put(&b, "data:\n");
    put(&b, "  source: %s\n", d->source);
    put(&b, "  paths: "); put_list(&b, &d->paths); put(&b, "\n");
    put(&b, "  url: "); put_str(&b, d->url); put(&b, "\n");
    put(&b, "  format: %s\n", d->format);
    put(&b, "  dataset: "); put_str(&b, d->dataset); put(&b, "\n");
    put(&b, "  config: "); put_str(&b, d->config); put(&b, "\n");
    put(&b, "  split: "); put_str(&b, d->split); put(&b, "\n");
    put(&b, "  text_column: "); put_str(&b, d->text_column); put(&b, "\n");
    put(&b, "  prompt_template: %s\n", d->prompt_template);
    put(&b, "  validation:\n    fraction: %s\n", fmt_float(d->validation_fraction, f));

    put(&b, "tokenizer: "); put_str(&b, s->tokenizer.name); put(&b, "\n");
    put(&b, "checkpoint:\n  dir: "); put_str(&b, s->checkpoint.dir);
    put(&b, "\n  keep_last: %d\n", s->checkpoint.keep_last);
    put(&b, "logging:\n  dir: "); put_str(&b, s->logging.dir);
    put(&b, "\n  every: %d\n", s->logging.every);

    int64_t n_params = 0;
    spec_param_t *ps = NULL;
    int np = 0;
    if (spec_param_table(m, &ps, &np) == 0)
        for (int i = 0; i < np; i++) n_params += ps[i].numel;
    else
        b.oom = true;
    free(ps);
    put(&b, "derived:\n");
    put(&b, "  vocab_padded: %d\n  d_inner: %d\n  dt_rank: %d\n", m->vocab_padded, m->d_inner, m->dt_rank);
    put(&b, "  tokens_per_step: %" PRId64 "\n  max_steps: %" PRId64 "\n", t->tokens_per_step, t->max_steps);
    put(&b, "  n_params: %" PRId64 "\n", n_params);
    if (b.oom) { free(b.s); return NULL; }
    return b.s;
}

void spec_sha256_hex(const char *data, size_t len, char hex[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL)) n = 0;
    for (unsigned i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", i < n ? md[i] : 0);
    hex[64] = 0;
}

char *spec_lock_yaml(const spec_t *s) {
    char *body = spec_lock_body(s);
    if (!body) return NULL;
    size_t n = strlen(body);
    char hex[65];
    spec_sha256_hex(body, n, hex);
    char *out = realloc(body, n + 6 + 64 + 2);
    if (!out) { free(body); return NULL; }
    snprintf(out + n, 6 + 64 + 2, "hash: %s\n", hex);
    return out;
}

const char *backend_name(backend_t b) { return b == BACKEND_CUDA ? "cuda" : "cpu"; }
const char *phase_name(phase_t p) { return p == PHASE_FINETUNE ? "finetune" : "pretrain"; }
const char *decay_name(decay_t d) {
    return d == DECAY_LINEAR ? "linear" : d == DECAY_CONSTANT ? "constant" : "cosine";
}
const char *lr_adjust_name(lr_adjust_t a) {
    return a == LR_ADJUST_MATCH_RMS_ADAMW ? "match_rms_adamw" : "original";
}
