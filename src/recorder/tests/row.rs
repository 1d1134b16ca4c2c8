//! Rows from records: timestamps, the tried list, what `store_content` keeps, and the
//! access line beside the row.

use crate::row::{format_utc, LogRow, ResponseSummary};
use gpt_api_common::log::push_access_line;

use super::support::{at_micros, record, row_of};

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
    let row = row_of(record("r1"), summary.clone(), true);
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

    let without_content = row_of(record("r2"), summary, false);
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
        row_of(gateway_error, summary.clone(), true)
            .error
            .as_deref(),
        Some("gateway said")
    );
    assert_eq!(
        row_of(record("r4"), summary, true).error.as_deref(),
        Some("upstream said")
    );
}

#[test]
fn nul_characters_are_replaced() {
    let mut with_nul = record("r5");
    with_nul.model = Some("m\0odel".to_owned());
    with_nul.request_body = Some(bytes::Bytes::from_static(b"{\"a\":\"\0\"}"));
    let row = row_of(with_nul, ResponseSummary::default(), true);
    assert_eq!(row.model.as_deref(), Some("m\u{fffd}odel"));
    assert_eq!(row.request_body.as_deref(), Some("{\"a\":\"\u{fffd}\"}"));
}

#[test]
fn a_body_that_is_not_utf8_is_kept_lossily() {
    let mut invalid = record("r6");
    invalid.request_body = Some(bytes::Bytes::from_static(b"{\"a\":\"\xff\xfe\"}"));
    let row = row_of(invalid, ResponseSummary::default(), true);
    assert_eq!(
        row.request_body.as_deref(),
        Some("{\"a\":\"\u{fffd}\u{fffd}\"}")
    );
    let mut accented = record("r7");
    accented.request_body = Some(bytes::Bytes::from("{\"a\":\"héllo ✓\"}"));
    let row = row_of(accented, ResponseSummary::default(), true);
    assert_eq!(row.request_body.as_deref(), Some("{\"a\":\"héllo ✓\"}"));
}

/// The writer formats the record's time once: the row has it to the microsecond, the
/// access line (whose format this pins) to the millisecond.
#[test]
fn the_access_line_and_the_row_carry_the_same_time() {
    let mut streamed = record("r8");
    streamed.stream = true;
    streamed.ttft_ms = Some(1.25);
    streamed.error = Some("said \"no\"".to_owned());
    let created_at = format_utc(streamed.created_at);
    let mut lines = String::new();
    push_access_line(
        &mut lines,
        &record("r1"),
        &format_utc(record("r1").created_at),
    );
    push_access_line(&mut lines, &streamed, &created_at);
    let row = LogRow::new(streamed, created_at, ResponseSummary::default(), true);
    assert_eq!(row.created_at, "2023-11-14T22:13:20.123456Z");
    let common = r#""method":"POST","path":"/v1/chat/completions","status":200"#;
    let targets = r#""model":"gpt-4o-mini","upstream":"backup","upstream_model":"gpt-4o-mini-2024","client_key":"team-a""#;
    let tried = r#""tried":["primary/gpt-4o-mini","backup/gpt-4o-mini-2024"]"#;
    assert_eq!(
        lines,
        format!(
            "{{\"ts\":\"2023-11-14T22:13:20.123Z\",\"level\":\"info\",\"event\":\"access\",\"request_id\":\"r1\",{common},\"stream\":false,\"attempts\":2,\"latency_ms\":12.500,\"cancelled\":false,{targets},\"error\":null,{tried}}}\n\
             {{\"ts\":\"2023-11-14T22:13:20.123Z\",\"level\":\"info\",\"event\":\"access\",\"request_id\":\"r8\",{common},\"stream\":true,\"attempts\":2,\"latency_ms\":12.500,\"cancelled\":false,{targets},\"error\":\"said \\\"no\\\"\",{tried},\"ttft_ms\":1.250}}\n"
        )
    );
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
    let row = row_of(priced.clone(), summary.clone(), true);
    let cost = row.cost_usd.expect("priced");
    assert!(
        (cost - (600.0 + 200.0 + 2000.0) / 1e6).abs() < 1e-12,
        "{cost}"
    );
    // No usage reported: no cost, even with a price; no price: no cost.
    assert_eq!(
        row_of(priced, ResponseSummary::default(), true).cost_usd,
        None
    );
    assert_eq!(row_of(record("r3"), summary.clone(), true).cost_usd, None);
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
