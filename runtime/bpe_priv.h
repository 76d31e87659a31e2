/* bpe_priv.h: the inside of bpe_t, shared by bpe_load.c (builds it),
 * bpe.c (encodes/decodes with it) and bpe_split.c (the GPT-2 pre-tokenizer).
 * Not part of the runtime's API; tests/check_bpe.c reaches in through it. */
#ifndef BPE_PRIV_H
#define BPE_PRIV_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "bpe.h"

/* ---- character classes of the GPT-2 pattern (bpe_split.c) ---- */
enum { BPE_C_OTHER = 0, BPE_C_LETTER = 1, BPE_C_NUMBER = 2, BPE_C_SPACE = 3 };

/* Strict UTF-8 decode of one character at s[0..n) (n >= 1): returns its
 * length (1..4) and the code point, or 0 when the bytes there are not a valid
 * sequence (overlong, surrogate, > U+10FFFF, truncated). */
int bpe_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);
/* Class of a code point: \p{L}, \p{N}, \s (White_Space) or anything else. */
int bpe_cp_class(uint32_t cp);
/* Class of the character at s[i] and its length (an invalid byte is one
 * BPE_C_OTHER character of length 1). */
int bpe_char_class(const uint8_t *s, size_t n, size_t i, size_t *clen);
/* Whether the code point counts as a word character (\w) for single_word. */
int bpe_cp_is_word(uint32_t cp);
/* The GPT-2 pattern: end of the piece that starts at s[pos] (pos < n). */
size_t bpe_split_next(const uint8_t *s, size_t n, size_t pos);

/* ---- the tokenizer ---- */
typedef struct {
    uint64_t key;        /* (left id << 32) | right id; BPE_PAIR_EMPTY when free */
    uint32_t rank;
    int32_t merged;
} bpe_pair_t;
#define BPE_PAIR_EMPTY UINT64_MAX
#define BPE_NO_RANK UINT32_MAX

typedef struct {
    char *content;       /* as matched: NFC'd when normalized and the normaliser is NFC */
    size_t len;
    int32_t id;
    uint8_t special, lstrip, rstrip, single_word, normalized;
} bpe_added_t;

/* A set of added tokens to find in text, leftmost-longest. Few tokens
 * (tens), so: a byte filter, a two-byte-prefix filter, then memcmp over the
 * candidates, longest first. */
typedef struct {
    int n;
    int *idx;                  /* into bpe_t.added, longest content first */
    uint8_t first[256];        /* first[c]: some token starts with byte c */
    uint8_t single[256];       /* single[c]: the one-byte token c exists */
    uint64_t *pair2;           /* 65536-bit map of two-byte prefixes */
} bpe_matcher_t;

enum { BPE_NORM_NONE = 0, BPE_NORM_NFC = 1 };

struct bpe_reg;                /* the per-thread caches, for bpe_free */

struct bpe {
    int vocab_size;            /* max id + 1 */
    /* id -> bytes it decodes to; tok_len[id] < 0: no such id */
    uint32_t *tok_off;
    int32_t *tok_len;
    char *blob;
    size_t blob_len;
    /* decoded bytes of a model-vocabulary token -> id (open addressing, -1 free) */
    int32_t *vmap;
    uint32_t vmap_mask;
    int32_t byte_id[256];      /* id of each single byte's token */
    /* merges: (left, right) -> (rank, merged id) */
    bpe_pair_t *pairs;
    uint64_t pair_mask;
    int pair_shift;            /* 64 - log2(table size): the hash takes the top bits */
    /* added tokens */
    bpe_added_t *added;
    int n_added;
    bpe_matcher_t m_raw;       /* normalized == false: matched before normalising */
    bpe_matcher_t m_norm;      /* normalized == true: matched after */
    int normalizer;            /* BPE_NORM_* */
    int add_prefix_space, use_regex, ignore_merges;
    int special_in_text;
    pthread_key_t key;
    struct bpe_reg *reg;
};

/* bpe_load.c helpers used by bpe.c and the reverse */
uint64_t bpe_hash_bytes(const void *p, size_t n);
int32_t bpe_vmap_get(const bpe_t *b, const void *s, size_t n);
/* The lowest-rank merge of (l, r): rank, or BPE_NO_RANK when none. */
static inline uint32_t bpe_pair_rank(const bpe_t *b, int32_t l, int32_t r, int32_t *merged)
{
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    uint64_t i = (key * 0x9E3779B97F4A7C15ull) >> b->pair_shift;
    for (;;) {
        const bpe_pair_t *p = &b->pairs[i];
        if (p->key == key) { *merged = p->merged; return p->rank; }
        if (p->key == BPE_PAIR_EMPTY) return BPE_NO_RANK;
        i = (i + 1) & b->pair_mask;
    }
}
/* Builds b's matchers from b->added; 0 or -1 (out of memory). */
int bpe_build_matchers(bpe_t *b);
/* NFC of s[0..n) into a malloc'd string (for added-token contents). */
char *bpe_nfc_dup(const char *s, size_t n, size_t *outlen);
/* Per-thread state management (bpe.c), set up by the loaders. */
int bpe_threads_init(bpe_t *b);

/* Merges the symbols sym[0..n) in place by rank; returns the new count.
 * mode 0: automatic; 1: the quadratic scan; 2: the heap (tests compare them). */
size_t bpe_merge_symbols(const bpe_t *b, int32_t *sym, size_t n, int mode);

#endif
