//! Noticing a client that hangs up while the upstream is silent (a flowing stream learns of
//! it from its next write), without reading from the client's connection.
#![expect(
    unsafe_code,
    reason = "dup and a peeking recv on the client's descriptor have no safe wrapper in monoio"
)]

use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::time::Duration;

use monoio::net::TcpStream;

/// How long a stream runs before it watches for a client hang-up. Watching costs a `dup`, a
/// poll, its cancellation and a `close`, which was a fifth of a short stream's io_uring
/// operations.
const WATCH_AFTER: Duration = Duration::from_millis(500);

/// Resolves when the client behind `client` hangs up: it waits for readability on a
/// duplicate descriptor and peeks. Never resolves without a descriptor.
pub async fn client_hung_up(client: Option<RawFd>) {
    let Some(client) = client else {
        return std::future::pending().await;
    };
    monoio::time::sleep(WATCH_AFTER).await;
    // SAFETY: `dup` has no memory effects; it returns a new descriptor or -1.
    let fd = unsafe { libc::dup(client) };
    let stream = (fd >= 0)
        // SAFETY: `fd` is the fresh descriptor from `dup` above, owned by nothing else; the
        // stream made from it owns and closes it.
        .then(|| unsafe { std::net::TcpStream::from_raw_fd(fd) })
        .and_then(|std_stream| TcpStream::from_std(std_stream).ok());
    let Some(stream) = stream else {
        return std::future::pending().await;
    };
    loop {
        if stream.readable(true).await.is_err() {
            return;
        }
        let mut byte = 0u8;
        // SAFETY: a one-byte peek into a local buffer that outlives the call.
        let peeked = unsafe {
            libc::recv(
                stream.as_raw_fd(),
                (&raw mut byte).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        match peeked {
            0 => return,
            n if n > 0 => return std::future::pending().await, // a pipelined request: not a hang-up
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock => {
                monoio::time::sleep(Duration::from_millis(1)).await;
            }
            _ => return,
        }
    }
}
