//! The canonical forms SigV4 signs: the canonical request (botocore's for services other
//! than S3), the `x-amz-date` timestamp, and hex.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Request, SignatureError, MAX_SKEW};
use crate::time::{civil_from_days, days_from_civil, unix_seconds};

pub(super) fn canonical_request(
    request: &Request<'_>,
    canonical_headers: &str,
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        request.method.to_ascii_uppercase(),
        canonical_uri(request.path),
        canonical_query(request.query),
    )
}

/// `name:value1,value2\n`, each value trimmed and its runs of spaces made one.
pub(super) fn push_canonical_header<'v>(
    out: &mut String,
    name: &str,
    values: impl Iterator<Item = &'v str>,
) {
    out.push_str(name);
    out.push(':');
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, word) in value.split_ascii_whitespace().enumerate() {
            if j > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out.push('\n');
}

/// botocore's `quote(remove_dot_segments(path), safe='/~')`.
pub(super) fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    let mut normalized = String::from("/");
    normalized.push_str(&segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        normalized.push('/');
    }
    let mut uri = String::with_capacity(normalized.len());
    push_encoded(&mut uri, normalized.as_bytes(), b"/");
    uri
}

/// Each name and value decoded and encoded again the RFC 3986 way, sorted by name, then value.
pub(super) fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let encode = |part: &str| {
                let mut out = String::new();
                push_encoded(&mut out, &percent_decode(part), b"");
                out
            };
            (encode(name), encode(value))
        })
        .collect();
    pairs.sort_unstable();
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        let _ = write!(out, "{name}={value}");
    }
    out
}

/// Percent-encodes all but the unreserved characters and those in `also_safe`.
pub(super) fn push_encoded(out: &mut String, bytes: &[u8], also_safe: &[u8]) {
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) || also_safe.contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

/// `%XX` escapes decoded; a `%` without two hex digits stays itself.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'%')
            .then(|| text.get(at + 1..at + 3))
            .flatten()
            .and_then(|digits| u8::from_str_radix(digits, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                at += 3;
            }
            None => {
                out.push(bytes[at]);
                at += 1;
            }
        }
    }
    out
}

// === impl dates and hex ===

/// `20150830T123600Z`.
pub(super) fn amz_date(at: SystemTime) -> String {
    let seconds = unix_seconds(at);
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let second_of_day = seconds % 86_400;
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

pub(super) fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (hour, minute, second) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).ok()?))
}

/// AWS's wording: "Signature expired: T is now earlier than T' (now - 15 min.)".
pub(super) fn check_skew(
    timestamp: &str,
    signed_at: SystemTime,
    now: SystemTime,
) -> Result<(), SignatureError> {
    let minutes = MAX_SKEW.as_secs() / 60;
    if signed_at + MAX_SKEW < now {
        return Err(SignatureError::Expired(format!(
            "Signature expired: {timestamp} is now earlier than {} ({} - {minutes} min.)",
            amz_date(now - MAX_SKEW),
            amz_date(now)
        )));
    }
    if signed_at > now + MAX_SKEW {
        return Err(SignatureError::Expired(format!(
            "Signature not yet current: {timestamp} is still later than {} ({} + {minutes} min.)",
            amz_date(now + MAX_SKEW),
            amz_date(now)
        )));
    }
    Ok(())
}

pub(super) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

pub(super) fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}
