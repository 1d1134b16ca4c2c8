//! Parsing client request heads from bytes already read: with httparse, bounded in bytes
//! and in fields, and the body's framing (refusing smuggling shapes). Chunked bodies are
//! `chunked`'s. No sockets: the connection loop in `server` reads and feeds these.

use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{Method, Uri, Version};

use super::fields::Fields;
use crate::error::AppError;

/// The answer to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

pub struct Request {
    pub method: Method,
    /// The request target, in the head's bytes.
    pub target: Uri,
    pub fields: Fields,
    pub body: Bytes,
    pub keep_alive: bool,
    pub received_at: Instant,
}

impl Request {
    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.target.path()
    }

    /// The query string without its `?` (empty when there is none).
    pub fn query(&self) -> &str {
        self.target.query().unwrap_or_default()
    }
}

#[derive(Clone, Copy)]
pub struct RequestLimits {
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_body_bytes: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
}

/// A request head, with what it says about the body that follows.
pub struct RequestHead {
    pub method: Method,
    pub target: Uri,
    pub fields: Fields,
    pub keep_alive: bool,
    pub framing: BodyFraming,
}

impl RequestHead {
    /// curl and some SDKs wait (a second, or forever) for `100 Continue` before the body.
    pub fn expects_continue(&self) -> bool {
        self.fields
            .get("expect")
            .is_some_and(|value| value.eq_ignore_ascii_case(b"100-continue"))
    }

    pub fn into_request(self, body: Bytes, received_at: Instant) -> Request {
        Request {
            method: self.method,
            target: self.target,
            fields: self.fields,
            body,
            keep_alive: self.keep_alive,
            received_at,
        }
    }
}

/// Heads are parsed into an array of this many header slots on the stack; a larger
/// `max_headers` uses one on the heap.
const STACK_HEADER_SLOTS: usize = 128;

/// Decodes a head from the front of `buffer`; `Ok(None)` until it is complete. The head is
/// held to `max_header_bytes` however many reads brought it, and to `max_headers` fields.
pub fn parse_head(
    buffer: &mut BytesMut,
    limits: &RequestLimits,
) -> Result<Option<RequestHead>, AppError> {
    // Uninitialised: zeroing the slots cost more than parsing a short head.
    let mut on_stack = [const { MaybeUninit::uninit() }; STACK_HEADER_SLOTS];
    let mut on_heap;
    let slots = if limits.max_headers <= STACK_HEADER_SLOTS {
        &mut on_stack[..limits.max_headers]
    } else {
        on_heap = Vec::with_capacity(limits.max_headers);
        &mut on_heap.spare_capacity_mut()[..limits.max_headers]
    };
    let mut parsed = httparse::Request::new(&mut []);
    let head_len = match parsed.parse_with_uninit_headers(buffer, slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return partial(buffer, limits),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(AppError::TooManyHeaders {
                limit: limits.max_headers,
            })
        }
        Err(e) => return Err(AppError::BadRequest(e.to_string())),
    };
    if head_len > limits.max_header_bytes {
        return Err(AppError::HeadersTooLarge {
            limit: limits.max_header_bytes,
        });
    }
    if has_bare_line_feed(&buffer[..head_len]) {
        return Err(AppError::BadRequest("bare LF in the request head".into()));
    }
    let bad = |what: &str| AppError::BadRequest(format!("invalid {what}"));
    let method = Method::from_bytes(parsed.method.unwrap_or_default().as_bytes())
        .map_err(|_| bad("method"))?;
    let version = match parsed.version {
        Some(1) => Version::HTTP_11,
        _ => Version::HTTP_10,
    };
    // The target and the fields stay in the head's bytes (shared, not copied).
    let start = buffer.as_ptr() as usize;
    let range_of = |part: &[u8]| {
        let at = part.as_ptr() as usize - start;
        at..at + part.len()
    };
    let Some(target) = parsed.path else {
        return Err(bad("request target"));
    };
    let target_range = range_of(target.as_bytes());
    let ranges = parsed
        .headers
        .iter()
        .map(|field| (range_of(field.name.as_bytes()), range_of(field.value)))
        .collect();
    let head = buffer.split_to(head_len).freeze();
    let target =
        Uri::from_maybe_shared(head.slice(target_range)).map_err(|_| bad("request target"))?;
    let fields = Fields::new(head, ranges);
    Ok(Some(RequestHead {
        keep_alive: wants_keep_alive(version, &fields),
        framing: body_framing(&fields)?,
        method,
        target,
        fields,
    }))
}

/// An incomplete head already as long as the limit can only end past it.
fn partial(buffer: &BytesMut, limits: &RequestLimits) -> Result<Option<RequestHead>, AppError> {
    if buffer.len() >= limits.max_header_bytes {
        return Err(AppError::HeadersTooLarge {
            limit: limits.max_header_bytes,
        });
    }
    Ok(None)
}

/// httparse accepts a lone LF as a line end (RFC 9112 §2.2 allows it); we do not, so that a
/// proxy in front that reads lines differently cannot make us see another request.
fn has_bare_line_feed(head: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', head).any(|at| at == 0 || head[at - 1] != b'\r')
}

pub enum BodyFraming {
    Empty,
    Length(usize),
    Chunked,
}

/// RFC 9112 §6: a request with both Transfer-Encoding and Content-Length, several differing
/// Content-Lengths, or a transfer coding other than chunked is refused (request smuggling).
fn body_framing(fields: &Fields) -> Result<BodyFraming, AppError> {
    // One pass over the fields for both names (a lookup per name walked them twice).
    let mut encodings = 0;
    let mut chunked = false;
    let mut length = None;
    for (name, value) in fields.raw() {
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            encodings += 1;
            chunked = value.eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let parsed = std::str::from_utf8(value)
                .ok()
                .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|text| text.parse::<usize>().ok());
            // The first fault found is the one reported.
            length = match (length, parsed) {
                (Some(Err(error)), _) => Some(Err(error)),
                (_, None) => Some(Err("invalid Content-Length")),
                (Some(Ok(previous)), Some(parsed)) if previous != parsed => {
                    Some(Err("conflicting Content-Length headers"))
                }
                (_, Some(parsed)) => Some(Ok(parsed)),
            };
        }
    }
    if encodings > 0 {
        if length.is_some() {
            return Err(AppError::BadRequest(
                "both Transfer-Encoding and Content-Length".into(),
            ));
        }
        if encodings > 1 || !chunked {
            return Err(AppError::BadRequest(
                "only 'Transfer-Encoding: chunked' is supported".into(),
            ));
        }
        return Ok(BodyFraming::Chunked);
    }
    Ok(
        match length
            .transpose()
            .map_err(|error| AppError::BadRequest(error.into()))?
        {
            Some(0) | None => BodyFraming::Empty,
            Some(len) => BodyFraming::Length(len),
        },
    )
}

fn wants_keep_alive(version: Version, fields: &Fields) -> bool {
    let connection = fields.get("connection");
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

    fn headers(pairs: &[(&str, &str)]) -> Fields {
        let mut head = Vec::new();
        let mut ranges = Vec::new();
        for (name, value) in pairs {
            let name_at = head.len();
            head.extend_from_slice(name.as_bytes());
            let value_at = head.len();
            head.extend_from_slice(value.as_bytes());
            ranges.push((name_at..value_at, value_at..head.len()));
        }
        Fields::new(Bytes::from(head), ranges)
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
        let refusal = |pairs: &[(&str, &str)]| match body_framing(&headers(pairs)) {
            Err(error) => error.message(),
            Ok(_) => panic!("{pairs:?} was accepted"),
        };
        for (pairs, reason) in [
            (
                &[("Transfer-Encoding", "chunked"), ("Content-Length", "x")][..],
                "both Transfer-Encoding and Content-Length",
            ),
            (
                &[
                    ("transfer-encoding", "chunked"),
                    ("transfer-encoding", "chunked"),
                ],
                "only 'Transfer-Encoding: chunked' is supported",
            ),
            (
                &[
                    ("content-length", "5"),
                    ("content-length", "6"),
                    ("content-length", "x"),
                ],
                "conflicting Content-Length headers",
            ),
            (
                &[("content-length", "x"), ("content-length", "5")],
                "invalid Content-Length",
            ),
        ] {
            assert!(
                refusal(pairs).contains(reason),
                "{pairs:?}: {}",
                refusal(pairs)
            );
        }
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
            max_headers: 8,
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
        assert_eq!(head.target.path(), "/v1/chat/completions");
        assert!(head.keep_alive && head.expects_continue());
        assert!(matches!(head.framing, BodyFraming::Length(5)));
        assert_eq!(&partial[..], b"hello");
        let mut huge = BytesMut::from(&b"GET / HTTP/1.1\r\nx: "[..]);
        huge.extend_from_slice(&[b'a'; 2048]);
        assert_eq!(
            parse_head(&mut huge, &limits()).err(),
            Some(AppError::HeadersTooLarge { limit: 2048 })
        );
    }

    /// The head's own length counts, not what one read brought: a head completed by a
    /// second read past the limit is refused like one that arrived whole.
    #[test]
    fn the_byte_limit_holds_however_the_head_arrives() {
        let head_of = |len: usize| {
            let mut head = b"GET / HTTP/1.1\r\nx: ".to_vec();
            head.resize(len - 4, b'a');
            head.extend_from_slice(b"\r\n\r\n");
            head
        };
        let mut exact = BytesMut::from(&head_of(2048)[..]);
        assert!(parse_head(&mut exact, &limits()).unwrap().is_some());
        let over = head_of(2049);
        let mut buffer = BytesMut::from(&over[..1500]);
        assert!(parse_head(&mut buffer, &limits()).unwrap().is_none());
        buffer.extend_from_slice(&over[1500..]);
        assert_eq!(
            parse_head(&mut buffer, &limits()).err(),
            Some(AppError::HeadersTooLarge { limit: 2048 })
        );
    }

    #[test]
    fn the_field_count_is_limited_and_bare_line_feeds_refused() {
        let head_with = |fields: usize| {
            let mut head = b"GET / HTTP/1.1\r\n".to_vec();
            for i in 0..fields {
                head.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
            }
            head.extend_from_slice(b"\r\n");
            BytesMut::from(&head[..])
        };
        assert!(parse_head(&mut head_with(8), &limits()).unwrap().is_some());
        assert_eq!(
            parse_head(&mut head_with(9), &limits()).err(),
            Some(AppError::TooManyHeaders { limit: 8 })
        );
        let many = RequestLimits {
            max_headers: 200,
            max_header_bytes: 16 * 1024,
            ..limits()
        };
        let head = parse_head(&mut head_with(200), &many).unwrap().unwrap();
        assert_eq!(head.fields.len(), 200);
        assert_eq!(
            parse_head(&mut head_with(201), &many).err(),
            Some(AppError::TooManyHeaders { limit: 200 })
        );
        let mut bare = BytesMut::from(&b"GET / HTTP/1.1\nHost: x\r\n\r\n"[..]);
        assert!(matches!(
            parse_head(&mut bare, &limits()),
            Err(AppError::BadRequest(_))
        ));
    }

    /// Names match in any case, repeated fields keep their order, values lose the blanks
    /// around them; a folded line, a control byte or a blank before the colon is refused.
    #[test]
    fn fields_are_read_as_sent_and_checked_as_before() {
        let mut buffer = BytesMut::from(
            &b"GET /p?q=1 HTTP/1.1\r\nX-Key:  a b \t\r\nHost: h\r\nx-key: c\r\n\r\n"[..],
        );
        let head = parse_head(&mut buffer, &limits()).unwrap().unwrap();
        let fields = &head.fields;
        assert_eq!(fields.get("X-KEY"), Some(&b"a b"[..]));
        assert_eq!(
            fields.get_all("x-key").collect::<Vec<_>>(),
            [&b"a b"[..], b"c"]
        );
        assert_eq!(fields.text("host"), Some("h"));
        assert_eq!(fields.get("absent"), None);
        let names: Vec<&str> = fields.iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["X-Key", "Host", "x-key"]);
        assert_eq!(
            (head.target.path(), head.target.query()),
            ("/p", Some("q=1"))
        );
        for refused in [
            &b"GET / HTTP/1.1\r\nx: a\r\n b\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nx: a\x01b\r\n\r\n",
            b"GET / HTTP/1.1\r\nx: a\x7fb\r\n\r\n",
            b"GET / HTTP/1.1\r\nx : a\r\n\r\n",
            b"GET / HTTP/1.1\r\nx(y): a\r\n\r\n",
        ] {
            let refused = parse_head(&mut BytesMut::from(refused), &limits());
            assert!(matches!(refused, Err(AppError::BadRequest(_))));
        }
        let mut obs_text = BytesMut::from(&b"GET / HTTP/1.1\r\nx: caf\xc3\xa9\r\n\r\n"[..]);
        let head = parse_head(&mut obs_text, &limits()).unwrap().unwrap();
        assert_eq!(head.fields.get("x"), Some(&b"caf\xc3\xa9"[..]));
        assert_eq!(head.fields.text("x"), None);
    }
}
