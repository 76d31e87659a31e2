/* spec_yaml.c: reading a libyaml document against a fixed schema, with
 * positions for every error (see spec_yaml.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec_yaml.h"

#define MAX_SHOWN 20            /* error lines printed; the rest are counted */
#define MAX_SPEC_BYTES (1 << 20)

/* ---- error collection ---------------------------------------------------- */

void sy_report_at(sy_ctx_t *c, int line, int col, const char *path, const char *fmt, ...) {
                  char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* values from the file are quoted in messages: keep each error one line */
    for (char *q = msg; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f) *q = '?';
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        sy_diag_t *t = realloc(c->d, (size_t)cap * sizeof *t);
        if (!t) { c->oom = true; return; }
        c->d = t;
        c->cap = cap;
    }
    char *text = NULL;
    if (asprintf(&text, "%s:%d:%d: %s: %s", c->file, line, col, path, msg) < 0) {
        c->oom = true;
        return;
    }
    c->d[c->n] = (sy_diag_t){line, col, c->n, text};
    c->n++;
}

static int diag_cmp(const void *a, const void *b) {
    const sy_diag_t *x = a, *y = b;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    if (x->col != y->col) return x->col < y->col ? -1 : 1;
    return x->seq - y->seq;
}

void sy_flush(sy_ctx_t *c, FILE *err) {
    if (c->n) qsort(c->d, (size_t)c->n, sizeof *c->d, diag_cmp);
    for (int i = 0; i < c->n; i++) {
        if (err && i < MAX_SHOWN) fprintf(err, "%s\n", c->d[i].text);
        free(c->d[i].text);
    }
    if (err && c->n > MAX_SHOWN)
        fprintf(err, "%s: %d more errors not shown\n", c->file, c->n - MAX_SHOWN);
    if (err && c->oom) fprintf(err, "%s: out of memory while reporting errors\n", c->file);
    free(c->d);
    c->d = NULL;
    c->n = c->cap = 0;
}

/* ---- nodes ----------------------------------------------------------------- */

yaml_node_t *sy_node(sy_ctx_t *c, int i) { return yaml_document_get_node(c->doc, i); }
const char *sy_sval(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }
bool sy_is_plain(const yaml_node_t *n) {
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

bool sy_is_null(const yaml_node_t *n) {
    if (!sy_is_plain(n)) return false;
    const char *s = sy_sval(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* What a node is, for "expected X, got Y" messages. `buf` >= 80 bytes. */
const char *sy_describe(const yaml_node_t *n, char *buf) {
    if (n->type == YAML_MAPPING_NODE) return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE) return "a list";
    if (sy_is_null(n)) return "nothing";
    char v[48];
    size_t k = 0;
    const unsigned char *s = n->data.scalar.value;
    for (size_t i = 0; i < n->data.scalar.length && k < 40; i++)
        v[k++] = (s[i] >= 0x20 && s[i] != 0x7f) ? (char)s[i] : '?';
    v[k] = 0;
    const char *more = n->data.scalar.length > 40 ? "..." : "";
    if (sy_is_plain(n)) snprintf(buf, 80, "'%s%s'", v, more);
    else snprintf(buf, 80, "the quoted string \"%s%s\"", v, more);
    return buf;
}

/* Optimal string alignment distance: a swap of two neighbours counts as one
 * edit, the commonest typo in key names (d_modle). */
static int edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > 40 || m > 40) return 99;
    int d[41][41];
    for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[n][m];
}

static bool in_list(const char *const *list, const char *s) {
    for (; *list; list++)
        if (!strcmp(*list, s)) return true;
    return false;
}

/* ---- mappings -------------------------------------------------------------- */

/* Keys are printed inside "FILE:LINE:COL: key.path:", so anything but word
 * characters becomes '?' there (the message quotes the key as written). */
void sy_key_path(const sy_map_t *m, const char *key, char out[160]) {
    snprintf(out, 160, "%.60s%s%.60s", m->path, *m->path ? "." : "", key);
    for (char *q = out; *q; q++)
        if (!((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') ||
              *q == '_' || *q == '.' || *q == '-' || *q == '<'))
            *q = '?';
}

static void unknown_key(sy_map_t *m, const yaml_node_t *k, const char *kp, const char *const *known) {
    const char *key = sy_sval(k);
    if (!strcmp(key, "<<")) {
        sy_report(m->c, k->start_mark, kp, "YAML merge keys (<<) are not supported; write the keys out");
        return;
    }
    const char *best = NULL;
    int bd = 3;
    for (const char *const *p = known; *p; p++) {
        int d = edit_distance(key, *p);
        if (d < bd && d < (int)strlen(key)) { bd = d; best = *p; }
    }
    if (best) {
        sy_report(m->c, k->start_mark, kp, "unknown key '%s' (did you mean '%s'?)", key, best);
        return;
    }
    /* a right key in the wrong mapping: point to where it belongs */
    char elsewhere[256] = "";
    size_t len = 0;
    const sy_schema_t *sc = m->c->schema;
    for (int i = 0; i < m->c->n_schema; i++)
        if (strcmp(sc[i].path, m->path) && in_list(sc[i].keys, key) && len < 160)
            len += (size_t)snprintf(elsewhere + len, sizeof elsewhere - len, "%s%s%s%s",
                                    len ? " or " : "", sc[i].path, *sc[i].path ? "." : "", key);
    if (len) {
        sy_report(m->c, k->start_mark, kp, "unknown key '%s' here (did you mean %s?)", key, elsewhere);
        return;
    }
    char all[512];
    size_t a = 0;
    all[0] = 0;
    for (const char *const *p = known; *p && a < sizeof all; p++)
        a += (size_t)snprintf(all + a, sizeof all - a, "%s%s", a ? ", " : "", *p);
    sy_report(m->c, k->start_mark, kp, "unknown key '%s' (known keys here: %s)", key, all);
}

/* Reports keys that are not scalars, repeated, or not in `known`. */
void sy_check_keys(sy_map_t *m, const char *const *known) {
    sy_ctx_t *c = m->c;
    yaml_node_pair_t *first = m->n->data.mapping.pairs.start, *top = m->n->data.mapping.pairs.top;
    char buf[80], kp[160];
    for (yaml_node_pair_t *p = first; p < top; p++) {
        yaml_node_t *k = sy_node(c, p->key);
        if (!k) continue;
        if (k->type != YAML_SCALAR_NODE || sy_is_null(k)) {
            sy_report(c, k->start_mark, *m->path ? m->path : "yaml", "a key must be a word, got %s",
                      sy_describe(k, buf));
            continue;
        }
        sy_key_path(m, sy_sval(k), kp);
        bool dup = false;
        for (yaml_node_pair_t *q = first; q < p && !dup; q++) {
            yaml_node_t *k2 = sy_node(c, q->key);
            if (k2 && k2->type == YAML_SCALAR_NODE && !strcmp(sy_sval(k2), sy_sval(k))) {
                sy_report(c, k->start_mark, kp, "duplicate key '%s' (first given at line %d)", sy_sval(k),
                          (int)k2->start_mark.line + 1);
                dup = true;
            }
        }
        if (!dup && !in_list(known, sy_sval(k))) unknown_key(m, k, kp, known);
    }
}

/* The value of `key` (first occurrence), or NULL when absent. */
yaml_node_t *sy_get(const sy_map_t *m, const char *key) {
    if (!m->n) return NULL;
    for (yaml_node_pair_t *p = m->n->data.mapping.pairs.start; p < m->n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = sy_node(m->c, p->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp(sy_sval(k), key)) return sy_node(m->c, p->value);
    }
    return NULL;
}

/* Where a cross-field error about `key` should point: its value, or the
 * mapping when the key was left to its default. */
yaml_mark_t sy_mark_of(const sy_map_t *m, const char *key) {
    yaml_node_t *v = sy_get(m, key);
    return v ? v->start_mark : m->mark;
}

void sy_open_map(sy_map_t *parent, const char *key, const char *const *known, bool required, sy_map_t *out) {
    memset(out, 0, sizeof *out);
    out->c = parent->c;
    snprintf(out->path, sizeof out->path, "%.60s%s%.60s", parent->path, *parent->path ? "." : "", key);
    out->mark = parent->mark;
    out->ok = parent->ok;
    if (!parent->ok) return;
    yaml_node_t *v = sy_get(parent, key);
    char buf[80];
    if (!v) {
        if (required) {
            sy_report(parent->c, parent->mark, out->path, "missing required key '%s'", key);
            out->ok = false;
        }
        return;
    }
    if (v->type != YAML_MAPPING_NODE) {
        sy_report(parent->c, v->start_mark, out->path, "expected a mapping of keys, got %s", sy_describe(v, buf));
        out->ok = false;
        return;
    }
    out->n = v;
    out->mark = v->start_mark;
    sy_check_keys(out, known);
}

/* The mapping under `key` without checking its keys again (for checks that
 * run after the sections were read); n is NULL unless it is a mapping. */
void sy_peek_map(const sy_map_t *parent, const char *key, sy_map_t *out) {
    yaml_node_t *v = sy_get(parent, key);
    *out = *parent;
    snprintf(out->path, sizeof out->path, "%.60s%s%.60s", parent->path, *parent->path ? "." : "", key);
    out->n = v && v->type == YAML_MAPPING_NODE ? v : NULL;
    if (out->n) out->mark = v->start_mark;
}

/* The value node of `key` ready for type checks: NULL when absent (then *ok
 * says whether that is fine) or when it is null (an error). */
yaml_node_t *sy_value(sy_map_t *m, const char *key, bool required, const char *why, char kp[160], bool *ok) {
    sy_key_path(m, key, kp);
    *ok = m->ok;
    if (!m->ok) return NULL;
    yaml_node_t *v = sy_get(m, key);
    if (!v) {
        if (required) {
            sy_report(m->c, m->mark, kp, "missing required key '%s'%s", key, why ? why : "");
            *ok = false;
        }
        return NULL;
    }
    if (sy_is_null(v)) {
        sy_report(m->c, v->start_mark, kp, "has no value (%s)",
                  required ? "a value is required" : "give one, or remove the key to use the default");
        *ok = false;
        return NULL;
    }
    return v;
}

/* ---- scalars ---------------------------------------------------------------- */

/* YAML 1.1 integer with optional '_' separators; no octal or hex spellings. */
bool sy_parse_int(sy_ctx_t *c, const yaml_node_t *v, const char *kp, const char *what, int64_t *out) {
    char buf[80];
    if (!sy_is_plain(v)) {
        if (v->type == YAML_SCALAR_NODE)
            sy_report(c, v->start_mark, kp, "expected %s, got %s (remove the quotes)", what, sy_describe(v, buf));
        else
            sy_report(c, v->start_mark, kp, "expected %s, got %s", what, sy_describe(v, buf));
        return false;
    }
    const char *s = sy_sval(v), *p = s;
    bool neg = *p == '-';
    if (*p == '-' || *p == '+') p++;
    bool good = *p >= '0' && *p <= '9';
    uint64_t x = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    bool overflow = false;
    int digits = 0;
    const char *d0 = p;
    for (; good && *p; p++) {
        if (*p == '_') {
            if (p[1] == 0 || p[1] == '_') good = false;
            continue;
        }
        if (*p < '0' || *p > '9') { good = false; break; }
        digits++;
        unsigned dv = (unsigned)(*p - '0');
        if (x > (lim - dv) / 10) overflow = true;
        else x = x * 10 + dv;
    }
    if (!good) {
        sy_report(c, v->start_mark, kp, "expected %s, got %s", what, sy_describe(v, buf));
        return false;
    }
    if (d0[0] == '0' && digits > 1) {
        sy_report(c, v->start_mark, kp, "leading zeros are not allowed (YAML 1.1 reads %s as octal)", s);
        return false;
    }
    if (overflow) {
        sy_report(c, v->start_mark, kp, "%s does not fit in a 64-bit integer", s);
        return false;
    }
    *out = neg ? (int64_t)(0 - x) : (int64_t)x;
    return true;
}

/* Decimal float: 1e-5, 1.0e-5, 0.02, 3, 1_000.5. No .inf or .nan. */
bool sy_parse_float(sy_ctx_t *c, const yaml_node_t *v, const char *kp, double *out) {
    char buf[80];
    if (!sy_is_plain(v)) {
        sy_report(c, v->start_mark, kp, "expected a number, got %s%s", sy_describe(v, buf),
                  v->type == YAML_SCALAR_NODE ? " (remove the quotes)" : "");
        return false;
    }
    const char *s = sy_sval(v), *p = s;
    char clean[72];
    size_t k = 0;
    int mant = 0;
    bool good = true;
    if (*p == '-' || *p == '+') clean[k++] = *p++;
    for (; *p && (*p == '_' || *p == '.' || (*p >= '0' && *p <= '9')); p++) {
        if (*p >= '0' && *p <= '9') mant++;
        if (*p == '_' && (k == 0 || clean[k - 1] < '0' || clean[k - 1] > '9')) good = false;
        if (*p != '_' && k < 64) clean[k++] = *p;
    }
    if (strchr(s, '.') != strrchr(s, '.')) good = false;
    if (*p == 'e' || *p == 'E') {
        clean[k++] = 'e';
        p++;
        if (*p == '-' || *p == '+') { if (k < 64) clean[k++] = *p; p++; }
        int ed = 0;
        for (; *p >= '0' && *p <= '9'; p++, ed++)
            if (k < 64) clean[k++] = *p;
        if (!ed) good = false;
    }
    if (*p || !mant || !good || k >= 64) {
        sy_report(c, v->start_mark, kp, "expected a number, got %s", sy_describe(v, buf));
        return false;
    }
    clean[k] = 0;
    errno = 0;
    double x = strtod(clean, NULL);
    if (errno == ERANGE || !isfinite(x)) {
        sy_report(c, v->start_mark, kp, "%s is out of the range of a double", s);
        return false;
    }
    *out = x + 0.0;   /* -0.0 -> 0.0, so both spell the same in the lock */
    return true;
}

bool sy_int(sy_map_t *m, const char *key, bool required, const char *why,
                    int64_t def, int64_t lo, int64_t hi, int64_t *out) {
    char kp[160];
    bool ok;
    *out = def;
    yaml_node_t *v = sy_value(m, key, required, why, kp, &ok);
    if (!v) return ok;
    int64_t x;
    if (!sy_parse_int(m->c, v, kp, "an integer", &x)) return false;
    if (x < lo || x > hi) {
        if (hi == INT64_MAX)
            sy_report(m->c, v->start_mark, kp, "must be >= %lld, got %s", (long long)lo, sy_sval(v));
        else
            sy_report(m->c, v->start_mark, kp, "must be between %lld and %lld, got %s", (long long)lo,
                      (long long)hi, sy_sval(v));
        return false;
    }
    *out = x;
    return true;
}

/* the same for fields stored as int (ranges keep them inside int) */
bool sy_i32(sy_map_t *m, const char *key, bool required, int def, int lo, int hi, int *out) {
    int64_t x;
    bool ok = sy_int(m, key, required, NULL, def, lo, hi, &x);
    *out = ok ? (int)x : def;
    return ok;
}

static bool in_range(sy_range_t r, double x) {
    switch (r) {
    case R_GT0: return x > 0;
    case R_GE0: return x >= 0;
    case R_UNIT_OPEN: return x >= 0 && x < 1;
    case R_UNIT: return x >= 0 && x <= 1;
    case R_HALF: return x >= 0 && x <= 0.5;
    default: return true;
    }
}

static const char *range_text(sy_range_t r) {
    switch (r) {
    case R_GT0: return "> 0";
    case R_GE0: return ">= 0";
    case R_UNIT_OPEN: return "in [0, 1)";
    case R_UNIT: return "in [0, 1]";
    case R_HALF: return "in [0, 0.5]";
    default: return "a number";
    }
}

bool sy_float(sy_map_t *m, const char *key, double def, sy_range_t r, double *out) {
    char kp[160];
    bool ok;
    *out = def;
    yaml_node_t *v = sy_value(m, key, false, NULL, kp, &ok);
    if (!v) return ok;
    double x;
    if (!sy_parse_float(m->c, v, kp, &x)) return false;
    if (!in_range(r, x)) {
        sy_report(m->c, v->start_mark, kp, "must be %s, got %s", range_text(r), sy_sval(v));
        return false;
    }
    *out = x;
    return true;
}

bool sy_bool(sy_map_t *m, const char *key, bool def, bool *out) {
    char kp[160], buf[80];
    bool ok;
    *out = def;
    yaml_node_t *v = sy_value(m, key, false, NULL, kp, &ok);
    if (!v) return ok;
    if (sy_is_plain(v) && !strcmp(sy_sval(v), "true")) { *out = true; return true; }
    if (sy_is_plain(v) && !strcmp(sy_sval(v), "false")) { *out = false; return true; }
    sy_report(m->c, v->start_mark, kp, "expected true or false, got %s (only these two spellings are accepted)",
              sy_describe(v, buf));
    return false;
}

/* One of `opts` (NULL-terminated); *out is the index. */
bool sy_enum(sy_map_t *m, const char *key, const char *const *opts, int def, int *out) {
    char kp[160], buf[80], all[160];
    bool ok;
    *out = def;
    yaml_node_t *v = sy_value(m, key, false, NULL, kp, &ok);
    if (!v) return ok;
    if (v->type == YAML_SCALAR_NODE)
        for (int i = 0; opts[i]; i++)
            if (!strcmp(sy_sval(v), opts[i])) { *out = i; return true; }
    size_t a = 0;
    for (int i = 0; opts[i]; i++) a += (size_t)snprintf(all + a, sizeof all - a, "%s%s", i ? ", " : "", opts[i]);
    sy_report(m->c, v->start_mark, kp, "must be one of %s; got %s", all, sy_describe(v, buf));
    return false;
}

/* Names, paths and URLs end up in emitted C strings and in one-line logs. */
static bool has_control(const yaml_node_t *v) {
    const unsigned char *p = v->data.scalar.value;
    for (size_t i = 0; i < v->data.scalar.length; i++)
        if (p[i] < 0x20 || p[i] == 0x7f) return true;
    return false;
}

static bool check_str(sy_ctx_t *c, const yaml_node_t *v, const char *kp, const char *what) {
    char buf[80];
    if (v->type != YAML_SCALAR_NODE || sy_is_null(v)) {
        sy_report(c, v->start_mark, kp, "expected %s, got %s", what, sy_describe(v, buf));
        return false;
    }
    if (!*sy_sval(v)) {
        sy_report(c, v->start_mark, kp, "expected %s, got an empty string", what);
        return false;
    }
    if (has_control(v)) {
        sy_report(c, v->start_mark, kp, "must not contain control characters (newline, tab, NUL, ...)");
        return false;
    }
    return true;
}

/* A string; *out is malloc'd (a copy of `def` when absent; NULL if def is). */
bool sy_str(sy_map_t *m, const char *key, bool required, const char *def, char **out) {
    char kp[160];
    bool ok;
    yaml_node_t *v = sy_value(m, key, required, NULL, kp, &ok);
    const char *s = def;
    if (v) {
        ok = check_str(m->c, v, kp, "a string");
        if (ok) s = sy_sval(v);
    }
    *out = s ? strdup(s) : NULL;
    if (s && !*out) m->c->oom = true;
    return ok;
}

static bool set_list(strlist_t *l, const char *const *items, int n, sy_ctx_t *c) {
    l->items = n ? calloc((size_t)n, sizeof *l->items) : NULL;
    l->n = 0;
    if (n && !l->items) { c->oom = true; return false; }
    for (int i = 0; i < n; i++) {
        if (!(l->items[i] = strdup(items[i]))) { c->oom = true; return false; }
        l->n++;
    }
    return true;
}

/* A list of non-empty strings; the defaults (NULL-terminated) when absent. */
bool sy_strlist(sy_map_t *m, const char *key, const char *const *defs, strlist_t *out) {
    char kp[160], buf[80];
    bool ok;
    memset(out, 0, sizeof *out);
    yaml_node_t *v = sy_value(m, key, false, NULL, kp, &ok);
    if (!v) {
        int n = 0;
        while (defs && defs[n]) n++;
        set_list(out, defs, n, m->c);
        return ok;
    }
    if (v->type != YAML_SEQUENCE_NODE) {
        sy_report(m->c, v->start_mark, kp, "expected a list of strings, got %s%s", sy_describe(v, buf),
                  v->type == YAML_SCALAR_NODE ? " (write it as a list: [\"...\"])" : "");
        return false;
    }
    yaml_node_item_t *it = v->data.sequence.items.start;
    int n = (int)(v->data.sequence.items.top - it);
    const char **items = calloc((size_t)n + 1, sizeof *items);
    if (!items) { m->c->oom = true; return false; }
    ok = true;
    for (int i = 0; i < n; i++) {
        yaml_node_t *e = sy_node(m->c, it[i]);
        if (!e) { ok = false; continue; }
        if (e->type != YAML_SCALAR_NODE || sy_is_null(e) || !*sy_sval(e)) {
            sy_report(m->c, e->start_mark, kp, "expected a list of strings; item %d is %s", i + 1,
                      e->type == YAML_SCALAR_NODE && !sy_is_null(e) ? "an empty string" : sy_describe(e, buf));
            ok = false;
        } else if (has_control(e)) {
            sy_report(m->c, e->start_mark, kp, "item %d contains control characters (newline, tab, NUL, ...)",
                      i + 1);
            ok = false;
        } else {
            items[i] = sy_sval(e);
        }
    }
    if (ok) set_list(out, items, n, m->c);
    free(items);
    return ok;
}

/* Exactly `n` numbers, each in range `r`. */
bool sy_numlist(sy_map_t *m, const char *key, int n, sy_range_t r, const double *defs, double *out) {
    char kp[160], buf[80];
    bool ok;
    for (int i = 0; i < n; i++) out[i] = defs[i];
    yaml_node_t *v = sy_value(m, key, false, NULL, kp, &ok);
    if (!v) return ok;
    if (v->type != YAML_SEQUENCE_NODE) {
        sy_report(m->c, v->start_mark, kp, "expected a list of %d numbers, got %s", n, sy_describe(v, buf));
        return false;
    }
    yaml_node_item_t *it = v->data.sequence.items.start;
    int got = (int)(v->data.sequence.items.top - it);
    if (got != n) {
        sy_report(m->c, v->start_mark, kp, "expected a list of exactly %d numbers, got %d item%s", n, got,
                  got == 1 ? "" : "s");
        return false;
    }
    double tmp[8];
    ok = true;
    for (int i = 0; i < n; i++) {
        yaml_node_t *e = sy_node(m->c, it[i]);
        if (!e || !sy_parse_float(m->c, e, kp, &tmp[i])) { ok = false; continue; }
        if (!in_range(r, tmp[i])) {
            sy_report(m->c, e->start_mark, kp, "item %d must be %s, got %s", i + 1, range_text(r), sy_sval(e));
            ok = false;
        }
    }
    if (ok)
        for (int i = 0; i < n; i++) out[i] = tmp[i];
    return ok;
}

/* Line and column of a byte offset, for reader errors (bad UTF-8) that
 * libyaml reports by offset only. */
static void offset_pos(const char *buf, size_t len, size_t off, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (buf[i] == '\n') { (*line)++; *col = 1; }
        else (*col)++;
    }
}

void sy_syntax_error(sy_ctx_t *c, yaml_parser_t *p, const char *buf, size_t len) {
    if (p->error == YAML_MEMORY_ERROR) {
        sy_report_at(c, 1, 1, "yaml", "out of memory while parsing");
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        int line, col;
        offset_pos(buf, len, p->problem_offset, &line, &col);
        sy_report_at(c, line, col, "yaml", "%s (the file must be UTF-8 text)", p->problem ? p->problem : "unreadable");
        return;
    }
    char ctxt[160] = "";
    if (p->context)
        snprintf(ctxt, sizeof ctxt, " (%s at line %d, column %d)", p->context,
                 (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    /* libyaml's message for a tab is cryptic; say what it is */
    const char *hint = "";
    size_t off = 0;
    for (size_t l = 0; l < p->problem_mark.line && off < len; off++)
        if (buf[off] == '\n') l++;
    off += p->problem_mark.column;
    if (off < len && buf[off] == '\t') hint = "; tabs are not allowed in YAML indentation, use spaces";
    else if (p->problem && strstr(p->problem, "mapping values are not allowed"))
        hint = "; check the indentation of this line and the one above";
    sy_report(c, p->problem_mark, "yaml", "%s%s%s", p->problem ? p->problem : "syntax error", ctxt, hint);
}

/* Reads the whole file; NULL after reporting why. */
char *sy_read_file(sy_ctx_t *c, const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        sy_report_at(c, 1, 1, "yaml", "cannot open the file: %s", strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_SPEC_BYTES + 1);
    if (!buf) {
        fclose(f);
        c->oom = true;
        return NULL;
    }
    size_t n = fread(buf, 1, MAX_SPEC_BYTES + 1, f);
    bool bad = ferror(f);
    fclose(f);
    if (bad || n > MAX_SPEC_BYTES) {
        sy_report_at(c, 1, 1, "yaml", bad ? "cannot read the file" : "file is larger than 1 MiB: not a spec");
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}
