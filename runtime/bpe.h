/* bpe.h: byte-level BPE tokenizers (GPT-2, GPT-NeoX and their relatives).
 *
 * Two on-disk forms load into the same bpe_t:
 *   - a Hugging Face tokenizer.json whose model is byte-level BPE
 *     (bpe_load_tokenizer_json), as EleutherAI/gpt-neox-20b ships it;
 *   - a directory holding GPT-2's encoder.json + vocab.bpe (bpe_load_gpt2).
 *
 * Encoding follows Hugging Face `tokenizers`' encode(text,
 * add_special_tokens=False) step by step:
 *   1. added tokens whose "normalized" is false (e.g. <|endoftext|>) are cut
 *      out of the raw text, leftmost-longest;
 *   2. each remaining piece is normalised (NFC, or nothing);
 *   3. added tokens whose "normalized" is true (NeoX's runs of 2..24 spaces)
 *      are cut out of the normalised piece, leftmost-longest;
 *   4. what is left is split with the GPT-2 pattern
 *        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *      (\s is Unicode White_Space, \p{L}/\p{N} are utf8proc's categories);
 *   5. each piece's bytes are merged by lowest merge rank, leftmost first.
 * Added tokens: "lstrip"/"rstrip" swallow White_Space on that side,
 * "single_word" requires no word character (letter, mark, decimal or letter
 * number, connector punctuation, ZWJ/ZWNJ: close to Rust's \w) on either
 * side, "special" tokens can be turned off with bpe_set_special_in_text. An
 * added token whose content is also a vocabulary key takes the vocabulary's
 * id, as Hugging Face does when it loads the file. After an rstrip token the
 * search goes on after the swallowed space (HF would resume inside it; that
 * only matters for added tokens made of white space next to an rstrip one).
 * Also supported: merges as "a b" or ["a", "b"], ByteLevel add_prefix_space
 * (a space before every piece between added tokens) and use_regex=false,
 * model.ignore_merges. The post_processor, truncation and padding are ignored
 * (no BOS/EOS is added: the data pipeline adds EOS itself).
 *
 * Checked against HF tokenizers 0.23 and tiktoken 0.14 on 38 MB of Python
 * and mixed-script text (identical ids), against node's gpt-3-encoder and
 * against PCRE2 for the pattern (tests/check_bpe.c). Single-threaded speed
 * on the GPU host's Xeon over several runs: 24-35M tokens/s for GPT-2
 * (tiktoken there: 3.6-6.6M), 11-21M tokens/s for the NeoX-style
 * tokenizer.json (HF tokenizers: 0.3-0.5M).
 *
 * Text that is not valid UTF-8 is still encoded, losslessly: each byte of an
 * invalid sequence counts as one "other" (punctuation-like) character and is
 * not normalised, so decode(encode(x)) == x for any bytes when the normaliser
 * is null (and NFC(x) for valid UTF-8 under NFC).
 *
 * Thread safety: a loaded bpe_t is read-only; bpe_encode may be called from
 * many threads at once on one bpe_t (each thread gets its own word cache,
 * freed when the thread exits or at bpe_free). */
#ifndef BPE_H
#define BPE_H

#include <stddef.h>
#include <stdint.h>

typedef struct bpe bpe_t;

/* Each loader returns NULL on error and writes a message naming the file and,
 * for JSON, the path inside it (e.g. "tok.json: model.type: ...") to err. */
bpe_t *bpe_load_tokenizer_json(const char *path, char *err, size_t errlen);
/* dir/encoder.json + dir/vocab.bpe. "<|endoftext|>" (when present) becomes a
 * special added token, matched in text as tiktoken does with
 * allowed_special="all". */
bpe_t *bpe_load_gpt2(const char *dir, char *err, size_t errlen);
/* A file: tokenizer.json. A directory: encoder.json + vocab.bpe if both are
 * there, else dir/tokenizer.json. */
bpe_t *bpe_load(const char *path, char *err, size_t errlen);
void bpe_free(bpe_t *b);

/* Appends the ids of text[0..len) to *ids (n used, cap allocated; realloc'd
 * as needed; *ids may start NULL with *n = *cap = 0). 0, or -1 when out of
 * memory (then *ids and *n are still valid, with the ids appended so far). */
int bpe_encode(const bpe_t *b, const char *text, size_t len, int32_t **ids, size_t *n,
               size_t *cap);

/* ids -> bytes (malloc'd, NUL-terminated, length in *outlen). Added tokens
 * decode to their content. NULL when an id is not in the vocabulary or on
 * out-of-memory (bpe_token_bytes tells which id). */
char *bpe_decode(const bpe_t *b, const int32_t *ids, size_t n, size_t *outlen);

/* The bytes id decodes to (not NUL-terminated), or NULL if id is unknown. */
const char *bpe_token_bytes(const bpe_t *b, int32_t id, size_t *len);

/* One more than the largest id (vocabulary + added tokens): 50277 for NeoX. */
int bpe_vocab_size(const bpe_t *b);

/* The id of a token given as the text it decodes to, e.g. "<|endoftext|>",
 * " the" or "\n"; added tokens are looked up first. -1 if none. */
int32_t bpe_token_id(const bpe_t *b, const char *token);

/* Whether added tokens marked "special" are recognised in the text (1, the
 * default, as Hugging Face does) or encoded as ordinary text (0, as
 * tiktoken's encode_ordinary). Call before sharing b between threads. */
void bpe_set_special_in_text(bpe_t *b, int on);

#endif
