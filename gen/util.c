/* util.c: see util.h. */
#include "util.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int write_file(const char *path, const char *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "gen: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (len && fwrite(data, 1, len, f) != len) {
        fprintf(stderr, "gen: cannot write %s: %s\n", path, strerror(errno));
        fclose(f);
        return -1;
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "gen: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

char *read_text_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "gen: cannot read %s: %s\n", path, strerror(errno));
        return NULL;
    }
    sb_t b = {0};
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) sb_printf(&b, "%.*s", (int)n, buf);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "gen: cannot read %s\n", path);
        sb_free(&b);
        return NULL;
    }
    if (!b.s) b.s = calloc(1, 1);
    if (len) *len = b.len;
    return b.s;
}

int make_dirs(const char *path) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) goto fail;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) goto fail;
    return 0;
fail:
    fprintf(stderr, "gen: cannot create folder %s: %s\n", tmp, strerror(errno));
    return -1;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(p);
}

int remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return 0;
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
