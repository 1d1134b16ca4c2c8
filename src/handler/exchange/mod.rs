//! One request from arrival to its log record. The `Exchange` owns the request's record and,
//! for proxied requests, its attempt plan; `forward`, `stream` and `recovery` return outcomes
//! to it. It is the only place where an `AppError` or a failure becomes response bytes
//! (status and body, or the in-band SSE error), where keep-alive is decided, and where the
//! plan's attempts move into the record, so the response, the access log and the row agree.

mod proxy;

use std::borrow::Cow;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::Method;
use monoio::net::TcpStream;

use super::forward::Delivered;
use crate::config::ClientKey;
use crate::context::{Generation, WorkerContext};
use crate::dialect::{anthropic, bedrock, cohere, gemini, Dialect, Framing};
use crate::dispatch::AttemptPlan;
use crate::error::AppError;
use crate::http::response::{self, ResponseHead};
use crate::json::push_json_string;
use crate::limits::ConcurrencySlot;
use crate::record::{RecordEvent, RequestRecord, StreamId};
use gpt_api_common::limits::KeyLedger;

pub struct Exchange<'g> {
    context: &'g WorkerContext,
    /// The config generation this request is served by, to its end.
    generation: &'g Generation,
    /// Boxed from the start: the exchange moves through several futures by value, and the
    /// record goes to the logging thread in this box.
    record: Box<RequestRecord>,
    received_at: Instant,
    keep_alive: bool,
    model_index: Option<usize>,
    plan: Option<AttemptPlan<'g>>,
    /// The client's dialect: the shape its errors take.
    dialect: Dialect,
    /// A limited key's `x-ratelimit-*` headers, on every response to it.
    limit_headers: Vec<(&'static str, String)>,
    /// Held against the key's `max_concurrent` until the exchange is over.
    _slot: Option<ConcurrencySlot>,
    /// The client key and its ledger once known: an error before admission still carries
    /// the key's `x-ratelimit-*` headers.
    limited_key: Option<(&'g ClientKey, &'g KeyLedger)>,
}

impl<'g> Exchange<'g> {
    pub fn new(
        context: &'g WorkerContext,
        generation: &'g Generation,
        method: Option<&Method>,
        endpoint: &str,
        received_at: Instant,
        keep_alive: bool,
    ) -> Self {
        // One clock reading for both: the id starts with it, and the console's time ranges
        // go by id and by created_at alike.
        let now = SystemTime::now();
        Self {
            context,
            generation,
            record: Box::new(RequestRecord {
                id: request_id_at(now),
                created_at: now,
                client_key: None,
                method: method.map_or(Cow::Borrowed(""), method_name),
                endpoint: endpoint.to_string(),
                model: None,
                upstream: None,
                upstream_model: None,
                stream: false,
                status: 0,
                attempts: Vec::new(),
                error: None,
                latency_ms: 0.0,
                ttft_ms: None,
                request_body: None,
                response_body: None,
                cancelled: false,
                usage_estimated: false,
                price: None,
                admission: None,
            }),
            received_at,
            keep_alive,
            model_index: None,
            plan: None,
            dialect: Dialect::Chat,
            limit_headers: Vec::new(),
            _slot: None,
            limited_key: None,
        }
    }

    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// Whether the connection may carry another request after this one's answer.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    pub fn set_model(&mut self, model: &str) {
        self.record.model = Some(model.to_string());
    }

    pub fn set_client_key(&mut self, name: Option<&str>) {
        self.record.client_key = name.map(str::to_string);
    }

    /// The plan the request was sent through: its attempts go into the record at the end.
    fn with_plan(mut self, plan: AttemptPlan<'g>) -> Self {
        self.plan = Some(plan);
        self
    }

    /// Answers with a gateway error and logs it; returns whether the connection stays open.
    pub async fn fail(mut self, client: &mut TcpStream, error: AppError) -> bool {
        let keep_alive = self.keep_alive && error.keep_alive();
        let message = error.message();
        if let (true, Some((key, ledger))) = (self.limit_headers.is_empty(), self.limited_key) {
            self.limit_headers = crate::limits::rate_headers(key, ledger, SystemTime::now());
        }
        let retry_after = error.retry_after().map(|seconds| seconds.to_string());
        let mut extra = self.limit_header_refs();
        if let Some(seconds) = &retry_after {
            extra.push(("retry-after", seconds));
        }
        // AWS SDKs read the error's kind from this header.
        if self.dialect == Dialect::Converse {
            let aws_type = match &error {
                AppError::InvalidSignature { aws_type, .. } => aws_type,
                _ => bedrock::error_type(error.status()),
            };
            extra.push(("x-amzn-errortype", aws_type));
        }
        let body = error_body(self.dialect, &error, &message);
        let status = error.status();
        let written = write_error(client, status, body, self.id(), keep_alive, &extra).await;
        self.record.error = Some(message);
        self.record.cancelled = !written;
        self.finish(error.status());
        keep_alive && written
    }

    /// Passes a whole upstream answer on, unchanged, and logs it.
    pub async fn deliver(mut self, client: &mut TcpStream, delivered: Delivered) -> bool {
        let (attempts, upstream) = match &self.plan {
            Some(plan) => (
                plan.attempts(),
                plan.named_target().map_or("", |t| &*t.upstream.name),
            ),
            None => (0, ""),
        };
        let errortype = (self.dialect == Dialect::Converse && delivered.status >= 400)
            .then(|| bedrock::error_type(delivered.status));
        let mut digits = itoa::Buffer::new();
        let answered = answered_headers(&mut digits, attempts, upstream);
        let extra = self.with_limit_headers(&answered, errortype);
        let head = ResponseHead {
            status: delivered.status,
            content_type: &delivered.content_type,
            request_id: self.id(),
            keep_alive: self.keep_alive,
            extra: &extra,
        };
        let written = response::write_full(client, &head, delivered.body.clone())
            .await
            .is_ok();
        self.record.response_body = Some(delivered.body);
        self.record.cancelled = !written;
        let keep_alive = self.keep_alive;
        self.finish(delivered.status);
        written && keep_alive
    }

    /// A 200 made by the gateway itself (e.g. the model list), logged like any request.
    pub async fn answer(mut self, client: &mut TcpStream, body: Bytes) -> bool {
        let extra = self.limit_header_refs();
        let head = ResponseHead {
            status: 200,
            content_type: "application/json",
            request_id: self.id(),
            keep_alive: self.keep_alive,
            extra: &extra,
        };
        let written = response::write_full(client, &head, body).await.is_ok();
        self.record.cancelled = !written;
        let keep_alive = self.keep_alive;
        self.finish(200);
        written && keep_alive
    }

    /// A limited key's `x-ratelimit-*` headers (set once the key is known).
    pub fn set_limit_headers(&mut self, headers: Vec<(&'static str, String)>) {
        self.limit_headers = headers;
    }

    /// `headers`, then the key's limits and (AWS clients) the error type: a copy only when
    /// there are more, as on some answers.
    fn with_limit_headers<'a>(
        &'a self,
        headers: &'a [(&'static str, &'a str)],
        errortype: Option<&'static str>,
    ) -> Cow<'a, [(&'static str, &'a str)]> {
        let mut more = self.limit_header_refs();
        more.extend(errortype.map(|errortype| ("x-amzn-errortype", errortype)));
        match more.is_empty() {
            true => Cow::Borrowed(headers),
            false => Cow::Owned([headers, &more].concat()),
        }
    }

    fn limit_header_refs(&self) -> Vec<(&'static str, &str)> {
        self.limit_headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect()
    }

    /// Stamps the outcome and hands the record to the logging thread.
    fn finish(mut self, status: u16) {
        self.stamp(status);
        self.context.records.send(RecordEvent::Request(self.record));
    }

    /// The same for a stream whose chunks went to the logging thread under `stream`.
    fn finish_stream(mut self, stream: StreamId) {
        self.stamp(200);
        let record = self.record;
        self.context
            .records
            .send(RecordEvent::StreamEnd { stream, record });
    }

    /// Moves the plan's attempts into the record (the one place that does) and counts the
    /// request in the metrics.
    fn stamp(&mut self, status: u16) {
        let mut upstream_index = None;
        if let Some(plan) = self.plan.take() {
            if let Some(target) = plan.named_target() {
                self.record.upstream = Some(target.upstream.name.clone());
                self.record.upstream_model = Some(target.target.upstream_model.clone());
                upstream_index = Some(target.target.upstream.0);
            }
            self.record.attempts = plan.timeline(self.received_at);
        }
        let elapsed = self.received_at.elapsed();
        self.record.status = status;
        self.record.latency_ms = elapsed.as_secs_f64() * 1000.0;
        let counters = &self.generation.counters;
        counters.count(self.model_index, upstream_index, status);
        let ttft = self
            .record
            .ttft_ms
            .map(|ms| Duration::from_secs_f64(ms / 1000.0));
        counters.time(self.model_index, upstream_index, elapsed, ttft);
        let metrics = &self.context.metrics;
        metrics.latency.observe(elapsed);
        if let Some(extra_attempts) = self.record.attempts.len().checked_sub(1) {
            metrics
                .failovers
                .fetch_add(extra_attempts as u64, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// What every proxied answer says of itself: how many attempts it took, and the upstream
/// that answered.
fn answered_headers<'a>(
    digits: &'a mut itoa::Buffer,
    attempts: usize,
    upstream: &'a str,
) -> [(&'static str, &'a str); 2] {
    [
        ("x-gpt-api-attempts", digits.format(attempts)),
        ("x-gpt-api-upstream", upstream),
    ]
}

/// An error response without a record: past the connection limit, where logging each
/// refusal would add work exactly when there is too much.
pub async fn refuse_unlogged(client: &mut TcpStream, error: AppError) {
    let body = error.body_with_message(&error.message());
    write_error(client, error.status(), body, &new_request_id(), false, &[]).await;
}

/// An error's body in the client's dialect: OpenAI's shape (Responses uses it too) or the
/// dialect's own.
fn error_body(dialect: Dialect, error: &AppError, message: &str) -> String {
    let status = error.status();
    match dialect {
        Dialect::Chat | Dialect::Responses => error.body_with_message(message),
        Dialect::Anthropic => anthropic::error_body(anthropic::error_type(status), message),
        Dialect::Gemini => gemini::error_body(status, message),
        Dialect::Converse => bedrock::error_body(status, message),
        Dialect::Cohere => cohere::error_body(status, message),
    }
}

/// The same as the last event of a stream whose 200 head already went out, in the
/// client's framing; `sent_any`: whether events went out before it (a JSON array opens
/// with its first element, and may have none yet when a translated stream breaks early).
fn error_event(
    dialect: Dialect,
    framing: Framing,
    error: &AppError,
    message: &str,
    sent_any: bool,
) -> Vec<u8> {
    let status = error.status();
    match dialect {
        Dialect::Chat => error.sse_event(message).into_bytes(),
        Dialect::Anthropic => {
            anthropic::error_event(anthropic::error_type(status), message).into_bytes()
        }
        Dialect::Responses => {
            let mut data = String::from(r#"{"type":"error","code":"#);
            push_json_string(&mut data, error.code());
            data.push_str(r#","message":"#);
            push_json_string(&mut data, message);
            data.push_str(r#","param":null,"sequence_number":0}"#);
            format!("event: error\ndata: {data}\n\n").into_bytes()
        }
        // The error object as the array's last element, and the array's end.
        Dialect::Gemini if framing == Framing::JsonArray => {
            let mut out = Vec::new();
            gemini::array_element(
                gemini::error_body(status, message).as_bytes(),
                !sent_any,
                &mut out,
            );
            gemini::array_close(false, &mut out);
            out
        }
        Dialect::Gemini => gemini::error_event(status, message),
        Dialect::Converse => bedrock::error_event(status, message),
        Dialect::Cohere => cohere::error_event(status, message),
    }
}

/// An error's status and body; whether it was written.
async fn write_error(
    client: &mut TcpStream,
    status: u16,
    body: String,
    request_id: &str,
    keep_alive: bool,
    extra: &[(&str, &str)],
) -> bool {
    let head = ResponseHead {
        status,
        content_type: "application/json",
        request_id,
        keep_alive,
        extra,
    };
    response::write_full(client, &head, Bytes::from(body))
        .await
        .is_ok()
}

/// The method as the access line shows it; the standard ones without an allocation.
fn method_name(method: &Method) -> Cow<'static, str> {
    let name = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => return Cow::Owned(method.as_str().to_string()),
    };
    Cow::Borrowed(name)
}

/// 128 bits as 32 hex digits: the time in microseconds, then 64 random bits. Unique without
/// coordination between workers, and nearly sorted, so the log's primary-key index grows at
/// its end instead of taking inserts at random places.
pub fn new_request_id() -> String {
    request_id_at(SystemTime::now())
}

fn request_id_at(now: SystemTime) -> String {
    let micros = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as u64);
    let mut id = Vec::with_capacity(32);
    id.extend_from_slice(&hex16(micros));
    id.extend_from_slice(&hex16(fastrand::u64(..)));
    String::from_utf8(id).expect("hex digits are ASCII")
}

/// `value` as 16 lower-case hex digits (what `{:016x}` writes, without core::fmt, and
/// without a `String::push` per digit).
fn hex16(value: u64) -> [u8; 16] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0; 16];
    for (index, digit) in out.iter_mut().enumerate() {
        *digit = DIGITS[(value >> ((15 - index) * 4)) as usize & 0xf];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FailureSummary;

    #[test]
    fn request_ids_are_the_time_and_a_random_number_in_fixed_width_hex() {
        for value in [0, 1, 0xabc, u64::MAX, 0x0123_4567_89ab_cdef] {
            assert_eq!(hex16(value), format!("{value:016x}").as_bytes());
        }
        let at = UNIX_EPOCH + Duration::from_micros(0x1234_5678);
        let id = request_id_at(at);
        assert_eq!(id.len(), 32);
        assert!(id.starts_with("0000000012345678"), "{id}");
    }

    fn interrupted() -> AppError {
        AppError::StreamInterrupted(FailureSummary {
            model: "m".into(),
            tried: vec!["a/m".into()],
            last_error: "reset".into(),
            last_was_timeout: false,
        })
    }

    /// A JSON-array client's whole body parses whether or not elements came before the error.
    #[test]
    fn a_json_array_ends_as_valid_json_with_the_error_last() {
        use simd_json::prelude::*;
        let error = interrupted();
        let element = br#"{"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}"#;
        for sent_any in [false, true] {
            let before: Vec<u8> = match sent_any {
                true => [&b"["[..], element].concat(),
                false => Vec::new(),
            };
            let event = error_event(
                Dialect::Gemini,
                Framing::JsonArray,
                &error,
                &error.message(),
                sent_any,
            );
            let mut body = [before, event].concat();
            let text = String::from_utf8_lossy(&body).into_owned();
            let parsed: simd_json::OwnedValue =
                simd_json::from_slice(&mut body).unwrap_or_else(|e| panic!("{e}: {text}"));
            let elements = parsed.as_array().expect("an array");
            assert_eq!(elements.len(), 1 + usize::from(sent_any), "{text}");
            let last = &elements[elements.len() - 1];
            assert!(last["error"]["message"]
                .as_str()
                .is_some_and(|message| message.contains("Tried: [\"a/m\"]")));
        }
    }
}
