//! Splits a decoded SSE body into events and tells data events, `[DONE]` and errors apart.

use memchr::memmem;

#[derive(Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A `data:` event carrying a chunk.
    Data,
    /// `data: [DONE]`.
    Done,
    /// A `data:` event whose payload is an `{"error":...}` object.
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
    let Some(payload) = event
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"data:"))
        .map(|payload| payload.trim_ascii())
    else {
        return EventKind::Other;
    };
    if payload == b"[DONE]" {
        EventKind::Done
    } else if payload.starts_with(b"{\"error\"") {
        EventKind::Error
    } else {
        EventKind::Data
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
}
