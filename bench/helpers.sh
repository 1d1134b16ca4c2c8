# Sourced by scripts/bench.sh, bench/callgrind.sh, bench/threads.sh and bench/cores.sh: what a
# bench run asks of the servers it started in the background, and the gateway config that
# threads.sh and cores.sh measure.

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

# gateway_bench_toml DIR MOCK PIN_CORES: the config of the gateway that bench/threads.sh and
# bench/cores.sh measure: 2 workers, the SQLite log with content on (database and spill file in
# DIR), one upstream (the mock at MOCK), key sk-bench, model bench.
gateway_bench_toml() {
    cat <<TOML
[server]
listen = "127.0.0.1:0"
workers = 2
pin_cores = $3
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
