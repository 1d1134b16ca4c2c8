//! Operational log lines: one JSON object per line on stdout. Used at start-up, shutdown and
//! from the logging thread (access lines); never per request on a worker.

use std::fmt::Write;

use crate::json::{json_string_array, push_json_string};

/// A field value in a log line.
pub enum Value<'a> {
    Str(&'a str),
    Num(f64),
    Int(u64),
    Bool(bool),
}

pub fn line(level: &str, event: &str, fields: &[(&str, Value<'_>)]) -> String {
    let mut out = String::with_capacity(128);
    out.push_str("{\"level\":");
    push_json_string(&mut out, level);
    out.push_str(",\"event\":");
    push_json_string(&mut out, event);
    for (name, value) in fields {
        out.push(',');
        push_json_string(&mut out, name);
        out.push(':');
        match value {
            Value::Str(text) => push_json_string(&mut out, text),
            Value::Num(n) => push_thousandths(&mut out, *n),
            Value::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        }
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

/// The access line of a finished request (made by the logging thread, off the hot path).
pub fn access_line(record: &crate::record::RequestRecord) -> String {
    let mut out = line(
        "info",
        "access",
        &[
            ("request_id", Value::Str(&record.id)),
            ("method", Value::Str(&record.method)),
            ("path", Value::Str(&record.endpoint)),
            ("status", Value::Int(u64::from(record.status))),
            ("stream", Value::Bool(record.stream)),
            ("attempts", Value::Int(record.tried.len() as u64)),
            ("latency_ms", Value::Num(record.latency_ms)),
            ("cancelled", Value::Bool(record.cancelled)),
        ],
    );
    out.pop();
    let optional = [
        ("model", &record.model),
        ("upstream", &record.upstream),
        ("upstream_model", &record.upstream_model),
        ("client_key", &record.client_key),
        ("error", &record.error),
    ];
    for (name, value) in optional {
        out.push_str(",\"");
        out.push_str(name);
        out.push_str("\":");
        match value {
            Some(text) => push_json_string(&mut out, text),
            None => out.push_str("null"),
        }
    }
    out.push_str(",\"tried\":");
    out.push_str(&json_string_array(&record.tried, ","));
    if let Some(ttft) = record.ttft_ms {
        out.push_str(",\"ttft_ms\":");
        push_thousandths(&mut out, ttft);
    }
    out.push('}');
    out
}

/// `value` with three decimals (milliseconds to the microsecond), through integers: float
/// formatting with a precision was the largest part of building an access line. (The cast
/// saturates, so even a NaN comes out as a JSON number.)
fn push_thousandths(out: &mut String, value: f64) {
    let thousandths = (value * 1000.0).round() as i64;
    let sign = if thousandths < 0 { "-" } else { "" };
    let magnitude = thousandths.unsigned_abs();
    let _ = write!(out, "{sign}{}.{:03}", magnitude / 1000, magnitude % 1000);
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousandths_read_like_three_decimals() {
        for (value, text) in [
            (0.0, "0.000"),
            (1.5, "1.500"),
            (12.3456, "12.346"),
            (0.0004, "0.000"),
            (-2.25, "-2.250"),
            (-0.0004, "0.000"),
            (123456.0009, "123456.001"),
            (f64::NAN, "0.000"),
        ] {
            let mut out = String::new();
            super::push_thousandths(&mut out, value);
            assert_eq!(out, text, "{value}");
        }
    }
}
