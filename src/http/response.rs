//! Writing HTTP/1.1 responses: a fixed-length body, or a chunked body flushed chunk by chunk.
//! Our own writer on purpose: monoio-http's encoder buffers chunked bodies up to 8 KiB,
//! which would hold SSE events back. Writes go to any `AsyncWriteRent` (a client socket, or
//! a buffer in tests).

use std::io;

use bytes::Bytes;
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};

use crate::iovec::IoSlices;

static CHUNK_END: Bytes = Bytes::from_static(b"\r\n");
static LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The headers the gateway sets on a response it writes.
pub struct ResponseHead<'a> {
    pub status: u16,
    pub content_type: &'a str,
    pub request_id: &'a str,
    pub keep_alive: bool,
    /// Further headers (names lower-case).
    pub extra: &'a [(&'a str, &'a str)],
}

impl ResponseHead<'_> {
    /// `body_len: None` means a chunked body follows.
    pub fn encode(&self, body_len: Option<usize>) -> Bytes {
        // Pieces pushed as they are: core::fmt cost more than the rest of the head.
        let mut head = String::with_capacity(256);
        let reason = http::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|status| status.canonical_reason())
            .unwrap_or("Unknown");
        let mut number = itoa::Buffer::new();
        for piece in [
            "HTTP/1.1 ",
            number.format(self.status),
            " ",
            reason,
            "\r\ncontent-type: ",
            self.content_type,
            "\r\nx-request-id: ",
            self.request_id,
            "\r\n",
        ] {
            head.push_str(piece);
        }
        match body_len {
            Some(len) => {
                head.push_str("content-length: ");
                head.push_str(number.format(len));
                head.push_str("\r\n");
            }
            None => head.push_str("transfer-encoding: chunked\r\ncache-control: no-cache\r\n"),
        }
        if !self.keep_alive {
            head.push_str("connection: close\r\n");
        }
        for (name, value) in self.extra {
            for piece in [name, ": ", value, "\r\n"] {
                head.push_str(piece);
            }
        }
        head.push_str("\r\n");
        Bytes::from(head)
    }
}

/// Head and whole body in one vectored write.
pub async fn write_full(
    stream: &mut impl AsyncWriteRent,
    head: &ResponseHead<'_>,
    body: Bytes,
) -> io::Result<()> {
    let slices = IoSlices::new([head.encode(Some(body.len())), body, Bytes::new()]);
    stream.write_vectored_all(slices).await.0.map(drop)
}

/// One chunk of a chunked body in one `writev`: size line, data and CRLF. The first chunk
/// of a response carries the encoded response `head` in front, so that the head and the
/// first event leave together.
pub async fn write_chunk(
    stream: &mut impl AsyncWriteRent,
    head: Option<Bytes>,
    data: Bytes,
) -> io::Result<()> {
    let (prefix, end) = match (head, data.is_empty()) {
        (None, true) => return Ok(()),
        (Some(head), true) => (head, Bytes::new()),
        (head, false) => {
            let mut prefix = head.map(Vec::from).unwrap_or_default();
            prefix.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
            (Bytes::from(prefix), CHUNK_END.clone())
        }
    };
    stream
        .write_vectored_all(IoSlices::new([prefix, data, end]))
        .await
        .0
        .map(drop)
}

pub async fn write_last_chunk(stream: &mut impl AsyncWriteRent) -> io::Result<()> {
    stream.write_all(LAST_CHUNK).await.0.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_for_fixed_and_chunked_bodies() {
        let head = ResponseHead {
            status: 200,
            content_type: "application/json",
            request_id: "abc",
            keep_alive: true,
            extra: &[("x-gpt-api-attempts", "1")],
        };
        let fixed = head.encode(Some(12));
        assert_eq!(
            &fixed[..],
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: abc\r\ncontent-length: 12\r\nx-gpt-api-attempts: 1\r\n\r\n"
        );
        let chunked = ResponseHead {
            keep_alive: false,
            ..head
        }
        .encode(None);
        let text = std::str::from_utf8(&chunked).unwrap();
        assert!(text.contains("transfer-encoding: chunked\r\n"));
        assert!(text.contains("connection: close\r\n"));
        assert!(!text.contains("content-length"));
    }
}
