/* util.h: small helpers of the generator: a growable string buffer and
 * number formatting (files and folders go through the runtime's rt_*
 * helpers, which gen links). */
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

#endif
