#!/usr/bin/env bash
# Builds GPT_API and runs it on http://127.0.0.1:8080 in front of the bundled mock upstream
# (http://127.0.0.1:9001), logging every request to ./gpt_api.db. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
python3 GPT_API_TESTS/mock_upstream.py --port 9001 &
mock=$!
trap 'kill "$mock" 2>/dev/null || true' EXIT
target/release/gpt-api --config gpt_api.example.toml
