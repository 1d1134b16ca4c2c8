//! One keep-alive HTTP/1.1 client connection: send a prebuilt request, read the head, then the
//! body (by length, chunked or until close), handing body bytes over with their arrival time.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use super::chunked::ChunkedDecoder;

const INITIAL_BUFFER: usize = 16 * 1024;
const MAX_BUFFER: usize = 4 * 1024 * 1024;
const MAX_HEADERS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub framing: Framing,
    pub close: bool,
}

pub struct Client {
    target: SocketAddr,
    stream: Option<TcpStream>,
    buffer: Vec<u8>,
    /// Bytes of `buffer` already consumed.
    start: usize,
    /// When the last read returned.
    arrived: Instant,
}

impl Client {
    pub fn new(target: SocketAddr) -> Self {
        Self {
            target,
            stream: None,
            buffer: Vec::with_capacity(INITIAL_BUFFER),
            start: 0,
            arrived: Instant::now(),
        }
    }

    /// Opens the connection unless it is open.
    pub async fn connect(&mut self) -> io::Result<&mut TcpStream> {
        if self.stream.is_none() {
            let stream = TcpStream::connect_addr(self.target).await?;
            stream.set_nodelay(true)?;
            self.buffer.clear();
            self.start = 0;
            self.stream = Some(stream);
        }
        Ok(self.stream.as_mut().expect("connected just above"))
    }

    pub fn is_connected(&self) -> bool {
        self.stream.is_some()
    }

    /// Drops the connection; the next `send` opens a new one.
    pub fn disconnect(&mut self) {
        self.stream = None;
    }

    pub async fn send(&mut self, request: &'static [u8]) -> io::Result<()> {
        let stream = self.connect().await?;
        stream.write_all(request).await.0.map(drop)
    }

    pub async fn read_head(&mut self) -> io::Result<Head> {
        loop {
            if let Some((head, length)) = parse_head(&self.buffer[self.start..])? {
                self.start += length;
                return Ok(head);
            }
            self.fill().await?;
        }
    }

    /// Reads the body to its end, handing each piece to `sink` with the time it arrived.
    pub async fn read_body(
        &mut self,
        head: &Head,
        mut sink: impl FnMut(&[u8], Instant),
    ) -> io::Result<()> {
        match head.framing {
            Framing::Length(mut remaining) => loop {
                let available = &self.buffer[self.start..];
                let take = remaining.min(available.len());
                sink(&available[..take], self.arrived);
                self.start += take;
                remaining -= take;
                if remaining == 0 {
                    break;
                }
                self.fill().await?;
            },
            Framing::Chunked => {
                let mut decoder = ChunkedDecoder::default();
                loop {
                    let arrived = self.arrived;
                    let used = decoder
                        .feed(&self.buffer[self.start..], |data| sink(data, arrived))
                        .map_err(|_| {
                            io::Error::new(io::ErrorKind::InvalidData, "invalid chunked body")
                        })?;
                    self.start += used;
                    if decoder.is_done() {
                        break;
                    }
                    self.fill().await?;
                }
            }
            Framing::UntilClose => loop {
                sink(&self.buffer[self.start..], self.arrived);
                self.start = self.buffer.len();
                match self.fill().await {
                    Ok(()) => {}
                    Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(error) => return Err(error),
                }
            },
        }
        if head.close || head.framing == Framing::UntilClose {
            self.disconnect();
        }
        Ok(())
    }

    /// Reads more bytes into the buffer; `UnexpectedEof` when the server closed.
    async fn fill(&mut self) -> io::Result<()> {
        if self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        } else if self.buffer.len() == self.buffer.capacity() {
            if self.start > 0 {
                self.buffer.drain(..self.start);
                self.start = 0;
            } else if self.buffer.capacity() < MAX_BUFFER {
                self.buffer.reserve(self.buffer.capacity());
            } else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "response head too large",
                ));
            }
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let buffer = std::mem::take(&mut self.buffer);
        let (length, capacity) = (buffer.len(), buffer.capacity());
        let (result, slice) = stream.read(buffer.slice_mut(length..capacity)).await;
        self.buffer = slice.into_inner();
        self.arrived = Instant::now();
        match result? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(()),
        }
    }
}

/// Parses a response head; `None` until it is complete.
fn parse_head(buffer: &[u8]) -> io::Result<Option<(Head, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(io::Error::new(io::ErrorKind::InvalidData, error)),
    };
    let status = response.code.unwrap_or_default();
    let mut close = response.version == Some(0);
    let mut framing = if matches!(status, 204 | 304) {
        Framing::Length(0)
    } else {
        Framing::UntilClose
    };
    for header in response.headers.iter() {
        let value = header.value;
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            if value
                .windows(7)
                .any(|word| word.eq_ignore_ascii_case(b"chunked"))
            {
                framing = Framing::Chunked;
            }
        } else if header.name.eq_ignore_ascii_case("content-length") && framing != Framing::Chunked
        {
            let length = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse().ok());
            framing = Framing::Length(length.ok_or(io::ErrorKind::InvalidData)?);
        } else if header.name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case(b"close");
        }
    }
    Ok(Some((
        Head {
            status,
            framing,
            close,
        },
        length,
    )))
}

#[cfg(test)]
mod tests {
    use super::{parse_head, Framing, Head};

    #[test]
    fn heads() {
        let (head, length) = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nbody")
            .unwrap()
            .unwrap();
        assert_eq!(
            head,
            Head {
                status: 200,
                framing: Framing::Length(12),
                close: false
            }
        );
        assert_eq!(length, 39);
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
        let (head, _) = parse_head(chunked).unwrap().unwrap();
        assert_eq!(
            head,
            Head {
                status: 200,
                framing: Framing::Chunked,
                close: true
            }
        );
        let (head, _) = parse_head(b"HTTP/1.0 502 Bad Gateway\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            head,
            Head {
                status: 502,
                framing: Framing::UntilClose,
                close: true
            }
        );
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n").unwrap().is_none());
    }
}
