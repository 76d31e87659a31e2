/* emit.h: writing a variant folder build/<name>/ from a plan.
 *
 *   model.h       constants (shapes, offsets) and the model API
 *   model.c       templates/cpu/model.c with the generated sections filled
 *   program.c     templates/program.c with the spec's settings filled
 *   manifest.json every op call of a training step: shapes, FLOPs, bytes
 *   spec.lock.yaml the resolved spec and its hash
 *   Makefile.inc  how to build this variant against the runtime
 *
 * Everything is written into a temporary sibling folder first and renamed
 * into place at the end, so a failure never leaves half a variant. */
#ifndef GEN_EMIT_H
#define GEN_EMIT_H

#include "plan.h"
#include "util.h"

#define GEN_VERSION "0.1.0"

typedef struct {
    char phase[12];      /* forward | backward | optimizer */
    int layer;           /* -1: model level */
    char op[32];
    char shapes[200];
    double flops, bytes;
} emit_op_t;

typedef struct {
    const plan_t *plan;
    const char *home;    /* folder holding templates/ */
    const char *home_for_make; /* GEN_HOME written into Makefile.inc */
    const char *file;    /* the host program being emitted (its banner names it) */
    emit_op_t *ops;
    int n_ops, cap_ops;
} emitter_t;

void emit_record(emitter_t *e, const char *phase, int layer, const char *op, double flops, double bytes,
                 const char *shapes_fmt, ...) __attribute__((format(printf, 7, 8)));

/* Fills the template at `template_path`: every line that is exactly a marker
 * "slash-star-at NAME at-star-slash" (leading spaces allowed) is replaced
 * by the text `fill(NAME)` returns. Unknown markers are an error. */
typedef int (*emit_fill_fn)(emitter_t *e, const char *name, sb_t *out);
int emit_template(emitter_t *e, const char *template_path, emit_fill_fn fill, sb_t *out);

/* Banner at the top of every emitted file (no dates: output is reproducible). */
void emit_banner(const plan_t *p, const char *file, const char *comment_prefix, sb_t *out);

/* Shapes of the variant, short names as in the Mamba paper. */
typedef struct {
    int B, T, D, E, R, N, K, V, Vp, L;
    long long BT;
} dims_t;
dims_t dims_of(const spec_t *s);
/* Shortest decimal that round-trips a double, for literal constants. */
void fmt_double(double v, char *out, size_t n);

/* Shared by the backends: the parameter table rows and mamba_ssm's init,
 * written against a P(tensor) macro that points into host memory. */
int emit_fill_param_table(emitter_t *e, sb_t *o);
int emit_fill_init(emitter_t *e, sb_t *o);
void emit_model_h_common(emitter_t *e, sb_t *o);

int emit_cpu_model(emitter_t *e, sb_t *model_h, sb_t *model_c);
int emit_cuda_model(emitter_t *e, sb_t *model_h, sb_t *model_cu);
/* templates/<file> (program.c, generate.c, bench.c) with the spec's settings filled in. */
int emit_host_program(emitter_t *e, const char *file, sb_t *out);
void emit_manifest(emitter_t *e, sb_t *out);
void emit_makefile(emitter_t *e, sb_t *out);

/* Writes the whole variant into out_root/<name>/. */
int emit_variant(const plan_t *p, const char *home, const char *out_root);

#endif
