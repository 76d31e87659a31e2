/* check_runtime.c: tests of the runtime basics (rt.h): CLI, schedule,
 * tokenizer, data, safetensors, atomic writes, logs.
 *
 * Every test that touches files gets its own fresh directory under /tmp
 * (removed afterwards); error messages are captured from stderr and checked,
 * since a clear message is part of each function's contract. */
#include "rt.h"
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- fixtures and helpers ---- */
static void setup_tmp(void) { tu_setup_tmp("check_runtime"); }
static void teardown_tmp(void) { tu_teardown_tmp(); }

/* The settings a generated tiny variant would start from. */
static rt_settings_t tiny_settings(void) {
    rt_settings_t s;
    memset(&s, 0, sizeof s);
    s.name = "tiny";
    s.spec_hash = "0123abcd";
    s.backend = "cpu";
    s.seq_len = 128;
    s.micro_batch = 8;
    s.grad_accum = 8;  /* 8192 tokens per step */
    s.vocab_size = 257;
    s.vocab_padded = 264;
    s.d_model = 64;
    s.n_layer = 2;
    s.d_state = 16;
    s.d_conv = 4;
    s.expand = 2;
    s.dt_rank = 4;
    s.muon_lr = 0.02;
    s.adamw_lr = 0.003;
    s.adamw_weight_decay = 0.1;
    s.grad_clip = 1.0;
    s.warmup_steps = 10;
    s.decay = RT_DECAY_COSINE;
    s.min_lr_ratio = 0.1;
    s.max_steps = 600;
    s.num_epochs = 1;
    s.total_train_tokens = 1000000;
    s.eval_every = 100;
    s.eval_tokens = 8192;
    s.seed = 1337;
    s.data_source = "local";
    s.data_paths[0] = "data/train.txt";
    s.n_data_paths = 1;
    s.data_format = "auto";
    s.text_column = "text";
    s.prompt_template = "none";
    s.validation_fraction = 0.0;
    s.tokenizer = "bytes";
    s.checkpoint_dir = "checkpoints/tiny";
    s.log_dir = "logs/tiny";
    s.log_every = 10;
    return s;
}

/* Runs rt_cli_parse over a NULL-terminated flag list; returns its result and
 * the captured stderr in *msg (caller frees). */
static int parse(rt_settings_t *s, char **msg, ...) {
    char *argv[64];
    int argc = 0;
    argv[argc++] = "train";
    va_list ap;
    va_start(ap, msg);
    for (char *a; (a = va_arg(ap, char *)) != NULL;) argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    cap_begin();
    int rc = rt_cli_parse(s, argc, argv);
    char *m = cap_end();
    if (msg) *msg = m;
    else free(m);
    return rc;
}

/* ======================================================================
 * CLI */
START_TEST(cli_overrides) {
    rt_settings_t s = tiny_settings();
    char *msg;
    int rc = parse(&s, &msg, "--max-steps", "100", "--warmup-steps=5", "--muon-lr", "0.01",
                   "--adamw-lr=0.002", "--lr-scale", "0.5", "--muon-weight-decay", "0.01",
                   "--adamw-weight-decay=0", "--grad-clip", "0.5", "--seed", "42",
                   "--eval-every", "0", "--eval-tokens", "4096", "--checkpoint-every", "50",
                   "--log-every", "3", "--data", "a.txt", "--data=b/*.jsonl", "--data-format",
                   "jsonl", "--text-column", "body", "--validation-fraction", "0.25",
                   "--tokenizer", "bytes", "--checkpoint-dir", "ck", "--log-dir=lg",
                   "--init-from", "base", "--sample-tokens", "64", "--threads", "2", "--quiet",
                   NULL);
    ck_assert_msg(rc == 0, "parse failed: %s", msg);
    ck_assert_str_eq(msg, "");
    ck_assert_int_eq(s.max_steps, 100);
    ck_assert_int_eq(s.warmup_steps, 5);
    ck_assert_double_eq_tol(s.muon_lr, 0.005, 1e-15);   /* lr-scale applies after both lrs */
    ck_assert_double_eq_tol(s.adamw_lr, 0.001, 1e-15);
    ck_assert_double_eq(s.muon_weight_decay, 0.01);
    ck_assert_double_eq(s.adamw_weight_decay, 0.0);
    ck_assert_double_eq(s.grad_clip, 0.5);
    ck_assert_uint_eq(s.seed, 42);
    ck_assert_int_eq(s.eval_every, 0);
    ck_assert_int_eq(s.eval_tokens, 4096);
    ck_assert_int_eq(s.checkpoint_every, 50);
    ck_assert_int_eq(s.log_every, 3);
    ck_assert_int_eq(s.n_data_paths, 2);  /* the first --data replaced the spec's path */
    ck_assert_str_eq(s.data_paths[0], "a.txt");
    ck_assert_str_eq(s.data_paths[1], "b/*.jsonl");
    ck_assert_str_eq(s.data_source, "local");
    ck_assert_str_eq(s.data_format, "jsonl");
    ck_assert_str_eq(s.text_column, "body");
    ck_assert_double_eq(s.validation_fraction, 0.25);
    ck_assert_str_eq(s.checkpoint_dir, "ck");
    ck_assert_str_eq(s.log_dir, "lg");
    ck_assert_str_eq(s.init_from, "base");
    ck_assert_int_eq(s.sample_tokens, 64);
    ck_assert_int_eq(s.threads, 2);
    ck_assert_int_eq(s.quiet, 1);
    ck_assert_int_eq(s.train_by_epochs, 0);
    free(msg);

    /* No flags: the spec's values stand. */
    rt_settings_t t = tiny_settings();
    ck_assert_int_eq(parse(&t, NULL, NULL), 0);
    ck_assert_int_eq(t.max_steps, 600);
    ck_assert_double_eq(t.muon_lr, 0.02);
    ck_assert_str_eq(t.data_paths[0], "data/train.txt");

    /* --data from an hf spec switches the source to local. */
    t = tiny_settings();
    t.data_source = "hf";
    t.n_data_paths = 0;
    ck_assert_int_eq(parse(&t, NULL, "--data", "x.txt", NULL), 0);
    ck_assert_str_eq(t.data_source, "local");
    ck_assert_int_eq(t.n_data_paths, 1);
}
END_TEST

START_TEST(cli_shape_flags_refused) {
    static const char *flags[][3] = {
        {"--seq-len", "seq_len", "128"},       {"--micro-batch", "micro_batch", "8"},
        {"--grad-accum", "grad_accum", "8"},   {"--d-model", "d_model", "64"},
        {"--n-layer", "n_layer", "2"},         {"--vocab-size", "vocab_size", "257"},
        {"--d-state", "d_state", "16"},        {"--d-conv", "d_conv", "4"},
        {"--expand", "expand", "2"},           {"--dt-rank", "dt_rank", "4"},
    };
    for (int i = 0; i < 10; i++) {
        rt_settings_t s = tiny_settings();
        char *msg, want[256];
        int rc = parse(&s, &msg, (char *)flags[i][0], "256", NULL);
        ck_assert_int_eq(rc, -1);
        snprintf(want, sizeof want,
                 "error: %s: %s is a compiled shape of variant 'tiny' (%s); edit the spec and "
                 "re-run gen\n", flags[i][0], flags[i][1], flags[i][2]);
        ck_assert_str_eq(msg, want);
        ck_assert_int_eq(s.seq_len, 128);
        free(msg);
    }
    rt_settings_t s = tiny_settings();
    char *msg;
    ck_assert_int_eq(parse(&s, &msg, "--seq-len=4096", NULL), -1);
    ck_assert_str_eq(msg, "error: --seq-len: seq_len is a compiled shape of variant 'tiny' (128); "
                          "edit the spec and re-run gen\n");
    free(msg);
}
END_TEST

START_TEST(cli_bad_values) {
    static const struct {
        const char *flag, *value, *want;
    } cases[] = {
        {"--max-steps", "abc", "error: --max-steps: expected a positive integer, got 'abc'\n"},
        {"--max-steps", "0", "error: --max-steps: expected a positive integer, got '0'\n"},
        {"--max-steps", "12x", "error: --max-steps: expected a positive integer, got '12x'\n"},
        {"--max-steps", "", "error: --max-steps: expected a positive integer, got ''\n"},
        {"--warmup-steps", "-1",
         "error: --warmup-steps: expected a non-negative integer, got '-1'\n"},
        {"--muon-lr", "nan", "error: --muon-lr: expected a number >= 0, got 'nan'\n"},
        {"--adamw-lr", "-0.1", "error: --adamw-lr: expected a number >= 0, got '-0.1'\n"},
        {"--lr-scale", "0", "error: --lr-scale: expected a number > 0, got '0'\n"},
        {"--validation-fraction", "1",
         "error: --validation-fraction: expected a number in [0, 1), got '1'\n"},
        {"--data-format", "xml",
         "error: --data-format: expected one of auto, txt, jsonl, parquet, got 'xml'\n"},
        {"--log-every", "1.5", "error: --log-every: expected a positive integer, got '1.5'\n"},
        {"--seed", "-3", "error: --seed: expected a non-negative integer, got '-3'\n"},
        {"--epochs", "0", "error: --epochs: expected a number of epochs > 0, got '0'\n"},
        {"--threads", "99999999999",
         "error: --threads: expected a non-negative integer, got '99999999999'\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rt_settings_t s = tiny_settings();
        char *msg;
        ck_assert_int_eq(parse(&s, &msg, (char *)cases[i].flag, (char *)cases[i].value, NULL), -1);
        ck_assert_str_eq(msg, cases[i].want);
        free(msg);
    }
    rt_settings_t s = tiny_settings();
    char *msg;
    ck_assert_int_eq(parse(&s, &msg, "--max-steps", NULL), -1);
    ck_assert_str_eq(msg, "error: --max-steps: missing value (N)\n");
    free(msg);
    ck_assert_int_eq(parse(&s, &msg, "--bogus", "1", NULL), -1);
    ck_assert_str_eq(msg, "error: unknown flag '--bogus' (see --help)\n");
    free(msg);
    ck_assert_int_eq(parse(&s, &msg, "stray", NULL), -1);
    ck_assert_contains(msg, "unexpected argument 'stray'");
    free(msg);
    ck_assert_int_eq(parse(&s, &msg, "--quiet=yes", NULL), -1);
    ck_assert_contains(msg, "--quiet takes no value");
    free(msg);
    ck_assert_int_eq(parse(&s, &msg, "-m", "3", NULL), -1);
    ck_assert_contains(msg, "unexpected argument '-m'");
    free(msg);
}
END_TEST

START_TEST(cli_epochs_and_warmup) {
    /* 2 epochs x 1,000,000 tokens / (128*8*8 = 8192 tokens per step) = 244.1 -> 245 */
    rt_settings_t s = tiny_settings();
    ck_assert_int_eq(parse(&s, NULL, "--epochs", "2", "--total-train-tokens", "1000000", NULL), 0);
    ck_assert_int_eq(s.train_by_epochs, 1);
    ck_assert_double_eq(s.num_epochs, 2.0);
    ck_assert_int_eq(s.max_steps, 245);

    /* A spec that trains by epochs gets max_steps derived without flags. */
    s = tiny_settings();
    s.train_by_epochs = 1;
    s.num_epochs = 3;
    s.total_train_tokens = 8192 * 10;
    ck_assert_int_eq(parse(&s, NULL, NULL), 0);
    ck_assert_int_eq(s.max_steps, 30);
    /* ...and an explicit --max-steps turns epochs off. */
    s = tiny_settings();
    s.train_by_epochs = 1;
    ck_assert_int_eq(parse(&s, NULL, "--max-steps", "77", NULL), 0);
    ck_assert_int_eq(s.train_by_epochs, 0);
    ck_assert_int_eq(s.max_steps, 77);

    char *msg;
    s = tiny_settings();
    ck_assert_int_eq(parse(&s, &msg, "--max-steps", "5", "--epochs", "1", NULL), -1);
    ck_assert_contains(msg, "--max-steps and --epochs");
    free(msg);

    ck_assert_int_eq(rt_steps_for_epochs(1, 81920, 8192), 10);
    ck_assert_int_eq(rt_steps_for_epochs(1, 81921, 8192), 11);
    ck_assert_int_eq(rt_steps_for_epochs(0.1, 819200, 8192), 10);  /* 0.1 is inexact */
    ck_assert_int_eq(rt_steps_for_epochs(0.5, 100, 8192), 1);
    ck_assert_int_eq(rt_steps_for_epochs(2.5, 1000000, 8192), 306);

    /* warmup must end before training does */
    s = tiny_settings();
    ck_assert_int_eq(parse(&s, &msg, "--max-steps", "10", NULL), -1);
    ck_assert_str_eq(msg, "error: warmup_steps (10) must be smaller than max_steps (10): lower "
                          "--warmup-steps or raise --max-steps\n");
    free(msg);
    s = tiny_settings();
    ck_assert_int_eq(parse(&s, &msg, "--epochs", "1", "--total-train-tokens", "8192", NULL), -1);
    ck_assert_contains(msg, "warmup_steps (10) must be smaller than max_steps (1)");
    free(msg);
    s = tiny_settings();
    ck_assert_int_eq(parse(&s, NULL, "--max-steps", "11", NULL), 0);
}
END_TEST

START_TEST(cli_usage_lists_flags) {
    rt_settings_t s = tiny_settings();
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rt_cli_usage(&s, "train", f);
    fclose(f);
    static const char *flags[] = {
        "--max-steps N", "--warmup-steps N", "--muon-lr LR", "--adamw-lr LR", "--lr-scale X",
        "--muon-weight-decay WD", "--adamw-weight-decay WD", "--grad-clip X", "--seed N",
        "--eval-every N", "--eval-tokens N", "--checkpoint-every N", "--log-every N",
        "--data PATH", "--data-format FMT", "--text-column NAME", "--validation-fraction X",
        "--tokenizer NAME", "--checkpoint-dir DIR", "--log-dir DIR", "--init-from DIR",
        "--epochs X", "--total-train-tokens N", "--sample-tokens N", "--threads N", "--quiet",
        "--help"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) ck_assert_contains(buf, flags[i]);
    ck_assert_contains(buf, "[600]");                 /* max steps */
    ck_assert_contains(buf, "[0.02]");                /* muon lr */
    ck_assert_contains(buf, "[1337]");                /* seed */
    ck_assert_contains(buf, "[local: data/train.txt]");
    ck_assert_contains(buf, "seq_len=128");
    ck_assert_contains(buf, "variant 'tiny'");
    free(buf);
}
END_TEST

START_TEST(cli_help_exits_zero) {
    rt_settings_t s = tiny_settings();
    char *argv[] = {"train", "--help", NULL};
    if (!freopen("/dev/null", "w", stdout)) ck_abort_msg("cannot reopen stdout");
    rt_cli_parse(&s, 2, argv);
    ck_abort_msg("--help returned instead of exiting");
}
END_TEST

START_TEST(die_exits_one) {
    if (!freopen("/dev/null", "w", stderr)) ck_abort_msg("cannot reopen stderr");
    rt_die("boom %d", 3);
}
END_TEST

/* ======================================================================
 * Schedule */
START_TEST(schedule_values) {
    rt_settings_t s = tiny_settings();
    s.warmup_steps = 10;
    s.min_lr_ratio = 0.1;
    const int64_t M = 111;  /* decay span = 111-1-10 = 100 steps */
    int kinds[] = {RT_DECAY_COSINE, RT_DECAY_LINEAR, RT_DECAY_CONSTANT};
    double mid[] = {0.55, 0.55, 1.0}, quarter[] = {0.1 + 0.9 * 0.5 * (1 + cos(M_PI / 4)), 0.775, 1.0},
           end[] = {0.1, 0.1, 1.0};
    for (int k = 0; k < 3; k++) {
        s.decay = kinds[k];
        ck_assert_double_eq_tol(rt_lr_ratio(&s, 0, M), 0.1, 1e-12);   /* (0+1)/10 */
        ck_assert_double_eq_tol(rt_lr_ratio(&s, 4, M), 0.5, 1e-12);
        ck_assert_double_eq_tol(rt_lr_ratio(&s, 9, M), 1.0, 1e-12);
        ck_assert_double_eq_tol(rt_lr_ratio(&s, 10, M), 1.0, 1e-12);  /* decay starts at 1 */
        ck_assert_double_eq_tol(rt_lr_ratio(&s, 35, M), quarter[k], 1e-12);
        ck_assert_double_eq_tol(rt_lr_ratio(&s, 60, M), mid[k], 1e-12);
        ck_assert_double_eq_tol(rt_lr_ratio(&s, 110, M), end[k], 1e-12);
        ck_assert_double_eq_tol(rt_lr_ratio(&s, 500, M), end[k], 1e-12);  /* clamped */
        for (int64_t t = 11; t < M; t++)  /* never increases after warm-up */
            ck_assert(rt_lr_ratio(&s, t, M) <= rt_lr_ratio(&s, t - 1, M) + 1e-15);
    }
    /* No warm-up: step 0 is the top of the decay. */
    s.warmup_steps = 0;
    s.decay = RT_DECAY_COSINE;
    ck_assert_double_eq_tol(rt_lr_ratio(&s, 0, 101), 1.0, 1e-12);
    ck_assert_double_eq_tol(rt_lr_ratio(&s, 50, 101), 0.55, 1e-12);
    ck_assert_double_eq_tol(rt_lr_ratio(&s, 100, 101), 0.1, 1e-12);
    /* max_steps <= 0 falls back to the settings' value */
    s.max_steps = 101;
    ck_assert_double_eq_tol(rt_lr_ratio(&s, 50, 0), 0.55, 1e-12);
}
END_TEST

/* ======================================================================
 * Tokenizer */
START_TEST(tokenizer_bytes_round_trip) {
    rt_tokenizer_t *t = rt_tokenizer_open("bytes");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(rt_tokenizer_vocab_size(t), 257);
    ck_assert_int_eq(rt_tokenizer_eos(t), 256);
    const char text[] = "h\xC3\xA9llo\n\tw\xF0\x9F\x99\x82rld\x01\xFF";
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    ck_assert_int_eq(rt_tokenizer_encode(t, text, sizeof text - 1, &ids, &n, &cap), 0);
    ck_assert_uint_eq(n, sizeof text - 1);
    for (size_t i = 0; i < n; i++) ck_assert_int_eq(ids[i], (unsigned char)text[i]);
    /* appending keeps what is there */
    ck_assert_int_eq(rt_tokenizer_encode(t, "ab", 2, &ids, &n, &cap), 0);
    ck_assert_uint_eq(n, sizeof text + 1);
    ck_assert_int_eq(ids[n - 1], 'b');
    char *back = rt_tokenizer_decode(t, ids, sizeof text - 1);
    ck_assert_mem_eq(back, text, sizeof text - 1);
    ck_assert_uint_eq(strlen(back), sizeof text - 1);
    free(back);
    int32_t eos[] = {'h', 'i', 256, 'x', 300, 256};
    back = rt_tokenizer_decode(t, eos, 6);
    ck_assert_str_eq(back, "hi<|endoftext|>x\xEF\xBF\xBD<|endoftext|>");
    free(back);
    free(ids);
    rt_tokenizer_free(t);

    cap_begin();
    ck_assert_ptr_null(rt_tokenizer_open("gpt2"));
    char *msg = cap_end();
    ck_assert_str_eq(msg, "error: tokenizer 'gpt2': no such file or directory (expected bytes, a "
                          "tokenizer.json, a directory with encoder.json + vocab.bpe, or "
                          "hf:OWNER/NAME)\n");
    free(msg);
}
END_TEST

/* ======================================================================
 * Data */

/* Opens `split` over the given paths with the given template/fraction. */
static rt_data_t *open_data(rt_settings_t *s, rt_tokenizer_t *tok, int split, char **msg) {
    cap_begin();
    rt_data_t *d = rt_data_open(s, tok, split);
    char *m = cap_end();
    if (msg) *msg = m;
    else {
        ck_assert_msg(d != NULL, "rt_data_open failed: %s", m);
        free(m);
    }
    return d;
}

/* Reads the whole stream of a split back through rt_data_next (one row of
 * N tokens starting at position 0). */
static int32_t *read_stream(rt_data_t *d, int64_t *n) {
    *n = rt_data_num_tokens(d);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)*n), *tgt = malloc(sizeof(int32_t) * (size_t)*n);
    rt_data_rewind(d);
    ck_assert_int_eq(rt_data_next(d, 1, (int)*n, tok, tgt, NULL, NULL), 0);
    free(tgt);
    return tok;
}

START_TEST(data_txt_rows) {
    const char *text = "hello world\nsecond line\n\n\nnext doc\r\n  \nthird";
    write_text("a.txt", text);
    /* expected stream: documents followed by EOS (256) */
    const char *docs[] = {"hello world\nsecond line", "next doc", "third"};
    int32_t want[64];
    uint8_t want_start[64] = {0};
    int n = 0;
    for (int i = 0; i < 3; i++) {
        want_start[n] = 1;
        for (const char *c = docs[i]; *c; c++) want[n++] = (unsigned char)*c;
        want[n++] = 256;
    }
    ck_assert_int_eq(n, 23 + 1 + 8 + 1 + 5 + 1);

    rt_settings_t s = tiny_settings();
    s.data_paths[0] = tp("a.txt");
    rt_tokenizer_t *tok = rt_tokenizer_open("bytes");
    rt_data_t *d = open_data(&s, tok, RT_SPLIT_TRAIN, NULL);
    ck_assert_int_eq(rt_data_num_docs(d), 3);
    ck_assert_int_eq(rt_data_num_tokens(d), n);
    ck_assert_int_eq(rt_data_epoch(d), 0);

    /* B=2 rows of T=7, many times: row r covers stream [7r, 7r+7] circularly. */
    enum { B = 2, T = 7 };
    int32_t tk[B * T], tg[B * T];
    float mk[B * T];
    uint8_t ds[B * T];
    int64_t row = 0;
    for (int call = 0; call < 20; call++) {
        ck_assert_int_eq(rt_data_next(d, B, T, tk, tg, mk, ds), 0);
        for (int b = 0; b < B; b++, row++) {
            for (int t = 0; t < T; t++) {
                int64_t j = (row * T + t) % n, jn = (row * T + t + 1) % n;
                ck_assert_int_eq(tk[b * T + t], want[j]);
                ck_assert_int_eq(tg[b * T + t], want[jn]);
                ck_assert_float_eq(mk[b * T + t], 1.0f);
                ck_assert_int_eq(ds[b * T + t], want_start[j]);
            }
        }
        ck_assert_int_eq(rt_data_epoch(d), row * T / n);  /* one per full pass */
        ck_assert_int_eq(rt_data_position(d), row * T % n);
    }
    ck_assert_int_gt(rt_data_epoch(d), 5);

    /* seek reproduces the rows from a saved position; rewind restarts */
    int64_t pos = rt_data_position(d), ep = rt_data_epoch(d);
    int32_t a[T], b2[T], tmp[T];
    ck_assert_int_eq(rt_data_next(d, 1, T, a, tmp, NULL, NULL), 0);
    ck_assert_int_eq(rt_data_seek(d, pos, ep), 0);
    ck_assert_int_eq(rt_data_next(d, 1, T, b2, tmp, NULL, NULL), 0);
    ck_assert_mem_eq(a, b2, sizeof a);
    cap_begin();
    ck_assert_int_eq(rt_data_seek(d, n, 0), -1);
    free(cap_end());
    rt_data_rewind(d);
    ck_assert_int_eq(rt_data_position(d), 0);
    ck_assert_int_eq(rt_data_epoch(d), 0);
    ck_assert_int_eq(rt_data_next(d, 1, T, a, tmp, NULL, ds), 0);
    ck_assert_int_eq(a[0], 'h');
    ck_assert_int_eq(ds[0], 1);
    rt_data_close(d);

    /* A file without blank lines: one document per line. */
    write_text("lines.txt", "a\nbb\r\nccc\n");
    s.data_paths[0] = tp("lines.txt");
    d = open_data(&s, tok, RT_SPLIT_TRAIN, NULL);
    ck_assert_int_eq(rt_data_num_docs(d), 3);
    int64_t m;
    int32_t *st = read_stream(d, &m);
    int32_t lw[] = {'a', 256, 'b', 'b', 256, 'c', 'c', 'c', 256};
    ck_assert_int_eq(m, 9);
    ck_assert_mem_eq(st, lw, sizeof lw);
    free(st);
    rt_data_close(d);
    rt_tokenizer_free(tok);
}
END_TEST

START_TEST(data_jsonl_and_glob) {
    mkdir(tp("j"), 0755);
    write_text("j/1.jsonl", "{\"body\": \"first\", \"id\": 1}\n\n{\"body\": \"caf\\u00e9\"}\n");
    write_text("j/2.jsonl", "{\"body\": \"x\\ny\"}");
    write_text("j/skip.txt", "not matched by the pattern\n");
    rt_settings_t s = tiny_settings();
    s.data_paths[0] = tp("j/*.jsonl");
    s.text_column = "body";
    rt_tokenizer_t *tok = rt_tokenizer_open("bytes");
    rt_data_t *d = open_data(&s, tok, RT_SPLIT_TRAIN, NULL);
    ck_assert_int_eq(rt_data_num_docs(d), 3);
    int64_t n;
    int32_t *st = read_stream(d, &n);
    char *txt = rt_tokenizer_decode(tok, st, (size_t)n);
    ck_assert_str_eq(txt, "first<|endoftext|>caf\xC3\xA9<|endoftext|>x\ny<|endoftext|>");
    free(txt);
    free(st);
    rt_data_close(d);

    char *msg;
    s.data_paths[0] = tp("j/*.parquetx");
    ck_assert_ptr_null(open_data(&s, tok, RT_SPLIT_TRAIN, &msg));
    char want[600];
    snprintf(want, sizeof want, "error: data path '%s' matches no file\n", tp("j/*.parquetx"));
    ck_assert_str_eq(msg, want);
    free(msg);

    s.data_paths[0] = tp("j/missing.txt");
    ck_assert_ptr_null(open_data(&s, tok, RT_SPLIT_TRAIN, &msg));
    ck_assert_contains(msg, tp("j/missing.txt"));
    ck_assert_contains(msg, "No such file");
    free(msg);

    write_text("j/x.parquet", "PAR1");
    s.data_paths[0] = tp("j/x.parquet");
    ck_assert_ptr_null(open_data(&s, tok, RT_SPLIT_TRAIN, &msg));
    ck_assert_contains(msg, "x.parquet: 4 bytes is too small for a Parquet file");
    free(msg);

    write_text("j/x.csv", "a,b");
    s.data_paths[0] = tp("j/x.csv");
    ck_assert_ptr_null(open_data(&s, tok, RT_SPLIT_TRAIN, &msg));
    ck_assert_contains(msg, "cannot tell the format");
    free(msg);
    s.data_format = "txt";  /* an explicit format overrides the extension */
    d = open_data(&s, tok, RT_SPLIT_TRAIN, NULL);
    ck_assert_int_eq(rt_data_num_tokens(d), 4);
    rt_data_close(d);

    /* Remote sources (tested against a mock Hub in check_data.c); offline
     * here, they fail at once with a message naming the source. */
    setenv("HF_HUB_OFFLINE", "1", 1);
    s.data_source = "hf";
    s.dataset = "HuggingFaceFW/fineweb";
    ck_assert_ptr_null(open_data(&s, tok, RT_SPLIT_TRAIN, &msg));
    ck_assert_contains(msg, "data.dataset HuggingFaceFW/fineweb (config default, split train): ");
    ck_assert_contains(msg, "offline");
    free(msg);
    s.data_source = "url";
    s.data_url = NULL;
    ck_assert_ptr_null(open_data(&s, tok, RT_SPLIT_TRAIN, &msg));
    ck_assert_contains(msg, "data.source url needs data.url");
    free(msg);
    s.data_url = "https://example.com/data/train.parquet";
    s.data_format = "auto";
    ck_assert_ptr_null(open_data(&s, tok, RT_SPLIT_TRAIN, &msg));
    ck_assert_contains(msg, "data.url: ");
    ck_assert_contains(msg, "offline");
    free(msg);
    s.data_url = "https://example.com/data/train.jsonl";
    ck_assert_ptr_null(open_data(&s, tok, RT_SPLIT_TRAIN, &msg));
    ck_assert_contains(msg, "data.url: ");
    ck_assert_contains(msg, "offline");
    free(msg);
    unsetenv("HF_HUB_OFFLINE");
    rt_tokenizer_free(tok);
}
END_TEST

START_TEST(data_jsonl_errors) {
    static const struct {
        const char *content, *tmpl, *want;
    } cases[] = {
        {"{\"text\": \"ok\"}\n{\"text\": \"broken\n{\"text\": \"ok\"}\n", "none",
         ":2: invalid JSON"},
        {"{\"text\": \"ok\"}\n\n{\"other\": \"x\"}\n", "none", ":3: no \"text\" field"},
        {"{\"text\": 5}\n", "none", ":1: field \"text\" is not a string"},
        {"[1, 2]\n", "none", ":1: expected a JSON object"},
        {"{\"text\": \"a\"} trailing\n", "none", ":1: invalid JSON"},
        {"{\"instruction\": \"i\", \"output\": \"o\"}\n{\"instruction\": \"i\"}\n", "alpaca",
         ":2: no \"output\" field"},
        {"{\"input\": \"x\", \"output\": \"o\"}\n", "alpaca", ":1: no \"instruction\" field"},
        {"{\"instruction\": \"i\", \"input\": 3, \"output\": \"o\"}\n", "alpaca",
         ":1: field \"input\" is not a string"},
    };
    rt_tokenizer_t *tok = rt_tokenizer_open("bytes");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = write_text("bad.jsonl", cases[i].content);
        rt_settings_t s = tiny_settings();
        s.data_paths[0] = p;
        s.prompt_template = cases[i].tmpl;
        char *msg, want[600];
        ck_assert_ptr_null(open_data(&s, tok, RT_SPLIT_TRAIN, &msg));
        snprintf(want, sizeof want, "error: %s%s", p, cases[i].want);
        ck_assert_msg(strncmp(msg, want, strlen(want)) == 0, "case %zu: got \"%s\", want \"%s...\"",
                      i, msg, want);
        free(msg);
    }
    /* alpaca over a txt file is refused */
    rt_settings_t s = tiny_settings();
    s.data_paths[0] = write_text("a.txt", "hello\n");
    s.prompt_template = "alpaca";
    char *msg;
    ck_assert_ptr_null(open_data(&s, tok, RT_SPLIT_TRAIN, &msg));
    ck_assert_contains(msg, "alpaca needs jsonl");
    free(msg);
    /* an empty file has no documents */
    s.prompt_template = "none";
    s.data_paths[0] = write_text("empty.txt", "\n\n");
    ck_assert_ptr_null(open_data(&s, tok, RT_SPLIT_TRAIN, &msg));
    ck_assert_contains(msg, "empty.txt holds no documents");
    free(msg);
    rt_tokenizer_free(tok);
}
END_TEST

START_TEST(data_alpaca_mask) {
    write_text("al.jsonl",
               "{\"instruction\": \"Add 2 and 3.\", \"input\": \"\", \"output\": \"5\"}\n"
               "{\"instruction\": \"Translate.\", \"input\": \"chat\", \"output\": \"cat\"}\n"
               "{\"instruction\": \"Say hi.\", \"output\": \"hi\"}\n");
    const char *p1 = "Below is an instruction that describes a task. Write a response that "
                     "appropriately completes the request.\n\n### Instruction:\nAdd 2 and 3.\n\n"
                     "### Response:\n";
    const char *p2 = "Below is an instruction that describes a task, paired with an input that "
                     "provides further context. Write a response that appropriately completes "
                     "the request.\n\n### Instruction:\nTranslate.\n\n### Input:\nchat\n\n"
                     "### Response:\n";
    const char *p3 = "Below is an instruction that describes a task. Write a response that "
                     "appropriately completes the request.\n\n### Instruction:\nSay hi.\n\n"
                     "### Response:\n";
    const char *prompts[] = {p1, p2, p3}, *outs[] = {"5", "cat", "hi"};
    /* expected stream and per-token "is a loss target" flags */
    int32_t *want = malloc(sizeof(int32_t) * 2048);
    uint8_t *resp = calloc(2048, 1), *start = calloc(2048, 1);
    int n = 0;
    for (int i = 0; i < 3; i++) {
        start[n] = 1;
        for (const char *c = prompts[i]; *c; c++) want[n++] = (unsigned char)*c;
        for (const char *c = outs[i]; *c; c++) resp[n] = 1, want[n++] = (unsigned char)*c;
        resp[n] = 1;
        want[n++] = 256;
    }
    rt_settings_t s = tiny_settings();
    s.data_paths[0] = tp("al.jsonl");
    s.prompt_template = "alpaca";
    s.phase = RT_PHASE_FINETUNE;
    rt_tokenizer_t *tok = rt_tokenizer_open("bytes");
    rt_data_t *d = open_data(&s, tok, RT_SPLIT_TRAIN, NULL);
    ck_assert_int_eq(rt_data_num_docs(d), 3);
    ck_assert_int_eq(rt_data_num_tokens(d), n);
    int T = 64;
    int32_t tk[64], tg[64];
    float mk[64];
    uint8_t ds[64];
    int ones = 0;
    for (int64_t row = 0; row * T < 2 * n; row++) {  /* two passes, crossing the wrap */
        ck_assert_int_eq(rt_data_next(d, 1, T, tk, tg, mk, ds), 0);
        for (int t = 0; t < T; t++) {
            int64_t j = (row * T + t) % n, jn = (row * T + t + 1) % n;
            ck_assert_int_eq(tk[t], want[j]);
            ck_assert_int_eq(tg[t], want[jn]);
            ck_assert_msg(mk[t] == (float)resp[jn], "mask at stream %lld", (long long)j);
            ck_assert_int_eq(ds[t], start[j]);
            ones += mk[t] == 1.0f;
        }
    }
    ck_assert_int_gt(ones, 0);
    /* unigram entropy counts only the response tokens and EOS: "5",EOS,"cat",EOS,"hi",EOS */
    double c[] = {1, 1, 1, 1, 1, 1, 3}, tot = 9, h = 0;  /* 5 c a t h i, EOS x3 */
    for (int i = 0; i < 7; i++) h -= c[i] / tot * log(c[i] / tot);
    ck_assert_double_eq_tol(rt_data_unigram_entropy(d), h, 1e-12);
    rt_data_close(d);
    rt_tokenizer_free(tok);
    free(want);
    free(resp);
    free(start);
}
END_TEST

static uint64_t my_splitmix(uint64_t x) {
    uint64_t z = x + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Splits the decoded stream at EOS into doc texts; returns how many. */
static int split_docs(const rt_tokenizer_t *tok, rt_data_t *d, char docs[][16], int max) {
    int64_t n;
    int32_t *st = read_stream(d, &n);
    int k = 0, c = 0;
    for (int64_t j = 0; j < n; j++) {
        if (st[j] == 256) {
            ck_assert_int_lt(k, max);
            docs[k++][c] = '\0';
            c = 0;
        } else {
            docs[k][c++] = (char)st[j];
        }
    }
    free(st);
    (void)tok;
    return k;
}

START_TEST(data_validation_split) {
    enum { ND = 300 };
    char *buf = malloc(ND * 32);
    size_t used = 0;
    for (int i = 0; i < ND; i++) used += (size_t)sprintf(buf + used, "{\"text\": \"doc%d\"}\n", i);
    write_bytes(tp("v.jsonl"), buf, used);
    free(buf);
    rt_settings_t s = tiny_settings();
    s.data_paths[0] = tp("v.jsonl");
    s.validation_fraction = 0.2;
    rt_tokenizer_t *tok = rt_tokenizer_open("bytes");
    rt_data_t *tr = open_data(&s, tok, RT_SPLIT_TRAIN, NULL);
    rt_data_t *va = open_data(&s, tok, RT_SPLIT_VAL, NULL);
    ck_assert_int_eq(rt_data_num_docs(tr) + rt_data_num_docs(va), ND);
    static char dt[ND][16], dv[ND][16];
    int nt = split_docs(tok, tr, dt, ND), nv = split_docs(tok, va, dv, ND);
    ck_assert_int_eq(nt, rt_data_num_docs(tr));
    ck_assert_int_eq(nv, rt_data_num_docs(va));
    ck_assert_int_gt(nv, ND / 10);  /* about 20% */
    ck_assert_int_lt(nv, ND * 3 / 10);
    /* exactly the documents whose hash falls under the fraction, in order */
    int it = 0, iv = 0;
    for (int i = 0; i < ND; i++) {
        char name[16];
        snprintf(name, sizeof name, "doc%d", i);
        int val = (double)(my_splitmix((uint64_t)i) >> 11) * 0x1.0p-53 < 0.2;
        if (val) ck_assert_str_eq(dv[iv++], name);
        else ck_assert_str_eq(dt[it++], name);
    }
    ck_assert_int_eq(it, nt);
    ck_assert_int_eq(iv, nv);
    /* the val split wraps silently: epoch stays 0 */
    int32_t tk[64], tg[64];
    for (int k = 0; k < 100; k++) ck_assert_int_eq(rt_data_next(va, 1, 64, tk, tg, NULL, NULL), 0);
    ck_assert_int_eq(rt_data_epoch(va), 0);
    rt_data_close(tr);
    rt_data_close(va);

    /* independent of the seed */
    s.seed = 999;
    va = open_data(&s, tok, RT_SPLIT_VAL, NULL);
    static char dv2[ND][16];
    ck_assert_int_eq(split_docs(tok, va, dv2, ND), nv);
    for (int i = 0; i < nv; i++) ck_assert_str_eq(dv[i], dv2[i]);
    rt_data_close(va);

    /* no validation documents: an error for the val split only */
    s.validation_fraction = 0;
    char *msg, want[600];
    ck_assert_ptr_null(open_data(&s, tok, RT_SPLIT_VAL, &msg));
    snprintf(want, sizeof want, "error: validation split of %s is empty: raise "
             "data.validation.fraction (now 0)\n", tp("v.jsonl"));
    ck_assert_str_eq(msg, want);
    free(msg);
    tr = open_data(&s, tok, RT_SPLIT_TRAIN, NULL);
    ck_assert_int_eq(rt_data_num_docs(tr), ND);
    rt_data_close(tr);
    rt_tokenizer_free(tok);
}
END_TEST

START_TEST(data_entropy_and_size) {
    /* "aab" + EOS, "b" + EOS: a:2 b:2 EOS:2 -> ln 3 */
    write_text("e.txt", "aab\n\nb\n");
    rt_settings_t s = tiny_settings();
    s.data_paths[0] = tp("e.txt");
    rt_tokenizer_t *tok = rt_tokenizer_open("bytes");
    rt_data_t *d = open_data(&s, tok, RT_SPLIT_TRAIN, NULL);
    ck_assert_double_eq_tol(rt_data_unigram_entropy(d), log(3.0), 1e-12);
    rt_data_close(d);

    /* A few MB loads quickly and every byte lands in the stream. */
    size_t len = 4000 * 2000;
    char *big = malloc(len);
    for (size_t i = 0; i < len; i++) big[i] = (i % 1000 == 999) ? '\n' : (char)('a' + i % 26);
    for (size_t i = 1999; i < len; i += 2000) big[i - 1] = '\n';  /* blank lines: paragraphs */
    write_bytes(tp("big.txt"), big, len);
    s.data_paths[0] = tp("big.txt");
    double t0 = rt_now();
    d = open_data(&s, tok, RT_SPLIT_TRAIN, NULL);
    double dt = rt_now() - t0;
    ck_assert_msg(dt < 10, "loading 8 MB took %.1f s", dt);
    ck_assert_int_eq(rt_data_num_docs(d), 4000);
    int64_t docs = rt_data_num_docs(d);
    ck_assert_int_eq(docs, (int64_t)(len / 2000));
    /* each paragraph of 2000 bytes loses its "\n\n" separator and gains an EOS */
    ck_assert_int_eq(rt_data_num_tokens(d), (int64_t)len - 2 * docs + docs);
    rt_data_close(d);
    free(big);
    rt_tokenizer_free(tok);
}
END_TEST

/* ======================================================================
 * Atomic writes and util */
static int count_entries(const char *dir, const char *containing) {
    DIR *dp = opendir(dir);
    ck_assert_ptr_nonnull(dp);
    int n = 0;
    for (struct dirent *e; (e = readdir(dp));)
        if (strstr(e->d_name, containing)) n++;
    closedir(dp);
    return n;
}

START_TEST(util_atomic_and_dirs) {
    ck_assert_int_eq(rt_mkdirs(tp("x/y/z/")), 0);
    ck_assert_int_eq(rt_mkdirs(tp("x/y/z")), 0);  /* exists already: fine */
    const char *p = tp("x/y/z/f.bin");
    ck_assert_int_eq(rt_write_file_atomic(p, "first", 5), 0);
    ck_assert_int_eq(rt_write_file_atomic(p, "second!", 7), 0);
    size_t n;
    char *s = rt_read_file(p, &n);
    ck_assert_uint_eq(n, 7);
    ck_assert_str_eq(s, "second!");
    free(s);
    ck_assert_int_eq(count_entries(tp("x/y/z"), ".tmp"), 0);
    ck_assert_int_eq(count_entries(tp("x/y/z"), "f.bin"), 1);
    const void *parts[] = {"ab", "", "cde"};
    size_t lens[] = {2, 0, 3};
    ck_assert_int_eq(rt_write_file_atomic_parts(p, parts, lens, 3), 0);
    s = rt_read_file(p, &n);
    ck_assert_str_eq(s, "abcde");
    free(s);

    /* failures name the path and leave nothing behind */
    cap_begin();
    int rc = rt_write_file_atomic(tp("nodir/f.bin"), "x", 1);
    char *msg = cap_end();
    ck_assert_int_eq(rc, -1);
    ck_assert_contains(msg, "nodir/f.bin.tmp");
    free(msg);
    mkdir(tp("d"), 0755);
    mkdir(tp("d/target"), 0755);  /* rename over a directory fails after the temp file exists */
    cap_begin();
    rc = rt_write_file_atomic(tp("d/target"), "x", 1);
    msg = cap_end();
    ck_assert_int_eq(rc, -1);
    ck_assert_contains(msg, "cannot rename");
    free(msg);
    ck_assert_int_eq(count_entries(tp("d"), ".tmp"), 0);

    write_text("file", "x");
    cap_begin();
    rc = rt_mkdirs(tp("file/sub"));
    msg = cap_end();
    ck_assert_int_eq(rc, -1);
    ck_assert_contains(msg, "file/sub");
    free(msg);
    cap_begin();
    ck_assert_ptr_null(rt_read_file(tp("absent"), &n));
    msg = cap_end();
    ck_assert_contains(msg, tp("absent"));
    free(msg);
    ck_assert_uint_ne(rt_splitmix64(1), rt_splitmix64(2));
    ck_assert_uint_eq(rt_splitmix64(12345), my_splitmix(12345));
    double t0 = rt_now();
    ck_assert(rt_now() >= t0);
}
END_TEST

/* ======================================================================
 * safetensors */
static void le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Writes [len][header][data] with the header's true length unless hlen_override. */
static const char *write_st(const char *name, const char *header, const void *data, size_t dlen,
                            uint64_t hlen_override) {
    size_t hl = strlen(header);
    unsigned char *buf = malloc(8 + hl + dlen + 1);
    le64(buf, hlen_override ? hlen_override : hl);
    memcpy(buf + 8, header, hl);
    if (dlen) memcpy(buf + 8 + hl, data, dlen);
    const char *p = tp(name);
    write_bytes(p, buf, 8 + hl + dlen);
    free(buf);
    return p;
}

START_TEST(safetensors_round_trip) {
    float w[6] = {1.5f, -2.25f, 3.0f, 0.0f, 1e-30f, -7.0f}, b[3] = {0.1f, 0.2f, 0.3f},
          sc = 42.0f;
    rt_tensor_t ts[] = {
        {"layers.0.mixer.in_proj.weight", 2, {2, 3}, w},
        {"layers.0.norm.weight", 1, {3}, b},
        {"scale", 0, {0}, &sc},
        {"empty", 1, {0}, NULL},
    };
    const char *mk[] = {"format", "quote\"s\n"}, *mv[] = {"pt", "v\\al\x01ue"};
    const char *p = tp("m.safetensors");
    ck_assert_int_eq(rt_safetensors_save(p, ts, 4, mk, mv, 2), 0);
    ck_assert_int_eq(count_entries(tu_tmpdir, ".tmp"), 0);

    size_t len;
    char *raw = rt_read_file(p, &len);
    uint64_t hl;
    memcpy(&hl, raw, 8);
    ck_assert_uint_eq(hl % 8, 0);  /* data starts 8-byte aligned */
    ck_assert_uint_eq(len, 8 + hl + (6 + 3 + 1) * 4);
    ck_assert(memcmp(raw + 8 + hl, w, sizeof w) == 0);  /* contiguous, in the given order */
    ck_assert(memcmp(raw + 8 + hl + sizeof w, b, sizeof b) == 0);
    /* the header is plain JSON, readable by anything */
    json_error_t jerr;
    json_t *h = json_loadb(raw + 8, hl, 0, &jerr);
    ck_assert_ptr_nonnull(h);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(h, "__metadata__"),
                                                       "quote\"s\n")), "v\\al\x01ue");
    json_t *off = json_object_get(json_object_get(h, "layers.0.norm.weight"), "data_offsets");
    ck_assert_int_eq(json_integer_value(json_array_get(off, 0)), 24);
    ck_assert_int_eq(json_integer_value(json_array_get(off, 1)), 36);
    json_decref(h);
    free(raw);

    rt_safetensors_t *f = rt_safetensors_open(p);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(rt_safetensors_count(f), 4);
    ck_assert_str_eq(rt_safetensors_name(f, 0), "layers.0.mixer.in_proj.weight");
    ck_assert_str_eq(rt_safetensors_name(f, 2), "scale");
    ck_assert_ptr_null(rt_safetensors_name(f, 4));
    const char *dt;
    int nd;
    int64_t shape[8];
    ck_assert_int_eq(rt_safetensors_find(f, "layers.0.mixer.in_proj.weight", &dt, &nd, shape), 0);
    ck_assert_str_eq(dt, "F32");
    ck_assert_int_eq(nd, 2);
    ck_assert_int_eq(shape[0], 2);
    ck_assert_int_eq(shape[1], 3);
    ck_assert_int_eq(rt_safetensors_find(f, "scale", &dt, &nd, shape), 0);
    ck_assert_int_eq(nd, 0);
    ck_assert_int_eq(rt_safetensors_find(f, "nope", &dt, &nd, shape), -1);
    float w2[6], b2[3], s2;
    ck_assert_int_eq(rt_safetensors_read_f32(f, "layers.0.mixer.in_proj.weight", w2, 6), 0);
    ck_assert_mem_eq(w2, w, sizeof w);
    ck_assert_int_eq(rt_safetensors_read_f32(f, "layers.0.norm.weight", b2, 3), 0);
    ck_assert_mem_eq(b2, b, sizeof b);
    ck_assert_int_eq(rt_safetensors_read_f32(f, "scale", &s2, 1), 0);
    ck_assert_float_eq(s2, 42.0f);
    ck_assert_int_eq(rt_safetensors_read_f32(f, "empty", NULL, 0), 0);
    ck_assert_str_eq(rt_safetensors_meta(f, "format"), "pt");
    ck_assert_str_eq(rt_safetensors_meta(f, "quote\"s\n"), "v\\al\x01ue");
    ck_assert_ptr_null(rt_safetensors_meta(f, "other"));
    cap_begin();
    int rc1 = rt_safetensors_read_f32(f, "layers.0.norm.weight", b2, 4);
    int rc2 = rt_safetensors_read_f32(f, "missing", b2, 3);
    int rc3 = rt_safetensors_read_i32(f, "scale", (int32_t *)b2, 1);
    char *msg = cap_end();
    ck_assert_int_eq(rc1, -1);
    ck_assert_int_eq(rc2, -1);
    ck_assert_int_eq(rc3, -1);
    ck_assert_contains(msg, "tensor 'layers.0.norm.weight' has 3 elements (shape [3]), expected 4");
    ck_assert_contains(msg, "no tensor 'missing'");
    ck_assert_contains(msg, "is F32, expected an integer type");
    free(msg);
    rt_safetensors_close(f);

    /* bad input to save */
    rt_tensor_t dup[] = {{"a", 1, {1}, b}, {"a", 1, {1}, b}};
    cap_begin();
    rc1 = rt_safetensors_save(tp("d.safetensors"), dup, 2, NULL, NULL, 0);
    msg = cap_end();
    ck_assert_int_eq(rc1, -1);
    ck_assert_contains(msg, "tensor 'a' appears twice");
    free(msg);
    ck_assert_int_eq(access(tp("d.safetensors"), F_OK), -1);
}
END_TEST

START_TEST(safetensors_dtypes) {
    /* F16: 1, -2, 0.5, smallest subnormal, +inf; BF16: 1, -3.5; F64: 0.1; I64: 7, -9 */
    uint16_t f16[] = {0x3c00, 0xc000, 0x3800, 0x0001, 0x7c00};
    uint16_t bf16[] = {0x3f80, 0xc060};
    double f64[] = {0.1};
    int64_t i64[] = {7, -9};
    int32_t i32[] = {5, -6, 7};
    unsigned char data[10 + 4 + 8 + 16 + 12];
    memcpy(data, f16, 10);
    memcpy(data + 10, bf16, 4);
    memcpy(data + 14, f64, 8);
    memcpy(data + 22, i64, 16);
    memcpy(data + 38, i32, 12);
    const char *hdr =
        "{\"h\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[0,10]},"
        "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[10,14]},"
        "\"d\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[14,22]},"
        "\"l\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[22,38]},"
        "\"i\":{\"dtype\":\"I32\",\"shape\":[3],\"data_offsets\":[38,50]}}   ";
    const char *p = write_st("t.safetensors", hdr, data, sizeof data, 0);
    rt_safetensors_t *f = rt_safetensors_open(p);
    ck_assert_ptr_nonnull(f);
    float out[5];
    ck_assert_int_eq(rt_safetensors_read_f32(f, "h", out, 5), 0);
    ck_assert_float_eq(out[0], 1.0f);
    ck_assert_float_eq(out[1], -2.0f);
    ck_assert_float_eq(out[2], 0.5f);
    ck_assert_float_eq(out[3], ldexpf(1.0f, -24));
    ck_assert(isinf(out[4]) && out[4] > 0);
    ck_assert_int_eq(rt_safetensors_read_f32(f, "b", out, 2), 0);
    ck_assert_float_eq(out[0], 1.0f);
    ck_assert_float_eq(out[1], -3.5f);
    ck_assert_int_eq(rt_safetensors_read_f32(f, "d", out, 1), 0);
    ck_assert_float_eq(out[0], 0.1f);
    int32_t iv[3];
    ck_assert_int_eq(rt_safetensors_read_i32(f, "l", iv, 2), 0);
    ck_assert_int_eq(iv[0], 7);
    ck_assert_int_eq(iv[1], -9);
    ck_assert_int_eq(rt_safetensors_read_i32(f, "i", iv, 3), 0);
    ck_assert_int_eq(iv[2], 7);
    const char *dt;
    ck_assert_int_eq(rt_safetensors_find(f, "b", &dt, NULL, NULL), 0);
    ck_assert_str_eq(dt, "BF16");
    cap_begin();
    int rc = rt_safetensors_read_f32(f, "i", out, 3);
    char *msg = cap_end();
    ck_assert_int_eq(rc, -1);
    ck_assert_contains(msg, "tensor 'i' is I32, expected a float type");
    free(msg);
    rt_safetensors_close(f);
}
END_TEST

START_TEST(safetensors_rejects_corrupt) {
    float w[4] = {1, 2, 3, 4};
    rt_tensor_t ts[] = {{"w", 1, {4}, w}};
    const char *good = tp("good.safetensors");
    ck_assert_int_eq(rt_safetensors_save(good, ts, 1, NULL, NULL, 0), 0);
    size_t glen;
    char *graw = rt_read_file(good, &glen);

    const char *ok_hdr = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
    static const struct {
        const char *name, *header;
        size_t dlen;
        uint64_t hlen;
        const char *want;
    } cases[] = {
        {"bad_json", "{\"w\":{\"dtype\":\"F32\",", 16, 0, "header is not valid JSON"},
        {"not_object", "[1,2,3]", 0, 0, "header is not a JSON object"},
        {"hlen_big", "{}", 0, 1000000, "header length 1000000 is impossible"},
        {"hlen_zero", "{}", 0, 0, NULL},  /* patched below to length 0 */
        {"out_of_range", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,400]}}", 16,
         0, "tensor 'w': data_offsets [0, 400] run past the data buffer"},
        {"overlap",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24, 0,
         "tensors 'a' and 'b' overlap"},
        {"wrong_size", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16, 0,
         "tensor 'w': 16 bytes of data but shape x F32 needs 12"},
        {"wrong_size_f16", "{\"w\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16,
         0, "tensor 'w': 16 bytes of data but shape x F16 needs 8"},
        {"bad_dtype", "{\"w\":{\"dtype\":\"F12\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, 0,
         "tensor 'w': unknown dtype 'F12'"},
        {"neg_shape", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16, 0,
         "tensor 'w': shape[0] is not a non-negative integer"},
        {"reversed", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,0]}}", 16, 0,
         "tensor 'w': bad data_offsets [16, 0]"},
        {"no_offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4]}}", 16, 0,
         "tensor 'w': \"data_offsets\" must be [begin, end]"},
        {"entry_not_object", "{\"w\":5}", 0, 0, "tensor 'w': entry is not a JSON object"},
        {"meta_not_string", "{\"__metadata__\":{\"k\":1}}", 0, 0,
         "__metadata__ value of 'k' is not a string"},
        {"dup_key", "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                    "\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, 0,
         "header is not valid JSON"},
        {"huge_shape",
         "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,16]}}",
         16, 0, "tensor 'w': shape [4294967296, 4294967296, 16] has too many elements"},
    };
    unsigned char data[32] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char fname[64];
        snprintf(fname, sizeof fname, "%s.safetensors", cases[i].name);
        const char *p = write_st(fname, cases[i].header, data, cases[i].dlen, cases[i].hlen);
        if (!cases[i].want) {  /* header length field of 0 */
            unsigned char z[8] = {0};
            FILE *f = fopen(p, "r+b");
            fwrite(z, 1, 8, f);
            fclose(f);
        }
        cap_begin();
        rt_safetensors_t *f = rt_safetensors_open(p);
        char *msg = cap_end();
        ck_assert_msg(f == NULL, "case %s was accepted", cases[i].name);
        ck_assert_contains(msg, p);  /* every message names the file */
        ck_assert_contains(msg, cases[i].want ? cases[i].want : "header length 0 is impossible");
        free(msg);
    }
    /* truncated: the good file cut anywhere is refused, never over-read */
    for (size_t cut = 0; cut < glen; cut += (cut < 16 ? 1 : 7)) {
        const char *p = tp("cut.safetensors");
        write_bytes(p, graw, cut);
        cap_begin();
        rt_safetensors_t *f = rt_safetensors_open(p);
        char *msg = cap_end();
        ck_assert_msg(f == NULL, "file cut to %zu of %zu bytes was accepted", cut, glen);
        ck_assert_contains(msg, "error: ");
        ck_assert_contains(msg, p);
        free(msg);
    }
    /* a data buffer with a hole is fine; a hand-written header with the right sizes opens */
    const char *p = write_st("ok.safetensors", ok_hdr, w, 16, 0);
    rt_safetensors_t *f = rt_safetensors_open(p);
    ck_assert_ptr_nonnull(f);
    float back[4];
    ck_assert_int_eq(rt_safetensors_read_f32(f, "w", back, 4), 0);
    ck_assert_mem_eq(back, w, sizeof w);
    rt_safetensors_close(f);
    cap_begin();
    ck_assert_ptr_null(rt_safetensors_open(tp("absent.safetensors")));
    char *msg = cap_end();
    ck_assert_contains(msg, "absent.safetensors");
    free(msg);
    free(graw);
}
END_TEST

/* ======================================================================
 * Logs */
START_TEST(log_metrics_jsonl) {
    const char *dir = tp("logs/tiny");
    rt_log_t *l = rt_log_open(dir);
    ck_assert_ptr_nonnull(l);
    rt_log_step(l, 1, 2.345678901234567, 0.1, 0.002, 0.0003, 12345.5, NAN, 8192, 1.25);
    rt_log_step(l, 2, 1e-300, 1.0, 0.02, 3e-3, INFINITY, 0.5, 16384, 2.5);
    rt_log_eval(l, 2, 2.0, 16384);
    /* flushed per line: readable before close */
    size_t n;
    char *txt = rt_read_file(tp("logs/tiny/metrics.jsonl"), &n);
    ck_assert_ptr_nonnull(txt);
    rt_log_close(l);
    int lines = 0;
    static const char *step_keys[] = {"step", "loss", "lr", "lr_muon", "lr_adamw",
                                      "tokens_per_s", "grad_norm", "tokens", "elapsed_s"};
    for (char *line = strtok(txt, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        ck_assert_msg(o != NULL, "line %d is not JSON: %s (%s)", lines + 1, line, err.text);
        if (lines < 2) {
            for (int k = 0; k < 9; k++)
                ck_assert_msg(json_object_get(o, step_keys[k]), "no %s in %s", step_keys[k], line);
            ck_assert_int_eq(json_object_size(o), 9);
        }
        if (lines == 0) {
            ck_assert_int_eq(json_integer_value(json_object_get(o, "step")), 1);
            /* numbers round-trip exactly */
            ck_assert(json_real_value(json_object_get(o, "loss")) == 2.345678901234567);
            ck_assert(json_is_null(json_object_get(o, "grad_norm")));  /* NaN */
            ck_assert_int_eq(json_integer_value(json_object_get(o, "tokens")), 8192);
            ck_assert(json_number_value(json_object_get(o, "elapsed_s")) == 1.25);
        } else if (lines == 1) {
            ck_assert(json_real_value(json_object_get(o, "loss")) == 1e-300);
            ck_assert(json_is_null(json_object_get(o, "tokens_per_s")));  /* inf */
            ck_assert(json_number_value(json_object_get(o, "lr_adamw")) == 3e-3);
        } else {
            ck_assert_int_eq(json_object_size(o), 3);
            ck_assert_int_eq(json_integer_value(json_object_get(o, "step")), 2);
            ck_assert(json_number_value(json_object_get(o, "val_loss")) == 2.0);
            ck_assert_int_eq(json_integer_value(json_object_get(o, "tokens")), 16384);
        }
        json_decref(o);
    }
    ck_assert_int_eq(lines, 3);
    free(txt);
    /* reopening truncates */
    l = rt_log_open(dir);
    rt_log_close(l);
    txt = rt_read_file(tp("logs/tiny/metrics.jsonl"), &n);
    ck_assert_uint_eq(n, 0);
    free(txt);
    /* a directory that cannot be created */
    write_text("flat", "x");
    cap_begin();
    ck_assert_ptr_null(rt_log_open(tp("flat/logs")));
    char *msg = cap_end();
    ck_assert_contains(msg, "flat/logs");
    free(msg);
}
END_TEST

START_TEST(log_progress_line) {
    /* stderr is a file here, not a terminal: only newline calls print, whole lines */
    cap_begin();
    rt_progress(119, 600, 2.34561, 1.2e-3, 12345.4, 65, 0);
    rt_progress(120, 600, 2.34561, 1.2e-3, 12345.4, 65, 1);
    rt_progress(5, 10, 9.0, 0.02, 1234567.6, 3725, 1);
    rt_progress(6, 10, 9.0, 0.02, 999, 185, 1);
    rt_progress(7, 10, NAN, 0.02, 0, 12, 1);
    char *msg = cap_end();
    ck_assert_str_eq(msg,
                     "step 120/600 | loss 2.3456 | lr 1.2e-03 | 12,345 tok/s | ETA 1m05s\n"
                     "step 5/10 | loss 9.0000 | lr 2.0e-02 | 1,234,568 tok/s | ETA 1h02m\n"
                     "step 6/10 | loss 9.0000 | lr 2.0e-02 | 999 tok/s | ETA 3m05s\n"
                     "step 7/10 | loss nan | lr 2.0e-02 | 0 tok/s | ETA 12s\n");
    free(msg);
}
END_TEST

static Suite *runtime_suite(int with_exit_tests) {
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup_tmp, teardown_tmp);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, cli_overrides);
    tcase_add_test(tc, cli_shape_flags_refused);
    tcase_add_test(tc, cli_bad_values);
    tcase_add_test(tc, cli_epochs_and_warmup);
    tcase_add_test(tc, cli_usage_lists_flags);
    tcase_add_test(tc, schedule_values);
    tcase_add_test(tc, tokenizer_bytes_round_trip);
    tcase_add_test(tc, data_txt_rows);
    tcase_add_test(tc, data_jsonl_and_glob);
    tcase_add_test(tc, data_jsonl_errors);
    tcase_add_test(tc, data_alpaca_mask);
    tcase_add_test(tc, data_validation_split);
    tcase_add_test(tc, data_entropy_and_size);
    tcase_add_test(tc, util_atomic_and_dirs);
    tcase_add_test(tc, safetensors_round_trip);
    tcase_add_test(tc, safetensors_dtypes);
    tcase_add_test(tc, safetensors_rejects_corrupt);
    tcase_add_test(tc, log_metrics_jsonl);
    tcase_add_test(tc, log_progress_line);
    suite_add_tcase(s, tc);
    if (!with_exit_tests) return s;  /* CK_FORK=no: exiting would end the whole run */
    /* tests that end the process: no temp directory (teardown would not run) */
    TCase *ex = tcase_create("exit");
    tcase_add_exit_test(ex, cli_help_exits_zero, 0);
    tcase_add_exit_test(ex, die_exits_one, 1);
    suite_add_tcase(s, ex);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(NULL);
    srunner_add_suite(sr, runtime_suite(srunner_fork_status(sr) != CK_NOFORK));
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
