/* rt_schedule.c: the learning-rate multiplier shared by Muon and AdamW.
 *
 * Linear warm-up to 1 over warmup_steps (step 0 already gets 1/warmup, so no
 * step is wasted at lr 0), then a decay to min_lr_ratio that lands exactly on
 * the last step, max_steps-1. */
#include "rt.h"

#include <math.h>

double rt_lr_ratio(const rt_settings_t *s, int64_t step, int64_t max_steps) {
    if (max_steps <= 0) max_steps = s->max_steps;
    int64_t warmup = s->warmup_steps > 0 ? s->warmup_steps : 0;
    if (step < 0) step = 0;
    if (step < warmup) return (double)(step + 1) / (double)warmup;
    double min = s->min_lr_ratio;
    int64_t span = max_steps - 1 - warmup;
    if (span < 1) span = 1;
    double p = (double)(step - warmup) / (double)span;
    if (p < 0) p = 0;
    if (p > 1) p = 1;
    switch (s->decay) {
    case RT_DECAY_COSINE: return min + (1.0 - min) * 0.5 * (1.0 + cos(M_PI * p));
    case RT_DECAY_LINEAR: return 1.0 - (1.0 - min) * p;
    default: return 1.0;  /* RT_DECAY_CONSTANT */
    }
}
