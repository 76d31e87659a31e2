/* rt_safetensors.c: the safetensors file format.
 *
 *   [u64 little-endian N][N bytes of JSON header][data buffer]
 *   header: {"__metadata__": {str: str}, NAME: {"dtype": "F32", "shape": [..],
 *            "data_offsets": [begin, end]}, ...}, offsets relative to the buffer.
 *
 * Files are opened with mmap so multi-GB checkpoints cost no copy, and every
 * header field is checked before any tensor is read: a file written by
 * someone else (or cut short by a crash) is an error naming the file and the
 * tensor, never an out-of-bounds read. */
#include "rt.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rt_safetensors.c assumes a little-endian host (safetensors data is little-endian)"
#endif

#define MAX_HEADER (100u << 20)  /* the reference implementation's limit too */

static const struct {
    const char *name;
    int size;
} DTYPES[] = {
    {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F64", 8}, {"I32", 4}, {"I64", 8},
    {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2},
    {"U16", 2}, {"U32", 4}, {"U64", 8},
};
#define N_DTYPES ((int)(sizeof(DTYPES) / sizeof(DTYPES[0])))

typedef struct {
    char *name;
    int dtype;              /* index into DTYPES */
    int ndim;
    int64_t shape[8];
    int64_t numel;
    uint64_t begin, end;    /* byte range in the data buffer */
} entry_t;

struct rt_safetensors {
    char *path;
    unsigned char *map;
    size_t size;
    const unsigned char *data;  /* the buffer after the header */
    uint64_t data_len;
    entry_t *t;
    int n;
    char **meta_k, **meta_v;
    int n_meta;
};

/* ---- save ---- */
int rt_safetensors_save(const char *path, const rt_tensor_t *tensors, int n,
                        const char *const *meta_keys, const char *const *meta_values, int n_meta) {
    json_t *root = json_object();
    if (n_meta > 0) {
        json_t *meta = json_object();
        for (int i = 0; i < n_meta; i++) {
            if (!meta_keys[i] || !meta_values[i] ||
                json_object_set_new(meta, meta_keys[i], json_string(meta_values[i])) != 0) {
                json_decref(meta);
                json_decref(root);
                return rt_err("%s: metadata entry %d is missing or not valid UTF-8", path, i);
            }
        }
        json_object_set_new(root, "__metadata__", meta);
    }
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const rt_tensor_t *t = &tensors[i];
        const char *name = t->name ? t->name : "(null)";
        if (!t->name || !*t->name || !strcmp(t->name, "__metadata__")) {
            json_decref(root);
            return rt_err("%s: tensor %d has a bad name '%s'", path, i, name);
        }
        if (json_object_get(root, t->name)) {
            json_decref(root);
            return rt_err("%s: tensor '%s' appears twice", path, name);
        }
        if (t->ndim < 0 || t->ndim > 4) {
            json_decref(root);
            return rt_err("%s: tensor '%s' has %d dimensions (0..4 supported)", path, name,
                          t->ndim);
        }
        json_t *shape = json_array();
        int64_t numel = 1;
        for (int k = 0; k < t->ndim; k++) {
            if (t->shape[k] < 0) {
                json_decref(shape);
                json_decref(root);
                return rt_err("%s: tensor '%s' has a negative dimension", path, name);
            }
            numel *= t->shape[k];
            json_array_append_new(shape, json_integer(t->shape[k]));
        }
        if (numel > 0 && !t->data) {
            json_decref(shape);
            json_decref(root);
            return rt_err("%s: tensor '%s' has no data", path, name);
        }
        uint64_t bytes = (uint64_t)numel * 4;
        json_t *e = json_pack("{s:s, s:o, s:[I,I]}", "dtype", "F32", "shape", shape,
                              "data_offsets", (json_int_t)offset, (json_int_t)(offset + bytes));
        if (!e || json_object_set_new(root, t->name, e) != 0) {
            json_decref(root);
            return rt_err("%s: tensor name '%s' is not valid UTF-8", path, name);
        }
        offset += bytes;
    }
    char *js = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!js) return rt_err("%s: cannot serialise the header", path);
    /* Pad with spaces so the data buffer starts 8-byte aligned. */
    size_t jlen = strlen(js), hlen = (jlen + 7) / 8 * 8;
    char *header = rt_malloc(8 + hlen);
    uint64_t h64 = hlen;
    memcpy(header, &h64, 8);
    memcpy(header + 8, js, jlen);
    memset(header + 8 + jlen, ' ', hlen - jlen);
    free(js);

    const void **parts = rt_malloc(sizeof(void *) * (size_t)(n + 1));
    size_t *lens = rt_malloc(sizeof(size_t) * (size_t)(n + 1));
    parts[0] = header;
    lens[0] = 8 + hlen;
    for (int i = 0; i < n; i++) {
        int64_t numel = 1;
        for (int k = 0; k < tensors[i].ndim; k++) numel *= tensors[i].shape[k];
        parts[i + 1] = tensors[i].data;
        lens[i + 1] = (size_t)numel * sizeof(float);
    }
    int rc = rt_write_file_atomic_parts(path, parts, lens, n + 1);
    free(parts);
    free(lens);
    free(header);
    return rc;
}

/* ---- open ---- */
static int dtype_index(const char *s) {
    for (int i = 0; i < N_DTYPES; i++)
        if (!strcmp(DTYPES[i].name, s)) return i;
    return -1;
}

static int cmp_begin(const void *a, const void *b) {
    const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

/* Parses one tensor entry; 0 or -1 with a message naming file and tensor. */
static int parse_entry(rt_safetensors_t *f, const char *name, json_t *v, entry_t *e) {
    const char *p = f->path;
    if (!json_is_object(v)) return rt_err("%s: tensor '%s': entry is not a JSON object", p, name);
    json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
           *off = json_object_get(v, "data_offsets");
    if (!json_is_string(dt)) return rt_err("%s: tensor '%s': no \"dtype\" string", p, name);
    e->dtype = dtype_index(json_string_value(dt));
    if (e->dtype < 0)
        return rt_err("%s: tensor '%s': unknown dtype '%s'", p, name, json_string_value(dt));
    if (!json_is_array(sh)) return rt_err("%s: tensor '%s': no \"shape\" array", p, name);
    if (json_array_size(sh) > 8)
        return rt_err("%s: tensor '%s': %zu dimensions (at most 8 supported)", p, name,
                      json_array_size(sh));
    e->ndim = (int)json_array_size(sh);
    /* numel is capped well above any real buffer so the product cannot overflow. */
    uint64_t numel = 1;
    int huge = 0;
    for (int k = 0; k < e->ndim; k++) {
        json_t *d = json_array_get(sh, (size_t)k);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return rt_err("%s: tensor '%s': shape[%d] is not a non-negative integer", p, name, k);
        uint64_t dim = (uint64_t)json_integer_value(d);
        e->shape[k] = (int64_t)dim;
        if (dim && numel > ((uint64_t)1 << 62) / dim) huge = 1;
        else numel *= dim;
    }
    if (huge) {
        char dims[200];
        size_t u = 0;
        for (int k = 0; k < e->ndim && u < sizeof dims; k++)
            u += (size_t)snprintf(dims + u, sizeof dims - u, "%s%lld", k ? ", " : "",
                                  (long long)e->shape[k]);
        return rt_err("%s: tensor '%s': shape [%s] has too many elements", p, name, dims);
    }
    if (!json_is_array(off) || json_array_size(off) != 2 ||
        !json_is_integer(json_array_get(off, 0)) || !json_is_integer(json_array_get(off, 1)))
        return rt_err("%s: tensor '%s': \"data_offsets\" must be [begin, end]", p, name);
    json_int_t b = json_integer_value(json_array_get(off, 0)),
               en = json_integer_value(json_array_get(off, 1));
    if (b < 0 || en < b)
        return rt_err("%s: tensor '%s': bad data_offsets [%lld, %lld]", p, name, (long long)b,
                      (long long)en);
    if ((uint64_t)en > f->data_len)
        return rt_err("%s: tensor '%s': data_offsets [%lld, %lld] run past the data buffer "
                      "(%llu bytes; file truncated?)", p, name, (long long)b, (long long)en,
                      (unsigned long long)f->data_len);
    uint64_t want = numel * (uint64_t)DTYPES[e->dtype].size;
    if ((uint64_t)(en - b) != want)
        return rt_err("%s: tensor '%s': %lld bytes of data but shape x %s needs %llu", p, name,
                      (long long)(en - b), DTYPES[e->dtype].name, (unsigned long long)want);
    e->numel = (int64_t)numel;
    e->begin = (uint64_t)b;
    e->end = (uint64_t)en;
    e->name = strdup(name);
    if (!e->name) rt_die("out of memory");
    return 0;
}

static rt_safetensors_t *fail(rt_safetensors_t *f, json_t *root) {
    json_decref(root);
    rt_safetensors_close(f);
    return NULL;
}

rt_safetensors_t *rt_safetensors_open(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rt_err("%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rt_err("%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    rt_safetensors_t *f = rt_calloc(1, sizeof *f);
    f->path = strdup(path);
    f->size = (size_t)st.st_size;
    if (f->size < 8) {
        rt_err("%s: %zu bytes is too short for a safetensors file (truncated?)", path, f->size);
        close(fd);
        return fail(f, NULL);
    }
    void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        rt_err("%s: mmap failed: %s", path, strerror(errno));
        return fail(f, NULL);
    }
    f->map = m;
    uint64_t hlen;
    memcpy(&hlen, f->map, 8);
    if (hlen == 0 || hlen > f->size - 8 || hlen > MAX_HEADER) {
        rt_err("%s: header length %llu is impossible for a file of %zu bytes (not a safetensors "
               "file, or truncated)", path, (unsigned long long)hlen, f->size);
        return fail(f, NULL);
    }
    f->data = f->map + 8 + hlen;
    f->data_len = f->size - 8 - hlen;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)f->map + 8, hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rt_err("%s: header is not valid JSON: %s (header byte %d)", path, jerr.text, jerr.position);
        return fail(f, NULL);
    }
    if (!json_is_object(root)) {
        rt_err("%s: header is not a JSON object", path);
        return fail(f, root);
    }
    size_t count = json_object_size(root);
    f->t = rt_calloc(count ? count : 1, sizeof(entry_t));
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "__metadata__")) {
            if (!json_is_object(v)) {
                rt_err("%s: __metadata__ is not a JSON object", path);
                return fail(f, root);
            }
            size_t nm = json_object_size(v);
            f->meta_k = rt_calloc(nm ? nm : 1, sizeof(char *));
            f->meta_v = rt_calloc(nm ? nm : 1, sizeof(char *));
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv) {
                if (!json_is_string(mv)) {
                    rt_err("%s: __metadata__ value of '%s' is not a string", path, mk);
                    return fail(f, root);
                }
                f->meta_k[f->n_meta] = strdup(mk);
                f->meta_v[f->n_meta] = strdup(json_string_value(mv));
                f->n_meta++;
            }
            continue;
        }
        if (parse_entry(f, key, v, &f->t[f->n]) != 0) return fail(f, root);
        f->n++;
    }
    json_decref(root);
    /* Tensors must not share bytes: sort by start and compare neighbours. */
    entry_t **by = rt_malloc(sizeof(entry_t *) * (size_t)(f->n ? f->n : 1));
    int m2 = 0;
    for (int i = 0; i < f->n; i++)
        if (f->t[i].end > f->t[i].begin) by[m2++] = &f->t[i];
    qsort(by, (size_t)m2, sizeof *by, cmp_begin);
    for (int i = 1; i < m2; i++) {
        if (by[i]->begin < by[i - 1]->end) {
            rt_err("%s: tensors '%s' and '%s' overlap in the data buffer", path, by[i - 1]->name,
                   by[i]->name);
            free(by);
            return fail(f, NULL);
        }
    }
    free(by);
    return f;
}

void rt_safetensors_close(rt_safetensors_t *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->size);
    for (int i = 0; i < f->n; i++) free(f->t[i].name);
    free(f->t);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_k[i]);
        free(f->meta_v[i]);
    }
    free(f->meta_k);
    free(f->meta_v);
    free(f->path);
    free(f);
}

int rt_safetensors_count(const rt_safetensors_t *f) { return f->n; }

const char *rt_safetensors_name(const rt_safetensors_t *f, int i) {
    return i >= 0 && i < f->n ? f->t[i].name : NULL;
}

static const entry_t *lookup(const rt_safetensors_t *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

int rt_safetensors_find(const rt_safetensors_t *f, const char *name, const char **dtype,
                        int *ndim, int64_t shape[8]) {
    const entry_t *e = lookup(f, name);
    if (!e) return -1;
    if (dtype) *dtype = DTYPES[e->dtype].name;
    if (ndim) *ndim = e->ndim;
    if (shape)
        for (int k = 0; k < e->ndim; k++) shape[k] = e->shape[k];
    return 0;
}

static const entry_t *lookup_checked(const rt_safetensors_t *f, const char *name, int64_t numel) {
    const entry_t *e = lookup(f, name);
    if (!e) {
        rt_err("%s: no tensor '%s'", f->path, name);
        return NULL;
    }
    if (e->numel != numel) {
        char shape[160] = "";
        size_t u = 0;
        for (int k = 0; k < e->ndim && u < sizeof shape; k++)
            u += (size_t)snprintf(shape + u, sizeof shape - u, "%s%lld", k ? ", " : "",
                                  (long long)e->shape[k]);
        rt_err("%s: tensor '%s' has %lld elements (shape [%s]), expected %lld", f->path, name,
               (long long)e->numel, shape, (long long)numel);
        return NULL;
    }
    return e;
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in float */
        float v = (float)mant * 0x1.0p-24f;
        return sign ? -v : v;
    }
    if (exp == 31) bits = sign | 0x7f800000u | (mant << 13);
    else bits = sign | ((exp + 112) << 23) | (mant << 13);
    float v;
    memcpy(&v, &bits, 4);
    return v;
}

int rt_safetensors_read_f32(const rt_safetensors_t *f, const char *name, float *out, int64_t numel) {
    const entry_t *e = lookup_checked(f, name, numel);
    if (!e) return -1;
    const unsigned char *src = f->data + e->begin;
    const char *dt = DTYPES[e->dtype].name;
    if (strcmp(dt, "F32") && strcmp(dt, "F16") && strcmp(dt, "BF16") && strcmp(dt, "F64"))
        return rt_err("%s: tensor '%s' is %s, expected a float type (F32, F16, BF16, F64)",
                      f->path, name, dt);
    if (numel == 0) return 0;
    /* The buffer may not be aligned for the element type: copy bytes. */
    if (!strcmp(dt, "F32")) {
        memcpy(out, src, (size_t)numel * 4);
    } else if (!strcmp(dt, "F16")) {
        for (int64_t i = 0; i < numel; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            out[i] = half_to_float(h);
        }
    } else if (!strcmp(dt, "BF16")) {
        for (int64_t i = 0; i < numel; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            uint32_t bits = (uint32_t)h << 16;
            memcpy(&out[i], &bits, 4);
        }
    } else {  /* F64 */
        for (int64_t i = 0; i < numel; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            out[i] = (float)d;
        }
    }
    return 0;
}

int rt_safetensors_read_i32(const rt_safetensors_t *f, const char *name, int32_t *out,
                            int64_t numel) {
    const entry_t *e = lookup_checked(f, name, numel);
    if (!e) return -1;
    const unsigned char *src = f->data + e->begin;
    const char *dt = DTYPES[e->dtype].name;
    if (strcmp(dt, "I32") && strcmp(dt, "I64"))
        return rt_err("%s: tensor '%s' is %s, expected an integer type (I32, I64)", f->path, name,
                      dt);
    if (numel == 0) return 0;
    if (!strcmp(dt, "I32")) {
        memcpy(out, src, (size_t)numel * 4);
    } else {  /* I64 */
        for (int64_t i = 0; i < numel; i++) {
            int64_t v;
            memcpy(&v, src + 8 * i, 8);
            if (v < INT32_MIN || v > INT32_MAX)
                return rt_err("%s: tensor '%s' element %lld (%lld) does not fit in int32",
                              f->path, name, (long long)i, (long long)v);
            out[i] = (int32_t)v;
        }
    }
    return 0;
}

const char *rt_safetensors_meta(const rt_safetensors_t *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_k[i], key)) return f->meta_v[i];
    return NULL;
}
