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
#include <unistd.h>

#include "model.h"
#include "rt.h"
#include "hparams.h"
#include "sample.h"
#include "rt_report.h"

_Static_assert(sizeof(real) == sizeof(float), "the training program runs in fp32");

static rt_settings_t settings = {
/*@ settings @*/
};

/*@ spec_lock @*/

#include <signal.h>

#include "checkpoint.h"

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

/* A short sample after training, in recurrent mode (sample.h). */
static void sample(model_t *m, const rt_tokenizer_t *tok, const int32_t *prompt, int n_prompt, int n, uint64_t seed) {
    sampler_t sm = {0.8, 1.0, 0, n, 1, seed};
    size_t got;
    double tps;
    int32_t *out = sample_ids(m, tok, &sm, prompt, (size_t)n_prompt, &got, &tps, 0);
    char *p = rt_tokenizer_decode(tok, prompt, (size_t)n_prompt);
    char *c = rt_tokenizer_decode(tok, out, got);
    printf("sample (prompt in brackets):\n[%s]%s\n", p, c);
    free(p);
    free(c);
    free(out);
}

/* ---- main ------------------------------------------------------------------ */

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* results and the progress line (stderr) interleave in order */
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
    train_state_t ts = {0, 0, 0, INFINITY, NAN, ""};
    if (s->resume) {
        if (resume_from_last(m, s->checkpoint_dir, train, &ts) != 0) return 1;
    } else if (s->init_from && *s->init_from) {
        if (load_weights(m, s->init_from) != 0) return 1;
        printf("loaded weights from %s\n", s->init_from);
    } else {
        model_init_weights(m, s->seed);
    }
    rt_log_t *log = s->resume ? rt_log_open_resume(s->log_dir, ts.step) : rt_log_open(s->log_dir);
    if (!log) return 1;
    char lock_path[4200], metrics_path[4200], report_path[4200];
    snprintf(lock_path, sizeof lock_path, "%s/spec.lock.yaml", s->log_dir);
    snprintf(metrics_path, sizeof metrics_path, "%s/metrics.jsonl", s->log_dir);
    snprintf(report_path, sizeof report_path, "%s/report.html", s->log_dir);
    if (rt_write_file_atomic(lock_path, SPEC_LOCK_YAML, sizeof SPEC_LOCK_YAML - 1) != 0) return 1;

    const int64_t tokens_per_step = (int64_t)SEQ_LEN * MICRO_BATCH * GRAD_ACCUM;
    const double unigram = rt_data_unigram_entropy(train);
    printf("variant %s (%s backend): %lld parameters, %lld tokens/step, %lld steps; ", VARIANT_NAME, s->backend,
           (long long)N_PARAMS, (long long)tokens_per_step, (long long)s->max_steps);
    if (rt_data_num_tokens(train) >= 0)
        printf("train data %lld tokens in %lld documents\n", (long long)rt_data_num_tokens(train),
               (long long)rt_data_num_docs(train));
    else
        printf("train data streamed (%d reader threads)\n", rt_data_threads(train));
    printf("unigram entropy of the training targets: %.4f nats/token%s\n", unigram,
           rt_data_num_tokens(train) < 0 ? " (estimated on the first 2^20 tokens)" : "");

    optim_hparams_t h = hparams_from_settings(s);
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
            if (!s->quiet && isatty(2)) fprintf(stderr, "\n"); /* end the in-place progress line */
            printf("step %lld: val_loss %.4f%s\n", (long long)step + 1, last_val, last_val < best_val ? " (best)" : "");
            if (last_val < best_val) {
                best_val = last_val;
                if (save_checkpoint(m, s->checkpoint_dir, "best", step + 1, last_val, NULL) != 0) return 1;
            }
        }
        train_state_t now_state = {step + 1, rt_data_position(train), rt_data_epoch(train), best_val, first_loss, ""};
        if (rt_data_get_state(train, now_state.data_state, sizeof now_state.data_state) < 0) return 1;
        if (stop_signal) {
            if (save_checkpoint(m, s->checkpoint_dir, "last", step + 1, last_val, &now_state) != 0) return 1;
            if (!s->quiet && isatty(2)) fprintf(stderr, "\n");
            printf("%s at step %lld: saved %s/last; continue with --resume\n", stop_signal == SIGINT ? "interrupted" : "terminated",
                   (long long)step + 1, s->checkpoint_dir);
            return 128 + stop_signal;
        }
        if (s->checkpoint_every > 0 && ((step + 1) % s->checkpoint_every == 0) && !last) {
            if (rotate_last(s->checkpoint_dir, s->keep_last) != 0) return 1;
            if (save_checkpoint(m, s->checkpoint_dir, "last", step + 1, last_val, &now_state) != 0) return 1;
        }
    }
    {
        train_state_t end_state = {s->max_steps, rt_data_position(train), rt_data_epoch(train), best_val, first_loss, ""};
        if (rt_data_get_state(train, end_state.data_state, sizeof end_state.data_state) < 0) return 1;
        if (ts.step < s->max_steps || !s->resume) {
            if (s->checkpoint_every > 0 && rotate_last(s->checkpoint_dir, s->keep_last) != 0) return 1;
            if (save_checkpoint(m, s->checkpoint_dir, "last", s->max_steps, last_val, &end_state) != 0) return 1;
        }
        if (s->phase == RT_PHASE_FINETUNE && save_checkpoint(m, s->checkpoint_dir, "finetuned", s->max_steps, last_val, NULL) != 0) return 1;
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
    if (rt_report_write(metrics_path, lock_path, report_path) == 0) printf("report: %s\n", report_path);
    rt_data_close(train);
    if (val) rt_data_close(val);
    rt_tokenizer_free(tok);
    model_free(m);
    return 0;
}
