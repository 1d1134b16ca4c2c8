//! Mid-stream recovery: when a stream breaks after bytes reached the client, continue the
//! answer from the next targets of the same plan. `prefill` sends the delivered text as a
//! final assistant message; `restart` re-sends the request and suppresses output while it
//! repeats the delivered text. Events written here are re-framed `chat.completion.chunk`s
//! under the original stream's id. This path parses JSON; it runs only on failures.

use bytes::Bytes;
use simd_json::prelude::*;

use super::exchange::Exchange;
use super::forward::{note_target, Prepared};
use super::sse;
use super::stream::{self, ClientSink, EventFilter, Opened, StreamEnd};
use crate::config::Continuation;
use crate::dispatch::{AttemptPlan, AttemptTarget, Failure, FailureKind};
use crate::error::push_json_string;
use crate::http::request::ClientConnection;
use crate::http::router::Endpoint;

/// Whether a break of this stream could be continued: chat, one choice, no tools, and a
/// continuation mode configured.
pub fn possible(prepared: &Prepared, target: &AttemptTarget<'_>) -> bool {
    prepared.endpoint == Endpoint::ChatCompletions
        && !prepared.body.multi_choice_or_tools
        && (target.model.routing.continuation != Continuation::None
            || target
                .model
                .targets
                .iter()
                .any(|t| t.continuation != Continuation::None))
}

/// Continues a broken stream until it completes, the client leaves, or the plan runs out.
pub async fn continue_stream(
    connection: &mut ClientConnection,
    prepared: &Prepared,
    plan: &mut AttemptPlan<'_>,
    sink: &mut ClientSink<'_>,
    exchange: &mut Exchange,
    strip_usage: bool,
    broken: Failure,
) -> Result<(), StreamEnd> {
    let original = OriginalStream::read(&sink.delivered);
    let mut delivered = original.text.clone();
    let request_id = exchange.id().to_string();
    let routes = exchange.routes.clone();
    loop {
        let opened = plan
            .run(async |target| {
                let body = match target.target.continuation {
                    Continuation::Prefill => prepared.body.for_prefill(
                        &target.target.upstream_model,
                        &delivered,
                        &target.target.extra_body,
                    ),
                    Continuation::Restart => {
                        Some(prepared.body.for_upstream(&target.target.upstream_model))
                    }
                    Continuation::None => None,
                };
                let Some(body) = body else {
                    return Err(Failure {
                        kind: FailureKind::Silent,
                        message: "this target cannot continue a stream".into(),
                    });
                };
                stream::open(&routes.upstream, prepared, target, &request_id, body).await
            })
            .await;
        let Ok((
            Opened::Stream {
                response,
                framer,
                first,
            },
            target,
        )) = opened
        else {
            return Err(StreamEnd::Broken(
                plan.last_failure.clone().unwrap_or_else(|| broken.clone()),
            ));
        };
        note_target(exchange, &target);
        let repeat_len = delivered.len();
        let mut reframer = Reframer {
            original: &original,
            delivered: &mut delivered,
            restart_matched: (target.target.continuation == Continuation::Restart)
                .then_some((0, repeat_len)),
            strip_usage,
            finished: false,
            done: false,
        };
        let first = reframer.filter(first)?;
        sink.forward(connection, first).await?;
        match stream::pump(connection, response, framer, &mut reframer, sink, &target).await {
            Err(StreamEnd::Broken(failure)) => {
                plan.record_failure(&target, &failure);
                plan.last_failure = Some(failure);
            }
            other => return other,
        }
    }
}

/// What the client already has: the stream's id, creation time, model and text.
struct OriginalStream {
    id: String,
    created: u64,
    model: String,
    text: String,
}

impl OriginalStream {
    fn read(delivered: &[Bytes]) -> Self {
        let mut original = Self {
            id: String::new(),
            created: 0,
            model: String::new(),
            text: String::new(),
        };
        for block in delivered {
            for event in sse::events(block) {
                let Some(chunk) = parse_chunk(event) else {
                    continue;
                };
                if original.id.is_empty() {
                    original.id = chunk.get_str("id").unwrap_or_default().to_string();
                    original.created = chunk.get_u64("created").unwrap_or_default();
                    original.model = chunk.get_str("model").unwrap_or_default().to_string();
                }
                if let Some(content) = first_choice(&chunk)
                    .and_then(|c| c.get("delta"))
                    .and_then(|d| d.get_str("content"))
                {
                    original.text.push_str(content);
                }
            }
        }
        original
    }

    /// A `chat.completion.chunk` event under the original id; `fields` go inside the object.
    fn event(&self, fields: &str) -> String {
        let mut event = String::from("data: {\"id\":");
        push_json_string(&mut event, &self.id);
        event.push_str(",\"object\":\"chat.completion.chunk\",\"created\":");
        event.push_str(&self.created.to_string());
        event.push_str(",\"model\":");
        push_json_string(&mut event, &self.model);
        event.push(',');
        event.push_str(fields);
        event.push_str("}\n\n");
        event
    }
}

fn parse_chunk(event: &[u8]) -> Option<simd_json::OwnedValue> {
    let mut payload = sse::data(event)?.into_owned();
    simd_json::to_owned_value(&mut payload).ok()
}

fn first_choice(chunk: &simd_json::OwnedValue) -> Option<&simd_json::OwnedValue> {
    chunk.get("choices")?.as_array()?.first()
}

/// Turns the continuing upstream's events into events of the original stream.
struct Reframer<'a> {
    original: &'a OriginalStream,
    delivered: &'a mut String,
    /// Restart mode: how much of the delivered text the new stream has repeated so far, and
    /// how much it must repeat (what was delivered when it started).
    restart_matched: Option<(usize, usize)>,
    strip_usage: bool,
    finished: bool,
    done: bool,
}

impl Reframer<'_> {
    /// The part of `content` that is new to the client (restart mode suppresses the repeat).
    fn unseen<'c>(&mut self, content: &'c str) -> Result<&'c str, StreamEnd> {
        let Some((matched, repeat_len)) = self.restart_matched.as_mut() else {
            return Ok(content);
        };
        let expected = &self.delivered.as_bytes()[*matched..*repeat_len];
        let overlap = expected.len().min(content.len());
        if content.as_bytes()[..overlap] != expected[..overlap] {
            let message =
                "the restarted stream diverged from the text already delivered".to_string();
            return Err(StreamEnd::Diverged(Failure {
                kind: FailureKind::Silent,
                message,
            }));
        }
        *matched += overlap;
        Ok(&content[overlap..])
    }
}

impl EventFilter for Reframer<'_> {
    fn filter(&mut self, events: Bytes) -> Result<Bytes, StreamEnd> {
        let mut out = String::new();
        for event in sse::events(&events) {
            let Some(payload) = sse::data(event) else {
                continue;
            };
            if sse::is_done(&payload) {
                self.finished = true;
                self.done = true;
                out.push_str("data: [DONE]\n\n");
                continue;
            }
            let Some(chunk) = parse_chunk(event) else {
                continue;
            };
            if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
                if !self.strip_usage {
                    out.push_str(
                        &self
                            .original
                            .event(&format!("\"choices\":[],\"usage\":{}", usage.encode())),
                    );
                }
            }
            let Some(choice) = first_choice(&chunk) else {
                continue;
            };
            if let Some(content) = choice.get("delta").and_then(|d| d.get_str("content")) {
                let unseen = self.unseen(content)?;
                if !unseen.is_empty() {
                    let mut fields =
                        String::from("\"choices\":[{\"index\":0,\"delta\":{\"content\":");
                    push_json_string(&mut fields, unseen);
                    fields.push_str("},\"finish_reason\":null}]");
                    out.push_str(&self.original.event(&fields));
                    self.delivered.push_str(unseen);
                }
            }
            if let Some(reason) = choice.get_str("finish_reason") {
                self.finished = true;
                let mut fields =
                    String::from("\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":");
                push_json_string(&mut fields, reason);
                fields.push_str("}]");
                out.push_str(&self.original.event(&fields));
            }
        }
        Ok(Bytes::from(out))
    }

    fn finished(&self) -> bool {
        self.finished
    }

    fn saw_done(&self) -> bool {
        self.done
    }
}
