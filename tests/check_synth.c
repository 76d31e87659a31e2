/* check_synth.c: tests of the synthetic data tools, run as programs:
 * synthcorpus (pretraining text) and synthinstruct (Alpaca instruction rows
 * about the same world).
 *
 * The tools are found in build/bin (where `make` puts them; `make test`
 * builds them first) or in the directory named by $TOOL_BIN_DIR. Every test
 * gets a fresh directory under /tmp, removed afterwards. */
#include "rt.h"
#include "testutil.h"

#include <check.h>
#include <ctype.h>
#include <ftw.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* train.txt of `synthcorpus --seed N` (default size) as written before
 * synthworld.h was split out of synthcorpus.c: the refactor, and any later
 * change, must keep the pretraining corpus byte-identical. */
#define CORPUS_MD5_SEED1 "cce31fde92112e9f3d093207357a6500"
#define CORPUS_MD5_SEED7 "18125a21f7f2e136592e678cda53a426"

#define N_TRAIN 3000
#define N_HELD 200

/* ---- fixtures and helpers ---- */
static void setup_tmp(void) { tu_setup_tmp("check_synth"); }
static void teardown_tmp(void) { tu_teardown_tmp(); }

static const char *bin(const char *tool) {
    static char bufs[4][512];
    static int k;
    char *b = bufs[k++ % 4];
    const char *dir = getenv("TOOL_BIN_DIR");
    snprintf(b, 512, "%s/%s", dir && *dir ? dir : "build/bin", tool);
    ck_assert_msg(access(b, X_OK) == 0, "%s: not built (run make, or set TOOL_BIN_DIR)", b);
    return b;
}

/* Runs a shell command with stdout+stderr captured; returns the exit status
 * and the output in *out (caller frees). */
static int run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(char **out, const char *fmt, ...) {
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[2600];
    snprintf(full, sizeof full, "%s >%s/.out 2>&1", cmd, tu_tmpdir);
    int st = system(full);
    ck_assert_msg(st != -1 && WIFEXITED(st), "could not run: %s", cmd);
    size_t n;
    char *o = rt_read_file(tp(".out"), &n);
    ck_assert_ptr_nonnull(o);
    if (out) *out = o;
    else free(o);
    return WEXITSTATUS(st);
}

static char *slurp(const char *path, size_t *len) {
    size_t n;
    char *s = rt_read_file(path, &n);
    ck_assert_msg(s != NULL, "cannot read %s", path);
    if (len) *len = n;
    return s;
}

static void md5_hex(const char *data, size_t len, char out[33]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    ck_assert_int_eq(EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL), 1);
    ck_assert_uint_eq(mdlen, 16);
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Writes the corpus for `seed` into DIR/corpusN and returns its text. */
static char *make_corpus(int seed, size_t *len) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/corpus%d", tu_tmpdir, seed);
    ck_assert_int_eq(run(NULL, "%s --out %s --seed %d", bin("synthcorpus"), dir, seed), 0);
    char path[700];
    snprintf(path, sizeof path, "%s/train.txt", dir);
    return slurp(path, len);
}

/* Runs synthinstruct for `seed` into DIR/<sub>. */
static void make_instruct(int seed, const char *sub) {
    char *out;
    int rc = run(&out, "%s --out %s --seed %d", bin("synthinstruct"), tp(sub), seed);
    ck_assert_msg(rc == 0, "synthinstruct failed: %s", out);
    free(out);
}

/* ---- the rows ---- */
typedef struct {
    char instruction[256], input[256], output[256];
} row_t;

/* Parses every line of DIR/<sub>/<file> with jansson; each must be an object
 * with exactly the three Alpaca string fields. */
static row_t *load_rows(const char *sub, const char *file, int *n) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s/%s", tu_tmpdir, sub, file);
    size_t len;
    char *text = slurp(path, &len);
    ck_assert_msg(len > 0 && text[len - 1] == '\n', "%s: must end with a newline", path);
    int cap = 4096, k = 0, line = 0;
    row_t *rows = calloc((size_t)cap, sizeof *rows);
    for (char *p = text; *p; line++) {
        char *nl = strchr(p, '\n');
        ck_assert_ptr_nonnull(nl);
        json_error_t err;
        json_t *o = json_loadb(p, (size_t)(nl - p), 0, &err);
        ck_assert_msg(o != NULL, "%s:%d: invalid JSON: %s", path, line + 1, err.text);
        ck_assert_msg(json_is_object(o) && json_object_size(o) == 3, "%s:%d: not a 3-key object",
                      path, line + 1);
        ck_assert_int_lt(k, cap);
        const char *keys[3] = {"instruction", "input", "output"};
        char *dst[3] = {rows[k].instruction, rows[k].input, rows[k].output};
        for (int i = 0; i < 3; i++) {
            json_t *v = json_object_get(o, keys[i]);
            ck_assert_msg(json_is_string(v), "%s:%d: \"%s\" missing or not a string", path,
                          line + 1, keys[i]);
            ck_assert_uint_lt(strlen(json_string_value(v)), 256);
            strcpy(dst[i], json_string_value(v));
        }
        ck_assert_msg(rows[k].instruction[0] && rows[k].output[0], "%s:%d: empty field", path,
                      line + 1);
        json_decref(o);
        k++;
        p = nl + 1;
    }
    free(text);
    *n = k;
    return rows;
}

/* What a row asks, independent of its wording: "fact:NAME:REL",
 * "plus:MIN:MAX" (plus and add-input: unordered), "minus:X:Y",
 * "times:MIN:MAX", "count:A:B". Also checks that the answer is right for
 * the arithmetic and counting kinds. */
static int word_number(const char *w) {
    static const char *ONES[] = {"zero", "one", "two", "three", "four", "five", "six", "seven",
                                 "eight", "nine", "ten", "eleven", "twelve", "thirteen",
                                 "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
                                 "nineteen"};
    static const char *TENS[] = {"twenty", "thirty", "forty", "fifty", "sixty", "seventy",
                                 "eighty", "ninety"};
    for (int i = 0; i < 20; i++)
        if (!strcmp(w, ONES[i])) return i;
    for (int t = 0; t < 8; t++) {
        size_t l = strlen(TENS[t]);
        if (!strncmp(w, TENS[t], l)) {
            if (!w[l]) return 20 + 10 * t;
            if (w[l] != '-') return -1;
            for (int i = 1; i < 10; i++)
                if (!strcmp(w + l + 1, ONES[i])) return 20 + 10 * t + i;
        }
    }
    return -1;
}

static const char *REL_MARK[6] = {" lives in ", " likes ", " has ", " is ", "'s favourite number is ",
                                  "'s friend is "};

static void row_key(const row_t *r, char key[128]) {
    int x, y, used = 0;
    char op[16];
    if (sscanf(r->instruction, "What is %d %15s %d?%n", &x, op, &y, &used) == 3 &&
        !r->instruction[used]) {
        int ans = atoi(r->output);
        char back[32];
        snprintf(back, sizeof back, "%d", ans);
        ck_assert_msg(!strcmp(back, r->output), "answer '%s' is not a plain number", r->output);
        if (!strcmp(op, "plus")) {
            ck_assert_int_eq(ans, x + y);
            snprintf(key, 128, "plus:%d:%d", x < y ? x : y, x < y ? y : x);
        } else if (!strcmp(op, "minus")) {
            ck_assert_int_eq(ans, x - y);
            ck_assert_int_ge(ans, 0);
            snprintf(key, 128, "minus:%d:%d", x, y);
        } else {
            ck_assert_str_eq(op, "times");
            ck_assert_int_eq(ans, x * y);
            snprintf(key, 128, "times:%d:%d", x < y ? x : y, x < y ? y : x);
        }
        ck_assert_str_eq(r->input, "");
        return;
    }
    if (!strcmp(r->instruction, "Add the numbers.")) {
        ck_assert_int_eq(sscanf(r->input, "%d and %d%n", &x, &y, &used), 2);
        ck_assert_msg(!r->input[used], "bad input '%s'", r->input);
        ck_assert_int_eq(atoi(r->output), x + y);
        snprintf(key, 128, "plus:%d:%d", x < y ? x : y, x < y ? y : x);
        return;
    }
    char a[32], b[32];
    if (sscanf(r->instruction, "Count from %31s to %31[a-z-].%n", a, b, &used) == 2 &&
        !r->instruction[used]) {
        x = word_number(a);
        y = word_number(b);
        ck_assert_msg(x >= 0 && y > x, "bad range in '%s'", r->instruction);
        /* "w1, w2, ..., wn": each word the next number */
        char out[256];
        strcpy(out, r->output);
        int expect = x, count = 0;
        for (char *tok = strtok(out, ","); tok; tok = strtok(NULL, ",")) {
            while (*tok == ' ') tok++;
            ck_assert_msg(word_number(tok) == expect, "'%s': '%s' where %d was due", r->output,
                          tok, expect);
            expect++;
            count++;
        }
        ck_assert_int_eq(count, y - x + 1);
        ck_assert_msg(!strstr(r->output, ",,") && !strstr(r->output, "  "), "bad list '%s'",
                      r->output);
        ck_assert_str_eq(r->input, "");
        snprintf(key, 128, "count:%d:%d", x, y);
        return;
    }
    /* a fact: the answer starts with the person's name, who the question names */
    ck_assert_str_eq(r->input, "");
    for (int rel = 0; rel < 6; rel++) {
        /* the relation with the earliest marker, so "X's friend is" is not read as "X is" */
        const char *m = strstr(r->output, REL_MARK[rel]);
        if (!m) continue;
        int earlier = 0;
        for (int o = 0; o < 6; o++) {
            const char *mo = strstr(r->output, REL_MARK[o]);
            if (o != rel && mo && mo < m) earlier = 1;
        }
        if (earlier) continue;
        char name[64];
        size_t nl = (size_t)(m - r->output);
        ck_assert_uint_lt(nl, sizeof name);
        memcpy(name, r->output, nl);
        name[nl] = '\0';
        ck_assert_msg(nl > 1 && isupper((unsigned char)name[0]), "no name in '%s'", r->output);
        for (size_t i = 1; i < nl; i++) ck_assert(islower((unsigned char)name[i]));
        ck_assert_msg(strstr(r->instruction, name) != NULL, "'%s' answered with '%s'",
                      r->instruction, r->output);
        ck_assert_msg(r->output[strlen(r->output) - 1] == '.', "'%s' is not a sentence", r->output);
        snprintf(key, 128, "fact:%s:%d", name, rel);
        return;
    }
    ck_abort_msg("row of unknown kind: '%s' / '%s' / '%s'", r->instruction, r->input, r->output);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Is `needle` at a word start in `hay` (the byte before is not a letter)? */
static const char *find_word(const char *hay, const char *needle) {
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        if (p == hay || !isalpha((unsigned char)p[-1])) return p;
    return NULL;
}

/* ---- tests ---- */
START_TEST(corpus_unchanged) {
    /* seed 1 default size: the corpus of the embedded default (make data) */
    size_t len;
    char hex[33], *text = make_corpus(1, &len);
    md5_hex(text, len, hex);
    ck_assert_str_eq(hex, CORPUS_MD5_SEED1);
    free(text);
    text = make_corpus(7, &len);
    md5_hex(text, len, hex);
    ck_assert_str_eq(hex, CORPUS_MD5_SEED7);
    free(text);
}
END_TEST

START_TEST(instruct_deterministic) {
    make_instruct(1, "a");
    make_instruct(1, "b");
    make_instruct(2, "c");
    const char *files[2] = {"train.jsonl", "heldout.jsonl"};
    for (int f = 0; f < 2; f++) {
        char pa[700], pb[700], pc[700];
        snprintf(pa, sizeof pa, "%s/a/%s", tu_tmpdir, files[f]);
        snprintf(pb, sizeof pb, "%s/b/%s", tu_tmpdir, files[f]);
        snprintf(pc, sizeof pc, "%s/c/%s", tu_tmpdir, files[f]);
        size_t la, lb, lc;
        char *a = slurp(pa, &la), *b = slurp(pb, &lb), *c = slurp(pc, &lc);
        ck_assert_msg(la == lb && !memcmp(a, b, la), "%s differs between two runs", files[f]);
        ck_assert_msg(la != lc || memcmp(a, c, la), "%s is the same for seeds 1 and 2", files[f]);
        free(a), free(b), free(c);
    }
    /* no temporary files left behind by the atomic writes */
    ck_assert_int_ne(access(tp("a/train.jsonl.tmp"), F_OK), 0);
}
END_TEST

START_TEST(instruct_rows_valid) {
    make_instruct(1, "s");
    int nt, nh;
    row_t *tr = load_rows("s", "train.jsonl", &nt), *he = load_rows("s", "heldout.jsonl", &nh);
    ck_assert_int_eq(nt, N_TRAIN);
    ck_assert_int_eq(nh, N_HELD);
    /* every kind in both splits, answers right (row_key checks them) */
    const char *kinds[] = {"fact:", "plus:", "minus:", "times:", "count:"};
    int seen[2][5] = {{0}}, add_input[2] = {0};
    for (int s = 0; s < 2; s++) {
        row_t *rows = s ? he : tr;
        for (int i = 0; i < (s ? nh : nt); i++) {
            char key[128];
            row_key(&rows[i], key);
            for (int k = 0; k < 5; k++)
                if (!strncmp(key, kinds[k], strlen(kinds[k]))) seen[s][k]++;
            if (rows[i].input[0]) add_input[s]++;
        }
        for (int k = 0; k < 5; k++)
            ck_assert_msg(seen[s][k] >= 10, "split %d has %d rows of kind %s", s, seen[s][k], kinds[k]);
        ck_assert_int_ge(add_input[s], 10);
    }
    /* all six relations are asked in the held-out split */
    for (int rel = 0; rel < 6; rel++) {
        int n = 0;
        for (int i = 0; i < nh; i++) {
            char key[128], suffix[16];
            row_key(&he[i], key);
            snprintf(suffix, sizeof suffix, ":%d", rel);
            if (!strncmp(key, "fact:", 5) && !strcmp(key + strlen(key) - 2, suffix)) n++;
        }
        ck_assert_msg(n >= 5, "relation %d asked %d times in heldout", rel, n);
    }
    free(tr);
    free(he);
}
END_TEST

START_TEST(heldout_disjoint) {
    make_instruct(1, "s");
    int nt, nh;
    row_t *tr = load_rows("s", "train.jsonl", &nt), *he = load_rows("s", "heldout.jsonl", &nh);
    char **tkeys = malloc((size_t)nt * sizeof *tkeys), **rows_t_ = malloc((size_t)nt * sizeof *rows_t_);
    for (int i = 0; i < nt; i++) {
        tkeys[i] = malloc(128);
        row_key(&tr[i], tkeys[i]);
        rows_t_[i] = malloc(800);
        snprintf(rows_t_[i], 800, "%s|%s|%s", tr[i].instruction, tr[i].input, tr[i].output);
    }
    qsort(tkeys, (size_t)nt, sizeof *tkeys, cmp_str);
    qsort(rows_t_, (size_t)nt, sizeof *rows_t_, cmp_str);
    /* train rows are distinct */
    for (int i = 1; i < nt; i++)
        ck_assert_msg(strcmp(rows_t_[i - 1], rows_t_[i]), "train row twice: %s", rows_t_[i]);
    char hkeys[N_HELD][128];
    for (int i = 0; i < nh; i++) {
        row_key(&he[i], hkeys[i]);
        const char *k = hkeys[i];
        ck_assert_msg(bsearch(&k, tkeys, (size_t)nt, sizeof *tkeys, cmp_str) == NULL,
                      "held-out row '%s' asks %s, which train.jsonl also asks", he[i].instruction, k);
        for (int j = 0; j < i; j++)
            ck_assert_msg(strcmp(hkeys[j], k), "held-out asks %s twice", k);
    }
    /* a held-out fact's person is still asked other things in train, so the
     * split tests the (person, relation) pair, not an unseen name */
    for (int i = 0; i < nh; i++) {
        if (strncmp(hkeys[i], "fact:", 5)) continue;
        char name[64];
        ck_assert_int_eq(sscanf(hkeys[i], "fact:%63[^:]", name), 1);
        int found = 0;
        for (int t = 0; t < nt && !found; t++)
            found = !strncmp(tkeys[t], "fact:", 5) && !strncmp(tkeys[t] + 5, name, strlen(name)) &&
                    tkeys[t][5 + strlen(name)] == ':';
        ck_assert_msg(found, "%s is never asked about in train", name);
    }
    for (int i = 0; i < nt; i++) free(tkeys[i]), free(rows_t_[i]);
    free(tkeys);
    free(rows_t_);
    free(tr);
    free(he);
}
END_TEST

/* The facts are the corpus's facts: every answer sentence occurs in the
 * pretraining text of the same seed, and the corpus never states another
 * city, number or friend for that person. */
static void check_world(int seed) {
    size_t len;
    char *corpus = make_corpus(seed, &len);
    char sub[16];
    snprintf(sub, sizeof sub, "w%d", seed);
    make_instruct(seed, sub);
    int n[2];
    row_t *rows[2] = {load_rows(sub, "train.jsonl", &n[0]), load_rows(sub, "heldout.jsonl", &n[1])};
    int facts = 0;
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < n[s]; i++) {
            const row_t *r = &rows[s][i];
            char key[128];
            row_key(r, key);
            if (strncmp(key, "fact:", 5)) continue;
            facts++;
            ck_assert_msg(find_word(corpus, r->output) != NULL,
                          "seed %d: '%s' never appears in the corpus", seed, r->output);
            int rel = key[strlen(key) - 1] - '0';
            if (rel != 0 && rel != 4 && rel != 5) continue;
            /* "NAME lives in " ... every occurrence continues as in the answer */
            const char *mark = strstr(r->output, REL_MARK[rel]);
            size_t prefix = (size_t)(mark - r->output) + strlen(REL_MARK[rel]);
            char stem[128];
            memcpy(stem, r->output, prefix);
            stem[prefix] = '\0';
            int occ = 0;
            for (const char *p = find_word(corpus, stem); p; p = find_word(p + 1, stem)) {
                ck_assert_msg(!strncmp(p, r->output, strlen(r->output)),
                              "seed %d: corpus says '%.60s', answer is '%s'", seed, p, r->output);
                occ++;
            }
            ck_assert_int_ge(occ, 1);
        }
    ck_assert_int_eq(facts, 630);   /* 540 in train, 90 held out */
    free(rows[0]);
    free(rows[1]);
    free(corpus);
}

START_TEST(answers_match_world_seed1) { check_world(1); }
END_TEST

START_TEST(answers_match_world_seed7) { check_world(7); }
END_TEST

START_TEST(cli_errors) {
    char *out;
    ck_assert_int_ne(run(&out, "%s", bin("synthinstruct")), 0);
    ck_assert_msg(strstr(out, "--out DIR is required"), "got: %s", out);
    free(out);
    ck_assert_int_ne(run(&out, "%s --out %s --seed abc", bin("synthinstruct"), tp("x")), 0);
    ck_assert_msg(strstr(out, "--seed") && strstr(out, "'abc'"), "got: %s", out);
    free(out);
    ck_assert_int_ne(run(&out, "%s --out %s --docs 3", bin("synthinstruct"), tp("x")), 0);
    ck_assert_msg(strstr(out, "unknown argument '--docs'"), "got: %s", out);
    free(out);
    ck_assert_int_ne(run(&out, "%s --out", bin("synthinstruct")), 0);
    ck_assert_msg(strstr(out, "--out needs a value"), "got: %s", out);
    free(out);
    ck_assert_int_eq(run(&out, "%s --help", bin("synthinstruct")), 0);
    ck_assert_msg(strstr(out, "usage: synthinstruct"), "got: %s", out);
    free(out);
    /* an output path that cannot be a directory */
    FILE *f = fopen(tp("file"), "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_ne(run(&out, "%s --out %s/sub", bin("synthinstruct"), tp("file")), 0);
    ck_assert_msg(strstr(out, "error:") && strstr(out, tp("file")), "got: %s", out);
    free(out);
}
END_TEST

static Suite *synth_suite(void) {
    Suite *s = suite_create("synth");
    TCase *tc = tcase_create("tools");
    tcase_add_checked_fixture(tc, setup_tmp, teardown_tmp);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, corpus_unchanged);
    tcase_add_test(tc, instruct_deterministic);
    tcase_add_test(tc, instruct_rows_valid);
    tcase_add_test(tc, heldout_disjoint);
    tcase_add_test(tc, answers_match_world_seed1);
    tcase_add_test(tc, answers_match_world_seed7);
    tcase_add_test(tc, cli_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(NULL);
    srunner_add_suite(sr, synth_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
