/* parquet.c: see parquet.h. Format: apache/parquet-format README.md,
 * Encodings.md, Compression.md and src/main/thrift/parquet.thrift. */
#include "parquet.h"
#include "thrift_compact.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

/* ------------------------------------------------------------------------
 * Enums of parquet.thrift and their names for messages */
enum { PT_BOOLEAN, PT_INT32, PT_INT64, PT_INT96, PT_FLOAT, PT_DOUBLE, PT_BYTE_ARRAY,
       PT_FIXED_LEN_BYTE_ARRAY };
enum { REP_REQUIRED, REP_OPTIONAL, REP_REPEATED };
enum { CODEC_UNCOMPRESSED, CODEC_SNAPPY, CODEC_GZIP, CODEC_LZO, CODEC_BROTLI, CODEC_LZ4,
       CODEC_ZSTD, CODEC_LZ4_RAW };
enum { ENC_PLAIN = 0, ENC_PLAIN_DICTIONARY = 2, ENC_RLE = 3, ENC_RLE_DICTIONARY = 8 };
enum { PAGE_DATA, PAGE_INDEX, PAGE_DICTIONARY, PAGE_DATA_V2 };

static const char *name_of(const char *const *names, int n, int v, char *buf, size_t len) {
    if (v >= 0 && v < n) return names[v];
    snprintf(buf, len, "unknown (%d)", v);
    return buf;
}
static const char *const TYPE_NAMES[] = {"BOOLEAN", "INT32", "INT64", "INT96", "FLOAT",
                                         "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"};
static const char *const CODEC_NAMES[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO",
                                          "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"};
static const char *const ENC_NAMES[] = {
    "PLAIN", "GROUP_VAR_INT", "PLAIN_DICTIONARY", "RLE", "BIT_PACKED",
    "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY",
    "RLE_DICTIONARY", "BYTE_STREAM_SPLIT", "ALP"};
#define NAME(tab, v, buf) name_of(tab, (int)(sizeof(tab) / sizeof(tab[0])), (v), buf, sizeof(buf))

/* ------------------------------------------------------------------------
 * File-level structures */
typedef struct {
    char *path;           /* dotted path from the root's children */
    int type;             /* physical type */
    int max_def, max_rep;
    int top_level;        /* a direct child of the root */
} pq_leaf_t;

typedef struct {
    int has_meta, has_file_path;
    int type, codec;
    int64_t num_values, total_compressed_size, data_page_offset, dictionary_page_offset;
    unsigned seen;        /* bit per required ColumnMetaData field */
} pq_chunk_t;

typedef struct {
    int64_t num_rows;
    int ncols;
    pq_chunk_t *cols;
} pq_rowgroup_t;

struct pq_file {
    char *name;
    pq_read_at_fn read_at;
    void *ctx;
    uint64_t size;
    uint64_t meta_start;  /* chunks must end before the footer */
    const uint8_t *mem;   /* pq_open_mem: chunks are read in place */
    int fd;               /* pq_open_file, else -1 */
    int64_t num_rows;
    int nleaves;
    pq_leaf_t *leaves;
    int nrg;
    pq_rowgroup_t *rgs;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static char *dup_n(const uint8_t *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* Reads through the callback and says why it failed. */
static int src_read(pq_file_t *f, uint64_t off, void *dst, size_t len, const char *what,
                    char *err, size_t errlen) {
    if (off > f->size || len > f->size - off) {
        set_err(err, errlen, "%s: %s: %zu bytes at offset %llu run past the end of the file (%llu bytes)",
                f->name, what, len, (unsigned long long)off, (unsigned long long)f->size);
        return -1;
    }
    errno = 0;
    if (f->read_at(f->ctx, off, dst, len) != 0) {
        int e = errno;
        set_err(err, errlen, "%s: %s: reading %zu bytes at offset %llu failed%s%s", f->name, what,
                len, (unsigned long long)off, e ? ": " : "", e ? strerror(e) : "");
        return -1;
    }
    return 0;
}

static int mem_read_at(void *ctx, uint64_t off, void *dst, size_t len) {
    memcpy(dst, (const uint8_t *)ctx + off, len);  /* bounds checked by src_read */
    return 0;
}

static int fd_read_at(void *ctx, uint64_t off, void *dst, size_t len) {
    int fd = *(int *)ctx;
    uint8_t *p = dst;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n == 0) errno = 0;  /* the file shrank: no errno to report */
            return -1;
        }
        p += n; off += (uint64_t)n; len -= (size_t)n;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * FileMetaData decoding. Only the fields the reader needs are kept; every
 * other field (statistics, key/value metadata, page indexes, ...) is skipped. */
typedef struct {
    char *name;
    int type, repetition, num_children;
} schema_el_t;

/* Checks a known field's wire type; a mismatch is corrupt metadata. */
static int want(tc_reader_t *r, const char *what, int id, int type, int want_type) {
    int ok = type == want_type;
    if ((want_type == TC_I32 || want_type == TC_I64) &&
        (type == TC_I8 || type == TC_I16 || type == TC_I32 || type == TC_I64)) ok = 1;
    if (want_type == TC_LIST && type == TC_SET) ok = 1;
    if (!ok) tc_fail(r, "%s field %d has thrift type %d, expected %d", what, id, type, want_type);
    return ok;
}

static void parse_schema_el(tc_reader_t *r, schema_el_t *e) {
    tc_struct_t s;
    int t, id;
    e->type = e->repetition = -1;
    e->num_children = 0;
    tc_struct_begin(r, &s);
    while (tc_field(r, &s, &t, &id) == 1) {
        if (id == 1 && want(r, "SchemaElement", id, t, TC_I32)) e->type = (int)tc_int(r, t);
        else if (id == 3 && want(r, "SchemaElement", id, t, TC_I32)) e->repetition = (int)tc_int(r, t);
        else if (id == 4 && want(r, "SchemaElement", id, t, TC_BINARY)) {
            uint32_t n;
            const uint8_t *p = tc_binary(r, &n);
            if (p && !e->name) {
                e->name = dup_n(p, n);
                if (!e->name) tc_fail(r, "out of memory");
            }
        } else if (id == 5 && want(r, "SchemaElement", id, t, TC_I32)) e->num_children = (int)tc_int(r, t);
        else tc_skip(r, t);
    }
    tc_struct_end(r);
}

enum { CM_TYPE = 1, CM_CODEC = 2, CM_NUM_VALUES = 4, CM_SIZE = 8, CM_DATA_OFFSET = 16,
       CM_REQUIRED = 31 };

static void parse_column_meta(tc_reader_t *r, pq_chunk_t *c) {
    tc_struct_t s;
    int t, id;
    tc_struct_begin(r, &s);
    while (tc_field(r, &s, &t, &id) == 1) {
        const char *w = "ColumnMetaData";
        if (id == 1 && want(r, w, id, t, TC_I32)) { c->type = (int)tc_int(r, t); c->seen |= CM_TYPE; }
        else if (id == 4 && want(r, w, id, t, TC_I32)) { c->codec = (int)tc_int(r, t); c->seen |= CM_CODEC; }
        else if (id == 5 && want(r, w, id, t, TC_I64)) { c->num_values = tc_int(r, t); c->seen |= CM_NUM_VALUES; }
        else if (id == 7 && want(r, w, id, t, TC_I64)) { c->total_compressed_size = tc_int(r, t); c->seen |= CM_SIZE; }
        else if (id == 9 && want(r, w, id, t, TC_I64)) { c->data_page_offset = tc_int(r, t); c->seen |= CM_DATA_OFFSET; }
        else if (id == 11 && want(r, w, id, t, TC_I64)) c->dictionary_page_offset = tc_int(r, t);
        else tc_skip(r, t);
    }
    tc_struct_end(r);
}

static void parse_column_chunk(tc_reader_t *r, pq_chunk_t *c) {
    tc_struct_t s;
    int t, id;
    tc_struct_begin(r, &s);
    while (tc_field(r, &s, &t, &id) == 1) {
        if (id == 1 && want(r, "ColumnChunk", id, t, TC_BINARY)) {
            uint32_t n;
            tc_binary(r, &n);
            c->has_file_path = 1;
        } else if (id == 3 && want(r, "ColumnChunk", id, t, TC_STRUCT)) {
            if (c->has_meta) { tc_fail(r, "ColumnChunk has two meta_data fields"); break; }
            c->has_meta = 1;
            parse_column_meta(r, c);
        } else {
            tc_skip(r, t);
        }
    }
    tc_struct_end(r);
}

static void parse_row_group(tc_reader_t *r, pq_rowgroup_t *g) {
    tc_struct_t s;
    int t, id, have_rows = 0;
    tc_struct_begin(r, &s);
    while (tc_field(r, &s, &t, &id) == 1) {
        if (id == 1 && want(r, "RowGroup", id, t, TC_LIST)) {
            int et;
            uint32_t n;
            if (g->cols) { tc_fail(r, "RowGroup has two column lists"); break; }
            tc_list(r, &et, &n);
            if (n && et != TC_STRUCT) { tc_fail(r, "RowGroup columns are not structs"); break; }
            g->cols = calloc(n ? n : 1, sizeof(*g->cols));
            if (!g->cols) { tc_fail(r, "out of memory"); break; }
            for (uint32_t i = 0; i < n && !r->err; i++) {
                parse_column_chunk(r, &g->cols[i]);
                g->ncols++;
            }
        } else if (id == 3 && want(r, "RowGroup", id, t, TC_I64)) {
            g->num_rows = tc_int(r, t);
            have_rows = 1;
        } else {
            tc_skip(r, t);
        }
    }
    tc_struct_end(r);
    if (!r->err && !g->cols) tc_fail(r, "RowGroup has no columns field");
    if (!r->err && !have_rows) tc_fail(r, "RowGroup has no num_rows field");
    if (!r->err && g->num_rows < 0) tc_fail(r, "RowGroup num_rows is %lld", (long long)g->num_rows);
}

/* Walks the depth-first flattened schema below element *idx's parent,
 * collecting leaves. Depth is bounded by the caller's element count and by
 * TC_MAX_DEPTH. Returns -1 with a message on a malformed tree. */
static int walk_schema(pq_file_t *f, schema_el_t *els, int n, int *idx, int nchildren,
                       const char *prefix, int depth, int def, int rep, char *msg, size_t mlen) {
    if (depth > TC_MAX_DEPTH) {
        snprintf(msg, mlen, "schema nesting deeper than %d", TC_MAX_DEPTH);
        return -1;
    }
    for (int c = 0; c < nchildren; c++) {
        if (*idx >= n) {
            snprintf(msg, mlen, "schema element %d: a group claims more children than there are elements", *idx);
            return -1;
        }
        int i = (*idx)++;
        schema_el_t *e = &els[i];
        if (!e->name) {
            snprintf(msg, mlen, "schema element %d has no name", i);
            return -1;
        }
        if (e->repetition < REP_REQUIRED || e->repetition > REP_REPEATED) {
            snprintf(msg, mlen, "schema element '%s' has invalid repetition_type %d", e->name, e->repetition);
            return -1;
        }
        if (e->num_children < 0) {
            snprintf(msg, mlen, "schema element '%s' has %d children", e->name, e->num_children);
            return -1;
        }
        int d = def + (e->repetition != REP_REQUIRED), rp = rep + (e->repetition == REP_REPEATED);
        size_t plen = strlen(prefix), nlen = strlen(e->name);
        char *path = malloc(plen + nlen + 2);
        if (!path) { snprintf(msg, mlen, "out of memory"); return -1; }
        if (plen) { memcpy(path, prefix, plen); path[plen] = '.'; memcpy(path + plen + 1, e->name, nlen + 1); }
        else memcpy(path, e->name, nlen + 1);
        if (e->num_children > 0) {
            int rc = walk_schema(f, els, n, idx, e->num_children, path, depth + 1, d, rp, msg, mlen);
            free(path);
            if (rc) return rc;
        } else if (e->type < 0) {
            free(path);  /* an empty group: no columns */
        } else {
            /* Leaves never outnumber elements, so the array (n entries) fits. */
            pq_leaf_t *l = &f->leaves[f->nleaves++];
            l->path = path;
            l->type = e->type;
            l->max_def = d;
            l->max_rep = rp;
            l->top_level = depth == 1;
        }
    }
    return 0;
}

static int parse_footer(pq_file_t *f, const uint8_t *buf, size_t len, char *err, size_t errlen) {
    tc_reader_t r;
    tc_struct_t s;
    int t, id, have_rows = 0, nel = 0;
    schema_el_t *els = NULL;
    char msg[200] = "";
    tc_init(&r, buf, len);
    tc_struct_begin(&r, &s);
    while (tc_field(&r, &s, &t, &id) == 1) {
        if (id == 2 && want(&r, "FileMetaData", id, t, TC_LIST)) {
            int et;
            uint32_t n;
            if (els) { tc_fail(&r, "FileMetaData has two schema lists"); break; }
            tc_list(&r, &et, &n);
            if (n && et != TC_STRUCT) { tc_fail(&r, "schema elements are not structs"); break; }
            els = calloc(n ? n : 1, sizeof(*els));
            if (!els) { tc_fail(&r, "out of memory"); break; }
            for (uint32_t i = 0; i < n && !r.err; i++) { parse_schema_el(&r, &els[i]); nel++; }
        } else if (id == 3 && want(&r, "FileMetaData", id, t, TC_I64)) {
            f->num_rows = tc_int(&r, t);
            have_rows = 1;
        } else if (id == 4 && want(&r, "FileMetaData", id, t, TC_LIST)) {
            int et;
            uint32_t n;
            if (f->rgs) { tc_fail(&r, "FileMetaData has two row group lists"); break; }
            tc_list(&r, &et, &n);
            if (n && et != TC_STRUCT) { tc_fail(&r, "row groups are not structs"); break; }
            if (n > INT32_MAX) { tc_fail(&r, "too many row groups"); break; }
            f->rgs = calloc(n ? n : 1, sizeof(*f->rgs));
            if (!f->rgs) { tc_fail(&r, "out of memory"); break; }
            for (uint32_t i = 0; i < n && !r.err; i++) { f->nrg++; parse_row_group(&r, &f->rgs[i]); }
        } else {
            tc_skip(&r, t);
        }
    }
    tc_struct_end(&r);
    if (!r.err && !els) tc_fail(&r, "FileMetaData has no schema");
    if (!r.err && !f->rgs) tc_fail(&r, "FileMetaData has no row_groups");
    if (!r.err && !have_rows) tc_fail(&r, "FileMetaData has no num_rows");
    if (!r.err && nel < 1) tc_fail(&r, "the schema is empty (no root element)");
    if (r.err) {
        snprintf(msg, sizeof(msg), "file metadata %s", r.msg);
    } else {
        f->leaves = calloc((size_t)nel, sizeof(*f->leaves));
        int idx = 1;
        if (!f->leaves) snprintf(msg, sizeof(msg), "out of memory");
        else if (els[0].num_children < 0)
            snprintf(msg, sizeof(msg), "schema root has %d children", els[0].num_children);
        else if (walk_schema(f, els, nel, &idx, els[0].num_children, "", 1, 0, 0, msg, sizeof(msg)) == 0 &&
                 idx != nel)
            snprintf(msg, sizeof(msg), "schema has %d elements but its tree covers %d", nel, idx);
    }
    for (int i = 0; i < nel; i++) free(els[i].name);
    free(els);
    for (int g = 0; !msg[0] && g < f->nrg; g++)
        if (f->rgs[g].ncols != f->nleaves)
            snprintf(msg, sizeof(msg), "row group %d has %d column chunks but the schema has %d leaf columns",
                     g, f->rgs[g].ncols, f->nleaves);
    if (msg[0]) {
        set_err(err, errlen, "%s: %s", f->name, msg);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Opening */
pq_file_t *pq_open_reader(pq_read_at_fn read_at, void *ctx, uint64_t file_size, const char *name,
                          char *err, size_t errlen) {
    pq_file_t *f = calloc(1, sizeof(*f));
    uint8_t *tail = NULL, *meta = NULL;
    if (!f || !(f->name = strdup(name ? name : "(parquet)"))) {
        set_err(err, errlen, "%s: out of memory", name ? name : "(parquet)");
        free(f);
        return NULL;
    }
    f->read_at = read_at;
    f->ctx = ctx;
    f->size = file_size;
    f->fd = -1;
    if (file_size < 12) {
        set_err(err, errlen, "%s: %llu bytes is too small for a Parquet file (at least 12)",
                f->name, (unsigned long long)file_size);
        goto fail;
    }
    /* One read of the last 64 KiB usually holds the footer; HTTP sources
     * thus need two requests (this and the leading magic). */
    size_t win = file_size < 65536 ? (size_t)file_size : 65536;
    tail = malloc(win);
    if (!tail) { set_err(err, errlen, "%s: out of memory", f->name); goto fail; }
    if (src_read(f, file_size - win, tail, win, "footer", err, errlen)) goto fail;
    const uint8_t *t8 = tail + win - 8;
    if (!memcmp(t8 + 4, "PARE", 4)) {
        set_err(err, errlen, "%s: encrypted footer (magic PARE) is not supported", f->name);
        goto fail;
    }
    if (memcmp(t8 + 4, "PAR1", 4)) {
        set_err(err, errlen, "%s: not a Parquet file (no PAR1 magic at the end)", f->name);
        goto fail;
    }
    uint8_t head[4];
    if (win == file_size) memcpy(head, tail, 4);
    else if (src_read(f, 0, head, 4, "header", err, errlen)) goto fail;
    if (memcmp(head, "PAR1", 4)) {
        set_err(err, errlen, "%s: not a Parquet file (no PAR1 magic at the start)", f->name);
        goto fail;
    }
    uint32_t mlen = (uint32_t)t8[0] | (uint32_t)t8[1] << 8 | (uint32_t)t8[2] << 16 | (uint32_t)t8[3] << 24;
    if (mlen == 0 || (uint64_t)mlen > file_size - 12) {
        set_err(err, errlen, "%s: footer length %u does not fit in the file (%llu bytes)", f->name,
                mlen, (unsigned long long)file_size);
        goto fail;
    }
    if (mlen > PQ_MAX_FOOTER_BYTES) {
        set_err(err, errlen, "%s: footer length %u is over the %u-byte limit", f->name, mlen,
                PQ_MAX_FOOTER_BYTES);
        goto fail;
    }
    f->meta_start = file_size - 8 - mlen;
    const uint8_t *mp;
    if ((size_t)mlen + 8 <= win) {
        mp = tail + win - 8 - mlen;
    } else {
        meta = malloc(mlen);
        if (!meta) { set_err(err, errlen, "%s: out of memory", f->name); goto fail; }
        if (src_read(f, f->meta_start, meta, mlen, "footer", err, errlen)) goto fail;
        mp = meta;
    }
    if (parse_footer(f, mp, mlen, err, errlen)) goto fail;
    free(tail);
    free(meta);
    return f;
fail:
    free(tail);
    free(meta);
    pq_close(f);
    return NULL;
}

pq_file_t *pq_open_mem(const uint8_t *buf, size_t len, const char *name, char *err, size_t errlen) {
    pq_file_t *f = pq_open_reader(mem_read_at, (void *)buf, len, name, err, errlen);
    if (f) f->mem = buf;
    return f;
}

pq_file_t *pq_open_file(const char *path, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        set_err(err, errlen, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    /* The callback needs a stable pointer to the descriptor. */
    int *fdp = malloc(sizeof(int));
    if (!fdp) { close(fd); set_err(err, errlen, "%s: out of memory", path); return NULL; }
    *fdp = fd;
    pq_file_t *f = pq_open_reader(fd_read_at, fdp, (uint64_t)st.st_size, path, err, errlen);
    if (!f) { close(fd); free(fdp); return NULL; }
    f->fd = fd;
    return f;
}

void pq_close(pq_file_t *f) {
    if (!f) return;
    for (int i = 0; i < f->nleaves; i++) free(f->leaves[i].path);
    free(f->leaves);
    for (int g = 0; g < f->nrg; g++) free(f->rgs[g].cols);
    free(f->rgs);
    if (f->fd >= 0) { close(f->fd); free(f->ctx); }
    free(f->name);
    free(f);
}

const char *pq_name(const pq_file_t *f) { return f->name; }
int64_t pq_num_rows(const pq_file_t *f) { return f->num_rows; }
int pq_num_row_groups(const pq_file_t *f) { return f->nrg; }
int64_t pq_row_group_num_rows(const pq_file_t *f, int rg) {
    return rg >= 0 && rg < f->nrg ? f->rgs[rg].num_rows : -1;
}
int pq_num_columns(const pq_file_t *f) { return f->nleaves; }
const char *pq_column_name(const pq_file_t *f, int col) {
    return col >= 0 && col < f->nleaves ? f->leaves[col].path : NULL;
}
int pq_find_column(const pq_file_t *f, const char *name) {
    for (int i = 0; i < f->nleaves; i++)
        if (f->leaves[i].top_level && !strcmp(f->leaves[i].path, name)) return i;
    return -1;
}

/* ------------------------------------------------------------------------
 * RLE / bit-packed hybrid decoding (Encodings.md). Runs are decoded lazily;
 * a bit-packed run is unpacked eight values at a time. */
typedef struct {
    const uint8_t *p, *end;
    int bw;                 /* bit width, 0..32 */
    uint32_t rle_left, rle_val;
    uint64_t bp_left;       /* values left in the bit-packed run */
    uint32_t grp[8];
    int grp_i, grp_n;
    const char *err;        /* set when the data ends early or is malformed */
} hyb_t;

static void hyb_init(hyb_t *h, const uint8_t *p, size_t len, int bw) {
    memset(h, 0, sizeof(*h));
    h->p = p;
    h->end = p + len;
    h->bw = bw;
}

/* Unpacks one group of 8 values, LSB first; a short final group is padded. */
static void hyb_unpack(hyb_t *h) {
    uint8_t tmp[32];
    size_t avail = (size_t)(h->end - h->p), need = (size_t)h->bw;
    const uint8_t *src = h->p;
    if (avail < need) {
        memset(tmp, 0, sizeof(tmp));
        memcpy(tmp, h->p, avail);
        src = tmp;
        h->p = h->end;
    } else {
        h->p += need;
    }
    uint64_t acc = 0, mask = h->bw == 32 ? 0xffffffffu : ((1u << h->bw) - 1);
    int nbits = 0;
    for (int i = 0; i < 8; i++) {
        while (nbits < h->bw) { acc |= (uint64_t)*src++ << nbits; nbits += 8; }
        h->grp[i] = (uint32_t)(acc & mask);
        acc >>= h->bw;
        nbits -= h->bw;
    }
    h->grp_i = 0;
    h->grp_n = 8;
}

static int hyb_next(hyb_t *h, uint32_t *v) {
    for (;;) {
        if (h->rle_left) { h->rle_left--; *v = h->rle_val; return 1; }
        if (h->bp_left) {
            /* A run cut short ends mid-group: the group's tail is padding. */
            if (h->grp_i == h->grp_n) hyb_unpack(h);
            *v = h->grp[h->grp_i++];
            h->bp_left--;
            return 1;
        }
        if (h->p >= h->end) { h->err = "RLE/bit-packed data ends early"; return 0; }
        uint64_t hdr = 0;
        int i = 0;
        for (;; i++) {
            if (i == 5 || h->p >= h->end) { h->err = "bad RLE run header"; return 0; }
            uint8_t b = *h->p++;
            hdr |= (uint64_t)(b & 0x7f) << (7 * i);
            if (!(b & 0x80)) break;
        }
        if (hdr & 1) {
            uint64_t n = (hdr >> 1) * 8;
            /* A final run may be cut short of its declared groups: only the
             * values whose bits are present count. */
            if (h->bw > 0) {
                uint64_t have = (uint64_t)(h->end - h->p) * 8 / (unsigned)h->bw;
                if (n > have) n = have;
            }
            h->bp_left = n;
            h->grp_i = h->grp_n = 0;
        } else {
            int nb = (h->bw + 7) / 8;
            if (h->end - h->p < nb) { h->err = "RLE run value runs past the end"; return 0; }
            uint32_t val = 0;
            for (int k = 0; k < nb; k++) val |= (uint32_t)h->p[k] << (8 * k);
            h->p += nb;
            h->rle_val = val;
            h->rle_left = (uint32_t)(hdr >> 1);
        }
    }
}

/* ------------------------------------------------------------------------
 * Column reader */
typedef struct { uint32_t off, len; } span_t;

struct pq_column_reader {
    pq_file_t *f;
    const pq_leaf_t *leaf;
    int codec;
    char prefix[256];       /* "FILE: row group R, column 'NAME'" */
    char err[512];
    int failed;

    uint8_t *chunk_owned;   /* NULL when reading a memory source in place */
    const uint8_t *chunk;
    size_t chunk_len, pos;
    uint64_t chunk_off;     /* file offset of chunk[0], for messages */
    int64_t total, done;    /* values in the chunk, values returned */
    int npages;

    /* dictionary */
    uint8_t *dict_buf;
    size_t dict_cap;
    const uint8_t *dict_data;
    span_t *dict;
    uint32_t dict_n;
    int have_dict;

    /* current data page */
    uint8_t *page_buf;
    size_t page_cap;
    int64_t page_left;      /* levels (values incl. nulls) left in the page */
    hyb_t defs;
    int use_defs;
    int dict_enc;
    const uint8_t *vp, *vend; /* PLAIN values */
    hyb_t idx;                /* dictionary indices */
    int idx_ok;               /* the bit-width byte was present and valid */
    uint64_t page_off;        /* file offset of the page header */

    z_stream zs;
    int zs_init;
    ZSTD_DCtx *zctx;
};

static int col_fail(pq_column_reader_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int col_fail(pq_column_reader_t *r, const char *fmt, ...) {
    if (r->failed) return -1;
    r->failed = 1;
    int n = snprintf(r->err, sizeof(r->err), "%s: ", r->prefix);
    if (n > 0 && (size_t)n < sizeof(r->err)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err + n, sizeof(r->err) - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int grow(uint8_t **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t n = *cap + *cap / 2;
    if (n < need) n = need;
    uint8_t *p = realloc(*buf, n ? n : 1);
    if (!p) return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/* Decompresses src into *buf (grown as needed) unless the codec is
 * UNCOMPRESSED, in which case *out points at src. The result is exactly
 * dlen bytes or an error. */
static int decompress(pq_column_reader_t *r, const uint8_t *src, size_t slen, size_t dlen,
                      uint8_t **buf, size_t *cap, const uint8_t **out) {
    const char *pg = "page";
    if (dlen == 0) { *out = src; return 0; }
    if (r->codec == CODEC_UNCOMPRESSED) {
        if (slen != dlen)
            return col_fail(r, "%s at offset %llu: uncompressed page has %zu bytes but claims %zu",
                            pg, (unsigned long long)r->page_off, slen, dlen);
        *out = src;
        return 0;
    }
    /* Cheap plausibility checks before allocating what the header claims. */
    if (r->codec == CODEC_SNAPPY) {
        size_t n;
        if (snappy_uncompressed_length((const char *)src, slen, &n) != SNAPPY_OK)
            return col_fail(r, "%s at offset %llu: snappy: corrupt data", pg, (unsigned long long)r->page_off);
        if (n != dlen)
            return col_fail(r, "%s at offset %llu: snappy data holds %zu bytes but the header says %zu",
                            pg, (unsigned long long)r->page_off, n, dlen);
    } else if (r->codec == CODEC_ZSTD) {
        unsigned long long n = ZSTD_getFrameContentSize(src, slen);
        if (n == ZSTD_CONTENTSIZE_ERROR)
            return col_fail(r, "%s at offset %llu: zstd: not a zstd frame", pg, (unsigned long long)r->page_off);
        if (n != ZSTD_CONTENTSIZE_UNKNOWN && n > dlen)
            return col_fail(r, "%s at offset %llu: zstd frame holds %llu bytes but the header says %zu",
                            pg, (unsigned long long)r->page_off, n, dlen);
    } else if (r->codec == CODEC_GZIP) {
        /* deflate cannot expand by more than about 1032:1 */
        if (dlen / 1032 > slen + 64)
            return col_fail(r, "%s at offset %llu: %zu gzip bytes cannot hold %zu bytes",
                            pg, (unsigned long long)r->page_off, slen, dlen);
    }
    if (grow(buf, cap, dlen)) return col_fail(r, "out of memory (%zu bytes)", dlen);
    uint8_t *dst = *buf;
    *out = dst;
    if (r->codec == CODEC_SNAPPY) {
        size_t n = dlen;
        if (snappy_uncompress((const char *)src, slen, (char *)dst, &n) != SNAPPY_OK || n != dlen)
            return col_fail(r, "%s at offset %llu: snappy: corrupt data", pg, (unsigned long long)r->page_off);
        return 0;
    }
    if (r->codec == CODEC_ZSTD) {
        if (!r->zctx && !(r->zctx = ZSTD_createDCtx())) return col_fail(r, "out of memory (zstd)");
        size_t n = ZSTD_decompressDCtx(r->zctx, dst, dlen, src, slen);
        if (ZSTD_isError(n))
            return col_fail(r, "%s at offset %llu: zstd: %s", pg, (unsigned long long)r->page_off,
                            ZSTD_getErrorName(n));
        if (n != dlen)
            return col_fail(r, "%s at offset %llu: zstd data holds %zu bytes but the header says %zu",
                            pg, (unsigned long long)r->page_off, n, dlen);
        return 0;
    }
    /* GZIP: 15+32 lets zlib detect a gzip or zlib header. Concatenated gzip
     * members are allowed (as gunzip does). */
    if (!r->zs_init) {
        if (inflateInit2(&r->zs, 15 + 32) != Z_OK) return col_fail(r, "out of memory (zlib)");
        r->zs_init = 1;
    } else {
        inflateReset(&r->zs);
    }
    r->zs.next_in = (Bytef *)src;
    r->zs.avail_in = (uInt)slen;
    r->zs.next_out = dst;
    r->zs.avail_out = (uInt)dlen;
    for (;;) {
        int rc = inflate(&r->zs, Z_FINISH);
        if (rc == Z_STREAM_END) {
            if (r->zs.avail_out == 0 || r->zs.avail_in == 0) break;
            inflateReset(&r->zs);
            continue;
        }
        const char *why = rc == Z_BUF_ERROR ? (r->zs.avail_out == 0 ? "more data than the header says"
                                                                    : "data ends early")
                                            : (r->zs.msg ? r->zs.msg : "corrupt data");
        return col_fail(r, "%s at offset %llu: gzip: %s", pg, (unsigned long long)r->page_off, why);
    }
    if (r->zs.avail_out != 0)
        return col_fail(r, "%s at offset %llu: gzip data holds %zu bytes but the header says %zu", pg,
                        (unsigned long long)r->page_off, dlen - r->zs.avail_out, dlen);
    return 0;
}

/* Parsed PageHeader (only what the reader uses). */
typedef struct {
    int type;
    int64_t usize, csize;
    int has_data, has_dict, has_v2;
    int64_t num_values, num_nulls;
    int encoding, def_encoding;
    int64_t dl_len, rl_len;
    int is_compressed;
} page_hdr_t;

static void parse_data_page_header(tc_reader_t *t, page_hdr_t *h) {
    tc_struct_t s;
    int ty, id;
    h->encoding = -1;
    h->def_encoding = ENC_RLE;
    tc_struct_begin(t, &s);
    while (tc_field(t, &s, &ty, &id) == 1) {
        if (id == 1 && want(t, "DataPageHeader", id, ty, TC_I32)) h->num_values = tc_int(t, ty);
        else if (id == 2 && want(t, "DataPageHeader", id, ty, TC_I32)) h->encoding = (int)tc_int(t, ty);
        else if (id == 3 && want(t, "DataPageHeader", id, ty, TC_I32)) h->def_encoding = (int)tc_int(t, ty);
        else tc_skip(t, ty);
    }
    tc_struct_end(t);
}

static void parse_dict_page_header(tc_reader_t *t, page_hdr_t *h) {
    tc_struct_t s;
    int ty, id;
    h->encoding = ENC_PLAIN;
    tc_struct_begin(t, &s);
    while (tc_field(t, &s, &ty, &id) == 1) {
        if (id == 1 && want(t, "DictionaryPageHeader", id, ty, TC_I32)) h->num_values = tc_int(t, ty);
        else if (id == 2 && want(t, "DictionaryPageHeader", id, ty, TC_I32)) h->encoding = (int)tc_int(t, ty);
        else tc_skip(t, ty);
    }
    tc_struct_end(t);
}

static void parse_v2_page_header(tc_reader_t *t, page_hdr_t *h) {
    tc_struct_t s;
    int ty, id;
    const char *w = "DataPageHeaderV2";
    h->encoding = -1;
    h->is_compressed = 1;  /* the thrift default */
    tc_struct_begin(t, &s);
    while (tc_field(t, &s, &ty, &id) == 1) {
        if (id == 1 && want(t, w, id, ty, TC_I32)) h->num_values = tc_int(t, ty);
        else if (id == 2 && want(t, w, id, ty, TC_I32)) h->num_nulls = tc_int(t, ty);
        else if (id == 4 && want(t, w, id, ty, TC_I32)) h->encoding = (int)tc_int(t, ty);
        else if (id == 5 && want(t, w, id, ty, TC_I32)) h->dl_len = tc_int(t, ty);
        else if (id == 6 && want(t, w, id, ty, TC_I32)) h->rl_len = tc_int(t, ty);
        else if (id == 7) h->is_compressed = tc_read_bool(t, ty);
        else tc_skip(t, ty);
    }
    tc_struct_end(t);
}

static void parse_page_header(tc_reader_t *t, page_hdr_t *h) {
    tc_struct_t s;
    int ty, id, seen = 0;
    memset(h, 0, sizeof(*h));
    h->type = -1;
    tc_struct_begin(t, &s);
    while (tc_field(t, &s, &ty, &id) == 1) {
        if (id == 1 && want(t, "PageHeader", id, ty, TC_I32)) { h->type = (int)tc_int(t, ty); seen |= 1; }
        else if (id == 2 && want(t, "PageHeader", id, ty, TC_I32)) { h->usize = tc_int(t, ty); seen |= 2; }
        else if (id == 3 && want(t, "PageHeader", id, ty, TC_I32)) { h->csize = tc_int(t, ty); seen |= 4; }
        else if (id == 5 && want(t, "PageHeader", id, ty, TC_STRUCT)) { h->has_data = 1; parse_data_page_header(t, h); }
        else if (id == 7 && want(t, "PageHeader", id, ty, TC_STRUCT)) { h->has_dict = 1; parse_dict_page_header(t, h); }
        else if (id == 8 && want(t, "PageHeader", id, ty, TC_STRUCT)) { h->has_v2 = 1; parse_v2_page_header(t, h); }
        else tc_skip(t, ty);
    }
    tc_struct_end(t);
    if (!t->err && seen != 7) tc_fail(t, "PageHeader lacks type or sizes");
}

static int load_dictionary(pq_column_reader_t *r, const page_hdr_t *h, const uint8_t *body) {
    unsigned long long off = (unsigned long long)r->page_off;
    if (r->have_dict) return col_fail(r, "page at offset %llu: a second dictionary page", off);
    if (r->npages > 0) return col_fail(r, "page at offset %llu: dictionary page after data pages", off);
    if (!h->has_dict) return col_fail(r, "page at offset %llu: dictionary page without a dictionary_page_header", off);
    if (h->encoding != ENC_PLAIN && h->encoding != ENC_PLAIN_DICTIONARY) {
        char b[32];
        return col_fail(r, "page at offset %llu: unsupported dictionary encoding %s", off,
                        NAME(ENC_NAMES, h->encoding, b));
    }
    /* Every entry has a 4-byte length, which bounds the count by the size. */
    if (h->num_values < 0 || (uint64_t)h->num_values > (uint64_t)h->usize / 4)
        return col_fail(r, "page at offset %llu: dictionary claims %lld entries in %lld bytes", off,
                        (long long)h->num_values, (long long)h->usize);
    const uint8_t *d;
    if (decompress(r, body, (size_t)h->csize, (size_t)h->usize, &r->dict_buf, &r->dict_cap, &d)) return -1;
    r->dict = malloc(((size_t)h->num_values ? (size_t)h->num_values : 1) * sizeof(span_t));
    if (!r->dict) return col_fail(r, "out of memory (dictionary)");
    size_t p = 0, n = (size_t)h->usize;
    for (uint32_t i = 0; i < (uint32_t)h->num_values; i++) {
        if (n - p < 4) return col_fail(r, "page at offset %llu: dictionary entry %u runs past the page", off, i);
        uint32_t len = (uint32_t)d[p] | (uint32_t)d[p + 1] << 8 | (uint32_t)d[p + 2] << 16 | (uint32_t)d[p + 3] << 24;
        p += 4;
        if (len > n - p)
            return col_fail(r, "page at offset %llu: dictionary entry %u of %u bytes runs past the page", off, i, len);
        r->dict[i].off = (uint32_t)p;
        r->dict[i].len = len;
        p += len;
    }
    r->dict_data = d;
    r->dict_n = (uint32_t)h->num_values;
    r->have_dict = 1;
    return 0;
}

static int bit_width(int v) {
    int w = 0;
    while (v >> w) w++;
    return w;
}

/* Sets up the level and value decoders of a data page (v1 or v2). */
static int load_data_page(pq_column_reader_t *r, const page_hdr_t *h, const uint8_t *body) {
    unsigned long long off = (unsigned long long)r->page_off;
    int v2 = h->type == PAGE_DATA_V2;
    char b[32];
    if (v2 ? !h->has_v2 : !h->has_data)
        return col_fail(r, "page at offset %llu: data page without its %s", off,
                        v2 ? "data_page_header_v2" : "data_page_header");
    if (h->num_values < 0 || h->num_values > r->total - r->done)
        return col_fail(r, "page at offset %llu: %lld values, but only %lld of the chunk's %lld remain",
                        off, (long long)h->num_values, (long long)(r->total - r->done), (long long)r->total);
    if (h->encoding == ENC_PLAIN) r->dict_enc = 0;
    else if (h->encoding == ENC_PLAIN_DICTIONARY || h->encoding == ENC_RLE_DICTIONARY) r->dict_enc = 1;
    else return col_fail(r, "page at offset %llu: unsupported encoding %s", off, NAME(ENC_NAMES, h->encoding, b));
    if (r->dict_enc && !r->have_dict)
        return col_fail(r, "page at offset %llu: dictionary-encoded page but the chunk has no dictionary page", off);

    const uint8_t *vals;
    size_t vlen;
    r->use_defs = r->leaf->max_def > 0;
    if (!v2) {
        const uint8_t *d;
        if (decompress(r, body, (size_t)h->csize, (size_t)h->usize, &r->page_buf, &r->page_cap, &d)) return -1;
        size_t n = (size_t)h->usize, p = 0;
        if (r->use_defs) {
            if (h->def_encoding != ENC_RLE)
                return col_fail(r, "page at offset %llu: unsupported definition level encoding %s", off,
                                NAME(ENC_NAMES, h->def_encoding, b));
            if (n < 4) return col_fail(r, "page at offset %llu: definition levels missing", off);
            uint32_t dl = (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
            if (dl > n - 4)
                return col_fail(r, "page at offset %llu: %u bytes of definition levels in a %zu-byte page", off, dl, n);
            hyb_init(&r->defs, d + 4, dl, bit_width(r->leaf->max_def));
            p = 4 + (size_t)dl;
        }
        vals = d + p;
        vlen = n - p;
    } else {
        /* Levels come first and are never compressed; only the values
         * section is, and only when is_compressed. */
        if (h->dl_len < 0 || h->rl_len < 0 || h->rl_len + h->dl_len > h->csize || h->rl_len + h->dl_len > h->usize)
            return col_fail(r, "page at offset %llu: level lengths %lld+%lld do not fit the page (%lld/%lld bytes)",
                            off, (long long)h->rl_len, (long long)h->dl_len, (long long)h->csize, (long long)h->usize);
        size_t lv = (size_t)(h->rl_len + h->dl_len);
        if (r->use_defs) hyb_init(&r->defs, body + h->rl_len, (size_t)h->dl_len, bit_width(r->leaf->max_def));
        size_t cl = (size_t)h->csize - lv, ul = (size_t)h->usize - lv;
        if (h->is_compressed) {
            if (decompress(r, body + lv, cl, ul, &r->page_buf, &r->page_cap, &vals)) return -1;
        } else {
            if (cl != ul)
                return col_fail(r, "page at offset %llu: uncompressed values of %zu bytes claim %zu", off, cl, ul);
            vals = body + lv;
        }
        vlen = ul;
    }
    r->page_left = h->num_values;
    if (r->dict_enc) {
        r->idx_ok = 0;
        if (vlen >= 1) {
            int bw = vals[0];
            if (bw > 32) return col_fail(r, "page at offset %llu: dictionary index bit width %d > 32", off, bw);
            hyb_init(&r->idx, vals + 1, vlen - 1, bw);
            r->idx_ok = 1;
        }
    } else {
        r->vp = vals;
        r->vend = vals + vlen;
    }
    return 0;
}

/* Reads the next page header and sets up whatever page it introduces. */
static int next_page(pq_column_reader_t *r) {
    if (r->pos >= r->chunk_len)
        return col_fail(r, "the chunk ends after %lld of its %lld values", (long long)r->done, (long long)r->total);
    r->page_off = r->chunk_off + r->pos;
    unsigned long long off = (unsigned long long)r->page_off;
    tc_reader_t t;
    page_hdr_t h;
    tc_init(&t, r->chunk + r->pos, r->chunk_len - r->pos);
    parse_page_header(&t, &h);
    if (t.err) return col_fail(r, "page header at offset %llu: %s", off, t.msg);
    size_t body_at = r->pos + tc_pos(&t);
    if (h.csize < 0 || h.usize < 0)
        return col_fail(r, "page at offset %llu: negative page size (%lld compressed, %lld uncompressed)",
                        off, (long long)h.csize, (long long)h.usize);
    if ((uint64_t)h.csize > r->chunk_len - body_at)
        return col_fail(r, "page at offset %llu: %lld-byte page runs past the column chunk (%zu bytes left)",
                        off, (long long)h.csize, r->chunk_len - body_at);
    if ((uint64_t)h.usize > PQ_MAX_PAGE_BYTES)
        return col_fail(r, "page at offset %llu: uncompressed size %lld is over the %u-byte limit",
                        off, (long long)h.usize, PQ_MAX_PAGE_BYTES);
    const uint8_t *body = r->chunk + body_at;
    r->pos = body_at + (size_t)h.csize;
    switch (h.type) {
    case PAGE_DICTIONARY: return load_dictionary(r, &h, body);
    case PAGE_DATA:
    case PAGE_DATA_V2:
        r->npages++;
        return load_data_page(r, &h, body);
    case PAGE_INDEX: return 0;
    default: return col_fail(r, "page at offset %llu: unknown page type %d", off, h.type);
    }
}

pq_column_reader_t *pq_column_open(pq_file_t *f, int rg, int col, char *err, size_t errlen) {
    char b[32];
    if (rg < 0 || rg >= f->nrg) {
        set_err(err, errlen, "%s: row group %d does not exist (the file has %d)", f->name, rg, f->nrg);
        return NULL;
    }
    if (col < 0 || col >= f->nleaves) {
        set_err(err, errlen, "%s: column %d does not exist (the file has %d)", f->name, col, f->nleaves);
        return NULL;
    }
    const pq_leaf_t *l = &f->leaves[col];
    const pq_chunk_t *c = &f->rgs[rg].cols[col];
    const char *name = l->path;
    if (!l->top_level || l->max_rep > 0 || l->max_def > 1) {
        set_err(err, errlen, "%s: column '%s' is nested or repeated, which is not supported", f->name, name);
        return NULL;
    }
    if (l->type != PT_BYTE_ARRAY) {
        set_err(err, errlen, "%s: column '%s' has physical type %s, not BYTE_ARRAY", f->name, name,
                NAME(TYPE_NAMES, l->type, b));
        return NULL;
    }
    if (!c->has_meta || (c->seen & CM_REQUIRED) != CM_REQUIRED) {
        set_err(err, errlen, "%s: row group %d, column '%s': column chunk metadata is missing%s", f->name,
                rg, name, c->has_meta ? " required fields" : " (encrypted column?)");
        return NULL;
    }
    if (c->has_file_path) {
        set_err(err, errlen, "%s: row group %d, column '%s': column chunk lives in another file (file_path)",
                f->name, rg, name);
        return NULL;
    }
    if (c->type != PT_BYTE_ARRAY) {
        set_err(err, errlen, "%s: row group %d, column '%s': chunk type %s disagrees with the schema",
                f->name, rg, name, NAME(TYPE_NAMES, c->type, b));
        return NULL;
    }
    if (c->codec != CODEC_UNCOMPRESSED && c->codec != CODEC_SNAPPY && c->codec != CODEC_GZIP &&
        c->codec != CODEC_ZSTD) {
        set_err(err, errlen, "%s: row group %d, column '%s': unsupported codec %s", f->name, rg, name,
                NAME(CODEC_NAMES, c->codec, b));
        return NULL;
    }
    if (c->num_values != f->rgs[rg].num_rows) {
        set_err(err, errlen, "%s: row group %d, column '%s': %lld values but the row group has %lld rows",
                f->name, rg, name, (long long)c->num_values, (long long)f->rgs[rg].num_rows);
        return NULL;
    }
    /* The chunk starts at its dictionary page when there is one. An empty
     * chunk may have only a dictionary page and data_page_offset 0 (Arrow). */
    int64_t data = c->data_page_offset, dict = c->dictionary_page_offset, size = c->total_compressed_size;
    int64_t start = dict > 0 && (dict < data || (data == 0 && c->num_values == 0)) ? dict : data;
    if (start < 4 || size < 0 || (uint64_t)start > f->meta_start || (uint64_t)size > f->meta_start - (uint64_t)start) {
        set_err(err, errlen, "%s: row group %d, column '%s': chunk [%lld, +%lld) lies outside the data (4..%llu)",
                f->name, rg, name, (long long)start, (long long)size, (unsigned long long)f->meta_start);
        return NULL;
    }
    if (c->num_values > 0 && (data < start || data >= start + size)) {
        set_err(err, errlen, "%s: row group %d, column '%s': data page offset %lld lies outside the chunk [%lld, +%lld)",
                f->name, rg, name, (long long)data, (long long)start, (long long)size);
        return NULL;
    }
    if ((uint64_t)size > PQ_MAX_CHUNK_BYTES) {
        set_err(err, errlen, "%s: row group %d, column '%s': chunk of %lld bytes is over the %u-byte limit",
                f->name, rg, name, (long long)size, PQ_MAX_CHUNK_BYTES);
        return NULL;
    }
    pq_column_reader_t *r = calloc(1, sizeof(*r));
    if (!r) { set_err(err, errlen, "%s: out of memory", f->name); return NULL; }
    r->f = f;
    r->leaf = l;
    r->codec = c->codec;
    r->total = c->num_values;
    r->chunk_off = (uint64_t)start;
    r->chunk_len = (size_t)size;
    snprintf(r->prefix, sizeof(r->prefix), "%s: row group %d, column '%s'", f->name, rg, name);
    if (f->mem) {
        r->chunk = f->mem + start;
    } else if (size > 0) {
        char what[64];
        snprintf(what, sizeof(what), "row group %d, column chunk", rg);
        r->chunk = r->chunk_owned = malloc((size_t)size);
        if (!r->chunk_owned) {
            set_err(err, errlen, "%s: out of memory (%lld-byte chunk)", f->name, (long long)size);
            free(r);
            return NULL;
        }
        if (src_read(f, (uint64_t)start, r->chunk_owned, (size_t)size, what, err, errlen)) {
            pq_column_close(r);
            return NULL;
        }
    }
    return r;
}

int pq_column_next(pq_column_reader_t *r, const uint8_t **val, size_t *len, int *is_null) {
    if (r->failed) return -1;
    while (r->page_left == 0) {
        if (r->done == r->total) return 0;
        if (next_page(r)) return -1;
    }
    r->page_left--;
    r->done++;
    if (r->use_defs) {
        uint32_t d;
        if (!hyb_next(&r->defs, &d))
            return col_fail(r, "page at offset %llu: definition levels: %s", (unsigned long long)r->page_off, r->defs.err);
        if (d > (uint32_t)r->leaf->max_def)
            return col_fail(r, "page at offset %llu: definition level %u > %d", (unsigned long long)r->page_off,
                            d, r->leaf->max_def);
        if (d < (uint32_t)r->leaf->max_def) {
            *val = NULL;
            *len = 0;
            *is_null = 1;
            return 1;
        }
    }
    *is_null = 0;
    if (r->dict_enc) {
        uint32_t i;
        if (!r->idx_ok)
            return col_fail(r, "page at offset %llu: dictionary indices missing", (unsigned long long)r->page_off);
        if (!hyb_next(&r->idx, &i))
            return col_fail(r, "page at offset %llu: dictionary indices: %s", (unsigned long long)r->page_off, r->idx.err);
        if (i >= r->dict_n)
            return col_fail(r, "page at offset %llu: dictionary index %u out of range (%u entries)",
                            (unsigned long long)r->page_off, i, r->dict_n);
        *val = r->dict_data + r->dict[i].off;
        *len = r->dict[i].len;
        return 1;
    }
    if (r->vend - r->vp < 4)
        return col_fail(r, "page at offset %llu: PLAIN values end early", (unsigned long long)r->page_off);
    const uint8_t *p = r->vp;
    uint32_t n = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if (n > (size_t)(r->vend - p) - 4)
        return col_fail(r, "page at offset %llu: PLAIN value of %u bytes runs past the page",
                        (unsigned long long)r->page_off, n);
    *val = p + 4;
    *len = n;
    r->vp = p + 4 + n;
    return 1;
}

const char *pq_column_error(const pq_column_reader_t *r) { return r->failed ? r->err : ""; }

void pq_column_close(pq_column_reader_t *r) {
    if (!r) return;
    free(r->chunk_owned);
    free(r->dict_buf);
    free(r->dict);
    free(r->page_buf);
    if (r->zs_init) inflateEnd(&r->zs);
    ZSTD_freeDCtx(r->zctx);
    free(r);
}
