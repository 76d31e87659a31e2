/* datacat: stream the data section of a spec through the training pipeline.
 *
 *   datacat SPEC [--docs N | --tokens N | --stats] [--split train|val]
 *                [--threads N] [--max-tokens N]
 *
 * --docs N     the first N documents, decoded, each under a header naming
 *              its file, row group and row (the default, N = 3)
 * --tokens N   the first N token ids (one line per document)
 * --stats      one pass over the split (or --max-tokens), streaming even a
 *              small source: documents, tokens, wall and CPU time (from the
 *              open on), documents/s and tokens/s, and tokens per CPU-second
 *              of the whole process (the per-core figure)
 * The rows are those the training program reads (rt_data_next, rows of
 * train.seq_len), from the same settings: the spec is read with the
 * generator's own reader (gen/spec.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "rt.h"
#include "spec.h"

/* The generator's spec reader is linked in from gen/ (see the Makefile);
 * weak references keep this tool linkable without it, and then it says so. */
#pragma weak spec_load
#pragma weak spec_free

static void usage(FILE *f) {
    fprintf(f, "usage: datacat SPEC [--docs N | --tokens N | --stats] [--split train|val] "
               "[--threads N] [--max-tokens N]\n"
               "  streams SPEC's data section through the training data pipeline\n"
               "  --docs N      print the first N documents (default 3)\n"
               "  --tokens N    print the first N token ids\n"
               "  --stats       documents, tokens and throughput of one pass\n"
               "  --split S     train (default) or val\n"
               "  --threads N   data worker threads (default: $RT_DATA_THREADS or min(4, cores-1))\n"
               "  --max-tokens N  stop --stats after N tokens\n");
}

static int parse_count(const char *flag, const char *v, long long *out) {
    char *end;
    long long n = v ? strtoll(v, &end, 10) : -1;
    if (!v || *end || n < 0) {
        fprintf(stderr, "error: %s: expected a count, got '%s'\n", flag, v ? v : "(nothing)");
        return -1;
    }
    *out = n;
    return 0;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

/* The settings the generated program would start from, for data only. */
static void settings_from_spec(const spec_t *sp, rt_settings_t *s) {
    memset(s, 0, sizeof *s);
    s->name = sp->name;
    s->seq_len = sp->train.seq_len;
    s->data_source = sp->data.source;
    for (int i = 0; i < sp->data.paths.n && i < RT_MAX_PATHS; i++) s->data_paths[i] = sp->data.paths.items[i];
    s->n_data_paths = sp->data.paths.n < RT_MAX_PATHS ? sp->data.paths.n : RT_MAX_PATHS;
    s->data_url = sp->data.url;
    s->data_format = sp->data.format;
    s->dataset = sp->data.dataset;
    s->data_config = sp->data.config;
    s->data_split = sp->data.split;
    s->text_column = sp->data.text_column;
    s->prompt_template = sp->data.prompt_template;
    s->validation_fraction = sp->data.validation_fraction;
    s->tokenizer = sp->tokenizer.name;
    s->seed = sp->train.seed;
}

static int show_docs(rt_data_t *d, const rt_tokenizer_t *tok, long long ndocs) {
    size_t cap = 4096, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids), t, tg;
    uint8_t start;
    char state[RT_DATA_STATE_MAX], where[RT_DATA_STATE_MAX] = "";
    long long doc = -1;
    for (;;) {
        rt_data_get_state(d, state, sizeof state);
        if (rt_data_next(d, 1, 1, &t, &tg, NULL, &start) != 0) return free(ids), -1;
        if (start || doc < 0) {
            if (doc >= 0) {
                size_t len = n && ids[n - 1] == rt_tokenizer_eos(tok) ? n - 1 : n;
                char *text = rt_tokenizer_decode(tok, ids, len);
                printf("=== document %lld (%s, %zu tokens with EOS) ===\n%s\n", doc, where, n, text);
                free(text);
            }
            if (++doc == ndocs) break;
            /* "... file=F rg=G row=R tok=0 ...": where this document comes from */
            const char *f = strstr(state, "file="), *e = strstr(state, " tok=");
            snprintf(where, sizeof where, "%.*s", f && e ? (int)(e - f) : 0, f ? f : "");
            n = 0;
        }
        if (n == cap) ids = realloc(ids, (cap *= 2) * sizeof *ids);
        ids[n++] = t;
    }
    free(ids);
    return 0;
}

static int show_tokens(rt_data_t *d, const rt_tokenizer_t *tok, long long ntok) {
    enum { T = 256 };
    int32_t t[T], tg[T];
    int32_t eos = rt_tokenizer_eos(tok);
    for (long long done = 0; done < ntok;) {
        if (rt_data_next(d, 1, T, t, tg, NULL, NULL) != 0) return -1;
        for (int i = 0; i < T && done < ntok; i++, done++)
            printf("%d%s", t[i], t[i] == eos || done + 1 == ntok ? "\n" : " ");
    }
    return 0;
}

/* c0, w0: CPU and wall clock before the open (which reads the footers and
 * starts the workers) */
static int stats(rt_data_t *d, const rt_settings_t *s, double c0, double w0, long long max_tokens) {
    int T = s->seq_len > 0 ? s->seq_len : 2048;
    int32_t *t = malloc(sizeof(int32_t) * (size_t)T), *tg = malloc(sizeof(int32_t) * (size_t)T);
    uint8_t *st = malloc((size_t)T);
    float *mk = malloc(sizeof(float) * (size_t)T);
    long long tokens = 0, docs = 0, targets = 0;
    int64_t pos = rt_data_position(d);
    for (;;) {
        if (rt_data_next(d, 1, T, t, tg, mk, st) != 0) return -1;
        int64_t now = rt_data_position(d);
        int wrapped = now < pos + T;  /* the pass ended inside this row, `now` tokens ago */
        long long n = wrapped ? T - now : T;
        for (long long i = 0; i < n; i++) docs += st[i], targets += mk[i] != 0;
        tokens += n;
        if (wrapped || (max_tokens > 0 && tokens >= max_tokens)) break;
        pos = now;
    }
    double wall = rt_now() - w0, cpu = cpu_seconds() - c0;
    printf("documents %lld, tokens %lld (%lld loss targets) in %.3f s\n", docs, tokens, targets,
           wall);
    printf("throughput: %.0f documents/s, %.0f tokens/s with %d worker threads\n",
           docs / (wall > 0 ? wall : 1e-9), tokens / (wall > 0 ? wall : 1e-9), rt_data_threads(d));
    printf("cpu: %.3f s, %.0f tokens per cpu-second (per core), %.0f documents per cpu-second\n", cpu,
           tokens / (cpu > 0 ? cpu : 1e-9), docs / (cpu > 0 ? cpu : 1e-9));
    free(t), free(tg), free(st), free(mk);
    return 0;
}

int main(int argc, char **argv) {
    const char *spec_path = NULL, *split = "train";
    long long docs = 3, ntok = -1, max_tokens = 0, threads = 0;
    int mode = 'd';
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout), 0;
        if (!strcmp(a, "--docs")) { if (parse_count(a, v, &docs)) return 2; mode = 'd'; i++; }
        else if (!strcmp(a, "--tokens")) { if (parse_count(a, v, &ntok)) return 2; mode = 't'; i++; }
        else if (!strcmp(a, "--stats")) mode = 's';
        else if (!strcmp(a, "--max-tokens")) { if (parse_count(a, v, &max_tokens)) return 2; i++; }
        else if (!strcmp(a, "--threads")) { if (parse_count(a, v, &threads)) return 2; i++; }
        else if (!strcmp(a, "--split")) {
            if (!v || (strcmp(v, "train") && strcmp(v, "val"))) {
                fprintf(stderr, "error: --split: expected train or val, got '%s'\n", v ? v : "(nothing)");
                return 2;
            }
            split = v;
            i++;
        } else if (a[0] == '-') {
            fprintf(stderr, "error: unknown flag '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (spec_path) {
            fprintf(stderr, "error: one spec only (got '%s' and '%s')\n", spec_path, a);
            return 2;
        } else {
            spec_path = a;
        }
    }
    if (!spec_path) return usage(stderr), 2;
    if (!spec_load) {
        fprintf(stderr, "error: this datacat was linked without the generator's spec reader "
                        "(gen/spec*.c); rebuild it with the generator objects\n");
        return 1;
    }
    spec_t sp;
    if (spec_load(spec_path, &sp, stderr) != 0) return 1;
    rt_settings_t s;
    settings_from_spec(&sp, &s);
    rt_tokenizer_t *tok = rt_tokenizer_open(s.tokenizer);
    if (!tok) return spec_free(&sp), 1;
    /* --stats measures the streaming pipeline, not a read-whole-at-open */
    rt_data_options_t opt = {.threads = (int)threads, .memory_bytes = mode == 's' ? -1 : 0};
    double t0 = rt_now(), c0 = cpu_seconds();
    rt_data_t *d = rt_data_open_ex(&s, tok, !strcmp(split, "val") ? RT_SPLIT_VAL : RT_SPLIT_TRAIN, &opt);
    int rc = 1;
    if (d) {
        fprintf(stderr, "%s: %s split, tokenizer %s (%d tokens), %lld documents%s, %d worker threads\n",
                spec_path, split, s.tokenizer, rt_tokenizer_vocab_size(tok),
                (long long)rt_data_num_docs(d), rt_data_num_docs(d) < 0 ? " (not known yet)" : "",
                rt_data_threads(d));
        rc = mode == 'd' ? show_docs(d, tok, docs)
             : mode == 't' ? show_tokens(d, tok, ntok < 0 ? 256 : ntok)
                           : stats(d, &s, c0, t0, max_tokens);
        rc = rc ? 1 : 0;
        rt_data_close(d);
    }
    rt_tokenizer_free(tok);
    spec_free(&sp);
    return rc;
}
