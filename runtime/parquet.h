/* parquet.h: a small reader for the string (BYTE_ARRAY) columns of Parquet
 * files, for streaming training text.
 *
 * Scope: flat top-level columns (REQUIRED or OPTIONAL) of physical type
 * BYTE_ARRAY; data pages v1 and v2, dictionary pages, PLAIN and
 * PLAIN_DICTIONARY/RLE_DICTIONARY encodings; codecs UNCOMPRESSED, SNAPPY,
 * GZIP and ZSTD. Anything else (another encoding or codec, a nested or
 * non-BYTE_ARRAY column, an encrypted footer) is a clear error, never a guess.
 *
 * Bytes come through a read_at callback so the same code reads local files,
 * memory, or HTTP Range requests. Opening reads the last 64 KiB (which
 * usually holds the whole footer), the 4-byte leading magic, and the footer
 * only when it did not fit; each column chunk is then exactly one read.
 * After opening, a pq_file_t is only read, so readers of different columns
 * or row groups may run on different threads (read_at permitting).
 *
 * Nothing read from the file is trusted: every offset and length is checked
 * against its buffer, and allocations are capped (PQ_MAX_*). Error messages
 * look like "FILE: row group 2, column 'text': page at chunk offset 123:
 * snappy: corrupt data". */
#ifndef PARQUET_H
#define PARQUET_H

#include <stddef.h>
#include <stdint.h>

/* Caps on sizes claimed by a file (real files are far below them). */
#define PQ_MAX_FOOTER_BYTES (256u << 20) /* FileMetaData */
#define PQ_MAX_CHUNK_BYTES (1u << 30)    /* one column chunk, compressed */
#define PQ_MAX_PAGE_BYTES (256u << 20)   /* one page, uncompressed */

typedef struct pq_file pq_file_t;
typedef struct pq_column_reader pq_column_reader_t;

/* Reads exactly `len` bytes at `off` into `dst`: 0 on success, -1 on failure
 * (the callback may write a reason to stderr; the reader adds the file name
 * and what it was reading). */
typedef int (*pq_read_at_fn)(void *ctx, uint64_t off, void *dst, size_t len);

/* Opening parses the footer. On failure they return NULL and write a message
 * naming the file into err (errlen bytes, may be 0). `name` is used in
 * messages only and is copied. */
pq_file_t *pq_open_file(const char *path, char *err, size_t errlen);
/* `buf` is not copied: it must outlive the file and every column reader. */
pq_file_t *pq_open_mem(const uint8_t *buf, size_t len, const char *name,
                       char *err, size_t errlen);
/* `ctx` must outlive the file; read_at may be called from pq_column_open. */
pq_file_t *pq_open_reader(pq_read_at_fn read_at, void *ctx, uint64_t file_size,
                          const char *name, char *err, size_t errlen);
void pq_close(pq_file_t *f);

const char *pq_name(const pq_file_t *f);
int64_t pq_num_rows(const pq_file_t *f);
int pq_num_row_groups(const pq_file_t *f);
/* -1 when rg is out of range. */
int64_t pq_row_group_num_rows(const pq_file_t *f, int rg);

/* Leaf columns, in the order of each row group's column chunks. */
int pq_num_columns(const pq_file_t *f);
/* The dotted path of leaf `col` ("text", "meta.a"); NULL when out of range. */
const char *pq_column_name(const pq_file_t *f, int col);
/* The leaf index of the top-level, non-nested column `name`, or -1. */
int pq_find_column(const pq_file_t *f, const char *name);

/* Iterates the values of one column chunk, one per row. The chunk's bytes
 * are read in one call to read_at. NULL (message in err) when the column is
 * not a flat BYTE_ARRAY column or the chunk is out of bounds. */
pq_column_reader_t *pq_column_open(pq_file_t *f, int rg, int col, char *err, size_t errlen);
/* 1: a value (*val and *len valid until the next call; *is_null set, and then
 * *val is NULL and *len 0), 0: end of the chunk, -1: error (see
 * pq_column_error; every later call returns -1 too). */
int pq_column_next(pq_column_reader_t *r, const uint8_t **val, size_t *len, int *is_null);
const char *pq_column_error(const pq_column_reader_t *r);
void pq_column_close(pq_column_reader_t *r);

#endif
