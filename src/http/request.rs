//! Reading one client request: the head with monoio-http's decoder over our own buffer (so
//! its size and time are bounded), then the body (fixed or chunked), bounded too.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Version};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio_codec::{Decoded, Decoder};
use monoio_http::h1::codec::decoder::{ChunkedBodyDecoder, RequestHeadDecoder};

use super::iovec::spare_capacity;
use crate::error::AppError;

/// How long an idle keep-alive connection may wait for its next request.
const KEEP_ALIVE_IDLE: Duration = Duration::from_secs(75);
const READ_SIZE: usize = 16 * 1024;
/// How long and how much a closing connection drains after its last response.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 1024 * 1024;

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

/// A client connection and the bytes read from it but not consumed yet.
pub struct ClientConnection {
    pub stream: TcpStream,
    buffer: BytesMut,
}

/// Why no request could be read. `Closed` ends the connection quietly; `Rejected` is answered.
pub enum ReadError {
    Closed,
    Rejected(AppError),
}

impl From<AppError> for ReadError {
    fn from(error: AppError) -> Self {
        Self::Rejected(error)
    }
}

impl ClientConnection {
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buffer: BytesMut::with_capacity(READ_SIZE),
        }
    }

    /// Reads more bytes into the buffer; `Ok(false)` on end of stream.
    async fn fill(&mut self) -> std::io::Result<bool> {
        if self.buffer.capacity() - self.buffer.len() < 1024 {
            self.buffer.reserve(READ_SIZE);
        }
        let (result, buffer) = self
            .stream
            .read(spare_capacity(std::mem::take(&mut self.buffer)))
            .await;
        self.buffer = buffer.into_inner();
        Ok(result? > 0)
    }

    async fn fill_until(&mut self, deadline: Instant) -> Result<bool, ReadError> {
        match monoio::time::timeout_at(deadline.into(), self.fill()).await {
            Ok(Ok(more)) => Ok(more),
            Ok(Err(_)) => Err(ReadError::Closed),
            Err(_) => Err(ReadError::Rejected(AppError::RequestTimeout)),
        }
    }

    /// Closes gracefully: stop writing, then read and drop what the client still sends for
    /// a moment, so that closing with unread input does not reset the connection before the
    /// client has read our response (nginx's lingering close).
    pub async fn linger(&mut self) {
        let _ = self.stream.shutdown().await;
        let deadline = Instant::now() + LINGER;
        let mut drained = 0;
        while drained < LINGER_BYTES {
            self.buffer.clear();
            match self.fill_until(deadline).await {
                Ok(true) => drained += self.buffer.len(),
                _ => return,
            }
        }
    }

    pub async fn read_request(&mut self, limits: &RequestLimits) -> Result<Request, ReadError> {
        if self.buffer.is_empty() {
            // Idle keep-alive: wait for the first byte without the slowloris clock running.
            match monoio::time::timeout(KEEP_ALIVE_IDLE, self.fill()).await {
                Ok(Ok(true)) => {}
                _ => return Err(ReadError::Closed),
            }
        }
        let received_at = Instant::now();
        let head_deadline = received_at + limits.header_timeout;
        let head = loop {
            match RequestHeadDecoder.decode(&mut self.buffer) {
                Ok(Decoded::Some(head)) => break head,
                Ok(_) if self.buffer.len() >= limits.max_header_bytes => {
                    return Err(AppError::HeadersTooLarge.into())
                }
                Ok(_) => {}
                Err(e) => return Err(AppError::BadRequest(e.to_string()).into()),
            }
            if !self.fill_until(head_deadline).await? {
                return Err(ReadError::Closed);
            }
        };
        let keep_alive = wants_keep_alive(head.version, &head.headers);
        let body_deadline = Instant::now() + limits.body_timeout;
        let body = match body_framing(&head.headers)? {
            BodyFraming::Empty => Bytes::new(),
            BodyFraming::Length(len) => {
                if len > limits.max_body_bytes {
                    return Err(AppError::BodyTooLarge {
                        limit: limits.max_body_bytes,
                    }
                    .into());
                }
                self.answer_expect_continue(&head.headers).await?;
                self.read_fixed_body(len, body_deadline).await?
            }
            BodyFraming::Chunked => {
                self.answer_expect_continue(&head.headers).await?;
                self.read_chunked_body(limits.max_body_bytes, body_deadline)
                    .await?
            }
        };
        Ok(Request {
            method: head.method,
            path: head.uri.path().to_string(),
            headers: head.headers,
            body,
            keep_alive,
            received_at,
        })
    }

    /// curl and some SDKs wait (a second, or forever) for `100 Continue` before the body.
    async fn answer_expect_continue(&mut self, headers: &HeaderMap) -> Result<(), ReadError> {
        let expects = headers
            .get(http::header::EXPECT)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if expects && self.buffer.is_empty() {
            let (result, _) = self
                .stream
                .write_all(&b"HTTP/1.1 100 Continue\r\n\r\n"[..])
                .await;
            result.map_err(|_| ReadError::Closed)?;
        }
        Ok(())
    }

    async fn read_fixed_body(&mut self, len: usize, deadline: Instant) -> Result<Bytes, ReadError> {
        while self.buffer.len() < len {
            self.buffer.reserve(len - self.buffer.len());
            if !self.fill_until(deadline).await? {
                return Err(ReadError::Closed);
            }
        }
        Ok(self.buffer.split_to(len).freeze())
    }

    async fn read_chunked_body(
        &mut self,
        max: usize,
        deadline: Instant,
    ) -> Result<Bytes, ReadError> {
        let mut decoder = ChunkedBodyDecoder::default();
        let mut body = BytesMut::new();
        loop {
            match decoder.decode(&mut self.buffer) {
                Ok(Decoded::Some(Some(chunk))) => {
                    if body.len() + chunk.len() > max {
                        return Err(AppError::BodyTooLarge { limit: max }.into());
                    }
                    body.extend_from_slice(&chunk);
                    continue;
                }
                Ok(Decoded::Some(None)) => return Ok(body.freeze()),
                Ok(_) => {}
                Err(_) => return Err(AppError::BadRequest("invalid chunked body".into()).into()),
            }
            // A chunk announced larger than the limit is refused before it is read.
            if self.buffer.len() > max + 64 {
                return Err(AppError::BodyTooLarge { limit: max }.into());
            }
            if !self.fill_until(deadline).await? {
                return Err(ReadError::Closed);
            }
        }
    }
}

enum BodyFraming {
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

    /// Fuzz-style: mutated request bytes over a real socket always end in a request or an
    /// error, never a panic or a hang.
    #[monoio::test(timer_enabled = true)]
    async fn mutated_requests_always_end() {
        let listener = monoio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let limits = RequestLimits {
            max_header_bytes: 2048,
            max_body_bytes: 2048,
            header_timeout: Duration::from_millis(100),
            body_timeout: Duration::from_millis(100),
        };
        let seeds: [&[u8]; 3] = [
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            b"POST /v1/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        ];
        let mut rng = fastrand::Rng::with_seed(5);
        let noise = b"\r\n: 0123456789abcdefxyz\x00\xff";
        for _ in 0..300 {
            let bytes = crate::mutate::mutated(&mut rng, &seeds, noise);
            if bytes.is_empty() {
                continue; // an idle keep-alive connection: waited on for long, by design
            }
            let mut client = TcpStream::connect_addr(address).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let (written, _) = client.write_all(bytes).await;
            written.unwrap();
            let mut connection = ClientConnection::new(server);
            let outcome =
                monoio::time::timeout(Duration::from_secs(2), connection.read_request(&limits))
                    .await;
            assert!(outcome.is_ok(), "read_request must end by itself");
        }
    }
}
