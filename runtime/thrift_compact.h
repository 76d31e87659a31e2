/* thrift_compact.h: a bounds-checked reader for the Thrift compact protocol,
 * enough to decode Parquet's footer and page headers.
 *
 * Every read checks the remaining bytes; the first failure sets `err` (with
 * a message) and every later read returns zero values, so callers may read
 * a whole struct and test `err` once at the end. Unknown fields are skipped
 * generically (all types, nested containers), with nesting bounded by
 * TC_MAX_DEPTH so a hostile input cannot exhaust the stack. */
#ifndef THRIFT_COMPACT_H
#define THRIFT_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#define TC_MAX_DEPTH 64

/* Compact protocol type ids (field headers, collection element types). */
enum {
    TC_STOP = 0, TC_TRUE = 1, TC_FALSE = 2, TC_I8 = 3, TC_I16 = 4, TC_I32 = 5,
    TC_I64 = 6, TC_DOUBLE = 7, TC_BINARY = 8, TC_LIST = 9, TC_SET = 10,
    TC_MAP = 11, TC_STRUCT = 12
};

typedef struct {
    const uint8_t *start, *p, *end;
    int err;          /* nonzero after the first error */
    int depth;        /* struct/container nesting, for the bound */
    char msg[160];    /* "at byte N: problem" */
} tc_reader_t;

/* A struct being read: the last field id, for delta-encoded headers. */
typedef struct { int16_t last_id; } tc_struct_t;

void tc_init(tc_reader_t *r, const uint8_t *buf, size_t len);
/* Bytes consumed so far. */
size_t tc_pos(const tc_reader_t *r);

/* Enters a struct (checks the depth bound); pair with tc_struct_end. */
void tc_struct_begin(tc_reader_t *r, tc_struct_t *s);
void tc_struct_end(tc_reader_t *r);
/* Next field header: 1 with *type and *id set, 0 at STOP, -1 on error. A
 * boolean field's value is its type (TC_TRUE/TC_FALSE): read it with
 * tc_read_bool(type). */
int tc_field(tc_reader_t *r, tc_struct_t *s, int *type, int *id);

int32_t tc_i32(tc_reader_t *r);
int64_t tc_i64(tc_reader_t *r);
/* A field typed i8/i16/i32/i64 read as i64 (writers disagree on widths);
 * errors on any other type. */
int64_t tc_int(tc_reader_t *r, int type);
int tc_read_bool(tc_reader_t *r, int type);
/* Binary/string: a pointer into the buffer (not NUL-terminated). */
const uint8_t *tc_binary(tc_reader_t *r, uint32_t *len);
/* List/set header: element type and count (count <= remaining bytes). */
void tc_list(tc_reader_t *r, int *elem_type, uint32_t *count);
/* Skips one value of the given type, containers and structs included. */
void tc_skip(tc_reader_t *r, int type);
/* Marks an error (if none yet) with a printf-style message. */
void tc_fail(tc_reader_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
