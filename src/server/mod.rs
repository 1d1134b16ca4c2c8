//! The thread-per-core server: one pinned worker thread per core, each with its own monoio
//! runtime (io_uring, or epoll where io_uring is unavailable), its own SO_REUSEPORT listener,
//! dispatcher state and upstream pool. Shutdown: stop accepting everywhere, let in-flight
//! requests finish within the grace period, then return.

mod accept;
mod connection;
pub mod driver;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use monoio::time::TimeDriver;
use socket2::{Domain, Protocol, Socket, Type};

use self::driver::Driver;
use crate::context::{SharedState, WorkerContext};
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
/// The `[server]` settings are those the process started with.
pub fn start(records: RecordSender, shared: Arc<SharedState>) -> Result<Server, String> {
    let config = shared.startup.clone();
    let workers = config.server.workers;
    if !config.server.share_port {
        refuse_a_held_port(config.server.listen)?;
    }
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
                    let context = Rc::new(WorkerContext::new(index, records, shared));
                    accept::run_worker(context, listener).await;
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

/// SO_REUSEPORT would let this process share a port with any other that listens on it (a
/// second gateway started by mistake would take half the traffic): unless sharing is asked
/// for, a plain bind first finds out whether someone already listens there.
fn refuse_a_held_port(address: SocketAddr) -> Result<(), String> {
    if address.port() == 0 {
        return Ok(());
    }
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .map_err(|e| e.to_string())?;
    // SO_REUSEADDR: connections of an earlier run in TIME_WAIT do not count, listeners do.
    let probe = socket
        .set_reuse_address(true)
        .and_then(|()| socket.bind(&address.into()));
    match probe {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(format!(
            "cannot listen on {address}: address in use by another process \
             (set server.share_port = true to share it on purpose)"
        )),
        _ => Ok(()),
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
