#!/usr/bin/env bash
# The console's request-log queries on a generated SQLite log of 10 million rows (issue 16):
# each filter of GET /admin/requests and one request's detail, timed with the indexes of
# migration 0004 and without them, plus the insert rate they cost. Reported, not asserted.
# Usage: bench/console.sh [ROWS]   (default 10000000; about 10 minutes on 2 cores, 4 GB of disk)
# BENCH_CONSOLE_DB=PATH keeps the generated log there for the next run (default: a temp file,
# removed afterwards). The table goes to stdout and bench/results/<date>-console.md.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS="${1:-10000000}"
DB="${BENCH_CONSOLE_DB:-$(mktemp -d)/console-bench.db}"
OUT="bench/results/$(date -u +%F)-console.md"
{
  echo "# Console queries on a ${ROWS}-row SQLite log"
  echo
  echo "$(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "Command: bench/console.sh ${ROWS}. Best of 3 per query; a page is 50 rows (51 read)."
  echo
  GPT_API_BENCH_ROWS="$ROWS" GPT_API_BENCH_DB="$DB" \
    cargo test --release -p gpt-api-recorder console_queries_on_a_ten_million_row_log -- --ignored --nocapture 2>/dev/null \
    | sed -n '/^generated\|^[0-9]* rows\|^|\|^insert/p'
} | tee "$OUT"
[ -n "${BENCH_CONSOLE_DB:-}" ] || rm -rf "$(dirname "$DB")"
