/* check_generate.c: the generation tool of a generated CPU variant:
 * determinism under a seed, greedy decoding, the chat loop, exact-match
 * evaluation, and the refusal of a checkpoint of other shapes with the spec
 * that would fit it. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define TRAIN "build/test-variants/trainsmall/train"
#define GENERATE "build/test-variants/trainsmall/generate"

static char dir[] = "/tmp/check_generate.XXXXXX";


/* stdout only (the tool prints timing to stderr) */
static char *gen_out(const char *args) {
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd, GENERATE " --checkpoint %s/ckpt/last %s 2>/dev/null", dir, args);
    ck_assert_int_eq(tu_run(cmd, &out), 0);
    return out;
}

static void setup(void) {
    static int trained;
    if (trained) return;
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd, TRAIN " --max-steps 60 --warmup-steps 5 --eval-every 0 --quiet --sample-tokens 0 "
                              "--checkpoint-dir %s/ckpt --log-dir %s/logs", dir, dir);
    ck_assert_msg(tu_run(cmd, &out) == 0, "%s", out);
    free(out);
    trained = 1;
}

START_TEST(test_seeded_sampling_is_deterministic) {
    setup();
    char *a = gen_out("--prompt 'The ' --seed 5 --max-tokens 60 --no-stop");
    char *b = gen_out("--prompt 'The ' --seed 5 --max-tokens 60 --no-stop");
    char *c = gen_out("--prompt 'The ' --seed 6 --max-tokens 60 --no-stop");
    ck_assert_str_eq(a, b);
    ck_assert_msg(strcmp(a, c) != 0, "seeds 5 and 6 gave the same 60 tokens");
    ck_assert_int_ge((int)strlen(a), 4 + 60); /* prompt + 60 byte tokens + newline */
    free(a), free(b), free(c);
    char *g1 = gen_out("--prompt 'The ' --temperature 0 --max-tokens 30 --seed 1");
    char *g2 = gen_out("--prompt 'The ' --temperature 0 --max-tokens 30 --seed 2");
    ck_assert_str_eq(g1, g2); /* greedy ignores the seed */
    free(g1), free(g2);
    char *k = gen_out("--prompt 'The ' --top-k 1 --max-tokens 30 --seed 3");
    char *g = gen_out("--prompt 'The ' --temperature 0 --max-tokens 30");
    ck_assert_str_eq(k, g); /* top-k 1 is greedy */
    free(k), free(g);
}
END_TEST

START_TEST(test_chat_and_eval) {
    setup();
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd, "printf 'Say hello.\\nCount to three.\\n\\n' | " GENERATE " --checkpoint %s/ckpt/last --chat --max-tokens 20", dir);
    ck_assert_int_eq(tu_run(cmd, &out), 0);
    ck_assert_msg(strstr(out, "tokens/s]") != NULL, "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd,
             "printf '{\"instruction\": \"What is 2 plus 2?\", \"input\": \"\", \"output\": \"4\"}\\n"
             "{\"instruction\": \"Add the numbers.\", \"input\": \"1 and 2\", \"output\": \"3\"}\\n' > %s/q.jsonl && " GENERATE
             " --checkpoint %s/ckpt/last --eval %s/q.jsonl --max-tokens 8",
             dir, dir, dir);
    ck_assert_int_eq(tu_run(cmd, &out), 0);
    ck_assert_msg(strstr(out, "exact match: ") && strstr(out, " / 2 = "), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "printf 'not json\\n' > %s/bad.jsonl && " GENERATE " --checkpoint %s/ckpt/last --eval %s/bad.jsonl", dir,
             dir, dir);
    ck_assert_int_ne(tu_run(cmd, &out), 0);
    ck_assert_msg(strstr(out, "bad.jsonl:1:") != NULL, "%s", out);
    free(out);
}
END_TEST

START_TEST(test_other_shapes_refused) {
    char *out;
    ck_assert_int_eq(tu_run(GENERATE " --checkpoint tests/fixtures/reference/hf_export/export", &out), 1);
    ck_assert_msg(strstr(out, "has shape (64, 24), variant trainsmall needs (264, 48)") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "a spec that fits it") && strstr(out, "d_model: 24") && strstr(out, "n_layer: 2"), "%s", out);
    free(out);
    ck_assert_int_eq(tu_run(GENERATE " --checkpoint /nonexistent", &out), 1);
    ck_assert_msg(strstr(out, "/nonexistent/model.safetensors") != NULL, "%s", out);
    free(out);
}
END_TEST

int main(void) {
    Suite *s = suite_create("generate");
    TCase *tc = tcase_create("generate");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_seeded_sampling_is_deterministic);
    tcase_add_test(tc, test_chat_and_eval);
    tcase_add_test(tc, test_other_shapes_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK); /* one trained checkpoint for all tests */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) failed++;
    return failed ? 1 : 0;
}
