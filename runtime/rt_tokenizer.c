/* rt_tokenizer.c: text <-> token ids.
 *
 * A tokenizer is a small table of backend functions: "bytes", and byte-level
 * BPE (bpe.h) from a tokenizer.json, a GPT-2 encoder.json + vocab.bpe
 * directory, or a Hub model repo's tokenizer.json fetched into the HF cache. */
#include "rt.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bpe.h"
#include "hub.h"

#define EOS_TEXT "<|endoftext|>"

struct rt_tokenizer {
    const char *name;
    int vocab_size;
    int32_t eos;
    int (*encode)(const rt_tokenizer_t *t, const char *text, size_t len, int32_t **ids,
                  size_t *n, size_t *cap);
    /* malloc'd NUL-terminated text of ids[0..n) */
    char *(*decode)(const rt_tokenizer_t *t, const int32_t *ids, size_t n);
    int owns_name;
    void *impl;                 /* backend state (NULL for bytes) */
    void (*free_impl)(void *impl);
};

static void ensure_ids(int32_t **ids, size_t *cap, size_t need) {
    if (need <= *cap) return;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    int32_t *p = realloc(*ids, c * sizeof(int32_t));
    if (!p) rt_die("out of memory growing a token buffer to %zu ids", c);
    *ids = p;
    *cap = c;
}

/* ---- bytes: id = byte value, 256 = <|endoftext|> ---- */
static int bytes_encode(const rt_tokenizer_t *t, const char *text, size_t len, int32_t **ids,
                        size_t *n, size_t *cap) {
    ensure_ids(ids, cap, *n + len);
    int32_t *out = *ids + *n;
    const unsigned char *u = (const unsigned char *)text;
    for (size_t i = 0; i < len; i++) out[i] = u[i];
    *n += len;
    return 0;
}

static char *bytes_decode(const rt_tokenizer_t *t, const int32_t *ids, size_t n) {
    /* worst case: every id is EOS */
    char *s = rt_malloc(n * (sizeof(EOS_TEXT) - 1) + 1);
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id >= 0 && id < 256) {
            s[used++] = (char)id;
        } else if (id == 256) {
            memcpy(s + used, EOS_TEXT, sizeof(EOS_TEXT) - 1);
            used += sizeof(EOS_TEXT) - 1;
        } else {
            /* ids past the vocabulary (padding rows of the head): U+FFFD */
            memcpy(s + used, "\xEF\xBF\xBD", 3);
            used += 3;
        }
    }
    s[used] = '\0';
    return s;
}

/* ---- byte-level BPE (bpe.h) ---- */
static int bpe_encode_fn(const rt_tokenizer_t *t, const char *text, size_t len, int32_t **ids,
                         size_t *n, size_t *cap) {
    if (bpe_encode(t->impl, text, len, ids, n, cap) != 0)
        return rt_err("tokenizer %s: out of memory encoding %zu bytes", t->name, len);
    return 0;
}

/* Unknown ids (the padding rows of the head) decode as U+FFFD, as for bytes. */
static char *bpe_decode_fn(const rt_tokenizer_t *t, const int32_t *ids, size_t n) {
    size_t cap = 64 + 4 * n, used = 0;
    char *s = rt_malloc(cap);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *p = bpe_token_bytes(t->impl, ids[i], &len);
        if (!p) p = "\xEF\xBF\xBD", len = 3;
        if (used + len + 1 > cap) {
            while (used + len + 1 > cap) cap *= 2;
            char *q = realloc(s, cap);
            if (!q) rt_die("out of memory decoding %zu tokens", n);
            s = q;
        }
        memcpy(s + used, p, len);
        used += len;
    }
    s[used] = '\0';
    return s;
}

static void bpe_free_fn(void *impl) { bpe_free(impl); }

/* "hf:OWNER/NAME" -> the cached path of its tokenizer.json. */
static int fetch_hf(const char *name, char *path, size_t n) {
    const char *repo = name + 3;
    hub_config_t cfg;
    char err[512];
    if (hub_config_from_env(&cfg, err, sizeof err) != 0) return rt_err("tokenizer %s: %s", name, err);
    cfg.quiet = 1;
    hub_t *h = hub_open(&cfg, err, sizeof err);
    if (!h) return rt_err("tokenizer %s: %s", name, err);
    int rc = hub_fetch_small_file(h, "models", repo, "main", "tokenizer.json", path, n);
    if (rc != 0) rt_err("tokenizer %s: %s", name, hub_last_error());
    hub_close(h);
    return rc;
}

int rt_tokenizer_fetch_hf(const char *name, char *path, size_t n) {
    if (strncmp(name, "hf:", 3) != 0) return rt_err("tokenizer %s: not an hf:OWNER/NAME name", name);
    return fetch_hf(name, path, n);
}

static rt_tokenizer_t *open_bpe(const char *name) {
    char path[4096], err[1024];
    const char *src = name;
    if (!strncmp(name, "hf:", 3)) {
        if (fetch_hf(name, path, sizeof path) != 0) return NULL;
        src = path;
    } else {
        struct stat st;
        if (stat(name, &st) != 0) {
            rt_err("tokenizer '%s': no such file or directory (expected bytes, a tokenizer.json, a "
                   "directory with encoder.json + vocab.bpe, or hf:OWNER/NAME)", name);
            return NULL;
        }
    }
    bpe_t *b = bpe_load(src, err, sizeof err);
    if (!b) {
        rt_err("tokenizer '%s': %s", name, err);
        return NULL;
    }
    int32_t eos = bpe_token_id(b, EOS_TEXT);
    if (eos < 0) {
        rt_err("tokenizer '%s' has no %s token: the data pipeline ends every document with it",
               name, EOS_TEXT);
        bpe_free(b);
        return NULL;
    }
    rt_tokenizer_t *t = rt_calloc(1, sizeof *t);
    t->name = strdup(name);
    if (!t->name) rt_die("out of memory");
    t->owns_name = 1;
    t->vocab_size = bpe_vocab_size(b);
    t->eos = eos;
    t->encode = bpe_encode_fn;
    t->decode = bpe_decode_fn;
    t->impl = b;
    t->free_impl = bpe_free_fn;
    return t;
}

rt_tokenizer_t *rt_tokenizer_open(const char *name) {
    if (!name || !*name) {
        rt_err("tokenizer: no name given (expected bytes, a tokenizer.json, a directory or "
               "hf:OWNER/NAME)");
        return NULL;
    }
    if (!strcmp(name, "bytes")) {
        rt_tokenizer_t *t = rt_calloc(1, sizeof *t);
        t->name = "bytes";
        t->vocab_size = 257;
        t->eos = 256;
        t->encode = bytes_encode;
        t->decode = bytes_decode;
        return t;
    }
    return open_bpe(name);
}

void rt_tokenizer_free(rt_tokenizer_t *t) {
    if (!t) return;
    if (t->free_impl) t->free_impl(t->impl);
    if (t->owns_name) free((char *)t->name);
    free(t);
}

int rt_tokenizer_vocab_size(const rt_tokenizer_t *t) { return t->vocab_size; }
int32_t rt_tokenizer_eos(const rt_tokenizer_t *t) { return t->eos; }

int rt_tokenizer_encode(const rt_tokenizer_t *t, const char *text, size_t len, int32_t **ids,
                        size_t *n, size_t *cap) {
    return t->encode(t, text, len, ids, n, cap);
}

char *rt_tokenizer_decode(const rt_tokenizer_t *t, const int32_t *ids, size_t n) {
    return t->decode(t, ids, n);
}
