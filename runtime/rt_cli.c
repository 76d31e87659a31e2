/* rt_cli.c: command-line overrides of the spec's non-shape settings.
 *
 * GNU-style long options only ("--key value" or "--key=value"). Shapes are
 * compiled into the variant, so their flags are refused with a message that
 * says how to change them (edit the spec, re-run gen). */
#include "rt.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    OPT_I64_POS,    /* integer >= 1 */
    OPT_I64_NONNEG, /* integer >= 0 */
    OPT_INT_POS,
    OPT_INT_NONNEG,
    OPT_U64,        /* seed */
    OPT_F64_NONNEG, /* finite number >= 0 */
    OPT_F64_POS,    /* finite number > 0 */
    OPT_FRACTION,   /* number in [0, 1) */
    OPT_STR,        /* non-empty string */
    OPT_STR_EMPTY,  /* string, "" allowed (means none) */
    OPT_FORMAT,     /* auto | txt | jsonl | parquet */
    OPT_DATA,       /* repeatable path */
    OPT_EPOCHS,
    OPT_LR_SCALE,
    OPT_FLAG,       /* no value */
    OPT_HELP,
} opt_kind_t;

typedef struct {
    const char *flag;   /* without the leading "--" */
    opt_kind_t kind;
    size_t off;         /* offset of the field in rt_settings_t */
    const char *meta;   /* value placeholder for usage */
    const char *help;
} opt_t;

#define F(field) offsetof(rt_settings_t, field)
static const opt_t OPTS[] = {
    {"max-steps", OPT_I64_POS, F(max_steps), "N", "optimizer steps (turns off train-by-epochs)"},
    {"epochs", OPT_EPOCHS, F(num_epochs), "X", "train for X epochs of total-train-tokens"},
    {"total-train-tokens", OPT_I64_POS, F(total_train_tokens), "N", "tokens in one epoch"},
    {"warmup-steps", OPT_I64_NONNEG, F(warmup_steps), "N", "linear lr warm-up steps"},
    {"muon-lr", OPT_F64_NONNEG, F(muon_lr), "LR", "Muon learning rate"},
    {"adamw-lr", OPT_F64_NONNEG, F(adamw_lr), "LR", "AdamW learning rate"},
    {"lr-scale", OPT_LR_SCALE, 0, "X", "multiplies both learning rates"},
    {"muon-weight-decay", OPT_F64_NONNEG, F(muon_weight_decay), "WD", "Muon weight decay"},
    {"adamw-weight-decay", OPT_F64_NONNEG, F(adamw_weight_decay), "WD", "AdamW weight decay"},
    {"grad-clip", OPT_F64_NONNEG, F(grad_clip), "X", "global gradient-norm clip (0: off)"},
    {"seed", OPT_U64, F(seed), "N", "random seed"},
    {"eval-every", OPT_I64_NONNEG, F(eval_every), "N", "steps between evaluations (0: off)"},
    {"eval-tokens", OPT_I64_NONNEG, F(eval_tokens), "N", "validation tokens per evaluation"},
    {"checkpoint-every", OPT_I64_NONNEG, F(checkpoint_every), "N",
     "steps between checkpoints (0: off)"},
    {"log-every", OPT_INT_POS, F(log_every), "N", "steps between metrics lines"},
    {"data", OPT_DATA, 0, "PATH", "local data file or glob (repeatable; replaces the spec's)"},
    {"data-format", OPT_FORMAT, F(data_format), "FMT", "auto | txt | jsonl | parquet"},
    {"text-column", OPT_STR, F(text_column), "NAME", "jsonl/parquet field holding the text"},
    {"validation-fraction", OPT_FRACTION, F(validation_fraction), "X",
     "fraction of documents held out, in [0, 1)"},
    {"tokenizer", OPT_STR, F(tokenizer), "NAME", "tokenizer (bytes)"},
    {"checkpoint-dir", OPT_STR, F(checkpoint_dir), "DIR", "checkpoint directory"},
    {"log-dir", OPT_STR, F(log_dir), "DIR", "metrics.jsonl directory"},
    {"init-from", OPT_STR_EMPTY, F(init_from), "DIR", "start from this checkpoint"},
    {"sample-tokens", OPT_INT_NONNEG, F(sample_tokens), "N", "tokens sampled after training"},
    {"threads", OPT_INT_NONNEG, F(threads), "N", "CPU threads (0: OpenMP default)"},
    {"quiet", OPT_FLAG, F(quiet), NULL, "no progress line"},
    {"dry-run", OPT_FLAG, F(dry_run), NULL, "print the resolved settings (steps, lrs, data) and exit"},
    {"resume", OPT_FLAG, F(resume), NULL, "continue from CHECKPOINT_DIR/last (weights, optimizer, data position)"},
    {"help", OPT_HELP, 0, NULL, "print this help and exit"},
};
#undef F
#define N_OPTS ((int)(sizeof(OPTS) / sizeof(OPTS[0])))

/* Shapes: refused, with the compiled value when the program filled it in. */
typedef struct {
    const char *flag, *key;
    size_t off;
} shape_t;
#define S(field) offsetof(rt_settings_t, field)
static const shape_t SHAPES[] = {
    {"seq-len", "seq_len", S(seq_len)},          {"micro-batch", "micro_batch", S(micro_batch)},
    {"grad-accum", "grad_accum", S(grad_accum)}, {"d-model", "d_model", S(d_model)},
    {"n-layer", "n_layer", S(n_layer)},          {"vocab-size", "vocab_size", S(vocab_size)},
    {"d-state", "d_state", S(d_state)},          {"d-conv", "d_conv", S(d_conv)},
    {"expand", "expand", S(expand)},             {"dt-rank", "dt_rank", S(dt_rank)},
};
#undef S
#define N_SHAPES ((int)(sizeof(SHAPES) / sizeof(SHAPES[0])))

static int parse_i64(const char *v, int64_t *out) {
    if (!*v || !(*v == '-' || *v == '+' || (*v >= '0' && *v <= '9'))) return -1;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end) return -1;
    *out = x;
    return 0;
}

static int parse_f64(const char *v, double *out) {
    if (!*v || *v == ' ' || *v == '\t') return -1;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || !isfinite(x)) return -1;
    *out = x;
    return 0;
}

int64_t rt_steps_for_epochs(double num_epochs, int64_t total_train_tokens, int64_t tokens_per_step) {
    if (!(num_epochs > 0) || total_train_tokens <= 0 || tokens_per_step <= 0) return 1;
    int64_t steps;
    if (num_epochs == floor(num_epochs) && num_epochs < 1e6) {
        /* Whole epochs: exact integer arithmetic, no rounding surprises. */
        __int128 tok = (__int128)(int64_t)num_epochs * total_train_tokens;
        __int128 s = (tok + tokens_per_step - 1) / tokens_per_step;
        steps = s > INT64_MAX ? INT64_MAX : (int64_t)s;
    } else {
        long double x = (long double)num_epochs * total_train_tokens / tokens_per_step;
        /* A fractional epoch count like 0.1 is inexact in binary; don't let
         * 10.000000000001 become 11 steps. */
        long double c = ceill(x - x * 1e-12L);
        steps = c > (long double)INT64_MAX ? INT64_MAX : (int64_t)c;
    }
    return steps < 1 ? 1 : steps;
}

static int bad(const char *flag, const char *expect, const char *v) {
    return rt_err("--%s: expected %s, got '%s'", flag, expect, v);
}

/* Applies one option with its value (NULL for flags). */
static int apply(rt_settings_t *s, const opt_t *o, const char *v, double *lr_scale,
                 int *data_seen) {
    char *base = (char *)s;
    int64_t i;
    double d;
    switch (o->kind) {
    case OPT_I64_POS:
        if (parse_i64(v, &i) || i < 1) return bad(o->flag, "a positive integer", v);
        *(int64_t *)(base + o->off) = i;
        return 0;
    case OPT_I64_NONNEG:
        if (parse_i64(v, &i) || i < 0) return bad(o->flag, "a non-negative integer", v);
        *(int64_t *)(base + o->off) = i;
        return 0;
    case OPT_INT_POS:
        if (parse_i64(v, &i) || i < 1 || i > 2147483647)
            return bad(o->flag, "a positive integer", v);
        *(int *)(base + o->off) = (int)i;
        return 0;
    case OPT_INT_NONNEG:
        if (parse_i64(v, &i) || i < 0 || i > 2147483647)
            return bad(o->flag, "a non-negative integer", v);
        *(int *)(base + o->off) = (int)i;
        return 0;
    case OPT_U64: {
        char *end;
        errno = 0;
        if (!(*v >= '0' && *v <= '9')) return bad(o->flag, "a non-negative integer", v);
        unsigned long long u = strtoull(v, &end, 10);
        if (errno || *end) return bad(o->flag, "a non-negative integer", v);
        *(uint64_t *)(base + o->off) = u;
        return 0;
    }
    case OPT_F64_NONNEG:
        if (parse_f64(v, &d) || d < 0) return bad(o->flag, "a number >= 0", v);
        *(double *)(base + o->off) = d;
        return 0;
    case OPT_F64_POS:
        if (parse_f64(v, &d) || d <= 0) return bad(o->flag, "a number > 0", v);
        *(double *)(base + o->off) = d;
        return 0;
    case OPT_FRACTION:
        if (parse_f64(v, &d) || d < 0 || d >= 1) return bad(o->flag, "a number in [0, 1)", v);
        *(double *)(base + o->off) = d;
        return 0;
    case OPT_LR_SCALE:
        if (parse_f64(v, &d) || d <= 0) return bad(o->flag, "a number > 0", v);
        *lr_scale *= d;
        return 0;
    case OPT_EPOCHS:
        if (parse_f64(v, &d) || d <= 0) return bad(o->flag, "a number of epochs > 0", v);
        s->num_epochs = d;
        s->train_by_epochs = 1;
        return 0;
    case OPT_STR:
        if (!*v) return bad(o->flag, "a non-empty value", v);
        *(const char **)(base + o->off) = v;
        return 0;
    case OPT_STR_EMPTY:
        *(const char **)(base + o->off) = v;
        return 0;
    case OPT_FORMAT:
        if (strcmp(v, "auto") && strcmp(v, "txt") && strcmp(v, "jsonl") && strcmp(v, "parquet"))
            return bad(o->flag, "one of auto, txt, jsonl, parquet", v);
        *(const char **)(base + o->off) = v;
        return 0;
    case OPT_DATA:
        if (!*v) return bad(o->flag, "a path", v);
        if (!*data_seen) {
            /* The first --data replaces the spec's source entirely. */
            s->n_data_paths = 0;
            s->data_source = "local";
            *data_seen = 1;
        }
        if (s->n_data_paths >= RT_MAX_PATHS)
            return rt_err("--data: at most %d paths (use a glob pattern for more files)",
                          RT_MAX_PATHS);
        s->data_paths[s->n_data_paths++] = v;
        return 0;
    case OPT_FLAG:
        *(int *)(base + o->off) = 1;
        return 0;
    case OPT_HELP:
        return 0;
    }
    return rt_err("--%s: internal error: unknown option kind", o->flag);
}

int rt_cli_parse(rt_settings_t *s, int argc, char **argv) {
    const char *prog = argc > 0 && argv[0] ? argv[0] : "train";
    double lr_scale = 1.0;
    int data_seen = 0, saw_max_steps = 0, saw_epochs = 0;
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
            return rt_err("unexpected argument '%s': every setting is a --flag (see --help)", arg);
        const char *key = arg + 2, *eq = strchr(key, '=');
        size_t klen = eq ? (size_t)(eq - key) : strlen(key);
        for (int k = 0; k < N_SHAPES; k++) {
            if (strlen(SHAPES[k].flag) == klen && !strncmp(SHAPES[k].flag, key, klen)) {
                int val = *(const int *)((const char *)s + SHAPES[k].off);
                const char *name = s->name ? s->name : "?";
                if (val > 0)
                    return rt_err("--%s: %s is a compiled shape of variant '%s' (%d); edit the "
                                  "spec and re-run gen", SHAPES[k].flag, SHAPES[k].key, name, val);
                return rt_err("--%s: %s is a compiled shape of variant '%s'; edit the spec and "
                              "re-run gen", SHAPES[k].flag, SHAPES[k].key, name);
            }
        }
        const opt_t *o = NULL;
        for (int k = 0; k < N_OPTS; k++)
            if (strlen(OPTS[k].flag) == klen && !strncmp(OPTS[k].flag, key, klen)) o = &OPTS[k];
        if (!o) return rt_err("unknown flag '--%.*s' (see --help)", (int)klen, key);
        const char *v = NULL;
        if (o->kind == OPT_FLAG || o->kind == OPT_HELP) {
            if (eq) return rt_err("--%s takes no value, got '%s'", o->flag, eq + 1);
        } else if (eq) {
            v = eq + 1;
        } else {
            if (a + 1 >= argc) return rt_err("--%s: missing value (%s)", o->flag, o->meta);
            v = argv[++a];
        }
        if (o->kind == OPT_HELP) {
            rt_cli_usage(s, prog, stdout);
            exit(0);
        }
        if (apply(s, o, v, &lr_scale, &data_seen) != 0) return -1;
        if (!strcmp(o->flag, "max-steps")) saw_max_steps = 1;
        if (o->kind == OPT_EPOCHS) saw_epochs = 1;
    }
    if (saw_max_steps && saw_epochs)
        return rt_err("--max-steps and --epochs both given: pick one (steps, or epochs of "
                      "total-train-tokens)");
    if (saw_max_steps) s->train_by_epochs = 0;  /* an explicit step count wins over the spec */
    s->muon_lr *= lr_scale;
    s->adamw_lr *= lr_scale;

    if (s->train_by_epochs) {
        int64_t tps = (int64_t)s->seq_len * s->micro_batch * s->grad_accum;
        if (tps <= 0)
            return rt_err("cannot derive max_steps from epochs: tokens per step is %lld "
                          "(seq_len %d x micro_batch %d x grad_accum %d)",
                          (long long)tps, s->seq_len, s->micro_batch, s->grad_accum);
        if (s->total_train_tokens <= 0)
            return rt_err("training by epochs needs train.total_train_tokens > 0 (or "
                          "--total-train-tokens N)");
        if (!(s->num_epochs > 0))
            return rt_err("training by epochs needs train.num_epochs > 0 (or --epochs X)");
        s->max_steps = rt_steps_for_epochs(s->num_epochs, s->total_train_tokens, tps);
    }
    if (s->max_steps < 1)
        return rt_err("max_steps is %lld: it must be at least 1 (--max-steps N)",
                      (long long)s->max_steps);
    if (s->warmup_steps < 0 || s->warmup_steps >= s->max_steps)
        return rt_err("warmup_steps (%lld) must be smaller than max_steps (%lld): lower "
                      "--warmup-steps or raise --max-steps", (long long)s->warmup_steps,
                      (long long)s->max_steps);
    return 0;
}

static const char *str_or(const char *v, const char *dflt) { return v && *v ? v : dflt; }

/* The current value of one option, as text, for the usage listing. */
static void opt_value(const rt_settings_t *s, const opt_t *o, char *buf, size_t n) {
    const char *base = (const char *)s;
    switch (o->kind) {
    case OPT_I64_POS:
    case OPT_I64_NONNEG:
        snprintf(buf, n, "%lld", (long long)*(const int64_t *)(base + o->off));
        break;
    case OPT_INT_POS:
    case OPT_INT_NONNEG:
        snprintf(buf, n, "%d", *(const int *)(base + o->off));
        break;
    case OPT_U64:
        snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)(base + o->off));
        break;
    case OPT_F64_NONNEG:
    case OPT_F64_POS:
    case OPT_FRACTION:
        snprintf(buf, n, "%g", *(const double *)(base + o->off));
        break;
    case OPT_EPOCHS:
        if (s->train_by_epochs) snprintf(buf, n, "%g", s->num_epochs);
        else snprintf(buf, n, "off, training by steps");
        break;
    case OPT_LR_SCALE:
        snprintf(buf, n, "1");
        break;
    case OPT_STR:
    case OPT_FORMAT:
        snprintf(buf, n, "%s", str_or(*(const char *const *)(base + o->off), "(unset)"));
        break;
    case OPT_STR_EMPTY:
        snprintf(buf, n, "%s", str_or(*(const char *const *)(base + o->off), "(none)"));
        break;
    case OPT_DATA: {
        size_t used = (size_t)snprintf(buf, n, "%s:", str_or(s->data_source, "local"));
        if (s->n_data_paths == 0 && s->dataset && used < n)
            used += (size_t)snprintf(buf + used, n - used, " %s", s->dataset);
        if (s->n_data_paths == 0 && s->data_url && used < n)
            used += (size_t)snprintf(buf + used, n - used, " %s", s->data_url);
        for (int i = 0; i < s->n_data_paths && used < n; i++)
            used += (size_t)snprintf(buf + used, n - used, " %s", s->data_paths[i]);
        break;
    }
    case OPT_FLAG:
        snprintf(buf, n, "%s", *(const int *)(base + o->off) ? "on" : "off");
        break;
    case OPT_HELP:
        buf[0] = '\0';
        break;
    }
}

void rt_cli_usage(const rt_settings_t *s, const char *prog, FILE *out) {
    fprintf(out, "usage: %s [--flag VALUE | --flag=VALUE]...\n", prog ? prog : "train");
    fprintf(out, "Trains variant '%s' (backend %s, spec sha256 %s).\n", str_or(s->name, "?"),
            str_or(s->backend, "?"), str_or(s->spec_hash, "?"));
    fprintf(out, "\nflags (current value in brackets):\n");
    for (int k = 0; k < N_OPTS; k++) {
        const opt_t *o = &OPTS[k];
        char left[64], val[1024];
        snprintf(left, sizeof left, "--%s%s%s", o->flag, o->meta ? " " : "", o->meta ? o->meta : "");
        opt_value(s, o, val, sizeof val);
        if (val[0]) fprintf(out, "  %-28s %s [%s]\n", left, o->help, val);
        else fprintf(out, "  %-28s %s\n", left, o->help);
    }
    fprintf(out, "\ncompiled shapes (change them in the spec and re-run gen):\n ");
    for (int k = 0; k < N_SHAPES; k++) {
        int v = *(const int *)((const char *)s + SHAPES[k].off);
        if (v > 0) fprintf(out, " %s=%d", SHAPES[k].key, v);
        else fprintf(out, " %s=?", SHAPES[k].key);
    }
    fprintf(out, "\n");
}
