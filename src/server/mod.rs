//! The thread-per-core server: one pinned worker thread per core, each with its own monoio
//! runtime (io_uring, or epoll where io_uring is unavailable), its own SO_REUSEPORT listener,
//! dispatcher state and upstream pool. Shutdown: stop accepting everywhere, let in-flight
//! requests finish within the grace period, then return.

pub mod driver;
pub mod worker;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use monoio::io::Canceller;
use monoio::net::TcpListener;
use monoio::time::TimeDriver;
use socket2::{Domain, Protocol, Socket, Type};

use self::driver::Driver;
use self::worker::{SharedState, Worker};
use crate::http::connection::{self, CatchUnwind};
use crate::http::request::ClientConnection;
use crate::log::{self, Value};
use crate::record::RecordSender;

pub struct Server {
    pub address: SocketAddr,
    pub driver: &'static str,
    /// Why the workers run on the legacy driver (`None` on io_uring).
    pub driver_reason: Option<String>,
    shared: Arc<SharedState>,
    threads: Vec<JoinHandle<()>>,
}

/// Binds every worker's listener (port 0 is resolved once, so all share it) and starts the workers.
/// The config is the one `shared` currently deploys.
pub fn start(records: RecordSender, shared: Arc<SharedState>) -> Result<Server, String> {
    let config = shared.current().config.clone();
    let workers = config.server.workers;
    let first = bind(config.server.listen)?;
    let address = first.local_addr().map_err(|e| e.to_string())?;
    let mut listeners = vec![first];
    for _ in 1..workers {
        listeners.push(bind(address)?);
    }
    let cores = if config.server.pin_cores {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let driver = driver::choose()?;
    let mut threads = Vec::with_capacity(workers);
    for (index, listener) in listeners.into_iter().enumerate() {
        let (records, shared, kind) = (records.clone(), shared.clone(), driver.driver);
        let core = (!cores.is_empty()).then(|| cores[index % cores.len()]);
        let thread = std::thread::Builder::new()
            .name(format!("gpt-api-worker-{index}"))
            .spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                let mut runtime = build_runtime(kind, tuned_ring())
                    .or_else(|_| build_runtime(kind, io_uring::IoUring::builder()))
                    .expect("cannot build the worker runtime");
                runtime.block_on(async move {
                    let worker = Rc::new(Worker::new(index, records, shared));
                    run_worker(worker, listener).await;
                });
            })
            .map_err(|e| format!("cannot start worker thread: {e}"))?;
        threads.push(thread);
    }
    Ok(Server {
        address,
        driver: driver.driver.name(),
        driver_reason: driver.reason,
        shared,
        threads,
    })
}

type WorkerRuntime =
    monoio::FusionRuntime<TimeDriver<monoio::IoUringDriver>, TimeDriver<monoio::LegacyDriver>>;

/// A worker's runtime on the driver chosen once at start (not monoio's own detection, so
/// that what the `listening` line says is what every worker runs).
fn build_runtime(driver: Driver, ring: io_uring::Builder) -> std::io::Result<WorkerRuntime> {
    let pool = || Box::new(monoio::blocking::DefaultThreadPool::new(1));
    Ok(match driver {
        Driver::IoUring => monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .enable_timer()
            .uring_builder(ring)
            .attach_thread_pool(pool())
            .build()?
            .into(),
        Driver::Legacy => monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .attach_thread_pool(pool())
            .build()?
            .into(),
    })
}

/// The ring is only ever used by its own worker thread, so the kernel need not interrupt
/// that thread to post completions: it posts them when the thread next enters the kernel
/// (Linux 5.19 / 6.0; older kernels refuse the flags and get a plain ring).
fn tuned_ring() -> io_uring::Builder {
    let mut ring = io_uring::IoUring::builder();
    ring.setup_coop_taskrun().setup_single_issuer();
    ring
}

impl Server {
    /// Stops accepting on every core, waits for in-flight requests (bounded by `grace`),
    /// and joins the workers.
    pub fn shutdown(self) {
        self.shared.shutting_down.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
    }

    pub fn wait_until_listening(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.shared.workers_listening.load(Ordering::Relaxed) < self.threads.len() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }
}

fn bind(address: SocketAddr) -> Result<std::net::TcpListener, String> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .map_err(|e| e.to_string())?;
    let setup = || -> std::io::Result<()> {
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&address.into())?;
        socket.listen(4096)
    };
    setup().map_err(|e| format!("cannot listen on {address}: {e}"))?;
    Ok(socket.into())
}

async fn run_worker(worker: Rc<Worker>, listener: std::net::TcpListener) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            log::error(
                "worker_failed",
                &[
                    ("worker", Value::Int(worker.index as u64)),
                    ("reason", Value::Str(&e.to_string())),
                ],
            );
            return;
        }
    };
    worker
        .shared
        .workers_listening
        .fetch_add(1, Ordering::Relaxed);
    let canceller = Canceller::new();
    let accept_handle = canceller.handle();
    monoio::spawn(cancel_on_shutdown(worker.clone(), canceller));
    monoio::spawn(sample_gauges(worker.clone()));
    loop {
        let (stream, _) = match listener.cancelable_accept(accept_handle.clone()).await {
            Ok(accepted) => accepted,
            Err(_) if worker.is_shutting_down() => break,
            Err(_) => continue,
        };
        let open = worker.metrics.open_connections.load(Ordering::Relaxed) as usize;
        if open >= worker.routes().config.server.max_connections {
            worker
                .metrics
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
            monoio::spawn(reject_overloaded(stream));
            continue;
        }
        let worker = worker.clone();
        monoio::spawn(async move {
            worker
                .metrics
                .open_connections
                .fetch_add(1, Ordering::Relaxed);
            if CatchUnwind(Box::pin(connection::serve(&worker, stream)))
                .await
                .is_err()
            {
                log::error(
                    "connection_panicked",
                    &[("worker", Value::Int(worker.index as u64))],
                );
                // The request in progress when it panicked is not coming back.
                worker
                    .requests_in_flight
                    .set(worker.requests_in_flight.get().saturating_sub(1));
            }
            worker
                .metrics
                .open_connections
                .fetch_sub(1, Ordering::Relaxed);
        });
    }
    drop(listener);
    // Idle keep-alive connections are simply dropped with the runtime; requests in progress
    // get the grace period.
    let deadline = Instant::now() + worker.routes().config.server.shutdown_grace;
    while worker.requests_in_flight.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Keeps the gauges a scrape cannot read across threads (pool size, open breakers) fresh,
/// and hands freed memory back once the worker has had a quiet second after serving.
async fn sample_gauges(worker: Rc<Worker>) {
    let mut answered_at_last_tick = 0;
    let mut collected = true;
    while !worker.is_shutting_down() {
        worker.sample_gauges();
        let answered = worker.metrics.latency.count();
        if answered != answered_at_last_tick {
            collected = false;
        } else if !collected && worker.requests_in_flight.get() == 0 {
            crate::alloc::collect_quiet_thread();
            collected = true;
        }
        answered_at_last_tick = answered;
        monoio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Stops the accept loop once shutdown begins. It polls the flag (the signal arrives on
/// another thread); every 100 ms keeps an idle worker asleep (every 20 ms cost 0.3% of a core).
async fn cancel_on_shutdown(worker: Rc<Worker>, canceller: Canceller) {
    while !worker.is_shutting_down() {
        monoio::time::sleep(Duration::from_millis(100)).await;
    }
    canceller.cancel();
}

/// Past the connection limit: a short 503 instead of unbounded memory.
async fn reject_overloaded(stream: monoio::net::TcpStream) {
    let error = crate::error::AppError::Overloaded;
    let request_id = crate::handler::exchange::new_request_id();
    let head = crate::http::response::ResponseHead {
        status: error.status(),
        content_type: "application/json",
        request_id: &request_id,
        keep_alive: false,
        extra: &[],
    };
    let body = error.body_with_message(&error.message());
    let mut connection = ClientConnection::new(stream);
    let _ =
        crate::http::response::write_full(&mut connection.stream, &head, bytes::Bytes::from(body))
            .await;
    // The client's request is still unread: close gracefully so it gets the 503, not a reset.
    connection.linger().await;
}
