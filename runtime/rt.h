/* rt.h: the small runtime every generated variant links against.
 *
 * The generated program.c owns the training loop; it calls into these
 * modules for everything that does not depend on the model's shapes:
 * settings and CLI, learning-rate schedule, data, tokenizer, logs,
 * safetensors files. All functions report errors with a message that names
 * the file (or flag) and the problem; functions that return int return 0 on
 * success and -1 on error, with the message written to stderr. */
#ifndef RT_H
#define RT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RT_MAX_PATHS 64

/* ------------------------------------------------------------------------
 * Errors (rt_util.c) */
/* Prints "error: <message>\n" to stderr and exits with status 1. */
void rt_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Prints "error: <message>\n" to stderr; returns -1 so callers can `return rt_err(...)`. */
int rt_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* malloc/calloc that die with the byte count on failure. */
void *rt_malloc(size_t n);
void *rt_calloc(size_t n, size_t size);
/* Reads a whole file; NULL (and an error message naming the file) on failure. */
char *rt_read_file(const char *path, size_t *len);
/* mkdir -p; 0 or -1 with a message. */
int rt_mkdirs(const char *dir);
/* Writes `len` bytes to `path` atomically: path.tmp, fsync, rename, fsync dir. */
int rt_write_file_atomic(const char *path, const void *data, size_t len);
/* Same, for the concatenation of n buffers (parts[i], lens[i]), without copying
 * them together first (checkpoints can be larger than spare memory). */
int rt_write_file_atomic_parts(const char *path, const void *const *parts, const size_t *lens,
                               int n);
/* One step of the splitmix64 generator from state x: a well-mixed 64-bit hash
 * of x (used for the validation split and by tools that need a seeded RNG). */
uint64_t rt_splitmix64(uint64_t x);
/* rm -rf of a folder the program itself wrote. */
int rt_remove_tree(const char *path);
/* Replaces folder `final` by the fully written folder `tmp` (fsync, renames;
 * a crash leaves `final` or `final.old`, never a partial folder). */
int rt_commit_dir(const char *tmp, const char *final);
/* Monotonic seconds. */
double rt_now(void);

/* ------------------------------------------------------------------------
 * Settings (rt_cli.c): everything in the spec that is not a shape. The
 * generated program fills the defaults from the spec; the CLI overrides. */
enum { RT_PHASE_PRETRAIN = 0, RT_PHASE_FINETUNE = 1 };
enum { RT_DECAY_COSINE = 0, RT_DECAY_LINEAR = 1, RT_DECAY_CONSTANT = 2 };
enum { RT_LR_ADJUST_ORIGINAL = 0, RT_LR_ADJUST_MATCH_RMS_ADAMW = 1 };

typedef struct {
    /* identity (not overridable) */
    const char *name;
    const char *spec_hash;
    const char *backend;
    /* the compiled shapes, for messages and for tokens-per-step arithmetic */
    int seq_len, micro_batch, grad_accum, vocab_size, vocab_padded;
    /* the model's shapes, only for the message refusing --d-model etc. (0: unknown) */
    int d_model, n_layer, d_state, d_conv, expand, dt_rank;
    /* optimizer */
    double muon_lr, muon_momentum, muon_weight_decay;
    int muon_nesterov, muon_ns_steps, muon_lr_adjust;
    double muon_ns_coef[3];
    double adamw_lr, adamw_beta1, adamw_beta2, adamw_eps, adamw_weight_decay;
    double grad_clip;
    /* schedule */
    int64_t warmup_steps;
    int decay;
    double min_lr_ratio;
    /* train */
    int phase;
    int train_by_epochs;
    double num_epochs;
    int64_t total_train_tokens;
    int64_t max_steps;
    int64_t eval_every, eval_tokens, checkpoint_every;
    uint64_t seed;
    int reset_state_at_doc_boundaries;
    const char *init_from;          /* NULL or "" when none */
    /* data */
    const char *data_source;        /* local | hf | url */
    const char *data_paths[RT_MAX_PATHS];
    int n_data_paths;
    const char *data_url;
    const char *data_format;        /* auto | txt | jsonl | parquet */
    const char *dataset, *data_config, *data_split;
    const char *text_column;
    const char *prompt_template;    /* none | alpaca */
    double validation_fraction;
    /* tokenizer, checkpoints, logs */
    const char *tokenizer;
    const char *checkpoint_dir;
    int keep_last;
    const char *log_dir;
    int log_every;
    /* runtime-only knobs (not in the spec) */
    int sample_tokens;              /* tokens sampled at the end of training (0: none) */
    int threads;                    /* 0: OpenMP default */
    int quiet;                      /* no progress line */
    int dry_run;                    /* print the resolved settings and exit */
    int resume;                     /* continue from checkpoint_dir/last */
} rt_settings_t;

/* Parses argv over `s` (already holding the spec's values). Handles --help
 * (prints usage, exits 0). A shape flag (--seq-len, --micro-batch,
 * --grad-accum, --d-model, --n-layer, --vocab-size, --d-state, --d-conv,
 * --expand, --dt-rank) is refused with a message naming the compiled value
 * and saying to edit the spec and re-run gen. Unknown flags and bad values are
 * errors. After parsing, when train_by_epochs is set, max_steps is derived:
 * ceil(num_epochs * total_train_tokens / (seq_len*micro_batch*grad_accum)).
 * Returns 0, or -1 after printing the problem. */
int rt_cli_parse(rt_settings_t *s, int argc, char **argv);
void rt_cli_usage(const rt_settings_t *s, const char *prog, FILE *out);
/* ceil(num_epochs * total_train_tokens / tokens_per_step), at least 1. */
int64_t rt_steps_for_epochs(double num_epochs, int64_t total_train_tokens, int64_t tokens_per_step);

/* ------------------------------------------------------------------------
 * Learning-rate schedule (rt_schedule.c). Returns the multiplier applied to
 * both optimizers' base lr at 0-based `step`: linear warm-up (step+1)/warmup
 * over the first warmup_steps, then cosine / linear / constant decay from 1
 * to min_lr_ratio at step max_steps-1. */
double rt_lr_ratio(const rt_settings_t *s, int64_t step, int64_t max_steps);

/* ------------------------------------------------------------------------
 * Tokenizer (rt_tokenizer.c). Names:
 *   "bytes"          ids 0..255 are the bytes, id 256 is <|endoftext|> (vocab 257);
 *   a file           a Hugging Face tokenizer.json (byte-level BPE, bpe.h);
 *   a directory      GPT-2's encoder.json + vocab.bpe (else its tokenizer.json);
 *   "hf:OWNER/NAME"  that model repo's tokenizer.json, fetched into the HF
 *                    cache (HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_OFFLINE).
 * EOS is the tokenizer's <|endoftext|> (an error when it has none). The
 * encoder is safe to call from several threads at once. */
typedef struct rt_tokenizer rt_tokenizer_t;
rt_tokenizer_t *rt_tokenizer_open(const char *name);   /* NULL + message on error */
void rt_tokenizer_free(rt_tokenizer_t *t);
/* "hf:OWNER/NAME": downloads (or finds in the HF cache) the repo's tokenizer.json
 * and writes its local path into path[n]. 0, or -1 with a message. */
int rt_tokenizer_fetch_hf(const char *name, char *path, size_t n);
int rt_tokenizer_vocab_size(const rt_tokenizer_t *t);
int32_t rt_tokenizer_eos(const rt_tokenizer_t *t);
/* Appends ids of text[0..len) to *ids (realloc'd, *n and *cap updated). */
int rt_tokenizer_encode(const rt_tokenizer_t *t, const char *text, size_t len,
                        int32_t **ids, size_t *n, size_t *cap);
/* Decodes ids into a malloc'd NUL-terminated string (EOS decodes as "<|endoftext|>"). */
char *rt_tokenizer_decode(const rt_tokenizer_t *t, const int32_t *ids, size_t n);

/* ------------------------------------------------------------------------
 * Data (rt_data.c): documents -> tokens -> rows of seq_len+1.
 * Local sources: .txt (one document per blank-line-separated paragraph
 * block; a file with no blank lines is one document per line) and .jsonl
 * (one JSON object per line, text in settings->text_column; with
 * prompt_template "alpaca", fields instruction/input/output rendered with the
 * Alpaca template and the loss mask set on the response and its EOS only).
 * Each document is followed by EOS. A document goes to the validation split
 * when hash(file index, row in the file) falls under validation_fraction,
 * deterministically and independently of the seed. The train split loops over epochs; `epoch` counts them.
 * (Parquet, URL and Hub sources and the streaming behaviour: see below.) */
typedef struct rt_data rt_data_t;
enum { RT_SPLIT_TRAIN = 0, RT_SPLIT_VAL = 1 };
rt_data_t *rt_data_open(const rt_settings_t *s, const rt_tokenizer_t *tok, int split);
void rt_data_close(rt_data_t *d);
/* Fills one micro-batch of B rows of T tokens:
 *   tokens[b*T+t], targets[b*T+t] (= next token), mask[b*T+t] in {0,1}
 *   (loss weight of targets[b*T+t]), doc_start[b*T+t] = 1 where tokens[b*T+t]
 *   is the first token of a document (only real document starts: a row that
 *   begins mid-document has doc_start 0 at t=0).
 * Rows are consecutive windows of the token stream (stride T; each row holds
 * T+1 tokens, the last one serving as the final target).
 * Returns 0, or -1 on error (message printed). The validation split wraps
 * around silently; the training split wraps and increments the epoch. */
int rt_data_next(rt_data_t *d, int B, int T, int32_t *tokens, int32_t *targets,
                 float *mask, uint8_t *doc_start);
int64_t rt_data_epoch(const rt_data_t *d);
/* Back to the first row of the split (evaluation reads the same rows each time). */
void rt_data_rewind(rt_data_t *d);
/* Where the next row starts (token offset in this split's stream, in
 * [0, num_tokens)); saved in checkpoints so a resumed run reads the same rows.
 * (For a streaming source, prefer rt_data_get_state: see below.) */
int64_t rt_data_position(const rt_data_t *d);
/* Restores a position and epoch saved from rt_data_position/rt_data_epoch;
 * -1 (message) when the position is outside the stream. */
int rt_data_seek(rt_data_t *d, int64_t position, int64_t epoch);
int64_t rt_data_num_tokens(const rt_data_t *d);      /* tokens in this split */
int64_t rt_data_num_docs(const rt_data_t *d);
/* Unigram entropy (nats per token) of this split's token stream, counting
 * only masked-in targets. */
double rt_data_unigram_entropy(const rt_data_t *d);

/* The streaming pipeline (rt_data.c, rt_data_source.c, rt_data_unit.c,
 * rt_data_pipe.c). Besides local txt/jsonl, sources are local parquet files,
 * data.source url (one http(s) file: parquet read by range requests, txt or
 * jsonl downloaded whole) and data.source hf (the parquet files of a Hub
 * dataset's config and split, at the commit `main` pointed to when the run
 * started). Parquet rows give documents from text_column, or with
 * prompt_template alpaca from the columns instruction, input (may be
 * absent) and output. Worker threads decode and tokenise ahead of the
 * training loop; the token stream does not depend on their number or timing.
 *
 * Documents are identified by (file index, row in the file); the validation
 * split holds those with splitmix64(file << 40 | row) / 2^64 below
 * validation_fraction (for one file: the document index, as before).
 *
 * A source of at most `memory_bytes` bytes is read whole at open, as this
 * module always did: num_tokens, num_docs and the entropy are exact and
 * seeks are immediate. A larger one streams: rt_data_num_tokens returns -1
 * (not known before a full pass), rt_data_num_docs returns -1 unless every
 * file's row count is known (local and url sources, and hf sources of up to
 * 64 files), rt_data_unigram_entropy is estimated on the next 2^20 tokens, and
 * rt_data_seek must read the stream from the start of the epoch up to the
 * position: save rt_data_get_state instead, which restores at once. The
 * validation split keeps what it has read in memory (evaluation re-reads it).
 *
 * Errors (an unreadable file, a bad row, an HTTP failure after hub.c's
 * retries) stop the stream: rt_data_next returns -1 after printing a message
 * naming the file (and row group / line); no data is skipped. */
typedef struct {
    int threads;            /* worker threads; 0: $RT_DATA_THREADS, else min(4, cores - 1), >= 1 */
    int64_t memory_bytes;   /* 0: $RT_DATA_MEMORY_MB MiB, else 64 MiB; < 0: always stream */
    int64_t unit_bytes;     /* txt/jsonl files are cut into units of about this many bytes
                               (0: 1 MiB); the stream does not depend on it */
    const void *hub_config; /* a const hub_config_t * (hub.h) for hf/url sources, kept until
                               rt_data_close; NULL: the environment (hub_config_from_env) */
    int eager_files;        /* hf: every footer is read at open when the dataset has at most
                               this many files (0: 64); else files open as the stream reaches
                               them (and rt_data_num_docs is -1) */
} rt_data_options_t;
/* rt_data_open with explicit options (NULL: the defaults). */
rt_data_t *rt_data_open_ex(const rt_settings_t *s, const rt_tokenizer_t *tok, int split,
                           const rt_data_options_t *opt);

/* The exact stream position as one line of text for checkpoint metadata:
 *   "rt-data-1 split=train epoch=E pos=P file=F rg=G row=R tok=K src=HEX rev=COMMIT"
 * (file index, parquet row group (0 for text files), row in the row group
 * (text files: document in the file), token in that document, the token
 * offset in the epoch, a fingerprint of the file list and, for hf, the
 * commit read). Returns the length written (< n), or -1 when n is too
 * small. RT_DATA_STATE_MAX bytes always suffice. */
#define RT_DATA_STATE_MAX 512
int rt_data_get_state(const rt_data_t *d, char *buf, size_t n);
/* Restores a state from rt_data_get_state of the same split of the same data
 * (for hf: the same commit is listed again if main has moved since): the
 * next row is the one that would have come next. -1 with a message when the
 * state is malformed or from other data. */
int rt_data_set_state(rt_data_t *d, const char *state);
/* Worker threads this handle uses (after defaults). */
int rt_data_threads(const rt_data_t *d);

/* ------------------------------------------------------------------------
 * Logs (rt_log.c): logs/<name>/metrics.jsonl and the console progress line. */
typedef struct rt_log rt_log_t;
rt_log_t *rt_log_open(const char *dir);   /* creates dir, truncates metrics.jsonl */
/* The same for a resumed run: keeps the existing lines up to `step`, appends after them. */
rt_log_t *rt_log_open_resume(const char *dir, int64_t step);
void rt_log_close(rt_log_t *l);
/* One JSON line {"step":..,"loss":..,"lr":..,"lr_muon":..,"lr_adamw":..,
 * "tokens_per_s":..,"grad_norm":..,"tokens":..,"elapsed_s":..}. */
void rt_log_step(rt_log_t *l, int64_t step, double loss, double lr_ratio, double lr_muon,
                 double lr_adamw, double tokens_per_s, double grad_norm, int64_t tokens,
                 double elapsed_s);
/* {"step":..,"val_loss":..,"tokens":..} */
void rt_log_eval(rt_log_t *l, int64_t step, double val_loss, int64_t tokens);
/* One console line, rewritten in place on a terminal, a new line every
 * `every` steps otherwise: "step 120/600 | loss 2.3456 | lr 1.2e-03 |
 * 12,345 tok/s | ETA 1m05s". */
void rt_progress(int64_t step, int64_t total, double loss, double lr, double tokens_per_s,
                 double eta_s, int newline);

/* ------------------------------------------------------------------------
 * safetensors (rt_safetensors.c): F32 tensors by name, written atomically. */
typedef struct {
    const char *name;
    int ndim;
    int64_t shape[4];
    const float *data;     /* for save */
} rt_tensor_t;
/* Writes all tensors (header sorted by name as the format recommends is NOT
 * required; we keep the given order) with optional __metadata__ pairs
 * (keys[i], values[i]). Atomic. */
int rt_safetensors_save(const char *path, const rt_tensor_t *tensors, int n,
                        const char *const *meta_keys, const char *const *meta_values, int n_meta);
typedef struct rt_safetensors rt_safetensors_t;
rt_safetensors_t *rt_safetensors_open(const char *path);   /* validates header and sizes */
void rt_safetensors_close(rt_safetensors_t *f);
int rt_safetensors_count(const rt_safetensors_t *f);
const char *rt_safetensors_name(const rt_safetensors_t *f, int i);
/* Finds `name`; fills dtype ("F32", "F16", "BF16", "F64", "I32", "I64"), ndim, shape. -1 if absent. */
int rt_safetensors_find(const rt_safetensors_t *f, const char *name, const char **dtype,
                        int *ndim, int64_t shape[8]);
/* Copies tensor `name` converted to float32 into out[numel] (F32/F16/BF16/F64 accepted);
 * checks numel. */
int rt_safetensors_read_f32(const rt_safetensors_t *f, const char *name, float *out, int64_t numel);
/* Same for integer tensors (I32/I64) into int32. */
int rt_safetensors_read_i32(const rt_safetensors_t *f, const char *name, int32_t *out, int64_t numel);
/* Metadata value for key, or NULL. */
const char *rt_safetensors_meta(const rt_safetensors_t *f, const char *key);

#endif
