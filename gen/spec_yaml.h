/* spec_yaml.h: reading a libyaml document against a fixed schema, with
 * positions. Used by spec.c only (not part of the generator's interface).
 *
 * Errors are collected in an sy_ctx_t, not printed at once, so that every
 * independent problem of a file is reported, sorted by position, as
 * "FILE:LINE:COL: key.path: what is wrong" (LINE and COL 1-based).
 *
 * An sy_map_t is one mapping of the spec. The getters read one key of it:
 * absent -> the default; present -> type and range checked. Each returns
 * true when the value may be trusted (given and valid, or defaulted), false
 * after reporting an error or when the mapping itself was already wrong, so
 * cross-field checks can skip values that are not real. */
#ifndef GEN_SPEC_YAML_H
#define GEN_SPEC_YAML_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <yaml.h>

#include "spec.h"

typedef struct {
    int line, col, seq;         /* 1-based position; seq keeps report order */
    char *text;
} sy_diag_t;

/* The known keys of the mapping at `path` ("" = the root); used to say
 * where a misplaced key belongs. */
typedef struct {
    const char *path;
    const char *const *keys;    /* NULL-terminated */
} sy_schema_t;

typedef struct {
    const char *file;
    yaml_document_t *doc;
    const sy_schema_t *schema;
    int n_schema;
    sy_diag_t *d;
    int n, cap;
    bool oom;
} sy_ctx_t;

typedef struct {
    sy_ctx_t *c;
    yaml_node_t *n;     /* the mapping; NULL when absent (defaults apply) */
    bool ok;            /* false when the mapping itself is wrong or missing:
                           its keys are then neither read nor reported */
    char path[128];     /* dotted path; "" at the root */
    yaml_mark_t mark;   /* where "missing key" errors point */
} sy_map_t;

/* Allowed ranges of floats (the message names the range). */
typedef enum { R_ANY, R_GT0, R_GE0, R_UNIT_OPEN, R_UNIT, R_HALF } sy_range_t;

/* ---- errors ---- */
__attribute__((format(printf, 5, 6)))
void sy_report_at(sy_ctx_t *c, int line, int col, const char *path, const char *fmt, ...);
/* libyaml marks are 0-based; people count from 1 */
#define sy_report(c, mark, path, ...) \
    sy_report_at((c), (int)(mark).line + 1, (int)(mark).column + 1, (path), __VA_ARGS__)
/* Prints at most 20 errors (sorted) to err, then a count of the rest; frees them. */
void sy_flush(sy_ctx_t *c, FILE *err);

/* ---- the file ---- */
/* Whole file (NUL-terminated; at most 1 MiB); NULL after reporting why. */
char *sy_read_file(sy_ctx_t *c, const char *path, size_t *len);
/* Reports libyaml's parse error with its position and a hint where possible. */
void sy_syntax_error(sy_ctx_t *c, yaml_parser_t *p, const char *buf, size_t len);

/* ---- nodes ---- */
yaml_node_t *sy_node(sy_ctx_t *c, int i);
const char *sy_sval(const yaml_node_t *n);
bool sy_is_plain(const yaml_node_t *n);
bool sy_is_null(const yaml_node_t *n);          /* empty, ~ or null, unquoted */
/* "a list", "a mapping", "nothing", "'abc'"; buf >= 80 bytes */
const char *sy_describe(const yaml_node_t *n, char *buf);

/* ---- mappings ---- */
void sy_key_path(const sy_map_t *m, const char *key, char out[160]);
/* Reports keys that are not words, repeated, or not in `known`. */
void sy_check_keys(sy_map_t *m, const char *const *known);
/* Opens the mapping under `key` of parent and checks its keys. */
void sy_open_map(sy_map_t *parent, const char *key, const char *const *known, bool required, sy_map_t *out);
/* The same without checking keys again (for checks after the first pass). */
void sy_peek_map(const sy_map_t *parent, const char *key, sy_map_t *out);
yaml_node_t *sy_get(const sy_map_t *m, const char *key);          /* NULL when absent */
/* The value's position, or the mapping's when the key was left out. */
yaml_mark_t sy_mark_of(const sy_map_t *m, const char *key);
/* The value node, NULL when absent (*ok: whether that is fine) or null (an
 * error). `why` is appended to a missing-required-key message. */
yaml_node_t *sy_value(sy_map_t *m, const char *key, bool required, const char *why, char kp[160], bool *ok);

/* ---- scalars ---- */
/* `what` names the expectation in messages, e.g. "an integer". */
bool sy_parse_int(sy_ctx_t *c, const yaml_node_t *v, const char *kp, const char *what, int64_t *out);
bool sy_parse_float(sy_ctx_t *c, const yaml_node_t *v, const char *kp, double *out);
bool sy_int(sy_map_t *m, const char *key, bool required, const char *why,
            int64_t def, int64_t lo, int64_t hi, int64_t *out);
bool sy_i32(sy_map_t *m, const char *key, bool required, int def, int lo, int hi, int *out);
bool sy_float(sy_map_t *m, const char *key, double def, sy_range_t r, double *out);
bool sy_bool(sy_map_t *m, const char *key, bool def, bool *out);
/* One of `opts` (NULL-terminated); *out is its index. */
bool sy_enum(sy_map_t *m, const char *key, const char *const *opts, int def, int *out);
/* *out malloc'd: the value, or a copy of def when absent (NULL if def is). */
bool sy_str(sy_map_t *m, const char *key, bool required, const char *def, char **out);
/* Non-empty strings; a copy of defs (NULL-terminated, may be NULL) when absent. */
bool sy_strlist(sy_map_t *m, const char *key, const char *const *defs, strlist_t *out);
/* Exactly n numbers in range r; defs when absent. */
bool sy_numlist(sy_map_t *m, const char *key, int n, sy_range_t r, const double *defs, double *out);

#endif
