#!/usr/bin/env bash
# Cross-builds the release binary for aarch64 tuned for Kunpeng 920 (target-cpu=tsv110, from
# .cargo/config.toml) and smoke-tests it under qemu-user: the gateway starts with a config in
# front of the bundled mock upstream, proxies a request and a stream, and both rows appear in
# its SQLite log. Not part of .ci/run: the emulated start and the cross LTO build are slow.
#
# Usage: scripts/arm.sh            (from anywhere; x86_64 Debian/Ubuntu host, root or sudo
#                                   to install what is missing)
# Env:   ARM_NO_BUILD=1            smoke-test the binary already built
#        ARM_TARGET_CPU=CPU        another aarch64 CPU (e.g. neoverse-n1, generic)
# Needs: gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user-static (installed with
#        apt-get when missing) and Rust's aarch64-unknown-linux-gnu std (rustup target add).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
triple=aarch64-unknown-linux-gnu
binary=target/$triple/release/gpt-api
sysroot=/usr/aarch64-linux-gnu

log() { echo "arm: $*" >&2; }
fail() { echo "arm: FAILED: $*" >&2; exit 1; }

# --- what the build and the emulator need ----------------------------------------------------

install_packages() {
    local sudo=
    [[ $(id -u) == 0 ]] || sudo=sudo
    log "installing $*"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
        || fail "could not install $* (apt-get install -y $*)"
}

missing=()
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu)
[[ -e $sysroot/lib/libc.so.6 && -e $sysroot/lib/crt1.o ]] || missing+=(libc6-dev-arm64-cross)
qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
[[ -n $qemu ]] || missing+=(qemu-user-static)
((${#missing[@]} == 0)) || install_packages "${missing[@]}"
qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64)

std_installed() {
    compgen -G "$(rustc --print sysroot)/lib/rustlib/$triple/lib/libstd-*.rlib" >/dev/null
}
if ! std_installed; then
    log "the Rust standard library for $triple is missing: rustup target add $triple"
    command -v rustup >/dev/null && rustup target add "$triple" >&2 || true
    std_installed || fail "no Rust std for $triple in $(rustc --print sysroot) ($(rustc -V)).
Install it with 'rustup target add $triple' (needs access to rustup's distribution server),
or install a toolchain that ships it, then run scripts/arm.sh again."
fi

# --- build -----------------------------------------------------------------------------------

if [[ -z ${ARM_NO_BUILD:-} ]]; then
    flags=()
    [[ -z ${ARM_TARGET_CPU:-} ]] || flags=(--config "target.$triple.rustflags=[\"-C\",\"target-cpu=$ARM_TARGET_CPU\"]")
    log "cargo build --release --target $triple (target-cpu ${ARM_TARGET_CPU:-tsv110})"
    started=$SECONDS
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
    AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
        cargo build --release --locked --target "$triple" -p gpt-api "${flags[@]}"
    log "built in $((SECONDS - started)) s"
fi
[[ -x $binary ]] || fail "$binary is missing (run without ARM_NO_BUILD)"
file -L "$binary" | grep -q 'ARM aarch64' || fail "$binary is not an aarch64 executable: $(file -L "$binary")"
log "$binary: $(stat -c %s "$binary") bytes, $(file -L "$binary" | cut -d: -f2 | cut -d, -f1-2)"

# --- smoke test under qemu-user --------------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/gpt-api-arm.XXXXXX")
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# Waits (up to $3 s) for a line matching $2 in file $1 and prints it.
wait_for_line() {
    local file=$1 pattern=$2 limit=$3 line
    for ((i = 0; i < limit * 10; i++)); do
        line=$(grep -m1 -- "$pattern" "$file" 2>/dev/null) && { echo "$line"; return 0; }
        sleep 0.1
    done
    return 1
}

python3 GPT_API_TESTS/mock_upstream.py --port 0 >"$work/mock.log" 2>&1 &
pids+=($!)
mock_url=$(wait_for_line "$work/mock.log" 'mock upstream on' 10 | awk '{print $4}') || fail "the mock upstream did not start"

cat >"$work/gpt_api.toml" <<EOF
[server]
listen = "127.0.0.1:0"
workers = 2
pin_cores = false

[database]
url = "sqlite://$work/gpt_api.db"
spill_path = "$work/gpt_api.spill.jsonl"
flush_interval_ms = 20

[[upstream]]
name = "mock"
base_url = "$mock_url"
api_key = "sk-mock"

[[model]]
name = "gpt-4o-mini"
targets = [{ upstream = "mock" }]
EOF

log "starting the gateway under $qemu"
started=$SECONDS
QEMU_LD_PREFIX=$sysroot "$qemu" "$binary" --config "$work/gpt_api.toml" >"$work/gateway.log" 2>&1 &
gateway=$!
pids+=("$gateway")
listening=$(wait_for_line "$work/gateway.log" '"event":"listening"' 120) \
    || fail "no listening line within 120 s:
$(tail -20 "$work/gateway.log")"
log "listening after $((SECONDS - started)) s: $listening"
address=$(sed -n 's/.*"addr":"\([^"]*\)".*/\1/p' <<<"$listening")

python3 - "$address" "$work/gpt_api.db" <<'EOF'
"""A request and a stream through the emulated gateway, then both rows in its SQLite log."""
import json
import sqlite3
import sys
import time
import urllib.request

address, db = sys.argv[1], sys.argv[2]


def post(body):
    request = urllib.request.Request(f"http://{address}/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.headers["x-request-id"], response.read().decode(), time.monotonic() - started


messages = [{"role": "user", "content": "hello from aarch64"}]
plain_id, plain, seconds = post({"model": "gpt-4o-mini", "messages": messages})
text = json.loads(plain)["choices"][0]["message"]["content"]
print(f"arm: request: {seconds * 1000:.0f} ms, {text!r}", file=sys.stderr)
stream_id, stream, seconds = post({"model": "gpt-4o-mini", "messages": messages, "stream": True})
events = [line[6:] for line in stream.splitlines() if line.startswith("data: ")]
assert events and events[-1] == "[DONE]", f"stream did not end with [DONE]: {stream[-200:]!r}"
streamed = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1]
                   if json.loads(e).get("choices"))
assert streamed == text, f"stream said {streamed!r}, the request {text!r}"
print(f"arm: stream: {seconds * 1000:.0f} ms, {len(events)} events", file=sys.stderr)

deadline = time.monotonic() + 30
while True:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            rows = {r[0]: r for r in con.execute(
                "SELECT id, status, stream, response_content, total_tokens FROM request_logs")}
        if plain_id in rows and stream_id in rows:
            break
    except sqlite3.Error:
        pass
    assert time.monotonic() < deadline, "the rows did not appear within 30 s"
    time.sleep(0.1)
for request_id in (plain_id, stream_id):
    _, status, is_stream, content, tokens = rows[request_id]
    assert status == 200 and content == text and tokens, rows[request_id]
    print(f"arm: row {request_id}: status {status}, stream {is_stream}, {tokens} tokens", file=sys.stderr)
EOF

kill -TERM "$gateway"
wait "$gateway" && status=0 || status=$?
pids=("${pids[@]:0:1}")
[[ $status == 0 ]] || fail "the gateway exited with $status after SIGTERM:
$(tail -20 "$work/gateway.log")"
log "ok: aarch64 build under $(basename "$qemu"), $(sed -n 's/.*"driver":"\([^"]*\)".*/driver \1/p' <<<"$listening")$(sed -n 's/.*"driver_reason":"\([^"]*\)".*/ (\1)/p' <<<"$listening"), $((SECONDS - started)) s from start to clean exit"
