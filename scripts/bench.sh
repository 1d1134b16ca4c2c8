#!/usr/bin/env bash
# Benchmarks GPT_API side by side with the mock upstream reached directly and through nginx
# (the "dumb proxy" reference), all in one run on 127.0.0.1, and writes the table to
# bench/results/<date>-<quick|full>.md (see bench/README.md for what each figure means).
#
# Usage: scripts/bench.sh [--quick]     quick: about 2-3 minutes; full: under 10 minutes
# Env:   BENCH_NO_BUILD=1  use the binaries already in target/release
#        BENCH_KEEP=1      keep the temp dir (configs, logs, raw JSON results)
#        BENCH_GATEWAY_BIN=PATH  the gateway binary to measure (default target/release/gpt-api)
#        BENCH_CRASH_SECONDS=S   load before the kill -9 step's SIGKILL (default 3 quick, 8 full)
set -euo pipefail

mode=full
case "${1:-}" in
    --quick) mode=quick ;;
    "") ;;
    *) echo "usage: scripts/bench.sh [--quick]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The nginx reverse proxy measured beside the gateway (shared with bench/callgrind.sh).
source "$root/bench/nginx-proxy.sh"
source "$root/bench/helpers.sh"
cd "$root"
work=$(mktemp -d "${TMPDIR:-/tmp}/gpt-api-bench.XXXXXX")
results=$work/results.jsonl
commands=$work/commands.txt
started_pids=()

# Logs a line, which also names the step under way for the log-queue sampler (see below).
log() {
    echo "bench: [${SECONDS}s] $*" >&2
    echo "$*" >"$work/step"
}

# Stops a process we started: TERM, then KILL after $2 seconds (default 5).
stop_process() {
    local pid=$1 grace=${2:-5} i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in "${started_pids[@]}"; do stop_process "$pid" 3; done
    if [[ -n ${BENCH_KEEP:-} ]]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers ----------------------------------------------------------------------------------

wait_port() {
    local port=$1 i
    for ((i = 0; i < 100; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

children_of() {
    grep -l "^PPid:[[:space:]]*$1\$" /proc/[0-9]*/status 2>/dev/null | cut -d/ -f3 | tr '\n' ' '
}

# utime+stime (clock ticks) summed over the given pids.
cpu_ticks() {
    local total=0 pid ticks
    for pid in "$@"; do
        ticks=$(cut -d')' -f2- "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}') || ticks=0
        total=$((total + ${ticks:-0}))
    done
    echo "$total"
}

# utime+stime (clock ticks) of the gateway's threads by role, as "WORKERS LOG DB": the worker
# threads (gpt-api-worker*: requests relayed, streams translated), the logging thread
# (gpt-api-log: access lines, rows, stream summaries) and the database threads (gpt-api-log-db,
# whose Tokio runtime runs sqlx, and the thread sqlx starts per SQLite connection,
# sqlx-sqlite-worker*; names cut to 15 bytes). The rest of the process's ticks (main thread,
# fleet thread, threads that ended) is its cpu_ticks minus these.
thread_ticks() {
    local workers=0 log=0 db=0 task comm stat fields
    for task in /proc/"$1"/task/*; do
        { read -r comm <"$task/comm" && read -r stat <"$task/stat"; } 2>/dev/null || continue
        # shellcheck disable=SC2206  # the fields after "(comm) " are space-separated numbers
        fields=(${stat##*) })
        case $comm in
            gpt-api-worker*) workers=$((workers + fields[11] + fields[12])) ;;
            gpt-api-log) log=$((log + fields[11] + fields[12])) ;;
            gpt-api-log-db | sqlx-sqlite-*) db=$((db + fields[11] + fields[12])) ;;
        esac
    done
    echo "$workers $log $db"
}

rss_kb() {
    local total=0 pid kb
    for pid in "$@"; do
        kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || kb=0
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

# Field $2 of the JSON object $1; empty when absent or when $1 is not an object.
json_get() {
    python3 -c 'import json, sys; d = json.loads(sys.argv[1] or "null"); print(d.get(sys.argv[2], "") if isinstance(d, dict) else "")' "$1" "$2"
}

# Appends the JSON object {KEY: VALUE, ...} (values as strings) to the results.
record() {
    python3 -c 'import json, sys; a = sys.argv[1:]; print(json.dumps(dict(zip(a[::2], a[1::2]))))' "$@" >>"$results"
}

# Samples the gateway's /metrics at $1 every 0.2 s into $2 (JSON: the largest log queue and
# rows held only in memory seen, the step the largest queue was seen in, the first and the last
# sample) until killed.
sample_log_figures() {
    # exec: run in the background, the sampler is this process, so stopping it stops Python
    # (a child left behind would poll the port forever).
    exec python3 - "$1" "$2" "$work/step" <<'PY'
import json, os, sys, time, urllib.request
url, out, step_file = f"http://{sys.argv[1]}/metrics", sys.argv[2], sys.argv[3]
peak = {"queue": 0, "buffered": 0}
queue_step = first = None
while True:
    try:
        text = urllib.request.urlopen(url, timeout=1).read().decode()
    except OSError:
        time.sleep(0.2)
        continue
    figures = dict(line.split() for line in text.splitlines() if line.startswith("gpt_api_log_"))
    last = {"queue": int(figures["gpt_api_log_queue_depth"]), "buffered": int(figures["gpt_api_log_rows_buffered"]),
            "spilled": int(figures["gpt_api_log_rows_spilled"])}
    first = first or last
    if last["queue"] > peak["queue"]:
        try:
            with open(step_file) as f:
                queue_step = f.read().strip()
        except OSError:
            pass
    peak = {k: max(peak[k], last[k]) for k in peak}
    with open(out + ".tmp", "w") as f:
        json.dump({"peak": peak, "queue_step": queue_step, "first": first, "last": last}, f)
    os.replace(out + ".tmp", out)
    time.sleep(0.2)
PY
}

# --- build and start --------------------------------------------------------------------------

if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    log "building: cargo build --release --workspace"
    if ! cargo build --release --workspace --quiet 2>"$work/build.log"; then
        tail -n 20 "$work/build.log" >&2
        log "workspace build failed; building the bench tools alone"
        cargo build --release -p gpt-api-bench --quiet
    fi
fi
mock_bin=$root/target/release/bench-mock
load_bin=$root/target/release/bench-load
gateway_bin=${BENCH_GATEWAY_BIN:-$root/target/release/gpt-api}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
workers=2
threads=$(nproc)

if [[ $mode == quick ]]; then
    seconds=2 warmup=0.5 sweep="1 64" slow_steps="1000" memory_seconds=4 soak_seconds=0
    crash_seconds=3 wrk_seconds=2 mixed_seconds=2 idle_connections=1000 postgres_seconds=2
else
    seconds=5 warmup=1 sweep="1 8 64 256 512" slow_steps="1000 2000 3000 4000 6000" memory_seconds=6 soak_seconds=180
    # The wrk, mixed and PostgreSQL steps shorter than the others' 5 s: the full run stays
    # under 10 minutes with them (the PostgreSQL step also waits for the writer to drain).
    crash_seconds=8 wrk_seconds=3 mixed_seconds=4 idle_connections=5000 postgres_seconds=3
fi
crash_seconds=${BENCH_CRASH_SECONDS:-$crash_seconds}
slow_path=/s/64/20/v1/chat/completions

"$mock_bin" --listen 127.0.0.1:0 --threads "$threads" --stream-chunks 20 --stream-interval-ms 0 \
    >"$work/mock.log" 2>&1 &
mock_pid=$!
started_pids+=("$mock_pid")
mock_addr=$(wait_listening "$work/mock.log" "$mock_pid") || { cat "$work/mock.log" >&2; log "mock did not start"; exit 1; }
declare -A addr=([direct]=$mock_addr)
targets=(direct)

nginx_bin=$(command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true)
if [[ -z $nginx_bin ]] && command -v apt-get >/dev/null; then
    log "installing nginx: apt-get install -y nginx-light"
    # A fresh machine may have no package lists yet: update once if the first try fails.
    { apt-get install -y -qq nginx-light || apt-get install -y -qq nginx ||
        { apt-get update -qq && apt-get install -y -qq nginx; }; } >"$work/apt.log" 2>&1 || true
    nginx_bin=$(command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true)
fi
nginx_pid=
if [[ -z $nginx_bin ]]; then
    log "nginx is not installed and could not be installed: no nginx column"
else
    nginx_port=$(free_port)
    mkdir -p "$work/nginx"
    nginx_proxy_conf "$work/nginx" "$mock_addr" "$nginx_port" "$workers" >"$work/nginx/nginx.conf"
    "$nginx_bin" -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" >"$work/nginx/stdout.log" 2>&1 &
    nginx_pid=$!
    started_pids+=("$nginx_pid")
    if wait_port "$nginx_port"; then
        addr[nginx]=127.0.0.1:$nginx_port
        targets+=(nginx)
    else
        tail -n 5 "$work/nginx/error.log" >&2 || true
        log "nginx did not start: no nginx column"
    fi
fi

# wrk, the second load generator (Debian's package), installed the same way.
wrk_bin=$(command -v wrk || true)
if [[ -z $wrk_bin ]] && command -v apt-get >/dev/null; then
    log "installing wrk: apt-get install -y wrk"
    { apt-get install -y -qq wrk || { apt-get update -qq && apt-get install -y -qq wrk; }; } >>"$work/apt.log" 2>&1 || true
    wrk_bin=$(command -v wrk || true)
fi
[[ -n $wrk_bin ]] || log "wrk is not installed and could not be installed: no wrk rows (apt-get install wrk)"

gateway_pid=
new_kinds=
if [[ ! -x $gateway_bin ]]; then
    log "no $gateway_bin: no GPT_API column"
else
    cat >"$work/gateway.toml" <<EOF
[server]
listen = "127.0.0.1:0"
workers = $workers
pin_cores = false
max_connections = 16384
shutdown_grace_ms = 3000

[database]
url = "sqlite://$work/gpt_api.db"
store_content = true
spill_path = "$work/gpt_api.spill.jsonl"

[[upstream]]
name = "mock"
base_url = "http://$mock_addr/v1"
api_key = "sk-mock"

[[upstream]]
name = "mock-anthropic"
kind = "anthropic"
base_url = "http://$mock_addr/v1"
api_key = "sk-mock"

[[upstream]]
name = "mock-slow"
base_url = "http://$mock_addr/s/64/20/v1"
api_key = "sk-mock"

# Two client keys: the load's default key, unlimited, and one with every limit (set high
# enough never to refuse), to measure what admission and settlement cost per request.
[[client_key]]
name = "bench-unlimited"
key = "sk-bench"

[[client_key]]
name = "bench-limited"
key = "sk-bench-limited"
rpm = 4000000000
tpm = 4000000000
max_concurrent = 1000000
budget = { tokens = 1000000000000000, period = "day" }

[[model]]
name = "bench"
targets = [{ upstream = "mock" }]

[[model]]
name = "bench-slow"
targets = [{ upstream = "mock-slow" }]

[[model]]
name = "bench-anthropic"
targets = [{ upstream = "mock-anthropic" }]
EOF
    # The kinds of issue 19, in a config of their own: a gateway built before them still gets
    # its column (and the older translated runs), without these.
    cat >"$work/gateway-kinds.toml" <<EOF

[[upstream]]
name = "mock-gemini"
kind = "gemini"
base_url = "http://$mock_addr/v1beta"
api_key = "mock-key"

[[upstream]]
name = "mock-cohere"
kind = "cohere"
base_url = "http://$mock_addr/v2"
api_key = "mock-key"

[[upstream]]
name = "mock-bedrock"
kind = "bedrock"
base_url = "http://$mock_addr"
region = "us-east-1"
aws_access_key_id_env = "BENCH_AWS_ACCESS_KEY_ID"
aws_secret_access_key_env = "BENCH_AWS_SECRET_ACCESS_KEY"

[[model]]
name = "bench-gemini"
targets = [{ upstream = "mock-gemini" }]

[[model]]
name = "bench-cohere"
targets = [{ upstream = "mock-cohere" }]

[[model]]
name = "bench-bedrock"
targets = [{ upstream = "mock-bedrock" }]
EOF
    # The mock checks no signature; the gateway signs every Bedrock request with these.
    export BENCH_AWS_ACCESS_KEY_ID=AKIDBENCHMOCK BENCH_AWS_SECRET_ACCESS_KEY=bench-mock-secret
    cat "$work/gateway.toml" "$work/gateway-kinds.toml" >"$work/gateway-all.toml"
    if "$gateway_bin" check --config "$work/gateway-all.toml" >"$work/gateway-check.log" 2>&1; then
        mv "$work/gateway-all.toml" "$work/gateway.toml"
        new_kinds=1
    else
        log "the gateway refuses kind = gemini, cohere or bedrock: no translated runs for them"
    fi
    if ! "$gateway_bin" check --config "$work/gateway.toml" >"$work/gateway-check.log" 2>&1; then
        cat "$work/gateway-check.log" >&2
        log "gateway rejected its config: no GPT_API column"
    else
        "$gateway_bin" --config "$work/gateway.toml" >"$work/gateway.log" 2>"$work/gateway.err" &
        gateway_pid=$!
        started_pids+=("$gateway_pid")
        if gateway_addr=$(wait_listening "$work/gateway.log" "$gateway_pid"); then
            addr[gateway]=$gateway_addr
            targets+=(gateway)
        else
            tail -n 5 "$work/gateway.log" "$work/gateway.err" >&2 || true
            log "gateway did not start: no GPT_API column"
            gateway_pid=
        fi
    fi
fi

# --- measuring --------------------------------------------------------------------------------

# Processes whose CPU time a target costs: the proxy's (the mock's when direct).
proxy_pids() {
    case $1 in
        direct) echo "$mock_pid" ;;
        nginx) children_of "$nginx_pid" ;;
        gateway) echo "$gateway_pid" ;;
    esac
}

# bench-load arguments that address target $1 for normal (0) or slow (1) streams.
target_args() {
    local slow=$2
    case $1 in
        gateway) echo "--target ${addr[gateway]} --model $( ((slow)) && echo bench-slow || echo bench)" ;;
        *) echo "--target ${addr[$1]} --path $( ((slow)) && echo $slow_path || echo /v1/chat/completions)" ;;
    esac
}

# run_measured FIGURE TARGET COMMAND...: runs COMMAND (in this shell: a function may start
# processes), which prints one JSON object of results, with the target's CPU time over it (the
# gateway's also split by thread role, see thread_ticks) into the results; echoes the JSON.
run_measured() {
    local figure=$1 target=$2 before after out pids split_before=(0 0 0) split_after=(0 0 0)
    shift 2
    pids=$(proxy_pids "$target")
    # shellcheck disable=SC2086  # pids is a word list
    before=$(cpu_ticks $pids)
    # shellcheck disable=SC2207  # three numbers
    [[ $target == gateway ]] && split_before=($(thread_ticks "$gateway_pid"))
    "$@" >"$work/run.json" 2>>"$work/load.err" || true
    # shellcheck disable=SC2086
    after=$(cpu_ticks $pids)
    # shellcheck disable=SC2207
    [[ $target == gateway ]] && split_after=($(thread_ticks "$gateway_pid"))
    out=$(cat "$work/run.json")
    [[ $out == \{* ]] || out=null
    printf '{"figure":"%s","target":"%s","cpu_ticks":%s,"worker_ticks":%s,"log_ticks":%s,"db_ticks":%s,"load":%s}\n' \
        "$figure" "$target" "$((after - before))" "$((split_after[0] - split_before[0]))" \
        "$((split_after[1] - split_before[1]))" "$((split_after[2] - split_before[2]))" "$out" >>"$results"
    echo "$out"
}

# measure FIGURE TARGET SLOW BENCH_LOAD_ARGS...: one bench-load run, measured. Later flags
# override target_args'.
measure() {
    local figure=$1 target=$2 slow=$3
    shift 3
    # shellcheck disable=SC2046  # target_args is a word list
    set -- $(target_args "$target" "$slow") "$@"
    echo "$figure/$target: bench-load $*" >>"$commands"
    run_measured "$figure" "$target" "$load_bin" "$@"
}

# measure_memory TARGET SECONDS EVERY FIGURE: c=32 for SECONDS, sampling the RSS every EVERY s.
measure_memory() {
    local target=$1 duration=$2 every=$3 figure=$4 load_pid samples=() end out
    local args
    args="$(target_args "$target" 0) --concurrency 32 --duration-s $duration --timeout-ms 5000"
    echo "$figure/$target: bench-load $args" >>"$commands"
    # shellcheck disable=SC2086  # args is a word list
    "$load_bin" $args >"$work/$figure-$target.json" 2>>"$work/load.err" &
    load_pid=$!
    end=$((SECONDS + duration + 10))
    while ((SECONDS < end)) && kill -0 "$load_pid" 2>/dev/null; do
        sleep "$every"
        # shellcheck disable=SC2046
        samples+=("$(rss_kb $(memory_pids "$target"))")
    done
    wait "$load_pid" || true
    out=$(cat "$work/$figure-$target.json")
    [[ $out == \{* ]] || out=null
    printf '{"figure":"%s","target":"%s","samples_kb":[%s],"load":%s}\n' \
        "$figure" "$target" "$(IFS=,; echo "${samples[*]}")" "$out" >>"$results"
}

memory_pids() {
    case $1 in
        nginx) echo "$nginx_pid $(children_of "$nginx_pid")" ;;
        gateway) echo "$gateway_pid" ;;
    esac
}

# --- wrk: the second load generator ---------------------------------------------------------

# The request bench-load sends (method, path, headers, body, as `bench-load --print-request`
# writes it to $BENCH_WRK_REQUEST), sent by wrk on each of its connections; wrk sets Host and
# Content-Length. At the end, one JSON line of results in bench-load's field names.
write_wrk_script() {
    cat >"$work/wrk.lua" <<'LUA'
local file = assert(io.open(os.getenv("BENCH_WRK_REQUEST"), "rb"))
local request = file:read("*a")
file:close()
local head, body = request:match("^(.-)\r\n\r\n(.*)$")
local first = true
for line in head:gmatch("[^\r\n]+") do
    if first then
        wrk.method, wrk.path = line:match("^(%S+) (%S+)")
        first = false
    else
        local name, value = line:match("^([^:]+):%s*(.*)$")
        local lower = name:lower()
        if lower ~= "host" and lower ~= "content-length" then
            wrk.headers[name] = value
        end
    end
end
wrk.body = body
local stream = body:find('"stream":true', 1, true) ~= nil

done = function(summary, latency, requests)
    local errors = summary.errors
    local seconds = summary.duration / 1e6
    local ok = summary.requests - errors.status
    io.write(string.format(
        '{"tool":"wrk","mode":"%s","concurrency":%d,"seconds":%.3f,"answered":%d,"ok":%d,' ..
        '"non_200":%d,"errors":%d,"%s":%.1f,"p50_us":%d,"p99_us":%d,"max_us":%d,"first_error":null}\n',
        stream and "stream" or "plain", 64, seconds, summary.requests, ok, errors.status,
        errors.connect + errors.read + errors.write + errors.timeout,
        stream and "streams_per_s" or "rps", ok / seconds,
        latency:percentile(50), latency:percentile(99), latency.max))
end
LUA
}

# run_wrk REQUEST_FILE URL: wrk -t1 -c64 for $wrk_seconds; prints the script's JSON line.
run_wrk() {
    BENCH_WRK_REQUEST=$1 "$wrk_bin" -t1 -c64 -d"${wrk_seconds}s" --timeout 5s -s "$work/wrk.lua" "$2" \
        >"$work/wrk.out"
    grep '^{' "$work/wrk.out"
}

# wrk_measure FIGURE TARGET MODE: the request of `bench-load --mode MODE` to TARGET, sent by wrk,
# measured like measure does.
wrk_measure() {
    local figure=$1 target=$2 mode=$3 request
    request=$work/$figure-$target.http
    # shellcheck disable=SC2046  # target_args is a word list
    set -- $(target_args "$target" 0) --mode "$mode"
    "$load_bin" "$@" --print-request true >"$request"
    echo "$figure/$target: wrk -t1 -c64 -d${wrk_seconds}s --timeout 5s -s wrk.lua http://${addr[$target]}/ (wrk.lua sends the request of bench-load $*)" >>"$commands"
    run_measured "$figure" "$target" run_wrk "$request" "http://${addr[$target]}/"
}

# --- mixed streams and requests ---------------------------------------------------------------

# start_half_streams DIR LABEL ARGS: two bench-loads with ARGS at once, the second streaming,
# writing DIR/plain.json and DIR/stream.json; sets plain_pid and stream_pid.
start_half_streams() {
    local dir=$1 label=$2 args=$3
    echo "$label (plain): bench-load $args" >>"$commands"
    echo "$label (stream, at the same time): bench-load $args --mode stream --expect-events 22" >>"$commands"
    # shellcheck disable=SC2086  # args is a word list
    "$load_bin" $args >"$dir/plain.json" 2>>"$work/load.err" &
    plain_pid=$!
    # shellcheck disable=SC2086
    "$load_bin" $args --mode stream --expect-events 22 >"$dir/stream.json" 2>>"$work/load.err" &
    stream_pid=$!
    started_pids+=("$plain_pid" "$stream_pid")
}

# mixed_load TARGET: c=64 for the run, half of it streams (two bench-loads of 32 connections at
# once), sampling the RSS every 0.2 s and the gateway's log queue (sample_log_figures); prints
# the two runs' figures merged, with the largest RSS and queue seen.
mixed_load() {
    local target=$1 args plain_pid stream_pid sampler_pid='' rss_max=0 kb
    local dir=$work/mixed-$target
    mkdir -p "$dir"
    args="$(target_args "$target" 0) --concurrency 32 --duration-s $mixed_seconds --warmup-s $warmup --timeout-ms 5000"
    start_half_streams "$dir" "mixed/$target" "$args"
    if [[ $target == gateway ]]; then
        sample_log_figures "${addr[gateway]}" "$dir/figures.json" &
        sampler_pid=$!
        started_pids+=("$sampler_pid")
    fi
    while kill -0 "$plain_pid" 2>/dev/null || kill -0 "$stream_pid" 2>/dev/null; do
        # shellcheck disable=SC2046  # memory_pids is a word list
        kb=$(rss_kb $(memory_pids "$target"))
        ((kb > rss_max)) && rss_max=$kb
        sleep 0.2
    done
    wait "$plain_pid" "$stream_pid" || true
    [[ -n $sampler_pid ]] && stop_process "$sampler_pid" 1
    python3 - "$dir" "$rss_max" <<'PY'
import json, sys
folder, rss_max = sys.argv[1], int(sys.argv[2])
def read(name):
    try:
        with open(f"{folder}/{name}") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}
plain, stream, figures = read("plain.json"), read("stream.json"), read("figures.json")
spilled = None
if figures.get("first") and figures.get("last"):
    spilled = figures["last"]["spilled"] - figures["first"]["spilled"]
merged = {"mode": "mixed", "plain": plain, "stream": stream, "rss_max_kb": rss_max,
          "queue_max": (figures.get("peak") or {}).get("queue"), "spilled": spilled}
for field in ("answered", "ok", "non_200", "errors", "lost_events", "incomplete"):
    merged[field] = plain.get(field, 0) + stream.get(field, 0)
merged["rps"] = plain.get("rps", 0) + stream.get("streams_per_s", 0)
merged["first_error"] = plain.get("first_error") or stream.get("first_error")
print(json.dumps(merged))
PY
}

# --- idle connections -------------------------------------------------------------------------

# idle_memory TARGET: the target's RSS, then $idle_connections keep-alive connections that each
# make one request and stay open, idle (bench-load --mode idle), and its RSS while they are held.
idle_memory() {
    local target=$1 args load_pid before held='' i out
    args="$(target_args "$target" 0) --mode idle --concurrency $idle_connections --hold-s 3 --timeout-ms 15000"
    echo "idle/$target: bench-load $args" >>"$commands"
    # shellcheck disable=SC2046  # memory_pids is a word list
    before=$(rss_kb $(memory_pids "$target"))
    : >"$work/idle-$target.err"
    # shellcheck disable=SC2086  # args is a word list
    "$load_bin" $args >"$work/idle-$target.json" 2>"$work/idle-$target.err" &
    load_pid=$!
    started_pids+=("$load_pid")
    for ((i = 0; i < 300; i++)); do
        grep -q '"event":"held"' "$work/idle-$target.err" && break
        kill -0 "$load_pid" 2>/dev/null || break
        sleep 0.1
    done
    if grep -q '"event":"held"' "$work/idle-$target.err"; then
        # Idle for 2 s: the last answers' buffers are freed and the gateway has parked the
        # connections (a read stays posted for 1 s after an answer); what stays is what an
        # idle connection holds.
        sleep 2
        # shellcheck disable=SC2046
        held=$(rss_kb $(memory_pids "$target"))
    fi
    wait "$load_pid" || true
    cat "$work/idle-$target.err" >>"$work/load.err"
    out=$(cat "$work/idle-$target.json")
    [[ $out == \{* ]] || out=null
    printf '{"figure":"idle","target":"%s","connections":%s,"kb_before":%s,"kb_held":%s,"load":%s}\n' \
        "$target" "$idle_connections" "$before" "${held:-null}" "$out" >>"$results"
}

# --- the log writer on PostgreSQL -------------------------------------------------------------

# The directory with PostgreSQL's initdb and pg_ctl, found as GPT_API_TESTS/pg_server.py and
# scripts/test.sh do (Debian keeps them in /usr/lib/postgresql/<N>/bin, the newest last here).
postgres_bindir() {
    local dir found=''
    for dir in /usr/local/bin "$(pg_config --bindir 2>/dev/null)" /usr/lib/postgresql/*/bin; do
        [[ -n $dir && -x $dir/initdb && -x $dir/pg_ctl ]] && { found=$dir; break; }
    done
    [[ -n $found ]] && echo "$found"
}

# A throwaway PostgreSQL (trust auth, synchronous_commit off: like the SQLite log's WAL with
# synchronous=NORMAL, a commit waits for no fsync) and a second gateway logging into it, under
# c=64 non-streaming for the run; then waits until every answered request has its row. Records
# the rows, the time from the load's start to the last row, and the CPU of the gateway's logging
# and database threads and of PostgreSQL's processes over that time.
postgres_log() {
    local bindir dir port as_postgres=() pg_pid pid addr args start rows=0 answered out i
    local split_before split_after pg_before pg_after elapsed_ms
    bindir=$(postgres_bindir) || {
        log "no PostgreSQL binaries (initdb, pg_ctl): no PostgreSQL column (apt-get install postgresql)"
        return
    }
    dir=$work/pg
    mkdir -p "$dir"
    if ((EUID == 0)); then
        # PostgreSQL refuses to run as root: as its own user (the package creates it).
        if ! id postgres >/dev/null 2>&1 || ! command -v runuser >/dev/null; then
            log "root, and no postgres user (or no runuser) to run PostgreSQL as: no PostgreSQL column"
            return
        fi
        chmod 711 "$work"
        chown postgres:postgres "$dir"
        as_postgres=(runuser -u postgres --)
    fi
    port=$(free_port)
    if ! "${as_postgres[@]}" "$bindir/initdb" -A trust -U postgres --no-sync -D "$dir/data" >"$dir/initdb.log" 2>&1 \
        || ! "${as_postgres[@]}" "$bindir/pg_ctl" start -w -l "$dir/server.log" -D "$dir/data" \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c synchronous_commit=off" >"$dir/pg_ctl.log" 2>&1; then
        tail -n 5 "$dir/initdb.log" "$dir/pg_ctl.log" "$dir/server.log" >&2 2>/dev/null || true
        log "PostgreSQL did not start: no PostgreSQL column"
        return
    fi
    pg_pid=$(head -n1 "$dir/data/postmaster.pid")
    started_pids+=("$pg_pid")
    local url="postgres://postgres@127.0.0.1:$port/postgres"
    sed -e "s#sqlite://$work/gpt_api.db#$url#" -e "s#$work/gpt_api.spill.jsonl#$dir/spill.jsonl#" \
        "$work/gateway.toml" >"$dir/gateway.toml"
    "$gateway_bin" --config "$dir/gateway.toml" >"$dir/gateway.log" 2>"$dir/gateway.err" &
    pid=$!
    started_pids+=("$pid")
    if addr=$(wait_listening "$dir/gateway.log" "$pid"); then
        args="--target $addr --model bench --concurrency 64 --duration-s $postgres_seconds --timeout-ms 5000"
        echo "postgres/gateway ([database] url = \"$url\"): bench-load $args" >>"$commands"
        # shellcheck disable=SC2207  # three numbers
        split_before=($(thread_ticks "$pid"))
        # shellcheck disable=SC2046  # the postmaster and its children
        pg_before=$(cpu_ticks "$pg_pid" $(children_of "$pg_pid"))
        start=$(date +%s%N)
        # shellcheck disable=SC2086  # args is a word list
        out=$("$load_bin" $args 2>>"$work/load.err") || true
        [[ $out == \{* ]] || out=null
        answered=$(json_get "$out" answered)
        for ((i = 0; i < 300; i++)); do
            rows=$(psql_count "$bindir" "$url")
            ((${rows:--1} >= ${answered:-0})) && break
            sleep 0.1
        done
        elapsed_ms=$((($(date +%s%N) - start) / 1000000))
        # shellcheck disable=SC2207
        split_after=($(thread_ticks "$pid"))
        # shellcheck disable=SC2046
        pg_after=$(cpu_ticks "$pg_pid" $(children_of "$pg_pid"))
        printf '{"figure":"postgres","target":"gateway","rows":%s,"elapsed_ms":%s,"log_ticks":%s,"db_ticks":%s,"postgres_ticks":%s,"server":"%s","load":%s}\n' \
            "$rows" "$elapsed_ms" "$((split_after[1] - split_before[1]))" "$((split_after[2] - split_before[2]))" \
            "$((pg_after - pg_before))" "$("$bindir/postgres" --version 2>/dev/null || echo postgres)" "$out" >>"$results"
    else
        tail -n 5 "$dir/gateway.log" "$dir/gateway.err" >&2 || true
        log "the gateway on PostgreSQL did not start: no PostgreSQL column"
    fi
    stop_process "$pid" 20
    "${as_postgres[@]}" "$bindir/pg_ctl" stop -m fast -w -D "$dir/data" >>"$dir/pg_ctl.log" 2>&1 || true
}

# Rows in request_logs of the PostgreSQL database at $2 (psql next to $1's binaries or on PATH);
# -1 when it cannot be read.
psql_count() {
    local psql=$1/psql
    [[ -x $psql ]] || psql=psql
    "$psql" -X -q -t -A -d "$2" -c "select count(*) from request_logs" 2>/dev/null || echo -1
}

# --- limits in fleet mode ---------------------------------------------------------------------

# The limited key through a second gateway (same config plus `[limits] redis_url`) that leases
# from a local Redis (Debian's redis-server, when installed): c=64, twice.
fleet_limits() {
    local redis_bin dir port redis_pid pid addr round before after out
    redis_bin=$(command -v redis-server) \
        || { log "no redis-server: no fleet-mode figure (apt-get install redis-server)"; return; }
    dir=$work/fleet
    mkdir -p "$dir"
    port=$(free_port)
    "$redis_bin" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
        >"$dir/redis.log" 2>&1 &
    redis_pid=$!
    started_pids+=("$redis_pid")
    wait_port "$port" || { log "redis-server did not start: no fleet-mode figure"; return; }
    sed -e "s#$work/gpt_api.db#$dir/gpt_api.db#" -e "s#$work/gpt_api.spill.jsonl#$dir/spill.jsonl#" \
        "$work/gateway.toml" >"$dir/gateway.toml"
    printf '\n[limits]\nredis_url = "redis://127.0.0.1:%s"\n' "$port" >>"$dir/gateway.toml"
    "$gateway_bin" --config "$dir/gateway.toml" >"$dir/gateway.log" 2>"$dir/gateway.err" &
    pid=$!
    started_pids+=("$pid")
    addr=$(wait_listening "$dir/gateway.log" "$pid") || { log "fleet gateway did not start"; return; }
    local args="--target $addr --model bench --concurrency 64 --api-key sk-bench-limited"
    args+=" --duration-s $seconds --warmup-s $warmup --timeout-ms 5000"
    echo "key-fleet/gateway (limits.redis_url set): bench-load $args" >>"$commands"
    for round in 1 2; do
        before=$(cpu_ticks "$pid")
        # shellcheck disable=SC2086  # args is a word list
        out=$("$load_bin" $args 2>>"$work/load.err") || true
        after=$(cpu_ticks "$pid")
        [[ $out == \{* ]] || out=null
        printf '{"figure":"key-fleet-%s","target":"gateway","cpu_ticks":%s,"load":%s}\n' \
            "$round" "$((after - before))" "$out" >>"$results"
    done
    stop_process "$pid" 20
    stop_process "$redis_pid" 5
}

log "targets: ${targets[*]} (${mode}); mock on $mock_addr"
record figure meta date "$(date -u +%Y-%m-%dT%H:%MZ)" mode "$mode" nproc "$(nproc)" \
    cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
    kernel "$(uname -sr)" rustc "$(rustc --version 2>/dev/null || echo unknown)" \
    nginx "$({ [[ -n $nginx_bin ]] && "$nginx_bin" -v 2>&1; } || echo none)" \
    wrk "$({ [[ -n $wrk_bin ]] && { "$wrk_bin" -v 2>&1 || true; } | head -n1; } || echo none)" \
    commit "$(git rev-parse --short HEAD 2>/dev/null || echo none)" \
    clk_tck "$(getconf CLK_TCK)" seconds "$seconds" warmup "$warmup" workers "$workers" \
    mock_driver "$(sed -n 's/.*"driver":"\([^"]*\)".*/\1/p' "$work/mock.log" | head -n1)" \
    gateway_driver "$(sed -n 's/.*"driver":"\([^"]*\)".*/\1/p' "$work/gateway.log" 2>/dev/null | head -n1)" \
    targets "${targets[*]}"
for target in nginx gateway; do
    [[ -n ${addr[$target]:-} ]] || continue
    # shellcheck disable=SC2046
    record figure rss_idle target "$target" kb "$(rss_kb $(memory_pids "$target"))"
done

# The log queue's depth over the whole run, sampled from the gateway's /metrics until it stops.
run_sampler_pid=
if [[ -n $gateway_pid ]]; then
    sample_log_figures "${addr[gateway]}" "$work/queue-run.json" &
    run_sampler_pid=$!
    started_pids+=("$run_sampler_pid")
fi

for target in "${targets[@]}"; do
    out=$(measure sanity "$target" 0 --requests 1 --duration-s 5 --timeout-ms 5000)
    [[ $(json_get "$out" ok) == 1 ]] || log "sanity request to $target failed: $out"
done

for concurrency in $sweep; do
    log "non-streaming, c=$concurrency"
    for target in "${targets[@]}"; do
        rows_before=-1
        [[ $target == gateway && $concurrency == 64 ]] && rows_before=$(db_rows "$work/gpt_api.db")
        out=$(measure "plain-c$concurrency" "$target" 0 --concurrency "$concurrency" \
            --duration-s "$seconds" --warmup-s "$warmup" --timeout-ms 5000)
        if ((rows_before >= 0)); then
            # The log writer's rate: this run's rows over the time until the last one is written.
            answered=$(json_get "$out" answered)
            answered=${answered:-0}
            drain_start=$(date +%s%N)
            for ((i = 0; i < 150; i++)); do
                rows=$(db_rows "$work/gpt_api.db")
                ((rows - rows_before >= answered)) && break
                sleep 0.1
            done
            record figure log_rate rows "$((rows - rows_before))" answered "$answered" \
                run_seconds "$(json_get "$out" seconds)" warmup "$warmup" \
                drain_ms "$((($(date +%s%N) - drain_start) / 1000000))"
        fi
    done
done

if [[ -n ${addr[gateway]:-} ]]; then
    log "limits: c=64 with the unlimited key, then the limited one (twice)"
    for round in 1 2; do
        for key in unlimited limited; do
            api_key=sk-bench
            [[ $key == limited ]] && api_key=sk-bench-limited
            measure "key-$key-$round" gateway 0 --concurrency 64 --api-key "$api_key" \
                --duration-s "$seconds" --warmup-s "$warmup" --timeout-ms 5000 >/dev/null
        done
    done
    log "limits in fleet mode: c=64 with the limited key through a gateway leasing from Redis"
    fleet_limits
fi

for concurrency in 1 64; do
    log "streaming, c=$concurrency"
    for target in "${targets[@]}"; do
        measure "stream-c$concurrency" "$target" 0 --mode stream --concurrency "$concurrency" \
            --duration-s "$seconds" --warmup-s "$warmup" --expect-events 22 --timeout-ms 5000 >/dev/null
    done
done

if [[ -n $wrk_bin ]]; then
    write_wrk_script
    for wrk_mode in plain stream; do
        log "wrk -t1 -c64, $wrk_mode"
        for target in "${targets[@]}"; do
            wrk_measure "wrk-$wrk_mode" "$target" "$wrk_mode" >/dev/null
        done
    done
fi

for target in nginx gateway; do
    [[ -n ${addr[$target]:-} ]] || continue
    log "mixed: c=64 through $target, half of it streams"
    run_measured mixed "$target" mixed_load "$target" >/dev/null
done

# Translated streams: the same c=64 stream step through the gateway with the client and the
# target in different dialects (decoded and re-encoded on the worker), beside the pass-through
# streams of each dialect, one after the other so that they share the machine's state; twice,
# each run half as long, the second round in reverse order, so that neither a drift in the
# machine's load (builds beside us) nor the place in the order (the first variant paid for
# the steps before it) lands on one dialect only.
# API:MODEL:EVENTS: chat streams translated for a chat client gain the role chunk the gateway
# opens them with (23); Gemini's carry no framing events (20: its last delta has the
# finishReason), Cohere's four (24).
if [[ -n $gateway_pid ]]; then
    variants=(chat:bench:22 chat:bench-anthropic:23 messages:bench:25 messages:bench-anthropic:25)
    what="chat and Messages clients on openai- and anthropic-kind targets"
    if [[ -n $new_kinds ]]; then
        variants+=(chat:bench-gemini:23 chat:bench-cohere:23 chat:bench-bedrock:23
            gemini:bench-gemini:20 cohere:bench-cohere:24)
        what+=", chat clients on gemini, cohere and bedrock, Gemini and Cohere clients on their own"
    fi
    log "translated streams, c=64, two rounds: $what"
    half=$(python3 -c "print($seconds / 2)")
    reversed=()
    for variant in "${variants[@]}"; do reversed=("$variant" "${reversed[@]}"); done
    for round in 1 2; do
        order=("${variants[@]}")
        [[ $round == 2 ]] && order=("${reversed[@]}")
        for variant in "${order[@]}"; do
            IFS=: read -r api model events <<<"$variant"
            figure=dialect-$api-$model-$round
            out=$(measure "$figure" gateway 0 --mode stream --api "$api" --model "$model" \
                --concurrency 64 --duration-s "$half" --warmup-s "$warmup" \
                --expect-events "$events" --timeout-ms 5000)
            [[ $(json_get "$out" incomplete)/$(json_get "$out" non_200)/$(json_get "$out" lost_events) == 0/0/0 ]] \
                || log "$figure: streams refused, incomplete or short: $out"
        done
    done
    python3 bench/report.py --translation "$results" >>"$results"
fi

for target in "${targets[@]}"; do
    for streams in $slow_steps; do
        log "slow streams: $streams held through $target"
        out=$(measure "slow-$streams" "$target" 1 --mode slow-streams --concurrency "$streams" \
            --expect-events 66 --gap-limit-ms 200 --ramp-ms $((500 + streams / 2)) --timeout-ms 15000)
        [[ $(json_get "$out" clean_streams) == "$streams" ]] || break
    done
done

for target in nginx gateway; do
    [[ -n ${addr[$target]:-} ]] || continue
    log "memory under load (c=32) of $target"
    measure_memory "$target" "$memory_seconds" 0.5 rss_load
done
# The soak writes about 1 KiB per request (access log, database, spill file when the writer lags).
free_kib=$(df -Pk "$work" | awk 'NR == 2 {print $4}')
if ((soak_seconds > 0)) && ((free_kib < 8 * 1024 * 1024)); then
    log "less than 8 GiB free in $work: no soak"
    soak_seconds=0
fi
if ((soak_seconds > 0)) && [[ -n $gateway_pid ]]; then
    log "soak: c=32 for ${soak_seconds}s through gateway"
    measure_memory gateway "$soak_seconds" 10 rss_soak
fi
sleep 2
for target in nginx gateway; do
    [[ -n ${addr[$target]:-} ]] || continue
    # shellcheck disable=SC2046
    record figure rss_after target "$target" kb "$(rss_kb $(memory_pids "$target"))"
done

for target in nginx gateway; do
    [[ -n ${addr[$target]:-} ]] || continue
    log "idle connections: $idle_connections held open to $target"
    idle_memory "$target"
done

if [[ -n $run_sampler_pid ]]; then
    stop_process "$run_sampler_pid" 1
    record figure queue_run figures "$(cat "$work/queue-run.json" 2>/dev/null || echo '{}')"
fi

if [[ -n $gateway_pid ]]; then
    log "stopping the gateway (SIGTERM drains its log)"
    stop_process "$gateway_pid" 20
    record figure log_total rows "$(db_rows "$work/gpt_api.db")" \
        access_lines "$(grep -c '"event":"access"' "$work/gateway.log" || true)" \
        spilled "$(sed -n 's/.*"event":"log_drained".*"spilled":\([0-9]*\).*/\1/p' "$work/gateway.log" | head -n1)" \
        replayed "$(sed -n 's/.*"event":"log_spill_replayed".*"rows":\([0-9]*\).*/\1/p' "$work/gateway.log" |
            awk '{ n += $1 } END { print n + 0 }')"
fi

# --- kill -9 under load -----------------------------------------------------------------------

# A second gateway (its own SQLite log and spill file, same settings) under c=64, half of it
# streams, killed with SIGKILL after $crash_seconds s while the load runs; then started again
# on the same files so that the spill file replays, and stopped. Records what the clients were
# answered (complete 200s) against the rows in the log.
crash_under_load() {
    local dir=$work/crash flush_ms=50 pid addr plain_pid stream_pid sampler_pid spilled rows_at_kill rows i
    local plain_ok stream_ok
    mkdir -p "$dir"
    sed -e "s#$work/gpt_api.db#$dir/gpt_api.db#" -e "s#$work/gpt_api.spill.jsonl#$dir/spill.jsonl#" \
        -e "/^\[database\]/a flush_interval_ms = $flush_ms" "$work/gateway.toml" >"$dir/gateway.toml"
    "$gateway_bin" --config "$dir/gateway.toml" >"$dir/gateway.log" 2>"$dir/gateway.err" &
    pid=$!
    started_pids+=("$pid")
    addr=$(wait_listening "$dir/gateway.log" "$pid") || { log "crash: gateway did not start"; return; }
    start_half_streams "$dir" crash \
        "--target $addr --model bench --concurrency 32 --duration-s $((crash_seconds + 2)) --timeout-ms 5000"
    sample_log_figures "$addr" "$dir/figures.json" &
    sampler_pid=$!
    started_pids+=("$sampler_pid")
    sleep "$crash_seconds"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    stop_process "$sampler_pid" 1
    wait "$plain_pid" "$stream_pid" || true
    spilled=0
    [[ -f $dir/spill.jsonl ]] && spilled=$(wc -l <"$dir/spill.jsonl")
    rows_at_kill=$(db_rows "$dir/gpt_api.db")
    "$gateway_bin" --config "$dir/gateway.toml" >"$dir/restart.log" 2>"$dir/restart.err" &
    pid=$!
    started_pids+=("$pid")
    if wait_listening "$dir/restart.log" "$pid" >/dev/null; then
        for ((i = 0; i < 600; i++)); do
            [[ -f $dir/spill.jsonl ]] || break
            sleep 0.1
        done
    else
        log "crash: the gateway did not start again"
    fi
    stop_process "$pid" 20
    rows=$(db_rows "$dir/gpt_api.db")
    plain_ok=$(json_get "$(cat "$dir/plain.json")" ok)
    stream_ok=$(json_get "$(cat "$dir/stream.json")" ok)
    record figure crash seconds "$crash_seconds" answered "$((${plain_ok:-0} + ${stream_ok:-0}))" \
        streams "${stream_ok:-0}" rows_at_kill "$rows_at_kill" spilled "$spilled" rows "$rows" \
        flush_interval_ms "$flush_ms" figures "$(cat "$dir/figures.json" 2>/dev/null || echo '{}')" \
        replayed "$(sed -n 's/.*"event":"log_spill_replayed".*"rows":\([0-9]*\).*/\1/p' "$dir/restart.log" | head -n1)"
}

if [[ -n $gateway_pid ]]; then
    log "kill -9 under load: c=64 (half streams) for ${crash_seconds}s, then restart to replay the spill"
    crash_under_load
fi

if [[ -n $gateway_pid ]]; then
    log "the log writer on PostgreSQL: c=64 for ${postgres_seconds}s through a gateway logging to a local PostgreSQL"
    postgres_log
fi

# --- report -----------------------------------------------------------------------------------

mkdir -p bench/results
report=bench/results/$(date -u +%Y-%m-%d)-$mode.md
python3 bench/report.py "$results" "$commands" >"$report"
cat "$report"
log "written to $report"
