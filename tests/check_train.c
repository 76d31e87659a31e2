/* check_train.c: a generated CPU training program end to end: the loss of a
 * small byte-level model falls well below the unigram entropy of its data,
 * evaluation and checkpoints happen, and train_by_epochs derives max_steps. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define TRAIN "build/test-variants/trainsmall/train"


START_TEST(test_loss_falls) {
    char tmp[] = "/tmp/check_train.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd, TRAIN " --log-dir %s/logs --checkpoint-dir %s/ckpt --quiet --sample-tokens 40 --threads 2", tmp,
             tmp);
    int rc = tu_run(cmd, &out);
    ck_assert_msg(rc == 0, "training failed (%d): %s", rc, out);
    double entropy = 0;
    char *e = strstr(out, "unigram entropy of the training targets: ");
    ck_assert_msg(e && sscanf(e, "unigram entropy of the training targets: %lf", &entropy) == 1, "%s", out);
    ck_assert(entropy > 2.0 && entropy < 4.0);
    ck_assert_ptr_nonnull(strstr(out, "sample (prompt in brackets):"));
    free(out);

    char path[512];
    snprintf(path, sizeof path, "%s/logs/metrics.jsonl", tmp);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    double first = 0, last = 0, val = -1;
    int steps = 0, n_first = 0, evals = 0;
    double losses[400];
    while (fgets(line, sizeof line, f)) {
        double loss, v;
        long step;
        if (sscanf(line, "{\"step\":%ld,\"loss\":%lf", &step, &loss) == 2 && steps < 400) {
            losses[steps++] = loss;
        } else if (strstr(line, "\"val_loss\"") && sscanf(strstr(line, "\"val_loss\":"), "\"val_loss\":%lf", &v) == 1) {
            val = v;
            evals++;
        }
    }
    fclose(f);
    ck_assert_int_eq(steps, 200);
    ck_assert_int_eq(evals, 2);
    for (int i = 0; i < 5; i++) first += losses[i], n_first++;
    first /= n_first;
    for (int i = steps - 10; i < steps; i++) last += losses[i];
    last /= 10;
    /* a byte model starts near ln(264) = 5.58; 200 steps of 1024 tokens
     * bring it well under the unigram entropy (about 3.05 nats) */
    ck_assert_msg(first > 5.0, "first loss %.3f", first);
    ck_assert_msg(last < entropy - 0.4, "last loss %.3f not below the unigram entropy %.3f by 0.4", last, entropy);
    ck_assert_msg(val > 0 && val < entropy - 0.4, "val loss %.3f vs entropy %.3f", val, entropy);
    const char *files[] = {"best/model.safetensors", "best/config.json", "last/model.safetensors", "last/config.json"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/ckpt/%s", tmp, files[i]);
        ck_assert_msg(access(path, R_OK) == 0, "missing %s", path);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_epochs_derive_steps) {
    char *out;
    /* tokens per step 64 x 8 x 2 = 1024; 2.5 epochs x 100,000 tokens = 250,000 -> ceil = 245 steps */
    ck_assert_int_eq(tu_run(TRAIN " --epochs 2.5 --total-train-tokens 100000 --dry-run", &out), 0);
    ck_assert_msg(strstr(out, "max_steps 245 (derived from epochs x total_train_tokens)") != NULL, "%s", out);
    free(out);
    ck_assert_int_eq(tu_run(TRAIN " --dry-run", &out), 0);
    ck_assert_msg(strstr(out, "max_steps 200 (given)") != NULL, "%s", out);
    free(out);
    ck_assert_int_eq(tu_run(TRAIN " --seq-len 128", &out), 2);
    ck_assert_msg(strstr(out, "seq_len is a compiled shape") != NULL && strstr(out, "re-run gen") != NULL, "%s", out);
    free(out);
}
END_TEST

int main(void) {
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_epochs_derive_steps);
    tcase_add_test(tc, test_loss_falls);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
