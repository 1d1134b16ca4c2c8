//! Splits a decoded SSE body into events (LF or CRLF framed) and tells data events, the end and
//! errors apart, in the client's dialect: chat ends with `data: [DONE]`, Anthropic Messages with
//! `event: message_stop`, Cohere with `event: message-end`, Gemini with the event that carries
//! a `finishReason`.

use memchr::memmem;

use super::plan::Api;

#[derive(Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A `data:` event carrying a chunk.
    Data,
    /// The dialect's last event.
    Done,
    /// A `data:` event whose payload is an `{"error":...}` object, Anthropic's `error` event,
    /// or Cohere's `message-end` with `finish_reason` `ERROR`.
    Error,
    /// Comments, keep-alives and events without data.
    Other,
}

/// Holds the incomplete tail of the stream between reads.
pub struct EventScanner {
    api: Api,
    pending: Vec<u8>,
}

impl EventScanner {
    pub fn new(api: Api) -> Self {
        Self {
            api,
            pending: Vec::new(),
        }
    }

    pub fn feed(&mut self, bytes: &[u8], mut on_event: impl FnMut(EventKind)) {
        let api = self.api;
        if self.pending.is_empty() {
            let used = scan(api, bytes, &mut on_event);
            self.pending.extend_from_slice(&bytes[used..]);
            return;
        }
        self.pending.extend_from_slice(bytes);
        let used = scan(api, &self.pending, &mut on_event);
        self.pending.drain(..used);
    }

    pub fn clear(&mut self) {
        self.pending.clear();
    }
}

/// Reports every complete event in `bytes`; returns the bytes they took.
fn scan(api: Api, bytes: &[u8], on_event: &mut impl FnMut(EventKind)) -> usize {
    let mut used = 0;
    while let Some((end, separator)) = event_end(&bytes[used..]) {
        on_event(classify(api, &bytes[used..used + end]));
        used += end + separator;
    }
    used
}

/// Where the first event ends (its blank line: `\n\n`, or `\n\r\n` after a CRLF line, as
/// Gemini frames events) and how long that separator is.
fn event_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(at) = memchr::memchr(b'\n', &bytes[from..]) {
        let at = from + at;
        match &bytes[at + 1..] {
            [b'\n', ..] => return Some((at, 2)),
            [b'\r', b'\n', ..] => return Some((at, 3)),
            [] | [b'\r'] => return None,
            _ => from = at + 1,
        }
    }
    None
}

fn classify(api: Api, event: &[u8]) -> EventKind {
    let mut name = None;
    let mut payload = None;
    for line in event.split(|&b| b == b'\n') {
        if let Some(value) = line.strip_prefix(b"event:") {
            name = Some(value.trim_ascii());
        } else if let Some(value) = line.strip_prefix(b"data:") {
            payload.get_or_insert(value.trim_ascii());
        }
    }
    let Some(payload) = payload else {
        return EventKind::Other;
    };
    if payload.starts_with(b"{\"error\"") {
        return EventKind::Error;
    }
    let done = match api {
        Api::Chat => payload == b"[DONE]",
        Api::Messages if name == Some(b"error") => return EventKind::Error,
        Api::Messages => name == Some(b"message_stop"),
        Api::Cohere if name == Some(b"message-end") => {
            if memmem::find(payload, b"\"finish_reason\":\"ERROR\"").is_some() {
                return EventKind::Error;
            }
            true
        }
        Api::Cohere => false,
        Api::Gemini => memmem::find(payload, b"\"finishReason\"").is_some(),
    };
    if done {
        EventKind::Done
    } else {
        EventKind::Data
    }
}

#[cfg(test)]
mod tests {
    use super::{EventKind, EventScanner};
    use crate::load::plan::Api;

    #[test]
    fn splits_events_across_reads() {
        let body = b": ping\n\ndata: {\"a\":1}\n\ndata: {\"error\":{}}\n\ndata: [DONE]\n\n";
        for split in 0..=body.len() {
            let mut scanner = EventScanner::new(Api::Chat);
            let mut kinds = Vec::new();
            scanner.feed(&body[..split], |kind| kinds.push(kind));
            scanner.feed(&body[split..], |kind| kinds.push(kind));
            let expected = [
                EventKind::Other,
                EventKind::Data,
                EventKind::Error,
                EventKind::Done,
            ];
            assert_eq!(kinds, expected, "split at {split}");
        }
    }

    #[test]
    fn anthropic_events() {
        let body = b"event: message_start\ndata: {\"type\":\"message_start\"}\n\n\
            event: ping\ndata: {\"type\":\"ping\"}\n\n\
            event: error\ndata: {\"type\":\"error\",\"error\":{}}\n\n\
            event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        let mut kinds = Vec::new();
        EventScanner::new(Api::Messages).feed(body, |kind| kinds.push(kind));
        let expected = [
            EventKind::Data,
            EventKind::Data,
            EventKind::Error,
            EventKind::Done,
        ];
        assert_eq!(kinds, expected);
    }

    #[test]
    fn gemini_events_crlf_framed() {
        let body = b"data: {\"candidates\":[{\"content\":{}}]}\r\n\r\n\
            data: {\"error\":{\"code\":500}}\r\n\r\n\
            data: {\"candidates\":[{\"finishReason\":\"STOP\"}]}\r\n\r\n";
        for split in 0..=body.len() {
            let mut scanner = EventScanner::new(Api::Gemini);
            let mut kinds = Vec::new();
            scanner.feed(&body[..split], |kind| kinds.push(kind));
            scanner.feed(&body[split..], |kind| kinds.push(kind));
            let expected = [EventKind::Data, EventKind::Error, EventKind::Done];
            assert_eq!(kinds, expected, "split at {split}");
        }
        // Outside Gemini a finishReason is only text.
        let last = b"data: {\"candidates\":[{\"finishReason\":\"STOP\"}]}\r\n\r\n";
        let mut kinds = Vec::new();
        EventScanner::new(Api::Chat).feed(last, |kind| kinds.push(kind));
        assert_eq!(kinds, [EventKind::Data]);
    }

    #[test]
    fn cohere_events() {
        let body = b"event: message-start\ndata: {\"type\":\"message-start\"}\n\n\
            event: content-delta\ndata: {\"type\":\"content-delta\"}\n\n\
            event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"ERROR\",\"error\":\"x\"}}\n\n\
            event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\"}}\n\n";
        let mut kinds = Vec::new();
        EventScanner::new(Api::Cohere).feed(body, |kind| kinds.push(kind));
        let expected = [
            EventKind::Data,
            EventKind::Data,
            EventKind::Error,
            EventKind::Done,
        ];
        assert_eq!(kinds, expected);
    }
}
