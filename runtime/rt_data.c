/* rt_data.c: the token stream of a split -> rows of T+1 tokens.
 *
 * The stream is a sequence of blocks (rt_data_priv.h): each unit of the
 * source that holds documents of the split, tokenised, documents followed by
 * EOS. A block is labelled (epoch, idx): the epoch, and its index in the
 * epoch (-1 when not known, i.e. after restoring a state in a streaming
 * source, until the next epoch starts).
 *
 * Blocks come from the pipeline (rt_data_pipe.c) or from `all`, the first
 * `nall` blocks of an epoch kept in memory: every block for a source small
 * enough to be read whole at open (`complete`: the epoch is all there and the
 * pipeline is stopped), or what the validation split has read so far. The
 * window `win` holds the blocks from the one under the cursor onward; row
 * r starts at the cursor (win[0], k), takes T+1 tokens across blocks and
 * epochs, then the cursor moves T tokens on. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_data_priv.h"

#define DEFAULT_MEMORY_MB 64
#define VAL_RETAIN_TOKENS ((int64_t)1 << 26)  /* the validation split keeps this much */
#define EAGER_REMOTE_FILES 64                 /* hf: open every footer at start up to this */
#define ENTROPY_TOKENS ((int64_t)1 << 20)     /* streaming entropy estimate */
/* Blocks read ahead of the consumer. The validation split reads far ahead:
 * its blocks are small (a few documents of each unit) and a Hub dataset's
 * first evaluation would otherwise wait for many row groups in a row. */
#define VAL_DEPTH 256

typedef struct {
    block_t *b;
    int64_t epoch, idx;
    int64_t before;        /* tokens of the epoch before this block */
    int owned;             /* freed when it leaves the window (else it is in `all`) */
} ref_t;

struct rt_data {
    source_t src;
    int split, threads, vocab;
    rt_data_options_t opt;
    rt_settings_t set;     /* the data settings, strings owned below (to reopen at a commit) */
    char *strs[16 + RT_MAX_PATHS];
    int nstrs;
    const rt_tokenizer_t *tok;
    int64_t memory_bytes;
    int retain;            /* keep blocks in `all` */
    int64_t retain_cap;    /* ... up to this many tokens */
    block_t **all;
    int64_t *all_before;
    int64_t nall, capall, all_tokens;
    int complete;
    int64_t num_docs;      /* -1 when not every file is opened */
    pipe_t *pipe;
    int64_t pipe_epoch, pipe_idx;  /* label of the pipeline's next block (epoch -2: not placed) */
    ref_t *win;
    int nwin, capwin;
    size_t k;              /* cursor: token k of win[0] */
    int64_t nx_epoch, nx_idx, nx_before;  /* label of the next block to fetch */
    int32_t *rtok;         /* (T+1) a row being assembled */
    uint8_t *rflag;        /* (T+1) bit 0: document start, bit 1: loss target */
    size_t rcap;
    int failed;
};

/* ---- fetching blocks ---- */
static void retain_block(rt_data_t *d, block_t *b) {
    if (d->nall == d->capall) {
        d->capall = d->capall ? d->capall * 2 : 64;
        d->all = realloc(d->all, (size_t)d->capall * sizeof *d->all);
        d->all_before = realloc(d->all_before, (size_t)d->capall * sizeof *d->all_before);
        if (!d->all || !d->all_before) rt_die("out of memory keeping %lld data blocks", (long long)d->capall);
    }
    d->all[d->nall] = b;
    d->all_before[d->nall] = d->all_tokens;
    d->all_tokens += (int64_t)b->n;
    d->nall++;
}

static int fail(rt_data_t *d, const char *msg) {
    d->failed = 1;
    return rt_err("%s", msg);
}

static void start_pipe(rt_data_t *d) {
    int depth = 3 * d->threads + 2;
    if (d->split == RT_SPLIT_VAL && depth < VAL_DEPTH) depth = VAL_DEPTH;
    d->pipe = pipe_start(&d->src, d->threads, depth);
    /* While the epoch is being kept whole, the next one is never read. */
    if (d->retain) pipe_one_epoch(d->pipe, 1);
}

/* The block after the last one fetched. */
static int fetch(rt_data_t *d, ref_t *out) {
    if (d->nx_idx >= 0 && d->nx_idx < d->nall) {
        int64_t i = d->nx_idx;
        *out = (ref_t){d->all[i], d->nx_epoch, i, d->all_before[i], 0};
        if (d->complete && i == d->nall - 1) {
            d->nx_epoch++;
            d->nx_idx = d->nx_before = 0;
        } else {
            d->nx_idx = i + 1;
            d->nx_before = d->all_before[i] + (int64_t)d->all[i]->n;
        }
        return 0;
    }
    if (d->failed) return rt_err("%s: the data stream stopped at an earlier error", d->src.desc);
    if (!d->pipe) {
        start_pipe(d);
        d->pipe_epoch = -2;
    }
    if (d->pipe_epoch != d->nx_epoch || d->pipe_idx != d->nx_idx) {
        /* Only two places are ever asked for without a restart by the
         * caller: the start of an epoch, and just past the kept blocks. */
        if (d->nx_idx == 0 || d->nall == 0) {
            pipe_restart(d->pipe, 0, 0, d->nx_epoch, 0);
        } else if (d->nx_idx == d->nall) {
            const block_t *l = d->all[d->nall - 1];
            pipe_restart(d->pipe, l->file, l->unit + 1, d->nx_epoch, d->nall);
        } else {
            return fail(d, "internal error: the data pipeline lost its place");
        }
        d->pipe_epoch = d->nx_epoch;
        d->pipe_idx = d->nx_idx;
    }
    block_t *b = pipe_take(d->pipe);
    if (b->err) {
        int rc = fail(d, b->err);
        block_free(b);
        return rc;
    }
    *out = (ref_t){b, b->epoch, b->idx, d->nx_before, 1};
    if (b->last) {
        d->nx_epoch = b->epoch + 1;
        d->nx_idx = d->nx_before = 0;
    } else {
        d->nx_epoch = b->epoch;
        d->nx_idx = b->idx >= 0 ? b->idx + 1 : -1;
        d->nx_before += (int64_t)b->n;
    }
    d->pipe_epoch = d->nx_epoch;
    d->pipe_idx = d->nx_idx;
    if (d->retain && b->idx >= 0 && b->idx == d->nall && d->all_tokens + (int64_t)b->n <= d->retain_cap) {
        retain_block(d, b);
        out->owned = 0;
        if (b->last) {  /* the whole epoch is kept: no more reading */
            d->complete = 1;
            pipe_stop(d->pipe);
            d->pipe = NULL;
        }
    } else if (d->retain) {
        /* Not kept (too much, or a place after a restore): from here on it
         * is a plain stream, which goes on into the next epoch. */
        d->retain = 0;
        pipe_one_epoch(d->pipe, 0);
    }
    return 0;
}

/* Makes win[j] exist. */
static int ensure(rt_data_t *d, int j) {
    while (d->nwin <= j) {
        if (d->nwin == d->capwin) {
            d->capwin = d->capwin ? d->capwin * 2 : 16;
            d->win = realloc(d->win, (size_t)d->capwin * sizeof *d->win);
            if (!d->win) rt_die("out of memory growing the data window");
        }
        if (fetch(d, &d->win[d->nwin]) != 0) return -1;
        d->nwin++;
    }
    return 0;
}

static void pop_front(rt_data_t *d) {
    if (d->win[0].owned) block_free(d->win[0].b);
    memmove(d->win, d->win + 1, (size_t)(d->nwin - 1) * sizeof *d->win);
    d->nwin--;
}

static void clear_window(rt_data_t *d) {
    while (d->nwin) pop_front(d);
    d->k = 0;
}

/* The document of block b holding token k. */
static int64_t doc_at(const block_t *b, size_t k) {
    int64_t lo = 0, hi = b->ndocs - 1;
    while (lo < hi) {
        int64_t mid = (lo + hi + 1) / 2;
        if (b->doc_off[mid] <= k) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

/* tokens [k, k+n) of b into tok, their flags into flag. */
static void copy_span(const block_t *b, size_t k, size_t n, int32_t *tok, uint8_t *flag) {
    memcpy(tok, b->tok + k, n * sizeof(int32_t));
    int64_t j = doc_at(b, k);
    for (size_t i = 0; i < n; i++) {
        size_t p = k + i;
        while (p >= b->doc_off[j + 1]) j++;
        flag[i] = (uint8_t)((p == b->doc_off[j]) | ((p >= b->doc_resp[j]) << 1));
    }
}

/* ---- opening ---- */
static char *keep(rt_data_t *d, const char *s) {
    if (!s) return NULL;
    char *p = strdup(s);
    if (!p) rt_die("out of memory copying data settings");
    d->strs[d->nstrs++] = p;
    return p;
}

static void unload(rt_data_t *d) {
    if (d->pipe) pipe_stop(d->pipe);
    d->pipe = NULL;
    clear_window(d);
    for (int64_t i = 0; i < d->nall; i++) block_free(d->all[i]);
    d->nall = d->all_tokens = 0;
    d->complete = 0;
    src_close(&d->src);
}

static int open_file(rt_data_t *d, int f) {
    char err[DATA_ERR];
    if (src_file_open(&d->src, f, err, sizeof err) != 0) return rt_err("%s", err);
    return 0;
}

/* Lists and opens the source (at `revision` for hf), checks that the split
 * holds documents, and reads it whole when small enough. */
static int load(rt_data_t *d, const char *revision) {
    source_t *s = &d->src;
    if (src_open(s, &d->set, d->tok, d->split, &d->opt, revision) != 0) return -1;
    int eager = s->kind != SRC_HF ||
                s->n_files <= (d->opt.eager_files > 0 ? d->opt.eager_files : EAGER_REMOTE_FILES);
    int64_t docs = 0, rows = 0;
    int opened = 0;
    for (int f = 0; f < s->n_files && (eager || docs == 0); f++, opened++) {
        if (open_file(d, f) != 0) return -1;
        docs += s->files[f].nsplit;
        rows += s->files[f].nrows;
    }
    d->num_docs = opened == s->n_files ? docs : -1;
    if (docs == 0) {
        if (rows == 0) return rt_err("%s holds no documents", s->desc);
        if (d->split == RT_SPLIT_VAL)
            return rt_err("validation split of %s is empty: raise data.validation.fraction (now %g)",
                          s->desc, s->val_fraction);
        return rt_err("training split of %s is empty: every document went to validation; lower "
                      "data.validation.fraction (now %g)", s->desc, s->val_fraction);
    }
    int in_memory = d->memory_bytes > 0 && src_total_bytes(s) <= (uint64_t)d->memory_bytes;
    d->retain = in_memory || d->split == RT_SPLIT_VAL;
    d->retain_cap = in_memory ? INT64_MAX : VAL_RETAIN_TOKENS;
    d->nx_epoch = d->nx_idx = d->nx_before = 0;
    if (in_memory) {
        while (!d->complete) {
            ref_t r = {0};
            if (fetch(d, &r) != 0) return -1;
            if (r.owned) block_free(r.b);
        }
        d->nx_epoch = d->nx_idx = d->nx_before = 0;
    }
    return ensure(d, 0);
}

rt_data_t *rt_data_open_ex(const rt_settings_t *s, const rt_tokenizer_t *tok, int split,
                           const rt_data_options_t *opt) {
    rt_data_t *d = rt_calloc(1, sizeof *d);
    d->split = split;
    d->tok = tok;
    d->vocab = rt_tokenizer_vocab_size(tok);
    if (opt) d->opt = *opt;
    d->threads = d->opt.threads > 0 ? d->opt.threads : data_default_threads();
    d->memory_bytes = d->opt.memory_bytes;
    if (d->memory_bytes == 0) {
        const char *e = getenv("RT_DATA_MEMORY_MB");
        long long mb = e && *e ? atoll(e) : DEFAULT_MEMORY_MB;
        d->memory_bytes = (mb < 0 ? DEFAULT_MEMORY_MB : mb) << 20;
    }
    /* Our own copy of the data settings: a state may ask to list them again. */
    d->set.data_source = keep(d, s->data_source);
    for (int i = 0; i < s->n_data_paths && i < RT_MAX_PATHS; i++)
        d->set.data_paths[i] = keep(d, s->data_paths[i]);
    d->set.n_data_paths = s->n_data_paths < RT_MAX_PATHS ? s->n_data_paths : RT_MAX_PATHS;
    d->set.data_url = keep(d, s->data_url);
    d->set.data_format = keep(d, s->data_format);
    d->set.dataset = keep(d, s->dataset);
    d->set.data_config = keep(d, s->data_config);
    d->set.data_split = keep(d, s->data_split);
    d->set.text_column = keep(d, s->text_column);
    d->set.prompt_template = keep(d, s->prompt_template);
    d->set.validation_fraction = s->validation_fraction;
    if (load(d, NULL) != 0) {
        rt_data_close(d);
        return NULL;
    }
    return d;
}

rt_data_t *rt_data_open(const rt_settings_t *s, const rt_tokenizer_t *tok, int split) {
    return rt_data_open_ex(s, tok, split, NULL);
}

void rt_data_close(rt_data_t *d) {
    if (!d) return;
    unload(d);
    free(d->all);
    free(d->all_before);
    free(d->win);
    free(d->rtok);
    free(d->rflag);
    for (int i = 0; i < d->nstrs; i++) free(d->strs[i]);
    free(d);
}

int rt_data_threads(const rt_data_t *d) { return d->threads; }

/* ---- rows ---- */
int rt_data_next(rt_data_t *d, int B, int T, int32_t *tokens, int32_t *targets, float *mask,
                 uint8_t *doc_start) {
    if (!d || B <= 0 || T <= 0 || !tokens || !targets)
        return rt_err("rt_data_next: bad arguments (B=%d, T=%d)", B, T);
    if (d->failed || ensure(d, 0) != 0)
        return rt_err("%s: the data stream stopped at an earlier error", d->src.desc);
    size_t need = (size_t)T + 1;
    if (need > d->rcap) {
        d->rtok = realloc(d->rtok, need * sizeof(int32_t));
        d->rflag = realloc(d->rflag, need);
        if (!d->rtok || !d->rflag) rt_die("out of memory for a row of %zu tokens", need);
        d->rcap = need;
    }
    for (int r = 0; r < B; r++) {
        size_t got = 0, k = d->k;
        for (int j = 0; got < need;) {
            if (ensure(d, j) != 0) return -1;
            const block_t *b = d->win[j].b;
            size_t take = b->n - k < need - got ? b->n - k : need - got;
            copy_span(b, k, take, d->rtok + got, d->rflag + got);
            got += take;
            k += take;
            if (k == b->n) j++, k = 0;
        }
        size_t row = (size_t)r * (size_t)T;
        memcpy(tokens + row, d->rtok, (size_t)T * sizeof(int32_t));
        memcpy(targets + row, d->rtok + 1, (size_t)T * sizeof(int32_t));
        if (mask)
            for (int t = 0; t < T; t++) mask[row + t] = (float)((d->rflag[t + 1] >> 1) & 1);
        if (doc_start)
            for (int t = 0; t < T; t++) doc_start[row + t] = d->rflag[t] & 1;
        d->k += (size_t)T;
        while (d->k >= d->win[0].b->n) {
            d->k -= d->win[0].b->n;
            pop_front(d);
            if (ensure(d, 0) != 0) return -1;
        }
    }
    return 0;
}

int64_t rt_data_epoch(const rt_data_t *d) {
    if (d->split == RT_SPLIT_VAL || !d->nwin) return 0;
    return d->win[0].epoch;
}

int64_t rt_data_position(const rt_data_t *d) {
    return d->nwin ? d->win[0].before + (int64_t)d->k : 0;
}

void rt_data_rewind(rt_data_t *d) {
    clear_window(d);
    d->nx_epoch = d->nx_idx = d->nx_before = 0;
    ensure(d, 0);
}

int rt_data_seek(rt_data_t *d, int64_t position, int64_t epoch) {
    if (position < 0 || epoch < 0 || (d->complete && position >= d->all_tokens))
        return rt_err("data position %lld (epoch %lld) is outside this split of %lld tokens: "
                      "was the checkpoint written with other data?", (long long)position,
                      (long long)epoch, (long long)(d->complete ? d->all_tokens : -1));
    clear_window(d);
    if (d->complete) {
        int64_t lo = 0, hi = d->nall - 1;
        while (lo < hi) {
            int64_t mid = (lo + hi + 1) / 2;
            if (d->all_before[mid] <= position) lo = mid;
            else hi = mid - 1;
        }
        d->nx_epoch = epoch;
        d->nx_idx = lo;
        d->nx_before = d->all_before[lo];
        if (ensure(d, 0) != 0) return -1;
        d->k = (size_t)(position - d->all_before[lo]);
        return 0;
    }
    /* Streaming: read the epoch from its start up to the position. */
    if (position > ((int64_t)1 << 26))
        fprintf(stderr, "note: seeking to token %lld of %s reads the stream up to it (a saved "
                "rt_data_get_state restores at once)\n", (long long)position, d->src.desc);
    d->nx_epoch = epoch;
    d->nx_idx = d->nx_before = 0;
    for (;;) {
        if (ensure(d, 0) != 0) return -1;
        const ref_t *r = &d->win[0];
        if (r->epoch != epoch)
            return rt_err("data position %lld (epoch %lld) is past the end of this split's epoch "
                          "(%lld tokens): was the checkpoint written with other data?",
                          (long long)position, (long long)epoch, (long long)r->before);
        if (position < r->before + (int64_t)r->b->n) {
            d->k = (size_t)(position - r->before);
            return 0;
        }
        if (r->b->last) {
            int64_t n = r->before + (int64_t)r->b->n;
            return rt_err("data position %lld (epoch %lld) is outside this split of %lld tokens: "
                          "was the checkpoint written with other data?", (long long)position,
                          (long long)epoch, (long long)n);
        }
        pop_front(d);
    }
}

int64_t rt_data_num_tokens(const rt_data_t *d) { return d->complete ? d->all_tokens : -1; }
int64_t rt_data_num_docs(const rt_data_t *d) { return d->num_docs; }

static void count_targets(const block_t *b, size_t from, int64_t *count, int vocab, int64_t *total) {
    for (int64_t j = doc_at(b, from); j < b->ndocs; j++) {
        size_t lo = b->doc_resp[j] > from ? b->doc_resp[j] : from;
        for (size_t p = lo; p < b->doc_off[j + 1]; p++) {
            int32_t id = b->tok[p];
            if (id >= 0 && id < vocab) count[id]++, (*total)++;
        }
    }
}

double rt_data_unigram_entropy(const rt_data_t *cd) {
    /* Reading ahead into the window changes no position: the cast is safe. */
    rt_data_t *d = (rt_data_t *)cd;
    int64_t *count = rt_calloc((size_t)d->vocab, sizeof(int64_t));
    int64_t total = 0;
    if (d->complete) {
        for (int64_t i = 0; i < d->nall; i++) count_targets(d->all[i], 0, count, d->vocab, &total);
    } else {
        for (int j = 0; total < ENTROPY_TOKENS; j++) {
            if (ensure(d, j) != 0) {
                free(count);
                return NAN;
            }
            count_targets(d->win[j].b, j ? 0 : d->k, count, d->vocab, &total);
            if (d->win[j].b->last) break;
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

/* ---- states ---- */
int rt_data_get_state(const rt_data_t *d, char *buf, size_t n) {
    if (!d->nwin) return rt_err("%s: no data position to save (the stream stopped at an error)", d->src.desc);
    const ref_t *r = &d->win[0];
    const block_t *b = r->b;
    int64_t j = doc_at(b, d->k);
    const src_file_t *f = &d->src.files[b->file];
    const unit_t *u = &f->units[b->unit];
    int64_t row = b->doc_row[j] - (f->fmt == FMT_PARQUET ? u->row0 : 0);
    int len = snprintf(buf, n,
                       "rt-data-1 split=%s epoch=%lld pos=%lld file=%d rg=%d row=%lld tok=%lld "
                       "src=%016llx rev=%s",
                       d->split == RT_SPLIT_VAL ? "val" : "train", (long long)r->epoch,
                       (long long)(r->before + (int64_t)d->k), b->file, u->rg, (long long)row,
                       (long long)(d->k - b->doc_off[j]), (unsigned long long)d->src.fingerprint,
                       d->src.revision[0] ? d->src.revision : "-");
    if (len < 0 || (size_t)len >= n) return -1;
    return len;
}

/* The unit of file f holding row group rg (parquet) or document row (text). */
static int find_unit(const src_file_t *f, int rg, int64_t row) {
    for (int u = 0; u < f->n_units; u++) {
        const unit_t *x = &f->units[u];
        if (f->fmt == FMT_PARQUET ? x->rg == rg : (row >= x->row0 && row < x->row0 + x->nrows)) return u;
    }
    return -1;
}

int rt_data_set_state(rt_data_t *d, const char *state) {
    char split[16], rev[96], tail;
    long long epoch, pos, row, tok;
    unsigned long long fp;
    int file, rg;
    if (!state || sscanf(state, "rt-data-1 split=%15s epoch=%lld pos=%lld file=%d rg=%d row=%lld "
                         "tok=%lld src=%llx rev=%95s %c", split, &epoch, &pos, &file, &rg, &row,
                         &tok, &fp, rev, &tail) != 9 ||
        epoch < 0 || pos < 0 || file < 0 || rg < 0 || row < 0 || tok < 0)
        return rt_err("data state '%.200s' is malformed (expected \"rt-data-1 split=... epoch=... "
                      "pos=... file=... rg=... row=... tok=... src=... rev=...\")", state ? state : "");
    const char *want = d->split == RT_SPLIT_VAL ? "val" : "train";
    if (strcmp(split, want))
        return rt_err("data state is for the %s split, this is the %s split", split, want);
    source_t *s = &d->src;
    if (s->kind == SRC_HF && strcmp(rev, "-") && strcmp(rev, s->revision)) {
        /* The dataset moved on since the state was saved: read the saved commit. */
        fprintf(stderr, "note: %s: resuming at commit %s (main is now at %s)\n", s->desc, rev,
                s->revision[0] ? s->revision : "an unknown commit");
        unload(d);
        d->failed = 0;
        if (load(d, rev) != 0) return -1;
    }
    if (fp != s->fingerprint)
        return rt_err("data state was saved for other data (fingerprint %016llx, %s has %016llx): "
                      "the files, their sizes, the text column, the template or the validation "
                      "fraction differ", fp, s->desc, (unsigned long long)s->fingerprint);
    if (file >= s->n_files)
        return rt_err("data state names file %d but %s has %d files", file, s->desc, s->n_files);
    if (open_file(d, file) != 0) return -1;
    const src_file_t *f = &s->files[file];
    int u = find_unit(f, rg, row);
    if (u < 0 || (f->fmt != FMT_PARQUET && rg != 0) ||
        (f->fmt == FMT_PARQUET && row >= f->units[u].nrows))
        return rt_err("data state: %s has no row group %d, row %lld", f->name, rg, row);
    int64_t frow = f->fmt == FMT_PARQUET ? f->units[u].row0 + row : row;
    if (!src_in_split(s, file, frow))
        return rt_err("data state: row %lld of %s is not in the %s split", (long long)frow, f->name, want);

    clear_window(d);
    int64_t at = -1;
    for (int64_t i = 0; i < d->nall && at < 0; i++)
        if (d->all[i]->file == file && d->all[i]->unit == u) at = i;
    if (at >= 0) {
        d->nx_epoch = epoch;
        d->nx_idx = at;
        d->nx_before = d->all_before[at];
    } else {
        if (d->complete) return rt_err("data state: %s unit %d is not in the stream", f->name, u);
        if (!d->pipe) start_pipe(d);
        pipe_restart(d->pipe, file, u, epoch, -1);
        d->pipe_epoch = d->nx_epoch = epoch;
        d->pipe_idx = d->nx_idx = -1;
        d->nx_before = 0;
    }
    if (ensure(d, 0) != 0) return -1;
    ref_t *r = &d->win[0];
    const block_t *b = r->b;
    int64_t lo = 0, hi = b->ndocs - 1;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (b->doc_row[mid] < frow) lo = mid + 1;
        else hi = mid;
    }
    if (b->file != file || b->unit != u || b->doc_row[lo] != frow ||
        (size_t)tok >= b->doc_off[lo + 1] - b->doc_off[lo])
        return rt_err("data state: token %lld of row %lld of %s is not in the stream", tok,
                      (long long)frow, f->name);
    d->k = b->doc_off[lo] + (size_t)tok;
    if (at >= 0) {
        if (r->before + (int64_t)d->k != pos)
            return rt_err("data state: position %lld does not match row %lld of %s (token %lld "
                          "of the epoch): was it saved for other data?", pos, (long long)frow,
                          f->name, (long long)(r->before + (int64_t)d->k));
    } else {
        if ((int64_t)d->k > pos)
            return rt_err("data state: position %lld is before row %lld of %s", pos, (long long)frow,
                          f->name);
        r->before = pos - (int64_t)d->k;
        if (!b->last) d->nx_before = r->before + (int64_t)b->n;
    }
    return 0;
}
