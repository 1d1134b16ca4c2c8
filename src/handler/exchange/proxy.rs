//! The proxied endpoints' path through the exchange: check the key, read the body, then
//! send it through the attempt plan, as a whole answer or as a stream. A stream that breaks
//! after bytes reached the client is continued (`recovery`) or ended with the in-band error,
//! never closed as if complete.

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use bytes::Bytes;
use monoio::net::TcpStream;

use super::Exchange;
use crate::dispatch::AttemptTarget;
use crate::error::AppError;
use crate::handler::access::{self, ClientIdentity};
use crate::handler::body::RequestBody;
use crate::handler::forward::whole_answer;
use crate::handler::prepared::Prepared;
use crate::handler::stream::{
    self, ClientSink, EventFilter, OpenStream, Opened, RelayState, StreamEnd,
};
use crate::http::request::Request;
use crate::http::response::ResponseHead;
use crate::http::router::Endpoint;
use crate::limits;

impl Exchange<'_> {
    /// Serves a proxied endpoint; returns whether the connection can carry another request.
    pub async fn proxy(
        mut self,
        client: &mut TcpStream,
        request: Request,
        endpoint: Endpoint,
    ) -> bool {
        if self.context.startup().database.store_content {
            self.record.request_body = Some(request.body.clone());
        }
        let prepared = match self.prepare(&request, endpoint) {
            Ok(prepared) => prepared,
            Err(error) => return self.fail(client, error).await,
        };
        if prepared.streams() {
            return self.stream(client, &prepared).await;
        }
        let generation = self.generation;
        let mut plan = generation.dispatcher.plan(prepared.model);
        let answer = whole_answer(&mut plan, &generation.upstream, &prepared, self.id()).await;
        let exchange = self.with_plan(plan);
        match answer {
            Ok(delivered) => exchange.deliver(client, delivered).await,
            Err(error) => exchange.fail(client, error).await,
        }
    }

    fn prepare(&mut self, request: &Request, endpoint: Endpoint) -> Result<Prepared, AppError> {
        let generation = self.generation;
        let config = &generation.config;
        let identity = access::identify(config, &request.headers)?;
        self.set_client_key(identity.name());
        if let ClientIdentity::Key { index, key } = identity {
            self.limited_key = Some((key, &generation.ledgers[index]));
        }
        let body = RequestBody::parse(request.body.clone())?;
        self.set_model(&body.model);
        self.record.stream = body.stream && endpoint.can_stream();
        let model = config
            .model_id(&body.model)
            .ok_or_else(|| AppError::ModelNotFound(body.model.clone()))?;
        self.model_index = Some(model.0);
        if !identity.may_use(&body.model) {
            return Err(AppError::ModelNotAllowed(body.model.clone()));
        }
        self.record.price = config.model(model).price;
        if let ClientIdentity::Key { index, key } = identity {
            let estimate =
                limits::estimate_tokens(request.body.len(), body.max_tokens, endpoint.can_stream());
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
        Ok(Prepared {
            body,
            model,
            endpoint,
        })
    }

    /// A stream: failover until the first event, then relay, recover or end in-band.
    async fn stream(mut self, client: &mut TcpStream, prepared: &Prepared) -> bool {
        let generation = self.generation;
        let request_id = self.record.id.clone();
        let mut plan = generation.dispatcher.plan(prepared.model);
        let opened = plan
            .run(async |target| {
                let body = prepared.body.for_upstream(&target.target.upstream_model);
                let path = prepared.endpoint.upstream_path();
                stream::open(&generation.upstream, path, target, &request_id, body).await
            })
            .await;
        let (opened, target) = match opened {
            Err(error) => return self.with_plan(plan).fail(client, error).await,
            Ok((Opened::Whole(delivered), _)) => {
                return self.with_plan(plan).deliver(client, delivered).await
            }
            Ok((Opened::Stream(opened), target)) => (opened, target),
        };
        let recoverable = prepared.can_recover(&target);
        let mut sink = self.sink(client, plan.attempts(), &target.upstream.name, recoverable);
        let mut relay = RelayState::new(!prepared.body.client_wants_usage);
        let mut outcome = self
            .relay_first(&mut sink, &mut relay, opened, &target)
            .await;
        if let Err(StreamEnd::Broken(failure)) = &outcome {
            plan.record_failure(&target, failure.clone());
            if sink.can_recover() {
                self.context
                    .metrics
                    .stream_recoveries
                    .fetch_add(1, Ordering::Relaxed);
                let recovery = stream::continue_stream(
                    &mut plan,
                    &generation.upstream,
                    prepared,
                    &mut sink,
                    &request_id,
                    relay.strip_usage,
                )
                .await;
                outcome = recovery.outcome;
                self.record.usage_estimated = recovery.usage_estimated;
            }
        }
        if let Some(usage) = relay.withheld_usage.take() {
            // The usage chunk kept from the client still belongs in the log.
            sink.record_only(usage);
        }
        self.with_plan(plan).end_stream(sink, outcome).await
    }

    /// The client's end of the stream, with the response head ready to go out in front of
    /// the first events.
    fn sink<'c>(
        &self,
        client: &'c mut TcpStream,
        attempts: usize,
        upstream: &str,
        recoverable: bool,
    ) -> ClientSink<'c, TcpStream> {
        let attempts = attempts.to_string();
        let mut extra = vec![
            ("x-gpt-api-attempts", attempts.as_str()),
            ("x-gpt-api-upstream", upstream),
        ];
        extra.extend(self.limit_header_refs());
        let head = ResponseHead {
            status: 200,
            content_type: "text/event-stream",
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

    /// Writes the first events (with the response head), notes the time to first token,
    /// then relays the rest.
    async fn relay_first(
        &mut self,
        sink: &mut ClientSink<'_, TcpStream>,
        relay: &mut RelayState,
        opened: OpenStream,
        target: &AttemptTarget<'_>,
    ) -> Result<(), StreamEnd> {
        let OpenStream {
            response,
            framer,
            first,
        } = opened;
        let written = match relay.filter(first) {
            Ok(events) => sink.forward(events).await,
            Err(end) => Err(end),
        };
        let ttft = self.received_at.elapsed();
        self.record.ttft_ms = Some(ttft.as_secs_f64() * 1000.0);
        self.context.metrics.ttft.observe(ttft);
        written?;
        let idle_timeout = target.model.routing.stream_idle_timeout;
        stream::pump(response, framer, relay, sink, idle_timeout).await
    }

    /// Ends the stream: the last chunk after a complete answer; the in-band error (one last
    /// event in OpenAI's error shape naming the Tried path) after an interruption; nothing
    /// for a client that left.
    async fn end_stream(
        mut self,
        mut sink: ClientSink<'_, TcpStream>,
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
            let event = Bytes::from(error.sse_event(&message));
            clean = sink.forward(event).await.is_ok();
            self.record.error = Some(message);
        }
        let keep_alive = self.keep_alive && clean && sink.close().await;
        self.finish_stream(stream_id);
        keep_alive
    }
}
