/* rt_data.c: local text files -> documents -> one token stream -> rows.
 *
 * At open, every file of the source is read and split into documents; each
 * document gets a global index i (over all files, in order) and belongs to the
 * validation split when splitmix64(i)/2^64 < validation_fraction, so the split
 * does not depend on the seed or on which split is being opened. The
 * documents of the requested split are tokenised and concatenated, each
 * followed by EOS, into one stream of N tokens with two bit sets beside it:
 *   start[j]: token j is the first token of a document
 *   resp[j]:  token j is a loss target (a response token or the EOS after it;
 *             NULL when every token is, i.e. without a prompt template)
 * Row r is the window of stream tokens [r*T, r*T+T], read circularly. */
#include "rt.h"

#include <glob.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct rt_data {
    int split;
    int vocab;
    int32_t *tok;       /* (n) the token stream */
    uint64_t *start;    /* (n bits) document starts */
    uint64_t *resp;     /* (n bits) masked-in targets, or NULL for all */
    int64_t n, ndocs;
    int64_t pos;        /* first stream token of the next row */
    int64_t epoch;
};

static int bit_get(const uint64_t *b, int64_t i) { return (int)((b[i >> 6] >> (i & 63)) & 1); }
static void bit_set(uint64_t *b, int64_t i) { b[i >> 6] |= (uint64_t)1 << (i & 63); }

/* ---- building the stream ---- */
typedef struct {
    const rt_tokenizer_t *tok;
    int32_t eos;
    int split;
    double val_fraction;
    int alpaca;
    int32_t *ids;
    size_t n, cap;
    uint64_t *start, *resp;
    size_t words;           /* capacity of start/resp in 64-bit words */
    int64_t doc_index;      /* next global document index (both splits) */
    int64_t ndocs;          /* documents in this split */
} builder_t;

/* Grows the bit sets so they cover the token buffer's capacity. */
static void grow_bits(builder_t *b) {
    size_t need = (b->cap + 63) / 64;
    if (need <= b->words) return;
    uint64_t *s = realloc(b->start, need * sizeof(uint64_t));
    if (!s) rt_die("out of memory growing the document-start bits to %zu words", need);
    memset(s + b->words, 0, (need - b->words) * sizeof(uint64_t));
    b->start = s;
    if (b->alpaca) {
        uint64_t *r = realloc(b->resp, need * sizeof(uint64_t));
        if (!r) rt_die("out of memory growing the loss-mask bits to %zu words", need);
        memset(r + b->words, 0, (need - b->words) * sizeof(uint64_t));
        b->resp = r;
    }
    b->words = need;
}

/* Decides the split of the next document; 1 when it belongs to ours. */
static int take_doc(builder_t *b) {
    uint64_t h = rt_splitmix64((uint64_t)b->doc_index++);
    int in_val = (double)(h >> 11) * 0x1.0p-53 < b->val_fraction;
    return in_val == (b->split == RT_SPLIT_VAL);
}

static int encode(builder_t *b, const char *text, size_t len) {
    if (rt_tokenizer_encode(b->tok, text, len, &b->ids, &b->n, &b->cap) != 0) return -1;
    grow_bits(b);
    return 0;
}

static void push_eos(builder_t *b) {
    if (b->n + 1 > b->cap) {
        size_t c = b->cap ? b->cap * 2 : 256;
        int32_t *p = realloc(b->ids, c * sizeof(int32_t));
        if (!p) rt_die("out of memory growing the token stream to %zu ids", c);
        b->ids = p;
        b->cap = c;
        grow_bits(b);
    }
    b->ids[b->n++] = b->eos;
}

static int add_plain_doc(builder_t *b, const char *text, size_t len) {
    if (!take_doc(b)) return 0;
    size_t first = b->n;
    if (encode(b, text, len) != 0) return -1;
    push_eos(b);
    bit_set(b->start, (int64_t)first);
    if (b->resp)
        for (size_t j = first; j < b->n; j++) bit_set(b->resp, (int64_t)j);
    b->ndocs++;
    return 0;
}

/* The Stanford Alpaca prompt (tatsu-lab/stanford_alpaca PROMPT_DICT), with the
 * newline after "### Response:" as most fine-tuning code writes it. */
static const char ALPACA_WITH_INPUT[] =
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n%s\n\n### Input:\n%s\n\n### Response:\n";
static const char ALPACA_NO_INPUT[] =
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\n\n### Instruction:\n%s\n\n### Response:\n";

static int add_alpaca_doc(builder_t *b, const char *instr, const char *input, const char *output,
                          size_t output_len) {
    if (!take_doc(b)) return 0;
    char *prompt;
    int plen = input && *input ? asprintf(&prompt, ALPACA_WITH_INPUT, instr, input)
                               : asprintf(&prompt, ALPACA_NO_INPUT, instr);
    if (plen < 0) rt_die("out of memory rendering an alpaca prompt");
    size_t first = b->n;
    int rc = encode(b, prompt, (size_t)plen);
    free(prompt);
    if (rc != 0) return -1;
    size_t resp_first = b->n;
    if (encode(b, output, output_len) != 0) return -1;
    push_eos(b);
    bit_set(b->start, (int64_t)first);
    for (size_t j = resp_first; j < b->n; j++) bit_set(b->resp, (int64_t)j);
    b->ndocs++;
    return 0;
}

/* ---- txt: blank-line separated paragraphs (or one document per line) ---- */
static int is_blank(const char *p, const char *e) {
    for (; p < e; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r') return 0;
    return 1;
}

static int load_txt(builder_t *b, const char *path, const char *buf, size_t len) {
    const char *p = buf, *end = buf + len;
    if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) p += 3;  /* UTF-8 byte-order mark */
    /* Paragraph mode when some blank line separates two non-blank lines. */
    int paragraphs = 0, seen_text = 0, blank_after_text = 0;
    for (const char *l = p; l < end && !paragraphs;) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        const char *le = nl ? nl : end;
        if (is_blank(l, le)) {
            if (seen_text) blank_after_text = 1;
        } else {
            if (blank_after_text) paragraphs = 1;
            seen_text = 1;
        }
        l = nl ? nl + 1 : end;
    }
    const char *doc = NULL, *doc_end = NULL;
    for (const char *l = p; l < end;) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        const char *le = nl ? nl : end;
        int blank = is_blank(l, le);
        if (!blank) {
            if (!doc) doc = l;
            doc_end = le;
        }
        int last = nl == NULL || nl + 1 == end;
        if (doc && (blank || !paragraphs || last)) {
            while (doc_end > doc && doc_end[-1] == '\r') doc_end--;
            if (add_plain_doc(b, doc, (size_t)(doc_end - doc)) != 0)
                return rt_err("%s: tokenising failed", path);
            doc = NULL;
        }
        l = nl ? nl + 1 : end;
    }
    return 0;
}

/* ---- jsonl: one object per line ---- */
static int get_string(json_t *obj, const char *key, const char *path, long line, int required,
                      const char **out, size_t *len) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (!required) {
            *out = "";
            if (len) *len = 0;
            return 0;
        }
        return rt_err("%s:%ld: no \"%s\" field%s", path, line, key, v ? " (it is null)" : "");
    }
    if (!json_is_string(v)) return rt_err("%s:%ld: field \"%s\" is not a string", path, line, key);
    *out = json_string_value(v);
    if (len) *len = json_string_length(v);
    return 0;
}

static int load_jsonl(builder_t *b, const char *path, const char *buf, size_t len,
                      const char *text_column) {
    const char *p = buf, *end = buf + len;
    long line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        const char *l = p;
        p = nl ? nl + 1 : end;
        if (line == 1 && le - l >= 3 && !memcmp(l, "\xEF\xBB\xBF", 3)) l += 3;
        if (is_blank(l, le)) continue;  /* e.g. the empty line after a final newline */
        json_error_t jerr;
        json_t *obj = json_loadb(l, (size_t)(le - l), JSON_ALLOW_NUL, &jerr);
        if (!obj)
            return rt_err("%s:%ld: invalid JSON: %s (column %d)", path, line, jerr.text,
                          jerr.column);
        int rc = 0;
        if (!json_is_object(obj)) {
            rc = rt_err("%s:%ld: expected a JSON object, got %s", path, line,
                        json_is_array(obj) ? "an array" : "a scalar");
        } else if (b->alpaca) {
            const char *instr = NULL, *input = NULL, *output = NULL;
            size_t out_len = 0;
            if (get_string(obj, "instruction", path, line, 1, &instr, NULL) ||
                get_string(obj, "input", path, line, 0, &input, NULL) ||
                get_string(obj, "output", path, line, 1, &output, &out_len))
                rc = -1;
            else if (add_alpaca_doc(b, instr, input, output, out_len) != 0)
                rc = rt_err("%s:%ld: tokenising failed", path, line);
        } else {
            const char *text;
            size_t tlen;
            if (get_string(obj, text_column, path, line, 1, &text, &tlen) != 0)
                rc = -1;
            else if (add_plain_doc(b, text, tlen) != 0)
                rc = rt_err("%s:%ld: tokenising failed", path, line);
        }
        json_decref(obj);
        if (rc) return rc;
    }
    return 0;
}

/* ---- files ---- */
static int has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcasecmp(s + n - k, suf);
}

static int load_file(builder_t *b, const rt_settings_t *s, const char *path) {
    const char *fmt = s->data_format && *s->data_format ? s->data_format : "auto";
    if (!strcmp(fmt, "auto")) {
        if (has_suffix(path, ".txt")) fmt = "txt";
        else if (has_suffix(path, ".jsonl")) fmt = "jsonl";
        else if (has_suffix(path, ".parquet")) fmt = "parquet";
        else
            return rt_err("%s: cannot tell the format from the file name (expected .txt or "
                          ".jsonl); set data.format or pass --data-format", path);
    }
    if (!strcmp(fmt, "parquet"))
        return rt_err("%s: parquet is not supported by this build yet (txt and jsonl only)", path);
    if (strcmp(fmt, "txt") && strcmp(fmt, "jsonl"))
        return rt_err("data format '%s' unknown (expected auto, txt, jsonl or parquet)", fmt);
    if (b->alpaca && !strcmp(fmt, "txt"))
        return rt_err("%s: prompt_template alpaca needs jsonl rows with instruction/input/output, "
                      "not a txt file", path);
    size_t len;
    char *buf = rt_read_file(path, &len);
    if (!buf) return -1;
    const char *col = s->text_column && *s->text_column ? s->text_column : "text";
    int rc = !strcmp(fmt, "txt") ? load_txt(b, path, buf, len) : load_jsonl(b, path, buf, len, col);
    free(buf);
    return rc;
}

static int has_glob_chars(const char *p) { return strpbrk(p, "*?[") != NULL; }

rt_data_t *rt_data_open(const rt_settings_t *s, const rt_tokenizer_t *tok, int split) {
    const char *src = s->data_source && *s->data_source ? s->data_source : "local";
    if (!strcmp(src, "hf") || !strcmp(src, "url")) {
        const char *what = !strcmp(src, "hf") ? s->dataset : s->data_url;
        rt_err("data.source '%s'%s%s%s: this build reads local files only; set data.source: "
               "local with data.paths, or pass --data PATH", src, what ? " (" : "",
               what ? what : "", what ? ")" : "");
        return NULL;
    }
    if (strcmp(src, "local")) {
        rt_err("data.source '%s' unknown (expected local, hf or url)", src);
        return NULL;
    }
    if (s->n_data_paths <= 0) {
        rt_err("no data files: set data.paths in the spec or pass --data PATH");
        return NULL;
    }
    const char *tmpl = s->prompt_template && *s->prompt_template ? s->prompt_template : "none";
    if (strcmp(tmpl, "none") && strcmp(tmpl, "alpaca")) {
        rt_err("data.prompt_template '%s' unknown (expected none or alpaca)", tmpl);
        return NULL;
    }
    if (!(s->validation_fraction >= 0 && s->validation_fraction < 1)) {
        rt_err("data.validation.fraction is %g: expected a number in [0, 1)",
               s->validation_fraction);
        return NULL;
    }

    builder_t b = {.tok = tok, .eos = rt_tokenizer_eos(tok), .split = split,
                   .val_fraction = s->validation_fraction, .alpaca = !strcmp(tmpl, "alpaca")};
    const char *first_file = NULL;
    char *first_copy = NULL;
    int nfiles = 0, ok = 1;
    for (int i = 0; i < s->n_data_paths && ok; i++) {
        const char *pat = s->data_paths[i];
        if (!has_glob_chars(pat)) {
            if (load_file(&b, s, pat) != 0) ok = 0;
            if (!first_file) first_file = pat;
            nfiles++;
            continue;
        }
        glob_t g;
        int rc = glob(pat, 0, NULL, &g);
        if (rc == GLOB_NOMATCH) {
            rt_err("data path '%s' matches no file", pat);
            ok = 0;
        } else if (rc != 0) {
            rt_err("data path '%s': glob failed (%s)", pat,
                   rc == GLOB_NOSPACE ? "out of memory" : "read error");
            ok = 0;
        } else {
            for (size_t k = 0; k < g.gl_pathc && ok; k++) {
                if (load_file(&b, s, g.gl_pathv[k]) != 0) ok = 0;
                if (!first_copy) first_copy = strdup(g.gl_pathv[k]);
                nfiles++;
            }
        }
        if (rc != GLOB_NOMATCH) globfree(&g);
        if (!first_file) first_file = first_copy;
    }
    if (ok && b.n == 0) {
        char more[48] = "";
        if (nfiles > 1) snprintf(more, sizeof more, " (and %d more files)", nfiles - 1);
        if (split == RT_SPLIT_VAL)
            rt_err("validation split of %s%s is empty: raise data.validation.fraction (now %g)",
                   first_file ? first_file : "?", more, s->validation_fraction);
        else if (b.doc_index > 0)
            rt_err("training split of %s%s is empty: every document went to validation; lower "
                   "data.validation.fraction (now %g)", first_file ? first_file : "?", more,
                   s->validation_fraction);
        else
            rt_err("%s%s holds no documents", first_file ? first_file : "?", more);
        ok = 0;
    }
    free(first_copy);
    if (!ok) {
        free(b.ids);
        free(b.start);
        free(b.resp);
        return NULL;
    }
    rt_data_t *d = rt_calloc(1, sizeof *d);
    d->split = split;
    d->vocab = rt_tokenizer_vocab_size(tok);
    /* Give back the slack of the doubling growth (up to half the buffer). */
    int32_t *ids = realloc(b.ids, b.n * sizeof(int32_t));
    d->tok = ids ? ids : b.ids;
    d->start = b.start;
    d->resp = b.resp;
    d->n = (int64_t)b.n;
    d->ndocs = b.ndocs;
    return d;
}

void rt_data_close(rt_data_t *d) {
    if (!d) return;
    free(d->tok);
    free(d->start);
    free(d->resp);
    free(d);
}

int rt_data_next(rt_data_t *d, int B, int T, int32_t *tokens, int32_t *targets, float *mask,
                 uint8_t *doc_start) {
    if (!d || B <= 0 || T <= 0 || !tokens || !targets)
        return rt_err("rt_data_next: bad arguments (B=%d, T=%d)", B, T);
    const int64_t n = d->n;
    for (int b = 0; b < B; b++) {
        int64_t j = d->pos;
        size_t row = (size_t)b * (size_t)T;
        for (int t = 0; t < T; t++) {
            int64_t jn = j + 1 == n ? 0 : j + 1;
            tokens[row + t] = d->tok[j];
            targets[row + t] = d->tok[jn];
            if (mask) mask[row + t] = d->resp ? (float)bit_get(d->resp, jn) : 1.0f;
            if (doc_start) doc_start[row + t] = (uint8_t)bit_get(d->start, j);
            j = jn;
        }
        int64_t next = d->pos + T;
        if (d->split == RT_SPLIT_TRAIN) d->epoch += next / n;
        d->pos = next % n;
    }
    return 0;
}

int64_t rt_data_epoch(const rt_data_t *d) { return d->epoch; }
void rt_data_rewind(rt_data_t *d) {
    d->pos = 0;
    d->epoch = 0;
}
int64_t rt_data_position(const rt_data_t *d) { return d->pos; }
int rt_data_seek(rt_data_t *d, int64_t position, int64_t epoch) {
    if (position < 0 || position >= d->n || epoch < 0)
        return rt_err("data position %lld (epoch %lld) is outside this split of %lld tokens: "
                      "was the checkpoint written with other data?", (long long)position,
                      (long long)epoch, (long long)d->n);
    d->pos = position;
    d->epoch = epoch;
    return 0;
}
int64_t rt_data_num_tokens(const rt_data_t *d) { return d->n; }
int64_t rt_data_num_docs(const rt_data_t *d) { return d->ndocs; }

double rt_data_unigram_entropy(const rt_data_t *d) {
    int64_t *count = rt_calloc((size_t)d->vocab, sizeof(int64_t));
    int64_t total = 0;
    for (int64_t j = 0; j < d->n; j++) {
        if (d->resp && !bit_get(d->resp, j)) continue;
        int32_t id = d->tok[j];
        if (id >= 0 && id < d->vocab) {
            count[id]++;
            total++;
        }
    }
    double h = 0;
    for (int v = 0; v < d->vocab; v++) {
        if (!count[v]) continue;
        double p = (double)count[v] / (double)total;
        h -= p * log(p);
    }
    free(count);
    return h;
}
