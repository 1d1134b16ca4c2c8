//! Decoding an upstream response head from the bytes read so far: httparse over a header
//! array on the stack, keeping only the fields the gateway acts on. Providers send 20 or
//! more fields (rate limits, tracing ids, cookies); building a `HeaderMap` of them cost an
//! allocation per field on every request, to read four.

use std::mem::MaybeUninit;

use bytes::{Buf, BytesMut};

use super::body::{BodyFraming, ChunkedDecoder};
use crate::http::fields::text;

/// More fields than this is not an HTTP server we can talk to.
const MAX_FIELDS: usize = 128;

pub struct ResponseHead {
    pub status: u16,
    pub framing: BodyFraming,
    /// Whether the connection may carry another request once the body is read.
    pub keep_alive: bool,
    pub content_type: Option<String>,
    /// Only an error's (a success's is never read).
    pub retry_after: Option<String>,
}

/// Why a head cannot be decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    Invalid(String),
    InvalidContentLength,
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(reason) => f.write_str(reason),
            Self::InvalidContentLength => f.write_str("invalid content-length"),
        }
    }
}

/// Takes a complete head off the front of `buffer`; `Ok(None)` until one is there.
/// Interim (1xx) heads are skipped: the answer is the head after them.
pub fn decode(buffer: &mut BytesMut) -> Result<Option<ResponseHead>, HeadError> {
    loop {
        // Uninitialised: zeroing 4 KiB of slots cost more than parsing a short head.
        let mut fields = [const { MaybeUninit::uninit() }; MAX_FIELDS];
        let mut parsed = httparse::Response::new(&mut []);
        let config = httparse::ParserConfig::default();
        let length =
            match config.parse_response_with_uninit_headers(&mut parsed, buffer, &mut fields) {
                Ok(httparse::Status::Complete(length)) => length,
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(error) => return Err(HeadError::Invalid(error.to_string())),
            };
        let status = parsed.code.unwrap_or_default();
        if (100..200).contains(&status) && status != 101 {
            buffer.advance(length);
            continue;
        }
        let head = read_fields(status, parsed.version == Some(1), parsed.headers)?;
        buffer.advance(length);
        return Ok(Some(head));
    }
}

fn read_fields(
    status: u16,
    http_11: bool,
    fields: &[httparse::Header<'_>],
) -> Result<ResponseHead, HeadError> {
    let mut close = false;
    let mut chunked = false;
    let mut content_length = None;
    let mut content_type = None;
    let mut retry_after = None;
    for field in fields {
        let name = field.name.as_bytes();
        let value = field.value;
        if name.eq_ignore_ascii_case(b"content-type") {
            content_type = content_type.or_else(|| text(value).map(str::to_string));
        } else if name.eq_ignore_ascii_case(b"content-length") {
            content_length = content_length.or(Some(value));
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked |= value.eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"connection") {
            close |= value.eq_ignore_ascii_case(b"close");
        } else if name.eq_ignore_ascii_case(b"retry-after") && !(200..300).contains(&status) {
            retry_after = retry_after.or_else(|| text(value).map(str::to_string));
        }
    }
    let framing = if status == 204 || status == 304 {
        BodyFraming::Empty
    } else if chunked {
        BodyFraming::Chunked(ChunkedDecoder::default())
    } else if let Some(length) = content_length {
        let length = std::str::from_utf8(length)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .ok_or(HeadError::InvalidContentLength)?;
        BodyFraming::Length(length)
    } else {
        BodyFraming::UntilClose
    };
    let keep_alive = !close && http_11 && !matches!(framing, BodyFraming::UntilClose);
    Ok(ResponseHead {
        status,
        framing,
        keep_alive,
        content_type,
        retry_after,
    })
}

#[cfg(test)]
mod tests;
