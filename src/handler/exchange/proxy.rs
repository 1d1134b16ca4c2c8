//! The proxied endpoints' path through the exchange: check the key, read the body, then
//! send it through the attempt plan, as a whole answer or as a stream. A stream that breaks
//! after bytes reached the client is continued (`recovery`) or ended with the in-band error,
//! never closed as if complete.

use std::future::Future;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use bytes::Bytes;
use monoio::net::TcpStream;

use simd_json::prelude::*;

use super::{answered_headers, error_event, Exchange};
use crate::dialect::{Dialect, Framing};
use crate::dispatch::{AttemptPlan, AttemptTarget};
use crate::error::AppError;
use crate::handler::access::{self, ClientIdentity};
use crate::handler::body::RequestBody;
use crate::handler::forward::{answer_for_client, whole_answer};
use crate::handler::prepared::{client_dialect, Prepared};
use crate::handler::stream::{
    self, ClientSink, EventFilter, OpenStream, Opened, RelayState, StreamEnd, Translator,
};
use crate::http::request::Request;
use crate::http::response::ResponseHead;
use crate::http::router::Endpoint;
use crate::json;
use crate::limits;
use crate::upstream::EVENT_STREAM;

impl<'g> Exchange<'g> {
    /// Serves a proxied endpoint; returns whether the connection can carry another request.
    pub async fn proxy(
        mut self,
        client: &mut TcpStream,
        request: &Request,
        endpoint: Endpoint,
    ) -> bool {
        if self.context.startup().database.store_content {
            self.record.request_body = Some(request.body.clone());
        }
        self.dialect = client_dialect(endpoint);
        let prepared = match self.prepare(request, endpoint) {
            Ok(prepared) => prepared,
            Err(error) => return self.fail(client, error).await,
        };
        if prepared.streams() {
            // Boxed: the stream's state (relay, the idle timer) is twice a whole answer's,
            // and every request's future would otherwise be that size.
            return boxed_in_place(|| self.stream(client, &prepared)).await;
        }
        let generation = self.generation;
        // Made in its place in the exchange: a plan of its own beside it was 328 bytes more
        // in every request's future, and a move of both into `with_plan`.
        let plan = self.plan.insert(prepared.plan(&generation.dispatcher));
        let request_id = &self.record.id;
        let answer = whole_answer(plan, &generation.upstream, &prepared, request_id).await;
        let upstream = plan.named_target().map(|target| target.upstream);
        if let (Ok(answer), Some(upstream)) = (&answer, upstream) {
            if (200..300).contains(&answer.status) {
                self.remember_response(&upstream.name, &answer.body, false);
            }
        }
        match answer {
            Ok(delivered) => self.deliver(client, delivered).await,
            Err(error) => self.fail(client, error).await,
        }
    }

    /// A Responses answer's id, remembered with the upstream that issued it (see
    /// `ResponseAffinity`); in a stream, the id is in the first event (`response.created`).
    fn remember_response(&self, upstream: &str, body: &[u8], stream: bool) {
        if self.dialect != Dialect::Responses {
            return;
        }
        let data = if stream {
            stream::first_data(body)
        } else {
            Some(body.to_vec())
        };
        let Some(mut data) = data else {
            return;
        };
        let id = json::read(&mut data, |value| {
            let response = if stream {
                value.get("response")?
            } else {
                value
            };
            response.get_str("id").map(str::to_string)
        });
        if let Ok(Some(id)) = id {
            self.context
                .shared
                .response_affinity
                .remember(&id, upstream);
        }
    }

    fn prepare(&mut self, request: &Request, endpoint: Endpoint) -> Result<Prepared, AppError> {
        let generation = self.generation;
        let config = &generation.config;
        let identity = access::identify_request(config, request, self.dialect)?;
        self.set_client_key(identity.name());
        if let ClientIdentity::Key { index, key } = identity {
            self.limited_key = Some((key, &generation.ledgers[index]));
        }
        let routed = endpoint.routed_model(request.path());
        let routed = routed
            .as_ref()
            .map(|(model, stream)| (model.as_str(), *stream));
        let body = RequestBody::parse_routed(request.body.clone(), self.dialect, routed)?;
        self.set_model(&body.model);
        self.record.stream = body.stream && endpoint.can_stream();
        let model = config
            .model_id(&body.model)
            .ok_or_else(|| AppError::ModelNotFound(body.model.clone()))?;
        self.model_index = Some(model.0);
        if !identity.may_use(&body.model) {
            return Err(AppError::ModelNotAllowed(body.model.clone()));
        }
        let affinity = &self.context.shared.response_affinity;
        let mut prepared = Prepared::new(body, model, endpoint, config, affinity)?;
        if endpoint == Endpoint::GeminiStream && !wants_sse(request.query()) {
            prepared.client_framing = Framing::JsonArray;
        }
        self.record.price = config.model(model).price;
        if let ClientIdentity::Key { index, key } = identity {
            let estimate = limits::estimate_tokens(
                request.body.len(),
                prepared.body.max_tokens,
                endpoint.can_stream(),
            );
            let ledger = &self.generation.ledgers[index];
            let fleet = &self.context.shared.fleet;
            match limits::admit(key, ledger, estimate, SystemTime::now(), fleet) {
                Ok(admitted) => {
                    self.record.admission = Some(admitted.admission);
                    self._slot = admitted.slot;
                    self.limit_headers = admitted.headers;
                }
                Err(refused) => {
                    self.limit_headers = refused.headers;
                    return Err(refused.error);
                }
            }
        }
        Ok(prepared)
    }

    /// A stream: failover until the first event, then relay (or translate), recover or end
    /// in-band.
    async fn stream(mut self, client: &mut TcpStream, prepared: &Prepared) -> bool {
        let generation = self.generation;
        let request_id = &*self.record.id;
        let mut plan = prepared.plan(&generation.dispatcher);
        let opened = plan
            .run(async |target| {
                let call = prepared.request_for(target);
                stream::open(
                    &generation.upstream,
                    &call.path,
                    target,
                    prepared.upstream_dialect(target),
                    request_id,
                    call.body,
                )
                .await
            })
            .await;
        let (opened, target) = match opened {
            Err(error) => return self.with_plan(plan).fail(client, error).await,
            Ok((Opened::Whole(delivered), target)) => {
                let delivered = answer_for_client(prepared, &target, delivered);
                return self.with_plan(plan).deliver(client, delivered).await;
            }
            Ok((Opened::Stream(opened), target)) => (opened, target),
        };
        let recoverable = prepared.can_recover(&target);
        let framing = prepared.client_framing;
        let mut sink = self.sink(
            client,
            framing,
            plan.attempts(),
            &target.upstream.name,
            recoverable,
        );
        let strip_usage = prepared.dialect == Dialect::Chat && !prepared.body.client_wants_usage;
        let upstream_dialect = prepared.upstream_dialect(&target);
        // Only a target of another dialect has its events translated.
        let translator = (upstream_dialect != prepared.dialect).then(|| {
            let model = &target.target.upstream_model;
            Translator::new(
                upstream_dialect,
                model,
                prepared.dialect,
                strip_usage,
                framing,
            )
        });
        let outcome = match translator {
            Some(translator) => {
                self.relay(
                    &mut sink,
                    translator,
                    opened,
                    &target,
                    &mut plan,
                    prepared,
                    strip_usage,
                )
                .await
            }
            None => {
                let relay = RelayState::new(prepared.dialect, strip_usage, framing);
                self.relay(
                    &mut sink,
                    relay,
                    opened,
                    &target,
                    &mut plan,
                    prepared,
                    strip_usage,
                )
                .await
            }
        };
        self.with_plan(plan)
            .end_stream(sink, framing, outcome)
            .await
    }

    /// Relays the stream through `filter`, and continues it down the plan when it breaks
    /// and can be continued.
    #[expect(
        clippy::too_many_arguments,
        reason = "the stream's parts, each used once"
    )]
    async fn relay(
        &mut self,
        sink: &mut ClientSink<'_, TcpStream>,
        mut filter: impl EventFilter,
        opened: OpenStream,
        target: &AttemptTarget<'g>,
        plan: &mut AttemptPlan<'g>,
        prepared: &Prepared,
        strip_usage: bool,
    ) -> Result<(), StreamEnd> {
        self.remember_response(&target.upstream.name, &opened.first, true);
        let mut outcome = self.relay_first(sink, &mut filter, opened, target).await;
        if let Some(usage) = filter.take_withheld() {
            // The usage chunk kept from the client still belongs in the log.
            sink.record_only(usage);
        }
        if let Err(StreamEnd::Broken(failure)) = &outcome {
            plan.record_failure(target, failure.clone());
            if sink.can_recover() {
                self.context
                    .metrics
                    .stream_recoveries
                    .fetch_add(1, Ordering::Relaxed);
                let request_id = self.record.id.clone();
                // Boxed: a rare path whose state would double every stream's future.
                let recovery = Box::pin(stream::continue_stream(
                    plan,
                    &self.generation.upstream,
                    prepared,
                    sink,
                    &request_id,
                    strip_usage,
                ))
                .await;
                outcome = recovery.outcome;
                self.record.usage_estimated = recovery.usage_estimated;
            }
        }
        outcome
    }

    /// The client's end of the stream, with the response head ready to go out in front of
    /// the first events.
    fn sink<'c>(
        &self,
        client: &'c mut TcpStream,
        framing: Framing,
        attempts: usize,
        upstream: &str,
        recoverable: bool,
    ) -> ClientSink<'c, TcpStream> {
        let mut digits = itoa::Buffer::new();
        let answered = answered_headers(&mut digits, attempts, upstream);
        let extra = self.with_limit_headers(&answered, None);
        let head = ResponseHead {
            status: 200,
            content_type: stream_content_type(framing),
            request_id: self.id(),
            keep_alive: self.keep_alive,
            extra: &extra,
        };
        let stream_id = self.context.next_stream_id();
        let client_fd = Some(client.as_raw_fd());
        let records = self.context.records.clone();
        ClientSink::new(
            client,
            client_fd,
            records,
            stream_id,
            head.encode(None),
            recoverable,
        )
    }

    /// Writes the first events (with the response head, and the body's end when the whole
    /// stream came at once), notes the time to first token, then relays the rest.
    async fn relay_first(
        &mut self,
        sink: &mut ClientSink<'_, TcpStream>,
        relay: &mut impl EventFilter,
        opened: OpenStream,
        target: &AttemptTarget<'_>,
    ) -> Result<(), StreamEnd> {
        let OpenStream {
            response,
            framer,
            first,
        } = opened;
        let written = match relay.filter(first) {
            Ok(events) => stream::deliver(&response, &framer, relay, sink, events).await,
            Err(end) => Err(end),
        };
        let ttft = self.received_at.elapsed();
        self.record.ttft_ms = Some(ttft.as_secs_f64() * 1000.0);
        self.context.metrics.ttft.observe(ttft);
        if written? {
            return Ok(());
        }
        let idle_timeout = target.model.routing.stream_idle_timeout;
        stream::pump(response, framer, relay, sink, idle_timeout).await
    }

    /// Ends the stream: the last chunk after a complete answer; the in-band error (one last
    /// event in OpenAI's error shape naming the Tried path) after an interruption; nothing
    /// for a client that left.
    async fn end_stream(
        mut self,
        mut sink: ClientSink<'_, TcpStream>,
        framing: Framing,
        outcome: Result<(), StreamEnd>,
    ) -> bool {
        let stream_id = sink.stream_id();
        let interrupted = match outcome {
            Ok(()) => None,
            Err(StreamEnd::ClientGone) => {
                self.record.cancelled = true;
                self.finish_stream(stream_id);
                return false;
            }
            Err(StreamEnd::Broken(failure) | StreamEnd::Diverged(failure)) => self
                .plan
                .as_mut()
                .map(|plan| AppError::StreamInterrupted(plan.interrupted_by(failure))),
        };
        let mut clean = true;
        if let Some(error) = interrupted {
            let message = error.message();
            let event = Bytes::from(error_event(
                self.dialect,
                framing,
                &error,
                &message,
                sink.sent_any(),
            ));
            clean = sink.forward(event).await.is_ok();
            self.record.error = Some(message);
        }
        let keep_alive = self.keep_alive && clean && sink.close().await;
        self.finish_stream(stream_id);
        keep_alive
    }
}

/// `Box::pin(make())` with the box allocated first, so that the future is written into it
/// in place: `Box::pin` made it on the stack and copied its KiBs (8.5k instructions a stream
/// under callgrind).
#[expect(
    unsafe_code,
    reason = "Box::write, the safe form, is stable only from Rust 1.87, past the MSRV"
)]
fn boxed_in_place<F: Future>(make: impl FnOnce() -> F) -> Pin<Box<F>> {
    let mut slot = Box::new_uninit();
    slot.write(make());
    // SAFETY: the slot was written just above.
    Box::into_pin(unsafe { slot.assume_init() })
}

/// Gemini's `streamGenerateContent` answers a JSON array unless asked for `alt=sse`.
fn wants_sse(query: &str) -> bool {
    query.split('&').any(|pair| pair == "alt=sse")
}

/// The media type of a stream the client reads in `framing`.
fn stream_content_type(framing: Framing) -> &'static str {
    match framing {
        Framing::Sse => "text/event-stream",
        Framing::EventStream => EVENT_STREAM,
        Framing::JsonArray => "application/json",
    }
}
