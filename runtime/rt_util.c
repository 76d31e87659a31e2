/* rt_util.c: errors, allocation, whole-file reads, mkdir -p, atomic writes,
 * clocks, and the splitmix64 hash. */
#include "rt.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void error_line(const char *fmt, va_list ap) {
    fputs("error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void rt_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    error_line(fmt, ap);
    va_end(ap);
    exit(1);
}

int rt_err(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    error_line(fmt, ap);
    va_end(ap);
    return -1;
}

void *rt_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) rt_die("out of memory allocating %zu bytes", n);
    return p;
}

void *rt_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) rt_die("out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

char *rt_read_file(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rt_err("%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rt_err("%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        rt_err("%s: is a directory, expected a file", path);
        close(fd);
        return NULL;
    }
    /* Regular files are read in one go; pipes and the like grow the buffer. */
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536, n = 0;
    char *buf = rt_malloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                close(fd);
                rt_die("out of memory reading %s (%zu bytes)", path, cap);
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            rt_err("%s: read failed: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return NULL;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';  /* callers may treat text files as C strings */
    if (len) *len = n;
    return buf;
}

int rt_mkdirs(const char *dir) {
    if (!dir || !*dir) return rt_err("mkdir: empty directory name");
    size_t n = strlen(dir);
    char *p = rt_malloc(n + 1);
    memcpy(p, dir, n + 1);
    /* Create each prefix ending just before a '/', then the whole path. */
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        if (p[i - 1] == '/') continue;  /* "a//b" */
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            rt_err("cannot create directory %s: %s", p, strerror(e));
            free(p);
            return -1;
        }
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
            rt_err("cannot create directory %s: %s exists and is not a directory", dir, p);
            free(p);
            return -1;
        }
        p[i] = c;
    }
    free(p);
    return 0;
}

static int write_all(int fd, const char *p, size_t len) {
    while (len > 0) {
        /* Some kernels cap one write at ~2 GiB; keep requests below that. */
        size_t chunk = len > ((size_t)1 << 30) ? ((size_t)1 << 30) : len;
        ssize_t w = write(fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int rt_write_file_atomic_parts(const char *path, const void *const *parts, const size_t *lens,
                               int n) {
    size_t plen = strlen(path);
    char *tmp = rt_malloc(plen + 5);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rt_err("%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (lens[i] && write_all(fd, parts[i], lens[i]) != 0) {
            rt_err("%s: write failed: %s", tmp, strerror(errno));
            goto fail;
        }
    }
    /* The data must be on disk before the rename makes it visible, or a crash
     * could leave a complete-looking name over incomplete contents. */
    if (fsync(fd) != 0) {
        rt_err("%s: fsync failed: %s", tmp, strerror(errno));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        rt_err("%s: close failed: %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rt_err("cannot rename %s to %s: %s", tmp, path, strerror(errno));
        goto fail;
    }
    /* Persist the rename itself by syncing the directory entry. */
    char *dcopy = rt_malloc(plen + 1);
    memcpy(dcopy, path, plen + 1);
    int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);  /* best effort: some filesystems refuse fsync on directories */
        close(dfd);
    }
    free(dcopy);
    free(tmp);
    return 0;
fail:
    if (fd >= 0) close(fd);
    unlink(tmp);
    free(tmp);
    return -1;
}

int rt_write_file_atomic(const char *path, const void *data, size_t len) {
    const void *parts[1] = {data};
    size_t lens[1] = {len};
    return rt_write_file_atomic_parts(path, parts, lens, 1);
}

double rt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t rt_splitmix64(uint64_t x) {
    uint64_t z = x + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void fsync_path(const char *dir) {
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd); /* best effort, as above */
        close(dfd);
    }
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

int rt_remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return 0;
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) return rt_err("cannot remove %s: %s", path, strerror(errno));
    return 0;
}

/* Swaps a fully written folder `tmp` in as `final`. A crash at any point
 * leaves either the old `final`, or `final.old` (the previous version, which
 * a reader falls back to), never a partial folder under either name. */
int rt_commit_dir(const char *tmp, const char *final) {
    size_t n = strlen(final);
    char *old = rt_malloc(n + 5);
    memcpy(old, final, n);
    memcpy(old + n, ".old", 5);
    fsync_path(tmp);
    if (rt_remove_tree(old) != 0) goto fail;
    struct stat st;
    if (lstat(final, &st) == 0 && rename(final, old) != 0) {
        rt_err("cannot rename %s to %s: %s", final, old, strerror(errno));
        goto fail;
    }
    if (rename(tmp, final) != 0) {
        rt_err("cannot rename %s to %s: %s", tmp, final, strerror(errno));
        rename(old, final);
        goto fail;
    }
    char *dcopy = rt_malloc(n + 1);
    memcpy(dcopy, final, n + 1);
    fsync_path(dirname(dcopy));
    free(dcopy);
    if (rt_remove_tree(old) != 0) goto fail;
    free(old);
    return 0;
fail:
    free(old);
    return -1;
}
