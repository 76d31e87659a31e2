/* bpe.c: byte-level BPE encode and decode (the pipeline is described in
 * bpe.h; loading is in bpe_load.c, the GPT-2 pattern in bpe_split.c).
 *
 * Speed comes from three things: the pre-tokenizer is a hand-written scan
 * over bytes (ASCII through a table), the merge of a word is a scan over a
 * small array of ids with one hash probe per pair, and most words are found
 * in a per-thread cache of word bytes -> ids (text repeats its words), so
 * the merge runs once per distinct word. */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "bpe_priv.h"

#define NFC_OPTS (UTF8PROC_STABLE | UTF8PROC_COMPOSE)

/* ---- per-thread state: word cache and scratch buffers ---- */
#define CACHE_SLOTS (1u << 16)           /* open addressing, at most half full */
#define CACHE_MAX_ENTRIES (CACHE_SLOTS / 2)
#define CACHE_KEY_BYTES (1u << 20)
#define CACHE_ID_CAP (1u << 18)
#define CACHE_MAX_WORD 255               /* longer words are merged every time */
#define SCAN_MAX 48                      /* words up to this many symbols use the quadratic scan */

typedef struct {
    uint64_t h;
    uint32_t koff, ioff;
    uint16_t klen, nids;                 /* nids == 0: free slot */
} centry_t;

typedef struct tstate {
    struct tstate *prev, *next;          /* in bpe_reg's list */
    struct bpe_reg *reg;
    centry_t *tab;                       /* NULL: no cache (allocation failed) */
    uint32_t used;
    uint8_t *keys;
    size_t kused;
    int32_t *ids;
    size_t iused;
    uint8_t *norm;                       /* normalised piece */
    size_t norm_len, norm_cap;
    int32_t *u32;                        /* utf8proc's code points */
    size_t u32_cap;
    uint8_t *pre;                        /* piece with the prefix space */
    size_t pre_cap;
    int32_t sym[CACHE_MAX_WORD + 1];
} tstate_t;

struct bpe_reg {
    pthread_mutex_t mu;
    tstate_t *head;
};

static void tstate_release(tstate_t *st)
{
    free(st->tab);
    free(st->keys);
    free(st->ids);
    free(st->norm);
    free(st->u32);
    free(st->pre);
    free(st);
}

/* Runs at thread exit for each live bpe_t the thread used. */
static void tstate_destroy(void *p)
{
    tstate_t *st = p;
    pthread_mutex_lock(&st->reg->mu);
    if (st->prev) st->prev->next = st->next;
    else st->reg->head = st->next;
    if (st->next) st->next->prev = st->prev;
    pthread_mutex_unlock(&st->reg->mu);
    tstate_release(st);
}

int bpe_threads_init(bpe_t *b)
{
    b->reg = calloc(1, sizeof *b->reg);
    if (!b->reg) return -1;
    if (pthread_mutex_init(&b->reg->mu, NULL)) { free(b->reg); b->reg = NULL; return -1; }
    if (pthread_key_create(&b->key, tstate_destroy)) {
        pthread_mutex_destroy(&b->reg->mu);
        free(b->reg);
        b->reg = NULL;
        return -1;
    }
    return 0;
}

static tstate_t *get_state(const bpe_t *b)
{
    tstate_t *st = pthread_getspecific(b->key);
    if (st) return st;
    st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->reg = b->reg;
    st->tab = calloc(CACHE_SLOTS, sizeof *st->tab);
    st->keys = malloc(CACHE_KEY_BYTES);
    st->ids = malloc(CACHE_ID_CAP * sizeof *st->ids);
    if (!st->tab || !st->keys || !st->ids) {       /* run without a cache */
        free(st->tab); free(st->keys); free(st->ids);
        st->tab = NULL; st->keys = NULL; st->ids = NULL;
    }
    if (pthread_setspecific(b->key, st)) { tstate_release(st); return NULL; }
    pthread_mutex_lock(&b->reg->mu);
    st->next = b->reg->head;
    if (st->next) st->next->prev = st;
    b->reg->head = st;
    pthread_mutex_unlock(&b->reg->mu);
    return st;
}

static const int32_t *cache_get(const tstate_t *st, uint64_t h, const uint8_t *w, size_t n, size_t *nids)
{
    uint32_t i = (uint32_t)h & (CACHE_SLOTS - 1);
    for (;;) {
        const centry_t *e = &st->tab[i];
        if (!e->nids) return NULL;
        if (e->h == h && e->klen == n && memcmp(st->keys + e->koff, w, n) == 0) {
            *nids = e->nids;
            return st->ids + e->ioff;
        }
        i = (i + 1) & (CACHE_SLOTS - 1);
    }
}

static void cache_put(tstate_t *st, uint64_t h, const uint8_t *w, size_t n, const int32_t *ids, size_t m)
{
    if (st->used >= CACHE_MAX_ENTRIES || st->kused + n > CACHE_KEY_BYTES || st->iused + m > CACHE_ID_CAP) {
        /* full: start over; a bounded cache keeps memory flat on endless streams */
        memset(st->tab, 0, CACHE_SLOTS * sizeof *st->tab);
        st->used = 0;
        st->kused = st->iused = 0;
    }
    uint32_t i = (uint32_t)h & (CACHE_SLOTS - 1);
    while (st->tab[i].nids) i = (i + 1) & (CACHE_SLOTS - 1);
    centry_t *e = &st->tab[i];
    e->h = h;
    e->koff = (uint32_t)st->kused;
    e->ioff = (uint32_t)st->iused;
    e->klen = (uint16_t)n;
    e->nids = (uint16_t)m;
    memcpy(st->keys + st->kused, w, n);
    memcpy(st->ids + st->iused, ids, m * sizeof *ids);
    st->kused += n;
    st->iused += m;
    st->used++;
}

/* ---- merging ----
 * Both versions apply, over and over, the merge of lowest rank, the leftmost
 * one among equals: exactly Hugging Face's order (its heap is keyed on
 * (rank, position)), which for a well-formed merge list is also GPT-2's
 * "merge every occurrence of the best pair" order. */
static size_t merge_scan(const bpe_t *b, int32_t *sym, size_t n)
{
    uint32_t rank[SCAN_MAX];
    int32_t mid[SCAN_MAX];
    if (n < 2) return n;
    for (size_t i = 0; i + 1 < n; i++) rank[i] = bpe_pair_rank(b, sym[i], sym[i + 1], &mid[i]);
    for (;;) {
        uint32_t best = BPE_NO_RANK;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < n; i++)
            if (rank[i] < best) { best = rank[i]; bi = i; }
        if (best == BPE_NO_RANK) break;
        sym[bi] = mid[bi];
        /* drop symbol bi+1 and pair bi+1 */
        memmove(sym + bi + 1, sym + bi + 2, (n - bi - 2) * sizeof *sym);
        if (n >= bi + 3) {
            memmove(rank + bi + 1, rank + bi + 2, (n - bi - 3) * sizeof *rank);
            memmove(mid + bi + 1, mid + bi + 2, (n - bi - 3) * sizeof *mid);
        }
        n--;
        if (bi > 0) rank[bi - 1] = bpe_pair_rank(b, sym[bi - 1], sym[bi], &mid[bi - 1]);
        if (bi + 1 < n) rank[bi] = bpe_pair_rank(b, sym[bi], sym[bi + 1], &mid[bi]);
        if (n == 1) break;
    }
    return n;
}

typedef struct {
    uint32_t rank, pos, right;
    int32_t l, r, merged;                /* the pair when pushed: stale if either side changed */
} hent_t;

static int hent_less(const hent_t *a, const hent_t *c)
{
    return a->rank < c->rank || (a->rank == c->rank && a->pos < c->pos);
}

static void heap_push(hent_t *h, size_t *n, hent_t e)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hent_less(&e, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static hent_t heap_pop(hent_t *h, size_t *n)
{
    hent_t top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && hent_less(&h[c + 1], &h[c])) c++;
        if (!hent_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

/* For long words: a linked list of symbols and a heap of candidate pairs
 * (O(n log n) instead of O(n^2)). -1 (and sym untouched) if out of memory. */
static long merge_heap(const bpe_t *b, int32_t *sym, size_t n)
{
    if (n < 2) return (long)n;
    int32_t *next = malloc(n * sizeof *next), *prev = malloc(n * sizeof *prev);
    hent_t *heap = malloc(3 * n * sizeof *heap);
    if (!next || !prev || !heap) { free(next); free(prev); free(heap); return -1; }
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        prev[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        hent_t e = {.pos = (uint32_t)i, .right = (uint32_t)(i + 1), .l = sym[i], .r = sym[i + 1]};
        e.rank = bpe_pair_rank(b, e.l, e.r, &e.merged);
        if (e.rank != BPE_NO_RANK) heap_push(heap, &hn, e);
    }
    while (hn) {
        hent_t e = heap_pop(heap, &hn);
        if (sym[e.pos] != e.l || next[e.pos] != (int32_t)e.right || sym[e.right] != e.r) continue;
        sym[e.pos] = e.merged;
        sym[e.right] = -1;
        next[e.pos] = next[e.right];
        if (next[e.pos] >= 0) prev[next[e.pos]] = (int32_t)e.pos;
        if (prev[e.pos] >= 0) {
            uint32_t p = (uint32_t)prev[e.pos];
            hent_t f = {.pos = p, .right = e.pos, .l = sym[p], .r = sym[e.pos]};
            f.rank = bpe_pair_rank(b, f.l, f.r, &f.merged);
            if (f.rank != BPE_NO_RANK) heap_push(heap, &hn, f);
        }
        if (next[e.pos] >= 0) {
            uint32_t q = (uint32_t)next[e.pos];
            hent_t f = {.pos = e.pos, .right = q, .l = sym[e.pos], .r = sym[q]};
            f.rank = bpe_pair_rank(b, f.l, f.r, &f.merged);
            if (f.rank != BPE_NO_RANK) heap_push(heap, &hn, f);
        }
    }
    size_t m = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) sym[m++] = sym[i];
    free(next);
    free(prev);
    free(heap);
    return (long)m;
}

size_t bpe_merge_symbols(const bpe_t *b, int32_t *sym, size_t n, int mode)
{
    if (mode == 2 || (mode == 0 && n > SCAN_MAX)) {
        long m = merge_heap(b, sym, n);
        if (m >= 0) return (size_t)m;
        /* out of memory: the scan needs none, in chunks it cannot do, so do
         * the quadratic merge in place with recomputed ranks */
    }
    if (n <= SCAN_MAX) return merge_scan(b, sym, n);
    for (;;) {
        uint32_t best = BPE_NO_RANK;
        size_t bi = 0;
        int32_t bm = 0, m;
        for (size_t i = 0; i + 1 < n; i++) {
            uint32_t r = bpe_pair_rank(b, sym[i], sym[i + 1], &m);
            if (r < best) { best = r; bi = i; bm = m; }
        }
        if (best == BPE_NO_RANK) return n;
        sym[bi] = bm;
        memmove(sym + bi + 1, sym + bi + 2, (n - bi - 2) * sizeof *sym);
        n--;
    }
}

/* ---- output ---- */
typedef struct {
    int32_t *ids;
    size_t n, cap;
    int oom;
} out_t;

static int out_grow(out_t *o, size_t extra)
{
    size_t nc = o->cap ? o->cap * 2 : 1024;
    while (nc < o->n + extra) nc *= 2;
    int32_t *p = realloc(o->ids, nc * sizeof *p);
    if (!p) { o->oom = 1; return -1; }
    o->ids = p;
    o->cap = nc;
    return 0;
}

static inline int out_push(out_t *o, const int32_t *ids, size_t m)
{
    if (o->n + m > o->cap && out_grow(o, m)) return -1;
    memcpy(o->ids + o->n, ids, m * sizeof *ids);
    o->n += m;
    return 0;
}

/* ---- one pre-tokenized word -> ids ---- */
static int encode_word(const bpe_t *b, tstate_t *st, const uint8_t *w, size_t n, out_t *o)
{
    if (n == 1) return out_push(o, &b->byte_id[w[0]], 1);
    if (b->ignore_merges) {
        int32_t id = bpe_vmap_get(b, w, n);
        if (id >= 0) return out_push(o, &id, 1);
    }
    uint64_t h = 0;
    if (n <= CACHE_MAX_WORD && st->tab) {
        size_t m;
        h = bpe_hash_bytes(w, n);
        const int32_t *ids = cache_get(st, h, w, n, &m);
        if (ids) return out_push(o, ids, m);
    }
    int32_t *sym = n <= CACHE_MAX_WORD ? st->sym : malloc(n * sizeof *sym);
    if (!sym) { o->oom = 1; return -1; }
    for (size_t i = 0; i < n; i++) sym[i] = b->byte_id[w[i]];
    size_t m = bpe_merge_symbols(b, sym, n, 0);
    int rc = out_push(o, sym, m);
    if (n <= CACHE_MAX_WORD) {
        if (st->tab) cache_put(st, h, w, n, sym, m);
    } else {
        free(sym);
    }
    return rc;
}

/* A piece with no added tokens in it: pre-tokenize and merge. */
static int encode_plain(const bpe_t *b, tstate_t *st, const uint8_t *s, size_t n, out_t *o)
{
    if (n == 0) return 0;
    if (b->add_prefix_space && s[0] != ' ') {
        if (n + 1 > st->pre_cap) {
            uint8_t *p = realloc(st->pre, n + 1);
            if (!p) { o->oom = 1; return -1; }
            st->pre = p;
            st->pre_cap = n + 1;
        }
        st->pre[0] = ' ';
        memcpy(st->pre + 1, s, n);
        s = st->pre;
        n++;
    }
    if (!b->use_regex) return encode_word(b, st, s, n, o);
    for (size_t p = 0; p < n;) {
        size_t e = bpe_split_next(s, n, p);
        if (encode_word(b, st, s + p, e - p, o)) return -1;
        p = e;
    }
    return 0;
}

/* ---- NFC ---- */
static int norm_append(tstate_t *st, const uint8_t *s, size_t n)
{
    if (st->norm_len + n > st->norm_cap) {
        size_t nc = st->norm_cap ? st->norm_cap * 2 : 4096;
        while (nc < st->norm_len + n) nc *= 2;
        uint8_t *p = realloc(st->norm, nc);
        if (!p) return -1;
        st->norm = p;
        st->norm_cap = nc;
    }
    memcpy(st->norm + st->norm_len, s, n);
    st->norm_len += n;
    return 0;
}

/* NFC of valid UTF-8 s[0..n), appended to st->norm. */
static int nfc_span(tstate_t *st, const uint8_t *s, size_t n)
{
    utf8proc_ssize_t need = utf8proc_decompose(s, (utf8proc_ssize_t)n, st->u32, (utf8proc_ssize_t)st->u32_cap,
                                               NFC_OPTS);
    if (need < 0) return norm_append(st, s, n);    /* cannot happen on valid UTF-8; keep the text */
    if ((size_t)need + 1 > st->u32_cap) {
        size_t nc = ((size_t)need + 1) * 2;
        int32_t *p = realloc(st->u32, nc * sizeof *p);
        if (!p) return -1;
        st->u32 = p;
        st->u32_cap = nc;
        need = utf8proc_decompose(s, (utf8proc_ssize_t)n, st->u32, (utf8proc_ssize_t)st->u32_cap, NFC_OPTS);
        if (need < 0) return norm_append(st, s, n);
    }
    utf8proc_ssize_t len = utf8proc_reencode(st->u32, need, NFC_OPTS);
    if (len < 0) return norm_append(st, s, n);
    return norm_append(st, (const uint8_t *)st->u32, (size_t)len);
}

/* NFC of s[0..n) without touching what need not change. ASCII is its own
 * NFC and never composes with what precedes it, so only the runs of
 * non-ASCII characters go through utf8proc, each with the one ASCII
 * character before it (a base letter its combining marks may join).
 * Invalid bytes are copied as they are. Returns s itself when it is ASCII. */
static const uint8_t *normalize(tstate_t *st, const uint8_t *s, size_t n, size_t *outn, int *oom)
{
    size_t i = 0;
    while (i < n && s[i] < 0x80) i++;
    if (i == n) { *outn = n; return s; }
    st->norm_len = 0;
    i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] < 0x80) j++;
        if (j == n) { if (norm_append(st, s + i, n - i)) goto oom; break; }
        size_t start = (j > i) ? j - 1 : j;        /* the ASCII base, if any */
        if (norm_append(st, s + i, start - i)) goto oom;
        size_t k = j;
        while (k < n && s[k] >= 0x80) {
            uint32_t cp;
            int l = bpe_utf8_decode(s + k, n - k, &cp);
            if (!l) break;
            k += (size_t)l;
        }
        if (k > j) {
            if (nfc_span(st, s + start, k - start)) goto oom;
        } else if (norm_append(st, s + start, j - start)) {
            goto oom;
        }
        if (k < n && s[k] >= 0x80) {                 /* an invalid byte */
            if (norm_append(st, s + k, 1)) goto oom;
            k++;
        }
        i = k;
    }
    *outn = st->norm_len;
    return st->norm;
oom:
    *oom = 1;
    return NULL;
}

/* ---- added tokens ---- */
static int build_matcher(bpe_t *b, bpe_matcher_t *m, int normalized)
{
    m->idx = malloc((size_t)(b->n_added ? b->n_added : 1) * sizeof *m->idx);
    m->pair2 = calloc(65536 / 64, sizeof *m->pair2);
    if (!m->idx || !m->pair2) return -1;
    for (int i = 0; i < b->n_added; i++)
        if (b->added[i].normalized == normalized && b->added[i].len > 0) m->idx[m->n++] = i;
    /* longest first (file order among equals): the first that matches is the longest */
    for (int k = 1; k < m->n; k++) {
        int v = m->idx[k], j = k;
        for (; j > 0 && b->added[m->idx[j - 1]].len < b->added[v].len; j--) m->idx[j] = m->idx[j - 1];
        m->idx[j] = v;
    }
    for (int k = 0; k < m->n; k++) {
        const uint8_t *c = (const uint8_t *)b->added[m->idx[k]].content;
        size_t len = b->added[m->idx[k]].len;
        m->first[c[0]] = 1;
        if (len == 1) m->single[c[0]] = 1;
        else m->pair2[(c[0] << 8 | c[1]) >> 6] |= 1ull << ((c[0] << 8 | c[1]) & 63);
    }
    return 0;
}

int bpe_build_matchers(bpe_t *b)
{
    return build_matcher(b, &b->m_raw, 0) || build_matcher(b, &b->m_norm, 1) ? -1 : 0;
}

/* The longest added token starting at s[p], or -1. */
static int match_at(const bpe_t *b, const bpe_matcher_t *m, const uint8_t *s, size_t n, size_t p)
{
    int two = p + 1 < n;
    unsigned k2 = two ? (unsigned)(s[p] << 8 | s[p + 1]) : 0;
    if (!(two && (m->pair2[k2 >> 6] >> (k2 & 63) & 1)) && !m->single[s[p]]) return -1;
    for (int k = 0; k < m->n; k++) {
        const bpe_added_t *a = &b->added[m->idx[k]];
        if (a->len <= n - p && memcmp(s + p, a->content, a->len) == 0) return m->idx[k];
    }
    return -1;
}

/* Leftmost-longest added token in s[from..n): its index, start in *pos. */
static int find_added(const bpe_t *b, const bpe_matcher_t *m, const uint8_t *s, size_t n, size_t from,
                      size_t *pos)
{
    for (size_t p = from; p < n; p++) {
        if (!m->first[s[p]]) continue;
        int k = match_at(b, m, s, n, p);
        if (k >= 0) { *pos = p; return k; }
    }
    return -1;
}

/* Start of the character that ends at s[end] (exclusive); an invalid byte
 * counts alone. */
static size_t char_before(const uint8_t *s, size_t end, uint32_t *cp, int *valid)
{
    size_t j = end - 1;
    while (j > 0 && end - j < 4 && (s[j] & 0xC0) == 0x80) j--;
    int l = bpe_utf8_decode(s + j, end - j, cp);
    if (l > 0 && (size_t)l == end - j) { *valid = 1; return j; }
    *valid = 0;
    return end - 1;
}

static int word_before(const uint8_t *s, size_t pos)
{
    if (pos == 0) return 0;
    uint32_t cp;
    int valid;
    char_before(s, pos, &cp, &valid);
    return valid && bpe_cp_is_word(cp);
}

static int word_after(const uint8_t *s, size_t n, size_t pos)
{
    uint32_t cp;
    return pos < n && bpe_utf8_decode(s + pos, n - pos, &cp) && bpe_cp_is_word(cp);
}

static size_t skip_space_left(const uint8_t *s, size_t pos, size_t limit)
{
    while (pos > limit) {
        uint32_t cp;
        int valid;
        size_t j = char_before(s, pos, &cp, &valid);
        if (!valid || bpe_cp_class(cp) != BPE_C_SPACE || j < limit) break;
        pos = j;
    }
    return pos;
}

static size_t skip_space_right(const uint8_t *s, size_t n, size_t pos)
{
    while (pos < n) {
        size_t l;
        if (bpe_char_class(s, n, pos, &l) != BPE_C_SPACE) break;
        pos += l;
    }
    return pos;
}

typedef int (*piece_fn)(const bpe_t *, tstate_t *, const uint8_t *, size_t, out_t *);

/* Cuts the added tokens of m out of s; the pieces between go to fn. */
static int split_added(const bpe_t *b, tstate_t *st, const bpe_matcher_t *m, const uint8_t *s, size_t n,
                       out_t *o, piece_fn fn)
{
    size_t done = 0, from = 0, pos;
    int k;
    while (from < n && (k = find_added(b, m, s, n, from, &pos)) >= 0) {
        const bpe_added_t *a = &b->added[k];
        size_t start = pos, stop = pos + a->len;
        if ((a->special && !b->special_in_text) ||
            (a->single_word && (word_before(s, start) || word_after(s, n, stop)))) {
            from = stop;                             /* skipped: stays ordinary text */
            continue;
        }
        if (a->lstrip) start = skip_space_left(s, start, done);
        if (a->rstrip) stop = skip_space_right(s, n, stop);
        if (start > done && fn(b, st, s + done, start - done, o)) return -1;
        if (out_push(o, &a->id, 1)) return -1;
        done = from = stop;
    }
    return n > done ? fn(b, st, s + done, n - done, o) : 0;
}

/* A piece of raw text between non-normalized added tokens: normalise it,
 * then cut out the normalized added tokens. */
static int encode_normalized(const bpe_t *b, tstate_t *st, const uint8_t *s, size_t n, out_t *o)
{
    if (b->normalizer == BPE_NORM_NFC) {
        int oom = 0;
        s = normalize(st, s, n, &n, &oom);
        if (oom) { o->oom = 1; return -1; }
    }
    if (b->m_norm.n) return split_added(b, st, &b->m_norm, s, n, o, encode_plain);
    return encode_plain(b, st, s, n, o);
}

int bpe_encode(const bpe_t *b, const char *text, size_t len, int32_t **ids, size_t *n, size_t *cap)
{
    tstate_t *st = get_state(b);
    if (!st) return -1;
    out_t o = {.ids = *ids, .n = *n, .cap = *cap};
    const uint8_t *s = (const uint8_t *)text;
    if (b->m_raw.n) split_added(b, st, &b->m_raw, s, len, &o, encode_normalized);
    else encode_normalized(b, st, s, len, &o);
    *ids = o.ids;
    *n = o.n;
    *cap = o.cap;
    return o.oom ? -1 : 0;
}

/* ---- decode and look-ups ---- */
const char *bpe_token_bytes(const bpe_t *b, int32_t id, size_t *len)
{
    if (id < 0 || id >= b->vocab_size || b->tok_len[id] < 0) return NULL;
    *len = (size_t)b->tok_len[id];
    return b->blob + b->tok_off[id];
}

char *bpe_decode(const bpe_t *b, const int32_t *ids, size_t n, size_t *outlen)
{
    size_t total = 0, l;
    for (size_t i = 0; i < n; i++) {
        if (!bpe_token_bytes(b, ids[i], &l)) return NULL;
        total += l;
    }
    char *out = malloc(total + 1), *p = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *t = bpe_token_bytes(b, ids[i], &l);
        memcpy(p, t, l);
        p += l;
    }
    *p = 0;
    if (outlen) *outlen = total;
    return out;
}

int bpe_vocab_size(const bpe_t *b)
{
    return b->vocab_size;
}

int32_t bpe_token_id(const bpe_t *b, const char *token)
{
    size_t n = strlen(token);
    for (int i = 0; i < b->n_added; i++) {
        size_t l;
        const char *t = bpe_token_bytes(b, b->added[i].id, &l);
        if (t && l == n && memcmp(t, token, n) == 0) return b->added[i].id;
    }
    return n ? bpe_vmap_get(b, token, n) : -1;
}

void bpe_set_special_in_text(bpe_t *b, int on)
{
    b->special_in_text = on != 0;
}

char *bpe_nfc_dup(const char *s, size_t n, size_t *outlen)
{
    utf8proc_uint8_t *out = NULL;
    utf8proc_ssize_t l = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &out, NFC_OPTS);
    if (l < 0) {                                      /* not valid UTF-8: match it as it is */
        char *d = malloc(n + 1);
        if (d) { memcpy(d, s, n); d[n] = 0; *outlen = n; }
        return d;
    }
    *outlen = (size_t)l;
    return (char *)out;
}

void bpe_free(bpe_t *b)
{
    if (!b) return;
    if (b->reg) {
        pthread_key_delete(b->key);                   /* no destructor runs after this */
        for (tstate_t *st = b->reg->head, *nx; st; st = nx) {
            nx = st->next;
            tstate_release(st);
        }
        pthread_mutex_destroy(&b->reg->mu);
        free(b->reg);
    }
    for (int i = 0; i < b->n_added; i++) free(b->added[i].content);
    free(b->added);
    free(b->m_raw.idx);
    free(b->m_raw.pair2);
    free(b->m_norm.idx);
    free(b->m_norm.pair2);
    free(b->tok_off);
    free(b->tok_len);
    free(b->blob);
    free(b->vmap);
    free(b->pairs);
    free(b);
}
