//! Request handlers: the router's verdict turned into an answer. Local endpoints (health,
//! readiness, metrics, models) are answered here, admin queries by `admin`; proxied ones go through an `Exchange`,
//! which owns the request's record and attempt plan. Below it: `forward` (whole answers),
//! `stream` (SSE relay and recovery), and `body`, `access`, `prepared` for what they need.

mod access;
mod admin;
mod body;
mod console;
mod exchange;
mod forward;
mod local;
mod prepared;
mod stream;

use std::time::Instant;

use http::Method;
use monoio::net::TcpStream;

pub use self::exchange::refuse_unlogged;
use self::exchange::Exchange;
use crate::context::WorkerContext;
use crate::error::AppError;
use crate::http::request::Request;
use crate::http::router::{self, Route};

/// Handles one request; returns whether the connection can carry another.
/// `request` is borrowed: an async fn keeps an argument taken by value twice in its state.
pub async fn handle(context: &WorkerContext, client: &mut TcpStream, request: &Request) -> bool {
    let route = router::route(&request.method, request.path());
    let keep_alive = request.keep_alive && !context.is_shutting_down();
    let generation = context.generation();
    let exchange = |endpoint: &str| {
        Exchange::new(
            context,
            &generation,
            Some(&request.method),
            endpoint,
            request.received_at,
            keep_alive,
        )
    };
    match route {
        Route::Health => local::health(client, keep_alive).await,
        Route::Ready => local::ready(context, client, keep_alive).await,
        Route::Metrics => local::metrics(context, client, keep_alive).await,
        Route::Models => {
            let exchange = exchange(request.path());
            local::models(exchange, &generation.config, client, &request.fields).await
        }
        Route::Usage => {
            let exchange = exchange(request.path());
            local::usage(exchange, &generation, client, &request.fields).await
        }
        Route::Model => {
            let exchange = exchange(request.path());
            let id = router::model_id(request.path()).unwrap_or_default();
            local::model(exchange, &generation.config, client, &request.fields, id).await
        }
        Route::Proxy(endpoint) => {
            // The log names the path as called: Gemini's and Bedrock's hold the model.
            let path = match endpoint.routed_model(request.path()) {
                Some(_) => request.path(),
                None => endpoint.path(),
            };
            let exchange = exchange(path);
            exchange.proxy(client, request, endpoint).await
        }
        Route::Admin(route) => {
            let exchange = exchange(request.path());
            admin::admin(exchange, context, client, request, route).await
        }
        Route::Console => {
            // Like any unknown path unless an admin key turns the console on.
            if generation.config.admin_key.is_some() {
                if let Some(kept) = console::asset(client, keep_alive, request.path()).await {
                    return kept;
                }
            }
            let error = AppError::NotFound(request.path().to_string());
            exchange(request.path()).fail(client, error).await
        }
        Route::MethodNotAllowed => {
            let exchange = exchange(request.path());
            exchange.fail(client, AppError::MethodNotAllowed).await
        }
        Route::NotFound => {
            let error = AppError::NotFound(request.path().to_string());
            exchange(request.path()).fail(client, error).await
        }
    }
}

/// Answers a request that could not be read (bad framing, too large, too slow) and logs it,
/// with its method and path when its head was read.
pub async fn refuse(
    context: &WorkerContext,
    client: &mut TcpStream,
    error: AppError,
    method: Option<&Method>,
    path: &str,
) {
    let generation = context.generation();
    Exchange::new(context, &generation, method, path, Instant::now(), false)
        .fail(client, error)
        .await;
}
