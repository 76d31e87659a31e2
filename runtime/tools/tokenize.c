/* tokenize: text on stdin -> token ids on stdout (space-separated), or with
 * --decode, ids on stdin -> text on stdout.
 *
 *   tokenize --tokenizer T [--decode] [--stats] [--no-special]
 *
 * T is a tokenizer.json, a directory with encoder.json + vocab.bpe (or a
 * tokenizer.json), or "bytes" (ids 0..255 are the bytes, 256 is EOS).
 * --stats prints the token count and the single-threaded encode speed to
 * stderr. --no-special encodes special added tokens ("<|endoftext|>") found
 * in the text as ordinary text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bpe.h"
#include "rt.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: tokenize --tokenizer T [--decode] [--stats] [--no-special]\n"
               "  T: tokenizer.json | DIR (encoder.json + vocab.bpe, or tokenizer.json) | bytes | hf:OWNER/NAME\n"
               "  text on stdin -> ids on stdout; with --decode, ids on stdin -> text on stdout\n");
}

static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    if (!buf) return NULL;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *p = realloc(buf, 2 * cap + 1);
            if (!p) { free(buf); return NULL; }
            buf = p;
            cap *= 2;
        }
    }
    if (ferror(f)) { free(buf); return NULL; }
    buf[n] = 0;
    *len = n;
    return buf;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ids from whitespace-separated decimal text; -1 with a message on bad input */
static int parse_ids(const char *text, size_t len, int32_t **ids, size_t *n)
{
    size_t cap = 1024;
    *ids = malloc(cap * sizeof **ids);
    *n = 0;
    if (!*ids) { fprintf(stderr, "error: out of memory\n"); return -1; }
    const char *p = text, *end = text + len;
    while (p < end) {
        if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') { p++; continue; }
        char *e;
        errno = 0;
        long v = strtol(p, &e, 10);
        if (e == p || errno || v < 0 || v > INT32_MAX ||
            (e < end && !(*e == ' ' || *e == '\n' || *e == '\t' || *e == '\r'))) {
            const char *q = p;
            while (q < end && q - p < 20 && !(*q == ' ' || *q == '\n' || *q == '\t' || *q == '\r')) q++;
            fprintf(stderr, "error: stdin: \"%.*s\" is not a token id (ids are non-negative integers)\n",
                    (int)(q - p), p);
            return -1;
        }
        if (*n == cap) {
            int32_t *q = realloc(*ids, 2 * cap * sizeof *q);
            if (!q) { fprintf(stderr, "error: out of memory\n"); return -1; }
            *ids = q;
            cap *= 2;
        }
        (*ids)[(*n)++] = (int32_t)v;
        p = e;
    }
    return 0;
}

static int write_ids(const int32_t *ids, size_t n)
{
    char buf[1 << 16];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > sizeof buf - 16) { fwrite(buf, 1, k, stdout); k = 0; }
        if (i) buf[k++] = ' ';
        char d[12];
        int nd = 0;
        uint32_t v = (uint32_t)ids[i];               /* ids are never negative */
        do { d[nd++] = (char)('0' + v % 10); v /= 10; } while (v);
        while (nd) buf[k++] = d[--nd];
    }
    buf[k++] = '\n';
    fwrite(buf, 1, k, stdout);
    return fflush(stdout) ? -1 : 0;
}

int main(int argc, char **argv)
{
    const char *tok = NULL;
    int decode = 0, stats = 0, no_special = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) tok = argv[++i];
        else if (!strncmp(argv[i], "--tokenizer=", 12)) tok = argv[i] + 12;
        else if (!strcmp(argv[i], "--decode")) decode = 1;
        else if (!strcmp(argv[i], "--stats")) stats = 1;
        else if (!strcmp(argv[i], "--no-special")) no_special = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        else {
            fprintf(stderr, "error: unknown argument \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!tok) {
        fprintf(stderr, "error: --tokenizer is required\n");
        usage(stderr);
        return 2;
    }
    static char fetched[4096];
    if (!strncmp(tok, "hf:", 3)) {
        /* the repo's tokenizer.json, through the Hub client's cache (HF_HOME, HF_ENDPOINT, HF_TOKEN) */
        if (rt_tokenizer_fetch_hf(tok, fetched, sizeof fetched) != 0) return 1;
        tok = fetched;
    }
    int is_bytes = !strcmp(tok, "bytes");
    bpe_t *b = NULL;
    if (!is_bytes) {
        char err[512];
        b = bpe_load(tok, err, sizeof err);
        if (!b) { fprintf(stderr, "error: %s\n", err); return 1; }
        if (no_special) bpe_set_special_in_text(b, 0);
    }
    size_t len;
    char *text = read_all(stdin, &len);
    if (!text) { fprintf(stderr, "error: stdin: cannot read it (%s)\n", strerror(errno)); bpe_free(b); return 1; }
    int rc = 0;
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    if (decode) {
        if (parse_ids(text, len, &ids, &n)) { rc = 1; goto done; }
        if (is_bytes) {
            for (size_t i = 0; i < n; i++)
                if (ids[i] > 256) {
                    fprintf(stderr, "error: id %d is not in the vocabulary of bytes (0..256)\n", ids[i]);
                    rc = 1;
                    goto done;
                }
            for (size_t i = 0; i < n; i++)
                if (ids[i] < 256) putchar(ids[i]);       /* 256 (EOS) prints nothing */
        } else {
            size_t outlen, l;
            for (size_t i = 0; i < n; i++)
                if (!bpe_token_bytes(b, ids[i], &l)) {
                    fprintf(stderr, "error: id %d is not in the vocabulary of %s (size %d)\n", ids[i], tok,
                            bpe_vocab_size(b));
                    rc = 1;
                    goto done;
                }
            char *out = bpe_decode(b, ids, n, &outlen);
            if (!out) { fprintf(stderr, "error: out of memory\n"); rc = 1; goto done; }
            fwrite(out, 1, outlen, stdout);
            free(out);
        }
        if (fflush(stdout)) { fprintf(stderr, "error: stdout: %s\n", strerror(errno)); rc = 1; }
        goto done;
    }
    double t0 = now();
    if (is_bytes) {
        ids = malloc((len ? len : 1) * sizeof *ids);
        if (!ids) { fprintf(stderr, "error: out of memory\n"); rc = 1; goto done; }
        for (size_t i = 0; i < len; i++) ids[i] = (uint8_t)text[i];
        n = len;
    } else if (bpe_encode(b, text, len, &ids, &n, &cap)) {
        fprintf(stderr, "error: out of memory while encoding\n");
        rc = 1;
        goto done;
    }
    double dt = now() - t0;
    if (stats)
        fprintf(stderr, "%zu bytes -> %zu tokens in %.3f s: %.2fM tokens/s, %.1f MB/s (one thread)\n", len, n,
                dt, dt > 0 ? (double)n / dt / 1e6 : 0.0, dt > 0 ? (double)len / dt / 1e6 : 0.0);
    if (write_ids(ids, n)) { fprintf(stderr, "error: stdout: %s\n", strerror(errno)); rc = 1; }
done:
    free(ids);
    free(text);
    bpe_free(b);
    return rc;
}
