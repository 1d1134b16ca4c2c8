//! The connection loop: read a request, hand it to the handlers, repeat while keep-alive
//! holds. Requests that cannot even be read are answered here (the one place besides the
//! handlers where an `AppError` becomes a response). A panic is contained to its connection.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use monoio::net::TcpStream;

use super::request::{ClientConnection, ReadError};
use crate::handler::{self, exchange::Exchange};
use crate::server::worker::Worker;

pub async fn serve(worker: &Worker, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut connection = ClientConnection::new(stream);
    loop {
        let request = match connection.read_request(&worker.limits).await {
            Ok(request) => request,
            Err(ReadError::Closed) => return,
            Err(ReadError::Rejected(error)) => {
                Exchange::new(worker, "", Instant::now(), false)
                    .fail(worker, &mut connection, error)
                    .await;
                connection.linger().await;
                return;
            }
        };
        worker
            .requests_in_flight
            .set(worker.requests_in_flight.get() + 1);
        let keep_alive = handler::handle(worker, &mut connection, request).await;
        worker
            .requests_in_flight
            .set(worker.requests_in_flight.get() - 1);
        if !keep_alive {
            connection.linger().await;
            return;
        }
    }
}

/// Polls a future and turns a panic inside it into `Err`, so one bad request cannot take
/// the worker (and every other connection on it) down.
pub struct CatchUnwind<F>(pub F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut self.0).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(_) => Poll::Ready(Err(())),
        }
    }
}
