/* testutil.h: what several Check suites share: running a command and
 * capturing its output, reading a file whole, a scratch directory per test
 * and the capture of what a test writes to stderr. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs `cmd` in a subshell with stderr merged into stdout; returns the exit
 * status and, in *out (malloc'd), everything it printed. */
static inline int tu_run(const char *cmd, char **out) {
    size_t need = strlen(cmd) + 16;
    char *full = malloc(need);
    snprintf(full, need, "( %s ) 2>&1", cmd);
    FILE *p = popen(full, "r");
    free(full);
    ck_assert_ptr_nonnull(p);
    size_t cap = 1 << 16, len = 0, n;
    char *buf = malloc(cap);
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 1024) buf = realloc(buf, cap *= 2);
    }
    buf[len] = 0;
    int st = pclose(p);
    if (out) *out = buf;
    else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The whole file (NUL-terminated), or NULL; *len gets its size. */
static inline char *tu_slurp(const char *path, size_t *len) {
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    fclose(f);
    b[got] = 0;
    *len = got;
    return b;
}

/* ---- a scratch directory per test: tu_setup_tmp("suite") / tu_teardown_tmp
 * as a checked fixture; tp(name) is a path inside it ---- */
static char tu_tmpdir[256];

static inline void tu_setup_tmp(const char *suite) {
    snprintf(tu_tmpdir, sizeof tu_tmpdir, "/tmp/%s.XXXXXX", suite);
    ck_assert_ptr_nonnull(mkdtemp(tu_tmpdir));
}

static inline int tu_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static inline void tu_teardown_tmp(void) {
    if (tu_tmpdir[0]) nftw(tu_tmpdir, tu_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Path of `name` in the test's directory (a ring of buffers: copy a path
 * that must outlive the next 16 calls). */
static inline const char *tp(const char *name) {
    static char bufs[16][512];
    static int k;
    char *b = bufs[k++ % 16];
    snprintf(b, 512, "%s/%s", tu_tmpdir, name);
    return b;
}

static inline void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* `text` written to tp(name); returns that path */
static inline const char *write_text(const char *name, const char *text) {
    const char *p = tp(name);
    write_bytes(p, text, strlen(text));
    return p;
}

/* ---- stderr capture: everything written between begin and end is returned
 * (malloc'd); needs the scratch directory ---- */
static int tu_saved_stderr = -1;
static char tu_cap_path[600];  /* its own buffer: paths from tp() held by a test stay valid */

static inline void cap_begin(void) {
    fflush(stderr);
    snprintf(tu_cap_path, sizeof tu_cap_path, "%s/.stderr", tu_tmpdir);
    int fd = open(tu_cap_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    tu_saved_stderr = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

static inline char *cap_end(void) {
    fflush(stderr);
    dup2(tu_saved_stderr, STDERR_FILENO);
    close(tu_saved_stderr);
    size_t n;
    char *s = tu_slurp(tu_cap_path, &n);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(strlen(s), n); /* text, no NUL bytes */
    return s;
}

#define ck_assert_contains(hay, needle)                                                     \
    ck_assert_msg(strstr((hay), (needle)) != NULL, "expected \"%s\" in \"%.400s\"", (needle), \
                  (hay))

#endif
