/* check_resume.c: checkpoints and exact resume of a generated CPU program.
 *  - SIGKILL at several moments, then --resume: the final weights are
 *    byte-identical to an uninterrupted run's;
 *  - SIGTERM writes `last` and exits 143; resuming finishes identically;
 *  - a corrupted or truncated checkpoint is refused with a message naming
 *    the file, and the older step-N checkpoints are still there;
 *  - keep_last bounds the step-N folders. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define TRAIN "build/test-variants/trainsmall/train"

static const char *ARGS[] = {"--max-steps", "160", "--checkpoint-every", "20", "--eval-every", "80", "--quiet",
                             "--sample-tokens", "0", "--threads", "2"};
#define N_ARGS ((int)(sizeof ARGS / sizeof ARGS[0]))

static pid_t start(const char *root, int resume) {
    char ckpt[256], logs[256], out[256];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt", root);
    snprintf(logs, sizeof logs, "%s/logs", root);
    snprintf(out, sizeof out, "%s/out.txt", root);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        const char *argv[32];
        int n = 0;
        argv[n++] = TRAIN;
        for (int i = 0; i < N_ARGS; i++) argv[n++] = ARGS[i];
        argv[n++] = "--checkpoint-dir", argv[n++] = ckpt, argv[n++] = "--log-dir", argv[n++] = logs;
        if (resume) argv[n++] = "--resume";
        argv[n] = NULL;
        if (!freopen(out, "a", stdout) || !freopen(out, "a", stderr)) _exit(99);
        execv(TRAIN, (char *const *)argv);
        _exit(98);
    }
    return pid;
}

static int finish(pid_t pid) {
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void sleep_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static int exists(const char *root, const char *rel) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    return access(p, F_OK) == 0;
}


static void same_weights(const char *a, const char *b) {
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/ckpt/last/model.safetensors", a);
    snprintf(pb, sizeof pb, "%s/ckpt/last/model.safetensors", b);
    size_t la, lb;
    char *x = tu_slurp(pa, &la), *y = tu_slurp(pb, &lb);
    ck_assert_msg(x && y, "missing %s or %s", pa, pb);
    ck_assert_msg(la == lb && memcmp(x, y, la) == 0, "%s and %s differ", pa, pb);
    free(x);
    free(y);
}

static char reference[64];

/* The uninterrupted run every other run is compared with (made once). */
static void make_reference(void) {
    if (reference[0]) return;
    snprintf(reference, sizeof reference, "/tmp/check_resume_ref.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(reference));
    ck_assert_int_eq(finish(start(reference, 0)), 0);
}

/* Kill -9 when `when` exists (plus delay_ms), then resume until done. */
static void kill_and_resume(const char *when, int delay_ms) {
    make_reference();
    char root[] = "/tmp/check_resume.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(root));
    pid_t pid = start(root, 0);
    for (int i = 0; i < 6000 && (!when || !exists(root, when)); i++) sleep_ms(5);
    sleep_ms(delay_ms);
    kill(pid, SIGKILL);
    finish(pid);
    int resumes = 0, rc;
    do {
        /* killed before the first checkpoint: nothing to resume, start over */
        rc = finish(start(root, exists(root, "ckpt/last") || exists(root, "ckpt/last.old")));
        resumes++;
    } while (rc != 0 && resumes < 3);
    ck_assert_int_eq(rc, 0);
    same_weights(reference, root);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_kill_early) { kill_and_resume(NULL, 150); }
END_TEST
START_TEST(test_kill_after_first_checkpoint) { kill_and_resume("ckpt/last", 3); }
END_TEST
START_TEST(test_kill_mid_run) { kill_and_resume("ckpt/step-00000060", 40); }
END_TEST
START_TEST(test_kill_near_end) { kill_and_resume("ckpt/step-00000120", 15); }
END_TEST

START_TEST(test_sigterm_saves_and_resumes) {
    make_reference();
    char root[] = "/tmp/check_resume.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(root));
    pid_t pid = start(root, 0);
    for (int i = 0; i < 6000 && !exists(root, "ckpt/step-00000040"); i++) sleep_ms(5);
    kill(pid, SIGTERM);
    ck_assert_int_eq(finish(pid), 128 + SIGTERM);
    char out[300];
    snprintf(out, sizeof out, "%s/out.txt", root);
    size_t n;
    char *text = tu_slurp(out, &n);
    ck_assert_ptr_nonnull(strstr(text, "terminated at step"));
    free(text);
    ck_assert_int_eq(finish(start(root, 1)), 0);
    same_weights(reference, root);
    /* keep_last (3 by default): at most three step-N folders */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test $(ls -d %s/ckpt/step-* | wc -l) -le 3", root);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_corrupt_checkpoint_refused) {
    char root[] = "/tmp/check_resume.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(root));
    pid_t pid = start(root, 0);
    for (int i = 0; i < 6000 && !exists(root, "ckpt/step-00000040"); i++) sleep_ms(5);
    /* the rotation renamed last to step-40; wait for the new last */
    for (int i = 0; i < 6000 && !exists(root, "ckpt/last/training_state.safetensors"); i++) sleep_ms(5);
    kill(pid, SIGKILL);
    finish(pid);
    char cmd[600], out[300];
    /* truncate the newest weights */
    snprintf(cmd, sizeof cmd, "truncate -s 1000 %s/ckpt/last/model.safetensors", root);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(out, sizeof out, "%s/out.txt", root);
    unlink(out);
    ck_assert_int_ne(finish(start(root, 1)), 0);
    size_t n;
    char *text = tu_slurp(out, &n);
    ck_assert_msg(strstr(text, "ckpt/last/model.safetensors") != NULL, "no file named in: %s", text);
    free(text);
    /* the older checkpoints are untouched and loadable */
    ck_assert(exists(root, "ckpt/step-00000040/model.safetensors") || exists(root, "ckpt/step-00000020/model.safetensors"));
    /* a garbled training state is refused too */
    snprintf(cmd, sizeof cmd, "cp -r %s/ckpt/step-00000020/. %s/ckpt/last/ && printf 'garbage' | dd of=%s/ckpt/last/training_state.safetensors bs=1 seek=3 conv=notrunc 2>/dev/null",
             root, root, root);
    ck_assert_int_eq(system(cmd), 0);
    unlink(out);
    ck_assert_int_ne(finish(start(root, 1)), 0);
    text = tu_slurp(out, &n);
    ck_assert_msg(strstr(text, "training_state.safetensors") != NULL, "no file named in: %s", text);
    free(text);
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("resume");
    TCase *tc = tcase_create("resume");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_kill_early);
    tcase_add_test(tc, test_kill_after_first_checkpoint);
    tcase_add_test(tc, test_kill_mid_run);
    tcase_add_test(tc, test_kill_near_end);
    tcase_add_test(tc, test_sigterm_saves_and_resumes);
    tcase_add_test(tc, test_corrupt_checkpoint_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK); /* one reference run shared by the tests */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (reference[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", reference);
        if (system(cmd) != 0) failed++;
    }
    return failed ? 1 : 0;
}
