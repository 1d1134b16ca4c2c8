//! `AppError`: every error the gateway itself generates. Status, OpenAI-style JSON body and
//! log text all come from the same value, so the client, the access log and the database agree.

use std::fmt::Write as _;
use std::sync::Arc;

use gpt_api_common::limits::LimitKind;

use crate::json::{json_string_array, push_json_string};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppError {
    InvalidJson(String),
    /// No body, or only whitespace (same code as `InvalidJson`, its own message).
    EmptyBody,
    MissingModel,
    ModelNotFound(String),
    BodyTooLarge {
        limit: usize,
    },
    InvalidApiKey,
    /// A Bedrock client's SigV4 signature that does not verify: AWS's status, error type
    /// and message for it.
    InvalidSignature {
        status: u16,
        aws_type: &'static str,
        message: String,
    },
    /// `/admin/...` without the `[admin]` key.
    InvalidAdminKey,
    /// A query-string parameter that is unknown or has a bad value.
    InvalidParameter(String),
    /// The log database could not answer an admin query.
    AdminUnavailable(String),
    ModelNotAllowed(String),
    NotFound(String),
    MethodNotAllowed,
    /// The HTTP framing of the request is broken (bad head, bad chunking, smuggling attempts).
    BadRequest(String),
    /// The request head is longer than `server.max_header_bytes`.
    HeadersTooLarge {
        limit: usize,
    },
    /// The request head has more header fields than `server.max_headers`.
    TooManyHeaders {
        limit: usize,
    },
    RequestTimeout,
    Overloaded,
    /// No target of the model (or its fallbacks) can take this request: the message says
    /// why (the endpoint, or a field that has no counterpart in the targets' API).
    Unservable(String),
    /// A client key over its `rpm`, `tpm` or `max_concurrent` (`limit`).
    RateLimited {
        key: String,
        kind: LimitKind,
        limit: u64,
        /// Seconds until the window has room again.
        retry_after: u64,
    },
    /// A client key that spent its budget (`budget`: "100 USD per day").
    BudgetExhausted {
        key: String,
        budget: String,
        retry_after: u64,
    },
    /// Every target of the model and its fallbacks failed.
    AllUpstreamsFailed(FailureSummary),
    /// A stream broke after bytes reached the client and could not be continued.
    StreamInterrupted(FailureSummary),
}

/// What the dispatcher tried, for the exhaustion messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureSummary {
    pub model: String,
    /// `upstream/upstream-model`, one per attempt.
    pub tried: Vec<Arc<str>>,
    pub last_error: String,
    pub last_was_timeout: bool,
}

impl FailureSummary {
    /// `["a/m", "b/m"]`: each entry JSON-quoted, joined by ", ".
    fn tried_list(&self) -> String {
        json_string_array(self.tried.iter().map(|target| &**target), ", ")
    }
}

impl AppError {
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidJson(_)
            | Self::EmptyBody
            | Self::MissingModel
            | Self::BadRequest(_)
            | Self::Unservable(_)
            | Self::InvalidParameter(_) => 400,
            Self::InvalidApiKey | Self::InvalidAdminKey => 401,
            Self::ModelNotAllowed(_) => 403,
            Self::InvalidSignature { status, .. } => *status,
            Self::ModelNotFound(_) | Self::NotFound(_) => 404,
            Self::MethodNotAllowed => 405,
            Self::RequestTimeout => 408,
            Self::BodyTooLarge { .. } => 413,
            Self::HeadersTooLarge { .. } | Self::TooManyHeaders { .. } => 431,
            Self::RateLimited { .. } | Self::BudgetExhausted { .. } => 429,
            Self::Overloaded | Self::AdminUnavailable(_) => 503,
            Self::AllUpstreamsFailed(summary) | Self::StreamInterrupted(summary) => {
                if summary.last_was_timeout {
                    504
                } else {
                    502
                }
            }
        }
    }

    /// Whether the connection can carry another request after this error: not after broken
    /// framing, a body left unread, a head that never completed, or at the connection limit.
    pub fn keep_alive(&self) -> bool {
        !matches!(
            self,
            Self::BadRequest(_)
                | Self::BodyTooLarge { .. }
                | Self::HeadersTooLarge { .. }
                | Self::TooManyHeaders { .. }
                | Self::RequestTimeout
                | Self::Overloaded
        )
    }

    /// The `retry-after` header's seconds, for refusals that have one.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::BudgetExhausted { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }

    /// OpenAI's `error.type`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::ModelNotAllowed(_) => "permission_error",
            Self::AllUpstreamsFailed(_) | Self::StreamInterrupted(_) => "upstream_error",
            Self::Overloaded | Self::AdminUnavailable(_) => "service_unavailable",
            Self::RateLimited {
                kind: LimitKind::Tokens,
                ..
            } => "tokens",
            Self::RateLimited { .. } => "requests",
            Self::BudgetExhausted { .. } => "insufficient_quota",
            _ => "invalid_request_error",
        }
    }

    /// OpenAI's `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) | Self::EmptyBody => "invalid_json",
            Self::MissingModel => "missing_model",
            Self::ModelNotFound(_) => "model_not_found",
            Self::BodyTooLarge { .. } => "request_too_large",
            Self::InvalidApiKey | Self::InvalidAdminKey => "invalid_api_key",
            Self::InvalidSignature { .. } => "invalid_signature",
            Self::InvalidParameter(_) => "invalid_parameter",
            Self::AdminUnavailable(_) => "database_unavailable",
            Self::ModelNotAllowed(_) => "model_not_allowed",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::BadRequest(_) => "bad_request",
            Self::Unservable(_) => "unsupported_request",
            Self::HeadersTooLarge { .. } | Self::TooManyHeaders { .. } => "headers_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::Overloaded => "overloaded",
            Self::RateLimited { .. } => "rate_limit_exceeded",
            Self::BudgetExhausted { .. } => "insufficient_quota",
            Self::AllUpstreamsFailed(_) => "all_upstreams_failed",
            Self::StreamInterrupted(_) => "stream_interrupted",
        }
    }

    /// The message: the same text goes to the client, the access log and the database.
    pub fn message(&self) -> String {
        match self {
            Self::InvalidJson(detail) => format!("The request body is not valid JSON: {detail}"),
            Self::EmptyBody => "The request body is empty; expected a JSON object".into(),
            Self::MissingModel => "The request body must be a JSON object with a string field 'model'".into(),
            Self::ModelNotFound(model) => format!("The model '{model}' does not exist"),
            Self::BodyTooLarge { limit } => format!("The request body is larger than the limit of {limit} bytes"),
            Self::InvalidApiKey => "Invalid or missing API key; send it as 'Authorization: Bearer <key>' (or 'x-api-key: <key>')".into(),
            Self::InvalidSignature { message, .. } => message.clone(),
            Self::InvalidAdminKey => "Invalid or missing admin key; send it as 'Authorization: Bearer <admin key>'".into(),
            Self::InvalidParameter(detail) => format!("Invalid query parameter: {detail}"),
            Self::AdminUnavailable(detail) => format!("The log database cannot answer now: {detail}"),
            Self::ModelNotAllowed(model) => format!("This API key may not use the model '{model}'"),
            Self::NotFound(path) => format!("Unknown path '{path}'"),
            Self::MethodNotAllowed => "Method not allowed for this path".into(),
            Self::BadRequest(detail) => format!("Malformed HTTP request: {detail}"),
            Self::Unservable(detail) => detail.clone(),
            Self::HeadersTooLarge { limit } => format!("The request headers are larger than the limit of {limit} bytes"),
            Self::TooManyHeaders { limit } => format!("The request has more header fields than the limit of {limit}"),
            Self::RequestTimeout => "The request was not received in time".into(),
            Self::Overloaded => "The gateway is at its connection limit; retry shortly".into(),
            Self::RateLimited { key, kind, limit, retry_after } => {
                let what = match kind {
                    LimitKind::Tokens => "tokens per minute",
                    LimitKind::Concurrent => "concurrent requests",
                    _ => "requests per minute",
                };
                format!("Rate limit reached for key '{key}' on {what}: limit {limit}. Retry after {retry_after}s.")
            }
            Self::BudgetExhausted { key, budget, retry_after } => format!(
                "Budget exhausted for key '{key}': {budget}. Retry after {retry_after}s."
            ),
            Self::AllUpstreamsFailed(s) => format!(
                "All upstreams failed for model '{}'. Tried: {}. Last error: {}",
                s.model,
                s.tried_list(),
                s.last_error
            ),
            Self::StreamInterrupted(s) => format!(
                "The stream for model '{}' was interrupted and could not be continued. Tried: {}. Last error: {}",
                s.model,
                s.tried_list(),
                s.last_error
            ),
        }
    }

    /// `{"error":{"message":…,"type":…,"code":…}}`, with `message` already computed.
    pub fn body_with_message(&self, message: &str) -> String {
        let mut body = String::with_capacity(message.len() + 96);
        body.push_str("{\"error\":{\"message\":");
        push_json_string(&mut body, message);
        let _ = write!(
            body,
            ",\"type\":\"{}\",\"code\":\"{}\"}}}}",
            self.error_type(),
            self.code()
        );
        body
    }

    /// The same body as one SSE event, for a stream whose 200 head already went out.
    pub fn sse_event(&self, message: &str) -> String {
        format!("data: {}\n\n", self.body_with_message(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhaustion_message_matches_the_contract() {
        let error = AppError::AllUpstreamsFailed(FailureSummary {
            model: "gpt-4o-mini".into(),
            tried: vec!["primary/gpt-4o-mini".into(), "backup-up/backup".into()],
            last_error: "upstream returned 503".into(),
            last_was_timeout: false,
        });
        assert_eq!(
            error.message(),
            "All upstreams failed for model 'gpt-4o-mini'. Tried: [\"primary/gpt-4o-mini\", \"backup-up/backup\"]. Last error: upstream returned 503"
        );
        assert_eq!(error.status(), 502);
        let body = error.body_with_message(&error.message());
        let parsed: simd_json::OwnedValue = simd_json::from_slice(&mut body.into_bytes()).unwrap();
        use simd_json::prelude::*;
        assert_eq!(
            parsed["error"]["code"].as_str(),
            Some("all_upstreams_failed")
        );
        assert_eq!(parsed["error"]["type"].as_str(), Some("upstream_error"));
        assert!(parsed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Tried: [\"primary/gpt-4o-mini\""));
    }

    #[test]
    fn timeout_exhaustion_is_504() {
        let error = AppError::AllUpstreamsFailed(FailureSummary {
            model: "m".into(),
            tried: vec![],
            last_error: "timed out waiting for response".into(),
            last_was_timeout: true,
        });
        assert_eq!(error.status(), 504);
    }
}
