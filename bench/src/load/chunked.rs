//! Incremental decoder of `Transfer-Encoding: chunked` bodies: feeds chunk data out as it
//! arrives, so that a stream's events are timed when their bytes land, not when a chunk ends.

use memchr::memmem;

/// Longest chunk-size line (with extensions) or trailer line accepted.
const MAX_LINE: usize = 4096;

#[derive(Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Size,
    Data(usize),
    DataEnd,
    Trailer,
    Done,
}

#[derive(Debug, Default)]
pub struct ChunkedDecoder {
    state: State,
}

#[derive(Debug, PartialEq, Eq)]
pub struct InvalidChunk;

impl ChunkedDecoder {
    /// Consumes what it can of `input`, handing chunk data to `data`; returns the bytes used.
    pub fn feed(
        &mut self,
        input: &[u8],
        mut data: impl FnMut(&[u8]),
    ) -> Result<usize, InvalidChunk> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match self.state {
                State::Done => return Ok(used),
                State::Size => {
                    let Some(line) = line(rest)? else {
                        return Ok(used);
                    };
                    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
                    let size = std::str::from_utf8(digits)
                        .ok()
                        .and_then(|digits| usize::from_str_radix(digits.trim(), 16).ok())
                        .ok_or(InvalidChunk)?;
                    used += line.len() + 2;
                    self.state = if size == 0 {
                        State::Trailer
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(remaining) => {
                    if rest.is_empty() {
                        return Ok(used);
                    }
                    let take = remaining.min(rest.len());
                    data(&rest[..take]);
                    used += take;
                    self.state = if take == remaining {
                        State::DataEnd
                    } else {
                        State::Data(remaining - take)
                    };
                }
                State::DataEnd => {
                    if rest.len() < 2 {
                        return Ok(used);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(InvalidChunk);
                    }
                    used += 2;
                    self.state = State::Size;
                }
                State::Trailer => {
                    let Some(line) = line(rest)? else {
                        return Ok(used);
                    };
                    used += line.len() + 2;
                    if line.is_empty() {
                        self.state = State::Done;
                    }
                }
            }
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }
}

/// The next CRLF-terminated line, without its CRLF; `None` until it is complete.
fn line(input: &[u8]) -> Result<Option<&[u8]>, InvalidChunk> {
    match memmem::find(input, b"\r\n") {
        Some(end) => Ok(Some(&input[..end])),
        None if input.len() > MAX_LINE => Err(InvalidChunk),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::{ChunkedDecoder, InvalidChunk};

    /// Feeds `body` split at every possible point and returns the decoded bytes.
    fn decode_split(body: &[u8], split: usize) -> Vec<u8> {
        let mut decoder = ChunkedDecoder::default();
        let mut out = Vec::new();
        let mut pending = Vec::new();
        for part in [&body[..split], &body[split..]] {
            pending.extend_from_slice(part);
            let used = decoder
                .feed(&pending, |data| out.extend_from_slice(data))
                .unwrap();
            pending.drain(..used);
        }
        assert!(decoder.is_done(), "split at {split}");
        assert!(pending.is_empty());
        out
    }

    #[test]
    fn decodes_at_any_split() {
        let body = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n";
        for split in 0..=body.len() {
            assert_eq!(decode_split(body, split), b"hello, world");
        }
    }

    #[test]
    fn rejects_garbage() {
        let mut decoder = ChunkedDecoder::default();
        assert_eq!(decoder.feed(b"zz\r\n", |_| {}), Err(InvalidChunk));
        let mut decoder = ChunkedDecoder::default();
        assert_eq!(decoder.feed(b"1\r\nabc", |_| {}), Err(InvalidChunk));
    }
}
