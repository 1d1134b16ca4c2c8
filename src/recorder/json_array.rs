//! Splitting a stream that is one JSON array (Gemini's `streamGenerateContent` without
//! `alt=sse`: `[{...}\r\n,\r\n{...}]`) back into its entries, as the bytes arrive: an entry
//! is complete at the `,` or `]` that follows it outside any string or nested value.

/// Incremental splitter: `push` bytes, then take entries with `next_entry`.
#[derive(Debug, Default)]
pub(super) struct ArraySplitter {
    /// Bytes received and not yet handed out, from the start of the current entry.
    pending: Vec<u8>,
    /// How much of `pending` was scanned.
    scanned: usize,
    /// Nesting depth at `scanned`: 1 between the entries of the outer array.
    depth: u32,
    in_string: bool,
    /// The last byte scanned was a `\` inside a string.
    escaped: bool,
    /// The outer array's `]` was seen.
    closed: bool,
    /// The entry handed out by the last `next_entry`.
    entry: Vec<u8>,
}

impl ArraySplitter {
    pub(super) fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The next complete entry (mutable, so simd-json can parse it in place), or `None`
    /// until more bytes arrive.
    pub(super) fn next_entry(&mut self) -> Option<&mut [u8]> {
        // What follows the closed array is left for `finish` to see.
        while !self.closed && self.scanned < self.pending.len() {
            let byte = self.pending[self.scanned];
            self.scanned += 1;
            if self.in_string {
                match byte {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'[' if self.depth == 0 => {
                    // The outer array opens: what came before it is not an entry.
                    self.depth = 1;
                    self.pending.drain(..self.scanned);
                    self.scanned = 0;
                }
                b'[' | b'{' => self.depth += 1,
                b']' | b'}' if self.depth > 1 => self.depth -= 1,
                b',' | b']' if self.depth == 1 => {
                    if byte == b']' {
                        self.depth = 0;
                        self.closed = true;
                    }
                    let entry = self.pending[..self.scanned - 1].trim_ascii();
                    self.entry.clear();
                    self.entry.extend_from_slice(entry);
                    self.pending.drain(..self.scanned);
                    self.scanned = 0;
                    // `[]` has no entry; `[{..},]` has no last one.
                    if !self.entry.is_empty() {
                        return Some(&mut self.entry);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// At the end of the stream: true when the array was not closed, or something other
    /// than whitespace followed it. An unfinished entry is dropped.
    pub(super) fn finish(&mut self) -> bool {
        !self.closed || !self.pending.trim_ascii().is_empty()
    }
}
