/* plan.h: what gen decides from a spec before emitting code.
 *
 * Spec --plan_build--> plan_t:
 *   - the parameter table in layout order: Muon matrices first, grouped by
 *     shape (so one batched Newton-Schulz call can take all matrices of a
 *     shape), then AdamW parameters with weight decay, then AdamW without;
 *     each optimizer group is one contiguous range of the parameter buffer
 *     (what a data-parallel reduce-in-buckets will want later);
 *   - the activation arena: every buffer the step needs, with its offset;
 *   - the op list (built by the emitter while it writes code, see emit.h). */
#ifndef GEN_PLAN_H
#define GEN_PLAN_H

#include <stdint.h>

#include "spec.h"

typedef struct {
    spec_param_t p;        /* name, shape, numel, group, decay */
    int table_index;       /* position in state-dict (checkpoint) order */
    int layer;             /* -1 for embedding and norm_f */
    const char *kind;      /* "in_proj.weight", ..., "embedding.weight", "norm_f.weight" */
    char cname[64];        /* C macro stem used in emitted code, e.g. L3_IN_PROJ_W */
    int64_t offset;        /* in floats, into the parameter buffer */
} plan_param_t;

typedef struct {
    int64_t offset, numel;
} plan_range_t;

typedef struct {
    int64_t rows, cols;
    int count;
} plan_shape_t;

#define PLAN_MAX_BUFS 64
typedef struct {
    char name[40];         /* C macro stem, e.g. ACT_XZ */
    char shape[64];        /* human shape, e.g. "(n_layer, B*T, 2*d_inner)" */
    int64_t per_layer;     /* floats per layer (0 if not per layer) */
    int64_t numel;         /* total floats */
    int64_t offset;        /* in floats, into the activation arena */
} plan_buf_t;

typedef struct {
    const spec_t *s;
    int n;                       /* parameter tensors */
    plan_param_t *params;        /* layout order */
    int *by_table;               /* table index -> layout index */
    int64_t total;               /* parameters (floats) */
    int64_t n_2d;                /* parameters in 2-D tensors (for MFU) */
    plan_range_t muon, adamw_decay, adamw_nodecay;
    int n_muon_shapes;
    plan_shape_t muon_shapes[16];
    int n_bufs;
    plan_buf_t bufs[PLAN_MAX_BUFS];
    int64_t act_total;           /* floats in the activation arena */
} plan_t;

int plan_build(const spec_t *s, plan_t *p);
void plan_free(plan_t *p);
const plan_param_t *plan_param(const plan_t *p, int layer, const char *kind);
const plan_buf_t *plan_buf(const plan_t *p, const char *name);
/* Prints the parameter table (gen --print-plan). */
void plan_print(const plan_t *p, FILE *out);

#endif
