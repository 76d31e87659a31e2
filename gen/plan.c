/* plan.c: parameter layout and activation arena (see plan.h). */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *param_kind(const char *name, int *layer) {
    *layer = -1;
    if (strncmp(name, "layers.", 7) == 0) {
        *layer = atoi(name + 7);
        const char *dot = strchr(name + 7, '.');
        const char *k = dot ? dot + 1 : name;
        if (strncmp(k, "mixer.", 6) == 0) k += 6;
        return k;
    }
    return name;
}

static void make_cname(plan_param_t *pp) {
    char stem[40];
    size_t o = 0;
    for (const char *c = pp->kind; *c && o + 1 < sizeof stem; c++) {
        if (*c == '.') stem[o++] = '_';
        else stem[o++] = (char)((*c >= 'a' && *c <= 'z') ? *c - 32 : *c);
    }
    stem[o] = 0;
    /* WEIGHT/BIAS shortened: the emitted code reads better with _W/_B */
    char *w = strstr(stem, "_WEIGHT");
    if (w) strcpy(w, "_W");
    char *b = strstr(stem, "_BIAS");
    if (b) strcpy(b, "_B");
    if (pp->layer >= 0) snprintf(pp->cname, sizeof pp->cname, "L%d_%s", pp->layer, stem);
    else snprintf(pp->cname, sizeof pp->cname, "%s", stem);
}

/* Layout rank: Muon by shape class, then AdamW decay, then AdamW no-decay. */
static int layout_class(const plan_param_t *pp) {
    if (pp->p.group == GROUP_MUON) return 0;
    return pp->p.decay ? 1 : 2;
}

static int cmp_layout(const void *a, const void *b) {
    const plan_param_t *x = (const plan_param_t *)a, *y = (const plan_param_t *)b;
    int cx = layout_class(x), cy = layout_class(y);
    if (cx != cy) return cx - cy;
    if (cx == 0) {
        /* same-shape Muon matrices adjacent: kind first, then layer */
        int k = strcmp(x->kind, y->kind);
        if (k != 0) return k;
    }
    return x->table_index - y->table_index;
}

static void add_buf(plan_t *p, const char *name, const char *shape, int64_t per_layer, int64_t numel) {
    plan_buf_t *b = &p->bufs[p->n_bufs++];
    snprintf(b->name, sizeof b->name, "%s", name);
    snprintf(b->shape, sizeof b->shape, "%s", shape);
    b->per_layer = per_layer;
    b->numel = numel;
    b->offset = p->act_total;
    /* keep every buffer 16-float (64-byte) aligned for vector loads */
    p->act_total += (numel + 15) / 16 * 16;
}

int plan_build(const spec_t *s, plan_t *p) {
    memset(p, 0, sizeof *p);
    p->s = s;
    spec_param_t *tab;
    int n;
    if (spec_param_list(s, &tab, &n) != 0) return -1;
    p->n = n;
    p->params = calloc((size_t)n, sizeof *p->params);
    p->by_table = calloc((size_t)n, sizeof *p->by_table);
    for (int i = 0; i < n; i++) {
        plan_param_t *pp = &p->params[i];
        pp->p = tab[i];
        pp->table_index = i;
        pp->kind = param_kind(tab[i].name, &pp->layer);
        /* kind points into pp->p.name (stable storage inside the struct) */
        pp->kind = pp->p.name + (pp->kind - tab[i].name);
        /* MFU counts the matmul weights (anchors-measured.md): embedding/head and the four projections */
        if (pp->p.ndim == 2 && strcmp(pp->kind, "A_log") != 0) p->n_2d += pp->p.numel;
    }
    free(tab);
    qsort(p->params, (size_t)n, sizeof *p->params, cmp_layout);
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        plan_param_t *pp = &p->params[i];
        /* qsort moved the struct: re-point kind into this copy's name */
        int layer;
        pp->kind = param_kind(pp->p.name, &layer);
        make_cname(pp);
        p->by_table[pp->table_index] = i;
        pp->offset = off;
        off += pp->p.numel;
        plan_range_t *r = layout_class(pp) == 0 ? &p->muon : layout_class(pp) == 1 ? &p->adamw_decay : &p->adamw_nodecay;
        if (r->numel == 0) r->offset = pp->offset;
        r->numel += pp->p.numel;
        if (pp->p.group == GROUP_MUON) {
            int k;
            for (k = 0; k < p->n_muon_shapes; k++)
                if (p->muon_shapes[k].rows == pp->p.shape[0] && p->muon_shapes[k].cols == pp->p.shape[1]) break;
            if (k == p->n_muon_shapes && k < 16) {
                p->muon_shapes[k].rows = pp->p.shape[0];
                p->muon_shapes[k].cols = pp->p.shape[1];
                p->n_muon_shapes++;
            }
            if (k < 16) p->muon_shapes[k].count++;
        }
    }
    p->total = off;

    /* Activation arena. Per layer we keep what the backward reads; the conv
     * pre-activation and the scan states are recomputed there instead. */
    const spec_model_t *m = &s->model;
    int64_t BT = (int64_t)s->train.micro_batch * s->train.seq_len;
    int64_t D = m->d_model, E = m->d_inner, R = m->dt_rank, N = m->d_state, L = m->n_layer;
    char shp[64];
    snprintf(shp, sizeof shp, "(n_layer+1, B*T, d_model)");
    add_buf(p, "ACT_RESID", shp, BT * D, (L + 1) * BT * D);
    add_buf(p, "ACT_NORMED", "(n_layer, B*T, d_model)", BT * D, L * BT * D);
    add_buf(p, "ACT_RSTD", "(n_layer, B*T)", BT, L * BT);
    add_buf(p, "ACT_XZ", "(n_layer, B*T, 2*d_inner)", BT * 2 * E, L * BT * 2 * E);
    add_buf(p, "ACT_XC", "(n_layer, B*T, d_inner)", BT * E, L * BT * E);
    add_buf(p, "ACT_XDBL", "(n_layer, B*T, dt_rank+2*d_state)", BT * (R + 2 * N), L * BT * (R + 2 * N));
    add_buf(p, "ACT_DTRAW", "(n_layer, B*T, d_inner)", BT * E, L * BT * E);
    add_buf(p, "ACT_DELTA", "(n_layer, B*T, d_inner)", BT * E, L * BT * E);
    add_buf(p, "ACT_Y", "(n_layer, B*T, d_inner)", BT * E, L * BT * E);
    add_buf(p, "ACT_NORMF", "(B*T, d_model)", 0, BT * D);
    add_buf(p, "ACT_RSTDF", "(B*T)", 0, BT);
    add_buf(p, "GRAD_RESID", "(B*T, d_model)", 0, BT * D);
    add_buf(p, "GRAD_NORMED", "(B*T, d_model)", 0, BT * D);
    add_buf(p, "GRAD_XZ", "(B*T, 2*d_inner)", 0, BT * 2 * E);
    add_buf(p, "GRAD_XC", "(B*T, d_inner)", 0, BT * E);
    add_buf(p, "GRAD_XDBL", "(B*T, dt_rank+2*d_state)", 0, BT * (R + 2 * N));
    add_buf(p, "GRAD_DELTA", "(B*T, d_inner)", 0, BT * E);
    add_buf(p, "GRAD_DTRAW", "(B*T, d_inner)", 0, BT * E);
    add_buf(p, "GRAD_Y", "(B*T, d_inner)", 0, BT * E);
    return 0;
}

void plan_free(plan_t *p) {
    free(p->params);
    free(p->by_table);
    memset(p, 0, sizeof *p);
}

const plan_param_t *plan_param(const plan_t *p, int layer, const char *kind) {
    for (int i = 0; i < p->n; i++)
        if (p->params[i].layer == layer && strcmp(p->params[i].kind, kind) == 0) return &p->params[i];
    fprintf(stderr, "gen: internal error: no parameter %s in layer %d\n", kind, layer);
    exit(1);
}

const plan_buf_t *plan_buf(const plan_t *p, const char *name) {
    for (int i = 0; i < p->n_bufs; i++)
        if (strcmp(p->bufs[i].name, name) == 0) return &p->bufs[i];
    fprintf(stderr, "gen: internal error: no buffer %s\n", name);
    exit(1);
}

static void shape_str(const spec_param_t *q, char *out, size_t n) {
    if (q->ndim == 1) snprintf(out, n, "(%lld)", (long long)q->shape[0]);
    else if (q->ndim == 2) snprintf(out, n, "(%lld, %lld)", (long long)q->shape[0], (long long)q->shape[1]);
    else snprintf(out, n, "(%lld, %lld, %lld)", (long long)q->shape[0], (long long)q->shape[1], (long long)q->shape[2]);
}

void plan_print(const plan_t *p, FILE *out) {
    const spec_t *s = p->s;
    fprintf(out, "variant %s (spec %s, sha256 %.16s)\n", s->name, s->path, s->hash);
    fprintf(out, "model: d_model %d, n_layer %d, vocab %d (padded %d), d_state %d, d_conv %d, expand %d, d_inner %d, dt_rank %d\n",
            s->model.d_model, s->model.n_layer, s->model.vocab_size, s->model.vocab_padded, s->model.d_state,
            s->model.d_conv, s->model.expand, s->model.d_inner, s->model.dt_rank);
    fprintf(out, "\n%-40s %-20s %14s  %-6s %s\n", "parameter", "shape", "count", "group", "decay");
    for (int t = 0; t < p->n; t++) {
        const plan_param_t *pp = &p->params[p->by_table[t]];
        char shp[64];
        shape_str(&pp->p, shp, sizeof shp);
        fprintf(out, "%-40s %-20s %14s  %-6s %s\n", pp->p.name, shp, fmt_count(pp->p.numel),
                pp->p.group == GROUP_MUON ? "muon" : "adamw", pp->p.decay ? "yes" : "no");
    }
    fprintf(out, "\n%-40s %35s\n", "total parameters", fmt_count(p->total));
    fprintf(out, "%-40s %35s\n", "  muon (2-D hidden matrices)", fmt_count(p->muon.numel));
    fprintf(out, "%-40s %35s\n", "  adamw with weight decay", fmt_count(p->adamw_decay.numel));
    fprintf(out, "%-40s %35s\n", "  adamw without weight decay", fmt_count(p->adamw_nodecay.numel));
    fprintf(out, "%-40s %35s\n", "  in 2-D tensors (MFU counts these)", fmt_count(p->n_2d));
    fprintf(out, "muon shape classes:");
    for (int k = 0; k < p->n_muon_shapes; k++)
        fprintf(out, " %d x (%lld, %lld)", p->muon_shapes[k].count, (long long)p->muon_shapes[k].rows,
                (long long)p->muon_shapes[k].cols);
    fprintf(out, "\ntokens per step: %s (seq_len %d x micro_batch %d x grad_accum %d); max_steps %s\n",
            fmt_count(s->train.tokens_per_step), s->train.seq_len, s->train.micro_batch, s->train.grad_accum,
            fmt_count(s->train.max_steps));
}
