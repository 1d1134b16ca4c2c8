//! SSE framing on the hot path: byte scanning only, no JSON. Upstream bytes are cut at the
//! last event boundary so that only whole events go out; the few facts failover needs (a
//! data event arrived, a finish_reason was sent, `[DONE]`, the usage-only chunk) are read
//! by searching bytes.

use bytes::{Bytes, BytesMut};
use std::borrow::Cow;
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
                if let Some(payload) = event.data {
                    if each(event.start, event.len, &payload).is_break() {
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

/// Calls `each` with what every event of a block of whole events says in `dialect` (as
/// `read_event` reads its payload, given by `each_payload`), with the event's offset and
/// length. The usual chat event is read in one pass over its bytes (`single_line_chat_event`).
pub fn each_said(
    dialect: Dialect,
    block: &[u8],
    mut each: impl FnMut(usize, usize, Said) -> std::ops::ControlFlow<()>,
) {
    if dialect != Dialect::Chat {
        return each_payload(dialect.framing(), block, |start, len, payload| {
            each(start, len, read_event(dialect, payload))
        });
    }
    let mut at = 0;
    while at < block.len() {
        let (len, said) = match single_line_chat_event(block, at) {
            Some(read) => read,
            None => {
                let Some(event) = next_event(block, at) else {
                    return;
                };
                let Some(payload) = event.data else {
                    at += event.len;
                    continue;
                };
                (event.len, chat_said(&payload))
            }
        };
        if each(at, len, said).is_break() {
            return;
        }
        at += len;
    }
}

/// The usual chat event, one `data:` line ending in LF and the blank line after it, read in
/// one pass that finds both its line's end and its `"finish_reason"` keys: its length and
/// what it says, as `chat_said` reads its payload. `None` for any other shape, and for a key
/// whose value the pass cannot read without crossing the line's end (whitespace that holds a
/// CR or LF): `next_event` and `chat_said` read those. Inlined into `each_said`'s loop: a
/// call per event, and its answer returned through memory, cost ~25 instructions an event.
#[inline(always)]
fn single_line_chat_event(block: &[u8], start: usize) -> Option<(usize, Said)> {
    let line = &block[start..];
    // One five-byte comparison, where a slice pattern tested the bytes one by one.
    if line.get(..5) != Some(b"data:") {
        return None;
    }
    let payload_start = start + 5 + usize::from(line.get(5) == Some(&b' '));
    let mut keyed = false;
    let mut finished = false;
    let mut from = payload_start;
    let line_end = loop {
        let found = from + memchr::memchr2(b'_', b'\n', &block[from..])?;
        if block[found] == b'\n' {
            break found;
        }
        from = found + 1;
        let Some(key_start) = found.checked_sub(FINISH_REASON_UNDERSCORE) else {
            continue;
        };
        let key_end = key_start + FINISH_REASON.len();
        if key_start < payload_start || block.get(key_start..key_end) != Some(FINISH_REASON) {
            continue;
        }
        keyed = true;
        let (string, value) = string_value_in_line(block, key_end)?;
        if string {
            finished = true;
            // The rest of the line matters no more but for where it ends.
            break from + memchr::memchr(b'\n', &block[from..])?;
        }
        // The usual single-choice chunk ends right there: no search for the line's end.
        if block.get(value..value + NULL_LINE_END.len()) == Some(NULL_LINE_END) {
            break value + NULL_LINE_END.len() - 1;
        }
        // Neither the key's tail nor the colon holds an underscore or an LF.
        from = value;
    };
    if block[line_end - 1] == b'\r' || block.get(line_end + 1) != Some(&b'\n') {
        return None;
    }
    let said = match (keyed, finished) {
        (_, true) => Said::Finished,
        (true, false) => Said::More,
        (false, _) => keyless_chat_said(&block[payload_start..line_end]),
    };
    Some((line_end + 2 - start, said))
}

/// How the usual chat chunk's line ends after its `"finish_reason":`, LF included: no
/// underscore in it, so no key after it (a search for the LF cost more than this test).
const NULL_LINE_END: &[u8] = b"null}]}\n";

/// Whether a string value follows the key that ends at `after` (as `field_value` reads it),
/// and where what follows the colon starts (or where the key's tail ends, without a colon);
/// `None` when the whitespace to cross holds a CR or LF, which may be the line's end.
fn string_value_in_line(block: &[u8], after: usize) -> Option<(bool, usize)> {
    let skip_blanks = |mut at: usize| {
        while let Some(b' ' | b'\t' | b'\x0c') = block.get(at) {
            at += 1;
        }
        match block.get(at) {
            Some(b'\r' | b'\n') => None,
            next => Some((at, next)),
        }
    };
    let (colon, next) = skip_blanks(after)?;
    if next != Some(&b':') {
        return Some((false, colon));
    }
    let (at, value) = skip_blanks(colon + 1)?;
    Some((value == Some(&b'"'), at))
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

/// One SSE event of a block: where it lies, and the payload of its `data:` lines (joined by
/// `\n` when there are several), if it has any.
#[derive(Debug, PartialEq)]
pub struct SseEvent<'b> {
    pub start: usize,
    pub len: usize,
    pub data: Option<Cow<'b, [u8]>>,
}

/// The whole events of a block, each read in one pass over its bytes: the usual event, a
/// single `data:` line and the blank line, costs one `memchr` and a look at the next bytes.
/// Bytes after the last blank line (an unfinished event) are not given.
pub fn events(block: &[u8]) -> impl Iterator<Item = SseEvent<'_>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let event = next_event(block, at)?;
        at = event.start + event.len;
        Some(event)
    })
}

fn next_event(block: &[u8], start: usize) -> Option<SseEvent<'_>> {
    let mut data: Option<Cow<'_, [u8]>> = None;
    let mut line_start = start;
    loop {
        let mut newline = line_start + memchr::memchr(b'\n', &block[line_start..])?;
        if !is_blank_line_end(block, newline) {
            let line = &block[line_start..newline];
            if let Some(payload) = data_field(line.strip_suffix(b"\r").unwrap_or(line)) {
                match &mut data {
                    None => data = Some(Cow::Borrowed(payload)),
                    Some(joined) => {
                        let joined = joined.to_mut();
                        joined.push(b'\n');
                        joined.extend_from_slice(payload);
                    }
                }
            }
            // The usual end of an event: the blank line right after its last line.
            match &block[newline + 1..] {
                [b'\n', ..] => newline += 1,
                [b'\r', b'\n', ..] => newline += 2,
                _ => {
                    line_start = newline + 1;
                    continue;
                }
            }
        }
        return Some(SseEvent {
            start,
            len: newline + 1 - start,
            data,
        });
    }
}

/// The value of a `data:` line (one space after the colon is not part of it).
fn data_field(line: &[u8]) -> Option<&[u8]> {
    let value = line.strip_prefix(b"data:")?;
    Some(value.strip_prefix(b" ").unwrap_or(value))
}

/// The data of the first event in a block that has some.
pub fn first_data(block: &[u8]) -> Option<Vec<u8>> {
    events(block).find_map(|event| event.data.map(Cow::into_owned))
}

pub fn is_done(payload: &[u8]) -> bool {
    payload.trim_ascii() == b"[DONE]"
}

// Searchers built once: building one per search showed up in profiles.
static CHOICES: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"choices\""));
static USAGE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"usage\""));

const FINISH_REASON: &[u8] = b"\"finish_reason\"";
/// Where the key's one `_` is: every occurrence of the key holds an underscore there.
const FINISH_REASON_UNDERSCORE: usize = 7;

/// A chat chunk: `[DONE]`, a finish reason (a string, not `null`), or the usage-only chunk.
/// Only a choice has a `finish_reason` key, so a chunk with one is neither `[DONE]` nor the
/// usage-only chunk: the usual chunk costs one search.
fn chat_said(payload: &[u8]) -> Said {
    let mut keys = finish_reason_keys(payload).peekable();
    if keys.peek().is_none() {
        return keyless_chat_said(payload);
    }
    let finished = keys
        .any(|after| field_value(payload, after).is_some_and(|value| value.first() == Some(&b'"')));
    match finished {
        true => Said::Finished,
        false => Said::More,
    }
}

/// A chat chunk without a `"finish_reason"` key: `[DONE]`, the usage-only chunk, or more.
fn keyless_chat_said(payload: &[u8]) -> Said {
    if is_done(payload) {
        Said::Done
    } else if is_usage_only(payload) {
        Said::UsageOnly
    } else {
        Said::More
    }
}

/// Where each `"finish_reason"` in `payload` ends, last first. OpenAI writes the key at the
/// chunk's end, and underscores are rare in a chunk: a one-byte search for them from the
/// end finds it at once and crosses the rest quickly, where a substring search from the
/// start crossed the whole chunk to reach it (read_event: 309 -> 208 instructions an event).
fn finish_reason_keys(payload: &[u8]) -> impl Iterator<Item = usize> + '_ {
    memchr::memrchr_iter(b'_', payload).filter_map(|underscore| {
        let start = underscore.checked_sub(FINISH_REASON_UNDERSCORE)?;
        let end = start + FINISH_REASON.len();
        (payload.get(start..end)? == FINISH_REASON).then_some(end)
    })
}

static TYPE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"type\""));

/// Which of `types` (each given with its quotes, e.g. `"message_stop"`) the first `"type"`
/// field that is one of them names. Escaped quotes inside strings cannot match, so a text
/// that mentions a type is not taken for it.
fn first_type(payload: &[u8], types: &[&[u8]]) -> Option<usize> {
    TYPE.find_iter(payload).find_map(|at| {
        let value = field_value(payload, at + TYPE.needle().len())?;
        types.iter().position(|t| value.starts_with(t))
    })
}

static ERROR: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"error\""));

/// The `delta.error` of a Cohere `message-end` (only on failures, so it may parse).
fn cohere_error_message(payload: &[u8]) -> String {
    let message = crate::json::read_copy(payload, |event| {
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

/// What an event tells the relay, read from its bytes.
#[derive(Debug, PartialEq)]
pub enum Said {
    /// The upstream's in-band error, in place of the rest of the answer: its message.
    Error(String),
    /// The answer is complete (what may follow is usage and the end).
    Finished,
    /// Chat's `[DONE]`: complete, its end marker included.
    Done,
    /// Chat's usage-only chunk (`"choices": []` with a usage object).
    UsageOnly,
    /// Anything else: content, usage, metadata.
    More,
}

/// What the event with `payload` (as `each_payload` gives it) says in `dialect`: byte
/// tests on the payload, one search each; an error's message is parsed (failures only).
pub fn read_event(dialect: Dialect, payload: &[u8]) -> Said {
    let finished = match dialect {
        Dialect::Chat => return chat_said(payload),
        Dialect::Anthropic => match first_type(payload, &[b"\"message_stop\"", b"\"error\""]) {
            Some(0) => true,
            Some(_) => return Said::Error(error_message(payload)),
            None => false,
        },
        Dialect::Responses => match first_type(
            payload,
            &[
                b"\"response.completed\"",
                b"\"response.incomplete\"",
                b"\"response.failed\"",
                b"\"error\"",
            ],
        ) {
            Some(3) => return Said::Error(error_message(payload)),
            found => found.is_some(),
        },
        // Cohere's stream has no error event: its `message-end` carries `delta.error`.
        Dialect::Cohere => {
            if first_type(payload, &[b"\"message-end\""]).is_none() {
                return Said::More;
            }
            if field_value_starts(payload, &ERROR, |value| value.first() == Some(&b'"')) {
                return Said::Error(cohere_error_message(payload));
            }
            true
        }
        // Gemini's stream carries its error object as an event of its own.
        Dialect::Gemini if payload.trim_ascii_start().starts_with(b"{\"error\"") => {
            return Said::Error(error_message(payload));
        }
        Dialect::Gemini => field_value_starts(payload, &FINISH_REASON_GEMINI, |value| {
            value.first() == Some(&b'"')
        }),
        Dialect::Converse => return converse_said(payload),
    };
    match finished {
        true => Said::Finished,
        false => Said::More,
    }
}

/// What an event-stream frame says (the frame is read, and its CRC checked, once).
fn converse_said(frame: &[u8]) -> Said {
    let Ok(frame) = eventstream::read_frame(frame) else {
        return Said::More;
    };
    match frame.message_type {
        Some("exception") => {
            let message = error_message(frame.payload);
            Said::Error(match frame.exception_type {
                Some(kind) => format!("{kind}: {message}"),
                None => message,
            })
        }
        // An unmodeled error: its code and message are headers, not a payload.
        Some("error") => Said::Error(format!(
            "{}: {}",
            frame.error_code.unwrap_or("error"),
            frame.error_message.unwrap_or("upstream error")
        )),
        _ if frame.event_type == Some("messageStop") => Said::Finished,
        _ => Said::More,
    }
}

/// The message of an error event (this runs only on failures, so it may parse).
pub fn error_message(payload: &[u8]) -> String {
    let message = crate::json::read_copy(payload, |event| {
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
fn is_usage_only(payload: &[u8]) -> bool {
    USAGE.find(payload).is_some()
        && field_value_starts(payload, &CHOICES, |value| {
            value.first() == Some(&b'[') && value[1..].trim_ascii_start().first() == Some(&b']')
        })
}

fn field_value_starts(payload: &[u8], key: &Finder<'_>, check: impl Fn(&[u8]) -> bool) -> bool {
    key.find_iter(payload)
        .any(|at| field_value(payload, at + key.needle().len()).is_some_and(&check))
}

/// What follows a key that ends at `after`: its value and the rest, when a `:` comes next.
fn field_value(payload: &[u8], after: usize) -> Option<&[u8]> {
    let rest = payload[after..].trim_ascii_start();
    Some(rest.strip_prefix(b":")?.trim_ascii_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(start, len, data)` of every event of a block.
    fn read_all(block: &[u8]) -> Vec<(usize, usize, Option<Vec<u8>>)> {
        events(block)
            .map(|event| (event.start, event.len, event.data.map(Cow::into_owned)))
            .collect()
    }

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
        // CRLF line ends, a comment, and the blank line split from its event.
        let crlf = Bytes::from_static(b": keep-alive\r\n\r\ndata: [DONE]\r\n");
        assert_eq!(
            framer.push(crlf).as_deref(),
            Some(&b": keep-alive\r\n\r\n"[..])
        );
        let done = framer.push(Bytes::from_static(b"\r\n")).unwrap();
        assert_eq!(&done[..], b"data: [DONE]\r\n\r\n");
        assert_eq!(
            read_all(&done),
            [(0, 16, Some(b"[DONE]".to_vec()))],
            "one event, its CR not part of the data"
        );
    }

    #[test]
    fn events_are_read_in_one_pass_whatever_their_shape() {
        let block = b"data: {\"a\":1}\n\n\
            : a comment\n\n\
            event: delta\r\ndata:x\r\nid: 7\r\ndata:  y\r\n\r\n\
            data: first\ndata: second\n\n\
            retry: 10\n\n\
            data: [DONE]\n\n\
            data: unfinished\n";
        assert_eq!(
            read_all(block),
            [
                (0, 15, Some(b"{\"a\":1}".to_vec())),
                (15, 13, None),
                (28, 41, Some(b"x\n y".to_vec())),
                (69, 26, Some(b"first\nsecond".to_vec())),
                (95, 11, None),
                (106, 14, Some(b"[DONE]".to_vec())),
            ],
            "comments and fields without data have none; data lines are joined by LF; \
             one space after the colon goes; an unfinished event is not given"
        );
        let data = |block: &'static [u8]| events(block).next().and_then(|event| event.data);
        assert!(matches!(data(b"data: a\n\n"), Some(Cow::Borrowed(b"a"))));
        assert_eq!(
            data(b"data\n\n"),
            None,
            "a field without a colon is no data line"
        );
        assert_eq!(data(b"data:\n\n").as_deref(), Some(&b""[..]));
        assert_eq!(data(b"\ndata: a\n\n").as_deref(), Some(&b"a"[..]));
        assert_eq!(first_data(b": ping\n\ndata: {}\n\n"), Some(b"{}".to_vec()));
    }

    #[test]
    fn facts_read_from_bytes() {
        let chat = |payload: &[u8]| read_event(Dialect::Chat, payload);
        assert_eq!(
            chat(br#"{"choices":[{"finish_reason": "stop"}]}"#),
            Said::Finished
        );
        assert_eq!(chat(br#"{"choices":[{"finish_reason":null}]}"#), Said::More);
        assert_eq!(
            chat(br#"{"choices":[{"index":0,"finish_reason":null},{"index":1,"finish_reason":"length"}]}"#),
            Said::Finished,
            "any choice's finish reason"
        );
        assert_eq!(
            chat(br#"{"choices": [ ],"usage":{"total_tokens":3}}"#),
            Said::UsageOnly
        );
        assert_eq!(
            chat(br#"{"choices":[{"delta":{}}],"usage":null}"#),
            Said::More
        );
        assert_eq!(
            chat(br#"{"choices":[{"delta":{"content":"\"choices\": [], \"usage\""}}]}"#),
            Said::More,
            "a text that quotes the keys"
        );
        assert_eq!(
            chat(br#"{"choices":[{"delta":{"content":"\"finish_reason\":\"stop\""},"finish_reason":null}]}"#),
            Said::More,
            "a text that quotes the key and a value, escaped"
        );
        assert_eq!(
            chat(br#"{"choices":[{"delta":{"content":"finish_reason: stop"},"finish_reason":null}]}"#),
            Said::More,
            "a text that names the key without quotes"
        );
        assert_eq!(
            chat(
                br#"{"choices":[{"delta":{"content":"finish_reason"},"finish_reason":"length"}]}"#
            ),
            Said::Finished,
            "a text that is the key's name, then a reason"
        );
        assert_eq!(
            chat(br#"{"choices":[{"index":0,"finish_reason":"stop"},{"index":1,"finish_reason":null}]}"#),
            Said::Finished,
            "a reason before the last key"
        );
        assert_eq!(
            chat(br#"{"system_fingerprint":"fp_1","choices":[{"delta":{"content":"a_b"},"logprobs":null}]}"#),
            Said::More,
            "no key, other underscores"
        );
        assert_eq!(
            chat(br#"_finish_reason"#),
            Said::More,
            "underscores near the start"
        );
        assert!(is_usage_only(br#"{"choices":[],"usage":{}}"#));
        assert!(!is_usage_only(br#"{"choices":[]}"#), "no usage");
        assert_eq!(
            first_type(br#"{"type": "message_stop"}"#, &[b"\"message_stop\""]),
            Some(0)
        );
        assert_eq!(
            first_type(
                br#"{"type":"content_block_delta","delta":{"text":"\"type\":\"message_stop\""}}"#,
                &[b"\"message_stop\""]
            ),
            None
        );
    }
}

#[cfg(test)]
mod dialect_tests;

#[cfg(test)]
mod fuzz {
    use super::*;

    /// The events of a block read the plain way, line by line (the reference for `events`):
    /// an event ends at a blank line; its data lines are joined by LF.
    fn reference(block: &[u8]) -> Vec<(usize, usize, Option<Vec<u8>>)> {
        let mut found = Vec::new();
        let (mut start, mut line_start) = (0, 0);
        let mut data: Option<Vec<u8>> = None;
        for (i, &byte) in block.iter().enumerate() {
            if byte != b'\n' {
                continue;
            }
            if is_blank_line_end(block, i) {
                found.push((start, i + 1 - start, data.take()));
                start = i + 1;
            } else {
                let line = &block[line_start..i];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if let Some(value) = line.strip_prefix(b"data:") {
                    let value = value.strip_prefix(b" ").unwrap_or(value);
                    match &mut data {
                        None => data = Some(value.to_vec()),
                        Some(joined) => {
                            joined.push(b'\n');
                            joined.extend_from_slice(value);
                        }
                    }
                }
            }
            line_start = i + 1;
        }
        found
    }

    /// What a chat chunk says, read the plain way: any `"finish_reason"` key, wherever it
    /// is, whose value is a string (the reference for `chat_said`).
    fn chat_reference(payload: &[u8]) -> Said {
        if is_done(payload) {
            return Said::Done;
        }
        let ends: Vec<usize> = payload
            .windows(FINISH_REASON.len())
            .enumerate()
            .filter(|(_, window)| *window == FINISH_REASON)
            .map(|(start, _)| start + FINISH_REASON.len())
            .collect();
        if ends.is_empty() {
            return match is_usage_only(payload) {
                true => Said::UsageOnly,
                false => Said::More,
            };
        }
        let string_after = |end: usize| {
            let rest = payload[end..].trim_ascii_start();
            let value = rest.strip_prefix(b":").map(<[u8]>::trim_ascii_start);
            value.is_some_and(|value| value.first() == Some(&b'"'))
        };
        match ends.into_iter().any(string_after) {
            true => Said::Finished,
            false => Said::More,
        }
    }

    /// Chunks made of the key's pieces, values and other underscores read as the reference
    /// reads them.
    #[test]
    fn chat_chunks_read_as_the_reference() {
        let mut rng = fastrand::Rng::with_seed(17);
        let pieces: [&[u8]; 12] = [
            b"\"finish_reason\"",
            b"finish_reason",
            b"\\\"",
            b"\"",
            b":",
            b" ",
            b"null",
            b"\"stop\"",
            b"_",
            b"{\"choices\":[",
            b"\"usage\":{}",
            b"fp_x",
        ];
        for _ in 0..20_000 {
            let payload: Vec<u8> = (0..rng.usize(0..12))
                .flat_map(|_| pieces[rng.usize(..pieces.len())].iter().copied())
                .collect();
            assert_eq!(
                read_event(Dialect::Chat, &payload),
                chat_reference(&payload),
                "{:?}",
                String::from_utf8_lossy(&payload)
            );
        }
    }

    /// What the events of a chat block say, read the general way: `each_payload`, then
    /// `read_event` on each payload (the reference for `each_said`).
    fn chat_events_reference(block: &[u8]) -> Vec<(usize, usize, Said)> {
        let mut found = Vec::new();
        each_payload(Framing::Sse, block, |start, len, payload| {
            found.push((start, len, read_event(Dialect::Chat, payload)));
            std::ops::ControlFlow::Continue(())
        });
        found
    }

    fn chat_events(block: &[u8]) -> Vec<(usize, usize, Said)> {
        let mut found = Vec::new();
        each_said(Dialect::Chat, block, |start, len, said| {
            found.push((start, len, said));
            std::ops::ControlFlow::Continue(())
        });
        found
    }

    #[test]
    fn the_usual_chat_event_is_read_in_one_pass() {
        let delta = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a_b\"},\"finish_reason\":null}]}\n\n";
        assert_eq!(
            single_line_chat_event(delta, 0),
            Some((delta.len(), Said::More))
        );
        let stop = b"data:{\"choices\":[{\"finish_reason\" : \"stop\"}]}\n\ndata: [DONE]\n\n";
        assert_eq!(single_line_chat_event(stop, 0), Some((47, Said::Finished)));
        assert_eq!(single_line_chat_event(stop, 47), Some((14, Said::Done)));
        for other in [
            &b"data: {\"finish_reason\":null}\r\n\r\n"[..],
            b"data: {\"finish_reason\":null}\ndata: {}\n\n",
            b"event: x\ndata: {}\n\n",
            b": ping\n\n",
            b"data: {\"finish_reason\"\n\n",
            b"data: {\"finish_reason\"\r:\"stop\"}\n\n",
        ] {
            assert_eq!(
                single_line_chat_event(other, 0),
                None,
                "left to the general path: {:?}",
                String::from_utf8_lossy(other)
            );
        }
    }

    /// Chat blocks of every shape (CRLF, several data lines, comments, `event:` lines, keys
    /// in strings, whitespace around the colon, `[DONE]` with spaces, unfinished events)
    /// read by `each_said` as the general path reads them.
    #[test]
    fn chat_blocks_read_as_the_general_path() {
        let shapes: [&[u8]; 12] = [
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n",
            b"data: {\"choices\":[{\"index\":0,\"finish_reason\":null},{\"index\":1,\"finish_reason\":\"length\"}]}\n\n",
            b"data: {\"choices\":[{\"delta\":{\"content\":\"\\\"finish_reason\\\":\\\"stop\\\"\"},\"finish_reason\":null}]}\n\n",
            b"data: {\"choices\":[{\"finish_reason\" \t: \"stop\"}]}\n\n",
            b"data: {\"choices\":[],\"usage\":{\"total_tokens\":3}}\n\n",
            b"data:  [DONE] \n\n",
            b"data: {\"finish_reason\":\"stop\"}\r\n\r\n",
            b"event: chunk\ndata: {\"finish_reason\":\n\n",
            b"data: {\"finish_reason\"\ndata: :\"stop\"}\n\n",
            b": keep-alive\n\n",
            b"id: 7\ndata: {\"system_fingerprint\":\"fp_1\"}\n\n",
            b"data: {\"finish_reason\":null}\n",
        ];
        for shape in shapes {
            assert_eq!(
                chat_events(shape),
                chat_events_reference(shape),
                "{:?}",
                String::from_utf8_lossy(shape)
            );
        }
        let mut rng = fastrand::Rng::with_seed(23);
        let pieces: [&[u8]; 21] = [
            b"data: ",
            b"data:",
            b"{\"choices\":[",
            b"\"finish_reason\"",
            b"finish_reason",
            b"_",
            b":",
            b" ",
            b"\t",
            b"null",
            b"\"stop\"",
            b"\\\"",
            b"\n",
            b"\n\n",
            b"\r\n",
            b"\r",
            b"[DONE]",
            b"\"usage\":{}",
            b"\"choices\":[]",
            b": x\nevent: y\n",
            b"}]}",
        ];
        for _ in 0..50_000 {
            let block: Vec<u8> = (0..rng.usize(0..16))
                .flat_map(|_| pieces[rng.usize(..pieces.len())].iter().copied())
                .collect();
            let read = chat_events(&block);
            assert_eq!(
                read,
                chat_events_reference(&block),
                "{:?}",
                String::from_utf8_lossy(&block)
            );
            // Opening a chat stream relies on it (`open::has_data`).
            assert!(
                !read
                    .iter()
                    .any(|(_, _, said)| matches!(said, Said::Error(_))),
                "a chat event never reads as an error"
            );
        }
    }

    /// Random bytes cut at random places: the framer never panics, loses nothing and
    /// releases only whole events, which read as the reference reads them.
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
                    let read: Vec<_> = super::events(&events)
                        .map(|event| (event.start, event.len, event.data.map(Cow::into_owned)))
                        .collect();
                    assert_eq!(
                        read,
                        reference(&events),
                        "{:?}",
                        String::from_utf8_lossy(&events)
                    );
                    for (_, _, data) in read {
                        let _ = data.map(|payload| read_event(Dialect::Chat, &payload));
                    }
                    released.extend_from_slice(&events);
                }
                at = end;
            }
            released.extend_from_slice(&framer.pending);
            assert_eq!(released, input);
        }
    }
}
