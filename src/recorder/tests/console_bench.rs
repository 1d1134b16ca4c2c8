//! The console's request-log queries on a generated 10-million-row SQLite log, with the
//! indexes of migration 0004 and without them: a timing, not a test (`bench/console.sh`).

use super::support::{full_row, runtime, TempDir};
use crate::store::Store;

/// The request-log queries on a generated 10-million-row SQLite log, with the indexes of
/// migration 0004 and without them. A timing, not a test: run by `bench/console.sh`
/// (`GPT_API_BENCH_ROWS` rows, default 10 million; `GPT_API_BENCH_DB` keeps the file for
/// the next run). Prints a Markdown table.
#[test]
#[ignore = "a benchmark: bench/console.sh runs it"]
fn console_queries_on_a_ten_million_row_log() {
    let rows: u64 = std::env::var("GPT_API_BENCH_ROWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000_000);
    let dir = TempDir::new("console-bench");
    let path = std::env::var("GPT_API_BENCH_DB")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| dir.path().join("log.db"));
    let url = format!("sqlite://{}", path.display());
    runtime().block_on(async {
        let store = Store::open(&url).await.expect("open");
        let Store::Sqlite(pool, ..) = &store else {
            unreachable!("an SQLite URL")
        };
        let (present,): (i64,) = sqlx::query_as("SELECT count(*) FROM request_logs")
            .fetch_one(pool)
            .await
            .unwrap();
        if present as u64 != rows {
            let started = std::time::Instant::now();
            bench::generate(pool, rows).await;
            println!(
                "generated {rows} rows in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        println!("{rows} rows, {:.2} GB file\n", size as f64 / 1e9);
        println!("| query | with 0004 indexes (ms) | without (ms) | rows |");
        println!("| --- | ---: | ---: | ---: |");
        let with = bench::time_queries(&store).await;
        bench::drop_indexes(pool).await;
        let without = bench::time_queries(&store).await;
        bench::create_indexes(pool).await;
        for ((name, with_ms, found), (_, without_ms, _)) in with.iter().zip(&without) {
            println!("| `{name}` | {with_ms:.1} | {without_ms:.1} | {found} |");
        }
        let (with_insert, without_insert) = bench::insert_rates(&store).await;
        println!(
            "\ninsert, 64-row batches onto the full table: {with_insert:.0} rows/s with the \
             indexes, {without_insert:.0} rows/s without"
        );
        store.close().await;
    });
}

mod bench {

    use std::time::Instant;

    use sqlx::SqlitePool;

    use crate::console::{detail, page};
    use crate::store::Store;
    /// Microseconds between generated rows (`i * 100000` in the SQL).
    const STEP_US: i64 = 100_000;

    /// One row every 100 ms (11.6 days for 10 million rows), ending now: 20 keys (one,
    /// `rare-key`, on 1 row in 100,000), 10 models, 5 upstreams, 2% errors of three kinds.
    pub(super) async fn generate(pool: &SqlitePool, rows: u64) {
        sqlx::query("DELETE FROM request_logs")
            .execute(pool)
            .await
            .unwrap();
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64;
        let start_us = now_us - rows as i64 * STEP_US;
        let sql = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 - 1)
            INSERT INTO request_logs (id, created_at, client_key, endpoint, model, upstream,
              upstream_model, stream, status, tried, error, latency_ms, ttft_ms, prompt_tokens,
              completion_tokens, total_tokens, finish_reason, request_body, response_content,
              attempts)
            SELECT printf('%016x%016x', ?2 + i * 100000, i),
              strftime('%Y-%m-%dT%H:%M:%f000Z', (?2 + i * 100000) / 1000000.0, 'unixepoch'),
              CASE WHEN i % 100000 = 77 THEN 'rare-key' ELSE 'team-' || (i % 19) END,
              CASE WHEN i % 10 = 0 THEN '/v1/embeddings' ELSE '/v1/chat/completions' END,
              'model-' || (i % 10), 'upstream-' || (i % 5), 'model-' || (i % 10),
              i % 2, CASE WHEN i % 50 = 1 THEN 502 WHEN i % 50 = 2 THEN 429
                WHEN i % 100 = 3 THEN 400 ELSE 200 END,
              '[\"upstream-' || (i % 5) || '/model-' || (i % 10) || '\"]',
              CASE WHEN i % 50 = 1 THEN 'All upstreams failed for model ''model-' || (i % 10)
                  || '''. Last error: upstream returned 503'
                WHEN i % 50 = 2 THEN 'Rate limit reached for key'
                WHEN i % 100 = 3 THEN 'invalid_json: unexpected ''}'' at byte ' || (i % 977) END,
              20 + (i * 7919) % 3000, 5 + (i * 104729) % 800, 50 + i % 400, 20 + i % 300,
              70 + i % 400 + i % 300, 'stop',
              '{\"model\":\"model-' || (i % 10) || '\",\"messages\":[{\"role\":\"user\",\"content\":\"question ' || i || '\"}]}',
              'An answer of a few words, number ' || i,
              '[]'
            FROM n";
        // In slices of a million: one recursive CTE of 10 million holds its rows in memory.
        let slice = 1_000_000u64;
        let mut from = 0;
        while from < rows {
            let count = slice.min(rows - from);
            sqlx::query(sql)
                .bind(count as i64)
                .bind(start_us + from as i64 * STEP_US)
                .execute(pool)
                .await
                .unwrap();
            from += count;
        }
        sqlx::query("ANALYZE").execute(pool).await.unwrap();
    }

    /// (query, best of 3 in ms, rows found).
    pub(super) async fn time_queries(store: &Store) -> Vec<(String, f64, usize)> {
        let Store::Sqlite(pool, ..) = store else {
            unreachable!()
        };
        let (middle,): (String,) = sqlx::query_as(
            "SELECT id FROM request_logs ORDER BY id LIMIT 1 OFFSET (SELECT count(*) / 2 FROM request_logs)",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        let (newest,): (String,) = sqlx::query_as("SELECT max(id) FROM request_logs")
            .fetch_one(pool)
            .await
            .unwrap();
        let day_ago = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 86_400;
        let queries = [
            "limit=50".to_owned(),
            format!("limit=50&before={middle}"),
            "key=team-3".to_owned(),
            "key=rare-key".to_owned(),
            "model=model-7".to_owned(),
            "upstream=upstream-2".to_owned(),
            "status=502".to_owned(),
            "status=5xx".to_owned(),
            "status=error".to_owned(),
            "endpoint=/v1/embeddings".to_owned(),
            format!("since={}&until={}", day_ago - 3600, day_ago),
            "key=team-3&status=502".to_owned(),
            "error=upstream returned 503".to_owned(),
            "error=byte 976".to_owned(),
        ];
        let mut out = Vec::new();
        for query in queries {
            let filter = super::super::console::filter(&query);
            let mut best = f64::MAX;
            let mut found = 0;
            for _ in 0..3 {
                let started = Instant::now();
                let answer = page(store, &filter).await.unwrap();
                best = best.min(started.elapsed().as_secs_f64() * 1000.0);
                found = answer.matches("\"id\":").count();
            }
            out.push((format!("GET /admin/requests?{query}"), best, found));
        }
        let started = Instant::now();
        let one = detail(store, &newest).await.unwrap();
        let detail_ms = started.elapsed().as_secs_f64() * 1000.0;
        out.push((
            "GET /admin/requests/{id}".to_owned(),
            detail_ms,
            usize::from(one.is_some()),
        ));
        out
    }

    const INDEXES: [(&str, &str); 2] = [
        ("request_logs_client_key_id", "client_key, id"),
        ("request_logs_errors_id", "id) WHERE (error IS NOT NULL"),
    ];

    pub(super) async fn drop_indexes(pool: &SqlitePool) {
        for (name, _) in INDEXES {
            let sql = format!("DROP INDEX IF EXISTS {name}");
            sqlx::query(&sql).execute(pool).await.unwrap();
        }
    }

    pub(super) async fn create_indexes(pool: &SqlitePool) {
        for (name, columns) in INDEXES {
            let sql = format!("CREATE INDEX IF NOT EXISTS {name} ON request_logs ({columns})");
            sqlx::query(&sql).execute(pool).await.unwrap();
        }
    }

    /// Rows per second through `Store::insert` in 64-row batches (the log's own batches),
    /// with the indexes and without; the rows are removed again.
    pub(super) async fn insert_rates(store: &Store) -> (f64, f64) {
        let Store::Sqlite(pool, ..) = store else {
            unreachable!()
        };
        let mut rates = Vec::new();
        for (round, indexed) in [(0, true), (1, false)] {
            if !indexed {
                drop_indexes(pool).await;
            }
            let rows: Vec<_> = (0..50_000)
                .map(|n| {
                    let mut row = super::full_row(&format!("{round}-{n}"));
                    row.id = format!("ffffffffffff{round}{n:019}");
                    row
                })
                .collect();
            let started = Instant::now();
            for batch in rows.chunks(64) {
                store.insert(batch).await.unwrap();
            }
            rates.push(rows.len() as f64 / started.elapsed().as_secs_f64());
            sqlx::query("DELETE FROM request_logs WHERE id >= 'ffffffffffff'")
                .execute(pool)
                .await
                .unwrap();
        }
        create_indexes(pool).await;
        (rates[0], rates[1])
    }
}
