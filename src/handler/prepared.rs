//! A proxied request once checked: its parsed body, the model it routes by, its endpoint and
//! dialect, and how it reaches each kind of target (`Bridge`): as sent, or translated. The
//! translation is made once per request, when some target needs it; a target that cannot
//! serve the request (its API lacks the endpoint, or a field has no counterpart there) is
//! skipped, and a request no target can serve is refused up front.

use bytes::Bytes;

use super::body::RequestBody;
use crate::config::{Config, Continuation, ModelId, UpstreamKind};
use crate::dialect::{Dialect, Framing};
use crate::dispatch::{upstream_key, AttemptPlan, AttemptTarget, Dispatcher, ResponseAffinity};
use crate::error::AppError;
use crate::http::router::Endpoint;
use crate::upstream::operation_path;

/// How a request reaches one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bridge {
    /// The target speaks the client's dialect: the body goes as sent (model renamed).
    Same,
    /// The target speaks another dialect: the body translated into its dialect goes.
    Translated,
}

pub struct Prepared {
    /// The client's body.
    pub body: RequestBody,
    pub model: ModelId,
    pub endpoint: Endpoint,
    /// The client's dialect.
    pub dialect: Dialect,
    /// The body translated into each other dialect a target speaks, made on first need. A
    /// list, not an array by dialect: empty it costs 24 bytes instead of a KiB in every
    /// request's future.
    translated: Vec<(Dialect, RequestBody)>,
    /// The upstreams that can serve this request, by id; `None`: all of them.
    pub only_upstreams: Option<Vec<bool>>,
    /// How the client reads a stream: its dialect's framing, or a JSON array for a Gemini
    /// client that did not ask for `alt=sse`.
    pub client_framing: Framing,
}

/// What one attempt sends, and where.
pub struct UpstreamCall {
    pub path: String,
    pub body: Bytes,
}

/// The dialect an upstream kind answers chat-family requests in.
fn upstream_dialect(kind: &UpstreamKind) -> Dialect {
    match kind {
        UpstreamKind::OpenAi | UpstreamKind::Azure { .. } => Dialect::Chat,
        UpstreamKind::Anthropic { .. } => Dialect::Anthropic,
        UpstreamKind::Gemini => Dialect::Gemini,
        UpstreamKind::Bedrock { .. } => Dialect::Converse,
        UpstreamKind::Cohere => Dialect::Cohere,
    }
}

/// The dialect of a client calling `endpoint`.
pub fn client_dialect(endpoint: Endpoint) -> Dialect {
    match endpoint {
        Endpoint::Messages => Dialect::Anthropic,
        Endpoint::Responses => Dialect::Responses,
        Endpoint::GeminiGenerate | Endpoint::GeminiStream => Dialect::Gemini,
        Endpoint::Converse | Endpoint::ConverseStream => Dialect::Converse,
        Endpoint::CohereChat => Dialect::Cohere,
        Endpoint::ChatCompletions
        | Endpoint::Completions
        | Endpoint::Embeddings
        | Endpoint::Rerank => Dialect::Chat,
    }
}

/// Whether upstreams of `kind` serve OpenAI's own endpoints (Responses, completions,
/// embeddings, rerank) as they are.
fn speaks_openai(kind: &UpstreamKind) -> bool {
    matches!(kind, UpstreamKind::OpenAi | UpstreamKind::Azure { .. })
}

/// How `endpoint` reaches an upstream of `kind`; `None` when it cannot.
fn bridge(endpoint: Endpoint, kind: &UpstreamKind) -> Option<Bridge> {
    match endpoint {
        Endpoint::Completions | Endpoint::Embeddings | Endpoint::Rerank => {
            speaks_openai(kind).then_some(Bridge::Same)
        }
        Endpoint::Responses if speaks_openai(kind) => Some(Bridge::Same),
        _ if client_dialect(endpoint) == upstream_dialect(kind) => Some(Bridge::Same),
        _ => Some(Bridge::Translated),
    }
}

impl Prepared {
    /// Checks that some target of the model (or of its fallbacks) can serve the request,
    /// translating the body for the targets of the other dialect when there are any.
    pub fn new(
        body: RequestBody,
        model: ModelId,
        endpoint: Endpoint,
        config: &Config,
        affinity: &ResponseAffinity,
    ) -> Result<Self, AppError> {
        let dialect = client_dialect(endpoint);
        let mut prepared = Self {
            body,
            model,
            endpoint,
            dialect,
            translated: Vec::new(),
            only_upstreams: None,
            client_framing: dialect.framing(),
        };
        let issuer = match endpoint {
            Endpoint::Responses => prepared.previous_response_issuer(affinity),
            _ => None,
        };
        // The usual case, without allocating: every upstream takes the request as sent.
        let all_same = config
            .upstreams
            .iter()
            .all(|u| bridge(endpoint, &u.kind) == Some(Bridge::Same));
        if all_same && issuer.is_none() {
            return Ok(prepared);
        }
        let mut untranslatable = None;
        let mut allowed = vec![false; config.upstreams.len()];
        for upstream in reachable_upstreams(config, model) {
            let serves = match bridge(endpoint, &config.upstream(upstream).kind) {
                None => false,
                Some(Bridge::Same) => true,
                Some(Bridge::Translated) => match prepared.translate(config.upstream(upstream)) {
                    Ok(()) => true,
                    Err(message) => {
                        untranslatable = Some(message);
                        false
                    }
                },
            };
            let issued =
                issuer.is_none_or(|key| upstream_key(&config.upstream(upstream).name) == key);
            allowed[upstream.0] = serves && issued;
        }
        if !allowed.iter().any(|&a| a) {
            let model = &config.model(model).name;
            let why = match (untranslatable, issuer) {
                (Some(message), _) => format!(
                    "The request cannot be sent to any target of model '{model}': {message}"
                ),
                (None, Some(_)) => format!(
                    "The response named in 'previous_response_id' was issued by an upstream that model '{model}' no longer routes to"
                ),
                (None, None) => format!(
                    "Model '{model}' has no target that serves {}: only targets of kind openai or azure do",
                    endpoint.path()
                ),
            };
            return Err(AppError::Unservable(why));
        }
        if allowed.iter().any(|&a| !a) {
            prepared.only_upstreams = Some(allowed);
        }
        Ok(prepared)
    }

    /// The body in `upstream`'s dialect, made on first need.
    fn translate(&mut self, upstream: &crate::config::Upstream) -> Result<(), String> {
        let into = upstream_dialect(&upstream.kind);
        if self.translated_into(into).is_some() {
            return Ok(());
        }
        let body = &self.body;
        let translated = self
            .dialect
            .translate_request(into, &body.raw, &body.model, body.stream)
            .map_err(|refused| {
                format!(
                    "{} (upstream '{}' is of kind {})",
                    refused.0,
                    upstream.name,
                    upstream.kind.name()
                )
            })?;
        let routed = Some((body.model.as_str(), body.stream));
        let body = RequestBody::parse_routed(Bytes::from(translated), into, routed)
            .map_err(|e| e.message())?;
        self.translated.push((into, body));
        Ok(())
    }

    fn translated_into(&self, dialect: Dialect) -> Option<&RequestBody> {
        let mut bodies = self.translated.iter();
        bodies.find_map(|(into, body)| (*into == dialect).then_some(body))
    }

    /// The key of the upstream that issued the response a Responses request continues.
    fn previous_response_issuer(&self, affinity: &ResponseAffinity) -> Option<u32> {
        affinity.upstream_of(self.body.previous_response_id.as_deref()?)
    }

    /// Whether the answer goes out as SSE (only endpoints that can stream do).
    pub fn streams(&self) -> bool {
        self.body.stream && self.endpoint.can_stream()
    }

    /// The body `target` gets (before renaming the model), and whether it is translated.
    pub fn body_for(&self, target: &AttemptTarget<'_>) -> (&RequestBody, Bridge) {
        let kind = &target.upstream.kind;
        let translated = self.translated_into(upstream_dialect(kind));
        match (bridge(self.endpoint, kind), translated) {
            (Some(Bridge::Translated), Some(translated)) => (translated, Bridge::Translated),
            _ => (&self.body, Bridge::Same),
        }
    }

    /// The plan of attempts, kept to the upstreams that can serve this request.
    pub fn plan<'d>(&self, dispatcher: &'d Dispatcher) -> AttemptPlan<'d> {
        let mut plan = dispatcher.plan(self.model);
        if let Some(allowed) = &self.only_upstreams {
            plan.only_upstreams(allowed.clone());
        }
        plan
    }

    /// The dialect `target` answers this request in.
    pub fn upstream_dialect(&self, target: &AttemptTarget<'_>) -> Dialect {
        match self.body_for(target).1 {
            Bridge::Same => self.dialect,
            Bridge::Translated => upstream_dialect(&target.upstream.kind),
        }
    }

    /// The request one attempt sends to `target`, with `body` made for it.
    pub fn call_for(&self, target: &AttemptTarget<'_>, body: Bytes) -> UpstreamCall {
        let operation = match self.body_for(target).1 {
            Bridge::Same => self.endpoint.upstream_path(),
            Bridge::Translated if self.upstream_dialect(target) == Dialect::Anthropic => {
                Endpoint::Messages.upstream_path()
            }
            Bridge::Translated => Endpoint::ChatCompletions.upstream_path(),
        };
        let model = &target.target.upstream_model;
        UpstreamCall {
            path: operation_path(target.upstream, operation, model, self.streams()),
            body,
        }
    }

    /// The plain request for `target`: its body with the model renamed.
    pub fn request_for(&self, target: &AttemptTarget<'_>) -> UpstreamCall {
        let body = self
            .body_for(target)
            .0
            .for_upstream(&target.target.upstream_model);
        self.call_for(target, body)
    }

    /// Whether a break of this stream could be continued: chat, Responses, Messages, Gemini,
    /// Converse or Cohere, one choice, no tools, and a continuation mode configured for the
    /// model or one of its targets.
    pub fn can_recover(&self, target: &AttemptTarget<'_>) -> bool {
        matches!(
            self.endpoint,
            Endpoint::ChatCompletions
                | Endpoint::Responses
                | Endpoint::Messages
                | Endpoint::GeminiStream
                | Endpoint::ConverseStream
                | Endpoint::CohereChat
        ) && !self.body.multi_choice_or_tools
            && (target.model.routing.continuation != Continuation::None
                || target
                    .model
                    .targets
                    .iter()
                    .any(|t| t.continuation != Continuation::None))
    }
}

/// The upstreams of the model's targets and of its fallbacks' (transitively), each once.
fn reachable_upstreams(config: &Config, model: ModelId) -> Vec<crate::config::UpstreamId> {
    let mut models = vec![model];
    let mut upstreams = Vec::new();
    let mut at = 0;
    while let Some(&id) = models.get(at) {
        at += 1;
        let model = config.model(id);
        for target in &model.targets {
            if !upstreams.contains(&target.upstream) {
                upstreams.push(target.upstream);
            }
        }
        for fallback in &model.fallbacks {
            if !models.contains(fallback) {
                models.push(*fallback);
            }
        }
    }
    upstreams
}
