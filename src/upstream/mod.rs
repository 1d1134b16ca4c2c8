//! Talking to upstream providers: the per-worker pooled client, TLS, name resolution and
//! response bodies pulled as they arrive. No routing decisions here (that is `dispatch`).

use std::future::Future;
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Instant;

mod body;
mod client;
mod connection;
mod head;
mod resolve;
mod tls;

pub use body::BodyError;
pub use client::{
    operation_path, SendError, UpstreamClient, UpstreamRequest, UpstreamResponse, EVENT_STREAM,
};
pub use tls::client_config;

/// `future`'s output, or `None` once `deadline` has passed. The future stays pinned where
/// its caller made it: monoio's `timeout_at` takes it by value, and moving a large future
/// into the timer's own copied it every time.
pub async fn before<F: Future>(deadline: Instant, mut future: Pin<&mut F>) -> Option<F::Output> {
    let mut timer = pin!(monoio::time::sleep_until(deadline.into()));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}
