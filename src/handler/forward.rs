//! Proxied endpoints: check the key, read the body, then forward it through the attempt
//! plan. Non-streaming responses are read whole and passed on unchanged; streams go to
//! `stream`.

use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;

use super::access;
use super::body::RequestBody;
use super::exchange::Exchange;
use super::stream;
use crate::config::ModelId;
use crate::dispatch::{classify_send_error, classify_status, AttemptTarget, Failure, FailureKind};
use crate::error::AppError;
use crate::http::request::{ClientConnection, Request};
use crate::http::response::{self, ResponseHead};
use crate::http::router::Endpoint;
use crate::server::worker::Worker;
use crate::upstream::{BodyError, UpstreamClient, UpstreamRequest, UpstreamResponse};

/// A checked request, ready to be sent upstream.
pub struct Prepared {
    pub body: RequestBody,
    pub model: ModelId,
    pub endpoint: Endpoint,
}

pub async fn proxy(
    worker: &Worker,
    connection: &mut ClientConnection,
    request: Request,
    endpoint: Endpoint,
    keep_alive: bool,
) -> bool {
    let mut exchange = Exchange::new(worker, endpoint.path(), request.received_at, keep_alive);
    if exchange.routes.config.database.store_content {
        exchange.record.request_body = Some(request.body.clone());
    }
    match prepare(&request, endpoint, &mut exchange) {
        Ok(prepared) if prepared.body.stream && endpoint.can_stream() => {
            stream::relay(worker, connection, prepared, exchange).await
        }
        Ok(prepared) => forward(worker, connection, prepared, exchange).await,
        Err(error) => exchange.fail(worker, connection, error).await,
    }
}

fn prepare(
    request: &Request,
    endpoint: Endpoint,
    exchange: &mut Exchange,
) -> Result<Prepared, AppError> {
    let routes = exchange.routes.clone();
    let identity = access::identify(&routes.config, &request.headers)?;
    exchange.record.client_key = identity.name().map(str::to_string);
    let body = RequestBody::parse(request.body.clone())?;
    exchange.record.model = Some(body.model.clone());
    exchange.record.stream = body.stream && endpoint.can_stream();
    let model = routes
        .config
        .model_id(&body.model)
        .ok_or_else(|| AppError::ModelNotFound(body.model.clone()))?;
    exchange.model_index = Some(model.0);
    if !identity.may_use(&body.model) {
        return Err(AppError::ModelNotAllowed(body.model.clone()));
    }
    Ok(Prepared {
        body,
        model,
        endpoint,
    })
}

/// An upstream answer to pass on as it is.
pub struct Delivered {
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
}

async fn forward(
    worker: &Worker,
    connection: &mut ClientConnection,
    prepared: Prepared,
    mut exchange: Exchange,
) -> bool {
    let routes = exchange.routes.clone();
    let mut plan = routes.dispatcher.plan(prepared.model);
    let outcome = plan
        .run(async |target| attempt(&routes.upstream, &prepared, target, exchange.id()).await)
        .await;
    exchange.record.tried = std::mem::take(&mut plan.tried);
    if let Some(target) = &plan.last_target {
        note_target(&mut exchange, target);
    }
    match outcome {
        Ok((delivered, _)) => deliver(worker, connection, exchange, delivered).await,
        Err(error) => exchange.fail(worker, connection, error).await,
    }
}

/// Passes a whole upstream answer on, unchanged, and logs it.
pub async fn deliver(
    worker: &Worker,
    connection: &mut ClientConnection,
    mut exchange: Exchange,
    delivered: Delivered,
) -> bool {
    let attempts = exchange.record.tried.len().to_string();
    let upstream = exchange.record.upstream.clone().unwrap_or_default();
    let head = ResponseHead {
        status: delivered.status,
        content_type: &delivered.content_type,
        request_id: exchange.id(),
        keep_alive: exchange.keep_alive,
        extra: &[
            ("x-gpt-api-attempts", &attempts),
            ("x-gpt-api-upstream", &upstream),
        ],
    };
    let written = response::write_full(&mut connection.stream, &head, delivered.body.clone())
        .await
        .is_ok();
    exchange.record.response_body = Some(delivered.body);
    exchange.record.cancelled = !written;
    let keep_alive = exchange.keep_alive;
    exchange.finish(worker, delivered.status);
    written && keep_alive
}

/// Records which target answered (or was tried last).
pub fn note_target(exchange: &mut Exchange, target: &AttemptTarget<'_>) {
    exchange.record.upstream = Some(target.upstream.name.clone());
    exchange.record.upstream_model = Some(target.target.upstream_model.clone());
    exchange.upstream_index = Some(target.target.upstream.0);
}

async fn attempt(
    upstream: &Rc<UpstreamClient>,
    prepared: &Prepared,
    target: &AttemptTarget<'_>,
    request_id: &str,
) -> Result<Delivered, Failure> {
    let request = UpstreamRequest {
        upstream: target.target.upstream,
        path: prepared.endpoint.upstream_path(),
        body: prepared.body.for_upstream(&target.target.upstream_model),
        request_id,
        stream: false,
    };
    let deadline = Instant::now() + target.upstream.timeout;
    let mut response = upstream
        .send(&request, deadline)
        .await
        .map_err(|e| classify_send_error(&e))?;
    read_whole(&mut response, deadline).await
}

/// Reads a whole upstream answer: a failure to fail over from, or an answer to pass on (a
/// success, or an error that is the client's own fault).
pub async fn read_whole(
    response: &mut UpstreamResponse,
    deadline: Instant,
) -> Result<Delivered, Failure> {
    let body = response
        .read_to_end(deadline)
        .await
        .map_err(|e| body_failure(&e))?;
    if let Some(failure) = classify_status(response.status, response.header("retry-after"), &body) {
        return Err(failure);
    }
    let content_type = response
        .header("content-type")
        .unwrap_or("application/json")
        .to_string();
    Ok(Delivered {
        status: response.status,
        content_type,
        body,
    })
}

/// A body that broke off: a reset is transient, a stall is a silent upstream.
pub fn body_failure(error: &BodyError) -> Failure {
    let kind = match error {
        BodyError::TimedOut => FailureKind::Silent,
        BodyError::Reset(_) | BodyError::Malformed => FailureKind::Transient { retry_after: None },
    };
    Failure {
        kind,
        message: error.to_string(),
    }
}
