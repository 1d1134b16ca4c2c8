//! The config file as written: serde structs that mirror the TOML exactly.
//! `schema.rs` has already reported unknown keys, wrong types and missing required keys (and
//! removed the offending values); `deny_unknown_fields` stays as a second guard that the
//! schema and these structs agree. Defaults come from `defaults.rs`; `validate.rs` turns this
//! into typed settings.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::defaults;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub database: DatabaseSection,
    #[serde(default)]
    pub routing: RoutingSection,
    #[serde(default)]
    pub admin: AdminSection,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub client_key: Vec<ClientKeySection>,
    #[serde(default)]
    pub upstream: Vec<UpstreamSection>,
    #[serde(default)]
    pub model: Vec<ModelSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    pub listen: String,
    pub workers: usize,
    pub pin_cores: bool,
    pub max_body_bytes: usize,
    pub shutdown_grace_ms: u64,
    pub header_timeout_ms: u64,
    pub body_timeout_ms: u64,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_connections: usize,
    pub share_port: bool,
    pub access_log: bool,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: defaults::LISTEN.into(),
            workers: defaults::WORKERS,
            pin_cores: defaults::PIN_CORES,
            max_body_bytes: defaults::MAX_BODY_BYTES,
            shutdown_grace_ms: defaults::SHUTDOWN_GRACE_MS,
            header_timeout_ms: defaults::HEADER_TIMEOUT_MS,
            body_timeout_ms: defaults::BODY_TIMEOUT_MS,
            max_header_bytes: defaults::MAX_HEADER_BYTES,
            max_headers: defaults::MAX_HEADERS,
            max_connections: defaults::MAX_CONNECTIONS,
            share_port: defaults::SHARE_PORT,
            access_log: defaults::ACCESS_LOG,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSection {
    pub url: String,
    pub store_content: bool,
    pub batch_size: usize,
    pub flush_interval_ms: u64,
    pub memory_records: usize,
    pub spill_path: String,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        Self {
            url: defaults::DATABASE_URL.into(),
            store_content: defaults::STORE_CONTENT,
            batch_size: defaults::BATCH_SIZE,
            flush_interval_ms: defaults::FLUSH_INTERVAL_MS,
            memory_records: defaults::MEMORY_RECORDS,
            spill_path: defaults::SPILL_PATH.into(),
        }
    }
}

/// Routing knobs: every one is optional so that a `[[model]]` can override a subset
/// of the `[routing]` defaults.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSection {
    pub retries: Option<u32>,
    pub backoff_base_ms: Option<u64>,
    pub backoff_max_ms: Option<u64>,
    pub max_retry_after_ms: Option<u64>,
    pub breaker_failures: Option<u32>,
    pub breaker_cooldown_ms: Option<u64>,
    pub first_token_timeout_ms: Option<u64>,
    pub stream_idle_timeout_ms: Option<u64>,
    pub continuation: Option<String>,
    pub silent_after_ms: Option<u64>,
}

/// `[admin]`: the admin endpoints (`/admin/...`) exist only when a key is configured.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    pub key_env: Option<String>,
}

/// `[limits]`: fleet mode (limits and spend shared through Redis).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    pub redis_url: Option<String>,
    pub redis_url_env: Option<String>,
    pub local_share: f64,
}

impl Default for LimitsSection {
    fn default() -> Self {
        Self {
            redis_url: None,
            redis_url_env: None,
            local_share: defaults::LOCAL_SHARE,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientKeySection {
    #[serde(default)]
    pub name: String,
    pub key: Option<String>,
    pub key_env: Option<String>,
    pub key_sha256: Option<String>,
    pub models: Option<Vec<String>>,
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
    pub max_concurrent: Option<u32>,
    pub budget: Option<BudgetSection>,
    /// A Bedrock client's SigV4 access key id, and where its secret is.
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key_env: Option<String>,
}

/// `budget = { usd = 100.0, period = "day" }` or `{ tokens = 5000000, period = "month" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSection {
    pub usd: Option<f64>,
    pub tokens: Option<u64>,
    pub period: Option<String>,
}

/// `price = { input_per_mtok = 0.15, output_per_mtok = 0.60 }`: USD per million tokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceSection {
    pub input_per_mtok: Option<f64>,
    pub output_per_mtok: Option<f64>,
    pub cached_input_per_mtok: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSection {
    #[serde(default)]
    pub name: String,
    /// Required but for the kinds with a provider URL of their own (gemini, bedrock, cohere).
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub api_key_env: Option<String>,
    pub ca_file: Option<String>,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The provider's API: `openai` (any OpenAI-compatible server), `azure`, `anthropic`.
    pub kind: Option<String>,
    /// Static extra headers sent with every request to this upstream.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Azure: the deployment API's version; without it the v1 surface is used.
    pub api_version: Option<String>,
    /// Anthropic: the `anthropic-version` header.
    pub anthropic_version: Option<String>,
    /// Bedrock: the AWS region, and the environment variables holding the credentials.
    pub region: Option<String>,
    pub aws_access_key_id_env: Option<String>,
    pub aws_secret_access_key_env: Option<String>,
    pub aws_session_token_env: Option<String>,
}

fn default_connect_timeout_ms() -> u64 {
    defaults::CONNECT_TIMEOUT_MS
}

fn default_timeout_ms() -> u64 {
    defaults::UPSTREAM_TIMEOUT_MS
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub fallbacks: Vec<String>,
    #[serde(default)]
    pub targets: Vec<TargetSection>,
    pub price: Option<PriceSection>,
    // Per-model overrides of `[routing]`, flat in the table as the config contract has them
    // (serde cannot flatten and deny unknown keys at once).
    pub retries: Option<u32>,
    pub backoff_base_ms: Option<u64>,
    pub backoff_max_ms: Option<u64>,
    pub max_retry_after_ms: Option<u64>,
    pub breaker_failures: Option<u32>,
    pub breaker_cooldown_ms: Option<u64>,
    pub first_token_timeout_ms: Option<u64>,
    pub stream_idle_timeout_ms: Option<u64>,
    pub continuation: Option<String>,
    pub silent_after_ms: Option<u64>,
}

impl ModelSection {
    pub fn routing_overrides(&self) -> RoutingSection {
        RoutingSection {
            retries: self.retries,
            backoff_base_ms: self.backoff_base_ms,
            backoff_max_ms: self.backoff_max_ms,
            max_retry_after_ms: self.max_retry_after_ms,
            breaker_failures: self.breaker_failures,
            breaker_cooldown_ms: self.breaker_cooldown_ms,
            first_token_timeout_ms: self.first_token_timeout_ms,
            stream_idle_timeout_ms: self.stream_idle_timeout_ms,
            continuation: self.continuation.clone(),
            silent_after_ms: self.silent_after_ms,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSection {
    #[serde(default)]
    pub upstream: String,
    pub model: Option<String>,
    #[serde(default = "default_weight")]
    pub weight: u32,
    pub continuation: Option<String>,
    /// Extra top-level request fields sent with a prefill continuation (e.g. vLLM's
    /// `continue_final_message = true`).
    #[serde(default)]
    pub extra_body: BTreeMap<String, toml::Value>,
}

fn default_weight() -> u32 {
    defaults::TARGET_WEIGHT
}
