/* rt_report.c: metrics.jsonl (+ spec.lock.yaml) -> one self-contained HTML
 * page. The plots are inline SVG drawn here, with no JavaScript and no
 * external resources, so a report can be archived, mailed or opened offline
 * and still look the same. Output depends only on the inputs (no dates, no
 * locale-dependent formatting beyond the C locale's printf), so the same
 * run always gives the same bytes. */
#include "rt_report.h"
#include "rt.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Output text */
typedef struct {
    char *p;
    size_t n, cap;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(o->p + o->n, o->cap - o->n, fmt, ap);
        va_end(ap);
        if (k < 0) rt_die("report: formatting failed");
        if ((size_t)k < o->cap - o->n) {
            o->n += (size_t)k;
            return;
        }
        o->cap = 2 * o->cap + (size_t)k + 1;
        o->p = realloc(o->p, o->cap);
        if (!o->p) rt_die("report: out of memory (%zu bytes)", o->cap);
    }
}

/* Text escaped for HTML element content and attribute values. Control bytes
 * other than tab and newline are not allowed in HTML text: shown as '?'. */
static void put_esc(out_t *o, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '&': put(o, "&amp;"); break;
        case '<': put(o, "&lt;"); break;
        case '>': put(o, "&gt;"); break;
        case '"': put(o, "&quot;"); break;
        case '\'': put(o, "&#39;"); break;
        default:
            if (c < 0x20 && c != '\n' && c != '\t') c = '?';
            if (c == 0x7f) c = '?';
            put(o, "%c", c);
        }
    }
}

static void put_escs(out_t *o, const char *s) { put_esc(o, s, strlen(s)); }

/* ------------------------------------------------------------------------
 * The run, as read from metrics.jsonl */
typedef struct {
    double *x, *y;   /* x[n] steps, y[n] values, finite only */
    size_t n, cap;
} series_t;

/* Values beyond +-1e100 are dropped like non-finite ones: no real metric
 * gets there, and axis arithmetic on them would overflow. */
static void push(series_t *s, double x, double y) {
    if (!(fabs(y) <= 1e100)) return;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->x = realloc(s->x, s->cap * sizeof *s->x);
        s->y = realloc(s->y, s->cap * sizeof *s->y);
        if (!s->x || !s->y) rt_die("report: out of memory (%zu points)", s->cap);
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
}

static void series_free(series_t *s) {
    free(s->x);
    free(s->y);
}

typedef struct {
    series_t loss, val, lr, lr_muon, lr_adamw, tps, gnorm, smooth;
    size_t step_lines, eval_lines, ignored_lines;
    size_t bad_loss;            /* step lines whose loss was null/NaN/inf */
    double first_bad_loss_step;
    double last_step;           /* largest step of any step line */
    double tokens, elapsed;     /* largest finite values seen (NAN: none) */
} run_t;

/* The value of key k when it is a number, NAN otherwise (absent, null, ...). */
static double num(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void take_line(run_t *r, json_t *o) {
    json_t *st = json_object_get(o, "step");
    json_t *loss = json_object_get(o, "loss"), *val = json_object_get(o, "val_loss");
    double step = json_is_number(st) ? json_number_value(st) : NAN;
    if (!(fabs(step) <= 1e15) || (!loss && !val)) {
        r->ignored_lines++;   /* a line kind this report does not know */
        return;
    }
    if (loss) {
        double l = json_is_number(loss) ? json_number_value(loss) : NAN;
        if (!isfinite(l) && r->bad_loss++ == 0) r->first_bad_loss_step = step;
        if (r->step_lines++ == 0 || step > r->last_step) r->last_step = step;
        push(&r->loss, step, l);
        push(&r->lr, step, num(o, "lr"));
        push(&r->lr_muon, step, num(o, "lr_muon"));
        push(&r->lr_adamw, step, num(o, "lr_adamw"));
        push(&r->tps, step, num(o, "tokens_per_s"));
        push(&r->gnorm, step, num(o, "grad_norm"));
        double e = num(o, "elapsed_s");
        if (isfinite(e) && !(e <= r->elapsed)) r->elapsed = e;
    }
    if (val) {
        r->eval_lines++;
        push(&r->val, step, json_is_number(val) ? json_number_value(val) : NAN);
    }
    double t = num(o, "tokens");
    if (isfinite(t) && !(t <= r->tokens)) r->tokens = t;
}

/* Python's json module writes NaN, Infinity and -Infinity, which are not
 * JSON; they are read as null (a skipped value) rather than rejecting the
 * whole file. Only bare words outside strings are touched. Returns the new
 * length; *dst is grown as needed. */
static size_t nan_to_null(const char *s, size_t n, char **dst, size_t *cap) {
    if (*cap < n + n / 3 + 8) {
        *cap = n + n / 3 + 8;   /* "NaN" -> "null" grows by a third at most */
        *dst = realloc(*dst, *cap);
        if (!*dst) rt_die("report: out of memory");
    }
    static const char *const WORDS[] = {"-Infinity", "Infinity", "NaN"};
    char *d = *dst;
    size_t o = 0;
    int in_str = 0;
    for (size_t i = 0; i < n;) {
        char c = s[i];
        if (in_str) {
            if (c == '\\' && i + 1 < n) {
                d[o++] = s[i++];
            } else if (c == '"') {
                in_str = 0;
            }
            d[o++] = s[i++];
            continue;
        }
        if (c == '"') in_str = 1;
        int replaced = 0;
        for (int w = 0; w < 3 && !replaced; w++) {
            size_t wl = strlen(WORDS[w]);
            if (i + wl <= n && !memcmp(s + i, WORDS[w], wl) &&
                (i + wl == n || !((s[i + wl] >= 'a' && s[i + wl] <= 'z') ||
                                  (s[i + wl] >= 'A' && s[i + wl] <= 'Z')))) {
                memcpy(d + o, "null", 4);
                o += 4;
                i += wl;
                replaced = 1;
            }
        }
        if (!replaced) d[o++] = s[i++];
    }
    return o;
}

static int read_metrics(const char *path, run_t *r) {
    FILE *f = fopen(path, "r");
    if (!f) return rt_err("%s: cannot open: %s", path, strerror(errno));
    char *line = NULL, *clean = NULL;
    size_t cap = 0, clean_cap = 0, lineno = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t n = (size_t)len;
        int terminated = n > 0 && line[n - 1] == '\n';
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                         line[n - 1] == '\t'))
            n--;
        size_t lead = 0;
        while (lead < n && (line[lead] == ' ' || line[lead] == '\t')) lead++;
        if (lead == n) continue;   /* blank line */
        size_t cn = nan_to_null(line + lead, n - lead, &clean, &clean_cap);
        json_error_t err;
        json_t *j = json_loadb(clean, cn, JSON_DECODE_ANY, &err);
        if (!j) {
            if (!terminated) {
                /* rt_log writes whole lines, so only a run killed or still
                 * writing leaves a partial last line: report the rest */
                fprintf(stderr, "warning: %s:%zu: incomplete last line skipped\n", path, lineno);
                break;
            }
            rc = rt_err("%s:%zu: invalid JSON: %s", path, lineno, err.text);
            break;
        }
        if (json_is_object(j)) take_line(r, j);
        else r->ignored_lines++;
        json_decref(j);
    }
    if (rc == 0 && ferror(f)) rc = rt_err("%s: read failed: %s", path, strerror(errno));
    fclose(f);
    free(line);
    free(clean);
    return rc;
}

/* Centred moving average over a window of 2h+1 points (truncated at the
 * ends): no lag, so the smoothed curve sits on the raw one. */
static void smooth(const series_t *in, series_t *out) {
    if (in->n < 5) return;
    size_t h = in->n / 40;
    if (h < 1) h = 1;
    if (h > 500) h = 500;
    double *pre = rt_malloc((in->n + 1) * sizeof *pre);
    pre[0] = 0;
    for (size_t i = 0; i < in->n; i++) pre[i + 1] = pre[i] + in->y[i];
    for (size_t i = 0; i < in->n; i++) {
        size_t lo = i >= h ? i - h : 0, hi = i + h + 1 < in->n ? i + h + 1 : in->n;
        push(out, in->x[i], (pre[hi] - pre[lo]) / (double)(hi - lo));
    }
    free(pre);
}

/* ------------------------------------------------------------------------
 * Downsampling */
size_t rt_report_downsample(const double *x, const double *y, size_t n, size_t max_points,
                            double *out_x, double *out_y) {
    size_t k = 0;
    if (max_points < 2) max_points = 2;
    if (n <= max_points) {
        for (size_t i = 0; i < n; i++)
            if (isfinite(y[i])) out_x[k] = x[i], out_y[k] = y[i], k++;
        return k;
    }
    size_t buckets = max_points / 2;
    for (size_t b = 0; b < buckets; b++) {
        /* b*n fits: n points were held in memory, buckets <= max_points */
        size_t lo = b * n / buckets, hi = (b + 1) * n / buckets;
        size_t imin = hi, imax = hi;
        for (size_t i = lo; i < hi; i++) {
            if (!isfinite(y[i])) continue;
            if (imin == hi || y[i] < y[imin]) imin = i;
            if (imax == hi || y[i] > y[imax]) imax = i;
        }
        if (imin == hi) continue;   /* nothing finite in this bucket */
        size_t first = imin < imax ? imin : imax, second = imin < imax ? imax : imin;
        out_x[k] = x[first], out_y[k] = y[first], k++;
        if (second != first) out_x[k] = x[second], out_y[k] = y[second], k++;
    }
    return k;
}

/* ------------------------------------------------------------------------
 * Axes: ranges that end on round ticks (1, 2 or 5 times a power of ten). */
typedef struct {
    double lo, hi, step;
    int mode;          /* 0 fixed decimals, 1 k/M/G suffix, 2 mantissa e exponent */
    double scale;      /* modes 1 and 2: value shown is v / scale */
    int decimals;
    const char *suffix;
} axis_t;

static double nice_step(double span, int ticks) {
    double raw = span / ticks, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f <= 1.0 + 1e-9 ? 1 : f <= 2.0 + 1e-9 ? 2 : f <= 5.0 + 1e-9 ? 5 : 10) * mag;
}

static int decimals_for(double step) {
    int d = -(int)floor(log10(step) + 1e-9);
    return d < 0 ? 0 : d;
}

static void axis_make(axis_t *a, double lo, double hi, int integer) {
    double mag = fmax(fabs(lo), fabs(hi));
    if (!(hi - lo > 1e-9 * mag)) {   /* one value (or nearly): centre it in a small range */
        double d = integer ? 1 : mag > 0 ? 0.1 * mag : 1;
        lo -= d;
        hi += d;
    }
    a->step = nice_step(hi - lo, 5);
    if (integer && a->step < 1) a->step = 1;
    a->lo = floor(lo / a->step + 1e-9) * a->step;
    a->hi = ceil(hi / a->step - 1e-9) * a->step;
    if (!(a->hi > a->lo)) a->hi = a->lo + a->step;
    mag = fmax(fabs(a->lo), fabs(a->hi));
    a->suffix = "";
    a->scale = 1;
    if (mag >= 1e4 && a->step >= 1) {
        static const char *const SUF[] = {"k", "M", "G", "T"};
        int s = mag >= 1e12 ? 3 : mag >= 1e9 ? 2 : mag >= 1e6 ? 1 : 0;
        a->mode = 1;
        a->scale = pow(1000, s + 1);
        a->suffix = SUF[s];
        a->decimals = decimals_for(a->step / a->scale);
    } else if (mag < 1e-2) {
        a->mode = 2;
        a->scale = pow(10, floor(log10(mag)));
        a->decimals = decimals_for(a->step / a->scale);
    } else {
        a->mode = 0;
        a->decimals = decimals_for(a->step);
    }
}

static int axis_ticks(const axis_t *a) { return (int)llround((a->hi - a->lo) / a->step) + 1; }

static double axis_tick(const axis_t *a, int i) {
    double v = a->lo + i * a->step;
    return fabs(v) < 1e-9 * a->step ? 0 : v;   /* no "-0" */
}

static void fmt_tick(char out[40], const axis_t *a, double v) {
    if (v == 0) {
        strcpy(out, "0");
        return;
    }
    if (a->mode == 0) {
        snprintf(out, 40, "%.*f", a->decimals, v);
    } else if (a->mode == 1) {
        snprintf(out, 40, "%.*f%s", a->decimals, v / a->scale, a->suffix);
    } else {
        snprintf(out, 40, "%.*fe%d", a->decimals, v / a->scale, (int)llround(log10(a->scale)));
    }
}

/* ------------------------------------------------------------------------
 * Plots */
typedef struct {
    const char *name;
    const series_t *s;
    const char *colour;
    double width, opacity;
    int right;     /* on the right-hand axis */
    int markers;   /* circles at the points (sparse series such as evals) */
    int dashed;    /* told apart from a line it may overlap exactly */
    int robust;    /* noisy: a few extreme points may be cut off the axis (axis_top) */
} line_t;

typedef struct {
    const char *title, *ylabel, *y2label, *empty;
    line_t lines[4];
    int n;
} plot_t;

#define PW 880                   /* SVG size in px */
#define PH 320
#define ML 68                    /* margins: left (ticks + label), top (legend), bottom */
#define MT 34
#define MB 46

static void range(const series_t *s, double *lo, double *hi, int use_x) {
    const double *v = use_x ? s->x : s->y;
    for (size_t i = 0; i < s->n; i++) {
        if (v[i] < *lo) *lo = v[i];
        if (v[i] > *hi) *hi = v[i];
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of s's values (nearest rank). */
static double quantile(const series_t *s, double q) {
    double *v = rt_malloc(s->n * sizeof *v);
    memcpy(v, s->y, s->n * sizeof *v);
    qsort(v, s->n, sizeof *v, cmp_double);
    double r = v[(size_t)(q * (double)(s->n - 1) + 0.5)];
    free(v);
    return r;
}

/* Top of a y axis. Normally the data's maximum; but one loss spike or
 * gradient blow-up can be 20x the rest of a curve and flatten it into the
 * floor. So when a noisy ("robust") line's highest points reach far above
 * its 99.5th percentile (and above every other line on that axis), the
 * axis stops there and those points are drawn at the top edge, with a
 * caption saying how many and how high they went. */
static double axis_top(const plot_t *p, int side, double lo, double hi) {
    double lim = -INFINITY;
    int robust = 0;
    for (int i = 0; i < p->n; i++) {
        const line_t *l = &p->lines[i];
        if (!l->s->n || l->right != side) continue;
        if (l->robust) {
            robust = 1;
            lim = fmax(lim, quantile(l->s, 0.995));
        } else {
            range(l->s, &(double){INFINITY}, &lim, 0);
        }
    }
    return robust && hi - lo > 1.5 * (lim - lo) ? lim : hi;
}

static void put_int(out_t *o, double x);

static void draw_plot(out_t *o, const plot_t *p) {
    put(o, "<h2>");
    put_escs(o, p->title);
    put(o, "</h2>\n");
    double xlo = INFINITY, xhi = -INFINITY, ylo[2] = {INFINITY, INFINITY},
           yhi[2] = {-INFINITY, -INFINITY};
    int used[2] = {0, 0}, any = 0;
    for (int i = 0; i < p->n; i++) {
        const line_t *l = &p->lines[i];
        if (!l->s->n) continue;
        any = 1;
        used[l->right] = 1;
        range(l->s, &xlo, &xhi, 1);
        range(l->s, &ylo[l->right], &yhi[l->right], 0);
    }
    if (!any) {
        put(o, "<p class=\"empty\">");
        put_escs(o, p->empty);
        put(o, "</p>\n");
        return;
    }
    axis_t ax, ay[2];
    double top[2] = {0, 0};
    axis_make(&ax, xlo, xhi, 1);
    for (int s = 0; s < 2; s++)
        if (used[s]) {
            top[s] = axis_top(p, s, ylo[s], yhi[s]);
            axis_make(&ay[s], ylo[s], top[s], 0);
        }
    const int mr = used[1] ? ML : 20;
    const double x0 = ML, x1 = PW - mr, y0 = PH - MB, y1 = MT;   /* plot area, y0 at the bottom */
#define SX(v) (x0 + ((v) - ax.lo) / (ax.hi - ax.lo) * (x1 - x0))
#define SY(a, v) fmax(y1, fmin(y0, y0 - ((v) - (a)->lo) / ((a)->hi - (a)->lo) * (y0 - y1)))

    put(o, "<figure>\n<svg class=\"plot\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
           "role=\"img\" aria-label=\"", PW, PH, PW, PH);
    put_escs(o, p->title);
    put(o, "\">\n<rect class=\"area\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n", x0,
        y1, x1 - x0, y0 - y1);
    char lab[40];
    /* grid and ticks: x */
    for (int i = 0, nt = axis_ticks(&ax); i < nt; i++) {
        double v = axis_tick(&ax, i), px = SX(v);
        fmt_tick(lab, &ax, v);
        put(o, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
               "<text class=\"xt\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
            px, y1, px, y0, px, y0 + 16, lab);
    }
    /* y (left, and right when a line uses it): the left axis draws the grid */
    for (int s = 0; s < 2; s++) {
        if (!used[s]) continue;
        for (int i = 0, nt = axis_ticks(&ay[s]); i < nt; i++) {
            double v = axis_tick(&ay[s], i), py = SY(&ay[s], v);
            fmt_tick(lab, &ay[s], v);
            if (s == 0 || !used[0])
                put(o, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x0,
                    py, x1, py);
            put(o, "<text class=\"%s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%s</text>\n",
                s ? "y2t" : "yt", s ? x1 + 6 : x0 - 6, py + 4, s ? "start" : "end", lab);
        }
    }
    const double axes[3][4] = {{x0, y0, x1, y0}, {x0, y0, x0, y1}, {x1, y0, x1, y1}};
    for (int i = 0; i < (used[1] ? 3 : 2); i++)
        put(o, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
            axes[i][0], axes[i][1], axes[i][2], axes[i][3]);
    /* axis labels */
    put(o, "<text class=\"label\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">step</text>\n",
        (x0 + x1) / 2, PH - 8);
    const char *ylab[2] = {p->ylabel, p->y2label};
    for (int s = 0; s < 2; s++) {
        if (!used[s] || !ylab[s]) continue;
        double lx = s ? PW - 12 : 14, ly = (y0 + y1) / 2;
        put(o, "<text class=\"label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
               "transform=\"rotate(%d %.1f %.1f)\">", lx, ly, s ? 90 : -90, lx, ly);
        put_escs(o, ylab[s]);
        put(o, "</text>\n");
    }
    /* the series */
    size_t drawn[4] = {0};
    for (int i = 0; i < p->n; i++) {
        const line_t *l = &p->lines[i];
        if (!l->s->n) continue;
        const axis_t *a = &ay[l->right];
        size_t cap = l->s->n < RT_REPORT_MAX_POINTS ? l->s->n : RT_REPORT_MAX_POINTS;
        double *dx = rt_malloc(cap * sizeof *dx), *dy = rt_malloc(cap * sizeof *dy);
        size_t k = rt_report_downsample(l->s->x, l->s->y, l->s->n, RT_REPORT_MAX_POINTS, dx, dy);
        drawn[i] = k;
        put(o, "<polyline data-series=\"");
        put_escs(o, l->name);
        put(o, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" stroke-opacity=\"%.2f\" "
               "stroke-linejoin=\"round\"%s points=\"", l->colour, l->width, l->opacity,
            l->dashed ? " stroke-dasharray=\"6 4\"" : "");
        for (size_t j = 0; j < k; j++)
            put(o, "%s%.1f,%.1f", j ? " " : "", SX(dx[j]), SY(a, dy[j]));
        put(o, "\"/>\n");
        /* a lone point draws no line: mark it (and sparse series) with dots */
        if ((l->markers && k <= 200) || k == 1) {
            for (size_t j = 0; j < k; j++)
                put(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", SX(dx[j]),
                    SY(a, dy[j]), l->colour);
            put(o, "\n");
        }
        free(dx);
        free(dy);
    }
    /* legend, in the top margin */
    double lx = x0;
    for (int i = 0; i < p->n; i++) {
        const line_t *l = &p->lines[i];
        if (!l->s->n) continue;
        put(o, "<line x1=\"%.1f\" y1=\"16\" x2=\"%.1f\" y2=\"16\" stroke=\"%s\" "
               "stroke-width=\"%.1f\" stroke-opacity=\"%.2f\"%s/>",
            lx, lx + 22, l->colour, l->width < 2 ? 2 : l->width,
            l->opacity < 0.5 ? 0.5 : l->opacity,
            l->dashed ? " stroke-dasharray=\"6 4\"" : "");
        put(o, "<text class=\"legend\" x=\"%.1f\" y=\"20\">", lx + 28);
        put_escs(o, l->name);
        if (l->right) put(o, " (right axis)");
        put(o, "</text>\n");
        lx += 28 + 7.0 * (double)(strlen(l->name) + (l->right ? 13 : 0)) + 22;
    }
    put(o, "</svg>\n");
#undef SX
#undef SY
    /* what the picture does not show as is: downsampled lines, then points
     * above a cut axis */
    int notes = 0;
    for (int i = 0; i < p->n; i++) {
        const line_t *l = &p->lines[i];
        if (!l->s->n || drawn[i] == l->s->n) continue;
        put(o, notes++ ? "; " : "<figcaption>");
        put_escs(o, l->name);
        put(o, ": ");
        put_int(o, (double)l->s->n);
        put(o, " points drawn as ");
        put_int(o, (double)drawn[i]);
    }
    if (notes)
        put(o, " (the lowest and highest point of each of %d buckets, so spikes stay visible).",
            RT_REPORT_MAX_POINTS / 2);
    for (int i = 0; i < p->n; i++) {
        const line_t *l = &p->lines[i];
        size_t above = 0, imax = 0;
        for (size_t j = 0; j < l->s->n; j++) {
            if (l->s->y[j] > ay[l->right].hi) above++;
            if (l->s->y[j] > l->s->y[imax]) imax = j;
        }
        if (!above) continue;
        put(o, notes++ ? "<br>\n" : "<figcaption>");
        put_escs(o, l->name);
        put(o, ": ");
        put_int(o, (double)above);
        put(o, " point%s above the axis, drawn at its top edge (highest %.4g at step ",
            above == 1 ? "" : "s", l->s->y[imax]);
        put_int(o, l->s->x[imax]);
        put(o, ").");
    }
    if (notes) put(o, "</figcaption>\n");
    put(o, "</figure>\n");
}

/* ------------------------------------------------------------------------
 * Summary */
/* 1234567 -> "1,234,567" */
static void fmt_int(char out[40], double x) {
    if (!isfinite(x)) {
        strcpy(out, "none");
        return;
    }
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%.0f", fabs(x) < 9e18 ? fabs(x) : 9e18), o = 0;
    if (x < 0 && llround(x) != 0) out[o++] = '-';
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0) out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

static void put_int(out_t *o, double x) {
    char b[40];
    fmt_int(b, x);
    put(o, "%s", b);
}

/* 3723.4 -> "1h02m03s" */
static void fmt_duration(char out[40], double s) {
    if (!isfinite(s) || s < 0) {
        strcpy(out, "none");
        return;
    }
    long long t = llround(fmin(s, 1e12));
    if (t >= 3600) snprintf(out, 40, "%lldh%02lldm%02llds", t / 3600, (t % 3600) / 60, t % 60);
    else if (t >= 60) snprintf(out, 40, "%lldm%02llds", t / 60, t % 60);
    else snprintf(out, 40, "%.1f s", s);
}

static void row(out_t *o, const char *id, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void row(out_t *o, const char *id, const char *label, const char *fmt, ...) {
    char v[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    put(o, "<tr><th>%s</th><td id=\"%s\">", label, id);
    put_escs(o, v);
    put(o, "</td></tr>\n");
}

/* "2.3456 (step 120)" for the value of series s at index i */
static void loss_at(char out[80], const series_t *s, size_t i) {
    char st[40];
    fmt_int(st, s->x[i]);
    snprintf(out, 80, "%.4f (step %s)", s->y[i], st);
}

static size_t argmin(const series_t *s) {
    size_t b = 0;
    for (size_t i = 1; i < s->n; i++)
        if (s->y[i] < s->y[b]) b = i;
    return b;
}

static void summary(out_t *o, const run_t *r) {
    char a[40], b[40], v[80];
    put(o, "<h2>Summary</h2>\n<table class=\"summary\">\n");
    fmt_int(a, (double)r->step_lines);
    row(o, "steps", "steps logged", "%s", a);
    fmt_int(a, r->step_lines ? r->last_step : NAN);
    row(o, "last-step", "last step", "%s", a);
    fmt_int(a, r->tokens);
    row(o, "tokens", "tokens", "%s", a);
    fmt_duration(a, r->elapsed);
    if (isfinite(r->elapsed) && r->elapsed >= 60)
        row(o, "wall-time", "wall time", "%s (%.1f s)", a, r->elapsed);
    else row(o, "wall-time", "wall time", "%s", a);
    const series_t *l = &r->loss;
    if (l->n) {
        loss_at(v, l, 0);
        row(o, "first-loss", "first train loss", "%s", v);
        loss_at(v, l, l->n - 1);
        row(o, "last-loss", "last train loss", "%s", v);
        loss_at(v, l, argmin(l));
        row(o, "best-loss", "best train loss", "%s", v);
    } else {
        row(o, "first-loss", "first train loss", "none");
        row(o, "last-loss", "last train loss", "none");
        row(o, "best-loss", "best train loss", "none");
    }
    if (r->smooth.n) row(o, "last-smoothed-loss", "last smoothed train loss", "%.4f",
                         r->smooth.y[r->smooth.n - 1]);
    fmt_int(a, (double)r->eval_lines);
    row(o, "evals", "evaluations", "%s", a);
    if (r->val.n) {
        loss_at(v, &r->val, argmin(&r->val));
        row(o, "best-val-loss", "best validation loss", "%s", v);
        loss_at(v, &r->val, r->val.n - 1);
        row(o, "last-val-loss", "last validation loss", "%s", v);
    } else {
        row(o, "best-val-loss", "best validation loss", "none");
        row(o, "last-val-loss", "last validation loss", "none");
    }
    if (r->tps.n) {
        double sum = 0;
        for (size_t i = 0; i < r->tps.n; i++) sum += r->tps.y[i];
        fmt_int(a, sum / (double)r->tps.n);
        row(o, "mean-tps", "mean tokens/s", "%s", a);
    } else {
        row(o, "mean-tps", "mean tokens/s", "none");
    }
    if (r->ignored_lines) {
        fmt_int(a, (double)r->ignored_lines);
        row(o, "ignored-lines", "lines of other kinds (not plotted)", "%s", a);
    }
    if (r->bad_loss) {
        fmt_int(a, (double)r->bad_loss);
        fmt_int(b, r->first_bad_loss_step);
        row(o, "nonfinite-loss", "non-finite train losses", "%s (first at step %s)", a, b);
    }
    put(o, "</table>\n");
}

/* ------------------------------------------------------------------------
 * The page */
/* Value of a top-level "key:" line of the lock file, quotes stripped. */
static void lock_value(const char *text, const char *key, char *out, size_t cap) {
    size_t kl = strlen(key);
    out[0] = '\0';
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kl) || p[kl] != ':') continue;
        const char *v = p + kl + 1, *e = strchr(v, '\n');
        if (!e) e = v + strlen(v);
        while (v < e && (*v == ' ' || *v == '\t' || *v == '"' || *v == '\'')) v++;
        while (e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '"' ||
                         e[-1] == '\''))
            e--;
        size_t n = (size_t)(e - v) < cap - 1 ? (size_t)(e - v) : cap - 1;
        memcpy(out, v, n);
        out[n] = '\0';
        return;
    }
}

/* Run name when there is no lock: the metrics file's directory (logs/NAME). */
static void dir_name(const char *path, char *out, size_t cap) {
    const char *end = strrchr(path, '/');
    if (!end) {
        snprintf(out, cap, "run");
        return;
    }
    const char *start = end;
    while (start > path && start[-1] != '/') start--;
    size_t n = (size_t)(end - start) < cap - 1 ? (size_t)(end - start) : cap - 1;
    memcpy(out, start, n);
    out[n] = '\0';
    if (!n) snprintf(out, cap, "run");
}

static const char *CSS =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:920px;"
    "margin:2em auto;padding:0 1em;color:#222}\n"
    "h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}\n"
    "p.src{color:#666;font-size:.9em}\n"
    "table.summary{border-collapse:collapse}\n"
    "table.summary th,table.summary td{padding:3px 14px 3px 0;text-align:left;"
    "border-bottom:1px solid #eee}\n"
    "table.summary th{font-weight:normal;color:#555}\n"
    "table.summary td{font-variant-numeric:tabular-nums}\n"
    "figure{margin:0}figcaption{color:#666;font-size:.85em}\n"
    "svg.plot{max-width:100%;height:auto}\n"
    "svg.plot text{font:11px sans-serif;fill:#333}\n"
    "svg.plot text.label{font-size:12px;fill:#222}\n"
    "svg.plot rect.area{fill:#fcfcfc;stroke:none}\n"
    "svg.plot line.grid{stroke:#e6e6e6;stroke-width:1}\n"
    "svg.plot line.axis{stroke:#888;stroke-width:1}\n"
    "pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:.85em}\n"
    "p.empty{color:#888}\n";

static void render(out_t *o, run_t *r, const char *metrics_jsonl, const char *spec_lock,
                   const char *spec, size_t spec_len) {
    char name[128] = "", hash[80] = "";
    if (spec) {
        lock_value(spec, "name", name, sizeof name);
        lock_value(spec, "hash", hash, sizeof hash);
    }
    if (!name[0]) dir_name(metrics_jsonl, name, sizeof name);

    put(o, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<title>Run report: ");
    put_escs(o, name);
    put(o, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>Run report: ", CSS);
    put_escs(o, name);
    put(o, "</h1>\n<p class=\"src\">metrics: ");
    put_escs(o, metrics_jsonl);
    if (spec_lock) {
        put(o, "<br>\nspec: ");
        put_escs(o, spec_lock);
        if (hash[0]) {
            put(o, " (hash ");
            put_escs(o, hash);
            put(o, ")");
        }
    }
    put(o, "</p>\n");
    if (!r->step_lines && !r->eval_lines)
        put(o, "<p class=\"empty\">No step or eval lines in the metrics file yet.</p>\n");
    summary(o, r);

    plot_t loss = {.title = "Loss", .ylabel = "loss", .empty = "No loss values logged.", .n = 3,
                   .lines = {{.name = "train loss", .s = &r->loss, .colour = "#1f77b4",
                              .width = 1.0, .opacity = 0.35, .robust = 1},
                             {.name = "train loss (smoothed)", .s = &r->smooth,
                              .colour = "#0b3d91", .width = 2.0, .opacity = 1.0},
                             {.name = "val loss", .s = &r->val, .colour = "#e8710a",
                              .width = 2.0, .opacity = 1.0, .markers = 1}}};
    draw_plot(o, &loss);
    /* Muon's and AdamW's rates differ by about 10x: each on its own axis.
     * They follow the same schedule, so on their own axes the two curves
     * coincide: AdamW's is dashed to show both. */
    plot_t lr = {.title = "Learning rates", .ylabel = "Muon lr", .y2label = "AdamW lr",
                 .empty = "No learning rates logged.", .n = 2,
                 .lines = {{.name = "Muon lr", .s = &r->lr_muon, .colour = "#7b3fb5",
                            .width = 2.0, .opacity = 1.0},
                           {.name = "AdamW lr", .s = &r->lr_adamw, .colour = "#2ca02c",
                            .width = 2.0, .opacity = 1.0, .right = 1, .dashed = 1}}};
    if (!r->lr_muon.n && !r->lr_adamw.n) {   /* older logs: only the schedule's multiplier */
        lr.title = "Learning rate";
        lr.ylabel = "lr multiplier";
        lr.n = 1;
        lr.lines[0].name = "lr multiplier";
        lr.lines[0].s = &r->lr;
    } else if (!r->lr_muon.n) {
        lr.lines[1].right = 0;
        lr.lines[1].dashed = 0;
        lr.ylabel = "AdamW lr";
    }
    draw_plot(o, &lr);
    plot_t tps = {.title = "Throughput", .ylabel = "tokens/s", .empty = "No throughput logged.",
                  .n = 1, .lines = {{.name = "tokens/s", .s = &r->tps, .colour = "#17a2b8",
                                     .width = 1.5, .opacity = 1.0}}};
    draw_plot(o, &tps);
    plot_t gn = {.title = "Gradient norm", .ylabel = "grad norm",
                 .empty = "No gradient norms logged.", .n = 1,
                 .lines = {{.name = "grad norm", .s = &r->gnorm, .colour = "#d62728",
                            .width = 1.2, .opacity = 0.9, .robust = 1}}};
    draw_plot(o, &gn);

    put(o, "<h2>Spec</h2>\n");
    if (spec) {
        put(o, "<pre>");
        put_esc(o, spec, spec_len);
        put(o, "</pre>\n");
    } else {
        put(o, "<p class=\"empty\">No spec given (report --spec build/NAME/spec.lock.yaml).</p>\n");
    }
    put(o, "</body>\n</html>\n");
}

int rt_report_write(const char *metrics_jsonl, const char *spec_lock, const char *out_html) {
    run_t r;
    memset(&r, 0, sizeof r);
    r.tokens = NAN;
    r.elapsed = NAN;
    char *spec = NULL;
    size_t spec_len = 0;
    int rc = -1;
    if (read_metrics(metrics_jsonl, &r) == 0 &&
        (!spec_lock || (spec = rt_read_file(spec_lock, &spec_len)) != NULL)) {
        smooth(&r.loss, &r.smooth);
        out_t o = {rt_malloc(1 << 16), 0, 1 << 16};
        render(&o, &r, metrics_jsonl, spec_lock, spec, spec_len);
        rc = rt_write_file_atomic(out_html, o.p, o.n);
        free(o.p);
    }
    free(spec);
    series_t *all[] = {&r.loss,     &r.val, &r.lr,    &r.lr_muon,
                       &r.lr_adamw, &r.tps, &r.gnorm, &r.smooth};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) series_free(all[i]);
    return rc;
}
