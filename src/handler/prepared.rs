//! A proxied request once checked: its parsed body, the model it routes by, its endpoint.

use super::body::RequestBody;
use crate::config::{Continuation, ModelId};
use crate::dispatch::AttemptTarget;
use crate::http::router::Endpoint;

pub struct Prepared {
    pub body: RequestBody,
    pub model: ModelId,
    pub endpoint: Endpoint,
}

impl Prepared {
    /// Whether the answer goes out as SSE (only endpoints that can stream do).
    pub fn streams(&self) -> bool {
        self.body.stream && self.endpoint.can_stream()
    }

    /// Whether a break of this stream could be continued: chat, one choice, no tools, and a
    /// continuation mode configured for the model or one of its targets.
    pub fn can_recover(&self, target: &AttemptTarget<'_>) -> bool {
        self.endpoint == Endpoint::ChatCompletions
            && !self.body.multi_choice_or_tools
            && (target.model.routing.continuation != Continuation::None
                || target
                    .model
                    .targets
                    .iter()
                    .any(|t| t.continuation != Continuation::None))
    }
}
