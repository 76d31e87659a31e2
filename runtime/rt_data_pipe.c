/* rt_data_pipe.c: worker threads that decode and tokenise units ahead of the
 * training loop, handing blocks back in stream order.
 *
 * Tasks are numbered (seq) in stream order as workers claim them; a worker
 * puts its block in slot[seq % depth] and the consumer takes slots strictly
 * by seq, so thread timing never changes the order. A worker claims a new
 * seq only while fewer than `depth` blocks are claimed and not yet taken,
 * which bounds the memory read ahead. A restart bumps `gen`: blocks of
 * tasks claimed before it are dropped when they finish.
 *
 * The dispenser (f, u) always points at the next unit that holds documents
 * of the split, opening files as it reaches them (under the lock: a file is
 * opened once per pass and a footer is small). Passing the last file wraps
 * to the first one and the next epoch; the block handed out just before a
 * wrap is marked `last`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_data_priv.h"

struct pipe {
    source_t *s;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t *th;
    int nth, depth;
    int stop, ready;
    uint64_t gen;
    int64_t next_seq, take_seq;
    block_t **slot;             /* (depth) finished blocks by seq % depth */
    int f, u;                   /* the dispenser: next unit handed out */
    int64_t epoch, idx;
    int one_epoch;              /* hand out nothing past the end of an epoch */
    int at_end;                 /* the dispenser has wrapped since the last restart */
    char fail[DATA_ERR];        /* set when the dispenser cannot go on */
};

int data_default_threads(void) {
    const char *e = getenv("RT_DATA_THREADS");
    if (e && *e) {
        char *end;
        long n = strtol(e, &end, 10);
        if (*end == '\0' && n >= 1 && n <= 256) return (int)n;
        fprintf(stderr, "warning: RT_DATA_THREADS=%s is not a number in 1..256; ignored\n", e);
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n = cores > 1 ? (int)cores - 1 : 1;
    return n < 4 ? n : 4;
}

/* Moves the dispenser to the first unit with documents at or after (f, u),
 * wrapping into the next epoch; returns whether it wrapped. On failure
 * p->fail holds the message. Called with the lock held. */
static int seek_valid(pipe_t *p) {
    source_t *s = p->s;
    int wraps = 0;
    while (!p->fail[0]) {
        if (p->f >= s->n_files) {
            if (wraps++) {
                snprintf(p->fail, sizeof p->fail, "%s holds no documents of the %s split", s->desc,
                         s->split == RT_SPLIT_VAL ? "validation" : "training");
                break;
            }
            p->f = 0;
            p->u = 0;
            p->epoch++;
            p->idx = 0;
        }
        if (src_file_open(s, p->f, p->fail, sizeof p->fail) != 0) break;
        const src_file_t *file = &s->files[p->f];
        while (p->u < file->n_units && file->units[p->u].nsplit == 0) p->u++;
        if (p->u < file->n_units) break;
        p->f++;
        p->u = 0;
    }
    return wraps > 0;
}

static void *worker(void *arg) {
    pipe_t *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && (!p->ready || p->next_seq - p->take_seq >= p->depth ||
                            (p->one_epoch && p->at_end)))
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop) break;
        int64_t seq = p->next_seq++;
        uint64_t gen = p->gen;
        block_t *b;
        if (p->fail[0]) {
            b = block_error(p->f, p->u, "%s", p->fail);
        } else {
            int f = p->f, u = p->u, last;
            int64_t epoch = p->epoch, idx = p->idx;
            p->u++;
            if (p->idx >= 0) p->idx++;
            last = seek_valid(p);
            if (last) p->at_end = 1;
            pthread_mutex_unlock(&p->mu);
            b = unit_process(p->s, f, u);
            b->epoch = epoch;
            b->idx = idx;
            b->last = last;
            pthread_mutex_lock(&p->mu);
        }
        if (gen == p->gen) {
            p->slot[seq % p->depth] = b;
            pthread_cond_broadcast(&p->done);
        } else {
            block_free(b);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

pipe_t *pipe_start(source_t *s, int threads, int depth) {
    pipe_t *p = rt_calloc(1, sizeof *p);
    p->s = s;
    p->nth = threads < 1 ? 1 : threads;
    p->depth = depth < 2 ? 2 : depth;
    p->slot = rt_calloc((size_t)p->depth, sizeof *p->slot);
    p->th = rt_calloc((size_t)p->nth, sizeof *p->th);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 0; i < p->nth; i++)
        if (pthread_create(&p->th[i], NULL, worker, p) != 0)
            rt_die("cannot start data worker thread %d of %d", i + 1, p->nth);
    return p;
}

void pipe_restart(pipe_t *p, int f, int u, int64_t epoch, int64_t idx) {
    pthread_mutex_lock(&p->mu);
    p->gen++;
    for (int i = 0; i < p->depth; i++) {
        block_free(p->slot[i]);
        p->slot[i] = NULL;
    }
    p->next_seq = p->take_seq = 0;
    p->f = f;
    p->u = u;
    p->epoch = epoch;
    p->idx = idx;
    p->fail[0] = '\0';
    p->at_end = 0;
    seek_valid(p);
    p->ready = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
}

void pipe_one_epoch(pipe_t *p, int on) {
    pthread_mutex_lock(&p->mu);
    p->one_epoch = on;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
}

block_t *pipe_take(pipe_t *p) {
    pthread_mutex_lock(&p->mu);
    block_t **s;
    while (!*(s = &p->slot[p->take_seq % p->depth])) pthread_cond_wait(&p->done, &p->mu);
    block_t *b = *s;
    *s = NULL;
    p->take_seq++;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    return b;
}

void pipe_stop(pipe_t *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nth; i++) pthread_join(p->th[i], NULL);
    for (int i = 0; i < p->depth; i++) block_free(p->slot[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    free(p->slot);
    free(p->th);
    free(p);
}
