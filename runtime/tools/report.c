/* report: the HTML run report of a training run.
 *
 *   report METRICS.jsonl [--spec build/NAME/spec.lock.yaml] [-o report.html]
 *
 * Writes one self-contained page (summary, SVG plots of loss, learning
 * rates, throughput and gradient norm, and the spec) next to the metrics
 * file as report.html unless -o says otherwise. See rt_report.h. */
#include "rt.h"
#include "rt_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: report METRICS.jsonl [--spec build/NAME/spec.lock.yaml] [-o report.html]\n"
               "writes an HTML report with the run's curves (default: report.html next to\n"
               "the metrics file)\n");
}

int main(int argc, char **argv) {
    const char *metrics = NULL, *spec = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        const char **dst = NULL, *v = NULL;
        if (!strcmp(a, "--spec") || !strncmp(a, "--spec=", 7)) dst = &spec;
        else if (!strcmp(a, "-o") || !strcmp(a, "--out") || !strncmp(a, "--out=", 6)) dst = &out;
        if (dst) {
            const char *eq = strncmp(a, "--", 2) ? NULL : strchr(a, '=');
            if (eq) v = eq + 1;
            else if (i + 1 < argc) v = argv[++i];
            else {
                fprintf(stderr, "error: report: %s needs a value\n", a);
                return 1;
            }
            if (!*v) {
                fprintf(stderr, "error: report: %s: empty path\n", a);
                return 1;
            }
            *dst = v;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "error: report: unknown option '%s'\n", a);
            usage(stderr);
            return 1;
        } else if (metrics) {
            fprintf(stderr, "error: report: one metrics file expected, got '%s' and '%s'\n",
                    metrics, a);
            return 1;
        } else {
            metrics = a;
        }
    }
    if (!metrics) {
        fprintf(stderr, "error: report: no metrics file given\n");
        usage(stderr);
        return 1;
    }
    char *def = NULL;
    if (!out) {
        const char *slash = strrchr(metrics, '/');
        int dl = slash ? (int)(slash - metrics) + 1 : 0;
        if (asprintf(&def, "%.*sreport.html", dl, metrics) < 0) rt_die("out of memory");
        out = def;
    }
    int rc = rt_report_write(metrics, spec, out);
    if (rc == 0) printf("report: wrote %s\n", out);
    free(def);
    return rc == 0 ? 0 : 1;
}
