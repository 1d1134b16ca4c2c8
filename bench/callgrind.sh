#!/usr/bin/env bash
# Instructions per request (or per stream) in each of the gateway's threads, counted by
# valgrind's callgrind: exact and repeatable whatever else the machine is doing, so a change of
# a few hundred instructions shows (CPU-time figures from scripts/bench.sh move ±15% between
# runs on a shared machine).
#
#   bench/callgrind.sh [plain|stream] [N] [OUT_DIR]
#
# Builds the profiling binaries (`cargo build --profile profiling`: release with line tables;
# GATEWAY_BIN=path measures another gateway binary), starts bench-mock, and runs the gateway
# (one worker, SQLite log with content on) under callgrind twice: once with WARMUP requests, once
# with WARMUP + N. The difference divided by N is what one request costs each thread, with
# start-up, warm-up and shut-down cancelled out. Prints one line per thread role and leaves the
# callgrind files of the larger run in OUT_DIR (default a temp dir) for callgrind_annotate.
# The workers run on the epoll driver: under valgrind 3.19 the io_uring probe never returns (the
# user-space path measured is the same but for the driver's own code).
# TARGET=nginx measures nginx instead, the same way (one process, `master_process off`, the
# bench's proxy settings, no access log): the floor a plain reverse proxy sets on the worker.
# Needs valgrind (apt-get install valgrind), and nginx for TARGET=nginx. All traffic is on
# 127.0.0.1.
set -euo pipefail

mode=${1:-plain}
count=${2:-2000}
root=$(cd "$(dirname "$0")/.." && pwd)
# The nginx reverse proxy of TARGET=nginx (shared with scripts/bench.sh).
source "$root/bench/nginx-proxy.sh"
source "$root/bench/helpers.sh"
out=${3:-$(mktemp -d /tmp/gpt-api-callgrind.XXXXXX)}
warmup=${WARMUP:-200}
mkdir -p "$out"
case $mode in
    plain) load_args=() ;;
    stream) load_args=(--mode stream --expect-events 22) ;;
    *) echo "mode must be plain or stream" >&2; exit 2 ;;
esac
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 1; }

target=${TARGET:-gpt-api}
cd "$root"
if [[ $target == nginx ]]; then
    gateway_bin=$(command -v nginx || echo /usr/sbin/nginx)
    [[ -x $gateway_bin ]] || { echo "nginx is missing: apt-get install nginx-light" >&2; exit 1; }
elif [[ -z ${GATEWAY_BIN:-} ]]; then
    cargo build --profile profiling -p gpt-api --quiet
    gateway_bin=$root/target/profiling/gpt-api
else
    gateway_bin=$GATEWAY_BIN
fi
cargo build --release -p gpt-api-bench --quiet
mock_bin=$root/target/release/bench-mock
load_bin=$root/target/release/bench-load

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

"$mock_bin" --listen 127.0.0.1:0 --threads 1 --stream-chunks 20 --stream-interval-ms 0 \
    >"$out/mock.log" 2>&1 &
pids+=($!)

mock_addr=$(wait_listening "$out/mock.log" "${pids[-1]}")

# start_nginx DIR: nginx under callgrind in the background (its pid last in pids), its address
# on stdout.
start_nginx() {
    local dir=$1 port i
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    {
        cat <<EOF
master_process off;
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
EOF
        nginx_http_block "$dir" "$mock_addr" "127.0.0.1:$port"
    } >"$dir/nginx.conf"
    valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$gateway_bin" -p "$dir" \
        -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/gateway.log" 2>"$dir/valgrind.err" &
    nginx_pid=$!
    pids+=("$nginx_pid")
    for ((i = 0; i < 300; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            nginx_addr=127.0.0.1:$port
            return 0
        fi
        sleep 0.2
    done
    echo "nginx did not start under callgrind: see $dir/error.log" >&2
    return 1
}

# run REQUESTS DIR: the gateway under callgrind, REQUESTS sent, stopped; callgrind files in DIR.
run() {
    local requests=$1 dir=$2 gateway address
    mkdir -p "$dir"
    rm -f "$dir"/cg.out* "$dir"/gpt_api.db*
    if [[ $target == nginx ]]; then
        start_nginx "$dir"
        "$load_bin" --target "$nginx_addr" --model bench "${load_args[@]}" \
            --concurrency 4 --threads 1 --requests "$requests" --duration-s 600 \
            --timeout-ms 60000 >"$dir/load.json"
        kill -QUIT "$nginx_pid"
        wait "$nginx_pid" || true
        return
    fi
    cat >"$dir/gateway.toml" <<EOF
[server]
listen = "127.0.0.1:0"
workers = 1
pin_cores = false

[database]
url = "sqlite://$dir/gpt_api.db"
store_content = true

[[upstream]]
name = "mock"
base_url = "http://$mock_addr/v1"
api_key = "sk-mock"

[[model]]
name = "bench"
targets = [{ upstream = "mock" }]
EOF
    GPT_API_DRIVER=legacy valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$dir/cg.out" \
        "$gateway_bin" --config "$dir/gateway.toml" >"$dir/gateway.log" 2>"$dir/valgrind.err" &
    gateway=$!
    pids+=("$gateway")
    "$load_bin" --target "$(wait_listening "$dir/gateway.log" "$gateway" 60)" --model bench "${load_args[@]}" \
        --concurrency 4 --threads 1 --requests "$requests" --duration-s 600 --timeout-ms 60000 \
        >"$dir/load.json"
    kill -TERM "$gateway"
    wait "$gateway" || true
}

# Instructions by thread role in DIR's callgrind files, as "WORKER LOGGING DATABASE": a thread's
# role is told by the code it ran (the database's are sqlx's SQLite worker and the thread that
# hands it rows).
role_totals() {
    local dir=$1 file total worker=0 logging=0 database=0
    # nginx's one process (one file, no threads) is its worker.
    local files=("$dir"/cg.out-*)
    [[ $target == nginx ]] && files=("$dir/cg.out")
    for file in "${files[@]}"; do
        total=$(sed -n 's/^totals: *//p; s/^summary: *//p' "$file" | head -n1)
        if [[ $target == nginx ]] || grep -q 'handler..handle' "$file"; then
            worker=$((worker + total))
        elif grep -q 'recorder..writer' "$file"; then
            logging=$((logging + total))
        elif grep -q 'sqlite3\|sqlx_sqlite' "$file"; then
            database=$((database + total))
        fi
    done
    echo "$worker $logging $database"
}

run "$warmup" "$out/warmup"
run $((warmup + count)) "$out"
read -r -a small <<<"$(role_totals "$out/warmup")"
read -r -a large <<<"$(role_totals "$out")"
echo "per ${mode/plain/request} (instructions; $count after $warmup warm-up, $(basename "$gateway_bin")):"
roles=(worker logging database)
for i in 0 1 2; do
    printf '  %-9s %8d\n' "${roles[i]}" $(((large[i] - small[i]) / count))
done
echo "callgrind files: $out/cg.out*; bench-load's results: $out/load.json"
