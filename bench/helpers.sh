# Sourced by scripts/bench.sh, bench/callgrind.sh, bench/threads.sh and bench/cores.sh: what a
# bench run asks of the servers it started in the background, and the gateway that threads.sh
# and cores.sh measure: its config, its threads' CPU time, its peaks and its replayed rows.

# wait_listening FILE PID [SECONDS]: the addr of the first {"event":"listening"} line in FILE
# (the mock's or the gateway's log), once it is there (within SECONDS, default 15); fails at
# once if process PID has ended.
wait_listening() {
    local file=$1 pid=$2 limit=${3:-15} i addr
    for ((i = 0; i < limit * 10; i++)); do
        addr=$(grep -m1 '"event":"listening"' "$file" 2>/dev/null |
            sed -n 's/.*"addr":"\([^"]*\)".*/\1/p') || true
        if [[ -n $addr ]]; then echo "$addr"; return 0; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "no listening line in $file" >&2
    return 1
}

# db_rows FILE: the rows in the SQLite log database FILE (read beside the gateway's writer, in
# WAL mode), -1 if it cannot be read.
db_rows() {
    python3 - "$1" <<'PY' 2>/dev/null || echo -1
import sqlite3, sys
print(sqlite3.connect(sys.argv[1], timeout=5).execute("select count(*) from request_logs").fetchone()[0])
PY
}

# gateway_bench_toml DIR MOCK: the config of the gateway that bench/threads.sh and
# bench/cores.sh measure: 2 workers, the SQLite log with content on (database and spill file in
# DIR), one upstream (the mock at MOCK), key sk-bench, model bench.
gateway_bench_toml() {
    cat <<TOML
[server]
listen = "127.0.0.1:0"
workers = 2
pin_cores = false
max_connections = 16384

[database]
url = "sqlite://$1/gpt_api.db"
store_content = true
spill_path = "$1/spill.jsonl"

[[upstream]]
name = "mock"
base_url = "http://$2/v1"
api_key = "sk-mock"

[[client_key]]
name = "bench"
key = "sk-bench"

[[model]]
name = "bench"
targets = [{ upstream = "mock" }]
TOML
}

# thread_ticks PID...: "thread-name utime stime" (clock ticks), summed by thread name.
thread_ticks() {
    local pid task
    for pid in "$@"; do
        for task in /proc/"$pid"/task/*; do cut -d' ' -f2,14,15 "$task/stat"; done
    done | awk '{ u[$1] += $2; s[$1] += $3 } END { for (t in u) print t, u[t], s[t] }' | sort
}

# sample_gateway ADDR PID FILE: until killed or the gateway ends, writes "peak-RSS-MiB largest-log-queue" of the
# gateway (pid PID, /metrics at ADDR) to FILE every 0.5 s. Plain bash (/dev/tcp, no curl or
# Python), for machines that have neither.
sample_gateway() {
    local addr=$1 pid=$2 file=$3 rss rss_max=0 queue queue_max=0
    while kill -0 "$pid" 2>/dev/null; do
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status") || break
        ((rss > rss_max)) && rss_max=$rss
        queue=$({
            exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}"
            printf 'GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n' >&3
            cat <&3
        } 2>/dev/null | awk '$1 == "gpt_api_log_queue_depth" { print $2 }') || true
        ((${queue:-0} > queue_max)) && queue_max=$queue
        echo "$((rss_max / 1024)) $queue_max" >"$file.tmp" && mv "$file.tmp" "$file"
        sleep 0.5
    done
}

# rows_replayed LOG: the log rows the gateway whose stdout is LOG replayed from its spill file.
rows_replayed() {
    sed -n 's/.*"event":"log_spill_replayed".*"rows":\([0-9]*\).*/\1/p' "$1" |
        awk '{ n += $1 } END { print n + 0 }'
}
