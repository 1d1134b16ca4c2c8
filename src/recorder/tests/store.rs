//! The SQLite store: every column round-trips, replays do not duplicate, WAL and 16 KiB pages
//! are on (an older file keeps its pages), the WAL is checkpointed by its own thread, a newer
//! schema and a bad URL are refused.

use std::time::Duration;

use sqlx::Row;

use crate::row::LogRow;
use crate::store::{Backend, OpenError, Store, SQLITE_PAGE_SIZE};

use super::support::{bare_row, full_row, runtime, sqlite_execute, sqlite_rows, wait_for, TempDir};

#[test]
fn every_column_round_trips_and_a_replay_does_not_duplicate() {
    let dir = TempDir::new("store");
    let url = dir.sqlite_url();
    let rows = vec![full_row("a"), bare_row("b"), full_row("c")];
    let runtime = runtime();
    runtime.block_on(async {
        let store = Store::open(&url).await.expect("open");
        store.insert(&rows).await.expect("insert");
        store.insert(&rows[1..]).await.expect("insert again");
        store.close().await;
    });
    let mut expected = rows.clone();
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(sqlite_rows(&url), expected);
}

#[test]
fn large_batches_are_split_into_statements() {
    let dir = TempDir::new("store-large");
    let url = dir.sqlite_url();
    let rows: Vec<_> = (0..2500).map(|n| bare_row(&format!("{n:05}"))).collect();
    runtime().block_on(async {
        let store = Store::open(&url).await.expect("open");
        store.insert(&rows).await.expect("insert");
        store.close().await;
    });
    assert_eq!(sqlite_rows(&url).len(), 2500);
}

#[test]
fn batches_of_every_size_land_once_with_their_own_values() {
    // Sizes that take each statement size alone, together, and with every remainder.
    let sizes = [1, 2, 3, 7, 8, 15, 17, 20, 63, 64, 65, 300];
    let batches: Vec<Vec<LogRow>> = sizes
        .iter()
        .enumerate()
        .map(|(batch, &size)| {
            (0..size)
                .map(|n| {
                    let tag = format!("{batch:02}-{n:03}");
                    if n % 3 == 0 {
                        bare_row(&tag)
                    } else {
                        full_row(&tag)
                    }
                })
                .collect()
        })
        .collect();
    let dir = TempDir::new("store-sizes");
    let url = dir.sqlite_url();
    runtime().block_on(async {
        let store = Store::open(&url).await.expect("open");
        for batch in &batches {
            let inserted = store.insert(batch).await.expect("insert");
            assert_eq!(inserted, batch.len() as u64);
        }
        // A replay, and a replay with new rows among the old (every statement size again).
        for batch in &batches {
            assert_eq!(store.insert(batch).await.expect("replay"), 0);
        }
        let mut mixed: Vec<LogRow> = batches[8].clone();
        mixed.extend((0..37).map(|n| full_row(&format!("new-{n:03}"))));
        assert_eq!(store.insert(&mixed).await.expect("mixed"), 37);
        store.close().await;
    });
    let mut expected: Vec<LogRow> = batches.into_iter().flatten().collect();
    expected.extend((0..37).map(|n| full_row(&format!("new-{n:03}"))));
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(sqlite_rows(&url), expected);
}

#[test]
fn sqlite_runs_in_wal_mode_with_large_pages() {
    let dir = TempDir::new("store-wal");
    let url = dir.sqlite_url();
    assert_eq!(pragma(&url, "journal_mode"), "wal");
    assert_eq!(pragma(&url, "page_size"), SQLITE_PAGE_SIZE.to_string());
}

/// The writer's commits no longer checkpoint the WAL (`wal_autocheckpoint` 0); the thread of
/// `checkpoint` copies the rows into the database file while the store is open.
#[test]
fn the_wal_is_copied_back_by_the_checkpoint_thread() {
    let dir = TempDir::new("store-checkpoint");
    let url = dir.sqlite_url();
    let file = dir.path().join("log.db");
    let rows: Vec<LogRow> = (0..2_000).map(|n| full_row(&format!("{n:05}"))).collect();
    runtime().block_on(async {
        let store = Store::open(&url).await.expect("open");
        let Store::Sqlite(pool, ..) = &store else {
            panic!("not sqlite")
        };
        let autocheckpoint: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(pool)
            .await
            .expect("pragma");
        assert_eq!(autocheckpoint, 0);
        let before = std::fs::metadata(&file).expect("database file").len();
        for batch in rows.chunks(256) {
            store.insert(batch).await.expect("insert");
        }
        // 2,000 rows take dozens of 16 KiB pages; only a checkpoint puts them in the file.
        let grown = wait_for(Duration::from_secs(5), || {
            std::fs::metadata(&file).map_or(0, |meta| meta.len()) > before + 20 * 16_384
        });
        assert!(grown, "the database file stayed at {before} bytes");
        store.close().await;
    });
    assert_eq!(sqlite_rows(&url).len(), rows.len());
}

/// A log made before the page size was set keeps its 4 KiB pages (SQLite cannot change them
/// in WAL mode) and goes on working.
#[test]
fn an_existing_sqlite_log_keeps_its_page_size() {
    let dir = TempDir::new("store-old-pages");
    let url = dir.sqlite_url();
    sqlite_execute(
        &format!("{url}?mode=rwc"),
        &[
            "PRAGMA page_size = 4096",
            "PRAGMA journal_mode = WAL",
            "CREATE TABLE t (x)",
        ],
    );
    // In the order `sqlite_rows` reads them back (by id).
    let rows = vec![bare_row("b"), full_row("a")];
    runtime().block_on(async {
        let store = Store::open(&url).await.expect("open");
        store.insert(&rows).await.expect("insert");
        store.close().await;
    });
    assert_eq!(pragma(&url, "page_size"), "4096");
    assert_eq!(sqlite_rows(&url), rows);
}

/// A pragma's value, as the store's connection reads it (as text).
fn pragma(url: &str, name: &str) -> String {
    runtime().block_on(async {
        let store = Store::open(url).await.expect("open");
        let Store::Sqlite(pool, ..) = &store else {
            panic!("not sqlite")
        };
        let row = sqlx::query(&format!(
            "SELECT CAST(p.{name} AS TEXT) FROM pragma_{name} p"
        ))
        .fetch_one(pool)
        .await
        .expect("pragma");
        store.close().await;
        row.get(0)
    })
}

/// The INSERTs are prepared on the connection and kept; closing the store finalizes them, or
/// SQLite would refuse to close the connection (its WAL file would stay behind).
#[test]
fn closing_after_inserts_really_closes_and_a_failed_insert_says_why() {
    let dir = TempDir::new("store-close");
    let url = dir.sqlite_url();
    let rows: Vec<_> = (0..11).map(|n| full_row(&format!("{n:02}"))).collect();
    runtime().block_on(async {
        let store = Store::open(&url).await.expect("open");
        assert_eq!(store.insert(&rows[..9]).await, Ok(9));
        let Store::Sqlite(pool, ..) = &store else {
            panic!("not sqlite")
        };
        sqlx::query("ALTER TABLE request_logs RENAME TO kept_aside")
            .execute(pool)
            .await
            .expect("rename");
        let error = store.insert(&rows[9..]).await.expect_err("no table");
        assert!(
            error.contains("error returned from database") && error.contains("request_logs"),
            "{error}"
        );
        sqlx::query("ALTER TABLE kept_aside RENAME TO request_logs")
            .execute(pool)
            .await
            .expect("rename back");
        assert_eq!(
            store.insert(&rows).await,
            Ok(2),
            "the statements are made again"
        );
        store.close().await;
    });
    assert!(
        !dir.path().join("log.db-wal").exists(),
        "the connection closed cleanly (SQLite removes the WAL file at the last close)"
    );
    assert_eq!(sqlite_rows(&url), rows);
}

#[test]
fn a_schema_newer_than_the_binary_is_refused() {
    let dir = TempDir::new("store-newer");
    let url = dir.sqlite_url();
    runtime().block_on(async { Store::open(&url).await.expect("open").close().await });
    sqlite_execute(
        &url,
        &["INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
           VALUES (99990101000000, 'from the future', TRUE, x'00', 1)"],
    );
    let Err(OpenError::Fatal(message)) = runtime().block_on(Store::open(&url)) else {
        panic!("a newer schema must be refused");
    };
    assert!(message.contains("newer than this gpt-api"), "{message}");
    assert!(message.contains("99990101000000"), "{message}");
}

#[test]
fn urls_pick_the_backend_or_are_refused() {
    assert_eq!(
        Backend::from_url("sqlite://gpt_api.db"),
        Ok(Backend::Sqlite)
    );
    assert_eq!(Backend::from_url("sqlite::memory:"), Ok(Backend::Sqlite));
    assert_eq!(
        Backend::from_url("postgres://u@h:5432/db"),
        Ok(Backend::Postgres)
    );
    assert_eq!(
        Backend::from_url("postgresql://u@h/db"),
        Ok(Backend::Postgres)
    );
    let refused = Backend::from_url("mysql://u:secret@h/db").expect_err("mysql");
    assert!(
        refused.contains("database.url") && refused.contains("\"mysql\""),
        "{refused}"
    );
    assert!(!refused.contains("secret"), "{refused}");
}

#[test]
fn an_sqlite_file_that_cannot_be_created_is_fatal() {
    let dir = TempDir::new("store-missing");
    let url = format!(
        "sqlite://{}",
        dir.path().join("no/such/dir/log.db").display()
    );
    assert!(matches!(
        runtime().block_on(Store::open(&url)),
        Err(OpenError::Fatal(_))
    ));
}
