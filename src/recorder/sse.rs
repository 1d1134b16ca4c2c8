//! Splitting a stream's bytes, exactly as the client got them, back into SSE events.
//! Events may be split across chunks or share one; lines end in `\n` or `\r\n`; `:` lines
//! are comments; several `data:` lines in one event are joined with `\n` (as the spec says).

/// Incremental SSE parser: `push` bytes, then take events with `next_event`.
#[derive(Debug, Default)]
pub(super) struct SseSplitter {
    /// Bytes received but not yet consumed as complete lines.
    pending: Vec<u8>,
    /// The current event's data, built from its `data:` lines.
    data: Vec<u8>,
    /// The current event has at least one `data` field.
    has_data: bool,
    /// `data` was handed out by the last `next_event` and must be cleared first.
    dispatched: bool,
}

impl SseSplitter {
    pub(super) fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The data of the single-line event that opens `bytes` (`data: …\n\n`, as chat upstreams
    /// write them) and that event's length, read in place, when nothing is pending: taking it
    /// so leaves the splitter as pushing it and taking it with `next_event` would.
    pub(super) fn leading_event<'b>(&self, bytes: &'b [u8]) -> Option<(&'b [u8], usize)> {
        if !self.between_events() {
            return None;
        }
        let line_end = memchr::memchr(b'\n', bytes)?;
        let line = bytes[..line_end].strip_prefix(b"data:")?;
        if bytes.get(line_end + 1) != Some(&b'\n') || line.ends_with(b"\r") {
            return None;
        }
        let data = line.strip_prefix(b" ").unwrap_or(line);
        Some((data, line_end + 2))
    }

    /// The data of `bytes` taken as one single-line event (`data: …\n\n`), when nothing is
    /// pending. Only if that data holds no line break is it the event `leading_event` would
    /// take, and its length all of `bytes`: the caller checks (the chat scan refuses control
    /// bytes), which spares the search for the line's end.
    pub(super) fn whole_event<'b>(&self, bytes: &'b [u8]) -> Option<&'b [u8]> {
        if !self.between_events() {
            return None;
        }
        let line = bytes.strip_suffix(b"\n\n")?.strip_prefix(b"data:")?;
        Some(line.strip_prefix(b" ").unwrap_or(line))
    }

    /// Nothing pending, no event begun: the next bytes start an event.
    fn between_events(&self) -> bool {
        self.pending.is_empty() && (!self.has_data || self.dispatched)
    }

    /// The data of the next complete event (mutable, so simd-json can parse it in place),
    /// or `None` until more bytes arrive. Events without data (comments only) are skipped.
    pub(super) fn next_event(&mut self) -> Option<&mut [u8]> {
        if self.dispatched {
            self.data.clear();
            self.has_data = false;
            self.dispatched = false;
        }
        let mut consumed = 0;
        let mut complete = false;
        while let Some(newline) = memchr::memchr(b'\n', &self.pending[consumed..]) {
            let line_start = consumed;
            let line_end = consumed + newline;
            consumed = line_end + 1;
            if !is_blank(&self.pending[line_start..line_end]) {
                self.take_line(line_start, line_end);
            } else if self.has_data {
                complete = true;
                break;
            }
        }
        self.pending.drain(..consumed);
        if !complete {
            return None;
        }
        self.dispatched = true;
        Some(&mut self.data)
    }

    /// At the end of the stream: true when an event was left unfinished (bytes after the
    /// last blank line other than comments). Like an SSE client, such an event is dropped.
    pub(super) fn finish(&mut self) -> bool {
        if self.dispatched {
            self.data.clear();
            self.has_data = false;
        }
        let leftover = std::mem::take(&mut self.pending);
        let unfinished_line = leftover
            .split(|&byte| byte == b'\n')
            .any(|line| !is_blank(line) && !line.starts_with(b":"));
        self.has_data || unfinished_line
    }

    /// Applies one non-empty line, found at `pending[start..end]` (without its ending).
    fn take_line(&mut self, start: usize, end: usize) {
        let line = &self.pending[start..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b":") {
            return;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(colon) => (&line[..colon], &line[colon + 1..]),
            None => (line, &b""[..]),
        };
        if field != b"data" {
            return;
        }
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if self.has_data {
            self.data.push(b'\n');
        }
        self.data.extend_from_slice(value);
        self.has_data = true;
    }
}

/// An empty line (the end of an event), whether it ended in `\n` or `\r\n`.
fn is_blank(line: &[u8]) -> bool {
    line.is_empty() || line == b"\r"
}
