/* main.c: the gen command line.
 *
 *   gen [-o OUT] SPEC          write OUT/<name>/ (OUT defaults to build)
 *   gen --print-plan SPEC      print the parameter table and totals
 *   gen --help | --version
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emit.h"
#include "rt.h"
#include "plan.h"
#include "spec.h"

static void usage(FILE *o) {
    fprintf(o,
            "usage: gen [options] SPEC.yaml\n"
            "\n"
            "Reads a Mamba model/optimizer/training spec and writes a shape-specialised\n"
            "training program into OUT/<name>/ (model.c, model.h, program.c, manifest.json,\n"
            "spec.lock.yaml, Makefile.inc). Build and run it with `make run`.\n"
            "\n"
            "options:\n"
            "  -o, --out DIR        output root (default: build)\n"
            "  --print-plan         print the parameter table (name, shape, count, optimizer\n"
            "                       group, weight decay) and the totals; write nothing\n"
            "  --home DIR           folder holding templates/ (default: found next to gen,\n"
            "                       or $MAMBA_GEN_HOME)\n"
            "  -q, --quiet          print nothing on success\n"
            "  -h, --help           this text\n"
            "  --version            print the version\n");
}

static int has_templates(const char *dir) {
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/templates/cpu/model.c", dir);
    return access(p, R_OK) == 0;
}

/* The folder holding templates/: --home, $MAMBA_GEN_HOME, the source tree
 * around build/bin/gen, an installed share/mamba-gen, or the current folder. */
static const char *find_home(const char *given) {
    static char buf[PATH_MAX];
    if (given) return given;
    const char *env = getenv("MAMBA_GEN_HOME");
    if (env && *env) return env;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        const char *rel[] = {"/../..", "/../share/mamba-gen", "/.."};
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            snprintf(buf, sizeof buf, "%s%s", exe, rel[i]);
            char real[PATH_MAX];
            if (has_templates(buf) && realpath(buf, real)) {
                snprintf(buf, sizeof buf, "%s", real);
                return buf;
            }
        }
    }
    return ".";
}

int main(int argc, char **argv) {
    const char *out_root = "build", *home_arg = NULL, *spec_path = NULL;
    int print_plan = 0, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            printf("gen %s\n", GEN_VERSION);
            return 0;
        } else if (!strcmp(a, "--print-plan")) {
            print_plan = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--out") || !strcmp(a, "--home")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "gen: %s needs a folder\n", a);
                return 2;
            }
            if (!strcmp(a, "--home")) home_arg = argv[++i];
            else out_root = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "gen: unknown option '%s' (see gen --help)\n", a);
            return 2;
        } else if (spec_path) {
            fprintf(stderr, "gen: one spec at a time ('%s' and '%s')\n", spec_path, a);
            return 2;
        } else {
            spec_path = a;
        }
    }
    if (!spec_path) {
        usage(stderr);
        return 2;
    }
    spec_t spec;
    if (spec_load(spec_path, &spec, stderr) != 0) return 1;
    plan_t plan;
    if (plan_build(&spec, &plan) != 0) {
        spec_free(&spec);
        return 1;
    }
    if (print_plan) {
        plan_print(&plan, stdout);
        plan_free(&plan);
        spec_free(&spec);
        return 0;
    }
    const char *home = find_home(home_arg);
    if (!has_templates(home)) {
        fprintf(stderr, "gen: cannot find templates/cpu/model.c under '%s' (use --home DIR or MAMBA_GEN_HOME)\n", home);
        return 1;
    }
    int rc = emit_variant(&plan, home, out_root);
    if (rc == 0) {
        char last[PATH_MAX];
        snprintf(last, sizeof last, "%s/.last-variant", out_root);
        char line[256];
        int n = snprintf(line, sizeof line, "%s\n", spec.name);
        if (rt_write_file_atomic(last, line, (size_t)n) != 0) rc = -1;
    }
    if (rc == 0 && !quiet) {
        printf("gen: wrote %s/%s/ (%s parameters, %s backend)\n", out_root, spec.name, fmt_count(plan.total),
               backend_name(spec.backend));
        if (spec.train.train_by_epochs)
            printf("gen: train_by_epochs: %g epoch(s) x %s tokens / %s tokens per step = %s steps\n",
                   spec.train.num_epochs, fmt_count(spec.train.total_train_tokens), fmt_count(spec.train.tokens_per_step),
                   fmt_count(spec.train.max_steps));
        else
            printf("gen: max_steps %s x %s tokens per step\n", fmt_count(spec.train.max_steps),
                   fmt_count(spec.train.tokens_per_step));
    }
    plan_free(&plan);
    spec_free(&spec);
    return rc == 0 ? 0 : 1;
}
