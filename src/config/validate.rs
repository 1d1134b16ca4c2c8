//! Checks a parsed config file and builds the runtime config, collecting every problem
//! (with its location) instead of stopping at the first.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::file::{
    BudgetSection, ClientKeySection, ConfigFile, ModelSection, PriceSection, RoutingSection,
    TargetSection, UpstreamSection,
};
use super::runtime::*;
use super::{defaults, ConfigProblem, Secret};

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

#[derive(Default)]
pub(super) struct Problems(Vec<ConfigProblem>);

impl Problems {
    pub(super) fn add(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigProblem {
            location: location.into(),
            message: message.into(),
        });
    }

    pub(super) fn into_vec(self) -> Vec<ConfigProblem> {
        self.0
    }
}

/// Checks the values of `file` and builds the runtime config; `problems` may already hold
/// what the schema check found (then no config is returned, but every value is still checked).
pub(super) fn build(
    file: ConfigFile,
    env: Env,
    mut problems: Problems,
) -> Result<Config, Vec<ConfigProblem>> {
    let server = server_settings(&file, &mut problems);
    let database = database_settings(&file, &mut problems);
    // `[routing]` is resolved (and reported) once; each model then overrides what it sets.
    let routing = routing_policy(&builtin_routing(), &file.routing, "routing", &mut problems);
    let client_keys = client_keys(&file, env, &mut problems);
    let limits = limits_settings(&file, env, &mut problems);
    let admin_key = match secret(
        &None,
        &file.admin.key_env,
        "admin",
        "key",
        env,
        &mut problems,
    ) {
        SecretSource::Given(key) => Some(key),
        SecretSource::Absent | SecretSource::Reported => None,
    };
    let upstreams = upstreams(&file.upstream, env, &mut problems);
    let upstream_ids: HashMap<&str, UpstreamId> = upstreams
        .iter()
        .enumerate()
        .map(|(i, u)| (&*u.name, UpstreamId(i)))
        .collect();
    let model_ids = unique_names(
        file.model.iter().map(|m| m.name.as_str()),
        "model",
        &mut problems,
    )
    .into_iter()
    .map(|(name, i)| (name.to_string(), ModelId(i)))
    .collect::<HashMap<_, _>>();
    let models = file
        .model
        .iter()
        .enumerate()
        .map(|(i, m)| model(m, i, &routing, &upstream_ids, &model_ids, &mut problems))
        .collect::<Vec<_>>();
    check_fallback_cycles(&models, &mut problems);
    check_budget_prices(&client_keys, &models, &mut problems);
    if !problems.0.is_empty() {
        return Err(problems.0);
    }
    Ok(Config {
        server,
        database,
        client_keys,
        admin_key,
        limits,
        upstreams,
        models,
        model_ids,
    })
}

const MAX_HEADERS_CEILING: usize = 10_000;

fn server_settings(file: &ConfigFile, problems: &mut Problems) -> ServerSettings {
    let s = &file.server;
    let listen = s.listen.parse::<SocketAddr>().unwrap_or_else(|_| {
        problems.add(
            "server.listen",
            format!("'{}' is not an address like 127.0.0.1:8080", s.listen),
        );
        SocketAddr::from(([127, 0, 0, 1], 8080))
    });
    for (key, value) in [
        ("server.max_body_bytes", s.max_body_bytes),
        ("server.max_header_bytes", s.max_header_bytes),
        ("server.max_connections", s.max_connections),
    ] {
        if value == 0 {
            problems.add(key, "must be greater than 0");
        }
    }
    // Each parse holds a slot per allowed header field (32 bytes each).
    if !(1..=MAX_HEADERS_CEILING).contains(&s.max_headers) {
        problems.add(
            "server.max_headers",
            format!("must be between 1 and {MAX_HEADERS_CEILING}"),
        );
    }
    ServerSettings {
        listen,
        workers: if s.workers == 0 {
            available_cores()
        } else {
            s.workers
        },
        pin_cores: s.pin_cores,
        max_body_bytes: s.max_body_bytes,
        shutdown_grace: Duration::from_millis(s.shutdown_grace_ms),
        header_timeout: positive_ms(s.header_timeout_ms, "server.header_timeout_ms", problems),
        body_timeout: positive_ms(s.body_timeout_ms, "server.body_timeout_ms", problems),
        max_header_bytes: s.max_header_bytes,
        max_headers: s.max_headers,
        max_connections: s.max_connections,
        share_port: s.share_port,
    }
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn database_settings(file: &ConfigFile, problems: &mut Problems) -> DatabaseSettings {
    let d = &file.database;
    if !["sqlite:", "postgres:", "postgresql:"]
        .iter()
        .any(|scheme| d.url.starts_with(scheme))
    {
        problems.add("database.url", "must start with sqlite:// or postgres://");
    }
    if d.batch_size == 0 {
        problems.add("database.batch_size", "must be greater than 0");
    }
    DatabaseSettings {
        url: d.url.clone(),
        store_content: d.store_content,
        access_log: file.server.access_log,
        batch_size: d.batch_size.max(1),
        flush_interval: positive_ms(d.flush_interval_ms, "database.flush_interval_ms", problems),
        memory_records: d.memory_records,
        spill_path: PathBuf::from(&d.spill_path),
    }
}

fn positive_ms(ms: u64, location: &str, problems: &mut Problems) -> Duration {
    if ms == 0 {
        problems.add(location, "must be greater than 0");
    }
    Duration::from_millis(ms.max(1))
}

/// The routing policy where neither `[routing]` nor a model sets a key.
fn builtin_routing() -> RoutingPolicy {
    let ms = Duration::from_millis;
    RoutingPolicy {
        retries: defaults::RETRIES,
        backoff_base: ms(defaults::BACKOFF_BASE_MS),
        backoff_max: ms(defaults::BACKOFF_MAX_MS),
        max_retry_after: ms(defaults::MAX_RETRY_AFTER_MS),
        breaker_failures: defaults::BREAKER_FAILURES,
        breaker_cooldown: ms(defaults::BREAKER_COOLDOWN_MS),
        first_token_timeout: ms(defaults::FIRST_TOKEN_TIMEOUT_MS),
        stream_idle_timeout: ms(defaults::STREAM_IDLE_TIMEOUT_MS),
        continuation: parse_continuation(defaults::CONTINUATION, "", &mut Problems::default()),
        silent_after: ms(defaults::SILENT_AFTER_MS),
    }
}

/// `base` with the keys `set` gives; only those are checked (and reported at `location`),
/// so a bad `[routing]` value is reported once, not again for every model that inherits it.
fn routing_policy(
    base: &RoutingPolicy,
    set: &RoutingSection,
    location: &str,
    problems: &mut Problems,
) -> RoutingPolicy {
    let ms = |value: Option<u64>, base: Duration| value.map_or(base, Duration::from_millis);
    let mut positive = |value: Option<u64>, key: &str| {
        if value == Some(0) {
            problems.add(format!("{location}.{key}"), "must be greater than 0");
        }
    };
    positive(set.breaker_failures.map(u64::from), "breaker_failures");
    positive(set.first_token_timeout_ms, "first_token_timeout_ms");
    positive(set.stream_idle_timeout_ms, "stream_idle_timeout_ms");
    RoutingPolicy {
        retries: set.retries.unwrap_or(base.retries),
        backoff_base: ms(set.backoff_base_ms, base.backoff_base),
        backoff_max: ms(set.backoff_max_ms, base.backoff_max),
        max_retry_after: ms(set.max_retry_after_ms, base.max_retry_after),
        breaker_failures: set.breaker_failures.unwrap_or(base.breaker_failures),
        breaker_cooldown: ms(set.breaker_cooldown_ms, base.breaker_cooldown),
        first_token_timeout: ms(set.first_token_timeout_ms, base.first_token_timeout),
        stream_idle_timeout: ms(set.stream_idle_timeout_ms, base.stream_idle_timeout),
        continuation: set
            .continuation
            .as_deref()
            .map_or(base.continuation, |text| {
                parse_continuation(text, &format!("{location}.continuation"), problems)
            }),
        silent_after: ms(set.silent_after_ms, base.silent_after),
    }
}

fn parse_continuation(text: &str, location: &str, problems: &mut Problems) -> Continuation {
    match text {
        "none" => Continuation::None,
        "prefill" => Continuation::Prefill,
        "restart" => Continuation::Restart,
        "auto" => Continuation::Auto,
        other => {
            problems.add(
                location,
                format!("'{other}' is not one of \"prefill\", \"restart\", \"auto\", \"none\""),
            );
            Continuation::None
        }
    }
}

/// A secret given inline or by environment variable name.
enum SecretSource {
    Given(Secret),
    Absent,
    /// Something was wrong and has been reported.
    Reported,
}

/// Reads the secret `key` of a section, given inline or by `{key}_env`; problems are
/// reported at the key that has them (`client_key[0].key_env`).
fn secret(
    inline: &Option<String>,
    env_name: &Option<String>,
    location: &str,
    key: &str,
    env: Env,
    problems: &mut Problems,
) -> SecretSource {
    match (inline, env_name) {
        (Some(_), Some(_)) => {
            problems.add(
                format!("{location}.{key}"),
                format!("give {key} or {key}_env, not both"),
            );
            SecretSource::Reported
        }
        (Some(value), None) => SecretSource::Given(Secret::new(value.clone())),
        (None, Some(name)) => match env(name) {
            Some(value) if !value.is_empty() => SecretSource::Given(Secret::new(value)),
            _ => {
                problems.add(
                    format!("{location}.{key}_env"),
                    format!("environment variable {name} is not set"),
                );
                SecretSource::Reported
            }
        },
        (None, None) => SecretSource::Absent,
    }
}

fn client_keys(file: &ConfigFile, env: Env, problems: &mut Problems) -> Vec<ClientKey> {
    unique_names(
        file.client_key.iter().map(|k| k.name.as_str()),
        "client_key",
        problems,
    );
    let mut keys = Vec::new();
    for (i, section) in file.client_key.iter().enumerate() {
        let location = format!("client_key[{i}]");
        let plain = secret(
            &section.key,
            &section.key_env,
            &location,
            "key",
            env,
            problems,
        );
        let aws = aws_key(section, &location, env, problems);
        let key = match (plain, &section.key_sha256) {
            (SecretSource::Reported, _) => continue,
            (SecretSource::Given(_), Some(_)) => {
                problems.add(&location, "give key/key_env or key_sha256, not both");
                continue;
            }
            (SecretSource::Given(secret), None) => Some(KeyMatcher::Plain(secret)),
            (SecretSource::Absent, Some(hash)) => {
                let hash = hash.to_ascii_lowercase();
                if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    problems.add(format!("{location}.key_sha256"), "must be 64 hex digits");
                }
                Some(KeyMatcher::Sha256(Secret::new(hash)))
            }
            (SecretSource::Absent, None) if aws.is_some() => None,
            // Half an AWS key (or an unset secret) was reported by `aws_key`: once is enough.
            (SecretSource::Absent, None)
                if section.aws_access_key_id.is_some()
                    || section.aws_secret_access_key_env.is_some() =>
            {
                continue
            }
            (SecretSource::Absent, None) => {
                problems.add(
                    &location,
                    "needs key, key_env, key_sha256 or aws_access_key_id",
                );
                continue;
            }
        };
        let budget = section
            .budget
            .as_ref()
            .and_then(|budget| self::budget(budget, &format!("{location}.budget"), problems));
        let positive = |value: Option<u32>, name: &str, problems: &mut Problems| {
            if value == Some(0) {
                problems.add(format!("{location}.{name}"), "must be greater than 0");
            }
            value.map(u64::from)
        };
        let limits = KeyLimits {
            rpm: positive(section.rpm, "rpm", problems),
            tpm: positive(section.tpm, "tpm", problems),
            max_concurrent: positive(section.max_concurrent, "max_concurrent", problems),
            budget,
        };
        keys.push(ClientKey {
            name: section.name.clone(),
            key,
            aws,
            models: section.models.clone().unwrap_or_default(),
            limits,
        });
    }
    keys
}

fn limits_settings(file: &ConfigFile, env: Env, problems: &mut Problems) -> LimitsSettings {
    let l = &file.limits;
    let redis_url = match secret(
        &l.redis_url,
        &l.redis_url_env,
        "limits",
        "redis_url",
        env,
        problems,
    ) {
        SecretSource::Given(url) => Some(url),
        SecretSource::Absent | SecretSource::Reported => None,
    };
    if let Some(url) = &redis_url {
        let url = url.expose();
        if !(url.starts_with("redis://")
            || url.starts_with("rediss://")
            || url.starts_with("unix:"))
        {
            problems.add(
                "limits.redis_url",
                "must start with redis://, rediss:// or unix:",
            );
        }
    }
    if !(l.local_share > 0.0 && l.local_share <= 1.0) {
        problems.add("limits.local_share", "must be more than 0 and at most 1");
    }
    LimitsSettings {
        redis_url,
        local_share: l.local_share,
    }
}

/// `{ usd = …, period = … }` or `{ tokens = …, period = … }`.
fn budget(section: &BudgetSection, location: &str, problems: &mut Problems) -> Option<Budget> {
    let amount = match (section.usd, section.tokens) {
        (Some(usd), None) => BudgetAmount::Usd(usd),
        (None, Some(tokens)) => BudgetAmount::Tokens(tokens),
        _ => {
            problems.add(location, "give usd or tokens (one of them)");
            return None;
        }
    };
    let period = match section.period.as_deref() {
        Some("day") => Period::Day,
        Some("week") => Period::Week,
        Some("month") => Period::Month,
        Some(other) => {
            let message = format!("'{other}' is not one of \"day\", \"week\", \"month\"");
            problems.add(format!("{location}.period"), message);
            return None;
        }
        None => {
            problems.add(format!("{location}.period"), "required key missing");
            return None;
        }
    };
    Some(Budget { amount, period })
}

/// `price = { input_per_mtok, output_per_mtok, cached_input_per_mtok }`; the first two needed.
fn price(section: &PriceSection, location: &str, problems: &mut Problems) -> Option<Price> {
    let mut required = |value: Option<f64>, key: &str| {
        if value.is_none() {
            problems.add(format!("{location}.{key}"), "required key missing");
        }
        value
    };
    let input = required(section.input_per_mtok, "input_per_mtok");
    let output = required(section.output_per_mtok, "output_per_mtok");
    Some(Price {
        input_per_mtok: input?,
        output_per_mtok: output?,
        cached_input_per_mtok: section.cached_input_per_mtok,
    })
}

/// A key with a USD budget may only use priced models: its spend must be countable.
fn check_budget_prices(keys: &[ClientKey], models: &[Model], problems: &mut Problems) {
    for (i, key) in keys.iter().enumerate() {
        let Some(Budget {
            amount: BudgetAmount::Usd(_),
            ..
        }) = key.limits.budget
        else {
            continue;
        };
        let unpriced: Vec<&str> = models
            .iter()
            .filter(|model| model.price.is_none() && key.may_use(&model.name))
            .map(|model| model.name.as_str())
            .collect();
        if !unpriced.is_empty() {
            problems.add(
                format!("client_key[{i}].budget"),
                format!(
                    "a USD budget needs a price on every model the key may use; without one: {}",
                    unpriced.join(", ")
                ),
            );
        }
    }
}

/// A Bedrock client's access key id and secret: both or neither.
fn aws_key(
    section: &ClientKeySection,
    location: &str,
    env: Env,
    problems: &mut Problems,
) -> Option<AwsKey> {
    let id = section.aws_access_key_id.as_ref();
    let secret = secret(
        &None,
        &section.aws_secret_access_key_env,
        location,
        "aws_secret_access_key",
        env,
        problems,
    );
    match (id, secret) {
        (Some(id), SecretSource::Given(secret)) => Some(AwsKey {
            access_key_id: id.clone(),
            secret,
        }),
        (None, SecretSource::Absent) | (_, SecretSource::Reported) => None,
        (Some(_), SecretSource::Absent) => {
            problems.add(
                format!("{location}.aws_secret_access_key_env"),
                "required with aws_access_key_id",
            );
            None
        }
        (None, SecretSource::Given(_)) => {
            problems.add(
                format!("{location}.aws_access_key_id"),
                "required with aws_secret_access_key_env",
            );
            None
        }
    }
}

fn upstreams(sections: &[UpstreamSection], env: Env, problems: &mut Problems) -> Vec<Upstream> {
    unique_names(sections.iter().map(|u| &*u.name), "upstream", problems);
    sections
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let location = format!("upstream[{i}]");
            let kind = upstream_kind(u, &location, env, problems);
            let base_url = match (&u.base_url, default_base_url(&kind)) {
                (Some(url), _) => url.clone(),
                (None, Some(url)) => url,
                (None, None) => {
                    problems.add(format!("{location}.base_url"), "required key missing");
                    String::new()
                }
            };
            let url = parse_upstream_url(&base_url).unwrap_or_else(|message| {
                // A missing URL has been reported above.
                if !base_url.is_empty() {
                    problems.add(format!("{location}.base_url"), message);
                }
                UpstreamUrl {
                    tls: false,
                    host: String::new(),
                    port: 0,
                    base_path: String::new(),
                }
            });
            let ca_file = u.ca_file.as_ref().map(PathBuf::from);
            if let Some(path) = &ca_file {
                if !path.is_file() {
                    problems.add(
                        format!("{location}.ca_file"),
                        format!("{} is not a readable file", path.display()),
                    );
                }
            }
            Upstream {
                name: Arc::from(&*u.name),
                kind,
                headers: extra_headers(&u.headers, &location, problems),
                url,
                api_key: match secret(
                    &u.api_key,
                    &u.api_key_env,
                    &location,
                    "api_key",
                    env,
                    problems,
                ) {
                    SecretSource::Given(secret) => Some(secret),
                    SecretSource::Absent | SecretSource::Reported => None,
                },
                ca_file,
                connect_timeout: positive_ms(
                    u.connect_timeout_ms,
                    &format!("{location}.connect_timeout_ms"),
                    problems,
                ),
                timeout: positive_ms(u.timeout_ms, &format!("{location}.timeout_ms"), problems),
            }
        })
        .collect()
}

/// The provider's own URL, for the kinds that have one.
fn default_base_url(kind: &UpstreamKind) -> Option<String> {
    match kind {
        UpstreamKind::Gemini => Some(defaults::GEMINI_BASE_URL.into()),
        UpstreamKind::Cohere => Some(defaults::COHERE_BASE_URL.into()),
        UpstreamKind::Bedrock { region, .. } => {
            Some(format!("https://bedrock-runtime.{region}.amazonaws.com"))
        }
        UpstreamKind::OpenAi | UpstreamKind::Azure { .. } | UpstreamKind::Anthropic { .. } => None,
    }
}

/// A Bedrock upstream's credentials, from the environment variables the config names.
fn aws_credentials(
    u: &UpstreamSection,
    location: &str,
    env: Env,
    problems: &mut Problems,
) -> AwsCredentials {
    let mut read = |name: &Option<String>, key: &str, required: bool| match (
        secret(&None, name, location, key, env, problems),
        required,
    ) {
        (SecretSource::Given(secret), _) => Some(secret),
        (SecretSource::Absent, true) => {
            problems.add(
                format!("{location}.{key}_env"),
                "required for kind = \"bedrock\"",
            );
            None
        }
        _ => None,
    };
    let empty = || Secret::new(String::new());
    AwsCredentials {
        access_key_id: read(&u.aws_access_key_id_env, "aws_access_key_id", true)
            .unwrap_or_else(empty),
        secret_access_key: read(&u.aws_secret_access_key_env, "aws_secret_access_key", true)
            .unwrap_or_else(empty),
        session_token: read(&u.aws_session_token_env, "aws_session_token", false),
    }
}

fn upstream_kind(
    u: &UpstreamSection,
    location: &str,
    env: Env,
    problems: &mut Problems,
) -> UpstreamKind {
    let name = u.kind.as_deref().unwrap_or(defaults::UPSTREAM_KIND);
    let kind = match name {
        "openai" => UpstreamKind::OpenAi,
        "azure" => UpstreamKind::Azure {
            api_version: u.api_version.clone(),
        },
        "anthropic" => UpstreamKind::Anthropic {
            version: u
                .anthropic_version
                .clone()
                .unwrap_or_else(|| defaults::ANTHROPIC_VERSION.into()),
        },
        "gemini" => UpstreamKind::Gemini,
        "cohere" => UpstreamKind::Cohere,
        "bedrock" => UpstreamKind::Bedrock {
            region: u.region.clone().unwrap_or_else(|| {
                problems.add(
                    format!("{location}.region"),
                    "required for kind = \"bedrock\"",
                );
                String::new()
            }),
            credentials: aws_credentials(u, location, env, problems),
        },
        other => {
            problems.add(
                format!("{location}.kind"),
                format!(
                    "unknown kind '{other}': expected openai, azure, anthropic, gemini, bedrock or cohere"
                ),
            );
            UpstreamKind::OpenAi
        }
    };
    let misplaced = [
        ("api_version", u.api_version.is_some(), "azure"),
        (
            "anthropic_version",
            u.anthropic_version.is_some(),
            "anthropic",
        ),
        ("region", u.region.is_some(), "bedrock"),
        (
            "aws_access_key_id_env",
            u.aws_access_key_id_env.is_some(),
            "bedrock",
        ),
        (
            "aws_secret_access_key_env",
            u.aws_secret_access_key_env.is_some(),
            "bedrock",
        ),
        (
            "aws_session_token_env",
            u.aws_session_token_env.is_some(),
            "bedrock",
        ),
    ];
    for (key, set, owner) in misplaced {
        if set && kind.name() != owner && name == kind.name() {
            problems.add(
                format!("{location}.{key}"),
                format!("only applies to kind = \"{owner}\""),
            );
        }
    }
    kind
}

/// Header names and values that HTTP/1.1 can carry; the gateway's own are not overridden.
fn extra_headers(
    headers: &BTreeMap<String, String>,
    location: &str,
    problems: &mut Problems,
) -> Vec<(String, String)> {
    const OWN: &[&str] = &["host", "content-length", "transfer-encoding", "connection"];
    let mut valid = Vec::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || http::HeaderValue::from_str(value).is_err()
        {
            problems.add(
                format!("{location}.headers.{name}"),
                "not a valid HTTP header name and value",
            );
        } else if OWN.contains(&lower.as_str()) {
            problems.add(
                format!("{location}.headers.{name}"),
                "is set by the gateway itself",
            );
        } else {
            valid.push((lower, value.clone()));
        }
    }
    valid
}

/// `http(s)://host[:port][/path]`, without query or fragment.
pub(super) fn parse_upstream_url(text: &str) -> Result<UpstreamUrl, String> {
    let (tls, rest) = if let Some(rest) = text.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = text.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(format!("'{text}' must start with http:// or https://"));
    };
    if rest.contains(['?', '#', '@']) {
        return Err(format!(
            "'{text}' must not have a query, fragment or user info"
        ));
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("'{text}' has a bad port"))?;
            (host, port)
        }
        _ => (authority, if tls { 443 } else { 80 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("'{text}' has no host"));
    }
    Ok(UpstreamUrl {
        tls,
        host: host.to_string(),
        port,
        base_path: path.trim_end_matches('/').to_string(),
    })
}

fn model(
    section: &ModelSection,
    index: usize,
    routing: &RoutingPolicy,
    upstream_ids: &HashMap<&str, UpstreamId>,
    model_ids: &HashMap<String, ModelId>,
    problems: &mut Problems,
) -> Model {
    let location = format!("model[{index}]");
    let routing = routing_policy(routing, &section.routing_overrides(), &location, problems);
    if section.targets.is_empty() {
        problems.add(format!("{location}.targets"), "needs at least one target");
    }
    let targets = section
        .targets
        .iter()
        .enumerate()
        .filter_map(|(t, target)| {
            self::target(
                section,
                target,
                &format!("{location}.targets[{t}]"),
                routing.continuation,
                upstream_ids,
                problems,
            )
        })
        .collect();
    let fallbacks = section
        .fallbacks
        .iter()
        .enumerate()
        .filter_map(|(f, name)| {
            let found = model_ids.get(name).copied();
            if found.is_none() {
                problems.add(
                    format!("{location}.fallbacks[{f}]"),
                    format!("unknown model '{name}'"),
                );
            } else if name == &section.name {
                problems.add(
                    format!("{location}.fallbacks[{f}]"),
                    "a model cannot fall back to itself",
                );
                return None;
            }
            found
        })
        .collect();
    Model {
        name: section.name.clone(),
        fallbacks,
        targets,
        routing,
        price: section
            .price
            .as_ref()
            .and_then(|price| self::price(price, &format!("{location}.price"), problems)),
    }
}

fn target(
    model: &ModelSection,
    target: &TargetSection,
    location: &str,
    model_continuation: Continuation,
    upstream_ids: &HashMap<&str, UpstreamId>,
    problems: &mut Problems,
) -> Option<Target> {
    if target.weight == 0 {
        problems.add(format!("{location}.weight"), "must be greater than 0");
    }
    let continuation = match &target.continuation {
        Some(text) => parse_continuation(text, &format!("{location}.continuation"), problems),
        None => model_continuation,
    };
    let extra_body = target
        .extra_body
        .iter()
        .map(|(key, value)| {
            let json = simd_json::to_string(value).unwrap_or_else(|e| {
                problems.add(
                    format!("{location}.extra_body.{key}"),
                    format!("cannot be sent as JSON: {e}"),
                );
                String::new()
            });
            (key.clone(), json)
        })
        .collect();
    let Some(&upstream) = upstream_ids.get(target.upstream.as_str()) else {
        if target.upstream.is_empty() {
            return None; // reported by the schema check
        }
        problems.add(
            format!("{location}.upstream"),
            format!("unknown upstream '{}'", target.upstream),
        );
        return None;
    };
    let upstream_model = target.model.as_deref().unwrap_or(&model.name);
    Some(Target {
        upstream,
        upstream_model: Arc::from(upstream_model),
        label: Arc::from(format!("{}/{upstream_model}", target.upstream)),
        weight: target.weight.max(1),
        continuation,
        extra_body,
    })
}

/// Reports duplicate names (empty ones are the schema check's); returns the first index of each name.
fn unique_names<'a>(
    names: impl Iterator<Item = &'a str>,
    kind: &str,
    problems: &mut Problems,
) -> HashMap<&'a str, usize> {
    let mut seen = HashMap::new();
    for (i, name) in names.enumerate() {
        if name.is_empty() {
            continue; // reported by the schema check
        }
        if seen.contains_key(name) {
            problems.add(
                format!("{kind}[{i}].name"),
                format!("duplicate {kind} name '{name}'"),
            );
        } else {
            seen.insert(name, i);
        }
    }
    seen
}

fn check_fallback_cycles(models: &[Model], problems: &mut Problems) {
    let mut reported = HashSet::new();
    for (start, model) in models.iter().enumerate() {
        // Depth-first walk along fallbacks; a path that comes back to `start` is a cycle.
        let mut stack: Vec<(usize, Vec<usize>)> = vec![(start, vec![start])];
        let mut visited = HashSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in &models[at].fallbacks {
                if next.0 == start {
                    let mut members = path.clone();
                    members.sort_unstable();
                    if reported.insert(members) {
                        let names: Vec<_> = path.iter().map(|&i| models[i].name.as_str()).collect();
                        problems.add(
                            format!("model[{start}].fallbacks"),
                            format!("fallback cycle: {} -> {}", names.join(" -> "), model.name),
                        );
                    }
                } else if visited.insert(next.0) {
                    let mut longer = path.clone();
                    longer.push(next.0);
                    stack.push((next.0, longer));
                }
            }
        }
    }
}
