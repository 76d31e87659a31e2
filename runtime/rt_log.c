/* rt_log.c: metrics.jsonl (one flushed JSON object per line, so a crashed run
 * keeps every line it logged and a plotter can tail the file) and the console
 * progress line. */
#include "rt.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rt_log {
    FILE *f;
    char *path;
};

rt_log_t *rt_log_open(const char *dir) {
    if (!dir || !*dir) {
        rt_err("log: no directory given (logging.dir / --log-dir)");
        return NULL;
    }
    if (rt_mkdirs(dir) != 0) return NULL;
    rt_log_t *l = rt_calloc(1, sizeof *l);
    if (asprintf(&l->path, "%s/metrics.jsonl", dir) < 0) rt_die("out of memory");
    l->f = fopen(l->path, "w");
    if (!l->f) {
        rt_err("%s: cannot open for writing: %s", l->path, strerror(errno));
        free(l->path);
        free(l);
        return NULL;
    }
    return l;
}

/* Resuming at `step`: keep the lines of steps <= step (a killed run may have
 * logged steps after its last checkpoint; they will be run again), then append. */
rt_log_t *rt_log_open_resume(const char *dir, int64_t step) {
    char *path = NULL;
    if (!dir || !*dir || asprintf(&path, "%s/metrics.jsonl", dir) < 0) return rt_log_open(dir);
    size_t len = 0;
    FILE *probe = fopen(path, "rb");
    char *old = NULL;
    if (probe) {
        fclose(probe);
        old = rt_read_file(path, &len);
    }
    rt_log_t *l = rt_log_open(dir);
    if (l && old) {
        char *line = old;
        while (line < old + len) {
            char *nl = memchr(line, '\n', (size_t)(old + len - line));
            size_t n = nl ? (size_t)(nl - line) + 1 : (size_t)(old + len - line);
            long long s = -1;
            if (sscanf(line, "{\"step\":%lld", &s) == 1 && s <= step) fwrite(line, 1, n, l->f);
            line += n;
        }
        fflush(l->f);
    }
    free(old);
    free(path);
    return l;
}

void rt_log_close(rt_log_t *l) {
    if (!l) return;
    if (fclose(l->f) != 0) rt_err("%s: write failed: %s", l->path, strerror(errno));
    free(l->path);
    free(l);
}

/* Shortest decimal that reads back as the same double; JSON has no inf/nan,
 * so those become null. */
static void json_num(char buf[32], double x) {
    if (!isfinite(x)) {
        strcpy(buf, "null");
        return;
    }
    if (x == floor(x) && fabs(x) < 1e15) {  /* integers without an exponent */
        snprintf(buf, 32, "%.0f", x);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) return;
    }
}

static void finish_line(rt_log_t *l, const char *line, int n) {
    if (n < 0 || fputs(line, l->f) < 0 || fflush(l->f) != 0)
        rt_err("%s: write failed: %s", l->path, strerror(errno));
}

void rt_log_step(rt_log_t *l, int64_t step, double loss, double lr_ratio, double lr_muon,
                 double lr_adamw, double tokens_per_s, double grad_norm, int64_t tokens,
                 double elapsed_s) {
    if (!l) return;
    char a[32], b[32], c[32], d[32], e[32], f[32], g[32], line[512];
    json_num(a, loss);
    json_num(b, lr_ratio);
    json_num(c, lr_muon);
    json_num(d, lr_adamw);
    json_num(e, tokens_per_s);
    json_num(f, grad_norm);
    json_num(g, elapsed_s);
    int n = snprintf(line, sizeof line,
                     "{\"step\":%lld,\"loss\":%s,\"lr\":%s,\"lr_muon\":%s,\"lr_adamw\":%s,"
                     "\"tokens_per_s\":%s,\"grad_norm\":%s,\"tokens\":%lld,\"elapsed_s\":%s}\n",
                     (long long)step, a, b, c, d, e, f, (long long)tokens, g);
    finish_line(l, line, n);
}

void rt_log_eval(rt_log_t *l, int64_t step, double val_loss, int64_t tokens) {
    if (!l) return;
    char a[32], line[128];
    json_num(a, val_loss);
    int n = snprintf(line, sizeof line, "{\"step\":%lld,\"val_loss\":%s,\"tokens\":%lld}\n",
                     (long long)step, a, (long long)tokens);
    finish_line(l, line, n);
}

/* 1234567 -> "1,234,567" */
static void fmt_thousands(char out[32], double x) {
    if (!isfinite(x) || x < 0) x = 0;
    if (x > 9e18) x = 9e18;
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%lld", (long long)llround(x));
    int o = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0) out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

/* 3725 -> "1h02m", 185 -> "3m05s", 12 -> "12s" */
static void fmt_eta(char out[32], double s) {
    if (!isfinite(s) || s < 0) {
        strcpy(out, "--");
        return;
    }
    if (s > 1e8) s = 1e8;
    long long t = llround(s);
    if (t >= 3600) snprintf(out, 32, "%lldh%02lldm", t / 3600, (t % 3600) / 60);
    else if (t >= 60) snprintf(out, 32, "%lldm%02llds", t / 60, t % 60);
    else snprintf(out, 32, "%llds", t);
}

void rt_progress(int64_t step, int64_t total, double loss, double lr, double tokens_per_s,
                 double eta_s, int newline) {
    static int tty = -1;
    if (tty < 0) tty = isatty(STDERR_FILENO);
    if (!tty && !newline) return;
    char tps[32], eta[32];
    fmt_thousands(tps, tokens_per_s);
    fmt_eta(eta, eta_s);
    char line[256];
    snprintf(line, sizeof line, "step %lld/%lld | loss %.4f | lr %.1e | %s tok/s | ETA %s",
             (long long)step, (long long)total, loss, lr, tps, eta);
    /* On a terminal the line is redrawn in place (\r, then clear to end of line). */
    if (tty) fprintf(stderr, "\r%s\x1b[K%s", line, newline ? "\n" : "");
    else fprintf(stderr, "%s\n", line);
    fflush(stderr);
}
