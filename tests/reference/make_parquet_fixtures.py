#!/usr/bin/env python3
"""Writes the pyarrow Parquet fixtures that tests/check_parquet.c reads.

Usage: python3 tests/reference/make_parquet_fixtures.py [OUT_DIR]
       (default OUT_DIR: tests/fixtures/parquet next to this script's tests/)

Needs pyarrow. Content comes from a seeded generator, so two runs with the same
pyarrow version give the same bytes. Everything together stays under 2 MB.

For every readable string column C of a data set D the script writes
D.C.jsonl: one line per row, the value as a JSON string (json.dumps with
ensure_ascii=False) or `null`; fixtures written from the same data set share
it (exactly what tools/parquet-cat prints). manifest.tsv (tab separated, '#' comments) says
what the C test must check:

    FILE  rows        N0,N1,...          rows per row group (empty: no groups)
    FILE  column      NAME  EXPECTED     column NAME reads as EXPECTED.jsonl
    FILE  error       NAME  SUBSTRING    opening/reading NAME fails, and the
                                         message contains SUBSTRING
    FILE  missing     NAME               NAME is not a top-level flat column

The expected values are built from the Python data, not read back through
pyarrow, so the fixtures are an independent check of the reader; the script
does read every file back with pyarrow and asserts it matches, so a fixture
can never disagree with pyarrow itself.
"""
import json
import os
import random
import sys

import pyarrow as pa
import pyarrow.parquet as pq

SEED = 20240611
MAX_TOTAL_BYTES = 2 * 1024 * 1024

# A vocabulary with the characters a JSON/UTF-8 path must get right: quotes,
# backslashes, control characters, multi-byte and astral code points,
# combining marks, a right-to-left script.
WORDS = [
    "the", "of", "and", "model", "state", "space", "selective", "scan",
    "token", "data", "stream", "parquet", "row", "group", "page", "value",
    "naïve", "café", "Straße", "日本語", "中文", "한국어", "русский",
    "Ελληνικά", "עברית", "العربية", "emoji😀", "🚀", "e\u0301", "tab\there",
    "line\nbreak", "cr\rlf", "quote\"d", "back\\slash", "slash/ok",
    "ctl\x01\x1f", "del\x7f", "nul\x00byte", "\u2028sep", "\ufeffbom",
]


def sentence(rng, lo, hi):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def long_text(rng, nbytes):
    parts, size = [], 0
    while size < nbytes:
        w = rng.choice(WORDS)
        parts.append(w)
        size += len(w.encode()) + 1
    s = " ".join(parts).encode()[:nbytes]
    # Never cut a UTF-8 sequence in half.
    return s.decode("utf-8", errors="ignore")


def basic_table(rng, n):
    """text: nullable, with empty strings; category: low cardinality;
    req: REQUIRED (non-nullable); sparse: mostly null, rows 250..499 all null
    (a whole row group when row_group_size is 250)."""
    cats = ["alpha", "beta", "", "γάμμα", "デルタ", "epsilon \"e\"", "z"]
    text, cat, req, sparse = [], [], [], []
    for i in range(n):
        r = rng.random()
        if r < 0.1:
            text.append(None)
        elif r < 0.15:
            text.append("")
        else:
            text.append(f"{i}: " + sentence(rng, 1, 12))
        cat.append(None if rng.random() < 0.05 else rng.choice(cats))
        req.append(f"r{i:05d}-" + rng.choice(WORDS))
        sparse.append(None if (250 <= i < 500 or rng.random() < 0.9)
                      else sentence(rng, 1, 3))
    schema = pa.schema([
        pa.field("text", pa.string()),
        pa.field("category", pa.string()),
        pa.field("req", pa.string(), nullable=False),
        pa.field("sparse", pa.string()),
    ])
    return pa.Table.from_pydict(
        {"text": text, "category": cat, "req": req, "sparse": sparse},
        schema=schema)


def fineweb_table(rng, n):
    dumps = ["CC-MAIN-2013-20", "CC-MAIN-2021-04", "CC-MAIN-2024-10"]
    langs = ["en", "en", "en", "de", "ja"]
    cols = {k: [] for k in ["text", "id", "dump", "url", "date", "file_path",
                            "language", "language_score", "token_count"]}
    for i in range(n):
        t = sentence(rng, 20, 200)
        d = rng.choice(dumps)
        cols["text"].append(t)
        cols["id"].append("<urn:uuid:%08x-%04x-%04x-%04x-%012x>" % (
            rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(16),
            rng.getrandbits(16), rng.getrandbits(48)))
        cols["dump"].append(d)
        cols["url"].append(f"https://example{rng.randint(0, 99)}.org/p/{i}?q=ü")
        cols["date"].append("20%02d-%02d-%02dT%02d:%02d:%02dZ" % (
            rng.randint(13, 24), rng.randint(1, 12), rng.randint(1, 28),
            rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)))
        cols["file_path"].append(
            f"s3://commoncrawl/crawl-data/{d}/segments/{rng.randint(0, 9999)}"
            f"/warc/CC-MAIN-{i:05d}.warc.gz")
        cols["language"].append(rng.choice(langs))
        cols["language_score"].append(round(rng.uniform(0.5, 1.0), 6))
        cols["token_count"].append(len(t.split()) + rng.randint(0, 30))
    schema = pa.schema([
        ("text", pa.string()), ("id", pa.string()), ("dump", pa.string()),
        ("url", pa.string()), ("date", pa.string()),
        ("file_path", pa.string()), ("language", pa.string()),
        ("language_score", pa.float64()), ("token_count", pa.int64()),
    ])
    return pa.Table.from_pydict(cols, schema=schema)


def alpaca_table(rng, n):
    cols = {"instruction": [], "input": [], "output": [], "text": []}
    for _ in range(n):
        ins = sentence(rng, 3, 15).capitalize()
        inp = "" if rng.random() < 0.6 else sentence(rng, 2, 30)
        out = sentence(rng, 5, 60)
        if inp:
            txt = ("Below is an instruction that describes a task, paired with "
                   "an input that provides further context. Write a response "
                   "that appropriately completes the request.\n\n"
                   f"### Instruction:\n{ins}\n\n### Input:\n{inp}\n\n"
                   f"### Response:\n{out}")
        else:
            txt = ("Below is an instruction that describes a task. Write a "
                   "response that appropriately completes the request.\n\n"
                   f"### Instruction:\n{ins}\n\n### Response:\n{out}")
        cols["instruction"].append(ins)
        cols["input"].append(inp)
        cols["output"].append(out)
        cols["text"].append(txt)
    return pa.table(cols)


class Writer:
    def __init__(self, out):
        self.out = out
        self.manifest = []
        self.names = set()
        self.expected = {}

    def write(self, name, table, string_cols, errors=(), missing=(),
              data=None, **opts):
        """data names the data set for the shared expected files
        (default: the fixture's own name)."""
        assert name not in self.names, name
        self.names.add(name)
        path = os.path.join(self.out, name + ".parquet")
        pq.write_table(table, path, **opts)
        self.record(name, path, table, string_cols, errors, missing,
                    data or name)

    def record(self, name, path, table, string_cols, errors, missing, data):
        fname = name + ".parquet"
        md = pq.ParquetFile(path).metadata
        rows = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
        assert sum(rows) == table.num_rows, (name, rows)
        back = pq.read_table(path)
        self.manifest.append(f"{fname}\trows\t{','.join(map(str, rows))}")
        for col in string_cols:
            vals = table.column(col).to_pylist()
            assert back.column(col).to_pylist() == vals, (name, col)
            exp = f"{data}.{col}.jsonl"
            lines = []
            for v in vals:
                if isinstance(v, bytes):
                    v = v.decode("utf-8")
                lines.append("null\n" if v is None
                             else json.dumps(v, ensure_ascii=False) + "\n")
            text = "".join(lines)
            epath = os.path.join(self.out, exp)
            if exp in self.expected:  # shared: must be the same values
                assert self.expected[exp] == text, (name, col)
            else:
                self.expected[exp] = text
                with open(epath, "w", encoding="utf-8", newline="\n") as f:
                    f.write(text)
            self.manifest.append(f"{fname}\tcolumn\t{col}\t{exp}")
        for col, sub in errors:
            self.manifest.append(f"{fname}\terror\t{col}\t{sub}")
        for col in missing:
            self.manifest.append(f"{fname}\tmissing\t{col}")

    def finish(self):
        with open(os.path.join(self.out, "manifest.tsv"), "w",
                  encoding="utf-8", newline="\n") as f:
            f.write("# written by tests/reference/make_parquet_fixtures.py, "
                    f"pyarrow {pa.__version__}, seed {SEED}\n")
            f.write("# FILE\tKIND\tARGS (see the script's docstring)\n")
            for line in self.manifest:
                f.write(line + "\n")
        total = sum(os.path.getsize(os.path.join(self.out, p))
                    for p in os.listdir(self.out))
        print(f"wrote {len(self.names)} parquet files, {total} bytes "
              f"in {self.out}")
        assert total < MAX_TOTAL_BYTES, f"fixtures too large: {total} bytes"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "..", "fixtures", "parquet")
    os.makedirs(out, exist_ok=True)
    for p in os.listdir(out):  # stale files would confuse the manifest check
        if p.endswith((".parquet", ".jsonl", ".tsv")):
            os.remove(os.path.join(out, p))
    w = Writer(out)
    basic_cols = ["text", "category", "req", "sparse"]

    # The full matrix: 4 codecs x dictionary/plain x data page v1/v2. Small
    # pages (write_batch_size rows at a time, 4 KiB target) give several
    # pages per chunk; row_group_size 250 gives 3 row groups (250, 250, 100).
    base = basic_table(random.Random(SEED), 600)
    for codec in ["none", "snappy", "gzip", "zstd"]:
        for dictionary in [True, False]:
            for dpv in ["1.0", "2.0"]:
                name = "basic_%s_%s_v%s" % (codec, "dict" if dictionary
                                            else "plain", dpv[0])
                w.write(name, base, basic_cols, data="basic",
                        compression=codec,
                        use_dictionary=dictionary, data_page_version=dpv,
                        row_group_size=250, data_page_size=4096,
                        write_batch_size=128)

    # pyarrow's defaults exactly (snappy, dictionary, v1, one row group).
    w.write("defaults", base, basic_cols, data="basic")

    # Dictionary that overflows mid-chunk: a dictionary page, RLE_DICTIONARY
    # pages, then PLAIN fallback pages in the same chunk.
    rng = random.Random(SEED + 1)
    uniq = pa.table({"text": [f"{i}-" + sentence(rng, 2, 8)
                              for i in range(800)]})
    w.write("dict_fallback", uniq, ["text"], compression="snappy",
            dictionary_pagesize_limit=2048, data_page_size=1024,
            write_batch_size=50)

    # Values longer than 64 KiB (and one exactly 64 KiB), empty, null.
    rng = random.Random(SEED + 2)
    longs = [long_text(rng, 70000), "", None, long_text(rng, 65536),
             long_text(rng, 100000), "short"]
    lt = pa.table({"text": pa.array(longs, pa.string())})
    w.write("long_strings_zstd_v2", lt, ["text"], data="long_strings",
            compression="zstd", data_page_version="2.0")
    w.write("long_strings_snappy_v1_plain", lt, ["text"],
            data="long_strings", compression="snappy", use_dictionary=False)

    # Dataset shapes the trainer reads. FineWeb with a page index, Alpaca
    # with two row groups.
    rng = random.Random(SEED + 3)
    fw = fineweb_table(rng, 240)
    fw_str = ["text", "id", "dump", "url", "date", "file_path", "language"]
    fw_opts = dict(row_group_size=100)
    try:
        pq.write_table(fw.slice(0, 1), os.path.join(out, "probe.parquet"),
                       write_page_index=True, write_page_checksum=True)
        fw_opts.update(write_page_index=True, write_page_checksum=True)
    except TypeError:
        print("note: this pyarrow lacks write_page_index/write_page_checksum")
    os.remove(os.path.join(out, "probe.parquet"))
    w.write("fineweb", fw, fw_str,
            errors=[("language_score", "DOUBLE"), ("token_count", "INT64")],
            **fw_opts)
    al = alpaca_table(random.Random(SEED + 4), 200)
    w.write("alpaca", al, ["instruction", "input", "output", "text"],
            row_group_size=120)

    # Arrow types that all land on BYTE_ARRAY (large_string, binary,
    # dictionary<int32,string>) next to a non-BYTE_ARRAY one.
    rng = random.Random(SEED + 5)
    vals = [None if rng.random() < 0.2 else sentence(rng, 1, 5)
            for _ in range(300)]
    types = pa.table({
        "large": pa.array(vals, pa.large_string()),
        "bin": pa.array([None if v is None else v.encode() for v in vals],
                        pa.binary()),
        "dictenc": pa.array(vals, pa.string()).dictionary_encode(),
        "num": pa.array(range(300), pa.int32()),
    })
    w.write("types", types, ["large", "bin", "dictenc"],
            errors=[("num", "INT32")], compression="zstd",
            row_group_size=128)

    # Nested columns before and between flat ones: the leaf index of `text`
    # is not its top-level position.
    rng = random.Random(SEED + 6)
    n = 50
    nested = pa.table({
        "id": [f"id{i}" for i in range(n)],
        "tags": [[sentence(rng, 1, 2) for _ in range(rng.randint(0, 3))]
                 for _ in range(n)],
        "meta": [{"a": sentence(rng, 1, 2), "b": i} for i in range(n)],
        "text": [sentence(rng, 1, 6) for _ in range(n)],
    })
    w.write("nested", nested, ["id", "text"], missing=["tags", "meta"])

    # No rows at all.
    w.write("empty", pa.table({"text": pa.array([], pa.string())}), ["text"])

    # Things the reader must refuse with a message naming them.
    rng = random.Random(SEED + 7)
    small = pa.table({"text": [sentence(rng, 1, 4) for _ in range(40)]})
    w.write("delta_length", small, [],
            errors=[("text", "DELTA_LENGTH_BYTE_ARRAY")],
            use_dictionary=False,
            column_encoding={"text": "DELTA_LENGTH_BYTE_ARRAY"})
    for codec, label in [("brotli", "BROTLI"), ("lz4", "LZ4")]:
        try:
            w.write("codec_" + codec, small, [], errors=[("text", label)],
                    compression=codec)
        except (pa.ArrowNotImplementedError, ValueError) as e:
            print(f"note: skipping codec {codec}: {e}")
    w.finish()


if __name__ == "__main__":
    main()
