/* check_gen.c: the gen command: golden emitted sources, determinism,
 * parameter counts of the published sizes, the command line, and that a
 * failing run writes nothing. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define GEN "build/bin/gen"



static void make_tmp(char *dir, size_t n) {
    snprintf(dir, n, "/tmp/check_gen.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Every file of golden/<name>/ equals out/<name>/ byte for byte, and the
 * emitted folder has no file the golden one lacks. */
static void compare_dirs(const char *golden, const char *out) {
    DIR *d = opendir(golden);
    ck_assert_msg(d != NULL, "missing golden folder %s (make golden)", golden);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/%s", golden, e->d_name);
        snprintf(b, sizeof b, "%s/%s", out, e->d_name);
        size_t la, lb;
        char *ga = tu_slurp(a, &la), *gb = tu_slurp(b, &lb);
        ck_assert_msg(gb != NULL, "gen did not write %s", b);
        if (la != lb || memcmp(ga, gb, la) != 0) {
            size_t i = 0;
            int line = 1;
            while (i < la && i < lb && ga[i] == gb[i]) line += ga[i++] == '\n';
            ck_abort_msg("%s differs from %s at line %d (run `make golden` after an intended change and review the diff)",
                         b, a, line);
        }
        free(ga);
        free(gb);
        files++;
    }
    closedir(d);
    ck_assert_int_eq(files, 8);
    d = opendir(out);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char a[1024];
        snprintf(a, sizeof a, "%s/%s", golden, e->d_name);
        ck_assert_msg(access(a, F_OK) == 0, "gen wrote %s/%s, which the golden folder lacks", out, e->d_name);
    }
    closedir(d);
}

static void golden(const char *name) {
    char tmp[64], cmd[1024], g[256], o[256];
    make_tmp(tmp, sizeof tmp);
    snprintf(cmd, sizeof cmd, GEN " -q -o %s tests/specs/variants/%s.yaml", tmp, name);
    char *out;
    ck_assert_msg(tu_run(cmd, &out) == 0, "gen failed: %s", out);
    free(out);
    snprintf(g, sizeof g, "tests/golden/%s", name);
    snprintf(o, sizeof o, "%s/%s", tmp, name);
    compare_dirs(g, o);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_golden_fixture) { golden("fixture"); }
END_TEST

START_TEST(test_golden_gradcheck) { golden("gradcheck"); }
END_TEST

START_TEST(test_deterministic) {
    char a[64], b[64], cmd[1024], *out;
    make_tmp(a, sizeof a);
    make_tmp(b, sizeof b);
    snprintf(cmd, sizeof cmd, GEN " -q -o %s configs/tiny.yaml && " GEN " -q -o %s configs/tiny.yaml && diff -r %s/tiny %s/tiny", a,
             b, a, b);
    ck_assert_msg(tu_run(cmd, &out) == 0, "two runs of gen differ: %s", out);
    free(out);
    /* the 130m variant too (emitted, not built) */
    snprintf(cmd, sizeof cmd,
             "sed 's/^backend: cuda/backend: cpu/' configs/130m.yaml > %s/130m.yaml && " GEN " -q -o %s %s/130m.yaml && " GEN
             " -q -o %s %s/130m.yaml && diff -r %s/130m %s/130m",
             a, a, a, b, a, a, b);
    ck_assert_msg(tu_run(cmd, &out) == 0, "two runs of gen differ on 130m: %s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", a, b);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static void count_params(const char *spec, const char *expect) {
    char cmd[256], *out;
    snprintf(cmd, sizeof cmd, GEN " --print-plan %s", spec);
    ck_assert_int_eq(tu_run(cmd, &out), 0);
    char line[128];
    snprintf(line, sizeof line, "total parameters");
    char *t = strstr(out, line);
    ck_assert_msg(t != NULL, "no total line in: %s", out);
    char *eol = strchr(t, '\n');
    if (eol) *eol = 0;
    ck_assert_msg(strstr(t, expect) != NULL, "%s: expected %s, got '%s'", spec, expect, t);
    free(out);
}

START_TEST(test_param_counts) {
    /* mamba_ssm's counts (tied embedding, vocabulary padded to 50280) */
    count_params("configs/130m.yaml", "129,135,360");
    count_params("configs/370m.yaml", "371,516,416");
    count_params("configs/790m.yaml", "793,204,224");
    count_params("configs/1.4b.yaml", "1,372,178,432");
    count_params("configs/2.8b.yaml", "2,768,345,600");
}
END_TEST

START_TEST(test_print_plan_columns) {
    char *out;
    ck_assert_int_eq(tu_run(GEN " --print-plan configs/130m.yaml", &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "layers.23.mixer.in_proj.weight"));
    ck_assert_ptr_nonnull(strstr(out, "(3072, 768)"));
    ck_assert_ptr_nonnull(strstr(out, "2,359,296  muon"));
    ck_assert_ptr_nonnull(strstr(out, "layers.0.mixer.A_log                     (1536, 16)"));
    ck_assert_ptr_nonnull(strstr(out, "adamw  no"));
    ck_assert_ptr_nonnull(strstr(out, "24 x (3072, 768)"));
    free(out);
}
END_TEST

START_TEST(test_cli) {
    char *out;
    ck_assert_int_eq(tu_run(GEN " --help", &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: gen"));
    free(out);
    ck_assert_int_eq(tu_run(GEN " --version", &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "gen 0."));
    free(out);
    ck_assert_int_eq(tu_run(GEN, &out), 2);
    free(out);
    ck_assert_int_eq(tu_run(GEN " --frobnicate configs/tiny.yaml", &out), 2);
    ck_assert_ptr_nonnull(strstr(out, "unknown option '--frobnicate'"));
    free(out);
    ck_assert_int_eq(tu_run(GEN " configs/tiny.yaml configs/130m.yaml", &out), 2);
    free(out);
    ck_assert_int_eq(tu_run(GEN " tests/no-such-spec.yaml", &out), 1);
    ck_assert_ptr_nonnull(strstr(out, "tests/no-such-spec.yaml"));
    free(out);
}
END_TEST

/* A spec that fails validation leaves no build/<name>/ behind, and a
 * previous good variant of the same name is untouched. */
START_TEST(test_no_half_written_variant) {
    char tmp[64], cmd[1024], *out;
    make_tmp(tmp, sizeof tmp);
    snprintf(cmd, sizeof cmd,
             "sed 's/^name: tiny/name: halfway/' configs/tiny.yaml > %s/good.yaml && "
             "sed 's/^name: tiny/name: halfway/; s/\"\\*.D\"\\]/\"*.Dx\"]/' configs/tiny.yaml > %s/bad.yaml",
             tmp, tmp);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, GEN " -q -o %s/out %s/bad.yaml", tmp, tmp);
    ck_assert_int_ne(tu_run(cmd, &out), 0);
    free(out);
    snprintf(cmd, sizeof cmd, "%s/out/halfway", tmp);
    ck_assert_msg(access(cmd, F_OK) != 0, "a failed gen left %s", cmd);
    snprintf(cmd, sizeof cmd, GEN " -q -o %s/out %s/good.yaml", tmp, tmp);
    ck_assert_int_eq(tu_run(cmd, &out), 0);
    free(out);
    snprintf(cmd, sizeof cmd, "cp -r %s/out/halfway %s/before && " GEN " -q -o %s/out %s/bad.yaml; diff -r %s/before %s/out/halfway", tmp,
             tmp, tmp, tmp, tmp, tmp);
    ck_assert_msg(tu_run(cmd, &out) == 0, "a failed gen changed the previous variant: %s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "ls -a %s/out | grep -c tmp", tmp);
    ck_assert_int_ne(tu_run(cmd, &out), 0); /* grep found no temp folder */
    free(out);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_manifest_counts) {
    char tmp[64], cmd[512], path[256];
    make_tmp(tmp, sizeof tmp);
    snprintf(cmd, sizeof cmd, GEN " -q -o %s configs/tiny.yaml", tmp);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(path, sizeof path, "%s/tiny/manifest.json", tmp);
    size_t len;
    char *m = tu_slurp(path, &len);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(strstr(m, "\"parameters\": 147776"));
    /* forward: embedding + 4 layers x 7 ops + final norm + LM head */
    int fwd = 0;
    for (char *q = m; (q = strstr(q, "\"phase\": \"forward\"")); q++) fwd++;
    ck_assert_int_eq(fwd, 1 + 4 * 7 + 2);
    ck_assert_ptr_nonnull(strstr(m, "\"op\": \"selective_scan\", \"shapes\": \"(8,128,128) N=16\""));
    free(m);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* CI has nvcc but no GPU: the CUDA variant of a small spec must still
 * generate, compile with warnings as errors, and link. */
START_TEST(test_cuda_variant_compiles) {
    const char *nvcc = getenv("NVCC") ? getenv("NVCC") : "/usr/local/cuda/bin/nvcc";
    ck_assert_msg(access(nvcc, X_OK) == 0, "nvcc not found at %s (set NVCC)", nvcc);
    char tmp[64], cmd[1024], *out;
    make_tmp(tmp, sizeof tmp);
    snprintf(cmd, sizeof cmd,
             GEN " -q -o %s tests/specs/gpu/gpusmall.yaml && make -s -f %s/gpusmall/Makefile.inc VARIANT_DIR=%s/gpusmall GEN_HOME=. "
                 "NVCC=%s %s/gpusmall/train %s/gpusmall/generate %s/gpusmall/bench",
             tmp, tmp, tmp, nvcc, tmp, tmp, tmp);
    ck_assert_msg(tu_run(cmd, &out) == 0, "the CUDA variant does not build:\n%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("gen");
    TCase *tc = tcase_create("gen");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_golden_fixture);
    tcase_add_test(tc, test_golden_gradcheck);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_param_counts);
    tcase_add_test(tc, test_print_plan_columns);
    tcase_add_test(tc, test_cli);
    tcase_add_test(tc, test_no_half_written_variant);
    tcase_add_test(tc, test_manifest_counts);
    tcase_add_test(tc, test_cuda_variant_compiles);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
