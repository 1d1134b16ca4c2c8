//! The console: its embedded page and assets (`GET /console…`), and the live figures of
//! `GET /admin/now` (rates, error rates and percentiles sampled from the workers' counters,
//! breaker states, connections, the log's queue and spill state), answered on the worker
//! from shared atomics without the database. Neither is logged: an open console polls
//! every two seconds, and its own traffic would bury the requests it is there to show.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::Bytes;
use monoio::net::TcpStream;

use super::local::unlogged;
use crate::context::SharedState;
use crate::json::push_json_string;
use crate::metrics::{BreakerState, SAMPLE_EVERY};

/// `GET /console` and its assets, or `None` for a path that is none of them.
pub async fn asset(client: &mut TcpStream, keep_alive: bool, path: &str) -> Option<bool> {
    let (content_type, bytes) = crate::console::asset(path)?;
    Some(
        unlogged(
            client,
            keep_alive,
            200,
            content_type,
            Bytes::from_static(bytes),
        )
        .await,
    )
}

/// `GET /admin/now` (the caller has checked the admin key).
pub async fn now(shared: &Arc<SharedState>, client: &mut TcpStream, keep_alive: bool) -> bool {
    shared.watch_live_figures();
    let body = now_body(shared);
    unlogged(client, keep_alive, 200, "application/json", body.into()).await
}

fn now_body(shared: &SharedState) -> String {
    let mut out = String::with_capacity(4096);
    let _ = write!(out, "{{\"sampled_every_s\":{},", SAMPLE_EVERY.as_secs());
    shared.live.render(&mut out);
    let connections: u64 = shared
        .metrics
        .iter()
        .map(|worker| worker.open_connections.load(Relaxed))
        .sum();
    let log = (shared.log_figures)();
    let database = if log.database_connected {
        "connected"
    } else {
        "unreachable"
    };
    let _ = write!(
        out,
        ",\"open_connections\":{connections},\"log\":{{\"queue_depth\":{},\"buffered_rows\":{},\
         \"spilling\":{},\"spilled_rows\":{},\"written_rows\":{},\"database\":\"{database}\",\
         \"keeping_records\":{}}},\"breakers\":",
        log.queue_depth,
        log.buffered,
        log.spilled > 0,
        log.spilled,
        log.written,
        log.healthy,
    );
    push_breakers(&mut out, shared);
    out.push('}');
    out
}

/// Each target of the current config: its state on the workers that serve that config
/// (`open` if any worker has it open, else `half_open` if any is probing, else `closed`).
fn push_breakers(out: &mut String, shared: &SharedState) {
    let config = shared.current().config.clone();
    let workers: Vec<_> = shared
        .request_counters()
        .into_iter()
        .filter(|counters| Arc::ptr_eq(counters.config(), &config))
        .collect();
    out.push('[');
    let mut target_number = 0;
    for model in &config.models {
        for target in &model.targets {
            let states: Vec<BreakerState> =
                workers.iter().map(|w| w.breaker(target_number)).collect();
            let open = states.iter().filter(|s| **s == BreakerState::Open).count();
            let half_open = states
                .iter()
                .filter(|s| **s == BreakerState::HalfOpen)
                .count();
            let state = if open > 0 {
                BreakerState::Open
            } else if half_open > 0 {
                BreakerState::HalfOpen
            } else {
                BreakerState::Closed
            };
            if target_number > 0 {
                out.push(',');
            }
            out.push_str("{\"model\":");
            push_json_string(out, &model.name);
            out.push_str(",\"target\":");
            let label = format!(
                "{}/{}",
                config.upstream(target.upstream).name,
                target.upstream_model
            );
            push_json_string(out, &label);
            let _ = write!(
                out,
                ",\"state\":\"{}\",\"workers_open\":{open},\"workers_half_open\":{half_open},\
                 \"workers\":{}}}",
                state.name(),
                workers.len()
            );
            target_number += 1;
        }
    }
    out.push(']');
}
