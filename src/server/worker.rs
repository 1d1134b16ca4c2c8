//! What one worker thread owns: its dispatcher state, its upstream pool, its end of the log
//! channel and its metrics; plus a handle on what all workers share (read-only or atomics).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::http::request::RequestLimits;
use crate::metrics::{LogFigures, WorkerMetrics};
use crate::record::{RecordSender, StreamId};
use crate::upstream::UpstreamClient;

/// State every worker can read: the metrics of all workers (for scrapes), the logging
/// thread's figures, and the shutdown flag.
pub struct SharedState {
    pub metrics: Vec<Arc<WorkerMetrics>>,
    pub log_figures: Box<dyn Fn() -> LogFigures + Send + Sync>,
    pub shutting_down: AtomicBool,
    pub workers_listening: AtomicUsize,
}

pub struct Worker {
    pub index: usize,
    pub config: Arc<Config>,
    pub limits: RequestLimits,
    pub dispatcher: Dispatcher,
    pub upstream: Rc<UpstreamClient>,
    pub records: RecordSender,
    pub metrics: Arc<WorkerMetrics>,
    pub shared: Arc<SharedState>,
    /// Requests read and not yet answered (shutdown waits for these, not for idle connections).
    pub requests_in_flight: Cell<usize>,
    next_stream: Cell<u64>,
}

impl Worker {
    pub fn new(
        index: usize,
        config: Arc<Config>,
        upstream: Rc<UpstreamClient>,
        records: RecordSender,
        shared: Arc<SharedState>,
    ) -> Self {
        let server = &config.server;
        let limits = RequestLimits {
            max_header_bytes: server.max_header_bytes,
            max_body_bytes: server.max_body_bytes,
            header_timeout: server.header_timeout,
            body_timeout: server.body_timeout,
        };
        Self {
            index,
            dispatcher: Dispatcher::new(config.clone()),
            metrics: shared.metrics[index].clone(),
            config,
            limits,
            upstream,
            records,
            shared,
            requests_in_flight: Cell::new(0),
            next_stream: Cell::new(0),
        }
    }

    /// A process-unique stream id: the worker index in the top bits.
    pub fn next_stream_id(&self) -> StreamId {
        let n = self.next_stream.get();
        self.next_stream.set(n + 1);
        ((self.index as u64) << 48) | n
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shared.shutting_down.load(Ordering::Relaxed)
    }
}
