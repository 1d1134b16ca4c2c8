#!/usr/bin/env bash
# User and system CPU time per request (or per stream) in each thread, the gateway and nginx
# side by side under the same load, alternating: where the real time goes, cache misses and
# the kernel included (bench/callgrind.sh counts user-space instructions only, and the two
# disagree: at equal instructions the gateway's logging threads cost more time per
# instruction, reading what the workers wrote on another core).
#
#   [CONCURRENCY=64] bench/threads.sh [plain|stream] [SECONDS] [ROUNDS]
#
# Starts bench-mock, nginx (the bench's proxy config) and the gateway (2 workers, SQLite log
# with content on; GATEWAY_BIN=path measures another binary), then for each round runs
# bench-load at c=64 for SECONDS against nginx, then the gateway, and prints the
# throughput, p50/p99 and each thread's user and system µs per request (from
# /proc/PID/task/*/stat, warm-up included in both counts), how many of the gateway's rows were
# not yet in the database when its run ended (the log's lag: its threads' CPU per request
# counts only the work done by then, so it reads low when the lag is large), its peak RSS and
# log queue depth, and the rows the gateway replayed from its spill file (CONCURRENCY=32 and a
# minute or more: the soak of scripts/bench.sh, binary against binary). PERF=1 also records
# each gateway run with `perf record` (cpu-clock, DWARF call graphs) into OUT_DIR (default a
# temp dir), for `perf report --comm gpt-api-log`.
# SCHED=1 instead records the scheduler (`perf sched record`, every run) and prints how long
# the workers waited for a CPU once woken, and which task held it when they waited over
# 0.1 ms, then the same count for the mock's and the load generator's threads with them
# (CONCURRENCY=1 SCHED=1: where the c=1 latency tail comes from).
# Needs nginx, and perf for PERF=1. All traffic is on 127.0.0.1.
set -euo pipefail

mode=${1:-plain}
seconds=${2:-5}
rounds=${3:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/nginx-proxy.sh"
source "$root/bench/helpers.sh"
gateway_bin=${GATEWAY_BIN:-$root/target/release/gpt-api}
out=${OUT_DIR:-$(mktemp -d /tmp/gpt-api-threads.XXXXXX)}
mkdir -p "$out"
work=$(mktemp -d /tmp/gpt-api-threads-run.XXXXXX)
case $mode in
    plain) load_args=() ;;
    stream) load_args=(--mode stream --expect-events 22) ;;
    *) echo "mode must be plain or stream" >&2; exit 2 ;;
esac
command -v nginx >/dev/null || { echo "nginx is missing: apt-get install nginx-light" >&2; exit 1; }
cargo build --release -p gpt-api-bench --quiet --manifest-path "$root/Cargo.toml"

pids=()
cleanup() {
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$root/target/release/bench-mock" --listen 127.0.0.1:0 --threads "$(nproc)" --stream-chunks 20 \
    --stream-interval-ms 0 >"$work/mock.log" 2>&1 &
pids+=($!)
mock=$(wait_listening "$work/mock.log" "${pids[-1]}")

nginx_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx"
nginx_proxy_conf "$work/nginx" "$mock" "$nginx_port" 2 >"$work/nginx/nginx.conf"
nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
pids+=("$nginx_pid")

gateway_bench_toml "$work" "$mock" >"$work/gateway.toml"
"$gateway_bin" --config "$work/gateway.toml" >"$work/gateway.log" 2>"$work/gateway.err" &
gateway_pid=$!
pids+=("$gateway_pid")
gateway=$(wait_listening "$work/gateway.log" "$gateway_pid")
sleep 0.5

# wakeups DATA WORKER: from a `perf sched record`, how long the threads named WORKER* waited
# for a CPU once woken (percentiles), and which task held the CPU when that wait passed 0.1 ms;
# then the same count for every thread of a request's path (WORKER*, the mock's and the load
# generator's threads: at c=1 each waits its turn in the chain).
wakeups() {
    perf sched timehist -i "$1" 2>/dev/null | python3 -c 'import collections, sys
worker = sys.argv[1]
path = (worker, "mock-", "load-")
before, delays, holders = {}, [], collections.Counter()
path_waits, path_holders = collections.Counter(), collections.Counter()
for line in sys.stdin:
    fields = line.split()
    if len(fields) < 6 or not fields[0][0].isdigit():
        continue
    cpu, task = fields[1], fields[2]
    if task.startswith(path):
        delay = float(fields[-2])
        holder = before.get(cpu, "?").rsplit("[", 1)[0]
        if task.startswith(worker):
            delays.append(delay)
            if delay > 0.1:
                holders[holder] += 1
        if delay > 0.1:
            path_waits["workers" if task.startswith(worker) else task.split("-")[0]] += 1
            path_holders[holder] += 1
    before[cpu] = task
delays.sort()
if delays:
    at = lambda q: delays[min(int(len(delays) * q), len(delays) - 1)] * 1000
    print(f"   {worker} wake-ups {len(delays)}: waited p50 {at(0.5):.0f} µs, p99 {at(0.99):.0f}, "
          f"max {delays[-1] * 1000:.0f}; over 0.1 ms {sum(holders.values())} times, the CPU held by "
          + ", ".join(f"{task} {n}" for task, n in holders.most_common(5)))
print(f"   the whole path waited over 0.1 ms {sum(path_waits.values())} times ("
      + ", ".join(f"{name} {n}" for name, n in path_waits.most_common()) + "), the CPU held by "
      + ", ".join(f"{task} {n}" for task, n in path_holders.most_common(5)))' "$2"
}

tick_us=$((1000000 / $(getconf CLK_TCK)))
for round in $(seq "$rounds"); do
    for target in nginx gateway; do
        if [[ $target == nginx ]]; then
            # shellcheck disable=SC2207  # pids
            measured=($(pgrep -P "$nginx_pid"))
            args=(--target "127.0.0.1:$nginx_port" --path /v1/chat/completions)
        else
            measured=("$gateway_pid")
            args=(--target "$gateway" --model bench)
        fi
        thread_ticks "${measured[@]}" >"$work/before"
        perf_pid=
        if [[ -n ${SCHED:-} ]]; then
            perf sched record -o "$out/sched-$target-$round.data" -- sleep "$((seconds + 1))" \
                >/dev/null 2>&1 &
            perf_pid=$!
        elif [[ $target == gateway && -n ${PERF:-} ]]; then
            perf record -F 499 --call-graph dwarf,16384 -o "$out/perf-$mode-$round.data" \
                -p "$gateway_pid" -- sleep "$((seconds + 1))" >/dev/null 2>&1 &
            perf_pid=$!
        fi
        sampler=
        if [[ $target == gateway ]]; then
            sample_gateway "$gateway" "$gateway_pid" "$work/peaks" &
            sampler=$!
        fi
        result=$("$root/target/release/bench-load" "${args[@]}" --concurrency "${CONCURRENCY:-64}" \
            --duration-s "$seconds" --warmup-s 1 "${load_args[@]}")
        thread_ticks "${measured[@]}" >"$work/after"
        if [[ -n $sampler ]]; then kill "$sampler"; wait "$sampler" 2>/dev/null || true; fi
        if [[ $target == gateway ]]; then
            # Rows in the database now and once the log has caught up (it writes within 2 s).
            written_at_end=$(db_rows "$work/gpt_api.db")
            sleep 2
            written_later=$(db_rows "$work/gpt_api.db")
        fi
        if [[ -n $perf_pid ]]; then wait "$perf_pid" || true; fi
        answered=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["answered"])' "$result")
        python3 -c 'import json, sys
d = json.loads(sys.argv[1])
rate = d.get("rps") or d.get("streams_per_s")
p50, p99 = d.get("p50_us") or d.get("ttft_p50_us"), d.get("p99_us") or d.get("ttft_p99_us")
print(f"== round {sys.argv[2]}, {sys.argv[3]}: {rate}/s, p50 {p50} µs, p99 {p99} µs")' \
            "$result" "$round" "$target"
        [[ -n ${SCHED:-} ]] && wakeups "$out/sched-$target-$round.data" \
            "$([[ $target == nginx ]] && echo nginx || echo gpt-api-worker)"
        join "$work/before" "$work/after" | awk -v n="$answered" -v us="$tick_us" '
            { u = ($4 - $2) * us / n; s = ($5 - $3) * us / n; tu += u; ts += s
              if (u + s > 0) printf "   %-18s user %6.2f  system %6.2f  µs each\n", $1, u, s }
            END { printf "   %-18s user %6.2f  system %6.2f  = %6.2f µs each\n", "all", tu, ts, tu + ts }'
        if [[ $target == gateway ]]; then
            read -r rss_max queue_max <"$work/peaks"
            echo "   peak RSS $rss_max MiB, log queue at most $queue_max events (sampled every 0.5 s)"
            echo "   log rows not yet in the database at the end of the run: $((written_later - written_at_end))"
        fi
    done
done
echo "gateway rows replayed from its spill file: $(rows_replayed "$work/gateway.log") of $(grep -c '"event":"access"' "$work/gateway.log")"
[[ -n ${PERF:-} ]] && echo "perf data in $out"
exit 0
