/* check_parquet.c: tests of runtime/parquet.c.
 *
 * The test carries its own minimal Parquet writer (a Thrift compact encoder,
 * PLAIN and dictionary pages, data pages v1 and v2, the four codecs through
 * the same libraries), so the reader is checked on files built here, with
 * every writer knob and a set of deliberate corruptions. When
 * tests/fixtures/parquet/ exists (written by pyarrow through
 * tests/reference/make_parquet_fixtures.py), its manifest is checked too, as
 * an independent writer; a file the manifest names but the directory lacks
 * is a failure. PARQUET_FIXTURES=DIR points elsewhere.
 *
 * Extra mode (not a test): `check_parquet --write-bench FILE MB [CODEC]`
 * writes a synthetic FineWeb-like file (CODEC snappy, zstd, gzip or none)
 * for timing `parquet-cat --count`. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "parquet.h"

/* ------------------------------------------------------------------------
 * Byte buffer */
typedef struct { uint8_t *p; size_t n, cap; } buf_t;

static void b_put(buf_t *b, const void *s, size_t n) {
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap * 2 : 256;
        while (c < b->n + n) c *= 2;
        b->p = realloc(b->p, c);
        ck_assert_ptr_nonnull(b->p);
        b->cap = c;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void b_u8(buf_t *b, unsigned v) { uint8_t c = (uint8_t)v; b_put(b, &c, 1); }
static void b_u32(buf_t *b, uint32_t v) {
    uint8_t c[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    b_put(b, c, 4);
}
static void b_varint(buf_t *b, uint64_t v) {
    while (v >= 0x80) { b_u8(b, (unsigned)(v & 0x7f) | 0x80); v >>= 7; }
    b_u8(b, (unsigned)v);
}
static void b_free(buf_t *b) { free(b->p); memset(b, 0, sizeof(*b)); }

/* ------------------------------------------------------------------------
 * Thrift compact writer */
enum { T_TRUE = 1, T_FALSE = 2, T_I8 = 3, T_I16 = 4, T_I32 = 5, T_I64 = 6, T_DOUBLE = 7,
       T_BINARY = 8, T_LIST = 9, T_SET = 10, T_MAP = 11, T_STRUCT = 12 };

typedef struct { buf_t *b; int last[128]; int depth; } tw_t;

static uint64_t zz(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static void tw_field(tw_t *w, int type, int id) {
    int d = id - w->last[w->depth];
    if (d > 0 && d <= 15) b_u8(w->b, (unsigned)(d << 4 | type));
    else { b_u8(w->b, (unsigned)type); b_varint(w->b, zz(id)); }
    w->last[w->depth] = id;
}
static void tw_begin(tw_t *w) { w->last[++w->depth] = 0; }
static void tw_end(tw_t *w) { b_u8(w->b, 0); w->depth--; }
static void tw_i32(tw_t *w, int id, int64_t v) { tw_field(w, T_I32, id); b_varint(w->b, zz(v)); }
static void tw_i64(tw_t *w, int id, int64_t v) { tw_field(w, T_I64, id); b_varint(w->b, zz(v)); }
static void tw_bin(tw_t *w, int id, const char *s) {
    tw_field(w, T_BINARY, id);
    b_varint(w->b, strlen(s));
    b_put(w->b, s, strlen(s));
}
static void tw_bool(tw_t *w, int id, int v) { tw_field(w, v ? T_TRUE : T_FALSE, id); }
static void tw_struct(tw_t *w, int id) { tw_field(w, T_STRUCT, id); tw_begin(w); }
static void tw_list(tw_t *w, int id, int et, uint32_t n) {
    tw_field(w, T_LIST, id);
    if (n < 15) b_u8(w->b, (unsigned)(n << 4 | (uint32_t)et));
    else { b_u8(w->b, 0xf0 | (unsigned)et); b_varint(w->b, n); }
}

/* Fields of every type that a reader does not know, under unused ids (some
 * far enough to need the long field-id form), to exercise generic skipping. */
static void tw_junk(tw_t *w, int base) {
    tw_field(w, T_I8, base); b_u8(w->b, 0x7f);
    tw_field(w, T_I16, base + 1); b_varint(w->b, zz(-300));
    tw_field(w, T_DOUBLE, base + 2); b_put(w->b, "\0\0\0\0\0\0\xf0\x3f", 8);
    tw_bin(w, base + 20, "unknown \"string\"");
    tw_bool(w, base + 21, 1);
    tw_bool(w, base + 22, 0);
    tw_list(w, base + 23, T_I32, 20);
    for (int i = 0; i < 20; i++) b_varint(w->b, zz(i * 1000));
    tw_list(w, base + 24, T_TRUE, 3);  /* bool elements: one byte each */
    b_u8(w->b, 1); b_u8(w->b, 2); b_u8(w->b, 1);
    tw_field(w, T_SET, base + 25); b_u8(w->b, 2 << 4 | T_BINARY);
    b_varint(w->b, 1); b_u8(w->b, 'a'); b_varint(w->b, 0);
    tw_field(w, T_MAP, base + 26); b_varint(w->b, 2); b_u8(w->b, T_BINARY << 4 | T_STRUCT);
    for (int i = 0; i < 2; i++) {
        b_varint(w->b, 1); b_u8(w->b, 'k');
        tw_begin(w); tw_i64(w, 1, -5); tw_list(w, 2, T_STRUCT, 1);
        tw_begin(w); tw_bool(w, 1, 1); tw_end(w); tw_end(w);
    }
    tw_field(w, T_MAP, base + 27); b_varint(w->b, 0);  /* empty map: no type byte */
    tw_struct(w, base + 28);
    tw_struct(w, 1); tw_struct(w, 1); tw_i32(w, 1, 7); tw_end(w); tw_end(w);
    tw_end(w);
}

/* ------------------------------------------------------------------------
 * Values and a deterministic generator */
typedef struct { uint8_t *p; size_t n; int null; } val_t;

static uint64_t rng_state;
static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static val_t mkval(const void *s, size_t n) {
    val_t v = {malloc(n ? n : 1), n, 0};
    ck_assert_ptr_nonnull(v.p);
    if (n) memcpy(v.p, s, n);
    return v;
}

/* n values: nulls (when optional), empty strings, binary with NULs, UTF-8,
 * and every ~300th value longer than 64 KiB. pool > 0 draws most values
 * from a pool of that many strings, so dictionaries are meaningful. */
static val_t *gen_values(size_t n, int optional, int pool, uint64_t seed) {
    val_t *v = calloc(n, sizeof(*v));
    char s[256];
    rng_state = seed;
    for (size_t i = 0; i < n; i++) {
        unsigned k = (unsigned)(rnd() % 20);
        if (optional && k == 0) { v[i].null = 1; continue; }
        if (k == 1) { v[i] = mkval("", 0); continue; }
        if (rnd() % 300 == 0) {
            size_t len = 65536 + (size_t)(rnd() % 20000);
            uint8_t *p = malloc(len);
            for (size_t j = 0; j < len; j++) p[j] = (uint8_t)('a' + (j * 7 + i) % 26);
            v[i] = (val_t){p, len, 0};
            continue;
        }
        if (pool > 0 && k >= 6) {
            int m = snprintf(s, sizeof(s), "pool-%d naïve", (int)(rnd() % (uint64_t)pool));
            v[i] = mkval(s, (size_t)m);
        } else if (k == 2) {
            uint8_t bin[9] = {0, 1, 0xff, 0, 0xfe, (uint8_t)i, 0, 0x80, 0};
            v[i] = mkval(bin, sizeof(bin));
        } else if (k == 3) {
            int m = snprintf(s, sizeof(s), "日本語 😀 Ελληνικά \"%zu\"\n", i);
            v[i] = mkval(s, (size_t)m);
        } else {
            int len = 1 + (int)(rnd() % 60);
            for (int j = 0; j < len; j++) s[j] = (char)('A' + (rnd() % 58));
            int m = snprintf(s + len, sizeof(s) - (size_t)len, "#%zu", i);
            v[i] = mkval(s, (size_t)(len + m));
        }
    }
    return v;
}

static void free_values(val_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i].p);
    free(v);
}

/* ------------------------------------------------------------------------
 * The writer */
enum { C_NONE = 0, C_SNAPPY = 1, C_GZIP = 2, C_LZO = 3, C_ZSTD = 6 };
enum { D_PLAIN, D_RLE_DICT, D_PLAIN_DICT, D_FALLBACK };
enum {
    BAD_NONE, BAD_CSIZE_PAST_CHUNK, BAD_USIZE_HUGE, BAD_USIZE_NEG, BAD_DICT_INDEX, BAD_BIT_WIDTH,
    BAD_CODEC_LZO, BAD_ENC_DELTA, BAD_DEF_LEVEL, BAD_CHUNK_OFFSET, BAD_NUM_VALUES,
    BAD_DICT_AFTER_DATA, BAD_TWO_DICTS, BAD_NO_DICT, BAD_PLAIN_LEN, BAD_V2_DL_LEN,
    BAD_CORRUPT_BODY, BAD_USIZE_MISMATCH, BAD_LEVELS_SHORT, BAD_PAGE_TYPE, BAD_COLS_MISMATCH,
    BAD_FILE_PATH, BAD_DICT_COUNT, BAD_V1_DEF_LEN, BAD_NO_PAGE_HEADER_SUB, BAD_CHUNK_SHORT,
    BAD_DEF_ENC_BITPACKED
};

typedef struct {
    int codec, dict, v2, optional;
    int page_rows, rg_rows;
    int junk;          /* unknown thrift fields everywhere */
    int index_page;    /* an INDEX_PAGE before the data pages */
    int v2_raw;        /* v2 pages with is_compressed = false */
    int zlib;          /* GZIP codec data with a zlib header instead of gzip */
    int extra_cols;    /* INT32 and nested columns before "text" */
    int bad;
} wopt_t;

static void w_compress(buf_t *out, const wopt_t *o, const uint8_t *src, size_t n) {
    if (o->codec == C_NONE || o->codec == C_LZO) { b_put(out, src, n); return; }
    if (o->codec == C_SNAPPY) {
        size_t cap = snappy_max_compressed_length(n);
        char *d = malloc(cap);
        ck_assert_int_eq(snappy_compress((const char *)src, n, d, &cap), SNAPPY_OK);
        b_put(out, d, cap);
        free(d);
    } else if (o->codec == C_ZSTD) {
        size_t cap = ZSTD_compressBound(n);
        void *d = malloc(cap);
        size_t m = ZSTD_compress(d, cap, src, n, 3);
        ck_assert(!ZSTD_isError(m));
        b_put(out, d, m);
        free(d);
    } else {
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, o->zlib ? 15 : 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
        size_t cap = deflateBound(&zs, n) + 32;
        uint8_t *d = malloc(cap);
        zs.next_in = (Bytef *)src; zs.avail_in = (uInt)n;
        zs.next_out = d; zs.avail_out = (uInt)cap;
        ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
        b_put(out, d, cap - zs.avail_out);
        deflateEnd(&zs);
        free(d);
    }
}

static int bitw(uint32_t v) { int w = 0; while (v >> w) w++; return w; }

static size_t run_at(const uint32_t *v, size_t i, size_t n) {
    size_t j = i;
    while (j < n && v[j] == v[i]) j++;
    return j - i;
}

/* RLE/bit-packed hybrid: RLE for runs of 8 or more (or the tail), else
 * bit-packed runs of one or more groups of 8. */
static void hyb_encode(buf_t *b, const uint32_t *v, size_t n, int bw) {
    size_t i = 0;
    int nb = (bw + 7) / 8;
    while (i < n) {
        size_t r = run_at(v, i, n);
        if (r >= 8 || i + r == n) {
            b_varint(b, (uint64_t)r << 1);
            for (int k = 0; k < nb; k++) b_u8(b, (v[i] >> (8 * k)) & 0xff);
            i += r;
            continue;
        }
        size_t start = i, g = 0;
        do { g++; i += 8; } while (i < n && run_at(v, i, n) < 8 && g < 100);
        b_varint(b, (uint64_t)g << 1 | 1);
        uint64_t acc = 0;
        int nbits = 0;
        for (size_t k = start; k < start + 8 * g; k++) {
            acc |= (uint64_t)(k < n ? v[k] : 0) << nbits;
            nbits += bw;
            while (nbits >= 8) { b_u8(b, acc & 0xff); acc >>= 8; nbits -= 8; }
        }
        if (i > n) i = n;
    }
}

/* A simple string -> index map for building dictionaries. */
typedef struct { const val_t **keys; uint32_t *idx; size_t cap, n; } dmap_t;
static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}
static uint32_t dmap_get(dmap_t *m, const val_t *v) {
    if (2 * (m->n + 1) > m->cap) {
        dmap_t old = *m;
        m->cap = old.cap ? old.cap * 2 : 64;
        m->keys = calloc(m->cap, sizeof(*m->keys));
        m->idx = calloc(m->cap, sizeof(*m->idx));
        m->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i]) {
                size_t h = hash_bytes(old.keys[i]->p, old.keys[i]->n) & (m->cap - 1);
                while (m->keys[h]) h = (h + 1) & (m->cap - 1);
                m->keys[h] = old.keys[i];
                m->idx[h] = old.idx[i];
                m->n++;
            }
        free(old.keys);
        free(old.idx);
    }
    size_t h = hash_bytes(v->p, v->n) & (m->cap - 1);
    while (m->keys[h]) {
        if (m->keys[h]->n == v->n && !memcmp(m->keys[h]->p, v->p, v->n)) return m->idx[h];
        h = (h + 1) & (m->cap - 1);
    }
    m->keys[h] = v;
    m->idx[h] = (uint32_t)m->n;
    return (uint32_t)m->n++;
}

typedef struct {
    int64_t start, size, data_off, dict_off, num_values;
    int codec;
} chunk_info_t;

static void page_header(buf_t *f, const wopt_t *o, int type, int64_t usize, int64_t csize,
                        int64_t nvals, int64_t nnulls, int enc, int64_t dl_len, int is_compressed) {
    tw_t w = {.b = f};
    if (o->bad == BAD_CSIZE_PAST_CHUNK && type != 2) csize += 100000;
    if (o->bad == BAD_USIZE_HUGE && type != 2) usize = 0x7fffffff;
    if (o->bad == BAD_USIZE_NEG && type != 2) usize = -5;
    if (o->bad == BAD_USIZE_MISMATCH && type != 2) usize += 1;
    if (o->bad == BAD_PAGE_TYPE) type = 9;
    tw_begin(&w);
    tw_i32(&w, 1, type);
    tw_i32(&w, 2, usize);
    tw_i32(&w, 3, csize);
    if (o->junk) tw_i32(&w, 4, 0x1234);  /* crc */
    if (o->bad == BAD_NO_PAGE_HEADER_SUB) { tw_end(&w); return; }
    if (type == 2) {
        tw_struct(&w, 7);
        tw_i32(&w, 1, nvals);
        tw_i32(&w, 2, o->dict == D_PLAIN_DICT ? 2 : 0);
        tw_bool(&w, 3, 0);
        tw_end(&w);
    } else if (type == 0 || type == 9) {
        tw_struct(&w, 5);
        tw_i32(&w, 1, nvals);
        tw_i32(&w, 2, enc);
        tw_i32(&w, 3, o->bad == BAD_DEF_ENC_BITPACKED ? 4 : 3);
        tw_i32(&w, 4, 3);
        if (o->junk) { tw_struct(&w, 5); tw_bin(&w, 5, "max"); tw_bin(&w, 6, "min"); tw_end(&w); }
        tw_end(&w);
    } else if (type == 3) {
        tw_struct(&w, 8);
        tw_i32(&w, 1, nvals);
        tw_i32(&w, 2, nnulls);
        tw_i32(&w, 3, nvals);
        tw_i32(&w, 4, enc);
        tw_i32(&w, 5, dl_len);
        tw_i32(&w, 6, 0);
        if (!is_compressed || o->junk) tw_bool(&w, 7, is_compressed);
        if (o->junk) { tw_struct(&w, 8); tw_i64(&w, 3, 0); tw_end(&w); }
        tw_end(&w);
    }
    if (o->junk) tw_junk(&w, 40);
    tw_end(&w);
}

/* Writes one column chunk of rows v[0..n) at the end of f. */
static void write_chunk(buf_t *f, const wopt_t *o, const val_t *v, size_t n, chunk_info_t *ci) {
    size_t page_rows = o->page_rows > 0 ? (size_t)o->page_rows : (n ? n : 1);
    size_t npages = (n + page_rows - 1) / page_rows;
    size_t dict_pages = o->dict == D_PLAIN ? 0 : o->dict == D_FALLBACK ? (npages + 1) / 2 : npages;
    memset(ci, 0, sizeof(*ci));
    ci->start = (int64_t)f->n;
    ci->dict_off = -1;
    ci->num_values = (int64_t)n;

    /* The dictionary covers the dictionary-encoded pages' values. */
    dmap_t m = {0};
    uint32_t *idx = calloc(n ? n : 1, sizeof(uint32_t));
    size_t dict_rows = dict_pages * page_rows < n ? dict_pages * page_rows : n;
    buf_t dict = {0};
    for (size_t i = 0; i < dict_rows; i++) {
        if (v[i].null) continue;
        size_t before = m.n;
        idx[i] = dmap_get(&m, &v[i]);
        if (m.n > before) { b_u32(&dict, (uint32_t)v[i].n); b_put(&dict, v[i].p, v[i].n); }
    }
    int dict_bw = bitw(m.n ? (uint32_t)m.n - 1 : 0);
    if (o->bad == BAD_DICT_INDEX && dict_rows) {
        for (size_t i = 0; i < dict_rows; i++)
            if (!v[i].null) { idx[i] = (uint32_t)m.n + 3; break; }
        dict_bw = bitw((uint32_t)m.n + 3);
    }
    int dict_written = 0;
    #define WRITE_DICT() do { \
        buf_t c = {0}; w_compress(&c, o, dict.p, dict.n); \
        if (ci->dict_off < 0) ci->dict_off = (int64_t)f->n; \
        page_header(f, o, 2, (int64_t)dict.n, (int64_t)c.n, \
                    o->bad == BAD_DICT_COUNT ? (int64_t)dict.n + 1 : (int64_t)m.n, 0, 0, 0, 1); \
        b_put(f, c.p, c.n); b_free(&c); dict_written = 1; } while (0)
    if (dict_pages && o->bad != BAD_NO_DICT && o->bad != BAD_DICT_AFTER_DATA) {
        WRITE_DICT();
        if (o->bad == BAD_TWO_DICTS) WRITE_DICT();
    }
    if (o->index_page) {
        tw_t w = {.b = f};
        tw_begin(&w); tw_i32(&w, 1, 1); tw_i32(&w, 2, 5); tw_i32(&w, 3, 5);
        tw_struct(&w, 6); tw_end(&w);
        tw_end(&w);
        b_put(f, "index", 5);
    }
    for (size_t pg = 0; pg < npages; pg++) {
        size_t a = pg * page_rows, e = a + page_rows < n ? a + page_rows : n, nn = 0;
        int use_dict = pg < dict_pages && !(o->bad == BAD_DICT_AFTER_DATA && pg == 0);
        buf_t lv = {0}, vals = {0}, body = {0};
        for (size_t i = a; i < e; i++) nn += v[i].null;
        if (o->optional) {
            uint32_t *d = malloc((e - a + 1) * sizeof(uint32_t));
            for (size_t i = a; i < e; i++) d[i - a] = !v[i].null;
            if (o->bad == BAD_DEF_LEVEL) { b_varint(&lv, (uint64_t)(e - a) << 1); b_u8(&lv, 2); }
            else if (o->bad == BAD_LEVELS_SHORT) { b_varint(&lv, 2 << 1); b_u8(&lv, 1); }
            else hyb_encode(&lv, d, e - a, 1);
            free(d);
        }
        if (use_dict) {
            uint32_t *d = malloc((e - a + 1) * sizeof(uint32_t));
            size_t k = 0;
            for (size_t i = a; i < e; i++) if (!v[i].null) d[k++] = idx[i];
            b_u8(&vals, o->bad == BAD_BIT_WIDTH ? 33 : (unsigned)dict_bw);
            hyb_encode(&vals, d, k, dict_bw);
            free(d);
        } else {
            for (size_t i = a; i < e; i++) {
                if (v[i].null) continue;
                uint32_t len = (uint32_t)v[i].n;
                if (o->bad == BAD_PLAIN_LEN && i + 1 == e) len += 1000;
                b_u32(&vals, len);
                b_put(&vals, v[i].p, v[i].n);
            }
        }
        int enc = use_dict ? (o->dict == D_PLAIN_DICT ? 2 : 8) : 0;
        if (o->bad == BAD_ENC_DELTA) enc = 7;
        int64_t off = (int64_t)f->n;
        if (!o->v2) {
            buf_t raw = {0};
            if (o->optional) {
                b_u32(&raw, (uint32_t)lv.n + (o->bad == BAD_V1_DEF_LEN ? 100000 : 0));
                b_put(&raw, lv.p, lv.n);
            }
            b_put(&raw, vals.p, vals.n);
            w_compress(&body, o, raw.p, raw.n);
            if (o->bad == BAD_CORRUPT_BODY && body.n > 8) memset(body.p, 0xa5, 4);
            page_header(f, o, 0, (int64_t)raw.n, (int64_t)body.n, (int64_t)(e - a), 0, enc, 0, 1);
            b_free(&raw);
        } else {
            buf_t cv = {0};
            if (o->v2_raw) b_put(&cv, vals.p, vals.n); else w_compress(&cv, o, vals.p, vals.n);
            if (o->bad == BAD_CORRUPT_BODY && cv.n > 8) memset(cv.p, 0xa5, 4);
            b_put(&body, lv.p, lv.n);
            b_put(&body, cv.p, cv.n);
            int64_t dl = (int64_t)lv.n + (o->bad == BAD_V2_DL_LEN ? 100000 : 0);
            page_header(f, o, 3, (int64_t)(lv.n + vals.n), (int64_t)body.n, (int64_t)(e - a),
                        (int64_t)nn, enc, dl, !o->v2_raw);
            b_free(&cv);
        }
        if (!ci->data_off) ci->data_off = off;
        b_put(f, body.p, body.n);
        b_free(&lv); b_free(&vals); b_free(&body);
        if (o->bad == BAD_DICT_AFTER_DATA && pg == 0 && dict_pages) WRITE_DICT();
    }
    #undef WRITE_DICT
    (void)dict_written;
    if (!ci->data_off) ci->data_off = (int64_t)f->n;
    ci->size = (int64_t)f->n - ci->start;
    if (o->bad == BAD_CHUNK_SHORT) ci->size -= 3;
    ci->codec = o->bad == BAD_CODEC_LZO ? C_LZO : o->codec;
    b_free(&dict);
    free(idx);
    free(m.keys);
    free(m.idx);
}

static void column_meta(tw_t *w, const wopt_t *o, int type, const char *path, const chunk_info_t *ci) {
    tw_struct(w, 3);
    tw_i32(w, 1, type);
    tw_list(w, 2, T_I32, 2); b_varint(w->b, zz(0)); b_varint(w->b, zz(8));
    tw_list(w, 3, T_BINARY, 1); b_varint(w->b, strlen(path)); b_put(w->b, path, strlen(path));
    tw_i32(w, 4, ci->codec);
    tw_i64(w, 5, ci->num_values + (o->bad == BAD_NUM_VALUES ? 1 : 0));
    tw_i64(w, 6, ci->size);
    tw_i64(w, 7, ci->size);
    if (o->junk) { tw_list(w, 8, T_STRUCT, 1); tw_begin(w); tw_bin(w, 1, "k"); tw_end(w); }
    tw_i64(w, 9, o->bad == BAD_CHUNK_OFFSET ? (int64_t)1 << 40 : ci->data_off);
    if (ci->dict_off >= 0) tw_i64(w, 11, ci->dict_off);
    if (o->junk) {
        tw_struct(w, 12); tw_bin(w, 1, "max"); tw_i64(w, 3, 0); tw_end(w);
        tw_list(w, 13, T_STRUCT, 1); tw_begin(w); tw_i32(w, 1, 0); tw_i32(w, 2, 8); tw_i32(w, 3, 1); tw_end(w);
        tw_struct(w, 16); tw_i64(w, 1, 99); tw_end(w);
        tw_junk(w, 60);
    }
    tw_end(w);
}

/* Builds a whole file: "PAR1", the chunks of each row group, the footer. */
static void write_file(buf_t *f, const wopt_t *o, const val_t *v, size_t n) {
    size_t rg_rows = o->rg_rows > 0 ? (size_t)o->rg_rows : (n ? n : 1);
    size_t nrg = (n + rg_rows - 1) / rg_rows;
    chunk_info_t *ci = calloc(nrg + 1, sizeof(*ci));
    memset(f, 0, sizeof(*f));
    b_put(f, "PAR1", 4);
    for (size_t g = 0; g < nrg; g++) {
        size_t a = g * rg_rows, e = a + rg_rows < n ? a + rg_rows : n;
        write_chunk(f, o, v + a, e - a, &ci[g]);
    }
    size_t meta_at = f->n;
    tw_t w = {.b = f};
    tw_begin(&w);
    tw_i32(&w, 1, 1);
    /* schema: root, [id INT32, meta {a BYTE_ARRAY, b INT32},] text */
    tw_list(&w, 2, T_STRUCT, o->extra_cols ? 6 : 2);
    tw_begin(&w); tw_bin(&w, 4, "schema"); tw_i32(&w, 5, o->extra_cols ? 3 : 1);
    if (o->junk) tw_junk(&w, 30);
    tw_end(&w);
    if (o->extra_cols) {
        tw_begin(&w); tw_i32(&w, 1, 1); tw_i32(&w, 3, 0); tw_bin(&w, 4, "id"); tw_end(&w);
        tw_begin(&w); tw_i32(&w, 3, 1); tw_bin(&w, 4, "meta"); tw_i32(&w, 5, 2); tw_end(&w);
        tw_begin(&w); tw_i32(&w, 1, 6); tw_i32(&w, 3, 1); tw_bin(&w, 4, "a"); tw_end(&w);
        tw_begin(&w); tw_i32(&w, 1, 1); tw_i32(&w, 3, 0); tw_bin(&w, 4, "b"); tw_end(&w);
    }
    tw_begin(&w);
    tw_i32(&w, 1, 6);
    tw_i32(&w, 3, o->optional ? 1 : 0);
    tw_bin(&w, 4, "text");
    tw_i32(&w, 6, 0);  /* converted_type UTF8 */
    tw_struct(&w, 10); tw_struct(&w, 1); tw_end(&w); tw_end(&w);  /* logicalType STRING */
    tw_end(&w);
    tw_i64(&w, 3, (int64_t)n);
    tw_list(&w, 4, T_STRUCT, (uint32_t)nrg);
    for (size_t g = 0; g < nrg; g++) {
        int ncols = o->extra_cols ? 4 : 1;
        if (o->bad == BAD_COLS_MISMATCH) ncols++;
        tw_begin(&w);
        tw_list(&w, 1, T_STRUCT, (uint32_t)ncols);
        for (int c = 0; c < ncols; c++) {
            int last = c == ncols - 1;
            static const char *paths[] = {"id", "meta.a", "meta.b"};
            static const int types[] = {1, 6, 1};
            tw_begin(&w);
            if (last && o->bad == BAD_FILE_PATH) tw_bin(&w, 1, "other.parquet");
            tw_i64(&w, 2, ci[g].start);
            column_meta(&w, o, last ? 6 : types[c % 3], last ? "text" : paths[c % 3], &ci[g]);
            if (o->junk) { tw_i64(&w, 4, 0); tw_i32(&w, 5, 0); tw_i64(&w, 6, 0); tw_i32(&w, 7, 0); }
            tw_end(&w);
        }
        tw_i64(&w, 2, ci[g].size);
        tw_i64(&w, 3, ci[g].num_values);
        if (o->junk) { tw_i64(&w, 5, ci[g].start); tw_i64(&w, 6, ci[g].size); tw_field(&w, T_I16, 7); b_varint(w.b, zz((int64_t)g)); }
        tw_end(&w);
    }
    tw_bin(&w, 6, "check_parquet writer");
    if (o->junk) tw_junk(&w, 100);
    tw_end(&w);
    b_u32(f, (uint32_t)(f->n - meta_at));
    b_put(f, "PAR1", 4);
    free(ci);
}

/* ------------------------------------------------------------------------
 * Reading helpers */
static char errbuf[1024];

/* Reads every row of column `col` across all row groups and compares with v.
 * Returns 0, or -1 with errbuf set. */
static int read_compare(pq_file_t *f, int col, const val_t *v, size_t n) {
    size_t row = 0;
    for (int g = 0; g < pq_num_row_groups(f); g++) {
        pq_column_reader_t *r = pq_column_open(f, g, col, errbuf, sizeof(errbuf));
        if (!r) return -1;
        const uint8_t *p;
        size_t len;
        int isnull, rc;
        int64_t got = 0;
        while ((rc = pq_column_next(r, &p, &len, &isnull)) == 1) {
            ck_assert_msg(row < n, "more rows than written (row group %d)", g);
            ck_assert_msg(isnull == v[row].null, "row %zu: null %d, expected %d", row, isnull, v[row].null);
            if (!isnull) {
                ck_assert_msg(len == v[row].n && !memcmp(p, v[row].p, len),
                              "row %zu: value of %zu bytes differs (expected %zu bytes)", row, len, v[row].n);
            }
            row++;
            got++;
        }
        if (rc < 0) {
            snprintf(errbuf, sizeof(errbuf), "%s", pq_column_error(r));
            pq_column_close(r);
            return -1;
        }
        ck_assert_int_eq(got, pq_row_group_num_rows(f, g));
        pq_column_close(r);
    }
    ck_assert_uint_eq(row, n);
    return 0;
}

/* Opens and reads a whole file built from o; 0 or -1 with errbuf set. */
static int roundtrip(const wopt_t *o, const val_t *v, size_t n) {
    buf_t b;
    write_file(&b, o, v, n);
    pq_file_t *f = pq_open_mem(b.p, b.n, "mem.parquet", errbuf, sizeof(errbuf));
    int rc = -1;
    if (f) {
        ck_assert_int_eq(pq_num_rows(f), (int64_t)n);
        int col = pq_find_column(f, "text");
        ck_assert_int_eq(col, o->extra_cols ? 3 : 0);
        rc = read_compare(f, col, v, n);
        pq_close(f);
    }
    b_free(&b);
    return rc;
}

static void expect_error(const wopt_t *o, const char *substr) {
    val_t *v = gen_values(300, o->optional, o->dict ? 20 : 0, 77);
    int rc = roundtrip(o, v, 300);
    ck_assert_msg(rc == -1, "expected an error containing '%s'", substr);
    ck_assert_msg(strstr(errbuf, substr), "error '%s' lacks '%s'", errbuf, substr);
    ck_assert_msg(strstr(errbuf, "mem.parquet"), "error '%s' does not name the file", errbuf);
    free_values(v, 300);
}

/* ------------------------------------------------------------------------
 * Round trips */
static const int CODECS[] = {C_NONE, C_SNAPPY, C_GZIP, C_ZSTD};

/* 4 codecs x {plain, RLE_DICTIONARY, PLAIN_DICTIONARY, fallback} x {v1, v2}
 * x {required, optional}, several row groups and pages each. */
START_TEST(test_matrix) {
    int i = _i;
    wopt_t o = {.codec = CODECS[i % 4], .dict = (i / 4) % 4, .v2 = (i / 16) % 2,
                .optional = (i / 32) % 2, .page_rows = 97, .rg_rows = 350, .junk = i % 3 == 0};
    size_t n = 800;
    val_t *v = gen_values(n, o.optional, o.dict ? 30 : 0, 1000 + (uint64_t)i);
    ck_assert_msg(roundtrip(&o, v, n) == 0, "combination %d: %s", i, errbuf);
    free_values(v, n);
}
END_TEST

START_TEST(test_variants) {
    size_t n = 500;
    val_t *v = gen_values(n, 1, 10, 5);
    wopt_t base = {.codec = C_SNAPPY, .dict = D_RLE_DICT, .optional = 1, .page_rows = 64, .rg_rows = 200};
    wopt_t o = base; o.index_page = 1;
    ck_assert_msg(roundtrip(&o, v, n) == 0, "index page: %s", errbuf);
    o = base; o.v2 = 1; o.v2_raw = 1;
    ck_assert_msg(roundtrip(&o, v, n) == 0, "v2 is_compressed=false: %s", errbuf);
    o = base; o.codec = C_GZIP; o.zlib = 1;
    ck_assert_msg(roundtrip(&o, v, n) == 0, "gzip codec with a zlib header: %s", errbuf);
    o = base; o.extra_cols = 1; o.junk = 1;
    ck_assert_msg(roundtrip(&o, v, n) == 0, "extra columns: %s", errbuf);
    o = base; o.page_rows = 0; o.rg_rows = 0;  /* one page, one row group */
    ck_assert_msg(roundtrip(&o, v, n) == 0, "single page: %s", errbuf);
    free_values(v, n);

    /* Every row null: defs are one RLE run and no values are stored. */
    v = calloc(100, sizeof(*v));
    for (int i = 0; i < 100; i++) v[i].null = 1;
    for (int d = 0; d < 2; d++) for (int v2 = 0; v2 < 2; v2++) {
        o = base; o.dict = d; o.v2 = v2;
        ck_assert_msg(roundtrip(&o, v, 100) == 0, "all null (dict %d v2 %d): %s", d, v2, errbuf);
    }
    /* One distinct value: a dictionary of 1 entry, bit width 0. */
    for (int i = 0; i < 100; i++) v[i] = mkval("same", 4);
    o = base; o.optional = 0;
    ck_assert_msg(roundtrip(&o, v, 100) == 0, "bit width 0: %s", errbuf);
    free_values(v, 100);

    /* 5000 distinct values: 13-bit dictionary indices, long bit-packed runs. */
    n = 5000;
    v = calloc(n, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        char s[32];
        int m = snprintf(s, sizeof(s), "distinct-%zu", (i * 7919) % n);
        v[i] = mkval(s, (size_t)m);
    }
    o = base; o.optional = 0; o.page_rows = 1000; o.rg_rows = 0;
    ck_assert_msg(roundtrip(&o, v, n) == 0, "wide indices: %s", errbuf);
    free_values(v, n);

    /* No rows at all: zero row groups. */
    buf_t b;
    o = base;
    write_file(&b, &o, NULL, 0);
    pq_file_t *f = pq_open_mem(b.p, b.n, "empty.parquet", errbuf, sizeof(errbuf));
    ck_assert_msg(f != NULL, "%s", errbuf);
    ck_assert_int_eq(pq_num_row_groups(f), 0);
    ck_assert_int_eq(pq_num_rows(f), 0);
    ck_assert_int_eq(pq_row_group_num_rows(f, 0), -1);
    ck_assert_ptr_null(pq_column_open(f, 0, 0, errbuf, sizeof(errbuf)));
    ck_assert_ptr_nonnull(strstr(errbuf, "row group 0 does not exist"));
    pq_close(f);
    b_free(&b);
}
END_TEST

START_TEST(test_schema) {
    size_t n = 50;
    val_t *v = gen_values(n, 1, 0, 9);
    wopt_t o = {.codec = C_ZSTD, .optional = 1, .extra_cols = 1, .rg_rows = 20};
    buf_t b;
    write_file(&b, &o, v, n);
    pq_file_t *f = pq_open_mem(b.p, b.n, "schema.parquet", errbuf, sizeof(errbuf));
    ck_assert_msg(f != NULL, "%s", errbuf);
    ck_assert_int_eq(pq_num_columns(f), 4);
    ck_assert_str_eq(pq_column_name(f, 0), "id");
    ck_assert_str_eq(pq_column_name(f, 1), "meta.a");
    ck_assert_str_eq(pq_column_name(f, 2), "meta.b");
    ck_assert_str_eq(pq_column_name(f, 3), "text");
    ck_assert_ptr_null(pq_column_name(f, 4));
    ck_assert_int_eq(pq_find_column(f, "text"), 3);
    ck_assert_int_eq(pq_find_column(f, "id"), 0);
    ck_assert_int_eq(pq_find_column(f, "meta"), -1);
    ck_assert_int_eq(pq_find_column(f, "meta.a"), -1);
    ck_assert_int_eq(pq_find_column(f, "a"), -1);
    ck_assert_int_eq(pq_find_column(f, "nope"), -1);
    ck_assert_int_eq(pq_num_row_groups(f), 3);
    ck_assert_int_eq(pq_row_group_num_rows(f, 0), 20);
    ck_assert_int_eq(pq_row_group_num_rows(f, 2), 10);
    ck_assert_ptr_null(pq_column_open(f, 0, 0, errbuf, sizeof(errbuf)));
    ck_assert_msg(strstr(errbuf, "schema.parquet") && strstr(errbuf, "'id'") && strstr(errbuf, "INT32"), "%s", errbuf);
    ck_assert_ptr_null(pq_column_open(f, 0, 1, errbuf, sizeof(errbuf)));
    ck_assert_msg(strstr(errbuf, "nested"), "%s", errbuf);
    ck_assert_ptr_null(pq_column_open(f, 0, 9, errbuf, sizeof(errbuf)));
    ck_assert_ptr_null(pq_column_open(f, 5, 3, errbuf, sizeof(errbuf)));
    ck_assert_int_eq(read_compare(f, 3, v, n), 0);
    pq_close(f);
    b_free(&b);
    free_values(v, n);
}
END_TEST

/* The read_at source: counts calls, so HTTP range use stays cheap. */
typedef struct { const uint8_t *p; size_t n; int calls; int fail_after; } counting_src_t;
static int counting_read(void *ctx, uint64_t off, void *dst, size_t len) {
    counting_src_t *s = ctx;
    ck_assert_msg(off <= s->n && len <= s->n - off, "read past the end: %zu at %llu", len, (unsigned long long)off);
    if (s->fail_after >= 0 && s->calls >= s->fail_after) { errno = EIO; return -1; }
    s->calls++;
    memcpy(dst, s->p + off, len);
    return 0;
}

START_TEST(test_sources) {
    size_t n = 3000;
    val_t *v = gen_values(n, 1, 0, 11);
    wopt_t o = {.codec = C_SNAPPY, .optional = 1, .page_rows = 100, .rg_rows = 1000};
    buf_t b;
    write_file(&b, &o, v, n);
    ck_assert_uint_gt(b.n, 70000);  /* bigger than the tail window */

    counting_src_t s = {b.p, b.n, 0, -1};
    pq_file_t *f = pq_open_reader(counting_read, &s, b.n, "http://x/a.parquet", errbuf, sizeof(errbuf));
    ck_assert_msg(f != NULL, "%s", errbuf);
    ck_assert_int_le(s.calls, 2);  /* the tail window and the leading magic */
    for (int g = 0; g < pq_num_row_groups(f); g++) {
        int before = s.calls;
        pq_column_reader_t *r = pq_column_open(f, g, 0, errbuf, sizeof(errbuf));
        ck_assert_msg(r != NULL, "%s", errbuf);
        ck_assert_int_eq(s.calls, before + 1);  /* one read per chunk */
        pq_column_close(r);
    }
    ck_assert_int_eq(read_compare(f, 0, v, n), 0);
    pq_close(f);

    /* A failing source: the message names the file and the errno. */
    s.calls = 0;
    s.fail_after = 0;
    ck_assert_ptr_null(pq_open_reader(counting_read, &s, b.n, "http://x/a.parquet", errbuf, sizeof(errbuf)));
    ck_assert_msg(strstr(errbuf, "http://x/a.parquet") && strstr(errbuf, "failed"), "%s", errbuf);
    s.calls = 0;
    s.fail_after = 2;
    f = pq_open_reader(counting_read, &s, b.n, "http://x/a.parquet", errbuf, sizeof(errbuf));
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_null(pq_column_open(f, 0, 0, errbuf, sizeof(errbuf)));
    ck_assert_msg(strstr(errbuf, "http://x/a.parquet") && strstr(errbuf, "row group 0"), "%s", errbuf);
    pq_close(f);

    /* A real file through pq_open_file. */
    char path[] = "/tmp/check_parquet_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, b.p, b.n), (ssize_t)b.n);
    close(fd);
    f = pq_open_file(path, errbuf, sizeof(errbuf));
    ck_assert_msg(f != NULL, "%s", errbuf);
    ck_assert_str_eq(pq_name(f), path);
    ck_assert_int_eq(read_compare(f, 0, v, n), 0);
    pq_close(f);
    /* Truncated on disk. */
    ck_assert_int_eq(truncate(path, (off_t)b.n - 1), 0);
    ck_assert_ptr_null(pq_open_file(path, errbuf, sizeof(errbuf)));
    ck_assert_msg(strstr(errbuf, path) && strstr(errbuf, "PAR1"), "%s", errbuf);
    unlink(path);
    ck_assert_ptr_null(pq_open_file(path, errbuf, sizeof(errbuf)));
    ck_assert_msg(strstr(errbuf, path) && strstr(errbuf, "No such file"), "%s", errbuf);
    b_free(&b);
    free_values(v, n);
}
END_TEST

/* ------------------------------------------------------------------------
 * Malformed input */
static void expect_open_error(const uint8_t *p, size_t n, const char *substr) {
    pq_file_t *f = pq_open_mem(p, n, "bad.parquet", errbuf, sizeof(errbuf));
    if (f) pq_close(f);
    ck_assert_msg(f == NULL, "expected an open error containing '%s'", substr);
    ck_assert_msg(strstr(errbuf, "bad.parquet") && strstr(errbuf, substr), "error '%s' lacks '%s'", errbuf, substr);
}

/* A file whose footer is the given raw bytes. */
static void with_footer(buf_t *b, const uint8_t *meta, size_t n) {
    memset(b, 0, sizeof(*b));
    b_put(b, "PAR1", 4);
    b_put(b, meta, n);
    b_u32(b, (uint32_t)n);
    b_put(b, "PAR1", 4);
}

START_TEST(test_bad_footer) {
    buf_t b = {0};
    expect_open_error((const uint8_t *)"", 0, "too small");
    expect_open_error((const uint8_t *)"PAR1\0\0\0\0PAR1", 11, "too small");
    expect_open_error((const uint8_t *)"PAR1\1\0\0\0\0PAR2", 13, "no PAR1 magic at the end");
    expect_open_error((const uint8_t *)"PAR0\1\0\0\0\0PAR1", 13, "no PAR1 magic at the start");
    expect_open_error((const uint8_t *)"PAR1\1\0\0\0\0PARE", 13, "encrypted");
    expect_open_error((const uint8_t *)"PAR1\0\0\0\0PAR1", 12, "footer length 0");
    expect_open_error((const uint8_t *)"PAR1\1\xff\0\0\0\0PAR1", 14, "does not fit");
    expect_open_error((const uint8_t *)"PAR1\1\0\0\0\xffPAR1", 13, "does not fit");

    /* Footer thrift corruptions. */
    static const struct { const char *meta; size_t n; const char *err; } cases[] = {
        /* num_rows i64 with an 11-byte varint */
        {"\x36\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12, "varint longer than 10"},
        /* i32 field with a 6-byte varint */
        {"\x15\xff\xff\xff\xff\xff\x01", 7, "varint longer than 5"},
        /* created_by string with a huge length */
        {"\x68\xff\xff\xff\xff\x0f" "abc", 9, "runs past the end"},
        /* schema list claiming 2^31 elements */
        {"\x29\xfc\xff\xff\xff\x07\x00", 7, "list of"},
        /* field type 13 */
        {"\x1d\x00", 2, "not a thrift type"},
        /* list of element type 0 */
        {"\x19\x10\x00", 3, "not a thrift type"},
        /* map with a huge count */
        {"\x5b\xff\xff\xff\xff\x0f\x88", 7, "map of"},
        /* no STOP */
        {"\x15\x02", 2, "unexpected end"},
        /* a required field missing: only version */
        {"\x15\x02\x00", 3, "no schema"},
        /* schema present but row_groups missing */
        {"\x29\x1c\x48\x01r\x00\x16\x00\x00", 9, "no row_groups"},
        /* wrong wire type for a known field (schema as i32) */
        {"\x25\x02\x00", 3, "expected"},
        /* field id in the long form beyond i16 */
        {"\x05\xfe\xff\x07\x02\x00", 6, "out of range"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        with_footer(&b, (const uint8_t *)cases[i].meta, cases[i].n);
        expect_open_error(b.p, b.n, cases[i].err);
        ck_assert_msg(strstr(errbuf, "file metadata"), "%s", errbuf);
        b_free(&b);
    }

    /* Deep nesting in an unknown field: structs, then lists. */
    buf_t m = {0};
    b_u8(&m, 0xfc);  /* field id +15, struct */
    for (int i = 0; i < 5000; i++) b_u8(&m, 0x1c);
    with_footer(&b, m.p, m.n);
    expect_open_error(b.p, b.n, "nesting deeper");
    b_free(&b); b_free(&m);
    b_u8(&m, 0xf9);  /* field id +15, list */
    for (int i = 0; i < 5000; i++) b_u8(&m, 0x19);  /* list of one list */
    with_footer(&b, m.p, m.n);
    expect_open_error(b.p, b.n, "nesting deeper");
    b_free(&b); b_free(&m);

    /* Schema tree problems. */
    tw_t w = {.b = &m};
    tw_begin(&w);
    tw_list(&w, 2, T_STRUCT, 2);
    tw_begin(&w); tw_bin(&w, 4, "root"); tw_i32(&w, 5, 5); tw_end(&w);
    tw_begin(&w); tw_i32(&w, 1, 6); tw_i32(&w, 3, 1); tw_bin(&w, 4, "t"); tw_end(&w);
    tw_i64(&w, 3, 0);
    tw_list(&w, 4, T_STRUCT, 0);
    tw_end(&w);
    with_footer(&b, m.p, m.n);
    expect_open_error(b.p, b.n, "more children");
    b_free(&b); b_free(&m);

    w = (tw_t){.b = &m};
    tw_begin(&w);
    tw_list(&w, 2, T_STRUCT, 3);
    tw_begin(&w); tw_bin(&w, 4, "root"); tw_i32(&w, 5, 1); tw_end(&w);
    tw_begin(&w); tw_i32(&w, 1, 6); tw_i32(&w, 3, 1); tw_bin(&w, 4, "t"); tw_end(&w);
    tw_begin(&w); tw_i32(&w, 1, 6); tw_i32(&w, 3, 1); tw_bin(&w, 4, "u"); tw_end(&w);
    tw_i64(&w, 3, 0);
    tw_list(&w, 4, T_STRUCT, 0);
    tw_end(&w);
    with_footer(&b, m.p, m.n);
    expect_open_error(b.p, b.n, "tree covers");
    b_free(&b); b_free(&m);

    /* Every truncation of a valid footer (kept framed) fails cleanly. */
    val_t *v = gen_values(40, 1, 0, 3);
    wopt_t o = {.codec = C_SNAPPY, .optional = 1, .junk = 1, .rg_rows = 15, .extra_cols = 1};
    buf_t full;
    write_file(&full, &o, v, 40);
    uint32_t mlen = (uint32_t)full.p[full.n - 8] | (uint32_t)full.p[full.n - 7] << 8 |
                    (uint32_t)full.p[full.n - 6] << 16 | (uint32_t)full.p[full.n - 5] << 24;
    size_t meta_at = full.n - 8 - mlen;
    for (uint32_t k = 1; k < mlen; k++) {
        buf_t t = {0};
        b_put(&t, full.p, meta_at + k);
        b_u32(&t, k);
        b_put(&t, "PAR1", 4);
        pq_file_t *f = pq_open_mem(t.p, t.n, "bad.parquet", errbuf, sizeof(errbuf));
        ck_assert_msg(f == NULL, "footer cut to %u of %u bytes was accepted", k, mlen);
        ck_assert_msg(strstr(errbuf, "bad.parquet"), "%s", errbuf);
        b_free(&t);
    }
    /* Every truncation of the whole file fails cleanly too. */
    for (size_t k = 0; k < full.n; k++) {
        pq_file_t *f = pq_open_mem(full.p, k, "bad.parquet", errbuf, sizeof(errbuf));
        ck_assert_msg(f == NULL, "file cut to %zu bytes was accepted", k);
    }
    b_free(&full);
    free_values(v, 40);
}
END_TEST

START_TEST(test_bad_pages) {
    wopt_t o = {.codec = C_SNAPPY, .dict = D_RLE_DICT, .optional = 1, .page_rows = 50, .rg_rows = 150};
    wopt_t p = o;
    p.dict = D_PLAIN;
    wopt_t t;
#define BAD(base, kind, msg) do { t = base; t.bad = kind; expect_error(&t, msg); } while (0)
    BAD(o, BAD_CSIZE_PAST_CHUNK, "runs past the column chunk");
    BAD(o, BAD_USIZE_HUGE, "over the");
    BAD(o, BAD_USIZE_NEG, "negative page size");
    BAD(o, BAD_DICT_INDEX, "dictionary index");
    BAD(o, BAD_BIT_WIDTH, "bit width 33 > 32");
    BAD(o, BAD_CODEC_LZO, "unsupported codec LZO");
    BAD(p, BAD_ENC_DELTA, "unsupported encoding DELTA_BYTE_ARRAY");
    BAD(o, BAD_DEF_LEVEL, "definition level 2 > 1");
    BAD(o, BAD_CHUNK_OFFSET, "lies outside the chunk");
    BAD(p, BAD_CHUNK_OFFSET, "lies outside the data");
    BAD(o, BAD_NUM_VALUES, "values but the row group has");
    BAD(o, BAD_DICT_AFTER_DATA, "dictionary page after data pages");
    BAD(o, BAD_TWO_DICTS, "a second dictionary page");
    BAD(o, BAD_NO_DICT, "has no dictionary page");
    BAD(p, BAD_PLAIN_LEN, "runs past the page");
    BAD(o, BAD_USIZE_MISMATCH, "header says");
    BAD(o, BAD_LEVELS_SHORT, "definition levels");
    BAD(o, BAD_PAGE_TYPE, "unknown page type 9");
    BAD(o, BAD_FILE_PATH, "another file");
    BAD(o, BAD_DICT_COUNT, "dictionary claims");
    BAD(o, BAD_V1_DEF_LEN, "definition levels in a");
    BAD(o, BAD_NO_PAGE_HEADER_SUB, "without a dictionary_page_header");
    BAD(p, BAD_NO_PAGE_HEADER_SUB, "without its data_page_header");
    BAD(o, BAD_CHUNK_SHORT, "runs past the column chunk");
    BAD(o, BAD_DEF_ENC_BITPACKED, "definition level encoding BIT_PACKED");
    t = o; t.bad = BAD_COLS_MISMATCH;
    {
        val_t *v = gen_values(10, 1, 0, 1);
        buf_t b;
        write_file(&b, &t, v, 10);
        expect_open_error(b.p, b.n, "column chunks but the schema has");
        b_free(&b);
        free_values(v, 10);
    }
    t = o; t.v2 = 1;
    BAD(t, BAD_V2_DL_LEN, "level lengths");
    BAD(t, BAD_DEF_LEVEL, "definition level 2 > 1");
    wopt_t none = o;
    none.codec = C_NONE;
    BAD(none, BAD_USIZE_MISMATCH, "uncompressed page has");
    for (int c = 1; c < 4; c++) {
        t = o;
        t.codec = CODECS[c];
        t.dict = D_PLAIN;
        t.bad = BAD_CORRUPT_BODY;
        const char *names[] = {"", "snappy", "gzip", "zstd"};
        expect_error(&t, names[c]);
    }
#undef BAD
}
END_TEST

/* Flips bytes all over small valid files: the reader must return (an
 * error or values) without crashing or reading out of bounds; run under
 * valgrind or -fsanitize=address for the strong form of this check. */
START_TEST(test_corruption_sweep) {
    const wopt_t opts[] = {
        {.codec = C_NONE, .dict = D_RLE_DICT, .optional = 1, .page_rows = 7, .rg_rows = 20},
        {.codec = C_SNAPPY, .dict = D_FALLBACK, .v2 = 1, .optional = 1, .page_rows = 9, .rg_rows = 30, .junk = 1},
        {.codec = C_GZIP, .dict = D_PLAIN, .optional = 0, .page_rows = 10, .rg_rows = 25},
        {.codec = C_ZSTD, .dict = D_PLAIN_DICT, .v2 = 1, .optional = 1, .page_rows = 8, .index_page = 1},
    };
    const uint8_t flips[] = {0xff, 0x01, 0x80};
    for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
        val_t *v = gen_values(40, opts[k].optional, opts[k].dict ? 5 : 0, 100 + k);
        for (int i = 0; i < 40; i++)  /* no long values: keep the files small */
            if (!v[i].null && v[i].n > 100) v[i].n = 100;
        buf_t b;
        write_file(&b, &opts[k], v, 40);
        uint8_t *c = malloc(b.n);
        size_t ok = 0, failed = 0;
        for (size_t pos = 0; pos < b.n; pos++) {
            for (size_t fl = 0; fl < sizeof(flips); fl++) {
                memcpy(c, b.p, b.n);
                c[pos] ^= flips[fl];
                pq_file_t *f = pq_open_mem(c, b.n, "flip.parquet", errbuf, sizeof(errbuf));
                if (!f) { failed++; continue; }
                for (int g = 0; g < pq_num_row_groups(f); g++)
                    for (int col = 0; col < pq_num_columns(f); col++) {
                        pq_column_reader_t *r = pq_column_open(f, g, col, errbuf, sizeof(errbuf));
                        if (!r) { failed++; continue; }
                        const uint8_t *p;
                        size_t len;
                        int isnull, rc;
                        volatile uint8_t sink = 0;
                        int64_t count = 0;
                        while ((rc = pq_column_next(r, &p, &len, &isnull)) == 1) {
                            if (len) sink ^= p[0] ^ p[len - 1];  /* touch the value's ends */
                            count++;
                            ck_assert_int_le(count, pq_row_group_num_rows(f, g));
                        }
                        (void)sink;
                        if (rc < 0) {
                            failed++;
                            ck_assert_ptr_nonnull(strstr(pq_column_error(r), "flip.parquet"));
                        } else {
                            ok++;
                        }
                        pq_column_close(r);
                    }
                pq_close(f);
            }
        }
        ck_assert_uint_gt(failed, 0);
        ck_assert_uint_gt(ok, 0);
        free(c);
        b_free(&b);
        free_values(v, 40);
    }
}
END_TEST

/* ------------------------------------------------------------------------
 * pyarrow fixtures (tests/reference/make_parquet_fixtures.py) */

/* Decodes one JSON string literal (or `null`) into bytes. 0, or -1. */
static int json_string(const char *s, uint8_t **out, size_t *outlen, int *isnull) {
    *out = NULL; *outlen = 0; *isnull = 0;
    if (!strcmp(s, "null")) { *isnull = 1; return 0; }
    if (*s++ != '"') return -1;
    size_t cap = strlen(s) + 4, n = 0;
    uint8_t *d = malloc(cap);
    while (*s && *s != '"') {
        if (*s != '\\') { d[n++] = (uint8_t)*s++; continue; }
        s++;
        char e = *s++;
        uint32_t cp;
        switch (e) {
        case '"': d[n++] = '"'; continue;
        case '\\': d[n++] = '\\'; continue;
        case '/': d[n++] = '/'; continue;
        case 'b': d[n++] = '\b'; continue;
        case 'f': d[n++] = '\f'; continue;
        case 'n': d[n++] = '\n'; continue;
        case 'r': d[n++] = '\r'; continue;
        case 't': d[n++] = '\t'; continue;
        case 'u': {
            char hex[5] = {0};
            if (strlen(s) < 4) goto bad;
            memcpy(hex, s, 4);
            cp = (uint32_t)strtoul(hex, NULL, 16);
            s += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && s[0] == '\\' && s[1] == 'u') {
                memcpy(hex, s + 2, 4);
                uint32_t lo = (uint32_t)strtoul(hex, NULL, 16);
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                s += 6;
            }
            if (cp < 0x80) d[n++] = (uint8_t)cp;
            else if (cp < 0x800) { d[n++] = (uint8_t)(0xc0 | cp >> 6); d[n++] = (uint8_t)(0x80 | (cp & 0x3f)); }
            else if (cp < 0x10000) {
                d[n++] = (uint8_t)(0xe0 | cp >> 12); d[n++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
                d[n++] = (uint8_t)(0x80 | (cp & 0x3f));
            } else {
                d[n++] = (uint8_t)(0xf0 | cp >> 18); d[n++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
                d[n++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f)); d[n++] = (uint8_t)(0x80 | (cp & 0x3f));
            }
            continue;
        }
        default: goto bad;
        }
    }
    if (*s != '"' || s[1]) goto bad;
    *out = d;
    *outlen = n;
    return 0;
bad:
    free(d);
    return -1;
}

static char *read_whole(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    buf_t b = {0};
    char tmp[65536];
    size_t k;
    while ((k = fread(tmp, 1, sizeof(tmp), fp)) > 0) b_put(&b, tmp, k);
    fclose(fp);
    b_u8(&b, 0);
    *len = b.n - 1;
    return (char *)b.p;
}

static const char *fixture_dir(void) {
    const char *d = getenv("PARQUET_FIXTURES");
    return d && *d ? d : "tests/fixtures/parquet";
}

static pq_file_t *open_fixture(const char *dir, const char *file) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    pq_file_t *f = pq_open_file(path, errbuf, sizeof(errbuf));
    ck_assert_msg(f != NULL, "fixture %s: %s", file, errbuf);
    return f;
}

static void check_fixture_column(const char *dir, const char *file, const char *col, const char *expected) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, expected);
    size_t len;
    char *text = read_whole(path, &len);
    ck_assert_msg(text != NULL, "fixture %s: cannot read %s", file, path);
    pq_file_t *f = open_fixture(dir, file);
    int c = pq_find_column(f, col);
    ck_assert_msg(c >= 0, "%s: no column '%s'", file, col);
    char *line = text, *save = NULL;
    size_t row = 0;
    (void)save;
    for (int g = 0; g < pq_num_row_groups(f); g++) {
        pq_column_reader_t *r = pq_column_open(f, g, c, errbuf, sizeof(errbuf));
        ck_assert_msg(r != NULL, "%s", errbuf);
        const uint8_t *p;
        size_t n;
        int isnull, rc;
        while ((rc = pq_column_next(r, &p, &n, &isnull)) == 1) {
            char *nl = strchr(line, '\n');
            ck_assert_msg(nl != NULL, "%s: more rows than %s has lines", file, expected);
            *nl = 0;
            uint8_t *want;
            size_t wn;
            int wnull;
            ck_assert_msg(json_string(line, &want, &wn, &wnull) == 0, "%s line %zu: bad JSON", expected, row + 1);
            ck_assert_msg(isnull == wnull, "%s column %s row %zu: null %d, expected %d", file, col, row, isnull, wnull);
            ck_assert_msg(wnull || (n == wn && !memcmp(p, want, n)),
                          "%s column %s row %zu: value differs (%zu bytes, expected %zu)", file, col, row, n, wn);
            free(want);
            line = nl + 1;
            row++;
        }
        ck_assert_msg(rc == 0, "%s", pq_column_error(r));
        pq_column_close(r);
    }
    ck_assert_msg(*line == 0, "%s: fewer rows (%zu) than %s has lines", file, row, expected);
    ck_assert_int_eq((int64_t)row, pq_num_rows(f));
    pq_close(f);
    free(text);
}

static void check_fixture_error(const char *dir, const char *file, const char *col, const char *substr) {
    pq_file_t *f = open_fixture(dir, file);
    int c = pq_find_column(f, col);
    ck_assert_msg(c >= 0, "%s: no column '%s'", file, col);
    ck_assert_msg(pq_num_row_groups(f) > 0, "%s: no row groups", file);
    pq_column_reader_t *r = pq_column_open(f, 0, c, errbuf, sizeof(errbuf));
    if (r) {
        const uint8_t *p;
        size_t n;
        int isnull, rc;
        while ((rc = pq_column_next(r, &p, &n, &isnull)) == 1) {}
        ck_assert_msg(rc == -1, "%s column %s: read without the expected error '%s'", file, col, substr);
        snprintf(errbuf, sizeof(errbuf), "%s", pq_column_error(r));
        pq_column_close(r);
    }
    ck_assert_msg(strstr(errbuf, substr) && strstr(errbuf, file), "%s column %s: error '%s' lacks '%s'",
                  file, col, errbuf, substr);
    pq_close(f);
}

START_TEST(test_pyarrow_fixtures) {
    const char *dir = fixture_dir();
    struct stat st;
    if (stat(dir, &st) != 0) {
        printf("note: %s is absent: pyarrow fixtures not checked (make them with "
               "tests/reference/make_parquet_fixtures.py)\n", dir);
        return;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/manifest.tsv", dir);
    size_t len;
    char *text = read_whole(path, &len);
    ck_assert_msg(text != NULL, "%s exists but %s is missing", dir, path);
    int checks = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || !line[0]) continue;
        char *f[5] = {0};
        int nf = 0;
        for (char *p = line; nf < 5; nf++) {
            f[nf] = p;
            char *tab = strchr(p, '\t');
            if (!tab) { nf++; break; }
            *tab = 0;
            p = tab + 1;
        }
        ck_assert_msg(nf >= 3, "manifest line has %d fields", nf);
        if (!strcmp(f[1], "rows")) {
            pq_file_t *pf = open_fixture(dir, f[0]);
            int g = 0;
            int64_t total = 0;
            for (char *p = f[2]; *p; g++) {
                char *end;
                long long want = strtoll(p, &end, 10);
                ck_assert_msg(g < pq_num_row_groups(pf), "%s: fewer row groups than the manifest", f[0]);
                ck_assert_int_eq(pq_row_group_num_rows(pf, g), want);
                total += want;
                p = *end == ',' ? end + 1 : end;
            }
            ck_assert_msg(g == pq_num_row_groups(pf), "%s: %d row groups, manifest says %d", f[0],
                          pq_num_row_groups(pf), g);
            ck_assert_int_eq(pq_num_rows(pf), total);
            pq_close(pf);
        } else if (!strcmp(f[1], "column") && nf >= 4) {
            check_fixture_column(dir, f[0], f[2], f[3]);
        } else if (!strcmp(f[1], "error") && nf >= 4) {
            check_fixture_error(dir, f[0], f[2], f[3]);
        } else if (!strcmp(f[1], "missing")) {
            pq_file_t *pf = open_fixture(dir, f[0]);
            ck_assert_msg(pq_find_column(pf, f[2]) == -1, "%s: '%s' should not be a flat column", f[0], f[2]);
            pq_close(pf);
        } else {
            ck_abort_msg("manifest: unknown line kind '%s'", f[1]);
        }
        checks++;
    }
    ck_assert_msg(checks > 10, "manifest has only %d checks", checks);
    free(text);

    /* Every .parquet in the directory is in the manifest (no stale files). */
    text = read_whole(path, &len);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 8 || strcmp(e->d_name + n - 8, ".parquet")) continue;
        char key[300];
        snprintf(key, sizeof(key), "\n%s\t", e->d_name);
        ck_assert_msg(strstr(text, key), "%s/%s is not in the manifest", dir, e->d_name);
    }
    closedir(d);
    free(text);
    printf("pyarrow fixtures: %d manifest checks passed\n", checks);
}
END_TEST

/* ------------------------------------------------------------------------
 * --write-bench runs inside a Check runner too (the writer asserts). */
static const char *bench_path;
static double bench_mb;
static int bench_codec = C_SNAPPY;

static int write_bench(const char *path, double mb) {
    /* FineWeb-like documents: plain pages, snappy, 1 MB-ish pages. */
    size_t want = (size_t)(mb * 1e6), n = 0, bytes = 0, cap = 1024;
    val_t *v = malloc(cap * sizeof(*v));
    rng_state = 42;
    while (bytes < want) {
        if (n == cap) v = realloc(v, (cap *= 2) * sizeof(*v));
        /* words from a 4096-word vocabulary, so codecs see text-like data */
        size_t len = 200 + (size_t)(rnd() % 4000), j = 0;
        uint8_t *p = malloc(len + 16);
        while (j < len) {
            uint64_t w = rnd() % 4096, wl = 2 + w % 9;
            for (uint64_t k = 0; k < wl; k++) p[j++] = (uint8_t)('a' + (w * 31 + k * 7) % 26);
            p[j++] = ' ';
        }
        v[n++] = (val_t){p, j, 0};
        bytes += j;
        continue;
    }
    wopt_t o = {.codec = bench_codec, .optional = 1, .page_rows = 300, .rg_rows = 20000};
    buf_t b;
    write_file(&b, &o, v, n);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(b.p, 1, b.n, fp) != b.n || fclose(fp)) { perror(path); return 1; }
    printf("%s: %zu rows, %zu value bytes, %zu file bytes\n", path, n, bytes, b.n);
    b_free(&b);
    free_values(v, n);
    return 0;
}

START_TEST(test_write_bench) { ck_assert_int_eq(write_bench(bench_path, bench_mb), 0); }
END_TEST

int main(int argc, char **argv) {
    Suite *s = suite_create("parquet");
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "--write-bench")) {
        bench_path = argv[2];
        bench_mb = atof(argv[3]);
        if (argc == 5) bench_codec = !strcmp(argv[4], "zstd") ? C_ZSTD : !strcmp(argv[4], "gzip") ? C_GZIP
                                   : !strcmp(argv[4], "none") ? C_NONE : C_SNAPPY;
        TCase *tc = tcase_create("bench");
        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_write_bench);
        suite_add_tcase(s, tc);
        SRunner *sr = srunner_create(s);
        srunner_set_fork_status(sr, CK_NOFORK);
        srunner_run_all(sr, CK_SILENT);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
    }
    TCase *tc = tcase_create("roundtrip");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_matrix, 0, 64);
    tcase_add_test(tc, test_variants);
    tcase_add_test(tc, test_schema);
    tcase_add_test(tc, test_sources);
    suite_add_tcase(s, tc);
    tc = tcase_create("malformed");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_bad_footer);
    tcase_add_test(tc, test_bad_pages);
    tcase_add_test(tc, test_corruption_sweep);
    suite_add_tcase(s, tc);
    tc = tcase_create("fixtures");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pyarrow_fixtures);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
