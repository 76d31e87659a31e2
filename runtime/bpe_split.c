/* bpe_split.c: the GPT-2 pre-tokenizer pattern, written out by hand.
 *
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 * Every character is exactly one of letter (\p{L}), number (\p{N}), space
 * (\s) or other, so at each position the alternatives reduce to: a
 * contraction; an optional ASCII space then a run of one class; or a run of
 * white space. The run of white space is where the lookahead matters:
 * \s+(?!\S) backs off one character when the run is followed by a non-space,
 * so that character's own piece can take the last space (" word"); a run of
 * one character followed by a non-space falls through to plain \s+.
 *
 * \s is the Unicode White_Space property (as Oniguruma in HF tokenizers, the
 * Rust regex in tiktoken and Python's regex module use it); \p{L} and \p{N}
 * come from utf8proc's general categories. tests/check_bpe.c compares this
 * with PCRE2 running the pattern itself over random text. */
#include <stdatomic.h>
#include <pthread.h>
#include <utf8proc.h>

#include "bpe_priv.h"

/* ASCII classes, by hand: letters, digits, \t \n \v \f \r and space. */
#define L BPE_C_LETTER
#define N BPE_C_NUMBER
#define S BPE_C_SPACE
static const uint8_t ascii_cls[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, S, S, S, S, S, 0, 0,   /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* 0x10 */
    S, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* 0x20 */
    N, N, N, N, N, N, N, N, N, N, 0, 0, 0, 0, 0, 0,   /* 0x30 */
    0, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L,   /* 0x40 */
    L, L, L, L, L, L, L, L, L, L, L, 0, 0, 0, 0, 0,   /* 0x50 */
    0, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L,   /* 0x60 */
    L, L, L, L, L, L, L, L, L, L, L, 0, 0, 0, 0, 0,   /* 0x70 */
};
#undef L
#undef N
#undef S

static int is_white_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

static int classify(uint32_t cp)
{
    if (is_white_space(cp)) return BPE_C_SPACE;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return BPE_C_LETTER;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return BPE_C_NUMBER;
    default:
        return BPE_C_OTHER;
    }
}

/* The Basic Multilingual Plane's classes, one byte each (64 KiB), built
 * once: utf8proc's two-level lookup is a call and two loads per character,
 * this is one load. Planes above go through classify(). */
static uint8_t bmp_cls[0x10000];
static atomic_int bmp_ready;
static pthread_once_t bmp_once = PTHREAD_ONCE_INIT;

static void bmp_build(void)
{
    for (uint32_t cp = 0; cp < 0x10000; cp++) bmp_cls[cp] = (uint8_t)classify(cp);
    atomic_store_explicit(&bmp_ready, 1, memory_order_release);
}

int bpe_cp_class(uint32_t cp)
{
    if (cp < 0x80) return ascii_cls[cp];
    if (cp < 0x10000) {
        if (!atomic_load_explicit(&bmp_ready, memory_order_acquire)) pthread_once(&bmp_once, bmp_build);
        return bmp_cls[cp];
    }
    return classify(cp);
}

int bpe_cp_is_word(uint32_t cp)
{
    if (cp == '_' || cp == 0x200C || cp == 0x200D) return 1;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
        return 1;
    default:
        return 0;
    }
}

int bpe_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    if (c < 0xC2) return 0;                          /* continuation byte or overlong */
    if (c < 0xE0) {
        if (n < 2 || (s[1] & 0xC0) != 0x80) return 0;
        *cp = (uint32_t)(c & 0x1F) << 6 | (s[1] & 0x3F);
        return 2;
    }
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        uint32_t v = (uint32_t)(c & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        if (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF)) return 0;
        *cp = v;
        return 3;
    }
    if (c < 0xF5) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        uint32_t v = (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
                     (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
        if (v < 0x10000 || v > 0x10FFFF) return 0;
        *cp = v;
        return 4;
    }
    return 0;
}

int bpe_char_class(const uint8_t *s, size_t n, size_t i, size_t *clen)
{
    uint8_t c = s[i];
    if (c < 0x80) { *clen = 1; return ascii_cls[c]; }
    uint32_t cp;
    int l = bpe_utf8_decode(s + i, n - i, &cp);
    if (!l) { *clen = 1; return BPE_C_OTHER; }
    *clen = (size_t)l;
    return bpe_cp_class(cp);
}

/* End of the run of class cls that continues at s[i]. */
static size_t run_end(const uint8_t *s, size_t n, size_t i, int cls)
{
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if (ascii_cls[c] != cls) break;
            i++;
            continue;
        }
        size_t l;
        if (bpe_char_class(s, n, i, &l) != cls) break;
        i += l;
    }
    return i;
}

size_t bpe_split_next(const uint8_t *s, size_t n, size_t pos)
{
    uint8_t c = s[pos];
    if (c == '\'' && pos + 1 < n) {                  /* 's 't 're 've 'm 'll 'd (lower case only) */
        uint8_t d = s[pos + 1];
        if (d == 's' || d == 't' || d == 'm' || d == 'd') return pos + 2;
        if (pos + 2 < n) {
            uint8_t e = s[pos + 2];
            if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l'))
                return pos + 3;
        }
    }
    size_t l0;
    int k0 = bpe_char_class(s, n, pos, &l0);
    if (c == ' ' && pos + 1 < n) {                   /* " ?" then a run of letters/numbers/others */
        size_t l1;
        int k1 = bpe_char_class(s, n, pos + 1, &l1);
        if (k1 != BPE_C_SPACE) return run_end(s, n, pos + 1 + l1, k1);
    }
    if (k0 != BPE_C_SPACE) return run_end(s, n, pos + l0, k0);
    /* white space: \s+(?!\S) gives the run less its last character when a
     * non-space follows; a lone white-space character is \s+ */
    size_t last = pos, i = pos + l0;
    while (i < n) {
        size_t l;
        if (bpe_char_class(s, n, i, &l) != BPE_C_SPACE) break;
        last = i;
        i += l;
    }
    if (i == n) return n;
    return last > pos ? last : i;
}
