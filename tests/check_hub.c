/* check_hub.c: the Hub client (runtime/hub.c) against the mock Hub of
 * tests/mock_hub.c, on 127.0.0.1 with scripted faults. Every faulty run is
 * compared with the fault-free run and with the source bytes. */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hub.h"
#include "mock_hub.h"
/* The Makefile builds one source per test: the mock comes in here. */
#include "mock_hub.c"

#define TOKEN "hf_TestTokenSecret0123456789abcdef"
#define FW "HuggingFaceFW/fineweb"
#define BIG_PATH "sample/10BT/000_00000.parquet"
#define BIG_LEN ((size_t)(1 << 20) + 123)

static mock_hub_t *M;
static hub_t *H;
static hub_config_t CFG;
static unsigned char *BIG;                 /* sample/10BT/000_00000.parquet [BIG_LEN] */
static char TMP[256];                      /* per-test scratch directory */
static char BIG_URL[512];

static const char *FINEWEB_CARD =
    "---\n"
    "license: odc-by\n"
    "task_categories:\n- text-generation\n"
    "configs:\n"
    "- config_name: default\n"
    "  data_files:\n"
    "  - split: train\n"
    "    path: data/*/*\n"
    "- config_name: sample-10BT\n"
    "  data_files:\n"
    "  - split: train\n"
    "    path: sample/10BT/*\n"
    "- config_name: CC-MAIN-2024-10\n"
    "  data_files:\n"
    "  - split: train\n"
    "    path: data/CC-MAIN-2024-10/*\n"
    "---\n"
    "# FineWeb\n";

static const char *TOKENIZER_V1 = "{\"version\":\"1.0\",\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}";
static const char *TOKENIZER_V2 = "{\"version\":\"1.0\",\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1}}}";

static void fill_random(unsigned char *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)(x >> 24);
    }
}

static void add_blob(const char *type, const char *repo, const char *rev, const char *path, size_t len,
                     uint64_t seed, int lfs)
{
    unsigned char *d = malloc(len);
    fill_random(d, len, seed);
    mock_hub_add_file(M, type, repo, rev, path, d, len, lfs);
    free(d);
}

static void add_text(const char *type, const char *repo, const char *rev, const char *path, const char *s)
{
    mock_hub_add_file(M, type, repo, rev, path, s, strlen(s), 0);
}

static void setup(void)
{
    M = mock_hub_start();
    ck_assert_ptr_nonnull(M);
    BIG = malloc(BIG_LEN);
    fill_random(BIG, BIG_LEN, 42);
    /* FineWeb-like: configs in the card */
    add_text("datasets", FW, "main", "README.md", FINEWEB_CARD);
    mock_hub_add_file(M, "datasets", FW, "main", BIG_PATH, BIG, BIG_LEN, 1);
    add_blob("datasets", FW, "main", "sample/10BT/002_00000.parquet", 3000, 2, 1);
    add_blob("datasets", FW, "main", "sample/10BT/001_00000.parquet", 5000, 1, 1);
    add_blob("datasets", FW, "main", "sample/100BT/000_00000.parquet", 100, 3, 1);
    add_blob("datasets", FW, "main", "data/CC-MAIN-2024-10/000_00000.parquet", 200, 4, 1);
    add_blob("datasets", FW, "main", "data/CC-MAIN-2013-20/000_00000.parquet", 300, 5, 1);
    add_blob("datasets", FW, "main", "data/CC-MAIN-2013-20/deeper/x.parquet", 30, 5, 1);   /* '*' stops at '/' */
    /* Alpaca-like: no configs in the card */
    add_text("datasets", "tatsu-lab/alpaca", "main", "README.md", "---\nlicense: cc-by-nc-4.0\n---\n# Alpaca\n");
    add_blob("datasets", "tatsu-lab/alpaca", "main", "data/train-00000-of-00001-a09b74b3ef9c3b56.parquet", 4000, 6, 1);
    add_text("datasets", "tatsu-lab/alpaca", "main", "alpaca_data.json", "[]");
    /* JSON-only datasets: parquet only on the conversion branch */
    add_text("datasets", "someone/jsonds", "main", "data/train.jsonl", "{\"text\":\"a\"}\n");
    add_text("datasets", "someone/jsonds", "main", "data/test.jsonl", "{\"text\":\"b\"}\n");
    add_blob("datasets", "someone/jsonds", "refs/convert/parquet", "default/train/0001.parquet", 70, 7, 1);
    add_blob("datasets", "someone/jsonds", "refs/convert/parquet", "default/train/0000.parquet", 80, 8, 1);
    add_blob("datasets", "someone/jsonds", "refs/convert/parquet", "default/test/0000.parquet", 90, 9, 1);
    add_blob("datasets", "someone/jsonds", "refs/convert/parquet", "other/train/0000.parquet", 50, 12, 1);
    add_text("datasets", "someone/bigjson", "main", "data/train-0.jsonl", "{}\n");
    add_blob("datasets", "someone/bigjson", "refs/convert/parquet", "default/partial-train/0000.parquet", 60, 10, 1);
    /* pagination: 7 files + 2 folders = 9 entries */
    const char *many[] = {"z.bin", "d2/h.parquet", "d2/g.parquet", "d1/e/f.parquet", "d1/c.parquet",
                          "d1/b.parquet", "a.txt"};
    for (int i = 0; i < 7; i++) add_blob("datasets", "org/many", "main", many[i], (size_t)(10 + i), (uint64_t)(20 + i), i % 2);
    /* a model repo with a tokenizer */
    add_text("models", "EleutherAI/gpt-neox-20b", "main", "tokenizer.json", TOKENIZER_V1);
    add_text("models", "EleutherAI/gpt-neox-20b", "main", "config.json", "{}");
    /* a gated repo that wants another token */
    add_blob("datasets", "org/gated", "main", "data/train-0.parquet", 10, 11, 1);
    mock_hub_require_token(M, "org/gated", "hf_someone_else");

    snprintf(TMP, sizeof TMP, "/tmp/check_hub.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(TMP));
    hub_config_defaults(&CFG);
    snprintf(CFG.endpoint, sizeof CFG.endpoint, "%s", mock_hub_endpoint(M));
    snprintf(CFG.token, sizeof CFG.token, "%s", TOKEN);
    snprintf(CFG.hf_home, sizeof CFG.hf_home, "%s", TMP);
    snprintf(CFG.cache_dir, sizeof CFG.cache_dir, "%s/hub", TMP);
    CFG.max_retries = 4;
    CFG.backoff_base_ms = 1;
    CFG.backoff_max_ms = 4;
    CFG.stall_s = 10;
    CFG.timeout_s = 5;
    CFG.quiet = 1;
    char err[256];
    H = hub_open(&CFG, err, sizeof err);
    ck_assert_msg(H != NULL, "%s", err);
    snprintf(BIG_URL, sizeof BIG_URL, "%s/datasets/%s/resolve/main/%s", mock_hub_endpoint(M), FW, BIG_PATH);
}

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st)) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void teardown(void)
{
    hub_close(H);
    mock_hub_stop(M);
    free(BIG);
    rm_rf(TMP);
}

static hub_t *open_with(const hub_config_t *c)
{
    char err[256];
    hub_t *h = hub_open(c, err, sizeof err);
    ck_assert_msg(h != NULL, "%s", err);
    return h;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    unsigned char *buf;
    size_t len, cap, stop_after;
} acc_t;

static int acc_sink(void *ctx, const void *p, size_t n)
{
    acc_t *a = ctx;
    if (a->len + n > a->cap) {
        a->cap = (a->len + n) * 2;
        a->buf = realloc(a->buf, a->cap);
    }
    memcpy(a->buf + a->len, p, n);
    a->len += n;
    return a->stop_after && a->len >= a->stop_after;
}

/* Streams url from off; checks the bytes against BIG. */
static void check_stream(hub_t *h, uint64_t off)
{
    acc_t a = {0};
    int rc = hub_stream(h, BIG_URL, off, acc_sink, &a);
    ck_assert_msg(rc == 0, "stream: %s", hub_last_error());
    ck_assert_uint_eq(a.len, BIG_LEN - off);
    ck_assert(a.len == 0 || memcmp(a.buf, BIG + off, a.len) == 0);
    free(a.buf);
}

static void check_range(hub_t *h, uint64_t off, size_t len)
{
    unsigned char *dst = malloc(len);
    memset(dst, 0xAB, len);
    int rc = hub_read_range(h, BIG_URL, off, dst, len);
    ck_assert_msg(rc == 0, "read_range(%llu, %zu): %s", (unsigned long long)off, len, hub_last_error());
    ck_assert_msg(memcmp(dst, BIG + off, len) == 0, "bytes differ at offset %llu", (unsigned long long)off);
    free(dst);
}

/* n-th storage request in the log */
static mock_req_t storage_req(int k)
{
    int seen = 0;
    for (int i = 0; i < mock_hub_nlog(M); i++) {
        mock_req_t r = mock_hub_log(M, i);
        if (r.where == MOCK_STORAGE && seen++ == k) return r;
    }
    mock_req_t none;
    memset(&none, 0, sizeof none);
    return none;
}

/* ------------------------------------------------------------------------
 * configuration and URLs */
START_TEST(test_config_env)
{
    hub_config_t c;
    char err[256] = "";
    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    unsetenv("HUGGING_FACE_HUB_TOKEN");
    unsetenv("HF_TOKEN_PATH");
    unsetenv("HF_HUB_OFFLINE");
    unsetenv("HF_HUB_VERBOSITY");
    setenv("HF_ENDPOINT", "https://mirror.example.org//", 1);
    setenv("HF_TOKEN", "hf_env_token", 1);
    setenv("HF_HOME", TMP, 1);
    ck_assert_int_eq(hub_config_from_env(&c, err, sizeof err), 0);
    ck_assert_str_eq(c.endpoint, "https://mirror.example.org");
    ck_assert_str_eq(c.token, "hf_env_token");
    ck_assert_str_eq(c.hf_home, TMP);
    char want[512];
    snprintf(want, sizeof want, "%s/hub", TMP);
    ck_assert_str_eq(c.cache_dir, want);
    ck_assert_int_eq(c.offline, 0);

    unsetenv("HF_TOKEN");
    setenv("HUGGING_FACE_HUB_TOKEN", "hf_legacy", 1);
    ck_assert_int_eq(hub_config_from_env(&c, err, sizeof err), 0);
    ck_assert_str_eq(c.token, "hf_legacy");

    unsetenv("HUGGING_FACE_HUB_TOKEN");
    ck_assert_int_eq(hub_config_from_env(&c, err, sizeof err), 0);
    ck_assert_str_eq(c.token, "");
    char tp[512];
    snprintf(tp, sizeof tp, "%s/token", TMP);
    FILE *f = fopen(tp, "w");
    fputs("hf_from_file\n", f);
    fclose(f);
    ck_assert_int_eq(hub_config_from_env(&c, err, sizeof err), 0);
    ck_assert_str_eq(c.token, "hf_from_file");

    setenv("HF_HUB_CACHE", "/somewhere/cache", 1);
    setenv("HF_HUB_OFFLINE", "1", 1);
    unsetenv("HF_ENDPOINT");
    ck_assert_int_eq(hub_config_from_env(&c, err, sizeof err), 0);
    ck_assert_str_eq(c.cache_dir, "/somewhere/cache");
    ck_assert_str_eq(c.endpoint, "https://huggingface.co");
    ck_assert_int_eq(c.offline, 1);
    ck_assert_int_eq(c.verbose, 0);
    setenv("HF_HUB_VERBOSITY", "debug", 1);
    ck_assert_int_eq(hub_config_from_env(&c, err, sizeof err), 0);
    ck_assert_int_eq(c.verbose, 1);
    unsetenv("HF_HUB_VERBOSITY");

    unsetenv("HF_HOME");
    unsetenv("HF_HUB_CACHE");
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    ck_assert_int_eq(hub_config_from_env(&c, err, sizeof err), 0);
    ck_assert_str_eq(c.hf_home, "/xdg/huggingface");
    ck_assert_str_eq(c.cache_dir, "/xdg/huggingface/hub");

    setenv("HF_TOKEN_PATH", TMP, 1);    /* a directory: unreadable as a token file */
    ck_assert_int_eq(hub_config_from_env(&c, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "HF_TOKEN_PATH"));
    unsetenv("HF_TOKEN_PATH");
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HF_HUB_OFFLINE");
}
END_TEST

START_TEST(test_open_bad_endpoint)
{
    hub_config_t c = CFG;
    char err[256] = "";
    snprintf(c.endpoint, sizeof c.endpoint, "ftp://example.org");
    ck_assert_ptr_null(hub_open(&c, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "ftp://example.org"));
    snprintf(c.endpoint, sizeof c.endpoint, "%s", "");
    ck_assert_ptr_null(hub_open(&c, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "HF_ENDPOINT"));
}
END_TEST

START_TEST(test_resolve_url)
{
    char want[1024];
    char *u = hub_resolve_url(H, "datasets", "someone/jsonds", "refs/convert/parquet", "default/train/0000.parquet");
    snprintf(want, sizeof want, "%s/datasets/someone/jsonds/resolve/refs%%2Fconvert%%2Fparquet/default/train/0000.parquet",
             mock_hub_endpoint(M));
    ck_assert_str_eq(u, want);
    free(u);
    u = hub_resolve_url(H, "model", "EleutherAI/gpt-neox-20b", NULL, "dir/a b+c.json");
    snprintf(want, sizeof want, "%s/EleutherAI/gpt-neox-20b/resolve/main/dir/a%%20b%%2Bc.json", mock_hub_endpoint(M));
    ck_assert_str_eq(u, want);
    free(u);
    ck_assert_ptr_null(hub_resolve_url(H, "datasets", FW, "main", "../../etc/passwd"));
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "../../etc/passwd"));
    ck_assert_ptr_null(hub_resolve_url(H, "datasets", FW, "main", "/abs"));
    ck_assert_ptr_null(hub_resolve_url(H, "datasets", "a/b/c", "main", "x"));
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "a/b/c"));
    ck_assert_ptr_null(hub_resolve_url(H, "datasets", "a b", "main", "x"));
    ck_assert_ptr_null(hub_resolve_url(H, "buckets", FW, "main", "x"));
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "buckets"));
}
END_TEST

/* ------------------------------------------------------------------------
 * listing */
static void lists_equal(const hub_file_t *a, int na, const hub_file_t *b, int nb)
{
    ck_assert_int_eq(na, nb);
    for (int i = 0; i < na; i++) {
        ck_assert_str_eq(a[i].path, b[i].path);
        ck_assert_uint_eq(a[i].size, b[i].size);
        ck_assert_str_eq(a[i].oid, b[i].oid);
        ck_assert_str_eq(a[i].url, b[i].url);
        ck_assert_int_eq(a[i].lfs_sha256 != NULL, b[i].lfs_sha256 != NULL);
    }
}

START_TEST(test_list_paginated)
{
    hub_file_t *ref, *pg;
    int nref, npg;
    ck_assert_int_eq(hub_list_files(H, "datasets", "org/many", "main", "", &ref, &nref), 0);
    ck_assert_int_eq(nref, 7);             /* files only, folders dropped */
    for (int i = 1; i < nref; i++) ck_assert_int_lt(strcmp(ref[i - 1].path, ref[i].path), 0);
    ck_assert_str_eq(ref[0].path, "a.txt");
    ck_assert_str_eq(ref[3].path, "d1/e/f.parquet");
    ck_assert_uint_eq(ref[3].size, 13);    /* the LFS size, not the pointer's */
    ck_assert_ptr_nonnull(ref[3].lfs_sha256);

    mock_hub_set_page_size(M, 3);          /* 9 entries -> 3 pages */
    mock_hub_reset_stats(M);
    ck_assert_int_eq(hub_list_files(H, "datasets", "org/many", "main", NULL, &pg, &npg), 0);
    ck_assert_int_eq(mock_hub_count(M, MOCK_HUB, "GET", "/tree/"), 3);
    ck_assert_int_eq(mock_hub_count(M, MOCK_HUB, "GET", "cursor=6"), 1);
    lists_equal(ref, nref, pg, npg);
    hub_files_free(pg, npg);

    /* a prefix */
    ck_assert_int_eq(hub_list_files(H, "datasets", "org/many", "main", "d1", &pg, &npg), 0);
    ck_assert_int_eq(npg, 3);
    ck_assert_str_eq(pg[0].path, "d1/b.parquet");
    hub_files_free(pg, npg);
    hub_files_free(ref, nref);
}
END_TEST

START_TEST(test_list_page_faults)
{
    hub_file_t *ref, *pg;
    int nref, npg;
    mock_hub_set_page_size(M, 3);
    ck_assert_int_eq(hub_list_files(H, "datasets", "org/many", "main", "", &ref, &nref), 0);
    mock_hub_add_fault(M, MOCK_HUB, "cursor=3", MOCK_STATUS, 503, -1, 1);
    mock_hub_add_fault(M, MOCK_HUB, "cursor=6", MOCK_TRUNCATE, 20, 0, 1);
    mock_hub_add_fault(M, MOCK_HUB, "/tree/", MOCK_HANGUP, 0, 0, 1);
    mock_hub_reset_stats(M);
    ck_assert_int_eq(hub_list_files(H, "datasets", "org/many", "main", "", &pg, &npg), 0);
    ck_assert_int_eq(mock_hub_count(M, MOCK_HUB, "GET", "/tree/"), 6);   /* 3 pages + 3 retries */
    lists_equal(ref, nref, pg, npg);
    hub_files_free(pg, npg);
    hub_files_free(ref, nref);
}
END_TEST

START_TEST(test_list_errors)
{
    hub_file_t *f = (hub_file_t *)1;
    int n = -1;
    ck_assert_int_eq(hub_list_files(H, "datasets", "org/many", "main", "nope", &f, &n), -1);
    ck_assert_ptr_null(f);
    ck_assert_int_eq(n, 0);
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "/api/datasets/org/many/tree/main/nope"));
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "404"));
    ck_assert_int_eq(mock_hub_count(M, MOCK_HUB, "GET", "/tree/"), 1);   /* 404: no retries */
    ck_assert_int_eq(hub_list_files(H, "datasets", "org/nothere", "main", "", &f, &n), -1);
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "Repository not found"));

    mock_hub_add_fault(M, MOCK_HUB, "/tree/", MOCK_GARBAGE, 0, 0, 1);
    ck_assert_int_eq(hub_list_files(H, "datasets", "org/many", "main", "", &f, &n), -1);
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "bad JSON"));
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "/api/datasets/org/many/tree/main"));
}
END_TEST

static void expect_paths(hub_file_t *f, int n, const char *const *want, int nwant)
{
    ck_assert_int_eq(n, nwant);
    for (int i = 0; i < n; i++) ck_assert_str_eq(f[i].path, want[i]);
}

START_TEST(test_parquet_fineweb)
{
    hub_file_t *f;
    int n;
    ck_assert_int_eq(hub_list_parquet(H, FW, "main", "sample-10BT", "train", &f, &n), 0);
    const char *s10[] = {"sample/10BT/000_00000.parquet", "sample/10BT/001_00000.parquet",
                         "sample/10BT/002_00000.parquet"};
    expect_paths(f, n, s10, 3);
    ck_assert_uint_eq(f[0].size, BIG_LEN);
    ck_assert_uint_eq(f[2].size, 3000);
    ck_assert_str_eq(f[0].url, BIG_URL);
    hub_files_free(f, n);

    ck_assert_int_eq(hub_list_parquet(H, FW, NULL, "default", "train", &f, &n), 0);
    const char *dflt[] = {"data/CC-MAIN-2013-20/000_00000.parquet", "data/CC-MAIN-2024-10/000_00000.parquet"};
    expect_paths(f, n, dflt, 2);
    hub_files_free(f, n);

    ck_assert_int_eq(hub_list_parquet(H, FW, "main", "CC-MAIN-2024-10", NULL, &f, &n), 0);
    expect_paths(f, n, dflt + 1, 1);
    hub_files_free(f, n);

    ck_assert_int_eq(hub_list_parquet(H, FW, "main", "sample-1T", "train", &f, &n), -1);
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "sample-1T"));
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "sample-10BT"));     /* lists what exists */
    ck_assert_int_eq(hub_list_parquet(H, FW, "main", "sample-10BT", "test", &f, &n), -1);
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "no split 'test'"));
    ck_assert_int_eq(hub_list_parquet(H, FW, "main", "a/b", "train", &f, &n), -1);
}
END_TEST

/* the other forms of `configs:`: a default-marked config, data_files as a
 * mapping, lists of patterns, "**", data_dir; and a broken card */
START_TEST(test_parquet_card_forms)
{
    const char *card =
        "---\n"
        "configs:\n"
        "- config_name: main_cfg\n"
        "  default: true\n"
        "  data_files:\n"
        "    train: \"shards/**/part-*.parquet\"\n"
        "    validation:\n"
        "    - ./val/a.parquet\n"
        "    - \"val/[b]*.parquet\"\n"
        "- config_name: bydir\n"
        "  data_dir: bydir\n"
        "---\n";
    add_text("datasets", "org/cardy", "main", "README.md", card);
    const char *files[] = {"shards/x/part-0.parquet", "shards/x/y/part-1.parquet", "shards/other.parquet",
                           "val/a.parquet", "val/b.parquet", "val/c.parquet", "bydir/train-0.parquet",
                           "bydir/test-0.parquet", "bydir/test-1.jsonl", "shards/part-9.parquet"};
    for (int i = 0; i < 10; i++) add_blob("datasets", "org/cardy", "main", files[i], 10, (uint64_t)i, 1);
    add_text("datasets", "org/badcard", "main", "README.md", "---\nconfigs: [\n  - {a: \n---\n");
    hub_file_t *f;
    int n;
    ck_assert_int_eq(hub_list_parquet(H, "org/cardy", "main", NULL, "train", &f, &n), 0);
    const char *tr[] = {"shards/part-9.parquet", "shards/x/part-0.parquet", "shards/x/y/part-1.parquet"};
    expect_paths(f, n, tr, 3);
    hub_files_free(f, n);
    ck_assert_int_eq(hub_list_parquet(H, "org/cardy", "main", "main_cfg", "validation", &f, &n), 0);
    const char *va[] = {"val/a.parquet", "val/b.parquet"};
    expect_paths(f, n, va, 2);
    hub_files_free(f, n);
    ck_assert_int_eq(hub_list_parquet(H, "org/cardy", "main", "bydir", "test", &f, &n), 0);
    const char *te[] = {"bydir/test-0.parquet"};
    expect_paths(f, n, te, 1);
    hub_files_free(f, n);
    ck_assert_int_eq(hub_list_parquet(H, "org/badcard", "main", NULL, "train", &f, &n), -1);
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "bad YAML"));
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "org/badcard"));
}
END_TEST

START_TEST(test_parquet_alpaca)
{
    hub_file_t *f;
    int n;
    ck_assert_int_eq(hub_list_parquet(H, "tatsu-lab/alpaca", "main", "default", "train", &f, &n), 0);
    const char *want[] = {"data/train-00000-of-00001-a09b74b3ef9c3b56.parquet"};
    expect_paths(f, n, want, 1);
    ck_assert_uint_eq(f[0].size, 4000);
    hub_files_free(f, n);
    ck_assert_int_eq(hub_list_parquet(H, "tatsu-lab/alpaca", "main", "default", "test", &f, &n), -1);
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "split 'test'"));
    ck_assert_int_eq(hub_list_parquet(H, "tatsu-lab/alpaca", "main", "plain", "train", &f, &n), -1);
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "no config 'plain'"));
}
END_TEST

START_TEST(test_parquet_convert_branch)
{
    hub_file_t *f;
    int n;
    ck_assert_int_eq(hub_list_parquet(H, "someone/jsonds", "main", NULL, "train", &f, &n), 0);
    const char *tr[] = {"default/train/0000.parquet", "default/train/0001.parquet"};
    expect_paths(f, n, tr, 2);
    ck_assert_ptr_nonnull(strstr(f[0].url, "/resolve/refs%2Fconvert%2Fparquet/default/train/0000.parquet"));
    ck_assert_uint_eq(f[0].size, 80);
    hub_files_free(f, n);
    ck_assert_int_eq(hub_list_parquet(H, "someone/jsonds", "refs/convert/parquet", "default", "test", &f, &n), 0);
    const char *te[] = {"default/test/0000.parquet"};
    expect_paths(f, n, te, 1);
    hub_files_free(f, n);
    ck_assert_int_eq(hub_list_parquet(H, "someone/jsonds", "main", "other", "train", &f, &n), 0);
    const char *ot[] = {"other/train/0000.parquet"};
    expect_paths(f, n, ot, 1);
    hub_files_free(f, n);
    ck_assert_int_eq(hub_list_parquet(H, "someone/bigjson", NULL, NULL, NULL, &f, &n), 0);
    const char *pt[] = {"default/partial-train/0000.parquet"};
    expect_paths(f, n, pt, 1);
    hub_files_free(f, n);
    ck_assert_int_eq(hub_list_parquet(H, "someone/bigjson", NULL, NULL, "validation", &f, &n), -1);
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "refs/convert/parquet"));
}
END_TEST

/* ------------------------------------------------------------------------
 * sizes and reads */
START_TEST(test_file_size)
{
    uint64_t sz = 0;
    ck_assert_int_eq(hub_file_size(H, BIG_URL, &sz), 0);
    ck_assert_uint_eq(sz, BIG_LEN);
    ck_assert_int_eq(mock_hub_requests(M, MOCK_STORAGE), 0);   /* X-Linked-Size was enough */
    char url[512];
    snprintf(url, sizeof url, "%s/EleutherAI/gpt-neox-20b/resolve/main/tokenizer.json", mock_hub_endpoint(M));
    ck_assert_int_eq(hub_file_size(H, url, &sz), 0);
    ck_assert_uint_eq(sz, strlen(TOKENIZER_V1));
    mock_hub_set_relative_redirect(M, 1);
    sz = 0;
    ck_assert_int_eq(hub_file_size(H, url, &sz), 0);
    ck_assert_uint_eq(sz, strlen(TOKENIZER_V1));
    ck_assert_int_eq(mock_hub_count(M, MOCK_HUB, "HEAD", "/api/resolve-cache/"), 1);
    snprintf(url, sizeof url, "%s/EleutherAI/gpt-neox-20b/resolve/main/missing.json", mock_hub_endpoint(M));
    ck_assert_int_eq(hub_file_size(H, url, &sz), -1);
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "404"));
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "missing.json"));
}
END_TEST

START_TEST(test_read_ranges)
{
    check_range(H, 0, 1);
    check_range(H, 0, BIG_LEN);
    check_range(H, BIG_LEN - 1, 1);
    check_range(H, 12345, 67890);
    check_range(H, BIG_LEN - 8, 8);
    unsigned char buf[64];
    ck_assert_int_eq(hub_read_range(H, BIG_URL, BIG_LEN - 10, buf, 20), -1);
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "past the end"));
    ck_assert_int_eq(hub_read_range(H, BIG_URL, BIG_LEN + 5, buf, 4), -1);
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "416"));
    /* the read_at adapter the parquet reader takes */
    hub_source_t src = {H, BIG_URL};
    ck_assert_int_eq(hub_read_at(&src, 999, buf, sizeof buf), 0);
    ck_assert_int_eq(memcmp(buf, BIG + 999, sizeof buf), 0);
    /* zero length: nothing to do, no request */
    int before = mock_hub_requests(M, MOCK_ANY);
    ck_assert_int_eq(hub_read_range(H, BIG_URL, 5, buf, 0), 0);
    ck_assert_int_eq(mock_hub_requests(M, MOCK_ANY), before);
    ck_assert_int_eq(hub_read_range(H, BIG_URL, 5, NULL, 3), -1);
    check_stream(H, 0);
    check_stream(H, 500000);
    check_stream(H, BIG_LEN);              /* from the very end: empty */
}
END_TEST

START_TEST(test_redirect_no_auth_to_storage)
{
    for (int code = 302; code <= 307; code += 5) {
        mock_hub_set_redirect_code(M, code);
        hub_t *h = open_with(&CFG);        /* a fresh redirect cache */
        mock_hub_reset_stats(M);
        unsigned char buf[1000];
        ck_assert_int_eq(hub_read_range(h, BIG_URL, 4242, buf, sizeof buf), 0);
        ck_assert_int_eq(memcmp(buf, BIG + 4242, sizeof buf), 0);
        check_stream(h, 1000000);
        ck_assert_int_eq(mock_hub_count(M, MOCK_HUB, "GET", "/resolve/"), 1);
        ck_assert_int_ge(mock_hub_requests(M, MOCK_STORAGE), 2);
        ck_assert_int_eq(mock_hub_auth_seen(M, MOCK_STORAGE), 0);
        ck_assert_int_eq(mock_hub_auth_seen(M, MOCK_HUB), 1);
        mock_req_t r = mock_hub_log(M, 0);
        ck_assert_int_eq(r.where, MOCK_HUB);
        ck_assert_int_eq(r.status, code);
        ck_assert_str_eq(r.auth, "Bearer " TOKEN);
        hub_close(h);
    }
    /* the listing API also gets the token; a storage-hosted Link would not */
    hub_file_t *f;
    int n;
    mock_hub_reset_stats(M);
    ck_assert_int_eq(hub_list_files(H, "datasets", "org/many", "main", "", &f, &n), 0);
    hub_files_free(f, n);
    ck_assert_str_eq(mock_hub_log(M, 0).auth, "Bearer " TOKEN);
    /* without a token: no Authorization anywhere */
    hub_config_t c = CFG;
    c.token[0] = '\0';
    hub_t *h = open_with(&c);
    mock_hub_reset_stats(M);
    unsigned char b;
    ck_assert_int_eq(hub_read_range(h, BIG_URL, 1, &b, 1), 0);
    ck_assert_int_eq(mock_hub_auth_seen(M, MOCK_ANY), 0);
    hub_close(h);
}
END_TEST

START_TEST(test_connection_reuse)
{
    for (int i = 0; i < 40; i++) check_range(H, (uint64_t)i * 25000, 1000 + (size_t)i);
    ck_assert_int_eq(mock_hub_requests(M, MOCK_HUB), 1);        /* one resolve, then the cached URL */
    ck_assert_int_eq(mock_hub_requests(M, MOCK_STORAGE), 40);
    ck_assert_int_eq(mock_hub_connections(M, MOCK_HUB), 1);
    ck_assert_int_eq(mock_hub_connections(M, MOCK_STORAGE), 1);
    hub_file_t *f;
    int n;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(hub_list_files(H, "datasets", "org/many", "main", "", &f, &n), 0);
        hub_files_free(f, n);
    }
    ck_assert_int_eq(mock_hub_connections(M, MOCK_HUB), 1);
    hub_stats_t st;
    hub_get_stats(H, &st);
    ck_assert_uint_eq(st.retries, 0);
}
END_TEST

typedef struct {
    hub_t *h;
    int id;
    int fail;
} worker_t;

static void *worker(void *p)
{
    worker_t *a = p;
    unsigned char buf[4096];
    uint64_t x = (uint64_t)a->id * 7919 + 13;
    for (int i = 0; i < 25; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t off = (x >> 20) % (BIG_LEN - sizeof buf);
        if (hub_read_range(a->h, BIG_URL, off, buf, sizeof buf) || memcmp(buf, BIG + off, sizeof buf)) a->fail++;
    }
    return NULL;
}

/* one hub shared by threads: each thread gets its own handle and connection */
START_TEST(test_threads)
{
    enum { NT = 4 };
    pthread_t th[NT];
    worker_t w[NT];
    for (int i = 0; i < NT; i++) {
        w[i] = (worker_t){H, i, 0};
        pthread_create(&th[i], NULL, worker, &w[i]);
    }
    for (int i = 0; i < NT; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < NT; i++) ck_assert_int_eq(w[i].fail, 0);
    ck_assert_int_le(mock_hub_connections(M, MOCK_STORAGE), NT);
    ck_assert_int_le(mock_hub_count(M, MOCK_HUB, "GET", "/resolve/"), NT);
    ck_assert_int_eq(mock_hub_requests(M, MOCK_STORAGE), NT * 25);
}
END_TEST

/* ------------------------------------------------------------------------
 * faults */
START_TEST(test_drop_mid_body)
{
    check_range(H, 1000, 200000);          /* fault-free first */
    mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_DROP, 5000, 0, 2);
    check_range(H, 1000, 200000);
    hub_stats_t st;
    hub_get_stats(H, &st);
    ck_assert_uint_ge(st.retries, 2);
    mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_DROP, 300000, 0, 1);
    check_stream(H, 0);
    /* a drop on the Hub itself, before the redirect */
    hub_t *h = open_with(&CFG);
    mock_hub_add_fault(M, MOCK_HUB, "/resolve/", MOCK_HANGUP, 0, 0, 2);
    check_range(h, 77, 7777);
    hub_close(h);
}
END_TEST

START_TEST(test_truncated_body_resumes_exactly)
{
    check_range(H, 7, 50000);
    mock_hub_reset_stats(M);
    mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_TRUNCATE, 1000, 0, 1);
    check_range(H, 7, 50000);
    ck_assert_int_eq(mock_hub_requests(M, MOCK_STORAGE), 2);
    mock_req_t a = storage_req(0), b = storage_req(1);
    ck_assert_int_eq(a.range_start, 7);
    ck_assert_int_eq(a.range_end, 50006);
    ck_assert_int_eq(b.range_start, 1007);     /* the byte after the last one received */
    ck_assert_int_eq(b.range_end, 50006);

    mock_hub_reset_stats(M);
    mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_TRUNCATE, 123456, 0, 1);
    check_stream(H, 0);
    a = storage_req(0);
    b = storage_req(1);
    ck_assert_int_eq(a.range_start, 0);
    ck_assert_int_eq(b.range_start, 123456);
    ck_assert_int_eq(b.range_end, -1);
    hub_stats_t st;
    hub_get_stats(H, &st);
    ck_assert_uint_eq(st.resumes, 2);
}
END_TEST

START_TEST(test_stall)
{
    hub_config_t c = CFG;
    c.stall_s = 1;
    hub_t *h = open_with(&c);
    check_range(h, 0, 100000);
    mock_hub_reset_stats(M);
    mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_STALL, 4000, 6000, 1);
    double t0 = now();
    check_range(h, 0, 100000);
    double dt = now() - t0;
    ck_assert_msg(dt >= 0.9 && dt < 4.0, "stall detected after %.2f s", dt);
    ck_assert_int_eq(storage_req(1).range_start, 4000);
    hub_close(h);
}
END_TEST

START_TEST(test_429_retry_after)
{
    check_range(H, 100, 1000);
    mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_STATUS, 429, 1, 1);
    double t0 = now();
    check_range(H, 100, 1000);
    double dt = now() - t0;
    ck_assert_msg(dt >= 1.0, "Retry-After: 1 honoured for only %.3f s", dt);
    ck_assert_msg(dt < 3.0, "took %.3f s", dt);

    /* a long Retry-After is capped by retry_after_max_ms */
    hub_config_t c = CFG;
    c.retry_after_max_ms = 50;
    hub_t *h = open_with(&c);
    mock_hub_add_fault(M, MOCK_HUB, "/resolve/", MOCK_STATUS, 429, 100, 1);
    t0 = now();
    check_range(h, 100, 1000);
    dt = now() - t0;
    ck_assert_msg(dt >= 0.05 && dt < 2.0, "capped wait took %.3f s", dt);
    hub_stats_t st;
    hub_get_stats(h, &st);
    ck_assert_uint_ge(st.waited_ms, 50);
    hub_close(h);
}
END_TEST

START_TEST(test_5xx_then_ok)
{
    check_range(H, 3, 30000);
    mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_STATUS, 503, -1, 1);
    mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_STATUS, 500, -1, 1);
    mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_STATUS, 502, -1, 1);
    check_range(H, 3, 30000);
    hub_stats_t st;
    hub_get_stats(H, &st);
    ck_assert_uint_eq(st.retries, 3);
}
END_TEST

START_TEST(test_stream_many_faults)
{
    acc_t ref = {0};
    ck_assert_int_eq(hub_stream(H, BIG_URL, 0, acc_sink, &ref), 0);
    mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_DROP, 100000, 0, 1);
    mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_STATUS, 503, -1, 1);
    mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_TRUNCATE, 50000, 0, 1);
    mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_HANGUP, 0, 0, 1);
    mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_IGNORE_RANGE, 0, 0, 1);
    mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_TRUNCATE, 1, 0, 1);
    acc_t got = {0};
    ck_assert_int_eq(hub_stream(H, BIG_URL, 0, acc_sink, &got), 0);
    ck_assert_uint_eq(got.len, ref.len);
    ck_assert_int_eq(memcmp(got.buf, ref.buf, ref.len), 0);
    ck_assert_int_eq(memcmp(got.buf, BIG, BIG_LEN), 0);
    free(got.buf);
    free(ref.buf);
    /* a sink that stops early */
    acc_t part = {.stop_after = 10000};
    ck_assert_int_eq(hub_stream(H, BIG_URL, 10, acc_sink, &part), 0);
    ck_assert_uint_ge(part.len, 10000);
    ck_assert_uint_lt(part.len, BIG_LEN - 10);
    ck_assert_int_eq(memcmp(part.buf, BIG + 10, part.len), 0);
    free(part.buf);
}
END_TEST

START_TEST(test_ignored_range)
{
    mock_hub_add_fault(M, MOCK_STORAGE, "/blob/", MOCK_IGNORE_RANGE, 0, 0, 2);
    check_range(H, 5000, 10000);           /* 200 + whole body: skipped to the offset */
    check_stream(H, 777);
    ck_assert_int_eq(mock_hub_count(M, MOCK_STORAGE, "GET", "/blob/"), 2);
}
END_TEST

START_TEST(test_expired_signature)
{
    check_range(H, 0, 100);
    mock_hub_expire_signatures(M);
    check_range(H, 100, 100);              /* 403 from storage -> resolve again */
    ck_assert_int_eq(mock_hub_count(M, MOCK_HUB, "GET", "/resolve/"), 2);
    ck_assert_int_eq(storage_req(1).status, 403);
    check_range(H, 200, 100);
    ck_assert_int_eq(mock_hub_count(M, MOCK_HUB, "GET", "/resolve/"), 2);
}
END_TEST

START_TEST(test_retries_exhausted)
{
    mock_hub_add_fault(M, MOCK_HUB, "/resolve/", MOCK_STATUS, 503, -1, 100);
    unsigned char buf[10];
    double t0 = now();
    ck_assert_int_eq(hub_read_range(H, BIG_URL, 0, buf, sizeof buf), -1);
    ck_assert(now() - t0 < 2.0);
    const char *e = hub_last_error();
    ck_assert_msg(strstr(e, BIG_URL) != NULL, "message lacks the URL: %s", e);
    ck_assert_msg(strstr(e, "503") != NULL, "message lacks the status: %s", e);
    ck_assert_msg(strstr(e, "5 attempts") != NULL, "%s", e);
    ck_assert_int_eq(mock_hub_count(M, MOCK_HUB, "GET", "/resolve/"), 5);   /* 1 + max_retries */
    /* connection refused, also exhausted, names the URL */
    hub_config_t c = CFG;
    int port = mock_hub_storage_port(M);
    snprintf(c.endpoint, sizeof c.endpoint, "http://127.0.0.1:1");
    c.max_retries = 1;
    hub_t *h = open_with(&c);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:1/datasets/x/y/resolve/main/f.parquet");
    ck_assert_int_eq(hub_read_range(h, url, 0, buf, 1), -1);
    ck_assert_ptr_nonnull(strstr(hub_last_error(), url));
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "2 attempts"));
    (void)port;
    hub_close(h);
}
END_TEST

START_TEST(test_404_no_retry)
{
    char url[512];
    snprintf(url, sizeof url, "%s/datasets/%s/resolve/main/sample/10BT/999.parquet", mock_hub_endpoint(M), FW);
    unsigned char buf[4];
    ck_assert_int_eq(hub_read_range(H, url, 0, buf, sizeof buf), -1);
    ck_assert_int_eq(mock_hub_requests(M, MOCK_ANY), 1);
    const char *e = hub_last_error();
    ck_assert_msg(strstr(e, url) && strstr(e, "404") && strstr(e, "not found"), "%s", e);
    /* a gated repo: 401, no retries, and a hint about HF_TOKEN */
    snprintf(url, sizeof url, "%s/datasets/org/gated/resolve/main/data/train-0.parquet", mock_hub_endpoint(M));
    ck_assert_int_eq(hub_read_range(H, url, 0, buf, sizeof buf), -1);
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "401"));
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "HF_TOKEN"));
    ck_assert_int_eq(mock_hub_requests(M, MOCK_ANY), 2);
}
END_TEST

START_TEST(test_token_never_printed)
{
    char logpath[512];
    snprintf(logpath, sizeof logpath, "%s/stderr.txt", TMP);
    fflush(stderr);
    int saved = dup(2);
    FILE *lf = fopen(logpath, "w");
    dup2(fileno(lf), 2);
    hub_config_t c = CFG;
    c.quiet = 0;
    c.verbose = 1;
    hub_t *h = open_with(&c);
    unsigned char buf[16];
    char url[1024];
    int fails = 0;
    /* success (verbose lines), 401, 404 with the token inside the URL, exhausted retries */
    fails += hub_read_range(h, BIG_URL, 0, buf, sizeof buf) != 0;
    snprintf(url, sizeof url, "%s/datasets/org/gated/resolve/main/data/train-0.parquet", mock_hub_endpoint(M));
    fails += hub_read_range(h, url, 0, buf, sizeof buf) == 0;
    int leak1 = strstr(hub_last_error(), TOKEN) != NULL;
    snprintf(url, sizeof url, "%s/datasets/%s/resolve/main/%s.parquet?token=%s", mock_hub_endpoint(M), FW, TOKEN, TOKEN);
    fails += hub_read_range(h, url, 0, buf, sizeof buf) == 0;
    int leak2 = strstr(hub_last_error(), TOKEN) != NULL;
    int redacted = strstr(hub_last_error(), "<redacted>") != NULL;
    mock_hub_add_fault(M, MOCK_HUB, TOKEN, MOCK_STATUS, 503, -1, 100);
    fails += hub_read_range(h, url, 0, buf, sizeof buf) == 0;
    int leak3 = strstr(hub_last_error(), TOKEN) != NULL;
    hub_close(h);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fclose(lf);
    ck_assert_int_eq(fails, 0);
    ck_assert(!leak1 && !leak2 && !leak3);
    ck_assert(redacted);
    size_t n = 0;
    char *text = NULL;
    FILE *f = fopen(logpath, "r");
    ck_assert_ptr_nonnull(f);
    char chunk[4096];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) {
        text = realloc(text, n + k + 1);
        memcpy(text + n, chunk, k);
        n += k;
    }
    fclose(f);
    ck_assert_ptr_nonnull(text);
    text[n] = '\0';
    ck_assert_msg(strstr(text, "hub: GET") != NULL, "no verbose output captured");
    ck_assert_msg(strstr(text, "error: hub:") != NULL, "no error output captured");
    ck_assert_msg(strstr(text, "retrying") != NULL, "no retry lines captured");
    ck_assert_msg(strstr(text, TOKEN) == NULL, "the token leaked to stderr");
    ck_assert_msg(strstr(text, "c2lnbmVk") == NULL, "a storage signature leaked to stderr");
    free(text);
}
END_TEST

START_TEST(test_plain_http_refused)
{
    hub_config_t c = CFG;
    snprintf(c.endpoint, sizeof c.endpoint, "https://hub.invalid");
    hub_t *h = open_with(&c);
    unsigned char b;
    ck_assert_int_eq(hub_read_range(h, BIG_URL, 0, &b, 1), -1);
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "refusing plain http"));
    ck_assert_int_eq(mock_hub_requests(M, MOCK_ANY), 0);
    ck_assert_int_eq(hub_read_range(h, "file:///etc/passwd", 0, &b, 1), -1);
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "unsupported URL"));
    hub_close(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * small-file cache */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int count_tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

START_TEST(test_small_file_cache)
{
    const char *repo = "EleutherAI/gpt-neox-20b";
    char path[2048], want[2048];
    ck_assert_int_eq(hub_fetch_small_file(H, "models", repo, NULL, "tokenizer.json", path, sizeof path), 0);
    char c1[41];
    snprintf(c1, sizeof c1, "%s", mock_hub_commit(M, "models", repo, "main"));
    snprintf(want, sizeof want, "%s/hub/models--EleutherAI--gpt-neox-20b/snapshots/%s/tokenizer.json", TMP, c1);
    ck_assert_str_eq(path, want);
    ck_assert_str_eq(slurp(path), TOKENIZER_V1);
    snprintf(want, sizeof want, "%s/hub/models--EleutherAI--gpt-neox-20b/refs/main", TMP);
    ck_assert_str_eq(slurp(want), c1);
    snprintf(want, sizeof want, "%s/hub/models--EleutherAI--gpt-neox-20b/snapshots/%s", TMP, c1);
    ck_assert_int_eq(count_tmp_files(want), 0);

    /* up to date: one HEAD, no download */
    mock_hub_reset_stats(M);
    ck_assert_int_eq(hub_fetch_small_file(H, "models", repo, "main", "tokenizer.json", path, sizeof path), 0);
    ck_assert_int_eq(mock_hub_count(M, MOCK_ANY, "GET", NULL), 0);
    ck_assert_int_eq(mock_hub_count(M, MOCK_ANY, "HEAD", NULL), 1);

    /* the revision moved: downloaded again under the new commit */
    mock_hub_add_file(M, "models", repo, "main", "tokenizer.json", TOKENIZER_V2, strlen(TOKENIZER_V2), 0);
    mock_hub_bump_commit(M, "models", repo, "main");
    char c2[41];
    snprintf(c2, sizeof c2, "%s", mock_hub_commit(M, "models", repo, "main"));
    ck_assert_str_ne(c1, c2);
    char path2[2048];
    ck_assert_int_eq(hub_fetch_small_file(H, "models", repo, "main", "tokenizer.json", path2, sizeof path2), 0);
    ck_assert_ptr_nonnull(strstr(path2, c2));
    ck_assert_str_eq(slurp(path2), TOKENIZER_V2);

    /* pinned to a commit that is cached: no request at all */
    mock_hub_reset_stats(M);
    ck_assert_int_eq(hub_fetch_small_file(H, "models", repo, c2, "tokenizer.json", path, sizeof path), 0);
    ck_assert_str_eq(path, path2);
    ck_assert_int_eq(mock_hub_requests(M, MOCK_ANY), 0);

    /* offline: the cache only */
    hub_config_t c = CFG;
    c.offline = 1;
    hub_t *h = open_with(&c);
    ck_assert_int_eq(hub_fetch_small_file(h, "models", repo, "main", "tokenizer.json", path, sizeof path), 0);
    ck_assert_str_eq(path, path2);
    ck_assert_int_eq(hub_fetch_small_file(h, "models", repo, "main", "config.json", path, sizeof path), -1);
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "HF_HUB_OFFLINE"));
    ck_assert_int_eq(mock_hub_requests(M, MOCK_ANY), 0);
    hub_close(h);

    /* the Hub unreachable: the cached copy, with a warning */
    c = CFG;
    snprintf(c.endpoint, sizeof c.endpoint, "http://127.0.0.1:1");
    c.max_retries = 0;
    h = open_with(&c);
    ck_assert_int_eq(hub_fetch_small_file(h, "models", repo, "main", "tokenizer.json", path, sizeof path), 0);
    ck_assert_str_eq(path, path2);
    hub_close(h);

    /* a dataset file through a relative redirect, and faults on the way */
    mock_hub_set_relative_redirect(M, 1);
    mock_hub_add_fault(M, MOCK_HUB, "/api/resolve-cache/", MOCK_TRUNCATE, 5, 0, 1);
    ck_assert_int_eq(hub_fetch_small_file(H, "datasets", FW, "main", "README.md", path, sizeof path), 0);
    ck_assert_str_eq(slurp(path), FINEWEB_CARD);
    ck_assert_ptr_nonnull(strstr(path, "/hub/datasets--HuggingFaceFW--fineweb/snapshots/"));

    /* bad names never touch the disk */
    ck_assert_int_eq(hub_fetch_small_file(H, "models", repo, "main", "../x", path, sizeof path), -1);
    ck_assert_int_eq(hub_fetch_small_file(H, "models", "../../etc", "main", "x", path, sizeof path), -1);
    ck_assert_int_eq(hub_fetch_small_file(H, "models", repo, "..", "x", path, sizeof path), -1);
    /* a missing file: 404, named */
    ck_assert_int_eq(hub_fetch_small_file(H, "models", repo, "main", "nope.json", path, sizeof path), -1);
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "nope.json"));
}
END_TEST

START_TEST(test_hub_get)
{
    char url[512], *body = NULL;
    size_t len = 0;
    snprintf(url, sizeof url, "%s/datasets/%s/resolve/main/README.md", mock_hub_endpoint(M), FW);
    ck_assert_int_eq(hub_get(H, url, 1 << 20, &body, &len), 0);
    ck_assert_uint_eq(len, strlen(FINEWEB_CARD));
    ck_assert_str_eq(body, FINEWEB_CARD);
    free(body);
    ck_assert_int_eq(hub_get(H, url, 10, &body, &len), -1);
    ck_assert_ptr_nonnull(strstr(hub_last_error(), "larger than"));
}
END_TEST

static Suite *hub_suite(void)
{
    Suite *s = suite_create("hub");
    TCase *tc = tcase_create("hub");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_config_env);
    tcase_add_test(tc, test_open_bad_endpoint);
    tcase_add_test(tc, test_resolve_url);
    tcase_add_test(tc, test_list_paginated);
    tcase_add_test(tc, test_list_page_faults);
    tcase_add_test(tc, test_list_errors);
    tcase_add_test(tc, test_parquet_fineweb);
    tcase_add_test(tc, test_parquet_card_forms);
    tcase_add_test(tc, test_parquet_alpaca);
    tcase_add_test(tc, test_parquet_convert_branch);
    tcase_add_test(tc, test_file_size);
    tcase_add_test(tc, test_read_ranges);
    tcase_add_test(tc, test_redirect_no_auth_to_storage);
    tcase_add_test(tc, test_connection_reuse);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_drop_mid_body);
    tcase_add_test(tc, test_truncated_body_resumes_exactly);
    tcase_add_test(tc, test_stall);
    tcase_add_test(tc, test_429_retry_after);
    tcase_add_test(tc, test_5xx_then_ok);
    tcase_add_test(tc, test_stream_many_faults);
    tcase_add_test(tc, test_ignored_range);
    tcase_add_test(tc, test_expired_signature);
    tcase_add_test(tc, test_retries_exhausted);
    tcase_add_test(tc, test_404_no_retry);
    tcase_add_test(tc, test_token_never_printed);
    tcase_add_test(tc, test_plain_http_refused);
    tcase_add_test(tc, test_small_file_cache);
    tcase_add_test(tc, test_hub_get);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hub_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
