/* thrift_compact.c: see thrift_compact.h. Spec: apache/thrift
 * doc/specs/thrift-compact-protocol.md. */
#include "thrift_compact.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void tc_init(tc_reader_t *r, const uint8_t *buf, size_t len) {
    memset(r, 0, sizeof(*r));
    r->start = r->p = buf;
    r->end = buf + len;
}

size_t tc_pos(const tc_reader_t *r) { return (size_t)(r->p - r->start); }

void tc_fail(tc_reader_t *r, const char *fmt, ...) {
    if (r->err) return;
    r->err = 1;
    int n = snprintf(r->msg, sizeof(r->msg), "at byte %zu: ", tc_pos(r));
    if (n < 0 || (size_t)n >= sizeof(r->msg)) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg + n, sizeof(r->msg) - (size_t)n, fmt, ap);
    va_end(ap);
    r->p = r->end; /* nothing more gets read after an error */
}

static uint8_t byte(tc_reader_t *r) {
    if (r->err) return 0;
    if (r->p >= r->end) { tc_fail(r, "unexpected end of data"); return 0; }
    return *r->p++;
}

/* ULEB128 of at most `maxbytes` bytes (5 for 32-bit, 10 for 64-bit values). */
static uint64_t varint(tc_reader_t *r, int maxbytes) {
    uint64_t v = 0;
    for (int i = 0; i < maxbytes; i++) {
        uint8_t b = byte(r);
        if (r->err) return 0;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) return v;
    }
    tc_fail(r, "varint longer than %d bytes", maxbytes);
    return 0;
}

static int64_t unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

int32_t tc_i32(tc_reader_t *r) {
    uint64_t v = varint(r, 5);
    if (v > 0xffffffffu) { tc_fail(r, "i32 varint out of range"); return 0; }
    return (int32_t)unzigzag(v);
}

int64_t tc_i64(tc_reader_t *r) { return unzigzag(varint(r, 10)); }

int64_t tc_int(tc_reader_t *r, int type) {
    switch (type) {
    case TC_I8: return (int8_t)byte(r);
    case TC_I16: case TC_I32: return tc_i32(r);
    case TC_I64: return tc_i64(r);
    default: tc_fail(r, "expected an integer, got thrift type %d", type); return 0;
    }
}

int tc_read_bool(tc_reader_t *r, int type) {
    if (type == TC_TRUE) return 1;
    if (type == TC_FALSE) return 0;
    tc_fail(r, "expected a bool, got thrift type %d", type);
    return 0;
}

const uint8_t *tc_binary(tc_reader_t *r, uint32_t *len) {
    uint64_t n = varint(r, 5);
    *len = 0;
    if (r->err) return NULL;
    if (n > (uint64_t)(r->end - r->p)) {
        tc_fail(r, "string of %llu bytes runs past the end (%zu left)",
                (unsigned long long)n, (size_t)(r->end - r->p));
        return NULL;
    }
    const uint8_t *s = r->p;
    r->p += n;
    *len = (uint32_t)n;
    return s;
}

void tc_list(tc_reader_t *r, int *elem_type, uint32_t *count) {
    uint8_t h = byte(r);
    uint64_t n = h >> 4;
    *elem_type = h & 0x0f;
    *count = 0;
    if (n == 15) n = varint(r, 5);
    if (r->err) return;
    /* Every element takes at least one byte, so a count beyond the remaining
     * bytes is a lie; refusing it caps what callers allocate. */
    if (n > (uint64_t)(r->end - r->p)) {
        tc_fail(r, "list of %llu elements but only %zu bytes left",
                (unsigned long long)n, (size_t)(r->end - r->p));
        return;
    }
    if (n > 0 && (*elem_type == TC_STOP || *elem_type > TC_STRUCT)) {
        tc_fail(r, "list element type %d is not a thrift type", *elem_type);
        return;
    }
    *count = (uint32_t)n;
}

void tc_struct_begin(tc_reader_t *r, tc_struct_t *s) {
    s->last_id = 0;
    if (++r->depth > TC_MAX_DEPTH) tc_fail(r, "nesting deeper than %d", TC_MAX_DEPTH);
}

void tc_struct_end(tc_reader_t *r) { r->depth--; }

int tc_field(tc_reader_t *r, tc_struct_t *s, int *type, int *id) {
    uint8_t h = byte(r);
    if (r->err) return -1;
    if (h == 0) return 0;
    int delta = h >> 4;
    *type = h & 0x0f;
    if (*type == TC_STOP || *type > TC_STRUCT) {
        tc_fail(r, "field type %d is not a thrift type", *type);
        return -1;
    }
    if (delta) {
        *id = s->last_id + delta;
    } else {
        int32_t v = tc_i32(r);
        if (r->err) return -1;
        if (v < -32768 || v > 32767) { tc_fail(r, "field id %d out of range", (int)v); return -1; }
        *id = v;
    }
    s->last_id = (int16_t)*id;
    return 1;
}

void tc_skip(tc_reader_t *r, int type) {
    if (r->err) return;
    switch (type) {
    case TC_TRUE: case TC_FALSE: return; /* value lived in the field header */
    case TC_I8: byte(r); return;
    case TC_I16: case TC_I32: tc_i32(r); return;
    case TC_I64: tc_i64(r); return;
    case TC_DOUBLE:
        if (r->end - r->p < 8) { tc_fail(r, "double runs past the end"); return; }
        r->p += 8;
        return;
    case TC_BINARY: { uint32_t n; tc_binary(r, &n); return; }
    case TC_LIST: case TC_SET: {
        int et; uint32_t n;
        if (++r->depth > TC_MAX_DEPTH) { tc_fail(r, "nesting deeper than %d", TC_MAX_DEPTH); return; }
        tc_list(r, &et, &n);
        /* Bool elements are one byte each (not folded into a header). */
        int etype = (et == TC_TRUE || et == TC_FALSE) ? TC_I8 : et;
        for (uint32_t i = 0; i < n && !r->err; i++) tc_skip(r, etype);
        r->depth--;
        return;
    }
    case TC_MAP: {
        if (++r->depth > TC_MAX_DEPTH) { tc_fail(r, "nesting deeper than %d", TC_MAX_DEPTH); return; }
        uint64_t n = varint(r, 5);
        if (n > 0) {
            uint8_t kv = byte(r);
            int kt = kv >> 4, vt = kv & 0x0f;
            if (!r->err && (kt == 0 || kt > TC_STRUCT || vt == 0 || vt > TC_STRUCT)) {
                tc_fail(r, "map key/value types %d/%d are not thrift types", kt, vt);
            } else if (!r->err && n > (uint64_t)(r->end - r->p) / 2) {
                tc_fail(r, "map of %llu entries but only %zu bytes left",
                        (unsigned long long)n, (size_t)(r->end - r->p));
            }
            if (kt == TC_TRUE || kt == TC_FALSE) kt = TC_I8;
            if (vt == TC_TRUE || vt == TC_FALSE) vt = TC_I8;
            for (uint64_t i = 0; i < n && !r->err; i++) { tc_skip(r, kt); tc_skip(r, vt); }
        }
        r->depth--;
        return;
    }
    case TC_STRUCT: {
        tc_struct_t s;
        tc_struct_begin(r, &s);
        int t, id, rc;
        while ((rc = tc_field(r, &s, &t, &id)) == 1) tc_skip(r, t);
        tc_struct_end(r);
        return;
    }
    default: tc_fail(r, "cannot skip thrift type %d", type); return;
    }
}
