/* check_report.c: tests of the HTML run report (rt_report.h) and its tool
 * (build/bin/report, or $TOOL_BIN_DIR/report).
 *
 * Metrics files are written by the test, through rt_log (the real writer)
 * where the lines are ordinary and by hand where they are not. The page is
 * checked as text: elements nest and close, each series has its polyline,
 * ticks are round, the summary cells (found by id) hold the right numbers,
 * and nothing from the inputs reaches the page unescaped. */
#include "rt.h"
#include "testutil.h"
#include "rt_report.h"

#include <check.h>
#include <ctype.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- fixtures and helpers ---- */
static void setup_tmp(void) { tu_setup_tmp("check_report"); }
static void teardown_tmp(void) { tu_teardown_tmp(); }

static char *slurp(const char *path) {
    size_t n;
    char *s = rt_read_file(path, &n);
    ck_assert_msg(s != NULL, "cannot read %s", path);
    ck_assert_uint_eq(strlen(s), n);   /* the page is text */
    return s;
}

/* Text of the summary cell <td id="ID">...</td> (static buffer). */
static const char *cell(const char *html, const char *id) {
    static char out[256];
    char key[64];
    snprintf(key, sizeof key, "id=\"%s\">", id);
    const char *p = strstr(html, key);
    ck_assert_msg(p != NULL, "no summary cell %s", id);
    p += strlen(key);
    const char *e = strstr(p, "</td>");
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_lt((size_t)(e - p), sizeof out);
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return out;
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* Checks that every element is closed, in order: a tag stack over the page,
 * with <!...> skipped, void elements (meta, br) and self-closed tags (<x/>)
 * not pushed. The page escapes all its text, so every '<' starts a tag. */
static void check_tags(const char *h) {
    char stack[64][16];
    int depth = 0;
    for (const char *p = strchr(h, '<'); p; p = strchr(p, '<')) {
        const char *end = strchr(p, '>');
        ck_assert_msg(end != NULL, "unterminated tag at byte %td", p - h);
        if (p[1] == '!') {
            p = end + 1;
            continue;
        }
        int closing = p[1] == '/';
        const char *n = p + 1 + closing;
        char name[16];
        size_t nl = 0;
        while (isalnum((unsigned char)n[nl]) && nl < sizeof name - 1) name[nl] = n[nl], nl++;
        name[nl] = '\0';
        ck_assert_msg(nl > 0, "bad tag at byte %td: %.30s", p - h, p);
        for (const char *q = p + 1; q < end; q++)
            ck_assert_msg(*q != '<', "'<' inside a tag at byte %td", q - h);
        if (closing) {
            ck_assert_msg(depth > 0, "</%s> closes nothing (byte %td)", name, p - h);
            ck_assert_msg(!strcmp(stack[depth - 1], name), "</%s> closes <%s> (byte %td)", name,
                          stack[depth - 1], p - h);
            depth--;
        } else if (end[-1] != '/' && strcmp(name, "meta") && strcmp(name, "br")) {
            ck_assert_int_lt(depth, 64);
            strcpy(stack[depth++], name);
        }
        p = end + 1;
    }
    ck_assert_msg(depth == 0, "%d elements left open, innermost <%s>", depth,
                  depth ? stack[depth - 1] : "");
}

/* The <svg>...</svg> of the plot titled `title`, copied (caller frees). */
static char *svg_of(const char *html, const char *title) {
    char key[128];
    snprintf(key, sizeof key, "aria-label=\"%s\">", title);
    const char *p = strstr(html, key);
    ck_assert_msg(p != NULL, "no plot titled %s", title);
    while (p > html && strncmp(p, "<svg", 4)) p--;
    const char *e = strstr(p, "</svg>");
    ck_assert_ptr_nonnull(e);
    return strndup(p, (size_t)(e - p) + 6);
}

/* Every <svg>...</svg> of the page, in turn (i = 0, 1, ...; NULL after the last). */
static char *svg_at(const char *html, int n) {
    const char *p = html;
    for (int i = 0; i <= n; i++) {
        p = strstr(p, "<svg");
        if (!p) return NULL;
        if (i < n) p++;
    }
    const char *e = strstr(p, "</svg>");
    ck_assert_ptr_nonnull(e);
    return strndup(p, (size_t)(e - p) + 6);
}

/* Number of points of the polyline of series `name` in svg (-1: absent);
 * the points' y pixel range in *ymin, *ymax when given. */
static int series_points(const char *svg, const char *name, double *ymin, double *ymax) {
    char key[128];
    snprintf(key, sizeof key, "<polyline data-series=\"%s\"", name);
    const char *p = strstr(svg, key);
    if (!p) return -1;
    ck_assert_msg(strstr(p + 1, key) == NULL, "two polylines for %s", name);
    p = strstr(p, "points=\"");
    ck_assert_ptr_nonnull(p);
    p += 8;
    int n = 0;
    double lo = INFINITY, hi = -INFINITY;
    while (*p != '"') {
        char *e;
        double x = strtod(p, &e);
        ck_assert_msg(e != p && *e == ',', "bad point in %s: %.20s", name, p);
        double y = strtod(e + 1, &e);
        ck_assert(isfinite(x) && isfinite(y));
        lo = fmin(lo, y), hi = fmax(hi, y);
        n++;
        p = e;
        if (*p == ' ') p++;
    }
    if (ymin) *ymin = lo;
    if (ymax) *ymax = hi;
    return n;
}

/* Tick labels of class `cls` ("xt", "yt", "y2t") in svg, as numbers: they
 * must be evenly spaced by 1, 2 or 5 times a power of ten, each a multiple
 * of the spacing. Returns how many there are; first and last in *lo, *hi. */
static int check_ticks(const char *svg, const char *cls, double *lo, double *hi) {
    char key[32];
    snprintf(key, sizeof key, "<text class=\"%s\"", cls);
    double v[64];
    int n = 0;
    for (const char *p = strstr(svg, key); p; p = strstr(p + 1, key)) {
        const char *t = strchr(p, '>') + 1;
        char *e;
        double x = strtod(t, &e);
        ck_assert_msg(e != t, "tick label not a number: %.20s", t);
        if (*e == 'k') x *= 1e3, e++;
        else if (*e == 'M') x *= 1e6, e++;
        else if (*e == 'G') x *= 1e9, e++;
        ck_assert_msg(*e == '<', "tick label with trailing text: %.20s", t);
        ck_assert_int_lt(n, 64);
        v[n++] = x;
    }
    if (n == 0) return 0;
    ck_assert_msg(n >= 2 && n <= 12, "%d %s ticks", n, cls);
    double step = v[1] - v[0];
    ck_assert(step > 0);
    double mag = pow(10, floor(log10(step) + 1e-9)), m = step / mag;
    ck_assert_msg(fabs(m - 1) < 1e-6 || fabs(m - 2) < 1e-6 || fabs(m - 5) < 1e-6,
                  "%s tick step %g is not 1, 2 or 5 times a power of ten", cls, step);
    for (int i = 0; i < n; i++) {
        ck_assert_msg(fabs(v[i] - (v[0] + i * step)) <= 1e-6 * step, "%s ticks unevenly spaced", cls);
        ck_assert_msg(fabs(v[i] / step - round(v[i] / step)) < 1e-6, "%s tick %g not round", cls, v[i]);
    }
    if (lo) *lo = v[0];
    if (hi) *hi = v[n - 1];
    return n;
}

/* No plotted number came out as nan or inf. */
static void check_svgs_finite(const char *html) {
    char *s;
    for (int i = 0; (s = svg_at(html, i)); i++) {
        for (char *c = s; *c; c++) *c = (char)tolower((unsigned char)*c);
        ck_assert_msg(!strstr(s, "nan") && !strstr(s, "inf"), "svg %d has nan/inf", i);
        free(s);
    }
}

/* The standard run: 100 steps through rt_log, evals every 25 steps. Known
 * summary: loss 5 - 0.03*s (first 4.97, best and last 2.0 at step 100);
 * tokens/s alternates 1100/900 (mean 1000); val 4.0 3.5 3.6 3.7. */
static const char *standard_run(const char *sub) {
    const char *dir = tp(sub);
    rt_log_t *l = rt_log_open(dir);
    ck_assert_ptr_nonnull(l);
    const double val[4] = {4.0, 3.5, 3.6, 3.7};
    for (int s = 1; s <= 100; s++) {
        double ratio = s <= 10 ? s / 10.0 : 1.0 - 0.5 * (s - 10) / 90.0;
        rt_log_step(l, s, 5.0 - 0.03 * s, ratio, 0.02 * ratio, 0.003 * ratio,
                    s % 2 ? 1100 : 900, 1.0 + s / 100.0, 1024LL * s, 0.5 * s);
        if (s % 25 == 0) rt_log_eval(l, s, val[s / 25 - 1], 1024LL * s);
    }
    rt_log_close(l);
    static char path[600];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    return path;
}

static const char *SPEC =
    "# spec.lock.yaml\n"
    "name: \"demo<&>\"\n"
    "note: <script>alert(\"x\")</script> & 'quotes'\n"
    "model:\n  d_model: 64\n"
    "hash: 0123abcd\n";

static char *report(const char *metrics, const char *spec, const char *out) {
    int rc = rt_report_write(metrics, spec, out);
    ck_assert_int_eq(rc, 0);
    return slurp(out);
}

/* ---- tests ---- */
START_TEST(standard_report) {
    const char *m = standard_run("run");
    const char *spec = write_text("spec.lock.yaml", SPEC);
    char *h = report(m, spec, tp("r.html"));
    ck_assert_int_ne(access(tp("r.html.tmp"), F_OK), 0);
    check_tags(h);
    ck_assert_int_eq(count(h, "<svg"), 4);
    ck_assert_int_eq(count(h, "</svg>"), 4);
    ck_assert(!strncmp(h, "<!DOCTYPE html>", 15));
    /* each series has a polyline in its plot */
    char *loss = svg_of(h, "Loss"), *lr = svg_of(h, "Learning rates"), *tps = svg_of(h, "Throughput"),
         *gn = svg_of(h, "Gradient norm");
    ck_assert_int_eq(series_points(loss, "train loss", NULL, NULL), 100);
    ck_assert_int_eq(series_points(loss, "train loss (smoothed)", NULL, NULL), 100);
    ck_assert_int_eq(series_points(loss, "val loss", NULL, NULL), 4);
    ck_assert_int_eq(count(loss, "<circle"), 4);   /* eval points marked */
    ck_assert_int_eq(series_points(lr, "Muon lr", NULL, NULL), 100);
    ck_assert_int_eq(series_points(lr, "AdamW lr", NULL, NULL), 100);
    ck_assert_int_eq(series_points(tps, "tokens/s", NULL, NULL), 100);
    ck_assert_int_eq(series_points(gn, "grad norm", NULL, NULL), 100);
    /* legends and axis labels */
    ck_assert_contains(loss, ">val loss</text>");
    ck_assert_contains(lr, ">AdamW lr (right axis)</text>");
    ck_assert_contains(loss, ">step</text>");
    ck_assert_int_ge(count(lr, "class=\"y2t\""), 2);   /* AdamW's own axis */
    /* round ticks on every axis; the loss axis spans the data (2.0 .. 4.97) */
    double lo, hi;
    ck_assert_int_ge(check_ticks(loss, "yt", &lo, &hi), 3);
    ck_assert(lo <= 2.0 && hi >= 4.97);
    ck_assert_int_ge(check_ticks(loss, "xt", &lo, &hi), 3);
    ck_assert(lo <= 1 && hi >= 100);
    ck_assert_int_ge(check_ticks(lr, "yt", &lo, &hi), 3);
    ck_assert(lo <= 0.002 && hi >= 0.02 && hi < 0.05);
    ck_assert_int_ge(check_ticks(lr, "y2t", &lo, &hi), 3);
    ck_assert(hi >= 0.003 && hi < 0.01);
    ck_assert_int_ge(check_ticks(tps, "yt", NULL, NULL), 3);
    ck_assert_int_ge(check_ticks(gn, "yt", NULL, NULL), 3);
    check_svgs_finite(h);
    /* the summary */
    ck_assert_str_eq(cell(h, "steps"), "100");
    ck_assert_str_eq(cell(h, "last-step"), "100");
    ck_assert_str_eq(cell(h, "tokens"), "102,400");
    ck_assert_str_eq(cell(h, "wall-time"), "50.0 s");
    ck_assert_str_eq(cell(h, "first-loss"), "4.9700 (step 1)");
    ck_assert_str_eq(cell(h, "last-loss"), "2.0000 (step 100)");
    ck_assert_str_eq(cell(h, "best-loss"), "2.0000 (step 100)");
    /* centred average of the last 3 points (window 2*(100/40)+1 = 5, cut at the end) */
    ck_assert_str_eq(cell(h, "last-smoothed-loss"), "2.0300");
    ck_assert_str_eq(cell(h, "evals"), "4");
    ck_assert_str_eq(cell(h, "best-val-loss"), "3.5000 (step 50)");
    ck_assert_str_eq(cell(h, "last-val-loss"), "3.7000 (step 100)");
    ck_assert_str_eq(cell(h, "mean-tps"), "1,000");
    ck_assert_ptr_null(strstr(h, "id=\"nonfinite-loss\""));
    /* the spec, escaped; the name from the lock file */
    ck_assert_contains(h, "<pre># spec.lock.yaml\nname: &quot;demo&lt;&amp;&gt;&quot;\n"
                          "note: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; "
                          "&#39;quotes&#39;\n");
    ck_assert_contains(h, "<title>Run report: demo&lt;&amp;&gt;</title>");
    ck_assert_contains(h, "(hash 0123abcd)");
    ck_assert_ptr_null(strstr(h, "<script"));
    /* self-contained */
    ck_assert_ptr_null(strstr(h, "http"));
    ck_assert_ptr_null(strstr(h, "src="));
    ck_assert_ptr_null(strstr(h, "href="));
    ck_assert_ptr_null(strstr(h, "url("));
    free(loss), free(lr), free(tps), free(gn);
    free(h);
}
END_TEST

START_TEST(deterministic) {
    const char *m = standard_run("run");
    const char *spec = write_text("spec.lock.yaml", SPEC);
    char *a = report(m, spec, tp("a.html")), *b = report(m, spec, tp("b.html"));
    ck_assert_msg(!strcmp(a, b), "two reports of the same run differ");
    /* the default name without a spec: the metrics file's directory */
    char *c = report(m, NULL, tp("c.html"));
    ck_assert_contains(c, "<h1>Run report: run</h1>");
    ck_assert_contains(c, "No spec given");
    check_tags(c);
    free(a), free(b), free(c);
}
END_TEST

START_TEST(no_eval_lines) {
    const char *m = write_text("m.jsonl",
        "{\"step\":1,\"loss\":3.0,\"lr\":1,\"lr_muon\":0.02,\"lr_adamw\":0.003,\"tokens_per_s\":10,"
        "\"grad_norm\":1,\"tokens\":100,\"elapsed_s\":1}\n"
        "{\"step\":2,\"loss\":2.5,\"lr\":1,\"lr_muon\":0.02,\"lr_adamw\":0.003,\"tokens_per_s\":30,"
        "\"grad_norm\":2,\"tokens\":200,\"elapsed_s\":2}\n");
    char *h = report(m, NULL, tp("r.html"));
    check_tags(h);
    ck_assert_int_eq(count(h, "<svg"), 4);
    ck_assert_str_eq(cell(h, "evals"), "0");
    ck_assert_str_eq(cell(h, "best-val-loss"), "none");
    ck_assert_str_eq(cell(h, "mean-tps"), "20");
    ck_assert_ptr_null(strstr(h, "data-series=\"val loss\""));
    ck_assert_ptr_null(strstr(h, ">val loss</text>"));   /* no legend entry either */
    ck_assert_int_eq(count(h, "data-series=\"train loss\""), 1);
    /* constant learning rates: a flat line inside a real range */
    char *lr = svg_of(h, "Learning rates");
    double lo, hi;
    ck_assert_int_ge(check_ticks(lr, "yt", &lo, &hi), 2);
    ck_assert(lo < 0.02 && hi > 0.02);
    check_svgs_finite(h);
    free(lr);
    free(h);
}
END_TEST

START_TEST(single_step) {
    const char *m = write_text("m.jsonl",
        "{\"step\":1,\"loss\":5.5,\"lr\":0.1,\"lr_muon\":0.002,\"lr_adamw\":0.0003,"
        "\"tokens_per_s\":4000,\"grad_norm\":1.5,\"tokens\":1024,\"elapsed_s\":0.25}\n");
    char *h = report(m, NULL, tp("r.html"));
    check_tags(h);
    ck_assert_int_eq(count(h, "<svg"), 4);
    char *loss = svg_of(h, "Loss");
    ck_assert_int_eq(series_points(loss, "train loss", NULL, NULL), 1);
    ck_assert_int_eq(series_points(loss, "train loss (smoothed)", NULL, NULL), -1);
    ck_assert_int_ge(count(loss, "<circle"), 1);   /* a lone point is drawn as a dot */
    ck_assert_int_ge(check_ticks(loss, "xt", NULL, NULL), 2);
    ck_assert_int_ge(check_ticks(loss, "yt", NULL, NULL), 2);
    check_svgs_finite(h);
    ck_assert_str_eq(cell(h, "steps"), "1");
    ck_assert_str_eq(cell(h, "first-loss"), "5.5000 (step 1)");
    ck_assert_str_eq(cell(h, "last-loss"), "5.5000 (step 1)");
    ck_assert_str_eq(cell(h, "wall-time"), "0.2 s");
    ck_assert_str_eq(cell(h, "mean-tps"), "4,000");
    free(loss);
    free(h);
}
END_TEST

START_TEST(nan_and_null_skipped) {
    const char *m = write_text("m.jsonl",
        "{\"step\":1,\"loss\":4.0,\"tokens_per_s\":100,\"grad_norm\":1,\"tokens\":10,\"elapsed_s\":1}\n"
        "{\"step\":2,\"loss\":3.0,\"tokens_per_s\":null,\"grad_norm\":null,\"tokens\":20,\"elapsed_s\":2}\n"
        "{\"step\":3,\"loss\":null,\"tokens_per_s\":300,\"grad_norm\":NaN,\"tokens\":30,\"elapsed_s\":3}\n"
        "{\"step\":4,\"loss\":NaN,\"tokens_per_s\":Infinity,\"grad_norm\":2,\"tokens\":40}\n"
        "{\"step\":5,\"loss\":-Infinity,\"tokens_per_s\":500,\"grad_norm\":3,\"tokens\":50,\"elapsed_s\":5}\n"
        "{\"step\":6, \"loss\": 2.5, \"NaN\": \"a \\\"NaN\\\" in text\", \"tokens\":60}\n"
        "{\"step\":6,\"val_loss\":null,\"tokens\":60}\n"
        "{\"step\":6,\"val_loss\":NaN,\"tokens\":60}\n");
    char *h = report(m, NULL, tp("r.html"));
    check_tags(h);
    check_svgs_finite(h);
    ck_assert_str_eq(cell(h, "steps"), "6");
    ck_assert_str_eq(cell(h, "nonfinite-loss"), "3 (first at step 3)");
    ck_assert_str_eq(cell(h, "best-loss"), "2.5000 (step 6)");
    ck_assert_str_eq(cell(h, "first-loss"), "4.0000 (step 1)");
    ck_assert_str_eq(cell(h, "mean-tps"), "300");   /* 100, 300, 500 */
    ck_assert_str_eq(cell(h, "evals"), "2");
    ck_assert_str_eq(cell(h, "best-val-loss"), "none");
    ck_assert_str_eq(cell(h, "wall-time"), "5.0 s");
    char *loss = svg_of(h, "Loss"), *gn = svg_of(h, "Gradient norm");
    ck_assert_int_eq(series_points(loss, "train loss", NULL, NULL), 3);
    ck_assert_int_eq(series_points(loss, "val loss", NULL, NULL), -1);
    ck_assert_int_eq(series_points(gn, "grad norm", NULL, NULL), 3);
    /* no learning rates in these lines at all */
    ck_assert_contains(h, "No learning rates logged.");
    ck_assert_ptr_null(strstr(h, "aria-label=\"Learning rates\""));
    ck_assert_int_eq(count(h, "<svg"), 3);
    free(loss), free(gn);
    free(h);
}
END_TEST

START_TEST(bad_json_names_line) {
    const char *m = write_text("m.jsonl",
        "{\"step\":1,\"loss\":4.0}\n"
        "\n"
        "{\"step\":3,\"loss\":\n"
        "{\"step\":4,\"loss\":2.0}\n");
    cap_begin();
    int rc = rt_report_write(m, NULL, tp("r.html"));
    char *err = cap_end();
    ck_assert_int_eq(rc, -1);
    char want[600];
    snprintf(want, sizeof want, "%s:3: invalid JSON", m);
    ck_assert_contains(err, want);
    ck_assert_int_ne(access(tp("r.html"), F_OK), 0);   /* nothing written */
    ck_assert_int_ne(access(tp("r.html.tmp"), F_OK), 0);
    free(err);
    /* garbage on the last line is an error too when the line is complete... */
    m = write_text("m2.jsonl", "{\"step\":1,\"loss\":4.0}\n{\"step\":2,\"lo\n");
    cap_begin();
    rc = rt_report_write(m, NULL, tp("r.html"));
    err = cap_end();
    ck_assert_int_eq(rc, -1);
    snprintf(want, sizeof want, "%s:2: invalid JSON", m);
    ck_assert_contains(err, want);
    free(err);
    /* ...but a last line without its newline is a run still writing */
    m = write_text("m3.jsonl", "{\"step\":1,\"loss\":4.0}\n{\"step\":2,\"lo");
    cap_begin();
    rc = rt_report_write(m, NULL, tp("r.html"));
    err = cap_end();
    ck_assert_int_eq(rc, 0);
    snprintf(want, sizeof want, "warning: %s:2: incomplete last line skipped", m);
    ck_assert_contains(err, want);
    free(err);
    char *h = slurp(tp("r.html"));
    ck_assert_str_eq(cell(h, "steps"), "1");
    free(h);
}
END_TEST

START_TEST(unknown_shapes_ignored) {
    const char *m = write_text("m.jsonl",
        "[1, 2, 3]\n"
        "\"text\"\n"
        "42\n"
        "{}\n"
        "   \n"
        "{\"event\":\"checkpoint\",\"step\":5,\"path\":\"<x>\"}\n"
        "{\"step\":\"seven\",\"loss\":1.0}\n"
        "{\"step\":7,\"sample\":\"<b>hello</b>\"}\n"
        "{\"step\":1e300,\"loss\":1.0}\n"
        "{\"step\":8.5,\"loss\":1e300,\"tokens_per_s\":-1e200}\n"
        "{\"step\":8,\"loss\":2.0,\"lr\":0.5,\"tokens\":80}\r\n"
        "{\"step\":9,\"loss\":1.5,\"lr\":1.0,\"tokens\":90,\"extra\":{\"a\":[1,2]}}\n");
    char *h = report(m, NULL, tp("r.html"));
    check_tags(h);
    ck_assert_str_eq(cell(h, "steps"), "3");   /* 8, 8.5 (an absurd loss, not drawn) and 9 */
    ck_assert_str_eq(cell(h, "tokens"), "90");
    ck_assert_str_eq(cell(h, "mean-tps"), "none");
    ck_assert_str_eq(cell(h, "ignored-lines"), "8");
    check_svgs_finite(h);
    ck_assert_str_eq(cell(h, "best-loss"), "1.5000 (step 9)");
    ck_assert_ptr_null(strstr(h, "<b>"));
    /* logs with only the schedule's multiplier: it is plotted instead */
    ck_assert_contains(h, "data-series=\"lr multiplier\"");
    ck_assert_ptr_null(strstr(h, "data-series=\"Muon lr\""));
    free(h);
    /* AdamW alone (no Muon group): one axis, on the left */
    m = write_text("m2.jsonl",
        "{\"step\":1,\"loss\":2.0,\"lr_muon\":null,\"lr_adamw\":0.001}\n"
        "{\"step\":2,\"loss\":1.9,\"lr_muon\":null,\"lr_adamw\":0.002}\n");
    h = report(m, NULL, tp("r2.html"));
    char *lr = svg_of(h, "Learning rates");
    ck_assert_int_eq(series_points(lr, "AdamW lr", NULL, NULL), 2);
    ck_assert_int_eq(count(lr, "class=\"y2t\""), 0);
    ck_assert_int_ge(check_ticks(lr, "yt", NULL, NULL), 2);
    free(lr);
    free(h);
}
END_TEST

START_TEST(empty_metrics) {
    const char *m = write_text("m.jsonl", "");
    char *h = report(m, NULL, tp("r.html"));
    check_tags(h);
    ck_assert_int_eq(count(h, "<svg"), 0);
    ck_assert_contains(h, "No step or eval lines");
    ck_assert_str_eq(cell(h, "steps"), "0");
    ck_assert_str_eq(cell(h, "best-loss"), "none");
    free(h);
}
END_TEST

START_TEST(downsample_keeps_extremes) {
    enum { N = 100000 };
    double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    double *ox = malloc(RT_REPORT_MAX_POINTS * sizeof *ox), *oy = malloc(RT_REPORT_MAX_POINTS * sizeof *oy);
    for (int i = 0; i < N; i++) x[i] = i + 1, y[i] = 3.0 + 0.5 * sin(i * 0.01);
    y[54321] = 100.0;   /* a spike */
    y[77777] = -5.0;    /* a dip */
    y[100] = NAN;
    size_t k = rt_report_downsample(x, y, N, RT_REPORT_MAX_POINTS, ox, oy);
    ck_assert_uint_le(k, RT_REPORT_MAX_POINTS);
    ck_assert_uint_ge(k, RT_REPORT_MAX_POINTS / 2);
    int spike = 0, dip = 0;
    for (size_t i = 0; i < k; i++) {
        ck_assert(isfinite(oy[i]));
        if (i) ck_assert(ox[i] > ox[i - 1]);   /* original order */
        spike |= ox[i] == 54322 && oy[i] == 100.0;
        dip |= ox[i] == 77778 && oy[i] == -5.0;
    }
    ck_assert(spike && dip);
    /* short series: copied, less non-finite values */
    double sx[5] = {1, 2, 3, 4, 5}, sy[5] = {1, NAN, 3, INFINITY, 5};
    k = rt_report_downsample(sx, sy, 5, RT_REPORT_MAX_POINTS, ox, oy);
    ck_assert_uint_eq(k, 3);
    ck_assert(ox[0] == 1 && ox[1] == 3 && ox[2] == 5 && oy[2] == 5);
    /* tiny caps still hold */
    k = rt_report_downsample(x, y, N, 10, ox, oy);
    ck_assert_uint_le(k, 10);
    k = rt_report_downsample(x, y, N, 2, ox, oy);
    ck_assert_uint_le(k, 2);
    ck_assert(oy[0] == -5.0 || oy[1] == -5.0);
    free(x), free(y), free(ox), free(oy);
}
END_TEST

START_TEST(huge_run_downsampled) {
    enum { N = 200000 };
    FILE *f = fopen(tp("m.jsonl"), "w");
    ck_assert_ptr_nonnull(f);
    for (int s = 1; s <= N; s++) {
        double loss = s == 123457 ? 99.0 : 2.0 + 3.0 / sqrt(s);
        fprintf(f, "{\"step\":%d,\"loss\":%.10f,\"lr\":1,\"lr_muon\":0.02,\"lr_adamw\":0.003,"
                   "\"tokens_per_s\":%d,\"grad_norm\":%.3f,\"tokens\":%lld,\"elapsed_s\":%.1f}\n",
                s, loss, 480000 + (s % 7) * 1000, 1.0 + (s % 11) * 0.01, 524288LL * s, 0.8 * s);
        if (s % 1000 == 0) fprintf(f, "{\"step\":%d,\"val_loss\":%.4f,\"tokens\":%lld}\n", s,
                                   2.0 + 3.0 / sqrt(s), 524288LL * s);
    }
    fclose(f);
    char *h = report(tp("m.jsonl"), NULL, tp("r.html"));
    check_tags(h);
    check_svgs_finite(h);
    const char *titles[4] = {"Loss", "Learning rates", "Throughput", "Gradient norm"};
    const char *names[4][3] = {{"train loss", "train loss (smoothed)", "val loss"},
                               {"Muon lr", "AdamW lr", NULL},
                               {"tokens/s", NULL, NULL},
                               {"grad norm", NULL, NULL}};
    for (int i = 0; i < 4; i++) {
        char *svg = svg_of(h, titles[i]);
        ck_assert_ptr_nonnull(svg);
        for (int j = 0; j < 3 && names[i][j]; j++) {
            int n = series_points(svg, names[i][j], NULL, NULL);
            ck_assert_msg(n >= 2 && n <= RT_REPORT_MAX_POINTS, "%s: %d points", names[i][j], n);
        }
        free(svg);
    }
    /* the one-step spike survives downsampling; the loss axis stops near the
     * rest of the curve and the spike is drawn at its top edge, with a
     * caption giving its height and step */
    char *loss = svg_of(h, "Loss");
    double lo, hi, ymin;
    check_ticks(loss, "yt", &lo, &hi);
    ck_assert_msg(hi >= 2.1 && hi < 10, "loss axis up to %g", hi);
    ck_assert_int_eq(series_points(loss, "val loss", NULL, NULL), 200);
    series_points(loss, "train loss", &ymin, NULL);
    ck_assert_msg(ymin == 34.0, "highest point at y=%g px, not the top edge", ymin);
    free(loss);
    ck_assert_contains(h, "above the axis, drawn at its top edge (highest 99 at step 123,457)");
    ck_assert_contains(h, "drawn as");
    ck_assert_str_eq(cell(h, "steps"), "200,000");
    ck_assert_str_eq(cell(h, "tokens"), "104,857,600,000");
    ck_assert_str_eq(cell(h, "wall-time"), "44h26m40s (160000.0 s)");
    ck_assert_str_eq(cell(h, "best-loss"), "2.0067 (step 200,000)");
    ck_assert_str_eq(cell(h, "mean-tps"), "483,000");
    free(h);
}
END_TEST

START_TEST(errors_name_the_file) {
    cap_begin();
    int rc = rt_report_write(tp("absent.jsonl"), NULL, tp("r.html"));
    char *err = cap_end();
    ck_assert_int_eq(rc, -1);
    ck_assert_contains(err, tp("absent.jsonl"));
    free(err);
    const char *m = standard_run("run");
    cap_begin();
    rc = rt_report_write(m, tp("no-spec.yaml"), tp("r.html"));
    err = cap_end();
    ck_assert_int_eq(rc, -1);
    ck_assert_contains(err, tp("no-spec.yaml"));
    ck_assert_int_ne(access(tp("r.html"), F_OK), 0);
    free(err);
    cap_begin();
    rc = rt_report_write(m, NULL, tp("no/such/dir/r.html"));
    err = cap_end();
    ck_assert_int_eq(rc, -1);
    ck_assert_contains(err, "no/such/dir/r.html");
    free(err);
    cap_begin();
    rc = rt_report_write(tu_tmpdir, NULL, tp("r.html"));   /* a directory */
    err = cap_end();
    ck_assert_int_eq(rc, -1);
    ck_assert_contains(err, tu_tmpdir);
    free(err);
}
END_TEST

/* ---- the tool ---- */
static const char *tool(void) {
    static char b[512];
    const char *dir = getenv("TOOL_BIN_DIR");
    snprintf(b, sizeof b, "%s/report", dir && *dir ? dir : "build/bin");
    ck_assert_msg(access(b, X_OK) == 0, "%s: not built (run make, or set TOOL_BIN_DIR)", b);
    return b;
}

static int run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(char **out, const char *fmt, ...) {
    char cmd[2048], full[2600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s >%s/.out 2>&1", cmd, tu_tmpdir);
    int st = system(full);
    ck_assert_msg(st != -1 && WIFEXITED(st), "could not run: %s", cmd);
    *out = slurp(tp(".out"));
    return WEXITSTATUS(st);
}

START_TEST(tool_cli) {
    const char *m = standard_run("run");
    char spec[512];
    snprintf(spec, sizeof spec, "%s", write_text("spec.lock.yaml", SPEC));
    char *out;
    /* default output: report.html beside the metrics file */
    ck_assert_int_eq(run(&out, "%s %s", tool(), m), 0);
    ck_assert_contains(out, "report: wrote ");
    ck_assert_contains(out, tp("run/report.html"));
    free(out);
    char *h = slurp(tp("run/report.html"));
    ck_assert_str_eq(cell(h, "steps"), "100");
    free(h);
    /* --spec and -o, in either order; same bytes as the library writes */
    ck_assert_int_eq(run(&out, "%s --spec %s %s -o %s", tool(), spec, m, tp("x.html")), 0);
    free(out);
    ck_assert_int_eq(run(&out, "%s -o %s %s --spec=%s", tool(), tp("y.html"), m, spec), 0);
    free(out);
    char *x = slurp(tp("x.html")), *y = report(m, spec, tp("z.html"));
    ck_assert_msg(!strcmp(x, y), "the tool and rt_report_write disagree");
    free(x), free(y);
    ck_assert_int_eq(run(&out, "%s --help", tool()), 0);
    ck_assert_contains(out, "usage: report METRICS.jsonl");
    free(out);
    /* bad usage */
    ck_assert_int_eq(run(&out, "%s", tool()), 1);
    ck_assert_contains(out, "no metrics file given");
    free(out);
    ck_assert_int_eq(run(&out, "%s %s %s", tool(), m, m), 1);
    ck_assert_contains(out, "one metrics file expected");
    free(out);
    ck_assert_int_eq(run(&out, "%s %s --bogus", tool(), m), 1);
    ck_assert_contains(out, "unknown option '--bogus'");
    free(out);
    ck_assert_int_eq(run(&out, "%s %s -o", tool(), m), 1);
    ck_assert_contains(out, "-o needs a value");
    free(out);
    const char *bad = write_text("bad.jsonl", "{\"step\":1,\"loss\":1}\nnot json\n");
    ck_assert_int_eq(run(&out, "%s %s", tool(), bad), 1);
    char want[600];
    snprintf(want, sizeof want, "error: %s:2: invalid JSON", bad);
    ck_assert_contains(out, want);
    free(out);
    ck_assert_int_ne(access(tp("report.html"), F_OK), 0);
}
END_TEST

static Suite *report_suite(void) {
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("report");
    tcase_add_checked_fixture(tc, setup_tmp, teardown_tmp);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, standard_report);
    tcase_add_test(tc, deterministic);
    tcase_add_test(tc, no_eval_lines);
    tcase_add_test(tc, single_step);
    tcase_add_test(tc, nan_and_null_skipped);
    tcase_add_test(tc, bad_json_names_line);
    tcase_add_test(tc, unknown_shapes_ignored);
    tcase_add_test(tc, empty_metrics);
    tcase_add_test(tc, downsample_keeps_extremes);
    tcase_add_test(tc, huge_run_downsampled);
    tcase_add_test(tc, errors_name_the_file);
    tcase_add_test(tc, tool_cli);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(NULL);
    srunner_add_suite(sr, report_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
