//! The admin endpoints (`/admin/...`): present only when `[admin] key_env` is configured
//! (otherwise 404, as for any unknown path), behind `Authorization: Bearer <admin key>`.
//! Each is a query to the logging thread's database (`gpt_api_common::admin`), awaited here
//! without blocking the worker; logged like any request, except the console's reads
//! (`/admin/now`, answered from the workers' counters, and `/admin/requests…`, whose
//! parameters `requests` reads): refusals of those are logged, answers are not.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use monoio::net::TcpStream;

mod requests;

use super::access;
use super::console;
use super::exchange::Exchange;
use super::local::unlogged;
use crate::admin::{AdminFailure, AdminQuery, UsageGroup, UsageQuery};
use crate::context::WorkerContext;
use crate::error::AppError;
use crate::http::query;
use crate::http::request::Request;
use crate::http::router::AdminRoute;
use gpt_api_common::limits::KeyLedger;

/// How long a worker waits for an answer (the database thread gives up after 10 s itself).
const ANSWER_WAIT: Duration = Duration::from_secs(15);

pub async fn admin(
    exchange: Exchange<'_>,
    context: &WorkerContext,
    client: &mut TcpStream,
    request: &Request,
    route: AdminRoute,
) -> bool {
    let generation = context.generation();
    let Some(admin_key) = &generation.config.admin_key else {
        return exchange
            .fail(client, AppError::NotFound(request.path().to_string()))
            .await;
    };
    if !access::is_admin(admin_key, &request.fields) {
        return exchange.fail(client, AppError::InvalidAdminKey).await;
    }
    let query = match route {
        AdminRoute::Usage => usage_query(request.query()),
        AdminRoute::Now => {
            let keep_alive = exchange.keep_alive();
            return console::now(&context.shared, client, keep_alive).await;
        }
        AdminRoute::Keys => {
            // From the shared ledgers, like `/v1/usage`: no database involved.
            let body = keys_view(&generation.config, &generation.ledgers);
            return exchange.answer(client, Bytes::from(body)).await;
        }
        AdminRoute::Requests => requests::page_query(request.query()),
        AdminRoute::Request => requests::detail_query(request.path()),
        AdminRoute::Unknown => Err(AppError::NotFound(request.path().to_string())),
    };
    // The console's reads are not logged: an open console would fill the log it shows.
    let logged = !matches!(route, AdminRoute::Requests | AdminRoute::Request);
    let query = match query {
        Ok(query) => query,
        Err(error) => return exchange.fail(client, error).await,
    };
    let answer = context.shared.admin.ask(query);
    let error = match monoio::time::timeout(ANSWER_WAIT, answer).await {
        Ok(Ok(Ok(body))) if logged => return exchange.answer(client, Bytes::from(body)).await,
        Ok(Ok(Ok(body))) => {
            let keep_alive = exchange.keep_alive();
            return unlogged(client, keep_alive, 200, "application/json", body.into()).await;
        }
        Ok(Ok(Err(AdminFailure::NotFound(what)))) => AppError::NotFound(what),
        Ok(Ok(Err(AdminFailure::Unavailable(why)))) => AppError::AdminUnavailable(why),
        Ok(Err(_)) => AppError::AdminUnavailable("the logging thread is gone".into()),
        Err(_) => {
            AppError::AdminUnavailable(format!("no answer within {} s", ANSWER_WAIT.as_secs()))
        }
    };
    exchange.fail(client, error).await
}

/// Every client key's `/v1/usage` view, as a list.
fn keys_view(config: &crate::config::Config, ledgers: &[Arc<KeyLedger>]) -> String {
    let now = std::time::SystemTime::now();
    let views: Vec<String> = config
        .client_keys
        .iter()
        .zip(ledgers)
        .map(|(key, ledger)| crate::limits::usage_view(key, ledger, now))
        .collect();
    format!("{{\"object\":\"list\",\"data\":[{}]}}", views.join(","))
}

/// `group_by=key|model|upstream` (default `key`), `since` and `until` (RFC 3339, a date or
/// Unix seconds; each optional, `since` inclusive, `until` exclusive).
fn usage_query(text: &str) -> Result<AdminQuery, AppError> {
    let pairs =
        query::pairs(text).ok_or_else(|| AppError::InvalidParameter("a broken %-escape".into()))?;
    let mut usage = UsageQuery {
        group_by: UsageGroup::Key,
        since: None,
        until: None,
    };
    for (name, value) in pairs {
        match name.as_str() {
            "group_by" => {
                usage.group_by = UsageGroup::parse(&value).ok_or_else(|| {
                    AppError::InvalidParameter(format!(
                        "group_by must be key, model or upstream, not '{value}'"
                    ))
                })?;
            }
            "since" => usage.since = Some(timestamp(&name, &value)?),
            "until" => usage.until = Some(timestamp(&name, &value)?),
            _ => {
                return Err(AppError::InvalidParameter(format!(
                    "unknown parameter '{name}' (expected group_by, since, until)"
                )))
            }
        }
    }
    Ok(AdminQuery::Usage(usage))
}

fn timestamp(name: &str, value: &str) -> Result<std::time::SystemTime, AppError> {
    crate::time::parse_timestamp(value).ok_or_else(|| {
        AppError::InvalidParameter(format!(
            "{name} must be an RFC 3339 time (2026-12-02T00:00:00Z), a date or Unix seconds, \
             not '{value}'"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_parameters() {
        let Ok(AdminQuery::Usage(usage)) = usage_query("group_by=model&since=2026-12-01") else {
            panic!("valid query refused");
        };
        assert_eq!(usage.group_by, UsageGroup::Model);
        assert_eq!(usage.since, crate::time::parse_timestamp("2026-12-01"));
        assert_eq!(usage.until, None);
        for bad in ["group_by=team", "since=yesterday", "limit=5"] {
            let error = usage_query(bad).expect_err(bad);
            assert_eq!(error.code(), "invalid_parameter", "{bad}");
        }
    }
}
