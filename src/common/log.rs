//! Operational log lines: one JSON object per line on stdout. Used at start-up, shutdown and
//! from the logging thread (access lines); never per request on a worker.

use std::time::SystemTime;

use crate::json::{push_decimal, push_json_string, push_json_strings, push_thousandths};
use crate::time::push_utc;

/// Where the milliseconds of a time written by `time::push_utc` end
/// (`2026-12-02T03:04:05.678`).
const MILLISECONDS_END: usize = 23;

/// A field value in a log line.
pub enum Value<'a> {
    Str(&'a str),
    Num(f64),
    Int(u64),
    Bool(bool),
}

/// `{"ts":…,"level":…,"event":…,fields…}`: the time first, so lines sort and read by it.
pub fn line(level: &str, event: &str, fields: &[(&str, Value<'_>)]) -> String {
    let mut out = String::with_capacity(160);
    push_start(&mut out, level, event);
    for (name, value) in fields {
        push_field(&mut out, name, value);
    }
    out.push('}');
    out
}

pub fn info(event: &str, fields: &[(&str, Value<'_>)]) {
    println!("{}", line("info", event, fields));
}

pub fn warn(event: &str, fields: &[(&str, Value<'_>)]) {
    println!("{}", line("warn", event, fields));
}

pub fn error(event: &str, fields: &[(&str, Value<'_>)]) {
    println!("{}", line("error", event, fields));
}

/// Appends the access line of a finished request, with its newline, to `out` (the logging
/// thread's buffer of a turn's lines: no string of its own). `created_at`: the request's
/// arrival as its row holds it (`2026-12-02T03:04:05.678901Z`), formatted once for both;
/// the line's `ts` is that time to the millisecond.
pub fn push_access_line(out: &mut String, record: &crate::record::RequestRecord, created_at: &str) {
    out.push_str("{\"ts\":\"");
    out.push_str(created_at.get(..MILLISECONDS_END).unwrap_or(created_at));
    out.push('Z');
    push_level_and_event(out, "info", "access");
    // Each member's name with its punctuation as one piece of text (`,"status":`): pushed
    // in three pieces, the names cost more than the values.
    let members = [
        (",\"request_id\":", Value::Str(&record.id)),
        (",\"method\":", Value::Str(&record.method)),
        (",\"path\":", Value::Str(&record.endpoint)),
        (",\"status\":", Value::Int(u64::from(record.status))),
        (",\"stream\":", Value::Bool(record.stream)),
        (",\"attempts\":", Value::Int(record.attempts.len() as u64)),
        (",\"latency_ms\":", Value::Num(record.latency_ms)),
        (",\"cancelled\":", Value::Bool(record.cancelled)),
    ];
    for (member, value) in &members {
        out.push_str(member);
        push_value(out, value);
    }
    let optional = [
        (",\"model\":", record.model.as_deref()),
        (",\"upstream\":", record.upstream.as_deref()),
        (",\"upstream_model\":", record.upstream_model.as_deref()),
        (",\"client_key\":", record.client_key.as_deref()),
        (",\"error\":", record.error.as_deref()),
    ];
    for (member, value) in optional {
        out.push_str(member);
        match value {
            Some(text) => push_json_string(out, text),
            None => out.push_str("null"),
        }
    }
    out.push_str(",\"tried\":");
    let targets = record.attempts.iter().map(|attempt| &*attempt.target);
    push_json_strings(out, targets, ",");
    if let Some(ttft) = record.ttft_ms {
        out.push_str(",\"ttft_ms\":");
        push_thousandths(out, ttft);
    }
    out.push_str("}\n");
}

/// `{"ts":…,"level":…,"event":…` (the line's fields and `}` follow). Levels, events and
/// field names are the code's own identifiers (`[a-z_]`): written as they are, unescaped.
fn push_start(out: &mut String, level: &str, event: &str) {
    out.push_str("{\"ts\":\"");
    push_timestamp(out, SystemTime::now());
    push_level_and_event(out, level, event);
}

/// `","level":…,"event":…`, after the time.
fn push_level_and_event(out: &mut String, level: &str, event: &str) {
    out.push_str("\",\"level\":\"");
    out.push_str(level);
    out.push_str("\",\"event\":\"");
    out.push_str(event);
    out.push('"');
}

fn push_field(out: &mut String, name: &str, value: &Value<'_>) {
    out.push_str(",\"");
    out.push_str(name);
    out.push_str("\":");
    push_value(out, value);
}

fn push_value(out: &mut String, value: &Value<'_>) {
    match value {
        Value::Str(text) => push_json_string(out, text),
        Value::Num(n) => push_thousandths(out, *n),
        Value::Int(n) => push_decimal(out, *n, 1),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
    }
}

/// RFC 3339 in UTC with milliseconds (`2026-12-02T03:04:05.678Z`).
fn push_timestamp(out: &mut String, at: SystemTime) {
    push_utc(out, at, 3);
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    fn timestamp(seconds: u64, millis: u64) -> String {
        let mut out = String::new();
        let at = UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_millis(millis);
        super::push_timestamp(&mut out, at);
        out
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        for (seconds, millis, text) in [
            (0, 0, "1970-01-01T00:00:00.000Z"),
            (951_782_400, 5, "2000-02-29T00:00:00.005Z"), // leap day of a 400-year leap year
            (4_107_542_399, 999, "2100-02-28T23:59:59.999Z"), // 2100 is not a leap year
            (4_107_542_400, 0, "2100-03-01T00:00:00.000Z"),
            (1_709_251_199, 0, "2024-02-29T23:59:59.000Z"),
            (1_798_772_645, 678, "2027-01-01T03:04:05.678Z"),
        ] {
            assert_eq!(timestamp(seconds, millis), text, "{seconds}");
        }
    }

    #[test]
    fn every_line_starts_with_its_time() {
        let line = super::line("info", "listening", &[("workers", super::Value::Int(2))]);
        let rest = line.strip_prefix("{\"ts\":\"").expect(&line);
        assert_eq!(
            &rest[24..],
            "\",\"level\":\"info\",\"event\":\"listening\",\"workers\":2}"
        );
        assert!(
            rest[..24].ends_with('Z') && rest.as_bytes()[10] == b'T',
            "{line}"
        );
    }
}
