//! Parsing client requests from bytes already read: the head with monoio-http's decoder
//! (bounded in size), the body's framing (refusing smuggling shapes), and chunked bodies
//! (bounded too). No sockets: the connection loop in `server` reads and feeds these.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Version};
use monoio_codec::{Decoded, Decoder};
use monoio_http::h1::codec::decoder::{ChunkedBodyDecoder, RequestHeadDecoder};

use crate::error::AppError;

/// The answer to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

pub struct Request {
    pub method: Method,
    /// The path without the query string.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub keep_alive: bool,
    pub received_at: Instant,
}

#[derive(Clone, Copy)]
pub struct RequestLimits {
    pub max_header_bytes: usize,
    pub max_body_bytes: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
}

/// A request head, with what it says about the body that follows.
pub struct RequestHead {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub keep_alive: bool,
    pub framing: BodyFraming,
}

impl RequestHead {
    /// curl and some SDKs wait (a second, or forever) for `100 Continue` before the body.
    pub fn expects_continue(&self) -> bool {
        self.headers
            .get(http::header::EXPECT)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"))
    }

    pub fn into_request(self, body: Bytes, received_at: Instant) -> Request {
        Request {
            method: self.method,
            path: self.path,
            headers: self.headers,
            body,
            keep_alive: self.keep_alive,
            received_at,
        }
    }
}

/// Decodes a head from the front of `buffer`; `Ok(None)` until it is complete.
pub fn parse_head(
    buffer: &mut BytesMut,
    limits: &RequestLimits,
) -> Result<Option<RequestHead>, AppError> {
    let head = match RequestHeadDecoder.decode(buffer) {
        Ok(Decoded::Some(head)) => head,
        Ok(_) if buffer.len() >= limits.max_header_bytes => return Err(AppError::HeadersTooLarge),
        Ok(_) => return Ok(None),
        Err(e) => return Err(AppError::BadRequest(e.to_string())),
    };
    Ok(Some(RequestHead {
        keep_alive: wants_keep_alive(head.version, &head.headers),
        framing: body_framing(&head.headers)?,
        method: head.method,
        path: head.uri.path().to_string(),
        headers: head.headers,
    }))
}

/// A chunked body being decoded from the bytes read so far, bounded by `max` bytes.
pub struct ChunkedBody {
    decoder: ChunkedBodyDecoder,
    body: BytesMut,
    max: usize,
}

impl ChunkedBody {
    pub fn new(max: usize) -> Self {
        Self {
            decoder: ChunkedBodyDecoder::default(),
            body: BytesMut::new(),
            max,
        }
    }

    /// Consumes what `buffer` holds; the whole body once its last chunk arrived.
    pub fn decode(&mut self, buffer: &mut BytesMut) -> Result<Option<Bytes>, AppError> {
        loop {
            match self.decoder.decode(buffer) {
                Ok(Decoded::Some(Some(chunk))) => {
                    if self.body.len() + chunk.len() > self.max {
                        return Err(AppError::BodyTooLarge { limit: self.max });
                    }
                    self.body.extend_from_slice(&chunk);
                }
                Ok(Decoded::Some(None)) => {
                    return Ok(Some(std::mem::take(&mut self.body).freeze()))
                }
                Ok(_) => break,
                Err(_) => return Err(AppError::BadRequest("invalid chunked body".into())),
            }
        }
        // A chunk announced larger than the limit is refused before it is read.
        if buffer.len() > self.max + 64 {
            return Err(AppError::BodyTooLarge { limit: self.max });
        }
        Ok(None)
    }
}

pub enum BodyFraming {
    Empty,
    Length(usize),
    Chunked,
}

/// RFC 9112 §6: a request with both Transfer-Encoding and Content-Length, several differing
/// Content-Lengths, or a transfer coding other than chunked is refused (request smuggling).
fn body_framing(headers: &HeaderMap) -> Result<BodyFraming, AppError> {
    let mut encodings = headers.get_all(http::header::TRANSFER_ENCODING).iter();
    let lengths: Vec<_> = headers
        .get_all(http::header::CONTENT_LENGTH)
        .iter()
        .collect();
    if let Some(encoding) = encodings.next() {
        if !lengths.is_empty() {
            return Err(AppError::BadRequest(
                "both Transfer-Encoding and Content-Length".into(),
            ));
        }
        if encodings.next().is_some() || !encoding.as_bytes().eq_ignore_ascii_case(b"chunked") {
            return Err(AppError::BadRequest(
                "only 'Transfer-Encoding: chunked' is supported".into(),
            ));
        }
        return Ok(BodyFraming::Chunked);
    }
    let mut length = None;
    for value in lengths {
        let parsed = std::str::from_utf8(value.as_bytes())
            .ok()
            .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|text| text.parse::<usize>().ok())
            .ok_or_else(|| AppError::BadRequest("invalid Content-Length".into()))?;
        if length.is_some_and(|previous| previous != parsed) {
            return Err(AppError::BadRequest(
                "conflicting Content-Length headers".into(),
            ));
        }
        length = Some(parsed);
    }
    Ok(match length {
        Some(0) | None => BodyFraming::Empty,
        Some(len) => BodyFraming::Length(len),
    })
}

fn wants_keep_alive(version: Version, headers: &HeaderMap) -> bool {
    let connection = headers
        .get(http::header::CONNECTION)
        .map(|value| value.as_bytes());
    let has = |token: &[u8]| {
        connection.is_some_and(|value| {
            value
                .split(|&b| b == b',')
                .any(|part| part.trim_ascii().eq_ignore_ascii_case(token))
        })
    };
    if version == Version::HTTP_11 {
        !has(b"close")
    } else {
        has(b"keep-alive")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        assert!(body_framing(&headers(&[
            ("content-length", "5"),
            ("transfer-encoding", "chunked")
        ]))
        .is_err());
        assert!(body_framing(&headers(&[
            ("content-length", "5"),
            ("content-length", "6")
        ]))
        .is_err());
        assert!(body_framing(&headers(&[("content-length", "+5")])).is_err());
        assert!(body_framing(&headers(&[("transfer-encoding", "gzip, chunked")])).is_err());
        assert!(matches!(
            body_framing(&headers(&[
                ("content-length", "5"),
                ("content-length", "5")
            ])),
            Ok(BodyFraming::Length(5))
        ));
        assert!(matches!(
            body_framing(&headers(&[("transfer-encoding", "Chunked")])),
            Ok(BodyFraming::Chunked)
        ));
    }

    #[test]
    fn keep_alive_follows_version_and_connection_header() {
        assert!(wants_keep_alive(Version::HTTP_11, &headers(&[])));
        assert!(!wants_keep_alive(
            Version::HTTP_11,
            &headers(&[("connection", "Close")])
        ));
        assert!(!wants_keep_alive(Version::HTTP_10, &headers(&[])));
        assert!(wants_keep_alive(
            Version::HTTP_10,
            &headers(&[("connection", "keep-alive")])
        ));
    }

    fn limits() -> RequestLimits {
        RequestLimits {
            max_header_bytes: 2048,
            max_body_bytes: 16,
            header_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn heads_parse_once_complete_and_respect_the_limits() {
        let mut partial =
            BytesMut::from(&b"POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: a\r\n"[..]);
        assert!(parse_head(&mut partial, &limits()).unwrap().is_none());
        partial.extend_from_slice(b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\nhello");
        let head = parse_head(&mut partial, &limits()).unwrap().unwrap();
        assert_eq!(head.path, "/v1/chat/completions");
        assert!(head.keep_alive && head.expects_continue());
        assert!(matches!(head.framing, BodyFraming::Length(5)));
        assert_eq!(&partial[..], b"hello");
        let mut huge = BytesMut::from(&b"GET / HTTP/1.1\r\nx: "[..]);
        huge.extend_from_slice(&[b'a'; 2048]);
        assert_eq!(
            parse_head(&mut huge, &limits()).err(),
            Some(AppError::HeadersTooLarge)
        );
    }

    #[test]
    fn chunked_bodies_decode_across_reads_and_stop_at_the_limit() {
        let mut body = ChunkedBody::new(16);
        let mut buffer = BytesMut::from(&b"5\r\nhel"[..]);
        assert_eq!(body.decode(&mut buffer).unwrap(), None);
        buffer.extend_from_slice(b"lo\r\n3\r\n abc\r\n0\r\n\r\n");
        // "3" announces three bytes: " ab", then "c" breaks the framing.
        assert!(body.decode(&mut buffer).is_err());
        let mut body = ChunkedBody::new(16);
        let mut buffer = BytesMut::from(&b"5\r\nhello\r\n2\r\n!!\r\n0\r\n\r\n"[..]);
        assert_eq!(
            body.decode(&mut buffer).unwrap().as_deref(),
            Some(&b"hello!!"[..])
        );
        let mut body = ChunkedBody::new(4);
        let mut buffer = BytesMut::from(&b"5\r\nhello\r\n0\r\n\r\n"[..]);
        assert_eq!(
            body.decode(&mut buffer).err(),
            Some(AppError::BodyTooLarge { limit: 4 })
        );
    }
}
