/* check_data.c: the streaming data pipeline (runtime/rt_data*.c) and the BPE
 * backend of rt_tokenizer.c, end to end.
 *
 * The reference for every stream is another way of reading the same
 * documents: a parquet file against the jsonl of the same texts (the
 * pyarrow fixtures of tests/fixtures/parquet/ come with one), the streaming
 * mode against the read-whole-at-open mode (whose rows check_runtime.c pins
 * down token by token), 1 worker thread against 4, a Hub dataset served by
 * the mock Hub (tests/mock_hub.c, with dropped connections, 429, 503 and
 * truncated bodies) against the local files, and a restored state against
 * the run that saved it. tests/fixtures/data/tiny_tokenizer.json is a small
 * hand-made byte-level BPE (GPT-2 byte alphabet, 33 merges, <|endoftext|>
 * = 288). Run from the repository root (as `make test` does). */
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub.h"
#include "mock_hub.h"
#include "rt.h"
#include "testutil.h"
/* The Makefile builds one source per test: the mock comes in here. */
#include "mock_hub.c"

#define FX "tests/fixtures/parquet/"
#define TINY_TOK "tests/fixtures/data/tiny_tokenizer.json"
#define DS "HuggingFaceFW/fineweb"

/* ---- scratch directory, stderr capture ---- */
static void setup_tmp(void) { tu_setup_tmp("check_data"); }
static void teardown_tmp(void) { tu_teardown_tmp(); }

/* ---- settings, handles ---- */
static rt_settings_t base(void) {
    rt_settings_t s;
    memset(&s, 0, sizeof s);
    s.data_source = "local";
    s.data_format = "auto";
    s.text_column = "text";
    s.prompt_template = "none";
    s.tokenizer = "bytes";
    return s;
}

static void set_paths(rt_settings_t *s, int n, ...) {
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) s->data_paths[i] = va_arg(ap, const char *);
    va_end(ap);
    s->n_data_paths = n;
}

static rt_data_t *open_ok(const rt_settings_t *s, const rt_tokenizer_t *t, int split,
                          const rt_data_options_t *o) {
    cap_begin();
    rt_data_t *d = rt_data_open_ex(s, t, split, o);
    char *m = cap_end();
    ck_assert_msg(d != NULL, "rt_data_open failed: %s", m);
    free(m);
    return d;
}

/* The message of an open that must fail. */
static char *open_fail(const rt_settings_t *s, const rt_tokenizer_t *t, int split,
                       const rt_data_options_t *o) {
    cap_begin();
    rt_data_t *d = rt_data_open_ex(s, t, split, o);
    char *m = cap_end();
    ck_assert_msg(d == NULL, "rt_data_open should have failed");
    return m;
}

/* One pass of a split: what rows of T tokens show, token by token. */
typedef struct {
    int32_t *tok;
    float *mask;      /* loss weight of the target after tok[i] */
    uint8_t *start;
    int64_t n;
} stream_t;

static void stream_free(stream_t *s) {
    free(s->tok);
    free(s->mask);
    free(s->start);
    memset(s, 0, sizeof *s);
}

/* Reads from position 0 until the stream wraps (the position falls back). */
static stream_t read_epoch(rt_data_t *d) {
    enum { T = 61 };
    stream_t s = {0};
    size_t cap = 0;
    ck_assert_int_eq(rt_data_position(d), 0);
    int32_t tg[T];
    for (int64_t pos = 0;;) {
        if ((size_t)s.n + T > cap) {
            cap = cap ? cap * 2 : 4096;
            s.tok = realloc(s.tok, cap * sizeof *s.tok);
            s.mask = realloc(s.mask, cap * sizeof *s.mask);
            s.start = realloc(s.start, cap);
        }
        ck_assert_int_eq(rt_data_next(d, 1, T, s.tok + s.n, tg, s.mask + s.n, s.start + s.n), 0);
        s.n += T;
        int64_t now = rt_data_position(d);
        if (now < pos + T) {  /* wrapped: the epoch had pos + T - now tokens */
            s.n -= now;
            break;
        }
        pos = now;
        ck_assert_int_lt(s.n, 50000000);
    }
    return s;
}

static void assert_same(const stream_t *a, const stream_t *b, const char *what) {
    ck_assert_msg(a->n == b->n, "%s: %lld vs %lld tokens", what, (long long)a->n, (long long)b->n);
    for (int64_t i = 0; i < a->n; i++)
        ck_assert_msg(a->tok[i] == b->tok[i] && a->start[i] == b->start[i] &&
                          (i == a->n - 1 || a->mask[i] == b->mask[i]),
                      "%s: first difference at token %lld (%d/%d start %d/%d mask %g/%g)", what,
                      (long long)i, a->tok[i], b->tok[i], a->start[i], b->start[i],
                      (double)a->mask[i], (double)b->mask[i]);
}

static stream_t epoch_of(const rt_settings_t *s, const rt_tokenizer_t *t, int split,
                         const rt_data_options_t *o) {
    rt_data_t *d = open_ok(s, t, split, o);
    stream_t st = read_epoch(d);
    rt_data_close(d);
    return st;
}

static int count_docs(const stream_t *s) {
    int n = 0;
    for (int64_t i = 0; i < s->n; i++) n += s->start[i];
    return n;
}

/* ---- fixture conversion: a jsonl of the fixture's values, one per line,
 * as objects {key: value} */
static int64_t wrap_jsonl(const char *src, const char *dst, const char *key) {
    size_t len;
    char *buf = rt_read_file(src, &len);
    ck_assert_ptr_nonnull(buf);
    FILE *out = fopen(dst, "wb");
    ck_assert_ptr_nonnull(out);
    int64_t n = 0;
    for (char *p = buf, *nl; p < buf + len; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(buf + len - p));
        if (!nl) nl = buf + len;
        if (nl == p) continue;
        json_error_t e;
        json_t *v = json_loadb(p, (size_t)(nl - p), JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        ck_assert_msg(v != NULL, "%s: %s", src, e.text);
        json_t *o = json_object();
        json_object_set_new(o, key, v);
        char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        fprintf(out, "%s\n", line);
        free(line);
        json_decref(o);
        n++;
    }
    fclose(out);
    free(buf);
    return n;
}

/* The i-th value of a fixture jsonl (one JSON string per line), NUL-safe. */
static char *fixture_value(const char *path, int i, size_t *len) {
    size_t n;
    char *buf = rt_read_file(path, &n);
    ck_assert_ptr_nonnull(buf);
    char *p = buf;
    for (int k = 0; k < i; k++) p = strchr(p, '\n') + 1;
    char *nl = strchr(p, '\n');
    json_error_t e;
    json_t *v = json_loadb(p, (size_t)(nl - p), JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    ck_assert_ptr_nonnull(v);
    *len = json_string_length(v);
    char *s = malloc(*len + 1);
    memcpy(s, json_string_value(v), *len + 1);
    json_decref(v);
    free(buf);
    return s;
}

/* ======================================================================
 * Local parquet against the jsonl of the same texts */
START_TEST(parquet_equals_jsonl) {
    ck_assert_int_eq(wrap_jsonl(FX "fineweb.text.jsonl", tp("fineweb.jsonl"), "text"), 240);
    const char *toks[] = {"bytes", TINY_TOK};
    for (int ti = 0; ti < 2; ti++) {
        rt_tokenizer_t *tok = rt_tokenizer_open(toks[ti]);
        ck_assert_ptr_nonnull(tok);
        rt_settings_t pq = base(), js = base();
        set_paths(&pq, 1, FX "fineweb.parquet");
        set_paths(&js, 1, tp("fineweb.jsonl"));
        rt_data_options_t mem = {.threads = 2}, str = {.threads = 3, .memory_bytes = -1};
        stream_t a = epoch_of(&pq, tok, RT_SPLIT_TRAIN, &mem);
        stream_t b = epoch_of(&js, tok, RT_SPLIT_TRAIN, &mem);
        stream_t c = epoch_of(&pq, tok, RT_SPLIT_TRAIN, &str);
        assert_same(&a, &b, "parquet vs jsonl");
        assert_same(&a, &c, "in memory vs streaming");
        ck_assert_int_eq(count_docs(&a), 240);
        /* the first document is the first text, then EOS */
        size_t len;
        char *want = fixture_value(FX "fineweb.text.jsonl", 0, &len);
        int64_t end = 1;
        while (!a.start[end]) end++;
        ck_assert_int_eq(a.tok[end - 1], rt_tokenizer_eos(tok));
        char *got = rt_tokenizer_decode(tok, a.tok, (size_t)end - 1);
        ck_assert_uint_eq(strlen(got), strlen(want));  /* (NUL bytes: compare the prefix) */
        ck_assert_mem_eq(got, want, strlen(want));
        free(got);
        free(want);
        /* counts, and the entropy estimate of a streaming source covers the
         * whole of so small an epoch */
        rt_data_t *dm = open_ok(&pq, tok, RT_SPLIT_TRAIN, &mem);
        rt_data_t *ds = open_ok(&pq, tok, RT_SPLIT_TRAIN, &str);
        ck_assert_int_eq(rt_data_num_tokens(dm), a.n);
        ck_assert_int_eq(rt_data_num_tokens(ds), -1);
        ck_assert_int_eq(rt_data_num_docs(dm), 240);
        ck_assert_int_eq(rt_data_num_docs(ds), 240);
        ck_assert_double_eq_tol(rt_data_unigram_entropy(ds), rt_data_unigram_entropy(dm), 1e-9);
        ck_assert_int_eq(rt_data_position(ds), 0);  /* the estimate moved nothing */
        rt_data_close(dm);
        rt_data_close(ds);
        stream_free(&a);
        stream_free(&b);
        stream_free(&c);

        /* both splits, same documents either way */
        pq.validation_fraction = js.validation_fraction = 0.25;
        int docs = 0;
        for (int split = 0; split < 2; split++) {
            stream_t x = epoch_of(&pq, tok, split, &str), y = epoch_of(&js, tok, split, &mem);
            assert_same(&x, &y, split ? "val split" : "train split");
            docs += count_docs(&x);
            if (split) ck_assert_int_gt(count_docs(&x), 30);
            stream_free(&x);
            stream_free(&y);
        }
        ck_assert_int_eq(docs, 240);
        rt_tokenizer_free(tok);
    }
}
END_TEST

/* ======================================================================
 * Threads and unit sizes do not change the stream */
START_TEST(threads_do_not_matter) {
    wrap_jsonl(FX "fineweb.text.jsonl", tp("fw.jsonl"), "text");
    FILE *f = fopen(tp("p.txt"), "w");
    for (int i = 0; i < 300; i++) fprintf(f, "paragraph %d line one\nline two of %d\n\n", i, i * 7);
    fclose(f);
    rt_tokenizer_t *tok = rt_tokenizer_open(TINY_TOK);
    rt_settings_t s = base();
    set_paths(&s, 4, FX "fineweb.parquet", tp("fw.jsonl"), tp("p.txt"), FX "dict_fallback.parquet");
    s.validation_fraction = 0.1;
    for (int split = 0; split < 2; split++) {
        rt_data_options_t o1 = {.threads = 1, .memory_bytes = -1, .unit_bytes = 3000};
        rt_data_options_t o4 = {.threads = 4, .memory_bytes = -1, .unit_bytes = 700};
        rt_data_options_t om = {.threads = 4};
        stream_t a = epoch_of(&s, tok, split, &o1), b = epoch_of(&s, tok, split, &o4),
                 c = epoch_of(&s, tok, split, &om);
        assert_same(&a, &b, "1 thread vs 4 threads");
        assert_same(&a, &c, "streaming vs in memory");
        rt_data_t *d = open_ok(&s, tok, split, &om);
        ck_assert_int_eq(count_docs(&a), rt_data_num_docs(d));
        rt_data_close(d);
        stream_free(&a);
        stream_free(&b);
        stream_free(&c);
    }
    rt_tokenizer_free(tok);
}
END_TEST

/* ======================================================================
 * Saved states give exactly the rows that would have come next */
enum { SB = 4, ST = 128, CALLS = 800 };
typedef struct {
    int32_t tok[SB * ST], tgt[SB * ST];
    float mask[SB * ST];
    uint8_t start[SB * ST];
} call_t;

static void next_call(rt_data_t *d, call_t *c) {
    ck_assert_int_eq(rt_data_next(d, SB, ST, c->tok, c->tgt, c->mask, c->start), 0);
}

static void assert_call(const call_t *a, const call_t *b, int i) {
    ck_assert_msg(!memcmp(a, b, sizeof *a), "call %d differs after the restore", i);
}

START_TEST(state_restore) {
    wrap_jsonl(FX "fineweb.text.jsonl", tp("fw.jsonl"), "text");
    rt_tokenizer_t *tok = rt_tokenizer_open(TINY_TOK);
    rt_settings_t s = base();
    set_paths(&s, 2, tp("fw.jsonl"), FX "fineweb.parquet");
    s.validation_fraction = 0.05;
    rt_data_options_t so = {.threads = 2, .memory_bytes = -1, .unit_bytes = 2048};
    rt_data_options_t mo = {.threads = 1};
    /* the reference: CALLS calls of SB rows, with the state before each */
    static call_t ref[CALLS];
    static char state[CALLS][RT_DATA_STATE_MAX];
    static int64_t pos[CALLS], ep[CALLS];
    rt_data_t *d = open_ok(&s, tok, RT_SPLIT_TRAIN, &so);
    for (int i = 0; i < CALLS; i++) {
        ck_assert_int_gt(rt_data_get_state(d, state[i], sizeof state[i]), 0);
        pos[i] = rt_data_position(d);
        ep[i] = rt_data_epoch(d);
        next_call(d, &ref[i]);
    }
    ck_assert_int_ge(rt_data_epoch(d), 1);  /* the calls cross an epoch boundary */
    char tiny[8];
    ck_assert_int_eq(rt_data_get_state(d, tiny, sizeof tiny), -1);
    rt_data_close(d);
    ck_assert_msg(!strncmp(state[0], "rt-data-1 split=train epoch=0 pos=0 file=0 rg=0 row=", 51),
                  "%s", state[0]);

    int wrap = 0;
    while (ep[wrap] == 0) wrap++;
    int at[] = {0, 1, 2, 17, 100, wrap - 1, wrap, wrap + 1, CALLS - 30};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        int i = at[k];
        for (int mode = 0; mode < 3; mode++) {
            rt_data_t *r = open_ok(&s, tok, RT_SPLIT_TRAIN, mode == 1 ? &mo : &so);
            if (mode < 2) {
                ck_assert_int_eq(rt_data_set_state(r, state[i]), 0);
            } else {  /* the plain position, read up to in a streaming source */
                ck_assert_int_eq(rt_data_seek(r, pos[i], ep[i]), 0);
            }
            ck_assert_int_eq(rt_data_position(r), pos[i]);
            ck_assert_int_eq(rt_data_epoch(r), ep[i]);
            char again[RT_DATA_STATE_MAX];
            rt_data_get_state(r, again, sizeof again);
            ck_assert_str_eq(again, state[i]);
            for (int j = i; j < i + 25 && j < CALLS; j++) {
                call_t c;
                next_call(r, &c);
                assert_call(&ref[j], &c, j);
            }
            rt_data_close(r);
        }
    }

    /* bad states */
    rt_data_t *r = open_ok(&s, tok, RT_SPLIT_TRAIN, &so);
    cap_begin();
    ck_assert_int_eq(rt_data_set_state(r, "rt-data-1 split=train epoch=0"), -1);
    char *m = cap_end();
    ck_assert_contains(m, "is malformed");
    free(m);
    rt_data_close(r);
    rt_settings_t s2 = s;
    set_paths(&s2, 1, tp("fw.jsonl"));
    r = open_ok(&s2, tok, RT_SPLIT_TRAIN, &so);
    cap_begin();
    ck_assert_int_eq(rt_data_set_state(r, state[5]), -1);
    m = cap_end();
    ck_assert_contains(m, "saved for other data");
    free(m);
    rt_data_close(r);
    r = open_ok(&s, tok, RT_SPLIT_VAL, &so);
    cap_begin();
    ck_assert_int_eq(rt_data_set_state(r, state[5]), -1);
    m = cap_end();
    ck_assert_contains(m, "for the train split, this is the val split");
    free(m);
    rt_data_close(r);

    /* the validation split: rewinding reads the same rows again, and its
     * own states restore too */
    r = open_ok(&s, tok, RT_SPLIT_VAL, &so);
    call_t v[40], w;
    char vs[RT_DATA_STATE_MAX];
    for (int i = 0; i < 40; i++) {
        if (i == 23) rt_data_get_state(r, vs, sizeof vs);
        next_call(r, &v[i]);
    }
    ck_assert_int_eq(rt_data_epoch(r), 0);
    rt_data_rewind(r);
    for (int i = 0; i < 40; i++) next_call(r, &w), assert_call(&v[i], &w, i);
    rt_data_close(r);
    r = open_ok(&s, tok, RT_SPLIT_VAL, &so);
    ck_assert_int_eq(rt_data_set_state(r, vs), 0);
    for (int i = 23; i < 40; i++) next_call(r, &w), assert_call(&v[i], &w, i);
    rt_data_close(r);
    rt_tokenizer_free(tok);
}
END_TEST

/* ======================================================================
 * Alpaca rows from parquet: the template, and the loss mask on the
 * response and its EOS only */
static const char *ALPACA_IN =
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n### Instruction:\n";
static const char *ALPACA_NO =
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\n\n### Instruction:\n";

START_TEST(alpaca_parquet) {
    /* the expected stream, from the fixture's columns */
    enum { N = 200 };
    size_t cap = 1 << 20, n = 0;
    int32_t *want = malloc(cap * sizeof *want);
    uint8_t *resp = calloc(cap, 1), *start = calloc(cap, 1);
    for (int i = 0; i < N; i++) {
        size_t il, inl, ol;
        char *in = fixture_value(FX "alpaca.instruction.jsonl", i, &il);
        char *inp = fixture_value(FX "alpaca.input.jsonl", i, &inl);
        char *out = fixture_value(FX "alpaca.output.jsonl", i, &ol);
        start[n] = 1;
        const char *head = inl ? ALPACA_IN : ALPACA_NO;
        for (const char *c = head; *c; c++) want[n++] = (unsigned char)*c;
        for (size_t k = 0; k < il; k++) want[n++] = (unsigned char)in[k];
        if (inl) {
            for (const char *c = "\n\n### Input:\n"; *c; c++) want[n++] = (unsigned char)*c;
            for (size_t k = 0; k < inl; k++) want[n++] = (unsigned char)inp[k];
        }
        for (const char *c = "\n\n### Response:\n"; *c; c++) want[n++] = (unsigned char)*c;
        for (size_t k = 0; k < ol; k++) resp[n] = 1, want[n++] = (unsigned char)out[k];
        resp[n] = 1;
        want[n++] = 256;
        ck_assert_uint_lt(n + 4096, cap);
        free(in), free(inp), free(out);
    }
    rt_tokenizer_t *tok = rt_tokenizer_open("bytes");
    rt_settings_t s = base();
    set_paths(&s, 1, FX "alpaca.parquet");
    s.prompt_template = "alpaca";
    rt_data_options_t modes[2] = {{.threads = 2}, {.threads = 3, .memory_bytes = -1}};
    for (int m = 0; m < 2; m++) {
        stream_t a = epoch_of(&s, tok, RT_SPLIT_TRAIN, &modes[m]);
        ck_assert_int_eq(a.n, (int64_t)n);
        int ones = 0;
        for (size_t j = 0; j < n; j++) {
            ck_assert_int_eq(a.tok[j], want[j]);
            ck_assert_int_eq(a.start[j], start[j]);
            if (j + 1 < n) ck_assert_msg(a.mask[j] == (float)resp[j + 1], "mask at %zu", j);
            ones += a.mask[j] == 1.0f;
        }
        ck_assert_int_gt(ones, N);
        stream_free(&a);
    }
    /* the same rows as jsonl objects give the same stream */
    json_t *rows[N];
    FILE *f = fopen(tp("al.jsonl"), "w");
    for (int i = 0; i < N; i++) {
        size_t l[3];
        char *v[3] = {fixture_value(FX "alpaca.instruction.jsonl", i, &l[0]),
                      fixture_value(FX "alpaca.input.jsonl", i, &l[1]),
                      fixture_value(FX "alpaca.output.jsonl", i, &l[2])};
        rows[i] = json_pack("{s:s%, s:s%, s:s%}", "instruction", v[0], l[0], "input", v[1], l[1],
                            "output", v[2], l[2]);
        char *line = json_dumps(rows[i], JSON_COMPACT);
        fprintf(f, "%s\n", line);
        free(line);
        json_decref(rows[i]);
        free(v[0]), free(v[1]), free(v[2]);
    }
    fclose(f);
    rt_settings_t js = s;
    set_paths(&js, 1, tp("al.jsonl"));
    stream_t a = epoch_of(&s, tok, RT_SPLIT_TRAIN, &modes[1]);
    stream_t b = epoch_of(&js, tok, RT_SPLIT_TRAIN, &modes[1]);
    assert_same(&a, &b, "alpaca parquet vs jsonl");
    stream_free(&a);
    stream_free(&b);
    /* a FineWeb-shaped file has no instruction column */
    set_paths(&s, 1, FX "fineweb.parquet");
    char *msg = open_fail(&s, tok, RT_SPLIT_TRAIN, &modes[0]);
    ck_assert_contains(msg, "fineweb.parquet: no column 'instruction' for prompt_template alpaca "
                            "(columns: text, id,");
    free(msg);
    rt_tokenizer_free(tok);
    free(want), free(resp), free(start);
}
END_TEST

/* ======================================================================
 * Errors name the file and the place; nothing is skipped */
#define NULL_AT_4 FX "basic_none_plain_v1.parquet: row group 0, row 4: column 'text' is null\n"

START_TEST(errors_name_the_file) {
    rt_tokenizer_t *tok = rt_tokenizer_open("bytes");
    rt_settings_t s = base();
    rt_data_options_t so = {.threads = 2, .memory_bytes = -1, .unit_bytes = 512};
    rt_data_options_t mo = {.threads = 2};
    /* a null text, found at open (in memory) or when the stream reaches it */
    set_paths(&s, 1, FX "basic_none_plain_v1.parquet");
    char *msg = open_fail(&s, tok, RT_SPLIT_TRAIN, &mo);
    ck_assert_str_eq(msg, "error: " NULL_AT_4);
    free(msg);
    set_paths(&s, 2, FX "fineweb.parquet", FX "basic_none_plain_v1.parquet");
    rt_data_t *d = open_ok(&s, tok, RT_SPLIT_TRAIN, &so);
    int32_t tk[512], tg[512];
    int rc = 0, calls = 0;
    cap_begin();
    while (rc == 0 && calls < 10000) rc = rt_data_next(d, 1, 512, tk, tg, NULL, NULL), calls++;
    ck_assert_int_eq(rt_data_next(d, 1, 512, tk, tg, NULL, NULL), -1);  /* and it stays stopped */
    msg = cap_end();
    ck_assert_int_eq(rc, -1);
    ck_assert_contains(msg, "error: " NULL_AT_4);
    ck_assert_contains(msg, "stopped at an earlier error");
    free(msg);
    rt_data_close(d);
    /* a required column of the same file: no nulls, it reads */
    set_paths(&s, 1, FX "basic_none_plain_v1.parquet");
    s.text_column = "req";
    d = open_ok(&s, tok, RT_SPLIT_TRAIN, &so);
    ck_assert_int_eq(rt_data_num_docs(d), 600);
    rt_data_close(d);
    set_paths(&s, 2, FX "fineweb.parquet", FX "basic_none_plain_v1.parquet");
    s.text_column = "body";
    msg = open_fail(&s, tok, RT_SPLIT_TRAIN, &so);
    ck_assert_contains(msg, "fineweb.parquet: no column 'body'; set data.text_column "
                            "(columns: text, id, dump,");
    free(msg);
    s.text_column = "text";
    /* what the parquet reader refuses, with the file's name */
    set_paths(&s, 1, FX "codec_lz4.parquet");
    msg = open_fail(&s, tok, RT_SPLIT_TRAIN, &mo);
    ck_assert_contains(msg, "codec_lz4.parquet");
    ck_assert_contains(msg, "LZ4");
    free(msg);
    FILE *f = fopen(tp("bad.parquet"), "wb");
    fputs("PAR1 this is not really a parquet file, whatever its name says PAR1", f);
    fclose(f);
    set_paths(&s, 1, tp("bad.parquet"));
    msg = open_fail(&s, tok, RT_SPLIT_TRAIN, &mo);
    ck_assert_contains(msg, "bad.parquet");
    free(msg);
    /* a bad jsonl line deep in a file: the right line number from a unit
     * that starts in the middle */
    f = fopen(tp("bad.jsonl"), "w");
    for (int i = 1; i <= 500; i++) {
        if (i == 200) fprintf(f, "\n");
        fprintf(f, i == 400 ? "{\"text\": \"broken}\n" : "{\"text\": \"line %d\"}\n", i);
    }
    fclose(f);
    set_paths(&s, 1, tp("bad.jsonl"));
    d = open_ok(&s, tok, RT_SPLIT_TRAIN, &so);
    rc = 0;
    cap_begin();
    for (calls = 0; rc == 0 && calls < 1000; calls++) rc = rt_data_next(d, 1, 64, tk, tg, NULL, NULL);
    msg = cap_end();
    ck_assert_int_eq(rc, -1);
    char want[700];
    snprintf(want, sizeof want, "error: %s:401: invalid JSON", tp("bad.jsonl"));
    ck_assert_msg(!strncmp(msg, want, strlen(want)), "got %s", msg);
    free(msg);
    rt_data_close(d);
    /* sources that run dry */
    set_paths(&s, 1, FX "empty.parquet");
    msg = open_fail(&s, tok, RT_SPLIT_TRAIN, &mo);
    ck_assert_str_eq(msg, "error: " FX "empty.parquet holds no documents\n");
    free(msg);
    set_paths(&s, 2, FX "fineweb.parquet", FX "empty.parquet");
    msg = open_fail(&s, tok, RT_SPLIT_VAL, &so);
    ck_assert_str_eq(msg, "error: validation split of " FX "fineweb.parquet (and 1 more files) is "
                          "empty: raise data.validation.fraction (now 0)\n");
    free(msg);
    rt_tokenizer_free(tok);
}
END_TEST

/* ======================================================================
 * Tokenizers: a tokenizer.json, and one from the Hub */
START_TEST(tokenizer_bpe) {
    rt_tokenizer_t *t = rt_tokenizer_open(TINY_TOK);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(rt_tokenizer_vocab_size(t), 289);
    ck_assert_int_eq(rt_tokenizer_eos(t), 288);
    const char *text = "the cat and the hat<|endoftext|>\xC3\xA9\xFF";
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    ck_assert_int_eq(rt_tokenizer_encode(t, text, strlen(text), &ids, &n, &cap), 0);
    ck_assert_uint_lt(n, strlen(text) - 10);  /* merges and the special token */
    int merged = 0, eos = 0;
    for (size_t i = 0; i < n; i++) merged += ids[i] >= 256 && ids[i] < 288, eos += ids[i] == 288;
    ck_assert_int_gt(merged, 3);
    ck_assert_int_eq(eos, 1);
    char *back = rt_tokenizer_decode(t, ids, n);
    ck_assert_str_eq(back, text);
    free(back);
    int32_t odd[] = {116, 300, 288};
    back = rt_tokenizer_decode(t, odd, 3);
    ck_assert_str_eq(back, "t\xEF\xBF\xBD<|endoftext|>");  /* the fixture's ids 0..255 are the bytes */
    free(back);
    rt_tokenizer_free(t);

    /* no <|endoftext|>: refused, since every document ends with it */
    size_t len;
    char *js = rt_read_file(TINY_TOK, &len);
    char *p = strstr(js, "<|endoftext|>");
    memcpy(p, "<|endoftexx|>", 13);
    FILE *f = fopen(tp("noeos.json"), "wb");
    fwrite(js, 1, len, f);
    fclose(f);
    cap_begin();
    ck_assert_ptr_null(rt_tokenizer_open(tp("noeos.json")));
    char *msg = cap_end();
    ck_assert_contains(msg, "noeos.json' has no <|endoftext|> token");
    free(msg);

    /* hf:OWNER/NAME through the cache, here from the mock Hub */
    mock_hub_t *m = mock_hub_start();
    size_t tlen;
    char *tj = rt_read_file(TINY_TOK, &tlen);
    mock_hub_add_file(m, "models", "org/tiny", "main", "tokenizer.json", tj, tlen, 0);
    setenv("HF_ENDPOINT", mock_hub_endpoint(m), 1);
    setenv("HF_HOME", tp("hf"), 1);
    unsetenv("HF_HUB_CACHE");
    unsetenv("HF_TOKEN");
    rt_tokenizer_t *h = rt_tokenizer_open("hf:org/tiny");
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(rt_tokenizer_eos(h), 288);
    int32_t *ids2 = NULL;
    size_t n2 = 0, cap2 = 0;
    rt_tokenizer_encode(h, text, strlen(text), &ids2, &n2, &cap2);
    ck_assert_uint_eq(n2, n);
    ck_assert_mem_eq(ids2, ids, n * sizeof *ids);
    rt_tokenizer_free(h);
    cap_begin();
    ck_assert_ptr_null(rt_tokenizer_open("hf:org/missing"));
    msg = cap_end();
    ck_assert_contains(msg, "error: tokenizer hf:org/missing: ");
    ck_assert_contains(msg, "404");
    free(msg);
    unsetenv("HF_ENDPOINT");
    unsetenv("HF_HOME");
    mock_hub_stop(m);
    free(tj);
    free(js);
    free(ids);
    free(ids2);
}
END_TEST

/* ======================================================================
 * The Hub: a FineWeb-like dataset on the mock Hub, against the local files */
static const char *CARD =
    "---\nconfigs:\n- config_name: sample-10BT\n  data_files:\n  - split: train\n"
    "    path: sample/10BT/*\n---\n# FineWeb-like\n";
static mock_hub_t *M;
static hub_config_t CFG;

static void add_fixture(const char *rev, const char *path, const char *fixture) {
    size_t len;
    char *b = rt_read_file(fixture, &len);
    ck_assert_ptr_nonnull(b);
    mock_hub_add_file(M, "datasets", DS, rev, path, b, len, 1);
    free(b);
}

/* The dataset at `rev` (and at the commit it resolves to, which is where a
 * pinned run lists it): 000 and 001 are the given fixtures. */
static void add_dataset(const char *rev, const char *f0, const char *f1) {
    char commit[64];
    snprintf(commit, sizeof commit, "%s", mock_hub_commit(M, "datasets", DS, rev));
    const char *revs[2] = {rev, commit};
    for (int i = 0; i < 2; i++) {
        mock_hub_add_file(M, "datasets", DS, revs[i], "README.md", CARD, strlen(CARD), 0);
        add_fixture(revs[i], "sample/10BT/000_00000.parquet", f0);
        add_fixture(revs[i], "sample/10BT/001_00000.parquet", f1);
    }
}

static void hub_setup(void) {
    setup_tmp();
    M = mock_hub_start();
    ck_assert_ptr_nonnull(M);
    add_dataset("main", FX "fineweb.parquet", FX "dict_fallback.parquet");
    hub_config_defaults(&CFG);
    snprintf(CFG.endpoint, sizeof CFG.endpoint, "%s", mock_hub_endpoint(M));
    snprintf(CFG.hf_home, sizeof CFG.hf_home, "%s", tu_tmpdir);
    snprintf(CFG.cache_dir, sizeof CFG.cache_dir, "%s/hub", tu_tmpdir);
    CFG.max_retries = 4;
    CFG.backoff_base_ms = 1;
    CFG.backoff_max_ms = 4;
    CFG.retry_after_max_ms = 10;
    CFG.timeout_s = 5;
    CFG.stall_s = 5;
}

static void hub_teardown(void) {
    mock_hub_stop(M);
    teardown_tmp();
}

static rt_settings_t hf_settings(void) {
    rt_settings_t s = base();
    s.data_source = "hf";
    s.dataset = DS;
    s.data_config = "sample-10BT";
    s.data_split = "train";
    s.validation_fraction = 0.05;
    return s;
}

/* Requests the mock answered with `status`. */
static int answered(int status) {
    int n = 0;
    for (int i = 0; i < mock_hub_nlog(M); i++) n += mock_hub_log(M, i).status == status;
    return n;
}

/* Range requests to the storage host that resume an earlier one (same end,
 * later start): what a dropped or truncated body leads to. */
static int resumed(void) {
    int n = 0, nl = mock_hub_nlog(M);
    for (int i = 0; i < nl; i++) {
        mock_req_t a = mock_hub_log(M, i);
        if (a.where != MOCK_STORAGE || !a.has_range) continue;
        for (int j = 0; j < i; j++) {
            mock_req_t b = mock_hub_log(M, j);
            if (b.where == MOCK_STORAGE && b.has_range && b.range_end == a.range_end &&
                b.range_start < a.range_start) {
                n++;
                break;
            }
        }
    }
    return n;
}

START_TEST(hf_equals_local) {
    rt_tokenizer_t *tok = rt_tokenizer_open(TINY_TOK);
    rt_settings_t hs = hf_settings(), ls = base();
    set_paths(&ls, 2, FX "fineweb.parquet", FX "dict_fallback.parquet");
    ls.validation_fraction = hs.validation_fraction;
    rt_data_options_t ho = {.threads = 3, .memory_bytes = -1, .hub_config = &CFG};
    rt_data_options_t hm = {.threads = 2, .hub_config = &CFG};
    rt_data_options_t lo = {.threads = 1};
    for (int split = 0; split < 2; split++) {
        stream_t l = epoch_of(&ls, tok, split, &lo);
        stream_t h = epoch_of(&hs, tok, split, &ho);
        assert_same(&l, &h, "hf (streaming) vs local");
        stream_free(&h);
        h = epoch_of(&hs, tok, split, &hm);
        assert_same(&l, &h, "hf (in memory) vs local");
        stream_free(&h);
        /* faults on the storage host and on the API: the same stream */
        mock_hub_reset_stats(M);
        mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_DROP, 700, 0, 2);
        mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_STATUS, 429, 0, 1);
        mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_STATUS, 503, -1, 2);
        mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_TRUNCATE, 1500, 0, 2);
        mock_hub_add_fault(M, MOCK_HUB, "/tree/", MOCK_STATUS, 503, -1, 1);
        h = epoch_of(&hs, tok, split, &ho);
        assert_same(&l, &h, "hf with faults vs local");
        ck_assert_int_ge(resumed(), 1);
        ck_assert_int_ge(answered(429), 1);
        ck_assert_int_ge(answered(503), 3);
        mock_hub_clear_faults(M);
        stream_free(&h);
        stream_free(&l);
    }
    /* counts without reading: every footer of a small dataset is read at open */
    rt_data_t *d = open_ok(&hs, tok, RT_SPLIT_TRAIN, &ho), *v = open_ok(&hs, tok, RT_SPLIT_VAL, &ho);
    ck_assert_int_eq(rt_data_num_docs(d) + rt_data_num_docs(v), 240 + 800);
    rt_data_close(d);
    rt_data_close(v);
    /* a large dataset's files open as the stream reaches them: the same */
    rt_data_options_t lazy = ho;
    lazy.eager_files = 1;
    d = open_ok(&hs, tok, RT_SPLIT_TRAIN, &lazy);
    ck_assert_int_eq(rt_data_num_docs(d), -1);
    stream_t a = read_epoch(d), b = epoch_of(&ls, tok, RT_SPLIT_TRAIN, &lo);
    assert_same(&a, &b, "hf opened lazily vs local");
    stream_free(&a);
    stream_free(&b);
    rt_data_close(d);
    rt_tokenizer_free(tok);
}
END_TEST

START_TEST(hf_resume_pinned) {
    rt_tokenizer_t *tok = rt_tokenizer_open("bytes");
    rt_settings_t hs = hf_settings();
    rt_data_options_t ho = {.threads = 2, .memory_bytes = -1, .hub_config = &CFG};
    char commit[64], st[RT_DATA_STATE_MAX];
    snprintf(commit, sizeof commit, "%s", mock_hub_commit(M, "datasets", DS, "main"));
    rt_data_t *d = open_ok(&hs, tok, RT_SPLIT_TRAIN, &ho);
    enum { NC = 2500 };
    static call_t ref[NC];
    int at = -1;
    for (int i = 0; i < NC; i++) {
        if (at < 0) {
            ck_assert_int_gt(rt_data_get_state(d, st, sizeof st), 0);
            if (strstr(st, " file=1 ")) at = i;  /* a state inside the second file */
        }
        next_call(d, &ref[i]);
        if (at >= 0 && i >= at + 150) break;
    }
    rt_data_close(d);
    ck_assert_int_ge(at, 0);
    char want[128];
    snprintf(want, sizeof want, " rev=%s", commit);
    ck_assert_contains(st, want);

    /* main moves on (other files); the state still reads the old commit */
    mock_hub_bump_commit(M, "datasets", DS, "main");
    add_dataset("main", FX "dict_fallback.parquet", FX "alpaca.parquet");
    ck_assert_str_ne(mock_hub_commit(M, "datasets", DS, "main"), commit);
    d = open_ok(&hs, tok, RT_SPLIT_TRAIN, &ho);
    cap_begin();
    int rc = rt_data_set_state(d, st);
    char *msg = cap_end();
    ck_assert_msg(rc == 0, "%s", msg);
    ck_assert_contains(msg, "resuming at commit");
    free(msg);
    for (int i = at; i <= at + 150; i++) {
        call_t c;
        next_call(d, &c);
        assert_call(&ref[i], &c, i);
    }
    rt_data_close(d);

    /* a file that keeps failing stops the stream, naming it */
    mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_STATUS, 503, -1, 1000);
    d = NULL;
    cap_begin();
    d = rt_data_open_ex(&hs, tok, RT_SPLIT_TRAIN, &ho);
    int32_t tk[64], tg[64];
    rc = d ? 0 : -1;
    for (int i = 0; rc == 0 && i < 100000; i++) rc = rt_data_next(d, 1, 64, tk, tg, NULL, NULL);
    msg = cap_end();
    ck_assert_int_eq(rc, -1);
    ck_assert_contains(msg, "sample/10BT/000_00000.parquet");
    ck_assert_contains(msg, "503");
    free(msg);
    rt_data_close(d);
    mock_hub_clear_faults(M);
    /* a config the card does not list */
    hs.data_config = "sample-99BT";
    msg = open_fail(&hs, tok, RT_SPLIT_TRAIN, &ho);
    ck_assert_contains(msg, "data.dataset " DS " (config sample-99BT, split train): ");
    ck_assert_contains(msg, "sample-10BT");
    free(msg);
    rt_tokenizer_free(tok);
}
END_TEST

START_TEST(url_source) {
    wrap_jsonl(FX "fineweb.text.jsonl", tp("fw.jsonl"), "text");
    size_t len;
    char *js = rt_read_file(tp("fw.jsonl"), &len);
    mock_hub_add_file(M, "datasets", "org/files", "main", "fw.jsonl", js, len, 0);
    free(js);
    char *pq = rt_read_file(FX "fineweb.parquet", &len);
    mock_hub_add_file(M, "datasets", "org/files", "main", "data/fw.parquet", pq, len, 1);
    free(pq);
    rt_tokenizer_t *tok = rt_tokenizer_open("bytes");
    rt_settings_t ls = base(), us = base();
    set_paths(&ls, 1, FX "fineweb.parquet");
    ls.validation_fraction = us.validation_fraction = 0.1;
    us.data_source = "url";
    char url[600];
    rt_data_options_t uo = {.threads = 2, .memory_bytes = -1, .hub_config = &CFG};
    stream_t l = epoch_of(&ls, tok, RT_SPLIT_TRAIN, &uo);
    const char *paths[] = {"data/fw.parquet", "fw.jsonl"};
    for (int i = 0; i < 2; i++) {
        snprintf(url, sizeof url, "%s/datasets/org/files/resolve/main/%s", mock_hub_endpoint(M), paths[i]);
        us.data_url = url;
        mock_hub_add_fault(M, MOCK_ANY, "fw.", MOCK_DROP, 300, 0, 1);
        stream_t u = epoch_of(&us, tok, RT_SPLIT_TRAIN, &uo);
        assert_same(&l, &u, paths[i]);
        stream_free(&u);
        mock_hub_clear_faults(M);
    }
    snprintf(url, sizeof url, "%s/datasets/org/files/resolve/main/gone.parquet", mock_hub_endpoint(M));
    us.data_url = url;
    char *msg = open_fail(&us, tok, RT_SPLIT_TRAIN, &uo);
    ck_assert_contains(msg, "data.url: ");
    ck_assert_contains(msg, "gone.parquet");
    ck_assert_contains(msg, "404");
    free(msg);
    stream_free(&l);
    rt_tokenizer_free(tok);
}
END_TEST

static Suite *data_suite(void) {
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("local");
    tcase_add_checked_fixture(tc, setup_tmp, teardown_tmp);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, parquet_equals_jsonl);
    tcase_add_test(tc, threads_do_not_matter);
    tcase_add_test(tc, state_restore);
    tcase_add_test(tc, alpaca_parquet);
    tcase_add_test(tc, errors_name_the_file);
    tcase_add_test(tc, tokenizer_bpe);
    suite_add_tcase(s, tc);
    TCase *th = tcase_create("hub");
    tcase_add_checked_fixture(th, hub_setup, hub_teardown);
    tcase_set_timeout(th, 60);
    tcase_add_test(th, hf_equals_local);
    tcase_add_test(th, hf_resume_pinned);
    tcase_add_test(th, url_source);
    suite_add_tcase(s, th);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(data_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
