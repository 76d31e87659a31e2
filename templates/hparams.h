/* hparams.h: the optimizer settings a variant's model takes, from the
 * runtime settings (the spec's values after command-line overrides);
 * shared by the training program and the benchmark. */
#ifndef HPARAMS_H
#define HPARAMS_H

#include "model.h"
#include "rt.h"

static inline optim_hparams_t hparams_from_settings(const rt_settings_t *s) {
    optim_hparams_t h = {
        .muon_lr = s->muon_lr, .muon_momentum = s->muon_momentum, .muon_weight_decay = s->muon_weight_decay,
        .muon_ns_coef = {s->muon_ns_coef[0], s->muon_ns_coef[1], s->muon_ns_coef[2]},
        .muon_nesterov = s->muon_nesterov, .muon_ns_steps = s->muon_ns_steps, .muon_lr_adjust = s->muon_lr_adjust,
        .adamw_lr = s->adamw_lr, .adamw_beta1 = s->adamw_beta1, .adamw_beta2 = s->adamw_beta2,
        .adamw_eps = s->adamw_eps, .adamw_weight_decay = s->adamw_weight_decay,
    };
    return h;
}

#endif
