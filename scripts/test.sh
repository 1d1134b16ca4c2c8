#!/usr/bin/env bash
# Build GPT_API, run its Rust tests, then the Python end-to-end suite (all stages).
# Usage: scripts/test.sh   (from anywhere; needs cargo and python3 >= 3.10)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# promtool (Debian's prometheus package) checks the /metrics exposition in phase1; that
# test fails without it rather than skip, so install it here (the package lists are updated
# once when a stale list makes the install fail).
if ! command -v promtool >/dev/null; then
  echo "== installing promtool (apt-get install prometheus)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends prometheus >/dev/null \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends prometheus >/dev/null; } \
    || echo "could not install promtool: the metrics test will fail (apt-get install prometheus)" >&2
fi

# Headless Chromium and its WebDriver (Debian's chromium, chromium-driver) drive the console's
# browser test (phase2); that test fails without them rather than skip, so install them here.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "== installing chromium and chromium-driver (the console's browser test)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null; } \
    || echo "could not install Chromium: the console's browser test will fail (apt-get install chromium chromium-driver)" >&2
fi

# Same lookup as the tests' own (GPT_API_TESTS/pg_server.py, src/recorder/tests/pg_server.rs):
# Debian keeps the binaries off PATH, in /usr/lib/postgresql/<N>/bin. Installed when missing,
# like promtool; the tests run the server as the `postgres` user when this runs as root.
has_postgres() {
  for dir in /usr/local/bin "$(pg_config --bindir 2>/dev/null)" /usr/lib/postgresql/*/bin; do
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && return 0
  done
  return 1
}
if ! has_postgres; then
  echo "== installing PostgreSQL (apt-get install postgresql)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends postgresql >/dev/null \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends postgresql >/dev/null; } \
    || true
fi
if ! has_postgres; then
  echo "== PostgreSQL binaries (initdb, pg_ctl) not found and could not be installed: the PostgreSQL tests will FAIL (apt-get install postgresql)" >&2
fi

# redis-server (Debian's package) for the fleet test (GPT_API_TESTS/tests/test_phase2_fleet.py),
# installed the same way; without it that test fails and says what to install.
if ! command -v redis-server >/dev/null; then
  echo "== installing redis-server (apt-get install redis-server)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends redis-server >/dev/null \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends redis-server >/dev/null; } \
    || echo "could not install redis-server: the fleet test will fail (apt-get install redis-server)" >&2
fi

# Node.js and npm run the official Node SDKs (openai, @anthropic-ai/sdk) as clients in phase1
# (GPT_API_TESTS/tests/test_phase1_node_sdks.py; the runner does `npm ci` in GPT_API_TESTS/node);
# installed the same way, and without them those tests fail and say what to install.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "== installing Node.js and npm (apt-get install nodejs npm)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends nodejs npm >/dev/null \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends nodejs npm >/dev/null; } \
    || echo "could not install Node.js and npm: the Node SDK tests will fail (apt-get install nodejs npm)" >&2
fi

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
