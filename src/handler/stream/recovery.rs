//! Mid-stream recovery: when a stream breaks after bytes reached the client, continue the
//! answer from the next targets of the same plan. `prefill` sends the delivered text as a
//! final assistant message; `restart` re-sends the request and suppresses output while it
//! repeats the delivered text; `auto` tries prefill and falls back to restart on the same
//! target when the prefill is refused. The next target may speak another dialect than the
//! broken one: its events are decoded into pieces and written in the client's dialect by an
//! encoder that continues the delivered stream (same id, same open content block: it is
//! primed by replaying what the client received), and the usage they end with covers every
//! attempt (see `UsageTally`). This path parses JSON; it runs only on failures.

use std::rc::Rc;

use bytes::Bytes;
use monoio::io::AsyncWriteRent;

use super::open::{open, OpenStream, Opened};
use super::relay::{deliver, pump, EventFilter, StreamEnd};
use super::sink::{ClientSink, Outgoing};
use super::translate::decode_events;
use crate::config::{Continuation, ModelId};
use crate::dialect::{Decoder, Dialect, Encoder, Framing, Piece};
use crate::dispatch::{
    classify_continuation_answer, AttemptPlan, AttemptTarget, Failure, FailureKind,
};
use crate::handler::prepared::Prepared;
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
    let (mut encoder, mut delivered) = resume(prepared, sink.delivered(), strip_usage);
    let mut tally = UsageTally {
        unreported_chars: delivered.chars().count(),
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
                let dialect = prepared.upstream_dialect(target);
                // The Responses API does not continue a final assistant item: start over.
                let mode = match (mode, dialect) {
                    (Continuation::Prefill, Dialect::Responses) => Continuation::Restart,
                    (mode, _) => mode,
                };
                let (body, prefilled) = continuation_body(prepared, target, mode, &delivered)?;
                let call = prepared.call_for(target, body);
                match open(upstream, &call.path, target, dialect, request_id, call.body).await? {
                    Opened::Stream(stream) => Ok((stream, mode, prefilled)),
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
                prefilled_chars,
            ),
            target,
        )) = opened
        else {
            let last = plan.last_failure().cloned();
            break Err(StreamEnd::Broken(
                last.unwrap_or_else(Failure::cannot_continue),
            ));
        };
        let upstream_dialect = prepared.upstream_dialect(&target);
        let repeat_len = delivered.len();
        let mut reframer = Reframer {
            decoder: Decoder::new(upstream_dialect),
            framing: upstream_dialect.framing(),
            encoder: &mut encoder,
            delivered: &mut delivered,
            restart_matched: (mode == Continuation::Restart).then_some((0, repeat_len)),
            tally: &mut tally,
            prefilled_chars,
            streamed_chars: 0,
            reported_usage: false,
            finished: false,
            failure: None,
        };
        let outcome = match reframer.filter(first) {
            Ok(first) => match deliver(&response, &framer, &mut reframer, sink, first).await {
                Ok(true) => Ok(()),
                Ok(false) => {
                    let idle_timeout = target.model.routing.stream_idle_timeout;
                    pump(response, framer, &mut reframer, sink, idle_timeout).await
                }
                Err(end) => Err(end),
            },
            Err(end) => Err(end),
        };
        if let Some(usage) = reframer.take_withheld() {
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

/// An encoder that continues the stream the client received, and the text it holds: what
/// was delivered is decoded in the client's dialect and replayed into a fresh encoder (its
/// output dropped), which leaves it where the client is.
fn resume(prepared: &Prepared, delivered: &[Bytes], strip_usage: bool) -> (Encoder, String) {
    let client = prepared.dialect;
    let mut decoder = Decoder::new(client);
    let mut encoder = Encoder::new(client, strip_usage, prepared.client_framing);
    let mut pieces = Vec::new();
    for block in delivered {
        decode_events(&mut decoder, prepared.client_framing, block, &mut pieces);
    }
    let mut text = String::new();
    let mut replayed = Vec::new();
    for piece in &pieces {
        if let Piece::Text(delta) = piece {
            text.push_str(delta);
        }
        encoder.encode(piece, &mut replayed);
    }
    encoder.take_withheld();
    if delivered.iter().any(|block| !block.is_empty()) {
        encoder.delivered_some();
    }
    (encoder, text)
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

/// The request that continues the answer on `target` in `mode`, in the target's dialect,
/// and how many characters of it are the delivered text (prefill).
fn continuation_body(
    prepared: &Prepared,
    target: &AttemptTarget<'_>,
    mode: Continuation,
    delivered: &str,
) -> Result<(Bytes, Option<usize>), Failure> {
    let upstream_model = &target.target.upstream_model;
    let (body, _) = prepared.body_for(target);
    match mode {
        Continuation::Prefill | Continuation::Auto => {
            // Anthropic refuses a final assistant turn that ends in whitespace.
            let prefill = match prepared.upstream_dialect(target) {
                Dialect::Anthropic => delivered.trim_end(),
                _ => delivered,
            };
            let body = body.for_prefill(upstream_model, prefill, &target.target.extra_body);
            Ok((
                body.ok_or_else(Failure::cannot_continue)?,
                Some(prefill.chars().count()),
            ))
        }
        Continuation::Restart => Ok((body.for_upstream(upstream_model), None)),
        Continuation::None => Err(Failure::cannot_continue()),
    }
}

/// Turns the continuing upstream's events into events of the original stream.
struct Reframer<'a> {
    /// Reads the continuing target's dialect.
    decoder: Decoder,
    framing: Framing,
    /// Writes the client's, continuing the delivered stream.
    encoder: &'a mut Encoder,
    delivered: &'a mut String,
    /// Restart mode: how much of the delivered text the new stream has repeated so far, and
    /// how much it must repeat (what was delivered when it started).
    restart_matched: Option<(usize, usize)>,
    tally: &'a mut UsageTally,
    /// Prefill mode: the characters sent as the assistant message (they are in its prompt).
    prefilled_chars: Option<usize>,
    /// Characters of content this attempt streamed, repeats included.
    streamed_chars: usize,
    reported_usage: bool,
    finished: bool,
    failure: Option<Failure>,
}

impl Reframer<'_> {
    /// This attempt's usage turned into the whole answer's (see `UsageTally`).
    fn whole_answer_usage(&mut self, input: u64, output: u64) -> Piece {
        let tokens_per_char = if self.streamed_chars > 0 && output > 0 {
            output as f64 / self.streamed_chars as f64
        } else {
            0.25
        };
        let mut prompt = input;
        if let Some(prefilled) = self.prefilled_chars {
            // Its prompt holds the delivered text as well as the first request's.
            prompt = prompt.saturating_sub(estimate_tokens(prefilled, tokens_per_char));
            self.tally.estimated |= prefilled > 0;
        }
        let unreported = self.tally.unreported_chars;
        self.tally.estimated |= unreported > 0;
        Piece::Usage {
            input: prompt,
            output: output + estimate_tokens(unreported, tokens_per_char),
        }
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

    /// One piece of the continuing stream, as the client's stream goes on. Its start, its
    /// reasoning and in-band errors are not repeated to the client.
    fn apply(&mut self, piece: Piece, out: &mut Vec<u8>) -> Result<(), StreamEnd> {
        match piece {
            Piece::Text(text) => {
                self.streamed_chars += text.chars().count();
                let unseen = self.unseen(&text)?;
                if !unseen.is_empty() {
                    self.delivered.push_str(unseen);
                    self.encoder.encode(&Piece::Text(unseen.to_string()), out);
                }
            }
            Piece::Usage { input, output } => {
                self.reported_usage = true;
                let usage = self.whole_answer_usage(input, output);
                self.encoder.encode(&usage, out);
            }
            Piece::Finish { .. } | Piece::Done => {
                self.finished = true;
                self.encoder.encode(&piece, out);
            }
            Piece::Start { .. }
            | Piece::Reasoning(_)
            | Piece::ToolCall { .. }
            | Piece::Error(_) => {}
        }
        Ok(())
    }
}

impl EventFilter for Reframer<'_> {
    fn filter(&mut self, events: Bytes) -> Result<Outgoing, StreamEnd> {
        let mut pieces = Vec::new();
        decode_events(&mut self.decoder, self.framing, &events, &mut pieces);
        let mut out = Vec::new();
        for piece in pieces {
            if self.failure.is_some() {
                break;
            }
            self.apply(piece, &mut out)?;
        }
        Ok(Bytes::from(out).into())
    }

    fn finished(&self) -> bool {
        self.finished
    }

    fn ending(&mut self) -> Option<Bytes> {
        self.encoder.ending().map(Bytes::from)
    }

    fn take_withheld(&mut self) -> Option<Bytes> {
        self.encoder.take_withheld().map(Bytes::from)
    }

    fn take_failure(&mut self) -> Option<Failure> {
        self.failure.take()
    }
}
