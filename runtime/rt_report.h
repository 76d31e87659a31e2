/* rt_report.h: the HTML run report (one self-contained page: summary table,
 * inline SVG plots of the curves in metrics.jsonl, and the resolved spec).
 * The tool runtime/tools/report.c is its command line. */
#ifndef RT_REPORT_H
#define RT_REPORT_H

#include <stddef.h>

/* Most points drawn per series; longer series are downsampled. */
#define RT_REPORT_MAX_POINTS 2000

/* Reads `metrics_jsonl` (as written by rt_log.c: step lines with step, loss,
 * lr, lr_muon, lr_adamw, tokens_per_s, grad_norm, tokens, elapsed_s; eval
 * lines with step, val_loss, tokens) and, when not NULL, the spec lock file,
 * and writes the report to `out_html` atomically. Lines of other shapes are
 * ignored; null, NaN and infinite values are skipped; a line that is not
 * JSON is an error naming FILE:LINE, except an unterminated last line (a run
 * still writing), which is skipped with a warning. Long series are
 * downsampled (rt_report_downsample); when a few points of the train loss or
 * gradient norm reach far above the rest, the y axis stops at the 99.5th
 * percentile and those points are drawn at its top edge, with a caption
 * giving their number and the highest value. Same inputs, same bytes.
 * Returns 0, or -1 after printing the problem (nothing is written then). */
int rt_report_write(const char *metrics_jsonl, const char *spec_lock_yaml_or_NULL,
                    const char *out_html);

/* Reduces the series (x[i], y[i]), i < n, to at most max_points (>= 2)
 * points: the index range is cut into max_points/2 equal buckets and each
 * keeps its minimum and its maximum, in their original order, so spikes
 * survive. Non-finite y are dropped. A series of at most max_points points
 * is copied as is (less its non-finite y). out_x and out_y must hold
 * min(n, max_points) values. Returns the number of points written. */
size_t rt_report_downsample(const double *x, const double *y, size_t n, size_t max_points,
                            double *out_x, double *out_y);

#endif
