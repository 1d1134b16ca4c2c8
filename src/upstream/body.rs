//! Pulling an upstream response body chunk by chunk as it arrives: fixed length, chunked,
//! or (common from Python SSE servers) delimited by the connection's close.

use bytes::Bytes;
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
                        return Ok(Some(connection.buffer.split_to(take).freeze()));
                    }
                }
                Self::Chunked(decoder) => match decoder.decode(&mut connection.buffer) {
                    Ok(Decoded::Some(Some(chunk))) => return Ok(Some(chunk)),
                    Ok(Decoded::Some(None)) => {
                        *self = Self::Empty;
                        return Ok(None);
                    }
                    Ok(_) => {}
                    Err(_) => return Err(BodyError::Malformed),
                },
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
