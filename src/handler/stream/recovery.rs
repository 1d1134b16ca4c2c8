//! Mid-stream recovery: when a stream breaks after bytes reached the client, continue the
//! answer from the next targets of the same plan. `prefill` sends the delivered text as a
//! final assistant message; `restart` re-sends the request and suppresses output while it
//! repeats the delivered text. Events written here are re-framed `chat.completion.chunk`s
//! under the original stream's id. This path parses JSON; it runs only on failures.

use std::rc::Rc;

use bytes::Bytes;
use monoio::io::AsyncWriteRent;
use simd_json::prelude::*;

use super::open::{open, OpenStream, Opened};
use super::relay::{pump, EventFilter, StreamEnd};
use super::sink::ClientSink;
use super::sse;
use crate::config::Continuation;
use crate::dispatch::{AttemptPlan, AttemptTarget, Failure};
use crate::handler::prepared::Prepared;
use crate::json::push_json_string;
use crate::upstream::UpstreamClient;

/// Continues a broken stream down the rest of the plan until it completes, the client
/// leaves, or the plan runs out (then the last failure).
pub async fn continue_stream<W: AsyncWriteRent>(
    plan: &mut AttemptPlan<'_>,
    upstream: &Rc<UpstreamClient>,
    prepared: &Prepared,
    sink: &mut ClientSink<'_, W>,
    request_id: &str,
    strip_usage: bool,
) -> Result<(), StreamEnd> {
    let original = OriginalStream::read(sink.delivered());
    let mut delivered = original.text.clone();
    loop {
        let opened = plan
            .run(async |target| {
                let body = continuation_body(prepared, target, &delivered)?;
                open(
                    upstream,
                    prepared.endpoint.upstream_path(),
                    target,
                    request_id,
                    body,
                )
                .await
            })
            .await;
        let Ok((
            Opened::Stream(OpenStream {
                response,
                framer,
                first,
            }),
            target,
        )) = opened
        else {
            let last = plan.last_failure().cloned();
            return Err(StreamEnd::Broken(
                last.unwrap_or_else(Failure::cannot_continue),
            ));
        };
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
        sink.forward(first).await?;
        let idle_timeout = target.model.routing.stream_idle_timeout;
        match pump(response, framer, &mut reframer, sink, idle_timeout).await {
            Err(StreamEnd::Broken(failure)) => plan.record_failure(&target, failure),
            other => return other,
        }
    }
}

/// The request that continues the answer on `target`, by its continuation mode.
fn continuation_body(
    prepared: &Prepared,
    target: &AttemptTarget<'_>,
    delivered: &str,
) -> Result<Bytes, Failure> {
    let upstream_model = &target.target.upstream_model;
    let body = match target.target.continuation {
        Continuation::Prefill => {
            prepared
                .body
                .for_prefill(upstream_model, delivered, &target.target.extra_body)
        }
        Continuation::Restart => Some(prepared.body.for_upstream(upstream_model)),
        Continuation::None => None,
    };
    body.ok_or_else(Failure::cannot_continue)
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
            return Err(StreamEnd::Diverged(Failure::diverged()));
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
