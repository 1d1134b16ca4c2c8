#!/usr/bin/env bash
# Which of the 2-core machine's figures come from sharing two cores: the c=1 latency, c=64
# throughput with each side's CPU per request, and a c=32 soak (peak RSS, log queue, rows
# replayed), the mock reached directly, through nginx and through the gateway (the config of
# bench/threads.sh), first with every process confined to two CPUs (`taskset -c 0,1`, as on the
# development machine), then free on all of this machine's cores.
#
#   bench/cores.sh [SECONDS] [SOAK_SECONDS]    runs of SECONDS (default 5), soak (default 40)
#   bench/cores.sh --kit DIR                   copies what it runs into DIR, then exits
#   KIT=DIR bench/cores.sh ...                 runs every program from such a copy
#
# For a machine without nginx or the build (the device machine that bench/README.md
# mentions): `--kit` copies the release binaries, nginx and every shared library they load,
# the dynamic loader included, into DIR; with KIT=DIR each program starts through DIR's loader
# and libraries. Needs nginx (or a kit) and `taskset`. All traffic is on 127.0.0.1.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/nginx-proxy.sh"
source "$root/bench/helpers.sh"
programs=(gpt-api bench-mock bench-load)

if [[ ${1:-} == --kit ]]; then
    kit=${2:?usage: bench/cores.sh --kit DIR}
    mkdir -p "$kit/lib"
    for bin in "${programs[@]/#/$root/target/release/}" "$(command -v nginx)"; do
        cp "$bin" "$kit/"
        ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | xargs -r cp -L -t "$kit/lib"
        cp -L "$(ldd "$bin" | awk '$1 ~ /^\/.*ld-linux/ { print $1 }')" "$kit/ld.so"
    done
    echo "kit in $kit ($(du -sh "$kit" | cut -f1))"
    exit 0
fi

seconds=${1:-5}
soak_seconds=${2:-40}
confine=()
command -v taskset >/dev/null || { echo "taskset is missing: apt-get install util-linux" >&2; exit 1; }
[[ -n ${KIT:-} ]] || command -v nginx >/dev/null || {
    echo "nginx is missing: apt-get install nginx-light (or KIT=DIR, see the top of this file)" >&2
    exit 1
}

# launch NAME ARGS...: program NAME (one of $programs, or nginx), confined as $confine says.
# It execs, so that `launch ... &` leaves the program's own pid in $!: call it only in a
# subshell (`&` or `$(...)`).
launch() {
    local name=$1
    shift
    if [[ -n ${KIT:-} ]]; then
        exec "${confine[@]}" "$KIT/ld.so" --library-path "$KIT/lib" "$KIT/$name" "$@"
    elif [[ $name == nginx ]]; then
        exec "${confine[@]}" nginx "$@"
    else
        exec "${confine[@]}" "$root/target/release/$name" "$@"
    fi
}

# field NAME JSON: a number from bench-load's one-line result.
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$2"; }

tick_us=$((1000000 / $(getconf CLK_TCK)))

# phase TITLE: every step once, with mock, nginx and gateway started under $confine.
phase() {
    local work pids=() mock nginx_port nginx_pid gateway gateway_pid round target out answered
    work=$(mktemp -d /tmp/gpt-api-cores.XXXXXX)
    launch bench-mock --listen 127.0.0.1:0 --threads 2 --stream-chunks 20 \
        --stream-interval-ms 0 >"$work/mock.log" 2>&1 &
    pids+=($!)
    mock=$(wait_listening "$work/mock.log" $!)
    nginx_port=$((20000 + RANDOM % 20000))
    mkdir -p "$work/nginx"
    nginx_proxy_conf "$work/nginx" "$mock" "$nginx_port" 2 >"$work/nginx/nginx.conf"
    launch nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" &
    nginx_pid=$!
    pids+=("$nginx_pid")
    gateway_bench_toml "$work" "$mock" >"$work/gateway.toml"
    launch gpt-api --config "$work/gateway.toml" >"$work/gateway.log" 2>"$work/gateway.err" &
    gateway_pid=$!
    pids+=("$gateway_pid")
    gateway=$(wait_listening "$work/gateway.log" "$gateway_pid")
    sleep 1
    local -A args=(
        [direct]="--target $mock --path /v1/chat/completions"
        [nginx]="--target 127.0.0.1:$nginx_port --path /v1/chat/completions"
        [gateway]="--target $gateway --model bench"
    )
    echo "== $1"
    for round in 1 2; do
        local line="c=1, round $round, p50 / p99 (µs):" direct_p99=0
        for target in direct nginx gateway; do
            # shellcheck disable=SC2086  # args are word lists
            out=$(launch bench-load ${args[$target]} --concurrency 1 --duration-s "$seconds" --warmup-s 1)
            line+=" $target $(field p50_us "$out") / $(field p99_us "$out")"
            if [[ $target == direct ]]; then
                direct_p99=$(field p99_us "$out")
            else
                line+=" (p99 $(printf %+d $(($(field p99_us "$out") - direct_p99))))"
            fi
        done
        echo "$line"
    done
    for round in 1 2; do
        for target in nginx gateway; do
            local measured=("$gateway_pid")
            # shellcheck disable=SC2207  # pids
            [[ $target == nginx ]] && measured=($(pgrep -P "$nginx_pid"))
            thread_ticks "${measured[@]}" >"$work/before"
            # shellcheck disable=SC2086
            out=$(launch bench-load ${args[$target]} --concurrency 64 --duration-s "$seconds" --warmup-s 1)
            thread_ticks "${measured[@]}" >"$work/after"
            answered=$(field answered "$out")
            printf 'c=64, round %s, %s: %s req/s, p99 %s µs, CPU per request (µs, user in brackets):' \
                "$round" "$target" "$(field rps "$out")" "$(field p99_us "$out")"
            join "$work/before" "$work/after" | awk -v n="$answered" -v us="$tick_us" '
                { u = ($4 - $2) * us / n; t = u + ($5 - $3) * us / n; all += t; user += u
                  if (t >= 0.05) line = line sprintf(" %s %.1f [%.1f]", $1, t, u) }
                END { printf " %.1f [%.1f] =%s\n", all, user, line }'
        done
    done
    # shellcheck disable=SC2086
    launch bench-load ${args[gateway]} --concurrency 32 --duration-s "$soak_seconds" \
        --timeout-ms 5000 >"$work/soak.json" &
    local load=$! sampler rss_max queue_max
    sample_gateway "$gateway" "$gateway_pid" "$work/peaks" &
    sampler=$!
    wait "$load" || true
    kill "$sampler"
    wait "$sampler" 2>/dev/null || true
    sleep 3 # the log catches up before its replays are counted
    read -r rss_max queue_max <"$work/peaks"
    echo "soak, c=32 for ${soak_seconds} s through the gateway: $(field rps "$(cat "$work/soak.json")")" \
        "req/s, peak RSS $rss_max MiB, log queue at most $queue_max events, rows" \
        "replayed $(rows_replayed "$work/gateway.log") of $(grep -c '"event":"access"' "$work/gateway.log")"
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}

echo "$(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
confine=(taskset -c "0,1")
phase "every process on CPUs 0 and 1"
confine=()
phase "every process free on all $(nproc) CPUs"
