/* spec.c: reads a spec YAML, checks every key, fills defaults and derives
 * what follows from them (README.md, "The spec format", lists the keys).
 *
 * The file is loaded whole with libyaml's document API, so every node keeps
 * its line and column; then each section is read with the getters of
 * spec_yaml.h, and the checks that span fields (epochs vs steps, source vs
 * paths, optimizer coverage of every parameter) run on what was valid. */
#include <fnmatch.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec_priv.h"
#include "spec_yaml.h"

/* ---- the schema: known keys of every mapping ------------------------------- */

static const char *const K_ROOT[] = {"name", "backend", "model", "optimizer", "schedule",
                                     "train", "data", "tokenizer", "checkpoint", "logging", NULL};
static const char *const K_MODEL[] = {"d_model", "n_layer", "vocab_size", "d_state", "d_conv",
                                      "expand", "dt_rank", "norm_eps", "tie_embeddings", "init", NULL};
static const char *const K_INIT[] = {"dt_min", "dt_max", "dt_init_floor", "embed_std",
                                     "rescale_prenorm_residual", NULL};
static const char *const K_OPT[] = {"grad_clip", "muon", "adamw", NULL};
static const char *const K_MUON[] = {"params", "lr", "momentum", "nesterov", "ns_steps",
                                     "ns_coefficients", "weight_decay", "lr_adjust", NULL};
static const char *const K_ADAMW[] = {"params", "lr", "betas", "eps", "weight_decay", "no_decay", NULL};
static const char *const K_SCHED[] = {"warmup_steps", "decay", "min_lr_ratio", NULL};
static const char *const K_TRAIN[] = {"phase", "seq_len", "micro_batch", "grad_accum",
                                      "train_by_epochs", "num_epochs", "total_train_tokens",
                                      "max_steps", "eval_every", "eval_tokens", "checkpoint_every",
                                      "seed", "reset_state_at_doc_boundaries", "init_from", NULL};
static const char *const K_DATA[] = {"source", "paths", "url", "format", "dataset", "config",
                                     "split", "text_column", "prompt_template", "validation", NULL};
static const char *const K_VALID[] = {"fraction", NULL};
static const char *const K_CKPT[] = {"dir", "keep_last", NULL};
static const char *const K_LOG[] = {"dir", "every", NULL};

static const sy_schema_t SCHEMA[] = {
    {"", K_ROOT}, {"model", K_MODEL}, {"model.init", K_INIT}, {"optimizer", K_OPT},
    {"optimizer.muon", K_MUON}, {"optimizer.adamw", K_ADAMW}, {"schedule", K_SCHED},
    {"train", K_TRAIN}, {"data", K_DATA}, {"data.validation", K_VALID},
    {"checkpoint", K_CKPT}, {"logging", K_LOG},
};

static const char *const DEF_MUON[] = {"*.in_proj.weight", "*.x_proj.weight", "*.out_proj.weight", NULL};
static const char *const DEF_ADAMW[] = {"embedding.weight", "*.norm.weight", "norm_f.weight",
                                        "*.conv1d.*", "*.dt_proj.*", "*.A_log", "*.D", NULL};
static const char *const DEF_NO_DECAY[] = {"*.A_log", "*.D", "*norm*", "*.bias", NULL};

/* ---- sections ----------------------------------------------------------------- */

/* What the cross-field checks need to know: which values are trustworthy. */
typedef struct {
    bool model;          /* every model field valid: the parameter table can be built */
    bool vocab;
    bool lists;          /* the three optimizer pattern lists are valid */
    bool max_steps;      /* train.max_steps holds a usable value (given or derived) */
    bool name;
} valid_t;

static bool name_ok(const char *s) {
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9'))) return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return false;
    return true;
}

/* owner/name with the same characters as a name on each side */
static bool repo_ok(const char *s) {
    const char *slash = strchr(s, '/');
    if (!slash || strchr(slash + 1, '/')) return false;
    char owner[256];
    size_t n = (size_t)(slash - s);
    if (n == 0 || n >= sizeof owner) return false;
    memcpy(owner, s, n);
    owner[n] = 0;
    return name_ok(owner) && name_ok(slash + 1);
}

static void parse_model(sy_map_t *root, spec_t *s, valid_t *ok) {
    sy_ctx_t *c = root->c;
    spec_model_t *m = &s->model;
    sy_map_t mm, mi;
    char kp[160];
    sy_open_map(root, "model", K_MODEL, true, &mm);
    bool good = mm.ok;
    int64_t x;
    bool dm = sy_i32(&mm, "d_model", true, 0, 1, 65536, &m->d_model);
    good &= dm;
    good &= sy_i32(&mm, "n_layer", true, 0, 1, 1024, &m->n_layer);
    ok->vocab = sy_i32(&mm, "vocab_size", true, 0, 2, 10000000, &m->vocab_size);
    good &= ok->vocab;
    good &= sy_i32(&mm, "d_state", false, 16, 1, 256, &m->d_state);
    good &= sy_i32(&mm, "d_conv", false, 4, 2, 8, &m->d_conv);
    good &= sy_i32(&mm, "expand", false, 2, 1, 16, &m->expand);

    /* dt_rank: "auto" or 1..d_model */
    m->dt_rank_auto = true;
    bool vok;
    yaml_node_t *v = sy_value(&mm, "dt_rank", false, NULL, kp, &vok);
    good &= vok;
    if (v && !(v->type == YAML_SCALAR_NODE && !strcmp(sy_sval(v), "auto"))) {
        int64_t hi = dm ? m->d_model : 65536;
        if (!sy_parse_int(c, v, kp, "auto or an integer", &x)) {
            good = false;
        } else if (x < 1 || x > hi) {
            sy_report(c, v->start_mark, kp, "must be auto or an integer between 1 and d_model (%lld), got %s",
                      (long long)hi, sy_sval(v));
            good = false;
        } else {
            m->dt_rank = (int)x;
            m->dt_rank_auto = false;
        }
    }
    good &= sy_float(&mm, "norm_eps", 1e-5, R_GT0, &m->norm_eps);
    if (sy_bool(&mm, "tie_embeddings", true, &m->tie_embeddings) && !m->tie_embeddings)
        sy_report(c, sy_mark_of(&mm, "tie_embeddings"), "model.tie_embeddings",
                  "untied embeddings are not supported by this version (set it to true)");

    sy_open_map(&mm, "init", K_INIT, false, &mi);
    bool lo = sy_float(&mi, "dt_min", 0.001, R_GT0, &m->init.dt_min);
    bool hi = sy_float(&mi, "dt_max", 0.1, R_GT0, &m->init.dt_max);
    if (lo && hi && mi.ok && m->init.dt_max <= m->init.dt_min) {
        if (sy_get(&mi, "dt_max"))
            sy_report(c, sy_mark_of(&mi, "dt_max"), "model.init.dt_max", "must be greater than dt_min (%g), got %g",
                      m->init.dt_min, m->init.dt_max);
        else
            sy_report(c, sy_mark_of(&mi, "dt_min"), "model.init.dt_min",
                      "must be less than dt_max (%g, the default), got %g", m->init.dt_max, m->init.dt_min);
    }
    sy_float(&mi, "dt_init_floor", 1e-4, R_GE0, &m->init.dt_init_floor);
    sy_float(&mi, "embed_std", 0.02, R_GT0, &m->init.embed_std);
    sy_bool(&mi, "rescale_prenorm_residual", true, &m->init.rescale_prenorm_residual);

    ok->model = good;
    if (good) {
        m->vocab_padded = (m->vocab_size + 7) / 8 * 8;
        m->d_inner = m->expand * m->d_model;
        if (m->dt_rank_auto) m->dt_rank = (m->d_model + 15) / 16;
    }
}

static void parse_optimizer(sy_map_t *root, spec_t *s, valid_t *ok) {
    spec_optimizer_t *o = &s->optimizer;
    sy_map_t mo, mm, ma;
    int e;
    sy_open_map(root, "optimizer", K_OPT, false, &mo);
    sy_float(&mo, "grad_clip", 1.0, R_GE0, &o->grad_clip);

    sy_open_map(&mo, "muon", K_MUON, false, &mm);
    ok->lists = mm.ok;
    ok->lists &= sy_strlist(&mm, "params", DEF_MUON, &o->muon.params);
    sy_float(&mm, "lr", 0.02, R_GT0, &o->muon.lr);
    sy_float(&mm, "momentum", 0.95, R_UNIT_OPEN, &o->muon.momentum);
    sy_bool(&mm, "nesterov", true, &o->muon.nesterov);
    int64_t x;
    sy_int(&mm, "ns_steps", false, NULL, 5, 1, 20, &x);
    o->muon.ns_steps = (int)x;
    static const double ns[3] = {3.4445, -4.7750, 2.0315};
    sy_numlist(&mm, "ns_coefficients", 3, R_ANY, ns, o->muon.ns_coefficients);
    sy_float(&mm, "weight_decay", 0.0, R_GE0, &o->muon.weight_decay);
    static const char *const adj[] = {"original", "match_rms_adamw", NULL};
    sy_enum(&mm, "lr_adjust", adj, 0, &e);
    o->muon.lr_adjust = (lr_adjust_t)e;

    sy_open_map(&mo, "adamw", K_ADAMW, false, &ma);
    ok->lists &= ma.ok;
    ok->lists &= sy_strlist(&ma, "params", DEF_ADAMW, &o->adamw.params);
    sy_float(&ma, "lr", 3e-3, R_GT0, &o->adamw.lr);
    static const double betas[2] = {0.9, 0.95};
    sy_numlist(&ma, "betas", 2, R_UNIT_OPEN, betas, o->adamw.betas);
    sy_float(&ma, "eps", 1e-8, R_GT0, &o->adamw.eps);
    sy_float(&ma, "weight_decay", 0.1, R_GE0, &o->adamw.weight_decay);
    ok->lists &= sy_strlist(&ma, "no_decay", DEF_NO_DECAY, &o->adamw.no_decay);
}

static void parse_schedule(sy_map_t *root, spec_t *s, bool *warm_ok, sy_map_t *ms) {
    int e;
    sy_open_map(root, "schedule", K_SCHED, false, ms);
    *warm_ok = sy_int(ms, "warmup_steps", false, NULL, 0, 0, INT64_MAX, &s->schedule.warmup_steps);
    static const char *const decays[] = {"cosine", "linear", "constant", NULL};
    sy_enum(ms, "decay", decays, 0, &e);
    s->schedule.decay = (decay_t)e;
    sy_float(ms, "min_lr_ratio", 0.1, R_UNIT, &s->schedule.min_lr_ratio);
}

static void parse_train(sy_map_t *root, spec_t *s, valid_t *ok, sy_map_t *mt) {
    sy_ctx_t *c = root->c;
    spec_train_t *t = &s->train;
    int e;
    int64_t x;
    sy_open_map(root, "train", K_TRAIN, true, mt);
    static const char *const phases[] = {"pretrain", "finetune", NULL};
    bool phase_ok = sy_enum(mt, "phase", phases, 0, &e);
    t->phase = (phase_t)e;
    bool shape = sy_i32(mt, "seq_len", true, 0, 2, 1048576, &t->seq_len);
    shape &= sy_i32(mt, "micro_batch", true, 0, 1, 65536, &t->micro_batch);
    shape &= sy_i32(mt, "grad_accum", false, 1, 1, 65536, &t->grad_accum);
    bool tbe_ok = sy_bool(mt, "train_by_epochs", false, &t->train_by_epochs);
    bool ne_ok = sy_float(mt, "num_epochs", 1.0, R_GT0, &t->num_epochs);
    bool ttt_ok = sy_int(mt, "total_train_tokens", false, NULL, 0, 1, INT64_MAX, &t->total_train_tokens);
    bool ms_ok = sy_int(mt, "max_steps", false, NULL, 0, 1, INT64_MAX, &t->max_steps);
    sy_int(mt, "eval_every", false, NULL, 0, 0, INT64_MAX, &t->eval_every);
    bool et_given = sy_get(mt, "eval_tokens") != NULL;
    sy_int(mt, "eval_tokens", false, NULL, 0, 0, INT64_MAX, &t->eval_tokens);
    sy_int(mt, "checkpoint_every", false, NULL, 0, 0, INT64_MAX, &t->checkpoint_every);
    sy_int(mt, "seed", false, NULL, 1337, 0, INT64_MAX, &x);
    t->seed = (uint64_t)x;
    sy_bool(mt, "reset_state_at_doc_boundaries", false, &t->reset_state_at_doc_boundaries);
    bool init_ok = sy_str(mt, "init_from", false, NULL, &t->init_from);

    if (shape) t->tokens_per_step = (int64_t)t->seq_len * t->micro_batch * t->grad_accum;
    if (shape && !et_given) t->eval_tokens = 8 * (int64_t)t->seq_len * t->micro_batch;

    ok->max_steps = false;
    if (mt->ok && tbe_ok && t->train_by_epochs) {
        yaml_node_t *given = sy_get(mt, "max_steps");
        if (given)
            sy_report(c, given->start_mark, "train.max_steps",
                      "max_steps is derived when train_by_epochs is true; remove it");
        t->max_steps = 0;
        if (!sy_get(mt, "total_train_tokens"))
            sy_report(c, mt->mark, "train.total_train_tokens",
                      "missing required key 'total_train_tokens' (required when train_by_epochs is true)");
        else if (ttt_ok && ne_ok && shape && !given) {
            double steps = ceil(t->num_epochs * (double)t->total_train_tokens / (double)t->tokens_per_step);
            if (steps > 1e15) {
                sy_report(c, sy_mark_of(mt, "num_epochs"), "train.num_epochs",
                          "num_epochs x total_train_tokens gives %.3g steps, more than 10^15", steps);
            } else {
                t->max_steps = steps < 1 ? 1 : (int64_t)steps;
                ok->max_steps = true;
            }
        }
    } else if (mt->ok && tbe_ok) {
        if (!sy_get(mt, "max_steps"))
            sy_report(c, mt->mark, "train.max_steps",
                      "missing required key 'max_steps' (required when train_by_epochs is false)");
        else
            ok->max_steps = ms_ok;
    }
    if (mt->ok && phase_ok && init_ok && t->phase == PHASE_FINETUNE && !t->init_from)
        sy_report(c, mt->mark, "train.init_from",
                  "missing required key 'init_from' (a finetune starts from a checkpoint folder)");
}

static void parse_data(sy_map_t *root, spec_t *s) {
    sy_ctx_t *c = root->c;
    spec_data_t *d = &s->data;
    sy_map_t md, mv;
    int e;
    sy_open_map(root, "data", K_DATA, true, &md);
    static const char *const sources[] = {"local", "hf", "url", NULL};
    bool src_ok = sy_enum(&md, "source", sources, 0, &e);
    d->source = strdup(sources[e]);
    bool paths_ok = sy_strlist(&md, "paths", NULL, &d->paths);
    bool url_ok = sy_str(&md, "url", false, NULL, &d->url);
    static const char *const formats[] = {"auto", "txt", "jsonl", "parquet", NULL};
    sy_enum(&md, "format", formats, 0, &e);
    d->format = strdup(formats[e]);
    bool ds_ok = sy_str(&md, "dataset", false, NULL, &d->dataset);
    sy_str(&md, "config", false, "default", &d->config);
    sy_str(&md, "split", false, "train", &d->split);
    sy_str(&md, "text_column", false, "text", &d->text_column);
    static const char *const templates[] = {"none", "alpaca", NULL};
    sy_enum(&md, "prompt_template", templates, 0, &e);
    d->prompt_template = strdup(templates[e]);
    sy_open_map(&md, "validation", K_VALID, false, &mv);
    sy_float(&mv, "fraction", 0.0005, R_HALF, &d->validation_fraction);
    if (!d->source || !d->format || !d->prompt_template) c->oom = true;

    if (url_ok && d->url && strncmp(d->url, "http://", 7) && strncmp(d->url, "https://", 8))
        sy_report(c, sy_mark_of(&md, "url"), "data.url", "must start with http:// or https://, got '%.60s'", d->url);
    else if (url_ok && d->url && !strcmp(strstr(d->url, "//") + 2, ""))
        sy_report(c, sy_mark_of(&md, "url"), "data.url", "has no host after the scheme");
    if (ds_ok && d->dataset && !repo_ok(d->dataset))
        sy_report(c, sy_mark_of(&md, "dataset"), "data.dataset",
                  "must be OWNER/NAME (e.g. HuggingFaceFW/fineweb), got '%.60s'", d->dataset);
    if (!md.ok || !src_ok) return;
    if (!strcmp(d->source, "local")) {
        if (!sy_get(&md, "paths"))
            sy_report(c, md.mark, "data.paths", "missing required key 'paths' (required when source is local)");
        else if (paths_ok && d->paths.n == 0)
            sy_report(c, sy_mark_of(&md, "paths"), "data.paths", "must list at least one file or glob");
    } else if (!strcmp(d->source, "url")) {
        if (!sy_get(&md, "url"))
            sy_report(c, md.mark, "data.url", "missing required key 'url' (required when source is url)");
    } else if (!sy_get(&md, "dataset")) {
        sy_report(c, md.mark, "data.dataset", "missing required key 'dataset' (required when source is hf)");
    }
}

/* "a, b, c and 21 more" from the names picked by `pick` (NULL = all). */
static void name_list(const spec_param_t *ps, int n, const bool *pick, char *out, size_t cap, int *count) {
    size_t len = 0;
    int k = 0;
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        if (pick && !pick[i]) continue;
        if (k < 3) len += (size_t)snprintf(out + len, cap - len, "%s%s", k ? ", " : "", ps[i].name);
        k++;
        if (len >= cap) len = cap - 1;
    }
    if (k > 3) snprintf(out + len, cap - len, " and %d more", k - 3);
    *count = k;
}

/* Where pattern `i` of list `key` sits, for errors about that one pattern. */
static yaml_mark_t item_mark(sy_ctx_t *c, const sy_map_t *m, const char *key, int i) {
    yaml_node_t *v = sy_get(m, key);
    if (v && v->type == YAML_SEQUENCE_NODE && i < (int)(v->data.sequence.items.top - v->data.sequence.items.start)) {
        yaml_node_t *e = sy_node(c, v->data.sequence.items.start[i]);
        if (e) return e->start_mark;
    }
    return v ? v->start_mark : m->mark;
}

/* Every parameter must be claimed by exactly one group, Muon only takes 2-D
 * matrices, and each pattern must match something (a typo otherwise). */
static void check_coverage(sy_map_t *root, spec_t *s) {
    sy_ctx_t *c = root->c;
    spec_param_t *ps = NULL;
    int n = 0;
    if (spec_param_table(&s->model, &ps, &n) != 0) { c->oom = true; return; }
    bool *none = calloc((size_t)n, sizeof *none), *both = calloc((size_t)n, sizeof *both);
    bool *bad = calloc((size_t)n, sizeof *bad);
    if (!none || !both || !bad) { c->oom = true; goto out; }
    sy_map_t mo, mm, ma;
    sy_peek_map(root, "optimizer", &mo);
    sy_peek_map(&mo, "muon", &mm);
    sy_peek_map(&mo, "adamw", &ma);

    const spec_optimizer_t *o = &s->optimizer;
    char names[400];
    int cnt;
    for (int i = 0; i < n; i++) {
        bool mu = spec_list_matches(&o->muon.params, ps[i].name);
        bool aw = spec_list_matches(&o->adamw.params, ps[i].name);
        none[i] = !mu && !aw;
        both[i] = mu && aw;
    }
    name_list(ps, n, none, names, sizeof names, &cnt);
    if (cnt)
        sy_report(c, sy_get(&ma, "params") ? sy_mark_of(&ma, "params") : ma.mark, "optimizer.adamw.params",
                  "no group claims %s: every parameter needs a pattern in muon.params or adamw.params", names);
    name_list(ps, n, both, names, sizeof names, &cnt);
    if (cnt)
        sy_report(c, sy_get(&mm, "params") ? sy_mark_of(&mm, "params") : mm.mark, "optimizer.muon.params",
                  "%s %s claimed by both muon.params and adamw.params", names, cnt == 1 ? "is" : "are");

    /* per pattern: does it match anything, and (Muon) only matrices? */
    struct { const strlist_t *l; sy_map_t *m; const char *key, *path; bool muon; } lists[] = {
        {&o->muon.params, &mm, "params", "optimizer.muon.params", true},
        {&o->adamw.params, &ma, "params", "optimizer.adamw.params", false},
        {&o->adamw.no_decay, &ma, "no_decay", "optimizer.adamw.no_decay", false},
    };
    for (int L = 0; L < 3; L++)
        for (int j = 0; j < lists[L].l->n; j++) {
            const char *pat = lists[L].l->items[j];
            int hits = 0;
            for (int i = 0; i < n; i++) {
                bad[i] = false;
                if (fnmatch(pat, ps[i].name, 0) == 0) {
                    hits++;
                    bad[i] = lists[L].muon && ps[i].ndim != 2;
                }
            }
            yaml_mark_t at = item_mark(c, lists[L].m, lists[L].key, j);
            if (!hits) {
                sy_report(c, at, lists[L].path,
                          "pattern '%s' matches no parameter (names look like 'embedding.weight', "
                          "'layers.0.mixer.in_proj.weight', 'norm_f.weight')", pat);
                continue;
            }
            name_list(ps, n, bad, names, sizeof names, &cnt);
            if (cnt)
                sy_report(c, at, lists[L].path,
                          "pattern '%s' claims %s, which %s not 2-D: muon handles 2-D matrices only", pat, names,
                          cnt == 1 ? "is" : "are");
        }
out:
    free(none);
    free(both);
    free(bad);
    free(ps);
}

/* ---- top level --------------------------------------------------------------- */

static void parse_spec(sy_ctx_t *c, yaml_node_t *rootn, spec_t *s) {
    sy_map_t root = {.c = c, .n = rootn, .ok = true, .mark = rootn->start_mark};
    sy_check_keys(&root, K_ROOT);
    valid_t ok = {0};

    ok.name = sy_str(&root, "name", true, NULL, &s->name);
    if (ok.name && s->name && (!name_ok(s->name) || strlen(s->name) > 64)) {
        sy_report(c, sy_mark_of(&root, "name"), "name",
                  "must be 1-64 characters of [A-Za-z0-9._-] starting with a letter or digit "
                  "(it names the build folder), got '%.70s'", s->name);
        ok.name = false;
    }
    int e;
    static const char *const backends[] = {"cpu", "cuda", NULL};
    sy_enum(&root, "backend", backends, 0, &e);
    s->backend = (backend_t)e;

    parse_model(&root, s, &ok);
    parse_optimizer(&root, s, &ok);
    sy_map_t ms, mt;
    bool warm_ok;
    parse_schedule(&root, s, &warm_ok, &ms);
    parse_train(&root, s, &ok, &mt);
    parse_data(&root, s);

    bool tok_ok = sy_str(&root, "tokenizer", false, "bytes", &s->tokenizer.name);
    const char *tok = s->tokenizer.name;
    if (tok_ok && tok && !strncmp(tok, "hf:", 3) && !repo_ok(tok + 3))
        sy_report(c, sy_mark_of(&root, "tokenizer"), "tokenizer",
                  "must be hf:OWNER/NAME (e.g. hf:EleutherAI/gpt-neox-20b), got '%.60s'", tok);
    if (tok_ok && tok && !strcmp(tok, "bytes") && ok.vocab && s->model.vocab_size < 257) {
        sy_map_t mm;
        sy_peek_map(&root, "model", &mm);
        sy_report(c, sy_mark_of(&mm, "vocab_size"), "model.vocab_size",
                  "is %d, but tokenizer \"bytes\" needs at least 257 (256 bytes + end-of-text)",
                  s->model.vocab_size);
    }

    /* checkpoint and logging folders default to per-name folders */
    sy_map_t mc, ml;
    char def[96];
    snprintf(def, sizeof def, "checkpoints/%s", ok.name && s->name ? s->name : "spec");
    sy_open_map(&root, "checkpoint", K_CKPT, false, &mc);
    sy_str(&mc, "dir", false, def, &s->checkpoint.dir);
    sy_i32(&mc, "keep_last", false, 3, 0, INT_MAX, &s->checkpoint.keep_last);
    snprintf(def, sizeof def, "logs/%s", ok.name && s->name ? s->name : "spec");
    sy_open_map(&root, "logging", K_LOG, false, &ml);
    sy_str(&ml, "dir", false, def, &s->logging.dir);
    sy_i32(&ml, "every", false, 10, 1, INT_MAX, &s->logging.every);

    if (warm_ok && ok.max_steps && s->schedule.warmup_steps >= s->train.max_steps)
        sy_report(c, sy_mark_of(&ms, "warmup_steps"), "schedule.warmup_steps",
                  "must be less than train.max_steps (%lld%s), got %lld", (long long)s->train.max_steps,
                  s->train.train_by_epochs ? ", derived from the epochs" : "",
                  (long long)s->schedule.warmup_steps);

    if (ok.model && ok.lists) check_coverage(&root, s);
}

int spec_load(const char *path, spec_t *out, FILE *err) {
    memset(out, 0, sizeof *out);
    sy_ctx_t c = {.file = path, .schema = SCHEMA, .n_schema = (int)(sizeof SCHEMA / sizeof SCHEMA[0])};
    size_t len = 0;
    char *buf = sy_read_file(&c, path, &len);
    yaml_parser_t p;
    yaml_document_t doc, extra;
    bool parser = false, have_doc = false;
    if (!buf) goto done;
    if (!yaml_parser_initialize(&p)) { c.oom = true; goto done; }
    parser = true;
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&p, &doc)) {
        sy_syntax_error(&c, &p, buf, len);
        goto done;
    }
    have_doc = true;
    c.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    char tmp[80];
    if (!root || sy_is_null(root)) {
        sy_report_at(&c, 1, 1, "yaml", "the file is empty (a spec needs at least name, model, train and data)");
        goto done;
    }
    if (root->type != YAML_MAPPING_NODE) {
        sy_report(&c, root->start_mark, "yaml",
                  "the document must be a mapping of keys (name: ..., model: ...), got %s", sy_describe(root, tmp));
        goto done;
    }
    /* a second document would be silently ignored: refuse it */
    if (!yaml_parser_load(&p, &extra)) {
        sy_syntax_error(&c, &p, buf, len);
    } else {
        yaml_node_t *r2 = yaml_document_get_root_node(&extra);
        if (r2) sy_report(&c, r2->start_mark, "yaml", "only one YAML document is allowed (found a second one)");
        yaml_document_delete(&extra);
    }
    parse_spec(&c, root, out);
    if (c.n == 0 && !c.oom) {
        char *body = spec_lock_body(out);
        if (!body) c.oom = true;
        else spec_sha256_hex(body, strlen(body), out->hash);
        free(body);
        out->path = strdup(path);
        if (!out->path) c.oom = true;
    }
done:
    if (have_doc) yaml_document_delete(&doc);
    if (parser) yaml_parser_delete(&p);
    free(buf);
    bool failed = c.n > 0 || c.oom;
    sy_flush(&c, err);
    if (failed) {
        spec_free(out);
        return -1;
    }
    return 0;
}

static void free_list(strlist_t *l) {
    for (int i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

void spec_free(spec_t *s) {
    if (!s) return;
    free(s->path);
    free(s->name);
    free_list(&s->optimizer.muon.params);
    free_list(&s->optimizer.adamw.params);
    free_list(&s->optimizer.adamw.no_decay);
    free(s->train.init_from);
    free(s->data.source);
    free_list(&s->data.paths);
    free(s->data.url);
    free(s->data.format);
    free(s->data.dataset);
    free(s->data.config);
    free(s->data.split);
    free(s->data.text_column);
    free(s->data.prompt_template);
    free(s->tokenizer.name);
    free(s->checkpoint.dir);
    free(s->logging.dir);
    memset(s, 0, sizeof *s);
}
