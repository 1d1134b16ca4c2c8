//! The closed loop each connection runs, for every mode, and the per-thread driver spawning them.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::client::Client;
use super::plan::{Mode, Plan};
use super::sse::{EventKind, EventScanner};
use super::stats::{Stats, StreamOutcome};

/// Pause after a failed request, so that a dead target does not turn the loop into a spin.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// `Idle`: how often a thread whose connections are settled looks whether the others' are.
const SETTLE_POLL: Duration = Duration::from_millis(10);

/// Runs this thread's share of connections to the end and returns their merged statistics.
pub async fn run_thread(plan: &'static Plan, index: usize) -> Stats {
    let stats = Rc::new(RefCell::new(Stats::new()));
    let connections: Vec<_> = (0..plan.connections_of(index))
        .map(|slot| {
            let start = plan.slow_start_of(index, slot);
            monoio::spawn(run_connection(plan, start, Rc::clone(&stats)))
        })
        .collect();
    let mut clients = Vec::with_capacity(connections.len());
    for connection in connections {
        clients.push(connection.await);
    }
    if plan.mode == Mode::Idle {
        hold_idle(plan, &clients, &stats).await;
    }
    drop(clients);
    Rc::into_inner(stats)
        .expect("every connection has finished")
        .into_inner()
}

/// `Idle`: keeps this thread's connections open (they are, while `clients` lives) until every
/// thread's have had their answer, then for `plan.hold`. The last thread to settle tells the
/// caller on stderr, `{"event":"held"}`, so that it measures the server while they are held.
async fn hold_idle(plan: &Plan, clients: &[Client], stats: &RefCell<Stats>) {
    let held = clients
        .iter()
        .filter(|client| client.is_connected())
        .count();
    stats.borrow_mut().count_held(held as u64);
    if plan.settle_thread() {
        eprintln!(r#"{{"event":"held","threads":{}}}"#, plan.threads);
    }
    while !plan.all_settled() {
        monoio::time::sleep(SETTLE_POLL).await;
    }
    monoio::time::sleep(plan.hold).await;
}

/// `slow_start` matters to `SlowStreams` only. Returns the client, still connected unless the
/// last exchange failed or the server closed.
async fn run_connection(
    plan: &'static Plan,
    slow_start: Instant,
    stats: Rc<RefCell<Stats>>,
) -> Client {
    let mut client = Client::new(plan.target);
    let mut outcome = StreamOutcome::default();
    let mut scanner = EventScanner::new(plan.api);
    if plan.mode == Mode::SlowStreams {
        // Connect first, then start together, so that every stream is held at the same time.
        let connected = monoio::time::timeout(plan.timeout, client.connect()).await;
        if !matches!(connected, Ok(Ok(_))) {
            stats
                .borrow_mut()
                .record_error(|| "connect failed".to_owned());
            return client;
        }
        monoio::time::sleep(slow_start.saturating_duration_since(Instant::now())).await;
    }
    while plan.may_start() {
        let sent = Instant::now();
        let exchange = exchange(plan, &mut client, &mut outcome, &mut scanner, sent);
        let result = monoio::time::timeout(plan.timeout, exchange).await;
        let measured = sent >= plan.measure_from;
        match result {
            Ok(Ok(status)) => {
                let mut stats = stats.borrow_mut();
                stats.count_answer();
                if measured {
                    stats.record_response(status, sent.elapsed());
                    if status == 200 && plan.mode.streams() {
                        stats.record_stream(&outcome, plan);
                    }
                }
            }
            Ok(Err(error)) => {
                client.disconnect();
                stats.borrow_mut().record_error(|| error.to_string());
                monoio::time::sleep(ERROR_BACKOFF).await;
            }
            Err(_) => {
                client.disconnect();
                stats.borrow_mut().record_error(|| "timed out".to_owned());
            }
        }
        if plan.mode.once_per_connection() {
            break;
        }
    }
    client
}

/// One request and its whole response; stream events land in `outcome`. Returns the status.
async fn exchange(
    plan: &Plan,
    client: &mut Client,
    outcome: &mut StreamOutcome,
    scanner: &mut EventScanner,
    sent: Instant,
) -> io::Result<u16> {
    client.send(plan.request).await?;
    let head = client.read_head().await?;
    if !plan.mode.streams() || head.status != 200 {
        client.read_body(&head, |_, _| {}).await?;
        return Ok(head.status);
    }
    outcome.gaps.clear();
    *outcome = StreamOutcome {
        gaps: std::mem::take(&mut outcome.gaps),
        ..StreamOutcome::default()
    };
    scanner.clear();
    let mut last_event: Option<Instant> = None;
    client
        .read_body(&head, |bytes, arrived| {
            scanner.feed(bytes, |kind| {
                match kind {
                    EventKind::Other => return,
                    EventKind::Data => {}
                    EventKind::Done => outcome.done = true,
                    EventKind::Error => outcome.error_event = true,
                }
                outcome.events += 1;
                match last_event {
                    None => outcome.ttft = Some(arrived - sent),
                    Some(previous) => outcome.gaps.push(arrived - previous),
                }
                last_event = Some(arrived);
            });
        })
        .await?;
    Ok(head.status)
}
