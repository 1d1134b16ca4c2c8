//! Writing HTTP/1.1 responses: a fixed-length body, or a chunked body flushed chunk by chunk.
//! Our own writer on purpose: monoio-http's encoder buffers chunked bodies up to 8 KiB,
//! which would hold SSE events back. Writes go to any `AsyncWriteRent` (a client socket, or
//! a buffer in tests).

use std::io;

use bytes::{BufMut, Bytes, BytesMut};
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};

use crate::iovec::IoSlices;

static CHUNK_END: Bytes = Bytes::from_static(b"\r\n");
static LAST_CHUNK: Bytes = Bytes::from_static(b"0\r\n\r\n");
/// A chunk's CRLF, then the last chunk.
static CHUNK_END_LAST: Bytes = Bytes::from_static(b"\r\n0\r\n\r\n");

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
    /// `body_len: None` means a chunked body follows. Written piece by piece (no
    /// formatting machinery: every response pays for this).
    pub fn encode(&self, body_len: Option<usize>) -> Bytes {
        let extra: usize = self
            .extra
            .iter()
            .map(|(name, value)| name.len() + value.len() + 4)
            .sum();
        let mut head =
            BytesMut::with_capacity(192 + self.content_type.len() + self.request_id.len() + extra);
        let reason = http::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|status| status.canonical_reason())
            .unwrap_or("Unknown");
        head.extend_from_slice(b"HTTP/1.1 ");
        head.extend_from_slice(itoa::Buffer::new().format(self.status).as_bytes());
        head.put_u8(b' ');
        head.extend_from_slice(reason.as_bytes());
        head.extend_from_slice(b"\r\ncontent-type: ");
        head.extend_from_slice(self.content_type.as_bytes());
        head.extend_from_slice(b"\r\nx-request-id: ");
        head.extend_from_slice(self.request_id.as_bytes());
        head.extend_from_slice(b"\r\n");
        match body_len {
            Some(len) => {
                head.extend_from_slice(b"content-length: ");
                head.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
                head.extend_from_slice(b"\r\n");
            }
            None => {
                head.extend_from_slice(b"transfer-encoding: chunked\r\ncache-control: no-cache\r\n")
            }
        }
        if !self.keep_alive {
            head.extend_from_slice(b"connection: close\r\n");
        }
        for (name, value) in self.extra {
            head.extend_from_slice(name.as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"\r\n");
        head.freeze()
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

/// One chunk of a chunked body in one `writev`: size line, data and CRLF, and with `last`
/// the body's end (`0\r\n\r\n`) after them, so that the last events and the end leave
/// together. The first chunk of a response carries the encoded response `head` in front,
/// so that the head and the first event leave together.
pub async fn write_chunk(
    stream: &mut impl AsyncWriteRent,
    head: Option<Bytes>,
    data: Bytes,
    last: bool,
) -> io::Result<()> {
    let Some((prefix, end)) = chunk_frame(head, data.len(), last) else {
        return Ok(());
    };
    stream
        .write_vectored_all(IoSlices::new([prefix, data, end]))
        .await
        .0
        .map(drop)
}

/// `write_chunk` for data in pieces, one after the other (a block an event was cut from,
/// what is still owed after it): still one `writev`, and no copy to join them. A function of
/// its own so that the usual one-piece chunk pays nothing for it.
pub async fn write_chunk_pieces(
    stream: &mut impl AsyncWriteRent,
    head: Option<Bytes>,
    data: [Bytes; 3],
    last: bool,
) -> io::Result<()> {
    let len = data.iter().map(Bytes::len).sum();
    let Some((prefix, end)) = chunk_frame(head, len, last) else {
        return Ok(());
    };
    let [first, second, third] = data;
    stream
        .write_vectored_all(IoSlices::new([prefix, first, second, third, end]))
        .await
        .0
        .map(drop)
}

/// What goes before and after `len` bytes of a chunk's data: the size line (after the head,
/// if any) and CRLF, or with `last` the body's end too; `None` when nothing is to be written.
fn chunk_frame(head: Option<Bytes>, len: usize, last: bool) -> Option<(Bytes, Bytes)> {
    match (head, len == 0, last) {
        (None, true, false) => None,
        (head, true, _) => Some((
            head.unwrap_or_default(),
            if last {
                LAST_CHUNK.clone()
            } else {
                Bytes::new()
            },
        )),
        (head, false, _) => Some((
            size_line(head, len),
            if last {
                CHUNK_END_LAST.clone()
            } else {
                CHUNK_END.clone()
            },
        )),
    }
}

/// A chunk's size line for `len` bytes of data, after `head` when there is one (written
/// into the head's spare capacity when nothing else holds it: no copy).
fn size_line(head: Option<Bytes>, len: usize) -> Bytes {
    let digits = (usize::BITS - len.leading_zeros()).div_ceil(4).max(1) as usize;
    let mut line = match head.map(Bytes::try_into_mut) {
        Some(Ok(head)) => head,
        Some(Err(shared)) => BytesMut::from(&shared[..]),
        None => BytesMut::with_capacity(digits + 2),
    };
    for shift in (0..digits).rev() {
        line.put_u8(b"0123456789abcdef"[(len >> (shift * 4)) & 0xf]);
    }
    line.extend_from_slice(b"\r\n");
    line.freeze()
}

pub async fn write_last_chunk(stream: &mut impl AsyncWriteRent) -> io::Result<()> {
    write_chunk(stream, None, Bytes::new(), true).await
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

    #[test]
    fn size_lines_in_hex_after_what_goes_before() {
        let head = Bytes::from_static(b"HEAD\r\n\r\n");
        assert_eq!(&size_line(Some(head), 5)[..], b"HEAD\r\n\r\n5\r\n");
        let head = ResponseHead {
            status: 200,
            content_type: "text/event-stream",
            request_id: "abc",
            keep_alive: true,
            extra: &[],
        }
        .encode(None);
        let with_line = size_line(Some(head.clone()), 0x1f);
        assert_eq!(with_line[..head.len()], head[..], "a shared head is copied");
        assert_eq!(&with_line[head.len()..], b"1f\r\n");
        for len in [0, 1, 15, 16, 255, 256, 4095, 4096, 65_536, 1_000_000] {
            let line = size_line(None, len);
            assert_eq!(std::str::from_utf8(&line).unwrap(), format!("{len:x}\r\n"));
        }
    }
}
