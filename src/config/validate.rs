//! Checks a parsed config file and builds the runtime config, collecting every problem
//! (with its location) instead of stopping at the first.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::file::{ConfigFile, ModelSection, RoutingSection, TargetSection, UpstreamSection};
use super::runtime::*;
use super::{ConfigProblem, Secret};

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

#[derive(Default)]
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn add(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigProblem {
            location: location.into(),
            message: message.into(),
        });
    }
}

pub(super) fn build(file: ConfigFile, env: Env) -> Result<Config, Vec<ConfigProblem>> {
    let mut problems = Problems::default();
    let server = server_settings(&file, &mut problems);
    let database = database_settings(&file, &mut problems);
    routing_policy(
        &RoutingSection::default(),
        &file.routing,
        "routing",
        &mut problems,
    );
    let client_keys = client_keys(&file, env, &mut problems);
    let upstreams = upstreams(&file.upstream, env, &mut problems);
    let upstream_ids: HashMap<&str, UpstreamId> = upstreams
        .iter()
        .enumerate()
        .map(|(i, u)| (u.name.as_str(), UpstreamId(i)))
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
        .map(|(i, m)| {
            model(
                m,
                i,
                &file.routing,
                &upstream_ids,
                &model_ids,
                &mut problems,
            )
        })
        .collect::<Vec<_>>();
    check_fallback_cycles(&models, &mut problems);
    if !problems.0.is_empty() {
        return Err(problems.0);
    }
    Ok(Config {
        server,
        database,
        client_keys,
        upstreams,
        models,
        model_ids,
    })
}

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
        max_connections: s.max_connections,
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

/// `overrides` wins over `base`, which wins over the built-in defaults.
fn routing_policy(
    base: &RoutingSection,
    overrides: &RoutingSection,
    location: &str,
    problems: &mut Problems,
) -> RoutingPolicy {
    let ms = |o: Option<u64>, b: Option<u64>, default: u64| {
        Duration::from_millis(o.or(b).unwrap_or(default))
    };
    let continuation_text = overrides
        .continuation
        .as_deref()
        .or(base.continuation.as_deref());
    let continuation = continuation_text
        .map(|text| parse_continuation(text, &format!("{location}.continuation"), problems))
        .unwrap_or(Continuation::None);
    let policy = RoutingPolicy {
        retries: overrides.retries.or(base.retries).unwrap_or(2),
        backoff_base: ms(overrides.backoff_base_ms, base.backoff_base_ms, 500),
        backoff_max: ms(overrides.backoff_max_ms, base.backoff_max_ms, 8_000),
        max_retry_after: ms(
            overrides.max_retry_after_ms,
            base.max_retry_after_ms,
            10_000,
        ),
        breaker_failures: overrides
            .breaker_failures
            .or(base.breaker_failures)
            .unwrap_or(3),
        breaker_cooldown: ms(
            overrides.breaker_cooldown_ms,
            base.breaker_cooldown_ms,
            5_000,
        ),
        first_token_timeout: ms(
            overrides.first_token_timeout_ms,
            base.first_token_timeout_ms,
            30_000,
        ),
        stream_idle_timeout: ms(
            overrides.stream_idle_timeout_ms,
            base.stream_idle_timeout_ms,
            30_000,
        ),
        continuation,
        silent_after: ms(overrides.silent_after_ms, base.silent_after_ms, 1_000),
    };
    if policy.breaker_failures == 0 {
        problems.add(
            format!("{location}.breaker_failures"),
            "must be greater than 0",
        );
    }
    if policy.first_token_timeout.is_zero() || policy.stream_idle_timeout.is_zero() {
        problems.add(
            location.to_string(),
            "stream timeouts must be greater than 0",
        );
    }
    policy
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

/// Reads a secret given inline or by environment variable name.
fn secret(
    inline: &Option<String>,
    env_name: &Option<String>,
    location: &str,
    env: Env,
    problems: &mut Problems,
) -> Option<Secret> {
    match (inline, env_name) {
        (Some(_), Some(_)) => {
            problems.add(location, "give the secret inline or by *_env, not both");
            None
        }
        (Some(value), None) => Some(Secret::new(value.clone())),
        (None, Some(name)) => match env(name) {
            Some(value) if !value.is_empty() => Some(Secret::new(value)),
            _ => {
                problems.add(location, format!("environment variable {name} is not set"));
                None
            }
        },
        (None, None) => None,
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
            &format!("{location}.key"),
            env,
            problems,
        );
        let key = match (plain, &section.key_sha256) {
            (Some(_), Some(_)) => {
                problems.add(&location, "give key/key_env or key_sha256, not both");
                continue;
            }
            (Some(secret), None) => KeyMatcher::Plain(secret),
            (None, Some(hash)) => {
                let hash = hash.to_ascii_lowercase();
                if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    problems.add(format!("{location}.key_sha256"), "must be 64 hex digits");
                }
                KeyMatcher::Sha256(Secret::new(hash))
            }
            (None, None) => {
                problems.add(&location, "needs key, key_env or key_sha256");
                continue;
            }
        };
        keys.push(ClientKey {
            name: section.name.clone(),
            key,
            models: section.models.clone().unwrap_or_default(),
        });
    }
    keys
}

fn upstreams(sections: &[UpstreamSection], env: Env, problems: &mut Problems) -> Vec<Upstream> {
    unique_names(
        sections.iter().map(|u| u.name.as_str()),
        "upstream",
        problems,
    );
    sections
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let location = format!("upstream[{i}]");
            let url = parse_upstream_url(&u.base_url).unwrap_or_else(|message| {
                problems.add(format!("{location}.base_url"), message);
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
                name: u.name.clone(),
                url,
                api_key: secret(
                    &u.api_key,
                    &u.api_key_env,
                    &format!("{location}.api_key"),
                    env,
                    problems,
                ),
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
    defaults: &RoutingSection,
    upstream_ids: &HashMap<&str, UpstreamId>,
    model_ids: &HashMap<String, ModelId>,
    problems: &mut Problems,
) -> Model {
    let location = format!("model[{index}]");
    let routing = routing_policy(defaults, &section.routing_overrides(), &location, problems);
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
        problems.add(
            format!("{location}.upstream"),
            format!("unknown upstream '{}'", target.upstream),
        );
        return None;
    };
    Some(Target {
        upstream,
        upstream_model: target.model.clone().unwrap_or_else(|| model.name.clone()),
        weight: target.weight.max(1),
        continuation,
        extra_body,
    })
}

/// Reports empty and duplicate names; returns the first index of each name.
fn unique_names<'a>(
    names: impl Iterator<Item = &'a str>,
    kind: &str,
    problems: &mut Problems,
) -> HashMap<&'a str, usize> {
    let mut seen = HashMap::new();
    for (i, name) in names.enumerate() {
        if name.is_empty() {
            problems.add(format!("{kind}[{i}].name"), "must not be empty");
        } else if seen.contains_key(name) {
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
