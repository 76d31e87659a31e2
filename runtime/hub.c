/* hub.c: Hugging Face Hub client over libcurl (see hub.h for the contract).
 *
 * Layout of this file:
 *   errors and redaction; configuration; URL helpers; per-thread CURL handles;
 *   the transfer engine (one attempt, then the retry/redirect/resume loop);
 *   public reads; tree listing; config/split -> parquet rules; small-file cache. */
#include "hub.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#define REDIRECT_TTL_S 1800.0    /* signed storage URLs live ~1 h; re-resolve well before */
#define REDIRECT_SLOTS 256
#define MAX_HOPS 10
#define MAX_PAGES 100000
#define ERRBODY_MAX 300          /* bytes of an error response quoted in messages */
#define URL_MAX 8192

typedef struct {
    CURL *curl;
    struct hub *h;
} thread_handle_t;

typedef struct {
    char *from, *to;
    double t;
} redirect_t;

struct hub {
    hub_config_t cfg;
    char origin[HUB_STR];            /* scheme://host:port of the endpoint */
    int endpoint_http;               /* endpoint is plain http: http allowed everywhere */
    pthread_key_t key;
    pthread_mutex_t mu;              /* guards handles[] and redirects[] */
    thread_handle_t **handles;
    int n_handles, cap_handles;
    redirect_t redirects[REDIRECT_SLOTS];
    atomic_uint_fast64_t st_requests, st_retries, st_resumes, st_redirects, st_bytes, st_waited;
};

/* ------------------------------------------------------------------------
 * Errors. Messages pass through redact() so the token can never leak, even
 * if it ends up in a URL or a server's error body. */
static _Thread_local char g_err[2048];
static _Thread_local int g_probe;    /* >0: expected failures, keep them off stderr */

const char *hub_last_error(void) { return g_err; }

static void redact(const hub_t *h, char *s, size_t cap)
{
    const char *tok = h ? h->cfg.token : "";
    size_t tl = strlen(tok);
    if (tl == 0) return;
    const char *mask = "<redacted>";
    size_t ml = strlen(mask);
    char *p;
    while ((p = strstr(s, tok)) != NULL) {
        size_t tail = strlen(p + tl);
        if ((size_t)(p - s) + ml + tail + 1 > cap) {      /* no room: cut the message there */
            *p = '\0';
            break;
        }
        memmove(p + ml, p + tl, tail + 1);
        memcpy(p, mask, ml);
    }
}

__attribute__((format(printf, 2, 3)))
static int seterr(const hub_t *h, const char *fmt, ...)
{
    char buf[sizeof g_err];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    redact(h, buf, sizeof buf);
    memcpy(g_err, buf, sizeof buf);
    if (!g_probe && !(h && h->cfg.quiet)) fprintf(stderr, "error: %s\n", g_err);
    return -1;
}

__attribute__((format(printf, 2, 3)))
static void logline(const hub_t *h, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    redact(h, buf, sizeof buf);
    fprintf(stderr, "%s\n", buf);
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) { fprintf(stderr, "error: hub: out of memory\n"); abort(); }
    return d;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) { fprintf(stderr, "error: hub: out of memory (%zu bytes)\n", n); abort(); }
    return q;
}

/* ------------------------------------------------------------------------
 * Configuration */
static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* dst = a + "/" + b, cut to fit (paths that long fail later with a clear message) */
static void path_join(char *dst, size_t cap, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > cap - 1) la = cap - 1;
    memcpy(dst, a, la);
    size_t o = la;
    if (o < cap - 1) dst[o++] = '/';
    if (lb > cap - 1 - o) lb = cap - 1 - o;
    memcpy(dst + o, b, lb);
    dst[o + lb] = '\0';
}

static int env_flag(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) return 0;
    return !strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on");
}

void hub_config_defaults(hub_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    copy_str(cfg->endpoint, sizeof cfg->endpoint, "https://huggingface.co");
    const char *home = getenv("HOME");
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg) snprintf(cfg->hf_home, sizeof cfg->hf_home, "%s/huggingface", xdg);
    else snprintf(cfg->hf_home, sizeof cfg->hf_home, "%s/.cache/huggingface", home && *home ? home : ".");
    path_join(cfg->cache_dir, sizeof cfg->cache_dir, cfg->hf_home, "hub");
    snprintf(cfg->user_agent, sizeof cfg->user_agent, "mamba-gen-hub/1.0 (%s)", curl_version());
    cfg->max_retries = 5;
    cfg->backoff_base_ms = 1000;
    cfg->backoff_max_ms = 8000;
    cfg->retry_after_max_ms = 300000;
    cfg->timeout_s = 30;
    cfg->stall_s = 30;
    cfg->max_small_file = 512 << 20;
}

static void rstrip_slash(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/') s[--n] = '\0';
}

int hub_config_from_env(hub_config_t *cfg, char *err, size_t errlen)
{
    hub_config_defaults(cfg);
    const char *v;
    if ((v = getenv("HF_ENDPOINT")) && *v) copy_str(cfg->endpoint, sizeof cfg->endpoint, v);
    rstrip_slash(cfg->endpoint);
    if ((v = getenv("HF_HOME")) && *v) copy_str(cfg->hf_home, sizeof cfg->hf_home, v);
    if ((v = getenv("HF_HUB_CACHE")) && *v) copy_str(cfg->cache_dir, sizeof cfg->cache_dir, v);
    else if ((v = getenv("HUGGINGFACE_HUB_CACHE")) && *v) copy_str(cfg->cache_dir, sizeof cfg->cache_dir, v);
    else path_join(cfg->cache_dir, sizeof cfg->cache_dir, cfg->hf_home, "hub");
    cfg->offline = env_flag("HF_HUB_OFFLINE");
    const char *verb = getenv("HF_HUB_VERBOSITY");
    cfg->verbose = verb && (!strcasecmp(verb, "debug") || !strcasecmp(verb, "info"));

    if ((v = getenv("HF_TOKEN")) && *v) copy_str(cfg->token, sizeof cfg->token, v);
    else if ((v = getenv("HUGGING_FACE_HUB_TOKEN")) && *v) copy_str(cfg->token, sizeof cfg->token, v);
    else {
        char path[HUB_STR + 16];
        const char *tp = getenv("HF_TOKEN_PATH");
        int explicit_path = tp && *tp;
        if (explicit_path) copy_str(path, sizeof path, tp);
        else snprintf(path, sizeof path, "%s/token", cfg->hf_home);
        FILE *f = fopen(path, "r");
        if (f) {
            char line[HUB_STR];
            if (fgets(line, sizeof line, f)) {
                size_t n = strlen(line);
                while (n > 0 && isspace((unsigned char)line[n - 1])) line[--n] = '\0';
                copy_str(cfg->token, sizeof cfg->token, line);
            } else if (ferror(f)) {
                int e = errno;
                fclose(f);
                snprintf(err, errlen, "hub: cannot read token file %s%s: %s", path,
                         explicit_path ? " (HF_TOKEN_PATH)" : "", strerror(e));
                return -1;
            }
            fclose(f);
        } else if (explicit_path && errno != ENOENT) {
            snprintf(err, errlen, "hub: cannot read token file %s (HF_TOKEN_PATH): %s", path,
                     strerror(errno));
            return -1;
        }
    }
    if (strlen(cfg->token) >= sizeof cfg->token - 1) {
        snprintf(err, errlen, "hub: token too long (over %zu characters)", sizeof cfg->token - 2);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * URL helpers (libcurl's URL API does the parsing). */

/* "scheme://host:port" with the default port filled in; -1 if unparsable. */
static int url_origin(const char *url, char *out, size_t cap)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = -1;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        for (char *p = host; *p; p++) *p = (char)tolower((unsigned char)*p);
        snprintf(out, cap, "%s://%s:%s", scheme, host, port);
        rc = 0;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

/* Resolves a (possibly relative) Location against base; malloc'd or NULL. */
static char *url_join(const char *base, const char *loc)
{
    CURLU *u = curl_url();
    char *full = NULL, *out = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, loc, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK)
        out = xstrdup(full);
    curl_free(full);
    curl_url_cleanup(u);
    return out;
}

/* The URL for messages: no query or fragment (signed URLs carry credentials there). */
static void url_display(const char *url, char *out, size_t cap)
{
    size_t n = strcspn(url, "?#");
    if (n >= cap) n = cap - 1;
    memcpy(out, url, n);
    out[n] = '\0';
}

static int starts_with_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* https always; http only when the endpoint itself is http. */
static int url_scheme_ok(const hub_t *h, const char *url)
{
    return starts_with_ci(url, "https://") || (h->endpoint_http && starts_with_ci(url, "http://"));
}

static int url_allowed(const hub_t *h, const char *url, const char *what)
{
    char disp[1024];
    url_display(url, disp, sizeof disp);
    if (starts_with_ci(url, "https://")) return 0;
    if (starts_with_ci(url, "http://")) {
        if (h->endpoint_http) return 0;
        return seterr(h, "hub: refusing plain http %s %s: only https is allowed unless the "
                      "endpoint (HF_ENDPOINT) is itself http://", what, disp);
    }
    return seterr(h, "hub: unsupported URL %s %s (need https://)", what, disp);
}

static void pct_encode(const char *s, int keep_slash, char *out, size_t cap, int *overflow)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = strlen(out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int keep = isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~' ||
                   (keep_slash && *p == '/');
        if (o + 4 >= cap) { *overflow = 1; break; }
        if (keep) out[o++] = (char)*p;
        else { out[o++] = '%'; out[o++] = hex[*p >> 4]; out[o++] = hex[*p & 15]; }
    }
    out[o] = '\0';
}

/* "datasets" | "models" | "spaces" from the singular or plural form. */
static const char *norm_repo_type(const char *t)
{
    if (!t || !*t || !strcmp(t, "datasets") || !strcmp(t, "dataset")) return t && *t ? "datasets" : NULL;
    if (!strcmp(t, "models") || !strcmp(t, "model")) return "models";
    if (!strcmp(t, "spaces") || !strcmp(t, "space")) return "spaces";
    return NULL;
}

static int check_repo(const hub_t *h, const char *repo)
{
    if (!repo || !*repo) return seterr(h, "hub: empty repo name");
    int slashes = 0;
    size_t len = strlen(repo);
    if (len > 200) return seterr(h, "hub: repo name too long: %.60s...", repo);
    for (const char *p = repo; *p; p++) {
        if (*p == '/') slashes++;
        else if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return seterr(h, "hub: bad repo name '%s' (allowed: letters, digits, '-', '_', '.', "
                          "one '/')", repo);
    }
    if (slashes > 1 || repo[0] == '/' || repo[len - 1] == '/' || strstr(repo, "..") ||
        repo[0] == '.')
        return seterr(h, "hub: bad repo name '%s' (expected owner/name)", repo);
    return 0;
}

/* A relative path whose parts are not empty, "." or "..": safe to join under
 * the cache directory and to put in a URL. */
static int check_path(const hub_t *h, const char *path, int allow_empty, const char *what)
{
    if (!path || !*path) return allow_empty ? 0 : seterr(h, "hub: empty %s", what);
    if (strlen(path) > 1000) return seterr(h, "hub: %s too long: %.60s...", what, path);
    const char *p = path;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return seterr(h, "hub: bad %s '%s' (empty, '.' or '..' part, or leading '/')", what, path);
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == '\\')
                return seterr(h, "hub: bad %s '%s' (control character or backslash)", what, path);
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

static int check_revision(const hub_t *h, const char *rev)
{
    if (!rev || !*rev) return seterr(h, "hub: empty revision");
    return check_path(h, rev, 0, "revision");
}

static const char *rev_or_main(const char *rev) { return rev && *rev ? rev : "main"; }

char *hub_resolve_url(hub_t *h, const char *repo_type, const char *repo, const char *revision,
                      const char *path)
{
    const char *t = norm_repo_type(repo_type);
    revision = rev_or_main(revision);
    if (!t) { seterr(h, "hub: bad repo type '%s' (datasets, models or spaces)", repo_type ? repo_type : "(null)"); return NULL; }
    if (check_repo(h, repo) || check_revision(h, revision) || check_path(h, path, 0, "path in repo"))
        return NULL;
    char *out = xrealloc(NULL, URL_MAX);
    int over = 0;
    snprintf(out, URL_MAX, "%s/%s%s/resolve/", h->cfg.endpoint,
             !strcmp(t, "models") ? "" : !strcmp(t, "datasets") ? "datasets/" : "spaces/", repo);
    pct_encode(revision, 0, out, URL_MAX, &over);
    strncat(out, "/", URL_MAX - strlen(out) - 1);
    pct_encode(path, 1, out, URL_MAX, &over);
    if (over) { free(out); seterr(h, "hub: URL too long for %s/%s", repo, path); return NULL; }
    return out;
}

/* ------------------------------------------------------------------------
 * Lifetime and per-thread handles */
static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc;
static void curl_init_once(void) { g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static void handle_unregister(hub_t *h, thread_handle_t *th)
{
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < h->n_handles; i++)
        if (h->handles[i] == th) { h->handles[i] = h->handles[--h->n_handles]; break; }
    pthread_mutex_unlock(&h->mu);
}

/* A thread that exits gives its handle (and its idle connections) back. */
static void handle_destructor(void *p)
{
    thread_handle_t *th = p;
    handle_unregister(th->h, th);
    curl_easy_cleanup(th->curl);
    free(th);
}

static CURL *thread_curl(hub_t *h)
{
    thread_handle_t *th = pthread_getspecific(h->key);
    if (th) return th->curl;
    th = xrealloc(NULL, sizeof *th);
    th->h = h;
    th->curl = curl_easy_init();
    if (!th->curl) { free(th); seterr(h, "hub: curl_easy_init failed"); return NULL; }
    pthread_mutex_lock(&h->mu);
    if (h->n_handles == h->cap_handles) {
        h->cap_handles = h->cap_handles ? 2 * h->cap_handles : 8;
        h->handles = xrealloc(h->handles, (size_t)h->cap_handles * sizeof *h->handles);
    }
    h->handles[h->n_handles++] = th;
    pthread_mutex_unlock(&h->mu);
    pthread_setspecific(h->key, th);
    return th->curl;
}

hub_t *hub_open(const hub_config_t *cfg, char *err, size_t errlen)
{
    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init_rc != CURLE_OK) {
        snprintf(err, errlen, "hub: curl_global_init failed: %s", curl_easy_strerror(g_curl_init_rc));
        return NULL;
    }
    hub_t *h = calloc(1, sizeof *h);
    if (!h) { snprintf(err, errlen, "hub: out of memory"); return NULL; }
    h->cfg = *cfg;
    rstrip_slash(h->cfg.endpoint);
    const char *ep = h->cfg.endpoint;
    if (!starts_with_ci(ep, "https://") && !starts_with_ci(ep, "http://")) {
        snprintf(err, errlen, "hub: bad endpoint '%s' (HF_ENDPOINT): must start with https:// or http://", ep);
        free(h);
        return NULL;
    }
    if (strchr(ep, '?') || strchr(ep, '#') || url_origin(ep, h->origin, sizeof h->origin)) {
        snprintf(err, errlen, "hub: bad endpoint '%s' (HF_ENDPOINT): not a URL", ep);
        free(h);
        return NULL;
    }
    h->endpoint_http = starts_with_ci(ep, "http://");
    if (h->cfg.max_retries < 0) h->cfg.max_retries = 0;
    if (h->cfg.backoff_base_ms < 0) h->cfg.backoff_base_ms = 0;
    if (h->cfg.backoff_max_ms < h->cfg.backoff_base_ms) h->cfg.backoff_max_ms = h->cfg.backoff_base_ms;
    if (h->cfg.retry_after_max_ms < 0) h->cfg.retry_after_max_ms = 0;
    if (h->cfg.timeout_s <= 0) h->cfg.timeout_s = 30;
    if (h->cfg.stall_s <= 0) h->cfg.stall_s = 30;
    if (h->cfg.max_small_file <= 0) h->cfg.max_small_file = 512 << 20;
    if (!h->cfg.user_agent[0]) snprintf(h->cfg.user_agent, sizeof h->cfg.user_agent, "mamba-gen-hub/1.0");
    if (pthread_key_create(&h->key, handle_destructor) != 0) {
        snprintf(err, errlen, "hub: pthread_key_create failed");
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    return h;
}

void hub_close(hub_t *h)
{
    if (!h) return;
    pthread_key_delete(h->key);      /* no destructor runs after this */
    for (int i = 0; i < h->n_handles; i++) {
        curl_easy_cleanup(h->handles[i]->curl);
        free(h->handles[i]);
    }
    free(h->handles);
    for (int i = 0; i < REDIRECT_SLOTS; i++) { free(h->redirects[i].from); free(h->redirects[i].to); }
    pthread_mutex_destroy(&h->mu);
    free(h);
}

void hub_get_stats(hub_t *h, hub_stats_t *st)
{
    st->requests = atomic_load(&h->st_requests);
    st->retries = atomic_load(&h->st_retries);
    st->resumes = atomic_load(&h->st_resumes);
    st->redirects = atomic_load(&h->st_redirects);
    st->bytes = atomic_load(&h->st_bytes);
    st->waited_ms = atomic_load(&h->st_waited);
}

/* ------------------------------------------------------------------------
 * Redirect cache: resolve URL -> storage URL it redirected to. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *redirect_lookup(hub_t *h, const char *from)
{
    char *out = NULL;
    double t = now_s();
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < REDIRECT_SLOTS; i++)
        if (h->redirects[i].from && !strcmp(h->redirects[i].from, from)) {
            if (t - h->redirects[i].t < REDIRECT_TTL_S) out = xstrdup(h->redirects[i].to);
            break;
        }
    pthread_mutex_unlock(&h->mu);
    return out;
}

/* to == NULL forgets `from`. */
static void redirect_store(hub_t *h, const char *from, const char *to)
{
    pthread_mutex_lock(&h->mu);
    int same = -1, empty = -1, oldest = 0;
    for (int i = 0; i < REDIRECT_SLOTS; i++) {
        if (h->redirects[i].from && !strcmp(h->redirects[i].from, from)) { same = i; break; }
        if (!h->redirects[i].from) { if (empty < 0) empty = i; }
        else if (h->redirects[i].t < h->redirects[oldest].t) oldest = i;
    }
    int slot = same >= 0 ? same : empty >= 0 ? empty : oldest;
    if (!to && same < 0) { pthread_mutex_unlock(&h->mu); return; }
    free(h->redirects[slot].from);
    free(h->redirects[slot].to);
    h->redirects[slot].from = to ? xstrdup(from) : NULL;
    h->redirects[slot].to = to ? xstrdup(to) : NULL;
    h->redirects[slot].t = now_s();
    pthread_mutex_unlock(&h->mu);
}

/* ------------------------------------------------------------------------
 * Retry timing */
static _Thread_local uint64_t g_rng;

static double rand01(void)
{
    if (!g_rng) g_rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)(uintptr_t)&g_rng ^ (uint64_t)getpid();
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) / 9007199254740992.0;
}

static void sleep_ms(long ms)
{
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* base * 2^(k-1), capped, times a factor in [0.5, 1] so many clients spread out. */
static long backoff_ms(const hub_t *h, int k)
{
    double d = h->cfg.backoff_base_ms;
    for (int i = 1; i < k && d < h->cfg.backoff_max_ms; i++) d *= 2;
    if (d > h->cfg.backoff_max_ms) d = h->cfg.backoff_max_ms;
    return (long)(d * (0.5 + 0.5 * rand01()));
}

/* Retry-After: delay-seconds or an HTTP date; -1 when absent/unparsable. */
static long parse_retry_after(const char *v)
{
    while (*v == ' ' || *v == '\t') v++;
    if (isdigit((unsigned char)*v)) {
        char *end;
        double s = strtod(v, &end);
        if (s > 1e7) s = 1e7;
        return (long)(s * 1000.0);
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (strptime(v, "%a, %d %b %Y %H:%M:%S", &tm)) {
        double d = difftime(timegm(&tm), time(NULL));
        return d > 0 ? (long)(d * 1000.0) : 0;
    }
    return -1;
}

static int curl_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_CONNECT: case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2: case CURLE_PARTIAL_FILE: case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR: case CURLE_GOT_NOTHING: case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR: case CURLE_HTTP2_STREAM: case CURLE_HTTP3: case CURLE_QUIC_CONNECT_ERROR:
        return 1;
    default:
        return 0;
    }
}

static int http_retryable(long s) { return s == 408 || s == 429 || (s >= 500 && s <= 599); }

static const char *http_reason(long s)
{
    switch (s) {
    case 400: return "bad request";
    case 401: return "unauthorized: the repo is private or gated, set HF_TOKEN to a token with access";
    case 403: return "forbidden: the token has no access to this repo (gated? accept its terms on the Hub)";
    case 404: return "not found";
    case 408: return "request timeout";
    case 410: return "gone";
    case 416: return "range not satisfiable (read past the end of the file?)";
    case 429: return "too many requests (rate limited)";
    case 500: return "internal server error";
    case 502: return "bad gateway";
    case 503: return "service unavailable";
    case 504: return "gateway timeout";
    default: return "";
    }
}

/* ------------------------------------------------------------------------
 * The transfer engine.
 *
 * A request asks for bytes [start, start+len) of a URL (len == UINT64_MAX: to
 * the end), or a whole body (not ranged), or headers only (HEAD). The loop
 * follows redirects by hand, retries, and resumes ranged bodies from the first
 * byte not yet delivered. */
typedef struct {
    /* inputs */
    int head;
    int ranged;                  /* send Range, resume on failure */
    uint64_t start, len;
    int (*sink)(void *ctx, const void *buf, size_t n);
    void *sink_ctx;
    void (*reset)(void *ctx);    /* non-ranged: forget a partial body before a retry */
    int eof_ok;                  /* 416 at the first byte = empty stream */
    int follow;                  /* 0: stop at the first 3xx (headers only) */
    int follow_cross_origin;     /* 0: HEAD stops at a 3xx to another origin */
    int accept_gzip;             /* whole-body API reads may be compressed */
    size_t body_max;             /* for the message when a memory sink overflows */
    int cache_redirect;
    /* outputs (sticky across hops: the first hop that had them) */
    long status;                 /* final HTTP status */
    int64_t linked_size;         /* X-Linked-Size, -1 if none */
    int64_t content_length;      /* of the final response, -1 if none */
    int64_t total_size;          /* from Content-Range "/N", -1 if none */
    char commit[80];             /* X-Repo-Commit */
    char link_next[URL_MAX];     /* Link rel="next" of the final response */
    char final_url[URL_MAX];
    uint64_t got;                /* bytes delivered to the sink */
} req_t;

/* req_t is large (URLs): heap, not stack */
static req_t *new_req(void)
{
    req_t *r = calloc(1, sizeof *r);
    if (!r) { fprintf(stderr, "error: hub: out of memory\n"); abort(); }
    return r;
}

/* State of one attempt (one HTTP response). */
typedef struct {
    hub_t *h;
    req_t *r;
    long status;
    int headers_done;
    char location[URL_MAX];
    char link_next[URL_MAX];
    int64_t content_length, cr_start, cr_total;
    long retry_after_ms;
    long ratelimit_reset_ms;
    uint64_t asked;              /* first byte asked in this attempt */
    uint64_t skip;               /* body bytes to drop (server ignored Range) */
    int stopped;                 /* sink said stop, or we have every byte we wanted */
    int stalled;                 /* no byte for stall_s seconds */
    double last_activity;        /* when the last header or body byte came */
    char fatal[512];             /* a non-retryable problem found mid-transfer */
    char errbody[ERRBODY_MAX + 1];
    size_t errbody_len;
} attempt_t;

static const char *header_value(const char *line, size_t n, const char *name, size_t *vlen)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':') return NULL;
    const char *v = line + k + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
    *vlen = (size_t)(end - v);
    return v;
}

static void copy_n(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Link: <url1>; rel="prev", <url2>; rel="next" */
static void parse_link_next(const char *v, size_t n, char *out, size_t cap)
{
    char buf[URL_MAX];
    copy_n(buf, sizeof buf, v, n);
    char *p = buf;
    while ((p = strchr(p, '<')) != NULL) {
        char *e = strchr(p, '>');
        if (!e) return;
        char *next_item = strchr(e, ',');
        char *rel = strstr(e, "rel=");
        if (rel && (!next_item || rel < next_item)) {
            rel += 4;
            if (*rel == '"') rel++;
            if (!strncmp(rel, "next", 4) && (rel[4] == '"' || rel[4] == ';' || rel[4] == ',' ||
                                             rel[4] == ' ' || rel[4] == '\0')) {
                copy_n(out, cap, p + 1, (size_t)(e - p - 1));
                return;
            }
        }
        p = e + 1;
    }
}

static void on_headers_done(attempt_t *a)
{
    req_t *r = a->r;
    a->headers_done = 1;
    if (!r->ranged || a->status < 200 || a->status > 299) return;
    if (a->status == 206) {
        if (a->cr_start >= 0 && (uint64_t)a->cr_start != a->asked)
            snprintf(a->fatal, sizeof a->fatal, "server sent bytes from %lld when bytes from %llu "
                     "were asked", (long long)a->cr_start, (unsigned long long)a->asked);
    } else if (a->asked > 0) {
        a->skip = a->asked;      /* 200: the whole file; drop what comes before our offset */
    }
}

static size_t header_cb(char *line, size_t size, size_t nitems, void *ud)
{
    attempt_t *a = ud;
    req_t *r = a->r;
    size_t n = size * nitems, vl;
    const char *v;
    a->last_activity = now_s();
    if (n >= 5 && !strncmp(line, "HTTP/", 5)) {
        /* a new response: forget the headers of an interim one */
        const char *sp = memchr(line, ' ', n);
        a->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        a->location[0] = a->link_next[0] = '\0';
        a->content_length = a->cr_start = a->cr_total = -1;
        a->retry_after_ms = a->ratelimit_reset_ms = -1;
        a->headers_done = 0;
        return n;
    }
    if (n <= 2 && (line[0] == '\r' || line[0] == '\n')) {
        if (a->status >= 200) on_headers_done(a);
        return n;
    }
    if ((v = header_value(line, n, "Location", &vl))) copy_n(a->location, sizeof a->location, v, vl);
    else if ((v = header_value(line, n, "Content-Length", &vl))) a->content_length = strtoll(v, NULL, 10);
    else if ((v = header_value(line, n, "Content-Range", &vl))) {
        /* "bytes a-b/N", or "bytes" then a star then "/N" for a 416 */
        char buf[128];
        copy_n(buf, sizeof buf, v, vl);
        const char *p = buf;
        if (!strncasecmp(p, "bytes", 5)) p += 5;
        while (*p == ' ') p++;
        if (isdigit((unsigned char)*p)) a->cr_start = strtoll(p, NULL, 10);
        const char *slash = strchr(p, '/');
        if (slash && isdigit((unsigned char)slash[1])) a->cr_total = strtoll(slash + 1, NULL, 10);
    } else if ((v = header_value(line, n, "Retry-After", &vl))) {
        char buf[128];
        copy_n(buf, sizeof buf, v, vl);
        a->retry_after_ms = parse_retry_after(buf);
    } else if ((v = header_value(line, n, "RateLimit", &vl))) {
        /* "api";r=0;t=55 : t is the seconds until the window resets */
        char buf[256];
        copy_n(buf, sizeof buf, v, vl);
        const char *t = strstr(buf, ";t=");
        if (t) a->ratelimit_reset_ms = 1000L * (strtol(t + 3, NULL, 10) + 1);
    } else if ((v = header_value(line, n, "X-Linked-Size", &vl))) {
        if (r->linked_size < 0 && vl > 0 && isdigit((unsigned char)*v)) r->linked_size = strtoll(v, NULL, 10);
    } else if ((v = header_value(line, n, "X-Repo-Commit", &vl))) {
        if (!r->commit[0]) copy_n(r->commit, sizeof r->commit, v, vl);
    } else if ((v = header_value(line, n, "Link", &vl))) {
        parse_link_next(v, vl, a->link_next, sizeof a->link_next);
    }
    return n;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *ud)
{
    attempt_t *a = ud;
    req_t *r = a->r;
    size_t n = size * nmemb;
    a->last_activity = now_s();
    if (!a->headers_done) on_headers_done(a);
    if (a->status < 200 || a->status > 299) {
        /* an error page: keep its start for the message */
        size_t k = n < ERRBODY_MAX - a->errbody_len ? n : ERRBODY_MAX - a->errbody_len;
        memcpy(a->errbody + a->errbody_len, data, k);
        a->errbody_len += k;
        a->errbody[a->errbody_len] = '\0';
        return n;
    }
    if (a->fatal[0]) return 0;
    size_t off = 0;
    if (a->skip) {
        size_t k = a->skip < n ? (size_t)a->skip : n;
        a->skip -= k;
        off = k;
    }
    while (off < n) {
        uint64_t want = r->len == UINT64_MAX ? UINT64_MAX : r->len - r->got;
        if (want == 0) { a->stopped = 1; return 0; }   /* a 200 full body: we have our bytes */
        size_t take = n - off;
        if ((uint64_t)take > want) take = (size_t)want;
        int s = r->sink(r->sink_ctx, data + off, take);
        r->got += take;
        atomic_fetch_add(&a->h->st_bytes, take);
        off += take;
        if (s < 0) {
            if (r->body_max) snprintf(a->fatal, sizeof a->fatal, "the body is larger than the %zu bytes allowed", r->body_max);
            else snprintf(a->fatal, sizeof a->fatal, "the caller's sink failed after %llu bytes",
                          (unsigned long long)r->got);
            return 0;
        }
        if (s > 0) { a->stopped = 1; return 0; }
    }
    return n;
}

/* Stall detection. CURLOPT_LOW_SPEED_* averages the speed over several
 * seconds, so after a burst it notices silence late; we time the silence
 * itself (libcurl calls this at least about once a second). */
static int progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    attempt_t *a = ud;
    if (now_s() - a->last_activity > (double)a->h->cfg.stall_s) {
        a->stalled = 1;
        return 1;
    }
    return 0;
}

/* One HTTP request on this thread's handle. */
static CURLcode perform(hub_t *h, req_t *r, const char *url, attempt_t *a, char *curlerr)
{
    memset(a, 0, sizeof *a);
    CURL *c = thread_curl(h);
    if (!c) return CURLE_FAILED_INIT;
    a->h = h;
    a->r = r;
    a->content_length = a->cr_start = a->cr_total = -1;
    a->retry_after_ms = a->ratelimit_reset_ms = -1;
    a->asked = r->ranged ? r->start + r->got : 0;

    /* reset keeps the connection cache, DNS cache and TLS sessions: only options go */
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, h->cfg.user_agent);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)h->cfg.timeout_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)h->cfg.stall_s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, a);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    a->last_activity = now_s();
    curlerr[0] = '\0';
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curlerr);
    if (r->head) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);

    char range[64] = "";
    if (r->ranged && !r->head) {
        if (r->len == UINT64_MAX)
            snprintf(range, sizeof range, "%llu-", (unsigned long long)a->asked);
        else
            snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)a->asked,
                     (unsigned long long)(r->start + r->len - 1));
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    struct curl_slist *hdrs = NULL;
    char origin[HUB_STR];
    if (h->cfg.token[0] && url_origin(url, origin, sizeof origin) == 0 && !strcmp(origin, h->origin)) {
        /* the token only ever goes to the endpoint's own origin */
        char auth[HUB_STR + 32];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", h->cfg.token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (r->accept_gzip) curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    else hdrs = curl_slist_append(hdrs, "Accept-Encoding: identity");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

    atomic_fetch_add(&h->st_requests, 1);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    if (h->cfg.verbose) {
        char disp[1024];
        url_display(url, disp, sizeof disp);
        logline(h, "hub: %s %s%s%s -> %ld%s%s", r->head ? "HEAD" : "GET", disp, range[0] ? " bytes=" : "",
                range, a->status, rc != CURLE_OK && !a->stopped ? " " : "",
                rc != CURLE_OK && !a->stopped ? curl_easy_strerror(rc) : "");
    }
    /* connections are kept, but the error buffer pointer must not outlive this frame */
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    return rc;
}

/* Describes what went wrong in one attempt (for the final message). */
static void describe_failure(const attempt_t *a, CURLcode rc, const char *curlerr, char *out, size_t cap)
{
    if (a->fatal[0]) snprintf(out, cap, "%s", a->fatal);
    else if (a->stalled) snprintf(out, cap, "stalled: no data for %d s", a->h->cfg.stall_s);
    else if (rc != CURLE_OK)
        snprintf(out, cap, "%s%s%s%s", curl_easy_strerror(rc), curlerr[0] ? " (" : "", curlerr,
                 curlerr[0] ? ")" : "");
    else {
        char body[ERRBODY_MAX + 1];
        size_t k = 0;
        for (size_t i = 0; i < a->errbody_len && k < sizeof body - 1; i++)
            body[k++] = (a->errbody[i] == '\n' || a->errbody[i] == '\r') ? ' ' : a->errbody[i];
        body[k] = '\0';
        const char *why = http_reason(a->status);
        snprintf(out, cap, "HTTP %ld%s%s%s", a->status, why[0] ? " (" : "", why, why[0] ? ")" : "");
        if (k) {
            size_t l = strlen(out);
            snprintf(out + l, cap - l, ": %s", body);
        }
    }
}

/* Runs a request to completion. Returns 0, or -1 with the message set. */
static int run_request(hub_t *h, const char *url, req_t *r)
{
    r->status = 0;
    r->linked_size = r->content_length = r->total_size = -1;
    r->commit[0] = r->link_next[0] = r->final_url[0] = '\0';
    r->got = 0;
    if (h->cfg.offline)
        return seterr(h, "hub: offline (HF_HUB_OFFLINE is set): cannot fetch %s", url);
    if (url_allowed(h, url, "URL")) return -1;

    char disp[1024];
    url_display(url, disp, sizeof disp);
    const char *method = r->head ? "HEAD" : "GET";
    char *cur = NULL;
    int from_cache = 0;
    if (r->cache_redirect && (cur = redirect_lookup(h, url))) from_cache = 1;
    if (!cur) cur = xstrdup(url);
    int attempt = 0, hops = 0, reresolved = 0;
    char last[1024] = "";
    char curlerr[CURL_ERROR_SIZE];
    attempt_t a;

    for (;;) {
        uint64_t got_before = r->got;
        if (!r->ranged && r->got && r->reset) { r->reset(r->sink_ctx); r->got = 0; }
        CURLcode rc = perform(h, r, cur, &a, curlerr);
        long wait = -1;

        if (a.stopped) goto done;
        if (a.fatal[0]) goto fail;
        if (rc == CURLE_OK) {
            long s = a.status;
            if (s >= 300 && s <= 399 && s != 304 && a.location[0]) {
                char *next = url_join(cur, a.location);
                char nd[1024];
                url_display(a.location, nd, sizeof nd);
                if (!next) { free(cur); return seterr(h, "hub: %s %s: bad redirect Location '%s'", method, disp, nd); }
                if (!r->follow || !r->follow_cross_origin) {
                    char o1[HUB_STR], o2[HUB_STR];
                    int same = url_origin(cur, o1, sizeof o1) == 0 && url_origin(next, o2, sizeof o2) == 0 &&
                               !strcmp(o1, o2);
                    if (!r->follow || !same) {
                        r->status = s;
                        copy_str(r->final_url, sizeof r->final_url, next);
                        free(next);
                        goto done_status;
                    }
                }
                if (++hops > MAX_HOPS) { free(next); free(cur); return seterr(h, "hub: %s %s: more than %d redirects", method, disp, MAX_HOPS); }
                if (!url_scheme_ok(h, next)) {
                    free(next);
                    free(cur);
                    return seterr(h, "hub: %s %s: refusing the redirect to %s (only https, or http "
                                  "when the endpoint itself is http://)", method, disp, nd);
                }
                atomic_fetch_add(&h->st_redirects, 1);
                free(cur);
                cur = next;
                from_cache = 0;
                continue;
            }
            if (s >= 200 && s <= 299) {
                if (r->ranged && !r->head && r->len != UINT64_MAX && r->got < r->len) {
                    int64_t total = a.cr_total >= 0 ? a.cr_total
                                  : (s == 200 ? a.content_length : -1);
                    if (total >= 0 && r->start + r->got >= (uint64_t)total) {
                        free(cur);
                        return seterr(h, "hub: %s %s: read past the end of the file: bytes %llu-%llu "
                                      "asked, the file has %lld bytes", method, disp,
                                      (unsigned long long)r->start,
                                      (unsigned long long)(r->start + r->len - 1), (long long)total);
                    }
                    snprintf(last, sizeof last, "short body (%llu of %llu bytes)",
                             (unsigned long long)r->got, (unsigned long long)r->len);
                } else {
                    goto done;
                }
            } else if (s == 416 && r->eof_ok &&
                       (a.cr_total < 0 || (uint64_t)a.cr_total == r->start + r->got)) {
                /* asked from exactly the end (or resumed there after the last byte) */
                goto done;
            } else if (from_cache && !reresolved && (s == 401 || s == 403 || s == 404 || s == 410)) {
                /* the remembered signed URL expired: resolve again */
                redirect_store(h, url, NULL);
                free(cur);
                cur = xstrdup(url);
                from_cache = 0;
                reresolved = 1;
                continue;
            } else if (http_retryable(s)) {
                if (s == 429 || s == 503) {
                    long ra = a.retry_after_ms >= 0 ? a.retry_after_ms : a.ratelimit_reset_ms;
                    if (ra >= 0) wait = ra < h->cfg.retry_after_max_ms ? ra : h->cfg.retry_after_max_ms;
                }
            } else {
                goto fail;
            }
        } else if (!curl_retryable(rc) && !a.stalled) {
            goto fail;
        }

        /* retry */
        if (!last[0] || rc != CURLE_OK || a.status < 200 || a.status > 299)
            describe_failure(&a, rc, curlerr, last, sizeof last);
        if (r->ranged && r->got > got_before) {
            /* progress was made: resume at once, with the whole retry budget
             * again (a long stream may survive many unrelated drops) */
            atomic_fetch_add(&h->st_resumes, 1);
            attempt = 0;
        } else if (++attempt > h->cfg.max_retries) {
            char cd[1100] = "";
            if (strcmp(cur, url)) {
                char tmp[1024];
                url_display(cur, tmp, sizeof tmp);
                snprintf(cd, sizeof cd, " (redirected to %s)", tmp);
            }
            free(cur);
            return seterr(h, "hub: %s %s%s failed after %d attempt%s: %s", method, disp, cd, attempt,
                          attempt == 1 ? "" : "s", last);
        }
        atomic_fetch_add(&h->st_retries, 1);
        if (wait < 0) wait = r->got > got_before ? 0 : backoff_ms(h, attempt);
        if (h->cfg.verbose) logline(h, "hub: retrying %s %s in %ld ms (%s)", method, disp, wait, last);
        atomic_fetch_add(&h->st_waited, (uint64_t)wait);
        sleep_ms(wait);
        last[0] = '\0';
        continue;

    fail: {
            char why[1024], cd[1100] = "";
            describe_failure(&a, rc, curlerr, why, sizeof why);
            if (strcmp(cur, url)) {
                char tmp[1024];
                url_display(cur, tmp, sizeof tmp);
                snprintf(cd, sizeof cd, " (redirected to %s)", tmp);
            }
            r->status = a.status;
            free(cur);
            return seterr(h, "hub: %s %s%s: %s", method, disp, cd, why);
        }
    done:
        r->status = a.status;
        r->content_length = a.content_length;
        r->total_size = a.cr_total;
        copy_str(r->link_next, sizeof r->link_next, a.link_next);
        copy_str(r->final_url, sizeof r->final_url, cur);
        if (r->cache_redirect && strcmp(cur, url) && !r->head) redirect_store(h, url, cur);
        free(cur);
        return 0;
    done_status:
        r->content_length = a.content_length;
        free(cur);
        return 0;
    }
}

/* ------------------------------------------------------------------------
 * Public reads */
typedef struct {
    char *buf;
    size_t len, cap, max;
} membuf_t;

static int mem_sink(void *ctx, const void *p, size_t n)
{
    membuf_t *m = ctx;
    if (m->len + n > m->max) return -1;
    if (m->len + n + 1 > m->cap) {
        m->cap = (m->len + n + 1) * 2;
        if (m->cap > m->max + 1) m->cap = m->max + 1;
        m->buf = xrealloc(m->buf, m->cap);
    }
    memcpy(m->buf + m->len, p, n);
    m->len += n;
    m->buf[m->len] = '\0';
    return 0;
}

static void mem_reset(void *ctx) { ((membuf_t *)ctx)->len = 0; }

/* Whole-body GET into memory, with the response details in *r. */
static int get_mem(hub_t *h, const char *url, size_t max, int gzip, req_t *r, char **body, size_t *len)
{
    membuf_t m = {NULL, 0, 0, max};
    memset(r, 0, sizeof *r);
    r->sink = mem_sink;
    r->sink_ctx = &m;
    r->reset = mem_reset;
    r->follow = r->follow_cross_origin = 1;
    r->accept_gzip = gzip;
    r->body_max = max;
    r->len = UINT64_MAX;
    int rc = run_request(h, url, r);
    if (rc == 0 && !m.buf) m.buf = xstrdup("");
    if (rc != 0) { free(m.buf); return -1; }
    *body = m.buf;
    if (len) *len = m.len;
    return 0;
}

int hub_get(hub_t *h, const char *url, size_t max_bytes, char **body, size_t *len)
{
    req_t *r = new_req();
    int rc = get_mem(h, url, max_bytes, 1, r, body, len);
    free(r);
    return rc;
}

int hub_file_size(hub_t *h, const char *url, uint64_t *size)
{
    req_t *r = new_req();
    char disp[1024];
    url_display(url, disp, sizeof disp);
    r->head = 1;
    r->follow = 1;
    r->follow_cross_origin = 0;     /* the Hub's 302 carries X-Linked-Size; the CDN need not be asked */
    g_probe++;
    int rc = run_request(h, url, r);
    g_probe--;
    if (rc == 0 && r->linked_size >= 0) { *size = (uint64_t)r->linked_size; goto out; }
    if (rc == 0 && r->status >= 200 && r->status <= 299 && r->content_length >= 0) {
        *size = (uint64_t)r->content_length;
        goto out;
    }
    /* HEAD refused (400/403/405/501: some CDNs sign URLs for GET only) or
     * gave no size: ask for the first byte, read the total from Content-Range */
    if (rc != 0 && r->status != 400 && r->status != 403 && r->status != 405 && r->status != 501) {
        if (!h->cfg.quiet) fprintf(stderr, "error: %s\n", g_err);
        goto out;
    }
    {
        char *next = xstrdup(rc == 0 && r->status >= 300 && r->final_url[0] ? r->final_url : url);
        membuf_t m = {NULL, 0, 0, 1};
        memset(r, 0, sizeof *r);
        r->ranged = 1;
        r->start = 0;
        r->len = 1;
        r->sink = mem_sink;
        r->sink_ctx = &m;
        r->body_max = 1;
        r->follow = r->follow_cross_origin = 1;
        rc = run_request(h, next, r);
        free(next);
        free(m.buf);
        if (rc == 0) {
            if (r->total_size >= 0) *size = (uint64_t)r->total_size;
            else if (r->status == 200 && r->content_length >= 0) *size = (uint64_t)r->content_length;
            else rc = seterr(h, "hub: cannot find the size of %s: no X-Linked-Size, Content-Length "
                             "or Content-Range in the replies", disp);
        }
    }
out:
    free(r);
    return rc;
}

typedef struct {
    unsigned char *dst;
    size_t at;
} copy_ctx_t;

static int copy_sink(void *ctx, const void *p, size_t n)
{
    copy_ctx_t *c = ctx;
    memcpy(c->dst + c->at, p, n);
    c->at += n;
    return 0;
}

int hub_read_range(hub_t *h, const char *url, uint64_t off, void *dst, size_t len)
{
    if (len == 0) return 0;
    if (!dst) return seterr(h, "hub: read_range: NULL destination");
    if (off > UINT64_MAX - len) return seterr(h, "hub: read_range: offset %llu + length %zu overflows",
                                              (unsigned long long)off, len);
    req_t *r = new_req();
    copy_ctx_t c = {dst, 0};
    r->ranged = 1;
    r->start = off;
    r->len = len;
    r->sink = copy_sink;
    r->sink_ctx = &c;
    r->follow = r->follow_cross_origin = 1;
    r->cache_redirect = 1;
    int rc = run_request(h, url, r);
    if (rc == 0 && c.at != len) {
        char disp[1024];
        url_display(url, disp, sizeof disp);
        rc = seterr(h, "hub: GET %s: got %zu of %zu bytes at offset %llu", disp, c.at, len,
                    (unsigned long long)off);
    }
    free(r);
    return rc;
}

int hub_read_at(void *ctx, uint64_t off, void *dst, size_t len)
{
    hub_source_t *s = ctx;
    return hub_read_range(s->hub, s->url, off, dst, len);
}

int hub_stream(hub_t *h, const char *url, uint64_t off,
               int (*sink)(void *ctx, const void *buf, size_t n), void *ctx)
{
    if (!sink) return seterr(h, "hub: stream: NULL sink");
    req_t *r = new_req();
    r->ranged = 1;
    r->start = off;
    r->len = UINT64_MAX;
    r->sink = sink;
    r->sink_ctx = ctx;
    r->eof_ok = 1;
    r->follow = r->follow_cross_origin = 1;
    r->cache_redirect = 1;
    int rc = run_request(h, url, r);
    free(r);
    return rc;
}

/* ------------------------------------------------------------------------
 * Tree listing */
void hub_files_free(hub_file_t *files, int n)
{
    if (!files) return;
    for (int i = 0; i < n; i++) {
        free(files[i].path);
        free(files[i].oid);
        free(files[i].lfs_sha256);
        free(files[i].url);
    }
    free(files);
}

typedef struct {
    hub_file_t *v;
    int n, cap;
} filelist_t;

static void fl_push(filelist_t *l, hub_file_t f)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    l->v[l->n++] = f;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const hub_file_t *)a)->path, ((const hub_file_t *)b)->path);
}

static void fl_sort_unique(filelist_t *l)
{
    if (l->n > 1) qsort(l->v, (size_t)l->n, sizeof *l->v, cmp_file);
    int w = 0;
    for (int i = 0; i < l->n; i++) {
        if (w > 0 && !strcmp(l->v[w - 1].path, l->v[i].path)) {
            free(l->v[i].path); free(l->v[i].oid); free(l->v[i].lfs_sha256); free(l->v[i].url);
            continue;
        }
        l->v[w++] = l->v[i];
    }
    l->n = w;
}

static int json_u64(json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* Parses one page of the tree API into l (files only). */
static int parse_tree_page(hub_t *h, const char *disp, const char *body, size_t len,
                           const char *type, const char *repo, const char *rev, filelist_t *l)
{
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    if (!root) return seterr(h, "hub: tree listing %s: bad JSON at line %d: %s", disp, je.line, je.text);
    if (!json_is_array(root)) {
        json_decref(root);
        return seterr(h, "hub: tree listing %s: expected a JSON array of entries", disp);
    }
    size_t i;
    json_t *e;
    json_array_foreach(root, i, e) {
        json_t *jt = json_object_get(e, "type"), *jp = json_object_get(e, "path");
        if (!json_is_object(e) || !json_is_string(jt) || !json_is_string(jp)) {
            json_decref(root);
            return seterr(h, "hub: tree listing %s: entry %zu has no string 'type' and 'path'", disp, i);
        }
        if (strcmp(json_string_value(jt), "file")) continue;     /* directories */
        const char *path = json_string_value(jp);
        hub_file_t f = {0};
        json_t *lfs = json_object_get(e, "lfs"), *oid = json_object_get(e, "oid");
        if (json_u64(json_object_get(e, "size"), &f.size)) {
            json_decref(root);
            return seterr(h, "hub: tree listing %s: entry '%s' has no valid 'size'", disp, path);
        }
        if (json_is_object(lfs)) {
            uint64_t ls;
            json_t *lo = json_object_get(lfs, "oid");
            if (json_u64(json_object_get(lfs, "size"), &ls) == 0) f.size = ls;
            if (json_is_string(lo)) f.lfs_sha256 = xstrdup(json_string_value(lo));
        }
        int saved = g_probe;
        g_probe = 1;
        f.url = hub_resolve_url(h, type, repo, rev, path);
        g_probe = saved;
        if (!f.url) {
            free(f.lfs_sha256);
            json_decref(root);
            return seterr(h, "hub: tree listing %s: entry with an unusable path '%s'", disp, path);
        }
        f.path = xstrdup(path);
        f.oid = xstrdup(json_is_string(oid) ? json_string_value(oid) : "");
        fl_push(l, f);
    }
    json_decref(root);
    return 0;
}

/* Lists into l. Returns 0, -1 on error, or 404 (message set, not printed
 * when probing) when the path or repo does not exist. */
static int list_into(hub_t *h, const char *type, const char *repo, const char *rev,
                     const char *prefix, filelist_t *l)
{
    const char *t = norm_repo_type(type);
    rev = rev_or_main(rev);
    if (!t) return seterr(h, "hub: bad repo type '%s' (datasets, models or spaces)", type ? type : "(null)");
    if (check_repo(h, repo) || check_revision(h, rev) || check_path(h, prefix, 1, "folder")) return -1;
    char *url = xrealloc(NULL, URL_MAX);
    int over = 0;
    snprintf(url, URL_MAX, "%s/api/%s/%s/tree/", h->cfg.endpoint, t, repo);
    pct_encode(rev, 0, url, URL_MAX, &over);
    if (prefix && *prefix) {
        strncat(url, "/", URL_MAX - strlen(url) - 1);
        pct_encode(prefix, 1, url, URL_MAX, &over);
    }
    strncat(url, "?recursive=true", URL_MAX - strlen(url) - 1);
    if (over) { free(url); return seterr(h, "hub: tree URL too long for %s/%s", repo, prefix); }
    req_t *r = new_req();
    int rc = 0;
    for (int page = 0; rc == 0; page++) {
        char disp[1024];
        url_display(url, disp, sizeof disp);
        if (page >= MAX_PAGES) { rc = seterr(h, "hub: tree listing %s: more than %d pages", disp, MAX_PAGES); break; }
        char *body = NULL;
        size_t len = 0;
        if (get_mem(h, url, 256u << 20, 1, r, &body, &len)) {
            rc = r->status == 404 ? 404 : -1;
            break;
        }
        rc = parse_tree_page(h, disp, body, len, t, repo, rev, l);
        free(body);
        if (rc || !r->link_next[0]) break;
        char *next = url_join(url, r->link_next);
        if (!next || !strcmp(next, url)) {
            free(next);
            rc = seterr(h, "hub: tree listing %s: bad or looping Link rel=\"next\"", disp);
            break;
        }
        free(url);
        url = next;
    }
    free(url);
    free(r);
    return rc;
}

int hub_list_files(hub_t *h, const char *repo_type, const char *repo, const char *revision,
                   const char *prefix, hub_file_t **files, int *n)
{
    filelist_t l = {0};
    *files = NULL;
    *n = 0;
    int rc = list_into(h, repo_type, repo, revision, prefix, &l);
    if (rc) { hub_files_free(l.v, l.n); return -1; }
    fl_sort_unique(&l);
    *files = l.v;
    *n = l.n;
    return 0;
}

/* ------------------------------------------------------------------------
 * Config/split -> parquet files (the rules are in hub.h). */

/* Glob over repo paths: '*' and '?' stay within one path part, '**' crosses
 * parts (a double star then "/x" also matches "x" at any depth), "[...]" is
 * a character class. */
static int glob_match(const char *p, const char *s)
{
    for (;;) {
        if (*p == '\0') return *s == '\0';
        if (p[0] == '*' && p[1] == '*') {
            p += 2;
            if (*p == '/') {                  /* a double star and '/' may match no folder */
                if (glob_match(p + 1, s)) return 1;
            }
            for (const char *t = s;; t++) {
                if (glob_match(p, t)) return 1;
                if (!*t) return 0;
            }
        }
        if (*p == '*') {
            p++;
            for (const char *t = s;; t++) {
                if (glob_match(p, t)) return 1;
                if (!*t || *t == '/') return 0;
            }
        }
        if (!*s) return 0;
        if (*p == '?') {
            if (*s == '/') return 0;
        } else if (*p == '[') {
            const char *q = p + 1;
            int neg = *q == '!' || *q == '^', ok = 0;
            if (neg) q++;
            const char *start = q;
            while (*q && (*q != ']' || q == start)) {
                if (q[1] == '-' && q[2] && q[2] != ']') {
                    if (*s >= q[0] && *s <= q[2]) ok = 1;
                    q += 3;
                } else {
                    if (*s == *q) ok = 1;
                    q++;
                }
            }
            if (*q != ']') { if (*s != '[') return 0; }   /* no closing ']': literal '[' */
            else {
                if (ok == neg || *s == '/') return 0;
                p = q;
            }
        } else if (*p != *s) {
            return 0;
        }
        p++;
        s++;
    }
}

/* The folder part of a pattern before its first wildcard ("sample/10BT/x*" -> "sample/10BT"). */
static void glob_base(const char *pat, char *out, size_t cap)
{
    size_t first = strcspn(pat, "*?[");
    size_t cut = 0;
    for (size_t i = 0; i < first; i++)
        if (pat[i] == '/') cut = i;
    if (pat[first] == '\0') {              /* no wildcard: the parent folder of a file */
        const char *slash = strrchr(pat, '/');
        cut = slash ? (size_t)(slash - pat) : 0;
    }
    copy_n(out, cap, pat, cut);
}

static int ends_with_ci(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcasecmp(s + a - b, suf);
}

static int is_parquet(const char *path) { return ends_with_ci(path, ".parquet"); }

static int is_data_file(const char *path)
{
    static const char *ext[] = {".parquet", ".arrow", ".csv", ".tsv", ".json", ".jsonl", ".txt",
                                ".csv.gz", ".json.gz", ".jsonl.gz", ".jsonl.zst", ".json.zst", ".txt.gz"};
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
        if (ends_with_ci(path, ext[i])) return 1;
    return 0;
}

typedef struct {
    char split[128];
    char *pats[64];
    int npats;
} split_pats_t;

typedef struct {
    int has_configs;             /* the card has a `configs:` list */
    int found;                   /* the config asked for is in it */
    char names[1024];            /* configs that exist, for messages */
    char data_dir[HUB_STR];
    split_pats_t splits[16];
    int nsplits;
} card_t;

static void card_free(card_t *c)
{
    for (int i = 0; i < c->nsplits; i++)
        for (int j = 0; j < c->splits[i].npats; j++) free(c->splits[i].pats[j]);
}

static const char *yscalar(yaml_document_t *d, yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *ymap_get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const char *k = yscalar(d, yaml_document_get_node(d, p->key));
        if (k && !strcmp(k, key)) return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

static split_pats_t *card_split(card_t *c, const char *name)
{
    for (int i = 0; i < c->nsplits; i++)
        if (!strcmp(c->splits[i].split, name)) return &c->splits[i];
    if (c->nsplits == (int)(sizeof c->splits / sizeof *c->splits)) return NULL;
    split_pats_t *s = &c->splits[c->nsplits++];
    memset(s, 0, sizeof *s);
    copy_str(s->split, sizeof s->split, name);
    return s;
}

/* A pattern or a list of patterns, added to split `name`. */
static void card_add_pats(card_t *c, yaml_document_t *d, const char *name, yaml_node_t *v)
{
    split_pats_t *s = card_split(c, name);
    if (!s || !v) return;
    if (v->type == YAML_SCALAR_NODE) {
        if (s->npats < 64) s->pats[s->npats++] = xstrdup(yscalar(d, v));
    } else if (v->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            const char *p = yscalar(d, yaml_document_get_node(d, *it));
            if (p && s->npats < 64) s->pats[s->npats++] = xstrdup(p);
        }
    }
}

/* Reads `configs:` from the card's YAML front matter. Returns 0 (c filled;
 * has_configs 0 when there is no such list), -1 on a malformed card. */
static int parse_card(hub_t *h, const char *disp, const char *text, size_t len, const char *config, card_t *c)
{
    memset(c, 0, sizeof *c);
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) { text += 3; len -= 3; }
    if (len < 4 || strncmp(text, "---", 3) || (text[3] != '\n' && text[3] != '\r')) return 0;
    const char *nl = memchr(text, '\n', len);
    if (!nl) return 0;
    const char *body = nl + 1, *end = NULL;
    for (const char *p = body; p && p < text + len;) {
        if (!strncmp(p, "---", 3) && (p[3] == '\n' || p[3] == '\r' || p[3] == '\0')) { end = p; break; }
        p = strchr(p, '\n');
        if (p) p++;
    }
    if (!end) return seterr(h, "hub: dataset card %s: YAML front matter has no closing '---'", disp);

    yaml_parser_t ps;
    yaml_document_t doc;
    yaml_parser_initialize(&ps);
    yaml_parser_set_input_string(&ps, (const unsigned char *)body, (size_t)(end - body));
    if (!yaml_parser_load(&ps, &doc)) {
        int rc = seterr(h, "hub: dataset card %s: bad YAML front matter at line %zu: %s", disp,
                        ps.problem_mark.line + 2, ps.problem ? ps.problem : "parse error");
        yaml_parser_delete(&ps);
        return rc;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *configs = ymap_get(&doc, root, "configs");
    if (configs && configs->type == YAML_SEQUENCE_NODE) {
        c->has_configs = 1;
        yaml_node_t *chosen = NULL, *marked_default = NULL;
        for (yaml_node_item_t *it = configs->data.sequence.items.start; it < configs->data.sequence.items.top; it++) {
            yaml_node_t *cf = yaml_document_get_node(&doc, *it);
            const char *name = yscalar(&doc, ymap_get(&doc, cf, "config_name"));
            if (!name) continue;
            size_t l = strlen(c->names);
            if (l + strlen(name) + 3 < sizeof c->names) snprintf(c->names + l, sizeof c->names - l, "%s%s", l ? ", " : "", name);
            const char *def = yscalar(&doc, ymap_get(&doc, cf, "default"));
            if (def && !strcmp(def, "true") && !marked_default) marked_default = cf;
            if (!strcmp(name, config)) chosen = cf;
        }
        if (!chosen && !strcmp(config, "default")) chosen = marked_default;
        if (chosen) {
            c->found = 1;
            const char *dd = yscalar(&doc, ymap_get(&doc, chosen, "data_dir"));
            if (dd) copy_str(c->data_dir, sizeof c->data_dir, dd);
            yaml_node_t *df = ymap_get(&doc, chosen, "data_files");
            if (df && df->type == YAML_SCALAR_NODE) card_add_pats(c, &doc, "train", df);
            else if (df && df->type == YAML_SEQUENCE_NODE) {
                for (yaml_node_item_t *it = df->data.sequence.items.start; it < df->data.sequence.items.top; it++) {
                    yaml_node_t *e = yaml_document_get_node(&doc, *it);
                    if (e && e->type == YAML_SCALAR_NODE) card_add_pats(c, &doc, "train", e);
                    else if (e && e->type == YAML_MAPPING_NODE) {
                        const char *sp = yscalar(&doc, ymap_get(&doc, e, "split"));
                        card_add_pats(c, &doc, sp ? sp : "train", ymap_get(&doc, e, "path"));
                    }
                }
            } else if (df && df->type == YAML_MAPPING_NODE) {    /* {train: pattern, test: ...} */
                for (yaml_node_pair_t *p = df->data.mapping.pairs.start; p < df->data.mapping.pairs.top; p++) {
                    const char *sp = yscalar(&doc, yaml_document_get_node(&doc, p->key));
                    if (sp) card_add_pats(c, &doc, sp, yaml_document_get_node(&doc, p->value));
                }
            }
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&ps);
    return 0;
}

/* Does `path` name split keyword `kw` (a file name "kw-..", "kw_..", "kw.." or a folder "kw")? */
static int names_keyword(const char *path, const char *kw)
{
    size_t k = strlen(kw);
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (slash) {
            if (n == k && !strncasecmp(p, kw, k)) return 1;
        } else if (n > k && !strncasecmp(p, kw, k) && (p[k] == '-' || p[k] == '_' || p[k] == '.')) {
            return 1;
        }
        if (!slash) return 0;
        p = slash + 1;
    }
}

static const char *const *split_aliases(const char *split)
{
    static const char *const train[] = {"train", "training", NULL};
    static const char *const val[] = {"validation", "valid", "val", "dev", NULL};
    static const char *const test[] = {"test", "testing", "eval", NULL};
    if (!strcmp(split, "train")) return train;
    if (!strcmp(split, "validation")) return val;
    if (!strcmp(split, "test")) return test;
    return NULL;
}

static int names_split(const char *path, const char *split)
{
    const char *const *al = split_aliases(split);
    if (!al) return names_keyword(path, split);
    for (; *al; al++)
        if (names_keyword(path, *al)) return 1;
    return 0;
}

static int names_any_split(const char *path, const char *split)
{
    return names_split(path, "train") || names_split(path, "validation") || names_split(path, "test") ||
           names_keyword(path, split);
}

/* Moves the entries of `all` accepted by keep() into out; frees the rest. */
static void fl_take(filelist_t *all, filelist_t *out, int keep_parquet_only,
                    int (*keep)(const hub_file_t *, const void *), const void *arg, int *n_matched)
{
    for (int i = 0; i < all->n; i++) {
        hub_file_t *f = &all->v[i];
        int k = keep(f, arg);
        if (k) (*n_matched)++;
        if (k && (!keep_parquet_only || is_parquet(f->path))) fl_push(out, *f);
        else { free(f->path); free(f->oid); free(f->lfs_sha256); free(f->url); }
    }
    free(all->v);
    all->v = NULL;
    all->n = all->cap = 0;
}

static int keep_glob(const hub_file_t *f, const void *pat) { return glob_match(pat, f->path); }

typedef struct {
    const char *split;
    int any_named;
} splitsel_t;

static int keep_split(const hub_file_t *f, const void *arg)
{
    const splitsel_t *s = arg;
    if (!is_data_file(f->path)) return 0;
    return s->any_named ? names_split(f->path, s->split) : !strcmp(s->split, "train");
}

/* Probing list: 404 is "not here" (0 files), not an error. */
static int probe_list(hub_t *h, const char *repo, const char *rev, const char *folder, filelist_t *l)
{
    g_probe++;
    int rc = list_into(h, "datasets", repo, rev, folder, l);
    g_probe--;
    if (rc == 404) return 0;
    if (rc) { if (!h->cfg.quiet) fprintf(stderr, "error: %s\n", g_err); return -1; }
    return 0;
}

/* Rule 3 on one folder: data files by split naming. */
static int by_convention(hub_t *h, const char *repo, const char *rev, const char *folder,
                         const char *split, filelist_t *out, int *n_data)
{
    filelist_t all = {0};
    if (probe_list(h, repo, rev, folder, &all)) { hub_files_free(all.v, all.n); return -1; }
    splitsel_t sel = {split, 0};
    for (int i = 0; i < all.n; i++)
        if (is_data_file(all.v[i].path) && names_any_split(all.v[i].path, split)) sel.any_named = 1;
    fl_take(&all, out, 1, keep_split, &sel, n_data);
    return 0;
}

/* Rule 1: refs/convert/parquet {config}/{split}/ or {config}/partial-{split}/. */
static int from_convert_branch(hub_t *h, const char *repo, const char *config, const char *split,
                               filelist_t *out)
{
    const char *rev = "refs/convert/parquet";
    char folder[600];
    snprintf(folder, sizeof folder, "%s/%s", config, split);
    if (check_path(h, folder, 0, "config/split")) return -1;
    filelist_t all = {0};
    int n = 0;
    if (probe_list(h, repo, rev, folder, &all)) { hub_files_free(all.v, all.n); return -1; }
    fl_take(&all, out, 1, keep_glob, "**", &n);
    if (out->n) return 0;
    snprintf(folder, sizeof folder, "%s/partial-%s", config, split);
    if (probe_list(h, repo, rev, folder, &all)) { hub_files_free(all.v, all.n); return -1; }
    fl_take(&all, out, 1, keep_glob, "**", &n);
    return 0;
}

int hub_list_parquet(hub_t *h, const char *repo, const char *revision, const char *config,
                     const char *split, hub_file_t **files, int *n)
{
    *files = NULL;
    *n = 0;
    revision = rev_or_main(revision);
    if (!config || !*config) config = "default";
    if (!split || !*split) split = "train";
    if (check_repo(h, repo) || check_revision(h, revision)) return -1;
    if (check_path(h, config, 0, "config name") || strchr(config, '/') ||
        check_path(h, split, 0, "split name") || strchr(split, '/'))
        return seterr(h, "hub: bad config '%s' or split '%s' for %s", config, split, repo);

    filelist_t out = {0};
    int n_data = 0, rc = 0, no_card_config = 0;
    char where[3000] = "";
    int is_convert = !strcmp(revision, "refs/convert/parquet");

    if (!is_convert) {
        /* the dataset card */
        char *url = hub_resolve_url(h, "datasets", repo, revision, "README.md");
        if (!url) return -1;
        char disp[1024];
        url_display(url, disp, sizeof disp);
        req_t *r = new_req();
        char *text = NULL;
        size_t tlen = 0;
        g_probe++;
        int grc = get_mem(h, url, 16u << 20, 1, r, &text, &tlen);
        g_probe--;
        long status = r->status;
        free(r);
        free(url);
        if (grc && status != 404) {
            if (!h->cfg.quiet) fprintf(stderr, "error: %s\n", g_err);
            return -1;
        }
        card_t card;
        memset(&card, 0, sizeof card);
        if (!grc) {
            rc = parse_card(h, disp, text, tlen, config, &card);
            free(text);
            if (rc) return -1;
        }
        if (card.has_configs) {
            if (!card.found) {
                card_free(&card);
                return seterr(h, "hub: dataset %s has no config '%s' (its card lists: %s)", repo, config,
                              card.names[0] ? card.names : "none");
            }
            split_pats_t *sp = NULL;
            for (int i = 0; i < card.nsplits; i++)
                if (!strcmp(card.splits[i].split, split)) sp = &card.splits[i];
            if (card.nsplits > 0 && !sp) {
                char have[512] = "";
                for (int i = 0; i < card.nsplits; i++) {
                    size_t l = strlen(have);
                    snprintf(have + l, sizeof have - l, "%s%s", i ? ", " : "", card.splits[i].split);
                }
                card_free(&card);
                return seterr(h, "hub: dataset %s config '%s' has no split '%s' (it has: %s)", repo,
                              config, split, have);
            }
            if (sp) {
                for (int j = 0; j < sp->npats && rc == 0; j++) {
                    const char *pat = sp->pats[j];
                    while (pat[0] == '.' && pat[1] == '/') pat += 2;
                    char base[HUB_STR];
                    if (check_path(h, pat, 0, "data_files pattern")) { rc = -1; break; }
                    glob_base(pat, base, sizeof base);
                    filelist_t all = {0};
                    if (probe_list(h, repo, revision, base, &all)) { hub_files_free(all.v, all.n); rc = -1; break; }
                    fl_take(&all, &out, 1, keep_glob, pat, &n_data);
                    size_t l = strlen(where);
                    snprintf(where + l, sizeof where - l, "%s%s@%s", l ? ", " : "", pat, revision);
                }
            } else if (card.data_dir[0]) {
                if (check_path(h, card.data_dir, 0, "data_dir")) rc = -1;
                else rc = by_convention(h, repo, revision, card.data_dir, split, &out, &n_data);
                snprintf(where, sizeof where, "%s/@%s", card.data_dir, revision);
            }
            card_free(&card);
            if (rc) { hub_files_free(out.v, out.n); return -1; }
        } else if (strcmp(config, "default")) {
            /* without configs in the card only "default" lives in the repo;
             * a script-built dataset may still have its config converted */
            no_card_config = 1;
        } else {
            rc = by_convention(h, repo, revision, "data", split, &out, &n_data);
            snprintf(where, sizeof where, "data/@%s", revision);
            if (rc == 0 && n_data == 0) {
                rc = by_convention(h, repo, revision, "", split, &out, &n_data);
                snprintf(where, sizeof where, "data/ and the repo root @%s", revision);
            }
            if (rc) { hub_files_free(out.v, out.n); return -1; }
        }
    }
    if (out.n == 0) {
        /* rule 4 (or 1): the Hub's parquet conversion */
        if (from_convert_branch(h, repo, config, split, &out)) { hub_files_free(out.v, out.n); return -1; }
        size_t l = strlen(where);
        snprintf(where + l, sizeof where - l, "%s%s/%s/ and %s/partial-%s/@refs/convert/parquet",
                 l ? ", then " : "", config, split, config, split);
    }
    if (out.n == 0 && no_card_config)
        return seterr(h, "hub: dataset %s has no config '%s': its card lists no configs (so only "
                      "'default' is in the repo) and refs/convert/parquet has no %s/%s/", repo, config,
                      config, split);
    if (out.n == 0)
        return seterr(h, "hub: dataset %s config '%s' split '%s': no parquet files (%d data files "
                      "matched; looked in %s)", repo, config, split, n_data, where);
    fl_sort_unique(&out);
    *files = out.v;
    *n = out.n;
    return 0;
}

/* ------------------------------------------------------------------------
 * Small-file cache */
static int mkdirs(hub_t *h, const char *dir)
{
    char tmp[4096];
    if (strlen(dir) >= sizeof tmp) return seterr(h, "hub: path too long: %s", dir);
    strcpy(tmp, dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return seterr(h, "hub: cannot create %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return seterr(h, "hub: cannot create %s: %s", tmp, strerror(errno));
    return 0;
}

static int write_atomic(hub_t *h, const char *path, const void *data, size_t len)
{
    char dir[4096], tmp[4200];
    copy_str(dir, sizeof dir, path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    if (slash && mkdirs(h, dir)) return -1;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%lx", path, (long)getpid(), (unsigned long)(uintptr_t)&tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return seterr(h, "hub: cannot create %s: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return seterr(h, "hub: cannot write %s: %s", tmp, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return seterr(h, "hub: cannot flush %s: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return seterr(h, "hub: cannot rename %s to %s: %s", tmp, path, strerror(e));
    }
    if (slash) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) { fsync(dfd); close(dfd); }
    }
    return 0;
}

static void warn_cached(const hub_t *h, const char *cached)
{
    if (!h->cfg.quiet) fprintf(stderr, "warning: %s; using the cached %s\n", g_err, cached);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_commit_sha(const char *s)
{
    if (strlen(s) != 40) return 0;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s)) return 0;
    return 1;
}

/* A commit as a single safe folder name (the server's X-Repo-Commit is data too). */
static int safe_commit(const char *c)
{
    if (!*c || strlen(c) > 72 || !strcmp(c, ".") || !strcmp(c, "..")) return 0;
    for (; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.') return 0;
    return 1;
}

int hub_fetch_small_file(hub_t *h, const char *repo_type, const char *repo, const char *revision,
                         const char *path, char *out_path, size_t out_len)
{
    const char *t = norm_repo_type(repo_type);
    revision = rev_or_main(revision);
    if (!t) return seterr(h, "hub: bad repo type '%s' (datasets, models or spaces)", repo_type ? repo_type : "(null)");
    if (check_repo(h, repo) || check_revision(h, revision) || check_path(h, path, 0, "path in repo")) return -1;

    char repodir[4096], refpath[4400], cached[8192] = "", commit[128] = "";
    char flat[256];
    copy_str(flat, sizeof flat, repo);
    char *slash = strchr(flat, '/');
    if (slash) {          /* owner/name -> owner--name */
        memmove(slash + 2, slash + 1, strlen(slash + 1) + 1);
        slash[0] = slash[1] = '-';
    }
    snprintf(repodir, sizeof repodir, "%s/%s--%s", h->cfg.cache_dir, t, flat);
    snprintf(refpath, sizeof refpath, "%s/refs/%s", repodir, revision);
    int pinned = is_commit_sha(revision);
    if (pinned) copy_str(commit, sizeof commit, revision);
    else {
        FILE *f = fopen(refpath, "r");
        if (f) {
            if (fgets(commit, sizeof commit, f)) commit[strcspn(commit, "\r\n \t")] = '\0';
            fclose(f);
            if (!safe_commit(commit)) commit[0] = '\0';
        }
    }
    if (commit[0]) snprintf(cached, sizeof cached, "%s/snapshots/%s/%s", repodir, commit, path);
    int have = cached[0] && file_exists(cached);
    if (have && (pinned || h->cfg.offline)) goto use_cached;
    if (h->cfg.offline)
        return seterr(h, "hub: offline (HF_HUB_OFFLINE is set) and %s/%s@%s is not in the cache %s", repo,
                      path, revision, repodir);

    char *url = hub_resolve_url(h, t, repo, revision, path);
    if (!url) return -1;
    char disp[1024];
    url_display(url, disp, sizeof disp);
    req_t *r = new_req();
    if (have) {
        /* is the cached copy still the revision's? one HEAD, no redirect */
        r->head = 1;
        r->follow = 0;
        g_probe++;
        int rc = run_request(h, url, r);
        g_probe--;
        if (rc == 0 && r->commit[0] && !strcmp(r->commit, commit)) { free(url); free(r); goto use_cached; }
        if (rc != 0 && r->status == 0) {
            warn_cached(h, cached);
            free(url);
            free(r);
            goto use_cached;
        }
    }
    char *body = NULL;
    size_t len = 0;
    if (get_mem(h, url, (size_t)h->cfg.max_small_file, 0, r, &body, &len)) {
        free(url);
        free(r);
        if (have) {
            warn_cached(h, cached);
            goto use_cached;
        }
        return -1;
    }
    free(url);
    if (r->commit[0] && safe_commit(r->commit)) copy_str(commit, sizeof commit, r->commit);
    else if (pinned) copy_str(commit, sizeof commit, revision);
    else {
        /* no X-Repo-Commit (some mirrors): the revision name stands in for it */
        copy_str(commit, sizeof commit, revision);
        for (char *p = commit; *p; p++)
            if (*p == '/') *p = '_';
    }
    free(r);
    snprintf(cached, sizeof cached, "%s/snapshots/%s/%s", repodir, commit, path);
    int rc = write_atomic(h, cached, body, len);
    free(body);
    if (rc) return -1;
    if (!pinned && write_atomic(h, refpath, commit, strlen(commit))) return -1;

use_cached:
    if (strlen(cached) >= out_len) return seterr(h, "hub: cache path too long for the caller's buffer: %s", cached);
    copy_str(out_path, out_len, cached);
    return 0;
}
