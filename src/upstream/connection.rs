//! One connection to an upstream, plain TCP or TLS, with the bytes read but not consumed.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio_rustls::{ClientTlsStream, TlsConnector};
use rustls_pki_types::ServerName;

use crate::iovec::{spare_capacity, IoSlices};

const READ_SIZE: usize = 16 * 1024;

enum Transport {
    Plain(TcpStream),
    Tls(Box<ClientTlsStream<TcpStream>>),
}

pub struct UpstreamConnection {
    transport: Transport,
    /// Bytes received and not yet consumed by the response decoder.
    pub buffer: BytesMut,
    pub idle_since: Instant,
    /// Whether it came from the pool (one the upstream closed while idle is resent).
    pub reused: bool,
}

#[derive(Debug)]
pub enum ConnectError {
    TimedOut,
    Failed(String),
}

impl UpstreamConnection {
    pub async fn connect(
        address: SocketAddr,
        tls: Option<(&Arc<rustls::ClientConfig>, &str)>,
        timeout: Duration,
    ) -> Result<Self, ConnectError> {
        let connect = async {
            let stream = TcpStream::connect_addr(address)
                .await
                .map_err(|e| ConnectError::Failed(e.to_string()))?;
            let _ = stream.set_nodelay(true);
            let transport = match tls {
                None => Transport::Plain(stream),
                Some((config, host)) => {
                    let name = ServerName::try_from(host.to_string())
                        .map_err(|e| ConnectError::Failed(e.to_string()))?;
                    let stream = TlsConnector::from(config.clone())
                        .connect(name, stream)
                        .await
                        .map_err(|e| ConnectError::Failed(format!("TLS handshake failed: {e}")))?;
                    Transport::Tls(Box::new(stream))
                }
            };
            Ok(Self {
                transport,
                buffer: BytesMut::with_capacity(READ_SIZE),
                idle_since: Instant::now(),
                reused: false,
            })
        };
        monoio::time::timeout(timeout, connect)
            .await
            .unwrap_or(Err(ConnectError::TimedOut))
    }

    /// Lets an idle connection's read buffer go: a pool of hundreds of idle connections
    /// otherwise keeps 16 KiB each resident. The next read allocates a fresh one.
    pub fn release_buffer(&mut self) {
        if self.buffer.is_empty() {
            self.buffer = BytesMut::new();
        }
    }

    /// Reads more bytes into the buffer; `Ok(false)` at end of stream.
    pub async fn fill(&mut self) -> io::Result<bool> {
        if self.buffer.capacity() - self.buffer.len() < 1024 {
            self.buffer.reserve(READ_SIZE);
        }
        let target = spare_capacity(std::mem::take(&mut self.buffer));
        let (result, buffer) = match &mut self.transport {
            Transport::Plain(stream) => stream.read(target).await,
            Transport::Tls(stream) => stream.read(target).await,
        };
        self.buffer = buffer.into_inner();
        Ok(result? > 0)
    }

    pub async fn write(&mut self, slices: IoSlices) -> io::Result<()> {
        match &mut self.transport {
            Transport::Plain(stream) => stream.write_vectored_all(slices).await.0.map(drop),
            Transport::Tls(stream) => stream.write_vectored_all(slices).await.0.map(drop),
        }
    }
}
