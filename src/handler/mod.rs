//! Request handlers: the local endpoints (health, readiness, metrics, models), and the
//! proxied ones, non-streaming (`forward`) and SSE pass-through (`stream`).

mod access;
mod body;
pub mod exchange;
mod forward;
mod recovery;
mod sse;
mod stream;

use std::sync::atomic::Ordering;

use bytes::Bytes;

use self::access::ClientIdentity;
use self::exchange::Exchange;
use crate::error::AppError;
use crate::http::request::{ClientConnection, Request};
use crate::http::response::{self, ResponseHead};
use crate::http::router::{self, Route};
use crate::server::worker::Worker;

/// Handles one request; returns whether the connection can carry another.
pub async fn handle(worker: &Worker, connection: &mut ClientConnection, request: Request) -> bool {
    let route = router::route(&request.method, &request.path);
    let keep_alive = request.keep_alive && !worker.is_shutting_down();
    match route {
        Route::Health => {
            local(
                connection,
                keep_alive,
                200,
                "application/json",
                Bytes::from_static(b"{\"status\":\"ok\"}"),
            )
            .await
        }
        Route::Ready => {
            // Ready to serve: the database's state is a detail, since a gateway that spills
            // loses nothing (README, "Operations").
            let figures = (worker.shared.log_figures)();
            let listening = worker.shared.workers_listening.load(Ordering::Relaxed)
                == worker.shared.metrics.len();
            let ready = listening && figures.healthy && !worker.is_shutting_down();
            let database = if figures.database_connected {
                "connected"
            } else {
                "unreachable"
            };
            let body = format!(
                "{{\"ready\":{ready},\"workers_listening\":{listening},\"log_writer\":{},\
                 \"database\":\"{database}\",\"spilling\":{},\"spilled_rows\":{}}}",
                figures.healthy,
                figures.spilled > 0,
                figures.spilled
            );
            local(
                connection,
                keep_alive,
                if ready { 200 } else { 503 },
                "application/json",
                Bytes::from(body),
            )
            .await
        }
        Route::Metrics => {
            let text = crate::metrics::render(
                &worker.shared.metrics,
                &worker.shared.request_counters(),
                &(worker.shared.log_figures)(),
            );
            local(
                connection,
                keep_alive,
                200,
                "text/plain; version=0.0.4",
                Bytes::from(text),
            )
            .await
        }
        Route::Models => {
            let mut exchange =
                Exchange::new(worker, &request.path, request.received_at, keep_alive);
            let routes = exchange.routes.clone();
            match access::identify(&routes.config, &request.headers) {
                Ok(identity) => {
                    exchange.record.client_key = identity.name().map(str::to_string);
                    models_list(worker, connection, exchange, &identity).await
                }
                Err(error) => exchange.fail(worker, connection, error).await,
            }
        }
        Route::Proxy(endpoint) => {
            forward::proxy(worker, connection, request, endpoint, keep_alive).await
        }
        Route::MethodNotAllowed => {
            Exchange::new(worker, &request.path, request.received_at, keep_alive)
                .fail(worker, connection, AppError::MethodNotAllowed)
                .await
        }
        Route::NotFound => {
            let error = AppError::NotFound(request.path.clone());
            Exchange::new(worker, &request.path, request.received_at, keep_alive)
                .fail(worker, connection, error)
                .await
        }
    }
}

/// A response from the gateway itself, not logged (health checks and scrapes would flood the log).
async fn local(
    connection: &mut ClientConnection,
    keep_alive: bool,
    status: u16,
    content_type: &str,
    body: Bytes,
) -> bool {
    let id = exchange::new_request_id();
    let head = ResponseHead {
        status,
        content_type,
        request_id: &id,
        keep_alive,
        extra: &[],
    };
    response::write_full(&mut connection.stream, &head, body)
        .await
        .is_ok()
        && keep_alive
}

/// `GET /v1/models`: the configured model names this key may use, in OpenAI's list format.
async fn models_list(
    worker: &Worker,
    connection: &mut ClientConnection,
    exchange: Exchange,
    identity: &ClientIdentity<'_>,
) -> bool {
    let mut body = String::from("{\"object\":\"list\",\"data\":[");
    let mut first = true;
    for model in exchange
        .routes
        .config
        .models
        .iter()
        .filter(|m| identity.may_use(&m.name))
    {
        if !first {
            body.push(',');
        }
        first = false;
        body.push_str("{\"id\":");
        crate::error::push_json_string(&mut body, &model.name);
        body.push_str(",\"object\":\"model\",\"created\":0,\"owned_by\":\"gpt-api\"}");
    }
    body.push_str("]}");
    let head = ResponseHead {
        status: 200,
        content_type: "application/json",
        request_id: exchange.id(),
        keep_alive: exchange.keep_alive,
        extra: &[],
    };
    let written = response::write_full(&mut connection.stream, &head, Bytes::from(body))
        .await
        .is_ok();
    let keep_alive = exchange.keep_alive;
    exchange.finish(worker, 200);
    written && keep_alive
}
