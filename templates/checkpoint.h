/* checkpoint.h: saving and loading checkpoints of one variant; included by
 * the training program and by the generation tool (template: compiled
 * against the variant's model.h).
 *
 * checkpoint_dir/<tag>/ holds model.safetensors (Hugging Face Mamba names)
 * and config.json; `last` and the step-N folders also hold
 * training_state.safetensors (optimizer moments, step, data position, spec
 * hash), enough to resume exactly. Each folder is written beside its place
 * and swapped in whole. */
#ifndef CHECKPOINT_H
#define CHECKPOINT_H

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "rt.h"



/* Hugging Face Mamba names: "backbone." + ours, with embedding -> embeddings
 * (transformers' MambaModel spelling); the tied lm_head is not stored. */
static inline void hf_name(const char *ours, char *out, size_t n) {
    if (!strcmp(ours, "embedding.weight")) snprintf(out, n, "backbone.embeddings.weight");
    else snprintf(out, n, "backbone.%s", ours);
}

static inline int write_config_json(const char *dir) {
    char path[4400], buf[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    int n = snprintf(buf, sizeof buf,
                     "{\n  \"architectures\": [\"MambaForCausalLM\"],\n  \"model_type\": \"mamba\",\n"
                     "  \"hidden_size\": %d,\n  \"d_model\": %d,\n  \"num_hidden_layers\": %d,\n  \"n_layer\": %d,\n"
                     "  \"vocab_size\": %d,\n  \"pad_vocab_size_multiple\": 8,\n  \"state_size\": %d,\n"
                     "  \"conv_kernel\": %d,\n  \"expand\": %d,\n  \"intermediate_size\": %d,\n  \"time_step_rank\": %d,\n"
                     "  \"layer_norm_epsilon\": %.9g,\n  \"use_bias\": false,\n  \"use_conv_bias\": true,\n"
                     "  \"hidden_act\": \"silu\",\n  \"residual_in_fp32\": true,\n  \"rms_norm\": true,\n"
                     "  \"tie_word_embeddings\": true,\n  \"torch_dtype\": \"float32\",\n"
                     "  \"mamba_gen_variant\": \"%s\",\n  \"mamba_gen_spec_hash\": \"%s\"\n}\n",
                     D_MODEL, D_MODEL, N_LAYER, N_LAYER, VOCAB_PADDED, D_STATE, D_CONV, EXPAND, D_INNER, DT_RANK,
                     (double)NORM_EPS, VARIANT_NAME, SPEC_HASH);
    return rt_write_file_atomic(path, buf, (size_t)n);
}

/* What a resumed run needs besides the weights. */
typedef struct {
    int64_t step, data_position, data_epoch;
    double best_val, first_loss;
    char data_state[RT_DATA_STATE_MAX]; /* exact stream position (file, row group, row, token) */
} train_state_t;

static inline int write_state(model_t *m, const char *dir, const train_state_t *ts) {
    float *mom = rt_malloc(sizeof(float) * (MUON_NUMEL ? MUON_NUMEL : 1));
    float *am = rt_malloc(sizeof(float) * (ADAMW_NUMEL ? ADAMW_NUMEL : 1));
    float *av = rt_malloc(sizeof(float) * (ADAMW_NUMEL ? ADAMW_NUMEL : 1));
    model_get_state(m, mom, am, av);
    rt_tensor_t t[3] = {{"muon.momentum", 1, {MUON_NUMEL}, mom},
                        {"adamw.m", 1, {ADAMW_NUMEL}, am},
                        {"adamw.v", 1, {ADAMW_NUMEL}, av}};
    char v[5][48], path[4400];
    snprintf(v[0], sizeof v[0], "%lld", (long long)ts->step);
    snprintf(v[1], sizeof v[1], "%lld", (long long)ts->data_position);
    snprintf(v[2], sizeof v[2], "%lld", (long long)ts->data_epoch);
    snprintf(v[3], sizeof v[3], "%.17g", ts->best_val);
    snprintf(v[4], sizeof v[4], "%.17g", ts->first_loss);
    const char *keys[] = {"format", "spec_hash", "step", "data_position", "data_epoch", "best_val", "first_loss",
                          "data_state"};
    const char *vals[] = {"mamba-gen-train-state-1", SPEC_HASH, v[0], v[1], v[2], v[3], v[4], ts->data_state};
    snprintf(path, sizeof path, "%s/training_state.safetensors", dir);
    int rc = rt_safetensors_save(path, t, 3, keys, vals, ts->data_state[0] ? 8 : 7);
    free(mom), free(am), free(av);
    return rc;
}

/* Writes checkpoint_dir/<tag>/ (with the training state when ts != NULL). */
static inline int save_checkpoint(model_t *m, const char *ckpt_dir, const char *tag, int64_t step, double val_loss,
                           const train_state_t *ts) {
    char dir[4096], tmp[4200], path[4400], stepbuf[32], lossbuf[48];
    snprintf(dir, sizeof dir, "%s/%s", ckpt_dir, tag);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", ckpt_dir, tag);
    if (rt_remove_tree(tmp) != 0 || rt_mkdirs(tmp) != 0) return -1;
    static char names[N_PARAM_TENSORS][128];
    rt_tensor_t t[N_PARAM_TENSORS];
    real *params = model_params(m);
    for (int i = 0; i < N_PARAM_TENSORS; i++) {
        const param_info_t *pi = &PARAM_TABLE[i];
        hf_name(pi->name, names[i], sizeof names[i]);
        t[i].name = names[i];
        t[i].ndim = pi->ndim;
        for (int d = 0; d < 4; d++) t[i].shape[d] = d < pi->ndim && d < 3 ? pi->shape[d] : 0;
        t[i].data = params + pi->offset;
    }
    snprintf(stepbuf, sizeof stepbuf, "%lld", (long long)step);
    snprintf(lossbuf, sizeof lossbuf, "%.9g", val_loss);
    const char *keys[] = {"format", "variant", "spec_hash", "step", "val_loss"};
    const char *vals[] = {"pt", VARIANT_NAME, SPEC_HASH, stepbuf, lossbuf};
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    if (rt_safetensors_save(path, t, N_PARAM_TENSORS, keys, vals, 5) != 0) return -1;
    if (write_config_json(tmp) != 0) return -1;
    if (ts && write_state(m, tmp, ts) != 0) return -1;
    return rt_commit_dir(tmp, dir);
}

/* A periodic checkpoint: the previous `last` becomes step-<N>, and only the
 * newest keep_last of those stay. */
static inline int rotate_last(const char *ckpt_dir, int keep_last) {
    char last[4096], named[4200];
    snprintf(last, sizeof last, "%s/last/training_state.safetensors", ckpt_dir);
    rt_safetensors_t *f = rt_safetensors_open(last);
    if (!f) return 0; /* no previous last */
    const char *st = rt_safetensors_meta(f, "step");
    long long step = st ? atoll(st) : 0;
    rt_safetensors_close(f);
    snprintf(last, sizeof last, "%s/last", ckpt_dir);
    snprintf(named, sizeof named, "%s/step-%08lld", ckpt_dir, step);
    if (keep_last > 0) {
        if (rt_remove_tree(named) != 0 || rename(last, named) != 0) return rt_err("cannot keep %s as %s", last, named);
    }
    /* drop the oldest step-* folders beyond keep_last (names sort by step) */
    DIR *d = opendir(ckpt_dir);
    if (!d) return 0;
    char *list[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096)
        if (!strncmp(e->d_name, "step-", 5) && !strchr(e->d_name, '.')) list[n++] = strdup(e->d_name);
    closedir(d);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(list[i], list[j]) > 0) {
                char *x = list[i];
                list[i] = list[j], list[j] = x;
            }
    for (int i = 0; i < n; i++) {
        if (i < n - keep_last) {
            snprintf(named, sizeof named, "%s/%s", ckpt_dir, list[i]);
            rt_remove_tree(named);
        }
        free(list[i]);
    }
    return 0;
}

/* After a refused checkpoint: the model section of a spec that would fit
 * it, from its config.json (Hugging Face or mamba_ssm field names). */
#include <jansson.h>
static inline void suggest_spec(const char *where) {
    char cfg[8400];
    snprintf(cfg, sizeof cfg, "%s/config.json", where);
    json_error_t jerr;
    json_t *c = json_load_file(cfg, 0, &jerr);
    if (!c) {
        fprintf(stderr, "  (no readable %s to suggest a spec from)\n", cfg);
        return;
    }
    const char *keys[][3] = {{"d_model", "hidden_size", "d_model"},     {"n_layer", "num_hidden_layers", "n_layer"},
                             {"vocab_size", "vocab_size", "vocab_size"}, {"d_state", "state_size", "d_state"},
                             {"d_conv", "conv_kernel", "d_conv"},        {"expand", "expand", "expand"},
                             {"dt_rank", "time_step_rank", "dt_rank"}};
    fprintf(stderr, "  a spec that fits it (from %s):\n  model:\n", cfg);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(c, keys[i][1]);
        if (!json_is_integer(v)) v = json_object_get(c, keys[i][2]);
        if (json_is_integer(v)) fprintf(stderr, "    %s: %lld\n", keys[i][0], (long long)json_integer_value(v));
    }
    fprintf(stderr, "  then re-run gen.\n");
    json_decref(c);
}

/* Loads weights saved by us or by transformers / mamba_ssm (both spellings
 * of the embedding, with or without "backbone."). A checkpoint of another
 * shape is refused with the first mismatching tensors. */
static inline int load_weights(model_t *m, const char *where) {
    char path[8400];
    snprintf(path, sizeof path, "%s/model.safetensors", where);
    rt_safetensors_t *f = rt_safetensors_open(path);
    if (!f) return -1;
    real *params = model_params(m);
    int bad = 0;
    for (int i = 0; i < N_PARAM_TENSORS; i++) {
        const param_info_t *pi = &PARAM_TABLE[i];
        char cand[4][160];
        hf_name(pi->name, cand[0], sizeof cand[0]);
        snprintf(cand[1], sizeof cand[1], "backbone.%s", pi->name);
        snprintf(cand[2], sizeof cand[2], "%s", pi->name);
        snprintf(cand[3], sizeof cand[3], "embeddings.weight");
        const char *dtype;
        int ndim;
        int64_t shape[8];
        int found = -1;
        for (int c = 0; c < (strcmp(pi->name, "embedding.weight") ? 3 : 4) && found < 0; c++)
            if (rt_safetensors_find(f, cand[c], &dtype, &ndim, shape) == 0) found = c;
        if (found < 0) {
            if (bad++ < 5) fprintf(stderr, "error: %s: tensor %s is missing\n", path, cand[0]);
            continue;
        }
        int64_t numel = 1;
        for (int d = 0; d < ndim; d++) numel *= shape[d];
        if (numel != pi->numel) {
            if (bad++ < 5) {
                fprintf(stderr, "error: %s: tensor %s has shape (", path, cand[found]);
                for (int d = 0; d < ndim; d++) fprintf(stderr, "%s%lld", d ? ", " : "", (long long)shape[d]);
                fprintf(stderr, "), variant %s needs (", VARIANT_NAME);
                for (int d = 0; d < pi->ndim; d++) fprintf(stderr, "%s%lld", d ? ", " : "", (long long)pi->shape[d]);
                fprintf(stderr, ")\n");
            }
            continue;
        }
        if (rt_safetensors_read_f32(f, cand[found], params + pi->offset, pi->numel) != 0) bad++;
    }
    rt_safetensors_close(f);
    if (bad) {
        fprintf(stderr, "error: %s does not fit variant %s (%d tensors refused)\n", path, VARIANT_NAME, bad);
        suggest_spec(where);
        return -1;
    }
    model_params_upload(m);
    return 0;
}

/* Restores weights and training state from checkpoint_dir/last (or
 * last.old, left by a crash in the middle of a swap). */
static inline int resume_from_last(model_t *m, const char *ckpt_dir, rt_data_t *train, train_state_t *ts) {
    char dir[4096], path[4400];
    snprintf(dir, sizeof dir, "%s/last", ckpt_dir);
    snprintf(path, sizeof path, "%s/training_state.safetensors", dir);
    rt_safetensors_t *probe = rt_safetensors_open(path);
    if (!probe) {
        snprintf(dir, sizeof dir, "%s/last.old", ckpt_dir);
        snprintf(path, sizeof path, "%s/training_state.safetensors", dir);
        probe = rt_safetensors_open(path);
        if (!probe) return rt_err("--resume: no readable checkpoint in %s/last", ckpt_dir);
        fprintf(stderr, "note: resuming from %s (the last swap was interrupted)\n", dir);
    }
    const char *hash = rt_safetensors_meta(probe, "spec_hash");
    const char *fmt = rt_safetensors_meta(probe, "format");
    if (!fmt || strcmp(fmt, "mamba-gen-train-state-1") != 0) {
        rt_safetensors_close(probe);
        return rt_err("%s: not a training state of this program", path);
    }
    if (!hash || strcmp(hash, SPEC_HASH) != 0) {
        rt_err("%s: written by spec %.16s, this is variant %s with spec %.16s; resume with the same spec", path,
               hash ? hash : "(none)", VARIANT_NAME, SPEC_HASH);
        rt_safetensors_close(probe);
        return -1;
    }
    const char *k[5] = {"step", "data_position", "data_epoch", "best_val", "first_loss"};
    const char *v[5];
    for (int i = 0; i < 5; i++)
        if (!(v[i] = rt_safetensors_meta(probe, k[i]))) {
            rt_safetensors_close(probe);
            return rt_err("%s: metadata '%s' is missing", path, k[i]);
        }
    ts->step = atoll(v[0]), ts->data_position = atoll(v[1]), ts->data_epoch = atoll(v[2]);
    ts->best_val = strtod(v[3], NULL), ts->first_loss = strtod(v[4], NULL);
    const char *ds = rt_safetensors_meta(probe, "data_state");
    snprintf(ts->data_state, sizeof ts->data_state, "%s", ds ? ds : "");
    float *mom = rt_malloc(sizeof(float) * (MUON_NUMEL ? MUON_NUMEL : 1));
    float *am = rt_malloc(sizeof(float) * (ADAMW_NUMEL ? ADAMW_NUMEL : 1));
    float *av = rt_malloc(sizeof(float) * (ADAMW_NUMEL ? ADAMW_NUMEL : 1));
    int rc = rt_safetensors_read_f32(probe, "muon.momentum", mom, MUON_NUMEL) ||
             rt_safetensors_read_f32(probe, "adamw.m", am, ADAMW_NUMEL) ||
             rt_safetensors_read_f32(probe, "adamw.v", av, ADAMW_NUMEL);
    rt_safetensors_close(probe);
    if (rc == 0 && load_weights(m, dir) != 0) rc = -1;
    if (rc == 0) {
        model_set_state(m, mom, am, av);
        model_set_step(m, (long)ts->step);
        /* the exact stream state restores at once (a streaming source is not re-read) */
        rc = ts->data_state[0] ? rt_data_set_state(train, ts->data_state)
                               : rt_data_seek(train, ts->data_position, ts->data_epoch);
    }
    free(mom), free(am), free(av);
    if (rc == 0) printf("resumed from %s at step %lld\n", dir, (long long)ts->step);
    return rc ? -1 : 0;
}

#endif
