/* mock_hub.h: a small threaded HTTP/1.1 server that plays the Hugging Face Hub
 * for tests, on 127.0.0.1 with ephemeral ports.
 *
 * Two listeners:
 *   hub      the endpoint: /api/{type}/{repo}/tree/{rev}[/{path}] (paginated with
 *            Link rel="next"), /[datasets/|spaces/]{repo}/resolve/{rev}/{path},
 *            /api/resolve-cache/{n} (the relative redirect target of small files);
 *   storage  the "CDN": /blob/{n}?sig={generation}&X-Amz-Signature=... that LFS
 *            files redirect to. A different port, hence a different origin.
 * Every request is logged (listener, method, target, Range, Authorization) and
 * connections are counted, so tests can check keep-alive, resume offsets and
 * that the token never reaches the storage host.
 *
 * Faults are scripted per request: the first rule whose listener and target
 * substring match (and whose count is not used up) applies to a request.
 *
 * check_hub.c #includes mock_hub.c so that the Makefile's one-source-per-test
 * rule builds it. */
#ifndef MOCK_HUB_H
#define MOCK_HUB_H

#include <stddef.h>

typedef struct mock_hub mock_hub_t;

enum { MOCK_HUB = 1, MOCK_STORAGE = 2, MOCK_ANY = 3 };

typedef enum {
    MOCK_DROP,          /* headers, `arg` body bytes, then a TCP reset */
    MOCK_TRUNCATE,      /* headers (full Content-Length), `arg` body bytes, then a clean close */
    MOCK_STALL,         /* headers, `arg` body bytes, then silence for arg2 ms, then close */
    MOCK_STATUS,        /* status `arg` (e.g. 503) with a JSON error; Retry-After: arg2 if arg2 >= 0 */
    MOCK_IGNORE_RANGE,  /* 200 with the whole body even when a Range was asked */
    MOCK_HANGUP,        /* close the connection without any reply */
    MOCK_GARBAGE,       /* 200 with the body "this is not JSON" */
} mock_fault_t;

typedef struct {
    int where;              /* MOCK_HUB or MOCK_STORAGE */
    char method[8];
    char target[1024];      /* as sent (percent-encoded, with the query) */
    int has_range;
    long long range_start, range_end;   /* range_end -1 for "a-" */
    char auth[512];         /* the Authorization header, "" if none */
    int status;             /* status sent (0: none, the connection was closed) */
} mock_req_t;

mock_hub_t *mock_hub_start(void);
void mock_hub_stop(mock_hub_t *m);
/* "http://127.0.0.1:PORT" of the hub listener (the endpoint). */
const char *mock_hub_endpoint(const mock_hub_t *m);
int mock_hub_storage_port(const mock_hub_t *m);

/* Adds (or replaces) a file. type: "datasets", "models" or "spaces"; lfs: the
 * resolve URL redirects to the storage listener (with X-Linked-Size), else the
 * hub serves the bytes itself. Data is copied. */
void mock_hub_add_file(mock_hub_t *m, const char *type, const char *repo, const char *revision,
                       const char *path, const void *data, size_t len, int lfs);
/* The commit sha a revision resolves to (X-Repo-Commit); changes on bump. */
const char *mock_hub_commit(mock_hub_t *m, const char *type, const char *repo, const char *revision);
void mock_hub_bump_commit(mock_hub_t *m, const char *type, const char *repo, const char *revision);

void mock_hub_set_page_size(mock_hub_t *m, int n);          /* tree entries per page (default 1000) */
void mock_hub_set_redirect_code(mock_hub_t *m, int code);   /* 302 (default) or 307 */
void mock_hub_set_relative_redirect(mock_hub_t *m, int on); /* small files via /api/resolve-cache */
/* Requests for `repo` need "Authorization: Bearer <token>", else 401. */
void mock_hub_require_token(mock_hub_t *m, const char *repo, const char *token);
/* Invalidates every storage URL handed out so far (they answer 403). */
void mock_hub_expire_signatures(mock_hub_t *m);

void mock_hub_add_fault(mock_hub_t *m, int where, const char *target_contains, mock_fault_t f,
                        long arg, long arg2, int times);
void mock_hub_clear_faults(mock_hub_t *m);

/* Counters since start (or the last reset). */
int mock_hub_connections(mock_hub_t *m, int where);
int mock_hub_requests(mock_hub_t *m, int where);
int mock_hub_auth_seen(mock_hub_t *m, int where);
int mock_hub_nlog(mock_hub_t *m);
mock_req_t mock_hub_log(mock_hub_t *m, int i);
/* Requests whose listener matches and whose target contains `s`. */
int mock_hub_count(mock_hub_t *m, int where, const char *method, const char *s);
void mock_hub_reset_stats(mock_hub_t *m);

#endif
