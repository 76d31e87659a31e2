/* audit.c: `make audit`: what a generated variant does, op by op.
 *
 *   audit build/NAME [--ptxas-log FILE]
 *
 * From build/NAME/manifest.json: each op of a training step summed over
 * layers (calls, GFLOP, GB moved, arithmetic intensity in FLOP/byte) and the
 * phases; with --ptxas-log (the output of nvcc -Xptxas -v on model.cu, as
 * the Makefile runs it for CUDA variants) each kernel's registers, shared
 * memory and spills. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char name[64];
    int calls;
    double flops, bytes;
} row_t;

static int by_flops(const void *a, const void *b) {
    double x = ((const row_t *)a)->flops, y = ((const row_t *)b)->flops;
    return x < y ? 1 : x > y ? -1 : strcmp(((const row_t *)a)->name, ((const row_t *)b)->name);
}

static void ptxas_table(const char *log_path) {
    FILE *f = fopen(log_path, "r");
    if (!f) {
        fprintf(stderr, "audit: cannot read %s\n", log_path);
        exit(1);
    }
    char line[4096], kernel[512] = "";
    printf("\n%-60s %5s %8s %8s %s\n", "kernel (ptxas)", "regs", "smem B", "stack B", "spills (stores/loads B)");
    while (fgets(line, sizeof line, f)) {
        char *p;
        if ((p = strstr(line, "Compiling entry function '")) || (p = strstr(line, "Function properties for "))) {
            char *s = strchr(p, '\'') ? strchr(p, '\'') + 1 : p + strlen("Function properties for ");
            size_t n = strcspn(s, "'\n");
            if (n >= sizeof kernel) n = sizeof kernel - 1;
            memcpy(kernel, s, n);
            kernel[n] = 0;
        }
        int st = 0, sp_st = 0, sp_ld = 0, regs = 0, smem = 0;
        if ((p = strstr(line, "bytes stack frame")) && sscanf(line, " %d bytes stack frame, %d bytes spill stores, %d bytes spill loads", &st, &sp_st, &sp_ld) == 3)
            continue;
        if ((p = strstr(line, "Used ")) && sscanf(p, "Used %d registers", &regs) == 1) {
            char *sm = strstr(line, "bytes smem");
            if (sm) {
                char *q = sm;
                while (q > line && q[-1] == ' ') q--;
                while (q > line && (q[-1] >= '0' && q[-1] <= '9')) q--;
                smem = atoi(q);
            }
            /* demangled enough: cut the parameter list */
            char shown[61];
            snprintf(shown, sizeof shown, "%s", kernel);
            printf("%-60s %5d %8d %8d %d/%d\n", shown, regs, smem, st, sp_st, sp_ld);
        }
    }
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        printf("usage: audit build/NAME [--ptxas-log FILE]\n");
        return argc < 2 ? 2 : 0;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", argv[1]);
    json_error_t err;
    json_t *m = json_load_file(path, 0, &err);
    if (!m) {
        fprintf(stderr, "audit: %s:%d: %s\n", path, err.line, err.text);
        return 1;
    }
    json_t *ops = json_object_get(m, "ops");
    if (!json_is_array(ops)) {
        fprintf(stderr, "audit: %s: no \"ops\" array\n", path);
        return 1;
    }
    row_t rows[256];
    int nr = 0;
    double tf = 0, tb = 0;
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op) {
        const char *phase = json_string_value(json_object_get(op, "phase"));
        const char *name = json_string_value(json_object_get(op, "op"));
        double f = json_number_value(json_object_get(op, "flops")), b = json_number_value(json_object_get(op, "bytes"));
        if (!phase || !name) continue;
        char key[64];
        snprintf(key, sizeof key, "%s.%s", phase, name);
        int r;
        for (r = 0; r < nr; r++)
            if (!strcmp(rows[r].name, key)) break;
        if (r == nr && nr < 256) {
            memset(&rows[nr], 0, sizeof rows[nr]);
            snprintf(rows[nr].name, sizeof rows[nr].name, "%s", key);
            nr++;
        }
        if (r < 256) rows[r].calls++, rows[r].flops += f, rows[r].bytes += b;
        tf += f, tb += b;
    }
    printf("variant %s (%s backend): %lld parameters, %lld tokens per step\n",
           json_string_value(json_object_get(m, "spec")), json_string_value(json_object_get(m, "backend")),
           (long long)json_integer_value(json_object_get(m, "parameters")),
           (long long)json_integer_value(json_object_get(m, "tokens_per_step")));
    printf("one micro-batch (forward + backward) and one optimizer step, summed over layers:\n\n");
    printf("%-32s %6s %12s %10s %12s\n", "op", "calls", "GFLOP", "GB", "FLOP/byte");
    qsort(rows, (size_t)nr, sizeof rows[0], by_flops);
    for (int r = 0; r < nr; r++)
        printf("%-32s %6d %12.2f %10.3f %12.1f\n", rows[r].name, rows[r].calls, rows[r].flops / 1e9, rows[r].bytes / 1e9,
               rows[r].bytes > 0 ? rows[r].flops / rows[r].bytes : 0);
    printf("%-32s %6s %12.2f %10.3f %12.1f\n", "total", "", tf / 1e9, tb / 1e9, tb > 0 ? tf / tb : 0);
    printf("(H200: 790 TFLOP/s bf16 dense, 4.2 TB/s: ops under ~190 FLOP/byte are memory-bound)\n");
    json_decref(m);
    if (argc >= 4 && !strcmp(argv[2], "--ptxas-log")) ptxas_table(argv[3]);
    return 0;
}
