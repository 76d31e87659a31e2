/*@ banner @*/
/* bench.c: `make bench`: the fixed-shape training step of this variant on
 * synthetic tokens: tokens/s, MFU, memory, the phases and the costliest ops.
 *
 *   bench [--steps N]
 *
 * Template: templates/bench.c; gen fills the marked insertion points. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "rt.h"
#include "hparams.h"

static rt_settings_t settings = {
/*@ settings @*/
};

int main(int argc, char **argv) {
    int steps = 20;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--help")) {
            printf("usage: %s [--steps N]  (default 20)\n", argv[0]);
            return 0;
        } else rt_die("unknown option '%s' (see --help)", argv[i]);
    }
    if (steps < 1) rt_die("--steps must be at least 1");
    const rt_settings_t *s = &settings;
    optim_hparams_t h = hparams_from_settings(s);
    model_t *m = model_create();
    model_init_weights(m, s->seed);
    model_bench(m, &h, steps);
    model_free(m);
    return 0;
}
