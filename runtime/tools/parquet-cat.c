/* parquet-cat: prints every value of one string column of a Parquet file,
 * one JSON string per line (`null` for nulls), row groups in order.
 *
 *   parquet-cat FILE COLUMN           the values
 *   parquet-cat --count FILE COLUMN   only rows, nulls, bytes and throughput
 *
 * The JSON matches Python's json.dumps(v, ensure_ascii=False), so the output
 * can be compared byte for byte with the .jsonl files that
 * tests/reference/make_parquet_fixtures.py writes. Bytes that are not valid
 * UTF-8 become U+FFFD. Errors go to stderr, naming the file; exit status 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parquet.h"

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const uint8_t *p, size_t n) {
    uint8_t c = p[0];
    size_t len;
    uint32_t min, cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; min = 0x80; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; min = 0x800; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; min = 0x10000; cp = c & 0x07; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

static void put_json(FILE *out, const uint8_t *p, size_t n) {
    size_t i = 0, run = 0;
    putc('"', out);
    while (i < n) {
        uint8_t c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) { i++; continue; }
        /* flush the plain run before p[i] */
        if (i > run) fwrite(p + run, 1, i - run, out);
        if (c >= 0x80) {
            size_t l = utf8_len(p + i, n - i);
            if (l) fwrite(p + i, 1, l, out);
            else fputs("\xef\xbf\xbd", out);  /* U+FFFD for an invalid byte */
            i += l ? l : 1;
        } else {
            switch (c) {
            case '"': fputs("\\\"", out); break;
            case '\\': fputs("\\\\", out); break;
            case '\n': fputs("\\n", out); break;
            case '\r': fputs("\\r", out); break;
            case '\t': fputs("\\t", out); break;
            case '\b': fputs("\\b", out); break;
            case '\f': fputs("\\f", out); break;
            default: fprintf(out, "\\u%04x", c); break;
            }
            i++;
        }
        run = i;
    }
    if (n > run) fwrite(p + run, 1, n - run, out);
    fputs("\"\n", out);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    int count = argc > 1 && !strcmp(argv[1], "--count");
    if (argc != 3 + count) {
        fprintf(stderr, "usage: parquet-cat [--count] FILE COLUMN\n");
        return 2;
    }
    const char *path = argv[1 + count], *name = argv[2 + count];
    char err[1024];
    double t0 = now();
    pq_file_t *f = pq_open_file(path, err, sizeof(err));
    if (!f) {
        fprintf(stderr, "parquet-cat: %s\n", err);
        return 1;
    }
    int col = pq_find_column(f, name);
    if (col < 0) {
        fprintf(stderr, "parquet-cat: %s: no top-level column '%s' (columns:", path, name);
        for (int i = 0; i < pq_num_columns(f); i++) fprintf(stderr, " %s", pq_column_name(f, i));
        fprintf(stderr, ")\n");
        pq_close(f);
        return 1;
    }
    static char obuf[1 << 20];
    setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
    int64_t rows = 0, nulls = 0;
    uint64_t bytes = 0;
    int rc = 0;
    for (int g = 0; g < pq_num_row_groups(f) && rc == 0; g++) {
        pq_column_reader_t *r = pq_column_open(f, g, col, err, sizeof(err));
        if (!r) {
            fprintf(stderr, "parquet-cat: %s\n", err);
            rc = 1;
            break;
        }
        const uint8_t *v;
        size_t n;
        int isnull, k;
        while ((k = pq_column_next(r, &v, &n, &isnull)) == 1) {
            rows++;
            if (isnull) nulls++;
            bytes += n;
            if (count) continue;
            if (isnull) fputs("null\n", stdout);
            else put_json(stdout, v, n);
        }
        if (k < 0) {
            fflush(stdout);
            fprintf(stderr, "parquet-cat: %s\n", pq_column_error(r));
            rc = 1;
        }
        pq_column_close(r);
    }
    if (count && rc == 0) {
        double dt = now() - t0;
        printf("rows %lld nulls %lld value_bytes %llu seconds %.3f MB/s %.1f values/s %.0f\n",
               (long long)rows, (long long)nulls, (unsigned long long)bytes, dt,
               dt > 0 ? (double)bytes / dt / 1e6 : 0.0, dt > 0 ? (double)rows / dt : 0.0);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "parquet-cat: writing the output failed\n");
        rc = 1;
    }
    pq_close(f);
    return rc;
}
