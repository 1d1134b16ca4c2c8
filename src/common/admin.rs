//! Admin queries: a worker asks the logging thread's database a question and awaits the
//! answer without blocking its thread. The worker sends an `AdminRequest` over a lock-free
//! channel (never blocks) and awaits a `futures-channel` oneshot, which any executor can poll
//! (monoio's waker is thread-safe with its `sync` feature); the database thread
//! (`gpt-api-recorder`) answers each request on its own Tokio runtime and sqlx pool.
//!
//! To add a query: a variant of `AdminQuery` (the parameters, already checked by the
//! worker), a route in `http::router::AdminRoute`, its parsing in `handler::admin`, and its
//! SQL in the recorder's `admin` module. The answer is the JSON body to send.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::SystemTime;

use futures_channel::oneshot;

pub use crate::console::{RequestFilter, StatusFilter, DEFAULT_PAGE, MAX_PAGE};

/// A question for the log database.
#[derive(Debug, Clone, PartialEq)]
pub enum AdminQuery {
    /// `GET /admin/usage`: totals from `request_logs`, grouped.
    Usage(UsageQuery),
    /// A key's spend since a time (its budget period's start), for restoring it at start:
    /// `{"usd":…,"tokens":…}`.
    KeySpend { key: String, since: SystemTime },
    /// `GET /admin/requests`: a page of the request log (the console).
    Requests(RequestFilter),
    /// `GET /admin/requests/{id}`: one request whole (the console).
    Request(String),
}

/// Token, request, error and cost totals per group, over `[since, until)`.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageQuery {
    pub group_by: UsageGroup,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
}

/// What `/admin/usage` groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageGroup {
    Key,
    Model,
    Upstream,
}

impl UsageGroup {
    /// `group_by=` as the client writes it.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "key" => Some(Self::Key),
            "model" => Some(Self::Model),
            "upstream" => Some(Self::Upstream),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Model => "model",
            Self::Upstream => "upstream",
        }
    }

    /// The `request_logs` column grouped by (a fixed name: never text from a request).
    pub fn column(self) -> &'static str {
        match self {
            Self::Key => "client_key",
            Self::Model => "model",
            Self::Upstream => "upstream",
        }
    }
}

/// Why a query has no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminFailure {
    /// The thing asked for does not exist (404).
    NotFound(String),
    /// The database cannot answer now (503).
    Unavailable(String),
}

/// The JSON body of the answer, or why there is none.
pub type AdminReply = Result<String, AdminFailure>;

/// A query with the channel its answer goes back on.
pub struct AdminRequest {
    pub query: AdminQuery,
    pub reply: oneshot::Sender<AdminReply>,
}

/// The workers' end of the admin channel.
#[derive(Clone)]
pub struct AdminSender {
    channel: crossbeam_channel::Sender<AdminRequest>,
}

/// The admin channel: the workers' end, and the database thread's.
pub fn channel() -> (AdminSender, crossbeam_channel::Receiver<AdminRequest>) {
    let (channel, receiver) = crossbeam_channel::unbounded();
    (AdminSender { channel }, receiver)
}

impl AdminSender {
    /// Sends `query` (never blocks) and returns where its answer will arrive. The receiver
    /// resolves to `Canceled` when the database thread is gone.
    pub fn ask(&self, query: AdminQuery) -> oneshot::Receiver<AdminReply> {
        let (reply, answer) = oneshot::channel();
        // A closed channel drops `reply` with the request: the receiver sees `Canceled`.
        let _ = self.channel.send(AdminRequest { query, reply });
        answer
    }

    /// `ask`, waiting for the answer on the calling thread: for start-up only (the main
    /// thread), never on a worker.
    pub fn ask_blocking(&self, query: AdminQuery) -> AdminReply {
        let answer = block_on(self.ask(query));
        answer.unwrap_or_else(|_| {
            Err(AdminFailure::Unavailable(
                "the logging thread is gone".to_owned(),
            ))
        })
    }
}

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}
