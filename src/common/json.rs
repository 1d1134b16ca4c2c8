//! Reading JSON in place with simd-json's tape: no tree of allocated values, and the
//! parser's buffers kept per thread (each worker, and the logging thread). A tree plus fresh
//! buffers per document cost about 1 µs per request body or SSE event; the tape, 0.45 µs.
//! Use `get(key)` then `as_array()`: the tape's `get_array` (simd-json 0.14) cuts the
//! array's last node off, and iterating it panics.

use std::cell::RefCell;
use std::fmt::Write as _;

use simd_json::value::tape::Value;
use simd_json::Buffers;

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::new(4096));
    /// The copy `read_copy` parses, kept for the next document.
    static COPY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Parses `bytes` (simd-json works in place, so they are overwritten) and hands the
/// document to `read`. `read` must not parse another document itself.
pub fn read<R>(
    bytes: &mut [u8],
    read: impl FnOnce(Value<'_, '_>) -> R,
) -> Result<R, simd_json::Error> {
    BUFFERS.with_borrow_mut(|buffers| {
        let tape = simd_json::to_tape_with_buffers(bytes, buffers)?;
        Ok(read(tape.as_value()))
    })
}

/// A larger copy is freed after use.
const KEPT_COPY_CAPACITY: usize = 256 * 1024;

/// `read` on a copy of `bytes` made in a per-thread buffer (simd-json overwrites what it
/// parses), for documents that must stay as they are: no allocation per document.
pub fn read_copy<R>(
    bytes: &[u8],
    read: impl FnOnce(Value<'_, '_>) -> R,
) -> Result<R, simd_json::Error> {
    COPY.with_borrow_mut(|copy| {
        copy.clear();
        copy.extend_from_slice(bytes);
        let result = self::read(copy, read);
        if copy.capacity() > KEPT_COPY_CAPACITY {
            // One huge body must not stay resident on every thread that saw it.
            *copy = Vec::new();
        }
        result
    })
}

/// `["a", "b"]` with the given separator between entries.
pub fn json_string_array<'a>(items: impl IntoIterator<Item = &'a str>, separator: &str) -> String {
    let mut text = String::new();
    push_json_strings(&mut text, items, separator);
    text
}

/// Appends `values` as a JSON array of strings with `separator` between them
/// (`["a/m","b/m"]` with `,`).
pub fn push_json_strings<'a>(
    out: &mut String,
    values: impl IntoIterator<Item = &'a str>,
    separator: &str,
) {
    out.push('[');
    for (index, value) in values.into_iter().enumerate() {
        if index > 0 {
            out.push_str(separator);
        }
        push_json_string(out, value);
    }
    out.push(']');
}

/// Appends `value` in decimal, with leading zeros up to `min_digits` digits (through itoa:
/// `write!` with a width was most of the cost of a timestamp).
pub fn push_decimal(out: &mut String, value: u64, min_digits: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(value);
    for _ in digits.len()..min_digits {
        out.push('0');
    }
    out.push_str(digits);
}

/// `value` with three decimals (milliseconds to the microsecond), through integers: float
/// formatting with a precision was the largest part of building an access line and a row's
/// attempts. (The cast saturates, so even a NaN comes out as a JSON number.)
pub fn push_thousandths(out: &mut String, value: f64) {
    let thousandths = (value * 1000.0).round() as i64;
    if thousandths < 0 {
        out.push('-');
    }
    // One conversion, its digits split around the point: a second `push_decimal` and its
    // padding loop cost as much again.
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(thousandths.unsigned_abs());
    match digits.len().checked_sub(3) {
        Some(point) if point > 0 => {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
        _ => {
            out.push_str(&"0.000"[..5 - digits.len()]);
            out.push_str(digits);
        }
    }
}

/// Appends `value` as a JSON string literal.
pub fn push_json_string(out: &mut String, value: &str) {
    out.reserve(value.len() + 2);
    out.push('"');
    // Most values need no escaping: one pass the compiler vectorizes says so.
    let special = value.bytes().fold(0_u8, |special, byte| {
        special | u8::from(byte < 0x20) | u8::from(byte == b'"') | u8::from(byte == b'\\')
    });
    if special == 0 {
        out.push_str(value);
        out.push('"');
        return;
    }
    let mut clean_from = 0;
    // Copy runs that need no escaping in one go; escape the bytes between them.
    for (at, byte) in value.bytes().enumerate() {
        let escaped = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&value[clean_from..at]);
        if escaped.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escaped);
        }
        clean_from = at + 1;
    }
    out.push_str(&value[clean_from..]);
    out.push('"');
}

/// Why `raw` is not JSON, in words a client can act on (what was found, at which line,
/// column and byte), not the parser's internal error names. `raw` is the document as
/// received: `read` overwrites its own copy.
pub fn describe_error(raw: &[u8], error: &simd_json::Error) -> String {
    use simd_json::ErrorType;
    // A cut-off body is reported by simd-json at its last opening bracket; say where it ends.
    let cut_off = ends_inside_a_value(raw);
    let at = if cut_off {
        raw.len()
    } else {
        error.index().min(raw.len())
    };
    let found = match error.error() {
        ErrorType::InvalidEscape
        | ErrorType::InvalidUnicodeEscape
        | ErrorType::InvalidUnicodeCodepoint => "an invalid escape sequence".to_string(),
        ErrorType::InvalidNumber | ErrorType::InvalidExponent => "an invalid number".into(),
        ErrorType::InvalidUtf8 => "bytes that are not UTF-8".into(),
        ErrorType::UnterminatedString => "a string without its closing quote".into(),
        ErrorType::TrailingData => "more data after the JSON value".into(),
        _ if cut_off => "the end of the body before the JSON value is complete".into(),
        _ => match error.character().or_else(|| char_at(raw, at)) {
            Some(c) => format!("unexpected {c:?}"),
            None => "an unexpected byte".into(),
        },
    };
    let line = 1 + raw[..at].iter().filter(|&&b| b == b'\n').count();
    let line_start = raw[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    // Columns count characters, not bytes (UTF-8 continuation bytes are skipped).
    let column = 1 + raw[line_start..at]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count();
    format!("{found} at line {line}, column {column} (byte {at})")
}

/// Whether `raw` ends inside a string or with an array or object still open (and every
/// bracket before that closed by its own kind: otherwise the error is that bracket).
fn ends_inside_a_value(raw: &[u8]) -> bool {
    let mut open = Vec::new();
    let (mut in_string, mut escaped) = (false, false);
    for &byte in raw {
        match (in_string, byte) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (_, b'"') => in_string = !in_string,
            (false, b'[') => open.push(b']'),
            (false, b'{') => open.push(b'}'),
            (false, b']' | b'}') if open.pop() != Some(byte) => return false,
            _ => {}
        }
    }
    in_string || !open.is_empty()
}

fn char_at(raw: &[u8], at: usize) -> Option<char> {
    let end = raw.len().min(at + 4);
    (at + 1..=end)
        .find_map(|e| std::str::from_utf8(&raw[at..e]).ok())
        .and_then(|s| s.chars().next())
}

// Byte scanning over JSON already known to parse: finding a value's extent without a parse.

/// The index of the first non-whitespace byte at or after `at`.
pub fn skip_ws(raw: &[u8], mut at: usize) -> usize {
    while raw.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

/// `at` is on the opening quote; returns the index just past the closing quote.
pub fn skip_string(raw: &[u8], mut at: usize) -> usize {
    at += 1;
    // Strings are most of a body (message texts): jump between quotes and backslashes.
    while let Some(found) = raw
        .get(at..)
        .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
    {
        at += found;
        if raw[at] == b'"' {
            return at + 1;
        }
        at += 2;
    }
    raw.len().max(at)
}

/// `at` is on a value's first byte (of JSON that parsed); returns the index just past it.
pub fn skip_value(raw: &[u8], at: usize) -> usize {
    match raw.get(at) {
        Some(b'"') => skip_string(raw, at),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut i = at;
            while let Some(&byte) = raw.get(i) {
                match byte {
                    b'"' => {
                        i = skip_string(raw, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            i
        }
        _ => {
            let mut i = at;
            while raw
                .get(i)
                .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
            {
                i += 1;
            }
            i
        }
    }
}

#[cfg(test)]
mod tests {
    use simd_json::prelude::*;

    use super::push_thousandths;

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
            (0.005, "0.005"),
            (0.05, "0.050"),
            (0.412, "0.412"),
            (1000.0, "1000.000"),
            (-0.005, "-0.005"),
            (f64::NAN, "0.000"),
        ] {
            let mut out = String::new();
            push_thousandths(&mut out, value);
            assert_eq!(out, text, "{value}");
        }
    }

    fn describe(text: &str) -> String {
        let mut scratch = text.as_bytes().to_vec();
        let error = super::read(&mut scratch, |_| ()).expect_err(text);
        super::describe_error(text.as_bytes(), &error)
    }

    #[test]
    fn errors_say_what_was_found_and_where() {
        for (text, expected) in [
            (
                r#"{"model":"m","messages":[{"a":1},]}"#,
                "unexpected ']' at line 1, column 34 (byte 33)",
            ),
            (
                "{\n  \"model\": \"m\",\n  }",
                "unexpected '}' at line 3, column 3 (byte 20)",
            ),
            (
                r#"{"model": "m", "messages": ["#,
                "the end of the body before the JSON value is complete at line 1, column 29 (byte 28)",
            ),
            ("{not json}", "unexpected 'n' at line 1, column 2 (byte 1)"),
            (
                "{\"model\": \"caf\u{e9}\", \"n\": 1x}",
                // Columns count characters: 'é' is two bytes.
                "an invalid number at line 1, column 25 (byte 25)",
            ),
            (
                r#"{"model": "unterminated"#,
                "the end of the body before the JSON value is complete at line 1, column 24 (byte 23)",
            ),
        ] {
            assert_eq!(describe(text), expected, "{text}");
        }
    }

    #[test]
    fn reads_documents_one_after_another_with_the_same_buffers() {
        for (text, model) in [
            (r#"{"model":"a","messages":[]}"#, Some("a")),
            (
                r#"{"messages":[{"content":"long text long text"}],"model":"bee"}"#,
                Some("bee"),
            ),
            (r#"{"model":7}"#, None),
        ] {
            let mut bytes = text.as_bytes().to_vec();
            let read = super::read(&mut bytes, |value| {
                value.get_str("model").map(str::to_owned)
            });
            assert_eq!(read.unwrap().as_deref(), model);
        }
        assert!(super::read(&mut b"{\"model\":".to_vec(), |_| ()).is_err());
    }

    #[test]
    fn arrays_of_objects_iterate_to_their_last_element() {
        let mut bytes = br#"{"choices":[{"index":0,"d":{"t":[1,2]}},{"index":1}],"x":1}"#.to_vec();
        let indexes = super::read(&mut bytes, |value| {
            let choices = value.get("choices").and_then(|c| c.as_array()).unwrap();
            choices
                .iter()
                .map(|c| c.get_u64("index"))
                .collect::<Vec<_>>()
        });
        assert_eq!(indexes.unwrap(), [Some(0), Some(1)]);
    }

    #[test]
    fn control_characters_are_escaped() {
        let mut out = String::new();
        super::push_json_string(&mut out, "a\"b\\c\n\u{1}");
        assert_eq!(out, "\"a\\\"b\\\\c\\n\\u0001\"");
    }
}
