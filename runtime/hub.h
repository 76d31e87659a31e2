/* hub.h: a small Hugging Face Hub client over libcurl, for streaming datasets.
 *
 * What it does:
 *   - lists a repo's files with the tree API (GET {endpoint}/api/{type}/{repo}/tree/
 *     {revision}/{path}?recursive=true), following `Link: <url>; rel="next"` pages;
 *   - maps a dataset config + split to its parquet files (rules below);
 *   - reads byte ranges and streams files through resolve URLs
 *     ({endpoint}/[datasets/|spaces/]{repo}/resolve/{revision}/{path}), following
 *     the redirect to the storage host (CDN) by hand;
 *   - downloads small files (tokenizer.json, README.md) into the local HF cache.
 *
 * Network behaviour:
 *   - one CURL easy handle per (hub, thread), reused, so connections stay alive;
 *   - the token goes as `Authorization: Bearer ...` only to the endpoint's own
 *     origin (scheme, host and port). Redirects are followed by hand and the
 *     header is not sent to any other origin (CURLOPT_UNRESTRICTED_AUTH off).
 *     The token never appears in error messages or verbose output.
 *   - the storage URL a resolve URL redirects to is remembered for 30 minutes
 *     (signed URLs last about an hour), so range reads do not each spend a
 *     request of the Hub's "resolvers" rate limit. A 401/403/404/410 from a
 *     remembered storage URL makes the client resolve again, once;
 *   - retries with exponential backoff and jitter (base * 2^k, capped at
 *     backoff_max_ms, times a random factor in [0.5, 1]) on connection errors,
 *     timeouts, stalls (no byte at all for stall_s seconds), HTTP 408, 429
 *     and 5xx. 429 waits for Retry-After (seconds or an HTTP date) or, failing
 *     that, the `t=` of the RateLimit header, capped at retry_after_max_ms
 *     (a 503 with Retry-After is honoured the same way). Other 4xx (404,
 *     401, ...) fail at once, without retries;
 *   - a broken body is resumed with `Range: bytes={next byte}-`: callers get the
 *     file's bytes exactly once. A retry that made progress resumes at once
 *     and gives the request its whole retry budget again. A server that ignores Range (200 instead of 206)
 *     is handled by skipping to the wanted offset in the full body;
 *   - plain http:// is refused unless the endpoint itself is http:// (mirrors,
 *     tests on 127.0.0.1).
 *
 * Environment (hub_config_from_env), as huggingface_hub reads it:
 *   HF_ENDPOINT   endpoint (default https://huggingface.co; trailing '/' dropped)
 *   HF_TOKEN      token; else HUGGING_FACE_HUB_TOKEN; else the first line of the
 *                 file $HF_TOKEN_PATH (default $HF_HOME/token); else none
 *   HF_HOME       default $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface
 *   HF_HUB_CACHE  small-file cache (default $HF_HOME/hub); the legacy
 *                 HUGGINGFACE_HUB_CACHE is read when HF_HUB_CACHE is unset
 *   HF_HUB_OFFLINE=1  no network: only files already in the cache can be fetched
 *   HF_HUB_VERBOSITY=debug|info  one line per request (and per retry) on stderr
 *
 * Errors: every function that returns int returns 0 on success and -1 on error.
 * The message ("hub: ..." naming the URL without its query string, and the
 * HTTP status when there is one) is printed to stderr as "error: <message>"
 * unless cfg.quiet, and is kept for the calling thread (hub_last_error).
 *
 * Thread safety: one hub_t may be used from several threads at once; each
 * thread gets its own CURL handle. hub_close must not race with other calls. */
#ifndef HUB_H
#define HUB_H

#include <stddef.h>
#include <stdint.h>

#define HUB_STR 1024

typedef struct {
    char endpoint[HUB_STR];   /* "https://huggingface.co" (no trailing '/') */
    char token[HUB_STR];      /* "" for none */
    char hf_home[HUB_STR];    /* HF_HOME */
    char cache_dir[HUB_STR];  /* HF_HUB_CACHE: where hub_fetch_small_file stores */
    char user_agent[256];
    int max_retries;          /* retries after the first attempt (default 5) */
    int backoff_base_ms;      /* first backoff (default 1000) */
    int backoff_max_ms;       /* backoff cap (default 8000) */
    int retry_after_max_ms;   /* cap on an honoured Retry-After (default 300000); below the
                                 cap the wait is at least the header's value */
    int timeout_s;            /* connect timeout (default 30) */
    int stall_s;              /* abort+retry a transfer that receives nothing this long (default 30) */
    int max_small_file;       /* largest file hub_fetch_small_file takes (default 512 MiB) */
    int offline;              /* HF_HUB_OFFLINE */
    int verbose;              /* one line per request on stderr (token-free) */
    int quiet;                /* do not print errors to stderr (hub_last_error still has them) */
} hub_config_t;

/* Fills defaults (no environment): endpoint https://huggingface.co, no token,
 * HF_HOME ~/.cache/huggingface, retries/backoff/timeouts as listed above. */
void hub_config_defaults(hub_config_t *cfg);
/* hub_config_defaults, then the environment variables listed above.
 * Returns 0, or -1 with a message in err (e.g. an unreadable token file). */
int hub_config_from_env(hub_config_t *cfg, char *err, size_t errlen);

typedef struct hub hub_t;

/* Checks the config (endpoint must be http:// or https://) and initialises
 * libcurl. NULL and a message in err on failure. */
hub_t *hub_open(const hub_config_t *cfg, char *err, size_t errlen);
void hub_close(hub_t *h);
/* The last error message of the calling thread ("" if none). */
const char *hub_last_error(void);

/* One file of a repo, from the tree API. */
typedef struct {
    char *path;        /* path in the repo, e.g. "sample/10BT/000_00000.parquet" */
    uint64_t size;     /* bytes (the LFS size for LFS files) */
    char *oid;         /* git blob sha1 ("" if absent) */
    char *lfs_sha256;  /* sha256 of LFS content, or NULL for files stored in git */
    char *url;         /* resolve URL at the listed revision */
} hub_file_t;
void hub_files_free(hub_file_t *files, int n);

/* repo_type: "datasets", "models" or "spaces" (singular accepted).
 * repo: "owner/name" (or "name"); revision: branch, tag, commit or
 * "refs/convert/parquet" (NULL: "main"). path: a path in the repo (not
 * starting with '/', no "." or ".." parts). */

/* malloc'd resolve URL: {endpoint}[/datasets|/spaces]/{repo}/resolve/{rev}/{path},
 * revision percent-encoded with no safe characters (refs%2Fconvert%2Fparquet),
 * path percent-encoded except '/'. NULL (+ error) on a bad argument. */
char *hub_resolve_url(hub_t *h, const char *repo_type, const char *repo, const char *revision,
                      const char *path);

/* All files (not directories) under `prefix` ("" or NULL: the whole repo),
 * recursively, sorted by path (strcmp), with every page of the listing
 * followed. A missing prefix is an error naming it (HTTP 404). */
int hub_list_files(hub_t *h, const char *repo_type, const char *repo, const char *revision,
                   const char *prefix, hub_file_t **files, int *n);

/* The parquet files of a dataset's config and split, sorted by path. The rule,
 * following the `datasets` library's conventions (first one that applies):
 *
 *  1. revision "refs/convert/parquet" (the Hub's auto-conversion branch): the
 *     files under "{config}/{split}/", else "{config}/partial-{split}/"
 *     (a partial conversion), config "default" included as such.
 *  2. the dataset card (README.md at `revision`) has a YAML front matter with
 *     `configs:`: the entry whose config_name is `config` gives data_files,
 *     either a pattern or a list of patterns (that is split "train") or a list
 *     of {split, path} with path a pattern or a list of patterns. Patterns are
 *     relative to the repo root; '*' and '?' do not cross '/', '**' does
 *     (e.g. FineWeb "sample-10BT" has the pattern sample/10BT/<star>). The
 *     matching .parquet
 *     files are returned. A config that is not listed, or a split it does not
 *     have, is an error naming the configs / splits that exist.
 *  3. no `configs:` in the card (or no card): config "default" (or NULL / "")
 *     is the parquet files under "data/" (else the whole repo) whose path
 *     names the split (any other config goes straight to rule 4): the file name starts with
 *     "{split}-", "{split}_" or "{split}." or a directory is called {split}
 *     (aliases: train: training; validation: valid, val, dev; test: testing,
 *     eval). When no file names any split, every file is "train"
 *     (e.g. tatsu-lab/alpaca: data/train-00000-of-00001-*.parquet).
 *  4. when 2 or 3 found data files but none of them parquet (JSON, CSV ...
 *     datasets), or none at all, rule 1 is applied on "refs/convert/parquet".
 * Fails with a message naming the dataset, config, split and where it looked. */
int hub_list_parquet(hub_t *h, const char *repo, const char *revision, const char *config,
                     const char *split, hub_file_t **files, int *n);

/* Size in bytes of the file at `url` (a resolve URL or any URL): HEAD,
 * redirects followed; X-Linked-Size from the Hub when given, else the final
 * Content-Length. */
int hub_file_size(hub_t *h, const char *url, uint64_t *size);

/* Reads exactly len bytes at offset off into dst (Range request; resumed and
 * retried as described above). Reading past the end of the file is an error.
 * Fits the parquet reader's read_at(ctx, off, dst, len) with ctx = hub and a
 * URL: see hub_read_at. */
int hub_read_range(hub_t *h, const char *url, uint64_t off, void *dst, size_t len);

/* read_at adapter: ctx points at a hub_source_t. */
typedef struct {
    hub_t *hub;
    const char *url;
} hub_source_t;
int hub_read_at(void *ctx, uint64_t off, void *dst, size_t len);

/* Streams the file from byte `off` to its end into sink(ctx, buf, n), in
 * order, every byte once, whatever the retries. The sink returns 0 to go on,
 * > 0 to stop early (hub_stream then returns 0), < 0 to abort (hub_stream
 * returns -1). off == file size is an empty stream. */
int hub_stream(hub_t *h, const char *url, uint64_t off,
               int (*sink)(void *ctx, const void *buf, size_t n), void *ctx);

/* GETs a URL's whole body into memory (malloc'd, NUL-terminated; *len
 * excludes the NUL). For small things (JSON, README); max_bytes caps it. */
int hub_get(hub_t *h, const char *url, size_t max_bytes, char **body, size_t *len);

/* Downloads a small file into the cache, huggingface_hub's layout:
 *   {cache_dir}/{type}s--{owner}--{name}/snapshots/{commit}/{path}
 *   {cache_dir}/{type}s--{owner}--{name}/refs/{revision}   (holds {commit})
 * {commit} is the X-Repo-Commit the Hub returns (the revision itself when the
 * server sends none). Writes are atomic (temp file, fsync, rename). A cached
 * copy is used without download when its commit still matches (one HEAD
 * request), when the revision is a 40-hex commit, when offline, or (with a
 * warning) when the Hub cannot be reached. The cached file's path is written
 * to out_path. */
int hub_fetch_small_file(hub_t *h, const char *repo_type, const char *repo, const char *revision,
                         const char *path, char *out_path, size_t out_len);

/* Counters for tests and logs (all threads of this hub). */
typedef struct {
    uint64_t requests;       /* HTTP requests sent (every attempt and redirect hop) */
    uint64_t retries;        /* attempts that were retried */
    uint64_t resumes;        /* retries that resumed from a byte > the first asked */
    uint64_t redirects;      /* redirect hops followed */
    uint64_t bytes;          /* body bytes delivered to callers */
    uint64_t waited_ms;      /* time slept before retries */
} hub_stats_t;
void hub_get_stats(hub_t *h, hub_stats_t *st);

#endif
