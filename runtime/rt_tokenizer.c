/* rt_tokenizer.c: text <-> token ids.
 *
 * A tokenizer is a small table of backend functions, so a BPE backend (a
 * tokenizer.json or GPT-2 vocab files) can be added beside "bytes" without
 * touching the callers. This build has the byte-level backend only. */
#include "rt.h"

#include <stdlib.h>
#include <string.h>

#define EOS_TEXT "<|endoftext|>"

struct rt_tokenizer {
    const char *name;
    int vocab_size;
    int32_t eos;
    int (*encode)(const rt_tokenizer_t *t, const char *text, size_t len, int32_t **ids,
                  size_t *n, size_t *cap);
    /* malloc'd NUL-terminated text of ids[0..n) */
    char *(*decode)(const rt_tokenizer_t *t, const int32_t *ids, size_t n);
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

rt_tokenizer_t *rt_tokenizer_open(const char *name) {
    if (!name || !*name) {
        rt_err("tokenizer: no name given (expected \"bytes\")");
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
    rt_err("tokenizer '%s': not supported by this build yet (bytes only)", name);
    return NULL;
}

void rt_tokenizer_free(rt_tokenizer_t *t) {
    if (!t) return;
    if (t->free_impl) t->free_impl(t->impl);
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
