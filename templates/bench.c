/*@ banner @*/
/* bench.c: `make bench`: the fixed-shape training step of this variant on
 * synthetic tokens: tokens/s, MFU, memory, the phases and the costliest ops.
 *
 *   bench [--steps N] [--top K]
 *
 * Template: templates/bench.c; gen fills the marked insertion points. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "rt.h"
#include "hparams.h"

static rt_settings_t settings = {
/*@ settings @*/
};

int main(int argc, char **argv) {
    int steps = 20, top = 10;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--top") && i + 1 < argc) top = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--help")) {
            printf("usage: %s [--steps N] [--top K]  (defaults: 20 steps, the 10 costliest ops)\n", argv[0]);
            return 0;
        } else rt_die("unknown option '%s' (see --help)", argv[i]);
    }
    if (steps < 1) rt_die("--steps must be at least 1");
    if (top < 0) rt_die("--top must not be negative");
    const rt_settings_t *s = &settings;
    optim_hparams_t h = hparams_from_settings(s);
    /* synthetic tokens: uniform over the vocabulary, every target counted */
    const size_t n = (size_t)MICRO_BATCH * SEQ_LEN;
    int32_t *tok = rt_malloc(sizeof(int32_t) * n * GRAD_ACCUM), *tgt = rt_malloc(sizeof(int32_t) * n * GRAD_ACCUM);
    uint64_t x = 42;
    for (size_t i = 0; i < n * GRAD_ACCUM; i++) {
        x = rt_splitmix64(x);
        tok[i] = (int32_t)(x % VOCAB_SIZE);
        tgt[i] = (int32_t)((x >> 32) % VOCAB_SIZE);
    }
    model_batch_t mb[GRAD_ACCUM];
    for (int i = 0; i < GRAD_ACCUM; i++) mb[i] = (model_batch_t){tok + i * n, tgt + i * n, NULL, NULL};
    model_t *m = model_create();
    model_init_weights(m, s->seed);
    model_bench(m, &h, mb, steps, top);
    free(tok);
    free(tgt);
    model_free(m);
    return 0;
}
