//! The gateway's own endpoints: liveness, readiness, metrics (none of them logged: probes
//! and scrapes would flood the log) and the model list (logged like any request).

use std::sync::atomic::Ordering;

use bytes::Bytes;
use monoio::net::TcpStream;

use std::time::SystemTime;

use gpt_api_common::limits::LimitKind;

use super::access::{self, ClientIdentity};
use super::exchange::{new_request_id, Exchange};
use crate::config::Config;
use crate::context::{Generation, WorkerContext};
use crate::error::AppError;
use crate::http::fields::Fields;
use crate::http::response::{self, ResponseHead};
use crate::json::push_json_string;
use crate::limits;
use crate::limits::fleet::FleetMode;
use crate::metrics::KeyFigures;

pub async fn health(client: &mut TcpStream, keep_alive: bool) -> bool {
    let body = Bytes::from_static(b"{\"status\":\"ok\"}");
    unlogged(client, keep_alive, 200, "application/json", body).await
}

/// Ready to serve: workers listening, not shutting down, and the log keeping records. The
/// database's state is a detail of the body, since a gateway that spills loses nothing
/// (README, "Operations").
pub async fn ready(context: &WorkerContext, client: &mut TcpStream, keep_alive: bool) -> bool {
    let shared = &context.shared;
    let figures = (shared.log_figures)();
    let listening = shared.workers_listening.load(Ordering::Relaxed) == shared.metrics.len();
    let ready = listening && figures.healthy && !context.is_shutting_down();
    let database = if figures.database_connected {
        "connected"
    } else {
        "unreachable"
    };
    // Fleet mode's state is a detail too: with Redis away limits hold locally.
    let body = format!(
        "{{\"ready\":{ready},\"workers_listening\":{listening},\"log_writer\":{},\
         \"database\":\"{database}\",\"spilling\":{},\"spilled_rows\":{},\
         \"limits_fleet\":\"{}\"}}",
        figures.healthy,
        figures.spilled > 0,
        figures.spilled,
        shared.fleet.mode().name()
    );
    let status = if ready { 200 } else { 503 };
    unlogged(client, keep_alive, status, "application/json", body.into()).await
}

pub async fn metrics(context: &WorkerContext, client: &mut TcpStream, keep_alive: bool) -> bool {
    let shared = &context.shared;
    let mut text = crate::metrics::render(
        &shared.metrics,
        &shared.request_counters(),
        &(shared.log_figures)(),
    );
    let fleet = match shared.fleet.mode() {
        FleetMode::Off => None,
        mode => Some(mode == FleetMode::Shared),
    };
    crate::metrics::render_keys(&mut text, &key_figures(context), fleet);
    let content_type = "text/plain; version=0.0.4";
    unlogged(client, keep_alive, 200, content_type, text.into()).await
}

/// The figures of every key the current config has.
fn key_figures(context: &WorkerContext) -> Vec<KeyFigures> {
    let generation = context.generation();
    let now = SystemTime::now();
    let keys = generation.config.client_keys.iter();
    keys.zip(&generation.ledgers)
        .map(|(key, ledger)| {
            let period = limits::spend_period(key);
            let (number, _, _) = period.bounds(now);
            let (spend_usd, spend_tokens) = ledger.spend.spent(number);
            KeyFigures {
                name: key.name.clone(),
                refused: LimitKind::ALL
                    .iter()
                    .map(|kind| (kind.name(), ledger.refusals(*kind)))
                    .collect(),
                spend_usd,
                spend_tokens,
                period: period.name(),
            }
        })
        .collect()
}

/// `GET /v1/usage`: the calling key's limits, what remains of them now, and its spend in
/// the current period (not counted against its limits).
pub async fn usage(
    mut exchange: Exchange<'_>,
    generation: &Generation,
    client: &mut TcpStream,
    fields: &Fields,
) -> bool {
    let identity = match access::identify(&generation.config, fields) {
        Ok(identity) => identity,
        Err(error) => return exchange.fail(client, error).await,
    };
    let ClientIdentity::Key { index, key } = identity else {
        // An open gateway has no keys, so nothing is counted per key.
        let error = AppError::NotFound("/v1/usage (no [[client_key]] configured)".into());
        return exchange.fail(client, error).await;
    };
    exchange.set_client_key(Some(&key.name));
    let ledger = &generation.ledgers[index];
    let now = SystemTime::now();
    exchange.set_limit_headers(limits::rate_headers(key, ledger, now));
    let body = limits::usage_view(key, ledger, now);
    exchange.answer(client, Bytes::from(body)).await
}

/// `GET /v1/models`: the configured model names this key may use, in OpenAI's list format.
pub async fn models(
    mut exchange: Exchange<'_>,
    config: &Config,
    client: &mut TcpStream,
    fields: &Fields,
) -> bool {
    let identity = match access::identify(config, fields) {
        Ok(identity) => identity,
        Err(error) => return exchange.fail(client, error).await,
    };
    exchange.set_client_key(identity.name());
    let mut body = String::from("{\"object\":\"list\",\"data\":[");
    let visible = config.models.iter().filter(|m| identity.may_use(&m.name));
    for (i, model) in visible.enumerate() {
        if i > 0 {
            body.push(',');
        }
        push_model_object(&mut body, &model.name);
    }
    body.push_str("]}");
    exchange.answer(client, Bytes::from(body)).await
}

/// `GET /v1/models/{id}`: one model this key may use; any other is 404 `model_not_found`.
pub async fn model(
    mut exchange: Exchange<'_>,
    config: &Config,
    client: &mut TcpStream,
    fields: &Fields,
    id: &str,
) -> bool {
    let identity = match access::identify(config, fields) {
        Ok(identity) => identity,
        Err(error) => return exchange.fail(client, error).await,
    };
    exchange.set_client_key(identity.name());
    exchange.set_model(id);
    if config.model_id(id).is_none() || !identity.may_use(id) {
        let error = AppError::ModelNotFound(id.to_string());
        return exchange.fail(client, error).await;
    }
    let mut body = String::new();
    push_model_object(&mut body, id);
    exchange.answer(client, Bytes::from(body)).await
}

/// One entry of OpenAI's model list.
fn push_model_object(out: &mut String, name: &str) {
    out.push_str("{\"id\":");
    push_json_string(out, name);
    out.push_str(",\"object\":\"model\",\"created\":0,\"owned_by\":\"gpt-api\"}");
}

pub(super) async fn unlogged(
    client: &mut TcpStream,
    keep_alive: bool,
    status: u16,
    content_type: &str,
    body: Bytes,
) -> bool {
    let id = new_request_id();
    let head = ResponseHead {
        status,
        content_type,
        request_id: &id,
        keep_alive,
        extra: &[],
    };
    response::write_full(client, &head, body).await.is_ok() && keep_alive
}
