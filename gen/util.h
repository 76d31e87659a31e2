/* util.h: small helpers of the generator: a growable string buffer and
 * file/directory writes. */
#ifndef GEN_UTIL_H
#define GEN_UTIL_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char *s;
    size_t len, cap;
} sb_t;

void sb_printf(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_vprintf(sb_t *b, const char *fmt, va_list ap);
void sb_puts(sb_t *b, const char *s);
void sb_free(sb_t *b);
/* Thousands separators: 129135360 -> "129,135,360". Returns a static buffer slot (4 rotating). */
const char *fmt_count(long long v);

/* Writes `len` bytes to path (creating or truncating it). 0 or -1 with message to stderr. */
int write_file(const char *path, const char *data, size_t len);
/* Reads a whole text file (NUL-terminated). NULL + message on failure. */
char *read_text_file(const char *path, size_t *len);
/* mkdir -p */
int make_dirs(const char *path);
/* rm -rf (only used on folders gen itself created) */
int remove_tree(const char *path);

#endif
