//! Rows from records: timestamps, the tried list, and what `store_content` keeps.

use crate::row::{format_utc, LogRow, ResponseSummary};

use super::support::{at_micros, record};

#[test]
fn timestamps_are_utc_iso_8601_with_microseconds() {
    assert_eq!(format_utc(at_micros(0)), "1970-01-01T00:00:00.000000Z");
    assert_eq!(
        format_utc(at_micros(951_782_400_000_000)),
        "2000-02-29T00:00:00.000000Z"
    );
    assert_eq!(
        format_utc(at_micros(1_700_000_000_123_456)),
        "2023-11-14T22:13:20.123456Z"
    );
    assert_eq!(
        format_utc(at_micros(4_102_444_799_999_999)),
        "2099-12-31T23:59:59.999999Z"
    );
}

#[test]
fn a_record_becomes_a_row() {
    let summary = ResponseSummary {
        content: Some("Hello".to_owned()),
        reasoning: Some("why".to_owned()),
        tool_calls: Some("[]".to_owned()),
        total_tokens: Some(6),
        ..ResponseSummary::default()
    };
    let row = LogRow::new(record("r1"), summary.clone(), true);
    assert_eq!(row.id, "r1");
    assert_eq!(row.created_at, "2023-11-14T22:13:20.123456Z");
    assert_eq!(
        row.tried,
        r#"["primary/gpt-4o-mini","backup/gpt-4o-mini-2024"]"#
    );
    assert_eq!(
        row.attempts,
        r#"[{"target":"primary/gpt-4o-mini","start_ms":0.250,"duration_ms":4.500,"outcome":"transient","error":"upstream returned 503","mid_stream":false,"continuation":false},{"target":"backup/gpt-4o-mini-2024","start_ms":5.000,"duration_ms":7.000,"outcome":"ok","error":null,"mid_stream":false,"continuation":false}]"#
    );
    assert_eq!(
        row.request_body.as_deref(),
        Some(r#"{"model":"gpt-4o-mini","messages":[]}"#)
    );
    assert_eq!(row.response_content.as_deref(), Some("Hello"));
    assert_eq!(row.reasoning_content.as_deref(), Some("why"));

    let without_content = LogRow::new(record("r2"), summary, false);
    assert_eq!(
        (
            without_content.request_body,
            without_content.response_content,
            without_content.reasoning_content
        ),
        (None, None, None)
    );
    assert_eq!(without_content.tool_calls.as_deref(), Some("[]"));
    assert_eq!(without_content.total_tokens, Some(6));
}

#[test]
fn the_workers_error_wins_over_an_in_band_one() {
    let mut gateway_error = record("r3");
    gateway_error.error = Some("gateway said".to_owned());
    let summary = ResponseSummary {
        error: Some("upstream said".to_owned()),
        ..ResponseSummary::default()
    };
    assert_eq!(
        LogRow::new(gateway_error, summary.clone(), true)
            .error
            .as_deref(),
        Some("gateway said")
    );
    assert_eq!(
        LogRow::new(record("r4"), summary, true).error.as_deref(),
        Some("upstream said")
    );
}

#[test]
fn nul_characters_are_replaced() {
    let mut with_nul = record("r5");
    with_nul.model = Some("m\0odel".to_owned());
    with_nul.request_body = Some(bytes::Bytes::from_static(b"{\"a\":\"\0\"}"));
    let row = LogRow::new(with_nul, ResponseSummary::default(), true);
    assert_eq!(row.model.as_deref(), Some("m\u{fffd}odel"));
    assert_eq!(row.request_body.as_deref(), Some("{\"a\":\"\u{fffd}\"}"));
}

#[test]
fn a_priced_record_has_its_cost_and_settles_its_key() {
    use gpt_api_common::limits::{Admission, KeyLedger, Period, Price};
    use std::sync::Arc;
    let mut priced = record("r2");
    priced.price = Some(Price {
        input_per_mtok: 1.0,
        output_per_mtok: 4.0,
        cached_input_per_mtok: Some(0.5),
    });
    let summary = ResponseSummary {
        prompt_tokens: Some(1000),
        cached_tokens: Some(400),
        completion_tokens: Some(500),
        total_tokens: Some(1500),
        ..ResponseSummary::default()
    };
    let row = LogRow::new(priced.clone(), summary.clone(), true);
    let cost = row.cost_usd.expect("priced");
    assert!(
        (cost - (600.0 + 200.0 + 2000.0) / 1e6).abs() < 1e-12,
        "{cost}"
    );
    // No usage reported: no cost, even with a price; no price: no cost.
    assert_eq!(
        LogRow::new(priced, ResponseSummary::default(), true).cost_usd,
        None
    );
    assert_eq!(
        LogRow::new(record("r3"), summary.clone(), true).cost_usd,
        None
    );
    assert_eq!(summary.total(), 1500);
    let ledger = Arc::new(KeyLedger::default());
    let admission = Admission {
        ledger: Arc::clone(&ledger),
        window: 1,
        estimated_tokens: 0,
        period: Period::Day,
    };
    admission.settle(summary.total(), cost, std::time::UNIX_EPOCH);
    assert_eq!(ledger.spend.spent(0), (0.0028, 1500));
}
