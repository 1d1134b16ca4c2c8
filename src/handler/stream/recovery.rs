//! Mid-stream recovery: when a stream breaks after bytes reached the client, continue the
//! answer from the next targets of the same plan. `prefill` sends the delivered text as a
//! final assistant message; `restart` re-sends the request and suppresses output while it
//! repeats the delivered text; `auto` tries prefill and falls back to restart on the same
//! target when the prefill is refused. Events written here are re-framed
//! `chat.completion.chunk`s under the original stream's id, and the usage they end with
//! covers every attempt (see `UsageTally`). This path parses JSON; it runs only on failures.

use std::rc::Rc;

use bytes::Bytes;
use monoio::io::AsyncWriteRent;
use simd_json::prelude::*;

use super::open::{open, OpenStream, Opened};
use super::relay::{pump, EventFilter, StreamEnd};
use super::sink::ClientSink;
use super::sse;
use crate::config::{Continuation, ModelId};
use crate::dispatch::{
    classify_continuation_answer, AttemptPlan, AttemptTarget, Failure, FailureKind,
};
use crate::handler::prepared::Prepared;
use crate::json::push_json_string;
use crate::upstream::UpstreamClient;

/// How a recovery ended, and whether the usage it reported had to be estimated in part.
pub struct Recovery {
    pub outcome: Result<(), StreamEnd>,
    pub usage_estimated: bool,
}

/// Continues a broken stream down the rest of the plan until it completes, the client
/// leaves, or the plan runs out (then the last failure).
pub async fn continue_stream<W: AsyncWriteRent>(
    plan: &mut AttemptPlan<'_>,
    upstream: &Rc<UpstreamClient>,
    prepared: &Prepared,
    sink: &mut ClientSink<'_, W>,
    request_id: &str,
    strip_usage: bool,
) -> Recovery {
    let original = OriginalStream::read(sink.delivered());
    let mut delivered = original.text.clone();
    let mut tally = UsageTally {
        unreported_chars: original.text.chars().count(),
        estimated: false,
    };
    let outcome = loop {
        // Under `auto`, the target that just refused the prefill gets a restart.
        let mut restart_on: Option<(ModelId, usize)> = None;
        let opened = plan
            .run(async |target| {
                let auto = target.target.continuation == Continuation::Auto;
                let mode = match target.target.continuation {
                    Continuation::Auto if restart_on == Some((target.model_id, target.index)) => {
                        Continuation::Restart
                    }
                    Continuation::Auto => Continuation::Prefill,
                    mode => mode,
                };
                let body = continuation_body(prepared, target, mode, &delivered)?;
                let path = prepared.endpoint.upstream_path();
                match open(upstream, path, target, request_id, body).await? {
                    Opened::Stream(stream) => Ok((stream, mode)),
                    Opened::Whole(answer) => {
                        let prefill_under_auto = auto && mode == Continuation::Prefill;
                        let failure = classify_continuation_answer(
                            answer.status,
                            &answer.body,
                            prefill_under_auto,
                        );
                        if failure.kind == FailureKind::PrefillRefused {
                            restart_on = Some((target.model_id, target.index));
                        }
                        Err(failure)
                    }
                }
            })
            .await;
        let Ok((
            (
                OpenStream {
                    response,
                    framer,
                    first,
                },
                mode,
            ),
            target,
        )) = opened
        else {
            let last = plan.last_failure().cloned();
            break Err(StreamEnd::Broken(
                last.unwrap_or_else(Failure::cannot_continue),
            ));
        };
        let repeat_len = delivered.len();
        let prefilled_chars = (mode == Continuation::Prefill).then(|| delivered.chars().count());
        let mut reframer = Reframer {
            original: &original,
            delivered: &mut delivered,
            restart_matched: (mode == Continuation::Restart).then_some((0, repeat_len)),
            strip_usage,
            tally: &mut tally,
            prefilled_chars,
            streamed_chars: 0,
            reported_usage: false,
            withheld_usage: None,
            finished: false,
            done: false,
        };
        let outcome = match reframer.filter(first) {
            Ok(first) => match sink.forward(first).await {
                Ok(()) => {
                    let idle_timeout = target.model.routing.stream_idle_timeout;
                    pump(response, framer, &mut reframer, sink, idle_timeout).await
                }
                Err(end) => Err(end),
            },
            Err(end) => Err(end),
        };
        if let Some(usage) = reframer.withheld_usage.take() {
            // The usage chunk kept from the client still belongs in the log.
            sink.record_only(usage);
        }
        if !reframer.reported_usage {
            reframer.tally.unreported_chars += reframer.streamed_chars;
        }
        match outcome {
            Err(StreamEnd::Broken(failure)) => plan.record_failure(&target, failure),
            other => break other,
        }
    };
    Recovery {
        outcome,
        usage_estimated: tally.estimated,
    }
}

/// Usage across the attempts of a recovered stream. The client and the log get one usage
/// covering the whole answer: prompt tokens of the first request, completion tokens summed
/// over attempts. An attempt that broke never reported its usage; its completion tokens are
/// estimated from the characters it streamed, at the rate (tokens per character) the
/// reporting attempt's own usage shows for its own text, or 4 characters a token when that
/// attempt streamed no text.
struct UsageTally {
    /// Characters streamed by attempts that broke without reporting usage.
    unreported_chars: usize,
    /// Some of the reported usage is an estimate.
    estimated: bool,
}

/// `chars` characters in tokens, at `tokens_per_char`.
fn estimate_tokens(chars: usize, tokens_per_char: f64) -> u64 {
    (chars as f64 * tokens_per_char).round() as u64
}

/// The request that continues the answer on `target` in `mode`.
fn continuation_body(
    prepared: &Prepared,
    target: &AttemptTarget<'_>,
    mode: Continuation,
    delivered: &str,
) -> Result<Bytes, Failure> {
    let upstream_model = &target.target.upstream_model;
    let body = match mode {
        Continuation::Prefill | Continuation::Auto => {
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
    tally: &'a mut UsageTally,
    /// Prefill mode: the characters sent as the assistant message (they are in its prompt).
    prefilled_chars: Option<usize>,
    /// Characters of content this attempt streamed, repeats included.
    streamed_chars: usize,
    reported_usage: bool,
    /// The whole-answer usage chunk, when the client did not ask for usage.
    withheld_usage: Option<Bytes>,
    finished: bool,
    done: bool,
}

impl Reframer<'_> {
    /// This attempt's usage turned into the whole answer's (see `UsageTally`).
    fn whole_answer_usage(&mut self, usage: &simd_json::OwnedValue) -> simd_json::OwnedValue {
        let reported = |key| usage.get_u64(key).unwrap_or_default();
        let completion = reported("completion_tokens");
        let tokens_per_char = if self.streamed_chars > 0 && completion > 0 {
            completion as f64 / self.streamed_chars as f64
        } else {
            0.25
        };
        let mut prompt = reported("prompt_tokens");
        if let Some(prefilled) = self.prefilled_chars {
            // Its prompt holds the delivered text as well as the first request's.
            prompt = prompt.saturating_sub(estimate_tokens(prefilled, tokens_per_char));
            self.tally.estimated |= prefilled > 0;
        }
        let unreported = self.tally.unreported_chars;
        let completion = completion + estimate_tokens(unreported, tokens_per_char);
        self.tally.estimated |= unreported > 0;
        let mut whole = usage.clone();
        if let Some(object) = whole.as_object_mut() {
            object.insert("prompt_tokens".into(), prompt.into());
            object.insert("completion_tokens".into(), completion.into());
            object.insert("total_tokens".into(), (prompt + completion).into());
        }
        whole
    }

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
                self.reported_usage = true;
                let usage = self.whole_answer_usage(usage);
                let event = self
                    .original
                    .event(&format!("\"choices\":[],\"usage\":{}", usage.encode()));
                if self.strip_usage {
                    self.withheld_usage = Some(Bytes::from(event));
                } else {
                    out.push_str(&event);
                }
            }
            let Some(choice) = first_choice(&chunk) else {
                continue;
            };
            if let Some(content) = choice.get("delta").and_then(|d| d.get_str("content")) {
                self.streamed_chars += content.chars().count();
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
