//! A worker's accept loop: connections up to the limit are served (each in its own task, a
//! panic contained to it), those past it refused with a 503; plus the worker's housekeeping
//! (gauges, giving memory back, stopping at shutdown within the grace period).

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use monoio::io::Canceller;
use monoio::net::{TcpListener, TcpStream};

use super::connection::{self, CatchUnwind, ClientConnection};
use crate::context::WorkerContext;
use crate::error::AppError;
use crate::handler;
use crate::log::{self, Value};

pub async fn run_worker(context: Rc<WorkerContext>, listener: std::net::TcpListener) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            log::error(
                "worker_failed",
                &[
                    ("worker", Value::Int(context.index as u64)),
                    ("reason", Value::Str(&e.to_string())),
                ],
            );
            return;
        }
    };
    let shared = &context.shared;
    shared.workers_listening.fetch_add(1, Ordering::Relaxed);
    let canceller = Canceller::new();
    let accept_handle = canceller.handle();
    monoio::spawn(cancel_on_shutdown(context.clone(), canceller));
    monoio::spawn(sample_gauges(context.clone()));
    let max_connections = context.startup().server.max_connections;
    loop {
        let (stream, _) = match listener.cancelable_accept(accept_handle.clone()).await {
            Ok(accepted) => accepted,
            Err(_) if context.is_shutting_down() => break,
            Err(_) => continue,
        };
        let metrics = &context.metrics;
        if metrics.open_connections.load(Ordering::Relaxed) as usize >= max_connections {
            metrics.rejected_connections.fetch_add(1, Ordering::Relaxed);
            monoio::spawn(refuse_overloaded(stream));
            continue;
        }
        metrics.open_connections.fetch_add(1, Ordering::Relaxed);
        monoio::spawn(serve_contained(
            context.clone(),
            ClientConnection::new(stream),
        ));
    }
    drop(listener);
    // Idle keep-alive connections are simply dropped with the runtime; requests in progress
    // get the grace period.
    let deadline = Instant::now() + context.startup().server.shutdown_grace;
    while context.requests_in_flight() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Serves one connection; a panic ends only this connection. One that goes idle is parked
/// in a task of its own (`park_idle`) and this one ends, with its memory.
async fn serve_contained(context: Rc<WorkerContext>, connection: ClientConnection) {
    match CatchUnwind(Box::pin(connection::serve(&context, connection))).await {
        Ok(Some(idle)) => {
            monoio::spawn(park_idle(context, idle));
            return;
        }
        Ok(None) => {}
        Err(()) => {
            log::error(
                "connection_panicked",
                &[("worker", Value::Int(context.index as u64))],
            );
            // The request in progress when it panicked is not coming back.
            context.request_ended();
        }
    }
    context
        .metrics
        .open_connections
        .fetch_sub(1, Ordering::Relaxed);
}

/// An idle keep-alive connection: a small task that waits, holding no buffer, until the
/// client sends its next request (then served anew) or closes, or the keep-alive ends.
async fn park_idle(context: Rc<WorkerContext>, connection: ClientConnection) {
    if connection.wait_readable().await && !context.is_shutting_down() {
        monoio::spawn(serve_contained(context, connection));
        return;
    }
    context
        .metrics
        .open_connections
        .fetch_sub(1, Ordering::Relaxed);
}

/// Past the connection limit: a short 503 instead of unbounded memory.
async fn refuse_overloaded(stream: TcpStream) {
    let mut connection = ClientConnection::new(stream);
    handler::refuse_unlogged(&mut connection.stream, AppError::Overloaded).await;
    // The client's request is still unread: close gracefully so it gets the 503, not a reset.
    connection.linger().await;
}

/// Keeps the gauges a scrape cannot read across threads (pool size, open breakers) fresh,
/// and hands freed memory back once the worker has had a quiet second after serving.
async fn sample_gauges(context: Rc<WorkerContext>) {
    let mut answered_at_last_tick = 0;
    let mut collected = true;
    while !context.is_shutting_down() {
        context.sample_gauges();
        let answered = context.metrics.latency.count();
        if answered != answered_at_last_tick {
            collected = false;
        } else if !collected && context.requests_in_flight() == 0 {
            crate::alloc::collect_quiet_thread();
            collected = true;
        }
        answered_at_last_tick = answered;
        monoio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Stops the accept loop once shutdown begins. It polls the flag (the signal arrives on
/// another thread); every 100 ms keeps an idle worker asleep (every 20 ms cost 0.3% of a core).
async fn cancel_on_shutdown(context: Rc<WorkerContext>, canceller: Canceller) {
    while !context.is_shutting_down() {
        monoio::time::sleep(Duration::from_millis(100)).await;
    }
    canceller.cancel();
}
