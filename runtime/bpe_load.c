/* bpe_load.c: builds a bpe_t from a Hugging Face tokenizer.json or from
 * GPT-2's encoder.json + vocab.bpe.
 *
 * Both forms store tokens as "byte-level" strings: every byte is one
 * printable code point (bytes_to_unicode below), so the vocabulary keys are
 * turned back into the raw bytes they stand for, and the merges "a b" into a
 * table (id(a), id(b)) -> (rank, id(a+b)). Everything about the file that we
 * do not implement is refused with its JSON path, never silently ignored
 * (except post_processor, truncation and padding, which do not change the
 * ids of one text). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <utf8proc.h>

#include "bpe_priv.h"

#define MAX_ID (1 << 24)        /* far above any real vocabulary; bounds allocations */

/* ---- the byte-level alphabet ----
 * Printable bytes ! .. ~, ¡ .. ¬, ® .. ÿ stand for themselves; the other 68
 * bytes, in increasing order, take U+0100, U+0101, ... (space -> U+0120 'Ġ'). */
static void byte_level_maps(uint32_t byte_cp[256], int16_t cp_byte[512])
{
    for (int i = 0; i < 512; i++) cp_byte[i] = -1;
    int extra = 0;
    for (int c = 0; c < 256; c++) {
        int printable = (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE);
        byte_cp[c] = printable ? (uint32_t)c : 256u + (uint32_t)extra++;
        cp_byte[byte_cp[c]] = (int16_t)c;
    }
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

uint64_t bpe_hash_bytes(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = 0;
        memcpy(&v, s, n);
        h = (h ^ v) * 0x94d049bb133111ebull;
        h ^= h >> 29;
    }
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

static uint64_t pow2_at_least(uint64_t n)
{
    uint64_t p = 16;
    while (p < n) p <<= 1;
    return p;
}

int32_t bpe_vmap_get(const bpe_t *b, const void *s, size_t n)
{
    uint32_t i = (uint32_t)bpe_hash_bytes(s, n) & b->vmap_mask;
    for (;;) {
        int32_t id = b->vmap[i];
        if (id < 0) return -1;
        if ((size_t)b->tok_len[id] == n && memcmp(b->blob + b->tok_off[id], s, n) == 0) return id;
        i = (i + 1) & b->vmap_mask;
    }
}

/* ---- the builder: what both file forms feed ---- */
typedef struct {
    bpe_t *b;
    const char *file;           /* for messages */
    char *err;
    size_t errlen;
    json_t *vocab;              /* key (byte-level string) -> id */
    uint32_t byte_cp[256];
    int16_t cp_byte[512];
    char *cat;                  /* scratch for a + b */
    size_t cat_cap;
} builder_t;

/* Fills the id -> bytes table and the bytes -> id map from the vocabulary.
 * max_added: the largest added-token id (-1 if none), so the table is sized
 * for both. */
static int build_vocab(builder_t *B, const char *where, int64_t max_added)
{
    bpe_t *b = B->b;
    const char *key;
    json_t *val;
    int64_t max_id = max_added;
    size_t blob_cap = 1, count = 0;
    json_object_foreach(B->vocab, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) >= MAX_ID)
            return fail(B->err, B->errlen, "%s: %s[\"%s\"]: the id must be an integer in [0, %d)",
                        B->file, where, key, MAX_ID);
        if (json_integer_value(val) > max_id) max_id = json_integer_value(val);
        blob_cap += strlen(key);
        count++;
    }
    if (count == 0) return fail(B->err, B->errlen, "%s: %s: the vocabulary is empty", B->file, where);
    b->vocab_size = (int)(max_id + 1);
    b->tok_off = calloc((size_t)b->vocab_size, sizeof *b->tok_off);
    b->tok_len = malloc((size_t)b->vocab_size * sizeof *b->tok_len);
    b->blob = malloc(blob_cap);
    uint64_t vcap = pow2_at_least(2 * count);
    b->vmap = malloc(vcap * sizeof *b->vmap);
    if (!b->tok_off || !b->tok_len || !b->blob || !b->vmap)
        return fail(B->err, B->errlen, "%s: out of memory for the vocabulary", B->file);
    b->vmap_mask = (uint32_t)(vcap - 1);
    for (int i = 0; i < b->vocab_size; i++) b->tok_len[i] = -1;
    for (uint64_t i = 0; i < vcap; i++) b->vmap[i] = -1;

    json_object_foreach(B->vocab, key, val) {
        int32_t id = (int32_t)json_integer_value(val);
        if (b->tok_len[id] >= 0)
            return fail(B->err, B->errlen, "%s: %s[\"%s\"]: id %d is already taken by another token",
                        B->file, where, key, id);
        /* byte-level decode; a key with a code point outside the alphabet
         * stands for its own UTF-8 (it can never come out of the merges) */
        const uint8_t *k = (const uint8_t *)key;
        size_t kl = strlen(key), o = b->blob_len, i = 0;
        int bytelevel = 1;
        while (i < kl) {
            uint32_t cp;
            int l = bpe_utf8_decode(k + i, kl - i, &cp);
            if (!l || cp >= 512 || B->cp_byte[cp] < 0) { bytelevel = 0; break; }
            b->blob[o++] = (char)B->cp_byte[cp];
            i += (size_t)l;
        }
        if (!bytelevel) { memcpy(b->blob + b->blob_len, key, kl); o = b->blob_len + kl; }
        b->tok_off[id] = (uint32_t)b->blob_len;
        b->tok_len[id] = (int32_t)(o - b->blob_len);
        b->blob_len = o;
        /* bytes -> id; equal bytes keep the smaller id, whatever the key order */
        uint32_t h = (uint32_t)bpe_hash_bytes(b->blob + b->tok_off[id], (size_t)b->tok_len[id]) & b->vmap_mask;
        for (;; h = (h + 1) & b->vmap_mask) {
            int32_t e = b->vmap[h];
            if (e < 0) { b->vmap[h] = id; break; }
            if (b->tok_len[e] == b->tok_len[id] &&
                memcmp(b->blob + b->tok_off[e], b->blob + b->tok_off[id], (size_t)b->tok_len[id]) == 0) {
                if (id < e) b->vmap[h] = id;
                break;
            }
        }
    }
    for (int c = 0; c < 256; c++) {
        char u[8];
        int ul = (int)utf8proc_encode_char((utf8proc_int32_t)B->byte_cp[c], (utf8proc_uint8_t *)u);
        u[ul] = 0;
        json_t *v = json_object_get(B->vocab, u);
        if (!v)
            return fail(B->err, B->errlen, "%s: %s: no token for byte 0x%02X (\"%s\"): not a byte-level "
                        "BPE vocabulary", B->file, where, c, u);
        b->byte_id[c] = (int32_t)json_integer_value(v);
    }
    return 0;
}

static int pairs_alloc(builder_t *B, size_t n_merges)
{
    bpe_t *b = B->b;
    uint64_t cap = pow2_at_least(2 * n_merges + 1);
    int bits = 0;
    while ((1ull << bits) < cap) bits++;
    b->pairs = malloc(cap * sizeof *b->pairs);
    if (!b->pairs) return fail(B->err, B->errlen, "%s: out of memory for %zu merges", B->file, n_merges);
    for (uint64_t i = 0; i < cap; i++) b->pairs[i].key = BPE_PAIR_EMPTY;
    b->pair_mask = cap - 1;
    b->pair_shift = 64 - bits;
    return 0;
}

/* Adds merge number `rank`: (a, b) -> a+b. A later duplicate of the same
 * pair replaces the earlier rank, as Hugging Face's and GPT-2's dicts do. */
static int add_merge(builder_t *B, const char *a, size_t al, const char *c, size_t cl, uint32_t rank,
                     const char *where)
{
    bpe_t *b = B->b;
    if (al + cl + 1 > B->cat_cap) {
        size_t nc = (al + cl + 1) * 2;
        char *p = realloc(B->cat, nc);
        if (!p) return fail(B->err, B->errlen, "%s: out of memory", B->file);
        B->cat = p;
        B->cat_cap = nc;
    }
    json_t *ja = json_object_getn(B->vocab, a, al);
    json_t *jb = json_object_getn(B->vocab, c, cl);
    memcpy(B->cat, a, al);
    memcpy(B->cat + al, c, cl);
    B->cat[al + cl] = 0;
    json_t *jm = json_object_getn(B->vocab, B->cat, al + cl);
    if (!ja || !jb || !jm) {
        const char *miss = !ja ? "left part" : !jb ? "right part" : "merged token";
        return fail(B->err, B->errlen, "%s: %s: the %s of merge \"%.*s\" + \"%.*s\" is not in the vocabulary",
                    B->file, where, miss, (int)al, a, (int)cl, c);
    }
    uint64_t key = ((uint64_t)(uint32_t)json_integer_value(ja) << 32) | (uint32_t)json_integer_value(jb);
    uint64_t i = (key * 0x9E3779B97F4A7C15ull) >> b->pair_shift;
    while (b->pairs[i].key != BPE_PAIR_EMPTY && b->pairs[i].key != key) i = (i + 1) & b->pair_mask;
    b->pairs[i].key = key;
    b->pairs[i].rank = rank;
    b->pairs[i].merged = (int32_t)json_integer_value(jm);
    return 0;
}

/* Splits "a b" at its one space; 0, or -1 when the line is not two parts. */
static int split_merge(const char *s, size_t n, size_t *sp)
{
    const char *p = memchr(s, ' ', n);
    if (!p || p == s || p == s + n - 1 || memchr(p + 1, ' ', (size_t)(s + n - p - 1))) return -1;
    *sp = (size_t)(p - s);
    return 0;
}

/* Records an added token (content in the file's form). */
static int add_added(builder_t *B, const char *content, size_t len, int32_t id, int special, int lstrip,
                     int rstrip, int single_word, int normalized)
{
    bpe_t *b = B->b;
    bpe_added_t *a = &b->added[b->n_added];
    memset(a, 0, sizeof *a);
    if (normalized && b->normalizer == BPE_NORM_NFC) {
        a->content = bpe_nfc_dup(content, len, &a->len);
    } else {
        a->content = malloc(len + 1);
        if (a->content) { memcpy(a->content, content, len); a->content[len] = 0; a->len = len; }
    }
    if (!a->content) return fail(B->err, B->errlen, "%s: out of memory", B->file);
    a->id = id;
    a->special = (uint8_t)special;
    a->lstrip = (uint8_t)lstrip;
    a->rstrip = (uint8_t)rstrip;
    a->single_word = (uint8_t)single_word;
    a->normalized = (uint8_t)normalized;
    b->n_added++;
    return 0;
}

/* Added tokens decode to their content (as given in the file). */
static int set_added_bytes(builder_t *B, const char *content, size_t len, int32_t id)
{
    bpe_t *b = B->b;
    char *nb = realloc(b->blob, b->blob_len + len + 1);
    if (!nb) return fail(B->err, B->errlen, "%s: out of memory", B->file);
    b->blob = nb;
    memcpy(b->blob + b->blob_len, content, len);
    b->tok_off[id] = (uint32_t)b->blob_len;
    b->tok_len[id] = (int32_t)len;
    b->blob_len += len;
    return 0;
}

static bpe_t *new_bpe(void)
{
    bpe_t *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->special_in_text = 1;
    b->use_regex = 1;
    if (bpe_threads_init(b)) { free(b); return NULL; }
    return b;
}

/* ---- tokenizer.json ---- */
static int get_bool(builder_t *B, json_t *obj, const char *name, int dflt, const char *where, int *out)
{
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v)) { *out = dflt; return 0; }
    if (!json_is_boolean(v))
        return fail(B->err, B->errlen, "%s: %s.%s: expected true or false", B->file, where, name);
    *out = json_is_true(v);
    return 0;
}

static const char *type_of(json_t *obj)
{
    json_t *t = json_object_get(obj, "type");
    return json_is_string(t) ? json_string_value(t) : NULL;
}

static int check_normalizer(builder_t *B, json_t *n, const char *where)
{
    if (!n || json_is_null(n)) return 0;
    const char *t = json_is_object(n) ? type_of(n) : NULL;
    if (!t) return fail(B->err, B->errlen, "%s: %s: expected an object with a \"type\"", B->file, where);
    if (!strcmp(t, "NFC")) { B->b->normalizer = BPE_NORM_NFC; return 0; }
    if (!strcmp(t, "Sequence")) {
        json_t *list = json_object_get(n, "normalizers");
        if (!json_is_array(list))
            return fail(B->err, B->errlen, "%s: %s.normalizers: expected an array", B->file, where);
        for (size_t i = 0; i < json_array_size(list); i++) {
            char w[96];
            snprintf(w, sizeof w, "%s.normalizers[%zu]", where, i);
            if (check_normalizer(B, json_array_get(list, i), w)) return -1;
        }
        return 0;
    }
    return fail(B->err, B->errlen, "%s: %s.type: normalizer \"%s\" is not supported (only NFC, a Sequence "
                "of NFC, or null)", B->file, where, t);
}

static int check_pretok(builder_t *B, json_t *p, const char *where, int *n_bytelevel)
{
    const char *t = json_is_object(p) ? type_of(p) : NULL;
    if (!t) return fail(B->err, B->errlen, "%s: %s: expected an object with a \"type\"", B->file, where);
    if (!strcmp(t, "ByteLevel")) {
        int aps, ur;
        if (get_bool(B, p, "add_prefix_space", 1, where, &aps) || get_bool(B, p, "use_regex", 1, where, &ur))
            return -1;
        B->b->add_prefix_space = aps;
        B->b->use_regex = ur;
        (*n_bytelevel)++;
        return 0;
    }
    if (!strcmp(t, "Sequence")) {
        json_t *list = json_object_get(p, "pretokenizers");
        if (!json_is_array(list))
            return fail(B->err, B->errlen, "%s: %s.pretokenizers: expected an array", B->file, where);
        for (size_t i = 0; i < json_array_size(list); i++) {
            char w[96];
            snprintf(w, sizeof w, "%s.pretokenizers[%zu]", where, i);
            if (check_pretok(B, json_array_get(list, i), w, n_bytelevel)) return -1;
        }
        return 0;
    }
    return fail(B->err, B->errlen, "%s: %s.type: pre-tokenizer \"%s\" is not supported (only ByteLevel, "
                "alone or in a Sequence)", B->file, where, t);
}

static int check_decoder(builder_t *B, json_t *d, const char *where)
{
    if (!d || json_is_null(d)) return 0;
    const char *t = json_is_object(d) ? type_of(d) : NULL;
    if (!t) return fail(B->err, B->errlen, "%s: %s: expected an object with a \"type\"", B->file, where);
    if (!strcmp(t, "ByteLevel")) return 0;
    if (!strcmp(t, "Sequence")) {
        json_t *list = json_object_get(d, "decoders");
        if (!json_is_array(list))
            return fail(B->err, B->errlen, "%s: %s.decoders: expected an array", B->file, where);
        for (size_t i = 0; i < json_array_size(list); i++) {
            char w[96];
            snprintf(w, sizeof w, "%s.decoders[%zu]", where, i);
            if (check_decoder(B, json_array_get(list, i), w)) return -1;
        }
        return 0;
    }
    return fail(B->err, B->errlen, "%s: %s.type: decoder \"%s\" is not supported (only ByteLevel)",
                B->file, where, t);
}

static int check_model(builder_t *B, json_t *m)
{
    if (!json_is_object(m)) return fail(B->err, B->errlen, "%s: model: missing or not an object", B->file);
    json_t *t = json_object_get(m, "type");
    if (t && !json_is_string(t)) return fail(B->err, B->errlen, "%s: model.type: expected a string", B->file);
    if (t && strcmp(json_string_value(t), "BPE"))
        return fail(B->err, B->errlen, "%s: model.type: model \"%s\" is not supported (only byte-level BPE)",
                    B->file, json_string_value(t));
    json_t *d = json_object_get(m, "dropout");
    if (d && !json_is_null(d) && !(json_is_number(d) && json_number_value(d) == 0.0))
        return fail(B->err, B->errlen, "%s: model.dropout: BPE dropout is not supported (must be null)", B->file);
    static const char *const empty_only[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(m, empty_only[i]);
        if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0))
            return fail(B->err, B->errlen, "%s: model.%s: not supported by byte-level BPE (must be null)",
                        B->file, empty_only[i]);
    }
    int im;
    if (get_bool(B, m, "ignore_merges", 0, "model", &im)) return -1;
    B->b->ignore_merges = im;
    B->vocab = json_object_get(m, "vocab");
    if (!json_is_object(B->vocab))
        return fail(B->err, B->errlen, "%s: model.vocab: missing or not an object", B->file);
    if (!json_is_array(json_object_get(m, "merges")))
        return fail(B->err, B->errlen, "%s: model.merges: missing or not an array", B->file);
    return 0;
}

static int load_json_merges(builder_t *B, json_t *merges)
{
    size_t n = json_array_size(merges);
    if (n >= BPE_NO_RANK) return fail(B->err, B->errlen, "%s: model.merges: too many merges", B->file);
    if (pairs_alloc(B, n)) return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(merges, i);
        char where[64];
        snprintf(where, sizeof where, "model.merges[%zu]", i);
        if (json_is_string(e)) {
            const char *s = json_string_value(e);
            size_t l = json_string_length(e), sp;
            if (split_merge(s, l, &sp))
                return fail(B->err, B->errlen, "%s: %s: \"%s\" is not two tokens separated by one space",
                            B->file, where, s);
            if (add_merge(B, s, sp, s + sp + 1, l - sp - 1, (uint32_t)i, where)) return -1;
        } else if (json_is_array(e) && json_array_size(e) == 2 && json_is_string(json_array_get(e, 0)) &&
                   json_is_string(json_array_get(e, 1))) {
            json_t *a = json_array_get(e, 0), *c = json_array_get(e, 1);
            if (add_merge(B, json_string_value(a), json_string_length(a), json_string_value(c),
                          json_string_length(c), (uint32_t)i, where))
                return -1;
        } else {
            return fail(B->err, B->errlen, "%s: %s: expected \"a b\" or [\"a\", \"b\"]", B->file, where);
        }
    }
    return 0;
}

static int load_json_added(builder_t *B, json_t *list)
{
    bpe_t *b = B->b;
    size_t n = json_array_size(list);
    b->added = calloc(n ? n : 1, sizeof *b->added);
    if (!b->added) return fail(B->err, B->errlen, "%s: out of memory", B->file);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(list, i);
        char where[64];
        snprintf(where, sizeof where, "added_tokens[%zu]", i);
        json_t *id = json_object_get(e, "id"), *content = json_object_get(e, "content");
        if (!json_is_object(e) || !json_is_string(content) || !json_is_integer(id))
            return fail(B->err, B->errlen, "%s: %s: expected an object with a string \"content\" and an "
                        "integer \"id\"", B->file, where);
        int special, lstrip, rstrip, single_word, normalized;
        if (get_bool(B, e, "special", 0, where, &special) || get_bool(B, e, "lstrip", 0, where, &lstrip) ||
            get_bool(B, e, "rstrip", 0, where, &rstrip) ||
            get_bool(B, e, "single_word", 0, where, &single_word))
            return -1;
        /* absent "normalized" defaults to !special, as AddedToken::from does */
        if (get_bool(B, e, "normalized", !special, where, &normalized)) return -1;
        size_t len = json_string_length(content);
        if (len == 0) continue;                       /* Hugging Face ignores empty ones too */
        /* content that is also a vocabulary key keeps the vocabulary's id:
         * Hugging Face re-adds the tokens at load and takes that id (with a
         * warning) whatever "id" says */
        json_t *vid = json_object_getn(B->vocab, json_string_value(content), len);
        int32_t tid = (int32_t)json_integer_value(vid ? vid : id);
        if (add_added(B, json_string_value(content), len, tid, special, lstrip, rstrip, single_word, normalized) ||
            set_added_bytes(B, json_string_value(content), len, tid))
            return -1;
    }
    return 0;
}

static int64_t max_added_id(builder_t *B, json_t *list)
{
    int64_t mx = -1;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *id = json_object_get(json_array_get(list, i), "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= MAX_ID) {
            fail(B->err, B->errlen, "%s: added_tokens[%zu].id: expected an integer in [0, %d)", B->file, i,
                 MAX_ID);
            return -2;
        }
        json_t *c = json_object_get(json_array_get(list, i), "content");
        if (json_is_string(c) && json_object_getn(B->vocab, json_string_value(c), json_string_length(c)))
            continue;                                 /* takes its vocabulary id (load_json_added) */
        if (json_integer_value(id) > mx) mx = json_integer_value(id);
    }
    return mx;
}

static int finish(builder_t *B)
{
    if (bpe_build_matchers(B->b)) return fail(B->err, B->errlen, "%s: out of memory", B->file);
    return 0;
}

bpe_t *bpe_load_tokenizer_json(const char *path, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        if (je.line <= 0) fail(err, errlen, "%s: %s", path, je.text);
        else fail(err, errlen, "%s: line %d column %d: %s", path, je.line, je.column, je.text);
        return NULL;
    }
    builder_t B = {.file = path, .err = err, .errlen = errlen};
    byte_level_maps(B.byte_cp, B.cp_byte);
    bpe_t *b = B.b = new_bpe();
    if (!b) { fail(err, errlen, "%s: out of memory", path); json_decref(root); return NULL; }
    int n_bytelevel = 0;
    json_t *model = json_object_get(root, "model"), *pre = json_object_get(root, "pre_tokenizer");
    json_t *added = json_object_get(root, "added_tokens");
    int64_t mx;
    if (!json_is_object(root)) { fail(err, errlen, "%s: the top level is not a JSON object", path); goto bad; }
    if (check_model(&B, model) || check_normalizer(&B, json_object_get(root, "normalizer"), "normalizer") ||
        check_decoder(&B, json_object_get(root, "decoder"), "decoder"))
        goto bad;
    if (!pre || json_is_null(pre)) {
        fail(err, errlen, "%s: pre_tokenizer: missing; byte-level BPE needs a ByteLevel pre-tokenizer", path);
        goto bad;
    }
    if (check_pretok(&B, pre, "pre_tokenizer", &n_bytelevel)) goto bad;
    if (n_bytelevel != 1) {
        fail(err, errlen, "%s: pre_tokenizer: expected exactly one ByteLevel pre-tokenizer, found %d", path,
             n_bytelevel);
        goto bad;
    }
    if (added && !json_is_null(added) && !json_is_array(added)) {
        fail(err, errlen, "%s: added_tokens: expected an array", path);
        goto bad;
    }
    if ((mx = max_added_id(&B, added)) < -1) goto bad;
    if (build_vocab(&B, "model.vocab", mx) || load_json_merges(&B, json_object_get(model, "merges")) ||
        load_json_added(&B, added) || finish(&B))
        goto bad;
    free(B.cat);
    json_decref(root);
    return b;
bad:
    free(B.cat);
    json_decref(root);
    bpe_free(b);
    return NULL;
}

/* ---- GPT-2: encoder.json + vocab.bpe ---- */
bpe_t *bpe_load_gpt2(const char *dir, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    char enc_path[4096], bpe_path[4096];
    snprintf(enc_path, sizeof enc_path, "%s/encoder.json", dir);
    snprintf(bpe_path, sizeof bpe_path, "%s/vocab.bpe", dir);
    json_error_t je;
    json_t *enc = json_load_file(enc_path, 0, &je);
    if (!enc) {
        if (je.line <= 0) fail(err, errlen, "%s: %s", enc_path, je.text);
        else fail(err, errlen, "%s: line %d column %d: %s", enc_path, je.line, je.column, je.text);
        return NULL;
    }
    builder_t B = {.file = enc_path, .err = err, .errlen = errlen, .vocab = enc};
    byte_level_maps(B.byte_cp, B.cp_byte);
    char *text = NULL;
    bpe_t *b = B.b = new_bpe();
    if (!b) { fail(err, errlen, "%s: out of memory", dir); json_decref(enc); return NULL; }
    if (!json_is_object(enc)) { fail(err, errlen, "%s: expected a JSON object of token -> id", enc_path); goto bad; }
    if (build_vocab(&B, "encoder", -1)) goto bad;

    FILE *f = fopen(bpe_path, "rb");
    if (!f) { fail(err, errlen, "%s: %s", bpe_path, strerror(errno)); goto bad; }
    size_t cap = 1 << 20, len = 0, got;
    text = malloc(cap + 1);
    while (text && (got = fread(text + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            char *t = realloc(text, 2 * cap + 1);
            if (!t) { free(text); text = NULL; break; }
            text = t;
            cap *= 2;
        }
    }
    int rerr = ferror(f);
    fclose(f);
    if (!text) { fail(err, errlen, "%s: out of memory", bpe_path); goto bad; }
    if (rerr) { fail(err, errlen, "%s: read error", bpe_path); goto bad; }
    text[len] = 0;
    /* count the lines to size the pair table, then add them in order */
    size_t n_lines = 1;
    for (size_t i = 0; i < len; i++) n_lines += text[i] == '\n';
    B.file = bpe_path;
    if (pairs_alloc(&B, n_lines)) goto bad;
    uint32_t rank = 0;
    size_t lineno = 0;
    for (size_t p = 0; p < len;) {
        char *nl = memchr(text + p, '\n', len - p);
        size_t e = nl ? (size_t)(nl - text) : len, l = e - p;
        lineno++;
        if (l && text[p + l - 1] == '\r') l--;
        int skip = l == 0 || (lineno == 1 && l >= 8 && !memcmp(text + p, "#version", 8));
        if (!skip) {
            size_t sp;
            char where[48];
            snprintf(where, sizeof where, "line %zu", lineno);
            if (split_merge(text + p, l, &sp)) {
                fail(err, errlen, "%s: line %zu: \"%.*s\" is not two tokens separated by one space", bpe_path,
                     lineno, (int)(l > 60 ? 60 : l), text + p);
                goto bad;
            }
            if (add_merge(&B, text + p, sp, text + p + sp + 1, l - sp - 1, rank++, where)) goto bad;
        }
        p = e + 1;
    }
    B.file = enc_path;
    b->added = calloc(1, sizeof *b->added);
    if (!b->added) { fail(err, errlen, "%s: out of memory", dir); goto bad; }
    json_t *eot = json_object_get(enc, "<|endoftext|>");
    if (eot && add_added(&B, "<|endoftext|>", 13, (int32_t)json_integer_value(eot), 1, 0, 0, 0, 0)) goto bad;
    if (finish(&B)) goto bad;
    free(text);
    free(B.cat);
    json_decref(enc);
    return b;
bad:
    free(text);
    free(B.cat);
    json_decref(enc);
    bpe_free(b);
    return NULL;
}

static int file_exists(const char *dir, const char *name)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

bpe_t *bpe_load(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (!strncmp(path, "hf:", 3))
            fail(err, errlen, "%s: Hub tokenizers must first be downloaded to a local tokenizer.json", path);
        else
            fail(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        if (file_exists(path, "encoder.json") && file_exists(path, "vocab.bpe"))
            return bpe_load_gpt2(path, err, errlen);
        if (file_exists(path, "tokenizer.json")) {
            char p[4096];
            snprintf(p, sizeof p, "%s/tokenizer.json", path);
            return bpe_load_tokenizer_json(p, err, errlen);
        }
        fail(err, errlen, "%s: a directory without encoder.json + vocab.bpe or tokenizer.json", path);
        return NULL;
    }
    return bpe_load_tokenizer_json(path, err, errlen);
}
