/* spec_params.c: the parameter table of a Mamba-1 model (names and shapes in
 * mamba_ssm state-dict order) and its split into optimizer groups. */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec_priv.h"

static void add(spec_param_t *t, int *k, const char *name, int ndim,
                int64_t d0, int64_t d1, int64_t d2) {
    spec_param_t *p = &t[(*k)++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = ndim > 1 ? d1 : 0;
    p->shape[2] = ndim > 2 ? d2 : 0;
    p->numel = d0 * (ndim > 1 ? d1 : 1) * (ndim > 2 ? d2 : 1);
}

int spec_param_table(const spec_model_t *m, spec_param_t **out, int *n) {
    int count = 2 + 10 * m->n_layer;
    spec_param_t *t = calloc((size_t)count, sizeof *t);
    if (!t) return -1;
    int k = 0;
    int64_t D = m->d_model, E = m->d_inner, N = m->d_state, R = m->dt_rank;
    char nm[96];
    /* the LM head is tied to this, so it is the only vocab-sized tensor */
    add(t, &k, "embedding.weight", 2, m->vocab_padded, D, 0);
    for (int i = 0; i < m->n_layer; i++) {
#define P(suffix, ndim, a, b, c)                                             \
    do {                                                                     \
        snprintf(nm, sizeof nm, "layers.%d.%s", i, suffix);                  \
        add(t, &k, nm, ndim, a, b, c);                                       \
    } while (0)
        P("norm.weight", 1, D, 0, 0);
        P("mixer.in_proj.weight", 2, 2 * E, D, 0);      /* x and z halves */
        P("mixer.conv1d.weight", 3, E, 1, m->d_conv);   /* depthwise */
        P("mixer.conv1d.bias", 1, E, 0, 0);
        P("mixer.x_proj.weight", 2, R + 2 * N, E, 0);   /* dt_low, B, C */
        P("mixer.dt_proj.weight", 2, E, R, 0);
        P("mixer.dt_proj.bias", 1, E, 0, 0);
        P("mixer.A_log", 2, E, N, 0);
        P("mixer.D", 1, E, 0, 0);
        P("mixer.out_proj.weight", 2, D, E, 0);
#undef P
    }
    add(t, &k, "norm_f.weight", 1, D, 0, 0);
    *out = t;
    *n = k;
    return 0;
}

bool spec_list_matches(const strlist_t *pats, const char *name) {
    for (int i = 0; i < pats->n; i++)
        if (fnmatch(pats->items[i], name, 0) == 0) return true;
    return false;
}

int spec_param_list(const spec_t *s, spec_param_t **out, int *n) {
    if (spec_param_table(&s->model, out, n) != 0) return -1;
    const spec_optimizer_t *o = &s->optimizer;
    for (int i = 0; i < *n; i++) {
        spec_param_t *p = &(*out)[i];
        /* spec_load guarantees exactly one group claims each name */
        if (spec_list_matches(&o->muon.params, p->name)) {
            p->group = GROUP_MUON;
            p->decay = o->muon.weight_decay > 0;
        } else {
            p->group = GROUP_ADAMW;
            p->decay = o->adamw.weight_decay > 0 &&
                       !spec_list_matches(&o->adamw.no_decay, p->name);
        }
    }
    return 0;
}
