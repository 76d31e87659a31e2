/* util.c: see util.h. */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_vprintf(sb_t *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            fprintf(stderr, "gen: out of memory (%zu bytes)\n", cap);
            exit(1);
        }
        b->s = s;
        b->cap = cap;
    }
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void sb_printf(sb_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}

void sb_puts(sb_t *b, const char *s) { sb_printf(b, "%s", s); }

void sb_free(sb_t *b) {
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

const char *fmt_count(long long v) {
    static char slots[4][32];
    static int next;
    char *out = slots[next++ & 3];
    char tmp[32];
    int neg = v < 0;
    unsigned long long u = neg ? (unsigned long long)(-v) : (unsigned long long)v;
    int n = snprintf(tmp, sizeof tmp, "%llu", u);
    int o = 0;
    if (neg) out[o++] = '-';
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0) out[o++] = ',';
        out[o++] = tmp[i];
    }
    out[o] = 0;
    return out;
}
