//! Configuration: read the TOML file (`file`), check it and report every problem at once,
//! and build the typed settings the workers share (`runtime`). Nothing here runs per request.

mod file;
mod reload;
mod runtime;
mod secret;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;

pub use reload::restart_only_changes;
pub use runtime::{
    ClientKey, Config, Continuation, DatabaseSettings, KeyMatcher, Model, ModelId, RoutingPolicy,
    ServerSettings, Target, Upstream, UpstreamId, UpstreamUrl,
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
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Reads, parses and validates a config file; all problems are returned together.
pub fn load(path: &Path) -> Result<Config, Vec<ConfigProblem>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigProblem {
            location: path.display().to_string(),
            message: format!("cannot read: {e}"),
        }]
    })?;
    parse(&text, &|name| std::env::var(name).ok())
}

/// Parses config text; `env` looks up `*_env` secrets (a parameter so tests need no process env).
pub fn parse(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Vec<ConfigProblem>> {
    let file: file::ConfigFile = toml::from_str(text).map_err(|e| {
        vec![ConfigProblem {
            location: "config".into(),
            message: e.to_string().trim().replace('\n', " "),
        }]
    })?;
    validate::build(file, env)
}
