//! The per-core context: what one worker thread owns (its config generation with dispatcher
//! state and upstream pool, its end of the log channel, its metrics) and a handle on what all
//! workers share (read-only, atomics, or locks taken only on reload and scrape).
//! It sits under `server` and `handler` and over `dispatch` and `upstream`, which never import
//! it: they are handed what they need.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};

use crate::admin::AdminSender;
use crate::config::Config;
use crate::dispatch::{Dispatcher, ResponseAffinity};
use crate::limits::fleet::FleetStatus;
use crate::limits::Ledgers;
use crate::metrics::{LiveFigures, LogFigures, RequestCounters, WorkerMetrics, SAMPLE_EVERY};
use crate::record::{RecordSender, StreamId};
use crate::upstream::UpstreamClient;
use gpt_api_common::limits::KeyLedger;

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
    /// The config the process started with: `[server]` and `[database]` are read from it
    /// only, since changing them takes a restart.
    pub startup: Arc<Config>,
    deployment: Mutex<Arc<Deployment>>,
    /// Bumped on each reload; workers compare it (one relaxed load per request).
    generation: AtomicU64,
    pub metrics: Vec<Arc<WorkerMetrics>>,
    /// Every worker's request counters, of every config generation, for scrapes.
    counters: Mutex<Vec<Arc<RequestCounters>>>,
    pub log_figures: Box<dyn Fn() -> LogFigures + Send + Sync>,
    /// Where admin queries go (the logging thread's database answers them).
    pub admin: AdminSender,
    /// Every client key's limit counters and spend, by name.
    pub ledgers: Ledgers,
    /// Fleet mode: whether limits are leased from Redis now.
    pub fleet: Arc<FleetStatus>,
    pub shutting_down: AtomicBool,
    pub workers_listening: AtomicUsize,
    /// Which upstream issued each Responses API response id, for `previous_response_id`.
    pub response_affinity: ResponseAffinity,
    /// The console's recent figures, sampled by `watch_live_figures`'s thread.
    pub live: LiveFigures,
    sampler: Once,
}

impl SharedState {
    pub fn new(
        deployment: Deployment,
        log_figures: Box<dyn Fn() -> LogFigures + Send + Sync>,
        admin: AdminSender,
    ) -> Self {
        let startup = deployment.config.clone();
        let fleet = Arc::new(FleetStatus::new(&startup.limits));
        Self {
            metrics: (0..startup.server.workers)
                .map(|_| Arc::default())
                .collect(),
            startup,
            deployment: Mutex::new(Arc::new(deployment)),
            generation: AtomicU64::new(0),
            counters: Mutex::default(),
            log_figures,
            admin,
            ledgers: Ledgers::default(),
            fleet,
            shutting_down: AtomicBool::new(false),
            workers_listening: AtomicUsize::new(0),
            response_affinity: ResponseAffinity::default(),
            live: LiveFigures::default(),
            sampler: Once::new(),
        }
    }

    /// Makes a new config current: each worker switches at its next request; requests in
    /// flight finish on the generation they started with.
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

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// Starts (once; at start-up with an admin key, else at the console's first look) the
    /// thread that samples the workers' counters every `SAMPLE_EVERY` until shutdown: a
    /// gateway without a console does not wake for it.
    pub fn watch_live_figures(self: &Arc<Self>) {
        self.sampler.call_once(|| {
            let shared = Arc::clone(self);
            let started = std::thread::Builder::new()
                .name("gpt-api-sampler".to_owned())
                .spawn(move || {
                    while !shared.is_shutting_down() {
                        shared.live.sample(&shared.request_counters());
                        std::thread::sleep(SAMPLE_EVERY);
                    }
                });
            if let Err(error) = started {
                let message = error.to_string();
                crate::log::error(
                    "sampler_not_started",
                    &[("error", crate::log::Value::Str(&message))],
                );
            }
        });
    }

    fn register(&self, counters: Arc<RequestCounters>) {
        self.counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(counters);
    }
}

/// One config generation as a worker serves it: the config with this worker's dispatcher
/// state, upstream pool and request counters. Replaced as a whole on reload; requests in
/// flight keep theirs.
pub struct Generation {
    pub config: Arc<Config>,
    pub dispatcher: Dispatcher,
    pub upstream: Rc<UpstreamClient>,
    pub counters: Arc<RequestCounters>,
    /// The ledger of each of `config.client_keys`, in the same order.
    pub ledgers: Vec<Arc<KeyLedger>>,
}

/// What one worker thread owns.
pub struct WorkerContext {
    pub index: usize,
    generation: RefCell<Rc<Generation>>,
    generation_number: Cell<u64>,
    pub records: RecordSender,
    pub metrics: Arc<WorkerMetrics>,
    pub shared: Arc<SharedState>,
    /// Requests read and not yet answered (shutdown waits for these, not for idle connections).
    requests_in_flight: Cell<usize>,
    next_stream: Cell<u64>,
}

impl WorkerContext {
    pub fn new(index: usize, records: RecordSender, shared: Arc<SharedState>) -> Self {
        let generation_number = shared.generation.load(Ordering::Acquire);
        Self {
            index,
            generation: RefCell::new(Rc::new(Self::build_generation(&shared, index))),
            generation_number: Cell::new(generation_number),
            records,
            metrics: shared.metrics[index].clone(),
            shared,
            requests_in_flight: Cell::new(0),
            next_stream: Cell::new(0),
        }
    }

    fn build_generation(shared: &SharedState, index: usize) -> Generation {
        let deployment = shared.current();
        let counters = Arc::new(RequestCounters::new(deployment.config.clone()));
        shared.register(counters.clone());
        Generation {
            dispatcher: Dispatcher::new(deployment.config.clone()),
            upstream: UpstreamClient::new(
                deployment.config.clone(),
                deployment.tls.clone(),
                shared.metrics[index].upstream_stale_resends.clone(),
            ),
            ledgers: deployment
                .config
                .client_keys
                .iter()
                .map(|key| shared.ledgers.for_key(&key.name))
                .collect(),
            config: deployment.config.clone(),
            counters,
        }
    }

    /// The current generation, rebuilt first if the config was reloaded since the last request.
    pub fn generation(&self) -> Rc<Generation> {
        let number = self.shared.generation.load(Ordering::Acquire);
        if number != self.generation_number.get() {
            self.generation_number.set(number);
            *self.generation.borrow_mut() =
                Rc::new(Self::build_generation(&self.shared, self.index));
        }
        self.generation.borrow().clone()
    }

    /// The settings that need a restart to change (`[server]`, `[database]`).
    pub fn startup(&self) -> &Config {
        &self.shared.startup
    }

    /// A process-unique stream id: the worker index in the top bits.
    pub fn next_stream_id(&self) -> StreamId {
        let n = self.next_stream.get();
        self.next_stream.set(n + 1);
        ((self.index as u64) << 48) | n
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shared.is_shutting_down()
    }

    pub fn requests_in_flight(&self) -> usize {
        self.requests_in_flight.get()
    }

    pub fn request_started(&self) {
        self.requests_in_flight
            .set(self.requests_in_flight.get() + 1);
    }

    /// Also called for a request whose connection panicked (it is not coming back).
    pub fn request_ended(&self) {
        self.requests_in_flight
            .set(self.requests_in_flight.get().saturating_sub(1));
    }

    /// Samples the per-worker gauges a scrape cannot read from another thread.
    pub fn sample_gauges(&self) {
        let generation = self.generation.borrow();
        self.metrics.pooled_connections.store(
            generation.upstream.idle_connections() as u64,
            Ordering::Relaxed,
        );
        self.metrics.open_breakers.store(
            generation.dispatcher.open_breakers() as u64,
            Ordering::Relaxed,
        );
        generation
            .counters
            .set_breakers(generation.dispatcher.breaker_states());
    }
}
