//! Configuration: read the TOML file (`file`), check it and report every problem at once,
//! and build the typed settings the workers share (`runtime`). Nothing here runs per request.

mod defaults;
mod file;
mod reload;
mod runtime;
mod schema;
mod secret;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;

pub use reload::restart_only_changes;
pub use runtime::{
    AwsCredentials, AwsKey, Budget, BudgetAmount, ClientKey, Config, Continuation,
    DatabaseSettings, KeyLimits, KeyMatcher, LimitsSettings, Model, ModelId, Period, Price,
    RoutingPolicy, ServerSettings, Target, Upstream, UpstreamId, UpstreamKind, UpstreamUrl,
};
pub use secret::Secret;

/// One thing wrong with a config, with where it is (`model[0].targets[1].upstream`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub location: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location.is_empty() {
            // A problem with the whole file: it cannot be read, or is not TOML.
            return f.write_str(&self.message);
        }
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Reads, parses and validates a config file; all problems are returned together.
pub fn load(path: &Path) -> Result<Config, Vec<ConfigProblem>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigProblem {
            location: String::new(),
            message: format!("cannot read: {e}"),
        }]
    })?;
    parse(&text, &|name| std::env::var(name).ok())
}

/// `server.listen` alone, for `gpt-api health`: the rest of the file (secrets from the
/// environment, CA files) need not be valid for the probe to know where to look.
pub fn listen_address(path: &Path) -> Result<std::net::SocketAddr, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let document: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let listen = document
        .get("server")
        .and_then(|server| server.get("listen"))
        .map_or(Some(defaults::LISTEN), toml::Value::as_str)
        .ok_or("server.listen: expected a string")?;
    listen
        .parse()
        .map_err(|_| format!("server.listen: '{listen}' is not an address like 127.0.0.1:8080"))
}

/// Parses config text; `env` looks up `*_env` secrets (a parameter so tests need no process env).
pub fn parse(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Vec<ConfigProblem>> {
    // A syntax error keeps the toml crate's own layout: several lines, with a `^` under the
    // column it points at.
    let mut document: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        vec![ConfigProblem {
            location: String::new(),
            message: e.to_string().trim_end().to_string(),
        }]
    })?;
    let mut problems = validate::Problems::default();
    schema::check(&mut document, &mut problems);
    match toml::Value::Table(document).try_into::<file::ConfigFile>() {
        Ok(file) => validate::build(file, env, problems),
        Err(e) => {
            // Only when the schema and the structs disagree: a bug, but still reported.
            problems.add("config", e.to_string().trim_end());
            Err(problems.into_vec())
        }
    }
}
