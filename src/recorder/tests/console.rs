//! The console's reads: pages newest first, each filter, paging by id, one request whole,
//! on SQLite and PostgreSQL alike (their timing on 10 million rows: `console_bench`).

use simd_json::prelude::*;
use simd_json::OwnedValue;

use crate::console::{detail, page};
use crate::row::LogRow;
use crate::store::Store;
use gpt_api_common::console::{RequestFilter, StatusFilter};

use super::pg_server::PgServer;
use super::support::{bare_row, full_row, runtime, TempDir};

/// 40 rows, one every second from 2026-12-02T05:00:00Z: ids start with that time like the
/// gateway's. Every 10th failed over to `backup` and got 502; keys alternate.
fn sample_rows() -> Vec<LogRow> {
    let start = 1_796_187_600_000_000u64;
    (0..40u64)
        .map(|n| {
            let micros = start + n * 1_000_000;
            let mut row = full_row(&n.to_string());
            row.id = format!("{micros:016x}{n:016x}");
            row.created_at = crate::row::format_utc(gpt_api_common::console::time_of(micros));
            row.client_key = Some(if n % 2 == 0 { "team-a" } else { "team-b" }.to_owned());
            row.status = if n % 10 == 9 { 502 } else { 200 };
            row.upstream = Some(if n % 10 == 9 { "backup" } else { "primary" }.to_owned());
            row.error = (n % 10 == 9).then(|| format!("All upstreams failed #{n}: 100%_done"));
            row
        })
        .chain([bare_row("old")])
        .collect()
}

/// A filter from `name=value&…` as the console writes it, values taken as they are (the
/// gateway's own parsing, with %-escapes, is tested in `handler::admin::requests`).
pub(super) fn filter(text: &str) -> RequestFilter {
    let mut filter = RequestFilter {
        limit: gpt_api_common::console::DEFAULT_PAGE,
        ..RequestFilter::default()
    };
    let micros = |value: &str| {
        let at = gpt_api_common::time::parse_timestamp(value).expect("a time");
        at.duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64
    };
    for pair in text.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').expect("name=value");
        let value = Some(value.to_owned()).filter(|value| !value.is_empty());
        match name {
            "key" => filter.client_key = value,
            "model" => filter.model = value,
            "upstream" => filter.upstream = value,
            "endpoint" => filter.endpoint = value,
            "error" => filter.error_contains = value,
            "before" => filter.before = value,
            "limit" => filter.limit = value.unwrap().parse().unwrap(),
            "since" => filter.since_micros = value.as_deref().map(micros),
            "until" => filter.until_micros = value.as_deref().map(micros),
            "status" => {
                filter.status = Some(match value.as_deref().unwrap() {
                    "error" => StatusFilter::Errors,
                    class if class.ends_with("xx") => {
                        StatusFilter::Class(class[..1].parse().unwrap())
                    }
                    exact => StatusFilter::Exact(exact.parse().unwrap()),
                })
            }
            other => panic!("no parameter {other}"),
        }
    }
    filter
}

fn parse(json: &str) -> OwnedValue {
    simd_json::to_owned_value(&mut json.as_bytes().to_vec()).expect("valid JSON")
}

fn ids(answer: &OwnedValue) -> Vec<String> {
    answer["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The checks, against a store the rows are in.
async fn pages_filters_and_details(store: &Store, rows: &[LogRow]) {
    let query = filter;
    let mut newest_first: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    newest_first.sort_by(|a, b| b.cmp(a));

    // Newest first, paged by id until the end.
    let mut seen = Vec::new();
    let mut before = String::new();
    loop {
        let answer = parse(
            &page(store, &query(&format!("limit=15&before={before}")))
                .await
                .unwrap(),
        );
        seen.extend(ids(&answer));
        match answer["next_before"].as_str() {
            Some(next) => {
                assert_eq!(answer["has_more"].as_bool(), Some(true));
                before = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(seen, newest_first);

    let count = |answer: String| ids(&parse(&answer)).len();
    assert_eq!(
        count(page(store, &query("key=team-a&limit=100")).await.unwrap()),
        20
    );
    assert_eq!(count(page(store, &query("status=502")).await.unwrap()), 4);
    assert_eq!(count(page(store, &query("status=5xx")).await.unwrap()), 4);
    assert_eq!(
        count(page(store, &query("status=error&limit=100")).await.unwrap()),
        5
    );
    assert_eq!(
        count(
            page(store, &query("upstream=backup&key=team-b"))
                .await
                .unwrap()
        ),
        4
    );
    assert_eq!(
        count(
            page(store, &query("endpoint=/v1/embeddings"))
                .await
                .unwrap()
        ),
        1
    );
    assert_eq!(count(page(store, &query("model=nope")).await.unwrap()), 0);
    // Case-insensitive, with LIKE's wildcards taken literally.
    assert_eq!(
        count(
            page(store, &query("error=UPSTREAMS FAILED #29"))
                .await
                .unwrap()
        ),
        1
    );
    assert_eq!(
        count(
            page(store, &query("error=100%_done&limit=100"))
                .await
                .unwrap()
        ),
        4
    );
    assert_eq!(
        count(page(store, &query("error=100%Xdone")).await.unwrap()),
        0
    );
    // Seconds 10 to 19 of the sample.
    let range = "since=2026-12-02T05:00:10Z&until=2026-12-02T05:00:20Z&limit=100";
    let answer = parse(&page(store, &query(range)).await.unwrap());
    assert_eq!(ids(&answer), newest_first[21..31].to_vec());
    let first = &answer["data"][0];
    assert_eq!(
        first["created_at"].as_str(),
        Some("2026-12-02T05:00:19.000000Z")
    );
    assert_eq!(first["status"].as_i64(), Some(502));
    assert_eq!(first["attempts"].as_i64(), Some(1));
    assert_eq!(first["latency_ms"].as_f64(), Some(123.456));
    assert!(first.get("request_body").is_none(), "pages carry no bodies");

    let one = &rows[19];
    let answer = parse(&detail(store, &one.id).await.unwrap().expect("found"));
    assert_eq!(answer["id"].as_str(), Some(one.id.as_str()));
    assert_eq!(answer["client_key"].as_str(), Some("team-b"));
    assert_eq!(answer["request_body"].as_str(), one.request_body.as_deref());
    assert_eq!(answer["reasoning_content"].as_str(), Some("thinking"));
    assert_eq!(
        answer["tool_calls"][0]["function"]["name"].as_str(),
        Some("f")
    );
    assert_eq!(answer["attempts"][0]["outcome"].as_str(), Some("transient"));
    assert_eq!(
        answer["tried"][0].as_str(),
        Some("primary/gpt-4o-mini-2024")
    );
    assert_eq!(answer["prompt_tokens"].as_i64(), Some(10));
    assert_eq!(answer["usage_estimated"].as_bool(), Some(true));
    let bare = parse(&detail(store, "bare-old").await.unwrap().expect("found"));
    assert_eq!(bare["request_body"], OwnedValue::null());
    assert_eq!(bare["attempts"].as_array().map(Vec::len), Some(0));
    assert!(detail(store, "no-such-id").await.unwrap().is_none());
}

#[test]
fn sqlite_pages_filters_and_details() {
    let dir = TempDir::new("console");
    let rows = sample_rows();
    runtime().block_on(async {
        let store = Store::open(&dir.sqlite_url()).await.expect("open");
        store.insert(&rows).await.expect("insert");
        pages_filters_and_details(&store, &rows).await;
        store.close().await;
    });
}

#[test]
fn postgres_pages_filters_and_details() {
    let server = PgServer::start();
    let rows = sample_rows();
    runtime().block_on(async {
        let store = Store::open(&server.url()).await.expect("open");
        store.insert(&rows).await.expect("insert");
        pages_filters_and_details(&store, &rows).await;
        store.close().await;
    });
}
