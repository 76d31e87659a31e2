/* rt_data_source.c: which files a split reads, and how each is cut into units.
 *
 * Sources: local paths and globs (txt, jsonl, parquet), one URL (`url`), or a
 * Hub dataset (`hf`: its config/split's parquet files, listed by hub.c at
 * the commit main pointed to when the run started). Listing opens no file;
 * src_file_open does, once per file and on first need: a parquet footer (one
 * or two range reads) gives the row groups, a text file is mapped (or, from
 * a URL, downloaded) and scanned once for document boundaries. Either way
 * the file ends up as units whose rows and split counts are known before any
 * document is decoded. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_data_priv.h"

/* A text file from a URL is downloaded whole; beyond this, use parquet. */
#define MAX_URL_TEXT ((size_t)4 << 30)

static char *xstrdup(const char *s) {
    char *p = strdup(s ? s : "");
    if (!p) rt_die("out of memory copying a string");
    return p;
}

static void fmt_err(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fmt_err(char *err, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
}

int src_in_split(const source_t *s, int file, int64_t row) {
    uint64_t h = rt_splitmix64(((uint64_t)file << 40) | (uint64_t)row);
    int in_val = (double)(h >> 11) * 0x1.0p-53 < s->val_fraction;
    return in_val == (s->split == RT_SPLIT_VAL);
}

uint64_t src_total_bytes(const source_t *s) {
    uint64_t t = 0;
    for (int i = 0; i < s->n_files; i++) t += s->files[i].size;
    return t;
}

/* ---- formats ---- */
static int has_suffix(const char *s, size_t n, const char *suf) {
    size_t k = strlen(suf);
    return n >= k && !strncasecmp(s + n - k, suf, k);
}

/* The format of `name` (a path or a URL, whose query is ignored); -1 with
 * a message when neither the name nor data.format tell. */
static int format_of(const char *name, const char *fmt, int alpaca) {
    int f = -1;
    if (fmt && *fmt && strcmp(fmt, "auto")) {
        if (!strcmp(fmt, "txt")) f = FMT_TXT;
        else if (!strcmp(fmt, "jsonl")) f = FMT_JSONL;
        else if (!strcmp(fmt, "parquet")) f = FMT_PARQUET;
        else return rt_err("data format '%s' unknown (expected auto, txt, jsonl or parquet)", fmt);
    } else {
        size_t n = strcspn(name, "?#");
        if (has_suffix(name, n, ".txt")) f = FMT_TXT;
        else if (has_suffix(name, n, ".jsonl")) f = FMT_JSONL;
        else if (has_suffix(name, n, ".parquet")) f = FMT_PARQUET;
        else
            return rt_err("%s: cannot tell the format from the file name (expected .txt, .jsonl or "
                          ".parquet); set data.format or pass --data-format", name);
    }
    if (alpaca && f == FMT_TXT)
        return rt_err("%s: prompt_template alpaca needs jsonl or parquet rows with "
                      "instruction/input/output, not a txt file", name);
    return f;
}

static void add_file(source_t *s, int *cap, const char *name, const char *url, uint64_t size,
                     int fmt) {
    if (s->n_files == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        s->files = realloc(s->files, (size_t)*cap * sizeof *s->files);
        if (!s->files) rt_die("out of memory listing data files");
    }
    src_file_t *f = &s->files[s->n_files++];
    memset(f, 0, sizeof *f);
    f->name = xstrdup(name);
    f->url = url ? xstrdup(url) : NULL;
    f->size = size;
    f->fmt = fmt;
    f->col[0] = f->col[1] = f->col[2] = -1;
}

static int add_local(source_t *s, int *cap, const char *path, const char *fmt) {
    struct stat st;
    if (stat(path, &st) != 0) return rt_err("%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return rt_err("%s: is a directory, expected a file", path);
    int f = format_of(path, fmt, s->alpaca);
    if (f < 0) return -1;
    add_file(s, cap, path, NULL, (uint64_t)st.st_size, f);
    return 0;
}

static int list_local(source_t *s, const rt_settings_t *st) {
    if (st->n_data_paths <= 0) return rt_err("no data files: set data.paths in the spec or pass --data PATH");
    int cap = 0;
    for (int i = 0; i < st->n_data_paths; i++) {
        const char *pat = st->data_paths[i];
        if (!strpbrk(pat, "*?[")) {
            if (add_local(s, &cap, pat, st->data_format) != 0) return -1;
            continue;
        }
        glob_t g;
        int rc = glob(pat, 0, NULL, &g);
        if (rc == GLOB_NOMATCH) return rt_err("data path '%s' matches no file", pat);
        if (rc != 0)
            return rt_err("data path '%s': glob failed (%s)", pat,
                          rc == GLOB_NOSPACE ? "out of memory" : "read error");
        for (size_t k = 0; k < g.gl_pathc && rc == 0; k++)
            if (add_local(s, &cap, g.gl_pathv[k], st->data_format) != 0) rc = -1;
        globfree(&g);
        if (rc) return -1;
    }
    return 0;
}

/* ---- Hub ---- */
static int hub_for(source_t *s, const rt_data_options_t *opt) {
    hub_config_t cfg;
    char err[512];
    if (opt && opt->hub_config) cfg = *(const hub_config_t *)opt->hub_config;
    else if (hub_config_from_env(&cfg, err, sizeof err) != 0) return rt_err("%s", err);
    cfg.quiet = 1;  /* we print the errors ourselves, once, with the data source's name */
    s->hub = hub_open(&cfg, err, sizeof err);
    if (!s->hub) return rt_err("%s", err);
    return 0;
}

/* The commit `main` points to, from the X-Repo-Commit of the dataset card
 * (hub_fetch_small_file keeps the card under snapshots/<commit>/). "" when
 * the repo has no card or the server names no commit. */
static void pin_revision(source_t *s) {
    char path[4096];
    s->revision[0] = '\0';
    if (hub_fetch_small_file(s->hub, "datasets", s->dataset, "main", "README.md", path, sizeof path))
        return;
    const char *p = strstr(path, "/snapshots/");
    if (!p) return;
    p += 11;
    size_t n = strcspn(p, "/");
    if (n != 40 || strspn(p, "0123456789abcdef") < 40) return;
    memcpy(s->revision, p, 40);
    s->revision[40] = '\0';
}

static int list_hf(source_t *s, const rt_settings_t *st, const char *revision) {
    if (!st->dataset || !*st->dataset)
        return rt_err("data.source hf needs data.dataset (OWNER/NAME)");
    s->dataset = xstrdup(st->dataset);
    s->config = xstrdup(st->data_config && *st->data_config ? st->data_config : "default");
    s->hf_split = xstrdup(st->data_split && *st->data_split ? st->data_split : "train");
    if (revision && *revision) snprintf(s->revision, sizeof s->revision, "%s", revision);
    else pin_revision(s);
    hub_file_t *hf = NULL;
    int n = 0;
    if (hub_list_parquet(s->hub, s->dataset, s->revision[0] ? s->revision : "main", s->config,
                         s->hf_split, &hf, &n) != 0)
        return rt_err("data.dataset %s (config %s, split %s): %s", s->dataset, s->config,
                      s->hf_split, hub_last_error());
    int cap = 0;
    for (int i = 0; i < n; i++) add_file(s, &cap, hf[i].path, hf[i].url, hf[i].size, FMT_PARQUET);
    hub_files_free(hf, n);
    return 0;
}

static int list_url(source_t *s, const rt_settings_t *st) {
    const char *url = st->data_url;
    if (!url || !*url) return rt_err("data.source url needs data.url");
    int f = format_of(url, st->data_format, s->alpaca);
    if (f < 0) return -1;
    uint64_t size = 0;
    if (f == FMT_PARQUET && hub_file_size(s->hub, url, &size) != 0)
        return rt_err("data.url: %s", hub_last_error());
    int cap = 0;
    add_file(s, &cap, url, url, size, f);
    return 0;
}

/* FNV-1a over what identifies the data a split reads. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t fingerprint(const source_t *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv(h, &s->kind, sizeof s->kind);
    h = fnv(h, s->text_column, strlen(s->text_column) + 1);
    h = fnv(h, &s->alpaca, sizeof s->alpaca);
    h = fnv(h, &s->val_fraction, sizeof s->val_fraction);
    for (int i = 0; i < s->n_files; i++) {
        h = fnv(h, s->files[i].name, strlen(s->files[i].name) + 1);
        h = fnv(h, &s->files[i].size, sizeof s->files[i].size);
    }
    return h;
}

int src_open(source_t *s, const rt_settings_t *st, const rt_tokenizer_t *tok, int split,
             const rt_data_options_t *opt, const char *revision) {
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->split = split;
    s->val_fraction = st->validation_fraction;
    s->tok = tok;
    s->eos = rt_tokenizer_eos(tok);
    s->text_column = xstrdup(st->text_column && *st->text_column ? st->text_column : "text");
    s->unit_bytes = opt && opt->unit_bytes > 0 ? (size_t)opt->unit_bytes : (size_t)1 << 20;
    const char *tmpl = st->prompt_template && *st->prompt_template ? st->prompt_template : "none";
    if (strcmp(tmpl, "none") && strcmp(tmpl, "alpaca"))
        return rt_err("data.prompt_template '%s' unknown (expected none or alpaca)", tmpl);
    s->alpaca = !strcmp(tmpl, "alpaca");
    if (!(s->val_fraction >= 0 && s->val_fraction < 1))
        return rt_err("data.validation.fraction is %g: expected a number in [0, 1)", s->val_fraction);
    const char *src = st->data_source && *st->data_source ? st->data_source : "local";
    int rc;
    if (!strcmp(src, "local")) {
        s->kind = SRC_LOCAL;
        rc = list_local(s, st);
    } else if (!strcmp(src, "hf")) {
        s->kind = SRC_HF;
        rc = hub_for(s, opt) || list_hf(s, st, revision) ? -1 : 0;
    } else if (!strcmp(src, "url")) {
        s->kind = SRC_URL;
        rc = hub_for(s, opt) || list_url(s, st) ? -1 : 0;
    } else {
        return rt_err("data.source '%s' unknown (expected local, hf or url)", src);
    }
    if (rc) return -1;
    char desc[1200];
    if (s->kind == SRC_HF)
        snprintf(desc, sizeof desc, "%s (config %s, split %s)", s->dataset, s->config, s->hf_split);
    else if (s->n_files > 1)
        snprintf(desc, sizeof desc, "%.1000s (and %d more files)", s->files[0].name, s->n_files - 1);
    else
        snprintf(desc, sizeof desc, "%.1000s", s->n_files ? s->files[0].name : "?");
    s->desc = xstrdup(desc);
    if (s->n_files == 0) return rt_err("%s holds no files", s->desc);
    s->fingerprint = fingerprint(s);
    return 0;
}

void src_close(source_t *s) {
    for (int i = 0; i < s->n_files; i++) {
        src_file_t *f = &s->files[i];
        if (f->mapped) munmap(f->buf, f->len);
        else free(f->buf);
        if (f->pq) pq_close(f->pq);
        free(f->units);
        free(f->name);
        free(f->url);
    }
    free(s->files);
    if (s->hub) hub_close(s->hub);
    free(s->text_column);
    free(s->desc);
    free(s->dataset);
    free(s->config);
    free(s->hf_split);
    pthread_mutex_destroy(&s->mu);
    memset(s, 0, sizeof *s);
}

/* ---- opening one file ---- */
typedef struct {
    unit_t *v;
    int n, cap;
} units_t;

static unit_t *push_unit(units_t *u) {
    if (u->n == u->cap) {
        u->cap = u->cap ? u->cap * 2 : 16;
        u->v = realloc(u->v, (size_t)u->cap * sizeof *u->v);
        if (!u->v) rt_die("out of memory listing data units");
    }
    unit_t *x = &u->v[u->n++];
    memset(x, 0, sizeof *x);
    return x;
}

static int is_blank(const char *p, const char *e) {
    for (; p < e; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r') return 0;
    return 1;
}

int text_is_blank(const char *p, const char *e) { return is_blank(p, e); }

/* As rt_data.c always did: in paragraph mode a document is a run of
 * non-blank lines, else each non-blank line is one; the text runs from the
 * first byte of its first line to the end of its last, less trailing '\r'. */
int txt_next_doc(const char **pp, const char *end, int paragraphs, const char **doc, size_t *len) {
    const char *l = *pp, *d = NULL, *de = NULL;
    while (l < end) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        const char *le = nl ? nl : end;
        int blank = is_blank(l, le);
        if (!blank) {
            if (!d) d = l;
            de = le;
        }
        l = nl ? nl + 1 : end;
        if (d && (blank || !paragraphs || l >= end)) {
            while (de > d && de[-1] == '\r') de--;
            *doc = d;
            *len = (size_t)(de - d);
            *pp = l;
            return 1;
        }
    }
    *pp = end;
    return 0;
}

/* Paragraph mode when some blank line separates two non-blank lines. */
static int txt_paragraphs(const char *p, const char *end) {
    int seen_text = 0, blank_after_text = 0;
    for (const char *l = p; l < end;) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        const char *le = nl ? nl : end;
        if (is_blank(l, le)) {
            if (seen_text) blank_after_text = 1;
        } else {
            if (blank_after_text) return 1;
            seen_text = 1;
        }
        l = nl ? nl + 1 : end;
    }
    return 0;
}

static int64_t count_lines(const char *p, const char *e) {
    int64_t n = 0;
    while (p < e && (p = memchr(p, '\n', (size_t)(e - p)))) n++, p++;
    return n;
}

/* Cuts a text file into units of whole documents, about unit_bytes each. */
static void scan_text(source_t *s, int fi, src_file_t *f, units_t *u) {
    if (!f->len) return;  /* an empty file: no units */
    const char *base = f->buf, *end = f->buf + f->len, *p = base;
    if (f->len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) p += 3;  /* UTF-8 byte-order mark */
    if (f->fmt == FMT_TXT) f->paragraphs = txt_paragraphs(p, end);
    int64_t row = 0, line = 1;
    unit_t *cur = NULL;
    const char *ustart = p;
    while (p < end) {
        if (!cur) {
            cur = push_unit(u);
            cur->off = (size_t)(p - base);
            cur->row0 = row;
            cur->line0 = line;
            ustart = p;
        }
        int got;
        const char *after;
        if (f->fmt == FMT_TXT) {
            const char *doc;
            size_t dl;
            const char *q = p;
            got = txt_next_doc(&q, end, f->paragraphs, &doc, &dl);
            after = q;
        } else {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *le = nl ? nl : end;
            got = !is_blank(p, le);
            after = nl ? nl + 1 : end;
        }
        line += count_lines(p, after);
        if (got) {
            if (src_in_split(s, fi, row)) cur->nsplit++;
            row++;
            cur->nrows++;
        }
        p = after;
        if ((size_t)(p - ustart) >= s->unit_bytes || p >= end) {
            cur->len = (size_t)(p - base) - cur->off;
            cur = NULL;
        }
    }
    /* A unit of blank lines only holds no rows: drop it. */
    if (u->n && u->v[u->n - 1].nrows == 0) u->n--;
    f->nrows = row;
}

static int open_text(source_t *s, int fi, src_file_t *f, units_t *u, char *err, size_t errlen) {
    if (f->url) {
        char *body = NULL;
        size_t len = 0;
        if (hub_get(s->hub, f->url, MAX_URL_TEXT, &body, &len) != 0) {
            fmt_err(err, errlen, "data.url: %s", hub_last_error());
            return -1;
        }
        f->buf = body;
        f->len = len;
        f->size = len;
    } else {
        int fd = open(f->name, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            fmt_err(err, errlen, "%s: %s", f->name, strerror(errno));
            if (fd >= 0) close(fd);
            return -1;
        }
        if (st.st_size > 0) {
            void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (m == MAP_FAILED) {
                fmt_err(err, errlen, "%s: mmap: %s", f->name, strerror(errno));
                close(fd);
                return -1;
            }
            madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
            f->buf = m;
            f->len = (size_t)st.st_size;
            f->mapped = 1;
        }
        close(fd);
    }
    scan_text(s, fi, f, u);
    return 0;
}

static void column_names(const pq_file_t *pq, char *out, size_t n) {
    size_t used = 0;
    out[0] = '\0';
    for (int c = 0; c < pq_num_columns(pq) && used + 1 < n; c++)
        used += (size_t)snprintf(out + used, n - used, "%s%s", c ? ", " : "", pq_column_name(pq, c));
}

static int open_parquet(source_t *s, int fi, src_file_t *f, units_t *u, char *err, size_t errlen) {
    char perr[DATA_ERR];
    perr[0] = '\0';
    if (f->url) {
        f->hsrc.hub = s->hub;
        f->hsrc.url = f->url;
        f->pq = pq_open_reader(hub_read_at, &f->hsrc, f->size, f->name, perr, sizeof perr);
        if (!f->pq) {
            const char *why = hub_last_error();
            fmt_err(err, errlen, "%s%s%s", perr, *why ? ": " : "", why);
            return -1;
        }
    } else {
        f->pq = pq_open_file(f->name, perr, sizeof perr);
        if (!f->pq) {
            fmt_err(err, errlen, "%s", perr);
            return -1;
        }
    }
    const char *want[3] = {s->text_column, NULL, NULL};
    if (s->alpaca) want[0] = "instruction", want[1] = "input", want[2] = "output";
    for (int k = 0; k < 3; k++) {
        if (!want[k]) continue;
        f->col[k] = pq_find_column(f->pq, want[k]);
        if (f->col[k] < 0 && !(s->alpaca && k == 1)) {  /* alpaca's input may be absent */
            char names[512];
            column_names(f->pq, names, sizeof names);
            fmt_err(err, errlen, "%s: no column '%s'%s (columns: %s)", f->name, want[k],
                    s->alpaca ? " for prompt_template alpaca" : "; set data.text_column", names);
            pq_close(f->pq);
            f->pq = NULL;
            return -1;
        }
    }
    int64_t row = 0;
    for (int g = 0; g < pq_num_row_groups(f->pq); g++) {
        int64_t n = pq_row_group_num_rows(f->pq, g);
        if (n <= 0) continue;
        unit_t *x = push_unit(u);
        x->rg = g;
        x->row0 = row;
        x->nrows = n;
        for (int64_t r = row; r < row + n; r++) x->nsplit += src_in_split(s, fi, r);
        row += n;
    }
    f->nrows = row;
    return 0;
}

int src_file_open(source_t *s, int fi, char *err, size_t errlen) {
    pthread_mutex_lock(&s->mu);
    src_file_t *f = &s->files[fi];
    int rc = 0;
    if (!f->opened) {
        units_t u = {0};
        rc = f->fmt == FMT_PARQUET ? open_parquet(s, fi, f, &u, err, errlen)
                                   : open_text(s, fi, f, &u, err, errlen);
        if (rc == 0) {
            f->units = u.v;
            f->n_units = u.n;
            f->nsplit = 0;
            for (int i = 0; i < u.n; i++) f->nsplit += u.v[i].nsplit;
            f->opened = 1;
        } else {
            free(u.v);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}
