/* mock_hub.c: the mock Hugging Face Hub of mock_hub.h.
 *
 * Threads: one acceptor per listener, one thread per connection. Each
 * connection serves requests in a loop (HTTP/1.1 keep-alive) until the client
 * closes it, a fault closes it, or the server stops. Sockets are polled with a
 * short timeout so that mock_hub_stop can end every thread promptly. */
#include "mock_hub.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MOCK_MAX_FILES 256
#define MOCK_MAX_REVS 64
#define MOCK_MAX_FAULTS 64
#define MOCK_MAX_CONNS 512
#define MOCK_MAX_LOG 4096
#define MOCK_MAX_TOKENS 8

typedef struct {
    char type[16], repo[128], rev[128], path[512];
    unsigned char *data;
    size_t len;
    int lfs;
} mfile_t;

typedef struct {
    char type[16], repo[128], rev[128];
    char commit[41];
    int bumps;
} mrev_t;

typedef struct {
    int where;
    char match[256];
    mock_fault_t f;
    long arg, arg2;
    int left;
} mfault_t;

typedef struct {
    mock_hub_t *m;
    int where;
    int fd;
    int port;
    pthread_t thread;
} listener_t;

typedef struct {
    mock_hub_t *m;
    int where;
    int fd;
    pthread_t thread;
    int done;
} conn_t;

struct mock_hub {
    pthread_mutex_t mu;
    atomic_int stop;
    listener_t hub, storage;
    char endpoint[64];
    mfile_t files[MOCK_MAX_FILES];
    int nfiles;
    mrev_t revs[MOCK_MAX_REVS];
    int nrevs;
    mfault_t faults[MOCK_MAX_FAULTS];
    int nfaults;
    conn_t *conns[MOCK_MAX_CONNS];
    int nconns;
    mock_req_t *log;
    int nlog;
    int connections[3], requests[3], auth_seen[3];
    int page_size, redirect_code, relative_redirect, sig_gen;
    char tok_repo[MOCK_MAX_TOKENS][128], tok_value[MOCK_MAX_TOKENS][256];
    int ntok;
};

/* ------------------------------------------------------------------------
 * Small helpers */
static void mock_copy(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

static void mock_sleep_ms(mock_hub_t *m, long ms)
{
    /* in slices, so that stop is not held up by a stall */
    while (ms > 0 && !m->stop) {
        long d = ms < 10 ? ms : 10;
        struct timespec ts = {0, d * 1000000L};
        nanosleep(&ts, NULL);
        ms -= d;
    }
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void url_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
}

/* A fake 40-hex commit from the names and a counter. */
static void make_commit(const char *a, const char *b, const char *c, int bump, char out[41])
{
    uint64_t h1 = 1469598103934665603ULL, h2 = 0x9E3779B97F4A7C15ULL;
    const char *parts[3] = {a, b, c};
    for (int k = 0; k < 3; k++)
        for (const char *p = parts[k]; *p; p++) {
            h1 = (h1 ^ (unsigned char)*p) * 1099511628211ULL;
            h2 = (h2 ^ (unsigned char)*p) * 0xBF58476D1CE4E5B9ULL;
        }
    h1 ^= (uint64_t)bump * 0x94D049BB133111EBULL;
    snprintf(out, 41, "%016llx%016llx%08x", (unsigned long long)h1, (unsigned long long)h2,
             (unsigned)(h1 >> 7 ^ h2 >> 3));
}

static mrev_t *find_rev(mock_hub_t *m, const char *type, const char *repo, const char *rev, int create)
{
    for (int i = 0; i < m->nrevs; i++)
        if (!strcmp(m->revs[i].type, type) && !strcmp(m->revs[i].repo, repo) && !strcmp(m->revs[i].rev, rev))
            return &m->revs[i];
    if (!create || m->nrevs == MOCK_MAX_REVS) return NULL;
    mrev_t *r = &m->revs[m->nrevs++];
    memset(r, 0, sizeof *r);
    mock_copy(r->type, sizeof r->type, type);
    mock_copy(r->repo, sizeof r->repo, repo);
    mock_copy(r->rev, sizeof r->rev, rev);
    make_commit(type, repo, rev, 0, r->commit);
    return r;
}

/* ------------------------------------------------------------------------
 * Configuration API */
void mock_hub_add_file(mock_hub_t *m, const char *type, const char *repo, const char *revision,
                       const char *path, const void *data, size_t len, int lfs)
{
    pthread_mutex_lock(&m->mu);
    find_rev(m, type, repo, revision, 1);
    mfile_t *f = NULL;
    for (int i = 0; i < m->nfiles; i++)
        if (!strcmp(m->files[i].type, type) && !strcmp(m->files[i].repo, repo) &&
            !strcmp(m->files[i].rev, revision) && !strcmp(m->files[i].path, path))
            f = &m->files[i];
    if (!f && m->nfiles < MOCK_MAX_FILES) f = &m->files[m->nfiles++];
    if (f) {
        free(f->data);
        mock_copy(f->type, sizeof f->type, type);
        mock_copy(f->repo, sizeof f->repo, repo);
        mock_copy(f->rev, sizeof f->rev, revision);
        mock_copy(f->path, sizeof f->path, path);
        f->data = malloc(len ? len : 1);
        if (len) memcpy(f->data, data, len);
        f->len = len;
        f->lfs = lfs;
    }
    pthread_mutex_unlock(&m->mu);
}

const char *mock_hub_commit(mock_hub_t *m, const char *type, const char *repo, const char *revision)
{
    pthread_mutex_lock(&m->mu);
    mrev_t *r = find_rev(m, type, repo, revision, 1);
    pthread_mutex_unlock(&m->mu);
    return r ? r->commit : "";
}

void mock_hub_bump_commit(mock_hub_t *m, const char *type, const char *repo, const char *revision)
{
    pthread_mutex_lock(&m->mu);
    mrev_t *r = find_rev(m, type, repo, revision, 1);
    if (r) make_commit(type, repo, revision, ++r->bumps, r->commit);
    pthread_mutex_unlock(&m->mu);
}

static void set_int(mock_hub_t *m, int *field, int v)
{
    pthread_mutex_lock(&m->mu);
    *field = v;
    pthread_mutex_unlock(&m->mu);
}

void mock_hub_set_page_size(mock_hub_t *m, int n) { set_int(m, &m->page_size, n > 0 ? n : 1); }
void mock_hub_set_redirect_code(mock_hub_t *m, int code) { set_int(m, &m->redirect_code, code); }
void mock_hub_set_relative_redirect(mock_hub_t *m, int on) { set_int(m, &m->relative_redirect, on); }

void mock_hub_require_token(mock_hub_t *m, const char *repo, const char *token)
{
    pthread_mutex_lock(&m->mu);
    if (m->ntok < MOCK_MAX_TOKENS) {
        mock_copy(m->tok_repo[m->ntok], sizeof m->tok_repo[0], repo);
        mock_copy(m->tok_value[m->ntok], sizeof m->tok_value[0], token);
        m->ntok++;
    }
    pthread_mutex_unlock(&m->mu);
}

void mock_hub_expire_signatures(mock_hub_t *m)
{
    pthread_mutex_lock(&m->mu);
    m->sig_gen++;
    pthread_mutex_unlock(&m->mu);
}

void mock_hub_add_fault(mock_hub_t *m, int where, const char *target_contains, mock_fault_t f,
                        long arg, long arg2, int times)
{
    pthread_mutex_lock(&m->mu);
    if (m->nfaults < MOCK_MAX_FAULTS) {
        mfault_t *r = &m->faults[m->nfaults++];
        r->where = where;
        mock_copy(r->match, sizeof r->match, target_contains);
        r->f = f;
        r->arg = arg;
        r->arg2 = arg2;
        r->left = times;
    }
    pthread_mutex_unlock(&m->mu);
}

void mock_hub_clear_faults(mock_hub_t *m)
{
    pthread_mutex_lock(&m->mu);
    m->nfaults = 0;
    pthread_mutex_unlock(&m->mu);
}

int mock_hub_connections(mock_hub_t *m, int where)
{
    pthread_mutex_lock(&m->mu);
    int n = (where & MOCK_HUB ? m->connections[MOCK_HUB] : 0) + (where & MOCK_STORAGE ? m->connections[MOCK_STORAGE] : 0);
    pthread_mutex_unlock(&m->mu);
    return n;
}

int mock_hub_requests(mock_hub_t *m, int where)
{
    pthread_mutex_lock(&m->mu);
    int n = (where & MOCK_HUB ? m->requests[MOCK_HUB] : 0) + (where & MOCK_STORAGE ? m->requests[MOCK_STORAGE] : 0);
    pthread_mutex_unlock(&m->mu);
    return n;
}

int mock_hub_auth_seen(mock_hub_t *m, int where)
{
    pthread_mutex_lock(&m->mu);
    int n = (where & MOCK_HUB ? m->auth_seen[MOCK_HUB] : 0) + (where & MOCK_STORAGE ? m->auth_seen[MOCK_STORAGE] : 0);
    pthread_mutex_unlock(&m->mu);
    return n;
}

int mock_hub_nlog(mock_hub_t *m)
{
    pthread_mutex_lock(&m->mu);
    int n = m->nlog;
    pthread_mutex_unlock(&m->mu);
    return n;
}

mock_req_t mock_hub_log(mock_hub_t *m, int i)
{
    mock_req_t r;
    memset(&r, 0, sizeof r);
    pthread_mutex_lock(&m->mu);
    if (i >= 0 && i < m->nlog) r = m->log[i];
    pthread_mutex_unlock(&m->mu);
    return r;
}

int mock_hub_count(mock_hub_t *m, int where, const char *method, const char *s)
{
    int n = 0;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->nlog; i++)
        if ((m->log[i].where & where) && (!method || !strcmp(m->log[i].method, method)) &&
            (!s || strstr(m->log[i].target, s)))
            n++;
    pthread_mutex_unlock(&m->mu);
    return n;
}

void mock_hub_reset_stats(mock_hub_t *m)
{
    pthread_mutex_lock(&m->mu);
    m->nlog = 0;
    memset(m->connections, 0, sizeof m->connections);
    memset(m->requests, 0, sizeof m->requests);
    memset(m->auth_seen, 0, sizeof m->auth_seen);
    pthread_mutex_unlock(&m->mu);
}

/* ------------------------------------------------------------------------
 * Requests and responses */
typedef struct {
    char method[8];
    char target[1024];
    char path[1024];       /* decoded later per route */
    char query[1024];
    int has_range;
    long long rs, re;
    char auth[512];
    int close;
} http_req_t;

/* Reads one request head. 1: got one; 0: the client closed; -1: error/stop. */
static int read_request(mock_hub_t *m, int fd, char *buf, size_t cap, size_t *have, http_req_t *q)
{
    for (;;) {
        char *end = NULL;
        if (*have > 0) {
            buf[*have] = '\0';
            end = strstr(buf, "\r\n\r\n");
        }
        if (end) {
            size_t head = (size_t)(end - buf) + 4;
            memset(q, 0, sizeof *q);
            char *line = buf, *nl = strstr(line, "\r\n");
            *nl = '\0';
            char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
            if (!sp1 || !sp2) return -1;
            *sp1 = *sp2 = '\0';
            mock_copy(q->method, sizeof q->method, line);
            mock_copy(q->target, sizeof q->target, sp1 + 1);
            char *qm = strchr(q->target, '?');
            size_t plen = qm ? (size_t)(qm - q->target) : strlen(q->target);
            snprintf(q->path, sizeof q->path, "%.*s", (int)plen, q->target);
            mock_copy(q->query, sizeof q->query, qm ? qm + 1 : "");
            for (line = nl + 2; line < end; line = nl + 2) {
                nl = strstr(line, "\r\n");
                *nl = '\0';
                if (!strncasecmp(line, "Range:", 6)) {
                    const char *v = line + 6;
                    while (*v == ' ') v++;
                    if (!strncmp(v, "bytes=", 6)) {
                        q->has_range = 1;
                        q->rs = strtoll(v + 6, NULL, 10);
                        const char *dash = strchr(v, '-');
                        q->re = dash && isdigit((unsigned char)dash[1]) ? strtoll(dash + 1, NULL, 10) : -1;
                    }
                } else if (!strncasecmp(line, "Authorization:", 14)) {
                    const char *v = line + 14;
                    while (*v == ' ') v++;
                    mock_copy(q->auth, sizeof q->auth, v);
                } else if (!strncasecmp(line, "Connection:", 11) && strstr(line + 11, "close")) {
                    q->close = 1;
                }
            }
            memmove(buf, buf + head, *have - head);
            *have -= head;
            return 1;
        }
        if (*have + 1 >= cap) return -1;
        struct pollfd p = {fd, POLLIN, 0};
        int pr = poll(&p, 1, 50);
        if (m->stop) return -1;
        if (pr == 0) continue;
        if (pr < 0 && errno == EINTR) continue;
        ssize_t r = recv(fd, buf + *have, cap - 1 - *have, 0);
        if (r == 0) return 0;
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        *have += (size_t)r;
    }
}

/* The request being answered on this thread: logged when it arrives, its
 * status filled in before the status line goes out, so a test never sees a
 * reply before the log has it. */
static _Thread_local mock_hub_t *t_mock;
static _Thread_local int t_log_index = -1;

static void log_request(mock_hub_t *m, int where, const http_req_t *q, int status)
{
    pthread_mutex_lock(&m->mu);
    m->requests[where]++;
    if (q->auth[0]) m->auth_seen[where]++;
    t_log_index = -1;
    if (m->nlog < MOCK_MAX_LOG) {
        t_log_index = m->nlog;
        mock_req_t *r = &m->log[m->nlog++];
        memset(r, 0, sizeof *r);
        r->where = where;
        mock_copy(r->method, sizeof r->method, q->method);
        mock_copy(r->target, sizeof r->target, q->target);
        r->has_range = q->has_range;
        r->range_start = q->rs;
        r->range_end = q->re;
        mock_copy(r->auth, sizeof r->auth, q->auth);
        r->status = status;
    }
    pthread_mutex_unlock(&m->mu);
}

static const char *status_text(int s)
{
    switch (s) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 302: return "Found";
    case 307: return "Temporary Redirect";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

/* Sends a response: status, extra headers (each ending in \r\n), body.
 * `send_n` < len sends only part of the body (faults). */
static int respond(int fd, int status, const char *extra, const void *body, size_t len, size_t send_n,
                   int is_head)
{
    if (t_mock && t_log_index >= 0) {
        pthread_mutex_lock(&t_mock->mu);
        if (t_log_index < t_mock->nlog) t_mock->log[t_log_index].status = status;
        pthread_mutex_unlock(&t_mock->mu);
    }
    char head[4096];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s\r\n", status,
                     status_text(status), len, extra ? extra : "");
    if (send_all(fd, head, (size_t)n)) return -1;
    if (is_head || !body) return 0;
    return send_all(fd, body, send_n < len ? send_n : len);
}

static int respond_error(int fd, int status, const char *msg, const char *extra, int is_head)
{
    char body[512], hdr[3072];
    snprintf(body, sizeof body, "{\"error\":\"%s\"}", msg);
    snprintf(hdr, sizeof hdr, "Content-Type: application/json\r\n%s", extra ? extra : "");
    return respond(fd, status, hdr, body, strlen(body), strlen(body), is_head);
}

/* Finds the fault rule for this request (consuming one use). */
static int take_fault(mock_hub_t *m, int where, const char *target, mfault_t *out)
{
    int found = 0;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->nfaults; i++) {
        mfault_t *f = &m->faults[i];
        if (f->left > 0 && (f->where & where) && strstr(target, f->match)) {
            f->left--;
            *out = *f;
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return found;
}

static void hard_close(int fd)
{
    struct linger lg = {1, 0};      /* close with RST, like a dropped connection */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

/* Serves bytes with Range support and body faults. Returns the status sent,
 * or -1 when the connection must be closed. */
static int serve_bytes(mock_hub_t *m, int fd, const http_req_t *q, const unsigned char *data, size_t len,
                       const char *extra, const mfault_t *fault, int *close_conn)
{
    int is_head = !strcmp(q->method, "HEAD");
    int ignore_range = fault && fault->f == MOCK_IGNORE_RANGE;
    size_t start = 0, end = len;       /* [start, end) */
    int status = 200;
    char hdr[2048];
    if (q->has_range && !ignore_range) {
        if (q->rs < 0 || (size_t)q->rs >= len) {
            snprintf(hdr, sizeof hdr, "Content-Range: bytes */%zu\r\n%s", len, extra);
            respond_error(fd, 416, "Requested Range Not Satisfiable", hdr, is_head);
            return 416;
        }
        start = (size_t)q->rs;
        end = q->re < 0 || (size_t)q->re >= len ? len : (size_t)q->re + 1;
        status = 206;
        snprintf(hdr, sizeof hdr, "Accept-Ranges: bytes\r\nContent-Range: bytes %zu-%zu/%zu\r\n%s", start,
                 end - 1, len, extra);
    } else {
        snprintf(hdr, sizeof hdr, "Accept-Ranges: bytes\r\n%s", extra);
    }
    size_t n = end - start, send_n = n;
    if (fault && (fault->f == MOCK_DROP || fault->f == MOCK_TRUNCATE || fault->f == MOCK_STALL)) {
        send_n = (size_t)fault->arg < n ? (size_t)fault->arg : n;
        *close_conn = 1;
    }
    if (respond(fd, status, hdr, data + start, n, send_n, is_head)) { *close_conn = 1; return status; }
    if (fault && !is_head) {
        if (fault->f == MOCK_STALL) mock_sleep_ms(m, fault->arg2);
        if (fault->f == MOCK_DROP) {
            mock_sleep_ms(m, 20);       /* let the client read what was sent before the reset */
            hard_close(fd);
        }
    }
    return status;
}

static int token_ok(mock_hub_t *m, const char *repo, const char *auth)
{
    int ok = 1;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->ntok; i++)
        if (!strcmp(m->tok_repo[i], repo)) {
            char want[300];
            snprintf(want, sizeof want, "Bearer %s", m->tok_value[i]);
            ok = !strcmp(auth, want);
        }
    pthread_mutex_unlock(&m->mu);
    return ok;
}

/* Copies file i's fields under the lock (the test may replace files meanwhile). */
static int get_file(mock_hub_t *m, int i, mfile_t *out, unsigned char **data)
{
    int ok = 0;
    pthread_mutex_lock(&m->mu);
    if (i >= 0 && i < m->nfiles) {
        *out = m->files[i];
        *data = malloc(out->len ? out->len : 1);
        memcpy(*data, m->files[i].data, out->len);
        ok = 1;
    }
    pthread_mutex_unlock(&m->mu);
    return ok;
}

/* GET /api/{type}/{repo}/tree/{rev}[/{path}]?recursive=..&cursor=N */
static int route_tree(mock_hub_t *m, int fd, const http_req_t *q, const char *type, const char *repo,
                      const char *rest, int is_head, const mfault_t *fault, int *close_conn)
{
    char rev[256], dir[512] = "";
    const char *slash = strchr(rest, '/');
    url_decode(rest, slash ? (size_t)(slash - rest) : strlen(rest), rev, sizeof rev);
    if (slash) url_decode(slash + 1, strlen(slash + 1), dir, sizeof dir);
    int recursive = strstr(q->query, "recursive=true") != NULL;
    const char *cur = strstr(q->query, "cursor=");
    int cursor = cur ? atoi(cur + 7) : 0;

    pthread_mutex_lock(&m->mu);
    int repo_known = 0, rev_known = 0;
    for (int i = 0; i < m->nrevs; i++)
        if (!strcmp(m->revs[i].type, type) && !strcmp(m->revs[i].repo, repo)) {
            repo_known = 1;
            if (!strcmp(m->revs[i].rev, rev)) rev_known = 1;
        }
    /* entries: files under dir, and the folders between (in reverse path order,
     * so the client must sort) */
    char (*paths)[512] = calloc(2 * MOCK_MAX_FILES + 1, sizeof *paths);
    int *is_dir = calloc(2 * MOCK_MAX_FILES + 1, sizeof *is_dir);
    size_t *sizes = calloc(2 * MOCK_MAX_FILES + 1, sizeof *sizes);
    int *lfs = calloc(2 * MOCK_MAX_FILES + 1, sizeof *lfs);
    int ne = 0, page_size = m->page_size;
    size_t dl = strlen(dir);
    for (int i = m->nfiles - 1; i >= 0; i--) {
        mfile_t *f = &m->files[i];
        if (strcmp(f->type, type) || strcmp(f->repo, repo) || strcmp(f->rev, rev)) continue;
        if (dl && (strncmp(f->path, dir, dl) || f->path[dl] != '/')) continue;
        const char *rel = f->path + (dl ? dl + 1 : 0);
        const char *s2 = strchr(rel, '/');
        if (s2) {
            /* the first folder below dir */
            char d[512];
            snprintf(d, sizeof d, "%.*s", (int)(s2 - f->path), f->path);
            int seen = 0;
            for (int k = 0; k < ne; k++)
                if (is_dir[k] && !strcmp(paths[k], d)) seen = 1;
            if (!seen) { mock_copy(paths[ne], 512, d); is_dir[ne] = 1; ne++; }
            if (!recursive) continue;
        }
        mock_copy(paths[ne], 512, f->path);
        sizes[ne] = f->len;
        lfs[ne] = f->lfs;
        ne++;
    }
    pthread_mutex_unlock(&m->mu);

    int status = 404;
    if (!repo_known) respond_error(fd, 404, "Repository not found", "X-Error-Code: RepoNotFound\r\n", is_head);
    else if (!rev_known) respond_error(fd, 404, "Invalid rev id", "X-Error-Code: RevisionNotFound\r\n", is_head);
    else if (ne == 0 && dl) respond_error(fd, 404, "Entry not found", "X-Error-Code: EntryNotFound\r\n", is_head);
    else {
        size_t cap = 4096 + (size_t)ne * 700, o = 0;
        char *body = malloc(cap);
        o += (size_t)snprintf(body + o, cap - o, "[");
        int end = cursor + page_size < ne ? cursor + page_size : ne;
        for (int k = cursor; k < end; k++) {
            if (is_dir[k])
                o += (size_t)snprintf(body + o, cap - o, "%s{\"type\":\"directory\",\"oid\":\"%040d\",\"size\":0,\"path\":\"%s\"}",
                                      k > cursor ? "," : "", k, paths[k]);
            else if (lfs[k])
                o += (size_t)snprintf(body + o, cap - o, "%s{\"type\":\"file\",\"oid\":\"%040d\",\"size\":134,\"path\":\"%s\","
                                      "\"lfs\":{\"oid\":\"%064d\",\"size\":%zu,\"pointerSize\":134}}",
                                      k > cursor ? "," : "", k, paths[k], k, sizes[k]);
            else
                o += (size_t)snprintf(body + o, cap - o, "%s{\"type\":\"file\",\"oid\":\"%040d\",\"size\":%zu,\"path\":\"%s\"}",
                                      k > cursor ? "," : "", k, sizes[k], paths[k]);
        }
        o += (size_t)snprintf(body + o, cap - o, "]");
        char hdr[2048] = "Content-Type: application/json\r\n";
        if (end < ne) {
            char base[1024];
            mock_copy(base, sizeof base, q->target);
            char *qm = strchr(base, '?');
            if (qm) *qm = '\0';
            snprintf(hdr + strlen(hdr), sizeof hdr - strlen(hdr),
                     "Link: <%s%s?recursive=%s&cursor=%d>; rel=\"next\"\r\n", m->endpoint, base,
                     recursive ? "true" : "false", end);
        }
        http_req_t whole = *q;        /* the listing ignores Range; body faults still apply */
        whole.has_range = 0;
        status = serve_bytes(m, fd, &whole, (const unsigned char *)body, o, hdr, fault, close_conn);
        free(body);
    }
    free(paths);
    free(is_dir);
    free(sizes);
    free(lfs);
    return status;
}

static int handle_hub(mock_hub_t *m, int fd, const http_req_t *q, const mfault_t *fault, int *close_conn)
{
    int is_head = !strcmp(q->method, "HEAD");
    const char *p = q->path;
    char type[16], repo[256];

    if (fault && fault->f == MOCK_GARBAGE) {
        const char *g = "this is not JSON";
        respond(fd, 200, "Content-Type: application/json\r\n", g, strlen(g), strlen(g), is_head);
        return 200;
    }
    if (!strncmp(p, "/api/resolve-cache/", 19)) {
        mfile_t f;
        unsigned char *data;
        if (!get_file(m, atoi(p + 19), &f, &data)) return respond_error(fd, 404, "Entry not found", NULL, is_head), 404;
        char extra[256];
        snprintf(extra, sizeof extra, "ETag: \"%s\"\r\n", "cafe");
        int s = serve_bytes(m, fd, q, data, f.len, extra, fault, close_conn);
        free(data);
        return s;
    }
    if (!strncmp(p, "/api/", 5)) {
        const char *t = p + 5, *ts = strchr(t, '/');
        const char *tree = strstr(p, "/tree/");
        if (!ts || !tree || tree < ts) return respond_error(fd, 404, "Not found", NULL, is_head), 404;
        snprintf(type, sizeof type, "%.*s", (int)(ts - t), t);
        snprintf(repo, sizeof repo, "%.*s", (int)(tree - ts - 1), ts + 1);
        if (!token_ok(m, repo, q->auth))
            return respond_error(fd, 401, "Invalid credentials in Authorization header", NULL, is_head), 401;
        return route_tree(m, fd, q, type, repo, tree + 6, is_head, fault, close_conn);
    }
    const char *res = strstr(p, "/resolve/");
    if (!res) return respond_error(fd, 404, "Not found", NULL, is_head), 404;
    const char *r0 = p + 1;
    if (!strncmp(p, "/datasets/", 10)) { mock_copy(type, sizeof type, "datasets"); r0 = p + 10; }
    else if (!strncmp(p, "/spaces/", 8)) { mock_copy(type, sizeof type, "spaces"); r0 = p + 8; }
    else mock_copy(type, sizeof type, "models");
    snprintf(repo, sizeof repo, "%.*s", (int)(res - r0), r0);
    if (!token_ok(m, repo, q->auth))
        return respond_error(fd, 401, "Invalid credentials in Authorization header", NULL, is_head), 401;
    const char *rest = res + 9, *slash = strchr(rest, '/');
    char rev[256], path[512];
    if (!slash) return respond_error(fd, 404, "Entry not found", NULL, is_head), 404;
    url_decode(rest, (size_t)(slash - rest), rev, sizeof rev);
    url_decode(slash + 1, strlen(slash + 1), path, sizeof path);

    int idx = -1;
    char commit[41] = "";
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->nfiles; i++)
        if (!strcmp(m->files[i].type, type) && !strcmp(m->files[i].repo, repo) &&
            !strcmp(m->files[i].rev, rev) && !strcmp(m->files[i].path, path))
            idx = i;
    mrev_t *rv = find_rev(m, type, repo, rev, 0);
    if (rv) mock_copy(commit, sizeof commit, rv->commit);
    int gen = m->sig_gen, code = m->redirect_code, relative = m->relative_redirect;
    pthread_mutex_unlock(&m->mu);
    if (idx < 0)
        return respond_error(fd, 404, "Entry not found", "X-Error-Code: EntryNotFound\r\n", is_head), 404;
    mfile_t f;
    unsigned char *data = NULL;
    memset(&f, 0, sizeof f);
    if (!get_file(m, idx, &f, &data)) return respond_error(fd, 404, "Entry not found", NULL, is_head), 404;
    char extra[2048];
    int n = snprintf(extra, sizeof extra, "X-Repo-Commit: %s\r\nETag: \"%040d\"\r\n", commit, idx);
    int status;
    if (f.lfs) {
        snprintf(extra + n, sizeof extra - (size_t)n,
                 "X-Linked-Size: %zu\r\nX-Linked-Etag: \"%064d\"\r\n"
                 "Location: http://127.0.0.1:%d/blob/%d?sig=%d&X-Amz-Signature=c2lnbmVk\r\n",
                 f.len, idx, m->storage.port, idx, gen);
        respond(fd, code, extra, "", 0, 0, is_head);
        status = code;
    } else if (relative) {
        snprintf(extra + n, sizeof extra - (size_t)n, "Location: /api/resolve-cache/%d\r\n", idx);
        respond(fd, 307, extra, "", 0, 0, is_head);
        status = 307;
    } else {
        status = serve_bytes(m, fd, q, data, f.len, extra, fault, close_conn);
    }
    free(data);
    return status;
}

static int handle_storage(mock_hub_t *m, int fd, const http_req_t *q, const mfault_t *fault, int *close_conn)
{
    int is_head = !strcmp(q->method, "HEAD");
    if (strncmp(q->path, "/blob/", 6)) return respond_error(fd, 404, "NoSuchKey", NULL, is_head), 404;
    const char *sig = strstr(q->query, "sig=");
    pthread_mutex_lock(&m->mu);
    int gen = m->sig_gen;
    pthread_mutex_unlock(&m->mu);
    if (!sig || atoi(sig + 4) != gen)
        return respond_error(fd, 403, "Request has expired", NULL, is_head), 403;
    mfile_t f;
    unsigned char *data;
    if (!get_file(m, atoi(q->path + 6), &f, &data)) return respond_error(fd, 404, "NoSuchKey", NULL, is_head), 404;
    int s = serve_bytes(m, fd, q, data, f.len, "", fault, close_conn);
    free(data);
    return s;
}

static void *conn_main(void *arg)
{
    conn_t *c = arg;
    mock_hub_t *m = c->m;
    t_mock = m;
    char *buf = malloc(65536);
    size_t have = 0;
    for (;;) {
        http_req_t q;
        int rr = read_request(m, c->fd, buf, 65536, &have, &q);
        if (rr <= 0) break;
        mfault_t fault;
        int faulted = take_fault(m, c->where, q.target, &fault);
        int close_conn = q.close;
        log_request(m, c->where, &q, 0);
        if (faulted && fault.f == MOCK_HANGUP) break;
        if (faulted && fault.f == MOCK_STATUS) {
            char extra[128] = "";
            if (fault.arg2 >= 0) snprintf(extra, sizeof extra, "Retry-After: %ld\r\n", fault.arg2);
            respond_error(c->fd, (int)fault.arg, "injected failure", extra, !strcmp(q.method, "HEAD"));
        } else if (c->where == MOCK_HUB) {
            handle_hub(m, c->fd, &q, faulted ? &fault : NULL, &close_conn);
        } else {
            handle_storage(m, c->fd, &q, faulted ? &fault : NULL, &close_conn);
        }
        if (close_conn || m->stop) break;
    }
    free(buf);
    close(c->fd);
    pthread_mutex_lock(&m->mu);
    c->done = 1;
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

static void *accept_main(void *arg)
{
    listener_t *l = arg;
    mock_hub_t *m = l->m;
    while (!m->stop) {
        struct pollfd p = {l->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        int fd = accept(l->fd, NULL, NULL);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn_t *c = calloc(1, sizeof *c);
        c->m = m;
        c->where = l->where;
        c->fd = fd;
        pthread_mutex_lock(&m->mu);
        m->connections[l->where]++;
        int slot = -1;
        /* reuse the slot of a finished connection (joined here) */
        for (int i = 0; i < m->nconns; i++)
            if (m->conns[i]->done) { slot = i; break; }
        conn_t *old = NULL;
        if (slot >= 0) old = m->conns[slot];
        else if (m->nconns < MOCK_MAX_CONNS) slot = m->nconns++;
        if (slot >= 0) m->conns[slot] = c;
        pthread_mutex_unlock(&m->mu);
        if (old) { pthread_join(old->thread, NULL); free(old); }
        if (slot < 0) { close(fd); free(c); continue; }
        pthread_create(&c->thread, NULL, conn_main, c);
    }
    return NULL;
}

static int listen_on(listener_t *l)
{
    l->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (l->fd < 0) return -1;
    int one = 1;
    setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t al = sizeof a;
    if (bind(l->fd, (struct sockaddr *)&a, sizeof a) || listen(l->fd, 64) ||
        getsockname(l->fd, (struct sockaddr *)&a, &al)) {
        close(l->fd);
        return -1;
    }
    l->port = ntohs(a.sin_port);
    return 0;
}

mock_hub_t *mock_hub_start(void)
{
    mock_hub_t *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->log = calloc(MOCK_MAX_LOG, sizeof *m->log);
    m->page_size = 1000;
    m->redirect_code = 302;
    m->hub.m = m->storage.m = m;
    m->hub.where = MOCK_HUB;
    m->storage.where = MOCK_STORAGE;
    if (!m->log || listen_on(&m->hub) || listen_on(&m->storage)) {
        fprintf(stderr, "mock_hub: cannot listen on 127.0.0.1: %s\n", strerror(errno));
        free(m->log);
        free(m);
        return NULL;
    }
    snprintf(m->endpoint, sizeof m->endpoint, "http://127.0.0.1:%d", m->hub.port);
    pthread_create(&m->hub.thread, NULL, accept_main, &m->hub);
    pthread_create(&m->storage.thread, NULL, accept_main, &m->storage);
    return m;
}

void mock_hub_stop(mock_hub_t *m)
{
    if (!m) return;
    m->stop = 1;
    pthread_join(m->hub.thread, NULL);
    pthread_join(m->storage.thread, NULL);
    close(m->hub.fd);
    close(m->storage.fd);
    for (int i = 0; i < m->nconns; i++) {
        pthread_join(m->conns[i]->thread, NULL);
        free(m->conns[i]);
    }
    for (int i = 0; i < m->nfiles; i++) free(m->files[i].data);
    free(m->log);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

const char *mock_hub_endpoint(const mock_hub_t *m) { return m->endpoint; }
int mock_hub_storage_port(const mock_hub_t *m) { return m->storage.port; }
