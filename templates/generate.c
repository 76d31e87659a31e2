/*@ banner @*/
/* generate.c: talk to a checkpoint of this variant. Recurrent mode: the
 * model keeps one conv window and one scan state per layer, so memory and
 * time per token are constant however long the text grows.
 *
 *   generate [--checkpoint DIR] [--prompt TEXT] [--max-tokens N] [--temperature X]
 *            [--top-k K] [--top-p P] [--seed S] [--no-stop] [--tokenizer T]
 *   generate --chat                   each line you type is an Alpaca instruction
 *   generate --eval FILE.jsonl        exact-match accuracy on Alpaca rows (greedy)
 *
 * Template: templates/generate.c; gen fills the marked insertion points. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "checkpoint.h"
#include "model.h"
#include "rt.h"
#include "sample.h"

static rt_settings_t settings = {
/*@ settings @*/
};

/* Encodes the prompt, then samples (see sample.h); returns the generated ids. */
static int32_t *generate(model_t *m, const rt_tokenizer_t *tok, sampler_t *s, const char *prompt, size_t *n_out,
                         double *tok_per_s, int echo) {
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    if (rt_tokenizer_encode(tok, prompt, strlen(prompt), &ids, &n, &cap) != 0) exit(1);
    int32_t *out = sample_ids(m, tok, s, ids, n, n_out, tok_per_s, echo);
    free(ids);
    return out;
}

static char *alpaca_prompt(const char *instruction, const char *input) {
    char *p = NULL;
    int rc;
    if (input && *input)
        rc = asprintf(&p,
                      "Below is an instruction that describes a task, paired with an input that provides further context. "
                      "Write a response that appropriately completes the request.\n\n### Instruction:\n%s\n\n### Input:\n%s\n\n"
                      "### Response:\n",
                      instruction, input);
    else
        rc = asprintf(&p,
                      "Below is an instruction that describes a task. Write a response that appropriately completes the "
                      "request.\n\n### Instruction:\n%s\n\n### Response:\n",
                      instruction);
    if (rc < 0) rt_die("out of memory");
    return p;
}

static void usage(const char *prog) {
    printf("usage: %s [options]\n"
           "Generates text from a checkpoint of variant %s (recurrent mode: constant memory per token).\n\n"
           "  --checkpoint DIR     checkpoint folder (default: %s/finetuned, else best, else last); Hugging Face\n"
           "                       Mamba checkpoints of the same shapes load too\n"
           "  --prompt TEXT        text to continue (default: empty)\n"
           "  --chat               interactive: each line is an Alpaca instruction; empty line or EOF quits\n"
           "  --eval FILE.jsonl    greedy exact-match accuracy on Alpaca rows (instruction, input, output)\n"
           "  --max-tokens N       tokens to generate (default 200)\n"
           "  --temperature X      0 = greedy (default 0.8)\n"
           "  --top-k K            sample among the K most likely (default 0 = all)\n"
           "  --top-p P            nucleus sampling mass (default 1 = off)\n"
           "  --seed S             sampling seed (default 1)\n"
           "  --no-stop            do not stop at <|endoftext|>\n"
           "  --tokenizer T        tokenizer (default: the spec's, %s)\n",
           prog, VARIANT_NAME, settings.checkpoint_dir, settings.tokenizer);
}

static const char *arg_value(int *i, int argc, char **argv) {
    if (*i + 1 >= argc) rt_die("%s needs a value (see --help)", argv[*i]);
    return argv[++*i];
}

static int is_dir_with_model(const char *dir) {
    char p[8400];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    FILE *f = fopen(p, "rb");
    if (f) fclose(f);
    return f != NULL;
}

int main(int argc, char **argv) {
    const char *ckpt = NULL, *prompt = "", *eval = NULL, *tokname = settings.tokenizer;
    sampler_t s = {0.8, 1.0, 0, 200, 1, 1};
    int chat = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(argv[0]);
            return 0;
        } else if (!strcmp(a, "--checkpoint")) ckpt = arg_value(&i, argc, argv);
        else if (!strcmp(a, "--prompt")) prompt = arg_value(&i, argc, argv);
        else if (!strcmp(a, "--eval")) eval = arg_value(&i, argc, argv);
        else if (!strcmp(a, "--tokenizer")) tokname = arg_value(&i, argc, argv);
        else if (!strcmp(a, "--chat")) chat = 1;
        else if (!strcmp(a, "--no-stop")) s.stop_at_eos = 0;
        else if (!strcmp(a, "--max-tokens") || !strcmp(a, "--top-k")) {
            long v = strtol(arg_value(&i, argc, argv), &end, 10);
            if (*end || v < 0 || v > 1000000) rt_die("%s: expected a count, got '%s'", a, argv[i]);
            if (!strcmp(a, "--top-k")) s.top_k = (int)v;
            else s.max_tokens = (int)v;
        } else if (!strcmp(a, "--temperature") || !strcmp(a, "--top-p")) {
            double v = strtod(arg_value(&i, argc, argv), &end);
            if (*end || !(v >= 0) || (!strcmp(a, "--top-p") && (v <= 0 || v > 1)))
                rt_die("%s: bad value '%s'", a, argv[i]);
            if (!strcmp(a, "--top-p")) s.top_p = v;
            else s.temperature = v;
        } else if (!strcmp(a, "--seed")) {
            s.rng = strtoull(arg_value(&i, argc, argv), &end, 10);
            if (*end) rt_die("--seed: expected an integer, got '%s'", argv[i]);
        } else rt_die("unknown option '%s' (see --help)", a);
    }
    static char found[4200];
    if (!ckpt) {
        const char *tags[] = {"finetuned", "best", "last"};
        for (int t = 0; t < 3 && !ckpt; t++) {
            snprintf(found, sizeof found, "%s/%s", settings.checkpoint_dir, tags[t]);
            if (is_dir_with_model(found)) ckpt = found;
        }
        if (!ckpt) rt_die("no checkpoint in %s (train first, or pass --checkpoint DIR)", settings.checkpoint_dir);
    }
    rt_tokenizer_t *tok = rt_tokenizer_open(tokname);
    if (!tok) return 1;
    model_t *m = model_create();
    if (load_weights(m, ckpt) != 0) return 1;
    fprintf(stderr, "loaded %s\n", ckpt);
    uint64_t seed0 = s.rng;
    double tps;
    size_t n;
    if (eval) {
        size_t len;
        char *text = rt_read_file(eval, &len);
        if (!text) return 1;
        int rows = 0, right = 0, line_no = 0;
        s.temperature = 0;
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            line_no++;
            json_error_t jerr;
            json_t *o = json_loads(line, 0, &jerr);
            const char *ins = o ? json_string_value(json_object_get(o, "instruction")) : NULL;
            const char *inp = o ? json_string_value(json_object_get(o, "input")) : NULL;
            const char *want = o ? json_string_value(json_object_get(o, "output")) : NULL;
            if (!ins || !want) rt_die("%s:%d: not an Alpaca row (instruction, input, output)", eval, line_no);
            char *p = alpaca_prompt(ins, inp);
            int32_t *ids = generate(m, tok, &s, p, &n, &tps, 0);
            char *got = rt_tokenizer_decode(tok, ids, n);
            rows++;
            right += strcmp(got, want) == 0;
            if (rows <= 5) printf("Q: %s%s%s\nA: %s\n%s\n", ins, inp && *inp ? " | " : "", inp ? inp : "", got,
                                  strcmp(got, want) == 0 ? "(right)" : "(wrong)");
            free(got);
            free(ids);
            free(p);
            json_decref(o);
        }
        printf("exact match: %d / %d = %.1f%%\n", right, rows, rows ? 100.0 * right / rows : 0.0);
        free(text);
    } else if (chat) {
        char line[8192];
        fprintf(stderr, "chat with %s: type an instruction, empty line to quit\n", VARIANT_NAME);
        for (;;) {
            fprintf(stderr, "> ");
            if (!fgets(line, sizeof line, stdin)) break;
            line[strcspn(line, "\n")] = 0;
            if (!*line) break;
            char *p = alpaca_prompt(line, NULL);
            int32_t *ids = generate(m, tok, &s, p, &n, &tps, 1);
            printf("\n");
            fprintf(stderr, "[%zu tokens, %.0f tokens/s]\n", n, tps);
            free(ids);
            free(p);
        }
    } else {
        fputs(prompt, stdout);
        int32_t *ids = generate(m, tok, &s, prompt, &n, &tps, 1);
        printf("\n");
        fprintf(stderr, "[%zu tokens, %.0f tokens/s, seed %llu]\n", n, tps, (unsigned long long)seed0);
        free(ids);
    }
    model_free(m);
    rt_tokenizer_free(tok);
    return 0;
}
