//! What one worker thread owns: its routes (dispatcher state and upstream pool, rebuilt when
//! the config is reloaded), its end of the log channel and its metrics; plus a handle on
//! what all workers share (read-only, atomics, or locks taken only on reload and scrape).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::http::request::RequestLimits;
use crate::metrics::{LogFigures, RequestCounters, WorkerMetrics};
use crate::record::{RecordSender, StreamId};
use crate::upstream::UpstreamClient;

/// A config ready to serve: validated, with the TLS settings of its upstreams loaded.
pub struct Deployment {
    pub config: Arc<Config>,
    pub tls: Vec<Option<Arc<rustls::ClientConfig>>>,
}

impl Deployment {
    pub fn new(config: Arc<Config>) -> Result<Self, String> {
        let tls = config
            .upstreams
            .iter()
            .map(|upstream| {
                upstream
                    .url
                    .tls
                    .then(|| crate::upstream::client_config(upstream))
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { config, tls })
    }
}

/// State every worker can read.
pub struct SharedState {
    deployment: Mutex<Arc<Deployment>>,
    /// Bumped on each reload; workers compare it (one relaxed load per request).
    generation: AtomicU64,
    pub metrics: Vec<Arc<WorkerMetrics>>,
    /// Every worker's request counters, of every config generation, for scrapes.
    counters: Mutex<Vec<Arc<RequestCounters>>>,
    pub log_figures: Box<dyn Fn() -> LogFigures + Send + Sync>,
    pub shutting_down: AtomicBool,
    pub workers_listening: AtomicUsize,
}

impl SharedState {
    pub fn new(
        deployment: Deployment,
        log_figures: Box<dyn Fn() -> LogFigures + Send + Sync>,
    ) -> Self {
        let workers = deployment.config.server.workers;
        Self {
            deployment: Mutex::new(Arc::new(deployment)),
            generation: AtomicU64::new(0),
            metrics: (0..workers).map(|_| Arc::default()).collect(),
            counters: Mutex::default(),
            log_figures,
            shutting_down: AtomicBool::new(false),
            workers_listening: AtomicUsize::new(0),
        }
    }

    /// Makes a new config current: each worker switches at its next request; requests in
    /// flight finish on the routes they started with.
    pub fn publish(&self, deployment: Deployment) {
        *self.deployment.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(deployment);
        self.generation.fetch_add(1, Ordering::Release);
    }

    pub fn current(&self) -> Arc<Deployment> {
        self.deployment
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn request_counters(&self) -> Vec<Arc<RequestCounters>> {
        self.counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn register(&self, counters: Arc<RequestCounters>) {
        self.counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(counters);
    }
}

/// Everything of a worker that depends on the config, replaced as a whole on reload.
pub struct Routes {
    pub config: Arc<Config>,
    pub dispatcher: Dispatcher,
    pub upstream: Rc<UpstreamClient>,
    pub counters: Arc<RequestCounters>,
}

pub struct Worker {
    pub index: usize,
    /// From the config the process started with: `[server]` needs a restart to change.
    pub limits: RequestLimits,
    routes: RefCell<Rc<Routes>>,
    generation: Cell<u64>,
    pub records: RecordSender,
    pub metrics: Arc<WorkerMetrics>,
    pub shared: Arc<SharedState>,
    /// Requests read and not yet answered (shutdown waits for these, not for idle connections).
    pub requests_in_flight: Cell<usize>,
    next_stream: Cell<u64>,
}

impl Worker {
    pub fn new(index: usize, records: RecordSender, shared: Arc<SharedState>) -> Self {
        let generation = shared.generation.load(Ordering::Acquire);
        let routes = Self::build_routes(&shared);
        let server = &routes.config.server;
        let limits = RequestLimits {
            max_header_bytes: server.max_header_bytes,
            max_body_bytes: server.max_body_bytes,
            header_timeout: server.header_timeout,
            body_timeout: server.body_timeout,
        };
        Self {
            index,
            limits,
            routes: RefCell::new(Rc::new(routes)),
            generation: Cell::new(generation),
            records,
            metrics: shared.metrics[index].clone(),
            shared,
            requests_in_flight: Cell::new(0),
            next_stream: Cell::new(0),
        }
    }

    fn build_routes(shared: &SharedState) -> Routes {
        let deployment = shared.current();
        let counters = Arc::new(RequestCounters::new(deployment.config.clone()));
        shared.register(counters.clone());
        Routes {
            dispatcher: Dispatcher::new(deployment.config.clone()),
            upstream: UpstreamClient::new(deployment.config.clone(), deployment.tls.clone()),
            config: deployment.config.clone(),
            counters,
        }
    }

    /// The current routes, rebuilt first if the config was reloaded since the last request.
    pub fn routes(&self) -> Rc<Routes> {
        let generation = self.shared.generation.load(Ordering::Acquire);
        if generation != self.generation.get() {
            self.generation.set(generation);
            *self.routes.borrow_mut() = Rc::new(Self::build_routes(&self.shared));
        }
        self.routes.borrow().clone()
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

    /// Samples the per-worker gauges a scrape cannot read from another thread.
    pub fn sample_gauges(&self) {
        let routes = self.routes.borrow();
        self.metrics
            .pooled_connections
            .store(routes.upstream.idle_connections() as u64, Ordering::Relaxed);
        self.metrics
            .open_breakers
            .store(routes.dispatcher.open_breakers() as u64, Ordering::Relaxed);
    }
}
