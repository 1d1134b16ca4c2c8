//! Pulling an upstream response body chunk by chunk as it arrives: fixed length, chunked,
//! or (common from Python SSE servers) delimited by the connection's close.

use bytes::{Buf, Bytes, BytesMut};

use super::connection::UpstreamConnection;

pub enum BodyFraming {
    Empty,
    Length(usize),
    Chunked(ChunkedDecoder),
    UntilClose,
}

/// Why a body ended early; the message is what the logs and failover see.
#[derive(Debug)]
pub enum BodyError {
    Reset(String),
    Malformed,
    TimedOut,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Reset(reason) => write!(f, "upstream connection lost mid-body: {reason}"),
            Self::Malformed => f.write_str("upstream sent a malformed chunked body"),
            Self::TimedOut => f.write_str("timed out waiting for response"),
        }
    }
}

impl BodyFraming {
    /// The next piece of the body, `None` once it ended cleanly.
    pub async fn next_chunk(
        &mut self,
        connection: &mut UpstreamConnection,
    ) -> Result<Option<Bytes>, BodyError> {
        loop {
            match self {
                Self::Empty => return Ok(None),
                Self::Length(0) => {
                    *self = Self::Empty;
                    return Ok(None);
                }
                Self::Length(remaining) => {
                    if !connection.buffer.is_empty() {
                        let take = connection.buffer.len().min(*remaining);
                        *remaining -= take;
                        if *remaining == 0 {
                            // The end is known now, before the next call.
                            *self = Self::Empty;
                        }
                        return Ok(Some(connection.buffer.split_to(take).freeze()));
                    }
                }
                Self::Chunked(decoder) => {
                    // Every chunk already read goes out as one piece: SSE servers send an
                    // event per chunk, and handing them over one by one cost a client write
                    // per event where one write can carry all that arrived together.
                    let (gathered, ended) = decode_buffered(decoder, &mut connection.buffer)?;
                    if ended {
                        *self = Self::Empty;
                    }
                    if gathered.is_some() || ended {
                        return Ok(gathered);
                    }
                }
                Self::UntilClose => {
                    if !connection.buffer.is_empty() {
                        return Ok(Some(connection.buffer.split().freeze()));
                    }
                }
            }
            match connection.fill().await {
                Ok(true) => {}
                Ok(false) if matches!(self, Self::UntilClose) => {
                    *self = Self::Empty;
                    return Ok(None);
                }
                Ok(false) => {
                    return Err(BodyError::Reset("closed before the end of the body".into()))
                }
                Err(e) => return Err(BodyError::Reset(e.to_string())),
            }
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self, Self::Empty)
    }
}

/// Where a chunked body's decoding stands between reads: the size of the chunk whose data
/// comes next, once its size line was read.
#[derive(Default)]
pub struct ChunkedDecoder {
    size: Option<usize>,
}

/// The data of every whole chunk in `buffer`, copied out as one piece, and whether the last
/// chunk was among them. Copied, not sliced: the connection's read buffer stays its own (a
/// slice kept by the log would make the next read allocate a fresh buffer), and the log
/// holds only the bytes it was given. A chunk is given only once whole, CRLF included.
fn decode_buffered(
    decoder: &mut ChunkedDecoder,
    buffer: &mut BytesMut,
) -> Result<(Option<Bytes>, bool), BodyError> {
    let mut gathered: Option<BytesMut> = None;
    let mut at = 0;
    let ended = loop {
        let size = match decoder.size.take() {
            Some(size) => size,
            None => match size_line(&buffer[at..])? {
                Some((size, line)) => {
                    at += line;
                    size
                }
                None => break false,
            },
        };
        let Some(after) = buffer.get(at + size..at + size + 2) else {
            decoder.size = Some(size);
            break false;
        };
        if after != b"\r\n" {
            return Err(BodyError::Malformed);
        }
        if size == 0 {
            at += 2;
            break true;
        }
        let data = &buffer[at..at + size];
        match &mut gathered {
            Some(gathered) => gathered.extend_from_slice(data),
            None => {
                // Room for the rest of what was read: usually more chunks follow in it.
                let mut first = BytesMut::with_capacity(buffer.len() - at);
                first.extend_from_slice(data);
                gathered = Some(first);
            }
        }
        at += size + 2;
    };
    buffer.advance(at);
    Ok((gathered.map(BytesMut::freeze), ended))
}

/// A chunk's size line at the start of `bytes`: the size and the line's length, `None` when
/// the line is not all there yet. Extensions are not accepted (no upstream sends them).
fn size_line(bytes: &[u8]) -> Result<Option<(usize, usize)>, BodyError> {
    let mut size: usize = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'f' => byte - b'a' + 10,
            b'A'..=b'F' => byte - b'A' + 10,
            b'\r' if i > 0 => {
                return match bytes.get(i + 1) {
                    None => Ok(None),
                    Some(b'\n') => Ok(Some((size, i + 2))),
                    Some(_) => Err(BodyError::Malformed),
                };
            }
            _ => return Err(BodyError::Malformed),
        };
        // Sixteen hex digits would overflow what any body could hold.
        if i >= 15 {
            return Err(BodyError::Malformed);
        }
        size = size * 16 + usize::from(digit);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::{decode_buffered, BodyError, ChunkedDecoder};

    #[test]
    fn chunks_read_together_come_out_as_one_piece() {
        let mut decoder = ChunkedDecoder::default();
        let mut buffer = BytesMut::from(&b"6\r\ndata: \r\n3\r\nabc\r\n4\r\nde"[..]);
        let (gathered, ended) = decode_buffered(&mut decoder, &mut buffer).unwrap();
        assert_eq!(gathered.as_deref(), Some(&b"data: abc"[..]));
        assert!(!ended);
        buffer.extend_from_slice(b"fg\r\n0\r\n\r\n");
        let (gathered, ended) = decode_buffered(&mut decoder, &mut buffer).unwrap();
        assert_eq!(gathered.as_deref(), Some(&b"defg"[..]));
        assert!(ended);
        assert!(buffer.is_empty());
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_read_boundaries() {
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for i in 0..5 {
            let data = format!("data: {{\"i\":{i},\"text\":\"hello world hello world\"}}\n\n");
            wire.extend_from_slice(format!("{:x}\r\n{}\r\n", data.len(), data).as_bytes());
            expected.extend_from_slice(data.as_bytes());
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        for step in 1..wire.len() {
            let mut decoder = ChunkedDecoder::default();
            let mut buffer = BytesMut::new();
            let mut got = Vec::new();
            let mut done = false;
            for piece in wire.chunks(step) {
                buffer.extend_from_slice(piece);
                let (gathered, ended) = decode_buffered(&mut decoder, &mut buffer)
                    .unwrap_or_else(|e| panic!("step {step}: {e} at {buffer:?}"));
                got.extend_from_slice(&gathered.unwrap_or_default());
                done |= ended;
            }
            assert!(done, "step {step}");
            assert_eq!(got, expected, "step {step}");
        }
    }

    #[test]
    fn malformed_chunks_are_refused() {
        for wire in [
            &b"zz\r\n"[..],
            b"\r\n",
            b"5\r\nhello!!",
            b"5;ext=1\r\nhello\r\n",
            b"5\r-hello\r\n",
            b"10000000000000000\r\n",
        ] {
            let mut buffer = BytesMut::from(wire);
            let decoded = decode_buffered(&mut ChunkedDecoder::default(), &mut buffer);
            assert!(
                matches!(decoded, Err(BodyError::Malformed)),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
        let mut buffer = BytesMut::from(&b"fffffffffffffff\r\nab"[..]);
        let decoded = decode_buffered(&mut ChunkedDecoder::default(), &mut buffer);
        assert!(matches!(decoded, Ok((None, false))), "a big chunk waits");
    }
}
