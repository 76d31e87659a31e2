/* rt_data_unit.c: one unit of a file -> the tokens of its documents.
 *
 * Runs on the pipeline's worker threads, so it prints nothing: a failure
 * becomes a block whose err names the file and the place (line, or row
 * group and row), and the consumer reports it when the stream reaches it.
 * Only documents of the split are tokenised; the others are still decoded
 * (a parquet column is read in order) but not parsed or tokenised. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_data_priv.h"

block_t *block_error(int f, int u, const char *fmt, ...) {
    block_t *b = rt_calloc(1, sizeof *b);
    b->file = f;
    b->unit = u;
    b->err = rt_malloc(DATA_ERR);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, DATA_ERR, fmt, ap);
    va_end(ap);
    b->doc_off = rt_calloc(1, sizeof(size_t));
    return b;
}

void block_free(block_t *b) {
    if (!b) return;
    free(b->tok);
    free(b->doc_off);
    free(b->doc_resp);
    free(b->doc_row);
    free(b->err);
    free(b);
}

/* ---- building a block ---- */
static void grow_docs(block_t *b) {
    if ((size_t)b->ndocs + 1 < b->doc_cap) return;
    size_t c = b->doc_cap ? b->doc_cap * 2 : 64;
    b->doc_off = realloc(b->doc_off, c * sizeof(size_t));
    b->doc_resp = realloc(b->doc_resp, c * sizeof(size_t));
    b->doc_row = realloc(b->doc_row, c * sizeof(int64_t));
    if (!b->doc_off || !b->doc_resp || !b->doc_row)
        rt_die("out of memory growing a block's document table to %zu entries", c);
    b->doc_cap = c;
}

static int encode(const source_t *s, block_t *b, const char *text, size_t len) {
    return rt_tokenizer_encode(s->tok, text, len, &b->tok, &b->n, &b->cap);
}

static void push_eos(const source_t *s, block_t *b) {
    if (b->n + 1 > b->cap) {
        size_t c = b->cap ? b->cap * 2 : 256;
        b->tok = realloc(b->tok, c * sizeof(int32_t));
        if (!b->tok) rt_die("out of memory growing a token block to %zu ids", c);
        b->cap = c;
    }
    b->tok[b->n++] = s->eos;
}

/* Records a document that starts at `first` and whose loss targets start at
 * `resp`, then ends it with EOS. */
static void end_doc(const source_t *s, block_t *b, int64_t row, size_t first, size_t resp) {
    grow_docs(b);
    push_eos(s, b);
    b->doc_off[b->ndocs] = first;
    b->doc_resp[b->ndocs] = resp;
    b->doc_row[b->ndocs] = row;
    b->ndocs++;
}

static int add_plain(const source_t *s, block_t *b, int64_t row, const char *text, size_t len) {
    size_t first = b->n;
    if (encode(s, b, text, len) != 0) return -1;
    end_doc(s, b, row, first, first);
    return 0;
}

/* The Stanford Alpaca prompt (tatsu-lab/stanford_alpaca PROMPT_DICT), with the
 * newline after "### Response:" as most fine-tuning code writes it. Built by
 * concatenation, as the fields may hold NUL bytes. */
static const char A_HEAD_INPUT[] =
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n### Instruction:\n";
static const char A_HEAD[] =
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\n\n### Instruction:\n";
static const char A_INPUT[] = "\n\n### Input:\n";
static const char A_RESPONSE[] = "\n\n### Response:\n";

typedef struct {
    char *p;
    size_t n, cap;
} sbuf_t;

static void sb_add(sbuf_t *s, const char *p, size_t n) {
    if (s->n + n > s->cap) {
        size_t c = s->cap ? s->cap : 1024;
        while (c < s->n + n) c *= 2;
        s->p = realloc(s->p, c);
        if (!s->p) rt_die("out of memory rendering an alpaca prompt of %zu bytes", c);
        s->cap = c;
    }
    memcpy(s->p + s->n, p, n);
    s->n += n;
}

static int add_alpaca(const source_t *s, block_t *b, sbuf_t *sb, int64_t row, const char *instr,
                      size_t il, const char *input, size_t inl, const char *out, size_t ol) {
    sb->n = 0;
    if (inl) {
        sb_add(sb, A_HEAD_INPUT, sizeof A_HEAD_INPUT - 1);
        sb_add(sb, instr, il);
        sb_add(sb, A_INPUT, sizeof A_INPUT - 1);
        sb_add(sb, input, inl);
    } else {
        sb_add(sb, A_HEAD, sizeof A_HEAD - 1);
        sb_add(sb, instr, il);
    }
    sb_add(sb, A_RESPONSE, sizeof A_RESPONSE - 1);
    size_t first = b->n;
    if (encode(s, b, sb->p, sb->n) != 0) return -1;
    size_t resp = b->n;
    if (encode(s, b, out, ol) != 0) return -1;
    end_doc(s, b, row, first, resp);
    return 0;
}

/* ---- txt ---- */
static block_t *do_txt(source_t *s, int fi, int ui, block_t *b) {
    const src_file_t *f = &s->files[fi];
    const unit_t *u = &f->units[ui];
    const char *p = f->buf + u->off, *end = p + u->len, *doc;
    size_t len;
    for (int64_t row = u->row0; txt_next_doc(&p, end, f->paragraphs, &doc, &len); row++) {
        if (!src_in_split(s, fi, row)) continue;
        if (add_plain(s, b, row, doc, len) != 0) {
            block_free(b);
            return block_error(fi, ui, "%s: document %lld: tokenising failed", f->name,
                               (long long)row + 1);
        }
    }
    return b;
}

/* ---- jsonl ---- */
static int get_string(json_t *obj, const char *key, const char *path, int64_t line, int required,
                      const char **out, size_t *len, char *err) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (!required) {
            *out = "";
            *len = 0;
            return 0;
        }
        snprintf(err, DATA_ERR, "%s:%lld: no \"%s\" field%s", path, (long long)line, key,
                 v ? " (it is null)" : "");
        return -1;
    }
    if (!json_is_string(v)) {
        snprintf(err, DATA_ERR, "%s:%lld: field \"%s\" is not a string", path, (long long)line, key);
        return -1;
    }
    *out = json_string_value(v);
    *len = json_string_length(v);
    return 0;
}

static block_t *do_jsonl(source_t *s, int fi, int ui, block_t *b) {
    const src_file_t *f = &s->files[fi];
    const unit_t *u = &f->units[ui];
    const char *p = f->buf + u->off, *end = p + u->len;
    int64_t line = u->line0 - 1, row = u->row0;
    char err[DATA_ERR];
    sbuf_t sb = {0};
    int rc = 0;
    while (p < end && rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *l = p, *le = nl ? nl : end;
        p = nl ? nl + 1 : end;
        line++;
        if (text_is_blank(l, le)) continue;  /* e.g. the empty line after a final newline */
        int64_t r = row++;
        if (!src_in_split(s, fi, r)) continue;
        json_error_t jerr;
        json_t *obj = json_loadb(l, (size_t)(le - l), JSON_ALLOW_NUL, &jerr);
        if (!obj) {
            snprintf(err, sizeof err, "%s:%lld: invalid JSON: %s (column %d)", f->name,
                     (long long)line, jerr.text, jerr.column);
            rc = -1;
            break;
        }
        if (!json_is_object(obj)) {
            snprintf(err, sizeof err, "%s:%lld: expected a JSON object, got %s", f->name,
                     (long long)line, json_is_array(obj) ? "an array" : "a scalar");
            rc = -1;
        } else if (s->alpaca) {
            const char *in, *inp, *out;
            size_t il, inl, ol;
            if (get_string(obj, "instruction", f->name, line, 1, &in, &il, err) ||
                get_string(obj, "input", f->name, line, 0, &inp, &inl, err) ||
                get_string(obj, "output", f->name, line, 1, &out, &ol, err))
                rc = -1;
            else if (add_alpaca(s, b, &sb, r, in, il, inp, inl, out, ol) != 0) {
                snprintf(err, sizeof err, "%s:%lld: tokenising failed", f->name, (long long)line);
                rc = -1;
            }
        } else {
            const char *text;
            size_t tl;
            if (get_string(obj, s->text_column, f->name, line, 1, &text, &tl, err) != 0)
                rc = -1;
            else if (add_plain(s, b, r, text, tl) != 0) {
                snprintf(err, sizeof err, "%s:%lld: tokenising failed", f->name, (long long)line);
                rc = -1;
            }
        }
        json_decref(obj);
    }
    free(sb.p);
    if (rc == 0) return b;
    block_free(b);
    return block_error(fi, ui, "%s", err);
}

/* ---- parquet ---- */
static block_t *do_parquet(source_t *s, int fi, int ui, block_t *b) {
    src_file_t *f = &s->files[fi];
    const unit_t *u = &f->units[ui];
    static const char *const names[3] = {"instruction", "input", "output"};
    pq_column_reader_t *rd[3] = {NULL, NULL, NULL};
    char err[DATA_ERR], perr[DATA_ERR / 2];
    err[0] = '\0';
    int ncols = s->alpaca ? 3 : 1, rc = 0;
    for (int k = 0; k < ncols && rc == 0; k++) {
        if (f->col[k] < 0) continue;
        rd[k] = pq_column_open(f->pq, u->rg, f->col[k], perr, sizeof perr);
        if (!rd[k]) {
            const char *why = f->url ? hub_last_error() : "";
            snprintf(err, sizeof err, "%s%s%.400s", perr, *why ? ": " : "", why);
            rc = -1;
        }
    }
    sbuf_t sb = {0};
    for (int64_t i = 0; i < u->nrows && rc == 0; i++) {
        const uint8_t *val[3] = {(const uint8_t *)"", (const uint8_t *)"", (const uint8_t *)""};
        size_t len[3] = {0, 0, 0};
        int null[3] = {0, 0, 0};
        for (int k = 0; k < ncols && rc == 0; k++) {
            if (!rd[k]) continue;
            int got = pq_column_next(rd[k], &val[k], &len[k], &null[k]);
            if (got < 0) {
                snprintf(err, sizeof err, "%s", pq_column_error(rd[k]));
                rc = -1;
            } else if (got == 0) {
                snprintf(err, sizeof err,
                         "%s: row group %d: column '%s' ends after %lld of its %lld rows", f->name,
                         u->rg, pq_column_name(f->pq, f->col[k]), (long long)i,
                         (long long)u->nrows);
                rc = -1;
            }
        }
        if (rc) break;
        int64_t row = u->row0 + i;
        if (!src_in_split(s, fi, row)) continue;
        for (int k = 0; k < ncols; k++) {
            if (!null[k]) continue;
            if (s->alpaca && k == 1) {  /* no input: the prompt without one */
                val[k] = (const uint8_t *)"";
                len[k] = 0;
                continue;
            }
            snprintf(err, sizeof err, "%s: row group %d, row %lld: column '%s' is null", f->name,
                     u->rg, (long long)i, s->alpaca ? names[k] : s->text_column);
            rc = -1;
            break;
        }
        if (rc) break;
        int bad = s->alpaca ? add_alpaca(s, b, &sb, row, (const char *)val[0], len[0],
                                         (const char *)val[1], len[1], (const char *)val[2], len[2])
                            : add_plain(s, b, row, (const char *)val[0], len[0]);
        if (bad) {
            snprintf(err, sizeof err, "%s: row group %d, row %lld: tokenising failed", f->name,
                     u->rg, (long long)i);
            rc = -1;
        }
    }
    for (int k = 0; k < 3; k++)
        if (rd[k]) pq_column_close(rd[k]);
    free(sb.p);
    if (rc == 0) return b;
    block_free(b);
    return block_error(fi, ui, "%s", err);
}

block_t *unit_process(source_t *s, int fi, int ui) {
    const src_file_t *f = &s->files[fi];
    block_t *b = rt_calloc(1, sizeof *b);
    b->file = fi;
    b->unit = ui;
    b->idx = -1;
    /* Text: about one token per byte or fewer, so size the buffers once. */
    if (f->fmt != FMT_PARQUET) {
        b->cap = f->units[ui].len + 16;
        b->tok = rt_malloc(b->cap * sizeof(int32_t));
    }
    b = f->fmt == FMT_TXT ? do_txt(s, fi, ui, b)
        : f->fmt == FMT_JSONL ? do_jsonl(s, fi, ui, b)
                              : do_parquet(s, fi, ui, b);
    if (b->err) return b;
    grow_docs(b);
    b->doc_off[b->ndocs] = b->n;
    /* Give back the slack: blocks may be kept for the whole run. */
    if (b->cap > b->n + b->n / 8 + 64) {
        int32_t *t = realloc(b->tok, (b->n ? b->n : 1) * sizeof(int32_t));
        if (t) b->tok = t, b->cap = b->n;
    }
    return b;
}
