//! The same checks against a throwaway PostgreSQL: every column round-trips, a newer
//! schema is refused, and an outage under load loses nothing. Skipped without PostgreSQL.

use std::time::{Duration, Instant, UNIX_EPOCH};

use gpt_api_common::admin::{AdminQuery, UsageGroup, UsageQuery};

use crate::row::ResponseSummary;
use crate::start;
use crate::store::{OpenError, Store};
use gpt_api_common::record::RecordEvent;

use super::pg_server::PgServer;
use super::support::{
    bare_row, full_row, postgres_rows, record, row_of, runtime, settings, wait_for, TempDir,
};

#[test]
fn postgres_round_trip_newer_schema_and_outage() {
    let server = PgServer::start();
    let url = server.url();
    round_trip(&url);
    outage_loses_nothing(&server);
    newer_schema_is_refused(&url);
}

fn round_trip(url: &str) {
    let mut with_nul = record("nul");
    with_nul.model = Some("m\0".to_owned());
    let with_nul = row_of(with_nul, ResponseSummary::default(), true);
    let rows = vec![bare_row("b"), with_nul, full_row("a")];
    runtime().block_on(async {
        let store = Store::open(url).await.expect("open");
        store.insert(&rows).await.expect("insert");
        store.insert(&rows).await.expect("insert again");
        admin_queries(&store).await;
        store.close().await;
    });
    assert_eq!(postgres_rows(url), rows);
}

/// The admin queries' SQL on PostgreSQL (casts, timestamptz bounds) over the rows above.
async fn admin_queries(store: &Store) {
    let usage = AdminQuery::Usage(UsageQuery {
        group_by: UsageGroup::Key,
        since: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        until: None,
    });
    let body = crate::admin::answer(store, &usage).await.expect("usage");
    assert!(
        body.contains(
            "{\"group\":\"team-a\",\"requests\":2,\"errors\":1,\"prompt_tokens\":10,\
             \"completion_tokens\":20,\"total_tokens\":30,\"cost_usd\":0.0125}"
        ),
        "{body}"
    );
    assert!(
        body.contains("{\"group\":null,\"requests\":1,\"errors\":1,"),
        "{body}"
    );
    let spend = AdminQuery::KeySpend {
        key: "team-a".into(),
        // 2025-01-01: the full row (2025-01-31) counts, the 2023 record does not.
        since: UNIX_EPOCH + Duration::from_secs(1_735_689_600),
    };
    let body = crate::admin::answer(store, &spend).await.expect("spend");
    assert_eq!(body, "{\"usd\":0.0125,\"tokens\":30}");
}

/// Rows sent while the server is down are spilled, and replayed once it is back.
fn outage_loses_nothing(server: &PgServer) {
    let dir = TempDir::new("pg-outage");
    let mut settings = settings(server.url(), &dir);
    settings.memory_records = 50;
    let (sender, recorder) = start(settings).expect("start");
    let stats = recorder.stats();
    let send = |from: usize, to: usize| {
        for n in from..to {
            sender.send(RecordEvent::Request(Box::new(record(&format!(
                "outage-{n:05}"
            )))));
        }
    };
    send(0, 100);
    assert!(wait_for(Duration::from_secs(5), || stats.written() == 100));
    server.stop();
    send(100, 400);
    // Spilled once they waited `flush_interval`; unreachable once the write under way fails
    // (a connect attempt waits up to 3 s).
    assert!(wait_for(Duration::from_secs(10), || stats.spilled() >= 300
        && stats.buffered() == 0
        && !stats.connected()));
    server.resume();
    send(400, 500);
    assert!(
        wait_for(Duration::from_secs(15), || stats.written() == 500),
        "written {}",
        stats.written()
    );
    assert_eq!(stats.spilled(), 0);
    drop(sender);
    recorder.shutdown(Instant::now() + Duration::from_secs(10));
    let outage_rows = postgres_rows(&server.url())
        .iter()
        .filter(|row| row.id.starts_with("outage-"))
        .count();
    assert_eq!(outage_rows, 500);
}

fn newer_schema_is_refused(url: &str) {
    let message = runtime().block_on(async {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99990101000000, 'from the future', TRUE, '\\x00', 1)",
        )
        .execute(&pool)
        .await
        .expect("insert migration");
        pool.close().await;
        match Store::open(url).await {
            Err(OpenError::Fatal(message)) => message,
            _ => panic!("a newer schema must be refused"),
        }
    });
    assert!(message.contains("newer than this gpt-api"), "{message}");
}
