/* sample.h: sampling from a variant's model in recurrent mode (constant
 * state per layer): the generation tool and the training program's closing
 * sample share it. Greedy at temperature 0, else top-k, then top-p, then a
 * draw; padding rows of the vocabulary are never chosen. */
#ifndef SAMPLE_H
#define SAMPLE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "rt.h"

typedef struct {
    double temperature, top_p;
    int top_k, max_tokens, stop_at_eos;
    uint64_t rng;
} sampler_t;

static inline double sampler_uniform(sampler_t *s) {
    s->rng = rt_splitmix64(s->rng);
    return (double)(s->rng >> 11) / 9007199254740992.0;
}

typedef struct {
    float p;
    int id;
} cand_t;

static inline int cand_by_prob(const void *a, const void *b) {
    const cand_t *x = (const cand_t *)a, *y = (const cand_t *)b;
    return x->p < y->p ? 1 : x->p > y->p ? -1 : x->id - y->id;
}

/* The next token from logits over the first `vocab` entries; c has room for vocab. */
static inline int sampler_pick(sampler_t *s, const real *logits, int vocab, cand_t *c) {
    if (s->temperature <= 0) {
        int best = 0;
        for (int v = 1; v < vocab; v++)
            if (logits[v] > logits[best]) best = v;
        return best;
    }
    double mx = -INFINITY, z = 0;
    for (int v = 0; v < vocab; v++) mx = fmax(mx, logits[v]);
    for (int v = 0; v < vocab; v++) {
        c[v].p = (float)exp((logits[v] - mx) / s->temperature);
        c[v].id = v;
        z += c[v].p;
    }
    qsort(c, (size_t)vocab, sizeof *c, cand_by_prob);
    int n = s->top_k > 0 && s->top_k < vocab ? s->top_k : vocab;
    double keep = 0;
    int m = 0;
    while (m < n) {
        keep += c[m].p / z;
        m++;
        if (s->top_p < 1 && keep >= s->top_p) break;
    }
    double mass = 0;
    for (int i = 0; i < m; i++) mass += c[i].p;
    double r = sampler_uniform(s) * mass, acc = 0;
    for (int i = 0; i < m; i++) {
        acc += c[i].p;
        if (acc >= r) return c[i].id;
    }
    return c[m - 1].id;
}

/* Feeds the prompt ids one by one, then samples up to max_tokens (stopping
 * at EOS when asked); echo prints each token as it comes. Returns the
 * generated ids (malloc'd, *n_out of them); *tok_per_s counts prompt and
 * generated tokens. */
static inline int32_t *sample_ids(model_t *m, const rt_tokenizer_t *tok, sampler_t *s, const int32_t *prompt, size_t n,
                                  size_t *n_out, double *tok_per_s, int echo) {
    int vocab = rt_tokenizer_vocab_size(tok);
    if (vocab > VOCAB_PADDED) vocab = VOCAB_PADDED;
    real *logits = rt_malloc(sizeof(real) * VOCAB_PADDED);
    cand_t *c = rt_malloc(sizeof(cand_t) * (size_t)vocab);
    int32_t *out = rt_malloc(sizeof(int32_t) * (size_t)(s->max_tokens + 1));
    size_t k = 0;
    double t0 = rt_now();
    model_decode_reset(m);
    if (n == 0) model_decode_step(m, rt_tokenizer_eos(tok), logits); /* an empty prompt starts a new document */
    for (size_t i = 0; i < n; i++) model_decode_step(m, prompt[i], logits);
    while ((int)k < s->max_tokens) {
        int next = sampler_pick(s, logits, vocab, c);
        if (s->stop_at_eos && next == rt_tokenizer_eos(tok)) break;
        out[k++] = next;
        if (echo) {
            char *piece = rt_tokenizer_decode(tok, &out[k - 1], 1);
            fputs(piece, stdout);
            fflush(stdout);
            free(piece);
        }
        model_decode_step(m, next, logits);
    }
    double dt = rt_now() - t0;
    *tok_per_s = dt > 0 ? (double)(n + k) / dt : 0;
    *n_out = k;
    free(logits);
    free(c);
    return out;
}

#endif
