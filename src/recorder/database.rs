//! The database thread ("gpt-api-log-db"): owns the Tokio runtime and the store, and makes
//! the logging thread's database calls one at a time, answering each with its result.
//! The calls live on their own thread so that a slow or absent database (a connect may wait
//! its full timeout, an insert up to `OPERATION_TIMEOUT`) never holds up the logging
//! thread: it goes on taking events, writing access lines and spilling what waits too long.
//! Admin queries from the workers (`gpt_api_common::admin`) are answered here too, between
//! the logging thread's calls, straight back to the worker that asked.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{select, Receiver, Sender};
use tokio::runtime::Runtime;

use super::admin::{self, ADMIN_TIMEOUT};
use super::row::LogRow;
use super::store::{OpenError, Store};
use gpt_api_common::admin::{AdminFailure, AdminRequest};
use gpt_api_common::log::{self, Value};

/// How long without a call before the thread gives freed memory back.
const QUIET_AFTER: Duration = Duration::from_millis(100);

/// What the logging thread asks of the database.
pub(super) enum Call {
    /// Insert these rows in one transaction (connecting first if need be).
    Insert(Arc<Vec<LogRow>>),
    /// Whether the database answers now (connecting first if need be).
    Probe,
}

/// Rows inserted (none for a probe, nor for a replayed row already there), or why not.
pub(super) type CallResult = Result<u64, String>;

/// The logging thread's end: send a call, receive its result on `results`.
pub(super) struct Database {
    calls: Sender<(Call, Duration)>,
    results: Receiver<CallResult>,
    thread: JoinHandle<()>,
}

impl Database {
    /// Starts the thread with what start-up opened (`store` is `None` while PostgreSQL is away).
    /// Admin queries arrive on `admin`.
    pub(super) fn start(
        url: String,
        runtime: Runtime,
        store: Option<Store>,
        admin: Receiver<AdminRequest>,
    ) -> Result<Self, String> {
        let (calls, call_receiver) = crossbeam_channel::unbounded();
        let (result_sender, results) = crossbeam_channel::bounded(1);
        let connection = Connection {
            url,
            runtime,
            store,
        };
        let thread = std::thread::Builder::new()
            .name("gpt-api-log-db".to_owned())
            .spawn(move || connection.serve(&call_receiver, admin, &result_sender))
            .map_err(|error| format!("cannot start the database thread: {error}"))?;
        Ok(Self {
            calls,
            results,
            thread,
        })
    }

    /// Starts a call that fails after `timeout`; its result comes on `results`. False when
    /// the thread is gone (it panicked).
    pub(super) fn call(&self, call: Call, timeout: Duration) -> bool {
        self.calls.send((call, timeout)).is_ok()
    }

    pub(super) fn results(&self) -> &Receiver<CallResult> {
        &self.results
    }

    /// Ends the thread once its call is over, closing the store. With `wait`, returns once
    /// it has; without (a call still hangs at shutdown), leaves it to the process's exit.
    pub(super) fn close(self, wait: bool) {
        drop(self.calls);
        if wait && self.thread.join().is_err() {
            log::error("log_db_thread_panicked", &[]);
        }
    }
}

/// The thread's side: the runtime, and the store once opened.
struct Connection {
    url: String,
    runtime: Runtime,
    store: Option<Store>,
}

impl Connection {
    fn serve(
        mut self,
        calls: &Receiver<(Call, Duration)>,
        mut admin: Receiver<AdminRequest>,
        results: &Sender<CallResult>,
    ) {
        while let Some(next) = next_call(calls, &mut admin) {
            let (call, timeout) = match next {
                Next::Call(call, timeout) => (call, timeout),
                Next::Admin(request) => {
                    self.answer(request);
                    continue;
                }
            };
            let result = self.make(&call, timeout);
            // Let go of the rows before answering: the logging thread takes a failed
            // write's rows back without copying them.
            drop(call);
            if results.send(result).is_err() {
                break;
            }
        }
        if let Some(store) = self.store.take() {
            self.runtime.block_on(store.close());
        }
    }

    /// Answers an admin query (connecting first if need be). A worker that stopped waiting
    /// has dropped its receiver; the answer is then dropped too.
    fn answer(&mut self, request: AdminRequest) {
        let Self {
            url,
            runtime,
            store,
        } = self;
        let answering = async {
            tokio::time::timeout(ADMIN_TIMEOUT, async {
                let store = connected(url, store)
                    .await
                    .map_err(AdminFailure::Unavailable)?;
                admin::answer(store, &request.query).await
            })
            .await
        };
        let reply = runtime.block_on(answering).unwrap_or_else(|_| {
            Err(AdminFailure::Unavailable(format!(
                "the database did not answer within {} s",
                ADMIN_TIMEOUT.as_secs()
            )))
        });
        let _ = request.reply.send(reply);
    }

    fn make(&mut self, call: &Call, timeout: Duration) -> CallResult {
        let Self {
            url,
            runtime,
            store,
        } = self;
        // Timers must be created inside the runtime.
        let calling = async { tokio::time::timeout(timeout, perform(url, store, call)).await };
        match runtime.block_on(calling) {
            Ok(result) => result,
            Err(_) => Err(format!(
                "the database did not answer within {} ms",
                timeout.as_millis()
            )),
        }
    }
}

/// What the thread does next.
enum Next {
    Call(Call, Duration),
    Admin(AdminRequest),
}

/// What a wait on the two channels gave.
enum Received {
    Next(Next),
    /// The logging thread is done.
    Done,
    Quiet,
    AdminClosed,
}

impl Received {
    fn call(call: Result<(Call, Duration), crossbeam_channel::RecvError>) -> Self {
        call.map_or(Self::Done, |(call, timeout)| {
            Self::Next(Next::Call(call, timeout))
        })
    }

    fn admin(request: Result<AdminRequest, crossbeam_channel::RecvError>) -> Self {
        request.map_or(Self::AdminClosed, |request| {
            Self::Next(Next::Admin(request))
        })
    }
}

/// The next call or admin query; once none came for a while, freed memory goes back first
/// (see `gpt_api_common::alloc`). `None` once the logging thread is done.
fn next_call(
    calls: &Receiver<(Call, Duration)>,
    admin: &mut Receiver<AdminRequest>,
) -> Option<Next> {
    let mut quiet = false;
    loop {
        let requests = admin.clone();
        let received = if quiet {
            select! {
                recv(calls) -> call => Received::call(call),
                recv(requests) -> request => Received::admin(request),
            }
        } else {
            select! {
                recv(calls) -> call => Received::call(call),
                recv(requests) -> request => Received::admin(request),
                default(QUIET_AFTER) => Received::Quiet,
            }
        };
        match received {
            Received::Next(next) => return Some(next),
            Received::Done => return None,
            Received::Quiet => {
                gpt_api_common::alloc::collect_quiet_thread();
                quiet = true;
            }
            Received::AdminClosed => *admin = crossbeam_channel::never(),
        }
    }
}

/// The store, opened first if start-up or an outage left it closed.
async fn connected<'s>(url: &str, store: &'s mut Option<Store>) -> Result<&'s Store, String> {
    if store.is_none() {
        match Store::open(url).await {
            Ok(opened) => *store = Some(opened),
            Err(OpenError::Fatal(message)) => {
                log::error("log_db_refused", &[("error", Value::Str(&message))]);
                return Err(message);
            }
            Err(OpenError::Unavailable(message)) => return Err(message),
        }
    }
    Ok(store.as_ref().expect("store opened above"))
}

async fn perform(url: &str, store: &mut Option<Store>, call: &Call) -> CallResult {
    let store = connected(url, store).await?;
    match call {
        Call::Insert(rows) => store.insert(rows).await,
        Call::Probe => store
            .ping()
            .await
            .map(|()| 0)
            .map_err(|error| error.to_string()),
    }
}
