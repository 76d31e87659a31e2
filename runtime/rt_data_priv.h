/* rt_data_priv.h: what the rt_data*.c files share (not part of rt.h).
 *
 * The pipeline, front to back:
 *   source (rt_data_source.c)  the files of a split's data, each cut into
 *                              units: a parquet row group, or about 1 MiB
 *                              of whole documents of a txt/jsonl file;
 *   unit -> block (rt_data_unit.c)  a worker decodes one unit and tokenises
 *                              the documents of the split into a block;
 *   pipe (rt_data_pipe.c)      worker threads take units in stream order and
 *                              hand blocks back in that same order through a
 *                              bounded reorder window;
 *   rt_data.c                  the consumer: rows of T+1 tokens, epochs,
 *                              positions and saved states.
 * A document is identified by (file index, row in the file); it belongs to
 * the validation split when splitmix64(file << 40 | row) / 2^64 falls under
 * validation_fraction, so the split never depends on the seed, on threads or
 * on how files are cut into units. */
#ifndef RT_DATA_PRIV_H
#define RT_DATA_PRIV_H

#include <pthread.h>

#include "hub.h"
#include "parquet.h"
#include "rt.h"

enum { FMT_TXT = 0, FMT_JSONL = 1, FMT_PARQUET = 2 };

/* The longest error message a worker can hand to the consumer. */
#define DATA_ERR 1024

/* One unit of work. Rows are numbered within the file (parquet: over all
 * row groups; text: documents, i.e. non-blank lines or paragraphs). */
typedef struct {
    int rg;                 /* parquet row group; text: 0 */
    int64_t row0, nrows;    /* rows [row0, row0 + nrows) of the file */
    int64_t nsplit;         /* how many of them belong to this split */
    size_t off, len;        /* text: bytes [off, off + len) of the file */
    int64_t line0;          /* text: 1-based line number of the byte at off */
} unit_t;

typedef struct {
    char *name;             /* path, or the file's URL / repo path (messages, fingerprint) */
    char *url;              /* remote: where the bytes are (NULL for local files) */
    uint64_t size;          /* bytes, from stat or the listing */
    int fmt;                /* FMT_* */
    int opened;             /* the fields below are set (once, under source_t.mu) */
    unit_t *units;
    int n_units;
    int64_t nrows, nsplit;
    /* txt / jsonl: the whole file (mmap'd locally, downloaded for url) */
    char *buf;
    size_t len;
    int mapped;
    int paragraphs;         /* txt: documents are blank-line separated paragraphs */
    /* parquet */
    pq_file_t *pq;
    hub_source_t hsrc;      /* the read_at context of a remote parquet file */
    int col[3];             /* text column; alpaca: instruction, input (-1: none), output */
} src_file_t;

typedef struct {
    int split;              /* RT_SPLIT_* */
    double val_fraction;
    int alpaca;             /* prompt_template alpaca */
    char *text_column;
    const rt_tokenizer_t *tok;
    int32_t eos;
    size_t unit_bytes;      /* text units are cut after this many bytes */
    int kind;               /* SRC_* */
    char *desc;             /* the source in messages: a path, "a.txt (and 3 more files)", a dataset */
    src_file_t *files;
    int n_files;
    hub_t *hub;             /* hf / url */
    char *dataset, *config, *hf_split;
    char revision[96];      /* hf: the commit the listing was read at ("" when not pinned) */
    uint64_t fingerprint;   /* of the file list: a saved state must come from the same data */
    pthread_mutex_t mu;     /* serialises opening files (workers, dispenser, consumer) */
} source_t;

enum { SRC_LOCAL = 0, SRC_HF = 1, SRC_URL = 2 };

/* Opens the split's source: lists its files (opening none yet). revision:
 * hf only, NULL for the newest commit of main. 0, or -1 with the message
 * printed. */
int src_open(source_t *s, const rt_settings_t *st, const rt_tokenizer_t *tok, int split,
             const rt_data_options_t *opt, const char *revision);
void src_close(source_t *s);
/* Opens file f (footer or pre-scan, units, split counts) if not yet done.
 * Thread-safe. 0, or -1 with the message in err. */
int src_file_open(source_t *s, int f, char *err, size_t errlen);
/* Whether row `row` of file `file` is in this split. */
int src_in_split(const source_t *s, int file, int64_t row);
/* The sum of the total bytes of the source's files. */
uint64_t src_total_bytes(const source_t *s);
/* Text helpers shared by the scanner and the workers: a line of only ' ',
 * '\t', '\r' is blank; txt_next_doc finds the next txt document at or after
 * *pp (1, with *pp moved past it) or reaches the end (0). */
int text_is_blank(const char *p, const char *e);
int txt_next_doc(const char **pp, const char *end, int paragraphs, const char **doc, size_t *len);

/* The tokens of one unit's documents of the split, each followed by EOS. */
typedef struct block {
    int file, unit;
    int64_t epoch, idx;     /* where it stands in the stream (idx -1: not known) */
    int last;               /* the last block of its epoch */
    int32_t *tok;           /* (n) */
    size_t n, cap;
    int64_t ndocs;
    size_t *doc_off;        /* (ndocs + 1) first token of each document; [ndocs] = n */
    size_t *doc_resp;       /* (ndocs) first loss target of each document (= doc_off without template) */
    int64_t *doc_row;       /* (ndocs) the document's row in its file, increasing */
    size_t doc_cap;
    char *err;              /* the unit could not be read: why (then the rest is empty) */
} block_t;

/* Decodes and tokenises unit u of file f (opened) into a new block. Never
 * NULL: failures come back as a block with err set. */
block_t *unit_process(source_t *s, int f, int u);
block_t *block_error(int f, int u, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void block_free(block_t *b);

/* The worker pool. Blocks come out of pipe_take in stream order: units with
 * documents of the split, file by file, wrapping around into the next epoch;
 * the pool reads ahead at most `depth` blocks. */
typedef struct pipe pipe_t;
pipe_t *pipe_start(source_t *s, int threads, int depth);
/* Drops everything read ahead; the next block taken is the first unit with
 * documents at or after (f, u) (wrapping), labelled (epoch, idx). */
void pipe_restart(pipe_t *p, int f, int u, int64_t epoch, int64_t idx);
/* While on, nothing past the end of the current epoch is read ahead (what
 * a consumer keeping the whole epoch would only throw away). */
void pipe_one_epoch(pipe_t *p, int on);
/* The next block (blocking). Never NULL. */
block_t *pipe_take(pipe_t *p);
void pipe_stop(pipe_t *p);

/* Worker threads by default: $RT_DATA_THREADS, else min(4, cores - 1), >= 1. */
int data_default_threads(void);

#endif
