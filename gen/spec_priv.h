/* spec_priv.h: what the spec_*.c files share with each other (not part of
 * the generator's interface; other modules include spec.h only). */
#ifndef GEN_SPEC_PRIV_H
#define GEN_SPEC_PRIV_H

#include "spec.h"

/* The parameter table of spec.h in state-dict order, group/decay unset.
 * Needs only the model section (validated and derived). Returns 0, or -1
 * when out of memory. */
int spec_param_table(const spec_model_t *m, spec_param_t **out, int *n);

/* True when any pattern of `pats` matches `name` (fnmatch, flags 0). */
bool spec_list_matches(const strlist_t *pats, const char *name);

/* The canonical lock text without its final "hash:" line. Caller frees. */
char *spec_lock_body(const spec_t *s);

/* sha256 of `len` bytes as 64 lowercase hex digits + NUL. */
void spec_sha256_hex(const char *data, size_t len, char hex[65]);

#endif
