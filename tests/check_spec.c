/* check_spec.c: the spec reader (gen/spec*.c).
 *
 * Runs from the repository root. Every file in tests/specs/bad/ must be
 * refused with the errors its "# expect: LINE:COL: key.path: substring"
 * header lines name; the good specs must load, lock deterministically and
 * resolve defaults, derived values, parameter counts and optimizer groups as
 * the README's spec section says. */
#include <check.h>
#include <dirent.h>
#include <openssl/sha.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spec.h"
#include "testutil.h"

#define BAD_DIR "tests/specs/bad"
#define GOOD_DIR "tests/specs/good"
#define MAX_FILES 256

static char *bad_files[MAX_FILES];
static int n_bad;

static void spit(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Loads `path`; returns spec_load's result and the error text (caller frees). */
static int load(const char *path, spec_t *s, char **errs) {
    char *buf = NULL;
    size_t len = 0;
    FILE *err = open_memstream(&buf, &len);
    int rc = spec_load(path, s, err);
    fclose(err);
    *errs = buf;
    return rc;
}

/* Every error line must have the documented shape. */
static void check_error_shape(const char *path, const char *errs) {
    regex_t re;
    ck_assert_int_eq(regcomp(&re, "^[^:]+:[0-9]+:[0-9]+: [A-Za-z0-9_.<]+: [^ ].*$", REG_EXTENDED | REG_NOSUB), 0);
    char *copy = strdup(errs), *save = NULL;
    int lines = 0;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        lines++;
        if (strstr(l, "more errors not shown")) continue;
        ck_assert_msg(strncmp(l, path, strlen(path)) == 0, "%s: line does not start with the file: %s", path, l);
        ck_assert_msg(regexec(&re, l, 0, NULL, 0) == 0, "%s: malformed error line: %s", path, l);
    }
    ck_assert_msg(lines >= 1 && lines <= 21, "%s: %d error lines", path, lines);
    free(copy);
    regfree(&re);
}

static char *load_ok(const char *path, spec_t *s) {
    char *errs = NULL;
    int rc = load(path, s, &errs);
    ck_assert_msg(rc == 0, "%s should load, got:\n%s", path, errs);
    ck_assert_str_eq(errs, "");
    free(errs);
    char *lock = spec_lock_yaml(s);
    ck_assert_ptr_nonnull(lock);
    return lock;
}

/* ---- (1) bad specs ---------------------------------------------------------- */

START_TEST(bad_spec_is_refused) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", BAD_DIR, bad_files[_i]);
    size_t text_len;
    char *text = tu_slurp(path, &text_len);
    ck_assert_ptr_nonnull(text);
    spec_t s;
    char *errs = NULL;
    int rc = load(path, &s, &errs);
    ck_assert_msg(rc == -1, "%s was accepted", path);
    ck_assert_ptr_null(s.name);          /* a refused spec owns nothing */
    check_error_shape(path, errs);

    int n_expect = 0;
    for (char *line = text; strncmp(line, "# expect: ", 10) == 0;) {
        char *eol = strchr(line, '\n');
        ck_assert_ptr_nonnull(eol);
        *eol = 0;
        /* "LINE:COL: key.path: substring" -> prefix up to the second ": " */
        char *spec_part = line + 10;
        char *p1 = strstr(spec_part, ": ");
        ck_assert_ptr_nonnull(p1);
        char *p2 = strstr(p1 + 2, ": ");
        ck_assert_msg(p2 != NULL, "%s: bad expect line", path);
        char want[700];
        snprintf(want, sizeof want, "%s:%.*s:", path, (int)(p2 - spec_part), spec_part);
        const char *sub = p2 + 2;
        bool found = false;
        for (const char *l = errs; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            const char *e = strchr(l, '\n');
            size_t ll = e ? (size_t)(e - l) : strlen(l);
            char *one = strndup(l, ll);
            if (!strncmp(one, want, strlen(want)) && strstr(one, sub)) found = true;
            free(one);
        }
        ck_assert_msg(found, "%s: expected an error starting '%s' containing '%s', got:\n%s", path, want, sub, errs);
        n_expect++;
        line = eol + 1;
    }
    ck_assert_msg(n_expect > 0, "%s has no '# expect:' line", path);
    free(errs);
    free(text);
}
END_TEST

START_TEST(enough_bad_specs) {
    ck_assert_int_ge(n_bad, 25);
}
END_TEST

START_TEST(missing_and_empty_files) {
    spec_t s;
    char *errs;
    ck_assert_int_eq(load("tests/specs/no-such-file.yaml", &s, &errs), -1);
    ck_assert_ptr_nonnull(strstr(errs, "tests/specs/no-such-file.yaml:1:1: yaml: cannot open the file"));
    free(errs);

    char tmp[] = "/tmp/check_spec_XXXXXX";
    int fd = mkstemp(tmp);
    ck_assert_int_ge(fd, 0);
    close(fd);                           /* zero bytes */
    ck_assert_int_eq(load(tmp, &s, &errs), -1);
    ck_assert_ptr_nonnull(strstr(errs, ":1:1: yaml: the file is empty"));
    free(errs);
    unlink(tmp);
}
END_TEST

START_TEST(error_output_is_capped) {
    char tmp[] = "/tmp/check_spec_XXXXXX";
    int fd = mkstemp(tmp);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "name: many\n");
    for (int i = 0; i < 30; i++) fprintf(f, "junk_key_number_%d: 1\n", i);
    fclose(f);
    spec_t s;
    char *errs;
    ck_assert_int_eq(load(tmp, &s, &errs), -1);
    int lines = 0;
    for (const char *p = errs; *p; p++) lines += *p == '\n';
    ck_assert_int_eq(lines, 21);         /* 20 errors + the count of the rest */
    ck_assert_ptr_nonnull(strstr(errs, "more errors not shown"));
    /* sorted by position: the missing sections (reported at the root
     * mapping, 1:1) come first, then the junk keys line by line */
    char want[64];
    snprintf(want, sizeof want, "%s:1:1: model: missing required key", tmp);
    ck_assert_msg(!strncmp(errs, want, strlen(want)), "got:\n%s", errs);
    snprintf(want, sizeof want, "\n%s:2:1: junk_key_number_0: unknown key", tmp);
    ck_assert_ptr_nonnull(strstr(errs, want));
    int last = 0;
    for (const char *p = errs; (p = strstr(p, tmp)); p += strlen(tmp)) {
        const char *q = p + strlen(tmp) + 1;
        if (*q < '0' || *q > '9') continue;       /* the "N more errors" line */
        int line = atoi(q);
        ck_assert_int_ge(line, last);
        last = line;
    }
    free(errs);
    unlink(tmp);
}
END_TEST

/* Every prefix of a good spec either loads or is refused cleanly: no crash,
 * no over-read (run under CK_FORK, so a crash fails this test). */
START_TEST(truncated_specs_never_crash) {
    size_t len;
    char *text = tu_slurp(GOOD_DIR "/finetune-epochs.yaml", &len);
    ck_assert_ptr_nonnull(text);
    char tmp[] = "/tmp/check_spec_XXXXXX";
    int fd = mkstemp(tmp);
    ck_assert_int_ge(fd, 0);
    close(fd);
    int loaded = 0;
    for (size_t cut = 0; cut < len; cut += 3) {
        char *part = strndup(text, cut);
        spit(tmp, part);
        spec_t s;
        char *errs;
        int rc = load(tmp, &s, &errs);
        if (rc == 0) {
            loaded++;
            spec_free(&s);
        } else {
            check_error_shape(tmp, errs);
        }
        free(errs);
        free(part);
    }
    unlink(tmp);
    free(text);
    ck_assert_int_ge(loaded, 1);         /* the cuts after the last key */
}
END_TEST

/* ---- (2) good specs and the lock ------------------------------------------- */

static void check_lock(const char *path) {
    spec_t a, b;
    char *la = load_ok(path, &a);
    char *lb = load_ok(path, &b);
    ck_assert_str_eq(la, lb);
    ck_assert_str_eq(a.hash, b.hash);
    ck_assert_str_eq(a.path, path);
    /* the last line is "hash: <sha256 of everything above it>" */
    char *h = strstr(la, "\nhash: ");
    ck_assert_ptr_nonnull(h);
    ck_assert_str_eq(h + 7 + 64, "\n");
    ck_assert_int_eq(strncmp(h + 7, a.hash, 64), 0);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)la, (size_t)(h + 1 - la), md);
    char hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    ck_assert_str_eq(hex, a.hash);
    free(la);
    free(lb);
    spec_free(&a);
    spec_free(&b);
    ck_assert_ptr_null(a.name);
}

START_TEST(good_specs_load_and_lock) {
    DIR *d = opendir(GOOD_DIR);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".yaml")) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", GOOD_DIR, e->d_name);
        check_lock(path);
        n++;
    }
    closedir(d);
    ck_assert_int_ge(n, 4);
    const char *cfg[] = {"configs/130m.yaml", "configs/370m.yaml", "configs/790m.yaml",
                         "configs/1.4b.yaml", "configs/2.8b.yaml"};
    for (int i = 0; i < 5; i++) check_lock(cfg[i]);
}
END_TEST

START_TEST(reformatted_spec_same_hash) {
    spec_t a, b;
    char *la = load_ok(GOOD_DIR "/tiny-like.yaml", &a);
    char *lb = load_ok(GOOD_DIR "/tiny-like-reformatted.yaml", &b);
    ck_assert_str_eq(la, lb);
    ck_assert_str_eq(a.hash, b.hash);
    spec_t c;
    char *lc = load_ok(GOOD_DIR "/minimal.yaml", &c);
    ck_assert_str_ne(a.hash, c.hash);
    free(la);
    free(lb);
    free(lc);
    spec_free(&a);
    spec_free(&b);
    spec_free(&c);
}
END_TEST

/* One changed value must change the hash. */
START_TEST(changed_value_changes_hash) {
    size_t len;
    char *text = tu_slurp(GOOD_DIR "/minimal.yaml", &len);
    ck_assert_ptr_nonnull(text);
    char *at = strstr(text, "max_steps: 10");
    ck_assert_ptr_nonnull(at);
    char tmp[] = "/tmp/check_spec_XXXXXX";
    int fd = mkstemp(tmp);
    close(fd);
    spec_t a, b;
    spit(tmp, text);
    char *la = load_ok(tmp, &a);
    at[strlen("max_steps: 1")] = '1';   /* 10 -> 11 */
    spit(tmp, text);
    char *lb = load_ok(tmp, &b);
    ck_assert_int_eq(b.train.max_steps, 11);
    ck_assert_str_ne(a.hash, b.hash);
    unlink(tmp);
    free(la);
    free(lb);
    free(text);
    spec_free(&a);
    spec_free(&b);
}
END_TEST

START_TEST(lock_number_spelling) {
    spec_t s;
    char *l = load_ok("configs/130m.yaml", &s);
    ck_assert_ptr_nonnull(strstr(l, "\n    lr: 0.02\n"));
    ck_assert_ptr_nonnull(strstr(l, "\n  norm_eps: 1e-5\n"));
    ck_assert_ptr_nonnull(strstr(l, "\n    eps: 1e-8\n"));
    ck_assert_ptr_nonnull(strstr(l, "\n  grad_clip: 1.0\n"));
    ck_assert_ptr_nonnull(strstr(l, "\n    ns_coefficients: [3.4445, -4.775, 2.0315]\n"));
    ck_assert_ptr_nonnull(strstr(l, "\n  eval_tokens: 2000000\n"));
    ck_assert_ptr_nonnull(strstr(l, "\nname: \"130m\"\n"));
    ck_assert_ptr_nonnull(strstr(l, "\ntokenizer: \"hf:EleutherAI/gpt-neox-20b\"\n"));
    ck_assert_ptr_nonnull(strstr(l, "\nderived:\n  vocab_padded: 50280\n  d_inner: 1536\n  dt_rank: 48\n"
                                    "  tokens_per_step: 524288\n  max_steps: 20000\n  n_params: 129135360\n"));
    free(l);
    spec_free(&s);
}
END_TEST

/* ---- (3) defaults and derived values --------------------------------------- */

START_TEST(defaults_filled) {
    spec_t s;
    char *l = load_ok(GOOD_DIR "/minimal.yaml", &s);
    ck_assert_str_eq(s.name, "minimal");
    ck_assert_int_eq(s.backend, BACKEND_CPU);
    ck_assert_int_eq(s.model.d_state, 16);
    ck_assert_int_eq(s.model.d_conv, 4);
    ck_assert_int_eq(s.model.expand, 2);
    ck_assert(s.model.dt_rank_auto);
    ck_assert_double_eq(s.model.norm_eps, 1e-5);
    ck_assert(s.model.tie_embeddings);
    ck_assert_double_eq(s.model.init.dt_min, 0.001);
    ck_assert_double_eq(s.model.init.dt_max, 0.1);
    ck_assert_double_eq(s.model.init.dt_init_floor, 1e-4);
    ck_assert_double_eq(s.model.init.embed_std, 0.02);
    ck_assert(s.model.init.rescale_prenorm_residual);
    ck_assert_double_eq(s.optimizer.grad_clip, 1.0);
    ck_assert_int_eq(s.optimizer.muon.params.n, 3);
    ck_assert_str_eq(s.optimizer.muon.params.items[1], "*.x_proj.weight");
    ck_assert_double_eq(s.optimizer.muon.lr, 0.02);
    ck_assert_double_eq(s.optimizer.muon.momentum, 0.95);
    ck_assert(s.optimizer.muon.nesterov);
    ck_assert_int_eq(s.optimizer.muon.ns_steps, 5);
    ck_assert_double_eq(s.optimizer.muon.ns_coefficients[0], 3.4445);
    ck_assert_double_eq(s.optimizer.muon.ns_coefficients[1], -4.7750);
    ck_assert_double_eq(s.optimizer.muon.ns_coefficients[2], 2.0315);
    ck_assert_double_eq(s.optimizer.muon.weight_decay, 0.0);
    ck_assert_int_eq(s.optimizer.muon.lr_adjust, LR_ADJUST_ORIGINAL);
    ck_assert_int_eq(s.optimizer.adamw.params.n, 7);
    ck_assert_str_eq(s.optimizer.adamw.params.items[0], "embedding.weight");
    ck_assert_double_eq(s.optimizer.adamw.lr, 3e-3);
    ck_assert_double_eq(s.optimizer.adamw.betas[0], 0.9);
    ck_assert_double_eq(s.optimizer.adamw.betas[1], 0.95);
    ck_assert_double_eq(s.optimizer.adamw.eps, 1e-8);
    ck_assert_double_eq(s.optimizer.adamw.weight_decay, 0.1);
    ck_assert_int_eq(s.optimizer.adamw.no_decay.n, 4);
    ck_assert_str_eq(s.optimizer.adamw.no_decay.items[3], "*.bias");
    ck_assert_int_eq(s.schedule.warmup_steps, 0);
    ck_assert_int_eq(s.schedule.decay, DECAY_COSINE);
    ck_assert_double_eq(s.schedule.min_lr_ratio, 0.1);
    ck_assert_int_eq(s.train.phase, PHASE_PRETRAIN);
    ck_assert_int_eq(s.train.grad_accum, 1);
    ck_assert(!s.train.train_by_epochs);
    ck_assert_double_eq(s.train.num_epochs, 1.0);
    ck_assert_int_eq(s.train.total_train_tokens, 0);
    ck_assert_int_eq(s.train.max_steps, 10);
    ck_assert_int_eq(s.train.eval_every, 0);
    ck_assert_int_eq(s.train.eval_tokens, 8 * 64 * 2);
    ck_assert_int_eq(s.train.checkpoint_every, 0);
    ck_assert_uint_eq(s.train.seed, 1337);
    ck_assert(!s.train.reset_state_at_doc_boundaries);
    ck_assert_ptr_null(s.train.init_from);
    ck_assert_str_eq(s.data.source, "local");
    ck_assert_int_eq(s.data.paths.n, 1);
    ck_assert_str_eq(s.data.paths.items[0], "corpus.txt");
    ck_assert_ptr_null(s.data.url);
    ck_assert_str_eq(s.data.format, "auto");
    ck_assert_ptr_null(s.data.dataset);
    ck_assert_str_eq(s.data.config, "default");
    ck_assert_str_eq(s.data.split, "train");
    ck_assert_str_eq(s.data.text_column, "text");
    ck_assert_str_eq(s.data.prompt_template, "none");
    ck_assert_double_eq(s.data.validation_fraction, 0.0005);
    ck_assert_str_eq(s.tokenizer.name, "bytes");
    ck_assert_str_eq(s.checkpoint.dir, "checkpoints/minimal");
    ck_assert_int_eq(s.checkpoint.keep_last, 3);
    ck_assert_str_eq(s.logging.dir, "logs/minimal");
    ck_assert_int_eq(s.logging.every, 10);
    free(l);
    spec_free(&s);
}
END_TEST

START_TEST(derived_values) {
    spec_t s;
    char *l = load_ok(GOOD_DIR "/minimal.yaml", &s);
    ck_assert_int_eq(s.model.dt_rank, 7);            /* ceil(100 / 16) */
    ck_assert_int_eq(s.model.vocab_padded, 1008);    /* 1001 -> multiple of 8 */
    ck_assert_int_eq(s.model.d_inner, 200);
    ck_assert_int_eq(s.train.tokens_per_step, 64 * 2 * 1);
    free(l);
    spec_free(&s);

    l = load_ok(GOOD_DIR "/finetune-epochs.yaml", &s);
    ck_assert(!s.model.dt_rank_auto);
    ck_assert_int_eq(s.model.dt_rank, 20);
    ck_assert_int_eq(s.model.vocab_padded, 50280);
    ck_assert_int_eq(s.train.tokens_per_step, 8192);
    /* 2 epochs x 1,000,000 tokens / 8192 per step = 244.1 -> 245 */
    ck_assert(s.train.train_by_epochs);
    ck_assert_int_eq(s.train.total_train_tokens, 1000000);
    ck_assert_int_eq(s.train.max_steps, 245);
    ck_assert_int_eq(s.train.phase, PHASE_FINETUNE);
    ck_assert_str_eq(s.train.init_from, "checkpoints/130m/best");
    ck_assert_str_eq(s.data.source, "url");
    ck_assert_str_eq(s.data.prompt_template, "alpaca");
    ck_assert_int_eq(s.optimizer.muon.lr_adjust, LR_ADJUST_MATCH_RMS_ADAMW);
    ck_assert_int_eq(s.schedule.decay, DECAY_CONSTANT);
    ck_assert_ptr_nonnull(strstr(l, "\n  max_steps: null\n"));      /* not an input here */
    ck_assert_ptr_nonnull(strstr(l, "\n  max_steps: 245\n"));       /* under derived: */
    free(l);
    spec_free(&s);

    l = load_ok("configs/130m.yaml", &s);
    ck_assert_int_eq(s.model.dt_rank, 48);
    ck_assert_int_eq(s.model.vocab_padded, 50280);
    ck_assert_int_eq(s.train.tokens_per_step, 524288);
    ck_assert_int_eq(s.train.eval_tokens, 2000000);
    free(l);
    spec_free(&s);
}
END_TEST

/* Small edge values written to a temporary file. */
static int load_text(const char *text, spec_t *s, char **errs) {
    char tmp[] = "/tmp/check_spec_XXXXXX";
    int fd = mkstemp(tmp);
    ck_assert_int_ge(fd, 0);
    close(fd);
    spit(tmp, text);
    int rc = load(tmp, s, errs);
    unlink(tmp);
    return rc;
}

#define TINY "name: t\nmodel: {d_model: 8, n_layer: 1, vocab_size: 300}\ndata: {paths: [x]}\n"

START_TEST(integer_and_float_spellings) {
    spec_t s;
    char *errs;
    ck_assert_int_eq(load_text(TINY "train: {seq_len: 4, micro_batch: 1, max_steps: 1_000,"
                                    " seed: 9223372036854775807, eval_tokens: +0}\n"
                                    "optimizer: {muon: {lr: 1.0e-3, weight_decay: -0.0}, adamw: {eps: 1e-5}}\n",
                               &s, &errs), 0);
    ck_assert_int_eq(s.train.max_steps, 1000);
    ck_assert_uint_eq(s.train.seed, 9223372036854775807ull);
    ck_assert_int_eq(s.train.eval_tokens, 0);
    ck_assert_double_eq(s.optimizer.muon.lr, 1e-3);
    ck_assert_double_eq(s.optimizer.adamw.eps, 1e-5);
    char *l = spec_lock_yaml(&s);
    ck_assert_ptr_nonnull(strstr(l, "\n    weight_decay: 0.0\n"));   /* -0.0 spelled as 0.0 */
    free(l);
    spec_free(&s);
    free(errs);

    ck_assert_int_eq(load_text(TINY "train: {seq_len: 4, micro_batch: 1, max_steps: 1, seed: 9223372036854775808}\n",
                               &s, &errs), -1);
    ck_assert_ptr_nonnull(strstr(errs, "train.seed: 9223372036854775808 does not fit in a 64-bit integer"));
    free(errs);
    ck_assert_int_eq(load_text(TINY "train: {seq_len: 4, micro_batch: 1, max_steps: 0x10}\n", &s, &errs), -1);
    ck_assert_ptr_nonnull(strstr(errs, "train.max_steps: expected an integer, got '0x10'"));
    free(errs);
    ck_assert_int_eq(load_text(TINY "train: {seq_len: 4, micro_batch: 1, max_steps: 1}\n"
                                    "optimizer: {muon: {lr: 1e400}}\n", &s, &errs), -1);
    ck_assert_ptr_nonnull(strstr(errs, "optimizer.muon.lr: 1e400 is out of the range"));
    free(errs);
    ck_assert_int_eq(load_text(TINY "train: {seq_len: 4, micro_batch: 1, max_steps: 1}\n"
                                    "optimizer: {muon: {lr: 1..2}}\n", &s, &errs), -1);
    ck_assert_ptr_nonnull(strstr(errs, "optimizer.muon.lr: expected a number, got '1..2'"));
    free(errs);
}
END_TEST

/* ---- (4) parameter counts ---------------------------------------------------- */

static int64_t count_params(const char *path, spec_param_t **out, int *n, spec_t *s) {
    char *l = load_ok(path, s);
    free(l);
    ck_assert_int_eq(spec_param_list(s, out, n), 0);
    int64_t total = 0;
    for (int i = 0; i < *n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < (*out)[i].ndim; d++) numel *= (*out)[i].shape[d];
        ck_assert_int_eq(numel, (*out)[i].numel);
        total += numel;
    }
    return total;
}

START_TEST(param_counts_of_configs) {
    const struct { const char *path; int64_t n; int n_layer; } want[] = {
        {"configs/130m.yaml", 129135360, 24}, {"configs/370m.yaml", 371516416, 48},
        {"configs/790m.yaml", 793204224, 48}, {"configs/1.4b.yaml", 1372178432, 48},
        {"configs/2.8b.yaml", 2768345600, 64},
    };
    for (int i = 0; i < 5; i++) {
        spec_t s;
        spec_param_t *p;
        int n;
        ck_assert_int_eq(count_params(want[i].path, &p, &n, &s), want[i].n);
        ck_assert_int_eq(n, 2 + 10 * want[i].n_layer);
        ck_assert_int_eq(s.backend, BACKEND_CUDA);
        ck_assert_int_eq(s.model.vocab_size, 50277);
        free(p);
        spec_free(&s);
    }
}
END_TEST

START_TEST(param_table_order_and_shapes) {
    spec_t s;
    spec_param_t *p;
    int n;
    count_params("configs/130m.yaml", &p, &n, &s);
    const struct { int i; const char *name; int ndim; int64_t d0, d1, d2; } want[] = {
        {0, "embedding.weight", 2, 50280, 768, 0},
        {1, "layers.0.norm.weight", 1, 768, 0, 0},
        {2, "layers.0.mixer.in_proj.weight", 2, 3072, 768, 0},
        {3, "layers.0.mixer.conv1d.weight", 3, 1536, 1, 4},
        {4, "layers.0.mixer.conv1d.bias", 1, 1536, 0, 0},
        {5, "layers.0.mixer.x_proj.weight", 2, 48 + 32, 1536, 0},
        {6, "layers.0.mixer.dt_proj.weight", 2, 1536, 48, 0},
        {7, "layers.0.mixer.dt_proj.bias", 1, 1536, 0, 0},
        {8, "layers.0.mixer.A_log", 2, 1536, 16, 0},
        {9, "layers.0.mixer.D", 1, 1536, 0, 0},
        {10, "layers.0.mixer.out_proj.weight", 2, 768, 1536, 0},
        {11, "layers.1.norm.weight", 1, 768, 0, 0},
        {240, "layers.23.mixer.out_proj.weight", 2, 768, 1536, 0},
        {241, "norm_f.weight", 1, 768, 0, 0},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        const spec_param_t *q = &p[want[k].i];
        ck_assert_str_eq(q->name, want[k].name);
        ck_assert_int_eq(q->ndim, want[k].ndim);
        ck_assert_int_eq(q->shape[0], want[k].d0);
        ck_assert_int_eq(q->shape[1], want[k].d1);
        ck_assert_int_eq(q->shape[2], want[k].d2);
    }
    free(p);
    spec_free(&s);
}
END_TEST

/* ---- (5) optimizer groups ------------------------------------------------------ */

static const spec_param_t *find(const spec_param_t *p, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(p[i].name, name)) return &p[i];
    ck_abort_msg("no parameter %s", name);
    return NULL;
}

START_TEST(groups_default) {
    spec_t s;
    spec_param_t *p;
    int n;
    count_params("configs/130m.yaml", &p, &n, &s);
    const struct { const char *name; opt_group_t g; bool decay; } want[] = {
        {"embedding.weight", GROUP_ADAMW, true},
        {"layers.3.norm.weight", GROUP_ADAMW, false},
        {"layers.3.mixer.in_proj.weight", GROUP_MUON, false},     /* muon weight_decay 0 */
        {"layers.3.mixer.conv1d.weight", GROUP_ADAMW, true},
        {"layers.3.mixer.conv1d.bias", GROUP_ADAMW, false},
        {"layers.3.mixer.x_proj.weight", GROUP_MUON, false},
        {"layers.3.mixer.dt_proj.weight", GROUP_ADAMW, true},
        {"layers.3.mixer.dt_proj.bias", GROUP_ADAMW, false},
        {"layers.3.mixer.A_log", GROUP_ADAMW, false},
        {"layers.3.mixer.D", GROUP_ADAMW, false},
        {"layers.23.mixer.out_proj.weight", GROUP_MUON, false},
        {"norm_f.weight", GROUP_ADAMW, false},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        const spec_param_t *q = find(p, n, want[k].name);
        ck_assert_msg(q->group == want[k].g, "%s group", want[k].name);
        ck_assert_msg(q->decay == want[k].decay, "%s decay", want[k].name);
    }
    int muon = 0;
    int64_t muon_numel = 0;
    for (int i = 0; i < n; i++)
        if (p[i].group == GROUP_MUON) {
            muon++;
            muon_numel += p[i].numel;
            ck_assert_int_eq(p[i].ndim, 2);
        }
    ck_assert_int_eq(muon, 3 * 24);
    ck_assert_int_eq(muon_numel, 24 * (3072 * 768 + 80 * 1536 + 768 * 1536));
    free(p);
    spec_free(&s);
}
END_TEST

START_TEST(groups_custom) {
    spec_t s;
    spec_param_t *p;
    int n;
    count_params(GOOD_DIR "/finetune-epochs.yaml", &p, &n, &s);
    /* muon weight_decay 0.01 > 0: muon matrices decay */
    ck_assert(find(p, n, "layers.0.mixer.in_proj.weight")->decay);
    ck_assert_int_eq(find(p, n, "layers.0.mixer.in_proj.weight")->group, GROUP_MUON);
    free(p);
    spec_free(&s);

    count_params(GOOD_DIR "/all-adamw.yaml", &p, &n, &s);
    ck_assert_int_eq(s.optimizer.muon.params.n, 0);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(p[i].group, GROUP_ADAMW);
        bool nd = strstr(p[i].name, "A_log") || strstr(p[i].name, ".D") || strstr(p[i].name, "norm") ||
                  strstr(p[i].name, ".bias");
        ck_assert_msg(p[i].decay == !nd, "%s decay", p[i].name);
    }
    free(p);
    spec_free(&s);
}
END_TEST

START_TEST(enum_names) {
    ck_assert_str_eq(backend_name(BACKEND_CPU), "cpu");
    ck_assert_str_eq(backend_name(BACKEND_CUDA), "cuda");
    ck_assert_str_eq(phase_name(PHASE_PRETRAIN), "pretrain");
    ck_assert_str_eq(phase_name(PHASE_FINETUNE), "finetune");
    ck_assert_str_eq(decay_name(DECAY_COSINE), "cosine");
    ck_assert_str_eq(decay_name(DECAY_LINEAR), "linear");
    ck_assert_str_eq(decay_name(DECAY_CONSTANT), "constant");
    ck_assert_str_eq(lr_adjust_name(LR_ADJUST_ORIGINAL), "original");
    ck_assert_str_eq(lr_adjust_name(LR_ADJUST_MATCH_RMS_ADAMW), "match_rms_adamw");
}
END_TEST

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_bad_specs(void) {
    DIR *d = opendir(BAD_DIR);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) && n_bad < MAX_FILES) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".yaml")) bad_files[n_bad++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(bad_files, (size_t)n_bad, sizeof *bad_files, cmp_str);
}

int main(void) {
    list_bad_specs();
    Suite *su = suite_create("spec");
    TCase *tc = tcase_create("bad");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, enough_bad_specs);
    tcase_add_loop_test(tc, bad_spec_is_refused, 0, n_bad);
    tcase_add_test(tc, missing_and_empty_files);
    tcase_add_test(tc, error_output_is_capped);
    tcase_add_test(tc, truncated_specs_never_crash);
    suite_add_tcase(su, tc);
    tc = tcase_create("good");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, good_specs_load_and_lock);
    tcase_add_test(tc, reformatted_spec_same_hash);
    tcase_add_test(tc, changed_value_changes_hash);
    tcase_add_test(tc, lock_number_spelling);
    tcase_add_test(tc, defaults_filled);
    tcase_add_test(tc, derived_values);
    tcase_add_test(tc, integer_and_float_spellings);
    tcase_add_test(tc, param_counts_of_configs);
    tcase_add_test(tc, param_table_order_and_shapes);
    tcase_add_test(tc, groups_default);
    tcase_add_test(tc, groups_custom);
    tcase_add_test(tc, enum_names);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (int i = 0; i < n_bad; i++) free(bad_files[i]);
    return failed ? 1 : 0;
}
