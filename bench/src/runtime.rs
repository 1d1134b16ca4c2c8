//! One monoio runtime per OS thread: io_uring when the kernel allows it, epoll otherwise.

use std::future::Future;

use monoio::{FusionDriver, FusionRuntime, RuntimeBuilder};

/// Ring size per thread: thousands of held streams each keep a read or a write in flight.
const URING_ENTRIES: u32 = 4096;

/// Runs `task(thread_index, driver_name)` on `threads` threads, each with its own runtime,
/// and returns their results in thread order.
pub fn run_on_threads<T, F, Fut>(name: &str, threads: usize, task: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize, &'static str) -> Fut + Sync,
    Fut: Future<Output = T>,
{
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|index| {
                let task = &task;
                std::thread::Builder::new()
                    .name(format!("{name}-{index}"))
                    .spawn_scoped(scope, move || {
                        let mut runtime = RuntimeBuilder::<FusionDriver>::new()
                            .enable_timer()
                            .with_entries(URING_ENTRIES)
                            .build()
                            .expect("cannot build a monoio runtime");
                        let driver = match runtime {
                            FusionRuntime::Uring(_) => "io_uring",
                            FusionRuntime::Legacy(_) => "legacy",
                        };
                        runtime.block_on(task(index, driver))
                    })
                    .expect("cannot spawn a thread")
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a benchmark thread panicked"))
            .collect()
    })
}

/// The machine's core count, the default thread count of both tools.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| cores.get())
}
