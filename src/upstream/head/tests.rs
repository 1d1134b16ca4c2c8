//! Response heads decoded from bytes: framing, keep-alive, the fields kept, partial and
//! interim heads, and what is refused.

use bytes::BytesMut;

use super::*;

fn decoded(bytes: &str) -> (ResponseHead, BytesMut) {
    let mut buffer = BytesMut::from(bytes);
    match decode(&mut buffer) {
        Ok(Some(head)) => (head, buffer),
        Ok(None) => panic!("incomplete head: {bytes:?}"),
        Err(error) => panic!("refused: {error}"),
    }
}

fn refused(bytes: &str) -> HeadError {
    match decode(&mut BytesMut::from(bytes)) {
        Err(error) => error,
        Ok(_) => panic!("decoded: {bytes:?}"),
    }
}

#[test]
fn a_providers_head_keeps_only_what_the_gateway_reads() {
    let (head, rest) = decoded(
        "HTTP/1.1 200 OK\r\nDate: Wed, 02 Dec 2026 10:00:00 GMT\r\n\
         Content-Type: application/json\r\nContent-Length: 5\r\n\
         x-ratelimit-remaining-requests: 9999\r\nset-cookie: a=b\r\n\
         Retry-After: 3\r\nopenai-processing-ms: 210\r\n\r\nhello",
    );
    assert_eq!(head.status, 200);
    assert!(matches!(head.framing, BodyFraming::Length(5)));
    assert!(head.keep_alive);
    assert_eq!(head.content_type.as_deref(), Some("application/json"));
    // A success's Retry-After is never acted on, so it is not kept.
    assert_eq!(head.retry_after, None);
    assert_eq!(&rest[..], b"hello", "the body's bytes stay in the buffer");
}

#[test]
fn an_errors_retry_after_is_kept() {
    let (head, _) =
        decoded("HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\nretry-after: 7\r\n\r\n");
    assert_eq!(head.status, 429);
    assert_eq!(head.retry_after.as_deref(), Some("7"));
    assert_eq!(head.content_type, None);
}

#[test]
fn framing_follows_the_fields() {
    let chunked = decoded("HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n").0;
    assert!(matches!(chunked.framing, BodyFraming::Chunked(_)));
    assert!(chunked.keep_alive);
    // Chunked wins over a length (RFC 9112 §6.3).
    let both =
        decoded("HTTP/1.1 200 OK\r\ncontent-length: 9\r\ntransfer-encoding: chunked\r\n\r\n");
    assert!(matches!(both.0.framing, BodyFraming::Chunked(_)));
    for status in [204, 304] {
        let head = decoded(&format!("HTTP/1.1 {status} X\r\ncontent-length: 3\r\n\r\n")).0;
        assert!(matches!(head.framing, BodyFraming::Empty), "{status}");
    }
    let until_close = decoded("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n").0;
    assert!(matches!(until_close.framing, BodyFraming::UntilClose));
    assert!(
        !until_close.keep_alive,
        "a body delimited by the close ends the connection"
    );
    let padded = decoded("HTTP/1.1 200 OK\r\ncontent-length:  12 \r\n\r\n").0;
    assert!(matches!(padded.framing, BodyFraming::Length(12)));
}

#[test]
fn keep_alive_needs_http_11_and_no_close() {
    let close = decoded("HTTP/1.1 200 OK\r\nConnection: Close\r\ncontent-length: 0\r\n\r\n").0;
    assert!(!close.keep_alive);
    let old = decoded("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n").0;
    assert!(!old.keep_alive);
}

#[test]
fn a_partial_head_waits_for_more_bytes() {
    let mut buffer = BytesMut::from("HTTP/1.1 200 OK\r\ncontent-le");
    assert!(matches!(decode(&mut buffer), Ok(None)));
    assert_eq!(buffer.len(), 27, "nothing consumed");
    buffer.extend_from_slice(b"ngth: 2\r\n\r\nok");
    let head = decode(&mut buffer).ok().flatten().expect("complete");
    assert!(matches!(head.framing, BodyFraming::Length(2)));
    assert_eq!(&buffer[..], b"ok");
}

#[test]
fn interim_heads_are_skipped() {
    let (head, rest) = decoded(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n\
         HTTP/1.1 201 Created\r\ncontent-length: 1\r\n\r\nx",
    );
    assert_eq!(head.status, 201);
    assert_eq!(&rest[..], b"x");
    let mut interim_only = BytesMut::from("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2");
    assert!(matches!(decode(&mut interim_only), Ok(None)));
    assert_eq!(
        &interim_only[..],
        b"HTTP/1.1 2",
        "the interim head is consumed"
    );
}

#[test]
fn a_value_that_is_not_visible_ascii_is_not_text() {
    let head =
        decoded("HTTP/1.1 200 OK\r\ncontent-type: text/pl\u{e9}in\r\ncontent-length: 0\r\n\r\n").0;
    assert_eq!(head.content_type, None);
}

#[test]
fn what_is_refused() {
    assert_eq!(
        refused("HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n"),
        HeadError::InvalidContentLength
    );
    assert_eq!(
        refused("HTTP/1.1 200 OK\r\ncontent-length: 1x\r\n\r\n"),
        HeadError::InvalidContentLength
    );
    assert!(matches!(
        refused("SSH-2.0-OpenSSH_9.6\r\n\r\n"),
        HeadError::Invalid(_)
    ));
    let many: String = (0..MAX_FIELDS + 1)
        .map(|n| format!("x-{n}: y\r\n"))
        .collect();
    assert!(matches!(
        refused(&format!("HTTP/1.1 200 OK\r\n{many}\r\n")),
        HeadError::Invalid(_)
    ));
}
