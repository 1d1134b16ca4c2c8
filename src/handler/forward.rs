//! Whole answers: one attempt sends the body and reads the upstream's answer to its end,
//! then it is classified (a failure to fail over from, or an answer to pass on) and, from a
//! target of another dialect, translated.

use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;

use super::prepared::{Bridge, Prepared};
use crate::dispatch::{classify_body_error, classify_send_error, classify_status};
use crate::dispatch::{AttemptPlan, AttemptTarget, Failure};
use crate::error::AppError;
use crate::upstream::{UpstreamClient, UpstreamRequest, UpstreamResponse};

/// An upstream answer to pass on as it is.
pub struct Delivered {
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
}

/// Walks the plan until a target delivers a whole answer.
pub async fn whole_answer(
    plan: &mut AttemptPlan<'_>,
    upstream: &Rc<UpstreamClient>,
    prepared: &Prepared,
    request_id: &str,
) -> Result<Delivered, AppError> {
    plan.run(async |target| attempt(upstream, prepared, target, request_id).await)
        .await
        .map(|(delivered, _)| delivered)
}

async fn attempt(
    upstream: &Rc<UpstreamClient>,
    prepared: &Prepared,
    target: &AttemptTarget<'_>,
    request_id: &str,
) -> Result<Delivered, Failure> {
    let call = prepared.request_for(target);
    let request = UpstreamRequest {
        upstream: target.target.upstream,
        path: &call.path,
        body: call.body,
        request_id,
        stream: false,
        head_within: None,
    };
    let deadline = Instant::now() + target.upstream.timeout;
    let mut response = upstream
        .send(&request, deadline)
        .await
        .map_err(|e| classify_send_error(&e, target.model.routing.silent_after))?;
    let answer = read_whole(&mut response, deadline).await?;
    Ok(answer_for_client(prepared, target, answer))
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
        .map_err(|e| classify_body_error(&e))?;
    let retry_after = response.retry_after.as_deref();
    if let Some(failure) = classify_status(response.status, retry_after, &body) {
        return Err(failure);
    }
    let content_type = response
        .content_type
        .take()
        .unwrap_or_else(|| "application/json".to_string());
    Ok(Delivered {
        status: response.status,
        content_type,
        body,
    })
}

/// A whole answer from `target` in the client's dialect.
pub fn answer_for_client(
    prepared: &Prepared,
    target: &AttemptTarget<'_>,
    answer: Delivered,
) -> Delivered {
    if prepared.body_for(target).1 == Bridge::Same {
        return answer;
    }
    let from = prepared.upstream_dialect(target);
    let into = prepared.dialect;
    let translated = match (200..300).contains(&answer.status) {
        true => from.translate_answer(into, &answer.body, &prepared.body.model),
        false => Some(from.translate_error(into, answer.status, &answer.body)),
    };
    match translated {
        Some(body) => Delivered {
            status: answer.status,
            content_type: "application/json".into(),
            body: Bytes::from(body),
        },
        None => answer,
    }
}
