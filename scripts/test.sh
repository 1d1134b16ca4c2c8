#!/usr/bin/env bash
# Build GPT_API, run its Rust tests, then the Python end-to-end suite (all stages).
# Usage: scripts/test.sh   (from anywhere; needs cargo and python3 >= 3.10)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"

echo "== cargo build --release"
cargo build --release

echo "== container files (no container engine runs here: scripts/docker/lint.sh)"
scripts/docker/lint.sh

echo "== cargo test --release"
cargo test --release

VENV="$ROOT/GPT_API_TESTS/.venv"
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  python3 -m venv "$VENV"
fi
echo "== pip install -r GPT_API_TESTS/requirements.txt"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r GPT_API_TESTS/requirements.txt

echo "== end-to-end suite"
GPT_API_BIN="${GPT_API_BIN:-$ROOT/target/release/gpt-api}" \
  "$VENV/bin/python" GPT_API_TESTS/test_runner_enhanced.py --api-version rust --stage all
