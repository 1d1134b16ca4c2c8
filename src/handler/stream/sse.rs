//! SSE framing on the hot path: byte scanning only, no JSON. Upstream bytes are cut at the
//! last event boundary so that only whole events go out; the few facts failover needs (a
//! data event arrived, a finish_reason was sent, `[DONE]`, the usage-only chunk) are read
//! by searching bytes.

use bytes::{Bytes, BytesMut};
use std::sync::LazyLock;

use memchr::memmem::Finder;

use crate::dialect::{Dialect, Framing};
use crate::{eventstream, json};

/// Collects upstream bytes and releases whole events: SSE events, or the frames of an AWS
/// event stream (Bedrock's).
#[derive(Default)]
pub struct EventFramer {
    binary: bool,
    pending: BytesMut,
}

impl EventFramer {
    pub fn new(framing: Framing) -> Self {
        Self {
            binary: framing == Framing::EventStream,
            pending: BytesMut::new(),
        }
    }

    fn last_boundary(&self, bytes: &[u8]) -> Option<usize> {
        match self.binary {
            true => last_frame_end(bytes),
            false => last_boundary(bytes),
        }
    }

    /// The whole events available after `bytes` (several may come at once), if any.
    /// Zero-copy in the usual case of reads that end on an event boundary.
    pub fn push(&mut self, bytes: Bytes) -> Option<Bytes> {
        if self.pending.is_empty() {
            let Some(end) = self.last_boundary(&bytes) else {
                self.pending.extend_from_slice(&bytes);
                return None;
            };
            if end == bytes.len() {
                return Some(bytes);
            }
            self.pending.extend_from_slice(&bytes[end..]);
            return Some(bytes.slice(..end));
        }
        self.pending.extend_from_slice(&bytes);
        let end = self.last_boundary(&self.pending)?;
        Some(self.pending.split_to(end).freeze())
    }

    /// Bytes of an unfinished event left when the upstream stopped.
    pub fn has_partial_event(&self) -> bool {
        !self.pending.iter().all(u8::is_ascii_whitespace)
    }
}

/// The end of the last whole frame of an event stream (frames say their own length).
fn last_frame_end(bytes: &[u8]) -> Option<usize> {
    let mut end = 0;
    while let Some(len) = eventstream::frame_len(&bytes[end..]) {
        end += len;
    }
    (end > 0).then_some(end)
}

/// Calls `each` with every event of a block of whole events, in `framing`: its offset in
/// the block, its length, and its payload (an SSE event's data, a whole event-stream
/// frame, or a JSON array's element).
pub fn each_payload(
    framing: Framing,
    block: &[u8],
    mut each: impl FnMut(usize, usize, &[u8]) -> std::ops::ControlFlow<()>,
) {
    match framing {
        Framing::Sse => {
            for event in events(block) {
                let start = event.as_ptr() as usize - block.as_ptr() as usize;
                if let Some(payload) = data(event) {
                    if each(start, event.len(), &payload).is_break() {
                        return;
                    }
                }
            }
        }
        Framing::EventStream => {
            let mut at = 0;
            while let Some(len) = eventstream::frame_len(&block[at..]) {
                if each(at, len, &block[at..at + len]).is_break() {
                    return;
                }
                at += len;
            }
        }
        Framing::JsonArray => {
            // `[` before the first element, `,` between them, `]` after the last.
            let mut at = 0;
            loop {
                at = json::skip_ws(block, at);
                match block.get(at) {
                    Some(b'[' | b',') => at += 1,
                    Some(b'{') => {
                        let end = json::skip_value(block, at).min(block.len());
                        if each(at, end - at, &block[at..end]).is_break() {
                            return;
                        }
                        at = end;
                    }
                    _ => return,
                }
            }
        }
    }
}

/// The end (exclusive) of the last complete event: after a blank line (`\n\n` or `\r\n\r\n`).
fn last_boundary(bytes: &[u8]) -> Option<usize> {
    memchr::memrchr_iter(b'\n', bytes).find_map(|i| is_blank_line_end(bytes, i).then_some(i + 1))
}

fn is_blank_line_end(bytes: &[u8], newline: usize) -> bool {
    match newline {
        0 => false,
        _ if bytes[newline - 1] == b'\n' => true,
        1 => false,
        _ => bytes[newline - 1] == b'\r' && bytes[newline - 2] == b'\n',
    }
}

/// The events in a block of whole events.
pub fn events(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', block).filter_map(move |i| {
        if !is_blank_line_end(block, i) {
            return None;
        }
        let event = &block[start..=i];
        start = i + 1;
        Some(event)
    })
}

/// The payload of the event's `data:` lines (joined by `\n` when there are several).
pub fn data(event: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    let mut lines = event
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter_map(|line| line.strip_prefix(b"data:"))
        .map(|payload| payload.strip_prefix(b" ").unwrap_or(payload));
    let first = lines.next()?;
    match lines.next() {
        None => Some(std::borrow::Cow::Borrowed(first)),
        Some(second) => {
            let mut joined = [first, second].join(&b'\n');
            lines.for_each(|line| {
                joined.push(b'\n');
                joined.extend_from_slice(line);
            });
            Some(std::borrow::Cow::Owned(joined))
        }
    }
}

/// The data of the first event in a block that has some.
pub fn first_data(block: &[u8]) -> Option<Vec<u8>> {
    events(block)
        .find_map(data)
        .map(std::borrow::Cow::into_owned)
}

pub fn is_done(payload: &[u8]) -> bool {
    payload.trim_ascii() == b"[DONE]"
}

// Searchers built once: building one per search showed up in profiles.
static FINISH_REASON: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"finish_reason\""));
static CHOICES: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"choices\""));
static USAGE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"usage\""));

/// `"finish_reason"` followed by a string (not `null`).
pub fn has_finish_reason(payload: &[u8]) -> bool {
    field_value_starts(payload, &FINISH_REASON, |value| {
        value.first() == Some(&b'"')
    })
}

static TYPE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"type\""));

/// Whether a `"type"` field of the event is one of `types` (each given with its quotes, e.g.
/// `"message_stop"`). Escaped quotes inside strings cannot match, so a text that mentions a
/// type is not taken for it.
pub fn has_type(payload: &[u8], types: &[&[u8]]) -> bool {
    field_value_starts(payload, &TYPE, |value| {
        types.iter().any(|t| value.starts_with(t))
    })
}

/// An Anthropic or Responses `error` event.
pub fn is_error_event(payload: &[u8]) -> bool {
    has_type(payload, &[b"\"error\""])
}

static ERROR: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"error\""));

/// The `delta.error` of a Cohere `message-end` (only on failures, so it may parse).
fn cohere_error_message(payload: &[u8]) -> String {
    let mut scratch = payload.to_vec();
    let message = crate::json::read(&mut scratch, |event| {
        use simd_json::prelude::*;
        event.get("delta")?.get_str("error").map(str::to_string)
    });
    message
        .ok()
        .flatten()
        .unwrap_or_else(|| "upstream error".into())
}

static FINISH_REASON_GEMINI: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"finishReason\""));

/// The message of an upstream's in-band error event in `dialect` (`payload` as
/// `each_payload` gives it), if the event is one.
pub fn in_band_error(dialect: Dialect, payload: &[u8]) -> Option<String> {
    let error = match dialect {
        Dialect::Chat => false,
        Dialect::Anthropic | Dialect::Responses => is_error_event(payload),
        // Cohere's stream has no error event: its `message-end` carries `delta.error`.
        Dialect::Cohere => {
            let failed = has_type(payload, &[b"\"message-end\""])
                && field_value_starts(payload, &ERROR, |value| value.first() == Some(&b'"'));
            return failed.then(|| cohere_error_message(payload));
        }
        // Gemini's stream carries its error object as an event of its own.
        Dialect::Gemini => payload.trim_ascii_start().starts_with(b"{\"error\""),
        Dialect::Converse => {
            let frame = eventstream::read_frame(payload).ok()?;
            return match frame.message_type {
                Some("exception") => {
                    let message = error_message(frame.payload);
                    Some(match frame.exception_type {
                        Some(kind) => format!("{kind}: {message}"),
                        None => message,
                    })
                }
                // An unmodeled error: its code and message are headers, not a payload.
                Some("error") => Some(format!(
                    "{}: {}",
                    frame.error_code.unwrap_or("error"),
                    frame.error_message.unwrap_or("upstream error")
                )),
                _ => None,
            };
        }
    };
    error.then(|| error_message(payload))
}

/// Whether the event says the answer is complete (what may follow is usage and the end).
pub fn ends_answer(dialect: Dialect, payload: &[u8]) -> bool {
    match dialect {
        Dialect::Chat => is_done(payload) || has_finish_reason(payload),
        Dialect::Anthropic => has_type(payload, &[b"\"message_stop\""]),
        Dialect::Responses => has_type(
            payload,
            &[
                b"\"response.completed\"",
                b"\"response.incomplete\"",
                b"\"response.failed\"",
            ],
        ),
        Dialect::Cohere => has_type(payload, &[b"\"message-end\""]),
        Dialect::Gemini => field_value_starts(payload, &FINISH_REASON_GEMINI, |value| {
            value.first() == Some(&b'"')
        }),
        Dialect::Converse => eventstream::read_frame(payload)
            .is_ok_and(|frame| frame.event_type == Some("messageStop")),
    }
}

/// The message of an error event (this runs only on failures, so it may parse).
pub fn error_message(payload: &[u8]) -> String {
    let mut scratch = payload.to_vec();
    let message = crate::json::read(&mut scratch, |event| {
        use simd_json::prelude::*;
        let holder = event.get("error").unwrap_or(event);
        holder.get_str("message").map(str::to_string)
    });
    message
        .ok()
        .flatten()
        .unwrap_or_else(|| String::from_utf8_lossy(payload).into_owned())
}

/// The usage-only chunk: `"choices": []` with a usage object.
pub fn is_usage_only(payload: &[u8]) -> bool {
    USAGE.find(payload).is_some()
        && field_value_starts(payload, &CHOICES, |value| {
            value.first() == Some(&b'[') && value[1..].trim_ascii_start().first() == Some(&b']')
        })
}

fn field_value_starts(payload: &[u8], key: &Finder<'_>, check: impl Fn(&[u8]) -> bool) -> bool {
    key.find_iter(payload).any(|at| {
        let rest = payload[at + key.needle().len()..].trim_ascii_start();
        rest.first() == Some(&b':') && check(rest[1..].trim_ascii_start())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framer_releases_whole_events_only() {
        let mut framer = EventFramer::default();
        assert_eq!(
            framer
                .push(Bytes::from_static(b"data: {\"a\":1}\n\ndata: {\"b\""))
                .as_deref(),
            Some(&b"data: {\"a\":1}\n\n"[..])
        );
        assert!(framer.has_partial_event());
        assert_eq!(framer.push(Bytes::from_static(b":2}\n")), None);
        assert_eq!(
            framer.push(Bytes::from_static(b"\n")).as_deref(),
            Some(&b"data: {\"b\":2}\n\n"[..])
        );
        assert!(!framer.has_partial_event());
        let crlf = Bytes::from_static(b": keep-alive\r\n\r\ndata: [DONE]\r\n\r\n");
        assert_eq!(framer.push(crlf.clone()), Some(crlf.clone()));
        let found: Vec<_> = events(&crlf).collect();
        assert_eq!(
            found,
            vec![&b": keep-alive\r\n\r\n"[..], &b"data: [DONE]\r\n\r\n"[..]]
        );
        assert_eq!(data(found[0]), None);
        assert!(is_done(&data(found[1]).unwrap()));
    }

    #[test]
    fn facts_read_from_bytes() {
        assert!(has_finish_reason(
            br#"{"choices":[{"finish_reason": "stop"}]}"#
        ));
        assert!(!has_finish_reason(
            br#"{"choices":[{"finish_reason":null}]}"#
        ));
        assert!(is_usage_only(
            br#"{"choices": [ ],"usage":{"total_tokens":3}}"#
        ));
        assert!(!is_usage_only(
            br#"{"choices":[{"delta":{}}],"usage":null}"#
        ));
        assert_eq!(data(b"data: a\ndata: b\n\n").as_deref(), Some(&b"a\nb"[..]));
        assert!(has_type(
            br#"{"type": "message_stop"}"#,
            &[b"\"message_stop\""]
        ));
        assert!(!has_type(
            br#"{"type":"content_block_delta","delta":{"text":"\"type\":\"message_stop\""}}"#,
            &[b"\"message_stop\""]
        ));
    }
}

#[cfg(test)]
mod dialect_tests;

#[cfg(test)]
mod fuzz {
    use super::*;

    /// Random bytes cut at random places: the framer never panics, loses nothing and
    /// releases only whole events.
    #[test]
    fn random_splits_lose_nothing() {
        let mut rng = fastrand::Rng::with_seed(11);
        let alphabet = b"data: {}\"finish_reason\"choices[]\r\n\n:x";
        for _ in 0..5_000 {
            let input: Vec<u8> = (0..rng.usize(0..300))
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
            let mut framer = EventFramer::default();
            let mut released = Vec::new();
            let mut at = 0;
            while at < input.len() {
                let end = (at + rng.usize(1..40)).min(input.len());
                if let Some(events) = framer.push(Bytes::copy_from_slice(&input[at..end])) {
                    assert!(
                        last_boundary(&events) == Some(events.len()),
                        "only whole events are released"
                    );
                    for event in events_of(&events) {
                        let _ = data(event).map(|payload| {
                            (
                                is_done(&payload),
                                has_finish_reason(&payload),
                                is_usage_only(&payload),
                            )
                        });
                    }
                    released.extend_from_slice(&events);
                }
                at = end;
            }
            released.extend_from_slice(&framer.pending);
            assert_eq!(released, input);
        }
    }

    fn events_of(block: &[u8]) -> Vec<&[u8]> {
        events(block).collect()
    }
}
