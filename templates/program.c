/*@ banner @*/
/* program.c: the training program of one variant: settings from the spec
 * (overridable on the command line), the step loop with gradient
 * accumulation, clipping and the learning-rate schedule, evaluation,
 * checkpoints and metrics, and a short sample at the end.
 *
 * Template: templates/program.c; gen fills the marked insertion points. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "rt.h"

_Static_assert(sizeof(real) == sizeof(float), "the training program runs in fp32");

static rt_settings_t settings = {
/*@ settings @*/
};

/* ---- checkpoints ------------------------------------------------------------
 * checkpoint_dir/<tag>/ holds model.safetensors (Hugging Face Mamba names) and
 * config.json; `last` and the step-N folders also hold training_state.safetensors
 * (optimizer moments, step, data position, spec hash), enough to resume
 * exactly. Each folder is written beside its place and swapped in whole. */

#include <signal.h>
#include <dirent.h>

/* Hugging Face Mamba names: "backbone." + ours, with embedding -> embeddings
 * (transformers' MambaModel spelling); the tied lm_head is not stored. */
static void hf_name(const char *ours, char *out, size_t n) {
    if (!strcmp(ours, "embedding.weight")) snprintf(out, n, "backbone.embeddings.weight");
    else snprintf(out, n, "backbone.%s", ours);
}

static int write_config_json(const char *dir) {
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
} train_state_t;

static int write_state(model_t *m, const char *dir, const train_state_t *ts) {
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
    const char *keys[] = {"format", "spec_hash", "step", "data_position", "data_epoch", "best_val", "first_loss"};
    const char *vals[] = {"mamba-gen-train-state-1", SPEC_HASH, v[0], v[1], v[2], v[3], v[4]};
    snprintf(path, sizeof path, "%s/training_state.safetensors", dir);
    int rc = rt_safetensors_save(path, t, 3, keys, vals, 7);
    free(mom), free(am), free(av);
    return rc;
}

/* Writes checkpoint_dir/<tag>/ (with the training state when ts != NULL). */
static int save_checkpoint(model_t *m, const char *tag, int64_t step, double val_loss, const train_state_t *ts) {
    char dir[4096], tmp[4200], path[4400], stepbuf[32], lossbuf[48];
    snprintf(dir, sizeof dir, "%s/%s", settings.checkpoint_dir, tag);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", settings.checkpoint_dir, tag);
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
static int rotate_last(void) {
    char last[4096], named[4200];
    snprintf(last, sizeof last, "%s/last/training_state.safetensors", settings.checkpoint_dir);
    rt_safetensors_t *f = rt_safetensors_open(last);
    if (!f) return 0; /* no previous last */
    const char *st = rt_safetensors_meta(f, "step");
    long long step = st ? atoll(st) : 0;
    rt_safetensors_close(f);
    snprintf(last, sizeof last, "%s/last", settings.checkpoint_dir);
    snprintf(named, sizeof named, "%s/step-%08lld", settings.checkpoint_dir, step);
    if (settings.keep_last > 0) {
        if (rt_remove_tree(named) != 0 || rename(last, named) != 0) return rt_err("cannot keep %s as %s", last, named);
    }
    /* drop the oldest step-* folders beyond keep_last (names sort by step) */
    DIR *d = opendir(settings.checkpoint_dir);
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
        if (i < n - settings.keep_last) {
            snprintf(named, sizeof named, "%s/%s", settings.checkpoint_dir, list[i]);
            rt_remove_tree(named);
        }
        free(list[i]);
    }
    return 0;
}

/* Loads weights saved by us or by transformers / mamba_ssm (both spellings
 * of the embedding, with or without "backbone."). A checkpoint of another
 * shape is refused with the first mismatching tensors. */
static int load_weights(model_t *m, const char *where) {
    char path[4200];
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
        fprintf(stderr, "error: %s does not fit variant %s (%d tensors refused)", path, VARIANT_NAME, bad);
        char cfg[4200];
        snprintf(cfg, sizeof cfg, "%s/config.json", where);
        fprintf(stderr, "; its config.json (%s) gives the shapes a spec needs: d_model = hidden_size, n_layer = "
                        "num_hidden_layers, vocab_size, d_state = state_size, d_conv = conv_kernel, expand, dt_rank = "
                        "time_step_rank\n", cfg);
        return -1;
    }
    model_params_upload(m);
    return 0;
}

/* Restores weights and training state from checkpoint_dir/last (or
 * last.old, left by a crash in the middle of a swap). */
static int resume_from_last(model_t *m, rt_data_t *train, train_state_t *ts) {
    char dir[4096], path[4400];
    snprintf(dir, sizeof dir, "%s/last", settings.checkpoint_dir);
    snprintf(path, sizeof path, "%s/training_state.safetensors", dir);
    rt_safetensors_t *probe = rt_safetensors_open(path);
    if (!probe) {
        snprintf(dir, sizeof dir, "%s/last.old", settings.checkpoint_dir);
        snprintf(path, sizeof path, "%s/training_state.safetensors", dir);
        probe = rt_safetensors_open(path);
        if (!probe) return rt_err("--resume: no readable checkpoint in %s/last", settings.checkpoint_dir);
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
        rc = rt_data_seek(train, ts->data_position, ts->data_epoch);
    }
    free(mom), free(am), free(av);
    if (rc == 0) printf("resumed from %s at step %lld\n", dir, (long long)ts->step);
    return rc ? -1 : 0;
}

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

/* ---- evaluation and sampling ---------------------------------------------- */

typedef struct {
    int32_t *tokens, *targets;
    real *mask;
    uint8_t *doc_start;
} batch_t;

static void batch_alloc(batch_t *b) {
    const size_t n = (size_t)MICRO_BATCH * SEQ_LEN;
    b->tokens = rt_malloc(n * sizeof(int32_t));
    b->targets = rt_malloc(n * sizeof(int32_t));
    b->mask = rt_malloc(n * sizeof(real));
    b->doc_start = rt_malloc(n);
}

static double evaluate(model_t *m, rt_data_t *val, batch_t *b) {
    int64_t per_batch = (int64_t)MICRO_BATCH * SEQ_LEN;
    int64_t batches = settings.eval_tokens / per_batch;
    if (batches < 1) batches = 1;
    rt_data_rewind(val);
    double sum = 0, count = 0;
    for (int64_t i = 0; i < batches; i++) {
        if (rt_data_next(val, MICRO_BATCH, SEQ_LEN, b->tokens, b->targets, b->mask, b->doc_start) != 0) exit(1);
        double n_valid;
        double loss = model_forward_loss(m, b->tokens, b->targets, b->mask, b->doc_start, &n_valid);
        sum += loss * n_valid;
        count += n_valid;
    }
    return count > 0 ? sum / count : NAN;
}

/* Samples `n` tokens after `prompt` (full forward of the window each token:
 * fine for the short sample printed at the end of a run). */
static void sample(model_t *m, const rt_tokenizer_t *tok, const int32_t *prompt, int n_prompt, int n, uint64_t seed) {
    int32_t *row = rt_calloc(SEQ_LEN, sizeof(int32_t));
    real *logits = rt_malloc(sizeof(real) * VOCAB_PADDED);
    int32_t *out = rt_malloc(sizeof(int32_t) * (size_t)(n_prompt + n));
    memcpy(out, prompt, sizeof(int32_t) * (size_t)n_prompt);
    int len = n_prompt, vocab = rt_tokenizer_vocab_size(tok);
    if (vocab > VOCAB_PADDED) vocab = VOCAB_PADDED;
    uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (int i = 0; i < n; i++) {
        int start = len > SEQ_LEN ? len - SEQ_LEN : 0, w = len - start;
        memcpy(row, out + start, sizeof(int32_t) * (size_t)w);
        model_logits_at(m, row, w - 1, logits);
        /* temperature 0.8 over the tokenizer's vocabulary (padding rows excluded) */
        double mx = -1e30, z = 0;
        for (int v = 0; v < vocab; v++) mx = logits[v] > mx ? logits[v] : mx;
        for (int v = 0; v < vocab; v++) z += exp((logits[v] - mx) / 0.8);
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        double r = (double)(state >> 11) / 9007199254740992.0 * z, acc = 0;
        int pick = vocab - 1;
        for (int v = 0; v < vocab; v++) {
            acc += exp((logits[v] - mx) / 0.8);
            if (acc >= r) {
                pick = v;
                break;
            }
        }
        out[len++] = pick;
        if (pick == rt_tokenizer_eos(tok)) break;
    }
    char *p = rt_tokenizer_decode(tok, out, (size_t)n_prompt);
    char *c = rt_tokenizer_decode(tok, out + n_prompt, (size_t)(len - n_prompt));
    printf("sample (prompt in brackets):\n[%s]%s\n", p, c);
    free(p);
    free(c);
    free(row);
    free(logits);
    free(out);
}

/* ---- main ------------------------------------------------------------------ */

int main(int argc, char **argv) {
    if (rt_cli_parse(&settings, argc, argv) != 0) return 2;
    if (settings.threads > 0) omp_set_num_threads(settings.threads);
    const rt_settings_t *s = &settings;
    if (s->dry_run) {
        printf("variant %s: max_steps %lld (%s), tokens per step %lld, muon lr %g, adamw lr %g, warmup %lld\n",
               VARIANT_NAME, (long long)s->max_steps,
               s->train_by_epochs ? "derived from epochs x total_train_tokens" : "given", (long long)SEQ_LEN * MICRO_BATCH * GRAD_ACCUM,
               s->muon_lr, s->adamw_lr, (long long)s->warmup_steps);
        return 0;
    }

    rt_tokenizer_t *tok = rt_tokenizer_open(s->tokenizer);
    if (!tok) return 1;
    if (rt_tokenizer_vocab_size(tok) > VOCAB_PADDED)
        rt_die("tokenizer '%s' has %d tokens but variant %s was generated with vocab_size %d; fix the spec and re-run gen",
               s->tokenizer, rt_tokenizer_vocab_size(tok), VARIANT_NAME, VOCAB_SIZE);
    rt_data_t *train = rt_data_open(s, tok, RT_SPLIT_TRAIN);
    if (!train) return 1;
    rt_data_t *val = NULL;
    if (s->eval_every > 0 && !(val = rt_data_open(s, tok, RT_SPLIT_VAL))) return 1;

    model_t *m = model_create();
    train_state_t ts = {0, 0, 0, INFINITY, NAN};
    if (s->resume) {
        if (resume_from_last(m, train, &ts) != 0) return 1;
    } else if (s->init_from && *s->init_from) {
        if (load_weights(m, s->init_from) != 0) return 1;
        printf("loaded weights from %s\n", s->init_from);
    } else {
        model_init_weights(m, s->seed);
    }
    rt_log_t *log = s->resume ? rt_log_open_resume(s->log_dir, ts.step) : rt_log_open(s->log_dir);
    if (!log) return 1;

    const int64_t tokens_per_step = (int64_t)SEQ_LEN * MICRO_BATCH * GRAD_ACCUM;
    const double unigram = rt_data_unigram_entropy(train);
    printf("variant %s (%s backend): %lld parameters, %lld tokens/step, %lld steps; train data %lld tokens in %lld documents\n",
           VARIANT_NAME, s->backend, (long long)N_PARAMS, (long long)tokens_per_step, (long long)s->max_steps,
           (long long)rt_data_num_tokens(train), (long long)rt_data_num_docs(train));
    printf("unigram entropy of the training targets: %.4f nats/token\n", unigram);

    optim_hparams_t h = {
        .muon_lr = s->muon_lr, .muon_momentum = s->muon_momentum, .muon_weight_decay = s->muon_weight_decay,
        .muon_ns_coef = {s->muon_ns_coef[0], s->muon_ns_coef[1], s->muon_ns_coef[2]},
        .muon_nesterov = s->muon_nesterov, .muon_ns_steps = s->muon_ns_steps, .muon_lr_adjust = s->muon_lr_adjust,
        .adamw_lr = s->adamw_lr, .adamw_beta1 = s->adamw_beta1, .adamw_beta2 = s->adamw_beta2,
        .adamw_eps = s->adamw_eps, .adamw_weight_decay = s->adamw_weight_decay,
    };
    batch_t b;
    batch_alloc(&b);
    int32_t first_row[32];
    int n_first = 0;

    double t0 = rt_now(), first_loss = ts.first_loss, best_val = ts.best_val, last_val = NAN;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    double recent[10] = {0};
    int n_recent = 0;
    batch_t mb_buf[GRAD_ACCUM];
    model_batch_t mb[GRAD_ACCUM];
    for (int i = 0; i < GRAD_ACCUM; i++) {
        batch_alloc(&mb_buf[i]);
        mb[i] = (model_batch_t){mb_buf[i].tokens, mb_buf[i].targets, mb_buf[i].mask, mb_buf[i].doc_start};
    }
    for (int64_t step = ts.step; step < s->max_steps; step++) {
        double t_step = rt_now();
        for (int i = 0; i < GRAD_ACCUM; i++)
            if (rt_data_next(train, MICRO_BATCH, SEQ_LEN, mb_buf[i].tokens, mb_buf[i].targets, mb_buf[i].mask,
                             mb_buf[i].doc_start) != 0)
                return 1;
        if (n_first == 0) {
            n_first = SEQ_LEN < 16 ? SEQ_LEN : 16;
            memcpy(first_row, mb_buf[0].tokens, sizeof(int32_t) * (size_t)n_first);
        }
        double ratio = rt_lr_ratio(s, step, s->max_steps);
        double gnorm = 0;
        double loss = model_train_step(m, mb, &h, ratio, s->grad_clip, &gnorm);
        if (!isfinite(loss))
            rt_die("loss is %f at step %lld: training diverged (lower the learning rates)", loss, (long long)step + 1);

        double now = rt_now(), dt = now - t_step;
        double tps = (double)tokens_per_step / (dt > 0 ? dt : 1e-9);
        if (step == 0) first_loss = loss;
        recent[n_recent++ % 10] = loss;
        double eta = (now - t0) / (double)(step + 1 - ts.step) * (double)(s->max_steps - step - 1);
        rt_log_step(log, step + 1, loss, ratio, s->muon_lr * ratio, s->adamw_lr * ratio, tps, gnorm,
                    (step + 1) * tokens_per_step, now - t0);
        if (!s->quiet)
            rt_progress(step + 1, s->max_steps, loss, s->adamw_lr * ratio, tps, eta,
                        (step + 1) % s->log_every == 0 || step + 1 == s->max_steps);

        int last = step + 1 == s->max_steps;
        if (val && ((step + 1) % s->eval_every == 0 || last)) {
            last_val = evaluate(m, val, &b);
            rt_log_eval(log, step + 1, last_val, (step + 1) * tokens_per_step);
            if (!s->quiet) fprintf(stderr, "\n");
            printf("step %lld: val_loss %.4f%s\n", (long long)step + 1, last_val, last_val < best_val ? " (best)" : "");
            if (last_val < best_val) {
                best_val = last_val;
                if (save_checkpoint(m, "best", step + 1, last_val, NULL) != 0) return 1;
            }
        }
        train_state_t now_state = {step + 1, rt_data_position(train), rt_data_epoch(train), best_val, first_loss};
        if (stop_signal) {
            if (save_checkpoint(m, "last", step + 1, last_val, &now_state) != 0) return 1;
            if (!s->quiet) fprintf(stderr, "\n");
            printf("%s at step %lld: saved %s/last; continue with --resume\n", stop_signal == SIGINT ? "interrupted" : "terminated",
                   (long long)step + 1, s->checkpoint_dir);
            return 128 + stop_signal;
        }
        if (s->checkpoint_every > 0 && ((step + 1) % s->checkpoint_every == 0) && !last) {
            if (rotate_last() != 0) return 1;
            if (save_checkpoint(m, "last", step + 1, last_val, &now_state) != 0) return 1;
        }
    }
    {
        train_state_t end_state = {s->max_steps, rt_data_position(train), rt_data_epoch(train), best_val, first_loss};
        if (ts.step < s->max_steps || !s->resume) {
            if (s->checkpoint_every > 0 && rotate_last() != 0) return 1;
            if (save_checkpoint(m, "last", s->max_steps, last_val, &end_state) != 0) return 1;
        }
        if (s->phase == RT_PHASE_FINETUNE && save_checkpoint(m, "finetuned", s->max_steps, last_val, NULL) != 0) return 1;
    }
    double mean_recent = 0;
    int k = n_recent < 10 ? n_recent : 10;
    for (int i = 0; i < k; i++) mean_recent += recent[i];
    mean_recent /= k > 0 ? k : 1;
    printf("\ntrained %lld steps in %.1f s\n", (long long)(s->max_steps - ts.step), rt_now() - t0);
    printf("loss: first %.4f, last %.4f (mean of the last %d steps); unigram entropy %.4f nats/token\n", first_loss,
           mean_recent, k, unigram);
    if (val) printf("validation loss: best %.4f, last %.4f; checkpoint %s/best\n", best_val, last_val, s->checkpoint_dir);
    printf("checkpoint: %s/last%s\n", s->checkpoint_dir, s->phase == RT_PHASE_FINETUNE ? " and finetuned" : "");
    if (s->sample_tokens > 0 && n_first > 0) sample(m, tok, first_row, n_first, s->sample_tokens, s->seed);

    rt_log_close(log);
    rt_data_close(train);
    if (val) rt_data_close(val);
    rt_tokenizer_free(tok);
    model_free(m);
    return 0;
}
