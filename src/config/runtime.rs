//! The validated, typed configuration shared read-only by every worker.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use gpt_api_common::limits::{Budget, BudgetAmount, Period, Price};
pub use gpt_api_common::DatabaseSettings;

use super::Secret;

#[derive(Debug)]
pub struct Config {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub client_keys: Vec<ClientKey>,
    /// `[admin] key_env`: the admin endpoints' bearer key; without it they do not exist.
    pub admin_key: Option<Secret>,
    pub limits: LimitsSettings,
    pub upstreams: Vec<Upstream>,
    pub models: Vec<Model>,
    pub(super) model_ids: HashMap<String, ModelId>,
}

impl Config {
    pub fn model_id(&self, name: &str) -> Option<ModelId> {
        self.model_ids.get(name).copied()
    }

    pub fn model(&self, id: ModelId) -> &Model {
        &self.models[id.0]
    }

    pub fn upstream(&self, id: UpstreamId) -> &Upstream {
        &self.upstreams[id.0]
    }
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// Resolved: never 0.
    pub workers: usize,
    pub pin_cores: bool,
    pub max_body_bytes: usize,
    pub shutdown_grace: Duration,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_connections: usize,
    /// Listen on a port another process already listens on (SO_REUSEPORT across processes).
    pub share_port: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuation {
    /// End a broken stream with an in-band error event.
    None,
    /// Re-send with the delivered text as a final assistant message and forward the rest.
    Prefill,
    /// Re-send the original request and suppress output while it repeats what was delivered.
    Restart,
    /// Prefill first; a prefill the target refuses (4xx, not 429) is retried there once as
    /// a restart.
    Auto,
}

#[derive(Debug, Clone)]
pub struct RoutingPolicy {
    pub retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub max_retry_after: Duration,
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
    pub first_token_timeout: Duration,
    pub stream_idle_timeout: Duration,
    pub continuation: Continuation,
    /// A connection that closes before any response byte, later than this after the request
    /// was written, is a silent upstream (next target), not a transient blip (same target).
    pub silent_after: Duration,
}

#[derive(Debug, Clone)]
pub struct ClientKey {
    pub name: String,
    /// `None` for a key that only signs with SigV4 (`aws`).
    pub key: Option<KeyMatcher>,
    /// A Bedrock client's SigV4 credentials: the gateway checks its signatures.
    pub aws: Option<AwsKey>,
    /// Model names or `*` globs this key may use; empty means all.
    pub models: Vec<String>,
    pub limits: KeyLimits,
}

impl ClientKey {
    /// Whether the key's `models` allow `model` (all, when empty).
    pub fn may_use(&self, model: &str) -> bool {
        self.models.is_empty()
            || self
                .models
                .iter()
                .any(|pattern| glob_matches(pattern, model))
    }
}

/// `*` matches any run of characters; everything else matches itself.
pub(super) fn glob_matches(pattern: &str, name: &str) -> bool {
    let Some((prefix, rest)) = pattern.split_once('*') else {
        return pattern == name;
    };
    let Some(mut remaining) = name.strip_prefix(prefix) else {
        return false;
    };
    let mut parts = rest.split('*').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            return remaining.ends_with(part);
        }
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// `[limits]`: fleet mode.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitsSettings {
    /// Redis (or Valkey) shared by the fleet; `None`: limits are this process's alone.
    pub redis_url: Option<Secret>,
    /// With Redis away, the fraction of each limit this process may use alone (0 < x ≤ 1).
    pub local_share: f64,
}

/// A client key's limits; `None` is unlimited.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyLimits {
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub max_concurrent: Option<u64>,
    pub budget: Option<Budget>,
}

impl KeyLimits {
    pub fn any(&self) -> bool {
        *self != Self::default()
    }
}

#[derive(Debug, Clone)]
pub enum KeyMatcher {
    Plain(Secret),
    /// Lower-case hex SHA-256 of the key.
    Sha256(Secret),
}

/// An access key id and its secret: the client signs with the secret, the gateway checks.
#[derive(Debug, Clone)]
pub struct AwsKey {
    pub access_key_id: String,
    pub secret: Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UpstreamId(pub usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelId(pub usize);

#[derive(Debug, Clone)]
pub struct Upstream {
    /// Shared: every request's record names the upstream that answered it.
    pub name: Arc<str>,
    pub kind: UpstreamKind,
    pub url: UpstreamUrl,
    pub api_key: Option<Secret>,
    /// Static extra headers, sent after the gateway's own.
    pub headers: Vec<(String, String)>,
    pub ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
}

/// The provider API an upstream speaks: its URLs, its auth header, its dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamKind {
    /// Any OpenAI-compatible server: `Authorization: Bearer`, paths under the base URL.
    OpenAi,
    /// Azure OpenAI: `api-key`; with an `api_version`, the target's model is the deployment.
    Azure { api_version: Option<String> },
    /// Anthropic's Messages API: `x-api-key` and `anthropic-version`.
    Anthropic { version: String },
    /// Google's Gemini API: `x-goog-api-key`, the model in the path.
    Gemini,
    /// AWS Bedrock's Converse API: every request SigV4-signed for `region`.
    Bedrock {
        region: String,
        credentials: AwsCredentials,
    },
    /// Cohere's v2 chat: `Authorization: Bearer`.
    Cohere,
}

/// The credentials a Bedrock upstream signs with (read from the environment at load).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

impl UpstreamKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Azure { .. } => "azure",
            Self::Anthropic { .. } => "anthropic",
            Self::Gemini => "gemini",
            Self::Bedrock { .. } => "bedrock",
            Self::Cohere => "cohere",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path prefix without a trailing slash, e.g. `/v1` (may be empty).
    pub base_path: String,
}

impl UpstreamUrl {
    /// The `Host` header value: the port only when it is not the scheme's default.
    pub fn host_header(&self) -> String {
        let mut header = String::new();
        self.push_host_header(&mut header);
        header
    }

    /// `host_header` written onto `out` (per request, without an allocation of its own).
    pub fn push_host_header(&self, out: &mut String) {
        out.push_str(&self.host);
        if self.port != if self.tls { 443 } else { 80 } {
            out.push(':');
            out.push_str(itoa::Buffer::new().format(self.port));
        }
    }
}

#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub fallbacks: Vec<ModelId>,
    pub targets: Vec<Target>,
    pub routing: RoutingPolicy,
    pub price: Option<Price>,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub upstream: UpstreamId,
    /// The model name sent upstream (shared with the records that name it).
    pub upstream_model: Arc<str>,
    /// `upstream/upstream-model`, as the Tried list and the attempts timeline show it.
    pub label: Arc<str>,
    pub weight: u32,
    pub continuation: Continuation,
    /// Extra top-level JSON fields for prefill continuations, serialized as `"k":v` pairs.
    pub extra_body: Vec<(String, String)>,
}
