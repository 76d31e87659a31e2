/* check_model.c: numerics of the generated CPU model.
 *
 * Runs the model harness (tests/harness/model_harness.c) built against the
 * variants in tests/specs/variants/ and checks its RESULT lines:
 *  - logits, loss and every gradient against transformers' MambaForCausalLM
 *    (tests/reference/make_model_fixtures.py, fp32 on the CPU);
 *  - one Muon and one AdamW step against torch.optim.Muon / torch.optim.AdamW;
 *  - central finite differences of every parameter tensor in fp64. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define MAX_RESULTS 256
typedef struct {
    char name[128];
    double err;
} result_t;

static int run_harness(const char *cmd, result_t *out, int max) {
    char *text;
    int rc = tu_run(cmd, &text);
    ck_assert_msg(rc == 0, "%s exited with %d:\n%s", cmd, rc, text);
    int n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        result_t r;
        if (sscanf(line, "RESULT %127s %lf", r.name, &r.err) == 2 && n < max) out[n++] = r;
    }
    free(text);
    return n;
}

/* Every result whose name starts with `prefix` must be <= tol; returns how many were checked. */
static int check_prefix(const result_t *r, int n, const char *prefix, double tol) {
    int count = 0;
    for (int i = 0; i < n; i++) {
        if (strncmp(r[i].name, prefix, strlen(prefix)) != 0) continue;
        ck_assert_msg(r[i].err <= tol, "%s: relative error %.3e exceeds %.1e", r[i].name, r[i].err, tol);
        count++;
    }
    return count;
}

/* fp32 on both sides, different summation orders: observed <= 1e-6 relative
 * (max|diff| / max|ref| per tensor). 1e-5 leaves margin for other compilers
 * and thread counts while any real mistake (a missing term, a wrong scale)
 * shows as 1e-3 or more. */
#define TOL_FP32 1e-5

static void check_fixture(const char *harness) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s fixture tests/fixtures/reference/mamba_tiny.safetensors", harness);
    result_t r[MAX_RESULTS];
    int n = run_harness(cmd, r, MAX_RESULTS);
    ck_assert_int_eq(check_prefix(r, n, "logits", TOL_FP32), 1);
    ck_assert_int_eq(check_prefix(r, n, "loss", TOL_FP32), 1);
    /* 1 embedding + 10 per layer x 2 layers + norm_f */
    ck_assert_int_eq(check_prefix(r, n, "grad.", TOL_FP32), 22);
}

START_TEST(test_fixture_fp32) { check_fixture("build/tests/harness_fixture_f32"); }
END_TEST

START_TEST(test_fixture_fp64) { check_fixture("build/tests/harness_fixture_f64"); }
END_TEST

START_TEST(test_optimizers) {
    result_t r[MAX_RESULTS];
    int n = run_harness("build/tests/harness_fixture_f32 optim tests/fixtures/reference/optim.safetensors", r, MAX_RESULTS);
    /* torch's Newton-Schulz code run in fp32, as ours: same algorithm, same precision */
    ck_assert_int_eq(check_prefix(r, n, "muon.wide.original.fp32", TOL_FP32), 2);
    ck_assert_int_eq(check_prefix(r, n, "muon.tall.original.fp32", TOL_FP32), 2);
    ck_assert_int_eq(check_prefix(r, n, "muon.wide.match_rms_adamw.fp32", TOL_FP32), 2);
    ck_assert_int_eq(check_prefix(r, n, "muon.tall.match_rms_adamw.fp32", TOL_FP32), 2);
    /* torch.optim.Muon as shipped runs Newton-Schulz in bf16 (8-bit mantissa,
     * 2^-8 = 3.9e-3 per rounding); its updates differ from fp32 by ~1e-3 of
     * the parameter scale after two steps (observed 0.8e-3 to 1.3e-3). */
    ck_assert_int_eq(check_prefix(r, n, "muon.wide.original.bf16", 1e-2), 2);
    ck_assert_int_eq(check_prefix(r, n, "muon.tall.match_rms_adamw.bf16", 1e-2), 2);
    ck_assert_int_eq(check_prefix(r, n, "adamw.", 1e-6), 2);
}
END_TEST

START_TEST(test_gradcheck) {
    result_t r[MAX_RESULTS];
    int n = run_harness("build/tests/harness_gradcheck_f64 gradcheck", r, MAX_RESULTS);
    /* fp64, central differences with h = 1e-5: truncation error ~h^2 |f'''|
     * and rounding ~1e-16 |f| / h stay below 1e-7 relative (observed worst
     * 8e-8, entries under 1e-3 compared against 1e-3); a wrong gradient
     * term shows as 1e-2 or more. State resets at document starts and
     * masked targets are part of the check. */
    ck_assert_int_eq(check_prefix(r, n, "gradcheck.", 1e-5), 23);
}
END_TEST

/* Generation runs the model one token at a time (constant state); its logits
 * must be the full-sequence forward's. Same sums in the same order: fp64
 * agrees to rounding (observed ~1e-16), fp32 within 1e-5. */
static void check_decode(const char *harness, double tol) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s decode", harness);
    result_t r[MAX_RESULTS];
    int n = run_harness(cmd, r, MAX_RESULTS);
    ck_assert_int_eq(check_prefix(r, n, "decode", tol), 1);
}

START_TEST(test_decode_equals_forward) {
    check_decode("build/tests/harness_gradcheck_f64", 1e-12);
    check_decode("build/tests/harness_gradcheck_f32", 1e-5);
    check_decode("build/tests/harness_trainsmall_f32", 1e-5);
}
END_TEST

/* Packed examples reset the scan and conv state at their starts: the second
 * example's per-token losses in a packed row equal its losses alone (same
 * sums in the same order: exactly, observed 0), and without the reset they
 * do not (the check can fail). */
START_TEST(test_packing_equals_one_by_one) {
    result_t r[MAX_RESULTS];
    int n = run_harness("build/tests/harness_trainsmall_f32 packing", r, MAX_RESULTS);
    ck_assert_int_eq(check_prefix(r, n, "packing.reset", 1e-6), 1);
    for (int i = 0; i < n; i++)
        if (!strcmp(r[i].name, "packing.noreset"))
            ck_assert_msg(r[i].err > 1e-3, "without the reset the packed loss should differ, got %.3e", r[i].err);
}
END_TEST

/* A checkpoint as our programs write it (Hugging Face names, config.json)
 * loads into transformers' MambaForCausalLM.from_pretrained, whose logits
 * (tests/reference/make_hf_export_fixture.py) ours match: fp32 both sides,
 * observed 2.3e-7. */
START_TEST(test_hf_export_roundtrip) {
    result_t r[MAX_RESULTS];
    int n = run_harness("build/tests/harness_fixture_f32 hfexport tests/fixtures/reference/hf_export/export "
                        "tests/fixtures/reference/hf_export/logits.safetensors",
                        r, MAX_RESULTS);
    ck_assert_int_eq(check_prefix(r, n, "hfexport.logits", TOL_FP32), 1);
}
END_TEST

int main(void) {
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("numerics");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fixture_fp32);
    tcase_add_test(tc, test_fixture_fp64);
    tcase_add_test(tc, test_optimizers);
    tcase_add_test(tc, test_gradcheck);
    tcase_add_test(tc, test_decode_equals_forward);
    tcase_add_test(tc, test_packing_equals_one_by_one);
    tcase_add_test(tc, test_hf_export_roundtrip);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
