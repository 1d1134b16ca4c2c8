//! Splits a decoded SSE body into events and tells data events, the end and errors apart, in
//! either dialect: chat ends with `data: [DONE]`, Anthropic Messages with `event: message_stop`,
//! and its errors are `event: error`.

use memchr::memmem;

#[derive(Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A `data:` event carrying a chunk.
    Data,
    /// `data: [DONE]`, or Anthropic's `message_stop`.
    Done,
    /// A `data:` event whose payload is an `{"error":...}` object, or Anthropic's `error` event.
    Error,
    /// Comments, keep-alives and events without data.
    Other,
}

/// Holds the incomplete tail of the stream between reads.
#[derive(Default)]
pub struct EventScanner {
    pending: Vec<u8>,
}

impl EventScanner {
    pub fn feed(&mut self, bytes: &[u8], mut on_event: impl FnMut(EventKind)) {
        if self.pending.is_empty() {
            let used = scan(bytes, &mut on_event);
            self.pending.extend_from_slice(&bytes[used..]);
            return;
        }
        self.pending.extend_from_slice(bytes);
        let used = scan(&self.pending, &mut on_event);
        self.pending.drain(..used);
    }

    pub fn clear(&mut self) {
        self.pending.clear();
    }
}

/// Reports every complete event in `bytes`; returns the bytes they took.
fn scan(bytes: &[u8], on_event: &mut impl FnMut(EventKind)) -> usize {
    let mut used = 0;
    while let Some(end) = memmem::find(&bytes[used..], b"\n\n") {
        on_event(classify(&bytes[used..used + end]));
        used += end + 2;
    }
    used
}

fn classify(event: &[u8]) -> EventKind {
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
    match name {
        Some(b"message_stop") => EventKind::Done,
        Some(b"error") => EventKind::Error,
        _ if payload == b"[DONE]" => EventKind::Done,
        _ if payload.starts_with(b"{\"error\"") => EventKind::Error,
        _ => EventKind::Data,
    }
}

#[cfg(test)]
mod tests {
    use super::{EventKind, EventScanner};

    #[test]
    fn splits_events_across_reads() {
        let body = b": ping\n\ndata: {\"a\":1}\n\ndata: {\"error\":{}}\n\ndata: [DONE]\n\n";
        for split in 0..=body.len() {
            let mut scanner = EventScanner::default();
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
        EventScanner::default().feed(body, |kind| kinds.push(kind));
        let expected = [
            EventKind::Data,
            EventKind::Data,
            EventKind::Error,
            EventKind::Done,
        ];
        assert_eq!(kinds, expected);
    }
}
