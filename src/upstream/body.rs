//! Pulling an upstream response body chunk by chunk as it arrives: fixed length, chunked,
//! or (common from Python SSE servers) delimited by the connection's close.

use bytes::{Bytes, BytesMut};
use monoio_codec::{Decoded, Decoder};
use monoio_http::h1::codec::decoder::ChunkedBodyDecoder;

use super::connection::UpstreamConnection;

pub enum BodyFraming {
    Empty,
    Length(usize),
    Chunked(ChunkedBodyDecoder),
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

/// The data of every whole chunk in `buffer` (zero-copy when there is one), and whether the
/// last chunk was among them.
fn decode_buffered(
    decoder: &mut ChunkedBodyDecoder,
    buffer: &mut BytesMut,
) -> Result<(Option<Bytes>, bool), BodyError> {
    let mut first: Option<Bytes> = None;
    let mut joined = BytesMut::new();
    let ended = loop {
        match decoder.decode(buffer) {
            Ok(Decoded::Some(Some(chunk))) => match &first {
                None => first = Some(chunk),
                Some(first) => {
                    if joined.is_empty() {
                        joined.reserve(first.len() + chunk.len() + buffer.len());
                        joined.extend_from_slice(first);
                    }
                    joined.extend_from_slice(&chunk);
                }
            },
            Ok(Decoded::Some(None)) => break true,
            Ok(_) => break false,
            Err(_) => return Err(BodyError::Malformed),
        }
    };
    let gathered = if joined.is_empty() {
        first
    } else {
        Some(joined.freeze())
    };
    Ok((gathered, ended))
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use monoio_http::h1::codec::decoder::ChunkedBodyDecoder;

    use super::decode_buffered;

    #[test]
    fn chunks_read_together_come_out_as_one_piece() {
        let mut decoder = ChunkedBodyDecoder::default();
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
            let mut decoder = ChunkedBodyDecoder::default();
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
}
